-- relrun login --tool pip|uv|twine|poetry — RELEASE.md "4. Verify
-- Release" starts with `aws codeartifact login --tool pip`, which rewrites the
-- global pip index and knows no uv. This fetches a CodeArtifact token with
-- your AWS credentials and writes it where the one tool reads it, without
-- taking over its other indexes (relrun.login says where), every file 0600,
-- and says when the token expires. --env prints shell exports instead
-- (`eval "$(relrun login --tool uv --env)"`); --print-token
-- prints the token alone, for a Databricks secret scope; --dry-run says
-- what it would write.
local cli = require "relrun.cli"
local errors = require "relrun.errors"
local project = require "relrun.project"
local login = require "relrun.login"

local spec = {
  prog = "login",
  summary = "Log pip, uv, twine or poetry in to the CodeArtifact repository, and nothing else.",
  options = {
    { "--tool", arg = "TOOL", choices = { "pip", "uv", "twine", "poetry" }, help = "the tool to log in" },
    { "--venv", arg = "DIR", help = "pip: the venv whose pip.conf gets the index (default: $VIRTUAL_ENV)" },
    { "--config", arg = "FILE", help = "the file to write instead of the tool's own (pip: for PIP_CONFIG_FILE; uv: "
      .. "a uv.toml; twine: a .pypirc)" },
    { "--global", help = "pip: write pip's user configuration, its global index-url (only when asked)" },
    { "--env", help = "print shell exports for the tool instead of writing files" },
    { "--print-token", help = "print the token alone (e.g. into `databricks secrets put-secret`)" },
    { "--duration", arg = "SECONDS", help = "the token's lifetime, 900 to 43200 (default 43200, 12 hours)",
      check = function(v)
        local n = tonumber(v)
        return (n and n >= 900 and n <= 43200) or nil, "900 to 43200 seconds"
      end },
    { "--project", arg = "DIR", help = "the Python project's folder (default: here, or the nearest folder up with one)" },
    { "-n", "--dry-run", help = "say what would be written, fetch and write nothing" },
  },
}

local opts = cli.parse_or_exit(spec, arg)
if not opts.tool and not opts.print_token then
  errors.raise("USAGE", "login: give --tool pip|uv|twine|poetry (or --print-token) (try --help)", { exit = 2 })
end
local p = errors.check(project.open{ dir = opts.project, flags = opts, need_repo = false })

local plan, ctx = login.plan{ project = p, tool = opts.tool or "pip", venv = opts.venv, config = opts.config,
                              global = opts.global, dry_run = opts.dry_run, token_seconds = tonumber(opts.duration)
                                or 43200, command = cli.command_line(arg),
                              out = opts.env and function() end or nil }
if opts.env or opts.print_token then
  -- for `eval` or a pipe: stdout carries the token and nothing else; never
  -- onto a terminal's screen (and its scrollback)
  if require("relrun.fs").isatty(1) then
    errors.raise("USAGE", "login: --env and --print-token print the token: pipe them, e.g. " ..
      "eval \"$(relrun login --tool " .. (opts.tool or "pip") .. " --env)\"", { exit = 2 })
  end
  login.connect(ctx)
  -- io.stdout masks every registered secret (the token is one): the token is
  -- what these modes are for, so it goes through a handle of its own
  local out = errors.check(io.open("/dev/stdout", "w"))
  if opts.print_token then
    out:write(ctx.token, "\n")
  else
    for _, line in ipairs(login.exports(ctx)) do out:write(line, "\n") end
  end
  out:close()
  io.stderr:write("# the token expires ", login.expiry_text(ctx.expiration), "\n")
  p:close()
  return 0
end
errors.check(plan:run(ctx, { dry_run = opts.dry_run }))
p:close()
return 0
