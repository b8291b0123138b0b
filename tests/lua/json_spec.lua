-- relrun.json: lua-cjson plus nil,msg decode, integers, `[]` and big integers.
local json = require("relrun.json")

-- What Python's json module makes of a JSON text, printed back canonically
-- (sorted keys, no spaces): an independent reader of what we write.
local function python_canonical(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  local p = assert(io.popen("/usr/bin/python3 -c 'import json,sys; "
    .. "print(json.dumps(json.load(open(sys.argv[1])), sort_keys=True, separators=(\",\", \":\")))' " .. path))
  local out = p:read("l")
  p:close()
  os.remove(path)
  return out
end

describe("encode", function()
  it("writes what Python reads back as the same value", function()
    local v = { name = "stock-pipeline", versions = { "1.0.0", "1.1.0" }, size = 123,
                ratio = 0.5, ok = true, none = json.null, nested = { a = { b = { "c" } } } }
    eq(python_canonical(json.encode(v)),
      '{"name":"stock-pipeline","nested":{"a":{"b":["c"]}},"none":null,"ok":true,'
      .. '"ratio":0.5,"size":123,"versions":["1.0.0","1.1.0"]}')
  end)

  it("writes empty_array and empty marked tables as [], plain empty tables as {}", function()
    eq(json.encode(json.empty_array), "[]")
    eq(json.encode(json.array({})), "[]")
    eq(python_canonical(json.encode({ a = {}, b = json.empty_array, c = { json.array({}) } })),
      '{"a":{},"b":[],"c":[[]]}')
  end)

  it("array(t) returns t, keeps its elements, and does not copy", function()
    local t = { 1, 2 }
    eq(json.array(t), t)
    eq(json.encode(t), "[1,2]")
    eq(json.array(t), t, "marking twice is fine")
    raises(function() json.array(setmetatable({}, {})) end, "already has a metatable")
    raises(function() json.array("x") end, "table expected")
  end)

  it("does not change the caller's tables when it rewrites", function()
    local inner = json.array({})
    local v = { list = inner, n = 2 ^ 60 // 1 }
    json.encode(v)
    eq(v.list, inner)
    eq(getmetatable(inner) ~= nil, true)
    eq(next(inner), nil)
  end)

  it("writes integers beyond 14 digits exactly", function()
    eq(json.encode(123456789012345), "123456789012345")
    eq(json.encode({ math.maxinteger, math.mininteger, 2 ^ 53 }),
      "[9223372036854775807,-9223372036854775808,9007199254740992]")
    eq(python_canonical(json.encode({ big = 1234567890123456789 })), '{"big":1234567890123456789}')
  end)

  it("leaves strings that look like its placeholders alone", function()
    local s = 'relrun.json.swap:00 "[]" /'
    eq(json.decode(json.encode({ s, json.empty_array }))[1], s)
  end)

  it("empty_array is read-only", function()
    raises(function() json.empty_array[1] = 1 end, "read%-only")
  end)

  it("raises on values JSON cannot hold", function()
    raises(function() json.encode({ f = print }) end, "Cannot serialise function")
    raises(function() json.encode(0 / 0) end, "Cannot serialise")
    local loop = {}
    loop.self = loop
    raises(function() json.encode(loop) end, "excessive nesting")
  end)
end)

describe("decode", function()
  it("reads what Python writes", function()
    local p = assert(io.popen("/usr/bin/python3 -c 'import json; "
      .. "print(json.dumps({\"a\": [1, 2.5, None, True], \"s\": \"caf\\u00e9 \\u2713\", \"e\": {}}))'"))
    local text = p:read("a")
    p:close()
    local v = assert(json.decode(text))
    eq(v.a[1], 1)
    eq(v.a[2], 2.5)
    eq(v.a[3], json.null)
    eq(v.a[4], true)
    eq(v.s, "café ✓")
    eq(v.e, {})
  end)

  it("gives whole numbers as integers and fractions as floats", function()
    local v = json.decode('{"size": 1234, "list": [3, -7], "f": 1.5, "deep": [[[42]]]}')
    eq(math.type(v.size), "integer")
    eq(tostring(v.size), "1234")
    eq(math.type(v.list[2]), "integer")
    eq(math.type(v.f), "float")
    eq(math.type(v.deep[1][1][1]), "integer")
    eq(math.type(json.decode("7")), "integer")
  end)

  it("bad input is nil, message", function()
    for _, bad in ipairs({ "{bad", "", "[1,]", '{"a":1', "nul" }) do
      local v, msg = json.decode(bad)
      eq(v, nil, bad)
      contains(msg, "invalid JSON", bad)
    end
  end)

  it("raises on a non-string argument", function()
    raises(function() json.decode({}) end, "string expected")
  end)

  it("round-trips through encode", function()
    local v = { a = { 1, 2, 3 }, b = { c = "d" }, e = false }
    eq(json.decode(json.encode(v)), v)
  end)
end)
