-- The S3 copy of a release (RELEASE.md "S3 Bucket for Wheel Storage"): the
-- files under s3://$S3_WHEELS_BUCKET/wheels/, each with its sha256 in the
-- object's metadata. A step any target can add.
--
-- RELEASE.md's policy grants s3:PutObject but neither s3:GetObject nor
-- s3:ListBucket, so HEAD requests may be refused (403): then the journal's
-- evidence of this run's own uploads is what says an object is there, and
-- the upload itself never replaces an object (If-None-Match).
local errors = require "relrun.errors"
local log = require "relrun.log"
local release_build = require "relrun.phases.build"

local M = {}

-- Where the copies live in the bucket (RELEASE.md): the one place it is said.
M.PREFIX = "wheels/"

local function key(filename) return M.PREFIX .. filename end

-- The release's S3 client, made once per run from the target's credentials
-- (maintain's backup and restore use it too).
function M.client(ctx)
  if not ctx.s3 then
    local provider = ctx.target.credentials and ctx.target:credentials() or nil
    local s3, err = require("relrun.aws.s3").client{ region = ctx.project.cfg.region, credentials = provider }
    if not s3 then errors.raise("S3", "S3 client: " .. tostring(err), { hint = "set AWS credentials and AWS_REGION" }) end
    ctx.s3 = s3
  end
  return ctx.s3
end

-- A missing or forbidden bucket is said before anything is uploaded.
local function preflight(ctx)
  local bucket = ctx.project.cfg.bucket
  local good, berr, _, e = M.client(ctx):head_bucket{ bucket = bucket }
  if good then return "s3://" .. bucket .. " reachable" end
  if type(e) == "table" and e.status == 403 then
    -- it exists (a missing bucket is 404); this role may only put objects
    return "s3://" .. bucket .. " exists (HeadBucket refused, as RELEASE.md's put-only policy does)"
  end
  errors.raise("S3_BUCKET", string.format("S3 bucket %s: %s", bucket, tostring(berr)),
    { hint = string.format("check it exists in %s and the role may s3:PutObject on wheels/* (RELEASE.md \"S3 Upload " ..
      "Failures\")", tostring(ctx.project.cfg.region)) })
end

local function check(ctx, evidence)
  local bucket = ctx.project.cfg.bucket
  local built = ctx.evidence.build and ctx.evidence.build.files
  if not built then return false end   -- a dry run before the build
  local journaled = {}
  for _, o in ipairs(evidence and evidence.objects or {}) do journaled[o.key] = o.sha256 end
  -- every file is looked at before answering: a missing one must not hide
  -- another that exists with other bytes
  local missing = false
  for _, f in ipairs(built) do
    local head, herr, hcode, e = M.client(ctx):head_object{ bucket = bucket, key = key(f.filename) }
    if not head and type(e) == "table" and e.status == 403 then
      if journaled[key(f.filename)] ~= f.sha256 then missing = true end
    elseif not head and hcode ~= "NotFound" and hcode ~= "NoSuchKey" and hcode ~= "NoSuchBucket" then
      errors.raise("S3", string.format("s3://%s/%s: %s", bucket, key(f.filename), tostring(herr)))
    elseif not head then
      missing = true
    elseif head.metadata.sha256 ~= f.sha256 then
      errors.raise("S3_CONFLICT", string.format("s3://%s/%s exists with other content (sha256 %s, ours %s)", bucket,
        key(f.filename), tostring(head.metadata.sha256), f.sha256), { hint = "delete that object or release a new version" })
    end
  end
  if missing then return false end
  return true, { bucket = bucket, objects = evidence and evidence.objects }
end

local function run(ctx)
  local bucket = ctx.project.cfg.bucket
  local out = {}
  for _, f in ipairs(release_build.local_files(ctx)) do
    -- never over an object already there (If-None-Match): the same bytes
    -- are fine, other bytes stop the release, even when this role may not
    -- read objects and the check above could not look
    local r, err = M.client(ctx):upload_file{ bucket = bucket, key = key(f.filename), file = f.path, sha256 = f.sha256,
                                            metadata = { sha256 = f.sha256 }, overwrite = false }
    if not r then errors.raise("S3_UPLOAD", "upload to s3://" .. bucket .. "/" .. key(f.filename) .. ": " .. tostring(err)) end
    log.info("s3://%s/%s: %s", bucket, key(f.filename), r.status == "identical" and "already there, identical" or "uploaded")
    out[#out + 1] = { key = key(f.filename), sha256 = f.sha256 }
  end
  return { bucket = bucket, objects = out, outcome = #out .. " object(s)" }
end

function M.new(ctx)
  local bucket = ctx.project.cfg.bucket
  return {
    preflight = function() return preflight(ctx) end,
    step = { name = "s3", does = "copy the files to s3://" .. bucket .. "/wheels/", effect = "copied files to S3",
             check = function(_, evidence) return check(ctx, evidence) end, run = function() return run(ctx) end },
  }
end

-- The objects of a version under wheels/ (rollback, verify).
function M.objects(s3, bucket, version)
  local list, err = s3:list_objects{ bucket = bucket, prefix = "wheels/" }
  if not list then return nil, errors.new("S3", "listing s3://" .. bucket .. "/wheels/: " .. tostring(err)) end
  local metadata = require "relrun.pypi.metadata"
  local mine = {}
  for _, o in ipairs(list) do
    local parsed = metadata.parse_filename(o.key:sub(8))
    if parsed and parsed.version == version then mine[#mine + 1] = o end
  end
  return mine
end

return M
