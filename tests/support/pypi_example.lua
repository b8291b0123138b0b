-- Build examples/stock-pipeline once per spec run: copy it to a temporary
-- folder (no git there, so SETUPTOOLS_SCM_PRETEND_VERSION decides the
-- version) and run the project's own PEP 517 build with Debian's python3.
--
--   local example = require "pypi_example"
--   local dist = example.build("0.1.0")  -- { dir, wheel, sdist, root }
local fs = require "relrun.fs"

local M = {}
local built = {}

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
M.sh_quote = sh_quote

M.source = (os.getenv("RELRUN_SOURCE_DIR") or ".") .. "/examples/stock-pipeline"
M.keep = {} -- tempdir handles, closed when the spec process exits

-- Run a shell command; raise with its output when it fails.
function M.sh(cmd)
  local h = assert(io.popen(cmd .. " 2>&1"))
  local out = h:read("a")
  local good, _, status = h:close()
  if not good then error(string.format("command failed (%s): %s\n%s", tostring(status), cmd, out), 2) end
  return out
end

function M.build(version)
  if built[version] then return built[version] end
  local tmp = fs.tempdir("pypi-example")
  M.keep[#M.keep + 1] = tmp
  local root = fs.join(tmp.path, "stock-pipeline")
  M.sh("cp -r " .. sh_quote(M.source) .. " " .. sh_quote(root)
    .. " && rm -rf " .. sh_quote(root .. "/build") .. " " .. sh_quote(root .. "/dist"))
  local dist = fs.join(tmp.path, "dist")
  M.sh("cd " .. sh_quote(root) .. " && SETUPTOOLS_SCM_PRETEND_VERSION=" .. sh_quote(version)
    .. " /usr/bin/python3 -m build --no-isolation --wheel --sdist --outdir " .. sh_quote(dist))
  built[version] = {
    dir = dist, root = root, tmp = tmp,
    wheel = fs.join(dist, "stock_pipeline-" .. version .. "-py3-none-any.whl"),
    sdist = fs.join(dist, "stock-pipeline-" .. version .. ".tar.gz"),
  }
  assert(fs.exists(built[version].wheel), "the build made no wheel: " .. table.concat(fs.list(dist), ", "))
  assert(fs.exists(built[version].sdist), "the build made no sdist: " .. table.concat(fs.list(dist), ", "))
  return built[version]
end

return M
