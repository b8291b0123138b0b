-- RELEASE.md "Troubleshooting: Build Failures" as checks: the project's
-- pyproject.toml, setuptools_scm's configuration, the interpreter, the
-- imports, the checkout, and the version gate.
local checks = require "relrun.checks"
local proc = require "relrun.proc"
local fs = require "relrun.fs"

local M = {}

-- Import names that differ from their distribution's name.
local DIST_OF_IMPORT = {
  yaml = "pyyaml", PIL = "pillow", sklearn = "scikit_learn", bs4 = "beautifulsoup4", dateutil = "python_dateutil",
  attr = "attrs", dotenv = "python_dotenv", jwt = "pyjwt", magic = "python_magic", cv2 = "opencv_python",
  google = "google", jose = "python_jose", git = "gitpython", serial = "pyserial", usb = "pyusb",
}

local function normalize(name)
  return (name:lower():gsub("[-_.]+", "_"))
end

-- The interpreter the release builds with (the one with `build`).
local function python_of(ctx)
  if not ctx.python then
    ctx.python = require("relrun.build").find_python(ctx.cfg.python) or ctx.cfg.python or "python3"
  end
  return ctx.python
end

local function list_has(list, value)
  for _, v in ipairs(type(list) == "table" and list or {}) do
    if v == value then return true end
  end
  return false
end

-- The top-level modules a package's .py files import (not relative ones).
function M.imports_of(dir)
  local found = {}
  local function scan_file(path)
    local text = fs.read(path) or ""
    for line in text:gmatch("[^\n]+") do
      local from = line:match("^%s*from%s+([%w_]+)[%w_.]*%s+import")
      if from then found[from] = found[from] or path end
      local names = line:match("^%s*import%s+([%w_.,%s]+)")
      if names then
        for name in names:gmatch("([%w_]+)[%w_.]*") do
          if name ~= "as" then found[name] = found[name] or path end
        end
        -- "import a as b": drop the alias
        for alias in names:gmatch("%sas%s+([%w_]+)") do found[alias] = nil end
      end
    end
  end
  local function walk(d)
    for _, name in ipairs(fs.list(d) or {}) do
      local p = fs.join(d, name)
      local st = fs.lstat(p)
      if st and st.type == "directory" and name ~= "__pycache__" then walk(p)
      elseif name:match("%.py$") then scan_file(p) end
    end
  end
  walk(dir)
  return found
end

local function stdlib_names(python)
  local r = proc.run{ argv = { python, "-c", "import sys; print('\\n'.join(sorted(sys.stdlib_module_names)))" } }
  if not r or r.code ~= 0 then return nil end
  local names = {}
  for n in r.stdout:gmatch("[^\n]+") do names[n] = true end
  return names
end

local function package_dir(ctx, name)
  for _, base in ipairs({ ctx.project_dir, fs.join(ctx.project_dir, "src") }) do
    local d = fs.join(base, name)
    if fs.exists(fs.join(d, "__init__.py")) or fs.exists(d .. ".py") then return d end
  end
  return nil
end

