-- relrun.archive: listing, reading, deterministic writing, and extraction
-- that refuses hostile archives (made by Python's zipfile/tarfile).
local archive = require "relrun.archive"
local fs = require "relrun.fs"
local hash = require "relrun.hash"

local run = require("pypi_example").run

local function python(code, ...)
  return run { "/usr/bin/python3", "-c", code, ... }
end

local tmp
before_each(function() tmp = fs.tempdir("archive-spec") end)
after_each(function() tmp:close() end)

local function sample_entries()
  return {
    { name = "pkg/b.py", data = "print('b')\n" },
    { name = "pkg/__init__.py", data = "" },
    { name = "bin/tool", data = "#!/bin/sh\necho hi\n", mode = tonumber("775", 8) },
    { name = "a.txt", data = string.rep("abc", 10000) },
  }
end

describe("write", function()
  for _, format in ipairs({ "zip", "tar.gz" }) do
    it(format .. " round trip: names sorted, data, modes, owners, mtime", function()
      local path = fs.join(tmp.path, "out." .. format)
      eq(archive.write(path, { format = format, entries = sample_entries(), mtime = 1700000000 }), true)
      local entries = assert(archive.list(path))
      local names = {}
      for i, e in ipairs(entries) do names[i] = e.name end
      eq(names, { "a.txt", "bin/tool", "pkg/__init__.py", "pkg/b.py" })
      eq(entries[2].mode, tonumber("755", 8), "executable normalised to 0755")
      eq(entries[1].mode, tonumber("644", 8))
      eq(entries[1].mtime, 1700000000)
      eq(assert(archive.read(path, "a.txt")), string.rep("abc", 10000))
      eq(assert(archive.read(path, "pkg/__init__.py")), "")
      -- an independent reader agrees, and sees uid/gid 0 and no owner names
      local seen = python([[
import sys, tarfile, zipfile
p = sys.argv[1]
if p.endswith(".zip"):
    z = zipfile.ZipFile(p)
    for i in z.infolist():
        print(i.filename, oct(i.external_attr >> 16), z.read(i).count(b"abc"))
else:
    t = tarfile.open(p)
    for m in t.getmembers():
        print(m.name, oct(m.mode), t.extractfile(m).read().count(b"abc"), m.uid, m.gid, repr(m.uname), repr(m.gname))
]], path)
      contains(seen, "a.txt")
      contains(seen, "10000")
      if format == "tar.gz" then contains(seen, "bin/tool 0o755 0 0 0 '' ''") end
      if format == "zip" then contains(seen, "bin/tool 0o100755 0") end
    end)

    it(format .. " is deterministic: two writes, same bytes, whatever the input order", function()
      local a, b = fs.join(tmp.path, "a." .. format), fs.join(tmp.path, "b." .. format)
      local entries = sample_entries()
      assert(archive.write(a, { format = format, entries = entries, mtime = 1700000000 }))
      local reversed = {}
      for i = #entries, 1, -1 do reversed[#reversed + 1] = entries[i] end
      assert(archive.write(b, { format = format, entries = reversed, mtime = 1700000000 }))
      eq(hash.file(a, { "sha256" }).sha256, hash.file(b, { "sha256" }).sha256)
    end)
  end

  it("keeps long and non-ASCII names, and two processes write the same bytes", function()
    local long = string.rep("d", 60) .. "/" .. string.rep("f", 90) .. "/é-ü-名前.txt"
    local script = fs.join(tmp.path, "w.lua")
    assert(fs.write(script, string.format([[
local a = require "relrun.archive"
assert(a.write(arg[1], { format = arg[2], mtime = 1700000000, entries = { { name = %q, data = "x" } } }))
]], long)))
    local relrun = os.getenv("RELRUN") or "build/relrun"
    for _, format in ipairs({ "zip", "tar.gz" }) do
      local a, b = fs.join(tmp.path, "1." .. format), fs.join(tmp.path, "2." .. format)
      run { relrun, script, a, format }
      run { relrun, script, b, format }
      eq(hash.file(a, { "sha256" }).sha256, hash.file(b, { "sha256" }).sha256, format)
      eq(assert(archive.list(a))[1].name, long)
      eq(python("import sys, tarfile, zipfile; p = sys.argv[1]; "
        .. "print((zipfile.ZipFile(p).namelist() if p.endswith('.zip') else tarfile.open(p).getnames())[0])", a),
        long .. "\n", format .. " read by Python")
      local dest = fs.join(tmp.path, "x" .. format)
      eq(archive.extract(a, dest), true)
      eq(fs.read(fs.join(dest, long)), "x")
    end
  end)

  it("takes the mtime from SOURCE_DATE_EPOCH, and streams a file entry", function()
    local src = fs.join(tmp.path, "src.bin")
    assert(fs.write(src, string.rep("\1\2\3", 100000)))
    local old = fs.getenv("SOURCE_DATE_EPOCH")
    fs.setenv("SOURCE_DATE_EPOCH", "1234567890")
    local path = fs.join(tmp.path, "f.tar.gz")
    local good, err = archive.write(path, { format = "tar.gz", entries = { { name = "src.bin", file = src } } })
    fs.setenv("SOURCE_DATE_EPOCH", old)
    eq(good, true, err)
    local e = assert(archive.list(path))[1]
    eq(e.mtime, 1234567890)
    eq(e.size, 300000)
    eq(archive.read(path, "src.bin"), string.rep("\1\2\3", 100000))
  end)

  it("refuses misuse and reports a missing input file", function()
    local path = fs.join(tmp.path, "x.zip")
    raises(function() archive.write(path, { format = "rar", entries = {} }) end, "unknown format")
    raises(function() archive.write(path, { format = "zip", entries = { { name = "a" } } }) end, "needs data or file")
    raises(function() archive.write(path, { format = "zip", entries = { { name = "../a", data = "" } } }) end, "'..'")
    local r, msg, code = archive.write(path, { format = "zip", entries = { { name = "a", file = "/nonexistent/x" } } })
    eq(r, nil)
    contains(msg, "/nonexistent/x")
    eq(code, "ENOENT")
    eq(fs.list(tmp.path), {}, "no output and no temporary file left")
  end)
end)

describe("read", function()
  it("says which member is missing, and what is not an archive", function()
    local path = fs.join(tmp.path, "a.zip")
    assert(archive.write(path, { format = "zip", entries = { { name = "x", data = "1" } } }))
    local r, msg, code = archive.read(path, "y")
    eq({ r, code }, { nil, "ENOENT" })
    contains(msg, "no member 'y'")
    local text = fs.join(tmp.path, "t.txt")
    assert(fs.write(text, "just text\n"))
    r, msg, code = archive.list(text)
    eq({ r, code }, { nil, "FORMAT" })
    contains(msg, "t.txt")
    r, msg, code = archive.list(fs.join(tmp.path, "missing.zip"))
    eq({ r, code }, { nil, "ENOENT" })
    contains(msg, "missing.zip")
  end)

  it("read_all gives every file; read honours max_bytes", function()
    local path = fs.join(tmp.path, "a.tar.gz")
    assert(archive.write(path, { format = "tar.gz", entries = sample_entries() }))
    local all = assert(archive.read_all(path))
    eq(all["pkg/b.py"], "print('b')\n")
    eq(#all["a.txt"], 30000)
    local r, msg, code = archive.read(path, "a.txt", { max_bytes = 1000 })
    eq({ r, code }, { nil, "LIMIT" })
    contains(msg, "a.txt")
  end)

  -- read and read_all hold what they read in memory: by default at most
  -- 128 MiB, and a member that declares more is refused before any of it
  -- is read (a 300 MB zip bomb once took 622 MB of memory).
  it("a 300 MB zip bomb is refused by default, in little memory", function()
    local bomb = fs.join(tmp.path, "bomb300.zip")
    python([[
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    with z.open("zeros.bin", "w", force_zip64=True) as f:
        block = bytes(1 << 20)
        for _ in range(300):
            f.write(block)
]], bomb)
    ok(fs.stat(bomb).size < (4 << 20), "the bomb is small on disk")
    for _, call in ipairs({ "read_all(%q)", "read(%q, 'zeros.bin')" }) do
      local script = "local a = require('relrun.archive'); local r, msg, code = a." .. call:format(bomb) ..
        "; print(r == nil, code, msg)"
      local p = io.popen(string.format("/usr/bin/time -f maxrss_kib=%%M %q -e %q 2>&1",
        os.getenv("RELRUN") or "build/relrun", script))
      local out = p:read("a")
      p:close()
      contains(out, "true\tLIMIT\t" .. bomb .. ": more than 134217728 bytes uncompressed (at 'zeros.bin')")
      local kib = tonumber(out:match("maxrss_kib=(%d+)"))
      ok(kib and kib < 150 * 1024, call .. ": at most 150 MiB of memory, took " .. tostring(kib) .. " KiB")
    end
  end)
end)

describe("extract", function()
  local hostile, outside
  before_each(function()
    hostile = fs.join(tmp.path, "hostile")
    outside = fs.join(tmp.path, "outside")
    assert(fs.mkdir(hostile))
    assert(fs.mkdir(outside))
    run { "/usr/bin/python3", (os.getenv("RELRUN_SOURCE_DIR") or ".") .. "/tests/support/pypi_hostile.py",
          hostile, outside }
  end)

  it("extracts a good archive", function()
    local path = fs.join(tmp.path, "good.tar.gz")
    assert(archive.write(path, { format = "tar.gz", entries = sample_entries() }))
    local dest = fs.join(tmp.path, "dest")
    eq(archive.extract(path, dest), true)
    eq(fs.read(fs.join(dest, "pkg", "b.py")), "print('b')\n")
    eq(fs.stat(fs.join(dest, "bin", "tool")).mode & tonumber("111", 8) ~= 0, true, "keeps the execute bit")
  end)

  it("keeps symlinks that stay inside", function()
    local dest = fs.join(tmp.path, "dest")
    eq(archive.extract(fs.join(hostile, "inside-link.tar.gz"), dest), true)
    eq(fs.read(fs.join(dest, "d", "link")), "data")
    eq(fs.readlink(fs.join(dest, "up")), "d/../d/file.txt")
  end)

  local cases = {
    { "traversal.zip", "'../../escaped.txt' is a '..' component" },
    { "traversal.tar.gz", "is a '..' component" },
    { "absolute.zip", "is an absolute path" },
    { "absolute.tar.gz", "is an absolute path" },
    { "symlink.tar.gz", "'link' is a symlink pointing outside the destination" },
    { "symlink-up.tar.gz", "'a/link' is a symlink pointing outside the destination" },
    { "symlink-dot.tar.gz", "'./x/./link' is a symlink pointing outside the destination" },
    { "through-link.tar.gz", "Cannot extract through symlink" },
    { "hardlink.tar.gz", "a hardlink pointing outside the destination" },
    { "device.tar.gz", "a device, fifo or socket" },
  }
  for _, case in ipairs(cases) do
    it("refuses " .. case[1], function()
      local dest = fs.join(tmp.path, "dest")
      local r, msg, code = archive.extract(fs.join(hostile, case[1]), dest)
      eq({ r, code }, { nil, "UNSAFE" }, msg)
      contains(msg, case[2])
      contains(msg, case[1])
      eq(fs.list(outside), {}, "nothing written outside")
      eq(fs.exists(fs.join(tmp.path, "escaped.txt")), false)
      eq(fs.exists(fs.join(tmp.path, "outside.txt")), false)
    end)
  end

  -- Without a symlink on the way (an empty destination, none made yet)
  -- the disk writer skips its per-component symlink check; a symlink
  -- already in the destination must still stop a write through it.
  it("refuses to write through a symlink already in the destination", function()
    local dest = fs.join(tmp.path, "dest")
    assert(fs.mkdir(dest))
    assert(fs.symlink(outside, fs.join(dest, "out")))
    local path = fs.join(tmp.path, "plain.tar.gz")
    assert(archive.write(path, { format = "tar.gz", entries = { { name = "out/x.txt", data = "x" } } }))
    local r, msg = archive.extract(path, dest)
    eq(r, nil)
    contains(msg, "symlink")
    eq(fs.list(outside), {}, "nothing written outside")
  end)

  it("stops a zip bomb at max_bytes, counting what is really decompressed", function()
    local dest = fs.join(tmp.path, "dest")
    local r, msg, code = archive.extract(fs.join(hostile, "bomb.zip"), dest, { max_bytes = 8 << 20 })
    eq({ r, code }, { nil, "LIMIT" })
    contains(msg, "more than 8388608 bytes uncompressed")
    local st = fs.stat(fs.join(dest, "zeros.bin"))
    ok(not st or st.size <= 8 << 20, "wrote no more than the limit")
    eq(archive.extract(fs.join(hostile, "bomb.zip"), fs.join(tmp.path, "d2"), { max_bytes = 64 << 20 }), true)
  end)

  it("stops at max_entries", function()
    local r, msg, code = archive.extract(fs.join(hostile, "many.zip"), fs.join(tmp.path, "dest"), { max_entries = 10 })
    eq({ r, code }, { nil, "LIMIT" })
    contains(msg, "more than 10 entries")
  end)
end)
