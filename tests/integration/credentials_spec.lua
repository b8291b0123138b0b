-- Where credentials may go (README "Where credentials go"), against
-- tests/fakes/http_echo.py on 127.0.0.1: redirects are followed hop by hop
-- and a credential never goes to another origin or over plain http to
-- another machine; bound credentials (the GitHub token, the Actions OIDC
-- request token, relrun.http.bind) go only where they belong; stalled and
-- endless answers end with one clear line; children do not inherit
-- credentials; every credential in the environment is masked from the
-- start. Scripts that need their own environment run in a child relrun.
local http = require "relrun.http"
local proc = require "relrun.proc"
local fs = require "relrun.fs"
local peer = require "peer"

local RELRUN = os.getenv("RELRUN") or "build/relrun"
local SANITIZE = os.getenv("RELRUN_SANITIZE") == "1"

-- Two servers: two origins.
local a, b
local tmp = assert(fs.tempdir("credentials-spec"))
local _ <close> = setmetatable({}, { __close = function()
  if a then a:stop() end
  if b then b:stop() end
  tmp:close()
end })
a = peer.start{ argv = { "python3", "tests/fakes/http_echo.py", "--port-file", peer.PORT_FILE } }
b = peer.start{ argv = { "python3", "tests/fakes/http_echo.py", "--port-file", peer.PORT_FILE } }
local B_HOST = "127.0.0.1:" .. b.port

