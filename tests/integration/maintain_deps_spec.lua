-- scripts/maintain.lua deps: the project's requirements against the
-- target's index — the local repository (file://) and the CodeArtifact
-- fake's PyPI endpoint with its token — and Python support judged on a
-- given day; --json; an empty project; a refused index.
local peer = require "peer"
local R = require "aws_run"
local fs = require "relrun.fs"
local json = require "relrun.json"
local http = require "relrun.http"
local localrepo = require "relrun.pypi.localrepo"

local AKID, SECRET = "AKIDMAINTAINDEPS1", "maintain/deps+secret/0001"
local ACCOUNT = "111122223333"
local dir = R.tempdir()
local srv = peer.start{ argv = { "python3", "tests/fakes/codeartifact.py", "--port-file", peer.PORT_FILE,
                                 "--credentials", AKID .. ":" .. SECRET, "--account", ACCOUNT } }
local _ <close> = setmetatable({}, { __close = function()
  srv:stop()
  R.rmdir(dir)
end })

local function env(extra)
  local e = { AWS_ACCESS_KEY_ID = AKID, AWS_SECRET_ACCESS_KEY = SECRET, AWS_REGION = "us-east-1",
              AWS_DEFAULT_REGION = false, AWS_PROFILE = false, AWS_SESSION_TOKEN = false, AWS_ROLE_ARN = false,
              AWS_CONFIG_FILE = "/dev/null", AWS_SHARED_CREDENTIALS_FILE = "/dev/null",
              AWS_EC2_METADATA_DISABLED = "true", AWS_ENDPOINT_URL_CODEARTIFACT = srv.url, AWS_ENDPOINT_URL = false,
              CODEARTIFACT_DOMAIN = false, CODEARTIFACT_ACCOUNT_ID = ACCOUNT, CODEARTIFACT_REPOSITORY = "python",
              RELRUN_REPOSITORY_DIR = false, GITHUB_ACTIONS = false, HOME = dir, RELRUN_LOG = false }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

local PYPROJECT = [[
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "stock-pipeline"
version = "1.0.0"
requires-python = ">=3.10"
classifiers = ["Programming Language :: Python :: 3.10", "Programming Language :: Python :: 3.11"]
dependencies = ["requests>=2.31,<2.32", "numpy==1.26.4", "click"]
]]

local proj = fs.join(dir, "project")
fs.mkdir(proj)
R.write(fs.join(proj, "pyproject.toml"), PYPROJECT)

local function maintain(args, extra)
  local argv = { os.getenv("RELRUN") or fs.absolute("build/relrun"), fs.absolute("scripts/maintain.lua"), "deps",
                 "--project", proj }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local r = assert(require("relrun.proc").run{ argv = argv, env = env(extra), cwd = dir, stdin = "" })
  return r.code, r.stdout, r.stderr
end

local INDEX = { requests = { "2.31.0", "2.32.3" }, numpy = { "1.26.4", "2.0.0" }, setuptools = { "75.1.0" } }

describe("maintain.lua deps", function()
  it("against the local repository: newer versions, pins, Python's end of life ahead", function()
    local repo = fs.join(dir, "repo")
    for name, versions in pairs(INDEX) do
      for _, v in ipairs(versions) do
        local code, path = R.run{ "python3", "tests/support/aws_mkwheel.py", name, v, dir }
        eq(code, 0, path)
        assert(localrepo.publish(repo, (path:gsub("%s+$", ""))))
      end
    end
    local code, out, err = maintain({ "--repository-dir", repo, "--today", "2026-06-01" })
    eq(code, 3, out .. err)
    contains(out, "Python support as on 2026-06-01 (EOL table of 2026-12-02)")
    contains(out, "warn  requests>=2.31,<2.32 (dependencies): the index has 2.32.3, which this excludes")
    contains(out, "warn  numpy==1.26.4 (dependencies): over-pinned")
    contains(out, "note  click (dependencies): not checked: not in the local repository")
    contains(out, "warn  Python 3.10: requires-python allows and a classifier names 3.10, which reaches its end of " ..
      "life on 2026-10-31 (in 152 days)")
    ok(not out:find("setuptools>=61"), "setuptools>=61 allows 75.1.0: " .. out)
  end)

  it("against CodeArtifact's index, with its token; --json", function()
    local vs = {}
    for name, versions in pairs(INDEX) do
      vs[name] = {}
      for _, v in ipairs(versions) do
        table.insert(vs[name], { version = v, assets = { { name = name .. "-" .. v .. "-py3-none-any.whl", size = 10 } } })
      end
    end
    for name, list in pairs(vs) do
      local res = assert(http.request{ method = "POST", url = srv.url .. "/__seed", body = json.encode{
        domain = "acme", repository = "python", package = name, versions = list } })
      eq(res.status, 200)
    end
    local code, out, err = maintain({ "--json", "--today", "2027-12-01" }, { CODEARTIFACT_DOMAIN = "acme" })
    eq(code, 3, out .. err)
    local doc = json.decode(out)
    eq(doc.index, "CodeArtifact acme/python (account " .. ACCOUNT .. ", us-east-1)")
    eq(doc.requires_python, ">=3.10")
    local text = {}
    for _, f in ipairs(doc.findings) do text[#text + 1] = f.subject .. ": " .. f.message end
    text = table.concat(text, "\n")
    contains(text, "numpy==1.26.4 (dependencies): the index has 2.0.0, which this excludes")
    contains(text, "Python 3.11: requires-python allows and a classifier names 3.11, past its end of life (2027-10-31)")
    contains(text, "click (dependencies): not checked: not in CodeArtifact acme/python")
    ok(doc.warnings >= 4, out)
  end)

  it("says when the index refuses, and an empty project has nothing to warn of but requires-python", function()
    local res = assert(http.request{ method = "POST", url = srv.url .. "/__fault",
      body = json.encode{ target = "GetAuthorizationToken", kind = "denied" } })
    eq(res.status, 200)
    local code, _, err = maintain({}, { CODEARTIFACT_DOMAIN = "acme" })
    eq(code, 1)
    contains(err, "GetAuthorizationToken for domain acme")
    local bare = fs.join(dir, "bare")
    fs.mkdir(bare)
    R.write(fs.join(bare, "pyproject.toml"), '[project]\nname = "bare"\n')
    local r = assert(require("relrun.proc").run{ argv = { os.getenv("RELRUN") or fs.absolute("build/relrun"),
      fs.absolute("scripts/maintain.lua"), "deps", "--project", bare, "--repository-dir", fs.join(dir, "none") },
      env = env(), cwd = dir })
    eq(r.code, 3, r.stdout .. r.stderr)
    contains(r.stdout, "warn  requires-python: not set")
    contains(r.stdout, "1 warning(s), 0 note(s)")
    code, _, err = maintain({ "--today", "June" })
    eq(code, 2)
    contains(err, "DATE is YYYY-MM-DD")
  end)
end)
