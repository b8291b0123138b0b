-- relrun.config: defaults < pyproject.toml [tool.relrun] < environment < flags.
local config = require "relrun.config"

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p " .. p))
  return p
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function env(t) return function(name) return t[name] end end

describe("config", function()
  local dir
  before_each(function()
    dir = tmpdir()
    write(dir .. "/pyproject.toml", [[
[project]
name = "stock-pipeline"
dynamic = ["version"]

[tool.setuptools]
packages = ["bronze", "silver", "ingestion", "ingestion.readers"]

[tool.relrun]
region = "eu-west-1"
branch = "trunk"
]])
  end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  it("defaults to the local repository with the project's own names", function()
    local cfg = assert(config.load{ project_dir = dir, getenv = env{} })
    eq(cfg.target, "local")
    eq(cfg.package, "stock-pipeline")
    eq(cfg.imports, nil, "unset: verify takes the wheel's top-level packages")
    eq(cfg.repository_dir, ".relrun/repository")
    eq(cfg.branch, "trunk")
    eq(cfg.source.branch, "pyproject.toml [tool.relrun] branch")
  end)

  it("takes RELEASE.md's environment names over the file, and flags over both", function()
    local cfg = assert(config.load{ project_dir = dir, flags = { repository = "flagged" }, getenv = env{
      CODEARTIFACT_DOMAIN = "acme", CODEARTIFACT_ACCOUNT_ID = "111122223333",
      CODEARTIFACT_REPOSITORY = "pypi-store", AWS_REGION = "us-east-2", AWS_DEFAULT_REGION = "ap-south-1" } })
    eq(cfg.target, "codeartifact")
    eq(cfg.region, "us-east-2")
    eq(cfg.source.region, "AWS_REGION")
    eq(cfg.repository, "flagged")
    eq(cfg.source.repository, "--repository")
    eq(config.index_url(cfg), "https://acme-111122223333.d.codeartifact.us-east-2.amazonaws.com/pypi/flagged/simple/")
  end)

  it("names the missing settings of a CodeArtifact target", function()
    local cfg, err = config.load{ project_dir = dir, getenv = env{ CODEARTIFACT_DOMAIN = "acme" } }
    eq(cfg, nil)
    contains(err, "CODEARTIFACT_ACCOUNT_ID, CODEARTIFACT_REPOSITORY are not")
  end)

  it("says which source holds a malformed value", function()
    local _, err = config.load{ project_dir = dir, getenv = env{ AWS_ROLE_ARN = "arn:aws:iam::12:role/x" } }
    contains(err, 'role_arn "arn:aws:iam::12:role/x" (from AWS_ROLE_ARN) is not valid')
  end)

  it("reports a broken pyproject.toml with its line", function()
    write(dir .. "/pyproject.toml", "[project\nname = 1\n")
    local cfg, err = config.load{ project_dir = dir, getenv = env{} }
    eq(cfg, nil)
    contains(err, "pyproject.toml:1")
  end)

  it("works without a pyproject.toml", function()
    os.remove(dir .. "/pyproject.toml")
    local cfg = assert(config.load{ project_dir = dir, getenv = env{}, flags = { package = "demo-pkg" } })
    eq(cfg.package, "demo-pkg")
    eq(cfg.source.package, "--package")
  end)

  it("reads the name where each backend declares it: poetry, setup.cfg, setup.py", function()
    write(dir .. "/pyproject.toml", '[build-system]\nrequires = ["poetry-core"]\n[tool.poetry]\nname = "fx-poetry"\n')
    local cfg = assert(config.load{ project_dir = dir, getenv = env{} })
    eq({ cfg.package, cfg.source.package }, { "fx-poetry", "pyproject.toml [tool.poetry] name" })
    write(dir .. "/pyproject.toml", '[build-system]\nrequires = ["setuptools"]\n')
    write(dir .. "/setup.cfg", "[metadata]\nname = fx-cfg\nversion = 1.0\n")
    cfg = assert(config.load{ project_dir = dir, getenv = env{} })
    eq({ cfg.package, cfg.source.package }, { "fx-cfg", "setup.cfg [metadata] name" })
    os.remove(dir .. "/setup.cfg")
    os.remove(dir .. "/pyproject.toml")
    write(dir .. "/setup.py", 'from setuptools import setup\nsetup(\n    name="fx-legacy",\n    version="1.0",\n)\n')
    cfg = assert(config.load{ project_dir = dir, getenv = env{} })
    eq({ cfg.package, cfg.source.package }, { "fx-legacy", "setup.py name=" })
    write(dir .. "/setup.py", "from setuptools import setup\nsetup(name=NAME)\n")
    eq(assert(config.load{ project_dir = dir, getenv = env{} }).package, nil, "a computed name is not guessed")
  end)

  it("takes expect as a list or a count, from the file or a flag", function()
    write(dir .. "/pyproject.toml", '[project]\nname = "x"\n[tool.relrun]\nexpect = 5\n')
    eq(assert(config.load{ project_dir = dir, getenv = env{} }).expect, 5)
    eq(assert(config.load{ project_dir = dir, getenv = env{}, flags = { expect = "sdist,cp311-win" } }).expect,
      { "sdist", "cp311-win" })
    eq(assert(config.load{ project_dir = dir, getenv = env{}, flags = { expect = "3" } }).expect, 3)
    for _, bad in ipairs({ "0", "-1", "2.5" }) do
      write(dir .. "/pyproject.toml", '[project]\nname = "x"\n[tool.relrun]\nexpect = ' .. bad .. '\n')
      local _, err = config.load{ project_dir = dir, getenv = env{} }
      contains(tostring(err), "expect (from pyproject.toml [tool.relrun] expect) must be a list of strings or a whole")
    end
  end)

  it("refuses an unknown key and names the closest known one", function()
    write(dir .. "/pyproject.toml", '[project]\nname = "x"\n[tool.relrun]\nbrnach = "main"\nregoin = "x"\n')
    local cfg, err = config.load{ project_dir = dir, getenv = env{} }
    eq(cfg, nil)
    eq(err.code, "CONFIG_UNKNOWN")
    eq(err.exit, 2)
    ok(tostring(err):find("unknown setting brnach %(did you mean branch%?%)") or
       tostring(err):find("unknown setting regoin %(did you mean region%?%)"), tostring(err))
  end)

  it("refuses an unknown key inside a sub-table", function()
    write(dir .. "/pyproject.toml", '[project]\nname = "x"\n[tool.relrun.build]\nisolaton = false\n')
    local cfg, err = config.load{ project_dir = dir, getenv = env{} }
    eq(cfg, nil)
    eq(err.code, "CONFIG_UNKNOWN")
    contains(err, "unknown setting build.isolaton (did you mean build.isolation?)")
  end)

  it("refuses a value of the wrong type and names its source", function()
    write(dir .. "/pyproject.toml", '[project]\nname = "x"\n[tool.relrun]\nimports = 42\n')
    local _, err = config.load{ project_dir = dir, getenv = env{} }
    contains(err, "imports (from pyproject.toml [tool.relrun] imports) must be a list of strings, not number \"42\"")
    write(dir .. "/pyproject.toml", '[project]\nname = "x"\n[tool.relrun.build]\nisolation = "no"\n')
    _, err = config.load{ project_dir = dir, getenv = env{} }
    contains(err, "build.isolation (from pyproject.toml [tool.relrun] build.isolation) must be true or false")
    write(dir .. "/pyproject.toml", '[project]\nname = "x"\n')
    _, err = config.load{ project_dir = dir, getenv = env{ RELRUN_BUILD_ISOLATION = "maybe" } }
    contains(err, "build.isolation (from RELRUN_BUILD_ISOLATION) must be true or false")
  end)

  it("reads sub-tables, environment booleans and flags, each with its source", function()
    write(dir .. "/pyproject.toml", '[project]\nname = "x"\n[tool.relrun.build]\nisolation = false\n' ..
      'args = ["-C--global-option=x"]\n[tool.relrun.verify]\nno_deps = true\n')
    local cfg = assert(config.load{ project_dir = dir, getenv = env{} })
    eq(cfg.build.isolation, false)
    eq(cfg.source["build.isolation"], "pyproject.toml [tool.relrun] build.isolation")
    eq(cfg.build.args, { "-C--global-option=x" })
    eq(cfg.verify.no_deps, true)
    cfg = assert(config.load{ project_dir = dir, getenv = env{ RELRUN_BUILD_ISOLATION = "1" } })
    eq(cfg.build.isolation, true)
    eq(cfg.source["build.isolation"], "RELRUN_BUILD_ISOLATION")
    cfg = assert(config.load{ project_dir = dir, getenv = env{ RELRUN_BUILD_ISOLATION = "1" },
                              flags = { isolation = false, imports = "a,b" } })
    eq(cfg.build.isolation, false)
    eq(cfg.source["build.isolation"], "--no-isolation")
    eq(cfg.imports, { "a", "b" })
  end)

  it("lists every setting with its value and source", function()
    local cfg = assert(config.load{ project_dir = dir, getenv = env{} })
    local rows = {}
    for _, r in ipairs(config.rows(cfg)) do rows[r.key] = r end
    eq(rows.branch.value, "trunk")
    eq(rows.branch.source, "pyproject.toml [tool.relrun] branch")
    eq(rows.remote.source, "default")
    eq(rows.bucket.source, "unset")
  end)
end)
