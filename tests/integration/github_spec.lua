-- relrun.github against the GitHub API fake (tests/fakes/github.py): CI
-- status, releases, assets through upload_url, environments, rate limits,
-- the Actions OIDC token. The fake's JWTs are verified independently with
-- Python's cryptography against its JWKS.
local peer = require "peer"
local github = require "relrun.github"
local http = require "relrun.http"
local json = require "relrun.json"
local fs = require "relrun.fs"
local hash = require "relrun.hash"
local proc = require "relrun.proc"

local TOKEN = "ghs_testtoken0123456789"
local REQUEST_TOKEN = "actions-request-token-0123456789"

local server
local function control(path, body)
  local resp = assert(http.request{ method = body and "POST" or "GET", url = server.url .. path,
                                    body = body and json.encode(body) or nil })
  assert(resp.status == 200, resp.body)
  return json.decode(resp.body)
end

local function client(opts)
  opts = opts or {}
  return assert(github.new{ api_url = server.url, token = opts.token or TOKEN,
                            repository = "acme/stock-pipeline", sleep = opts.sleep })
end

describe("github", function()
  -- Debian's interpreter: the fake opens secrets with its python3-nacl.
  server = peer.start{ argv = { "/usr/bin/python3", "tests/fakes/github.py", "--port-file", peer.PORT_FILE,
                                "--token", TOKEN, "--request-token", REQUEST_TOKEN } }
  local tmp = fs.tempdir("gh")

  it("finds the repository in an origin URL of any form", function()
    eq(github.repository_from_url("https://github.com/acme/stock-pipeline.git"), "acme/stock-pipeline")
    eq(github.repository_from_url("git@github.com:acme/stock-pipeline.git"), "acme/stock-pipeline")
    eq(github.repository_from_url("ssh://git@github.com/acme/stock-pipeline"), "acme/stock-pipeline")
    eq(github.repository_from_url("/srv/git/x"), nil)
  end)

  it("reports CI green, pending and failing by name", function()
    local gh = client()
    control("/__state", {
      statuses = { aaa = { { context = "lint", state = "success" } },
                   bbb = { { context = "lint", state = "pending" } } },
      check_runs = { aaa = { { name = "test", status = "completed", conclusion = "success" } },
                     bbb = { { name = "test", status = "completed", conclusion = "failure" },
                             { name = "build", status = "in_progress" } } } })
    local green = assert(gh:ci_status("aaa"))
    eq(green.state, "success")
    eq(green.total, 2)
    local red = assert(gh:ci_status("bbb"))
    eq(red.state, "failure")
    eq(red.failing, { "test (failure)" })
    eq(red.pending, { "lint", "build" })
    eq(assert(gh:ci_status("ccc")).state, "none")
  end)

  it("follows pagination", function()
    local runs = {}
    for i = 1, 230 do runs[i] = { name = "check-" .. i, status = "completed", conclusion = "success" } end
    control("/__state", { check_runs = { ddd = runs } })
    local got = assert(client():paginate("/repos/acme/stock-pipeline/commits/ddd/check-runs", { key = "check_runs" }))
    eq(#got, 230)
    eq(got[230].name, "check-230")
  end)

  it("creates a release once and reuses it", function()
    local gh = client()
    local rel, how = gh:ensure_release{ tag = "v1.0.0", body = "- first" }
    eq(how, "created")
    local again, how2 = gh:ensure_release{ tag = "v1.0.0" }
    eq(how2, "existing")
    eq(again.id, rel.id)
    eq(gh:release_by_tag("v9.9.9"), false)
  end)

  it("uploads assets at upload_url, skips identical ones, refuses different ones", function()
    local gh = client()
    local rel = assert(gh:release_by_tag("v1.0.0"))
    ok(not rel.upload_url:find(server.url, 1, true), "upload_url is another host, as on github.com")
    local file = fs.join(tmp.path, "stock_pipeline-1.0.0-py3-none-any.whl")
    fs.write(file, string.rep("wheel bytes ", 5000))
    local asset, how = gh:upload_asset(rel, file)
    eq(how, "uploaded")
    eq(asset.size, 60000)
    local _, how2 = gh:upload_asset(rel, file)
    eq(how2, "identical")
    local state = control("/__state")
    eq(state.assets[1].digest, "sha256:" .. hash.file(file, { "sha256" }).sha256)
    fs.write(file, "other bytes")
    local none, err = gh:upload_asset(rel, file)
    eq(none, nil)
    contains(err.message, "already has a different stock_pipeline-1.0.0-py3-none-any.whl")
    eq(#assert(gh:list_assets(rel.id)), 1)
  end)

  -- GitHub sends an asset's bytes from another host: the download follows
  -- the redirect without the token (relrun.http never forwards credentials
  -- to another origin), and streams to a file.
  it("downloads an asset without a digest through GitHub's redirect, the token not forwarded", function()
    local gh = client()
    local rel = assert(gh:release_by_tag("v1.0.0"))
    control("/__state", { no_digest = true, download_auth = json.empty_array })
    local asset = assert(gh:list_assets(rel.id))[1]
    local sha, err = gh:asset_sha256(asset)
    control("/__state", { no_digest = false })
    eq(asset.digest, json.null)
    eq({ sha, err }, { hash.sha256(string.rep("wheel bytes ", 5000)) }, "the asset uploaded above")
    eq(control("/__state").download_auth, { "-" }, "the storage host got no Authorization")
  end)

  it("clears a failed upload's leftover and uploads again, in the same call and on a rerun", function()
    local gh = client()
    local rel = assert(gh:ensure_release{ tag = "v3.0.0" })
    local file = fs.join(tmp.path, "stock-pipeline-3.0.0.tar.gz")
    fs.write(file, string.rep("sdist bytes ", 1000))
    local sha = hash.file(file, { "sha256" }).sha256
    -- GitHub answers 502 and keeps a "starter" asset holding the name
    control("/__fault", { status = 502, starter = true, server = "uploads" })
    local asset, how = gh:upload_asset(rel, file)
    eq(how, "uploaded")
    eq(asset.state, "uploaded")
    local assets = assert(gh:list_assets(rel.id))
    eq(#assets, 1, "the leftover was deleted")
    eq({ assets[1].name, assets[1].state, assets[1].digest }, { "stock-pipeline-3.0.0.tar.gz", "uploaded", "sha256:" .. sha })
    -- it fails twice: this call gives up and says why ...
    local wheel = fs.join(tmp.path, "stock_pipeline-3.0.0-py3-none-any.whl")
    fs.write(wheel, string.rep("wheel bytes ", 1000))
    control("/__fault", { status = 502, starter = true, server = "uploads", count = 2 })
    local none, err = gh:upload_asset(rel, wheel)
    eq(none, nil)
    eq(err.status, 502)
    contains(err.message, "Server Error")
    local left = {}
    for _, a in ipairs(assert(gh:list_assets(rel.id))) do left[a.name] = a.state end
    eq(left["stock_pipeline-3.0.0-py3-none-any.whl"], "starter")
    ok(not github.asset_complete({ state = "starter" }))
    -- ... and the rerun clears the leftover
    local _, how2 = gh:upload_asset(rel, wheel)
    eq(how2, "uploaded")
    eq(#assert(gh:list_assets(rel.id)), 2)
    local _, how3 = gh:upload_asset(rel, wheel)
    eq(how3, "identical")
  end)

  it("deletes releases and assets", function()
    local gh = client()
    local rel = assert(gh:ensure_release{ tag = "v2.0.0" })
    local file = fs.join(tmp.path, "a.txt")
    fs.write(file, "x")
    local asset = assert(gh:upload_asset(rel, file))
    ok(gh:delete_asset(asset.id))
    eq(#gh:list_assets(rel.id), 0)
    ok(gh:delete_release(rel.id))
    eq(gh:release_by_tag("v2.0.0"), false)
  end)

  it("says what a wrong token is", function()
    local none, err = client{ token = "ghs_wrong_token_value" }:release_by_tag("v1.0.0")
    eq(none, nil)
    eq(err.status, 401)
    contains(err.message, "Bad credentials")
    contains(err.message, "check GITHUB_TOKEN")
  end)

  it("waits out rate limits (primary and secondary)", function()
    local slept = {}
    local gh = client{ sleep = function(s) slept[#slept + 1] = s end }
    control("/__fault", { status = 403, rate_limited = true, reset_in = 0 })
    control("/__fault", { status = 429, retry_after = 2 })
    ok(gh:release_by_tag("v1.0.0"))
    eq(#slept, 2)
    eq(slept[2], 2)
  end)

  it("manages environments", function()
    local gh = client()
    eq(gh:environment("production"), false)
    ok(gh:put_environment("production", { reviewers = { { type = "User", id = 1 } }, tags_only = true }))
    local env = assert(gh:environment("production"))
    eq(env.protection_rules[1].type, "required_reviewers")
    ok(gh:add_deployment_branch_policy("production", "v*", "tag"))
    ok(gh:add_deployment_branch_policy("production", "v*", "tag"))   -- GitHub's 303: already there
    local rules = assert(gh:deployment_branch_policies("production"))
    eq(#rules, 1)
    eq(rules[1].type, "tag")
  end)

  it("sets secrets sealed to the repository's key, and variables; resolves users", function()
    local gh = client()
    eq(gh:secret("AWS_REGION"), false)
    eq(assert(gh:put_secret("AWS_REGION", "us-east-1")), "created")
    local key = assert(gh:secrets_public_key())
    eq(assert(gh:put_secret("AWS_REGION", "eu-west-1", key)), "updated")
    eq(control("/__state").secrets.AWS_REGION.value, "eu-west-1")   -- opened by the fake with PyNaCl
    eq(assert(gh:secret("AWS_REGION")).name, "AWS_REGION")
    local bad, err = gh:put_secret("X", "v", { key_id = key.key_id, key = "c2hvcnQ=" })
    eq(bad, nil)
    contains(err.message, "not 32 bytes")
    eq(gh:variable("S3_WHEELS_BUCKET"), false)
    eq(assert(gh:set_variable("S3_WHEELS_BUCKET", "a")), "created")
    eq(assert(gh:set_variable("S3_WHEELS_BUCKET", "b")), "updated")
    eq(assert(gh:variable("S3_WHEELS_BUCKET")).value, "b")
    eq(assert(gh:user("octocat")).id, 1)
    eq(gh:user("no-such-user-here"), false)
  end)

  it("gets an Actions OIDC token whose RS256 signature verifies", function()
    local saved_url, saved_token = fs.getenv("ACTIONS_ID_TOKEN_REQUEST_URL"), fs.getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    fs.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", server.url .. "/oidc/token?api-version=2.0")
    fs.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN)
    local jwt = assert(github.oidc_token("sts.amazonaws.com"))
    fs.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", saved_url)
    fs.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", saved_token)
    local claims = assert(github.jwt_claims(jwt))
    eq(claims.aud, "sts.amazonaws.com")
    eq(claims.sub, "repo:acme/stock-pipeline:ref:refs/tags/v1.0.0")
    eq(claims.iss, "https://token.actions.githubusercontent.com")
    local verify = [[
import base64, json, sys, urllib.request
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
def d(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
jwt = sys.stdin.read().strip()
h, p, s = jwt.split(".")
key = json.load(urllib.request.urlopen(sys.argv[1] + "/oidc/jwks"))["keys"][0]
pub = rsa.RSAPublicNumbers(int.from_bytes(d(key["e"]), "big"), int.from_bytes(d(key["n"]), "big")).public_key()
pub.verify(d(s), (h + "." + p).encode(), padding.PKCS1v15(), hashes.SHA256())
print("verified", json.loads(d(h))["alg"])
]]
    local r = assert(proc.run{ argv = { "python3", "-c", verify, server.url }, stdin = jwt })
    eq(r.stdout, "verified RS256\n", r.stderr)
  end)

  it("explains a job without id-token permission", function()
    local saved = fs.getenv("ACTIONS_ID_TOKEN_REQUEST_URL")
    fs.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", nil)
    local none, err = github.oidc_token()
    fs.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", saved)
    eq(none, nil)
    contains(err.message, "id-token: write")
  end)

  it("shuts the fake down", function()
    tmp:close()
    server:stop()
    ok(server.pid == nil)
  end)
end)
