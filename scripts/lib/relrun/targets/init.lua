-- relrun.targets: the publish target a configuration names, and the copies
-- (S3, the GitHub Release) a release adds after it.
--
--   local target = targets.for_config(cfg)   -- targets/codeartifact.lua or targets/local.lua
--   local copies = targets.copies(ctx)        -- { {step = step, preflight = fn}, ... }
local M = {}

function M.for_config(cfg)
  if cfg.target == "codeartifact" then return require("relrun.targets.codeartifact").new(cfg) end
  return require("relrun.targets.local").new(cfg)
end

-- The copies this configuration asks for: s3 with a bucket, the GitHub
-- Release with a GitHub token (in Actions, GITHUB_TOKEN).
function M.copies(ctx)
  local out = {}
  if ctx.project.cfg.bucket then out[#out + 1] = require("relrun.copies.s3").new(ctx) end
  if require("relrun.github").token() then out[#out + 1] = require("relrun.copies.github_release").new(ctx) end
  return out
end

return M
