-- relrun.fs against the real file system, in a fresh temporary folder per test.
local fs = require "relrun.fs"

local RELRUN = os.getenv("RELRUN") or "build/relrun"

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local root
before_each(function() root = assert(fs.tempdir("fs-spec-")) end)
after_each(function() root:close() end)

local function p(...) return fs.join(root.path, ...) end

describe("read and write", function()
  it("round-trips bytes, NUL and non-UTF-8 included", function()
    local data = "a\0b\255\254" .. string.rep("x", 200000)
    eq(fs.write(p("f"), data), true)
    eq(fs.read(p("f")), data)
  end)

  it("reports a missing file as nil, message, ENOENT", function()
    local v, msg, code = fs.read(p("missing"))
    eq(v, nil)
    contains(msg, "missing")
    contains(msg, "No such file")
    eq(code, "ENOENT")
  end)

  it("replaces atomically and leaves no temporary file behind", function()
    fs.write(p("f"), "old")
    eq(fs.write(p("f"), "new"), true)
    eq(fs.read(p("f")), "new")
    eq(fs.list(root.path), { "f" })
  end)

  it("keeps the mode of an existing file, or uses the given one", function()
    fs.write(p("f"), "x")
    fs.chmod(p("f"), "751")
    fs.write(p("f"), "y")
    eq(fs.stat(p("f")).mode, tonumber("751", 8))
    fs.write(p("g"), "x", tonumber("600", 8))
    eq(fs.stat(p("g")).mode, tonumber("600", 8))
    fs.write(p("g"), "x", "640")
    eq(fs.stat(p("g")).mode, tonumber("640", 8))
  end)

  it("keeps the owner of the file it replaces when it may", function()
    fs.write(p("f"), "x")
    local me = fs.stat(p("f"))
    local r = require("relrun.proc").run{ argv = { "chown", "65534:65534", p("f") } }
    if r.code ~= 0 then skip("chown needs root: " .. r.stderr) end
    fs.write(p("f"), "y")
    eq({ fs.stat(p("f")).uid, fs.stat(p("f")).gid }, { 65534, 65534 })
    fs.write(p("g"), "new file")
    eq({ fs.stat(p("g")).uid, fs.stat(p("g")).gid }, { me.uid, me.gid })
  end)

  it("keeps the old content when the write fails half way", function()
    -- A child relrun writes 1 MiB under a 4 KiB file size limit (SIGXFSZ
    -- ignored, so write(2) fails with EFBIG part way through the data).
    fs.write(p("f"), "old content")
    local script = p("w.lua")
    fs.write(script, ([[
      local fs = require "relrun.fs"
      local ok, msg, code = fs.write(%q, string.rep("n", 1 << 20))
      io.write(tostring(ok), "|", tostring(msg), "|", tostring(code))
    ]]):format(p("f")))
    local cmd = "trap '' XFSZ; ulimit -f 4; exec " .. sh_quote(RELRUN) .. " " .. sh_quote(script)
    local h = io.popen("sh -c " .. sh_quote(cmd))
    local out = h:read("a")
    h:close()
    contains(out, "nil|write " .. p("f") .. ": File too large|EFBIG")
    eq(fs.read(p("f")), "old content")
    eq(fs.list(root.path), { "f", "w.lua" })
  end)

  it("fails cleanly when the target is a folder, leaving no temp file", function()
    fs.mkdir(p("d"))
    local v, msg, code = fs.write(p("d"), "x")
    eq(v, nil)
    contains(msg, p("d"))
    eq(code, "EISDIR")
    eq(fs.list(root.path), { "d" })
  end)

  it("writes a file whose name is as long as a name may be", function()
    local name = string.rep("n", 255)
    eq(fs.write(p(name), "x"), true)
    eq(fs.list(root.path), { name })
  end)

  it("appends, creating the file", function()
    eq(fs.append(p("log"), "a\n"), true)
    fs.append(p("log"), "b\n")
    eq(fs.read(p("log")), "a\nb\n")
  end)

  it("copies content and mode", function()
    local data = string.rep("0123456789", 30000)
    fs.write(p("src"), data, "750")
    eq(fs.copy(p("src"), p("dst")), true)
    eq(fs.read(p("dst")), data)
    eq(fs.stat(p("dst")).mode, tonumber("750", 8))
    eq(fs.copy(p("src"), p("dst644"), { mode = tonumber("644", 8) }), true)
    eq(fs.stat(p("dst644")).mode, tonumber("644", 8), "mode = given")
    eq(pcall(fs.copy, p("src"), p("x"), { mode = -5 }), false, "mode is permission bits")
    eq(fs.copy(p("empty-src"), p("e")) == nil, true)
    fs.write(p("empty-src"), "")
    eq(fs.copy(p("empty-src"), p("e")), true)
    eq(fs.read(p("e")), "")
    -- /proc files report size 0: the copy must still read their content.
    eq(fs.copy("/proc/self/status", p("status")), true)
    contains(fs.read(p("status")), "Name:")
    local v, _, code = fs.copy(p("nope"), p("dst"))
    eq({ v, code }, { nil, "ENOENT" })
    eq(fs.read(p("dst")), data, "a failed copy leaves the target alone")
  end)

  it("raises on misuse", function()
    raises(function() fs.read() end, "bad argument #1")
    raises(function() fs.write(p("f"), {}) end, "bad argument #2")
    raises(function() fs.write(p("f"), "x", "9z") end, "octal")
  end)
end)

