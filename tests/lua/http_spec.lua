-- relrun.http without a network: url helpers, the INSECURE refusal, misuse.
-- (Requests to a real peer: tests/integration/http_spec.lua.)
local http = require "relrun.http"
local host = require "relrun.host"

describe("url helpers", function()
  it("url_encode keeps only unreserved characters", function()
    eq(http.url_encode("a b/c~d-e_f.g+h=&é"), "a%20b%2Fc~d-e_f.g%2Bh%3D%26%C3%A9")
    eq(http.url_encode(""), "")
  end)
  it("url_decode undoes it; '+' is a space only in form mode", function()
    eq(http.url_decode("a%20b%2Fc~%C3%A9+x"), "a b/c~é+x")
    eq(http.url_decode("a+b%2B", true), "a b+")
    eq(http.url_decode("100%"), "100%", "a lone % stays")
    eq(http.url_decode("%zz"), "%zz")
    local all = {}
    for i = 0, 255 do all[#all + 1] = string.char(i) end
    all = table.concat(all)
    eq(http.url_decode(http.url_encode(all)), all, "round trip of every byte")
  end)
  it("parse_url splits a url, with the scheme's default port", function()
    eq(http.parse_url("https://u:pw-parse-secret@Example.com:8443/a/b%20c?x=1&y=2#frag"),
      { scheme = "https", host = "Example.com", port = 8443, path = "/a/b%20c", query = "x=1&y=2",
        fragment = "frag", user = "u", password = "pw-parse-secret" })
    eq(host.mask("pw-parse-secret"), "***", "the password is a secret")
    local u = http.parse_url("http://127.0.0.1/")
    eq(u.port, 80)
    eq(u.query, nil)
    eq(http.parse_url("https://[::1]/x").host, "[::1]")
  end)
  it("parse_url refuses what is not a url", function()
    local u, msg, code = http.parse_url("not a url")
    eq(u, nil)
    eq(code, "EINVAL")
    contains(msg, "invalid url")
  end)
end)

describe("request refuses", function()
  local function refused(opts)
    local r, msg, code = http.request(opts)
    eq(r, nil)
    eq(code, "INSECURE", msg)
    return msg
  end
  it("credentials over plain http to a host that is not loopback", function()
    local msg = refused{ url = "http://example.invalid/x?X-Amz-Credential=AKID",
                         headers = { Authorization = "AWS4 x" } }
    contains(msg, "GET http://example.invalid/x?X-Amz-Credential=***: refusing")
    refused{ method = "PUT", url = "http://example.invalid/", headers = { ["x-amz-security-token"] = "t" } }
    refused{ url = "http://user:pass@example.invalid/" }
    refused{ url = "http://128.0.0.1/", headers = { { "authorization", "x" } } }
    refused{ url = "http://localhost.example.invalid/", headers = { authorization = "x" } }
  end)
  it("nothing else: https, or http without credentials, go ahead", function()
    local _, _, code = http.request{ url = "http://example.invalid/", connect_timeout = 2 }
    ok(code ~= "INSECURE", "plain http without credentials")
    _, _, code = http.request{ url = "https://example.invalid/", headers = { Authorization = "x" },
                               connect_timeout = 2 }
    ok(code ~= "INSECURE", "https")
  end)
end)

describe("request errors", function()
  it("malformed urls and unsupported schemes are expected failures", function()
    local r, msg, code = http.request{ url = "http://exa mple.com/" }
    eq(r, nil)
    eq(code, "CURLE_URL_MALFORMAT", msg)
    r, msg, code = http.request{ url = "ftp://127.0.0.1/x" }
    eq(r, nil)
    eq(code, "CURLE_UNSUPPORTED_PROTOCOL", msg)
  end)
  it("misuse raises", function()
    raises(function() http.request() end)
    raises(function() http.request{} end, "url is required")
    raises(function() http.request{ url = "http://127.0.0.1:1/", method = "get" } end, "upper%-case")
    raises(function() http.request{ url = "http://127.0.0.1:1/", headers = { X = "a\r\nInjected: 1" } } end,
      "line break")
    raises(function() http.request{ url = "http://127.0.0.1:1/", body = 42 } end, "body must be")
    raises(function() http.request{ url = "http://127.0.0.1:1/", body = {} } end, "body must be")
    raises(function() http.request{ url = "http://127.0.0.1:1/", body = { multipart = { { name = "x", value = {} } } } }
      end, "multipart value must be a string")
    raises(function() http.request{ url = "http://127.0.0.1:1/", on_progress = "no" } end)
    raises(function() http.request{ url = "http://127.0.0.1:1/", timeout = -1 } end, "negative")
    raises(function() http.request{ url = "http://127.0.0.1:1/", method = "POST",
      body = { multipart = { { value = "no name" } } } } end, "needs a name")
  end)
end)

describe("--debug", function()
  it("traces requests with credentials masked", function()
    local relrun = os.getenv("RELRUN") or "build/relrun"
    local script = os.tmpname()
    local secret = "debug-secret-" .. tostring(os.time())
    local f = assert(io.open(script, "w"))
    f:write(string.format("local http = require 'relrun.http'\n"
      .. "print(select(3, http.request{ url = 'http://127.0.0.1:1/x', headers = { Authorization = %q } }))\n", secret))
    f:close()
    local p = assert(io.popen(relrun .. " --debug " .. script .. " 2>&1"))
    local out = p:read("a")
    p:close()
    os.remove(script)
    contains(out, "http > GET http://127.0.0.1:1/x\n")
    contains(out, "http > Authorization: ***\n")
    contains(out, "CURLE_COULDNT_CONNECT")
    ok(not out:find(secret, 1, true), "secret in output:\n" .. out)
  end)
end)
