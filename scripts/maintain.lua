-- relrun maintain COMMAND — RELEASE.md "Maintenance", runnable.
--
--   versions   "Monitor CodeArtifact storage costs": every version in the
--              target with status, kind, publish time and size; total storage
--              and the month's estimate at [tool.relrun] storage_price
--   prune      "cleanup old versions if needed": the retention policy
--              ([tool.relrun.retention] or flags) shown as a plan, then applied
--              (dispose / delete / unlist / archive), journaled; --dry-run
--              changes nothing
--   backup     "Review backup and disaster recovery procedures": every file
--              the target holds is in s3://$S3_WHEELS_BUCKET/wheels/ with the
--              same sha256, and every S3 file of the package is in the target
--              (exit 3 when not)
--   restore V  the disaster recovery: version V from the S3 copy back into a
--              new or emptied repository, each file's sha256 checked (a plan)
--   actions    "Update GitHub Actions versions in workflows": every `uses:`,
--              tags and branches flagged (exit 3), the commit each names, newer
--              releases; --pin rewrites them to owner/repo@<sha> # vX.Y.Z
--   deps       "Review and update dependencies quarterly" and "Review and
--              update Python version support": requirements against the
--              target's index (newer versions excluded, unpinned, over-pinned),
--              requires-python and classifiers against Python's end-of-life
--              dates (warned six months ahead); exit 3 on a warning
-- Under GitHub Actions the versions table also goes to the step summary.
-- Exit 0: done; 2: a usage error or a malformed policy; 1: a failure (the
-- plan says what was done and what to rerun).
local cli = require "relrun.cli"
local errors = require "relrun.errors"
local project = require "relrun.project"
local targets = require "relrun.targets"
local json = require "relrun.json"
local log = require "relrun.log"
local fs = require "relrun.fs"
local versions = require "relrun.maintain.versions"
local backup = require "relrun.maintain.backup"
local actions = require "relrun.maintain.actions"
local deps = require "relrun.maintain.deps"
local prune = require "relrun.maintain.prune"

local function whole(name)
  return function(v) return (v:match("^%d+$") and true) or nil, name .. " is a whole number" end
end

local spec = {
  prog = "maintain",
  summary = "RELEASE.md's Maintenance: versions and storage, retention, backup and recovery.",
  commands = {
    { "versions", "every version in the target: status, kind, publish time, size; storage and its monthly cost" },
    { "prune", "remove versions per the retention policy ([tool.relrun.retention] or the flags below)" },
    { "backup", "check every version's files are in s3://$S3_WHEELS_BUCKET/wheels/ with the same sha256, and the reverse" },
    { "restore", "publish VERSION back into the repository from its S3 copy, hash-checked" },
    { "actions", "every `uses:` of .github/workflows: tags and branches, their commits, newer releases (--pin)" },
    { "deps", "requirements against the target's index; requires-python and classifiers against Python's EOL" },
  },
  args = { { "VERSION", "restore: the version to put back" } },
  options = {
    { "--project", arg = "DIR", help = "the Python project's folder (default: here, or the nearest folder up with one)" },
    { "--json", help = "print one JSON document instead of the table" },
    { "--repository-dir", arg = "DIR", help = "the local repository folder (when CodeArtifact is not set)" },
    { "--price", arg = "USD", help = "storage price per GB-month (default: storage_price, $0.05)" },
    { "--keep-dev", arg = "N", check = whole("--keep-dev"), help = "prune: keep the newest N dev versions" },
    { "--older-than", arg = "DAYS", check = whole("--older-than"),
      help = "prune: remove dev versions older than DAYS (beyond the newest --keep-dev)" },
    { "--include-finals", help = "prune: final, pre- and post-releases too (never the latest final)" },
    { "--action", arg = "ACTION", choices = { "dispose", "delete", "unlist", "archive" },
      help = "prune: what happens to a version (default: retention.action, dispose)" },
    { "--s3", help = "prune: also delete the pruned versions' files under s3://$S3_WHEELS_BUCKET/wheels/" },
    { "--package", arg = "NAME", help = "versions, prune, backup, restore, deps: another package of the same " ..
      "repository (prune: the versions the project's latest final requires are kept)" },
    { "--pin", help = "actions: rewrite tag and branch refs to owner/repo@<sha> # vX.Y.Z" },
    { "--git-url", arg = "URL", default = "https://github.com/",
      help = "actions: where action repositories are (URL + owner/repo, for git ls-remote)" },
    { "--today", arg = "DATE", check = function(v) return v:match("^%d%d%d%d%-%d%d%-%d%d$") ~= nil, "DATE is YYYY-MM-DD" end,
      help = "deps: judge end-of-life dates as on DATE (YYYY-MM-DD), to plan ahead" },
    { "-n", "--dry-run", help = "show the plan, change nothing" },
    { "-y", "--yes", help = "do not ask for confirmation" },
  },
}

