-- Where AWS credentials come from, in botocore's order where it matters:
--   1. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY [+ AWS_SESSION_TOKEN]
--   2. the profile's role_arn (+ source_profile / web_identity_token_file) -> STS AssumeRole*
--   3. AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN -> STS AssumeRoleWithWebIdentity
--   4. GitHub Actions OIDC (ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN) + AWS_ROLE_ARN -> the same
--   5. the profile's credential_process, then its static keys
--   6. container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI / _RELATIVE_URI)
--   7. EC2 instance metadata (IMDSv2)
-- resolve{ env } -> provider | nil, msg, code; provider:get() -> creds
-- { access_key, secret_key, session_token, expiration } | nil, msg, code.
-- Temporary credentials are fetched again 15 minutes before they expire
-- (keeping the old ones if that fails) and must be 10 minutes before.
-- Every key and token is registered as a secret the moment it is read.
local config = require "relrun.aws.config"
local core = require "relrun.aws.core"

local M = {}

M.ADVISORY_REFRESH = 15 * 60
M.MANDATORY_REFRESH = 10 * 60
M.IMDS_ENDPOINT = "http://169.254.169.254"
M.ECS_ENDPOINT = "http://169.254.170.2"

local secret = core.secret

local function http_get(req)
  local http = require "relrun.http"
  req.method = req.method or "GET"
  req.timeout = req.timeout or 5
  req.connect_timeout = req.connect_timeout or 2
  return http.request(req)
end

local function read_file(path, what)
  local f, err = io.open(path, "rb")
  if not f then return nil, string.format("%s: cannot read %s", what, err), "ENOENT" end
  local s = f:read("a")
  f:close()
  return s
end

---------------------------------------------------------------------------
-- providers

local Provider = {}
Provider.__index = Provider

-- A provider around fetch() -> creds | nil, msg, code. Static ones are
-- fetched once; temporary ones (with expiration) again near their end.
local function provider(source, fetch)
  return setmetatable({ source = source, fetch = fetch }, Provider)
end
M.provider = provider

function Provider:get()
  local c, now = self.creds, core.now()
  if c and (not c.expiration or now < c.expiration - M.ADVISORY_REFRESH) then return c end
  if c and now < c.expiration - M.MANDATORY_REFRESH then
    -- advisory window: try for fresh ones, keep these if that fails
    local fresh = self.fetch()
    if fresh then self.creds = fresh end
    return self.creds
  end
  local fresh, msg, code = self.fetch()
  if not fresh then return nil, msg, code end
  if fresh.expiration and fresh.expiration <= now then
    return nil, string.format("credentials from %s expired at %s: get fresh ones", self.source,
      os.date("!%Y-%m-%dT%H:%M:%SZ", fresh.expiration)), "ExpiredToken"
  end
  self.creds = fresh
  return fresh
end

-- Force the next get() to fetch (after the service said the token expired).
function Provider:invalidate()
  self.creds = nil
end

local function static(source, access_key, secret_key, token, expiration)
  local creds = { access_key = secret(access_key), secret_key = secret(secret_key),
                  session_token = secret(token), expiration = expiration }
  return provider(source, function() return creds end)
end

local function pair_error(have, missing, where)
  return nil, string.format("%s is set but %s is not (%s): set both, or neither", have, missing, where), "CREDENTIALS"
end

