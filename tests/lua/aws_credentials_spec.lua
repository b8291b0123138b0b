-- relrun.aws.credentials: which source wins, what a broken source says, and
-- when temporary credentials are fetched again. (The STS round trips are in
-- tests/integration/aws_moto_spec.lua.)
local credentials = require "relrun.aws.credentials"
local core = require "relrun.aws.core"
local R = require "aws_run"

local dir = R.tempdir()
local _ <close> = setmetatable({}, { __close = function() R.rmdir(dir) end })

-- An environment with no AWS settings but these.
local function env(t)
  local e = { HOME = dir, AWS_CONFIG_FILE = dir .. "/none", AWS_SHARED_CREDENTIALS_FILE = dir .. "/none",
              AWS_EC2_METADATA_DISABLED = "true" }
  for k, v in pairs(t or {}) do e[k] = v end
  return e
end

describe("resolve", function()
  it("takes the environment keys first", function()
    local cfg = dir .. "/creds1"
    R.write(cfg, "[default]\naws_access_key_id = FROMFILE\naws_secret_access_key = s\n")
    local p = assert(credentials.resolve{ env = env{ AWS_ACCESS_KEY_ID = "AKIDENV", AWS_SECRET_ACCESS_KEY = "sk",
                                                    AWS_SESSION_TOKEN = "tok", AWS_SHARED_CREDENTIALS_FILE = cfg } })
    local c = assert(p:get())
    eq({ c.access_key, c.secret_key, c.session_token }, { "AKIDENV", "sk", "tok" })
  end)

  it("says which half of a key pair is missing", function()
    local p, err, code = credentials.resolve{ env = env{ AWS_ACCESS_KEY_ID = "AKIDENV" } }
    eq(p, nil)
    eq(code, "CREDENTIALS")
    contains(err, "AWS_SECRET_ACCESS_KEY is not")
  end)

  it("refuses expired environment credentials, naming where they came from", function()
    local p = assert(credentials.resolve{ env = env{ AWS_ACCESS_KEY_ID = "AKIDOLD", AWS_SECRET_ACCESS_KEY = "sk",
      AWS_SESSION_TOKEN = "tok", AWS_CREDENTIAL_EXPIRATION = "2020-01-01T00:00:00Z" } })
    local c, err, code = p:get()
    eq(c, nil)
    eq(code, "ExpiredToken")
    contains(err, "environment")
    contains(err, "2020-01-01T00:00:00Z")
  end)

  it("reads a profile's static keys from the credentials file", function()
    local creds = dir .. "/creds2"
    R.write(creds, "[release]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = psk\n")
    local p = assert(credentials.resolve{ env = env{ AWS_PROFILE = "release", AWS_SHARED_CREDENTIALS_FILE = creds } })
    eq(p:get().access_key, "AKIDPROFILE")
    contains(p.source, "profile release")
  end)

  it("names the file of a malformed credentials file", function()
    local creds = dir .. "/creds3"
    R.write(creds, "[default]\naws_access_key_id: AKID\ngarbage line\n")
    local p, err = credentials.resolve{ env = env{ AWS_SHARED_CREDENTIALS_FILE = creds } }
    eq(p, nil)
    contains(err, creds .. " line 3")
  end)

  it("names a role's missing source profile", function()
    local cfg = dir .. "/config4"
    R.write(cfg, "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/r\nsource_profile = nope\n")
    local p, err = credentials.resolve{ env = env{ AWS_PROFILE = "deploy", AWS_CONFIG_FILE = cfg } }
    eq(p, nil)
    contains(err, 'source_profile "nope" of profile deploy')
  end)

  it("names a missing web identity token file when it fetches", function()
    local p = assert(credentials.resolve{ env = env{ AWS_WEB_IDENTITY_TOKEN_FILE = dir .. "/no-token",
                                                    AWS_ROLE_ARN = "arn:aws:iam::123456789012:role/r" } })
    local c, err, code = p:get()
    eq(c, nil)
    eq(code, "ENOENT")
    contains(err, "AWS_WEB_IDENTITY_TOKEN_FILE " .. dir .. "/no-token")
  end)

  it("needs AWS_ROLE_ARN with a token file", function()
    local p, err = credentials.resolve{ env = env{ AWS_WEB_IDENTITY_TOKEN_FILE = dir .. "/t" } }
    eq(p, nil)
    contains(err, "AWS_ROLE_ARN")
  end)

  it("says where it looked when there is nothing", function()
    local p, err, code = credentials.resolve{ env = env{} }
    eq(p, nil)
    eq(code, "NoCredentials")
    contains(err, "AWS_ACCESS_KEY_ID")
    contains(err, "GitHub OIDC")
  end)
end)

