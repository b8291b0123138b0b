-- The AWS SigV4 test vectors (tests/conformance/sigv4, see its SOURCE.md):
-- every case of the classic suite and of aws-signing-test-suite/v4 (header
-- and query signing) must give the canonical request, string to sign and
-- signature byte for byte.
local sigv4 = require "relrun.sigv4"

local ROOT = (os.getenv("RELRUN_SOURCE_DIR") or ".") .. "/tests/conformance/sigv4"
do
  local f = io.open(ROOT .. "/SOURCE.md")
  if not f then error("sigv4 conformance vectors not found in " .. ROOT, 0) end
  f:close()
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

local function subdirs(dir)
  local out = {}
  local p = assert(io.popen("find '" .. dir .. "' -mindepth 1 -maxdepth 1 -type d | sort"))
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  return out
end

local function basename(p) return p:match("([^/]+)$") end
local function chomp(s) return (s:gsub("\n+$", "")) end

-- A raw request: "METHOD target HTTP/1.1", header lines (a line starting with
-- white space continues the previous value), a blank line, the body.
local function parse_request(text)
  local lines, body = {}, nil
  local head, rest = text:match("^(.-)\n\n(.*)$")
  if head then body = rest else head = text end
  for line in (head .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = line end
  local method, target = lines[1]:match("^(%S+) (.-) HTTP/1%.1$")
  local headers, host = {}, nil
  for i = 2, #lines do
    local l = lines[i]
    if l:match("^%s") then
      headers[#headers][2] = headers[#headers][2] .. "\n" .. l
    elseif l ~= "" then
      local name, value = l:match("^([^:]+):(.*)$")
      headers[#headers + 1] = { name, value }
      if name:lower() == "host" then host = value end
    end
  end
  return { method = method, target = target, headers = headers, host = host,
           body = body ~= "" and body or nil }
end

-- Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
local function epoch(stamp)
  local y, m, d, H, M, S = stamp:match("^(%d%d%d%d)-?(%d%d)-?(%d%d)T(%d%d):?(%d%d):?(%d%d)Z$")
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(H) * 3600 + tonumber(M) * 60 + tonumber(S)
end

-- The few fields of context.json the cases use (no JSON module needed).
local function parse_context(text)
  local function str(k) return text:match('"' .. k .. '"%s*:%s*"([^"]*)"') end
  local function bool(k) return text:match('"' .. k .. '"%s*:%s*(%a+)') == "true" end
  return {
    access_key = str("access_key_id"), secret_key = str("secret_access_key"),
    token = str("token"), region = str("region"), service = str("service"),
    time = epoch(str("timestamp")), normalize = bool("normalize"),
    sign_body = bool("sign_body"), omit_token = bool("omit_session_token"),
    expires = tonumber(text:match('"expiration_in_seconds"%s*:%s*(%d+)')),
  }
end

local function encode_path(p)
  return (p:gsub("[^%w%-%._~/]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- Options for relrun.sigv4 from a parsed request and its context.
-- The vectors' request line is the path *before* a client's own encoding.
-- Double-encoding signers (every service but S3, like botocore's SigV4Auth)
-- encode the path they are given, so it is passed as is. The unnormalized
-- cases are S3's rules (no normalisation, no second encoding): the path is
-- signed as it goes on the wire, i.e. encoded once.
local function options(req, ctx)
  local target = ctx.normalize and req.target or encode_path(req.target:match("^[^?]*"))
    .. (req.target:match("%?.*$") or "")
  return {
    method = req.method, url = "https://" .. req.host .. target,
    headers = req.headers, body = req.body or "",
    service = ctx.service, region = ctx.region,
    access_key = ctx.access_key, secret_key = ctx.secret_key,
    session_token = ctx.token, sign_session_token = not ctx.omit_token,
    time = ctx.time,
    normalize_path = ctx.normalize, double_encode = ctx.normalize,
    content_sha256 = ctx.sign_body,
  }
end

local function with(t, extra)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  for k, v in pairs(extra) do out[k] = v end
  return out
end

local function signature_of(authz) return authz:match("Signature=(%x+)") end

local NEW = ROOT .. "/aws-signing-test-suite/v4"
local new_cases = subdirs(NEW)

describe("aws-signing-test-suite/v4", function()
  it("has its cases", function()
    ok(#new_cases >= 38, "expected at least 38 cases in " .. NEW .. ", found " .. #new_cases)
  end)
  for _, dir in ipairs(new_cases) do
    local name = basename(dir)
    it(name .. " (header)", function()
      local ctx = parse_context(read(dir .. "/context.json"))
      local opts = options(parse_request(read(dir .. "/request.txt")), ctx)
      eq(sigv4.canonical_request(opts), chomp(read(dir .. "/header-canonical-request.txt")), "canonical request")
      eq(sigv4.string_to_sign(opts), chomp(read(dir .. "/header-string-to-sign.txt")), "string to sign")
      local add = sigv4.sign(opts)
      eq(signature_of(add.authorization), chomp(read(dir .. "/header-signature.txt")), "signature")
      local want = read(dir .. "/header-signed-request.txt"):match("\nAuthorization:([^\n]*)")
      eq(add.authorization, want, "authorization")
      eq(add["x-amz-date"], "20150830T123600Z", "x-amz-date")
      eq(add["x-amz-security-token"], ctx.token, "x-amz-security-token")
    end)
    it(name .. " (query)", function()
      local ctx = parse_context(read(dir .. "/context.json"))
      local opts = with(options(parse_request(read(dir .. "/request.txt")), ctx),
        { expires = ctx.expires, content_sha256 = false })
      eq(sigv4.canonical_request(opts), chomp(read(dir .. "/query-canonical-request.txt")), "canonical request")
      eq(sigv4.string_to_sign(opts), chomp(read(dir .. "/query-string-to-sign.txt")), "string to sign")
      local url = sigv4.presign(opts)
      eq(url:match("[?&]X%-Amz%-Signature=(%x+)$"), chomp(read(dir .. "/query-signature.txt")), "signature")
      -- the URL carries every parameter of the expected signed request
      local want = read(dir .. "/query-signed-request.txt"):match("^%S+ [^?]*%?(%S+)")
      -- (the vectors' request lines keep UTF-8 raw; on the wire it is encoded)
      want = want:gsub("[\128-\255]", function(c) return string.format("%%%02X", c:byte()) end)
      for param in want:gmatch("[^&]+") do contains(url, param, "presigned url") end
    end)
  end
end)

-- The classic suite has no context files: the credentials are the suite's
-- example keys; a session token comes from the same-named new case.
local OLD = ROOT .. "/aws-sig-v4-test-suite"
local old_cases = {}
for _, dir in ipairs(subdirs(OLD)) do
  if exists(dir .. "/" .. basename(dir) .. ".req") then
    old_cases[#old_cases + 1] = dir
  else
    for _, sub in ipairs(subdirs(dir)) do old_cases[#old_cases + 1] = sub end
  end
end

local function old_context(name)
  local ctx = parse_context(read(NEW .. "/get-vanilla/context.json"))
  if exists(NEW .. "/" .. name .. "/context.json") then
    local c = parse_context(read(NEW .. "/" .. name .. "/context.json"))
    ctx.token, ctx.omit_token = c.token, c.omit_token
  end
  return ctx
end

-- SOURCE.md: in these two, aws-c-auth edited .req/.creq (added Content-Length;
-- in the second also "charset=utf8" became "charset=utf-8") but left
-- .sts/.authz as upstream signed the original request. The .creq is checked
-- against the edited request, .sts/.authz against the original one.
local EDITED = {
  ["post-x-www-form-urlencoded"] = function(h) return h end,
  ["post-x-www-form-urlencoded-parameters"] = function(h)
    if h[1]:lower() == "content-type" then return { h[1], (h[2]:gsub("charset=utf%-8", "charset=utf8")) } end
    return h
  end,
}

describe("aws-sig-v4-test-suite (classic)", function()
  it("has its cases", function()
    ok(#old_cases >= 33, "expected 33 cases in " .. OLD .. ", found " .. #old_cases)
  end)
  for _, dir in ipairs(old_cases) do
    local name = basename(dir)
    it(name, function()
      local base = dir .. "/" .. name
      local req = parse_request(read(base .. ".req"))
      local opts = options(req, old_context(name))
      eq(sigv4.canonical_request(opts), read(base .. ".creq"), "canonical request")
      if EDITED[name] then
        local kept = {}
        for _, h in ipairs(req.headers) do
          if h[1]:lower() ~= "content-length" then kept[#kept + 1] = EDITED[name](h) end
        end
        opts.headers = kept
        ok(not sigv4.canonical_request(opts):find("content-length"), "content-length removed")
      end
      eq(sigv4.string_to_sign(opts), read(base .. ".sts"), "string to sign")
      if EDITED[name] then -- (the second's .authz lists the edited SignedHeaders)
        eq(signature_of(sigv4.sign(opts).authorization), signature_of(read(base .. ".authz")), "signature")
      else
        eq(sigv4.sign(opts).authorization, read(base .. ".authz"), "authorization")
      end
    end)
  end
end)
