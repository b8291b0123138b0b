-- label: slow
-- Kill -9 at random points of a real `release.lua publish` (examples/
-- stock-pipeline, the local target and the CodeArtifact fake with its S3
-- copy and GitHub Release), then a rerun on a "fresh machine": `.relrun/`
-- and `dist/` deleted, as a new CI runner has neither. The rerun must end
-- where a clean run ends: the version's files published once, each with the
-- sha256 the build of the tagged commit gives (every system agreeing),
-- verify passing, and nothing left behind: no temporary file in the
-- repository or the clone, nothing in the runs' TMPDIR (build and pip
-- included).
--
-- The kill lands in a window picked by a seeded RNG (the seed is printed;
-- RELRUN_FAULT_SEED=N replays it, RELRUN_FAULT_RUNS=N changes the number of
-- kills, default 50, split between the two targets). The windows come from
-- each target's clean reference run: before the build, during the build
-- (sdist or wheel), between or during uploads (on CodeArtifact an upload
-- can be held by the fake's "slow" fault, so the kill lands while the server
-- holds the body), the S3 copy, the GitHub Release, verify, or anywhere. The
-- kill is SIGKILL to relrun's process group (relrun, python -m build, pip:
-- a cancelled runner or a lost machine), so no cleanup code runs.
local world = require "e2e_world"
local fs = require "relrun.fs"
local proc = require "relrun.proc"
local host = require "relrun.host"
local hash = require "relrun.hash"
local localrepo = require "relrun.pypi.localrepo"

local source_dir = os.getenv("RELRUN_SOURCE_DIR") or "."
local RELRUN = os.getenv("RELRUN") or (source_dir .. "/build/relrun")
local SEED = tonumber(os.getenv("RELRUN_FAULT_SEED") or "") or (os.time() % 1000003)
local RUNS = tonumber(os.getenv("RELRUN_FAULT_RUNS") or "") or 50
math.randomseed(SEED)
print(string.format("kill -9 matrix: seed %d, %d kills (replay: RELRUN_FAULT_SEED=%d RELRUN_FAULT_RUNS=%d)", SEED,
  RUNS, SEED, RUNS))

local w = world.start{}
local _ <close> = setmetatable({}, { __close = function() w:stop() end })
local repo, tmpdir = w.tmp .. "/repository", w.tmp .. "/runs-tmp"
assert(fs.mkdir(tmpdir))

local TARGETS = {
  ["local"] = { env = { CODEARTIFACT_DOMAIN = false, S3_WHEELS_BUCKET = false, GITHUB_TOKEN = false,
                        RELRUN_REPOSITORY_DIR = repo, TMPDIR = tmpdir } },
  codeartifact = { env = { TMPDIR = tmpdir } },
}
for _, t in pairs(TARGETS) do   -- no index to probe: build with the installed backend
  t.env.RELRUN_BUILD_ISOLATION = "false"
end


local function names(v)
  return { "stock-pipeline-" .. v .. ".tar.gz", "stock_pipeline-" .. v .. "-py3-none-any.whl" }
end

---------------------------------------------------------------------------
-- A run, watched line by line, killed at a chosen moment
---------------------------------------------------------------------------

