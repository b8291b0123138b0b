-- relrun.aws against moto_server with signature checking on: STS, S3 and
-- IAM calls accepted with real keys and refused with a wrong secret; the
-- credential chain end to end (profile role, web identity file, GitHub
-- OIDC, container credentials); no secret in any output.
local peer = require "peer"
local peers = require "aws_peers"
local R = require "aws_run"
local json = require "relrun.json"
local http = require "relrun.http"
local core = require "relrun.aws.core"
local credentials = require "relrun.aws.credentials"
local sts = require "relrun.aws.sts"
local s3 = require "relrun.aws.s3"
local iam = require "relrun.aws.iam"

local moto, meta, dir
local AKID, SECRET              -- a moto IAM user's access key, made while checking is off
local auth_after, raw_iam
local ROLE = "arn:aws:iam::123456789012:role/release"

local _ <close> = setmetatable({}, { __close = function()
  if moto then moto.stop() end
  if meta then meta:stop() end
  R.rmdir(dir)
end })

local function env(extra)
  local e = { AWS_REGION = "us-east-1", AWS_ENDPOINT_URL = moto.url, HOME = dir,
              AWS_CONFIG_FILE = dir .. "/none", AWS_SHARED_CREDENTIALS_FILE = dir .. "/none",
              AWS_EC2_METADATA_DISABLED = "true", AWS_ACCESS_KEY_ID = AKID, AWS_SECRET_ACCESS_KEY = SECRET }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end


