-- Scripts by name (runtime/lua/relrun/launch.lua): `relrun NAME` runs the
-- project's .relrun-scripts/NAME.lua when the repository holding the current
-- folder has one, else the script built into relrun; libraries in
-- .relrun-scripts/lib/ override built-in ones; relrun says once, on stderr,
-- which files differ from the built-in ones. Scripts by path work as before.
local child = require "log_child"
local host = require "relrun.host"

local function run(args, opts)
  opts = opts or {}
  opts.args = args
  return child.run(opts)
end

local function sh(cmd)
  assert(os.execute(cmd), cmd)
end

-- A fresh git repository with a subfolder, and the built-in text of `path`.
local function repo()
  local dir = child.tmpdir()
  sh("git init -q " .. child.quote(dir) .. " && mkdir -p " .. child.quote(dir .. "/sub/deeper"))
  return dir
end

local function notice(files)
  return string.format("relrun: using %d %s from relrun %s's built-in ones: %s\n", #files,
    #files == 1 and "file that differs" or "files that differ", host.version, table.concat(files, ", "))
end

describe("relrun NAME", function()
  local dir
  before_each(function() dir = repo() end)
  after_each(function() child.rmtree(dir) end)

  it("runs the built-in script from any folder, with its arguments", function()
    local r = run({ "version", "--help" }, { cwd = dir .. "/sub" })
    eq(r.code, 0, r.stderr)
    eq(r.stderr, "")
    contains(r.stdout, "usage: relrun version [options]\nPrint the setuptools_scm version of a git checkout.")
  end)

  it("runs the project's .relrun-scripts/NAME.lua instead, found from a subfolder, and says so once", function()
    os.execute("mkdir -p " .. child.quote(dir .. "/.relrun-scripts"))
    child.write(dir .. "/.relrun-scripts/version.lua", "print('vendored', arg[0], ...) return 4\n")
    local r = run({ "version", "a", "b c" }, { cwd = dir .. "/sub/deeper" })
    eq(r, { code = 4, stdout = "vendored\tversion\ta\tb c\n", stderr = notice({ ".relrun-scripts/version.lua" }) })
  end)

  it("says nothing about a copy identical to the built-in text", function()
    os.execute("mkdir -p " .. child.quote(dir .. "/.relrun-scripts/lib/relrun"))
    child.write(dir .. "/.relrun-scripts/version.lua", host.builtin_text("scripts/version.lua"))
    child.write(dir .. "/.relrun-scripts/lib/relrun/cli.lua", host.builtin_text("scripts/lib/relrun/cli.lua"))
    local r = run({ "version", "--help" }, { cwd = dir })
    eq(r.code, 0)
    eq(r.stderr, "")
  end)

  it("a built-in script loads the project's edited library from .relrun-scripts/lib", function()
    os.execute("mkdir -p " .. child.quote(dir .. "/.relrun-scripts/lib/relrun"))
    child.write(dir .. "/.relrun-scripts/lib/relrun/cli.lua",
      "io.stderr:write('edited cli loaded\\n')\n" .. host.builtin_text("scripts/lib/relrun/cli.lua"))
    local r = run({ "version", "--help" }, { cwd = dir .. "/sub" })
    eq(r.code, 0)
    eq(r.stderr, notice({ ".relrun-scripts/lib/relrun/cli.lua" }) .. "edited cli loaded\n")
  end)

  it("names every differing file in one line: the script, its libraries, RELRUN_PATH's", function()
    os.execute("mkdir -p " .. child.quote(dir .. "/.relrun-scripts/lib/relrun") .. " "
      .. child.quote(dir .. "/extra/relrun"))
    child.write(dir .. "/.relrun-scripts/version.lua",
      "require 'relrun.util' require 'relrun.semver' require 'relrun.cli' print('ran')\n")
    child.write(dir .. "/.relrun-scripts/lib/relrun/util.lua", "return {}\n")
    child.write(dir .. "/.relrun-scripts/lib/relrun/cli.lua", host.builtin_text("scripts/lib/relrun/cli.lua"))
    child.write(dir .. "/extra/relrun/semver.lua", "return {}\n")
    local r = run({ "version" }, { cwd = dir, env = { RELRUN_PATH = dir .. "/extra" } })
    eq(r, { code = 0, stdout = "ran\n", stderr = notice({ ".relrun-scripts/version.lua",
      "extra/relrun/semver.lua", ".relrun-scripts/lib/relrun/util.lua" }) })
  end)

  it("outside a repository, the current folder is the project", function()
    local plain = child.tmpdir()
    os.execute("mkdir -p " .. child.quote(plain .. "/.relrun-scripts"))
    child.write(plain .. "/.relrun-scripts/verify.lua", "print('plain')\n")
    local r = run({ "verify" }, { cwd = plain })
    child.rmtree(plain)
    eq(r.stdout, "plain\n")
  end)

  it("an unknown name is a usage error listing the built-in scripts", function()
    local r = run({ "relase" }, { cwd = dir })
    eq(r.code, 2)
    eq(r.stdout, "")
    eq(r.stderr, "relrun: no script named 'relase': relrun's are audit, doctor, login, maintain, release, rollback, "
      .. "setup, verify, "
      .. "version, watch, a project's own live in .relrun-scripts/NAME.lua; to run a file, give its path (./relase)\n")
  end)

  it("a file of that name in the current folder still runs, as lua would run it", function()
    child.write(dir .. "/myscript", "print('file', ...)\n")
    eq(run({ "myscript", "x" }, { cwd = dir }), { code = 0, stdout = "file\tx\n", stderr = "" })
  end)
end)

describe("relrun PATH", function()
  it("runs relrun's own scripts/NAME.lua by path, with the scripts/lib beside it and no notice", function()
    local src = os.getenv("RELRUN_SOURCE_DIR")
    local r = run({ "scripts/version.lua", "--help" }, { cwd = src })
    eq(r.code, 0)
    eq(r.stderr, "", "scripts/lib is the built-in text itself")
    contains(r.stdout, "usage: relrun version [options]")
  end)
end)
