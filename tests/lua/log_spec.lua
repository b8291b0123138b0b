-- relrun.log, checked from the outside: child relrun processes whose
-- stdout, stderr, $GITHUB_OUTPUT and $GITHUB_STEP_SUMMARY are compared
-- byte for byte.
local child = require "log_child"

-- A secret whose URL-encoded and base64 forms differ from it (12 bytes: its
-- base64 has no padding).
local SECRET = "s3cr3t/Tok+e"
local SECRET_URL = "s3cr3t%2FTok%2Be"
local SECRET_B64 = "czNjcjN0L1Rvaytl" -- python3 base64.b64encode

local function b64(s)
  local tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  return (s:gsub("..?.?", function(c)
    local a, b, d = c:byte(1, 3)
    local v = a * 65536 + (b or 0) * 256 + (d or 0)
    local out = ""
    for i = 3, 0, -1 do
      local k = (v // (64 ^ i)) % 64
      out = out .. tbl:sub(k + 1, k + 1)
    end
    if not b then return out:sub(1, 2) .. "==" end
    if not d then return out:sub(1, 3) .. "=" end
    return out
  end))
end

-- Run a script (after a line that loads relrun.log as `log`) with env.
local function script(body, env, args)
  return child.script("local log = require 'relrun.log'\n" .. body, { env = env, args = args })
end

local function actions(extra)
  local env = { GITHUB_ACTIONS = "true" }
  for k, v in pairs(extra or {}) do env[k] = v end
  return env
end

-- $GITHUB_OUTPUT read back the way the runner does
-- (actions/runner SetOutputFileCommandExtension): `name=value` lines, or
-- `name<<DELIM`, then lines up to one equal to DELIM, joined with "\n".
local function parse_github_output(text)
  local out, lines = {}, {}
  for line in text:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  local i = 1
  while i <= #lines do
    local line = lines[i]
    local eq_at, here_at = line:find("=", 1, true), line:find("<<", 1, true)
    if eq_at and (not here_at or eq_at < here_at) then
      out[line:sub(1, eq_at - 1)] = line:sub(eq_at + 1)
    else
      local name, delim = line:sub(1, here_at - 1), line:sub(here_at + 2)
      local value = {}
      i = i + 1
      while lines[i] ~= delim do
        assert(lines[i], "heredoc for " .. name .. " has no end")
        value[#value + 1] = lines[i]
        i = i + 1
      end
      out[name] = table.concat(value, "\n")
    end
    i = i + 1
  end
  return out
end

describe("secrets", function()
  it("the test's encodings match what the host masks", function()
    eq(b64(SECRET), SECRET_B64)
    eq(b64(SECRET .. "x"), "czNjcjN0L1RvaytleA==")
    eq(b64("abc"), "YWJj")
  end)

  it("masks the raw, URL-encoded and base64 forms in print, io.write, file:write and log.*", function()
    local r = script(([[
      log.secret(%q)
      for _, v in ipairs{ %q, %q, %q } do
        print("print " .. v)
        io.write("write ", v, "\n")
        io.stdout:write("stdout ", v, "\n")
        io.stderr:write("stderr ", v, "\n")
        log.info("info %%s", v)
        log.error(v)
      end
    ]]):format(SECRET, SECRET, SECRET_URL, b64(SECRET)))
    eq(r.code, 0)
    eq(r.stdout, ("print ***\nwrite ***\nstdout ***\n"):rep(3))
    eq(r.stderr, ("stderr ***\ninfo ***\nerror: ***\n"):rep(3))
  end)

  it("masks a secret that one write call gets in pieces, numbers written as Lua writes them", function()
    local r = script(([[
      log.secret(%q)
      local s = %q
      io.write("write ", s:sub(1, 5), s:sub(6), " ", 1.5, " ", 7, " ", 2^63, "\n")
      io.stdout:write("stdout ", s:sub(1, 2), s:sub(3, 9), s:sub(10), "\n")
      io.stderr:write("stderr ", s:sub(1, 4), s:sub(5), "\n")
      print(pcall(io.write, "x", {}))
    ]]):format(SECRET, SECRET))
    eq(r.code, 0)
    ok(r.stdout:find("^write %*%*%* 1%.5 7 9%.2233720368548e%+18\nstdout %*%*%*\nxfalse\t[^\n]*bad argument #2 "
      .. "[^\n]*string expected, got table%)\n$"), r.stdout)
    eq(r.stderr, "stderr ***\n")
  end)

  it("leaves files a script writes byte-exact", function()
    local dir = child.tmpdir()
    local r = script(([[
      log.secret(%q)
      local f = assert(io.open(%q, "w"))
      f:write(%q)
      f:close()
      io.output(%q)
      io.write(%q)
      io.close()
    ]]):format(SECRET, dir .. "/a", SECRET, dir .. "/b", SECRET))
    eq(r.code, 0)
    eq(child.read(dir .. "/a"), SECRET)
    eq(child.read(dir .. "/b"), SECRET)
    child.rmtree(dir)
  end)

  it("masks uncaught errors, with and without --debug", function()
    local body = ("log.secret(%q)\nerror('refused: ' .. %q)\n"):format(SECRET, SECRET_URL)
    local r = script(body)
    eq(r.code, 1)
    ok(r.stderr:find("^relrun: /tmp/[^\n]*main%.lua:3: refused: %*%*%*\n$"), r.stderr)
    r = script(body, { RELRUN_DEBUG = "1" })
    ok(r.stderr:find("^relrun: /tmp/[^\n]*main%.lua:3: refused: %*%*%*\nstack traceback:\n"), r.stderr)
    ok(not r.stderr:find(SECRET_URL, 1, true))
  end)

  it("mask(s) returns the masked text; short values are not secrets", function()
    local r = script(("log.secret(%q) log.secret('abc') print(log.mask('x %s abc'))"):format(SECRET, SECRET))
    eq(r.stdout, "x *** abc\n")
  end)

  it("under GitHub Actions emits ::add-mask:: once, before the value is printed", function()
    local r = script(([[
      log.secret(%q)
      print(%q)
      log.secret(%q)
      log.secret("50%%off\r\nline-two")
    ]]):format(SECRET, SECRET, SECRET), actions())
    eq(r.code, 0)
    eq(r.stdout, "::add-mask::" .. SECRET .. "\n***\n::add-mask::50%25off\n::add-mask::line-two\n")
    eq(r.stderr, "")
  end)

  it("without Actions prints no workflow command", function()
    local r = script(("log.secret(%q) print(log.actions())"):format(SECRET))
    eq(r, { code = 0, stdout = "false\n", stderr = "" })
  end)
end)

describe("levels", function()
  local body = [[
    if arg[1] then log.set_level(arg[1]) end
    log.error("e") log.warn("w") log.info("i") log.verbose("v") log.debug("d")
    print(log.level())
  ]]

  it("shows each level and those above it", function()
    eq(script(body, nil, { "quiet" }).stderr, "error: e\n")
    eq(script(body, nil, { "info" }).stderr, "error: e\nwarning: w\ni\n")
    eq(script(body, nil, { "verbose" }).stderr, "error: e\nwarning: w\ni\nv\n")
    eq(script(body, nil, { "debug" }).stderr, "error: e\nwarning: w\ni\nv\ndebug: d\n")
  end)

  it("starts at info, or at RELRUN_LOG", function()
    eq(script(body).stdout, "info\n")
    local r = script(body, { RELRUN_LOG = "verbose" })
    eq(r, { code = 0, stdout = "verbose\n", stderr = "error: e\nwarning: w\ni\nv\n" })
  end)

  it("warns once about a bad RELRUN_LOG and uses info", function()
    local r = script(body, { RELRUN_LOG = "loud" })
    eq(r.stdout, "info\n")
    eq(r.stderr, "warning: RELRUN_LOG=loud is not a level (quiet, info, verbose, debug); using info\n"
      .. "error: e\nwarning: w\ni\n")
  end)

  it("set_level raises on an unknown level", function()
    local r = script("log.set_level('loud')")
    eq(r.code, 1)
    contains(r.stderr, "invalid option 'loud'")
  end)

  it("formats with string.format when given arguments, tostring otherwise", function()
    local r = script("log.info('%d%% of %s', 50, 'x') log.info(42) log.info('100%')")
    eq(r.stderr, "50% of x\n42\n100%\n")
  end)
end)

describe("json lines", function()
  it("writes one JSON object per line that a JSON parser reads back", function()
    local dir = child.tmpdir()
    local r = script(([[
      log.secret(%q)
      log.set_json(true)
      log.info("quote \" backslash \\ tab \t nl \n ctl \1 bad \255 utf8 \u{e9}\u{1F600} %s")
      log.warn("w")
      log.debug("hidden")
    ]]):format(SECRET, SECRET))
    eq(r.code, 0)
    child.write(dir .. "/lines", r.stderr)
    local p = io.popen("python3 -c " .. child.quote([[
import json, re, sys
for line in open(sys.argv[1], encoding="utf-8"):
    o = json.loads(line)
    assert sorted(o) == ["level", "msg", "time"], o
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o["time"]), o["time"]
    print(o["level"], json.dumps(o["msg"]))
]]) .. " " .. child.quote(dir .. "/lines"))
    local out = p:read("a")
    ok(p:close(), "python3 could not parse the lines:\n" .. r.stderr)
    eq(out, 'info "quote \\" backslash \\\\ tab \\t nl \\n ctl \\u0001 bad \\ufffd utf8 \\u00e9\\ud83d\\ude00 ***"\n'
      .. 'warning "w"\n')
    child.rmtree(dir)
  end)
end)

describe("annotations", function()
  local body = [[
    log.annotate{ level = "error", message = "100% done\r\nnext: a,b", file = "src/a,b:c.py", line = 12,
                  title = "Lint: E1, E2" }
    log.annotate{ level = "warning", message = "plain" }
    log.annotate{ message = "a notice", file = "f.py" }
  ]]

  it("escape the message and the properties as GitHub documents", function()
    local r = script(body, actions())
    eq(r.stdout, "::error file=src/a%2Cb%3Ac.py,line=12,title=Lint%3A E1%2C E2::100%25 done%0D%0Anext: a,b\n"
      .. "::warning::plain\n::notice file=f.py::a notice\n")
  end)

  it("are masked before they are escaped", function()
    local r = script(("log.secret(%q) log.annotate{ level = 'error', message = 'bad %s', title = %q }")
      :format(SECRET, SECRET, SECRET), actions())
    eq(r.stdout, "::add-mask::" .. SECRET .. "\n::error title=***::bad ***\n")
  end)

  it("are compiler-style lines on stderr outside Actions", function()
    local r = script(body)
    eq(r.stdout, "")
    eq(r.stderr, "src/a,b:c.py:12: error: Lint: E1, E2: 100% done\r\nnext: a,b\n"
      .. "warning: plain\nf.py: notice: a notice\n")
  end)

  it("reject a bad level", function()
    contains(script("log.annotate{ level = 'fatal', message = 'x' }").stderr, "invalid option 'fatal'")
  end)
end)

describe("groups", function()
  local body = [[
    print(log.group("Build", function(a, b) print("inside", a, b) return a + b, "x" end, 1, 2))
    local good, err = pcall(log.group, "Fails", function() error("broke") end)
    print(good, err)
    local good2, e2 = pcall(log.group_end)
    print(good2, e2)
  ]]

  it("open and close under Actions, return fn's results, close on error and re-raise it", function()
    local r = script(body, actions())
    eq(r.code, 0)
    ok(r.stdout:find("^::group::Build\ninside\t1\t2\n::endgroup::\n3\tx\n::group::Fails\n::endgroup::\n"
      .. "false\t/tmp/[^\n]*main%.lua:3: broke\nfalse\t[^\n]*no group is open\n$"), r.stdout)
  end)

  it("let fn yield inside a coroutine", function()
    local r = script([[
      local co = coroutine.wrap(function()
        return log.group("Async", function() print("yielded", coroutine.yield("y")) return "done" end)
      end)
      print(co())
      print(co("resumed"))
    ]], actions())
    eq(r, { code = 0, stdout = "::group::Async\ny\nyielded\tresumed\n::endgroup::\ndone\n", stderr = "" })
  end)

  it("print a heading outside Actions", function()
    local r = script(body)
    eq(r.stderr, "== Build\n== Fails\n")
    ok(r.stdout:find("^inside\t1\t2\n3\tx\nfalse\t"), r.stdout)
  end)

  it("keep an uncaught error's traceback and position and still close the group", function()
    local r = script("log.group('G', function()\n  error('deep')\nend)\n", actions({ RELRUN_DEBUG = "1" }))
    eq(r.code, 1)
    eq(r.stdout, "::group::G\n::endgroup::\n")
    ok(r.stderr:find("^relrun: [^\n]*main%.lua:3: deep\nstack traceback:\n"), r.stderr)
    contains(r.stderr, "main.lua:3: in function <")
  end)
end)

describe("workflow commands in logged text", function()
  local ZWSP = "\u{200B}"
  -- Which lines of `text` the Actions runner would take as commands
  -- (actions/runner ActionCommand: a line that starts with "::" after
  -- .NET's TrimStart, or holds "##[" anywhere).
  local BLANKS = { " ", "\t", "\v", "\f", "\r", "\u{85}", "\u{A0}", "\u{1680}", "\u{2000}", "\u{2005}",
                   "\u{200A}", "\u{2028}", "\u{2029}", "\u{202F}", "\u{205F}", "\u{3000}" }
  local function commands(text)
    local found = {}
    for line in text:gmatch("[^\n]+") do
      local rest, trimmed = line, true
      while trimmed do
        trimmed = false
        for _, b in ipairs(BLANKS) do
          if rest:sub(1, #b) == b then rest, trimmed = rest:sub(#b + 1), true end
        end
      end
      if rest:sub(1, 2) == "::" or line:find("##[", 1, true) then found[#found + 1] = line end
    end
    return found
  end
  local hostile = table.concat({ "push refused by the hook:", "::stop-commands::relrun", "  ::error::fake",
    "\u{A0}\u{3000}::group::owned", "note ##[add-mask]x", "a::b stays", "::" }, "\n")

  it("are made inert under Actions and read the same", function()
    local r = script("log.info(...)\nlog.warn(...)\nerror((...), 0)", actions(), { hostile })
    eq(r.code, 1)
    eq(#commands(hostile), 5, "the runner's reading finds the five commands in the raw text")
    eq(commands(r.stderr), {})
    local plain = r.stderr:gsub(ZWSP, "")
    eq(plain, hostile .. "\nwarning: " .. hostile .. "\nrelrun: " .. hostile .. "\n")
    contains(r.stderr, ":" .. ZWSP .. ":stop-commands::relrun")
    contains(r.stderr, "#" .. ZWSP .. "#[add-mask]")
    contains(r.stderr, "a::b stays")
  end)

  it("and in JSON lines", function()
    local r = script("log.set_json(true)\nlog.info(...)", actions(), { "x ##[group]y" })
    eq(commands(r.stderr), {})
    contains(r.stderr, '"msg":"x #' .. ZWSP .. '#[group]y"')
  end)

  it("stay as they are outside Actions, and relrun's own commands still work", function()
    local r = script("log.info(...)", nil, { hostile })
    eq(r.stderr, hostile .. "\n")
    r = script("log.group('G', function() log.annotate{ level = 'warning', message = 'w' } end)", actions())
    eq(commands(r.stdout), { "::group::G", "::warning::w", "::endgroup::" })
  end)
end)

describe("outputs and summary", function()
  local dir
  before_each(function() dir = child.tmpdir() end)
  after_each(function() child.rmtree(dir) end)

  it("write name=value and multi-line heredocs that GitHub reads back exactly", function()
    local env = actions({ GITHUB_OUTPUT = dir .. "/out" })
    local r = script(([[
      log.secret(%q)
      print(log.output("version", "1.2.3"))
      print(log.output("notes", "line one\n\nline three = x<<y\n"))
      print(log.output("token", "t=%s"))
      print(log.output("empty", ""))
      print(log.output("crlf", "a\r\nb"))
      print(pcall(log.output, "bad name", "x"))
    ]]):format(SECRET, SECRET), env)
    eq(r.code, 0)
    local text = child.read(dir .. "/out")
    eq(parse_github_output(text), {
      version = "1.2.3", notes = "line one\n\nline three = x<<y\n", token = "t=***", empty = "",
    })
    ok(text:find("\nnotes<<ghadelimiter_%x+\n"), text)
    ok(r.stdout:find("^::add%-mask::[^\n]*\ntrue\ntrue\ntrue\ntrue\n"
      .. "nil\toutput value has a carriage return[^\n]*\tEINVAL\n"
      .. "false\t[^\n]*an output name is letters, digits"), r.stdout)
  end)

  it("use a new random delimiter each time", function()
    script("log.output('a', 'x\\ny') log.output('b', 'x\\ny')", actions({ GITHUB_OUTPUT = dir .. "/out" }))
    local d1, d2 = child.read(dir .. "/out"):match("^a<<(%S+)\n.-\nb<<(%S+)\n")
    ok(d1 and d2 and d1 ~= d2, "two different delimiters")
  end)

  it("are no-ops without their files", function()
    eq(script("print(log.output('a', 'b'), log.summary('# x'))").stdout, "false\tfalse\n")
  end)

  it("append to the step summary, masked", function()
    local env = actions({ GITHUB_STEP_SUMMARY = dir .. "/sum" })
    child.write(dir .. "/sum", "# Earlier step\n")
    local r = script(("log.secret(%q) print(log.summary('## Release\\n')) print(log.summary('token %s\\n'))")
      :format(SECRET, SECRET), env)
    eq(r.stdout, "::add-mask::" .. SECRET .. "\ntrue\ntrue\n")
    eq(child.read(dir .. "/sum"), "# Earlier step\n## Release\ntoken ***\n")
  end)

  it("cap the step summary at 1 MiB with a warning", function()
    local env = { GITHUB_STEP_SUMMARY = dir .. "/sum" }
    child.write(dir .. "/sum", ("x"):rep(1024 * 1024 - 200) .. "\n")
    local r = script([[
      print(log.summary(("line\n"):rep(10)))
      print(log.summary(("more\n"):rep(100)))
      print(log.summary("after the cap\n"))
    ]], env)
    local sum = child.read(dir .. "/sum")
    ok(#sum <= 1024 * 1024, "summary is " .. #sum .. " bytes")
    ok(sum:find("line\nmore\n", 1, true), "the part that fits is kept, whole lines")
    ok(sum:find("\n> relrun: step summary cut at 1 MiB %(GitHub's limit%)\n$"), sum:sub(-200))
    ok(r.stdout:find("^true\nnil\tstep summary is full %(1 MiB%): %d+ bytes left out\tEFBIG\n"
      .. "nil\tstep summary is full %(1 MiB%): 14 bytes left out\tEFBIG\n$"), r.stdout)
    ok(r.stderr:find("^warning: step summary is capped at 1 MiB; %d+ bytes left out"), r.stderr)
    eq(select(2, r.stderr:gsub("\n", "")), 1, "one warning")
  end)
end)
