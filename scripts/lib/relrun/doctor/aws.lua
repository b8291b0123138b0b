-- What the doctor's AWS groups share: clients, the role and its policies
-- (read once), and the policy documents RELEASE.md expects.
local policy = require "relrun.policy"

local M = {}

-- A failure to read the role: `skip` when relrun could not look (no
-- credentials, not permitted), a finding when it looked and saw.
local function fail(message, skip) error({ message = message, skip = skip }, 0) end

-- Clients, created on first use; nil and a reason when there are no
-- credentials. `once` gives a client that does not retry: for optional
-- calls (IAM's simulator) a diagnosis should not wait on.
function M.client(ctx, service, once)
  ctx.aws_clients = ctx.aws_clients or {}
  local key = service .. (once and "/once" or "")
  if ctx.aws_clients[key] then return ctx.aws_clients[key] end
  if ctx.no_aws then return nil, ctx.no_aws end
  if not ctx.aws_provider then
    local provider, err = require("relrun.aws.credentials").resolve{}
    if not provider then ctx.no_aws = "no AWS credentials (" .. err .. ")"; return nil, ctx.no_aws end
    ctx.aws_provider = provider
  end
  local c, cerr = require("relrun.aws." .. service).client{ region = ctx.cfg.region, credentials = ctx.aws_provider,
    policy = once and require("relrun.aws.retry").new{ max_attempts = 1 } or nil }
  if not c then return nil, cerr end
  ctx.aws_clients[key] = c
  return c
end

function M.role_name(arn)
  return arn and arn:match(":role/(.+)$") and arn:match(":role/(.+)$"):match("([^/]+)$")
end

-- "owner/repo" for the sub claim: the setting, else the release remote
-- (relrun.project).
function M.github_repository(ctx)
  return ctx.project:github_repository()
end

-- RELEASE.md's documents filled from the configuration.
function M.expected(ctx)
  local cfg = ctx.cfg
  return policy.documents{ account = cfg.account_id or "000000000000", region = cfg.region or "us-east-1",
                           domain = cfg.domain or "domain", repository = cfg.repository or "repository",
                           package = cfg.package, bucket = cfg.bucket,
                           github_repository = M.github_repository(ctx) or "OWNER/REPO",
                           tag_pattern = ctx.prefix .. "*" }
end

-- The role (with its trust policy) and every permission policy document on
-- it (inline and attached). Cached; raises with a readable message.
function M.role(ctx)
  if ctx.role_info ~= nil then return ctx.role_info end
  local name = M.role_name(ctx.cfg.role_arn)
  if not name then fail("AWS_ROLE_ARN is not set") end
  local iam, err = M.client(ctx, "iam")
  if not iam then fail(err, true) end
  local role, rerr, code = iam:get_role{ role_name = name }
  if not role then
    if code == "AccessDenied" or code == "AccessDeniedException" then fail("GetRole " .. name .. " is not permitted", true) end
    if code == "NoSuchEntity" then fail("the role " .. name .. " does not exist in account " ..
      (ctx.cfg.role_arn:match("::(%d+):") or "?") .. ": create it (relrun setup)") end
    fail("GetRole " .. name .. ": " .. rerr)
  end
  -- permissions: the documents, each with its name (for messages); policies:
  -- { name, attached, document } with the documents as IAM has them.
  local docs, policies = {}, {}
  local function add(pname, attached, doc)
    if type(doc) ~= "table" then return end
    local named = {}
    for k, v in pairs(doc) do named[k] = v end
    named.name = pname
    docs[#docs + 1] = named
    policies[#policies + 1] = { name = pname, attached = attached, document = doc }
  end
  for _, pname in ipairs(iam:list_role_policies{ role_name = name } or {}) do
    add(pname, false, iam:get_role_policy{ role_name = name, policy_name = pname })
  end
  for _, att in ipairs(iam:list_attached_role_policies{ role_name = name } or {}) do
    local p = iam:get_policy{ policy_arn = att.arn }
    local v = p and iam:get_policy_version{ policy_arn = att.arn, version_id = p.default_version }
    add(att.name, true, v and v.document)
  end
  ctx.role_info = { name = name, role = role, trust = role.assume_role_policy, permissions = docs, policies = policies }
  return ctx.role_info
end

-- The checkout's root (the project's folder outside git).
function M.root(ctx)
  return ctx.root
end

-- The current credentials' access key id and whether they are long-term
-- (AKIA…) keys; nil when there are none.
function M.access_key(ctx)
  if not M.client(ctx, "sts") then return nil end
  local creds = ctx.aws_provider:get()
  if not creds then return nil end
  return creds.access_key, creds.access_key:match("^AKIA") ~= nil and not creds.session_token
end

-- list_access_keys(ctx [, user]) -> { { id, status, created (epoch) } } | nil, msg, code.
-- IAM ListAccessKeys without a user name lists the caller's own keys.
-- (relrun.aws.iam has no wrapper for it; its generic call serves.)
function M.list_access_keys(ctx, user)
  local iam, err = M.client(ctx, "iam")
  if not iam then return nil, err, "NoCredentials" end
  local core = require "relrun.aws.core"
  return iam:pages("ListAccessKeys", { UserName = user }, function(r, out)
    for _, m in ipairs(core.xml_all(core.xml_find(r, "AccessKeyMetadata"), "member")) do
      out[#out + 1] = { id = core.xml_text(m, "AccessKeyId"), status = core.xml_text(m, "Status"),
                        user = core.xml_text(m, "UserName"),
                        created = core.parse_iso8601(core.xml_text(m, "CreateDate")) }
    end
  end)
end

-- The active keys older than `days` (default 90) at `now`, oldest first:
-- { { id, age_days } }.
function M.old_keys(keys, now, days)
  days = days or 90
  local old = {}
  for _, k in ipairs(keys) do
    local age = k.created and math.floor((now - k.created) / 86400)
    if k.status == "Active" and age and age > days then old[#old + 1] = { id = k.id, age_days = age } end
  end
  table.sort(old, function(a, b) return a.age_days > b.age_days end)
  return old
end

-- key_last_used(ctx, id) -> { date (epoch) | nil (never), service } | nil, msg, code
-- (IAM GetAccessKeyLastUsed).
function M.key_last_used(ctx, id)
  local iam, err = M.client(ctx, "iam")
  if not iam then return nil, err, "NoCredentials" end
  local r, msg, code = iam:call("GetAccessKeyLastUsed", { AccessKeyId = id })
  if not r then return nil, msg, code end
  local core = require "relrun.aws.core"
  return { date = core.parse_iso8601(core.xml_text(r, "AccessKeyLastUsed/LastUsedDate")),
           service = core.xml_text(r, "AccessKeyLastUsed/ServiceName") }
end

-- The active keys not used for more than `days` (default 90), or never:
-- { { id, idle_days | nil (never used) } }. Each key has last_used (from
-- key_last_used) or none.
function M.idle_keys(keys, now, days)
  days = days or 90
  local idle = {}
  for _, k in ipairs(keys) do
    local used = k.last_used and k.last_used.date
    local idle_days = used and math.floor((now - used) / 86400)
    if k.status == "Active" and (not used or idle_days > days) then idle[#idle + 1] = { id = k.id, idle_days = idle_days } end
  end
  return idle
end

-- The bucket's own policy (a table), false when it has none.
function M.bucket_policy(ctx, bucket)
  local s3, err = M.client(ctx, "s3")
  if not s3 then return nil, err end
  local res, msg, code = s3:send(bucket, nil, { method = "GET", query = { policy = "" }, operation = "GetBucketPolicy" })
  if not res then
    if code == "NoSuchBucketPolicy" then return false end
    return nil, msg, code
  end
  local doc = require("relrun.json").decode(res.body or "")
  if type(doc) ~= "table" then return nil, "the bucket policy of " .. bucket .. " is not JSON" end
  return doc
end

-- role_or_result(ctx [, owner]) -> info | nil, a checks result: skip when
-- relrun could not look; when the role is missing or unreadable, fail for
-- the one check that owns that finding, skip for the others (one problem,
-- counted once).
function M.role_or_result(ctx, owner)
  local good, info = pcall(M.role, ctx)
  if good then return info end
  local checks = require "relrun.checks"
  local msg = type(info) == "table" and info.message or tostring(info)
  if not owner or (type(info) == "table" and info.skip) then return nil, checks.skip(msg) end
  return nil, checks.fail(msg, "relrun setup creates the role as RELEASE.md describes")
end

return M
