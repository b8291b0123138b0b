-- relrun.notes: release notes from a real git history (git CLI in a temp
-- folder): grouped by Conventional Commit type when the history uses them,
-- a plain list when it does not; the previous release found by the tag scheme.
local G = require "git_fixtures"
local notes = require "relrun.notes"
local project = require "relrun.project"
local fs = require "relrun.fs"

local function history(subjects, opts)
  local dir = G.repo()
  fs.write(dir .. "/pyproject.toml", '[project]\nname = "demo"\n')
  G.git(dir, "add pyproject.toml")
  G.git(dir, "commit -q -m 'start'")
  G.git(dir, "tag " .. (opts and opts.first or "v1.0.0"))
  for i, s in ipairs(subjects) do
    fs.write(dir .. "/f" .. i, tostring(i))
    G.git(dir, "add f" .. i)
    local f = dir .. "/msg"
    fs.write(f, s)
    G.git(dir, "commit -q -F " .. G.quote(f))
  end
  G.git(dir, "tag " .. (opts and opts.tag or "v1.1.0"))
  local p = assert(project.open{ dir = dir, getenv = function() return nil end })
  return p, dir
end

describe("release notes", function()
  it("groups a Conventional Commits history: breaking, features, fixes, other", function()
    local p, dir = history{ "feat(silver): sort quotes by date", "fix: read empty volumes",
      "docs: explain the bronze layer", "feat!: drop Python 3.8",
      "refactor(api): rename load\n\nBREAKING CHANGE: load() is read()",
      "tidy up" }
    local text = notes.for_tag(p, "v1.1.0")
    local sections = {}
    for title in text:gmatch("### ([^\n]+)") do sections[#sections + 1] = title end
    eq(sections, { "Breaking changes", "Features", "Fixes", "Other changes" })
    contains(text, "Changes since v1.0.0:")
    local breaking = text:match("### Breaking changes\n\n(.-)\n\n")
    contains(breaking, "- drop Python 3.8 (")
    contains(breaking, "- api: rename load (")
    contains(text:match("### Features\n\n(.-)\n\n"), "- silver: sort quotes by date (")
    contains(text:match("### Fixes\n\n(.-)\n\n"), "- read empty volumes (")
    local other = text:match("### Other changes\n\n(.*)$")
    contains(other, "- explain the bronze layer (")
    contains(other, "- tidy up (")
    ok(not text:find("start", 1, true), "the previous release's commit is not in the notes")
    p:close()
    G.rmrf(dir)
  end)

  it("lists a plain history as it is, newest first", function()
    local p, dir = history{ "silver: sort quotes by date", "ingestion: read volumes", "fix: a typo" }
    local text = notes.for_tag(p, "v1.1.0")
    ok(not text:find("###", 1, true), "no sections: " .. text)
    local lines = {}
    for l in text:gmatch("%- ([^\n]+) %(%x+%)") do lines[#lines + 1] = l end
    eq(lines, { "fix: a typo", "ingestion: read volumes", "silver: sort quotes by date" })
    p:close()
    G.rmrf(dir)
  end)

  it("finds the previous release by the project's tag scheme (no v, pre-releases)", function()
    local p, dir = history({ "feat: one" }, { first = "2.0.0rc1", tag = "2.0.0" })
    eq(notes.previous(p, "2.0.0").name, "2.0.0rc1")
    contains(notes.for_tag(p, "2.0.0"), "Changes since 2.0.0rc1:")
    p:close()
    G.rmrf(dir)
  end)

  it("parses Conventional Commit subjects", function()
    eq(notes.parse("feat(x)!: y"), { type = "feat", scope = "x", subject = "y", breaking = true })
    eq(notes.parse("Fix: y"), { type = "fix", subject = "y", breaking = false })
    eq(notes.parse("feature: y"), nil)
    eq(notes.parse("feat:y"), nil)
  end)
end)
