-- Helpers for the pypi specs.
--
--   local example = require "pypi_example"
--   local dist = example.build("0.1.0")   -- { dir, wheel, sdist, root }
--   example.run{ "/usr/bin/python3", "-c", code, env = {...}, cwd = dir }  -- stdout, or raise
--   local server = example.fake{ record = path, "--conflict-always" }  -- .url, :stop()
--
-- build copies examples/stock-pipeline to a temporary folder (no git there,
-- so SETUPTOOLS_SCM_PRETEND_VERSION decides the version) and runs the
-- project's own PEP 517 build with Debian's python3, once per version per
-- spec run.
local fs = require "relrun.fs"
local proc = require "relrun.proc"

local M = {}
local built = {}
local source_dir = os.getenv("RELRUN_SOURCE_DIR") or "."

M.source = source_dir .. "/examples/stock-pipeline"
M.FAKE = source_dir .. "/tests/fakes/pypi_record.py"
M.keep = {} -- tempdir handles that live as long as the spec process

-- Run argv (no shell); return stdout, or raise with the command and its
-- output when it fails.
function M.run(cmd)
  local argv = {}
  for i, a in ipairs(cmd) do argv[i] = a end
  local r, err = proc.run { argv = argv, env = cmd.env, cwd = cmd.cwd, stdin = false }
  if not r then error(table.concat(argv, " ") .. ": " .. tostring(err), 2) end
  if r.code ~= 0 then
    error(string.format("%s: exit %s\n%s%s", table.concat(argv, " "), tostring(r.code or r.signal),
      r.stdout or "", r.stderr or ""), 2)
  end
  return r.stdout
end

function M.build(version)
  if built[version] then return built[version] end
  local tmp = fs.tempdir("pypi-example")
  M.keep[#M.keep + 1] = tmp
  local root = fs.join(tmp.path, "stock-pipeline")
  M.run { "cp", "-r", M.source, root }
  M.run { "rm", "-rf", fs.join(root, "build"), fs.join(root, "dist") }
  local dist = fs.join(tmp.path, "dist")
  M.run { "/usr/bin/python3", "-m", "build", "--no-isolation", "--wheel", "--sdist", "--outdir", dist,
          cwd = root, env = { SETUPTOOLS_SCM_PRETEND_VERSION = version } }
  built[version] = {
    dir = dist, root = root, tmp = tmp,
    wheel = fs.join(dist, "stock_pipeline-" .. version .. "-py3-none-any.whl"),
    sdist = fs.join(dist, "stock-pipeline-" .. version .. ".tar.gz"),
  }
  assert(fs.exists(built[version].wheel), "the build made no wheel: " .. table.concat(fs.list(dist), ", "))
  assert(fs.exists(built[version].sdist), "the build made no sdist: " .. table.concat(fs.list(dist), ", "))
  return built[version]
end

local Fake = {}
Fake.__index = Fake

function Fake:stop()
  if self.process then
    self.process:kill()
    self.process:wait()
    self.process = nil
  end
end

-- Start tests/fakes/pypi_record.py on 127.0.0.1: opts.record (the JSON
-- lines file), then extra arguments as the list part.
function M.fake(opts)
  local tmp = fs.tempdir("pypi-fake")
  M.keep[#M.keep + 1] = tmp
  local port_file, log = fs.join(tmp.path, "port"), fs.join(tmp.path, "log")
  local argv = { "/usr/bin/python3", M.FAKE, "--port-file", port_file, "--record", opts.record }
  for _, a in ipairs(opts) do argv[#argv + 1] = a end
  local p = assert(proc.spawn { argv = argv, stdin = false, stdout = { file = log }, stderr = { file = log } })
  for _ = 1, 600 do
    if fs.exists(port_file) or not p:running() then break end
    os.execute("sleep 0.02")
  end
  local port = fs.read(port_file)
  if not port then
    p:close()
    error("the fake PyPI did not start: " .. (fs.read(log) or ""), 2)
  end
  return setmetatable({ process = p, port = tonumber(port), url = "http://127.0.0.1:" .. port }, Fake)
end

return M
