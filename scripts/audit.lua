-- relrun audit — RELEASE.md's "Monitor CloudTrail logs for
-- unusual CodeArtifact activity", as one command.
--
-- Looks up, over a window (--since 30d by default; CloudTrail keeps 90
-- days), every CodeArtifact call and every AssumeRoleWithWebIdentity into
-- the release role (AWS_ROLE_ARN), and flags: deletions, disposals and
-- status changes; publishes by anyone but the release role; calls signed with
-- long-term access keys (IAM users, root); role assumptions whose sub the
-- trust setup.lua writes would refuse (the same subs: the release workflow's,
-- or --tag-pattern / --trust-environment); use of the release role other
-- than through GitHub's OIDC provider; bursts of GetAuthorizationToken
-- (--burst 20/1h). The logic is relrun.audit; docs/audit.md has the details.
--
-- Nothing is changed anywhere. Exit 0: no findings; 3: findings (under
-- GitHub Actions each is a ::warning annotation too); 1: CloudTrail could
-- not be asked; 2: usage.
local cli = require "relrun.cli"
local errors = require "relrun.errors"
local project = require "relrun.project"
local audit = require "relrun.audit"

local spec = {
  prog = "audit",
  summary = "Look for unusual CodeArtifact activity and release-role use in CloudTrail.",
  options = {
    { "--project", arg = "DIR", help = "the Python project's folder (default: here, or the nearest folder up with one)" },
    { "--since", arg = "WHEN", default = "30d", help = "the window's start: 30d, 12h, 2w, 90m, or a date " ..
      "2026-11-01 (UTC) or time 2026-11-01T08:00:00Z; at most 90 days ago" },
    { "--burst", arg = "COUNT/SPAN", default = "20/1h", help = "flag more GetAuthorizationToken calls than COUNT " ..
      "by one principal within SPAN (m, h, d)" },
    { "--region", arg = "REGION", help = "AWS region (default: AWS_REGION, else the profile's)" },
    { "--role-arn", arg = "ARN", help = "the release role (default: AWS_ROLE_ARN)" },
    { "--github-repository", arg = "OWNER/REPO", help = "the GitHub repository (default: the origin remote's)" },
    { "--tag-pattern", arg = "GLOB", help = "trusted subs: jobs running for these tags (as relrun setup)" },
    { "--trust-environment", arg = "NAME", help = "trusted subs: jobs running in this environment (as relrun setup)" },
    { "--json", help = "print the report as one JSON document" },
  },
}

local opts = cli.parse_or_exit(spec, arg)
local now = os.time()
local start_time, why = audit.parse_since(opts.since, now)
if not start_time then errors.raise("USAGE", "--since: " .. why, { exit = 2 }) end
local burst, bwhy = audit.parse_burst(opts.burst)
if not burst then errors.raise("USAGE", "--burst: " .. bwhy, { exit = 2 }) end

local p = errors.check(project.open{ dir = opts.project, flags = opts, need_repo = false, partial = true })
local cfg = p.cfg
if not cfg.role_arn then
  errors.raise("USAGE", "audit needs the release role: set AWS_ROLE_ARN or pass --role-arn", { exit = 2 })
end
local repository = p:github_repository()
if not repository then
  errors.raise("USAGE", "audit needs OWNER/REPO to know the trusted subs: pass --github-repository " ..
    "(or set GITHUB_REPOSITORY, or add an origin remote)", { exit = 2 })
end

-- The subs setup.lua trusts: what the release workflow presents, or what was asked.
local trusted = require("relrun.phases.setup").trust({ opts = opts, github_repository = repository }, p)

local client = errors.check(require("relrun.aws.cloudtrail").client{ region = cfg.region })
local report = audit.checked(client, { start_time = start_time, end_time = now, role_arn = cfg.role_arn,
                                       trusted = trusted, burst = burst })
p:close()

if opts.json then
  print(require("relrun.json").encode(audit.document(report)))
else
  for _, line in ipairs(audit.lines(report)) do print(line) end
end
audit.annotate(report)
return #report.findings > 0 and 3 or 0
