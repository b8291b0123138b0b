-- relrun.project: one view of the project being released — its repository
-- (opened once), its settings with their sources, its release tags, its
-- build backend and where its version comes from. Every script starts here.
--
--   local p = errors.check(project.open{ dir = ".", flags = opts })
--   p.root, p.dir, p.subdir          -- the checkout, the Python project in it, the path between
--   p.cfg, p.package, p.scheme       -- settings (config.lua), distribution name, tag scheme (tags.lua)
--   p:tag_names()                    -- the tags of this clone
--   p:releases(names) / p:last_release(names)
--   p:commit("v1.2.3")               -- { id, tree, time } of the commit a revision names
--   p:backend()                      -- { name, module, requires, version_source, ... }
--   p:close()
local git = require "relrun.git"
local fs = require "relrun.fs"
local config = require "relrun.config"
local tags = require "relrun.tags"
local errors = require "relrun.errors"

local M = {}
local Project = {}
Project.__index = Project

-- The folder holding the repository's shared refs (a worktree's .git
-- names it in `commondir`).
local function common_dir(repo)
  local gitdir = repo:path():gsub("/$", "")
  local common = fs.read(fs.join(gitdir, "commondir"))
  if not common then return gitdir end
  common = common:gsub("%s+$", "")
  return common:sub(1, 1) == "/" and common or fs.join(gitdir, common)
end

-- The repository's default branch and how it is known: the remote's as
-- the clone recorded it (refs/remotes/origin/HEAD: master for tomlkit,
-- certifi, pypa/hatch), else master when there is no main, else main.
-- It is the release branch when none is configured.
function Project:default_branch()
  if self._default_branch then return self._default_branch, self._default_why end
  local remote, repo = self.cfg.remote, self.repo
  local head = fs.read(fs.join(common_dir(repo), "refs", "remotes", remote, "HEAD"))
  local name = head and head:match("^ref: refs/remotes/" .. remote:gsub("%p", "%%%0") .. "/(%S+)")
  local why = name and ("detected: " .. remote .. "/HEAD")
  if not name then
    -- a ref exists as a loose file or a packed-refs line: read from the
    -- files, as asking libgit2 would start it (~3 ms) for a name
    local common = common_dir(repo)
    local packed = (fs.read(fs.join(common, "packed-refs")) or "") .. "\n"
    local function has_ref(ref)
      return (fs.stat(fs.join(common, ref)) or {}).type == "file" or packed:find(" " .. ref .. "\n", 1, true) ~= nil
    end
    local function exists(b)
      return has_ref("refs/heads/" .. b) or has_ref("refs/remotes/" .. remote .. "/" .. b)
    end
    if not exists("main") and exists("master") then name, why = "master", "detected: no main branch, a master branch"
    else name, why = "main", "default" end
  end
  self._default_branch, self._default_why = name, why
  return name, why
end

local function has_project_file(dir)
  return fs.exists(fs.join(dir, "pyproject.toml")) or fs.exists(fs.join(dir, "setup.py"))
    or fs.exists(fs.join(dir, "setup.cfg"))
end

-- The project's folder, absolute: `dir` when given; else the current
-- folder, or, run from a folder inside the project (tqdm/contrib), the
-- nearest folder up to the repository's top that holds a pyproject.toml,
-- setup.py or setup.cfg (as `relrun version` finds the repository).
function M.locate(dir)
  if dir then return fs.absolute(dir) end
  local here = fs.realpath(".") or fs.absolute(".")
  local up = here
  while not has_project_file(up) do
    if fs.exists(fs.join(up, ".git")) or up == "/" then return here end
    up = fs.dirname(up)
  end
  return up
end

