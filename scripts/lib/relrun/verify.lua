-- relrun.verify: RELEASE.md "4. Verify Release" — the version is in every
-- system the release went to, with the same bytes, and installs from the
-- target into a fresh venv where its modules import.
--
--   local lines = verify.release{ project = p, version = "1.2.3", out = print }
--     -- the target (status Published, sha256 of each file, as this checkout
--     -- built them when it did), the S3 copies (their bytes hashed), the GitHub
--     -- Release (every file, SHA256SUMS, notes), the install and import
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
local archive = require("relrun.util").lazy("relrun.archive")   -- loaded on first use (util.lazy)
local errors = require "relrun.errors"
local progress = require "relrun.progress"
local build = require "relrun.build"
local metadata = require "relrun.pypi.metadata"
local json = require "relrun.json"
local hash = require "relrun.hash"

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
-- modules of the installed distribution's files when none are; print the
-- names imported, those not checked, and the installed version. With
-- --deps-missing (pip ran with --no-deps), a name whose import stops on a
-- module from outside the distribution (a dependency) is not checked,
-- "name:module", rather than failed; a module of its own still fails. A
-- module only an extra brings (pip installs none) is never checked:
-- "name:module from extra [x]".
local IMPORT_CHECK = [[
import importlib, importlib.metadata as m, re, sys
deps_missing, package, names = sys.argv[1] == "--deps-missing", sys.argv[2], sys.argv[3:]
if not names:
    seen = set()
    for f in m.files(package) or []:
        top = f.parts[0]
        if len(f.parts) > 1 and top.isidentifier() and top != "__pycache__":
            seen.add(top)
        elif len(f.parts) == 1 and f.suffix == ".py" and f.stem.isidentifier():
            seen.add(f.stem)
    names = sorted(seen)
def canon(name):
    return re.sub(r"[-_.]+", "_", name).lower()
# the top-level module a failed import lacked: the ModuleNotFoundError
# itself, or the one an ImportError of the package's own was raised over on
# purpose (black's blackd: `raise ImportError(...) from None` over aiohttp's).
# An ImportError that names a module (`cannot import name x from pkg._compat`)
# or merely happened while handling another is the package's own failure.
def lacked(e):
    if isinstance(e, ModuleNotFoundError):
        return e.name.split(".")[0] if e.name else None
    if e.name is not None:
        return None
    over = e.__cause__ or (e.__context__ if e.__suppress_context__ else None)
    if isinstance(over, ModuleNotFoundError) and over.name:
        return over.name.split(".")[0]
    return None
# what only an extra brings: pip installed the package without extras
extras = {}
for req in m.requires(package) or []:
    extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)", req)
    if extra:
        extras.setdefault(canon(re.match(r"[A-Za-z0-9._-]+", req).group(0)), extra.group(1))
imported, unchecked = [], []
for n in names:
    try:
        importlib.import_module(n)
        imported.append(n)
    except ImportError as e:
        needed = lacked(e)
        if not needed or needed in names:
            raise
        if canon(needed) in extras:
            unchecked.append("%s:%s from extra [%s]" % (n, needed, extras[canon(needed)]))
        elif deps_missing:
            unchecked.append(n + ":" + needed)
        else:
            raise
print(",".join(imported))
print(",".join(unchecked))
print(m.version(package))
]]
M.IMPORT_CHECK = IMPORT_CHECK   -- for its spec

local function last_line(r)
  local lines = r.lines or {}
  for i = #lines, 1, -1 do
    if lines[i]:find("%S") then return lines[i] end
  end
  return "(no output)"
end

-- A runner of verify's commands in `folder` (the venv's parent): from the
-- project's checkout, `import x` and importlib.metadata would find the
-- sources there, not what pip installed. It is one of relrun's own
-- temporary folders and their TMPDIR, so a kill -9 leaves nothing the next
-- relrun does not sweep; nothing writes bytecode there (the folder is
-- thrown away). run(what, argv, env, hint) -> the
-- output's lines.
local function runner(folder)
  return function(what, argv, env, hint)
    env = env or {}
    env.TMPDIR, env.PYTHONDONTWRITEBYTECODE = folder, "1"
    local r, err = progress.run{ what = what, argv = argv, env = env, cwd = folder }
    if not r then errors.raise("VERIFY", "cannot run " .. argv[1] .. ": " .. tostring(err)) end
    if r.code ~= 0 then errors.raise("VERIFY", string.format("%s failed: %s", what, last_line(r)), { hint = hint }) end
    return table.concat(r.lines, "\n")
  end
end

