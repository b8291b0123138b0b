-- relrun.aws.config: the shared files, profile, region and endpoint rules.
local config = require "relrun.aws.config"
local R = require "aws_run"

local dir = R.tempdir()
local _ <close> = setmetatable({}, { __close = function() R.rmdir(dir) end })

local function files(cfg, creds)
  local c, k = dir .. "/config", dir .. "/credentials"
  R.write(c, cfg or "")
  R.write(k, creds or "")
  return { AWS_CONFIG_FILE = c, AWS_SHARED_CREDENTIALS_FILE = k, HOME = dir }
end

describe("parse", function()
  it("reads sections, comments, both separators and nested keys", function()
    local t = assert(config.parse(table.concat({
      "# comment", "; another", "[default]", "region = eu-west-1", "output: json",
      "s3 =", "  max_concurrent_requests = 4", "  addressing_style = path",
      "[profile dev]", "role_arn=arn:aws:iam::1:role/r", "", "[services local]", "sts =",
      "  endpoint_url = http://127.0.0.1:5000",
    }, "\n"), "cfg"))
    eq(t.default.region, "eu-west-1")
    eq(t.default.output, "json")
    eq(t.default.s3, { max_concurrent_requests = "4", addressing_style = "path" })
    eq(t["profile dev"].role_arn, "arn:aws:iam::1:role/r")
    eq(t["services local"].sts.endpoint_url, "http://127.0.0.1:5000")
  end)

  it("names the file and line of a malformed entry", function()
    local t, err = config.parse("[default]\nregion = x\nthis is not a setting\n", "/home/u/.aws/config")
    eq(t, nil)
    contains(err, "/home/u/.aws/config line 3")
    t, err = config.parse("aws_access_key_id = AKID\n[default]\n", "/c")
    eq(t, nil)
    contains(err, "/c line 1")
    contains(err, "before any [section]")
    t, err = config.parse("[default\nx=1\n", "/c")
    eq(t, nil)
    contains(err, "malformed section header")
  end)
end)

describe("profiles", function()
  it("merges the credentials file over the config file", function()
    local env = files("[profile dev]\nregion = us-west-2\naws_access_key_id = FROMCONFIG\n",
      "[dev]\naws_access_key_id = FROMCREDS\naws_secret_access_key = s\n")
    env.AWS_PROFILE = "dev"
    local p = assert(config.profile(env))
    eq(p.aws_access_key_id, "FROMCREDS")
    eq(p.region, "us-west-2")
  end)

  it("ignores a config section without the profile prefix, as botocore does", function()
    local env = files("[dev]\nregion = us-west-2\n")
    env.AWS_PROFILE = "dev"
    local p, err, code = config.profile(env)
    eq(p, nil)
    eq(code, "PROFILE_NOT_FOUND")
    contains(err, "AWS_PROFILE")
  end)

  it("fails on a malformed credentials file naming it", function()
    local env = files("", "[default]\naws_access_key_id AKID\n")
    local p, err, code = config.profile(env)
    eq(p, nil)
    eq(code, "CONFIG")
    contains(err, dir .. "/credentials line 2")
  end)

  it("treats missing files as empty", function()
    local p = assert(config.profile{ AWS_CONFIG_FILE = dir .. "/none", AWS_SHARED_CREDENTIALS_FILE = dir .. "/none" })
    eq(next(p), nil)
  end)
end)

describe("region", function()
  it("takes AWS_REGION, then AWS_DEFAULT_REGION, then the profile", function()
    local env = files("[default]\nregion = ap-south-1\n")
    eq(config.region(env), "ap-south-1")
    env.AWS_DEFAULT_REGION = "eu-central-1"
    eq(config.region(env), "eu-central-1")
    env.AWS_REGION = "us-east-2"
    local r, src = config.region(env)
    eq(r, "us-east-2")
    eq(src, "AWS_REGION")
  end)

  it("says how to set one when there is none", function()
    local r, err, code = config.region(files(""))
    eq(r, nil)
    eq(code, "NO_REGION")
    contains(err, "AWS_REGION")
  end)
end)

describe("endpoint", function()
  it("follows the service variable, the global variable, the profile, the default", function()
    local env = files("[default]\nendpoint_url = http://127.0.0.1:7000\nservices = local\n" ..
      "[services local]\ncodeartifact =\n  endpoint_url = http://127.0.0.1:7001\n")
    eq(config.endpoint("codeartifact", "us-east-1", env), "http://127.0.0.1:7001")
    eq(config.endpoint("sts", "us-east-1", env), "http://127.0.0.1:7000")
    env.AWS_ENDPOINT_URL = "http://127.0.0.1:7002/"
    eq(config.endpoint("sts", "us-east-1", env), "http://127.0.0.1:7002")
    env.AWS_ENDPOINT_URL_STS = "http://localhost:7003"
    local url, src = config.endpoint("sts", "us-east-1", env)
    eq(url, "http://localhost:7003")
    eq(src, "AWS_ENDPOINT_URL_STS")
    eq(config.endpoint("s3", "eu-west-1", files("")), "https://s3.eu-west-1.amazonaws.com")
    eq(config.endpoint("iam", "eu-west-1", files(""), { global = "https://iam.amazonaws.com" }),
      "https://iam.amazonaws.com")
  end)

  it("refuses something that is not a URL, naming the variable", function()
    local env = files("")
    env.AWS_ENDPOINT_URL_CODEARTIFACT = "127.0.0.1:9000"
    local url, err, code = config.endpoint("codeartifact", "us-east-1", env)
    eq(url, nil)
    eq(code, "BAD_ENDPOINT")
    contains(err, "AWS_ENDPOINT_URL_CODEARTIFACT is not a URL")
    env.AWS_ENDPOINT_URL_CODEARTIFACT = "ftp://x"
    eq((config.endpoint("codeartifact", "us-east-1", env)), nil)
    env.AWS_ENDPOINT_URL_CODEARTIFACT = "http://"
    eq((config.endpoint("codeartifact", "us-east-1", env)), nil)
  end)
end)
