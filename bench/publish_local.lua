-- bench helper: publish a tagged checkout to a local repository in-process
-- and report relrun's own time, apart from its Python subprocesses.
--   relrun bench/publish_local.lua PROJECT REPOSITORY_DIR
-- Prints: total_ms subprocess_ms own_wall_ms own_cpu_ms checkout_ms
-- (checkout_ms: the clean checkout of the tagged commit the build starts from)
local host = require "relrun.host"
local proc = require "relrun.proc"
local progress = require "relrun.progress"
local build = require "relrun.build"
local project = require "relrun.project"

local dir, repository = arg[1], arg[2]

-- Time spent waiting for child processes (python -m build, pip, the
-- probes), measured around every way relrun runs one.
local sub = 0
local function timed(fn)
  return function(...)
    local t0 = host.monotime()
    local r, e, c = fn(...)
    sub = sub + (host.monotime() - t0)
    return r, e, c
  end
end
proc.run = timed(proc.run)
progress.run = timed(progress.run)
progress.capture = timed(progress.capture)

local checkout = 0
local real_checkout = build.checkout
build.checkout = function(...)
  local t0 = host.monotime()
  local a, b = real_checkout(...)
  checkout = checkout + (host.monotime() - t0)
  return a, b
end

local t0, c0 = host.monotime(), os.clock()
local p = assert(project.open{ dir = dir, flags = { repository_dir = repository, isolation = false } })
local ctx = { project = p, opts = { tag = "v1.0.0" }, out = function() end, shared = {} }
local plan = require("relrun.phases.publish").plan(ctx)
assert(plan:run(ctx))
local total, cpu = host.monotime() - t0, os.clock() - c0
print(string.format("%.1f %.1f %.1f %.1f %.1f", total * 1000, sub * 1000, (total - sub) * 1000, cpu * 1000,
  checkout * 1000))
return 0
