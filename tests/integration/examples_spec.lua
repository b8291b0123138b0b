-- label: slow
-- The two example scripts run as a user runs them: the primitives tour and
-- make demo's whole release (tag, build, publish, verify, install, use).
local proc = require "relrun.proc"
local fs = require "relrun.fs"

local RELRUN = os.getenv("RELRUN")

describe("examples", function()
  it("primitives.lua: libgit2's describe equals git's, secrets are masked", function()
    local r = assert(proc.run{ argv = { RELRUN, "examples/primitives.lua" } })
    eq(r.code, 0, r.stderr)
    local ours = r.stdout:match("git describe%s+(%S+)")
    local theirs = r.stdout:match("git describe %(git CLI%)%s+(%S+)")
    ok(ours and ours == theirs, "describe: " .. tostring(ours) .. " vs " .. tostring(theirs))
    contains(r.stdout, "token=***")
    ok(not r.stdout:find("s3cr3t-token-value", 1, true), "the secret is never printed")
  end)

  it("demo.lua releases 0.2.0 and installs it, inside its own folder", function()
    local r = assert(proc.run{ argv = { RELRUN, "examples/demo.lua" } })
    eq(r.code, 0, r.stdout .. r.stderr)
    contains(r.stdout, "pushed v0.2.0 to origin")
    contains(r.stdout, "✓ import bronze, silver, ingestion — stock-pipeline 0.2.0")
    contains(r.stdout, "silver: 2 quotes, 1 rejected")
    local root = r.stdout:match("Everything is in (%S+)")
    ok(root and fs.exists(fs.join(root, "repository/simple/stock-pipeline/index.html")), "the repository is there")
    fs.remove(root, { recursive = true })
  end)
end)
