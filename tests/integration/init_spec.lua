-- `relrun init` (runtime/lua/commands/init.lua, relrun.adopt) in fixture
-- projects of several build backends (tests/support/projects.lua): what it
-- detects, the [tool.relrun] settings it adds as text (every other byte of
-- pyproject.toml kept), the pinned workflow (actionlint), .relrun/ ignored,
-- relrun.lock; a second run changes nothing, --dry-run writes nothing, and
-- it refuses with one line where there is no package repository.
local fs = require "relrun.fs"
local hash = require "relrun.hash"
local host = require "relrun.host"
local proc = require "relrun.proc"
local config = require "relrun.config"
local workflow = require "relrun.workflow"
local projects = require "projects"

local RELRUN = assert(os.getenv("RELRUN"))
local URL = "https://packages.example.com/relrun_" .. host.version .. "_amd64.deb"
local SHA = hash.sha256("relrun's package, as CI downloads it")
local PIN = { "--deb-url", URL, "--deb-sha256", SHA }
-- What relrun.vendor adds so relrun's files stay out of the sdist.
local ATTRIBUTES = "# relrun's vendored scripts and lock: committed, but not in the package's sdist (relrun vendor)\n"
  .. "/.relrun-scripts export-ignore\n/relrun.lock export-ignore\n"
local HATCH_EXCLUDE = "\n[tool.hatch.build.targets.sdist]\n# relrun's vendored scripts and lock stay out of the sdist "
  .. "(relrun vendor)\nexclude = [\"/.relrun-scripts\", \"/relrun.lock\"]\n"

-- relrun with nothing of this machine's CI or relrun settings in its environment.
local function relrun(cwd, ...)
  return assert(proc.run{ argv = { RELRUN, ... }, cwd = cwd, stdin = "",
    env = { GITHUB_ACTIONS = false, RELRUN_PATH = false, RELRUN_MODULE_DIR = false, RELRUN_TAG_PREFIX = false,
            CODEARTIFACT_DOMAIN = false, GITHUB_REPOSITORY = false, RELRUN_LOG = false } })
end

local function init(cwd, ...)
  local r = relrun(cwd, "init", ...)
  return r
end

-- Every file of a work tree (.git left out) with its text: what a run changed.
local function snapshot(dir, rel, out)
  out = out or {}
  for _, name in ipairs(fs.list(rel and dir .. "/" .. rel or dir) or {}) do
    local key = rel and rel .. "/" .. name or name
    if key ~= ".git" then
      local st = fs.stat(dir .. "/" .. key)
      if st.type == "directory" then snapshot(dir, key, out) else out[key] = fs.read(dir .. "/" .. key) end
    end
  end
  return out
end

local function actionlint(...)
  local r = assert(proc.run{ argv = { "node", "tests/support/actionlint.cjs", ... } })
  eq(r.code, 0, r.stdout .. r.stderr)
  return r
end

-- The settings relrun's scripts read in `dir` (pyproject.toml and defaults only).
local function settings(dir)
  return assert(config.load{ project_dir = dir, getenv = function() return nil end })
end