local opts = cli.parse_or_exit(spec, arg)
if opts.command ~= "restore" and opts.args[1] then
  errors.raise("USAGE", string.format("maintain %s: unexpected argument %q (try --help)", opts.command, opts.args[1]),
    { exit = 2 })
end
local flags = { package = opts.package, repository_dir = opts.repository_dir, storage_price = opts.price,
                keep_dev = opts.keep_dev, older_than_days = opts.older_than, include_finals = opts.include_finals or nil,
                retention_action = opts.action, prune_s3 = opts.s3 or nil }
local p = errors.check(project.open{ dir = opts.project, flags = flags, need_repo = false })
local target
if opts.command ~= "actions" then
  p:require_package()
  target = targets.for_config(p.cfg)
end

-- Ask on a terminal; elsewhere --yes says it.
local function confirm(question)
  if opts.yes then return end
  if not fs.isatty(0) then
    errors.raise("USAGE", "not a terminal: pass --yes to go ahead without a question", { exit = 2 })
  end
  io.stdout:write(question, " [y/N] ")
  io.stdout:flush()
  if not (io.stdin:read("l") or ""):lower():find("^y") then errors.raise("CANCELLED", "cancelled: nothing was changed") end
end

-- versions: the table (or --json), and under Actions the step summary.
local function list_versions()
  local rows = versions.collect(target)
  local sum = versions.totals(rows, p.cfg.storage_price)
  if opts.json then
    print(json.encode(versions.document(rows, sum, target)))
  else
    print(string.format("%s in %s:", p.package, target.label))
    for _, line in ipairs(versions.text(rows, sum)) do print(line) end
  end
  log.summary(versions.markdown(rows, sum, target.label))
  return 0
end

-- The versions of the pruned package that the project's own latest final
-- requires (relrun.maintain.prune.protected): its requirements from the target.
local function required_by_latest_final(rows)
  local own = type(p.py) == "table" and type(p.py.project) == "table" and p.py.project.name or p.package
  local own_target, own_rows = target, rows
  if own ~= p.package then
    local cfg = setmetatable({ package = own }, { __index = p.cfg })
    own_target = targets.for_config(cfg)
    own_rows = versions.collect(own_target)
  end
  local final = prune.latest_final(own_rows)
  if not final then return {} end
  return prune.protected(rows, own_target:requires(final), p.package, own .. " " .. final)
end

