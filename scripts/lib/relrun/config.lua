-- relrun.config: the release's settings and their schema. Each value comes
-- from (weakest first) its default, the project's pyproject.toml
-- `[tool.relrun]` table, the environment names RELEASE.md uses, and flags,
-- and remembers that source, so an error can say where a bad value came from
-- and `release.lua config` can show it.
--
--   local cfg = assert(config.load{ project_dir = ".", flags = opts })
--   cfg.target            -- "codeartifact" when CODEARTIFACT_DOMAIN is set, else "local"
--   cfg.domain, cfg.account_id, cfg.repository, cfg.region, cfg.role_arn, cfg.bucket
--   cfg.package, cfg.imports, cfg.branch, cfg.remote, cfg.tag_prefix, cfg.build.isolation ...
--   cfg.source["build.isolation"]  -- "default", "pyproject.toml [tool.relrun] build.isolation",
--                                  -- "RELRUN_BUILD_ISOLATION", "--no-isolation"
--
-- An unknown `[tool.relrun]` key is an error naming the closest known one; a
-- value of the wrong type is an error naming its source.
local errors = require "relrun.errors"

local M = {}

local ACCOUNT = { "^%d%d%d%d%d%d%d%d%d%d%d%d$", "an AWS account id is 12 digits" }

-- The schema: every setting relrun reads. `key` is its name in
-- [tool.relrun] (a dot names a sub-table: build.isolation is
-- [tool.relrun.build] isolation); `flag` the option that sets it (default:
-- the key with - for _ and .); `env` the variables, strongest first.
M.SCHEMA = {
  { key = "domain", type = "string", env = { "CODEARTIFACT_DOMAIN" },
    pattern = { "^[a-z][a-z0-9%-]*[a-z0-9]$", "a CodeArtifact domain is lower-case letters, digits and -" },
    help = "the CodeArtifact domain; set, it makes CodeArtifact the target" },
  { key = "account_id", type = "string", env = { "CODEARTIFACT_ACCOUNT_ID" }, pattern = ACCOUNT,
    help = "the AWS account that owns the domain" },
  { key = "repository", type = "string", env = { "CODEARTIFACT_REPOSITORY" },
    pattern = { "^[%w][%w%-%._]*$", "a CodeArtifact repository name is letters, digits, - . _" },
    help = "the CodeArtifact repository" },
  { key = "region", type = "string", env = { "AWS_REGION", "AWS_DEFAULT_REGION" },
    pattern = { "^[a-z][a-z]%-[a-z%-]+%-%d+$", "a region looks like us-east-1" }, help = "the AWS region" },
  { key = "role_arn", type = "string", env = { "AWS_ROLE_ARN" },
    pattern = { "^arn:aws[%w%-]*:iam::%d%d%d%d%d%d%d%d%d%d%d%d:role/.+$",
                "a role ARN looks like arn:aws:iam::111122223333:role/NAME" },
    help = "the role GitHub Actions assumes through OIDC" },
  { key = "bucket", type = "string", env = { "S3_WHEELS_BUCKET" },
    pattern = { "^[a-z0-9][a-z0-9%.%-]+[a-z0-9]$", "an S3 bucket name is lower-case letters, digits, . and -" },
    help = "copy the released files to s3://BUCKET/wheels/" },
  { key = "repository_dir", type = "string", env = { "RELRUN_REPOSITORY_DIR" }, default = ".relrun/repository",
    help = "the local PEP 503 repository folder (the target when CodeArtifact is not set)" },
  { key = "package", type = "string", help = "the distribution name (default: [project] name)" },
  { key = "imports", type = "list", help = "modules the install check imports (default: the wheel's top-level packages)" },
  { key = "branch", type = "string", default = "main", help = "the release branch" },
  { key = "remote", type = "string", default = "origin", help = "the git remote tags are pushed to" },
  { key = "environment", type = "string", default = "production", help = "the GitHub environment of the release job" },
  { key = "tag_prefix", type = "string", env = { "RELRUN_TAG_PREFIX" },
    help = "release tags are PREFIX + version: \"v\", \"\" or e.g. \"bronze-v\" (default: detected from the tags)" },
  { key = "github_repository", type = "string", env = { "GITHUB_REPOSITORY" },
    pattern = { "^[%w%-%._]+/[%w%-%._]+$", "GITHUB_REPOSITORY is owner/repo" },
    help = "OWNER/REPO on GitHub (default: from the remote's URL)" },
  { key = "python", type = "string", env = { "RELRUN_PYTHON" }, help = "the interpreter that builds and verifies" },
  { key = "build.isolation", type = "boolean", env = { "RELRUN_BUILD_ISOLATION" },
    flag = "isolation", help = "build in an isolated environment, as python -m build does (true), or with the " ..
    "installed backend (false, --no-isolation); unset: isolated when the build's index answers, else not" },
  { key = "build.skip_dependency_check", type = "boolean", default = false, flag = "skip_dependency_check",
    help = "do not check the build dependencies (python -m build -x)" },
  { key = "build.args", type = "list", flag = "build_arg", help = "extra arguments for python -m build" },
  { key = "build.index_url", type = "string", env = { "RELRUN_BUILD_INDEX_URL" },
    help = "the index isolated builds install their requirements from (default: pip's own)" },
  { key = "expect", type = "list", count = true, help = "the files a release has: \"sdist\", \"wheel\" or wheel " ..
    "tag patterns such as \"cp311-manylinux\", each matched by a file and every file matching one; or a count " ..
    "of files (default: one sdist and at least one wheel)" },
  { key = "verify.no_deps", type = "boolean", default = false, flag = "no_deps",
    help = "install without dependencies when verifying" },
  { key = "verify.extra_index_url", type = "string", env = { "RELRUN_VERIFY_EXTRA_INDEX_URL" }, flag = "extra_index_url",
    help = "where verify finds the package's dependencies (besides the target)" },
  { key = "verify.skip", type = "boolean", default = false, flag = "skip_verify",
    help = "do not install and import the release" },
  { key = "github_release.draft", type = "boolean", default = false, flag = "draft",
    help = "create the GitHub Release as a draft" },
  { key = "changelog", type = "string", help = "a file prepare --changelog writes the release notes into" },
  -- RELEASE.md "Monitor CodeArtifact storage costs": read from
  -- https://aws.amazon.com/codeartifact/pricing/ on 2026-12-02 ($0.05 per
  -- GB-month of storage, every region listed); a setting, since prices change
  { key = "storage_price", type = "number", default = 0.05, env = { "RELRUN_STORAGE_PRICE" },
    pattern = { "^%d+%.?%d*$", "a price in US dollars per GB-month, such as 0.05" },
    help = "the target's storage price in US dollars per GB-month, for relrun maintain versions' estimate" },
  { key = "retention.keep_dev", type = "number", flag = "keep_dev",
    pattern = { "^%d+$", "retention.keep_dev is a whole number of versions" },
    help = "relrun maintain prune keeps the newest N dev versions (unset: no count kept)" },
  { key = "retention.older_than_days", type = "number", flag = "older_than_days",
    pattern = { "^%d+$", "retention.older_than_days is a whole number of days" },
    help = "relrun maintain prune removes dev versions older than D days (beyond the newest keep_dev)" },
  { key = "retention.include_finals", type = "boolean", default = false, flag = "include_finals",
    help = "relrun maintain prune may remove final, pre- and post-releases too (never the latest final)" },
  { key = "retention.action", type = "string", default = "dispose", flag = "retention_action",
    choices = { "dispose", "delete", "unlist", "archive" },
    help = "what relrun maintain prune does to a version: dispose (files deleted, record kept), delete, unlist, archive" },
  { key = "retention.s3", type = "boolean", default = false, flag = "prune_s3",
    help = "relrun maintain prune also deletes the pruned versions' files under s3://$S3_WHEELS_BUCKET/wheels/" },
}
M.SETTINGS = M.SCHEMA   -- the older name

