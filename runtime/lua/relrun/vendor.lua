-- relrun.vendor: a project's own copies of relrun's scripts and libraries.
--
--   .relrun-scripts/release.lua               a copy of scripts/release.lua, to edit
--   .relrun-scripts/lib/relrun/pypi.lua       a copy of the library relrun.pypi
--   .relrun-scripts/.base/...                 the built-in text each copy was made
--                                             from, kept for the three-way view
--   relrun.lock                               relrun's version and every file's sha256
--
-- The folder mirrors relrun's scripts/, so a vendored script finds the
-- vendored libraries beside it, and `relrun release` uses both. The files
-- are committed (CI runs them, pinned by relrun.lock) but kept out of the
-- package's sdist: `export-ignore` in .gitattributes (setuptools_scm lists
-- files with `git archive`, which honours it; so do GitHub's source
-- archives) and, for hatchling, `[tool.hatch.build.targets.sdist] exclude`.
--
-- After an upgrade of relrun, `view` shows how each copy differs from the
-- text it was copied from (the team's edits) and how the new built-in text
-- differs from it (relrun's changes); `merge` takes relrun's changes into the
-- copy with git merge-file. Used by runtime/lua/commands (relrun vendor,
-- relrun lock) and by `relrun init`.
local fs = require "relrun.fs"
local hash = require "relrun.hash"
local host = require "relrun.host"
local lockfile = require "relrun.lockfile"
local proc = require "relrun.proc"

local M = {}

local fail = lockfile.fail
local VENDOR, BASE = lockfile.VENDOR_DIR, lockfile.BASE_DIR

M.SDIST_EXCLUDES = { "/" .. VENDOR, "/" .. lockfile.FILE }

---------------------------------------------------------------------------
-- What can be vendored
---------------------------------------------------------------------------

-- Built-in scripts and libraries: { {kind=, name=, path=}, ... }.
function M.builtins()
  local list = {}
  for _, f in ipairs(host.builtin_files()) do
    if f.kind == "script" or f.kind == "lib" then list[#list + 1] = f end
  end
  return list
end

-- "release", "relrun.pypi", "lib/relrun/pypi.lua", "scripts/release.lua" or
-- ".relrun-scripts/release.lua" -> the built-in path ("scripts/release.lua").
function M.resolve(name)
  local rel = name:gsub("^%./", ""):gsub("^" .. VENDOR:gsub("%p", "%%%0") .. "/", ""):gsub("^scripts/", "")
  for _, f in ipairs(M.builtins()) do
    if f.name == name or f.path == "scripts/" .. rel then return f.path end
  end
  local names = {}
  for _, f in ipairs(M.builtins()) do
    if f.kind == "script" then names[#names + 1] = f.name end
  end
  fail(string.format("relrun has no built-in script or library '%s' (scripts: %s; libraries by module "
    .. "name, such as relrun.pypi: `relrun vendor --list`)", name, table.concat(names, ", ")), 2)
end

-- Where the copy of built-in `path` goes, relative to the root.
function M.vendored_key(path)
  return VENDOR .. "/" .. path:gsub("^scripts/", "")
end

local function base_key(key)
  return BASE .. "/" .. key:sub(#VENDOR + 2)
end

---------------------------------------------------------------------------
-- Files
---------------------------------------------------------------------------

local function write(root, key, text)
  local path = root .. "/" .. key
  local ok, err = fs.mkdir(fs.dirname(path))
  if ok then ok, err = fs.write(path, text) end
  if not ok then fail("cannot write " .. key .. ": " .. err) end
end

-- Append `lines` that `path` (relative to root) lacks, under a comment.
local function ensure_lines(root, file, lines, comment)
  local path = root .. "/" .. file
  local text = fs.read(path) or ""
  local missing = {}
  for _, line in ipairs(lines) do
    local present = false
    for have in text:gmatch("[^\n]+") do
      if have:match("^%s*(.-)%s*$") == line then present = true end
    end
    if not present then missing[#missing + 1] = line end
  end
  if #missing == 0 then return false end
  local sep = (text == "" or text:sub(-1) == "\n") and "" or "\n"
  write(root, file, text .. sep .. (text == "" and "" or "\n") .. "# " .. comment .. "\n"
    .. table.concat(missing, "\n") .. "\n")
  return true
end

-- Keep the vendored files and relrun.lock out of the package's sdist.
-- Returns the messages to show: what was changed, or what to change by hand.
function M.keep_out_of_sdist(root)
  local said = {}
  local attrs = {}
  for i, p in ipairs(M.SDIST_EXCLUDES) do attrs[i] = p .. " export-ignore" end
  if ensure_lines(root, ".gitattributes", attrs,
    "relrun's vendored scripts and lock: committed, but not in the package's sdist (relrun vendor)") then
    said[#said + 1] = "wrote .gitattributes: " .. table.concat(attrs, ", ")
  end
  local pyproject = fs.read(root .. "/pyproject.toml")
  if not (pyproject and pyproject:find("hatchling", 1, true)) then return said end
  local has_table = pyproject:find("%[%s*tool%.hatch%.build%.targets%.sdist%s*%]")
    or pyproject:find("targets%.sdist") or pyproject:find("\n%s*sdist%s*[%.=]")
  if pyproject:find('"/' .. VENDOR .. '"', 1, true) then return said end
  local quoted = {}
  for i, p in ipairs(M.SDIST_EXCLUDES) do quoted[i] = '"' .. p .. '"' end
  if has_table then
    said[#said + 1] = string.format("pyproject.toml configures hatchling's sdist already: add %s to its "
      .. "`exclude` in [tool.hatch.build.targets.sdist], or the vendored files go into the sdist",
      table.concat(quoted, " and "))
    return said
  end
  local sep = pyproject:sub(-1) == "\n" and "" or "\n"
  write(root, "pyproject.toml", pyproject .. sep .. "\n[tool.hatch.build.targets.sdist]\n"
    .. "# relrun's vendored scripts and lock stay out of the sdist (relrun vendor)\n"
    .. "exclude = [" .. table.concat(quoted, ", ") .. "]\n")
  said[#said + 1] = "wrote pyproject.toml: [tool.hatch.build.targets.sdist] exclude = ["
    .. table.concat(quoted, ", ") .. "]"
  return said
end

---------------------------------------------------------------------------
-- The lock
---------------------------------------------------------------------------

-- The lock entry of a file at `key`: its sha256, and for a copy of a
-- built-in file where the copy came from (kept from `old` when known).
local function entry_for(root, key, old, dry)
  local sha = lockfile.sha256_file(lockfile.abs(root, key))
  local entry = { sha256 = sha }
  local builtin = lockfile.builtin_for(key)
  if not builtin then return entry end
  entry.builtin = builtin
  if old and old.base then
    entry.base, entry.base_relrun = old.base, old.base_relrun
    return entry
  end
  local base_text = fs.read(root .. "/" .. base_key(key))
  local builtin_text = host.builtin_text(builtin)
  if base_text then
    entry.base = hash.sha256(base_text)
    if base_text == builtin_text then entry.base_relrun = host.version end
  elseif fs.read(lockfile.abs(root, key)) == builtin_text then
    -- copied by hand from this relrun: keep the base text for later upgrades
    if not dry then write(root, base_key(key), builtin_text) end
    entry.base, entry.base_relrun = sha, host.version
  end
  return entry
end

-- The keys a lock should hold: every .lua file under .relrun-scripts/
-- (not .base/), files locked before outside it that still exist, `scripts`
-- run by path (each with its lib/ folder), and RELRUN_PATH's files.
local function lock_keys(root, old, scripts)
  local keys, seen = {}, {}
  local function add(path)
    local key = lockfile.key(root, path)
    if not seen[key] then
      seen[key] = true
      keys[#keys + 1] = key
    end
  end
  local vendor_dir = root .. "/" .. VENDOR
  for _, path in ipairs(lockfile.lua_files(vendor_dir, nil, { [root .. "/" .. BASE] = true })) do add(path) end
  for key in pairs(old and old.files or {}) do
    if key:sub(1, #VENDOR + 1) ~= VENDOR .. "/" and fs.exists(lockfile.abs(root, key)) then add(lockfile.abs(root, key)) end
  end
  for _, script in ipairs(scripts or {}) do
    if not fs.exists(script) then fail("relrun lock: " .. script .. " does not exist", 2) end
    add(fs.absolute(script))
    for _, path in ipairs(lockfile.lua_files(fs.absolute(fs.dirname(script)) .. "/lib")) do add(path) end
  end
  for _, dir in ipairs(lockfile.override_dirs(host.override_path(nil))) do
    for _, path in ipairs(lockfile.lua_files(dir)) do add(path) end
  end
  table.sort(keys)
  return keys
end

-- The lock `relrun lock` would write now: { relrun = version, files = {...} }.
-- With opts.dry, nothing is written (a hand-copied file's base text is
-- otherwise kept in .relrun-scripts/.base/).
function M.compute_lock(root, old, scripts, opts)
  local lock = { relrun = host.version, files = {} }
  for _, key in ipairs(lock_keys(root, old, scripts)) do
    lock.files[key] = entry_for(root, key, old and old.files[key], opts and opts.dry)
  end
  return lock
end

-- What differs between two locks, one line each.
function M.lock_changes(old, new)
  local lines = {}
  if not old then return { "relrun.lock does not exist yet" } end
  if old.relrun ~= new.relrun then
    lines[#lines + 1] = string.format("relrun %s -> %s", old.relrun, new.relrun)
  end
  local keys, seen = {}, {}
  for _, t in ipairs({ old.files, new.files }) do
    for key in pairs(t) do
      if not seen[key] then seen[key] = true keys[#keys + 1] = key end
    end
  end
  table.sort(keys)
  for _, key in ipairs(keys) do
    local a, b = old.files[key], new.files[key]
    if not a then lines[#lines + 1] = string.format("%s: not locked (sha256 %s)", key, b.sha256)
    elseif not b then lines[#lines + 1] = string.format("%s: locked (sha256 %s) but gone", key, a.sha256)
    elseif a.sha256 ~= b.sha256 then
      lines[#lines + 1] = string.format("%s: relrun.lock has sha256 %s, the file has %s", key, a.sha256, b.sha256)
    elseif a.base ~= b.base or a.builtin ~= b.builtin then
      lines[#lines + 1] = string.format("%s: its built-in origin changed (%s -> %s)", key,
        tostring(a.base), tostring(b.base))
    end
  end
  return lines
end

---------------------------------------------------------------------------
-- The three-way view and the merge
---------------------------------------------------------------------------

-- `diff -u` of two texts, labelled; "" when they are equal.
local function diff(a_text, b_text, a_label, b_label)
  local dir <close> = assert(fs.tempdir("relrun-diff-"))
  local a, b = dir.path .. "/a", dir.path .. "/b"
  assert(fs.write(a, a_text))
  assert(fs.write(b, b_text))
  local r, err = proc.run{ argv = { "diff", "-u", "--label", a_label, "--label", b_label, a, b } }
  if not r then fail("cannot compare files: " .. err .. " (install diffutils)") end
  if r.code ~= 0 and r.code ~= 1 then fail("diff failed: " .. r.stderr) end
  return r.stdout
end

local function indent(text)
  return (text:gsub("[^\n]+", "    %0"))
end

-- The base text of a vendored entry, or nil and why not.
local function base_text(root, key, entry)
  if not entry.base then return nil, "relrun.lock does not say which built-in text it was copied from" end
  local text = fs.read(root .. "/" .. base_key(key))
  if not text then return nil, base_key(key) .. " (the text it was copied from) is missing" end
  if hash.sha256(text) ~= entry.base then
    return nil, base_key(key) .. " is not the text relrun.lock says it was copied from"
  end
  return text
end

-- The three-way view of the vendored files in `lock` (all, or the keys in
-- `only`): for each, the team's changes to the text it was copied from,
-- and relrun's changes to that text since. Returns the text.
function M.view(root, lock, only)
  local out, keys = {}, {}
  for key, entry in pairs(lock.files) do
    if entry.builtin and (not only or only[key]) then keys[#keys + 1] = key end
  end
  table.sort(keys)
  for _, key in ipairs(keys) do
    local entry = lock.files[key]
    local yours = fs.read(root .. "/" .. key) or ""
    local new = host.builtin_text(entry.builtin)
    local from = entry.base_relrun or "?"
    local base, why = base_text(root, key, entry)
    out[#out + 1] = string.format("%s (a copy of %s from relrun %s; this is relrun %s)", key, entry.builtin, from,
      host.version)
    if not new then
      out[#out + 1] = "  relrun " .. host.version .. " has no built-in " .. entry.builtin .. " any more"
    elseif not base then
      out[#out + 1] = "  no three-way view: " .. why .. "; yours against relrun " .. host.version .. "'s:"
      out[#out + 1] = indent(diff(new, yours, "relrun " .. host.version, "yours"))
    else
      local mine = diff(base, yours, "relrun " .. from, "yours")
      local theirs = diff(base, new, "relrun " .. from, "relrun " .. host.version)
      out[#out + 1] = mine == "" and "  your changes: none" or "  your changes (relrun " .. from .. " -> yours):\n"
        .. indent(mine)
      out[#out + 1] = theirs == "" and "  relrun's changes: none"
        or "  relrun's changes (relrun " .. from .. " -> relrun " .. host.version .. "):\n" .. indent(theirs)
          .. "  to take relrun's changes into yours: relrun vendor --merge " .. key
    end
  end
  return table.concat(out, "\n") .. (#out > 0 and "\n" or "")
end

-- Take the current built-in text's changes into the vendored copies (all,
-- or the keys in `only`) with git merge-file; updates the base copies and
-- `lock` (written by the caller). Returns { {key=, result="merged" |
-- "updated" | "current" | "conflicts", conflicts=n}, ... }.
function M.merge(root, lock, only)
  local results = {}
  local keys = {}
  for key, entry in pairs(lock.files) do
    if entry.builtin and (not only or only[key]) then keys[#keys + 1] = key end
  end
  table.sort(keys)
  for _, key in ipairs(keys) do
    local entry = lock.files[key]
    local new = host.builtin_text(entry.builtin)
    local yours = fs.read(root .. "/" .. key)
    local base, why = base_text(root, key, entry)
    local r = { key = key }
    if not new then fail(key .. ": relrun " .. host.version .. " has no built-in " .. entry.builtin .. " to merge") end
    if not yours then fail(key .. " is missing: `relrun vendor " .. entry.builtin .. "` copies it again") end
    if not base then fail("cannot merge " .. key .. ": " .. why .. " (compare by hand: relrun vendor --diff)") end
    if hash.sha256(new) == entry.base then
      r.result = "current"
    elseif yours == base then
      write(root, key, new)
      r.result = "updated"
    else
      -- git merge-file writes the result into yours, conflicts marked; its
      -- exit status is the number of conflicts (negative on failure)
      local dir <close> = assert(fs.tempdir("relrun-merge-"))
      assert(fs.write(dir.path .. "/new", new))
      local merged = proc.run{ argv = { "git", "merge-file", "-L", "yours",
        "-L", "relrun " .. (entry.base_relrun or "?"), "-L", "relrun " .. host.version,
        root .. "/" .. key, root .. "/" .. base_key(key), dir.path .. "/new" } }
      if not merged or merged.code == nil or merged.code > 127 then
        fail("cannot merge " .. key .. ": git merge-file failed" .. (merged and (": " .. merged.stderr) or " (install git)"))
      end
      r.result = merged.code == 0 and "merged" or "conflicts"
      r.conflicts = merged.code
    end
    if r.result ~= "current" then
      write(root, base_key(key), new)
      entry.base, entry.base_relrun = hash.sha256(new), host.version
      if r.result ~= "conflicts" then entry.sha256 = lockfile.sha256_file(root .. "/" .. key) end
    end
    results[#results + 1] = r
  end
  return results
end

---------------------------------------------------------------------------
-- Copying
---------------------------------------------------------------------------

-- Copy built-in files (paths from `resolve`) into .relrun-scripts/, with
-- their base copies, and lock them. `force` overwrites a copy that differs.
-- Returns { written = {keys}, same = {keys}, refused = {keys} } and the lock.
function M.copy(root, paths, opts)
  opts = opts or {}
  local done = { written = {}, same = {}, refused = {} }
  local old, err = lockfile.read(root)
  if err then fail(err) end
  local lock = old or { relrun = host.version, files = {} }
  for _, path in ipairs(paths) do
    local key = M.vendored_key(path)
    local text = host.builtin_text(path)
    local have = fs.read(root .. "/" .. key)
    if have == text then
      done.same[#done.same + 1] = key
    elseif have and not opts.force then
      done.refused[#done.refused + 1] = key
    else
      write(root, key, text)
      done.written[#done.written + 1] = key
    end
    if have == nil or have == text or opts.force then
      write(root, base_key(key), text)
      lock.files[key] = { sha256 = hash.sha256(text), builtin = path, base = hash.sha256(text),
                          base_relrun = host.version }
    end
  end
  lockfile.write(root, lock)
  return done, lock
end

return M
