-- relrun.steps: a release as a list of steps, each with a check, a run and
-- an undo (DESIGN.md).
--
--   local plan = steps.new{ title = "publish 1.2.3", journal = ".relrun/journal-1.2.3.json",
--                           resume = "relrun scripts/release.lua publish",
--                           rollback = "relrun scripts/rollback.lua 1.2.3" }
--   plan:add{ name = "build", does = "build the wheel and the sdist",
--             check = function(ctx, evidence) return done, evidence end,  -- read-only
--             run = function(ctx) return evidence end,
--             undo = function(ctx, evidence) end }
--   local ok, err = plan:run(ctx, { dry_run = false })
--
-- check(ctx, evidence) is asked before a step runs, with the evidence the
-- journal holds for it (nil on a first run). It answers whether the step's
-- effect is already there — and then the evidence of it — without changing
-- anything; a rerun skips what is done and still verified. run(ctx) does the
-- work and returns its evidence (file hashes, URLs), which is journaled at
-- once, atomically, so an interruption leaves the journal consistent.
-- Evidence is also kept in ctx.evidence[name] for the steps that follow.
local fs = require "relrun.fs"
local json = require "relrun.json"
local host = require "relrun.host"

local M = {}
local Plan = {}
Plan.__index = Plan

local JOURNAL_FORMAT = 1

function M.new(opts)
  assert(type(opts) == "table" and opts.title, "steps.new needs { title = ... }")
  return setmetatable({
    title = opts.title,
    journal_path = opts.journal,
    resume_command = opts.resume,
    rollback_command = opts.rollback,
    out = opts.out or print,
    steps = {},
  }, Plan)
end

function Plan:add(step)
  assert(type(step.name) == "string", "a step needs a name")
  assert(type(step.run) == "function", "step '" .. step.name .. "' needs a run function")
  for _, s in ipairs(self.steps) do
    assert(s.name ~= step.name, "two steps named '" .. step.name .. "'")
  end
  self.steps[#self.steps + 1] = step
  return self
end

-- The journal: { format, title, steps = { name = { status, evidence, finished_at } } }.
local function load_journal(path)
  if not path or not fs.exists(path) then return { format = JOURNAL_FORMAT, steps = {} } end
  local text, err = fs.read(path)
  if not text then error({ message = "cannot read the journal " .. path .. ": " .. err }) end
  local data = json.decode(text)
  if type(data) ~= "table" or data.format ~= JOURNAL_FORMAT or type(data.steps) ~= "table" then
    error({ message = "the journal " .. path .. " is not one relrun wrote; move it away and rerun" })
  end
  return data
end

function Plan:save_journal(journal)
  if not self.journal_path then return end
  journal.title = self.title
  journal.updated_at = os.date("!%Y-%m-%dT%H:%M:%SZ")
  local dir = fs.dirname(self.journal_path)
  local ok, err = fs.mkdir(dir)
  -- atomic, not fsynced: rewritten after every step, it must be consistent, and a
  -- power cut in CI loses the machine anyway
  if ok then ok, err = fs.write(self.journal_path, host.mask(json.encode(journal)) .. "\n", { sync = false }) end
  if not ok then error({ message = "cannot write the journal " .. self.journal_path .. ": " .. err }) end
end

local function call_check(step, ctx, evidence)
  if not step.check then return false end
  local done, found = step.check(ctx, evidence)
  return done and true or false, found or evidence
end

-- What each step would do, and whether it is already done. Changes nothing.
function Plan:explain(ctx)
  local journal = load_journal(self.journal_path)
  ctx.evidence = ctx.evidence or {}
  local rows = {}
  for i, step in ipairs(self.steps) do
    local entry = journal.steps[step.name]
    local good, done, found = pcall(call_check, step, ctx, entry and entry.evidence)
    local state
    if not good then state = "cannot check: " .. tostring(type(done) == "table" and done.message or done)
    elseif done then state = "done, will skip"
    else state = "will run" end
    -- later checks compare with what earlier steps found (the built files)
    if good and done then ctx.evidence[step.name] = found
    elseif entry then ctx.evidence[step.name] = ctx.evidence[step.name] or entry.evidence end
    rows[#rows + 1] = { index = i, name = step.name, does = step.does or step.name, state = state }
  end
  return rows
end

function Plan:print_plan(ctx)
  self.out(self.title .. " — plan (dry run, nothing is changed):")
  for _, r in ipairs(self:explain(ctx)) do
    self.out(string.format("  %d. %-10s %s  [%s]", r.index, r.name, r.does, r.state))
  end
end

local function message_of(err)
  if type(err) == "table" then return err.message or tostring(err) end
  return tostring(err)
end

function Plan:report_failure(failed_index, err, interrupted)
  local out = self.out
  local step = self.steps[failed_index]
  out("")
  out(string.format("%s: step '%s' %s", self.title, step.name,
    interrupted and "was interrupted" or ("failed: " .. message_of(err))))
  for i, s in ipairs(self.steps) do
    local mark = i < failed_index and "done" or (i == failed_index and "FAILED" or "not done")
    if interrupted and i == failed_index then mark = "interrupted" end
    out(string.format("  %-11s %s", mark, s.name))
  end
  if self.resume_command then out("To continue after fixing the cause: " .. self.resume_command) end
  if self.rollback_command then out("To roll back what was done: " .. self.rollback_command) end
end

-- Run every step that is not done. Returns true, or nil and the error
-- (after reporting it). An interruption is reported and raised again.
function Plan:run(ctx, opts)
  opts = opts or {}
  ctx = ctx or {}
  ctx.evidence = ctx.evidence or {}
  if opts.dry_run then
    self:print_plan(ctx)
    return true
  end
  local journal = load_journal(self.journal_path)
  for i, step in ipairs(self.steps) do
    local entry = journal.steps[step.name]
    local good, err = pcall(function()
      local done, evidence = call_check(step, ctx, entry and entry.evidence)
      if done then
        self.out(string.format("✓ %s: already done%s", step.name,
          entry and entry.status == "done" and " (journal verified)" or ""))
      else
        self.out(string.format("→ %s: %s", step.name, step.does or ""))
        evidence = step.run(ctx) or {}
        self.out(string.format("✓ %s", step.name))
      end
      ctx.evidence[step.name] = evidence
      journal.steps[step.name] = { status = "done", evidence = evidence,
                                   finished_at = os.date("!%Y-%m-%dT%H:%M:%SZ") }
      self:save_journal(journal)
    end)
    if not good then
      local interrupted = host.is_interruption(err)
      self:report_failure(i, err, interrupted)
      if interrupted then error(err, 0) end
      return nil, err
    end
  end
  return true
end

-- Undo the journaled steps, last first. Returns true or nil, err.
function Plan:undo(ctx)
  local journal = load_journal(self.journal_path)
  for i = #self.steps, 1, -1 do
    local step = self.steps[i]
    local entry = journal.steps[step.name]
    if entry and step.undo then
      self.out("↶ " .. step.name)
      local good, err = pcall(step.undo, ctx or {}, entry.evidence)
      if not good then return nil, err end
      journal.steps[step.name] = nil
      self:save_journal(journal)
    end
  end
  return true
end

return M
