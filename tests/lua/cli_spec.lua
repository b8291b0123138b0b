-- The relrun command line (runtime/main.c), run as a child process: options,
-- the arg table, errors and exit codes, Ctrl-C, and module overrides.
local child = require "log_child"

local RELRUN = child.RELRUN
local host = require "relrun.host"

local function run(args, opts)
  opts = opts or {}
  opts.args = args
  return child.run(opts)
end

describe("options", function()
  it("without arguments prints the usage on stderr and exits 2", function()
    local r = run({})
    eq(r.code, 2)
    eq(r.stdout, "")
    ok(r.stderr:find("^usage: relrun %[options%] %[script %[args%]%]\n"), r.stderr)
  end)

  it("-h and --help print the usage on stdout and exit 0", function()
    for _, flag in ipairs{ "-h", "--help" } do
      local r = run({ flag })
      eq(r.code, 0, flag)
      eq(r.stderr, "", flag)
      eq(r.stdout, run({}).stderr, flag)
    end
  end)

  it("-v and --version print the version", function()
    for _, flag in ipairs{ "-v", "--version" } do
      local r = run({ flag })
      eq(r.code, 0)
      eq(r.stdout, "relrun " .. host.version .. " (" .. host.lua_version .. ")\n")
    end
  end)

  it("an unknown option is a usage error: one line naming it, then the usage, exit 2", function()
    local r = run({ "--bogus", "x.lua" })
    eq(r.code, 2)
    eq(r.stdout, "")
    eq(r.stderr:match("^[^\n]*\n"), "relrun: unrecognized option '--bogus'\n")
    contains(r.stderr, "usage: relrun")
  end)

  it("-e and -l without their argument are usage errors", function()
    for _, flag in ipairs{ "-e", "-l" } do
      local r = run({ flag })
      eq(r.code, 2)
      eq(r.stderr:match("^[^\n]*\n"), "relrun: '" .. flag .. "' needs an argument\n")
    end
  end)

  it("-e runs code in order, attached or separate", function()
    local r = run({ "-e", "x = 1", "-ex = x + 1", "-e", "print(x)" })
    eq(r, { code = 0, stdout = "2\n", stderr = "" })
  end)

  it("-l requires a module into its last name part, or into G with G=MOD", function()
    local r = run({ "-l", "relrun.util", "-lU=relrun.util", "-e", "print(util.trim(' a '), U == util)" })
    eq(r, { code = 0, stdout = "a\ttrue\n", stderr = "" })
  end)

  it("-l of a missing module fails in one line", function()
    local r = run({ "-l", "no.such.mod" })
    eq(r.code, 1)
    eq(select(2, r.stderr:gsub("\n", "")), 1, r.stderr)
    contains(r.stderr, "module 'no.such.mod' not found")
  end)
end)

describe("the arg table", function()
  it("has the script at 0, its arguments from 1, and passes them as ...", function()
    local r = child.script("print(arg[0]:match('[^/]*$'), #arg, arg[1], arg[2], select('#', ...), ...)",
      { args = { "one", "two words" } })
    eq(r, { code = 0, stdout = "main.lua\t2\tone\ttwo words\t2\tone\ttwo words\n", stderr = "" })
  end)

  it("keeps the interpreter and its options at negative indices, as lua does", function()
    local dir = child.tmpdir()
    child.write(dir .. "/s.lua", "print(arg[-1], arg[-2], arg[-3], arg[-4] == os.getenv('X'), arg[-5])")
    local r = run({ "--debug", "-e", "y=1", dir .. "/s.lua" }, { env = { X = RELRUN } })
    child.rmtree(dir)
    eq(r, { code = 0, stdout = "y=1\t-e\t--debug\ttrue\tnil\n", stderr = "" })
  end)

  it("- runs standard input with arguments", function()
    local r = run({ "-", "a", "b" }, { stdin = "print(arg[0], ...)" })
    eq(r, { code = 0, stdout = "-\ta\tb\n", stderr = "" })
  end)

  it("-- ends the options: a script named like an option runs", function()
    local dir = child.tmpdir()
    child.write(dir .. "/-x.lua", "print('ran', ...)")
    local r = run({ "--", "-x.lua", "-v" }, { cwd = dir })
    child.rmtree(dir)
    eq(r, { code = 0, stdout = "ran\t-v\n", stderr = "" })
  end)

  it("passes arguments that are not UTF-8 through byte for byte", function()
    local raw = "\xff\xfe\x80 caf\xe9 \x01"
    local r = child.script("io.stdout:write(arg[1], '|', (...))", { args = { raw } })
    eq(r, { code = 0, stdout = raw .. "|" .. raw, stderr = "" })
  end)
end)

