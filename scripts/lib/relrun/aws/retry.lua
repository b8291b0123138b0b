-- The SDKs' "standard" retry mode (botocore retries/standard.py, quota.py,
-- special.py), as pure decisions: whether an outcome is retryable, how long
-- to wait, and the shared retry quota. The request loop in relrun.aws.core
-- asks; nothing here sleeps or sends.
local M = {}

M.MAX_ATTEMPTS = 3
M.MAX_BACKOFF = 20          -- seconds
-- No retry starts (its wait included) once this many seconds have passed
-- since the call began: attempts alone do not bound the time when each
-- one may run up to its timeout.
M.MAX_ELAPSED = 300
M.INITIAL_QUOTA = 500
M.RETRY_COST = 5
M.TIMEOUT_RETRY_COST = 10
M.NO_RETRY_INCREMENT = 1

local function set(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

M.THROTTLING = set{
  "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
  "TooManyRequestsException", "ProvisionedThroughputExceededException",
  "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
  "LimitExceededException", "RequestThrottled", "SlowDown", "EC2ThrottledException",
}
M.TRANSIENT = set{ "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete" }
M.TRANSIENT_STATUS = set{ 500, 502, 503, 504 }
-- Errors that mean the client's clock is off (relrun.aws.core re-signs once).
M.CLOCK_SKEW = set{ "RequestTimeTooSkewed", "RequestExpired", "RequestInTheFuture" }

-- Transport failures that are worth another try: the connection broke or
-- never answered. A bad URL or a TLS verification failure is not.
M.CONNECTION_ERRORS = set{
  "CURLE_COULDNT_CONNECT", "CURLE_COULDNT_RESOLVE_HOST", "CURLE_COULDNT_RESOLVE_PROXY",
  "CURLE_GOT_NOTHING", "CURLE_RECV_ERROR", "CURLE_SEND_ERROR", "CURLE_PARTIAL_FILE",
  "CURLE_OPERATION_TIMEDOUT", "CURLE_HTTP2", "CURLE_HTTP2_STREAM", "CURLE_WEIRD_SERVER_REPLY",
}
M.TIMEOUT_ERRORS = set{ "CURLE_OPERATION_TIMEDOUT" }

-- classify(outcome) -> "throttling" | "transient" | "timeout" | "connection" | nil.
-- outcome: { transport = "CURLE_*" } for a failed exchange, or
-- { status = n, code = "ErrorCode", service = "sts" } for an error answer.
function M.classify(o)
  if o.transport then
    if M.TIMEOUT_ERRORS[o.transport] then return "timeout" end
    if M.CONNECTION_ERRORS[o.transport] then return "connection" end
    return nil
  end
  if o.code and M.THROTTLING[o.code] then return "throttling" end
  if o.status == 429 then return "throttling" end
  if o.code and M.TRANSIENT[o.code] then return "transient" end
  if o.status and M.TRANSIENT_STATUS[o.status] then return "transient" end
  -- botocore retries/special.py: STS's IdP communication failures pass on retry.
  if o.service == "sts" and o.code == "IDPCommunicationError" then return "transient" end
  return nil
end

-- A server's own wait hint in seconds: x-amz-retry-after (milliseconds, as the
-- SDKs send it) or Retry-After (seconds; an HTTP date is ignored).
function M.server_delay(headers)
  if not headers then return nil end
  local ms = tonumber(headers["x-amz-retry-after"] or "")
  if ms and ms >= 0 then return ms / 1000 end
  local s = tonumber(headers["retry-after"] or "")
  if s and s >= 0 then return s end
  return nil
end

local Policy = {}
Policy.__index = Policy

-- new{ max_attempts = 3, max_elapsed = 300, random = math.random, clock =
-- relrun.host.monotime } -> a policy holding one retry quota; share one
-- policy among the requests of one client.
function M.new(opts)
  opts = opts or {}
  return setmetatable({
    max_attempts = opts.max_attempts or M.MAX_ATTEMPTS,
    max_elapsed = opts.max_elapsed or M.MAX_ELAPSED,
    random = opts.random or math.random,
    clock = opts.clock or require("relrun.host").monotime,
    capacity = M.INITIAL_QUOTA,
  }, Policy)
end

-- begin() -> ctx for one call (decide and success take it): when it began.
function Policy:begin()
  return { started = self.clock() }
end

-- delay(attempt, kind, headers) -> seconds: rand(0,1) * min(2^(attempt-1), 20),
-- lengthened to the server's hint when it sent one (capped at 20 s too).
function Policy:delay(attempt, headers)
  local t = self.random() * math.min(2 ^ (attempt - 1), M.MAX_BACKOFF)
  local hint = M.server_delay(headers)
  if hint then t = math.max(t, math.min(hint, M.MAX_BACKOFF)) end
  return t
end

-- decide(attempt, outcome, headers) -> delay | nil, why. `attempt` is the
-- 1-based number of the attempt that just failed. Takes from the quota when
-- it says yes; `ctx` (one table per call) remembers what was taken.
function Policy:decide(ctx, attempt, outcome, headers)
  local kind = M.classify(outcome)
  if not kind then return nil, "not retryable" end
  if attempt >= self.max_attempts then
    return nil, string.format("gave up after %d attempts", attempt)
  end
  local delay = self:delay(attempt, headers)
  local elapsed = ctx.started and (self.clock() - ctx.started) or 0
  if elapsed + delay > self.max_elapsed then
    return nil, string.format("gave up after %d attempts in %.0f s (retries stop at %g s)", attempt, elapsed,
      self.max_elapsed)
  end
  local cost = kind == "timeout" and M.TIMEOUT_RETRY_COST or M.RETRY_COST
  if cost > self.capacity then return nil, "retry quota exhausted" end
  self.capacity = self.capacity - cost
  ctx.cost = cost
  return delay, kind
end

-- success(ctx): a 2xx answer gives back what its retries took, or 1 when
-- it needed none (never beyond the initial quota).
function Policy:success(ctx)
  local back = ctx.cost or M.NO_RETRY_INCREMENT
  self.capacity = math.min(M.INITIAL_QUOTA, self.capacity + back)
end

return M
