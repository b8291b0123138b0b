-- relrun.login: a CodeArtifact token written where one Python tool reads it,
-- without taking over that tool's other indexes (RELEASE.md "4. Verify
-- Release" starts with `aws codeartifact login --tool pip`, which rewrites
-- the global pip index and knows no uv).
--
--   local plan, ctx = login.plan{ project = p, tool = "pip", venv = DIR, config = FILE,
--                                 global = false, env = false, dry_run = false }
--
-- Where each tool reads it (every file written 0600, its folder created 0700):
--   pip     the active venv's pip.conf (--venv, else $VIRTUAL_ENV), else a named
--           file for PIP_CONFIG_FILE (--config, default ~/.config/relrun/pip-codeartifact.conf);
--           pip's user config (its global index-url) only with --global
--   uv      an [[index]] named "codeartifact" in uv's user uv.toml (--config FILE)
--   twine   a [codeartifact] repository in ~/.pypirc (--config FILE), added to index-servers
--   poetry  http-basic.codeartifact in poetry's auth.toml and repositories.codeartifact in
--           its config.toml (POETRY_CONFIG_DIR); with --project, the project's source
--           through `poetry source add` (secondary/supplemental: PyPI stays the primary)
--   --env   shell exports instead of files; --print-token the token alone (for a secret scope)
local steps = require "relrun.steps"
local errors = require "relrun.errors"
local fs = require "relrun.fs"
local proc = require "relrun.proc"
local targets = require "relrun.targets"

local M = {}

M.TOOLS = { pip = true, uv = true, twine = true, poetry = true }
M.NAME = "codeartifact"   -- the index's, repository's and source's name in each tool

local function home() return os.getenv("HOME") or "." end
local function xdg_config() return os.getenv("XDG_CONFIG_HOME") or fs.join(home(), ".config") end

---------------------------------------------------------------------------
-- Editing the tools' files (INI and TOML), keeping what is not ours
---------------------------------------------------------------------------

