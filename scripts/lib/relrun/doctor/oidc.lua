-- RELEASE.md "Troubleshooting: OIDC Authentication Failures" as checks: the
-- role ARN, GitHub's OIDC provider in IAM, and whether the role's trust
-- policy admits the `sub` and `aud` this workflow will present for this tag
-- (with a GitHub environment, `sub` names the environment, not the ref).
local checks = require "relrun.checks"
local policy = require "relrun.policy"
local aws = require "relrun.doctor.aws"
local fs = require "relrun.fs"
local core = require "relrun.aws.core"

local M = { needs_network = true }

-- The environment the release job runs in, read from the workflow file.
local function workflow_environment(ctx)
  local root = aws.root(ctx)
  for _, path in ipairs(fs.glob(fs.join(root, ".github/workflows/*.y*ml")) or {}) do
    local text = fs.read(path) or ""
    if text:find("release.lua", 1, true) or text:find("relrun[^\n]* release publish") then
      local env = text:match("\n%s+environment:%s*([%w_.-]+)%s*\n") or text:match("\n%s+environment:%s*\n%s+name:%s*([%w_.-]+)")
      return env, path:sub(#root + 2)
    end
  end
  return nil
end

local function last_tag(ctx)
  if ctx.opts.tag then return ctx.opts.tag end
  local best
  for _, t in ipairs(ctx.repo and ctx.repo:tags() or {}) do
    local v = t.name:match("^v(%d+%.%d+%.%d+)$")
    if v and (not best or require("relrun.semver").compare(v, best:sub(2)) > 0) then best = t.name end
  end
  return best or "v1.0.0"
end

-- The trust policy with its condition values lower-cased, to tell a case
-- mismatch in owner/repo from a real one.
local function lowered(trust)
  local function low(v)
    if type(v) == "string" then return v:lower() end
    if type(v) ~= "table" then return v end
    local out = {}
    for k, x in pairs(v) do out[k] = low(x) end
    return out
  end
  local copy = { Version = trust.Version, Statement = {} }
  local list = trust.Statement and (trust.Statement[1] and trust.Statement or { trust.Statement }) or {}
  for i, st in ipairs(list) do
    local c = {}
    for k, x in pairs(st) do c[k] = x end
    c.Condition = low(st.Condition)
    copy.Statement[i] = c
  end
  return copy
end

-- Why the trust policy refuses this workflow, and what to change.
local function refusal_hint(trust, try, w)
  -- A job with an environment is refused by any trust policy that names
  -- only refs, whatever else is wrong with it.
  local names_environment = require("relrun.json").encode(trust):find(":environment:", 1, true)
  if w.environment and not names_environment then
    return string.format("the job runs in environment %s, so GitHub sends sub %s — a condition on ref:refs/tags/v* " ..
      "never matches it: trust repo:%s:environment:%s (relrun scripts/setup.lua --trust-environment %s --update) " ..
      "or remove the environment from the job", w.environment, w.sub, w.repository, w.environment, w.environment)
  end
  if try(w.sub:lower(), nil, lowered(trust)).decision == "allow" then
    return "the trust policy spells the repository in another case than GitHub does (" .. w.repository ..
      "): IAM compares sub case-sensitively"
  end
  if w.why:find("StringEquals compares literally", 1, true) then
    return "write the sub condition with StringLike: RELEASE.md's StringEquals with v* matches no tag " ..
      "(relrun scripts/setup.lua --update writes it so)"
  end
  if not w.environment and not w.tag:match("^v") then
    return "the tag " .. w.tag .. " does not match the trust policy's tag pattern (v*): tag releases vX.Y.Z"
  end
  return "change the role's trust policy to RELEASE.md's (relrun scripts/setup.lua shows it; --update applies it)"
end

-- AssumeRoleWithWebIdentity with the job's token (unsigned: no AWS
-- credentials needed); the credentials it returns are dropped.
local function sts_probe(cfg, jwt, shown)
  local sts, err = require("relrun.aws.sts").client{ region = cfg.region, unsigned = true }
  if not sts then return checks.skip("STS: " .. err) end
  local creds, aerr, code = sts:assume_role_with_web_identity{ role_arn = cfg.role_arn, token = jwt, duration = 900,
                                                               session_name = "relrun-doctor" }
  if creds then return checks.ok(shown .. " — STS admitted it to " .. cfg.role_arn) end
  if code == "AccessDenied" or code == "InvalidIdentityToken" then
    return checks.fail(shown .. " — STS refused it: " .. aerr, "change the trust policy or the workflow's trigger")
  end
  return checks.skip("STS did not answer: " .. aerr)
