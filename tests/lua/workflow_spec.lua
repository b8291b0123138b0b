-- The release workflow relrun writes into a package's repository
-- (scripts/templates/release.yml through relrun.workflow / `relrun
-- workflow`): filled in, it is valid for GitHub (actionlint), its shell is
-- clean (shellcheck), it pins relrun by version and sha256 and runs the
-- locked scripts, and it passes what the scripts read under RELEASE.md's
-- names. tests/integration/workflow_run_spec.lua runs its steps.
local proc = require "relrun.proc"
local json = require "relrun.json"
local fs = require "relrun.fs"
local host = require "relrun.host"
local config = require "relrun.config"
local policy = require "relrun.policy"
local workflow = require "relrun.workflow"

local SHA = string.rep("ab", 32)
local URL = "https://example.invalid/relrun_" .. host.version .. "_amd64.deb"

local function yaml(text)
  local r = assert(proc.run{ argv = { "/usr/bin/python3", "-c", [[
import json, sys, yaml
doc = yaml.safe_load(sys.stdin.read())
doc["on"] = doc.pop(True, doc.get("on"))   # YAML 1.1 reads the key `on` as true
print(json.dumps(doc))]] }, stdin = text })
  assert(r.code == 0, r.stderr)
  return assert(json.decode(r.stdout))
end

local function step(job, pattern)
  for i, s in ipairs(job.steps) do
    if (s.run or ""):find(pattern) or (s.uses or ""):find(pattern) then return s, i end
  end
end

