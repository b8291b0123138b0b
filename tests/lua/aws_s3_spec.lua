-- relrun.aws.s3's multipart logic with scripted transports: parts as file
-- ranges through a pool kept full, a part that fails there retried alone,
-- checksums and ETags in the Complete request, abort on failure.
local s3 = require "relrun.aws.s3"
local retry = require "relrun.aws.retry"
local hash = require "relrun.hash"
local R = require "aws_run"

local dir = R.tempdir()
local _ <close> = setmetatable({}, { __close = function() R.rmdir(dir) end })

local MiB = 1024 * 1024
local file = dir .. "/parts.bin"
R.write(file, string.rep("a", 5 * MiB) .. string.rep("b", 5 * MiB) .. string.rep("c", 3 * MiB))

local function b64hex(s) return hash.base64_encode(hash.hex_decode(hash.sha256(s))) end

-- A fake pool in the place of relrun.http.request_many: `parallel` slots,
-- each request taken from the generator only when a slot is free, and
-- answered after `ticks(req)` steps of a clock (1 unless said), so a slow
-- part can be modelled without timing anything. The log records each
-- request's making, each answer and the most requests made and not yet
-- answered.
local function fake_pool(log, answer_of, ticks)
  return function(make, opts)
    local slots, clock, j, more = {}, 0, 0, true
    log.pools[#log.pools + 1] = { parallel = opts.parallel }
    while true do
      while more and #slots < opts.parallel do
        local req = make(j + 1)
        if not req then more = false break end
        j = j + 1
        if opts.before then opts.before(j, req) end
        log.events[#log.events + 1] = "start " .. req.url:match("partNumber=(%d+)")
        slots[#slots + 1] = { j = j, req = req, due = clock + (ticks and ticks(req) or 1) }
      end
      log.max_in_flight = math.max(log.max_in_flight, #slots)
      if #slots == 0 then return j end
      clock = clock + 1
      local due, keep = {}, {}
      for _, s in ipairs(slots) do table.insert(s.due <= clock and due or keep, s) end
      slots = keep
      for _, s in ipairs(due) do
        log.events[#log.events + 1] = "done " .. s.req.url:match("partNumber=(%d+)")
        opts.after(s.j, answer_of(s.req))
      end
    end
  end
end

-- A fake S3 answering single requests (create, retried parts, complete,
-- abort) and parts through the fake pool; `fail_in_pool` = part numbers
-- whose first try fails, `ticks(req)` = how long a part takes there.
local function fake(fail_in_pool, complete_status, ticks)
  local log = { single = {}, pools = {}, events = {}, max_in_flight = 0 }
  local function answer(req)
    local q = req.url:match("%?(.*)$") or ""
    if req.method == "POST" and q == "uploads=" then
      return { status = 200, headers = {}, body = "<InitiateMultipartUploadResult><UploadId>U1</UploadId>" ..
        "</InitiateMultipartUploadResult>" }
    elseif req.method == "PUT" then
      local n = tonumber(q:match("partNumber=(%d+)"))
      return { status = 200, headers = { etag = '"etag-' .. n .. '"' } }
    elseif req.method == "POST" then
      return { status = complete_status or 200, headers = {},
        body = "<CompleteMultipartUploadResult><ETag>\"final-3\"</ETag></CompleteMultipartUploadResult>" }
    else
      return { status = 204, headers = {} }
    end
  end
  local function answer_in_pool(req)
    local n = tonumber(req.url:match("partNumber=(%d+)"))
    if fail_in_pool[n] then return { error = "connection reset", code = "CURLE_RECV_ERROR" } end
    return answer(req)
  end
  local c = assert(s3.client{ region = "us-east-1", endpoint = "http://127.0.0.1:9",
    credentials = { get = function() return { access_key = "AKIDS3SPEC", secret_key = "s3/spec/secret" } end },
    policy = retry.new{ random = function() return 0 end }, sleep = function() end,
    transport = function(req) log.single[#log.single + 1] = req return answer(req) end,
    transport_many = fake_pool(log, answer_in_pool, ticks) })
  return c, log
end

describe("multipart upload", function()
  it("sends file ranges with their checksums, retries a failed part alone, completes in order", function()
    local c, log = fake{ [2] = true }
    local up = assert(c:multipart_upload{ bucket = "b", key = "k", file = file, part_size = 5 * MiB, parallel = 2,
      want_sha256 = true })
    eq(up.parts, 3)
    eq(up.etag, '"final-3"')
    eq(up.sha256, hash.sha256(R.read(file)), "the file's sha256, asked for")
    eq(log.pools, { { parallel = 2 } })
    local create, retried, complete = log.single[1], log.single[2], log.single[3]
    eq(create.headers["x-amz-checksum-algorithm"], "SHA256")
    contains(retried.url, "partNumber=2")
    eq(retried.body, { file = file, offset = 5 * MiB, length = 5 * MiB })
    eq(retried.headers["x-amz-checksum-sha256"], b64hex(string.rep("b", 5 * MiB)))
    contains(complete.body, "<Part><PartNumber>1</PartNumber><ETag>&quot;etag-1&quot;</ETag><ChecksumSHA256>" ..
      b64hex(string.rep("a", 5 * MiB)) .. "</ChecksumSHA256></Part>")
    contains(complete.body, "<PartNumber>3</PartNumber><ETag>&quot;etag-3&quot;</ETag><ChecksumSHA256>" ..
      b64hex(string.rep("c", 3 * MiB)))
  end)

  it("keeps parts flowing past a slow one, signing each as it starts", function()
    local big = dir .. "/many.bin"
    R.write(big, string.rep("x", 12 * MiB + 7))
    local signed = {}
    local c, log = fake({}, nil, function(req)
      signed[#signed + 1] = req.headers.authorization ~= nil
      return req.url:find("partNumber=1&", 1, true) and 20 or 1
    end)
    c.core.signer = function(r)
      -- each part is signed when it is made, i.e. when a slot is free
      log.events[#log.events + 1] = "sign " .. (r.url:match("partNumber=(%d+)") or "-")
      return { authorization = "AWS4-HMAC-SHA256 fake" }
    end
    local progress, min = {}, s3.MIN_PART_SIZE
    s3.MIN_PART_SIZE = MiB -- 13 small parts rather than a 65 MiB file
    local up = assert(c:multipart_upload{ bucket = "b", key = "big", file = big, part_size = MiB, parallel = 3,
      on_progress = function(sent) progress[#progress + 1] = sent end })
    s3.MIN_PART_SIZE = min
    eq(up.parts, 13)
    eq(up.sha256, nil, "the file's sha256 is not computed unless asked for")
    eq(log.max_in_flight, 3)
    local pos = {}
    for n, e in ipairs(log.events) do pos[e] = n end
    for i = 2, 13 do
      ok(pos["done " .. i] < pos["done 1"], "part " .. i .. " finished while part 1 was still going")
      eq(pos["sign " .. i] + 1, pos["start " .. i], "part " .. i .. " signed just before it starts")
    end
    for i = 5, 13 do
      -- two slots keep turning while part 1 holds the third
      ok(pos["start " .. i] > pos["done " .. (i - 2)], "part " .. i .. " waits for a free slot")
    end
    eq(progress[#progress], 12 * MiB + 7)
    eq(#signed, 13)
    local complete = log.single[#log.single]
    contains(complete.body, "<PartNumber>13</PartNumber><ETag>&quot;etag-13&quot;</ETag>")
  end)

  it("starts no new part once `parallel` parts failed, until they went through alone", function()
    local c, log = fake{ [1] = true, [2] = true }
    local up = assert(c:multipart_upload{ bucket = "b", key = "k", file = file, part_size = 5 * MiB, parallel = 2 })
    eq(up.parts, 3)
    eq(log.events, { "start 1", "start 2", "done 1", "done 2", "start 3", "done 3" })
    eq(#log.pools, 2, "a second pool for part 3, after the retries")
    contains(log.single[2].url, "partNumber=1")
    contains(log.single[3].url, "partNumber=2")
    contains(log.single[4].body, "<PartNumber>3</PartNumber><ETag>&quot;etag-3&quot;</ETag>")
  end)

  it("returns the caller's sha256 as given", function()
    local c = fake{}
    local up = assert(c:multipart_upload{ bucket = "b", key = "k", file = file, part_size = 5 * MiB,
      sha256 = "given", want_sha256 = true })
    eq(up.sha256, "given")
  end)

  it("a file that cannot be read for hashing stops the parts before any is sent", function()
    local c, log = fake{}
    local up, msg, code = c:upload_parts({ bucket = "b", key = "k", file = dir .. "/gone.bin" }, "U1", 10, 5)
    eq({ up, code }, { nil, "ENOENT" })
    contains(msg, "gone.bin")
    eq(#log.pools, 0, "no part was sent")
  end)

  it("aborts when Complete fails", function()
    local c, log = fake({}, 400)
    local up, msg = c:multipart_upload{ bucket = "b", key = "k", file = file, part_size = 5 * MiB }
    eq(up, nil)
    contains(msg, "the multipart upload was aborted")
    local last = log.single[#log.single]
    eq(last.method, "DELETE")
    contains(last.url, "uploadId=U1")
  end)
end)
