-- relrun.pyre (Python re subset for tag_regex) against Python's re: the
-- same patterns and subjects through both; every group must agree.
local fx = require "scm_fixture"
local pyre = require "relrun.pyre"

local PATTERNS = {
  [[^(?:[\w-]+-)?(?P<version>[vV]?\d+(?:\.\d+){0,2}[^\+]*)(?:\+.*)?$]],
  [[^(?:v)?(?P<version>\d+\.\d+\.\d+)$]],
  [[^release/(\d+(?:\.\d+)*)$]],
  [[(a|ab)(c|bcd)(d*)]],
  [[^(.*?)(\d+)$]],
  [[(?i)^V(\d+)]],
  [[^pkg-(?P<version>.+?)(?:-final)?$]],
  [[^(?P<version>\d+)\.(?!0)\d+]],
  [[^v?(\d+){2,3}x{,2}]],
  [[^\bv\B\d\s?[^\d\s]*$]],
  [[^[a-c-]+(?=\d)(\d)]],
  [[x{2}|y{1,}z?]],
  [[^(?:(\d)|([a-z]))+$]],
}
local SUBJECTS = {
  "v1.2.3", "release-v1.2.3", "foo-bar-1.0rc1+local", "1.0.0-alpha", "release/2.0", "abcd", "2.0.0rc12",
  "V3x", "x1", "1.2.3.4.5", "pkg-1.0-final", "pkg-1.0", "1.01", "1.10", "1234xx", "v5 abc", "ab-c7", "xx",
  "yyyz", "a1b2", "", "v", "1", string.rep("1.", 120) .. "1",
}

local PY = [[
import re, sys
pats = sys.stdin.read().split("\0")
subjects = pats.pop().split("\1")
for p in pats:
    r = re.compile(p)
    for s in subjects:
        m = r.match(s)
        print("None" if m is None else "|".join("~" if m.group(g) is None else m.group(g) for g in range(r.groups + 1)))
]]

describe("pyre vs Python re", function()
  local script = os.tmpname()
  local f = assert(io.open(script, "w")); f:write(PY); f:close()
  local input = table.concat(PATTERNS, "\0") .. "\0" .. table.concat(SUBJECTS, "\1")
  local code, out, err = fx.sh("/usr/bin/python3 " .. script, { stdin = input })
  os.remove(script)
  assert(code == 0, err)
  local lines = {}
  for line in (out):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  local k = 0
  for _, p in ipairs(PATTERNS) do
    local rows = {}
    for _ = 1, #SUBJECTS do k = k + 1; rows[#rows + 1] = lines[k] end
    it(p, function()
      local re = assert(pyre.compile(p))
      for i, s in ipairs(SUBJECTS) do
        local m = re:match(s)
        local got = "None"
        if m then
          local g = {}
          for n = 0, re.groups do g[#g + 1] = m:group(n) or "~" end
          got = table.concat(g, "|")
        end
        eq(got, rows[i], string.format("%q", s))
      end
    end)
  end
end)

describe("pyre errors", function()
  for _, bad in ipairs({ "(", "(?P<v>a", "[a-", "*a", "a**", "(?P<1>x)", "\\", "a)", "(?<=a)b", "[z-a]" }) do
    it("refuses " .. bad, function()
      local re, err = pyre.compile(bad)
      eq(re, nil)
      contains(err, "bad regular expression")
    end)
  end
end)

describe("relrun.scm tags tag_regex does not read", function()
  it("says what to set when the nearest tag holds no version (alembic's rel_1_19_2)", function()
    local scm = require "relrun.scm"
    local v, err = scm.tag_to_version("rel_1_19_2")
    eq(v, nil)
    eq(err.code, "BAD_TAG")
    contains(err.message, 'tag "rel_1_19_2" holds no version')
    contains(err.hint, "[tool.setuptools_scm] tag_regex")
    eq(scm.tag_to_version("v1.19.2"), "1.19.2")
  end)
end)
