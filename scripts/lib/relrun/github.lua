-- relrun.github: the GitHub REST calls a release makes (over relrun.http).
--
--   local gh = assert(github.new())   -- GITHUB_API_URL, GITHUB_TOKEN, GITHUB_REPOSITORY or origin
--   local ci = gh:ci_status(sha)      -- { state, pending = {...}, failing = {...} }
--   local rel = gh:ensure_release{ tag = "v1.2.3", name = "v1.2.3", body = notes }
--   gh:upload_asset(rel, "dist/x.whl")  -- "uploaded" | "identical"; a different file stops
--   gh:put_secret("AWS_REGION", "us-east-1")   -- sealed to the repository's key; "created" | "updated"
--   gh:set_variable("S3_WHEELS_BUCKET", "b")   -- "created" | "updated"
--
-- Failures return nil and a relrun.errors value with `status` (HTTP) and
-- `code` (GitHub's error code, e.g. "already_exists", else GITHUB_<status>);
-- the message is one line with GitHub's own words and what to do.
local errors = require "relrun.errors"
-- libcurl and libcrypto are loaded on the first request or digest, not by
-- a script that only asks whether there is a token (a local release)
local http = require("relrun.util").lazy("relrun.http")
local json = require "relrun.json"
local hash = require("relrun.util").lazy("relrun.hash")
local host = require "relrun.host"

local M = {}
local Client = {}
Client.__index = Client

local USER_AGENT = "relrun/" .. host.version
local MAX_RATE_WAIT = 120   -- seconds we wait for a rate limit to reset before giving up

local function fail(message, status, code)
  return nil, errors.new(code or (status and ("GITHUB_" .. status)) or "GITHUB", message, { status = status })
end

-- "owner/repo" from a git remote URL (https, ssh or scp-like).
function M.repository_from_url(url)
  if type(url) ~= "string" then return nil end
  local path = url:match("^https?://[^/]+/(.+)$") or url:match("^ssh://[^/]+/(.+)$")
    or url:match("^[%w._-]+@[^:]+:(.+)$")
  if not path then return nil end
  path = path:gsub("%.git/?$", ""):gsub("/$", "")
  local owner, repo = path:match("^([^/]+)/([^/]+)$")
  return owner and (owner .. "/" .. repo) or nil
end

-- The GitHub token of this run: GITHUB_TOKEN (Actions), else GH_TOKEN (the
-- gh CLI's), registered as a secret; nil when there is none. The one place
-- relrun reads it.
function M.token()
  for _, name in ipairs({ "GITHUB_TOKEN", "GH_TOKEN" }) do
    local v = os.getenv(name)
    if v and v ~= "" then
      host.secret(v)
      return v, name
    end
  end
  return nil
end

-- opts: api_url, token, repository, repo_dir (to read the origin remote).
function M.new(opts)
  opts = opts or {}
  local token = opts.token or M.token()
  if token and token ~= "" then host.secret(token) else token = nil end
  local repository = opts.repository or os.getenv("GITHUB_REPOSITORY")
  if not repository or repository == "" then
    local ok, git = pcall(require, "relrun.git")
    local repo = ok and git.open(opts.repo_dir or ".")
    if repo then
      for _, r in ipairs(repo:remotes()) do
        if r.name == "origin" then repository = M.repository_from_url(r.url) end
      end
      repo:close()
    end
  end
  if not repository then
    return fail("no GitHub repository: set GITHUB_REPOSITORY=owner/repo or add an origin remote on GitHub")
  end
  local api = (opts.api_url or os.getenv("GITHUB_API_URL") or "https://api.github.com"):gsub("/+$", "")
  if not api:match("^https?://") then
    return fail("GITHUB_API_URL is not a URL: " .. api)
  end
  return setmetatable({ api = api, token = token, repository = repository,
                        sleep = opts.sleep or host.sleep }, Client)
end

local function error_message(resp)
  local data = resp.body and json.decode(resp.body)
  local msg = type(data) == "table" and data.message or (resp.body or ""):sub(1, 200)
  local list = type(data) == "table" and type(data.errors) == "table" and data.errors or {}
  local code
  for _, e in ipairs(list) do
    if type(e) == "table" and e.code then code = e.code end
  end
  return msg, code
end

-- How long to wait before retrying a rate-limited answer, or nil.
local function rate_limit_wait(resp)
  if resp.status ~= 403 and resp.status ~= 429 then return nil end
  local h = resp.headers
  if h["retry-after"] then return tonumber(h["retry-after"]) end
  if h["x-ratelimit-remaining"] == "0" and h["x-ratelimit-reset"] then
    return math.max(0, (tonumber(h["x-ratelimit-reset"]) or 0) - os.time()) + 1
  end
  return nil
end

-- url with the query's pairs added, encoded and sorted.
local function with_query(url, query)
  if not query then return url end
  local parts = {}
  for k, v in pairs(query) do parts[#parts + 1] = http.url_encode(k) .. "=" .. http.url_encode(tostring(v)) end
  table.sort(parts)
  return url .. (url:find("?", 1, true) and "&" or "?") .. table.concat(parts, "&")
end

-- The request's headers and body: a table body (not {file=}) goes as JSON.
local function headers_and_body(self, opts)
  local headers = { ["user-agent"] = USER_AGENT, accept = opts.accept or "application/vnd.github+json",
                    ["x-github-api-version"] = "2022-11-28" }
  if self.token then headers.authorization = "Bearer " .. self.token end
  local body = opts.body
  if type(body) == "table" and not body.file then
    body = json.encode(body)
    headers["content-type"] = "application/json"
  end
  for k, v in pairs(opts.headers or {}) do headers[k] = v end
  return headers, body
end

-- The error of an answer that is not a success (after any rate-limit waits).
local function failed_answer(method, where, resp, wait)
  local msg, ecode = error_message(resp)
  if wait then msg = msg .. string.format(" (rate limited; retry after %d s)", wait) end
  if resp.status == 401 then msg = msg .. " (check GITHUB_TOKEN)" end
  return fail(string.format("GitHub %s %s: %d %s", method, where, resp.status, msg), resp.status, ecode)
end

-- One call. opts: query (table), body (table → JSON, or {file=}), headers,
-- url (absolute, instead of the API path), accept. Returns data, response.
-- A rate-limited answer is retried after the wait it asks for, up to
-- MAX_RATE_WAIT seconds in all.
function Client:request(method, path, opts)
  opts = opts or {}
  local url = with_query(opts.url or (self.api .. path), opts.query)
  local headers, body = headers_and_body(self, opts)
  local waited = 0
  while true do
    local resp, err, code = http.request{ method = method, url = url, headers = headers, body = body,
                                          timeout = opts.timeout or 300 }
    if not resp then
      return fail(string.format("GitHub %s %s: %s", method, path or url, err), nil, code)
    end
    local wait = rate_limit_wait(resp)
    if wait and waited + wait <= MAX_RATE_WAIT then
      self.sleep(wait)
      waited = waited + wait
    elseif resp.status >= 200 and resp.status < 300 then
      local data = resp.body and resp.body ~= "" and json.decode(resp.body) or nil
      return data or true, resp
    else
      return failed_answer(method, path or url, resp, wait)
    end
  end
end

-- Every item of a paginated list (Link: rel="next"). `key` picks the array
-- out of an object answer (check runs).
function Client:paginate(path, opts)
  opts = opts or {}
  local items = {}
  local url = self.api .. path .. (path:find("?", 1, true) and "&" or "?") .. "per_page=" .. (opts.per_page or 100)
  while url do
    local data, resp = self:request("GET", nil, { url = url })
    if not data then return nil, resp end
    local list = opts.key and data[opts.key] or data
    for _, item in ipairs(type(list) == "table" and list or {}) do items[#items + 1] = item end
    url = (resp.headers.link or ""):match('<([^>]+)>;%s*rel="next"')
  end
  return items
end

function Client:repo_path(suffix)
  return "/repos/" .. self.repository .. suffix
end

-- RELEASE.md "Verify CI is passing": HEAD's statuses and check runs.
function Client:ci_status(sha)
  local combined, err = self:request("GET", self:repo_path("/commits/" .. sha .. "/status"))
  if not combined then return nil, err end
  local runs, err2 = self:paginate(self:repo_path("/commits/" .. sha .. "/check-runs"), { key = "check_runs" })
  if not runs then return nil, err2 end
  local pending, failing, total = {}, {}, 0
  for _, s in ipairs(combined.statuses or {}) do
    total = total + 1
    if s.state == "pending" then pending[#pending + 1] = s.context
    elseif s.state ~= "success" then failing[#failing + 1] = s.context .. " (" .. tostring(s.state) .. ")" end
  end
  for _, r in ipairs(runs) do
    total = total + 1
    if r.status ~= "completed" then pending[#pending + 1] = r.name
    elseif not (r.conclusion == "success" or r.conclusion == "neutral" or r.conclusion == "skipped") then
      failing[#failing + 1] = r.name .. " (" .. tostring(r.conclusion) .. ")"
    end
  end
  local state = #failing > 0 and "failure" or (#pending > 0 and "pending") or (total == 0 and "none") or "success"
  return { state = state, pending = pending, failing = failing, total = total }
end

-- The release for a tag, or false when there is none.
function Client:release_by_tag(tag)
  local data, err = self:request("GET", self:repo_path("/releases/tags/" .. http.url_encode(tag)))
  if data then return data end
  if err.status == 404 then return false end
  return nil, err
end

-- Create the release, or reuse the one the tag has (422 already_exists).
function Client:ensure_release(opts)
  local existing, err = self:release_by_tag(opts.tag)
  if existing == nil then return nil, err end
  if existing then return existing, "existing" end
  local rel, cerr = self:request("POST", self:repo_path("/releases"), {
    body = { tag_name = opts.tag, name = opts.name or opts.tag, body = opts.body or "",
             draft = opts.draft or false, prerelease = opts.prerelease or false } })
  if rel then return rel, "created" end
  if cerr.code == "already_exists" then
    -- a draft, or a race with another run: read it back
    for _, r in ipairs(self:paginate(self:repo_path("/releases")) or {}) do
      if r.tag_name == opts.tag then return r, "existing" end
    end
  end
  return nil, cerr
end

function Client:update_release(id, fields)
  return self:request("PATCH", self:repo_path("/releases/" .. id), { body = fields })
end

function Client:delete_release(id)
  return self:request("DELETE", self:repo_path("/releases/" .. id))
end

function Client:list_assets(release_id)
  return self:paginate(self:repo_path("/releases/" .. release_id .. "/assets"))
end

function Client:delete_asset(id)
  return self:request("DELETE", self:repo_path("/releases/assets/" .. id))
end

-- A redirect's Location made absolute against the URL that answered it.
local function location_of(url, resp)
  local loc = resp.headers.location
  if not loc or loc:match("^%a[%w+.-]*://") then return loc end
  if loc:sub(1, 1) == "/" then return url:match("^(%a[%w+.-]*://[^/]+)") .. loc end
  return url:gsub("[^/]*$", "") .. loc
end

-- GET an API URL that GitHub answers with a redirect to its storage (release
-- assets, logs): another origin, so the token goes only to the API and the
-- URL it redirects to (signed by GitHub for this download) is asked without
-- it. opts.output: a file for the bytes. -> response | nil, err (`status` set).
function Client:download(url, accept, opts)
  opts = opts or {}
  local ua = { accept = accept, ["user-agent"] = USER_AGENT }
  local resp, err = http.request{ method = "GET", url = url, output = opts.output, follow_redirects = false,
    timeout = opts.timeout or 300, headers = { accept = accept, ["user-agent"] = USER_AGENT,
                                               authorization = self.token and ("Bearer " .. self.token) } }
  if resp and resp.status >= 300 and resp.status < 400 and location_of(url, resp) then
    resp, err = http.request{ method = "GET", url = location_of(url, resp), output = opts.output, headers = ua,
                              timeout = opts.timeout or 300 }
  end
  if not resp then return fail(string.format("GitHub GET %s: %s", url, tostring(err))) end
  if resp.status ~= 200 then
    local msg = resp.body and error_message(resp) or ""
    return fail(string.format("GitHub GET %s: %d %s%s", url, resp.status, msg,
      resp.status == 401 and " (check GITHUB_TOKEN)" or ""), resp.status)
  end
  return resp
end

-- The sha256 of an asset: its `digest` when GitHub gives one, else
-- downloaded (to a temporary file: an asset may be large) by download().
function Client:asset_sha256(asset)
  local d = type(asset.digest) == "string" and asset.digest:match("^sha256:(%x+)$")
  if d then return d end
  local tmp <close> = require("relrun.fs").tempdir("relrun-asset")
  local path = tmp.path .. "/asset"
  local resp, err = self:download(asset.url, "application/octet-stream", { output = path })
  if not resp then
    return fail("cannot download asset " .. asset.name .. ": " .. err.message, err.status)
  end
  return hash.file(path, { "sha256" }).sha256
end

local function basename(path) return (path:match("([^/]+)$")) end

-- Whether an asset is whole: a failed upload leaves one in state "starter"
-- that holds its name, has no content, and must be deleted before the name
-- can be uploaded again (GitHub's "Upload a release asset").
function M.asset_complete(asset)
  return asset.state == nil or asset.state == "uploaded"
end

-- Make way for `name`: the asset when it is there with the same content;
-- false when the name is free (a failed upload's leftover is deleted); nil,
-- err when it holds other content or the API fails.
function Client:clear_asset_name(release, name, sha256)
  local assets, lerr = self:list_assets(release.id)
  if not assets then return nil, lerr end
  for _, a in ipairs(assets) do
    if a.name == name and not M.asset_complete(a) then
      local gone, derr = self:delete_asset(a.id)
      if not gone then return nil, derr end
    elseif a.name == name then
      local theirs, herr = self:asset_sha256(a)
      if not theirs then return nil, herr end
      if theirs == sha256 then return a end
      return fail(string.format("release %s already has a different %s (sha256 %s, ours %s): " ..
        "delete that asset or release a new version", release.tag_name, name, theirs, sha256), 422, "different")
    end
  end
  return false
end

-- Attach a file through the release's own upload_url. An asset of the same
-- name with the same content is left alone; with other content it stops.
-- An upload that fails on GitHub's side (5xx, a dropped connection, or the
-- name taken by a leftover) is tried once more after clearing the name.
function Client:upload_asset(release, path, opts)
  opts = opts or {}
  local name = opts.name or basename(path)
  local digests, err = hash.file(path, { "sha256" })
  if not digests then return fail("cannot read " .. path .. ": " .. err) end
  local upload_url = (release.upload_url or ""):gsub("{.*}$", "")
  if upload_url == "" then return fail("release " .. tostring(release.tag_name) .. " has no upload_url") end
  local uerr
  for _ = 1, 2 do
    local there, cerr = self:clear_asset_name(release, name, digests.sha256)
    if there == nil then return nil, cerr end
    if there then return there, "identical" end
    local asset
    asset, uerr = self:request("POST", nil, {
      url = upload_url .. "?name=" .. http.url_encode(name),
      body = { file = path }, headers = { ["content-type"] = opts.content_type or "application/octet-stream" },
    })
    if asset then return asset, "uploaded" end
    local on_their_side = uerr.status == nil or uerr.status >= 500 or uerr.code == "already_exists"
    if not on_their_side then break end
  end
  return nil, uerr
end

function Client:environment(name)
  local data, err = self:request("GET", self:repo_path("/environments/" .. http.url_encode(name)))
  if data then return data end
  if err.status == 404 then return false end
  return nil, err
end

-- Create or update an environment. A PUT sets everything it is given and
-- resets what it is not, so pass the settings to keep: opts.reviewers =
-- { {type = "User", id = 1} }, opts.wait_timer, opts.prevent_self_review,
-- opts.tags_only = true (deployments only from the name-pattern rules:
-- custom policies), opts.any_ref = true (deployment_branch_policy null).
function Client:put_environment(name, opts)
  opts = opts or {}
  -- an empty Lua table would be sent as {} (not a list): no reviewers is none sent
  local body = { reviewers = opts.reviewers and #opts.reviewers > 0 and opts.reviewers or nil,
                 wait_timer = opts.wait_timer, prevent_self_review = opts.prevent_self_review }
  if opts.tags_only then
    body.deployment_branch_policy = { protected_branches = false, custom_branch_policies = true }
  elseif opts.any_ref then
    body.deployment_branch_policy = json.null
  end
  return self:request("PUT", self:repo_path("/environments/" .. http.url_encode(name)), { body = body })
end

-- The environment's name-pattern rules: { {id, name, type = "branch"|"tag"} }.
function Client:deployment_branch_policies(name)
  return self:paginate(self:repo_path("/environments/" .. http.url_encode(name) .. "/deployment-branch-policies"),
    { key = "branch_policies" })
end

-- Add a rule (type "tag" or "branch"). GitHub answers 303 when the same
-- pattern is already there: that is success.
function Client:add_deployment_branch_policy(name, pattern, kind)
  local rule, err = self:request("POST", self:repo_path("/environments/" .. http.url_encode(name) ..
    "/deployment-branch-policies"), { body = { name = pattern, type = kind or "branch" } })
  if rule or err.status == 303 then return rule or true end
  return nil, err
end

-- A user by login: { login, id, type, ... } | false (no such user) | nil, err.
function Client:user(login)
  local data, err = self:request("GET", "/users/" .. http.url_encode(login))
  if data then return data end
  if err.status == 404 then return false end
  return nil, err
end

---------------------------------------------------------------------------
-- Actions secrets and variables (RELEASE.md "Repository Secrets")
---------------------------------------------------------------------------

-- The repository's public key for secrets: { key_id, key = base64 }.
function Client:secrets_public_key()
  return self:request("GET", self:repo_path("/actions/secrets/public-key"))
end

-- A secret's name and dates (GitHub never returns a value) | false | nil, err.
function Client:secret(name)
  local data, err = self:request("GET", self:repo_path("/actions/secrets/" .. http.url_encode(name)))
  if data then return data end
  if err.status == 404 then return false end
  return nil, err
end

-- Set a secret: the value sealed (libsodium sealed box) to the repository's
-- public key, as GitHub requires. `key` is secrets_public_key()'s answer
-- (fetched when not given). -> "created" | "updated" | nil, err. The value
-- is not registered as a secret here: the caller does that for credentials.
function Client:put_secret(name, value, key)
  if not key then
    local err
    key, err = self:secrets_public_key()
    if not key then return nil, err end
  end
  local raw = hash.base64_decode(tostring(key.key or ""))
  if not raw or #raw ~= 32 then
    return fail("GitHub's public key for secrets is not 32 bytes of base64: " .. tostring(key.key))
  end
  local sealed, serr = require("relrun.sodium").seal(value, raw)
  if not sealed then return fail("sealing " .. name .. ": " .. serr) end
  local ok, resp = self:request("PUT", self:repo_path("/actions/secrets/" .. http.url_encode(name)),
    { body = { encrypted_value = hash.base64_encode(sealed), key_id = key.key_id } })
  if not ok then return nil, resp end
  return resp.status == 201 and "created" or "updated"
end

-- A variable: { name, value, created_at, updated_at } | false | nil, err.
function Client:variable(name)
  local data, err = self:request("GET", self:repo_path("/actions/variables/" .. http.url_encode(name)))
  if data then return data end
  if err.status == 404 then return false end
  return nil, err
end

-- Create or update a variable -> "created" | "updated" | nil, err.
function Client:set_variable(name, value)
  local existing, err = self:variable(name)
  if existing == nil then return nil, err end
  if existing then
    local ok, uerr = self:request("PATCH", self:repo_path("/actions/variables/" .. http.url_encode(name)),
      { body = { name = name, value = value } })
    if not ok then return nil, uerr end
    return "updated"
  end
  local ok, cerr = self:request("POST", self:repo_path("/actions/variables"), { body = { name = name, value = value } })
  if not ok then return nil, cerr end
  return "created"
end

---------------------------------------------------------------------------
-- Actions workflow runs (watch.lua: RELEASE.md "3. Monitor Release Process")
---------------------------------------------------------------------------

-- The runs matching `filters` (head_sha, event, branch, status), newest first.
function Client:workflow_runs(filters)
  local q = {}
  for k, v in pairs(filters or {}) do q[#q + 1] = http.url_encode(k) .. "=" .. http.url_encode(tostring(v)) end
  table.sort(q)
  return self:paginate(self:repo_path("/actions/runs?" .. table.concat(q, "&")), { key = "workflow_runs" })
end

function Client:workflow_run(id)
  return self:request("GET", self:repo_path("/actions/runs/" .. id))
end

-- A run's jobs, each with its steps ({name, status, conclusion, number, started_at, completed_at}).
function Client:run_jobs(id)
  return self:paginate(self:repo_path("/actions/runs/" .. id .. "/jobs"), { key = "jobs" })
end

-- A job's log, plain text (GitHub redirects to its log storage; see download).
function Client:job_log(job_id)
  local resp, err = self:download(self.api .. self:repo_path("/actions/jobs/" .. job_id .. "/logs"),
    "application/vnd.github+json", { timeout = 120 })
  if not resp then return nil, err end
  return resp.body or ""
end

-- The Actions OIDC token for `audience` (never cached: it lives ~5 minutes).
function M.oidc_token(audience)
  local url, token = os.getenv("ACTIONS_ID_TOKEN_REQUEST_URL"), os.getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
  if not url or url == "" or not token or token == "" then
    return fail("no GitHub OIDC token: the job needs `permissions: id-token: write` " ..
      "(ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set)")
  end
  host.secret(token)
  local resp, err = http.request{ method = "GET", timeout = 60,
    url = url .. (url:find("?", 1, true) and "&" or "?") .. "audience=" .. http.url_encode(audience or "sts.amazonaws.com"),
    headers = { authorization = "Bearer " .. token, accept = "application/json", ["user-agent"] = USER_AGENT } }
  if not resp then return fail("GitHub OIDC token request: " .. err) end
  local data = json.decode(resp.body or "")
  if resp.status ~= 200 or type(data) ~= "table" or type(data.value) ~= "string" then
    return fail(string.format("GitHub OIDC token request: %d %s", resp.status,
      type(data) == "table" and tostring(data.message) or "unexpected answer"), resp.status)
  end
  host.secret(data.value)
  return data.value
end

-- The claims of a JWT, unverified (to explain, never to trust).
function M.jwt_claims(jwt)
  local payload = type(jwt) == "string" and jwt:match("^[^.]+%.([^.]+)%.")
  if not payload then return nil, "not a JWT" end
  payload = payload:gsub("-", "+"):gsub("_", "/")
  payload = payload .. string.rep("=", (4 - #payload % 4) % 4)
  local raw = hash.base64_decode(payload)
  local claims = raw and json.decode(raw)
  if type(claims) ~= "table" then return nil, "the JWT's payload is not JSON" end
  return claims
end

return M
