-- label: slow
-- build.release against Debian's real build backends, one fixture project
-- per backend and version source (tests/fixtures/projects, made into git
-- repositories by tests/support/projects.lua). For each one, from one
-- tagged commit:
--   * two builds into two folders give byte-identical sdist and wheel
--     (SOURCE_DATE_EPOCH is the commit's time; relrun rewrites an sdist only
--     when the backend left build-time stamps in it);
--   * the files are those of a hand-run `python -m build --no-isolation` of
--     the same commit: same names, same METADATA / PKG-INFO text, same members;
--   * untracked and ignored files of the working tree, and a .relrun/ folder
--     with junk, are in neither file (the build uses a clean checkout);
--   * no member of either file is newer than the commit;
--   * the wheel built from the first build's sdist (what a rerun does when
--     the sdist is published and the wheel is not) is the same wheel (one
--     fixture per backend).
-- Then the files are real: twine check passes them all, and the wheels
-- install into a fresh venv (fx-depends pulls fx-flit from the same folder)
-- where each fixture's own tests pass against the installed package.
-- Each case prints what it saw (whether the sdist needed relrun's rewrite,
-- whether the wheel equals the hand-run's byte for byte).
local fs = require "relrun.fs"
local proc = require "relrun.proc"
local archive = require "relrun.archive"
local build = require "relrun.build"
local project = require "relrun.project"
local projects = require "projects"

local BACKENDS = { "setuptools-scm", "setuptools-cfg", "setuptools-attr", "setuptools-legacy", "hatch-vcs",
                   "hatchling", "flit", "poetry", "pdm", "cext", "cext-generated", "depends" }
local FROM_SDIST = { ["setuptools-scm"] = true, hatchling = true, flit = true, poetry = true, pdm = true, cext = true }
local VERSION = "1.2.3"
-- Names that must not be in a built file: the working tree's litter and a
-- file committed after the tag.
local ABSENT = { "after-tag" }
for _, mark in ipairs(projects.LITTER) do ABSENT[#ABSENT + 1] = mark end

local python = assert(build.find_python())

local function release(pr, c, p, outdir)
  return build.release{ project = pr, commit = c, version = VERSION, python = python, outdir = outdir,
                        isolation = false, skip_dependency_check = p.fixture.debian.skip_dependency_check }
end

local function by_kind(made)
  local out = {}
  for _, f in ipairs(made.files) do out[f.kind] = f end
  return out
end

local function no_junk(path)
  for _, name in ipairs(projects.members(path)) do
    for _, absent in ipairs(ABSENT) do
      ok(not name:find(absent, 1, true), fs.basename(path) .. " holds " .. name .. ", not in the tagged commit")
    end
  end
end

local function nothing_newer(path, epoch)
  for _, e in ipairs(assert(archive.list(path))) do
    ok((e.mtime or 0) <= epoch, string.format("%s: %s is dated %s, after the commit (%d)", fs.basename(path),
      e.name, tostring(e.mtime), epoch))
  end
end

-- Whether a file as the backend made it carries no stamp later than epoch
-- (what build.lua checks before it rewrites an sdist).
local function stamped_after(path, epoch)
  local f = assert(io.open(path, "rb"))
  local head = f:read(8)
  f:close()
  local gzip_mtime = head:byte(5) | (head:byte(6) << 8) | (head:byte(7) << 16) | (head:byte(8) << 24)
  if gzip_mtime > epoch then return true end
  for _, e in ipairs(assert(archive.list(path))) do
    if (e.mtime or 0) > epoch then return true end
  end
  return false
end

-- Every built file, kept for the last case.
local kept <close> = fs.tempdir("relrun-repro-kept-")

local function run(argv, what)
  local r = assert(proc.run{ argv = argv, cwd = "/", env = { PYTHONDONTWRITEBYTECODE = "1", PIP_NO_INDEX = "1" } })
  eq(r.code, 0, what .. ": " .. r.stdout .. r.stderr)
  return r.stdout
end

describe("build.release: reproducible builds of the tagged commit, equal to python -m build", function()
  for _, name in ipairs(BACKENDS) do
    it(name .. ": two builds are byte-identical, match a hand-run python -m build, and hold no working-tree file",
      function()
      local p <close> = projects.make{ fixture = name, releases = { "1.0.0", VERSION } }
      p:write("after-tag.txt", "committed after the tag: must not be built\n")
      p:commit("Work after the release")
      p:litter()
      local pr = assert(project.open{ dir = p.dir })
      local c = assert(pr:commit("v" .. VERSION))
      eq(c.id, p.commits["v" .. VERSION], "the tag's commit")
      local tmp <close> = fs.tempdir("relrun-repro-")
      local one = by_kind(assert(release(pr, c, p, fs.join(tmp.path, "one"))))
      local two = by_kind(assert(release(pr, c, p, fs.join(tmp.path, "two"))))
      for _, kind in ipairs({ "sdist", "wheel" }) do
        ok(one[kind] and two[kind], "a " .. kind .. " was built")
        eq(two[kind].filename, one[kind].filename, kind .. " name")
        eq(two[kind].sha256, one[kind].sha256, kind .. " bytes of two builds of one commit")
        no_junk(one[kind].path)
        nothing_newer(one[kind].path, c.time)
      end
      -- a rerun that finds the sdist published builds the wheel from it: the
      -- same wheel (once per backend: the variants add nothing here)
      if FROM_SDIST[name] then
        local rest = by_kind(assert(build.release{ project = pr, commit = c, version = VERSION, python = python,
          outdir = fs.join(tmp.path, "rest"), isolation = false, sdist = one.sdist.path,
          skip_dependency_check = p.fixture.debian.skip_dependency_check }))
        eq(rest.sdist.sha256, one.sdist.sha256, "the published sdist kept")
        eq(rest.wheel.sha256, one.wheel.sha256, "the wheel from the published sdist")
      end
      if p.fixture.wheel == "platform" then
        ok(not one.wheel.filename:find("-none-any.whl", 1, true), "a platform wheel: " .. one.wheel.filename)
      else
        contains(one.wheel.filename, "-py3-none-any.whl")
      end

      local hand = assert(projects.hand_build(p, "v" .. VERSION, { version = VERSION, python = python,
                                                                   outdir = fs.join(tmp.path, "hand") }))
      for _, kind in ipairs({ "sdist", "wheel" }) do
        eq(fs.basename(hand[kind]), one[kind].filename, kind .. " name of python -m build")
        eq(projects.metadata(one[kind].path), projects.metadata(hand[kind]), kind .. " METADATA / PKG-INFO")
        eq(projects.members(one[kind].path), projects.members(hand[kind]), kind .. " members")
      end
      -- relrun keeps the backend's own sdist unless it carries build-time stamps
      local hand_sdist = build.sha256(hand.sdist)
      local rewritten = hand_sdist ~= one.sdist.sha256
      if rewritten then ok(stamped_after(hand.sdist, c.time), "relrun rewrote an sdist that was reproducible") end
      print(string.format("    %-18s sdist %s; wheel %s the hand-run's bytes", name,
        rewritten and "rewritten by relrun (the backend stamps build time)" or "as the backend made it",
        build.sha256(hand.wheel) == one.wheel.sha256 and "equal to" or "differs from"))
      pr:close()
      for _, kind in ipairs({ "sdist", "wheel" }) do
        assert(fs.copy(one[kind].path, fs.join(kept.path, one[kind].filename)))
      end
    end)
  end

  it("the files pass twine check, install into a fresh venv and pass each fixture's own tests", function()
    local files = fs.glob(fs.join(kept.path, "*"))
    eq(#files, 2 * #BACKENDS, "every backend's sdist and wheel")
    local checked = run({ "twine", "check", table.unpack(files) }, "twine check")
    local passed = select(2, checked:gsub("PASSED", ""))
    eq(passed, #files, "twine check: " .. checked)
    local venv = fs.join(kept.path, "venv")
    -- Debian's pytest from the system site; the fixtures only from the wheels
    run({ python, "-m", "venv", "--system-site-packages", venv }, "venv")
    local pip = { fs.join(venv, "bin/python"), "-m", "pip", "install", "-q", "--no-index", "--find-links", kept.path }
    for _, name in ipairs(BACKENDS) do pip[#pip + 1] = projects.FIXTURES[name].dist .. "==" .. VERSION end
    run(pip, "pip install")
    local imports, tests = {}, { fs.join(venv, "bin/python"), "-m", "pytest", "-q", "-p", "no:cacheprovider" }
    for _, name in ipairs(BACKENDS) do
      imports[#imports + 1] = projects.FIXTURES[name].import
      tests[#tests + 1] = fs.join(projects.FIXTURES_DIR, name, "tests")
    end
    local where = run({ fs.join(venv, "bin/python"), "-c", "import importlib, sys\nfor n in sys.argv[1:]: " ..
      "print(n, importlib.import_module(n).__file__)", table.unpack(imports) }, "import")
    for _, n in ipairs(imports) do contains(where, n .. " " .. venv, n .. " imported from the venv") end
    -- the test modules' names differ, so one pytest run takes them all
    local said = run(tests, "the fixtures' tests")
    ok(said:match("(%d+) passed") and tonumber(said:match("(%d+) passed")) >= #BACKENDS, "pytest: " .. said)
  end)
end)
