-- The legacy upload API (the form twine 4.0.2 posts), with the check that
-- makes a rerun safe: a file already on the index with the same sha256 is
-- "already published, identical"; a different one is a hard stop.
--
-- The form (twine/package.py metadata_dictionary + repository.py _upload):
-- fields in twine's order, values from the artifact's own METADATA or
-- PKG-INFO; a single field with no value is sent as an empty string, a list
-- field with no values is left out, a list with values repeats its name;
-- then ":action" = "file_upload", "protocol_version" = "1", and last the
-- "content" file part (application/octet-stream), streamed from disk.
local hash = require "relrun.hash"
local metadata = require "relrun.pypi.metadata"
local index = require "relrun.pypi.index"

local M = {}

-- twine's field order; [2] is the metadata key when it differs.
M.FORM_ORDER = {
  { "name" }, { "version" }, { "filetype" }, { "pyversion" }, { "metadata_version" }, { "summary" },
  { "home_page" }, { "author" }, { "author_email" }, { "maintainer" }, { "maintainer_email" },
  { "license" }, { "description" }, { "keywords" }, { "platform", "platforms" }, { "classifiers" },
  { "download_url" }, { "supported_platform", "supported_platforms" }, { "comment" },
  { "sha256_digest" }, { "provides" }, { "requires" }, { "obsoletes" }, { "project_urls" },
  { "provides_dist" }, { "obsoletes_dist" }, { "requires_dist" }, { "requires_external" },
  { "requires_python" }, { "provides_extras" }, { "description_content_type" }, { "dynamic" },
  { "md5_digest" }, { "blake2_256_digest" }, { ":action" }, { "protocol_version" },
}

-- digests(path) -> { md5, sha256, blake2_256, size } from one read.
function M.digests(path)
  local d, err, code = hash.file(path, { "md5", "sha256", "blake2b_256" })
  if not d then return nil, err, code end
  return { md5 = d.md5, sha256 = d.sha256, blake2_256 = d.blake2b_256, size = d.size }
end

-- The metadata of the file at `path`, refused when an index would refuse it.
local function acceptable_metadata(path)
  local meta, err, code = metadata.read(path)
  if not meta then return nil, err, code end
  local problems = metadata.problems(meta)
  if #problems > 0 then
    return nil, string.format("%s: metadata an index would reject: %s", meta.filename,
      table.concat(problems, "; ")), "METADATA"
  end
  return meta
end

-- The digests given (from an earlier read in this run), else read now.
local function digests_of(path, given)
  if given and given.md5 and given.sha256 and given.blake2_256 then return given end
  return M.digests(path)
end

-- The form's values by metadata key: the metadata, then what twine adds.
local function form_values(meta, digests, comment)
  local values = {}
  for k, v in pairs(meta) do values[k] = v end
  values.name = metadata.safe_name(meta.name)
  if meta.kind == "wheel" then
    values.filetype = "bdist_wheel"
    -- twine takes the python tag from the file name, "any" when it does not parse
    local w = metadata.parse_wheel_filename(meta.filename)
    values.pyversion = w and w.python or "any"
  else
    values.filetype = "sdist"
  end
  values.comment = comment
  values.sha256_digest, values.md5_digest, values.blake2_256_digest = digests.sha256, digests.md5, digests.blake2_256
  values[":action"], values.protocol_version = "file_upload", "1"
  return values
end

