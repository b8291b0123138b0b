-- label: slow
-- release.lua publish --dist DIR: files built elsewhere (a build matrix's
-- platform wheels and the sdist) published as one release of the tag.
-- The hatchling fixture is tagged v1.2.3 with
--   [tool.relrun] expect = ["sdist", "cp311-manylinux", "cp312-manylinux", "cp311-win"];
-- its sdist and wheel come from a hand-run `python -m build`, and the wheel
-- is copied under three platform tags (tests/support/retag_wheel.py: the
-- same members, WHEEL's tags and RECORD written again), as a cibuildwheel
-- matrix would upload them. Proved here:
--   * the set is published to the local repository byte for byte, the
--     journal holds each file's sha256 bound to the version and commit, pip
--     installs the version (the cp311 manylinux wheel on this machine) and
--     imports it, and a rerun does nothing;
--   * a file of another project, of another version, a missing expected
--     file, an extra file, a count that differs, and an sdist of another
--     commit with the tag's version are each refused with one line naming
--     the file or the pattern, before anything is published;
--   * a publish that fails after two files is finished by a rerun that skips
--     the identical ones; a rerun whose files have other bytes is refused and
--     nothing published is overwritten;
--   * the same set published to the CodeArtifact fake.
local fs = require "relrun.fs"
local proc = require "relrun.proc"
local json = require "relrun.json"
local peer = require "peer"
local projects = require "projects"
local localrepo = require "relrun.pypi.localrepo"

local PYTHON = "/usr/bin/python3"
local RELRUN = os.getenv("RELRUN") or fs.absolute("build/relrun")
local SCRIPT = fs.absolute("scripts/release.lua")
local RETAG = fs.absolute("tests/support/retag_wheel.py")
local VERSION, TAG, DIST = "1.2.3", "v1.2.3", "fx-hatchling"
local AKID, SECRET, ACCOUNT = "AKIDDISTCHECK0001", "dist/secret+0001", "111122223333"
local TAGS = { "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
               "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64", "cp311-cp311-win_amd64" }

local p <close> = projects.make{ fixture = "hatchling" }
p:write("pyproject.toml", p:read("pyproject.toml") ..
  '\n[tool.relrun]\nexpect = ["sdist", "cp311-manylinux", "cp312-manylinux", "cp311-win"]\n')
p:release(VERSION)
local work = fs.join(p.tmp.path, "work")
local made = fs.join(work, "made")
assert(fs.mkdir(made))

local function run(argv)
  local r = assert(proc.run{ argv = argv, cwd = "/", env = { PYTHONDONTWRITEBYTECODE = "1" } })
  assert(r.code == 0, table.concat(argv, " ") .. ": " .. r.stdout .. r.stderr)
  return (r.stdout:gsub("\n$", ""))
end

-- The matrix's files: the hand-run build's sdist and its wheel under TAGS.
local hand = assert(projects.hand_build(p, TAG, { version = VERSION, python = PYTHON, outdir = fs.join(work, "hand") }))
local GOOD = { fs.join(made, fs.basename(hand.sdist)) }
assert(fs.copy(hand.sdist, GOOD[1]))
for _, tag in ipairs(TAGS) do
  GOOD[#GOOD + 1] = run{ "python3", RETAG, fs.absolute(hand.wheel), made, tag }
end
table.sort(GOOD)

local function sha(path) return require("relrun.build").sha256(path) end

local case = 0
-- A fresh case: no journal, an empty repository, DIR holding `paths`.
local function fresh(paths)
  case = case + 1
  fs.remove(p:path(".relrun"), { recursive = true })
  local c = { repo = fs.join(work, "repository-" .. case), dir = fs.join(work, "dist-" .. case) }
  assert(fs.mkdir(c.dir))
  for _, path in ipairs(paths) do assert(fs.copy(path, fs.join(c.dir, fs.basename(path)))) end
  return c
end

local function env(c, extra)
  local e = { RELRUN_REPOSITORY_DIR = c.repo, CODEARTIFACT_DOMAIN = false, GITHUB_ACTIONS = false,
              GITHUB_OUTPUT = false, GITHUB_STEP_SUMMARY = false, GITHUB_TOKEN = false, GH_TOKEN = false,
              RELRUN_LOG = false, S3_WHEELS_BUCKET = false, HOME = work, PIP_CONFIG_FILE = "/dev/null",
              PIP_INDEX_URL = false, PIP_EXTRA_INDEX_URL = false, AWS_ENDPOINT_URL = false }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

local function publish(c, args, extra_env)
  local argv = { RELRUN, SCRIPT, "publish", "--dist", c.dir, "--python", PYTHON }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  return assert(proc.run{ argv = argv, cwd = p.dir, env = env(c, extra_env), stdin = "" })
end

local function succeeds(r, what)
  if r.code ~= 0 then print(r.stdout, r.stderr) end
  eq(r.code, 0, what)
  return r
end

-- Refused: exit 1, the error as stderr's one last line, nothing published.
local function refused(c, r, ...)
  if r.code ~= 1 then print(r.stdout, r.stderr) end
  eq(r.code, 1, "refused")
  local last = r.stderr:match("([^\n]*)\n$") or ""
  contains(last, "relrun: build: the files in " .. c.dir .. " are not fit to publish: ")
  for _, text in ipairs({ ... }) do contains(last, text) end
  ok(r.stdout:find("\n  FAILED%s+build\n"), "the report: FAILED build")
  print("    " .. last)
  eq(localrepo.files(c.repo, DIST), {}, "nothing published")
  return last
end

-- name -> sha256 of the local repository's files of the project.
local function repository(c)
  local out = {}
  for _, f in ipairs(localrepo.files(c.repo, DIST)) do
    eq(sha(fs.join(c.repo, "packages", DIST, f.filename)), f.sha256, "the link's sha256 is the file's")
    out[f.filename] = f.sha256
  end
  return out
end

local function digests(paths)
  local out = {}
  for _, path in ipairs(paths) do out[fs.basename(path)] = sha(path) end
  return out
end

local function journal()
  return json.decode(assert(fs.read(p:path(".relrun/journal-" .. VERSION .. ".json"))))
end

local function with(paths, extra)
  local out = {}
  for _, path in ipairs(paths) do out[#out + 1] = path end
  for _, path in ipairs(extra) do out[#out + 1] = path end
  return out
end

local function without(paths, pattern)
  local out = {}
  for _, path in ipairs(paths) do
    if not path:find(pattern, 1, true) then out[#out + 1] = path end
  end
  return out
end

describe("release.lua publish --dist: files built elsewhere", function()
  it("publishes an sdist and three platform wheels as one release, verified; a rerun does nothing", function()
    local c = fresh(GOOD)
    local output = fs.join(work, "github-output")
    local r = succeeds(publish(c, {}, { GITHUB_OUTPUT = output }), "publish --dist")
    contains(r.stdout, "✓ build: 4 file(s) from " .. c.dir .. ": 3 wheel(s) and the sdist")
    contains(r.stdout, "✓ verify: import fx_hatchling: fx-hatchling 1.2.3 installed")
    contains(r.stdout, "Released fx-hatchling 1.2.3 (v1.2.3) to the local repository")
    eq(repository(c), digests(GOOD), "the repository holds the matrix's bytes")
    -- the job's outputs: every file's sha256 as `sha256sum -c` reads them; no
    -- wheel-sha256, which would name one wheel of several
    local text = assert(fs.read(output))
    local sums = text:match("sha256sums<<(ghadelimiter_%x+)\n")
    ok(sums, "sha256sums, multi-line: " .. text)
    local lines = {}
    for _, path in ipairs(GOOD) do lines[#lines + 1] = sha(path) .. "  " .. fs.basename(path) end
    contains(text, "sha256sums<<" .. sums .. "\n" .. table.concat(lines, "\n") .. "\n" .. sums .. "\n")
    contains(text, "sdist-sha256=" .. sha(GOOD[#GOOD]) .. "\n")
    ok(not text:find("wheel-sha256", 1, true), "no wheel-sha256 for three wheels")
    local j = journal()
    eq(j.bind.version, VERSION, "the journal's version")
    eq(j.bind.commit, p.commits[TAG], "the journal's commit")
    local journaled = {}
    for _, f in ipairs(j.steps.build.evidence.files) do journaled[f.filename] = f.sha256 end
    eq(journaled, digests(GOOD), "the journal holds each file's sha256")
    r = succeeds(publish(c), "rerun")
    contains(r.stdout, "✓ build: the same files as the journal's")
    contains(r.stdout, "✓ publish: already done")
  end)

  it("refuses a file of another project, naming it", function()
    local other = run{ "python3", RETAG, fs.absolute(hand.wheel), made,
                       "cp311-cp311-musllinux_1_1_x86_64", "fx-other", VERSION }
    local c = fresh(with(GOOD, { other }))
    refused(c, publish(c), fs.basename(other) .. ": the file name says fx_other, expected fx-hatchling")
    os.remove(other)
  end)

  it("refuses a file of another version, naming it", function()
    local other = run{ "python3", RETAG, fs.absolute(hand.wheel), made,
                       "cp311-cp311-manylinux_2_17_x86_64", "fx-hatchling", "1.2.4" }
    local c = fresh(with(GOOD, { other }))
    refused(c, publish(c), "the files say version 1.2.4 (" .. fs.basename(other) .. "), the tag says 1.2.3")
    os.remove(other)
  end)

  it("refuses a set without an expected file, naming the pattern", function()
    local c = fresh(without(GOOD, "win_amd64"))
    refused(c, publish(c), "missing cp311-win (expect = sdist, cp311-manylinux, cp312-manylinux, cp311-win)")
  end)

  it("refuses an extra file that matches nothing expected, and a count that differs", function()
    local extra = run{ "python3", RETAG, fs.absolute(hand.wheel), made,
                       "cp310-cp310-manylinux_2_17_x86_64" }
    local c = fresh(with(GOOD, { extra }))
    refused(c, publish(c), "extra " .. fs.basename(extra) .. " (matches nothing in expect")
    c = fresh(with(GOOD, { extra }))
    refused(c, publish(c, { "--expect", "4" }), "5 file(s), expect = 4")
    c = fresh(without(GOOD, ".tar.gz"))
    refused(c, publish(c, { "--expect", "sdist,wheel" }), "missing sdist (expect = sdist, wheel)")
    os.remove(extra)
  end)

  it("refuses an sdist of another commit with the tag's version, before anything is published", function()
    p:write("src/fx_hatchling/__init__.py", p:read("src/fx_hatchling/__init__.py") .. "\nCHANGED = True\n")
    p:commit("A change after the tag, version unchanged")
    local later = assert(projects.hand_build(p, "HEAD", { version = VERSION, python = PYTHON,
                                                          outdir = fs.join(work, "later") }))
    p:git("reset", "-q", "--hard", TAG)
    local c = fresh(with(without(GOOD, ".tar.gz"), { later.sdist }))
    local r = publish(c)
    eq(r.code, 1, "refused")
    local last = r.stderr:match("([^\n]*)\n$") or ""
    contains(last, "relrun: build: the sdist in " .. c.dir .. " was not built from v1.2.3: fx_hatchling-1.2.3.tar.gz "
      .. "is not commit " .. p.commits[TAG]:sub(1, 12) .. "'s: it differs in src/fx_hatchling/__init__.py")
    eq(localrepo.files(c.repo, DIST), {}, "nothing published")
  end)

  it("finishes a publish that failed after two files; other bytes on a rerun are refused", function()
    local c = fresh(GOOD)
    -- a folder where the cp312 wheel must go: the files before it are placed, its rename fails
    local names = {}
    for _, path in ipairs(GOOD) do names[#names + 1] = fs.basename(path) end
    local blocker = fs.join(c.repo, "packages", DIST, names[2])
    assert(fs.mkdir(fs.join(blocker, "x")))
    local r = publish(c)
    eq(r.code, 1, "the publish fails")
    contains(r.stdout, "stopped at step 'publish':")
    contains(r.stderr:match("([^\n]*)\n$"), "then rerun `")
    eq(repository(c), { [names[1]] = sha(GOOD[1]) }, "the file before it is published")
    fs.remove(blocker, { recursive = true })
    -- the matrix ran again and made other bytes under a published name: refused
    local rebuilt = fs.join(c.dir, names[1])
    assert(fs.copy(GOOD[2], rebuilt))
    r = publish(c)
    eq(r.code, 1, "other bytes under a published name")
    contains(r.stderr, "holds a different " .. names[1])
    eq(repository(c), { [names[1]] = sha(GOOD[1]) }, "the published file is not overwritten")
    -- the same files again: the rerun publishes the rest
    assert(fs.copy(GOOD[1], rebuilt))
    r = succeeds(publish(c), "the rerun")
    contains(r.stderr, names[1] .. ": already published, identical")
    for i = 2, #names do contains(r.stderr, names[i] .. ": published") end
    eq(repository(c), digests(GOOD), "the whole set, byte for byte")
  end)

  it("publishes the set to the CodeArtifact fake", function()
    local ca = peer.start{ argv = { "python3", "tests/fakes/codeartifact.py", "--port-file", peer.PORT_FILE,
                                    "--credentials", AKID .. ":" .. SECRET, "--account", ACCOUNT } }
    local _ <close> = setmetatable({}, { __close = function() ca:stop() end })
    local client = assert(require("relrun.aws.codeartifact").client{ region = "us-east-1", endpoint = ca.url,
      credentials = require("relrun.aws.credentials").static(AKID, SECRET) })
    assert(client:create_domain{ domain = "acme" })
    assert(client:create_repository{ domain = "acme", domain_owner = ACCOUNT, repository = "python" })
    local c = fresh(GOOD)
    local r = succeeds(publish(c, {}, {
      CODEARTIFACT_DOMAIN = "acme", CODEARTIFACT_ACCOUNT_ID = ACCOUNT, CODEARTIFACT_REPOSITORY = "python",
      AWS_REGION = "us-east-1", AWS_ACCESS_KEY_ID = AKID, AWS_SECRET_ACCESS_KEY = SECRET,
      AWS_ENDPOINT_URL_CODEARTIFACT = ca.url, AWS_PROFILE = false, AWS_SESSION_TOKEN = false, AWS_ROLE_ARN = false,
      AWS_CONFIG_FILE = "/dev/null", AWS_SHARED_CREDENTIALS_FILE = "/dev/null", AWS_EC2_METADATA_DISABLED = "true" }),
      "publish --dist to CodeArtifact")
    contains(r.stdout, "✓ verify: import fx_hatchling")
    local assets = {}
    for _, a in ipairs(assert(client:list_package_version_assets{ domain = "acme", domain_owner = ACCOUNT,
      repository = "python", format = "pypi", package = DIST, version = VERSION })) do
      assets[a.name] = a.hashes["SHA-256"]:lower()
    end
    eq(assets, digests(GOOD), "CodeArtifact holds the matrix's bytes")
  end)
end)
