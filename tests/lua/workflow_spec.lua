-- .github/workflows/release.yml agrees with what the scripts read: parsed by
-- a real YAML parser (PyYAML), then checked against relrun.config's names,
-- relrun.policy's tag pattern and RELEASE.md's requirements.
local proc = require "relrun.proc"
local json = require "relrun.json"
local config = require "relrun.config"
local policy = require "relrun.policy"

local function workflow()
  local r = assert(proc.run{ argv = { "python3", "-c", [[
import json, sys, yaml
doc = yaml.safe_load(open(".github/workflows/release.yml"))
doc["on"] = doc.pop(True, doc.get("on"))   # YAML 1.1 reads the key `on` as true
print(json.dumps(doc))]] } })
  assert(r.code == 0, r.stderr)
  return assert(json.decode(r.stdout))
end

describe("release workflow", function()
  local wf = workflow()
  local job = wf.jobs.release

  it("runs on pushed tags that the trust policy admits", function()
    local tags = wf.on.push.tags
    eq(tags, { "v*" })
    local trust = policy.documents{ account = "111122223333", region = "us-east-1", domain = "d", repository = "r",
                                    github_repository = "acme/stock-pipeline" }.trust
    local sub = trust.Statement[1].Condition.StringLike[policy.OIDC_HOST .. ":sub"]
    eq(sub:match(":ref:refs/tags/(.+)$"), tags[1], "the trust policy's tag pattern")
  end)

  it("has the permissions OIDC and releases need", function()
    eq(wf.permissions["id-token"], "write")
    eq(wf.permissions.contents, "write")
    eq(job.environment, "production")
  end)

  it("checks out the whole history and runs the checked-in release script", function()
    local checkout, publish
    for _, step in ipairs(job.steps) do
      if (step.uses or ""):match("^actions/checkout@") then checkout = step end
      if (step.run or ""):find("scripts/release.lua publish", 1, true) then publish = step end
    end
    ok(checkout, "a checkout step")
    eq(checkout.with["fetch-depth"], 0)
    ok(publish, "a step runs scripts/release.lua publish")
  end)

  it("runs on Debian 12 with git installed before the checkout, and builds relrun alone", function()
    eq(job.container, "debian:12", "where relrun is built and tested")
    local install, checkout, build
    for i, step in ipairs(job.steps) do
      if (step.run or ""):find("apt-get install", 1, true) then install = install or i end
      if (step.uses or ""):match("^actions/checkout@") then checkout = i end
      if step.run == "make build" then build = i end
    end
    ok(install and checkout and install < checkout, "git is installed before actions/checkout (else no history)")
    for _, pkg in ipairs({ "git", "make", "ca-certificates", "python3-build", "python3-setuptools-scm",
                           "python3-venv", "python3-pip" }) do
      ok(job.steps[install].run:find("%f[%w%-]" .. pkg:gsub("%-", "%%-") .. "%f[^%w%-]"), pkg .. " is installed")
    end
    ok(build, "a step runs make build")
    -- make build installs the build packages only: a test-only package
    -- missing from the runner's apt (awscli, hyperfine) must not fail a release
    local r = assert(proc.run{ argv = { "make", "-n", "build" } })
    eq(r.code, 0, r.stderr)
    contains(r.stdout, "libgit2-dev")
    ok(not r.stdout:find("awscli", 1, true) and not r.stdout:find("hyperfine", 1, true), r.stdout)
  end)

  it("passes exactly the settings the scripts read, under RELEASE.md's names", function()
    local publish
    for _, step in ipairs(job.steps) do
      if (step.run or ""):find("release.lua publish", 1, true) then publish = step end
    end
    local read = { GITHUB_TOKEN = true }
    for _, s in ipairs(config.SETTINGS) do
      for _, name in ipairs(s.env or {}) do read[name] = true end
    end
    for name in pairs(publish.env) do ok(read[name], name .. " is read by relrun.config") end
    for _, name in ipairs({ "AWS_ROLE_ARN", "AWS_REGION", "CODEARTIFACT_DOMAIN", "CODEARTIFACT_ACCOUNT_ID",
                            "CODEARTIFACT_REPOSITORY", "S3_WHEELS_BUCKET", "GITHUB_TOKEN" }) do
      ok(publish.env[name], name .. " is passed to the publish step")
    end
    eq(publish.env.S3_WHEELS_BUCKET, "${{ vars.S3_WHEELS_BUCKET }}", "a repository variable, as RELEASE.md says")
    eq(publish.env.AWS_ROLE_ARN, "${{ secrets.AWS_ROLE_ARN }}")
  end)
end)
