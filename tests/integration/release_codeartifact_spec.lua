-- label: slow
-- RELEASE.md's whole path to production on 127.0.0.1 (tests/support/e2e_world.lua):
-- prepare (CI green) → tag → publish under simulated GitHub Actions (OIDC
-- through the GitHub fake, AssumeRoleWithWebIdentity on moto) to the
-- CodeArtifact fake, S3 (moto) and the GitHub Release → verify.lua →
-- rollback.lua → rollback again → release again; a rerun on a fresh machine;
-- no secret anywhere in what relrun writes.
local world = require "e2e_world"
local fs = require "relrun.fs"
local json = require "relrun.json"

local w = world.start{}
local _ <close> = setmetatable({}, { __close = function() w:stop() end })

local WHEEL, SDIST = "stock_pipeline-%s-py3-none-any.whl", "stock-pipeline-%s.tar.gz"

local function run(argv, env)
  return w:relrun(argv, env)
end

local function succeeds(r, what)
  if r.code ~= 0 then print(r.stdout, r.stderr) end
  eq(r.code, 0, what .. " exit code")
  return r
end

local function head() return w:git("rev-parse HEAD") end

local function ci(sha, statuses, runs)
  w:control(w.gh, "POST", "/__state", { statuses = { [sha] = statuses }, check_runs = { [sha] = runs or {} } })
end

-- The journal of a version, decoded (nil when there is none).
local function journal(version)
  local text = fs.read(w.clone .. "/.relrun/journal-" .. version .. ".json")
  return text and json.decode(text)
end

