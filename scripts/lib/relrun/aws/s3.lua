-- Amazon S3 (rest-xml, 2006-03-01): buckets, streamed uploads (multipart
-- for large files, aborted on failure), downloads to a file, listing.
--
--   local s3 = assert(require("relrun.aws.s3").client())
--   assert(s3:upload_file{ bucket = "wheels", key = "stock-pipeline/1.2.3/x.whl", file = "dist/x.whl" })
--
-- Uploads never hold a file in memory: a single PUT streams it from disk
-- with its sha256 computed in one streaming pass beforehand; a multipart
-- upload hashes every part in one pass, then sends file ranges, several at
-- once.
local core = require "relrun.aws.core"

local M = {}

M.MULTIPART_THRESHOLD = 64 * 1024 * 1024
M.PART_SIZE = 8 * 1024 * 1024
M.PARALLEL = 8              -- parts in flight at once (aws s3 cp runs 10)
M.MIN_PART_SIZE = 5 * 1024 * 1024
M.MAX_PARTS = 10000

local Client = {}
Client.__index = Client

-- client{ region, endpoint, credentials, env, path_style } -> client | nil, msg, code.
-- Path-style addressing (endpoint/bucket/key) with a configured endpoint
-- (moto, MinIO), virtual-hosted (bucket.s3.region.amazonaws.com) otherwise.
function M.client(opts)
  opts = opts or {}
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.service, o.protocol = "s3", "rest-xml"
  if o.credentials == nil then
    local creds, err, code = require("relrun.aws.credentials").resolve{ env = opts.env }
    if not creds then return nil, err, code end
    o.credentials = creds
  end
  local c, err, code = core.client(o)
  if not c then return nil, err, code end
  local path_style = opts.path_style
  if path_style == nil then path_style = c.endpoint_source ~= "default" end
  return setmetatable({ core = c, path_style = path_style }, Client)
end

-- S3 keys keep their slashes; everything else is percent-encoded once.
local function encode_key(key)
  return (key:gsub("[^/]+", core.url_encode))
end

function Client:target(bucket, key)
  if type(bucket) ~= "string" or bucket == "" then error("s3: bucket is required", 3) end
  local path = key and ("/" .. encode_key(key)) or "/"
  if self.path_style or bucket:find(".", 1, true) then
    return nil, "/" .. bucket .. (key and path or "")
  end
  return (self.core.endpoint:gsub("^(https?://)", "%1" .. bucket .. ".")), path
end

function Client:send(bucket, key, r)
  local endpoint, path = self:target(bucket, key)
  r.endpoint, r.path = endpoint, path
  return self.core:request(r)
end

local function xml_of(res)
  local root = core.xml_decode(res.body or "")
  if type(root) ~= "table" then return nil end
  return root
end

-- head_bucket{ bucket } -> { region } | nil, msg, code ("NotFound", "Forbidden").
function Client:head_bucket(a)
  local res, msg, code, err = self:send(a.bucket, nil, { method = "HEAD", operation = "HeadBucket" })
  if not res then return nil, msg, code, err end
  return { region = res.headers["x-amz-bucket-region"] }
end

-- create_bucket{ bucket, region } -> true. Outside us-east-1 the region goes
-- in a CreateBucketConfiguration, as S3 requires.
function Client:create_bucket(a)
  local region = a.region or self.core.region
  local body
  if region ~= "us-east-1" then
    body = '<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' ..
      "<LocationConstraint>" .. region .. "</LocationConstraint></CreateBucketConfiguration>"
  end
  local res, msg, code, err = self:send(a.bucket, nil, { method = "PUT", body = body, operation = "CreateBucket",
    headers = body and { ["content-type"] = "application/xml" } or nil })
  if not res then return nil, msg, code, err end
  return true
end

local function headers_for(a)
  local h = { ["content-type"] = a.content_type or "application/octet-stream" }
  for k, v in pairs(a.metadata or {}) do h["x-amz-meta-" .. k:lower()] = v end
  return h
end

-- put_object{ bucket, key, file | body, content_type, metadata, sha256 }
-- -> { etag, sha256 }. A file is streamed from disk; its sha256 (signed as
-- x-amz-content-sha256) is computed streaming unless given.
function Client:put_object(a)
  local headers, body, hash = headers_for(a), a.body, a.sha256
  if a.file then
    if not hash then
      local digests, msg, code = require("relrun.hash").file(a.file, { "sha256" })
      if not digests then return nil, msg, code end
      hash = digests.sha256
    end
    body = { file = a.file }
  else
    hash = hash or require("relrun.hash").sha256(body or "")
  end
  local res, msg, code, err = self:send(a.bucket, a.key, { method = "PUT", body = body, payload_hash = hash,
    headers = headers, operation = "PutObject", timeout = a.timeout or 3600 })
  if not res then return nil, msg, code, err end
  return { etag = res.headers.etag, sha256 = hash }
