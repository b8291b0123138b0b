-- relrun.maintain.versions: RELEASE.md "Monitor CodeArtifact storage costs" —
-- every version of the package in the target with its status, its PEP 440
-- kind, its publish time and size, and what the storage costs a month.
--
--   local versions = require "relrun.maintain.versions"
--   local rows = versions.collect(target)          -- target:versions() with kind and size
--   local sum = versions.totals(rows, 0.05)        -- bytes, GB, dollars a month, counts by kind
--   versions.text(rows, sum) / versions.markdown(rows, sum) / versions.document(rows, sum, target)
local pep440 = require "relrun.pep440"

local M = {}

M.GIB = 1024 ^ 3   -- AWS bills storage per GB of 2^30 bytes

-- kind("1.2.3.dev4") -> "dev" | "pre" | "post" | "final" | "invalid" (PEP 440:
-- a dev release of anything is dev; a post-release of a pre-release is pre).
function M.kind(version)
  local v = pep440.parse(version)
  if not v then return "invalid" end
  if v.dev then return "dev" end
  if v.pre then return "pre" end
  if v.post then return "post" end
  return "final"
end

-- collect(target) -> rows, oldest first: { version, status, kind, published, size, files }.
function M.collect(target)
  local rows = {}
  for _, v in ipairs(target:versions()) do
    local size = 0
    for _, f in ipairs(v.files or {}) do size = size + (f.size or 0) end
    rows[#rows + 1] = { version = v.version, status = v.status, kind = M.kind(v.version), published = v.published,
                        size = size, files = v.files or {}, revision = v.revision }
  end
  return rows
end

-- totals(rows, price) -> { versions, bytes, gb, monthly, price, by_kind = { dev = {count, bytes} }, by_status }.
function M.totals(rows, price)
  local t = { versions = #rows, bytes = 0, price = price, by_kind = {}, by_status = {} }
  for _, r in ipairs(rows) do
    t.bytes = t.bytes + r.size
    local k = t.by_kind[r.kind] or { count = 0, bytes = 0 }
    k.count, k.bytes = k.count + 1, k.bytes + r.size
    t.by_kind[r.kind] = k
    t.by_status[r.status] = (t.by_status[r.status] or 0) + 1
  end
  t.gb = t.bytes / M.GIB
  t.monthly = t.gb * price
  return t
end

-- 1536 -> "1.5 KiB"
function M.size_text(bytes)
  local units, n, i = { "B", "KiB", "MiB", "GiB", "TiB" }, bytes, 1
  while n >= 1024 and i < #units do n, i = n / 1024, i + 1 end
  return i == 1 and string.format("%d B", n) or string.format("%.1f %s", n, units[i])
end

local function time_text(t)
  return t and os.date("!%Y-%m-%d %H:%M", t) or "-"
end

-- The dollars, in cents.
function M.money(x)
  return string.format("$%.2f", x)
end

local function kinds_text(t)
  local parts = {}
  for _, k in ipairs({ "final", "pre", "post", "dev", "invalid" }) do
    local c = t.by_kind[k]
    if c then parts[#parts + 1] = string.format("%d %s (%s)", c.count, k, M.size_text(c.bytes)) end
  end
  return table.concat(parts, ", ")
end

-- The closing line: total storage and the month's estimate.
function M.summary_line(t)
  return string.format("%d version(s), %s stored: about %s a month at %s per GB-month%s", t.versions,
    M.size_text(t.bytes), M.money(t.monthly), M.money(t.price), t.versions > 0 and ("; " .. kinds_text(t)) or "")
end

-- text(rows, totals) -> the lines of the table a terminal shows.
function M.text(rows, t)
  local out = { string.format("%-28s %-10s %-6s %-16s %10s %5s", "VERSION", "STATUS", "KIND", "PUBLISHED (UTC)",
                              "SIZE", "FILES") }
  for _, r in ipairs(rows) do
    out[#out + 1] = string.format("%-28s %-10s %-6s %-16s %10s %5d", r.version, r.status, r.kind,
      time_text(r.published), M.size_text(r.size), #r.files)
  end
  out[#out + 1] = M.summary_line(t)
  return out
end

local function cell(s) return (tostring(s):gsub("|", "\\|")) end

-- markdown(rows, totals, label) -> the step summary's table.
function M.markdown(rows, t, label)
  local out = { "### Versions in " .. cell(label or "the target"), "",
                "| version | status | kind | published (UTC) | size | files |", "|---|---|---|---|--:|--:|" }
  for _, r in ipairs(rows) do
    out[#out + 1] = string.format("| %s | %s | %s | %s | %s | %d |", cell(r.version), r.status, r.kind,
      time_text(r.published), M.size_text(r.size), #r.files)
  end
  out[#out + 1] = ""
  out[#out + 1] = "**" .. M.summary_line(t) .. "**"
  return table.concat(out, "\n") .. "\n"
end

-- document(rows, totals, target) -> what --json prints.
function M.document(rows, t, target)
  local json = require "relrun.json"
  local list = {}
  for i, r in ipairs(rows) do
    local files = {}
    for k, f in ipairs(r.files) do files[k] = { filename = f.filename, size = f.size, sha256 = f.sha256 } end
    list[i] = { version = r.version, status = r.status, kind = r.kind, size = r.size, files = json.array(files),
                published = r.published and os.date("!%Y-%m-%dT%H:%M:%SZ", r.published) or json.null }
  end
  local kinds = {}
  for k, c in pairs(t.by_kind) do kinds[k] = { count = c.count, bytes = c.bytes } end
  return { target = target.label, kind = target.kind, versions = json.array(list),
           total = { versions = t.versions, bytes = t.bytes, gb = t.gb, price_per_gb_month = t.price,
                     monthly_cost = t.monthly, by_kind = kinds } }
end

return M
