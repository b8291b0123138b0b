-- relrun.lock, `relrun --locked`, `relrun lock` and `relrun vendor`
-- (runtime/lua/relrun/{lockfile,launch,vendor}.lua, runtime/lua/commands):
-- a locked run refuses before any of the script's code runs when relrun's
-- version, a locked file, or an unlocked file that could be loaded says
-- so, naming the file and both hashes; vendoring copies, locks and keeps
-- the base text for the three-way view and merge after an upgrade.
local child = require "log_child"
local host = require "relrun.host"
local hash = require "relrun.hash"
local json = require "relrun.json"

local function run(args, opts)
  opts = opts or {}
  opts.args = args
  return child.run(opts)
end

local function sh(cmd)
  assert(os.execute(cmd), cmd)
end

local function mkdir(path)
  sh("mkdir -p " .. child.quote(path))
end

local MARK = "SCRIPT-CODE-RAN"

-- A git repository whose .relrun-scripts/version.lua prints MARK and
-- requires a library; vendored with relrun vendor, then locked.
local function project()
  local dir = child.tmpdir()
  sh("git init -q " .. child.quote(dir))
  local r = run({ "vendor", "version", "relrun.util" }, { cwd = dir })
  assert(r.code == 0, r.stdout .. r.stderr)
  local path = dir .. "/.relrun-scripts/version.lua"
  child.write(path, "print('" .. MARK .. "', require('relrun.util') ~= nil)\n")
  r = run({ "lock" }, { cwd = dir })
  assert(r.code == 0, r.stdout .. r.stderr)
  return dir
end

local function lock_of(dir)
  return assert(json.decode(child.read(dir .. "/relrun.lock")))
end

local function sha(s) return hash.sha256(s) end

describe("relrun vendor", function()
  local dir
  before_each(function()
    dir = child.tmpdir()
    sh("git init -q " .. child.quote(dir))
  end)
  after_each(function() child.rmtree(dir) end)

  it("copies scripts and libraries with their base text, locks them, keeps them out of the sdist", function()
    local r = run({ "vendor", "release", "relrun.pypi.upload" }, { cwd = dir })
    eq(r.code, 0, r.stderr)
    contains(r.stdout, "copied .relrun-scripts/release.lua\ncopied .relrun-scripts/lib/relrun/pypi/upload.lua\n")
    for _, rel in ipairs({ "release.lua", "lib/relrun/pypi/upload.lua" }) do
      local builtin = host.builtin_text("scripts/" .. rel)
      eq(child.read(dir .. "/.relrun-scripts/" .. rel), builtin, rel)
      eq(child.read(dir .. "/.relrun-scripts/.base/" .. rel), builtin, rel .. " base")
    end
    local lock = lock_of(dir)
    eq(lock.relrun, host.version)
    local text = host.builtin_text("scripts/lib/relrun/pypi/upload.lua")
    eq(lock.files[".relrun-scripts/lib/relrun/pypi/upload.lua"], { sha256 = sha(text),
      builtin = "scripts/lib/relrun/pypi/upload.lua", base = sha(text), base_relrun = host.version })
    eq(child.read(dir .. "/.gitattributes"), "# relrun's vendored scripts and lock: committed, but not in the "
      .. "package's sdist (relrun vendor)\n/.relrun-scripts export-ignore\n/relrun.lock export-ignore\n")
  end)

  it("without names copies every script; --all adds every library; --list shows what is copied", function()
    eq(run({ "vendor" }, { cwd = dir }).code, 0)
    for _, name in ipairs({ "release", "doctor", "rollback", "setup", "verify", "version" }) do
      ok(child.read(dir .. "/.relrun-scripts/" .. name .. ".lua"), name)
    end
    ok(not child.read(dir .. "/.relrun-scripts/lib/relrun/util.lua"), "no library without --all")
    eq(run({ "vendor", "--all" }, { cwd = dir }).code, 0)
    eq(child.read(dir .. "/.relrun-scripts/lib/relrun/aws/core.lua"), host.builtin_text("scripts/lib/relrun/aws/core.lua"))
    local list = run({ "vendor", "--list" }, { cwd = dir }).stdout
    contains(list, "library  relrun.aws.core              .relrun-scripts/lib/relrun/aws/core.lua\n")
  end)

  it("keeps a copy that differs unless --force; an unknown name is a usage error", function()
    eq(run({ "vendor", "version" }, { cwd = dir }).code, 0)
    child.write(dir .. "/.relrun-scripts/version.lua", "-- ours\n")
    local r = run({ "vendor", "version" }, { cwd = dir })
    eq(r.code, 1)
    contains(r.stdout, ".relrun-scripts/version.lua differs from relrun's text: kept")
    eq(child.read(dir .. "/.relrun-scripts/version.lua"), "-- ours\n")
    eq(run({ "vendor", "--force", "version" }, { cwd = dir }).code, 0)
    eq(child.read(dir .. "/.relrun-scripts/version.lua"), host.builtin_text("scripts/version.lua"))
    r = run({ "vendor", "relrun.nothing" }, { cwd = dir })
    eq(r.code, 2)
    contains(r.stderr, "relrun has no built-in script or library 'relrun.nothing'")
  end)

  it("adds hatchling's sdist exclude to pyproject.toml once, leaving the rest byte for byte", function()
    local pyproject = "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n\n"
      .. "[project]\nname = \"x\"  # keep me\nversion = \"1\"\n"
    child.write(dir .. "/pyproject.toml", pyproject)
    eq(run({ "vendor", "version" }, { cwd = dir }).code, 0)
    local want = pyproject .. "\n[tool.hatch.build.targets.sdist]\n# relrun's vendored scripts and lock stay out "
      .. "of the sdist (relrun vendor)\nexclude = [\"/.relrun-scripts\", \"/relrun.lock\"]\n"
    eq(child.read(dir .. "/pyproject.toml"), want)
    eq(run({ "vendor", "release" }, { cwd = dir }).code, 0)
    eq(child.read(dir .. "/pyproject.toml"), want, "idempotent")
  end)

  it("does not touch a pyproject.toml that configures hatchling's sdist already: it says what to add", function()
    local pyproject = "[build-system]\nbuild-backend = \"hatchling.build\"\n[tool.hatch.build.targets.sdist]\n"
      .. "include = [\"/src\"]\n"
    child.write(dir .. "/pyproject.toml", pyproject)
    local r = run({ "vendor", "version" }, { cwd = dir })
    eq(child.read(dir .. "/pyproject.toml"), pyproject)
    contains(r.stdout, "add \"/.relrun-scripts\" and \"/relrun.lock\" to its `exclude`")
  end)
end)

