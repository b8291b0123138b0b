-- relrun setup — RELEASE.md's "Prerequisites" as one command.
--
-- Creates what a release needs and is missing: the CodeArtifact domain and
-- repository, the S3 bucket (when one is asked for), GitHub's OIDC provider
-- in IAM, the role with its trust policy and RELEASE.md's least-privilege
-- permissions policy, the GitHub `production` environment (deployments from
-- release tags only, --reviewer USER as required reviewers), and the
-- repository secrets and variable RELEASE.md lists, set through GitHub's API
-- (with a GITHUB_TOKEN; without one they are listed to set by hand).
--
-- The trust policy admits what the project's release workflow presents (a
-- job with `environment: production` sends sub repo:O/R:environment:production,
-- one without sends repo:O/R:ref:refs/tags/v1.2.3); --tag-pattern or
-- --trust-environment asks for one explicitly, and setup stops (exit 1)
-- when that would refuse the workflow's jobs.
--
-- A rerun creates nothing that exists. Something that exists but differs is
-- shown and left alone; --update replaces it. --dry-run changes nothing and
-- prints every document; with --offline it asks nothing of AWS or GitHub
-- (no credentials needed). The plan is relrun.phases.setup.
--
-- Exit 0: everything is as it should be (or would be, after a dry run);
-- 3: something differs and was left alone; 1: a call failed; 2: usage.
local cli = require "relrun.cli"
local errors = require "relrun.errors"
local project = require "relrun.project"
local setup = require "relrun.phases.setup"

local spec = {
  prog = "setup",
  summary = "Create the AWS and GitHub resources a release needs (RELEASE.md, Prerequisites).",
  options = {
    { "--project", arg = "DIR", help = "the Python project's folder (default: here, or the nearest folder up with one)" },
    { "--domain", arg = "NAME", help = "CodeArtifact domain (default: CODEARTIFACT_DOMAIN)" },
    { "--repository", arg = "NAME", help = "CodeArtifact repository (default: CODEARTIFACT_REPOSITORY)" },
    { "--account-id", arg = "ID", help = "AWS account (default: CODEARTIFACT_ACCOUNT_ID, else the caller's)" },
    { "--region", arg = "REGION", help = "AWS region (default: AWS_REGION, else the profile's)" },
    { "--bucket", arg = "NAME", help = "also create this S3 bucket for the wheels (default: S3_WHEELS_BUCKET)" },
    { "--github-repository", arg = "OWNER/REPO", help = "the GitHub repository (default: the origin remote's)" },
    { "--role-name", arg = "NAME", help = "the IAM role (default: the name in AWS_ROLE_ARN, else github-actions-release)" },
    { "--policy-name", arg = "NAME", default = setup.POLICY_NAME, help = "the role's inline permissions policy" },
    { "--tag-pattern", arg = "GLOB", help = "trust jobs running for these tags (sub repo:OWNER/REPO:ref:refs/tags/GLOB);"
      .. " default: what the release workflow presents" },
    { "--trust-environment", arg = "NAME", help = "trust jobs running in this GitHub environment (sub "
      .. "repo:OWNER/REPO:environment:NAME); default: what the release workflow presents" },
    { "--tag-prefix", arg = "PREFIX", help = "release tags are PREFIX+VERSION (default: detected from the tags, else v)" },
    { "--environment", arg = "NAME", help = "the GitHub environment (default: the release job's, else production)" },
    { "--reviewer", arg = "USER", many = true, help = "a required reviewer of the environment (repeatable)" },
    { "-n", "--dry-run", help = "print the plan and every document, change nothing" },
    { "--offline", help = "with --dry-run: ask nothing of AWS or GitHub (no credentials needed)" },
    { "--update", help = "replace what differs (trust policy, permissions policy, environment rule, variable) and"
      .. " set the secrets again" },
  },
}

local opts = cli.parse_or_exit(spec, arg)
-- The profile's region, as the AWS clients would use it, when no flag or variable names one.
local profile_region, region_source
if not opts.region and (os.getenv("AWS_REGION") or "") == "" and (os.getenv("AWS_DEFAULT_REGION") or "") == "" then
  profile_region, region_source = require("relrun.aws.config").region()
end
local flags = setmetatable({ region = opts.region or profile_region }, { __index = opts })
local p = errors.check(project.open{ dir = opts.project, flags = flags, need_repo = false, partial = true })
if profile_region then p.cfg.source.region = region_source end

local ctx = setup.context(p, opts, { out = print, command = cli.command_line(arg) })
local plan = setup.plan(ctx)
local good, err = plan:run(ctx, { dry_run = opts.dry_run })
if not good then errors.raise(err) end
if opts.dry_run then
  for _, line in ipairs(setup.documents(ctx)) do print(line) end
end
for _, line in ipairs(setup.settings_lines(ctx)) do print(line) end
local code = setup.report(ctx, plan)
p:close()
-- exit 3 without a second message (the host does not yet use a script's return value)
if code ~= 0 then error({ exit = code }, 0) end
return code
