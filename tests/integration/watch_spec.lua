-- label: slow
-- RELEASE.md "3. Monitor Release Process" from the laptop (scripts/watch.lua,
-- release.lua tag --watch) against the loopback world (tests/support/
-- e2e_world.lua): the GitHub fake's workflow runs move one step per look, so
-- every change is seen in order without a clock. A run that never starts
-- (each cause named), one that fails at a step (its log tail and the doctor
-- check), a token refused mid-watch, one that succeeds and is then verified
-- in the four systems; the GitHub Release as a draft and a prerelease with
-- its SHA256SUMS.
local world = require "e2e_world"
local json = require "relrun.json"

local w = world.start{}
local _ <close> = setmetatable({}, { __close = function() w:stop() end })

local WORKFLOW = [[
name: Release to CodeArtifact
on:
  push:
    tags: ["%s"]
permissions:
  id-token: write
  contents: write
jobs:
  release:
    runs-on: ubuntu-latest
    environment: production
    steps:
      - run: relrun scripts/release.lua publish
]]

-- The laptop: no Actions, a GitHub token for the API, static AWS keys for verify.
local function laptop(extra)
  local e = { GITHUB_ACTIONS = false, ACTIONS_ID_TOKEN_REQUEST_URL = false, ACTIONS_ID_TOKEN_REQUEST_TOKEN = false,
              GITHUB_OUTPUT = false, GITHUB_STEP_SUMMARY = false, AWS_ROLE_ARN = false,
              AWS_ACCESS_KEY_ID = world.SETUP_KEY, AWS_SECRET_ACCESS_KEY = world.SETUP_SECRET,
              RELRUN_WATCH_INTERVAL = "0" }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

local function watch(args, env)
  local argv = { "scripts/watch.lua" }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return w:relrun(argv, laptop(env))
end

local function succeeds(r, what)
  if r.code ~= 0 then print(r.stdout, r.stderr) end
  eq(r.code, 0, what .. " exit code")
  return r
end

local function fails(r, what)
  eq(r.code, 1, what .. " exit code: " .. r.stdout .. r.stderr)
  ok(not r.stderr:find("traceback", 1, true), what .. ": no traceback")
  return r
end

local function commit_workflow(pattern)
  os.execute("mkdir -p " .. w.clone .. "/.github/workflows")
  world.write(w.clone .. "/.github/workflows/release.yml", WORKFLOW:format(pattern))
  w:git("add .github")
  w:git("commit -q -m 'release workflow for tags " .. pattern .. "'")
  w:git("push -q origin main")
  return w:git("rev-parse HEAD")
end

local function add_run(tag, sha, jobs, extra)
  local doc = { head_sha = sha, head_branch = tag, event = "push", jobs = jobs }
  for k, v in pairs(extra or {}) do doc[k] = v end
  return w:control(w.gh, "POST", "/__run", doc)
end

local STEPS = { { name = "Set up job" }, { name = "Check out the tag" }, { name = "Build" }, { name = "Publish" } }

describe("a run that never starts: each cause named", function()
  it("no workflow on the tag: said at once, without waiting", function()
    local r = fails(watch{ "0.1.0", "--timeout", "600" }, "watch v0.1.0")
    contains(r.stderr, "no workflow run will start for v0.1.0: v0.1.0 has no .github/workflows/*.yml")
    contains(r.stdout, "FAILED    workflow")
  end)

  it("a tag filter the tag does not match: the filter named", function()
    commit_workflow("release-*")
    w:git("tag v0.1.5")
    local r = fails(watch{ "0.1.5" }, "watch v0.1.5")
    contains(r.stderr, "no workflow of v0.1.5 is started by pushing the tag v0.1.5: .github/workflows/release.yml " ..
      "runs for tags release-*")
  end)

  it("tag --watch from Actions with GITHUB_TOKEN: warned at push time, named when no run comes", function()
    commit_workflow("v*")
    local r = w:relrun({ "scripts/release.lua", "tag", "--version", "0.2.0", "--yes", "--watch", "--timeout", "0" },
      { RELRUN_WATCH_INTERVAL = "0" })
    eq(r.code, 1, "tag --watch exit code: " .. r.stdout .. r.stderr)
    eq(w:remote_tags()["v0.2.0"], true, "the tag was pushed")
    local warning = "the tag is pushed with GITHUB_TOKEN from GitHub Actions: a push with the workflow's own token " ..
      "starts no workflow"
    local at_push = r.stderr:find(warning, 1, true)
    ok(at_push and at_push < (r.stderr:find("no workflow run started", 1, true) or 0), "warned before the watch: "
      .. r.stderr)
    contains(r.stdout, "✓ workflow: pushing v0.2.0 starts .github/workflows/release.yml")
    contains(r.stderr, "no workflow run started for v0.2.0")
    contains(r.stderr, "within 0 s: " .. warning)
    contains(r.stderr, "GIT_TOKEN")
  end)

  it("on the laptop, a run that does not come within the timeout: the possible causes", function()
    local r = fails(watch{ "0.2.0", "--timeout", "0" }, "watch without a run")
    contains(r.stderr, "no workflow run started for v0.2.0")
    contains(r.stderr, "was the tag pushed from a workflow with its GITHUB_TOKEN")
    contains(r.stderr, "`relrun watch 0.2.0` follows it")
  end)
end)

