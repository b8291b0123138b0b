-- label: slow (about 30 s of aws cli and python start-ups)
-- The CloudTrail fake checked against real clients: the image's aws cli v1,
-- Debian's awscli v2 and botocore's own paginator, each reading the same
-- lookups relrun.aws.cloudtrail reads, with signatures checked. If the fake
-- drifts from what these clients expect, these specs fail, so the audit's
-- specs against the fake mean something.
local peer = require "peer"
local R = require "aws_run"
local json = require "relrun.json"
local core = require "relrun.aws.core"
local cloudtrail = require "relrun.aws.cloudtrail"

local AKID, SECRET = "AKIDCTCHECK0001", "ct/check+secret"
local FIXTURES = { "tests/fixtures/cloudtrail/release.json", "tests/fixtures/cloudtrail/findings.json" }
local srv = peer.start{ argv = { "python3", "tests/fakes/cloudtrail.py", "--port-file", peer.PORT_FILE,
  "--credentials", AKID .. ":" .. SECRET, "--events", FIXTURES[1], "--events", FIXTURES[2] } }
local _ <close> = setmetatable({}, { __close = function() srv:stop() end })

local ENV = { AWS_ACCESS_KEY_ID = AKID, AWS_SECRET_ACCESS_KEY = SECRET, AWS_DEFAULT_REGION = "us-east-1",
              AWS_REGION = false, AWS_PROFILE = false, AWS_SESSION_TOKEN = false, AWS_CONFIG_FILE = "/dev/null",
              AWS_SHARED_CREDENTIALS_FILE = "/dev/null", AWS_PAGER = "", AWS_ENDPOINT_URL = false,
              AWS_ENDPOINT_URL_CLOUDTRAIL = false }

local relrun = assert(cloudtrail.client{ region = "us-east-1", endpoint = srv.url,
  credentials = require("relrun.aws.credentials").static(AKID, SECRET) })

-- What relrun reads: { {id, name, username, time, identity type} } newest first.
local function relrun_events(attribute, start_time, end_time)
  local events = assert(relrun:lookup_events{ attribute = attribute, start_time = start_time, end_time = end_time })
  local out = {}
  for i, e in ipairs(events) do out[i] = { e.id, e.name, e.username, e.time, e.record.userIdentity.type } end
  return out
end

