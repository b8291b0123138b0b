-- Amazon S3 (rest-xml, 2006-03-01): buckets, streamed uploads (multipart
-- for large files, aborted on failure), downloads to a file, listing.
--
--   local s3 = assert(require("relrun.aws.s3").client())
--   assert(s3:upload_file{ bucket = "wheels", key = "stock-pipeline/1.2.3/x.whl", file = "dist/x.whl" })
--
-- Uploads never hold a file in memory: a single PUT streams it from disk
-- with its sha256 computed in one streaming pass beforehand; a multipart
-- upload sends file ranges through a pool of transfers kept full, each
-- part hashed ahead on a thread (one read of the file) and signed as it
-- starts.
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
  local c, err, code = core.service_client(opts, { service = "s3", protocol = "rest-xml" })
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

-- With overwrite = false a write is conditional (If-None-Match: *, which
-- S3 honours on PutObject and CompleteMultipartUpload): an object already
-- there is never replaced, the write fails with 412 PreconditionFailed.
-- if_match (an ETag) writes only over that object.
local function headers_for(a)
  local h = { ["content-type"] = a.content_type or "application/octet-stream" }
  for k, v in pairs(a.metadata or {}) do h["x-amz-meta-" .. k:lower()] = v end
  if a.overwrite == false then h["if-none-match"] = "*" end
  if a.if_match then h["if-match"] = a.if_match end
  return h
end

-- put_object{ bucket, key, file | body, content_type, metadata, sha256,
-- overwrite, if_match } -> { etag, sha256 }. A file is streamed from disk;
-- its sha256 (signed as x-amz-content-sha256) is computed streaming unless
-- given.
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
    operation = "AbortMultipartUpload", timeout = a.timeout or 30 })
  if not res then return nil, msg, code, err end
  return true
end

-- The part size: PART_SIZE, grown so the file fits in 10000 parts.
local function part_size_for(size, wanted)
  local ps = math.max(wanted or M.PART_SIZE, M.MIN_PART_SIZE)
  while size / ps > M.MAX_PARTS do ps = ps * 2 end
  return ps
end

-- base64 of a hex digest, as S3's x-amz-checksum-* headers carry it.
local function b64_of_hex(hex)
  local hash = require "relrun.hash"
  return hash.base64_encode(hash.hex_decode(hex))
end

-- Each part carries its SHA-256 as an S3 checksum too (the upload is
-- created with ChecksumAlgorithm SHA256), so S3 verifies every part and
-- keeps a checksum of the object, at no extra hashing.
function Client:part_request(a, upload_id, n, ps, size, sha)
  local offset = (n - 1) * ps
  local endpoint, path = self:target(a.bucket, a.key)
  return { method = "PUT", endpoint = endpoint, path = path, payload_hash = sha, operation = "UploadPart",
           headers = { ["x-amz-checksum-sha256"] = b64_of_hex(sha) },
           body = { file = a.file, offset = offset, length = math.min(ps, size - offset) },
           query = { partNumber = tostring(n), uploadId = upload_id }, timeout = a.timeout or 600 }
end

-- One upload_parts run: the parts' etags and sha256 so far, the bytes
-- sent, the next part to start, the transfers running (by pool slot), the
-- parts that failed in the pool, and what stopped the run ({msg, code, err}).
local function part_uploader(client, a, upload_id, size, ps, job)
  return { client = client, a = a, upload_id = upload_id, size = size, ps = ps, job = job,
           parallel = a.parallel or M.PARALLEL, count = job:count(),
           etags = {}, hashes = {}, sent = 0, nextp = 1, running = {}, failed = {}, stop = nil }
end

local function part_done(u, i, res)
  u.etags[i] = res.headers.etag
  u.sent = u.sent + math.min(u.ps, u.size - (i - 1) * u.ps)
  if u.a.on_progress then u.a.on_progress(u.sent, u.size) end
end

-- The signed request of the next part for pool slot j; nil when no part
-- should start now (all started, too many failed, or the run stopped).
local function next_part(u, j)
  if u.nextp > u.count or #u.failed >= u.parallel or u.stop then return nil end
  local i = u.nextp
  u.nextp = i + 1
  local sha, msg, code = u.job:part(i)
  if not sha then
    u.stop = { msg, code }
    return nil
  end
  u.hashes[i] = sha
  local r = u.client:part_request(u.a, u.upload_id, i, u.ps, u.size, sha)
  local req, err
  req, msg, code, err = u.client.core:prepare(r)
  if not req then
    u.stop = { msg, code, err }
    return nil
  end
  u.running[j] = { i = i, r = r }
  return req
end