describe("a run that succeeds, then the release verified in every system", function()
  it("publishes v0.2.0 as the workflow would (simulated Actions)", function()
    succeeds(w:relrun{ "scripts/release.lua", "publish" }, "publish")
  end)

  it("finds the run once GitHub lists it, follows each step, then verifies CodeArtifact, S3, GitHub, the install",
    function()
      local sha = w:git("rev-parse v0.2.0^{commit}")
      add_run("v0.2.0", sha, { { name = "release", steps = STEPS } }, { hidden_polls = 2 })
      local r = succeeds(watch{ "0.2.0" }, "watch v0.2.0")
      if os.getenv("SHOW") then print(r.stdout, r.stderr) end
      local out = r.stdout
      contains(out, "✓ run: Release to CodeArtifact #")
      -- one line per change, in order: each step started, then done
      local last = 0
      for _, line in ipairs({ "… Set up job", "✓ Set up job", "… Check out the tag", "✓ Check out the tag",
                              "… Build", "✓ Build", "… Publish", "✓ Publish" }) do
        local at = out:find(line, 1, true)
        ok(at and at > last, line .. " in order: " .. out)
        last = at
      end
      contains(out, "✓ follow: Release to CodeArtifact #")
      contains(out, "succeeded")
      contains(out, "✓ status Published")
      contains(out, "✓ s3://acme-wheels/wheels/stock_pipeline-0.2.0-py3-none-any.whl sha256 ")
      contains(out, "✓ GitHub Release v0.2.0: 2 file(s) with the same sha256, all in SHA256SUMS, notes of")
      contains(out, "import bronze, ingestion, silver; version 0.2.0")
      contains(out, "Released and verified stock-pipeline 0.2.0.")
    end)

  it("verify.lua stops on an S3 copy whose bytes differ", function()
    local s3 = w:aws("s3")
    local key = "wheels/stock-pipeline-0.2.0.tar.gz"
    local tmp = w.tmp .. "/other"
    world.write(tmp, "not the sdist")
    assert(s3:put_object{ bucket = world.BUCKET, key = key, file = tmp })
    local r = fails(w:relrun({ "scripts/verify.lua", "0.2.0" }, laptop()), "verify with a changed S3 object")
    contains(r.stderr, "s3://acme-wheels/" .. key .. " has sha256 ")
  end)
end)

