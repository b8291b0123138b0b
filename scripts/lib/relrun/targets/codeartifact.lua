-- The production target: an AWS CodeArtifact PyPI repository (RELEASE.md).
--
-- Steps it adds to the publish plan: before the build, credentials (OIDC
-- under GitHub Actions through AWS_ROLE_ARN, otherwise the usual chain) and a
-- token with the repository's PyPI endpoint; after the upload, the wheels to
-- s3://$S3_WHEELS_BUCKET/wheels/ when a bucket is set, and the GitHub Release
-- of the tag with the files attached. Tokens are never journaled: a rerun
-- asks for fresh ones.
local codeartifact = require "relrun.aws.codeartifact"
local credentials = require "relrun.aws.credentials"
local upload = require "relrun.pypi.upload"
local index = require "relrun.pypi.index"
local metadata = require "relrun.pypi.metadata"
local hash = require "relrun.hash"
local host = require "relrun.host"
local log = require "relrun.log"
local fs = require "relrun.fs"

local M = {}
M.__index = M

local TOKEN_SECONDS = 3600   -- a release needs minutes; 12 h tokens only widen a leak

function M.new(cfg)
  return setmetatable({
    kind = "codeartifact", cfg = cfg, package = cfg.package,
    label = string.format("CodeArtifact %s/%s (account %s, %s)", cfg.domain, cfg.repository, cfg.account_id,
      cfg.region),
  }, M)
end

local function fail(message) error({ message = message }, 0) end

function M:repo_args(extra)
  local a = { domain = self.cfg.domain, domain_owner = self.cfg.account_id, repository = self.cfg.repository,
              format = "pypi", package = metadata.normalize(self.package) }
  for k, v in pairs(extra or {}) do a[k] = v end
  return a
end

-- The client, with credentials from the chain (OIDC in Actions).
function M:client()
  if self.ca then return self.ca end
  local provider, err = credentials.resolve{}
  if not provider then
    fail("no AWS credentials: " .. err .. " (RELEASE.md: IAM Role for GitHub Actions OIDC; " ..
      "`relrun scripts/doctor.lua` checks the trust policy)")
  end
  local creds, cerr = provider:get()
  if not creds then fail("AWS credentials: " .. cerr .. " — run `relrun scripts/doctor.lua` (OIDC checks)") end
  local ca, caerr = codeartifact.client{ region = self.cfg.region, credentials = provider }
  if not ca then fail("CodeArtifact client: " .. caerr) end
  self.ca, self.provider = ca, provider
  return ca
end

-- GetAuthorizationToken (masked) + GetRepositoryEndpoint(format pypi).
function M:connect()
  if self.token and self.endpoint then return true end
  local ca = self:client()
  local tok, err, code = ca:get_authorization_token{ domain = self.cfg.domain, domain_owner = self.cfg.account_id,
                                                     duration = TOKEN_SECONDS }
  if not tok then
    fail(string.format("GetAuthorizationToken for domain %s (owner %s): %s%s", self.cfg.domain,
      self.cfg.account_id, err, code == "AccessDeniedException" and
      " — the role needs codeartifact:GetAuthorizationToken and sts:GetServiceBearerToken (RELEASE.md)" or ""))
  end
  self.token = tok.authorizationToken
  host.secret(self.token)
  local endpoint, eerr = ca:get_repository_endpoint{ domain = self.cfg.domain, domain_owner = self.cfg.account_id,
                                                     repository = self.cfg.repository, format = "pypi" }
  if not endpoint then
    fail(string.format("GetRepositoryEndpoint for %s/%s: %s", self.cfg.domain, self.cfg.repository, eerr))
  end
  self.endpoint = endpoint:gsub("/*$", "/")
  -- the token goes to this repository's endpoint and nowhere else (relrun.http
  -- refuses any other origin, a redirect included)
  require("relrun.http").bind(self.token, { self.endpoint }, "the CodeArtifact token")
  return true
end

function M:index_url()
  if self.endpoint then return self.endpoint .. "simple/" end
  return string.format("https://%s-%s.d.codeartifact.%s.amazonaws.com/pypi/%s/simple/", self.cfg.domain,
    self.cfg.account_id, self.cfg.region, self.cfg.repository)
end

