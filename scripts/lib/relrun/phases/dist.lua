-- The build step of `release.lua publish --dist DIR`: the release's files
-- were built elsewhere (a cibuildwheel matrix, another job), so instead of
-- building, this step takes every file in DIR, checks that each one is the
-- project's at the tag's version (file name and metadata, PEP 503 / 440
-- normalised, twine's checks, the wheel's RECORD), that the sdist holds the
-- tagged commit's files (build.sdist_of_commit), and that the set is what
-- `[tool.relrun] expect` says (tag patterns or a count), then keeps them in
-- .relrun/dist/VERSION/ like a build's files.
--
-- It has the build step's name and evidence (the files with their sha256),
-- so publish, the copies, instructions and verify work on these bytes as on
-- built ones, and the journal (bound to version + commit) holds the
-- digests: a rerun with the same files finds the step done and publishes
-- what is left; a rerun with other bytes takes them again, and a file the
-- target already holds with other bytes is refused, never overwritten.
local build = require "relrun.build"
local errors = require "relrun.errors"
local fs = require "relrun.fs"
local release_build = require "relrun.phases.build"

local M = {}

-- Every file under dir (artifact downloads may keep one folder per job),
-- sorted by path.
local function files_under(dir, out)
  out = out or {}
  for _, name in ipairs(fs.list(dir) or {}) do
    local path = fs.join(dir, name)
    local st = fs.stat(path)
    if st and st.type == "directory" then files_under(path, out)
    elseif st then out[#out + 1] = path end
  end
  return out
end

local function listing(ctx)
  local dir = ctx.opts.dist
  local st = fs.stat(dir)
  if not st or st.type ~= "directory" then
    errors.raise("DIST_DIR", "--dist " .. dir .. " is not a folder", { hint = "download the build jobs' " ..
      "artifacts into it first", exit = 2, rerun = false })
  end
  local paths = files_under(dir)
  if #paths == 0 then
    errors.raise("DIST_EMPTY", "--dist " .. dir .. " holds no files", { hint = "download the build jobs' " ..
      "artifacts into it first", rerun = false })
  end
  return paths
end

-- name -> sha256 of the files in DIR now.
local function digests(paths)
  local out = {}
  for _, path in ipairs(paths) do out[fs.basename(path)] = build.sha256(path) end
  return out
end

-- Whether the journaled files are DIR's files, byte for byte, and still kept.
local function same_files(ctx, evidence)
  if not (evidence and evidence.dist and evidence.files) then return false end
  local now = digests(listing(ctx))
  local n = 0
  for _ in pairs(now) do n = n + 1 end
  if n ~= #evidence.files then return false end
  for _, f in ipairs(evidence.files) do
    if now[f.filename] ~= f.sha256 or not (fs.exists(f.path) and build.sha256(f.path) == f.sha256) then
      return false
    end
  end
  return true
end

local function take(ctx)
  local paths = listing(ctx)
  local p = ctx.project
  local expect = p.cfg.expect
  local checked = errors.check(build.inspect(paths, { version = ctx.version, name = p.package, expect = expect,
    what = "the files in " .. ctx.opts.dist,
    hint = "publish the files built from " .. ctx.tag .. " (or set [tool.relrun] expect to the set a release has)" }))
  for _, f in ipairs(checked.files) do
    if f.kind == "sdist" then
      local same, err = build.sdist_of_commit(p, ctx.commit, f.path, ctx.version)
      if not same then
        errors.raise(errors.wrap(err, "the sdist in " .. ctx.opts.dist .. " was not built from " .. ctx.tag,
          "publish the files the build jobs made from " .. ctx.tag .. " (a build of another commit is another release)"))
      end
    end
  end
  local outdir = release_build.outdir(ctx)
  fs.remove(outdir, { recursive = true })
  errors.check(fs.mkdir(outdir))
  local wheels = 0
  for _, f in ipairs(checked.files) do
    local copy = fs.join(outdir, f.filename)
    local good, err = fs.copy(f.path, copy)
    if not good then errors.raise("DIST_COPY", "cannot copy " .. f.path .. " to " .. copy .. ": " .. tostring(err)) end
    fs.chmod(copy, "644")   -- published files are read by a web server or another user
    f.path = copy
    if f.kind == "wheel" then wheels = wheels + 1 end
  end
  return { files = checked.files, dist = ctx.opts.dist, commit = ctx.commit.id,
           outcome = string.format("%d file(s) from %s: %d wheel(s)%s", #checked.files, ctx.opts.dist, wheels,
             #checked.files > wheels and " and the sdist" or "") }
end

-- step(ctx): ctx has project, version, tag, commit, opts.dist.
function M.step(ctx)
  return {
    name = "build", kind = "local",
    does = "take the files built elsewhere from " .. ctx.opts.dist .. ": the project's, at " .. ctx.version ..
      ", the set [tool.relrun] expect names",
    check = function(_, evidence)
      if same_files(ctx, evidence) then return true, evidence, "the same files as the journal's" end
      return false
    end,
    run = function() return take(ctx) end,
  }
end

return M
