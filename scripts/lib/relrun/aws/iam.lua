-- AWS IAM (query protocol, 2010-05-08, one global endpoint signed for
-- us-east-1): the role, policies and OIDC provider a release needs, and the
-- policy simulator that explains a refusal.
--
--   local iam = assert(require("relrun.aws.iam").client())
--   local role = assert(iam:get_role{ role_name = "github-release" })
--   -- role.assume_role_policy is the trust policy, decoded to a table
local core = require "relrun.aws.core"

local M = {}
local VERSION = "2010-05-08"

local Client = {}
Client.__index = Client

function M.client(opts)
  opts = opts or {}
  local c, err, code = core.service_client(opts, { service = "iam", protocol = "query",
    global_endpoint = "https://iam.amazonaws.com", signing_region = "us-east-1", region = opts.region or "us-east-1" })
  if not c then return nil, err, code end
  return setmetatable({ core = c }, Client)
end

-- IAM returns policy documents URL-encoded; give them back as tables (or
-- the text when it is not JSON).
local function policy_doc(text)
  if not text then return nil end
  local decoded = require("relrun.http").url_decode(text) or text
  local doc = require("relrun.json").decode(decoded)
  return doc or decoded
end

local function jsonify(doc)
  if type(doc) == "table" then return require("relrun.json").encode(doc) end
  return doc
end

function Client:call(action, params)
  return self.core:query(action, VERSION, params)
end

local text = core.xml_text

local function role_of(el)
  if not el then return nil end
  return { name = text(el, "RoleName"), arn = text(el, "Arn"), id = text(el, "RoleId"), path = text(el, "Path"),
           created = core.parse_iso8601(text(el, "CreateDate")), description = text(el, "Description"),
           max_session_duration = tonumber(text(el, "MaxSessionDuration")),
           assume_role_policy = policy_doc(text(el, "AssumeRolePolicyDocument")) }
end

-- get_role{ role_name } -> { name, arn, id, path, created, assume_role_policy (table) }.
function Client:get_role(a)
  local r, msg, code, err = self:call("GetRole", { RoleName = a.role_name })
  if not r then return nil, msg, code, err end
  return role_of(core.xml_find(r, "Role"))
end

-- create_role{ role_name, assume_role_policy (table or JSON), description, path, max_session_duration }.
function Client:create_role(a)
  local r, msg, code, err = self:call("CreateRole", { RoleName = a.role_name, Path = a.path,
    AssumeRolePolicyDocument = jsonify(a.assume_role_policy), Description = a.description,
    MaxSessionDuration = a.max_session_duration })
  if not r then return nil, msg, code, err end
  return role_of(core.xml_find(r, "Role"))
end

function Client:update_assume_role_policy(a)
  local r, msg, code, err = self:call("UpdateAssumeRolePolicy", { RoleName = a.role_name,
    PolicyDocument = jsonify(a.policy) })
  if not r then return nil, msg, code, err end
  return true
end

function Client:put_role_policy(a)
  local r, msg, code, err = self:call("PutRolePolicy", { RoleName = a.role_name, PolicyName = a.policy_name,
    PolicyDocument = jsonify(a.policy) })
  if not r then return nil, msg, code, err end
  return true
end

-- get_role_policy{ role_name, policy_name } -> policy document (table).
function Client:get_role_policy(a)
  local r, msg, code, err = self:call("GetRolePolicy", { RoleName = a.role_name, PolicyName = a.policy_name })
  if not r then return nil, msg, code, err end
  return policy_doc(text(r, "PolicyDocument"))
end

-- Follow Marker pages of a list result; `collect(result, out)` adds items.
function Client:pages(action, params, collect)
  local out, p = {}, {}
  for k, v in pairs(params) do p[k] = v end
  repeat
    local r, msg, code, err = self:call(action, p)
    if not r then return nil, msg, code, err end
    collect(r, out)
    p.Marker = text(r, "IsTruncated") == "true" and text(r, "Marker") or nil
  until not p.Marker
  return out
end

-- list_role_policies{ role_name } -> { "inline-policy-name", ... } (all pages).
function Client:list_role_policies(a)
  return self:pages("ListRolePolicies", { RoleName = a.role_name }, function(r, out)
    for _, m in ipairs(core.xml_all(core.xml_find(r, "PolicyNames"), "member")) do out[#out + 1] = m.text end
  end)
end

-- list_attached_role_policies{ role_name } -> { { name, arn }, ... } (all pages).
function Client:list_attached_role_policies(a)
  return self:pages("ListAttachedRolePolicies", { RoleName = a.role_name }, function(r, out)
    for _, m in ipairs(core.xml_all(core.xml_find(r, "AttachedPolicies"), "member")) do
      out[#out + 1] = { name = text(m, "PolicyName"), arn = text(m, "PolicyArn") }
    end
  end)
end

-- get_policy{ policy_arn } -> { name, arn, default_version, attachment_count }.
function Client:get_policy(a)
  local r, msg, code, err = self:call("GetPolicy", { PolicyArn = a.policy_arn })
  if not r then return nil, msg, code, err end
  local p = core.xml_find(r, "Policy")
  return { name = text(p, "PolicyName"), arn = text(p, "Arn"), default_version = text(p, "DefaultVersionId"),
           attachment_count = tonumber(text(p, "AttachmentCount")) }
end

-- get_policy_version{ policy_arn, version_id } -> { version_id, default, document (table) }.
function Client:get_policy_version(a)
  local r, msg, code, err = self:call("GetPolicyVersion", { PolicyArn = a.policy_arn, VersionId = a.version_id })
  if not r then return nil, msg, code, err end
  local v = core.xml_find(r, "PolicyVersion")
  return { version_id = text(v, "VersionId"), default = text(v, "IsDefaultVersion") == "true",
           document = policy_doc(text(v, "Document")) }
end

-- create_open_id_connect_provider{ url, client_ids = {...}, thumbprints = {...} } -> arn.
function Client:create_open_id_connect_provider(a)
  local r, msg, code, err = self:call("CreateOpenIDConnectProvider", { Url = a.url, ClientIDList = a.client_ids,
    ThumbprintList = a.thumbprints })
  if not r then return nil, msg, code, err end
  return text(r, "OpenIDConnectProviderArn")
end

-- list_open_id_connect_providers() -> { arn, ... }.
function Client:list_open_id_connect_providers()
  local r, msg, code, err = self:call("ListOpenIDConnectProviders", {})
  if not r then return nil, msg, code, err end
  local out = {}
  for _, m in ipairs(core.xml_all(core.xml_find(r, "OpenIDConnectProviderList"), "member")) do
    out[#out + 1] = text(m, "Arn")
  end
  return out
end

-- simulate_principal_policy{ policy_source_arn, actions = {...}, resources = {...},
-- context = { { key, values = {...}, type = "string" } } } -> { { action, resource, decision }, ... }.
function Client:simulate_principal_policy(a)
  local ctx
  if a.context then
    ctx = {}
    for i, c in ipairs(a.context) do
      ctx[i] = { ContextKeyName = c.key, ContextKeyValues = c.values, ContextKeyType = c.type or "string" }
    end
  end
  return self:pages("SimulatePrincipalPolicy", { PolicySourceArn = a.policy_source_arn, ActionNames = a.actions,
    ResourceArns = a.resources, ContextEntries = ctx }, function(r, out)
    for _, m in ipairs(core.xml_all(core.xml_find(r, "EvaluationResults"), "member")) do
      out[#out + 1] = { action = text(m, "EvalActionName"), resource = text(m, "EvalResourceName"),
                        decision = text(m, "EvalDecision") }
    end
  end)
end

return M
