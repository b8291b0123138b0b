-- relrun.policy: RELEASE.md's documents and the evaluator that explains them.
local policy = require "relrun.policy"

local CFG = { account = "111122223333", region = "us-east-1", domain = "acme", repository = "pypi-store",
              package = "stock-pipeline", bucket = "acme-wheels", github_repository = "acme/stock-pipeline" }
local SUB = policy.OIDC_HOST .. ":sub"
local AUD = policy.OIDC_HOST .. ":aud"

local function assume(docs, sub, aud)
  return policy.evaluate(docs.trust, { action = "sts:AssumeRoleWithWebIdentity",
    principal = { Federated = docs.oidc_provider_arn }, context = { [SUB] = sub, [AUD] = aud or "sts.amazonaws.com" } })
end

describe("wildcards", function()
  it("matches * and ? and nothing else", function()
    ok(policy.wildcard_match("repo:a/b:ref:refs/tags/v*", "repo:a/b:ref:refs/tags/v1.2.3"))
    ok(policy.wildcard_match("v?.0", "v1.0"))
    ok(not policy.wildcard_match("v?.0", "v10.0"))
    ok(not policy.wildcard_match("a.b", "aXb"), "a dot is literal")
    ok(not policy.wildcard_match("arn:aws:s3:::b/wheels/*", "arn:aws:s3:::b/other/x"))
    ok(policy.wildcard_match("CodeArtifact:Get*", "codeartifact:GetAuthorizationToken", true))
  end)
end)

