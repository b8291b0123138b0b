-- bench helper: publish a tagged checkout to a local repository in-process
-- and report relrun's own time, apart from its Python subprocesses.
--   relrun bench/publish_local.lua PROJECT REPOSITORY_DIR
-- Prints: total_ms subprocess_ms own_wall_ms own_cpu_ms
local host = require "relrun.host"
local proc = require "relrun.proc"
local config = require "relrun.config"
local publish = require "relrun.publish"

local project, repository = arg[1], arg[2]

-- Time spent waiting for child processes (python -m build, pip), measured
-- around every proc.run.
local sub = 0
local run = proc.run
proc.run = function(opts)
  local t0 = host.monotime()
  local r, e, c = run(opts)
  sub = sub + (host.monotime() - t0)
  return r, e, c
end

local t0, c0 = host.monotime(), os.clock()
local cfg = assert(config.load{ project_dir = project, flags = { repository_dir = repository } })
local plan, ctx = publish.plan{ cfg = cfg, tag = "v1.0.0", project_dir = project, out = function() end }
assert(plan:run(ctx))
local total, cpu = host.monotime() - t0, os.clock() - c0
print(string.format("%.1f %.1f %.1f %.1f", total * 1000, sub * 1000, (total - sub) * 1000, cpu * 1000))
