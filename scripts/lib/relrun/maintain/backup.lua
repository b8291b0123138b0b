-- relrun.maintain.backup: RELEASE.md "Review backup and disaster recovery
-- procedures", runnable. The backup is the S3 copy every release makes
-- (relrun.copies.s3: s3://BUCKET/wheels/FILE with its sha256 in the object's
-- metadata).
--
--   backup.check(ctx)     -- every file of every version the target still holds
--                         -- is in S3 with the same sha256, and every S3 file of
--                         -- the package is in the target -> findings
--   backup.restore_plan(ctx)  -- a version from S3 back into the target (a new
--                         -- or emptied repository), hash-checked: a relrun.steps plan
--
-- ctx: { project, target, rows (relrun.maintain.versions.collect), version, out, command }.
local errors = require "relrun.errors"
local steps = require "relrun.steps"
local metadata = require "relrun.pypi.metadata"
local hash = require "relrun.hash"
local fs = require "relrun.fs"

local M = {}

local PREFIX = require("relrun.copies.s3").PREFIX

local function bucket_of(ctx)
  local bucket = ctx.project.cfg.bucket
  if not bucket then
    errors.raise("USAGE", "no backup bucket: set S3_WHEELS_BUCKET (RELEASE.md \"S3 Bucket for Wheel Storage\")",
      { exit = 2 })
  end
  return bucket
end

M.client = require("relrun.copies.s3").client

