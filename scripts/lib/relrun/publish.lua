-- relrun.publish: RELEASE.md's release steps 3 and 4 as a step plan —
-- version gate → build and inspect → publish → install instructions → verify.
--
--   local plan, ctx = publish.plan{ cfg = cfg, tag = "v1.2.3" }
--   local ok, err = plan:run(ctx, { dry_run = opts.dry_run })
--
-- The target is the local repository unless CODEARTIFACT_DOMAIN is set.
-- Every step checks first whether its effect is already there, so a rerun
-- (even on a fresh CI machine, without the journal) finishes what is missing
-- and never rebuilds a version that is already published.
local steps = require "relrun.steps"
local scm = require "relrun.scm"
local build = require "relrun.build"
local fs = require "relrun.fs"
local proc = require "relrun.proc"
local log = require "relrun.log"

local M = {}

function M.target(cfg)
  if cfg.target == "codeartifact" then return require("relrun.targets.codeartifact").new(cfg) end
  return require("relrun.targets.local").new(cfg)
end

local function by_name(files)
  local t = {}
  for _, f in ipairs(files or {}) do t[f.filename] = f end
  return t
end

-- Whether the target holds a wheel and an sdist of the version.
local function published_kinds(files)
  local wheel, sdist = false, false
  for _, f in ipairs(files) do
    if f.filename:match("%.whl$") then wheel = true else sdist = true end
  end
  return wheel and sdist
end

local function gate_step(ctx)
  return {
    name = "gate", does = "check that HEAD is " .. ctx.tag .. " and builds as its version",
    run = function()
      local version, err = scm.gate(ctx.project_dir, ctx.tag)
      if not version then error({ message = err }) end
      ctx.version = version
      return { version = version, tag = ctx.tag }
    end,
  }
end

local function build_step(ctx)
  return {
    name = "build", does = "build the wheel and the sdist (python -m build) and inspect them",
    check = function(_, evidence)
      -- the files this machine built, still there with the journaled hashes
      local kept = {}
      for _, f in ipairs(evidence and evidence.files or {}) do
        local d = f.path and fs.exists(f.path) and require("relrun.hash").file(f.path, { "sha256" })
        if d and d.sha256 == f.sha256 then kept[f.filename] = f end
      end
      local there = ctx.target:files(ctx.version)
      if published_kinds(there) then
        -- published: never rebuilt (two sdist builds differ in bytes); the
        -- local copies are used by later steps when they are the same files
        for _, f in ipairs(there) do
          local k = kept[f.filename]
          if k and (f.sha256 == nil or f.sha256 == k.sha256) then f.path = k.path end
        end
        return true, { files = there, already_published = true }
      end
      if evidence and evidence.files and #evidence.files > 0 then
        for _, f in ipairs(evidence.files) do
          if not kept[f.filename] then return false end
        end
        return true, evidence
      end
      return false
    end,
    run = function()
      local python, perr = build.find_python(ctx.cfg.python)
      if not python then error({ message = perr }) end
      local made, err = build.run{ project_dir = ctx.project_dir, python = python, version = ctx.version,
                                   outdir = fs.join(ctx.work_dir, "dist", ctx.version),
                                   source_date_epoch = ctx.source_date_epoch }
      if not made then error({ message = err }) end
      local report, ierr = build.inspect(made.files, { version = ctx.version, name = ctx.cfg.package })
      if not report then error({ message = ierr }) end
      for _, f in ipairs(report.files) do log.info("built %s (sha256 %s)", f.filename, f.sha256) end
      return { files = report.files, python = python }
    end,
  }
end

