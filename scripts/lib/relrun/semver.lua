-- Semantic Versioning 2.0.0: parse, compare (precedence, section 11), bump.
-- RELEASE.md's release tags are vMAJOR.MINOR.PATCH; `parse` takes an
-- optional leading "v" so a tag can be passed as is.
--
--   local semver = require "relrun.semver"
--   local v = assert(semver.parse("v1.2.3-rc.1+build.5"))
--   v.major, v.minor, v.patch, v.pre, v.build --> 1, 2, 3, {"rc", 1}, {"build", "5"}
--   semver.bump("1.2.3", "minor")            --> "1.3.0"
--   semver.compare("1.0.0-alpha", "1.0.0")   --> -1
local M = {}

local Semver = {}
Semver.__index = Semver
M.Semver = Semver

local function numeric(s)
  return s:find("^%d+$") ~= nil
end

-- A numeric part: no leading zero (spec item 2), fits an integer.
local function number(s, what)
  if not numeric(s) then return nil, what .. " is not a number" end
  if #s > 1 and s:sub(1, 1) == "0" then return nil, what .. " has a leading zero" end
  local n = math.tointeger(tonumber(s))
  if not n or #s > 18 then return nil, what .. " is too large" end
  return n
end

-- Dot-separated identifiers of [0-9A-Za-z-]; numeric pre-release ones
-- become integers (they compare numerically).
local function identifiers(s, what, numbers)
  local out = {}
  for id in (s .. "."):gmatch("([^.]*)%.") do
    if id == "" then return nil, "empty " .. what .. " identifier" end
    if not id:find("^[0-9A-Za-z-]+$") then return nil, "bad character in " .. what .. " identifier " .. id end
    if numbers and numeric(id) then
      local n, err = number(id, what .. " identifier " .. id)
      if not n then return nil, err end
      id = n
    end
    out[#out + 1] = id
  end
  return out
end

local function parse(s)
  local core, rest = s:match("^v?(%d+%.%d+%.%d+)(.*)$")
  if not core then return nil, "expected MAJOR.MINOR.PATCH" end
  local v = setmetatable({ text = s }, Semver)
  local parts = { core:match("^(%d+)%.(%d+)%.(%d+)$") }
  for k, name in ipairs({ "major", "minor", "patch" }) do
    local n, err = number(parts[k], name)
    if not n then return nil, err end
    v[name] = n
  end
  local pre, build = rest:match("^%-([^+]*)(.*)$")
  if not pre then pre, build = nil, rest end
  if build ~= "" and build:sub(1, 1) ~= "+" then return nil, "unexpected " .. build end
  local err
  if pre then
    v.pre, err = identifiers(pre, "pre-release", true)
    if not v.pre then return nil, err end
  end
  if build ~= "" then
    v.build, err = identifiers(build:sub(2), "build", false)
    if not v.build then return nil, err end
  end
  return v
end

-- parse(s) -> Semver | nil, message
function M.parse(s)
  if type(s) ~= "string" then error("semver.parse: expected a string, got " .. type(s), 2) end
  local v, err = parse(s)
  if not v then return nil, string.format("invalid semantic version %q: %s", s, err) end
  return v
end

function Semver:__tostring()
  local out = string.format("%d.%d.%d", self.major, self.minor, self.patch)
  if self.pre then
    local p = {}
    for k, id in ipairs(self.pre) do p[k] = tostring(id) end
    out = out .. "-" .. table.concat(p, ".")
  end
  if self.build then out = out .. "+" .. table.concat(self.build, ".") end
  return out
end

local function cmp(a, b)
  if a < b then return -1 elseif a > b then return 1 end
  return 0
end

-- Spec item 11.4: numbers below strings, numbers numerically, strings in
-- ASCII order, a shorter list below a longer one with the same prefix.
local function cmp_pre(a, b)
  if not a and not b then return 0 end
  if not a then return 1 end
  if not b then return -1 end
  for k = 1, math.max(#a, #b) do
    local x, y = a[k], b[k]
    if x == nil then return -1 end
    if y == nil then return 1 end
    local tx, ty = math.type(x) and 0 or 1, math.type(y) and 0 or 1
    local c = tx ~= ty and cmp(tx, ty) or cmp(x, y)
    if c ~= 0 then return c end
  end
  return 0
end

local function compare(a, b)
  local c = cmp(a.major, b.major)
  if c == 0 then c = cmp(a.minor, b.minor) end
  if c == 0 then c = cmp(a.patch, b.patch) end
  if c == 0 then c = cmp_pre(a.pre, b.pre) end
  return c
end

local function coerce(v)
  if getmetatable(v) == Semver then return v end
  local p, err = M.parse(v)
  if not p then error(err, 3) end
  return p
end

-- compare(a, b) -> -1 | 0 | 1 by precedence (build metadata ignored).
function M.compare(a, b)
  return compare(coerce(a), coerce(b))
end

Semver.__eq = function(a, b) return compare(a, b) == 0 end
Semver.__lt = function(a, b) return compare(a, b) < 0 end
Semver.__le = function(a, b) return compare(a, b) <= 0 end

-- bump(v, "major"|"minor"|"patch") -> "X.Y.Z". A pre-release of the target
-- is released as is (1.0.0-rc.1 + patch -> 1.0.0, 1.1.0-rc.1 + minor ->
-- 1.1.0), as npm's semver.inc does; otherwise the part goes up and the parts
-- below it reset.
function M.bump(v, part)
  v = coerce(v)
  local major, minor, patch = v.major, v.minor, v.patch
  local pre = v.pre ~= nil
  if part == "major" then
    if not (pre and minor == 0 and patch == 0) then major = major + 1 end
    minor, patch = 0, 0
  elseif part == "minor" then
    if not (pre and patch == 0) then minor = minor + 1 end
    patch = 0
  elseif part == "patch" then
    if not pre then patch = patch + 1 end
  else
    error("semver.bump: part must be major, minor or patch, got " .. tostring(part), 2)
  end
  return string.format("%d.%d.%d", major, minor, patch)
end

return M
