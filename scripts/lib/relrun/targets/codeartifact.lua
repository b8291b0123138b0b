-- The production target: an AWS CodeArtifact PyPI repository (RELEASE.md).
--
-- Credentials come from OIDC under GitHub Actions (AWS_ROLE_ARN), otherwise
-- the usual chain; the repository's token (GetAuthorizationToken) and its
-- PyPI endpoint are fetched once per run and never journaled. The token
-- goes only into upload requests to that endpoint and into pip's private
-- configuration, never into a command line.
local Base = require "relrun.targets.base"
local codeartifact = require "relrun.aws.codeartifact"
local credentials = require "relrun.aws.credentials"
local upload = require "relrun.pypi.upload"
local index = require "relrun.pypi.index"
local metadata = require "relrun.pypi.metadata"
local errors = require "relrun.errors"
local hash = require "relrun.hash"
local host = require "relrun.host"
local http = require "relrun.http"
local fs = require "relrun.fs"

local CodeArtifact = Base.class{ needs_connect = true }

local TOKEN_SECONDS = 3600   -- a release needs minutes; 12 h tokens only widen a leak

function CodeArtifact.new(cfg)
  return setmetatable({
    kind = "codeartifact", cfg = cfg, package = cfg.package,
    label = string.format("CodeArtifact %s/%s (account %s, %s)", cfg.domain, cfg.repository, cfg.account_id,
      cfg.region),
  }, CodeArtifact)
end

function CodeArtifact:repo_args(extra)
  local a = { domain = self.cfg.domain, domain_owner = self.cfg.account_id, repository = self.cfg.repository,
              format = "pypi", package = metadata.normalize(self.package) }
  for k, v in pairs(extra or {}) do a[k] = v end
  return a
end

-- The credential provider (OIDC in Actions), made once.
function CodeArtifact:credentials()
  if self.provider then return self.provider end
  local provider, err = credentials.resolve{}
  if not provider then
    errors.raise("NO_CREDENTIALS", "no AWS credentials: " .. tostring(err), { hint = "RELEASE.md: IAM Role for " ..
      "GitHub Actions OIDC; `relrun doctor` checks the trust policy" })
  end
  local _, cerr = provider:get()
  if cerr then
    errors.raise("CREDENTIALS", "AWS credentials: " .. tostring(cerr), { hint = "run `relrun doctor` (OIDC checks)" })
  end
  self.provider = provider
  return provider
end

function CodeArtifact:client()
  if self.ca then return self.ca end
  local ca, err = codeartifact.client{ region = self.cfg.region, credentials = self:credentials() }
  if not ca then errors.raise("CODEARTIFACT", "CodeArtifact client: " .. tostring(err)) end
  self.ca = ca
  return ca
end

-- GetAuthorizationToken (registered as a secret at once) and
-- GetRepositoryEndpoint (format pypi). -> a line for the log.
function CodeArtifact:connect()
  if self.token and self.endpoint then return "endpoint " .. self.endpoint end
  local ca = self:client()
  local c = self.cfg
  -- token_seconds: a login (scripts/login.lua) may ask for up to 12 h
  local tok, err, code = ca:get_authorization_token{ domain = c.domain, domain_owner = c.account_id,
                                                     duration = self.token_seconds or TOKEN_SECONDS }
  if not tok then
    errors.raise("CODEARTIFACT_TOKEN", string.format("GetAuthorizationToken for domain %s (owner %s): %s", c.domain,
      c.account_id, tostring(err)), { hint = code == "AccessDeniedException" and
      "the role needs codeartifact:GetAuthorizationToken and sts:GetServiceBearerToken (RELEASE.md)" or nil })
  end
  self.token, self.expiration = tok.authorizationToken, tok.expiration
  host.secret(self.token)
  local endpoint, eerr = ca:get_repository_endpoint{ domain = c.domain, domain_owner = c.account_id,
                                                     repository = c.repository, format = "pypi" }
  if not endpoint then
    errors.raise("CODEARTIFACT_ENDPOINT", string.format("GetRepositoryEndpoint for %s/%s: %s", c.domain, c.repository,
      tostring(eerr)))
  end
  self.endpoint = endpoint:gsub("/*$", "/")
  -- the token goes to this repository's endpoint and nowhere else (relrun.http
  -- refuses any other origin, a redirect included)
  http.bind(self.token, { self.endpoint }, "the CodeArtifact token")
  return "endpoint " .. self.endpoint
