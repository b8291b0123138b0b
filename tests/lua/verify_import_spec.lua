-- verify's import check (relrun.verify.IMPORT_CHECK), run by the real
-- interpreter on installed distributions laid out as pip lays them out:
-- what it excuses (a module only an extra brings, a dependency pip did not
-- install) and what it must still fail (the package's own broken import).
local verify = require "relrun.verify"
local fs = require "relrun.fs"
local proc = require "relrun.proc"

local PYTHON = "/usr/bin/python3"

-- A site folder holding distribution `name` with `files` (path -> text)
-- and its metadata's Requires-Dist lines.
local function site(tmp, name, files, requires)
  local dir = fs.join(tmp, "site")
  local record = {}
  for path, text in pairs(files) do
    fs.mkdir(fs.dirname(fs.join(dir, path)))
    fs.write(fs.join(dir, path), text)
    record[#record + 1] = path .. ",,"
  end
  local info = fs.join(dir, name .. "-1.0.dist-info")
  fs.mkdir(info)
  local meta = { "Metadata-Version: 2.1", "Name: " .. name, "Version: 1.0" }
  for _, r in ipairs(requires or {}) do meta[#meta + 1] = "Requires-Dist: " .. r end
  fs.write(fs.join(info, "METADATA"), table.concat(meta, "\n") .. "\n")
  record[#record + 1] = name .. "-1.0.dist-info/METADATA,,"
  fs.write(fs.join(info, "RECORD"), table.concat(record, "\n") .. "\n")
  return dir
end

local function check(dir, mode, package)
  return assert(proc.run{ argv = { PYTHON, "-c", verify.IMPORT_CHECK, mode, package }, cwd = "/",
                          env = { PYTHONPATH = dir, PYTHONDONTWRITEBYTECODE = "1" } })
end

describe("verify's import check", function()
  local tmp
  before_each(function() tmp = fs.tempdir("relrun-importcheck-") end)
  after_each(function() tmp:close() end)

  it("does not import a module that needs an extra (black's blackd: its own ImportError from None)", function()
    local dir = site(tmp.path, "fx", {
      ["fx/__init__.py"] = "",
      ["fxd/__init__.py"] = "try:\n    import relrun_absent_aio\nexcept ImportError as ie:\n" ..
        "    raise ImportError(f'{ie}: install fx[d]') from None\n" }, { 'relrun-absent-aio; extra == "d"' })
    local r = check(dir, "--deps-installed", "fx")
    eq(r.code, 0, r.stderr)
    eq(r.stdout, "fx\nfxd:relrun_absent_aio from extra [d]\n1.0\n")
  end)

  it("fails the package's own import that broke while an optional one was missing", function()
    local dir = site(tmp.path, "fx", {
      ["fx/__init__.py"] = "try:\n    import relrun_absent_fast\nexcept ImportError:\n" ..
        "    from fx._compat import loads\n",
      ["fx/_compat.py"] = "x = 1\n" }, { 'relrun-absent-fast; extra == "fast"' })
    for _, mode in ipairs({ "--deps-installed", "--deps-missing" }) do
      local r = check(dir, mode, "fx")
      ok(r.code ~= 0, mode .. ": " .. r.stdout)
      contains(r.stderr, "cannot import name 'loads'")
    end
  end)

  it("with dependencies not installed, names the one an import needs; its own missing module still fails", function()
    local dir = site(tmp.path, "fx", { ["fx/__init__.py"] = "import relrun_absent_dep\n", ["fy/__init__.py"] = "" },
      { "relrun-absent-dep" })
    local r = check(dir, "--deps-missing", "fx")
    eq(r.code, 0, r.stderr)
    eq(r.stdout, "fy\nfx:relrun_absent_dep\n1.0\n")
    r = check(dir, "--deps-installed", "fx")
    ok(r.code ~= 0, "installed dependencies: a missing one is a failure")
    fs.write(fs.join(dir, "fy/__init__.py"), "from . import gone\n")
    r = check(dir, "--deps-missing", "fx")
    ok(r.code ~= 0, "fy's own module is missing")
  end)
end)
