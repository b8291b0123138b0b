-- doctor.lua's OIDC, CodeArtifact, S3 and Security groups against set-ups
-- made with setup.lua on moto (IAM, S3, STS; signatures checked) and the
-- CodeArtifact fake, then broken one way each with direct IAM/S3 edits.
-- Each break must be found and named; a healthy set-up passes clean.
local world = require "setup_world"
local json = require "relrun.json"
local fs = require "relrun.fs"

local W = world
local w
local _ <close> = setmetatable({}, { __close = function() if w then w.stop() end end })

local PROVIDER = "arn:aws:iam::" .. W.ACCOUNT .. ":oidc-provider/token.actions.githubusercontent.com"
local CA = "arn:aws:codeartifact:us-east-1:" .. W.ACCOUNT .. ":"
local SUB = "token.actions.githubusercontent.com:sub"
local AUD = "token.actions.githubusercontent.com:aud"

local function trust(sub, aud)
  return { Version = "2012-10-17", Statement = { {
    Effect = "Allow", Principal = { Federated = PROVIDER }, Action = "sts:AssumeRoleWithWebIdentity",
    Condition = { StringEquals = { [AUD] = aud or "sts.amazonaws.com" },
                  StringLike = { [SUB] = sub or ("repo:" .. W.REPO .. ":ref:refs/tags/v*") } } } } }
end

local function permissions()
  return { Version = "2012-10-17", Statement = {
    { Effect = "Allow",
      Action = { "codeartifact:GetAuthorizationToken", "codeartifact:GetRepositoryEndpoint",
                 "codeartifact:ReadFromRepository", "codeartifact:PublishPackageVersion" },
      Resource = { CA .. "domain/acme", CA .. "repository/acme/pypi-store",
                   CA .. "package/acme/pypi-store/pypi/stock-pipeline" } },
    { Effect = "Allow", Action = "sts:GetServiceBearerToken", Resource = "*",
      Condition = { StringEquals = { ["sts:AWSServiceName"] = "codeartifact.amazonaws.com" } } },
    { Effect = "Allow", Action = { "s3:PutObject", "s3:PutObjectAcl" },
      Resource = "arn:aws:s3:::" .. W.BUCKET .. "/wheels/*" } } }
end

local function set_trust(doc)
  w.iam("UpdateAssumeRolePolicy", { RoleName = W.ROLE, PolicyDocument = json.encode(doc) })
end

local function set_permissions(doc)
  w.iam("PutRolePolicy", { RoleName = W.ROLE, PolicyName = "relrun-release", PolicyDocument = json.encode(doc) })
end

