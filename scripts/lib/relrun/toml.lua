-- A small TOML 1.0 reader for what pyproject.toml uses: tables and arrays of
-- tables, bare/quoted/dotted keys, basic and literal strings (single and
-- multi-line), integers (with _ and 0x/0o/0b), floats, booleans, arrays and
-- inline tables. Dates and times are refused with a clear error.
--
--   local toml = require "relrun.toml"
--   local doc, err = toml.decode(text, "pyproject.toml")
--   -- err: "pyproject.toml:12: expected '=' after key \"name\""
local M = {}

local Parser = {}
Parser.__index = Parser

function Parser:fail(fmt, ...)
  error({ toml = string.format("%s:%d: " .. fmt, self.name, self.line, ...) }, 0)
end

-- Text quoted for a one-line message: control characters as \ddd.
local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    if c == '"' or c == "\\" then return "\\" .. c end
    return string.format("\\%03d", c:byte())
  end) .. '"'
end

-- What was found, for messages: never a raw control character.
local function shown(c)
  if c == "" then return "end of input" end
  if c == "\n" or c == "\r" then return "end of line" end
  return quote(c)
end

function Parser:peek(n)
  return self.s:sub(self.i, self.i + (n or 1) - 1)
end

function Parser:advance(n)
  if n == 1 then
    if self.s:byte(self.i) == 10 then self.line = self.line + 1 end
  else
    local _, nl = self.s:sub(self.i, self.i + n - 1):gsub("\n", "")
    self.line = self.line + nl
  end
  self.i = self.i + n
end

-- Spaces and tabs only (newlines end statements).
function Parser:blank()
  local _, e = self.s:find("^[ \t]*", self.i)
  self.i = e + 1
end

-- Blank lines, comments and whitespace (inside arrays).
function Parser:skip_all()
  while true do
    self:blank()
    local c = self:peek()
    if c == "#" then
      local e = self.s:find("\n", self.i, true) or #self.s + 1
      self.i = e
    elseif c == "\n" then
      self:advance(1)
    elseif self:peek(2) == "\r\n" then
      self:advance(2)
    else
      return
    end
  end
end

-- After a statement: optional comment, then newline or end of input.
function Parser:end_of_line()
  self:blank()
  if self:peek() == "#" then
    local e = self.s:find("\n", self.i, true) or #self.s + 1
    local comment = self.s:sub(self.i, e - 1)
    if comment:find("[%z\1-\8\11-\31\127]") then self:fail("control character in comment") end
    self.i = e
  end
  if self.i > #self.s then return end
  if self:peek(2) == "\r\n" then self:advance(2); return end
  if self:peek() == "\n" then self:advance(1); return end
  self:fail("expected the end of the line, found %s", shown(self:peek()))
end

local ESCAPES = { b = "\b", t = "\t", n = "\n", f = "\f", r = "\r", ['"'] = '"', ["\\"] = "\\" }

function Parser:escape()
  local c = self:peek()
  if ESCAPES[c] then self:advance(1); return ESCAPES[c] end
  local len = (c == "u" and 4) or (c == "U" and 8)
  if not len then self:fail("invalid escape \\ followed by %s", shown(c)) end
  local hex = self.s:sub(self.i + 1, self.i + len)
  if #hex ~= len or hex:find("[^%x]") then self:fail("invalid \\%s escape", c) end
  local cp = tonumber(hex, 16)
  if cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF) then self:fail("invalid unicode scalar \\%s%s", c, hex) end
  self:advance(len + 1)
  return utf8.char(cp)
end

-- At the closing `delim`: up to two more quotes right before its end
-- belong to the string. Returns them and moves past the delimiter.
function Parser:closing_quotes(delim)
  local extra = 0
  while extra < 2 and self.s:sub(self.i + 3 + extra, self.i + 3 + extra) == delim:sub(1, 1) do
    extra = extra + 1
  end
  self:advance(3 + extra)
  return delim:sub(1, extra)
end

