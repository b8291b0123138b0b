-- relrun.maintain.deps: RELEASE.md "Review and update dependencies
-- quarterly" and "Review and update Python version support" (annual). The
-- project's runtime and build requirements against what the target's index
-- has, and requires-python and the classifiers against Python's end-of-life
-- dates.
--
--   local deps = require "relrun.maintain.deps"
--   local reqs = deps.requirements(pyproject)          -- { {name, specs, text, where} }
--   local findings = deps.check_requirements(reqs, versions_of)   -- versions_of(name) -> {"1.0", ...} | nil, err
--   local py = deps.check_python(pyproject, now)       -- findings about requires-python / classifiers
--
-- A finding: { level = "warn" | "note", subject, message }.
local pep440 = require "relrun.pep440"

local M = {}

-- CPython's end-of-life dates (https://devguide.python.org/versions/, read
-- 2026-12-02). Planned dates are the end of the month the devguide names.
-- Update this table when a new Python is released (each October).
M.EOL_WRITTEN = "2026-12-02"
M.PYTHONS = {
  { "3.7", "2023-06-27" }, { "3.8", "2024-10-07" }, { "3.9", "2025-10-31" }, { "3.10", "2026-10-31" },
  { "3.11", "2027-10-31" }, { "3.12", "2028-10-31" }, { "3.13", "2029-10-31" }, { "3.14", "2030-10-31" },
}
M.WARN_DAYS = 183   -- six months ahead

---------------------------------------------------------------------------
-- PEP 508 requirements and PEP 440 specifiers (what a review needs)
---------------------------------------------------------------------------

