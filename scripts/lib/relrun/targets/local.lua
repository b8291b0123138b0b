-- The embedded default target: a PEP 503 repository in a folder, which
-- `pip install --index-url file:///...` installs from. Used whenever
-- CODEARTIFACT_DOMAIN is not set.
local Base = require "relrun.targets.base"
local localrepo = require "relrun.pypi.localrepo"
local metadata = require "relrun.pypi.metadata"
local errors = require "relrun.errors"
local fs = require "relrun.fs"

local Local = Base.class{}

function Local.new(cfg)
  -- the default and pyproject.toml's setting are the project's folders; a
  -- flag or RELRUN_REPOSITORY_DIR is where the user typed it
  local dir, from = cfg.repository_dir, (cfg.source or {}).repository_dir or "default"
  if dir:sub(1, 1) ~= "/" and cfg.project_dir and (from == "default" or from:find("^pyproject")) then
    dir = fs.join(cfg.project_dir, dir)
  end
  dir = fs.absolute(dir)
  return setmetatable({ kind = "local", dir = dir, package = cfg.package,
                        label = "the local repository " .. dir }, Local)
end

function Local:index_url() return localrepo.index_url(self.dir) end

-- A rerun that finds its files in place publishes nothing, so nothing
-- would sweep a killed run's temporary files: this does.
function Local:tidy()
  if fs.exists(self.dir) and self.package and metadata.valid_name(self.package) then localrepo.sweep(self.dir, self.package) end
end

function Local:list_files(version)
  local out = {}
  for _, f in ipairs(localrepo.files(self.dir, self.package) or {}) do
    local parsed = metadata.parse_filename(f.filename)
    if parsed and parsed.version == version then
      out[#out + 1] = { filename = f.filename, sha256 = f.sha256,
                        path = fs.join(self.dir, "packages", metadata.normalize(self.package), f.filename) }
    end
  end
  return out
end

-- Every version with files here, oldest first. A folder has no statuses:
-- a version is Published while it has files; its publish time is its
-- oldest file's modification time.
function Local:versions()
  local by_version, order = {}, {}
  for _, f in ipairs(localrepo.files(self.dir, self.package) or {}) do
    local parsed = metadata.parse_filename(f.filename)
    if parsed then
      local path = fs.join(self.dir, "packages", metadata.normalize(self.package), f.filename)
      local st = fs.stat(path) or {}
      local v = by_version[parsed.version]
      if not v then
        v = { version = parsed.version, status = "Published", files = {} }
        by_version[parsed.version], order[#order + 1] = v, v
      end
      v.files[#v.files + 1] = { filename = f.filename, sha256 = f.sha256, size = st.size, path = path }
      if st.mtime and (not v.published or st.mtime < v.published) then v.published = math.floor(st.mtime) end
    end
  end
  table.sort(order, function(a, b) return (a.published or 0) < (b.published or 0) end)
  return order
end

-- "Disposed" in CodeArtifact deletes a version's files and keeps its record;
-- a folder keeps no record, so it is a delete here.
Local.MODES = { deleted = true, Disposed = true }

-- The folder (or, before the first release, the nearest folder above it
-- that exists) must be writable: a probe file is written and removed, and
-- nothing is created.
function Local:preflight()
  local dir = self.dir
  while not fs.exists(dir) and dir ~= "/" do dir = fs.dirname(dir) end
  if (fs.stat(dir) or {}).type ~= "directory" then
    errors.raise("TARGET_UNWRITABLE", dir .. " is not a folder", { hint = "choose another folder (--repository-dir)" })
  end
  -- named as relrun's temporary files are: if a kill comes before the
  -- remove, the next relrun writing in this folder sweeps it
  local probe = fs.join(dir, ".write-check.relrun-" .. require("relrun.proc").pid() .. "-wcheck")
  local ok, err = fs.write(probe, "", { sync = false })
  if not ok then
    errors.raise("TARGET_UNWRITABLE", dir .. " is not writable: " .. tostring(err),
      { hint = "fix its permissions or choose another folder (--repository-dir, RELRUN_REPOSITORY_DIR)" })
  end
  fs.remove(probe)
  return self.dir .. (dir == self.dir and "" or " (to be created)") .. " writable"
end

function Local:publish(file)
  self:forget(file.version or "")
  self._files = nil
  local r, err, code = localrepo.publish(self.dir, file.path)
  if not r then
    if code == "CONFLICT" then
      return nil, errors.new("CONFLICT", err, { hint = Base.CONFLICT_HINT })
    end
    return nil, errors.from(err, code)
  end
  return r.status == "identical" and "identical" or "published"
end

function Local:download(f, dir)
  local path = fs.join(dir, f.filename)
  local ok, err = fs.copy(f.path, path)
  if not ok then errors.raise("DOWNLOAD", "cannot copy " .. f.path .. ": " .. err) end
  return Base.check_download(path, f)
end

function Local:remove(version)
  self._files = nil
  local removed, err, code = localrepo.remove(self.dir, self.package, version)
  if not removed then return nil, errors.new(code or "REMOVE", "removing " .. version .. " from " .. self.dir .. ": " .. err) end
  return true
end

return Local
