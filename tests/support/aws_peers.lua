-- moto_server for the AWS specs: started on a free port, with an IAM user
-- and access key made while signature checking is still off, then checking
-- switched on (moto's INITIAL_NO_AUTH_ACTION_COUNT, reset over its API).
--
--   local m = require("aws_peers").moto()   -- m.peer (url, stop), m.akid, m.secret
--   m.auth_after(n)                         -- check signatures after n more actions
local peer = require "peer"
local json = require "relrun.json"
local http = require "relrun.http"
local core = require "relrun.aws.core"

local M = {}

local ALL = json.encode{ Version = "2012-10-17", Statement = { { Effect = "Allow", Action = "*", Resource = "*" } } }

function M.moto()
  local p = peer.start{ argv = { "python3", "tests/support/aws_moto.py", "--port-file", peer.PORT_FILE } }
  local m = { peer = p, url = p.url }
  local function query(action, params, akid, secret)
    local c = assert(core.client{ service = "iam", protocol = "query", region = "us-east-1", endpoint = p.url,
      signing_region = "us-east-1",
      credentials = require("relrun.aws.credentials").static(akid or "AKIDSETUP", secret or "setup") })
    return assert(c:query(action, "2010-05-08", params))
  end
  query("CreateUser", { UserName = "releaser" })
  local key = query("CreateAccessKey", { UserName = "releaser" })
  m.akid, m.secret = core.xml_text(key, "AccessKey/AccessKeyId"), core.xml_text(key, "AccessKey/SecretAccessKey")
  query("PutUserPolicy", { UserName = "releaser", PolicyName = "all", PolicyDocument = ALL })
  function m.iam(action, params) return query(action, params, m.akid, m.secret) end
  function m.auth_after(n)
    local res = assert(http.request{ method = "POST", url = p.url .. "/moto-api/reset-auth",
                                     headers = { ["content-type"] = "text/plain" }, body = tostring(n) })
    assert(res.status == 200, res.body)
  end
  function m.stop() p:stop() end
  return m
end

return M
