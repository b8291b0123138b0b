-- Python `re` patterns, the subset version tag patterns use, so a
-- [tool.setuptools_scm] tag_regex means here what it means to setuptools_scm:
-- literals and escapes (\d \w \s \D \W \S \b \B, \. ...), classes
-- ([a-z\d], [^+]), `.`, ^ $ \A \Z, groups ( ), (?: ), (?P<name> ), (?i) at the
-- start, alternation, quantifiers * + ? {m} {m,} {m,n} {,n} and their lazy forms,
-- lookahead (?= ) (?! ). Matching backtracks like Python's engine, so the
-- first match found is the same one Python finds. ASCII semantics for \d \w \s.
--
--   local re = assert(pyre.compile([[^(?:[\w-]+-)?(?P<version>[vV]?\d+(?:\.\d+){0,2}[^\+]*)(?:\+.*)?$]]))
--   local m = re:match("release-v1.2.3")  -- anchored at the start, like re.match
--   m:group("version") --> "v1.2.3";  m:span("version") --> 9, 15;  re.groups --> 1
local M = {}

local Parser = {}
Parser.__index = Parser

local function perr(fmt, ...)
  error({ pyre = string.format(fmt, ...) }, 0)
end

function Parser:peek() return self.s:sub(self.i, self.i) end
function Parser:take() local c = self:peek(); self.i = self.i + 1; return c end

local CLASSES = {
  d = function(c) return c:find("^%d$") ~= nil end,
  w = function(c) return c:find("^[%w_]$") ~= nil end,
  s = function(c) return c:find("^[ \t\n\r\f\v]$") ~= nil end,
}
for k, f in pairs({ D = "d", W = "w", S = "s" }) do
  local pos = CLASSES[f]
  CLASSES[k] = function(c) return not pos(c) end
end

local SIMPLE_ESCAPES = { n = "\n", t = "\t", r = "\r", f = "\f", v = "\v", a = "\a", ["0"] = "\0" }

-- An escape inside or outside a class: a predicate or a literal char.
function Parser:escape()
  local c = self:take()
  if c == "" then perr("bad escape (end of pattern)") end
  if CLASSES[c] then return CLASSES[c] end
  if SIMPLE_ESCAPES[c] then return SIMPLE_ESCAPES[c] end
  if c == "x" then
    local hex = self.s:sub(self.i, self.i + 1)
    if not hex:find("^%x%x$") then perr("bad escape \\x") end
    self.i = self.i + 2
    return string.char(tonumber(hex, 16))
  end
  if c:find("[%a%d]") then perr("bad escape \\%s", c) end
  return c
end

local function lit_pred(ch, icase)
  if icase then
    local l = ch:lower()
    return function(c) return c:lower() == l end
  end
  return function(c) return c == ch end
end

-- After `lo` and a "-" in a set: the range lo-hi as a predicate (either
-- case under IGNORECASE).
function Parser:class_range(lo)
  self.i = self.i + 1
  local hi = self:take()
  if hi == "\\" then hi = self:escape() end
  if type(hi) ~= "string" or hi < lo then perr("bad character range %s-%s", lo, tostring(hi)) end
  local icase = self.icase
  return function(ch)
    if ch >= lo and ch <= hi then return true end
    return icase and ((ch:lower() >= lo and ch:lower() <= hi) or (ch:upper() >= lo and ch:upper() <= hi))
  end
end

-- Whether a "-" at the parser's position starts a range (not "-]" or a
-- "-" at the end).
function Parser:at_range()
  local after = self.s:sub(self.i + 1, self.i + 1)
  return self:peek() == "-" and after ~= "]" and after ~= ""
end

-- One item of a set, as a predicate on a character.
function Parser:class_item(c)
  local item = c
  if c == "\\" then item = self:escape() end
  if type(item) ~= "string" then return item end
  if self:at_range() then return self:class_range(item) end
  return lit_pred(item, self.icase)
end

