-- label: slow
-- Ctrl-C during a local publish of a large release (examples/stock-pipeline
-- with an incompressible data file: RELRUN_BIG_MB, default 32; 200 shows
-- the case the issue met): first during the wheel build, then while a file
-- is being copied into the repository. Each time relrun exits 130 with one
-- line, "relrun: interrupted"; nothing is left in the repository (no
-- temporary file: the copy is stopped and its file removed at once) or in
-- TMPDIR (the checkout, the unpacked sdist, python -m build's own temporary
-- files: relrun's temporary folders are closed on the way out); and the
-- rerun completes. Ctrl-C is a terminal's: SIGINT to relrun's whole process
-- group, python -m build included. A kill -9 at the same places leaves
-- pid-marked leftovers that the next relrun sweeps (release_kill_spec).
local G = require "git_fixtures"
local fs = require "relrun.fs"
local proc = require "relrun.proc"
local host = require "relrun.host"
local hash = require "relrun.hash"
local localrepo = require "relrun.pypi.localrepo"

local source_dir = os.getenv("RELRUN_SOURCE_DIR") or "."
local RELRUN = os.getenv("RELRUN") or (source_dir .. "/build/relrun")
local BIG_MB = tonumber(os.getenv("RELRUN_BIG_MB") or "") or 32
local tmp = require("e2e_world").tempdir()
local _ <close> = setmetatable({}, { __close = function() G.rmrf(tmp) end })
local clone, repo, tmpdir = tmp .. "/stock-pipeline", tmp .. "/repository", tmp .. "/runs-tmp"
local packages = fs.join(repo, "packages", "stock-pipeline")
local NAMES = { "stock-pipeline-0.1.0.tar.gz", "stock_pipeline-0.1.0-py3-none-any.whl" }

do -- the clone, its remote, a large file in a package, the tag
  G.sh("git init -q --bare -b main " .. G.quote(tmp .. "/origin.git"))
  G.sh("cp -r " .. G.quote(source_dir .. "/examples/stock-pipeline") .. " " .. G.quote(clone) .. " && rm -rf "
    .. G.quote(clone .. "/build") .. " " .. G.quote(clone .. "/dist"))
  G.sh("head -c " .. BIG_MB .. "M /dev/urandom > " .. G.quote(clone .. "/bronze/quotes.bin"))
  fs.write(clone .. "/.gitignore", ".relrun/\ndist/\nbuild/\n*.egg-info/\n__pycache__/\n")
  G.git(clone, "init -q -b main")
  G.git(clone, "add -A")
  G.git(clone, "commit -q -m 'stock-pipeline with " .. BIG_MB .. " MB of quotes'")
  G.git(clone, "tag v0.1.0")
  G.git(clone, "remote add origin " .. G.quote("file://" .. tmp .. "/origin.git"))
  G.git(clone, "push -q -u origin main --tags")
  assert(fs.mkdir(tmpdir))
end

local ENV = { RELRUN_REPOSITORY_DIR = repo, CODEARTIFACT_DOMAIN = false, GITHUB_ACTIONS = false, GITHUB_OUTPUT = false,
              GITHUB_STEP_SUMMARY = false, GITHUB_TOKEN = false, RELRUN_LOG = false, PIP_CONFIG_FILE = "/dev/null",
              PIP_CONSTRAINT = false, TMPDIR = tmpdir, HOME = tmp, RELRUN_BUILD_ISOLATION = "false" }

-- relrun publish in a session of its own (its pid is the group's), output
-- kept line by line.
local function start()
  local run = { lines = {}, err = {} }
  local function keep(line) run.lines[#run.lines + 1] = line end
  local function keep_err(line)
    keep(line)
    run.err[#run.err + 1] = line
  end
  run.h = assert(proc.spawn{ argv = { "setsid", RELRUN, source_dir .. "/scripts/release.lua", "publish" },
    env = ENV, cwd = clone, stdin = "", stdout = keep, stderr = keep_err })
  return run
end

local function saw(run, text)
  for _, l in ipairs(run.lines) do
    if l:find(text, 1, true) then return true end
  end
  return false
end

-- Wait until pred() (-> true) or the end of the run (-> false).
local function wait_for(run, pred)
  while not run.result do
    if pred() then return true end
    run.result = run.h:wait(0.002)
  end
  return false
end

-- A terminal's Ctrl-C: SIGINT to the process group.
local function ctrl_c(run)
  proc.run{ argv = { "kill", "-INT", "--", "-" .. run.h.pid }, stderr = "null" }
  run.result = run.result or run.h:wait()
  run.stderr = table.concat(run.err, "\n") .. "\n"
  return run.result
end

-- Exit 130, one line; nothing left behind.
local function interrupted(run, where)
  if run.result.code ~= 130 then print(table.concat(run.lines, "\n"), run.stderr) end
  eq(run.result.code, 130, where .. ": exit code")
  eq(run.stderr:match("([^\n]*)\n$"), "relrun: interrupted", where .. ": the last line")
  eq(select(2, run.stderr:gsub("interrupted", "")), 1, where .. ": said once: " .. run.stderr)
  eq(fs.list(tmpdir), {}, where .. ": nothing left in TMPDIR")
  for _, name in ipairs(fs.list(packages) or {}) do
    ok(name == NAMES[1] or name == NAMES[2], where .. ": the repository holds " .. name)
  end
end

describe("Ctrl-C during a local publish of a " .. BIG_MB .. " MB release", function()
  it("during the wheel build: exit 130, one line, no temporary folder left", function()
    local run = start()
    ok(wait_for(run, function() return saw(run, "building the wheel from it") end), "the wheel build started")
    host.sleep(0.3)
    ok(not run.result, "still building")
    ctrl_c(run)
    interrupted(run, "in the build")
    eq(fs.list(packages) or {}, {}, "nothing published")
  end)

  it("while a file is copied into the repository: its temporary file is removed at once", function()
    local run = start()
    local temp
    ok(wait_for(run, function()
      for _, name in ipairs(fs.list(packages) or {}) do
        if name:find("%.relrun%-%d+%-%w+$") then temp = name return true end
      end
      return false
    end), "a copy into the repository seen")
    ctrl_c(run)
    print("  interrupted while writing " .. temp)
    interrupted(run, "in the copy")
    eq(fs.list(packages), {}, "neither the temporary file nor a half-placed file is left")
  end)

  it("the rerun completes", function()
    local run = start()
    run.result = run.h:wait()
    if run.result.code ~= 0 then print(table.concat(run.lines, "\n")) end
    eq(run.result.code, 0, "the rerun")
    ok(saw(run, "✓ verify: import bronze, ingestion, silver"), "verified")
    local files = {}
    for _, f in ipairs(localrepo.files(repo, "stock-pipeline")) do
      eq(hash.file(fs.join(packages, f.filename), { "sha256" }).sha256, f.sha256, f.filename)
      ok(fs.stat(fs.join(packages, f.filename)).size > BIG_MB * 1000000, f.filename .. " holds the large file")
      files[#files + 1] = f.filename
    end
    eq(files, NAMES, "both files published")
    eq(fs.list(packages), NAMES, "no temporary file")
    eq(fs.list(tmpdir), {}, "nothing left in TMPDIR")
  end)
end)
