-- relrun verify [VERSION] — RELEASE.md "4. Verify Release", in
-- all four systems a release reaches:
--
--   the target    the version is there (CodeArtifact: status Published) with
--                 each file's sha256, equal to what this checkout built (when
--                 it built them)
--   S3            each file under s3://$S3_WHEELS_BUCKET/wheels/, its bytes
--                 hashed (when a bucket is set)
--   GitHub        the tag's Release holds every file with the same sha256,
--                 SHA256SUMS lists them, it has notes, and it is a prerelease
--                 exactly when the version is one (with GH_TOKEN/GITHUB_TOKEN)
--   install       `pip install <package>==VERSION` from the target into a
--                 fresh venv works; the import check passes and
--                 importlib.metadata reports VERSION
--
-- Nothing is changed anywhere.
local cli = require "relrun.cli"
local errors = require "relrun.errors"
local project = require "relrun.project"
local verify = require "relrun.verify"
local pep440 = require "relrun.pep440"

local spec = {
  prog = "verify",
  summary = "Check that a released version is published and installs.",
  args = { { "VERSION", "the version (default: the newest release tag of the checkout)" } },
  options = {
    { "--project", arg = "DIR", help = "the Python project's folder (default: here, or the nearest folder up with one)" },
    { "--imports", arg = "LIST", help = "modules to import, comma-separated (default: the wheel's packages)" },
    { "--repository-dir", arg = "DIR", help = "the local repository folder (when CodeArtifact is not set)" },
    { "--no-deps", help = "install without dependencies" },
    { "--extra-index-url", arg = "URL", help = "where the package's dependencies come from" },
  },
}

local opts = cli.parse_or_exit(spec, arg)
local p = errors.check(project.open{ dir = opts.project, flags = opts, need_repo = opts.args[1] == nil })
p:require_package()

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

verify.release{ project = p, version = version, imports = opts.imports }
print("Verified.")
p:close()
return 0
