-- label: slow
-- Vendored scripts stay out of the package's sdist (relrun vendor writes
-- the rules): for a setuptools + setuptools_scm project (its file finder
-- lists files with `git archive`, which honours .gitattributes
-- export-ignore) and for hatchling projects, with and without hatch-vcs
-- (hatchling reads [tool.hatch.build.targets.sdist] exclude), built with
-- Debian's backends: python3 -m build --sdist --no-isolation. The control:
-- without the rules, the same sdists do hold the vendored files.
local fs = require "relrun.fs"
local archive = require "relrun.archive"
local installed = require "installed"

local RELRUN = os.getenv("RELRUN")

local PROJECTS = {
  setuptools_scm = [[
[build-system]
requires = ["setuptools>=61", "setuptools_scm>=7"]
build-backend = "setuptools.build_meta"

[project]
name = "pkgx"
dynamic = ["version"]

[tool.setuptools]
packages = ["pkgx"]

[tool.setuptools_scm]
]],
  hatchling = [[
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "pkgx"
version = "1.0.0"
]],
  ["hatchling + hatch-vcs"] = [[
[build-system]
requires = ["hatchling", "hatch-vcs"]
build-backend = "hatchling.build"

[project]
name = "pkgx"
dynamic = ["version"]

[tool.hatch.version]
source = "vcs"
]],
}

local function must(argv, opts)
  local r = installed.run(argv, opts)
  assert(r.code == 0, table.concat(argv, " ") .. ":\n" .. r.stdout .. r.stderr)
  return r
end

local function commit(dir, message)
  must({ "git", "-C", dir, "add", "-A" })
  must({ "git", "-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", message })
end

-- The names in the sdist built from `dir` (without the top folder).
local function sdist(dir)
  local out = dir .. "/../dist-" .. tostring(os.time()) .. math.random(1e6)
  must({ "/usr/bin/python3", "-m", "build", "--sdist", "--no-isolation", "--skip-dependency-check", "--outdir", out, dir },
       { env = { SETUPTOOLS_SCM_PRETEND_VERSION = false } })
  local tarball = fs.glob(out .. "/*.tar.gz")
  eq(#tarball, 1, "one sdist")
  local names = {}
  for _, e in ipairs(assert(archive.list(tarball[1]))) do
    names[#names + 1] = e.name:gsub("^[^/]+/", "")
  end
  fs.remove(out, { recursive = true })
  return names
end

local function relrun_files(names)
  local found = {}
  for _, n in ipairs(names) do
    if n:find("^%.relrun%-scripts") or n == "relrun.lock" then found[#found + 1] = n end
  end
  return found
end

for kind, pyproject in pairs(PROJECTS) do
  describe("a " .. kind .. " project", function()
    local tmp, dir
    before_each(function()
      tmp = fs.tempdir("relrun-sdist-")
      dir = tmp.path .. "/pkgx"
      fs.mkdir(dir .. "/pkgx")
      fs.write(dir .. "/pyproject.toml", pyproject)
      fs.write(dir .. "/pkgx/__init__.py", "VALUE = 1\n")
      fs.write(dir .. "/README.md", "pkgx\n")
      must({ "git", "init", "-q", "-b", "main", dir })
      commit(dir, "pkgx")
      must({ "git", "-C", dir, "tag", "v1.0.0" })
    end)
    after_each(function() tmp:close() end)

    it("keeps the vendored files and relrun.lock out of the sdist, and only them", function()
      local r = must({ RELRUN, "vendor", "--all" }, { cwd = dir })
      contains(r.stdout, "wrote .gitattributes")
      commit(dir, "vendor relrun's scripts")
      local names = sdist(dir)
      eq(relrun_files(names), {}, "nothing of relrun's in the sdist")
      local has = {}
      for _, n in ipairs(names) do has[n] = true end
      ok(has["pkgx/__init__.py"] and has["pyproject.toml"], "the package itself is there: " .. table.concat(names, " "))
    end)

    it("(control) without the rules, the vendored files do go into the sdist", function()
      must({ RELRUN, "vendor", "--all" }, { cwd = dir })
      fs.remove(dir .. "/.gitattributes")
      fs.write(dir .. "/pyproject.toml", pyproject)
      commit(dir, "vendor without rules")
      local found = relrun_files(sdist(dir))
      ok(#found > 40, "the sdist holds " .. #found .. " of relrun's files")
    end)
  end)
end