-- The lines of an INI text.
local function ini_lines(text)
  local lines = {}
  for line in (text or ""):gmatch("([^\n]*)\n?") do lines[#lines + 1] = line end
  if lines[#lines] == "" then lines[#lines] = nil end
  return lines
end

-- Walks the lines: fn(i, section, key, value, last) for each key line, last
-- the index of its last continuation line (indented, as configparser reads
-- them), the value's lines joined by newlines.
local function ini_walk(lines, fn)
  local section
  local i = 1
  while i <= #lines do
    local line = lines[i]
    local name = line:match("^%[([^%]]+)%]")
    if name then
      section = name
    else
      local k, v = line:match("^([%w_.-]+)%s*[=:]%s*(.-)%s*$")
      if k then
        local last = i
        while lines[last + 1] and lines[last + 1]:match("^%s+%S") do
          last = last + 1
          v = v .. "\n" .. lines[last]:match("^%s*(.-)%s*$")
        end
        fn(i, section, k, v, last)
        i = last
      end
    end
    i = i + 1
  end
end

-- The value of `key` in [section], or nil.
function M.ini_get(text, section, key)
  local found
  ini_walk(ini_lines(text), function(_, sec, k, v) if sec == section and k == key then found = v end end)
  return found
end

-- text with `key = value` set in [section] (INI: pip.conf, .pypirc); the
-- other keys, sections and comments kept. A value with newlines is written
-- as continuation lines.
function M.ini_set(text, section, key, value)
  local lines = ini_lines(text)
  local shown = key .. " =" .. (value:find("^\n") and "" or " ") .. value:gsub("\n", "\n    ")
  local at, last
  ini_walk(lines, function(i, sec, k, _, l) if sec == section and k == key then at, last = i, l end end)
  if at then
    for _ = at, last do table.remove(lines, at) end
    table.insert(lines, at, shown)
    return table.concat(lines, "\n") .. "\n"
  end
  local header, next_header
  for i, line in ipairs(lines) do
    local name = line:match("^%[([^%]]+)%]")
    if name == section then header = i elseif name and header and not next_header then next_header = i end
  end
  if header then
    local insert_at = next_header or (#lines + 1)
    while insert_at - 1 > header and lines[insert_at - 1]:match("^%s*$") do insert_at = insert_at - 1 end
    table.insert(lines, insert_at, shown)
  else
    if #lines > 0 and lines[#lines] ~= "" then lines[#lines + 1] = "" end
    lines[#lines + 1] = "[" .. section .. "]"
    lines[#lines + 1] = shown
  end
  return table.concat(lines, "\n") .. "\n"
end

local function toml_string(s) return '"' .. s:gsub('[\\"]', "\\%0") .. '"' end

-- text with the TOML table `header` (e.g. `[http-basic.codeartifact]` or an
-- `[[index]]` whose name is ours) replaced by `body`, or `body` appended.
function M.toml_replace(text, is_ours, body)
  text = text or ""
  local blocks, current = {}, { lines = {} }
  for line in (text .. (text:find("\n$") and "" or "\n")):gmatch("([^\n]*)\n") do
    if line:match("^%s*%[") then
      blocks[#blocks + 1] = current
      current = { header = line:match("^%s*(%[%[?[^%]]+%]%]?)"), lines = {} }
    end
    current.lines[#current.lines + 1] = line
  end
  blocks[#blocks + 1] = current
  local out, replaced = {}, false
  for _, b in ipairs(blocks) do
    if b.header and is_ours(b.header, table.concat(b.lines, "\n")) then
      if not replaced then out[#out + 1] = body:gsub("\n$", "") end
      replaced = true
    elseif #b.lines > 0 then
      out[#out + 1] = table.concat(b.lines, "\n")
    end
  end
  if not replaced then
    if #out > 0 and out[#out] ~= "" then out[#out + 1] = "" end
    out[#out + 1] = body:gsub("\n$", "")
  end
  return (table.concat(out, "\n"):gsub("^\n+", "")) .. "\n"
end

---------------------------------------------------------------------------
-- The tools
---------------------------------------------------------------------------

-- Each tool: files(ctx) -> { {path, text = function(old) -> new, what} }
-- (the token is in ctx.token, the URLs in ctx.index_url, ctx.upload_url,
-- ctx.secret_url), env(ctx) -> { {name, value} }, after(ctx) (optional).
local TOOLS = {}

TOOLS.pip = {
  where = function(ctx)
    local venv = ctx.venv or os.getenv("VIRTUAL_ENV")
    if ctx.global then
      return fs.join(xdg_config(), "pip", "pip.conf"), "pip's user configuration: every pip of this user now " ..
        "installs from CodeArtifact (--global)"
    elseif ctx.config then
      return ctx.config, "a named pip configuration: `export PIP_CONFIG_FILE=" .. ctx.config .. "` to use it"
    elseif venv and venv ~= "" then
      return fs.join(venv, "pip.conf"), "the venv " .. venv .. " (its pip only; other venvs and your global " ..
        "pip are untouched)"
    end
    local path = fs.join(xdg_config(), "relrun", "pip-codeartifact.conf")
    return path, "a named pip configuration (no venv is active): `export PIP_CONFIG_FILE=" .. path .. "` to use it"
  end,
  files = function(ctx)
    local path, what = TOOLS.pip.where(ctx)
    return { { path = path, what = what, text = function(old)
      return M.ini_set(old, "global", "index-url", ctx.secret_url)
    end } }
  end,
  env = function(ctx) return { { "PIP_INDEX_URL", ctx.secret_url } } end,
}

TOOLS.uv = {
  files = function(ctx)
    local path = ctx.config or fs.join(xdg_config(), "uv", "uv.toml")
    return { { path = path, what = "an index named \"" .. M.NAME .. "\" in " .. path .. " (searched before PyPI, " ..
      "which stays the default index)", text = function(old)
        return M.toml_replace(old, function(header, block)
          return header == "[[index]]" and block:find('name%s*=%s*"' .. M.NAME .. '"') ~= nil
        end, "[[index]]\nname = " .. toml_string(M.NAME) .. "\nurl = " .. toml_string(ctx.secret_url) .. "\n")
      end } }
  end,
  env = function(ctx)
    local upper = M.NAME:upper()
    return { { "UV_INDEX", M.NAME .. "=" .. ctx.index_url }, { "UV_INDEX_" .. upper .. "_USERNAME", "aws" },
             { "UV_INDEX_" .. upper .. "_PASSWORD", ctx.token } }
  end,
}

TOOLS.twine = {
  files = function(ctx)
    local path = ctx.config or fs.join(home(), ".pypirc")
    return { { path = path, what = "the repository \"" .. M.NAME .. "\" in " .. path .. " (`twine upload -r " ..
      M.NAME .. "`; pypi and the others untouched)", text = function(old)
        local servers = M.ini_get(old, "distutils", "index-servers")
        local list = {}
        for name in (servers or ""):gmatch("%S+") do if name ~= M.NAME then list[#list + 1] = name end end
        list[#list + 1] = M.NAME
        local text = M.ini_set(old, "distutils", "index-servers", servers and ("\n" .. table.concat(list, "\n"))
          or M.NAME)
        text = M.ini_set(text, M.NAME, "repository", ctx.upload_url)
        text = M.ini_set(text, M.NAME, "username", "aws")
        return M.ini_set(text, M.NAME, "password", ctx.token)
      end } }
  end,
  env = function(ctx)
    return { { "TWINE_REPOSITORY_URL", ctx.upload_url }, { "TWINE_USERNAME", "aws" }, { "TWINE_PASSWORD", ctx.token } }
  end,
}

local function poetry_dir()
  local d = os.getenv("POETRY_CONFIG_DIR")
  if d and d ~= "" then return d end
  return fs.join(xdg_config(), "pypoetry")
end

TOOLS.poetry = {
  files = function(ctx)
    local dir = poetry_dir()
    local auth, conf = fs.join(dir, "auth.toml"), fs.join(dir, "config.toml")
    return {
      { path = auth, what = "poetry's credentials for \"" .. M.NAME .. "\" (" .. auth .. ")", text = function(old)
        return M.toml_replace(old, function(header) return header == "[http-basic." .. M.NAME .. "]" end,
          "[http-basic." .. M.NAME .. "]\nusername = \"aws\"\npassword = " .. toml_string(ctx.token) .. "\n")
      end },
      { path = conf, what = "the repository \"" .. M.NAME .. "\" (`poetry publish -r " .. M.NAME .. "`)",
        text = function(old)
          return M.toml_replace(old, function(header) return header == "[repositories." .. M.NAME .. "]" end,
            "[repositories." .. M.NAME .. "]\nurl = " .. toml_string(ctx.upload_url) .. "\n")
        end },
    }
  end,
  env = function(ctx)
    local upper = M.NAME:upper()
    return { { "POETRY_REPOSITORIES_" .. upper .. "_URL", ctx.upload_url },
             { "POETRY_HTTP_BASIC_" .. upper .. "_USERNAME", "aws" },
             { "POETRY_HTTP_BASIC_" .. upper .. "_PASSWORD", ctx.token } }
  end,
  -- The project's source, by poetry itself (it knows its own format): a
  -- secondary source (supplemental from poetry 1.5), so PyPI stays primary.
  after = function(ctx)
    local py = ctx.project.py
    local poetry_table = type(py) == "table" and type(py.tool) == "table" and py.tool.poetry
    if type(poetry_table) ~= "table" then return nil end
    for _, s in ipairs(type(poetry_table.source) == "table" and poetry_table.source or {}) do
      if type(s) == "table" and s.name == M.NAME then return "the project's source \"" .. M.NAME .. "\" is there" end
    end
    local v = proc.run{ argv = { "poetry", "--version" } }
    if not v or v.code ~= 0 then
      return "poetry is not installed: add the source with `poetry source add --priority=supplemental " .. M.NAME ..
        " " .. ctx.index_url .. "`"
    end
    local major, minor = (v.stdout or ""):match("(%d+)%.(%d+)")
    local old = tonumber(major) == 1 and tonumber(minor) < 5
    local argv = { "poetry", "source", "add", old and "--secondary" or "--priority=supplemental", M.NAME, ctx.index_url }
    local r = proc.run{ argv = argv, cwd = ctx.project.dir }
    if not r or r.code ~= 0 then
      errors.raise("POETRY_SOURCE", "`" .. table.concat(argv, " ") .. "` failed: " ..
        ((r and (r.stderr ~= "" and r.stderr or r.stdout)) or "cannot run poetry"):gsub("%s+$", ""))
    end
    return "the project's source \"" .. M.NAME .. "\" added (" .. (old and "secondary" or "supplemental") ..
      ": PyPI stays the primary source)"
  end,
}

---------------------------------------------------------------------------
-- The plan
---------------------------------------------------------------------------

-- Write `text` to `path` as 0600 (its folder 0700 when created), atomically.
local function write_private(path, text)
  local dir = fs.dirname(path)
  if not fs.exists(dir) then
    local good, err = fs.mkdir(dir, "700")
    if not good then errors.raise("LOGIN_WRITE", "cannot create " .. dir .. ": " .. tostring(err)) end
  end
  local good, err = fs.write(path, text, "600")
  if not good then errors.raise("LOGIN_WRITE", "cannot write " .. path .. ": " .. tostring(err)) end
end

local function expiry_text(expiration)
  if not expiration then return "an unknown time" end
  local left = expiration - os.time()
  return string.format("%s (in %d h %02d min)", os.date("!%Y-%m-%d %H:%M UTC", expiration), left // 3600,
    (left % 3600) // 60)
end

local function token_step(ctx)
  return { name = "token", kind = "check", does = "a CodeArtifact token and the repository's endpoint", run = function()
    if ctx.dry_run then return { outcome = "not fetched in a dry run (GetAuthorizationToken, GetRepositoryEndpoint)" } end
    local t = ctx.target
    t:connect()
    ctx.token, ctx.expiration = t.token, t.expiration
    ctx.index_url = t:index_url()
    ctx.upload_url = t.endpoint
    ctx.secret_url = t:index_url_with_token()
    return { outcome = "valid until " .. expiry_text(ctx.expiration) }
  end }
end

local function write_step(ctx)
  local tool = TOOLS[ctx.tool]
  local placeholder = { index_url = ctx.target:index_url(), upload_url = ctx.target:index_url():gsub("simple/$", ""),
                        token = "TOKEN", secret_url = ctx.target:index_url():gsub("^(https?://)", "%1aws:TOKEN@") }
  local planned = tool.files(setmetatable(placeholder, { __index = ctx }))
  local names = {}
  for _, f in ipairs(planned) do names[#names + 1] = f.path end
  return { name = "write", kind = "change", does = "write the token where " .. ctx.tool .. " reads it: " ..
      table.concat(names, ", "),
    check = function()
      local lines = {}
      for _, f in ipairs(planned) do lines[#lines + 1] = "would write " .. f.path .. " (0600): " .. f.what end
      return false, nil, table.concat(lines, "; ")
    end,
    run = function()
      local done = {}
      for _, f in ipairs(tool.files(ctx)) do
        write_private(f.path, f.text(fs.read(f.path)))
        done[#done + 1] = f.what
        ctx.out("  " .. f.path .. " (0600): " .. f.what)
      end
      if tool.after then done[#done + 1] = tool.after(ctx) end
      return { outcome = table.concat(done, "; ") }
    end }
end

-- The exports of --env, the token in them (meant for `eval`).
function M.exports(ctx)
  local lines = {}
  for _, pair in ipairs(TOOLS[ctx.tool].env(ctx)) do
    lines[#lines + 1] = string.format("export %s='%s'", pair[1], (pair[2]:gsub("'", "'\\''")))
  end
  return lines
end

-- plan{ project, tool, venv, config, global, dry_run, out, token_seconds } -> plan, ctx.
function M.plan(opts)
  local ctx = {}
  for k, v in pairs(opts) do ctx[k] = v end
  if not M.TOOLS[ctx.tool] then
    errors.raise("USAGE", "login: --tool is pip, uv, twine or poetry", { exit = 2 })
  end
  if ctx.project.cfg.target ~= "codeartifact" then
    errors.raise("NOT_CODEARTIFACT", "login is for CodeArtifact, and CODEARTIFACT_DOMAIN is not set",
      { hint = "set CODEARTIFACT_DOMAIN, CODEARTIFACT_ACCOUNT_ID, CODEARTIFACT_REPOSITORY and AWS_REGION (or " ..
        "[tool.relrun]); the local repository needs no login", exit = 2 })
  end
  ctx.target = targets.for_config(ctx.project.cfg)
  ctx.target.token_seconds = ctx.token_seconds
  ctx.out = ctx.out or print
  local plan = steps.plan{ title = "login " .. ctx.tool .. " to " .. ctx.target.label, out = ctx.out,
                           command = ctx.command, finished = function()
                             return string.format("%s reads CodeArtifact now; the token expires %s: run this again " ..
                               "then.", ctx.tool, expiry_text(ctx.expiration))
                           end }
  plan:add(token_step(ctx))
  plan:add(write_step(ctx))
  return plan, ctx
end

-- The token alone (env and print-token modes): ctx after token_step's work.
function M.connect(ctx)
  token_step(ctx).run()
  return ctx
end

M.expiry_text = expiry_text
M.TOOL_TABLE = TOOLS

return M
