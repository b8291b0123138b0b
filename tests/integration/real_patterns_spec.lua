-- What trying relrun on real public projects found (docs/real-projects.md),
-- each pattern reproduced on a fixture project (tests/support/projects.lua)
-- and run through the real CLI: a release branch called master
-- (tomlkit, certifi, pypa/hatch), names written where poetry-core 1.x and
-- setup.py keep them, a version written in the project that differs from
-- the one asked for (pypa/sampleproject, tomlkit, click), Debian's older
-- backends (pluggy asks setuptools-scm>=8) and the rerun line of a whole
-- release.
local fs = require "relrun.fs"
local proc = require "relrun.proc"
local projects = require "projects"

local RELRUN = os.getenv("RELRUN")

-- relrun ARGS... in the project's folder, with no account anywhere and the
-- installed backend -> result { code, stdout, stderr }.
local function relrun(p, args, env)
  local argv = { RELRUN }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local e = { GITHUB_TOKEN = false, CODEARTIFACT_DOMAIN = false, AWS_ROLE_ARN = false, RELRUN_BUILD_ISOLATION = "false",
              RELRUN_TAG_PREFIX = false, PIP_INDEX_URL = false, RELRUN_PYTHON = false }
  for k, v in pairs(env or {}) do e[k] = v end
  return assert(proc.run{ argv = argv, cwd = p.dir, env = e })
end

local function setting(out, key)
  return out:match("\n" .. key:gsub("%p", "%%%0") .. "%s+(%S+)%s+([^\n]+)")
end

