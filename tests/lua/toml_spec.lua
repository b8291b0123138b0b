-- relrun.toml against Python's tomllib (the reference reader setuptools_scm
-- uses): each document is read by both and the results compared through a
-- canonical text form; documents tomllib rejects must be rejected here with
-- a line number.
local fx = require "scm_fixture"
local toml = require "relrun.toml"

-- Canonical form: sorted keys, strings %q-like, numbers as Python prints.
local function canon(v)
  local t = type(v)
  if t == "string" then return "s:" .. v:gsub("[%c\\]", function(c) return string.format("\\%03d", c:byte()) end) end
  if t == "boolean" then return v and "true" or "false" end
  if math.type(v) == "integer" then return "i:" .. v end
  if t == "number" then
    if v ~= v then return "f:nan" end
    if v == math.huge then return "f:inf" elseif v == -math.huge then return "f:-inf" end
    return "f:" .. string.format("%.17g", v)
  end
  local keys, is_array = {}, #v > 0 or next(v) == nil
  for k in pairs(v) do keys[#keys + 1] = k; if type(k) ~= "number" then is_array = false end end
  if is_array and next(v) ~= nil then
    local out = {}
    for k = 1, #v do out[k] = canon(v[k]) end
    return "[" .. table.concat(out, ",") .. "]"
  end
  table.sort(keys)
  local out = {}
  for _, k in ipairs(keys) do out[#out + 1] = canon(k) .. "=" .. canon(v[k]) end
  return "{" .. table.concat(out, ",") .. "}"
end

local PY = [[
import sys, tomllib, math
def canon(v):
    if isinstance(v, bool): return "true" if v else "false"
    if isinstance(v, str):
        bad = lambda c: ord(c) < 32 or c == "\\" or ord(c) == 127
        return "s:" + "".join("\\%03d" % ord(c) if bad(c) else c for c in v)
    if isinstance(v, int): return "i:%d" % v
    if isinstance(v, float):
        if math.isnan(v): return "f:nan"
        if math.isinf(v): return "f:inf" if v > 0 else "f:-inf"
        return "f:%.17g" % v
    if isinstance(v, list): return "{}" if not v else "[" + ",".join(canon(x) for x in v) + "]"
    return "{" + ",".join(canon(k) + "=" + canon(v[k]) for k in sorted(v)) + "}"
try:
    print(canon(tomllib.loads(sys.stdin.read())))
except tomllib.TOMLDecodeError as e:
    print("ERROR", e)
]]

local script = os.tmpname()
do local f = assert(io.open(script, "w")); f:write(PY); f:close() end

local function tomllib(text)
  local code, out, err = fx.sh("/usr/bin/python3 " .. script, { stdin = text })
  assert(code == 0, err)
  return (out:gsub("\n$", ""))
end

local GOOD = {
  pyproject = [=[
# A pyproject.toml as setuptools projects write it
[build-system]
requires = ["setuptools>=64", "setuptools_scm>=7"]  # comment
build-backend = "setuptools.build_meta"

[project]
name = "stock-pipeline"
dynamic = ["version"]
authors = [{ name = "Data Team", email = "data@example.com" }]
dependencies = [
  "pandas>=2",   # trailing comma and comments inside arrays
  'pyarrow',
]

[project.optional-dependencies]
dev = ["pytest"]

[tool.setuptools_scm]
version_scheme = "release-branch-semver"
local_scheme = "no-local-version"
tag_regex = '^(?:v)?(?P<version>\d+\.\d+\.\d+)$'

[tool.setuptools.packages.find]
include = ["bronze*", "silver*", "ingestion*"]
]=],
  strings = [=[
basic = "tab\there \"quoted\" \u00e9 \U0001F600 back\\slash"
literal = 'C:\Users\nodejs'
multi = """
first
  second \
    joined"""
multi_quotes = """two "" quotes and ending ""quote"""""
lit_multi = '''
raw \n stays'''
empty = ""
]=],
  numbers = [=[
a = 1_000
b = -17
c = +5
d = 0xDEAD_beef
e = 0o755
f = 0b1010
g = 3.14
h = -0.5e-3
i = 6e10
j = inf
k = -inf
l = 9223372036854775807
]=],
  keys = [=[
"quoted key" = 1
'literal key'.x = 2
a.b.c = 3
a.b.d = 4
a . e = 5
[t]
x.y = 1
[t.z]
w = 2
[[arr]]
n = 1
[[arr]]
n = 2
[arr.sub]
m = 3
]=],
  arrays = [=[
empty = []
nested = [[1, 2], ["a", 'b'], [[]]]
mixed = [1, "x", {a = 1}, true]
inline = {a = {b = {c = 1}}, "d.e" = 2, f.g = 3}
empty_table = {}
]=],
  crlf = "a = 1\r\n[b]\r\nc = \"x\"\r\n",
}

local BAD = {
  { "duplicate key", "a = 1\na = 2\n", 2 },
  { "duplicate table", "[a]\nb = 1\n[a]\n", 3 },
  { "unterminated string", "a = 1\nb = \"x\n", 2 },
  { "missing value", "[a]\n\nb =\n", 3 },
  { "array without comma", "a = [1 2]\n", 1 },
  { "leading zero", "a = 01\n", 1 },
  { "extending a dotted table", "a.b = 1\n[a]\nc = 1\n", 2 },
  { "extending an inline table", "a = {b = 1}\na.c = 2\n", 2 },
  { "bad escape", "a = \"\\q\"\n", 1 },
  { "two statements on a line", "a = 1 b = 2\n", 1 },
  { "bare key with space", "a b = 1\n", 1 },
  { "header not closed", "[a\nb = 1\n", 1 },
  { "array of tables over a table", "[a]\n[[a]]\n", 2 },
  { "newline in inline table", "a = {b = 1,\nc = 2}\n", 1 },
  { "trailing comma in inline table", "a = {b = 1,}\n", 1 },
  { "double underscore", "a = 1__0\n", 1 },
  { "sign on hex", "a = -0x10\n", 1 },
}

describe("toml vs tomllib", function()
  for name, text in pairs(GOOD) do
    it("reads " .. name, function()
      local doc, err = toml.decode(text, "t.toml")
      ok(doc, err)
      eq(canon(doc), tomllib(text))
    end)
  end
  for _, case in ipairs(BAD) do
    it("refuses " .. case[1] .. " with its line", function()
      local theirs = tomllib(case[2])
      ok(theirs:find("^ERROR"), "tomllib accepts it: " .. theirs)
      local doc, err = toml.decode(case[2], "t.toml")
      eq(doc, nil)
      ok(err:find("^t%.toml:" .. case[3] .. ": "), err)
      eq(select(2, err:gsub("\n", "")), 0, "one line")
    end)
  end
  it("dates are refused clearly (pyproject.toml has none that matter)", function()
    local doc, err = toml.decode("d = 1979-05-27\n", "t.toml")
    eq(doc, nil)
    contains(err, "dates and times are not supported")
  end)
  it("read() names the file", function()
    local doc, err = toml.read("/nonexistent/pyproject.toml")
    eq(doc, nil)
    contains(err, "/nonexistent/pyproject.toml")
  end)
  it("misuse raises", function()
    raises(function() toml.decode(nil) end, "expected a string")
  end)
end)

describe("toml on mangled input", function()
  it("never raises: a table or one 'name:line: message' (fixed seed, 3000 mutations)", function()
    math.randomseed(20261124)
    local alphabet = "[]{}=.,\"'#\n\\ax1_-+:eE0 \t\r"
    local seeds = { GOOD.pyproject, GOOD.strings, GOOD.keys, GOOD.arrays }
    for i = 1, 3000 do
      local s = seeds[i % #seeds + 1]
      for _ = 1, math.random(1, 4) do
        local p = math.random(1, #s + 1)
        local c = alphabet:sub(math.random(#alphabet), math.random(#alphabet))
        s = math.random() < 0.5 and (s:sub(1, p - 1) .. c .. s:sub(p)) or (s:sub(1, p - 1) .. s:sub(p + 1))
      end
      local good, doc, err = pcall(toml.decode, s, "m.toml")
      ok(good, "raised on " .. string.format("%q", s) .. ": " .. tostring(doc))
      if not doc then ok(err:find("^m%.toml:%d+: [^\n]+$"), err) end
    end
  end)
end)
