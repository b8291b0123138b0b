-- The world a release runs in, on 127.0.0.1, for the end-to-end specs and
-- bench/release.sh: moto (STS, S3, IAM), the CodeArtifact fake, the GitHub
-- API fake (with its OIDC endpoint), and a smart-HTTP git remote holding a
-- clone of examples/stock-pipeline with release tags.
--
--   local world = require "e2e_world"
--   local w = world.start{ tags = { "v0.1.0" } }   -- peers up, clone pushed
--   local r = w:relrun{ "scripts/release.lua", "publish" }  -- { code, stdout, stderr }
--   w:env()          -- simulated GitHub Actions (OIDC) for relrun
--   w:secrets()      -- every secret value the world hands out so far
--   w:stop()
local peer = require "peer"
local G = require "git_fixtures"
local fs = require "relrun.fs"
local proc = require "relrun.proc"
local json = require "relrun.json"
local http = require "relrun.http"
local hash = require "relrun.hash"

local M = {}
local World = {}
World.__index = World

M.ACCOUNT = "111122223333"
M.DOMAIN = "acme"
M.REPOSITORY = "python"
M.BUCKET = "acme-wheels"
M.REGION = "us-east-1"
M.ROLE = "arn:aws:iam::111122223333:role/github-release"
M.GITHUB_REPOSITORY = "acme/stock-pipeline"
M.GITHUB_TOKEN = "ghs_e2eTok3n0123456789abcdefABCDEFghij"
M.REQUEST_TOKEN = "actionsReq-e2e-9876543210zyxwv"
M.SETUP_KEY, M.SETUP_SECRET = "AKIAE2ESETUP0000", "e2e/setup+Secret0123456789abcdefghij"

local source_dir = os.getenv("RELRUN_SOURCE_DIR") or "."
local q = G.quote

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end
M.read, M.write = read, write

-- A folder of our own under /tmp (not os.tmpname's /tmp/lua_*, a prefix
-- every Lua process on the machine shares).
function M.tempdir()
  local h = assert(io.popen("mktemp -d /tmp/relrun-e2e.XXXXXX"))
  local dir = h:read("l")
  h:close()
  assert(dir and dir:match("^/tmp/relrun%-e2e%."), "mktemp -d failed")
  return dir
end

-- The git CLI with a fixed identity, authenticated to the HTTP remote.
function World:git(args)
  local auth = "Authorization: Basic " .. hash.base64_encode("x-access-token:" .. M.GITHUB_TOKEN)
  return G.git(self.clone, "-c " .. q("http.extraHeader=" .. auth) .. " " .. args)
end

-- A new commit on main and a new version v0.N.0 for it (the world starts
-- at v0.1.0; the first call makes 0.3.0), tagged and both pushed, as
-- `release.lua tag` does (checked in release_codeartifact_spec). -> "0.N.0"
function World:next_release()
  self.minor = (self.minor or 2) + 1
  local v = "0." .. self.minor .. ".0"
  M.write(self.clone .. "/CHANGES.md", M.read(self.clone .. "/CHANGES.md") .. "- release " .. v .. "\n")
  self:git("commit -q -am " .. "'changes for " .. v .. "'")
  self:git("tag v" .. v)
  self:git("push -q origin main v" .. v)
  return v
end

function World:control(p, method, path, doc)
  local res = assert(http.request{ method = method, url = p.url .. path, body = doc and json.encode(doc),
                                   headers = { ["content-type"] = "application/json" } })
  assert(res.status == 200, path .. ": " .. res.status .. " " .. tostring(res.body))
  return res.body ~= "" and json.decode(res.body) or nil
end

-- AWS clients for the spec itself (setup and inspection), static keys.
function World:aws(service)
  local creds = require("relrun.aws.credentials").static(M.SETUP_KEY, M.SETUP_SECRET)
  local endpoint = service == "codeartifact" and self.ca.url or self.moto.url
  return assert(require("relrun.aws." .. service).client{ region = M.REGION, endpoint = endpoint,
                                                         credentials = creds })
end

local function start_peers(w, ref_name)
  w.moto = peer.start{ argv = { "python3", source_dir .. "/tests/support/aws_moto.py", "--port-file", peer.PORT_FILE } }
  w.ca = peer.start{ argv = { "python3", source_dir .. "/tests/fakes/codeartifact.py", "--port-file", peer.PORT_FILE,
                              "--account", M.ACCOUNT, "--region", M.REGION } }
  w.gh = peer.start{ argv = { "python3", source_dir .. "/tests/fakes/github.py", "--port-file", peer.PORT_FILE,
                              "--token", M.GITHUB_TOKEN, "--request-token", M.REQUEST_TOKEN,
                              "--repository", M.GITHUB_REPOSITORY, "--ref-name", ref_name } }
  write(w.tmp .. "/git-token", M.GITHUB_TOKEN)
  w.githttp = peer.start{ argv = { "python3", source_dir .. "/tests/fakes/git_http.py", "--root", w.tmp .. "/git",
                                   "--port-file", peer.PORT_FILE, "--token-file", w.tmp .. "/git-token" } }
