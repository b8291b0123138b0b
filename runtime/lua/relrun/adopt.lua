-- relrun.adopt: what `relrun init` learns about a package's repository and
-- the text edits it makes (runtime/lua/commands/init.lua runs them).
--
--   local facts = adopt.detect(root)   -- backend, version source, tag scheme, default branch,
--                                      -- import names: relrun.project's answers, read once
--   adopt.settings(facts)              -- the [tool.relrun] settings that differ from the defaults
--   adopt.add_settings(text, settings) -- pyproject.toml's text with them added, every other byte kept
--   adopt.ignore_relrun(text)          -- .gitignore's text with .relrun/ in it, once
--
-- Detection is relrun.project's (the same answers the release scripts get);
-- this module only adds what init alone needs: the distribution name of a
-- project without [project] name, and the repository's default branch.
-- pyproject.toml is edited as text (a table appended, or lines inserted
-- into an existing [tool.relrun]), never decoded and written again, so its
-- comments and spacing stay; the result is decoded to check it says the
-- same as before plus the new settings.
local errors = require "relrun.errors"
local fs = require "relrun.fs"
local project = require "relrun.project"
local toml = require "relrun.toml"

local M = {}

local function fail(message, exit)
  error({ message = "init: " .. message, exit = exit or 1 }, 0)
end

local at = require("relrun.util").at

-- The branch releases are made from: the one the remote's HEAD names (what
-- `git clone` records), else the one checked out.
local function default_branch(p, remote)
  local gitdir = p.repo:path():gsub("/$", "")
  local common = fs.read(gitdir .. "/commondir")
  if common then gitdir = fs.absolute(fs.join(gitdir, (common:gsub("%s+$", "")))) end
  local text = fs.read(gitdir .. "/refs/remotes/" .. remote .. "/HEAD") or ""
  local branch = text:match("^ref: refs/remotes/" .. remote:gsub("%p", "%%%0") .. "/(%S+)")
  if branch then return branch, remote .. "/HEAD" end
  local head = p.repo:head()
  if head and head.branch then return head.branch, "the branch checked out" end
  branch = (fs.read(gitdir .. "/HEAD") or ""):match("^ref: refs/heads/(%S+)")
  if branch then return branch, "the branch checked out" end
end

