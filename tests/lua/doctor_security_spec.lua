-- relrun.doctor.security's history scan: grep's prefilter (what reaches
-- Lua) must admit every added line the credential patterns find something
-- in, and nothing of the prose around them (pydantic's docs say "secret" in
-- every version of a multi-megabyte search index).
local security = require "relrun.doctor.security"
local proc = require "relrun.proc"

-- The lines of `text` that grep -E PREFILTER admits, as git log -p would
-- hand them (added lines start with "+").
local function admitted(lines)
  local input = {}
  for _, l in ipairs(lines) do input[#input + 1] = "+" .. l end
  local r = assert(proc.run{ argv = { "grep", "-aE", security.PREFILTER }, env = { LC_ALL = "C" },
                             stdin = table.concat(input, "\n") .. "\n" })
  local out = {}
  for line in r.stdout:gmatch("[^\n]+") do out[line:sub(2)] = true end
  return out
end

local FOUND = {
  "aws_access_key_id = AKIA" .. "Q3EGRV7ZLMNX2JHK",
  "key: ASIA" .. "ABCDEFGHIJKLMNOP,",
  "aws_secret_access_key = u7Vb2kPq9XcR4mTz8LwY1nHs6DfA3gJe5QoK0iBt",
  "SECRET_KEY: 'u7Vb2kPq9XcR4mTz8LwY1nHs6DfA3gJe5QoK0iBt'",
  "\"client_secret\"\t:\t\"u7Vb2kPq9XcR4mTz8LwY1nHs6DfA3gJe5QoK0/+t\"",
  "token = 'ghp_" .. string.rep("Ab3", 12) .. "'",
  "GH=gho_" .. string.rep("x9", 18),
  "github_pat_11ABCDEFG0_abcdefghijklmnop",
  "-----BEGIN RSA PRIVATE KEY-----",
  "-----BEGIN PRIVATE KEY-----",
  string.rep('{"t":"secret handshake"},', 200) .. '{"k":"ghp_' .. string.rep("Zz9", 12) .. '"}',
}

local PROSE = {
  "SecretStr hides a secret: pydantic.types.SecretStr",
  "secret = os.environ['AWS_SECRET_ACCESS_KEY']",
  "def get_secret_value(self) -> str:",
  "ghp_ tokens start with ghp_",
  "AKIA is how a key id starts",
  string.rep('{"title":"secret handshake","text":"<p>no key here</p>"},', 300),
  'SECRET_KEY = "e9515dfe2b6d4c0a8f1e3b7c9d5a2f6e8b4c1d0a"',   -- quart's example app: hex, not AWS's base64
}

describe("relrun.doctor.security prefilter", function()
  it("admits every line the credential patterns find something in", function()
    local got = admitted(FOUND)
    for _, line in ipairs(FOUND) do
      ok(#security.scan_line(line) > 0, "the patterns find something in " .. line:sub(1, 60))
      ok(got[line], "grep admits " .. line:sub(1, 60))
    end
  end)

  it("finds nothing in the prose around credentials, and grep admits little of it", function()
    local got = admitted(PROSE)
    for _, line in ipairs(PROSE) do
      eq(#security.scan_line(line), 0, "nothing to find in " .. line:sub(1, 60))
      -- (a hex key passes grep's stricter-than-nothing filter; Lua then judges it)
      ok(not got[line] or line:find("SECRET_KEY", 1, true), "grep leaves out " .. line:sub(1, 60))
    end
  end)

  it("admits commit and file lines, not context or removed lines", function()
    local r = assert(proc.run{ argv = { "grep", "-aE", security.PREFILTER }, env = { LC_ALL = "C" },
      stdin = "commit " .. string.rep("a1", 20) .. "\n+++ b/settings.ini\n-AKIA" .. "Q3EGRV7ZLMNX2JHK\n" ..
              " AKIA" .. "Q3EGRV7ZLMNX2JHK\n" })
    eq(r.stdout, "commit " .. string.rep("a1", 20) .. "\n+++ b/settings.ini\n")
  end)
end)

describe("relrun.doctor.security test folders", function()
  it("knows the folders real projects keep test keys in", function()
    for _, file in ipairs({ "tests/certs/server.key", "test/x.pem", "t/unit/security/__init__.py",
                            "dummyserver/certs/client_password.key", "src/integration_tests/ca.key",
                            "testdata/key.pem", "spec/fixtures/id_rsa", "Lib/test/certdata/keycert.pem",
                            "examples/tls/key.pem", "pkg/__tests__/k.pem", "docs/usage.rst" }) do
      ok(security.in_tests(file), file)
    end
  end)

  it("does not take other folders for test folders", function()
    for _, file in ipairs({ "deploy.pem", "latest/key.pem", "config/prod.key", "src/pkg/keys/signing.pem",
                            "contest/key.pem", "t.pem" }) do
      ok(not security.in_tests(file), file)
    end
  end)
end)
