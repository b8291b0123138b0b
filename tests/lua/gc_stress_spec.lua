-- Every module's handles under aggressive garbage collection (STYLE.md: a run
-- with collectgarbage("generational") / a pause of 0 to shake out handle
-- bugs). Each handle is created, closed twice, used after close, closed by
-- <close>, and dropped without closing while the collector runs at every
-- allocation; what a dropped handle holds (a folder, a child process) must
-- be gone after a full collection. Under ASan (make test) a missing anchor,
-- a double free or a leak in any __gc/__close shows here.
local hash = require "relrun.hash"
local fs = require "relrun.fs"
local proc = require "relrun.proc"
local git = require "relrun.git"
local archive = require "relrun.archive"
local xml = require "relrun.xml"
local json = require "relrun.json"
local http = require "relrun.http"
local sigv4 = require "relrun.sigv4"

-- Fewer rounds under ASan: every allocation is slower there.
local ROUNDS = os.getenv("RELRUN_SANITIZE") == "1" and 12 or 40

-- The two collectors, each as aggressive as Lua allows: incremental with a
-- pause of 0 (a new cycle starts as soon as one ends) and a large step, or
-- generational with a minor collection after every 1% of growth.
local MODES = {
  { "incremental", function() collectgarbage("incremental", 0, 1000, 0) end },
  { "generational", function() collectgarbage("generational", 1, 10) end },
}

local function full_collect()
  collectgarbage("collect")
  collectgarbage("collect") -- finalizers run in the first; what they freed goes in the second
end

local function gone(pid)
  return not fs.exists("/proc/" .. pid)
end

local scratch -- a folder for files the tests make, removed after each test
before_each(function() scratch = assert(fs.tempdir("relrun-gc-")) end)
after_each(function()
  scratch:close()
  collectgarbage("incremental", 200, 100, 13) -- Lua's defaults again
end)

local function repo_dir()
  local dir = fs.join(scratch.path, "repo")
  if not fs.exists(dir) then assert(git.init(dir)):close() end
  return dir
end