describe("RELEASE.md's documents", function()
  local docs = policy.documents(CFG)

  it("fill every placeholder", function()
    eq(docs.oidc_provider_arn, "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com")
    eq(docs.permissions.Statement[1].Resource, {
      "arn:aws:codeartifact:us-east-1:111122223333:domain/acme",
      "arn:aws:codeartifact:us-east-1:111122223333:repository/acme/pypi-store",
      "arn:aws:codeartifact:us-east-1:111122223333:package/acme/pypi-store/pypi/stock-pipeline" })
    eq(docs.permissions.Statement[3].Resource, "arn:aws:s3:::acme-wheels/wheels/*")
    eq(docs.trust.Statement[1].Condition.StringLike[SUB], "repo:acme/stock-pipeline:ref:refs/tags/v*")
  end)

  it("leave the S3 statement out without a bucket", function()
    local d = policy.documents{ account = "1", region = "r", domain = "d", repository = "x", github_repository = "o/r" }
    eq(#d.permissions.Statement, 2)
  end)

  it("allow every request the release makes, and say which statement does", function()
    for _, req in ipairs(policy.required_requests(docs, CFG)) do
      local r = policy.evaluate(docs.permissions, req)
      eq(r.decision, "allow", req.action)
    end
    local r = policy.evaluate(docs.permissions, policy.required_requests(docs, CFG)[4])
    eq(r.statement, "statement 1")
  end)

  it("admit a tag push and refuse a branch", function()
    eq(assume(docs, "repo:acme/stock-pipeline:ref:refs/tags/v1.2.3").decision, "allow")
    local r = assume(docs, "repo:acme/stock-pipeline:ref:refs/heads/main")
    eq(r.decision, "implicit_deny")
    contains(r.why, "StringLike token.actions.githubusercontent.com:sub")
    contains(r.why, '"repo:acme/stock-pipeline:ref:refs/heads/main"')
  end)

  it("refuse an environment-scoped job against a tag-scoped trust policy", function()
    local sub = policy.github_sub("acme/stock-pipeline", "refs/tags/v1.2.3", "production")
    eq(sub, "repo:acme/stock-pipeline:environment:production")
    local r = assume(docs, sub)
    eq(r.decision, "implicit_deny")
    contains(r.why, "environment:production")
  end)

  it("refuse a wrong audience and name it", function()
    local r = assume(docs, "repo:acme/stock-pipeline:ref:refs/tags/v1.2.3", "https://github.com/acme")
    eq(r.decision, "implicit_deny")
    contains(r.why, "StringEquals token.actions.githubusercontent.com:aud")
  end)

  it("compare org/repo case exactly, as IAM does", function()
    eq(assume(docs, "repo:Acme/Stock-Pipeline:ref:refs/tags/v1.2.3").decision, "implicit_deny")
  end)

  it("explain RELEASE.md's literal StringEquals on a pattern", function()
    local literal = policy.documents(CFG)
    local cond = literal.trust.Statement[1].Condition
    cond.StringEquals[SUB], cond.StringLike = cond.StringLike[SUB], nil
    local r = assume(literal, "repo:acme/stock-pipeline:ref:refs/tags/v1.2.3")
    eq(r.decision, "implicit_deny")
    contains(r.why, "StringEquals compares literally; a pattern with * needs StringLike")
  end)
end)

describe("broken permission policies", function()
  it("a missing PublishPackageVersion is named", function()
    local docs = policy.documents(CFG)
    table.remove(docs.permissions.Statement[1].Action, 4)
    local r = policy.evaluate(docs.permissions, policy.required_requests(docs, CFG)[4])
    eq(r.decision, "implicit_deny")
    contains(r.why, "no statement allows codeartifact:PublishPackageVersion")
  end)

  it("a wrong package name in the resource is named", function()
    local docs = policy.documents(CFG)
    docs.permissions.Statement[1].Resource[3] = "arn:aws:codeartifact:us-east-1:111122223333:package/acme/pypi-store/pypi/other"
    local r = policy.evaluate(docs.permissions, policy.required_requests(docs, CFG)[4])
    eq(r.decision, "implicit_deny")
    contains(r.why, "package/acme/pypi-store/pypi/stock-pipeline is not in")
  end)

  it("a missing GetServiceBearerToken is named", function()
    local docs = policy.documents(CFG)
    table.remove(docs.permissions.Statement, 2)
    local r = policy.evaluate(docs.permissions, policy.required_requests(docs, CFG)[5])
    eq(r.decision, "implicit_deny")
    contains(r.why, "sts:GetServiceBearerToken")
  end)

  it("an explicit Deny wins over an Allow", function()
    local docs = policy.documents(CFG)
    table.insert(docs.permissions.Statement, { Sid = "NoPublish", Effect = "Deny",
      Action = "codeartifact:Publish*", Resource = "*" })
    local r = policy.evaluate(docs.permissions, policy.required_requests(docs, CFG)[4])
    eq(r.decision, "explicit_deny")
    eq(r.statement, "statement 4 (NoPublish)")
  end)

  it("a bucket policy on the wrong prefix is too narrow", function()
    local docs = policy.documents(CFG)
    docs.permissions.Statement[3].Resource = "arn:aws:s3:::acme-wheels/dist/*"
    local r = policy.evaluate(docs.permissions, policy.required_requests(docs, CFG)[6])
    eq(r.decision, "implicit_deny")
  end)

  it("finds grants wider than RELEASE.md's", function()
    local docs = policy.documents(CFG)
    local allowed = {}
    for _, st in ipairs(docs.permissions.Statement) do
      for _, a in ipairs(type(st.Action) == "table" and st.Action or { st.Action }) do allowed[#allowed + 1] = a end
    end
    eq(policy.wider_than(docs.permissions, allowed), {})
    docs.permissions.Statement[1].Action[5] = "codeartifact:*"
    table.insert(docs.permissions.Statement, { Effect = "Allow", Action = "s3:DeleteObject", Resource = "*" })
    local f = policy.wider_than(docs.permissions, allowed)
    eq(#f, 3)
    contains(f[1], "wildcard action codeartifact:*")
    contains(f[2], "s3:DeleteObject")
    contains(f[3], "every resource")
  end)
end)

describe("diff", function()
  it("is empty for the same document in another order", function()
    local a = policy.documents(CFG).permissions
    local b = policy.documents(CFG).permissions
    b.Statement[1].Action = { b.Statement[1].Action[4], b.Statement[1].Action[3], b.Statement[1].Action[2],
                              b.Statement[1].Action[1] }
    eq(policy.diff(a, b), {})
  end)

  it("names what differs", function()
    local a = policy.documents(CFG).trust
    local b = policy.documents(CFG).trust
    b.Statement[1].Condition.StringLike[SUB] = "repo:acme/stock-pipeline:*"
    eq(policy.diff(a, b), { 'Statement[1].Condition.StringLike.' .. SUB ..
      ': want "repo:acme/stock-pipeline:ref:refs/tags/v*", have "repo:acme/stock-pipeline:*"' })
  end)
end)
