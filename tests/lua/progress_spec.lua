-- relrun.progress: a long child shows life in a log (a line every
-- LOG_EVERY seconds), its output is kept, and shown with `show`.
local proc = require "relrun.proc"

local RELRUN = os.getenv("RELRUN")

local function child(code, env)
  local e = { RELRUN_PROGRESS_EVERY = "0.4", GITHUB_ACTIONS = false, RELRUN_LOG = false }
  for k, v in pairs(env or {}) do e[k] = v end
  return assert(proc.run{ argv = { RELRUN, "-e", code }, env = e })
end

describe("progress", function()
  it("a silent child gets a line every few seconds in a log, with the elapsed time", function()
    local r = child([[
      local r = require("relrun.progress").run{ what = "a nap", argv = { "sleep", "1.3" } }
      print(r.code, #r.lines)]])
    eq(r.code, 0, r.stderr)
    eq(r.stdout, "0\t0\n")
    local _, lines = r.stderr:gsub("  … a nap %(%d s%)\n", "")
    ok(lines >= 2, "progress lines: " .. r.stderr)
  end)

  it("keeps the child's output, and shows it as it comes with `show`", function()
    local code = [[
      local r = require("relrun.progress").run{ what = "talk", argv = { "sh", "-c", "echo one; echo two >&2" },
                                                show = %s }
      print(table.concat(r.lines, ","))]]
    local quiet = child(code:format("false"))
    eq(quiet.stdout, "one,two\n")
    ok(not quiet.stderr:find("one", 1, true), "not shown: " .. quiet.stderr)
    local shown = child(code:format("true"))
    contains(shown.stderr, "    one\n")
    contains(shown.stderr, "    two\n")
  end)

  it("with keep = false, hands each line to on_line and keeps none (output that may be gigabytes)", function()
    local r = child([[
      local seen = 0
      local r = require("relrun.progress").run{ what = "talk", argv = { "seq", "1", "1000" }, keep = false,
                                                on_line = function() seen = seen + 1 end }
      print(r.code, seen, #r.lines)]])
    eq(r.stdout, "0\t1000\t0\n", r.stderr)
  end)

  it("says nothing at the quiet level", function()
    local r = child([[require("relrun.progress").run{ what = "a nap", argv = { "sleep", "1" } }]],
      { RELRUN_LOG = "quiet" })
    eq(r.stderr, "")
  end)

  it("does queued housekeeping while the next child runs, and what is left when settled", function()
    local r = child([[
      local progress, host = require "relrun.progress", require "relrun.host"
      local seen = {}
      local started = host.monotime()
      progress.meanwhile(function() seen[#seen + 1] = string.format("first %.1f", host.monotime() - started) end)
      progress.meanwhile(function() error("a cleanup that fails") end)
      -- the child prints when it starts: the housekeeping ran before it ended
      local run = progress.run{ what = "a child", argv = { "sh", "-c", "sleep 0.5; echo done" } }
      seen[#seen + 1] = "child " .. run.lines[1]
      progress.meanwhile(function() seen[#seen + 1] = "second" end)
      progress.settle()
      progress.settle()   -- nothing left: nothing runs twice
      print(table.concat(seen, ", "))]])
    eq(r.code, 0, r.stderr)
    ok(r.stdout:match("^first 0%.0, child done, second\n$"), r.stdout)
    contains(r.stderr, "a cleanup that fails")
  end)

  it("capture: a probe's output whole, as proc.run gives it, the housekeeping done while it runs", function()
    local r = child([[
      local progress, host = require "relrun.progress", require "relrun.host"
      local started, at = host.monotime(), nil
      progress.meanwhile(function() at = host.monotime() - started end)
      local got = progress.capture{ argv = { "sh", "-c", "sleep 0.3; echo out; echo err >&2; exit 3" } }
      local took = host.monotime() - started
      print(got.stdout:gsub("\n", ""), got.stderr:gsub("\n", ""), got.code, at < 0.2, took >= 0.3)
      print(progress.capture{ argv = { "relrun-no-such-program" } })]])
    eq(r.code, 0, r.stderr)
    local lines = {}
    for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
    eq(lines[1], "out\terr\t3\ttrue\ttrue")
    contains(lines[2], "nil\tcannot run relrun-no-such-program: not found on PATH\tENOENT")
  end)
end)