end

function CodeArtifact:preflight()
  local c = self.cfg
  local r, err = self:client():describe_repository{ domain = c.domain, domain_owner = c.account_id,
                                                    repository = c.repository }
  if not r then
    errors.raise("CODEARTIFACT_REPOSITORY", string.format("repository %s/%s: %s", c.domain, c.repository, tostring(err)),
      { hint = "check CODEARTIFACT_DOMAIN, CODEARTIFACT_REPOSITORY and the account (`relrun setup` creates them)" })
  end
  return string.format("%s reachable (PublishPackageVersion is proven by the upload itself)", self.label)
end

function CodeArtifact:index_url()
  if self.endpoint then return self.endpoint .. "simple/" end
  return string.format("https://%s-%s.d.codeartifact.%s.amazonaws.com/pypi/%s/simple/", self.cfg.domain,
    self.cfg.account_id, self.cfg.region, self.cfg.repository)
end

-- The Basic authorization CodeArtifact's PyPI endpoint takes (masked).
function CodeArtifact:basic_auth()
  self:connect()
  local value = "Basic " .. hash.base64_encode("aws:" .. self.token)
  host.secret(value)
  return value
end

function CodeArtifact:index_headers()
  return { authorization = self:basic_auth() }
end

-- The index URL with the token in it, as pip and uv take it (masked).
function CodeArtifact:index_url_with_token()
  self:connect()
  local url = self:index_url():gsub("^(https?://)", "%1aws:" .. self.token .. "@")
  host.secret(url)
  return url
end

