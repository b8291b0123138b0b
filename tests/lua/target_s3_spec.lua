-- The CodeArtifact target's S3 step with RELEASE.md's policy: s3:PutObject
-- only, so HeadBucket and HeadObject answer 403. The step must still upload,
-- and a rerun must trust its own journal rather than upload again.
local target = require "relrun.targets.codeartifact"
local fs = require "relrun.fs"
local hash = require "relrun.hash"

local function forbidden() return nil, "Forbidden", "Forbidden", { status = 403, code = "Forbidden" } end

local function world()
  local tmp = fs.tempdir("s3step")
  local file = fs.join(tmp.path, "stock_pipeline-1.0.0-py3-none-any.whl")
  fs.write(file, "wheel bytes")
  local sha = hash.file(file, { "sha256" }).sha256
  local t = target.new{ domain = "d", account_id = "111122223333", repository = "r", region = "us-east-1",
                        package = "stock-pipeline", bucket = "wheels-bucket" }
  local puts = {}
  t.s3 = {
    head_bucket = forbidden, head_object = forbidden,
    upload_file = function(_, a) puts[#puts + 1] = a.key; return { etag = "x" } end,
  }
  t.provider = true
  t.client = function() return true end
  local ctx = { evidence = { build = { files = { { path = file, filename = fs.basename(file), sha256 = sha } } } },
                work_dir = tmp.path, version = "1.0.0" }
  local step
  for _, s in ipairs(t:after_publish(ctx)) do if s.name == "s3" then step = s end end
  return step, ctx, puts, sha, tmp
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
