-- relrun.maintain.prune: RELEASE.md "cleanup old versions if needed" — the
-- retention policy, which versions it removes and why, and the plan that
-- removes them (relrun.steps: shown, dry run, journaled, a rerun converges).
--
--   local prune = require "relrun.maintain.prune"
--   local policy = errors.check(prune.policy(cfg.retention))
--   local decisions = prune.decide(rows, policy, os.time())   -- rows: relrun.maintain.versions.collect
--   local plan = prune.plan(ctx)                              -- ctx: { target, rows, policy, project, command }
--
-- The policy: the newest `keep_dev` dev versions stay; beyond them, a dev
-- version goes when it is older than `older_than_days` (or at once when no
-- age is set); with only an age, every dev version older than it goes.
-- Final, pre- and post-releases are never touched unless `include_finals`,
-- and then the same rules apply to them, counted among themselves. The
-- latest final release is never removed, nor the version of the pruned
-- package the project's latest final requires (what installing it resolves
-- to: the newest version its specifier allows). A version whose name is not
-- PEP 440 is left alone.
local errors = require "relrun.errors"
local pep440 = require "relrun.pep440"
local steps = require "relrun.steps"
local fs = require "relrun.fs"

local M = {}

-- What each action does in a target's remove(), and the status it leaves.
M.MODES = { dispose = "Disposed", delete = "deleted", unlist = "Unlisted", archive = "Archived" }

local DAY = 86400

-- policy(retention settings) -> { keep_dev, older_than_days, include_finals, action, mode, s3 } | nil, err.
function M.policy(r)
  r = r or {}
  if r.keep_dev == nil and r.older_than_days == nil then
    return nil, errors.new("NO_POLICY", "no retention policy: nothing says which versions to keep",
      { hint = "set keep_dev and/or older_than_days in [tool.relrun.retention], or pass --keep-dev N / " ..
               "--older-than DAYS", exit = 2 })
  end
  local action = r.action or "dispose"
  return { keep_dev = r.keep_dev and math.tointeger(r.keep_dev), older_than_days = r.older_than_days,
           include_finals = r.include_finals or false, action = action, mode = M.MODES[action], s3 = r.s3 or false }
end

-- The status a version has once the action is done to it (nil: it is gone).
local function done_status(mode)
  return mode ~= "deleted" and mode or nil
end

-- Newest first: publish time, then PEP 440 order.
local function newest_first(a, b)
  if (a.published or 0) ~= (b.published or 0) then return (a.published or 0) > (b.published or 0) end
  return pep440.compare(a.version, b.version) > 0
end

-- The latest final release (by PEP 440), which always stays.
local function latest_final(rows)
  local best
  for _, r in ipairs(rows) do
    if r.kind == "final" and r.status ~= "Disposed" and (not best or pep440.compare(r.version, best.version) > 0) then
      best = r
    end
  end
  return best
end

-- One group's verdicts (rows newest first): keep the newest N, then the age.
local function judge_group(group, policy, now, out)
  for i, r in ipairs(group) do
    local keep, why
    if policy.keep_dev and i <= policy.keep_dev then
      keep, why = true, string.format("among the newest %d", policy.keep_dev)
    elseif policy.older_than_days and not r.published then
      keep, why = true, "publish time unknown"
    elseif policy.older_than_days and now - r.published < policy.older_than_days * DAY then
      keep, why = true, string.format("younger than %d days", policy.older_than_days)
    elseif policy.older_than_days then
      keep, why = false, string.format("older than %d days", policy.older_than_days)
    else
      keep, why = false, string.format("beyond the newest %d", policy.keep_dev)
    end
    out[r.version] = { keep = keep, why = why }
  end
end

