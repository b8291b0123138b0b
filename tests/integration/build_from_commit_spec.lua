-- build.release builds the tagged commit, not the working tree, and builds
-- the wheel from the sdist, as `python -m build` does. Each case has a
-- control that shows the trap is real with Debian's backends:
--   * hatchling's default sdist takes untracked files and .relrun/ from a
--     working tree; relrun's clean checkout keeps them out;
--   * setuptools_scm lists the files to package from git: without .git (a
--     plain export) it drops a committed data file from the sdist; relrun's
--     checkout is a real git checkout, so the file is in sdist and wheel;
--   * a setup.py that reads a file its sdist lacks (MANIFEST.in drops it)
--     builds a wheel from the tree but not from the sdist: relrun fails the
--     build, as python -m build does;
--   * the rest of a partly published version is built from the published
--     sdist, whose bytes stay as they are (even with build-time stamps);
--   * a project in a subfolder with package-prefixed tags, and PEP 440 pre,
--     post and 2-part versions, build with the tag's version.
local fs = require "relrun.fs"
local proc = require "relrun.proc"
local build = require "relrun.build"
local project = require "relrun.project"
local projects = require "projects"

local python = assert(build.find_python())

local function has(names, mark)
  for _, n in ipairs(names) do
    if n:find(mark, 1, true) then return n end
  end
end

local function release(p, tag, version, outdir)
  local pr = assert(project.open{ dir = p.dir })
  local c = assert(pr:commit(tag))
  local made, err = build.release{ project = pr, commit = c, version = version, python = python, outdir = outdir,
                                   isolation = false, skip_dependency_check = p.fixture.debian.skip_dependency_check }
  pr:close()
  if not made then return nil, err end
  local out = {}
  for _, f in ipairs(made.files) do out[f.kind] = f end
  return out
end

local dead_pid = require "dead_pid"

