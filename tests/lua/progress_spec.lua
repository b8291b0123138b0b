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

  it("says nothing at the quiet level", function()
    local r = child([[require("relrun.progress").run{ what = "a nap", argv = { "sleep", "1" } }]],
      { RELRUN_LOG = "quiet" })
    eq(r.stderr, "")
  end)
end)