describe("relrun --locked", function()
  local dir
  before_each(function() dir = project() end)
  after_each(function() child.rmtree(dir) end)

  it("runs when relrun.lock matches", function()
    local r = run({ "--locked", "version" }, { cwd = dir })
    eq(r.code, 0, r.stderr)
    eq(r.stdout, MARK .. "\ttrue\n")
  end)

  it("refuses a changed file before running anything, naming it and both hashes", function()
    local path = dir .. "/.relrun-scripts/lib/relrun/util.lua"
    local before = sha(child.read(path))
    child.write(path, child.read(path) .. "-- edited\n")
    local r = run({ "--locked", "version" }, { cwd = dir })
    eq(r, { code = 1, stdout = "", stderr = "relrun: --locked: .relrun-scripts/lib/relrun/util.lua changed: "
      .. "relrun.lock has sha256 " .. before .. ", the file has sha256 " .. sha(child.read(path))
      .. " (review the change, then run `relrun lock` and commit relrun.lock)\n" })
    r = run({ "lock", "--check" }, { cwd = dir })
    eq(r.code, 1)
    contains(r.stdout, "relrun.lock is stale:\n  .relrun-scripts/lib/relrun/util.lua: relrun.lock has sha256 "
      .. before .. ", the file has " .. sha(child.read(path)))
    eq(run({ "lock" }, { cwd = dir }).code, 0)
    eq(run({ "lock", "--check" }, { cwd = dir }).stdout, "relrun.lock is up to date (relrun " .. host.version
      .. ", 2 files)\n")
    eq(run({ "--locked", "version" }, { cwd = dir }).stdout, MARK .. "\ttrue\n")
  end)

  it("refuses a locked file that is gone", function()
    os.remove(dir .. "/.relrun-scripts/lib/relrun/util.lua")
    local r = run({ "--locked", "version" }, { cwd = dir })
    eq(r.code, 1)
    contains(r.stderr, "--locked: .relrun-scripts/lib/relrun/util.lua is in relrun.lock (sha256 ")
  end)

  it("refuses an unlocked library that could be loaded, in lib/ or on RELRUN_PATH", function()
    child.write(dir .. "/.relrun-scripts/lib/relrun/extra.lua", "return 1\n")
    local r = run({ "--locked", "version" }, { cwd = dir })
    eq(r, { code = 1, stdout = "", stderr = "relrun: --locked: .relrun-scripts/lib/relrun/extra.lua would be "
      .. "loaded but is not in relrun.lock (its sha256 is " .. sha("return 1\n") .. "): review it, then lock it "
      .. "with `relrun lock` (`relrun lock SCRIPT` for a script run by path) and commit relrun.lock, or remove it\n" })
    os.remove(dir .. "/.relrun-scripts/lib/relrun/extra.lua")
    local outside = child.tmpdir()
    mkdir(outside .. "/relrun")
    child.write(outside .. "/relrun/util.lua", "return {}\n")
    r = run({ "--locked", "version" }, { cwd = dir, env = { RELRUN_PATH = outside } })
    child.rmtree(outside)
    eq(r.code, 1)
    contains(r.stderr, "relrun: --locked: " .. outside .. "/relrun/util.lua would be loaded but is not in relrun.lock")
    eq(r.stdout, "")
  end)

  it("refuses another relrun version, saying which way to go", function()
    local lock = child.read(dir .. "/relrun.lock")
    child.write(dir .. "/relrun.lock", (lock:gsub('"relrun": "[^"]*"', '"relrun": "0.0.1"')))
    local r = run({ "--locked", "version" }, { cwd = dir })
    eq(r, { code = 1, stdout = "", stderr = "relrun: --locked: relrun.lock pins relrun 0.0.1, this is relrun "
      .. host.version .. ": review the upgrade with `relrun lock` (it shows how your vendored files differ from "
      .. "the new built-in ones), then commit relrun.lock\n" })
    child.write(dir .. "/relrun.lock", (lock:gsub('"relrun": "[^"]*"', '"relrun": "99.0.0"')))
    contains(run({ "--locked", "version" }, { cwd = dir }).stderr, "install relrun 99.0.0")
  end)

  it("refuses without relrun.lock, with RELRUN_MODULE_DIR set, and for standard input", function()
    local r = run({ "--locked", "version" }, { cwd = dir, env = { RELRUN_MODULE_DIR = "/elsewhere" } })
    eq(r.code, 1)
    contains(r.stderr, "RELRUN_MODULE_DIR is set (/elsewhere)")
    os.remove(dir .. "/relrun.lock")
    r = run({ "--locked", "version" }, { cwd = dir })
    eq(r, { code = 1, stdout = "", stderr = "relrun: --locked: no relrun.lock in " .. dir .. ": run `relrun lock` "
      .. "there and commit relrun.lock\n" })
    r = run({ "--locked", "-" }, { cwd = dir, stdin = "print('" .. MARK .. "')" })
    eq(r.code, 1)
    eq(r.stdout, "")
  end)

  it("loads nothing from package.path's defaults (./?.lua) or C modules", function()
    child.write(dir .. "/helper.lua", "return 'from cwd'\n")
    child.write(dir .. "/.relrun-scripts/version.lua",
      "local ok, v = pcall(require, 'helper') print(ok, v, package.cpath == '')\n")
    eq(run({ "lock" }, { cwd = dir }).code, 0)
    eq(run({ "version" }, { cwd = dir }).stdout, "true\tfrom cwd\tfalse\n", "unlocked runs find ./helper.lua")
    local r = run({ "--locked", "version" }, { cwd = dir })
    eq(r.code, 0, r.stderr)
    ok(r.stdout:find("^false\tmodule 'helper' not found"), r.stdout)
    ok(not r.stdout:find("./helper.lua", 1, true), "not even tried: " .. r.stdout)
    ok(r.stdout:find("true\n$"), r.stdout)
  end)

  it("locks a script run by path with its lib/ folder (relrun lock SCRIPT)", function()
    mkdir(dir .. "/tools/lib/team")
    child.write(dir .. "/tools/go.lua", "print((require('team.x')))\n")
    child.write(dir .. "/tools/lib/team/x.lua", "return 'team'\n")
    local r = run({ "--locked", "tools/go.lua" }, { cwd = dir })
    eq(r.code, 1)
    contains(r.stderr, "--locked: tools/go.lua would be loaded but is not in relrun.lock")
    eq(run({ "lock", "tools/go.lua" }, { cwd = dir }).code, 0)
    ok(lock_of(dir).files["tools/lib/team/x.lua"], "its lib/ is locked")
    eq(run({ "--locked", "tools/go.lua" }, { cwd = dir }).stdout, "team\n")
    eq(run({ "lock" }, { cwd = dir }).stdout, "relrun.lock is up to date (relrun " .. host.version .. ", 4 files)\n",
      "a later relrun lock keeps what was locked outside .relrun-scripts")
  end)
end)

