-- label: slow (a 200 MB upload and download through moto)
-- A large file goes up in parts and comes back equal, with relrun never
-- holding more than a part of it.
local peers = require "aws_peers"
local R = require "aws_run"
local hash = require "relrun.hash"
local s3 = require "relrun.aws.s3"

local moto, dir
local _ <close> = setmetatable({}, { __close = function()
  if moto then moto.stop() end
  R.rmdir(dir)
end })

describe("s3 large upload", function()
  dir = R.tempdir()
  moto = peers.moto()
  moto.auth_after(0)

  it("round-trips 200 MB through a multipart upload with equal sha256", function()
    local file = dir .. "/big.bin"
    local code, out = R.run({ "dd", "if=/dev/urandom", "of=" .. file, "bs=1M", "count=200", "status=none" })
    eq(code, 0, out)
    local c = assert(s3.client{ env = { AWS_REGION = "us-east-1", AWS_ACCESS_KEY_ID = moto.akid,
      AWS_SECRET_ACCESS_KEY = moto.secret, AWS_ENDPOINT_URL = moto.url, AWS_CONFIG_FILE = "/dev/null",
      AWS_SHARED_CREDENTIALS_FILE = "/dev/null" } })
    assert(c:create_bucket{ bucket = "big" })
    local up = assert(c:upload_file{ bucket = "big", key = "big.bin", file = file })
    eq(up.parts, 25, "8 MiB parts")
    eq(up.sha256, nil, "the whole file is not hashed unless asked")
    local head = assert(c:head_object{ bucket = "big", key = "big.bin" })
    eq(head.size, 200 * 1024 * 1024)
    assert(c:get_object{ bucket = "big", key = "big.bin", output = dir .. "/back.bin" })
    local _, sum = R.run({ "sha256sum", file })
    eq(hash.file(dir .. "/back.bin", { "sha256" }).sha256, sum:match("^(%x+)"), "the same bytes came back")
  end)
end)
