-- RELEASE.md "2. Create Release Tag" as a plan: the branch checks of
-- prepare, the version (from --version or --bump, newer than the last
-- release, new here and on the remote), then the proof that the release
-- builds — the sdist and the wheel made from a clean checkout of HEAD at
-- that version and inspected — and only then the tag, created and pushed,
-- and the last five release tags listed. Nothing irreversible happens
-- before the build is proven; the files it made are the ones publish
-- uploads when it runs on this machine (the journal binds them to the commit).
local steps = require "relrun.steps"
local errors = require "relrun.errors"
local pep440 = require "relrun.pep440"
local fs = require "relrun.fs"
local prepare = require "relrun.phases.prepare"
local release_build = require "relrun.phases.build"
local build = require "relrun.build"
local metadata = require "relrun.pypi.metadata"

local M = {}

local function short(id) return id and id:sub(1, 7) or "?" end

-- The version asked for: --version (PEP 440, normalised) or --bump of the
-- last release in the scheme's spelling. -> version text, or nil when neither was given.
function M.wanted_version(opts, last, scheme)
  if opts.version then
    local v, err = pep440.parse(opts.version)
    -- or the version as the scheme tags it (sqlalchemy's rel_2_1_0)
    local _, tagged = scheme:version(opts.version)
    v = v or tagged
    if not v then errors.raise("BAD_VERSION", err, { exit = 2 }) end
    if v:local_part() then
      errors.raise("BAD_VERSION", string.format("%s has a local segment (+%s), which package indexes reject",
        opts.version, v:local_part()), { exit = 2 })
    end
    if v:is_devrelease() then
      errors.raise("BAD_VERSION", opts.version .. " is a development version; release tags name releases",
        { hint = "development versions come from setuptools_scm between tags (`relrun version`)", exit = 2 })
    end
    return tostring(v)
  end
  if opts.bump then return errors.check(scheme:bump(last and last.parsed or "0.0.0", opts.bump, opts.pre)) end
  return nil
end

-- Whether the version a project file states is a release newer than the last one.
local function written_is_next(written, last)
  local v = pep440.parse(written.version)
  return v and not v:is_devrelease() and not v:local_part() and (not last or pep440.compare(v, last.parsed) > 0)
end

-- A backend that reads the version from a file builds that version,
-- whatever the tag says: refuse before building when they differ.
local function check_written(written, version, scheme, last)
  if not version then return end
  local v = pep440.parse(written.version)
  if v and pep440.compare(v, version) == 0 then return end
  local hint = string.format("write %s there and commit it, then tag", version)
  if v and written_is_next(written, last) then   -- never a development version, never one released already
    hint = hint .. string.format(" (or release what it says: --version %s, tag %s)", written.version,
      scheme:tag(tostring(v)))
  end
  errors.raise("VERSION_NOT_WRITTEN", string.format("%s says %s, so the build would make %s, not %s", written.where,
    written.version, written.version, version), { rerun = false, hint = hint })
end

-- The version as the tag spells it: --version as typed when it is plain
-- numbers and letters (CalVer's 2026.08.01, as certifi tags), else the
-- normalised form (1.0.0-rc.1 is tagged 1.0.0rc1).
local function spelled(asked, version)
  if asked and asked:match("^%d[%w.]*$") then return asked end
  return version
end

local function version_step(ctx)
  return { name = "version", kind = "check", does = "the version: newer than the last release, a new tag", run = function()
    local scheme = ctx.project.scheme
    local last = prepare.last_release(ctx)
    local version = M.wanted_version(ctx.opts, last, scheme)
    local written = prepare.written_version(ctx)
    if not version and written and written_is_next(written, last) then version = tostring(pep440.parse(written.version)) end
    if not version then
      local n = scheme:next_versions(last)
      errors.raise("NO_VERSION", "no version asked for", { exit = 2, hint = string.format(
        "pass --version X or --bump PART (patch: %s, minor: %s, major: %s)", n.patch, n.minor, n.major) })
    end
    local name = scheme:tag(spelled(ctx.opts.version, version))
    local remote = ctx.project.cfg.remote
    if prepare.remote_ref(ctx, "refs/tags/" .. name) then
      errors.raise("TAG_EXISTS", string.format("tag %s already exists on %s: it was released already", name, remote),
        { hint = "choose another version (--bump patch: " .. scheme:tag(scheme:next_versions(last).patch) .. ")",
          rerun = false })   -- the same command would be refused the same way
    end
    local here = ctx.project.repo:rev_parse("refs/tags/" .. name)
    if here then
      errors.raise("TAG_EXISTS", string.format("tag %s already exists locally (at %s) but not on %s", name, short(here),
        remote), { hint = "delete it with `git tag -d " .. name .. "` and rerun, or choose another version" })
    end
    if last and pep440.compare(version, last.parsed) <= 0 then
      errors.raise("NOT_NEWER", string.format("%s is not newer than the last release %s", name, last.name),
        { hint = "use --bump patch (" .. scheme:tag(scheme:next_versions(last).patch) .. ") or a higher --version",
          rerun = false })
    end
    -- only a version worth releasing is compared with the one written (a
    -- released one is refused as such, not with "write 9.1.0 there")
    if written then check_written(written, version, scheme, last) end
    -- a commit is released once: a new version needs new commits
    for _, r in ipairs(ctx.project:releases()) do
      if ctx.project:tag_target(r.name) == ctx.head.id then
        errors.raise("ALREADY_RELEASED", string.format("HEAD (%s) is already released as %s", short(ctx.head.id),
          r.name), { hint = "commit the changes of the next release first", exit = 1, rerun = false })
      end
    end
    ctx.version, ctx.tag = version, name
    ctx.shared.tag, ctx.shared.version = name, version   -- the publish phase of the same run
    return { version = version, tag = name, outcome = string.format("%s, newer than %s, new here and on %s", name,
      last and last.name or "(no release yet)", remote) }
  end }
end

local function is_terminal() return fs.isatty(0) and fs.isatty(1) end

local function confirm(ctx)
  if ctx.opts.yes or not is_terminal() then return end
  io.stdout:write(string.format("Create tag %s at %s and push it to %s? [y/N] ", ctx.tag, short(ctx.head.id),
    ctx.project.cfg.remote))
  io.stdout:flush()
  local answer = io.stdin:read("l") or ""
  if not answer:lower():find("^y") then errors.raise("CANCELLED", "cancelled: nothing was created", { rerun = false }) end
end

-- The message of a tag made without --message: none (a lightweight tag),
-- unless the project annotates its release tags; then the last one's
-- message with the new version in it (werkzeug: "release version 3.1.8"
-- -> "release version 3.1.9"), else the tag's name.
local function default_message(ctx)
  local last = prepare.last_release(ctx)
  if not last then return nil end
  for _, t in ipairs(ctx.project.repo:tags{ details = true }) do
    if t.name == last.name then
      if not t.annotated then return nil end
      local message = (t.message or ""):gsub("%s+$", "")
      local function swap(old, new)
        local out, n = message:gsub(old:gsub("%p", "%%%0"), (new:gsub("%%", "%%%%")))
        return n > 0 and out or nil
      end
      return swap(last.name, ctx.tag) or swap(last.version, ctx.version) or ctx.tag
    end
  end
end

local function create_step(ctx)
  return { name = "create", does = "create the tag at HEAD", effect = "created the tag",
    check = function()
      local at = ctx.tag and ctx.project.repo:rev_parse("refs/tags/" .. ctx.tag .. "^{commit}")
      return at ~= nil and at == ctx.head.id, { tag = ctx.tag }
    end,
    run = function()
      confirm(ctx)
      local id, err = ctx.project.repo:tag_create(ctx.tag, { target = ctx.head.id,
                                                            message = ctx.opts.message or default_message(ctx) })
      if not id then errors.raise("TAG_CREATE", "creating tag " .. ctx.tag .. " failed: " .. tostring(err)) end
      ctx.project:refresh()
      return { tag = ctx.tag, outcome = string.format("created %s at %s", ctx.tag, short(ctx.head.id)) }
    end,
    undo = function() ctx.project.repo:tag_delete(ctx.tag) end }
end

local function push_step(ctx)
  local remote = ctx.project.cfg.remote
  return { name = "push", does = "push the tag to " .. remote, effect = "pushed the tag",
    check = function()
      return ctx.tag ~= nil and prepare.remote_ref(ctx, "refs/tags/" .. ctx.tag) ~= nil, { tag = ctx.tag }
    end,
    run = function()
      local watch = require "relrun.watch"
      if watch.pushed_with_actions_token() then
        require("relrun.log").warn("%s; %s", watch.ACTIONS_TOKEN_WARNING, watch.ACTIONS_TOKEN_FIX)
      end
      local ref = "refs/tags/" .. ctx.tag
      local good, err, code = ctx.project.repo:push(remote, { ref .. ":" .. ref })
      if good then return { tag = ctx.tag, outcome = string.format("pushed %s to %s", ctx.tag, remote) } end
      local removed = ctx.project.repo:tag_delete(ctx.tag)
      if removed then
        errors.raise("PUSH", string.format("pushing %s to %s failed: %s [%s]; the local tag was removed", ctx.tag,
          remote, tostring(err), tostring(code)))
      end
      errors.raise("PUSH", string.format("pushing %s to %s failed: %s [%s]; the local tag remains", ctx.tag, remote,
        tostring(err), tostring(code)), { rerun = false,
        hint = string.format("push it with `git push %s %s` or delete it with `git tag -d %s`", remote, ctx.tag, ctx.tag) })
    end }
end

-- RELEASE.md's "verify tag was created": read the remote again.
local function listed_step(ctx)
  return { name = "listed", kind = "check", does = "the remote lists the tag", run = function()
    if ctx.dry_run then return { outcome = "the remote is read again after the push" } end
    prepare.list_remote(ctx)
    -- the five release tags up to the new one, by version (`git tag --sort=v:refname`):
    -- a 2.68.1 pushed beside 3.0.0a7 is listed with the 2.68s, not below the 3.0s
    local list = ctx.project.scheme:releases(prepare.remote_tag_names(ctx))
    local upto = #list
    for k, r in ipairs(list) do if r.name == ctx.tag then upto = k end end
    local names = {}
    for k = math.max(1, upto - 4), upto do names[#names + 1] = list[k].name end
    if not prepare.remote_ref(ctx, "refs/tags/" .. ctx.tag) then
      errors.raise("NOT_LISTED", string.format("%s was pushed but %s does not list it", ctx.tag, ctx.project.cfg.remote),
        { hint = "check the remote with `git ls-remote --tags " .. ctx.project.cfg.remote .. "`" })
    end
    return { outcome = "last release tags: " .. table.concat(names, " ") }
  end }
end

-- Publish's verify installs the release with the build's interpreter: a
-- Requires-Python that leaves it out would fail there, after the tag is
-- pushed, so it is refused here (a project on >=3.12 with a 3.11 relrun).
local function installable_step(ctx)
  return { name = "python", kind = "check",
    does = "the release's Requires-Python admits the interpreter verify installs it with", run = function()
    if ctx.project.cfg.verify.skip then return { outcome = "not checked ([tool.relrun.verify] skip)" } end
    local files = ctx.evidence.build and ctx.evidence.build.files
    if not files then return { outcome = "not checked: nothing was built" } end
    local spec
    for _, f in ipairs(files) do
      local meta = f.path and metadata.read(f.path)
      spec = spec or (meta and meta.requires_python)
    end
    if not spec then return { outcome = "no Requires-Python" } end
    local python = release_build.python(ctx)
    local yes, found = build.admits_python(python, spec)
    if yes == nil then return { outcome = "not checked: " .. found } end
    if not yes then
      errors.raise("NOT_INSTALLABLE", string.format("the release's Requires-Python %s leaves out %s %s, the " ..
        "interpreter that verifies it after publishing", spec, python, found), { hint = "name one it admits " ..
        "([tool.relrun] python, RELRUN_PYTHON), or widen requires-python" })
    end
    return { outcome = python .. " " .. found .. " is in " .. spec }
  end }
end

-- plan(ctx) -> plan. The journal is the version's, bound to HEAD's commit,
-- so the build proven here is the one publish uploads.
function M.plan(ctx)
  -- publish needs the name: known before a tag exists, not after (celery)
  ctx.project:require_package()
  local function journal()
    ctx.commit = ctx.commit or errors.check(ctx.project:commit(ctx.head.id))
    return fs.join(ctx.project.dir, ".relrun", "journal-" .. ctx.version .. ".json"),
      { version = ctx.version, commit = ctx.commit.id, tree = ctx.commit.tree }
  end
  local plan = steps.plan{ title = "tag", command = ctx.command, out = ctx.out, journal = journal }
  prepare.ready(plan, ctx)
  plan:add(version_step(ctx))
  plan:add(release_build.step(ctx))
  plan:add(installable_step(ctx))
  -- a whole release publishes from this run (with --watch, the workflow does)
  if not ctx.opts.command and not ctx.opts.watch then plan:add(require("relrun.phases.publish").targets_step(ctx)) end
  plan:add(create_step(ctx))
  plan:add(push_step(ctx))
  plan:add(listed_step(ctx))
  return plan
end

return M
