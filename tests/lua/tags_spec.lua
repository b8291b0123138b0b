-- relrun.tags: the tag scheme detected from real projects' tag sets (names
-- as they are in those repositories), versions read and tags named.
local tags = require "relrun.tags"

local function names(prefix, versions)
  local out = {}
  for _, v in ipairs(versions) do out[#out + 1] = prefix .. v end
  return out
end

local function join(...)
  local out = {}
  for _, list in ipairs({ ... }) do for _, n in ipairs(list) do out[#out + 1] = n end end
  return out
end

describe("relrun.tags scheme detection", function()
  it("takes the scheme of the newest release, not of the most tags (jaraco.functools: bare, then v)", function()
    local old = {}
    for k = 0, 26 do old[#old + 1] = "1." .. k end
    local s = tags.scheme{ names = join(old, names("v", { "2.1", "3.0.0", "4.2.1", "4.3.0" })),
                           package = "jaraco.functools" }
    eq(s.prefix, "v")
    eq(s:last(join(old, { "v4.3.0", "v4.2.1" })).name, "v4.3.0")
  end)

  it("takes the package's own prefix in a repository that releases several (pypa/hatch)", function()
    local list = join(names("hatch-v", { "1.17.1", "1.18.0" }),
                      names("hatchling-v", { "1.30.0", "1.31.0", "1.32.0" }), { "v0.1.0" })
    eq(tags.scheme{ names = list, package = "hatch" }.prefix, "hatch-v")
    eq(tags.scheme{ names = list, package = "hatchling" }.prefix, "hatchling-v")
    eq(tags.scheme{ names = names("pkg/", { "1.0" }), package = "pkg" }.prefix, "pkg/")
  end)

  it("follows a package prefix renamed to a generic one: the same releases tagged both ways (pyparsing)", function()
    -- pyparsing_3.0.9 .. pyparsing_3.1.2, the last three tagged bare as well
    -- on the same commits, then bare only up to 3.3.2
    local prefixed = { "3.0.9", "3.1.0", "3.1.1", "3.1.2" }
    local bare = { "3.1.0", "3.1.1", "3.1.2", "3.2.0", "3.3.2" }
    local list, targets = join(names("pyparsing_", prefixed), bare), {}
    for _, v in ipairs(prefixed) do targets["pyparsing_" .. v] = "commit-of-" .. v end
    for _, v in ipairs(bare) do targets[v] = "commit-of-" .. v end
    local s = tags.scheme{ names = list, package = "pyparsing", targets = targets }
    eq(s.prefix, "")
    eq(s:last(list).name, "3.3.2")
    -- a monorepo: the root's bare tags are another package's, on other
    -- commits, however high: the package's own prefix stays
    for _, v in ipairs(bare) do targets[v] = "root-commit-" .. v end
    eq(tags.scheme{ names = list, package = "pyparsing", targets = targets }.prefix, "pyparsing_")
    eq(tags.scheme{ names = list, package = "pyparsing" }.prefix, "pyparsing_", "no targets known: as before")
  end)

  it("reads bare CalVer tags and ignores branch-like ones (certifi's 2026.07.22, markupsafe's 2.1.x)", function()
    local s = tags.scheme{ names = { "2026.07.22", "2026.06.17", "2.1.x", "1.1.x", "2025.1.31" }, package = "certifi" }
    eq(s.prefix, "")
    local last = s:last({ "2026.07.22", "2026.06.17", "2.1.x" })
    eq(last.name, "2026.07.22")
    eq(last.version, "2026.7.22")
  end)

  it("a version-shaped tag that is not a release (nightly-2026, build-17) does not take over the scheme", function()
    local list = join(names("v", { "0.1.0", "0.2.0" }), { "nightly-2026", "build-17" })
    eq(tags.scheme{ names = list, package = "stock-pipeline" }.prefix, "v")
    eq(tags.scheme{ names = join(names("", { "1.0", "1.1" }), { "deploy-99" }) }.prefix, "")
    -- the only scheme there is, though: a project whose releases are all so named
    eq(tags.scheme{ names = { "stable-1.0", "stable-1.1" } }.prefix, "stable-")
  end)

  it("breaks a tie by the number of tags, then v before no prefix", function()
    eq(tags.scheme{ names = { "v1.0", "1.0", "1.1" } }.prefix, "")   -- 1.1 is the newest
    eq(tags.scheme{ names = { "v1.0", "1.0" } }.prefix, "v")
    eq(tags.scheme{ names = {} }.prefix, "v")
    eq(tags.scheme{ names = { "v1.0" }, prefix = "" }.prefix, "")
  end)
end)
