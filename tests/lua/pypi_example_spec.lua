-- examples/stock-pipeline's own pytest suite, run with Debian's python3 and
-- nothing written into the source tree (no bytecode, no pytest cache).
local fs = require "relrun.fs"
local proc = require "relrun.proc"

local root = (os.getenv("RELRUN_SOURCE_DIR") or ".") .. "/examples/stock-pipeline"

describe("stock-pipeline", function()
  it("passes its pytest suite", function()
    local r = assert(proc.run { argv = { "/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests" },
                                cwd = root, env = { PYTHONDONTWRITEBYTECODE = "1" }, stdin = false })
    eq(r.code, 0, r.stdout .. r.stderr)
    local passed = tonumber(r.stdout:match("(%d+) passed"))
    ok(passed and passed >= 15, "the suite ran its tests: " .. r.stdout)
    eq(fs.exists(fs.join(root, ".pytest_cache")), false)
  end)
end)
