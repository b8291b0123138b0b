-- AWS CodeArtifact (rest-json, 2018-09-22): the operations a release makes.
-- URIs, query names and shapes follow botocore's model
-- (botocore/data/codeartifact/2018-09-22/service-2.json); answers are the
-- model's JSON documents, decoded, with camelCase names kept.
--
--   local ca = assert(require("relrun.aws.codeartifact").client())
--   local tok = assert(ca:get_authorization_token{ domain = "d", domain_owner = "111122223333" })
--   -- tok.authorizationToken is registered as a secret
local core = require "relrun.aws.core"

local M = {}

local Client = {}
Client.__index = Client

-- client{ region, endpoint, credentials, env, ... } -> client | nil, msg, code.
function M.client(opts)
  local c, err, code = core.service_client(opts, { service = "codeartifact", protocol = "rest-json" })
  if not c then return nil, err, code end
  return setmetatable({ core = c }, Client)
end

-- Query parameters shared by the repository- and package-level operations:
-- Lua names (snake_case) -> the model's locationName.
local QUERY = {
  domain = "domain", domain_owner = "domain-owner", repository = "repository", format = "format",
  namespace = "namespace", package = "package", version = "version", duration = "duration",
  status = "status", sort_by = "sortBy", max_results = "max-results", next_token = "next-token",
  origin_type = "originType",
}

local function query(a, names)
  local q = {}
  for _, n in ipairs(names) do
    if a[n] ~= nil then q[QUERY[n]] = tostring(a[n]) end
  end
  return q
end

local function need(a, names, op)
  for _, n in ipairs(names) do
    if a[n] == nil or a[n] == "" then error(string.format("codeartifact.%s: %s is required", op, n), 3) end
  end
end

function Client:call(op, method, path, a, required, names, doc)
  need(a, required, op)
  return self.core:json{ method = method, path = path, query = query(a, names), doc = doc, operation = op }
end

local REPO = { "domain", "domain_owner", "repository" }
local PKG = { "domain", "domain_owner", "repository", "format", "namespace", "package" }

