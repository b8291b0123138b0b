-- The embedded default target: a PEP 503 repository in a folder, which
-- `pip install --index-url file:///...` installs from. Used whenever
-- CODEARTIFACT_DOMAIN is not set.
local localrepo = require "relrun.pypi.localrepo"
local metadata = require "relrun.pypi.metadata"
local fs = require "relrun.fs"

local M = {}
M.__index = M

function M.new(cfg)
  local dir = fs.absolute(cfg.repository_dir)
  return setmetatable({ kind = "local", dir = dir, package = cfg.package,
                        label = "the local repository " .. dir }, M)
end

function M:prepare() return true end

function M:index_url() return localrepo.index_url(self.dir) end

-- The files this version has there: list of { filename, sha256 }.
function M:files(version)
  local out = {}
  for _, f in ipairs(localrepo.files(self.dir, self.package) or {}) do
    local parsed = metadata.parse_filename(f.filename)
    if parsed and parsed.version == version then out[#out + 1] = { filename = f.filename, sha256 = f.sha256 } end
  end
  return out
end

-- "published" or "identical"; a different file of the same name is refused.
function M:publish(file)
  local r, err, code = localrepo.publish(self.dir, file.path)
  if not r then return nil, err, code end
  return r.status == "identical" and "identical" or "published"
end

function M:pip_env() return {} end

-- Rollback: "done" when the version has no files here.
function M:version_state(version)
  return #self:files(version) == 0 and "done" or "todo"
end

function M:remove_version(version)
  local removed, err = localrepo.remove(self.dir, self.package, version)
  if not removed then error({ message = "removing " .. version .. " from " .. self.dir .. ": " .. err }, 0) end
  return removed
end

function M:instructions(version)
  return {
    string.format("pip install %s==%s --index-url %s", self.package, version, self:index_url()),
  }
end

return M
