-- relrun.progress: signs of life for work that takes a while — the elapsed
-- time on a terminal, a line every few seconds in a log (CI), and the
-- output of a child process on --verbose or when it fails.
--
--   local t = progress.start("python -m build")
--   ... t:tick() ...     -- cheap: prints only when it is time
--   t:finish()           -- clears the terminal line
--   local r = progress.run{ what = "python -m build", argv = {...}, env = ..., cwd = ... }
--     --> proc.run's result with r.lines (the output, stdout and stderr interleaved)
local host = require "relrun.host"
local log = require "relrun.log"
local fs = require "relrun.fs"
local proc = require "relrun.proc"

local M = {}

-- seconds between "still running" lines in a log (RELRUN_PROGRESS_EVERY)
M.LOG_EVERY = tonumber(os.getenv("RELRUN_PROGRESS_EVERY") or "") or 10
M.TERMINAL_EVERY = 0.5  -- seconds between redraws on a terminal

local Ticker = {}
Ticker.__index = Ticker

local function elapsed_text(s)
  if s < 60 then return string.format("%d s", math.floor(s)) end
  return string.format("%d min %02d s", math.floor(s / 60), math.floor(s % 60))
end

-- start(what [, {terminal = bool}]): what is shown, e.g. "python -m build".
function M.start(what, opts)
  opts = opts or {}
  local terminal = opts.terminal
  if terminal == nil then terminal = fs.isatty(2) and not log.actions() end
  local now = host.monotime()
  return setmetatable({ what = what, started = now, last = now, terminal = terminal, drawn = false }, Ticker)
end

function Ticker:elapsed() return host.monotime() - self.started end

function Ticker:tick()
  if log.level() == "quiet" then return end
  local now = host.monotime()
  local every = self.terminal and M.TERMINAL_EVERY or M.LOG_EVERY
  if now - self.last < every then return end
  self.last = now
  local text = string.format("  … %s (%s)", self.what, elapsed_text(now - self.started))
  if self.terminal then
    io.stderr:write("\r", text, "\027[K")
    self.drawn = true
  else
    io.stderr:write(text, "\n")
  end
  io.stderr:flush()
end

-- A line of output is coming: clear the terminal's progress line first.
function Ticker:clear()
  if self.drawn then
    io.stderr:write("\r\027[K")
    io.stderr:flush()
    self.drawn = false
  end
end

function Ticker:finish()
  self:clear()
  return self:elapsed()
end

-- Housekeeping that can wait for the next child process (removing a
-- finished build's checkout): run() does it while that child runs, so its
-- time overlaps the child's instead of adding to the run's; a plan's end
-- (relrun.steps) does what is left. A failure is a warning: it is cleanup.
local meanwhile = {}

function M.meanwhile(fn)
  meanwhile[#meanwhile + 1] = fn
end

function M.settle()
  while #meanwhile > 0 do
    local good, err = pcall(table.remove(meanwhile, 1))
    if not good then
      if host.is_interruption(err) then error(err, 0) end
      log.warn("%s", tostring(err))
    end
  end
end

-- run{ what, argv, env, clear_env, cwd, stdin, show = bool, on_line = fn, keep = bool } -> result | nil, msg, code.
-- The child's output lines are kept (r.lines; not with keep = false, for
-- output read as it comes that may be huge: the doctor's history scan) and
-- shown as they come with `show` or at the verbose log level; otherwise
-- the ticker says it runs. on_line(line) sees each line as it comes and may
-- return a line to say (log.info), e.g. which half of a build has started.
function M.run(opts)
  local t = M.start(opts.what or opts.argv[1])
  local lines = {}
  local show = opts.show or log.level() == "verbose" or log.level() == "debug"
  local keep_lines = opts.keep ~= false
  local function keep(line)
    if keep_lines then lines[#lines + 1] = line end
    local say = opts.on_line and opts.on_line(line)
    if show or say then t:clear() end
    if show then io.stderr:write(host.mask("    " .. line), "\n") end
    if say then log.info("%s", say) end
  end
  local child, err, code = proc.spawn{ argv = opts.argv, env = opts.env, clear_env = opts.clear_env, cwd = opts.cwd,
                                       stdin = opts.stdin or false, stdout = keep, stderr = keep }
  if not child then t:finish(); return nil, err, code end
  local result
  local good, werr = pcall(function()
    M.settle()
    while true do
      result = child:wait(0.25)
      if result then break end
      t:tick()
    end
  end)
  t:finish()
  if not good then
    child:close()
    error(werr, 0)
  end
  child:close()
  result.lines, result.seconds = lines, t:elapsed()
  return result
end

-- proc.run(opts) for a short child whose output is read whole (a probe),
-- the housekeeping done while it runs: -> result | nil, msg, code.
function M.capture(opts)
  local child, err, code = proc.spawn(opts)
  if not child then return nil, err, code end
  local good, serr = pcall(M.settle)
  local result = child:wait()
  child:close()
  if not good then error(serr, 0) end
  return result
end

M.elapsed_text = elapsed_text

return M
