-- relrun.policy: RELEASE.md's IAM documents as data, and an evaluator good
-- enough to say which statement or condition allows or refuses a request.
--
--   local docs = policy.documents{ account = "111122223333", region = "us-east-1", domain = "acme",
--                                  repository = "pypi-store", package = "stock-pipeline",
--                                  bucket = "wheels-bucket", github_repository = "acme/stock-pipeline" }
--   local r = policy.evaluate(docs.trust, { action = "sts:AssumeRoleWithWebIdentity",
--       principal = { Federated = docs.oidc_provider_arn },
--       context = { ["token.actions.githubusercontent.com:sub"] = "repo:acme/stock-pipeline:ref:refs/tags/v1.2.3",
--                   ["token.actions.githubusercontent.com:aud"] = "sts.amazonaws.com" } })
--   r.decision  -- "allow" | "explicit_deny" | "implicit_deny";  r.why -- one line
--
-- Deviation from RELEASE.md, on purpose: its trust policy matches the tag
-- pattern `v*` with StringEquals, which IAM compares literally, so no tag
-- would ever match. relrun writes that condition with StringLike.
local M = {}

M.OIDC_HOST = "token.actions.githubusercontent.com"

local function list(v)
  if v == nil then return {} end
  if type(v) == "table" and v[1] ~= nil then return v end
  if type(v) == "table" and next(v) == nil then return {} end
  return { v }
end

-- IAM wildcard match: `*` any run, `?` one character; everything else literal.
function M.wildcard_match(pattern, value, ignore_case)
  if ignore_case then pattern, value = pattern:lower(), value:lower() end
  local lua_pattern = "^" .. pattern:gsub("[%^%$%(%)%%%.%[%]%+%-]", "%%%0"):gsub("%*", ".*"):gsub("%?", ".") .. "$"
  return value:find(lua_pattern) ~= nil
end

-- The ARNs the documents name: the CodeArtifact domain, repository and
-- package, and the S3 wheels prefix when there is a bucket.
local function arns_of(cfg, partition)
  local function ca(kind, rest)
    return string.format("arn:%s:codeartifact:%s:%s:%s/%s", partition, cfg.region, cfg.account, kind, rest)
  end
  local repository = cfg.domain .. "/" .. cfg.repository
  return {
    domain = ca("domain", cfg.domain),
    repository = ca("repository", repository),
    package = ca("package", repository .. "/pypi/" .. (cfg.package or "stock-pipeline")),
    wheels = cfg.bucket and string.format("arn:%s:s3:::%s/wheels/", partition, cfg.bucket) or nil,
  }
end

-- The role's trust policy: GitHub's OIDC provider, for release tags only.
local function trust_policy(cfg, provider)
  return {
    Version = "2012-10-17",
    Statement = { {
      Effect = "Allow",
      Principal = { Federated = provider },
      Action = "sts:AssumeRoleWithWebIdentity",
      Condition = {
        StringEquals = { [M.OIDC_HOST .. ":aud"] = "sts.amazonaws.com" },
        StringLike = { [M.OIDC_HOST .. ":sub"] = string.format("repo:%s:ref:refs/tags/%s",
          cfg.github_repository, cfg.tag_pattern or "v*") },
      },
    } },
  }
end

-- The role's permissions: publish to the one package, bearer tokens for
-- CodeArtifact only, and the wheels prefix of the bucket when there is one.
local function permission_statements(cfg, arns)
  local statements = {
    {
      Effect = "Allow",
      Action = { "codeartifact:GetAuthorizationToken", "codeartifact:GetRepositoryEndpoint",
                 "codeartifact:ReadFromRepository", "codeartifact:PublishPackageVersion" },
      Resource = { arns.domain, arns.repository, arns.package },
    },
    {
      Effect = "Allow",
      Action = "sts:GetServiceBearerToken",
      Resource = "*",
      Condition = { StringEquals = { ["sts:AWSServiceName"] = "codeartifact.amazonaws.com" } },
    },
  }
  if cfg.bucket and cfg.bucket ~= "" then
    statements[#statements + 1] = {
      Effect = "Allow",
      Action = { "s3:PutObject", "s3:PutObjectAcl" },
      Resource = arns.wheels .. "*",
    }
  end
  return statements
