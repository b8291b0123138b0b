-- relrun scripts/verify.lua [VERSION] — RELEASE.md "4. Verify Release".
--
-- The version is in the repository (CodeArtifact: status Published) with
-- files whose hashes equal the ones this checkout built (when it built
-- them); `pip install <package>==VERSION` from that repository into a fresh
-- venv works; the import check passes and importlib.metadata reports
-- VERSION. Nothing is changed anywhere.
local cli = require "relrun.cli"
local errors = require "relrun.errors"
local project = require "relrun.project"
local targets = require "relrun.targets"
local verify = require "relrun.verify"
local fs = require "relrun.fs"
local json = require "relrun.json"
local pep440 = require "relrun.pep440"

local spec = {
  prog = "verify.lua",
  summary = "Check that a released version is published and installs.",
  args = { { "VERSION", "the version (default: the newest release tag of the checkout)" } },
  options = {
    { "--project", arg = "DIR", default = ".", help = "the Python project (where pyproject.toml is)" },
    { "--imports", arg = "LIST", help = "modules to import, comma-separated (default: the wheel's packages)" },
    { "--repository-dir", arg = "DIR", help = "the local repository folder (when CodeArtifact is not set)" },
    { "--no-deps", help = "install without dependencies" },
    { "--extra-index-url", arg = "URL", help = "where the package's dependencies come from" },
  },
}

local opts = cli.parse_or_exit(spec, arg)
local p = errors.check(project.open{ dir = opts.project, flags = opts, need_repo = opts.args[1] == nil })
local package = p:require_package()

-- The version: the argument (a version or a tag), else the newest release tag.
local version = opts.args[1]
if version then
  version = p.scheme:version(version) or (pep440.parse(version) and tostring(pep440.parse(version)))
  if not version then errors.raise("USAGE", "'" .. opts.args[1] .. "' is not a version", { exit = 2 }) end
else
  local last = p:last_release()
  if not last then errors.raise("NO_RELEASE", "no VERSION given and no release tag in " .. p.dir, { exit = 2 }) end
  version = last.version
end

local target = targets.for_config(p.cfg)
print(string.format("Verifying %s %s in %s", package, version, target.label))
target:connect()

-- 1. Present (and Published, in CodeArtifact).
local status = target:status(version)
if status == "absent" then
  errors.raise("NOT_PUBLISHED", string.format("%s %s has no files in %s", package, version, target.label),
    { hint = "publish it (relrun scripts/release.lua publish)" })
end
if status ~= "Published" then
  errors.raise("NOT_PUBLISHED", string.format("%s %s has status %s, not Published", package, version, tostring(status)))
end
print("  ✓ status Published")

-- 2. The same bytes as this checkout built, when it did.
local journal = fs.join(p.dir, ".relrun", "journal-" .. version .. ".json")
local built = {}
local j = fs.exists(journal) and json.decode(fs.read(journal) or "")
local build_files = type(j) == "table" and j.steps and j.steps.build and j.steps.build.evidence.files or {}
for _, f in ipairs(build_files) do built[f.filename] = f end
local there = target:files(version)
for _, f in ipairs(there) do
  local mine = built[f.filename]
  if mine and f.sha256 and mine.sha256 ~= f.sha256 then
    errors.raise("MISMATCH", string.format("%s in %s has sha256 %s, but this checkout built %s", f.filename,
      target.label, f.sha256, mine.sha256))
  end
  print(string.format("  ✓ %s sha256 %s%s", f.filename, f.sha256 or "?", mine and " (as built)" or ""))
end

-- 3. Installs into a fresh venv and imports.
local files = {}
for _, f in ipairs(there) do
  local mine = built[f.filename]
  files[#files + 1] = { filename = f.filename, sha256 = f.sha256, path = mine and mine.path or f.path }
end
local ev = verify.install{ project = p, target = target, version = version, files = files, imports = opts.imports }
print(string.format("  ✓ pip install %s==%s; import %s; version %s%s", package, version,
  table.concat(ev.imports, ", "), ev.installed, ev.deps ~= "installed" and (" (dependencies " .. ev.deps .. ")") or ""))
print("Verified.")
p:close()
return 0