end

local function setup_aws(w)
  local ca = w:aws("codeartifact")
  assert(ca:create_domain{ domain = M.DOMAIN })
  assert(ca:create_repository{ domain = M.DOMAIN, domain_owner = M.ACCOUNT, repository = M.REPOSITORY })
  assert(w:aws("s3"):create_bucket{ bucket = M.BUCKET })
end

-- examples/stock-pipeline in a clone whose origin is the HTTP remote; the
-- tags given are made on the first commit, two commits follow.
local function setup_git(w, tags)
  local bare = w.tmp .. "/git/acme/stock-pipeline.git"
  G.sh("mkdir -p " .. q(bare) .. " && git init -q --bare -b main " .. q(bare))
  w.clone = w.tmp .. "/work/stock-pipeline"
  G.sh("mkdir -p " .. q(w.tmp .. "/work") .. " && cp -r " .. q(source_dir .. "/examples/stock-pipeline") .. " "
    .. q(w.clone) .. " && rm -rf " .. q(w.clone .. "/build") .. " " .. q(w.clone .. "/dist"))
  write(w.clone .. "/.gitignore", ".relrun/\ndist/\nbuild/\n*.egg-info/\n__pycache__/\n")
  G.git(w.clone, "init -q -b main")
  G.git(w.clone, "add -A")
  G.git(w.clone, "commit -q -m 'stock-pipeline: bronze, silver, ingestion'")
  for _, t in ipairs(tags or {}) do G.git(w.clone, "tag " .. t) end
  write(w.clone .. "/CHANGES.md", "- silver: sort by date\n")
  G.git(w.clone, "add -A")
  G.git(w.clone, "commit -q -m 'silver: sort quotes by date'")
  write(w.clone .. "/CHANGES.md", "- silver: sort by date\n- ingestion: read volumes\n")
  G.git(w.clone, "commit -q -am 'ingestion: read volumes'")
  w.remote_url = w.githttp.url .. "/acme/stock-pipeline.git"
  G.git(w.clone, "remote add origin " .. q(w.remote_url))
  w:git("push -q -u origin main --tags")
end

-- opts.tags: tags on the first commit (default v0.1.0); opts.ref_name: the
-- tag the OIDC token's sub names (default v0.2.0).
function M.start(opts)
  opts = opts or {}
  local w = setmetatable({ tmp = M.tempdir() }, World)
  local good, err = pcall(function()
    start_peers(w, opts.ref_name or "v0.2.0")
    setup_aws(w)
    setup_git(w, opts.tags or { "v0.1.0" })
    fs.mkdir(w.tmp .. "/home")
  end)
  if not good then w:stop(); error(err, 0) end
  w.output, w.summary = w.tmp .. "/github-output", w.tmp .. "/step-summary"
  return w
end

-- Simulated GitHub Actions: OIDC through the fake, no static AWS keys.
function World:env(extra)
  local e = {
    GITHUB_ACTIONS = "true", GITHUB_REPOSITORY = M.GITHUB_REPOSITORY, GITHUB_API_URL = self.gh.url,
    GITHUB_SERVER_URL = self.githttp.url,
    GITHUB_TOKEN = M.GITHUB_TOKEN, GITHUB_OUTPUT = self.output, GITHUB_STEP_SUMMARY = self.summary,
    ACTIONS_ID_TOKEN_REQUEST_URL = self.gh.url .. "/oidc/token?api-version=2.0",
    ACTIONS_ID_TOKEN_REQUEST_TOKEN = M.REQUEST_TOKEN,
    AWS_ROLE_ARN = M.ROLE, AWS_REGION = M.REGION,
    AWS_ENDPOINT_URL_STS = self.moto.url, AWS_ENDPOINT_URL_S3 = self.moto.url,
    AWS_ENDPOINT_URL_CODEARTIFACT = self.ca.url,
    CODEARTIFACT_DOMAIN = M.DOMAIN, CODEARTIFACT_ACCOUNT_ID = M.ACCOUNT, CODEARTIFACT_REPOSITORY = M.REPOSITORY,
    S3_WHEELS_BUCKET = M.BUCKET,
    AWS_ACCESS_KEY_ID = false, AWS_SECRET_ACCESS_KEY = false, AWS_SESSION_TOKEN = false, AWS_PROFILE = false,
    AWS_DEFAULT_PROFILE = false, AWS_WEB_IDENTITY_TOKEN_FILE = false, AWS_ENDPOINT_URL = false,
    AWS_CONFIG_FILE = "/dev/null", AWS_SHARED_CREDENTIALS_FILE = "/dev/null", AWS_EC2_METADATA_DISABLED = "true",
    HOME = self.tmp .. "/home", GH_TOKEN = false, GIT_TOKEN = false, RELRUN_LOG = false,
    PIP_CONFIG_FILE = "/dev/null", PIP_INDEX_URL = false, PIP_EXTRA_INDEX_URL = false,
  }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

