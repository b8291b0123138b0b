-- relrun vendor [--force] [--all] [NAME...] | --list | --diff [NAME...] | --merge [NAME...]
--
-- Copy relrun's built-in scripts or libraries into the project's
-- .relrun-scripts/ to edit them (relrun.vendor says how they are kept, locked
-- and kept out of the sdist); show how copies differ from relrun's text
-- after an upgrade; take relrun's changes into them.
local host = require "relrun.host"
local lockfile = require "relrun.lockfile"
local vendor = require "relrun.vendor"

local USAGE = [[
usage: relrun vendor [--force] [--all] [NAME...]
       relrun vendor --list | --diff [NAME...] | --merge [NAME...]
Copy relrun's built-in scripts and libraries into .relrun-scripts/ to edit them;
relrun runs the copies instead (`relrun release` uses .relrun-scripts/release.lua and
.relrun-scripts/lib/), and relrun.lock pins them for `relrun --locked`.
  NAME       a script (release, doctor, ...) or a library (relrun.pypi); without
             names, every script
  --all      every script and every library
  --force    overwrite a copy that differs from relrun's text
  --list     what can be copied, and what is
  --diff     for copies: your changes and relrun's since the copy (three-way view)
  --merge    take relrun's changes since the copy into yours (git merge-file)
]]

local mode, force, all, names = "copy", false, false, {}
for _, a in ipairs({ ... }) do
  if a == "--force" then force = true
  elseif a == "--all" then all = true
  elseif a == "--list" or a == "--diff" or a == "--merge" then mode = a:sub(3)
  elseif a == "-h" or a == "--help" then
    io.stdout:write(USAGE)
    return 0
  elseif a:sub(1, 1) == "-" then
    io.stderr:write("relrun vendor: unknown option " .. a .. "\n" .. USAGE)
    return 2
  else names[#names + 1] = a end
end

local root = lockfile.root()

-- The lock keys `names` stand for (nil: every copy).
local function selected_keys()
  if #names == 0 then return nil end
  local only = {}
  for _, name in ipairs(names) do only[vendor.vendored_key(vendor.resolve(name))] = true end
  return only
end

local function read_lock()
  local lock, err = lockfile.read(root)
  if err then lockfile.fail(err) end
  if not lock then lockfile.fail("no relrun.lock in " .. root .. ": nothing is vendored here (relrun vendor NAME)") end
  return lock
end

if mode == "list" then
  local lock = lockfile.read(root) or { files = {} }
  for _, f in ipairs(vendor.builtins()) do
    local key = vendor.vendored_key(f.path)
    print(string.format("%-8s %-28s %s", f.kind == "lib" and "library" or "script", f.name,
      lock.files[key] and key or ""))
  end
  return 0
end

if mode == "diff" then
  local view = vendor.view(root, read_lock(), selected_keys())
  io.stdout:write(view ~= "" and view or "nothing is vendored here\n")
  return 0
end

if mode == "merge" then
  local lock = read_lock()
  local conflicts = 0
  for _, r in ipairs(vendor.merge(root, lock, selected_keys())) do
    if r.result == "current" then print(r.key .. ": relrun's text has not changed since the copy")
    elseif r.result == "updated" then print(r.key .. ": had no changes of yours; now relrun " .. host.version .. "'s")
    elseif r.result == "merged" then print(r.key .. ": relrun's changes merged into yours")
    else
      conflicts = conflicts + 1
      print(string.format("%s: %d conflict%s marked <<<<<<< yours ... >>>>>>> relrun %s: resolve them, then "
        .. "relrun lock", r.key, r.conflicts, r.conflicts == 1 and "" or "s", host.version))
    end
  end
  lockfile.write(root, lock)
  if conflicts == 0 then print("relrun.lock updated: review the changes and commit .relrun-scripts/ and relrun.lock") end
  return conflicts == 0 and 0 or 1
end

local paths = {}
if #names > 0 then
  for _, name in ipairs(names) do paths[#paths + 1] = vendor.resolve(name) end
else
  for _, f in ipairs(vendor.builtins()) do
    if all or f.kind == "script" then paths[#paths + 1] = f.path end
  end
end
local done = vendor.copy(root, paths, { force = force })
for _, key in ipairs(done.written) do print("copied " .. key) end
for _, key in ipairs(done.same) do print(key .. " is relrun's text already") end
for _, key in ipairs(done.refused) do
  print(key .. " differs from relrun's text: kept (--diff shows how, --merge takes relrun's changes, --force "
    .. "overwrites)")
end
for _, line in ipairs(vendor.keep_out_of_sdist(root)) do print(line) end
print("relrun.lock updated. Edit the copies, run `relrun lock`, and commit .relrun-scripts/, relrun.lock and "
  .. ".gitattributes.")
return #done.refused == 0 and 0 or 1
