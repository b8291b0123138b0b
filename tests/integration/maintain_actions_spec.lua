-- scripts/maintain.lua actions against git remotes on this machine (bare
-- repositories named like actions, read with git ls-remote): every `uses:`
-- listed, tags and branches flagged, the commit each names, newer releases,
-- --pin rewriting only those lines, a file that is not YAML, --json.
local R = require "aws_run"
local fs = require "relrun.fs"
local json = require "relrun.json"

local dir = R.tempdir()
local _ <close> = setmetatable({}, { __close = function() R.rmdir(dir) end })

local GIT_ENV = { GIT_AUTHOR_NAME = "t", GIT_AUTHOR_EMAIL = "t@example.com", GIT_COMMITTER_NAME = "t",
                  GIT_COMMITTER_EMAIL = "t@example.com", GIT_CONFIG_GLOBAL = "/dev/null",
                  GIT_CONFIG_NOSYSTEM = "1" }

local function git(cwd, ...)
  local r = assert(require("relrun.proc").run{ argv = { "git", "-C", cwd, ... }, env = GIT_ENV })
  eq(r.code, 0, table.concat({ ... }, " ") .. ": " .. r.stderr)
  return (r.stdout:gsub("%s+$", ""))
end

-- A bare repository at DIR/remotes/OWNER/REPO with a commit per release
-- tag; `moving` names tags that point at the commit of the release after
-- them (v4 -> v4.2.2), annotated. -> { [tag] = commit }.
local function action_repo(name, releases, moving)
  local work = fs.join(dir, "work", name)
  fs.mkdir(work)
  git(work, "init", "-q", "-b", "main")
  local shas = {}
  for _, tag in ipairs(releases) do
    R.write(fs.join(work, "action.yml"), "name: " .. name .. " " .. tag .. "\n")
    git(work, "add", "-A")
    git(work, "commit", "-qm", tag)
    git(work, "tag", tag)
    shas[tag] = git(work, "rev-parse", "HEAD")
  end
  for tag, at in pairs(moving or {}) do
    git(work, "tag", "-a", "-m", tag, tag, at)
    shas[tag] = shas[at]
  end
  R.write(fs.join(work, "README"), "unreleased\n")
  git(work, "add", "-A")
  git(work, "commit", "-qm", "unreleased")
  shas.main = git(work, "rev-parse", "HEAD")
  local bare = fs.join(dir, "remotes", name)
  fs.mkdir(fs.dirname(bare))
  eq(R.run{ "git", "clone", "-q", "--bare", work, bare }, 0)
  return shas
end

local checkout = action_repo("actions/checkout", { "v4.1.0", "v4.2.2", "v5.0.0" }, { v4 = "v4.2.2" })
local python = action_repo("actions/setup-python", { "v5.0.0", "v5.1.0" })
local cache = action_repo("actions/cache", { "v3.0.0", "v4.0.0" })

local proj = fs.join(dir, "project")
fs.mkdir(fs.join(proj, ".github", "workflows"))
R.write(fs.join(proj, "pyproject.toml"), '[project]\nname = "stock-pipeline"\n')
local WORKFLOW = table.concat({
  "name: release",
  "on:",
  "  push:",
  '    tags: ["v*"]',
  "jobs:",
  "  build:",
  "    runs-on: ubuntu-latest",
  "    steps:",
  "      - uses: actions/checkout@v4   # the code",
  "      - name: setup",
  '        uses: "actions/setup-python@main"',
  "      - uses: ./local-action",
  "      - uses: actions/cache@" .. cache["v3.0.0"] .. " # v3.0.0",
  "      - run: echo uses: not/this@v1",
  "" }, "\n")
local path = fs.join(proj, ".github", "workflows", "release.yml")
R.write(path, WORKFLOW)