-- open{ dir = ".", flags = {}, getenv, need_repo = true, partial, pyproject } -> project | nil, err.
-- partial: the settings may be incomplete (config.load's partial; setup.lua).
-- pyproject: the decoded pyproject.toml to use instead of reading it (false:
-- none), so the doctor can look at a project whose file does not parse.
function M.open(opts)
  opts = opts or {}
  local dir = M.locate(opts.dir)
  if not fs.exists(dir) then
    return nil, errors.new("NO_PROJECT", dir .. " does not exist", { hint = "pass the project folder (--project)", exit = 2 })
  end
  local p = setmetatable({ dir = dir }, Project)
  local repo, err, code = git.open(dir)
  if repo then
    local workdir = repo:workdir()
    if not workdir then
      repo:close()
      return nil, errors.new("BARE", dir .. " is a bare repository", { hint = "run this from a clone with a working tree" })
    end
    p.repo, p.root = repo, (workdir:gsub("/$", ""))
    local root_real, dir_real = fs.realpath(p.root), fs.realpath(dir)
    p.subdir = dir_real:sub(#root_real + 2)
  elseif opts.need_repo ~= false then
    return nil, errors.new(code == "GIT_ENOTFOUND" and "NOT_A_REPO" or tostring(code),
      string.format("%s is not in a git repository (%s)", dir, tostring(err)),
      { hint = "run this from a clone of the project" })
  end
  local py, perr = opts.pyproject, nil
  if py == nil then py, perr = config.read_pyproject(dir) end
  if py == nil then p:close(); return nil, perr end
  p.py = py or nil
  local cfg, cerr = config.load{ project_dir = dir, pyproject = py, flags = opts.flags, getenv = opts.getenv,
                                 partial = opts.partial }
  if not cfg then p:close(); return nil, cerr end
  p.cfg, p.package = cfg, cfg.package
  if p.repo and cfg.source.branch == "default" then cfg.branch, cfg.source.branch = p:default_branch() end
  p.scheme = tags.scheme{ prefix = cfg.tag_prefix, names = p.repo and p:tag_names() or {}, package = p.package,
                          targets = p._tag_targets }
  return p
end

function Project:close()
  if self.repo then self.repo:close() end
  self.repo = nil
end

-- The project's name, or an error saying there is nothing to release.
function Project:require_package()
  if self.package then return self.package end
  local here = self.py or fs.exists(fs.join(self.dir, "setup.py")) or fs.exists(fs.join(self.dir, "setup.cfg"))
  if here then   -- a project whose name relrun cannot read (a setup.py that computes it)
    errors.raise("NO_PACKAGE", self.dir .. ": relrun cannot read the project's name (no [project] name, setup.cfg " ..
      "[metadata] name or plain setup.py name=)", { hint = "add [tool.relrun] package = \"NAME\" to " ..
      "pyproject.toml and commit it", exit = 2 })
  end
  errors.raise("NO_PACKAGE", self.dir .. " has no Python project to release (no pyproject.toml with [project] name, " ..
    "no [tool.relrun] package)", { hint = "run this in the project's folder or pass --project DIR", exit = 2 })
end

-- The tag names of this clone (cached: tags do not change under a script
-- unless it makes them, and then it calls refresh()).
function Project:tag_names()
  if not self._tags then
    self._tags = {}
    self._tag_targets = {}
    for _, t in ipairs(self.repo:tags{ details = false }) do
      self._tags[#self._tags + 1] = t.name
      self._tag_targets[t.name] = t.target
    end
  end
  return self._tags
end

function Project:refresh() self._tags, self._last_release = nil, nil end

-- The commit a tag of this clone points at, or nil.
function Project:tag_target(name)
  self:tag_names()
  return self._tag_targets[name]
end

function Project:releases(names) return self.scheme:releases(names or self:tag_names()) end

-- The tag of `version` in this clone, however it is spelled (certifi's
-- 2026.07.22 is version 2026.7.22), else the scheme's name for it.
function Project:release_tag(version)
  local want = require("relrun.pep440").parse(version)
  for _, r in ipairs(want and self.repo and self:releases() or {}) do
    if r.parsed == want then return r.name end
  end
  return self.scheme:tag(version)
end

-- The last release HEAD builds on (tags.Scheme:last): among `names` (this
-- clone's tags by default), leaving out tags HEAD does not hold and
-- abandoned pre-releases. `ids`: name -> commit id for tags this clone has
-- not fetched (the remote's). -> { name, version, parsed } | nil.
function Project:last_release(names, ids)
  if names == nil then   -- this clone's tags: asked by several checks, the same until refresh()
    if self._last_release == nil then self._last_release = self:find_last_release(self:tag_names()) or false end
    return self._last_release or nil
  end
  return self:find_last_release(names, ids)
end

function Project:find_last_release(names, ids)
  local repo = self.repo
  local head = repo and repo:head()
  if not (head and head.id) then return self.scheme:last(names or self:tag_names()) end
  -- From the default branch every release counts, held or not: pytest
  -- tags its releases on release branches main never merges (main holds
  -- 8.3.0, the last release is 9.1.1). From another release branch (a
  -- maintenance branch: --branch 1.0.x) only what it holds does.
  local every = self.cfg.branch == self:default_branch()
  local function holds(a, b)
    local base = repo:merge_base(a, b)
    if base then return base == b end
    if not repo:is_shallow() then return false end   -- shallow: the commits between may be missing
  end
  local local_tags = {}
  for _, n in ipairs(self:tag_names()) do local_tags[n] = true end
  return self.scheme:last(names or self:tag_names(), function(name)
    -- a tag of this clone that names no commit (a tree, a blob) is no release
    if local_tags[name] and not self:tag_target(name) then return { contained = false } end
    local id = self:tag_target(name) or (ids and ids[name])
    local c = id and repo:commit(id)
    if not c then   -- not fetched: HEAD cannot hold it, unless the clone is shallow
      if every or repo:is_shallow() then return nil end
      return { contained = false }
    end
    local contained
    if not every then contained = holds(head.id, c.id) end
    return { contained = contained, time = c.time, id = c.id }
  end, holds, head.id)
end

-- OWNER/REPO on GitHub: the setting (GITHUB_REPOSITORY), else the release
-- remote's URL when it is a GitHub one; nil otherwise.
function Project:github_repository()
  if self.cfg.github_repository then return self.cfg.github_repository end
  for _, r in ipairs(self.repo and self.repo:remotes() or {}) do
    if r.name == self.cfg.remote then return require("relrun.github").repository_from_url(r.url) end
  end
end

-- The release tag names among a remote's refs ({ {name = "refs/tags/..."} }).
function M.remote_tag_names(refs)
  local names = {}
  for _, r in ipairs(refs or {}) do
    local name = r.name:match("^refs/tags/([^%^]+)$")
    if name then names[#names + 1] = name end
  end
  return names
end

-- commit(rev) -> { id, tree, time (the committer's, SOURCE_DATE_EPOCH), summary } | nil, err.
function Project:commit(rev)
  local c, err, code = self.repo:commit(rev)
  if not c then
    return nil, errors.new(code == "GIT_ENOTFOUND" and "NO_REVISION" or tostring(code),
      string.format("%s is not in this clone (%s)", rev, tostring(err)), { hint = "run `git fetch --tags`" })
  end
  return c
end

local table_at = require("relrun.util").at

-- The import names of the project's own packages, before anything is built:
-- the configured ones, else [tool.setuptools] packages, else the folders
-- with an __init__.py at the top of the project or of src/ (tests and docs
-- left out). verify takes them from the built wheel instead.
local NOT_PACKAGES = { tests = true, test = true, testing = true, docs = true, doc = true, build = true, dist = true,
                       examples = true, scripts = true, benchmarks = true, bench = true, tasks = true, tools = true }
M.NOT_PACKAGES = NOT_PACKAGES
function Project:import_names()
  if self.cfg.imports and #self.cfg.imports > 0 then return self.cfg.imports end
  return self:source_packages()
end

-- Whether `dir` holds Python at its top: a module, a package (a folder
-- with a .py file) or a namespace package (a folder of such folders). A
-- folder of C sources (src/libfoo/include/x.h) is not Python.
local function has_py(dir)
  for _, name in ipairs(fs.list(dir) or {}) do
    if name:match("%.py$") then return true end
  end
  return false
end

local function holds_python(dir)
  for _, name in ipairs(fs.list(dir) or {}) do
    if name:match("^[%a_][%w_]*%.py$") then return true end
    local sub = fs.join(dir, name)
    if name:match("^[%a_][%w_]*$") and (fs.stat(sub) or {}).type == "directory" then
      if has_py(sub) then return true end
      for _, inner in ipairs(fs.list(sub) or {}) do
        if inner:match("^[%a_][%w_]*$") and has_py(fs.join(sub, inner)) then return true end
      end
    end
  end
  return false
end

-- The folders the project's top-level packages are in, absolute: those
-- its build configuration names (setuptools' package-dir "" and
-- packages.find where, in pyproject.toml or setup.cfg; poetry's packages
-- `from`; the folders of hatch's wheel packages), else src/ or the
-- project's own folder. sqlalchemy keeps its package in lib/.
function Project:source_roots()
  if self._source_roots then return self._source_roots end   -- asked per module looked up: read once
  local roots, seen = {}, {}
  local function add(rel)
    if type(rel) ~= "string" or rel:find("^/") or rel:find("%.%.") then return end
    rel = rel:gsub("^%./", ""):gsub("/+$", "")
    local path = (rel == "" or rel == ".") and self.dir or fs.join(self.dir, rel)
    if not seen[path] and fs.stat(path) then seen[path] = true; roots[#roots + 1] = path end
  end
  local function each(list, fn)
    if type(list) == "string" then fn(list) elseif type(list) == "table" then for _, v in ipairs(list) do fn(v) end end
  end
  local py = self.py or {}
  add(table_at(py, "tool", "setuptools", "package-dir", ""))
  each(table_at(py, "tool", "setuptools", "packages", "find", "where"), add)
  local setupcfg = require "relrun.doctor.setupcfg"
  local cfg = setupcfg.read(self.dir) or {}
  add(((cfg.options or {}).package_dir or ""):match("^%s*=%s*([^\n]+)"))   -- package_dir = =lib
  each(setupcfg.list((cfg["options.packages.find"] or {}).where), add)
  each(table_at(py, "tool", "poetry", "packages"), function(pk) if type(pk) == "table" then add(pk.from) end end)
  each(table_at(py, "tool", "hatch", "build", "targets", "wheel", "packages"), function(path)
    add(type(path) == "string" and (path:match("^(.*)/[^/]+$") or "") or nil)
  end)
  -- none configured: src/ when it holds Python (the src layout every
  -- backend finds first: urllib3's dummyserver/ at the top is not shipped),
  -- else the project's own folder
  if #roots == 0 then add(holds_python(fs.join(self.dir, "src")) and "src" or ".") end
  self._source_roots = roots
  return roots
end

-- "/p or /p/src" (the source roots, for a message).
function Project:describe_source_roots()
  local roots = self:source_roots()
  if #roots <= 1 then return roots[1] or self.dir end
  return table.concat(roots, ", ", 1, #roots - 1) .. " or " .. roots[#roots]
end

-- The project's own top-level packages from its sources alone (the
-- configured imports left out): [tool.setuptools] packages, else the
-- folders with an __init__.py in the project's source roots.
function Project:source_packages()
  local packages = table_at(self.py, "tool", "setuptools", "packages")
  local out, seen = {}, {}
  local function add(name)
    if name and not seen[name] then seen[name] = true; out[#out + 1] = name end
  end
  if type(packages) == "table" and packages[1] then
    for _, pkg in ipairs(packages) do add(tostring(pkg):match("^[^.]+")) end
    return out
  end
  for _, base in ipairs(self:source_roots()) do
    for _, name in ipairs(fs.list(base) or {}) do
      if name:match("^[%a_][%w_]*$") and not NOT_PACKAGES[name] and fs.exists(fs.join(base, name, "__init__.py")) then
        add(name)
      end
    end
  end
  if #out == 0 and self.package then add((self.package:lower():gsub("[-.]+", "_"))) end
  table.sort(out)
  return out
end

---------------------------------------------------------------------------
-- The build backend and the version source
---------------------------------------------------------------------------

local BACKENDS = {
  ["setuptools.build_meta"] = "setuptools", ["setuptools.build_meta:__legacy__"] = "setuptools",
  -- hatchling.ouroboros: hatchling building itself from its own tree (pypa/hatch's backend/)
  ["hatchling.build"] = "hatchling", ["hatchling.ouroboros"] = "hatchling",
  ["flit_core.buildapi"] = "flit_core", ["flit.buildapi"] = "flit_core",
  ["poetry.core.masonry.api"] = "poetry-core", ["poetry.masonry.api"] = "poetry-core",
  ["pdm.backend"] = "pdm-backend", ["pdm.pep517.api"] = "pdm-backend", ["maturin"] = "maturin",
  ["scikit_build_core.build"] = "scikit-build-core", ["mesonpy"] = "meson-python",
}

local KNOWN_BACKEND = {}
for _, name in pairs(BACKENDS) do KNOWN_BACKEND[name] = true end

local function list_has(list, pattern)
  for _, item in ipairs(type(list) == "table" and list or {}) do
    if type(item) == "string" and item:lower():find(pattern) then return item end
  end
end

-- Where the version comes from, for the backend `name`:
-- "static" (the version is written in the project), "scm" (from git tags:
-- setuptools_scm, hatch-vcs, pdm's scm source), "attr"/"file" (read from
-- the code), "unknown".
local function version_source(self, name, requires)
  local py = self.py or {}
  local project = type(py.project) == "table" and py.project or nil
  if project and project.version then return "static", tostring(project.version) end
  local dynamic = project and list_has(project.dynamic, "^version$")
  if name == "poetry-core" and not dynamic then
    local v = table_at(py, "tool", "poetry", "version")
    if v then return "static", tostring(v) end
  end
  -- a backend of the project's own (backend-path) over setuptools takes
  -- the version as setuptools does (pyyaml's _pyyaml_pep517)
  local in_tree = not KNOWN_BACKEND[name] and table_at(py, "build-system", "backend-path")
    and list_has(requires, "^setuptools%f[^%w_.-]")
  if name == "setuptools" or in_tree then
    if table_at(py, "tool", "setuptools_scm") or list_has(requires, "^setuptools[%-_]scm") then return "scm" end
    local dyn = table_at(py, "tool", "setuptools", "dynamic", "version")
    if type(dyn) == "table" and dyn.attr then return "attr", dyn.attr end
    if type(dyn) == "table" and dyn.file then return "file", tostring(dyn.file) end
    local cfg = fs.read(fs.join(self.dir, "setup.cfg"))
    local v = cfg and cfg:match("\n%s*version%s*=%s*([^\n]+)")
    if v then
      v = v:gsub("%s+$", "")
      if v:find("^attr:") then return "attr", (v:gsub("^attr:%s*", "")) end
      if v:find("^file:") then return "file", (v:gsub("^file:%s*", "")) end
      return "static", v
    end
    if fs.exists(fs.join(self.dir, "setup.py")) then return "setup.py" end
  elseif name == "hatchling" then
    local src = table_at(py, "tool", "hatch", "version")
    if type(src) == "table" and src.source == "vcs" then return "scm" end
    if type(src) == "table" and src.path then return "file", src.path end
  elseif name == "flit_core" then
    return "attr", "__version__"
  elseif name == "pdm-backend" then
    local src = table_at(py, "tool", "pdm", "version")
    if type(src) == "table" and src.source == "scm" then return "scm" end
    if type(src) == "table" and src.path then return "file", src.path end
  end
  return "unknown"
end

-- backend() -> { name, module, requires, legacy = bool, version_source, version }
-- From [build-system]; a project without one is built by setuptools'
-- legacy backend, as pip and `python -m build` do (PEP 517).
function Project:backend()
  if self._backend then return self._backend end
  local bs = type(self.py) == "table" and self.py["build-system"] or nil
  local b
  if type(bs) ~= "table" or not bs["build-backend"] then
    b = { name = "setuptools", module = "setuptools.build_meta:__legacy__", legacy = true,
          requires = type(bs) == "table" and bs.requires or { "setuptools>=40.8.0" } }
  else
    local module = tostring(bs["build-backend"])
    b = { name = BACKENDS[module] or module, module = module, requires = bs.requires or {} }
  end
  b.version_source, b.version = version_source(self, b.name, b.requires)
  self._backend = b
  return b
end

return M
