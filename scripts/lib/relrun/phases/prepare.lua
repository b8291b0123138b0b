-- RELEASE.md "1. Prepare Release" as a plan of checks: the release branch
-- is checked out, clean, fetched and level with its upstream; the changes
-- since the last release; the next version for each bump; CI is green;
-- with --changelog (and --version or --bump), the release notes of the new
-- version (relrun.notes) written into CHANGELOG.md ([tool.relrun] changelog)
-- in a release commit pushed to the branch, which the tag then names.
--
--   local plan = prepare.plan(ctx)    -- ctx: { project, opts, out, command }
--   prepare.ready(plan, ctx)          -- the branch checks alone (tag reuses them)
--
-- ctx.remote_refs holds the remote's refs after the "remote" step: the
-- published release tags are the remote's (a tag only in this clone was
-- never released).
local steps = require "relrun.steps"
local errors = require "relrun.errors"
local project_mod = require "relrun.project"

local M = {}

local function short(id) return id and id:sub(1, 7) or "?" end

local function fail(code, message, hint) errors.raise(code, message, { hint = hint }) end

-- The remote's release tags (names), from ls-remote.
function M.remote_tag_names(ctx)
  return project_mod.remote_tag_names(ctx.remote_refs)
end

local function remote_ref(ctx, name)
  for _, r in ipairs(ctx.remote_refs or {}) do
    if r.name == name then return r.id end
  end
end
M.remote_ref = remote_ref

local function remote_failed(ctx, what, err, code)
  local o = ctx.project.cfg
  if code == "GIT_EAUTH" then fail("GIT_EAUTH", string.format("%s %s: %s", what, o.remote, err)) end
  fail("REMOTE", string.format("%s %s (%s): %s [%s]", what, o.remote, ctx.url, err, tostring(code)),
    "check the URL and the network")
end

-- The remote's refs, read-only (every mode needs them for the tag checks).
function M.list_remote(ctx)
  local refs, err, code = ctx.project.repo:ls_remote(ctx.project.cfg.remote)
  if not refs then remote_failed(ctx, "cannot reach", err, code) end
  ctx.remote_refs = refs
  return refs
end

local function branch_step(ctx)
  return { name = "branch", kind = "check", does = "HEAD is the release branch", run = function()
    local repo, want = ctx.project.repo, ctx.project.cfg.branch
    local head = repo:head()
    if head.unborn or repo:is_empty() then
      fail("EMPTY", "the repository has no commits yet", "commit the project and push " .. want .. " first")
    end
    ctx.head = head
    if head.detached then fail("DETACHED", "HEAD is detached at " .. short(head.id), "run `git checkout " .. want .. "`") end
    if head.branch ~= want then
      fail("WRONG_BRANCH", string.format("on branch %s, not the release branch %s", head.branch, want),
        string.format("run `git checkout %s` (or pass --branch %s, or set [tool.relrun] branch)", want, head.branch))
    end
    return { outcome = string.format("on branch %s at %s", want, short(head.id)) }
  end }
end

