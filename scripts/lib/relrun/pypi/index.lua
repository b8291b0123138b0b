-- Reading a simple repository index: what files a project already has, with
-- their sha256, so a publish can tell "already there, identical" from "a
-- different file under the same name".
--
-- PEP 691 JSON is asked for first (Accept: application/vnd.pypi.simple.v1+json,
-- HTML as the fallback); PEP 503 HTML pages are read for their <a> links,
-- the hash taken from the "#sha256=" fragment. file:// index URLs (the local
-- repository) are read from disk.
local metadata = require "relrun.pypi.metadata"

local M = {}

M.ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"

local ENTITIES = { amp = "&", lt = "<", gt = ">", quot = '"', apos = "'" }

function M.html_unescape(s)
  return (s:gsub("&(#?[xX]?%w+);", function(e)
    if e:sub(1, 2) == "#x" or e:sub(1, 2) == "#X" then return utf8.char(tonumber(e:sub(3), 16) or 63) end
    if e:sub(1, 1) == "#" then return utf8.char(tonumber(e:sub(2)) or 63) end
    return ENTITIES[e] or ("&" .. e .. ";")
  end))
end

function M.html_escape(s)
  return (s:gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#x27;" }))
end

local function attrs_of(tag)
  local attrs = {}
  for name, _, value in tag:gmatch("([%w%-_:]+)%s*=%s*([\"'])(.-)%2") do
    attrs[name:lower()] = M.html_unescape(value)
  end
  for name, value in tag:gmatch("([%w%-_:]+)%s*=%s*([^\"'%s>][^%s>]*)") do
    attrs[name:lower()] = attrs[name:lower()] or M.html_unescape(value)
  end
  return attrs
end

local function file_from_url(href)
  local path = href:gsub("#.*$", ""):gsub("%?.*$", "")
  return path:match("([^/]+)$") or path
end

-- PEP 503 page -> list { filename, url, sha256, requires_python, yanked }
function M.parse_html(text)
  local files = {}
  for tag, inner in text:gmatch("<[aA]%s([^>]*)>(.-)</[aA]%s*>") do
    local attrs = attrs_of(tag)
    local href = attrs.href
    if href then
      local name = M.html_unescape((inner:gsub("<[^>]*>", ""):gsub("^%s+", ""):gsub("%s+$", "")))
      if name == "" then name = file_from_url(href) end
      local fragment = href:match("#(.*)$") or ""
      files[#files + 1] = {
        filename = name,
        url = href:gsub("#.*$", ""),
        sha256 = fragment:match("sha256=(%x+)") and fragment:match("sha256=(%x+)"):lower() or nil,
        requires_python = attrs["data-requires-python"],
        yanked = attrs["data-yanked"] ~= nil,
      }
    end
  end
  return files
end

-- PEP 691 JSON document -> the same list.
function M.parse_json(text)
  local json = require "relrun.json"
  local doc, err = json.decode(text)
  if type(doc) ~= "table" or type(doc.files) ~= "table" then
    return nil, "not a PEP 691 project page: " .. tostring(err or "no files list")
  end
  local files = {}
  for _, f in ipairs(doc.files) do
    local hashes = type(f.hashes) == "table" and f.hashes or {}
    files[#files + 1] = {
      filename = f.filename, url = f.url,
      sha256 = type(hashes.sha256) == "string" and hashes.sha256:lower() or nil,
      requires_python = type(f["requires-python"]) == "string" and f["requires-python"] or nil,
      yanked = f.yanked ~= nil and f.yanked ~= false,
    }
  end
  return files
end

-- The project page URL: <index>/<normalized name>/
function M.project_url(index_url, name)
  return (index_url:gsub("/+$", "")) .. "/" .. metadata.normalize(name) .. "/"
end

local function read_local(url)
  local path = url:gsub("^file://", ""):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  local f = io.open(path .. "index.html", "rb")
  if not f then return {} end -- no page: the project has no files yet
  local text = f:read("a")
  f:close()
  return M.parse_html(text)
end

-- files(index_url, name, {headers = {...}}) -> list (empty when the index
-- has no such project) | nil, msg, code.
function M.files(index_url, name, opts)
  opts = opts or {}
  local url = M.project_url(index_url, name)
  if url:match("^file://") then return read_local(url) end
  local http = require "relrun.http"
  local headers = { accept = M.ACCEPT }
  for k, v in pairs(opts.headers or {}) do headers[k:lower()] = v end
  local res, err, code = http.request { method = "GET", url = url, headers = headers,
                                        timeout = opts.timeout or 60 }
  if not res then return nil, "reading the index " .. url .. ": " .. tostring(err), code end
  if res.status == 404 then return {} end
  if res.status == 401 or res.status == 403 then
    return nil, string.format("reading the index %s: HTTP %d; check the credentials (an expired "
      .. "CodeArtifact token also shows this way)", url, res.status), tostring(res.status)
  end
  if res.status ~= 200 then
    return nil, string.format("reading the index %s: HTTP %d", url, res.status), tostring(res.status)
  end
  local ctype = (res.headers["content-type"] or ""):lower()
  if ctype:find("json", 1, true) then
    local files, perr = M.parse_json(res.body)
    if not files then return nil, url .. ": " .. perr, "INDEX" end
    return files
  end
  return M.parse_html(res.body)
end

-- find(index_url, name, filename, opts) -> the entry for that file | false
-- when absent | nil, msg, code.
function M.find(index_url, name, filename, opts)
  local files, err, code = M.files(index_url, name, opts)
  if not files then return nil, err, code end
  for _, f in ipairs(files) do
    if f.filename == filename then return f end
  end
  return false
end

return M
