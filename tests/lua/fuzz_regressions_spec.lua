-- What the fuzzers (tests/fuzz) found, as plain specs: the corpus replays
-- the inputs, these say what the right answer is (and cover the json case,
-- whose input depends on a token that is random per state).
local json = require "relrun.json"
local sigv4 = require "relrun.sigv4"
local xml = require "relrun.xml"

describe("json.encode", function()
  it("refuses a string holding its internal placeholder instead of writing wrong JSON", function()
    -- the token is json.encode's 5th upvalue: '"relrun.json.swap:<32 hex>'
    local _, token = debug.getupvalue(json.encode, 5)
    local body = token:sub(2)
    ok(body:find("^relrun%.json%.swap:%x+$"), body)
    raises(function() json.encode({ n = 2 ^ 60 // 1, s = body }) end, "internal placeholder")
    raises(function() json.encode({ json.array({}), { [body] = 1 } }) end, "internal placeholder")
    -- with nothing to rewrite cjson writes it like any string
    eq(json.decode(json.encode({ s = body })).s, body)
  end)
end)

describe("sigv4", function()
  local request = { method = "GET", url = "https://example.amazonaws.com/", service = "service",
                    region = "us-east-1", access_key = "AKIDEXAMPLE",
                    secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" }

  it("signs up to the last second of year 9999 and raises past it", function()
    request.time = 253402300799
    eq(sigv4.sign(request)["x-amz-date"], "99991231T235959Z")
    request.time = 253402300800
    raises(function() sigv4.sign(request) end, "time 253402300800 is out of range")
    request.time = -1
    raises(function() sigv4.canonical_request(request) end, "out of range")
  end)
end)

describe("xml.decode", function()
  it("keeps a name whole when nothing follows its last colon", function()
    eq(assert(xml.decode("<:/>")).name, ":")
    eq(assert(xml.decode("<a:><b:c/></a:>")).name, "a:")
    eq(assert(xml.decode("<a:><b:c/></a:>")).children[1].name, "c")
  end)
end)
