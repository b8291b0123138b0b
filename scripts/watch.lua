-- relrun watch [VERSION] — RELEASE.md "3. Monitor Release
-- Process" without a browser: the workflow run the release tag started
-- (GitHub API: the push runs of the tag's commit), its jobs and steps as
-- they change, and then the full verification (scripts/verify.lua's). A run
-- that fails names its failing step, shows the tail of the job's log and
-- the doctor check that fits; a run that never starts is explained.
--
-- Needs a GitHub token that may read the repository's Actions (GH_TOKEN,
-- e.g. `export GH_TOKEN=$(gh auth token)`, or GITHUB_TOKEN). `release.lua
-- tag --watch` runs the same plan right after pushing the tag.
local cli = require "relrun.cli"
local errors = require "relrun.errors"
local project = require "relrun.project"
local pep440 = require "relrun.pep440"
local watch = require "relrun.watch"

local spec = {
  prog = "watch",
  summary = "Follow the release workflow a tag started, then verify the release.",
  args = { { "VERSION", "the version or its tag (default: the newest release tag of the checkout)" } },
  options = {
    { "--project", arg = "DIR", help = "the Python project's folder (default: here, or the nearest folder up with one)" },
    { "--timeout", arg = "SECONDS", help = "how long to wait for the run to start (default 180)",
      check = function(v) return tonumber(v) ~= nil or nil, "a number of seconds" end },
    { "--interval", arg = "SECONDS", help = "seconds between looks (default 5, or RELRUN_WATCH_INTERVAL)",
      check = function(v) return tonumber(v) ~= nil or nil, "a number of seconds" end },
    { "--no-verify", key = "verify", value = false, help = "stop when the run succeeds; do not verify the release" },
    { "--imports", arg = "LIST", help = "verify: modules to import, comma-separated (default: the wheel's packages)" },
  },
}

local opts = cli.parse_or_exit(spec, arg)
local p = errors.check(project.open{ dir = opts.project, flags = opts })
p:require_package()

local version = opts.args[1]
if version then
  version = p.scheme:version(version) or (pep440.parse(version) and tostring(pep440.parse(version)))
  if not version then errors.raise("USAGE", "'" .. opts.args[1] .. "' is not a version", { exit = 2 }) end
else
  local last = p:last_release()
  if not last then errors.raise("NO_RELEASE", "no VERSION given and no release tag in " .. p.dir, { exit = 2 }) end
  version = last.version
end
local tag = p:release_tag(version)
local commit = errors.check(p:commit(tag))

local plan, ctx = watch.plan{ project = p, tag = tag, version = version, commit = commit.id,
                              timeout = tonumber(opts.timeout), interval = tonumber(opts.interval),
                              verify = opts.verify ~= false, imports = opts.imports,
                              command = cli.command_line(arg) }
errors.check(plan:run(ctx))
p:close()
return 0
