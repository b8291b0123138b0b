-- relrun.sigv4: the API, S3's rules, secrets, misuse, and signatures checked
-- against botocore's SigV4Auth / S3SigV4Auth on realistic requests.
local sigv4 = require "relrun.sigv4"
local host = require "relrun.host"

local SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
local T = 1440938160 -- 2015-08-30T12:36:00Z

local function req(extra)
  local r = { method = "GET", url = "https://example.amazonaws.com/", service = "service",
              region = "us-east-1", access_key = "AKIDEXAMPLE", secret_key = SECRET, time = T }
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

local function lines(s)
  local out = {}
  for l in (s .. "\n"):gmatch("(.-)\n") do out[#out + 1] = l end
  return out
end

describe("sign", function()
  it("returns the headers to add", function()
    local add = sigv4.sign(req())
    eq(add["x-amz-date"], "20150830T123600Z")
    eq(add.authorization, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
      .. "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    eq(add["x-amz-security-token"], nil)
    eq(add["x-amz-content-sha256"], nil, "only S3 sends the payload hash by default")
  end)

  it("signs and returns a session token", function()
    local add = sigv4.sign(req{ session_token = "TOKEN123" })
    eq(add["x-amz-security-token"], "TOKEN123")
    contains(add.authorization, "SignedHeaders=host;x-amz-date;x-amz-security-token,")
  end)

  it("registers the secret key and session token as secrets", function()
    sigv4.sign(req{ secret_key = "sigv4-spec-secret-1", session_token = "sigv4-spec-token-1" })
    eq(host.mask("k=sigv4-spec-secret-1 t=sigv4-spec-token-1"), "k=*** t=***")
  end)

  it("adds the host header with a non-default port, not with the default one", function()
    contains(sigv4.canonical_request(req{ url = "http://127.0.0.1:5000/x" }), "\nhost:127.0.0.1:5000\n")
    contains(sigv4.canonical_request(req{ url = "https://Example.com:443/x" }), "\nhost:example.com\n")
    contains(sigv4.canonical_request(req{ url = "https://user:pw@example.com/x" }), "\nhost:example.com\n")
    contains(sigv4.canonical_request(req{ url = "http://[::1]:8080/x" }), "\nhost:[::1]:8080\n")
    contains(sigv4.canonical_request(req{ url = "https://[::1]:443/x" }), "\nhost:[::1]\n")
    contains(sigv4.canonical_request(req{ url = "https://h/x", headers = { Host = "other:1" } }), "\nhost:other:1\n",
      "a given Host header is signed as given")
  end)

  it("replaces a stale x-amz-date or authorization header instead of signing it", function()
    local c = sigv4.canonical_request(req{ headers = { ["X-Amz-Date"] = "20000101T000000Z", Authorization = "old" } })
    ok(not c:find("20000101"), "stale date signed")
    ok(not c:find("authorization"), "authorization signed")
  end)

  it("hashes the body or takes the given payload hash", function()
    local c = lines(sigv4.canonical_request(req{ body = "hello" }))
    eq(c[#c], "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
    c = lines(sigv4.canonical_request(req{ payload_hash = "UNSIGNED-PAYLOAD" }))
    eq(c[#c], "UNSIGNED-PAYLOAD")
  end)

  it("accepts repeated headers as a list of values or of {name, value} pairs", function()
    local a = sigv4.canonical_request(req{ headers = { ["My-Header"] = { "b", "a" } } })
    local b = sigv4.canonical_request(req{ headers = { { "My-Header", "b" }, { "my-header", " a " } } })
    contains(a, "\nmy-header:b,a\n")
    eq(a, b)
  end)
end)

describe("paths", function()
  it("normalises and double-encodes for services other than S3", function()
    eq(lines(sigv4.canonical_request(req{ url = "https://h/a//b/./c/../d%20e/" }))[2], "/a/b/d%2520e/")
  end)
  it("signs S3 paths as sent", function()
    local c = lines(sigv4.canonical_request(req{ service = "s3", url = "https://h/bucket//a/../k%20e%2By" }))
    eq(c[2], "/bucket//a/../k%20e%2By")
  end)
end)

describe("S3", function()
  it("always sends x-amz-content-sha256 and signs it", function()
    local add = sigv4.sign(req{ service = "s3", url = "https://b.s3.amazonaws.com/k", body = "" })
    eq(add["x-amz-content-sha256"], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    contains(add.authorization, "SignedHeaders=host;x-amz-content-sha256;x-amz-date,")
    add = sigv4.sign(req{ service = "s3", url = "https://b.s3.amazonaws.com/k", payload_hash = "UNSIGNED-PAYLOAD" })
    eq(add["x-amz-content-sha256"], "UNSIGNED-PAYLOAD")
  end)
end)

describe("presign", function()
  it("puts the signature in the query", function()
    local url = sigv4.presign(req{ service = "s3", url = "https://b.s3.amazonaws.com/k%20y?versionId=3", expires = 600,
                                   session_token = "T/K+N" })
    ok(url:find("^https://b%.s3%.amazonaws%.com/k%%20y%?"), url)
    contains(url, "X-Amz-Expires=600")
    contains(url, "X-Amz-Security-Token=T%2FK%2BN")
    contains(url, "versionId=3")
    ok(url:find("&X%-Amz%-Signature=%x+$"), url)
    local c = lines(sigv4.canonical_request(req{ service = "s3", url = "https://b.s3.amazonaws.com/k", expires = 600 }))
    eq(c[#c], "UNSIGNED-PAYLOAD", "an S3 presigned URL leaves the payload unsigned")
  end)
  it("refuses an expiry beyond seven days", function()
    raises(function() sigv4.presign(req{ expires = 604801 }) end, "expires")
  end)
end)

describe("misuse", function()
  it("raises on a missing option or a url without scheme", function()
    raises(function() sigv4.sign(req{ region = false }) end, "region")
    local r = req()
    r.secret_key = nil
    raises(function() sigv4.sign(r) end, "secret_key")
    raises(function() sigv4.sign(req{ url = "example.com/" }) end, "scheme")
    raises(function() sigv4.sign(req{ headers = { x = true } }) end, "header x")
    raises(function() sigv4.sign(req{ body = {} }) end, "body")
  end)
end)

-- botocore, signing the same requests at the same time, must agree.
local CASES = {
  { method = "POST", url = "https://codeartifact.us-east-1.amazonaws.com/v1/authorization-token"
      .. "?domain=d&domain-owner=111122223333&duration=900",
    service = "codeartifact", headers = { ["Content-Type"] = "application/json" }, body = "" },
  { method = "POST", url = "https://sts.us-east-1.amazonaws.com/", service = "sts", token = "FQoGZXIvYXdzE//token+/=",
    headers = { ["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8" },
    body = "Action=GetCallerIdentity&Version=2011-06-15" },
  { method = "GET", url = "https://iam.amazonaws.com/?Action=GetRole&RoleName=release%2Brole&Version=2010-05-08",
    service = "iam" },
  { method = "GET", url = "https://codeartifact.us-east-1.amazonaws.com/v1/package/versions"
      .. "?package=my%20pkg&format=pypi&namespace=",
    service = "codeartifact" },
  { method = "PUT", url = "https://bucket.s3.us-east-1.amazonaws.com/dist/a%20b/c%2Bd~.whl", service = "s3",
    body = "wheel bytes", headers = { ["Content-Type"] = "application/octet-stream" } },
  { method = "PUT", url = "https://bucket.s3.us-east-1.amazonaws.com/big?partNumber=2&uploadId=x%2Fy",
    service = "s3", unsigned = true },
  { method = "GET", url = "http://127.0.0.1:5000/v1/repository/endpoint?domain=d&format=pypi&repository=r",
    service = "codeartifact", token = "tok" },
}

-- botocore's Authorization and x-amz-content-sha256 for each case, or skip.
local function botocore(cases)
  local py = io.popen("python3 -c 'import botocore' 2>/dev/null && echo yes"):read("a")
  if not py:find("yes") then skip("python3 with botocore is not installed") end
  local input = {}
  for _, c in ipairs(cases) do
    for _, k in ipairs{ "method", "url", "service" } do input[#input + 1] = k .. "=" .. c[k] end
    input[#input + 1] = "region=us-east-1\naccess_key=AKIDEXAMPLE\nsecret_key=" .. SECRET .. "\ntime=" .. T
    if c.token then input[#input + 1] = "token=" .. c.token end
    if c.body then input[#input + 1] = "body=" .. c.body end
    if c.unsigned then input[#input + 1] = "unsigned=1" end
    for k, v in pairs(c.headers or {}) do input[#input + 1] = "header=" .. k .. ":" .. v end
    input[#input + 1] = "---"
  end
  local file = os.tmpname()
  local f = assert(io.open(file, "w"))
  f:write(table.concat(input, "\n"), "\n")
  f:close()
  local src = os.getenv("RELRUN_SOURCE_DIR") or "."
  local p = assert(io.popen("python3 " .. src .. "/tests/support/sigv4_botocore.py < " .. file))
  local out = p:read("a")
  p:close()
  os.remove(file)
  local got = lines(out)
  local answers = {}
  for i = 1, #cases do
    local authz, sha = (got[i] or ""):match("^(.-)\t(.*)$")
    ok(authz, "botocore gave no answer for case " .. i .. ": " .. out)
    answers[i] = { authz = authz, sha = sha }
  end
  return answers
end

local function ours(c)
  return sigv4.sign(req{ method = c.method, url = c.url, service = c.service, headers = c.headers,
    body = c.body, session_token = c.token, payload_hash = c.unsigned and "UNSIGNED-PAYLOAD" or nil })
end

describe("agrees with botocore", function()
  it("on realistic requests", function()
    local want = botocore(CASES)
    for i, c in ipairs(CASES) do
      local add = ours(c)
      eq(add.authorization, want[i].authz, "case " .. i .. " " .. c.url)
      eq(add["x-amz-content-sha256"] or "", want[i].sha, "case " .. i .. " payload hash")
    end
  end)

  -- botocore normalises a non-S3 path (utils.remove_dot_segments: ".",
  -- "..", empty segments; a trailing slash kept only when the path ends in
  -- "/") and leaves S3's alone: relrun signs exactly what botocore signs.
  it("on 400 random paths with dot and empty segments, S3 and not", function()
    math.randomseed(20261124)
    local pieces = { "a", "b%20c", ".", "..", "", "x~y", "%2E", "d.e", "..." }
    local services = { { "codeartifact", "https://codeartifact.us-east-1.amazonaws.com" },
                       { "sts", "https://sts.us-east-1.amazonaws.com" },
                       { "s3", "https://bucket.s3.us-east-1.amazonaws.com" } }
    local cases = {}
    for i = 1, 400 do
      local segs = {}
      for k = 1, math.random(1, 6) do segs[k] = pieces[math.random(#pieces)] end
      local svc = services[i % #services + 1]
      cases[i] = { method = "GET", service = svc[1], url = svc[2] .. "/" .. table.concat(segs, "/") ..
                   (math.random(2) == 1 and "/" or "") }
    end
    local want = botocore(cases)
    local differ = {}
    for i, c in ipairs(cases) do
      if ours(c).authorization ~= want[i].authz then differ[#differ + 1] = c.service .. " " .. c.url end
    end
    eq(differ, {}, "requests signed differently from botocore")
  end)
end)