end

function Client:abort_multipart_upload(a)
  local res, msg, code, err = self:send(a.bucket, a.key, { method = "DELETE", query = { uploadId = a.upload_id },
    operation = "AbortMultipartUpload" })
  if not res then return nil, msg, code, err end
  return true
end

-- The part size: PART_SIZE, grown so the file fits in 10000 parts.
local function part_size_for(size, wanted)
  local ps = math.max(wanted or M.PART_SIZE, M.MIN_PART_SIZE)
  while size / ps > M.MAX_PARTS do ps = ps * 2 end
  return ps
end

-- sha256 of each part and of the whole file, from one read in 1 MiB chunks
-- (each part's is signed as its x-amz-content-sha256).
local function part_hashes(path, ps)
  local hash = require "relrun.hash"
  local f, err = io.open(path, "rb")
  if not f then return nil, "cannot read " .. err, "ENOENT" end
  local whole, part, in_part, parts = hash.new("sha256"), hash.new("sha256"), 0, {}
  while true do
    local data = f:read(math.min(1024 * 1024, ps - in_part))
    if not data then break end
    whole:update(data)
    part:update(data)
    in_part = in_part + #data
    if in_part == ps then
      parts[#parts + 1], part, in_part = part:digest(), hash.new("sha256"), 0
    end
  end
  f:close()
  if in_part > 0 or #parts == 0 then parts[#parts + 1] = part:digest() end
  return parts, whole:digest()
end

function Client:part_request(a, upload_id, n, ps, size, sha)
  local offset = (n - 1) * ps
  local endpoint, path = self:target(a.bucket, a.key)
  return { method = "PUT", endpoint = endpoint, path = path, payload_hash = sha, operation = "UploadPart",
           body = { file = a.file, offset = offset, length = math.min(ps, size - offset) },
           query = { partNumber = tostring(n), uploadId = upload_id }, timeout = a.timeout or 600 }
end

-- One batch of parts at the same time (relrun.http.request_many); a part
-- that fails there goes again through request(), which retries it as any
-- call. Fills etags; nil, msg, code, err on a part that still fails.
function Client:part_batch(rs, first, etags, parallel)
  local reqs = {}
  for j, r in ipairs(rs) do
    local req, msg, code, err = self.core:prepare(r)
    if not req then return nil, msg, code, err end
    reqs[j] = req
  end
  local results = require("relrun.http").request_many(reqs, { parallel = parallel })
  for j, res in ipairs(results) do
    local good = not res.error and self.core:judge_answer(rs[j], res)
    if not good then
      local msg, code, err
      good, msg, code, err = self.core:request(rs[j])
      if not good then return nil, msg, code, err end
    end
    etags[first + j - 1] = good.headers.etag
  end
  return true
end

-- Every part, `parallel` at a time in batches of 2 x parallel (so no
-- signature is older than a batch). -> etags, sha256 of the file.
function Client:upload_parts(a, upload_id, size, ps)
  local hashes, whole, hcode = part_hashes(a.file, ps)
  if not hashes then return nil, whole, hcode end
  local parallel = a.parallel or M.PARALLEL
  if not require("relrun.http").request_many then parallel = 1 end
  local etags, batch = {}, math.max(1, parallel * 2)
  for first = 1, #hashes, batch do
    local rs = {}
    for i = first, math.min(#hashes, first + batch - 1) do
      rs[#rs + 1] = self:part_request(a, upload_id, i, ps, size, hashes[i])
    end
    local good, msg, code, err
    if parallel > 1 then
      good, msg, code, err = self:part_batch(rs, first, etags, parallel)
    else
      for j, r in ipairs(rs) do
        good, msg, code, err = self.core:request(r)
        if not good then break end
        etags[first + j - 1] = good.headers.etag
      end
    end
    if not good then return nil, msg, code, err end
    if a.on_progress then a.on_progress(math.min((first + #rs - 1) * ps, size), size) end
  end
  return etags, whole
end

local function complete_body(parts)
  local out = { '<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' }
  for i, etag in ipairs(parts) do
    out[#out + 1] = string.format("<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i,
      etag:gsub("&", "&amp;"):gsub('"', "&quot;"))
  end
  out[#out + 1] = "</CompleteMultipartUpload>"
  return table.concat(out)
end

-- multipart_upload{ bucket, key, file, part_size, parallel, content_type, metadata }
-- -> { etag, sha256, parts = n }. Any failure aborts the upload so no parts
-- linger (and cost storage).
function Client:multipart_upload(a)
  local st = io.open(a.file, "rb")
  if not st then return nil, "cannot read " .. a.file, "ENOENT" end
  local size = st:seek("end")
  st:close()
  local res, msg, code, err = self:send(a.bucket, a.key, { method = "POST", query = { uploads = "" },
    headers = headers_for(a), operation = "CreateMultipartUpload" })
  if not res then return nil, msg, code, err end
  local root = xml_of(res)
  local upload_id = root and core.xml_text(root, "UploadId")
  if not upload_id then return nil, "s3 CreateMultipartUpload answered without an UploadId", "MalformedResponse" end
  local ps = part_size_for(size, a.part_size)
  local parts, sha_or_msg, code2, err2 = self:upload_parts(a, upload_id, size, ps)
  if parts then
    res, msg, code2, err2 = self:send(a.bucket, a.key, { method = "POST", query = { uploadId = upload_id },
      body = complete_body(parts), headers = { ["content-type"] = "application/xml" },
      operation = "CompleteMultipartUpload", timeout = 600 })
    -- S3 can answer 200 with an <Error> document to a Complete request.
    local done = res and xml_of(res)
    if done and done.name == "Error" then
      res, msg, code2 = nil, "s3 CompleteMultipartUpload failed: " .. tostring(core.xml_text(done, "Code")) ..
        ": " .. tostring(core.xml_text(done, "Message")), core.xml_text(done, "Code")
    end
    if res then
      return { etag = done and core.xml_text(done, "ETag") or res.headers.etag, sha256 = sha_or_msg,
               parts = #parts, upload_id = upload_id }
    end
    sha_or_msg = msg
  end
  self:abort_multipart_upload{ bucket = a.bucket, key = a.key, upload_id = upload_id }
  return nil, sha_or_msg .. " (the multipart upload was aborted)", code2, err2
end

-- upload_file{ bucket, key, file, ... } -> put_object below the multipart
-- threshold, multipart_upload above it.
function Client:upload_file(a)
  local f = io.open(a.file, "rb")
  if not f then return nil, "cannot read " .. a.file, "ENOENT" end
  local size = f:seek("end")
  f:close()
  if size >= (a.multipart_threshold or M.MULTIPART_THRESHOLD) then return self:multipart_upload(a) end
  return self:put_object(a)
end

local function object_info(h)
  local meta = {}
  for k, v in pairs(h) do
    local m = k:match("^x%-amz%-meta%-(.+)$")
    if m then meta[m] = v end
  end
  return { size = tonumber(h["content-length"]), etag = h.etag, content_type = h["content-type"],
           last_modified = core.parse_http_date(h["last-modified"]), metadata = meta }
end

-- head_object{ bucket, key } -> { size, etag, content_type, last_modified, metadata } | nil, msg, "NotFound".
function Client:head_object(a)
  local res, msg, code, err = self:send(a.bucket, a.key, { method = "HEAD", operation = "HeadObject" })
  if not res then return nil, msg, code, err end
  return object_info(res.headers)
end

-- get_object{ bucket, key, output = path } -> info (the body goes to `output`).
function Client:get_object(a)
  if type(a.output) ~= "string" then error("s3.get_object: output (a file path) is required", 2) end
  local res, msg, code, err = self:send(a.bucket, a.key, { method = "GET", output = a.output,
    operation = "GetObject", timeout = a.timeout or 3600 })
  if not res then return nil, msg, code, err end
  return object_info(res.headers)
end

function Client:delete_object(a)
  local res, msg, code, err = self:send(a.bucket, a.key, { method = "DELETE", operation = "DeleteObject" })
  if not res then return nil, msg, code, err end
  return true
end

-- list_objects{ bucket, prefix } -> every object { key, size, etag, last_modified }, all pages.
function Client:list_objects(a)
  local out, token = {}, nil
  repeat
    local q = { ["list-type"] = "2", prefix = a.prefix, ["continuation-token"] = token,
                ["max-keys"] = a.max_keys and tostring(a.max_keys) }
    local res, msg, code, err = self:send(a.bucket, nil, { method = "GET", query = q, operation = "ListObjectsV2" })
    if not res then return nil, msg, code, err end
    local root = xml_of(res)
    if not root then return nil, "s3 ListObjectsV2 answered with no XML", "MalformedResponse" end
    for _, c in ipairs(core.xml_all(root, "Contents")) do
      out[#out + 1] = { key = core.xml_text(c, "Key"), size = tonumber(core.xml_text(c, "Size")),
                        etag = core.xml_text(c, "ETag"),
                        last_modified = core.parse_iso8601(core.xml_text(c, "LastModified")) }
    end
    token = core.xml_text(root, "IsTruncated") == "true" and core.xml_text(root, "NextContinuationToken") or nil
  until not token
  return out
end

return M
