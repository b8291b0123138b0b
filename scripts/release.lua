-- relrun scripts/release.lua PHASE [options]
--
-- RELEASE.md as phases, in order. Each phase is a function of the shared
-- context; a later phase (publish) is one more entry in PHASES.
--
--   prepare  "1. Prepare Release": on the release branch, clean, fetched and
--            up to date with its upstream; the changes since the last tag;
--            the next version for each kind of bump.
--   tag      "2. Create Release Tag": vMAJOR.MINOR.PATCH from --version or
--            --bump, newer than the last release, new locally and on the
--            remote; create it, push it, list the last five release tags.
--   publish  "3. Monitor Release Process" and "4. Verify Release": from the
--            tag on HEAD, the steps of relrun.publish — version gate, build,
--            inspect, publish, install instructions, verify — journaled in
--            .relrun/journal-<version>.json so a rerun finishes what is left.
--
-- Without a phase, prepare, tag and publish run in turn.
-- --dry-run runs every check read-only (ls-remote instead of fetch) and says
-- what would be written; without a phase it shows the whole plan. Failures
-- are one line on stderr and exit 1; usage errors exit 2.
local cli = require "relrun.cli"
local git = require "relrun.git"
local semver = require "relrun.semver"

local PHASES -- defined at the end, after the phase functions

local function die(fmt, ...)
  error({ release = string.format(fmt, ...) }, 0)
end

local function say(fmt, ...)
  io.stdout:write(string.format(fmt, ...), "\n")
end

local function check(fmt, ...)
  say("  ok    " .. fmt, ...)
end

local function short(id)
  return id and id:sub(1, 7) or "?"
end

---------------------------------------------------------------------------
-- Release tags and versions
---------------------------------------------------------------------------

-- "v1.2.3" -> Semver, only for plain release tags (no pre-release/build).
local function release_version(name)
  if not name:find("^v%d+%.%d+%.%d+$") then return nil end
  return semver.parse(name)
end

