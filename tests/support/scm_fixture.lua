-- Git scenarios for the scm and release specs, built with the git CLI in
-- temporary folders, and the reference tools run on them.
--
--   local fx = require "scm_fixture"
--   local r = fx.repo()                  -- git init in a fresh temp dir
--   r:git("commit --allow-empty -m one") -- runs in r.dir, raises on failure
--   r:write("a.txt", "x")
--   fx.setuptools_scm(r.dir)             --> stdout line, or nil, stderr
--   fx.relrun({"scripts/version.lua"}, {cwd = r.dir}) --> code, stdout, stderr
--   r:remove()
local M = {}

local function absolute(p)
  if p:sub(1, 1) == "/" then return p end
  return require("relrun.fs").cwd() .. "/" .. p:gsub("^%./", "")
end
local source_dir = absolute(os.getenv("RELRUN_SOURCE_DIR") or ".")
M.RELRUN = absolute(os.getenv("RELRUN") or (source_dir .. "/build/relrun"))
M.SOURCE = source_dir

-- A fixed clock for commits, so ids and dates do not depend on the run.
M.ENV = {
  GIT_AUTHOR_NAME = "Test", GIT_AUTHOR_EMAIL = "test@example.com",
  GIT_COMMITTER_NAME = "Test", GIT_COMMITTER_EMAIL = "test@example.com",
  GIT_AUTHOR_DATE = "2026-01-02T03:04:05Z", GIT_COMMITTER_DATE = "2026-01-02T03:04:05Z",
  GIT_CONFIG_NOSYSTEM = "1", GIT_CONFIG_GLOBAL = "/dev/null",
}

function M.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function env_prefix(env)
  local unset, set = {}, {}
  local names = {}
  for k in pairs(env or {}) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do
    if env[k] == false then
      unset[#unset + 1] = "-u " .. k -- env takes its options before the assignments
    else
      set[#set + 1] = k .. "=" .. M.q(env[k])
    end
  end
  return "env " .. table.concat(unset, " ") .. " " .. table.concat(set, " ")
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

-- sh(cmd, {cwd, env, stdin}) -> code, stdout, stderr (through /bin/sh: the
-- test builds command lines only from its own constants and quoted paths).
function M.sh(cmd, opts)
  opts = opts or {}
  local out, err = os.tmpname(), os.tmpname()
  local env = {}
  for k, v in pairs(M.ENV) do env[k] = v end
  for k, v in pairs(opts.env or {}) do env[k] = v end
  local line = string.format("cd %s && %s %s >%s 2>%s", M.q(opts.cwd or "."), env_prefix(env), cmd, out, err)
  if opts.stdin then
    local inp = os.tmpname()
    local f = assert(io.open(inp, "wb"))
    f:write(opts.stdin)
    f:close()
    line = line .. " <" .. inp
  end
  local _, _, code = os.execute(line)
  local o, e = read(out), read(err)
  os.remove(out)
  os.remove(err)
  return code, o, e
end

local Repo = {}
Repo.__index = Repo

function M.tempdir(prefix)
  local code, out = M.sh("mktemp -d /tmp/" .. (prefix or "relrun-scm") .. ".XXXXXX")
  assert(code == 0, "mktemp failed")
  return (out:gsub("%s+$", ""))
end

-- repo{bare = bool, branch = "main", init = false}
function M.repo(opts)
  opts = opts or {}
  local r = setmetatable({ dir = M.tempdir() }, Repo)
  if opts.init ~= false then
    r:git("init -q " .. (opts.bare and "--bare " or "") .. "-b " .. (opts.branch or "main") .. " .")
  end
  return r
end

-- git(args [, env]) -> stdout; raises with git's stderr on failure.
function Repo:git(args, env)
  local code, out, err = M.sh("git " .. args, { cwd = self.dir, env = env })
  if code ~= 0 then error(string.format("git %s failed (%d): %s", args, code, err), 2) end
  return out
end

-- Like git() but returns code, stdout, stderr.
function Repo:try(args, env)
  return M.sh("git " .. args, { cwd = self.dir, env = env })
end

function Repo:write(name, text)
  local path = self.dir .. "/" .. name
  local d = path:match("^(.*)/")
  os.execute("mkdir -p " .. M.q(d))
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- commit(n [, message]): n commits, each changing a file.
function Repo:commit(n, message)
  for _ = 1, n or 1 do
    self.count = (self.count or 0) + 1
    self:write("file.txt", tostring(self.count) .. "\n")
    self:git("add file.txt")
    self:git("commit -q -m " .. M.q((message or "change") .. " " .. self.count))
  end
end

function Repo:head()
  return (self:git("rev-parse HEAD"):gsub("%s+$", ""))
end

function Repo:remove()
  if self.dir and self.dir:find("^/tmp/relrun%-") then os.execute("rm -rf " .. M.q(self.dir)) end
end

-- What `/usr/bin/python3 -m setuptools_scm [args]` prints in dir -> line | nil, stderr.
function M.setuptools_scm(dir, env, args)
  local extra = {}
  for k, a in ipairs(args or {}) do extra[k] = M.q(a) end
  local code, out, err = M.sh("/usr/bin/python3 -W ignore -m setuptools_scm " .. table.concat(extra, " "),
    { cwd = dir, env = env })
  if code ~= 0 then return nil, err end
  return (out:gsub("\n$", ""))
end

-- relrun(argv, {cwd, env, stdin}) -> code, stdout, stderr; argv[1] is a
-- script path relative to the source dir.
function M.relrun(argv, opts)
  opts = opts or {}
  local parts = { M.q(M.RELRUN) }
  for k, a in ipairs(argv) do
    if k == 1 and not a:find("^/") then a = M.SOURCE .. "/" .. a end
    parts[#parts + 1] = M.q(a)
  end
  return M.sh(table.concat(parts, " "), opts)
end

-- version.lua [args] in dir -> line | nil, stderr
function M.ours(dir, env, args)
  local argv = { "scripts/version.lua" }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  local code, out, err = M.relrun(argv, { cwd = dir, env = env })
  if code ~= 0 then return nil, err end
  return (out:gsub("\n$", ""))
end

return M
