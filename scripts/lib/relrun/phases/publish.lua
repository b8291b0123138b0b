-- RELEASE.md "3. Monitor Release Process" and "4. Verify Release" as a
-- plan, run by the tag-triggered workflow (or after tag in one run):
--
--   gate          the tag names a commit of this clone and a release version
--   connect       the target's credentials and endpoint (CodeArtifact)
--   preflight     every place this run writes to accepts it, before the first upload
--   build         the files, from a clean checkout of the tagged commit (phases/build.lua), or
--                 with --dist DIR the files built elsewhere, checked (phases/dist.lua)
--   publish       upload them to the target; identical files are skipped, different ones refused
--   s3            copy them to s3://$S3_WHEELS_BUCKET/wheels/ (when a bucket is set)
--   github-release  the GitHub Release of the tag with the files (when GITHUB_TOKEN is set)
--   instructions  how to install, also into the job's outputs and step summary
--   verify        pip install the version from the target into a fresh venv and import it
--
-- Journaled in .relrun/journal-VERSION.json, bound to the tagged commit.
local steps = require "relrun.steps"
local errors = require "relrun.errors"
local fs = require "relrun.fs"
local log = require "relrun.log"
local release_build = require "relrun.phases.build"
local verify = require "relrun.verify"
local targets = require "relrun.targets"
local CONFLICT_HINT = require("relrun.targets.base").CONFLICT_HINT

local M = {}

-- The tag to publish: --tag, the one a tag phase of this run made, or the
-- release tag on HEAD (the highest, when there are several).
function M.find_tag(ctx)
  local o, p = ctx.opts, ctx.project
  if o.tag then return o.tag end
  if ctx.shared and ctx.shared.tag then return ctx.shared.tag end
  local head = p.repo:head()
  local best
  for _, name in ipairs(p:tag_names()) do
    local version, parsed = p.scheme:version(name)
    if version and p:tag_target(name) == head.id and not parsed:is_devrelease()
      and (not best or parsed > best.parsed) then
      best = { name = name, parsed = parsed }
    end
  end
  if best then return best.name end
  errors.raise("NO_TAG", string.format("HEAD has no release tag (%s)", p.scheme:tag("VERSION")),
    { hint = "run the tag phase first, check out the tag, or pass --tag", exit = 1 })
end

-- The tag -> version and commit, before the plan exists (the journal is
-- bound to them).
function M.resolve(ctx)
  local p = ctx.project
  ctx.tag = M.find_tag(ctx)
  local version, parsed = p.scheme:version(ctx.tag)
  if not version then
    errors.raise("BAD_TAG", string.format("%s is not a release tag of this project's scheme (%s+VERSION%s, %s)",
      ctx.tag, p.scheme.prefix == "" and "no prefix" or ("\"" .. p.scheme.prefix .. "\""), p.scheme:note(), p.scheme.how),
      { hint = "set [tool.relrun] tag_prefix, or pass the right --tag", exit = 2 })
  end
  if parsed:is_devrelease() then
    errors.raise("BAD_TAG", ctx.tag .. " names a development version, which is not released", { exit = 2 })
  end
  ctx.version = version
  -- in a dry run of a whole release the tag is not made: the commit is the one tag built
  local planned = ctx.shared and ctx.shared.tag == ctx.tag and ctx.shared.commit
  ctx.commit = (ctx.dry_run and planned) or errors.check(p:commit(ctx.tag))
  return ctx
end

local function gate_step(ctx)
  return { name = "gate", kind = "check", does = "the tag names a commit and a release version", run = function()
    return { tag = ctx.tag, version = ctx.version, commit = ctx.commit.id,
             outcome = string.format("%s is commit %s: version %s", ctx.tag, ctx.commit.id:sub(1, 12), ctx.version) }
  end }
end

local function connect_step(ctx)
  return { name = "connect", kind = "check", does = "credentials and the endpoint of " .. ctx.target.label, run = function()
    return { outcome = ctx.target:connect() }
  end }
end

