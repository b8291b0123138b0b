-- relrun.audit: RELEASE.md's "Monitor CloudTrail logs for unusual
-- CodeArtifact activity", as findings. Two lookups over a window (CloudTrail
-- LookupEvents: EventSource codeartifact.amazonaws.com, and EventName
-- AssumeRoleWithWebIdentity into the release role), then each event judged:
--
--   deletion         a CodeArtifact Delete* call (versions, package, repository, domain, policy)
--   disposal         versions disposed, or their status set to Archived / Unlisted / Disposed
--   foreign-publish  PublishPackageVersion (twine's upload included) by anyone but the release role
--   long-term-key    a call signed with an IAM user's access key (AKIA…) or the root account's
--   untrusted-sub    the release role assumed by a token whose sub the trust setup writes would refuse
--   outside-actions  the release role assumed, or used, other than through GitHub's OIDC provider
--   token-burst      more GetAuthorizationToken calls by one principal in a span than the threshold
--
--   local report = audit.run(cloudtrail_client, { start_time, end_time, role_arn, trusted = { sub patterns },
--                                                 burst = { count = 20, seconds = 3600 } })
--   report.findings -- { { kind, time, event_id, event, principal, source_ip, user_agent, detail } }
--
-- Pure functions apart from run(): tests feed judge() decoded events.
local policy = require "relrun.policy"
local errors = require "relrun.errors"

local M = {}

M.SOURCE = "codeartifact.amazonaws.com"
M.HISTORY_DAYS = 90                           -- LookupEvents reaches back 90 days, no further
M.DEFAULT_BURST = { count = 20, seconds = 3600 }

-- Each kind, in the order reports list them: what it means, and whether
-- the doctor counts it as a problem (fail) or a warning.
M.KINDS = {
  { kind = "deletion", title = "no deletions", severity = "warn",
    todo = "check each was intended: a deleted version cannot be published again" },
  { kind = "disposal", title = "no disposals or status changes", severity = "warn",
    todo = "check each was intended (a retention policy, `relrun maintain prune`)" },
  { kind = "foreign-publish", title = "publishes by the release role only", severity = "fail",
    todo = "find out who published and why; RELEASE.md publishes only from the tagged release workflow" },
  { kind = "long-term-key", title = "no long-term access keys", severity = "warn",
    todo = "use OIDC (RELEASE.md), then deactivate and delete the key" },
  { kind = "untrusted-sub", title = "role assumed by trusted workflows only", severity = "fail",
    todo = "limit the trust policy's sub (relrun setup --update) and review what that run did" },
  { kind = "outside-actions", title = "release role used from GitHub Actions only", severity = "fail",
    todo = "the role's trust or another policy lets it be assumed elsewhere: review both" },
  { kind = "token-burst", title = "no bursts of GetAuthorizationToken", severity = "warn",
    todo = "a loop or a leaked role session asking for tokens: find the caller" },
}

---------------------------------------------------------------------------
-- the window and the flags

local UNITS = { m = 60, h = 3600, d = 86400, w = 7 * 86400 }

-- parse_since(text, now) -> epoch | nil, message. "30d", "12h", "2w",
-- "90m"; a date "2026-11-01" (UTC midnight) or a timestamp
-- "2026-11-01T08:00:00Z". Not in the future, not past CloudTrail's 90 days.
function M.parse_since(text, now)
  local n, unit = tostring(text):match("^(%d+)([mhdw])$")
  local t
  if n then
    t = now - tonumber(n) * UNITS[unit]
  elseif tostring(text):match("^%d%d%d%d%-%d%d%-%d%d$") then
    t = require("relrun.aws.core").parse_iso8601(text .. "T00:00:00Z")
  else
    t = require("relrun.aws.core").parse_iso8601(text)
  end
  if not t then
    return nil, string.format("%q is not a duration (30d, 12h, 2w, 90m) or a date (2026-11-01)", tostring(text))
  end
  if t > now then return nil, string.format("%s is in the future", text) end
  if now - t > M.HISTORY_DAYS * 86400 + 60 then
    return nil, string.format("%s is more than %d days ago: CloudTrail's event history keeps %d days " ..
      "(query older events in a trail's S3 logs or CloudTrail Lake)", text, M.HISTORY_DAYS, M.HISTORY_DAYS)
  end
  return t
end

-- parse_burst("20/1h" | "20") -> { count, seconds } | nil, message.
function M.parse_burst(text)
  local count, n, unit = tostring(text):match("^(%d+)/(%d*)([mhd])$")
  if not count then count = tostring(text):match("^(%d+)$") end
  if not count or tonumber(count) < 1 then
    return nil, string.format("%q is not COUNT or COUNT/SPAN (20/1h, 50/10m)", tostring(text))
  end
  local seconds = unit and (tonumber(n ~= "" and n or "1") * UNITS[unit]) or M.DEFAULT_BURST.seconds
  if seconds < 1 then return nil, string.format("%q: the span must be longer than 0", tostring(text)) end
  return { count = tonumber(count), seconds = seconds }
end

function M.iso(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t))
end