-- The package's files under wheels/, with the sha256 their metadata records:
-- { [filename] = { key, size, sha256, version } }.
function M.s3_files(ctx, version)
  local bucket = bucket_of(ctx)
  local s3 = M.client(ctx)
  local list, err = s3:list_objects{ bucket = bucket, prefix = PREFIX }
  if not list then errors.raise("S3", "listing s3://" .. bucket .. "/" .. PREFIX .. ": " .. tostring(err)) end
  local mine = metadata.normalize(ctx.project.package)
  local out = {}
  for _, o in ipairs(list) do
    local name = o.key:sub(#PREFIX + 1)
    local parsed = metadata.parse_filename(name)
    if parsed and metadata.normalize(parsed.name) == mine and (not version or parsed.version == version) then
      local head, herr = s3:head_object{ bucket = bucket, key = o.key }
      if not head then errors.raise("S3", "s3://" .. bucket .. "/" .. o.key .. ": " .. tostring(herr)) end
      out[name] = { key = o.key, size = o.size, sha256 = head.metadata.sha256, version = parsed.version }
    end
  end
  return out
end

-- compare(held, copies) -> findings { ok = n, missing, differs, unrecorded, orphans }, each
-- a sorted list of { filename, version, ... }. held: the target's files by
-- name; copies: s3_files().
function M.compare(held, copies)
  local f = { ok = 0, missing = {}, differs = {}, unrecorded = {}, orphans = {} }
  for name, h in pairs(held) do
    local c = copies[name]
    if not c then
      f.missing[#f.missing + 1] = { filename = name, version = h.version, sha256 = h.sha256 }
    elseif not c.sha256 then
      f.unrecorded[#f.unrecorded + 1] = { filename = name, version = h.version, sha256 = h.sha256 }
    elseif c.sha256 ~= h.sha256 then
      f.differs[#f.differs + 1] = { filename = name, version = h.version, sha256 = h.sha256, s3_sha256 = c.sha256 }
    else
      f.ok = f.ok + 1
    end
  end
  for name, c in pairs(copies) do
    if not held[name] then f.orphans[#f.orphans + 1] = { filename = name, version = c.version, s3_sha256 = c.sha256 } end
  end
  for _, list in pairs{ f.missing, f.differs, f.unrecorded, f.orphans } do
    table.sort(list, function(a, b) return a.filename < b.filename end)
  end
  f.problems = #f.missing + #f.differs + #f.unrecorded + #f.orphans
  return f
end

-- The files the target holds: every version that is not Disposed.
function M.held(rows)
  local out = {}
  for _, r in ipairs(rows) do
    for _, file in ipairs(r.status ~= "Disposed" and r.files or {}) do
      out[file.filename] = { version = r.version, sha256 = file.sha256, status = r.status }
    end
  end
  return out
end

-- check(ctx) -> findings.
function M.check(ctx)
  return M.compare(M.held(ctx.rows), M.s3_files(ctx))
end

-- The findings as lines a user reads.
function M.lines(f, bucket, label)
  local out = {}
  for _, m in ipairs(f.missing) do
    out[#out + 1] = string.format("  missing in S3:   %s (%s) is in %s, not in s3://%s/%s", m.filename, m.version,
      label, bucket, PREFIX)
  end
  for _, d in ipairs(f.differs) do
    out[#out + 1] = string.format("  differs:         %s: %s has sha256 %s, S3 records %s", d.filename, label, d.sha256,
      d.s3_sha256)
  end
  for _, u in ipairs(f.unrecorded) do
    out[#out + 1] = string.format("  no sha256 in S3: %s has no sha256 metadata, so the copy cannot be checked",
      u.filename)
  end
  for _, o in ipairs(f.orphans) do
    out[#out + 1] = string.format("  only in S3:      %s (%s): `relrun maintain restore %s` puts it back",
      o.filename, o.version, o.version)
  end
  return out
end

---------------------------------------------------------------------------
-- restore VERSION
---------------------------------------------------------------------------

local function copies_step(ctx)
  return { name = "s3-copy", kind = "check", does = "find the S3 copy of " .. ctx.version,
    run = function()
      local files = M.s3_files(ctx, ctx.version)
      local list = {}
      for name, c in pairs(files) do
        if not c.sha256 then
          errors.raise("NO_SHA256", "s3://" .. bucket_of(ctx) .. "/" .. c.key .. " has no sha256 metadata: it " ..
            "cannot be checked", { hint = "restore from a copy relrun made, or add the metadata after checking it" })
        end
        list[#list + 1] = { filename = name, key = c.key, sha256 = c.sha256, version = ctx.version }
      end
      if #list == 0 then
        errors.raise("NO_BACKUP", string.format("no file of %s %s under s3://%s/%s", ctx.project.package, ctx.version,
          bucket_of(ctx), PREFIX), { hint = "`relrun maintain backup` lists what S3 holds", exit = 1,
          rerun = false })
      end
      table.sort(list, function(a, b) return a.filename < b.filename end)
      ctx.files = list
      return { files = list, outcome = #list .. " file(s)" }
    end }
end

-- Downloads go to .relrun/restore/VERSION/, each checked against the sha256
-- S3 records before anything is published.
local function download_step(ctx)
  local dir = fs.join(ctx.project.dir, ".relrun", "restore", ctx.version)
  return { name = "download", kind = "local", does = "download them and check each sha256",
    check = function()
      for _, f in ipairs(ctx.files or {}) do
        local d = fs.exists(fs.join(dir, f.filename)) and hash.file(fs.join(dir, f.filename), { "sha256" })
        if not d or d.sha256 ~= f.sha256 then return false end
      end
      return ctx.files ~= nil, nil, "downloaded and checked"
    end,
    run = function()
      errors.check(fs.mkdir(dir))
      for _, f in ipairs(ctx.files) do
        local path = fs.join(dir, f.filename)
        local got, err = M.client(ctx):get_object{ bucket = bucket_of(ctx), key = f.key, output = path }
        if not got then errors.raise("S3", "downloading s3://" .. bucket_of(ctx) .. "/" .. f.key .. ": " .. tostring(err)) end
        local d = hash.file(path, { "sha256" })
        if not d or d.sha256 ~= f.sha256 then
          fs.remove(path)
          errors.raise("BACKUP_CORRUPT", string.format("s3://%s/%s has sha256 %s, its metadata says %s: not restored",
            bucket_of(ctx), f.key, d and d.sha256 or "?", f.sha256), { rerun = false,
            hint = "the copy is damaged: restore from another copy (the GitHub Release) or release a new version" })
        end
      end
      return { dir = dir, outcome = #ctx.files .. " file(s) match their sha256" }
    end }
end

local function publish_step(ctx)
  local t = ctx.target
  local dir = fs.join(ctx.project.dir, ".relrun", "restore", ctx.version)
  local function state()
    local held = {}
    for _, f in ipairs(t:files(ctx.version)) do held[f.filename] = f.sha256 end
    local todo = {}
    for _, f in ipairs(ctx.files or {}) do
      if held[f.filename] and held[f.filename] ~= f.sha256 then
        errors.raise("CONFLICT", string.format("%s already holds %s with sha256 %s, the backup has %s", t.label,
          f.filename, held[f.filename], f.sha256), { rerun = false, hint = require("relrun.targets.base").CONFLICT_HINT })
      end
      if not held[f.filename] then todo[#todo + 1] = f end
    end
    return todo
  end
  return { name = "publish", does = "publish them to " .. t.label, effect = "published files to " .. t.label,
    check = function()
      if not ctx.files then return false end
      local todo = state()
      return #todo == 0, nil, #todo > 0 and string.format("will publish %d file(s)", #todo) or nil
    end,
    run = function()
      t:connect()
      for _, f in ipairs(state()) do
        local file = { path = fs.join(dir, f.filename), filename = f.filename, sha256 = f.sha256, version = ctx.version }
        errors.check(t:publish(file))
        t:forget(ctx.version)
      end
      return { outcome = #ctx.files .. " file(s) in " .. t.label }
    end }
end

local function verify_step(ctx)
  local t = ctx.target
  return { name = "verify", kind = "check", does = "check the repository holds the backup's bytes",
    run = function()
      if ctx.dry_run then return { outcome = "after publishing" } end
      t:forget(ctx.version)
      local held = {}
      for _, f in ipairs(t:files(ctx.version)) do held[f.filename] = f.sha256 end
      for _, f in ipairs(ctx.files) do
        if held[f.filename] ~= f.sha256 then
          errors.raise("RESTORE_MISMATCH", string.format("%s: %s holds sha256 %s, the backup %s", f.filename, t.label,
            tostring(held[f.filename]), f.sha256))
        end
      end
      return { outcome = "every sha256 matches" }
    end }
end

-- restore_plan(ctx) -> plan. ctx.version: the version to put back.
function M.restore_plan(ctx)
  bucket_of(ctx)
  local plan = steps.plan{
    title = string.format("restore %s %s from s3://%s/%s into %s", ctx.project.package, ctx.version,
      ctx.project.cfg.bucket, PREFIX, ctx.target.label), out = ctx.out, command = ctx.command,
    journal = fs.join(ctx.project.dir, ".relrun", "restore-" .. ctx.version .. ".json"),
    bind = { version = ctx.version, commit = "restore", tree = ctx.target.label },
    finished = string.format("Restored %s %s into %s.", ctx.project.package, ctx.version, ctx.target.label) }
  plan:add(copies_step(ctx))
  plan:add(download_step(ctx))
  plan:add(publish_step(ctx))
  plan:add(verify_step(ctx))
  return plan
end

return M