-- A venv without pip of its own, filled by the interpreter's pip through
-- --python (pip >= 22.3); a full venv when that pip is older. -> pip's argv.
local function make_venv(run, python, venv)
  run("python -m venv", { python, "-m", "venv", "--without-pip", venv })
  local major, minor = tostring(build.probe(python).pip or ""):match("^(%d+)%.(%d+)")
  if not major or tonumber(major) < 22 or (tonumber(major) == 22 and tonumber(minor) < 3) then
    run("python -m venv", { python, "-m", "venv", "--clear", venv })
    return { fs.join(venv, "bin", "pip") }
  end
  return { python, "-m", "pip", "--python", fs.join(venv, "bin", "python") }
end

-- Whether pip installs the dependencies too, and why not when it does not.
local function deps_policy(opts, extra)
  local wheel = wheel_of(opts.files)
  local cfg = opts.project.cfg
  if cfg.verify.no_deps then
    local from = cfg.source and cfg.source["verify.no_deps"] or ""
    return "not installed (" .. (from:find("^pyproject") and "[tool.relrun.verify] no_deps" or from) .. ")"
  end
  if opts.target.kind == "local" and not extra and wheel and has_dependencies(wheel) then
    return "not installed: the local repository holds only this project (set [tool.relrun.verify] extra_index_url)"
  end
  return "installed"
end

