-- scripts/audit.lua against the CloudTrail fake (signatures checked by
-- botocore), seeded with tests/fixtures/cloudtrail/: release.json is one
-- clean release (the role assumed from a release tag, a token, the endpoint,
-- two uploads), findings.json one record of each kind of trouble.
local peer = require "peer"
local fs = require "relrun.fs"
local proc = require "relrun.proc"
local json = require "relrun.json"
local http = require "relrun.http"

local RELRUN = os.getenv("RELRUN")
local SOURCE = os.getenv("RELRUN_SOURCE_DIR")
local AKID, SECRET = "AKIDAUDITFAKE0001", "audit/fake+secret"
local ROLE_ARN = "arn:aws:iam::123456789012:role/github-actions-release"
local FIXTURES = "tests/fixtures/cloudtrail/"

local tmp = fs.tempdir("audit-spec")
local srv
local cleanup <close> = setmetatable({}, { __close = function()   -- luacheck: ignore 211
  if srv then srv:stop() end
  tmp:close()
end })

local project = fs.join(tmp.path, "project")
assert(fs.mkdir(project))
assert(fs.write(fs.join(project, "pyproject.toml"), '[project]\nname = "stock-pipeline"\nversion = "1.0"\n'))

local function start(files, extra)
  if srv then srv:stop() end
  local argv = { "python3", "tests/fakes/cloudtrail.py", "--port-file", peer.PORT_FILE, "--credentials",
                 AKID .. ":" .. SECRET }
  for _, f in ipairs(files) do argv[#argv + 1] = "--events"; argv[#argv + 1] = FIXTURES .. f end
  for _, a in ipairs(extra or {}) do argv[#argv + 1] = a end
  srv = peer.start{ argv = argv }
end

local function control(path, doc)
  local res = assert(http.request{ method = doc and "POST" or "GET", url = srv.url .. path,
                                   body = doc and json.encode(doc) or nil })
  assert(res.status == 200, res.body)
  return json.decode(res.body)
end

local function env(extra)
  local e = { AWS_REGION = "us-east-1", AWS_ENDPOINT_URL_CLOUDTRAIL = srv and srv.url, AWS_ENDPOINT_URL = false,
              AWS_ACCESS_KEY_ID = AKID, AWS_SECRET_ACCESS_KEY = SECRET, AWS_SESSION_TOKEN = false, AWS_PROFILE = false,
              AWS_CONFIG_FILE = "/dev/null", AWS_SHARED_CREDENTIALS_FILE = "/dev/null", AWS_EC2_METADATA_DISABLED = "true",
              AWS_ROLE_ARN = ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE = false, GITHUB_REPOSITORY = "acme/stock-pipeline",
              GITHUB_ACTIONS = false, GITHUB_STEP_SUMMARY = false, RELRUN_LOG = false }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

-- audit(args, env) -> code, stdout, stderr
local function audit(args, extra_env)
  local argv = { RELRUN, fs.join(SOURCE, "scripts/audit.lua"), "--project", project }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  local r = assert(proc.run{ argv = argv, env = env(extra_env) })
  return r.code, r.stdout, r.stderr
end

local function audit_json(args, extra_env)
  local a = { "--json" }
  for _, x in ipairs(args or {}) do a[#a + 1] = x end
  local code, out, err = audit(a, extra_env)
  local doc = json.decode(out)
  assert(type(doc) == "table", "no JSON: " .. out .. err)
  return code, doc, err
end

local function kinds(doc)
  local out = {}
  for _, f in ipairs(doc.findings) do out[#out + 1] = f.kind .. " " .. f.event_id:sub(-2) end
  return out
end

-- One clear line on stderr (the host's "relrun: message; hint").
local function one_line(err)
  local lines = {}
  for l in err:gmatch("[^\n]+") do lines[#lines + 1] = l end
  eq(#lines, 1, err)
  return lines[1]
end

describe("audit.lua", function()
  it("passes a clean release window: exit 0, counts what it read", function()
    start({ "release.json" })
    local code, out, err = audit()
    eq(code, 0, out .. err)
    contains(out, "4 CodeArtifact events, 1 assumption of " .. ROLE_ARN)
    contains(out, "No findings.")
    -- two lookups, one per attribute: CodeArtifact's calls and the role assumptions
    local stats = control("/__stats")
    eq(stats.attributes, { { "EventSource", "codeartifact.amazonaws.com" }, { "EventName", "AssumeRoleWithWebIdentity" } })
  end)

  it("flags each kind of finding once, with who, where from and the event id (exit 3)", function()
    start({ "release.json", "findings.json" })
    local code, doc = audit_json()
    eq(code, 3)
    eq(kinds(doc), { "deletion 01", "disposal 02", "foreign-publish 03", "long-term-key 01", "long-term-key 06",
                     "untrusted-sub 04", "outside-actions 05" })
    local by = {}
    for _, f in ipairs(doc.findings) do by[f.kind] = by[f.kind] or f end
    eq(by.deletion.principal, "IAM user alice")
    eq(by.deletion.source_ip, "198.51.100.7")
    contains(by.deletion.detail, "version 1.1.0 of stock-pipeline")
    contains(by["foreign-publish"].principal, "AWSReservedSSO_Developer")
    contains(by["foreign-publish"].user_agent, "twine/")
    contains(by["long-term-key"].detail, "AKIAQALI…")
    contains(by["untrusted-sub"].detail, "sub repo:acme/stock-pipeline:ref:refs/heads/main is outside " ..
      "repo:acme/stock-pipeline:ref:refs/tags/v*")
    contains(by["outside-actions"].detail, "not assumed through GitHub's OIDC provider")
    eq(by["long-term-key"].principal, "IAM user alice")
    eq(doc.findings[5].principal, "the root account")
    eq(doc.events, { codeartifact = 9, assumptions = 2 })
    eq(doc.role_arn, ROLE_ARN)
    eq(doc.trusted_subs, { "repo:acme/stock-pipeline:ref:refs/tags/v*" })
  end)

  it("trusts what the release workflow presents, as setup.lua does (an environment job)", function()
    start({ "release.json" })
    assert(fs.mkdir(fs.join(project, ".github")))
    assert(fs.mkdir(fs.join(project, ".github/workflows")))
    assert(fs.write(fs.join(project, ".github/workflows/release.yml"), require("setup_world").workflow(true)))
    local code, doc = audit_json()
    assert(fs.remove(fs.join(project, ".github"), { recursive = true }))
    eq(code, 3)
    eq(doc.trusted_subs, { "repo:acme/stock-pipeline:environment:production" })
    eq(kinds(doc), { "untrusted-sub 01" })
    -- and an explicit trust, as setup.lua takes it
    code, doc = audit_json({ "--tag-pattern", "v1.*" })
    eq(code, 0, json.encode(doc))
  end)

  it("finds a burst of GetAuthorizationToken above the threshold only", function()
    start({})
    local records = {}
    local base = json.decode(assert(fs.read(FIXTURES .. "release.json")))[2]   -- a GetAuthorizationToken
    for i = 1, 6 do
      local r = {}
      for k, v in pairs(base) do r[k] = v end
      r.eventID, r.eventTime = string.format("b0000000-0000-4000-8000-0000000000%02d", i), tostring(-600 - i * 60)
      records[i] = r
    end
    control("/__events", records)
    local code, doc = audit_json({ "--burst", "5/1h" })
    eq(code, 3)
    eq(#doc.findings, 1, json.encode(doc))
    eq(doc.findings[1].kind, "token-burst")
    contains(doc.findings[1].detail, "6 GetAuthorizationToken calls within 1h")
    eq(doc.burst, { count = 5, seconds = 3600 })
    code, doc = audit_json({ "--burst", "6/1h" })
    eq(code, 0, json.encode(doc))
    code = audit_json({ "--burst", "5/5m" })   -- one a minute: never six within five minutes
    eq(code, 0)
  end)

  it("reads every page (more than 50 events) and an empty window", function()
    start({})
    local records = {}
    local base = json.decode(assert(fs.read(FIXTURES .. "release.json")))[3]   -- a GetRepositoryEndpoint
    for i = 1, 120 do
      local r = {}
      for k, v in pairs(base) do r[k] = v end
      r.eventID, r.eventTime = string.format("c0000000-0000-4000-8000-%012d", i), tostring(-86400 - i)
      records[i] = r
    end
    control("/__events", records)
    local code, doc = audit_json()
    eq(code, 0, json.encode(doc))
    eq(doc.events.codeartifact, 120)
    eq(control("/__stats").requests, 4)   -- 3 pages of 50, then the assumptions' one
    code, doc = audit_json({ "--since", "12h" })
    eq(code, 0)
    eq(doc.events, { codeartifact = 0, assumptions = 0 })
    eq(#doc.findings, 0)
    local out = select(2, audit({ "--since", "12h" }))
    contains(out, "0 CodeArtifact events, 0 assumptions")
  end)

  it("takes --since as a duration, a date or a time; refuses the rest (exit 2, one line)", function()
    start({ "release.json", "findings.json" })
    local yesterday = os.date("!%Y-%m-%d", os.time() - 86400)
    local code, doc = audit_json({ "--since", yesterday })
    eq(code, 3)
    eq(doc.start_time, yesterday .. "T00:00:00Z")
    -- between records 03 (-3400) and 04 (-3300)
    doc = select(2, audit_json({ "--since", os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - 3350) }))
    eq(kinds(doc), { "long-term-key 06", "untrusted-sub 04", "outside-actions 05" })
    for _, bad in ipairs({ { "--since", "yesterday" }, { "--since", "91d" }, { "--since", "2999-01-01" },
                           { "--since", "30" }, { "--burst", "lots" }, { "--burst", "0/1h" }, { "--frobnicate" } }) do
      local c, out, err = audit(bad)
      eq(c, 2, table.concat(bad, " ") .. ": " .. out .. err)
      contains(one_line(err), bad[1])
    end
    local c, _, err = audit({}, { AWS_ROLE_ARN = false })
    eq(c, 2)
    contains(one_line(err), "AWS_ROLE_ARN")
  end)

  it("says in one line when CloudTrail refuses, answers garbage or cannot be reached (exit 1)", function()
    start({ "release.json" })
    control("/__fault", { kind = "denied" })
    local code, out, err = audit()
    eq(code, 1, out .. err)
    local line = one_line(err)
    contains(line, "AccessDeniedException")
    contains(line, "cloudtrail:LookupEvents")
    eq(out, "")
    control("/__fault", { kind = "garbage", times = 5 })
    code, out, err = audit()
    eq(code, 1, out .. err)
    contains(one_line(err), "not JSON")
    code, out, err = audit({}, { AWS_SECRET_ACCESS_KEY = "wrong" })
    eq(code, 1)
    contains(one_line(err), "InvalidSignatureException")
    eq(out, "")
    local url = srv.url
    srv:stop()
    srv = nil
    code, out, err = audit({}, { AWS_ENDPOINT_URL_CLOUDTRAIL = url })
    eq(code, 1, out)
    contains(one_line(err), "could not reach " .. url)
  end)

  it("annotates each finding under GitHub Actions", function()
    start({ "release.json", "findings.json" })
    local code, out = audit({ "--since", "1h" }, { GITHUB_ACTIONS = "true" })
    eq(code, 3)
    local n = 0
    for line in out:gmatch("[^\n]+") do
      if line:find("^::warning ") then
        n = n + 1
        contains(line, "title=relrun audit%3A ")
      end
    end
    eq(n, select(2, out:gsub("\n  ! ", "")))
    ok(n >= 4, out)
    -- a finding's text cannot open a workflow command of its own
    control("/__events", { { eventVersion = "1.09", eventTime = "-60", eventSource = "codeartifact.amazonaws.com",
      eventName = "DeletePackage", userIdentity = { type = "IAMUser", userName = "x\n::stop-commands::t",
      accessKeyId = "AKIAQEVILEXAMPLE0001" }, requestParameters = { package = "p" }, eventID = "d1" } })
    code, out = audit({ "--since", "5m" }, { GITHUB_ACTIONS = "true" })
    eq(code, 3)
    ok(not out:find("\n::stop%-commands::"), out)
    contains(out, "IAM user x\\x0a::stop-commands::t")
  end)
end)
