-- RELEASE.md "Version Rollback" as a plan: each step checks whether it is
-- already rolled back, so a rerun does only what is left.
--
--   target    the version leaves the repository: DeletePackageVersions in
--             CodeArtifact (every failedVersions entry reported), or
--             --unlist / --archive; its files leave the local repository
--   tag       the tag is deleted here and on the remote (unless --keep-tag)
--   github-release, s3   with --release / --s3
--   journal   this machine's journal and built files of the version, so a
--             release of the same version later starts afresh
local steps = require "relrun.steps"
local errors = require "relrun.errors"
local fs = require "relrun.fs"
local targets = require "relrun.targets"

local M = {}

local function target_step(ctx, mode)
  local t = ctx.target
  local what = mode == "deleted" and "delete" or ("mark " .. mode)
  return { name = "target", does = string.format("%s %s %s in %s", what, ctx.project.package, ctx.version, t.label),
    effect = "took the version out of " .. t.label,
    check = function()
      local status = t:status(ctx.version)
      return status == "absent" or (mode ~= "deleted" and status == mode)
    end,
    run = function() errors.check(t:remove(ctx.version, mode)) end }
end

local function local_tag_step(ctx)
  local repo = ctx.project.repo
  return { name = "local-tag", does = "delete tag " .. ctx.tag .. " in this clone", effect = "deleted the local tag",
    check = function() return repo:rev_parse("refs/tags/" .. ctx.tag) == nil end,
    run = function()
      local good, err = repo:tag_delete(ctx.tag)
      if not good then errors.raise("GIT", "git tag -d " .. ctx.tag .. ": " .. tostring(err)) end
    end }
end

local function remote_tag_step(ctx)
  local repo, remote = ctx.project.repo, ctx.project.cfg.remote
  return { name = "remote-tag", does = "delete tag " .. ctx.tag .. " on " .. remote, effect = "deleted the remote tag",
    check = function()
      local refs, err = repo:ls_remote(remote)
      if not refs then errors.raise("REMOTE", "cannot list " .. remote .. ": " .. tostring(err)) end
      for _, r in ipairs(refs) do
        if r.name == "refs/tags/" .. ctx.tag then return false end
      end
      return true
    end,
    run = function()
      local good, err, code = repo:push(remote, { ":refs/tags/" .. ctx.tag })
      if not good then
        errors.raise("PUSH", string.format("git push %s --delete %s: %s [%s]", remote, ctx.tag, tostring(err), tostring(code)))
      end
    end }
end

local function github_step(ctx)
  local gh = errors.check(require("relrun.github").new{ repository = ctx.project:github_repository() })
  return { name = "github-release", does = "delete the GitHub Release " .. ctx.tag, effect = "deleted the GitHub Release",
    check = function()
      local rel, err = gh:release_by_tag(ctx.tag)
      if rel == nil then errors.raise(err) end
      return rel == false
    end,
    run = function()
      local rel = gh:release_by_tag(ctx.tag)
      if rel then errors.check(gh:delete_release(rel.id)) end
    end }
end

local function s3_step(ctx)
  local cfg = ctx.project.cfg
  if not cfg.bucket then errors.raise("USAGE", "--s3 needs S3_WHEELS_BUCKET", { exit = 2 }) end
  local s3copy = require "relrun.copies.s3"
  local function client()
    if not ctx.s3 then
      local provider = ctx.target.credentials and ctx.target:credentials() or nil
      ctx.s3 = errors.check(require("relrun.aws.s3").client{ region = cfg.region, credentials = provider })
    end
    return ctx.s3
  end
  return { name = "s3", does = "delete the files of " .. ctx.version .. " under s3://" .. cfg.bucket .. "/wheels/",
    effect = "deleted the S3 copies",
    check = function() return #errors.check(s3copy.objects(client(), cfg.bucket, ctx.version)) == 0 end,
    run = function()
      for _, o in ipairs(errors.check(s3copy.objects(client(), cfg.bucket, ctx.version))) do
        local good, err = client():delete_object{ bucket = cfg.bucket, key = o.key }
        if not good then errors.raise("S3", "deleting s3://" .. cfg.bucket .. "/" .. o.key .. ": " .. tostring(err)) end
      end
    end }
end

local function journal_step(ctx)
  local dir = ctx.project.dir
  local journal = fs.join(dir, ".relrun", "journal-" .. ctx.version .. ".json")
  local dist = fs.join(dir, ".relrun", "dist", ctx.version)
  return { name = "journal", does = "forget this machine's journal and built files of " .. ctx.version,
    check = function() return not fs.exists(journal) and not fs.exists(dist) end,
    run = function()
      errors.check(fs.remove(journal))
      errors.check(fs.remove(dist, { recursive = true }))
    end }
end

-- plan(ctx) -> plan. ctx: { project, opts = {unlist, archive, release, s3, keep_tag}, version, out }.
function M.plan(ctx)
  local p, o = ctx.project, ctx.opts
  p:require_package()
  ctx.tag = p:release_tag(ctx.version)
  ctx.target = targets.for_config(p.cfg)
  local mode = o.unlist and "Unlisted" or (o.archive and "Archived" or "deleted")
  local plan = steps.plan{ title = string.format("roll back %s %s", p.package, ctx.version), out = ctx.out,
                           command = ctx.command,
                           finished = string.format("Rolled back. To release again: relrun release " ..
                             "tag --version %s (or a new version), then publish.", ctx.version) }
  plan:add(target_step(ctx, mode))
  if not o.keep_tag then
    if not p.repo then errors.raise("NOT_A_REPO", p.dir .. " is not a git checkout", { hint = "pass --keep-tag" }) end
    plan:add(local_tag_step(ctx))
    plan:add(remote_tag_step(ctx))
  end
  if o.release then plan:add(github_step(ctx)) end
  if o.s3 then plan:add(s3_step(ctx)) end
  plan:add(journal_step(ctx))
  return plan
end

return M
