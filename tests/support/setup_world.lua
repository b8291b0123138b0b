-- The peers setup.lua and doctor.lua talk to, for their specs: moto_server
-- (IAM, S3, STS, signatures checked), the CodeArtifact fake (signatures
-- checked by botocore, same account as moto's), the CloudTrail fake (one
-- clean release seeded), the GitHub fake; and a
-- project (the example package in a git repository with an origin on GitHub).
--
--   local w = require("setup_world").start()
--   local code, out = w.setup{ "--bucket", "wheels" }      -- relrun scripts/setup.lua
--   local code, doc, by_name = w.doctor{ "--tag", "v1.0.0" } -- --json, parsed
--   w.iam("PutRolePolicy", {...})                          -- direct IAM edits
--   w.stop()
local peer = require "peer"
local peers = require "aws_peers"
local fs = require "relrun.fs"
local proc = require "relrun.proc"
local json = require "relrun.json"
local http = require "relrun.http"

local RELRUN = os.getenv("RELRUN")
local SOURCE = os.getenv("RELRUN_SOURCE_DIR")
local M = { ACCOUNT = "123456789012", REPO = "acme/stock-pipeline", DOMAIN = "acme", REPOSITORY = "pypi-store",
            BUCKET = "acme-wheels", ROLE = "github-actions-release", GITHUB_TOKEN = "ghs_testtoken0123456789",
            REQUEST_TOKEN = "actions-request-token-0123456789" }

local GIT_ENV = { GIT_AUTHOR_NAME = "T", GIT_AUTHOR_EMAIL = "t@example.com", GIT_COMMITTER_NAME = "T",
                  GIT_COMMITTER_EMAIL = "t@example.com", GIT_CONFIG_GLOBAL = "/dev/null", GIT_CONFIG_NOSYSTEM = "1" }

local function git(dir, ...)
  local r = assert(proc.run{ argv = { "git", ... }, cwd = dir, env = GIT_ENV })
  assert(r.code == 0, table.concat({ ... }, " ") .. ": " .. r.stderr)
  return r.stdout
end
M.git = git

-- The release workflow relrun writes (relrun.workflow), without the job's
-- environment (RELEASE.md's tag-limited trust policy then matches what
-- GitHub sends).
local function workflow(with_environment)
  local text = require("relrun.workflow").render{ deb_url = "https://example.invalid/relrun.deb",
                                                  deb_sha256 = string.rep("0", 64) }
  if not with_environment then text = text:gsub("\n    environment: production\n", "\n") end
  return text
end
M.workflow = workflow

function M.project(root)
  local dir = fs.join(root, "project")
  local r = assert(proc.run{ argv = { "cp", "-r", fs.join(SOURCE, "examples/stock-pipeline"), dir } })
  assert(r.code == 0, r.stderr)
  fs.remove(fs.join(dir, "build"), { recursive = true })
  assert(fs.mkdir(fs.join(dir, ".github/workflows")))
  assert(fs.write(fs.join(dir, ".github/workflows/release.yml"), workflow(false)))
  git(dir, "init", "-q", "-b", "main")
  git(dir, "remote", "add", "origin", "https://github.com/" .. M.REPO .. ".git")
  git(dir, "add", "-A")
  git(dir, "commit", "-q", "-m", "initial")
  git(dir, "tag", "v1.0.0")
  return dir
end

