-- PEP 440 versions, parsed, normalised and ordered exactly as Python's
-- packaging.version.Version (23.x) does for valid input; anything that class
-- rejects is `nil, message` here.
--
--   local pep440 = require "relrun.pep440"
--   local v = assert(pep440.parse("V1.0-RC.1+Ubuntu-1"))
--   tostring(v)                --> "1.0rc1+ubuntu.1"
--   pep440.compare("1.0.dev0", "1.0a1")  --> -1
--
-- The grammar is packaging's VERSION_PATTERN (case-insensitive, surrounding
-- whitespace allowed). It is hand-parsed: each optional segment is tried at the
-- current position and, when it does not match as a whole, skipped, which is
-- what the regex's backtracking amounts to for this pattern. Labels are tried
-- longest first ("alpha" before "a", "preview" before "pre", "rev" before "r")
-- because only the longest can lead to a full match.
local M = {}

local Version = {}
Version.__index = Version
M.Version = Version

local PRE_LABELS = { "preview", "alpha", "beta", "pre", "rc", "a", "b", "c" }
local PRE_CANON = { a = "a", alpha = "a", b = "b", beta = "b", c = "rc", rc = "rc", pre = "rc", preview = "rc" }
local POST_LABELS = { "post", "rev", "r" }

-- A cursor over the lower-cased text: each matcher returns the new position
-- or nil, and never moves on failure.
local function sep(s, i)
  local c = s:sub(i, i)
  if c == "-" or c == "_" or c == "." then return i + 1 end
  return i
end

local function digits(s, i)
  local a, b = s:find("^%d+", i)
  if not a then return nil end
  return b + 1, s:sub(a, b)
end