end

-- The documents of RELEASE.md's "Prerequisites", placeholders filled.
function M.documents(cfg)
  local partition = cfg.partition or "aws"
  local provider = string.format("arn:%s:iam::%s:oidc-provider/%s", partition, cfg.account, M.OIDC_HOST)
  local arns = arns_of(cfg, partition)
  return {
    oidc_provider_arn = provider,
    trust = trust_policy(cfg, provider),
    permissions = { Version = "2012-10-17", Statement = permission_statements(cfg, arns) },
    arns = arns,
  }
end

-- What RELEASE.md's release needs, as requests to evaluate against the
-- permissions policy: { action, resource, context, why }.
function M.required_requests(docs, cfg)
  local a = docs.arns
  local out = {
    { action = "codeartifact:GetAuthorizationToken", resource = a.domain, why = "get a token to publish" },
    { action = "codeartifact:GetRepositoryEndpoint", resource = a.repository, why = "find the PyPI endpoint" },
    { action = "codeartifact:ReadFromRepository", resource = a.repository, why = "read the index before uploading" },
    { action = "codeartifact:PublishPackageVersion", resource = a.package, why = "upload the wheel and the sdist" },
    { action = "sts:GetServiceBearerToken", resource = "*",
      context = { ["sts:AWSServiceName"] = "codeartifact.amazonaws.com" },
      why = "CodeArtifact tokens are STS bearer tokens" },
  }
  if cfg and cfg.bucket and cfg.bucket ~= "" then
    out[#out + 1] = { action = "s3:PutObject", resource = a.wheels .. "stock_pipeline-x-py3-none-any.whl",
                      why = "copy the wheels to s3://" .. cfg.bucket .. "/wheels/" }
  end
  return out
end

-- Conditions ---------------------------------------------------------------

local function str_equals(p, v) return p == v end
local function str_equals_ic(p, v) return p:lower() == v:lower() end
local function str_like(p, v) return M.wildcard_match(p, v) end

local OPERATORS = {
  StringEquals = { test = str_equals },
  StringNotEquals = { test = str_equals, negate = true },
  StringEqualsIgnoreCase = { test = str_equals_ic },
  StringNotEqualsIgnoreCase = { test = str_equals_ic, negate = true },
  StringLike = { test = str_like },
  StringNotLike = { test = str_like, negate = true },
  ArnEquals = { test = str_equals },
  ArnLike = { test = str_like },
  ArnNotLike = { test = str_like, negate = true },
  Bool = { test = function(p, v) return tostring(p):lower() == tostring(v):lower() end },
}

