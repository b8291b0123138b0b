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

describe("relrun.tags last release", function()
  local s = tags.scheme{ names = { "0.18.0", "1.0.0.beta0", "0.19.0", "0.28.1" } }
  local function standing(map) return function(name) return map[name] end end

  it("is the highest release without knowing the repository", function()
    eq(s:last({ "0.18.0", "1.0.0.beta0", "0.28.1" }).name, "1.0.0.beta0")
  end)

  -- commits a1 (1.0.0.beta0) <- a2 (0.28.1) on one line; b1 (a 1.x fix) on its own branch
  local function holds(a, b) return a == b or (a == "a2" and b == "a1") end

  it("leaves out a pre-release a lower final release was made on top of later (httpx's 1.0.0.beta0)", function()
    local at = standing{ ["0.18.0"] = { contained = true, time = 100, id = "a0" },
                         ["1.0.0.beta0"] = { contained = true, time = 200, id = "a1" },
                         ["0.28.1"] = { contained = true, time = 900, id = "a2" } }
    eq(s:last({ "0.18.0", "1.0.0.beta0", "0.28.1" }, at, holds).name, "0.28.1")
  end)

  it("keeps a pre-release when the later lower final release is another branch's (sqlalchemy's 2.1.0b3, 2.0.52)", function()
    local at = standing{ ["2.1.0b3"] = { time = 200, id = "a1" }, ["2.0.52"] = { time = 900, id = "b1" } }
    eq(s:last({ "2.1.0b3", "2.0.52" }, at, holds).name, "2.1.0b3")
  end)

  it("leaves out a pre-release HEAD does not hold once lower final releases were made (sentry's 3.0.0a7)", function()
    -- b1 (3.0.0a7) on a side branch; a2 (2.68.0) on master, made later; HEAD is a3 on master
    local function held(a, b) return a == b or ((a == "a3" or a == "a2") and b:sub(1, 1) == "a") end
    local at = standing{ ["3.0.0a7"] = { time = 200, id = "b1" }, ["2.68.0"] = { time = 900, id = "a2" } }
    eq(s:last({ "3.0.0a7", "2.68.0" }, at, held, "a3").name, "2.68.0")
    -- sqlalchemy: main (HEAD a3) holds 2.1.0b3 (a1); 2.0.52 (b1) is the 2.0 branch's
    at = standing{ ["2.1.0b3"] = { time = 200, id = "a1" }, ["2.0.52"] = { time = 900, id = "b1" } }
    eq(s:last({ "2.1.0b3", "2.0.52" }, at, held, "a3").name, "2.1.0b3")
  end)

  it("keeps a pre-release made after the last final release", function()
    local at = standing{ ["0.28.1"] = { contained = true, time = 100, id = "a1" },
                         ["1.0.0rc1"] = { contained = true, time = 200, id = "a2" } }
    eq(s:last({ "0.28.1", "1.0.0rc1" }, at, holds).name, "1.0.0rc1")
    eq(s:last({ "1.0.0rc1" }, at, holds).name, "1.0.0rc1")
  end)

  it("leaves out tags HEAD does not hold (9.2.0 seen from the 9.1.x branch)", function()
    local at = standing{ ["9.1.3"] = { contained = true, time = 300 }, ["9.2.0"] = { contained = false, time = 200 } }
    eq(s:last({ "9.1.3", "9.2.0" }, at, holds).name, "9.1.3")
  end)

  it("counts a tag whose standing is unknown as held (a shallow clone)", function()
    local at = standing{ ["9.1.3"] = { contained = true, time = 300 } }
    eq(s:last({ "9.1.3", "9.2.0" }, at, holds).name, "9.2.0")
  end)
end)