-- The four systems agree: the tag is on the remote, CodeArtifact holds the
-- version Published with a wheel and an sdist, S3 and the GitHub Release
-- hold the same bytes. Returns what a clean run leaves, without the hashes
-- (two builds of an sdist differ in bytes), to compare runs.
local function consistent(version)
  local s = w:state(version)
  local wheel, sdist = WHEEL:format(version), SDIST:format(version)
  eq(s.tag, true, "tag v" .. version .. " on the remote")
  eq(s.status, "Published", "CodeArtifact status")
  local names = {}
  for name in pairs(s.codeartifact) do names[#names + 1] = name end
  table.sort(names)
  eq(names, { sdist, wheel }, "CodeArtifact assets")
  local j = journal(version)
  for _, name in ipairs(names) do
    local sha = s.codeartifact[name]
    ok(sha:match("^%x+$") and #sha == 64, "sha256 of " .. name)
    eq(s.s3["wheels/" .. name], { sha256 = sha, content = sha }, "S3 object and its sha256 metadata for " .. name)
    eq(s.github[name], sha, "GitHub Release asset " .. name)
    if j then
      for _, f in ipairs(j.steps.build.evidence.files) do
        if f.filename == name then eq(f.sha256, sha, "journal's build evidence for " .. name) end
      end
    end
  end
  ok(s.release, "GitHub Release v" .. version)
  local shape = { tag = s.tag, status = s.status, codeartifact = names, release = s.release ~= nil,
                  s3 = {}, github = {} }
  for k in pairs(s.s3) do shape.s3[#shape.s3 + 1] = k end
  for k in pairs(s.github) do shape.github[#shape.github + 1] = k end
  table.sort(shape.s3)
  table.sort(shape.github)
  return shape, s
end

-- Nothing secret in any captured output, the journals, the summary or the
-- outputs. `::add-mask::VALUE` is the one line that must carry it: the
-- runner reads it and masks VALUE in the log, so it is left out.
local function no_secret(extra_texts)
  local texts = { transcript = w.transcript:gsub("::add%-mask::[^\n]*", ""),
                  summary = world.read(w.summary), output = world.read(w.output) }
  for _, f in ipairs(fs.glob and fs.glob(w.clone .. "/.relrun/journal-*.json") or {}) do
    texts[f] = world.read(f)
  end
  for k, v in pairs(extra_texts or {}) do texts[k] = v end
  local secrets = w:secrets()
  ok(#secrets >= 7, "secrets collected from the peers: " .. #secrets)
  for _, s in ipairs(secrets) do
    for where, text in pairs(texts) do
      if text:find(s, 1, true) then error("a secret (" .. s:sub(1, 4) .. "…) appears in " .. where, 2) end
    end
  end
end

local V = "0.2.0"
local clean -- the shape a clean run leaves

describe("prepare: Verify CI is passing", function()
  it("names failing and pending statuses and check runs, and passes when green", function()
    local sha = head()
    ci(sha, { { context = "lint", state = "failure" } }, { { name = "tests", status = "completed",
                                                          conclusion = "failure" } })
    local r = run{ "scripts/release.lua", "prepare" }
    eq(r.code, 1, "failing CI")
    contains(r.stderr, "CI is failing on " .. sha:sub(1, 7))
    contains(r.stderr, "lint (failure)")
    contains(r.stderr, "tests (failure)")
    ci(sha, { { context = "lint", state = "success" } }, { { name = "tests", status = "in_progress" } })
    r = run{ "scripts/release.lua", "prepare" }
    eq(r.code, 1, "pending CI")
    contains(r.stderr, "CI has not finished")
    contains(r.stderr, "tests still running")
    r = run({ "scripts/release.lua", "prepare" }, { GITHUB_TOKEN = false, GIT_TOKEN = world.GITHUB_TOKEN })
    succeeds(r, "prepare without a token")
    contains(r.stdout, "not checked: set GITHUB_TOKEN")
    ci(sha, { { context = "lint", state = "success" } }, { { name = "tests", status = "completed",
                                                          conclusion = "success" } })
    r = succeeds(run{ "scripts/release.lua", "prepare" }, "prepare")
    contains(r.stdout, "CI green on " .. sha:sub(1, 7) .. " (2 statuses and check runs on acme/stock-pipeline)")
    contains(r.stdout, "last release: v0.1.0")
  end)
end)

describe("tag, publish under simulated Actions, verify", function()
  it("tags v0.2.0 and pushes it to the HTTP remote", function()
    succeeds(run{ "scripts/release.lua", "tag", "--version", V, "--yes" }, "tag")
    eq(w:remote_tags()["v" .. V], true, "tag on the remote")
  end)

  it("--dry-run before publishing: the plan, every step to run, nothing changed", function()
    local r = succeeds(run{ "scripts/release.lua", "publish", "--dry-run" }, "dry run")
    contains(r.stdout, "— dry run, nothing is changed:")
    -- the tag phase built the release on this machine: publish uploads those files
    ok(r.stdout:find("%d%. build%s+[^\n]*%[already done%]"), "build done by tag: " .. r.stdout)
    for _, step in ipairs({ "publish", "s3", "github-release", "verify" }) do
      ok(r.stdout:find("%d%. " .. step:gsub("%-", "%%-") .. "%s+[^\n]*%[will run%]"), step .. " will run: " .. r.stdout)
    end
    for _, step in ipairs({ "connect", "preflight" }) do
      ok(r.stdout:find("%d%. " .. step .. "%s+[^\n]*%[[^F]"), step .. " checked: " .. r.stdout)
    end
    eq(w:state(V).status, false, "nothing in CodeArtifact")
  end)

  it("publishes to CodeArtifact, S3 and the GitHub Release, and installs", function()
    local r = succeeds(run{ "scripts/release.lua", "publish" }, "publish")
    for _, step in ipairs({ "gate", "connect", "preflight", "build", "publish", "s3", "github-release",
                            "instructions", "verify" }) do
      ok(r.stdout:find("\n✓ " .. step:gsub("%-", "%%-") .. "[:\n ]"), step .. " done: " .. r.stdout)
    end
    contains(r.stdout, "Released stock-pipeline " .. V .. " (v" .. V .. ") to CodeArtifact acme/python")
    local s
    clean, s = consistent(V)
    -- the instructions: stdout and the step summary
    local summary = world.read(w.summary)
    for _, text in ipairs({ r.stdout, summary }) do
      contains(text, "relrun login --tool pip")
      contains(text, "pip install stock-pipeline==" .. V)
      -- Databricks: the form that authenticates, the token from a secret scope
      contains(text, "%pip install stock-pipeline==" .. V .. " --index-url " ..
        w.ca.url:gsub("^http://", "http://aws:$token@") .. "/d/acme-111122223333/pypi/python/simple/")
      contains(text, 'token = dbutils.secrets.get(scope="codeartifact", key="token")')
      contains(text, "secret scope")
    end
    -- the outputs: version, endpoint, hashes
    local out = world.read(w.output)
    contains(out, "version=" .. V .. "\n")
    contains(out, "index-url=" .. w.ca.url .. "/d/acme-111122223333/pypi/python/simple/\n")
    contains(out, "wheel-sha256=" .. s.codeartifact[WHEEL:format(V)] .. "\n")
    contains(out, "sdist-sha256=" .. s.codeartifact[SDIST:format(V)] .. "\n")
    contains(s.release.body, "silver: sort quotes by date")
    contains(s.release.body, "Changes since v0.1.0")
    -- under Actions, OIDC: the JWT was requested with the STS audience
    local jwts = w:control(w.gh, "GET", "/__state").oidc_issued
    ok(#jwts >= 1, "an OIDC token was requested")
  end)

  it("--dry-run compares what exists with the plan: every step that left something is done", function()
    local r = succeeds(run{ "scripts/release.lua", "publish", "--dry-run" }, "dry run")
    for _, step in ipairs({ "build", "publish", "s3", "github-release", "verify" }) do
      ok(r.stdout:find("%d%. " .. step:gsub("%-", "%%-") .. "%s+[^\n]*%[already done%]"), step .. " done: " .. r.stdout)
    end
    ok(not r.stdout:find("cannot check", 1, true), "every check could run")
  end)

  it("a rerun does nothing: every step already done", function()
    local stats = w:control(w.ca, "GET", "/__stats").requests
    local r = succeeds(run{ "scripts/release.lua", "publish" }, "rerun")
    for _, step in ipairs({ "build", "publish", "s3", "github-release" }) do
      contains(r.stdout, "✓ " .. step .. ": already done")
    end
    eq((w:control(w.ca, "GET", "/__stats").requests.PublishPackageVersion or 0),
      stats.PublishPackageVersion or 0, "no upload")
    eq(consistent(V), clean, "same state")
  end)

  it("on a fresh machine (no journal, no dist/) finds it published: no build, no upload", function()
    local before = w:state(V)
    local ids = {}
    for _, a in ipairs(w:control(w.gh, "GET", "/__state").assets) do ids[a.name] = a.id end
    os.execute("rm -rf " .. w.clone .. "/.relrun " .. w.clone .. "/dist " .. w.clone .. "/build")
    local r = succeeds(run{ "scripts/release.lua", "publish" }, "fresh machine")
    contains(r.stdout, "✓ build: already done")
    ok(not r.stderr:find("python -m build", 1, true) and not r.stdout:find("python -m build", 1, true),
      "no build ran")
    ok(not r.stderr:find(": published", 1, true), "nothing uploaded")
    local after = w:state(V)
    eq(after.codeartifact, before.codeartifact, "CodeArtifact unchanged")
    eq(after.s3, before.s3, "S3 unchanged")
    for _, a in ipairs(w:control(w.gh, "GET", "/__state").assets) do
      eq(a.id, ids[a.name], "GitHub asset " .. a.name .. " not uploaded again")
    end
  end)

  it("verify.lua: Published, hashes as built, installs and imports", function()
    local r = succeeds(run{ "scripts/verify.lua", V }, "verify.lua")
    contains(r.stdout, "✓ status Published")
    contains(r.stdout, "(as built)")
    contains(r.stdout, "import bronze, ingestion, silver; version " .. V)
    contains(r.stdout, "Verified.")
  end)
end)

describe("rollback and release again", function()
  it("rolls back CodeArtifact, the tag (here and on the remote), the GitHub Release and S3", function()
    local r = succeeds(run{ "scripts/rollback.lua", V, "--release", "--s3", "--yes" }, "rollback")
    contains(r.stdout, "Rolled back.")
    local s = w:state(V)
    eq(s.status, false, "version gone from CodeArtifact")
    eq(s.tag, false, "tag gone from the remote")
    eq(s.s3, {}, "S3 objects gone")
    eq(s.github, {}, "GitHub assets gone")
    eq(s.release, nil, "GitHub Release gone")
    eq(w:git("tag -l v" .. V), "", "local tag gone")
  end)

  it("a second rollback reports that everything is already rolled back", function()
    local r = succeeds(run{ "scripts/rollback.lua", V, "--release", "--s3", "--yes" }, "rollback again")
    contains(r.stdout, "Everything is already rolled back.")
    local n = select(2, r.stdout:gsub("already rolled back:", ""))
    eq(n, 6, "six items already rolled back (with the journal)")
  end)

  it("releases the same version again: tag, publish, the same state as the first time", function()
    os.execute("rm -rf " .. w.clone .. "/.relrun")
    succeeds(run{ "scripts/release.lua", "tag", "--version", V, "--yes" }, "tag again")
    succeeds(run{ "scripts/release.lua", "publish" }, "publish again")
    eq(consistent(V), clean, "same state")
    succeeds(run{ "scripts/verify.lua", V }, "verify again")
  end)

  it("leaves no secret in stdout, stderr, the journals, the summary or the outputs", function()
    no_secret()
  end)
end)
