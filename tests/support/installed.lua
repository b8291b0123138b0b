-- Checks of an installed relrun (tests/integration/install_spec.lua: a
-- `cmake --install` tree, moved; package_spec.lua: the .deb unpacked with
-- dpkg-deb -x): the program runs from another folder, finds its loadable
-- modules relative to itself, runs a built-in script by name, and embedders
-- compile tests/unit/test_embed.c with `pkg-config --cflags --libs relrun`.
local proc = require "relrun.proc"
local fs = require "relrun.fs"

-- luacheck: read globals eq ok contains
local M = {}

local SRC = os.getenv("RELRUN_SOURCE_DIR") or "."

-- Run argv in `cwd` with relrun's own variables cleared; the result table.
function M.run(argv, opts)
  opts = opts or {}
  local env = { RELRUN_MODULE_DIR = false, RELRUN_PATH = false, RELRUN_DEBUG = false, GITHUB_ACTIONS = false }
  for k, v in pairs(opts.env or {}) do env[k] = v end
  return assert(proc.run{ argv = argv, cwd = opts.cwd, env = env, stdin = opts.stdin })
end

-- The one path under `root` matching a shell glob (sorted; fails unless exactly one).
function M.one(pattern)
  local found = fs.glob(pattern)
  assert(#found == 1, "expected one match of " .. pattern .. ", found " .. #found)
  return found[1]
end

-- Everything an installed relrun at `bin` (its program) must do, run from
-- the folder `away`; `prefix` is where its files are.
function M.check_program(bin, prefix, away)
  local r = M.run({ bin, "-e", "print('hello from ' .. require('relrun.host').version)" }, { cwd = away })
  eq(r.code, 0, r.stderr)
  eq(r.stdout, "hello from " .. require("relrun.host").version .. "\n")

  -- a script that needs all three loadable modules, and says which files were mapped
  fs.write(away .. "/modules.lua", [[
local http, git, archive = require "relrun.http", require "relrun.git", require "relrun.archive"
assert(type(http.request) == "function" and type(git.open) == "function" and type(archive.list) == "function")
local repo = assert(git.init((...)))
print(repo ~= nil)
for line in io.lines("/proc/self/maps") do
  local path = line:match("(/%S+/relrun_%a+%.so)$")
  if path then print(path) end
end
]])
  r = M.run({ bin, "modules.lua", away .. "/repo" }, { cwd = away })
  eq(r.code, 0, r.stderr)
  local lines = {}
  for line in r.stdout:gmatch("[^\n]+") do lines[line] = true end
  ok(lines["true"], r.stdout)
  local mapped = 0
  for line in pairs(lines) do
    if line:find("/relrun_", 1, true) then
      mapped = mapped + 1
      eq(fs.realpath(line):sub(1, #fs.realpath(prefix) + 1), fs.realpath(prefix) .. "/", line .. " comes from the prefix")
    end
  end
  eq(mapped, 3, "relrun_http.so, relrun_git.so and relrun_archive.so loaded: " .. r.stdout)

  -- a top-level script by name, on a real repository
  local repo = away .. "/pkg"
  for _, argv in ipairs({ { "git", "init", "-q", repo }, { "git", "-C", repo, "-c", "user.name=t", "-c",
      "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "one" }, { "git", "-C", repo, "tag", "v1.2.3" } }) do
    eq(M.run(argv).code, 0, table.concat(argv, " "))
  end
  r = M.run({ bin, "version" }, { cwd = repo })
  eq(r, { code = 0, stdout = "1.2.3\n", stderr = "", timed_out = false }, "relrun version by name")
end

-- Compile tests/unit/test_embed.c against the installed header, librelrun.a
-- and relrun.pc found in `pc_dir`, and run it.
function M.check_embedding(pc_dir, away)
  local env = { PKG_CONFIG_PATH = pc_dir }
  local r = M.run({ "pkg-config", "--cflags", "--libs", "relrun" }, { env = env })
  eq(r.code, 0, r.stderr)
  local flags = {}
  for word in r.stdout:gmatch("%S+") do flags[#flags + 1] = word end
  local include = fs.realpath(pc_dir .. "/../../include") or fs.realpath(pc_dir .. "/../../../include")
  contains(r.stdout, "-lrelrun")
  local real = {}
  for _, f in ipairs(flags) do real[#real + 1] = f:match("^%-I(.*)") and fs.realpath(f:sub(3)) or "" end
  ok(table.concat(real, " "):find(include, 1, true), "-I names the installed include folder: " .. r.stdout)
  local exe = away .. "/test_embed"
  local argv = { "cc", "-std=c11", "-D_GNU_SOURCE", SRC .. "/tests/unit/test_embed.c", "-o", exe }
  for _, f in ipairs(flags) do argv[#argv + 1] = f end
  r = M.run(argv)
  eq(r.code, 0, "cc: " .. r.stderr)
  r = M.run({ exe }, { cwd = away })
  eq(r.code, 0, r.stderr)
  contains(r.stdout, "test_embed: all checks passed")
end

return M