local TRUST = { Version = "2012-10-17", Statement = { {
  Effect = "Allow",
  Principal = { Federated = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" },
  Action = "sts:AssumeRoleWithWebIdentity",
  Condition = { StringLike = { ["token.actions.githubusercontent.com:sub"] = "repo:acme/stock-pipeline:*" } } }, {
  Effect = "Allow", Principal = { AWS = "arn:aws:iam::123456789012:user/releaser" }, Action = "sts:AssumeRole" } } }

describe("moto", function()
  dir = R.tempdir()
  moto = peers.moto()
  AKID, SECRET, auth_after, raw_iam = moto.akid, moto.secret, moto.auth_after, moto.iam
  meta = peer.start{ argv = { "python3", "tests/fakes/aws_metadata.py", "--port-file", peer.PORT_FILE } }
  -- Checking is off until auth_after(0): the role too.
  raw_iam("CreateRole", { RoleName = "release", AssumeRolePolicyDocument = json.encode(TRUST) })
  raw_iam("PutRolePolicy", { RoleName = "release", PolicyName = "all", PolicyDocument = json.encode{
    Version = "2012-10-17", Statement = { { Effect = "Allow", Action = "*", Resource = "*" } } } })
  auth_after(0)

  it("answers GetCallerIdentity signed with the user's key", function()
    local c = assert(sts.client{ env = env() })
    local me = assert(c:get_caller_identity())
    eq(me.arn, "arn:aws:iam::123456789012:user/releaser")
    eq(me.account, "123456789012")
  end)

  it("refuses a wrong secret with SignatureDoesNotMatch and says so plainly", function()
    local c = assert(sts.client{ env = env{ AWS_SECRET_ACCESS_KEY = "wrong" } })
    local me, msg, code, err = c:get_caller_identity()
    eq(me, nil)
    eq(code, "SignatureDoesNotMatch")
    eq(err.status, 403)
    contains(msg, "sts GetCallerIdentity failed: SignatureDoesNotMatch")
    contains(msg, "check AWS_SECRET_ACCESS_KEY")
  end)

  it("assumes a profile's role with its source profile's keys", function()
    R.write(dir .. "/config", "[profile release]\nrole_arn = " .. ROLE .. "\nsource_profile = base\n" ..
      "role_session_name = relrun-spec\n")
    R.write(dir .. "/credentials", "[base]\naws_access_key_id = " .. AKID .. "\naws_secret_access_key = " ..
      SECRET .. "\n")
    local e = env{ AWS_ACCESS_KEY_ID = false, AWS_SECRET_ACCESS_KEY = false, AWS_PROFILE = "release",
                   AWS_CONFIG_FILE = dir .. "/config", AWS_SHARED_CREDENTIALS_FILE = dir .. "/credentials" }
    local p = assert(credentials.resolve{ env = e })
    local creds = assert(p:get())
    ok(creds.session_token and creds.expiration > os.time(), "temporary credentials")
    local me = assert(assert(sts.client{ env = e, credentials = p }):get_caller_identity())
    eq(me.arn, "arn:aws:sts::123456789012:assumed-role/release/relrun-spec")
  end)

  it("exchanges a web identity token file for credentials, re-reading the file", function()
    local file = dir .. "/token"
    R.write(file, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOmFjbWUvc3RvY2stcGlwZWxpbmUifQ.c2ln")
    local e = env{ AWS_ACCESS_KEY_ID = false, AWS_SECRET_ACCESS_KEY = false, AWS_WEB_IDENTITY_TOKEN_FILE = file,
                   AWS_ROLE_ARN = ROLE, AWS_ROLE_SESSION_NAME = "from-file" }
    local p = assert(credentials.resolve{ env = e })
    auth_after(1)   -- moto refuses unsigned requests once checking is on
    local creds, msg = p:get()
    auth_after(0)
    ok(creds, msg)
    local me = assert(assert(sts.client{ env = e, credentials = p }):get_caller_identity())
    eq(me.arn, "arn:aws:sts::123456789012:assumed-role/release/from-file")
    os.remove(file)
    p:invalidate()
    local none, err = p:get()
    eq(none, nil)
    contains(err, "AWS_WEB_IDENTITY_TOKEN_FILE " .. file)
  end)

  it("asks GitHub for a fresh OIDC token with the STS audience on each refresh", function()
    local e = env{ AWS_ACCESS_KEY_ID = false, AWS_SECRET_ACCESS_KEY = false, AWS_ROLE_ARN = ROLE,
                   ACTIONS_ID_TOKEN_REQUEST_URL = meta.url .. "/oidc?api-version=2.0",
                   ACTIONS_ID_TOKEN_REQUEST_TOKEN = "gh-request-token", GITHUB_RUN_ID = "42" }
    local p = assert(credentials.resolve{ env = e })
    auth_after(1)
    local first, msg = p:get()
    p:invalidate()
    auth_after(1)
    local second, msg2 = p:get()
    auth_after(0)
    ok(first, msg)
    ok(second, msg2)
    local stats = json.decode(assert(http.request{ url = meta.url .. "/__stats" }).body)
    eq(stats.oidc, 2)
    eq(stats.audiences, { "sts.amazonaws.com", "sts.amazonaws.com" })
    ok(stats.tokens[1] ~= stats.tokens[2], "a fresh token each time")
    local me = assert(assert(sts.client{ env = e, credentials = p }):get_caller_identity())
    eq(me.arn, "arn:aws:sts::123456789012:assumed-role/release/relrun-42")
  end)

  it("reads container credentials with the authorization token", function()
    local e = env{ AWS_ACCESS_KEY_ID = false, AWS_SECRET_ACCESS_KEY = false,
                   AWS_CONTAINER_CREDENTIALS_FULL_URI = meta.url .. "/container",
                   AWS_CONTAINER_AUTHORIZATION_TOKEN = "container-auth-token" }
    local c = assert(assert(credentials.resolve{ env = e }):get())
    eq({ c.access_key, c.secret_key, c.session_token }, { "AKIDCONTAINER", "container-secret", "container-session" })
    e.AWS_CONTAINER_AUTHORIZATION_TOKEN = "wrong"
    local none, err = assert(credentials.resolve{ env = e }):get()
    eq(none, nil)
    contains(err, "AWS_CONTAINER_CREDENTIALS_FULL_URI")
    contains(err, "401")
  end)

  it("reads instance credentials over IMDSv2 when nothing else is set", function()
    local e = env{ AWS_ACCESS_KEY_ID = false, AWS_SECRET_ACCESS_KEY = false, AWS_EC2_METADATA_DISABLED = false,
                   AWS_EC2_METADATA_SERVICE_ENDPOINT = meta.url }
    local p = assert(credentials.resolve{ env = e })
    local c = assert(p:get())
    eq(c.access_key, "IMDSAKIDCONTAINER")
    ok(c.expiration > os.time(), "expiration")
    e.AWS_EC2_METADATA_SERVICE_ENDPOINT = "http://127.0.0.1:9"
    local none, err, code = assert(credentials.resolve{ env = e }):get()
    eq(none, nil)
    eq(code, "NoCredentials")
    contains(err, "no AWS credentials found")
  end)

  it("creates a bucket, puts, heads, gets, lists and deletes objects", function()
    local c = assert(s3.client{ env = env() })
    assert(c:create_bucket{ bucket = "wheels" })
    assert(c:head_bucket{ bucket = "wheels" })
    local file = dir .. "/stock_pipeline-1.2.3-py3-none-any.whl"
    R.write(file, string.rep("wheel bytes ", 1000))
    local put = assert(c:put_object{ bucket = "wheels", key = "stock-pipeline/1.2.3/x y.whl", file = file })
    eq(put.sha256, require("relrun.hash").sha256(string.rep("wheel bytes ", 1000)))
    local head = assert(c:head_object{ bucket = "wheels", key = "stock-pipeline/1.2.3/x y.whl" })
    eq(head.size, 12000)
    assert(c:get_object{ bucket = "wheels", key = "stock-pipeline/1.2.3/x y.whl", output = dir .. "/back" })
    eq(R.read(dir .. "/back"), R.read(file))
    -- (moto 5.2 checks a signature over a query value with "/" wrongly, for aws cli too)
    local list = assert(c:list_objects{ bucket = "wheels", prefix = "stock-pipeline" })
    eq(#list, 1)
    eq(list[1].key, "stock-pipeline/1.2.3/x y.whl")
    assert(c:delete_object{ bucket = "wheels", key = "stock-pipeline/1.2.3/x y.whl" })
    local gone, _, code = c:head_object{ bucket = "wheels", key = "stock-pipeline/1.2.3/x y.whl" }
    eq(gone, nil)
    eq(code, "NotFound")
    local _, _, code2 = c:head_bucket{ bucket = "no-such-bucket" }
    eq(code2, "NotFound")
  end)

  it("aborts the multipart upload when Ctrl-C stops it, then exits 130", function()
    local file, script = dir .. "/ctrlc.bin", dir .. "/ctrlc.lua"
    R.write(file, string.rep("relrun", 5 * 1024 * 1024))   -- 30 MiB: 6 parts of 5 MiB
    -- After the first part the script sends itself SIGINT (the shell's
    -- parent is relrun), as a terminal's Ctrl-C or a cancelled CI job would.
    R.write(script, string.format([[
local s3 = assert(require("relrun.aws.s3").client())
print(s3:multipart_upload{ bucket = "wheels", key = "big/ctrlc.bin", file = %q, part_size = 5 * 1024 * 1024,
  parallel = 1, on_progress = function() os.execute("kill -INT $PPID") end })
print("not reached")
]], file))
    local code, out = R.run({ os.getenv("RELRUN") or "build/relrun", script }, env())
    eq({ code, out }, { 130, "relrun: interrupted\n" })
    local c = assert(s3.client{ env = env() })
    eq(assert(c:list_multipart_uploads{ bucket = "wheels" }), {}, "the upload was aborted after Ctrl-C")
    eq(select(3, c:head_object{ bucket = "wheels", key = "big/ctrlc.bin" }), "NotFound")
  end)

  it("uploads in parts, aborts on failure, and lists every page", function()
    local c = assert(s3.client{ env = env() })
    local file = dir .. "/parts.bin"
    R.write(file, string.rep("0123456789abcdef", 700 * 1024))   -- 11.2 MiB: 3 parts of 5 MiB
    local up = assert(c:multipart_upload{ bucket = "wheels", key = "big/parts.bin", file = file,
                                          part_size = 5 * 1024 * 1024, want_sha256 = true })
    eq(up.parts, 3)
    eq(up.sha256, require("relrun.hash").sha256(R.read(file)), "the file's sha256, from the parts' read")
    assert(c:get_object{ bucket = "wheels", key = "big/parts.bin", output = dir .. "/parts.back" })
    eq(require("relrun.hash").file(dir .. "/parts.back", { "sha256" }).sha256, up.sha256)
    local err = raises(function()
      c:multipart_upload{ bucket = "wheels", key = "big/stopped.bin", file = file, part_size = 5 * 1024 * 1024,
                          parallel = 1, on_progress = function() error("stopped by the caller") end }
    end, "stopped by the caller")
    ok(err, "the callback's error comes through")
    eq(assert(c:list_multipart_uploads{ bucket = "wheels" }), {}, "the stopped upload was aborted")
    local bad, msg = c:multipart_upload{ bucket = "no-such-bucket", key = "k", file = file }
    eq(bad, nil)
    contains(msg, "NoSuchBucket")
    for i = 1, 3 do assert(c:put_object{ bucket = "wheels", key = "page-" .. i, body = "x" }) end
    local list = assert(c:list_objects{ bucket = "wheels", prefix = "page-", max_keys = 1 })
    eq(#list, 3)
  end)

  -- moto 5.2.1 honours If-None-Match: * on PutObject and CompleteMultipartUpload
  -- (and If-Match on PutObject), as S3 does since 2024.
  it("never replaces an object with overwrite = false, even for a role that may only put", function()
    local hash = require "relrun.hash"
    local full = assert(s3.client{ env = env() })
    assert(full:create_bucket{ bucket = "no-overwrite" })
    -- RELEASE.md's S3 policy: s3:PutObject on wheels/*, nothing else
    raw_iam("CreateUser", { UserName = "putonly" })
    local key = raw_iam("CreateAccessKey", { UserName = "putonly" })
    raw_iam("PutUserPolicy", { UserName = "putonly", PolicyName = "put", PolicyDocument = json.encode{
      Version = "2012-10-17", Statement = { { Effect = "Allow", Action = "s3:PutObject",
                                              Resource = "arn:aws:s3:::no-overwrite/wheels/*" } } } })
    local putonly = assert(s3.client{ env = env{ AWS_ACCESS_KEY_ID = core.xml_text(key, "AccessKey/AccessKeyId"),
      AWS_SECRET_ACCESS_KEY = core.xml_text(key, "AccessKey/SecretAccessKey") } })
    local mine, theirs = dir .. "/mine.whl", dir .. "/theirs.whl"
    R.write(mine, string.rep("our wheel ", 3000))
    R.write(theirs, string.rep("another wheel ", 3000))
    local function up(c, file, k, extra)
      local a = { bucket = "no-overwrite", key = k, file = file, overwrite = false,
                  sha256 = hash.file(file, { "sha256" }).sha256, metadata = { sha256 = hash.file(file, { "sha256" }).sha256 } }
      for name, v in pairs(extra or {}) do a[name] = v end
      return c:upload_file(a)
    end
    local function content(k)
      assert(full:get_object{ bucket = "no-overwrite", key = k, output = dir .. "/got" })
      return R.read(dir .. "/got")
    end
    local _, _, hcode = putonly:head_object{ bucket = "no-overwrite", key = "wheels/a.whl" }
    eq(hcode, "Forbidden", "the put-only user may not look (HeadObject: 403)")
    for _, case in ipairs({ { "full", full }, { "put-only", putonly } }) do
      local who, c = case[1], case[2]
      local k = "wheels/" .. who .. ".whl"
      local first, again = assert(up(c, mine, k)), assert(up(c, mine, k))
      local none, msg, code = up(c, theirs, k)
      eq(content(k), R.read(mine), who .. ": the object is untouched")
      eq({ first.status, again.status }, { "uploaded", "identical" }, who .. ": the same bytes again")
      eq({ none, code }, { nil, "CONFLICT" }, who .. ": other bytes")
      contains(msg, "s3://no-overwrite/" .. k .. " already exists with other content")
      contains(msg, "never replaced")
    end
    -- a multipart upload is completed only where nothing is
    local big = dir .. "/big.bin"
    R.write(big, string.rep("0123456789abcdef", 400 * 1024))   -- 6.25 MiB
    local k = "wheels/big.bin"
    eq(assert(up(full, big, k, { multipart_threshold = 5 * 1024 * 1024, part_size = 5 * 1024 * 1024 })).status,
      "uploaded")
    local none, _, code = up(full, mine, k, { multipart_threshold = 1, part_size = 5 * 1024 * 1024 })
    eq({ none, code }, { nil, "CONFLICT" }, "CompleteMultipartUpload over an object")
    eq(content(k), R.read(big))
    eq(assert(full:list_multipart_uploads{ bucket = "no-overwrite" }), {}, "the refused upload was aborted")
  end)

  it("manages roles, policies and the OIDC provider", function()
    local c = assert(iam.client{ env = env() })
    local role = assert(c:create_role{ role_name = "github-release", assume_role_policy = TRUST,
                                       description = "relrun spec" })
    eq(role.arn, "arn:aws:iam::123456789012:role/github-release")
    local got = assert(c:get_role{ role_name = "github-release" })
    eq(got.assume_role_policy.Statement[1].Condition.StringLike["token.actions.githubusercontent.com:sub"],
      "repo:acme/stock-pipeline:*")
    local trust2 = json.decode(json.encode(TRUST))
    trust2.Statement[1].Condition.StringLike["token.actions.githubusercontent.com:sub"] = "repo:acme/*"
    assert(c:update_assume_role_policy{ role_name = "github-release", policy = trust2 })
    eq(assert(c:get_role{ role_name = "github-release" }).assume_role_policy.Statement[1].Condition
      .StringLike["token.actions.githubusercontent.com:sub"], "repo:acme/*")
    local publish = { Version = "2012-10-17", Statement = { { Effect = "Allow",
      Action = { "codeartifact:PublishPackageVersion" }, Resource = "*" } } }
    assert(c:put_role_policy{ role_name = "github-release", policy_name = "publish", policy = publish })
    eq(assert(c:get_role_policy{ role_name = "github-release", policy_name = "publish" }).Statement[1].Action[1],
      "codeartifact:PublishPackageVersion")
    eq(assert(c:list_role_policies{ role_name = "github-release" }), { "publish" })
    local pol = raw_iam("CreatePolicy", { PolicyName = "read", PolicyDocument = json.encode(publish) })
    local arn = core.xml_text(pol, "Policy/Arn")
    raw_iam("AttachRolePolicy", { RoleName = "github-release", PolicyArn = arn })
    eq(assert(c:list_attached_role_policies{ role_name = "github-release" }), { { name = "read", arn = arn } })
    local p = assert(c:get_policy{ policy_arn = arn })
    eq(p.default_version, "v1")
    eq(assert(c:get_policy_version{ policy_arn = arn, version_id = "v1" }).document.Statement[1].Effect, "Allow")
    local oidc = assert(c:create_open_id_connect_provider{ url = "https://token.actions.githubusercontent.com",
      client_ids = { "sts.amazonaws.com" }, thumbprints = { string.rep("a", 40) } })
    eq(oidc, "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com")
    eq(assert(c:list_open_id_connect_providers()), { oidc })
    local _, _, code = c:get_role{ role_name = "nope" }
    eq(code, "NoSuchEntity")
  end)

  it("never prints a key or token, even with HTTP tracing", function()
    local script = dir .. "/leak.lua"
    local secrets_file = dir .. "/secrets.txt"
    R.write(script, [[
local p = assert(require("relrun.aws.credentials").resolve())
local c = assert(p:get())
local f = assert(io.open(]] .. string.format("%q", secrets_file) .. [[, "w"))
f:write(c.access_key, "\n", c.secret_key, "\n", c.session_token, "\n")
f:close()
print("assumed", c.access_key, c.secret_key, c.session_token)
local me = assert(require("relrun.aws.sts").client{ credentials = p }:get_caller_identity())
print(me.arn)
local bad = require("relrun.aws.sts").client{ credentials = require("relrun.aws.credentials").static(
  c.access_key, "wrong", c.session_token) }
io.stderr:write(select(2, bad:get_caller_identity()), "\n")
error("failing on purpose: " .. c.secret_key)
]])
    local code, out = R.run({ os.getenv("RELRUN") or "build/relrun", script }, env{
      RELRUN_HTTP_TRACE = "1", AWS_PROFILE = "release", AWS_ACCESS_KEY_ID = false, AWS_SECRET_ACCESS_KEY = false,
      AWS_CONFIG_FILE = dir .. "/config", AWS_SHARED_CREDENTIALS_FILE = dir .. "/credentials" })
    ok(code ~= 0, "the script fails on purpose")
    contains(out, "http > POST", "tracing was on")
    contains(out, "assumed-role/release", "the script ran")
    local leaked = { SECRET, AKID }
    for line in R.read(secrets_file):gmatch("[^\n]+") do
      ok(#line >= 16 and not line:find("*", 1, true), "real secret captured")
      leaked[#leaked + 1] = line
    end
    eq(#leaked, 5)
    for _, s in ipairs(leaked) do ok(not out:find(s, 1, true), "a secret leaked into the output") end
  end)
end)
