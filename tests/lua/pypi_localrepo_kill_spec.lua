-- relrun.pypi.localrepo after a publisher was killed (kill -9): its
-- pid-marked temporary files (a copy, a page, the writability probe) are
-- swept by the next publish even when that publish finds every file in
-- place and writes nothing, and a root page the kill left without the
-- project is finished. Each publish runs in a relrun of its own, as a
-- rerun would (a process sweeps a folder once).
local fs = require "relrun.fs"
local proc = require "relrun.proc"
local localrepo = require "relrun.pypi.localrepo"
local example = require "pypi_example"

local RELRUN = os.getenv("RELRUN") or "build/relrun"

local dead_pid = require "dead_pid"

local function publish_in_child(repo, path)
  local r = assert(proc.run{ argv = { RELRUN, "-e", string.format(
    "local r = assert(require('relrun.pypi.localrepo').publish(%q, %q)); print(r.status)", repo, path) } })
  eq(r.code, 0, r.stderr)
  return (r.stdout:gsub("\n$", ""))
end

describe("localrepo after a killed publish", function()
  local tmp
  before_each(function() tmp = fs.tempdir("pypi-kill") end)
  after_each(function() tmp:close() end)

  it("a rerun that finds its files in place sweeps the dead publisher's leftovers and finishes the root page", function()
    local repo = fs.join(tmp.path, "repo")
    local one = example.build("0.1.0")
    eq(publish_in_child(repo, one.sdist), "published")
    eq(publish_in_child(repo, one.wheel), "published")
    local dead, live = dead_pid(), proc.pid()
    local left = {
      fs.join(repo, ".write-check.relrun-" .. dead .. "-wcheck"),
      fs.join(repo, "simple", ".index.html.relrun-" .. dead .. "-AbC123"),
      fs.join(repo, "simple", "stock-pipeline", ".index.html.relrun-" .. dead .. "-xYz789"),
      fs.join(repo, "packages", "stock-pipeline", ".stock_pipeline-0.1.0-py3-none-any.whl.relrun-" .. dead .. "-q1w2e3"),
    }
    for _, path in ipairs(left) do assert(fs.write(path, "partial")) end
    local in_use = fs.join(repo, "simple", ".index.html.relrun-" .. live .. "-LiVe00")
    assert(fs.write(in_use, "a live publisher's"))
    -- killed after the project's page, before the root page listed it
    assert(fs.write(fs.join(repo, "simple", "index.html"), "<!DOCTYPE html>\n<html><body></body></html>\n"))
    eq(publish_in_child(repo, one.wheel), "identical")
    for _, path in ipairs(left) do eq(fs.exists(path), false, "swept: " .. fs.basename(path)) end
    ok(fs.exists(in_use), "a live process's file is left alone")
    contains(fs.read(fs.join(repo, "simple", "index.html")), 'href="stock-pipeline/"')
    eq(#localrepo.files(repo, "stock-pipeline"), 2, "both files still listed")
  end)

  -- A release's rerun on a fresh machine that finds every file in place
  -- never calls publish: the publish step's check asks the target to tidy.
  it("the local target's tidy sweeps the dead publisher's leftovers without publishing", function()
    local repo = fs.join(tmp.path, "repo")
    local one = example.build("0.1.0")
    eq(publish_in_child(repo, one.wheel), "published")
    local dead = dead_pid()
    local page = fs.join(repo, "simple", "stock-pipeline", ".index.html.relrun-" .. dead .. "-xYz789")
    assert(fs.write(page, "partial"))
    local r = assert(proc.run{ argv = { RELRUN, "-e", string.format(
      "local t = require('relrun.targets.local').new{ repository_dir = %q, package = 'stock-pipeline' }; t:tidy()",
      repo) } })
    eq(r.code, 0, r.stderr)
    eq(fs.exists(page), false, "swept")
    eq(#localrepo.files(repo, "stock-pipeline"), 1)
  end)
end)
