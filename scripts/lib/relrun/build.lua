-- relrun.build: the release's files, made as `python -m build` makes them —
-- the sdist from a clean checkout of the commit, then the wheel from that
-- sdist — reproducibly, then inspected (RELEASE.md "Build Failures").
--
--   local python = errors.check(build.find_python(cfg.python))
--   local made = errors.check(build.release{ project = p, commit = c, version = "1.2.3",
--                                            python = python, outdir = ".relrun/dist/1.2.3" })
--   made.files   --> { {path, filename, kind, sha256, md5, blake2_256, size, name, version}, ... }
--
-- Nothing of the working tree reaches the files: the checkout is a fresh
-- git checkout of the commit in a private folder (untracked, ignored and
-- .relrun/ files are not in it). SOURCE_DATE_EPOCH is the commit's time, an
-- sdist whose archive still carries build-time stamps is written again
-- without them, and compilers map the temp build folder to "." — so two
-- builds of one commit give the same bytes, which is what lets a rerun on a
-- fresh machine find its files already published. A published sdist given
-- back (`sdist =`) is kept byte for byte and the wheel built from it.
local proc = require "relrun.proc"
local fs = require "relrun.fs"
local log = require "relrun.log"
local json = require "relrun.json"
local archive = require("relrun.util").lazy("relrun.archive")   -- loaded on first use (util.lazy)
local hash = require "relrun.hash"
local errors = require "relrun.errors"
local progress = require "relrun.progress"
local metadata = require "relrun.pypi.metadata"
local upload = require "relrun.pypi.upload"
local pep440 = require "relrun.pep440"
local host = require "relrun.host"

local M = {}
local installed_requirements

local TAIL_LINES = 25
M.DOCTOR_HINT = "run `relrun doctor` (it names what a build needs)"

---------------------------------------------------------------------------
-- The interpreter, probed once per machine
---------------------------------------------------------------------------

local function cache_path()
  local base = os.getenv("XDG_CACHE_HOME")
  if not base or base == "" then
    local home = os.getenv("HOME")
    if not home or home == "" then return nil end
    base = fs.join(home, ".cache")
  end
  return fs.join(base, "relrun", "python-probes.json")
end

-- The cache key of an interpreter: the path it is called by (a venv's
-- python is a symlink to the system one but sees other packages), its real
-- path, size and mtime (a new Python, or one upgraded in place, is probed
-- again).
local function identity(path)
  local real = fs.realpath(path)
  local st = real and fs.stat(real)
  if not st then return nil end
  local called = fs.absolute(path)
  return string.format("%s=%s:%d:%.0f", called, real, st.size, st.mtime)
end

local probes   -- { [identity] = { build = bool, pip = "23.0.1" | false } }

local function load_probes()
  if probes then return probes end
  local path = cache_path()
  local data = path and fs.read(path)
  probes = data and json.decode(data) or {}
  if type(probes) ~= "table" then probes = {} end
  return probes
end

local function save_probes()
  local path = cache_path()
  if not path then return end
  if fs.mkdir(fs.dirname(path)) then fs.write(path, json.encode(probes), { sync = false }) end
end

-- probe(python) -> { build = bool, pip = version | false }, cached.
function M.probe(python)
  local key = identity(python)
  local cache = load_probes()
  if key and cache[key] then return cache[key] end
  -- from "/": in a project folder a leftover build/ would import instead
  local r = proc.run{ argv = { python, "-c", "import sys\ntry:\n import build.__main__\n b = 1\nexcept Exception:\n b = 0\n"
    .. "try:\n import pip\n p = pip.__version__\nexcept Exception:\n p = ''\nprint(b, p)" }, cwd = "/" }
  local b, pip = (r and r.code == 0 and r.stdout or ""):match("^(%d) ?(%S*)")
  local found = { build = b == "1", pip = pip ~= nil and pip ~= "" and pip or false }
  -- only a python that has `build` is remembered: installing the module
  -- (apt, pip) changes neither the interpreter's size nor its mtime
  if key and r and r.code == 0 and found.build then
    cache[key] = found
    save_probes()
  end
  return found
end

-- admits_python(python, spec) -> admitted (bool), "3.11.2" | nil, why.
-- Whether the interpreter's version is in a Requires-Python specifier, read
-- by the interpreter's own `packaging` (what pip decides with).
function M.admits_python(python, spec)
  local r = proc.run{ argv = { python, "-c", [[
import sys
from packaging.specifiers import SpecifierSet
v = "%d.%d.%d" % sys.version_info[:3]
print(v, "yes" if SpecifierSet(sys.argv[1]).contains(v) else "no")]], spec }, cwd = "/" }
  if not r then return nil, "no interpreter " .. python end
  if r.stderr:find("No module named 'packaging'", 1, true) then
    return nil, python .. " has no `packaging` module to read the specifier with"
  end
  if r.code ~= 0 then
    return nil, "requires-python " .. spec .. " could not be read: " .. (r.stderr:match("([^\n]+)\n?$") or "")
  end
  local found, yes = r.stdout:match("(%S+) (%S+)")
  return yes == "yes", found
end