describe("stat", function()
  it("describes files, folders and links", function()
    fs.write(p("f"), "12345")
    fs.mkdir(p("d"))
    fs.symlink("f", p("l"))
    local st = fs.stat(p("f"))
    eq(st.type, "file")
    eq(st.size, 5)
    ok(math.abs(st.mtime - os.time()) < 3600, "mtime in seconds since the epoch")
    eq(fs.stat(p("d")).type, "directory")
    eq(fs.stat(p("l")).type, "file", "stat follows links")
    eq(fs.lstat(p("l")).type, "link")
    eq(fs.readlink(p("l")), "f")
    eq(fs.stat("/dev/null").type, "other")
    local v, _, code = fs.stat(p("none"))
    eq({ v, code }, { nil, "ENOENT" })
  end)

  it("exists follows links", function()
    fs.symlink("nowhere", p("dangling"))
    eq(fs.exists(p("dangling")), false)
    eq(fs.exists(root.path), true)
    fs.write(p("f"), "")
    eq(fs.exists(p("f")), true)
  end)
end)

describe("mkdir and remove", function()
  it("creates parents and accepts an existing folder", function()
    eq(fs.mkdir(p("a/b//c/")), true)
    eq(fs.stat(p("a/b/c")).type, "directory")
    eq(fs.mkdir(p("a/b")), true)
    fs.write(p("file"), "")
    local v, _, code = fs.mkdir(p("file/sub"))
    eq({ v, code }, { nil, "ENOTDIR" })
  end)

  it("removes a tree without following a link out of it", function()
    local outside = p("outside")
    fs.mkdir(outside)
    fs.write(fs.join(outside, "keep"), "precious")
    fs.mkdir(p("tree/a/b"))
    fs.write(p("tree/a/b/f"), "x")
    fs.write(p("tree/top"), "x")
    fs.symlink(outside, p("tree/a/link-dir"))
    fs.symlink(fs.join(outside, "keep"), p("tree/link-file"))
    eq(fs.remove(p("tree"), { recursive = true }), true)
    eq(fs.exists(p("tree")), false)
    eq(fs.read(fs.join(outside, "keep")), "precious")
  end)

  it("removes a link to a folder as a link, even recursively", function()
    fs.mkdir(p("real"))
    fs.write(p("real/f"), "x")
    fs.symlink(p("real"), p("link"))
    eq(fs.remove(p("link"), { recursive = true }), true)
    eq(fs.lstat(p("link")), nil)
    eq(fs.read(p("real/f")), "x")
  end)

  it("refuses to remove '.', '..' and '/'", function()
    fs.mkdir(p("d/e"))
    fs.write(p("d/e/f"), "kept")
    for _, bad in ipairs({ p("d/e/."), p("d/e/.."), p("d/e/./"), "/" }) do
      local v, msg, code = fs.remove(bad, { recursive = true })
      eq({ v, code }, { nil, "EINVAL" }, bad)
      contains(msg, "refusing")
    end
    eq(fs.read(p("d/e/f")), "kept")
  end)

  it("treats a missing path as removed, refuses a full folder without recursive", function()
    eq(fs.remove(p("never")), true)
    fs.mkdir(p("d"))
    fs.write(p("d/f"), "")
    local v, _, code = fs.remove(p("d"))
    eq({ v, code }, { nil, "ENOTEMPTY" })
    eq(fs.remove(p("d/f")), true)
    eq(fs.remove(p("d")), true)
  end)
end)

