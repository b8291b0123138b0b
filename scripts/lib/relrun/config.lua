-- relrun.config: the release's settings, from (weakest first) defaults, the
-- project's pyproject.toml `[tool.relrun]` table, the environment names
-- RELEASE.md uses, and command-line flags. Each value remembers its source,
-- so an error can say where a bad value came from.
--
--   local cfg = assert(config.load{ project_dir = ".", flags = opts })
--   cfg.target            -- "codeartifact" when CODEARTIFACT_DOMAIN is set, else "local"
--   cfg.domain, cfg.account_id, cfg.repository, cfg.region, cfg.role_arn, cfg.bucket
--   cfg.package, cfg.imports, cfg.branch, cfg.environment, cfg.repository_dir
--   cfg.source.region     -- "AWS_REGION", "pyproject.toml [tool.relrun] region", "--region", "default"
local M = {}

-- setting = { environment names, [tool.relrun] key, flag key }
M.SETTINGS = {
  { key = "domain", env = { "CODEARTIFACT_DOMAIN" } },
  { key = "account_id", env = { "CODEARTIFACT_ACCOUNT_ID" } },
  { key = "repository", env = { "CODEARTIFACT_REPOSITORY" } },
  { key = "region", env = { "AWS_REGION", "AWS_DEFAULT_REGION" } },
  { key = "role_arn", env = { "AWS_ROLE_ARN" } },
  { key = "bucket", env = { "S3_WHEELS_BUCKET" } },
  { key = "repository_dir", env = { "RELRUN_REPOSITORY_DIR" }, default = ".relrun/repository" },
  { key = "package" },
  { key = "imports" },
  { key = "branch", default = "main" },
  { key = "environment", default = "production" },
  { key = "tag_prefix", default = "v" },
  { key = "github_repository", env = { "GITHUB_REPOSITORY" } },
  { key = "python", env = { "RELRUN_PYTHON" } },
}

local CHECKS = {
  account_id = { "^%d%d%d%d%d%d%d%d%d%d%d%d$", "an AWS account id is 12 digits" },
  region = { "^[a-z][a-z]%-[a-z%-]+%-%d+$", "a region looks like us-east-1" },
  role_arn = { "^arn:aws[%w%-]*:iam::%d%d%d%d%d%d%d%d%d%d%d%d:role/.+$",
               "a role ARN looks like arn:aws:iam::111122223333:role/NAME" },
  domain = { "^[a-z][a-z0-9%-]*[a-z0-9]$", "a CodeArtifact domain is lower-case letters, digits and -" },
  repository = { "^[%w][%w%-%._]*$", "a CodeArtifact repository name is letters, digits, - . _" },
  bucket = { "^[a-z0-9][a-z0-9%.%-]+[a-z0-9]$", "an S3 bucket name is lower-case letters, digits, . and -" },
  github_repository = { "^[%w%-%._]+/[%w%-%._]+$", "GITHUB_REPOSITORY is owner/repo" },
}

local function read_pyproject(dir)
  local path = dir .. "/pyproject.toml"
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  local data, err = require("relrun.toml").decode(text, path)
  if not data then return nil, err end
  return data
end

-- The import names of the project's top-level packages.
local function default_imports(py, package)
  local setuptools = py and py.tool and py.tool.setuptools
  if setuptools and type(setuptools.packages) == "table" and setuptools.packages[1] then
    local tops, seen = {}, {}
    for _, p in ipairs(setuptools.packages) do
      local top = p:match("^[^.]+")
      if not seen[top] then seen[top] = true; tops[#tops + 1] = top end
    end
    return tops
  end
  return { ((package or "package"):lower():gsub("[-.]+", "_")) }
end

function M.load(opts)
  opts = opts or {}
  local dir = opts.project_dir or "."
  local flags = opts.flags or {}
  local getenv = opts.getenv or os.getenv
  local py, err = read_pyproject(dir)
  if err then return nil, err end
  local file = py and py.tool and py.tool.relrun or {}
  local cfg, source = { project_dir = dir }, {}
  for _, s in ipairs(M.SETTINGS) do
    local value, from
    if s.default ~= nil then value, from = s.default, "default" end
    if file[s.key] ~= nil then value, from = file[s.key], "pyproject.toml [tool.relrun] " .. s.key end
    for i = #(s.env or {}), 1, -1 do
      local v = getenv(s.env[i])
      if v and v ~= "" then value, from = v, s.env[i] end
    end
    local flag = flags[s.key]
    if flag ~= nil and flag ~= "" then value, from = flag, "--" .. s.key:gsub("_", "-") end
    cfg[s.key], source[s.key] = value, from
  end
  if cfg.package == nil then
    cfg.package = py and py.project and py.project.name
    source.package = cfg.package and "pyproject.toml [project] name" or nil
  end
  if type(cfg.imports) == "string" then
    local list = {}
    for name in cfg.imports:gmatch("[^,%s]+") do list[#list + 1] = name end
    cfg.imports = list
  end
  if cfg.imports == nil then
    cfg.imports, source.imports = default_imports(py, cfg.package), "the project's packages"
  end
  cfg.source = source
  cfg.pyproject = py
  cfg.target = cfg.domain and "codeartifact" or "local"
  local good, why = M.validate(cfg)
  if not good then return nil, why end
  return cfg
end

-- Every set value well formed; a CodeArtifact target complete.
function M.validate(cfg)
  for key, check in pairs(CHECKS) do
    local v = cfg[key]
    if v ~= nil and not tostring(v):match(check[1]) then
      return nil, string.format("%s %q (from %s) is not valid: %s", key, tostring(v),
        cfg.source[key] or "?", check[2])
    end
  end
  if cfg.target == "codeartifact" then
    local missing = {}
    for _, pair in ipairs({ { "account_id", "CODEARTIFACT_ACCOUNT_ID" }, { "repository", "CODEARTIFACT_REPOSITORY" },
                            { "region", "AWS_REGION" } }) do
      if not cfg[pair[1]] then missing[#missing + 1] = pair[2] end
    end
    if #missing > 0 then
      return nil, "CODEARTIFACT_DOMAIN is set, so the target is CodeArtifact, but " ..
        table.concat(missing, ", ") .. (#missing > 1 and " are" or " is") ..
        " not: set them (RELEASE.md, Repository Secrets) or unset CODEARTIFACT_DOMAIN for the local repository"
    end
  end
  return true
end

-- The repository's PyPI index as users see it (RELEASE.md "Test in Databricks").
function M.index_url(cfg)
  return string.format("https://%s-%s.d.codeartifact.%s.amazonaws.com/pypi/%s/simple/",
    cfg.domain, cfg.account_id, cfg.region, cfg.repository)
end

return M