-- What a server has been asked so far (its /seen lines).
local function seen(server)
  local out = {}
  for line in assert(http.request{ url = server.url .. "/seen" }).body:gmatch("seen=([^\n]+)") do
    out[#out + 1] = line
  end
  return out
end

-- A relrun script in a child with `env` added (false removes); bounded in
-- time, so a request that never ends fails the spec instead of hanging it.
local function child(script, env, opts)
  opts = opts or {}
  local path = fs.join(tmp.path, "script.lua")
  assert(fs.write(path, script))
  local argv = { RELRUN, path }
  if opts.memory_kib and not SANITIZE then   -- ASan needs its address space
    argv = { "sh", "-c", "ulimit -v " .. opts.memory_kib .. "; exec \"$0\" \"$@\"", RELRUN, path }
  end
  local r = assert(proc.run{ argv = argv, env = env, timeout = opts.timeout or 30, inherit_credentials = true })
  r.out = r.stdout .. r.stderr
  return r
end

local TOKEN = "FwoGZXIvYXdzSessionToken0123456789abcdef"

describe("redirects", function()
  it("a request with the session token is not sent to another origin; both URLs are named", function()
    local before = #seen(b)
    local r, msg, code = http.request{ url = a.url .. "/to/307/" .. B_HOST .. "/x",
                                       headers = { ["x-amz-security-token"] = TOKEN } }
    eq({ r, code }, { nil, "REDIRECT" })
    eq(msg, "GET " .. a.url .. "/to/307/" .. B_HOST .. "/x: redirected to http://" .. B_HOST .. "/echo/x, " ..
      "another origin; not followed because the request carries credentials, which go only to the origin they " ..
      "were made for")
    eq(#seen(b), before, "the other origin was never asked")
  end)

  it("an AWS call answered with a redirect to another host fails, its token kept (S3 GetObject)", function()
    local s3 = require "relrun.aws.s3"
    local creds = require("relrun.aws.credentials").static("AKIDREDIRECT", "redirect/secret/key", TOKEN)
    local c = assert(s3.client{ endpoint = a.url, region = "us-east-1", credentials = creds,
                                policy = require("relrun.aws.retry").new{ max_attempts = 1 } })
    local before = #seen(b)
    local info, msg, code = c:get_object{ bucket = "to", key = "307/" .. B_HOST .. "/object",
                                          output = fs.join(tmp.path, "object") }
    eq({ info, code }, { nil, "REDIRECT" })
    contains(msg, "redirected to http://" .. B_HOST .. "/echo/object, another origin; not followed")
    eq(#seen(b), before, "the other origin got neither the signature nor the token")
    eq(fs.exists(fs.join(tmp.path, "object")), false, "no file")
  end)

  it("follows a redirect within the origin with its credentials, and one without credentials anywhere", function()
    local r = assert(http.request{ url = a.url .. "/to/302/127.0.0.1:" .. a.port .. "/same",
                                   headers = { authorization = "Bearer same-origin-token" } })
    eq(r.status, 200)
    contains(r.body, "path=/echo/same\n")
    contains(r.body, "header=authorization: Bearer same-origin-token\n")
    r = assert(http.request{ url = a.url .. "/to/301/" .. B_HOST .. "/public" })
    eq(r.status, 200)
    contains(r.body, "path=/echo/public\n")
    -- a POST told to follow a 303 goes on as a GET without its body, as curl and browsers do
    r = assert(http.request{ method = "POST", url = a.url .. "/to/303/" .. B_HOST .. "/after-post", body = "form",
                             follow_redirects = true })
    contains(r.body, "method=GET\n")
    contains(r.body, "body_size=0\n")
  end)

  it("request_many applies the same rule to each transfer", function()
    local results = http.request_many{
      { url = a.url .. "/to/307/" .. B_HOST .. "/many", headers = { ["x-amz-security-token"] = TOKEN } },
      { url = a.url .. "/to/307/127.0.0.1:" .. a.port .. "/many", headers = { ["x-amz-security-token"] = TOKEN } },
      { url = a.url .. "/to/307/" .. B_HOST .. "/many-public" },
    }
    eq(results[1].code, "REDIRECT")
    eq(results[2].status, 200)
    contains(results[2].body, "header=x-amz-security-token: " .. TOKEN)
    eq(results[3].status, 200)
    for _, line in ipairs(seen(b)) do ok(not line:find(TOKEN, 1, true), "no token at the other origin: " .. line) end
  end)

  -- foreign.example.invalid is reached through a proxy (the echo server,
  -- which records what it forwards), so that a hop that goes out in clear
  -- would be seen. A header credential never leaves its origin at all; a
  -- credential in the next hop's URL (a presigned URL's token) is checked
  -- like the first URL's.
  it("checks every hop: no credential goes out over plain http from a loopback redirect", function()
    local r = child(string.format([[
      local http = require "relrun.http"
      local r, msg, code = http.request{ url = %q, headers = { ["x-amz-security-token"] = %q } }
      print(r and r.status, code, msg)
      r, msg, code = http.request{ url = %q }
      print(r and r.status, code, msg)
    ]], a.url .. "/to/302/foreign.example.invalid/leak", TOKEN,
        a.url .. "/to/302/foreign.example.invalid/presigned%3FX-Amz-Security-Token%3D" .. TOKEN),
      { http_proxy = b.url, no_proxy = "127.0.0.1,localhost", HTTPS_PROXY = false, https_proxy = false,
        all_proxy = false, ALL_PROXY = false, NO_PROXY = false })
    contains(r.out, "nil\tREDIRECT\tGET " .. a.url .. "/to/302/foreign.example.invalid/leak: redirected to " ..
      "http://foreign.example.invalid/echo/leak, another origin; not followed")
    contains(r.out, "nil\tINSECURE\tGET http://foreign.example.invalid/echo/presigned?X-Amz-Security-Token=***: " ..
      "refusing to send credentials over plain http to a host that is not loopback; use https")
    local proxied = assert(http.request{ url = b.url .. "/proxied" }).body
    ok(not proxied:find("foreign.example.invalid", 1, true), "nothing went out: " .. proxied)
  end)

  it("never follows https to http", function()
    local cert, key = fs.join(tmp.path, "cert.pem"), fs.join(tmp.path, "key.pem")
    local made = assert(proc.run{ argv = { "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
      "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert } })
    eq(made.code, 0, made.stderr)
    local tls = peer.start{ argv = { "python3", "tests/fakes/http_echo.py", "--port-file", peer.PORT_FILE,
                                     "--cert", cert, "--key", key } }
    local r = child(string.format([[
      local r, msg, code = require("relrun.http").request{ url = %q }
      print(r and r.status, code, msg)
    ]], "https://127.0.0.1:" .. tls.port .. "/to/302/" .. B_HOST .. "/down"), { CURL_CA_BUNDLE = cert,
      SSL_CERT_FILE = false, AWS_CA_BUNDLE = false })
    tls:stop()
    contains(r.out, "nil\tREDIRECT\tGET https://127.0.0.1:" .. tls.port .. "/to/302/" .. B_HOST ..
      "/down: redirected to http://" .. B_HOST .. "/echo/down: not followed, it leaves https")
  end)
end)

describe("bound credentials", function()
  local GH = "ghs_boundTok3n0123456789abcdefABCDEF"
  local function request(url, auth)
    return string.format([[
      local r, msg, code = require("relrun.http").request{ url = %q, headers = { authorization = %q } }
      print(r and r.status, code, msg)
    ]], url, auth)
  end

  it("GITHUB_TOKEN goes only to the GitHub server, however it is written", function()
    local none = { GITHUB_TOKEN = GH, GITHUB_API_URL = false, GITHUB_SERVER_URL = false }
    local r = child(request(a.url .. "/echo/gh", "Bearer " .. GH), none)
    contains(r.out, "nil\tCREDENTIAL\tGET " .. a.url .. "/echo/gh: not sent: GITHUB_TOKEN goes only to " ..
      "https://github.com, https://api.github.com, https://uploads.github.com (GITHUB_SERVER_URL, GITHUB_API_URL), " ..
      "not to " .. a.url)
    local basic = require("relrun.hash").base64_encode("x-access-token:" .. GH)
    contains(child(request(a.url .. "/echo/gh", "Basic " .. basic), none).out, "nil\tCREDENTIAL\t")
    contains(child(request(a.url .. "/echo/gh", "token " .. GH), { GH_TOKEN = GH, GITHUB_TOKEN = false }).out,
      "not sent: GH_TOKEN goes only to https://github.com")
    -- a GitHub server over plain http on another machine is no place for it either
    contains(child(request(a.url .. "/echo/gh", "Bearer " .. GH), { GITHUB_TOKEN = GH,
      GITHUB_SERVER_URL = "http://ghe.example.com", GITHUB_API_URL = false }).out,
      "GITHUB_TOKEN goes to no server (GITHUB_SERVER_URL, GITHUB_API_URL: https, or http on this machine only)")
    -- the GitHub fake on this machine, configured as the API: there it goes
    r = child(request(a.url .. "/echo/gh", "Bearer " .. GH), { GITHUB_TOKEN = GH, GITHUB_API_URL = a.url })
    contains(r.out, "200\tnil\tnil")
    for _, line in ipairs(seen(b)) do ok(not line:find(GH, 1, true), line) end
  end)

  it("the Actions OIDC request token goes only to its URL", function()
    local req = "actionsReqTok3n-0123456789"
    local env = { ACTIONS_ID_TOKEN_REQUEST_TOKEN = req, ACTIONS_ID_TOKEN_REQUEST_URL = "https://pipelines.example/x" }
    contains(child(request(a.url .. "/echo/oidc", "Bearer " .. req), env).out,
      "not sent: ACTIONS_ID_TOKEN_REQUEST_TOKEN goes only to https://pipelines.example " ..
      "(ACTIONS_ID_TOKEN_REQUEST_URL), not to " .. a.url)
  end)

  -- An origin on this machine stands for its host on any port (test
  -- servers take free ports): the refusal is shown with one elsewhere.
  it("relrun.http.bind: a script's own credential goes only to the origins it names", function()
    local r = child(string.format([[
      local http = require "relrun.http"
      http.bind("s3cr3t-bound-value", { "https://index.example/simple/" }, "the index token")
      local r, msg, code = http.request{ url = %q, headers = { ["x-index-token"] = "s3cr3t-bound-value" } }
      print(r, code, msg)
      http.bind("other-bound-value", { %q }, "a local token")
      print(assert(http.request{ url = %q, headers = { ["x-index-token"] = "other-bound-value" } }).status)
      print(select(3, http.request{ url = %q, headers = { ["x-index-token"] = "other-bound-value" } }))
    ]], a.url .. "/echo/bound", a.url, a.url .. "/echo/bound", a.url .. "/to/307/" .. B_HOST .. "/bound"))
    contains(r.out, "nil\tCREDENTIAL\tGET " .. a.url .. "/echo/bound: not sent: the index token goes only to " ..
      "https://index.example (relrun.http.bind), not to " .. a.url)
    contains(r.out, "\n200\nREDIRECT\n")
    for _, line in ipairs(seen(b)) do ok(not line:find("bound", 1, true), line) end
  end)
end)

describe("stalled and endless answers", function()
  -- a byte every 0.3 s: progress every time, and still a stall (fewer
  -- than low_speed_limit bytes/s over the low_speed_time window)
  it("a server that trickles bytes fails the request, saying what to change", function()
    local r = child(string.format([[
      local r, msg, code = require("relrun.http").request{ url = %q, low_speed_time = 1 }
      print(r and r.status, code, msg)
    ]], a.url .. "/trickle/0.3"))
    eq(r.timed_out, false, "the request ended on its own")
    contains(r.out, "nil\tCURLE_OPERATION_TIMEDOUT\tGET " .. a.url .. "/trickle/0.3: fewer than 1024 bytes/s for " ..
      "1 s: the server stalled (low_speed_limit and low_speed_time, RELRUN_HTTP_LOW_SPEED_TIME to wait longer)")
  end)

  it("an upload (relrun.pypi.upload) and the OIDC token request end too, by the default's setting", function()
    local wheel = fs.join(tmp.path, "trickle-1.0-py3-none-any.whl")
    local made = assert(proc.run{ argv = { "python3", "-c", [[
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("trickle-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: trickle\nVersion: 1.0\n")
    z.writestr("trickle-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    z.writestr("trickle-1.0.dist-info/RECORD", "")
]], wheel } })
    eq(made.code, 0, made.stderr)
    local r = child(string.format([[
      local r, msg, code = require("relrun.pypi.upload").upload{ url = %q, path = %q, username = "aws",
        password = "tok", retries = 0, progress = "none" }
      print(r, code, msg)
      local _, err = require("relrun.github").oidc_token("sts.amazonaws.com")
      print(err.message)
    ]], a.url .. "/trickle/0.3", wheel), { RELRUN_HTTP_LOW_SPEED_TIME = "1",
      ACTIONS_ID_TOKEN_REQUEST_URL = a.url .. "/trickle/0.3?api-version=2.0", ACTIONS_ID_TOKEN_REQUEST_TOKEN = "req" })
    eq(r.timed_out, false, "both ended on their own: " .. r.out)
    contains(r.out, "nil\tCURLE_OPERATION_TIMEDOUT\tuploading trickle-1.0-py3-none-any.whl to " .. a.url ..
      "/trickle/0.3: POST " .. a.url .. "/trickle/0.3: fewer than 1024 bytes/s for 1 s")
    contains(r.out, "GitHub OIDC token request: GET " .. a.url .. "/trickle/0.3?api-version=2.0&audience=" ..
      "sts.amazonaws.com: fewer than 1024 bytes/s for 1 s")
  end)

  it("an endless answer stops at the cap on answers held in memory, in little memory", function()
    local r = child(string.format([[
      local http = require "relrun.http"
      local r, msg, code = http.request{ url = %q, max_body = 1 << 20 }
      print(r, code, msg)
      r, msg, code = http.request{ url = %q }
      print(r, code, msg)
    ]], a.url .. "/endless", a.url .. "/endless"), { RELRUN_HTTP_MAX_BODY = tostring(8 << 20) },
      { memory_kib = 1024 * 1024 })
    contains(r.out, "nil\tCURLE_FILESIZE_EXCEEDED\tGET " .. a.url .. "/endless: the answer is larger than 1048576 " ..
      "bytes, the cap on answers held in memory (max_body, RELRUN_HTTP_MAX_BODY); stream it to a file with `output`")
    contains(r.out, "nil\tCURLE_FILESIZE_EXCEEDED\tGET " .. a.url .. "/endless: the answer is larger than 8388608 bytes")
    eq(r.timed_out, false)
  end)
end)

-- Every credential variable the host knows, with values a test can find.
local CREDS = {
  GITHUB_TOKEN = "ghs_envTok3n0123456789abcdef", GH_TOKEN = "gho_envTok3n0123456789abcdef",
  GIT_TOKEN = "git-envTok3n0123456789", ACTIONS_ID_TOKEN_REQUEST_TOKEN = "reqTok3n-0123456789abcdef",
  ACTIONS_ID_TOKEN_REQUEST_URL = "https://pipelines.example/oidc?run=1", ACTIONS_RUNTIME_TOKEN = "runtimeTok3n-0123456789",
  AWS_ACCESS_KEY_ID = "ASIAENVKEY0123456789", AWS_SECRET_ACCESS_KEY = "env/Secret+Key0123456789abcdefghij",
  AWS_SESSION_TOKEN = "FwoGZXIvYXdzEnvSession0123456789", AWS_SECURITY_TOKEN = "FwoGZXIvYXdzEnvSecurity0123456789",
  AWS_CONTAINER_AUTHORIZATION_TOKEN = "containerTok3n0123456789", TWINE_PASSWORD = "pypi-twinePassw0rd0123456789",
  CODEARTIFACT_AUTH_TOKEN = "eyJ2ZXIiOjEsImlzdSI6codeartifact0123",
  PIP_INDEX_URL = "https://aws:indexPassw0rd0123456789@pypi.example/simple/",
  PIP_EXTRA_INDEX_URL = "https://mirror.example/simple/ https://__token__:extraPassw0rd0123456789@extra.example/simple/",
  AWS_WEB_IDENTITY_TOKEN_FILE = "/var/run/token", AWS_CONTAINER_CREDENTIALS_FULL_URI = "http://169.254.170.23/v1/creds",
}
local SECRETS = { "ghs_envTok3n0123456789abcdef", "gho_envTok3n0123456789abcdef", "git-envTok3n0123456789",
  "reqTok3n-0123456789abcdef", "runtimeTok3n-0123456789", "ASIAENVKEY0123456789",
  "env/Secret+Key0123456789abcdefghij", "FwoGZXIvYXdzEnvSession0123456789", "FwoGZXIvYXdzEnvSecurity0123456789",
  "containerTok3n0123456789", "pypi-twinePassw0rd0123456789", "eyJ2ZXIiOjEsImlzdSI6codeartifact0123",
  "indexPassw0rd0123456789", "extraPassw0rd0123456789" }

describe("the environment", function()
  it("a child inherits no credential unless it is passed on", function()
    local env = {}
    for k, v in pairs(CREDS) do env[k] = v end
    env.PIP_INDEX_URL = "https://pypi.example/simple/"   -- no userinfo: no credential, inherited
    local r = child([[
      local proc = require "relrun.proc"
      local function names(opts)
        opts.argv = { "env" }
        local out = {}
        for name in assert(proc.run(opts)).stdout:gmatch("([%w_]+)=") do out[#out + 1] = name end
        table.sort(out)
        return table.concat(out, " ")
      end
      print("default: " .. names{})
      print("passed: " .. names{ env = { GITHUB_TOKEN = os.getenv("GITHUB_TOKEN") } })
      print("inherit: " .. names{ inherit_credentials = true })
      local file = os.tmpname()
      os.execute("env > " .. file)   -- the shell os.execute starts: as relrun.proc's default
      local f = assert(io.open(file))
      local shell = {}
      for name in f:read("a"):gmatch("([%w_]+)=") do shell[#shell + 1] = name end
      f:close()
      os.remove(file)
      table.sort(shell)
      print("os.execute: " .. table.concat(shell, " "))
    ]], env)
    local default = r.out:match("default: ([^\n]*)")
    for name in pairs(CREDS) do
      if name ~= "PIP_INDEX_URL" then
        ok(not (" " .. default .. " "):find(" " .. name .. " ", 1, true), name)
        ok(not (" " .. r.out:match("os.execute: ([^\n]*)") .. " "):find(" " .. name .. " ", 1, true), name)
      end
    end
    ok((" " .. default .. " "):find(" PIP_INDEX_URL ", 1, true), "an index URL without userinfo is kept")
    contains(r.out:match("passed: ([^\n]*)"), "GITHUB_TOKEN")
    ok(not r.out:match("passed: ([^\n]*)"):find("AWS_SESSION_TOKEN", 1, true), "only what was passed")
    for name in pairs(CREDS) do contains(r.out:match("inherit: ([^\n]*)"), name) end
  end)

  it("every credential in the environment is masked from the start, whatever prints it", function()
    local env = { GITHUB_ACTIONS = false }
    for k, v in pairs(CREDS) do env[k] = v end
    local r = child([[
      print(os.getenv("GITHUB_TOKEN"), os.getenv("PIP_EXTRA_INDEX_URL"))
      io.stderr:write(os.getenv("AWS_SECRET_ACCESS_KEY"), "\n")
      -- a child that prints its whole environment, forwarded and captured
      local proc = require "relrun.proc"
      proc.run{ argv = { "env" }, inherit_credentials = true, stdout = "inherit" }
      local r = proc.run{ argv = { "env" }, inherit_credentials = true }
      error("the build failed; its output:\n" .. r.stdout)
    ]], env)
    eq(r.code, 1)
    for _, s in ipairs(SECRETS) do ok(not r.out:find(s, 1, true), "masked: " .. s) end
    contains(r.out, "GITHUB_TOKEN=***")
    contains(r.out, "https://__token__:***@extra.example/simple/")
    -- under GitHub Actions the runner is told too, before anything is printed
    env.GITHUB_ACTIONS = "true"
    r = child("print('started')", env)
    local masks = r.stdout:match("^(.-)started\n$")
    ok(masks, r.stdout)
    for _, s in ipairs(SECRETS) do contains(masks, "::add-mask::" .. s .. "\n") end
  end)
end)
