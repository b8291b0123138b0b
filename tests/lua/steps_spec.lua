-- relrun.steps: the one plan engine — kinds, journal bound to the commit,
-- resume, dry run, the failure report and its hint, undo.
local steps = require "relrun.steps"
local errors = require "relrun.errors"
local fs = require "relrun.fs"
local json = require "relrun.json"

local BIND = { version = "9.9.9", commit = "c1", tree = "t1" }

-- A plan of three steps over a fake world `effects`: build (local),
-- upload (change), verify (check). fail_at names a step that raises.
local function new_plan(dir, log, effects, opts)
  opts = opts or {}
  local lines = {}
  local plan = steps.plan{ title = "publish 9.9.9", journal = dir .. "/journal.json", bind = opts.bind or BIND,
                           command = "relrun scripts/release.lua publish --x",
                           finished = "Released 9.9.9.", out = function(s) lines[#lines + 1] = s end }
  local kinds = { build = "local", upload = "change", verify = "check" }
  for _, name in ipairs({ "build", "upload", "verify" }) do
    plan:add{
      name = name, does = "do " .. name, kind = kinds[name], effect = name == "upload" and "uploaded" or nil,
      check = name ~= "verify" and function(_, evidence)
        return effects[name] ~= nil and evidence ~= nil and evidence.value == effects[name], evidence
      end or nil,
      run = function(ctx)
        log[#log + 1] = name
        if opts.fail_at == name then
          errors.raise("BROKE", name .. " broke", { hint = opts.hint, rerun = opts.rerun })
        end
        if name == "verify" then return { outcome = "fine" } end
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

  it("runs every step once, journals local and change steps with the binding, and says it is done", function()
    local log, effects = {}, {}
    local plan, lines = new_plan(tmp.path, log, effects)
    local ctx = {}
    eq(plan:run(ctx), true)
    eq(log, { "build", "upload", "verify" })
    eq(ctx.seen, "buildupload")
    eq(ctx.evidence.verify.outcome, "fine")
    local j = json.decode(fs.read(tmp.path .. "/journal.json"))
    eq(j.bind, BIND)
    eq(j.steps.upload.evidence.value, "upload-done")
    eq(j.steps.verify, nil, "checks are not journaled")
    eq(lines[1], "publish 9.9.9")
    eq(lines[#lines], "Released 9.9.9.")
    contains(table.concat(lines, "\n"), "✓ verify: fine")
  end)

  it("a rerun skips what is done and still verified; checks run again", function()
    local log, effects = {}, {}
    new_plan(tmp.path, log, effects):run({})
    local log2 = {}
    local plan, lines = new_plan(tmp.path, log2, effects)
    eq(plan:run({}), true)
    eq(log2, { "verify" })
    contains(table.concat(lines, "\n"), "✓ upload: already done (journal verified)")
  end)

  it("a journal of another commit is not trusted: everything runs again", function()
    local log, effects = {}, {}
    new_plan(tmp.path, log, effects):run({})
    local log2 = {}
    local plan, lines = new_plan(tmp.path, log2, effects, { bind = { version = "9.9.9", commit = "c2", tree = "t2" } })
    eq(plan:run({}), true)
    eq(log2, { "build", "upload", "verify" })
    contains(table.concat(lines, "\n"), "was of c1, not c2: not trusted")
    eq(json.decode(fs.read(tmp.path .. "/journal.json")).bind.commit, "c2")
  end)

  it("a journaled step whose effect is gone runs again", function()
    local log, effects = {}, {}
    new_plan(tmp.path, log, effects):run({})
    effects.upload = nil
    local log2 = {}
    eq(new_plan(tmp.path, log2, effects):run({}), true)
    eq(log2, { "upload", "verify" })
  end)

  it("a failure reports done / FAILED / not done and what this run changed; the error names the step and the rerun", function()
    local log, effects = {}, {}
    local plan, lines = new_plan(tmp.path, log, effects, { fail_at = "verify", hint = "check the index" })
    local good, err = plan:run({})
    eq(good, nil)
    local text = table.concat(lines, "\n")
    contains(text, "publish 9.9.9 stopped at step 'verify':")
    contains(text, "  done      build\n  done      upload\n  FAILED    verify")
    contains(text, "This run did: uploaded.")
    ok(not text:find("broke", 1, true), "the message itself is printed once, by the host, not in the report")
    ok(errors.is(err, "BROKE"), "the step's code is kept")
    eq(err.step, "verify")
    eq(tostring(err), "verify: verify broke; check the index; then rerun `relrun scripts/release.lua publish --x`")
  end)

  it("a failure before anything changed says so; rerun = false leaves the rerun out of the hint", function()
    local plan, lines = new_plan(tmp.path, {}, {}, { fail_at = "build", hint = "fix it in a new commit", rerun = false })
    local _, err = plan:run({})
    local text = table.concat(lines, "\n")
    contains(text, "  not done  upload, verify")
    contains(text, "This run changed nothing.")
    eq(tostring(err), "build: build broke; fix it in a new commit")
  end)

  it("resumes after a failure: the rerun starts where it stopped", function()
    local effects = {}
    new_plan(tmp.path, {}, effects, { fail_at = "upload" }):run({})
    eq(effects.build, "build-done")
    local log = {}
    eq(new_plan(tmp.path, log, effects):run({}), true)
    eq(log, { "upload", "verify" })
  end)

  it("a dry run runs checks and local steps, only asks change steps, and changes nothing outside", function()
    local log, effects = {}, {}
    local plan, lines = new_plan(tmp.path, log, effects)
    eq(plan:run({}, { dry_run = true }), true)
    eq(log, { "build", "verify" })
    eq(effects.upload, nil)
    local text = table.concat(lines, "\n")
    contains(text, "publish 9.9.9 — dry run, nothing is changed:")
    contains(text, "2. upload  do upload  [will run]")
    contains(text, "3. verify  do verify  [fine]")
    -- the local step's evidence is journaled: a real run does not build again
    local log2 = {}
    eq(new_plan(tmp.path, log2, effects):run({}), true)
    eq(log2, { "upload", "verify" })
  end)

  it("a dry run reports a failing check and returns its error", function()
    local plan, lines = new_plan(tmp.path, {}, {}, { fail_at = "verify" })
    local good, err = plan:run({}, { dry_run = true })
    eq(good, nil)
    contains(table.concat(lines, "\n"), "[FAILS: verify broke]")
    eq(err.step, "verify")
  end)

  it("the journal can be named once the version is known", function()
    local plan = steps.plan{ title = "tag", out = function() end,
                             journal = function(ctx) return tmp.path .. "/j-" .. ctx.version .. ".json", BIND end }
    plan:add{ name = "version", kind = "check", run = function(ctx) ctx.version = "1.0" end }
    plan:add{ name = "build", kind = "local", run = function() return { value = 1 } end }
    eq(plan:run({}), true)
    ok(fs.exists(tmp.path .. "/j-1.0.json"), "journal named after the version")
  end)

  it("undo runs the journaled undos, last first", function()
    local log, effects = {}, {}
    local plan = new_plan(tmp.path, log, effects)
    plan:run({})
    log = {}
    local again = new_plan(tmp.path, log, effects)
    eq(again:undo({}), true)
    eq(log, { "undo upload", "undo build" })
    eq(effects.build, nil)
  end)

  -- A preflight: a check held back until a step is about to write.
  local function with_preflight(plan, log, opts)
    opts = opts or {}
    local step = { name = "preflight", kind = "check", before_changes = true, does = "can write",
      run = function()
        log[#log + 1] = "preflight"
        if opts.refuse then errors.raise("REFUSED", "the target refuses writes") end
        return { outcome = "writable" }
      end }
    table.insert(plan.steps, 1, step)
    return plan
  end

  it("runs a before_changes check just before the first step that writes, and not when nothing is left", function()
    local log, effects = {}, {}
    local plan = new_plan(tmp.path, log, effects)
    with_preflight(plan, log)
    eq(plan:run({}), true)
    eq(log, { "preflight", "build", "upload", "verify" })
    log = {}
    local lines
    plan, lines = new_plan(tmp.path, log, effects)
    with_preflight(plan, log)
    eq(plan:run({}), true)
    eq(log, { "verify" }, "a finished release asks no one whether it may write")
    contains(table.concat(lines, "\n"), "✓ preflight: not needed, nothing left to write")
  end)

  it("a held-back check that fails is the step reported, with what really was done", function()
    local log, effects = {}, { build = "build-done" }
    local plan = new_plan(tmp.path, log, effects)
    assert(plan:run({}))   -- all done once
    effects.upload = nil    -- the upload is gone: the rerun must write again
    log = {}
    local lines
    plan, lines = new_plan(tmp.path, log, effects)
    with_preflight(plan, log, { refuse = true })
    local good, err = plan:run({})
    eq(good, nil)
    eq(err.step, "preflight")
    eq(log, { "preflight" }, "nothing written after the refusal")
    local text = table.concat(lines, "\n")
    contains(text, "FAILED    preflight")
    contains(text, "done      build")
    contains(text, "not done  upload, verify")
  end)

  it("a failure where nothing was left to write reports the held-back check as skipped", function()
    local log, effects = {}, {}
    assert(new_plan(tmp.path, log, effects):run({}))
    log = {}
    local plan, lines = new_plan(tmp.path, log, effects, { fail_at = "verify" })
    with_preflight(plan, log)
    eq(plan:run({}), nil)
    eq(log, { "verify" })
    contains(table.concat(lines, "\n"), "skipped   preflight")
  end)

  it("refuses a malformed plan", function()
    local plan = steps.plan{ title = "x" }
    plan:add{ name = "a", run = function() end }
    raises(function() plan:add{ name = "a", run = function() end } end, "two steps named")
    raises(function() plan:add{ name = "b" } end, "needs a run function")
    raises(function() plan:add{ name = "c", kind = "other", run = function() end } end, "kind is check, local or change")
  end)
end)