-- Release tags on the remote (the published ones), highest last. A tag
-- that exists only in this clone was never released, so it does not count.
local function release_tags(ctx)
  local list = {}
  for _, r in ipairs(ctx.remote_refs or {}) do
    local name = r.name:match("^refs/tags/([^%^]+)$")
    local v = name and release_version(name)
    if v then list[#list + 1] = { name = name, version = v } end
  end
  table.sort(list, function(a, b) return semver.compare(a.version, b.version) < 0 end)
  return list
end

local function last_release(ctx)
  local tags = release_tags(ctx)
  return tags[#tags]
end

local function next_versions(last)
  local base = last and last.version or "0.0.0"
  return { major = semver.bump(base, "major"), minor = semver.bump(base, "minor"), patch = semver.bump(base, "patch") }
end

---------------------------------------------------------------------------
-- Shared checks
---------------------------------------------------------------------------

local function open_repo(ctx)
  local repo, err = git.open(ctx.opts.repo)
  if not repo then
    die("%s is not a git repository (%s): run this from a clone of the project", ctx.opts.repo, err)
  end
  if not repo:workdir() then
    die("%s is a bare repository: run this from a clone with a working tree", ctx.opts.repo)
  end
  ctx.repo = repo
  local head = repo:head()
  if head.unborn or repo:is_empty() then
    die("the repository has no commits yet: commit the project and push %s first", ctx.opts.branch)
  end
  ctx.head = head
end

local function on_branch(ctx)
  local head, want = ctx.head, ctx.opts.branch
  if head.detached then
    die("HEAD is detached at %s: run `git checkout %s`", short(head.id), want)
  end
  if head.branch ~= want then
    die("on branch %s, not the release branch %s: run `git checkout %s` (or pass --branch %s)",
      head.branch, want, want, head.branch)
  end
  check("on branch %s at %s", want, short(head.id))
end

local function clean_tree(ctx)
  local st, err = ctx.repo:status()
  if not st then die("reading the working tree failed: %s", err) end
  if st.dirty then
    local names = {}
    for _, f in ipairs(st.files) do
      if f.status ~= "untracked" and f.status ~= "ignored" then
        names[#names + 1] = f.path
        if #names == 8 then names[#names + 1] = "..."; break end
      end
    end
    die("the working tree has uncommitted changes (%s): commit or `git stash` them", table.concat(names, ", "))
  end
  check("working tree clean")
end

local function remote_url(ctx)
  for _, r in ipairs(ctx.repo:remotes()) do
    if r.name == ctx.opts.remote then return r.url end
  end
  die("there is no remote %q: add it with `git remote add %s URL` (or pass --remote)", ctx.opts.remote,
    ctx.opts.remote)
end

-- One line for a failed remote operation; relrun.git's message already
-- names the credentials when they were refused (GIT_EAUTH).
local function remote_failed(ctx, what, err, code)
  if code == "GIT_EAUTH" then die("%s %s: %s", what, ctx.opts.remote, err) end
  die("%s %s (%s): %s [%s]; check the URL and the network", what, ctx.opts.remote, ctx.url, err, tostring(code))
end

-- The remote's refs, read-only (needed in every mode for the tag checks).
local function list_remote(ctx)
  local refs, err, code = ctx.repo:ls_remote(ctx.opts.remote)
  if not refs then remote_failed(ctx, "cannot reach", err, code) end
  ctx.remote_refs = refs
end

local function remote_ref(ctx, name)
  for _, r in ipairs(ctx.remote_refs) do
    if r.name == name then return r.id end
  end
end

local function fetch(ctx)
  if ctx.opts.dry_run then
    say("  dry   would fetch %s (%s) with tags; comparing with its refs instead", ctx.opts.remote, ctx.url)
    return
  end
  local good, err, code = ctx.repo:fetch(ctx.opts.remote, { tags = true })
  if not good then remote_failed(ctx, "cannot fetch", err, code) end
  check("fetched %s (%s)", ctx.opts.remote, ctx.url)
end

-- Ahead/behind of HEAD against the remote's branch: from the fetched
-- remote-tracking ref, or in a dry run from ls-remote's id.
local function up_to_date(ctx)
  local branch, remote = ctx.opts.branch, ctx.opts.remote
  local upstream = ctx.repo:upstream(branch) or (remote .. "/" .. branch)
  local their = remote_ref(ctx, "refs/heads/" .. branch)
  if not their then
    die("%s has no branch %s: push it first with `git push -u %s %s`", remote, branch, remote, branch)
  end
  if not ctx.opts.dry_run then
    their = ctx.repo:rev_parse("refs/remotes/" .. upstream) or their
  end
  if not ctx.repo:rev_parse(their .. "^{commit}") then
    die("%s has commits this clone does not have (%s is at %s): run `git pull %s %s`", upstream, branch,
      short(their), remote, branch)
  end
  local ahead, behind = ctx.repo:ahead_behind(ctx.head.id, their)
  if not ahead then die("comparing %s with %s failed: %s", branch, upstream, tostring(behind)) end
  if behind > 0 then
    die("%s is %d commit(s) behind %s (and %d ahead): run `git pull %s %s`", branch, behind, upstream, ahead,
      remote, branch)
  end
  if ahead > 0 then
    die("%s is %d commit(s) ahead of %s: push them first (`git push %s %s`) so the tag points at a published commit",
      branch, ahead, upstream, remote, branch)
  end
  check("up to date with %s (ahead 0, behind 0)", upstream)
end

local function ready(ctx)
  open_repo(ctx)
  ctx.url = remote_url(ctx)
  on_branch(ctx)
  clean_tree(ctx)
  list_remote(ctx)
  fetch(ctx)
  up_to_date(ctx)
end

---------------------------------------------------------------------------
-- Phases
---------------------------------------------------------------------------

local function changes(ctx)
  local d = ctx.repo:describe({ tags = true })
  local range = d and (d.tag .. "..HEAD") or "HEAD"
  local log, err = ctx.repo:log(range)
  if not log then die("reading the log %s failed: %s", range, err) end
  if d then
    say("  changes since %s (git log %s --oneline): %d commit(s)", d.tag, range, #log)
  else
    say("  no tag yet: all %d commit(s)", #log)
  end
  local limit = 50
  for k, c in ipairs(log) do
    if k > limit then say("    ... and %d more", #log - limit); break end
    say("    %s %s", c.short, c.summary)
  end
end

-- RELEASE.md "Verify CI is passing": HEAD's combined status and check runs
-- on GitHub must all be green. Read-only, so it runs in a dry run too.
local function ci_green(ctx)
  local at = short(ctx.head.id)
  local token = os.getenv("GITHUB_TOKEN") or os.getenv("GH_TOKEN")
  if not token or token == "" then
    say("  skip  CI status of %s not checked: set GITHUB_TOKEN to check its statuses and check runs", at)
    return
  end
  local gh, err = require("relrun.github").new{ repo_dir = ctx.opts.repo }
  if not gh then
    say("  skip  CI status of %s not checked: %s", at, err.message)
    return
  end
  local ci, cerr = gh:ci_status(ctx.head.id)
  if not ci then die("reading the CI status of %s on %s failed: %s", at, gh.repository, cerr.message) end
  if ci.state == "failure" then
    die("CI is failing on %s (%s): %s; fix it on %s before releasing", at, gh.repository,
      table.concat(ci.failing, ", "), ctx.opts.branch)
  end
  if ci.state == "pending" then
    die("CI has not finished on %s (%s): %s still running; wait for it and rerun", at, gh.repository,
      table.concat(ci.pending, ", "))
  end
  if ci.state == "none" then
    say("  warn  %s has no statuses or check runs on %s: nothing says it was tested", at, gh.repository)
    return
  end
  check("CI green on %s (%d statuses and check runs on %s)", at, ci.total, gh.repository)
end

local function prepare(ctx)
  say("prepare%s", ctx.opts.dry_run and " (dry run)" or "")
  ready(ctx)
  changes(ctx)
  local last = last_release(ctx)
  local n = next_versions(last)
  say("  last release: %s", last and last.name or "none")
  say("  next version: --bump major -> v%s, --bump minor -> v%s, --bump patch -> v%s", n.major, n.minor, n.patch)
  ci_green(ctx)
end

-- The version asked for, as "X.Y.Z".
local function wanted_version(ctx, last)
  local o = ctx.opts
  if o.version then return (o.version:gsub("^v", "")) end
  if o.bump then return next_versions(last)[o.bump] end
  return nil
end

local function is_terminal()
  return require("relrun.fs").isatty(0)
end

local function confirm(ctx, name)
  if ctx.opts.yes or ctx.opts.dry_run or not is_terminal() then return end
  io.stdout:write(string.format("Create tag %s at %s and push it to %s? [y/N] ", name, short(ctx.head.id),
    ctx.opts.remote))
  io.stdout:flush()
  local answer = io.stdin:read("l") or ""
  if not answer:lower():find("^y") then die("cancelled: nothing was created") end
end

local function push_tag(ctx, name)
  local ref = "refs/tags/" .. name
  local good, err, code = ctx.repo:push(ctx.opts.remote, { ref .. ":" .. ref })
  if good then return end
  local removed = ctx.repo:tag_delete(name)
  if removed then
    die("pushing %s to %s failed: %s [%s]; the local tag was removed, fix the cause and rerun this command",
      name, ctx.opts.remote, err, tostring(code))
  end
  die("pushing %s to %s failed: %s [%s]; the local tag remains: push it with `git push %s %s` or delete it with"
    .. " `git tag -d %s`", name, ctx.opts.remote, err, tostring(code), ctx.opts.remote, name, name)
end

-- RELEASE.md's "verify tag was created": read the remote again.
local function show_last_tags(ctx)
  list_remote(ctx)
  local tags = release_tags(ctx)
  local first = math.max(1, #tags - 4)
  local names = {}
  for k = first, #tags do names[#names + 1] = tags[k].name end
  say("  last release tags: %s", table.concat(names, " "))
end

local function tag(ctx)
  say("tag%s", ctx.opts.dry_run and " (dry run)" or "")
  ready(ctx)
  local last = last_release(ctx)
  local version = wanted_version(ctx, last)
  if not version then
    local n = next_versions(last)
    say("  dry   would need --version X.Y.Z or --bump major|minor|patch (patch: v%s, minor: v%s, major: v%s)",
      n.patch, n.minor, n.major)
    return
  end
  local name = "v" .. version
  ctx.shared.tag = name   -- the publish phase of the same run publishes this tag
  if remote_ref(ctx, "refs/tags/" .. name) then
    die("tag %s already exists on %s: it was released already, choose another version (--bump patch: v%s)", name,
      ctx.opts.remote, next_versions(last).patch)
  end
  local here = ctx.repo:rev_parse("refs/tags/" .. name)
  if here then
    die("tag %s already exists locally (at %s) but not on %s: delete it with `git tag -d %s` and rerun,"
      .. " or choose another version", name, short(here), ctx.opts.remote, name)
  end
  if last and semver.compare(version, last.version) <= 0 then
    die("%s is not newer than the last release %s: use --bump patch (v%s) or a higher --version", name, last.name,
      next_versions(last).patch)
  end
  check("%s is newer than the last release %s", name, last and last.name or "(none)")
  check("%s is new here and on %s", name, ctx.opts.remote)
  if ctx.opts.dry_run then
    say("  dry   would create tag %s at %s", name, short(ctx.head.id))
    say("  dry   would push refs/tags/%s to %s (%s)", name, ctx.opts.remote, ctx.url)
    return
  end
  confirm(ctx, name)
  local _, err = ctx.repo:tag_create(name, { target = ctx.head.id, message = ctx.opts.message })
  if not _ then die("creating tag %s failed: %s", name, err) end
  check("created %s at %s", name, short(ctx.head.id))
  push_tag(ctx, name)
  check("pushed %s to %s", name, ctx.opts.remote)
  show_last_tags(ctx)
  if not remote_ref(ctx, "refs/tags/" .. name) then
    die("%s was pushed but %s does not list it: check the remote with `git ls-remote --tags %s`", name,
      ctx.opts.remote, ctx.opts.remote)
  end
end

---------------------------------------------------------------------------
-- 3. Publish (and 4. Verify): the step plan of relrun.publish
---------------------------------------------------------------------------

-- The release tag on HEAD (the highest when there are several), or nil.
local function tag_at_head(repo)
  local head = repo:head()
  local best
  for _, t in ipairs(repo:tags()) do
    local v = release_version(t.name)
    if v and t.target == head.id and (not best or semver.compare(v, best.version) > 0) then
      best = { name = t.name, version = v }
    end
  end
  return best and best.name
end

local function publish(ctx)
  local o = ctx.opts
  local project = o.project or o.repo
  open_repo(ctx)
  local tag_name = o.tag or ctx.shared.tag or tag_at_head(ctx.repo)
  ctx.repo:close()
  if not tag_name then
    die("HEAD has no release tag vX.Y.Z: run the tag phase first, check out the tag, or pass --tag")
  end
  local cfg, err = require("relrun.config").load{ project_dir = project, flags = {
    repository_dir = o.repository_dir, python = o.python, branch = o.branch } }
  if not cfg then die("%s", err) end
  if not cfg.package then
    die("%s has no Python project to build (no pyproject.toml with [project] name): pass --project DIR", project)
  end
  local plan, pctx = require("relrun.publish").plan{ cfg = cfg, tag = tag_name, project_dir = project,
    out = function(line) io.stdout:write(line, "\n") end }
  say("publish %s %s to %s", cfg.package or "?", pctx.version, pctx.target.label)
  local good, perr = plan:run(pctx, { dry_run = o.dry_run })
  if not good then
    die("%s", type(perr) == "table" and (perr.message or tostring(perr)) or tostring(perr))
  end
end

PHASES = {
  { "prepare", "check the release branch is clean and up to date; show the changes since the last tag"
    .. " and the next version for each bump", run = prepare },
  { "tag", "create vX.Y.Z (--version or --bump) on the release branch, push it, list the last five tags", run = tag },
  { "publish", "from the tag on HEAD: version gate, build, inspect, publish (CodeArtifact when CODEARTIFACT_DOMAIN"
    .. " is set, else the local repository), install instructions, verify", run = publish },
}

---------------------------------------------------------------------------
-- Command line
---------------------------------------------------------------------------

local function version_arg(v)
  local s = semver.parse((v:gsub("^v", "")))
  if not s or s.pre or s.build then
    return nil, string.format("must be MAJOR.MINOR.PATCH like 1.2.3, not %q", v)
  end
  return true
end

local SPEC = {
  prog = "release.lua",
  summary = "Release the package as RELEASE.md describes, one phase at a time.",
  commands = PHASES,
  command_optional = true,
  options = {
    { "-n", "--dry-run", help = "run the checks read-only and show what would be written; with no phase,"
      .. " the whole plan" },
    { "--version", arg = "X.Y.Z", check = version_arg, help = "tag: the version to release" },
    { "--bump", arg = "PART", choices = { "major", "minor", "patch" }, help = "tag: bump the last release" },
    { "--branch", arg = "NAME", default = "main", help = "the release branch" },
    { "--remote", arg = "NAME", default = "origin", help = "the remote to fetch from and push to" },
    { "--message", arg = "TEXT", help = "tag: make an annotated tag with this message (default: lightweight,"
      .. " as RELEASE.md's `git tag`)" },
    { "-C", "--repo", arg = "DIR", default = ".", help = "the clone to release from" },
    { "-y", "--yes", help = "do not ask for confirmation on a terminal" },
    { "--tag", arg = "TAG", help = "publish: the tag to publish (default: the release tag on HEAD)" },
    { "--project", arg = "DIR", help = "publish: the Python project's folder (default: the clone, -C)" },
    { "--repository-dir", arg = "DIR", help = "publish: the local repository folder (default .relrun/repository,"
      .. " or RELRUN_REPOSITORY_DIR); used when CODEARTIFACT_DOMAIN is not set" },
    { "--python", arg = "PATH", help = "publish: the interpreter to build with (default: the first python3 with"
      .. " the build module, or RELRUN_PYTHON)" },
  },
}

local opts = cli.parse_or_exit(SPEC, arg)
local function usage(msg)
  io.stderr:write("release.lua: ", msg, " (try --help)\n")
  os.exit(2)
end
if opts.version and opts.bump then usage("give --version or --bump, not both") end
if (opts.command == "tag" or not opts.command) and not opts.version and not opts.bump and not opts.dry_run then
  usage((opts.command or "a whole release (prepare, tag, publish)") .. " needs --version X.Y.Z or --bump major|minor|patch")
end

local shared = {}   -- what one phase tells the next in a whole-release run
local function run_phase(phase)
  local ctx = { opts = opts, shared = shared }
  local good, err = pcall(phase.run, ctx)
  if good then return end
  if type(err) == "table" and err.release then
    io.stderr:write("release.lua: ", phase[1], ": ", err.release, "\n")
    os.exit(1)
  end
  error(err, 0)
end

for _, phase in ipairs(PHASES) do
  if opts.command == phase[1] or not opts.command then run_phase(phase) end
end