-- Builds without isolation: the whole doctor's Build group asks no index (no network beyond loopback).
local ENV = { S3_WHEELS_BUCKET = W.BUCKET, RELRUN_BUILD_ISOLATION = "false" }
local function doctor(args, env)
  local e = {}
  for k, v in pairs(ENV) do e[k] = v end
  for k, v in pairs(env or {}) do e[k] = v end
  -- The Build group is doctor_build_spec's; leaving it out here keeps each run short.
  local a = { "--tag", "v1.0.0", "--only", "oidc,codeartifact,s3,security" }
  for _, x in ipairs(args or {}) do a[#a + 1] = x end
  return w.doctor(a, e)
end

-- Found and named: the check failed, exit 3, its text says `words`.
local function found(name, words, code, c, doc)
  eq(code, 3, json.encode(doc))
  ok(c[name], "no check named " .. name)
  eq(c[name].status, "fail", name .. ": " .. json.encode(c[name]))
  for _, word in ipairs(words) do
    contains((c[name].found or "") .. " " .. (c[name].todo or ""), word)
  end
end

describe("doctor: AWS set-ups", function()
  w = world.start()

  before_each(function()
    -- Back to RELEASE.md's set-up: setup.lua recreates and replaces what a test broke.
    local code, out = w.setup({ "--bucket", W.BUCKET, "--update" })
    eq(code, 0, out)
  end)

  it("passes a healthy set-up clean (exit 0), and --json parses", function()
    local code, doc, c = doctor()
    eq(doc.problems, 0, json.encode(doc))
    eq(code, 0)
    for _, name in ipairs({ "GitHub's OIDC provider in IAM", "the trust policy admits this workflow",
                            "the token's audience", "the domain exists", "the repository exists",
                            "the role allows what a release does", "the bucket exists in the region",
                            "the role may put objects under wheels/", "the bucket policy lets the role put wheels/",
                            "policies no wider than RELEASE.md's", "static access keys younger than 90 days",
                            "role policies as relrun setup writes them", "static access keys in use" }) do
      eq(c[name] and c[name].status, "ok", name .. ": " .. json.encode(c[name]))
    end
    contains(c["the trust policy admits this workflow"].found, "sub repo:acme/stock-pipeline:ref:refs/tags/v1.0.0")
    contains(c["static access keys younger than 90 days"].found, "1 active key")
    eq(c["the bucket exists in the region"].looked_at, "S3 HeadBucket")
    eq(c["static access keys younger than 90 days"].looked_at, "IAM ListAccessKeys (the caller's keys)")
    -- Every check says what it found; groups are RELEASE.md's sections.
    local groups = {}
    for _, g in ipairs(doc.groups) do groups[#groups + 1] = g.name end
    eq(groups, { "OIDC Authentication", "CodeArtifact Permission Denied", "S3 Upload Failures", "Security" })
    -- The whole doctor, every group, passes this set-up clean too.
    local all_code, all, _, raw = w.doctor({ "--tag", "v1.0.0" }, ENV)
    eq(all.problems, 0, json.encode(all))
    eq(all_code, 0, raw.stderr)
    eq(#all.groups, 6)
    -- the CloudTrail group read the seeded release: clean
    local ct = all.groups[6]
    eq(ct.name, "CloudTrail Monitoring")
    eq(#ct.checks, 7)
    for _, check in ipairs(ct.checks) do eq(check.status, "ok", json.encode(check)) end
    contains(ct.checks[1].found, "none in the last 7 days (4 CodeArtifact events, 1 assumption of the release role)")
  end)

  it("finds a wrong sub condition and names it", function()
    set_trust(trust("repo:acme/other-repo:ref:refs/tags/v*"))
    local code, doc, c = doctor()
    found("the trust policy admits this workflow", { "refuses sub repo:acme/stock-pipeline:ref:refs/tags/v1.0.0",
      "StringLike " .. SUB, "repo:acme/other-repo:ref:refs/tags/v*" }, code, c, doc)
  end)

  it("finds RELEASE.md's own StringEquals with v*, which matches no tag", function()
    local t = trust()
    local cond = t.Statement[1].Condition
    cond.StringEquals[SUB], cond.StringLike = cond.StringLike[SUB], nil
    set_trust(t)
    local code, doc, c = doctor()
    found("the trust policy admits this workflow", { "StringEquals compares literally", "write the sub condition " ..
      "with StringLike" }, code, c, doc)
  end)

  it("finds an owner/repo spelt in another case", function()
    set_trust(trust("repo:Acme/Stock-Pipeline:ref:refs/tags/v*"))
    local code, doc, c = doctor()
    found("the trust policy admits this workflow", { "another case" }, code, c, doc)
  end)

  it("finds an environment-scoped job against a tag-scoped trust policy", function()
    local wf = fs.join(w.project, ".github/workflows/release.yml")
    assert(fs.write(wf, world.workflow(true)))
    local code, doc, c = doctor()
    assert(fs.write(wf, world.workflow(false)))
    found("the trust policy admits this workflow", { "repo:acme/stock-pipeline:environment:production",
      "environment production", "--trust-environment production" }, code, c, doc)
  end)

  it("finds a wrong audience", function()
    set_trust(trust(nil, "https://github.com/acme"))
    local code, doc, c = doctor()
    found("the token's audience", { "https://github.com/acme", "sts.amazonaws.com" }, code, c, doc)
    found("the trust policy admits this workflow", { "StringEquals " .. AUD }, code, c, doc)
  end)

  it("names a malformed role ARN from the environment as a finding", function()
    local code, doc, c = doctor({}, { AWS_ROLE_ARN = "arn:aws:iam::12345:role/" .. W.ROLE })
    found("role ARN", { 'role_arn "arn:aws:iam::12345:role/github-actions-release" (from AWS_ROLE_ARN) is not valid',
      "AWS_ROLE_ARN" }, code, c, doc)
    -- Well formed, but no such role: one failure, the other checks skip.
    code, doc, c = doctor({}, { AWS_ROLE_ARN = "arn:aws:iam::" .. W.ACCOUNT .. ":role/no-such-role" })
    found("the trust policy admits this workflow", { "the role no-such-role does not exist in account " .. W.ACCOUNT,
      "relrun setup" }, code, c, doc)
    eq(doc.problems, 1, json.encode(doc))
  end)

  it("finds a missing OIDC provider", function()
    w.iam("DeleteOpenIDConnectProvider", { OpenIDConnectProviderArn = PROVIDER })
    local code, doc, c = doctor()
    found("GitHub's OIDC provider in IAM", { "no " .. PROVIDER, "relrun setup" }, code, c, doc)
  end)

  it("falls back to GetRepositoryEndpoint when the role may not Describe* (RELEASE.md's role may not)", function()
    local function fault(f)
      local res = assert(require("relrun.http").request{ method = "POST", url = w.ca.url .. "/__fault",
                                                         body = json.encode(f) })
      eq(res.status, 200, res.body)
    end
    fault{ target = "DescribeDomain", kind = "denied", times = 1 }
    fault{ target = "DescribeRepository", kind = "denied", times = 1 }
    local code, doc, c = doctor()
    eq(code, 0, json.encode(doc))
    eq(c["the domain exists"].status, "ok")
    contains(c["the domain exists"].found, "GetRepositoryEndpoint answered http")
    contains(c["the domain exists"].found, "DescribeDomain is not permitted")
    contains(c["the repository exists"].found, "DescribeRepository is not permitted")

    fault{ target = "DescribeDomain", kind = "denied", times = 1 }
    fault{ target = "GetRepositoryEndpoint", kind = "denied", times = 1 }
    code, doc, c = doctor()
    found("the domain exists", { "DescribeDomain and GetRepositoryEndpoint refused",
      "not authorized to perform: codeartifact:GetRepositoryEndpoint" }, code, c, doc)
  end)

  it("finds a missing codeartifact:PublishPackageVersion", function()
    local p = permissions()
    table.remove(p.Statement[1].Action, 4)
    set_permissions(p)
    local code, doc, c = doctor()
    found("the role allows what a release does", { "codeartifact:PublishPackageVersion (upload the wheel",
      "is not in" }, code, c, doc)
  end)

  it("finds a wrong package name in the resource", function()
    local p = permissions()
    p.Statement[1].Resource[3] = CA .. "package/acme/pypi-store/pypi/stock_pipeline"
    set_permissions(p)
    local code, doc, c = doctor()
    found("the role allows what a release does", { "codeartifact:PublishPackageVersion",
      "resource " .. CA .. "package/acme/pypi-store/pypi/stock-pipeline is not in", "pypi/stock_pipeline" },
      code, c, doc)
  end)

  it("finds a missing sts:GetServiceBearerToken", function()
    local p = permissions()
    table.remove(p.Statement, 2)
    set_permissions(p)
    local code, doc, c = doctor()
    found("the role allows what a release does", { "sts:GetServiceBearerToken (CodeArtifact tokens" }, code, c, doc)
  end)

  it("finds a missing bucket", function()
    local code, doc, c = doctor({}, { S3_WHEELS_BUCKET = "acme-no-such-bucket" })
    found("the bucket exists in the region", { "no bucket acme-no-such-bucket", "--bucket" }, code, c, doc)
  end)

  it("finds a role policy too narrow for the sdist", function()
    local p = permissions()
    p.Statement[3].Resource = "arn:aws:s3:::" .. W.BUCKET .. "/wheels/*.whl"
    set_permissions(p)
    local code, doc, c = doctor()
    found("the role may put objects under wheels/", { "wheels/stock-pipeline-1.0.0.tar.gz",
      "wheels/*" }, code, c, doc)
  end)

  it("finds a bucket policy that refuses wheels/", function()
    local bp = json.encode{ Version = "2012-10-17", Statement = { {
      Sid = "OnlyReleases", Effect = "Deny", Principal = "*", Action = "s3:PutObject",
      NotResource = "arn:aws:s3:::" .. W.BUCKET .. "/releases/*" } } }
    local s3 = assert(require("relrun.aws.s3").client{ endpoint = w.moto.url, region = "us-east-1",
      credentials = require("relrun.aws.credentials").static(w.moto.akid, w.moto.secret) })
    assert(s3:send(W.BUCKET, nil, { method = "PUT", query = { policy = "" }, body = bp, operation = "PutBucketPolicy" }))
    local code, doc, c = doctor()
    assert(s3:send(W.BUCKET, nil, { method = "DELETE", query = { policy = "" }, operation = "DeleteBucketPolicy" }))
    found("the bucket policy lets the role put wheels/", { "statement 1 (OnlyReleases) denies s3:PutObject" },
      code, c, doc)
  end)

  it("reports policies wider than RELEASE.md's", function()
    local p = permissions()
    p.Statement[1].Action = "codeartifact:*"
    set_permissions(p)
    local code, doc, c = doctor()
    eq(code, 0, json.encode(doc))   -- a warning, not a failure
    eq(c["policies no wider than RELEASE.md's"].status, "warn")
    contains(c["policies no wider than RELEASE.md's"].found, "allows the wildcard action codeartifact:*")

    set_trust(trust("repo:" .. W.REPO .. ":*"))
    code, doc, c = doctor()
    found("policies no wider than RELEASE.md's", { "admits a branch push (refs/heads/main)", "a pull request" },
      code, c, doc)
  end)

  it("reads attached managed policies too: wider ones reported, their rights counted", function()
    local arn = "arn:aws:iam::" .. W.ACCOUNT .. ":policy/everything"
    w.iam("CreatePolicy", { PolicyName = "everything", PolicyDocument = json.encode{ Version = "2012-10-17",
      Statement = { { Effect = "Allow", Action = "*", Resource = "*" } } } })
    w.iam("AttachRolePolicy", { RoleName = W.ROLE, PolicyArn = arn })
    local p = permissions()
    table.remove(p.Statement, 2)          -- the attached policy still allows sts:GetServiceBearerToken
    set_permissions(p)
    local code, doc, c = doctor()
    local _, out = w.setup({ "--bucket", W.BUCKET })
    w.iam("DetachRolePolicy", { RoleName = W.ROLE, PolicyArn = arn })
    w.iam("DeletePolicy", { PolicyArn = arn })
    eq(code, 0, json.encode(doc))
    eq(c["the role allows what a release does"].status, "ok")
    eq(c["policies no wider than RELEASE.md's"].status, "warn")
    contains(c["policies no wider than RELEASE.md's"].found, "everything: statement 1 allows the wildcard action *")
    contains(c["policies no wider than RELEASE.md's"].found, "everything: statement 1 applies to every resource (*)")
    contains(out, "✓ role-other-policies: attached policy everything: not relrun's; left alone")
  end)

  it("says when the tag does not match the trust policy's pattern", function()
    local code, doc, c = doctor({ "--tag", "1.0.0" })
    found("the trust policy admits this workflow", { "refuses sub repo:acme/stock-pipeline:ref:refs/tags/1.0.0",
      "does not match the release tags' pattern (v*)" }, code, c, doc)
  end)

  -- The workflow as relrun.workflows reads it: the job that publishes, its
  -- own environment however it is written.
  local function with_workflow(text, fn)
    local wf = fs.join(w.project, ".github/workflows/release.yml")
    assert(fs.write(wf, text))
    local good, err = pcall(fn)
    assert(fs.write(wf, world.workflow(false)))
    if not good then error(err, 0) end
  end

  it("reads the job's environment in any YAML form (flow mapping)", function()
    local text = world.workflow(false):gsub("\n    timeout%-minutes:", "\n    environment: { name: production }\n" ..
      "    timeout-minutes:")
    with_workflow(text, function()
      local code, doc, c = doctor()
      found("the trust policy admits this workflow", { "refuses sub repo:acme/stock-pipeline:environment:production",
        "--trust-environment production" }, code, c, doc)
    end)
  end)

  it("takes the sub of the job that publishes, not another job's environment", function()
    -- A docs job first, in an environment, with the workflow's id-token: it
    -- is not the job that assumes the role.
    local text = world.workflow(false):gsub("\njobs:\n", "\njobs:\n  docs:\n    runs-on: ubuntu-latest\n" ..
      "    environment: github-pages\n    steps:\n      - run: echo docs\n")
    with_workflow(text, function()
      local code, doc, c = doctor()
      eq(code, 0, json.encode(doc))
      contains(c["the trust policy admits this workflow"].found, "sub repo:acme/stock-pipeline:ref:refs/tags/v1.0.0 " ..
        "(.github/workflows/release.yml job release)")
    end)
  end)

  it("uses the project's tag prefix for the trust, not v*", function()
    -- Tags stock-pipeline-v*: setup writes the trust for them, the doctor checks it for them.
    local env = { RELRUN_TAG_PREFIX = "stock-pipeline-v" }
    W.git(w.project, "tag", "stock-pipeline-v1.0.0")
    local good, err = pcall(function()
      local code, out = w.setup({ "--bucket", W.BUCKET, "--update" }, env)
      eq(code, 0, out)
      local doc, c
      code, doc, c = w.doctor({ "--only", "oidc,security" }, (function()
        local e = { S3_WHEELS_BUCKET = W.BUCKET }
        for k, v in pairs(env) do e[k] = v end
        return e
      end)())
      eq(c["the trust policy admits this workflow"].status, "ok", json.encode(c["the trust policy admits this workflow"]))
      contains(c["the trust policy admits this workflow"].found,
        "sub repo:acme/stock-pipeline:ref:refs/tags/stock-pipeline-v1.0.0")
      eq(c["policies no wider than RELEASE.md's"].status, "ok", json.encode(c["policies no wider than RELEASE.md's"]))
      -- relrun's workflow still runs for v* only: no release would start it
      found("the release workflow", { "job release runs for tags v*, which no release tag (stock-pipeline-vVERSION) " ..
        "matches" },
        code, c, doc)
    end)
    W.git(w.project, "tag", "-d", "stock-pipeline-v1.0.0")
    if not good then error(err, 0) end
  end)

  it("checks the real token's claims under simulated Actions, never printing it", function()
    local actions = { GITHUB_ACTIONS = "true", ACTIONS_ID_TOKEN_REQUEST_URL = w.gh.url .. "/oidc/token",
                      ACTIONS_ID_TOKEN_REQUEST_TOKEN = W.REQUEST_TOKEN }
    local code, doc, c, r = doctor({}, actions)
    eq(doc.problems, 0, json.encode(doc))
    eq(code, 0)
    eq(c["this job's OIDC token"].status, "ok")
    contains(c["this job's OIDC token"].found, "sub repo:acme/stock-pipeline:ref:refs/tags/v1.0.0, aud sts.amazonaws.com")
    -- The token reached the output only as GitHub's mask command.
    local jwt = r.stdout:match("::add%-mask::(eyJ[%w_%-]+%.[%w_%-]+%.[%w_%-]+)")
    ok(jwt, "the token was not masked with ::add-mask::")
    local _, n = (r.stdout .. r.stderr):gsub(jwt:gsub("%p", "%%%0"), "")
    eq(n, 1)
    ok(not (r.stdout .. r.stderr):find(W.REQUEST_TOKEN, 1, true) or
       r.stdout:find("::add-mask::" .. W.REQUEST_TOKEN, 1, true), "the request token was printed")

    -- A job in an environment: the token's real sub is refused, named, and annotated.
    w.github_state{ oidc = { sub = "repo:" .. W.REPO .. ":environment:production" } }
    code, doc, c, r = doctor({}, actions)
    w.github_state{ oidc = {} }
    found("this job's OIDC token", { "sub repo:acme/stock-pipeline:environment:production", "refused" }, code, c, doc)
    contains(r.stdout, "::error title=OIDC Authentication%3A this job's OIDC token::")

    -- As in a real job: no keys, relrun runs as the role through the token,
    -- and the role may not read itself. Getting the credentials is the test
    -- (moto admits any token; what a refusal says is aws_moto_spec's).
    local noaws = { AWS_ACCESS_KEY_ID = false, AWS_SECRET_ACCESS_KEY = false }
    for k, v in pairs(actions) do noaws[k] = v end
    w.moto.auth_after(1)    -- AssumeRoleWithWebIdentity is unsigned: let it through moto's checking
    _, _, c, r = doctor({}, noaws)
    w.moto.auth_after(0)
    eq(c["this job's OIDC token"].status, "ok", json.encode(c["this job's OIDC token"]))
    contains(c["this job's OIDC token"].found, "STS admitted it: relrun runs as arn:aws:iam::" .. W.ACCOUNT ..
      ":role/" .. W.ROLE)
    eq(c["the role allows what a release does"].status, "skip")   -- GetRole is not the role's to call
    -- HeadBucket needs s3:ListBucket, which RELEASE.md's role lacks: a 403 says the bucket exists.
    eq(c["the bucket exists in the region"].status, "warn", json.encode(c["the bucket exists in the region"]))
    contains(c["the bucket exists in the region"].found, "exists, but these credentials may not HeadBucket it")
    jwt = r.stdout:match("::add%-mask::(eyJ[%w_%-]+%.[%w_%-]+%.[%w_%-]+)")
    ok(jwt, "the token was not masked")
    _, n = (r.stdout .. r.stderr):gsub(jwt:gsub("%p", "%%%0"), "")
    eq(n, 1)
  end)

  it("checks the production environment: exists, tags only, reviewers", function()
    local gh = { GITHUB_TOKEN = W.GITHUB_TOKEN }
    local name = "the production environment"
    local code, doc, c = doctor({}, gh)
    found(name, { "environment production does not exist", "relrun setup" }, code, c, doc)

    eq(w.setup({ "--bucket", W.BUCKET }, gh), 0)
    code, doc, c = doctor({}, gh)
    eq(code, 0, json.encode(doc))
    eq(c[name].status, "warn")
    contains(c[name].found, "tags v* only, but no required reviewers")

    -- Reviewers but any ref may deploy: a failure.
    local http = require "relrun.http"
    local res = assert(http.request{ method = "PUT", url = w.gh.url .. "/repos/" .. W.REPO .. "/environments/production",
      headers = { authorization = "Bearer " .. W.GITHUB_TOKEN, ["content-type"] = "application/json" },
      body = json.encode{ reviewers = { { type = "User", id = 1 } } } })
    eq(res.status, 200, res.body)
    code, doc, c = doctor({}, gh)
    found(name, { "any branch or tag may deploy to it", "tags v* only" }, code, c, doc)

    eq(w.setup({ "--bucket", W.BUCKET, "--update" }, gh), 0)
    code, doc, c = doctor({}, gh)
    eq(code, 0, json.encode(doc))
    eq(c[name].status, "ok", json.encode(c[name]))    -- setup kept the reviewers
    contains(c[name].found, "required reviewers, tags v* only")
    w.github_state{ environments = {} }
  end)

  it("reviews static keys' last use: a key never used is named", function()
    local key = w.iam("CreateAccessKey", { UserName = "releaser" })
    local id = require("relrun.aws.core").xml_text(key, "AccessKey/AccessKeyId")
    local code, doc, c = doctor({ "--only", "security" })
    w.iam("DeleteAccessKey", { UserName = "releaser", AccessKeyId = id })
    eq(code, 0, json.encode(doc))   -- a warning
    eq(c["static access keys in use"].status, "warn", json.encode(c["static access keys in use"]))
    eq(c["static access keys in use"].found, id:sub(1, 8) .. "… never used")
    contains(c["static access keys in use"].todo, "deactivate and delete it")
    code, doc, c = doctor({ "--only", "security" })
    eq(code, 0, json.encode(doc))
    eq(c["static access keys in use"].status, "ok", json.encode(doc))
    contains(c["static access keys in use"].found, w.moto.akid:sub(1, 8) .. "… last used today (iam)")
  end)

  it("reports drift from setup.lua's documents: the trust, relrun-release, other policies", function()
    local name = "role policies as relrun setup writes them"
    local p = permissions()
    p.Statement[1].Action = { "codeartifact:GetAuthorizationToken", "codeartifact:GetRepositoryEndpoint",
                              "codeartifact:ReadFromRepository" }
    set_permissions(p)
    set_trust(trust("repo:" .. W.REPO .. ":ref:refs/tags/release-*"))
    w.iam("PutRolePolicy", { RoleName = W.ROLE, PolicyName = "extra", PolicyDocument = json.encode(permissions()) })
    local code, doc, c = doctor({ "--only", "security" })
    w.iam("DeleteRolePolicy", { RoleName = W.ROLE, PolicyName = "extra" })
    eq(code, 0, json.encode(doc))
    eq(c[name].status, "warn", json.encode(c[name]))
    contains(c[name].found, "trust policy: Statement[1].Condition.StringLike.token.actions.githubusercontent.com:sub: " ..
      "want \"repo:acme/stock-pipeline:ref:refs/tags/v*\", have \"repo:acme/stock-pipeline:ref:refs/tags/release-*\"")
    contains(c[name].found, "relrun-release: Statement[1].Action")
    contains(c[name].found, "inline policy extra is not one setup writes")
    contains(c[name].todo, "relrun setup --dry-run")
    w.iam("DeleteRolePolicy", { RoleName = W.ROLE, PolicyName = "relrun-release" })
    c = select(3, doctor({ "--only", "security" }))
    contains(c[name].found, "no inline policy relrun-release")
  end)

  it("runs the audit's checks for the last 7 days as the cloudtrail group", function()
    local records = json.decode(assert(fs.read("tests/fixtures/cloudtrail/findings.json")))
    w.cloudtrail("/__events", records)
    local code, doc, c = doctor({ "--only", "cloudtrail" })
    w.cloudtrail("/__reset")
    w.cloudtrail("/__events", json.decode(assert(fs.read("tests/fixtures/cloudtrail/release.json"))))
    eq(code, 3, json.encode(doc))
    eq(#doc.groups, 1)
    local want = { ["no deletions"] = "warn", ["no disposals or status changes"] = "warn",
                   ["publishes by the release role only"] = "fail", ["no long-term access keys"] = "warn",
                   ["role assumed by trusted workflows only"] = "fail",
                   ["release role used from GitHub Actions only"] = "fail",
                   ["no bursts of GetAuthorizationToken"] = "ok" }
    for check, status in pairs(want) do eq(c[check] and c[check].status, status, check .. ": " .. json.encode(c[check])) end
    eq(doc.problems, 3)
    contains(c["publishes by the release role only"].found, "by role AWSReservedSSO_Developer_0123456789abcdef")
    contains(c["no long-term access keys"].found, "IAM user alice")
    contains(c["no long-term access keys"].found, "the root account")
    contains(c["no deletions"].todo, "relrun audit --since 7d")
    eq(c["no deletions"].looked_at, "CloudTrail LookupEvents: codeartifact.amazonaws.com and " ..
      "AssumeRoleWithWebIdentity, last 7 days")
  end)

  it("says once when CloudTrail cannot be read, and skips when LookupEvents is not permitted", function()
    w.cloudtrail("/__fault", { kind = "garbage", times = 4 })
    local code, doc, c = doctor({ "--only", "cloudtrail" })
    w.cloudtrail("/__fault", { kind = "denied", times = 2 })
    local dcode, ddoc, dc = doctor({ "--only", "cloudtrail" })
    eq(code, 3, json.encode(doc))
    eq(doc.problems, 1)
    eq(c["no deletions"].status, "fail")
    contains(c["no deletions"].found, "not JSON")
    eq(c["no disposals or status changes"].status, "skip")
    eq(dcode, 0, json.encode(ddoc))
    eq(dc["no deletions"].status, "skip")
    contains(dc["no deletions"].found, "cloudtrail:LookupEvents is not permitted")
  end)

  it("needs no credentials to say what it could not check", function()
    local code, doc, c = doctor({}, { AWS_ACCESS_KEY_ID = false, AWS_SECRET_ACCESS_KEY = false })
    eq(c["GitHub's OIDC provider in IAM"].status, "skip")
    contains(c["GitHub's OIDC provider in IAM"].found, "no AWS credentials")
    eq(c["static access keys younger than 90 days"].status, "skip")
    ok(code == 0 or code == 3, "exit " .. tostring(code))
    ok(doc.problems >= 0)
  end)
end)

describe("doctor: static access keys", function()
  local aws = require "relrun.doctor.aws"
  it("names active keys older than 90 days, oldest first, and ignores inactive ones", function()
    local now = 1800000000
    local keys = { { id = "AKIAFRESH", status = "Active", created = now - 10 * 86400 },
                   { id = "AKIAOLD91", status = "Active", created = now - 91 * 86400 },
                   { id = "AKIAOLD400", status = "Active", created = now - 400 * 86400 },
                   { id = "AKIAOFF", status = "Inactive", created = now - 500 * 86400 },
                   { id = "AKIAEDGE", status = "Active", created = now - 90 * 86400 } }
    eq(aws.old_keys(keys, now, 90), { { id = "AKIAOLD400", age_days = 400 }, { id = "AKIAOLD91", age_days = 91 } })
    eq(aws.old_keys({}, now), {})
  end)

  it("names active keys never used or unused for more than 90 days", function()
    local now = 1800000000
    local keys = { { id = "AKIAUSED", status = "Active", last_used = { date = now - 3 * 86400 } },
                   { id = "AKIANEVER", status = "Active", last_used = {} },
                   { id = "AKIAIDLE", status = "Active", last_used = { date = now - 200 * 86400 } },
                   { id = "AKIAEDGE", status = "Active", last_used = { date = now - 90 * 86400 } },
                   { id = "AKIAOFF", status = "Inactive" } }
    eq(aws.idle_keys(keys, now, 90), { { id = "AKIANEVER" }, { id = "AKIAIDLE", idle_days = 200 } })
  end)
end)
