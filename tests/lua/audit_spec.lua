-- relrun.audit's pure parts: --since and --burst, and the judging of events
-- (decoded as relrun.aws.cloudtrail gives them), one kind at a time.
local audit = require "relrun.audit"

local NOW = 1796220000   -- 2026-12-02T12:00:00Z
local ROLE = "arn:aws:iam::123456789012:role/github-actions-release"
local GITHUB = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
local TRUSTED = { "repo:acme/stock-pipeline:ref:refs/tags/v*" }

local function session(role, federated, key)
  return { type = "AssumedRole", arn = "arn:aws:sts::123456789012:assumed-role/x/s1", accessKeyId = key or "ASIAX",
           sessionContext = { sessionIssuer = { arn = role, userName = role:match("[^/]+$") },
                              webIdFederationData = federated and { federatedProvider = federated } or nil } }
end

local RELEASE = session(ROLE, GITHUB)

local function ev(name, identity, params, t, extra)
  local record = { eventName = name, userIdentity = identity, requestParameters = params or {},
                   sourceIPAddress = "20.1.2.3", userAgent = "relrun/1" }
  for k, v in pairs(extra or {}) do record[k] = v end
  return { id = name .. tostring(t or 0), name = name, time = t or NOW - 100, record = record }
end

local function assume(sub, provider, extra)
  local r = ev("AssumeRoleWithWebIdentity", { type = "WebIdentityUser", userName = sub, identityProvider = provider or GITHUB },
    { roleArn = ROLE }, NOW - 50, extra)
  r.record.responseElements = { subjectFromWebIdentityToken = sub, provider = provider or GITHUB }
  return r
end

