-- relrun.aws.core: the request loop (signing, errors, retries, clock skew),
-- driven by a scripted transport; the fake and moto specs cover the wire.
local core = require "relrun.aws.core"
local retry = require "relrun.aws.retry"

local CREDS = { access_key = "AKIDCORESPEC", secret_key = "core/spec/secret", session_token = "core-spec-token" }
local provider = { get = function() return CREDS end }

-- A transport answering from a list; records each request it saw.
local function script(answers)
  local seen = {}
  local function transport(req)
    seen[#seen + 1] = req
    local a = answers[#seen]
    assert(a, "unexpected request #" .. #seen)
    if a.fail then return nil, "scripted failure", a.fail end
    a.headers = a.headers or {}
    return a
  end
  return transport, seen
end

local function client(answers, extra)
  local transport, seen = script(answers)
  local sleeps = {}
  local opts = { service = "codeartifact", protocol = "rest-json", region = "us-east-1",
                 endpoint = "http://127.0.0.1:9", credentials = provider, transport = transport,
                 sleep = function(s) sleeps[#sleeps + 1] = s end,
                 policy = retry.new{ random = function() return 1 end } }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return assert(core.client(opts)), seen, sleeps
end

describe("request", function()
  it("signs with the current credentials and builds the URL", function()
    local c, seen = client{ { status = 200, body = "{}" } }
    local res = assert(c:request{ method = "POST", path = "/v1/authorization-token",
                                  query = { domain = "my domain", ["domain-owner"] = "111122223333" } })
    eq(res.status, 200)
    eq(seen[1].url, "http://127.0.0.1:9/v1/authorization-token?domain=my%20domain&domain-owner=111122223333")
    contains(seen[1].headers.authorization, "Credential=AKIDCORESPEC/")
    contains(seen[1].headers.authorization, "/us-east-1/codeartifact/aws4_request")
    eq(seen[1].headers["x-amz-security-token"], CREDS.session_token)
  end)

  it("retries 503 with backoff and succeeds", function()
    local c, seen, sleeps = client{ { status = 503 }, { status = 500 }, { status = 200 } }
    assert(c:request{ path = "/v1/domain" })
    eq(#seen, 3)
    eq(sleeps, { 1, 2 })
  end)

  it("gives up after 3 attempts with the parsed error", function()
    local busy = { status = 503, headers = { ["x-amzn-errortype"] = "ServiceUnavailableException:http://x",
                                             ["x-amzn-requestid"] = "rid-1" } }
    local c, seen = client{ busy, busy, busy }
    local res, msg, code, err = c:request{ path = "/v1/domain", operation = "DescribeDomain" }
    eq(res, nil)
    eq(#seen, 3)
    eq(code, "ServiceUnavailableException")
    eq(err.status, 503)
    eq(err.request_id, "rid-1")
    contains(msg, "codeartifact DescribeDomain failed: ServiceUnavailableException")
    contains(msg, "gave up after 3 attempts")
  end)

  -- Each attempt may take up to its timeout: the retries stop by time too.
  it("stops retrying a failing call after max_elapsed seconds, however many attempts are left", function()
    local now, attempts = 0, 0
    local c = client({}, { policy = retry.new{ random = function() return 1 end, max_attempts = 50,
                                               max_elapsed = 120, clock = function() return now end },
                           transport = function()
                             attempts, now = attempts + 1, now + 60   -- each attempt times out after a minute
                             return nil, "timed out", "CURLE_OPERATION_TIMEDOUT"
                           end })
    local res, msg = c:request{ path = "/v1/domain", operation = "DescribeDomain" }
    eq(res, nil)
    eq(attempts, 2)
    contains(msg, "gave up after 2 attempts in 120 s (retries stop at 120 s)")
  end)

  it("does not retry a refusal", function()
    local c, seen = client{ { status = 403, headers = { ["x-amzn-errortype"] = "AccessDeniedException" } } }
    local res, _, code = c:request{ path = "/v1/domain" }
    eq(res, nil)
    eq(code, "AccessDeniedException")
    eq(#seen, 1)
  end)

  it("waits as long as a throttling answer asks", function()
    local c, _, sleeps = client({ { status = 429, headers = { ["retry-after"] = "7",
                                   ["x-amzn-errortype"] = "ThrottlingException" } }, { status = 200 } },
      { policy = retry.new{ random = function() return 0 end } })
    assert(c:request{ path = "/" })
    eq(sleeps, { 7 })
  end)

  it("retries a broken connection and names the endpoint when it gives up", function()
    local c, seen = client{ { fail = "CURLE_COULDNT_CONNECT" }, { fail = "CURLE_COULDNT_CONNECT" },
                            { fail = "CURLE_COULDNT_CONNECT" } }
    local res, msg, code = c:request{ path = "/" }
    eq(res, nil)
    eq(#seen, 3)
    eq(code, "CURLE_COULDNT_CONNECT")
    contains(msg, "http://127.0.0.1:9")
  end)

  it("corrects the clock from the Date header and re-signs once", function()
    local ahead = os.time() + 7200
    local date = os.date("!%a, %d %b %Y %H:%M:%S GMT", ahead)
    local skewed = { status = 403, headers = { date = date, ["x-amzn-errortype"] = "InvalidSignatureException" },
                     body = "" }
    local c, seen = client{ skewed, { status = 200 } }
    -- the message is in the JSON body, which needs relrun.json; use a code that needs none
    skewed.headers["x-amzn-errortype"] = "RequestTimeTooSkewed"
    core.clock_offset = 0
    assert(c:request{ path = "/" })
    eq(#seen, 2)
    local stamp = seen[2].headers["x-amz-date"]
    local y, mo, d, h, mi, sec = stamp:match("^(%d%d%d%d)(%d%d)(%d%d)T(%d%d)(%d%d)(%d%d)Z$")
    local signed_at = core.parse_iso8601(string.format("%s-%s-%sT%s:%s:%sZ", y, mo, d, h, mi, sec))
    ok(math.abs(signed_at - ahead) <= 2, "second request signed at the server's time")
    ok(math.abs(core.parse_iso8601(string.format("%s-%s-%sT%s:%s:%sZ",
      seen[1].headers["x-amz-date"]:match("^(%d%d%d%d)(%d%d)(%d%d)T(%d%d)(%d%d)(%d%d)Z$"))) - os.time()) <= 2,
      "first request signed at the local time")
    ok(math.abs(core.clock_offset - 7200) <= 2, "offset learnt")
    core.clock_offset = 0
  end)

  it("fails with the credentials' own message when there are none", function()
    local broken = { get = function() return nil, "AWS_WEB_IDENTITY_TOKEN_FILE /nope: No such file", "ENOENT" end }
    local c, seen = client({}, { credentials = broken })
    local res, msg, code = c:request{ path = "/" }
    eq(res, nil)
    eq(#seen, 0)
    eq(code, "ENOENT")
    contains(msg, "AWS_WEB_IDENTITY_TOKEN_FILE")
  end)
end)

describe("helpers", function()
  it("parses ISO 8601 and HTTP dates", function()
    eq(core.parse_iso8601("1970-01-01T00:00:00Z"), 0)
    eq(core.parse_iso8601("2026-11-24T07:00:00Z"), 1795503600)
    eq(core.parse_iso8601("2026-11-24T08:00:00.123+01:00"), 1795503600)
    eq(core.parse_iso8601("yesterday"), nil)
    eq(core.parse_http_date("Tue, 24 Nov 2026 07:00:00 GMT"), 1795503600)
  end)

  it("flattens query-protocol parameters", function()
    eq(core.flatten{ RoleArn = "r", Tags = { { Key = "k", Value = "v" } }, List = { "a", "b" } },
      { { "List.member.1", "a" }, { "List.member.2", "b" }, { "RoleArn", "r" },
        { "Tags.member.1.Key", "k" }, { "Tags.member.1.Value", "v" } })
    eq(core.query_string{ { "Action", "GetCallerIdentity" }, { "Version", "2011-06-15" } },
      "Action=GetCallerIdentity&Version=2011-06-15")
  end)
end)

describe("sts web identity refusal", function()
  it("names the role and the token's sub and aud", function()
    local sts = require "relrun.aws.sts"
    local b64 = require("relrun.hash").base64_encode
    local claims = b64('{"sub":"repo:acme/stock-pipeline:environment:release","aud":"sts.amazonaws.com"}')
      :gsub("=", ""):gsub("+", "-"):gsub("/", "_")
    local jwt = "eyJhbGciOiJSUzI1NiJ9." .. claims .. ".c2lnbmF0dXJl"
    eq(sts.jwt_claims(jwt).sub, "repo:acme/stock-pipeline:environment:release")
    local transport, seen = script{ { status = 403, body = "<ErrorResponse><Error><Type>Sender</Type>" ..
      "<Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message>" ..
      "</Error><RequestId>r-1</RequestId></ErrorResponse>" } }
    local c = assert(sts.client{ unsigned = true, region = "us-east-1", endpoint = "http://127.0.0.1:9",
                                 transport = transport })
    local creds, msg, code = c:assume_role_with_web_identity{ role_arn = "arn:aws:iam::1:role/release",
                                                             session_name = "s", token = jwt }
    eq(creds, nil)
    eq(code, "AccessDenied")
    eq(seen[1].headers.authorization, nil, "sent unsigned")
    contains(msg, "arn:aws:iam::1:role/release")
    contains(msg, 'sub "repo:acme/stock-pipeline:environment:release"')
    contains(msg, 'aud "sts.amazonaws.com"')
    ok(not msg:find(jwt, 1, true), "the token itself is not in the message")
  end)
end)

describe("parse_error", function()
  it("reads rest-json from the header or the body's __type", function()
    local e = core.parse_error({ status = 400, headers = { ["x-amzn-requestid"] = "r1" },
      body = '{"__type":"com.amazon.coral.validate#ValidationException","message":"bad domain"}' },
      "rest-json", "codeartifact", "DescribeDomain")
    eq({ e.code, e.aws_message, e.status, e.request_id }, { "ValidationException", "bad domain", 400, "r1" })
    e = core.parse_error({ status = 429, headers = { ["x-amzn-errortype"] = "ThrottlingException:http://x/" },
      body = '{"Message":"slow down"}' }, "rest-json", "codeartifact")
    eq({ e.code, e.aws_message }, { "ThrottlingException", "slow down" })
  end)

  it("reads query and REST-XML error documents", function()
    local e = core.parse_error({ status = 403, headers = {}, body = "<ErrorResponse><Error><Type>Sender</Type>" ..
      "<Code>ExpiredToken</Code><Message>The security token included in the request is expired</Message>" ..
      "</Error><RequestId>q-1</RequestId></ErrorResponse>" }, "query", "sts", "GetCallerIdentity")
    eq({ e.code, e.request_id }, { "ExpiredToken", "q-1" })
    contains(e.line, "get fresh credentials")
    e = core.parse_error({ status = 404, headers = { ["x-amz-request-id"] = "s-1" },
      body = "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>" },
      "rest-xml", "s3", "ListObjectsV2")
    eq({ e.code, e.aws_message, e.request_id }, { "NoSuchBucket", "The specified bucket does not exist", "s-1" })
  end)

  it("falls back to the status when there is no document", function()
    local e = core.parse_error({ status = 404, headers = {} }, "rest-xml", "s3", "HeadObject")
    eq(e.code, "NotFound")
    e = core.parse_error({ status = 502, headers = {}, body = "<html>bad gateway</html>" }, "rest-json", "codeartifact")
    eq(e.code, "HTTP502")
  end)
end)

describe("s3 redirects", function()
  it("names the bucket's region", function()
    local e = core.parse_error({ status = 301, headers = { ["x-amz-bucket-region"] = "eu-west-1" } },
      "rest-xml", "s3", "HeadBucket")
    eq(e.code, "PermanentRedirect")
    contains(e.line, "set AWS_REGION=eu-west-1")
  end)
end)