describe("the release workflow template", function()
  local text = workflow.render{ deb_url = URL, deb_sha256 = SHA }
  local wf = yaml(text)
  local job = wf.jobs.release

  it("fills in the version, URL and sha256, and nothing is left unfilled", function()
    eq(job.env, { RELRUN_VERSION = host.version, RELRUN_DEB_URL = URL, RELRUN_DEB_SHA256 = SHA })
    ok(not text:find("@[%u%d_]+@"), "no placeholder left")
  end)

  it("passes actionlint (the template and the filled-in workflow)", function()
    local tmp <close> = fs.tempdir("relrun-wf-")
    fs.write(tmp.path .. "/release.yml", text)
    local r = assert(proc.run{ argv = { "node", "tests/support/actionlint.cjs", tmp.path .. "/release.yml",
      "scripts/templates/release.yml" } })
    eq(r.code, 0, r.stdout .. r.stderr)
    contains(r.stdout, "actionlint: 2 files, 0 problems")
  end)

  it("actionlint catches the job-level hashFiles the old workflow had", function()
    local tmp <close> = fs.tempdir("relrun-wf-")
    fs.write(tmp.path .. "/bad.yml", (text:gsub("    environment: production\n",
      "    environment: production\n    if: hashFiles('pyproject.toml') != ''\n")))
    local r = assert(proc.run{ argv = { "node", "tests/support/actionlint.cjs", tmp.path .. "/bad.yml" } })
    eq(r.code, 1)
    contains(r.stdout, "calling function \"hashFiles\" is not allowed here")
  end)

  it("has shell steps shellcheck finds nothing in", function()
    local tmp <close> = fs.tempdir("relrun-wf-")
    for i, s in ipairs(job.steps) do
      if s.run then
        local path = tmp.path .. "/step" .. i .. ".sh"
        -- what the runner executes: expressions are substituted before the shell sees them
        fs.write(path, "#!/bin/bash\n" .. s.run:gsub("%${{[^}]*}}", "x"))
        local r = assert(proc.run{ argv = { "shellcheck", "--shell=bash", path } })
        eq(r.code, 0, "step " .. i .. " (" .. s.name .. "):\n" .. r.stdout)
      end
    end
  end)

  it("runs on pushed tags that the trust policy admits, with the permissions OIDC and releases need", function()
    eq(wf.on.push.tags, { "v*" })
    local trust = policy.documents{ account = "111122223333", region = "us-east-1", domain = "d", repository = "r",
                                    github_repository = "acme/stock-pipeline" }.trust
    local sub = trust.Statement[1].Condition.StringLike[policy.OIDC_HOST .. ":sub"]
    eq(sub:match(":ref:refs/tags/(.+)$"), wf.on.push.tags[1], "the trust policy's tag pattern")
    eq(wf.permissions["id-token"], "write")
    eq(wf.permissions.contents, "write")
    eq(job.environment, "production")
    eq(job["if"], nil, "no job-level condition")
  end)

  it("installs git before the checkout of the whole history, then relrun checked by sha256", function()
    local _, install = step(job, "apt%-get install")
    local checkout, at = step(job, "^actions/checkout@")
    local relrun, pinned = step(job, "sha256sum %-%-check")
    ok(install and at and pinned and install < at and at < pinned, "tools, checkout, relrun in that order")
    eq(checkout.with["fetch-depth"], 0)
    for _, pkg in ipairs({ "git", "curl", "ca-certificates", "python3-build", "python3-setuptools-scm",
                           "python3-venv", "python3-pip" }) do
      ok(job.steps[install].run:find("%f[%w%-]" .. pkg:gsub("%-", "%%-") .. "%f[^%w%-]"), pkg .. " is installed")
    end
    contains(relrun.run, 'echo "$RELRUN_DEB_SHA256  $deb" | sha256sum --check --strict -')
    contains(relrun.run, 'dpkg-deb -x "$deb"')
  end)

  it("publishes with the locked scripts, passing exactly the settings they read under RELEASE.md's names", function()
    local publish = step(job, "relrun %-%-locked release publish")
    ok(publish, "a step runs relrun --locked release publish")
    eq(publish.run, "relrun --locked release publish")
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

describe("relrun workflow", function()
  local RELRUN = os.getenv("RELRUN")

  it("prints the workflow with the sha256 of a package file it is given", function()
    local tmp <close> = fs.tempdir("relrun-wf-")
    fs.write(tmp.path .. "/relrun.deb", "not really a package")
    local r = assert(proc.run{ argv = { RELRUN, "workflow", "--deb-url", URL, "--deb", tmp.path .. "/relrun.deb" } })
    eq(r.code, 0, r.stderr)
    eq(r.stdout, workflow.render{ deb_url = URL, deb_sha256 = require("relrun.hash").sha256("not really a package") })
    r = assert(proc.run{ argv = { RELRUN, "workflow", "--deb-url", URL, "--deb-sha256", SHA, "-o",
      tmp.path .. "/.github/workflows/release.yml" } })
    eq(r.stdout, "wrote " .. tmp.path .. "/.github/workflows/release.yml\n")
    eq(fs.read(tmp.path .. "/.github/workflows/release.yml"), workflow.render{ deb_url = URL, deb_sha256 = SHA })
  end)

  it("refuses what it cannot pin: no URL, a bad sha256, a bad version", function()
    local cases = {
      { { "--deb-sha256", SHA }, "the URL of relrun's Debian package is needed" },
      { { "--deb-url", URL, "--deb-sha256", "abc" }, "not a sha256: abc" },
      { { "--deb-url", URL }, "the sha256 of relrun's Debian package is needed" },
      { { "--deb-url", URL, "--deb-sha256", SHA, "--version", "latest" }, "not a relrun version: latest" },
      { { "--deb-url", "no url", "--deb-sha256", SHA }, "not a URL: no url" },
    }
    for _, c in ipairs(cases) do
      local r = assert(proc.run{ argv = { RELRUN, "workflow", table.unpack(c[1]) } })
      eq(r.code, 2, c[2])
      contains(r.stderr, c[2])
      eq(r.stdout, "")
    end
  end)
end)

describe("the build-matrix workflow template", function()
  local text = workflow.render{ deb_url = URL, deb_sha256 = SHA, matrix = true }
  local wf = yaml(text)
  local single = yaml(workflow.render{ deb_url = URL, deb_sha256 = SHA })
  local job = wf.jobs.release

  it("fills in the version, URL and sha256, nothing is left unfilled, and actionlint passes it", function()
    eq(job.env, { RELRUN_VERSION = host.version, RELRUN_DEB_URL = URL, RELRUN_DEB_SHA256 = SHA })
    ok(not text:find("@[%u%d_]+@"), "no placeholder left")
    local tmp <close> = fs.tempdir("relrun-wf-")
    fs.write(tmp.path .. "/release.yml", text)
    local r = assert(proc.run{ argv = { "node", "tests/support/actionlint.cjs", tmp.path .. "/release.yml",
      "scripts/templates/release-matrix.yml" } })
    eq(r.code, 0, r.stdout .. r.stderr)
    contains(r.stdout, "actionlint: 2 files, 0 problems")
  end)

  it("has shell steps shellcheck finds nothing in", function()
    local tmp <close> = fs.tempdir("relrun-wf-")
    for name, j in pairs(wf.jobs) do
      for i, s in ipairs(j.steps) do
        if s.run then
          local path = tmp.path .. "/" .. name .. i .. ".sh"
          fs.write(path, "#!/bin/bash\n" .. s.run:gsub("%${{[^}]*}}", "x"))
          local r = assert(proc.run{ argv = { "shellcheck", "--shell=bash", path } })
          eq(r.code, 0, name .. " step " .. i .. " (" .. s.name .. "):\n" .. r.stdout)
        end
      end
    end
  end)

  it("builds on every platform and the sdist, each job uploading what the publish job downloads", function()
    eq(wf.on.push.tags, single.on.push.tags, "the same release tags as the single-machine workflow")
    eq(job.needs, { "wheels", "sdist" })
    eq(wf.jobs.wheels.strategy.matrix.os, { "ubuntu-latest", "windows-latest", "macos-latest" })
    local download = step(job, "^actions/download%-artifact@")
    ok(download, "the publish job downloads the artifacts")
    eq(download.with["merge-multiple"], true, "one flat dist/ folder")
    local pattern = "^" .. download.with.pattern:gsub("%-", "%%-"):gsub("%*", ".*") .. "$"
    for _, name in ipairs({ "wheels", "sdist" }) do
      local upload = step(wf.jobs[name], "^actions/upload%-artifact@")
      ok(upload, name .. " uploads its files")
      ok(upload.with.name:gsub("%${{[^}]*}}", "x"):match(pattern), name .. "'s artifact is downloaded")
      eq(upload.with["if-no-files-found"], "error", name .. ": a job that made nothing fails")
      eq(step(wf.jobs[name], "^actions/checkout@").with["fetch-depth"], 0, name .. ": tags and history")
    end
  end)

  it("gives the OIDC token to the publish job only, in the production environment", function()
    eq(wf.permissions, { contents = "read" })
    eq(job.permissions, { ["id-token"] = "write", contents = "write" })
    eq(job.environment, "production")
    local tmp <close> = fs.tempdir("relrun-wf-")
    fs.mkdir(tmp.path .. "/.github/workflows")
    fs.write(tmp.path .. "/.github/workflows/release.yml", text)
    local jobs = require("relrun.workflows").release_jobs(tmp.path, { prefix = "v" })
    eq(#jobs, 1, "one job gets a token")
    eq({ jobs[1].job, jobs[1].environment }, { "release", "production" })
  end)

  it("installs relrun as the single-machine workflow does, then publishes --dist with the same settings", function()
    local mine = {}
    for i = 1, 3 do mine[i] = job.steps[i] end
    eq(mine, { single.jobs.release.steps[1], single.jobs.release.steps[2], single.jobs.release.steps[3] },
      "the tools, the checkout and relrun's pinned install")
    local publish = step(job, "relrun %-%-locked release publish")
    eq(publish.run, "relrun --locked release publish --dist dist/")
    eq(publish.env, step(single.jobs.release, "relrun %-%-locked release publish").env)
    ok(require("relrun.doctor.jobs").publishes(publish), "the doctor recognises the publish step")
  end)

  it("is what relrun workflow --matrix prints", function()
    local r = assert(proc.run{ argv = { os.getenv("RELRUN"), "workflow", "--matrix", "--deb-url", URL,
                                        "--deb-sha256", SHA } })
    eq(r.code, 0, r.stderr)
    eq(r.stdout, text)
  end)

  it("runs on the project's release tags: --tag-prefix, for the matrix and the single-machine workflow", function()
    for _, extra in ipairs({ { "--matrix" }, {} }) do
      local argv = { os.getenv("RELRUN"), "workflow", "--deb-url", URL, "--deb-sha256", SHA, "--tag-prefix", "" }
      for _, a in ipairs(extra) do argv[#argv + 1] = a end
      local r = assert(proc.run{ argv = argv })
      eq(r.code, 0, r.stderr)
      contains(r.stdout, '    tags:\n      - "*"\n')
      argv[#argv - #extra] = "bronze-v"
      r = assert(proc.run{ argv = argv })
      contains(r.stdout, '    tags:\n      - "bronze-v*"\n')
    end
  end)
end)
