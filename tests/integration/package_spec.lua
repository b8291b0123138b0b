-- label: package
-- The Debian packages `make deb` builds (CPack, build-release/): control
-- fields with Depends from dpkg-shlibdeps, the files, lintian, and the
-- unpacked tree (dpkg-deb -x, anywhere) running from another folder and
-- compiling test_embed.c through its relrun.pc.
local fs = require "relrun.fs"
local host = require "relrun.host"
local installed = require "installed"

local DIR = assert(os.getenv("RELRUN_PACKAGE_DIR"))

local function deb(name)
  local found = fs.glob(DIR .. "/" .. name .. "_" .. host.version .. "_*.deb")
  assert(#found == 1, "no " .. name .. " package of relrun " .. host.version .. " in " .. DIR .. ": run make deb")
  return found[1]
end

local function field(path, name)
  local r = installed.run({ "dpkg-deb", "--field", path, name })
  assert(r.code == 0, r.stderr)
  return (r.stdout:gsub("\n$", ""))
end

local function contents(path)
  local r = installed.run({ "dpkg-deb", "--contents", path })
  assert(r.code == 0, r.stderr)
  local files = {}
  for line in r.stdout:gmatch("[^\n]+") do files[line:match("%./(%S+)$") or ""] = true end
  return files
end

describe("the relrun package", function()
  local path = deb("relrun")

  it("is relrun's version, for this architecture, with a real description", function()
    eq(field(path, "Package"), "relrun")
    eq(field(path, "Version"), host.version)
    eq(field(path, "Architecture"), (installed.run({ "dpkg", "--print-architecture" }).stdout:gsub("\n", "")))
    contains(field(path, "Description"), "release software with editable Lua scripts")
  end)

  it("depends on the package of every shared library its program and modules link", function()
    local depends = {}
    for dep in field(path, "Depends"):gmatch("[^,|]+") do depends[dep:match("^%s*(%S+)")] = true end
    local tmp <close> = fs.tempdir("relrun-deb-")
    eq(installed.run({ "dpkg-deb", "-x", path, tmp.path }).code, 0)
    local elves = fs.glob(tmp.path .. "/usr/lib/*/relrun/modules/*.so")
    table.insert(elves, tmp.path .. "/usr/bin/relrun")
    eq(#elves, 7)   -- the program and relrun_{http,git,archive,sodium,hash,sigv4}.so
    local checked = 0
    for _, elf in ipairs(elves) do
      local r = installed.run({ "readelf", "-d", elf })
      for soname in r.stdout:gmatch("%(NEEDED%)%s+Shared library: %[([^%]]+)%]") do
        local owner = installed.run({ "dpkg", "-S", "*/" .. soname })
        eq(owner.code, 0, soname .. " belongs to an installed package")
        local pkg = owner.stdout:match("^([^:,]+)")
        ok(depends[pkg], fs.basename(elf) .. " needs " .. soname .. " from " .. pkg .. ", which Depends lacks: "
          .. field(path, "Depends"))
        checked = checked + 1
      end
    end
    ok(checked >= 8, "the program and modules need libraries: " .. checked)
    for _, pkg in ipairs({ "libgit2-1.5", "libcurl4", "libarchive13", "liblua5.4-0", "libexpat1", "libssl3", "libsodium23" }) do
      ok(depends[pkg], pkg)
    end
  end)

  it("holds the program, its modules, the scripts, the docs, the manual page and no build files", function()
    local files = contents(path)
    local want = { "usr/bin/relrun", "usr/share/relrun/scripts/release.lua",
      "usr/share/relrun/scripts/lib/relrun/pypi/upload.lua", "usr/share/relrun/scripts/templates/release.yml",
      "usr/share/doc/relrun/copyright", "usr/share/doc/relrun/changelog.gz", "usr/share/doc/relrun/README.md",
      "usr/share/man/man1/relrun.1.gz" }
    for _, f in ipairs(want) do ok(files[f], f) end
    local modules = 0
    for f in pairs(files) do
      if f:match("^usr/lib/[^/]+/relrun/modules/relrun_%w+%.so$") then modules = modules + 1 end
      ok(not f:match("%.a$") and not f:match("%.h$"), "no embedding file in the program's package: " .. f)
    end
    eq(modules, 6)
  end)

  it("passes lintian with no error or warning", function()
    local r = installed.run({ "lintian", "--fail-on", "error,warning", path, deb("librelrun-dev") })
    eq(r.code, 0, r.stdout .. r.stderr)
    ok(not r.stdout:find("^[EW]: ") and not r.stdout:find("\n[EW]: "), r.stdout)
  end)
end)

describe("the librelrun-dev package", function()
  it("holds relrun.h, librelrun.a and relrun.pc", function()
    local files = contents(deb("librelrun-dev"))
    ok(files["usr/include/relrun.h"], "relrun.h")
    local a, pc = false, false
    for f in pairs(files) do
      a = a or f:match("^usr/lib/[^/]+/librelrun%.a$") ~= nil
      pc = pc or f:match("^usr/lib/[^/]+/pkgconfig/relrun%.pc$") ~= nil
    end
    ok(a and pc, "librelrun.a and relrun.pc")
  end)
end)

describe("the packages unpacked anywhere (dpkg-deb -x)", function()
  local tmp, root, away
  before_each(function()
    tmp = fs.tempdir("relrun-deb-")
    root, away = tmp.path .. "/root", tmp.path .. "/elsewhere"
    fs.mkdir(away)
    for _, name in ipairs({ "relrun", "librelrun-dev" }) do
      local r = installed.run({ "dpkg-deb", "-x", deb(name), root })
      assert(r.code == 0, r.stderr)
    end
  end)
  after_each(function() tmp:close() end)

  it("runs from another folder: -e, the loadable modules, a script by name", function()
    installed.check_program(root .. "/usr/bin/relrun", root, away)
  end)

  it("compiles and runs tests/unit/test_embed.c with its relrun.pc", function()
    installed.check_embedding(fs.dirname(installed.one(root .. "/usr/lib/*/pkgconfig/relrun.pc")), away)
  end)
end)
