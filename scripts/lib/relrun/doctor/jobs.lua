-- The release workflow as the doctor's groups see it, read once through
-- relrun.workflows (the one reader of workflow files): the jobs that get an
-- OIDC token when a release tag (the project's prefix) is pushed, the
-- sub each presents, and their steps.
--
--   local jobs, notes = jobs.release(ctx)     -- workflows.release_jobs, cached
--   local steps = jobs.steps(ctx, job)        -- the job's steps (parsed YAML) | {}
--   for _, j in ipairs(jobs.all(ctx)) do ... end   -- every job of every workflow: { file, job, def, doc }
--   jobs.publishes(step)                      -- the step runs relrun's publish: its command line | nil
--   jobs.pushes_tags(step)                    -- the step pushes a tag (git push, relrun's tag phase)
--   jobs.installs_relrun(step)                -- the step puts relrun on PATH
local workflows = require "relrun.workflows"
local fs = require "relrun.fs"

local M = {}

function M.release(ctx)
  if not ctx.release_jobs then
    ctx.release_jobs, ctx.release_notes = workflows.release_jobs(ctx.root, { prefix = ctx.prefix })
  end
  return ctx.release_jobs, ctx.release_notes
end

-- The parsed workflow file of a job, cached per file (false: unreadable).
local function document(ctx, file)
  ctx.workflow_docs = ctx.workflow_docs or {}
  if ctx.workflow_docs[file] == nil then
    ctx.workflow_docs[file] = workflows.parse_yaml(fs.read(fs.join(ctx.root, file)) or "") or false
  end
  return ctx.workflow_docs[file]
end

-- Every job of every workflow file, in file and job name order.
function M.all(ctx)
  local files = fs.glob(fs.join(ctx.root, ".github/workflows/*.yml")) or {}
  for _, f in ipairs(fs.glob(fs.join(ctx.root, ".github/workflows/*.yaml")) or {}) do files[#files + 1] = f end
  table.sort(files)
  local out = {}
  for _, path in ipairs(files) do
    local file = path:sub(#ctx.root + 2)
    local doc = document(ctx, file)
    local names = {}
    for name, def in pairs(doc and type(doc.jobs) == "table" and doc.jobs or {}) do
      if type(def) == "table" then names[#names + 1] = name end
    end
    table.sort(names)
    for _, name in ipairs(names) do
      out[#out + 1] = { file = file, job = name, def = doc.jobs[name], doc = doc }
    end
  end
  return out
end

function M.definition(ctx, job)
  local doc = document(ctx, job.file)
  local def = doc and type(doc.jobs) == "table" and doc.jobs[job.job]
  return type(def) == "table" and def or {}
end

function M.steps(ctx, job)
  local steps = M.definition(ctx, job).steps
  return type(steps) == "table" and steps or {}
end

-- The words of a step's `run:` script, one command line at a time.
local function commands(step)
  local out = {}
  if type(step) ~= "table" or type(step.run) ~= "string" then return out end
  for line in (step.run .. "\n"):gmatch("([^\n]*)\n") do
    local words = {}
    for w in line:gsub("#.*$", ""):gmatch("%S+") do words[#words + 1] = w end
    if #words > 0 then out[#out + 1] = words end
  end
  return out
end

-- relrun [--opts] release publish | relrun [--opts] PATH/release.lua publish
function M.publishes(step)
  for _, words in ipairs(commands(step)) do
    local i = 1
    while words[i] and not words[i]:match("^[%w./_-]*relrun$") do i = i + 1 end
    if words[i] then
      i = i + 1
      while words[i] and words[i]:match("^%-") do i = i + 1 end
      local script = words[i]
      if script and (script == "release" or script:match("release%.lua$")) and words[i + 1] == "publish" then
        return table.concat(words, " ")
      end
    end
  end
end

-- git push of a tag, or relrun's tag phase (which pushes the tag).
function M.pushes_tags(step)
  for _, words in ipairs(commands(step)) do
    local line = table.concat(words, " ")
    if line:find("git push", 1, true) and (line:find("tag", 1, true) or line:find("refs/tags", 1, true)) then
      return line
    end
    for i, w in ipairs(words) do
      if w:match("^[%w./_-]*relrun$") then
        local j = i + 1
        while words[j] and words[j]:match("^%-") do j = j + 1 end
        if words[j] and (words[j] == "release" or words[j]:match("release%.lua$")) and words[j + 1] == "tag" then
          return line
        end
      end
    end
  end
end

-- A step that installs relrun: relrun's own action, a package install
-- naming relrun, or a downloaded relrun put on PATH (relrun's template).
function M.installs_relrun(step)
  if type(step) ~= "table" then return false end
  if type(step.uses) == "string" and step.uses:lower():find("relrun", 1, true) then return true end
  local run = type(step.run) == "string" and step.run or ""
  if run:find("relrun", 1, true) and (run:find("GITHUB_PATH", 1, true) or run:find("apt%-get install[^\n]*relrun")
      or run:find("dpkg %-i") or run:find("pip install[^\n]*relrun")) then
    return true
  end
  return false
end

return M