-- relrun in a session of its own (setsid: its pid is the process group's),
-- every line of its stdout and stderr kept with the time it came.
local function start(target)
  local run = { t0 = host.monotime(), lines = {} }
  local function keep(line) run.lines[#run.lines + 1] = { t = host.monotime() - run.t0, text = line } end
  run.h = assert(proc.spawn{ argv = { "setsid", RELRUN, source_dir .. "/scripts/release.lua", "publish" },
    env = w:env(TARGETS[target].env), cwd = w.clone, stdin = "", stdout = keep, stderr = keep })
  return run
end

-- The time of the first line containing `text`, or nil.
local function seen(run, text)
  for _, l in ipairs(run.lines) do
    if l.text:find(text, 1, true) then return l.t end
  end
end

-- Wait until pred() is true (-> true) or the run ends (-> pred()).
local function wait_for(run, pred)
  while not run.result do
    if pred() then return true end
    run.result = run.h:wait(0.003)
  end
  return pred()
end

local function group_alive(pid)
  return proc.run{ argv = { "kill", "-0", "--", "-" .. pid }, stderr = "null" }.code == 0
end

-- SIGKILL to the whole group, then wait until none of it is left.
local function kill(run)
  local pid = run.h.pid
  proc.run{ argv = { "kill", "-KILL", "--", "-" .. pid }, stderr = "null" }
  run.result = run.result or run.h:wait()
  while group_alive(pid) do host.sleep(0.01) end
  return run.result.signal == 9
end

local function finish(run)
  wait_for(run, function() return false end)
  local out = {}
  for _, l in ipairs(run.lines) do out[#out + 1] = l.text end
  run.text = table.concat(out, "\n") .. "\n"
  return run
end

-- The step each line of a plan's output starts and ends.
local function steps_of(run)
  local started, ended = {}, {}
  for _, l in ipairs(run.lines) do
    local s = l.text:match("^→ ([%w%-]+):")
    if s then started[#started + 1] = { name = s, t = l.t } end
    local e = l.text:match("^✓ ([%w%-]+)")
    if e then ended[e] = l.t end
  end
  return started, ended
end

-- Where a killed run was: "build (sdist)", "publish (1 of 2 uploaded)", ...
-- (`there`: how many files of the version the target holds after the kill).
local function landed(run, point, there)
  local started, ended = steps_of(run)
  local last = started[#started]
  if not last then return "before the first step" end
  if ended[last.name] then return "between " .. last.name .. " and the next step" end
  if last.name == "build" then
    return seen(run, "building the wheel from it") and "build (wheel)" or
      seen(run, "python -m build") and "build (sdist)" or "build (checkout)"
  elseif last.name == "publish" then
    return string.format("publish (%d of 2 uploaded%s)", there, point.hold and ", one held by the server" or "")
  end
  return last.name
end

---------------------------------------------------------------------------
-- Kill points: windows of the reference run
---------------------------------------------------------------------------

-- Each window: the line that opens it, and how long it lasted in the
-- reference run. The kill comes a random fraction of that after the line.
local function windows(target, ref)
  local started, ended = steps_of(ref)
  local at = {}
  for _, s in ipairs(started) do at[s.name] = s.t end
  local function span(step) return math.max(0.005, (ended[step] or at[step]) - at[step]) end
  local build = span("build")
  local list = {
    { order = 1, name = "before the build", after = "publish stock-pipeline", length = at.build },
    { order = 2, name = "build, first half", after = "→ build:", length = build / 2 },
    { order = 2.5, name = "build, second half", after = "→ build:", offset = build / 2, length = build / 2 },
    { order = 3, name = "uploads", after = "→ publish:", length = span("publish") },
    { order = 6, name = "verify", after = "→ verify:", length = span("verify") },
    -- last in a chain: whatever is still to do after the kills before it
    { order = 7, name = "anywhere", after = "publish stock-pipeline", length = ref.lines[#ref.lines].t },
  }
  if target == "codeartifact" then
    list[#list + 1] = { order = 3, name = "upload held by the server", after = "→ publish:", length = 0.5, hold = 0.5 }
    list[#list + 1] = { order = 4, name = "s3", after = "→ s3:", length = span("s3") }
    list[#list + 1] = { order = 5, name = "github-release", after = "→ github-release:", length = span("github-release") }
  end
  return list
end

---------------------------------------------------------------------------
-- The state after the rerun
---------------------------------------------------------------------------

-- Every sha256 a build printed for a file ("built NAME (sha256 H)"); all
-- builds of one commit must agree (reproducible, so a fresh rerun's build
-- is the killed run's).
local function built(runs)
  local sha = {}
  for _, run in ipairs(runs) do
    for name, h in run.text:gmatch("built (%S+) %(sha256 (%x+)%)") do
      if sha[name] then eq(h, sha[name], "two builds of one commit give the same " .. name) end
      sha[name] = h
    end
  end
  return sha
end

-- Every file under dir whose name marks it temporary (relrun's pid-marked
-- leftovers, or any *.tmp-*).
local function leftovers(dir, out)
  out = out or {}
  for _, name in ipairs(fs.list(dir) or {}) do
    local path = fs.join(dir, name)
    if name:find("%.relrun%-%d+%-") or name:find("%.tmp%-") then out[#out + 1] = path end
    if (fs.lstat(path) or {}).type == "directory" then leftovers(path, out) end
  end
  return out
end

local function local_state(v)
  local out = {}
  for _, f in ipairs(localrepo.files(repo, "stock-pipeline")) do
    if f.filename:find("-" .. v, 1, true) then
      local path = fs.join(repo, "packages", "stock-pipeline", f.filename)
      eq(hash.file(path, { "sha256" }).sha256, f.sha256, "the link's sha256 is the file's: " .. f.filename)
      out[f.filename] = f.sha256
    end
  end
  return out
end

local function codeartifact_state(v)
  local s = w:state(v)
  eq(s.status, "Published", "CodeArtifact status")
  ok(s.release, "a GitHub Release of v" .. v)
  for name, sha in pairs(s.codeartifact) do
    eq(s.s3["wheels/" .. name], { sha256 = sha, content = sha }, "the S3 copy of " .. name)
    eq(s.github[name], sha, "the GitHub asset " .. name)
  end
  local n = 0
  for _ in pairs(s.s3) do n = n + 1 end
  for _ in pairs(s.github) do n = n + 1 end
  eq(n, 4, "two S3 objects and two GitHub assets")
  return s.codeartifact
end

-- The rerun's end state is a clean run's.
local function converged(target, v, runs, rerun)
  if rerun.result.code ~= 0 then print(rerun.text) end
  eq(rerun.result.code, 0, "the rerun")
  contains(rerun.text, "✓ verify: import bronze, ingestion, silver")
  contains(rerun.text, "Released stock-pipeline " .. v .. " (v" .. v .. ")")
  local sha = built(runs)
  local want = {}
  for _, name in ipairs(names(v)) do
    ok(sha[name], "a build printed the sha256 of " .. name)
    want[name] = sha[name]
  end
  eq(target == "local" and local_state(v) or codeartifact_state(v), want, "the files of " .. v .. " and their sha256")
  eq(leftovers(repo), {}, "no temporary file in the repository")
  eq(leftovers(w.clone), {}, "no temporary file in the clone")
  eq(fs.list(tmpdir), {}, "nothing left in the runs' TMPDIR")
end

local function fresh_machine()
  assert(os.execute("rm -rf " .. w.clone .. "/.relrun " .. w.clone .. "/dist"))
end

---------------------------------------------------------------------------
-- The matrix
---------------------------------------------------------------------------

local tally, total_kills, killed_pids = {}, 0, {}

-- Nothing wrong is ever published, killed or not: every file the target
-- holds for v has the sha256 a build of the tag gives.
-- -> how many files of v the target holds.
local function nothing_wrong(target, v, sha)
  local there, n = target == "local" and local_state(v) or w:state(v).codeartifact, 0
  for name, h in pairs(there) do
    if sha[name] then eq(h, sha[name], "after a kill, the published " .. name) end
    n = n + 1
  end
  return n
end

-- One run on a fresh machine, killed at `point` (a window and a random
-- fraction of it). -> the run, and where it was killed (nil: it ended first).
local function killed_run(target, point)
  fresh_machine()
  if point.hold then
    w:control(w.ca, "POST", "/__fault", { target = "pypi:upload", kind = "slow", delay = point.hold, times = 1 })
  end
  local run = start(target)
  if wait_for(run, function() return seen(run, point.after) ~= nil end) then
    local deadline = run.t0 + seen(run, point.after) + (point.offset or 0) + math.random() * point.length
    wait_for(run, function() return host.monotime() >= deadline end)
    if not run.result then
      run.h:kill("KILL")   -- relrun first, at once; then the rest of its group
      kill(run)
    end
  end
  finish(run)
  if point.hold then
    w:control(w.ca, "DELETE", "/__fault")
    host.sleep(point.hold)   -- the held request ends (and stores the file) before the next machine starts
  end
  if run.result.signal ~= 9 then return run, false end
  ok(not run.text:find("FAILED", 1, true) and not run.text:find("\nrelrun: "), "no failure before the kill: " .. run.text)
  return run, true
end

-- A chain on one new version: runs on fresh machines, each killed at the
-- next of `points` (in the order of the run), then a last rerun that must
-- converge. -> the number of kills that landed.
local function chain(target, points)
  local v, runs, kills = w:next_release(), {}, 0
  local t0 = host.monotime()
  local wheres = {}
  for _, point in ipairs(points) do
    local run, killed = killed_run(target, point)
    runs[#runs + 1] = run
    if not killed then break end    -- it ended before the kill: it is the rerun
    kills = kills + 1
    local where = landed(run, point, nothing_wrong(target, v, built(runs)))
    tally[where] = (tally[where] or 0) + 1
    wheres[#wheres + 1] = where
    killed_pids[run.h.pid] = true
    for _, name in ipairs(fs.list(tmpdir)) do   -- what the next relrun sweeps: killed relruns' own folders only
      ok(killed_pids[tonumber(name:match("%.relrun%-(%d+)%-%w+$"))], "after a kill, TMPDIR holds " .. name)
    end
  end
  local last = runs[#runs]
  if last.result.signal == 9 then
    fresh_machine()
    last = finish(start(target))
    runs[#runs + 1] = last
  end
  converged(target, v, runs, last)
  print(string.format("    %s %s: %s; %.1f s", target, v, #wheres > 0 and table.concat(wheres, ", ") or "no kill",
    host.monotime() - t0))
  return kills
end

-- The windows of one chain, in the order a run meets them: each with
-- odds of 3 in 4 (one of two windows at the same place), at least one. Later
-- kills in a chain are cheap (what an earlier run published is not built
-- again), so most kills cost a fraction of a run.
local function pick(points)
  local chosen, taken, shuffled = {}, {}, { table.unpack(points) }
  for i = #shuffled, 2, -1 do
    local j = math.random(i)
    shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
  end
  for _, point in ipairs(shuffled) do
    if not taken[point.order] and math.random() < 0.75 then
      taken[point.order] = true
      chosen[#chosen + 1] = point
    end
  end
  if #chosen == 0 then chosen[1] = points[math.random(#points)] end
  table.sort(chosen, function(a, b) return a.order < b.order end)
  return chosen
end

for _, target in ipairs({ "local", "codeartifact" }) do
  describe("kill -9 then a fresh rerun: " .. target .. " target", function()
    local ref
    it("a clean run (the reference for the kill windows)", function()
      local v = w:next_release()
      ref = finish(start(target))
      converged(target, v, { ref }, ref)
    end)

    it("every chain of kills ends, on a fresh machine, in a clean run's state", function()
      local want = target == "local" and (RUNS - RUNS // 2) or RUNS // 2
      local points, kills, chains = windows(target, ref), 0, 0
      local t0 = host.monotime()
      while kills < want and chains < want * 2 do
        chains = chains + 1
        kills = kills + chain(target, pick(points))
      end
      ok(kills >= want, string.format("%d kills landed, %d wanted", kills, want))
      print(string.format("  %s: %d kills in %d chains, %.0f s", target, kills, chains, host.monotime() - t0))
      total_kills = total_kills + kills
    end)
  end)
end

describe("the matrix", function()
  it("covers the whole run", function()
    local rows = {}
    for where, n in pairs(tally) do rows[#rows + 1] = string.format("  %3d  %s", n, where) end
    table.sort(rows, function(a, b) return a:sub(7) < b:sub(7) end)
    print(string.format("kill points (seed %d, %d kills):\n%s", SEED, total_kills, table.concat(rows, "\n")))
    ok(total_kills >= RUNS, "at least " .. RUNS .. " kills")
  end)
end)