-- After a backslash in a multi-line basic string: a line-ending backslash
-- drops the newline and the whitespace after it (""), else an escape.
function Parser:multiline_escape()
  self:advance(1)
  local _, e = self.s:find("^[ \t]*\r?\n", self.i)
  if not e then return self:escape() end
  self:advance(e - self.i + 1)
  local _, e2 = self.s:find("^[ \t\r\n]*", self.i)
  self:advance(e2 - self.i + 1)
  return ""
end

-- A multi-line string body up to `delim` (""" or ''').
function Parser:multiline(delim, basic)
  self:advance(3)
  if self:peek() == "\n" then self:advance(1) elseif self:peek(2) == "\r\n" then self:advance(2) end
  local out = {}
  while true do
    if self.i > #self.s then self:fail("unterminated multi-line string") end
    if self:peek(3) == delim then
      out[#out + 1] = self:closing_quotes(delim)
      return table.concat(out)
    end
    -- a run of plain characters at once (what is not a quote, a backslash
    -- or a control character other than tab and newline)
    local a, b = self.s:find(basic and '^[^"\\%z\1-\8\11-\31\127]+' or "^[^'%z\1-\8\11-\31\127]+", self.i)
    if a then
      out[#out + 1] = self.s:sub(a, b)
      self:advance(b - a + 1)
    else
      local c = self:peek()
      if basic and c == "\\" then
        out[#out + 1] = self:multiline_escape()
      else
        if c:find("[%z\1-\8\11\12\14-\31\127]") then self:fail("control character in string") end
        out[#out + 1] = c
        self:advance(1)
      end
    end
  end
end

function Parser:basic_string()
  self:advance(1)
  local out = {}
  while true do
    local c = self:peek()
    if c == "" or c == "\n" then self:fail("unterminated string") end
    if c == '"' then self:advance(1); return table.concat(out) end
    local a, b = self.s:find('^[^"\\%z\1-\31\127]+', self.i)   -- plain characters, at once
    if a then
      out[#out + 1] = self.s:sub(a, b)
      self.i = b + 1
    elseif c == "\\" then
      self:advance(1)
      out[#out + 1] = self:escape()
    else
      if c:find("[%z\1-\8\10-\31\127]") then self:fail("control character in string") end
      out[#out + 1] = c
      self:advance(1)
    end
  end
end

function Parser:literal_string()
  local e = self.s:find("['\n]", self.i + 1)
  if not e or self.s:sub(e, e) ~= "'" then self:fail("unterminated literal string") end
  local body = self.s:sub(self.i + 1, e - 1)
  if body:find("[%z\1-\8\10-\31\127]") then self:fail("control character in string") end
  self.i = e + 1
  return body
end

function Parser:string()
  if self:peek(3) == '"""' then return self:multiline('"""', true) end
  if self:peek(3) == "'''" then return self:multiline("'''", false) end
  if self:peek() == '"' then return self:basic_string() end
  return self:literal_string()
end

function Parser:key_part()
  local c = self:peek()
  if c == '"' then
    if self:peek(3) == '"""' then self:fail("multi-line strings cannot be keys") end
    return self:basic_string()
  end
  if c == "'" then
    if self:peek(3) == "'''" then self:fail("multi-line strings cannot be keys") end
    return self:literal_string()
  end
  local a, b = self.s:find("^[A-Za-z0-9_-]+", self.i)
  if not a then self:fail("expected a key, found %s", shown(c)) end
  self.i = b + 1
  return self.s:sub(a, b)
end

-- key ( . key )* -> list of parts
function Parser:key()
  local parts = { self:key_part() }
  while true do
    self:blank()
    if self:peek() ~= "." then return parts end
    self:advance(1)
    self:blank()
    parts[#parts + 1] = self:key_part()
  end
end

local function clean_number(p, text)
  if text:find("__") or text:find("^_") or text:find("_$") or text:find("_[^%x]") or text:find("[^%x]_") then
    p:fail("invalid number %s", text)
  end
  return (text:gsub("_", ""))
end

-- 0x.., 0o.., 0b..: unsigned integers in base 16, 8 or 2.
function Parser:prefixed_integer(text, sign, prefix, digits)
  if sign ~= "" then self:fail("a sign is not allowed on %s", text) end
  local base = ({ x = 16, o = 8, b = 2 })[prefix]
  local pat = ({ x = "^[%x_]+$", o = "^[0-7_]+$", b = "^[01_]+$" })[prefix]
  if not digits:find(pat) then self:fail("invalid number %s", text) end
  return math.tointeger(tonumber(clean_number(self, digits), base)) or self:fail("number %s too large", text)
end

local function is_float(body)
  return body:find("^%d[%d_]*%.%d[%d_]*$") or body:find("^%d[%d_]*%.%d[%d_]*[eE][+-]?%d[%d_]*$")
    or body:find("^%d[%d_]*[eE][+-]?%d[%d_]*$")
end

-- The number `text` (sign, then `body`): inf, nan, prefixed or decimal
-- integer, float.
function Parser:number_of(text, sign, body)
  if body == "inf" then return sign == "-" and -math.huge or math.huge end
  if body == "nan" then return 0 / 0 end
  local prefix, digits = body:match("^0([xob])(.+)$")
  if prefix then return self:prefixed_integer(text, sign, prefix, digits) end
  if body:find("^%d[%d_]*$") then
    if body:find("^0.") then self:fail("leading zeros are not allowed in %s", text) end
    local n = math.tointeger(tonumber(sign .. clean_number(self, body)))
    if not n then self:fail("integer %s does not fit 64 bits", text) end
    return n
  end
  if is_float(body) then
    if body:find("^0%d") then self:fail("leading zeros are not allowed in %s", text) end
    return tonumber(sign .. clean_number(self, body))
  end
  self:fail("invalid value %s", text ~= "" and quote(text) or shown(self:peek()))
end

function Parser:number()
  local a, b = self.s:find("^[-+0-9A-Za-z_.:]+", self.i)
  local text = a and self.s:sub(a, b) or ""
  if text:find("^%d%d%d%d%-") or text:find("^%d%d:") then self:fail("dates and times are not supported") end
  self.i = (b or self.i - 1) + 1
  local sign, body = text:match("^([+-]?)(.*)$")
  return self:number_of(text, sign, body)
end

function Parser:array()
  self:advance(1)
  local out = {}
  while true do
    self:skip_all()
    if self:peek() == "]" then self:advance(1); return out end
    out[#out + 1] = self:value()
    self:skip_all()
    local c = self:peek()
    if c == "," then
      self:advance(1)
    elseif c == "]" then
      self:advance(1)
      return out
    else
      self:fail("expected ',' or ']' in array, found %s", shown(c))
    end
  end
end

function Parser:inline_table()
  self:advance(1)
  local out = {}
  self.frozen[out] = true
  self:blank()
  if self:peek() == "}" then self:advance(1); return out end
  while true do
    self:blank()
    self:assign(out)
    self:blank()
    local c = self:peek()
    if c == "}" then self:advance(1); return out end
    if c ~= "," then self:fail("expected ',' or '}' in inline table, found %s", shown(c)) end
    self:advance(1)
  end
end

function Parser:value()
  local c = self:peek()
  if c == '"' or c == "'" then return self:string() end
  if c == "[" then return self:array() end
  if c == "{" then return self:inline_table() end
  if self.s:find("^true[^%w_-]", self.i) or self.s:sub(self.i) == "true" then self.i = self.i + 4; return true end
  if self.s:find("^false[^%w_-]", self.i) or self.s:sub(self.i) == "false" then self.i = self.i + 5; return false end
  if c == "" or c == "\n" then self:fail("expected a value") end
  return self:number()
end

-- Walk (creating) the tables of a dotted key's prefix inside `t`.
function Parser:descend(t, parts, last, implicit)
  for k = 1, last do
    local name = parts[k]
    local v = t[name]
    if v == nil then
      v = {}
      t[name] = v
      if implicit then self.dotted[v] = true end
    elseif type(v) ~= "table" or self.frozen[v] or (self.arrays[v] and implicit) then
      self:fail("key %s is already defined", quote(table.concat(parts, ".", 1, k)))
    elseif self.arrays[v] then
      v = v[#v] -- [a.b] after [[a]] goes into a's last table
    elseif implicit and self.defined[v] and not self.dotted[v] then
      self:fail("cannot add keys to table %s with a dotted key", quote(table.concat(parts, ".", 1, k)))
    end
    t = v
  end
  return t
end

-- key = value, into table `t`.
function Parser:assign(t)
  local parts = self:key()
  self:blank()
  if self:peek() ~= "=" then self:fail("expected '=' after key %s", quote(table.concat(parts, "."))) end
  self:advance(1)
  self:blank()
  local target = self:descend(t, parts, #parts - 1, true)
  local last = parts[#parts]
  if target[last] ~= nil then self:fail("key %s is already defined", quote(table.concat(parts, "."))) end
  local v = self:value()
  -- a literal array or inline table is complete: no header may extend it
  if type(v) == "table" then self.frozen[v] = true end
  target[last] = v
end

-- [[a.b]]: a new table appended to the array of tables at parent[last].
function Parser:array_table(parent, last, parts)
  local existing = parent[last]
  if existing == nil then
    existing = {}
    self.arrays[existing] = true
    parent[last] = existing
  elseif not self.arrays[existing] then
    self:fail("key %s is already defined and is not an array of tables", quote(table.concat(parts, ".")))
  end
  local t = {}
  existing[#existing + 1] = t
  self.defined[t] = true
  return t
end

-- [a.b]: the table at parent[last], which no header, literal or dotted key
-- may have defined before.
function Parser:standard_table(parent, last, parts)
  local existing = parent[last]
  if existing == nil then
    existing = {}
    parent[last] = existing
  elseif type(existing) ~= "table" or self.frozen[existing] or self.arrays[existing]
      or self.defined[existing] or self.dotted[existing] then
    self:fail("table %s is already defined", quote(table.concat(parts, ".")))
  end
  self.defined[existing] = true
  return existing
end

-- [a.b] or [[a.b]]
function Parser:header()
  local double = self:peek(2) == "[["
  self:advance(double and 2 or 1)
  self:blank()
  local parts = self:key()
  self:blank()
  if self:peek(double and 2 or 1) ~= (double and "]]" or "]") then
    self:fail("expected '%s' to close the table header", double and "]]" or "]")
  end
  self:advance(double and 2 or 1)
  local parent = self:descend(self.root, parts, #parts - 1, false)
  if double then return self:array_table(parent, parts[#parts], parts) end
  return self:standard_table(parent, parts[#parts], parts)
end

local function parse(p)
  local current = p.root
  while true do
    p:skip_all()
    if p.i > #p.s then return p.root end
    if p:peek() == "[" then
      current = p:header()
    else
      p:assign(current)
    end
    p:end_of_line()
  end
end

-- decode(text [, name]) -> table | nil, "name:line: message"
function M.decode(text, name)
  if type(text) ~= "string" then error("toml.decode: expected a string, got " .. type(text), 2) end
  if not utf8.len(text) then return nil, (name or "toml") .. ": not valid UTF-8" end
  local p = setmetatable({ s = text, i = 1, line = 1, name = name or "toml", root = {},
    frozen = {}, arrays = {}, defined = {}, dotted = {} }, Parser)
  if text:sub(1, 3) == "\239\187\191" then p.i = 4 end
  local good, result = pcall(parse, p)
  if good then return result end
  if type(result) == "table" and result.toml then return nil, result.toml end
  error(result, 0)
end

-- read(path) -> table | nil, message
function M.read(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  return M.decode(text, path)
end

return M
