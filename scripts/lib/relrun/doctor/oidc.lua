-- RELEASE.md "Troubleshooting: OIDC Authentication Failures" as checks: the
-- role ARN, GitHub's OIDC provider in IAM, and whether the role's trust
-- policy admits the `sub` and `aud` this workflow will present for this tag
-- (with a GitHub environment, `sub` names the environment, not the ref).
local checks = require "relrun.checks"
local policy = require "relrun.policy"
local aws = require "relrun.doctor.aws"
local jobs = require "relrun.doctor.jobs"
local workflows = require "relrun.workflows"
local core = require "relrun.aws.core"

local M = { needs_network = true }

-- The tag the trust is checked for: --tag, else the last release tag of
-- the project's scheme, else an example of it.
local function release_tag(ctx)
  if ctx.opts.tag then return ctx.opts.tag end
  local last = ctx.repo and ctx.project:last_release()
  return last and last.name or ctx.project.scheme:tag("1.0.0")
end

-- What GitHub sends when `tag` is pushed: one entry per release job
-- (relrun.workflows) that runs for the tag and publishes — { sub,
-- environment, job } — or, with --environment or no release job, the one
-- sub given by that; and the jobs whose environment is an expression.
function M.presented(ctx, repository, tag)
  local ref = "refs/tags/" .. tag
  local env = ctx.opts.environment
  if env then return { { sub = policy.github_sub(repository, ref, env), environment = env, job = "--environment" } } end
  local list, seen, unknown = {}, {}, {}
  -- The jobs that run relrun's publish assume the role; other jobs with a
  -- token (a docs deployment) matter only when none does.
  local candidates, publishing = jobs.release(ctx), {}
  for _, job in ipairs(candidates) do
    for _, step in ipairs(jobs.steps(ctx, job)) do
      if jobs.publishes(step) then publishing[#publishing + 1] = job; break end
    end
  end
  if #publishing > 0 then candidates = publishing end
  for _, job in ipairs(candidates) do
    local runs = #job.tags == 0
    for _, pattern in ipairs(job.tags) do runs = runs or policy.wildcard_match(pattern, tag) end
    if runs and job.expression then
      unknown[#unknown + 1] = workflows.describe(job) .. " (environment " .. job.environment .. ")"
    elseif runs then
      local sub = policy.github_sub(repository, ref, job.environment)
      if not seen[sub] then
        seen[sub] = true
        list[#list + 1] = { sub = sub, environment = job.environment, job = workflows.describe(job) }
      end
    end
  end
  if #list == 0 and #unknown == 0 then list[1] = { sub = policy.github_sub(repository, ref, nil) } end
  return list, unknown
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
local function refusal_hint(trust, try, w, prefix)
  -- A job with an environment is refused by any trust policy that names
  -- only refs, whatever else is wrong with it.
  local names_environment = require("relrun.json").encode(trust):find(":environment:", 1, true)
  if w.environment and not names_environment then
    return string.format("the job runs in environment %s, so GitHub sends sub %s — a condition on " ..
      "ref:refs/tags/%s* never matches it: trust repo:%s:environment:%s (relrun setup " ..
      "--trust-environment %s --update) or remove the environment from the job", w.environment, w.sub, prefix,
      w.repository, w.environment, w.environment)
  end
  if try(w.sub:lower(), nil, lowered(trust)).decision == "allow" then
    return "the trust policy spells the repository in another case than GitHub does (" .. w.repository ..
      "): IAM compares sub case-sensitively"
  end
  if w.why:find("StringEquals compares literally", 1, true) then
    return "write the sub condition with StringLike: RELEASE.md's StringEquals with " .. prefix .. "* matches no " ..
      "tag (relrun setup --update writes it so)"
  end
  if not w.environment and w.tag:sub(1, #prefix) ~= prefix then
    return "the tag " .. w.tag .. " does not match the release tags' pattern (" .. prefix .. "*): release tags are " ..
      prefix .. "VERSION"
  end
  return "change the role's trust policy to RELEASE.md's (relrun setup shows it; --update applies it)"
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

-- The role ARN's check, which needs no network (run under --offline too).
function M.offline(g, ctx)
  local cfg = ctx.cfg
  g:check("role ARN", function()
    local bad = ctx.bad_settings and ctx.bad_settings.role_arn
    if bad then
      return checks.fail(bad, "fix the repository secret AWS_ROLE_ARN (relrun setup " ..
        "prints the value to set)")
    end
    if not cfg.role_arn then
      if cfg.target ~= "codeartifact" then return checks.skip("AWS_ROLE_ARN is not set (no CodeArtifact target)") end
      return checks.fail("AWS_ROLE_ARN is not set", "set the repository secret AWS_ROLE_ARN (RELEASE.md)")
    end
    return checks.ok(cfg.role_arn .. " (from " .. (cfg.source.role_arn or "?") .. ")")
  end, "AWS_ROLE_ARN")
  return cfg.role_arn ~= nil
end

-- GitHub's OIDC provider in IAM, with the audience relrun asks for.
local function provider_check(g, ctx)
  local cfg = ctx.cfg
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
          "add the audience sts.amazonaws.com to the provider (relrun setup --update)")
      end
    end
    return checks.fail("no " .. want .. " (found " .. (#arns > 0 and table.concat(arns, ", ") or "none") .. ")",
      "create it: relrun setup (IAM → Identity providers → " .. policy.OIDC_HOST .. ")")
  end, "IAM ListOpenIDConnectProviders, GetOpenIDConnectProvider")
end

-- The role's trust policy against every sub the release jobs present.
local function trust_check(g, ctx, docs)
  local cfg = ctx.cfg
  local repository = aws.github_repository(ctx)
  local tag = release_tag(ctx)
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
    local subs, unknown = M.presented(ctx, repository, tag)
    local admitted, refused = {}, {}
    for _, w in ipairs(subs) do
      local r = try(w.sub)
      local by = w.job and w.job ~= "--environment" and (" (" .. w.job .. ")") or ""
      if r.decision == "allow" then
        admitted[#admitted + 1] = string.format("sub %s%s, aud sts.amazonaws.com: %s", w.sub, by, r.why)
      else
        w.repository, w.tag, w.why = repository, tag, r.why
        refused[#refused + 1] = { text = string.format("role %s refuses sub %s%s: %s", info.name, w.sub, by, r.why),
                                  hint = refusal_hint(info.trust, try, w, ctx.prefix) }
      end
    end
    if #refused > 0 then
      local texts = {}
      for i, r in ipairs(refused) do texts[i] = r.text end
      return checks.fail(table.concat(texts, "; "), refused[1].hint)
    end
    if unknown and #unknown > 0 then
      return checks.warn(table.concat(admitted, "; ") .. "; not known before the job runs: " ..
        table.concat(unknown, ", "), "name the environment plainly in the job, or check it with --environment NAME")
    end
    return checks.ok(table.concat(admitted, "; "))
  end, "IAM GetRole (the trust policy), the release workflow's jobs (relrun.workflows), the tag")
end

-- The trust policy's aud condition.
local function audience_check(g, ctx)
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
end

-- Under Actions: this job's real token's claims, checked as the release will.
local function token_check(g, ctx, docs)
  local cfg = ctx.cfg
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

function M.register(g, ctx)
  if not M.offline(g, ctx) then return end
  local docs = aws.expected(ctx)
  provider_check(g, ctx)
  trust_check(g, ctx, docs)
  audience_check(g, ctx)
  token_check(g, ctx, docs)
end

return M
