-- relrun.aws.codeartifact and the request loop against the CodeArtifact fake
-- (itself checked against aws cli, twine and pip in codeartifact_fake_spec):
-- signatures verified by botocore, the model's errors, paging, faults and
-- retries, clock skew, and no secret in any output.
local peer = require "peer"
local R = require "aws_run"
local core = require "relrun.aws.core"
local retry = require "relrun.aws.retry"
local http = require "relrun.http"
local json = require "relrun.json"
local codeartifact = require "relrun.aws.codeartifact"

local AKID, SECRET = "AKIDRELRUNFAKE01", "relrun/fake+secret/0123456789"
local ACCOUNT = "111122223333"
local srv, dir

local _ <close> = setmetatable({}, { __close = function()
  if srv then srv:stop() end
  R.rmdir(dir)
end })

local function env(extra)
  local e = { AWS_ACCESS_KEY_ID = AKID, AWS_SECRET_ACCESS_KEY = SECRET, AWS_REGION = "us-east-1",
              AWS_CONFIG_FILE = "/dev/null", AWS_SHARED_CREDENTIALS_FILE = "/dev/null", HOME = dir,
              AWS_EC2_METADATA_DISABLED = "true" }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

-- A client whose retries wait 0 s, so faults cost no time (the waits are
-- checked in tests/lua/aws_retry_spec.lua).
local function client(extra, opts)
  opts = opts or {}
  local o = { env = env(extra), endpoint = srv.url, policy = retry.new{ random = function() return 0 end } }
  for k, v in pairs(opts) do o[k] = v end
  return assert(codeartifact.client(o))
end

local function control(method, path, doc)
  local res = assert(http.request{ method = method, url = srv.url .. path, body = doc and json.encode(doc) })
  eq(res.status, 200, path)
  return json.decode(res.body)
end

local function count(op)
  return control("GET", "/__stats").requests[op] or 0
end

local function fault(f) control("POST", "/__fault", f) end

local function upload(ca, name, version, content)
  local tok = assert(ca:get_authorization_token{ domain = "rel" })
  local url = assert(ca:get_repository_endpoint{ domain = "rel", repository = "py", format = "pypi" })
  local file = dir .. "/" .. name:gsub("-", "_") .. "-" .. version .. "-py3-none-any.whl"
  R.write(file, content or (name .. version))
  local res = assert(http.request{ method = "POST", url = url,
    headers = { authorization = "Basic " .. require("relrun.hash").base64_encode("aws:" .. tok.authorizationToken) },
    body = { multipart = { { name = ":action", value = "file_upload" }, { name = "protocol_version", value = "1" },
                           { name = "name", value = name }, { name = "version", value = version },
                           { name = "content", file = file } } } })
  eq(res.status, 200, res.body)
end

