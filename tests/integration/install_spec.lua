-- label: slow
-- The installed tree (CMakeLists.txt's install rules, `make install
-- PREFIX=...`): bin/relrun, its modules in lib/relrun/modules found relative
-- to the program (so a moved prefix works), the scripts and docs, and for
-- embedders relrun.h, librelrun.a and a relocatable relrun.pc.
local fs = require "relrun.fs"
local installed = require "installed"

local BUILD = assert(os.getenv("RELRUN_BUILD_DIR"))

describe("the installed tree", function()
  local tmp, prefix, away

  before_each(function()
    tmp = fs.tempdir("relrun-install-")
    away = tmp.path .. "/elsewhere"
    fs.mkdir(away)
    local r = installed.run({ "cmake", "--install", BUILD, "--prefix", tmp.path .. "/first" })
    assert(r.code == 0, r.stdout .. r.stderr)
    -- moved after installing: nothing may depend on the prefix it was installed to
    prefix = tmp.path .. "/moved/here"
    fs.mkdir(tmp.path .. "/moved")
    assert(fs.rename(tmp.path .. "/first", prefix))
  end)
  after_each(function() tmp:close() end)

  it("holds the program, its modules, the scripts, the docs and the embedding files", function()
    ok(fs.stat(prefix .. "/bin/relrun").mode & 73 ~= 0, "bin/relrun is executable")
    for _, name in ipairs({ "http", "git", "archive" }) do
      installed.one(prefix .. "/lib*/relrun/modules/relrun_" .. name .. ".so")
    end
    installed.one(prefix .. "/share/relrun/scripts/release.lua")
    installed.one(prefix .. "/share/relrun/scripts/lib/relrun/pypi/upload.lua")
    installed.one(prefix .. "/share/relrun/scripts/templates/release.yml")
    installed.one(prefix .. "/share/doc/relrun/README.md")
    installed.one(prefix .. "/share/man/man1/relrun.1.gz")
    installed.one(prefix .. "/include/relrun.h")
    installed.one(prefix .. "/lib*/librelrun.a")
    installed.one(prefix .. "/lib*/pkgconfig/relrun.pc")
  end)

  it("runs from another folder after the prefix moved: -e, the loadable modules, a script by name", function()
    installed.check_program(prefix .. "/bin/relrun", prefix, away)
  end)

  it("compiles and runs tests/unit/test_embed.c with pkg-config --cflags --libs relrun", function()
    installed.check_embedding(fs.dirname(installed.one(prefix .. "/lib*/pkgconfig/relrun.pc")), away)
  end)

  it("without its modules folder, says the installation is incomplete", function()
    fs.remove(fs.dirname(installed.one(prefix .. "/lib*/relrun/modules/relrun_git.so")), { recursive = true })
    local r = installed.run({ prefix .. "/bin/relrun", "-e", "require 'relrun.git'" }, { cwd = away })
    eq(r.code, 1)
    contains(r.stderr, "relrun: cannot load relrun.git: relrun_git.so is in neither " .. prefix .. "/bin/relrun-modules nor ")
    contains(r.stderr, "the installation is incomplete: reinstall relrun")
  end)
end)
