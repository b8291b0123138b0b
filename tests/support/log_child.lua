-- Run relrun as a child process and capture what it printed, for the specs
-- of the CLI and of relrun.log (tests/lua/cli_spec.lua, log_spec.lua).
--
--   local child = require "log_child"
--   local r = child.run{ args = {"-e", "print(1)"}, env = { RELRUN_LOG = "debug" },
--                        stdin = "...", cwd = "/tmp/x" }
--   r.code, r.stdout, r.stderr
--
-- The child starts from a clean slate: the variables relrun reads
-- (GITHUB_*, RELRUN_*) are removed unless `env` sets them, so the specs give
-- the same answers on a laptop and inside GitHub Actions.
local M = {}

M.RELRUN = assert(os.getenv("RELRUN"), "RELRUN is not set (run the specs through ctest)")

local CLEARED = { "GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "RELRUN_LOG",
                  "RELRUN_DEBUG", "RELRUN_PATH" }

function M.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function M.write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- A fresh empty directory.
function M.tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p " .. M.quote(p)))
  return p
end

function M.rmtree(dir)
  if dir and dir:match("^/tmp/") then os.execute("rm -rf " .. M.quote(dir)) end
end

-- The shell words that run relrun with opts.env over a cleaned environment.
function M.command(opts)
  local words = { "env" }
  for _, name in ipairs(CLEARED) do
    if not (opts.env and opts.env[name]) then words[#words + 1] = "-u " .. name end
  end
  for k, v in pairs(opts.env or {}) do words[#words + 1] = M.quote(k .. "=" .. v) end
  words[#words + 1] = M.quote(opts.relrun or M.RELRUN)
  for _, a in ipairs(opts.args or {}) do words[#words + 1] = M.quote(a) end
  return table.concat(words, " ")
end

function M.run(opts)
  local dir = M.tmpdir()
  local input = dir .. "/stdin"
  M.write(input, opts.stdin or "")
  local cmd = M.command(opts) .. " <" .. M.quote(input) .. " >" .. M.quote(dir .. "/out")
    .. " 2>" .. M.quote(dir .. "/err")
  if opts.cwd then cmd = "cd " .. M.quote(opts.cwd) .. " && " .. cmd end
  local _, how, code = os.execute(cmd)
  assert(how == "exit", "relrun died from signal " .. tostring(code))
  local r = { code = code, stdout = M.read(dir .. "/out"), stderr = M.read(dir .. "/err") }
  M.rmtree(dir)
  return r
end

-- Run a Lua source file written to a temporary folder.
function M.script(source, opts)
  opts = opts or {}
  local dir = M.tmpdir()
  M.write(dir .. "/main.lua", source)
  local args = { dir .. "/main.lua" }
  for _, a in ipairs(opts.args or {}) do args[#args + 1] = a end
  local r = M.run{ args = args, env = opts.env, stdin = opts.stdin, cwd = opts.cwd }
  M.rmtree(dir)
  return r
end

return M