end

function M.register(g, ctx)
  local cfg = ctx.cfg

  g:check("role ARN", function()
    local bad = ctx.bad_settings and ctx.bad_settings.role_arn
    if bad then
      return checks.fail(bad, "fix the repository secret AWS_ROLE_ARN (relrun scripts/setup.lua " ..
        "prints the value to set)")
    end
    if not cfg.role_arn then
      if cfg.target ~= "codeartifact" then return checks.skip("AWS_ROLE_ARN is not set (no CodeArtifact target)") end
      return checks.fail("AWS_ROLE_ARN is not set", "set the repository secret AWS_ROLE_ARN (RELEASE.md)")
    end
    return checks.ok(cfg.role_arn .. " (from " .. (cfg.source.role_arn or "?") .. ")")
  end, "AWS_ROLE_ARN")
  if not cfg.role_arn then return end

  local docs = aws.expected(ctx)
  g:check("GitHub's OIDC provider in IAM", function()
    local iam, err = aws.client(ctx, "iam")
    if not iam then return checks.skip(err) end
    local arns, lerr, code = iam:list_open_id_connect_providers()
    if not arns then
      if code == "AccessDenied" or code == "AccessDeniedException" then return checks.skip("not permitted: " .. lerr) end
      return checks.fail(lerr, "check the credentials and the region")
    end
    local want = "arn:aws:iam::" .. cfg.role_arn:match("::(%d+):") .. ":oidc-provider/" .. policy.OIDC_HOST
    for _, arn in ipairs(arns) do
      if arn == want then
        local r, gerr = iam:call("GetOpenIDConnectProvider", { OpenIDConnectProviderArn = arn })
        if not r then return checks.ok(arn .. " (its client ids could not be read: " .. gerr .. ")") end
        local ids = {}
        for _, m in ipairs(core.xml_all(core.xml_find(r, "ClientIDList"), "member")) do ids[#ids + 1] = m.text end
        for _, id in ipairs(ids) do
          if id == "sts.amazonaws.com" then return checks.ok(arn .. ", client id sts.amazonaws.com") end
        end
        return checks.fail(arn .. " does not list the client id (audience) sts.amazonaws.com (it lists " ..
          (#ids > 0 and table.concat(ids, ", ") or "none") .. ")",
          "add the audience sts.amazonaws.com to the provider (relrun scripts/setup.lua --update)")
      end
    end
    return checks.fail("no " .. want .. " (found " .. (#arns > 0 and table.concat(arns, ", ") or "none") .. ")",
      "create it: relrun scripts/setup.lua (IAM → Identity providers → " .. policy.OIDC_HOST .. ")")
  end, "IAM ListOpenIDConnectProviders, GetOpenIDConnectProvider")

  local environment = ctx.opts.environment or workflow_environment(ctx)
  local repository = aws.github_repository(ctx)
  local tag = last_tag(ctx)
  local sub = policy.github_sub(repository or "OWNER/REPO", "refs/tags/" .. tag, environment)

  g:check("the trust policy admits this workflow", function()
    if not repository then
      return checks.fail("the GitHub repository is unknown", "set GITHUB_REPOSITORY=owner/repo or add an origin remote")
    end
    local info, result = aws.role_or_result(ctx, true)
    if not info then return result end
    local provider = docs.oidc_provider_arn:gsub("::%d+:", "::" .. cfg.role_arn:match("::(%d+):") .. ":")
    local function try(s, aud, doc)
      return policy.evaluate(doc or info.trust, { action = "sts:AssumeRoleWithWebIdentity", principal = { Federated = provider },
        context = { [policy.OIDC_HOST .. ":sub"] = s, [policy.OIDC_HOST .. ":aud"] = aud or "sts.amazonaws.com" } })
    end
    local r = try(sub)
    if r.decision == "allow" then
      return checks.ok(string.format("sub %s, aud sts.amazonaws.com: %s", sub, r.why))
    end
    return checks.fail(string.format("role %s refuses sub %s: %s", info.name, sub, r.why),
      refusal_hint(info.trust, try, { repository = repository, tag = tag, environment = environment, sub = sub,
                                      why = r.why }))
  end, "IAM GetRole (the trust policy), the release workflow's environment, the tag")

  g:check("the token's audience", function()
    local info, result = aws.role_or_result(ctx)
    if not info then return result end
    for _, st in ipairs(info.trust.Statement or {}) do
      for op, block in pairs(st.Condition or {}) do
        local aud = block[policy.OIDC_HOST .. ":aud"]
        if aud then
          local list = type(aud) == "table" and aud or { aud }
          for _, a in ipairs(list) do
            if a == "sts.amazonaws.com" then return checks.ok(op .. " aud = sts.amazonaws.com") end
          end
          return checks.fail("the trust policy wants aud " .. table.concat(list, ", ") ..
            ", but relrun (like aws-actions/configure-aws-credentials) asks for sts.amazonaws.com",
            "set the aud condition to sts.amazonaws.com")
        end
      end
    end
    return checks.warn("the trust policy does not check aud", "add StringEquals aud = sts.amazonaws.com")
  end, "IAM GetRole (the trust policy's aud condition)")

  g:check("this job's OIDC token", function()
    if not os.getenv("ACTIONS_ID_TOKEN_REQUEST_URL") then return checks.skip("not running in GitHub Actions") end
    local github = require "relrun.github"
    local jwt, err = github.oidc_token("sts.amazonaws.com")
    if not jwt then return checks.fail(err.message, "add `permissions: id-token: write` to the job") end
    local claims = github.jwt_claims(jwt)
    if not claims then return checks.fail("the token cannot be read", "") end
    -- Only these claims are shown: the token itself is a credential.
    local aud = type(claims.aud) == "table" and claims.aud[1] or claims.aud
    local shown = string.format("sub %s, aud %s, ref %s", tostring(claims.sub), tostring(aud), tostring(claims.ref))
    local info, result = aws.role_or_result(ctx)
    if not info then
      -- The job's own credentials usually may not read the role (RELEASE.md's
      -- policy has no iam:GetRole): ask STS itself, as the release will.
      if not cfg.role_arn then return result end
      local provider = ctx.aws_provider
      if provider and tostring(provider.source):find("GitHub Actions OIDC", 1, true) then
        -- relrun's own credentials come from this token: getting them is the test.
        local creds, gerr = provider:get()
        if creds then return checks.ok(shown .. " — STS admitted it: relrun runs as " .. cfg.role_arn) end
        return checks.fail(shown .. " — STS refused it: " .. tostring(gerr), "change the trust policy or the " ..
          "workflow's trigger")
      end
      return sts_probe(cfg, jwt, shown)
    end
    local r = policy.evaluate(info.trust, { action = "sts:AssumeRoleWithWebIdentity",
      principal = { Federated = docs.oidc_provider_arn:gsub("::%d+:", "::" .. cfg.role_arn:match("::(%d+):") .. ":") },
      context = { [policy.OIDC_HOST .. ":sub"] = tostring(claims.sub), [policy.OIDC_HOST .. ":aud"] = tostring(aud) } })
    if r.decision == "allow" then return checks.ok(shown .. " — admitted") end
    return checks.fail(shown .. " — refused: " .. r.why, "change the trust policy or the workflow's trigger")
  end, "the job's OIDC token (its claims only), the trust policy or STS")
end

return M