-- The remote releases are pushed to: the configured one when it exists,
-- else the only remote there is.
local function release_remote(p)
  local names = {}
  for _, r in ipairs(p.repo:remotes() or {}) do
    if r.name == p.cfg.remote then return r.name end
    names[#names + 1] = r.name
  end
  if #names == 1 then return names[1] end
  return p.cfg.remote
end

-- detect(root) -> facts: { package, package_from, backend, version_source,
-- version, prefix, prefix_how, last, branch, branch_from, remote, imports, cfg }.
-- Settings come from pyproject.toml and relrun's defaults only: the
-- environment of the shell init runs in is not the project's.
function M.detect(root)
  local p, err = project.open{ dir = root, partial = true, getenv = function() return nil end }
  if not p then errors.raise(err) end
  local b = p:backend()
  local f = { cfg = p.cfg, backend = b.name, module = b.module, legacy = b.legacy,
              version_source = b.version_source, version = b.version, prefix = p.scheme.prefix,
              prefix_how = p.scheme.how, remote = release_remote(p) }
  f.package, f.package_from = p.cfg.package, p.cfg.source.package
  local last = p:last_release()
  f.last = last and last.name
  f.branch, f.branch_from = default_branch(p, f.remote)
  p.package = p.package or f.package
  f.imports = p:import_names()
  p:close()
  return f
end

-- The settings init writes: those whose detected value differs from what
-- relrun would use without them, and that pyproject.toml does not set
-- already. { {key =, value =, why =}, ... }
function M.settings(f)
  local source, out = f.cfg.source, {}
  local function add(key, value, why) out[#out + 1] = { key = key, value = value, why = why } end
  -- a branch project.open only detected (origin/HEAD, which CI's checkout
  -- does not record) is written down, so every clone releases from it
  local default = "main"
  for _, s in ipairs(require("relrun.config").SCHEMA) do if s.key == "branch" then default = s.default end end
  local unset = source.branch == "default" or tostring(source.branch):find("^detected") ~= nil
  if f.branch and unset and f.branch ~= default then
    add("branch", f.branch, "from " .. f.branch_from .. "; the default is " .. default)
  end
  if source.remote == "default" and f.remote ~= f.cfg.remote then
    add("remote", f.remote, "the only remote; the default is " .. f.cfg.remote)
  end
  if source.tag_prefix == nil and f.prefix ~= "v" then
    add("tag_prefix", f.prefix, f.prefix_how .. "; without tags relrun would use v")
  end
  return out
end

-- A TOML basic string.
local function quote(s)
  local body = s:gsub('[\\"]', "\\%0"):gsub("%c", function(c) return string.format("\\u%04x", c:byte()) end)
  return '"' .. body .. '"'
end

local HEADER = "^[ \t]*%[[ \t]*tool[ \t]*%.[ \t]*relrun[ \t]*%][ \t]*%f[#\n\0]"

-- The byte offset after which lines go into the existing [tool.relrun]
-- table: the end of its last key line (its header line when it has none).
-- nil when the file has no such header.
local function table_end(text)
  local pos, insert, inside = 1, nil, false
  while pos <= #text do
    local nl = text:find("\n", pos, true) or #text
    local line = text:sub(pos, nl):gsub("\n$", "")
    if line:find(HEADER) then
      inside, insert = true, nl
    elseif inside and line:find("^[ \t]*%[") then
      break
    elseif inside and line:find("%S") and not line:find("^[ \t]*#") then
      insert = nl
    end
    pos = nl + 1
  end
  return insert
end

local function deep_equal(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in pairs(a) do
    if not deep_equal(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

-- Does `new` decode to `old`'s data plus exactly `settings` in [tool.relrun]?
local function same_plus(old_data, new_text, settings)
  local new_data = toml.decode(new_text, "pyproject.toml")
  if not new_data then return false end
  local relrun = at(new_data, "tool", "relrun")
  for _, s in ipairs(settings) do
    if type(relrun) ~= "table" or relrun[s.key] ~= s.value then return false end
    relrun[s.key] = nil
  end
  if type(relrun) == "table" and next(relrun) == nil and not at(old_data, "tool", "relrun") then
    new_data.tool.relrun = nil
    if next(new_data.tool) == nil and not old_data.tool then new_data.tool = nil end
  end
  return deep_equal(old_data, new_data)
end

-- pyproject.toml's text (nil: there is none) with `settings` added to
-- [tool.relrun]: lines inserted at the end of an existing table, else the
-- table appended. Every other byte is kept.
function M.add_settings(text, settings)
  if #settings == 0 then return text end
  local lines = {}
  for _, s in ipairs(settings) do lines[#lines + 1] = s.key .. " = " .. quote(s.value) .. "\n" end
  local old_data = text and toml.decode(text, "pyproject.toml") or {}
  local new
  local pos = text and table_end(text)
  if pos then
    local before = text:sub(1, pos)
    new = before .. (before:sub(-1) == "\n" and "" or "\n") .. table.concat(lines) .. text:sub(pos + 1)
  elseif at(old_data, "tool", "relrun") then
    fail("pyproject.toml sets tool.relrun without a [tool.relrun] table: add " .. table.concat(lines, ", "):gsub("\n", "")
      .. " to it by hand, then run relrun init again")
  else
    local sep = (not text or text == "") and "" or (text:sub(-1) == "\n" and "\n" or "\n\n")
    new = (text or "") .. sep .. "[tool.relrun]\n"
      .. "# relrun's settings that differ from its defaults (relrun init; `relrun release config` shows all)\n"
      .. table.concat(lines)
  end
  if not same_plus(old_data, new, settings) then
    fail("cannot add " .. table.concat(lines, ", "):gsub("\n", "") .. " to pyproject.toml's [tool.relrun] "
      .. "without changing what else it says: add them by hand, then run relrun init again")
  end
  return new
end

-- .gitignore's text (nil: none) with relrun's working folder ignored.
function M.ignore_relrun(text)
  for line in (text or ""):gmatch("[^\n]+") do
    local l = line:match("^%s*(.-)%s*$")
    if l == ".relrun" or l == ".relrun/" or l == "/.relrun" or l == "/.relrun/" then return text end
  end
  local sep = (not text or text == "") and "" or (text:sub(-1) == "\n" and "\n" or "\n\n")
  return (text or "") .. sep .. "# relrun's working folder: journals, builds, the local repository\n.relrun/\n"
end

return M
