-- relrun init [--deb-url URL (--deb FILE | --deb-sha256 HEX)] [--vendor [NAME...]] [--dry-run] [--force]
--
-- Set up a package's repository to release with relrun: the [tool.relrun]
-- settings that differ from the defaults (relrun.adopt: detected, added as
-- text), the release workflow with relrun pinned (relrun.workflow),
-- `.relrun/` in .gitignore, relrun.lock (relrun.vendor's) kept out of the
-- sdist as vendored files are, and with --vendor copies of relrun's scripts
-- to edit (relrun.vendor).
--
-- Every file is first made in a scratch copy of the files init may touch,
-- by the same code a real run uses; then the copy is compared with the
-- repository. A dry run prints the differences; a real run writes the files
-- that differ, and nothing when none does.
local adopt = require "relrun.adopt"
local fs = require "relrun.fs"
local hash = require "relrun.hash"
local host = require "relrun.host"
local lockfile = require "relrun.lockfile"
local proc = require "relrun.proc"
local vendor = require "relrun.vendor"
local workflow = require "relrun.workflow"

local USAGE = [==[
usage: relrun init [--deb-url URL (--deb FILE | --deb-sha256 HEX)] [--vendor [NAME...]] [--dry-run] [--force]
Set up this package's repository to release with relrun: [tool.relrun] settings that differ
from the defaults, .github/workflows/release.yml (relrun pinned by version and sha256, running
the locked scripts), .relrun/ in .gitignore, and relrun.lock. Run it in the package's folder: the
repository's root, or a subfolder holding the package (its workflow is then release-FOLDER.yml).
  --deb-url URL     where CI downloads this relrun's Debian package (kept from the workflow
                    init wrote before when not given)
  --deb FILE        that package, to pin its sha256 (or --deb-sha256 HEX)
  --vendor [NAME]   also copy relrun's scripts (or the scripts and libraries NAMEd) into
                    .relrun-scripts/ to edit them, kept out of the sdist
  --dry-run         show the difference each file would get, write nothing
  --force           replace a .github/workflows/release.yml relrun did not write
]==]

local function fail(message, exit)
  error({ message = "init: " .. message, exit = exit or 1 }, 0)
end