-- Ask every place a release writes to whether it accepts it: the target
-- (connected first when it needs it) and the copies. -> what each said.
function M.check_targets(ctx, copies)
  local seen = {}
  if ctx.target.needs_connect then ctx.target:connect() end
  seen[#seen + 1] = ctx.target:preflight() or ctx.target.label
  for _, c in ipairs(copies or targets.copies(ctx)) do seen[#seen + 1] = c.preflight() end
  return table.concat(seen, "; ")
end

-- A whole release (prepare, tag and publish in one run) asks before its
-- tag exists: a pushed tag starts the release workflow, so a folder that
-- is not one or a repository that does not answer must stop the run
-- first. The publish phase of the same run takes the target as it is.
function M.targets_step(ctx)
  return { name = "targets", kind = "check", does = "every place publish writes to accepts it", run = function()
    ctx.target = ctx.target or targets.for_config(ctx.project.cfg)
    ctx.shared.target = ctx.target
    ctx.shared.checked = M.check_targets(ctx)
    return { outcome = ctx.shared.checked }
  end }
end

local function preflight_step(ctx, copies)
  return { name = "preflight", kind = "check", before_changes = true,
           does = "every place this release writes to accepts it", run = function()
    if ctx.shared and ctx.shared.checked then return { outcome = ctx.shared.checked .. " (asked before the tag)" } end
    return { outcome = M.check_targets(ctx, copies) }
  end }
end

local function by_name(files)
  local t = {}
  for _, f in ipairs(files or {}) do t[f.filename] = f end
  return t
end

local function publish_step(ctx)
  return {
    name = "publish", does = "upload the files to " .. ctx.target.label, effect = "uploaded files",
    check = function()
      local built = ctx.evidence.build and ctx.evidence.build.files
      if not built then return false end
      local there = by_name(ctx.target:files(ctx.version))
      for _, f in ipairs(built) do
        local t = there[f.filename]
        if not t then return false end
        if t.sha256 and f.sha256 and t.sha256 ~= f.sha256 then
          errors.raise("CONFLICT", string.format("%s already holds a different %s (sha256 %s, built %s)",
            ctx.target.label, f.filename, t.sha256, f.sha256), { hint = CONFLICT_HINT })
        end
      end
      if not ctx.dry_run then ctx.target:tidy() end
      return true, { files = built, index_url = ctx.target:index_url() }
    end,
    run = function()
      local out = {}
      for _, f in ipairs(release_build.local_files(ctx)) do
        local status, err = ctx.target:publish(f)
        if not status then
          ctx.target:forget(ctx.version)
          errors.raise(errors.wrap(err, f.filename))
        end
        log.info("%s: %s", f.filename, status == "identical" and "already published, identical" or "published")
        out[#out + 1] = { filename = f.filename, sha256 = f.sha256, status = status }
      end
      ctx.target:forget(ctx.version)
      return { files = out, index_url = ctx.target:index_url(), outcome = #out .. " file(s)" }
    end,
  }
end

local function instructions_step(ctx)
  local package = ctx.project.package
  return {
    name = "instructions", does = "print how to install this version",
    run = function()
      local lines = ctx.target:instructions(ctx.version, package)
      ctx.out("")
      ctx.out("Install " .. package .. " " .. ctx.version .. ":")
      for _, l in ipairs(lines) do ctx.out("  " .. l) end
      ctx.out("")
      -- Under Actions the job's later steps read these: a write that fails
      -- fails the step (false only means there is no such file to write).
      local function wrote(good, err)
        if good == nil then errors.raise("ACTIONS_FILES", tostring(err) .. " (the step summary and outputs of this job)") end
      end
      -- A rerun after a failure further down must not add the block twice.
      local block = "## " .. package .. " " .. ctx.version .. "\n\n```\n" .. table.concat(lines, "\n") .. "\n```\n"
      local summary_file = os.getenv("GITHUB_STEP_SUMMARY")
      local already = summary_file and (fs.read(summary_file) or ""):find(block, 1, true)
      if not already then wrote(log.summary(block)) end
      wrote(log.output("version", ctx.version))
      wrote(log.output("tag", ctx.tag))
      wrote(log.output("index-url", ctx.target:index_url()))
      -- sdist-sha256 / wheel-sha256 name one file each; a release of several
      -- wheels (publish --dist) has them all in sha256sums, `sha256sum -c` input
      local files, wheels, sums = ctx.evidence.build.files, 0, {}
      for _, f in ipairs(files) do
        if f.filename:match("%.whl$") then wheels = wheels + 1 end
        sums[#sums + 1] = f.sha256 .. "  " .. f.filename
      end
      for _, f in ipairs(files) do
        local kind = f.filename:match("%.whl$") and "wheel" or "sdist"
        if kind == "sdist" or wheels == 1 then wrote(log.output(kind .. "-sha256", f.sha256)) end
      end
      wrote(log.output("sha256sums", table.concat(sums, "\n")))
      return { lines = lines }
    end,
  }
end

local function verify_step(ctx)
  local cfg = ctx.project.cfg
  return {
    name = "verify", does = "pip install " .. ctx.project.package .. "==" .. ctx.version .. " from " ..
      ctx.target.label .. " into a fresh venv and import it",
    check = function(_, evidence) return evidence ~= nil and evidence.installed == ctx.version, evidence end,
    run = function()
      if cfg.verify.skip then return { outcome = "skipped ([tool.relrun.verify] skip)" } end
      local ev = verify.install{ project = ctx.project, target = ctx.target, version = ctx.version,
                                 python = ctx.python, files = ctx.evidence.build.files, imports = ctx.opts.imports }
      ev.outcome = string.format("%s: %s %s installed%s", verify.imported(ev), ctx.project.package, ev.installed,
        verify.caveats(ev))
      return ev
    end,
  }
end

-- plan(ctx) -> plan; ctx: { project, opts, out, command, shared, dry_run }.
function M.plan(ctx)
  local p = ctx.project
  p:require_package()
  M.resolve(ctx)
  ctx.target = ctx.shared and ctx.shared.target or targets.for_config(p.cfg)
  local copies = targets.copies(ctx)
  local plan = steps.plan{
    title = string.format("publish %s %s to %s", p.package, ctx.version, ctx.target.label),
    journal = fs.join(p.dir, ".relrun", "journal-" .. ctx.version .. ".json"),
    bind = { version = ctx.version, commit = ctx.commit.id, tree = ctx.commit.tree },
    command = ctx.command, out = ctx.out,
    finished = string.format("Released %s %s (%s) to %s.", p.package, ctx.version, ctx.tag, ctx.target.label),
  }
  plan:add(gate_step(ctx))
  if ctx.target.needs_connect then plan:add(connect_step(ctx)) end
  plan:add(preflight_step(ctx, copies))
  plan:add(ctx.opts.dist and require("relrun.phases.dist").step(ctx) or release_build.step(ctx))
  plan:add(publish_step(ctx))
  for _, c in ipairs(copies) do plan:add(c.step) end
  plan:add(instructions_step(ctx))
  plan:add(verify_step(ctx))
  return plan
end

return M