function Parser:class()
  local negate = false
  if self:peek() == "^" then negate = true; self.i = self.i + 1 end
  local items, first = {}, true
  while true do
    local c = self:take()
    if c == "" then perr("unterminated character set") end
    if c == "]" and not first then break end
    first = false
    items[#items + 1] = self:class_item(c)
  end
  return { type = "char", pred = function(ch)
    local hit = false
    for _, p in ipairs(items) do if p(ch) then hit = true; break end end
    return hit ~= negate
  end }
end

function Parser:quantifier(node)
  local c = self:peek()
  local min, max
  if c == "*" then min, max = 0, math.huge
  elseif c == "+" then min, max = 1, math.huge
  elseif c == "?" then min, max = 0, 1
  elseif c == "{" then
    local a, b, lo, comma, hi = self.s:find("^{(%d*)(,?)(%d*)}", self.i)
    if not a or (lo == "" and comma == "") then return node end -- a literal "{", as in Python
    min = tonumber(lo) or 0
    max = comma == "" and min or (tonumber(hi) or math.huge)
    if max < min then perr("min repeat greater than max repeat") end
    self.i = b
  else
    return node
  end
  self.i = self.i + 1
  local lazy = false
  if self:peek() == "?" then lazy = true; self.i = self.i + 1 end
  if node.type == "assert" then perr("nothing to repeat") end
  local q = { type = "repeat", node = node, min = min, max = max, lazy = lazy }
  local n = self:peek()
  if n == "*" or n == "+" or n == "?" then perr("multiple repeat") end
  return q
end

function Parser:group()
  local capture, name = true, nil
  if self.s:find("^%?:", self.i) then
    capture = false; self.i = self.i + 2
  elseif self.s:find("^%?P<", self.i) then
    local a, b, n = self.s:find("^%?P<([%a_][%w_]*)>", self.i)
    if not a then perr("bad group name") end
    name = n; self.i = b + 1
  elseif self.s:find("^%?[=!]", self.i) then
    local negate = self.s:sub(self.i + 1, self.i + 1) == "!"
    self.i = self.i + 2
    local inner = self:alternation()
    if self:take() ~= ")" then perr("missing ), unterminated subpattern") end
    return { type = "look", node = inner, negate = negate }
  elseif self:peek() == "?" then
    perr("unsupported group syntax (?%s", self.s:sub(self.i + 1, self.i + 1))
  end
  local index
  if capture then
    self.ngroups = self.ngroups + 1
    index = self.ngroups
    if name then
      if self.names[name] then perr("redefinition of group name %q", name) end
      self.names[name] = index
    end
  end
  local inner = self:alternation()
  if self:take() ~= ")" then perr("missing ), unterminated subpattern") end
  return { type = "group", node = inner, index = index }
end

function Parser:atom()
  local c = self:take()
  if c == "(" then return self:group() end
  if c == "[" then return self:class() end
  if c == "." then return { type = "char", pred = function(ch) return ch ~= "\n" end } end
  if c == "^" then return { type = "assert", kind = "bol" } end
  if c == "$" then return { type = "assert", kind = "eol" } end
  if c == "\\" then
    local n = self:peek()
    if n == "A" or n == "Z" or n == "b" or n == "B" then
      self.i = self.i + 1
      return { type = "assert", kind = n }
    end
    local e = self:escape()
    if type(e) == "function" then return { type = "char", pred = e } end
    return { type = "char", pred = lit_pred(e, self.icase) }
  end
  if c == "*" or c == "+" or c == "?" then perr("nothing to repeat at position %d", self.i - 2) end
  return { type = "char", pred = lit_pred(c, self.icase) }
end

function Parser:sequence()
  local items = {}
  while true do
    local c = self:peek()
    if c == "" or c == "|" or c == ")" then break end
    items[#items + 1] = self:quantifier(self:atom())
  end
  return { type = "seq", items = items }
end

function Parser:alternation()
  local alts = { self:sequence() }
  while self:peek() == "|" do
    self.i = self.i + 1
    alts[#alts + 1] = self:sequence()
  end
  if #alts == 1 then return alts[1] end
  return { type = "alt", alts = alts }
end

-- The matcher: m(node, i, caps, k) calls k(i2, caps) for each way the node
-- matches at i, in Python's preference order, and returns the first truthy
-- result of k.
local matchers = {}

local function run(s, node, i, caps, k)
  return matchers[node.type](s, node, i, caps, k)
end

function matchers.char(s, node, i, caps, k)
  local c = s:sub(i, i)
  if c ~= "" and node.pred(c) then return k(i + 1, caps) end
  return nil
end

local function word_at(s, i)
  local c = s:sub(i, i)
  return c ~= "" and c:find("^[%w_]$") ~= nil
end

function matchers.assert(s, node, i, caps, k)
  local kind, n = node.kind, #s
  local good
  if kind == "bol" or kind == "A" then good = i == 1
  elseif kind == "eol" then good = i == n + 1 or (i == n and s:sub(n) == "\n")
  elseif kind == "Z" then good = i == n + 1
  elseif kind == "b" then good = word_at(s, i - 1) ~= word_at(s, i)
  elseif kind == "B" then good = word_at(s, i - 1) == word_at(s, i) end
  if good then return k(i, caps) end
  return nil
end

function matchers.seq(s, node, i, caps, k)
  local items = node.items
  local function step(j, at, c)
    if j > #items then return k(at, c) end
    return run(s, items[j], at, c, function(at2, c2) return step(j + 1, at2, c2) end)
  end
  return step(1, i, caps)
end

function matchers.alt(s, node, i, caps, k)
  for _, a in ipairs(node.alts) do
    local r = run(s, a, i, caps, k)
    if r then return r end
  end
  return nil
end

function matchers.group(s, node, i, caps, k)
  return run(s, node.node, i, caps, function(j, c)
    if not node.index then return k(j, c) end
    local c2 = setmetatable({ [node.index] = { i, j - 1 } }, { __index = c })
    return k(j, c2)
  end)
end

function matchers.look(s, node, i, caps, k)
  local found = run(s, node.node, i, caps, function(_, c) return c end)
  if node.negate then
    if found then return nil end
    return k(i, caps)
  end
  if not found then return nil end
  return k(i, found)
end

function matchers.rep(s, node, i, caps, k, count)
  local function more()
    if count >= node.max then return nil end
    return run(s, node.node, i, caps, function(j, c)
      if j == i and count >= node.min then return nil end -- an empty loop stops
      return matchers.rep(s, node, j, c, k, count + 1)
    end)
  end
  if count < node.min then return more() end
  if node.lazy then return k(i, caps) or more() end
  return more() or k(i, caps)
end

matchers["repeat"] = function(s, node, i, caps, k)
  return matchers.rep(s, node, i, caps, k, 0)
end

local Match = {}
Match.__index = Match

function Match:span(g)
  g = g or 0
  if type(g) == "string" then g = self.re.names[g] or error("no such group " .. g, 2) end
  local c = self.caps[g]
  if not c then return nil end
  return c[1], c[2]
end

-- group(g) -> text | nil when the group did not take part.
function Match:group(g)
  local a, b = self:span(g)
  if not a then return nil end
  return self.text:sub(a, b)
end

local Regex = {}
Regex.__index = Regex

-- match(s) -> Match | nil; anchored at the start of s (Python's re.match).
function Regex:match(s)
  local caps = run(s, self.root, 1, {}, function(j, c)
    return setmetatable({ [0] = { 1, j - 1 } }, { __index = c })
  end)
  if not caps then return nil end
  local flat = {}
  for g = 0, self.groups do flat[g] = caps[g] end
  return setmetatable({ caps = flat, text = s, re = self }, Match)
end

-- compile(pattern) -> Regex | nil, message
function M.compile(pattern)
  if type(pattern) ~= "string" then error("pyre.compile: expected a string", 2) end
  local p = setmetatable({ s = pattern, i = 1, ngroups = 0, names = {} }, Parser)
  if pattern:find("^%(%?i%)") then p.icase = true; p.i = 5 end
  local good, root = pcall(function()
    local r = p:alternation()
    if p.i <= #pattern then perr("unbalanced parenthesis at position %d", p.i - 1) end
    return r
  end)
  if not good then
    if type(root) == "table" and root.pyre then
      return nil, string.format("bad regular expression %q: %s", pattern, root.pyre)
    end
    error(root, 0)
  end
  return setmetatable({ root = root, groups = p.ngroups, names = p.names, pattern = pattern }, Regex)
end

return M