local function kinds(codeartifact, assumptions, burst)
  local out = {}
  for _, f in ipairs(audit.judge({ codeartifact = codeartifact, assumptions = assumptions },
                                 { role_arn = ROLE, trusted = TRUSTED, burst = burst })) do
    out[#out + 1] = f.kind
  end
  return out
end

describe("audit: --since", function()
  it("takes durations, dates and times", function()
    eq(audit.parse_since("30d", NOW), NOW - 30 * 86400)
    eq(audit.parse_since("12h", NOW), NOW - 12 * 3600)
    eq(audit.parse_since("2w", NOW), NOW - 14 * 86400)
    eq(audit.parse_since("90m", NOW), NOW - 5400)
    eq(audit.parse_since("2026-11-01", NOW), 1793491200)
    eq(audit.parse_since("2026-11-01T08:00:00Z", NOW), 1793491200 + 8 * 3600)
    eq(audit.parse_since("90d", NOW), NOW - 90 * 86400)
  end)

  it("refuses what is not a time, the future and more than CloudTrail's 90 days", function()
    for _, bad in ipairs({ "", "30", "d", "30x", "-3d", "2026-13-45x", "yesterday" }) do
      local t, why = audit.parse_since(bad, NOW)
      eq(t, nil, bad)
      contains(why, "is not a duration")
    end
    local _, why = audit.parse_since("2027-01-01", NOW)
    contains(why, "in the future")
    _, why = audit.parse_since("91d", NOW)
    contains(why, "90 days")
  end)
end)

describe("audit: --burst", function()
  it("takes COUNT and COUNT/SPAN", function()
    eq(audit.parse_burst("20"), { count = 20, seconds = 3600 })
    eq(audit.parse_burst("50/10m"), { count = 50, seconds = 600 })
    eq(audit.parse_burst("5/h"), { count = 5, seconds = 3600 })
    eq(audit.parse_burst("100/2d"), { count = 100, seconds = 172800 })
    for _, bad in ipairs({ "0", "x", "5/0h", "5/1s", "/1h", "-1" }) do eq(audit.parse_burst(bad), nil, bad) end
  end)
end)

describe("audit: judging events", function()
  it("finds nothing in a release from a tag through GitHub's OIDC", function()
    eq(kinds({ ev("GetAuthorizationToken", RELEASE), ev("GetRepositoryEndpoint", RELEASE),
               ev("PublishPackageVersion", RELEASE, { package = "p", packageVersion = "1.0" }) },
             { assume("repo:acme/stock-pipeline:ref:refs/tags/v1.0.0") }), {})
  end)

  it("flags deletions, disposals and status changes, not a re-publish", function()
    eq(kinds({ ev("DeletePackageVersions", RELEASE, { versions = { "1.0" } }), ev("DeleteRepository", RELEASE),
               ev("DisposePackageVersions", RELEASE), ev("UpdatePackageVersionsStatus", RELEASE, { targetStatus = "Unlisted" }),
               ev("UpdatePackageVersionsStatus", RELEASE, { targetStatus = "Published" }) }, {}),
      { "deletion", "deletion", "disposal", "disposal" })
  end)

  it("flags a publish by another role or a user, whatever the role's path", function()
    local other = session("arn:aws:iam::123456789012:role/dev", nil)
    local same_by_path = session("arn:aws:iam::123456789012:role/ci/github-actions-release", GITHUB)
    local other_account = session("arn:aws:iam::999999999999:role/github-actions-release", GITHUB)
    eq(kinds({ ev("PublishPackageVersion", other), ev("PublishPackageVersion", same_by_path),
               ev("PublishPackageVersion", other_account) }, {}), { "foreign-publish", "foreign-publish" })
  end)

  it("flags long-term keys and root", function()
    local f = audit.judge({ codeartifact = {
      ev("ListPackages", { type = "IAMUser", userName = "alice", accessKeyId = "AKIAQALICEEXAMPLE001" }),
      ev("ListPackages", { type = "Root", accessKeyId = "ASIAROOT" }) } }, { role_arn = ROLE, trusted = TRUSTED })
    eq(#f, 2)
    eq(f[1].kind, "long-term-key")
    eq(f[1].principal, "IAM user alice")
    contains(f[1].detail, "AKIAQALI…")
    ok(not f[1].detail:find("EXAMPLE001", 1, true), "the whole key id is not shown")
    eq(f[2].principal, "the root account")
  end)

  it("flags a sub outside the trusted patterns, but not one the trust policy refused", function()
    eq(kinds({}, { assume("repo:acme/stock-pipeline:ref:refs/heads/main"),
                   assume("repo:acme/stock-pipeline:pull_request", nil, { errorCode = "AccessDenied" }),
                   assume("repo:someone/fork:ref:refs/tags/v1.0.0") }),
      { "untrusted-sub", "untrusted-sub" })
  end)

  it("flags the role assumed through another provider, or used in a session not from GitHub", function()
    eq(kinds({ ev("GetAuthorizationToken", session(ROLE, nil)),
               ev("GetAuthorizationToken", session(ROLE, "accounts.google.com")) },
             { assume("repo:acme/stock-pipeline:ref:refs/tags/v1.0.0", "arn:aws:iam::1:oidc-provider/gitlab.com") }),
      { "outside-actions", "outside-actions", "outside-actions" })
  end)

  it("flags a burst above the threshold within the span, once per principal", function()
    local function tokens(n, step, identity)
      local out = {}
      for i = 1, n do out[i] = ev("GetAuthorizationToken", identity or RELEASE, {}, NOW - 7200 + i * step) end
      return out
    end
    eq(kinds(tokens(5, 60), {}, { count = 5, seconds = 3600 }), {})
    eq(kinds(tokens(6, 60), {}, { count = 5, seconds = 3600 }), { "token-burst" })
    eq(kinds(tokens(6, 720), {}, { count = 5, seconds = 3600 }), {})   -- 6 calls over 60 min: never 6 within one span
    local two = tokens(6, 60)
    for _, e in ipairs(tokens(6, 60, session(ROLE, GITHUB, "ASIAOTHER"))) do
      e.record.userIdentity.arn = "arn:aws:sts::123456789012:assumed-role/x/s2"
      two[#two + 1] = e
    end
    local f = audit.judge({ codeartifact = two }, { role_arn = ROLE, trusted = TRUSTED, burst = { count = 5, seconds = 3600 } })
    eq(#f, 2)
    contains(f[1].detail, "6 GetAuthorizationToken calls within 1h")
  end)

  it("cleans control characters out of record text", function()
    eq(audit.clean("a\nb\r::x"), "a\\x0ab\\x0d::x")
    local f = audit.judge({ codeartifact = { ev("DeletePackage", RELEASE, { package = "p\n::error::x" }) } },
      { role_arn = ROLE, trusted = TRUSTED })
    ok(not f[1].detail:find("\n"), f[1].detail)
  end)
end)
