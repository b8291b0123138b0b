-- relrun.steps: the one plan engine. A release, a rollback and a set-up are
-- each a plan: a list of steps run in order by the same loop, which prints
-- them, journals what finished, resumes a rerun from the journal, shows a dry
-- run, and on failure says what this run did, what is left, and the next step.
--
--   local plan = steps.plan{
--     title = "publish stock-pipeline 1.2.3",
--     journal = ".relrun/journal-1.2.3.json",          -- optional
--     bind = { version = "1.2.3", commit = id, tree = id },   -- a journal of anything else is not trusted
--     -- or journal = function(ctx) return path, bind end, asked before the
--     -- first step that is not a check (when the version is known)
--     command = "relrun release publish",   -- what a rerun runs, as the user typed it
--     finished = "Released stock-pipeline 1.2.3",       -- the last line of a good run (or a function of ctx)
--   }
--   plan:add{ name = "build", does = "build the sdist, then the wheel from it", kind = "local",
--             check = function(ctx, evidence) return done, evidence end,
--             run = function(ctx) return evidence end,
--             undo = function(ctx, evidence) end }
--   local ok, err = plan:run(ctx, { dry_run = false })
--
-- Kinds of step:
--   "check"  read-only; runs every time (dry runs too); not journaled.
--   "local"  changes only this machine's files (a build); runs in dry runs too.
--   "change" (default) changes what others see (a tag pushed, files
--            uploaded); a dry run only asks its check. Its failure after
--            others of its kind ran is what makes a rerun, not a rollback,
--            the next step.
-- check(ctx, evidence) answers, without changing anything, whether the
-- step's effect is already there (and with what evidence); evidence is what
-- the journal holds for it, when the journal is this commit's. A third
-- value, a short note, says what the check found in the step's own words
-- ("exists", "differs; left alone", "would create"): shown instead of
-- "already done" (done) or "will run" (not done, in a dry run). run(ctx)
-- does the work and returns its evidence, journaled at once, atomically.
-- Each step's evidence is in ctx.evidence[name] for the steps after it.
-- Steps raise relrun.errors values; the plan returns the error it stopped
-- on, with a hint computed from what this run changed.
local fs = require "relrun.fs"
local json = require "relrun.json"
local host = require "relrun.host"
local errors = require "relrun.errors"
local progress = require "relrun.progress"

local M = {}
local Plan = {}
Plan.__index = Plan

local JOURNAL_FORMAT = 2

local function default_out(line)
  io.stdout:write(line, "\n")
  io.stdout:flush()   -- in a pipe, progress must come before the error on stderr
end

function M.plan(opts)
  assert(type(opts) == "table" and opts.title, "steps.plan needs { title = ... }")
  return setmetatable({
    title = opts.title, journal = opts.journal, bind = opts.bind, command = opts.command,
    journal_path = type(opts.journal) == "string" and opts.journal or nil,
    finished = opts.finished, out = opts.out or default_out, steps = {},
  }, Plan)
end
M.new = M.plan

