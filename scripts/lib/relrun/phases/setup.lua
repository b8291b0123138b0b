-- RELEASE.md "Prerequisites" as a plan: each step looks first and creates
-- only what is missing, so a rerun changes nothing.
--
--   codeartifact-domain, codeartifact-repository   ("Stock pipeline Python packages")
--   s3-bucket                                     only when a bucket is asked for
--   oidc-provider                                 GitHub's, with client id sts.amazonaws.com
--   trust-policy, permissions-policy              the role's two documents; other policies named, never touched
--   github-environment, environment-reviewers     deployments from release tags only; --reviewer USER
--   secret NAME..., variable S3_WHEELS_BUCKET     set through the API, secrets sealed to the repository's key
--
-- What a step finds is its evidence (ctx.evidence[name]): `found` is
-- "exists", "missing", "differs" or "skipped"; after a run `outcome` is
-- "created", "updated" or "added". Something that exists but differs is left
-- alone (and the exit is 3) unless --update. The trust policy's `sub` comes
-- from the project's workflows (relrun.workflows): what the release jobs
-- present, or exactly what was asked — and an asked trust that would refuse
-- those jobs stops setup before anything is changed.
--
--   local ctx = setup.context(project, opts, { out = print, command = "relrun setup ..." })
--   local plan = setup.plan(ctx)
--   plan:run(ctx, { dry_run = opts.dry_run }); setup.report(ctx) -> exit code
local steps = require "relrun.steps"
local errors = require "relrun.errors"
local policy = require "relrun.policy"
local workflows = require "relrun.workflows"
local json = require "relrun.json"

local M = {}

local DESCRIPTION = "Stock pipeline Python packages"   -- RELEASE.md's create-repository --description
local OIDC_URL = "https://" .. policy.OIDC_HOST
-- GitHub's published certificate thumbprints; IAM no longer checks them for
-- this provider but older API versions require at least one.
local THUMBPRINTS = { "6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd" }
M.POLICY_NAME = "relrun-release"   -- the role's inline permissions policy (--policy-name)
M.DEFAULT_PACKAGE = "stock-pipeline"
local RELEASE_ACTIONS = { "codeartifact:GetAuthorizationToken", "codeartifact:GetRepositoryEndpoint",
  "codeartifact:ReadFromRepository", "codeartifact:PublishPackageVersion", "sts:GetServiceBearerToken",
  "s3:PutObject", "s3:PutObjectAcl" }

---------------------------------------------------------------------------
-- JSON as RELEASE.md writes it
---------------------------------------------------------------------------

local KEY_ORDER = { Version = 1, Sid = 2, Effect = 3, Principal = 4, NotPrincipal = 5, Action = 6, NotAction = 7,
                    Resource = 8, NotResource = 9, Condition = 10 }

-- JSON as a person reads it, keys in RELEASE.md's order: the dry run shows
-- the very text that is sent to IAM.
function M.pretty(v, indent)
  indent = indent or ""
  -- cjson writes "/" as "\/"; in its output a "\/" is always an escaped slash.
  if type(v) ~= "table" then return (json.encode(v):gsub("\\/", "/")) end
  local inner = indent .. "  "
  local parts = {}
  if v[1] ~= nil then
    for _, x in ipairs(v) do parts[#parts + 1] = inner .. M.pretty(x, inner) end
    return "[\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    local ra, rb = KEY_ORDER[a] or 100, KEY_ORDER[b] or 100
    if ra ~= rb then return ra < rb end
    return a < b
  end)
  for _, k in ipairs(keys) do parts[#parts + 1] = inner .. M.pretty(k) .. ": " .. M.pretty(v[k], inner) end
  return "{\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "}"
end

---------------------------------------------------------------------------
-- The settings, the account and the trust
---------------------------------------------------------------------------

local function usage(message, hint)
  errors.raise("USAGE", message, { exit = 2, hint = hint })
end

-- OWNER/REPO: the setting, else the origin remote's.
local function github_repository(p)
  if p.cfg.github_repository then return p.cfg.github_repository end
  for _, r in ipairs(p.repo and p.repo:remotes() or {}) do
    if r.name == "origin" then return require("relrun.github").repository_from_url(r.url) end
  end
end

-- An AWS client, made once per service. Offline, or without credentials,
-- asking raises: a dry run shows it as "cannot check", a run stops there.
local function client(ctx, service)
  if ctx.offline then errors.raise("OFFLINE", "--offline: nothing was asked") end
  if not ctx.clients[service] then
    local c, err = require("relrun.aws." .. service).client{ region = ctx.region }
    if not c then
      errors.raise("AWS_CREDENTIALS", "AWS " .. service .. ": " .. tostring(err),
        { hint = "set AWS credentials (`--dry-run --offline` prints the plan without them)" })
    end
    ctx.clients[service] = c
  end
  return ctx.clients[service]
