-- label: slow
-- The release matrix of issue 13: every build backend released end to end
-- (`release.lua --version V`: prepare, tag, publish with its verify) from a
-- real git repository with a bare origin (tests/support/projects.lua),
-- under each tag scheme and each kind of PEP 440 version, to the local
-- repository and, for a representative subset, to the CodeArtifact fake.
--
-- A covering design, not the full product: the full product (10 fixtures ×
-- 3 schemes × 4 kinds = 120 releases, each with a venv and a pip install)
-- would take ten times as long as this spec on 2 cores. These 12 rows hold every
-- (scheme, kind) pair exactly once, and every backend at least once:
-- setuptools + setuptools_scm, setuptools `attr:`, setup.cfg-only,
-- setup.py-only, hatchling, hatchling + hatch-vcs, flit_core, poetry-core,
-- pdm-pep517 and a setuptools C extension (a platform wheel). Static
-- versions (written in a file) and versions from the tag (setuptools_scm,
-- hatch-vcs) both meet every scheme.
--
-- For each row:
--   * the project has an earlier release tag of its scheme, so relrun
--     detects the scheme (no tag_prefix is configured) and tags with it;
--   * relrun's tag is on the origin, on the release commit, spelt
--     PREFIX + normalised version;
--   * the release's verify step pip-installed it from the target into a
--     fresh venv and imported the package;
--   * what the target holds is what relrun built (names and sha256);
--   * those files equal a hand-run `python -m build --no-isolation` of the
--     tag (Debian's /usr/bin/python3, the commit's SOURCE_DATE_EPOCH) by
--     file name, METADATA / PKG-INFO text and member names.
local fs = require "relrun.fs"
local proc = require "relrun.proc"
local json = require "relrun.json"
local peer = require "peer"
local projects = require "projects"
local localrepo = require "relrun.pypi.localrepo"
local metadata = require "relrun.pypi.metadata"

local PYTHON = "/usr/bin/python3"
local RELRUN = os.getenv("RELRUN") or fs.absolute("build/relrun")
local SCRIPT = fs.absolute("scripts/release.lua")
local AKID, SECRET = "AKIDMATRIX0000001", "matrix/secret+0001"
local ACCOUNT, DOMAIN, REPOSITORY = "111122223333", "acme", "python"

-- fixture, scheme, kind, target ("local" or "codeartifact")
local MATRIX = {
  { "setuptools-scm",    "v",        "final",    "local" },
  { "setuptools-cfg",    "bare",     "pre",      "local" },
  { "setuptools-legacy", "prefixed", "post",     "codeartifact" },
  { "hatchling",         "v",        "two_part", "codeartifact" },
  { "hatch-vcs",         "bare",     "final",    "local" },
  { "flit",              "prefixed", "pre",      "local" },
  { "poetry",            "v",        "post",     "local" },
  { "cext",              "bare",     "two_part", "codeartifact" },
  { "setuptools-attr",   "prefixed", "final",    "local" },
  { "pdm",               "v",        "pre",      "local" },
  { "hatchling",         "bare",     "post",     "local" },
  { "hatch-vcs",         "prefixed", "two_part", "local" },
}

local tmp <close> = fs.tempdir("relrun-matrix-")
local repository = fs.join(tmp.path, "repository")
local ca = peer.start{ argv = { "python3", "tests/fakes/codeartifact.py", "--port-file", peer.PORT_FILE,
                                "--credentials", AKID .. ":" .. SECRET, "--account", ACCOUNT } }
local _ <close> = setmetatable({}, { __close = function() ca:stop() end })
local ca_client = assert(require("relrun.aws.codeartifact").client{ region = "us-east-1", endpoint = ca.url,
  credentials = require("relrun.aws.credentials").static(AKID, SECRET) })
assert(ca_client:create_domain{ domain = DOMAIN })
assert(ca_client:create_repository{ domain = DOMAIN, domain_owner = ACCOUNT, repository = REPOSITORY })

local function env(target)
  local e = { RELRUN_REPOSITORY_DIR = repository, CODEARTIFACT_DOMAIN = false, GITHUB_ACTIONS = false,
              GITHUB_OUTPUT = false, GITHUB_STEP_SUMMARY = false, GITHUB_TOKEN = false, GH_TOKEN = false,
              RELRUN_LOG = false, RELRUN_TAG_PREFIX = false, S3_WHEELS_BUCKET = false, HOME = tmp.path,
              PIP_CONFIG_FILE = "/dev/null", PIP_INDEX_URL = false, PIP_EXTRA_INDEX_URL = false,
              PIP_CONSTRAINT = false, AWS_PROFILE = false, AWS_SESSION_TOKEN = false, AWS_ROLE_ARN = false,
              AWS_CONFIG_FILE = "/dev/null", AWS_SHARED_CREDENTIALS_FILE = "/dev/null",
              AWS_EC2_METADATA_DISABLED = "true", AWS_ENDPOINT_URL = false }
  for k, v in pairs(projects.GIT_ENV) do e[k] = v end
  if target == "codeartifact" then
    e.CODEARTIFACT_DOMAIN, e.CODEARTIFACT_ACCOUNT_ID, e.CODEARTIFACT_REPOSITORY = DOMAIN, ACCOUNT, REPOSITORY
    e.AWS_REGION, e.AWS_ACCESS_KEY_ID, e.AWS_SECRET_ACCESS_KEY = "us-east-1", AKID, SECRET
    e.AWS_ENDPOINT_URL_CODEARTIFACT = ca.url
  end
  return e
