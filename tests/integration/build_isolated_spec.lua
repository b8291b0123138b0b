-- Isolated builds (`isolation = true`, python -m build's default): the
-- backend is installed into a fresh environment from an index, which
-- build.release passes as PIP_INDEX_URL (its `index_url` option). The index
-- is a PEP 503 folder of the wheels Debian ships (setuptools, wheel, pip)
-- served over HTTP on 127.0.0.1, with no other index reachable, so:
--   * a setuptools project builds isolated, from that index only (its log
--     shows the downloads), to the same names, METADATA and wheel as the
--     build with Debian's installed backend. The sdists differ in one way:
--     Debian installs setuptools_scm system-wide, and its file finder makes
--     every non-isolated setuptools sdist take all the files git tracks;
--     the isolated one holds only what setuptools itself picks;
--   * a hatchling project cannot: Debian ships no hatchling wheel (nor
--     editables, which hatchling requires), and the failure says what to do.
local fs = require "relrun.fs"
local build = require "relrun.build"
local project = require "relrun.project"
local projects = require "projects"
local peer = require "peer"

local python = assert(build.find_python())

local function release(p, outdir, opts)
  local pr = assert(project.open{ dir = p.dir })
  local c = assert(pr:commit(p.tags[#p.tags]))
  local made, err = build.release{ project = pr, commit = c, version = "1.2.3", python = python, outdir = outdir,
                                   isolation = opts.isolation, index_url = opts.index_url,
                                   skip_dependency_check = opts.skip_dependency_check }
  pr:close()
  if not made then return nil, err end
  local out = {}
  for _, f in ipairs(made.files) do out[f.kind] = f end
  return out
end

describe("build.release with isolation, against a local index of Debian's wheels", function()
  local tmp, server, index_url, versions
  before_each(function()
    tmp = fs.tempdir("relrun-isolated-")
    versions = projects.wheel_index(fs.join(tmp.path, "index"))
    ok(versions.setuptools and versions.wheel, "Debian's setuptools and wheel wheels (make deps)")
    server = peer.start{
      argv = { python, "-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", fs.join(tmp.path, "index"), "0" },
      ready = function(s)
        s.port = tonumber(s:output():match("port (%d+)"))
        return s.port ~= nil
      end }
    index_url = "http://127.0.0.1:" .. server.port .. "/simple/"
  end)
  after_each(function()
    server:stop()
    tmp:close()
  end)

  it("setuptools: builds in a fresh environment from the index alone, like the build with Debian's backend", function()
    local p <close> = projects.make{ fixture = "setuptools-attr", releases = { "1.2.3" } }
    local isolated = assert(release(p, fs.join(tmp.path, "isolated"), { isolation = true, index_url = index_url }))
    local log = server:output()
    contains(log, "GET /simple/setuptools/", "pip asked the index for setuptools")
    contains(log, "GET /files/setuptools-" .. versions.setuptools .. "-py3-none-any.whl",
      "pip installed setuptools from the index")
    contains(log, "GET /files/wheel-" .. versions.wheel .. "-py3-none-any.whl", "the wheel build's extra requirement")
    local system = assert(release(p, fs.join(tmp.path, "system"), { isolation = false }))
    for _, kind in ipairs({ "sdist", "wheel" }) do
      eq(isolated[kind].filename, system[kind].filename, kind .. " name")
      eq(projects.metadata(isolated[kind].path), projects.metadata(system[kind].path), kind .. " METADATA")
    end
    eq(isolated.wheel.sha256, system.wheel.sha256, "the wheel, byte for byte")
    -- the sdists: the isolated one's files are all in the other, whose extras are files git tracks
    local tracked = {}
    for line in p:git("ls-files"):gmatch("[^\n]+") do tracked["fx-setuptools-attr-1.2.3/" .. line] = true end
    local in_isolated, extras = {}, {}
    for _, n in ipairs(projects.members(isolated.sdist.path)) do in_isolated[n] = true end
    for _, n in ipairs(projects.members(system.sdist.path)) do
      if not in_isolated[n] then
        extras[#extras + 1] = n
        ok(tracked[n], n .. ": in the non-isolated sdist only, and not a file of the commit")
      end
      in_isolated[n] = nil
    end
    eq(next(in_isolated), nil, "a file only the isolated sdist holds")
    print("    non-isolated sdist only (setuptools_scm's git file finder): " .. table.concat(extras, " "))
  end)

  it("hatchling: no wheel of it in the index, so the isolated build fails and says how to build", function()
    local p <close> = projects.make{ fixture = "hatchling", releases = { "1.2.3" } }
    local made, err = release(p, fs.join(tmp.path, "isolated"), { isolation = true, index_url = index_url })
    eq(made, nil, "an isolated hatchling build with no hatchling in the index")
    contains(server:output(), "GET /simple/hatchling/", "pip looked for hatchling in the given index")
    eq(err.code, "BUILD_FAILED")
    contains(err.output, "hatchling", "the build's output, kept with the one-line error")
    contains(err.hint, "--no-isolation")
    contains(err.hint, "index_url")
  end)
end)