end

local function aws_failed(what, err, code)
  errors.raise("AWS", string.format("%s: %s%s", what, tostring(err), code and (" [" .. tostring(code) .. "]") or ""))
end

local function is_missing(code)
  return code == "ResourceNotFoundException" or code == "NoSuchEntity" or code == "NotFound" or code == "NoSuchBucket"
    or code == "404"
end

-- The account: the setting, else the caller's (STS), never guessed offline.
local function account(ctx, cfg)
  if cfg.account_id then return cfg.account_id, cfg.source.account_id end
  if ctx.offline then
    usage("--offline needs the AWS account: pass --account-id (or set CODEARTIFACT_ACCOUNT_ID)")
  end
  local sts, err = require("relrun.aws.sts").client{ region = ctx.region }
  if not sts then usage("cannot tell the AWS account without credentials: pass --account-id", tostring(err)) end
  local me, merr = sts:get_caller_identity()
  if not me then
    errors.raise("AWS", "cannot tell the AWS account (STS GetCallerIdentity: " .. tostring(merr) .. ")",
      { hint = "pass --account-id" })
  end
  return me.account, "the caller's account"
end

-- The subs the trust policy admits, and why: what was asked (checked
-- against the release jobs), else what the release jobs present, else the
-- release tags. ctx: { opts = { trust_environment, tag_pattern },
-- github_repository }. Public: the audit judges role assumptions by the
-- same subs (one source of truth).
function M.trust(ctx, p)
  local o, repo = ctx.opts, ctx.github_repository
  local jobs, notes = workflows.release_jobs(p.root or p.dir, { prefix = p.scheme.prefix })
  ctx.workflow_notes = notes
  ctx.release_jobs = jobs
  local asked, flags = {}, {}
  if o.trust_environment then
    asked[#asked + 1] = policy.github_sub(repo, nil, o.trust_environment)
    flags[#flags + 1] = "--trust-environment " .. o.trust_environment
  end
  if o.tag_pattern then
    asked[#asked + 1] = policy.github_sub(repo, "refs/tags/" .. o.tag_pattern)
    flags[#flags + 1] = "--tag-pattern " .. o.tag_pattern
  end
  if #asked > 0 then
    for _, job in ipairs(jobs) do
      for _, sub in ipairs(job.expression and {} or workflows.subs(job, repo)) do
        local admitted = false
        for _, a in ipairs(asked) do admitted = admitted or policy.wildcard_match(a, sub) end
        if not admitted then
          local fix = job.environment and ("--trust-environment " .. job.environment)
            or ("--tag-pattern " .. sub:match("refs/tags/(.*)$"))
          errors.raise("TRUST_MISMATCH", string.format("%s would refuse the release workflow: %s presents sub %s",
            table.concat(flags, " "), workflows.describe(job), sub),
            { hint = string.format("drop %s (setup then trusts what the workflow presents) or pass %s",
              table.concat(flags, " and "), fix) })
        end
      end
    end
    return asked, "as asked (" .. table.concat(flags, ", ") .. ")"
  end
  local subs, seen, whys = {}, {}, {}
  for _, job in ipairs(jobs) do
    if job.expression then
      usage(string.format("%s runs in environment %s, which is decided when it runs", workflows.describe(job),
        job.environment), "pass --trust-environment NAME or --tag-pattern GLOB")
    end
    for _, sub in ipairs(workflows.subs(job, repo)) do
      if not seen[sub] then seen[sub] = true; subs[#subs + 1] = sub end
    end
    whys[#whys + 1] = workflows.describe(job) ..
      (job.environment and (" runs in environment " .. job.environment) or " runs for tags " .. table.concat(job.tags, ", "))
  end
  if #subs > 0 then return subs, "what the release workflow presents: " .. table.concat(whys, "; ") end
  local pattern = p.scheme.prefix .. "*"
  return { policy.github_sub(repo, "refs/tags/" .. pattern) },
    "release tags " .. pattern .. " (no workflow job gets an OIDC token on a release tag)"
end

-- The role's two documents as setup writes them for project p: RELEASE.md's
-- (relrun.policy) filled from the settings, the trust admitting `subs`
-- (M.trust). The doctor compares the live role with these.
function M.role_documents(p, account_id, repository, subs)
  local cfg = p.cfg
  local docs = policy.documents{ account = account_id, region = cfg.region, domain = cfg.domain,
                                 repository = cfg.repository, package = cfg.package or M.DEFAULT_PACKAGE,
                                 bucket = cfg.bucket, github_repository = repository }
  docs.trust.Statement[1].Condition.StringLike[policy.OIDC_HOST .. ":sub"] = #subs == 1 and subs[1] or subs
  return docs
end

-- The secrets and variables RELEASE.md lists, with their values.
local function repository_settings(ctx)
  return {
    secrets = { { "AWS_ROLE_ARN", ctx.role_arn }, { "AWS_REGION", ctx.region }, { "CODEARTIFACT_DOMAIN", ctx.domain },
                { "CODEARTIFACT_ACCOUNT_ID", ctx.account }, { "CODEARTIFACT_REPOSITORY", ctx.repository } },
    variables = ctx.bucket and { { "S3_WHEELS_BUCKET", ctx.bucket } } or {},
  }
end

-- context(project, opts, {out, command}) -> ctx: every setting resolved, the
-- account known, the trust decided and the documents made. Raises on a
-- missing setting (exit 2) and on an asked trust the workflow would be
-- refused by (exit 1), before anything is asked of AWS or GitHub.
function M.context(p, opts, extra)
  local cfg = p.cfg
  local ctx = { project = p, opts = opts, out = extra.out, command = extra.command, clients = {}, found = {},
                offline = opts.offline, update = opts.update, dry_run = opts.dry_run }
  if opts.offline and not opts.dry_run then usage("--offline goes with --dry-run (a real run must ask)") end
  ctx.github_repository = github_repository(p)
  local missing = {}
  if not cfg.domain then missing[#missing + 1] = "--domain (or CODEARTIFACT_DOMAIN)" end
  if not cfg.repository then missing[#missing + 1] = "--repository (or CODEARTIFACT_REPOSITORY)" end
  if not cfg.region then missing[#missing + 1] = "--region (or AWS_REGION)" end
  if not ctx.github_repository then missing[#missing + 1] = "--github-repository OWNER/REPO (or an origin remote)" end
  if #missing > 0 then usage("setup needs " .. table.concat(missing, ", ")) end
  ctx.domain, ctx.repository, ctx.region, ctx.bucket = cfg.domain, cfg.repository, cfg.region, cfg.bucket
  ctx.package = cfg.package or M.DEFAULT_PACKAGE
  ctx.subs, ctx.trust_why = M.trust(ctx, p)
  ctx.account, ctx.account_source = account(ctx, cfg)

  local role = opts.role_name or (cfg.role_arn and cfg.role_arn:match(":role/(.+)$"))
  ctx.role_name = role and role:match("([^/]+)$") or "github-actions-release"
  ctx.role_arn = string.format("arn:aws:iam::%s:role/%s", ctx.account, ctx.role_name)
  ctx.policy_name = opts.policy_name
  ctx.docs = M.role_documents(p, ctx.account, ctx.github_repository, ctx.subs)

  -- The environment: the one the release jobs run in, unless one is named.
  ctx.environment = cfg.environment
  if cfg.source.environment == "default" then
    for _, job in ipairs(ctx.release_jobs) do ctx.environment = job.environment or ctx.environment end
  end
  ctx.tag_pattern = opts.tag_pattern or (p.scheme.prefix .. "*")
  ctx.reviewers = opts.reviewer or {}
  ctx.settings = repository_settings(ctx)
  if not opts.offline and (os.getenv("GITHUB_TOKEN") or os.getenv("GH_TOKEN") or "") ~= "" then
    ctx.github = errors.check(require("relrun.github").new{ repository = ctx.github_repository, repo_dir = p.root })
    M.reviewer_ids(ctx)   -- a login GitHub does not know stops setup before anything changes
  end
  return ctx
end

---------------------------------------------------------------------------
-- What a check found
---------------------------------------------------------------------------

local function remember(ctx, name, ev) ctx.found[name] = ev; return ev end

local function exists(ctx, name, ev, detail)
  ev.found = "exists"
  return true, remember(ctx, name, ev), "exists" .. (detail and (" — " .. detail) or "")
end

local function missing(ctx, name, ev, detail)
  ev.found = "missing"
  return false, remember(ctx, name, ev), "would create" .. (detail and (" — " .. detail) or "")
end

-- Exists but differs: left alone (done, as far as this run goes) unless --update.
local function differs(ctx, name, ev, why)
  ev.found, ev.why = "differs", why
  remember(ctx, name, ev)
  if ctx.update then return false, ev, "differs — " .. why .. ": would update" end
  return true, ev, "differs — " .. why .. "; left alone (--update replaces it)"
end

local function skipped(ctx, name, why)
  return true, remember(ctx, name, { found = "skipped" }), "skipped — " .. why
end

---------------------------------------------------------------------------
-- AWS steps
---------------------------------------------------------------------------

local function domain_step(ctx)
  local name = "codeartifact-domain"
  return { name = name, does = "create the CodeArtifact domain " .. ctx.domain, effect = "created the domain",
    check = function()
      local d, err, code = client(ctx, "codeartifact"):describe_domain{ domain = ctx.domain, domain_owner = ctx.account }
      if d then return exists(ctx, name, {}, "owner " .. tostring(d.owner)) end
      if not is_missing(code) then aws_failed("DescribeDomain " .. ctx.domain, err, code) end
      return missing(ctx, name, {})
    end,
    run = function()
      local good, err, code = client(ctx, "codeartifact"):create_domain{ domain = ctx.domain }
      if not good then aws_failed("CreateDomain " .. ctx.domain, err, code) end
      return { outcome = "created" }
    end }
end

local function repository_step(ctx)
  local name = "codeartifact-repository"
  local where = ctx.domain .. "/" .. ctx.repository
  return { name = name, does = string.format("create the CodeArtifact repository %s (%q)", where, DESCRIPTION),
    effect = "created the repository",
    check = function(c)
      local domain = c.evidence["codeartifact-domain"]
      if domain and domain.found == "missing" then return missing(ctx, name, {}, "in the new domain") end
      local r, err, code = client(ctx, "codeartifact"):describe_repository{ domain = ctx.domain,
        domain_owner = ctx.account, repository = ctx.repository }
      if r then
        return exists(ctx, name, {}, r.description ~= DESCRIPTION and
          string.format("description %q, RELEASE.md's is %q (harmless, left alone)", tostring(r.description or ""),
            DESCRIPTION) or nil)
      end
      if not is_missing(code) then aws_failed("DescribeRepository " .. where, err, code) end
      return missing(ctx, name, {})
    end,
    run = function()
      local good, err, code = client(ctx, "codeartifact"):create_repository{ domain = ctx.domain,
        domain_owner = ctx.account, repository = ctx.repository, description = DESCRIPTION }
      if not good then aws_failed("CreateRepository " .. where, err, code) end
      return { outcome = "created" }
    end }
end

local function bucket_step(ctx)
  local name = "s3-bucket"
  if not ctx.bucket then
    return { name = name, does = "the S3 bucket for the wheels",
      check = function() return skipped(ctx, name, "none asked for (--bucket or S3_WHEELS_BUCKET)") end,
      run = function() return { outcome = "skipped" } end }
  end
  return { name = name, does = "create the S3 bucket " .. ctx.bucket .. " in " .. ctx.region, effect = "created the bucket",
    check = function()
      local head, err, code = client(ctx, "s3"):head_bucket{ bucket = ctx.bucket }
      if head then
        return exists(ctx, name, {}, head.region and head.region ~= ctx.region and
          ("in " .. head.region .. ", not " .. ctx.region .. " (uploads still work)") or nil)
      end
      if code == "Forbidden" or code == "403" then
        errors.raise("BUCKET_TAKEN", "S3 bucket " .. ctx.bucket .. " belongs to another account (HeadBucket: 403)",
          { hint = "choose another bucket name" })
      end
      if not is_missing(code) then aws_failed("HeadBucket " .. ctx.bucket, err, code) end
      return missing(ctx, name, {})
    end,
    run = function()
      local good, err, code = client(ctx, "s3"):create_bucket{ bucket = ctx.bucket, region = ctx.region }
      if not good then aws_failed("CreateBucket " .. ctx.bucket, err, code) end
      return { outcome = "created" }
    end }
end

local function oidc_step(ctx)
  local name = "oidc-provider"
  local arn = ctx.docs.oidc_provider_arn
  return { name = name, does = "create GitHub's OIDC provider in IAM (client id sts.amazonaws.com)",
    effect = "created the OIDC provider",
    check = function()
      local iam = client(ctx, "iam")
      local arns, err, code = iam:list_open_id_connect_providers()
      if not arns then aws_failed("ListOpenIDConnectProviders", err, code) end
      local found = false
      for _, a in ipairs(arns) do found = found or a == arn end
      if not found then return missing(ctx, name, {}) end
      local r, gerr, gcode = iam:call("GetOpenIDConnectProvider", { OpenIDConnectProviderArn = arn })
      if not r then aws_failed("GetOpenIDConnectProvider", gerr, gcode) end
      local core = require "relrun.aws.core"
      local ids = {}
      for _, m in ipairs(core.xml_all(core.xml_find(r, "ClientIDList"), "member")) do ids[#ids + 1] = m.text end
      for _, id in ipairs(ids) do
        if id == "sts.amazonaws.com" then return exists(ctx, name, {}, "client id sts.amazonaws.com") end
      end
      return differs(ctx, name, { diff = { "client ids: want sts.amazonaws.com, have " ..
        (#ids > 0 and table.concat(ids, ", ") or "none") } }, "the audience relrun asks for is not a client id")
    end,
    run = function()
      local iam = client(ctx, "iam")
      if ctx.found[name].found == "differs" then
        local good, err, code = iam:call("AddClientIDToOpenIDConnectProvider",
          { OpenIDConnectProviderArn = arn, ClientID = "sts.amazonaws.com" })
        if not good then aws_failed("AddClientIDToOpenIDConnectProvider", err, code) end
        return { outcome = "updated", diff = ctx.found[name].diff }
      end
      local good, err, code = iam:create_open_id_connect_provider{ url = OIDC_URL, client_ids = { "sts.amazonaws.com" },
                                                                   thumbprints = THUMBPRINTS }
      if not good then aws_failed("CreateOpenIDConnectProvider", err, code) end
      return { outcome = "created" }
    end }
end

local function trust_step(ctx)
  local name = "trust-policy"
  local subs = table.concat(ctx.subs, ", ")
  return { name = name, does = "create the role " .. ctx.role_name .. ", trusting sub " .. subs,
    effect = "created or updated the role " .. ctx.role_name,
    check = function()
      local role, err, code = client(ctx, "iam"):get_role{ role_name = ctx.role_name }
      if not role and not is_missing(code) then aws_failed("GetRole " .. ctx.role_name, err, code) end
      if not role then return missing(ctx, name, {}) end
      ctx.role_arn = role.arn or ctx.role_arn
      ctx.settings = repository_settings(ctx)
      local lines = policy.diff(ctx.docs.trust, role.assume_role_policy)
      if #lines == 0 then return exists(ctx, name, {}, "trusts sub " .. subs) end
      return differs(ctx, name, { diff = lines }, "its trust policy is not the one setup writes")
    end,
    run = function()
      local iam = client(ctx, "iam")
      if ctx.found[name].found == "differs" then
        local good, err, code = iam:update_assume_role_policy{ role_name = ctx.role_name, policy = M.pretty(ctx.docs.trust) }
        if not good then aws_failed("UpdateAssumeRolePolicy " .. ctx.role_name, err, code) end
        return { outcome = "updated", diff = ctx.found[name].diff }
      end
      local good, err, code = iam:create_role{ role_name = ctx.role_name, assume_role_policy = M.pretty(ctx.docs.trust),
        description = "GitHub Actions releases of " .. ctx.github_repository .. " (relrun)" }
      if not good then aws_failed("CreateRole " .. ctx.role_name, err, code) end
      return { outcome = "created" }
    end }
end

local function permissions_step(ctx)
  local name = "permissions-policy"
  return { name = name, does = string.format("put the inline policy %s on the role %s (RELEASE.md's least privilege%s)",
      ctx.policy_name, ctx.role_name, ctx.bucket and "" or "; no S3 statement: no bucket"),
    effect = "put the permissions policy",
    check = function(c)
      local role = c.evidence["trust-policy"]
      if role and role.found == "missing" then return missing(ctx, name, {}, "on the new role") end
      local have, err, code = client(ctx, "iam"):get_role_policy{ role_name = ctx.role_name, policy_name = ctx.policy_name }
      if not have and not is_missing(code) then aws_failed("GetRolePolicy " .. ctx.policy_name, err, code) end
      if not have then return missing(ctx, name, {}) end
      local lines = policy.diff(ctx.docs.permissions, have)
      if #lines == 0 then return exists(ctx, name, {}, "as RELEASE.md's") end
      local wider = policy.wider_than(have, RELEASE_ACTIONS)
      local why = #wider > 0 and ("it is wider than RELEASE.md's: " .. table.concat(wider, "; ")) or "it is not RELEASE.md's"
      if not ctx.bucket and json.encode(have):find("s3:PutObject", 1, true) then
        why = why .. " (it has an S3 statement: pass --bucket NAME to keep it)"
      end
      return differs(ctx, name, { diff = lines }, why)
    end,
    run = function()
      local good, err, code = client(ctx, "iam"):put_role_policy{ role_name = ctx.role_name,
        policy_name = ctx.policy_name, policy = M.pretty(ctx.docs.permissions) }
      if not good then aws_failed("PutRolePolicy " .. ctx.policy_name, err, code) end
      local was = ctx.found[name].found
      return { outcome = was == "differs" and "updated" or "created", diff = ctx.found[name].diff }
    end }
end

-- Other policies on the role are never touched, but they are named.
local function other_policies_step(ctx)
  return { name = "role-other-policies", does = "name the role's other policies (never touched)", kind = "check",
    run = function(c)
      local role = c.evidence["trust-policy"]
      if role and role.found == "missing" then return { outcome = "none (a new role)" } end
      -- only named, so a dry run that cannot ask says so instead of failing
      local iam, err = errors.protect(client, ctx, "iam")
      if not iam then return { outcome = "not checked: " .. err.message } end
      local names = {}
      for _, n in ipairs(iam:list_role_policies{ role_name = ctx.role_name } or {}) do
        if n ~= ctx.policy_name then names[#names + 1] = "inline policy " .. n end
      end
      for _, att in ipairs(iam:list_attached_role_policies{ role_name = ctx.role_name } or {}) do
        names[#names + 1] = "attached policy " .. tostring(att.name)
      end
      if #names == 0 then return { outcome = "none" } end
      return { outcome = table.concat(names, ", ") .. ": not relrun's; left alone — review them " ..
        "(relrun doctor says whether they are wider)" }
    end }
end

---------------------------------------------------------------------------
-- GitHub steps
---------------------------------------------------------------------------

local function github(ctx, name, by_hand)
  if ctx.offline then errors.raise("OFFLINE", "--offline: nothing was asked") end
  if not ctx.github then return nil, skipped(ctx, name, "no GITHUB_TOKEN: " .. by_hand) end
  return ctx.github
end

-- The settings of an environment to pass on in a PUT, which resets what it is not given.
local function kept_settings(env)
  local keep = { reviewers = {} }
  for _, rule in ipairs(env and env.protection_rules or {}) do
    if rule.type == "required_reviewers" then
      keep.prevent_self_review = rule.prevent_self_review
      for _, r in ipairs(rule.reviewers or {}) do
        keep.reviewers[#keep.reviewers + 1] = { type = r.type, id = r.reviewer and r.reviewer.id }
      end
    elseif rule.type == "wait_timer" then
      keep.wait_timer = rule.wait_timer
    end
  end
  return keep
end

local function environment_step(ctx)
  local name, env_name, pattern = "github-environment", ctx.environment, ctx.tag_pattern
  local by_hand = "create it in Settings → Environments, deployments from tags " .. pattern .. " only"
  return { name = name, does = string.format("create the GitHub environment %s, deployments from tags %s only",
      env_name, pattern), effect = "created or changed the environment " .. env_name,
    check = function()
      local gh, skip, ev, note = github(ctx, name, by_hand)
      if not gh then return skip, ev, note end
      local env, err = gh:environment(env_name)
      if env == nil then errors.raise(err) end
      if env == false then return missing(ctx, name, {}) end
      local policy_ = env.deployment_branch_policy
      local ev_ = { env = env }
      if type(policy_) ~= "table" or policy_.custom_branch_policies ~= true then
        ev_.diff = { "deployment rule: want tags " .. pattern .. " only, have " ..
          (type(policy_) == "table" and "protected branches" or "any branch or tag") }
        return differs(ctx, name, ev_, "any ref may deploy to it")
      end
      local rules = errors.check(gh:deployment_branch_policies(env_name))
      for _, r in ipairs(rules) do
        if r.type == "tag" and r.name == pattern then return exists(ctx, name, ev_, "deployments from tags " .. pattern) end
      end
      ev_.add_rule = true
      ev_.found = "missing"
      return false, remember(ctx, name, ev_), "would add the tag rule " .. pattern
    end,
    run = function()
      local gh, found = ctx.github, ctx.found[name]
      if found.found ~= "exists" and not found.add_rule then
        local keep = kept_settings(found.env)
        errors.check(gh:put_environment(env_name, { tags_only = true, reviewers = keep.reviewers,
          wait_timer = keep.wait_timer, prevent_self_review = keep.prevent_self_review }))
      end
      errors.check(gh:add_deployment_branch_policy(env_name, pattern, "tag"))
      if found.add_rule then return { outcome = "added the tag rule " .. pattern } end
      return { outcome = found.found == "differs" and "updated" or "created", diff = found.diff }
    end }
end

-- The asked reviewers' ids, from their logins (GitHub's users API).
function M.reviewer_ids(ctx)
  if ctx.reviewer_ids then return ctx.reviewer_ids end
  local ids = {}
  for _, login in ipairs(ctx.reviewers) do
    local user, err = ctx.github:user(login)
    if user == nil then errors.raise(err) end
    if user == false then
      errors.raise("NO_SUCH_USER", "GitHub has no user " .. login, { hint = "check the --reviewer login" })
    end
    ids[#ids + 1] = { login = user.login, id = user.id }
  end
  ctx.reviewer_ids = ids
  return ids
end

local function reviewers_step(ctx)
  local name, env_name = "environment-reviewers", ctx.environment
  local logins = table.concat(ctx.reviewers, ", ")
  return { name = name, does = string.format("make %s required reviewers of the environment %s", logins, env_name),
    effect = "added required reviewers",
    check = function(c)
      local gh, skip, ev, note = github(ctx, name, "add " .. logins .. " as required reviewers in Settings → Environments")
      if not gh then return skip, ev, note end
      local ids = M.reviewer_ids(ctx)
      local envev = c.evidence["github-environment"]
      if envev and envev.found == "missing" and not envev.add_rule then
        return missing(ctx, name, { add = ids }, "with the new environment")
      end
      local env, err = gh:environment(env_name)
      if env == nil then errors.raise(err) end
      if env == false then return missing(ctx, name, { add = ids }, "with the new environment") end
      local have = {}
      for _, r in ipairs(kept_settings(env).reviewers) do have[r.id] = true end
      local add, names = {}, {}
      for _, u in ipairs(ids) do
        if not have[u.id] then add[#add + 1] = u; names[#names + 1] = u.login end
      end
      if #add == 0 then return exists(ctx, name, {}, logins .. " already review it") end
      return false, remember(ctx, name, { found = "missing", add = add }), "would add " .. table.concat(names, ", ")
    end,
    run = function()
      local gh = ctx.github
      local env = errors.check(gh:environment(env_name))
      local keep = kept_settings(env)
      local names = {}
      for _, u in ipairs(ctx.found[name].add) do
        keep.reviewers[#keep.reviewers + 1] = { type = "User", id = u.id }
        names[#names + 1] = u.login
      end
      if #keep.reviewers > 6 then
        errors.raise("TOO_MANY_REVIEWERS", string.format("environment %s would have %d required reviewers; GitHub " ..
          "allows 6", env_name, #keep.reviewers), { hint = "remove some in Settings → Environments", rerun = false })
      end
      local policy_ = env.deployment_branch_policy
      errors.check(gh:put_environment(env_name, { reviewers = keep.reviewers, wait_timer = keep.wait_timer,
        prevent_self_review = keep.prevent_self_review,
        tags_only = type(policy_) == "table" and policy_.custom_branch_policies == true,
        any_ref = type(policy_) ~= "table" }))
      return { outcome = "added " .. table.concat(names, ", ") }
    end }
end

local function secret_step(ctx, secret, value)
  local name = "secret " .. secret
  local by_hand = "set it in Settings → Secrets and variables → Actions"
  return { name = name, does = "set the Actions secret " .. secret .. " (sealed to the repository's key)",
    effect = "set the secret " .. secret,
    check = function()
      local gh, skip, ev, note = github(ctx, name, by_hand)
      if not gh then return skip, ev, note end
      local have, err = gh:secret(secret)
      if have == nil then errors.raise(err) end
      if have == false then return missing(ctx, name, {}) end
      if ctx.update then
        return false, remember(ctx, name, { found = "exists" }), "exists (GitHub shows no values): would set it again"
      end
      return exists(ctx, name, {}, "set " .. tostring(have.updated_at) .. " (GitHub shows no values; --update sets it again)")
    end,
    run = function()
      local gh = ctx.github
      ctx.secrets_key = ctx.secrets_key or errors.check(gh:secrets_public_key())
      local how = errors.check(gh:put_secret(secret, value(), ctx.secrets_key))
      return { outcome = how }
    end }
end

local function variable_step(ctx, variable, value)
  local name = "variable " .. variable
  return { name = name, does = "set the Actions variable " .. variable .. " to " .. value,
    effect = "set the variable " .. variable,
    check = function()
      local gh, skip, ev, note = github(ctx, name, "set it in Settings → Secrets and variables → Actions → Variables")
      if not gh then return skip, ev, note end
      local have, err = gh:variable(variable)
      if have == nil then errors.raise(err) end
      if have == false then return missing(ctx, name, {}) end
      if have.value == value then return exists(ctx, name, {}, value) end
      return differs(ctx, name, { diff = { string.format("%s: want %q, have %q", variable, value, tostring(have.value)) } },
        "it holds another value")
    end,
    run = function()
      local how = errors.check(ctx.github:set_variable(variable, value))
      return { outcome = how, diff = ctx.found[name].diff }
    end }
end

---------------------------------------------------------------------------
-- The plan, the documents, the report
---------------------------------------------------------------------------

function M.plan(ctx)
  local plan = steps.plan{ title = string.format("set up the release of %s: account %s (%s), region %s, GitHub %s",
      ctx.package, ctx.account, ctx.account_source or "?", ctx.region, ctx.github_repository),
    out = ctx.out, command = ctx.command }
  plan:add(domain_step(ctx))
  plan:add(repository_step(ctx))
  plan:add(bucket_step(ctx))
  plan:add(oidc_step(ctx))
  plan:add(trust_step(ctx))
  plan:add(permissions_step(ctx))
  plan:add(other_policies_step(ctx))
  plan:add(environment_step(ctx))
  if #ctx.reviewers > 0 then plan:add(reviewers_step(ctx)) end
  for _, kv in ipairs(ctx.settings.secrets) do
    local secret = kv[1]
    -- the value is read when the step runs: the role's real ARN is known by then
    plan:add(secret_step(ctx, secret, function()
      for _, s in ipairs(ctx.settings.secrets) do if s[1] == secret then return s[2] end end
    end))
  end
  for _, kv in ipairs(ctx.settings.variables) do plan:add(variable_step(ctx, kv[1], kv[2])) end
  return plan
end

-- The documents a cloud team or a repository admin needs, as lines.
function M.documents(ctx)
  local lines = {}
  local function add(s) lines[#lines + 1] = s end
  add("")
  add("Trust policy of role " .. ctx.role_name .. " (" .. ctx.trust_why .. "):")
  add(M.pretty(ctx.docs.trust))
  add("")
  add("Permissions policy " .. ctx.policy_name .. " of role " .. ctx.role_name .. ":")
  add(M.pretty(ctx.docs.permissions))
  add("")
  add("GitHub environment " .. ctx.environment .. ":")
  add("  deployment branch policy: custom rules only; rule: tag " .. ctx.tag_pattern)
  add("  required reviewers: " .. (#ctx.reviewers > 0 and table.concat(ctx.reviewers, ", ") ..
    (ctx.offline and " (their ids are looked up when setup runs)" or "") or "none asked (--reviewer USER; recommended)"))
  return lines
end

-- The secrets and variables, as lines (RELEASE.md "Repository Secrets").
function M.settings_lines(ctx)
  local lines = { "", "GitHub repository secrets (Settings → Secrets and variables → Actions):" }
  for _, kv in ipairs(ctx.settings.secrets) do lines[#lines + 1] = string.format("  %s: %s", kv[1], kv[2]) end
  lines[#lines + 1] = "GitHub repository variables:"
  lines[#lines + 1] = ctx.bucket and ("  S3_WHEELS_BUCKET: " .. ctx.bucket)
    or "  S3_WHEELS_BUCKET: (not set: no S3 copy of the wheels)"
  return lines
end

-- After the plan: what differs, notes, the summary line. -> exit code
-- (0; 3 when something differs and was left alone).
function M.report(ctx, plan)
  local out = ctx.out
  local count = { created = 0, updated = 0, exists = 0, differs = 0, missing = 0, added = 0 }
  local diffs = {}
  for _, step in ipairs(plan.steps) do
    local ev = ctx.evidence[step.name]
    if type(ev) == "table" then
      local word = ev.outcome and ev.outcome:match("^%a+") or ev.found
      if word == "differs" and ctx.update then word = "to update" end
      count[word] = (count[word] or 0) + 1
      if ev.diff and (ev.found == "differs" or ev.outcome) then
        diffs[#diffs + 1] = step.name .. (ev.outcome and " (was)" or "") .. ":"
        for _, l in ipairs(ev.diff) do diffs[#diffs + 1] = "    " .. l end
      end
    end
  end
  if #diffs > 0 then
    out("")
    out("What differs from what setup writes:")
    for _, l in ipairs(diffs) do out("  " .. l) end
  end
  for _, note in ipairs(ctx.workflow_notes or {}) do out("note: " .. note) end
  out("")
  local changed = count.created + count.updated + count.added
  if ctx.offline then
    out("Dry run, offline: nothing was asked or changed; the documents above are what setup writes.")
  elseif ctx.dry_run then
    out(string.format("Dry run: %d to create, %d to update, %d exist, %d differ; nothing was changed.",
      count.missing, count["to update"] or 0, count.exists, count.differs))
  elseif changed == 0 and count.differs == 0 then
    out("Nothing changed: everything already exists as RELEASE.md describes.")
  else
    out(string.format("%d created, %d updated, %d added, %d already existed%s.", count.created, count.updated,
      count.added, count.exists, count.differs > 0 and string.format(", %d differ and were left alone", count.differs) or ""))
  end
  return count.differs > 0 and 3 or 0
end

return M