-- decide(rows, policy, now) -> decisions in the rows' order:
-- { row, action = "keep" | "remove" | "done", why }. "done": the policy
-- removes it and it already is (a rerun after a kill).
function M.decide(rows, policy, now, protected)
  protected = protected or {}
  local final = latest_final(rows)
  local groups = { dev = {}, release = {} }
  for _, r in ipairs(rows) do
    if r.kind == "dev" then table.insert(groups.dev, r)
    elseif r.kind ~= "invalid" and policy.include_finals and r ~= final then table.insert(groups.release, r) end
  end
  local verdicts = {}
  for _, g in pairs(groups) do
    table.sort(g, newest_first)
    judge_group(g, policy, now, verdicts)
  end
  local out = {}
  for _, r in ipairs(rows) do
    local v = verdicts[r.version]
    local d = { row = r }
    if r == final then d.action, d.why = "keep", "the latest final release"
    elseif protected[r.version] then d.action, d.why = "keep", protected[r.version]
    elseif r.kind == "invalid" then d.action, d.why = "keep", "not a PEP 440 version"
    elseif not v then d.action, d.why = "keep", r.kind .. " release (--include-finals to prune these)"
    elseif v.keep then d.action, d.why = "keep", v.why
    elseif r.status == done_status(policy.mode) then d.action, d.why = "done", v.why .. "; already " .. r.status
    elseif r.status == "Disposed" then d.action, d.why = "keep", v.why .. "; Disposed, nothing left to " .. policy.action
    else d.action, d.why = "remove", v.why end
    out[#out + 1] = d
  end
  return out
end

-- protected(rows, requires, name, by) -> { [version] = why }: for each of
-- `requires` (PEP 508 strings of `by`, the project's latest final) that names
-- the pruned package `name`, the newest of its versions the specifier
-- allows — a final one when any is allowed — is kept.
function M.protected(rows, requires, name, by)
  local deps = require "relrun.maintain.deps"
  local normalize = require("relrun.pypi.metadata").normalize
  local out = {}
  for _, text in ipairs(requires) do
    local req = deps.parse_requirement(text)
    if req and normalize(req.name) == normalize(name) then
      local best
      for _, r in ipairs(rows) do
        if r.status ~= "Disposed" and r.kind ~= "invalid" and deps.allows(req.specs, r.version) then
          local better = not best or ((r.kind == "final") == (best.kind == "final") and
            pep440.compare(r.version, best.version) > 0) or (r.kind == "final" and best.kind ~= "final")
          if better then best = r end
        end
      end
      if best then out[best.version] = string.format("%s requires %s", by, text) end
    end
  end
  return out
end

-- The project's latest final version among rows (nil when there is none).
function M.latest_final(rows)
  local r = latest_final(rows)
  return r and r.version
end

-- The versions decisions remove, and those already done.
function M.chosen(decisions)
  local remove, done = {}, {}
  for _, d in ipairs(decisions) do
    if d.action == "remove" then remove[#remove + 1] = d.row.version end
    if d.action == "done" then done[#done + 1] = d.row.version end
  end
  return remove, done
end

-- lines(decisions, policy) -> the plan a user reads before anything happens.
function M.lines(decisions, policy)
  local verb = { keep = "keep  ", remove = policy.action, done = "done  " }
  local out = {}
  for _, d in ipairs(decisions) do
    out[#out + 1] = string.format("  %-8s %-28s %-10s %-6s %s", verb[d.action], d.row.version, d.row.status,
      d.row.kind, d.why)
  end
  return out
end

-- The target step: every chosen version through target:dispose. Its check
-- asks the target again, so a rerun after a kill does only what is left.
local function target_step(ctx)
  local t, policy = ctx.target, ctx.policy
  local function left()
    local rows = require("relrun.maintain.versions").collect(t)
    local remove = M.chosen(M.decide(rows, policy, ctx.now, ctx.protected))
    return remove
  end
  return { name = "target", does = string.format("%s %d version(s) in %s", policy.action, #ctx.remove, t.label),
    effect = "removed versions from " .. t.label,
    check = function()
      ctx.left = left()
      return #ctx.left == 0, nil, #ctx.left > 0 and string.format("will %s %d", policy.action, #ctx.left) or nil
    end,
    run = function()
      local remaining = ctx.left or left()
      errors.check(t:dispose(remaining, policy.mode))
      return { versions = remaining, outcome = string.format("%s %d version(s)", policy.action, #remaining) }
    end }
end

-- The files under s3://BUCKET/wheels/ of the pruned versions.
local function s3_objects(ctx, s3)
  local metadata = require "relrun.pypi.metadata"
  local bucket = ctx.project.cfg.bucket
  local prefix = require("relrun.copies.s3").PREFIX
  local list, err = s3:list_objects{ bucket = bucket, prefix = prefix }
  if not list then errors.raise("S3", "listing s3://" .. bucket .. "/" .. prefix .. ": " .. tostring(err)) end
  local wanted = {}
  for _, v in ipairs(ctx.pruned) do wanted[v] = true end
  local out = {}
  for _, o in ipairs(list) do
    local parsed = metadata.parse_filename(o.key:sub(#prefix + 1))
    if parsed and wanted[parsed.version] and metadata.normalize(parsed.name) == metadata.normalize(ctx.project.package) then
      out[#out + 1] = o.key
    end
  end
  return out
end

local function s3_step(ctx)
  local bucket = ctx.project.cfg.bucket
  if not bucket then
    errors.raise("USAGE", "retention.s3 (--s3) needs the bucket: set S3_WHEELS_BUCKET", { exit = 2 })
  end
  local function client()
    ctx.s3 = ctx.s3 or errors.check(require("relrun.aws.s3").client{ region = ctx.project.cfg.region,
      credentials = ctx.target.credentials and ctx.target:credentials() or nil })
    return ctx.s3
  end
  return { name = "s3", does = "delete their files under s3://" .. bucket .. "/wheels/", effect = "deleted S3 copies",
    check = function()
      local keys = s3_objects(ctx, client())
      return #keys == 0, nil, #keys > 0 and string.format("will delete %d object(s)", #keys) or nil
    end,
    run = function()
      local keys = s3_objects(ctx, client())
      for _, k in ipairs(keys) do
        local good, err = client():delete_object{ bucket = bucket, key = k }
        if not good then errors.raise("S3", "deleting s3://" .. bucket .. "/" .. k .. ": " .. tostring(err)) end
      end
      return { keys = keys, outcome = #keys .. " object(s) deleted" }
    end }
end

-- plan(ctx) -> the prune plan. ctx: { project, target, policy, rows, now,
-- protected (M.protected), command, out }.
-- ctx.pruned: every version the policy removes (to remove now, or done).
function M.plan(ctx)
  local decisions = M.decide(ctx.rows, ctx.policy, ctx.now, ctx.protected)
  ctx.remove, ctx.done = M.chosen(decisions)
  ctx.pruned = table.move(ctx.done, 1, #ctx.done, #ctx.remove + 1, table.move(ctx.remove, 1, #ctx.remove, 1, {}))
  local p = ctx.policy
  local plan = steps.plan{
    title = string.format("prune %s in %s", ctx.project.package, ctx.target.label), out = ctx.out,
    command = ctx.command, journal = fs.join(ctx.project.dir, ".relrun", "maintain-prune.json"),
    -- a journal of another target or policy is not trusted
    bind = { version = "prune", commit = ctx.target.label,
             tree = string.format("%s/%s/%s/%s", tostring(p.keep_dev), tostring(p.older_than_days),
                                  tostring(p.include_finals), p.action) },
    finished = "Pruned: " .. #ctx.pruned .. " version(s) per the retention policy." }
  plan:add(target_step(ctx))
  if p.s3 then plan:add(s3_step(ctx)) end
  return plan, decisions
end

return M