describe("after an upgrade of relrun", function()
  -- What relrun 0.0.9 might have shipped as util.lua: today's text with one
  -- line changed. The project copied that, then edited it further.
  local dir, builtin, old_builtin, yours
  local KEY = ".relrun-scripts/lib/relrun/util.lua"
  before_each(function()
    dir = project()
    builtin = host.builtin_text("scripts/lib/relrun/util.lua")
    local first = builtin:match("^[^\n]*\n")
    old_builtin = builtin:gsub("^[^\n]*\n", "-- relrun 0.0.9's first line\n", 1)
    assert(old_builtin ~= builtin and first)
    yours = old_builtin .. "-- the team's edit\n"
    child.write(dir .. "/" .. KEY, yours)
    child.write(dir .. "/.relrun-scripts/.base/lib/relrun/util.lua", old_builtin)
    local lock = lock_of(dir)
    lock.relrun = "0.0.9"
    lock.files[KEY] = { sha256 = sha(yours), builtin = "scripts/lib/relrun/util.lua", base = sha(old_builtin),
                        base_relrun = "0.0.9" }
    lock.files[".relrun-scripts/version.lua"].base_relrun = "0.0.9"
    -- written the way relrun writes it, through the host's own encoder
    local r = run({ "-", dir }, { stdin = "local l = require 'relrun.lockfile'; local j = require 'relrun.json'; "
      .. "l.write(..., j.decode([==[" .. json.encode(lock) .. "]==]))" })
    assert(r.code == 0, r.stderr)
  end)
  after_each(function() child.rmtree(dir) end)

  it("relrun lock shows each vendored file's changes and relrun's since the copy (three-way view)", function()
    local r = run({ "lock" }, { cwd = dir })
    eq(r.code, 0, r.stderr)
    contains(r.stdout, "relrun.lock was written by relrun 0.0.9; this is relrun " .. host.version .. " (an upgrade).")
    contains(r.stdout, KEY .. " (a copy of scripts/lib/relrun/util.lua from relrun 0.0.9; this is relrun "
      .. host.version .. ")\n  your changes (relrun 0.0.9 -> yours):\n    --- relrun 0.0.9\n    +++ yours\n")
    contains(r.stdout, "+-- the team's edit\n")
    contains(r.stdout, "  relrun's changes (relrun 0.0.9 -> relrun " .. host.version .. "):\n    --- relrun 0.0.9\n"
      .. "    +++ relrun " .. host.version .. "\n")
    contains(r.stdout, "-- relrun 0.0.9's first line\n")
    contains(r.stdout, "to take relrun's changes into yours: relrun vendor --merge " .. KEY)
    eq(lock_of(dir).relrun, host.version)
    eq(lock_of(dir).files[KEY].base_relrun, "0.0.9", "the copy still stems from 0.0.9's text")
    contains(run({ "vendor", "--diff", "relrun.util" }, { cwd = dir }).stdout, "+-- the team's edit\n")
  end)

  it("relrun vendor --merge takes relrun's changes into the copy, keeping the team's", function()
    eq(run({ "lock" }, { cwd = dir }).code, 0)
    local r = run({ "vendor", "--merge", "relrun.util" }, { cwd = dir })
    eq(r.code, 0, r.stdout .. r.stderr)
    contains(r.stdout, KEY .. ": relrun's changes merged into yours")
    eq(child.read(dir .. "/" .. KEY), builtin .. "-- the team's edit\n")
    eq(child.read(dir .. "/.relrun-scripts/.base/lib/relrun/util.lua"), builtin)
    local entry = lock_of(dir).files[KEY]
    eq(entry, { sha256 = sha(builtin .. "-- the team's edit\n"), builtin = "scripts/lib/relrun/util.lua",
                base = sha(builtin), base_relrun = host.version })
    eq(run({ "--locked", "version" }, { cwd = dir }).stdout, MARK .. "\ttrue\n")
  end)

  it("a conflict is marked in the file and leaves --locked refusing until resolved and locked", function()
    child.write(dir .. "/" .. KEY, (yours:gsub("^[^\n]*\n", "-- the team's own first line\n", 1)))
    local r = run({ "vendor", "--merge" }, { cwd = dir })
    eq(r.code, 1)
    contains(r.stdout, KEY .. ": 1 conflict marked <<<<<<< yours ... >>>>>>> relrun " .. host.version)
    local text = child.read(dir .. "/" .. KEY)
    contains(text, "<<<<<<< yours\n-- the team's own first line\n")
    contains(text, ">>>>>>> relrun " .. host.version .. "\n")
    eq(run({ "--locked", "version" }, { cwd = dir }).code, 1)
  end)
end)