-- prune: the policy, each version's verdict, the plan, then the run.
local function prune_versions()
  local policy = errors.check(prune.policy(p.cfg.retention))
  if not target.MODES[policy.mode] then
    errors.raise("USAGE", string.format("%s cannot %s a version", target.label, policy.action),
      { hint = "use --action dispose or --action delete", exit = 2 })
  end
  local ctx = { project = p, target = target, policy = policy, rows = versions.collect(target), now = os.time(),
                command = cli.command_line(arg), out = not opts.json and print or function() end }
  ctx.protected = required_by_latest_final(ctx.rows)
  local plan, decisions = prune.plan(ctx)
  if not opts.json then
    print(string.format("Retention for %s in %s:", p.package, target.label))
    for _, line in ipairs(prune.lines(decisions, policy)) do print(line) end
  end
  local todo = #ctx.remove > 0 or (policy.s3 and #ctx.pruned > 0)
  local good, err
  if opts.dry_run or not todo then
    good, err = plan:run(ctx, { dry_run = true })
  else
    confirm(string.format("%s %d version(s)?", policy.action, #ctx.remove))
    good, err = plan:run(ctx)
  end
  if opts.json then
    local list = {}
    for i, d in ipairs(decisions) do list[i] = { version = d.row.version, status = d.row.status, kind = d.row.kind,
                                                  action = d.action, why = d.why } end
    print(json.encode{ target = target.label, dry_run = opts.dry_run or false, policy = policy,
                       decisions = json.array(list), ok = good or false, error = err and tostring(err) or nil })
  end
  if not good then errors.raise(err) end
  return 0
end

-- backup: the target against its S3 copy, both ways.
local function check_backup()
  local ctx = { project = p, target = target, rows = versions.collect(target) }
  local f = backup.check(ctx)
  if opts.json then
    f.target, f.bucket = target.label, p.cfg.bucket
    for _, k in ipairs({ "missing", "differs", "unrecorded", "orphans" }) do f[k] = json.array(f[k]) end
    print(json.encode(f))
  else
    print(string.format("%s in %s against s3://%s/wheels/:", p.package, target.label, p.cfg.bucket))
    for _, line in ipairs(backup.lines(f, p.cfg.bucket, target.label)) do print(line) end
    print(string.format("%d file(s) backed up with the same sha256; %d problem(s)", f.ok, f.problems))
  end
  return f.problems > 0 and 3 or 0
end

-- restore VERSION: a plan, as a release is.
local function restore_version()
  local given = opts.args[1]
  if not given then errors.raise("USAGE", "restore needs the VERSION to put back (e.g. 1.2.3)", { exit = 2 }) end
  local v = require("relrun.pep440").parse(given)
  if not v then errors.raise("USAGE", string.format("'%s' is not a PEP 440 version", given), { exit = 2 }) end
  local ctx = { project = p, target = target, version = tostring(v), command = cli.command_line(arg), out = print,
                dry_run = opts.dry_run }
  local plan = backup.restore_plan(ctx)
  if not opts.dry_run then confirm(string.format("publish %s %s into %s?", p.package, ctx.version, target.label)) end
  local good, err = plan:run(ctx, { dry_run = opts.dry_run })
  if not good then errors.raise(err) end
  return 0
end

-- One `uses:` as a line of the report.
local function use_line(f, u)
  local where = string.format("%s:%d", f.shown, u.line)
  if u.unversioned then return string.format("  %-40s %s: no @ref (unversioned)", where, u.value) end
  local found = u.kind == "unknown" and ("not found" .. (u.error and (": " .. u.error) or ""))
    or string.format("%s → %s (%s)", u.kind, u.sha:sub(1, 12), u.pin_comment)
  local newer = u.newer and ("; newer release: " .. u.latest) or ""
  return string.format("  %-40s %s  %s%s", where, u.value, found, newer)
end

-- actions: the report, then with --pin the rewrite of each file.
local function check_actions()
  local files = errors.check(actions.read(p.root or p.dir))
  actions.resolve(files, { git_url = opts.git_url })
  local flagged, pinned, list = 0, 0, {}
  for _, f in ipairs(files) do
    for _, u in ipairs(f.uses) do
      if actions.unpinned(u) or u.kind == "unknown" or u.unversioned then flagged = flagged + 1 end
      list[#list + 1] = { file = f.shown, line = u.line, uses = u.value, kind = u.kind or "unversioned", sha = u.sha,
                          tag = u.pin_comment, latest = u.latest, newer = u.newer or false }
      if not opts.json then print(use_line(f, u)) end
    end
    if opts.pin then
      local text, n = actions.pin(f)
      if n > 0 then errors.check(fs.write(f.path, text)) end
      pinned = pinned + n
    end
  end
  if opts.json then
    print(json.encode{ uses = json.array(list), flagged = flagged, pinned = pinned })
  else
    print(string.format("%d uses in %d workflow file(s); %d not pinned to a commit%s", #list, #files, flagged,
      opts.pin and string.format("; %d pinned now", pinned) or " (--pin pins them)"))
  end
  return flagged - pinned > 0 and 3 or 0
end

-- The versions the target's index has of a project: { "1.2.3", ... } | nil, why.
local function index_versions(name)
  local index, metadata = require("relrun.pypi.index"), require("relrun.pypi.metadata")
  target:connect()
  local files, err = index.files(target:index_url(), name, { headers = target:index_headers() })
  if not files then return nil, err end
  if #files == 0 then return nil, "not in " .. target.label end
  local seen, out = {}, {}
  for _, f in ipairs(files) do
    local parsed = metadata.parse_filename(f.filename)
    if parsed and not seen[parsed.version] then seen[parsed.version], out[#out + 1] = true, parsed.version end
  end
  return out
end

-- deps: requirements, then Python support.
local function check_deps()
  local now = os.time()
  if opts.today then
    local y, m, d = opts.today:match("^(%d+)-(%d+)-(%d+)$")
    now = os.time{ year = tonumber(y), month = tonumber(m), day = tonumber(d), hour = 12 }
  end
  local findings = deps.check_requirements(deps.requirements(p.py), index_versions)
  local python, rp = deps.check_python(p.py, now)
  table.move(python, 1, #python, #findings + 1, findings)
  local warnings = 0
  for _, f in ipairs(findings) do if f.level == "warn" then warnings = warnings + 1 end end
  if opts.json then
    print(json.encode{ findings = json.array(findings), requires_python = rp, warnings = warnings,
                       eol_table_written = deps.EOL_WRITTEN, index = target.label })
  else
    print(string.format("%s: requirements against %s; Python support as on %s (EOL table of %s):", p.package,
      target.label, os.date("!%Y-%m-%d", now), deps.EOL_WRITTEN))
    for _, f in ipairs(findings) do print(string.format("  %-5s %s: %s", f.level, f.subject, f.message)) end
    print(string.format("%d warning(s), %d note(s)", warnings, #findings - warnings))
  end
  return warnings > 0 and 3 or 0
end

local COMMANDS = { versions = list_versions, prune = prune_versions, backup = check_backup, restore = restore_version,
                   actions = check_actions, deps = check_deps }
return COMMANDS[opts.command]()
