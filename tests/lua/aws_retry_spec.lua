-- relrun.aws.retry: the standard retry mode's decisions.
local retry = require "relrun.aws.retry"

describe("classify", function()
  it("knows the throttling, transient and connection failures", function()
    eq(retry.classify{ status = 400, code = "ThrottlingException" }, "throttling")
    eq(retry.classify{ status = 503, code = "SlowDown" }, "throttling")
    eq(retry.classify{ status = 429, code = "Whatever" }, "throttling")
    eq(retry.classify{ status = 400, code = "RequestTimeout" }, "transient")
    for _, s in ipairs{ 500, 502, 503, 504 } do eq(retry.classify{ status = s }, "transient") end
    eq(retry.classify{ transport = "CURLE_COULDNT_CONNECT" }, "connection")
    eq(retry.classify{ transport = "CURLE_RECV_ERROR" }, "connection")
    eq(retry.classify{ transport = "CURLE_OPERATION_TIMEDOUT" }, "timeout")
    eq(retry.classify{ status = 400, code = "IDPCommunicationError", service = "sts" }, "transient")
  end)

  it("does not retry what another try cannot fix", function()
    eq(retry.classify{ status = 400, code = "InvalidIdentityToken", service = "sts" }, nil)
    eq(retry.classify{ status = 400, code = "ExpiredTokenException" }, nil)
    eq(retry.classify{ status = 403, code = "IDPRejectedClaim", service = "sts" }, nil)
    eq(retry.classify{ status = 403, code = "AccessDenied" }, nil)
    eq(retry.classify{ status = 501 }, nil)
    eq(retry.classify{ status = 400, code = "IDPCommunicationError", service = "iam" }, nil)
    eq(retry.classify{ transport = "CURLE_PEER_FAILED_VERIFICATION" }, nil)
  end)
end)

describe("policy", function()
  it("waits rand * min(2^(n-1), 20) and stops after 3 attempts", function()
    local p = retry.new{ random = function() return 1 end }
    local ctx = {}
    eq(p:decide(ctx, 1, { status = 503 }), 1)
    eq(p:decide(ctx, 2, { status = 503 }), 2)
    local d, why = p:decide(ctx, 3, { status = 503 })
    eq(d, nil)
    contains(why, "3 attempts")
    local big = retry.new{ random = function() return 0.5 end, max_attempts = 10 }
    eq(big:decide({}, 9, { status = 500 }), 10)   -- 0.5 * min(256, 20)
  end)

  it("starts no retry once max_elapsed seconds have passed since the call began, the wait included", function()
    local now = 1000
    local p = retry.new{ random = function() return 1 end, max_attempts = 100, max_elapsed = 30,
                         clock = function() return now end }
    local ctx = p:begin()
    eq(p:decide(ctx, 1, { status = 503 }), 1)
    now = now + 20
    eq(p:decide(ctx, 2, { status = 503 }), 2)     -- 20 + 2 <= 30
    now = now + 7
    local d, why = p:decide(ctx, 3, { status = 503 })   -- 27 + 4 > 30
    eq(d, nil)
    eq(why, "gave up after 3 attempts in 27 s (retries stop at 30 s)")
    eq(retry.new().max_elapsed, 300, "the default")
  end)

  it("honours Retry-After and x-amz-retry-after, capped at 20 s", function()
    local p = retry.new{ random = function() return 0 end }
    eq(p:decide({}, 1, { status = 429 }, { ["retry-after"] = "3" }), 3)
    eq(p:decide({}, 1, { status = 429 }, { ["x-amz-retry-after"] = "1500" }), 1.5)
    eq(p:decide({}, 1, { status = 429 }, { ["retry-after"] = "3600" }), 20)
    eq(p:decide({}, 1, { status = 429 }, { ["retry-after"] = "Wed, 21 Oct 2015 07:28:00 GMT" }), 0)
  end)

  it("spends 5 per retry, 10 per timeout retry, and refunds on success", function()
    local p = retry.new{ random = function() return 0 end }
    local ctx = {}
    p:decide(ctx, 1, { status = 500 })
    eq(p.capacity, 495)
    p:success(ctx)
    eq(p.capacity, 500)
    ctx = {}
    p:decide(ctx, 1, { transport = "CURLE_OPERATION_TIMEDOUT" })
    eq(p.capacity, 490)
    p:success({})
    eq(p.capacity, 491)
  end)

  it("stops retrying when the quota is spent", function()
    local p = retry.new{ random = function() return 0 end, max_attempts = 1000 }
    local n = 0
    while p:decide({}, 1, { status = 503 }) do n = n + 1 end
    eq(n, 100)
    local d, why = p:decide({}, 1, { status = 503 })
    eq(d, nil)
    eq(why, "retry quota exhausted")
  end)
end)
