-- relrun release [PHASE] [options] — RELEASE.md "Release Steps".
--
--   prepare  "1. Prepare Release": on the release branch, clean, fetched and
--            level with its upstream; the changes since the last release; the
--            next version for each bump; CI green.
--   tag      "2. Create Release Tag": the version from --version or --bump,
--            newer than the last release and new; the release built from a
--            clean checkout of HEAD and inspected; only then the tag, created
--            and pushed; the last five release tags listed. With --watch,
--            the workflow run the tag started is followed to its end, then
--            the release is verified everywhere (relrun.watch).
--   publish  "3. Monitor Release Process" and "4. Verify Release": from the
--            release tag (on HEAD, or --tag): build, publish to the target,
--            the S3 copy and the GitHub Release, install instructions, verify
--            — journaled, so a rerun finishes what is left.
--   config   the effective settings and where each one came from.
--
-- Without a phase, prepare, tag and publish run in turn. --dry-run runs every
-- check and local build, changes nothing anyone else sees, and says what it
-- would do. Each phase is a plan of relrun.steps (scripts/lib/relrun/phases/).
local cli = require "relrun.cli"
local errors = require "relrun.errors"
local project = require "relrun.project"
local config = require "relrun.config"

local PHASES = {
  { "prepare", "check the release branch is clean and up to date; show the changes since the last release"
    .. " and the next version for each bump" },
  { "tag", "build the release from a clean checkout of HEAD at the new version (--version or --bump), then create"
    .. " the tag and push it" },
  { "publish", "from the release tag: build, publish (CodeArtifact when CODEARTIFACT_DOMAIN is set, else the local"
    .. " repository), S3 copy, GitHub Release, install instructions, verify" },
  { "config", "print the effective settings and where each came from" },
}

local SPEC = {
  prog = "release",
  summary = "Release the package as RELEASE.md describes, one phase at a time.",
  commands = PHASES,
  command_optional = true,
  options = {
    { "-n", "--dry-run", help = "run the checks and the build, change nothing anyone else sees, show the plan" },
    { "--version", arg = "VERSION", help = "tag: the version to release (PEP 440: 1.2.3, 2.0.0rc1, 24.3, 1.0.post1)" },
    { "--bump", arg = "PART", choices = { "major", "minor", "patch", "pre", "post" },
      help = "tag: the next version after the last release" },
    { "--pre", arg = "LABEL", choices = { "a", "b", "rc" },
      help = "tag: with --bump major|minor|patch, the first pre-release of it (1.3.0rc1); with --bump pre, the label " ..
        "(after a final release, of the next patch: 9.1.1rc1)" },
    { "--branch", arg = "NAME", help = "the release branch (default: [tool.relrun] branch, else the remote's " ..
      "default branch: origin/HEAD, else main, else master)" },
    { "--remote", arg = "NAME", help = "the remote to fetch from and push to (default: origin)" },
    { "--tag-prefix", arg = "PREFIX", help = "release tags are PREFIX+VERSION (default: detected from the tags, else v)" },
    { "--message", arg = "TEXT", help = "tag: make an annotated tag with this message (default: lightweight,"
      .. " as RELEASE.md's `git tag`)" },
    { "-C", "--repo", arg = "DIR", help = "the clone to release from (default: the one holding the current folder)" },
    { "-y", "--yes", help = "do not ask for confirmation on a terminal" },
    { "--tag", arg = "TAG", help = "publish: the tag to publish (default: the release tag on HEAD)" },
    { "--dist", arg = "DIR", help = "publish: the files built elsewhere (a build matrix's wheels and sdist) instead"
      .. " of building; they must be the project's at the tag's version, the set [tool.relrun] expect names" },
    { "--expect", arg = "LIST", help = "publish: the files a release has: sdist, wheel or wheel tag patterns"
      .. " (cp311-manylinux), comma-separated, or a count (default: [tool.relrun] expect)" },
    { "--project", arg = "DIR", help = "the Python project's folder (default: the clone, -C)" },
    { "--repository-dir", arg = "DIR", help = "the local repository folder (default .relrun/repository,"
      .. " or RELRUN_REPOSITORY_DIR); used when CODEARTIFACT_DOMAIN is not set" },
    { "--python", arg = "PATH", help = "the interpreter that builds and verifies (default: the first python3 with"
      .. " the build module, or RELRUN_PYTHON)" },
    { "--no-isolation", key = "isolation", value = false,
      help = "build with the installed backend, not in an isolated environment (offline, Debian-style builds)" },
    { "--skip-dependency-check", help = "do not check the build requirements (python -m build -x)" },
    { "--build-arg", arg = "ARG", many = true, help = "one more argument for python -m build (repeatable)" },
    { "--imports", arg = "LIST", help = "verify: modules to import, comma-separated (default: the wheel's packages)" },
    { "--no-deps", help = "verify: install without dependencies" },
    { "--extra-index-url", arg = "URL", help = "verify: where the package's dependencies come from" },
    { "--draft", help = "publish: create the GitHub Release as a draft" },
    { "--changelog", key = "write_changelog", help = "prepare: with --version or --bump, write the release notes "
      .. "into CHANGELOG.md ([tool.relrun] changelog) in a release commit, pushed to the branch" },
    { "--watch", help = "tag: then follow the workflow run the tag started, and verify the release when it succeeds" },
    { "--timeout", arg = "SECONDS", help = "tag --watch: how long to wait for the run to start (default 180)" },
    { "-v", "--verbose", help = "show the output of the build and of pip as it runs" },
  },
}

