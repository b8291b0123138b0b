-- relrun scripts/verify.lua [VERSION] — RELEASE.md "4. Verify Release".
--
-- The version is in the repository (CodeArtifact: status Published) with
-- files whose hashes equal the ones this checkout built (when it built them);
-- `pip install <package>==VERSION` from that repository into a fresh venv
-- works; the import check (bronze, silver, ingestion by default) passes and
-- importlib.metadata reports VERSION. Nothing is changed anywhere.
local cli = require "relrun.cli"
local config = require "relrun.config"
local publish = require "relrun.publish"
local fs = require "relrun.fs"
local json = require "relrun.json"

local spec = {
  prog = "verify.lua",
  summary = "Check that a released version is published and installs.",
  args = "[VERSION]",
  options = {
    { "--project", arg = "DIR", default = ".", help = "the Python project (where pyproject.toml is)" },
    { "--imports", arg = "LIST", help = "modules to import, comma-separated (default: the project's packages)" },
    { "--repository-dir", arg = "DIR", help = "the local repository folder (when CodeArtifact is not set)" },
  },
}

local opts = cli.parse_or_exit(spec, arg)
local cfg, err = config.load{ project_dir = opts.project, flags = opts }
if not cfg then error({ message = err, exit = 2 }) end

local function fail(msg) error({ message = msg }, 0) end

-- The version: the argument, else the newest v* tag of the checkout.
local version = opts.args and opts.args[1]
if not version then
  local repo = require("relrun.git").open(opts.project)
  local best
  for _, t in ipairs(repo and repo:tags() or {}) do
    local v = t.name:match("^" .. cfg.tag_prefix .. "(%d+%.%d+%.%d+)$")
    if v and (not best or require("relrun.semver").compare(v, best) > 0) then best = v end
  end
  if repo then repo:close() end
  version = best or fail("no VERSION given and no release tag in " .. opts.project)
end
version = version:gsub("^v", "")

local target = publish.target(cfg)
print(string.format("Verifying %s %s in %s", cfg.package, version, target.label))

-- 1. Present (and Published, in CodeArtifact).
if target.kind == "codeartifact" then
  local pv, perr, code = target:client():describe_package_version(target:repo_args({ version = version }))
  if not pv then
    fail(code == "ResourceNotFoundException" and
      string.format("%s %s is not in %s: publish it (relrun scripts/release.lua publish)", cfg.package, version,
        target.label) or ("DescribePackageVersion: " .. perr))
  end
  if pv.status ~= "Published" then
    fail(string.format("%s %s has status %s, not Published", cfg.package, version, tostring(pv.status)))
  end
  print("  ✓ status Published")
end
local there = target:files(version)
if #there == 0 then
  fail(string.format("%s %s has no files in %s: publish it (relrun scripts/release.lua publish)", cfg.package,
    version, target.label))
end

-- 2. The same bytes as this checkout built, when it did.
local journal = fs.join(opts.project, ".relrun", "journal-" .. version .. ".json")
local built = {}
if fs.exists(journal) then
  local j = json.decode(fs.read(journal) or "")
  for _, f in ipairs(type(j) == "table" and j.steps and j.steps.build and j.steps.build.evidence.files or {}) do
    built[f.filename] = f.sha256
  end
end
for _, f in ipairs(there) do
  if built[f.filename] and f.sha256 and built[f.filename] ~= f.sha256 then
    fail(string.format("%s in %s has sha256 %s, but this checkout built %s", f.filename, target.label, f.sha256,
      built[f.filename]))
  end
  print(string.format("  ✓ %s sha256 %s%s", f.filename, f.sha256 or "?", built[f.filename] and " (as built)" or ""))
end

-- 3. Installs into a fresh venv and imports.
local ctx = { cfg = cfg, target = target, version = version, evidence = {} }
local ev = publish.verify_install(ctx)
print(string.format("  ✓ pip install %s==%s; import %s; version %s", cfg.package, version,
  table.concat(ev.imports, ", "), ev.installed))
print("Verified.")