describe("list and glob", function()
  it("lists names in byte order, without . and ..", function()
    for _, n in ipairs({ "b", "a", "C", ".hidden", "a2" }) do fs.write(p(n), "") end
    eq(fs.list(root.path), { ".hidden", "C", "a", "a2", "b" })
    local v, _, code = fs.list(p("none"))
    eq({ v, code }, { nil, "ENOENT" })
  end)

  it("globs sorted paths; no match is an empty list", function()
    fs.mkdir(p("dist"))
    for _, n in ipairs({ "z-1.0.tar.gz", "a-1.0-py3-none-any.whl", "b-1.0-py3-none-any.whl", "notes.txt" }) do
      fs.write(p("dist", n), "")
    end
    eq(fs.glob(p("dist/*.whl")), { p("dist/a-1.0-py3-none-any.whl"), p("dist/b-1.0-py3-none-any.whl") })
    eq(fs.glob(p("dist/*-1.0*")), {
      p("dist/a-1.0-py3-none-any.whl"), p("dist/b-1.0-py3-none-any.whl"), p("dist/z-1.0.tar.gz") })
    eq(fs.glob(p("dist/*.exe")), {})
  end)
end)

describe("tempdir", function()
  it("is removed, contents and all, on close; close is idempotent", function()
    local t = fs.tempdir("mine-")
    local path = t.path
    ok(fs.basename(path):match("^mine%.relrun%-" .. require("relrun.proc").pid() .. "%-%w%w%w%w%w%w$"), path)
    fs.mkdir(fs.join(path, "sub"))
    fs.write(fs.join(path, "sub/f"), "x")
    eq(t:close(), true)
    eq(fs.exists(path), false)
    eq(t:close(), true)
  end)

  it("is removed by a to-be-closed variable", function()
    local path
    do
      local t <close> = fs.tempdir()
      path = t.path
      fs.write(fs.join(path, "f"), "x")
    end
    eq(fs.exists(path), false)
  end)

  it("is removed when garbage collected", function()
    local path = fs.tempdir().path
    ok(fs.exists(path))
    collectgarbage()
    collectgarbage()
    eq(fs.exists(path), false)
  end)

  it("raises on use after close", function()
    local t = fs.tempdir()
    t:close()
    raises(function() return t.path end, "attempt to use a closed relrun.fs.tempdir")
  end)

  it("rejects a prefix with a slash", function()
    raises(function() fs.tempdir("a/b") end, "prefix")
  end)
end)

describe("lock", function()
  -- A relrun child that takes the lock, says "locked" and holds it for
  -- `secs`; the popen handle reads its output.
  local function holder(path, secs)
    local script = p("hold.lua")
    fs.write(script, string.format([[
local fs = require "relrun.fs"
local l = assert(fs.lock(%q))
io.write("locked\n") io.stdout:flush()
require("relrun.host").sleep(%s)
l:close()
io.write("released\n")
]], path, secs))
    local h = assert(io.popen("exec " .. sh_quote(RELRUN) .. " " .. sh_quote(script)))
    eq(h:read("l"), "locked")
    return h
  end

  it("keeps a second process out, names the holder, and lets it in once released", function()
    local path = p("repo.lock")
    local h = holder(path, 0.6)
    local pid = fs.read(path):match("^(%d+) ")
    ok(pid, "the holder wrote its pid: " .. tostring(fs.read(path)))
    local none, msg, code = fs.lock(path)
    eq({ none, code }, { nil, "ELOCKED" })
    contains(msg, path .. " is locked by pid " .. pid .. " on ")
    contains(fs.read(path), pid .. " ", "a failed attempt leaves the holder's note alone")
    local l = assert(fs.lock(path, { wait = 10 }), "waited for the holder to release it")
    eq(h:read("l"), "released")
    h:close()
    eq(tostring(l), "relrun.fs.lock (held)")
    l:close()
    l:close()
    eq(tostring(l), "relrun.fs.lock (released)")
    ok(fs.exists(path), "the lock file stays: removing it would let two holders in")
    eq(fs.read(path), "", "the note is cleared on release")
  end)

  it("is dropped with its process, and by a to-be-closed variable or the collector", function()
    local path = p("gone.lock")
    local h = holder(path, 30)
    os.execute("kill -KILL " .. assert(fs.read(path):match("^(%d+) ")))
    h:close()
    do
      local l <close> = assert(fs.lock(path), "a killed holder's lock is gone")
      eq(tostring(l), "relrun.fs.lock (held)")
    end
    assert(fs.lock(path), "released at the end of its scope"):close()
    local _ = fs.lock(path)
    _ = nil
    collectgarbage()
    collectgarbage()
    assert(fs.lock(path)):close()
  end)

  it("gives up after `wait` seconds, and reports other failures by errno", function()
    local path = p("busy.lock")
    local h = holder(path, 1)
    local none, _, code = fs.lock(path, { wait = 0.2 })
    eq({ none, code }, { nil, "ELOCKED" })
    h:close()
    local missing, msg, ecode = fs.lock(p("no", "such", "dir.lock"))
    eq({ missing, ecode }, { nil, "ENOENT" })
    contains(msg, "lock " .. p("no", "such", "dir.lock"))
  end)
end)

