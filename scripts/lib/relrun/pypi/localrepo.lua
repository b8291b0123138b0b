-- The local repository: a folder that pip installs from with
-- `pip install --index-url file:///DIR/simple ...`, relrun's default
-- publish target when no CodeArtifact settings exist.
--
--   DIR/simple/index.html                 every project, linked
--   DIR/simple/<normalized>/index.html    every file, linked as
--        ../../packages/<normalized>/<file>#sha256=<hex>
--        (with data-requires-python when the metadata has it)
--   DIR/packages/<normalized>/<file>      the distributions themselves
--
-- Each file is copied to a temporary name beside its place and renamed, and
-- each page is written to a temporary file and renamed (relrun.fs.write), so
-- a reader sees the old state or the new one, never half of either.
-- Publishing a file that is already there with the same bytes changes
-- nothing; a different file under the same name is refused. One publisher
-- at a time: publish and remove hold an flock on DIR/.lock (relrun.fs.lock)
-- while they read and rewrite the pages, or two releases at once could
-- each drop the other's links.
local fs = require "relrun.fs"
local hash = require "relrun.hash"
local metadata = require "relrun.pypi.metadata"
local index = require "relrun.pypi.index"

local M = {}

M.LOCK_WAIT = 120   -- seconds to wait for another publisher before giving up

-- fn(...) while holding DIR/.lock (the folder is created first).
local function locked(dir, fn, ...)
  local ok, err, code = fs.mkdir(dir)
  if not ok then return nil, err, code end
  local lock <close>, lerr, lcode = fs.lock(fs.join(dir, ".lock"), { wait = M.LOCK_WAIT })
  if not lock then return nil, lerr, lcode end
  return fn(...)
end

local function project_dir(dir, project, top)
  return fs.join(dir, top, project)
end

function M.index_url(dir)
  local abs = fs.absolute(dir)
  return "file://" .. abs:gsub("[^%w/%-%._~]", function(c) return string.format("%%%02X", c:byte()) end)
    .. "/simple/"
end

-- files(dir, name) -> list { filename, url, sha256, requires_python }
-- (empty for a name that is not a project name: no page can be there).
-- A relrun killed while publishing here left pid-marked temporary files
-- (a copy, a page): removed, with those of any other dead relrun, from the
-- folders a publish of `name` writes.
function M.sweep(dir, name)
  local project = metadata.normalize(name)
  for _, sub in ipairs({ "", "simple", fs.join("simple", project), fs.join("packages", project) }) do
    fs.sweep(fs.join(dir, sub))
  end
end

function M.files(dir, name)
  if not metadata.valid_name(name) then return {} end
  local page = fs.join(dir, "simple", metadata.normalize(name), "index.html")
  local text = fs.read(page)
  if not text then return {} end
  return index.parse_html(text)
end