describe("errors", function()
  local function lines(s) return select(2, s:gsub("\n", "")) end

  it("an uncaught error is one line 'relrun: FILE:LINE: message' and exit 1", function()
    local dir = child.tmpdir()
    child.write(dir .. "/bad.lua", "local t = nil\nt.x = 1\n")
    local r = run({ "bad.lua" }, { cwd = dir })
    eq(r, { code = 1, stdout = "", stderr = "relrun: bad.lua:2: attempt to index a nil value (local 't')\n" })
    local debug_ways = { { args = { "--debug", "bad.lua" } }, { args = { "bad.lua" }, env = { RELRUN_DEBUG = "1" } } }
    for _, how in ipairs(debug_ways) do
      r = run(how.args, { cwd = dir, env = how.env })
      eq(r.code, 1)
      ok(r.stderr:find("^relrun: bad.lua:2: attempt to index a nil value %(local 't'%)\nstack traceback:\n"),
        r.stderr)
      contains(r.stderr, "bad.lua:2: in main chunk")
    end
    r = run({ "bad.lua" }, { cwd = dir, env = { RELRUN_DEBUG = "0" } })
    eq(lines(r.stderr), 1)
    child.rmtree(dir)
  end)

  it("error{message=, exit=} exits with its code and prints the message alone", function()
    local r = run({ "-e", "error({ message = 'checks found 2 problems', exit = 3 })" })
    eq(r, { code = 3, stdout = "", stderr = "relrun: checks found 2 problems\n" })
  end)

  it("error{exit=} without a message exits with its code and prints nothing more", function()
    eq(run({ "-e", "print('3 problems') error({ exit = 4 })" }), { code = 4, stdout = "3 problems\n", stderr = "" })
  end)

  it("other error values still give one line", function()
    eq(run({ "-e", "error()" }).stderr, "relrun: (error object is a nil value)\n")
    eq(run({ "-e", "error(setmetatable({}, { __tostring = function() return 'custom' end }))" }).stderr,
      "relrun: custom\n")
  end)

  it("refuses a precompiled chunk, naming the file", function()
    local dir = child.tmpdir()
    child.write(dir .. "/c.luac", string.dump(function() end))
    eq(run({ "c.luac" }, { cwd = dir }),
      { code = 1, stdout = "", stderr = "relrun: c.luac: relrun runs Lua source, not precompiled chunks\n" })
    child.rmtree(dir)
  end)

  it("masks a registered secret in the error message, with and without --debug", function()
    local code = "require('relrun.host').secret('tok-123456') error('bad token tok-123456')"
    eq(run({ "-e", code }).stderr, "relrun: (command line):1: bad token ***\n")
    local r = run({ "--debug", "-e", code })
    ok(r.stderr:find("^relrun: %(command line%):1: bad token %*%*%*\nstack traceback:\n"), r.stderr)
    ok(not r.stderr:find("tok-123456", 1, true), r.stderr)
  end)

  it("a missing script says so and what to check", function()
    local r = run({ "no-such-script.lua" })
    eq(r.code, 1)
    eq(r.stderr, "relrun: cannot open no-such-script.lua: No such file or directory"
      .. " (check the path; run from the folder that holds the script)\n")
  end)

  it("a syntax error is one line with the position", function()
    local r = child.script("x = = 1\n")
    eq(r.code, 1)
    ok(r.stderr:find("^relrun: /tmp/[^\n]*/main%.lua:1: unexpected symbol near '='\n$"), r.stderr)
  end)

  it("a module override that raises while loading fails in one line naming the file (after the override notice)",
    function()
    local dir = child.tmpdir()
    os.execute("mkdir -p " .. child.quote(dir .. "/lib/relrun"))
    child.write(dir .. "/main.lua", "require 'relrun.util'\nprint('not reached')\n")
    child.write(dir .. "/lib/relrun/util.lua", "error('half-edited override')\n")
    local notice = "relrun: using 1 file that differs from relrun " .. host.version
      .. "'s built-in ones: lib/relrun/util.lua\n"
    local r = run({ "main.lua" }, { cwd = dir })
    eq(r, { code = 1, stdout = "", stderr = notice .. "relrun: ./lib/relrun/util.lua:1: half-edited override\n" })
    child.write(dir .. "/lib/relrun/util.lua", "return {\n")
    r = run({ "main.lua" }, { cwd = dir })
    eq(r.code, 1)
    eq(r.stderr, notice .. "relrun: error loading module 'relrun.util' from file './lib/relrun/util.lua': "
      .. "./lib/relrun/util.lua:2: unexpected symbol near <eof>\n")
    child.rmtree(dir)
  end)

  it("require of a missing module is one line at the require; --debug lists the files tried", function()
    local dir = child.tmpdir()
    child.write(dir .. "/main.lua", "\nrequire 'relrun.nothing'\n")
    local r = run({ "main.lua" }, { cwd = dir })
    eq(r.code, 1)
    eq(lines(r.stderr), 1)
    ok(r.stderr:find("^relrun: main%.lua:2: module 'relrun.nothing' not found in the script's lib/ folder"),
      r.stderr)
    r = run({ "--debug", "main.lua" }, { cwd = dir })
    contains(r.stderr, "no file './lib/relrun/nothing.lua'")
    child.rmtree(dir)
  end)
end)