local function clean_step(ctx)
  return { name = "clean", kind = "check", does = "no uncommitted changes to tracked files", run = function()
    local st, err = ctx.project.repo:status()
    if not st then fail("STATUS", "reading the working tree failed: " .. tostring(err)) end
    local names = {}
    for _, f in ipairs(st.files) do
      if f.status ~= "untracked" and f.status ~= "ignored" then
        names[#names + 1] = f.path
        if #names == 8 then names[#names + 1] = "..."; break end
      end
    end
    if #names > 0 then
      fail("DIRTY", "the working tree has uncommitted changes (" .. table.concat(names, ", ") .. ")",
        "commit or `git stash` them")
    end
    return { outcome = "working tree clean" }
  end }
end

local function remote_step(ctx)
  return { name = "remote", kind = "check", does = "fetch the remote with its tags", run = function()
    local remote = ctx.project.cfg.remote
    for _, r in ipairs(ctx.project.repo:remotes()) do
      if r.name == remote then ctx.url = r.url end
    end
    if not ctx.url then
      fail("NO_REMOTE", string.format("there is no remote %q", remote),
        string.format("add it with `git remote add %s URL` (or pass --remote)", remote))
    end
    -- libgit2 cannot fetch into a shallow clone (its error names a
    -- missing object); the versions need the history anyway
    if ctx.project.repo:is_shallow() then
      fail("SHALLOW", "this clone is shallow: a release needs the history and the tags",
        string.format("run `git fetch --unshallow --tags %s` (in a workflow: actions/checkout with fetch-depth: 0)",
          remote))
    end
    M.list_remote(ctx)
    if ctx.dry_run then
      return { outcome = string.format("read %s (%s); a real run fetches it with its tags", remote, ctx.url) }
    end
    local good, err, code = ctx.project.repo:fetch(remote, { tags = true })
    if not good then remote_failed(ctx, "cannot fetch", err, code) end
    ctx.project:refresh()
    return { outcome = string.format("fetched %s (%s)", remote, ctx.url) }
  end }
end

-- Ahead/behind of HEAD against the remote's branch: from the fetched
-- remote-tracking ref, or in a dry run from ls-remote's id.
local function level_step(ctx)
  return { name = "level", kind = "check", does = "level with the remote's branch", run = function()
    local repo, branch, remote = ctx.project.repo, ctx.project.cfg.branch, ctx.project.cfg.remote
    local upstream = repo:upstream(branch) or (remote .. "/" .. branch)
    local their = remote_ref(ctx, "refs/heads/" .. branch)
    if not their then
      fail("NO_UPSTREAM", string.format("%s has no branch %s", remote, branch),
        string.format("push it first with `git push -u %s %s`", remote, branch))
    end
    if not ctx.dry_run then their = repo:rev_parse("refs/remotes/" .. upstream) or their end
    if not repo:rev_parse(their .. "^{commit}") then
      fail("BEHIND", string.format("%s has commits this clone does not have (%s is at %s)", upstream, branch,
        short(their)), string.format("run `git pull %s %s`", remote, branch))
    end
    -- HEAD is compared; a dry run goes on after the branch check failed,
    -- and then HEAD is not the branch: name what was compared
    local head = ctx.head or repo:head()
    if not head.id then fail("EMPTY", "the repository has no commits yet", "commit the project first") end
    local what = head.branch == branch and branch or
      ("HEAD (" .. (head.detached and ("detached at " .. short(head.id)) or tostring(head.branch)) .. ")")
    local ahead, behind = repo:ahead_behind(head.id, their)
    if not ahead then fail("GIT", string.format("comparing %s with %s failed: %s", what, upstream, tostring(behind))) end
    if behind > 0 then
      fail("BEHIND", string.format("%s is %d commit(s) behind %s (and %d ahead)", what, behind, upstream, ahead),
        string.format("run `git pull %s %s`", remote, branch))
    end
    if ahead > 0 then
      fail("AHEAD", string.format("%s is %d commit(s) ahead of %s", what, ahead, upstream),
        string.format("push them first (`git push %s %s`) so the tag points at a published commit", remote, branch))
    end
    return { outcome = string.format("up to date with %s (ahead 0, behind 0)", upstream) }
  end }
end

-- The branch checks prepare and tag share.
function M.ready(plan, ctx)
  plan:add(branch_step(ctx))
  plan:add(clean_step(ctx))
  plan:add(remote_step(ctx))
  plan:add(level_step(ctx))
end

-- The version a file of the project states, when the backend reads it from
-- one (static, attr:, a version file, a plain setup.py): { version, where }
-- | nil (from git tags, or not knowable without running the backend).
function M.written_version(ctx)
  local v = require("relrun.doctor.version").read(ctx.project)
  if v.source ~= "scm" and v.version then return v end
end

-- The last release: of the release tags on the remote, the one HEAD
-- builds on (Project:last_release).
function M.last_release(ctx)
  -- asked by several steps: the same until the remote is read again
  if ctx.last_release_of == ctx.remote_refs and ctx.last_release_of ~= nil then return ctx.last_release_found end
  local ids = {}
  for _, r in ipairs(ctx.remote_refs or {}) do
    local name, peeled = r.name:match("^refs/tags/([^%^]+)(%^?)")
    if name and (peeled ~= "" or not ids[name]) then ids[name] = r.id end
  end
  ctx.last_release_of, ctx.last_release_found = ctx.remote_refs,
    ctx.project:last_release(M.remote_tag_names(ctx), ids)
  return ctx.last_release_found
end

local function changes_step(ctx)
  return { name = "changes", kind = "check", does = "the changes since the last release", run = function()
    local last = M.last_release(ctx)
    local range = last and (last.name .. "..HEAD") or "HEAD"
    local log, err = ctx.project.repo:log(range)
    if not log then fail("GIT", "reading the log " .. range .. " failed: " .. tostring(err)) end
    if last then
      ctx.out(string.format("  changes since %s (git log %s --oneline): %d commit(s)", last.name, range, #log))
    else
      ctx.out(string.format("  no release tag yet: all %d commit(s)", #log))
    end
    for k, c in ipairs(log) do
      if k > 50 then ctx.out(string.format("    ... and %d more", #log - 50)); break end
      ctx.out(string.format("    %s %s", c.short, c.summary))
    end
    return { outcome = string.format("%d commit(s) since %s", #log, last and last.name or "the first") }
  end }
end

local function versions_step(ctx)
  return { name = "versions", kind = "check", does = "the last release and the next versions", run = function()
    local scheme = ctx.project.scheme
    local last = M.last_release(ctx)
    local n = scheme:next_versions(last)
    ctx.out(string.format("  tag scheme: %s%s (%s)", scheme.prefix == "" and "VERSION, no prefix" or
      ("\"" .. scheme.prefix .. "\"+VERSION"), scheme:note(), scheme.how))
    ctx.out(string.format("  last release: %s", last and last.name or "none"))
    local written = M.written_version(ctx)
    if written then ctx.out(string.format("  the project says: %s (%s)", written.version, written.where)) end
    -- on a maintenance branch the next minor may be released already
    -- (pytest's 9.0.x: 9.1.0 exists): said, not offered as new
    local function offer(version)
      local name = scheme:tag(version)
      return remote_ref(ctx, "refs/tags/" .. name) and (name .. " (exists)") or name
    end
    ctx.out(string.format("  next version: --bump major -> %s, --bump minor -> %s, --bump patch -> %s%s",
      offer(n.major), offer(n.minor), offer(n.patch), n.pre and (", --bump pre -> " .. offer(n.pre)) or ""))
    return { outcome = "last release " .. (last and last.name or "none") }
  end }
end

-- RELEASE.md "Verify CI is passing": HEAD's combined status and check runs
-- on GitHub must all be green.
local function ci_step(ctx)
  return { name = "ci", kind = "check", does = "CI is green on HEAD", run = function()
    local at = short(ctx.head.id)
    local github = require "relrun.github"
    if not github.token() then
      return { outcome = "not checked: set GITHUB_TOKEN to check " .. at .. "'s statuses and check runs" }
    end
    local gh, err = github.new{ repository = ctx.project:github_repository() }
    if not gh then return { outcome = "not checked: " .. tostring(err.message or err) } end
    local ci, cerr = gh:ci_status(ctx.head.id)
    if not ci then fail("CI", string.format("reading the CI status of %s on %s failed: %s", at, gh.repository,
      tostring(cerr.message or cerr))) end
    local branch = ctx.project.cfg.branch
    if ci.state == "failure" then
      fail("CI_FAILING", string.format("CI is failing on %s (%s): %s", at, gh.repository, table.concat(ci.failing, ", ")),
        "fix it on " .. branch .. " before releasing")
    end
    if ci.state == "pending" then
      fail("CI_PENDING", string.format("CI has not finished on %s (%s): %s still running", at, gh.repository,
        table.concat(ci.pending, ", ")), "wait for it and rerun")
    end
    if ci.state == "none" then
      return { outcome = string.format("warning: %s has no statuses or check runs on %s: nothing says it was tested",
        at, gh.repository) }
    end
    return { outcome = string.format("CI green on %s (%d statuses and check runs on %s)", at, ci.total, gh.repository) }
  end }
end

-- The changelog file and the heading of `version` in it.
local function changelog_path(ctx)
  local fs = require "relrun.fs"
  local name = ctx.project.cfg.changelog or "CHANGELOG.md"
  return fs.join(ctx.project.dir, name), name
end

local function has_heading(text, version)
  local v = version:gsub("%p", "%%%0")
  return text:find("\n##%s+%[?v?" .. v .. "%]?[%s\n]") ~= nil or text:find("^##%s+%[?v?" .. v .. "%]?[%s\n]") ~= nil
end

-- The new section at the top of the file (under a leading "# " title).
function M.changelog_text(old, version, body, date)
  local section = string.format("## %s (%s)\n\n%s\n", version, date, body)
  if not old or old == "" then return "# Changelog\n\n" .. section end
  local title, rest = old:match("^(# [^\n]*\n+)(.*)$")
  if title then return title .. section .. "\n" .. rest end
  return section .. "\n" .. old
end

local function changelog_step(ctx)
  local fs = require "relrun.fs"
  local notes = require "relrun.notes"
  local path, name = changelog_path(ctx)
  local remote, branch = ctx.project.cfg.remote, ctx.project.cfg.branch
  local function version()
    local last = M.last_release(ctx)
    local v = require("relrun.phases.tag").wanted_version(ctx.opts, last, ctx.project.scheme)
    if not v then
      errors.raise("USAGE", "prepare --changelog needs --version VERSION or --bump PART: the new section names the " ..
        "version", { exit = 2 })
    end
    return v, last
  end
  return { name = "changelog", does = "write the release notes into " .. name .. " in a release commit and push it",
    effect = "committed and pushed " .. name,
    check = function()
      local v = version()
      local text = fs.read(path) or ""
      if has_heading(text, v) then return true, { version = v }, name .. " has a section for " .. v end
      return false, nil, "would add a section for " .. v .. " to " .. name
    end,
    run = function()
      local v, last = version()
      local commits = notes.commits(ctx.project, "HEAD", last)
      local body = notes.render(commits)
      local wrote, werr = fs.write(path, M.changelog_text(fs.read(path), v, body, os.date("!%Y-%m-%d")))
      if not wrote then fail("CHANGELOG", "cannot write " .. path .. ": " .. tostring(werr)) end
      -- the commit is the user's: the git CLI, with their identity and hooks
      local proc = require "relrun.proc"
      for _, argv in ipairs({ { "git", "add", "--", name }, { "git", "commit", "-q", "-m", "Release " .. v ..
        ": changelog", "--", name } }) do
        local r, err = proc.run{ argv = argv, cwd = ctx.project.dir }
        if not r or r.code ~= 0 then
          fail("CHANGELOG", string.format("`%s` failed: %s", table.concat(argv, " "),
            r and ((r.stderr or "") .. (r.stdout or "")):gsub("%s+$", "") or tostring(err)),
            "commit " .. name .. " yourself, push it, then run the tag phase")
        end
      end
      local ref = "refs/heads/" .. branch
      local good, err, code = ctx.project.repo:push(remote, { ref .. ":" .. ref })
      if not good then
        fail("PUSH", string.format("pushing the changelog commit to %s %s failed: %s [%s]", remote, branch,
          tostring(err), tostring(code)), "push it with `git push " .. remote .. " " .. branch .. "`")
      end
      ctx.head = ctx.project.repo:head()
      return { version = v, outcome = string.format("%s: a section for %s (%d commit(s)), committed as %s and pushed",
        name, v, #commits, short(ctx.head.id)) }
    end }
end

function M.plan(ctx)
  local plan = steps.plan{ title = "prepare", command = ctx.command, out = ctx.out }
  M.ready(plan, ctx)
  plan:add(changes_step(ctx))
  plan:add(versions_step(ctx))
  plan:add(ci_step(ctx))
  if ctx.opts.write_changelog then plan:add(changelog_step(ctx)) end
  return plan
end

return M
