-- Where a project's version comes from and what version its backend will
-- build, per build backend (relrun.project's p:backend()), read without
-- running the backend: the doctor's "version source" and "version gate".
--
--   local v = version.read(p)
--   v.source     -- "static" | "scm" | "attr" | "file" | "setup.py" | "unknown" (p:backend().version_source)
--   v.version    -- the version the backend will build, when a file says it plainly (static, attr, file, setup.py)
--   v.where      -- where it is: "pyproject.toml [project] version", "src/pkg/__init__.py __version__", ...
--   v.why        -- when v.version is nil and the source is not scm: why it could not be told
--   v.tool       -- scm only: "setuptools_scm" | "hatch-vcs" | "pdm-backend"
--   version.scm_config(p) -> relrun.scm config for the project's scm tool | nil, why
local fs = require "relrun.fs"
local scm = require "relrun.scm"

local M = {}
local version_module

local at = require("relrun.util").at

-- A string literal assigned to `name` at the top of a Python file
-- (`__version__ = "1.2.3"`, also annotated): what setuptools' attr:, flit
-- and hatch's regex source read without importing. -> value | nil.
local function assigned(text, name)
  local found
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    local rhs = line:match("^" .. name .. "%s*=%s*(.-)%s*$") or line:match("^" .. name .. "%s*:[^=]*=%s*(.-)%s*$")
    if rhs then
      rhs = rhs:gsub("%s+#.*$", "")
      local q, value = rhs:match("^([\"'])(.-)%1$")
      if not q or value:find("[\"'\\]") or (found and found ~= value) then return nil end
      found = value
    end
  end
  return found
end
M.assigned = assigned

-- The file of a dotted module in the project's source roots (its folder,
-- src/, or where its build configuration keeps packages).
local function module_file(p, dotted)
  local rel = dotted:gsub("%.", "/")
  for _, base in ipairs(p:source_roots()) do
    for _, candidate in ipairs({ fs.join(base, rel, "__init__.py"), fs.join(base, rel .. ".py") }) do
      if fs.exists(candidate) then return candidate end
    end
  end
end

