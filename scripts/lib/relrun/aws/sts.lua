-- AWS STS (query protocol, 2011-06-15): who am I, and role assumption.
--
--   local sts = require "relrun.aws.sts"
--   local c = assert(sts.client())                -- region, endpoint, credentials from the environment
--   local me = assert(c:get_caller_identity())    -- { account, arn, user_id }
local core = require "relrun.aws.core"

local M = {}
local VERSION = "2011-06-15"

local Client = {}
Client.__index = Client

-- client{ region, endpoint, credentials, env, ... } -> client | nil, msg, code.
-- Without credentials the default chain is used (relrun.aws.credentials).
function M.client(opts)
  opts = opts or {}
  -- STS answers in every region; with none configured use the global one.
  local c, err, code = core.service_client(opts, { service = "sts", protocol = "query",
    global_endpoint = opts.global_endpoint, signing_region = opts.signing_region or "us-east-1" })
  if not c then return nil, err, code end
  return setmetatable({ core = c }, Client)
end

local secret = core.secret

-- The Credentials element of an AssumeRole* answer, secrets registered
-- before anything else sees them.
local function credentials(result)
  local c = core.xml_find(result, "Credentials")
  if not c then return nil end
  local out = {
    access_key = secret(core.xml_text(c, "AccessKeyId")),
    secret_key = secret(core.xml_text(c, "SecretAccessKey")),
    session_token = secret(core.xml_text(c, "SessionToken")),
    expiration = core.parse_iso8601(core.xml_text(c, "Expiration")),
  }
  if not out.access_key or not out.secret_key then return nil end
  return out
end

local function bad_answer(action)
  return nil, "sts " .. action .. " answered without credentials", "MalformedResponse"
end

function Client:get_caller_identity()
  local r, msg, code, err = self.core:query("GetCallerIdentity", VERSION, {})
  if not r then return nil, msg, code, err end
  return { account = core.xml_text(r, "Account"), arn = core.xml_text(r, "Arn"), user_id = core.xml_text(r, "UserId") }
end

-- assume_role{ role_arn, session_name, duration, external_id, policy } -> creds
-- { access_key, secret_key, session_token, expiration (epoch) , assumed_arn }.
function Client:assume_role(a)
  local r, msg, code, err = self.core:query("AssumeRole", VERSION, {
    RoleArn = a.role_arn, RoleSessionName = a.session_name, DurationSeconds = a.duration,
    ExternalId = a.external_id, Policy = a.policy,
  })
  if not r then return nil, msg, code, err end
  local c = credentials(r)
  if not c then return bad_answer("AssumeRole") end
  c.assumed_arn = core.xml_text(r, "AssumedRoleUser/Arn")
  return c
end

-- The claims of a JWT (its middle part), for explaining a refusal; nil when
-- the token is not a JWT. The claims are not secret; the token is.
function M.jwt_claims(token)
  local payload = type(token) == "string" and token:match("^[^.]+%.([^.]+)%.")
  if not payload then return nil end
  local b64 = payload:gsub("-", "+"):gsub("_", "/")
  b64 = b64 .. string.rep("=", (4 - #b64 % 4) % 4)
  local raw = require("relrun.hash").base64_decode(b64)
  local claims = raw and require("relrun.json").decode(raw)
  return type(claims) == "table" and claims or nil
end

local function trust_hint(role_arn, token)
  local claims = M.jwt_claims(token) or {}
  local aud = type(claims.aud) == "table" and table.concat(claims.aud, ",") or claims.aud
  return string.format("the trust policy of %s did not accept this token (sub %q, aud %q): its conditions must " ..
    "match both (a GitHub environment makes sub repo:ORG/REPO:environment:NAME); run relrun doctor",
    tostring(role_arn), tostring(claims.sub or "?"), tostring(aud or "?"))
end

-- assume_role_with_web_identity{ role_arn, session_name, token, duration } -> creds
-- (+ subject, audience, provider). Sent unsigned, as the token is the proof.
function Client:assume_role_with_web_identity(a)
  secret(a.token)
  local r, msg, code, err = self.core:query("AssumeRoleWithWebIdentity", VERSION, {
    RoleArn = a.role_arn, RoleSessionName = a.session_name, WebIdentityToken = a.token,
    DurationSeconds = a.duration,
  }, { unsigned = true })
  if not r then
    if err and (code == "AccessDenied" or code == "InvalidIdentityToken") then
      err.hint = trust_hint(a.role_arn, a.token)
      err.line = err.line .. "; " .. err.hint
      msg = err.line
    end
    return nil, msg, code, err
  end
  local c = credentials(r)
  if not c then return bad_answer("AssumeRoleWithWebIdentity") end
  c.assumed_arn = core.xml_text(r, "AssumedRoleUser/Arn")
  c.subject = core.xml_text(r, "SubjectFromWebIdentityToken")
  c.audience = core.xml_text(r, "Audience")
  c.provider = core.xml_text(r, "Provider")
  return c
end

return M
