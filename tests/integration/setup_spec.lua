-- scripts/setup.lua against moto (IAM, S3, STS; signatures checked) and the
-- CodeArtifact and GitHub fakes: it creates RELEASE.md's prerequisites with
-- the documents exactly as RELEASE.md writes them (read back from IAM), a
-- rerun changes nothing, a role that differs is shown and left alone, and a
-- dry run creates nothing.
local world = require "setup_world"
local policy = require "relrun.policy"
local json = require "relrun.json"
local core = require "relrun.aws.core"
local http = require "relrun.http"

local W = world
local w
local _ <close> = setmetatable({}, { __close = function() if w then w.stop() end end })

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

describe("setup.lua", function()
  w = world.start()

  it("refuses to run without its settings, in one line, exit 2", function()
    local code, out = w.setup({}, { CODEARTIFACT_DOMAIN = false })
    eq(code, 2, out)
    contains(out, "setup needs --domain (or CODEARTIFACT_DOMAIN)")
    eq(select(2, out:gsub("\n", "")), 1, out)
  end)

  it("--dry-run prints the plan and the exact documents and creates nothing", function()
    local code, out = w.setup({ "--dry-run", "--bucket", W.BUCKET }, { GITHUB_TOKEN = W.GITHUB_TOKEN })
    eq(code, 0, out)
    contains(out, "CodeArtifact domain acme: would create")
    contains(out, "IAM role github-actions-release (trust policy): would create")
    contains(out, "GitHub environment production: would create")
    contains(out, "nothing was changed")
    -- The documents printed are RELEASE.md's, filled in.
    local trust = out:match("Trust policy of role [^\n]+:\n(%b{})")
    local perms = out:match("Permissions policy [^\n]+:\n(%b{})")
    eq(json.decode(trust), release_md_trust())
    eq(policy.diff(release_md_permissions(W.BUCKET), json.decode(perms)), {})
    -- Nothing exists afterwards.
    eq(role_trust(), nil)
    eq(providers(), {})
    eq(ca_ops().CreateDomain, nil)
    eq(w.github_state().environments, {})
    no_secret(out)
  end)

  it("--dry-run without credentials still prints the plan; a real run says what is missing", function()
    local nocreds = { AWS_ACCESS_KEY_ID = false, AWS_SECRET_ACCESS_KEY = false }
    local code, out = w.setup({ "--dry-run", "--account-id", W.ACCOUNT }, nocreds)
    eq(code, 0, out)
    contains(out, "IAM role github-actions-release (trust policy): would create — not checked (no AWS credentials)")
    eq(json.decode(out:match("Trust policy of role [^\n]+:\n(%b{})")), release_md_trust())
    code, out = w.setup({ "--dry-run" }, nocreds)
    eq(code, 2, out)
    contains(out, "cannot tell the AWS account without credentials: pass --account-id")
    code, out = w.setup({ "--account-id", W.ACCOUNT }, nocreds)
    eq(code, 1, out)
    contains(out, "no AWS credentials found")
    eq(role_trust(), nil)
  end)

  it("creates everything RELEASE.md lists, with its documents, and the environment", function()
    local code, out = w.setup({ "--bucket", W.BUCKET }, { GITHUB_TOKEN = W.GITHUB_TOKEN })
    eq(code, 0, out)
    contains(out, "CodeArtifact domain acme: created")
    contains(out, "CodeArtifact repository acme/pypi-store: created")
    contains(out, "S3 bucket acme-wheels: created")
    contains(out, "IAM OIDC provider token.actions.githubusercontent.com: created")
    contains(out, "GitHub environment production: created")
    -- Read back from IAM: exactly RELEASE.md's documents (lists compared as sets).
    eq(policy.diff(release_md_trust(), role_trust()), {})
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
    -- The bucket exists.
    local s3 = assert(require("relrun.aws.s3").client{ endpoint = w.moto.url, region = "us-east-1",
      credentials = require("relrun.aws.credentials").static(w.moto.akid, w.moto.secret) })
    ok(s3:head_bucket{ bucket = W.BUCKET })
    -- The environment, deployments from v* tags only.
    local env = w.github_state().environments.production
    eq(env.deployment_branch_policy, { protected_branches = false, custom_branch_policies = true })
    eq(env.branch_policies[1].type, "tag")
    eq(env.branch_policies[1].name, "v*")
    -- The secrets and variables to set, with their values.
    contains(out, "AWS_ROLE_ARN: arn:aws:iam::" .. W.ACCOUNT .. ":role/github-actions-release")
    contains(out, "CODEARTIFACT_ACCOUNT_ID: " .. W.ACCOUNT)
    contains(out, "CODEARTIFACT_DOMAIN: acme")
    contains(out, "CODEARTIFACT_REPOSITORY: pypi-store")
    contains(out, "AWS_REGION: us-east-1")
    contains(out, "S3_WHEELS_BUCKET: acme-wheels")
    no_secret(out)
  end)

  it("a rerun changes nothing and says so", function()
    local before = ca_ops()
    local code, out = w.setup({ "--bucket", W.BUCKET }, { GITHUB_TOKEN = W.GITHUB_TOKEN })
    eq(code, 0, out)
    ok(not out:find(": created", 1, true), out)
    contains(out, "CodeArtifact domain acme: exists")
    contains(out, "IAM role github-actions-release (trust policy): exists")
    contains(out, "(permissions policy relrun-release): exists")
    contains(out, "GitHub environment production: exists")
    contains(out, "Nothing changed: everything already exists as RELEASE.md describes.")
    local after = ca_ops()
    eq(after.CreateDomain, before.CreateDomain)
    eq(after.CreateRepository, before.CreateRepository)
    eq(#w.github_state().environments.production.branch_policies, 1)
  end)

  it("shows a differing role as a diff, leaves it alone, and replaces it only with --update", function()
    local wide = release_md_trust("repo:" .. W.REPO .. ":*")
    w.iam("UpdateAssumeRolePolicy", { RoleName = W.ROLE, PolicyDocument = json.encode(wide) })
    local perms = release_md_permissions(W.BUCKET)
    perms.Statement[1].Action = "codeartifact:*"
    w.iam("PutRolePolicy", { RoleName = W.ROLE, PolicyName = "relrun-release", PolicyDocument = json.encode(perms) })

    local code, out = w.setup({ "--bucket", W.BUCKET })
    eq(code, 3, out)
    contains(out, "IAM role github-actions-release (trust policy): differs")
    contains(out, 'Statement[1].Condition.StringLike.token.actions.githubusercontent.com:sub: want "repo:' ..
      W.REPO .. ':ref:refs/tags/v*", have "repo:' .. W.REPO .. ':*"')
    contains(out, "left alone (--update replaces it)")
    contains(out, "allows the wildcard action codeartifact:*")
    eq(role_trust(), wide)
    eq(role_policy().Statement[1].Action, "codeartifact:*")

    local dcode, dout = w.setup({ "--bucket", W.BUCKET, "--update", "--dry-run" })
    eq(dcode, 0, dout)
    contains(dout, "(trust policy): would update")
    eq(role_trust(), wide)

    local ucode, uout = w.setup({ "--bucket", W.BUCKET, "--update" })
    eq(ucode, 0, uout)
    contains(uout, "(trust policy): updated")
    contains(uout, "(permissions policy relrun-release): updated")
    eq(role_trust(), release_md_trust())
    eq(policy.diff(release_md_permissions(W.BUCKET), role_policy()), {})
  end)

  it("trusts a GitHub environment when asked, and warns when the workflow uses one", function()
    local fs = require "relrun.fs"
    local wf = fs.join(w.project, ".github/workflows/release.yml")
    assert(fs.write(wf, world.workflow(true)))
    local code, out = w.setup({ "--bucket", W.BUCKET })
    eq(code, 0, out)
    contains(out, "environment production, so GitHub sends sub repo:" .. W.REPO .. ":environment:production")
    local ucode, uout = w.setup({ "--bucket", W.BUCKET, "--trust-environment", "production", "--update" })
    eq(ucode, 0, uout)
    eq(role_trust(), release_md_trust("repo:" .. W.REPO .. ":environment:production"))
    assert(fs.write(wf, world.workflow(false)))
    w.setup({ "--bucket", W.BUCKET, "--update" })
    eq(role_trust(), release_md_trust())
  end)
end)
