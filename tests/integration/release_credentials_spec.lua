-- label: slow
-- The whole publish under simulated GitHub Actions (tests/support/e2e_world.lua)
-- with every credential relrun knows set in its environment, run under
-- `strace -f -e trace=execve -v`: no credential in any child's argv or
-- environment (the CodeArtifact token reaches pip only through a private
-- pip.conf), none in the environment a build backend prints, none in any
-- output or file, and no temporary file or folder left.
local world = require "e2e_world"
local fs = require "relrun.fs"
local proc = require "relrun.proc"

local strace = proc.which("strace")

-- Every credential variable, with values the fakes accept (their signature
-- checks are off: the environment's AWS keys are the ones the chain uses).
local CREDS = {
  AWS_ACCESS_KEY_ID = "AKIAE2ECREDSPEC00000", AWS_SECRET_ACCESS_KEY = "credspec/Secret+0123456789abcdefghijk",
  AWS_SESSION_TOKEN = "FwoGZXIvYXdzCredSpecSession0123456789", AWS_SECURITY_TOKEN = "FwoGZXIvYXdzCredSpecSecurity012345",
  AWS_CONTAINER_AUTHORIZATION_TOKEN = "credspecContainerTok3n012345", ACTIONS_RUNTIME_TOKEN = "credspecRuntimeTok3n012345",
  GH_TOKEN = "gho_credspecGhTok3n0123456789ab", TWINE_PASSWORD = "pypi-credspecTwine0123456789",
  CODEARTIFACT_AUTH_TOKEN = "eyJ2ZXIiOjEsImlzdSI6credspec0123456789",
  PIP_INDEX_URL = "https://aws:credspecIndexPassw0rd012345@pypi.example/simple/",
  PIP_EXTRA_INDEX_URL = "https://__token__:credspecExtraPassw0rd012345@extra.example/simple/",
  AWS_CONTAINER_CREDENTIALS_FULL_URI = false, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI = false,
}
local CRED_SECRETS = { "credspec/Secret+0123456789abcdefghijk", "FwoGZXIvYXdzCredSpecSession0123456789",
  "FwoGZXIvYXdzCredSpecSecurity012345", "credspecContainerTok3n012345", "credspecRuntimeTok3n012345",
  "gho_credspecGhTok3n0123456789ab", "pypi-credspecTwine0123456789", "eyJ2ZXIiOjEsImlzdSI6credspec0123456789",
  "credspecIndexPassw0rd012345", "credspecExtraPassw0rd012345" }
-- The names no child may see.
local NAMES = { "GITHUB_TOKEN", "GH_TOKEN", "GIT_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL",
  "ACTIONS_RUNTIME_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
  "AWS_CONTAINER_AUTHORIZATION_TOKEN", "TWINE_PASSWORD", "CODEARTIFACT_AUTH_TOKEN" }

-- A build backend that prints its environment, then builds with setuptools.
local BACKEND = [[
import os
import sys

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F401,F403


def _show():
    lines = sorted("%s=%s" % kv for kv in os.environ.items())
    sys.stderr.write("BUILD-ENV-BEGIN\n" + "\n".join(lines) + "\nBUILD-ENV-END\n")


def build_wheel(*args, **kwargs):
    _show()
    return _setuptools.build_wheel(*args, **kwargs)


def build_sdist(*args, **kwargs):
    _show()
    return _setuptools.build_sdist(*args, **kwargs)
]]

describe("a publish with every credential set", function()
  if not strace then skip("strace is not installed") end
  local probe = proc.run{ argv = { strace, "-f", "-qq", "--seccomp-bpf", "-e", "trace=execve", "-o", "/dev/null",
                                   "true" } }
  if not probe or probe.code ~= 0 then skip("strace cannot trace here: " .. (probe and probe.stderr or "")) end

  local w = world.start{}
  local _ <close> = setmetatable({}, { __close = function() w:stop() end })
  local trace, tmpdir = w.tmp .. "/execve.trace", w.tmp .. "/tmp"
  fs.mkdir(tmpdir)

  -- The project builds through the backend above.
  fs.mkdir(w.clone .. "/_backend")
  world.write(w.clone .. "/_backend/envdump.py", BACKEND)
  local pyproject = world.read(w.clone .. "/pyproject.toml")
  pyproject = pyproject:gsub('build%-backend = "setuptools.build_meta"',
    'build-backend = "envdump"\nbackend-path = ["_backend"]')
  world.write(w.clone .. "/pyproject.toml", pyproject)
  w:git("add -A")
  w:git("commit -q -m 'build: a backend that prints its environment'")
  w:git("push -q origin main")
  local tagged = w:relrun{ "scripts/release.lua", "tag", "--version", "0.2.0", "--yes" }
  eq(tagged.code, 0, tagged.stderr)
  -- publish as CI does, on a machine that has not built the release
  fs.remove(w.clone .. "/.relrun", { recursive = true })

  local env = w:env(CREDS)
  env.RELRUN_LOG, env.TMPDIR = "verbose", tmpdir
  -- LeakSanitizer cannot run under ptrace (a sanitizer build, run by hand)
  if os.getenv("RELRUN_SANITIZE") == "1" then env.ASAN_OPTIONS = "detect_leaks=0" end
  local argv = { strace, "-f", "-qq", "--seccomp-bpf", "-e", "trace=execve", "-v", "-s", "1000000", "-o", trace,
                 os.getenv("RELRUN") or "build/relrun", (os.getenv("RELRUN_SOURCE_DIR") or ".") ..
                 "/scripts/release.lua", "publish" }
  local r = assert(proc.run{ argv = argv, env = env, cwd = w.clone, stdin = "" })
  w.transcript = (w.transcript or "") .. r.stdout .. r.stderr

  it("publishes", function()
    eq(r.code, 0, r.stdout .. r.stderr)
    for _, step in ipairs({ "connect", "build", "publish", "s3", "github-release", "verify" }) do
      ok(r.stdout:find("\n✓ " .. step:gsub("%-", "%%-") .. "[:\n ]"), step .. " done: " .. r.stdout)
    end
  end)

  -- execve lines of relrun's children (the first one is relrun itself,
  -- started by strace with the whole environment).
  local execs = {}
  for line in world.read(trace):gmatch("[^\n]+") do
    local pid, call = line:match("^(%d+)%s+(execve%(.*)$")
    if pid then execs[#execs + 1] = { pid = pid, line = call } end
  end
  table.remove(execs, 1)
  local secrets = w:secrets()
  for _, s in ipairs(CRED_SECRETS) do secrets[#secrets + 1] = s end

  it("no credential in any child's argv or environment", function()
    ok(#execs > 10, "children were traced: " .. #execs)
    for _, e in ipairs(execs) do
      for _, s in ipairs(secrets) do
        if e.line:find(s, 1, true) then
          error("a secret (" .. s:sub(1, 6) .. "…) reached a child: " .. e.line:sub(1, 200), 0)
        end
      end
      for _, name in ipairs(NAMES) do
        ok(not e.line:find('"' .. name .. "=", 1, true), name .. " in a child's environment: " .. e.line:sub(1, 120))
      end
    end
  end)

  it("pip gets the index through a private pip.conf, gone afterwards; the import check gets nothing", function()
    local conf, pip_runs, import_runs = nil, 0, 0
    for _, e in ipairs(execs) do
      if e.line:find('"-m", "pip"', 1, true) and e.line:find('"install"', 1, true) then
        pip_runs = pip_runs + 1
        conf = e.line:match('"PIP_CONFIG_FILE=([^"]+)"')
        ok(conf, "pip install has PIP_CONFIG_FILE")
        ok(not e.line:find("--index-url", 1, true), "no index URL in pip's argv")
      end
      if e.line:find("import importlib, importlib.metadata as m", 1, true) then
        import_runs = import_runs + 1
        ok(not e.line:find("relrun-pip.relrun-", 1, true), "the import check has no pip settings")
      end
    end
    eq(pip_runs, 1, "one pip install")
    eq(import_runs, 1, "one import check")
    contains(conf, tmpdir .. "/relrun-pip.relrun-")
    eq(fs.exists(fs.dirname(conf)), false, "the private folder is removed")
  end)

  it("the build's own environment, as its backend prints it, holds no credential", function()
    local shown = w.transcript:match("BUILD%-ENV%-BEGIN\n(.-)BUILD%-ENV%-END")
    ok(shown, "the backend printed its environment")
    for _, name in ipairs(NAMES) do ok(not shown:find("\n" .. name .. "=", 1, true), name) end
    contains(shown, "SETUPTOOLS_SCM_PRETEND_VERSION=0.2.0")
  end)

  it("no credential in any output or file, no temporary file left", function()
    local texts = { transcript = w.transcript:gsub("::add%-mask::[^\n]*", ""), summary = world.read(w.summary),
                    output = world.read(w.output) }
    for _, f in ipairs(fs.glob(w.clone .. "/.relrun/*.json")) do texts[f] = world.read(f) end
    for _, s in ipairs(secrets) do
      for where, text in pairs(texts) do
        if text:find(s, 1, true) then error("a secret (" .. s:sub(1, 6) .. "…) appears in " .. where, 0) end
      end
    end
    eq(fs.list(tmpdir), {}, "nothing left in TMPDIR")
  end)
end)