local function with(list, ...)
  local out = { table.unpack(list) }
  for _, v in ipairs{ ... } do out[#out + 1] = v end
  return out
end

-- get_authorization_token{ domain, domain_owner, duration } ->
-- { authorizationToken, expiration (epoch seconds) }. duration: 0 or 900..43200.
function Client:get_authorization_token(a)
  local doc, res_or_msg, code, err = self:call("GetAuthorizationToken", "POST", "/v1/authorization-token", a,
    { "domain" }, { "domain", "domain_owner", "duration" })
  if not doc then return nil, res_or_msg, code, err end
  if type(doc.authorizationToken) ~= "string" then
    return nil, "codeartifact GetAuthorizationToken answered without a token", "MalformedResponse"
  end
  core.secret(doc.authorizationToken)
  doc.expiration = core.parse_iso8601(doc.expiration)
  return doc
end

-- get_repository_endpoint{ domain, domain_owner, repository, format = "pypi" } -> url string.
function Client:get_repository_endpoint(a)
  local doc, msg, code, err = self:call("GetRepositoryEndpoint", "GET", "/v1/repository/endpoint", a,
    { "domain", "repository", "format" }, with(REPO, "format"))
  if not doc then return nil, msg, code, err end
  return doc.repositoryEndpoint
end

function Client:describe_domain(a)
  local doc, msg, code, err = self:call("DescribeDomain", "GET", "/v1/domain", a, { "domain" },
    { "domain", "domain_owner" })
  if not doc then return nil, msg, code, err end
  return doc.domain
end

function Client:describe_repository(a)
  local doc, msg, code, err = self:call("DescribeRepository", "GET", "/v1/repository", a,
    { "domain", "repository" }, REPO)
  if not doc then return nil, msg, code, err end
  return doc.repository
end

-- create_domain{ domain, encryption_key, tags = { {key=, value=} } } -> DomainDescription.
function Client:create_domain(a)
  local body = { encryptionKey = a.encryption_key, tags = a.tags }
  local doc, msg, code, err = self:call("CreateDomain", "POST", "/v1/domain", a, { "domain" }, { "domain" }, body)
  if not doc then return nil, msg, code, err end
  return doc.domain
end

-- create_repository{ domain, domain_owner, repository, description, upstreams = { "name" } }.
function Client:create_repository(a)
  local body = { description = a.description, tags = a.tags }
  if a.upstreams then
    body.upstreams = {}
    for i, u in ipairs(a.upstreams) do body.upstreams[i] = { repositoryName = u } end
  end
  local doc, msg, code, err = self:call("CreateRepository", "POST", "/v1/repository", a,
    { "domain", "repository" }, REPO, body)
  if not doc then return nil, msg, code, err end
  return doc.repository
end

-- Every item of the `items` list of a paginated POST operation, all pages
-- (nextToken), and the first page's `extra` field.
local function all_pages(client, operation, path, a, required, fields, items, extra)
  local all, page, first = {}, {}, nil
  for k, v in pairs(a) do page[k] = v end
  repeat
    local doc, msg, code, err = client:call(operation, "POST", path, page, required, fields)
    if not doc then return nil, msg, code, err end
    for _, v in ipairs(doc[items] or {}) do all[#all + 1] = v end
    first = first or doc[extra]
    page.next_token = doc.nextToken
  until page.next_token == nil or page.next_token == require("relrun.json").null
  return all, first
end

-- list_package_versions{ ..., package, status, sort_by } -> every
-- PackageVersionSummary across all pages (plus defaultDisplayVersion).
function Client:list_package_versions(a)
  return all_pages(self, "ListPackageVersions", "/v1/package/versions", a,
    { "domain", "repository", "format", "package" },
    with(PKG, "status", "sort_by", "max_results", "next_token", "origin_type"), "versions", "defaultDisplayVersion")
end

-- describe_package_version{ ..., package, version } -> PackageVersionDescription.
function Client:describe_package_version(a)
  local doc, msg, code, err = self:call("DescribePackageVersion", "GET", "/v1/package/version", a,
    { "domain", "repository", "format", "package", "version" }, with(PKG, "version"))
  if not doc then return nil, msg, code, err end
  local pv = doc.packageVersion
  if type(pv) == "table" then pv.publishedTime = core.parse_iso8601(pv.publishedTime) end
  return pv
end

-- list_package_version_assets{ ..., package, version } -> every AssetSummary
-- ({ name, size, hashes = { ["SHA-256"] = ... } }), all pages, and the
-- version's revision.
function Client:list_package_version_assets(a)
  return all_pages(self, "ListPackageVersionAssets", "/v1/package/version/assets", a,
    { "domain", "repository", "format", "package", "version" },
    with(PKG, "version", "max_results", "next_token"), "assets", "versionRevision")
end

-- The request table json() / json_many() take for one operation.
function Client:request_of(op, method, path, a, required, names)
  need(a, required, op)
  return { method = method, path = path, query = query(a, names), operation = op }
end

-- version_details{ ..., package, versions = { "1.2.3", ... }, parallel } ->
-- { ["1.2.3"] = { description = PackageVersionDescription (publishedTime in
-- epoch seconds), assets = { AssetSummary } } }: DescribePackageVersion and
-- ListPackageVersionAssets of every version, several at once. A version
-- with more assets than one page holds has the rest fetched page by page.
function Client:version_details(a)
  local reqs = {}
  for _, v in ipairs(a.versions) do
    local one = setmetatable({ version = v, max_results = 1000 }, { __index = a })
    reqs[#reqs + 1] = self:request_of("DescribePackageVersion", "GET", "/v1/package/version", one,
      { "domain", "repository", "format", "package", "version" }, with(PKG, "version"))
    reqs[#reqs + 1] = self:request_of("ListPackageVersionAssets", "POST", "/v1/package/version/assets", one,
      { "domain", "repository", "format", "package", "version" }, with(PKG, "version", "max_results"))
  end
  local docs, msg, code, err = self.core:json_many(reqs, { parallel = a.parallel })
  if not docs then return nil, msg, code, err end
  local out = {}
  for i, v in ipairs(a.versions) do
    local pv, assets = docs[2 * i - 1].packageVersion or {}, docs[2 * i]
    pv.publishedTime = core.parse_iso8601(pv.publishedTime)
    local list = assets.assets or {}
    if assets.nextToken and assets.nextToken ~= require("relrun.json").null then
      local one = setmetatable({ version = v }, { __index = a })
      list, msg, code, err = self:list_package_version_assets(one)
      if not list then return nil, msg, code, err end
    end
    out[v] = { description = pv, assets = list }
  end
  return out
end

-- list_package_version_dependencies{ ..., package, version } -> every
-- PackageDependency ({ package, namespace, dependencyType,
-- versionRequirement }), all pages.
function Client:list_package_version_dependencies(a)
  return all_pages(self, "ListPackageVersionDependencies", "/v1/package/version/dependencies", a,
    { "domain", "repository", "format", "package", "version" }, with(PKG, "version", "next_token"), "dependencies")
end

local function versions_doc(a)
  local json = require "relrun.json"
  return json.array({ table.unpack(a.versions) })
end

-- delete_package_versions{ ..., package, versions = { "1.2.3" }, expected_status }
-- -> { successfulVersions = {...}, failedVersions = {...} }. A 200 answer can
-- still carry failures: read failedVersions.
function Client:delete_package_versions(a)
  need(a, { "versions" }, "delete_package_versions")
  local doc, msg, code, err = self:call("DeletePackageVersions", "POST", "/v1/package/versions/delete", a,
    { "domain", "repository", "format", "package" }, PKG,
    { versions = versions_doc(a), expectedStatus = a.expected_status })
  if not doc then return nil, msg, code, err end
  doc.successfulVersions = doc.successfulVersions or {}
  doc.failedVersions = doc.failedVersions or {}
  return doc
end

-- dispose_package_versions{ ..., package, versions, expected_status,
-- version_revisions } -> { successfulVersions, failedVersions }: the
-- versions' assets are deleted, their records kept with status Disposed.
function Client:dispose_package_versions(a)
  need(a, { "versions" }, "dispose_package_versions")
  local doc, msg, code, err = self:call("DisposePackageVersions", "POST", "/v1/package/versions/dispose", a,
    { "domain", "repository", "format", "package" }, PKG,
    { versions = versions_doc(a), expectedStatus = a.expected_status, versionRevisions = a.version_revisions })
  if not doc then return nil, msg, code, err end
  doc.successfulVersions = doc.successfulVersions or {}
  doc.failedVersions = doc.failedVersions or {}
  return doc
end

-- update_package_versions_status{ ..., package, versions, target_status,
-- expected_status, version_revisions = { ["1.2.3"] = rev } }.
function Client:update_package_versions_status(a)
  need(a, { "versions", "target_status" }, "update_package_versions_status")
  local doc, msg, code, err = self:call("UpdatePackageVersionsStatus", "POST",
    "/v1/package/versions/update_status", a, { "domain", "repository", "format", "package" }, PKG,
    { versions = versions_doc(a), targetStatus = a.target_status, expectedStatus = a.expected_status,
      versionRevisions = a.version_revisions })
  if not doc then return nil, msg, code, err end
  doc.successfulVersions = doc.successfulVersions or {}
  doc.failedVersions = doc.failedVersions or {}
  return doc
end

return M
