-- RELEASE.md "Troubleshooting: S3 Upload Failures" as checks: the bucket
-- variable, the bucket itself in the right region, and the role's right to
-- put objects under wheels/.
local checks = require "relrun.checks"
local policy = require "relrun.policy"
local aws = require "relrun.doctor.aws"

local M = { needs_network = true }

function M.register(g, ctx)
  local cfg = ctx.cfg
  g:check("S3_WHEELS_BUCKET", function()
    if not cfg.bucket then return checks.skip("S3_WHEELS_BUCKET is not set: wheels are not copied to S3") end
    return checks.ok(cfg.bucket .. " (from " .. (cfg.source.bucket or "?") .. ")")
  end)
  if not cfg.bucket then return end

  g:check("the bucket exists in the region", function()
    local s3, err = aws.client(ctx, "s3")
    if not s3 then return checks.skip(err) end
    local head, herr, code = s3:head_bucket{ bucket = cfg.bucket }
    if not head then
      if code == "NotFound" or code == "NoSuchBucket" or code == "404" then
        return checks.fail("no bucket " .. cfg.bucket, "create it (aws s3 mb s3://" .. cfg.bucket ..
          " --region " .. tostring(cfg.region) .. ", or relrun scripts/setup.lua --bucket)")
      end
      return checks.fail("HeadBucket " .. cfg.bucket .. ": " .. herr, "check the bucket name and the role's rights")
    end
    if head.region and cfg.region and head.region ~= cfg.region then
      return checks.warn(string.format("bucket %s is in %s, not %s", cfg.bucket, head.region, cfg.region),
        "uploads work across regions but cost more; consider a bucket in " .. cfg.region)
    end
    return checks.ok("bucket " .. cfg.bucket .. (head.region and (" in " .. head.region) or ""))
  end)

  g:check("the role may put objects under wheels/", function()
    if not cfg.role_arn then return checks.skip("AWS_ROLE_ARN is not set") end
    local ok_role, info = pcall(aws.role, ctx)
    if not ok_role then return checks.skip(type(info) == "table" and info.message or tostring(info)) end
    local req = { action = "s3:PutObject", resource = "arn:aws:s3:::" .. cfg.bucket .. "/wheels/stock_pipeline.whl" }
    local r = policy.evaluate(info.permissions, req)
    if r.decision == "allow" then return checks.ok(r.why) end
    return checks.fail(r.why, "allow s3:PutObject on arn:aws:s3:::" .. cfg.bucket .. "/wheels/* (RELEASE.md)")
  end)
end

return M