-- Start a script in the background; return the popen handle and the pid
-- of the relrun process (also its process group with setsid).
local function start(source, setsid)
  local dir = child.tmpdir()
  child.write(dir .. "/main.lua", source)
  local inner = "echo $$; exec " .. child.command{ args = { dir .. "/main.lua" } }
    .. " 2>" .. child.quote(dir .. "/err")
  local cmd = setsid and ("exec setsid sh -c " .. child.quote(inner)) or inner
  local p = io.popen(cmd)
  local pid = p:read("l")
  return p, pid, dir
end

-- Wait for a script from start(); what it printed and how it ended.
local function finish(p, dir)
  local out = p:read("a")
  local _, how, code = p:close()
  local err = child.read(dir .. "/err")
  child.rmtree(dir)
  return { how = how, code = code, stdout = out, stderr = err }
end

describe("Ctrl-C", function()
  it("stops a busy loop: exit 130 and 'relrun: interrupted'", function()
    local p, pid, dir = start("print('ready')\nwhile true do end\n")
    eq(p:read("l"), "ready")
    os.execute("kill -INT " .. pid)
    eq(finish(p, dir), { how = "exit", code = 130, stdout = "", stderr = "relrun: interrupted\n" })
  end)

  it("stops the script while it waits in os.execute (the whole process group gets it, as from a terminal)", function()
    local p, pid, dir = start("os.execute('echo ready; sleep 30')\nprint('carried on')\n", true)
    eq(p:read("l"), "ready")
    os.execute("kill -INT -" .. pid)
    eq(finish(p, dir), { how = "exit", code = 130, stdout = "", stderr = "relrun: interrupted\n" })
  end)

  it("lets cleanup code run: pcall sees the interruption and it is re-raised", function()
    local p, pid, dir = start([[
      local host = require "relrun.host"
      local good, err = pcall(function()
        print("ready")
        while true do end
      end)
      print("cleanup", good, host.is_interruption(err))
      error(err, 0)
    ]])
    eq(p:read("l"), "ready")
    os.execute("kill -INT " .. pid)
    eq(finish(p, dir),
      { how = "exit", code = 130, stdout = "cleanup\tfalse\ttrue\n", stderr = "relrun: interrupted\n" })
  end)
end)