-- aws cloudtrail lookup-events through `cli` ("aws": v1, "/usr/bin/aws": v2), --page-size 2
-- so the CLI follows NextToken itself -> the same rows | nil, output.
local function cli_events(cli, attribute, extra)
  local argv = { cli, "cloudtrail", "lookup-events", "--endpoint-url", srv.url, "--output", "json", "--page-size", "2" }
  if attribute then
    argv[#argv + 1] = "--lookup-attributes"
    argv[#argv + 1] = "AttributeKey=" .. attribute[1] .. ",AttributeValue=" .. attribute[2]
  end
  for _, a in ipairs(extra or {}) do argv[#argv + 1] = a end
  local code, out = R.run(argv, ENV)
  if code ~= 0 then return nil, out end
  local doc = assert(json.decode(out), out)
  local rows = {}
  for i, e in ipairs(doc.Events) do
    local record = json.decode(e.CloudTrailEvent)
    -- v1 prints EventTime as epoch seconds, v2 as ISO 8601
    rows[i] = { e.EventId, e.EventName, e.Username, core.parse_iso8601(e.EventTime), record.userIdentity.type }
  end
  return rows
end

local function botocore_events(attribute, window)
  local argv = { "python3", "tests/support/cloudtrail_botocore.py", srv.url, "2" }
  if attribute then argv[#argv + 1] = attribute[1]; argv[#argv + 1] = attribute[2] end
  if window then argv[#argv + 1] = tostring(window[1]); argv[#argv + 1] = tostring(window[2]) end
  local code, out = R.run(argv, ENV)
  if code ~= 0 then return nil, out end
  return assert(json.decode(out), out)
end

-- the audit's two lookups, and none (every event)
local LOOKUPS = { { "EventSource", "codeartifact.amazonaws.com" }, { "EventName", "AssumeRoleWithWebIdentity" }, false }

describe("the CloudTrail fake and the real clients", function()
  it("answers aws cli v1, v2 and botocore with what relrun reads, page after page", function()
    for _, attribute in ipairs(LOOKUPS) do
      local want = relrun_events(attribute or nil)
      ok(#want > 0, "no events for " .. tostring(attribute and attribute[2]))
      eq(cli_events("aws", attribute or nil), want, "v1 " .. tostring(attribute and attribute[2]))
      eq(cli_events("/usr/bin/aws", attribute or nil), want, "v2 " .. tostring(attribute and attribute[2]))
      eq(botocore_events(attribute or nil), want, "botocore " .. tostring(attribute and attribute[2]))
    end
  end)

  it("has CloudTrail's identities: assumed-role, IAM user, root, web identity", function()
    local types = {}
    for _, e in ipairs(relrun_events(nil)) do types[e[5]] = (types[e[5]] or 0) + 1 end
    eq(types, { AssumedRole = 7, IAMUser = 1, Root = 1, WebIdentityUser = 2 })
    local alice = relrun_events({ "Username", "alice" })
    eq(#alice, 1)
    eq(alice[1][2], "DeletePackageVersions")
    eq(#relrun_events({ "Username", "root" }), 1)
  end)

  it("honours StartTime and EndTime the same way for all three", function()
    local all = relrun_events(nil)
    local t0, t1 = all[#all - 1][4], all[2][4]   -- leave out the oldest and the newest
    local want = relrun_events(nil, t0, t1)
    eq(#want, #all - 2)
    local iso0, iso1 = os.date("!%Y-%m-%dT%H:%M:%SZ", t0), os.date("!%Y-%m-%dT%H:%M:%SZ", t1)
    eq(cli_events("aws", nil, { "--start-time", iso0, "--end-time", iso1 }), want)
    eq(cli_events("/usr/bin/aws", nil, { "--start-time", iso0, "--end-time", iso1 }), want)
    eq(botocore_events({ "EventSource", "codeartifact.amazonaws.com" }, { t0, t1 }),
      relrun_events({ "EventSource", "codeartifact.amazonaws.com" }, t0, t1))
  end)

  it("refuses as CloudTrail does, in the model's error types", function()
    local now = os.time()
    local rows, out = cli_events("/usr/bin/aws", nil, { "--start-time", "2026-12-01", "--end-time", "2026-11-01" })
    eq(rows, nil)
    contains(out, "InvalidTimeRangeException")
    rows, out = cli_events("aws", nil, { "--lookup-attributes", "AttributeKey=EventName,AttributeValue=A",
      "AttributeKey=Username,AttributeValue=B" })
    eq(rows, nil)
    contains(out, "InvalidLookupAttributesException")
    rows, out = botocore_events({ "EventSource", "codeartifact.amazonaws.com" }, { now, now - 60 })
    eq(rows, nil)
    contains(out, "error InvalidTimeRangeException")
    local _, err = relrun:lookup_events{ max_results = 51 }
    eq(err.code, "InvalidMaxResultsException")
    _, err = relrun:call("LookupEvents", { NextToken = "bm90IGEgdG9rZW4=" })
    eq(err.code, "InvalidNextTokenException")
    -- a NextToken is bound to the request it came from
    local page = assert(relrun:call("LookupEvents", { MaxResults = 1 }))
    ok(page.NextToken, json.encode(page))
    _, err = relrun:call("LookupEvents", { MaxResults = 2, NextToken = page.NextToken })
    eq(err.code, "InvalidNextTokenException")
    local code, vout = R.run({ "aws", "cloudtrail", "lookup-events", "--endpoint-url", srv.url },
      (function() local e = {} for k, v in pairs(ENV) do e[k] = v end e.AWS_SECRET_ACCESS_KEY = "wrong" return e end)())
    ok(code ~= 0, vout)
    contains(vout, "InvalidSignatureException")
  end)
end)