local function label(s, i, labels)
  for _, l in ipairs(labels) do
    if s:sub(i, i + #l - 1) == l then return i + #l, l end
  end
  return nil
end

-- [-_.]? LABEL [-_.]? N?
local function labelled(s, i, labels)
  local j, l = label(s, sep(s, i), labels)
  if not j then return nil end
  local k, n = digits(s, sep(s, j))
  if k then return k, l, n end
  return sep(s, j), l, nil
end

-- packaging uses Python ints; Lua's are 64-bit, so a number that does not
-- fit is refused (as "too large") rather than silently rounded.
local function int(n)
  n = n:gsub("^0+(%d)", "%1")
  local i = math.tointeger(tonumber(n))
  if not i or #n > 18 then error({ too_large = n }) end
  return i
end

local function parse_release(s, i, v)
  local j, n = digits(s, i)
  if not j then return nil end
  v.release = { int(n) }
  while s:sub(j, j) == "." do
    local k, m = digits(s, j + 1)
    if not k then break end
    v.release[#v.release + 1] = int(m)
    j = k
  end
  return j
end

local function parse_post(s, i, v)
  if s:sub(i, i) == "-" then
    local j, n = digits(s, i + 1)
    if j then v.post = int(n); return j end
  end
  local j, _, n = labelled(s, i, POST_LABELS)
  if j then v.post = n and int(n) or 0; return j end
  return i
end

local function parse_local(s, i, v)
  if s:sub(i, i) ~= "+" then return i end
  local parts, j = {}, i + 1
  while true do
    local a, b = s:find("^[a-z0-9]+", j)
    if not a then return nil end
    local p = s:sub(a, b)
    parts[#parts + 1] = p:match("^%d+$") and int(p) or p
    j = b + 1
    local c = s:sub(j, j)
    if not (c == "-" or c == "_" or c == ".") or not s:find("^[a-z0-9]", j + 1) then break end
    j = j + 1
  end
  v["local"] = parts
  return j
end

local function grammar(s, v)
  local i = s:find("%S") or #s + 1
  if s:sub(i, i) == "v" then i = i + 1 end
  local a, b = s:find("^%d+!", i)
  if a then v.epoch = int(s:sub(a, b - 1)); i = b + 1 end
  i = parse_release(s, i, v)
  if not i then return nil end
  local j, l, n = labelled(s, i, PRE_LABELS)
  if j then v.pre = { PRE_CANON[l], n and int(n) or 0 }; i = j end
  i = parse_post(s, i, v)
  local k, _, dev_n = labelled(s, i, { "dev" })
  if k then v.dev = dev_n and int(dev_n) or 0; i = k end
  i = parse_local(s, i, v)
  if not i then return nil end
  return s:find("^%s*$", i) ~= nil
end

-- parse(s) -> Version | nil, message
function M.parse(s)
  if type(s) ~= "string" then error("pep440.parse: expected a string, got " .. type(s), 2) end
  local v = setmetatable({ epoch = 0, text = s }, Version)
  local good, matched = pcall(grammar, s:lower(), v)
  if not good then
    if type(matched) == "table" and matched.too_large then
      return nil, string.format("invalid version %q: number %s too large", s, matched.too_large)
    end
    error(matched, 0)
  end
  if not matched then
    return nil, string.format("invalid version %q (PEP 440: [N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local])", s)
  end
  return v
end

-- Public part, as packaging's str(): epoch only when non-zero.
function Version:public()
  local out = {}
  if self.epoch ~= 0 then out[#out + 1] = self.epoch .. "!" end
  local rel = {}
  for k, n in ipairs(self.release) do rel[k] = tostring(n) end
  out[#out + 1] = table.concat(rel, ".")
  if self.pre then out[#out + 1] = self.pre[1] .. self.pre[2] end
  if self.post then out[#out + 1] = ".post" .. self.post end
  if self.dev then out[#out + 1] = ".dev" .. self.dev end
  return table.concat(out)
end

-- Local segment normalised ("ubuntu.1") or nil.
function Version:local_part()
  local l = self["local"]
  if not l then return nil end
  local out = {}
  for k, p in ipairs(l) do out[k] = tostring(p) end
  return table.concat(out, ".")
end

function Version:__tostring()
  local l = self:local_part()
  return self:public() .. (l and ("+" .. l) or "")
end

function Version:is_prerelease() return self.pre ~= nil or self.dev ~= nil end
function Version:is_devrelease() return self.dev ~= nil end
function Version:is_postrelease() return self.post ~= nil end

-- The release tuple without trailing zeros: 1.0 == 1.0.0.
local function trimmed(release)
  local n = #release
  while n > 1 and release[n] == 0 do n = n - 1 end
  return n
end

local function cmp(a, b)
  if a < b then return -1 elseif a > b then return 1 end
  return 0
end

local function cmp_release(a, b)
  local na, nb = trimmed(a.release), trimmed(b.release)
  for k = 1, math.max(na, nb) do
    local x = k <= na and a.release[k] or 0
    local y = k <= nb and b.release[k] or 0
    local c = cmp(x, y)
    if c ~= 0 then return c end
  end
  return 0
end

-- packaging's _cmpkey, with -inf/+inf as -1/+1 ranks ahead of the value.
local function pre_key(v)
  if not v.pre and not v.post and v.dev then return { -1 } end
  if not v.pre then return { 1 } end
  return { 0, v.pre[1], v.pre[2] }
end

local function cmp_key(a, b)
  for k = 1, math.max(#a, #b) do
    local x, y = a[k], b[k]
    if x == nil then return -1 end
    if y == nil then return 1 end
    local c = cmp(x, y)
    if c ~= 0 then return c end
  end
  return 0
end

-- Local parts: a number beats any string; strings compare as strings;
-- a shorter prefix is smaller.
local function cmp_local(a, b)
  if not a and not b then return 0 end
  if not a then return -1 end
  if not b then return 1 end
  for k = 1, math.max(#a, #b) do
    local x, y = a[k], b[k]
    if x == nil then return -1 end
    if y == nil then return 1 end
    local tx, ty = math.type(x) and 1 or 0, math.type(y) and 1 or 0
    local c = tx ~= ty and cmp(tx, ty) or cmp(x, y)
    if c ~= 0 then return c end
  end
  return 0
end

local function compare_versions(a, b)
  local c = cmp(a.epoch, b.epoch)
  if c == 0 then c = cmp_release(a, b) end
  if c == 0 then c = cmp_key(pre_key(a), pre_key(b)) end
  if c == 0 then c = cmp_key(a.post and { 0, a.post } or { -1 }, b.post and { 0, b.post } or { -1 }) end
  if c == 0 then c = cmp_key(a.dev and { 0, a.dev } or { 1 }, b.dev and { 0, b.dev } or { 1 }) end
  if c == 0 then c = cmp_local(a["local"], b["local"]) end
  return c
end

local function coerce(v)
  if getmetatable(v) == Version then return v end
  local p, err = M.parse(v)
  if not p then error(err, 3) end
  return p
end

-- compare(a, b) -> -1 | 0 | 1; strings are parsed (an invalid one raises).
function M.compare(a, b)
  return compare_versions(coerce(a), coerce(b))
end

Version.__eq = function(a, b) return compare_versions(a, b) == 0 end
Version.__lt = function(a, b) return compare_versions(a, b) < 0 end
Version.__le = function(a, b) return compare_versions(a, b) <= 0 end

-- normalize(s) -> canonical string | nil, message
function M.normalize(s)
  local v, err = M.parse(s)
  if not v then return nil, err end
  return tostring(v)
end

-- is_prerelease(s) -> bool | nil, message
function M.is_prerelease(s)
  local v, err = M.parse(s)
  if not v then return nil, err end
  return v:is_prerelease()
end

-- split(s) -> public, local|nil (both normalised) | nil, message
function M.split(s)
  local v, err = M.parse(s)
  if not v then return nil, err end
  return v:public(), v:local_part()
end

return M