local function maintain(args)
  local argv = { os.getenv("RELRUN") or fs.absolute("build/relrun"), fs.absolute("scripts/maintain.lua"), "actions",
                 "--project", proj, "--git-url", "file://" .. fs.join(dir, "remotes") }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  local r = assert(require("relrun.proc").run{ argv = argv, env = GIT_ENV, cwd = dir, stdin = "" })
  return r.code, r.stdout, r.stderr
end

describe("maintain.lua actions", function()
  it("lists every uses:, flags tags and branches (exit 3), resolves them, reports newer releases", function()
    local code, out, err = maintain()
    eq(code, 3, out .. err)
    contains(out, "release.yml:9")
    contains(out, "actions/checkout@v4  tag → " .. checkout.v4:sub(1, 12) .. " (v4.2.2); newer release: v5.0.0")
    contains(out, "actions/setup-python@main  branch → " .. python.main:sub(1, 12) .. " (main); newer release: v5.1.0")
    contains(out, "actions/cache@" .. cache["v3.0.0"] .. "  sha → " .. cache["v3.0.0"]:sub(1, 12) ..
      " (v3.0.0); newer release: v4.0.0")
    ok(not out:find("local%-action"), "a local action has nothing to pin")
    ok(not out:find("not/this"), "a run: line is not a uses:")
    contains(out, "3 uses in 1 workflow file(s); 2 not pinned to a commit (--pin pins them)")
    eq(R.read(path), WORKFLOW, "nothing written without --pin")
  end)

  it("--json", function()
    local code, out = maintain({ "--json" })
    eq(code, 3)
    local doc = json.decode(out)
    eq(#doc.uses, 3)
    eq(doc.uses[1].kind, "tag")
    eq(doc.uses[1].sha, checkout.v4)
    eq(doc.uses[1].latest, "v5.0.0")
    eq(doc.uses[3].kind, "sha")
    eq(doc.flagged, 2)
  end)

  it("--pin rewrites those lines only; a second run finds nothing to pin", function()
    local code, out, err = maintain({ "--pin" })
    eq(code, 0, out .. err)
    contains(out, "2 pinned now")
    local want = WORKFLOW:gsub("actions/checkout@v4   # the code", "actions/checkout@" .. checkout.v4 .. " # v4.2.2")
                         :gsub('"actions/setup%-python@main"', '"actions/setup-python@' .. python.main .. '" # main')
    eq(R.read(path), want)
    code, out = maintain()
    eq(code, 0, out)
    contains(out, "0 not pinned to a commit")
    contains(out, "actions/checkout@" .. checkout.v4 .. "  sha → " .. checkout.v4:sub(1, 12) .. " (v4.2.2)")
  end)

  it("says an action it cannot find, and a workflow that is not YAML is one error", function()
    R.write(path, "jobs:\n  a:\n    steps:\n      - uses: nobody/nothing@v1\n")
    local code, out = maintain()
    eq(code, 3)
    contains(out, "nobody/nothing@v1  not found: git ls-remote")
    R.write(fs.join(proj, ".github", "workflows", "broken.yml"), "jobs:\n  a: [unclosed\n\tsteps: x\n")
    local err
    code, out, err = maintain()
    eq(code, 2, out .. err)
    contains(err, ".github/workflows/broken.yml is not a YAML workflow (line ")
    eq(select(2, err:gsub("\n", "")), 1, "one line: " .. err)
    fs.remove(fs.join(proj, ".github", "workflows", "broken.yml"))
  end)

  it("an empty project: no workflow, nothing flagged", function()
    local empty = fs.join(dir, "empty")
    fs.mkdir(empty)
    local r = assert(require("relrun.proc").run{ argv = { os.getenv("RELRUN") or fs.absolute("build/relrun"),
      fs.absolute("scripts/maintain.lua"), "actions", "--project", empty }, env = GIT_ENV, cwd = dir })
    eq(r.code, 0, r.stdout .. r.stderr)
    contains(r.stdout, "0 uses in 0 workflow file(s)")
  end)
end)