-- 1. environment keys
local function from_env(getenv)
  local id = config.value(getenv, "AWS_ACCESS_KEY_ID")
  local key = config.value(getenv, "AWS_SECRET_ACCESS_KEY")
  if not id and not key then return nil end
  if not key then return pair_error("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "environment") end
  if not id then return pair_error("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "environment") end
  local exp_text = config.value(getenv, "AWS_CREDENTIAL_EXPIRATION")
  local expiration
  if exp_text then
    expiration = core.parse_iso8601(exp_text)
    if not expiration then
      return nil, string.format("AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 time: %q", exp_text), "CREDENTIALS"
    end
  end
  return static("environment (AWS_ACCESS_KEY_ID)", id, key, config.value(getenv, "AWS_SESSION_TOKEN"), expiration)
end

local function session_name(getenv, fallback)
  return config.value(getenv, "AWS_ROLE_SESSION_NAME") or fallback or
    ("relrun-" .. (config.value(getenv, "GITHUB_RUN_ID") or tostring(os.time())))
end

local function unsigned_sts(env)
  return require("relrun.aws.sts").client{ env = env, unsigned = true }
end

-- AssumeRoleWithWebIdentity around a token source (a file or GitHub's OIDC).
local function web_identity(source, env, role_arn, name, get_token, duration)
  return provider(source, function()
    local token, msg, code = get_token()
    if not token then return nil, msg, code end
    local sts, err, code2 = unsigned_sts(env)
    if not sts then return nil, err, code2 end
    local creds, msg2, code3 = sts:assume_role_with_web_identity{ role_arn = role_arn, session_name = name,
                                                                  token = token, duration = duration }
    if not creds then return nil, msg2 .. " (role " .. role_arn .. ", from " .. source .. ")", code3 end
    return creds
  end)
end

-- The token file, read again on every refresh and sent exactly as it is:
-- Kubernetes and Actions rotate it.
local function token_file(path, what)
  return function()
    local token, msg, code = read_file(path, what .. " " .. path)
    if not token then return nil, msg, code end
    if token == "" then return nil, what .. " " .. path .. " is empty", "CREDENTIALS" end
    return secret(token)
  end
end

-- 3. AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN
local function from_web_identity_env(getenv, env)
  local file = config.value(getenv, "AWS_WEB_IDENTITY_TOKEN_FILE")
  if not file then return nil end
  local role = config.value(getenv, "AWS_ROLE_ARN")
  if not role then return pair_error("AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "environment") end
  return web_identity("web identity token file (AWS_WEB_IDENTITY_TOKEN_FILE)", env, role, session_name(getenv),
    token_file(file, "AWS_WEB_IDENTITY_TOKEN_FILE"))
end

-- GitHub's OIDC token for the STS audience: a fresh one per use (they live ~5 min).
function M.github_oidc_token(getenv)
  getenv = config.getter(getenv)
  local url = config.value(getenv, "ACTIONS_ID_TOKEN_REQUEST_URL")
  local bearer = secret(config.value(getenv, "ACTIONS_ID_TOKEN_REQUEST_TOKEN"))
  if not url or not bearer then
    return nil, "no GitHub OIDC token: the job needs `permissions: id-token: write`", "NO_OIDC"
  end
  local sep = url:find("?", 1, true) and "&" or "?"
  local res, msg, code = http_get{ url = url .. sep .. "audience=sts.amazonaws.com",
                                   headers = { authorization = "Bearer " .. bearer, accept = "application/json" } }
  if not res then return nil, "GitHub OIDC token request failed: " .. msg, code end
  if res.status ~= 200 then
    return nil, string.format("GitHub OIDC token request answered HTTP %d: check the job's " ..
      "`permissions: id-token: write`", res.status), "OIDC_HTTP_" .. res.status
  end
  local doc = require("relrun.json").decode(res.body or "")
  if type(doc) ~= "table" or type(doc.value) ~= "string" or doc.value == "" then
    return nil, "GitHub OIDC token answer has no \"value\"", "MalformedResponse"
  end
  return secret(doc.value)
end

-- 4. GitHub Actions OIDC directly
local function from_github(getenv, env)
  if not (config.value(getenv, "ACTIONS_ID_TOKEN_REQUEST_URL") and
          config.value(getenv, "ACTIONS_ID_TOKEN_REQUEST_TOKEN")) then return nil end
  local role = config.value(getenv, "AWS_ROLE_ARN")
  if not role then return nil end
  return web_identity("GitHub Actions OIDC (ACTIONS_ID_TOKEN_REQUEST_URL)", env, role, session_name(getenv),
    function() return M.github_oidc_token(getenv) end)
end

-- Split a credential_process command line as a POSIX shell would (quotes
-- and backslashes), without running a shell.
function M.shell_split(s)
  local words, cur, i, quote, has = {}, {}, 1, nil, false
  while i <= #s do
    local c = s:sub(i, i)
    if quote == "'" then
      if c == "'" then quote = nil else cur[#cur + 1] = c end
    elseif quote == '"' then
      if c == '"' then quote = nil
      elseif c == "\\" and s:sub(i + 1, i + 1):match('["\\$`]') then i = i + 1; cur[#cur + 1] = s:sub(i, i)
      else cur[#cur + 1] = c end
    elseif c == "'" or c == '"' then quote, has = c, true
    elseif c == "\\" then i = i + 1; cur[#cur + 1] = s:sub(i, i)
    elseif c:match("%s") then
      if #cur > 0 or has then words[#words + 1] = table.concat(cur); cur, has = {}, false end
    else cur[#cur + 1] = c end
    i = i + 1
  end
  if quote then return nil, "unterminated " .. quote .. " quote" end
  if #cur > 0 or has then words[#words + 1] = table.concat(cur) end
  return words
end

local function from_process(command, where)
  return provider("credential_process of " .. where, function()
    local argv, err = M.shell_split(command)
    if not argv or #argv == 0 then
      return nil, string.format("credential_process of %s: %s", where, err or "empty command"), "CREDENTIALS"
    end
    local res, msg, code = require("relrun.proc").run{ argv = argv, stdout = "capture", stderr = "capture",
                                                       timeout = 60 }
    if not res then return nil, string.format("credential_process of %s: %s", where, msg), code end
    if res.code ~= 0 then
      return nil, string.format("credential_process of %s exited with %s: %s", where,
        tostring(res.code or ("signal " .. tostring(res.signal))), (res.stderr or ""):gsub("%s+$", "")), "CREDENTIALS"
    end
    local doc = require("relrun.json").decode(res.stdout or "")
    if type(doc) ~= "table" or doc.Version ~= 1 or not doc.AccessKeyId or not doc.SecretAccessKey then
      return nil, string.format("credential_process of %s printed no Version 1 credentials JSON", where),
        "CREDENTIALS"
    end
    return { access_key = secret(doc.AccessKeyId), secret_key = secret(doc.SecretAccessKey),
             session_token = secret(doc.SessionToken), expiration = core.parse_iso8601(doc.Expiration) }
  end)
end

local profile_provider

-- The credentials that assume a profile's role: its source_profile's, or
-- the environment's (credential_source Environment).
local function role_source(name, p, loaded, env, depth, where)
  if p.source_profile then
    if depth > 5 then return nil, "role chain too deep at " .. where, "CREDENTIALS" end
    local sp = loaded.profiles[p.source_profile]
    if not sp then
      return nil, string.format("source_profile %q of %s does not exist", p.source_profile, where), "CREDENTIALS"
    end
    return profile_provider(p.source_profile, sp, loaded, env, depth + 1, p.source_profile == name)
  end
  if p.credential_source == "Environment" then
    local src, err, code = from_env(config.getter(env))
    if not src then
      return nil, err or ("credential_source Environment of " .. where .. ": no keys in the environment"), code
    end
    return src
  end
  return nil, string.format("%s has role_arn but neither source_profile nor web_identity_token_file", where),
    "CREDENTIALS"
end

-- The profile's role: AssumeRole with the source profile's credentials, or
-- AssumeRoleWithWebIdentity with its token file.
local function from_role(name, p, loaded, env, depth)
  local where = string.format("profile %s in %s", name, loaded.sources[name] or loaded.config_path)
  local sname = p.role_session_name or ("relrun-" .. os.time())
  if p.web_identity_token_file then
    return web_identity("web_identity_token_file of " .. where, env, p.role_arn, sname,
      token_file(p.web_identity_token_file, "web_identity_token_file of " .. where), tonumber(p.duration_seconds))
  end
  local src, err, code = role_source(name, p, loaded, env, depth, where)
  if not src then return nil, err, code end
  return provider("role_arn of " .. where, function()
    local sts, serr, scode = require("relrun.aws.sts").client{ env = env, credentials = src }
    if not sts then return nil, serr, scode end
    local c, msg, code2 = sts:assume_role{ role_arn = p.role_arn, session_name = sname,
      external_id = p.external_id, duration = tonumber(p.duration_seconds) }
    if not c then return nil, msg .. " (role " .. p.role_arn .. " of " .. where .. ")", code2 end
    return c
  end)
end

-- A profile's own credentials: role, process or static keys.
function profile_provider(name, p, loaded, env, depth, static_only)
  local where = string.format("profile %s in %s", name, loaded.sources[name] or loaded.config_path)
  if p.role_arn and not static_only then return from_role(name, p, loaded, env, depth) end
  if p.aws_access_key_id or p.aws_secret_access_key then
    if not p.aws_secret_access_key then return pair_error("aws_access_key_id", "aws_secret_access_key", where) end
    if not p.aws_access_key_id then return pair_error("aws_secret_access_key", "aws_access_key_id", where) end
    return static(where, p.aws_access_key_id, p.aws_secret_access_key, p.aws_session_token)
  end
  if p.credential_process then return from_process(p.credential_process, where) end
  return nil
end

-- The keys of a container or instance metadata answer, registered as
-- secrets; nil when the body is not such a document.
local function metadata_keys(body)
  local doc = require("relrun.json").decode(body or "")
  if type(doc) ~= "table" or not doc.AccessKeyId then return nil end
  return { access_key = secret(doc.AccessKeyId), secret_key = secret(doc.SecretAccessKey),
           session_token = secret(doc.Token), expiration = core.parse_iso8601(doc.Expiration) }
end

-- The container authorization token: the file's (re-read on every fetch)
-- over the variable's. -> token | nil | nil, msg, code
local function container_token(getenv)
  local token = config.value(getenv, "AWS_CONTAINER_AUTHORIZATION_TOKEN")
  local token_path = config.value(getenv, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
  if not token_path then return token end
  local t, msg, code = read_file(token_path, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE " .. token_path)
  if not t then return nil, msg, code end
  return (t:gsub("%s+$", ""))
end

-- 6. container credentials
local function from_container(getenv)
  local rel = config.value(getenv, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
  local full = config.value(getenv, "AWS_CONTAINER_CREDENTIALS_FULL_URI")
  if not rel and not full then return nil end
  local url = rel and (M.ECS_ENDPOINT .. rel) or full
  local var = rel and "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" or "AWS_CONTAINER_CREDENTIALS_FULL_URI"
  return provider("container credentials (" .. var .. ")", function()
    local headers = { accept = "application/json" }
    local token, terr, tcode = container_token(getenv)
    if terr then return nil, terr, tcode end
    if token then headers.authorization = secret(token) end
    local res, msg, code = http_get{ url = url, headers = headers }
    if not res then return nil, "container credentials from " .. url .. " (" .. var .. "): " .. msg, code end
    if res.status ~= 200 then
      return nil, string.format("container credentials from %s (%s) answered HTTP %d", url, var, res.status),
        "CREDENTIALS"
    end
    local keys = metadata_keys(res.body)
    if not keys then
      return nil, "container credentials from " .. url .. " are not credentials JSON", "MalformedResponse"
    end
    return keys
  end)
end

-- IMDSv2's session token and the instance's role, or nil.
local function imds_role(base)
  local res = http_get{ method = "PUT", url = base .. "/latest/api/token", timeout = 1, connect_timeout = 1,
                        headers = { ["x-aws-ec2-metadata-token-ttl-seconds"] = "21600" } }
  if not res or res.status ~= 200 then return nil end
  local h = { ["x-aws-ec2-metadata-token"] = secret(res.body) }
  local roles = http_get{ url = base .. "/latest/meta-data/iam/security-credentials/", headers = h, timeout = 1,
                          connect_timeout = 1 }
  if not roles or roles.status ~= 200 or (roles.body or "") == "" then return nil end
  return h, roles.body:match("^[^\n]+")
end

-- 7. IMDSv2: a session token by PUT, then the role's credentials.
local function from_imds(getenv, tried)
  if (config.value(getenv, "AWS_EC2_METADATA_DISABLED") or ""):lower() == "true" then
    return nil
  end
  local base = (config.value(getenv, "AWS_EC2_METADATA_SERVICE_ENDPOINT") or M.IMDS_ENDPOINT):gsub("/+$", "")
  return provider("EC2 instance metadata (" .. base .. ")", function()
    local h, role = imds_role(base)
    if not h then
      return nil, "no AWS credentials found (looked at " .. table.concat(tried, ", ") ..
        ", and instance metadata at " .. base .. "): set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, " ..
        "AWS_PROFILE, or AWS_ROLE_ARN with an OIDC token", "NoCredentials"
    end
    local cr = http_get{ url = base .. "/latest/meta-data/iam/security-credentials/" .. role, headers = h,
                         timeout = 1, connect_timeout = 1 }
    if not cr or cr.status ~= 200 then
      return nil, "instance metadata has no credentials for role " .. role, "CREDENTIALS"
    end
    local keys = metadata_keys(cr.body)
    if not keys then
      return nil, "instance metadata credentials for role " .. role .. " are not JSON", "MalformedResponse"
    end
    return keys
  end)
end

---------------------------------------------------------------------------

-- The chain for `env`, in botocore's order: environment keys, the
-- profile's role, a web identity token, GitHub's OIDC token, the profile's
-- own keys or process, container credentials, instance metadata.
local function resolve_chain(env)
  local getenv = config.getter(env)
  local tried = { "AWS_ACCESS_KEY_ID" }
  local p, err, code = from_env(getenv)
  if p or err then return p, err, code end

  local prof, loaded, code2 = config.profile(env)
  if not prof then return nil, loaded, code2 end
  local name = config.profile_name(env)
  if prof.role_arn then return from_role(name, prof, loaded, env, 0) end

  tried[#tried + 1] = "AWS_WEB_IDENTITY_TOKEN_FILE"
  p, err, code = from_web_identity_env(getenv, env)
  if p or err then return p, err, code end
  tried[#tried + 1] = "GitHub OIDC"
  p = from_github(getenv, env)
  if p then return p end

  tried[#tried + 1] = "profile " .. name
  p, err, code = profile_provider(name, prof, loaded, env, 0)
  if p or err then return p, err, code end

  tried[#tried + 1] = "container credentials"
  p = from_container(getenv) or from_imds(getenv, tried)
  if p then return p end
  return nil, "no AWS credentials found (looked at " .. table.concat(tried, ", ") .. "): set " ..
    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or AWS_ROLE_ARN with an OIDC token", "NoCredentials"
end

-- resolve{ env } -> provider | nil, msg, code. Settings that are present but
-- wrong (half a key pair, a malformed file, a missing profile) are errors
-- naming where they came from, not a silent fall through to the next source.
--
-- Without `env` (the process environment) the provider is made once and
-- shared, so every client of a run uses the same credentials and an OIDC
-- role is assumed once, not once per client; reset() forgets it.
function M.resolve(opts)
  opts = opts or {}
  if opts.env ~= nil then return resolve_chain(opts.env) end
  if not M.shared then
    local p, err, code = resolve_chain(os.getenv)
    if not p then return nil, err, code end
    M.shared = p
  end
  return M.shared
end

function M.reset()
  M.shared = nil
end

-- static(access_key, secret_key, session_token) -> provider, for callers
-- that already hold keys (tests, a role assumed by hand).
function M.static(access_key, secret_key, session_token, expiration)
  return static("given", access_key, secret_key, session_token, expiration)
end

return M
