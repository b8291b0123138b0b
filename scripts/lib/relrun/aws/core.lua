-- One way to call AWS: build the URL, sign (relrun.sigv4), send
-- (relrun.http), turn an error answer into { code, message, status,
-- request_id }, retry as the SDKs' standard mode does (relrun.aws.retry) and
-- correct the clock once when the service says it is off.
--
--   local core = require "relrun.aws.core"
--   local c = core.client{ service = "codeartifact", protocol = "rest-json" }
--   local res, msg, code, err = c:request{ method = "POST", path = "/v1/authorization-token",
--                                          query = { domain = "d" }, operation = "GetAuthorizationToken" }
--
-- Failures return nil, err, code, err: err is a relrun.errors value (code,
-- message, hint) with the answer's status, request_id, operation and
-- service; tostring(err) is one line for a person. (The repeated err keeps
-- the older `nil, message, code, err` call sites working: it reads as text.)
local retry = require "relrun.aws.retry"
local config = require "relrun.aws.config"

local M = {}

M.DEFAULT_TIMEOUT = 60
M.CONNECT_TIMEOUT = 10
M.EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

-- Seconds to add to the local clock, learnt from a server's Date header
-- after a clock-skew error; shared by every client, as the clock is.
M.clock_offset = 0

---------------------------------------------------------------------------
-- time

-- Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local function epoch(y, mo, d, h, mi, s)
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
end

-- "2026-11-24T07:00:00Z", "2026-11-24T07:00:00.123+00:00" -> epoch seconds | nil.
function M.parse_iso8601(s)
  if type(s) == "number" then return s end
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, sec, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[T ](%d%d):(%d%d):(%d%d)(.*)$")
  if not y then return nil end
  local t = epoch(tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(sec))
  rest = rest:gsub("^%.%d+", "")
  if rest == "Z" or rest == "" then return t end
  local sign, oh, om = rest:match("^([%+%-])(%d%d):?(%d%d)$")
  if not sign then return nil end
  local off = tonumber(oh) * 3600 + tonumber(om) * 60
  return sign == "+" and t - off or t + off
end

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9,
                 Oct = 10, Nov = 11, Dec = 12 }

-- An HTTP Date header ("Tue, 24 Nov 2026 06:04:37 GMT") -> epoch seconds | nil.
function M.parse_http_date(s)
  if type(s) ~= "string" then return nil end
  local d, mon, y, h, mi, sec = s:match("(%d%d?) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d)")
  if not d or not MONTHS[mon] then return nil end
  return epoch(tonumber(y), MONTHS[mon], tonumber(d), tonumber(h), tonumber(mi), tonumber(sec))
end

function M.now()
  return os.time() + M.clock_offset
end

-- sleep(seconds), interrupted by Ctrl-C.
function M.sleep(s)
  if s > 0 then require("relrun.host").sleep(s) end
end

-- secret(v) -> v: registered with relrun.log the moment it exists, so it is
-- masked in every output, in its URL-encoded and base64 forms too, and
-- under GitHub Actions the runner is told to mask it (::add-mask::).
function M.secret(v)
  if type(v) == "string" and v ~= "" then require("relrun.log").secret(v) end
  return v
end

---------------------------------------------------------------------------
-- encoding