function M.register(g, ctx)
  local py = ctx.cfg.pyproject

  g:check("pyproject.toml", function()
    if not py then
      return checks.fail("no pyproject.toml in " .. ctx.project_dir,
        "add one with [build-system] requires setuptools and setuptools_scm (see examples/stock-pipeline)")
    end
    return checks.ok("found " .. fs.join(ctx.project_dir, "pyproject.toml"))
  end)
  if not py then return end

  g:check("build-system requires setuptools_scm", function()
    local requires = py["build-system"] and py["build-system"].requires or {}
    for _, r in ipairs(requires) do
      if normalize(r:match("^[%w._-]+") or "") == "setuptools_scm" then
        return checks.ok("[build-system] requires " .. r)
      end
    end
    return checks.fail("[build-system] requires " .. table.concat(requires, ", ") .. " — no setuptools_scm",
      'add "setuptools_scm>=7" to [build-system] requires, or the version will not come from the tag')
  end)

  g:check("version is dynamic and [tool.setuptools_scm] is sane", function()
    local project = py.project or {}
    if project.version then
      return checks.fail("[project] version = " .. tostring(project.version) .. " is static",
        'remove it and add dynamic = ["version"]: the tag decides the version')
    end
    if not list_has(project.dynamic, "version") then
      return checks.fail('[project] dynamic does not list "version"', 'add dynamic = ["version"]')
    end
    local scm = py.tool and py.tool.setuptools_scm
    if not scm then
      return checks.fail("no [tool.setuptools_scm] table", "add an empty [tool.setuptools_scm] table to enable it")
    end
    local known_v = { ["guess-next-dev"] = 1, ["post-release"] = 1, ["no-guess-dev"] = 1, ["release-branch-semver"] = 1,
                      ["python-simplified-semver"] = 1, ["only-version"] = 1, ["calver-by-date"] = 1 }
    local known_l = { ["node-and-date"] = 1, ["node-and-timestamp"] = 1, ["dirty-tag"] = 1, ["no-local-version"] = 1 }
    if scm.version_scheme and not known_v[scm.version_scheme] then
      return checks.fail("version_scheme = " .. tostring(scm.version_scheme) .. " is not a setuptools_scm scheme",
        "use guess-next-dev (the default)")
    end
    if scm.local_scheme and not known_l[scm.local_scheme] then
      return checks.fail("local_scheme = " .. tostring(scm.local_scheme) .. " is not a setuptools_scm scheme",
        "use node-and-date (the default) or no-local-version")
    end
    if scm.tag_regex then
      local good = pcall(require("relrun.pyre").compile, scm.tag_regex)
      if not good then
        return checks.fail("tag_regex " .. scm.tag_regex .. " does not compile", "fix the regular expression")
      end
    end
    return checks.ok(string.format("dynamic version; version_scheme %s, local_scheme %s",
      scm.version_scheme or "guess-next-dev", scm.local_scheme or "node-and-date"))
  end)

  g:check("requires-python admits the interpreter", function()
    local spec = py.project and py.project["requires-python"]
    if not spec then return checks.warn("no requires-python", "declare it, e.g. requires-python = \">=3.9\"") end
    local r = proc.run{ argv = { python_of(ctx), "-c", [[
import sys
from packaging.specifiers import SpecifierSet
v = "%d.%d.%d" % sys.version_info[:3]
print(v, "yes" if SpecifierSet(sys.argv[1]).contains(v) else "no")]], spec } }
    if not r then return checks.skip("no interpreter " .. python_of(ctx)) end
    if r.stderr:find("No module named 'packaging'", 1, true) then
      return checks.skip(python_of(ctx) .. " has no `packaging` module to read the specifier with")
    end
    if r.code ~= 0 then
      return checks.fail("requires-python " .. spec .. " could not be read: " .. (r.stderr:match("([^\n]+)\n?$") or ""),
        "write a PEP 440 specifier such as >=3.9")
    end
    local version, yes = r.stdout:match("(%S+) (%S+)")
    if yes == "yes" then return checks.ok(python_of(ctx) .. " " .. version .. " is in " .. spec) end
    return checks.fail(python_of(ctx) .. " " .. version .. " is not in requires-python " .. spec,
      "build with an interpreter in that range (RELRUN_PYTHON=...) or widen requires-python")
  end)

  g:check("imports are declared dependencies or standard library", function()
    local stdlib = stdlib_names(python_of(ctx))
    if not stdlib then return checks.skip("cannot ask " .. python_of(ctx) .. " for its standard library") end
    local declared = {}
    for _, dep in ipairs(py.project and py.project.dependencies or {}) do
      declared[normalize(dep:match("^%s*([%w._-]+)") or "")] = true
    end
    local own, missing = {}, {}
    for _, name in ipairs(ctx.imports) do own[name] = true end
    for _, name in ipairs(ctx.imports) do
      local dir = package_dir(ctx, name)
      if dir then
        for mod, where in pairs(M.imports_of(dir)) do
          local dist = normalize(DIST_OF_IMPORT[mod] or mod)
          if not (own[mod] or stdlib[mod] or mod == "__future__" or declared[dist]) then
            missing[#missing + 1] = mod .. " (" .. where:sub(#ctx.project_dir + 2) .. ")"
          end
        end
      end
    end
    table.sort(missing)
    if #missing > 0 then
      return checks.fail("imported but not declared: " .. table.concat(missing, ", "),
        "add them to [project] dependencies, or pip install will give a package that fails to import")
    end
    return checks.ok("every import of " .. table.concat(ctx.imports, ", ") .. " is declared or standard")
  end)

  g:check("the checkout has its full history", function()
    if not ctx.repo then return checks.skip("not a git checkout") end
    if ctx.repo:is_shallow() then
      return checks.fail("the clone is shallow: setuptools_scm would guess a wrong version (0.1.dev1+g…)",
        "check out with fetch-depth: 0 (actions/checkout) or run `git fetch --unshallow --tags`")
    end
    return checks.ok("full clone")
  end)

  g:check("the working tree is clean", function()
    if not ctx.repo then return checks.skip("not a git checkout") end
    local st = ctx.repo:status()
    local changed = {}
    for _, f in ipairs(st.files) do
      if f.status ~= "untracked" then changed[#changed + 1] = f.path end
    end
    if #changed > 0 then
      return checks.fail("tracked files changed: " .. table.concat(changed, ", ", 1, math.min(#changed, 10)) ..
        (#changed > 10 and string.format(" and %d more", #changed - 10) or "") ..
        " — the version would carry a .dYYYYMMDD local segment", "commit or stash them")
    end
    return checks.ok("no changes to tracked files")
  end)

  g:check("the version gate", function()
    local scm = require "relrun.scm"
    local info, err = scm.explain(ctx.project_dir)
    if not info then return checks.fail(err, "see `relrun scripts/version.lua --explain`") end
    if info.how == "git" and info.tag and info.distance == 0 then
      local version, gerr = scm.gate(ctx.project_dir, info.tag)
      if not version then return checks.fail(gerr, "publish refuses this checkout until that is fixed") end
      return checks.ok("HEAD is " .. info.tag .. " and builds as " .. version)
    end
    if info.version:find("+", 1, true) or info.version:find("dev", 1, true) then
      return checks.ok(string.format("HEAD builds as %s (not a release: publish runs from a tag)", info.version))
    end
    return checks.ok("HEAD builds as " .. info.version)
  end)
end

return M