describe("paths", function()
  it("joins, with an absolute part starting over", function()
    eq(fs.join("a", "b", "c"), "a/b/c")
    eq(fs.join("a/", "b"), "a/b")
    eq(fs.join("a", "/b", "c"), "/b/c")
    eq(fs.join("a", "", "c"), "a/c")
  end)

  it("splits like POSIX basename and dirname", function()
    eq({ fs.basename("/a/b.whl"), fs.dirname("/a/b.whl") }, { "b.whl", "/a" })
    eq({ fs.basename("a/b/"), fs.dirname("a/b/") }, { "b", "a" })
    eq({ fs.basename("f"), fs.dirname("f") }, { "f", "." })
    eq({ fs.basename("/"), fs.dirname("/") }, { "/", "/" })
    eq(fs.dirname("/f"), "/")
  end)

  it("makes paths absolute by text, realpath resolves links", function()
    eq(fs.absolute("/a/./b/../c//d"), "/a/c/d")
    eq(fs.absolute("/.."), "/")
    eq(fs.absolute("x/y"), fs.cwd() .. "/x/y")
    fs.mkdir(p("real"))
    fs.symlink(p("real"), p("link"))
    eq(fs.realpath(p("link")), fs.realpath(p("real")))
    local v, _, code = fs.realpath(p("none"))
    eq({ v, code }, { nil, "ENOENT" })
  end)

  it("renames, and reports a missing source", function()
    fs.write(p("a"), "x")
    eq(fs.rename(p("a"), p("b")), true)
    eq(fs.read(p("b")), "x")
    local v, msg, code = fs.rename(p("a"), p("c"))
    eq({ v, code }, { nil, "ENOENT" })
    contains(msg, p("a"))
  end)
end)

describe("environment", function()
  it("sets, reads and unsets variables", function()
    eq(fs.getenv("RELRUN_FS_SPEC"), nil)
    eq(fs.setenv("RELRUN_FS_SPEC", "v a l"), true)
    eq(fs.getenv("RELRUN_FS_SPEC"), "v a l")
    eq(os.getenv("RELRUN_FS_SPEC"), "v a l")
    fs.setenv("RELRUN_FS_SPEC", nil)
    eq(fs.getenv("RELRUN_FS_SPEC"), nil)
    raises(function() fs.setenv("A=B", "x") end, "without '='")
  end)
end)

