-- relrun rollback VERSION — RELEASE.md "Version Rollback".
--
-- The version leaves the repository (CodeArtifact: DeletePackageVersions,
-- or --unlist / --archive; the local repository: its files), its tag is
-- deleted here and on the remote, and with --release / --s3 the GitHub
-- Release and the S3 copies go too; this machine's journal and built files
-- of the version are forgotten, so releasing it again starts afresh. Each
-- item says whether it is already rolled back; a rerun does what is left.
-- It shows the plan, asks on a terminal (--yes otherwise); --dry-run changes
-- nothing. The plan is relrun.phases.rollback.
local cli = require "relrun.cli"
local errors = require "relrun.errors"
local project = require "relrun.project"
local pep440 = require "relrun.pep440"
local fs = require "relrun.fs"

local spec = {
  prog = "rollback",
  summary = "Take a released version back: repository, tag, and optionally the GitHub Release and S3 copies.",
  args = { { "VERSION", "the version to roll back (1.2.3, or its tag)" } },
  options = {
    { "--project", arg = "DIR", help = "the Python project's folder (default: here, or the nearest folder up with one)" },
    { "--remote", arg = "NAME", help = "the git remote the tag was pushed to (default: origin)" },
    { "--unlist", help = "unlist the version in CodeArtifact instead of deleting it" },
    { "--archive", help = "archive the version in CodeArtifact instead of deleting it" },
    { "--release", help = "also delete the GitHub Release of the tag" },
    { "--s3", help = "also delete the files under s3://$S3_WHEELS_BUCKET/wheels/" },
    { "--keep-tag", help = "leave the git tag alone" },
    { "-n", "--dry-run", help = "show the plan, change nothing" },
    { "-y", "--yes", help = "do not ask for confirmation" },
    { "--repository-dir", arg = "DIR", help = "the local repository folder (when CodeArtifact is not set)" },
    { "--tag-prefix", arg = "PREFIX", help = "release tags are PREFIX+VERSION (default: detected)" },
  },
}

local opts = cli.parse_or_exit(spec, arg)
local given = opts.args[1]
if not given then errors.raise("USAGE", "rollback needs the VERSION to roll back (e.g. 1.2.3)", { exit = 2 }) end
if opts.unlist and opts.archive then errors.raise("USAGE", "choose one of --unlist and --archive", { exit = 2 }) end

local p = errors.check(project.open{ dir = opts.project, flags = opts, need_repo = not opts.keep_tag })
-- VERSION, or the tag itself
local version = p.scheme:version(given) or (pep440.parse(given) and tostring(pep440.parse(given)))
if not version then
  errors.raise("USAGE", string.format("'%s' is neither a version nor a release tag (%s)", given, p.scheme:pattern()),
    { exit = 2 })
end

local ctx = { project = p, opts = opts, version = version, out = print,
              command = cli.command_line(arg) }
local plan = require("relrun.phases.rollback").plan(ctx)

print(string.format("Roll back %s %s:", p.package, version))
local rows = plan:explain(ctx)
local todo = 0
for _, r in ipairs(rows) do
  local done = r.state == "already done"
  if not done then todo = todo + 1 end
  print(string.format("  %s %s%s", done and "✓ already rolled back:" or "→", r.does,
    (not done and r.state ~= "will run") and ("  [" .. r.state .. "]") or ""))
end
if todo == 0 then
  print("Everything is already rolled back.")
  return 0
end
if opts.dry_run then
  print("(dry run: nothing changed)")
  return 0
end
if not opts.yes then
  if not fs.isatty(0) then
    errors.raise("USAGE", "not a terminal: pass --yes to roll back without a question", { exit = 2 })
  end
  io.stdout:write("Proceed? [y/N] ")
  io.stdout:flush()
  if not (io.stdin:read("l") or ""):lower():find("^y") then
    errors.raise("CANCELLED", "cancelled: nothing was changed")
  end
end
local good, err = plan:run(ctx)
p:close()
if not good then errors.raise(err) end
return 0