-- `python -m build ARGS DIR` by hand, with the pretend version -> outdir's files or nil, output.
local function python_build(dir, args, outdir, env)
  local argv = { python, "-m", "build", "--no-isolation", "--skip-dependency-check", "--outdir", outdir }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  argv[#argv + 1] = dir
  local e = { SETUPTOOLS_SCM_PRETEND_VERSION = "1.2.3", PYTHONDONTWRITEBYTECODE = "1" }
  for k, v in pairs(env or {}) do e[k] = v end
  local r = assert(proc.run{ argv = argv, cwd = "/", env = e })
  if r.code ~= 0 then return nil, r.stdout .. r.stderr end
  return fs.glob(fs.join(outdir, "*"))
end

describe("build.release builds the commit, not the working tree", function()
  local tmp
  before_each(function() tmp = fs.tempdir("relrun-fromcommit-") end)
  after_each(function() tmp:close() end)

  it("hatchling: untracked, ignored and .relrun/ files stay out (built from the tree, the sdist takes them)", function()
    local p <close> = projects.make{ fixture = "hatchling", releases = { "1.2.3" } }
    p:litter()
    local control = assert(python_build(p.dir, { "--sdist" }, fs.join(tmp.path, "control")))
    local leaked = projects.members(control[1])
    ok(has(leaked, ".relrun/journal-1.2.3.json"), "control: hatchling's sdist of the tree holds .relrun/")
    ok(has(leaked, "junk_untracked.py"), "control: hatchling's sdist of the tree holds an untracked module")

    local built = assert(release(p, "v1.2.3", "1.2.3", fs.join(tmp.path, "dist")))
    for _, kind in ipairs({ "sdist", "wheel" }) do
      local names = projects.members(built[kind].path)
      for _, mark in ipairs(projects.LITTER) do
        eq(has(names, mark), nil, kind .. " holds a working-tree file")
      end
      ok(has(names, "fx_hatchling/__init__.py"), kind .. " holds the package")
    end
  end)

  it("setuptools_scm: a data file git lists is in sdist and wheel (a plain export without .git drops it)", function()
    local p <close> = projects.make{ fixture = "setuptools-scm", releases = { "1.2.3" } }
    local data = p.fixture.data_file
    -- control: the same commit exported without its git metadata
    local export = fs.join(tmp.path, "export")
    assert(fs.mkdir(export))
    local r = assert(proc.run{ argv = { "sh", "-c", 'git -C "$1" archive v1.2.3 | tar -x -C "$2"', "sh", p.root, export } })
    eq(r.code, 0, r.stderr)
    local control = assert(python_build(export, { "--sdist" }, fs.join(tmp.path, "control")))
    eq(has(projects.members(control[1]), data), nil, "control: an sdist made without .git lacks " .. data)

    local built = assert(release(p, "v1.2.3", "1.2.3", fs.join(tmp.path, "dist")))
    ok(has(projects.members(built.sdist.path), "fx-setuptools-scm-1.2.3/" .. data), "the sdist holds " .. data)
    ok(has(projects.members(built.wheel.path), "fx_setuptools_scm/data/units.csv"), "the wheel holds the data file")
  end)

  it("the wheel is built from the sdist: a file the sdist lacks fails the build (the tree alone would build)", function()
    local p <close> = projects.make{ fixture = "setuptools-legacy" }
    -- setup.py reads requirements.txt, which MANIFEST.in drops from the sdist
    -- (Debian's setuptools_scm lists every git file for every setuptools
    -- project, so a tracked file is only left out when MANIFEST.in says so)
    p:write("requirements.txt", "# runtime requirements: none yet\n")
    p:write("MANIFEST.in", "# notes and scratch files stay out of the sdist\nglobal-exclude *.txt\n")
    local setup_py = p:read("setup.py")
    setup_py = setup_py:gsub('\nsetup%(\n', '\nwith open("requirements.txt", encoding="utf-8") as reqs:\n' ..
      '    INSTALL_REQUIRES = [r.strip() for r in reqs if r.strip() and not r.startswith("#")]\n\nsetup(\n' ..
      '    install_requires=INSTALL_REQUIRES,\n', 1)
    p:write("setup.py", setup_py)
    p:release("1.2.3")
    local control = assert(python_build(p.dir, { "--wheel" }, fs.join(tmp.path, "control")))
    contains(control[1], "fx_setuptools_legacy-1.2.3-py3-none-any.whl", "control: a wheel straight from the tree")
    local by_hand, hand_out = projects.hand_build(p, "v1.2.3", { version = "1.2.3", python = python,
                                                                outdir = fs.join(tmp.path, "hand") })
    eq(by_hand, nil, "python -m build (wheel from sdist) fails too")
    contains(hand_out, "requirements.txt")

    local made, err = release(p, "v1.2.3", "1.2.3", fs.join(tmp.path, "dist"))
    eq(made, nil, "relrun built a wheel the sdist cannot build")
    eq(err.code, "BUILD_FAILED")
    contains(tostring(err), "the wheel, built from the sdist")
    contains(err.output, "requirements.txt", "the build's output, kept with the one-line error")
    eq(err.rerun, false, "a rerun cannot fix a broken commit")
    eq(fs.list(tmp.path), { "control", "hand" }, "a failed build leaves no outdir, nor a folder of its own")
  end)

  it("makes the files in a folder of its own that becomes outdir when whole; a killed run's folder goes", function()
    local p <close> = projects.make{ fixture = "hatchling", releases = { "1.2.3" } }
    local outdir = fs.join(tmp.path, "1.2.3")
    -- a relrun SIGKILLed alone: the backend process it orphaned still wrote into that run's folder
    local left = fs.join(tmp.path, "1.2.3.relrun-" .. dead_pid() .. "-AbCd12")
    fs.mkdir(left)
    fs.write(fs.join(left, "fx_hatchling-1.2.3.tar.gz"), "written after its relrun died")
    fs.mkdir(outdir)
    fs.write(fs.join(outdir, "fx_hatchling-1.2.2.tar.gz"), "an older build")
    local built = assert(release(p, "v1.2.3", "1.2.3", outdir))
    eq(fs.list(tmp.path), { "1.2.3" }, "the killed run's folder removed, this run's became outdir")
    local names = { built.sdist.filename, built.wheel.filename }
    table.sort(names)
    eq(fs.list(outdir), names)
    eq(built.sdist.path, fs.join(outdir, built.sdist.filename))
    eq(build.sha256(built.wheel.path), built.wheel.sha256)
  end)

  it("the wheel from a published sdist: the sdist's bytes are kept, the wheel is the commit's", function()
    -- an sdist published by hand (python -m build: setuptools stamps the build time into it)
    local p <close> = projects.make{ fixture = "setuptools-cfg", releases = { "1.2.3" } }
    local hand = assert(projects.hand_build(p, "v1.2.3", { version = "1.2.3", python = python,
                                                           outdir = fs.join(tmp.path, "hand") }))
    local from_commit = assert(release(p, "v1.2.3", "1.2.3", fs.join(tmp.path, "commit")))
    ok(build.sha256(hand.sdist) ~= from_commit.sdist.sha256, "control: the hand-made sdist has other bytes")
    local pr = assert(project.open{ dir = p.dir })
    local made = assert(build.release{ project = pr, commit = assert(pr:commit("v1.2.3")), version = "1.2.3",
                                       python = python, outdir = fs.join(tmp.path, "rest"), isolation = false,
                                       sdist = hand.sdist })
    pr:close()
    local out = {}
    for _, f in ipairs(made.files) do out[f.kind] = f end
    eq(out.sdist.filename, fs.basename(hand.sdist))
    eq(out.sdist.sha256, build.sha256(hand.sdist), "the published sdist, byte for byte (what the index holds)")
    eq(out.wheel.sha256, from_commit.wheel.sha256, "the wheel a build of the commit gives")
  end)

  it("builds each tag scheme and PEP 440 version kind at the tag's version", function()
    local cases = {
      { fixture = "hatch-vcs", scheme = "prefixed", subdir = "packages/fx-hatch-vcs", kind = "pre" },
      { fixture = "poetry", scheme = "bare", kind = "post" },
      { fixture = "flit", scheme = "v", kind = "two_part", annotated = true },
    }
    for _, case in ipairs(cases) do
      local version = projects.version(case.kind)
      local p <close> = projects.make{ fixture = case.fixture, scheme = case.scheme, subdir = case.subdir,
                                       annotated = case.annotated, releases = { "1.0.0", version } }
      local tag = p.tags[2]
      contains(p:git("ls-remote", "--tags", "origin"), "refs/tags/" .. tag, "the tag is pushed to the bare origin")
      if case.subdir then eq(fs.basename(p.dir), "fx-hatch-vcs", "the project in a subfolder") end
      local pr = assert(project.open{ dir = p.dir })
      eq(pr:last_release().name, tag, case.fixture .. ": the last release as relrun's tag scheme reads it")
      pr:close()
      local built = assert(release(p, tag, version, fs.join(tmp.path, case.fixture)))
      local norm = p.fixture.dist:gsub("-", "_")
      eq(built.wheel.filename, norm .. "-" .. version .. "-py3-none-any.whl", tag)
      eq(built.wheel.version, version, tag .. ": the wheel's metadata")
      eq(built.sdist.version, version, tag .. ": the sdist's metadata")
    end
  end)
end)