-- parse_requirement("requests[socks]>=2.31,<3; python_version>'3.8'") ->
-- { name, extras, specs = { {op, version} }, url, marker } | nil.
function M.parse_requirement(text)
  local name, rest = text:match("^%s*([%w][%w%-%._]*)%s*(.-)%s*$")
  if not name then return nil end
  local req = { name = name, text = text, specs = {} }
  local extras, after = rest:match("^%[([^%]]*)%]%s*(.*)$")
  if extras then req.extras, rest = extras, after end
  rest, req.marker = rest:match("^([^;]*);?%s*(.-)$")
  req.marker = req.marker ~= "" and req.marker or nil
  local url = rest:match("^@%s*(%S+)")
  if url then req.url = url; return req end
  rest = rest:gsub("^%((.*)%)$", "%1")
  for clause in rest:gmatch("[^,]+") do
    local op, v = clause:match("^%s*([~=!<>]=?=?)%s*([^%s]+)%s*$")
    if not op then return nil end
    req.specs[#req.specs + 1] = { op = op, version = v }
  end
  return req
end

local function prefix_match(version, prefix)
  local want = pep440.parse(prefix)
  local have = pep440.parse(version)
  if not want or not have then return false end
  for i, n in ipairs(want.release) do
    if (have.release[i] or 0) ~= n then return false end
  end
  return true
end

-- Does one clause allow `version`?
local function clause_allows(c, version)
  local v = c.version
  if c.op == "==" or c.op == "!=" then
    local same = v:sub(-2) == ".*" and prefix_match(version, v:sub(1, -3)) or
      (pep440.parse(v) and pep440.compare(version, v) == 0)
    if c.op == "==" then return same end
    return not same
  end
  if c.op == "===" then return version == v end
  if not pep440.parse(v) then return false end
  local cmp = pep440.compare(version, v)
  if c.op == ">=" then return cmp >= 0 end
  if c.op == "<=" then return cmp <= 0 end
  if c.op == ">" then return cmp > 0 end
  if c.op == "<" then return cmp < 0 end
  if c.op == "~=" then
    local parts = {}
    for n in v:gmatch("%d+") do parts[#parts + 1] = n end
    local pref = table.concat(parts, ".", 1, math.max(1, #parts - 1))
    return cmp >= 0 and prefix_match(version, pref)
  end
  return false
end

-- allows(specs, version) -> bool: every clause allows it.
function M.allows(specs, version)
  for _, c in ipairs(specs) do
    if not clause_allows(c, version) then return false end
  end
  return true
end

-- requirements(pyproject) -> the runtime ([project] dependencies and
-- optional-dependencies) and build ([build-system] requires) requirements.
function M.requirements(py)
  local out = {}
  local function add(list, where)
    for _, text in ipairs(type(list) == "table" and list or {}) do
      local req = M.parse_requirement(text) or { text = text, bad = true }
      req.where = where
      out[#out + 1] = req
    end
  end
  local project = type(py) == "table" and py.project or {}
  add(project.dependencies, "dependencies")
  for group, list in pairs(type(project["optional-dependencies"]) == "table" and project["optional-dependencies"] or {}) do
    add(list, "optional-dependencies." .. group)
  end
  add(type(py) == "table" and py["build-system"] and py["build-system"].requires, "build-system.requires")
  return out
end

---------------------------------------------------------------------------
-- Requirements against the index
---------------------------------------------------------------------------

-- The newest final release among `versions`.
local function newest(versions)
  local best
  for _, v in ipairs(versions) do
    local parsed = pep440.parse(v)
    if parsed and not parsed.pre and not parsed.dev and (not best or pep440.compare(v, best) > 0) then best = v end
  end
  return best
end

local function exact(req)
  return #req.specs == 1 and (req.specs[1].op == "==" or req.specs[1].op == "===")
    and not req.specs[1].version:find("%*")
end

-- One requirement's findings.
local function judge(req, versions_of, out)
  local subject = req.text .. " (" .. req.where .. ")"
  if req.bad then
    out[#out + 1] = { level = "warn", subject = subject, message = "not a PEP 508 requirement" }
    return
  end
  if req.url then
    out[#out + 1] = { level = "note", subject = subject, message = "a direct URL: not checked against the index" }
    return
  end
  if #req.specs == 0 then
    out[#out + 1] = { level = "note", subject = subject, message = "unpinned: any version, breaking ones too" }
  elseif exact(req) and req.where ~= "build-system.requires" then
    out[#out + 1] = { level = "warn", subject = subject, message = "over-pinned: an exact version in a library's " ..
      "requirements makes it uninstallable beside anything needing another one; give a range" }
  end
  local versions, err = versions_of(req.name)
  if not versions then
    out[#out + 1] = { level = "note", subject = subject, message = "not checked: " .. tostring(err) }
    return
  end
  local latest = newest(versions)
  if not latest then
    out[#out + 1] = { level = "note", subject = subject, message = "the index has no release of " .. req.name }
  elseif not M.allows(req.specs, latest) then
    out[#out + 1] = { level = "warn", subject = subject, message = "the index has " .. latest .. ", which this " ..
      "excludes: review and widen the range" }
  end
end

-- check_requirements(reqs, versions_of) -> findings.
function M.check_requirements(reqs, versions_of)
  local out = {}
  for _, req in ipairs(reqs) do judge(req, versions_of, out) end
  return out
end

---------------------------------------------------------------------------
-- Python support
---------------------------------------------------------------------------

local function epoch_of(date)
  local y, m, d = date:match("^(%d+)-(%d+)-(%d+)$")
  return os.time{ year = tonumber(y), month = tonumber(m), day = tonumber(d), hour = 12 }
end

local function classifier_versions(py)
  local out = {}
  for _, c in ipairs(type(py.project) == "table" and py.project.classifiers or {}) do
    local v = tostring(c):match("^Programming Language :: Python :: (3%.%d+)$")
    if v then out[v] = true end
  end
  return out
end

-- One Python's findings: past or near its end of life, allowed or listed.
-- c: { now, listed_any (the classifiers name some version), out }.
local function judge_python(v, eol, allowed, listed, c)
  local out = c.out
  local days = (epoch_of(eol) - c.now) // 86400
  local where = (allowed and "requires-python allows " or "") .. (listed and (allowed and "and " or "") ..
    "a classifier names " or "") .. v
  if days < 0 and (allowed or listed) then
    out[#out + 1] = { level = "warn", subject = "Python " .. v, message = string.format("%s, past its end of life " ..
      "(%s): raise requires-python and drop the classifier", where, eol) }
  elseif days <= M.WARN_DAYS and (allowed or listed) then
    out[#out + 1] = { level = "warn", subject = "Python " .. v, message = string.format("%s, which reaches its end " ..
      "of life on %s (in %d days): plan to drop it", where, eol, days) }
  elseif days >= 0 and listed and not allowed then
    out[#out + 1] = { level = "warn", subject = "Python " .. v, message = "a classifier names " .. v ..
      ", which requires-python excludes" }
  elseif days > M.WARN_DAYS and allowed and not listed and c.listed_any then
    out[#out + 1] = { level = "note", subject = "Python " .. v, message = "supported but not in the classifiers" }
  end
end

-- check_python(pyproject, now) -> findings, the requires-python text.
function M.check_python(py, now)
  local out = {}
  local rp = type(py) == "table" and type(py.project) == "table" and py.project["requires-python"] or nil
  local specs = {}
  if rp then
    local parsed = M.parse_requirement("python" .. rp)
    if not parsed then
      return { { level = "warn", subject = "requires-python", message = string.format("%q is not a specifier", rp) } }, rp
    end
    specs = parsed.specs
  else
    out[#out + 1] = { level = "warn", subject = "requires-python", message = "not set: pip installs this on any " ..
      "Python, end-of-life ones too; set it (e.g. \">=3.11\")" }
  end
  local listed = classifier_versions(py or {})
  local c = { now = now, listed_any = next(listed) ~= nil, out = out }
  for _, row in ipairs(M.PYTHONS) do
    judge_python(row[1], row[2], rp and M.allows(specs, row[1]) or false, listed[row[1]] or false, c)
  end
  return out, rp
end

return M
