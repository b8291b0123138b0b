-- RELEASE.md "Troubleshooting: Build Failures" as checks, for every build
-- backend relrun.project knows: the project's files and [tool.relrun]
-- settings, the backend and what it needs in the interpreter (or from the
-- index, for an isolated build), where the version comes from, the
-- interpreter, the imports, the long description as twine check renders
-- it, the checkout, and the version gate — that the backend will build the
-- release tag's version.
local checks = require "relrun.checks"
local proc = require "relrun.proc"
local fs = require "relrun.fs"
local json = require "relrun.json"
local pep440 = require "relrun.pep440"
local scm = require "relrun.scm"
local version = require "relrun.doctor.version"
local imports = require "relrun.doctor.imports"

local M = {}

local at = require("relrun.util").at

local function list_has(list, pattern)
  for _, v in ipairs(type(list) == "table" and list or {}) do
    if type(v) == "string" and v:lower():find(pattern) then return v end
  end
end

local function normalize(name)
  return (name:lower():gsub("[-_.]+", "_"))
end

local function req_name(text)
  return normalize(tostring(text):match("^%s*([%w._-]+)") or "")
end

-- The interpreter the release builds with (relrun.build's choice), once.
local function python_of(ctx)
  if ctx.python == nil then
    local build = require "relrun.build"
    local py, err = build.find_python(ctx.cfg.python)
    ctx.python, ctx.python_error = py or false, err
  end
  return ctx.python or nil, ctx.python_error
end

-- A python that can answer questions (the build's, else any python3).
local function any_python(ctx)
  return python_of(ctx) or ctx.cfg.python or proc.which("python3") or "python3"
end

---------------------------------------------------------------------------
-- The project's files and settings
---------------------------------------------------------------------------

local function files_check(g, ctx)
  g:check("pyproject.toml", function()
    local p = ctx.project
    local bad = ctx.findings.pyproject
    if bad then
      return checks.fail(bad.message, "fix the TOML syntax and commit it: every build tool reads this file first")
    end
    local path = fs.join(p.dir, "pyproject.toml")
    if p.py then return checks.ok("found " .. path) end
    for _, name in ipairs({ "setup.py", "setup.cfg" }) do
      if fs.exists(fs.join(p.dir, name)) then
        return checks.ok("none; " .. name .. " is built by setuptools' legacy backend, as pip and python -m build do")
      end
    end
    return checks.fail("no pyproject.toml, setup.py or setup.cfg in " .. p.dir,
      "run the doctor in the project's folder (--project DIR), or add a pyproject.toml with [build-system] and [project]")
  end)
end

local function settings_check(g, ctx)
  g:check("[tool.relrun] settings", function()
    local bad = ctx.findings.settings
    if #bad > 0 then
      local lines, hint = {}, nil
      for _, err in ipairs(bad) do lines[#lines + 1] = err.message; hint = hint or err.hint end
      return checks.fail(table.concat(lines, "; "), "fix pyproject.toml; " ..
        (hint or "`relrun release config --keys` lists the settings"))
    end
    local n = 0
    for _, source in pairs(ctx.cfg.source) do
      if tostring(source):find("^pyproject%.toml %[tool%.relrun%]") then n = n + 1 end
    end
    if n == 0 then return checks.ok("none set (the defaults and the environment apply)") end
    return checks.ok(string.format("%d setting%s, each a known key of the right type", n, n == 1 and "" or "s"))
  end, "pyproject.toml [tool.relrun] (relrun.config's schema)")
end

---------------------------------------------------------------------------
-- The backend and what it needs
---------------------------------------------------------------------------

-- Which requirements an index lacks at the versions asked for (packaging's
-- own rules: pre-releases only when nothing else fits, as pip does).
local INDEX_CHECK = [[
import sys, json
from packaging.requirements import Requirement
from packaging.version import Version, InvalidVersion
reqs, have = json.loads(sys.argv[1]), json.loads(sys.argv[2])
out = {}
for text in reqs:
    r = Requirement(text)
    if r.marker and not r.marker.evaluate({"extra": ""}):
        continue
    versions = []
    for v in have.get(text) or []:
        try:
            versions.append(Version(v))
        except InvalidVersion:
            pass
    best = sorted(r.specifier.filter(versions))
    out[text] = str(best[-1]) if best else None
print(json.dumps(out))
]]

-- The newest version of each requirement the index offers that fits, or
-- false. -> { [req] = version | false } | nil, why
local function on_index(python, index, requires)
  local files_of = require("relrun.pypi.index").files
  local parse = require("relrun.pypi.metadata").parse_filename
  local have = {}
  for _, req in ipairs(requires) do
    local name = tostring(req):match("^%s*([%w._-]+)")
    local files, err = files_of(index, name or "")
    if not files then return nil, "the index did not answer for " .. tostring(name) .. ": " .. tostring(err) end
    local versions = {}
    for _, f in ipairs(files) do
      local parsed = not f.yanked and parse(f.filename)
      if parsed then versions[#versions + 1] = parsed.version end
    end
    have[req] = versions
  end
  local r = proc.run{ argv = { python, "-c", INDEX_CHECK, json.encode(requires), json.encode(have) }, cwd = "/" }
  if not r or r.code ~= 0 then return nil, r and (r.stderr:match("([^\n]+)\n?$")) or "python did not run" end
  local out = json.decode(r.stdout) or {}
  for k, v in pairs(out) do if v == json.null then out[k] = false end end
  return out
end

-- An isolated build installs the requirements from the index: say which,
-- and whether the index has versions that fit.
local function isolated_result(ctx, python, b, how)
  local cfg = ctx.cfg
  local index = cfg.build.index_url or os.getenv("PIP_INDEX_URL") or "https://pypi.org/simple/"
  local shown = index:gsub("//[^/@]*@", "//")
  local list = table.concat(b.requires, ", ")
  if ctx.opts.offline then
    return checks.ok(string.format("isolated build (%s): it installs %s from %s (--offline: the index was not asked)",
      how, list, shown))
  end
  local found, err = on_index(python, index, b.requires)
  if not found then return checks.warn(string.format("isolated build (%s) from %s: %s", how, shown, err),
    "check that the index answers, or build with the installed backend (--no-isolation)") end
  local lacking, fitting = {}, {}
  for _, req in ipairs(b.requires) do
    if found[req] == false then lacking[#lacking + 1] = req
    elseif found[req] then fitting[#fitting + 1] = req .. " (" .. found[req] .. ")" end
  end
  if #lacking > 0 then
    return checks.fail(string.format("isolated build (%s): the index %s has nothing that fits %s",
      how, shown, table.concat(lacking, ", ")), "add them to that index, name another ([tool.relrun.build] " ..
      "index_url), or build with the installed backend ([tool.relrun.build] isolation = false, --no-isolation)")
  end
  return checks.ok(string.format("isolated build (%s): %s has %s (their own requirements are pip's to resolve)",
    how, shown, table.concat(fitting, ", ")))
end

-- Whether the release builds isolated, decided as relrun.phases.build does
-- (the setting, else whether the index answers); --offline asks no index.
local function isolation(ctx)
  local cfg = ctx.cfg
  if cfg.build.isolation ~= nil then
    return cfg.build.isolation, "from " .. tostring(cfg.source["build.isolation"])
  end
  if ctx.opts.offline then return nil, "--offline: the index was not asked" end
  local decided = require("relrun.phases.build").isolation{ project = ctx.project }
  return decided, decided and "the index answers" or "the index does not answer"
end

-- PEP 639's license fields: an expression (`license = "MIT"`), which
-- setuptools reads from 77 on and flit_core from 3.11 (3.12 with AND / OR),
-- and a `license-files` list, read by hatchling from 1.27 (1.12 wants a
-- table), setuptools from 77 and flit_core from 3.11. Older backends stop
-- the build, and a project whose requires admit them (gunicorn's
-- setuptools>=61.2) passes the requirements check. -> the finding, the
-- version needed | nil.
local LICENSE_EXPRESSION = { setuptools = "77", flit_core = "3.11" }
local LICENSE_FILES = { hatchling = "1.27", setuptools = "77", flit_core = "3.11" }
local function license_fields_problem(p, b, python)
  local license, files = at(p.py, "project", "license"), at(p.py, "project", "license-files")
  local field, min
  if type(license) == "string" and LICENSE_EXPRESSION[b.name] then
    field, min = string.format("license = %q is a license expression", license), LICENSE_EXPRESSION[b.name]
    if b.name == "flit_core" and (license:find(" AND ", 1, true) or license:find(" OR ", 1, true)) then min = "3.12" end
  elseif type(files) == "table" and files[1] ~= nil and LICENSE_FILES[b.name] then
    field, min = "license-files is a list", LICENSE_FILES[b.name]
  end
  if not field then return nil end
  local old = require("relrun.build").missing_requirements(python, { b.name .. ">=" .. min })
  if not old or #old == 0 then return nil end
  return string.format("[project] %s, which %s reads from %s on: %s has %s %s", field, b.name, min, python, b.name,
    old[1]:match("%(([^ ]+) is installed%)") or "none"), min
end

-- Classifiers the build's validation refuses: setuptools and hatchling
-- check [project] classifiers against the interpreter's trove-classifiers,
-- and Debian 12's knows no "Python :: 3.13" (pip-tools, colorama, hatch).
-- -> the finding | nil (none, or no trove-classifiers to ask).
local VALIDATES_CLASSIFIERS = { setuptools = true, hatchling = true }
local function classifiers_problem(p, b, python)
  local list = at(p.py, "project", "classifiers")
  if not VALIDATES_CLASSIFIERS[b.name] or type(list) ~= "table" or #list == 0 then return nil end
  local r = proc.run{ argv = { python, "-c", "import json, sys, trove_classifiers as t\n" ..
    "print(json.dumps([c for c in json.loads(sys.argv[1]) if c not in t.classifiers and not c.startswith('Private ::')]))",
    json.encode(list) }, cwd = "/" }
  local unknown = r and r.code == 0 and json.decode(r.stdout)
  if type(unknown) ~= "table" or #unknown == 0 then return nil end
  return string.format("%s's trove-classifiers does not know %s, which %s refuses", python,
    table.concat(unknown, ", "), b.name)
end

local function requirements_check(g, ctx)
  g:check("the build backend and its requirements", function()
    local p = ctx.project
    local b = p:backend()
    local python, perr = python_of(ctx)
    if not python then return checks.fail(tostring(perr and perr.message or perr),
      perr and perr.hint or "install python3-build (apt) or `pip install build`") end
    local what = string.format("%s (%s%s)", b.name, b.module, b.legacy and ", no [build-system]: PEP 517's default" or "")
    local in_tree = at(p.py, "build-system", "backend-path")
    if #b.requires == 0 and in_tree then   -- setuptools and poetry-core build themselves so
      return checks.ok(what .. ": the backend is the project's own (backend-path " ..
        table.concat(type(in_tree) == "table" and in_tree or { tostring(in_tree) }, ", ") .. "), nothing to install")
    end
    if #b.requires == 0 then
      return checks.fail(what .. ": [build-system] requires is empty",
        "list the backend in [build-system] requires (e.g. \"" .. b.name .. "\")")
    end
    local isolated, how = isolation(ctx)
    if isolated then return isolated_result(ctx, python, b, how) end
    local build = require "relrun.build"
    local missing, err = build.missing_requirements(python, b.requires)
    if not missing then return checks.fail(err.message, "install python3-packaging for " .. python) end
    -- every finding at once: a release attempt per finding is what this check saves
    local found, todo = {}, {}
    local skip = p.cfg.build.skip_dependency_check
    if #missing > 0 and not skip then
      found[#found + 1] = string.format("%s lacks %s", python, table.concat(missing, ", "))
      todo[#todo + 1] = build.install_advice(missing) .. ", choose another (RELRUN_PYTHON)"
    end
    local license, min = license_fields_problem(p, b, python)
    if license then
      found[#found + 1] = license
      todo[#todo + 1] = string.format("require %s>=%s in [build-system], or write the license as the older one " ..
        "reads it (license = { text = \"...\" }, no license-files list)", b.name, min)
    end
    local classifiers = classifiers_problem(p, b, python)
    if classifiers then
      found[#found + 1] = classifiers
      todo[#todo + 1] = "remove the classifiers it does not know"
    end
    if #found == 0 and #missing > 0 then   -- skip_dependency_check: the build warns and goes on
      return checks.warn(string.format("%s: without isolation (%s) %s lacks %s; [tool.relrun.build] " ..
        "skip_dependency_check builds with what is installed", what, how, python, table.concat(missing, ", ")),
        build.install_advice(missing))
    end
    if #found == 0 then
      return checks.ok(string.format("%s; without isolation (%s) %s has %s", what, how, python,
        table.concat(b.requires, ", ")))
    end
    local text = string.format("%s: without isolation (%s) %s", what, how, table.concat(found, "; "))
    local next_step = table.concat(todo, "; ") .. "; or build isolated from an index ([tool.relrun.build] isolation = true)"
    -- online, an isolated build would take newer packages from the index
    if isolated == nil then return checks.warn(text .. " — the build fails where the index does not answer", next_step) end
    return checks.fail(text .. " — the build fails", next_step)
  end, "[build-system], the interpreter's packages or the build index")
end

---------------------------------------------------------------------------
-- Where the version comes from
---------------------------------------------------------------------------

local KNOWN_VERSION_SCHEMES = { ["guess-next-dev"] = 1, ["post-release"] = 1, ["no-guess-dev"] = 1,
  ["release-branch-semver"] = 1, ["python-simplified-semver"] = 1, ["only-version"] = 1, ["calver-by-date"] = 1 }
local KNOWN_LOCAL_SCHEMES = { ["node-and-date"] = 1, ["node-and-timestamp"] = 1, ["dirty-tag"] = 1,
  ["no-local-version"] = 1 }

-- The setuptools_scm options (version_scheme, local_scheme, tag_regex)
-- of `opts`, named `where` -> a problem | nil.
local function scm_options_problem(opts, where)
  if opts.version_scheme and not KNOWN_VERSION_SCHEMES[opts.version_scheme] then
    return where .. " version_scheme = " .. tostring(opts.version_scheme) .. " is not a setuptools_scm scheme"
  end
  if opts.local_scheme and not KNOWN_LOCAL_SCHEMES[opts.local_scheme] then
    return where .. " local_scheme = " .. tostring(opts.local_scheme) .. " is not a setuptools_scm scheme"
  end
  local regex = opts.tag_regex or opts["tag-pattern"]
  if regex and not require("relrun.pyre").compile(regex) then
    return where .. " tag regex " .. tostring(regex) .. " does not compile"
  end
end

-- The problems of an scm version source, per tool: its requirement, the
-- dynamic version, its own table's options.
local function scm_problems(p, b, tool)
  local problems = {}
  local dynamic = list_has(at(p.py, "project", "dynamic"), "^version$")
  if p.py and at(p.py, "project") and not dynamic then
    problems[#problems + 1] = { '[project] dynamic does not list "version"', 'add dynamic = ["version"]' }
  end
  if tool == "setuptools_scm" then
    if not list_has(b.requires, "^setuptools[%-_.]scm") then
      problems[#problems + 1] = { "[build-system] requires " .. table.concat(b.requires, ", ") ..
        " — no setuptools_scm", 'add "setuptools_scm>=7" to [build-system] requires, or the version will not ' ..
        "come from the tag" }
    end
    local name, section = require("relrun.scm").section(p.py)
    local setup_py = fs.read(fs.join(p.dir, "setup.py")) or ""
    -- setuptools-scm[simple] needs no table
    if not section and not setup_py:find("use_scm_version", 1, true) and not list_has(b.requires, "%[simple%]") then
      problems[#problems + 1] = { "no [tool.setuptools_scm] table (nor use_scm_version in setup.py)",
        "add an empty [tool.setuptools_scm] table to enable it" }
    end
    local bad = section and scm_options_problem(section, name)
    if bad then problems[#problems + 1] = { bad, "use the defaults (guess-next-dev, node-and-date)" } end
  elseif tool == "hatch-vcs" then
    if not list_has(b.requires, "^hatch[%-_.]vcs") then
      problems[#problems + 1] = { '[tool.hatch.version] source = "vcs", but [build-system] requires ' ..
        table.concat(b.requires, ", ") .. " — no hatch-vcs", 'add "hatch-vcs" to [build-system] requires' }
    end
    local v = at(p.py, "tool", "hatch", "version") or {}
    local raw = type(v["raw-options"]) == "table" and v["raw-options"] or {}
    local bad = scm_options_problem({ version_scheme = raw.version_scheme, local_scheme = raw.local_scheme,
      tag_regex = v["tag-pattern"] or raw.tag_regex }, "[tool.hatch.version]")
    if bad then problems[#problems + 1] = { bad, "fix [tool.hatch.version] (raw-options are setuptools_scm's)" } end
  end
  return problems
end

local function version_source_check(g, ctx)
  g:check("where the version comes from", function()
    local p = ctx.project
    local b = p:backend()
    local v = version.read(p)
    if v.source == "scm" then
      local problems = scm_problems(p, b, v.tool)
      if #problems > 0 then
        local found, todo = {}, {}
        for _, pr in ipairs(problems) do found[#found + 1], todo[#todo + 1] = pr[1], pr[2] end
        return checks.fail(b.name .. ", version from " .. v.where .. ": " .. table.concat(found, "; "),
          table.concat(todo, "; "))
      end
      return checks.ok(b.name .. ": the version comes from " .. v.where .. " (each release is a tag)")
    end
    if v.source == "static" and at(p.py, "project", "version") and list_has(at(p.py, "project", "dynamic"), "^version$") then
      return checks.fail('[project] has a version and lists "version" in dynamic', "keep one of them (PEP 621)")
    end
    if v.version then
      if not pep440.parse(v.version) then
        return checks.fail(string.format("%s: %s says %s, which is not a PEP 440 version", b.name, v.where, v.version),
          "write a version such as 1.2.3")
      end
      return checks.ok(string.format("%s: the version is written in %s (%s): each release is a commit that sets it, " ..
        "then its tag", b.name, v.where, v.version))
    end
    return checks.warn(b.name .. ": " .. (v.why or "the version's source is not known"),
      "relrun checks the built files' version against the tag; write the version plainly to have it checked before")
  end, "[build-system], [project] version/dynamic and the backend's own table")
end

---------------------------------------------------------------------------
-- The interpreter and the imports
---------------------------------------------------------------------------

-- Poetry's ^X.Y and ~X.Y as PEP 440 (poetry-core's own reading of them).
local function poetry_spec(c)
  local op, major, minor = c:match("^%s*([%^~])%s*(%d+)%.?(%d*)")
  if not op then return c end
  minor = tonumber(minor) or 0
  if op == "^" and tonumber(major) > 0 then return string.format(">=%s.%d,<%d.0", major, minor, major + 1) end
  return string.format(">=%s.%d,<%s.%d", major, minor, major, minor + 1)
end

-- The project's requires-python, wherever its backend reads it -> spec | nil.
local function requires_python(p)
  local spec = at(p.py, "project", "requires-python")
  if spec then return spec end
  local poetry = at(p.py, "tool", "poetry", "dependencies", "python")
  if type(poetry) == "string" then return poetry_spec(poetry) end
  local options = (require("relrun.doctor.setupcfg").read(p.dir) or {}).options
  if options and options.python_requires then return options.python_requires end
  local setup_py = fs.read(fs.join(p.dir, "setup.py")) or ""
  return setup_py:match("%f[%w_]python_requires%s*=%s*[\"']([^\"'\n]+)[\"']")
end

local function requires_python_check(g, ctx)
  g:check("requires-python admits the interpreter", function()
    local spec = requires_python(ctx.project)
    if not spec then return checks.warn("no requires-python", "declare it, e.g. requires-python = \">=3.9\"") end
    local python = any_python(ctx)
    local yes, found = require("relrun.build").admits_python(python, spec)
    if yes == nil and found:find("could not be read", 1, true) then
      return checks.fail(found, "write a PEP 440 specifier such as >=3.9")
    end
    if yes == nil then return checks.skip(found) end
    if yes then return checks.ok(python .. " " .. found .. " is in " .. spec) end
    return checks.fail(python .. " " .. found .. " is not in requires-python " .. spec,
      "build with an interpreter in that range (RELRUN_PYTHON=...) or widen requires-python")
  end)
end

-- Import names that differ from their distribution's name.
local DIST_OF_IMPORT = {
  yaml = "pyyaml", PIL = "pillow", sklearn = "scikit_learn", bs4 = "beautifulsoup4", dateutil = "python_dateutil",
  attr = "attrs", dotenv = "python_dotenv", jwt = "pyjwt", magic = "python_magic", cv2 = "opencv_python",
  google = "google", jose = "python_jose", git = "gitpython", serial = "pyserial", usb = "pyusb",
  _pytest = "pytest", markdown_it = "markdown_it_py", pkg_resources = "setuptools", OpenSSL = "pyopenssl",
  Crypto = "pycryptodome", zmq = "pyzmq", skimage = "scikit_image", socks = "pysocks", nacl = "pynacl",
  dns = "dnspython", grpc = "grpcio", multipart = "python_multipart", slugify = "python_slugify",
  docx = "python_docx", _cffi_backend = "cffi", mpl_toolkits = "matplotlib", ruamel = "ruamel_yaml",
}

local function stdlib_names(python)
  local r = proc.run{ argv = { python, "-c", "import sys; print('\\n'.join(sorted(sys.stdlib_module_names)))" },
                      cwd = "/" }
  if not r or r.code ~= 0 then return nil end
  local names = {}
  for n in r.stdout:gmatch("[^\n]+") do names[n] = true end
  return names
end

-- The project's own top-level modules: its packages (relrun.project, from
-- the source layout, whatever imports are configured), the configured
-- imports, and single-file modules in src/. -> { name = folder or file stem }
local function own_modules(p)
  local own = {}
  local project = require "relrun.project"
  for _, base in ipairs(p:source_roots()) do
    for _, name in ipairs(fs.list(base) or {}) do
      local path = fs.join(base, name)
      -- tests/, tasks/ and the like are the project's own, but not shipped: not scanned
      if fs.exists(fs.join(path, "__init__.py")) then own[name] = own[name] or (not project.NOT_PACKAGES[name] and path) end
      local stem = name:match("^([%a_][%w_]*)%.py$")
      if stem and base ~= p.dir then own[stem] = own[stem] or fs.join(base, stem) end
    end
  end
  for _, list in ipairs({ p:source_packages(), p:import_names() }) do
    for _, name in ipairs(list) do own[name] = own[name] or false end
  end
  -- a version module the build writes (black's src/_black_version.py, from
  -- hatch-vcs) is not in the checkout, but it is shipped
  for _, file in ipairs({ at(p.py, "tool", "hatch", "build", "hooks", "vcs", "version-file"),
                          at(p.py, "tool", "hatch", "build", "targets", "wheel", "hooks", "vcs", "version-file"),
                          at(p.py, "tool", "setuptools_scm", "write_to"),
                          at(p.py, "tool", "setuptools_scm", "version_file") }) do
    local stem = type(file) == "string" and file:match("([%a_][%w_]*)%.py$")
    if stem then own[stem] = own[stem] or false end
  end
  return own
end

-- The declared dependencies' normalised names, per backend's way of
-- declaring them -> set | nil, why (not knowable without running setup.py).
local function declared(p)
  local names = {}
  -- an extra declares a dependency too: `pip install pkg[extra]` brings it
  for _, list in pairs(type(at(p.py, "project", "optional-dependencies")) == "table"
      and p.py.project["optional-dependencies"] or {}) do
    for _, d in ipairs(type(list) == "table" and list or {}) do names[req_name(d)] = true end
  end
  local deps = at(p.py, "project", "dependencies")
  if type(deps) == "table" then
    for _, d in ipairs(deps) do names[req_name(d)] = true end
    return names
  end
  local poetry = at(p.py, "tool", "poetry", "dependencies")
  if type(poetry) == "table" then
    for name in pairs(poetry) do names[normalize(name)] = true end
    return names
  end
  local dyn = at(p.py, "tool", "setuptools", "dynamic", "dependencies")
  if type(dyn) == "table" and dyn.file then
    for _, file in ipairs(type(dyn.file) == "table" and dyn.file or { dyn.file }) do
      for line in (fs.read(fs.join(p.dir, file)) or ""):gmatch("[^\n]+") do
        if not line:match("^%s*[#-]") then names[req_name(line)] = true end
      end
    end
    return names
  end
  if list_has(at(p.py, "project", "dynamic"), "^dependencies$") then
    return nil, "[project] dependencies are dynamic"
  end
  local setup_py = fs.read(fs.join(p.dir, "setup.py")) or ""
  if setup_py:find("install_requires", 1, true) then return nil, "setup.py declares them when it runs" end
  local cfg = require("relrun.doctor.setupcfg")
  local options = (cfg.read(p.dir) or {}).options
  for _, d in ipairs(cfg.list(options and options.install_requires)) do names[req_name(d)] = true end
  return names
end

-- The imports of the project's shipped packages that are neither its own,
-- standard nor declared: { eager = { "mod (file)" }, lazy = { ... } }, names.
local function undeclared(p, stdlib, deps)
  local own, names, missing = own_modules(p), {}, { eager = {}, lazy = {} }
  -- a package that ships its dependencies in _vendor/ and puts that folder
  -- on sys.path (setuptools' jaraco, pip's vendored libraries)
  local function vendored(mod)
    for _, where in pairs(own) do
      for _, dir in ipairs(where and { "_vendor", "vendor" } or {}) do
        local base = fs.join(where, dir, mod)
        if fs.exists(base) or fs.exists(base .. ".py") then return true end
      end
    end
    return false
  end
  -- a module's distribution is often its name with "-py" or "py" around it
  -- (rpds from rpds-py, jsonschema's; yaml from pyyaml)
  local function declared_as(mod)
    local n = normalize(DIST_OF_IMPORT[mod] or mod)
    return deps[n] or deps[n .. "_py"] or deps["py" .. n] or deps["python_" .. n]
  end
  local function known(mod)
    return own[mod] ~= nil or stdlib[mod] or mod == "__future__" or declared_as(mod) or vendored(mod)
  end
  for name, where in pairs(own) do
    if where then
      names[#names + 1] = name
      local found = imports.of_package(where)
      for _, kind in ipairs({ "eager", "lazy" }) do
        for mod, file in pairs(found[kind]) do
          if not known(mod) then missing[kind][#missing[kind] + 1] = mod .. " (" .. file:sub(#p.dir + 2) .. ")" end
        end
      end
    end
  end
  table.sort(missing.eager)
  table.sort(missing.lazy)
  table.sort(names)
  return missing, names
end

-- Which of the undeclared imports ("mod (file)") a declared dependency
-- brings with it, read from the interpreter's installed distributions
-- (fastapi imports anyio, which starlette requires). -> the entries
-- brought ("anyio by starlette"), the rest, and the declared dependencies
-- not installed here ("a, b") when they leave the answer open, else nil.
local BROUGHT = [[
import sys, json, re, importlib.metadata as md
from packaging.requirements import Requirement
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
declared, modules = json.loads(sys.argv[1]), json.loads(sys.argv[2])
by_module = md.packages_distributions()
via, absent = {}, []
stack = [(norm(d), norm(d)) for d in declared]
while stack:
    name, root = stack.pop()
    if name in via:
        continue
    via[name] = root
    try:
        requires = md.requires(name) or []
    except md.PackageNotFoundError:
        absent.append(name)
        continue
    for text in requires:
        r = Requirement(text)
        if not r.marker or r.marker.evaluate({"extra": ""}):
            stack.append((norm(r.name), root))
out = {}
for m in modules:
    for d in by_module.get(m, []):
        if norm(d) in via:
            out[m] = via[norm(d)]
print(json.dumps({"brought": out, "absent": sorted(absent)}))
]]

local function brought_by_dependencies(python, deps, entries)
  local wanted, modules = {}, {}
  for name in pairs(deps) do wanted[#wanted + 1] = name end
  for k, e in ipairs(entries) do modules[k] = e:match("^(%S+)") end
  local r = proc.run{ argv = { python, "-c", BROUGHT, json.encode(wanted), json.encode(modules) }, cwd = "/" }
  local answer = r and r.code == 0 and json.decode(r.stdout) or nil
  if type(answer) ~= "table" then return {}, entries, #wanted > 0 and table.concat(wanted, ", ") or nil end
  local brought, rest = {}, {}
  for k, m in ipairs(modules) do
    if answer.brought[m] then brought[#brought + 1] = m .. " by " .. answer.brought[m]
    else rest[#rest + 1] = entries[k] end
  end
  local absent = answer.absent or {}
  return brought, rest, #absent > 0 and table.concat(absent, ", ") or nil
end

local function imports_check(g, ctx)
  g:check("imports are declared dependencies or standard library", function()
    local p = ctx.project
    local python = any_python(ctx)
    local stdlib = stdlib_names(python)
    if not stdlib then return checks.skip("cannot ask " .. python .. " for its standard library") end
    local deps, why = declared(p)
    if not deps then return checks.skip(why) end
    local missing, names = undeclared(p, stdlib, deps)
    if #names == 0 then return checks.skip("no package of the project found in " .. p:describe_source_roots()) end
    if #missing.eager > 0 then
      local brought, rest, unknown = brought_by_dependencies(python, deps, missing.eager)
      if #rest == 0 then
        return checks.ok("every import is the project's own, declared, standard or brought by a declared " ..
          "dependency (" .. table.concat(brought, ", ") .. ")")
      end
      if unknown then
        return checks.warn("imported but not declared: " .. table.concat(rest, ", ") .. "; unless a declared " ..
          "dependency brings them (" .. unknown .. " not installed here, so relrun cannot tell)",
          "declare what the package imports itself")
      end
      return checks.fail("imported but not declared: " .. table.concat(rest, ", "),
        "add them to the project's dependencies, or pip install will give a package that fails to import")
    end
    local lazy = #missing.lazy > 0 and select(2, brought_by_dependencies(python, deps, missing.lazy)) or {}
    if #lazy > 0 then
      return checks.warn("modules the package itself does not import need undeclared " ..
        table.concat(lazy, ", "), "declare them, or an extra that brings them, if users import those modules")
    end
    return checks.ok("every import of " .. table.concat(names, ", ") .. " is the project's own, declared or standard")
  end)
end

---------------------------------------------------------------------------
-- The long description
---------------------------------------------------------------------------

-- The built files to judge: --dist DIR, else what this machine built for
-- the version HEAD is tagged with (.relrun/dist/VERSION/).
local function built_files(ctx)
  local dir = ctx.opts.dist
  if not dir and ctx.head_tag then dir = fs.join(ctx.project.dir, ".relrun", "dist", ctx.head_tag.version) end
  local files = {}
  for _, pattern in ipairs({ "*.whl", "*.tar.gz" }) do
    for _, path in ipairs(dir and fs.glob(fs.join(dir, pattern)) or {}) do files[#files + 1] = path end
  end
  return files, dir
end

local function readme_check(g, ctx)
  g:check("the long description renders (twine check)", function()
    local readme = require "relrun.doctor.readme"
    local python = any_python(ctx)
    local files, dir = built_files(ctx)
    local sources = {}
    if ctx.opts.dist and #files == 0 then return checks.fail("no wheel or sdist in " .. dir, "build them first") end
    for _, path in ipairs(files) do sources[#sources + 1] = { readme.from_file(path) } end
    if #sources == 0 then sources[1] = { readme.from_project(ctx.project) } end
    local bad, shown, notes = {}, {}, {}
    for _, s in ipairs(sources) do
      local d, why = s[1], s[2]
      if d == nil then return checks.skip("the long description is not known: " .. tostring(why)) end
      if d == false or not d.text or d.text:match("^%s*$") or d.text:match("^%s*UNKNOWN%s*$") then
        return checks.warn("no long description" .. (d and d.where and (" in " .. d.where) or ""),
          "add a readme (pyproject.toml [project] readme): twine check warns, and PyPI shows an empty page")
      end
      local r, rerr = readme.render(python, d)
      if not r then return checks.skip("readme_renderer did not run: " .. tostring(rerr)) end
      if r.missing then
        return checks.skip("not checked: " .. python .. " has no readme_renderer (Debian: python3-readme-renderer)")
      end
      if not r.ok then
        local msgs = {}
        for i = 1, math.min(3, #r.messages) do msgs[i] = r.messages[i] end
        bad[#bad + 1] = d.where .. " (" .. r.type .. "): " .. (#msgs > 0 and table.concat(msgs, "; ") or "no output")
      else
        shown[#shown + 1] = d.where .. " (" .. r.type .. ")"
        if not d.content_type then notes[#notes + 1] = d.where end
      end
    end
    if #bad > 0 then
      return checks.fail("the long description does not render, so twine check and PyPI refuse it: " ..
        table.concat(bad, "; "), "fix the markup (`python3 -m readme_renderer FILE` shows the whole output)")
    end
    if #notes > 0 then
      return checks.warn("no content type for " .. table.concat(notes, ", ") .. ": read as reStructuredText " ..
        "(it renders)", "declare it (long_description_content_type, or [project] readme with content-type)")
    end
    return checks.ok(table.concat(shown, "; ") .. " renders")
  end, "the built files' metadata (--dist, .relrun/dist/VERSION/), else the project's readme")
end

---------------------------------------------------------------------------
-- The checkout and the version gate
---------------------------------------------------------------------------

local function checkout_checks(g, ctx)
  g:check("the checkout has its full history", function()
    if not ctx.repo then return checks.skip("not a git checkout") end
    if ctx.repo:is_shallow() then
      if version.read(ctx.project).source ~= "scm" then
        return checks.warn("the clone is shallow: relrun cannot see the release tags' history",
          "check out with fetch-depth: 0 (actions/checkout) or run `git fetch --unshallow --tags`")
      end
      return checks.fail("the clone is shallow: a version from git tags would be guessed wrong (0.1.dev1+g…)",
        "check out with fetch-depth: 0 (actions/checkout) or run `git fetch --unshallow --tags`")
    end
    return checks.ok("full clone")
  end)

  g:check("the working tree is clean", function()
    if not ctx.repo then return checks.skip("not a git checkout") end
    local changed = {}
    for _, f in ipairs(ctx.repo:status().files) do
      if f.status ~= "untracked" then changed[#changed + 1] = f.path end
    end
    if #changed > 0 then
      return checks.fail("tracked files changed: " .. table.concat(changed, ", ", 1, math.min(#changed, 10)) ..
        (#changed > 10 and string.format(" and %d more", #changed - 10) or "") ..
        " — a build of this tree is not the commit's (a version from git would carry a .dYYYYMMDD local segment)",
        "commit or stash them")
    end
    return checks.ok("no changes to tracked files")
  end)
end

-- The release tag the gate checks: --tag, else the highest release tag of
-- the project's scheme on HEAD. -> { name, version } | nil
function M.head_tag(ctx)
  local p = ctx.project
  if not p.repo then return nil end
  if ctx.opts.tag then
    local v = p.scheme:version(ctx.opts.tag) or scm.tag_to_version(ctx.opts.tag)
    return { name = ctx.opts.tag, version = v }
  end
  local head = p.repo:head()
  if not head or not head.id then return nil end
  local on_head = {}
  for _, name in ipairs(p:tag_names()) do
    if p:tag_target(name) == head.id then on_head[#on_head + 1] = name end
  end
  local rel = p:releases(on_head)
  return rel[#rel]
end

-- A tag the gate looks at must be on HEAD: the doctor reads HEAD's files.
local function tag_not_on_head(ctx, tag)
  local p = ctx.project
  local target = p.repo:rev_parse(tag.name .. "^{commit}")
  local head = p.repo:head()
  if not target then return string.format("tag %s does not exist in this checkout", tag.name), "run `git fetch --tags`" end
  if head and target ~= head.id then
    return string.format("tag %s is on %s but HEAD is %s", tag.name, target:sub(1, 12), tostring(head.id):sub(1, 12)),
      "check out the tag (`git checkout " .. tag.name .. "`) and run the doctor there"
  end
end

-- The gate for a version from git tags: what the tool computes here.
local function scm_gate(ctx, v, tag)
  local p = ctx.project
  local cfg, cerr = version.scm_config(p)
  if not cfg then return checks.fail(tostring(cerr), "fix [tool.setuptools_scm] / [tool.hatch.version]") end
  if tag and v.tool == "setuptools_scm" then
    local built, err = scm.gate(p.dir, tag.name)
    if not built then return checks.fail(tostring(err), "publish refuses this checkout until that is fixed") end
    return checks.ok(string.format("HEAD is %s and setuptools_scm builds %s", tag.name, built))
  end
  local info, err = scm.explain{ dir = p.dir, config = cfg }
  if not info then return checks.fail(tostring(err), "see `relrun version --explain`") end
  if not tag then
    if info.version:find("+", 1, true) or info.version:find("dev", 1, true) then
      return checks.ok(string.format("HEAD builds as %s with %s (not a release: publish runs from a tag)",
        info.version, v.tool))
    end
    return checks.ok(string.format("HEAD builds as %s with %s", info.version, v.tool))
  end
  local want, werr = scm.tag_to_version(tag.name, cfg)
  if not want then return checks.fail(tostring(werr), "tag releases as PREFIX + a PEP 440 version") end
  if info.version == want then
    return checks.ok(string.format("HEAD is %s and %s builds %s", tag.name, v.tool, want))
  end
  local why = {}
  if info.shallow then why[#why + 1] = "the clone is shallow" end
  if info.dirty_files and #info.dirty_files > 0 then why[#why + 1] = "tracked files changed" end
  if #why == 0 then why[1] = string.format("the nearest tag is %s at distance %s", tostring(info.tag),
    tostring(info.distance)) end
  return checks.fail(string.format("%s builds %s here, not the tag %s's %s: %s", v.tool, info.version, tag.name, want,
    table.concat(why, "; ")), "publish refuses this checkout until that is fixed")
end

-- The gate for a version written in a file: it must be the tag's.
local function written_gate(ctx, v, tag)
  local p = ctx.project
  local b = p:backend()
  local parsed = pep440.parse(v.version)
  if not parsed then return checks.fail(v.where .. " says " .. v.version .. ", which is not a PEP 440 version",
    "write a version such as 1.2.3") end
  local says = tostring(parsed)
  if tag then
    if tag.version == says then
      return checks.ok(string.format("HEAD is %s and %s builds %s (%s)", tag.name, b.name, says, v.where))
    end
    local same = tag.version and pep440.compare(says, tag.version) == 0
    return checks.fail(string.format("HEAD is tagged %s, but %s builds version %s (%s)%s", tag.name, b.name, says,
      v.where, same and ": the same release by PEP 440, but the files would be named " .. says or ""),
      string.format("tag the version the project says (%s), or set %s to %s in a new commit and tag that",
        p.scheme:tag(says), v.where, tostring(tag.version)))
  end
  local last = p.repo and p:last_release()
  if last and pep440.compare(parsed, last.parsed) <= 0 then
    return checks.warn(string.format("the project says %s (%s), and %s is already released (%s)", says, v.where,
      last.version, last.name), "set the next version in " .. v.where .. " before tagging")
  end
  if parsed:is_devrelease() then
    -- pip's 26.3.dev0 between releases: the tag step refuses a dev version
    return checks.warn(string.format("%s builds %s (%s), a development version: not a release", b.name, says,
      v.where), string.format("to release: set %s there in a commit, then tag that",
      (says:gsub("%.dev%d+$", ""))))
  end
  return checks.ok(string.format("%s builds %s (%s): the next release tag is %s", b.name, says, v.where,
    p.scheme:tag(says)))
end

local function gate_check(g, ctx)
  g:check("the version gate", function()
    local p = ctx.project
    local v = version.read(p)
    local tag = ctx.head_tag
    if tag then
      local problem, todo = tag_not_on_head(ctx, tag)
      if problem then return checks.fail(problem, todo) end
    end
    if v.source == "scm" then
      if not p.repo then return checks.skip("not a git checkout: the version comes from git tags") end
      return scm_gate(ctx, v, tag)
    end
    if not v.version then
      return checks.skip("could not tell the version " .. p:backend().name .. " builds: " .. tostring(v.why) ..
        " (publish checks the built files against the tag)")
    end
    return written_gate(ctx, v, tag)
  end, "the release tag on HEAD (--tag) and where the backend reads the version")
end

-- A group whose checks that read pyproject.toml are skipped when it does
-- not parse (they would judge a project without one).
local function reading_pyproject(g, ctx)
  if not ctx.findings.pyproject then return g end
  return setmetatable({ check = function(_, name, _, looked)
    return g:check(name, function() return checks.skip("pyproject.toml does not parse (above)") end, looked)
  end }, { __index = g })
end

function M.register(g, ctx)
  ctx.head_tag = ctx.head_tag or M.head_tag(ctx)
  local py = reading_pyproject(g, ctx)
  files_check(g, ctx)
  settings_check(g, ctx)
  requirements_check(py, ctx)
  version_source_check(py, ctx)
  requires_python_check(py, ctx)
  imports_check(py, ctx)
  readme_check(py, ctx)
  checkout_checks(g, ctx)
  gate_check(py, ctx)
end

return M