for _, m in ipairs(MODES) do
  local mode, set_mode = m[1], m[2]
  describe(mode .. " collector", function()
    before_each(set_mode)

    it("hashers: closed twice, finalised, dropped, closed by <close>", function()
      for i = 1, ROUNDS do
        local h = hash.new("sha256"):update(string.rep("x", i))
        if i % 3 == 0 then
          h:close()
          h:close()
          raises(function() h:update("y") end, "attempt to use a closed relrun.hash.hasher")
        elseif i % 3 == 1 then
          eq(h:digest(), hash.sha256(string.rep("x", i)))
          raises(function() h:digest() end, "finalised")
          h:close()
        end -- else dropped open
        do
          local c <close> = hash.new("md5")
          c:update("y")
        end
      end
      full_collect()
    end)

    it("tempdirs: closed twice, dropped, and a dropped one is removed when collected", function()
      local dropped = {}
      for i = 1, ROUNDS do
        local t = assert(fs.tempdir("relrun-gc-"))
        assert(io.open(fs.join(t.path, "f"), "w")):close()
        if i % 2 == 0 then
          local path = t.path
          eq(t:close(), true)
          eq(t:close(), true)
          eq(fs.exists(path), false, "closed tempdir removed")
          raises(function() return t.path end, "attempt to use a closed relrun.fs.tempdir")
        else
          dropped[#dropped + 1] = t.path
        end
      end
      full_collect()
      for _, path in ipairs(dropped) do eq(fs.exists(path), false, path .. " removed by __gc") end
    end)

    it("processes: closed twice, waited, dropped, and a dropped child is killed and reaped", function()
      local pids = {}
      for i = 1, math.max(4, ROUNDS // 4) do
        local p = assert(proc.spawn{ argv = { "sleep", "30" }, stdout = "null", stderr = "null" })
        if i % 3 == 0 then
          p:close()
          p:close()
          raises(function() p:wait() end, "attempt to use a closed relrun.proc.process")
        elseif i % 3 == 1 then
          eq(p:kill("KILL"), true)
          eq(p:wait().signal, 9)
          p:close()
        else
          pids[#pids + 1] = p.pid
        end
      end
      full_collect()
      for _, pid in ipairs(pids) do ok(gone(pid), "child " .. pid .. " killed and reaped by __gc") end
      -- proc.run's own handle, with a line callback that raises part way
      for _ = 1, 3 do
        raises(function()
          proc.run{ argv = { "sh", "-c", "echo a; echo b; sleep 30" },
                    stdout = function(line) if line == "b" then error("stop here") end end }
        end, "stop here")
      end
      full_collect()
    end)

    it("repositories: closed twice, dropped, closed by <close>, used after close", function()
      local dir = repo_dir()
      for i = 1, ROUNDS do
        local r = assert(git.open(dir))
        eq(r:is_empty(), true)
        if i % 2 == 0 then
          r:close()
          r:close()
          raises(function() r:head() end, "attempt to use a closed relrun.git.repository")
        end -- else dropped open
        do
          local c <close> = assert(git.open(dir))
          eq(c:path(), fs.join(dir, ".git") .. "/")
        end
      end
      full_collect()
      eq(select(3, git.open(fs.join(scratch.path, "nowhere"))), "GIT_ENOTFOUND")
    end)

    it("archives: written, listed, read and refused, their handles collected", function()
      local zip = fs.join(scratch.path, "a.zip")
      assert(archive.write(zip, { format = "zip", entries = { { name = "a/b.txt", data = "hello" } } }))
      local bad = fs.join(scratch.path, "bad.zip")
      assert(io.open(bad, "wb")):write("PK\3\4 not really"):close()
      for _ = 1, ROUNDS do
        eq(assert(archive.list(zip))[1].name, "a/b.txt")
        eq(archive.read(zip, "a/b.txt"), "hello")
        eq(select(3, archive.read(zip, "missing")), "ENOENT")
        ok(select(3, archive.list(bad)), "a damaged zip is an expected failure")
        raises(function() archive.write(zip, { format = "zip", entries = { { name = "x" } } }) end)
      end
      full_collect()
      eq(archive.read(zip, "a/b.txt"), "hello", "a refused write left the archive alone")
    end)

    it("parsers: xml, json, urls and signing while the collector runs at every step", function()
      local doc = "<a x='1'>" .. string.rep("<b>t&amp;</b>", 50) .. "</a>"
      for _ = 1, ROUNDS do
        eq(#assert(xml.decode(doc)).children, 50)
        ok(select(2, xml.decode(doc:sub(1, -3))), "truncated xml is nil, msg")
        eq(json.decode(json.encode({ n = 2 ^ 60 // 1, l = json.array({}) })).n, 2 ^ 60 // 1)
        ok(select(2, json.decode("{")), "bad json is nil, msg")
        eq(http.parse_url("https://h.example:8443/p?q=1").port, 8443)
        eq(select(3, http.parse_url("http://[::1")), "EINVAL")
        ok(sigv4.sign{ method = "GET", url = "https://h.example/p?b=2&a=1", service = "s3", region = "us-east-1",
                       access_key = "AKIDEXAMPLE", secret_key = "gc-stress-secret-key", time = 1700000000 }
             .authorization)
      end
      full_collect()
    end)

    it("http transfers: refused connections and a raising progress callback", function()
      -- a port nothing listens on: bind one, note it, close it
      local port
      do
        local p = assert(proc.run{ argv = { "python3", "-c",
          "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])" } })
        port = math.tointeger(tonumber(p.stdout))
      end
      for _ = 1, math.max(3, ROUNDS // 4) do
        local r, msg, code = http.request{ url = "http://127.0.0.1:" .. port .. "/", connect_timeout = 5 }
        eq(r, nil, msg)
        eq(code, "CURLE_COULDNT_CONNECT")
        -- curl may fail the connection before it first reports progress
        local good, r2, msg2 = pcall(http.request, { url = "http://127.0.0.1:" .. port .. "/",
                                                     on_progress = function() error("progress stop") end })
        ok(good and r2 == nil and msg2 or not good and tostring(r2):find("progress stop"), tostring(r2))
      end
      full_collect()
    end)
  end)
end