describe("fs.write options", function()
  it("takes {mode=, sync=false}: still atomic, same content, mode applied", function()
    local d <close> = fs.tempdir("fsopt")
    local path = fs.join(d.path, "journal.json")
    assert(fs.write(path, "one", { sync = false, mode = "600" }))
    eq(fs.read(path), "one")
    eq(fs.stat(path).mode & 511, 384)
    assert(fs.write(path, "two", { sync = false }))
    eq(fs.read(path), "two")
    eq(fs.stat(path).mode & 511, 384, "the mode of the file it replaces is kept")
    eq(#fs.list(d.path), 1, "no temp file left")
  end)
end)

-- What a relrun killed with SIGKILL leaves behind (a temporary file
-- mid-write, a temporary folder such as the verify venv) carries its pid
-- and is removed by the next relrun that writes into that folder or makes a
-- temporary folder; what a live process holds is left alone.
describe("leftovers of a killed relrun", function()
  local proc = require "relrun.proc"
  local host = require "relrun.host"

  local dead_pid = require "dead_pid"

  -- Wait (bounded) until fn() is true.
  local function until_true(fn, what)
    for _ = 1, 200 do
      if fn() then return end
      host.sleep(0.05)
    end
    error("never happened: " .. what, 2)
  end

  local function child(script, env)
    local r = assert(proc.run{ argv = { RELRUN, "-e", script }, env = env })
    eq(r.code, 0, r.stderr)
    return r
  end

  it("a file half-written by a killed relrun is removed by the next write in that folder", function()
    local fifo = p("source")
    assert(os.execute("mkfifo " .. sh_quote(fifo)))
    fs.mkdir(p("out"))
    local writer = assert(proc.spawn{ argv = { RELRUN, "-e", string.format(
      "assert(require('relrun.fs').copy(%q, %q))", fifo, p("out", "wheel.whl")) }, stdout = "null", stderr = "null" })
    local feed = assert(io.open(fifo, "wb"))   -- returns once the copy opened its end
    feed:write(string.rep("w", 100000))
    feed:flush()
    local temp_pattern = "^%.wheel%.whl%.relrun%-" .. writer.pid .. "%-%w%w%w%w%w%w$"
    local function temp_file()
      for _, name in ipairs(fs.list(p("out")) or {}) do
        if name:match(temp_pattern) then return name end
      end
    end
    until_true(temp_file, "the copy's temporary file, named with its pid")
    writer:kill("KILL")
    writer:wait()
    writer:close()
    feed:close()
    local left = temp_file()
    ok(left, "kill -9 left the partial file behind")
    -- another process's, alive: this spec's own pid
    local live = ".other.relrun-" .. proc.pid() .. "-abcdef"
    fs.write(p("out", live), "in use")
    local gone_dir = ".venv.relrun-" .. dead_pid() .. "-AbCd12"
    fs.mkdir(p("out", gone_dir, "bin"))
    child(string.format("assert(require('relrun.fs').write(%q, 'next'))", p("out", "index.html")))
    eq(fs.list(p("out")), { live, "index.html" }, "the dead processes' leftovers removed, the live one kept")
  end)

  it("a temporary folder of a killed relrun is removed by the next tempdir", function()
    local tmpdir = p("tmp")
    fs.mkdir(tmpdir)
    local out = p("venv-path")
    local holder = assert(proc.spawn{ argv = { RELRUN, "-e",
      "local t = require('relrun.fs').tempdir('relrun-verify'); io.write(t.path, '\\n'); io.stdout:flush(); " ..
      "require('relrun.host').sleep(120)" }, env = { TMPDIR = tmpdir }, stdout = { file = out }, stderr = "null" })
    until_true(function() return (fs.read(out) or ""):find("\n") end, "the folder made")
    local venv = fs.read(out):gsub("\n$", "")
    ok(fs.basename(venv):match("^relrun%-verify%.relrun%-" .. holder.pid .. "%-%w+$"), venv)
    fs.write(fs.join(venv, "pyvenv.cfg"), "home = /usr/bin\n")
    holder:kill("KILL")
    holder:wait()
    holder:close()
    ok(fs.exists(venv), "kill -9 left the folder behind")
    local r = child("local t = require('relrun.fs').tempdir('x'); print(t.path); t:close()", { TMPDIR = tmpdir })
    eq(fs.exists(venv), false, "removed by the next relrun's tempdir")
    eq(fs.list(tmpdir), {}, "and its own folder closed: " .. r.stdout)
  end)

  it("Ctrl-C mid-copy: the temporary file is removed at once, the copy raises the interruption (exit 130)", function()
    local fifo = p("slow-source")
    assert(os.execute("mkfifo " .. sh_quote(fifo)))
    fs.mkdir(p("ctrl-c"))
    local errfile = p("ctrl-c.err")
    local writer = assert(proc.spawn{ argv = { RELRUN, "-e", string.format(
      "assert(require('relrun.fs').copy(%q, %q))", fifo, p("ctrl-c", "big.whl")) }, stdout = "null",
      stderr = { file = errfile } })
    local feed = assert(io.open(fifo, "wb"))
    feed:write(string.rep("w", 100000))
    feed:flush()
    until_true(function() return #(fs.list(p("ctrl-c")) or {}) > 0 end, "the copy's temporary file")
    writer:kill("INT")          -- the copy waits in read(): the source has more to come
    local r = writer:wait(20)   -- an uninterruptible copy would wait for the rest of the source
    feed:close()
    r = r or writer:wait()
    writer:close()
    eq(r.code, 130, "exit code")
    eq(fs.read(errfile), "relrun: interrupted\n", "one line")
    eq(fs.list(p("ctrl-c")), {}, "no temporary file, no half file")
  end)
end)
