-- prepare --changelog (a fixture project with a bare origin, tests/support/
-- projects.lua): the release notes of the new version, grouped as the
-- history's Conventional Commits say, written at the top of CHANGELOG.md in
-- a release commit pushed to main; a dry run writes nothing; a rerun finds
-- the section and leaves it; the tag then names the release commit.
local projects = require "projects"
local fs = require "relrun.fs"
local proc = require "relrun.proc"

local function relrun(p, args)
  local argv = { os.getenv("RELRUN") or fs.absolute("build/relrun"), fs.absolute("scripts/release.lua") }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local env = { GITHUB_TOKEN = false, GH_TOKEN = false, GIT_TOKEN = false, GITHUB_ACTIONS = false,
                CODEARTIFACT_DOMAIN = false, S3_WHEELS_BUCKET = false, RELRUN_TAG_PREFIX = false,
                GIT_CONFIG_GLOBAL = "/dev/null", GIT_CONFIG_NOSYSTEM = "1" }
  for k, v in pairs(projects.GIT_ENV) do env[k] = v end
  return assert(proc.run{ argv = argv, cwd = p.root, env = env, stdin = "" })
end

describe("prepare --changelog", function()
  local p <close> = projects.make{ fixture = "hatchling", releases = { "1.0.0" } }
  p:write("CHANGELOG.md", "# Changelog\n\n## 1.0.0 (2026-01-02)\n\n- the first release\n")
  p:commit("docs: a changelog")
  p:write("extra.txt", "1")
  p:commit("feat(cli): a --json option")
  p:write("extra.txt", "2")
  p:commit("fix: read empty files")
  p:git("push", "-q", "origin", "main")
  local before = p:git("rev-parse", "HEAD"):gsub("%s+$", "")

  it("a dry run shows the section it would add and changes nothing", function()
    local r = relrun(p, { "prepare", "--changelog", "--version", "1.1.0", "--dry-run" })
    eq(r.code, 0, r.stdout .. r.stderr)
    contains(r.stdout, "would add a section for 1.1.0 to CHANGELOG.md")
    eq(p:git("rev-parse", "HEAD"):gsub("%s+$", ""), before, "no commit")
  end)

  it("writes the grouped notes under the title, commits them and pushes the commit", function()
    local r = relrun(p, { "prepare", "--changelog", "--version", "1.1.0" })
    eq(r.code, 0, r.stdout .. r.stderr)
    contains(r.stdout, "✓ changelog: CHANGELOG.md: a section for 1.1.0 (3 commit(s)), committed as ")
    local text = p:read("CHANGELOG.md")
    ok(text:find("^# Changelog\n\n## 1%.1%.0 %(%d%d%d%d%-%d%d%-%d%d%)\n\n### Features\n\n%- cli: a %-%-json option %(%x+%)\n\n" ..
      "### Fixes\n\n%- read empty files %(%x+%)\n\n### Other changes\n\n%- a changelog %(%x+%)\n\n## 1%.0%.0"), text)
    contains(text, "- the first release\n")
    eq(p:git("log", "-1", "--format=%s"):gsub("%s+$", ""), "Release 1.1.0: changelog")
    eq(p:git("status", "--porcelain", "--untracked-files=no"), "", "clean")
    local head = p:git("rev-parse", "HEAD"):gsub("%s+$", "")
    eq(p:git("ls-remote", "origin", "refs/heads/main"):match("^(%x+)"), head, "pushed")
  end)

  it("a rerun finds the section and adds nothing; --changelog without a version is a usage error", function()
    local head = p:git("rev-parse", "HEAD")
    local r = relrun(p, { "prepare", "--changelog", "--version", "1.1.0" })
    eq(r.code, 0, r.stdout .. r.stderr)
    contains(r.stdout, "✓ changelog: CHANGELOG.md has a section for 1.1.0")
    eq(p:git("rev-parse", "HEAD"), head, "no new commit")
    r = relrun(p, { "prepare", "--changelog" })
    eq(r.code, 2, r.stdout .. r.stderr)
    contains(r.stderr, "prepare --changelog needs --version VERSION or --bump PART")
  end)
end)