-- The index URL with the token in it, for pip (masked wherever printed).
function M:pip_index_url()
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
function M:pip_env()
  local url = self:pip_index_url()
  local dir, derr = fs.tempdir("relrun-pip")
  if not dir then fail("cannot make a private folder for pip's settings: " .. derr) end
  local conf = fs.join(dir.path, "pip.conf")
  local wrote, werr = fs.write(conf, "[global]\nindex-url = " .. url .. "\n", "600")
  if not wrote then
    dir:close()
    fail("cannot write pip's settings: " .. werr)
  end
  return { PIP_CONFIG_FILE = conf, PIP_INDEX_URL = false, PIP_EXTRA_INDEX_URL = false }, dir
end

-- The files of a version there, from ListPackageVersionAssets with hashes.
function M:files(version)
  local assets, err, code = self:client():list_package_version_assets(self:repo_args({ version = version }))
  if not assets then
    if code == "ResourceNotFoundException" then return {} end
    fail("ListPackageVersionAssets " .. self.package .. " " .. version .. ": " .. err)
  end
  local out = {}
  for _, a in ipairs(assets) do
    out[#out + 1] = { filename = a.name, sha256 = a.hashes and a.hashes["SHA-256"] and a.hashes["SHA-256"]:lower(),
                      size = a.size }
  end
  return out
end

function M:publish(file)
  self:connect()
  local r, err, code = upload.upload{ url = self.endpoint, path = file.path, username = "aws", password = self.token,
                                      index_url = self:index_url(), progress = "auto" }
  if not r then
    if code == "AUTH" then
      err = err .. " — the CodeArtifact token was refused: check the role's codeartifact:PublishPackageVersion " ..
        "on the package (`relrun scripts/doctor.lua`)"
    end
    return nil, err, code
  end
  return r.status == "identical" and "identical" or "published"
end

local function sha256_of(path)
  local d = hash.file(path, { "sha256" })
  return d and d.sha256
end

-- The Basic authorization CodeArtifact's PyPI endpoint takes (masked).
function M:basic_auth()
  self:connect()
  local value = "Basic " .. hash.base64_encode("aws:" .. self.token)
  host.secret(value)
  return value
end

-- A link of an index page made absolute against the page's URL (the
-- repository's pages link with absolute paths or relative ones).
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

-- Download a published file into .relrun/dist/VERSION/, checked against
-- the sha256 CodeArtifact reported for it.
function M:download(ctx, f)
  -- the name comes from the repository: it becomes a path only when it is a
  -- distribution's file name
  if type(f.filename) ~= "string" or f.filename:find("/", 1, true) or f.filename:sub(1, 1) == "."
     or not metadata.parse_filename(f.filename) then
    fail(string.format("the repository lists %q, which is not a wheel or sdist file name: not downloaded",
      tostring(f.filename)))
  end
  local headers = { authorization = self:basic_auth() }
  local entry, ferr = index.find(self:index_url(), self.package, f.filename, { headers = headers })
  if not entry then
    fail("cannot find " .. f.filename .. " in " .. self:index_url() .. (ferr and (": " .. ferr) or ""))
  end
  local dir = fs.join(ctx.work_dir, "dist", ctx.version)
  fs.mkdir(dir)
  local path = fs.join(dir, f.filename)
  local url = resolve_url(index.project_url(self:index_url(), self.package), entry.url)
  local resp, err = require("relrun.http").request{ method = "GET", url = url, output = path,
                                                   headers = headers }
  if not resp or resp.status ~= 200 then
    fail("cannot download " .. f.filename .. " from " .. self:index_url() .. ": " .. tostring(err or resp.status))
  end
  if sha256_of(path) ~= f.sha256 then fail("downloaded " .. f.filename .. " does not match its sha256") end
  return path
end