local opts = cli.parse_or_exit(SPEC, arg)
local function usage(msg) errors.raise("USAGE", "release: " .. msg .. " (try --help)", { exit = 2 }) end
if opts.version and opts.bump then usage("give --version or --bump, not both") end
if opts.pre and not opts.bump then usage("--pre goes with --bump") end
if opts.dist and opts.command ~= "publish" then usage("--dist goes with the publish phase") end
if opts.verbose then require("relrun.log").set_level("verbose") end

local p = errors.check(project.open{ dir = opts.project or opts.repo, flags = opts,
                                     need_repo = opts.command ~= "config" })

-- A project whose files state a release version (static, attr:, a version
-- file) releases that one when no version is asked for.
local function states_release()
  local v = require("relrun.doctor.version").read(p)
  local parsed = v.source ~= "scm" and v.version and require("relrun.pep440").parse(v.version)
  return parsed and not parsed:is_devrelease()
end
local tagging = opts.command == "tag" or not opts.command
if tagging and not opts.version and not opts.bump and not opts.dry_run and not states_release() then
  usage((opts.command or "a whole release (prepare, tag, publish)") .. " needs --version VERSION or --bump PART")
end

if opts.command == "config" then
  print(string.format("%-30s %-40s %s", "setting", "value", "from"))
  for _, r in ipairs(config.rows(p.cfg)) do
    local v = r.value
    if type(v) == "table" then v = table.concat(v, ",") end
    print(string.format("%-30s %-40s %s", r.key, v == nil and "-" or tostring(v), r.source))
  end
  print(string.format("%-30s %-40s %s", "(tag scheme)", p.scheme:pattern(), p.scheme.how))
  return 0
end

-- The command that continues a phase, as the user would type it: the
-- options given, the phase named, the version flags dropped after tagging.
local function command_for(phase)
  -- a whole release stopped before its tag exists continues as it started
  if not opts.command and phase ~= "publish" then return cli.command_line(arg) end
  local words = { phase }
  local skip_next = false
  for _, a in ipairs(arg) do
    if skip_next then
      skip_next = false
    elseif a == "prepare" or a == "tag" or a == "publish" then -- luacheck: ignore 542
    elseif phase == "publish" and (a == "--bump" or a == "--version" or a == "--pre" or a == "--message") then
      skip_next = true
    elseif not (phase == "publish" and (a:find("^%-%-bump=") or a:find("^%-%-version=") or a:find("^%-%-pre="))) then
      words[#words + 1] = a
    end
  end
  return cli.command_line(arg, words)
end

local shared = {}   -- what one phase tells the next in a whole-release run
local function out(line)
  io.stdout:write(line, "\n")
  io.stdout:flush()
end
for _, phase in ipairs(PHASES) do
  local name = phase[1]
  if name ~= "config" and (opts.command == name or not opts.command) then
    local ctx = { project = p, opts = opts, shared = shared, out = out, dry_run = opts.dry_run,
                  command = command_for(name) }
    local plan = require("relrun.phases." .. name).plan(ctx)
    local good, err = plan:run(ctx, { dry_run = opts.dry_run })
    if not good then errors.raise(err) end
    shared.commit = ctx.commit
    if name == "tag" and opts.watch and not opts.dry_run then
      local wctx = { project = p, tag = ctx.tag, version = ctx.version, commit = ctx.head.id, out = out,
                     timeout = tonumber(opts.timeout), imports = opts.imports,
                     command = "relrun watch " .. ctx.version }   -- by name: the project's copy if it has one
      local wplan = require("relrun.watch").plan(wctx)
      errors.check(wplan:run(wctx))
      break   -- the workflow publishes; this run does not
    end
  end
end
p:close()
return 0
