-- label: slow (about 20 s of aws cli, twine and pip start-ups; no relrun C code runs here)
-- The CodeArtifact fake checked against the real clients: the image's aws cli
-- v1, Debian's awscli v2, Debian's twine and pip. If the fake drifts from
-- what these clients expect, these specs fail, so relrun's specs against the
-- fake mean something.
local peer = require "peer"
local R = require "aws_run"

local AKID, SECRET = "AKIDFAKECHECK0001", "fake/check+secret/0001"
local ACCOUNT = "111122223333"
local srv, endpoint, dir

local function env(extra)
  local e = { AWS_ACCESS_KEY_ID = AKID, AWS_SECRET_ACCESS_KEY = SECRET, AWS_DEFAULT_REGION = "us-east-1",
              AWS_REGION = false, AWS_PROFILE = false, AWS_SESSION_TOKEN = false,
              AWS_CONFIG_FILE = "/dev/null", AWS_SHARED_CREDENTIALS_FILE = "/dev/null",
              AWS_PAGER = "", AWS_ENDPOINT_URL = false }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

-- aws(cli, args...) -> code, output; cli is "aws" (v1 from PATH) or "/usr/bin/aws" (v2).
local function aws(cli, args, extra_env)
  local argv = { cli, "codeartifact" }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  argv[#argv + 1] = "--endpoint-url"; argv[#argv + 1] = srv.url
  argv[#argv + 1] = "--output"; argv[#argv + 1] = "json"
  return R.run(argv, env(extra_env))
end

local function aws_json(cli, args)
  local code, out = aws(cli, args)
  eq(code, 0, table.concat(args, " ") .. ": " .. out)
  return out
end

-- py(expr_over_d, json_text) -> the printed value of a Python expression over d.
local function py(expr, text)
  local path = dir .. "/doc.json"
  R.write(path, text)
  local code, out = R.run({ "python3", "-c",
    "import json,sys; d=json.load(open(sys.argv[1])); print(" .. expr .. ")", path })
  eq(code, 0, out)
  return (out:gsub("\n$", ""))
end

local function stats(op)
  local s = R.curl("GET", srv.url .. "/__stats")
  return tonumber(py("d['requests'].get('" .. op .. "', 0)", s))
end

local function token()
  local out = aws_json("aws", { "get-authorization-token", "--domain", "demo", "--domain-owner", ACCOUNT })
  return py("d['authorizationToken']", out)
end

local function wheel(name, version, extra, sub)
  local out_dir = dir .. "/" .. (sub or "dist")
  os.execute("mkdir -p " .. R.quote(out_dir))
  local code, out = R.run({ "python3", "tests/support/aws_mkwheel.py", name, version, out_dir, extra or "" })
  eq(code, 0, out)
  return (out:gsub("\n$", ""))
end

local function twine(path, tok)
  return R.run({ "/usr/bin/twine", "upload", "--non-interactive", "--disable-progress-bar",
                 "--repository-url", endpoint, "-u", "aws", "-p", tok, path },
               { TWINE_USERNAME = false, TWINE_PASSWORD = false, TWINE_REPOSITORY_URL = false })
end

local function pip_install(tok, spec, target)
  local url = endpoint:gsub("^http://", "http://aws:" .. tok .. "@") .. "simple/"
  return R.run({ "python3", "-m", "pip", "install", "--no-cache-dir", "--no-deps", "--disable-pip-version-check",
                 "--target", target, "--index-url", url, spec }, { PIP_CONFIG_FILE = "/dev/null" })
end

-- The server lives as long as this file runs; the to-be-closed guard stops it
-- by PID even when a describe block raises.
local _ <close> = setmetatable({}, { __close = function()
  if srv then srv:stop() end
  R.rmdir(dir)
end })

describe("codeartifact fake", function()
  dir = R.tempdir()
  srv = peer.start{ argv = { "python3", "tests/fakes/codeartifact.py", "--port-file", peer.PORT_FILE,
                             "--credentials", AKID .. ":" .. SECRET, "--account", ACCOUNT } }
  aws_json("aws", { "create-domain", "--domain", "demo" })
  aws_json("/usr/bin/aws", { "create-repository", "--domain", "demo", "--repository", "store" })
  endpoint = py("d['repositoryEndpoint']", (aws_json("/usr/bin/aws", { "get-repository-endpoint",
    "--domain", "demo", "--repository", "store", "--format", "pypi" })))

  before_each(function() R.curl("DELETE", srv.url .. "/__fault") end)

  it("answers both aws cli versions with the model's shapes", function()
    for _, cli in ipairs{ "aws", "/usr/bin/aws" } do
      local out = aws_json(cli, { "get-authorization-token", "--domain", "demo", "--domain-owner", ACCOUNT,
                                  "--duration-seconds", "900" })
      ok(#py("d['authorizationToken']", out) > 40, cli .. " token")
      ok(tonumber(py("d['expiration']", out)) or py("d['expiration']", out):match("^%d%d%d%d%-"), cli .. " expiration")
      out = aws_json(cli, { "get-repository-endpoint", "--domain", "demo", "--repository", "store",
                            "--format", "pypi" })
      eq(py("d['repositoryEndpoint']", out), srv.url .. "/d/demo-" .. ACCOUNT .. "/pypi/store/", cli)
      out = aws_json(cli, { "describe-repository", "--domain", "demo", "--repository", "store" })
      eq(py("d['repository']['domainName']", out), "demo")
    end
  end)

  it("refuses a wrong secret and a missing domain with the model's error types", function()
    local code, out = aws("aws", { "describe-domain", "--domain", "demo" }, { AWS_SECRET_ACCESS_KEY = "wrong" })
    ok(code ~= 0, "wrong secret refused")
    contains(out, "InvalidSignatureException")
    code, out = aws("/usr/bin/aws", { "describe-domain", "--domain", "nope" })
    ok(code ~= 0)
    contains(out, "ResourceNotFoundException")
    code, out = aws("aws", { "create-domain", "--domain", "demo" })
    ok(code ~= 0)
    contains(out, "ConflictException")
    code, out = aws("aws", { "get-authorization-token", "--domain", "demo", "--duration-seconds", "60" })
    ok(code ~= 0)
    contains(out, "ValidationException")
  end)

  it("takes a twine upload, accepts an identical re-upload and refuses a different file under the same name", function()
    local tok = token()
    local whl = wheel("relrun-probe", "1.0.0", "one")
    local code, out = twine(whl, tok)
    eq(code, 0, out)
    code, out = twine(whl, tok)
    eq(code, 0, "identical re-upload: " .. out)
    local other = wheel("relrun-probe", "1.0.0", "two", "other")
    code, out = twine(other, tok)
    ok(code ~= 0, "different content refused")
    contains(out, "409")
    code, out = twine(whl, "not-a-token")
    ok(code ~= 0)
    contains(out, "401")
  end)

  it("serves PEP 503 and PEP 691 indexes that pip installs from", function()
    local tok = token()
    local whl = wheel("relrun-index", "2.0.0", "index")
    eq((twine(whl, tok)), 0)
    local auth = "Authorization: Basic " .. py("__import__('base64').b64encode(b'aws:' + d.encode()).decode()",
      string.format("%q", tok))
    local html = R.curl("GET", endpoint .. "simple/relrun-index/", nil, { auth })
    local _, sha = R.run({ "sha256sum", whl })
    contains(html, "#sha256=" .. sha:match("^(%x+)"))
    local js = R.curl("GET", endpoint .. "simple/relrun-index/", nil,
      { auth, "Accept: application/vnd.pypi.simple.v1+json" })
    eq(py("d['files'][0]['hashes']['sha256']", js), sha:match("^(%x+)"))
    local target = dir .. "/site"
    local code, out = pip_install(tok, "relrun-index==2.0.0", target)
    eq(code, 0, out)
    contains(R.read(target .. "/relrun_index/__init__.py"), "EXTRA = 'index'")
    R.curl("POST", srv.url .. "/__expire-tokens")
    code, out = pip_install(tok, "relrun-index==2.0.0", dir .. "/site2")
    ok(code ~= 0, "expired token refused")
    contains(out, "401")
  end)

  it("lists every page and deletes versions, reporting failedVersions", function()
    local tok = token()
    for _, v in ipairs{ "0.1.0", "0.2.0", "0.3.0" } do eq((twine(wheel("relrun-pages", v, v, v), tok)), 0) end
    local before = stats("ListPackageVersions")
    local out = aws_json("aws", { "list-package-versions", "--domain", "demo", "--repository", "store",
                                  "--format", "pypi", "--package", "relrun-pages", "--page-size", "1" })
    eq(py("sorted(v['version'] for v in d['versions'])", out), "['0.1.0', '0.2.0', '0.3.0']")
    eq(stats("ListPackageVersions") - before, 3, "one request per page")
    out = aws_json("/usr/bin/aws", { "delete-package-versions", "--domain", "demo", "--repository", "store",
                                     "--format", "pypi", "--package", "relrun-pages", "--versions", "0.1.0", "9.9.9" })
    eq(py("d['successfulVersions']['0.1.0']['status']", out), "Deleted")
    eq(py("d['failedVersions']['9.9.9']['errorCode']", out), "NOT_FOUND")
  end)

  it("acts out faults that a real client sees and retries", function()
    local before = stats("DescribeDomain")
    R.curl("POST", srv.url .. "/__fault", '{"target":"DescribeDomain","kind":"status","status":503,"times":1}')
    aws_json("aws", { "describe-domain", "--domain", "demo" })
    eq(stats("DescribeDomain") - before, 2, "503 then success")
    before = stats("DescribeDomain")
    R.curl("POST", srv.url .. "/__fault", '{"target":"DescribeDomain","kind":"throttle","retry_after":0,"times":1}')
    aws_json("/usr/bin/aws", { "describe-domain", "--domain", "demo" })
    eq(stats("DescribeDomain") - before, 2, "throttled then success")
    R.curl("POST", srv.url .. "/__fault", '{"target":"DescribeDomain","kind":"garbage","times":5}')
    local code, out = aws("aws", { "describe-domain", "--domain", "demo" })
    -- botocore parses the HTML as an empty document: either way no domain comes back
    ok(code ~= 0 or not out:find('"arn"'), "garbage body gives no domain")
  end)

end)