-- The interpreter to build with: the one asked for, else the first python3
-- on PATH that has the `build` module (Debian's /usr/bin/python3 when the
-- PATH's python3 is a pyenv without it).
function M.find_python(wanted)
  if wanted and wanted ~= "" then
    local path = wanted:find("/", 1, true) and wanted or proc.which(wanted)
    if not path then
      return nil, errors.new("NO_PYTHON", "python " .. wanted .. " not found (RELRUN_PYTHON / --python)", { exit = 2 })
    end
    if not M.probe(path).build then
      return nil, errors.new("NO_BUILD_MODULE", path .. " has no `build` module",
        { hint = "install python3-build (apt) or `pip install build`" })
    end
    return path
  end
  local seen = {}
  for dir in ((os.getenv("PATH") or "") .. ":/usr/bin"):gmatch("[^:]+") do
    local candidate = fs.join(dir, "python3")
    local real = fs.realpath(candidate)
    if real and not seen[real] then   -- each interpreter asked once
      seen[real] = true
      if M.probe(candidate).build then return candidate end
    end
  end
  return nil, errors.new("NO_BUILD_MODULE", "no python3 with the `build` module",
    { hint = "install python3-build (apt) or `pip install build`, or name an interpreter with RELRUN_PYTHON" })
end

---------------------------------------------------------------------------
-- Building
---------------------------------------------------------------------------

local function tail(lines, n)
  local from = math.max(1, #lines - n + 1)
  return table.concat(lines, "\n", from)
end

-- A compiled extension records the folder it was compiled in (DWARF's
-- comp_dir), and each build runs in a new temp folder: mapping that folder
-- to "." (gcc and clang) keeps two builds of one commit byte-identical.
-- Added to the caller's CFLAGS / CXXFLAGS, which the backends append to
-- Python's own; a folder with a space would split the flag, so none then.
local function prefix_map(srcdir, name)
  local real = fs.realpath(srcdir) or srcdir
  local old = os.getenv(name)
  if real:find("%s") then return old end
  local flag = "-ffile-prefix-map=" .. real .. "=."
  return (old and old ~= "") and (old .. " " .. flag) or flag
end

-- The child's environment: the version the backend must produce (for the
-- backends that take it from git: setuptools_scm and hatch-vcs, pdm's scm
-- source), the commit's time, no prompts, and TMPDIR one of relrun's own
-- temporary folders: what python -m build, setuptools or pip leave there
-- when relrun is killed goes with that folder (the next relrun sweeps a dead
-- relrun's folders, relrun.fs "leftovers"), while their own /tmp/tmpXXXX
-- folders would stay forever. No credential ever reaches a build.
local function build_env(opts, srcdir, tmpdir)
  local env = { SETUPTOOLS_SCM_PRETEND_VERSION = opts.version, PDM_BUILD_SCM_VERSION = opts.version,
                SOURCE_DATE_EPOCH = tostring(opts.source_date_epoch), PIP_NO_INPUT = "1", TMPDIR = tmpdir,
                PYTHONDONTWRITEBYTECODE = "1",
                CFLAGS = prefix_map(srcdir, "CFLAGS"), CXXFLAGS = prefix_map(srcdir, "CXXFLAGS") }
  if opts.index_url then env.PIP_INDEX_URL = opts.index_url end
  return env
end

-- Which of a project's build requirements the interpreter lacks, checked
-- as `python -m build --no-isolation` would, but for the requirements the
-- project names only: Debian's packages satisfy those while missing
-- dependencies only editable installs need (hatchling -> editables), which
-- made build's own transitive check refuse every hatchling project.
local REQUIREMENTS_CHECK = [[
import sys, json, importlib.metadata as md
from packaging.requirements import Requirement
out = []
for text in json.loads(sys.argv[1]):
    try:
        r = Requirement(text)
    except Exception as e:
        out.append("%s: not a requirement (%s)" % (text, e)); continue
    if r.marker and not r.marker.evaluate({"extra": ""}):
        continue
    shown = r.name + ("[%s]" % ",".join(sorted(r.extras)) if r.extras else "") + str(r.specifier)
    try:
        have = md.version(r.name)
    except md.PackageNotFoundError:
        out.append("%s (not installed)" % shown); continue
    if r.specifier and not r.specifier.contains(have, prereleases=True):
        out.append("%s (%s is installed)" % (shown, have))
print(json.dumps(out))
]]

-- Debian's packages for the requirements that are not installed
-- ("hatch-vcs (not installed)" -> python3-hatch-vcs), as Debian names
-- Python packages, with its exceptions; one installed but too old is not
-- helped by apt. -> "apt install ..." | nil when apt would not help.
local DEBIAN_NAMES = { cython = "cython3", flit_core = "flit", flit = "flit" }   -- Debian ships flit_core in flit

-- Which of `names` apt can install (a Candidate in `apt-cache policy`);
-- nil when apt cannot say (no apt-cache, no package lists).
local function apt_has(names)
  local argv = { "apt-cache", "policy" }
  for _, n in ipairs(names) do argv[#argv + 1] = n end
  local r = proc.run{ argv = argv, cwd = "/", env = { LC_ALL = "C" } }
  if not r or r.code ~= 0 or not r.stdout:find("Candidate:", 1, true) then return nil end
  local known = {}
  for name, candidate in r.stdout:gmatch("([%w.+-]+):\n%s+Installed:[^\n]*\n%s+Candidate: ([^\n]+)") do
    if candidate ~= "(none)" then known[name] = true end
  end
  return known
end

-- debian_packages(missing [, available]) -> "apt install ..." (those apt
-- has; "not packaged by Debian: ..." for the rest) | nil. `available`
-- (names -> set | nil) replaces apt-cache, for specs.
function M.debian_packages(missing, available)
  local names, required = {}, {}
  for _, m in ipairs(missing) do
    local name = m:find("(not installed)", 1, true) and m:match("^([%w._-]+)")
    if name then
      local key = name:lower():gsub("[-.]", "_")
      names[#names + 1] = DEBIAN_NAMES[key] or ("python3-" .. key:gsub("_", "-"))
      required[#names] = name
    end
  end
  if #names == 0 then return nil end
  local known = (available or apt_has)(names)
  if not known then return "apt install " .. table.concat(names, " ") end
  local has, lacks = {}, {}
  for k, n in ipairs(names) do
    if known[n] then has[#has + 1] = n else lacks[#lacks + 1] = required[k] end
  end
  local parts = {}
  if #has > 0 then parts[#parts + 1] = "apt install " .. table.concat(has, " ") end
  if #lacks > 0 then parts[#parts + 1] = "not packaged by Debian: " .. table.concat(lacks, " ") end
  return table.concat(parts, "; ")
end

-- "install it for that interpreter (Debian: apt install ...)", or, when
-- what is missing is only too old, that Debian's is.
function M.install_advice(missing, available)
  local apt = M.debian_packages(missing, available)
  if apt then return "install " .. (#missing == 1 and "it" or "them") .. " for that interpreter (Debian: " .. apt .. ")" end
  return "the installed " .. (#missing == 1 and "one is" or "ones are") .. " too old (Debian 12's packages are)"
end

-- missing_requirements(python, requires) -> list of "req (why)" | nil, err
function M.missing_requirements(python, requires)
  local r = progress.capture{ argv = { python, "-c", REQUIREMENTS_CHECK, json.encode(requires or {}) }, cwd = "/",
                              stdin = false }
  if not r or r.code ~= 0 then
    return nil, errors.new("BUILD_CHECK", "cannot check the build requirements with " .. python .. ": " ..
      tostring(r and (r.stderr:match("([^\n]+)\n?$")) or "it did not run"))
  end
  return json.decode(r.stdout) or {}
end

-- Whether the interpreter has the project's build requirements, for a build
-- without isolation -> true | nil, err. With skip_dependency_check (-x) a
-- shortfall is only said: Debian's older backends often build a project
-- that asks for newer ones (setuptools-scm 7.1 for pluggy's >=8).
function installed_requirements(opts)
  local missing, merr = M.missing_requirements(opts.python, opts.project:backend().requires)
  if not missing then return nil, merr end
  if #missing == 0 then return true end
  local what = string.format("%s cannot build %s without isolation: it lacks %s", opts.python,
    opts.project.package or "the project", table.concat(missing, ", "))
  if opts.skip_dependency_check then
    log.warn("%s; building anyway (--skip-dependency-check)", what)
    return true
  end
  return nil, errors.new("BUILD_REQUIREMENTS", what, { rerun = false, hint = M.install_advice(missing) ..
    ", choose another with --python, build isolated from an index that answers " ..
    "([tool.relrun.build] isolation = true), or try the installed ones with --skip-dependency-check" })
end

-- The last lines of a failed build, for the log (the error itself is one line).
local function show_tail(lines)
  io.stdout:flush()
  io.stderr:write(host.mask("  " .. tail(lines, TAIL_LINES):gsub("\n", "\n  ")), "\n")
  io.stderr:flush()
end

-- The line of a build's output that says best what went wrong: the last
-- error line that is not `python -m build`'s own wrapper ("ERROR Backend
-- subprocess exited when trying to invoke build_sdist" says only where),
-- nor a line of the traceback's source (`raise RuntimeError(...)` under
-- its `File "...", line N`), nor a heading of details below it
-- (setuptools' "configuration error: `project.license` must be valid
-- exactly by one definition (2 matches found):" over a schema; the
-- ValueError above it names the cause). An exception whose message ends
-- in a colon takes its indented details along (poetry-core's "RuntimeError:
-- The Poetry configuration is invalid: - 'name' is a required property").
-- With no error line but the wrapper, the last line before it (aiohttp's
-- "Install submodules when building from git clone").
local WRAPPERS = { "^ERROR Backend subprocess exited", "^ERROR Backend operation failed", "^%*+ ?Backend ",
                   "^ERROR Failed to", "^error: subprocess%-exited%-with%-error" }
local function wrapper(l)
  for _, w in ipairs(WRAPPERS) do if l:find(w) then return true end end
  return false
end

-- A traceback's source line: indented, under its `File "...", line N`
-- (setup.py run from a string has no source line: the exception follows).
local function source_line(lines, i)
  return i > 1 and lines[i]:find("^%s") ~= nil and lines[i - 1]:find('^%s*File ".-", line %d+') ~= nil
end

-- An error line ending in a colon, joined with the indented lines after it
-- (python-build's "ERROR Missing dependencies:" over tab-indented names),
-- or nil when none follow.
local function with_details(lines, i, l)
  local parts = { l }
  for j = i + 1, math.min(#lines, i + 3) do
    local detail = lines[j]:match("^%s+(%S.-)%s*$")
    if not detail then break end
    parts[#parts + 1] = detail
  end
  return #parts > 1 and table.concat(parts, " ") or nil
end

function M.reason(lines)
  for i = #lines, 1, -1 do
    local l = lines[i]:gsub("^%s+", "")
    if (l:find("Error") or l:find("ERROR") or l:find("error:")) and not wrapper(l) and not source_line(lines, i) then
      if not l:find(":%s*$") then return l end
      local joined = with_details(lines, i, l)
      if joined then return joined end
    end
  end
  for i = #lines, 1, -1 do
    local l = lines[i]:gsub("^%s+", "")
    -- (python -m build's own progress lines start with "* ")
    if l:find("%S") and not wrapper(l) and not l:find("^%* ") and not source_line(lines, i) then return l end
  end
  for i = #lines, 1, -1 do
    if lines[i]:find("%S") then return (lines[i]:gsub("^%s+", "")) end
  end
  return "no output"
end

-- What `python -m build` is asked for: "sdist", "wheel", or "both" (no
-- flag: the sdist, then the wheel from it, as a plain `python -m build`).
local BUILD_FLAGS = { sdist = { "--sdist" }, wheel = { "--wheel" }, both = {} }
local MADE = { sdist = "%.tar%.gz$", wheel = "%.whl$" }

-- The files a build added to outdir since `before` (a set of names):
-- { sdist = path, wheel = path }.
local function new_files(outdir, before)
  local made = {}
  for _, n in ipairs(fs.list(outdir) or {}) do
    for kind, pattern in pairs(MADE) do
      if not before[n] and n:match(pattern) then made[kind] = fs.join(outdir, n) end
    end
  end
  return made
end

-- One `python -m build` run of `kind` (BUILD_FLAGS) from srcdir into
-- outdir, the child's temporary files in tmpdir.
-- -> { sdist = path, wheel = path } (what it was asked for) | nil, err
local function run_build(opts, kind, srcdir, outdir, tmpdir)
  local argv = { opts.python, "-m", "build", table.unpack(BUILD_FLAGS[kind]) }
  argv[#argv + 1] = "--outdir"
  argv[#argv + 1] = outdir
  if opts.isolation == false then
    -- relrun checked the project's own requirements (missing_requirements)
    argv[#argv + 1] = "--no-isolation"
    argv[#argv + 1] = "--skip-dependency-check"
  elseif opts.skip_dependency_check then
    argv[#argv + 1] = "--skip-dependency-check"
  end
  for _, a in ipairs(opts.args or {}) do argv[#argv + 1] = a end
  argv[#argv + 1] = srcdir
  local what = "python -m build" .. (kind == "both" and "" or " --" .. kind) .. " (" .. opts.version .. ")"
  local before = {}
  for _, n in ipairs(fs.list(outdir) or {}) do before[n] = true end
  -- a plain `python -m build` says when the wheel starts: say it too, so a
  -- log shows which half is running (and how long the sdist took)
  local function on_line(line)
    if kind == "both" and line:find("^%* Building wheel from sdist") then
      return "  the sdist is built; building the wheel from it"
    end
  end
  -- From outdir: with the project as the working directory `python -m build`
  -- would import a leftover build/ folder instead of the module.
  local r, err = log.group(what, function()
    return progress.run{ what = what, argv = argv, cwd = outdir, env = build_env(opts, srcdir, tmpdir),
                         show = opts.verbose, on_line = on_line }
  end)
  if not r then return nil, errors.new("BUILD_START", "cannot run " .. opts.python .. ": " .. tostring(err)) end
  local made = new_files(outdir, before)
  if r.code ~= 0 then
    local why = r.code and ("exit " .. r.code) or ("signal " .. tostring(r.signal))
    local hint = M.DOCTOR_HINT
    local text = table.concat(r.lines, "\n")
    if opts.isolation ~= false and (text:find("Could not find a version that satisfies", 1, true)
        or text:find("No matching distribution", 1, true) or text:find("Failed to establish a new connection", 1, true)) then
      hint = "the isolated build could not install its requirements from an index: give it one (build.index_url, " ..
        "PIP_INDEX_URL) or build with the installed backend (--no-isolation, [tool.relrun.build] isolation = false)"
    end
    if not opts.verbose then show_tail(r.lines) end
    local failed = kind   -- a plain build failed in its wheel half when the sdist is there
    if kind == "both" then failed = made.sdist and "wheel" or "sdist" end
    local e = errors.new("BUILD_FAILED", string.format("the %s build failed (%s): %s", failed, why, M.reason(r.lines)),
      { hint = hint, rerun = false, output = text })
    return nil, failed == "wheel" and errors.wrap(e, "the wheel, built from the sdist as `python -m build` does") or e
  end
  for _, k in ipairs(kind == "both" and { "sdist", "wheel" } or { kind }) do
    if not made[k] then
      return nil, errors.new("BUILD_NOTHING", "the " .. k .. " build made no " .. k .. " in " .. outdir,
        { hint = M.DOCTOR_HINT, rerun = false })
    end
  end
  return made
end

-- Whether an sdist already is what a reproducible build gives: no gzip
-- time stamp later than `epoch`, no member (`listed`: archive.list) newer.
local function is_reproducible(path, listed, epoch)
  local f = io.open(path, "rb")
  if not f then return false end
  local head = f:read(8) or ""
  f:close()
  if #head < 8 then return false end
  local mtime = head:byte(5) | (head:byte(6) << 8) | (head:byte(7) << 16) | (head:byte(8) << 24)
  if mtime > epoch then return false end
  for _, e in ipairs(listed) do
    if (e.mtime or 0) > epoch then return false end
  end
  return true
end

-- The files under `dir` as archive entries named prefix/..., folders included.
local function tree_entries(dir, prefix, out)
  out = out or {}
  for _, name in ipairs(fs.list(dir) or {}) do
    local path = fs.join(dir, name)
    local st = fs.lstat(path)
    local member = prefix .. "/" .. name
    if st.type == "directory" then
      out[#out + 1] = { name = member .. "/" }
      tree_entries(path, member, out)
    elseif st.type == "file" then
      out[#out + 1] = { name = member, file = path, mode = st.mode }
    end
  end
  return out
end

-- The sdist's entries read in memory, as archive.write takes them: every
-- folder (named, or implied by a member's path) and every file with its
-- mode — the same entries unpacking it and archiving the folder again
-- (tree_entries) gives, without a file on disk. nil when unpacking is the
-- safer way: links, names with . or .., or more than IN_MEMORY bytes.
local IN_MEMORY = 64 * 1024 * 1024
local function entries_in_memory(path, listed)
  local total = 0
  for _, e in ipairs(listed) do
    local name = e.name:gsub("/+$", "")
    if (e.type ~= "file" and e.type ~= "directory") or name == "" or name:sub(1, 1) == "/"
        or ("/" .. name .. "/"):find("/%.%.?/") then
      return nil
    end
    total = total + (e.size or 0)
  end
  if total > IN_MEMORY then return nil end
  local data = archive.read_all(path, { max_bytes = IN_MEMORY })
  if not data then return nil end
  local folders, files = {}, {}
  for _, e in ipairs(listed) do
    local name = e.name:gsub("/+$", "")
    for at in name:gmatch("()/") do folders[name:sub(1, at - 1)] = true end
    if e.type == "directory" then folders[name] = true
    else files[name] = { name = name, data = data[name], mode = e.mode } end   -- a later copy wins, as on disk
  end
  local entries = {}
  for name in pairs(folders) do entries[#entries + 1] = { name = name .. "/" } end
  for _, f in pairs(files) do
    if not f.data or folders[f.name] then return nil end
    entries[#entries + 1] = f
  end
  return entries
end

-- The one top folder an sdist must hold (listed: archive.list), or nil, err.
local function top_folder(listed, filename)
  local tops, order = {}, {}
  for _, e in ipairs(listed) do
    local top, slash = e.name:match("^([^/]*)(/?)")
    if not tops[top] then order[#order + 1] = top end
    tops[top] = tops[top] == "folder" and "folder" or ((slash ~= "" or e.type == "directory") and "folder" or "file")
  end
  if #order ~= 1 or tops[order[1]] ~= "folder" then
    return nil, errors.new("BAD_SDIST", filename .. " does not hold one top folder (it holds " ..
      table.concat(order, ", ") .. ")", { rerun = false })
  end
  return order[1]
end

-- Unpack the sdist into `into` (safely: no absolute names, no ..) and, when
-- its archive carries build-time stamps, write it again from what it holds
-- with the commit's time on every entry (never a published one: keep_bytes).
-- -> the unpacked project folder.
local function settle_sdist(path, into, epoch, keep_bytes)
  local good, err, code = archive.extract(path, into)
  if not good then
    return nil, errors.new("BAD_SDIST", "the sdist cannot be unpacked: " .. err .. " [" .. tostring(code) .. "]")
  end
  local top = fs.list(into) or {}
  if #top ~= 1 or (fs.stat(fs.join(into, top[1])) or {}).type ~= "directory" then
    return nil, errors.new("BAD_SDIST", fs.basename(path) .. " does not hold one top folder (it holds " ..
      table.concat(top, ", ") .. ")", { rerun = false })
  end
  local root = fs.join(into, top[1])
  if not keep_bytes and not is_reproducible(path, archive.list(path) or {}, epoch) then
    local entries = tree_entries(root, top[1], { { name = top[1] .. "/" } })
    local ok, werr = archive.write(path, { format = "tar.gz", entries = entries, mtime = epoch, sync = false })
    if not ok then return nil, errors.new("BAD_SDIST", "cannot write the sdist again: " .. tostring(werr)) end
  end
  return root
end

-- The sdist a plain `python -m build` made (the wheel already built from
-- it): checked for one top folder and, when it carries build-time stamps,
-- written again with the commit's time — in memory, or through an unpacked
-- copy when that is the safer way (or `unpack`: the same bytes either way).
-- -> true | nil, err
function M.settle(path, epoch, unpack)
  local listed, lerr, code = archive.list(path)
  if not listed then
    return nil, errors.new("BAD_SDIST", "the sdist cannot be read: " .. tostring(lerr) .. " [" .. tostring(code) .. "]")
  end
  local top, terr = top_folder(listed, fs.basename(path))
  if not top then return nil, terr end
  if is_reproducible(path, listed, epoch) then return true end
  local entries = not unpack and entries_in_memory(path, listed)
  if not entries then
    local unpacked <close> = fs.tempdir("relrun-sdist-")
    local root, err = settle_sdist(path, fs.join(unpacked.path, "sdist"), epoch, false)
    return root and true, err
  end
  local ok, werr = archive.write(path, { format = "tar.gz", entries = entries, mtime = epoch, sync = false })
  if not ok then return nil, errors.new("BAD_SDIST", "cannot write the sdist again: " .. tostring(werr)) end
  return true
end

-- Files an sdist may hold that its commit does not: what the backend writes.
local function generated(rel)
  return rel == "PKG-INFO" or rel == "setup.cfg" or rel:find("%.egg%-info/") or rel:find("%.dist%-info/")
end

local function files_under(dir, prefix, out)
  out = out or {}
  for _, name in ipairs(fs.list(dir) or {}) do
    local path, rel = fs.join(dir, name), prefix and (prefix .. "/" .. name) or name
    local st = fs.lstat(path)
    if st and st.type == "directory" then files_under(path, rel, out)
    elseif st and st.type == "file" then out[rel] = path end
  end
  return out
end

-- Whether an unpacked sdist holds the commit's files: every file both have
-- is the same, every file only the sdist has was generated (backend
-- metadata, or a version file naming `version`), and at least one source
-- file is shared. -> true | nil, err. A published sdist must pass this
-- before the rest of a release is built from it.
function M.sdist_matches(root, checkout, version)
  local differs, extra, shared = {}, {}, 0
  for rel, path in pairs(files_under(root)) do
    local mine = fs.join(checkout, rel)
    if not generated(rel) then
      if fs.exists(mine) then
        if M.sha256(mine) == M.sha256(path) then shared = shared + 1
        elseif not (fs.read(path) or ""):find(version, 1, true) then differs[#differs + 1] = rel end
      elseif not (fs.read(path) or ""):find(version, 1, true) then
        extra[#extra + 1] = rel
      end
    end
  end
  table.sort(differs)
  table.sort(extra)
  local problems = {}
  if #differs > 0 then problems[#problems + 1] = "differs in " .. table.concat(differs, ", ", 1, math.min(5, #differs)) end
  if #extra > 0 then problems[#problems + 1] = "holds files the commit has not: " ..
    table.concat(extra, ", ", 1, math.min(5, #extra)) end
  if shared == 0 then problems[#problems + 1] = "holds none of its files" end
  if #problems > 0 then return nil, table.concat(problems, "; ") end
  return true
end

-- Whether the sdist at `path` was made from `commit` (sdist_matches on a
-- clean checkout of it) -> true | nil, err (FOREIGN_SDIST).
function M.sdist_of_commit(project, commit, path, version)
  local unpacked <close> = fs.tempdir("relrun-sdist-")
  local root, err = settle_sdist(path, fs.join(unpacked.path, "sdist"), commit.time, true)
  if not root then return nil, err end
  local co, src = M.checkout(project, commit.id)
  if not co then return nil, src end
  local _ <close> = co
  local same, why = M.sdist_matches(root, src, version)
  if same then return true end
  return nil, errors.new("FOREIGN_SDIST", string.format("%s is not commit %s's: it %s", fs.basename(path),
    commit.id:sub(1, 12), why), { rerun = false })
end

-- The submodules .gitmodules names: { { name, path, update } }.
local function submodules_of(text)
  local out, current = {}, nil
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    local name = line:match('^%s*%[submodule%s+"([^"]+)"%]')
    if name then current = { name = name }; out[#out + 1] = current end
    local key, value = line:match("^%s*([%w]+)%s*=%s*(.-)%s*$")
    if current and (key == "path" or key == "update") then current[key] = value end
  end
  return out
end

local function inside(path, folder)
  return folder == "" or path == folder or path:sub(1, #folder + 1) == folder .. "/"
end

-- Check out the submodules the commit checked out in `into` records, in
-- the project's folder `within` ("" for all), each at its recorded commit,
-- from this clone's own copy of it (gitdir/modules/NAME, where `git
-- submodule update` keeps it, else a .git in the working tree's folder),
-- and theirs in turn: the release holds what a build in the clone holds
-- (aiohttp vendors llhttp as a submodule; without it the sdist silently
-- lacked it). One this clone has not fetched is left empty, as a build
-- here would have it, and said: some are needed (aiohttp's setup.py then
-- stops), most are not (a docs theme), and failing would stop every
-- release from a CI checkout without them. -> true | nil, err.
local function checkout_submodules(gitdir, workdir, into, within)
  local text = fs.read(fs.join(into, ".gitmodules"))
  if not text then return true end
  for _, sub in ipairs(submodules_of(text)) do
    if sub.path and sub.update ~= "none" and inside(sub.path, within) then
      local r, rerr = proc.run{ argv = { "git", "ls-tree", "HEAD", "--", sub.path }, cwd = into }
      if not r or r.code ~= 0 then
        return nil, errors.new("SUBMODULE", "cannot read submodule " .. sub.path .. " of the commit: git ls-tree " ..
          (r and ("failed: " .. (r.stderr:match("[^\n]+") or "")) or tostring(rerr)), { hint = "is git installed?" })
      end
      local commit = r.stdout:match("^160000 commit (%x+)")
      if commit then
        local source = fs.join(gitdir, "modules", sub.name)
        if not fs.exists(source) and workdir then source = fs.join(workdir, sub.path) end
        local repo = fs.exists(source) and require("relrun.git").open(source)
        local dest = fs.join(into, sub.path)
        local good = repo and repo:checkout(dest, commit)
        local sub_gitdir, sub_workdir = repo and repo:path(), workdir and fs.join(workdir, sub.path)
        if repo then repo:close() end
        if good then
          local ok, err = checkout_submodules(sub_gitdir, sub_workdir, dest, "")
          if not ok then return nil, err end
        else
          log.warn("submodule %s (at %s) is not in this clone: the release is built without it, as a build here " ..
            "would be (`git submodule update --init --recursive` fetches it; in a workflow: actions/checkout with " ..
            "`submodules: recursive`)", sub.path, commit:sub(1, 12))
        end
      end
    end
  end
  return true
end

-- checkout(project, commit) -> tempdir handle, the project's folder in it.
function M.checkout(project, commit_id)
  local dir = fs.tempdir("relrun-checkout-")
  local into = fs.join(dir.path, "src")
  local good, err = project.repo:checkout(into, commit_id)
  if not good then
    dir:close()
    return nil, errors.new("CHECKOUT", "cannot check out " .. commit_id:sub(1, 12) .. ": " .. tostring(err))
  end
  local subs, serr = checkout_submodules(project.repo:path(), project.repo:workdir(), into, project.subdir)
  if not subs then
    dir:close()
    return nil, serr
  end
  return dir, (project.subdir ~= "" and fs.join(into, project.subdir) or into)
end

-- Sources a compiler reads, and build requirements that compile (C made
-- from Python by cffi or mypyc, native build systems). A wheel compiled in
-- a folder records it; relrun maps that folder to "." (prefix_map), so it
-- must choose it: such projects get their sdist unpacked by relrun, the
-- others are built by one plain `python -m build` (which unpacks it in a
-- folder with a random name).
local COMPILED = { c = true, cc = true, cpp = true, cxx = true, ["c++"] = true, m = true, mm = true, pyx = true,
                   f = true, f90 = true, f95 = true, ["for"] = true, rs = true, go = true, cu = true, zig = true }
local BUILD_FILES = { ["CMakeLists.txt"] = true, ["meson.build"] = true, ["Cargo.toml"] = true }
local COMPILING = { cffi = true, cython = true, mypy = true, ["hatch-mypyc"] = true, pybind11 = true, nanobind = true,
                    ["scikit-build"] = true, ["scikit-build-core"] = true, ["meson-python"] = true, maturin = true,
                    ["setuptools-rust"] = true, ["py-build-cmake"] = true }

-- Whether the tree under `dir` holds a compiled source (COMPILED, BUILD_FILES).
function M.compiled_sources(dir)
  for _, name in ipairs(fs.list(dir) or {}) do
    local path = fs.join(dir, name)
    local ext = name:match("%.([^.]+)$")
    if BUILD_FILES[name] or (ext and COMPILED[ext:lower()]) then return true end
    if name ~= ".git" and (fs.lstat(path) or {}).type == "directory" and M.compiled_sources(path) then return true end
  end
  return false
end

-- Whether a project builds compiled code: a build requirement that
-- compiles (COMPILING), or a compiled source under `src`.
function M.compiles(requires, src)
  for _, r in ipairs(requires or {}) do
    local name = tostring(r):match("^%s*([%w._-]+)")
    if name and COMPILING[metadata.normalize(name)] then return true end
  end
  return M.compiled_sources(src)
end

-- The sdist, and the wheel from it, from the checkout `src`: one plain
-- `python -m build`, or (compiled sources) the sdist alone, its wheel to be
-- built by wheel_from_sdist. -> { sdist, wheel | nil } | nil, err
local function build_checkout(opts, bopts, outdir, src, tmpdir)
  if M.compiles(opts.project:backend().requires, src) then return run_build(bopts, "sdist", src, outdir, tmpdir) end
  local made, err = run_build(bopts, "both", src, outdir, tmpdir)
  if not made then return nil, err end
  local settled, serr = M.settle(made.sdist, opts.commit.time)
  if not settled then return nil, serr end
  if not M.pure_wheel(made.wheel) then
    -- compiled by something the check above does not see (a build hook, a
    -- source the build generates): the wheel is made again from the sdist
    -- in relrun's own folder, which the compiler's path mapping names
    log.info("%s is compiled: building it again from the sdist, so that every build gives the same bytes",
      fs.basename(made.wheel))
    fs.remove(made.wheel)
    return { sdist = made.sdist }
  end
  return made
end

-- Whether a wheel's name says it holds no compiled code (any platform, no ABI).
function M.pure_wheel(path)
  local w = metadata.parse_wheel_filename(path)
  return w ~= nil and w.abi == "none" and w.platform == "any"
end

-- build_checkout on a clean checkout of the commit, removed afterwards
-- while the next child process runs (progress.meanwhile); a raised error
-- leaves it to the handle's collector.
local function from_commit(opts, bopts, outdir)
  -- libgit2, which the checkout needs, starts while a probe runs (when one does)
  progress.meanwhile(function() opts.project.repo:warm() end)
  if opts.isolation == false then
    local has, rerr = installed_requirements(opts)
    if not has then return nil, rerr end
  end
  local co, src = M.checkout(opts.project, opts.commit.id)
  if not co then return nil, src end
  -- what reads the build's files next gets ready while it builds: libarchive
  -- loads, and OpenSSL's first digest loads its default provider (~1 ms)
  progress.meanwhile(function()
    require "relrun.archive"
    hash.sha256("")
  end)
  local made, err = build_checkout(opts, bopts, outdir, src, co.path)
  progress.meanwhile(function() co:close() end)
  return made, err
end

-- The wheel built from `sdist`, unpacked by relrun: written again when it
-- carries build-time stamps (never a published one: then it must be the
-- tagged commit's, sdist_matches). -> { sdist, wheel } | nil, err
local function wheel_from_sdist(opts, bopts, sdist, outdir, published)
  local unpacked <close> = fs.tempdir("relrun-sdist-")
  local root, serr = settle_sdist(sdist, fs.join(unpacked.path, "sdist"), opts.commit.time, published)
  if not root then return nil, serr end
  if published then
    local co, src = M.checkout(opts.project, opts.commit.id)
    if not co then return nil, src end
    local _ <close> = co
    local same, why = M.sdist_matches(root, src, opts.version)
    if not same then
      return nil, errors.new("FOREIGN_SDIST", string.format("the published %s is not commit %s's: it %s",
        fs.basename(opts.sdist), opts.commit.id:sub(1, 12), why), { rerun = false,
        hint = "a published file is never overwritten; release a new version (or remove the version first: " ..
          "relrun rollback " .. opts.version .. ")" })
    end
  end
  local made, werr = run_build(bopts, "wheel", root, outdir, unpacked.path)
  if not made then return nil, werr end
  return { sdist = sdist, wheel = made.wheel }
end

-- The sdist and the wheel of release(opts), made in `outdir`.
-- -> { sdist, wheel } | nil, err
local function make_files(opts, outdir)
  local bopts = { python = opts.python, version = opts.version, source_date_epoch = opts.commit.time,
                  isolation = opts.isolation, skip_dependency_check = opts.skip_dependency_check,
                  args = opts.args, index_url = opts.index_url, verbose = opts.verbose }
  local made, err
  if opts.sdist then
    local copy = fs.join(outdir, fs.basename(opts.sdist))
    local okc, cerr = fs.copy(opts.sdist, copy)
    if not okc then return nil, errors.new("BUILD_DIR", "cannot copy " .. opts.sdist .. ": " .. tostring(cerr)) end
    made = { sdist = copy }
  else
    made, err = from_commit(opts, bopts, outdir)
    if not made then return nil, err end
  end
  if not made.wheel then return wheel_from_sdist(opts, bopts, made.sdist, outdir, opts.sdist ~= nil) end
  return made
end

-- release{ project, commit = {id, time}, version, python, outdir, isolation,
--   skip_dependency_check, args, index_url, sdist = path (build the wheel from
--   this sdist, e.g. one already published) } -> { files = inspected } | nil, err.
--
-- The files are made in a folder of this run's beside outdir (named with
-- relrun's pid), which becomes outdir once they are complete: a build cut
-- short leaves no half of itself in outdir, and what a backend process
-- orphaned by a killed relrun still writes lands in that folder, which the
-- next run removes (relrun.fs's leftovers).
function M.release(opts)
  local outdir = fs.absolute(opts.outdir)
  fs.remove(outdir, { recursive = true })
  local good, err = fs.mkdir(fs.dirname(outdir))
  local stage
  if good then stage, err = fs.tempdir(fs.basename(outdir), fs.dirname(outdir)) end
  if not stage then
    return nil, errors.new("BUILD_DIR", "cannot create a folder in " .. fs.dirname(outdir) .. ": " .. tostring(err))
  end
  local _ <close> = stage
  local made
  made, err = make_files(opts, stage.path)
  if not made then return nil, err end
  -- published files are read by a web server or another user
  for _, path in ipairs({ made.sdist, made.wheel }) do fs.chmod(path, "644") end
  fs.chmod(stage.path, "755")
  good, err = fs.rename(stage.path, outdir)
  if not good then return nil, errors.new("BUILD_DIR", "cannot create " .. outdir .. ": " .. tostring(err)) end
  local paths = { fs.join(outdir, fs.basename(made.sdist)), fs.join(outdir, fs.basename(made.wheel)) }
  return M.inspect(paths, { version = opts.version, name = opts.project.package, expect = opts.expect })
end

---------------------------------------------------------------------------
-- Inspection
---------------------------------------------------------------------------

-- The digests and identity of one file; nil, problem when it is not a
-- wheel or sdist with readable metadata.
function M.describe(path)
  local filename = fs.basename(path)
  local parsed = metadata.parse_filename(filename)
  if not parsed then return nil, filename .. ": not a wheel or sdist file name" end
  local meta, merr = metadata.read(path)
  if not meta then return nil, filename .. ": cannot read its metadata: " .. tostring(merr) end
  local d = upload.digests(path)
  return { path = path, filename = filename, kind = parsed.kind, name = meta.name, version = meta.version,
           sha256 = d.sha256, md5 = d.md5, blake2_256 = d.blake2_256, size = d.size, tags = parsed.tags,
           meta = meta, parsed = parsed }
end

local function same_version(a, b)
  local pa, pb = a and pep440.parse(a), b and pep440.parse(b)
  return pa and pb and pep440.compare(pa, pb) == 0 and tostring(pa) == tostring(pb)
end

-- Inspect built files: names, the version inside equal to `version`
-- (PEP 440: 24.3 and 24.3.0 are the same release, but the file's own
-- spelling must be the normalised tag's), the wheel's RECORD, the metadata
-- an index (twine) would reject. expect = { version, name, expect = {"sdist", "wheel", ...} | count,
-- what = "the built files" (how the error names them), hint }.
-- -> { files = { described } } | nil, err listing every problem.
function M.inspect(paths, expect)
  local problems, out = {}, {}
  local built = {}   -- the versions the files say, where they differ from the tag's: { [version] = { filename } }
  local function differs(version, filename)
    built[version] = built[version] or {}
    local list = built[version]
    if list[#list] ~= filename then list[#list + 1] = filename end
  end
  for _, path in ipairs(paths) do
    local f, problem = M.describe(path)
    if not f then
      problems[#problems + 1] = problem
    else
      if not same_version(f.parsed.version, expect.version) then differs(tostring(f.parsed.version), f.filename) end
      if not same_version(f.version, expect.version) then differs(tostring(f.version), f.filename) end
      if expect.name and metadata.normalize(f.parsed.name) ~= metadata.normalize(expect.name) then
        problems[#problems + 1] = string.format("%s: the file name says %s, expected %s", f.filename,
          f.parsed.name, expect.name)
      elseif expect.name and metadata.normalize(f.name or "") ~= metadata.normalize(expect.name) then
        problems[#problems + 1] = string.format("%s: its metadata names %s, expected %s", f.filename,
          tostring(f.name), expect.name)
      end
      for _, p in ipairs(metadata.problems(f.meta)) do problems[#problems + 1] = f.filename .. ": " .. p end
      if f.kind == "wheel" then
        local good, rerr = metadata.verify_record(path)
        if not good then problems[#problems + 1] = f.filename .. ": " .. tostring(rerr) end
      end
      f.meta, f.parsed = nil, nil
      out[#out + 1] = f
    end
  end
  -- one line for a version the files say instead of the tag's (coverage
  -- computes its version: 7.11.4a0.dev1 in both files' names and metadata)
  local versions = {}
  for version, files in pairs(built) do
    versions[#versions + 1] = string.format("the files say version %s (%s), the tag says %s", version,
      table.concat(files, ", "), expect.version)
  end
  table.sort(versions)
  for k, v in ipairs(versions) do table.insert(problems, k, v) end
  for _, p in ipairs(M.missing_kinds(out, expect.expect)) do problems[#problems + 1] = p end
  if #problems > 0 then
    return nil, errors.new("NOT_FIT", (expect.what or "the built files") .. " are not fit to publish: " ..
      table.concat(problems, "; "), { rerun = false,
      hint = expect.hint or "fix the project in a new commit (`relrun doctor` checks it)" })
  end
  table.sort(out, function(a, b) return a.filename < b.filename end)
  return { files = out }
end

-- Whether one part of an expect pattern names a tag field: the field
-- itself, its start ("manylinux" for manylinux_2_17_x86_64, "win" for
-- win_amd64) or a glob with * ("*x86_64").
local function part_matches(part, field)
  if field:sub(1, #part) == part then return true end
  if not part:find("*", 1, true) then return false end
  local lua = "^" .. part:gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", ".*") .. "$"
  return field:match(lua) ~= nil
end

-- Whether a wheel file name matches a pattern of `expect` such as
-- "cp311-manylinux", "py3-none-any" or "abi3": its "-" parts name fields of
-- one of the wheel's tags (python, abi, platform), in that order.
function M.wheel_matches(filename, pattern)
  local parsed = metadata.parse_wheel_filename(filename)
  if not parsed then return false end
  for _, tag in ipairs(parsed.tags) do
    local fields, i = {}, 1
    for field in tag:gmatch("[^-]+") do fields[#fields + 1] = field end
    local matched = true
    for part in pattern:gmatch("[^-]+") do
      while i <= #fields and not part_matches(part, fields[i]) do i = i + 1 end
      if i > #fields then matched = false; break end
      i = i + 1
    end
    if matched then return true end
  end
  return false
end

-- Whether file f ({filename, kind}) is one `want` of expect names.
local function is_wanted(f, want)
  if want == "sdist" or want == "wheel" then return f.kind == want end
  return f.kind == "wheel" and M.wheel_matches(f.filename, want)
end

local function kind_of(f)
  return f.kind or (f.filename:match("%.whl$") and "wheel" or "sdist")
end

-- What a release's set of files does not match in `expect`: a list of
-- "sdist", "wheel" or wheel tag patterns (M.wheel_matches; default: an sdist
-- and at least one wheel), each matched by some file, every file matched by
-- some pattern; or a count of files. -> list of problems.
function M.missing_kinds(files, expect)
  expect = expect or { "sdist", "wheel" }
  local typed = {}
  for i, f in ipairs(files) do typed[i] = { filename = f.filename, kind = kind_of(f) } end
  if type(expect) == "number" then
    if #typed == expect then return {} end
    return { string.format("%d file(s), expect = %d", #typed, expect) }
  end
  local missing, extra = {}, {}
  for _, want in ipairs(expect) do
    local found = false
    for _, f in ipairs(typed) do found = found or is_wanted(f, want) end
    if not found then missing[#missing + 1] = want end
  end
  for _, f in ipairs(typed) do
    local wanted = false
    for _, want in ipairs(expect) do wanted = wanted or is_wanted(f, want) end
    if not wanted then extra[#extra + 1] = f.filename end
  end
  local problems = {}
  if #missing > 0 then
    problems[#problems + 1] = "missing " .. table.concat(missing, ", ") .. " (expect = " ..
      table.concat(expect, ", ") .. ")"
  end
  if #extra > 0 then
    problems[#problems + 1] = "extra " .. table.concat(extra, ", ") .. " (matches nothing in expect = " ..
      table.concat(expect, ", ") .. ")"
  end
  return problems
end

-- Digests of a file: { sha256 } (the digest every step compares).
function M.sha256(path)
  local d = hash.file(path, { "sha256" })
  return d and d.sha256
end

return M