-- RFC 3986 percent-encoding of everything but the unreserved characters,
-- which is what SigV4 expects on the wire.
function M.url_encode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- query string from a map (sorted by name, so URLs are reproducible) or a
-- list of { name, value } pairs (kept in order).
function M.query_string(q)
  if not q then return "" end
  local parts = {}
  if #q > 0 then
    for _, kv in ipairs(q) do parts[#parts + 1] = M.url_encode(kv[1]) .. "=" .. M.url_encode(kv[2]) end
  else
    local names = {}
    for k, v in pairs(q) do if v ~= nil then names[#names + 1] = k end end
    table.sort(names)
    for _, k in ipairs(names) do parts[#parts + 1] = M.url_encode(k) .. "=" .. M.url_encode(q[k]) end
  end
  return table.concat(parts, "&")
end

-- Flatten a query-protocol parameter table: { RoleArn = "x", Tags = { {Key="a", Value="b"} } }
-- -> { {"RoleArn","x"}, {"Tags.member.1.Key","a"}, ... }, sorted by name.
function M.flatten(params, prefix, out)
  out = out or {}
  for k, v in pairs(params) do
    local name = prefix and (prefix .. "." .. k) or k
    if type(v) == "table" and #v > 0 then
      for i, item in ipairs(v) do
        if type(item) == "table" then M.flatten(item, name .. ".member." .. i, out)
        else out[#out + 1] = { name .. ".member." .. i, tostring(item) } end
      end
    elseif type(v) == "table" then
      M.flatten(v, name, out)
    elseif type(v) == "boolean" then
      out[#out + 1] = { name, v and "true" or "false" }
    else
      out[#out + 1] = { name, tostring(v) }
    end
  end
  if not prefix then table.sort(out, function(a, b) return a[1] < b[1] end) end
  return out
end

---------------------------------------------------------------------------
-- XML answers

-- find(el, "A/B") -> the first element on that path below el.
function M.xml_find(el, path)
  for name in path:gmatch("[^/]+") do
    local found
    for _, c in ipairs(el and el.children or {}) do
      if type(c) == "table" and c.name == name then found = c break end
    end
    el = found
    if not el then return nil end
  end
  return el
end

-- text(el, "A/B") -> the text of that element, nil when there is none;
-- without a path, el's own text.
function M.xml_text(el, path)
  local e = el
  if path then e = M.xml_find(el, path) end
  return e and e.text
end

-- All children of el named `name`.
function M.xml_all(el, name)
  local out = {}
  for _, c in ipairs(el and el.children or {}) do
    if type(c) == "table" and c.name == name then out[#out + 1] = c end
  end
  return out
end

function M.xml_decode(body)
  return require("relrun.xml").decode(body)
end

---------------------------------------------------------------------------
-- errors

local errors = require "relrun.errors"

-- "sts AssumeRoleWithWebIdentity failed: Code: message (HTTP 403, request id X)"
local function describe_error(e)
  local what = e.operation and (e.service .. " " .. e.operation) or e.service
  local line = string.format("%s failed: %s%s", what, e.code or ("HTTP " .. tostring(e.status)),
    e.aws_message and e.aws_message ~= "" and (": " .. e.aws_message) or "")
  if e.status then line = line .. string.format(" (HTTP %d", e.status) ..
    (e.request_id and (", request id " .. e.request_id) or "") .. ")" end
  return line
end

-- A short explanation of the common refusals: the next thing to try.
local EXPIRED = "the session token has expired: get fresh credentials (re-run the OIDC step or `aws sso login`)"
local HINTS = {
  SignatureDoesNotMatch = "the secret access key does not match the access key id: check " ..
    "AWS_SECRET_ACCESS_KEY or the profile's aws_secret_access_key",
  InvalidSignatureException = "the request signature was refused: check the secret access key and the clock",
  ExpiredToken = EXPIRED,
  ExpiredTokenException = EXPIRED,
  InvalidClientTokenId = "the access key id is not known to AWS: check AWS_ACCESS_KEY_ID or the profile",
  UnrecognizedClientException = "the access key id or session token is not known to AWS: check the credentials",
  AccessDenied = "the identity lacks a permission: check the role's policies",
  AccessDeniedException = "the identity lacks a permission: check the role's policies",
  PermanentRedirect = "the bucket is in another region: set AWS_REGION to the bucket's region",
  NoSuchBucket = "create it first (relrun setup) or check S3_WHEELS_BUCKET",
}

-- new_error{ code, message (AWS's words), status, request_id, service,
-- operation, hint, ... } -> a relrun.errors value.
function M.new_error(fields)
  fields.aws_message, fields.message = fields.message, nil
  fields.hint = fields.hint or HINTS[fields.code]
  local code = fields.code or (fields.status and ("HTTP" .. fields.status)) or "AWS"
  local e = errors.new(code, describe_error(fields), fields)
  e.code = fields.code   -- nil stays nil: callers test codes AWS gave
  e.line = tostring(e)
  return e
end

local STATUS_CODES = { [301] = "PermanentRedirect", [400] = "BadRequest", [401] = "Unauthorized", [403] = "Forbidden",
                       [404] = "NotFound", [409] = "Conflict", [412] = "PreconditionFailed",
                       [429] = "TooManyRequests", [500] = "InternalError", [503] = "ServiceUnavailable" }

local function json_error(res)
  local code = res.headers["x-amzn-errortype"]
  local message
  local okj, json = pcall(require, "relrun.json")
  local doc = okj and res.body and res.body ~= "" and json.decode(res.body) or nil
  if type(doc) == "table" then
    code = code or doc.__type or doc.code or doc.Code
    message = doc.message or doc.Message or doc.errorMessage
  end
  -- "ThrottlingException:http://internal..." and "com.amazon.coral#ThrottlingException"
  if code then code = code:gsub(":.*$", ""):gsub("^.*#", "") end
  return code, message
end

local function xml_error(res)
  if not res.body or res.body == "" then return nil end
  local okx, root = pcall(M.xml_decode, res.body)
  if not okx or type(root) ~= "table" then return nil end
  -- S3: <Error>; query services: <ErrorResponse><Error>; EC2 style: <Response><Errors><Error>
  local err = root.name == "Error" and root or M.xml_find(root, "Error") or M.xml_find(root, "Errors/Error")
  if not err then return nil end
  return M.xml_text(err, "Code"), M.xml_text(err, "Message"),
    M.xml_text(root, "RequestId") or M.xml_text(err, "RequestId")
end

-- parse_error(res, protocol, service, operation) -> err table.
function M.parse_error(res, protocol, service, operation)
  local code, message, rid
  if protocol == "rest-json" or protocol == "json" then
    code, message = json_error(res)
  else
    code, message, rid = xml_error(res)
  end
  local h = res.headers or {}
  if rid == "" then rid = nil end
  rid = rid or h["x-amzn-requestid"] or h["x-amz-request-id"]
  local region = h["x-amz-bucket-region"]
  if res.status == 301 and region then
    return M.new_error{ code = code or "PermanentRedirect", message = message, status = 301, request_id = rid,
      service = service, operation = operation,
      hint = "the bucket is in " .. region .. ": set AWS_REGION=" .. region }
  end
  return M.new_error{ code = code or STATUS_CODES[res.status] or ("HTTP" .. res.status), message = message,
                      status = res.status, request_id = rid, service = service, operation = operation }
end

local function fail(e)
  return nil, e, e.code, e
end

---------------------------------------------------------------------------
-- the client

local Client = {}
Client.__index = Client

-- client{ service, protocol = "rest-json" | "query" | "rest-xml",
--         signing_name = service, region, endpoint, credentials = provider,
--         global_endpoint = url (IAM), signing_region = region override,
--         unsigned = bool, env, transport, transport_many, sign, sleep, policy }
-- -> client | nil, msg, code. Region and endpoint come from the
-- environment and profile when not given.
-- service_client(opts, fixed) -> core client | nil, msg, code: what every
-- service module's client() does — a copy of the caller's options with the
-- service's own settings (`fixed`) on top, credentials from the default
-- chain when none are given (and the calls are signed).
function M.service_client(opts, fixed)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  for k, v in pairs(fixed) do o[k] = v end
  if o.credentials == nil and not o.unsigned then
    local creds, err, code = require("relrun.aws.credentials").resolve{ env = o.env }
    if not creds then return nil, err, code end
    o.credentials = creds
  end
  return M.client(o)
end

-- The client's region and where it came from: the argument, else the
-- environment or profile; a global service (IAM, STS) may go without one
-- (its signing region), not past a broken config file.
local function client_region(opts)
  if opts.region then return opts.region, "argument" end
  local region, source, code = config.region(opts.env)
  if region then return region, source end
  if opts.signing_region and code == "NO_REGION" then return opts.signing_region, "default" end
  return nil, source, code
end

-- The client's endpoint and where it came from: the argument (checked),
-- else the environment's, the profile's or the service's default.
local function client_endpoint(opts, region)
  if opts.endpoint then
    local endpoint, err = config.check_url(opts.endpoint, "endpoint")
    if not endpoint then return nil, err, "BAD_ENDPOINT" end
    return endpoint, "argument"
  end
  return config.endpoint(opts.service, region, opts.env,
    { global = opts.global_endpoint, prefix = opts.endpoint_prefix })
end

function M.client(opts)
  local region, source, code = client_region(opts)
  if not region then return nil, source, code end
  local endpoint, where, ecode = client_endpoint(opts, region)
  if not endpoint then return nil, where, ecode end
  return setmetatable({
    service = opts.service, protocol = opts.protocol or "rest-json",
    signing_name = opts.signing_name or opts.service,
    region = region, region_source = source,
    signing_region = opts.signing_region or region,
    endpoint = endpoint, endpoint_source = where,
    credentials = opts.credentials, unsigned = opts.unsigned, env = opts.env,
    transport = opts.transport, transport_many = opts.transport_many,
    signer = opts.sign, sleeper = opts.sleep or M.sleep,
    policy = opts.policy or retry.new(), timeout = opts.timeout,
  }, Client)
end

function Client:send_http(req)
  local transport = self.transport or require("relrun.http").request
  return transport(req)
end

-- Several prepared requests at once (relrun.http.request_many): the
-- results in order, a failed one as { error = msg, code = code }.
function Client:send_many(reqs, opts)
  local many = self.transport_many or require("relrun.http").request_many
  return many(reqs, opts)
end

function Client:sign_request(req, creds, payload_hash)
  local sign = self.signer or require("relrun.sigv4").sign
  local add = sign{
    method = req.method, url = req.url, headers = req.headers,
    body = (not payload_hash and type(req.body) == "string") and req.body or nil,
    payload_hash = payload_hash or (req.body == nil and M.EMPTY_SHA256 or nil),
    service = self.signing_name, region = self.signing_region,
    access_key = creds.access_key, secret_key = creds.secret_key, session_token = creds.session_token,
    time = M.now(),
  }
  for k, v in pairs(add) do req.headers[k] = v end
end

-- The exchange once: sign with current credentials and send.
-- The request as relrun.http takes it, signed with the current credentials.
function Client:signed(r, base)
  local req = { method = base.method, url = base.url, body = base.body, timeout = base.timeout,
                connect_timeout = base.connect_timeout, output = base.output, on_progress = base.on_progress,
                headers = {} }
  for k, v in pairs(base.headers) do req.headers[k] = v end
  if not (r.unsigned or self.unsigned) then
    if not self.credentials then
      return nil, M.new_error{ code = "NoCredentials", service = self.service, operation = r.operation,
        message = "no AWS credentials found",
        hint = "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or AWS_ROLE_ARN with an OIDC token" }
    end
    local creds, msg, code = self.credentials:get()
    if not creds then
      return nil, M.new_error{ code = code or "CredentialsError", message = msg, service = self.service,
                               operation = r.operation, fatal = true }
    end
    self:sign_request(req, creds, r.payload_hash)
  end
  return req
end

-- The exchange once: sign and send.
function Client:attempt(r, base)
  local req, err = self:signed(r, base)
  if not req then return nil, err end
  local res, msg, code = self:send_http(req)
  if not res then
    return nil, M.new_error{ code = code or "TransportError", transport = code or "TransportError",
      message = msg, service = self.service, operation = r.operation,
      hint = "could not reach " .. self.endpoint .. " (from " .. self.endpoint_source .. ")" }
  end
  return res
end

-- The server's clock, when an answer says ours is off.
local function skew_from(res, err)
  if not res or not err then return nil end
  local skewed = retry.CLOCK_SKEW[err.code]
  local msg = err.aws_message or ""
  if not skewed and (err.code == "InvalidSignatureException" or err.code == "SignatureDoesNotMatch"
                     or err.code == "AuthFailure") then
    skewed = msg:find("Signature expired", 1, true) or msg:find("not yet current", 1, true)
  end
  if not skewed then return nil end
  local server = M.parse_http_date(res.headers and res.headers.date)
  if not server then return nil end
  local offset = server - os.time()
  if math.abs(offset - M.clock_offset) < 60 then return nil end
  return offset
end

-- request{ method, path, query, headers, body = string | { file = path }, endpoint (overrides the client's),
--          payload_hash, operation, unsigned, timeout, output, expect = { [status] = true } }
-- -> res | nil, message, code, err. 2xx answers (or those in expect) succeed.
function Client:base(r)
  local qs = M.query_string(r.query)
  return {
    method = r.method or "GET",
    url = (r.endpoint or self.endpoint) .. (r.path or "/") .. (qs ~= "" and ("?" .. qs) or ""),
    headers = r.headers or {}, body = r.body, output = r.output, on_progress = r.on_progress,
    timeout = r.timeout or self.timeout or M.DEFAULT_TIMEOUT, connect_timeout = M.CONNECT_TIMEOUT,
  }
end

-- prepare(r) -> the signed request for relrun.http (for request_many) |
-- nil, message, code, err. Send it within 15 minutes; retry a failure with
-- request(r).
function Client:prepare(r)
  local req, err = self:signed(r, self:base(r))
  if not req then return fail(err) end
  return req
end

-- judge_answer(r, res) -> res | nil, message, code, err: what request()
-- would make of an answer obtained elsewhere (request_many).
function Client:judge_answer(r, res)
  local good, err = self:judge(r, res)
  if good then return good end
  return fail(err)
end

function Client:request(r)
  local base = self:base(r)
  local ctx, attempt, reskewed = self.policy.begin and self.policy:begin() or {}, 0, false
  while true do
    attempt = attempt + 1
    local res, err = self:attempt(r, base)
    local good
    good, err = self:judge(r, res, err)
    if good then
      self.policy:success(ctx)
      return good
    end
    if err.fatal then return fail(err) end
    local offset = not reskewed and skew_from(res, err)
    if offset then
      -- One re-sign with the corrected clock; it does not count as a retry.
      M.clock_offset, reskewed, attempt = offset, true, attempt - 1
    else
      local delay = self:retry_delay(ctx, attempt, err, res)
      if not delay then return fail(err) end
      self.sleeper(delay)
    end
  end
end

-- One exchange judged: the answer when it is what the caller wants, else
-- the error (a 2xx answer the caller cannot read is "MalformedResponse").
function Client:judge(r, res, err)
  if not res then return nil, err end
  local wanted = (res.status >= 200 and res.status < 300) or (r.expect and r.expect[res.status])
  if not wanted then return nil, M.parse_error(res, self.protocol, self.service, r.operation) end
  local bad = r.validate and r.validate(res)
  if not bad then return res end
  return nil, M.new_error{ code = "MalformedResponse", message = bad, status = res.status,
                           service = self.service, operation = r.operation }
end

-- Seconds to wait before the next attempt, or nil (err.line then says why
-- retrying stopped, when it had started). An unreadable answer counts as a
-- transient server failure, as a proxy's error page usually is.
function Client:retry_delay(ctx, attempt, err, res)
  local outcome = { transport = err.transport, status = err.status, code = err.code, service = self.service }
  if err.code == "MalformedResponse" then outcome = { status = 503 } end
  local delay, why = self.policy:decide(ctx, attempt, outcome, res and res.headers)
  if not delay and attempt > 1 then
    err.message = err.message .. string.format(" [%s]", why)
    err.line = tostring(err)
  end
  return delay
end

-- An answer's JSON document on res.doc, or what is wrong with it.
function M.json_validator(res)
  if res.body == nil or res.body == "" then return nil end
  local doc = require("relrun.json").decode(res.body)
  if type(doc) ~= "table" then
    return string.format("the answer is not JSON (%d bytes starting %q)", #res.body, res.body:sub(1, 40))
  end
  res.doc = doc
end

-- Convenience for rest-json: send `doc` (a table, encoded) and decode the answer.
function Client:json(r)
  local json = require "relrun.json"
  if r.doc ~= nil then
    r.body = json.encode(r.doc)
    r.headers = r.headers or {}
    r.headers["content-type"] = "application/x-amz-json-1.1"
  end
  r.validate = M.json_validator
  local res, msg, code, err = self:request(r)
  if not res then return nil, msg, code, err end
  return res.doc or {}, res
end

-- json_many(list, {parallel}) -> the decoded answers in order | nil, msg,
-- code, err: several rest-json calls (each as for json) at once over one pool
-- of transfers (relrun.http.request_many), each signed just before it
-- starts; one that fails there goes again through request(), which retries
-- it as any call, so the answers are what json() would give.
function Client:json_many(list, opts)
  local stop
  local function make(i)
    local r = list[i]
    if not r or stop then return nil end
    if r.doc ~= nil and not r.body then
      r.body = require("relrun.json").encode(r.doc)
      r.headers = r.headers or {}
      r.headers["content-type"] = "application/x-amz-json-1.1"
    end
    r.validate = M.json_validator
    local req, msg, code, err = self:prepare(r)
    if not req then stop = { msg, code, err } end
    return req
  end
  local out = {}
  local function after(i, res)
    local good = not res.error and self:judge_answer(list[i], res)
    if good then out[i] = good.doc or {} end
  end
  self:send_many(make, { parallel = opts and opts.parallel or 8, after = after })
  if stop then return nil, stop[1], stop[2], stop[3] end
  for i, r in ipairs(list) do
    if not out[i] then
      local res, msg, code, err = self:request(r)
      if not res then return nil, msg, code, err end
      out[i] = res.doc or {}
    end
  end
  return out
end

-- Convenience for the query protocol: Action + Version + params, XML answer.
function Client:query(action, version, params, opts)
  opts = opts or {}
  local pairs_ = M.flatten(params or {})
  table.insert(pairs_, 1, { "Version", version })
  table.insert(pairs_, 1, { "Action", action })
  -- A form body, encoded as botocore encodes it (urlencode: space as "+"),
  -- so servers that re-encode the parsed form to check the hash agree.
  local body = M.query_string(pairs_):gsub("%%20", "+")
  local res, msg, code, err = self:request{
    method = "POST", path = "/", body = body, operation = action, unsigned = opts.unsigned,
    headers = { ["content-type"] = "application/x-www-form-urlencoded; charset=utf-8" },
    validate = function(r)
      local okx, root = pcall(M.xml_decode, r.body or "")
      if not okx or type(root) ~= "table" then
        return "the answer is not XML (" .. #(r.body or "") .. " bytes)"
      end
      r.root = root
    end,
  }
  if not res then return nil, msg, code, err end
  return M.xml_find(res.root, action .. "Result") or res.root, res
end

return M