local function project_page(project, files)
  local out = { "<!DOCTYPE html>", "<html>", "  <head><meta name=\"pypi:repository-version\" content=\"1.0\">"
    .. "<title>Links for " .. index.html_escape(project) .. "</title></head>", "  <body>",
    "    <h1>Links for " .. index.html_escape(project) .. "</h1>" }
  for _, f in ipairs(files) do
    local rp = f.requires_python and (' data-requires-python="' .. index.html_escape(f.requires_python) .. '"') or ""
    out[#out + 1] = string.format('    <a href="../../packages/%s/%s#sha256=%s"%s>%s</a><br/>',
      project, index.html_escape(f.filename), f.sha256, rp, index.html_escape(f.filename))
  end
  out[#out + 1] = "  </body>"
  out[#out + 1] = "</html>"
  return table.concat(out, "\n") .. "\n"
end

local function root_page(projects)
  local out = { "<!DOCTYPE html>", "<html>", "  <head><meta name=\"pypi:repository-version\" content=\"1.0\">"
    .. "<title>Simple index</title></head>", "  <body>" }
  for _, p in ipairs(projects) do
    out[#out + 1] = string.format('    <a href="%s/">%s</a><br/>', p, p)
  end
  out[#out + 1] = "  </body>"
  out[#out + 1] = "</html>"
  return table.concat(out, "\n") .. "\n"
end

local function write_pages(dir, project, files)
  table.sort(files, function(a, b) return a.filename < b.filename end)
  local ok, err, code = fs.mkdir(fs.join(dir, "simple", project))
  if not ok then return nil, err, code end
  -- Pages are atomic but not fsynced: they are derived from packages/ (which
  -- is), and a page lost to a power cut is rewritten by the next publish.
  ok, err, code = fs.write(fs.join(dir, "simple", project, "index.html"), project_page(project, files),
    { sync = false })
  if not ok then return nil, err, code end
  local projects = {}
  for _, name in ipairs(fs.list(fs.join(dir, "simple")) or {}) do
    if fs.exists(fs.join(dir, "simple", name, "index.html")) then projects[#projects + 1] = name end
  end
  -- the root page changes only when a project is new: a release's second
  -- file leaves it as it is
  local root, text = fs.join(dir, "simple", "index.html"), root_page(projects)
  if fs.read(root) == text then return true end
  return fs.write(root, text, { sync = false })
end

-- Copy `path` into place atomically: fs.copy writes a temporary file
-- beside the target (named with relrun's pid, so the next relrun writing
-- here removes it if this one is killed mid-copy) and renames it. The
-- repository is read by others (a web server, pip as another user): its
-- files are 0644 whatever mode the build left them in (hatchling: 0600).
local READABLE = tonumber("644", 8)
local function place(path, target)
  return fs.copy(path, target, { mode = READABLE })
end

-- The file `meta.filename` already in `files`: identical (the result) or a
-- conflict (nil, msg, "CONFLICT"); false when it is not there.
local function already_there(files, meta, sha256, dir)
  for _, f in ipairs(files) do
    if f.filename == meta.filename then
      if f.sha256 == sha256 then return true end
      return nil, string.format("%s: a different file is already published under this name in %s "
        .. "(repository sha256 %s, local sha256 %s); refusing to overwrite. Publish a new version",
        meta.filename, dir, tostring(f.sha256), sha256), "CONFLICT"
    end
  end
  return false
end

-- Copy the file into the project's packages folder, then rewrite its pages.
local function add_file(dir, project, files, path, meta, sha256)
  local pdir = project_dir(dir, project, "packages")
  local ok, err, code = fs.mkdir(pdir)
  if not ok then return nil, err, code end
  ok, err, code = place(path, fs.join(pdir, meta.filename))
  if not ok then return nil, err, code end
  files[#files + 1] = { filename = meta.filename, sha256 = sha256, requires_python = meta.requires_python }
  return write_pages(dir, project, files)
end

local function publish_locked(dir, path)
  local meta, err, code = metadata.read(path)
  if not meta then return nil, err, code end
  local problems = metadata.problems(meta)
  if #problems > 0 then
    return nil, meta.filename .. ": metadata an index would reject: " .. table.concat(problems, "; "), "METADATA"
  end
  local digest, derr, dcode = hash.file(path, { "sha256" })
  if not digest then return nil, derr, dcode end
  local project = metadata.normalize(meta.name)
  M.sweep(dir, project)
  local files = M.files(dir, project)
  local result = { filename = meta.filename, sha256 = digest.sha256,
                   url = M.index_url(dir) .. project .. "/" }
  local there, terr, tcode = already_there(files, meta, digest.sha256, dir)
  if there == nil then return nil, terr, tcode end
  if there then
    -- a run killed between the project's page and the root page left the
    -- root without the project: the rerun finishes the pages
    local root = fs.read(fs.join(dir, "simple", "index.html")) or ""
    if not root:find('href="' .. project .. '/"', 1, true) then
      local ok, perr, pcode = write_pages(dir, project, files)
      if not ok then return nil, perr, pcode end
    end
    result.status, result.message = "identical", meta.filename .. ": already published, identical"
    return result
  end
  local ok, aerr, acode = add_file(dir, project, files, path, meta, digest.sha256)
  if not ok then return nil, aerr, acode end
  result.status, result.message = "published", meta.filename .. ": published to " .. dir
  return result
end

-- publish(dir, path) -> { status = "published" | "identical", filename,
-- sha256, url, message } | nil, msg, code ("CONFLICT", "ELOCKED", ...).
function M.publish(dir, path)
  return locked(dir, publish_locked, dir, path)
end

local function remove_locked(dir, name, version)
  local project = metadata.normalize(name)
  local keep, gone = {}, {}
  for _, f in ipairs(M.files(dir, project)) do
    local parsed = metadata.parse_filename(f.filename)
    if parsed and parsed.version == version then gone[#gone + 1] = f.filename else keep[#keep + 1] = f end
  end
  if #gone == 0 then return gone end
  local ok, err, code = write_pages(dir, project, keep)
  if not ok then return nil, err, code end
  for _, filename in ipairs(gone) do
    local path = fs.join(project_dir(dir, project, "packages"), filename)
    if fs.exists(path) then
      ok, err, code = fs.remove(path)
      if not ok then return nil, err, code end
    end
  end
  return gone
end

-- remove(dir, name, version) -> the file names removed (empty when the
-- version has no file here) | nil, msg, code. The project's page is
-- rewritten first (atomically, as publish does; with no link left it stays,
-- empty), then the files are deleted, so a reader never follows a link to a
-- file that is gone. For rollback.lua on the local target.
function M.remove(dir, name, version)
  if not metadata.valid_name(name) then
    return nil, string.format("%q is not a project name (PEP 508)", tostring(name)), "EINVAL"
  end
  if not fs.exists(dir) then return {} end
  return locked(dir, remove_locked, dir, name, version)
end

return M