---------------------------------------------------------------------------
-- who made a call

local function role_key(arn)
  local account, name = tostring(arn or ""):match("^arn:[^:]+:iam::(%d+):role/(.+)$")
  if not account then return nil end
  return account .. ":" .. name:match("([^/]+)$")
end

-- The principal of a record: { type, label, role_arn (the role of an
-- assumed-role session), long_term (an IAM user's or root's key), federated
-- (the OIDC provider of a web-identity session) }.
function M.principal(record)
  local id = type(record.userIdentity) == "table" and record.userIdentity or {}
  local ctx = type(id.sessionContext) == "table" and id.sessionContext or {}
  local issuer = type(ctx.sessionIssuer) == "table" and ctx.sessionIssuer or {}
  local fed = type(ctx.webIdFederationData) == "table" and ctx.webIdFederationData.federatedProvider or nil
  local key = type(id.accessKeyId) == "string" and id.accessKeyId or ""
  local p = { type = id.type, key = key ~= "" and key or nil, federated = fed }
  if id.type == "AssumedRole" then
    p.role_arn = issuer.arn
    p.label = string.format("role %s (session %s)", tostring(issuer.userName or issuer.arn),
      tostring(tostring(id.arn or ""):match("([^/]+)$") or "?"))
  elseif id.type == "IAMUser" then
    p.label = "IAM user " .. tostring(id.userName or id.arn)
  elseif id.type == "Root" then
    p.label = "the root account"
  elseif id.type == "WebIdentityUser" then
    p.label = "web identity " .. tostring(id.userName)
  else
    p.label = tostring(id.type or "unknown") .. " " .. tostring(id.arn or id.principalId or "")
  end
  p.long_term = key:match("^AKIA") ~= nil or id.type == "IAMUser" or id.type == "Root"
  return p
end

local function is_release_role(p, release_key)
  return release_key ~= nil and role_key(p.role_arn) == release_key
end

local function from_github(provider)
  return type(provider) == "string" and provider:find(policy.OIDC_HOST, 1, true) ~= nil
end

---------------------------------------------------------------------------
-- judging events

-- Text from a record, made safe to print: a control character (a newline
-- that would start a line with a workflow command under Actions) shows as \xNN.
function M.clean(v)
  if v == nil then return nil end
  return (tostring(v):gsub("%c", function(c) return string.format("\\x%02x", c:byte()) end))
end

local function finding(kind, ev, p, detail)
  local r = ev.record
  if r.errorCode then detail = detail .. string.format(" (refused: %s)", tostring(r.errorCode)) end
  return { kind = kind, time = ev.time, event_id = M.clean(ev.id), event = M.clean(ev.name),
           principal = M.clean(p.label), source_ip = M.clean(r.sourceIPAddress), user_agent = M.clean(r.userAgent),
           detail = M.clean(detail) }
end

