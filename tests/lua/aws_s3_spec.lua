-- relrun.aws.s3's multipart logic with scripted transports: parts as file
-- ranges in parallel batches, a part that fails in a batch retried alone,
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

-- A fake S3 answering single requests (create, retried parts, complete,
-- abort) and batches; `fail_in_batch` = part numbers whose first try fails.
local function fake(fail_in_batch, complete_status)
  local log = { single = {}, batches = {} }
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
  local c = assert(s3.client{ region = "us-east-1", endpoint = "http://127.0.0.1:9",
    credentials = { get = function() return { access_key = "AKIDS3SPEC", secret_key = "s3/spec/secret" } end },
    policy = retry.new{ random = function() return 0 end }, sleep = function() end,
    transport = function(req) log.single[#log.single + 1] = req return answer(req) end,
    transport_many = function(reqs, opts)
      log.batches[#log.batches + 1] = { n = #reqs, parallel = opts.parallel }
      local out = {}
      for i, req in ipairs(reqs) do
        local n = tonumber(req.url:match("partNumber=(%d+)"))
        out[i] = fail_in_batch[n] and { error = "connection reset", code = "CURLE_RECV_ERROR" } or answer(req)
      end
      return out
    end })
  return c, log
end

describe("multipart upload", function()
  it("sends file ranges with their checksums, retries a failed part alone, completes in order", function()
    local c, log = fake{ [2] = true }
    local up = assert(c:multipart_upload{ bucket = "b", key = "k", file = file, part_size = 5 * MiB, parallel = 2 })
    eq(up.parts, 3)
    eq(up.etag, '"final-3"')
    eq(up.sha256, hash.sha256(R.read(file)))
    eq(#log.batches, 1)
    eq(log.batches[1], { n = 3, parallel = 2 })
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
