-- scripts/setup.lua against moto (IAM, S3, STS; signatures checked), the
-- CodeArtifact fake and the GitHub fake (secrets opened with PyNaCl): it
-- creates RELEASE.md's prerequisites with the documents exactly as RELEASE.md
-- writes them (read back from IAM), sets the Actions secrets (read back
-- decrypted by the fake) and variable, the environment with its tag rule and
-- reviewers; a rerun changes nothing; what differs is shown and left alone
-- (exit 3) unless --update; a dry run creates nothing and --offline asks
-- nothing of anyone; the trust follows the workflow, and an asked trust that
-- the workflow would be refused by stops setup.
local world = require "setup_world"
local policy = require "relrun.policy"
local json = require "relrun.json"
local core = require "relrun.aws.core"
local http = require "relrun.http"
local fs = require "relrun.fs"

local W = world
local w
local _ <close> = setmetatable({}, { __close = function() if w then w.stop() end end })

local GH = { GITHUB_TOKEN = W.GITHUB_TOKEN }
local ROLE_ARN = "arn:aws:iam::" .. W.ACCOUNT .. ":role/" .. W.ROLE

-- RELEASE.md's documents with the placeholders filled, written out by hand
-- here (not from relrun.policy), so a change to the model is caught.
local function release_md_trust(sub)
  return { Version = "2012-10-17", Statement = { {
    Effect = "Allow",
    Principal = { Federated = "arn:aws:iam::" .. W.ACCOUNT .. ":oidc-provider/token.actions.githubusercontent.com" },
    Action = "sts:AssumeRoleWithWebIdentity",
    Condition = {
      StringEquals = { ["token.actions.githubusercontent.com:aud"] = "sts.amazonaws.com" },
      -- RELEASE.md writes StringEquals, which never matches `v*`: relrun uses StringLike (policy.lua).
      StringLike = { ["token.actions.githubusercontent.com:sub"] = sub or ("repo:" .. W.REPO .. ":ref:refs/tags/v*") },
    } } } }
end
local ENV_SUB = "repo:" .. W.REPO .. ":environment:production"

local function release_md_permissions(bucket)
  local ca = "arn:aws:codeartifact:us-east-1:" .. W.ACCOUNT .. ":"
  local st = {
    { Effect = "Allow",
      Action = { "codeartifact:GetAuthorizationToken", "codeartifact:GetRepositoryEndpoint",
                 "codeartifact:ReadFromRepository", "codeartifact:PublishPackageVersion" },
      Resource = { ca .. "domain/" .. W.DOMAIN, ca .. "repository/" .. W.DOMAIN .. "/" .. W.REPOSITORY,
                   ca .. "package/" .. W.DOMAIN .. "/" .. W.REPOSITORY .. "/pypi/stock-pipeline" } },
    { Effect = "Allow", Action = "sts:GetServiceBearerToken", Resource = "*",
      Condition = { StringEquals = { ["sts:AWSServiceName"] = "codeartifact.amazonaws.com" } } },
  }
  if bucket then
    st[3] = { Effect = "Allow", Action = { "s3:PutObject", "s3:PutObjectAcl" },
              Resource = "arn:aws:s3:::" .. bucket .. "/wheels/*" }
  end
  return { Version = "2012-10-17", Statement = st }
end

local function decode_policy(text)
  return json.decode(http.url_decode(text) or text)
end

local function role_trust(name)
  local ok_, r = pcall(w.iam, "GetRole", { RoleName = name or W.ROLE })
  if not ok_ then return nil end
  return decode_policy(core.xml_text(r, "Role/AssumeRolePolicyDocument"))
end

local function role_policy(name)
  local r = w.iam("GetRolePolicy", { RoleName = W.ROLE, PolicyName = name or "relrun-release" })
  return decode_policy(core.xml_text(r, "PolicyDocument"))
end

