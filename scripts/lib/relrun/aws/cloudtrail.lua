-- AWS CloudTrail (JSON 1.1 protocol, 2013-11-01): LookupEvents, the last 90
-- days of management events, newest first, 50 a page.
--
--   local ct = assert(require("relrun.aws.cloudtrail").client{ region = "us-east-1" })
--   local events = assert(ct:lookup_events{ attribute = { "EventSource", "codeartifact.amazonaws.com" },
--                                          start_time = t0, end_time = t1 })
--   -- events[i].record is the decoded CloudTrailEvent (userIdentity, sourceIPAddress, userAgent, ...)
local core = require "relrun.aws.core"
local json = require "relrun.json"

local M = {}
local TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
M.MAX_RESULTS = 50     -- the service's page size limit
M.MAX_PAGES = 2000     -- 100,000 events: past that a window is too wide to audit by lookup

local Client = {}
Client.__index = Client

-- client{ region, endpoint, credentials, env, ... } -> client | nil, msg, code.
function M.client(opts)
  local c, err, code = core.service_client(opts or {}, { service = "cloudtrail", protocol = "json" })
  if not c then return nil, err, code end
  return setmetatable({ core = c }, Client)
end

function Client:call(operation, doc)
  return self.core:json{ method = "POST", path = "/", operation = operation, doc = doc,
                         headers = { ["x-amz-target"] = TARGET .. operation } }
end

-- An event of an answer -> { id, name, source, time (epoch), username,
-- access_key, read_only, record (the decoded CloudTrailEvent) } | nil, why.
function M.event(e)
  if type(e) ~= "table" or type(e.CloudTrailEvent) ~= "string" then return nil, "an event without CloudTrailEvent" end
  local record = json.decode(e.CloudTrailEvent)
  if type(record) ~= "table" then return nil, "event " .. tostring(e.EventId) .. ": CloudTrailEvent is not JSON" end
  return { id = e.EventId or record.eventID, name = e.EventName or record.eventName,
           source = e.EventSource or record.eventSource,
           time = tonumber(e.EventTime) or core.parse_iso8601(record.eventTime),
           username = e.Username, access_key = e.AccessKeyId, read_only = e.ReadOnly == "true", record = record }
end

local function malformed(why)
  local e = core.new_error{ code = "MalformedResponse", service = "cloudtrail", operation = "LookupEvents",
                            message = why }
  return nil, e, e.code, e
end

-- lookup_events{ attribute = { key, value } | nil, start_time, end_time
-- (epoch), max_results (a page's size, default 50) } -> every event of the
-- window, all pages followed | nil, err, code, err.
function Client:lookup_events(a)
  local doc = { StartTime = a.start_time, EndTime = a.end_time, MaxResults = a.max_results or M.MAX_RESULTS,
                LookupAttributes = a.attribute and { { AttributeKey = a.attribute[1], AttributeValue = a.attribute[2] } }
                  or nil }
  local out = {}
  for _ = 1, M.MAX_PAGES do
    local page, msg, code, err = self:call("LookupEvents", doc)
    if not page then return nil, msg, code, err end
    if page.Events ~= nil and type(page.Events) ~= "table" then return malformed("Events is not a list") end
    for _, e in ipairs(page.Events or {}) do
      local ev, why = M.event(e)
      if not ev then return malformed(why) end
      out[#out + 1] = ev
    end
    if type(page.NextToken) ~= "string" or page.NextToken == "" then return out end
    doc.NextToken = page.NextToken
  end
  return malformed(string.format("more than %d pages of events: narrow the window", M.MAX_PAGES))
end

return M
