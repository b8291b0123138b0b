-- relrun scripts/rollback.lua VERSION — RELEASE.md "Version Rollback".
--
-- 1. the version leaves the repository: DeletePackageVersions in CodeArtifact
--    (every failedVersions entry is reported), or --unlist / --archive
--    (UpdatePackageVersionsStatus) as gentler choices; its files leave the
--    local repository;
-- 2. the tag vVERSION is deleted locally and on the remote;
-- 3. with --release, the GitHub Release of the tag; with --s3, its objects
--    under s3://$S3_WHEELS_BUCKET/wheels/.
-- It shows the plan, asks on a terminal (--yes otherwise), and says for each
-- item whether it was already rolled back. --dry-run changes nothing.
local cli = require "relrun.cli"
local config = require "relrun.config"
local publish = require "relrun.publish"
local git = require "relrun.git"

local spec = {
  prog = "rollback.lua",
  summary = "Take a released version back: repository, tag, and optionally the GitHub Release and S3 copies.",
  args = "VERSION",
  options = {
    { "--project", arg = "DIR", default = ".", help = "the project's checkout" },
    { "--remote", arg = "NAME", default = "origin", help = "the git remote the tag was pushed to" },
    { "--unlist", help = "unlist the version in CodeArtifact instead of deleting it" },
    { "--archive", help = "archive the version in CodeArtifact instead of deleting it" },
    { "--release", help = "also delete the GitHub Release of the tag" },
    { "--s3", help = "also delete the files under s3://$S3_WHEELS_BUCKET/wheels/" },
    { "--keep-tag", help = "leave the git tag alone" },
    { "-n", "--dry-run", help = "show the plan, change nothing" },
    { "-y", "--yes", help = "do not ask for confirmation" },
    { "--repository-dir", arg = "DIR", help = "the local repository folder (when CodeArtifact is not set)" },
  },
}

local opts = cli.parse_or_exit(spec, arg)
local version = opts.args and opts.args[1]
if not version then error({ message = "rollback.lua needs the VERSION to roll back (e.g. 1.2.3)", exit = 2 }) end
version = version:gsub("^v", "")
if not version:match("^%d+%.%d+%.%d+") then
  error({ message = "'" .. version .. "' is not a version like 1.2.3", exit = 2 })
end
if opts.unlist and opts.archive then error({ message = "choose one of --unlist and --archive", exit = 2 }) end
local cfg, cerr = config.load{ project_dir = opts.project, flags = opts }
if not cfg then error({ message = cerr, exit = 2 }) end
local tag = cfg.tag_prefix .. version
local target = publish.target(cfg)

local function fail(msg) error({ message = msg }, 0) end

-- Each item: name, state() -> "done" | "todo" (+ detail), act().
local items = {}
local function item(name, state, act) items[#items + 1] = { name = name, state = state, act = act } end

local mode = opts.unlist and "Unlisted" or (opts.archive and "Archived" or "deleted")
item(string.format("%s %s in %s: %s", cfg.package, version, target.label, mode),
  function() return target:version_state(version, mode) end,
  function() return target:remove_version(version, mode) end)

local repo
if not opts.keep_tag then
  repo = git.open(opts.project) or fail(opts.project .. " is not a git checkout; pass --keep-tag to skip the tag")
  item("tag " .. tag .. " in this clone",
    function() return repo:rev_parse("refs/tags/" .. tag) and "todo" or "done" end,
    function()
      local good, err = repo:tag_delete(tag)
      if not good then fail("git tag -d " .. tag .. ": " .. err) end
    end)
  item("tag " .. tag .. " on " .. opts.remote,
    function()
      local refs, err = repo:ls_remote(opts.remote)
      if not refs then fail("cannot list " .. opts.remote .. ": " .. err) end
      for _, r in ipairs(refs) do
        if r.name == "refs/tags/" .. tag then return "todo" end
      end
      return "done"
    end,
    function()
      local good, err, code = repo:push(opts.remote, { ":refs/tags/" .. tag })
      if not good then
        fail(string.format("git push %s --delete %s: %s [%s]", opts.remote, tag, err, tostring(code)))
      end
    end)
end

if opts.release then
  local gh, gerr = require("relrun.github").new{ repo_dir = opts.project }
  if not gh then fail(gerr.message) end
  item("GitHub Release " .. tag,
    function()
      local rel, err = gh:release_by_tag(tag)
      if rel == nil then fail(err.message) end
      return rel and "todo" or "done"
    end,
    function()
      local rel = gh:release_by_tag(tag)
      local good, err = gh:delete_release(rel.id)
      if not good then fail(err.message) end
    end)
end

if opts.s3 then
  if not cfg.bucket then fail("--s3 needs S3_WHEELS_BUCKET") end
  local s3 = assert(require("relrun.aws.s3").client{ region = cfg.region })
  local function objects()
    local list, err = s3:list_objects{ bucket = cfg.bucket, prefix = "wheels/" }
    if not list then fail("listing s3://" .. cfg.bucket .. "/wheels/: " .. err) end
    local mine = {}
    local metadata = require "relrun.pypi.metadata"
    for _, o in ipairs(list) do
      local parsed = metadata.parse_filename(o.key:sub(8))
      if parsed and parsed.version == version then mine[#mine + 1] = o.key end
    end
    return mine
  end
  item("s3://" .. cfg.bucket .. "/wheels/ files of " .. version,
    function() return #objects() > 0 and "todo" or "done" end,
    function()
      for _, key in ipairs(objects()) do
        local good, err = s3:delete_object{ bucket = cfg.bucket, key = key }
        if not good then fail("deleting s3://" .. cfg.bucket .. "/" .. key .. ": " .. err) end
      end
    end)
end

-- The plan, with what is already rolled back.
print(string.format("Roll back %s %s:", cfg.package, version))
local todo = 0
for _, it in ipairs(items) do
  it.current = it.state()
  if it.current == "todo" then todo = todo + 1 end
  print(string.format("  %s %s", it.current == "done" and "✓ already rolled back:" or "→", it.name))
end
if todo == 0 then
  print("Everything is already rolled back.")
  os.exit(0)
end
if opts.dry_run then
  print("(dry run: nothing changed)")
  os.exit(0)
end
if not opts.yes then
  if not require("relrun.fs").isatty(0) then
    error({ message = "not a terminal: pass --yes to roll back without a question", exit = 2 })
  end
  io.stdout:write("Proceed? [y/N] ")
  io.stdout:flush()
  if not (io.stdin:read("l") or ""):lower():find("^y") then fail("cancelled: nothing was changed") end
end
for _, it in ipairs(items) do
  if it.current == "todo" then
    it.act()
    print("  ✓ " .. it.name)
  end
end
if repo then repo:close() end
print("Rolled back. To release again: relrun scripts/release.lua tag --version " .. version ..
  " (or a new version), then publish.")
