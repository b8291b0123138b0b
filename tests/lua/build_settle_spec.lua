-- build.settle: the sdist a plain `python -m build` made, written again
-- with the commit's time when it carries build-time stamps — in memory, or
-- through an unpacked copy; both ways must give the same bytes (a release
-- built either way on two machines must match what is published). The
-- sdists here are made by Python's tarfile, as setuptools makes them: the
-- build time on every member and in the gzip header, some folders without
-- an entry of their own, an executable file. And build.compiled_sources,
-- and build.compiles, which decide between one `python -m build` and
-- relrun's own unpacking.
local build = require "relrun.build"
local archive = require "relrun.archive"
local fs = require "relrun.fs"
local proc = require "relrun.proc"

local EPOCH = 1700000000

-- An sdist at `path` made by tarfile from `members` ({name, data, mode,
-- dir = true, link = target}), stamped with the time now.
local MAKE = [[
import io, json, sys, tarfile, time
now = int(time.time())
with tarfile.open(sys.argv[1], "w:gz") as t:
    for m in json.loads(sys.argv[2]):
        info = tarfile.TarInfo(m["name"])
        info.mtime = now
        if m.get("dir"):
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            t.addfile(info)
        elif m.get("link"):
            info.type, info.linkname = tarfile.SYMTYPE, m["link"]
            t.addfile(info)
        else:
            data = m["data"].encode()
            info.size, info.mode = len(data), m.get("mode", 0o644)
            t.addfile(info, io.BytesIO(data))
]]
local function make_sdist(path, members)
  local r = proc.run{ argv = { "/usr/bin/python3", "-c", MAKE, path, require("relrun.json").encode(members) } }
  assert(r and r.code == 0, r and r.stderr)
  return path
end

local MEMBERS = {
  { name = "demo-1.0", dir = true },
  { name = "demo-1.0/PKG-INFO", data = "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n" },
  { name = "demo-1.0/pyproject.toml", data = "[project]\nname = \"demo\"\n" },
  { name = "demo-1.0/src/demo/__init__.py", data = "VALUE = 1\n" },   -- src/ and src/demo/ have no entry
  { name = "demo-1.0/src/demo/data/table.csv", data = "a,b\n1,2\n" },
  { name = "demo-1.0/bin/run", data = "#!/bin/sh\necho hi\n", mode = tonumber("755", 8) },
}

local function copy_to(dir, name, from)
  local path = fs.join(dir, name)
  assert(fs.copy(from, path))
  return path
end

local function gzip_mtime(path)
  local head = assert(fs.read(path)):sub(1, 8)
  return head:byte(5) | (head:byte(6) << 8) | (head:byte(7) << 16) | (head:byte(8) << 24)
end

