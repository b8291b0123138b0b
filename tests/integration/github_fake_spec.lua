-- The GitHub fake (tests/fakes/github.py) against GitHub's documented
-- responses (tests/fakes/github_shapes.json says where each comes from), and
-- its secrets against a real client: PyNaCl sealing a value exactly as
-- GitHub's "Encrypting secrets for the REST API" example does, which the
-- fake must open.
local peer = require "peer"
local http = require "relrun.http"
local json = require "relrun.json"
local fs = require "relrun.fs"
local proc = require "relrun.proc"

local TOKEN = "ghs_testtoken0123456789"
local REPO = "acme/stock-pipeline"
-- Debian's interpreter: python3-nacl (the fake's secrets) is installed for it.
local PYTHON = "/usr/bin/python3"

local server

local function api(method, path, body, follow)
  local res = assert(http.request{ method = method, url = server.url .. path, follow_redirects = follow,
    headers = { authorization = "Bearer " .. TOKEN, accept = "application/vnd.github+json",
                ["content-type"] = body and "application/json" or nil },
    body = body and json.encode(body) or nil })
  return res.status, res.body ~= "" and json.decode(res.body) or nil, res
end

local function state()
  local res = assert(http.request{ url = server.url .. "/__state" })
  return json.decode(res.body)
end

-- A sealed box for the fake's public key, made by PyNaCl the way GitHub's
-- documentation shows (public.SealedBox(PublicKey(key, Base64Encoder)).encrypt).
local function pynacl_seal(key, value)
  local r = assert(proc.run{ argv = { PYTHON, "-c", [[
import sys
from base64 import b64encode
from nacl import encoding, public
public_key = public.PublicKey(sys.argv[1].encode("utf-8"), encoding.Base64Encoder())
sealed_box = public.SealedBox(public_key)
print(b64encode(sealed_box.encrypt(sys.argv[2].encode("utf-8"))).decode("utf-8"))]], key, value } })
  assert(r.code == 0, r.stderr)
  return (r.stdout:gsub("%s+$", ""))
end

local function json_type(v)
  if v == nil or v == json.null then return "null" end
  local t = type(v)
  if t == "table" then return (v[1] ~= nil or next(v) == nil) and "array-or-object" or "object" end
  if t == "number" then return math.type(v) == "integer" and "integer" or "number" end
  return t
end

-- Every required key is there, and every key of the example has the
-- example's JSON type (a documented nullable may be null).
local function check_shape(where, got, example, required, nullable)
  ok(type(got) == "table", where .. ": the answer is not a JSON object")
  for _, k in ipairs(required or {}) do
    ok(got[k] ~= nil, where .. ": required key " .. k .. " is missing")
  end
  local may_be_null = {}
  for _, k in ipairs(nullable or {}) do may_be_null[k] = true end
  for k, v in pairs(example or {}) do
    local have, want = json_type(got[k]), json_type(v)
    if got[k] ~= nil and not (may_be_null[k] and have == "null") and want ~= "array-or-object" then
      eq(have, want, where .. ": type of " .. k)
    end
  end
end

