-- AWS shared configuration: ~/.aws/config and ~/.aws/credentials (the INI
-- dialect botocore reads), the profile in use, the region and each service's
-- endpoint. Nothing here talks to the network.
--
-- Every function takes an optional `env`: a table of environment variables
-- or a function(name) -> value (default os.getenv), so callers and tests can
-- resolve settings without touching the process environment.
local M = {}

local function getter(env)
  if type(env) == "function" then return env end
  if type(env) == "table" then return function(k) return env[k] end end
  return os.getenv
end
M.getter = getter

local trim = require("relrun.util").trim

-- A set value: nil for unset or empty, as botocore treats "" as unset.
local function value(getenv, name)
  local v = getenv(name)
  if not v or v == "" then return nil end
  return v
end
M.value = value

local function key_value(body)
  local k, v = body:match("^([^=:]-)%s*[=:]%s*(.-)$")
  if not k or k == "" then return nil end
  return k, v
end

-- One non-blank, non-comment line into the parser state `st`; nil, why on a
-- malformed line.
local function parse_line(st, body, indented)
  if not indented and body:match("^%[") then
    local name = body:match("^%[%s*(.-)%s*%]$")
    if not name or name == "" then return nil, string.format("malformed section header %q", body) end
    st.current = st.sections[name] or {}
    st.sections[name], st.nested, st.last = st.current, nil, nil
  elseif not st.current then
    return nil, string.format("%q comes before any [section] header", body)
  elseif indented and st.nested then
    local k, v = key_value(body)
    if not k then return nil, string.format("expected 'key = value' under %q, got %q", st.nested, body) end
    st.current[st.nested][k] = v
  elseif indented and st.last then
    st.current[st.last] = st.current[st.last] .. "\n" .. body
  else
    local k, v = key_value(body)
    if not k then return nil, string.format("expected 'key = value', got %q", body) end
    if v == "" then
      st.current[k], st.nested, st.last = {}, k, nil
    else
      st.current[k], st.nested, st.last = v, nil, k
    end
  end
  return true
end

-- parse(text, source) -> { section = { key = value | { nested } } } | nil, msg.
-- The dialect of botocore's configloader: [section] headers, key = value
-- (or key: value), # and ; comment lines, and a key with an empty value
-- followed by indented key = value lines is a nested table (the `s3 =`
-- and `[services x]` form). An indented line after a plain value continues it.
function M.parse(text, source)
  local st, n = { sections = {} }, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    line = line:gsub("\r$", "")
    local body = trim(line)
    if body ~= "" and not body:match("^[#;]") then
      local good, why = parse_line(st, body, line:match("^[ \t]") ~= nil)
      if not good then return nil, string.format("%s line %d: %s", source, n, why) end
    end
  end
  return st.sections
end

local function home(getenv)
  return value(getenv, "HOME") or "/root"
end

local function expand(path, getenv)
  if path:sub(1, 2) == "~/" then return home(getenv) .. path:sub(2) end
  return path
end

