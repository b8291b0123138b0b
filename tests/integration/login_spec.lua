-- label: slow
-- scripts/login.lua against the CodeArtifact fake (itself checked against the
-- aws cli, twine and pip in codeartifact_fake_spec): for each tool the token
-- is written where that tool reads it, 0600, without touching its other
-- indexes, and then the real tool uses it — twine uploads, pip installs from
-- the venv's own pip.conf, poetry resolves and installs from its source
-- (when Debian's python3-poetry is installed); uv (in neither Debian nor npm)
-- is checked by its file. Never the global pip index unless --global.
local peer = require "peer"
local R = require "aws_run"
local fs = require "relrun.fs"
local toml = require "relrun.toml"
local login = require "relrun.login"

local AKID, SECRET = "AKIDLOGINCHECK001", "login/check+secret/0001"
local ACCOUNT = "111122223333"
local srv, dir, home, wheel

local _ <close> = setmetatable({}, { __close = function()
  if srv then srv:stop() end
  R.rmdir(dir)
end })

local function env(extra)
  local e = { AWS_ACCESS_KEY_ID = AKID, AWS_SECRET_ACCESS_KEY = SECRET, AWS_REGION = "us-east-1",
              AWS_DEFAULT_REGION = false, AWS_PROFILE = false, AWS_SESSION_TOKEN = false, AWS_ROLE_ARN = false,
              AWS_CONFIG_FILE = "/dev/null", AWS_SHARED_CREDENTIALS_FILE = "/dev/null", AWS_EC2_METADATA_DISABLED = "true",
              AWS_ENDPOINT_URL_CODEARTIFACT = srv.url, AWS_ENDPOINT_URL = false,
              CODEARTIFACT_DOMAIN = "acme", CODEARTIFACT_ACCOUNT_ID = ACCOUNT, CODEARTIFACT_REPOSITORY = "python",
              HOME = home, XDG_CONFIG_HOME = false, VIRTUAL_ENV = false, POETRY_CONFIG_DIR = false,
              PIP_CONFIG_FILE = false, PIP_INDEX_URL = false, PIP_EXTRA_INDEX_URL = false,
              GITHUB_ACTIONS = false, GITHUB_TOKEN = false, GH_TOKEN = false, RELRUN_LOG = false }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

-- relrun scripts/login.lua ARGS in `cwd` -> code, output (stdout, then stderr).
local function relrun_login(args, extra, cwd)
  local argv = { os.getenv("RELRUN") or fs.absolute("build/relrun"), fs.absolute("scripts/login.lua") }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local r = assert(require("relrun.proc").run{ argv = argv, env = env(extra), cwd = cwd or dir, stdin = "" })
  return r.code, r.stdout .. r.stderr
end

local function succeeds(what, code, out)
  eq(code, 0, what .. ": " .. out)
  return out
end

local function mode(path)
  local st = assert(fs.stat(path))
  return st.mode & 511
end

local function tokens()
  local list = {}
  for t in R.curl("GET", srv.url .. "/__tokens"):gmatch('"([%w%-_=%.]+)"') do
    if #t > 40 then list[#list + 1] = t end
  end
  return list
end

local function no_token_in(text, what)
  for _, t in ipairs(tokens()) do
    ok(not text:find(t, 1, true), what .. " shows a token")
  end
end

local function endpoint() return srv.url .. "/d/acme-" .. ACCOUNT .. "/pypi/python/" end

describe("login.lua", function()
  dir = R.tempdir()
  home = dir .. "/home"
  os.execute("mkdir -p " .. R.quote(home))
  srv = peer.start{ argv = { "python3", "tests/fakes/codeartifact.py", "--port-file", peer.PORT_FILE,
                             "--credentials", AKID .. ":" .. SECRET, "--account", ACCOUNT } }
  local creds = require("relrun.aws.credentials").static(AKID, SECRET)
  local ca = assert(require("relrun.aws.codeartifact").client{ region = "us-east-1", endpoint = srv.url,
                                                                credentials = creds })
  assert(ca:create_domain{ domain = "acme" })
  assert(ca:create_repository{ domain = "acme", domain_owner = ACCOUNT, repository = "python" })
  local code, out = R.run({ "python3", "tests/support/aws_mkwheel.py", "login-demo", "1.2.3", dir })
  eq(code, 0, out)
  wheel = out:gsub("\n$", "")

  it("--tool twine: a [codeartifact] section in .pypirc beside pypi's, 0600; twine uploads with it", function()
    R.write(home .. "/.pypirc", "[distutils]\nindex-servers =\n    pypi\n\n[pypi]\nusername = __token__\n")
    local text = succeeds("login twine", relrun_login({ "--tool", "twine" }))
    contains(text, home .. "/.pypirc (0600): the repository \"codeartifact\"")
    contains(text, "the token expires 20")
    no_token_in(text, "login's output")
    local rc = R.read(home .. "/.pypirc")
    eq(mode(home .. "/.pypirc"), 384, "mode 0600")
    eq(login.ini_get(rc, "pypi", "username"), "__token__", "pypi's section kept")
    contains(login.ini_get(rc, "distutils", "index-servers"), "pypi")
    contains(login.ini_get(rc, "distutils", "index-servers"), "codeartifact")
    eq(login.ini_get(rc, "codeartifact", "repository"), endpoint())
    eq(login.ini_get(rc, "codeartifact", "username"), "aws")
    code, out = R.run({ "/usr/bin/twine", "upload", "--non-interactive", "--disable-progress-bar", "-r",
                        "codeartifact", "--config-file", home .. "/.pypirc", wheel },
                      { TWINE_USERNAME = false, TWINE_PASSWORD = false, TWINE_REPOSITORY_URL = false })
    eq(code, 0, "twine upload: " .. out)
    local pv = ca:describe_package_version{ domain = "acme", domain_owner = ACCOUNT, repository = "python",
                                            format = "pypi", package = "login-demo", version = "1.2.3" }
    ok(pv, "the upload is in CodeArtifact")
  end)

  it("--tool pip: the venv's own pip.conf, 0600; that venv's pip installs; the global config untouched", function()
    local venv = dir .. "/venv"
    code, out = R.run({ "python3", "-m", "venv", venv })
    eq(code, 0, out)
    local text = succeeds("login pip", relrun_login({ "--tool", "pip" }, { VIRTUAL_ENV = venv }))
    contains(text, venv .. "/pip.conf (0600): the venv " .. venv)
    eq(mode(venv .. "/pip.conf"), 384, "mode 0600")
    ok(R.read(venv .. "/pip.conf"):find("^%[global%]\nindex%-url = http://aws:[^@]+@127%.0%.0%.1:%d+/d/"),
      R.read(venv .. "/pip.conf"))
    ok(not fs.exists(home .. "/.config/pip/pip.conf") and not fs.exists(home .. "/.pip/pip.conf"),
      "no global pip configuration written")
    code, out = R.run({ venv .. "/bin/pip", "install", "--no-cache-dir", "--disable-pip-version-check",
                        "login-demo==1.2.3" }, { PIP_CONFIG_FILE = false, PIP_INDEX_URL = false, HOME = home })
    eq(code, 0, "pip install from the venv's pip.conf: " .. out)
    code, out = R.run({ venv .. "/bin/python", "-c", "import login_demo; print(login_demo.VERSION)" })
    eq(out, "1.2.3\n", "imports")
  end)

  it("--tool pip without a venv: a named file for PIP_CONFIG_FILE; --global only when asked", function()
    local text = succeeds("login pip, no venv", relrun_login({ "--tool", "pip" }))
    local named = home .. "/.config/relrun/pip-codeartifact.conf"
    contains(text, "export PIP_CONFIG_FILE=" .. named)
    eq(mode(named), 384, "mode 0600")
    eq(mode(home .. "/.config/relrun"), 448, "its folder 0700")
    ok(not fs.exists(home .. "/.config/pip/pip.conf"), "pip's user config untouched")
    R.write(dir .. "/pip-user.conf", "[global]\ntimeout = 60\n\n[install]\nno-compile = true\n")
    os.execute("mkdir -p " .. R.quote(home .. "/.config/pip") .. " && cp " .. R.quote(dir .. "/pip-user.conf") .. " "
      .. R.quote(home .. "/.config/pip/pip.conf"))
    text = succeeds("login pip --global", relrun_login({ "--tool", "pip", "--global" }))
    contains(text, "every pip of this user now installs from CodeArtifact (--global)")
    local conf = R.read(home .. "/.config/pip/pip.conf")
    contains(conf, "timeout = 60")
    contains(conf, "[install]\nno-compile = true")
    contains(conf, "index-url = http://aws:")
  end)

  it("--tool uv: an [[index]] named codeartifact in uv.toml, the other settings and indexes kept", function()
    os.execute("mkdir -p " .. R.quote(home .. "/.config/uv"))
    R.write(home .. "/.config/uv/uv.toml", 'native-tls = true\n\n[[index]]\nname = "internal"\n' ..
      'url = "https://pypi.internal.example/simple/"\n')
    local text = succeeds("login uv", relrun_login({ "--tool", "uv" }))
    contains(text, "searched before PyPI, which stays the default index")
    local path = home .. "/.config/uv/uv.toml"
    eq(mode(path), 384, "mode 0600")
    local doc = assert(toml.decode(R.read(path)))
    eq(doc["native-tls"], true, "other settings kept")
    eq(#doc.index, 2, "two indexes")
    eq(doc.index[1].name, "internal")
    eq(doc.index[2].name, "codeartifact")
    ok(doc.index[2].url:find("^http://aws:[^@]+@127%.0%.0%.1:%d+/d/acme%-111122223333/pypi/python/simple/$"),
      doc.index[2].url)
    -- again: the same index replaced, not added twice
    succeeds("login uv again", relrun_login({ "--tool", "uv" }))
    eq(#assert(toml.decode(R.read(path))).index, 2, "still two indexes")
    -- --env: the exports uv reads
    text = succeeds("login uv --env", relrun_login({ "--tool", "uv", "--env" }))
    contains(text, "export UV_INDEX='codeartifact=" .. endpoint() .. "simple/'")
    contains(text, "export UV_INDEX_CODEARTIFACT_USERNAME='aws'")
    ok(text:find("export UV_INDEX_CODEARTIFACT_PASSWORD='[^']+'"), text)
  end)

  it("--env for pip and twine: exports the tools read, no file written; --dry-run fetches and writes nothing", function()
    local before = #tokens()
    local text = succeeds("login twine --env", relrun_login({ "--tool", "twine", "--env" }))
    contains(text, "export TWINE_REPOSITORY_URL='" .. endpoint() .. "'")
    local pw = text:match("export TWINE_PASSWORD='([^']+)'")
    ok(pw, text)
    -- the exported token works: twine with only the environment
    code, out = R.run({ "/usr/bin/twine", "upload", "--non-interactive", "--disable-progress-bar",
                        "--config-file", "/dev/null", wheel },
                      { TWINE_USERNAME = "aws", TWINE_PASSWORD = pw, TWINE_REPOSITORY_URL = endpoint() })
    eq(code, 0, "twine with the exports (the same file again: identical): " .. out)
    text = succeeds("dry run", relrun_login({ "--tool", "pip", "--dry-run", "--config", dir .. "/dry.conf" }))
    contains(text, "would write " .. dir .. "/dry.conf (0600)")
    ok(not fs.exists(dir .. "/dry.conf"), "nothing written")
    eq(#tokens(), before + 1, "only the --env login asked for a token")
  end)

  it("--tool poetry: credentials in auth.toml, the repository in config.toml, the project's source by poetry; " ..
     "poetry installs from it", function()
    if R.run({ "sh", "-c", "command -v poetry" }) ~= 0 then skip("poetry is not installed (Debian's python3-poetry)") end
    local proj = dir .. "/app"
    os.execute("mkdir -p " .. R.quote(proj))
    R.write(proj .. "/pyproject.toml", table.concat({
      "[tool.poetry]", 'name = "app"', 'version = "0.1.0"', 'description = ""', 'authors = ["Ann <ann@example.com>"]',
      "packages = []", "", "[tool.poetry.dependencies]", 'python = "^3.9"', "",
      "[build-system]", 'requires = ["poetry-core"]', 'build-backend = "poetry.core.masonry.api"', "" }, "\n"))
    local pdir = dir .. "/poetry-config"
    local text = succeeds("login poetry", relrun_login({ "--tool", "poetry", "--project", proj },
      { POETRY_CONFIG_DIR = pdir }, proj))
    contains(text, "the project's source \"codeartifact\" added")
    eq(mode(pdir .. "/auth.toml"), 384, "auth.toml 0600")
    local auth = assert(toml.decode(R.read(pdir .. "/auth.toml")))
    eq(auth["http-basic"].codeartifact.username, "aws")
    local conf = assert(toml.decode(R.read(pdir .. "/config.toml")))
    eq(conf.repositories.codeartifact.url, endpoint())
    local py = assert(toml.decode(R.read(proj .. "/pyproject.toml")))
    local src = py.tool.poetry.source[1]
    eq(src.name, "codeartifact")
    eq(src.url, endpoint() .. "simple/")
    ok(src.secondary == true or src.priority == "supplemental", "PyPI stays the primary source")
    -- poetry itself: the package from the codeartifact source, with the credentials login wrote
    code, out = R.run({ "sh", "-c", "cd " .. R.quote(proj) .. " && poetry add --source codeartifact login-demo==1.2.3" },
      { POETRY_CONFIG_DIR = pdir, POETRY_VIRTUALENVS_IN_PROJECT = "true", POETRY_CACHE_DIR = dir .. "/poetry-cache",
        POETRY_NO_INTERACTION = "1", HOME = home, PYTHON_KEYRING_BACKEND = "keyring.backends.null.Keyring",
        PIP_CONFIG_FILE = "/dev/null" })
    eq(code, 0, "poetry add from codeartifact: " .. out)
    code, out = R.run({ proj .. "/.venv/bin/python", "-c", "import login_demo; print(login_demo.VERSION)" })
    eq(out, "1.2.3\n", "poetry installed it")
  end)
end)