describe("Ctrl-C and shielded cleanup", function()
  local function start_with_host(source) return start("local host = require 'relrun.host'\n" .. source) end

  it("runs cleanup to its end after Ctrl-C, then the interruption goes on", function()
    local p, pid, dir = start_with_host([[
      local good, err = pcall(function() print("ready") io.stdout:flush() while true do end end)
      host.shielded(function()
        host.sleep(0.2)   -- a sleep, like a request, is not cut short
        print("cleanup done", good, host.interrupted())
      end)
      error(err, 0)
    ]])
    eq(p:read("l"), "ready")
    os.execute("kill -INT " .. pid)
    eq(finish(p, dir), { how = "exit", code = 130, stdout = "cleanup done\tfalse\tfalse\n",
                         stderr = "relrun: interrupted\n" })
  end)

  it("holds a Ctrl-C that comes during shielded code until it ends", function()
    local p, pid, dir = start_with_host([[
      local results = table.pack(host.shielded(function(a, b)
        print("ready") io.stdout:flush()
        local t = host.monotime() + 1
        while host.monotime() < t do end
        print("loop done")
        return a + b, "x"
      end, 1, 2))
      print("shielded returned", results.n, results[1], results[2])
      print("not reached")
    ]])
    eq(p:read("l"), "ready")
    os.execute("kill -INT " .. pid)
    local r = finish(p, dir)
    eq(r.code, 130)
    eq(r.stderr, "relrun: interrupted\n")
    eq(r.stdout, "loop done\n", "the loop ran to its end; the next instruction after it stopped")
  end)

  it("lets a second Ctrl-C break through shielded code", function()
    local p, pid, dir = start_with_host([[
      local good, err = pcall(function() print("ready") io.stdout:flush() while true do end end)
      host.shielded(function() print("cleanup", good, host.is_interruption(err)) io.stdout:flush()
        while true do end end)
      print("not reached")
    ]])
    eq(p:read("l"), "ready")
    os.execute("kill -INT " .. pid)
    eq(p:read("l"), "cleanup\tfalse\ttrue")
    os.execute("kill -INT " .. pid)
    eq(finish(p, dir), { how = "exit", code = 130, stdout = "", stderr = "relrun: interrupted\n" })
  end)

  it("passes errors and results through", function()
    local r = run({ "-e", "local h = require 'relrun.host' print(h.shielded(function(...) return ... end, 1, nil, 3))"
      .. " print(pcall(h.shielded, error, 'boom', 0))" })
    eq(r, { code = 0, stdout = "1\tnil\t3\nfalse\tboom\n", stderr = "" })
  end)
end)

describe("os.execute", function()
  it("keeps lua's results", function()
    local r = run({ "-e", "print(os.execute('exit 3')) print(os.execute('kill -TERM $$')) print(os.execute('true'))"
      .. " print(os.execute())" })
    eq(r, { code = 0, stdout = "nil\texit\t3\nnil\tsignal\t15\ntrue\texit\t0\ntrue\n", stderr = "" })
  end)
end)

describe("module overrides", function()
  local dir
  before_each(function()
    dir = child.tmpdir()
    os.execute("mkdir -p " .. child.quote(dir .. "/lib/relrun") .. " " .. child.quote(dir .. "/path/relrun"))
    child.write(dir .. "/main.lua",
      "local u = require 'relrun.util'\nprint(u.who or 'embedded', require('relrun.host').source('relrun.util'))\n")
  end)
  after_each(function() child.rmtree(dir) end)

  it("loads an embedded library from inside the binary when no file overrides it", function()
    local r = run({ "main.lua" }, { cwd = dir })
    eq(r, { code = 0, stdout = "embedded\t" .. host.embedded()["relrun.util"] .. "\n", stderr = "" })
    eq(host.embedded()["relrun.util"], "scripts/lib/relrun/util.lua")
  end)

  it("prefers the script's lib/ folder", function()
    child.write(dir .. "/lib/relrun/util.lua", "return { who = 'lib' }\n")
    eq(run({ "main.lua" }, { cwd = dir }).stdout, "lib\t./lib/relrun/util.lua\n")
  end)

  it("then RELRUN_PATH", function()
    child.write(dir .. "/path/relrun/util.lua", "return { who = 'path' }\n")
    local r = run({ "main.lua" }, { cwd = dir, env = { RELRUN_PATH = dir .. "/nowhere:" .. dir .. "/path" } })
    eq(r.stdout, "path\t" .. dir .. "/path/relrun/util.lua\n")
  end)

  it("script lib/ wins over RELRUN_PATH", function()
    child.write(dir .. "/lib/relrun/util.lua", "return { who = 'lib' }\n")
    child.write(dir .. "/path/relrun/util.lua", "return { who = 'path' }\n")
    local r = run({ dir .. "/main.lua" }, { env = { RELRUN_PATH = dir .. "/path" } })
    eq(r.stdout, "lib\t" .. dir .. "/lib/relrun/util.lua\n")
  end)
end)