-- pip's settings for this index, never in its command line (any local user
-- reads /proc/*/cmdline): a pip.conf (0600) in a private folder (0700)
-- whose index-url carries the token, named by PIP_CONFIG_FILE; the
-- PIP_INDEX_URL / PIP_EXTRA_INDEX_URL pip would otherwise prefer are
-- removed. -> env for pip, the folder (close it once pip is done).
function CodeArtifact:pip_env()
  local url = self:index_url_with_token()
  local dir = fs.tempdir("relrun-pip")
  local conf = fs.join(dir.path, "pip.conf")
  local wrote, werr = fs.write(conf, "[global]\nindex-url = " .. url .. "\n", "600")
  if not wrote then
    dir:close()
    errors.raise("PIP_CONFIG", "cannot write pip's settings: " .. tostring(werr))
  end
  return { PIP_CONFIG_FILE = conf, PIP_INDEX_URL = false, PIP_EXTRA_INDEX_URL = false }, dir
end

-- The files of a version, from ListPackageVersionAssets with hashes.
function CodeArtifact:list_files(version)
  local assets, err, code = self:client():list_package_version_assets(self:repo_args({ version = version }))
  if not assets then
    if code == "ResourceNotFoundException" then return {} end
    errors.raise("CODEARTIFACT", "ListPackageVersionAssets " .. self.package .. " " .. version .. ": " .. tostring(err))
  end
  local out = {}
  for _, a in ipairs(assets) do
    out[#out + 1] = { filename = a.name, sha256 = a.hashes and a.hashes["SHA-256"] and a.hashes["SHA-256"]:lower(),
                      size = a.size }
  end
  return out
end

function CodeArtifact:status(version)
  local pv, err, code = self:client():describe_package_version(self:repo_args({ version = version }))
  if not pv then
    if code == "ResourceNotFoundException" then return "absent" end
    errors.raise("CODEARTIFACT", "DescribePackageVersion " .. self.package .. " " .. version .. ": " .. tostring(err))
  end
  return pv.status
end

function CodeArtifact:publish(file)
  self:connect()
  local r, err, code = upload.upload{ url = self.endpoint, path = file.path, username = "aws", password = self.token,
                                      index_url = self:index_url(), progress = "auto", digests = file }
  if not r then
    local hint
    if code == "AUTH" then
      hint = "the CodeArtifact token was refused: check the role's codeartifact:PublishPackageVersion on the package " ..
        "(`relrun doctor`)"
    elseif code == "CONFLICT" then
      hint = Base.CONFLICT_HINT
    end
    return nil, errors.new(code and tostring(code) or "UPLOAD", tostring(err), { hint = hint })
  end
  return r.status == "identical" and "identical" or "published"
end

-- A link of an index page made absolute against the page's URL.
local function resolve_url(base, link)
  link = link:gsub("#.*$", "")
  if link:match("^%a[%w+.-]*://") then return link end
  if link:sub(1, 1) == "/" then return base:match("^(%a[%w+.-]*://[^/]+)") .. link end
  local dir = base:gsub("[^/]*$", "")
  while link:sub(1, 3) == "../" do
    dir = dir:gsub("[^/]+/$", "")
    link = link:sub(4)
  end
  return dir .. link:gsub("^%./", "")
end

-- A published file back into `dir`, checked against its sha256. The name
-- comes from the repository: it becomes a path only when it is a
-- distribution's file name.
function CodeArtifact:download(f, dir)
  if type(f.filename) ~= "string" or f.filename:find("/", 1, true) or f.filename:sub(1, 1) == "."
     or not metadata.parse_filename(f.filename) then
    errors.raise("DOWNLOAD", string.format("the repository lists %q, which is not a wheel or sdist file name: " ..
      "not downloaded", tostring(f.filename)))
  end
  local headers = { authorization = self:basic_auth() }
  local entry, ferr = index.find(self:index_url(), self.package, f.filename, { headers = headers })
  if not entry then
    errors.raise("DOWNLOAD", "cannot find " .. f.filename .. " in " .. self:index_url() .. (ferr and (": " .. ferr) or ""))
  end
  local path = fs.join(dir, f.filename)
  local url = resolve_url(index.project_url(self:index_url(), self.package), entry.url)
  local resp, err = http.request{ method = "GET", url = url, output = path, headers = headers, timeout = 600 }
  if not resp or resp.status ~= 200 then
    errors.raise("DOWNLOAD", "cannot download " .. f.filename .. " from " .. self:index_url() .. ": " ..
      tostring(err or resp.status))
  end
  return Base.check_download(path, f)
end

CodeArtifact.MODES = { deleted = true, Disposed = true, Unlisted = true, Archived = true }

-- Every version of the package: ListPackageVersions, then each version's
-- DescribePackageVersion (publish time) and ListPackageVersionAssets (files,
-- sizes, sha256), several at once. A package never published is no version.
function CodeArtifact:versions()
  local ca = self:client()
  local list, err, code = ca:list_package_versions(self:repo_args({ max_results = 1000 }))
  if not list then
    if code == "ResourceNotFoundException" then return {} end
    errors.raise("CODEARTIFACT", "ListPackageVersions " .. self.package .. ": " .. tostring(err))
  end
  local names = {}
  for i, v in ipairs(list) do names[i] = v.version end
  local details
  details, err = ca:version_details(self:repo_args({ versions = names }))
  if not details then
    errors.raise("CODEARTIFACT", "DescribePackageVersion / ListPackageVersionAssets " .. self.package .. ": " ..
      tostring(err))
  end
  local out = {}
  for i, v in ipairs(list) do
    local d = details[v.version]
    local files = {}
    for k, a in ipairs(d.assets) do
      files[k] = { filename = a.name, size = a.size,
                   sha256 = a.hashes and a.hashes["SHA-256"] and a.hashes["SHA-256"]:lower() }
    end
    -- the service answers epoch seconds with a fraction
    local published = d.description.publishedTime
    out[i] = { version = v.version, status = v.status, revision = v.revision,
               published = published and math.floor(published), files = files }
  end
  table.sort(out, function(a, b) return (a.published or 0) < (b.published or 0) end)
  return out
end

-- A version's requirements, as CodeArtifact read them from its metadata
-- (ListPackageVersionDependencies).
function CodeArtifact:requires(version)
  local list, err = self:client():list_package_version_dependencies(self:repo_args({ version = version }))
  if not list then
    errors.raise("CODEARTIFACT", "ListPackageVersionDependencies " .. self.package .. " " .. version .. ": " ..
      tostring(err))
  end
  local out = {}
  for _, d in ipairs(list) do out[#out + 1] = d.package .. (d.versionRequirement or "") end
  return out
end

-- The answer's failedVersions as one error (nil when there are none);
-- `tolerated` codes are no failure (SKIPPED: already in that state).
local function refused(r, tolerated)
  local failures = {}
  for v, e in pairs(r.failedVersions or {}) do
    if not (tolerated and tolerated[e.errorCode]) then
      failures[#failures + 1] = string.format("%s: %s %s", v, tostring(e.errorCode), tostring(e.errorMessage or ""))
    end
  end
  if #failures == 0 then return nil end
  table.sort(failures)
  return errors.new("CODEARTIFACT_REFUSED", "CodeArtifact refused: " .. table.concat(failures, "; "),
    { hint = "codes: ALREADY_EXISTS, MISMATCHED_REVISION, MISMATCHED_STATUS, NOT_ALLOWED, NOT_FOUND, SKIPPED" })
end

local OPERATION = { deleted = "DeletePackageVersions", Disposed = "DisposePackageVersions" }

-- One call for up to 100 versions: DeletePackageVersions,
-- DisposePackageVersions, or UpdatePackageVersionsStatus to Unlisted/Archived.
local function remove_batch(self, versions, mode, tolerated)
  local ca = self:client()
  local args = self:repo_args({ versions = versions })
  local r, err
  if mode == "deleted" then
    r, err = ca:delete_package_versions(args)
  elseif mode == "Disposed" then
    r, err = ca:dispose_package_versions(args)
  else
    args.target_status = mode
    r, err = ca:update_package_versions_status(args)
  end
  if not r then
    return nil, errors.new("CODEARTIFACT", (OPERATION[mode] or "UpdatePackageVersionsStatus") .. " " .. tostring(err))
  end
  local e = refused(r, tolerated)
  if e then return nil, e end
  return true
end

-- A 200 answer may still carry failures: each one is reported.
function CodeArtifact:remove(version, mode)
  self._files = nil
  return remove_batch(self, { version }, mode)
end

-- Many versions, 100 per call (the API's limit). A version already in the
-- wanted state (SKIPPED) or already gone (NOT_FOUND, for a delete) is no
-- failure: a rerun after a kill converges.
function CodeArtifact:dispose(versions, mode)
  self._files = nil
  local tolerated = { SKIPPED = true, NOT_FOUND = mode == "deleted" or nil }
  for i = 1, #versions, 100 do
    local good, err = remove_batch(self, { table.unpack(versions, i, math.min(i + 99, #versions)) }, mode, tolerated)
    if not good then return nil, err end
  end
  return true
end

function CodeArtifact:instructions(version, package)
  local databricks = self:index_url():gsub("^(https?://)", "%1aws:$token@")
  return {
    "# pip (or --tool uv|twine|poetry), with a token from your AWS credentials: nothing to paste, other indexes",
    "# untouched (pip: the active venv's pip.conf; --env prints exports instead):",
    "relrun login --tool pip",
    string.format("pip install %s==%s", package, version),
    "",
    "# Databricks: keep the token in a secret scope (a CodeArtifact token lasts at most 12 hours):",
    "#   relrun login --print-token | databricks secrets put-secret codeartifact token",
    "# then, in the notebook:",
    'token = dbutils.secrets.get(scope="codeartifact", key="token")',
    string.format("%%pip install %s==%s --index-url %s", package, version, databricks),
  }
end

return CodeArtifact