describe("codeartifact", function()
  dir = R.tempdir()
  srv = peer.start{ argv = { "python3", "tests/fakes/codeartifact.py", "--port-file", peer.PORT_FILE,
                             "--credentials", AKID .. ":" .. SECRET, "--account", ACCOUNT,
                             "--credentials", "ASIAEXPIRED0001:expired-secret:expired-session-token",
                             "--expired", "expired-session-token" } }
  before_each(function() control("DELETE", "/__fault") end)

  it("creates and describes a domain and repository", function()
    local ca = client()
    local d = assert(ca:create_domain{ domain = "rel" })
    eq(d.name, "rel")
    eq(d.owner, ACCOUNT)
    local r = assert(ca:create_repository{ domain = "rel", domain_owner = ACCOUNT, repository = "py",
                                           description = "releases" })
    eq(r.domainName, "rel")
    eq(assert(ca:describe_repository{ domain = "rel", repository = "py" }).description, "releases")
    eq(assert(ca:describe_domain{ domain = "rel", domain_owner = ACCOUNT }).repositoryCount, 1)
  end)

  it("returns the model's errors as code, message, status and request id", function()
    local ca = client()
    local d, msg, code, err = ca:describe_domain{ domain = "missing" }
    eq(d, nil)
    eq(code, "ResourceNotFoundException")
    eq(err.status, 404)
    ok(err.request_id and #err.request_id > 0, "request id")
    contains(msg, "codeartifact DescribeDomain failed: ResourceNotFoundException: domain missing not found")
    local _, _, code2 = ca:create_domain{ domain = "rel" }
    eq(code2, "ConflictException")
    local _, msg3, code3 = ca:get_authorization_token{ domain = "rel", duration = 60 }
    eq(code3, "ValidationException")
    contains(msg3, "900")
  end)

  it("gets a token and the repository endpoint", function()
    local ca = client()
    local tok = assert(ca:get_authorization_token{ domain = "rel", domain_owner = ACCOUNT, duration = 900 })
    ok(#tok.authorizationToken > 40, "token")
    ok(tok.expiration > os.time() + 800, "expiration as epoch seconds")
    eq(assert(ca:get_repository_endpoint{ domain = "rel", repository = "py", format = "pypi" }),
      srv.url .. "/d/rel-" .. ACCOUNT .. "/pypi/py/")
  end)

  it("lists every page of versions, describes one and its assets", function()
    local ca = client()
    for _, v in ipairs{ "1.0.0", "1.1.0", "1.2.0" } do upload(ca, "stock-pipeline", v) end
    local before = count("ListPackageVersions")
    local all, default = assert(ca:list_package_versions{ domain = "rel", repository = "py", format = "pypi",
                                                          package = "stock-pipeline", max_results = 1 })
    local seen = {}
    for _, v in ipairs(all) do seen[#seen + 1] = v.version end
    table.sort(seen)
    eq(seen, { "1.0.0", "1.1.0", "1.2.0" })
    eq(count("ListPackageVersions") - before, 3, "one request per page")
    ok(default, "defaultDisplayVersion")
    local pv = assert(ca:describe_package_version{ domain = "rel", repository = "py", format = "pypi",
                                                   package = "stock-pipeline", version = "1.1.0" })
    eq(pv.status, "Published")
    local assets = assert(ca:list_package_version_assets{ domain = "rel", repository = "py", format = "pypi",
                                                          package = "stock-pipeline", version = "1.1.0" })
    eq(assets[1].name, "stock_pipeline-1.1.0-py3-none-any.whl")
    eq(assets[1].hashes["SHA-256"], require("relrun.hash").sha256("stock-pipeline1.1.0"))
  end)

  it("updates status and deletes versions, reporting failedVersions", function()
    local ca = client()
    local base = { domain = "rel", repository = "py", format = "pypi", package = "stock-pipeline" }
    local function args(t) for k, v in pairs(base) do t[k] = v end return t end
    local up = assert(ca:update_package_versions_status(args{ versions = { "1.0.0", "9.9.9" },
                                                              target_status = "Archived" }))
    eq(up.successfulVersions["1.0.0"].status, "Archived")
    eq(up.failedVersions["9.9.9"].errorCode, "NOT_FOUND")
    local del = assert(ca:delete_package_versions(args{ versions = { "1.0.0", "1.2.0" },
                                                        expected_status = "Archived" }))
    eq(del.successfulVersions["1.0.0"].status, "Deleted")
    eq(del.failedVersions["1.2.0"].errorCode, "MISMATCHED_STATUS")
  end)

  it("retries 500 and 503 and then succeeds", function()
    local ca = client()
    local before = count("DescribeDomain")
    fault{ target = "DescribeDomain", kind = "status", status = 500, times = 1 }
    fault{ target = "DescribeDomain", kind = "status", status = 503, times = 1 }
    assert(ca:describe_domain{ domain = "rel" })
    eq(count("DescribeDomain") - before, 3)
  end)

  it("gives up after 3 attempts with a clear message", function()
    local ca = client()
    local before = count("DescribeDomain")
    fault{ target = "DescribeDomain", kind = "status", status = 503, times = 5 }
    local d, msg, code = ca:describe_domain{ domain = "rel" }
    eq(d, nil)
    eq(count("DescribeDomain") - before, 3)
    eq(code, "ServiceUnavailableException")
    contains(msg, "gave up after 3 attempts")
  end)

  it("waits out throttling with Retry-After", function()
    local ca = client()
    local before = count("GetAuthorizationToken")
    fault{ target = "GetAuthorizationToken", kind = "throttle", retry_after = 1, times = 1 }
    assert(ca:get_authorization_token{ domain = "rel" })
    eq(count("GetAuthorizationToken") - before, 2)
  end)

  it("retries a reset connection, a truncated answer and a slow one", function()
    local ca = client(nil, { timeout = 1 })
    for _, f in ipairs{ { kind = "reset" }, { kind = "truncated" }, { kind = "slow", delay = 3 } } do
      local before = count("DescribeRepository")
      f.target, f.times = "DescribeRepository", 1
      fault(f)
      local r, msg = ca:describe_repository{ domain = "rel", repository = "py" }
      ok(r, f.kind .. ": " .. tostring(msg))
      eq(count("DescribeRepository") - before, 2, f.kind)
    end
  end)

  it("treats a non-JSON answer as a failure and says what came back", function()
    local ca = client()
    fault{ target = "DescribeDomain", kind = "garbage", times = 3 }
    local d, msg, code = ca:describe_domain{ domain = "rel" }
    eq(d, nil)
    eq(code, "MalformedResponse")
    contains(msg, "not JSON")
    contains(msg, "<html>")
  end)

  it("corrects a skewed clock from the Date header and re-signs once", function()
    local ca = client()
    control("POST", "/__clock", { offset = 3 * 3600 })
    local d, msg = ca:describe_domain{ domain = "rel" }
    control("POST", "/__clock", { offset = 0 })
    local learnt = core.clock_offset
    core.clock_offset = 0
    ok(d, msg)
    ok(math.abs(learnt - 3 * 3600) < 60, "offset learnt from Date: " .. learnt)
  end)

  it("says plainly when the secret key is wrong", function()
    local ca = client{ AWS_SECRET_ACCESS_KEY = "not-the-secret" }
    local d, msg, code = ca:describe_domain{ domain = "rel" }
    eq(d, nil)
    eq(code, "InvalidSignatureException")
    contains(msg, "check the secret access key")
  end)

  it("says an expired session token has expired and what to do", function()
    local ca = client{ AWS_ACCESS_KEY_ID = "ASIAEXPIRED0001", AWS_SECRET_ACCESS_KEY = "expired-secret",
                       AWS_SESSION_TOKEN = "expired-session-token" }
    local d, msg, code = ca:describe_domain{ domain = "rel" }
    eq(d, nil)
    eq(code, "ExpiredTokenException")
    contains(msg, "get fresh credentials")
  end)

  it("needs a region and names where to set it", function()
    local c, msg, code = codeartifact.client{ env = env{ AWS_REGION = false } }
    eq(c, nil)
    eq(code, "NO_REGION")
    contains(msg, "AWS_REGION")
  end)

  it("refuses an endpoint that is not a URL, naming the variable", function()
    local c, msg, code = codeartifact.client{ env = env{ AWS_ENDPOINT_URL_CODEARTIFACT = "localhost:9999" } }
    eq(c, nil)
    eq(code, "BAD_ENDPOINT")
    contains(msg, "AWS_ENDPOINT_URL_CODEARTIFACT is not a URL")
  end)

  it("tells GitHub Actions to mask every key and token before anything prints them", function()
    local script = dir .. "/actions.lua"
    R.write(script, [[
local tok = assert(assert(require("relrun.aws.codeartifact").client()):get_authorization_token{ domain = "rel" })
print("token", tok.authorizationToken)
]])
    local before = control("GET", "/__tokens").tokens
    local code, out = R.run({ os.getenv("RELRUN") or "build/relrun", script },
      env{ AWS_ENDPOINT_URL = srv.url, GITHUB_ACTIONS = "true" })
    eq(code, 0, out)
    local known = {}
    for _, t in ipairs(before) do known[t] = true end
    local token
    for _, t in ipairs(control("GET", "/__tokens").tokens) do if not known[t] then token = t end end
    ok(token, "the script got a token")
    local masked = {}
    for line in out:gmatch("[^\n]+") do
      local v = line:match("^::add%-mask::(.*)$")
      if v then masked[v] = true else ok(not line:find(token, 1, true), "token printed outside ::add-mask::") end
    end
    ok(masked[token], "::add-mask:: for the authorization token")
    ok(masked[SECRET], "::add-mask:: for the secret key")
    ok(out:find("::add-mask::" .. token, 1, true) < out:find("token\t", 1, true), "masked before printed")
  end)

  it("never prints a key or token, even with HTTP tracing", function()
    local script = dir .. "/print.lua"
    R.write(script, [[
local ca = assert(require("relrun.aws.codeartifact").client())
local tok = assert(ca:get_authorization_token{ domain = "rel" })
print("token", tok.authorizationToken)
print("secret", os.getenv("AWS_SECRET_ACCESS_KEY"))
local _, msg = require("relrun.aws.codeartifact").client():describe_domain{ domain = "missing" }
io.stderr:write(msg, "\n")
error("failing on purpose with " .. tok.authorizationToken)
]])
    local code, out = R.run({ os.getenv("RELRUN") or "build/relrun", script },
      env{ AWS_ENDPOINT_URL = srv.url, RELRUN_HTTP_TRACE = "1", AWS_SESSION_TOKEN = false })
    ok(code ~= 0, "the script fails on purpose")
    contains(out, "http > POST", "tracing was on")
    contains(out, "ResourceNotFoundException")
    local tokens = control("GET", "/__tokens").tokens
    ok(#tokens > 0, "a token was issued")
    for _, s in ipairs(tokens) do ok(not out:find(s, 1, true), "token leaked") end
    ok(not out:find(SECRET, 1, true), "secret key leaked")
    ok(not out:find(AKID, 1, true), "access key id leaked")
  end)
end)