-- The fields in twine's order, then the file itself.
local function form_parts(values, path, filename)
  local parts = {}
  for _, f in ipairs(M.FORM_ORDER) do
    local field, key = f[1], f[2] or f[1]
    local v = values[key]
    if metadata.MULTIPLE[key] then
      for _, item in ipairs(v or {}) do parts[#parts + 1] = { name = field, value = item } end
    else
      parts[#parts + 1] = { name = field, value = v or "" }
    end
  end
  parts[#parts + 1] = { name = "content", file = path, filename = filename,
                        content_type = "application/octet-stream" }
  return parts
end

-- form(path [, {comment, digests}]) -> parts (for relrun.http's multipart),
-- info { meta, digests, filetype, filename } | nil, msg, code. `digests`
-- ({md5, sha256, blake2_256, size} of this file, from an earlier read in the
-- same run) spares reading it once more.
function M.form(path, opts)
  opts = opts or {}
  local meta, err, code = acceptable_metadata(path)
  if not meta then return nil, err, code end
  local digests, derr, dcode = digests_of(path, opts.digests)
  if not digests then return nil, derr, dcode end
  local values = form_values(meta, digests, opts.comment)
  return form_parts(values, path, meta.filename),
    { meta = meta, digests = digests, filetype = values.filetype, filename = meta.filename }
end

-- ---- progress ----------------------------------------------------------------

local function stderr_is_terminal()
  return require("relrun.fs").isatty(2)
end

-- relrun.log when present (levels, --json, Actions), else plain stderr.
local function warn(msg)
  local ok, log = pcall(require, "relrun.log")
  if ok and type(log.warn) == "function" then return log.warn("%s", msg) end
  io.stderr:write("warning: ", msg, "\n")
end

local function quiet_logging()
  local ok, log = pcall(require, "relrun.log")
  return ok and type(log.level) == "function" and log.level() == "quiet"
end

local function human(n)
  if n >= 1024 * 1024 then return string.format("%.1f MB", n / (1024 * 1024)) end
  if n >= 1024 then return string.format("%.1f kB", n / 1024) end
  return string.format("%d B", n)
end

-- "\r  name [####      ]  40% 4.0 MB/10.0 MB" for a terminal.
local function bar_line(filename, sent, total)
  local width = 30
  local fill = math.floor(width * sent / total)
  return string.format("\r  %s [%s%s] %3d%% %s/%s", filename, string.rep("#", fill),
    string.rep(" ", width - fill), math.floor(sent * 100 / total), human(sent), human(total))
end

-- "  name: 40% (4.0 MB of 10.0 MB)" for a log.
local function log_line(filename, sent, total)
  return string.format("  %s: %d%% (%s of %s)\n", filename, math.floor(sent * 100 / total), human(sent),
    human(total))
end

-- progress(filename, mode [, {interval, write, clock}]) -> on_progress
-- function | nil. mode: "auto" (a bar on a terminal, a line every
-- `interval` (5) seconds otherwise, as CI logs want; nothing when logging is
-- quiet), "bar", "lines", "none". `write` (default: stderr) and `clock`
-- (default: os.time) are there for tests.
function M.progress(filename, mode, opts)
  mode, opts = mode or "auto", opts or {}
  if mode == "auto" then
    if quiet_logging() then return nil end
    mode = stderr_is_terminal() and "bar" or "lines"
  end
  if mode == "none" then return nil end
  local interval = opts.interval or 5
  local write = opts.write or function(s) io.stderr:write(s) end
  local clock = opts.clock or os.time
  local last, finished = clock(), false
  return function(sent, total)
    if finished or not total or total <= 0 then return end
    if mode == "bar" then
      write(bar_line(filename, sent, total))
      if sent >= total then write("\n") end
    elseif clock() - last >= interval or sent >= total then
      last = clock()
      write(log_line(filename, sent, total))
    end
    finished = sent >= total
  end
end

-- ---- upload ------------------------------------------------------------------

local function basic_auth(username, password)
  local host = require "relrun.host"
  local value = "Basic " .. hash.base64_encode((username or "") .. ":" .. (password or ""))
  if password and password ~= "" then host.secret(password) end
  host.secret(value)
  return value
end

-- Compare what the index has under `filename` with our sha256.
local function judge(existing, info)
  if existing.sha256 == nil then
    return nil, string.format("%s is already on the index but the index gives no sha256 to compare; "
      .. "refusing to guess (check it by hand, or delete it first)", info.filename), "CONFLICT"
  end
  if existing.sha256 == info.digests.sha256 then
    return { status = "identical", filename = info.filename, sha256 = info.digests.sha256,
             message = info.filename .. ": already published, identical" }
  end
  return nil, string.format("%s: a different file is already published under this name "
    .. "(index sha256 %s, local sha256 %s); refusing to overwrite. Publish a new version, "
    .. "or delete that version from the index first", info.filename, existing.sha256,
    info.digests.sha256), "CONFLICT"
end

local function check_index(opts, info)
  if not opts.index_url then return false end
  local existing, err, code = index.find(opts.index_url, info.meta.name, info.filename,
                                         { headers = opts.index_headers })
  if existing == nil then return nil, err, code end
  if existing == false then return false end
  return judge(existing, info)
end

local function first_line(s)
  s = (s or ""):gsub("<[^>]*>", " "):gsub("%s+", " "):gsub("^ ", "")
  return s:sub(1, 200)
end

local function post(opts, parts, info)
  local http = require "relrun.http"
  local headers = {}
  if opts.username or opts.password then
    headers.authorization = basic_auth(opts.username, opts.password)
  end
  headers["user-agent"] = opts.user_agent
  local on_progress = M.progress(info.filename, opts.progress)
  -- no whole-transfer timeout by default (a large file on a slow link takes
  -- what it takes); a stalled one fails (relrun.http's low-speed limit)
  return http.request {
    method = "POST", url = opts.url, headers = headers, body = { multipart = parts },
    timeout = opts.timeout, connect_timeout = opts.connect_timeout or 30,
    low_speed_limit = opts.low_speed_limit, low_speed_time = opts.low_speed_time,
    on_progress = on_progress and function(sent, total) on_progress(sent, total) end,
  }
end

-- Server errors (5xx) and broken connections are retried, as twine does
-- for 5xx: `retries` more attempts (default 2), waiting retry_delay (1 s)
-- doubled each time. A retry after a post that did land is safe: the
-- index decides a 409 that follows.
local RETRY_CURLE = { CURLE_COULDNT_CONNECT = true, CURLE_SEND_ERROR = true, CURLE_RECV_ERROR = true,
                      CURLE_GOT_NOTHING = true, CURLE_OPERATION_TIMEDOUT = true, CURLE_PARTIAL_FILE = true }

local function post_with_retries(opts, parts, info)
  local attempts, delay = 1 + (opts.retries or 2), opts.retry_delay or 1
  local res, err, code
  for attempt = 1, attempts do
    res, err, code = post(opts, parts, info)
    local retry = (res and res.status >= 500) or (not res and RETRY_CURLE[code])
    if not retry or attempt == attempts then break end
    warn(string.format("%s: %s; retrying (%d of %d)", info.filename,
      res and ("HTTP " .. res.status) or tostring(err), attempt, attempts - 1))
    if delay > 0 then require("relrun.host").sleep(delay) end
    delay = delay * 2
  end
  return res, err, code
end

-- What the index answered to the post, when it is not a plain success:
-- refused credentials, a redirect, or (409, PyPI's 400 "File already
-- exists") a file already there, which the index's own hash decides.
local function refused(opts, info, res)
  if res.status == 401 or res.status == 403 then
    return nil, string.format("uploading %s: HTTP %d from %s; the credentials were refused "
      .. "(for CodeArtifact: get a fresh token)", info.filename, res.status, opts.url), "AUTH"
  end
  if res.status >= 300 and res.status < 400 then
    return nil, string.format("uploading %s: HTTP %d from %s, redirecting to %s; use the upload URL itself "
      .. "(uploads are not redirected, as with twine)", info.filename, res.status, opts.url,
      tostring(res.headers.location)), tostring(res.status)
  end
  if opts.index_url then
    local after, aerr, acode = check_index(opts, info)
    if after == nil and acode == "CONFLICT" then return nil, aerr, acode end
    if after then return after end
  end
  return nil, string.format("uploading %s: HTTP %d from %s: %s", info.filename, res.status, opts.url,
    first_line(res.body)), tostring(res.status)
end

-- opts with the upload's credentials for reading the index too (CodeArtifact
-- needs them there), unless it has index headers of its own.
local function with_index_credentials(opts)
  if not (opts.username or opts.password) or opts.index_headers then return opts end
  return setmetatable({ index_headers = { authorization = basic_auth(opts.username, opts.password) } },
                      { __index = opts })
end

-- upload{ url, path, username, password, index_url, index_headers,
--         comment, progress = "auto"|"bar"|"lines"|"none", timeout,
--         precheck = true, retries = 2, retry_delay = 1 }
-- With index_url, the index is read before posting (precheck; false skips
-- it, for an index that lags behind uploads) and again when the server
-- refuses the upload.
-- -> { status = "uploaded" | "identical", filename, sha256, message }
-- | nil, msg, code ("CONFLICT", "AUTH", an HTTP status, "CURLE_*", ...).
function M.upload(opts)
  if type(opts) ~= "table" or type(opts.url) ~= "string" or type(opts.path) ~= "string" then
    error("upload needs {url = ..., path = ...}", 2)
  end
  local parts, info, code = M.form(opts.path, opts)
  if not parts then return nil, info, code end
  opts = with_index_credentials(opts)
  if opts.precheck ~= false then
    local before, err, ecode = check_index(opts, info)
    if before == nil then return nil, err, ecode end
    if before then return before end
  end
  local res, perr, pcode = post_with_retries(opts, parts, info)
  if not res then return nil, "uploading " .. info.filename .. " to " .. opts.url .. ": " .. tostring(perr), pcode end
  if res.status < 200 or res.status >= 300 then return refused(opts, info, res) end
  return { status = "uploaded", filename = info.filename, sha256 = info.digests.sha256,
           message = info.filename .. ": uploaded" }
end

return M