local function publish_step(ctx)
  return {
    name = "publish", does = "upload the files to " .. ctx.target.label,
    check = function()
      local built = ctx.evidence.build and ctx.evidence.build.files
      if not built then return false end   -- a dry run before the build: nothing to ask the target
      local there = by_name(ctx.target:files(ctx.version))
      for _, f in ipairs(built) do
        local t = there[f.filename]
        if not t then return false end
        if t.sha256 and f.sha256 and t.sha256 ~= f.sha256 then
          error({ message = string.format("%s already holds a different %s (sha256 %s, built %s): " ..
            "a published version is never overwritten; release a new version", ctx.target.label, f.filename,
            t.sha256, f.sha256) })
        end
      end
      return true, { files = built, index_url = ctx.target:index_url() }
    end,
    run = function()
      local out = {}
      for _, f in ipairs(ctx.evidence.build.files) do
        local status, err = ctx.target:publish(f)
        if not status then error({ message = err }) end
        log.info("%s: %s", f.filename, status == "identical" and "already published, identical" or "published")
        out[#out + 1] = { filename = f.filename, sha256 = f.sha256, status = status }
      end
      return { files = out, index_url = ctx.target:index_url() }
    end,
  }
end

local function instructions_step(ctx)
  return {
    name = "instructions", does = "print how to install this version",
    run = function()
      local lines = ctx.target:instructions(ctx.version)
      ctx.out("")
      ctx.out("Install " .. ctx.cfg.package .. " " .. ctx.version .. ":")
      for _, l in ipairs(lines) do ctx.out("  " .. l) end
      ctx.out("")
      -- Under Actions the job's later steps read these: a write that fails
      -- fails the step (false only means there is no such file to write).
      local function wrote(good, err)
        if good == nil then error({ message = err .. " (the step summary and outputs of this job)" }) end
      end
      -- A rerun after a failure further down must not add the block twice.
      local block = "## " .. ctx.cfg.package .. " " .. ctx.version .. "\n\n```\n" .. table.concat(lines, "\n")
        .. "\n```\n"
      local summary_file = os.getenv("GITHUB_STEP_SUMMARY")
      local already = summary_file and (fs.read(summary_file) or ""):find(block, 1, true)
      if not already then wrote(log.summary(block)) end
      wrote(log.output("version", ctx.version))
      wrote(log.output("index-url", ctx.target:index_url()))
      for _, f in ipairs(ctx.evidence.build.files) do
        wrote(log.output((f.filename:match("%.whl$") and "wheel" or "sdist") .. "-sha256", f.sha256))
      end
      return { lines = lines }
    end,
  }
end

-- pip install the version from the target into a fresh venv, import its
-- packages, and compare importlib.metadata's version.
function M.verify_install(ctx)
  local python = ctx.evidence.build and ctx.evidence.build.python or build.find_python(ctx.cfg.python)
  local venv_dir <close> = fs.tempdir("relrun-verify")   -- removed on error too
  local venv = venv_dir.path
  -- run from the venv's folder: from the project's checkout, `import bronze`
  -- and importlib.metadata would find the sources and their egg-info there,
  -- not what pip installed. `what` names the command in an error (never
  -- argv: pip's index URL may carry a token).
  local function run(what, argv, env, hint)
    local r, err = proc.run{ argv = argv, env = env, cwd = venv }
    if not r then error({ message = "cannot run " .. argv[1] .. ": " .. err }) end
    if r.code ~= 0 then
      local last = (r.stderr ~= "" and r.stderr or r.stdout):gsub("%s+$", ""):match("[^\n]*$")
      error({ message = string.format("%s failed: %s%s", what, last, hint or "") })
    end
    return r.stdout
  end
  -- A venv without pip of its own (tens of files instead of thousands, and
  -- no ensurepip), filled by the interpreter's pip through --python (pip ≥ 22.3);
  -- a full venv when that pip is missing or older.
  python = python or "python3"
  run("python -m venv", { python, "-m", "venv", "--without-pip", venv })
  -- The index's credentials reach pip only through its environment or a
  -- private config file (the target's pip_env), never its argv; the
  -- children below get no other credential (relrun.proc leaves them out).
  local env, private = ctx.target:pip_env()
  local _ <close> = private
  env.PIP_NO_CACHE_DIR, env.PIP_DISABLE_PIP_VERSION_CHECK, env.PIP_NO_INPUT = "1", "1", "1"
  local wanted = ctx.cfg.package .. "==" .. ctx.version
  local pip = { python, "-m", "pip", "--python", venv .. "/bin/python" }
  local probe = proc.run{ argv = { python, "-m", "pip", "--python", venv .. "/bin/python", "--version" }, cwd = venv,
                          stdout = "null", stderr = "null" }
  if not probe or probe.code ~= 0 then
    run("python -m venv", { python, "-m", "venv", "--clear", venv })
    pip = { venv .. "/bin/pip" }
  end
  local argv = { table.unpack(pip) }
  local install = env.PIP_CONFIG_FILE and { "install", "--quiet", wanted }
    or { "install", "--quiet", "--index-url", ctx.target:index_url(), wanted }
  for _, a in ipairs(install) do argv[#argv + 1] = a end
  run("pip install " .. wanted .. " --index-url " .. ctx.target:index_url(), argv, env,
    ctx.target.kind == "codeartifact" and " (a refused or expired CodeArtifact token also shows this way; " ..
      "`relrun scripts/verify.lua " .. ctx.version .. "` checks again)" or "")
  local imports = table.concat(ctx.cfg.imports, ", ")
  local got = run("import " .. imports, { venv .. "/bin/python", "-c", "import importlib.metadata as m, sys; import "
    .. imports .. "; print(m.version(sys.argv[1]))", ctx.cfg.package }):gsub("%s+$", "")
  if got ~= ctx.version then
    error({ message = string.format("pip installed %s %s, not %s", ctx.cfg.package, got, ctx.version) })
  end
  return { installed = got, imports = ctx.cfg.imports }
end

local function verify_step(ctx)
  return {
    name = "verify", does = "pip install " .. ctx.cfg.package .. " into a fresh venv and import " ..
      table.concat(ctx.cfg.imports, ", "),
    check = function(_, evidence) return evidence ~= nil and evidence.installed == ctx.version, evidence end,
    run = function()
      local ev = M.verify_install(ctx)
      log.info("✓ import %s: %s %s installed", table.concat(ev.imports, ", "), ctx.cfg.package, ev.installed)
      return ev
    end,
  }
end

-- opts: cfg, tag, project_dir, version (when known), out.
function M.plan(opts)
  local cfg = opts.cfg
  local version = opts.version or (opts.tag:gsub("^" .. (cfg.tag_prefix or "v"), ""))
  local ctx = {
    cfg = cfg, tag = opts.tag, version = version, project_dir = opts.project_dir or cfg.project_dir or ".",
    out = opts.out or print, evidence = {},
  }
  ctx.work_dir = fs.join(ctx.project_dir, ".relrun")
  ctx.target = M.target(cfg)
  ctx.source_date_epoch = opts.source_date_epoch
  local plan = steps.new{
    title = "publish " .. cfg.package .. " " .. version,
    journal = fs.join(ctx.work_dir, "journal-" .. version .. ".json"),
    resume = "relrun scripts/release.lua publish",
    rollback = "relrun scripts/rollback.lua " .. version,
    out = ctx.out,
  }
  plan:add(gate_step(ctx))
  for _, extra in ipairs(ctx.target.before_build and ctx.target:before_build(ctx) or {}) do plan:add(extra) end
  plan:add(build_step(ctx))
  plan:add(publish_step(ctx))
  for _, extra in ipairs(ctx.target.after_publish and ctx.target:after_publish(ctx) or {}) do plan:add(extra) end
  plan:add(instructions_step(ctx))
  plan:add(verify_step(ctx))
  return plan, ctx
end

return M
