-- RELEASE.md "Troubleshooting: CodeArtifact Permission Denied" as checks:
-- the domain, repository and account exist; the role's policies allow
-- exactly the actions RELEASE.md needs on those resources and the package
-- (evaluated locally, and with IAM's simulator when permitted). Whether they
-- grant more than that is the Security group's check.
local checks = require "relrun.checks"
local policy = require "relrun.policy"
local aws = require "relrun.doctor.aws"

local M = { needs_network = true }

-- The settings' checks, which need no network (run under --offline too):
-- -> true when CodeArtifact is the target and its settings are complete.
function M.offline(g, ctx)
  local cfg = ctx.cfg
  local bad = {}
  for key, msg in pairs(ctx.bad_settings or {}) do
    if key ~= "role_arn" then bad[#bad + 1] = msg end
  end
  if #bad > 0 then
    table.sort(bad)
    g:check("the settings are well formed", function()
      return checks.fail(table.concat(bad, "; "), "fix the repository secrets (RELEASE.md, Repository Secrets)")
    end)
  end
  if cfg.target ~= "codeartifact" then
    g:check("CodeArtifact settings", function()
      return checks.skip("CODEARTIFACT_DOMAIN is not set: releases go to the local repository " .. cfg.repository_dir)
    end)
    return
  end
  -- The doctor reads the settings partially; what a release needs is config.validate's.
  local complete, incomplete = require("relrun.config").validate(cfg)
  if not complete then
    g:check("CodeArtifact settings", function() return checks.fail(incomplete.message, incomplete.hint) end)
    return
  end
  return true
end

-- RELEASE.md's role may not Describe*; GetRepositoryEndpoint, which it
-- may call, proves the domain, its owner and the repository exist.
local function by_endpoint(cfg, ca, denied)
  local url, err, code = ca:get_repository_endpoint{ domain = cfg.domain, domain_owner = cfg.account_id,
                                                    repository = cfg.repository, format = "pypi" }
  if url then return checks.ok("GetRepositoryEndpoint answered " .. url .. " (" .. denied .. " is not permitted)") end
  if code == "ResourceNotFoundException" then
    return checks.fail(string.format("no repository %s in a domain %s owned by %s in %s (GetRepositoryEndpoint)",
      cfg.repository, cfg.domain, cfg.account_id, cfg.region),
      "check CODEARTIFACT_DOMAIN, CODEARTIFACT_REPOSITORY, CODEARTIFACT_ACCOUNT_ID and AWS_REGION")
  end
  if code == "AccessDeniedException" then
    return checks.fail(denied .. " and GetRepositoryEndpoint refused: " .. err,
      "the role lacks RELEASE.md's CodeArtifact rights on " .. cfg.domain .. "/" .. cfg.repository .. " (see below)")
  end
  return checks.fail(err, "check the credentials and the region")
end

local function domain_exists(ctx)
  local cfg = ctx.cfg
  local ca, err = aws.client(ctx, "codeartifact")
  if not ca then return checks.skip(err) end
  local d, derr, code = ca:describe_domain{ domain = cfg.domain, domain_owner = cfg.account_id }
  if d then return checks.ok(string.format("domain %s, owner %s, status %s", d.name, d.owner, tostring(d.status))) end
  if code == "ResourceNotFoundException" then
    return checks.fail(string.format("no domain %s owned by %s in %s", cfg.domain, cfg.account_id, cfg.region),
      "check CODEARTIFACT_DOMAIN, CODEARTIFACT_ACCOUNT_ID and AWS_REGION, or create it (relrun setup)")
  end
  if code == "AccessDeniedException" then return by_endpoint(cfg, ca, "DescribeDomain") end
  return checks.fail(derr, "check the credentials and the region")
end

local function repository_exists(ctx)
  local cfg = ctx.cfg
  local ca, err = aws.client(ctx, "codeartifact")
  if not ca then return checks.skip(err) end
  local r, rerr, code = ca:describe_repository{ domain = cfg.domain, domain_owner = cfg.account_id,
                                                repository = cfg.repository }
  if r then return checks.ok(string.format("repository %s in %s", r.name, r.domainName or cfg.domain)) end
  if code == "ResourceNotFoundException" then
    return checks.fail(string.format("no repository %s in domain %s", cfg.repository, cfg.domain),
      "check CODEARTIFACT_REPOSITORY or create it (relrun setup)")
  end
  if code == "AccessDeniedException" then return by_endpoint(cfg, ca, "DescribeRepository") end
  return checks.fail(rerr, "check the credentials and the region")
end

-- The role's policies, evaluated locally against each request a release makes.
local function role_allows_release(ctx, docs)
  local cfg = ctx.cfg
  local info, result = aws.role_or_result(ctx)
  if not info then return result end
  if #info.permissions == 0 then
    return checks.fail("role " .. info.name .. " has no permission policies",
      "attach RELEASE.md's permissions policy (relrun setup)")
  end
  local missing = {}
  for _, req in ipairs(policy.required_requests(docs, {})) do
    local r = policy.evaluate(info.permissions, req)
    if r.decision ~= "allow" then missing[#missing + 1] = req.action .. " (" .. req.why .. "): " .. r.why end
  end
  if #missing > 0 then
    return checks.fail(table.concat(missing, "; "),
      "add the missing statement of RELEASE.md's permissions policy (package " .. cfg.package .. ")")
  end
  return checks.ok("GetAuthorizationToken, GetRepositoryEndpoint, ReadFromRepository, PublishPackageVersion on " ..
    cfg.domain .. "/" .. cfg.repository .. "/pypi/" .. cfg.package .. ", and sts:GetServiceBearerToken")
end

-- The same four requests through IAM's own simulator, when the caller may use it.
local function simulator_agrees(ctx, docs)
  local iam, err = aws.client(ctx, "iam", true)
  if not iam then return checks.skip(err) end
  local reqs = policy.required_requests(docs, {})
  local actions, resources = {}, {}
  for i = 1, 4 do actions[#actions + 1] = reqs[i].action; resources[#resources + 1] = reqs[i].resource end
  local results, serr, code = iam:simulate_principal_policy{ policy_source_arn = ctx.cfg.role_arn, actions = actions,
                                                             resources = resources }
  if not results then
    if code == "AccessDenied" or code == "AccessDeniedException" or code == "InvalidAction" or code == "NotImplemented" then
      return checks.skip("SimulatePrincipalPolicy is not permitted here (" .. tostring(code) .. ")")
    end
    return checks.skip("IAM's simulator did not answer (" .. tostring(code) .. "): " .. serr)
  end
  local denied = {}
  for _, r in ipairs(results) do
    if r.decision ~= "allowed" then denied[#denied + 1] = r.action .. " on " .. r.resource .. ": " .. r.decision end
  end
  if #denied > 0 then return checks.fail(table.concat(denied, "; "), "see the check above for the statement") end
  return checks.ok(#results .. " simulated requests allowed")
end

function M.register(g, ctx)
  if not M.offline(g, ctx) then return end
  g:check("the domain exists", function() return domain_exists(ctx) end,
    "CodeArtifact DescribeDomain (else GetRepositoryEndpoint)")
  g:check("the repository exists", function() return repository_exists(ctx) end,
    "CodeArtifact DescribeRepository (else GetRepositoryEndpoint)")
  if not ctx.cfg.role_arn then
    g:check("the role's permissions", function() return checks.skip("AWS_ROLE_ARN is not set") end)
    return
  end
  local docs = aws.expected(ctx)
  g:check("the role allows what a release does", function() return role_allows_release(ctx, docs) end,
    "IAM ListRolePolicies, GetRolePolicy, ListAttachedRolePolicies, GetPolicyVersion")
  g:check("IAM's policy simulator agrees", function() return simulator_agrees(ctx, docs) end,
    "IAM SimulatePrincipalPolicy")
end

return M
