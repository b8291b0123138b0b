-- relrun.aws: the AWS pieces under one name, each loaded on first use.
--
--   local aws = require "relrun.aws"
--   local ca = assert(aws.codeartifact.client())
--   local region = assert(aws.config.region())
--
-- config (shared files, region, endpoints), credentials (the chain),
-- retry (standard mode), core (sign, send, errors, retries), and the
-- clients sts, codeartifact, s3, iam.
local PARTS = { config = true, credentials = true, retry = true, core = true,
                sts = true, codeartifact = true, s3 = true, iam = true }

return setmetatable({}, { __index = function(t, name)
  if not PARTS[name] then return nil end
  local m = require("relrun.aws." .. name)
  rawset(t, name, m)
  return m
end })
