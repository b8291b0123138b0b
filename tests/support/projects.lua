-- Fixture projects (tests/fixtures/projects/<name>) made into real git
-- repositories for the build and release specs: a fresh repository in a
-- temp dir with a bare origin, the fixture committed, and release commits
-- and tags of a chosen scheme and PEP 440 version.
--
--   local projects = require "projects"
--   local p <close> = projects.make{ fixture = "hatchling", scheme = "v", releases = { "1.0.0", "1.2.3rc1" } }
--   p.dir, p.root, p.origin     -- the project folder, the repository's work tree, the bare origin
--   p.fixture                   -- the fixture's description (projects.FIXTURES[name], below)
--   p.tags, p.commits           -- tag names made, in order; commits[tag] = commit id
--   p:release("1.2.3")          -- write the version where the backend reads it (a static version),
--                               -- commit, tag (scheme's name, or {tag = "v1.2.3-rc.1"}), push -> tag, id
--   p:write("src/x.py", "...")  -- a file of the project (relative to p.dir); p:read(rel)
--   p:commit("message")         -- commit everything (-A) at the next fixed date -> id
--   p:git("status", "--short")  -- git in the work tree -> stdout (raises on failure)
--   p:litter()                  -- untracked, ignored and .relrun/ files in the work tree, none of
--                               -- which may reach a release (projects.LITTER: marks of their names)
--   p:package_dir()             -- the import package's folder ("src/fx_flit" or "fx_setuptools_legacy")
--   p:cleanup()                 -- remove it all (also on <close> and when collected)
--
--   projects.hand_build(p, "v1.2.3", { version = "1.2.3", python = py, outdir = dir })
--       -- `python -m build` (sdist, then the wheel from it) of a fresh clone at that
--       -- revision, as a user would run it by hand -> { sdist = path, wheel = path }
--   projects.wheel_index(dir)   -- a PEP 503 index in dir of the wheels Debian ships
--                               -- (/usr/share/python-wheels) -> { setuptools = "66.1.1", ... }
--   projects.members(path)      -- sorted file names inside a wheel or sdist
--   projects.metadata(path)     -- its METADATA / PKG-INFO text
--
-- make{ fixture, scheme = "v" | "bare" | "prefixed" | prefix string (default "v"),
--       releases = { versions } (each one p:release; default none: the fixture's
--       first commit only), subdir = "packages/x" (the project inside a larger
--       repository; default: at the root), annotated = bool (annotated tags),
--       origin = true (a bare origin, main and each tag pushed to it) }.
-- "prefixed" is the distribution name and "-v" ("fx-hatchling-v1.2.3"), the
-- scheme of a repository that releases several packages.
--
-- projects.version(kind) gives a version of each kind the matrix covers:
-- final 1.2.3, pre 1.2.3rc1, post 1.2.3.post1, two_part 24.3.
--
-- Every commit has a fixed author, committer and date (2026-01-02 03:04:05
-- UTC plus one minute per commit), so commit ids, SOURCE_DATE_EPOCH and
-- therefore reproducible builds do not depend on when the test runs.
local fs = require "relrun.fs"
local proc = require "relrun.proc"
local archive = require "relrun.archive"
local metadata = require "relrun.pypi.metadata"

local M = {}

local SOURCE = fs.absolute(os.getenv("RELRUN_SOURCE_DIR") or ".")
M.FIXTURES_DIR = fs.join(SOURCE, "tests/fixtures/projects")
M.BASE_TIME = 1767323045 -- 2026-01-02T03:04:05Z

M.KINDS = { final = "1.2.3", pre = "1.2.3rc1", post = "1.2.3.post1", two_part = "24.3" }

function M.version(kind)
  return assert(M.KINDS[kind], "no version kind " .. tostring(kind))
end

-- What each fixture is. backend: the build backend's name as project.lua
-- says it; dist / import: distribution and import names; version: where
-- the version comes from ("scm": the tag, through setuptools_scm or hatch-vcs;
-- "static": written in a file, at `version_at` = { file, pattern } where the
-- pattern's two captures surround the version); wheel: "pure" or
-- "platform"; debian: what a build with Debian's backends needs
-- (skip_dependency_check: Debian's hatchling declares editables, which
-- Debian does not ship, so `python -m build --no-isolation` refuses it).
M.FIXTURES = {
  ["setuptools-scm"] = { backend = "setuptools", dist = "fx-setuptools-scm", import = "fx_setuptools_scm",
    version = "scm", data_file = "src/fx_setuptools_scm/data/units.csv" },
  ["setuptools-cfg"] = { backend = "setuptools", dist = "fx-setuptools-cfg", import = "fx_setuptools_cfg",
    version = "static", version_at = { file = "setup.cfg", pattern = "(\nversion = )[^\n]*(\n)" } },
  ["setuptools-attr"] = { backend = "setuptools", dist = "fx-setuptools-attr", import = "fx_setuptools_attr",
    version = "static", version_at = { file = "src/fx_setuptools_attr/__init__.py",
                                      pattern = '(\n__version__ = ")[^"]*(")' } },
  ["setuptools-legacy"] = { backend = "setuptools", dist = "fx-setuptools-legacy", import = "fx_setuptools_legacy",
    version = "static", version_at = { file = "setup.py", pattern = '(\n    version=")[^"]*(")' } },
  ["hatch-vcs"] = { backend = "hatchling", dist = "fx-hatch-vcs", import = "fx_hatch_vcs", version = "scm",
    debian = { skip_dependency_check = true } },
  ["hatchling"] = { backend = "hatchling", dist = "fx-hatchling", import = "fx_hatchling", version = "static",
    version_at = { file = "pyproject.toml", pattern = '(\nversion = ")[^"]*(")' },
    debian = { skip_dependency_check = true } },
  ["flit"] = { backend = "flit_core", dist = "fx-flit", import = "fx_flit", version = "static",
    version_at = { file = "src/fx_flit/__init__.py", pattern = '(\n__version__ = ")[^"]*(")' } },
  ["poetry"] = { backend = "poetry-core", dist = "fx-poetry", import = "fx_poetry", version = "static",
    version_at = { file = "pyproject.toml", pattern = '(\nversion = ")[^"]*(")' } },
  ["pdm"] = { backend = "pdm-backend", dist = "fx-pdm", import = "fx_pdm", version = "static",
    version_at = { file = "pyproject.toml", pattern = '(\nversion = ")[^"]*(")' } },
  ["cext"] = { backend = "setuptools", dist = "fx-cext", import = "fx_cext", version = "static", wheel = "platform",
    version_at = { file = "pyproject.toml", pattern = '(\nversion = ")[^"]*(")' } },
  -- the same with its C source written by setup.py at build time: no C file
  -- in the checkout, no compiling requirement (build.lua sees the platform wheel)
  ["cext-generated"] = { backend = "setuptools", dist = "fx-cgen", import = "fx_cgen", version = "static",
    wheel = "platform", version_at = { file = "pyproject.toml", pattern = '(\nversion = ")[^"]*(")' } },
  ["depends"] = { backend = "hatchling", dist = "fx-depends", import = "fx_depends", version = "static",
    version_at = { file = "pyproject.toml", pattern = '(\nversion = ")[^"]*(")' }, requires = { "flit" },
    debian = { skip_dependency_check = true } },
}
for name, f in pairs(M.FIXTURES) do
  f.name, f.wheel, f.debian = name, f.wheel or "pure", f.debian or {}
end

-- The fixed identity and no user or system git configuration.
M.GIT_ENV = { GIT_AUTHOR_NAME = "Relrun Fixtures", GIT_AUTHOR_EMAIL = "fixtures@example.com",
              GIT_COMMITTER_NAME = "Relrun Fixtures", GIT_COMMITTER_EMAIL = "fixtures@example.com",
              GIT_CONFIG_GLOBAL = "/dev/null", GIT_CONFIG_NOSYSTEM = "1", GIT_DIR = false, GIT_WORK_TREE = false }

-- M.GIT_ENV with `extra` on top.
local function git_env(extra)
  local env = {}
  for k, v in pairs(M.GIT_ENV) do env[k] = v end
  for k, v in pairs(extra or {}) do env[k] = v end
  return env
end

local function run(argv, cwd, env)
  local r = assert(proc.run{ argv = argv, cwd = cwd, env = env or M.GIT_ENV })
  if r.code ~= 0 then
    error(string.format("%s failed (%s): %s%s", table.concat(argv, " "), tostring(r.code or r.signal),
      r.stdout, r.stderr), 3)
  end
  return r.stdout
end

-- git in `dir` with the fixed identity -> stdout; raises on failure.
function M.git(dir, ...)
  return run({ "git", ... }, dir)
end

function M.prefix_of(scheme, fixture)
  if scheme == nil or scheme == "v" then return "v" end
  if scheme == "bare" then return "" end
  if scheme == "prefixed" then return fixture.dist .. "-v" end
  return scheme
end

local Project = {}
Project.__index = Project
Project.__close = function(self) self:cleanup() end
Project.__gc = Project.__close

function Project:git(...)
  return M.git(self.root, ...)
end

function Project:path(rel)
  return fs.join(self.dir, rel)
end

function Project:write(rel, text)
  local path = self:path(rel)
  assert(fs.mkdir(fs.dirname(path)))
  assert(fs.write(path, text))
end

function Project:read(rel)
  return assert(fs.read(self:path(rel)))
end

-- Commit everything at the next fixed date -> commit id.
function Project:commit(message)
  self.clock = self.clock + 60
  local date = string.format("%d +0000", self.clock)
  local env = git_env{ GIT_AUTHOR_DATE = date, GIT_COMMITTER_DATE = date }
  run({ "git", "add", "-A" }, self.root, env)
  run({ "git", "commit", "-q", "--allow-empty", "-m", message }, self.root, env)
  return (self:git("rev-parse", "HEAD"):gsub("%s+$", ""))
end

-- Write `version` where the fixture's backend reads a static version.
function Project:set_version(version)
  local at = self.fixture.version_at
  if not at then return end
  local text = self:read(at.file)
  local new, n = text:gsub(at.pattern, "%1" .. version .. "%2")
  assert(n == 1, string.format("%s: the version pattern matched %d times in %s", self.fixture.name, n, at.file))
  self:write(at.file, new)
end

function Project:tag_name(version)
  return self.prefix .. version
end

-- release(version [, {tag = name, annotated = bool, push = bool}]) -> tag, commit id.
function Project:release(version, opts)
  opts = opts or {}
  self:set_version(version)
  local id = self:commit("Release " .. version)
  local tag = opts.tag or self:tag_name(version)
  local annotated = opts.annotated
  if annotated == nil then annotated = self.annotated end
  local env = git_env{ GIT_COMMITTER_DATE = string.format("%d +0000", self.clock) }
  if annotated then
    run({ "git", "tag", "-a", "-m", "Release " .. version, tag }, self.root, env)
  else
    run({ "git", "tag", tag }, self.root, env)
  end
  self.tags[#self.tags + 1] = tag
  self.commits[tag] = id
  if self.origin and opts.push ~= false then self:git("push", "-q", "origin", "main", "refs/tags/" .. tag) end
  return tag, id
end

function Project:package_dir()
  local src = fs.join("src", self.fixture.import)
  return fs.exists(self:path(src)) and src or self.fixture.import
end

-- A part of the name of each file litter() writes.
M.LITTER = { "junk_untracked", "debug.log", "notes-untracked", ".relrun", "old-build", "stale.whl" }

-- What a working tree collects: an untracked module in the package, an
-- ignored log beside it (the fixtures ignore *.log, build/, dist/), an
-- untracked file at the top, relrun's .relrun/ with a journal and an old
-- release. git still calls the tree clean (untracked files do not count).
function Project:litter()
  local pkg = self:package_dir()
  self:write(fs.join(pkg, "junk_untracked.py"), "raise SystemExit('an untracked file was packaged')\n")
  self:write(fs.join(pkg, "debug.log"), "ignored by *.log\n")
  self:write("notes-untracked.txt", "an untracked file at the top\n")
  self:write(".relrun/journal-1.2.3.json", "{}\n")
  self:write(".relrun/dist/1.2.3/fx-old-0.9.0.tar.gz", "a previous release's sdist\n")
  self:write("build/old-build/lib/x.py", "ignored build output\n")
  self:write("dist/stale.whl", "ignored dist output\n")
  assert(self:git("status", "--porcelain", "--untracked-files=no") == "", "the litter left the tree dirty")
end

function Project:cleanup()
  if self.tmp then self.tmp:close() end
  self.tmp = nil
end

-- make{...} -> project (see the top of this file).
function M.make(opts)
  local fixture = assert(M.FIXTURES[opts.fixture], "no fixture project " .. tostring(opts.fixture))
  local tmp = fs.tempdir("relrun-project-")
  local p = setmetatable({ tmp = tmp, fixture = fixture, tags = {}, commits = {}, clock = M.BASE_TIME - 60,
                           annotated = opts.annotated, prefix = M.prefix_of(opts.scheme, fixture) }, Project)
  p.root = fs.join(tmp.path, "repo")
  p.dir = opts.subdir and fs.join(p.root, opts.subdir) or p.root
  assert(fs.mkdir(fs.dirname(p.dir)))
  run({ "cp", "-r", fs.join(M.FIXTURES_DIR, fixture.name), p.dir }, nil, {})
  M.git(p.root, "init", "-q", "-b", "main")
  if opts.subdir then assert(fs.write(fs.join(p.root, "README.md"), "# A repository of several packages\n")) end
  p:commit("Add " .. fixture.dist)
  if opts.origin ~= false then
    p.origin = fs.join(tmp.path, "origin.git")
    run({ "git", "init", "-q", "--bare", "-b", "main", p.origin }, nil)
    p:git("remote", "add", "origin", p.origin)
    p:git("push", "-q", "-u", "origin", "main")
  end
  for _, v in ipairs(opts.releases or {}) do p:release(v) end
  return p
end

-- hand_build(p, rev, { version, python, outdir, isolation = false, env = {}, args = {} })
-- -> { sdist, wheel, output } | nil, output: the reference relrun's builds are
-- compared with, `python -m build` with the same SOURCE_DATE_EPOCH (the
-- commit's time) and pretend version, from a `git clone` checked out at rev.
function M.hand_build(p, rev, opts)
  local clone = fs.join(p.tmp.path, "hand-" .. rev:gsub("[^%w.-]", "_"))
  fs.remove(clone, { recursive = true })
  run({ "git", "clone", "-q", p.root, clone }, nil)
  M.git(clone, "checkout", "-q", rev)
  local epoch = M.git(clone, "log", "-1", "--format=%ct"):gsub("%s+$", "")
  local argv = { opts.python, "-m", "build", "--outdir", opts.outdir }
  if not opts.isolation then argv[#argv + 1] = "--no-isolation" end
  if p.fixture.debian.skip_dependency_check then argv[#argv + 1] = "--skip-dependency-check" end
  for _, a in ipairs(opts.args or {}) do argv[#argv + 1] = a end
  argv[#argv + 1] = p.dir == p.root and clone or fs.join(clone, p.dir:sub(#p.root + 2))
  local env = { SOURCE_DATE_EPOCH = epoch, SETUPTOOLS_SCM_PRETEND_VERSION = opts.version, PYTHONDONTWRITEBYTECODE = "1" }
  for k, v in pairs(opts.env or {}) do env[k] = v end
  -- from "/": `python -m build` in a folder with a build/ would import that
  local r = assert(proc.run{ argv = argv, cwd = "/", env = env, stderr = "capture" })
  local output = r.stdout .. r.stderr
  if r.code ~= 0 then return nil, output end
  local out = { output = output }
  for _, name in ipairs(fs.list(opts.outdir) or {}) do
    if name:match("%.whl$") then out.wheel = fs.join(opts.outdir, name) end
    if name:match("%.tar%.gz$") then out.sdist = fs.join(opts.outdir, name) end
  end
  return out
end

-- A PEP 503 "simple" index in `dir` (dir/simple/<name>/index.html linking
-- dir/files/<wheel>#sha256=...) of the wheels in `from` (default: the ones
-- Debian ships for venv and isolated builds: python3-setuptools-whl,
-- python3-wheel-whl, python3-pip-whl). Serve dir over HTTP and point
-- PIP_INDEX_URL at /simple/. -> { [project] = version }.
function M.wheel_index(dir, from)
  from = from or "/usr/share/python-wheels"
  local found, names = {}, {}
  assert(fs.mkdir(fs.join(dir, "files")))
  for _, path in ipairs(fs.glob(fs.join(from, "*.whl"))) do
    local file = fs.basename(path)
    local parsed = assert(metadata.parse_wheel_filename(file), file)
    local project = metadata.normalize(parsed.name)
    assert(fs.copy(path, fs.join(dir, "files", file)))
    local sha = require("relrun.hash").file(path, { "sha256" }).sha256
    local page = string.format('<!DOCTYPE html>\n<html><body>\n<a href="../../files/%s#sha256=%s">%s</a>\n</body></html>\n',
      file, sha, file)
    assert(fs.mkdir(fs.join(dir, "simple", project)))
    assert(fs.write(fs.join(dir, "simple", project, "index.html"), page))
    found[project] = parsed.version
    names[#names + 1] = project
  end
  table.sort(names)
  local links = {}
  for _, n in ipairs(names) do links[#links + 1] = string.format('<a href="%s/">%s</a>', n, n) end
  assert(fs.write(fs.join(dir, "simple", "index.html"),
    "<!DOCTYPE html>\n<html><body>\n" .. table.concat(links, "\n") .. "\n</body></html>\n"))
  return found
end

-- The file names inside a wheel or sdist, sorted (folders left out).
function M.members(path)
  local names = {}
  for _, e in ipairs(assert(archive.list(path))) do
    if e.type ~= "directory" then names[#names + 1] = e.name end
  end
  table.sort(names)
  return names
end

-- The METADATA (wheel) or PKG-INFO (sdist) text of a built file.
function M.metadata(path)
  local member, text = metadata.metadata_file(path)
  assert(member, text)
  return text
end

return M
