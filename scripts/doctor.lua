-- relrun doctor — RELEASE.md's "Troubleshooting" as checks.
--
-- One group per section of RELEASE.md (relrun.doctor.groups); each check
-- says what it looked at, what it found and what to do. It never changes
-- anything, needs no write permission, and never prints a secret. A check
-- that fails to run is that check's failure, never the doctor's. Exit 0:
-- all good; 3: problems; 2: a usage error. With --json, stdout is always
-- one JSON document, a usage error's too ({"error": {...}, "groups": []}).
local cli = require "relrun.cli"
local checks = require "relrun.checks"
local errors = require "relrun.errors"
local log = require "relrun.log"
local GROUPS = require "relrun.doctor.groups"

local names = {}
for _, group in ipairs(GROUPS) do names[#names + 1] = group.name end
local known = table.concat(names, ", ")

local spec = {
  prog = "doctor",
  summary = "Find what is wrong with a release set-up, before or after a release fails.",
  options = {
    { "--project", arg = "DIR", help = "the Python project's folder (default: here, or the nearest folder up with one)" },
    { "--json", help = "print the results as one JSON document (always, even for a usage error)" },
    { "--offline", help = "skip the checks that call AWS, GitHub or a package index" },
    { "--tag", arg = "TAG", help = "the release tag to check (default: the release tag on HEAD; for the OIDC " ..
      "trust, the last release tag)" },
    { "--environment", arg = "NAME", help = "the GitHub environment the release job runs in (default: the release " ..
      "workflow's `environment:`, and production for the environment check)" },
    { "--region", arg = "REGION", help = "AWS region (overrides AWS_REGION)" },
    { "--dist", arg = "DIR", help = "check these built files' long description (default: .relrun/dist/VERSION/ " ..
      "of the tag on HEAD, else the project's readme)" },
    { "--only", arg = "GROUPS", help = "run only these groups, comma-separated: " .. known,
      check = function(v)
        for name in v:gmatch("[^,]+") do
          local found = false
          for _, group in ipairs(GROUPS) do found = found or group.name == name end
          if not found then return nil, "unknown group " .. name .. " (" .. known .. ")" end
        end
        return true
      end },
  },
}

local wants_json = false
for _, a in ipairs(arg) do wants_json = wants_json or a == "--json" end
local list = checks.new{ json = wants_json }

local function run()
  local opts, usage = cli.parse(spec, arg)
  if not opts then errors.raise("USAGE", spec.prog .. ": " .. usage .. " (try --help)", { exit = 2 }) end
  if opts.help then
    io.stdout:write(cli.help(spec))
    return 0
  end
  local ctx = errors.check(require("relrun.doctor.context").open(opts))
  local _ <close> = setmetatable({}, { __close = function() require("relrun.doctor.context").close(ctx) end })
  if not opts.offline and os.getenv("GITHUB_TOKEN") then
    ctx.github = require("relrun.github").new{ repo_dir = ctx.project.dir }
  end
  local only
  if opts.only then
    only = {}
    for name in opts.only:gmatch("[^,]+") do only[name] = true end
  end
  for _, group in ipairs(GROUPS) do
    if not only or only[group.name] then
      list:group(group.title, function(g)
        local module = require(group.module)
        if opts.offline and module.needs_network then
          if module.offline then module.offline(g, ctx) end
          g:check(group.title, function() return checks.skip("--offline") end)
        else
          module.register(g, ctx)
        end
      end)
    end
  end
  local code = list:finish()
  log.summary(string.format("relrun doctor: %d problem(s), %d warning(s)\n", list.problems, list.warnings))
  return code
end

-- Under --json an error that stops the doctor is part of the document; the
-- host prints it otherwise.
local good, result = pcall(run)
if good then return result end
if not wants_json then error(result, 0) end
return list:abort(errors.is(result) and result or errors.new("DOCTOR", tostring(result), { exit = 1 }))