describe("real projects' patterns", function()
  it("releases from master when the clone says the remote's default branch is master", function()
    local p <close> = projects.make{ fixture = "setuptools-scm", releases = { "1.0.0" } }
    p:git("branch", "-m", "main", "master")
    p:git("push", "-q", "-u", "origin", "master")
    p:git("remote", "set-head", "origin", "master")
    p:commit("a change")
    p:git("push", "-q", "origin", "master")
    local r = relrun(p, { "release", "config" })
    eq(r.code, 0, r.stderr)
    local value, from = setting(r.stdout, "branch")
    eq(value, "master")
    contains(from, "origin/HEAD")
    r = relrun(p, { "release", "prepare" })
    eq(r.code, 0, r.stdout .. r.stderr)
    contains(r.stdout, "on branch master")
    -- a configured branch still wins
    r = relrun(p, { "release", "prepare", "--branch", "main" })
    eq(r.code, 1)
    contains(r.stderr, "not the release branch main")
  end)

  it("releases from master when there is no origin/HEAD and no main, loose or packed", function()
    local p <close> = projects.make{ fixture = "setuptools-scm", releases = { "1.0.0" } }
    p:git("branch", "-m", "main", "master")
    p:git("push", "-q", "-u", "origin", "master")
    p:git("update-ref", "-d", "refs/remotes/origin/main")   -- the clone knows no main anywhere
    p:git("remote", "set-head", "origin", "-d")
    local function branch()
      local r = relrun(p, { "release", "config" })
      eq(r.code, 0, r.stderr)
      return setting(r.stdout, "branch")
    end
    local value, from = branch()
    eq(value, "master", "loose refs")
    contains(from, "no main branch")
    p:git("pack-refs", "--all")
    eq(branch(), "master", "packed refs")
    p:git("branch", "main")   -- a main branch appears: the default again
    p:git("pack-refs", "--all")
    eq(branch(), "main", "a packed main")
  end)

  it("names the package from [tool.poetry] name and from a plain setup.py name=", function()
    for fixture, want in pairs({ poetry = "pyproject.toml [tool.poetry] name", ["setuptools-legacy"] = "setup.py name=" }) do
      local p <close> = projects.make{ fixture = fixture }
      local r = relrun(p, { "release", "config" })
      eq(r.code, 0, r.stderr)
      local value, from = setting(r.stdout, "package")
      eq(value, p.fixture.dist, fixture)
      eq(from, want, fixture)
    end
  end)

  it("names the package from setup.py's name=NAME (celery); a name it cannot read stops tag before any tag", function()
    local p <close> = projects.make{ fixture = "setuptools-legacy", releases = { "0.1.0" } }
    local setup = p:read("setup.py")
    p:write("setup.py", (setup:gsub('name="([^"]*)",', "name=NAME,")
      :gsub("\nsetup%(", '\nNAME = "fx-setuptools-legacy"\n\nsetup(')))
    p:commit("celery's way")
    local r = relrun(p, { "release", "config" })
    eq({ setting(r.stdout, "package") }, { "fx-setuptools-legacy", "setup.py name=NAME" })
    p:write("setup.py", (setup:gsub('name="([^"]*)",', 'name="-".join(["fx", "setuptools", "legacy"]),')
      :gsub('version="[^"]*"', 'version="0.1.1"')))
    p:commit("a computed name")
    p:git("push", "-q", "origin", "main")
    r = relrun(p, { "release", "--version", "0.1.1", "--yes" })
    eq(r.code, 2, r.stdout .. r.stderr)
    contains(r.stderr, "relrun cannot read the project's name")
    contains(r.stderr, '[tool.relrun] package = "NAME"')
    eq(p:git("ls-remote", "--tags", "origin", "v0.1.1"), "", "nothing tagged")
    eq(p:git("tag", "--list", "v0.1.1"), "")
  end)

  it("refuses, before the tag, a release whose Requires-Python leaves out the interpreter that verifies it", function()
    local p <close> = projects.make{ fixture = "hatchling", releases = { "1.0.0" } }
    p:set_version("1.0.1")
    p:write("pyproject.toml", (p:read("pyproject.toml"):gsub('requires%-python = "[^"]*"', 'requires-python = ">=3.99"')))
    ok(p:read("pyproject.toml"):find(">=3.99", 1, true), "the fixture declares requires-python")
    p:commit("1.0.1 for a Python to come")
    p:git("push", "-q", "origin", "main")
    local r = relrun(p, { "release", "--version", "1.0.1", "--yes", "--skip-dependency-check" })
    eq(r.code, 1, r.stdout .. r.stderr)
    contains(r.stderr, "the release's Requires-Python >=3.99 leaves out")
    contains(r.stderr, "[tool.relrun] python, RELRUN_PYTHON")
    eq(p:git("ls-remote", "--tags", "origin", "v1.0.1"), "", "nothing tagged")
    eq(p:git("tag", "--list", "v1.0.1"), "")
  end)

  it("refuses a version the project's files do not state, before building, and releases the one they do", function()
    local p <close> = projects.make{ fixture = "hatchling", releases = { "1.0.0" } }
    p:write("NEWS", "more\n")
    p:commit("more")
    p:git("push", "-q", "origin", "main")
    local r = relrun(p, { "release", "tag", "--version", "1.0.1", "--dry-run" })
    eq(r.code, 1, r.stdout .. r.stderr)
    contains(r.stderr, "pyproject.toml [project] version says 1.0.0, so the build would make 1.0.0, not 1.0.1")
    contains(r.stderr, "write 1.0.1 there and commit it")
    ok(not r.stderr:find("release what it says", 1, true), "1.0.0 is released already (marko): " .. r.stderr)
    ok(not r.stdout:find("python -m build", 1, true), "nothing was built: " .. r.stdout)
    -- the released version itself (sphinx's --version 9.1.0 after v9.1.0): refused as released, not "write it there"
    p:set_version("1.0.1rc1")
    p:commit("a candidate")
    p:git("push", "-q", "origin", "main")
    r = relrun(p, { "release", "tag", "--version", "1.0.0", "--dry-run" })
    eq(r.code, 1, r.stdout .. r.stderr)
    contains(r.stderr, "tag v1.0.0 already exists on origin")
    ok(not r.stderr:find("rerun", 1, true), "the same command would be refused again: " .. r.stderr)
    ok(not r.stderr:find("write 1.0.0 there", 1, true), r.stderr)
    r = relrun(p, { "release", "tag", "--version", "0.9.0", "--dry-run" })
    contains(r.stderr, "v0.9.0 is not newer than the last release v1.0.0")
    -- a development version written (markupsafe's 3.1.0.dev, click's 8.5.0.dev) is never offered
    p:set_version("1.0.1.dev0")
    p:commit("back to development")
    p:git("push", "-q", "origin", "main")
    r = relrun(p, { "release", "tag", "--version", "1.0.1", "--dry-run" })
    contains(r.stderr, "says 1.0.1.dev0, so the build would make 1.0.1.dev0, not 1.0.1; write 1.0.1 there")
    ok(not r.stderr:find("release what it says", 1, true), r.stderr)
    p:set_version("1.0.1")
    p:commit("Release 1.0.1")
    p:git("push", "-q", "origin", "main")
    r = relrun(p, { "release", "prepare" })
    contains(r.stdout, "the project says: 1.0.1 (pyproject.toml [project] version)")
    r = relrun(p, { "release", "tag", "--yes", "--skip-dependency-check" })
    eq(r.code, 0, r.stdout .. r.stderr)
    contains(r.stdout, "created v1.0.1")
    eq(p:git("ls-remote", "--tags", "origin", "v1.0.1"):match("refs/tags/(%S+)"), "v1.0.1")
  end)

  it("says in one line what Debian's backend lacks, and builds with it anyway when asked (-x)", function()
    local p <close> = projects.make{ fixture = "setuptools-scm", releases = { "1.0.0" } }
    p:write("pyproject.toml", (p:read("pyproject.toml"):gsub('"setuptools_scm[^"]*"', '"setuptools_scm>=99"')))
    p:commit("newer setuptools_scm asked for")
    p:git("push", "-q", "origin", "main")
    local r = relrun(p, { "release", "tag", "--version", "1.0.1", "--yes" })
    eq(r.code, 1)
    local line = r.stderr:match("relrun: ([^\n]+)")
    contains(line, "cannot build fx-setuptools-scm without isolation: it lacks setuptools_scm>=99")
    contains(line, "--skip-dependency-check")
    ok(not line:find("drop --no-isolation", 1, true), "no advice about a flag not given: " .. line)
    eq(p:git("tag", "--list", "v1.0.1"), "")
    r = relrun(p, { "release", "tag", "--version", "1.0.1", "--yes", "--skip-dependency-check" })
    eq(r.code, 0, r.stdout .. r.stderr)
    contains(r.stderr, "building anyway (--skip-dependency-check)")
    ok(fs.exists(fs.join(p.dir, ".relrun/dist/1.0.1")), "built")
  end)

  it("tags CalVer as the project spells it (certifi: 2026.07.22), and publishes and verifies it", function()
    local p <close> = projects.make{ fixture = "setuptools-scm", scheme = "bare", releases = { "2026.07.22" } }
    p:write("NEWS", "next\n")
    p:commit("next")
    p:git("push", "-q", "origin", "main")
    local r = relrun(p, { "release", "--version", "2026.08.01", "--yes", "--skip-dependency-check", "--no-deps" })
    eq(r.code, 0, r.stdout .. r.stderr)
    eq(p:git("ls-remote", "--tags", "origin", "2026.08.01"):match("refs/tags/(%S+)"), "2026.08.01")
    eq(p:git("tag", "--list", "2026.8.1"), "", "no second spelling")
    ok(fs.exists(fs.join(p.dir, ".relrun/dist/2026.8.1/fx_setuptools_scm-2026.8.1-py3-none-any.whl")), r.stdout)
    r = relrun(p, { "verify", "--no-deps" })
    eq(r.code, 0, r.stdout .. r.stderr)
    contains(r.stdout, "2026.8.1")
  end)

  it("reads the version a setup.py takes from its module (certifi's regex, six's import)", function()
    local p <close> = projects.make{ fixture = "setuptools-legacy" }
    local setup = p:read("setup.py"):gsub('version="[^"]*",', "version=VERSION,")
    p:write("setup.py", 'import re\nwith open("fx_setuptools_legacy/__init__.py") as f:\n' ..
      '    VERSION = re.search(r\'__version__ = "([^"]*)"\', f.read()).group(1)\n' .. setup)
    p:write("fx_setuptools_legacy/__init__.py", '__version__ = "1.2.3"\n' .. p:read("fx_setuptools_legacy/__init__.py"))
    p:commit("the version in the module")
    p:git("tag", "v1.2.3")
    p:git("push", "-q", "origin", "main", "v1.2.3")
    local r = relrun(p, { "doctor", "--offline", "--only", "build" })
    contains(r.stdout, "fx_setuptools_legacy/__init__.py __version__ (read by setup.py) (1.2.3)")
    p:write("NEWS", "more\n")
    p:commit("more")
    p:git("push", "-q", "origin", "main")
    r = relrun(p, { "release", "tag", "--version", "1.2.4", "--dry-run" })
    eq(r.code, 1)
    contains(r.stderr, "fx_setuptools_legacy/__init__.py __version__ (read by setup.py) says 1.2.3")
  end)

  -- pre-commit, werkzeug: `relrun version` is setuptools_scm's answer from
  -- git; --explain says the build takes the version the files state
  it("version --explain says which version a static project's build takes", function()
    local p <close> = projects.make{ fixture = "hatchling" }
    local r = relrun(p, { "version", "--explain" })
    eq(r.code, 0, r.stderr)
    ok(r.stdout:find("\nbuild:     the project's build takes [%d.]+ from pyproject%.toml %[project%] version, " ..
      "not a git version\n"), r.stdout)
  end)

  -- pyyaml: its own backend (backend-path) over setuptools, and
  -- `VERSION = '7.0.0.dev0'` then `version=VERSION` in setup.py
  it("reads the version a project's own setuptools backend builds, from a name setup.py assigns", function()
    local p <close> = projects.make{ fixture = "setuptools-legacy" }
    p:write("_custom/fx_backend.py", "from setuptools.build_meta import *  # noqa\n")
    p:write("pyproject.toml", '[build-system]\nrequires = ["setuptools", "wheel"]\nbuild-backend = "fx_backend"\n' ..
      'backend-path = ["_custom"]\n')
    p:write("setup.py", "VERSION = '2.0.0.dev0'\n" .. p:read("setup.py"):gsub('version="[^"]*",', "version=VERSION,"))
    p:commit("pyyaml's way")
    p:git("push", "-q", "origin", "main")
    local r = relrun(p, { "doctor", "--offline", "--only", "build" })
    contains(r.stdout, "setup.py VERSION (2.0.0.dev0)")
    r = relrun(p, { "release", "tag", "--version", "1.9.0", "--dry-run" })
    eq(r.code, 1)
    contains(r.stderr, "setup.py VERSION says 2.0.0.dev0")
    contains(r.stdout, "not checked: nothing was built")   -- not "no Requires-Python"
  end)

  it("reads a setup.py's `from pkg.version import __version__` (mypy) and os.path.join's parts (boto3)", function()
    local p <close> = projects.make{ fixture = "setuptools-legacy" }
    local setup = p:read("setup.py")
    local init = p:read("fx_setuptools_legacy/__init__.py")
    p:write("fx_setuptools_legacy/version.py", '__version__ = "2.4.0+dev"\n')
    p:write("setup.py", "from fx_setuptools_legacy.version import __version__ as version\n"
      .. setup:gsub('version="[^"]*",', "version=version,"))
    p:commit("mypy's way")
    p:git("push", "-q", "origin", "main")
    local r = relrun(p, { "doctor", "--offline", "--only", "build" })
    contains(r.stdout, "fx_setuptools_legacy/version.py __version__ (read by setup.py) (2.4.0+dev)")
    r = relrun(p, { "release", "tag", "--version", "2.4.0", "--dry-run" })
    eq(r.code, 1)
    contains(r.stderr, "fx_setuptools_legacy/version.py __version__ (read by setup.py) says 2.4.0+dev")
    p:write("setup.py", "import os, re\nROOT = os.path.dirname(__file__)\n\ndef get_version():\n"
      .. "    init = open(os.path.join(ROOT, 'fx_setuptools_legacy', '__init__.py')).read()\n"
      .. [[    return re.search(r'''__version__ = ['"]([0-9.]+)['"]''', init).group(1)]] .. "\n\n"
      .. setup:gsub('version="[^"]*",', "version=get_version(),"))
    p:write("fx_setuptools_legacy/__init__.py", "__version__ = '1.43.78'\n" .. init)
    p:commit("boto3's way")
    r = relrun(p, { "doctor", "--offline", "--only", "build" })
    contains(r.stdout, "fx_setuptools_legacy/__init__.py __version__ (read by setup.py) (1.43.78)")
  end)

  it("finds the package where setup.cfg or pyproject.toml keeps it (sqlalchemy's lib/)", function()
    local p <close> = projects.make{ fixture = "setuptools-attr" }
    p:git("mv", "src", "lib")
    p:write("setup.cfg", (p:read("setup.cfg"):gsub("= src", "= lib")))
    p:commit("the package in lib/")
    p:git("push", "-q", "origin", "main")
    local r = relrun(p, { "doctor", "--offline", "--only", "build" })
    contains(r.stdout, "lib/fx_setuptools_attr/__init__.py __version__")
    r = relrun(p, { "release", "tag", "--version", "9.9.9", "--dry-run" })
    eq(r.code, 1)
    contains(r.stderr, "lib/fx_setuptools_attr/__init__.py __version__ says")
    -- the same place named in pyproject.toml instead
    p:write("setup.cfg", (p:read("setup.cfg"):gsub("package_dir =\n%s*= lib\n", "")
      :gsub("\n%[options.packages.find%]\nwhere = lib\n", "")))
    p:write("pyproject.toml", p:read("pyproject.toml") .. '\n[tool.setuptools.packages.find]\nwhere = ["lib"]\n')
    p:commit("where = lib in pyproject.toml")
    ok(not p:read("setup.cfg"):find("lib", 1, true), p:read("setup.cfg"))
    r = relrun(p, { "doctor", "--offline", "--only", "build" })
    contains(r.stdout, "lib/fx_setuptools_attr/__init__.py __version__")
    -- sqlalchemy's main builds dev versions: setuptools appends egg_info's tag_build
    local written = p:read("lib/fx_setuptools_attr/__init__.py"):match('__version__ = "([^"]+)"')
    p:write("pyproject.toml", p:read("pyproject.toml") .. '\n[tool.distutils.egg_info]\ntag-build = "dev"\n')
    p:commit("tag-build")
    r = relrun(p, { "doctor", "--offline", "--only", "build" })
    contains(r.stdout, 'lib/fx_setuptools_attr/__init__.py __version__ with egg_info tag_build = "dev" ('
      .. written .. ".dev0)")
  end)

  it("reads hatchling's version file when hatchling builds itself from a subfolder (pypa/hatch's backend/)",
    function()
    local p <close> = projects.make{ fixture = "hatchling", subdir = "backend" }
    local py = p:read("pyproject.toml"):gsub('build%-backend = "hatchling.build"', 'build-backend = "hatchling.ouroboros"')
      :gsub('\nversion = "[^"]*"', '\ndynamic = ["version"]')
    p:write("pyproject.toml", py .. '\n[tool.hatch.version]\npath = "src/fx_hatchling/__about__.py"\n')
    p:write("src/fx_hatchling/__about__.py", '__version__ = "1.32.0"\n')
    p:commit("hatchling builds itself; the version in __about__.py")
    p:git("tag", "fx-hatchling-v1.32.0")
    p:git("push", "-q", "origin", "main", "fx-hatchling-v1.32.0")
    local r = relrun(p, { "release", "prepare" })
    contains(r.stdout, "the project says: 1.32.0 (src/fx_hatchling/__about__.py)")
    contains(r.stdout, "last release: fx-hatchling-v1.32.0")
  end)

  it("a whole release stopped before its tag is continued by the same command", function()
    local p <close> = projects.make{ fixture = "setuptools-scm", releases = { "1.0.0" } }
    p:write("NEWS", "dirty\n")
    p:git("add", "NEWS")   -- a staged change: the clean check stops prepare
    local r = relrun(p, { "release", "--version", "1.0.1", "--yes" })
    eq(r.code, 1)
    contains(r.stderr, "then rerun `")
    ok(r.stderr:find("release --version 1.0.1 --yes`", 1, true) and not r.stderr:find("release prepare", 1, true),
      "the rerun is the whole release: " .. r.stderr)
  end)

  -- pytest's SPDX license string under Debian's setuptools 66: the line
  -- that names the cause, not the heading of the schema below it
  it("names the cause of a failed build, not a heading that ends in a colon", function()
    local p <close> = projects.make{ fixture = "setuptools-scm", releases = { "1.0.0" } }
    p:write("pyproject.toml", (p:read("pyproject.toml"):gsub('license = {[^}]*}', 'license = "MIT"')))
    p:commit("an SPDX license string")
    p:git("push", "-q", "origin", "main")
    local r = relrun(p, { "release", "tag", "--version", "1.0.1", "--yes", "--skip-dependency-check" })
    eq(r.code, 1, r.stdout .. r.stderr)
    local line = r.stderr:match("relrun: ([^\n]+)")
    contains(line, "project.license")
    ok(not line:find("2 matches found):", 1, true), line)
  end)

  it("names the real cause of a failed build, not python -m build's wrapper line", function()
    local p <close> = projects.make{ fixture = "setuptools-scm", releases = { "1.0.0" } }
    p:write("pyproject.toml", (p:read("pyproject.toml"):gsub('"Development Status', '"Not :: A :: Classifier",\n    %0')))
    p:commit("a classifier Debian's setuptools does not know")
    p:git("push", "-q", "origin", "main")
    local r = relrun(p, { "release", "tag", "--version", "1.0.1", "--yes", "--skip-dependency-check" })
    eq(r.code, 1, r.stdout .. r.stderr)
    local line = r.stderr:match("relrun: ([^\n]+)")
    contains(line, "project.classifiers")
    ok(not line:find("Backend subprocess exited", 1, true), line)
  end)
end)