-- The two files' paths, honouring AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE.
function M.paths(env)
  local getenv = getter(env)
  return expand(value(getenv, "AWS_CONFIG_FILE") or "~/.aws/config", getenv),
         expand(value(getenv, "AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials", getenv)
end

local function load_file(path)
  local f = io.open(path, "rb")
  if not f then return {} end        -- a missing file is an empty one, as in botocore
  local text = f:read("a")
  f:close()
  return M.parse(text, path)
end

-- load(env) -> { profiles = { name = {...} }, sections = { "services x" = ... },
-- config_path, credentials_path } | nil, msg, "CONFIG". Keys from the
-- credentials file win over the config file's for the same profile.
function M.load(env)
  local config_path, credentials_path = M.paths(env)
  local cfg, err = load_file(config_path)
  if not cfg then return nil, err, "CONFIG" end
  local creds, err2 = load_file(credentials_path)
  if not creds then return nil, err2, "CONFIG" end
  local profiles, sections = {}, {}
  for name, sec in pairs(cfg) do
    local p = name:match("^profile%s+(.+)$")
    if p then
      profiles[p] = sec
    elseif name == "default" then
      profiles.default = profiles.default or sec
    else
      sections[name] = sec
    end
  end
  local sources = {}
  for name in pairs(profiles) do sources[name] = config_path end
  for name, sec in pairs(creds) do
    local p = profiles[name] or {}
    for k, v in pairs(sec) do p[k] = v end
    profiles[name] = p
    sources[name] = sources[name] and (sources[name] .. " and " .. credentials_path) or credentials_path
  end
  return { profiles = profiles, sections = sections, sources = sources,
           config_path = config_path, credentials_path = credentials_path }
end

-- The profile name in use: AWS_PROFILE, then AWS_DEFAULT_PROFILE, then "default".
function M.profile_name(env)
  local getenv = getter(env)
  return value(getenv, "AWS_PROFILE") or value(getenv, "AWS_DEFAULT_PROFILE") or "default"
end

-- profile(env [, name]) -> settings table (empty when the default profile is
-- absent), loaded | nil, msg, code. A named profile that does not exist is an
-- error ("PROFILE_NOT_FOUND"), as in botocore.
function M.profile(env, name)
  local loaded, err, code = M.load(env)
  if not loaded then return nil, err, code end
  local explicit = name or value(getter(env), "AWS_PROFILE") or value(getter(env), "AWS_DEFAULT_PROFILE")
  name = name or M.profile_name(env)
  local p = loaded.profiles[name]
  if not p then
    if explicit and name ~= "default" then
      return nil, string.format("profile %q (from %s) is not in %s or %s; list them with `aws configure list-profiles`",
        name, name == value(getter(env), "AWS_PROFILE") and "AWS_PROFILE" or "the configuration",
        loaded.config_path, loaded.credentials_path), "PROFILE_NOT_FOUND"
    end
    p = {}
  end
  return p, loaded
end

-- region(env) -> region, source | nil, msg, "NO_REGION".
function M.region(env)
  local getenv = getter(env)
  for _, name in ipairs{ "AWS_REGION", "AWS_DEFAULT_REGION" } do
    local v = value(getenv, name)
    if v then return v, name end
  end
  local p, loaded, code = M.profile(env)
  if not p then return nil, loaded, code end
  if type(p.region) == "string" and p.region ~= "" then
    return p.region, string.format("profile %s in %s", M.profile_name(env), loaded.config_path)
  end
  return nil, "no AWS region: set AWS_REGION (for example AWS_REGION=us-east-1) or `region` in the profile", "NO_REGION"
end

-- check_url(url, source) -> url | nil, msg: an endpoint must be http(s)://host[:port][/path].
function M.check_url(url, source)
  local scheme, host, port = url:match("^(https?)://([%w%.%-]+)(:?%d*)[/]?")
  if not scheme then
    scheme, host, port = url:match("^(https?)://(%[[%x:]+%])(:?%d*)")
  end
  if not scheme or not host or host == "" or url:find("[%s]") then
    return nil, string.format("%s is not a URL: %q (expected http(s)://host[:port], for example " ..
      "https://codeartifact.us-east-1.amazonaws.com)", source, url)
  end
  if port ~= "" and (tonumber(port:sub(2)) or 0) > 65535 then
    return nil, string.format("%s has a bad port: %q", source, url)
  end
  return (url:gsub("/+$", ""))
end

-- The AWS_ENDPOINT_URL_<SERVICE> name of a service id ("codeartifact" -> CODEARTIFACT).
function M.endpoint_variable(service)
  return "AWS_ENDPOINT_URL_" .. service:upper():gsub("[%s%-]", "_")
end

-- The profile's endpoints for `service`, as { url, source }: its services
-- section's, then its endpoint_url.
local function profile_endpoints(service, env)
  local out = {}
  local p, loaded = M.profile(env)
  if not p then return out end
  local where = "profile " .. M.profile_name(env) .. " in " .. loaded.config_path
  local services = p.services and loaded.sections["services " .. p.services]
  local svc = services and services[service:lower()]
  if type(svc) == "table" and svc.endpoint_url then
    out[#out + 1] = { svc.endpoint_url, "endpoint_url of " .. service .. " in [services " ..
      p.services .. "] (" .. where .. ")" }
  end
  if type(p.endpoint_url) == "string" then out[#out + 1] = { p.endpoint_url, "endpoint_url of " .. where } end
  return out
end

-- Every configured endpoint for `service`, first wins: { url | nil, source }.
local function configured_endpoints(service, env)
  local getenv = getter(env)
  if (value(getenv, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") or ""):lower() == "true" then return {} end
  local var = M.endpoint_variable(service)
  local candidates = { { value(getenv, var), var }, { value(getenv, "AWS_ENDPOINT_URL"), "AWS_ENDPOINT_URL" } }
  for _, c in ipairs(profile_endpoints(service, env)) do candidates[#candidates + 1] = c end
  return candidates
end

-- endpoint(service, region, env, opts) -> url, source | nil, msg, "BAD_ENDPOINT".
-- Order (botocore configprovider): AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL,
-- the profile's services section for the service, the profile's endpoint_url,
-- then the default https://<service>.<region>.amazonaws.com (or opts.global).
function M.endpoint(service, region, env, opts)
  opts = opts or {}
  for _, c in ipairs(configured_endpoints(service, env)) do
    if c[1] then
      local url, err = M.check_url(c[1], c[2])
      if not url then return nil, err, "BAD_ENDPOINT" end
      return url, c[2]
    end
  end
  if opts.global then return opts.global, "default" end
  return string.format("https://%s.%s.amazonaws.com", opts.prefix or service, region), "default"
end

return M