describe("relrun init in projects of several backends", function()
  local CASES = {
    -- fixture, what init says of the version, the settings it must add
    { "setuptools-scm", "from the git tags", {} },
    { "hatchling", "written in the project (1.2.3)", {} },
    { "flit", "read from the code (__version__)", {} },
    { "pdm", nil, {} },
    -- the name where the backend reads it ([tool.poetry], setup.cfg,
    -- setup.py) is relrun's too (config.declared_name): nothing to add
    { "poetry", "written in the project (1.2.3)", {} },
    { "setuptools-cfg", "written in the project (1.2.3)", {} },
    { "setuptools-legacy", nil, {} },
  }
  for _, case in ipairs(CASES) do
    local name, version_said, added = case[1], case[2], case[3]
    it(name .. ": detects it, adds only what differs from the defaults, and the locked scripts run", function()
      local p <close> = projects.make{ fixture = name, releases = { "1.2.3" } }
      local before = snapshot(p.root)
      local r = init(p.root, table.unpack(PIN))
      eq(r.code, 0, r.stdout .. r.stderr)
      eq(r.stderr, "")
      contains(r.stdout, "  build backend   " .. p.fixture.backend .. " (")
      if version_said then contains(r.stdout, "  version         " .. version_said .. "\n") end
      contains(r.stdout, "  release tags    v*, detected from 1 tag; last v1.2.3\n")
      contains(r.stdout, "  default branch  main (the branch checked out)\n")
      contains(r.stdout, "  import names    " .. p.fixture.import .. "\n")
      local after = snapshot(p.root)
      -- pyproject.toml: unchanged, or the old text with the settings appended
      local py_before, py_after = before["pyproject.toml"], after["pyproject.toml"]
      if #added == 0 then
        eq(py_after, py_before and py_before .. (p.fixture.backend == "hatchling" and HATCH_EXCLUDE or ""),
          "pyproject.toml untouched (hatchling: relrun.lock excluded from the sdist)")
        contains(r.stdout, "[tool.relrun]   nothing to add")
      else
        eq(py_after:sub(1, #(py_before or "")), py_before or "", "the old text kept, byte for byte")
        contains(py_after:sub(#(py_before or "") + 1), "[tool.relrun]\n")
        contains(py_after, "\n" .. table.concat(added, "\n") .. "\n")
        eq(settings(p.dir).package, p.fixture.dist, "relrun's scripts read the name init wrote")
      end
      eq(after[".gitignore"], (before[".gitignore"] or "")
        .. "\n# relrun's working folder: journals, builds, the local repository\n.relrun/\n")
      eq(after[workflow.PATH], workflow.render{ deb_url = URL, deb_sha256 = SHA })
      eq(workflow.pins(after[workflow.PATH]), { version = host.version, deb_url = URL, deb_sha256 = SHA })
      eq(after[".gitattributes"], ATTRIBUTES, "relrun.lock is kept out of the sdist")
      -- only those five files
      for key in pairs(after) do
        ok(before[key] == after[key] or key == "pyproject.toml" or key == ".gitignore" or key == workflow.PATH
          or key == "relrun.lock" or key == ".gitattributes", key .. " is not init's to change")
      end
      -- the lock is what `relrun lock` writes, and a locked run of a script by name starts
      eq(relrun(p.root, "lock", "--check").code, 0)
      r = relrun(p.root, "--locked", "version", "--help")
      eq(r.code, 0, r.stderr)
    end)
  end

  it("reads the default branch from the remote's HEAD, and writes the branch and a bare tag scheme", function()
    local p <close> = projects.make{ fixture = "hatchling", scheme = "bare", releases = { "1.0.0", "1.1.0" } }
    projects.git(p.origin, "symbolic-ref", "HEAD", "refs/heads/trunk")
    p:git("push", "-q", "origin", "main:trunk")
    local clone = p.tmp.path .. "/clone"
    projects.git(p.tmp.path, "clone", "-q", p.origin, clone)
    projects.git(clone, "checkout", "-q", "-b", "feature")
    local r = init(clone, table.unpack(PIN))
    eq(r.code, 0, r.stdout .. r.stderr)
    contains(r.stdout, "  default branch  trunk (origin/HEAD)\n")
    contains(r.stdout, '  [tool.relrun]   tag_prefix = "" (detected from 2 tags; without tags relrun would use v)\n')
    local text = fs.read(clone .. "/pyproject.toml")
    eq(text, p:read("pyproject.toml") .. "\n[tool.relrun]\n# relrun's settings that differ from its defaults "
      .. "(relrun init; `relrun release config` shows all)\nbranch = \"trunk\"\ntag_prefix = \"\"\n" .. HATCH_EXCLUDE)
    local cfg = settings(clone)
    eq({ cfg.branch, cfg.tag_prefix }, { "trunk", "" })
    local wf = fs.read(clone .. "/" .. workflow.PATH)
    contains(wf, '    tags:\n      - "*"\n')
    actionlint(clone .. "/" .. workflow.PATH)
  end)
end)

describe("relrun init and pyproject.toml", function()
  -- comments, odd spacing, a [tool.relrun] table with one key, a table after it, no newline at the end
  local ODD = table.concat({
    "# the project's own comment, kept\n",
    "[build-system]\n",
    "requires   =   [ \"hatchling\" ]    # spaced out\n",
    "build-backend=\"hatchling.build\"\n",
    "\n",
    "[project]\n",
    "name = \"fx-hatchling\"\n",
    "version = '0.1.0'\n",
    "\n",
    "[tool.hatch.build.targets.wheel]\n",
    "packages = [\"src/fx_hatchling\"]\n",
    "\n",
    "  [ tool.relrun ]   # ours\n",
    "remote = \"origin\"\t# tab before this comment\n",
    "\n",
    "# a comment about the next table\n",
    "[tool.black]\n",
    "line-length = 100",
  })

  it("inserts the new setting after the existing key of [tool.relrun], every other byte kept", function()
    local p <close> = projects.make{ fixture = "hatchling" }
    p:write("pyproject.toml", ODD)
    p:git("checkout", "-q", "-b", "master")
    p:commit("odd pyproject")
    local r = init(p.root, table.unpack(PIN))
    eq(r.code, 0, r.stdout .. r.stderr)
    local at = ODD:find("\n\n# a comment about the next table", 1, true)
    eq(fs.read(p.root .. "/pyproject.toml"), ODD:sub(1, at) .. 'branch = "master"\n' .. ODD:sub(at + 1) .. "\n"
      .. HATCH_EXCLUDE)
    eq(settings(p.dir).branch, "master")
    -- a second run adds nothing
    r = init(p.root)
    eq(r.code, 0, r.stderr)
    contains(r.stdout, "Nothing to change: relrun " .. host.version .. " is set up here.\n")
  end)

  it("keeps a value pyproject.toml sets, even one that differs from what it detects", function()
    local p <close> = projects.make{ fixture = "setuptools-scm" }
    local text = p:read("pyproject.toml") .. "\n[tool.relrun]\nbranch = \"develop\"\n"
    p:write("pyproject.toml", text)
    p:git("checkout", "-q", "-b", "master")
    p:commit("branch develop")
    local r = init(p.root, table.unpack(PIN))
    eq(r.code, 0, r.stderr)
    eq(fs.read(p.root .. "/pyproject.toml"), text)
  end)

  it("appends the table to a file without a newline at its end", function()
    local p <close> = projects.make{ fixture = "poetry", scheme = "bare", releases = { "0.1.0" } }
    local text = p:read("pyproject.toml"):gsub("\n+$", "")
    p:write("pyproject.toml", text)
    p:commit("no newline at the end")
    eq(init(p.root, table.unpack(PIN)).code, 0)
    eq(fs.read(p.root .. "/pyproject.toml"), text .. "\n\n[tool.relrun]\n# relrun's settings that differ from its "
      .. "defaults (relrun init; `relrun release config` shows all)\ntag_prefix = \"\"\n")
  end)

  it("refuses to edit a tool.relrun it cannot add to as text, writing nothing", function()
    local p <close> = projects.make{ fixture = "poetry", scheme = "bare", releases = { "0.1.0" } }
    p:write("pyproject.toml", p:read("pyproject.toml") .. "\n[tool]\nrelrun = { remote = \"origin\" }\n")
    p:commit("inline table")
    local before = snapshot(p.root)
    local r = init(p.root, table.unpack(PIN))
    eq(r.code, 1)
    eq(r.stdout, "")
    eq(r.stderr, "relrun: init: pyproject.toml sets tool.relrun without a [tool.relrun] table: add "
      .. "tag_prefix = \"\" to it by hand, then run relrun init again\n")
    eq(snapshot(p.root), before)
  end)
end)

describe("relrun init runs once", function()
  it("a second run changes nothing and says so; --vendor then copies, locks and keeps out of the sdist", function()
    local p <close> = projects.make{ fixture = "hatch-vcs", releases = { "1.0.0" } }
    eq(init(p.root, table.unpack(PIN)).code, 0)
    local first = snapshot(p.root)
    local r = init(p.root)
    eq(r.code, 0, r.stderr)
    contains(r.stdout, "Nothing to change: relrun " .. host.version .. " is set up here.\n")
    ok(not r.stdout:find("Review and commit", 1, true), "nothing to commit")
    eq(snapshot(p.root), first)

    r = init(p.root, "--vendor", "release", "relrun.notes")
    eq(r.code, 0, r.stdout .. r.stderr)
    local after = snapshot(p.root)
    eq(after[".relrun-scripts/release.lua"], host.builtin_text("scripts/release.lua"))
    eq(after[".relrun-scripts/lib/relrun/notes.lua"], host.builtin_text("scripts/lib/relrun/notes.lua"))
    contains(after["relrun.lock"], '".relrun-scripts/release.lua": {"sha256": "'
      .. hash.sha256(host.builtin_text("scripts/release.lua")))
    contains(after[".gitattributes"], "/.relrun-scripts export-ignore\n")
    contains(after["pyproject.toml"], '[tool.hatch.build.targets.sdist]\n')
    eq(relrun(p.root, "lock", "--check").code, 0)
    r = init(p.root, "--vendor", "release", "relrun.notes")
    contains(r.stdout, "Nothing to change")
    eq(snapshot(p.root), after)
    -- the vendored script is the one a locked run uses
    p:write(".relrun-scripts/release.lua", "-- edited\n" .. host.builtin_text("scripts/release.lua"))
    r = relrun(p.root, "--locked", "release", "--help")
    eq(r.code, 1)
    contains(r.stderr, "--locked: .relrun-scripts/release.lua changed")
  end)

  it("--dry-run shows the diff of every file and writes nothing", function()
    local p <close> = projects.make{ fixture = "poetry", scheme = "bare", releases = { "0.1.0" } }
    local before = snapshot(p.root)
    local r = init(p.root, "--dry-run", "--vendor", "release", table.unpack(PIN))
    eq(r.code, 0, r.stdout .. r.stderr)
    eq(snapshot(p.root), before, "nothing written")
    contains(r.stdout, "--dry-run: 7 files would change; nothing written:\n")
    for _, key in ipairs({ workflow.PATH, ".gitattributes", ".relrun-scripts/release.lua",
                           ".relrun-scripts/.base/release.lua", "relrun.lock" }) do
      contains(r.stdout, "--- /dev/null\n+++ b/" .. key .. "\n")
    end
    contains(r.stdout, "--- a/pyproject.toml\n+++ b/pyproject.toml\n")
    contains(r.stdout, "+tag_prefix = \"\"\n")
    contains(r.stdout, "--- a/.gitignore\n+++ b/.gitignore\n")
    contains(r.stdout, "+.relrun/\n")
    -- what it showed is what a real run writes
    r = init(p.root, "--vendor", "release", table.unpack(PIN))
    eq(r.code, 0, r.stderr)
    local n = 0
    for key, text in pairs(snapshot(p.root)) do
      if before[key] ~= text then n = n + 1 end
    end
    eq(n, 7)
  end)
end)

describe("relrun init's workflow", function()
  it("passes actionlint, and keeps its pins on a rerun without them", function()
    local p <close> = projects.make{ fixture = "setuptools-scm", releases = { "0.1.0" } }
    local deb = fs.absolute("tests/fixtures/projects/setuptools-scm/LICENSE")
    eq(init(p.root, "--deb-url", URL, "--deb", deb).code, 0)
    local path = p.root .. "/" .. workflow.PATH
    local r = actionlint(path)
    contains(r.stdout, "actionlint: 1 files, 0 problems")
    eq(workflow.pins(fs.read(path)).deb_sha256, hash.sha256(fs.read(deb)))
    -- a new package (a new URL and sha256) replaces the pins
    r = init(p.root, "--deb-url", URL .. "?2", "--deb-sha256", SHA)
    eq(r.code, 0, r.stderr)
    contains(r.stdout, "updated " .. workflow.PATH .. "\n")
    eq(workflow.pins(fs.read(path)), { version = host.version, deb_url = URL .. "?2", deb_sha256 = SHA })
  end)

  it("needs the package to pin the first time, and leaves a workflow it did not write alone", function()
    local p <close> = projects.make{ fixture = "flit" }
    local r = init(p.root)
    eq(r.code, 2)
    eq(r.stderr, string.format("relrun: init: CI installs relrun %s from its Debian package, pinned by sha256: "
      .. "give where it downloads it and the file (--deb-url URL --deb relrun_%s_amd64.deb, or --deb-sha256 HEX)\n",
      host.version, host.version))
    p:write(workflow.PATH, "name: ours\n")
    r = init(p.root, table.unpack(PIN))
    eq(r.code, 1)
    eq(r.stderr, "relrun: init: " .. workflow.PATH .. " exists and relrun did not write it: move it away, or pass "
      .. "--force to replace it\n")
    eq(p:read(workflow.PATH), "name: ours\n")
    r = init(p.root, "--force", table.unpack(PIN))
    eq(r.code, 0, r.stderr)
    eq(p:read(workflow.PATH), workflow.render{ deb_url = URL, deb_sha256 = SHA })
  end)
end)

describe("relrun init refuses, with one line, to run", function()
  it("outside a git repository", function()
    local tmp <close> = fs.tempdir("relrun-init-")
    fs.write(tmp.path .. "/pyproject.toml", "[project]\nname = \"x\"\n")
    local r = init(tmp.path, table.unpack(PIN))
    eq(r, { code = 1, stdout = "", timed_out = false, stderr = "relrun: init: " .. tmp.path .. " is not in a git "
      .. "repository: run relrun init in a clone of the package (or `git init` first)\n" })
    eq(fs.list(tmp.path), { "pyproject.toml" })
  end)

  it("in a repository without pyproject.toml, setup.cfg or setup.py, saying what it found", function()
    local tmp <close> = fs.tempdir("relrun-init-")
    projects.git(tmp.path, "init", "-q")
    fs.write(tmp.path .. "/package.json", "{}\n")
    fs.mkdir(tmp.path .. "/src")
    local r = init(tmp.path, table.unpack(PIN))
    eq(r.code, 1)
    eq(r.stderr, "relrun: init: " .. tmp.path .. " has no pyproject.toml, setup.cfg or setup.py (it has "
      .. "package.json, src/): run relrun init in a Python package's folder\n")
    eq(fs.list(tmp.path), { ".git", "package.json", "src" })
  end)

  it("with a relrun.lock it cannot read, or a --vendor name relrun does not have, writing nothing", function()
    local p <close> = projects.make{ fixture = "hatchling" }
    p:write("relrun.lock", "{not json")
    local before = snapshot(p.root)
    local r = init(p.root, table.unpack(PIN))
    eq(r.code, 1)
    contains(r.stderr, "relrun: init: " .. p.root .. "/relrun.lock is not a relrun.lock (")
    contains(r.stderr, "): remove it, then run relrun init again\n")
    fs.remove(p.root .. "/relrun.lock")
    r = init(p.root, "--vendor", "relrun.nosuch", table.unpack(PIN))
    eq(r.code, 2)
    contains(r.stderr, "relrun has no built-in script or library 'relrun.nosuch'")
    before["relrun.lock"] = nil
    eq(snapshot(p.root), before)
  end)

  it("in a subfolder of a package's folder, naming the folder to run it in", function()
    local p <close> = projects.make{ fixture = "hatchling" }
    local r = init(p.root .. "/src", table.unpack(PIN))
    eq(r, { code = 1, stdout = "", timed_out = false,
            stderr = "relrun: init: run relrun init in the package's folder, " .. p.root .. "\n" })
  end)
end)

describe("relrun init for a package in a subfolder of its repository", function()
  it("writes the package's files in its folder, the workflow (publishing from there) and the lock at the root",
    function()
    local p <close> = projects.make{ fixture = "hatchling", subdir = "python" }
    local before = snapshot(p.root)
    local r = init(p.dir, table.unpack(PIN))
    eq(r.code, 0, r.stderr)
    contains(r.stdout, "relrun init in " .. p.dir .. ": ")
    local wf = ".github/workflows/release-python.yml"
    local after = snapshot(p.root)
    local changed = {}
    for key, text in pairs(after) do
      if before[key] ~= text then changed[#changed + 1] = key end
    end
    table.sort(changed)
    eq(changed, { wf, "python/.gitignore", "relrun.lock" }, "pyproject.toml needs nothing; the root's files untouched")
    eq(after[wf], workflow.render{ deb_url = URL, deb_sha256 = SHA, working_directory = "python" })
    contains(after[wf], "      - name: Publish\n        working-directory: python\n")
    contains(after["python/.gitignore"], ".relrun/\n")
    actionlint(p.root .. "/" .. wf)
    eq(relrun(p.root, "workflow", "--working-directory", "python", table.unpack(PIN)).stdout, after[wf],
      "relrun workflow writes the same")
    -- the workflow's step: the locked scripts run from the package's folder
    p:git("add", "-A")
    p:commit("Release with relrun")
    r = relrun(p.dir, "--locked", "release", "config")
    eq(r.code, 0, r.stderr)
    contains(r.stdout, "package ")
    -- a second run changes nothing
    r = init(p.dir, table.unpack(PIN))
    eq(r.code, 0, r.stderr)
    contains(r.stdout, "Nothing to change")
    -- the repository's root holds no package: init says what is there
    r = init(p.root, table.unpack(PIN))
    eq(r.code, 1)
    contains(r.stderr, "has no pyproject.toml, setup.cfg or setup.py (it has ")
    contains(r.stderr, "python/")
  end)

  it("refuses the matrix workflow and a folder outside the repository for the publish step", function()
    local bad = { "../x", "/abs", "a b" }
    for _, dir in ipairs(bad) do
      local good, err = pcall(workflow.render, { deb_url = URL, deb_sha256 = SHA, working_directory = dir })
      eq(good, false, dir)
      contains(err.message, "not a folder of the repository: " .. dir)
    end
    local good, err = pcall(workflow.render, { deb_url = URL, deb_sha256 = SHA, working_directory = "python",
                                                matrix = true })
    eq(good, false)
    contains(err.message, "the matrix workflow is for a package at the repository's root")
  end)
end)
