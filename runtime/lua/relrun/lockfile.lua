-- relrun.lockfile: the project's relrun.lock, and the facts it is made of.
--
-- A project's Lua files (vendored copies of relrun's scripts and libraries
-- under .relrun-scripts/, a script run by path and its lib/ folder, the
-- folders of RELRUN_PATH) can replace what is built into relrun. relrun.lock,
-- at the root of the repository, pins them: the relrun version, and the
-- sha256 of every such file. `relrun --locked` refuses to run when anything
-- differs (relrun.launch); `relrun lock` writes it (runtime/lua/commands).
--
-- The file is JSON, one file per line, sorted, so a review sees each change:
--
--   {
--     "relrun": "0.1.0",
--     "files": {
--       ".relrun-scripts/release.lua": {"sha256": "…", "builtin": "scripts/release.lua",
--                                       "base": "…", "base_relrun": "0.1.0"}
--     }
--   }
--
-- `builtin`, `base` and `base_relrun` are there for a vendored copy of a
-- built-in file: which one, and the sha256 and relrun version of the text
-- it was copied from (kept in .relrun-scripts/.base/, for the three-way view
-- after an upgrade). This is relrun's own Lua: a project cannot override it.
local fs = require "relrun.fs"
local host = require "relrun.host"
local json = require "relrun.json"

local M = {}

M.FILE = "relrun.lock"
M.VENDOR_DIR = ".relrun-scripts"
M.BASE_DIR = ".relrun-scripts/.base"

-- An error the host prints as one line (exit 1 unless said).
function M.fail(message, exit)
  error({ message = message, exit = exit or 1 }, 0)
end

-- The root of the project: the nearest folder from `dir` (default the
-- current one) up that holds .git; else `dir` itself.
function M.root(dir)
  dir = fs.absolute(dir or fs.cwd())
  local d = dir
  while true do
    if fs.exists(d .. "/.git") then return d end
    local parent = fs.dirname(d)
    if parent == d then return dir end
    d = parent
  end
end

-- The name a file has in relrun.lock: relative to the root when inside it.
function M.key(root, path)
  path = fs.absolute(path)
  if path:sub(1, #root + 1) == root .. "/" then return path:sub(#root + 2) end
  return path
end

function M.abs(root, key)
  return key:sub(1, 1) == "/" and key or root .. "/" .. key
end

-- sha256 of a file, or nil, message. relrun.hash (libcrypto) is loaded
-- here, not when the launcher loads this module: a run that hashes nothing
-- does not pay for it.
function M.sha256_file(path)
  local data, err = fs.read(path)
  if not data then return nil, err end
  return require("relrun.hash").sha256(data)
end

-- Every .lua file under `dir` (recursively, sorted), absolute paths.
-- `skip` (optional) is a set of absolute folders not to enter.
function M.lua_files(dir, out, skip)
  out = out or {}
  local names = fs.list(dir)
  if not names then return out end
  for _, name in ipairs(names) do
    local path = dir .. "/" .. name
    local st = fs.stat(path)
    if st and st.type == "directory" then
      if not (skip and skip[path]) then M.lua_files(path, out, skip) end
    elseif st and name:sub(-4) == ".lua" then
      out[#out + 1] = path
    end
  end
  return out
end

-- The folders `override_path` (host.override_path's "D/?.lua;D/?/init.lua;")
-- searches, each once, in order.
function M.override_dirs(override_path)
  local dirs, seen = {}, {}
  for template in override_path:gmatch("[^;]+") do
    local dir = template:match("^(.*)/%?%.lua$")
    if dir and dir ~= "" and not seen[dir] then
      seen[dir] = true
      dirs[#dirs + 1] = dir
    end
  end
  return dirs
end

-- The built-in file a vendored copy at `key` stands for
-- (".relrun-scripts/lib/relrun/pypi.lua" -> "scripts/lib/relrun/pypi.lua"), if any.
function M.builtin_for(key)
  local rel = key:sub(1, #M.VENDOR_DIR + 1) == M.VENDOR_DIR .. "/" and key:sub(#M.VENDOR_DIR + 2)
  if not rel then return nil end
  local path = "scripts/" .. rel
  if host.builtin_text(path) then return path end
  return nil
end

-- The lock at `root`: the table, or nil, message (nil, nil when there is none).
function M.read(root)
  local path = root .. "/" .. M.FILE
  local text = fs.read(path)
  if not text then return nil, nil end
  local lock, err = json.decode(text)
  if type(lock) ~= "table" or type(lock.relrun) ~= "string" or type(lock.files) ~= "table" then
    return nil, string.format("%s is not a relrun.lock (%s): write it again with `relrun lock`", path,
      err or "no relrun version or files")
  end
  for key, entry in pairs(lock.files) do
    if type(entry) ~= "table" or type(entry.sha256) ~= "string" then
      return nil, string.format("%s: the entry for %s has no sha256: write it again with `relrun lock`", path, key)
    end
  end
  return lock, nil, text
end

-- A JSON string; unlike cjson's encode, "/" stays as is (paths read well).
local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    if c == '"' or c == "\\" then return "\\" .. c end
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

-- The text of a lock: stable (sorted keys, one file per line).
function M.encode(lock)
  local keys = {}
  for key in pairs(lock.files) do keys[#keys + 1] = key end
  table.sort(keys)
  local lines = { "{", "  \"relrun\": " .. quote(lock.relrun) .. "," }
  if #keys == 0 then
    lines[#lines + 1] = "  \"files\": {}"
  else
    lines[#lines + 1] = "  \"files\": {"
    for i, key in ipairs(keys) do
      local e = lock.files[key]
      local fields = { "\"sha256\": " .. quote(e.sha256) }
      for _, name in ipairs({ "builtin", "base", "base_relrun" }) do
        if e[name] then fields[#fields + 1] = quote(name) .. ": " .. quote(e[name]) end
      end
      lines[#lines + 1] = "    " .. quote(key) .. ": {" .. table.concat(fields, ", ") .. "}"
        .. (i < #keys and "," or "")
    end
    lines[#lines + 1] = "  }"
  end
  lines[#lines + 1] = "}"
  return table.concat(lines, "\n") .. "\n"
end

function M.write(root, lock)
  local ok, err = fs.write(root .. "/" .. M.FILE, M.encode(lock))
  if not ok then M.fail("cannot write relrun.lock: " .. err) end
end

-- Versions as numbers to compare: "0.10.2" -> {0, 10, 2}.
function M.compare_versions(a, b)
  local pa, pb = {}, {}
  for n in a:gmatch("%d+") do pa[#pa + 1] = tonumber(n) end
  for n in b:gmatch("%d+") do pb[#pb + 1] = tonumber(n) end
  for i = 1, math.max(#pa, #pb) do
    local x, y = pa[i] or 0, pb[i] or 0
    if x ~= y then return x < y and -1 or 1 end
  end
  return 0
end

return M