function Plan:add(step)
  assert(type(step.name) == "string", "a step needs a name")
  assert(type(step.run) == "function", "step '" .. step.name .. "' needs a run function")
  step.kind = step.kind or "change"
  assert(step.kind == "check" or step.kind == "local" or step.kind == "change",
    "step '" .. step.name .. "': kind is check, local or change")
  for _, s in ipairs(self.steps) do
    assert(s.name ~= step.name, "two steps named '" .. step.name .. "'")
  end
  self.steps[#self.steps + 1] = step
  return self
end

---------------------------------------------------------------------------
-- The journal: { format, title, bind = {version, commit, tree}, steps = { name = { evidence, finished_at } } }
---------------------------------------------------------------------------

local function same_binding(a, b)
  if not a or not b then return a == b end
  for _, k in ipairs({ "version", "commit", "tree" }) do
    if a[k] ~= b[k] then return false end
  end
  return true
end

-- The journal to resume from: this plan's binding's, else an empty one (a
-- journal of another commit is set aside, never trusted).
function Plan:load_journal(ctx)
  if type(self.journal) == "function" then
    self.journal_path, self.bind = self.journal(ctx)
  end
  local empty = { format = JOURNAL_FORMAT, bind = self.bind, steps = {} }
  local path = self.journal_path
  if not path or not fs.exists(path) then return empty end
  local text, err = fs.read(path)
  if not text then errors.raise("JOURNAL", "cannot read the journal " .. path .. ": " .. err) end
  local data = json.decode(text)
  if type(data) ~= "table" or type(data.steps) ~= "table" then
    errors.raise("JOURNAL", "the journal " .. path .. " is not one relrun wrote", { hint = "move it away and rerun" })
  end
  if data.format ~= JOURNAL_FORMAT or not same_binding(data.bind, self.bind) then
    local was = type(data.bind) == "table" and data.bind.commit or "an unknown commit"
    self.set_aside = string.format("the journal %s was of %s, not %s: not trusted, started afresh", path,
      tostring(was):sub(1, 12), tostring(self.bind and self.bind.commit or "?"):sub(1, 12))
    return empty
  end
  return data
end

function Plan:save_journal(journal)
  if not self.journal_path then return end
  journal.title, journal.bind, journal.format = self.title, self.bind, JOURNAL_FORMAT
  journal.updated_at = os.date("!%Y-%m-%dT%H:%M:%SZ")
  local ok, err = true, nil
  if self.journal_dir ~= self.journal_path then   -- its folder made once per plan, not per step
    local dir = fs.dirname(self.journal_path)
    ok, err = fs.mkdir(dir)
    if ok then self.journal_dir = self.journal_path end
    -- .relrun/ holds state, built files and the local repository: git
    -- ignores it even where the project's .gitignore does not say so
    local ignore = fs.join(dir, ".gitignore")
    if ok and fs.basename(dir) == ".relrun" and not fs.exists(ignore) then
      fs.write(ignore, "# relrun's state, built files and local repository: never committed\n*\n", { sync = false })
    end
  end
  -- atomic, not fsynced: rewritten after every step, it must be consistent,
  -- and a power cut in CI loses the machine anyway
  if ok then ok, err = fs.write(self.journal_path, host.mask(json.encode(journal)) .. "\n", { sync = false }) end
  if not ok then errors.raise("JOURNAL", "cannot write the journal " .. self.journal_path .. ": " .. err) end
end

---------------------------------------------------------------------------
-- Dry run
---------------------------------------------------------------------------

local function call_check(step, ctx, evidence)
  if not step.check then return false end
  local done, found, note = step.check(ctx, evidence)
  return done and true or false, found or evidence, note
end

local function message_of(err)
  if errors.is(err) then return err.message end
  if type(err) == "table" and err.message then return tostring(err.message) end
  return tostring(err)
end

-- One step in a dry run -> state text, evidence, error. Checks and local
-- steps run (a local step only when its check says it is not done yet);
-- a change step is only asked whether it is done.
local function dry_step(step, ctx, entry)
  local good, done, found, note = pcall(call_check, step, ctx, entry and entry.evidence)
  if not good then
    if host.is_interruption(done) then error(done, 0) end
    return "cannot check: " .. message_of(done), entry and entry.evidence
  end
  if done then return note or "already done", found end
  if step.kind == "change" then return note or "will run", found end
  local ran, evidence = pcall(step.run, ctx)
  if not ran then
    if host.is_interruption(evidence) then error(evidence, 0) end
    return "FAILS: " .. message_of(evidence), nil, evidence
  end
  local outcome = type(evidence) == "table" and evidence.outcome
  if step.kind == "check" then return outcome or "ok", evidence end
  return "done here" .. (outcome and (": " .. outcome) or "") .. " (nothing outside this machine changed)", evidence
end

-- The dry run: every check and local step runs, every change step is only
-- asked; each row is printed as it is known. Local steps' evidence is
-- journaled (it is this machine's own state, bound to the commit), so a
-- real run after a dry run does not build again. -> rows, the first failure, its step.
function Plan:print_plan(ctx)
  ctx.evidence = ctx.evidence or {}
  self.out(self.title .. " — dry run, nothing is changed:")
  local width = 0
  for _, s in ipairs(self.steps) do width = math.max(width, #s.name) end
  local journal
  local rows, failure, failed_step = {}, nil, nil
  for i, step in ipairs(self.steps) do
    if step.kind ~= "check" and not journal then
      local good, j = pcall(self.load_journal, self, ctx)
      journal = good and j or { steps = {} }
      if self.set_aside then self.out("  note: " .. self.set_aside) end
    end
    local state, evidence, err = dry_step(step, ctx, journal and journal.steps[step.name])
    ctx.evidence[step.name] = evidence
    if step.kind == "local" and evidence and not err and state ~= "already done" then
      journal.steps[step.name] = { evidence = evidence, finished_at = os.date("!%Y-%m-%dT%H:%M:%SZ") }
      pcall(self.save_journal, self, journal)
    end
    local row = { index = i, name = step.name, does = step.does or step.name, state = state }
    rows[#rows + 1] = row
    self.out(string.format("  %d. %-" .. width .. "s  %s  [%s]", i, row.name, row.does, row.state))
    if err and not failure then failure, failed_step = err, step end
  end
  return rows, failure, failed_step
end

-- explain(ctx) -> rows, without printing them (rollback shows its own).
function Plan:explain(ctx)
  local out = self.out
  self.out = function() end
  local rows, failure = self:print_plan(ctx)
  self.out = out
  return rows, failure
end

---------------------------------------------------------------------------
-- Running
---------------------------------------------------------------------------

-- What this run changed, for the failure report and the hint.
local function changed_text(changed)
  if #changed == 0 then return "This run changed nothing." end
  local names = {}
  for k, c in ipairs(changed) do names[k] = c end
  return "This run did: " .. table.concat(names, ", ") .. "."
end

function Plan:report_failure(index, err, interrupted, changed, completed)
  local out = self.out
  local step = self.steps[index]
  out("")
  out(string.format("%s %s at step '%s':", self.title, interrupted and "was interrupted" or "stopped",
    step.name))
  local later = {}
  for i, s in ipairs(self.steps) do
    if i == index then out(string.format("  %-9s %s", interrupted and "STOPPED" or "FAILED", s.name))
    elseif completed[s.name] then out(string.format("  %-9s %s", "done", s.name))
    elseif i < index and s.before_changes then out(string.format("  %-9s %s", "skipped", s.name))   -- nothing wrote
    else later[#later + 1] = s.name end
  end
  if #later > 0 then out(string.format("  %-9s %s", "not done", table.concat(later, ", "))) end
  out(changed_text(changed))
  if interrupted and self.command then out("To finish: " .. self.command) end
  return err
end

-- The error the plan returns: the step's, named, with the next step. A
-- step's own hint says what to fix; the plan adds how to continue, unless
-- the step said a rerun cannot help (err.rerun == false).
local function final_error(self, step, err)
  local e = errors.is(err) and err or errors.from(message_of(err), "STEP_FAILED")
  local out = errors.wrap(e, step.name)
  out.step = step.name
  if e.rerun ~= false and e.exit ~= 2 and self.command then
    out.hint = (e.hint and (e.hint .. "; then ") or "fix the cause, then ") .. "rerun `" .. self.command .. "`"
  end
  return out
end

-- One step of a run: asked whether it is done, else run; its evidence
-- kept and, unless it is a check, journaled. `before_run()` is called just
-- before a step that writes runs: a local one (a build) or one with an
-- effect others see (an upload).
function Plan:step_once(run, step, before_run)
  local ctx = run.ctx
  if step.kind ~= "check" and not run.journal then
    run.journal = self:load_journal(ctx)
    if self.set_aside then self.out("note: " .. self.set_aside) end
  end
  local entry = run.journal and run.journal.steps[step.name] or nil
  local done, evidence, found_note = call_check(step, ctx, entry and entry.evidence)
  if done then
    self.out(string.format("✓ %s: %s%s", step.name, found_note or "already done", entry and " (journal verified)" or ""))
  else
    if step.kind == "local" or step.effect then before_run() end
    if step.kind ~= "check" then self.out(string.format("→ %s: %s", step.name, step.does or "")) end
    local started = host.monotime()
    evidence = step.run(ctx) or {}
    local took = host.monotime() - started
    local note = type(evidence) == "table" and evidence.outcome
    self.out(string.format("✓ %s%s%s", step.name, note and (": " .. note) or "",
      took >= 1 and (" (" .. progress.elapsed_text(took) .. ")") or ""))
    if step.effect then run.changed[#run.changed + 1] = step.effect end
  end
  ctx.evidence[step.name] = evidence
  run.completed[step.name] = true
  if step.kind ~= "check" then
    run.journal.steps[step.name] = { evidence = evidence, finished_at = os.date("!%Y-%m-%dT%H:%M:%SZ") }
    self:save_journal(run.journal)
  end
end

-- Run every step that is not done. Returns true, or nil and the error
-- (after the report). An interruption is reported and raised again.
-- A check marked `before_changes` (publish's preflight: can every target
-- be written?) is held back until a step is about to change something, and
-- skipped when nothing is left to do: a rerun of a finished release does
-- not ask every server again.
function Plan:run(ctx, opts)
  opts = opts or {}
  ctx = ctx or {}
  ctx.evidence = ctx.evidence or {}
  if opts.dry_run then
    local _, failure, step = self:print_plan(ctx)
    if failure then return nil, final_error(self, step, failure) end
    return true
  end
  -- a whole release runs its phases as plans of their own: what an earlier
  -- phase changed (the tag pushed) is this run's too, in the report
  local changed = ctx.shared and ctx.shared.changed or {}
  if ctx.shared then ctx.shared.changed = changed end
  local run = { ctx = ctx, changed = changed, completed = {} }
  local held, current = {}, nil   -- the held-back checks (their indexes, in order), the step under way
  local function release_held()
    while #held > 0 do
      current = table.remove(held, 1)
      self:step_once(run, self.steps[current], function() end)
    end
  end
  self.out(self.title)
  for i, step in ipairs(self.steps) do
    current = i
    local good, err = true, nil
    if step.before_changes then held[#held + 1] = i
    else good, err = pcall(self.step_once, self, run, step, function() release_held(); current = i end) end
    if not good then
      local interrupted = host.is_interruption(err)
      pcall(progress.settle)
      self:report_failure(current, err, interrupted, run.changed, run.completed)
      if interrupted then error(err, 0) end
      return nil, final_error(self, self.steps[current], err)
    end
  end
  progress.settle()
  for _, index in ipairs(held) do
    self.out(string.format("✓ %s: not needed, nothing left to write", self.steps[index].name))
  end
  local finished = type(self.finished) == "function" and self.finished(ctx) or self.finished
  if finished then self.out(finished) end
  return true
end

-- Undo the journaled steps, last first. Returns true or nil, err.
function Plan:undo(ctx)
  local journal = self:load_journal(ctx)
  for i = #self.steps, 1, -1 do
    local step = self.steps[i]
    local entry = journal.steps[step.name]
    if entry and step.undo then
      self.out("↶ " .. step.name)
      local good, err = pcall(step.undo, ctx or {}, entry.evidence)
      if not good then return nil, final_error(self, step, err) end
      journal.steps[step.name] = nil
      self:save_journal(journal)
    end
  end
  return true
end

-- Forget the journal (rollback: what it recorded is gone).
function Plan:forget()
  if self.journal_path then return fs.remove(self.journal_path) end
  return true
end

return M
