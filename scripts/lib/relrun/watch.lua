-- relrun.watch: RELEASE.md "3. Monitor Release Process" from the laptop, as
-- a plan: the workflow a push of the tag starts, the run it started (GitHub
-- API: the runs of the tag's commit for the push event), its jobs and steps
-- followed until it ends, then the full verification (relrun.verify).
--
--   local plan = watch.plan{ project = p, tag = "v1.2.3", version = "1.2.3", commit = id,
--                            out = print, timeout = 120, interval = 5, verify = true }
--   local ok, err = plan:run(ctx)
--
-- On a terminal the step under way is one line redrawn on stderr; in a log
-- each change is one line. A run that fails names its failing step, shows
-- the tail of that job's log and the doctor check that fits. A run that
-- never appears is explained: no workflow on the tag, a tag filter the tag
-- does not match, or a push with the workflow's own GITHUB_TOKEN.
local steps = require "relrun.steps"
local errors = require "relrun.errors"
local github = require "relrun.github"
local workflows = require "relrun.workflows"
local build = require "relrun.build"
local host = require "relrun.host"
local fs = require "relrun.fs"
local log = require "relrun.log"
local progress = require "relrun.progress"

local M = {}

M.INTERVAL = tonumber(os.getenv("RELRUN_WATCH_INTERVAL") or "") or 5   -- seconds between looks
M.TIMEOUT = 180     -- seconds for the run to appear (GitHub usually starts it within seconds)
M.LOG_LINES = 25    -- lines of a failed job's log shown

---------------------------------------------------------------------------
-- Why a tag starts no run
---------------------------------------------------------------------------

-- The tag was pushed from GitHub Actions with the workflow's own token: such
-- a push starts no workflow (GitHub: "events triggered by the GITHUB_TOKEN
-- ... will not create a new workflow run"). The push credential is
-- GITHUB_TOKEN (relrun.git takes it before GIT_TOKEN); a ghs_ token there
-- under Actions is the workflow's own (a PAT is ghp_ / github_pat_).
function M.pushed_with_actions_token(getenv)
  getenv = getenv or os.getenv
  local token = getenv("GITHUB_TOKEN")
  return getenv("GITHUB_ACTIONS") == "true" and token ~= nil and token:find("^ghs_") ~= nil
end

M.ACTIONS_TOKEN_WARNING = "the tag is pushed with GITHUB_TOKEN from GitHub Actions: a push with the workflow's own " ..
  "token starts no workflow, so the release workflow will not run for it"
M.ACTIONS_TOKEN_FIX = "push tags with a GitHub App token or a PAT in GIT_TOKEN (and GITHUB_TOKEN unset for that step)"

-- What a push of ctx.tag starts, read from the tagged commit's own
-- .github/workflows (GitHub reads the workflow from the pushed commit).
local function workflows_at(ctx)
  if not ctx.started then
    local co <close> = errors.check(build.checkout(ctx.project, ctx.commit))
    -- the workflows are at the repository's root, above the project's folder
    ctx.started = workflows.tag_workflows(fs.join(co.path, "src"), ctx.tag)
  end
  return ctx.started
end

local function list_files(items)
  local names = {}
  for _, w in ipairs(items) do names[#names + 1] = w.file end
  return table.concat(names, ", ")
end

-- The reasons no run appeared, most certain first.
function M.reasons(ctx)
  local w = workflows_at(ctx)
  local out = {}
  if w.files == 0 then
    out[#out + 1] = string.format("%s has no .github/workflows/*.yml: GitHub runs the workflows of the pushed " ..
      "commit, so nothing starts (`relrun init` writes the release workflow; commit it, then release a new version)",
      ctx.tag)
  elseif #w.started == 0 then
    local why = {}
    for _, nm in ipairs(w.not_matching) do
      why[#why + 1] = string.format("%s runs for tags %s", nm.file, table.concat(nm.tags, ", "))
    end
    out[#out + 1] = string.format("no workflow of %s is started by pushing the tag %s%s (fix the `on: push: tags:` " ..
      "filter, or the tag prefix)", ctx.tag, ctx.tag, #why > 0 and (": " .. table.concat(why, "; ")) or "")
  end
  for _, note in ipairs(w.unread) do out[#out + 1] = note end
  if M.pushed_with_actions_token(ctx.getenv) then
    out[#out + 1] = M.ACTIONS_TOKEN_WARNING .. "; " .. M.ACTIONS_TOKEN_FIX
  elseif #out == 0 then
    out[#out + 1] = string.format("%s starts %s, but GitHub has no run for it: was the tag pushed from a workflow " ..
      "with its GITHUB_TOKEN (such pushes start nothing)? Are Actions disabled for the repository, or is the " ..
      "workflow disabled?", ctx.tag, list_files(w.started))
  end
  return out
end

---------------------------------------------------------------------------
-- Display
---------------------------------------------------------------------------

local SYMBOL = { success = "✓", failure = "✗", cancelled = "✗", timed_out = "✗", skipped = "–",
                 neutral = "✓", action_required = "!", startup_failure = "✗" }

-- "2020-01-20T09:42:40.000-08:00" -> seconds since the epoch (UTC), or nil.
function M.parse_time(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, sec, rest = s:match("^(%d+)%-(%d+)%-(%d+)T(%d+):(%d+):(%d+)[%.%d]*(.*)$")
  if not y then return nil end
  -- days from the civil date (Howard Hinnant's algorithm), no local time zone involved
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo <= 2 then y = y - 1 end
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (mo + (mo > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  local t = (era * 146097 + doe - 719468) * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec)
  local sign, oh, om = rest:match("^([%+%-])(%d%d):?(%d%d)$")
  if sign then
    local off = tonumber(oh) * 3600 + tonumber(om) * 60
    t = sign == "+" and t - off or t + off
  end
  return t
end

local function took(item)
  local a, b = M.parse_time(item.started_at), M.parse_time(item.completed_at)
  if a and b and b >= a then return " (" .. progress.elapsed_text(b - a) .. ")" end
  return ""
end

-- A line of text from GitHub that must not act as a workflow command when
-- relrun itself runs under Actions, nor show a secret relrun knows.
local function neutral(line)
  line = host.mask(line)
  if line:find("^%s*::") or line:find("##[", 1, true) then
    local lead, first, rest = line:match("^(%s*)(.)(.*)$")
    line = lead .. first .. "\u{200B}" .. rest
  end
  return line
end

-- The display: a line per change (stdout); on a terminal, also the step
-- under way, redrawn on stderr.
local Display = {}
Display.__index = Display

function M.display(ctx)
  local terminal = ctx.terminal
  if terminal == nil then terminal = fs.isatty(2) and not log.actions() end
  return setmetatable({ out = ctx.out, terminal = terminal, seen = {}, drawn = false }, Display)
end

function Display:line(text)
  self:clear()
  self.out(neutral(text))
end

function Display:clear()
  if self.drawn then
    io.stderr:write("\r\027[K")
    io.stderr:flush()
    self.drawn = false
  end
end

function Display:status(text)
  if not self.terminal then return end
  io.stderr:write("\r", neutral(text), "\027[K")
  io.stderr:flush()
  self.drawn = true
end

-- Print what changed since the last look: a job or step that started or ended.
function Display:update(jobs, several)
  local current
  for _, job in ipairs(jobs) do
    local prefix = several and ("  " .. job.name .. " › ") or "  "
    local key = "job" .. job.id
    if job.status ~= "queued" and not self.seen[key] then
      self.seen[key] = "started"
      if several then self:line("  ▸ job " .. job.name) end
    end
    for _, st in ipairs(job.steps or {}) do
      local skey = key .. ":" .. tostring(st.number)
      local was = self.seen[skey]
      if st.status == "completed" and was ~= "completed" then
        self.seen[skey] = "completed"
        if st.conclusion ~= "skipped" then
          self:line(string.format("%s%s %s%s%s", prefix, SYMBOL[st.conclusion] or "?", st.name,
            st.conclusion == "success" and "" or (" — " .. tostring(st.conclusion)), took(st)))
        end
      elseif st.status == "in_progress" then
        if was == nil and not self.terminal then self:line(prefix .. "… " .. st.name) end
        self.seen[skey] = self.seen[skey] or "started"
        current = job.name .. " › " .. st.name
      end
    end
  end
  return current
end

---------------------------------------------------------------------------
-- The API, with a refused token said as such
---------------------------------------------------------------------------

local function api(ctx, value, err)
  if value ~= nil then return value end
  if err.status == 401 then
    errors.raise("GITHUB_TOKEN_REFUSED", string.format("GitHub refused the token while watching %s%s (401): it " ..
      "expired or was revoked; the release workflow goes on without relrun", ctx.tag,
      ctx.run and (", run #" .. tostring(ctx.run.run_number)) or ""),
      { hint = "get a new token (`export GH_TOKEN=$(gh auth token)`)" })
  end
  errors.raise(err)
end

---------------------------------------------------------------------------
-- The steps
---------------------------------------------------------------------------

local function workflow_step(ctx)
  return { name = "workflow", kind = "check", does = "the workflow a push of " .. ctx.tag .. " starts",
    run = function()
      if M.pushed_with_actions_token(ctx.getenv) then log.warn("%s; %s", M.ACTIONS_TOKEN_WARNING, M.ACTIONS_TOKEN_FIX) end
      local w = workflows_at(ctx)
      if #w.started == 0 then
        local why = M.reasons(ctx)
        errors.raise("NO_WORKFLOW", "no workflow run will start for " .. ctx.tag .. ": " .. why[1],
          { rerun = false })
      end
      return { outcome = "pushing " .. ctx.tag .. " starts " .. list_files(w.started) }
    end }
end

-- The runs the tag started: the push runs of its commit whose branch is the
-- tag (GitHub names a tag push's ref there).
local function runs_of_tag(ctx)
  local runs = api(ctx, ctx.github:workflow_runs{ head_sha = ctx.commit, event = "push" })
  local mine = {}
  for _, r in ipairs(runs) do
    if r.head_branch == ctx.tag or r.head_branch == nil then mine[#mine + 1] = r end
  end
  return mine
end

local function find_step(ctx)
  return { name = "run", kind = "check", does = "find the workflow run the tag started", run = function()
    local waited, t = 0, progress.start("waiting for GitHub to start the run", { terminal = ctx.terminal })
    local runs = runs_of_tag(ctx)
    while #runs == 0 do
      if waited >= ctx.timeout then
        t:finish()
        local why = M.reasons(ctx)
        errors.raise("NO_RUN", string.format("no workflow run started for %s (commit %s) within %s: %s", ctx.tag,
          ctx.commit:sub(1, 12), progress.elapsed_text(ctx.timeout), table.concat(why, "; ")),
          { hint = "when it starts later, `relrun watch " .. ctx.version .. "` follows it", rerun = false })
      end
      ctx.sleep(ctx.interval)
      waited = waited + math.max(ctx.interval, 0.001)
      t:tick()
      runs = runs_of_tag(ctx)
    end
    t:finish()
    ctx.runs = runs
    local names = {}
    for _, r in ipairs(runs) do
      names[#names + 1] = string.format("%s #%s %s", r.name or r.path, tostring(r.run_number), r.html_url or "")
    end
    return { outcome = table.concat(names, "; ") }
  end }
end

-- The tail of a job's log, timestamps and group markers taken off.
function M.log_tail(text, n)
  local lines = {}
  for line in (text or ""):gmatch("[^\n]*") do
    line = line:gsub("\r$", ""):gsub("^%d%d%d%d%-%d%d%-%d%dT[%d:%.]+Z ?", "")
    if line ~= "" and not line:find("^##%[endgroup%]") then
      line = line:gsub("^##%[group%]", "▸ "):gsub("^##%[error%]", "error: "):gsub("^##%[warning%]", "warning: ")
      lines[#lines + 1] = line
    end
  end
  local out = {}
  for i = math.max(1, #lines - (n or M.LOG_LINES) + 1), #lines do out[#out + 1] = lines[i] end
  return out
end

-- The doctor check that fits a failure, from the step's name and its log.
local HINTS = {
  { { "assumerolewithwebidentity", "not authorized to perform sts", "oidc", "id%-token", "web identity" },
    "`relrun doctor --only oidc` checks the role's trust policy against this repository " ..
    "(RELEASE.md \"OIDC Authentication Failures\")" },
  { { "codeartifact", "getauthorizationtoken", "publishpackageversion" },
    "`relrun doctor --only codeartifact` checks the domain, the repository and the role's permissions" },
  { { "s3://", "s3 bucket", "s3_", "putobject", "nosuchbucket" },
    "`relrun doctor --only s3` checks the bucket and the role's s3:PutObject" },
  { { "github release", "release asset", "resource not accessible by integration", "contents: write" },
    "the release job needs `permissions: contents: write`; `relrun doctor --only security` checks the workflow" },
  { { "python %-m build", "build failed", "backend", "setup%.py", "sdist", "wheel" },
    "`relrun doctor --only build` builds the tag here and names what fails" },
}

function M.doctor_hint(step_name, tail)
  local text = (tostring(step_name) .. "\n" .. table.concat(tail or {}, "\n")):lower()
  for _, h in ipairs(HINTS) do
    for _, word in ipairs(h[1]) do
      if text:find(word) then return h[2] end
    end
  end
  return "`relrun doctor` checks the whole set-up"
end

-- The failing job and step of a finished run -> job, step (either may be nil).
local function failure_of(jobs)
  for _, job in ipairs(jobs) do
    if job.conclusion and job.conclusion ~= "success" and job.conclusion ~= "skipped" and job.conclusion ~= "neutral" then
      for _, st in ipairs(job.steps or {}) do
        if st.conclusion == "failure" or st.conclusion == "cancelled" or st.conclusion == "timed_out" then
          return job, st
        end
      end
      return job, nil
    end
  end
end

local function report_failure(ctx, run, jobs, display)
  local job, st = failure_of(jobs)
  local where = job and string.format("step '%s' of job '%s'", st and st.name or "?", job.name) or "a job"
  local tail = {}
  if job then
    local text, err = ctx.github:job_log(job.id)
    if text then
      tail = M.log_tail(text)
      display:line(string.format("Log of job %s, the last %d lines:", job.name, #tail))
      for _, l in ipairs(tail) do display:line("    " .. l) end
    elseif err.status == 401 then
      api(ctx, nil, err)
    else
      -- the failure is the news; a log GitHub cannot give (expired, not yet
      -- written) is said and the failure reported all the same
      display:line("The job's log could not be read: " .. err.message)
    end
  end
  errors.raise("RUN_FAILED", string.format("the release workflow failed (%s) at %s: %s", tostring(run.conclusion),
    where, run.html_url or ("run #" .. tostring(run.run_number))),
    { rerun = false, hint = M.doctor_hint(st and st.name or (job and job.name), tail) ..
      "; after the fix, re-run the failed jobs on GitHub (`gh run rerun " .. tostring(run.id) .. " --failed`): " ..
      "the publish phase resumes where it stopped" })
end

local function follow_step(ctx)
  return { name = "follow", kind = "check", does = "follow the run's jobs and steps until it ends", run = function()
    local display = M.display(ctx)
    local results = {}
    for _, run in ipairs(ctx.runs) do
      ctx.run = run
      if #ctx.runs > 1 then display:line(string.format("  %s #%s", run.name or run.path, tostring(run.run_number))) end
      local started = host.monotime()
      local jobs
      while true do
        jobs = api(ctx, ctx.github:run_jobs(run.id))
        run = api(ctx, ctx.github:workflow_run(run.id))
        local current = display:update(jobs, #jobs > 1)
        if run.status == "completed" then break end
        display:status(string.format("  … %s (%s)", current or ("run " .. tostring(run.status)),
          progress.elapsed_text(host.monotime() - started)))
        ctx.sleep(ctx.interval)
      end
      -- the run ends after its jobs: read them once more for the last changes
      jobs = api(ctx, ctx.github:run_jobs(run.id))
      display:update(jobs, #jobs > 1)
      display:clear()
      if run.conclusion ~= "success" then report_failure(ctx, run, jobs, display) end
      results[#results + 1] = string.format("%s #%s succeeded", run.name or run.path, tostring(run.run_number))
    end
    return { outcome = table.concat(results, "; ") }
  end }
end

local function verify_step(ctx)
  return { name = "verify", kind = "check", does = "verify the release in every system it went to", run = function()
    local v = require "relrun.verify"
    local lines = v.release{ project = ctx.project, version = ctx.version, out = ctx.out, imports = ctx.imports }
    return { outcome = lines and (#lines .. " checks passed") or "verified" }
  end }
end

-- plan{ project, tag, version, commit, out, command, timeout, interval,
--       verify = true, github (a client), sleep, terminal, getenv } -> plan, ctx.
function M.plan(opts)
  local ctx = {}
  for k, v in pairs(opts) do ctx[k] = v end
  ctx.timeout = ctx.timeout or M.TIMEOUT
  ctx.interval = ctx.interval or M.INTERVAL
  ctx.sleep = ctx.sleep or host.sleep
  ctx.out = ctx.out or print
  if not ctx.github then
    local gh, err = github.new{ repository = ctx.project:github_repository() }
    if not gh then errors.raise(errors.wrap(err, "watch")) end   -- its message says what to set
    if not gh.token then
      errors.raise("NO_GITHUB_TOKEN", "watching the release needs a GitHub token that may read Actions of " ..
        gh.repository, { hint = "export GH_TOKEN=$(gh auth token)", exit = 2 })
    end
    ctx.github = gh
  end
  local plan = steps.plan{ title = string.format("watch the release of %s (%s)", ctx.tag, ctx.commit:sub(1, 12)),
                           command = ctx.command, out = ctx.out,
                           finished = string.format("Released and verified %s %s.", ctx.project.package or "",
                             ctx.version) }
  plan:add(workflow_step(ctx))
  plan:add(find_step(ctx))
  plan:add(follow_step(ctx))
  if ctx.verify ~= false then plan:add(verify_step(ctx)) end
  return plan, ctx
end

return M