-- relrun with the world's environment, in the clone. { code, stdout, stderr }.
function World:relrun(argv, extra_env)
  local full = { os.getenv("RELRUN") or (source_dir .. "/build/relrun") }
  for _, a in ipairs(argv) do
    full[#full + 1] = a:match("^scripts/") and (source_dir .. "/" .. a) or a
  end
  local r = assert(proc.run{ argv = full, env = self:env(extra_env), cwd = self.clone, stdin = "" })
  r.code = r.code or (128 + (r.signal or 0))
  self.transcript = (self.transcript or "") .. r.stdout .. r.stderr
  return r
end

-- Tags on the remote, from git ls-remote.
function World:remote_tags()
  local out = self:git("ls-remote --tags origin")
  local tags = {}
  for name in out:gmatch("refs/tags/([^%s^]+)") do tags[name] = true end
  return tags
end

-- What each system holds for a version: CodeArtifact assets with hashes,
-- S3 objects with their sha256 metadata, the GitHub Release's assets.
function World:state(version)
  local s = { codeartifact = {}, s3 = {}, github = {}, tag = self:remote_tags()["v" .. version] or false }
  local ca = self:aws("codeartifact")
  local pv = ca:describe_package_version{ domain = M.DOMAIN, domain_owner = M.ACCOUNT, repository = M.REPOSITORY,
                                           format = "pypi", package = "stock-pipeline", version = version }
  s.status = pv and pv.status or false
  local assets = pv and ca:list_package_version_assets{ domain = M.DOMAIN, domain_owner = M.ACCOUNT,
    repository = M.REPOSITORY, format = "pypi", package = "stock-pipeline", version = version } or {}
  for _, a in ipairs(assets) do s.codeartifact[a.name] = a.hashes["SHA-256"]:lower() end
  local s3 = self:aws("s3")
  for _, o in ipairs(assert(s3:list_objects{ bucket = M.BUCKET, prefix = "wheels/" })) do
    if o.key:find("-" .. version, 1, true) then
      local head = assert(s3:head_object{ bucket = M.BUCKET, key = o.key })
      local file = self.tmp .. "/s3-object"
      assert(s3:get_object{ bucket = M.BUCKET, key = o.key, output = file })
      s.s3[o.key] = { sha256 = head.metadata.sha256, content = hash.file(file, { "sha256" }).sha256 }
      os.remove(file)
    end
  end
  local gh = self:control(self.gh, "GET", "/__state")
  for _, rel in ipairs(gh.releases) do
    if rel.tag_name == "v" .. version then s.release = { id = rel.id, body = rel.body } end
  end
  for _, a in ipairs(gh.assets) do
    -- a failed upload's "starter" asset has no digest: named so, for the comparison to show
    if a.name:find("-" .. version, 1, true) then
      s.github[a.name] = type(a.digest) == "string" and a.digest:gsub("^sha256:", "") or ("(" .. tostring(a.state) .. ")")
    end
  end
  return s
end

-- Every secret value handed out so far: ours, the AWS session's (from
-- moto's STS answer, read back through the fakes), the CodeArtifact tokens.
function World:secrets()
  local list = { M.GITHUB_TOKEN, M.REQUEST_TOKEN }
  for _, t in ipairs(self:control(self.ca, "GET", "/__tokens").tokens or {}) do list[#list + 1] = t end
  for _, t in ipairs(self:control(self.gh, "GET", "/__state").oidc_issued or {}) do list[#list + 1] = t end
  local moto = assert(http.request{ method = "GET", url = self.moto.url .. "/moto-api/data.json" })
  for _, field in ipairs({ "access_key_id", "secret_access_key", "session_token" }) do
    for v in moto.body:gmatch('"' .. field .. '":%s*"([^"]+)"') do list[#list + 1] = v end
  end
  return list
end

function World:stop()
  if self.gh then os.remove(self.gh.port_file .. ".uploads") end
  for _, name in ipairs({ "moto", "ca", "gh", "githttp" }) do
    if self[name] then self[name]:stop(); self[name] = nil end
  end
  G.rmrf(self.tmp)
end

return M
