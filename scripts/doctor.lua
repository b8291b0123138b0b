-- relrun scripts/doctor.lua — RELEASE.md's "Troubleshooting" as checks.
--
-- One group per section of RELEASE.md; each check says what it looked at,
-- what it found and what to do. It never changes anything, needs no write
-- permission, and never prints a secret. Exit 0: all good; 3: problems.
local cli = require "relrun.cli"
local config = require "relrun.config"
local checks = require "relrun.checks"
local log = require "relrun.log"

local spec = {
  prog = "doctor.lua",
  summary = "Find what is wrong with a release set-up, before or after a release fails.",
  options = {
    { "--project", arg = "DIR", default = ".", help = "the Python project (where pyproject.toml is)" },
    { "--json", help = "print the results as one JSON document" },
    { "--offline", help = "skip the checks that call AWS or GitHub" },
    { "--tag", arg = "TAG", help = "the tag to check the OIDC trust for (default: the last v* tag)" },
    { "--environment", arg = "NAME", help = "the GitHub environment the release job runs in (default: the release " ..
      "workflow's `environment:`, and production for the environment check)" },
    { "--region", arg = "REGION", help = "AWS region (overrides AWS_REGION)" },
    { "--only", arg = "GROUPS", help = "run only these groups, comma-separated: oidc, codeartifact, build, s3, security",
      check = function(v)
        for name in v:gmatch("[^,]+") do
          if not ({ oidc = 1, codeartifact = 1, build = 1, s3 = 1, security = 1 })[name] then
            return nil, "unknown group " .. name .. " (oidc, codeartifact, build, s3, security)"
          end
        end
        return true
      end },
  },
}

local opts = cli.parse_or_exit(spec, arg)

-- A malformed setting from the environment (a mistyped secret) is a finding,
-- not a reason to stop: load again without it and report it in its group.
-- A malformed flag is a usage error.
local function load_settings()
  local hidden, bad = {}, {}
  local function getenv(name) if hidden[name] then return nil end return os.getenv(name) end
  for _ = 1, #config.SETTINGS do
    local cfg, err = config.load{ project_dir = opts.project, flags = opts, getenv = getenv }
    if cfg then return cfg, bad end
    local key, from = err.message:match('^([%w_]+) ".-" %(from ([%w_]+)%)')
    if not key or not os.getenv(from) then
      -- Without the bad value another check fails (a CodeArtifact target
      -- without its account): the bad value is the news.
      local first = select(2, next(bad))
      error({ message = tostring(first or err), exit = 2 })
    end
    hidden[from], bad[key] = true, err.message
  end
  error({ message = "the settings could not be read", exit = 2 })
end

local cfg, bad_settings = load_settings()
local ctx = { cfg = cfg, project_dir = opts.project, opts = opts, bad_settings = bad_settings }
do
  local p = require("relrun.project").open{ dir = opts.project, need_repo = false, flags = opts,
                                            getenv = function(name) return cfg.source and os.getenv(name) end }
  ctx.imports = p and p:import_names() or {}
  if p then p:close() end
end
do
  local git = require "relrun.git"
  ctx.repo = git.open(opts.project)
end
if not opts.offline and os.getenv("GITHUB_TOKEN") then
  ctx.github = require("relrun.github").new{ repo_dir = opts.project }
end

local list = checks.new{ json = opts.json }
local function section(title, name)
  local module = require(name)
  list:group(title, function(g)
    if opts.offline and module.needs_network then
      g:check(title, function() return checks.skip("--offline") end)
    else
      module.register(g, ctx)
    end
  end)
end

local only
if opts.only then
  only = {}
  for name in opts.only:gmatch("[^,]+") do only[name] = true end
end
for _, s in ipairs({
  { "OIDC Authentication", "oidc" },
  { "CodeArtifact Permission Denied", "codeartifact" },
  { "Build Failures", "build" },
  { "S3 Upload Failures", "s3" },
  { "Security", "security" },
}) do
  if not only or only[s[2]] then section(s[1], "relrun.doctor." .. s[2]) end
end

if ctx.repo then ctx.repo:close() end
local code = list:finish()
log.summary(string.format("relrun doctor: %d problem(s), %d warning(s)\n", list.problems, list.warnings))
return code