describe("credential_process", function()
  local function with_process(script_text, args)
    local prog = dir .. "/cred helper.sh"
    R.write(prog, "#!/bin/sh\n" .. script_text)
    os.execute("chmod +x " .. R.quote(prog))
    local cfg = dir .. "/config-proc"
    R.write(cfg, "[profile proc]\ncredential_process = \"" .. prog .. "\" " .. (args or "") .. "\n")
    return assert(credentials.resolve{ env = env{ AWS_PROFILE = "proc", AWS_CONFIG_FILE = cfg } })
  end

  it("runs the command without a shell and reads its JSON", function()
    local p = with_process([[printf '{"Version": 1, "AccessKeyId": "AKIDPROC%s", "SecretAccessKey": "proc-secret",
"SessionToken": "proc-token", "Expiration": "2999-01-01T00:00:00Z"}' "$1"]], "'x y'")
    local c = assert(p:get())
    eq(c.access_key, "AKIDPROCx y")
    eq(c.session_token, "proc-token")
    eq(c.expiration, core.parse_iso8601("2999-01-01T00:00:00Z"))
  end)

  it("reports a failing command with its stderr, and expired output", function()
    local c, err = with_process("echo 'sso session expired' >&2; exit 3"):get()
    eq(c, nil)
    contains(err, "credential_process of profile proc")
    contains(err, "exited with 3: sso session expired")
    c, err = with_process([[echo '{"Version": 1, "AccessKeyId": "AKIDPROCOLD", "SecretAccessKey": "proc-secret",
"SessionToken": "old-token", "Expiration": "2001-01-01T00:00:00Z"}']]):get()
    eq(c, nil)
    contains(err, "expired at 2001-01-01T00:00:00Z")
  end)
end)

describe("refresh", function()
  local function counting(lifetime)
    local n = 0
    local p = credentials.provider("test", function()
      n = n + 1
      if n > 1 and lifetime.fail then return nil, "refresh failed", "X" end
      return { access_key = "A" .. n, secret_key = "s", expiration = core.now() + lifetime.seconds }
    end)
    return p, function() return n end
  end

  it("keeps credentials with more than 15 minutes left", function()
    local p, n = counting{ seconds = 3600 }
    assert(p:get()); assert(p:get())
    eq(n(), 1)
  end)

  it("tries again in the advisory window and keeps the old ones if that fails", function()
    local p, n = counting{ seconds = 12 * 60, fail = true }
    eq(p:get().access_key, "A1")
    eq(p:get().access_key, "A1")   -- 12 min left: advisory refresh failed, old kept
    eq(n(), 2)
  end)

  it("must fetch again with less than 10 minutes left", function()
    local p, n = counting{ seconds = 5 * 60, fail = true }
    eq(p:get().access_key, "A1")
    local c, err = p:get()
    eq(c, nil)
    eq(err, "refresh failed")
    eq(n(), 2)
  end)
end)

describe("shell_split", function()
  it("splits like a POSIX shell without running one", function()
    eq(credentials.shell_split([[/bin/helper --profile "my prof" 'a b' c\ d ""]]),
      { "/bin/helper", "--profile", "my prof", "a b", "c d", "" })
    eq((credentials.shell_split([[cmd "open]])), nil)
  end)
end)
