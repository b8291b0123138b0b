-- RELEASE.md "Monitor CloudTrail logs for unusual CodeArtifact activity",
-- as doctor checks: scripts/audit.lua's judging (relrun.audit) over the last
-- 7 days, one check per kind of finding. The two lookups are made once, by
-- the first check; a lookup that fails is that check's finding and the
-- others skip (one problem, counted once).
local checks = require "relrun.checks"
local audit = require "relrun.audit"
local aws = require "relrun.doctor.aws"

local M = { needs_network = true }
M.DAYS = 7
local SHOWN = 5   -- findings listed per check; the rest counted

-- The report, or a checks result saying why there is none. Cached in ctx.
local function report(ctx)
  if ctx.cloudtrail then return ctx.cloudtrail.report, ctx.cloudtrail.result end
  local function done(r, result)
    ctx.cloudtrail = { report = r, result = result }
    return r, result
  end
  if not ctx.cfg.role_arn then return done(nil, checks.skip("AWS_ROLE_ARN is not set (the release role to audit)")) end
  local repository = aws.github_repository(ctx)
  if not repository then return done(nil, checks.skip("no GitHub repository (GITHUB_REPOSITORY or an origin remote)")) end
  local client, cerr = aws.client(ctx, "cloudtrail")
  if not client then return done(nil, checks.skip(tostring(cerr))) end
  local trusted = require("relrun.phases.setup").trust({ opts = {}, github_repository = repository }, ctx.project)
  local now = os.time()
  local r, err = audit.run(client, { start_time = now - M.DAYS * 86400, end_time = now, role_arn = ctx.cfg.role_arn,
                                      trusted = trusted })
  if r then return done(r) end
  if err.code == "AccessDeniedException" or err.code == "AccessDenied" then
    return done(nil, checks.skip("cloudtrail:LookupEvents is not permitted for these credentials"))
  end
  ctx.cloudtrail = { failed = true }
  return nil, checks.fail(tostring(err.message or err), err.hint or "check the CloudTrail endpoint and the credentials")
end

local function summary(r)
  return string.format("none in the last %d days (%d CodeArtifact event%s, %d assumption%s of the release role)", M.DAYS,
    r.counts.codeartifact, r.counts.codeartifact == 1 and "" or "s", r.counts.assumptions,
    r.counts.assumptions == 1 and "" or "s")
end

local function kind_check(g, ctx, k)
  g:check(k.title, function()
    local already_failed = ctx.cloudtrail and ctx.cloudtrail.failed
    if already_failed then return checks.skip("CloudTrail could not be read (see above)") end
    local r, result = report(ctx)
    -- a copy: the checks list names the result it is given
    if not r then return { status = result.status, found = result.found, todo = result.todo } end
    local lines = {}
    for _, f in ipairs(r.findings) do
      if f.kind == k.kind then lines[#lines + 1] = audit.line(f) end
    end
    if #lines == 0 then return checks.ok(summary(r)) end
    local shown = table.move(lines, 1, math.min(#lines, SHOWN), 1, {})
    if #lines > SHOWN then shown[#shown + 1] = string.format("and %d more", #lines - SHOWN) end
    local found = table.concat(shown, "; ")
    local todo = k.todo .. " (relrun audit --since " .. M.DAYS .. "d lists them all)"
    return k.severity == "fail" and checks.fail(found, todo) or checks.warn(found, todo)
  end, "CloudTrail LookupEvents: codeartifact.amazonaws.com and AssumeRoleWithWebIdentity, last " .. M.DAYS .. " days")
end

function M.register(g, ctx)
  for _, k in ipairs(audit.KINDS) do kind_check(g, ctx, k) end
end

return M
