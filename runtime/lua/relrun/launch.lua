-- relrun.launch: what runs when relrun is given a script, decided before
-- any of the script's code runs (runtime/host.c calls prepare).
--
--   relrun release publish         by name: a command of the host (lock,
--                                  vendor, workflow), else the project's
--                                  .relrun-scripts/release.lua, else the
--                                  built-in scripts/release.lua
--   relrun scripts/release.lua     by path, as lua would
--
-- The project is the repository holding the current folder (the nearest
-- folder up with .git), or the current folder outside a repository. Its
-- .relrun-scripts/lib/ overrides built-in libraries for scripts run by name
-- (a script run by path uses the lib/ folder beside it), then RELRUN_PATH.
--
-- Once per run, relrun says on stderr which files replace built-in ones
-- with different text. With --locked, relrun.lock must match relrun's version
-- and every Lua file the run may load from outside the binary.
local fs = require "relrun.fs"
local host = require "relrun.host"
local lockfile = require "relrun.lockfile"

local M = {}

local fail = lockfile.fail

local function builtin_of(kind, name)
  for _, f in ipairs(host.builtin_files()) do
    if f.kind == kind and f.name == name then return f end
  end
  return nil
end

local function builtin_names(kind)
  local names = {}
  for _, f in ipairs(host.builtin_files()) do
    if f.kind == kind then names[#names + 1] = f.name end
  end
  table.sort(names)
  return names
end

-- The plan for `relrun NAME`.
local function resolve_name(root, name)
  local command = builtin_of("command", name)
  if command then return { builtin = command.path, command = true } end
  local vendor_dir = root .. "/" .. lockfile.VENDOR_DIR
  local script = builtin_of("script", name)
  local vendored = vendor_dir .. "/" .. name .. ".lua"
  if fs.exists(vendored) then
    return { file = vendored, lib_dir = vendor_dir, replaces = script and script.path }
  end
  if script then return { builtin = script.path, lib_dir = vendor_dir } end
  if fs.exists(name) then return { file = name, lib_dir = "." } end -- lua's `relrun FILE`
  fail(string.format("no script named '%s': relrun's are %s, a project's own live in %s/NAME.lua; "
    .. "to run a file, give its path (./%s)", name, table.concat(builtin_names("script"), ", "),
    lockfile.VENDOR_DIR, name), 2)
end

-- File texts, each read once per run: the notice below and the lock check
-- look at the same files.
local function reader()
  local cache = {}
  return function(path)
    if cache[path] == nil then cache[path] = fs.read(path) or false end
    return cache[path] or nil
  end
end

-- Files (absolute paths) that this run would load instead of built-in
-- ones, with text that differs from them.
local function differing_overrides(plan, override_path, read)
  local found = {}
  if plan.replaces and read(plan.file) ~= host.builtin_text(plan.replaces) then
    found[#found + 1] = fs.absolute(plan.file)
  end
  if override_path == "" then return found end
  for _, f in ipairs(host.builtin_files()) do
    if f.kind == "lib" then
      local path = package.searchpath(f.name, override_path)
      if path and read(path) ~= host.builtin_text(f.path) then found[#found + 1] = fs.absolute(path) end
    end
  end
  return found
end

local noticed = false

local function notice(root, files)
  if noticed or #files == 0 then return end
  noticed = true
  local names = {}
  for i, path in ipairs(files) do names[i] = lockfile.key(root, path) end
  io.stderr:write(string.format("relrun: using %d %s from relrun %s's built-in ones: %s\n", #files,
    #files == 1 and "file that differs" or "files that differ", host.version, table.concat(names, ", ")))
end

-- Hashes, computed once per file, of the texts `read` gives.
local function hasher(read)
  local cache = {}
  return function(path)
    if cache[path] == nil then
      local text = read(path)
      cache[path] = text and require("relrun.hash").sha256(text) or false
    end
    return cache[path] or nil
  end
end

local function check_version(lock)
  if lock.relrun == host.version then return end
  local newer = lockfile.compare_versions(host.version, lock.relrun) > 0
  fail(string.format("--locked: relrun.lock pins relrun %s, this is relrun %s: %s", lock.relrun, host.version,
    newer and "review the upgrade with `relrun lock` (it shows how your vendored files differ from the new "
      .. "built-in ones), then commit relrun.lock"
      or "install relrun " .. lock.relrun .. ", or upgrade the project with that relrun and `relrun lock`"))
end

local function check_locked_files(root, lock, sha)
  local keys = {}
  for key in pairs(lock.files) do keys[#keys + 1] = key end
  table.sort(keys)
  for _, key in ipairs(keys) do
    local want, have = lock.files[key].sha256, sha(lockfile.abs(root, key))
    if not have then
      fail(string.format("--locked: %s is in relrun.lock (sha256 %s) but cannot be read: restore it, or run "
        .. "`relrun lock` and commit relrun.lock", key, want))
    elseif have ~= want then
      fail(string.format("--locked: %s changed: relrun.lock has sha256 %s, the file has sha256 %s (review the "
        .. "change, then run `relrun lock` and commit relrun.lock)", key, want, have))
    end
  end
end

-- Every Lua file the run may load from outside the binary must be locked.
local function check_unlocked(root, lock, plan, override_path, sha)
  local candidates = {}
  if plan.file then candidates[1] = fs.absolute(plan.file) end
  for _, dir in ipairs(lockfile.override_dirs(override_path)) do lockfile.lua_files(dir, candidates) end
  for _, path in ipairs(candidates) do
    local key = lockfile.key(root, path)
    if not lock.files[key] then
      fail(string.format("--locked: %s would be loaded but is not in relrun.lock (its sha256 is %s): review "
        .. "it, then lock it with `relrun lock` (`relrun lock SCRIPT` for a script run by path) and commit "
        .. "relrun.lock, or remove it", key, sha(path) or "unreadable"))
    end
  end
end

local function verify(root, plan, override_path, read)
  local module_dir = os.getenv("RELRUN_MODULE_DIR")
  if module_dir and module_dir ~= "" then
    fail("--locked: RELRUN_MODULE_DIR is set (" .. module_dir .. "): a locked run loads relrun's modules only "
      .. "from its installation; unset it")
  end
  local lock, err = lockfile.read(root)
  if err then fail("--locked: " .. err) end
  if not lock then
    fail("--locked: no relrun.lock in " .. root .. ": run `relrun lock` there and commit relrun.lock")
  end
  local sha = hasher(read)
  check_version(lock)
  check_locked_files(root, lock, sha)
  check_unlocked(root, lock, plan, override_path, sha)
end

-- prepare{name = "release" | nil, path = "x.lua" | nil, locked = bool} ->
-- plan {file = path | builtin = "scripts/release.lua", lib_dir = folder
-- whose lib/ overrides | nil, restrict = bool}. Raises (exit 1, or 2 for an
-- unknown name) when the run must not start.
function M.prepare(opts)
  local root = lockfile.root()
  local plan
  if opts.name then
    plan = resolve_name(root, opts.name)
    if plan.command then return plan end -- the host's own commands: no overrides, no lock
  else
    plan = { file = opts.path, lib_dir = fs.dirname(opts.path) }
  end
  local override_path, read = host.override_path(plan.lib_dir), reader()
  if opts.locked then
    verify(root, plan, override_path, read)
    plan.restrict = true
  end
  notice(root, differing_overrides(plan, override_path, read))
  return plan
end

return M
