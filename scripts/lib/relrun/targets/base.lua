-- relrun.targets.base: what every publish target is. A target is where a
-- release's files go and where users install them from (the local
-- repository, CodeArtifact). Steps, verify and rollback use only this
-- interface; each target overrides what it does differently.
--
--   target.kind, target.label          -- "local", "the local repository /x"
--   target:connect()                   -- credentials, tokens, endpoints (raises)
--   target:preflight()                 -- may this run write here? (raises with the fix)
--   target:files(version)              -- { {filename, sha256, size} }, asked once per run
--   target:status(version)             -- "Published" | "Unlisted" | "Archived" | "Disposed" | "absent"
--   target:publish(file)               -- "published" | "identical" | nil, err
--   target:download(file, dir)         -- a published file back, checked against its sha256 -> path
--   target:remove(version, mode)       -- mode "deleted" | "Unlisted" | "Archived" | "Disposed" -> true | nil, err
--   target:versions()                  -- every version: { {version, status, published (epoch s | nil),
--                                      --   files = { {filename, sha256, size} }} }, asked once per run
--   target:dispose(versions, mode)     -- remove(v, mode) for many at once (maintain.lua prune)
--                                      -- -> true | nil, err
--   target.MODES                       -- the remove modes it knows
--   target:requires(version)           -- its requirements as PEP 508 strings ("requests>=2.31")
--   target:index_url()                 -- the index users install from (no credentials in it)
--   target:pip_env()                   -- what pip's environment needs to read it (credentials only here)
--   target:index_headers()             -- the headers relrun.pypi.index needs to read it (masked)
--   target:instructions(version)       -- lines telling users how to install
local errors = require "relrun.errors"
local hash = require "relrun.hash"

local Base = {}
Base.__index = Base

-- What to do about a file published with other bytes under a release's name.
Base.CONFLICT_HINT = "a published file is never overwritten: when the published sdist is this release's, a rerun " ..
  "builds the rest from it; otherwise release a new version"

-- A target class: methods not given come from Base.
function Base.class(methods)
  methods.__index = methods
  return setmetatable(methods, { __index = Base })
end

function Base:connect() return true end
function Base:preflight() return self.label end
-- After a rerun finds the release already in place: clear what a killed
-- run left there that only a write would otherwise have cleared.
function Base:tidy() end

-- files(version), remembered for the rest of the run; publish and remove
-- forget it.
function Base:files(version)
  self._files = self._files or {}
  if not self._files[version] then self._files[version] = self:list_files(version) end
  return self._files[version]
end

function Base:forget(version)
  if self._files then self._files[version] = nil end
end

function Base:status(version)
  return #self:files(version) > 0 and "Published" or "absent"
end

Base.MODES = { deleted = true }

-- A version's requirements from its wheel's METADATA (Requires-Dist),
-- downloaded when the target does not hold it as a file here.
function Base:requires(version)
  local metadata = require "relrun.pypi.metadata"
  for _, f in ipairs(self:files(version)) do
    if f.filename:match("%.whl$") then
      local path, dir = f.path, nil
      if not path then
        dir = require("relrun.fs").tempdir("relrun-requires")
        path = self:download(f, dir.path)
      end
      local meta, err = metadata.read(path)
      if dir then dir:close() end
      if not meta then errors.raise("METADATA", "reading " .. f.filename .. ": " .. tostring(err)) end
      return meta.requires_dist or {}
    end
  end
  return {}
end

function Base:versions()
  errors.raise("NOT_SUPPORTED", self.label .. " cannot list its versions")
end

-- Each version through remove(); a target with a batch call overrides it.
function Base:dispose(versions, mode)
  for _, v in ipairs(versions) do
    local good, err = self:remove(v, mode)
    if not good then return nil, err end
  end
  return true
end

function Base:pip_env() return {} end
function Base:index_headers() return {} end

function Base:download()
  errors.raise("NOT_SUPPORTED", self.label .. " cannot give files back")
end

-- A downloaded file must be the published one.
function Base.check_download(path, f)
  local d = hash.file(path, { "sha256" })
  if not d or (f.sha256 and d.sha256 ~= f.sha256) then
    errors.raise("DOWNLOAD_MISMATCH", string.format("the downloaded %s has sha256 %s, the repository says %s",
      f.filename, d and d.sha256 or "?", tostring(f.sha256)))
  end
  return path
end

function Base:instructions(version, package)
  return { string.format("pip install %s==%s --index-url %s", package, version, self:index_url()) }
end

return Base
