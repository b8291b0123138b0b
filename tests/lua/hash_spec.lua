-- relrun.hash: streaming against one-shot, hash.file and hash.parts
-- against Python's hashlib over the same files, the handle rules, hex and
-- base64.
local hash = require("relrun.hash")

local ALGS = { "md5", "sha1", "sha256", "sha512", "blake2b_256" }

-- Deterministic pseudo-random bytes (an LCG), so a failure can be replayed.
local function bytes(n, seed)
  local out, x = {}, seed or 1
  for i = 1, n do
    x = (x * 1103515245 + 12345) % 2147483648
    out[i] = string.char(x >> 16 & 255)
  end
  return table.concat(out)
end

local function write(path, ...)
  local f = assert(io.open(path, "wb"))
  for i = 1, select("#", ...) do assert(f:write((select(i, ...)))) end
  assert(f:close())
end

-- The digests Python's hashlib computes for a file (blake2b with
-- digest_size=32, as twine sends it).
local function python_digests(path)
  local script = [[
import hashlib, sys
data = open(sys.argv[1], "rb").read()
for name in ("md5", "sha1", "sha256", "sha512"):
    print(name, hashlib.new(name, data).hexdigest())
print("blake2b_256", hashlib.blake2b(data, digest_size=32).hexdigest())
print("size", len(data))
]]
  local p = assert(io.popen("/usr/bin/python3 -c '" .. script .. "' '" .. path .. "'"))
  local out = {}
  for line in p:lines() do
    local k, v = line:match("^(%S+) (%S+)$")
    out[k] = k == "size" and math.tointeger(tonumber(v)) or v
  end
  assert(p:close(), "python3 failed")
  return out
end

