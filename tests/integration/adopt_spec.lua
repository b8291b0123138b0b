-- label: slow
-- Adopting relrun in a package's repository that is not relrun's, end to
-- end: relrun installed from the install tree into a temp prefix (`cmake
-- --install`, as install_spec does), `relrun init --vendor release` in a
-- clone of examples/stock-pipeline, committed and tagged; then the
-- generated workflow's publish step runs as GitHub runs it (bash, the step's
-- env with the repository's secrets and variable filled in, simulated
-- Actions with OIDC) against the fakes of tests/support/e2e_world.lua, with
-- the installed relrun first on PATH, and the release is in CodeArtifact.
-- A changed vendored script makes `--locked` refuse with the file and both
-- hashes; `relrun lock`, a commit and a tag, and it publishes again.
-- (The workflow's install step — download, sha256, unpack the .deb — is
-- run by workflow_run_spec.lua, which needs `make deb`.)
local world = require "e2e_world"
local fs = require "relrun.fs"
local hash = require "relrun.hash"
local host = require "relrun.host"
local json = require "relrun.json"
local proc = require "relrun.proc"
local installed = require "installed"
local workflow = require "relrun.workflow"

local BUILD = assert(os.getenv("RELRUN_BUILD_DIR"))

-- What the repository's Settings hold (RELEASE.md's secrets and variable).
local SECRETS = { AWS_ROLE_ARN = world.ROLE, AWS_REGION = world.REGION, CODEARTIFACT_DOMAIN = world.DOMAIN,
                  CODEARTIFACT_ACCOUNT_ID = world.ACCOUNT, CODEARTIFACT_REPOSITORY = world.REPOSITORY,
                  GITHUB_TOKEN = world.GITHUB_TOKEN }
local VARS = { S3_WHEELS_BUCKET = world.BUCKET }

local function must(argv, opts)
  local r = installed.run(argv, opts)
  assert(r.code == 0, table.concat(argv, " ") .. ": " .. r.stdout .. r.stderr)
  return r
end

-- The publish step of the workflow file at `path`, decoded.
local function publish_step(path)
  local y = assert(proc.run{ argv = { "/usr/bin/python3", "-c",
    "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))" }, stdin = fs.read(path) })
  assert(y.code == 0, y.stderr)
  for _, s in ipairs(json.decode(y.stdout).jobs.release.steps) do
    if (s.run or ""):find("relrun --locked release publish", 1, true) then return s end
  end
  error("the workflow has no publish step")
end

-- `${{ secrets.X }}` and `${{ vars.X }}` as GitHub fills them in.
local function expand(value)
  return (value:gsub("%${{%s*(%a+)%.([%w_]+)%s*}}", function(ctx, name)
    return (ctx == "secrets" and SECRETS[name]) or (ctx == "vars" and VARS[name]) or ""
  end))
end

describe("adopting relrun in a package's repository", function()
  local w = world.start{}
  local _ <close> = setmetatable({}, { __close = function() w:stop() end })
  local prefix = w.tmp .. "/prefix"
  must({ "cmake", "--install", BUILD, "--prefix", prefix })
  local bin = prefix .. "/bin/relrun"

  -- the project's own .gitignore, without relrun's folder
  world.write(w.clone .. "/.gitignore", "dist/\nbuild/\n*.egg-info/\n__pycache__/\n")
  w:git("commit -q -am 'ignore build output'")

  -- the workflow pins the package CI downloads (its install step is workflow_run_spec's)
  local deb_sha = hash.sha256("relrun " .. host.version .. "'s package")
  local init = must({ bin, "init", "--vendor", "release", "--deb-url", "https://packages.example.com/relrun.deb",
                      "--deb-sha256", deb_sha }, { cwd = w.clone })
  local step = publish_step(w.clone .. "/" .. workflow.PATH)

  -- Run the publish step (or `script` in its place) as the runner would, on tag `tag`.
  local function publish(tag, script)
    local env = w:env{ GITHUB_REF = "refs/tags/" .. tag, GITHUB_REF_TYPE = "tag", GITHUB_REF_NAME = tag,
                       CI = "true", PATH = prefix .. "/bin:" .. os.getenv("PATH"), RELRUN = false,
                       RELRUN_MODULE_DIR = false, RELRUN_PATH = false }
    for name in pairs(SECRETS) do env[name] = false end
    for name in pairs(VARS) do env[name] = false end
    for name, value in pairs(step.env) do env[name] = expand(value) end
    local r = assert(proc.run{ argv = { "bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script or step.run },
                               env = env, cwd = w.clone, stdin = "" })
    w.transcript = (w.transcript or "") .. r.stdout .. r.stderr
    return r
  end

  it("init writes the workflow, the lock, the vendored script and the ignore line", function()
    contains(init.stdout, "relrun init in " .. w.clone .. ": stock-pipeline\n")
    contains(init.stdout, "wrote .relrun-scripts/release.lua\n")
    eq(world.read(w.clone .. "/.gitignore"), "dist/\nbuild/\n*.egg-info/\n__pycache__/\n\n"
      .. "# relrun's working folder: journals, builds, the local repository\n.relrun/\n")
    eq(step.run, "relrun --locked release publish")
    eq(workflow.pins(world.read(w.clone .. "/" .. workflow.PATH)).version, host.version)
  end)

  it("publishes the tag with the installed relrun and the locked scripts, then refuses a changed script", function()
    w:git("add -A")
    w:git("commit -q -m 'Release with relrun'")
    w:git("tag v0.2.0")
    w:git("push -q origin main v0.2.0")
    local r = publish("v0.2.0", "command -v relrun")
    eq(r.stdout, bin .. "\n", "the step runs the installed relrun")
    r = publish("v0.2.0")
    eq(r.code, 0, r.stdout .. r.stderr)
    ok(r.stdout:find("\n✓ publish[:\n ]"), "the publish step is done: " .. r.stdout)
    eq(r.stderr:find("using %d+ files? that differ"), nil, "the vendored script is relrun's text")
    local s = w:state("0.2.0")
    eq(s.status, "Published", r.stdout)
    ok(s.codeartifact["stock_pipeline-0.2.0-py3-none-any.whl"], "the wheel is in CodeArtifact")
    ok(s.codeartifact["stock-pipeline-0.2.0.tar.gz"], "the sdist is in CodeArtifact")

    -- one vendored script changes: the locked run refuses before running anything
    local script = w.clone .. "/.relrun-scripts/release.lua"
    local locked = hash.sha256(world.read(script))
    world.write(script, world.read(script) .. "-- our release, edited\n")
    r = publish("v0.2.0")
    eq(r.code, 1)
    eq((r.stdout:gsub("::add%-mask::[^\n]*\n", "")), "", "nothing but the masks of the runner's secrets")
    eq(r.stderr, "relrun: --locked: .relrun-scripts/release.lua changed: relrun.lock has sha256 " .. locked
      .. ", the file has sha256 " .. hash.sha256(world.read(script)) .. " (review the change, then run `relrun "
      .. "lock` and commit relrun.lock)\n")

    -- locked, committed and tagged, it publishes again
    must({ bin, "lock" }, { cwd = w.clone })
    w:git("commit -q -am 'release: our edit'")
    w:git("tag v0.2.1")
    w:git("push -q origin main v0.2.1")
    r = publish("v0.2.1")
    eq(r.code, 0, r.stdout .. r.stderr)
    contains(r.stderr, "relrun: using 1 file that differs from relrun " .. host.version
      .. "'s built-in ones: .relrun-scripts/release.lua\n")
    eq(w:state("0.2.1").status, "Published", r.stdout)
  end)
end)