function M.start()
  local w = { tmp = fs.tempdir("setup-world") }
  w.moto = peers.moto()
  w.ca = peer.start{ argv = { "python3", "tests/fakes/codeartifact.py", "--port-file", peer.PORT_FILE,
                              "--credentials", w.moto.akid .. ":" .. w.moto.secret, "--account", M.ACCOUNT } }
  -- CloudTrail (the doctor's cloudtrail group): one clean release in the last days.
  w.ct = peer.start{ argv = { "python3", "tests/fakes/cloudtrail.py", "--port-file", peer.PORT_FILE,
                              "--credentials", w.moto.akid .. ":" .. w.moto.secret,
                              "--events", "tests/fixtures/cloudtrail/release.json" } }
  -- Debian's interpreter: the fake opens secrets with its python3-nacl.
  w.gh = peer.start{ argv = { "/usr/bin/python3", "tests/fakes/github.py", "--port-file", peer.PORT_FILE,
                              "--repository", M.REPO, "--token", M.GITHUB_TOKEN,
                              "--request-token", M.REQUEST_TOKEN } }
  w.moto.auth_after(0)
  w.iam = w.moto.iam
  w.project = M.project(w.tmp.path)

  function w.env(extra)
    local e = { AWS_REGION = "us-east-1", AWS_ENDPOINT_URL = w.moto.url, AWS_ENDPOINT_URL_CODEARTIFACT = w.ca.url,
                AWS_ENDPOINT_URL_CLOUDTRAIL = w.ct.url,
                AWS_ACCESS_KEY_ID = w.moto.akid, AWS_SECRET_ACCESS_KEY = w.moto.secret, AWS_SESSION_TOKEN = false,
                AWS_PROFILE = false, AWS_CONFIG_FILE = "/dev/null", AWS_SHARED_CREDENTIALS_FILE = "/dev/null",
                AWS_EC2_METADATA_DISABLED = "true", AWS_ROLE_ARN = false, AWS_WEB_IDENTITY_TOKEN_FILE = false,
                CODEARTIFACT_DOMAIN = M.DOMAIN, CODEARTIFACT_REPOSITORY = M.REPOSITORY,
                CODEARTIFACT_ACCOUNT_ID = false, S3_WHEELS_BUCKET = false, GITHUB_REPOSITORY = false,
                GITHUB_API_URL = w.gh.url, GITHUB_TOKEN = false, GH_TOKEN = false, GITHUB_ACTIONS = false,
                ACTIONS_ID_TOKEN_REQUEST_URL = false, ACTIONS_ID_TOKEN_REQUEST_TOKEN = false, RELRUN_LOG = false }
    for k, v in pairs(extra or {}) do e[k] = v end
    return e
  end

  -- setup(args, env) -> exit code, stdout .. stderr
  function w.setup(args, env)
    local argv = { RELRUN, fs.join(SOURCE, "scripts/setup.lua"), "--project", w.project }
    for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
    local r = assert(proc.run{ argv = argv, env = w.env(env) })
    return r.code, r.stdout .. r.stderr, r
  end

  -- doctor(args, env) -> exit code, JSON document, checks by name, raw result
  function w.doctor(args, env)
    local argv = { RELRUN, fs.join(SOURCE, "scripts/doctor.lua"), "--project", w.project, "--json" }
    for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
    local e = { CODEARTIFACT_ACCOUNT_ID = M.ACCOUNT, AWS_ROLE_ARN = "arn:aws:iam::" .. M.ACCOUNT .. ":role/" .. M.ROLE }
    for k, v in pairs(env or {}) do e[k] = v end
    local r = assert(proc.run{ argv = argv, env = w.env(e) })
    -- Under Actions, ::add-mask:: lines come first on stdout; the document is the last line.
    local doc = json.decode(r.stdout:match("([^\n]+)\n?$") or "")
    assert(type(doc) == "table", "doctor printed no JSON: " .. r.stdout .. r.stderr)
    local by_name = {}
    for _, g in ipairs(doc.groups) do
      for _, c in ipairs(g.checks) do by_name[c.name] = c end
    end
    return r.code, doc, by_name, r
  end

  function w.github_state(doc)
    local res = assert(http.request{ method = doc and "POST" or "GET", url = w.gh.url .. "/__state",
                                     body = doc and json.encode(doc) or nil })
    assert(res.status == 200, res.body)
    return json.decode(res.body)
  end

  -- cloudtrail(path, doc): the CloudTrail fake's controls (/__events, /__reset, /__fault).
  function w.cloudtrail(path, doc)
    local res = assert(http.request{ method = "POST", url = w.ct.url .. path, body = doc and json.encode(doc) or nil })
    assert(res.status == 200, res.body)
  end

  function w.stop()
    w.moto.stop()
    w.ct:stop()
    w.ca:stop()
    w.gh:stop()
    w.tmp:close()
  end
  return w
end

return M