describe("the GitHub fake", function()
  server = peer.start{ argv = { PYTHON, "tests/fakes/github.py", "--port-file", peer.PORT_FILE,
                                "--token", TOKEN, "--repository", REPO } }
  local shapes = json.decode(assert(fs.read("tests/fakes/github_shapes.json")))
  local by_name = {}
  for _, e in ipairs(shapes.endpoints) do by_name[e.name] = e end

  it("answers each endpoint setup and watch use with GitHub's documented status and shape", function()
    local key
    -- a workflow run for the run endpoints, read once so that it is under way
    local sha = string.rep("ab", 20)
    local res = assert(http.request{ method = "POST", url = server.url .. "/__run", body = json.encode{
      head_sha = sha, head_branch = "v1.0.0",
      jobs = { { name = "release", steps = { { name = "Set up job" }, { name = "Publish" } } } } } })
    local run = json.decode(res.body)
    api("GET", "/repos/" .. REPO .. "/actions/runs/" .. run.id .. "/jobs")
    for _, e in ipairs(shapes.endpoints) do
      local path = e.path:gsub("{repo}", REPO):gsub("{head_sha}", sha):gsub("{run_id}", run.id)
        :gsub("{job_id}", run.jobs[1])
      local body = e.body
      if body == "sealed" then
        body = { encrypted_value = pynacl_seal(key.key, "shape check"), key_id = key.key_id }
      end
      local status, data, raw = api(e.method, path, body, not e.redirect and nil or false)
      eq(status, e.status, e.name .. ": " .. json.encode(data or {}))
      if e.redirect then
        -- to another origin, which answers without the token
        local where = raw.headers.location
        ok(where and not where:find(server.url, 1, true), e.name .. ": Location " .. tostring(where))
        local got = assert(http.request{ url = where })
        eq(got.status, 200, e.name .. ": the download")
        contains(got.headers["content-type"], e.redirect)
      elseif e.status == 204 then
        eq(data, nil, e.name .. " has no body")
      else
        local example = e.example or (e.same_example_as and by_name[e.same_example_as].example)
        check_shape(e.name, data, example, e.required, e.nullable)
        if e.items then
          ok(#data[e.items] > 0, e.name .. ": no " .. e.items)
          for _, item in ipairs(data[e.items]) do
            check_shape(e.name .. " " .. e.items, item, example[e.items][1], e.item_required, e.item_nullable)
            for _, step in ipairs(item.steps or {}) do
              check_shape(e.name .. " step", step, example[e.items][1].steps[1], { "name", "status", "number" },
                { "conclusion", "started_at", "completed_at" })
            end
          end
        end
      end
      if e.name == "Get a repository public key" then key = data end
    end
    -- The reviewer rule carries the user as GitHub's example does.
    local _, env = api("GET", "/repos/" .. REPO .. "/environments/staging")
    local documented = by_name["Create or update an environment"].example.protection_rules[2]
    local rule
    for _, r in ipairs(env.protection_rules) do if r.type == "required_reviewers" then rule = r end end
    ok(rule, "no required_reviewers rule")
    check_shape("required_reviewers rule", rule, documented, { "id", "node_id", "type" })
    check_shape("reviewer", rule.reviewers[1].reviewer, documented.reviewers[1].reviewer,
      by_name["Get a user"].required and { "login", "id", "type" })
    eq(rule.reviewers[1].reviewer.login, "octocat")
    -- The public key is 32 bytes of base64, the key_id a string of digits.
    eq(#require("relrun.hash").base64_decode(key.key), 32)
    ok(key.key_id:match("^%d+$"), "key_id " .. key.key_id)
  end)

  it("opens what PyNaCl seals as GitHub documents it, and refuses what it cannot open", function()
    local _, key = api("GET", "/repos/" .. REPO .. "/actions/secrets/public-key")
    local status = api("PUT", "/repos/" .. REPO .. "/actions/secrets/AWS_REGION",
      { encrypted_value = pynacl_seal(key.key, "eu-west-1"), key_id = key.key_id })
    eq(status, 201)
    eq(state().secrets.AWS_REGION.value, "eu-west-1")
    -- Listing and reading a secret never shows the value.
    local _, one = api("GET", "/repos/" .. REPO .. "/actions/secrets/AWS_REGION")
    eq(one.value, nil)
    eq(one.name, "AWS_REGION")
    -- Garbage, or a box for the right key with the wrong key_id, is refused.
    status = api("PUT", "/repos/" .. REPO .. "/actions/secrets/AWS_REGION",
      { encrypted_value = "bm90IGEgYm94", key_id = key.key_id })
    eq(status, 422)
    status = api("PUT", "/repos/" .. REPO .. "/actions/secrets/AWS_REGION",
      { encrypted_value = pynacl_seal(key.key, "x"), key_id = "1" })
    eq(status, 422)
    eq(state().secrets.AWS_REGION.value, "eu-west-1")
  end)

  it("refuses a reviewer who is not a user, and knows users case-insensitively", function()
    local status = api("PUT", "/repos/" .. REPO .. "/environments/production",
      { reviewers = { { type = "User", id = 99999 } } })
    eq(status, 422)
    local s, user = api("GET", "/users/OctoCat")
    eq(s, 200)
    eq(user.login, "octocat")
    eq(user.id, 1)
    eq((api("GET", "/users/nobody-here")), 404)
  end)

  it("keeps tag rules while the environment uses custom policies, and drops them when it stops", function()
    local base = "/repos/" .. REPO .. "/environments/prod2"
    api("PUT", base, { deployment_branch_policy = { protected_branches = false, custom_branch_policies = true } })
    eq((api("POST", base .. "/deployment-branch-policies", { name = "v*", type = "tag" })), 200)
    eq((api("POST", base .. "/deployment-branch-policies", { name = "v*", type = "tag" })), 303)   -- already there
    api("PUT", base, { reviewers = { { type = "User", id = 2 } },
                       deployment_branch_policy = { protected_branches = false, custom_branch_policies = true } })
    local _, list = api("GET", base .. "/deployment-branch-policies")
    eq(list.total_count, 1)
    api("PUT", base, { deployment_branch_policy = json.null })
    _, list = api("GET", base .. "/deployment-branch-policies")
    eq(list.total_count, 0)
  end)

  server:stop()
end)
