-- doctor.lua's Build and Security groups against deliberately broken
-- projects, one each, built with the real git CLI; a healthy project passes.
local fs = require "relrun.fs"
local proc = require "relrun.proc"
local json = require "relrun.json"

local RELRUN = os.getenv("RELRUN")
local SOURCE = os.getenv("RELRUN_SOURCE_DIR")
local GIT_ENV = { GIT_AUTHOR_NAME = "T", GIT_AUTHOR_EMAIL = "t@example.com", GIT_COMMITTER_NAME = "T",
                  GIT_COMMITTER_EMAIL = "t@example.com", GIT_CONFIG_GLOBAL = "/dev/null", GIT_CONFIG_NOSYSTEM = "1" }

local function git(dir, ...)
  local r = assert(proc.run{ argv = { "git", ... }, cwd = dir, env = GIT_ENV })
  assert(r.code == 0, table.concat({ ... }, " ") .. ": " .. r.stderr)
  return r.stdout
end

local function copy_tree(from, to)
  local r = assert(proc.run{ argv = { "cp", "-r", from, to } })
  assert(r.code == 0, r.stderr)
end

-- A healthy project: the example package in a fresh repository, tagged.
local function healthy(root)
  local dir = fs.join(root, "project")
  copy_tree(fs.join(SOURCE, "examples/stock-pipeline"), dir)
  fs.remove(fs.join(dir, "build"), { recursive = true })
  git(dir, "init", "-q", "-b", "main")
  git(dir, "add", "-A")
  git(dir, "commit", "-q", "-m", "initial")
  git(dir, "tag", "v1.0.0")
  return dir
end

local function doctor(dir, extra)
  local argv = { RELRUN, fs.join(SOURCE, "scripts/doctor.lua"), "--project", dir, "--offline", "--json" }
  for _, a in ipairs(extra or {}) do argv[#argv + 1] = a end
  local r = assert(proc.run{ argv = argv, env = { GITHUB_ACTIONS = false, GITHUB_TOKEN = false,
    CODEARTIFACT_DOMAIN = false, AWS_ACCESS_KEY_ID = false, AWS_ROLE_ARN = false } })
  local doc = json.decode(r.stdout)
  assert(doc, "doctor printed no JSON: " .. r.stdout .. r.stderr)
  local by_name = {}
  for _, g in ipairs(doc.groups) do
    for _, c in ipairs(g.checks) do by_name[c.name] = c end
  end
  return r.code, by_name, doc
end

describe("doctor: build and security", function()
  local tmp
  before_each(function() tmp = fs.tempdir("doctor") end)
  after_each(function() tmp:close() end)

  it("passes a healthy project clean", function()
    local dir = healthy(tmp.path)
    local code, c, doc = doctor(dir)
    eq(doc.problems, 0, json.encode(doc))
    eq(code, 0)
    eq(c["the version gate"].status, "ok")
    contains(c["the version gate"].found, "HEAD is v1.0.0 and builds as 1.0.0")
  end)

  it("finds a shallow clone", function()
    local dir = healthy(tmp.path)
    fs.write(fs.join(dir, "NEWS"), "more\n")
    git(dir, "add", "NEWS")
    git(dir, "commit", "-q", "-m", "more")
    local clone = fs.join(tmp.path, "shallow")
    git(tmp.path, "clone", "-q", "--depth", "1", "file://" .. dir, clone)
    local code, c = doctor(clone)
    eq(code, 3)
    eq(c["the checkout has its full history"].status, "fail")
    contains(c["the checkout has its full history"].todo, "fetch-depth: 0")
  end)

  it("finds a dirty tree and names the files", function()
    local dir = healthy(tmp.path)
    fs.write(fs.join(dir, "silver/__init__.py"), "# changed\n")
    local code, c = doctor(dir)
    eq(code, 3)
    eq(c["the working tree is clean"].status, "fail")
    contains(c["the working tree is clean"].found, "silver/__init__.py")
  end)

  it("finds a pyproject without setuptools_scm", function()
    local dir = healthy(tmp.path)
    local py = fs.read(fs.join(dir, "pyproject.toml")):gsub('"setuptools_scm[^"]*",?%s*', "")
    fs.write(fs.join(dir, "pyproject.toml"), py)
    local code, c = doctor(dir)
    eq(code, 3)
    eq(c["build-system requires setuptools_scm"].status, "fail")
  end)

  it("finds an undeclared import", function()
    local dir = healthy(tmp.path)
    local path = fs.join(dir, "silver/__init__.py")
    fs.write(path, "import requests\n" .. fs.read(path))
    local code, c = doctor(dir)
    eq(code, 3)
    local check = c["imports are declared dependencies or standard library"]
    eq(check.status, "fail")
    contains(check.found, "requests (silver/__init__.py)")
  end)

  it("finds an AWS key committed three commits ago, and never prints it", function()
    local dir = healthy(tmp.path)
    local key, secret = "AKIA" .. "Q3EGRV7ZLMNX2JHK", "u7Vb2kPq9XcR4mTz8LwY1nHs6DfA3gJe5QoK0iBt"
    fs.write(fs.join(dir, "settings.ini"), "aws_access_key_id = " .. key .. "\naws_secret_access_key = " .. secret .. "\n")
    git(dir, "add", "settings.ini")
    git(dir, "commit", "-q", "-m", "oops")
    git(dir, "rm", "-q", "settings.ini")
    git(dir, "commit", "-q", "-m", "remove it")
    fs.write(fs.join(dir, "NEWS"), "x\n")
    git(dir, "add", "NEWS")
    git(dir, "commit", "-q", "-m", "news")
    git(dir, "commit", "-q", "--allow-empty", "-m", "more")
    local r = assert(proc.run{ argv = { RELRUN, fs.join(SOURCE, "scripts/doctor.lua"), "--project", dir, "--offline" } })
    eq(r.code, 3)
    contains(r.stdout, "AWS access key id AKIA… in settings.ini in commit")
    contains(r.stdout, "(3 commits ago)")
    contains(r.stdout, "AWS secret access key u7Vb…")
    ok(not r.stdout:find(key, 1, true) and not r.stderr:find(key, 1, true), "the key is never printed")
    ok(not r.stdout:find(secret, 1, true) and not r.stderr:find(secret, 1, true), "the secret is never printed")
  end)

  it("checks the release workflow's shape", function()
    local dir = healthy(tmp.path)
    fs.mkdir(fs.join(dir, ".github/workflows"))
    local wf = require("relrun.workflow").render{ deb_url = "https://example.invalid/relrun.deb",
                                                  deb_sha256 = string.rep("0", 64) }
    fs.write(fs.join(dir, ".github/workflows/release.yml"), wf)
    local _, c = doctor(dir)
    eq(c["the release workflow"].status, "ok")
    fs.write(fs.join(dir, ".github/workflows/release.yml"), (wf:gsub("fetch%-depth: 0", "fetch-depth: 1")))
    local _, c2 = doctor(dir)
    eq(c2["the release workflow"].status, "fail")
    contains(c2["the release workflow"].found, "fetch-depth: 0")
  end)
end)