-- pip install PACKAGE==VERSION from the target. The index's credentials
-- reach pip only through its environment or a private config file (the
-- target's pip_env), never its argv. -> what happened to the dependencies.
local function pip_install(run, pip, opts)
  local env, private = opts.target:pip_env()
  local _ <close> = private
  env.PIP_NO_CACHE_DIR, env.PIP_DISABLE_PIP_VERSION_CHECK, env.PIP_NO_INPUT = "1", "1", "1"
  local argv = { table.unpack(pip) }
  local function add(...) for _, a in ipairs({ ... }) do argv[#argv + 1] = a end end
  add("install", "--quiet", "--no-compile")
  if not env.PIP_CONFIG_FILE then add("--index-url", opts.target:index_url()) end
  local extra = opts.project.cfg.verify.extra_index_url
  if extra then add("--extra-index-url", extra) end
  local deps = deps_policy(opts, extra)
  if deps ~= "installed" then add("--no-deps") end
  local wanted = opts.project.package .. "==" .. opts.version
  add(wanted)
  run("pip install " .. wanted .. " from " .. opts.target:index_url(), argv, env,
    opts.target.kind == "codeartifact" and "an expired or refused CodeArtifact token also shows this way, and a " ..
      "dependency the repository cannot serve (connect an upstream, or set [tool.relrun.verify] extra_index_url); " ..
      "`relrun verify " .. opts.version .. "` checks again" or nil)
  return deps
end

-- "a,b" -> { "a", "b" }
local function split_names(text)
  local list = {}
  for n in (text or ""):gmatch("[^,]+") do list[#list + 1] = n end
  return list
end

-- install{ project, target, version, files, python, imports } -> { installed, imports, unchecked, deps }.
-- Raises a relrun.errors value naming what failed.
function M.install(opts)
  local package = opts.project.package
  local python = opts.python or errors.check(build.find_python(opts.project.cfg.python))
  local venv_dir <close> = fs.tempdir("relrun-verify-")   -- removed on error too
  local venv = fs.join(venv_dir.path, "venv")
  local run = runner(venv_dir.path)
  local deps = pip_install(run, make_venv(run, python, venv), opts)
  local imports = M.imports(opts)
  -- the import check runs code just installed: no credential reaches it
  local printed = run("import " .. (imports and table.concat(imports, ", ") or "the installed packages"),
    { fs.join(venv, "bin", "python"), "-c", IMPORT_CHECK, deps == "installed" and "--deps-installed" or "--deps-missing",
      package, table.unpack(imports or {}) }, {}, nil)
  local names, skipped, got = printed:match("([^\n]*)\n([^\n]*)\n([^\n]*)%s*$")
  got = got or ""
  if got ~= opts.version then
    errors.raise("VERIFY", string.format("pip installed %s %s, not %s", package, got, opts.version))
  end
  local unchecked = {}
  for name, needed in (skipped or ""):gmatch("([^,:]+):([^,]+)") do
    unchecked[#unchecked + 1] = { name = name, needs = needed }
  end
  return { installed = got, imports = split_names(names), unchecked = unchecked, deps = deps }
end

-- "import a, b", or "nothing imported" (every import stopped by a
-- dependency not installed: pydantic needs pydantic_core).
function M.imported(ev)
  return #ev.imports > 0 and ("import " .. table.concat(ev.imports, ", ")) or "nothing imported"
end

-- What verify.install could not check, in words ("" when nothing): the
-- imports a missing dependency stopped, and why dependencies were not
-- installed. "; not imported: a (needs b); dependencies not installed: ..."
function M.caveats(ev)
  local text, skipped = "", {}
  for _, u in ipairs(ev.unchecked or {}) do skipped[#skipped + 1] = u.name .. " (needs " .. u.needs .. ")" end
  if #skipped > 0 then text = "; not imported: " .. table.concat(skipped, ", ") end
  if ev.deps and ev.deps ~= "installed" then text = text .. "; dependencies " .. ev.deps end
  return text
end

---------------------------------------------------------------------------
-- The whole release, in every system (verify.lua, watch.lua)
---------------------------------------------------------------------------

-- The files this checkout built for `version`, from its journal, by name.
local function built_here(project, version)
  local journal = fs.join(project.dir, ".relrun", "journal-" .. version .. ".json")
  local j = fs.exists(journal) and json.decode(fs.read(journal) or "")
  local files = type(j) == "table" and j.steps and j.steps.build and j.steps.build.evidence.files or {}
  local by_name = {}
  for _, f in ipairs(files) do by_name[f.filename] = f end
  return by_name
end

-- 1. Present (and Published, in CodeArtifact) with each file's sha256, as
-- this checkout built it when it did. -> the files there.
local function check_target(c)
  local status = c.target:status(c.version)
  if status == "absent" then
    -- publish needs the release tag: without one, the release starts there
    local p = c.project
    local tag = p.repo and p:release_tag(c.version)
    local tagged = tag and p:tag_target(tag)
    errors.raise("NOT_PUBLISHED", string.format("%s %s has no files in %s", c.package, c.version, c.target.label),
      { hint = tagged and ("publish it (relrun release publish --tag " .. tag .. ")")
        or ("it is not tagged either: release it (relrun release --version " .. c.version .. ")") })
  end
  if status ~= "Published" then
    errors.raise("NOT_PUBLISHED", string.format("%s %s has status %s, not Published", c.package, c.version,
      tostring(status)))
  end
  c.ok("status Published")
  local there = c.target:files(c.version)
  for _, f in ipairs(there) do
    local mine = c.built[f.filename]
    if mine and f.sha256 and mine.sha256 ~= f.sha256 then
      errors.raise("MISMATCH", string.format("%s in %s has sha256 %s, but this checkout built %s", f.filename,
        c.target.label, f.sha256, mine.sha256))
    end
    c.ok(string.format("%s sha256 %s%s", f.filename, f.sha256 or "?", mine and " (as built)" or ""))
  end
  return there
end

-- 2. The S3 copies: every file under wheels/, its bytes hashed.
local function check_s3(c, there)
  local bucket = c.project.cfg.bucket
  if not bucket then return end
  local provider = c.target.credentials and c.target:credentials() or nil
  local s3, err = require("relrun.aws.s3").client{ region = c.project.cfg.region, credentials = provider }
  if not s3 then errors.raise("S3", "S3 client: " .. tostring(err)) end
  local tmp <close> = fs.tempdir("relrun-verify-s3")
  for _, f in ipairs(there) do
    local key = "wheels/" .. f.filename
    local path = fs.join(tmp.path, "object")
    local got, gerr, code, e = s3:get_object{ bucket = bucket, key = key, output = path }
    if not got and type(e) == "table" and e.status == 403 then
      c.note(string.format("s3://%s/%s: not readable with these credentials (%s): not checked", bucket, key,
        tostring(gerr)))
    elseif not got then
      errors.raise(code == "NoSuchKey" and "S3_MISSING" or "S3", string.format("s3://%s/%s: %s", bucket, key,
        tostring(gerr)), { hint = code == "NoSuchKey" and "rerun the publish phase: it copies what is missing" or nil })
    else
      local sha = hash.file(path, { "sha256" }).sha256
      fs.remove(path)
      if f.sha256 and sha ~= f.sha256 then
        errors.raise("S3_MISMATCH", string.format("s3://%s/%s has sha256 %s, %s has %s", bucket, key, sha,
          c.target.label, f.sha256), { hint = "delete that object, then rerun the publish phase" })
      end
      c.ok(string.format("s3://%s/%s sha256 %s", bucket, key, sha))
    end
  end
end

-- The release of a tag, a draft included (GitHub lists drafts only to
-- writers, and not by tag).
local function release_of(gh, tag)
  local rel, err = gh:release_by_tag(tag)
  if rel == nil then errors.raise(err) end
  if rel then return rel end
  for _, r in ipairs(errors.check(gh:paginate(gh:repo_path("/releases")))) do
    if r.tag_name == tag then return r end
  end
  return false
end

-- SHA256SUMS text -> { filename = sha256 }.
function M.parse_sums(text)
  local out = {}
  for sha, name in (text or ""):gmatch("(%x+)%s+%*?([^\n]+)") do out[name] = sha:lower() end
  return out
end

-- 3. The GitHub Release: every file with its sha256, SHA256SUMS listing
-- them, notes, prerelease as the version says.
local function check_github(c, there)
  local github = require "relrun.github"
  local repository = c.project:github_repository()
  if not github.token() or not repository then
    c.note("GitHub Release: not checked (" .. (repository and "no GITHUB_TOKEN or GH_TOKEN" or
      "no GitHub repository: set GITHUB_REPOSITORY") .. ")")
    return
  end
  local gh = errors.check(github.new{ repository = repository })
  local tag = c.project:release_tag(c.version)
  local rel = release_of(gh, tag)
  if not rel then
    errors.raise("NO_GITHUB_RELEASE", string.format("%s has no GitHub Release %s", repository, tag),
      { hint = "rerun the publish phase with GITHUB_TOKEN set: it creates it" })
  end
  local assets = {}
  for _, a in ipairs(errors.check(gh:list_assets(rel.id))) do assets[a.name] = a end
  local sums_asset = assets[require("relrun.copies.github_release").SUMS]
  local sums = {}
  if sums_asset then
    local resp = errors.check(gh:download(sums_asset.url, "application/octet-stream"))
    sums = M.parse_sums(resp.body)
  end
  for _, f in ipairs(there) do
    local a = assets[f.filename]
    if not a then
      errors.raise("GITHUB_ASSET_MISSING", string.format("the GitHub Release %s has no %s", tag, f.filename),
        { hint = "rerun the publish phase: it attaches what is missing" })
    end
    local sha = errors.check(gh:asset_sha256(a))
    if f.sha256 and sha ~= f.sha256 then
      errors.raise("GITHUB_ASSET_MISMATCH", string.format("the GitHub Release %s has a %s with sha256 %s, %s has %s",
        tag, f.filename, sha, c.target.label, f.sha256))
    end
    if sums_asset and sums[f.filename] ~= sha then
      errors.raise("GITHUB_SUMS", string.format("SHA256SUMS of the GitHub Release %s says %s for %s, the asset is %s",
        tag, tostring(sums[f.filename]), f.filename, sha))
    end
  end
  local notes = rel.body or ""
  local n = select(2, notes:gsub("\n", "")) + (notes ~= "" and 1 or 0)
  local _, parsed = c.project.scheme:version(tag)
  local pre = parsed and parsed:is_prerelease() or false
  if (rel.prerelease or false) ~= pre then
    errors.raise("GITHUB_PRERELEASE", string.format("the GitHub Release %s is %sa prerelease, but %s is %sone", tag,
      rel.prerelease and "" or "not ", c.version, pre and "" or "not "))
  end
  c.ok(string.format("GitHub Release %s%s%s: %d file(s) with the same sha256%s, notes of %d line(s)", tag,
    rel.draft and " (draft: publish it on GitHub)" or "", pre and " (prerelease)" or "", #there,
    sums_asset and ", all in SHA256SUMS" or "", n))
  if not sums_asset then c.note("GitHub Release " .. tag .. ": no SHA256SUMS asset") end
end

-- release{ project, version, out, imports, target } -> the lines printed.
-- Raises a relrun.errors value naming the first thing that is wrong.
function M.release(opts)
  local p = opts.project
  local out = opts.out or print
  local lines = {}
  local c = { project = p, version = opts.version, package = p:require_package(), built = built_here(p, opts.version),
              target = opts.target or require("relrun.targets").for_config(p.cfg) }
  function c.ok(text) lines[#lines + 1] = text; out("  ✓ " .. text) end
  function c.note(text) out("  ! " .. text) end
  out(string.format("Verifying %s %s in %s", c.package, c.version, c.target.label))
  c.target:connect()
  local there = check_target(c)
  check_s3(c, there)
  check_github(c, there)
  -- 4. Installs into a fresh venv and imports.
  local files = {}
  for _, f in ipairs(there) do
    local mine = c.built[f.filename]
    files[#files + 1] = { filename = f.filename, sha256 = f.sha256, path = mine and mine.path or f.path }
  end
  local ev = M.install{ project = p, target = c.target, version = c.version, files = files, imports = opts.imports }
  c.ok(string.format("pip install %s==%s; %s; version %s%s", c.package, c.version, M.imported(ev), ev.installed,
    M.caveats(ev)))
  return lines
end

return M