local tmp = {}
local function tmpfile()
  local path = os.tmpname()
  tmp[#tmp + 1] = path
  return path
end
after_each(function()
  for _, p in ipairs(tmp) do os.remove(p) end
  tmp = {}
end)

describe("one-shot digests", function()
  it("hex functions agree with digest() and hex_encode", function()
    local s = bytes(1000, 7)
    for _, alg in ipairs(ALGS) do
      eq(hash[alg](s), hash.hex_encode(hash.digest(alg, s)), alg)
    end
  end)

  it("match Python's hashlib", function()
    local path = tmpfile()
    local s = bytes(3000, 11)
    write(path, s)
    local want = python_digests(path)
    for _, alg in ipairs(ALGS) do eq(hash[alg](s), want[alg], alg) end
  end)

  it("hmac_sha256_hex is the hex of hmac_sha256", function()
    eq(hash.hmac_sha256_hex("key", "data"), hash.hex_encode(hash.hmac_sha256("key", "data")))
    eq(#hash.hmac_sha256("key", "data"), 32)
  end)

  it("raise on an unknown algorithm or a non-string", function()
    raises(function() hash.digest("sha3", "x") end, "invalid option 'sha3'")
    raises(function() hash.sha256({}) end, "string expected")
  end)
end)

describe("hasher", function()
  it("streaming in uneven pieces equals one-shot, for every algorithm", function()
    local s = bytes(5000, 3)
    for _, alg in ipairs(ALGS) do
      local h = hash.new(alg)
      local i, step = 1, 1
      while i <= #s do
        eq(h:update(s:sub(i, i + step - 1)), h, "update returns the hasher")
        i, step = i + step, step * 2 + 1
      end
      eq(h:digest(), hash[alg](s), alg)
      local r = hash.new(alg):update(s)
      eq(r:raw(), hash.digest(alg, s), alg .. " raw")
    end
  end)

  it("a finalised hasher raises on any further use", function()
    local h = hash.new("sha256"):update("abc")
    h:digest()
    raises(function() h:digest() end, "attempt to use a finalised relrun.hash.hasher")
    raises(function() h:update("x") end, "finalised")
    raises(function() h:raw() end, "finalised")
  end)

  it("a closed hasher raises, and close is idempotent", function()
    local h = hash.new("md5")
    h:close()
    h:close()
    raises(function() h:update("x") end, "attempt to use a closed relrun.hash.hasher")
    contains(tostring(h), "closed")
  end)

  it("closes at the end of a <close> scope", function()
    local kept
    do
      local h <close> = hash.new("blake2b_256")
      kept = h
      h:update("x")
    end
    raises(function() kept:digest() end, "closed")
  end)

  it("survives aggressive garbage collection", function()
    collectgarbage("setpause", 10)
    for i = 1, 200 do hash.new(ALGS[i % #ALGS + 1]):update("x") end
    collectgarbage("collect")
    collectgarbage("setpause", 200)
    eq(hash.new("md5"):update("a"):digest(), hash.md5("a"))
  end)
end)

describe("file", function()
  it("matches hashlib for a multi-MB file, every digest from one call", function()
    local path = tmpfile()
    local block = bytes(65536, 5)
    local parts = {}
    -- 6 MiB + 12345 bytes: several read chunks, the threaded path, a short tail.
    for i = 1, 96 do parts[i] = string.pack(">I4", i) .. block:sub(5) end
    parts[#parts + 1] = bytes(12345, 9)
    write(path, table.unpack(parts))
    local got = assert(hash.file(path, ALGS))
    eq(got, python_digests(path))
  end)

  it("matches hashlib for small and empty files (the single-thread path)", function()
    for _, n in ipairs({ 0, 1, 128, 1048576 + 1 }) do
      local path = tmpfile()
      write(path, bytes(n, n + 1))
      local got = assert(hash.file(path, { "sha256", "md5", "blake2b_256" }))
      local want = python_digests(path)
      eq(got, { sha256 = want.sha256, md5 = want.md5, blake2b_256 = want.blake2b_256, size = n }, n .. " bytes")
    end
  end)

  it("returns only what was asked, once per algorithm", function()
    local path = tmpfile()
    write(path, "abc")
    eq(hash.file(path, { "sha256", "sha256" }), { sha256 = hash.sha256("abc"), size = 3 })
  end)

  it("a missing file is nil, message, ENOENT", function()
    local v, msg, code = hash.file("/nonexistent/relrun-hash-test", { "sha256" })
    eq(v, nil)
    contains(msg, "/nonexistent/relrun-hash-test")
    contains(msg, "No such file")
    eq(code, "ENOENT")
  end)

  it("a directory is nil, message, EISDIR", function()
    local v, _, code = hash.file("/tmp", { "md5" })
    eq(v, nil)
    eq(code, "EISDIR")
  end)

  it("raises on a bad algorithm list", function()
    raises(function() hash.file("/tmp/x", { "crc32" }) end, "invalid option 'crc32'")
    raises(function() hash.file("/tmp/x", {}) end, "at least one algorithm")
    raises(function() hash.file("/tmp/x") end, "table expected")
  end)
end)

describe("parts", function()
  -- The digests Python computes for each part_size slice of a file and for
  -- the whole file.
  local function python_parts(path, ps, alg)
    local script = [[
import hashlib, sys
data, ps = open(sys.argv[1], "rb").read(), int(sys.argv[2])
for off in range(0, max(len(data), 1), ps):
    print(hashlib.new(sys.argv[3], data[off:off + ps]).hexdigest())
print(hashlib.new(sys.argv[3], data).hexdigest())
]]
    local p = assert(io.popen("/usr/bin/python3 -c '" .. script .. "' '" .. path .. "' " .. ps .. " " .. alg))
    local out = {}
    for line in p:lines() do out[#out + 1] = line end
    assert(p:close(), "python3 failed")
    return out, table.remove(out)
  end

  it("hashes every part and the whole file like hashlib, for short, exact and empty tails", function()
    for _, case in ipairs({ { 5 * 1048576 + 777, 1048576 }, { 3 * 65536, 65536 }, { 10, 3 }, { 0, 8 } }) do
      local size, ps = case[1], case[2]
      local path = tmpfile()
      write(path, bytes(size, size + 3))
      local job <close> = assert(hash.parts(path, ps, { whole = true }))
      local want, whole = python_parts(path, ps, "sha256")
      eq(job:count(), #want, size .. " bytes in parts of " .. ps)
      local got = {}
      for i = 1, job:count() do got[i] = job:part(i) end
      eq(got, want, size .. " bytes")
      eq(job:whole(), whole)
    end
  end)

  it("takes another algorithm, and parts in any order", function()
    local path = tmpfile()
    write(path, bytes(300000, 11))
    local job <close> = assert(hash.parts(path, 100000, { alg = "md5" }))
    local want = python_parts(path, 100000, "md5")
    eq({ job:part(3), job:part(1), job:part(2) }, { want[3], want[1], want[2] })
    raises(function() job:whole() end, "whole = true")
  end)

  it("a missing file or a directory is nil, message, code", function()
    local v, msg, code = hash.parts("/nonexistent/relrun-parts", 10)
    eq({ v, code }, { nil, "ENOENT" })
    contains(msg, "/nonexistent/relrun-parts")
    v, msg, code = hash.parts("/tmp", 10)
    eq({ v, code }, { nil, "EISDIR" })
    contains(msg, "/tmp")
  end)

  it("a file that gives fewer bytes than its size is ECHANGED, naming it", function()
    -- sysfs files claim 4096 bytes and hold a line: a file cut short while read.
    local path = "/sys/kernel/mm/transparent_hugepage/enabled"
    local probe = io.open(path, "rb")
    if not probe then skip("no " .. path .. " here") end
    probe:close()
    local job <close> = assert(hash.parts(path, 1024, { whole = true }))
    local v, msg, code = job:part(job:count())
    eq({ v, code }, { nil, "ECHANGED" })
    eq(msg, path .. " changed size while being read")
    eq(select(3, job:whole()), "ECHANGED")
  end)

  it("raises on misuse; close stops the thread and may be called twice", function()
    local path = tmpfile()
    write(path, bytes(4 * 1048576, 2))
    raises(function() hash.parts(path, 0) end, "part size must be positive")
    raises(function() hash.parts(path, 10, { alg = "crc" }) end, "invalid option 'crc'")
    local job = assert(hash.parts(path, 4096))
    raises(function() job:part(0) end, "no such part")
    raises(function() job:part(1025) end, "no such part")
    job:close()   -- most likely while the thread is still reading
    job:close()
    contains(tostring(job), "(closed)")
    raises(function() job:part(1) end, "closed relrun.hash.parts")
    for _ = 1, 20 do hash.parts(path, 65536) end   -- dropped unclosed: __gc stops them
    collectgarbage()
    collectgarbage()
  end)
end)

describe("hex and base64", function()
  local all = {}
  for i = 0, 255 do all[#all + 1] = string.char(i) end
  all = table.concat(all)

  it("hex round-trips every byte value, upper or lower case", function()
    local h = hash.hex_encode(all)
    eq(#h, 512)
    eq(h:sub(1, 8), "00010203")
    eq(hash.hex_decode(h), all)
    eq(hash.hex_decode(h:upper()), all)
    eq(hash.hex_decode(""), "")
  end)

  it("hex_decode of bad input is nil, message", function()
    local v, msg = hash.hex_decode("abc")
    eq(v, nil)
    contains(msg, "odd length")
    v, msg = hash.hex_decode("zz00")
    eq(v, nil)
    contains(msg, "not a hex digit at byte 1")
  end)

  it("base64 matches the RFC 4648 section 10 vectors", function()
    local vectors = { [""] = "", f = "Zg==", fo = "Zm8=", foo = "Zm9v", foob = "Zm9vYg==",
                      fooba = "Zm9vYmE=", foobar = "Zm9vYmFy" }
    for plain, coded in pairs(vectors) do
      eq(hash.base64_encode(plain), coded, plain)
      eq(hash.base64_decode(coded), plain, coded)
    end
  end)

  it("base64 round-trips every byte value at every length mod 3", function()
    for cut = 0, 2 do
      local s = all:sub(1, 256 - cut)
      eq(hash.base64_decode(hash.base64_encode(s)), s)
    end
    eq(hash.base64_encode("\255\255\254"), "///+")
  end)

  it("base64_decode of bad input is nil, message", function()
    for _, bad in ipairs({ "Zg=", "Zm9v!A==", "Z===", "=Zm9", "Zm=v", "Zm9v\n" }) do
      local v, msg = hash.base64_decode(bad)
      eq(v, nil, bad)
      ok(type(msg) == "string" and msg:find("base64_decode"), "a message for " .. bad)
    end
  end)
end)