describe("script arguments", function()
  -- runtime/host.c pushed every argument onto the Lua stack unchecked: 43
  -- arguments crashed relrun (exit 139). Run straight (posix_spawn), not
  -- through a shell, whose one command line could not hold them.
  local proc = require "relrun.proc"
  local function spawn(args)
    local r = assert(proc.run{ argv = { RELRUN, table.unpack(args) }, env = { RELRUN_PATH = false } })
    return { code = r.code, stdout = r.stdout, stderr = r.stderr }
  end

  local function count_script()
    local dir = child.tmpdir()
    child.write(dir .. "/count.lua", "local n, bytes = select('#', ...), 0\n"
      .. "for _, a in ipairs({ ... }) do bytes = bytes + #a end\n"
      .. "print(n, #arg, bytes, arg[#arg] == select(n, ...))\n")
    return dir
  end

  it("43 arguments reach the script", function()
    local dir = count_script()
    local args = { dir .. "/count.lua" }
    for i = 1, 43 do args[#args + 1] = "x" .. i end
    local r = spawn(args)
    child.rmtree(dir)
    eq(r, { code = 0, stdout = "43\t43\t" .. (9 * 2 + 34 * 3) .. "\ttrue\n", stderr = "" })
  end)

  it("as many arguments as the OS passes reach the script", function()
    -- ARG_MAX (2 MiB here) holds ~100k short arguments with their pointers
    local dir = count_script()
    local args = { dir .. "/count.lua" }
    for i = 1, 100000 do args[#args + 1] = tostring(i % 10) end
    local r = spawn(args)
    child.rmtree(dir)
    eq(r, { code = 0, stdout = "100000\t100000\t100000\ttrue\n", stderr = "" })
  end)

  it("an argument of the largest size the OS allows (128 KiB less its NUL) arrives whole", function()
    local dir = count_script()
    local big = string.rep("a", 131071)
    local r = spawn({ dir .. "/count.lua", big, "", big })
    child.rmtree(dir)
    eq(r, { code = 0, stdout = "3\t3\t262142\ttrue\n", stderr = "" })
  end)
end)

describe("exit status from the main chunk", function()
  local function status_of(source, args)
    local dir = child.tmpdir()
    child.write(dir .. "/s.lua", source)
    local r = run({ dir .. "/s.lua", table.unpack(args or {}) })
    child.rmtree(dir)
    return r
  end

  it("an integer the script returns is relrun's exit status, with nothing printed", function()
    eq(status_of("print('x') return 3"), { code = 0 + 3, stdout = "x\n", stderr = "" })
    eq(status_of("return 0"), { code = 0, stdout = "", stderr = "" })
    eq(status_of("return 255"), { code = 255, stdout = "", stderr = "" })
    eq(status_of("return tonumber(...)", { "42" }), { code = 42, stdout = "", stderr = "" })
  end)

  it("true is 0 and false is 1; nothing, nil or another value is 0", function()
    eq(status_of("return true").code, 0)
    eq(status_of("return false"), { code = 1, stdout = "", stderr = "" })
    eq(status_of("return nil").code, 0)
    eq(status_of("local x = 1").code, 0)
    eq(status_of("return { 3 }").code, 0)
    eq(status_of("return 4.0").code, 4)
  end)

  it("an integer outside 0..255 fails in one line", function()
    for _, v in ipairs({ "256", "-1", "2.5" }) do
      local r = status_of("return " .. v)
      eq(r, { code = 1, stdout = "", stderr = "relrun: the script returned " .. v
        .. ": an exit code is an integer from 0 to 255 (or true/false)\n" }, v)
    end
  end)

  it("standard input and scripts by name return their status too; -e code does not", function()
    eq(run({ "-" }, { stdin = "return 5" }).code, 5)
    eq(run({ "-e", "return 5" }).code, 0)
  end)
end)
