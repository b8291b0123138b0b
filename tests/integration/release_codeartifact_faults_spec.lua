-- label: slow
-- A failure at each step of the CodeArtifact publish plan (gate → connect →
-- preflight → build → publish → s3 → github-release → instructions →
-- verify), caused by a peer (a fault queued on a fake, a bucket gone, a
-- refused token) or by the tagged commit: the run stops with one line on
-- stderr and a report (done / FAILED / not done / what this run changed);
-- the rerun after the cause is gone ends in the same state as a clean run.
-- Each case releases its own version in one world (tests/support/e2e_world.lua).
local world = require "e2e_world"
local fs = require "relrun.fs"

local w = world.start{}
local _ <close> = setmetatable({}, { __close = function() w:stop() end })

local STEPS = { "gate", "connect", "preflight", "build", "publish", "s3", "github-release", "instructions", "verify" }

local function publish(env)
  return w:relrun({ "scripts/release.lua", "publish" }, env)
end

-- The stop: exit 1, the error once as the last line of stderr (naming the
-- step, with what to do next), and the report on stdout.
local function stopped_at(r, step, why, rerun)
  if r.code ~= 1 then print(r.stdout, r.stderr) end
  eq(r.code, 1, step .. ": exit code")
  local last = r.stderr:match("([^\n]*)\n$") or ""
  ok(last:find("^relrun: " .. step:gsub("%-", "%%-") .. ": "), step .. ": the last line is the error: " .. r.stderr)
  print("  " .. step .. " stopped with: " .. last)
  contains(last, why)
  contains(r.stdout, "stopped at step '" .. step .. "':")
  local seen, later = false, {}
  for _, s in ipairs(STEPS) do
    if seen then later[#later + 1] = s
    else
      local mark = s == step and "FAILED" or "done"
      -- the preflight is held back until something is written: a stop
      -- where nothing was left to write has it skipped
      local found = r.stdout:find("\n  " .. mark .. "%s+" .. s:gsub("%-", "%%-") .. "\n") or
        (s == "preflight" and r.stdout:find("\n  skipped%s+preflight\n"))
      ok(found, step .. ": report line " .. mark .. " " .. s)
    end
    if s == step then seen = true end
  end
  if #later > 0 then contains(r.stdout, "  not done  " .. table.concat(later, ", ")) end
  if rerun ~= false then contains(last, "scripts/release.lua publish`") end
  return last
end

-- The state a clean run leaves, as names (hashes are compared across the
-- systems by world:state's caller).
local function final_state(v)
  local s = w:state(v)
  local shape = { tag = s.tag, status = s.status, release = s.release ~= nil, codeartifact = {}, s3 = {},
                  github = {} }
  for name, sha in pairs(s.codeartifact) do
    shape.codeartifact[#shape.codeartifact + 1] = name
    eq(s.s3["wheels/" .. name], { sha256 = sha, content = sha }, "S3 copy of " .. name)
    eq(s.github[name], sha, "GitHub asset " .. name)
  end
  for k in pairs(s.s3) do shape.s3[#shape.s3 + 1] = k end
  for k in pairs(s.github) do shape.github[#shape.github + 1] = k end
  for _, l in pairs({ shape.codeartifact, shape.s3, shape.github }) do table.sort(l) end
  return shape
end

local function expected(v)
  local wheel, sdist = "stock_pipeline-" .. v .. "-py3-none-any.whl", "stock-pipeline-" .. v .. ".tar.gz"
  return { tag = true, status = "Published", release = true, codeartifact = { sdist, wheel },
           s3 = { "wheels/" .. sdist, "wheels/" .. wheel }, github = { sdist, wheel } }
end

local function converges(v, env)
  local r = publish(env)
  if r.code ~= 0 then print(r.stdout, r.stderr) end
  eq(r.code, 0, "the rerun")
  contains(r.stdout, "✓ verify: import bronze, ingestion, silver")
  eq(final_state(v), expected(v), "final state")
  return r
end

describe("a failure at each step, then a rerun", function()
  it("a clean run leaves the expected state (the reference)", function()
    local v = w:next_release()
    local r = publish()
    eq(r.code, 0, "clean run")
    eq(final_state(v), expected(v), "clean state")
  end)

  it("gate: a tag that is not a release tag of the project's scheme", function()
    local v = w:next_release()
    w:git("tag nightly-2026")
    local r = w:relrun({ "scripts/release.lua", "publish", "--tag", "nightly-2026" })
    eq(r.code, 2, "a usage error: " .. r.stderr)
    contains(r.stderr, "nightly-2026 is not a release tag of this project's scheme (\"v\"+VERSION")
    converges(v)
  end)

  it("connect: the OIDC request token is refused", function()
    local v = w:next_release()
    stopped_at(publish{ ACTIONS_ID_TOKEN_REQUEST_TOKEN = "refused-request-token-0000" }, "connect",
      "GitHub OIDC")
    converges(v)
  end)

  it("build: the tagged commit does not build (its output's tail and the doctor hint shown); nothing published", function()
    world.write(w.clone .. "/setup.py", "import sys\nprint('setup.py: cannot find the moon')\nsys.exit(3)\n")
    w:git("add setup.py")
    local v = w:next_release()
    local r = publish()
    local last = stopped_at(r, "build", "the sdist build failed", false)
    contains(r.stderr, "cannot find the moon")
    contains(last, "relrun doctor")
    eq(w:state(v).codeartifact, {}, "nothing published")
    w:git("rm -q setup.py")
    w:git("commit -q -m 'no setup.py'")
    w:git("push -q origin main")
  end)

  it("publish: CodeArtifact's PyPI endpoint answers 503", function()
    local v = w:next_release()
    w:control(w.ca, "POST", "/__fault", { target = "pypi", kind = "status", status = 503, times = 50 })
    stopped_at(publish(), "publish", "503")
    w:control(w.ca, "DELETE", "/__fault")
    local stats = w:control(w.ca, "GET", "/__stats").requests
    converges(v)
    ok((w:control(w.ca, "GET", "/__stats").requests.GetAuthorizationToken or 0) > (stats.GetAuthorizationToken or 0),
      "the rerun asked for a fresh token (tokens are never journaled)")
  end)

  it("s3: the bucket is gone (NoSuchBucket from moto)", function()
    local v = w:next_release()
    local s3 = w:aws("s3")
    for _, o in ipairs(assert(s3:list_objects{ bucket = world.BUCKET })) do
      assert(s3:delete_object{ bucket = world.BUCKET, key = o.key })
    end
    -- moto checks no signature in this world; the client has no DeleteBucket
    local gone = assert(require("relrun.http").request{ method = "DELETE", url = w.moto.url .. "/" .. world.BUCKET })
    eq(gone.status, 204, "bucket deleted")
    -- found before the first upload: nothing published anywhere
    stopped_at(publish(), "preflight", "S3 bucket " .. world.BUCKET)
    assert(s3:create_bucket{ bucket = world.BUCKET })
    eq(w:state(v).codeartifact, {}, "nothing published to CodeArtifact")
    -- and the rerun on a fresh machine: the files come back from CodeArtifact
    os.execute("rm -rf " .. w.clone .. "/.relrun")
    local r = converges(v)
    contains(r.stdout, "→ build: ")
    contains(r.stdout, "→ s3: ")
  end)

  it("github-release: the GitHub API answers 502", function()
    local v = w:next_release()
    w:control(w.gh, "POST", "/__fault", { status = 502, count = 1, path = "/releases" })
    stopped_at(publish(), "github-release", "502")
    converges(v)
  end)

  it("github-release: an asset upload fails twice and leaves a starter asset holding its name", function()
    local v = w:next_release()
    w:control(w.gh, "POST", "/__fault", { status = 502, starter = true, server = "uploads", count = 2 })
    stopped_at(publish(), "github-release", "502")
    local starters = 0
    for _, a in ipairs(w:control(w.gh, "GET", "/__state").assets) do
      if a.state == "starter" then starters = starters + 1 end
    end
    eq(starters, 1, "GitHub keeps the failed upload's leftover")
    converges(v)
  end)

  it("instructions: $GITHUB_OUTPUT cannot be written", function()
    local v = w:next_release()
    stopped_at(publish{ GITHUB_OUTPUT = w.tmp .. "/no-such-dir/output" }, "instructions", "GITHUB_OUTPUT")
    local r = converges(v)
    contains(world.read(w.output), "version=" .. v .. "\n")
    contains(r.stdout, "✓ s3: already done")
    local _, blocks = world.read(w.summary):gsub("## stock%-pipeline " .. v:gsub("%.", "%%.") .. "\n", "")
    eq(blocks, 1, "the step summary has the install block once, after the rerun too")
  end)

  it("verify: pip finds nothing (the index answers 404)", function()
    local v = w:next_release()
    -- up to the instructions first, so that only pip meets the fault
    stopped_at(publish{ GITHUB_OUTPUT = w.tmp .. "/no-such-dir/output" }, "instructions", "GITHUB_OUTPUT")
    w:control(w.ca, "POST", "/__fault", { target = "pypi", kind = "status", status = 404, times = 1000 })
    local r = publish()
    w:control(w.ca, "DELETE", "/__fault")
    stopped_at(r, "verify", "pip")
    converges(v)
  end)

  it("a different sdist already in CodeArtifact under the name: stops at publish, never overwrites", function()
    local v = w:next_release()
    local dir = w.tmp .. "/other-" .. v
    os.execute("mkdir -p " .. dir .. "/stock-pipeline-" .. v)
    world.write(dir .. "/stock-pipeline-" .. v .. "/PKG-INFO",
      "Metadata-Version: 2.1\nName: stock-pipeline\nVersion: " .. v .. "\nSummary: not ours\n")
    local sdist = dir .. "/stock-pipeline-" .. v .. ".tar.gz"
    os.execute("tar -czf " .. sdist .. " -C " .. dir .. " stock-pipeline-" .. v)
    local ca = w:aws("codeartifact")
    local tok = assert(ca:get_authorization_token{ domain = world.DOMAIN, domain_owner = world.ACCOUNT })
    local ep = assert(ca:get_repository_endpoint{ domain = world.DOMAIN, domain_owner = world.ACCOUNT,
                                                  repository = world.REPOSITORY, format = "pypi" })
    assert(require("relrun.pypi.upload").upload{ url = ep, path = sdist, username = "aws",
                                                 password = tok.authorizationToken, progress = "none" })
    local theirs = require("relrun.hash").file(sdist, { "sha256" }).sha256
    local r = publish()
    local last = stopped_at(r, "build", "the published stock-pipeline-" .. v .. ".tar.gz is not commit ", false)
    contains(last, "a published file is never overwritten")
    local s = w:state(v)
    eq(s.codeartifact, { ["stock-pipeline-" .. v .. ".tar.gz"] = theirs }, "CodeArtifact holds theirs, alone")
    eq(s.s3, {}, "nothing copied to S3")
    eq(s.github, {}, "nothing attached to a GitHub Release")
  end)

  it("S3 already holds other bytes under a file's key: stops at s3 and names it", function()
    local v = w:next_release()
    local key = "wheels/stock_pipeline-" .. v .. "-py3-none-any.whl"
    assert(w:aws("s3"):put_object{ bucket = world.BUCKET, key = key, body = "not a wheel",
                                   metadata = { sha256 = require("relrun.hash").sha256("not a wheel") } })
    local r = publish()
    stopped_at(r, "s3", "s3://" .. world.BUCKET .. "/" .. key .. " exists with other content")
    eq(w:state(v).s3[key].content, require("relrun.hash").sha256("not a wheel"), "the object is untouched")
    -- once it is gone, a rerun on a fresh machine (found by the kill -9
    -- matrix: the build step found the files published, and the S3 copy
    -- stopped on a Lua error) copies them from CodeArtifact
    assert(w:aws("s3"):delete_object{ bucket = world.BUCKET, key = key })
    os.execute("rm -rf " .. w.clone .. "/.relrun")
    local rerun = converges(v)
    contains(rerun.stdout, "✓ build: already done")
    contains(rerun.stdout, "✓ s3: 2 object(s)")
  end)

  it("the GitHub Release already has another file under an asset's name: stops at github-release", function()
    local v = w:next_release()
    local gh = assert(require("relrun.github").new{ api_url = w.gh.url, token = world.GITHUB_TOKEN,
                                                    repository = world.GITHUB_REPOSITORY })
    local rel = assert(gh:ensure_release{ tag = "v" .. v })
    local fake = w.tmp .. "/stock-pipeline-" .. v .. ".tar.gz"
    world.write(fake, "not an sdist")
    assert(gh:upload_asset(rel, fake))
    local r = publish()
    stopped_at(r, "github-release", "already has a different stock-pipeline-" .. v .. ".tar.gz")
    eq(w:state(v).github["stock-pipeline-" .. v .. ".tar.gz"], require("relrun.hash").sha256("not an sdist"),
      "the asset is untouched")
  end)

  it("no secret in anything written during the faults", function()
    local texts = { transcript = w.transcript:gsub("::add%-mask::[^\n]*", ""), summary = world.read(w.summary),
                    output = world.read(w.output) }
    for _, f in ipairs(fs.glob(w.clone .. "/.relrun/journal-*.json")) do texts[f] = world.read(f) end
    for _, s in ipairs(w:secrets()) do
      for where, text in pairs(texts) do
        ok(not text:find(s, 1, true), "a secret (" .. s:sub(1, 4) .. "…) in " .. where)
      end
    end
  end)
end)
