-- relrun.http against tests/fakes/http_echo.py on 127.0.0.1 (the fake is
-- first checked with the curl program).
local http = require "relrun.http"
local peer = require "peer"

local RELRUN = os.getenv("RELRUN") or "build/relrun"
local server

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

local function sha256_file(path) return sh("sha256sum '" .. path .. "'"):match("^(%x+)") end

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- The fake's "key=value" lines.
local function fields(body)
  local t = { header = {} }
  for line in body:gmatch("[^\n]+") do
    local k, v = line:match("^([%w_]+)=(.*)$")
    if k == "header" then
      local name, value = v:match("^(.-): (.*)$")
      t.header[name:lower()] = value
    elseif k then
      t[k] = v
    end
  end
  return t
end

-- byte i of /bytes/N is i % 251
local function pattern(n)
  local block = {}
  for i = 0, 250 do block[#block + 1] = string.char(i) end
  block = table.concat(block)
  return (block:rep(n // 251 + 1)):sub(1, n)
end

local tmpfiles = {}
local function tmp(suffix)
  local p = peer.tmpname(suffix)
  tmpfiles[#tmpfiles + 1] = p
  return p
end

-- Run a relrun script in a child; returns its stdout+stderr and the peak RSS in KiB.
local function child(script, env)
  local path = tmp(".lua")
  write(path, script)
  local rss = tmp(".rss")
  local out = sh(string.format("%s /usr/bin/time -f %%M -o %s %s %s 2>&1", env or "", rss, RELRUN, path))
  return out, tonumber((read(rss) or ""):match("(%d+)%s*$"))
end

describe("http against the echo server", function()
  before_each(function()
    if not server then
      server = peer.start{ argv = { "python3", "tests/fakes/http_echo.py", "--port-file", peer.PORT_FILE } }
    end
  end)

  it("the fake answers the curl program as documented", function()
    local out = sh("curl -sS -X PUT --data-binary hello -H 'X-Test: 1' " .. server.url .. "/echo/x")
    local f = fields(out)
    eq(f.method, "PUT")
    eq(f.path, "/echo/x")
    eq(f.body_sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
    eq(f.header["x-test"], "1")
  end)

  it("GET sends the headers and returns status, headers and body", function()
    local r = assert(http.request{ url = server.url .. "/echo/a?b=1",
                                   headers = { ["X-One"] = "1", Accept = "text/plain" } })
    eq(r.status, 200)
    eq(r.headers["content-type"], "text/plain")
    local f = fields(r.body)
    eq(f.method, "GET")
    eq(f.path, "/echo/a?b=1")
    eq(f.header["x-one"], "1")
    eq(f.header.accept, "text/plain")
    ok(f.header["user-agent"]:find("^relrun/%d"), "default user agent " .. f.header["user-agent"])
    ok(#r.header_list >= 2, "header_list")
  end)

  it("PUT and POST send a string body exactly, labelled only as asked", function()
    local body = "line1\nline2\0binary\255"
    local r = assert(http.request{ method = "PUT", url = server.url .. "/echo", body = body })
    local f = fields(r.body)
    eq(f.method, "PUT")
    eq(tonumber(f.body_size), #body)
    eq(f.body_sha256, sha256_file((function() local p = tmp() write(p, body) return p end)()))
    eq(f.header["content-type"], nil, "no form content type added")
    eq(f.header.expect, nil, "no 100-continue")
    r = assert(http.request{ method = "POST", url = server.url .. "/echo", body = "{}",
                             headers = { ["Content-Type"] = "application/json" } })
    f = fields(r.body)
    eq(f.method, "POST")
    eq(f.header["content-type"], "application/json")
    r = assert(http.request{ url = server.url .. "/echo", headers = { ["User-Agent"] = "mine/1" } })
    eq(fields(r.body).header["user-agent"], "mine/1")
    eq(f.body_size, "2")
  end)

  it("HEAD has no body; DELETE is sent as DELETE", function()
    local r = assert(http.request{ method = "HEAD", url = server.url .. "/echo" })
    eq(r.status, 200)
    eq(r.body, "")
    ok(tonumber(r.headers["content-length"]) > 0, "content-length of the GET answer")
    eq(fields(assert(http.request{ method = "DELETE", url = server.url .. "/echo" }).body).method, "DELETE")
  end)

  it("streams a 50 MB file upload with its sha256 intact and little memory", function()
    local big = tmp(".bin")
    os.execute("head -c 52428800 /dev/urandom > " .. big)
    local script = [[
      local http = require "relrun.http"
      local r = assert(http.request{ method = "PUT", url = arg[1] .. "/echo", body = { file = arg[2] } })
      print(r.body)
    ]]
    local path = tmp(".lua")
    write(path, script)
    local rss = tmp(".rss")
    local out = sh(string.format("/usr/bin/time -f %%M -o %s %s %s %s %s 2>&1", rss, RELRUN, path, server.url, big))
    local f = fields(out)
    eq(f.body_size, "52428800", out)
    eq(f.body_sha256, sha256_file(big))
    eq(f.header["content-length"], "52428800")
    -- the same program doing a tiny request: the upload may add a few buffers, not the file
    local _, base = child("local http = require 'relrun.http'\n"
      .. "assert(http.request{ url = '" .. server.url .. "/echo' })")
    local peak = tonumber((read(rss) or ""):match("(%d+)%s*$"))
    ok(peak and base, "peak RSS measured")
    ok(peak - base < 16 * 1024, string.format("upload peak RSS %d KiB vs %d KiB for a tiny request", peak, base))
  end)

  it("sends a byte range of a file (offset, length)", function()
    local file = tmp(".bin")
    write(file, pattern(100000))
    local r = assert(http.request{ method = "PUT", url = server.url .. "/echo",
                                   body = { file = file, offset = 1000, length = 5000 } })
    local part = tmp(".part")
    write(part, pattern(100000):sub(1001, 6000))
    eq(fields(r.body).body_size, "5000")
    eq(fields(r.body).body_sha256, sha256_file(part))
    r = assert(http.request{ method = "PUT", url = server.url .. "/echo", body = { file = file, offset = 99000 } })
    eq(fields(r.body).body_size, "1000", "to the end")
    local _, msg, code = http.request{ method = "PUT", url = server.url .. "/echo",
                                       body = { file = file, offset = 99000, length = 2000 } }
    eq(code, "EINVAL")
    contains(msg, "not inside the file")
  end)

  it("sends multipart fields and streamed file parts", function()
    local file = tmp(".whl")
    os.execute("head -c 1048576 /dev/urandom > " .. file)
    local r = assert(http.request{ method = "POST", url = server.url .. "/multipart", body = { multipart = {
      { name = ":action", value = "file_upload" },
      { name = "sha256_digest", value = "abc" },
      { name = "protocol_version", value = 1 },
      { name = "content", file = file, filename = "pkg-1.0-py3-none-any.whl",
        content_type = "application/octet-stream" },
    } } })
    eq(r.status, 200)
    contains(r.body, "field=:action=file_upload\n")
    contains(r.body, "field=sha256_digest=abc\n")
    contains(r.body, "field=protocol_version=1\n")
    contains(r.body, "part=content size=1048576 sha256=" .. sha256_file(file)
      .. " filename=pkg-1.0-py3-none-any.whl type=application/octet-stream\n")
  end)

  it("downloads to a file, streamed, leaving no partial file on failure", function()
    local out = tmp(".dl")
    local n = 3 * 1024 * 1024 + 7
    local r = assert(http.request{ url = server.url .. "/bytes/" .. n, output = out })
    eq(r.status, 200)
    eq(r.body, nil)
    local data = read(out)
    eq(#data, n)
    ok(data == pattern(n), "downloaded bytes differ")
    ok(not read(out .. ".part"), "no .part left")
    local bad = tmp(".dl")
    local _, msg, code = http.request{ url = server.url .. "/reset", output = bad }
    ok(code and code:match("^CURLE_"), msg)
    ok(not read(bad) and not read(bad .. ".part"), "nothing left after a failed download")
    local _, msg2, code2 = http.request{ url = server.url .. "/bytes/10", output = "/nonexistent-dir/x" }
    eq(code2, "ENOENT")
    contains(msg2, "/nonexistent-dir/x.part")
  end)

  it("keeps repeated response headers", function()
    local r = assert(http.request{ url = server.url .. "/repeat" })
    eq(r.headers["x-multi"], "a, b")
    eq(r.headers["set-cookie"], "s=1, t=2")
    local multi = {}
    for _, h in ipairs(r.header_list) do if h[1] == "X-Multi" then multi[#multi + 1] = h[2] end end
    eq(multi, { "a", "b" })
  end)

  it("follows redirects for GET, not for POST", function()
    local r = assert(http.request{ url = server.url .. "/redirect/2" })
    eq(r.status, 200)
    eq(fields(r.body).path, "/echo/redirected")
    eq(r.headers.location, nil, "headers are the final answer's")
    eq(assert(http.request{ method = "POST", url = server.url .. "/redirect/1", body = "" }).status, 302)
  end)

  it("times out with CURLE_OPERATION_TIMEDOUT", function()
    local r, msg, code = http.request{ url = server.url .. "/slow/3", timeout = 0.3 }
    eq(r, nil)
    eq(code, "CURLE_OPERATION_TIMEDOUT")
    contains(msg, "GET " .. server.url .. "/slow/3: ")
  end)

  it("reports a refused connection as CURLE_COULDNT_CONNECT", function()
    local r, msg, code = http.request{ url = "http://127.0.0.1:1/x?X-Amz-Signature=abcdef", connect_timeout = 5 }
    eq(r, nil)
    eq(code, "CURLE_COULDNT_CONNECT")
    contains(msg, "GET http://127.0.0.1:1/x?X-Amz-Signature=***: ")
  end)

  it("reports a reset connection with a CURLE code", function()
    local _, msg, code = http.request{ url = server.url .. "/reset" }
    ok(code == "CURLE_GOT_NOTHING" or code == "CURLE_RECV_ERROR", tostring(code) .. " " .. tostring(msg))
  end)

  it("reuses one connection for consecutive requests", function()
    local before = tonumber(fields(assert(http.request{ url = server.url .. "/connections" }).body).connections)
    local ids = {}
    for i = 1, 5 do
      local r = assert(http.request{ method = i % 2 == 0 and "PUT" or "GET", url = server.url .. "/echo",
                                     body = i % 2 == 0 and "x" or nil })
      ids[fields(r.body).conn] = true
    end
    local after = tonumber(fields(assert(http.request{ url = server.url .. "/connections" }).body).connections)
    eq(after, before, "connections opened")
    local n = 0
    for _ in pairs(ids) do n = n + 1 end
    eq(n, 1, "distinct connection ids")
  end)

  it("sends credentials over http to loopback hosts", function()
    local r = assert(http.request{ url = server.url .. "/echo", headers = { Authorization = "Bearer t" } })
    eq(fields(r.body).header.authorization, "Bearer t")
    r = assert(http.request{ url = "http://localhost:" .. server.port .. "/echo",
                             headers = { ["X-Amz-Security-Token"] = "t" } })
    eq(r.status, 200)
  end)

  it("calls on_progress and re-raises its error after curl returns", function()
    local seen = 0
    local r = assert(http.request{ url = server.url .. "/bytes/2000000", on_progress = function(_, _, now, total)
      ok(math.type(now) == "integer" and math.type(total) == "integer", "integers")
      if now > seen then seen = now end
    end })
    eq(#r.body, 2000000)
    eq(seen, 2000000)
    local good, err = pcall(http.request, { url = server.url .. "/bytes/20000000",
      on_progress = function(_, _, now) if now > 0 then error("stop here") end end })
    eq(good, false)
    contains(tostring(err), "stop here")
    eq(assert(http.request{ url = server.url .. "/echo" }).status, 200, "the handle still works")
    local nested = pcall(http.request, { url = server.url .. "/bytes/100000",
      on_progress = function() http.request{ url = server.url .. "/echo" } end })
    eq(nested, false, "a request from inside on_progress is refused")
  end)

  it("fails cleanly on a missing upload file", function()
    local r, msg, code = http.request{ method = "PUT", url = server.url .. "/echo", body = { file = "/nonexistent/f" } }
    eq(r, nil)
    eq(code, "ENOENT")
    contains(msg, "cannot read /nonexistent/f")
    r, msg, code = http.request{ method = "POST", url = server.url .. "/multipart",
      body = { multipart = { { name = "content", file = "/nonexistent/g" } } } }
    eq(r, nil)
    eq(code, "ENOENT")
    contains(msg, "/nonexistent/g")
  end)

  it("traces requests with credentials masked (RELRUN_HTTP_TRACE=1)", function()
    local secret = "trace-secret-" .. tostring(os.time())
    local out = child(string.format([[
      local http = require "relrun.http"
      local r = assert(http.request{ url = %q, headers = { Authorization = "AWS4 %s", Cookie = "c=%s",
                                     ["X-Amz-Security-Token"] = "%s", ["X-Plain"] = "visible" } })
      print(r.status)
    ]], server.url .. "/repeat?X-Amz-Signature=" .. secret, secret, secret, secret), "RELRUN_HTTP_TRACE=1")
    contains(out, "http > GET " .. server.url .. "/repeat?X-Amz-Signature=***")
    contains(out, "http > Authorization: ***")
    contains(out, "http > X-Amz-Security-Token: ***")
    contains(out, "http > Cookie: ***")
    contains(out, "http > X-Plain: visible")
    contains(out, "http < 200")
    contains(out, "http < Set-Cookie: ***")
    contains(out, "http < X-Multi: a")
    ok(not out:find(secret, 1, true), "secret in trace output:\n" .. out)
  end)

  it("goes through the proxies the environment names, curl's way", function()
    local script = [[
      local http = require "relrun.http"
      local r, msg, code = http.request{ url = arg[1], connect_timeout = 5 }
      print(r and ("status=" .. r.status .. "\n" .. r.body) or ("code=" .. code .. "\nmsg=" .. msg))
    ]]
    local path = tmp(".lua")
    write(path, script)
    local function run(env, url)
      return fields(sh(string.format("env -u http_proxy -u https_proxy -u HTTPS_PROXY -u all_proxy -u ALL_PROXY "
        .. "-u no_proxy -u NO_PROXY %s %s %s %s 2>&1", env, RELRUN, path, url)))
    end
    local proxy = "http://127.0.0.1:" .. server.port
    local f = run("http_proxy=" .. proxy, "http://example.invalid/echo/via")
    eq(f.status, "200")
    eq(f.path, "http://example.invalid/echo/via", "the proxy got the absolute url")
    -- upper-case HTTPS_PROXY is honoured for https (only HTTP_PROXY is not, see httpoxy)
    f = run("HTTPS_PROXY=" .. proxy, "https://example.invalid/x")
    ok(f.code and f.code:match("^CURLE_"), "the proxy refused the tunnel")
    f = run("http_proxy=" .. proxy .. " no_proxy=example.invalid", "http://example.invalid/echo/direct")
    ok(f.code and f.code:match("^CURLE_"), "no_proxy: a direct attempt to a host that does not exist")
    local seen = assert(http.request{ url = server.url .. "/proxied" }).body
    contains(seen, "proxied=GET http://example.invalid/echo/via\n")
    contains(seen, "proxied=CONNECT example.invalid:443\n")
    ok(not seen:find("direct", 1, true), "no_proxy was ignored")
  end)

  it("Ctrl-C aborts a transfer in progress and exits 130", function()
    local path = tmp(".lua")
    write(path, "local http = require 'relrun.http'\n"
      .. "print(http.request{ url = '" .. server.url .. "/slow/20' })\nprint('not interrupted')\n")
    -- the signal may come before or during the request: both must end in 130
    local out = sh(string.format(
      "%s %s > %s.out 2>&1 & pid=$!; sleep 1; kill -INT $pid; wait $pid; echo rc=$?; cat %s.out",
      RELRUN, path, path, path))
    os.remove(path .. ".out")
    contains(out, "rc=130")
    ok(not out:find("not interrupted", 1, true), out)
  end)

  it("verifies TLS, with the CA bundle from AWS_CA_BUNDLE, SSL_CERT_FILE or CURL_CA_BUNDLE", function()
    local cert, key = tmp(".pem"), tmp(".key")
    sh(string.format("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
      .. "-addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s 2>&1", key, cert))
    local tls = peer.start{ argv = { "python3", "tests/fakes/http_echo.py", "--port-file", peer.PORT_FILE,
                                     "--cert", cert, "--key", key } }
    local path = tmp(".lua")
    write(path, [[
      local http = require "relrun.http"
      local r, msg, code = http.request{ url = arg[1], headers = { Authorization = "Bearer x" } }
      print(r and ("status=" .. r.status) or ("code=" .. code .. "\nmsg=" .. msg))
    ]])
    local url = "https://127.0.0.1:" .. tls.port .. "/echo"
    local function run(env, target)
      return fields(sh(string.format("env -u AWS_CA_BUNDLE -u SSL_CERT_FILE -u CURL_CA_BUNDLE %s %s %s %s 2>&1",
        env, RELRUN, path, target or url)))
    end
    local untrusted = run("")
    eq(untrusted.code, "CURLE_PEER_FAILED_VERIFICATION", untrusted.msg)
    contains(untrusted.msg, "GET " .. url .. ": ")
    for _, var in ipairs{ "AWS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE" } do
      eq(run(var .. "=" .. cert).status, "200", var)
    end
    eq(run("AWS_CA_BUNDLE=" .. cert .. " SSL_CERT_FILE=/nonexistent").status, "200", "AWS_CA_BUNDLE first")
    local wrong_name = run("AWS_CA_BUNDLE=" .. cert, "https://localhost:" .. tls.port .. "/echo")
    eq(wrong_name.code, "CURLE_PEER_FAILED_VERIFICATION", "the certificate names 127.0.0.1, not localhost")
    tls:stop()
  end)

  describe("request_many", function()
    it("sends file ranges in parallel and answers in the list's order", function()
      local file = tmp(".bin")
      local data = pattern(5 * 262144 + 11)
      write(file, data)
      local reqs, want = {}, {}
      for i = 0, 5 do
        local len = math.min(262144, #data - i * 262144)
        reqs[#reqs + 1] = { method = "PUT", url = server.url .. "/echo/part" .. (i + 1),
                            body = { file = file, offset = i * 262144, length = len } }
        local p = tmp(".part")
        write(p, data:sub(i * 262144 + 1, i * 262144 + len))
        want[#want + 1] = sha256_file(p)
      end
      reqs[#reqs + 1] = { url = "http://127.0.0.1:1/refused" }
      reqs[#reqs + 1] = { url = "http://example.invalid/", headers = { Authorization = "x" } }
      local results = http.request_many(reqs, { parallel = 3 })
      eq(#results, 8)
      for i = 1, 6 do
        local f = fields(results[i].body)
        eq(f.path, "/echo/part" .. i)
        eq(f.body_sha256, want[i], "part " .. i)
      end
      eq(results[7].code, "CURLE_COULDNT_CONNECT")
      contains(results[7].error, "GET http://127.0.0.1:1/refused: ")
      eq(results[8].code, "INSECURE")
    end)

    it("runs transfers at the same time, and keeps connections between calls", function()
      local reqs = {}
      for i = 1, 4 do reqs[i] = { url = server.url .. "/slow/0.5" } end
      local first = http.request_many(reqs, { parallel = 4 })
      local conns, n = {}, 0
      for i = 1, 4 do
        eq(first[i].status, 200)
        conns[fields(first[i].body).conn] = true
      end
      for _ in pairs(conns) do n = n + 1 end
      -- one after the other, they would have shared one kept-alive connection
      eq(n, 4, "connections used by four slow requests at once")
      local before = tonumber(fields(assert(http.request{ url = server.url .. "/connections" }).body).connections)
      reqs = {}
      for i = 1, 4 do reqs[i] = { url = server.url .. "/echo/" .. i } end
      for _, r in ipairs(http.request_many(reqs, { parallel = 4 })) do eq(r.status, 200) end
      local after = tonumber(fields(assert(http.request{ url = server.url .. "/connections" }).body).connections)
      eq(after, before, "the second batch reused the first batch's connections")
    end)

    it("re-raises an on_progress error after stopping every transfer", function()
      local reqs, outs = {}, {}
      for i = 1, 4 do
        outs[i] = tmp(".dl")
        reqs[i] = { url = server.url .. "/bytes/20000000", output = outs[i] }
      end
      reqs[2].on_progress = function(_, _, now) if now > 0 then error("part 2 stops") end end
      local good, err = pcall(http.request_many, reqs, { parallel = 4 })
      eq(good, false)
      contains(tostring(err), "part 2 stops")
      for i = 1, 4 do ok(not read(outs[i] .. ".part"), "partial download " .. i .. " left behind") end
      local again = http.request_many({ { url = server.url .. "/echo" } })
      eq(again[1].status, 200, "the handles work afterwards")
    end)

    it("keeps the pool full: a transfer held open does not hold the others back", function()
      -- parallel 2: request 1 is answered only once request 9 (/release)
      -- reaches the server, so requests 2..9 must all be made, started and
      -- answered on the other slot while request 1 is still running
      local events, made = {}, 0
      local count = http.request_many(function(i)
        if i > 9 then return nil end
        made = made + 1
        events[#events + 1] = "make " .. i
        local path = i == 1 and "/hold/pool" or i == 9 and "/release/pool" or "/echo/" .. i
        return { url = server.url .. path }
      end, {
        parallel = 2,
        before = function(i, req)
          events[#events + 1] = "before " .. i
          req.headers = { ["X-Seq"] = tostring(i) } -- changes made here are sent
        end,
        after = function(i, res)
          events[#events + 1] = "after " .. i
          eq(res.status, 200, "request " .. i)
          local f = fields(res.body)
          if i == 1 then eq(f.held, "pool") elseif i < 9 then
            eq(f.path, "/echo/" .. i)
            eq(f.header["x-seq"], tostring(i))
          end
        end,
      })
      eq(count, 9)
      eq(made, 9, "the generator is not called again after it returned nil")
      local pos = {}
      for n, e in ipairs(events) do pos[e] = n end
      for i = 2, 9 do ok(pos["make " .. i] < pos["before " .. i], "before comes after the generator") end
      for i = 3, 9 do
        -- request i is made only when the free slot comes free again
        ok(pos["make " .. i] > pos["after " .. (i - 1)], "request " .. i .. " made just in time")
      end
    end)

    it("lets after call request, and raises a generator's error after freeing the transfers", function()
      local outs, seen = {}, {}
      http.request_many({ { url = server.url .. "/echo/a" }, { url = server.url .. "/echo/b" } }, {
        after = function(i, res)
          seen[i] = res.status
          eq(assert(http.request{ url = server.url .. "/echo/inner" }).status, 200)
          raises(function() http.request_many({}) end, "inside request_many")
        end })
      eq(seen, { 200, 200 })
      local good, err = pcall(http.request_many, function(i)
        if i == 3 then error("no more parts") end
        outs[i] = tmp(".dl")
        return { url = server.url .. "/bytes/20000000", output = outs[i] }
      end, { parallel = 4 })
      eq(good, false)
      contains(tostring(err), "no more parts")
      for i = 1, 2 do ok(not read(outs[i] .. ".part"), "partial download " .. i .. " left behind") end
      eq(http.request_many({ { url = server.url .. "/echo" } })[1].status, 200, "the handles work afterwards")
    end)

    it("takes any number of requests from a generator, failures at once included", function()
      -- each fails before it reaches the network (credentials over plain
      -- http to another host): the stack must not grow with them
      local codes = {}
      local n = http.request_many(function(i)
        if i > 20000 then return nil end
        return { url = "http://example.invalid/" .. i, headers = { Authorization = "x" } }
      end, { parallel = 16, after = function(_, res) codes[res.code] = (codes[res.code] or 0) + 1 end })
      eq(n, 20000)
      eq(codes, { INSECURE = 20000 })
    end)

    it("refuses bad arguments", function()
      raises(function() http.request_many("x") end, "table or function")
      raises(function() http.request_many({}, { after = 1 }) end, "after")
      raises(function() http.request_many(function() return 1 end) end, "request 1 is not a table")
      raises(function() http.request_many({}, { parallel = 17 }) end, "parallel")
      raises(function() http.request_many({ { method = "GET" } }) end, "url is required")
      eq(http.request_many({}), {})
    end)
  end)

  it("stops the server", function()
    server:stop()
    for _, p in ipairs(tmpfiles) do os.remove(p) end
    eq(server.pid, nil)
  end)
end)
