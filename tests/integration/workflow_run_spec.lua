-- label: package
-- The shipped release workflow, run here as far as it runs off GitHub: in a
-- package repository that is not relrun's (a copy of
-- examples/stock-pipeline, tagged), each `run:` step of the filled-in
-- template runs under bash as the runner runs it (RUNNER_TEMP, GITHUB_PATH,
-- the job's and step's env, secrets empty), with relrun's .deb from
-- `make deb` at a file:// URL. The install step checks the sha256 and
-- unpacks relrun; the publish step runs the installed relrun --locked on
-- the project's vendored release.lua against the local target. Then a
-- vendored file changes: --locked refuses with both hashes; `relrun lock`,
-- commit, tag, and the publish runs again. (actions/checkout is the one `uses:` step:
-- the repository is already here.)
local fs = require "relrun.fs"
local host = require "relrun.host"
local hash = require "relrun.hash"
local json = require "relrun.json"
local proc = require "relrun.proc"
local installed = require "installed"

local SRC = os.getenv("RELRUN_SOURCE_DIR") or "."
local DEB = fs.glob(assert(os.getenv("RELRUN_PACKAGE_DIR")) .. "/relrun_" .. host.version .. "_*.deb")[1]
assert(DEB, "no relrun package in RELRUN_PACKAGE_DIR: run make deb")

local function must(argv, opts)
  local r = installed.run(argv, opts)
  assert(r.code == 0, table.concat(argv, " ") .. ": " .. r.stdout .. r.stderr)
  return r
end

-- The workflow relrun writes, with the URL where the package really is.
local function the_workflow()
  local r = must({ os.getenv("RELRUN"), "workflow", "--deb-url", "file://" .. DEB, "--deb", DEB })
  local y = assert(proc.run{ argv = { "/usr/bin/python3", "-c",
    "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))" }, stdin = r.stdout })
  assert(y.code == 0, y.stderr)
  return json.decode(y.stdout).jobs.release
end

-- `${{ secrets.X }}` and `${{ vars.X }}` with nothing set are empty strings on
-- GitHub; `${{ env.X }}` is the job's env.
local function expand(value, job_env)
  return (value:gsub("%${{%s*(%a+)%.([%w_]+)%s*}}", function(ctx, name)
    if ctx == "env" then return job_env[name] or "" end
    return ""
  end))
end