describe("a run that fails at a step", function()
  it("names the step, shows the tail of the job's log and the doctor check that fits", function()
    w:git("tag v0.3.0")
    local sha = w:git("rev-parse HEAD")
    local failing = {}
    for _, s in ipairs(STEPS) do failing[#failing + 1] = { name = s.name } end
    failing[4].fail = true
    failing[5] = { name = "Post job cleanup" }
    add_run("v0.3.0", sha, { { name = "release", steps = failing,
      log = "uploading stock_pipeline-0.3.0-py3-none-any.whl\nrelrun: publish: GetAuthorizationToken for domain " ..
        "acme (owner 111122223333): AccessDeniedException\n::error::do not obey me" } })
    local before = #w:control(w.gh, "GET", "/__state").download_auth
    local r = fails(watch{ "0.3.0" }, "watch a failing run")
    if os.getenv("SHOW") then print(r.stdout, r.stderr) end
    contains(r.stdout, "✓ Build")
    contains(r.stdout, "✗ Publish — failure")
    ok(not r.stdout:find("Post job cleanup", 1, true), "a skipped step is not listed")
    contains(r.stdout, "Log of job release, the last ")
    contains(r.stdout, "    relrun: publish: GetAuthorizationToken for domain acme")
    contains(r.stdout, "    error: Process completed with exit code 1.")
    ok(not r.stdout:find("\n%s*::error::"), "a workflow command from the log is neutralised")
    contains(r.stderr, "the release workflow failed (failure) at step 'Publish' of job 'release'")
    contains(r.stderr, "relrun doctor --only codeartifact")
    contains(r.stderr, "gh run rerun ")
    -- the log came from the other origin without the token
    local auth = w:control(w.gh, "GET", "/__state").download_auth
    eq(#auth, before + 1, "one log download")
    eq(auth[#auth], "-", "no Authorization sent to the log storage")
  end)
end)

describe("a run that fails when its log cannot be read", function()
  it("still names the failing step, and says the log could not be read", function()
    w:git("tag v0.3.1")
    add_run("v0.3.1", w:git("rev-parse HEAD"), { { name = "release",
      steps = { { name = "Set up job" }, { name = "Publish", fail = true } } } })
    w:control(w.gh, "POST", "/__fault", { status = 500, count = 1, path = "/actions/jobs/\\d+/logs$" })
    local r = fails(watch{ "0.3.1" }, "watch a failing run without its log")
    contains(r.stdout, "The job's log could not be read: GitHub GET ")
    contains(r.stderr, "the release workflow failed (failure) at step 'Publish' of job 'release'")
  end)
end)

describe("the GitHub Release as a draft and a prerelease", function()
  it("publish --draft of 0.4.0rc1: a draft prerelease with SHA256SUMS listing every file", function()
    w:git("tag v0.4.0rc1")
    succeeds(w:relrun{ "scripts/release.lua", "publish", "--tag", "v0.4.0rc1", "--draft" }, "publish rc1 --draft")
    local state = w:control(w.gh, "GET", "/__state")
    local rel
    for _, x in ipairs(state.releases) do if x.tag_name == "v0.4.0rc1" then rel = x end end
    ok(rel, "a release for v0.4.0rc1")
    eq(rel.draft, true, "draft")
    eq(rel.prerelease, true, "prerelease")
    local s = w:state("0.4.0rc1")
    local sums
    for _, a in ipairs(state.assets) do
      if a.name == "SHA256SUMS" and a.url:find("/assets/") then
        local res = assert(require("relrun.http").request{ url = a.browser_download_url })
        if res.body:find("0.4.0rc1", 1, true) then sums = res.body end
      end
    end
    ok(sums, "a SHA256SUMS asset")
    local listed = {}
    for sha, name in sums:gmatch("(%x+)  ([^\n]+)") do listed[name] = sha end
    eq(listed, s.codeartifact, "SHA256SUMS lists every published file with its sha256")
    local r = succeeds(w:relrun({ "scripts/verify.lua", "0.4.0rc1" }, laptop()), "verify rc1")
    contains(r.stdout, "GitHub Release v0.4.0rc1 (draft: publish it on GitHub) (prerelease)")
  end)

  it("publish of 0.4.0 without --draft: a published release, not a prerelease", function()
    w:git("tag v0.4.0")
    succeeds(w:relrun{ "scripts/release.lua", "publish", "--tag", "v0.4.0" }, "publish 0.4.0")
    for _, x in ipairs(w:control(w.gh, "GET", "/__state").releases) do
      if x.tag_name == "v0.4.0" then
        eq(x.draft, false, "not a draft")
        eq(x.prerelease, false, "not a prerelease")
      end
    end
  end)
end)

describe("a token that expires mid-watch", function()
  it("says the token was refused, that the run goes on, and how to follow it again", function()
    w:git("tag v0.5.0")
    local sha = w:git("rev-parse HEAD")
    add_run("v0.5.0", sha, { { name = "release", steps = STEPS } })
    -- the first looks succeed, then every Actions call is refused
    w:control(w.gh, "POST", "/__fault", { status = 401, after = 3, count = 1000, path = "/actions/" })
    local r = fails(watch{ "0.5.0" }, "watch with a token that expires")
    contains(r.stdout, "… Set up job")
    contains(r.stderr, "GitHub refused the token while watching v0.5.0, run #")
    contains(r.stderr, "(401): it expired or was revoked; the release workflow goes on without relrun")
    contains(r.stderr, "export GH_TOKEN=$(gh auth token)")
    contains(r.stderr, "then rerun `")
    contains(r.stderr, "watch.lua 0.5.0`")
    local leaked = json.encode(r)
    ok(not leaked:find(world.GITHUB_TOKEN, 1, true), "the token is never printed")
  end)
end)
