-- relrun.pypi.localrepo with several publishers at once: each holds
-- DIR/.lock while it reads and rewrites the pages, so none loses another's
-- links; one that cannot get the lock in time writes nothing.
local fs = require "relrun.fs"
local hash = require "relrun.hash"
local localrepo = require "relrun.pypi.localrepo"

local RELRUN = os.getenv("RELRUN") or "build/relrun"
local SOURCE = os.getenv("RELRUN_SOURCE_DIR") or "."

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- A tiny wheel of stock-pipeline at `version` (tests/support/aws_mkwheel.py).
local function wheel(dir, version)
  local h = assert(io.popen("python3 " .. q(SOURCE .. "/tests/support/aws_mkwheel.py") .. " stock-pipeline "
    .. version .. " " .. q(dir)))
  local path = h:read("l")
  assert(h:close() and path, "aws_mkwheel.py failed")
  return path
end

-- Start `relrun -e code` in the background; the popen handle.
local function start(code)
  return assert(io.popen("exec " .. q(RELRUN) .. " -e " .. q(code) .. " 2>&1"))
end

describe("localrepo lock", function()
  local tmp
  before_each(function() tmp = fs.tempdir("pypi-lock") end)
  after_each(function() tmp:close() end)

  it("eight publishers at once: every file published and linked", function()
    local repo, wheels, runs = fs.join(tmp.path, "repo"), {}, {}
    for i = 1, 8 do wheels[i] = wheel(tmp.path, "1.0." .. i) end
    for i, w in ipairs(wheels) do
      runs[i] = start(string.format("assert(require('relrun.pypi.localrepo').publish(%q, %q)) print('ok')", repo, w))
    end
    for i, h in ipairs(runs) do
      eq(h:read("a"), "ok\n", "publisher " .. i)
      h:close()
    end
    local linked = {}
    for _, f in ipairs(localrepo.files(repo, "stock-pipeline")) do linked[f.filename] = f.sha256 end
    for _, w in ipairs(wheels) do
      eq(linked[fs.basename(w)], hash.file(w, { "sha256" }).sha256, fs.basename(w) .. " is linked")
    end
    eq(#fs.list(fs.join(repo, "packages", "stock-pipeline")), 8)
  end)

  it("waits for a publisher that holds the lock, or gives up and writes nothing", function()
    local repo = fs.join(tmp.path, "repo")
    assert(fs.mkdir(repo))
    local w = wheel(tmp.path, "2.0.0")
    local h = start(string.format("local l = assert(require('relrun.fs').lock(%q)) print('locked') io.stdout:flush() "
      .. "require('relrun.host').sleep(0.8) l:close()", fs.join(repo, ".lock")))
    eq(h:read("l"), "locked")
    local wait = localrepo.LOCK_WAIT
    localrepo.LOCK_WAIT = 0
    local none, msg, code = localrepo.publish(repo, w)
    localrepo.LOCK_WAIT = wait
    eq({ none, code }, { nil, "ELOCKED" })
    contains(msg, fs.join(repo, ".lock") .. " is locked by pid ")
    eq(fs.exists(fs.join(repo, "packages")), false, "nothing written")
    local r = assert(localrepo.publish(repo, w), "waited for the lock")
    eq(r.status, "published")
    h:close()
    eq(localrepo.files(repo, "stock-pipeline")[1].filename, fs.basename(w))
  end)
end)