local function providers()
  local r = w.iam("ListOpenIDConnectProviders", {})
  local out = {}
  for _, m in ipairs(core.xml_all(core.xml_find(r, "OpenIDConnectProviderList"), "member")) do
    out[#out + 1] = core.xml_text(m, "Arn")
  end
  return out
end

local function ca_ops()
  local res = assert(http.request{ url = w.ca.url .. "/__stats" })
  return json.decode(res.body).requests
end

local function no_secret(out)
  ok(not out:find(w.moto.secret, 1, true), "the AWS secret key was printed")
  ok(not out:find(W.GITHUB_TOKEN, 1, true), "the GitHub token was printed")
end

local function workflow(with_environment)
  assert(fs.write(fs.join(w.project, ".github/workflows/release.yml"), world.workflow(with_environment)))
end

-- The dry-run row of a step: "does  [state]".
local function row(out, name)
  return out:match("\n  %d+%. " .. name:gsub("%p", "%%%0") .. " +([^\n]*)") or ("no row for " .. name .. " in:\n" .. out)
end

-- The GitHub requests made since `n` requests, as "METHOD path" lines.
local function gh_requests_since(n)
  local out = {}
  local all = w.github_state().requests
  for i = n + 1, #all do out[#out + 1] = all[i].method .. " " .. all[i].path end
  return out
end

describe("setup.lua", function()
  w = world.start()

  it("refuses to run without its settings, in one line, exit 2", function()
    local code, out = w.setup({}, { CODEARTIFACT_DOMAIN = false })
    eq(code, 2, out)
    contains(out, "setup needs --domain (or CODEARTIFACT_DOMAIN)")
    eq(select(2, out:gsub("\n", "")), 1, out)
  end)

  it("--dry-run prints the plan and the exact documents and creates nothing", function()
    local before = #w.github_state().requests
    local code, out = w.setup({ "--dry-run", "--bucket", W.BUCKET, "--reviewer", "octocat" }, GH)
    eq(code, 0, out)
    contains(out, "dry run, nothing is changed")
    eq(row(out, "codeartifact-domain"), "create the CodeArtifact domain acme  [would create]")
    eq(row(out, "trust-policy"), "create the role github-actions-release, trusting sub repo:" .. W.REPO ..
      ":ref:refs/tags/v*  [would create]")
    eq(row(out, "github-environment"), "create the GitHub environment production, deployments from tags v* only  " ..
      "[would create]")
    eq(row(out, "environment-reviewers"), "make octocat required reviewers of the environment production  " ..
      "[would create — with the new environment]")
    eq(row(out, "secret AWS_ROLE_ARN"), "set the Actions secret AWS_ROLE_ARN (sealed to the repository's key)  " ..
      "[would create]")
    contains(out, "nothing was changed")
    -- The documents printed are RELEASE.md's, filled in.
    local trust = out:match("Trust policy of role [^\n]+:\n(%b{})")
    local perms = out:match("Permissions policy [^\n]+:\n(%b{})")
    eq(json.decode(trust), release_md_trust())
    eq(policy.diff(release_md_permissions(W.BUCKET), json.decode(perms)), {})
    contains(out, "GitHub environment production:\n  deployment branch policy: custom rules only; rule: tag v*\n" ..
      "  required reviewers: octocat")
    -- Nothing exists afterwards, and GitHub was only read.
    eq(role_trust(), nil)
    eq(providers(), {})
    eq(ca_ops().CreateDomain, nil)
    eq(w.github_state().environments, {})
    eq(w.github_state().secrets, {})
    for _, r in ipairs(gh_requests_since(before)) do ok(r:find("^GET "), "a dry run sent " .. r) end
    no_secret(out)
  end)

  it("--dry-run --offline prints every document with no credentials and no network at all", function()
    local none = { AWS_ACCESS_KEY_ID = false, AWS_SECRET_ACCESS_KEY = false, GITHUB_TOKEN = false,
                   -- were anything asked, it would fail here, not be answered
                   AWS_ENDPOINT_URL = "http://127.0.0.1:9", AWS_ENDPOINT_URL_CODEARTIFACT = "http://127.0.0.1:9",
                   GITHUB_API_URL = "http://127.0.0.1:9" }
    local code, out = w.setup({ "--dry-run", "--offline", "--account-id", W.ACCOUNT, "--bucket", W.BUCKET,
                                "--reviewer", "octocat", "--reviewer", "monalisa" }, none)
    eq(code, 0, out)
    -- Every step says it asked nothing; none tried to connect.
    local rows = 0
    for line in out:gmatch("\n  %d+%. [^\n]+") do
      rows = rows + 1
      ok(line:find("--offline: nothing was asked]", 1, true), line)
    end
    eq(rows, 15, out)
    ok(not out:find("127.0.0.1:9", 1, true), out)
    -- The documents: trust, permissions, the environment rule, the secrets and variables.
    eq(json.decode(out:match("Trust policy of role [^\n]+:\n(%b{})")), release_md_trust())
    eq(policy.diff(release_md_permissions(W.BUCKET), json.decode(out:match("Permissions policy [^\n]+:\n(%b{})"))), {})
    contains(out, "  deployment branch policy: custom rules only; rule: tag v*")
    contains(out, "  required reviewers: octocat, monalisa (their ids are looked up when setup runs)")
    contains(out, "  AWS_ROLE_ARN: " .. ROLE_ARN)
    contains(out, "  CODEARTIFACT_ACCOUNT_ID: " .. W.ACCOUNT)
    contains(out, "  S3_WHEELS_BUCKET: " .. W.BUCKET)
    contains(out, "Dry run, offline: nothing was asked or changed")
    -- Offline it cannot learn the account, and a real run must ask.
    code, out = w.setup({ "--dry-run", "--offline" }, none)
    eq(code, 2, out)
    contains(out, "--offline needs the AWS account: pass --account-id")
    code, out = w.setup({ "--offline", "--account-id", W.ACCOUNT }, none)
    eq(code, 2, out)
    contains(out, "--offline goes with --dry-run")
  end)

  it("--dry-run without credentials says what it could not check; a real run says what is missing", function()
    local nocreds = { AWS_ACCESS_KEY_ID = false, AWS_SECRET_ACCESS_KEY = false }
    local code, out = w.setup({ "--dry-run", "--account-id", W.ACCOUNT }, nocreds)
    eq(code, 0, out)
    contains(out, "[cannot check: AWS iam: no AWS credentials found")
    eq(json.decode(out:match("Trust policy of role [^\n]+:\n(%b{})")), release_md_trust())
    code, out = w.setup({ "--dry-run" }, nocreds)
    eq(code, 2, out)
    contains(out, "cannot tell the AWS account without credentials: pass --account-id")
    code, out = w.setup({ "--account-id", W.ACCOUNT }, nocreds)
    eq(code, 1, out)
    contains(out, "no AWS credentials found")
    contains(out, "FAILED    codeartifact-domain")
    eq(role_trust(), nil)
  end)

  it("fails on a reviewer GitHub does not know, before changing anything", function()
    local code, out = w.setup({ "--bucket", W.BUCKET, "--reviewer", "no-such-user" }, GH)
    eq(code, 1, out)
    eq(out, "relrun: GitHub has no user no-such-user; check the --reviewer login\n")
    eq(ca_ops().CreateDomain, nil)
    eq(role_trust(), nil)
  end)

  it("creates everything RELEASE.md lists, sets the secrets and variable, and the environment with reviewers", function()
    local code, out = w.setup({ "--bucket", W.BUCKET, "--reviewer", "octocat" }, GH)
    eq(code, 0, out)
    for _, name in ipairs({ "codeartifact-domain", "codeartifact-repository", "s3-bucket", "oidc-provider",
                            "trust-policy", "permissions-policy", "github-environment",
                            "secret AWS_ROLE_ARN", "secret AWS_REGION", "secret CODEARTIFACT_DOMAIN",
                            "secret CODEARTIFACT_ACCOUNT_ID", "secret CODEARTIFACT_REPOSITORY",
                            "variable S3_WHEELS_BUCKET" }) do
      contains(out, "✓ " .. name .. ": created")
    end
    contains(out, "✓ environment-reviewers: added octocat")
    -- Read back from IAM: exactly RELEASE.md's documents (lists compared as sets).
    eq(role_trust(), release_md_trust())
    eq(policy.diff(release_md_permissions(W.BUCKET), role_policy()), {})
    eq(providers(), { "arn:aws:iam::" .. W.ACCOUNT .. ":oidc-provider/token.actions.githubusercontent.com" })
    local p = w.iam("GetOpenIDConnectProvider", { OpenIDConnectProviderArn = providers()[1] })
    eq(core.xml_text(p, "ClientIDList/member"), "sts.amazonaws.com")
    -- The CodeArtifact repository with RELEASE.md's description.
    local ca = assert(require("relrun.aws.codeartifact").client{ endpoint = w.ca.url, region = "us-east-1",
      credentials = require("relrun.aws.credentials").static(w.moto.akid, w.moto.secret) })
    eq(assert(ca:describe_repository{ domain = W.DOMAIN, repository = W.REPOSITORY }).description,
      "Stock pipeline Python packages")
    local s3 = assert(require("relrun.aws.s3").client{ endpoint = w.moto.url, region = "us-east-1",
      credentials = require("relrun.aws.credentials").static(w.moto.akid, w.moto.secret) })
    ok(s3:head_bucket{ bucket = W.BUCKET })
    -- The environment: v* tags only, octocat (id 1) a required reviewer.
    local gh = w.github_state()
    local env = gh.environments.production
    eq(env.deployment_branch_policy, { protected_branches = false, custom_branch_policies = true })
    eq(#env.branch_policies, 1)
    eq(env.branch_policies[1].type, "tag")
    eq(env.branch_policies[1].name, "v*")
    eq(env.reviewers, { { type = "User", id = 1 } })
    -- The secrets, as the fake decrypted them with PyNaCl, and the variable.
    local want = { AWS_ROLE_ARN = ROLE_ARN, AWS_REGION = "us-east-1", CODEARTIFACT_DOMAIN = W.DOMAIN,
                   CODEARTIFACT_ACCOUNT_ID = W.ACCOUNT, CODEARTIFACT_REPOSITORY = W.REPOSITORY }
    local got = {}
    for k, v in pairs(gh.secrets) do got[k] = v.value end
    eq(got, want)
    eq(gh.variables.S3_WHEELS_BUCKET.value, W.BUCKET)
    -- Still listed for the reader.
    contains(out, "AWS_ROLE_ARN: " .. ROLE_ARN)
    contains(out, "S3_WHEELS_BUCKET: acme-wheels")
    no_secret(out)
  end)

  it("a rerun changes nothing and says so", function()
    local before, requests = ca_ops(), #w.github_state().requests
    local secrets_before = w.github_state().secrets
    local code, out = w.setup({ "--bucket", W.BUCKET, "--reviewer", "octocat" }, GH)
    eq(code, 0, out)
    ok(not out:find(": created", 1, true), out)
    ok(not out:find(": added", 1, true), out)
    contains(out, "✓ codeartifact-domain: exists")
    contains(out, "✓ trust-policy: exists — trusts sub repo:" .. W.REPO .. ":ref:refs/tags/v*")
    contains(out, "✓ permissions-policy: exists — as RELEASE.md's")
    contains(out, "✓ github-environment: exists")
    contains(out, "✓ environment-reviewers: exists — octocat already review it")
    contains(out, "✓ secret AWS_ROLE_ARN: exists")
    contains(out, "✓ variable S3_WHEELS_BUCKET: exists — acme-wheels")
    contains(out, "Nothing changed: everything already exists as RELEASE.md describes.")
    local after = ca_ops()
    eq(after.CreateDomain, before.CreateDomain)
    eq(after.CreateRepository, before.CreateRepository)
    for _, r in ipairs(gh_requests_since(requests)) do ok(r:find("^GET "), "a rerun sent " .. r) end
    eq(w.github_state().secrets, secrets_before)
    eq(#w.github_state().environments.production.branch_policies, 1)
  end)

  it("shows what differs, leaves it alone with exit 3, and replaces it only with --update", function()
    local wide = release_md_trust("repo:" .. W.REPO .. ":*")
    w.iam("UpdateAssumeRolePolicy", { RoleName = W.ROLE, PolicyDocument = json.encode(wide) })
    local perms = release_md_permissions(W.BUCKET)
    perms.Statement[1].Action = "codeartifact:*"
    w.iam("PutRolePolicy", { RoleName = W.ROLE, PolicyName = "relrun-release", PolicyDocument = json.encode(perms) })
    w.github_state{ variables = { S3_WHEELS_BUCKET = { name = "S3_WHEELS_BUCKET", value = "old-bucket",
      created_at = "2020-01-01T00:00:00Z", updated_at = "2020-01-01T00:00:00Z" } } }

    local code, out = w.setup({ "--bucket", W.BUCKET }, GH)
    eq(code, 3, out)
    contains(out, "✓ trust-policy: differs — its trust policy is not the one setup writes; left alone (--update replaces it)")
    contains(out, 'Statement[1].Condition.StringLike.token.actions.githubusercontent.com:sub: want "repo:' ..
      W.REPO .. ':ref:refs/tags/v*", have "repo:' .. W.REPO .. ':*"')
    contains(out, "allows the wildcard action codeartifact:*")
    contains(out, 'S3_WHEELS_BUCKET: want "acme-wheels", have "old-bucket"')
    contains(out, "3 differ and were left alone")
    eq(role_trust(), wide)
    eq(role_policy().Statement[1].Action, "codeartifact:*")
    eq(w.github_state().variables.S3_WHEELS_BUCKET.value, "old-bucket")

    local dcode, dout = w.setup({ "--bucket", W.BUCKET, "--update", "--dry-run" }, GH)
    eq(dcode, 0, dout)
    contains(row(dout, "trust-policy"), "[differs — its trust policy is not the one setup writes: would update]")
    contains(row(dout, "secret AWS_REGION"), "[exists (GitHub shows no values): would set it again]")
    eq(role_trust(), wide)

    local secrets_before = w.github_state().secrets
    local ucode, uout = w.setup({ "--bucket", W.BUCKET, "--update" }, GH)
    eq(ucode, 0, uout)
    contains(uout, "✓ trust-policy: updated")
    contains(uout, "✓ permissions-policy: updated")
    contains(uout, "✓ variable S3_WHEELS_BUCKET: updated")
    contains(uout, "✓ secret AWS_REGION: updated")
    eq(role_trust(), release_md_trust())
    eq(policy.diff(release_md_permissions(W.BUCKET), role_policy()), {})
    local gh = w.github_state()
    eq(gh.variables.S3_WHEELS_BUCKET.value, W.BUCKET)
    eq(gh.secrets.AWS_REGION.value, "us-east-1")
    eq(gh.secrets.AWS_REGION.created_at, secrets_before.AWS_REGION.created_at)
    -- And the environment opened to any ref is closed again, its reviewers kept.
    local res = assert(http.request{ method = "PUT", url = w.gh.url .. "/repos/" .. W.REPO .. "/environments/production",
      headers = { authorization = "Bearer " .. W.GITHUB_TOKEN, ["content-type"] = "application/json" },
      body = json.encode{ reviewers = { { type = "User", id = 1 } } } })
    eq(res.status, 200, res.body)
    code, out = w.setup({ "--bucket", W.BUCKET }, GH)
    eq(code, 3, out)
    contains(out, "✓ github-environment: differs — any ref may deploy to it; left alone")
    code, out = w.setup({ "--bucket", W.BUCKET, "--update" }, GH)
    eq(code, 0, out)
    contains(out, "✓ github-environment: updated")
    local env = w.github_state().environments.production
    eq(env.deployment_branch_policy, { protected_branches = false, custom_branch_policies = true })
    eq(env.reviewers, { { type = "User", id = 1 } })
    eq(env.branch_policies[1].name, "v*")
  end)

  it("trusts what the workflow presents, and fails when an asked trust would refuse its jobs", function()
    -- The workflow's job runs in `production`: GitHub sends the environment's sub.
    workflow(true)
    local code, out = w.setup({ "--bucket", W.BUCKET })
    eq(code, 3, out)
    contains(out, "trust-policy: differs")
    contains(out, 'want "' .. ENV_SUB .. '", have "repo:' .. W.REPO .. ':ref:refs/tags/v*"')
    code, out = w.setup({ "--bucket", W.BUCKET, "--update", "--dry-run" })
    eq(code, 0, out)
    contains(out, "Trust policy of role github-actions-release (what the release workflow presents: " ..
      ".github/workflows/release.yml job release runs in environment production):")
    code, out = w.setup({ "--bucket", W.BUCKET, "--update" })
    eq(code, 0, out)
    eq(role_trust(), release_md_trust(ENV_SUB))

    -- Asking for the tag trust now is refused, in one line with the fix, and nothing is touched.
    local requests = ca_ops()
    code, out = w.setup({ "--bucket", W.BUCKET, "--tag-pattern", "v*", "--update" })
    eq(code, 1, out)
    eq(out, "relrun: --tag-pattern v* would refuse the release workflow: .github/workflows/release.yml job release " ..
      "presents sub " .. ENV_SUB .. "; drop --tag-pattern v* (setup then trusts what the workflow presents) or " ..
      "pass --trust-environment production\n")
    eq(ca_ops(), requests)
    eq(role_trust(), release_md_trust(ENV_SUB))
    -- Asked for what the workflow presents: fine.
    code, out = w.setup({ "--bucket", W.BUCKET, "--trust-environment", "production" })
    eq(code, 0, out)

    -- A tag-triggered job without an environment presents the tag ref.
    workflow(false)
    code, out = w.setup({ "--bucket", W.BUCKET, "--trust-environment", "production" })
    eq(code, 1, out)
    contains(out, "--trust-environment production would refuse the release workflow: .github/workflows/release.yml " ..
      "job release presents sub repo:" .. W.REPO .. ":ref:refs/tags/v*; drop --trust-environment production")
    contains(out, "or pass --tag-pattern v*")
    code, out = w.setup({ "--bucket", W.BUCKET, "--tag-pattern", "v1.*" })
    eq(code, 1, out)
    contains(out, "--tag-pattern v1.* would refuse the release workflow")
    code, out = w.setup({ "--bucket", W.BUCKET, "--update" })
    eq(code, 0, out)
    eq(role_trust(), release_md_trust())
  end)
end)