local function rel(p, path)
  return path:sub(1, #p.dir + 1) == p.dir .. "/" and path:sub(#p.dir + 2) or path
end

local function static_where(p, b)
  if at(p.py, "project", "version") then return "pyproject.toml [project] version" end
  if b.name == "poetry-core" then return "pyproject.toml [tool.poetry] version" end
  return "setup.cfg [metadata] version"
end

-- attr: "pkg.module.__version__" (setuptools) or "__version__" (flit: in
-- the module named by [tool.flit.module], else the project's name).
local function read_attr(p, b, out)
  local dotted, name = tostring(b.version):match("^(.*)%.([%w_]+)$")
  if not dotted then
    dotted = at(p.py, "tool", "flit", "module", "name") or (p.package or ""):gsub("[-.]+", "_")
    name = b.version
  end
  local path = dotted ~= "" and module_file(p, dotted)
  if not path then
    out.why = "the module " .. dotted .. " is not in " .. p:describe_source_roots()
    return out
  end
  out.where = rel(p, path) .. " " .. name
  out.version = assigned(fs.read(path) or "", name)
  if not out.version then out.why = out.where .. " is not a plain string assignment" end
  return out
end

-- hatch's regex version source: `pattern` searched in the file line by
-- line (hatch searches with re.MULTILINE), its `version` group (or its
-- first) the version. scrapy: path = "scrapy/VERSION", pattern = "^(?P<version>.+)$".
-- -> version | nil, why.
local function hatch_pattern(text, pattern)
  local re, err = require("relrun.pyre").compile(pattern)
  if not re then return nil, err end
  local anchored = pattern:gsub("^%(%?i%)", ""):sub(1, 1) == "^"
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    for i = 1, anchored and 1 or math.max(#line, 1) do
      local m = re:match(line:sub(i))
      if m then return re.names.version and m:group("version") or m:group(1) end
    end
  end
  return nil, "pattern " .. pattern .. " matches nothing there"
end

-- file: setuptools reads a text file holding only the version; hatchling
-- and pdm a Python file with __version__ (or VERSION) = "...", or what
-- hatch's [tool.hatch.version] pattern finds.
local function read_file(p, b, out)
  local name = tostring(b.version):match("^%s*([^,]-)%s*$") or tostring(b.version)
  local path = fs.join(p.dir, name)
  local text = fs.read(path)
  out.where = name
  if not text then
    out.why = name .. " does not exist"
  elseif b.name == "setuptools" then
    out.version = text:match("^%s*(%S+)%s*$")
    if not out.version then out.why = name .. " holds more than a version" end
  elseif b.name == "hatchling" and type(at(p.py, "tool", "hatch", "version", "pattern")) == "string" then
    local pattern = at(p.py, "tool", "hatch", "version", "pattern")
    local why
    out.version, why = hatch_pattern(text, pattern)
    if not out.version then out.why = name .. ": " .. why end
  else
    out.version = assigned(text, "__version__") or assigned(text, "VERSION")
    if not out.version then out.why = name .. " has no plain __version__ = \"...\"" end
  end
  return out
end

-- The file a setup.py names as a path: open("certifi/__init__.py") or
-- os.path.join(ROOT, "boto3", "__init__.py") (its literal parts joined),
-- when it names exactly one .py file that exists. -> path | nil.
local function opened_file(p, text)
  local found
  local function consider(file)
    if not file or not file:find("%.py$") then return true end
    if found and found ~= file then return false end
    found = file
    return true
  end
  for file in text:gmatch("open%(%s*[\"']([%w_./-]+%.py)[\"']") do
    if not consider(file) then return nil end
  end
  for args in text:gmatch("os%.path%.join(%b())") do
    local parts = {}
    for _, part in args:gmatch("([\"'])([%w_.-]+)%1") do parts[#parts + 1] = part end
    if not consider(#parts > 0 and table.concat(parts, "/") or nil) then return nil end
  end
  return found and fs.exists(fs.join(p.dir, found)) and fs.join(p.dir, found) or nil
end

-- The module whose __version__ a setup.py reads: `version=six.__version__`
-- after `import six`; `from mypy.version import __version__ as version`;
-- or the one file it opens that holds __version__ (certifi, boto3: a
-- regex over the file). -> path | nil.
function version_module(p, text)
  local name = text:match("%f[%w_]version%s*=%s*([%a_][%w_]*)%.__version__")
    or ("\n" .. text):match("\nfrom%s+([%a_][%w_.]*)%s+import%s+__version__%f[^%w_]")
  if name then return module_file(p, name) end
  if not text:find("__version__", 1, true) then return nil end
  return opened_file(p, text)
end

-- setup.py: version="..." as one whole literal in the file, else the
-- __version__ of the module it reads (version_module), else unknown.
local function read_setup_py(p, out)
  local text = fs.read(fs.join(p.dir, "setup.py")) or ""
  local found, n = nil, 0
  for q, value, after in text:gmatch("%f[%w_]version%s*=%s*([\"'])([^\"'\n]*)%1(%s*[,)\n])") do
    if q and after then n, found = n + 1, value end
  end
  out.where = "setup.py version="
  if n == 1 then out.version = found; return out end
  -- version=VERSION over VERSION = '7.0.0.dev0' in setup.py itself (pyyaml)
  local name = text:match("%f[%w_]version%s*=%s*([%a_][%w_]*)%s*[,)\n]")
  local value = name and assigned(text, name)
  if value then
    out.version, out.where = value, "setup.py " .. name
    return out
  end
  local path = version_module(p, text)
  out.version = path and assigned(fs.read(path) or "", "__version__")
  if out.version then
    out.where = rel(p, path) .. " __version__ (read by setup.py)"
  else
    out.why = "setup.py does not set version= to one plain string"
  end
  return out
end

-- setuptools appends egg_info's tag_build to every version it builds
-- (sqlalchemy's main: `[tool.distutils.egg_info] tag-build = "dev"` makes
-- 2.1.0b4 build as 2.1.0b4.dev0). -> the suffix | nil.
local function tag_build(p)
  local egg_info = at(p.py, "tool", "distutils", "egg_info") or {}
  local tag = egg_info["tag-build"] or egg_info.tag_build
  if tag == nil then tag = ((require("relrun.doctor.setupcfg").read(p.dir) or {}).egg_info or {}).tag_build end
  return type(tag) == "string" and tag:match("%S") and tag or nil
end

local function apply_tag_build(p, out)
  local tag = out.version and tag_build(p)
  if not tag then return out end
  out.version = require("relrun.pep440").normalize(out.version .. tag) or (out.version .. tag)
  out.where = out.where .. " with egg_info tag_build = \"" .. tag .. "\""
  return out
end

local SCM_TOOLS = { setuptools = "setuptools_scm", hatchling = "hatch-vcs", ["pdm-backend"] = "pdm-backend" }

function M.read(p)
  local b = p:backend()
  local out = { source = b.version_source, backend = b.name }
  if b.version_source == "static" then
    out.version, out.where = b.version, static_where(p, b)
  elseif b.version_source == "scm" then
    out.tool = SCM_TOOLS[b.name] or b.name
    out.where = "git tags, through " .. out.tool
  elseif b.version_source == "attr" then
    read_attr(p, b, out)
  elseif b.version_source == "file" then
    read_file(p, b, out)
  elseif b.version_source == "setup.py" then
    read_setup_py(p, out)
  else
    out.why = "relrun cannot tell where " .. b.name .. " takes the version from"
  end
  if b.name == "setuptools" and out.source ~= "scm" then apply_tag_build(p, out) end
  return out
end

-- The relrun.scm configuration the project's scm tool uses.
-- (relrun.scm reads hatch-vcs' [tool.hatch.version] as hatch-vcs does.)
function M.scm_config(p)
  return scm.config{ dir = p.dir, pyproject = p.py and fs.join(p.dir, "pyproject.toml") or false }
end

return M