-- Local copies of the built files (downloaded from the repository when the
-- build was skipped because the version was already published).
function M:local_files(ctx)
  local files = {}
  for _, f in ipairs(ctx.evidence.build.files) do
    local path = f.path
    if not (path and fs.exists(path) and sha256_of(path) == f.sha256) then
      path = self:download(ctx, f)
    end
    files[#files + 1] = { path = path, filename = f.filename, sha256 = f.sha256 }
  end
  return files
end

-- Steps before the build: credentials and the repository's endpoint.
function M:before_build(ctx)
  return { {
    name = "connect", does = "get AWS credentials, a CodeArtifact token and the PyPI endpoint of " ..
      self.cfg.domain .. "/" .. self.cfg.repository,
    run = function()
      self:connect()
      log.info("CodeArtifact endpoint %s", self.endpoint)
      ctx.endpoint = self.endpoint
      return { endpoint = self.endpoint }
    end,
  } }
end

local function s3_step(self, ctx)
  local bucket = self.cfg.bucket
  local function client()
    if not self.s3 then
      local s3, err = require("relrun.aws.s3").client{ region = self.cfg.region,
                                                        credentials = (self:client() and self.provider) }
      if not s3 then fail("S3 client: " .. err) end
      self.s3 = s3
    end
    return self.s3
  end
  local function key(filename) return "wheels/" .. filename end
  return {
    name = "s3", does = "copy the files to s3://" .. bucket .. "/wheels/",
    -- RELEASE.md's policy grants s3:PutObject but neither s3:GetObject nor
    -- s3:ListBucket, so HEAD requests may be refused (403): then the journal's
    -- evidence of this run's own uploads is what says an object is there.
    check = function(_, evidence)
      local built = ctx.evidence.build and ctx.evidence.build.files
      if not built then return false end   -- a dry run before the build
      local journaled = {}
      for _, o in ipairs(evidence and evidence.objects or {}) do journaled[o.key] = o.sha256 end
      -- every file is looked at before answering: a missing one must not
      -- hide another that exists with other bytes (run would overwrite it)
      local missing = false
      for _, f in ipairs(built) do
        local head, herr, hcode, e = client():head_object{ bucket = bucket, key = key(f.filename) }
        if not head and type(e) == "table" and e.status == 403 then
          if journaled[key(f.filename)] ~= f.sha256 then missing = true end
        elseif not head and hcode ~= "NotFound" and hcode ~= "NoSuchKey" and hcode ~= "NoSuchBucket" then
          fail(string.format("s3://%s/%s: %s", bucket, key(f.filename), tostring(herr)))
        elseif not head then
          missing = true
        elseif head.metadata.sha256 ~= f.sha256 then
          fail(string.format("s3://%s/%s exists with other content (sha256 %s, ours %s): delete it or release " ..
            "a new version", bucket, key(f.filename), tostring(head.metadata.sha256), f.sha256))
        end
      end
      if missing then return false end
      return true, { bucket = bucket, objects = evidence and evidence.objects }
    end,
    run = function()
      local ok_bucket, berr, _, e = client():head_bucket{ bucket = bucket }
      if not ok_bucket and type(e) == "table" and e.status == 403 then
        -- it exists (a missing bucket is 404); this role may only put objects
        log.verbose("HeadBucket %s refused (no s3:ListBucket, as in RELEASE.md's policy): uploading anyway", bucket)
      elseif not ok_bucket then
        fail(string.format("S3 bucket %s: %s — check it exists in %s and the role may s3:PutObject on wheels/* " ..
          "(RELEASE.md \"S3 Upload Failures\")", bucket, berr, self.cfg.region))
      end
      local out = {}
      for _, f in ipairs(self:local_files(ctx)) do
        -- never over an object already there (If-None-Match): the same bytes
        -- are fine, other bytes stop the release, even when this role may
        -- not read objects and the check above could not look
        local r, err = client():upload_file{ bucket = bucket, key = key(f.filename), file = f.path, sha256 = f.sha256,
                                             metadata = { sha256 = f.sha256 }, overwrite = false }
        if not r then fail("upload to s3://" .. bucket .. "/" .. key(f.filename) .. ": " .. err) end
        if r.status == "identical" then log.info("s3://%s/%s: already there, identical", bucket, key(f.filename)) end
        out[#out + 1] = { key = key(f.filename), sha256 = f.sha256 }
      end
      return { bucket = bucket, objects = out }
    end,
  }
end

local function release_notes(ctx)
  local ok_git, git = pcall(require, "relrun.git")
  local repo = ok_git and git.open(ctx.project_dir)
  if not repo then return "" end
  local previous
  for _, t in ipairs(repo:tags()) do
    if t.name ~= ctx.tag and t.name:match("^v%d+%.%d+%.%d+$") and repo:merge_base(t.target, ctx.tag) == t.target then
      if not previous or require("relrun.semver").compare(t.name:sub(2), previous:sub(2)) > 0 then previous = t.name end
    end
  end
  local lines = {}
  for _, c in ipairs(repo:log(previous and (previous .. ".." .. ctx.tag) or ctx.tag) or {}) do
    lines[#lines + 1] = "- " .. c.summary .. " (" .. c.short .. ")"
  end
  repo:close()
  return (previous and ("Changes since " .. previous .. ":\n\n") or "") .. table.concat(lines, "\n")
end

-- Done when the tag's release holds every built file with its sha256; an
-- asset of the same name with other content stops the run.
local function release_complete(gh, ctx)
  if not (ctx.evidence.build and ctx.evidence.build.files) then return false end
  local rel, err = gh:release_by_tag(ctx.tag)
  if rel == nil then fail(err.message) end
  if not rel then return false end
  local assets, lerr = gh:list_assets(rel.id)
  if not assets then fail(lerr.message) end
  local there = {}
  for _, a in ipairs(assets) do there[a.name] = a end
  for _, f in ipairs(ctx.evidence.build.files) do
    local a = there[f.filename]
    if not a or not require("relrun.github").asset_complete(a) then return false end   -- run() clears a leftover
    local sha, herr = gh:asset_sha256(a)
    if not sha then fail(herr.message) end
    if sha ~= f.sha256 then
      fail(string.format("the GitHub Release %s already has a different %s (sha256 %s, ours %s): delete that " ..
        "asset or release a new version", ctx.tag, f.filename, sha, f.sha256))
    end
  end
  return true, { release_id = rel.id, url = rel.html_url or rel.url }
end

local function github_step(self, ctx)
  local function client()
    local gh, err = require("relrun.github").new{ repo_dir = ctx.project_dir }
    if not gh then fail(err.message) end
    return gh
  end
  return {
    name = "github-release", does = "create the GitHub Release " .. ctx.tag .. " with the wheel and the sdist",
    check = function() return release_complete(client(), ctx) end,
    run = function()
      local gh = client()
      local rel, how = gh:ensure_release{ tag = ctx.tag, name = ctx.tag, body = release_notes(ctx) }
      if not rel then fail(how.message) end
      local assets = {}
      for _, f in ipairs(self:local_files(ctx)) do
        local asset, status = gh:upload_asset(rel, f.path)
        if not asset then fail(status.message) end
        assets[#assets + 1] = { name = f.filename, status = status }
      end
      log.info("GitHub Release %s %s: %s", ctx.tag, how, rel.html_url or rel.url or "")
      return { release_id = rel.id, url = rel.html_url or rel.url, assets = assets }
    end,
  }
end

-- Steps after the upload: S3 (only with a bucket) and the GitHub Release
-- (only with a GitHub token: in Actions, GITHUB_TOKEN).
function M:after_publish(ctx)
  local out = {}
  if self.cfg.bucket then out[#out + 1] = s3_step(self, ctx) end
  if os.getenv("GITHUB_TOKEN") and os.getenv("GITHUB_TOKEN") ~= "" then out[#out + 1] = github_step(self, ctx) end
  return out
end

-- Rollback: "done" when the version is gone (or already has the status asked).
function M:version_state(version, mode)
  local pv, err, code = self:client():describe_package_version(self:repo_args({ version = version }))
  if not pv then
    if code == "ResourceNotFoundException" then return "done" end
    fail("DescribePackageVersion " .. self.package .. " " .. version .. ": " .. err)
  end
  if mode ~= "deleted" and pv.status == mode then return "done" end
  return "todo"
end

-- DeletePackageVersions, or UpdatePackageVersionsStatus to Unlisted/Archived.
-- A 200 answer may still carry failures: each one is reported.
function M:remove_version(version, mode)
  local ca = self:client()
  local r, err
  if mode == "deleted" then
    r, err = ca:delete_package_versions(self:repo_args({ versions = { version } }))
  else
    r, err = ca:update_package_versions_status(self:repo_args({ versions = { version }, target_status = mode }))
  end
  if not r then fail((mode == "deleted" and "DeletePackageVersions " or "UpdatePackageVersionsStatus ") .. err) end
  local failures = {}
  for v, e in pairs(r.failedVersions or {}) do
    failures[#failures + 1] = string.format("%s: %s %s", v, tostring(e.errorCode), tostring(e.errorMessage or ""))
  end
  if #failures > 0 then
    table.sort(failures)
    fail("CodeArtifact refused: " .. table.concat(failures, "; ") ..
      " (codes: ALREADY_EXISTS, MISMATCHED_REVISION, MISMATCHED_STATUS, NOT_ALLOWED, NOT_FOUND, SKIPPED)")
  end
  return r.successfulVersions
end

function M:instructions(version)
  local c = self.cfg
  local login = string.format("aws codeartifact login --tool pip --domain %s --domain-owner %s --repository %s " ..
    "--region %s", c.domain, c.account_id, c.repository, c.region)
  return {
    "# pip, with a token from your AWS credentials (nothing to paste):",
    login,
    string.format("pip install %s==%s", self.package, version),
    "",
    "# Databricks (keep the token in a secret scope: a CodeArtifact token lasts at most 12 hours):",
    string.format("%%pip install %s==%s --index-url %s", self.package, version, self:index_url()),
  }
end

return M
