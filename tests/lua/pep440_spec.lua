-- relrun.pep440 against packaging.version (python3-packaging, the reference):
-- the same corpus goes through both; normalised forms, validity, flags and
-- the full sort order must agree.
local fx = require "scm_fixture"
local pep440 = require "relrun.pep440"

local CORPUS = {
  "1.0", "1.0.0", "1", "01.002.0003", "v1.0", "V2.0", " 1.0\n", "1!2.0", "0!1.0",
  "1.0a1", "1.0A1", "1.0alpha1", "1.0-alpha-1", "1.0.a.1", "1.0a", "1.0b2", "1.0beta", "1.0c1", "1.0rc1",
  "1.0pre1", "1.0preview2", "1.0-RC.1", "1.0rc_1",
  "1.0.post1", "1.0post", "1.0-1", "1.0-r2", "1.0rev3", "1.0.post-4", "1.0_post_5",
  "1.0.dev0", "1.0dev", "1.0-dev-7", "1.0.dev_8",
  "1.0a1.post2.dev3", "1.0rc1-1", "1.0a-1", "2!1.0rc1.post0.dev0+abc.5",
  "1.0+local", "1.0+Ubuntu-1", "1.0+a_b.c-01", "1.0+1", "1.0+01.a",
  "1.0.0.0.0", "1.0.0.0.1", "0.0.0", "1.0.0.post0", "1.0.0.dev0", "1.0.0a0",
  -- invalid
  "", "x", "1.0+", "1.0+a..b", "1.0.", ".1", "1.0a1a1", "1.0..0", "1.0-", "1.0+-a", "v", "1.0 rc1", "1.0.post1.post2",
  "1_0", "1.0+a+b", "٣.0",
}

local PY = [[
import sys, json
from packaging.version import Version, InvalidVersion
out = []
for s in json.load(sys.stdin):
    try:
        v = Version(s)
        out.append([str(v), v.public, v.local or "", v.is_prerelease, v.is_postrelease, v.is_devrelease])
    except InvalidVersion:
        out.append(None)
for row in out:
    print("INVALID" if row is None else "\t".join(str(x) for x in row))
valid = sorted({str(Version(s)) for s in json.load(open(sys.argv[1])) if s is not None})
print("ORDER\t" + "\t".join(sorted(valid, key=Version)))
]]

-- A JSON list of strings, built by hand (no JSON module needed here).
local function json_list(list)
  local out = {}
  for k, s in ipairs(list) do
    out[k] = '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
  end
  return "[" .. table.concat(out, ",") .. "]"
end

local function reference()
  local script, valid = os.tmpname(), os.tmpname()
  local f = assert(io.open(script, "w")); f:write(PY); f:close()
  local normalised = {}
  for _, s in ipairs(CORPUS) do
    local v = pep440.normalize(s)
    if v then normalised[#normalised + 1] = v end
  end
  f = assert(io.open(valid, "w")); f:write(json_list(normalised)); f:close()
  local code, out, err = fx.sh("/usr/bin/python3 " .. script .. " " .. valid, { stdin = json_list(CORPUS) })
  os.remove(script); os.remove(valid)
  assert(code == 0, "python3 failed: " .. err)
  local lines = {}
  for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
  return lines
end

describe("pep440 vs packaging.version", function()
  local lines = reference()
  for k, s in ipairs(CORPUS) do
    it((string.format("%q", s):gsub("\n", "n")), function()
      local v, err = pep440.parse(s)
      if lines[k] == "INVALID" then
        eq(v, nil, "packaging rejects it")
        ok(err:find("invalid version", 1, true), err)
      else
        ok(v, err)
        local public, loc = pep440.split(s)
        local row = table.concat({ tostring(v), public, loc or "", v:is_prerelease() and "True" or "False",
          v:is_postrelease() and "True" or "False", v:is_devrelease() and "True" or "False" }, "\t")
        eq(row, lines[k])
      end
    end)
  end
  it("sorts like packaging", function()
    local order = lines[#lines]
    local list = {}
    for _, s in ipairs(CORPUS) do
      local v = pep440.normalize(s)
      if v then list[#list + 1] = v end
    end
    local seen, uniq = {}, {}
    for _, v in ipairs(list) do if not seen[v] then seen[v] = true; uniq[#uniq + 1] = v end end
    table.sort(uniq)  -- a stable start, as Python's sorted() of the set is not ordered
    table.sort(uniq, function(a, b) return pep440.compare(a, b) < 0 end)
    -- equal versions (1.0 and 1.0.0) may come in either order: compare keys
    local theirs = {}
    for s in order:gmatch("\t([^\t]+)") do theirs[#theirs + 1] = s end
    eq(#uniq, #theirs, "same number of versions")
    for i = 1, #uniq do
      eq(pep440.compare(uniq[i], theirs[i]), 0, "position " .. i .. ": " .. uniq[i] .. " vs " .. theirs[i])
    end
  end)
end)

describe("pep440 api", function()
  it("compares across forms", function()
    eq(pep440.compare("1.0.dev0", "1.0a1"), -1)
    eq(pep440.compare("1.0", "1.0.0"), 0)
    eq(pep440.compare("1.0+1", "1.0+a"), 1)
    eq(pep440.compare("1.0.post1", "1.0"), 1)
    ok(pep440.parse("1.0") < pep440.parse("1.1"))
  end)
  it("misuse raises", function()
    raises(function() pep440.parse(1) end, "expected a string")
    raises(function() pep440.compare("x", "1.0") end, "invalid version")
  end)
  it("a number too large for 64 bits is refused, not rounded", function()
    local v, err = pep440.parse("1." .. string.rep("9", 25))
    eq(v, nil)
    contains(err, "too large")
  end)
end)
