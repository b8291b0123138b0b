-- relrun.verify: RELEASE.md "4. Verify Release" — the version installs
-- from the target into a fresh venv and its modules import.
--
--   local ev = verify.install{ project = p, target = t, version = "1.2.3", files = built }
--   ev.installed, ev.imports
--
-- The import names are the configured ones (--imports, [tool.relrun]
-- imports), else the wheel's top-level packages. pip reads the target's
-- credentials from its environment (target:pip_env(): a private config
-- file), never its command line; the import check — code just downloaded —
-- runs with no credential at all. Dependencies come from the target and
-- [tool.relrun.verify] extra_index_url; with no index for them on the local
-- repository they are not installed (`--no-deps`), and verify says so.
local fs = require "relrun.fs"
local archive = require "relrun.archive"
local errors = require "relrun.errors"
local progress = require "relrun.progress"
local build = require "relrun.build"
local metadata = require "relrun.pypi.metadata"

local M = {}

-- The importable top-level names of a wheel: packages and modules at its
-- root, from its file list (not *.dist-info, *.data, or __pycache__).
function M.top_level(wheel)
  local entries = archive.list(wheel)
  if not entries then return {} end
  local seen, out = {}, {}
  for _, e in ipairs(entries) do
    local first, rest = e.name:match("^([^/]+)/?(.*)$")
    local name
    if rest == "" and first and first:match("^[%a_][%w_]*%.py$") then name = first:sub(1, -4)
    elseif rest ~= "" and first and first:match("^[%a_][%w_]*$") then name = first end
    if name and not seen[name] and name ~= "__pycache__" then
      seen[name] = true
      out[#out + 1] = name
    end
  end
  table.sort(out)
  return out
end

-- Whether a wheel declares run-time dependencies (outside extras).
local function has_dependencies(wheel)
  local meta = metadata.read(wheel)
  for _, req in ipairs(meta and meta.requires_dist or {}) do
    if not req:find("extra%s*==") then return true end
  end
  return false
end

local function wheel_of(files)
  for _, f in ipairs(files or {}) do
    if f.filename:match("%.whl$") and f.path and fs.exists(f.path) then return f.path end
  end
end

-- imports(opts) -> the names to import, or nil: then they are read from
-- the installed distribution's file list.
function M.imports(opts)
  local configured = opts.imports or opts.project.cfg.imports
  if type(configured) == "string" then
    local list = {}
    for name in configured:gmatch("[^,%s]+") do list[#list + 1] = name end
    configured = list
  end
  if configured and #configured > 0 then return configured end
  local wheel = wheel_of(opts.files)
  local names = wheel and M.top_level(wheel) or {}
  if #names > 0 then return names end
  return nil
end

-- In the venv: import the names given, or the top-level packages and
-- modules of the installed distribution's files when none are; print them
-- and the installed version.
local IMPORT_CHECK = [[
import importlib, importlib.metadata as m, sys
names = sys.argv[2:]
if not names:
    seen = set()
    for f in m.files(sys.argv[1]) or []:
        top = f.parts[0]
        if len(f.parts) > 1 and top.isidentifier() and top != "__pycache__":
            seen.add(top)
        elif len(f.parts) == 1 and f.suffix == ".py" and f.stem.isidentifier():
            seen.add(f.stem)
    names = sorted(seen)
for n in names:
    importlib.import_module(n)
print(",".join(names))
print(m.version(sys.argv[1]))
]]

local function last_line(r)
  local lines = r.lines or {}
  for i = #lines, 1, -1 do
    if lines[i]:find("%S") then return lines[i] end
  end
  return "(no output)"
end

-- install{ project, target, version, files, python, imports } -> { installed, imports, deps }.
-- Raises a relrun.errors value naming what failed.
function M.install(opts)
  local cfg = opts.project.cfg
  local package = opts.project.package
  local python = opts.python or errors.check(build.find_python(cfg.python))
  local venv_dir <close> = fs.tempdir("relrun-verify-")   -- removed on error too
  local venv = venv_dir.path
  -- run from the venv's folder: from the project's checkout, `import x` and
  -- importlib.metadata would find the sources there, not what pip installed.
  local function run(what, argv, env, hint)
    local r, err = progress.run{ what = what, argv = argv, env = env, cwd = venv }
    if not r then errors.raise("VERIFY", "cannot run " .. argv[1] .. ": " .. tostring(err)) end
    if r.code ~= 0 then errors.raise("VERIFY", string.format("%s failed: %s", what, last_line(r)), { hint = hint }) end
    return table.concat(r.lines, "\n")
  end
  -- A venv without pip of its own, filled by the interpreter's pip through
  -- --python (pip >= 22.3); a full venv when that pip is older.
  run("python -m venv", { python, "-m", "venv", "--without-pip", venv })
  local pip = { python, "-m", "pip", "--python", fs.join(venv, "bin", "python") }
  local pip_version = build.probe(python).pip
  local major, minor = tostring(pip_version or ""):match("^(%d+)%.(%d+)")
  if not major or tonumber(major) < 22 or (tonumber(major) == 22 and tonumber(minor) < 3) then
    run("python -m venv", { python, "-m", "venv", "--clear", venv })
    pip = { fs.join(venv, "bin", "pip") }
  end
  -- the index's credentials reach pip only through its environment or a
  -- private config file (the target's pip_env), never its argv
  local env, private = opts.target:pip_env()
  local _ <close> = private
  env.PIP_NO_CACHE_DIR, env.PIP_DISABLE_PIP_VERSION_CHECK, env.PIP_NO_INPUT = "1", "1", "1"
  local argv = { table.unpack(pip) }
  for _, a in ipairs({ "install", "--quiet" }) do argv[#argv + 1] = a end
  if not env.PIP_CONFIG_FILE then
    argv[#argv + 1] = "--index-url"
    argv[#argv + 1] = opts.target:index_url()
  end
  local extra = cfg.verify.extra_index_url
  if extra then
    argv[#argv + 1] = "--extra-index-url"
    argv[#argv + 1] = extra
  end
  local wheel = wheel_of(opts.files)
  local deps = "installed"
  if cfg.verify.no_deps then
    deps = "not installed ([tool.relrun.verify] no_deps)"
  elseif opts.target.kind == "local" and not extra and wheel and has_dependencies(wheel) then
    deps = "not installed: the local repository holds only this project (set [tool.relrun.verify] extra_index_url)"
  end
  if deps ~= "installed" then argv[#argv + 1] = "--no-deps" end
  local wanted = package .. "==" .. opts.version
  argv[#argv + 1] = wanted
  run("pip install " .. wanted .. " from " .. opts.target:index_url(), argv, env,
    opts.target.kind == "codeartifact" and "an expired or refused CodeArtifact token also shows this way, and a " ..
      "dependency the repository cannot serve (connect an upstream, or set [tool.relrun.verify] extra_index_url); " ..
      "`relrun scripts/verify.lua " .. opts.version .. "` checks again" or nil)
  local imports = M.imports(opts)
  -- the import check runs code just installed: no credential reaches it
  local printed = run("import " .. (imports and table.concat(imports, ", ") or "the installed packages"),
    { fs.join(venv, "bin", "python"), "-c", IMPORT_CHECK, package, table.unpack(imports or {}) }, {}, nil)
  local names, got = printed:match("([^\n]*)\n([^\n]*)%s*$")
  got = got or ""
  imports = {}
  for n in (names or ""):gmatch("[^,]+") do imports[#imports + 1] = n end
  if got ~= opts.version then
    errors.raise("VERIFY", string.format("pip installed %s %s, not %s", package, got, opts.version))
  end
  return { installed = got, imports = imports, deps = deps }
end

return M
