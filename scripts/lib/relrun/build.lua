-- relrun.build: the project's own PEP 517 build, then an inspection of what
-- it made (RELEASE.md "Build Failures").
--
--   local python = assert(build.find_python(cfg.python))
--   local made = assert(build.run{ project_dir = ".", python = python, version = "1.2.3",
--                                  outdir = ".relrun/dist/1.2.3", isolation = false })
--   local report = build.inspect(made.files, { version = "1.2.3", name = "stock-pipeline" })
--
-- The version is forced with SETUPTOOLS_SCM_PRETEND_VERSION, so the build
-- cannot guess another one; the inspection checks it came out right.
local proc = require "relrun.proc"
local fs = require "relrun.fs"
local log = require "relrun.log"
local metadata = require "relrun.pypi.metadata"
local upload = require "relrun.pypi.upload"

local M = {}

local TAIL_LINES = 25
local DOCTOR_HINT = "see RELEASE.md \"Build Failures\", or run `relrun scripts/doctor.lua`"

local function has_build_module(python)
  -- from "/": in a project folder a leftover build/ would import instead
  local r = proc.run{ argv = { python, "-c", "import build.__main__" }, cwd = "/", stdout = "null",
                      stderr = "null" }
  return r and r.code == 0
end

-- The interpreter to build with: the one asked for, else the first python3
-- on PATH that has the `build` module (Debian's /usr/bin/python3 when the
-- PATH's python3 is a pyenv without it).
function M.find_python(wanted)
  if wanted and wanted ~= "" then
    local path = wanted:find("/", 1, true) and wanted or proc.which(wanted)
    if not path then return nil, "python " .. wanted .. " not found (RELRUN_PYTHON / --python)" end
    if not has_build_module(path) then
      return nil, path .. " has no `build` module: install python3-build (apt) or `pip install build`"
    end
    return path
  end
  local seen = {}
  for dir in ((os.getenv("PATH") or "") .. ":/usr/bin"):gmatch("[^:]+") do
    local candidate = fs.join(dir, "python3")
    local real = fs.realpath(candidate)
    if real and not seen[real] then   -- each interpreter asked once
      seen[real] = true
      if has_build_module(candidate) then return candidate end
    end
  end
  return nil, "no python3 with the `build` module: install python3-build (apt) or `pip install build`, " ..
    "or name an interpreter with RELRUN_PYTHON"
end

local function tail(lines, n)
  local from = math.max(1, #lines - n + 1)
  return table.concat(lines, "\n", from)
end

-- Run `python -m build --wheel --sdist` into outdir (emptied first).
-- Returns { files = { paths }, output = text } or nil, message.
function M.run(opts)
  local outdir = opts.outdir
  fs.remove(outdir, { recursive = true })
  local ok_dir, err = fs.mkdir(outdir)
  if not ok_dir then return nil, "cannot create " .. outdir .. ": " .. err end
  local argv = { opts.python, "-m", "build", "--wheel", "--sdist", "--outdir", fs.absolute(outdir) }
  if not opts.isolation then argv[#argv + 1] = "--no-isolation" end
  -- The project is named by path and the build runs from outdir: with the
  -- project as the working directory, `python -m build` would import the
  -- `build/` folder an earlier setuptools build left there, not the module.
  argv[#argv + 1] = fs.absolute(opts.project_dir)
  local lines = {}
  local function keep(line)
    lines[#lines + 1] = line
    log.verbose("%s", line)
  end
  local r, perr = log.group("python -m build (" .. opts.version .. ")", function()
    return proc.run{ argv = argv, cwd = outdir, stdout = keep, stderr = keep,
                     env = { SETUPTOOLS_SCM_PRETEND_VERSION = opts.version, PIP_NO_INPUT = "1",
                             SOURCE_DATE_EPOCH = opts.source_date_epoch } }
  end)
  if not r then return nil, "cannot run " .. opts.python .. ": " .. perr end
  if r.code ~= 0 then
    return nil, string.format("the build failed (exit %s); its last lines:\n%s\n%s",
      tostring(r.code or ("signal " .. tostring(r.signal))), tail(lines, TAIL_LINES), DOCTOR_HINT)
  end
  local files = {}
  for _, name in ipairs(fs.list(outdir) or {}) do
    if name:match("%.whl$") or name:match("%.tar%.gz$") or name:match("%.zip$") then
      files[#files + 1] = fs.join(outdir, name)
    end
  end
  if #files == 0 then return nil, "the build made no wheel or sdist in " .. outdir .. "; " .. DOCTOR_HINT end
  return { files = files, output = table.concat(lines, "\n") }
end

-- Inspect built files: names, the version inside equal to `version`, the
-- wheel's RECORD, and the metadata an index (twine) would reject.
-- Returns { files = { {path, filename, kind, name, version, sha256, md5, blake2_256, size} } }
-- or nil, message listing every problem.
function M.inspect(paths, expect)
  local problems, out = {}, {}
  local kinds = {}
  for _, path in ipairs(paths) do
    local filename = fs.basename(path)
    local parsed = metadata.parse_filename(filename)
    local meta, merr = metadata.read(path)
    if not parsed then
      problems[#problems + 1] = filename .. ": not a wheel or sdist file name"
    elseif not meta then
      problems[#problems + 1] = filename .. ": cannot read its metadata: " .. tostring(merr)
    else
      kinds[parsed.kind] = true
      if parsed.version ~= expect.version then
        problems[#problems + 1] = string.format("%s: the file name says %s, expected %s", filename, parsed.version,
          expect.version)
      end
      if meta.version ~= expect.version then
        problems[#problems + 1] = string.format("%s: its metadata says version %s, expected %s (the version gate)",
          filename, tostring(meta.version), expect.version)
      end
      if expect.name and metadata.normalize(meta.name or "") ~= metadata.normalize(expect.name) then
        problems[#problems + 1] = string.format("%s: its metadata names %s, expected %s", filename,
          tostring(meta.name), expect.name)
      end
      for _, p in ipairs(metadata.problems(meta)) do problems[#problems + 1] = filename .. ": " .. p end
      if parsed.kind == "wheel" then
        local good, rerr = metadata.verify_record(path)
        if not good then problems[#problems + 1] = filename .. ": " .. tostring(rerr) end
      end
      local d = upload.digests(path)
      out[#out + 1] = { path = path, filename = filename, kind = parsed.kind, name = meta.name,
                        version = meta.version, sha256 = d.sha256, md5 = d.md5, blake2_256 = d.blake2_256,
                        size = d.size }
    end
  end
  if not kinds.wheel then problems[#problems + 1] = "no wheel was built" end
  if not kinds.sdist then problems[#problems + 1] = "no sdist was built" end
  if #problems > 0 then
    return nil, "the built files are not fit to publish: " .. table.concat(problems, "; ")
  end
  table.sort(out, function(a, b) return a.filename < b.filename end)
  return { files = out }
end

return M
