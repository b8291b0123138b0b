-- relrun.pypi.localrepo.remove: a version leaves the local repository (the
-- pages first, atomically, then the files); other versions stay installable.
local fs = require "relrun.fs"
local localrepo = require "relrun.pypi.localrepo"
local example = require "pypi_example"

describe("localrepo.remove", function()
  local tmp
  before_each(function() tmp = fs.tempdir("pypi-remove") end)
  after_each(function() tmp:close() end)

  local function names(repo)
    local out = {}
    for _, f in ipairs(localrepo.files(repo, "stock-pipeline")) do out[#out + 1] = f.filename end
    table.sort(out)
    return out
  end

  it("removes one version's files and links, keeps the others, and says so on a second call", function()
    local repo = fs.join(tmp.path, "repo")
    local one, two = example.build("0.1.0"), example.build("0.2.0")
    for _, path in ipairs({ one.wheel, one.sdist, two.wheel, two.sdist }) do assert(localrepo.publish(repo, path)) end
    local removed = assert(localrepo.remove(repo, "Stock_Pipeline", "0.2.0"))
    table.sort(removed)
    eq(removed, { "stock-pipeline-0.2.0.tar.gz", "stock_pipeline-0.2.0-py3-none-any.whl" })
    eq(names(repo), { "stock-pipeline-0.1.0.tar.gz", "stock_pipeline-0.1.0-py3-none-any.whl" })
    eq(fs.list(fs.join(repo, "packages", "stock-pipeline")),
      { "stock-pipeline-0.1.0.tar.gz", "stock_pipeline-0.1.0-py3-none-any.whl" }, "files on disk")
    local page = fs.read(fs.join(repo, "simple", "stock-pipeline", "index.html"))
    ok(not page:find("0.2.0", 1, true), "no link to 0.2.0 left")
    eq(assert(localrepo.remove(repo, "stock-pipeline", "0.2.0")), {}, "second call: nothing to remove")
    eq(fs.glob(fs.join(repo, "*", "*", "*.tmp-*")), {}, "no temporary files left")
  end)

  it("leaves an empty project page when the last version goes", function()
    local repo = fs.join(tmp.path, "repo")
    local one = example.build("0.1.0")
    assert(localrepo.publish(repo, one.wheel))
    eq(assert(localrepo.remove(repo, "stock-pipeline", "0.1.0")), { "stock_pipeline-0.1.0-py3-none-any.whl" })
    eq(names(repo), {})
    contains(fs.read(fs.join(repo, "simple", "index.html")), 'href="stock-pipeline/"')
    eq(fs.list(fs.join(repo, "packages", "stock-pipeline")), {})
  end)

  it("a repository that does not exist has nothing to remove", function()
    eq(assert(localrepo.remove(fs.join(tmp.path, "nowhere"), "stock-pipeline", "1.0.0")), {})
  end)
end)
