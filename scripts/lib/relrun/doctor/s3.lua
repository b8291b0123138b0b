-- RELEASE.md "Troubleshooting: S3 Upload Failures" as checks: the bucket
-- variable, the bucket itself in the right region, and the role's right to
-- put objects under wheels/.
local checks = require "relrun.checks"
local policy = require "relrun.policy"
local aws = require "relrun.doctor.aws"

local M = { needs_network = true }

local function bucket_in_region(ctx)
  local cfg = ctx.cfg
  local s3, err = aws.client(ctx, "s3")
  if not s3 then return checks.skip(err) end
  local head, herr, code = s3:head_bucket{ bucket = cfg.bucket }
  if not head then
    if code == "NotFound" or code == "NoSuchBucket" or code == "404" then
      return checks.fail("no bucket " .. cfg.bucket, "create it (aws s3 mb s3://" .. cfg.bucket ..
        " --region " .. tostring(cfg.region) .. ", or relrun setup --bucket)")
    end
    if code == "Forbidden" or code == "403" or code == "AccessDenied" then
      -- S3 answers 404 for a bucket that does not exist whoever asks; a
      -- 403 means it exists and these credentials may not s3:ListBucket,
      -- which RELEASE.md's policy does not grant.
      return checks.warn("bucket " .. cfg.bucket .. " exists, but these credentials may not HeadBucket it " ..
        "(s3:ListBucket)", "nothing to do for the upload itself (s3:PutObject); grant s3:ListBucket on " ..
        "arn:aws:s3:::" .. cfg.bucket .. " only if a step needs to read the bucket")
    end
    return checks.fail("HeadBucket " .. cfg.bucket .. ": " .. herr, "check the bucket name and the role's rights")
  end
  if head.region and cfg.region and head.region ~= cfg.region then
    return checks.warn(string.format("bucket %s is in %s, not %s", cfg.bucket, head.region, cfg.region),
      "uploads work across regions but cost more; consider a bucket in " .. cfg.region)
  end
  return checks.ok("bucket " .. cfg.bucket .. (head.region and (" in " .. head.region) or ""))
end

-- What relrun uploads there: a wheel and an sdist (copies/s3.lua), by name.
local function sample_objects(cfg)
  local version = "1.0.0"
  local names = { (cfg.package or "package"):gsub("[-.]+", "_") .. "-" .. version .. "-py3-none-any.whl",
                  (cfg.package or "package") .. "-" .. version .. ".tar.gz" }
  local objects = {}
  for _, name in ipairs(names) do
    objects[#objects + 1] = { key = "wheels/" .. name, arn = "arn:aws:s3:::" .. cfg.bucket .. "/wheels/" .. name }
  end
  return objects
end

local function role_may_put(ctx)
  local cfg = ctx.cfg
  if not cfg.role_arn then return checks.skip("AWS_ROLE_ARN is not set") end
  local info, result = aws.role_or_result(ctx)
  if not info then return result end
  local refused, why = {}, nil
  for _, object in ipairs(sample_objects(cfg)) do
    local r = policy.evaluate(info.permissions, { action = "s3:PutObject", resource = object.arn })
    if r.decision ~= "allow" then refused[#refused + 1] = object.key .. ": " .. r.why else why = r.why end
  end
  if #refused > 0 then
    return checks.fail("role " .. info.name .. " may not s3:PutObject " .. table.concat(refused, "; "),
      "allow s3:PutObject on arn:aws:s3:::" .. cfg.bucket .. "/wheels/* (RELEASE.md)")
  end
  return checks.ok(why .. " on wheels/ (wheel and sdist)")
end

local function bucket_policy_lets_put(ctx)
  local cfg = ctx.cfg
  local doc, err, code = aws.bucket_policy(ctx, cfg.bucket)
  if doc == nil then
    if code == "AccessDenied" or code == "Forbidden" then return checks.skip("GetBucketPolicy is not permitted") end
    if code == "NoSuchBucket" or code == "NotFound" then return checks.skip("no bucket " .. cfg.bucket) end
    return checks.skip("GetBucketPolicy: " .. tostring(err))
  end
  if doc == false then return checks.ok("bucket " .. cfg.bucket .. " has no bucket policy (the role's policy decides)") end
  local principal = { AWS = cfg.role_arn or ("arn:aws:iam::" .. tostring(cfg.account_id) .. ":root") }
  for _, object in ipairs(sample_objects(cfg)) do
    local r = policy.evaluate(doc, { action = "s3:PutObject", resource = object.arn, principal = principal,
      context = { ["aws:PrincipalArn"] = principal.AWS, ["aws:PrincipalAccount"] = cfg.account_id } })
    if r.decision == "explicit_deny" then
      return checks.fail("the bucket policy of " .. cfg.bucket .. " refuses " .. object.key .. ": " .. r.why,
        "change the bucket policy so the release role may s3:PutObject on wheels/*")
    end
  end
  return checks.ok("the bucket policy denies nothing under wheels/ to the role")
end

function M.register(g, ctx)
  local cfg = ctx.cfg
  g:check("S3_WHEELS_BUCKET", function()
    if not cfg.bucket then return checks.skip("S3_WHEELS_BUCKET is not set: wheels are not copied to S3") end
    return checks.ok(cfg.bucket .. " (from " .. (cfg.source.bucket or "?") .. ")")
  end, "S3_WHEELS_BUCKET")
  if not cfg.bucket then return end
  g:check("the bucket exists in the region", function() return bucket_in_region(ctx) end, "S3 HeadBucket")
  g:check("the role may put objects under wheels/", function() return role_may_put(ctx) end,
    "the role's permission policies (IAM)")
  g:check("the bucket policy lets the role put wheels/", function() return bucket_policy_lets_put(ctx) end,
    "S3 GetBucketPolicy")
end

return M