local BY_KEY = {}
for _, s in ipairs(M.SCHEMA) do BY_KEY[s.key] = s end

local function flag_name(s)
  return s.flag or (s.key:gsub("[._]", "_"))
end

-- Levenshtein distance, for "did you mean".
local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

function M.closest(key)
  local best, best_d
  for _, s in ipairs(M.SCHEMA) do
    local d = distance(key, s.key)
    if not best_d or d < best_d then best, best_d = s.key, d end
  end
  if best_d and best_d <= math.max(2, #key // 3) then return best end
end

-- [tool.relrun] flattened to dotted keys, sub-tables descended only where
-- the schema has keys below them.
local function flatten(tbl, prefix, out, where)
  for k, v in pairs(tbl) do
    local key = prefix .. tostring(k)
    local has_children = false
    for _, s in ipairs(M.SCHEMA) do
      if s.key:sub(1, #key + 1) == key .. "." then has_children = true; break end
    end
    if type(v) == "table" and has_children and not BY_KEY[key] then
      local ok, err = flatten(v, key .. ".", out, where)
      if not ok then return nil, err end
    elseif BY_KEY[key] then
      out[key] = v
    else
      local near = M.closest(key)
      return nil, errors.new("CONFIG_UNKNOWN", string.format("%s: unknown setting %s%s", where, key,
        near and (" (did you mean " .. near .. "?)") or ""), { hint = "`relrun release config " ..
        "--keys` lists the settings", exit = 2 })
    end
  end
  return out
end

local TRUE = { ["1"] = true, ["true"] = true, yes = true, on = true }
local FALSE = { ["0"] = true, ["false"] = true, no = true, off = true, [""] = true }

-- A value as the schema's type wants it. Strings from the environment and
-- flags are converted; values from TOML must already have the type.
local function coerce(s, value, from, textual)
  local t = type(value)
  local function wrong(want)
    return nil, errors.new("CONFIG_TYPE", string.format("%s (from %s) must be %s, not %s %s", s.key, from, want,
      t == "table" and "a table" or t, t == "table" and "" or string.format("%q", tostring(value))):gsub(" $", ""),
      { exit = 2 })
  end
  if s.type == "string" then
    if t == "string" then return value end
    return wrong("a string")
  elseif s.type == "boolean" then
    if t == "boolean" then return value end
    if textual and t == "string" and TRUE[value:lower()] then return true end
    if textual and t == "string" and FALSE[value:lower()] then return false end
    return wrong("true or false")
  elseif s.type == "number" then
    if t == "number" then return value end
    if textual and t == "string" and tonumber(value) then return tonumber(value) end
    return wrong("a number")
  elseif s.type == "list" then
    -- a list that may also be a count (expect = 5), from TOML or as text
    local n = s.count and (t == "number" and value or (textual and t == "string" and tonumber(value)))
    if n then
      if n == math.floor(n) and n >= 1 then return math.tointeger(n) end
      return wrong("a list of strings or a whole number")
    end
    if t == "table" then
      for _, item in ipairs(value) do
        if type(item) ~= "string" then return wrong("a list of strings") end
      end
      if #value == 0 and next(value) ~= nil then return wrong("a list of strings") end
      return value
    end
    if t == "string" then
      local list = {}
      for item in value:gmatch("[^,%s]+") do list[#list + 1] = item end
      if textual or #list > 0 then return list end
    end
    return wrong("a list of strings")
  end
  return value
end

local function set_nested(cfg, key, value)
  local t = cfg
  local parts = {}
  for p in key:gmatch("[^.]+") do parts[#parts + 1] = p end
  for i = 1, #parts - 1 do
    t[parts[i]] = t[parts[i]] or {}
    t = t[parts[i]]
  end
  t[parts[#parts]] = value
end

function M.get(cfg, key)
  local t = cfg
  for p in key:gmatch("[^.]+") do
    if type(t) ~= "table" then return nil end
    t = t[p]
  end
  return t
end

-- The value of one setting and its source.
local function resolve(s, file, flags, getenv)
  local value, from
  if s.default ~= nil then value, from = s.default, "default" end
  if file[s.key] ~= nil then
    local v, err = coerce(s, file[s.key], "pyproject.toml [tool.relrun] " .. s.key, false)
    if err then return nil, nil, err end
    value, from = v, "pyproject.toml [tool.relrun] " .. s.key
  end
  for i = #(s.env or {}), 1, -1 do
    local v = getenv(s.env[i])
    if v and v ~= "" then
      local c, err = coerce(s, v, s.env[i], true)
      if err then return nil, nil, err end
      value, from = c, s.env[i]
    end
  end
  local flag = flags[flag_name(s)]
  if flag ~= nil and flag ~= "" then
    local shown = "--" .. flag_name(s):gsub("_", "-")
    if s.type == "boolean" and flag == false then shown = "--no-" .. flag_name(s):gsub("_", "-") end
    local c, err = coerce(s, flag, shown, true)
    if err then return nil, nil, err end
    value, from = c, shown
  end
  return value, from
end

-- load{ project_dir, pyproject = decoded table (else read from project_dir),
--       flags = { key = value }, getenv, partial } -> cfg | nil, err.
-- partial = true: a CodeArtifact target may lack settings (setup.lua learns
-- the account from STS and says itself what it needs); values are still checked.
function M.load(opts)
  opts = opts or {}
  local dir = opts.project_dir or "."
  local getenv = opts.getenv or os.getenv
  local py = opts.pyproject
  if py == nil then
    local err
    py, err = M.read_pyproject(dir)
    if err then return nil, err end
  end
  local tool = type(py) == "table" and type(py.tool) == "table" and py.tool.relrun or {}
  if type(tool) ~= "table" then
    return nil, errors.new("CONFIG_TYPE", "pyproject.toml: tool.relrun must be a table", { exit = 2 })
  end
  local file, ferr = flatten(tool, "", {}, "pyproject.toml [tool.relrun]")
  if not file then return nil, ferr end
  local cfg, source = { project_dir = dir }, {}
  for _, s in ipairs(M.SCHEMA) do
    local value, from, err = resolve(s, file, opts.flags or {}, getenv)
    if err then return nil, err end
    set_nested(cfg, s.key, value)
    source[s.key] = from
  end
  cfg.build = cfg.build or {}
  cfg.verify = cfg.verify or {}
  cfg.github_release = cfg.github_release or {}
  if cfg.package == nil then cfg.package, source.package = M.declared_name(dir, py) end
  cfg.source = source
  cfg.pyproject = py or nil
  cfg.target = cfg.domain and "codeartifact" or "local"
  local good, why = M.validate(cfg, opts.partial)
  if not good then return nil, why end
  return cfg
end

-- The distribution name the project declares, where its backend reads it:
-- pyproject's [project] name, poetry-core's [tool.poetry] name, setup.cfg's
-- [metadata] name, or a literal name="..." in setup.py (a setup.cfg- or
-- setup.py-only project has no pyproject.toml at all) -> name, source | nil.
function M.declared_name(dir, py)
  local tool = type(py) == "table" and type(py.tool) == "table" and py.tool or {}
  local tables = { { type(py) == "table" and py.project, "pyproject.toml [project] name" },
                   { type(tool.poetry) == "table" and tool.poetry, "pyproject.toml [tool.poetry] name" } }
  for _, t in ipairs(tables) do
    if type(t[1]) == "table" and type(t[1].name) == "string" then return t[1].name, t[2] end
  end
  local cfg = require("relrun.doctor.setupcfg").read(dir)
  local name = cfg and cfg.metadata and cfg.metadata.name
  if name and name:match("^[%w][%w._-]*$") then return name, "setup.cfg [metadata] name" end
  local f = io.open(dir .. "/setup.py", "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  name = text:match("[%s,(]name%s*=%s*[\"']([%w][%w._-]*)[\"']")
  if name then return name, "setup.py name=" end
  -- name=NAME with NAME = "celery" at the top of the file (celery's setup.py)
  local var = text:match("[%s,(]name%s*=%s*([%a_][%w_]*)%s*[,)\n]")
  name = var and ("\n" .. text):match("\n" .. var .. "%s*=%s*[\"']([%w][%w._-]*)[\"']%s*\n")
  if name then return name, "setup.py name=" .. var end
end

-- pyproject.toml of `dir`, decoded: table | false (none) | nil, err.
function M.read_pyproject(dir)
  local path = dir .. "/pyproject.toml"
  local f = io.open(path, "rb")
  if not f then return false end
  local text = f:read("a")
  f:close()
  local data, err = require("relrun.toml").decode(text, path)
  if not data then
    return nil, errors.new("CONFIG_TOML", tostring(err), { hint = "fix the TOML syntax and commit it", exit = 2 })
  end
  return data
end

function M.one_of(list, v)
  for _, c in ipairs(list) do if c == v then return true end end
  return false
end

-- Every set value well formed; a CodeArtifact target complete (unless partial).
function M.validate(cfg, partial)
  for _, s in ipairs(M.SCHEMA) do
    local v = M.get(cfg, s.key)
    if s.pattern and v ~= nil and not tostring(v):match(s.pattern[1]) then
      return nil, errors.new("CONFIG_VALUE", string.format("%s %q (from %s) is not valid: %s", s.key, tostring(v),
        cfg.source[s.key] or "?", s.pattern[2]), { exit = 2 })
    end
    if s.choices and v ~= nil and not M.one_of(s.choices, v) then
      return nil, errors.new("CONFIG_VALUE", string.format("%s %q (from %s) is not valid: one of %s", s.key,
        tostring(v), cfg.source[s.key] or "?", table.concat(s.choices, ", ")), { exit = 2 })
    end
  end
  if cfg.target == "codeartifact" and not partial then
    local missing = {}
    for _, pair in ipairs({ { "account_id", "CODEARTIFACT_ACCOUNT_ID" }, { "repository", "CODEARTIFACT_REPOSITORY" },
                            { "region", "AWS_REGION" } }) do
      if not cfg[pair[1]] then missing[#missing + 1] = pair[2] end
    end
    if #missing > 0 then
      return nil, errors.new("CONFIG_INCOMPLETE", "CODEARTIFACT_DOMAIN is set, so the target is CodeArtifact, but " ..
        table.concat(missing, ", ") .. (#missing > 1 and " are" or " is") .. " not set",
        { hint = "set them (RELEASE.md, Repository Secrets) or unset CODEARTIFACT_DOMAIN for the local repository",
          exit = 2 })
    end
  end
  return true
end

-- The effective settings as rows { key, value, source } for `config`.
function M.rows(cfg)
  local out = {}
  for _, s in ipairs(M.SCHEMA) do
    local v = M.get(cfg, s.key)
    out[#out + 1] = { key = s.key, value = v, source = cfg.source[s.key] or "unset", help = s.help,
                      env = s.env, type = s.type }
  end
  return out
end

-- The repository's PyPI index as users see it (RELEASE.md "Test in Databricks").
function M.index_url(cfg)
  return string.format("https://%s-%s.d.codeartifact.%s.amazonaws.com/pypi/%s/simple/",
    cfg.domain, cfg.account_id, cfg.region, cfg.repository)
end

return M
