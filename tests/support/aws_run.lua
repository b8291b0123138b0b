-- Helpers for the AWS specs: run a command line (through sh, the test's own
-- argv only), capture its output and exit code; talk to the fakes' control
-- endpoints with curl.
local M = {}

function M.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- run(argv, env) -> code, output (stdout and stderr together).
function M.run(argv, env)
  local unset, set = {}, {}
  for k, v in pairs(env or {}) do
    if v == false then unset[#unset + 1] = "-u " .. k else set[#set + 1] = k .. "=" .. M.quote(v) end
  end
  local words = table.move(set, 1, #set, #unset + 1, unset)
  local cmd = #words > 0 and ("env " .. table.concat(words, " ") .. " ") or ""
  local q = {}
  for i, a in ipairs(argv) do q[i] = M.quote(a) end
  local h = assert(io.popen(cmd .. table.concat(q, " ") .. " 2>&1; echo \"__rc=$?\""))
  local out = h:read("a")
  h:close()
  local code = tonumber(out:match("__rc=(%d+)\n?$"))
  return code, (out:gsub("__rc=%d+\n?$", ""))
end

-- curl(method, url, body) -> body of the answer (raises when curl fails).
function M.curl(method, url, body, headers)
  local argv = { "curl", "-sS", "-X", method, url }
  for _, h in ipairs(headers or {}) do argv[#argv + 1] = "-H"; argv[#argv + 1] = h end
  if body then argv[#argv + 1] = "--data-binary"; argv[#argv + 1] = body end
  local code, out = M.run(argv)
  assert(code == 0, "curl failed: " .. out)
  return out
end

function M.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

function M.write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

-- A fresh folder under /tmp, removed by rmdir(path).
function M.tempdir()
  local h = assert(io.popen("mktemp -d /tmp/relrun-aws.XXXXXX"))
  local dir = h:read("l")
  h:close()
  return dir
end

function M.rmdir(dir)
  if dir and dir:match("^/tmp/relrun%-aws%.") then os.execute("rm -rf " .. M.quote(dir)) end
end

return M