describe("the release workflow, run locally", function()
  local job = the_workflow()
  local tmp, workspace, runner_temp, github_path, repository

  -- Run step `s` as GitHub runs a `run:` step (bash -eo pipefail, the job's
  -- env, then the step's), with PATH extended by what GITHUB_PATH collected.
  local function run_step(s, extra_env)
    local script = runner_temp .. "/step.sh"
    fs.write(script, s.run)
    local path = {}
    for line in (fs.read(github_path) or ""):gmatch("[^\n]+") do table.insert(path, 1, line) end
    path[#path + 1] = os.getenv("PATH")
    local env = { RUNNER_TEMP = runner_temp, GITHUB_PATH = github_path, GITHUB_WORKSPACE = workspace,
                  GITHUB_ACTIONS = "true", CI = "true", GITHUB_REF = "refs/tags/v0.1.0", GITHUB_REF_TYPE = "tag",
                  GITHUB_REPOSITORY = "acme/stock-pipeline", PATH = table.concat(path, ":"),
                  RELRUN_REPOSITORY_DIR = repository, PIP_CONFIG_FILE = "/dev/null", GITHUB_OUTPUT = false,
                  GITHUB_STEP_SUMMARY = false, RELRUN_LOG = false, RELRUN = false }
    for k, v in pairs(job.env) do env[k] = expand(v, job.env) end
    for k, v in pairs(s.env or {}) do env[k] = expand(v, job.env) end
    for k, v in pairs(extra_env or {}) do env[k] = v end
    return assert(proc.run{ argv = { "bash", "--noprofile", "--norc", "-eo", "pipefail", script }, env = env,
                            cwd = workspace, stdin = "" })
  end

  local function step(pattern)
    for _, s in ipairs(job.steps) do
      if (s.run or ""):find(pattern) then return s end
    end
    error("no step runs " .. pattern)
  end

  before_each(function()
    tmp = fs.tempdir("relrun-wf-run-")
    workspace, runner_temp = tmp.path .. "/stock-pipeline", tmp.path .. "/runner-temp"
    github_path, repository = tmp.path .. "/github_path", tmp.path .. "/repository"
    fs.mkdir(runner_temp)
    must({ "cp", "-r", SRC .. "/examples/stock-pipeline", workspace })
    must({ "rm", "-rf", workspace .. "/build", workspace .. "/dist" })
    fs.write(workspace .. "/.gitignore", ".relrun/\ndist/\nbuild/\n*.egg-info/\n__pycache__/\n")
    -- the project vendors release.lua and locks it, with the relrun it pins
    must({ "git", "init", "-q", "-b", "main", workspace })
    must({ os.getenv("RELRUN"), "vendor", "release" }, { cwd = workspace })
    must({ "git", "-C", workspace, "add", "-A" })
    must({ "git", "-C", workspace, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "pkg" })
    must({ "git", "-C", workspace, "tag", "v0.1.0" })
  end)
  after_each(function() tmp:close() end)

  it("installs the pinned relrun and publishes the tag with the locked scripts", function()
    local r = run_step(step("apt%-get install"))
    eq(r.code, 0, "the tools step (everything is installed here, so apt is not called): " .. r.stderr)
    r = run_step(step("sha256sum %-%-check"))
    eq(r.code, 0, r.stdout .. r.stderr)
    contains(r.stdout, ": OK")
    eq(fs.read(github_path), runner_temp .. "/relrun/usr/bin\n")
    local publish = step("relrun %-%-locked release publish")
    r = run_step({ run = "command -v relrun", env = publish.env })
    eq(r.stdout, runner_temp .. "/relrun/usr/bin/relrun\n", "the publish step runs the unpacked relrun")

    r = run_step(publish)
    eq(r.code, 0, r.stdout .. r.stderr)
    for _, f in ipairs({ "stock-pipeline-0.1.0.tar.gz", "stock_pipeline-0.1.0-py3-none-any.whl" }) do
      ok(fs.exists(repository .. "/packages/stock-pipeline/" .. f), f .. " published:\n" .. r.stdout .. r.stderr)
    end

    -- a vendored file changes: the locked run refuses before doing anything
    local script = workspace .. "/.relrun-scripts/release.lua"
    local before = hash.sha256(fs.read(script))
    fs.write(script, fs.read(script) .. "-- a local change\n")
    r = run_step(publish)
    eq(r.code, 1)
    eq(r.stdout, "")
    contains(r.stderr, "relrun: --locked: .relrun-scripts/release.lua changed: relrun.lock has sha256 " .. before
      .. ", the file has sha256 " .. hash.sha256(fs.read(script)))
    -- locked, committed and tagged, it runs again (and says the file is not relrun's text)
    must({ runner_temp .. "/relrun/usr/bin/relrun", "lock" }, { cwd = workspace })
    must({ "git", "-C", workspace, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-am",
      "a local change" })
    must({ "git", "-C", workspace, "tag", "v0.1.1" })
    r = run_step(publish, { GITHUB_REF = "refs/tags/v0.1.1" })
    eq(r.code, 0, r.stdout .. r.stderr)
    contains(r.stderr, "relrun: using 1 file that differs from relrun " .. host.version
      .. "'s built-in ones: .relrun-scripts/release.lua\n")
    ok(fs.exists(repository .. "/packages/stock-pipeline/stock_pipeline-0.1.1-py3-none-any.whl"), r.stdout)
  end)

  it("refuses a package whose sha256 is not the pinned one, installing nothing", function()
    run_step(step("apt%-get install"))
    local r = run_step(step("sha256sum %-%-check"), { RELRUN_DEB_SHA256 = string.rep("0", 64) })
    ok(r.code ~= 0, "the step fails")
    contains(r.stdout .. r.stderr, "FAILED")
    ok(not fs.exists(runner_temp .. "/relrun"), "nothing unpacked")
    eq(fs.read(github_path), nil, "nothing added to PATH")
  end)
end)