describe("build.settle", function()
  local dir
  before_each(function() dir = fs.tempdir("settle-spec-") end)
  after_each(function() dir:close() end)

  it("writes a stamped sdist again with the commit's time, the same bytes in memory and unpacked", function()
    local original = make_sdist(fs.join(dir.path, "original.tar.gz"), MEMBERS)
    local in_memory = copy_to(dir.path, "a.tar.gz", original)
    local unpacked = copy_to(dir.path, "b.tar.gz", original)
    ok(build.settle(in_memory, EPOCH), "in memory")
    ok(build.settle(unpacked, EPOCH, true), "unpacked")
    eq(fs.read(in_memory), fs.read(unpacked), "the same bytes both ways")
    ok(fs.read(in_memory) ~= fs.read(original), "written again")
    ok(gzip_mtime(in_memory) <= EPOCH, "no build time in the gzip header")
    local names, modes = {}, {}
    for _, e in ipairs(archive.list(in_memory)) do
      eq(e.mtime, EPOCH, e.name .. ": the commit's time")
      names[#names + 1] = e.name
      modes[e.name] = e.mode
    end
    eq(names, { "demo-1.0/", "demo-1.0/PKG-INFO", "demo-1.0/bin/", "demo-1.0/bin/run", "demo-1.0/pyproject.toml",
                "demo-1.0/src/", "demo-1.0/src/demo/", "demo-1.0/src/demo/__init__.py", "demo-1.0/src/demo/data/",
                "demo-1.0/src/demo/data/table.csv" }, "every folder, sorted, implied ones too")
    eq(modes["demo-1.0/bin/run"], tonumber("755", 8), "the executable stays executable")
    eq(modes["demo-1.0/PKG-INFO"], tonumber("644", 8))
    local before, after = archive.read_all(original), archive.read_all(in_memory)
    eq(after, before, "every file's bytes kept")
  end)

  it("leaves an sdist that already has no stamp after the commit byte for byte", function()
    local path = make_sdist(fs.join(dir.path, "x.tar.gz"), MEMBERS)
    ok(build.settle(path, EPOCH))
    local settled = fs.read(path)
    ok(build.settle(path, EPOCH), "again")
    eq(fs.read(path), settled, "not written a second time")
  end)

  it("goes through an unpacked copy for what it does not hold in memory: a symlink", function()
    local members = { table.unpack(MEMBERS) }
    members[#members + 1] = { name = "demo-1.0/README", link = "PKG-INFO" }
    local original = make_sdist(fs.join(dir.path, "original.tar.gz"), members)
    local a, b = copy_to(dir.path, "a.tar.gz", original), copy_to(dir.path, "b.tar.gz", original)
    ok(build.settle(a, EPOCH))
    ok(build.settle(b, EPOCH, true))
    eq(fs.read(a), fs.read(b), "the same bytes as the unpacked way")
    for _, e in ipairs(archive.list(a)) do eq(e.mtime, EPOCH, e.name) end
  end)

  it("refuses an sdist without one top folder, saying what it holds", function()
    local path = make_sdist(fs.join(dir.path, "flat.tar.gz"), {
      { name = "demo-1.0/PKG-INFO", data = "x" }, { name = "setup.py", data = "y" } })
    local good, err = build.settle(path, EPOCH)
    eq(good, nil)
    eq(err.code, "BAD_SDIST")
    ok(tostring(err):find("does not hold one top folder (it holds demo-1.0, setup.py)", 1, true), tostring(err))
  end)
end)

describe("build.compiled_sources", function()
  local dir
  before_each(function() dir = fs.tempdir("compiled-spec-") end)
  after_each(function() dir:close() end)

  local function put(rel)
    local path = fs.join(dir.path, rel)
    assert(fs.mkdir(fs.dirname(path)))
    assert(fs.write(path, "x"))
  end

  it("is false for a pure-Python tree, whatever .git holds", function()
    put("pyproject.toml")
    put("src/demo/__init__.py")
    put("docs/index.md")
    put(".git/hooks/x.c")
    eq(build.compiled_sources(dir.path), false)
  end)

  it("finds a C, Cython or Rust source, or a native build file, at any depth", function()
    for _, rel in ipairs({ "src/demo/_speedups.c", "ext/fast.pyx", "native/lib.rs", "CMakeLists.txt",
                           "sub/meson.build", "rust/Cargo.toml", "src/kernel.CPP" }) do
      local d <close> = fs.tempdir("compiled-one-")
      local path = fs.join(d.path, rel)
      assert(fs.mkdir(fs.dirname(path)))
      assert(fs.write(path, "x"))
      eq(build.compiled_sources(d.path), true, rel)
    end
  end)

  it("counts a build requirement that compiles (cffi, Cython, mypyc, native build systems) as compiled", function()
    put("pyproject.toml")
    eq(build.compiles({ "setuptools>=61", "setuptools-scm[toml]>=7" }, dir.path), false, "pure")
    for _, req in ipairs({ "Cython>=3", "cffi >= 1.15", "mypy[mypyc]==1.8", "scikit_build_core", "maturin>=1,<2",
                           "setuptools-rust", "meson-python" }) do
      eq(build.compiles({ "setuptools", req }, dir.path), true, req)
    end
  end)
end)
