-- relrun.doctor.context: what every doctor group looks at, gathered once:
-- the project through relrun.project (one open of the repository, the
-- settings with their sources, the tag scheme), and what could not be read
-- cleanly. A pyproject.toml that does not parse, a misspelt or mistyped
-- [tool.relrun] key and a malformed environment value are findings for the
-- groups to report, not reasons to stop: the project is opened again
-- without them. A malformed flag is a usage error (exit 2).
--
--   local ctx, err = context.open(opts)     -- opts: the doctor's parsed options
--   ctx.project, ctx.cfg, ctx.repo (nil outside git), ctx.root, ctx.prefix
--   ctx.findings.pyproject    -- the TOML error (relrun.errors) | nil
--   ctx.findings.settings     -- { err, ... } from [tool.relrun]
--   ctx.bad_settings          -- { [key] = message } from the environment
local config = require "relrun.config"
local project = require "relrun.project"
local errors = require "relrun.errors"
local fs = require "relrun.fs"

local M = {}

-- Where a configuration error's value came from: "file", the dotted
-- [tool.relrun] key | "env", the variable, the setting | "flag" | nil.
local function source_of(err)
  local msg = err.message or ""
  local key = msg:match("^pyproject%.toml %[tool%.relrun%]: unknown setting (%S+)")
  if key then return "file", key end
  if err.code == "CONFIG_TYPE" and msg:match("^pyproject%.toml: tool%.relrun must be a table") then
    return "file", nil
  end
  local from = msg:match("%(from ([^)]+)%)")
  if not from then return nil end
  local fkey = from:match("^pyproject%.toml %[tool%.relrun%] (%S+)$")
  if fkey then return "file", fkey end
  if from:match("^%-%-") then return "flag", from end
  return "env", from, msg:match("^([%w_.]+) ")
end

-- A copy of the decoded pyproject without [tool.relrun]'s `key` (dotted;
-- nil: the whole table). Copies only the tables on the way.
local function without(py, key)
  local copy = {}
  for k, v in pairs(py) do copy[k] = v end
  local tool = {}
  for k, v in pairs(copy.tool) do tool[k] = v end
  copy.tool = tool
  if not key or type(tool.relrun) ~= "table" then tool.relrun = nil; return copy, true end
  local parts = {}
  for part in key:gmatch("[^.]+") do parts[#parts + 1] = part end
  local parent, t = tool, "relrun"
  for i = 1, #parts do
    local cur = parent[t]
    if type(cur) ~= "table" then return copy, false end
    local c = {}
    for k, v in pairs(cur) do c[k] = v end
    parent[t] = c
    parent, t = c, parts[i]
  end
  local removed = parent[t] ~= nil
  parent[t] = nil
  return copy, removed
end

-- open(opts) -> ctx | nil, err (the project cannot be opened at all, or a
-- flag is malformed: err.exit 2).
function M.open(opts)
  local dir = project.locate(opts.project)
  local findings = { settings = {} }
  local bad_env, hidden = {}, {}
  local py, perr = config.read_pyproject(fs.absolute(dir))
  if py == nil then findings.pyproject, py = perr, false end
  local function getenv(name)
    if hidden[name] then return nil end
    return os.getenv(name)
  end
  -- Each round removes one bad value; a schema has that many at most.
  for _ = 1, #config.SCHEMA + 2 do
    local p, err = project.open{ dir = dir, need_repo = false, flags = opts, getenv = getenv, partial = true,
                                 pyproject = py }
    if p then
      return { project = p, cfg = p.cfg, repo = p.repo, root = p.root or p.dir, project_dir = p.dir,
               prefix = p.scheme.prefix, opts = opts, findings = findings, bad_settings = bad_env }
    end
    if not (errors.is(err) and err.code:match("^CONFIG_")) then return nil, err end
    local where, what, key = source_of(err)
    if where == "file" and py then
      local removed
      findings.settings[#findings.settings + 1] = err
      py, removed = without(py, what)
      if not removed then py = without(py, nil) end
    elseif where == "env" and not hidden[what] then
      hidden[what], bad_env[key or what] = true, err.message
    else
      err.exit = 2
      return nil, err
    end
  end
  return nil, errors.new("CONFIG", "the settings could not be read", { exit = 2 })
end

function M.close(ctx)
  if ctx and ctx.project then ctx.project:close() end
end

return M
