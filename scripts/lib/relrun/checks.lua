-- relrun.checks: a checklist runner for doctor-style scripts.
--
--   local list = checks.new{ json = opts.json }
--   list:group("Build failures", function(g)
--     g:check("pyproject.toml", function()
--       return checks.ok("found ./pyproject.toml")
--       -- or checks.fail(found, todo), checks.warn(found, todo), checks.skip(reason)
--     end)
--   end)
--   return list:finish()     -- 0 all good, 3 problems found
--   return list:abort(err)   -- the run stopped: with json, the document says why; err.exit
--
-- Each result says what it looked at (the check's name and `looked`), what
-- it found, and what to do. A check that raises is a failure of that check,
-- never of the run. Under GitHub Actions each problem is also an annotation.
local log = require "relrun.log"
local json = require "relrun.json"
local errors = require "relrun.errors"

local M = {}

function M.ok(found) return { status = "ok", found = found } end
function M.fail(found, todo) return { status = "fail", found = found, todo = todo } end
function M.warn(found, todo) return { status = "warn", found = found, todo = todo } end
function M.skip(reason) return { status = "skip", found = reason } end

local MARK = { ok = "✓", fail = "✗", warn = "!", skip = "-" }

local List = {}
List.__index = List

function M.new(opts)
  opts = opts or {}
  return setmetatable({ json = opts.json, out = opts.out or print, groups = {}, problems = 0, warnings = 0 }, List)
end

local Group = {}
Group.__index = Group

function List:group(name, fn)
  local g = setmetatable({ name = name, checks = {}, list = self, data = {} }, Group)
  self.groups[#self.groups + 1] = g
  if not self.json then self.out(name) end
  local good, err = pcall(fn, g)
  if not good then
    g:record("(group)", M.fail("the checks stopped: " .. tostring(type(err) == "table" and err.message or err),
      "run with --debug and report this"))
  end
  return g
end

function Group:record(name, result, looked)
  result.name, result.looked = name, looked
  self.checks[#self.checks + 1] = result
  local list = self.list
  if result.status == "fail" then list.problems = list.problems + 1 end
  if result.status == "warn" then list.warnings = list.warnings + 1 end
  if not list.json then
    local line = string.format("  %s %s: %s", MARK[result.status], name, result.found or "")
    if result.status == "skip" then line = string.format("  - %s: skipped, %s", name, result.found or "") end
    list.out(line)
    if result.todo and result.status ~= "ok" then list.out("      → " .. result.todo) end
  end
  if (result.status == "fail" or result.status == "warn") and log.actions() then
    log.annotate{ level = result.status == "fail" and "error" or "warning", title = self.name .. ": " .. name,
                  message = (result.found or "") .. (result.todo and (" — " .. result.todo) or "") }
  end
  return result
end

-- Run one check; `fn` returns a result from checks.ok/fail/warn/skip.
-- opts.looked says what it looked at (a file, an ARN, an API call).
function Group:check(name, fn, looked)
  local good, result = pcall(fn, self.data)
  if not good then
    if getmetatable(result) == errors.Error then
      -- an expected failure a library returned and the check raised: its own words
      result = M.fail(result.message, result.hint)
    else
      local msg = type(result) == "table" and (result.message or tostring(result)) or tostring(result)
      result = M.fail("the check itself failed: " .. msg, "run with --debug and report this")
    end
  elseif type(result) ~= "table" or not MARK[result.status] then
    result = M.fail("the check returned nothing", "fix the check")
  end
  return self:record(name, result, looked)
end

-- The document --json prints: { groups = { {name, checks = { {name, status,
-- found, todo, looked_at} }} }, problems, warnings [, error = {code, message,
-- hint, exit}] }; lists are JSON arrays even when empty.
function List:results()
  local groups = json.array({})
  for _, g in ipairs(self.groups) do
    local checks = json.array({})
    for _, c in ipairs(g.checks) do
      checks[#checks + 1] = { name = c.name, status = c.status, found = c.found, todo = c.todo, looked_at = c.looked }
    end
    groups[#groups + 1] = { name = g.name, checks = checks }
  end
  return { groups = groups, problems = self.problems, warnings = self.warnings }
end

-- Print the summary (or the JSON document); the exit code: 0 or 3.
function List:finish()
  if self.json then
    print(json.encode(self:results()))
  else
    self.out("")
    if self.problems == 0 then
      self.out(string.format("No problems found%s.", self.warnings > 0 and
        string.format(" (%d warning%s)", self.warnings, self.warnings == 1 and "" or "s") or ""))
    else
      self.out(string.format("%d problem%s found%s.", self.problems, self.problems == 1 and "" or "s",
        self.warnings > 0 and string.format(", %d warning%s", self.warnings, self.warnings == 1 and "" or "s") or ""))
    end
  end
  return self.problems == 0 and 0 or 3
end

-- The run stopped before its checks could finish (a usage error, a project
-- that cannot be opened): with json, the document with what ran and the
-- error; otherwise the error is raised for the host to print once.
-- -> the exit code (err.exit).
function List:abort(err)
  if not self.json then error(err, 0) end
  local doc = self:results()
  doc.error = { code = err.code, message = err.message, hint = err.hint, exit = err.exit or 1 }
  print(json.encode(doc))
  return err.exit or 1
end

return M
