-- relrun.proc against real programs: sh, cat, env, sleep and relrun itself.
local proc = require "relrun.proc"
local fs = require "relrun.fs"

local RELRUN = fs.absolute(os.getenv("RELRUN") or "build/relrun")

local function open_fds()
  return #assert(fs.list("/proc/self/fd"))
end

-- A process is gone (exited and reaped, not a zombie) when /proc has no entry.
local function gone(pid)
  return not fs.exists("/proc/" .. pid)
end

-- Gone, or a zombie no one reaps (a container whose first process does not).
local function dead(pid)
  local stat = fs.read("/proc/" .. pid .. "/stat")
  return stat == nil or stat:match("^%d+ %b() (%a)") == "Z"
end

local function sh(script, opts)
  opts = opts or {}
  opts.argv = { "sh", "-c", script }
  return proc.run(opts)
end

local function wait_for_file(path)
  for _ = 1, 400 do
    if fs.exists(path) then return true end
    proc.run{ argv = { "sleep", "0.05" } }
  end
  return false
end

local tmp
before_each(function() tmp = fs.tempdir("proc-spec-") end)
after_each(function() tmp:close() end)

describe("run", function()
  it("reports exit codes and captures both streams", function()
    local r = sh("echo out; echo err >&2; exit 3")
    eq(r, { code = 3, stdout = "out\n", stderr = "err\n", timed_out = false })
    eq(proc.run{ argv = { "true" } }.code, 0)
  end)

  it("reports a child killed by a signal", function()
    local r = sh("kill -KILL $$")
    eq(r.code, nil)
    eq(r.signal, 9)
  end)

  it("moves several MB through stdin, stdout and stderr at once without deadlock", function()
    -- The child writes stderr first, then stdout, then stderr again: a
    -- reader that waits on one pipe at a time blocks forever.
    local child = [[
      local n = 3 * 1024 * 1024
      io.stderr:write(string.rep("e", n))
      io.stdout:write(string.rep("o", n))
      io.stderr:write(string.rep("E", n))
    ]]
    local r = proc.run{ argv = { RELRUN, "-e", child } }
    eq(r.code, 0)
    eq(#r.stdout, 3 * 1024 * 1024)
    eq(r.stderr, string.rep("e", 3 * 1024 * 1024) .. string.rep("E", 3 * 1024 * 1024))
    -- cat echoes 6 MB of input while we still write: stdin and stdout overlap.
    local data = string.rep("0123456789abcdef", 6 * 1024 * 1024 // 16)
    r = proc.run{ argv = { "cat" }, stdin = data }
    eq(r.code, 0)
    ok(r.stdout == data, "cat returned the 6 MB unchanged")
  end)

  it("passes non-UTF-8 bytes through unchanged", function()
    local bytes = {}
    for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
    local all = table.concat(bytes)
    eq(proc.run{ argv = { "cat" }, stdin = all }.stdout, all)
    eq(proc.run{ argv = { "printf", "%s", "\xff\xfe\x80caf\xe9" } }.stdout, "\xff\xfe\x80caf\xe9")
  end)

  it("gives stdin from a string, a file, or /dev/null", function()
    eq(proc.run{ argv = { "cat" }, stdin = "" }.stdout, "")
    eq(proc.run{ argv = { "cat" }, stdin = false }.stdout, "")
    fs.write(fs.join(tmp.path, "in"), "from a file\n")
    eq(proc.run{ argv = { "cat" }, stdin = { file = fs.join(tmp.path, "in") } }.stdout, "from a file\n")
  end)

  it("survives a child that exits without reading its stdin", function()
    local r = proc.run{ argv = { "true" }, stdin = string.rep("x", 4 * 1024 * 1024) }
    eq(r.code, 0)
  end)

  it("adds, overrides and removes environment variables", function()
    fs.setenv("RELRUN_PROC_SPEC_DROP", "present")
    local r = sh('printf "%s|%s|%s" "$A_NEW" "${RELRUN_PROC_SPEC_DROP-unset}" "$PATH"',
      { env = { A_NEW = "new value", RELRUN_PROC_SPEC_DROP = false } })
    eq(r.stdout, "new value|unset|" .. os.getenv("PATH"))
    fs.setenv("RELRUN_PROC_SPEC_DROP", nil)
  end)

  it("clears the environment on request", function()
    local r = proc.run{ argv = { "/usr/bin/env" }, clear_env = true, env = { ONLY = "1" } }
    eq(r.stdout, "ONLY=1\n")
  end)

  it("looks the program up on the child's PATH", function()
    local bin = fs.join(tmp.path, "bin")
    fs.mkdir(bin)
    fs.write(fs.join(bin, "hello-relrun"), "#!/bin/sh\necho hi from $0\n", "755")
    eq(proc.run{ argv = { "hello-relrun" } } == nil, true, "not on our PATH")
    local r = proc.run{ argv = { "hello-relrun" }, env = { PATH = bin .. ":/usr/bin:/bin" } }
    eq(r.stdout, "hi from " .. fs.join(bin, "hello-relrun") .. "\n")
  end)

  it("runs in the given folder", function()
    eq(proc.run{ argv = { "pwd" }, cwd = tmp.path }.stdout, fs.realpath(tmp.path) .. "\n")
    local v, msg, code = proc.run{ argv = { "pwd" }, cwd = fs.join(tmp.path, "none") }
    eq({ v, code }, { nil, "ENOENT" })
    contains(msg, "none")
  end)

  it("returns nil, message, ENOENT for a missing program", function()
    local v, msg, code = proc.run{ argv = { "relrun-no-such-program" } }
    eq({ v, code }, { nil, "ENOENT" })
    contains(msg, "relrun-no-such-program")
    v, msg, code = proc.run{ argv = { fs.join(tmp.path, "missing") } }
    eq({ v, code }, { nil, "ENOENT" })
    contains(msg, "missing")
    fs.write(fs.join(tmp.path, "not-exec"), "echo\n", "644")
    v, msg, code = proc.run{ argv = { fs.join(tmp.path, "not-exec") } }
    eq({ v, code }, { nil, "EACCES" })
    contains(msg, "not-exec")
  end)

  it("kills a child at the timeout: SIGTERM, then SIGKILL when ignored", function()
    local r = proc.run{ argv = { "sleep", "30" }, timeout = 0.2 }
    eq({ r.timed_out, r.signal, r.code }, { true, 15, nil })
    r = sh('trap "" TERM; echo started; while :; do sleep 0.1; done', { timeout = 0.2 })
    eq({ r.timed_out, r.signal }, { true, 9 })
    eq(r.stdout, "started\n")
  end)

  it("sends output to a file, to /dev/null, or leaves it out of the result", function()
    local log = fs.join(tmp.path, "log")
    local r = sh("echo one; echo two >&2", { stdout = { file = log }, stderr = "null" })
    eq(r, { code = 0, timed_out = false })
    eq(fs.read(log), "one\n")
    sh("echo three", { stdout = { file = log, append = true } })
    eq(fs.read(log), "one\nthree\n")
  end)
end)

describe("inherit", function()
  it("forwards the child's output through relrun's own, secrets masked, bytes kept", function()
    local script = fs.join(tmp.path, "inherit.lua")
    fs.write(script, [[
      require("relrun.host").secret("s3cr3t-t0ken")
      local proc = require "relrun.proc"
      io.write("before\n")
      local r = proc.run{ argv = { "sh", "-c",
        "echo token=s3cr3t-t0ken; printf 'a\\r\\nb\\377'; echo err s3cr3t-t0ken >&2" },
        stdout = "inherit", stderr = "inherit" }
      io.write("|after ", tostring(r.stdout), " ", tostring(r.code), "\n")
      proc.run{ argv = { "echo", "direct s3cr3t-t0ken" }, stdout = "direct" }
    ]])
    local r = proc.run{ argv = { RELRUN, script } }
    eq(r.stdout, "before\ntoken=***\na\r\nb\255|after nil 0\ndirect s3cr3t-t0ken\n")
    eq(r.stderr, "err ***\n")
  end)
end)

describe("line callbacks", function()
  it("get each line without its newline, the last one even unterminated", function()
    local out, err = {}, {}
    local r = sh("printf 'a\\nb\\n\\nc'; printf 'x\\r\\ny\\n' >&2", {
      stdout = function(line) out[#out + 1] = line end,
      stderr = function(line) err[#err + 1] = line end,
    })
    eq(out, { "a", "b", "", "c" })
    eq(err, { "x\r", "y" })
    eq({ r.code, r.stdout, r.stderr }, { 0, nil, nil })
  end)

  it("stream while the child runs", function()
    -- The child waits for a file the callback creates on the first line: a
    -- binding that delivered lines only at exit would hit the timeout.
    local flag = fs.join(tmp.path, "flag")
    local lines = {}
    local r = sh('echo first; while [ ! -e "' .. flag .. '" ]; do sleep 0.02; done; echo second', {
      timeout = 20,
      stdout = function(line)
        lines[#lines + 1] = line
        if line == "first" then fs.write(flag, "") end
      end,
    })
    eq(r.timed_out, false)
    eq(lines, { "first", "second" })
  end)

  it("do not keep a never-ending writer from its timeout", function()
    local n = 0
    local r = proc.run{ argv = { "yes" }, timeout = 0.2, stdout = function() n = n + 1 end }
    eq(r.timed_out, true)
    ok(n > 0, "lines arrived")
  end)

  it("re-raise a callback's error after killing and reaping the child", function()
    local pid
    local err = raises(function()
      sh("echo $$; exec sleep 30", {
        stdout = function(line)
          pid = tonumber(line)
          error("callback failed on " .. line)
        end,
      })
    end, "callback failed on")
    ok(pid, "the callback saw the pid")
    contains(err, tostring(pid))
    ok(gone(pid), "the child was killed and reaped")
  end)
end)

describe("spawn", function()
  it("waits, kills, reports running, and caches the result", function()
    local p = proc.spawn{ argv = { "sleep", "30" } }
    ok(p.pid > 0)
    eq(p:running(), true)
    local v, _, code = p:wait(0.05)
    eq({ v, code }, { nil, "ETIMEDOUT" })
    eq(p:running(), true, "a wait timeout does not kill")
    eq(p:kill(), true)
    local r = p:wait()
    eq(r.signal, 15)
    eq(p:running(), false)
    eq(p:wait(), r)
    local _, _, kcode = p:kill("KILL")
    eq(kcode, "ESRCH")
    ok(gone(p.pid))
    p:close()
    raises(function() return p.pid end, "attempt to use a closed relrun.proc.process")
    raises(function() p:wait() end, "attempt to use a closed relrun.proc.process")
    p:close()
  end)

  it("captures output and feeds stdin at wait", function()
    local p = proc.spawn{ argv = { "sh", "-c", "cat; echo done >&2" }, stdin = "hello" }
    eq(p:wait(), { code = 0, stdout = "hello", stderr = "done\n", timed_out = false })
    p:close()
  end)

  it("stops the child when closed or collected", function()
    local pid
    do
      local p <close> = proc.spawn{ argv = { "sleep", "30" } }
      pid = p.pid
    end
    ok(gone(pid), "closed by <close>")
    pid = proc.spawn{ argv = { "sleep", "30" } }.pid
    collectgarbage()
    collectgarbage()
    ok(gone(pid), "killed and reaped by __gc")
  end)

  it("rejects bad signal names and bad options", function()
    local p = proc.spawn{ argv = { "sleep", "30" } }
    raises(function() p:kill("NOPE") end, "unknown signal")
    p:close()
    raises(function() proc.run{} end, "argv")
    raises(function() proc.run{ argv = {} } end, "argv")
    raises(function() proc.run{ argv = { "true" }, stdout = "file" } end, "stdout")
    raises(function() proc.run{ argv = { "true" }, env = { ["A=B"] = "x" } } end, "env")
    raises(function() proc.run{ argv = { "true" }, stdin = 5 } end, "stdin")
    raises(function() proc.run{ argv = { "true" }, timeout = -1 } end, "timeout")
    raises(function() proc.run{ argv = { "true" }, timeout = "soon" } end, "timeout")
    raises(function() proc.run{ argv = { "true" }, cwd = "a\0b" } end, "NUL")
  end)
end)

-- relrun running a script whose proc.run child (a long sleep) has written
-- its pid; `after` is Lua the script runs once the child is gone.
-- -> relrun's handle, the child's pid.
local function relrun_running_a_child(after)
  local pidfile = fs.join(tmp.path, "child.pid")
  local script = fs.join(tmp.path, "waits.lua")
  fs.write(script, ([[
    require("relrun.proc").run{ argv = { "sh", "-c", "echo $$ > %s.tmp; mv %s.tmp %s; exec sleep 60" } }
    %s
  ]]):format(pidfile, pidfile, pidfile, after))
  local p = proc.spawn{ argv = { RELRUN, script } }
  ok(wait_for_file(pidfile), "the child started")
  return p, tonumber(fs.read(pidfile))
end

describe("Ctrl-C", function()
  it("kills the child and ends relrun with 130", function()
    local p, child = relrun_running_a_child('print("not reached")')
    p:kill("INT")
    local r = p:wait(20)
    p:close()
    ok(r, "relrun stopped after SIGINT")
    eq(r.code, 130)
    eq(r.stdout, "")
    ok(gone(child), "the program relrun ran is gone too")
  end)
end)

describe("relrun killed alone", function()
  -- a CI runner or the OOM killer may SIGKILL relrun and not its children
  it("takes its running child with it, as the kernel's parent-death signal", function()
    local p, child = relrun_running_a_child("")
    ok(not dead(child), "the child runs while relrun does")
    p:kill("KILL")
    p:wait(20)
    p:close()
    local stopped = false
    for _ = 1, 200 do
      stopped = dead(child)
      if stopped then break end
      proc.run{ argv = { "sleep", "0.05" } }
    end
    ok(stopped, "the child was killed with relrun")
  end)

  it("starts children with default signal handling, nothing blocked", function()
    local status = proc.run{ argv = { "cat", "/proc/self/status" } }.stdout
    -- (signals 32 and 33 are glibc's own, which no program sets: they stay
    -- as whatever started relrun left them, as with posix_spawn)
    local glibc_own = (1 << 31) | (1 << 32)
    eq(tonumber(status:match("SigIgn:%s*(%x+)"), 16) & ~glibc_own, 0, "no signal ignored")
    eq(tonumber(status:match("SigBlk:%s*(%x+)"), 16), 0, "no signal blocked")
  end)
end)

describe("resources", function()
  it("leaks no file descriptors and leaves no zombies", function()
    local before = open_fds()
    local pids = {}
    for _ = 1, 5 do
      pids[#pids + 1] = tonumber(sh("echo $$", { stdin = "x" }).stdout)
      proc.run{ argv = { "relrun-no-such-program" } }
      proc.run{ argv = { "true" }, cwd = "/nonexistent" }
      proc.run{ argv = { "sleep", "5" }, timeout = 0.01 }
      pcall(sh, "echo x", { stdout = function() error("x") end })
      proc.run{ argv = { "true" }, stdout = { file = "/nonexistent/x" } }
      local p = proc.spawn{ argv = { "cat" }, stdin = "y" }
      p:wait()
      p:close()
    end
    eq(open_fds(), before)
    for _, pid in ipairs(pids) do ok(gone(pid), "child " .. pid .. " reaped") end
  end)

  it("which finds programs and pid is ours", function()
    eq(proc.which("sh"), (assert(proc.run{ argv = { "sh", "-c", "command -v sh" } }).stdout:gsub("\n$", "")))
    eq(proc.which("relrun-no-such-program"), nil)
    eq(proc.which(RELRUN), RELRUN)
    eq(proc.pid(), tonumber(fs.readlink("/proc/self")))
  end)
end)