local function versions_of(params)
  local v = type(params.versions) == "table" and params.versions or {}
  local names = {}
  for _, x in ipairs(v) do names[#names + 1] = tostring(x) end
  if params.packageVersion then names[#names + 1] = tostring(params.packageVersion) end
  local what = #names > 0 and ("version " .. table.concat(names, ", ") .. " of ") or ""
  return what .. tostring(params.package or params.repository or params.domain or "?")
end

-- Findings of one CodeArtifact event.
local function judge_codeartifact(ev, opts, out)
  local r = ev.record
  local p = M.principal(r)
  local params = type(r.requestParameters) == "table" and r.requestParameters or {}
  if ev.name:match("^Delete") then
    out[#out + 1] = finding("deletion", ev, p, ev.name .. " " .. versions_of(params))
  elseif ev.name == "DisposePackageVersions" then
    out[#out + 1] = finding("disposal", ev, p, "disposed " .. versions_of(params))
  elseif ev.name == "UpdatePackageVersionsStatus" and params.targetStatus ~= "Published" then
    out[#out + 1] = finding("disposal", ev, p,
      "status of " .. versions_of(params) .. " set to " .. tostring(params.targetStatus))
  elseif ev.name == "PublishPackageVersion" and not is_release_role(p, opts.release_key) then
    out[#out + 1] = finding("foreign-publish", ev, p, "published " .. versions_of(params) ..
      (params.assetName and (" (" .. tostring(params.assetName) .. ")") or ""))
  end
  if p.long_term then
    out[#out + 1] = finding("long-term-key", ev, p, ev.name .. " signed with " ..
      (p.key and (p.key:sub(1, 8) .. "…") or "the root account's credentials"))
  end
  if is_release_role(p, opts.release_key) and not from_github(p.federated) then
    out[#out + 1] = finding("outside-actions", ev, p, ev.name .. " in a release-role session not assumed " ..
      "through GitHub's OIDC provider")
  end
end

-- Findings of one AssumeRoleWithWebIdentity event (into the release role).
local function judge_assumption(ev, opts, out)
  local r = ev.record
  local p = M.principal(r)
  local resp = type(r.responseElements) == "table" and r.responseElements or {}
  local id = type(r.userIdentity) == "table" and r.userIdentity or {}
  local provider = resp.provider or id.identityProvider
  if not from_github(provider) then
    out[#out + 1] = finding("outside-actions", ev, p, "assumed through " .. tostring(provider or "an unknown provider") ..
      ", not GitHub's OIDC provider")
    return
  end
  local sub = resp.subjectFromWebIdentityToken or id.userName
  for _, pattern in ipairs(opts.trusted or {}) do
    if type(sub) == "string" and policy.wildcard_match(pattern, sub) then return end
  end
  if r.errorCode then return end   -- the trust policy refused it: working as meant
  out[#out + 1] = finding("untrusted-sub", ev, p, string.format("sub %s is outside %s", tostring(sub),
    #(opts.trusted or {}) > 0 and table.concat(opts.trusted, ", ") or "(no trusted pattern)"))
end

-- One finding per principal whose GetAuthorizationToken calls exceed
-- burst.count within burst.seconds (the first such span).
local function bursts(events, burst, out)
  local by = {}
  for _, ev in ipairs(events) do
    if ev.name == "GetAuthorizationToken" then
      local p = M.principal(ev.record)
      by[p.label] = by[p.label] or { p = p, list = {} }
      table.insert(by[p.label].list, ev)
    end
  end
  for _, group in pairs(by) do
    local list = group.list
    table.sort(list, function(a, b) return a.time < b.time end)
    local first = 1
    for last = 1, #list do
      while list[last].time - list[first].time >= burst.seconds do first = first + 1 end
      if last - first + 1 > burst.count then
        out[#out + 1] = finding("token-burst", list[first], group.p, string.format(
          "%d GetAuthorizationToken calls within %s from %s (threshold %d)", last - first + 1,
          M.span(burst.seconds), M.iso(list[first].time), burst.count))
        break
      end
    end
  end
end

function M.span(seconds)
  for _, u in ipairs({ { "d", 86400 }, { "h", 3600 }, { "m", 60 } }) do
    if seconds % u[2] == 0 then return (seconds // u[2]) .. u[1] end
  end
  return seconds .. "s"
end

local ORDER = {}
for i, k in ipairs(M.KINDS) do ORDER[k.kind] = i end

-- judge{ codeartifact = events, assumptions = events } with opts { role_arn,
-- trusted, burst } -> findings, sorted by kind then time.
function M.judge(events, opts)
  local o = { release_key = role_key(opts.role_arn), trusted = opts.trusted }
  local out = {}
  for _, ev in ipairs(events.codeartifact or {}) do judge_codeartifact(ev, o, out) end
  for _, ev in ipairs(events.assumptions or {}) do judge_assumption(ev, o, out) end
  bursts(events.codeartifact or {}, opts.burst or M.DEFAULT_BURST, out)
  table.sort(out, function(a, b)
    if a.kind ~= b.kind then return ORDER[a.kind] < ORDER[b.kind] end
    if a.time ~= b.time then return a.time < b.time end
    return tostring(a.event_id) < tostring(b.event_id)
  end)
  return out
end

---------------------------------------------------------------------------
-- asking CloudTrail

-- The AssumeRoleWithWebIdentity events whose role is the release role.
local function into_role(events, role_arn)
  local key, out = role_key(role_arn), {}
  for _, ev in ipairs(events) do
    local params = type(ev.record.requestParameters) == "table" and ev.record.requestParameters or {}
    if role_key(params.roleArn) == key then out[#out + 1] = ev end
  end
  return out
end

-- run(client, opts) -> report { start_time, end_time, role_arn, trusted,
-- burst, counts = { codeartifact, assumptions }, findings } | nil, err.
function M.run(client, opts)
  local window = { start_time = opts.start_time, end_time = opts.end_time }
  local ca, err = client:lookup_events{ attribute = { "EventSource", M.SOURCE },
    start_time = window.start_time, end_time = window.end_time }
  if not ca then return nil, err end
  local web, werr = client:lookup_events{ attribute = { "EventName", "AssumeRoleWithWebIdentity" },
    start_time = window.start_time, end_time = window.end_time }
  if not web then return nil, werr end
  local events = { codeartifact = ca, assumptions = into_role(web, opts.role_arn) }
  return { start_time = opts.start_time, end_time = opts.end_time, role_arn = opts.role_arn, trusted = opts.trusted,
           burst = opts.burst or M.DEFAULT_BURST, region = client.core and client.core.region,
           counts = { codeartifact = #events.codeartifact, assumptions = #events.assumptions },
           findings = M.judge(events, opts) }
end

-- checked(client, opts) -> report; raises a relrun.errors value, one line.
function M.checked(client, opts)
  local report, err = M.run(client, opts)
  if report then return report end
  local e = errors.is(err) and err or errors.new("AUDIT", tostring(err))
  local aws_err = errors.new("CLOUDTRAIL", e.message or tostring(e),
    { hint = e.hint or (e.code == "MalformedResponse" and "is the endpoint a CloudTrail endpoint? check " ..
      "AWS_ENDPOINT_URL_CLOUDTRAIL / AWS_ENDPOINT_URL" or nil) })
  if e.code == "AccessDeniedException" or e.code == "AccessDenied" then
    aws_err.hint = "the identity needs cloudtrail:LookupEvents (the AWSCloudTrail_ReadOnlyAccess policy has it)"
  end
  errors.raise(aws_err)
end

---------------------------------------------------------------------------
-- reporting

function M.line(f)
  return string.format("%s %s: %s by %s from %s (%s) [event %s]", M.iso(f.time), f.kind, f.detail, f.principal,
    tostring(f.source_ip or "?"), tostring(f.user_agent or "?"), tostring(f.event_id))
end

-- The report as lines for a person.
function M.lines(report)
  local lines = {
    string.format("CloudTrail %s to %s: %d CodeArtifact event%s, %d assumption%s of %s", M.iso(report.start_time),
      M.iso(report.end_time), report.counts.codeartifact, report.counts.codeartifact == 1 and "" or "s",
      report.counts.assumptions, report.counts.assumptions == 1 and "" or "s", tostring(report.role_arn)),
  }
  for _, f in ipairs(report.findings) do lines[#lines + 1] = "  ! " .. M.line(f) end
  lines[#lines + 1] = #report.findings == 0 and "No findings." or
    string.format("%d finding%s.", #report.findings, #report.findings == 1 and "" or "s")
  return lines
end

-- The report as one JSON-ready table (lists stay arrays when empty).
function M.document(report)
  local json = require "relrun.json"
  local findings = json.array({})
  for _, f in ipairs(report.findings) do
    findings[#findings + 1] = { kind = f.kind, time = M.iso(f.time), event_id = f.event_id, event = f.event,
      principal = f.principal, source_ip = f.source_ip, user_agent = f.user_agent, detail = f.detail }
  end
  return { start_time = M.iso(report.start_time), end_time = M.iso(report.end_time), region = report.region,
           role_arn = report.role_arn, trusted_subs = json.array(report.trusted or {}),
           burst = { count = report.burst.count, seconds = report.burst.seconds },
           events = { codeartifact = report.counts.codeartifact, assumptions = report.counts.assumptions },
           findings = findings }
end

-- Under GitHub Actions: one ::warning per finding (relrun.log escapes it).
function M.annotate(report)
  local log = require "relrun.log"
  if not log.actions() then return end
  for _, f in ipairs(report.findings) do
    log.annotate{ level = "warning", title = "relrun audit: " .. f.kind, message = M.line(f) }
  end
end

return M
