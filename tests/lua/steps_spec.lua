-- relrun.steps: plan, journal, resume, failure report, undo.
local steps = require "relrun.steps"
local fs = require "relrun.fs"
local json = require "relrun.json"

local function new_plan(dir, log, effects, fail_at)
  local lines = {}
  local plan = steps.new{ title = "publish 9.9.9", journal = dir .. "/journal.json",
                          resume = "relrun scripts/release.lua publish",
                          rollback = "relrun scripts/rollback.lua 9.9.9",
                          out = function(s) lines[#lines + 1] = s end }
  for _, name in ipairs({ "build", "upload", "verify" }) do
    plan:add{
      name = name, does = "do " .. name,
      check = function(_, evidence)
        return effects[name] ~= nil and evidence ~= nil and evidence.value == effects[name], evidence
      end,
      run = function(ctx)
        log[#log + 1] = name
        if fail_at == name then error({ message = name .. " broke" }) end
        effects[name] = name .. "-done"
        ctx.seen = (ctx.seen or "") .. name
        return { value = effects[name] }
      end,
      undo = function(_, evidence)
        log[#log + 1] = "undo " .. name
        if effects[name] == evidence.value then effects[name] = nil end
      end,
    }
  end
  return plan, lines
end

describe("steps", function()
  local tmp
  before_each(function() tmp = fs.tempdir("steps") end)
  after_each(function() tmp:close() end)

  it("runs every step once and journals the evidence", function()
    local log, effects = {}, {}
    local plan = new_plan(tmp.path, log, effects)
    eq(plan:run({}), true)
    eq(log, { "build", "upload", "verify" })
    local j = json.decode(fs.read(tmp.path .. "/journal.json"))
    eq(j.steps.upload.status, "done")
    eq(j.steps.upload.evidence.value, "upload-done")
  end)

  it("a rerun skips what is done and still verified", function()
    local log, effects = {}, {}
    new_plan(tmp.path, log, effects):run({})
    local log2 = {}
    local plan, lines = new_plan(tmp.path, log2, effects)
    eq(plan:run({}), true)
    eq(log2, {})
    contains(table.concat(lines, "\n"), "already done (journal verified)")
  end)

  it("a journaled step whose effect is gone runs again", function()
    local log, effects = {}, {}
    new_plan(tmp.path, log, effects):run({})
    effects.upload = nil
    local log2 = {}
    new_plan(tmp.path, log2, effects):run({})
    eq(log2, { "upload" })
  end)

  it("a failure says what was done, what was not and how to go on", function()
    local log, effects = {}, {}
    local plan, lines = new_plan(tmp.path, log, effects, "upload")
    local good, err = plan:run({})
    eq(good, nil)
    eq(err.message, "upload broke")
    local text = table.concat(lines, "\n")
    contains(text, "step 'upload' failed: upload broke")
    contains(text, "done        build")
    contains(text, "FAILED      upload")
    contains(text, "not done    verify")
    contains(text, "relrun scripts/release.lua publish")
    contains(text, "relrun scripts/rollback.lua 9.9.9")
    -- then a rerun converges to the same state as a clean run
    local log2 = {}
    eq(new_plan(tmp.path, log2, effects):run({}), true)
    eq(log2, { "upload", "verify" })
    eq(effects, { build = "build-done", upload = "upload-done", verify = "verify-done" })
  end)

  it("a dry run changes nothing and shows each step's state", function()
    local log, effects = {}, {}
    new_plan(tmp.path, log, effects, "verify"):run({})
    local log2 = {}
    local plan, lines = new_plan(tmp.path, log2, effects)
    eq(plan:run({}, { dry_run = true }), true)
    eq(log2, {})
    local text = table.concat(lines, "\n")
    contains(text, "1. build      do build  [done, will skip]")
    contains(text, "3. verify     do verify  [will run]")
  end)

  it("undo reverts journaled steps last first", function()
    local log, effects = {}, {}
    local plan = new_plan(tmp.path, log, effects)
    plan:run({})
    eq(plan:undo({}), true)
    eq({ log[4], log[5], log[6] }, { "undo verify", "undo upload", "undo build" })
    eq(effects, {})
  end)

  it("refuses a journal it did not write", function()
    fs.write(tmp.path .. "/journal.json", '{"something": "else"}')
    local plan = new_plan(tmp.path, {}, {})
    raises(function() plan:run({}) end, "not one relrun wrote")
  end)
end)
