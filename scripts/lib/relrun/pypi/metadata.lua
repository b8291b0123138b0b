-- Python distributions: file names, project names, core metadata, RECORD.
--
-- Core metadata (a wheel's *.dist-info/METADATA, an sdist's PKG-INFO) is
-- RFC 822 headers and a body. It is read the way twine 4.0.2 reads it
-- (pkginfo over Python's email parser), so the upload form built from it
-- carries the same values twine would send:
--   * a header's value is its first line after the colon and every
--     continuation line, each stripped, joined by one space;
--   * "Description" (the old header form) keeps its lines, dropping the
--     8-space indent continuation lines carry;
--   * a single-value field that reads "UNKNOWN" counts as absent;
--   * the body, when present, is the description (for a wheel, always).
local archive = require("relrun.util").lazy("relrun.archive")   -- loaded on first use (util.lazy)
local hash = require "relrun.hash"

local M = {}

-- The fields of each Metadata-Version (pkginfo's HEADER_ATTRS): header
-- name, key, multiple values. Later versions add to earlier ones.
local V1_0 = {
  { "Metadata-Version", "metadata_version" }, { "Name", "name" }, { "Version", "version" },
  { "Platform", "platforms", true }, { "Supported-Platform", "supported_platforms", true },
  { "Summary", "summary" }, { "Description", "description" }, { "Keywords", "keywords" },
  { "Home-Page", "home_page" }, { "Author", "author" }, { "Author-email", "author_email" },
  { "License", "license" },
}
local V1_1 = {
  { "Classifier", "classifiers", true }, { "Download-URL", "download_url" },
  { "Requires", "requires", true }, { "Provides", "provides", true }, { "Obsoletes", "obsoletes", true },
}
local V1_2 = {
  { "Maintainer", "maintainer" }, { "Maintainer-email", "maintainer_email" },
  { "Requires-Python", "requires_python" }, { "Requires-External", "requires_external", true },
  { "Requires-Dist", "requires_dist", true }, { "Provides-Dist", "provides_dist", true },
  { "Obsoletes-Dist", "obsoletes_dist", true }, { "Project-URL", "project_urls", true },
}
local V2_1 = { { "Provides-Extra", "provides_extras", true },
               { "Description-Content-Type", "description_content_type" } }
local V2_2 = { { "Dynamic", "dynamic", true } }

local function concat(...)
  local out = {}
  for _, list in ipairs({ ... }) do
    for _, f in ipairs(list) do out[#out + 1] = f end
  end
  return out
end

M.FIELDS = {
  ["1.0"] = V1_0,
  ["1.1"] = concat(V1_0, V1_1),
  ["1.2"] = concat(V1_0, V1_1, V1_2),
  ["2.0"] = concat(V1_0, V1_1, V1_2),
  ["2.1"] = concat(V1_0, V1_1, V1_2, V2_1),
  ["2.2"] = concat(V1_0, V1_1, V1_2, V2_1, V2_2),
}
-- Every field key that is a list.
M.MULTIPLE = {}
for _, f in ipairs(M.FIELDS["2.2"]) do
  if f[3] then M.MULTIPLE[f[2]] = true end
end

-- ---- names ---------------------------------------------------------------

-- PEP 503: runs of "-", "_", "." become one "-", lower case.
function M.normalize(name)
  return (name:gsub("[-_.]+", "-"):lower())
end

-- Whether `name` is a project name PEP 508 allows (the core metadata's
-- Name): ASCII letters and digits, with ".", "_" and "-" inside but not at
-- either end. Nothing else may become a folder name: "/abs/x" or "../x"
-- would put files outside a repository.
function M.valid_name(name)
  return type(name) == "string" and (name:match("^[A-Za-z0-9]$") or name:match("^[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]$"))
    ~= nil
end

-- The name twine sends (pkg_resources.safe_name): runs of anything but
-- letters, digits and "." become one "-"; case kept.
function M.safe_name(name)
  return (name:gsub("[^A-Za-z0-9.]+", "-"))
end

-- ---- file names ------------------------------------------------------------

local function basename(path)
  return path:match("([^/]+)$") or path
end

-- PEP 427: {name}-{version}(-{build})?-{python}-{abi}-{platform}.whl
function M.parse_wheel_filename(filename)
  local base = basename(filename)
  local stem = base:match("^(.+)%.whl$")
  if not stem then return nil, base .. ": not a wheel file name (expected .whl)" end
  local parts = {}
  for p in (stem .. "-"):gmatch("([^-]*)-") do parts[#parts + 1] = p end
  if #parts ~= 5 and #parts ~= 6 then
    return nil, base .. ": not a wheel file name (expected name-version[-build]-python-abi-platform.whl)"
  end
  for _, p in ipairs(parts) do
    if p == "" then return nil, base .. ": empty part in wheel file name" end
  end
  local build = #parts == 6 and parts[3] or nil
  if build and not build:match("^%d") then
    return nil, base .. ": wheel build tag must start with a digit: " .. build
  end
  local w = {
    kind = "wheel", filename = base, name = parts[1], version = parts[2], build = build,
    python = parts[#parts - 2], abi = parts[#parts - 1], platform = parts[#parts],
  }
  w.tags = {}
  for py in w.python:gmatch("[^.]+") do
    for abi in w.abi:gmatch("[^.]+") do
      for plat in w.platform:gmatch("[^.]+") do w.tags[#w.tags + 1] = py .. "-" .. abi .. "-" .. plat end
    end
  end
  return w
end

local SDIST_EXTENSIONS = { ".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tar" }

-- PEP 625 ({normalized_name}-{version}.tar.gz) and the older form that kept
-- the project's own spelling (stock-pipeline-1.0.0.tar.gz): the version is
-- the part after the last "-" that is followed by a digit.
function M.parse_sdist_filename(filename)
  local base = basename(filename)
  local stem, ext
  for _, e in ipairs(SDIST_EXTENSIONS) do
    if base:sub(-#e) == e and #base > #e then stem, ext = base:sub(1, -#e - 1), e break end
  end
  if not stem then return nil, base .. ": not an sdist file name (expected .tar.gz or .zip)" end
  local name, version = stem:match("^(.-)%-(%d[^-]*)$")
  if not name or name == "" then
    return nil, base .. ": not an sdist file name (expected name-version" .. ext .. ")"
  end
  return { kind = "sdist", filename = base, name = name, version = version, extension = ext }
end

-- Either kind, by extension.
function M.parse_filename(filename)
  if filename:match("%.whl$") then return M.parse_wheel_filename(filename) end
  return M.parse_sdist_filename(filename)
end

-- ---- core metadata ---------------------------------------------------------

local function lines_of(s)
  local out = {}
  for line in (s:gsub("\r\n", "\n"):gsub("\r", "\n") .. "\n"):gmatch("([^\n]*)\n") do
    out[#out + 1] = line
  end
  if s:sub(-1) == "\n" or s:sub(-1) == "\r" then out[#out] = nil end
  return out
end

local strip = require("relrun.util").trim

-- pkginfo's _collapse_leading_ws: one line for every header but Description.
local function collapse(key, raw)
  if key == "description" then
    local out = {}
    for _, l in ipairs(lines_of(strip(raw))) do
      out[#out + 1] = l:sub(1, 8) == "        " and l:sub(9) or l
    end
    return table.concat(out, "\n")
  end
  local out = {}
  for _, l in ipairs(lines_of(raw)) do out[#out + 1] = strip(l) end
  return table.concat(out, " ")
end

-- Split RFC 822 text into headers { {name, raw value} } and the body, as
-- Python's email parser does: a header line is "Name:" with printable
-- characters; lines starting with space or tab continue it; the first empty
-- line (or any other line) ends the headers.
function M.split_headers(text)
  local headers, pos = {}, 1
  while pos <= #text do
    local nl = text:find("\n", pos, true)
    local line = text:sub(pos, (nl or #text + 1) - 1)
    local bare = line:gsub("\r$", "")
    if bare == "" then pos = (nl or #text) + 1 break end
    local name, value = bare:match("^([\33-\57\59-\126]+):(.*)$")
    if name then
      headers[#headers + 1] = { name, (value:gsub("^[ \t]+", "")) }
    elseif line:match("^[ \t]") and #headers > 0 then
      local h = headers[#headers]
      h[2] = h[2] .. "\n" .. bare
    else
      break -- not a header: the body starts here (email's missing separator)
    end
    pos = (nl or #text) + 1
  end
  return headers, text:sub(pos)
end

-- The headers' values by lower-case name, in order.
local function values_by_name(headers)
  local by_name = {}
  for _, h in ipairs(headers) do
    local key = h[1]:lower()
    by_name[key] = by_name[key] or {}
    table.insert(by_name[key], h[2])
  end
  return by_name
end

-- meta[key] for each field of `fields` present: lists as arrays, a single
-- value collapsed ("UNKNOWN" is no value, as pkginfo reads it).
local function add_fields(meta, fields, by_name)
  for _, f in ipairs(fields) do
    local header, key, multiple = f[1], f[2], f[3]
    local values = by_name[header:lower()]
    if key ~= "metadata_version" and values then
      if multiple then
        local list = {}
        for i, v in ipairs(values) do list[i] = collapse(key, v) end
        meta[key] = list
      else
        local v = collapse(key, values[1])
        if v ~= "UNKNOWN" then meta[key] = v end
      end
    end
  end
end

-- Parse METADATA / PKG-INFO text. kind "wheel" makes the body the
-- description even when empty (twine's Wheel.parse); otherwise a non-empty
-- body replaces a Description header. Returns a table with the field keys
-- of M.FIELDS (lists as arrays), `headers` = { lower name = {values} } for
-- everything present, and `body`.
function M.parse(text, kind)
  if type(text) ~= "string" then error("metadata text must be a string", 2) end
  local headers, body = M.split_headers(text)
  local by_name = values_by_name(headers)
  local meta = { headers = by_name, body = body }
  local mv = by_name["metadata-version"] and collapse("", by_name["metadata-version"][1])
  meta.metadata_version = mv
  -- versions newer than twine's pkginfo knows are read with the newest set
  local fields = M.FIELDS[mv or ""] or (mv and M.FIELDS["2.2"]) or {}
  meta.known_version = M.FIELDS[mv or ""] ~= nil
  add_fields(meta, fields, by_name)
  if kind == "wheel" or body ~= "" then meta.description = body end
  return meta
end

-- ---- reading an artifact ---------------------------------------------------

-- twine's choice among candidates: the shortest path (fewest parts) first.
local function by_depth(names, want)
  local found = {}
  for _, n in ipairs(names) do
    if n:find(want, 1, true) then found[#found + 1] = n end
  end
  table.sort(found, function(a, b)
    local _, da = a:gsub("/", "")
    local _, db = b:gsub("/", "")
    if da ~= db then return da < db end
    return a < b
  end)
  return found
end

local function member_names(path)
  local entries, err, code = archive.list(path)
  if not entries then return nil, err, code end
  local names = {}
  for _, e in ipairs(entries) do
    if e.type == "file" then names[#names + 1] = e.name end
  end
  return names
end

-- The metadata file of a wheel (`*.dist-info/METADATA` at the top) or an
-- sdist (`<top>/PKG-INFO`): name in the archive and text.
function M.metadata_file(path)
  local kind = path:match("%.whl$") and "wheel" or "sdist"
  local names, err, code = member_names(path)
  if not names then return nil, err, code end
  local want = kind == "wheel" and "METADATA" or "PKG-INFO"
  for _, name in ipairs(by_depth(names, want)) do
    local ok_name = kind == "wheel" and name:match("^[^/]+%.dist%-info/METADATA$")
      or name:match("^[^/]+/PKG%-INFO$")
    if ok_name then
      local text, rerr, rcode = archive.read(path, name, { max_bytes = 16 * 1024 * 1024 })
      if not text then return nil, rerr, rcode end
      if text:find("Metadata-Version", 1, true) then return name, text, kind end
    end
  end
  return nil, string.format("%s: no %s in the %s; is it a %s built by a PEP 517 backend?",
    path, kind == "wheel" and "*.dist-info/METADATA" or "PKG-INFO", kind, kind), "ENOENT"
end

-- read(path) -> metadata (M.parse's table, plus kind, member, filename)
-- | nil, msg, code.
-- A release reads each file's metadata at inspection, upload, the
-- repository's check and verify: kept per file identity (path, size,
-- mtime to the nanosecond), so a file replaced in between is read again.
local read_cache = {}

local function identity(path)
  local st = require("relrun.fs").stat(path)
  return st and string.format("%s\0%d\0%.9f", path, st.size, st.mtime)
end

function M.read(path)
  local key = identity(path)
  local meta = key and read_cache[key]
  if not meta then
    local member, text, kind = M.metadata_file(path)
    if not member then return nil, text, kind end
    meta = M.parse(text, kind)
    meta.kind, meta.member, meta.filename = kind, member, basename(path)
    if key then read_cache[key] = meta end
  end
  local copy = {}   -- callers may add fields: each gets its own table
  for k, v in pairs(meta) do copy[k] = v end
  return copy
end

-- What twine (and indexes) would reject, as a list of messages.
function M.problems(meta)
  local out = {}
  if not meta.metadata_version then
    out[#out + 1] = "Metadata-Version is missing"
  elseif not meta.metadata_version:match("^%d+%.%d+$") then
    out[#out + 1] = "Metadata-Version is not a version: " .. meta.metadata_version
  end
  if not meta.name or meta.name == "" then
    out[#out + 1] = "Name is missing"
  elseif not M.valid_name(meta.name) then
    out[#out + 1] = string.format("Name %q is not a project name (PEP 508: letters, digits, '.', '_', '-', " ..
      "beginning and ending with a letter or digit)", meta.name)
  end
  if not meta.version or meta.version == "" then out[#out + 1] = "Version is missing" end
  return out
end

-- ---- RECORD ----------------------------------------------------------------

-- The quoted CSV field that starts at line[i] (a '"'), with "" as a quote:
-- its text and where the field after it starts; nil when it is malformed.
local function quoted_field(line, i)
  local buf, j = {}, i + 1
  while true do
    local q = line:find('"', j, true)
    if not q then return nil end
    buf[#buf + 1] = line:sub(j, q - 1)
    if line:sub(q + 1, q + 1) ~= '"' then
      if q < #line and line:sub(q + 1, q + 1) ~= "," then return nil end
      return table.concat(buf), q + 2
    end
    buf[#buf + 1] = '"'
    j = q + 2
  end
end

-- One CSV line (RFC 4180 quoting, as Python's csv module writes it).
local function csv_fields(line)
  local out, i, n = {}, 1, #line
  while i <= n + 1 do
    if line:sub(i, i) == '"' then
      local field, after = quoted_field(line, i)
      if not field then return nil end
      out[#out + 1], i = field, after
    else
      local c = line:find(",", i, true) or n + 1
      out[#out + 1] = line:sub(i, c - 1)
      i = c + 1
    end
  end
  return out
end

function M.parse_record(text)
  local rows = {}
  for n, line in ipairs(lines_of(text)) do
    if line ~= "" then
      local f = csv_fields(line)
      if not f or #f ~= 3 then return nil, string.format("RECORD line %d: expected path,hash,size", n) end
      rows[#rows + 1] = { path = f[1], hash = f[2], size = f[3], line = n }
    end
  end
  return rows
end

-- A digest as RECORD writes it after "sha256=": urlsafe base64 without padding.
local function urlsafe_b64(raw)
  return (hash.base64_encode(raw):gsub("%+", "-"):gsub("/", "_"):gsub("=+$", ""))
end

local function check_row(row, data)
  if not data then return "listed in RECORD but missing from the wheel" end
  local alg, want = row.hash:match("^([%w_]+)=(.+)$")
  if not alg then return "no hash in RECORD" end
  if alg ~= "sha256" and alg ~= "sha512" then
    return "hash algorithm " .. alg .. " is not supported (sha256 or sha512)"
  end
  local got = urlsafe_b64(hash.digest(alg, data))
  if got ~= want then return string.format("%s mismatch: RECORD has %s, the file has %s", alg, want, got) end
  if row.size ~= "" and tonumber(row.size) ~= #data then
    return string.format("size mismatch: RECORD has %s, the file has %d bytes", row.size, #data)
  end
  return nil
end

-- The wheel's *.dist-info/RECORD member name, or nil.
local function record_member(files)
  local found
  for name in pairs(files) do
    if name:match("^[^/]+%.dist%-info/RECORD$") then found = name end
  end
  return found
end

-- What is wrong between RECORD's rows and the wheel's files, sorted:
-- listed files missing or differing, and files not listed.
local function record_problems(files, rows, exempt)
  local problems, listed = {}, {}
  for _, row in ipairs(rows) do
    listed[row.path] = true
    if not exempt[row.path] then
      local why = check_row(row, files[row.path])
      if why then problems[#problems + 1] = row.path .. ": " .. why end
    end
  end
  for name in pairs(files) do
    if not listed[name] and not exempt[name] then problems[#problems + 1] = name .. ": not listed in RECORD" end
  end
  table.sort(problems)
  return problems
end

-- verify_record(wheel_path) -> true | nil, message, "RECORD", problems
-- Every file in the wheel must be listed with a matching hash and size
-- (RECORD itself and its signatures excepted); every listed file must exist.
-- What read_all may inflate: the wheel's own declared sizes (a release with
-- a 200 MB data file is a real wheel, over read_all's 128 MB default), never
-- less than that default, never more than 2 GiB; an archive inflating past
-- what it declares is refused all the same.
local READ_DEFAULT, READ_MOST = 128 << 20, 2 << 30
local function wheel_bytes(path)
  local total = 1 << 20
  for _, e in ipairs(archive.list(path) or {}) do total = total + (e.size or 0) end
  return math.max(READ_DEFAULT, math.min(total, READ_MOST))
end

function M.verify_record(path)
  local files, err, code = archive.read_all(path, { max_bytes = wheel_bytes(path) })
  if not files then return nil, err, code end
  local record_name = record_member(files)
  if not record_name then return nil, path .. ": no *.dist-info/RECORD in the wheel", "RECORD", {} end
  local rows, perr = M.parse_record(files[record_name])
  if not rows then return nil, path .. ": " .. perr, "RECORD", {} end
  local dist_info = record_name:match("^(.-)RECORD$")
  local exempt = { [record_name] = true, [dist_info .. "RECORD.jws"] = true, [dist_info .. "RECORD.p7s"] = true }
  local problems = record_problems(files, rows, exempt)
  if #problems > 0 then
    return nil, string.format("%s: RECORD does not match the wheel (%d problem%s; first: %s); rebuild the wheel",
      basename(path), #problems, #problems == 1 and "" or "s", problems[1]), "RECORD", problems
  end
  return true
end

return M
