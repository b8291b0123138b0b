-- relrun scripts/setup.lua — RELEASE.md's "Prerequisites" as one command.
--
-- Creates what a release needs and is missing: the CodeArtifact domain and
-- repository, the S3 bucket (when one is asked for), GitHub's OIDC provider
-- in IAM, the role with RELEASE.md's tag-limited trust policy and its
-- least-privilege permissions policy, and (with a GITHUB_TOKEN) the
-- `production` environment limited to tags. Then it lists the repository
-- secrets and variables to set.
--
-- A rerun creates nothing that exists. A resource that exists but differs
-- from RELEASE.md (another trust condition, a wider policy) is shown as a
-- diff and left alone; `--update` replaces it. `--dry-run` changes nothing
-- and prints the plan with the exact JSON documents.
--
-- Exit 0: everything is as RELEASE.md describes (or would be, after a dry
-- run); 3: something differs and was left alone; 1: a call failed; 2: usage.
local cli = require "relrun.cli"
local config = require "relrun.config"
local policy = require "relrun.policy"
local json = require "relrun.json"

local spec = {
  prog = "setup.lua",
  summary = "Create the AWS and GitHub resources a release needs (RELEASE.md, Prerequisites).",
  options = {
    { "--project", arg = "DIR", default = ".", help = "the Python project (where pyproject.toml is)" },
    { "--domain", arg = "NAME", help = "CodeArtifact domain (default: CODEARTIFACT_DOMAIN)" },
    { "--repository", arg = "NAME", help = "CodeArtifact repository (default: CODEARTIFACT_REPOSITORY)" },
    { "--account-id", arg = "ID", help = "AWS account (default: CODEARTIFACT_ACCOUNT_ID, else the caller's)" },
    { "--region", arg = "REGION", help = "AWS region (default: AWS_REGION)" },
    { "--bucket", arg = "NAME", help = "also create this S3 bucket for the wheels (default: S3_WHEELS_BUCKET)" },
    { "--github-repository", arg = "OWNER/REPO", help = "the GitHub repository whose tags may assume the role" },
    { "--role-name", arg = "NAME", help = "the IAM role (default: the name in AWS_ROLE_ARN, else github-actions-release)" },
    { "--policy-name", arg = "NAME", default = "relrun-release", help = "the role's inline permissions policy" },
    { "--tag-pattern", arg = "GLOB", default = "v*", help = "the tags the trust policy admits" },
    { "--trust-environment", arg = "NAME",
      help = "trust jobs that run in this GitHub environment instead of tag refs (GitHub then sends " ..
             "sub repo:OWNER/REPO:environment:NAME)" },
    { "--environment", arg = "NAME", help = "the GitHub environment to create (default: production)" },
    { "--dry-run", help = "print the plan and the documents, change nothing" },
    { "--update", help = "replace resources that differ from RELEASE.md (trust policy, permissions policy, " ..
                         "environment rule)" },
  },
}

local opts = cli.parse_or_exit(spec, arg)
local function fail(msg, exit) error({ message = msg, exit = exit }, 0) end

