-- doctor.lua's Build and Security groups, and its --json, against real
-- projects: the fixture project of every build backend (tests/support/projects.lua:
-- a git repository with release tags of any scheme), built with the real git
-- CLI, Debian's backends and readme_renderer, and the example package; each
-- broken one way. A healthy project passes clean.
local fs = require "relrun.fs"
local proc = require "relrun.proc"
local json = require "relrun.json"
local projects = require "projects"

local RELRUN = os.getenv("RELRUN")
local SOURCE = os.getenv("RELRUN_SOURCE_DIR")
local PYTHON = assert(require("relrun.build").find_python(), "Debian's python3 with `build` (make deps)")
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

-- The environment of a doctor run: nothing of this machine's AWS, GitHub or
-- CodeArtifact settings; builds without isolation unless a test says.
local function doctor_env(env)
  local e = { GITHUB_ACTIONS = false, GITHUB_TOKEN = false, CODEARTIFACT_DOMAIN = false, AWS_ACCESS_KEY_ID = false,
              AWS_ROLE_ARN = false, RELRUN_BUILD_ISOLATION = "false", RELRUN_PYTHON = false, RELRUN_PATH = false,
              RELRUN_TAG_PREFIX = false, PIP_INDEX_URL = false }
  for k, v in pairs(env or {}) do e[k] = v end
  return e
end

