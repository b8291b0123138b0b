-- relrun lock [--check] [SCRIPT...]
--
-- Write relrun.lock at the root of the project: this relrun's version and
-- the sha256 of every Lua file a run may load from outside the binary
-- (.relrun-scripts/, each SCRIPT run by path with its lib/ folder, files
-- locked before, RELRUN_PATH's). After an upgrade of relrun it first shows,
-- for each vendored file, the team's changes and relrun's (the three-way
-- view). --check writes nothing and exits 1 when relrun.lock is stale.
local lockfile = require "relrun.lockfile"
local vendor = require "relrun.vendor"

local USAGE = [[
usage: relrun lock [--check] [SCRIPT...]
Record relrun's version and the sha256 of the project's Lua files in relrun.lock,
which `relrun --locked` checks before running anything.
  --check    change nothing; exit 1 (and say what differs) when relrun.lock is stale
  SCRIPT     a script run by path (relrun --locked path/to/x.lua): lock it and its lib/
]]

local check, scripts = false, {}
for _, a in ipairs({ ... }) do
  if a == "--check" then
    check = true
  elseif a == "-h" or a == "--help" then
    io.stdout:write(USAGE)
    return 0
  elseif a:sub(1, 1) == "-" then
    io.stderr:write("relrun lock: unknown option " .. a .. "\n" .. USAGE)
    return 2
  else
    scripts[#scripts + 1] = a
  end
end

local root = lockfile.root()
local old, err, old_text = lockfile.read(root)
if err then lockfile.fail(err) end
local new = vendor.compute_lock(root, old, scripts, { dry = check })
local count = 0
for _ in pairs(new.files) do count = count + 1 end

if old and old.relrun ~= new.relrun then
  local up = lockfile.compare_versions(new.relrun, old.relrun) > 0
  print(string.format("relrun.lock was written by relrun %s; this is relrun %s (%s).", old.relrun, new.relrun,
    up and "an upgrade" or "a downgrade"))
  local view = vendor.view(root, new)
  if view ~= "" then
    print("Your vendored files against the built-in text they were copied from:")
    io.stdout:write(view)
  end
end

local text = lockfile.encode(new)
local summary = string.format("relrun %s, %d file%s", new.relrun, count, count == 1 and "" or "s")
if old_text == text then
  print("relrun.lock is up to date (" .. summary .. ")")
  return 0
end
local changes = vendor.lock_changes(old, new)
if check then
  print("relrun.lock is stale:")
  for _, line in ipairs(changes) do print("  " .. line) end
  print("review the changes, then run `relrun lock` and commit relrun.lock")
  return 1
end
lockfile.write(root, new)
print("wrote relrun.lock (" .. summary .. "):")
for _, line in ipairs(changes) do print("  " .. line) end
print("commit relrun.lock")
return 0
