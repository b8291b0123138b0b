-- Real peers for integration tests: start a server on 127.0.0.1, wait until
-- it is ready, stop it by PID.
--
--   local peer = require "peer"
--   local p = peer.start{ argv = {"python3", "tests/fakes/x.py", "--port-file", peer.PORT_FILE},
--                         env = { NAME = "value" } }
--   ... p.port, p.url, p.pid, p.log ...
--   p:stop()
--
-- The argv element peer.PORT_FILE is replaced by a file the server writes its
-- port to once it listens (bind port 0 to get a free one). Without it, give
-- `port` and `ready = function() return bool end`.
local M = { PORT_FILE = {} }

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function read_file(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function sleep(s)
  os.execute("sleep " .. tostring(s))
end

function M.tmpname(suffix)
  local p = os.tmpname()
  os.remove(p)
  return p .. (suffix or "")
end

-- The command line, for messages (the PORT_FILE marker shown by name).
function M.describe(argv)
  local words = {}
  for i, a in ipairs(argv) do words[i] = a == M.PORT_FILE and "<port-file>" or tostring(a) end
  return table.concat(words, " ")
end

local Peer = {}
Peer.__index = Peer

function Peer:alive()
  return os.execute("kill -0 " .. self.pid .. " 2>/dev/null") == true
end

function Peer:stop()
  if not self.pid then return end
  os.execute("kill " .. self.pid .. " 2>/dev/null")
  for _ = 1, 50 do
    if not self:alive() then break end
    sleep(0.1)
  end
  os.execute("kill -9 " .. self.pid .. " 2>/dev/null")
  self.pid = nil
  -- leave nothing behind in the temp folder (a fake may write siblings of its port file)
  for _, f in ipairs({ self.port_file, self.port_file and (self.port_file .. ".uploads"), self.own_log and self.log }) do
    if f then os.remove(f) end
  end
end

function Peer:output()
  return read_file(self.log) or ""
end

function M.start(opts)
  local port_file = M.tmpname(".port")
  local log = opts.log or M.tmpname(".log")
  local words = {}
  for _, a in ipairs(opts.argv) do
    words[#words + 1] = shell_quote(a == M.PORT_FILE and port_file or a)
  end
  local envs = {}
  for k, v in pairs(opts.env or {}) do envs[#envs + 1] = k .. "=" .. shell_quote(v) end
  local cmd = string.format("exec %s %s %s >%s 2>&1 </dev/null & echo $!",
    #envs > 0 and "env" or "", table.concat(envs, " "), table.concat(words, " "), shell_quote(log))
  if opts.cwd then cmd = "cd " .. shell_quote(opts.cwd) .. " && " .. cmd end
  local h = assert(io.popen("sh -c " .. shell_quote(cmd)))
  local pid = tonumber(h:read("l"))
  h:close()
  local p = setmetatable({ pid = pid, log = log, port_file = port_file, port = opts.port, own_log = not opts.log }, Peer)
  local deadline = os.time() + (opts.timeout or 30)
  while os.time() <= deadline do
    if not p:alive() then
      local out = p:output()
      p.pid = nil
      error("peer exited before it was ready: " .. M.describe(opts.argv) .. "\n" .. out, 2)
    end
    if opts.ready then
      if opts.ready(p) then break end
    else
      local port = tonumber(read_file(port_file) or "")
      if port then p.port = port break end
    end
    sleep(0.05)
  end
  if not p.port and not opts.ready then
    p:stop()
    error("peer not ready in time: " .. M.describe(opts.argv), 2)
  end
  p.url = p.port and ("http://127.0.0.1:" .. p.port) or nil
  return p
end

return M
