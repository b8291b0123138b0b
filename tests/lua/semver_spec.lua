-- relrun.semver: the examples of the Semantic Versioning 2.0.0 text
-- (semver.org, items 2, 9, 10 and 11) and the bumps release.lua offers.
local semver = require "relrun.semver"

describe("semver.parse", function()
  it("reads the parts, with or without v", function()
    local v = assert(semver.parse("v1.2.3-rc.1+build.5"))
    eq({ v.major, v.minor, v.patch }, { 1, 2, 3 })
    eq(v.pre, { "rc", 1 })
    eq(v.build, { "build", "5" })
    eq(tostring(v), "1.2.3-rc.1+build.5")
    eq(tostring(assert(semver.parse("10.20.30"))), "10.20.30")
  end)
  for _, bad in ipairs({ "1.2", "1.2.3.4", "01.2.3", "1.02.3", "1.2.03", "1.2.3-", "1.2.3-01", "1.2.3-a..b",
    "1.2.3+", "1.2.3-a_b", "a.b.c", "", "v", "1.2.3 ", " 1.2.3", "1.2.99999999999999999999" }) do
    it("rejects " .. string.format("%q", bad), function()
      local v, err = semver.parse(bad)
      eq(v, nil)
      contains(err, "invalid semantic version")
    end)
  end
  it("accepts the spec's own examples", function()
    for _, s in ipairs({ "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-0.3.7", "1.0.0-x.7.z.92", "1.0.0-x-y-z.--",
      "1.0.0-alpha+001", "1.0.0+20130313144700", "1.0.0-beta+exp.sha.5114f85", "1.0.0+21AF26D3----117B344092BD" }) do
      ok(semver.parse(s), s)
    end
  end)
  it("misuse raises", function()
    raises(function() semver.parse(nil) end, "expected a string")
    raises(function() semver.bump("1.0.0", "huge") end, "major, minor or patch")
  end)
end)

describe("semver.compare", function()
  it("follows the precedence chain of item 11", function()
    local chain = { "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
      "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.9.0", "1.10.0", "1.11.0", "2.0.0", "2.1.0", "2.1.1" }
    for i = 1, #chain - 1 do
      eq(semver.compare(chain[i], chain[i + 1]), -1, chain[i] .. " < " .. chain[i + 1])
      eq(semver.compare(chain[i + 1], chain[i]), 1)
    end
  end)
  it("ignores build metadata", function()
    eq(semver.compare("1.0.0+a", "1.0.0+b"), 0)
    ok(semver.parse("v1.0.0") == semver.parse("1.0.0+x"))
  end)
end)

describe("semver.bump", function()
  it("bumps and resets", function()
    eq(semver.bump("1.2.3", "major"), "2.0.0")
    eq(semver.bump("1.2.3", "minor"), "1.3.0")
    eq(semver.bump("1.2.3", "patch"), "1.2.4")
    eq(semver.bump("v0.9.9", "minor"), "0.10.0")
  end)
  it("releases a pre-release of the target", function()
    eq(semver.bump("1.0.0-rc.1", "patch"), "1.0.0")
    eq(semver.bump("1.1.0-rc.1", "minor"), "1.1.0")
    eq(semver.bump("2.0.0-beta", "major"), "2.0.0")
    eq(semver.bump("1.1.1-rc.1", "minor"), "1.2.0")
  end)
end)
