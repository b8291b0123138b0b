-- A pid no process has any more: that of a child started and reaped here.
-- For the specs of what relrun does with leftovers named after a killed
-- process (relrun.fs's `NAME.relrun-PID-XXXXXX`).
local proc = require "relrun.proc"

return function()
  local r = assert(proc.spawn{ argv = { "true" } })
  local pid = r.pid
  r:wait()
  r:close()
  return pid
end