-- The raw run: --json, --offline unless extra has "--online".
local function run_doctor(dir, extra, env)
  local argv = { RELRUN, fs.join(SOURCE, "scripts/doctor.lua"), "--project", dir, "--json" }
  local online = false
  for _, a in ipairs(extra or {}) do
    if a == "--online" then online = true else argv[#argv + 1] = a end
  end
  if not online then argv[#argv + 1] = "--offline" end
  return assert(proc.run{ argv = argv, env = doctor_env(env) })
end

-- -> exit code, checks by name, the document, the raw result.
local function doctor(dir, extra, env)
  local r = run_doctor(dir, extra, env)
  local doc = json.decode(r.stdout)
  assert(type(doc) == "table", "doctor printed no JSON: " .. r.stdout .. r.stderr)
  local by_name = {}
  for _, g in ipairs(doc.groups) do
    for _, c in ipairs(g.checks) do by_name[c.name] = c end
  end
  return r.code, by_name, doc, r
end

local function status(c, name, want, text)
  ok(c[name], "no check named " .. name)
  eq(c[name].status, want, name .. ": " .. json.encode(c[name]))
  if text then contains((c[name].found or "") .. " " .. (c[name].todo or ""), text) end
end

local GATE = "the version gate"
local REQS = "the build backend and its requirements"
local SOURCE_CHECK = "where the version comes from"
local README = "the long description renders (twine check)"
local IMPORTS = "imports are declared dependencies or standard library"

local function installed_version(dist)
  local r = assert(proc.run{ argv = { PYTHON, "-c", "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))",
                                      dist }, cwd = "/" })
  assert(r.code == 0, dist .. " is not installed for " .. PYTHON .. ": " .. r.stderr)
  return (r.stdout:gsub("%s+$", ""))
end

describe("doctor: build and security on the example", function()
  local tmp
  before_each(function() tmp = fs.tempdir("doctor") end)
  after_each(function() tmp:close() end)

  it("passes a healthy project clean", function()
    local dir = healthy(tmp.path)
    local code, c, doc = doctor(dir)
    eq(doc.problems, 0, json.encode(doc))
    eq(code, 0)
    status(c, GATE, "ok", "HEAD is v1.0.0 and setuptools_scm builds 1.0.0")
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
    status(c, "the checkout has its full history", "fail", "fetch-depth: 0")
  end)

  it("finds a dirty tree and names the files", function()
    local dir = healthy(tmp.path)
    fs.write(fs.join(dir, "silver/__init__.py"), "# changed\n")
    local code, c = doctor(dir)
    eq(code, 3)
    status(c, "the working tree is clean", "fail", "silver/__init__.py")
  end)

  it("finds a setuptools_scm project whose build does not require setuptools_scm", function()
    local dir = healthy(tmp.path)
    local py = fs.read(fs.join(dir, "pyproject.toml")):gsub('"setuptools_scm[^"]*",?%s*', "")
    fs.write(fs.join(dir, "pyproject.toml"), py)
    local code, c = doctor(dir)
    eq(code, 3)
    status(c, SOURCE_CHECK, "fail", "no setuptools_scm")
  end)

  -- a flat project with C sources under src/ (src/libfoo/include/x.h):
  -- src/ holds no Python, so the packages are the project folder's
  it("a src/ of C sources is not a src layout", function()
    local dir = healthy(tmp.path)
    fs.mkdir(fs.join(dir, "src/libfoo/include"))
    fs.write(fs.join(dir, "src/libfoo/include/x.h"), "int x(void);\n")
    git(dir, "add", "-A")
    git(dir, "commit", "-q", "-m", "C sources")
    local _, c = doctor(dir, { "--only", "build" })
    status(c, IMPORTS, "ok", "every import of bronze, ingestion, silver")
  end)

  it("finds an undeclared import", function()
    local dir = healthy(tmp.path)
    local path = fs.join(dir, "silver/__init__.py")
    fs.write(path, "import requests\n" .. fs.read(path))
    local code, c = doctor(dir)
    eq(code, 3)
    status(c, IMPORTS, "fail", "requests (silver/__init__.py)")
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
    local r = assert(proc.run{ argv = { RELRUN, fs.join(SOURCE, "scripts/doctor.lua"), "--project", dir, "--offline" },
                               env = doctor_env() })
    eq(r.code, 3)
    contains(r.stdout, "AWS access key id AKIA… in settings.ini in commit")
    contains(r.stdout, "(3 commits ago)")
    contains(r.stdout, "AWS secret access key u7Vb…")
    ok(not r.stdout:find(key, 1, true) and not r.stderr:find(key, 1, true), "the key is never printed")
    ok(not r.stdout:find(secret, 1, true) and not r.stderr:find(secret, 1, true), "the secret is never printed")
  end)

  -- pypa/hatch releases hatch (hatch-v*) and hatchling (hatchling-v*) from one repository
  it("leaves other packages' release workflows and unreadable workflows without relrun alone", function()
    local dir = healthy(tmp.path)
    fs.mkdir(fs.join(dir, ".github/workflows"))
    fs.write(fs.join(dir, ".github/workflows/sibling.yml"), "on:\n  push:\n    tags: [\"sibling-v*\"]\n" ..
      "permissions:\n  id-token: write\njobs:\n  publish:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n")
    fs.write(fs.join(dir, ".github/workflows/anchors.yml"), "x: &a 1\ny: *a\n")
    git(dir, "add", "-A")
    git(dir, "commit", "-q", "-m", "workflows")
    local _, c = doctor(dir, { "--only", "security" })
    status(c, "the release workflow", "warn", "no workflow in .github/workflows runs `relrun --locked release publish`")
    fs.write(fs.join(dir, ".github/workflows/anchors.yml"), "x: &a 1\ny: *a\nz: relrun --locked release publish\n")
    git(dir, "commit", "-q", "-am", "relrun in an unreadable workflow")
    _, c = doctor(dir, { "--only", "security" })
    status(c, "the release workflow", "fail", "anchors.yml: not read (line 1: anchors and aliases")
  end)

  -- pypa/hatch's docs branch holds a 400 KB minified search index: the scan
  -- reads every branch, and a line that long is read around its candidates.
  it("finds a token inside a minified line on another branch", function()
    local dir = healthy(tmp.path)
    local token = "ghp_" .. string.rep("Ab3", 12)
    local filler = string.rep('{"title":"secret handshake","text":"<p>no key here</p>"},', 3000)
    git(dir, "checkout", "-q", "-b", "gh-pages")
    fs.write(fs.join(dir, "search_index.json"), "[" .. filler .. '{"t":"' .. token .. '"},' .. filler .. "]\n")
    git(dir, "add", "search_index.json")
    git(dir, "commit", "-q", "-m", "docs")
    git(dir, "checkout", "-q", "main")
    local _, c = doctor(dir, { "--only", "security" })
    status(c, "no credentials in tracked files or history", "fail", "GitHub token ghp_… in search_index.json")
  end)

  -- psf/requests commits TLS test keys under tests/certs/: a warning that
  -- says so, not a problem that fails doctor forever; a key anywhere else
  -- still fails, naming both.
  it("warns about a private key only in a test folder, fails when one is elsewhere too", function()
    local dir = healthy(tmp.path)
    local key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
    fs.mkdir(fs.join(dir, "tests/certs/server"))
    fs.write(fs.join(dir, "tests/certs/server/server.key"), key)
    git(dir, "add", "-A")
    git(dir, "commit", "-q", "-m", "test certificates")
    local code, c = doctor(dir, { "--only", "security" })
    status(c, "no credentials in tracked files or history", "warn", "only in test, fixture or documentation folders: " ..
      "private key -----BEGIN PRIVATE KEY----- in tests/certs/server/server.key")
    ok(code ~= 3, "no problem: exit " .. tostring(code))
    fs.mkdir(fs.join(dir, "t/unit/security"))   -- celery's test folder is t/
    fs.write(fs.join(dir, "t/unit/security/__init__.py"), 'KEY = """' .. key .. '"""\n')
    git(dir, "add", "-A")
    git(dir, "commit", "-q", "-m", "celery's test key")
    code, c = doctor(dir, { "--only", "security" })
    status(c, "no credentials in tracked files or history", "warn", "t/unit/security/__init__.py")
    ok(code ~= 3, "t/ is a test folder: exit " .. tostring(code))
    fs.write(fs.join(dir, "deploy.pem"), key)
    git(dir, "add", "-A")
    git(dir, "commit", "-q", "-m", "a deploy key")
    code, c = doctor(dir, { "--only", "security" })
    status(c, "no credentials in tracked files or history", "fail", "in deploy.pem in commit")
    eq(code, 3, "a problem")
    -- git quotes a path with non-ASCII letters unless told not to: the key
    -- is named in its own file, not in the one before it
    fs.write(fs.join(dir, "zdeploy_clé.pem"), key:gsub("MIIE", "MIIF"))
    git(dir, "add", "-A")
    git(dir, "commit", "-q", "-m", "a key with an accent")
    code, c = doctor(dir, { "--only", "security" })
    eq(code, 3)
    contains(c["no credentials in tracked files or history"].found, "in zdeploy_clé.pem in commit")
    -- pyjwt has sixteen: the one elsewhere first, a long list cut
    for k = 1, 7 do fs.write(fs.join(dir, "tests/certs/k" .. k .. ".key"), key) end
    git(dir, "add", "-A")
    git(dir, "commit", "-q", "-m", "more test keys")
    code, c = doctor(dir, { "--only", "security" })
    eq(code, 3)
    local found = c["no credentials in tracked files or history"].found
    local elsewhere, fixture = found:find(" in deploy.pem", 1, true), found:find(" in tests/certs/k", 1, true)
    ok(elsewhere and fixture and elsewhere < fixture, "the key elsewhere is named first: " .. found)
    contains(found, "; and 5 more")
  end)
end)

---------------------------------------------------------------------------
-- Every backend
---------------------------------------------------------------------------

local ALL = { "setuptools-scm", "setuptools-cfg", "setuptools-attr", "setuptools-legacy", "hatch-vcs", "hatchling",
              "flit", "poetry", "pdm", "cext", "depends" }
local SCHEMES = { "v", "bare", "prefixed" }
local KINDS = { "final", "pre", "post", "two_part" }

describe("doctor: every backend", function()
  it("passes each backend's fixture at a release tag clean, whatever the tag scheme and the kind of version", function()
    for i, name in ipairs(ALL) do
      local scheme, version = SCHEMES[i % 3 + 1], projects.version(KINDS[i % 4 + 1])
      local p <close> = projects.make{ fixture = name, scheme = scheme, releases = { version } }
      local code, c, doc = doctor(p.dir, { "--only", "build" })
      eq(doc.problems, 0, name .. " " .. scheme .. " " .. version .. ": " .. json.encode(doc))
      eq(code, 0, name)
      local backend = p.fixture.version == "scm" and (p.fixture.backend == "hatchling" and "hatch-vcs" or "setuptools_scm")
        or p.fixture.backend
      status(c, GATE, "ok", "HEAD is " .. p.tags[1] .. " and " .. backend .. " builds " .. version)
      status(c, REQS, "ok", "without isolation")
      ok(not json.encode(doc):find("setuptools_scm", 1, true) or p.fixture.name == "setuptools-scm",
        name .. ": no setuptools_scm advice for a project that does not use it")
    end
  end)

  it("fails a build requirement the interpreter has too old (it said 'No problems found')", function()
    local have = installed_version("setuptools_scm")
    local p <close> = projects.make{ fixture = "setuptools-scm" }
    p:write("pyproject.toml", (p:read("pyproject.toml"):gsub('"setuptools_scm%[toml%]>=6.2"',
      '"setuptools-scm[toml]>=99.0"')))
    p:release("1.2.3")
    local code, c = doctor(p.dir, { "--only", "build" })
    eq(code, 3)
    status(c, REQS, "fail", "lacks setuptools-scm[toml]>=99.0 (" .. have .. " is installed) — the build fails")
    -- hatchling, flit_core: the backend itself
    for _, name in ipairs({ "hatchling", "flit" }) do
      local q <close> = projects.make{ fixture = name }
      local req = name == "flit" and "flit_core>=3.4,<4" or "hatchling>=1.8"
      q:write("pyproject.toml", (q:read("pyproject.toml"):gsub(req:gsub("%p", "%%%0"), name == "flit" and
        "flit_core>=99" or "hatchling>=99")))
      q:release("1.2.3")
      code, c = doctor(q.dir, { "--only", "build" })
      eq(code, 3, name)
      status(c, REQS, "fail", (name == "flit" and "flit_core" or "hatchling") .. ">=99 (")
    end
    -- Not decided (--offline, no setting): online the build might be isolated, so a warning.
    code, c = doctor(p.dir, { "--only", "build" }, { RELRUN_BUILD_ISOLATION = false })
    eq(code, 0)
    status(c, REQS, "warn", "where the index does not answer")
  end)

  -- gunicorn's license = "MIT" under Debian 12's setuptools 66: its requires
  -- (setuptools>=61.2) admit a setuptools that stops the build
  it("finds a license expression the installed backend cannot read", function()
    for _, case in ipairs({ { "setuptools-scm", "license = {text = \"MIT\"}", "setuptools", "77" },
                            { "flit", "license = {file = \"LICENSE\"}", "flit_core", "3.11" } }) do
      local p <close> = projects.make{ fixture = case[1] }
      p:write("pyproject.toml", (p:read("pyproject.toml"):gsub(case[2]:gsub("%p", "%%%0"), 'license = "MIT"')))
      p:release("1.2.3")
      local have = installed_version(case[3])
      local code, c = doctor(p.dir, { "--only", "build" })
      eq(code, 3, case[1])
      status(c, REQS, "fail", string.format('[project] license = "MIT" is a license expression, which %s reads ' ..
        "from %s on: /usr/bin/python3 has %s %s", case[3], case[4], case[3], have))
    end
    -- langgraph's license-files = ['LICENSE'] under hatchling 1.12, which wants a table
    local p <close> = projects.make{ fixture = "hatchling" }
    p:write("pyproject.toml", (p:read("pyproject.toml"):gsub("%[project%.urls%]",
      'license-files = ["LICENSE"]\n\n[project.urls]', 1)))
    p:release("1.2.3")
    local code, c = doctor(p.dir, { "--only", "build" })
    eq(code, 3)
    status(c, REQS, "fail", "[project] license-files is a list, which hatchling reads from 1.27 on: /usr/bin/python3 " ..
      "has hatchling " .. installed_version("hatchling"))
  end)

  -- pip-tools, colorama, hatch: a classifier newer than Debian 12's
  -- trove-classifiers, which setuptools and hatchling validate against
  it("finds a classifier the build's validation refuses", function()
    for _, fixture in ipairs({ "setuptools-scm", "hatchling" }) do
      local p <close> = projects.make{ fixture = fixture }
      p:write("pyproject.toml", (p:read("pyproject.toml"):gsub("classifiers = %[",
        'classifiers = [\n    "Programming Language :: Python :: 3.99",', 1)))
      p:release("1.2.3")
      local code, c = doctor(p.dir, { "--only", "build" })
      eq(code, 3, fixture)
      status(c, REQS, "fail", "/usr/bin/python3's trove-classifiers does not know Programming Language :: Python :: " ..
        "3.99, which " .. (fixture == "hatchling" and "hatchling" or "setuptools") .. " refuses")
    end
  end)

  -- pipx and isort: a missing requirement, a license-files list and an
  -- unknown classifier, said together; skip_dependency_check builds anyway
  it("names every reason the build fails at once, and honours skip_dependency_check", function()
    local p <close> = projects.make{ fixture = "hatchling" }
    p:write("pyproject.toml", (p:read("pyproject.toml"):gsub('"hatchling>=1.8"', '"hatchling>=1.8", "relrun-absent-hook"')
      :gsub("classifiers = %[", 'classifiers = [\n    "Programming Language :: Python :: 3.99",', 1)
      :gsub("%[project%.urls%]", 'license-files = ["LICENSE"]\n\n[project.urls]', 1)))
    p:release("1.2.3")
    local code, c = doctor(p.dir, { "--only", "build" })
    eq(code, 3)
    local found = c[REQS].found
    contains(found, "lacks relrun-absent-hook (not installed)")
    contains(found, "license-files is a list")
    contains(found, "does not know Programming Language :: Python :: 3.99")
    p:write("pyproject.toml", p:read("pyproject.toml") .. "\n[tool.relrun.build]\nskip_dependency_check = true\n")
    p:commit("build with what is installed")
    code, c = doctor(p.dir, { "--only", "build" })
    eq(code, 3)
    ok(not c[REQS].found:find("relrun-absent-hook", 1, true), "skip_dependency_check: " .. c[REQS].found)
    contains(c[REQS].found, "license-files is a list")
    -- with nothing else in the way, what is missing is a warning: the build goes on without it
    p:write("pyproject.toml", (p:read("pyproject.toml"):gsub('license%-files = %["LICENSE"%]\n', "")
      :gsub('\n    "Programming Language :: Python :: 3.99",', "")))
    p:commit("what Debian's backends read")
    code, c = doctor(p.dir, { "--only", "build" })
    status(c, REQS, "warn", "lacks relrun-absent-hook (not installed); [tool.relrun.build] skip_dependency_check " ..
      "builds with what is installed")
    ok(code ~= 3, "no problem: exit " .. tostring(code))
  end)

  -- xarray keeps setuptools-scm 10's settings in [tool.vcs-versioning]
  it("takes [tool.vcs-versioning] for setuptools_scm's table", function()
    local p <close> = projects.make{ fixture = "setuptools-scm" }
    p:write("pyproject.toml", (p:read("pyproject.toml"):gsub("%[tool%.setuptools_scm%]",
      '[tool.vcs-versioning]\nfallback_version = "9999"')))
    p:release("1.2.3")
    local _, c = doctor(p.dir, { "--only", "build" })
    status(c, SOURCE_CHECK, "ok", "through setuptools_scm")
    local r = assert(proc.run{ argv = { RELRUN, fs.join(SOURCE, "scripts/version.lua"), "--explain" }, cwd = p.dir,
                               env = doctor_env() })
    eq(r.code, 0, r.stderr)
    contains(r.stdout, "config:    [tool.vcs-versioning] in ")
  end)

  it("an in-tree backend (backend-path) needs no [build-system] requires (setuptools, poetry-core)", function()
    local p <close> = projects.make{ fixture = "setuptools-scm" }
    p:write("pyproject.toml", (p:read("pyproject.toml"):gsub("requires = %b[]", 'requires = []\nbackend-path = ["."]', 1)))
    p:release("1.2.3")
    local _, c = doctor(p.dir, { "--only", "build" })
    status(c, REQS, "ok", "the backend is the project's own (backend-path .)")
    p:write("pyproject.toml", (p:read("pyproject.toml"):gsub('\nbackend%-path = %["%."%]', "", 1)))
    p:commit("no backend-path")
    _, c = doctor(p.dir, { "--only", "build" })
    status(c, REQS, "fail", "[build-system] requires is empty")
  end)

  it("says what an isolated build needs from its index, and finds what the index lacks", function()
    local tmp <close> = fs.tempdir("doctor-index")
    local wheels = projects.wheel_index(tmp.path)
    local index = "file://" .. tmp.path .. "/simple/"
    local env = { RELRUN_BUILD_ISOLATION = "true", RELRUN_BUILD_INDEX_URL = index }
    local p <close> = projects.make{ fixture = "cext", releases = { "1.2.3" } }
    local code, c = doctor(p.dir, { "--only", "build", "--online" }, env)
    eq(code, 0, json.encode(c[REQS]))
    status(c, REQS, "ok", "isolated build (from RELRUN_BUILD_ISOLATION): " .. index .. " has setuptools>=61 (" ..
      wheels.setuptools .. ")")
    -- Debian ships no hatchling wheel: the isolated build cannot get its backend.
    local q <close> = projects.make{ fixture = "hatchling", releases = { "1.2.3" } }
    code, c = doctor(q.dir, { "--only", "build", "--online" }, env)
    eq(code, 3)
    status(c, REQS, "fail", "has nothing that fits hatchling>=1.8")
    -- --offline asks no index, and says so.
    code, c = doctor(q.dir, { "--only", "build" }, env)
    eq(code, 0)
    status(c, REQS, "ok", "--offline: the index was not asked")
  end)
end)

---------------------------------------------------------------------------
-- The version gate, per version source
---------------------------------------------------------------------------

describe("doctor: the version gate per backend", function()
  it("fails a written version that is not the tag's, for every backend that writes it", function()
    for _, name in ipairs(ALL) do
      local p <close> = projects.make{ fixture = name }
      if p.fixture.version == "static" then
        p:set_version("4.0.0")
        p:commit("4.0.0")
        p:git("tag", "v0.0.1")
        local code, c = doctor(p.dir, { "--only", "build" })
        eq(code, 3, name)
        status(c, GATE, "fail", "HEAD is tagged v0.0.1, but " .. p.fixture.backend .. " builds version 4.0.0 (")
        contains(c[GATE].todo, "tag the version the project says (v4.0.0)")
      end
    end
  end)

  it("names the spelling when the tag and the file are the same release by PEP 440 only", function()
    local p <close> = projects.make{ fixture = "poetry" }
    p:release("24.3", { tag = "v24.3.0" })
    local code, c = doctor(p.dir, { "--only", "build" })
    eq(code, 3)
    status(c, GATE, "fail", "the same release by PEP 440, but the files would be named 24.3")
  end)

  it("warns, before tagging, that the written version is already released", function()
    local p <close> = projects.make{ fixture = "flit", releases = { "1.2.3" } }
    p:write("NEWS", "more\n")
    p:commit("more")
    local code, c = doctor(p.dir, { "--only", "build" })
    eq(code, 0)
    status(c, GATE, "warn", "and 1.2.3 is already released (v1.2.3)")
    p:set_version("1.3.0")
    p:commit("1.3.0")
    code, c = doctor(p.dir, { "--only", "build" })
    eq(code, 0)
    status(c, GATE, "ok", "the next release tag is v1.3.0")
    p:set_version("1.4.0.dev0")   -- pip's way between releases: 26.3.dev0
    p:commit("back to development")
    code, c = doctor(p.dir, { "--only", "build" })
    eq(code, 0)
    status(c, GATE, "warn", "set 1.4.0 there")
    status(c, GATE, "warn", "a development version: not a release")
  end)

  it("reads hatchling's version file, and says when it cannot tell", function()
    local p <close> = projects.make{ fixture = "hatchling" }
    local py = p:read("pyproject.toml"):gsub('\nversion = "[^"]*"', '\ndynamic = ["version"]')
    p:write("pyproject.toml", py .. '\n[tool.hatch.version]\npath = "src/fx_hatchling/__about__.py"\n')
    p:write("src/fx_hatchling/__about__.py", '__version__ = "2.0.0"\n')
    p:commit("version in a file")
    p:git("tag", "v2.0.1")
    local code, c = doctor(p.dir, { "--only", "build" })
    eq(code, 3)
    status(c, GATE, "fail", "HEAD is tagged v2.0.1, but hatchling builds version 2.0.0 (src/fx_hatchling/__about__.py)")
    p:write("src/fx_hatchling/__about__.py", '__version__ = ".".join(["2", "0", "1"])\n')
    p:commit("computed")
    p:git("tag", "v2.0.2")
    code, c = doctor(p.dir, { "--only", "build" })
    status(c, GATE, "skip", "could not tell the version hatchling builds")
    status(c, SOURCE_CHECK, "warn", "has no plain __version__")
    eq(code, 0)
  end)

  it("reads a hatch version file through its pattern (scrapy's VERSION file)", function()
    local p <close> = projects.make{ fixture = "hatchling" }
    local py = p:read("pyproject.toml"):gsub('\nversion = "[^"]*"', '\ndynamic = ["version"]')
    p:write("pyproject.toml", py .. '\n[tool.hatch.version]\npath = "src/fx_hatchling/VERSION"\n'
      .. 'pattern = "^(?P<version>.+)$"\n')
    p:write("src/fx_hatchling/VERSION", "2.0.0\n")
    p:commit("version in a plain file")
    p:git("tag", "v2.0.1")
    local code, c = doctor(p.dir, { "--only", "build" })
    eq(code, 3)
    status(c, GATE, "fail", "HEAD is tagged v2.0.1, but hatchling builds version 2.0.0 (src/fx_hatchling/VERSION)")
    p:git("tag", "-d", "v2.0.1")
    p:write("pyproject.toml", (p:read("pyproject.toml"):gsub('pattern = "[^\n]*"', 'pattern = "^VERSION: (.+)$"')))
    p:commit("another pattern")
    code, c = doctor(p.dir, { "--only", "build" })
    eq(code, 0)
    status(c, SOURCE_CHECK, "warn", "matches nothing there")
  end)

  it("judges hatch-vcs projects by hatch-vcs, never asking for [tool.setuptools_scm]", function()
    local p <close> = projects.make{ fixture = "hatch-vcs", releases = { "1.2.3" } }
    local code, c, doc = doctor(p.dir, { "--only", "build" })
    eq(code, 0, json.encode(doc))
    status(c, SOURCE_CHECK, "ok", "through hatch-vcs")
    status(c, GATE, "ok", "HEAD is v1.2.3 and hatch-vcs builds 1.2.3")
    ok(not json.encode(doc):find("setuptools_scm", 1, true), "no setuptools_scm advice: " .. json.encode(doc))
    p:write("pyproject.toml", (p:read("pyproject.toml"):gsub(', "hatch%-vcs>=0.3"', "")))
    p:commit("no hatch-vcs")
    code, c = doctor(p.dir, { "--only", "build" })
    eq(code, 3)
    status(c, SOURCE_CHECK, "fail", 'add "hatch-vcs" to [build-system] requires')
    ok(not c[SOURCE_CHECK].todo:find("setuptools_scm", 1, true))
  end)
end)

---------------------------------------------------------------------------
-- Imports and the long description
---------------------------------------------------------------------------

describe("doctor: imports and the long description", function()
  it("counts every package of the project's source layout as its own (attrs' attr)", function()
    local p <close> = projects.make{ fixture = "hatchling" }
    p:write("src/fx_compat/__init__.py", "from fx_hatchling import *\n")
    p:write("src/fx_hatchling/compat.py", "import fx_compat\nimport requests\n")
    p:write("src/fx_hatchling/__init__.py", "from . import compat\n" .. p:read("src/fx_hatchling/__init__.py"))
    p:write("pyproject.toml", (p:read("pyproject.toml"):gsub('packages = %["src/fx_hatchling"%]',
      'packages = ["src/fx_hatchling", "src/fx_compat"]') .. '\n[tool.relrun]\nimports = ["fx_compat"]\n'))
    p:release("1.2.3")
    local code, c = doctor(p.dir, { "--only", "build" })
    eq(code, 3)
    status(c, IMPORTS, "fail", "imported but not declared: requests (src/fx_hatchling/compat.py)")
    ok(not c[IMPORTS].found:find("fx_hatchling (", 1, true) and not c[IMPORTS].found:find("fx_compat (", 1, true),
      "the project's own packages are not dependencies: " .. c[IMPORTS].found)
  end)

  -- The patterns of real projects (attrs, markupsafe, structlog, tomlkit,
  -- pypa/packaging): only what `import pkg` runs must be declared.
  it("judges imports as Python runs them: optional ones, tests and integration modules are not failures", function()
    local p <close> = projects.make{ fixture = "hatchling" }
    p:write("src/fx_hatchling/__init__.py", table.concat({
      '"""Chunks.', "", "import not_a_dependency_in_a_docstring", '"""', "from typing import TYPE_CHECKING",
      "from .core import chunks", "import rich", "if TYPE_CHECKING:", "    import typing_extensions",
      "try:", "    import colorama", "except ImportError:", "    colorama = None", "" }, "\n"))
    p:write("src/fx_hatchling/core.py", "def chunks(items, size):\n    import lazy_inside_a_function\n")
    p:write("src/fx_hatchling/twisted.py", "from twisted.python import log\n")
    p:write("tests/conftest.py", "import pytest\n")
    p:write("tests/__init__.py", "")
    p:write("pyproject.toml", (p:read("pyproject.toml"):gsub("%[project%.urls%]",
      '[project.optional-dependencies]\nfancy = ["rich>=13"]\n\n[project.urls]')))
    p:release("1.2.3")
    local code, c, doc = doctor(p.dir, { "--only", "build" })
    eq(code, 0, json.encode(doc))
    status(c, IMPORTS, "warn", "need undeclared twisted (src/fx_hatchling/twisted.py)")
    for _, name in ipairs({ "pytest", "typing_extensions", "colorama", "lazy_inside", "not_a_dependency", "rich" }) do
      ok(not c[IMPORTS].found:find(name, 1, true), name .. " is not reported: " .. c[IMPORTS].found)
    end
    -- the same import reached from __init__.py through the package's own imports fails
    p:write("src/fx_hatchling/core.py", "import requests\n\ndef chunks(items, size):\n    return []\n")
    p:commit("core needs requests")
    code, c = doctor(p.dir, { "--only", "build" })
    eq(code, 3)
    status(c, IMPORTS, "fail", "imported but not declared: requests (src/fx_hatchling/core.py)")
  end)

  it("an import a declared dependency brings (fastapi's anyio), or the package vendors, is no failure", function()
    local p <close> = projects.make{ fixture = "hatchling" }
    p:write("src/fx_hatchling/core.py", "import pathspec\nimport vendored_lib\n\ndef chunks(items, size):\n    return []\n")
    p:write("src/fx_hatchling/_vendor/vendored_lib/__init__.py", "")
    p:write("src/fx_hatchling/__init__.py", "from . import core\n" .. p:read("src/fx_hatchling/__init__.py"))
    local py = p:read("pyproject.toml")
    -- (hatchling, installed with the backend, requires pathspec)
    p:write("pyproject.toml", (py:gsub("%[project%.urls%]", 'dependencies = ["hatchling"]\n\n[project.urls]', 1)))
    p:release("1.2.3")
    local code, c, doc = doctor(p.dir, { "--only", "build" })
    eq(code, 0, json.encode(doc))
    status(c, IMPORTS, "ok", "pathspec by hatchling")
    -- a declared dependency not installed here leaves it open: a warning that says so
    p:write("pyproject.toml", (py:gsub("%[project%.urls%]", 'dependencies = ["relrun-absent-dependency"]\n\n[project.urls]', 1)))
    p:commit("another dependency")
    code, c = doctor(p.dir, { "--only", "build" })
    eq(code, 0)
    status(c, IMPORTS, "warn", "imported but not declared: pathspec (src/fx_hatchling/core.py); unless a declared "
      .. "dependency brings them (relrun-absent-dependency not installed here")
  end)

  -- urllib3 keeps a test server (dummyserver/) at the top beside src/;
  -- black's hatch-vcs writes src/_black_version.py as it builds; tox
  -- imports _pytest (pytest, declared in an extra) in a module `import tox`
  -- does not run
  it("a src layout's top folders, a version module the build writes, an import named unlike its dependency", function()
    local p <close> = projects.make{ fixture = "hatchling" }
    p:write("dummyserver/__init__.py", "import trio_undeclared\n")
    p:write("src/fx_hatchling/__init__.py", "from _fx_version import version\n" .. p:read("src/fx_hatchling/__init__.py"))
    p:write("src/fx_hatchling/plugin.py", "import _pytest\nimport relrunfx_rpds\n")
    p:write("pyproject.toml", (p:read("pyproject.toml"):gsub("%[project%.urls%]",
      '[project.optional-dependencies]\ntesting = ["pytest>=7", "relrunfx-rpds-py"]\n\n[project.urls]') ..
      '\n[tool.hatch.build.hooks.vcs]\nversion-file = "src/_fx_version.py"\n'))
    p:release("1.2.3")
    local code, c, doc = doctor(p.dir, { "--only", "build" })
    eq(code, 0, json.encode(doc))
    status(c, IMPORTS, "ok", "every import of fx_hatchling is the project's own, declared or standard")
  end)

  local BROKEN_RST = "Title\n=====\n\n.. no-such-directive::\n\nText.\n"

  -- twine check itself on the files, the reference the doctor follows.
  local function twine_check(files)
    local argv = { "twine", "check" }
    for _, f in ipairs(files) do argv[#argv + 1] = f end
    return assert(proc.run{ argv = argv, env = { NO_COLOR = "1" } })
  end

  it("fails an RST readme that twine check rejects: pyproject's readme, setup.cfg's long_description", function()
    local p <close> = projects.make{ fixture = "hatchling" }
    p:write("README.rst", BROKEN_RST)
    p:write("pyproject.toml", (p:read("pyproject.toml"):gsub('readme = "README.md"', 'readme = "README.rst"')))
    p:release("1.2.3")
    local code, c = doctor(p.dir, { "--only", "build" })
    eq(code, 3)
    status(c, README, "fail", 'pyproject.toml [project] readme (README.rst) (text/x-rst): line 4: Error: Unknown ' ..
      'directive type "no-such-directive"')

    local q <close> = projects.make{ fixture = "setuptools-cfg" }
    q:write("README.rst", BROKEN_RST)
    q:write("setup.cfg", (q:read("setup.cfg"):gsub("long_description = file: README.md\nlong_description_content_type = " ..
      "text/markdown\n", "long_description = file: README.rst\n")))
    q:release("1.2.3")
    code, c = doctor(q.dir, { "--only", "build" })
    eq(code, 3)
    status(c, README, "fail", "setup.cfg [metadata] long_description (README.rst) (text/x-rst): line 4")
    -- fixed, it renders; without a content type twine warns and reads it as RST
    q:write("README.rst", "Title\n=====\n\nText.\n")
    q:commit("fixed")
    code, c = doctor(q.dir, { "--only", "build" })
    eq(code, 0)
    status(c, README, "warn", "no content type for setup.cfg [metadata] long_description (README.rst)")
  end)

  it("does not call a readme a build hook makes (dynamic, as attrs' hatch-fancy-pypi-readme) missing", function()
    local p <close> = projects.make{ fixture = "hatchling" }
    p:write("pyproject.toml", (p:read("pyproject.toml"):gsub('readme = "README.md"\n', 'dynamic = ["readme"]\n')))
    p:release("1.2.3")
    local _, c = doctor(p.dir, { "--only", "build" })
    status(c, README, "skip", "[project] readme is dynamic, made by the build")
  end)

  it("checks built files' long description as twine check does (--dist)", function()
    local p <close> = projects.make{ fixture = "setuptools-legacy" }
    p:write("README.rst", BROKEN_RST)
    p:release("1.2.3")
    local out <close> = fs.tempdir("doctor-dist")
    local built = assert(projects.hand_build(p, "v1.2.3", { version = "1.2.3", python = PYTHON, outdir = out.path }))
    local ref = twine_check({ built.wheel, built.sdist })
    ok(ref.code ~= 0, "twine check passes what the doctor must fail: " .. ref.stdout .. ref.stderr)
    local code, c = doctor(p.dir, { "--only", "build", "--dist", out.path })
    eq(code, 3)
    status(c, README, "fail", fs.basename(built.wheel) .. " (text/x-rst): line 4: Error: Unknown directive type")
    contains(c[README].found, fs.basename(built.sdist))
    -- Without the files, a setup.py project's description is not known.
    code, c = doctor(p.dir, { "--only", "build" })
    eq(code, 0)
    status(c, README, "skip", "setup.py makes it when it runs")
    -- A good description passes both.
    local q <close> = projects.make{ fixture = "setuptools-legacy", releases = { "1.2.3" } }
    local out2 <close> = fs.tempdir("doctor-dist")
    built = assert(projects.hand_build(q, "v1.2.3", { version = "1.2.3", python = PYTHON, outdir = out2.path }))
    eq(twine_check({ built.wheel, built.sdist }).code, 0)
    code, c = doctor(q.dir, { "--only", "build", "--dist", out2.path })
    eq(code, 0)
    status(c, README, "ok", fs.basename(built.wheel) .. " (text/x-rst)")
  end)

  it("says the long description was not checked where readme_renderer is missing", function()
    local venv <close> = fs.tempdir("doctor-venv")
    -- --copies: a venv's symlinked python would be taken for Debian's own
    local r = assert(proc.run{ argv = { PYTHON, "-m", "venv", "--copies", "--without-pip", venv.path } })
    eq(r.code, 0, r.stderr)
    local p <close> = projects.make{ fixture = "hatchling", releases = { "1.2.3" } }
    local _, c = doctor(p.dir, { "--only", "build" }, { RELRUN_PYTHON = fs.join(venv.path, "bin/python") })
    status(c, README, "skip", "not checked: " .. fs.join(venv.path, "bin/python") .. " has no readme_renderer")
    status(c, REQS, "fail", "has no `build` module")
  end)
end)

---------------------------------------------------------------------------
-- Broken files and settings, and --json on every failure mode
---------------------------------------------------------------------------

describe("doctor: it never crashes, and --json is always one document", function()
  it("reports a pyproject.toml that does not parse as a failed check, with the file and line", function()
    local p <close> = projects.make{ fixture = "hatchling", releases = { "1.2.3" } }
    p:write("pyproject.toml", p:read("pyproject.toml") .. "\n[tool.relrun\nbranch = 'main'\n")
    local code, c, doc, r = doctor(p.dir)
    eq(code, 3, r.stderr)
    status(c, "pyproject.toml", "fail", fs.join(p.dir, "pyproject.toml") .. ":")
    ok(c["pyproject.toml"].found:match("pyproject%.toml:%d+: "), c["pyproject.toml"].found)
    status(c, GATE, "skip", "pyproject.toml does not parse")
    status(c, README, "skip", "pyproject.toml does not parse")
    eq(#doc.groups, 6)
    -- the text output says the same, once
    r = assert(proc.run{ argv = { RELRUN, fs.join(SOURCE, "scripts/doctor.lua"), "--project", p.dir, "--offline" },
                         env = doctor_env() })
    eq(r.code, 3)
    contains(r.stdout, "✗ pyproject.toml: " .. fs.join(p.dir, "pyproject.toml"))
  end)

  it("reports misspelt [tool.relrun] keys and wrong types, naming the closest key", function()
    local p <close> = projects.make{ fixture = "hatchling" }
    p:write("pyproject.toml", p:read("pyproject.toml") .. "\n[tool.relrun]\nbrnach = 'main'\nimports = 42\n" ..
      "tag_prefix = 'v'\n")
    p:release("1.2.3")
    local code, c = doctor(p.dir)
    eq(code, 3)
    local name = "[tool.relrun] settings"
    status(c, name, "fail", "unknown setting brnach (did you mean branch?)")
    contains(c[name].found, "imports (from pyproject.toml [tool.relrun] imports) must be a list of strings")
    -- the good settings still count: the tag scheme is the configured one
    status(c, GATE, "ok", "HEAD is v1.2.3")
  end)

  it("prints one JSON document for a usage error, a bad flag, a missing project", function()
    local p <close> = projects.make{ fixture = "flit", releases = { "1.2.3" } }
    for _, case in ipairs({
      { args = { "--only", "nosuch" }, code = "USAGE",
        text = "unknown group nosuch (oidc, codeartifact, build, s3, security, cloudtrail)" },
      { args = { "--no-such-flag" }, code = "USAGE", text = "--no-such-flag" },
      { args = { "--region", "Mars" }, code = "CONFIG_VALUE", text = 'region "Mars" (from --region) is not valid' },
    }) do
      local r = run_doctor(p.dir, case.args)
      eq(r.code, 2, table.concat(case.args, " "))
      local doc = json.decode(r.stdout)
      ok(type(doc) == "table", "no JSON for " .. table.concat(case.args, " ") .. ": " .. r.stdout .. r.stderr)
      eq(doc.error.code, case.code)
      eq(doc.error.exit, 2)
      contains(doc.error.message, case.text)
      eq(doc.groups, {})
      ok(r.stdout:find('"groups":[]', 1, true), "groups is a JSON array: " .. r.stdout)
    end
    local r = run_doctor(fs.join(p.dir, "no-such-folder"))
    eq(r.code, 2)
    eq(json.decode(r.stdout).error.code, "NO_PROJECT")
    -- without --json the host prints the one line
    r = assert(proc.run{ argv = { RELRUN, fs.join(SOURCE, "scripts/doctor.lua"), "--only", "nosuch" }, env = doctor_env() })
    eq(r.code, 2)
    eq(r.stdout, "")
    contains(r.stderr, "unknown group nosuch")
  end)

  it("reports settings it cannot use as findings: a malformed environment value, incomplete CodeArtifact", function()
    local p <close> = projects.make{ fixture = "pdm", releases = { "1.2.3" } }
    local code, c = doctor(p.dir, {}, { CODEARTIFACT_DOMAIN = "acme", AWS_REGION = "us-east-1",
                                        CODEARTIFACT_ACCOUNT_ID = "12345", CODEARTIFACT_REPOSITORY = false })
    eq(code, 3)
    status(c, "the settings are well formed", "fail", 'account_id "12345" (from CODEARTIFACT_ACCOUNT_ID) is not valid')
    status(c, "CodeArtifact settings", "fail", "CODEARTIFACT_REPOSITORY")
  end)

  it("runs outside git, every check skipping what needs it", function()
    local tmp <close> = fs.tempdir("doctor-nogit")
    copy_tree(fs.join(projects.FIXTURES_DIR, "flit"), fs.join(tmp.path, "flit"))
    local code, c, doc = doctor(fs.join(tmp.path, "flit"))
    eq(code, 0, json.encode(doc))
    status(c, GATE, "ok", "flit_core builds 0.1.0")
    status(c, "the checkout has its full history", "skip", "not a git checkout")
  end)

  it("runs a team's own group (the group list is one table), and a check that raises is that check's failure", function()
    local lib <close> = fs.tempdir("doctor-lib")
    assert(fs.mkdir(fs.join(lib.path, "relrun/doctor")))
    local groups = fs.read(fs.join(SOURCE, "scripts/lib/relrun/doctor/groups.lua")):gsub("\n}%s*$",
      '\n  { name = "trail", title = "Trail", module = "relrun.doctor.trail" },\n' ..
      '  { name = "broken", title = "Broken", module = "relrun.doctor.broken" },\n}\n')
    assert(fs.write(fs.join(lib.path, "relrun/doctor/groups.lua"), groups))
    assert(fs.write(fs.join(lib.path, "relrun/doctor/trail.lua"), [[
local checks = require "relrun.checks"
return { register = function(g, ctx)
  g:check("the trail", function() return checks.ok("tag prefix " .. ctx.prefix) end)
  g:check("a check with a bug", function() local t = nil; return t.field end)
end }
]]))
    assert(fs.write(fs.join(lib.path, "relrun/doctor/broken.lua"),
      'return { register = function() error("the group itself is broken") end }\n'))
    local p <close> = projects.make{ fixture = "flit", scheme = "bare", releases = { "1.2.3" } }
    -- by name, as a team runs it: relrun's scripts with the team's modules first (RELRUN_PATH)
    local r = assert(proc.run{ argv = { RELRUN, "doctor", "--project", p.dir, "--json", "--offline", "--only",
                                        "trail,broken" }, env = doctor_env{ RELRUN_PATH = lib.path } })
    local doc = assert(json.decode(r.stdout), r.stdout .. r.stderr)
    local code, c = r.code, {}
    for _, g in ipairs(doc.groups) do
      for _, check in ipairs(g.checks) do c[check.name] = check end
    end
    eq(code, 3)
    eq(#doc.groups, 2)
    eq(doc.groups[1].name, "Trail")
    status(c, "the trail", "ok", "tag prefix ")
    status(c, "a check with a bug", "fail", "the check itself failed:")
    status(c, "(group)", "fail", "the group itself is broken")
    eq(doc.problems, 2)
  end)
end)

---------------------------------------------------------------------------
-- The release workflow (relrun.workflows)
---------------------------------------------------------------------------

describe("doctor: the release workflow", function()
  local WORKFLOW = "the release workflow"
  local function template()
    return require("relrun.workflow").render{ deb_url = "https://example.invalid/relrun.deb",
                                              deb_sha256 = string.rep("0", 64) }
  end
  local function with_workflow(p, text)
    p:write(".github/workflows/release.yml", text)
    p:commit("workflow")
  end

  it("recognises the shipped workflow: its trigger, token, checkout, relrun's install and publish", function()
    local p <close> = projects.make{ fixture = "hatchling", releases = { "1.2.3" } }
    local wf = template()
    with_workflow(p, wf)
    local _, c = doctor(p.dir, { "--only", "security" })
    status(c, WORKFLOW, "ok", ".github/workflows/release.yml job release: tags v*, id-token: write, fetch-depth: 0, " ..
      "installs relrun, runs `relrun --locked release publish`")
    with_workflow(p, (wf:gsub("fetch%-depth: 0", "fetch-depth: 1")))
    _, c = doctor(p.dir, { "--only", "security" })
    status(c, WORKFLOW, "fail", "checkout without `fetch-depth: 0`")
    -- a comment saying fetch-depth: 0 is not the setting
    with_workflow(p, (wf:gsub("fetch%-depth: 0   #", "fetch-depth: 1   # fetch-depth: 0,")))
    _, c = doctor(p.dir, { "--only", "security" })
    status(c, WORKFLOW, "fail", "checkout without `fetch-depth: 0`")
    -- no step installs relrun before the publish
    local without = wf:gsub("\n      %- name: Install relrun.-\n\n", "\n")
    ok(without ~= wf and not without:find("dpkg-deb", 1, true), "the install step was removed")
    with_workflow(p, without)
    _, c = doctor(p.dir, { "--only", "security" })
    status(c, WORKFLOW, "fail", "no step installs relrun before it runs")
    -- no OIDC token for the job
    with_workflow(p, (wf:gsub("  id%-token: write[^\n]*\n", "")))
    _, c = doctor(p.dir, { "--only", "security" })
    status(c, WORKFLOW, "fail", "it gets no OIDC token when a release tag (v*) is pushed")
  end)

  it("judges the trigger by the project's tag prefix", function()
    local p <close> = projects.make{ fixture = "hatchling", scheme = "bare", releases = { "1.2.3" } }
    local wf = template()
    with_workflow(p, wf)
    local _, c = doctor(p.dir, { "--only", "security" })
    status(c, WORKFLOW, "fail", "job release: it runs for tags v*, which the release tag 1.2.3 does not match")
    with_workflow(p, (wf:gsub('      %- "v%*"', '      - "[0-9]*"')))
    _, c = doctor(p.dir, { "--only", "security" })
    status(c, WORKFLOW, "ok", "job release: tags *, id-token: write")
  end)

  it("warns about tags pushed with the workflow's own GITHUB_TOKEN, from relrun or git", function()
    local p <close> = projects.make{ fixture = "flit", releases = { "1.2.3" } }
    local NAME = "tags pushed by a workflow trigger the release"
    local function tagging(env, run)
      return "name: Tag\non:\n  workflow_dispatch:\npermissions:\n  contents: write\njobs:\n  tag:\n" ..
        "    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n        with:\n" ..
        "          fetch-depth: 0\n      - name: Tag\n        env:\n          GITHUB_TOKEN: " .. env .. "\n" ..
        "        run: " .. run .. "\n"
    end
    p:write(".github/workflows/tag.yml", tagging("${{ secrets.GITHUB_TOKEN }}", "relrun --locked release tag --bump patch"))
    p:commit("tag workflow")
    local _, c = doctor(p.dir, { "--only", "security" })
    status(c, NAME, "warn", "tag.yml job tag pushes tags (`relrun --locked release tag --bump patch`)")
    p:write(".github/workflows/tag.yml", tagging("${{ secrets.RELEASE_PAT }}", "relrun --locked release tag --bump patch"))
    p:commit("a PAT")
    _, c = doctor(p.dir, { "--only", "security" })
    status(c, NAME, "ok")
    -- git push with the token actions/checkout left behind
    p:write(".github/workflows/tag.yml", tagging("${{ secrets.RELEASE_PAT }}", "git push origin --tags"):gsub(
      "        env:\n          GITHUB_TOKEN: [^\n]*\n", ""))
    p:commit("git push")
    _, c = doctor(p.dir, { "--only", "security" })
    status(c, NAME, "warn", "`git push origin --tags`")
  end)
end)