end

-- The whole release (prepare, tag, publish) of `version` from p's clone.
local function release(p, version, target)
  local argv = { RELRUN, SCRIPT, "--version", version, "--yes", "--no-isolation", "--python", PYTHON }
  if p.fixture.debian.skip_dependency_check then argv[#argv + 1] = "--skip-dependency-check" end
  local r = assert(proc.run{ argv = argv, cwd = p.dir, env = env(target), stdin = "" })
  if r.code ~= 0 then print(r.stdout, r.stderr) end
  eq(r.code, 0, "the release of " .. p.fixture.dist .. " " .. version)
  return r.stdout
end

-- name -> sha256 of what the target holds of the version.
local function published(p, version, target)
  local out = {}
  if target == "local" then
    for _, f in ipairs(localrepo.files(repository, p.fixture.dist)) do
      if metadata.parse_filename(f.filename).version == version then out[f.filename] = f.sha256 end
    end
    return out
  end
  local assets = assert(ca_client:list_package_version_assets{ domain = DOMAIN, domain_owner = ACCOUNT,
    repository = REPOSITORY, format = "pypi", package = p.fixture.dist, version = version })
  for _, a in ipairs(assets) do out[a.name] = a.hashes["SHA-256"]:lower() end
  return out
end

-- The release's files, as the journal's build evidence names them.
local function built(p, version)
  local j = json.decode(assert(fs.read(p:path(".relrun/journal-" .. version .. ".json"))))
  local files = {}
  for _, f in ipairs(j.steps.build.evidence.files) do files[f.filename] = f end
  return files
end

local function by_kind(files)
  local out = {}
  for name, f in pairs(files) do out[name:match("%.whl$") and "wheel" or "sdist"] = f end
  return out
end

local function prepare_commit(p, version)
  if p.fixture.version == "static" then p:set_version(version) end
  p:write("CHANGES.md", "- release " .. version .. "\n")
  p:commit("Prepare " .. version)
  p:git("push", "-q", "origin", "main")
end

describe("the release matrix: backends × tag schemes × PEP 440 versions, released and equal to python -m build",
  function()
  for _, row in ipairs(MATRIX) do
    local name, scheme, kind, target = table.unpack(row)
    local version = projects.version(kind)
    it(string.format("%s, %s tags, %s %s, to %s", name, scheme, kind, version, target), function()
      local p <close> = projects.make{ fixture = name, scheme = scheme, releases = { "1.0.0" } }
      prepare_commit(p, version)
      local out = release(p, version, target)
      local tag = p:tag_name(version)
      contains(out, "Released " .. p.fixture.dist .. " " .. version .. " (" .. tag .. ")")
      contains(out, "✓ verify: import " .. p.fixture.import)
      local head = p:git("rev-parse", "HEAD"):gsub("%s+$", "")
      eq(p:git("ls-remote", "origin", "refs/tags/" .. tag):match("^(%x+)"), head, "relrun's tag on the origin")

      local files = built(p, version)
      local there = published(p, version, target)
      local names = {}
      for n, f in pairs(files) do
        names[#names + 1] = n
        eq(there[n], f.sha256, n .. " on " .. target .. " is what relrun built")
      end
      eq(#names, 2, "an sdist and a wheel")
      local mine = by_kind(files)
      local hand = assert(projects.hand_build(p, tag, { version = version, python = PYTHON,
                                                        outdir = fs.join(p.tmp.path, "hand") }))
      for _, k in ipairs({ "sdist", "wheel" }) do
        local path = p:path(".relrun/dist/" .. version .. "/" .. mine[k].filename)
        eq(mine[k].filename, fs.basename(hand[k]), k .. " name of python -m build")
        eq(projects.metadata(path), projects.metadata(hand[k]), k .. " METADATA / PKG-INFO")
        eq(projects.members(path), projects.members(hand[k]), k .. " members")
      end
      if p.fixture.wheel == "platform" then
        ok(not mine.wheel.filename:find("-none-any.whl", 1, true), "a platform wheel: " .. mine.wheel.filename)
      end
    end)
  end
end)