local function part_finished(u, j, res)
  local part = u.running[j]
  u.running[j] = nil
  local good = not res.error and u.client.core:judge_answer(part.r, res)
  if good then part_done(u, part.i, good) else u.failed[#u.failed + 1] = part end
end

-- The parts that failed in the pool, again one by one through request(),
-- which retries them as any call. -> true | nil, msg, code, err
local function retry_failed(u)
  for _, part in ipairs(u.failed) do
    local good, msg, code, err = u.client.core:request(part.r)
    if not good then return nil, msg, code, err end
    part_done(u, part.i, good)
  end
  u.failed = {}
  return true
end

-- Every part through one pool of `parallel` transfers (relrun.http.request_many
-- with a generator): as soon as a transfer finishes, the next part is
-- signed (SigV4 signatures last 15 minutes, so never before its transfer
-- starts) and started; one slow part never holds the others back, the way
-- aws cli's 10 workers run. The parts' sha256 (each signed as its
-- x-amz-content-sha256) and the file's come from relrun.hash.parts, which
-- reads the file once on its own thread, ahead of the transfers, so
-- hashing never stalls them. A part that fails goes again afterwards
-- through request(), which retries it as any call; after `parallel`
-- failures no new part starts until those went through.
-- -> etags, sha256 of the file (when given or wanted), the parts' sha256.
function Client:upload_parts(a, upload_id, size, ps)
  local want_whole = a.want_sha256 and not a.sha256
  local job <close>, herr, hcode = require("relrun.hash").parts(a.file, ps, { whole = want_whole })
  if not job then return nil, herr, hcode end
  local u = part_uploader(self, a, upload_id, size, ps, job)
  local function make(j) return next_part(u, j) end
  local function after(j, res) part_finished(u, j, res) end
  repeat
    self.core:send_many(make, { parallel = u.parallel, after = after })
    if u.stop then return nil, u.stop[1], u.stop[2], u.stop[3] end
    local again, msg, code, err = retry_failed(u)
    if not again then return nil, msg, code, err end
  until u.nextp > u.count
  if not want_whole then return u.etags, a.sha256, u.hashes end
  local whole, msg, code = job:whole()
  if not whole then return nil, msg, code end
  return u.etags, whole, u.hashes
end

local function complete_body(parts, hashes)
  local out = { '<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' }
  for i, etag in ipairs(parts) do
    out[#out + 1] = string.format("<Part><PartNumber>%d</PartNumber><ETag>%s</ETag>" ..
      "<ChecksumSHA256>%s</ChecksumSHA256></Part>", i, etag:gsub("&", "&amp;"):gsub('"', "&quot;"),
      b64_of_hex(hashes[i]))
  end
  out[#out + 1] = "</CompleteMultipartUpload>"
  return table.concat(out)
end

-- multipart_upload{ bucket, key, file, part_size, parallel, content_type, metadata,
-- sha256 (the file's, when known), want_sha256, on_progress = function(sent, total) }
-- -> { etag, sha256, parts = n }. sha256 is the one given, or with
-- want_sha256 computed in the same read as the parts'; otherwise nil: S3
-- checks every part against its signed sha256 already, and a second
-- digest of the whole file is CPU the upload itself does not need. Any
-- failure, returned or raised, aborts the upload so no parts linger (and
-- cost storage).
function Client:create_multipart_upload(a)
  local headers = headers_for(a)
  headers["x-amz-checksum-algorithm"] = "SHA256"
  local res, msg, code, err = self:send(a.bucket, a.key, { method = "POST", query = { uploads = "" },
    headers = headers, operation = "CreateMultipartUpload" })
  if not res then return nil, msg, code, err end
  local root = xml_of(res)
  local upload_id = root and core.xml_text(root, "UploadId")
  if not upload_id then return nil, "s3 CreateMultipartUpload answered without an UploadId", "MalformedResponse" end
  return upload_id
end

-- -> the CompleteMultipartUploadResult element | nil, msg, code, err.
function Client:complete_multipart_upload(a, upload_id, etags, hashes)
  local headers = { ["content-type"] = "application/xml" }
  if a.overwrite == false then headers["if-none-match"] = "*" end
  local res, msg, code, err = self:send(a.bucket, a.key, { method = "POST", query = { uploadId = upload_id },
    body = complete_body(etags, hashes), headers = headers,
    operation = "CompleteMultipartUpload", timeout = 600 })
  if not res then return nil, msg, code, err end
  -- S3 can answer 200 with an <Error> document to a Complete request.
  local done = xml_of(res)
  if done and done.name == "Error" then
    local c = core.xml_text(done, "Code")
    return nil, "s3 CompleteMultipartUpload failed: " .. tostring(c) .. ": " ..
      tostring(core.xml_text(done, "Message")), c
  end
  return done or { children = {} }, res
end

-- The size of the file at `path` | nil, msg, "ENOENT".
local function file_size(path)
  local f = io.open(path, "rb")
  if not f then return nil, "cannot read " .. path, "ENOENT" end
  local size = f:seek("end")
  f:close()
  return size
end

function Client:multipart_upload(a)
  local size, serr, scode = file_size(a.file)
  if not size then return nil, serr, scode end
  local upload_id, msg, code, err = self:create_multipart_upload(a)
  if not upload_id then return nil, msg, code, err end
  -- Abort on a raised error too (Ctrl-C, an on_progress callback), then
  -- re-raise. After Ctrl-C the abort still goes out (shielded): a second
  -- Ctrl-C stops it.
  local okp, etags, sha, hashes, perr = pcall(self.upload_parts, self, a, upload_id, size,
    part_size_for(size, a.part_size))
  if not okp then
    require("relrun.host").shielded(self.abort_multipart_upload, self,
      { bucket = a.bucket, key = a.key, upload_id = upload_id })
    error(etags, 0)
  end
  err = perr
  if etags then
    local done, res
    done, res, code, err = self:complete_multipart_upload(a, upload_id, etags, hashes)
    if done then
      return { etag = core.xml_text(done, "ETag") or res.headers.etag, sha256 = sha, parts = #etags,
               upload_id = upload_id }
    end
    msg = res
  else
    msg, code = sha, hashes
  end
  self:abort_multipart_upload{ bucket = a.bucket, key = a.key, upload_id = upload_id }
  return nil, msg .. " (the multipart upload was aborted)", code, err
end

-- After a conditional write found an object there (412): the same bytes
-- are success, other bytes a stop. Its sha256 metadata (relrun's uploads
-- carry one) against ours decides; when HeadObject is refused (RELEASE.md's
-- policy grants s3:PutObject only) or there is no sha256 to compare, a
-- PutObject conditional on the object's ETag being the MD5 of our bytes
-- succeeds only when the bytes are the same (a single-part object's ETag
-- is its MD5; an SSE-KMS one's is not, and is then reported as different).
function Client:same_object(a, multipart)
  local where = "s3://" .. a.bucket .. "/" .. a.key
  local other = where .. " already exists with other content%s: an object is never replaced; " ..
    "delete it or release a new version"
  local head, herr, hcode, e = self:head_object{ bucket = a.bucket, key = a.key }
  if head and head.metadata.sha256 and a.sha256 then
    if head.metadata.sha256 == a.sha256 then return { etag = head.etag, sha256 = a.sha256, status = "identical" } end
    return nil, other:format(string.format(" (sha256 %s, ours %s)", head.metadata.sha256, a.sha256)), "CONFLICT"
  end
  if not head and not (type(e) == "table" and e.status == 403) then return nil, where .. ": " .. herr, hcode, e end
  if multipart then
    return nil, where .. " already exists and cannot be compared with ours (s3:GetObject is not granted, or it " ..
      "has no sha256 metadata): it is never replaced; compare it by hand, delete it, or release a new version",
      "CONFLICT"
  end
  local digests, derr, dcode = require("relrun.hash").file(a.file, { "md5" })
  if not digests then return nil, derr, dcode end
  local again = setmetatable({ overwrite = true, if_match = '"' .. digests.md5 .. '"' }, { __index = a })
  local r, msg, code, err = self:put_object(again)
  if r then r.status = "identical" return r end
  if code == "PreconditionFailed" then return nil, other:format(" (its ETag is not the MD5 of ours)"), "CONFLICT" end
  return nil, msg, code, err
end

-- upload_file{ bucket, key, file, overwrite = true, ... } -> put_object
-- below the multipart threshold, multipart_upload above it -> { etag,
-- sha256, status = "uploaded" | "identical" }. With overwrite = false an
-- object already at the key is never replaced: the same bytes are
-- "identical", other bytes nil, msg, "CONFLICT" (same_object).
function Client:upload_file(a)
  local size, serr, scode = file_size(a.file)
  if not size then return nil, serr, scode end
  local multipart = size >= (a.multipart_threshold or M.MULTIPART_THRESHOLD)
  local r, msg, code, err
  if multipart then r, msg, code, err = self:multipart_upload(a) else r, msg, code, err = self:put_object(a) end
  if r then r.status = "uploaded" return r end
  if a.overwrite == false and code == "PreconditionFailed" then return self:same_object(a, multipart) end
  return nil, msg, code, err
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

-- list_multipart_uploads{ bucket } -> { { key, upload_id }, ... } in progress (first page).
function Client:list_multipart_uploads(a)
  local res, msg, code, err = self:send(a.bucket, nil, { method = "GET", query = { uploads = "" },
    operation = "ListMultipartUploads" })
  if not res then return nil, msg, code, err end
  local out = {}
  for _, u in ipairs(core.xml_all(xml_of(res), "Upload")) do
    out[#out + 1] = { key = core.xml_text(u, "Key"), upload_id = core.xml_text(u, "UploadId") }
  end
  return out
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
