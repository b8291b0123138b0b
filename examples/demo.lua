-- make demo: release examples/stock-pipeline end to end on this machine.
--
-- In a new temporary folder: a bare git remote, a clone of the example with
-- a v0.1.0 tag and three commits after it; then the real
--   relrun scripts/release.lua --bump minor --yes
-- (prepare → tag v0.2.0 → publish to a local PEP 503 repository → verify),
-- and finally what a user does: pip install from that repository into a
-- fresh venv and use bronze, silver and ingestion. Nothing is written
-- outside the temporary folder, which is named at the end.
local fs = require "relrun.fs"
local proc = require "relrun.proc"

local here = fs.dirname(fs.absolute(arg[0]))          -- examples/
local source = fs.dirname(here)                         -- the relrun checkout
local relrun = fs.absolute(arg[-1] or "relrun")

local function step(title) print("\n== " .. title) end

local function mktemp()
  local r = assert(proc.run{ argv = { "mktemp", "-d", "-t", "relrun-demo.XXXXXX" } })
  assert(r.code == 0, r.stderr)
  return (r.stdout:gsub("%s+$", ""))
end

local root = mktemp()
local git_env = { GIT_AUTHOR_NAME = "Demo Releaser", GIT_AUTHOR_EMAIL = "demo@example.com",
                  GIT_COMMITTER_NAME = "Demo Releaser", GIT_COMMITTER_EMAIL = "demo@example.com",
                  GIT_CONFIG_GLOBAL = "/dev/null", GIT_CONFIG_NOSYSTEM = "1", TMPDIR = root,
                  PIP_NO_CACHE_DIR = "1", PIP_DISABLE_PIP_VERSION_CHECK = "1" }

local function run(argv, cwd, opts)
  opts = opts or {}
  local shown = {}
  for i, a in ipairs(argv) do shown[i] = a:find("\n") and "'<script>'" or a end
  print("$ " .. table.concat(shown, " "))
  local r = assert(proc.run{ argv = argv, cwd = cwd, env = git_env, stdout = opts.quiet and "capture" or "inherit",
                             stderr = opts.quiet and "capture" or "inherit" })
  if r.code ~= 0 then
    if opts.quiet then io.stderr:write(r.stdout or "", r.stderr or "") end
    error({ message = string.format("demo: `%s` failed (exit %s); the demo folder %s is kept for a look",
      table.concat(argv, " "), tostring(r.code or r.signal), root) })
  end
  return r
end

local function git(cwd, ...) return run({ "git", ... }, cwd, { quiet = true }) end

step("A project with a remote, tagged v0.1.0, and three commits since")
local origin = fs.join(root, "origin.git")
local project = fs.join(root, "stock-pipeline")
git(root, "init", "-q", "--bare", "-b", "main", origin)
run({ "cp", "-r", fs.join(source, "examples/stock-pipeline"), project }, root, { quiet = true })
for _, junk in ipairs({ "build", "dist", ".relrun", ".pytest_cache" }) do
  fs.remove(fs.join(project, junk), { recursive = true })
end
for _, egg in ipairs(fs.glob(fs.join(project, "*.egg-info")) or {}) do fs.remove(egg, { recursive = true }) end
fs.write(fs.join(project, ".gitignore"), "build/\ndist/\n*.egg-info/\n__pycache__/\n.relrun/\n")
git(project, "init", "-q", "-b", "main")
git(project, "add", "-A")
git(project, "commit", "-q", "-m", "stock-pipeline: ingestion, bronze, silver")
git(project, "tag", "v0.1.0")
git(project, "remote", "add", "origin", origin)
git(project, "push", "-q", "-u", "origin", "main", "--tags")
local changes = {
  { "CHANGES.md", "# Changes\n\n- silver: sort by symbol, then date\n", "silver: document the sort order" },
  { "CHANGES.md", "# Changes\n\n- silver: sort by symbol, then date\n- ingestion: skip blank lines\n",
    "ingestion: note blank-line handling" },
  { "NOTICE", "stock-pipeline is a relrun example.\n", "add a NOTICE" },
}
for _, c in ipairs(changes) do
  fs.write(fs.join(project, c[1]), c[2])
  git(project, "add", c[1])
  git(project, "commit", "-q", "-m", c[3])
end
git(project, "push", "-q", "origin", "main")
print(git(project, "log", "--oneline", "--decorate").stdout)

step("relrun scripts/release.lua --bump minor --yes")
local repository = fs.join(root, "repository")
local t0 = os.time()
-- --no-isolation: built with the backend Debian installed (python3-setuptools,
-- python3-setuptools-scm), so the demo needs no package index and no network
run({ relrun, fs.join(source, "scripts/release.lua"), "--bump", "minor", "--yes", "--repository-dir", repository,
      "--no-isolation" }, project)
local seconds = os.time() - t0

step("What a user does next: pip install from the repository and use it")
local venv = fs.join(root, "venv")
local python = require("relrun.build").find_python() or "python3"
run({ python, "-m", "venv", venv }, root, { quiet = true })
run({ fs.join(venv, "bin/pip"), "install", "--quiet", "--index-url", "file://" .. repository .. "/simple/",
      "stock-pipeline==0.2.0" }, root)
local sample = fs.join(root, "quotes.csv")
fs.write(sample, table.concat({
  "date,symbol,open,high,low,close,volume",
  "2026-11-20,ACME,10.0,10.5,9.8,10.2,1200",
  "2026-11-20,ACME,10.0,10.5,9.8,10.2,1200",
  "2026-11-19,ACME,9.7,10.1,9.6,10.0,900",
  "2026-11-19,BETA,5.0,4.0,5.5,5.1,300",
}, "\n") .. "\n")
run({ fs.join(venv, "bin/python"), "-c", [==[
import sys, importlib.metadata as md
import bronze, silver, ingestion
print("✓ import bronze, silver, ingestion — stock-pipeline", md.version("stock-pipeline"))
raw = bronze.ingest([sys.argv[1]])
result = silver.refine(raw)
print(f"  bronze kept {len(raw)} raw rows; silver: {len(result.quotes)} quotes, {len(result.rejects)} rejected")
for q in result.quotes:
    print(f"    {q.symbol} {q.date} close {q.close} volume {q.volume}")
for r in result.rejects:
    print(f"    rejected line {r.line}: {r.reason}")
]==], sample }, root)

step("Done")
print(string.format("Released stock-pipeline 0.2.0 in about %d s. Everything is in %s", seconds, root))
print("  origin.git (the remote, with tag v0.2.0), stock-pipeline/ (the clone), repository/ (the PEP 503 index),")
print("  venv/ (the install). Remove it all with: rm -rf " .. root)