-- The settings: flags, then RELEASE.md's environment names, then pyproject.
local function settings()
  -- The profile's region, as the AWS clients would use it, when no flag or
  -- variable names one.
  local region, region_source = opts.region, nil
  if not region and not os.getenv("AWS_REGION") and not os.getenv("AWS_DEFAULT_REGION") then
    region, region_source = require("relrun.aws.config").region()
    if not region then region_source = nil end
  end
  local flags = { domain = opts.domain, repository = opts.repository, account_id = opts.account_id,
                  region = region, bucket = opts.bucket,
                  github_repository = opts.github_repository, environment = opts.environment }
  -- config.load insists on the account for a CodeArtifact target; setup may
  -- learn it from STS, so fill a placeholder and replace it below.
  local account = opts.account_id or os.getenv("CODEARTIFACT_ACCOUNT_ID")
  if not account or account == "" then flags.account_id = "000000000000" end
  local cfg, err = config.load{ project_dir = opts.project, flags = flags }
  if not cfg then fail(err, 2) end
  if not account or account == "" then cfg.account_id, cfg.source.account_id = nil, nil end
  if region_source then cfg.source.region = region_source end
  if not cfg.package then cfg.package, cfg.source.package = "stock-pipeline", "RELEASE.md" end
  local missing = {}
  if not cfg.domain then missing[#missing + 1] = "--domain (or CODEARTIFACT_DOMAIN)" end
  if not cfg.repository then missing[#missing + 1] = "--repository (or CODEARTIFACT_REPOSITORY)" end
  if not cfg.region then missing[#missing + 1] = "--region (or AWS_REGION)" end
  if not cfg.github_repository then
    local repo = require("relrun.git").open(opts.project) or nil
    cfg.github_repository = require("relrun.doctor.aws").github_repository{ cfg = cfg, repo = repo }
    if repo then repo:close() end
    if not cfg.github_repository then missing[#missing + 1] = "--github-repository OWNER/REPO (or an origin remote)" end
  end
  if #missing > 0 then fail("setup needs " .. table.concat(missing, ", "), 2) end
  return cfg
end

local cfg = settings()

-- AWS clients, made on first use. A dry run without credentials still
-- prints the plan, with nothing checked (`unchecked` says why).
local clients, unchecked = {}, nil
local function client(service)
  if clients[service] then return clients[service] end
  if unchecked then return nil end
  local c, err = require("relrun.aws." .. service).client{ region = cfg.region }
  if not c and opts.dry_run then
    print("  (nothing can be checked: " .. err .. ")")
    unchecked = "not checked (no AWS credentials)"
    return nil
  end
  if not c then fail("AWS " .. service .. ": " .. err .. " — set AWS credentials (a --dry-run works without)") end
  clients[service] = c
  return c
end

if not cfg.account_id then
  local sts = client("sts")
  if not sts then fail("cannot tell the AWS account without credentials: pass --account-id", 2) end
  local me, err = sts:get_caller_identity()
  if not me then fail("cannot tell the AWS account (STS GetCallerIdentity: " .. err .. "); pass --account-id") end
  cfg.account_id, cfg.source.account_id = me.account, "the caller's account"
end

local role_name = opts.role_name or (cfg.role_arn and cfg.role_arn:match(":role/(.+)$"))
role_name = role_name and role_name:match("([^/]+)$") or "github-actions-release"
local docs = policy.documents{ account = cfg.account_id, region = cfg.region, domain = cfg.domain,
                               repository = cfg.repository, package = cfg.package, bucket = cfg.bucket,
                               github_repository = cfg.github_repository, tag_pattern = opts.tag_pattern }
if opts.trust_environment then
  docs.trust.Statement[1].Condition.StringLike[policy.OIDC_HOST .. ":sub"] =
    policy.github_sub(cfg.github_repository, nil, opts.trust_environment)
end
local role_arn = string.format("arn:aws:iam::%s:role/%s", cfg.account_id, role_name)

-- JSON as a person reads it, keys in the order RELEASE.md writes them, so
-- the dry run shows the very text that is sent to IAM.
local KEY_ORDER = { Version = 1, Sid = 2, Effect = 3, Principal = 4, NotPrincipal = 5, Action = 6, NotAction = 7,
                    Resource = 8, NotResource = 9, Condition = 10 }
local function pretty(v, indent)
  indent = indent or ""
  -- cjson writes "/" as "\/"; valid, but not how RELEASE.md reads. In its
  -- output a "\/" is always an escaped slash (a backslash comes out "\\").
  if type(v) ~= "table" then return (json.encode(v):gsub("\\/", "/")) end
  local inner = indent .. "  "
  local parts = {}
  if v[1] ~= nil then
    for _, x in ipairs(v) do parts[#parts + 1] = inner .. pretty(x, inner) end
    return "[\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    local ra, rb = KEY_ORDER[a] or 100, KEY_ORDER[b] or 100
    if ra ~= rb then return ra < rb end
    return a < b
  end)
  for _, k in ipairs(keys) do parts[#parts + 1] = inner .. pretty(k) .. ": " .. pretty(v[k], inner) end
  return "{\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "}"
end

-- The plan: each step looks first, then creates what is missing. Outcomes:
-- exists, created, would create, differs (left alone), updated, would update, skipped.
local counts = { exists = 0, created = 0, differs = 0, updated = 0, skipped = 0 }
local MARK = { exists = "✓", created = "+", ["would create"] = "+", differs = "~", updated = "~",
               ["would update"] = "~", skipped = "-" }
local function report(what, outcome, detail, lines)
  local key = outcome:gsub("^would ", "")
  key = key == "create" and "created" or key == "update" and "updated" or key
  counts[key] = (counts[key] or 0) + 1
  print(string.format("  %s %s: %s%s", MARK[outcome] or "?", what, outcome, detail and (" — " .. detail) or ""))
  for _, l in ipairs(lines or {}) do print("      " .. l) end
end

local function is_missing(code)
  return code == "ResourceNotFoundException" or code == "NoSuchEntity" or code == "NotFound" or code == "NoSuchBucket"
    or code == "404"
end

-- Run `create` unless this is a dry run; report what happened.
local function create(what, detail, fn)
  if opts.dry_run then return report(what, "would create", detail) end
  local good, err = fn()
  if not good then fail("creating " .. what .. " failed: " .. tostring(err)) end
  report(what, "created", detail)
end

-- A resource that differs: shown, left alone unless --update.
local function differs(what, diff_lines, update, why)
  if not opts.update then
    return report(what, "differs", (why or "differs from RELEASE.md") .. "; left alone (--update replaces it)",
      diff_lines)
  end
  if opts.dry_run then return report(what, "would update", why, diff_lines) end
  local good, err = update()
  if not good then fail("updating " .. what .. " failed: " .. tostring(err)) end
  report(what, "updated", why, diff_lines)
end

print(string.format("Setting up the release of %s: account %s (%s), region %s, GitHub %s%s", cfg.package,
  cfg.account_id, cfg.source.account_id or "?", cfg.region, cfg.github_repository,
  opts.dry_run and " — dry run, nothing is changed" or ""))

-- 1. CodeArtifact domain and repository.
local function step_codeartifact()
  local ca = client("codeartifact")
  if not ca then
    report("CodeArtifact domain " .. cfg.domain, "would create", unchecked)
    return report("CodeArtifact repository " .. cfg.domain .. "/" .. cfg.repository, "would create", unchecked)
  end
  local what = "CodeArtifact domain " .. cfg.domain
  local d, err, code = ca:describe_domain{ domain = cfg.domain, domain_owner = cfg.account_id }
  if d then
    report(what, "exists", "owner " .. tostring(d.owner))
  elseif is_missing(code) then
    create(what, nil, function() return ca:create_domain{ domain = cfg.domain } end)
  else
    fail("DescribeDomain " .. cfg.domain .. ": " .. err)
  end
  what = "CodeArtifact repository " .. cfg.domain .. "/" .. cfg.repository
  local description = "Stock pipeline Python packages"
  local r, rerr, rcode = ca:describe_repository{ domain = cfg.domain, domain_owner = cfg.account_id,
                                                 repository = cfg.repository }
  if r then
    if r.description ~= description then
      report(what, "exists", string.format("description %q, RELEASE.md's is %q (harmless, left alone)",
        tostring(r.description or ""), description))
    else
      report(what, "exists")
    end
  elseif is_missing(rcode) or (opts.dry_run and not d) then
    create(what, "description " .. string.format("%q", description), function()
      return ca:create_repository{ domain = cfg.domain, domain_owner = cfg.account_id, repository = cfg.repository,
                                   description = description }
    end)
  else
    fail("DescribeRepository " .. cfg.repository .. ": " .. rerr)
  end
end

-- 2. The S3 bucket, only when one is asked for.
local function step_bucket()
  if not cfg.bucket then
    return report("S3 bucket", "skipped", "none asked for (--bucket or S3_WHEELS_BUCKET)")
  end
  local s3 = client("s3")
  local what = "S3 bucket " .. cfg.bucket
  if not s3 then return report(what, "would create", unchecked) end
  local head, err, code = s3:head_bucket{ bucket = cfg.bucket }
  if head then
    local where = head.region and (" in " .. head.region) or ""
    if head.region and head.region ~= cfg.region then
      return report(what, "exists", "in " .. head.region .. ", not " .. cfg.region .. " (uploads still work)")
    end
    return report(what, "exists", where ~= "" and where:sub(2) or nil)
  end
  if code == "Forbidden" or code == "403" then
    fail("S3 bucket " .. cfg.bucket .. " belongs to another account (HeadBucket: 403): choose another name")
  end
  if not is_missing(code) then fail("HeadBucket " .. cfg.bucket .. ": " .. err) end
  create(what, "in " .. cfg.region, function() return s3:create_bucket{ bucket = cfg.bucket, region = cfg.region } end)
end

-- 3. GitHub's OIDC provider in IAM, with the sts.amazonaws.com audience.
local OIDC_URL = "https://" .. policy.OIDC_HOST
-- GitHub's published certificate thumbprints; IAM no longer checks them for
-- this provider but older API versions require at least one.
local THUMBPRINTS = { "6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd" }

local function step_oidc_provider()
  local iam = client("iam")
  local what = "IAM OIDC provider " .. policy.OIDC_HOST
  if not iam then return report(what, "would create", unchecked) end
  local arns, err = iam:list_open_id_connect_providers()
  if not arns then fail("ListOpenIDConnectProviders: " .. err) end
  local arn = docs.oidc_provider_arn
  local found = false
  for _, a in ipairs(arns) do found = found or a == arn end
  if not found then
    return create(what, "client id sts.amazonaws.com", function()
      return iam:create_open_id_connect_provider{ url = OIDC_URL, client_ids = { "sts.amazonaws.com" },
                                                  thumbprints = THUMBPRINTS }
    end)
  end
  local r, gerr = iam:call("GetOpenIDConnectProvider", { OpenIDConnectProviderArn = arn })
  if not r then fail("GetOpenIDConnectProvider: " .. gerr) end
  local ids = require("relrun.aws.core").xml_all(require("relrun.aws.core").xml_find(r, "ClientIDList"), "member")
  local names = {}
  for _, m in ipairs(ids) do
    if m.text == "sts.amazonaws.com" then return report(what, "exists", "client id sts.amazonaws.com") end
    names[#names + 1] = m.text
  end
  differs(what, { "client ids: want sts.amazonaws.com, have " .. (#names > 0 and table.concat(names, ", ") or "none") },
    function() return iam:call("AddClientIDToOpenIDConnectProvider", { OpenIDConnectProviderArn = arn,
                                                                       ClientID = "sts.amazonaws.com" }) end,
    "the audience relrun asks for is not a client id")
end

-- 4. The role with the trust policy, and its permissions policy.
local function step_role()
  local iam = client("iam")
  local what = "IAM role " .. role_name .. " (trust policy)"
  if not iam then
    report(what, "would create", unchecked)
    return report("IAM role " .. role_name .. " (permissions policy " .. opts.policy_name .. ")", "would create",
      unchecked)
  end
  local role, err, code = iam:get_role{ role_name = role_name }
  if not role and not is_missing(code) then fail("GetRole " .. role_name .. ": " .. err) end
  if not role then
    create(what, "sub " .. docs.trust.Statement[1].Condition.StringLike[policy.OIDC_HOST .. ":sub"], function()
      return iam:create_role{ role_name = role_name, assume_role_policy = pretty(docs.trust),
                              description = "GitHub Actions releases of " .. cfg.github_repository .. " (relrun)" }
    end)
  else
    role_arn = role.arn or role_arn
    local lines = policy.diff(docs.trust, role.assume_role_policy)
    if #lines == 0 then
      report(what, "exists", "as RELEASE.md's")
    else
      differs(what, lines, function()
        return iam:update_assume_role_policy{ role_name = role_name, policy = pretty(docs.trust) }
      end, "its trust policy is not RELEASE.md's")
    end
  end

  what = "IAM role " .. role_name .. " (permissions policy " .. opts.policy_name .. ")"
  local have, perr, pcode
  if role then have, perr, pcode = iam:get_role_policy{ role_name = role_name, policy_name = opts.policy_name } end
  if role and not have and not is_missing(pcode) then fail("GetRolePolicy " .. opts.policy_name .. ": " .. perr) end
  local function put()
    return iam:put_role_policy{ role_name = role_name, policy_name = opts.policy_name, policy = pretty(docs.permissions) }
  end
  if not have then
    create(what, "RELEASE.md's least privilege" .. (cfg.bucket and "" or " (no S3 statement: no bucket)"), put)
  else
    local lines = policy.diff(docs.permissions, have)
    if #lines == 0 then
      report(what, "exists", "as RELEASE.md's")
    else
      local wider = policy.wider_than(have, { "codeartifact:GetAuthorizationToken", "codeartifact:GetRepositoryEndpoint",
        "codeartifact:ReadFromRepository", "codeartifact:PublishPackageVersion", "sts:GetServiceBearerToken",
        "s3:PutObject", "s3:PutObjectAcl" })
      local why = #wider > 0 and ("it is wider than RELEASE.md's: " .. table.concat(wider, "; "))
        or "it is not RELEASE.md's"
      if not cfg.bucket and require("relrun.json").encode(have):find("s3:PutObject", 1, true) then
        why = why .. " (it has an S3 statement: pass --bucket NAME to keep it)"
      end
      differs(what, lines, put, why)
    end
  end

  -- Other policies on the role are never touched, but a wider one is said.
  if role then
    for _, name in ipairs(iam:list_role_policies{ role_name = role_name } or {}) do
      if name ~= opts.policy_name then
        report("IAM role " .. role_name .. " (inline policy " .. name .. ")", "exists",
          "not relrun's; left alone — review it (relrun scripts/doctor.lua says whether it is wider)")
      end
    end
    for _, att in ipairs(iam:list_attached_role_policies{ role_name = role_name } or {}) do
      report("IAM role " .. role_name .. " (attached policy " .. tostring(att.name) .. ")", "exists",
        "not relrun's; left alone — review it")
    end
  end
end

-- 5. The GitHub environment, limited to tags, when a token allows it.
local function step_environment()
  local name = cfg.environment or "production"
  local what = "GitHub environment " .. name
  if not os.getenv("GITHUB_TOKEN") and not os.getenv("GH_TOKEN") then
    return report(what, "skipped", "no GITHUB_TOKEN: create it in Settings → Environments, deployments from tags only")
  end
  local github = require "relrun.github"
  local gh, gerr = github.new{ repository = cfg.github_repository, repo_dir = opts.project }
  if not gh then fail(gerr.message) end
  local env, err = gh:environment(name)
  if env == nil then fail("GitHub environment " .. name .. ": " .. err.message) end
  -- A PUT sets the reviewers it is given: pass the existing ones on.
  local reviewers
  for _, rule in ipairs(env and env.protection_rules or {}) do
    for _, r in ipairs(rule.type == "required_reviewers" and rule.reviewers or {}) do
      reviewers = reviewers or {}
      reviewers[#reviewers + 1] = { type = r.type, id = r.reviewer and r.reviewer.id }
    end
  end
  local function tag_rule()
    local good, perr = gh:put_environment(name, { tags_only = true, reviewers = reviewers })
    if not good then return nil, perr.message end
    local rule, rerr = gh:request("POST", gh:repo_path("/environments/" .. require("relrun.http").url_encode(name) ..
      "/deployment-branch-policies"), { body = { name = opts.tag_pattern, type = "tag" } })
    if not rule and rerr.status ~= 303 then return nil, "the tag rule: " .. rerr.message end
    return true
  end
  if env == false then
    return create(what, "deployments from tags " .. opts.tag_pattern .. " only", tag_rule)
  end
  local policy_ = env.deployment_branch_policy
  if type(policy_) == "table" and policy_.custom_branch_policies == true then
    return report(what, "exists", "deployments limited by custom rules" ..
      (next(env.protection_rules or {}) and "" or "; add required reviewers (recommended)"))
  end
  differs(what, { "deployment rule: want tags " .. opts.tag_pattern .. " only, have any branch or tag" }, tag_rule,
    "any ref may deploy to it")
end

local function dry_run_documents()
  print("")
  print("Trust policy of role " .. role_name .. ":")
  print(pretty(docs.trust))
  print("")
  print("Permissions policy " .. opts.policy_name .. " of role " .. role_name .. ":")
  print(pretty(docs.permissions))
end

local function github_settings()
  print("")
  print("GitHub repository secrets (Settings → Secrets and variables → Actions):")
  for _, kv in ipairs({ { "AWS_ROLE_ARN", role_arn }, { "AWS_REGION", cfg.region },
                        { "CODEARTIFACT_DOMAIN", cfg.domain }, { "CODEARTIFACT_ACCOUNT_ID", cfg.account_id },
                        { "CODEARTIFACT_REPOSITORY", cfg.repository } }) do
    print(string.format("  %s: %s", kv[1], kv[2]))
  end
  print("GitHub repository variables:")
  print(cfg.bucket and ("  S3_WHEELS_BUCKET: " .. cfg.bucket) or "  S3_WHEELS_BUCKET: (not set: no S3 copy of the wheels)")
end

-- A job with an environment presents sub repo:O/R:environment:NAME, which a
-- tag condition never matches (FIELD-NOTES 5): say so before it bites.
local function workflow_warning()
  if opts.trust_environment then return end
  local fs = require "relrun.fs"
  local root = opts.project
  local repo = require("relrun.git").open(opts.project)
  if repo then root = repo:workdir() or root; repo:close() end
  for _, path in ipairs(fs.glob(fs.join(root, ".github/workflows/*.y*ml")) or {}) do
    local env = (fs.read(path) or ""):match("\n%s+environment:%s*([%w_.-]+)%s*\n")
    if env then
      print("")
      print(string.format("warning: %s runs a job in environment %s, so GitHub sends sub %s — the tag-limited " ..
        "trust policy refuses it; rerun with --trust-environment %s --update, or remove the environment from the job",
        path:sub(#root + 2), env, policy.github_sub(cfg.github_repository, nil, env), env))
      return
    end
  end
end

step_codeartifact()
step_bucket()
step_oidc_provider()
step_role()
step_environment()
if opts.dry_run then dry_run_documents() end
github_settings()
workflow_warning()

print("")
local done = counts.created + counts.updated
if opts.dry_run then
  print(string.format("Dry run: %d to create, %d to update, %d exist, %d differ; nothing was changed.",
    counts.created, counts.updated, counts.exists, counts.differs))
elseif done == 0 and counts.differs == 0 then
  print("Nothing changed: everything already exists as RELEASE.md describes.")
else
  print(string.format("%d created, %d updated, %d already existed%s.", counts.created, counts.updated, counts.exists,
    counts.differs > 0 and string.format(", %d differ and were left alone", counts.differs) or ""))
end
os.exit(counts.differs > 0 and 3 or 0)