local function show(v)
  if type(v) == "table" then
    local parts = {}
    for _, x in ipairs(v) do parts[#parts + 1] = string.format("%q", tostring(x)) end
    return "[" .. table.concat(parts, ", ") .. "]"
  end
  return string.format("%q", tostring(v))
end

-- Whether any of the patterns `want` matches `have` under the operator.
local function operator_matches(op, want, have)
  local any = false
  for _, p in ipairs(want) do
    if op.test(tostring(p), tostring(have)) then any = true break end
  end
  if op.negate then return not any end
  return any
end

-- Why a StringEquals with a wildcard never matches, or "".
local function literal_pattern_hint(base, want)
  if base ~= "StringEquals" then return "" end
  for _, p in ipairs(want) do
    if tostring(p):find("[%*%?]") then
      return " (StringEquals compares literally; a pattern with * needs StringLike)"
    end
  end
  return ""
end

local function sorted_keys(t)
  local keys = {}
  for key in pairs(t) do keys[#keys + 1] = key end
  table.sort(keys)
  return keys
end

-- One operator block: every key must hold (AND); any value of a key may
-- match (OR). Returns true, or false and why.
local function check_operator(op_name, block, context)
  local base, if_exists = op_name:gsub("IfExists$", "")
  local op = OPERATORS[base]
  if not op then return false, "condition operator " .. op_name .. " is not understood by relrun" end
  for _, key in ipairs(sorted_keys(block)) do
    local want = list(block[key])
    local have = context[key] or context[key:lower()]
    if have == nil and if_exists == 0 then
      return false, string.format("%s %s: the request has no %s", op_name, key, key)
    end
    if have ~= nil and not operator_matches(op, want, have) then
      return false, string.format("%s %s: %s does not match %s%s", op_name, key, show(have), show(block[key]),
        literal_pattern_hint(base, want))
    end
  end
  return true
end

local function check_conditions(cond, context)
  for _, op in ipairs(sorted_keys(cond or {})) do
    local good, why = check_operator(op, cond[op], context or {})
    if not good then return false, why end
  end
  return true
end

-- Statements -----------------------------------------------------------------

local function matches_any(patterns, value, ignore_case)
  for _, p in ipairs(list(patterns)) do
    if M.wildcard_match(p, value, ignore_case) then return true end
  end
  return false
end

local function principal_matches(principal, not_principal, want)
  if principal == nil and not_principal == nil then return true end  -- identity policy
  if want == nil then return false end
  local function any(block)
    if block == "*" then return true end
    for kind, values in pairs(block) do
      for _, v in ipairs(list(values)) do
        if v == "*" or (want[kind] ~= nil and v == want[kind]) then return true end
      end
    end
    return false
  end
  if principal ~= nil then return any(principal) end
  return not any(not_principal)
end

local function statement_name(st, i)
  return st.Sid and st.Sid ~= "" and string.format("statement %d (%s)", i, st.Sid) or string.format("statement %d", i)
end

-- Does statement `st` apply to `req`? Returns true, or false and why not.
local function statement_applies(st, req)
  if st.Action ~= nil and not matches_any(st.Action, req.action, true) then
    return false, "action " .. req.action .. " is not in " .. show(list(st.Action))
  end
  if st.NotAction ~= nil and matches_any(st.NotAction, req.action, true) then
    return false, "action " .. req.action .. " is excluded by NotAction"
  end
  if req.resource then
    if st.Resource ~= nil and not matches_any(st.Resource, req.resource) then
      return false, "resource " .. req.resource .. " is not in " .. show(list(st.Resource))
    end
    if st.NotResource ~= nil and matches_any(st.NotResource, req.resource) then
      return false, "resource " .. req.resource .. " is excluded by NotResource"
    end
  end
  if not principal_matches(st.Principal, st.NotPrincipal, req.principal) then
    return false, "principal " .. show(req.principal and select(2, next(req.principal)) or "none") ..
      " is not " .. show(st.Principal and select(2, next(st.Principal)) or st.Principal)
  end
  return check_conditions(st.Condition, req.context)
end

-- Evaluate one or more policy documents for a request.
-- Returns { decision, statement = "statement N (Sid)", why, checked = { {statement, why} } }.
function M.evaluate(docs, req)
  if docs.Statement then docs = { docs } end
  local allow, checked = nil, {}
  for d, doc in ipairs(docs) do
    for i, st in ipairs(list(doc.Statement)) do
      local name = statement_name(st, i) .. (#docs > 1 and (" of policy " .. (doc.name or d)) or "")
      local applies, why = statement_applies(st, req)
      if applies and st.Effect == "Deny" then
        return { decision = "explicit_deny", statement = name,
                 why = name .. " denies " .. req.action, checked = checked }
      elseif applies and st.Effect == "Allow" then
        allow = allow or name
      else
        checked[#checked + 1] = { statement = name, why = why }
      end
    end
  end
  if allow then
    return { decision = "allow", statement = allow, why = allow .. " allows " .. req.action, checked = checked }
  end
  local reasons = {}
  for _, c in ipairs(checked) do reasons[#reasons + 1] = c.statement .. ": " .. c.why end
  return { decision = "implicit_deny", checked = checked,
           why = "no statement allows " .. req.action .. (req.resource and (" on " .. req.resource) or "") ..
             (#reasons > 0 and (" — " .. table.concat(reasons, "; ")) or "") }
end

-- Whether every action of a statement is sts:GetServiceBearerToken (which
-- IAM only grants on the resource "*").
local function only_bearer_token(st)
  for _, a in ipairs(list(st.Action)) do
    if a:lower() ~= "sts:getservicebearertoken" then return false end
  end
  return true
end

-- The findings of one Allow statement named `name`, added to `findings`.
local function statement_findings(st, name, allowed, findings)
  if st.NotAction then findings[#findings + 1] = name .. " uses NotAction (allows everything else)" end
  for _, a in ipairs(list(st.Action)) do
    if a:find("[%*%?]") then
      findings[#findings + 1] = name .. " allows the wildcard action " .. a
    elseif not allowed[a:lower()] then
      findings[#findings + 1] = name .. " allows " .. a .. ", which the release does not need"
    end
  end
  for _, r in ipairs(list(st.Resource)) do
    if r == "*" and not (st.Condition and next(st.Condition)) and not only_bearer_token(st) then
      findings[#findings + 1] = name .. " applies to every resource (*)"
    end
  end
end

-- Findings where `doc` grants more than RELEASE.md's least privilege:
-- wildcard actions or resources, and actions beyond `allowed`.
function M.wider_than(doc, allowed_actions)
  local allowed = {}
  for _, a in ipairs(allowed_actions) do allowed[a:lower()] = true end
  local findings = {}
  for i, st in ipairs(list(doc.Statement)) do
    if st.Effect == "Allow" then statement_findings(st, statement_name(st, i), allowed, findings) end
  end
  return findings
end

-- A stable text of a value, to sort lists of tables.
local function serialize(v)
  if type(v) ~= "table" then return string.format("%q", tostring(v)) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. "=" .. serialize(v[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- Canonical form for comparing documents: lists sorted, single values as lists.
local function canonical(v)
  if type(v) ~= "table" then return v end
  local out = {}
  if v[1] ~= nil then
    for i, x in ipairs(v) do out[i] = canonical(x) end
    table.sort(out, function(a, b) return serialize(a) < serialize(b) end)
    return out
  end
  for k, x in pairs(v) do
    local c = canonical(x)
    if type(c) ~= "table" and (k == "Action" or k == "Resource" or k == "NotAction" or k == "NotResource") then
      c = { c }
    end
    out[k] = c
  end
  return out
end

-- The differences between two documents as lines "path: want X, have Y".
function M.diff(want, have)
  local lines = {}
  local function walk(a, b, path)
    if type(a) == "table" and type(b) == "table" then
      local keys, seen = {}, {}
      for k in pairs(a) do if not seen[k] then seen[k] = true; keys[#keys + 1] = k end end
      for k in pairs(b) do if not seen[k] then seen[k] = true; keys[#keys + 1] = k end end
      table.sort(keys, function(x, y) return tostring(x) < tostring(y) end)
      for _, k in ipairs(keys) do walk(a[k], b[k], path .. (type(k) == "number" and ("[" .. k .. "]") or ("." .. k))) end
    elseif a ~= b then
      local function s(x)
        if type(x) == "table" then return (require("relrun.json").encode(x):gsub("\\/", "/")) end
        return x == nil and "nothing" or string.format("%q", tostring(x))
      end
      lines[#lines + 1] = string.format("%s: want %s, have %s", path:sub(2), s(a), s(b))
    end
  end
  walk(canonical(want), canonical(have), "")
  return lines
end

-- The `sub` claim GitHub sends for a job: with an environment it names the
-- environment instead of the ref (FIELD-NOTES 5).
function M.github_sub(repository, ref, environment)
  if environment and environment ~= "" then
    return string.format("repo:%s:environment:%s", repository, environment)
  end
  return string.format("repo:%s:ref:%s", repository, ref)
end

return M