local function parse(args)
  local o, i = { names = {} }, 1
  while i <= #args do
    local a, v = args[i], args[i + 1]
    if a == "-h" or a == "--help" then o.help = true
    elseif a == "--dry-run" or a == "-n" then o.dry_run = true
    elseif a == "--force" then o.force = true
    elseif a == "--vendor" then o.vendor = true
    elseif (a == "--deb-url" or a == "--deb" or a == "--deb-sha256") and v then
      o[a:sub(3):gsub("-", "_")] = v
      i = i + 1
    elseif o.vendor and a:sub(1, 1) ~= "-" then o.names[#o.names + 1] = a
    else
      local known = a == "--deb-url" or a == "--deb" or a == "--deb-sha256"
      io.stderr:write("relrun init: " .. (known and "missing value for " or "unknown argument ") .. a .. "\n" .. USAGE)
      return nil
    end
    i = i + 1
  end
  return o
end

---------------------------------------------------------------------------
-- Where init runs
---------------------------------------------------------------------------

local PYTHON_FILES = { "pyproject.toml", "setup.cfg", "setup.py" }

-- Where init runs: the repository's root and the project's folder in it,
-- relative ("" at the root). A package in a subfolder (a monorepo, a
-- `python/` beside other languages) is set up from its own folder.
local function has_python_project(dir)
  for _, name in ipairs(PYTHON_FILES) do
    if fs.exists(dir .. "/" .. name) then return true end
  end
  return false
end

local function the_project()
  local here = fs.realpath(fs.absolute(fs.cwd())) or fs.absolute(fs.cwd())
  local root = lockfile.root(here)
  if not fs.exists(root .. "/.git") then
    fail(here .. " is not in a git repository: run relrun init in a clone of the package (or `git init` first)")
  end
  root = fs.realpath(root) or root
  local sub = here == root and "" or here:sub(#root + 2)
  if has_python_project(here) then return root, sub end
  local up = here
  while up ~= root and #up > #root do
    up = fs.dirname(up)
    if has_python_project(up) then fail("run relrun init in the package's folder, " .. up) end
  end
  local found = {}
  for _, name in ipairs(fs.list(here) or {}) do
    if name ~= ".git" and #found < 8 then
      local st = fs.stat(here .. "/" .. name)
      found[#found + 1] = name .. (st and st.type == "directory" and "/" or "")
    end
  end
  fail(string.format("%s has no pyproject.toml, setup.cfg or setup.py (%s): run relrun init in a Python "
    .. "package's folder", here, #found > 0 and "it has " .. table.concat(found, ", ") or "it is empty"))
end

-- Where init writes each file, relative to the root: the project's own
-- files in its folder; the workflow, relrun.lock and vendored scripts at
-- the root, where GitHub and `relrun --locked` look. A subfolder's
-- workflow is named after it, so packages of one repository do not share one.
local function places(sub)
  local function in_project(name) return sub == "" and name or sub .. "/" .. name end
  return { sub = sub, pyproject = in_project("pyproject.toml"), gitignore = in_project(".gitignore"),
           workflow = sub == "" and workflow.PATH
             or ".github/workflows/release-" .. sub:gsub("[^%w._-]", "-") .. ".yml" }
end

-- The relrun the workflow installs: { deb_url, deb_sha256 }, from the
-- options, else from the workflow init wrote before (same relrun version).
local function pins_for(root, o, at)
  local have = fs.read(root .. "/" .. at.workflow)
  local old = have and workflow.pins(have)
  if have and not old and not o.force then
    fail(at.workflow .. " exists and relrun did not write it: move it away, or pass --force to replace it")
  end
  if o.deb_url or o.deb or o.deb_sha256 then
    if not o.deb_url then fail("--deb-url URL is needed with --deb or --deb-sha256", 2) end
    local sha = o.deb_sha256
    if o.deb then
      local digest, err = hash.file(o.deb, { "sha256" })
      if not digest then fail("cannot read " .. o.deb .. ": " .. err, 2) end
      sha = digest.sha256
    end
    if not sha then fail("the sha256 of relrun's package is needed: --deb FILE or --deb-sha256 HEX", 2) end
    return { deb_url = o.deb_url, deb_sha256 = sha }
  end
  if old and old.version == host.version then return old end
  if old then
    fail(string.format("%s installs relrun %s; this is relrun %s: give its package (--deb-url URL --deb FILE)",
      at.workflow, old.version, host.version), 2)
  end
  fail(string.format("CI installs relrun %s from its Debian package, pinned by sha256: give where it downloads "
    .. "it and the file (--deb-url URL --deb relrun_%s_amd64.deb, or --deb-sha256 HEX)", host.version,
    host.version), 2)
end

---------------------------------------------------------------------------
-- The scratch copy
---------------------------------------------------------------------------


local function must(ok, err, what)
  if not ok then fail("cannot " .. what .. ": " .. tostring(err)) end
  return ok
end

-- A scratch folder holding the files init may change, and those the lock reads.
local function stage_of(root, at)
  local keys = { at.pyproject, at.gitignore, ".gitattributes", lockfile.FILE, at.workflow }
  local lock, err = lockfile.read(root)
  if err then fail((err:gsub("write it again with `relrun lock`$", "remove it, then run relrun init again"))) end
  local stage = must(fs.tempdir("relrun-init-"), nil, "make a scratch folder")
  for key in pairs(lock and lock.files or {}) do
    if key:sub(1, 1) ~= "/" and key:sub(1, #lockfile.VENDOR_DIR + 1) ~= lockfile.VENDOR_DIR .. "/" then
      keys[#keys + 1] = key
    end
  end
  for _, key in ipairs(keys) do
    if fs.exists(root .. "/" .. key) then
      must(fs.mkdir(fs.dirname(stage.path .. "/" .. key)), nil, "copy " .. key)
      must(fs.copy(root .. "/" .. key, stage.path .. "/" .. key), nil, "copy " .. key)
    end
  end
  if fs.exists(root .. "/" .. lockfile.VENDOR_DIR) then
    local r = proc.run{ argv = { "cp", "-a", root .. "/" .. lockfile.VENDOR_DIR, stage.path .. "/" } }
    if not r or r.code ~= 0 then fail("cannot copy " .. lockfile.VENDOR_DIR .. ": " .. (r and r.stderr or "cp")) end
  end
  return stage
end

local function put(dir, key, text)
  must(fs.mkdir(fs.dirname(dir .. "/" .. key)), nil, "write " .. key)
  must(fs.write(dir .. "/" .. key, text), nil, "write " .. key)
end

-- Make every file in `dir` as init wants it. Returns the lines to say
-- about vendoring.
local function make_files(dir, at, facts, settings, pins, o)
  local said = {}
  local py = fs.read(dir .. "/" .. at.pyproject)
  local new_py = adopt.add_settings(py, settings)
  if new_py ~= py then put(dir, at.pyproject, new_py) end
  if o.vendor then
    local paths = {}
    for _, name in ipairs(o.names) do paths[#paths + 1] = vendor.resolve(name) end
    if #o.names == 0 then
      for _, f in ipairs(vendor.builtins()) do
        if f.kind == "script" then paths[#paths + 1] = f.path end
      end
    end
    local done = vendor.copy(dir, paths)
    for _, key in ipairs(done.refused) do
      said[#said + 1] = key .. " differs from relrun's text: kept (relrun vendor --diff shows how)"
    end
  end
  -- relrun.lock (and any copies) are relrun's files, not the package's; a
  -- package in a subfolder never packs the root's files
  if at.sub == "" then
    for _, line in ipairs(vendor.keep_out_of_sdist(dir)) do
      if not line:find("^wrote ") then said[#said + 1] = line end -- the list of files says what was written
    end
  end
  local ignore = fs.read(dir .. "/" .. at.gitignore)
  local new_ignore = adopt.ignore_relrun(ignore)
  if new_ignore ~= ignore then put(dir, at.gitignore, new_ignore) end
  put(dir, at.workflow, workflow.render{ deb_url = pins.deb_url, deb_sha256 = pins.deb_sha256,
                                         tag_prefix = facts.prefix, working_directory = at.sub ~= "" and at.sub or nil })
  lockfile.write(dir, vendor.compute_lock(dir, lockfile.read(dir), {}))
  return said
end

-- Every file under `dir`, relative to it, sorted.
local function files_under(dir, rel, out)
  out = out or {}
  for _, name in ipairs(fs.list(rel and dir .. "/" .. rel or dir) or {}) do
    local key = rel and rel .. "/" .. name or name
    local st = fs.stat(dir .. "/" .. key)
    if st and st.type == "directory" then files_under(dir, key, out) else out[#out + 1] = key end
  end
  return out
end

-- The files of `stage` that differ from the repository's: { {key, new, existed} }.
local function changes(root, stage)
  local out = {}
  for _, key in ipairs(files_under(stage)) do
    local new, old = fs.read(stage .. "/" .. key), fs.read(root .. "/" .. key)
    if new ~= old then out[#out + 1] = { key = key, new = new, existed = old ~= nil } end
  end
  return out
end

local function show_diff(root, stage, c)
  local r = proc.run{ argv = { "diff", "-u", "--label", c.existed and "a/" .. c.key or "/dev/null",
    "--label", "b/" .. c.key, c.existed and root .. "/" .. c.key or "/dev/null", stage .. "/" .. c.key } }
  if not r or (r.code ~= 0 and r.code ~= 1) then fail("cannot compare " .. c.key .. " (install diffutils)") end
  io.stdout:write(r.stdout)
end

---------------------------------------------------------------------------
-- What init says
---------------------------------------------------------------------------

local function describe_project(root, at, f, settings)
  local version = ({ static = "written in the project", scm = "from the git tags", attr = "read from the code",
                     file = "read from a file" })[f.version_source] or f.version_source
  print(string.format("relrun init in %s: %s", at.sub == "" and root or root .. "/" .. at.sub,
    f.package or "(no distribution name found)"))
  print(string.format("  build backend   %s (%s)", f.backend, f.legacy and "no [build-system]: setuptools' legacy"
    or f.module))
  print(string.format("  version         %s%s", version, f.version and " (" .. f.version .. ")" or ""))
  print(string.format("  release tags    %s*, %s%s", f.prefix, f.prefix_how, f.last and "; last " .. f.last or ""))
  print(string.format("  default branch  %s", f.branch and f.branch .. " (" .. f.branch_from .. ")" or "unknown"))
  print(string.format("  import names    %s", table.concat(f.imports, ", ")))
  if #settings == 0 then
    print("  [tool.relrun]   nothing to add: what pyproject.toml says and relrun's defaults fit")
  end
  for _, s in ipairs(settings) do
    print(string.format("  [tool.relrun]   %s = %q (%s)", s.key, s.value, s.why))
  end
  if not f.package then
    print("  relrun cannot tell the distribution's name: set [tool.relrun] package = \"NAME\" in pyproject.toml")
  end
end

local function next_steps(written)
  print("\nNext steps:")
  local n = 0
  local function step(text) n = n + 1; print(string.format("  %d. %s", n, text)) end
  if #written > 0 then
    step("Review and commit: git add " .. table.concat(written, " ") .. " && git commit -m 'Release with relrun'")
  end
  step("Create the AWS side and the GitHub environment: relrun setup --domain D --repository R --region REGION "
    .. "(with AWS credentials that may create IAM roles; add --account-id ID --dry-run --offline to see every "
    .. "document first)")
  step("Secrets: with GITHUB_TOKEN set (a token that administers the repository), relrun setup sets the "
    .. "repository secrets AWS_ROLE_ARN, AWS_REGION, CODEARTIFACT_DOMAIN, CODEARTIFACT_ACCOUNT_ID and "
    .. "CODEARTIFACT_REPOSITORY; without one it lists them to set by hand (Settings > Secrets and variables > Actions)")
  step("Optional: the repository variable S3_WHEELS_BUCKET (same page, Variables) copies the wheels to S3")
  step("Release: relrun release tag --bump minor pushes the tag; the workflow publishes it")
end

---------------------------------------------------------------------------

local o = parse({ ... })
if not o then return 2 end
if o.help then
  io.stdout:write(USAGE)
  return 0
end
local root, sub = the_project()
local at = places(sub)
local facts = adopt.detect(sub == "" and root or root .. "/" .. sub)
local settings = adopt.settings(facts)
local pins = pins_for(root, o, at)
local stage <close> = stage_of(root, at)
local said = make_files(stage.path, at, facts, settings, pins, o)
local todo = changes(root, stage.path)

describe_project(root, at, facts, settings)
for _, line in ipairs(said) do print("  " .. line) end
if #todo == 0 then
  print("Nothing to change: relrun " .. host.version .. " is set up here.")
  next_steps({})
  return 0
end
if o.dry_run then
  print(string.format("--dry-run: %d file%s would change; nothing written:", #todo, #todo == 1 and "" or "s"))
  for _, c in ipairs(todo) do show_diff(root, stage.path, c) end
  return 0
end
-- every file first, then what was done: an interrupted report leaves no file half-way
for _, c in ipairs(todo) do put(root, c.key, c.new) end
local written, seen = {}, {}
for _, c in ipairs(todo) do
  print((c.existed and "updated " or "wrote ") .. c.key)
  local top = c.key:match("^(" .. lockfile.VENDOR_DIR:gsub("%p", "%%%0") .. ")/") or c.key
  if not seen[top] then seen[top] = true; written[#written + 1] = top end
end
next_steps(written)
return 0
