-- The S3 copy (relrun.copies.s3) with RELEASE.md's policy: s3:PutObject
-- only, so HeadBucket and HeadObject answer 403. The step must still upload,
-- and a rerun must trust its own journal rather than upload again.
local s3copy = require "relrun.copies.s3"
local fs = require "relrun.fs"
local hash = require "relrun.hash"

local function forbidden() return nil, "Forbidden", "Forbidden", { status = 403, code = "Forbidden" } end

local function world()
  local tmp = fs.tempdir("s3step")
  local file = fs.join(tmp.path, "stock_pipeline-1.0.0-py3-none-any.whl")
  fs.write(file, "wheel bytes")
  local sha = hash.file(file, { "sha256" }).sha256
  local puts = {}
  local ctx = { evidence = { build = { files = { { path = file, filename = fs.basename(file), sha256 = sha } } } },
                version = "1.0.0", project = { cfg = { bucket = "wheels-bucket", region = "us-east-1" } },
                target = {},
                s3 = { head_bucket = forbidden, head_object = forbidden,
                       upload_file = function(_, a) puts[#puts + 1] = a.key; return { etag = "x" } end } }
  local copy = s3copy.new(ctx)
  contains(copy.preflight(), "HeadBucket refused")
  return copy.step, ctx, puts, sha, tmp
end

describe("s3 step under RELEASE.md's put-only policy", function()
  it("uploads although HeadBucket and HeadObject are refused", function()
    local step, ctx, puts, sha, tmp = world()
    eq(step.check(ctx, nil), false)
    local ev = step.run(ctx)
    eq(puts, { "wheels/stock_pipeline-1.0.0-py3-none-any.whl" })
    eq(ev.objects[1].sha256, sha)
    tmp:close()
  end)

  it("a rerun trusts the journal's evidence instead of uploading again", function()
    local step, ctx, _, sha, tmp = world()
    local done = step.check(ctx, { bucket = "wheels-bucket",
      objects = { { key = "wheels/stock_pipeline-1.0.0-py3-none-any.whl", sha256 = sha } } })
    eq(done, true)
    eq(step.check(ctx, { objects = { { key = "wheels/stock_pipeline-1.0.0-py3-none-any.whl", sha256 = "other" } } }),
      false, "evidence of other bytes is not evidence")
    tmp:close()
  end)
end)
