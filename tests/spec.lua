-- The spec runner: relrun tests/spec.lua [--only TEXT] FILE...
--
-- --only TEXT (or RELRUN_SPEC_ONLY=TEXT) runs only the tests whose full
-- name ("file describe it") contains TEXT; the others are not counted.
-- A spec file uses the globals describe, it, before_each, after_each and the
-- checks eq (deep equality), ok, raises, contains, skip. Each failure prints
-- where it happened; the last line is "N passed, N failed[, N skipped]" and
-- the exit code is 1 when anything failed or nothing ran.

local source_dir = os.getenv("RELRUN_SOURCE_DIR") or "."
package.path = source_dir .. "/tests/support/?.lua;" .. package.path

local passed, failed, skipped = 0, 0, 0
local stack = {}          -- describe blocks: { name, before = {}, after = {} }
local SKIP = {}

local function full_name(name)
  local parts = {}
  for _, d in ipairs(stack) do parts[#parts + 1] = d.name end
  parts[#parts + 1] = name
  return table.concat(parts, " ")
end

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" then return tostring(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local out = {}
  for _, k in ipairs(keys) do out[#out + 1] = tostring(k) .. "=" .. show(v[k]) end
  return "{" .. table.concat(out, ", ") .. "}"
end

local function deep_equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do if not deep_equal(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local function fail(msg, level)
  error(msg, (level or 1) + 1)
end

function eq(actual, expected, what)
  if not deep_equal(actual, expected) then
    fail(string.format("%sexpected %s, got %s", what and (what .. ": ") or "",
      show(expected), show(actual)), 2)
  end
  return actual
end

function ok(v, what)
  if not v then fail((what or "expected a true value") .. " (got " .. show(v) .. ")", 2) end
  return v
end

function contains(haystack, needle, what)
  -- an error value (relrun.errors) reads as its text
  if type(haystack) == "table" and getmetatable(haystack) and getmetatable(haystack).__tostring then
    haystack = tostring(haystack)
  end
  if type(haystack) ~= "string" or not haystack:find(needle, 1, true) then
    fail(string.format("%sexpected %s to contain %s", what and (what .. ": ") or "",
      show(haystack), show(needle)), 2)
  end
  return haystack
end

function raises(fn, pattern)
  local good, err = pcall(fn)
  if good then fail("expected an error" .. (pattern and (" matching " .. pattern) or ""), 2) end
  local msg = type(err) == "table" and (getmetatable(err) and getmetatable(err).__tostring and tostring(err)
    or err.message or show(err)) or tostring(err)
  if pattern and not msg:find(pattern) then
    fail(string.format("error %q does not match %q", msg, pattern), 2)
  end
  return msg
end

function skip(reason)
  error(setmetatable({ reason = reason }, SKIP), 0)
end

function before_each(fn) table.insert(stack[#stack].before, fn) end
function after_each(fn) table.insert(stack[#stack].after, fn) end

function describe(name, fn)
  table.insert(stack, { name = name, before = {}, after = {} })
  local good, err = pcall(fn)
  if not good then
    failed = failed + 1
    print("FAIL " .. full_name("(describe)") .. "\n     " .. tostring(err))
  end
  table.remove(stack)
end

local function traceback(err)
  if getmetatable(err) == SKIP then return err end
  if require("relrun.host").debug() then return debug.traceback(tostring(err), 2) end
  return err
end

local only = os.getenv("RELRUN_SPEC_ONLY")

function it(name, fn)
  local title = full_name(name)
  if only and only ~= "" and not title:find(only, 1, true) then return end
  local good, err = true, nil
  for _, d in ipairs(stack) do
    for _, b in ipairs(d.before) do
      if good then good, err = xpcall(b, traceback) end
    end
  end
  if good then good, err = xpcall(fn, traceback) end
  for i = #stack, 1, -1 do
    for _, a in ipairs(stack[i].after) do
      local g, e = xpcall(a, traceback)
      if good and not g then good, err = g, e end
    end
  end
  if good then
    passed = passed + 1
    print("ok   " .. title)
  elseif getmetatable(err) == SKIP then
    skipped = skipped + 1
    print("skip " .. title .. " (" .. tostring(err.reason) .. ")")
  else
    failed = failed + 1
    print("FAIL " .. title .. "\n     " .. tostring(err))
  end
end

local files = { ... }
if files[1] == "--only" then
  only = files[2]
  table.remove(files, 1)
  table.remove(files, 1)
end
if #files == 0 then
  io.stderr:write("usage: relrun tests/spec.lua [--only TEXT] FILE...\n")
  os.exit(2)
end
for _, file in ipairs(files) do
  local chunk, err = loadfile(file)
  if not chunk then
    failed = failed + 1
    print("FAIL " .. file .. "\n     " .. err)
  else
    table.insert(stack, { name = file:match("([^/]+)_spec%.lua$") or file, before = {}, after = {} })
    local good, e = xpcall(chunk, traceback)
    if not good then
      failed = failed + 1
      print("FAIL " .. file .. " (top level)\n     " .. tostring(e))
    end
    table.remove(stack)
  end
end
local line = string.format("%d passed, %d failed", passed, failed)
if skipped > 0 then line = line .. string.format(", %d skipped", skipped) end
print(line)
os.exit((failed == 0 and passed > 0) and 0 or 1, true)