describe("relrun.phases.tag wanted_version", function()
  it("reads --version spelled as the scheme tags it (alembic's rel_1_19_3) and as PEP 440", function()
    local scheme = tags.scheme{ names = { "rel_1_19_1", "rel_1_19_2" } }
    local wanted = require("relrun.phases.tag").wanted_version
    eq(wanted({ version = "rel_1_19_3" }, nil, scheme), "1.19.3")
    eq(wanted({ version = "1.19.3" }, nil, scheme), "1.19.3")
    local good, err = pcall(wanted, { version = "rel_banana" }, nil, scheme)
    ok(not good and tostring(err):find("invalid version", 1, true), tostring(err))
  end)
end)

describe("relrun.tags scheme detection", function()
  it("takes the scheme of the newest release, not of the most tags (jaraco.functools: bare, then v)", function()
    local old = {}
    for k = 0, 26 do old[#old + 1] = "1." .. k end
    local s = tags.scheme{ names = join(old, names("v", { "2.1", "3.0.0", "4.2.1", "4.3.0" })),
                           package = "jaraco.functools" }
    eq(s.prefix, "v")
    eq(s:last(join(old, { "v4.3.0", "v4.2.1" })).name, "v4.3.0")
  end)

  it("takes the package's tags spelled NAME==VERSION by its last name part (langgraph's libs/checkpoint)", function()
    local list = join(names("checkpoint==", { "4.1.0", "4.2.0" }), names("sdk==", { "0.3.0" }),
                      { "1.2.10", "1.2.11" })
    local s = tags.scheme{ names = list, package = "langgraph-checkpoint" }
    eq(s.prefix, "checkpoint==")
    eq(s:last(list).name, "checkpoint==4.2.0")
    eq(s:tag("4.2.1"), "checkpoint==4.2.1")
    eq(tags.scheme{ names = list, package = "langgraph" }.prefix, "")
    eq(tags.scheme{ names = list, package = "langgraph-sdk" }.prefix, "sdk==")
    -- prebuilt==0.5.0 and langgraph's 0.5.0 on one commit, then prebuilt== alone
    local targets = { ["prebuilt==0.5.0"] = "c5", ["0.5.0"] = "c5", ["prebuilt==1.1.0"] = "c9", ["1.2.11"] = "c8" }
    local with_prebuilt = join(list, { "prebuilt==0.5.0", "0.5.0", "prebuilt==1.1.0" })
    eq(tags.scheme{ names = with_prebuilt, package = "langgraph-prebuilt", targets = targets }.prefix, "prebuilt==")
    list[#list + 1] = "checkpointsqlite==2.0.1"
    eq(tags.scheme{ names = list, package = "langgraph-checkpoint-sqlite" }.prefix, "checkpointsqlite==")
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

describe("relrun.tags spelling", function()
  -- SQLAlchemy: rel_0_9_0 .. rel_2_0_36, rel_2_1_0b3
  local sqlalchemy = { "rel_0_9_0", "rel_1_4_54", "rel_2_0_35", "rel_2_0_36", "rel_2_1_0b2", "rel_2_1_0b3" }

  it("reads and writes versions with _ between numbers (SQLAlchemy's rel_2_1_0b3)", function()
    local s = tags.scheme{ names = join(sqlalchemy, { "rel_1.0" }), package = "SQLAlchemy" }
    eq(s.prefix, "rel_")
    eq(s.how, "detected from 6 tags")
    eq(s:pattern(), "rel_VERSION with _ between numbers")
    eq(s:version("rel_2_1_0b3"), "2.1.0b3")
    eq(s:version("rel_1.0"), nil, "the other spelling is not this scheme's")
    eq(s:last(sqlalchemy).name, "rel_2_1_0b3")
    eq(s:tag("2.1.0b4"), "rel_2_1_0b4")
    eq(s:tag(s:bump(s:last(sqlalchemy).parsed, "pre")), "rel_2_1_0b4")
    eq(s:tag("VERSION"), "rel_VERSION")
    local configured = tags.scheme{ names = sqlalchemy, prefix = "rel_" }
    eq({ configured:tag("2.1.0"), (configured:version("rel_2_0_36")) }, { "rel_2_1_0", "2.0.36" })
    -- only a "_" between digits is a dot; a dotted project is unchanged
    eq(tags.scheme{ names = { "rel_1_0_rc1" } }:version("rel_1_0_rc1"), "1.0rc1")
    local dotted = tags.scheme{ names = { "v1.0.0", "v1.1.0", "v1_2_0" } }
    eq({ dotted:pattern(), dotted:tag("1.2.0"), (dotted:version("v1_2_0")) }, { "vVERSION", "v1.2.0", nil })
  end)

  it("finds the tag of a version however it is spelled (rollback, verify)", function()
    local G = require "git_fixtures"
    local project = require "relrun.project"
    local dir = G.repo()
    require("relrun.fs").write(dir .. "/pyproject.toml", '[project]\nname = "SQLAlchemy"\n')
    G.git(dir, "add pyproject.toml")
    G.git(dir, "commit -q -m start")
    for _, name in ipairs({ "rel_2_0_36", "rel_2_1_0b4" }) do G.git(dir, "tag " .. name) end
    local p = assert(project.open{ dir = dir, getenv = function() return nil end })
    eq(p:release_tag("2.1.0b4"), "rel_2_1_0b4")
    eq(p:release_tag("2.1.0"), "rel_2_1_0")
    eq(p:last_release().name, "rel_2_1_0b4")
    p:close()
    G.rmrf(dir)
  end)

  it("says so when a repository has tags but none reads as a version", function()
    local s = tags.scheme{ names = { "latest", "nightly", "docs-site" } }
    eq(s.prefix, "v")
    eq(s.how, "default (3 tags, none reads as a release version)")
    eq(tags.scheme{ names = {} }.how, "default (no release tags yet)")
  end)

  it("writes x.y.0 as x.y when the project's tags do (pip's 26.0, 26.1, 26.2, 26.2.1)", function()
    local pip = tags.scheme{ names = { "25.3", "26.0", "26.1", "26.2", "26.2.1" }, package = "pip" }
    local last = pip:last({ "26.2", "26.2.1" })
    eq({ pip:bump(last.parsed, "minor"), pip:bump(last.parsed, "major"), pip:bump(last.parsed, "patch") },
       { "26.3", "27.0", "26.2.2" })
    eq(pip:bump("26.2.1", "minor", "b"), "26.3b1")
    local n = pip:next_versions(last)
    eq({ n.major, n.minor, n.patch }, { "27.0", "26.3", "26.2.2" })
    -- a project that writes 1.2.0 keeps three numbers
    local three = tags.scheme{ names = { "1.1", "1.2.0", "1.2.1" } }
    eq({ three:bump("1.2.1", "minor"), three:bump("1.2.1", "major") }, { "1.3.0", "2.0.0" })
    eq(tags.bump("26.2.1", "minor"), "26.3.0", "tags.bump alone does not know the project")
  end)
end)

describe("relrun.tags bump", function()
  it("starts a pre-release of a final version at the next patch (9.1.0 + rc -> 9.1.1rc1)", function()
    eq(tags.bump("9.1.0", "pre", "rc"), "9.1.1rc1")
    eq(tags.bump("26.2", "pre", "b"), "26.2.1b1")
    eq(tags.bump("1!9.1.0", "pre", "a"), "1!9.1.1a1")
    eq(tags.bump("9.1.1rc1", "pre"), "9.1.1rc2")
    eq(tags.bump("9.1.1rc1", "pre", "rc"), "9.1.1rc2")
    eq(tags.bump("9.1.1b2", "pre", "rc"), "9.1.1rc1")
    eq(select(2, tags.bump("9.1.1rc1", "pre", "b")).code, "BUMP_PRE")
    eq(select(2, tags.bump("9.1.0", "pre")).code, "BUMP_PRE")
  end)
end)
