-- The build step that tag and publish share: the release's files, built
-- from a clean checkout of the commit (relrun.build), kept in
-- .relrun/dist/VERSION/ and journaled with their digests, so every later
-- step — and publish after tag on the same machine — uses these bytes.
--
-- When the target already holds files of the version (a partial publish,
-- another machine's run), what is missing is made from what is published:
-- the wheel from the published sdist. A rerun anywhere converges on the
-- published bytes.
local build = require "relrun.build"
local errors = require "relrun.errors"
local fs = require "relrun.fs"
local log = require "relrun.log"

local M = {}

function M.outdir(ctx)
  return fs.join(ctx.project.dir, ".relrun", "dist", ctx.version)
end

-- The interpreter, found once per run.
function M.python(ctx)
  if not ctx.python then ctx.python = errors.check(build.find_python(ctx.project.cfg.python)) end
  return ctx.python
end

-- Whether `f.path` holds the bytes of f.sha256; each file is read once per
-- run (ctx.verified), however many steps ask.
local function intact(ctx, f)
  ctx.verified = ctx.verified or {}   -- before any return: local_files records downloads in it
  if not (f.path and f.sha256) then return false end
  local key = f.path .. "\0" .. f.sha256
  if ctx.verified[key] == nil then ctx.verified[key] = fs.exists(f.path) and build.sha256(f.path) == f.sha256 end
  return ctx.verified[key]
end

-- The files this machine built, still there with the journaled digests.
local function kept(ctx, evidence)
  local files = evidence and evidence.files
  if not files or #files == 0 then return nil end
  for _, f in ipairs(files) do
    if not intact(ctx, f) then return nil end
  end
  return files
end

-- Whether a published file has the name of one of `files` and other bytes.
function M.differs(files, published)
  local by_name = {}
  for _, f in ipairs(published) do by_name[f.filename] = f.sha256 end
  for _, f in ipairs(files) do
    local sha = by_name[f.filename]
    if sha and sha ~= f.sha256 then return true end
  end
  return false
end

local function published_sdist(there)
  for _, f in ipairs(there) do
    if not f.filename:match("%.whl$") then return f end
  end
end

-- Everything the target holds of the version, as build evidence (the
-- files are downloaded when a later step needs their bytes).
local function complete_there(ctx, there)
  if #there == 0 then return nil end
  local kinds = {}
  for k, f in ipairs(there) do kinds[k] = { filename = f.filename, kind = f.filename:match("%.whl$") and "wheel" or "sdist" } end
  local problems = build.missing_kinds(kinds, ctx.project.cfg.expect)
  if #problems > 0 then return nil end
  return there
end

-- Whether to build isolated, as `python -m build` does: as configured, else
-- when the index the isolated environment installs from answers (a
-- machine without one builds with the installed backend, and says so).
function M.isolation(ctx)
  local cfg = ctx.project.cfg
  if cfg.build.isolation ~= nil then return cfg.build.isolation end
  if ctx.isolation ~= nil then return ctx.isolation end
  local index = cfg.build.index_url or os.getenv("PIP_INDEX_URL") or "https://pypi.org/simple/"
  local shown = index:gsub("//[^/@]*@", "//")   -- never a password in a message
  local resp, err = require("relrun.http").request{ method = "HEAD", url = index, connect_timeout = 3, timeout = 5 }
  ctx.isolation = resp ~= nil and resp.status < 500
  if ctx.isolation then
    log.info("isolated build: the index %s answers", shown)
  else
    log.info("not isolated: the index %s does not answer (%s); building with the installed backend " ..
      "(set [tool.relrun.build] isolation to choose)", shown, resp and ("HTTP " .. resp.status) or tostring(err))
  end
  return ctx.isolation
end

local function build_opts(ctx)
  local cfg = ctx.project.cfg
  return { project = ctx.project, commit = ctx.commit, version = ctx.version, python = M.python(ctx),
           outdir = M.outdir(ctx), isolation = M.isolation(ctx), skip_dependency_check = cfg.build.skip_dependency_check,
           args = cfg.build.args, index_url = cfg.build.index_url, expect = cfg.expect, verbose = ctx.opts.verbose }
end

-- step(ctx [, { at = "HEAD" }]): ctx has project, version, commit (or
-- `at`, the revision to build), target (publish only).
function M.step(ctx, opts)
  opts = opts or {}
  return {
    name = "build", kind = "local",
    does = "build the sdist from a clean checkout, then the wheel from the sdist, and inspect them",
    check = function(_, evidence)
      local published = ctx.target and ctx.target:files(ctx.version) or {}
      local files = kept(ctx, evidence)
      -- this machine's build counts while nothing published under its names differs
      if files and not M.differs(files, published) then return true, evidence end
      local there = complete_there(ctx, published)
      if there then return true, { files = there, published = true, outcome = "already published" } end
      return false
    end,
    run = function()
      if not ctx.version then   -- a dry run goes on past a failed version step
        errors.raise("NO_VERSION", "not built: the version is not known (see the version step)", { rerun = false })
      end
      ctx.commit = ctx.commit or errors.check(ctx.project:commit(opts.at or ctx.tag))
      local bo = build_opts(ctx)
      local there = ctx.target and ctx.target:files(ctx.version) or {}
      local theirs = published_sdist(there)
      local note
      if theirs then
        -- the rest of a partly published version is made from its published sdist
        local tmp <close> = fs.tempdir("relrun-published-")
        bo.sdist = ctx.target:download(theirs, tmp.path)
        note = "the wheel from the published " .. theirs.filename
        local made = errors.check(build.release(bo))
        return { files = made.files, outcome = note }
      end
      local made = errors.check(build.release(bo))
      ctx.verified = {}
      for _, f in ipairs(made.files) do
        log.info("built %s (sha256 %s)", f.filename, f.sha256)
        ctx.verified[f.path .. "\0" .. f.sha256] = true
      end
      return { files = made.files, commit = ctx.commit.id }
    end,
  }
end

-- Local copies of the build's files, downloaded from the target when the
-- build step found them published. -> { {path, filename, sha256, ...} }
function M.local_files(ctx)
  local out = {}
  for _, f in ipairs(ctx.evidence.build.files) do
    local copy = {}
    for k, v in pairs(f) do copy[k] = v end
    if not intact(ctx, f) then
      local dir = M.outdir(ctx)
      fs.mkdir(dir)
      copy.path = ctx.target:download(f, dir)
      ctx.verified[copy.path .. "\0" .. f.sha256] = true   -- download checked it
      f.path = copy.path
    end
    out[#out + 1] = copy
  end
  return out
end

return M
