-- Scenarios for the relrun.git specs, built with the real git CLI in temp
-- folders: run git, make commits and tags, generate random histories with
-- `git fast-import` (merges, octopus merges, skewed and equal dates, several
-- tags on one commit, annotated and lightweight).
local M = {}

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.quote = q

-- A fixed identity and no user or system config, so runs are reproducible.
M.ENV = "env -u GIT_DIR -u GIT_WORK_TREE GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null "
  .. "GIT_AUTHOR_NAME=Ann GIT_AUTHOR_EMAIL=ann@example.com "
  .. "GIT_COMMITTER_NAME=Ann GIT_COMMITTER_EMAIL=ann@example.com "
  .. "GIT_AUTHOR_DATE='1700000000 +0000' GIT_COMMITTER_DATE='1700000000 +0000' "

-- Run a shell command; its stdout without the final newline, or error.
function M.sh(cmd, allow_fail)
  local h = assert(io.popen(cmd .. " 2>&1"))
  local out = h:read("a")
  local good, _, code = h:close()
  if not good and not allow_fail then
    error(string.format("command failed (%s): %s\n%s", tostring(code), cmd, out), 2)
  end
  return (out:gsub("\n$", "")), good
end

-- git in `dir` with the fixed environment; `env` adds NAME=value words.
function M.git(dir, args, env)
  return (M.sh(M.ENV .. (env or "") .. " git -C " .. q(dir) .. " " .. args))
end

function M.git_may_fail(dir, args)
  return M.sh(M.ENV .. " git -C " .. q(dir) .. " " .. args, true)
end

function M.tempdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p " .. q(p)))
  return p
end

function M.rmrf(p)
  if p and p:match("^/tmp/") then os.execute("rm -rf " .. q(p)) end
end

-- A new repository with branch main.
function M.repo()
  local d = M.tempdir()
  M.git(d, "init -q -b main")
  return d
end

-- Commit a file change at the given date (seconds).
local clock = 1700000000
function M.commit(dir, msg, file)
  clock = clock + 60
  local f = assert(io.open(dir .. "/" .. (file or "file.txt"), "a"))
  f:write(msg, "\n")
  f:close()
  M.git(dir, "add -A")
  local date = string.format("GIT_AUTHOR_DATE='%d +0000' GIT_COMMITTER_DATE='%d +0000'", clock, clock)
  M.git(dir, "commit -q -m " .. q(msg), date)
  return M.git(dir, "rev-parse HEAD")
end

-- Feed a fast-import stream to a new repository in `dir`.
function M.fast_import(dir, stream)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(stream)
  f:close()
  M.sh(M.ENV .. " git -C " .. q(dir) .. " fast-import --quiet < " .. q(path))
  os.remove(path)
end

-- A linear history of n commits on main (one tiny blob per commit), fast.
function M.linear_stream(n, start_date)
  local out = {}
  local date = start_date or 1600000000
  for i = 1, n do
    out[#out + 1] = string.format(
      "commit refs/heads/main\nmark :%d\ncommitter C <c@example.com> %d +0000\ndata %d\n%s\n"
      .. "M 644 inline f\ndata %d\n%s\n",
      i, date + i, #tostring(i), tostring(i), #tostring(i), tostring(i))
  end
  return table.concat(out)
end

-- A random history: commits on several branches, merges (some octopus),
-- dates that go back and repeat, tags annotated and lightweight, several on
-- one commit, some not matching "v*". opts: tags = how many, annotated =
-- the share of annotated ones. Returns the stream and the commit marks.
function M.random_stream(seed, ncommits, opts)
  opts = opts or {}
  math.randomseed(seed)
  local out, heads, marks = {}, { 0 }, {}
  local date = 1600000000
  local function emit(s) out[#out + 1] = s end
  for i = 1, ncommits do
    local r = math.random()
    local parents = {}
    local b = math.random(#heads)
    if heads[b] ~= 0 then parents[1] = heads[b] end
    if r < 0.15 and #heads > 1 then
      local other = math.random(#heads)
      if other ~= b and heads[other] ~= 0 then parents[#parents + 1] = heads[other] end
      if r < 0.03 then
        local third = math.random(#heads)
        if third ~= b and third ~= other and heads[third] ~= 0 then parents[#parents + 1] = heads[third] end
      end
    end
    -- dates: mostly forward, sometimes equal, sometimes back (clock skew)
    local dr = math.random()
    if dr < 0.2 then date = date + 0 elseif dr < 0.3 then date = date - math.random(1, 500)
    else date = date + math.random(1, 300) end
    emit(string.format("commit refs/heads/b%d\nmark :%d\ncommitter C <c@example.com> %d +0000\ndata %d\nc%d\n",
      b, i, date, #tostring(i) + 1, i))
    if parents[1] then emit("from :" .. parents[1] .. "\n") end
    for k = 2, #parents do emit("merge :" .. parents[k] .. "\n") end
    emit(string.format("M 644 inline f%d\ndata %d\n%d\n", b, #tostring(i), i))
    heads[b] = i
    marks[#marks + 1] = i
    if math.random() < 0.08 then heads[#heads + 1] = i end -- a new branch starts here
  end
  local ntags = opts.tags or math.random(0, math.max(1, ncommits // 8))
  for t = 1, ntags do
    local m = marks[math.random(#marks)]
    local name = (math.random() < 0.75 and "v1." or "rel-") .. t
    if math.random() < (opts.annotated or 0.5) then
      local tdate = 1600000000 + math.random(0, 1000) * 7 -- ties happen
      emit(string.format("tag %s\nfrom :%d\ntagger T <t@example.com> %d +0000\ndata 2\nt\n", name, m, tdate))
    else
      emit(string.format("reset refs/tags/%s\nfrom :%d\n\n", name, m))
    end
    if math.random() < 0.2 then -- a second tag on the same commit
      emit(string.format("tag %sb\nfrom :%d\ntagger T <t@example.com> %d +0000\ndata 2\nt\n", name, m,
        1600000000 + math.random(0, 1000) * 7))
    end
  end
  return table.concat(out), marks
end

return M
