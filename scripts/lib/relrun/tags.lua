-- relrun.tags: release tags — the one place that knows how a tag names a
-- version. A scheme is a prefix and a PEP 440 version: "v1.2.3" (prefix
-- "v"), "1.2.3" (no prefix, as pluggy and attrs tag), "bronze-v1.2.3" (one
-- prefix per package of a repository that releases several). Semver-style
-- spellings are read as setuptools_scm reads them: "v1.2.3-rc.1" is 1.2.3rc1.
--
--   local tags = require "relrun.tags"
--   local scheme = tags.scheme{ prefix = cfg.tag_prefix, names = { "v1.0.0", "v1.1.0" } }
--   scheme.prefix, scheme.how                  --> "v", "detected from 2 tags"
--   scheme:version("v1.1.0")                   --> "1.1.0" (nil for a tag of another scheme)
--   scheme:tag("1.2.0")                        --> "v1.2.0"
--   local list = scheme:releases(names)        --> { {name, version, parsed}, ... } lowest first
--   tags.bump("1.2.0", "minor")                --> "1.3.0"
--   tags.bump("1.3.0rc1", "pre")               --> "1.3.0rc2"
local pep440 = require "relrun.pep440"
local errors = require "relrun.errors"

local M = {}

local Scheme = {}
Scheme.__index = Scheme

-- The prefix and version text of a tag name: the prefix is everything before
-- the first digit, and the rest must be a PEP 440 version without a local
-- segment (a build's "+..." is not a release).
local function split(name)
  local prefix, rest = name:match("^(%D*)(%d.*)$")
  if not prefix then return nil end
  local v = pep440.parse(rest)
  if not v or v:local_part() then return nil end
  return prefix, v
end

-- Whether a tag prefix names the package: "hatch-v", "hatch-", "hatch/v"
-- for hatch (never "hatchling-v": a repository releasing both is pypa/hatch).
local function names_package(prefix, package)
  if not package then return false end
  local function norm(t) return (t:lower():gsub("[-_.]+", "-")) end
  local stem = norm(prefix):gsub("[-/]?v?$", ""):gsub("[-/]$", "")
  return stem ~= "" and stem == norm(package)
end

-- Prefixes that say "a release" in any project: a tag such as nightly-2026,
-- build-17 or deploy-3 has a version-shaped tail but names something else.
local GENERIC = { [""] = true, v = true, V = true, ["release-"] = true, ["release/"] = true, ["release-v"] = true,
                  ["rel-"] = true, ["version-"] = true, r = true }

-- How strongly a prefix claims to be the project's release scheme: the
-- package's own (2: a repository releasing several packages), a generic
-- release prefix (1), anything else (0). A generic prefix that tagged one of
-- the package prefix's releases again (same version, same commit) is the
-- same package's, renamed, and claims as much: pyparsing tagged
-- pyparsing_3.1.0 .. pyparsing_3.1.2 and 3.1.0 .. 3.1.2 on the same commits,
-- then went on bare to 3.3.2.
local function claim(prefix, package, found)
  if names_package(prefix, package) then return 2 end
  if not GENERIC[prefix] then return 0 end
  for other, f in pairs(found) do
    if names_package(other, package) then
      for version, commit in pairs(f.commits) do
        if found[prefix].commits[version] == commit then return 2 end
      end
    end
  end
  return 1
end

-- The scheme in use: the strongest claim; among equals the prefix of the
-- newest release (jaraco's projects tagged 1.0..2.0 bare, then v2.1..v4.3:
-- 27 bare tags against 22, yet "v" is the scheme); a tie by most tags,
-- then "v", then "".
local function choose(found, package)
  local function rank(p) return p == "v" and 2 or p == "" and 1 or 0 end
  local best
  for p, f in pairs(found) do
    local better
    if not best then better = true
    elseif claim(p, package, found) ~= claim(best, package, found) then
      better = claim(p, package, found) > claim(best, package, found)
    else
      local c = pep440.compare(f.highest, found[best].highest)
      if c ~= 0 then better = c > 0
      elseif f.n ~= found[best].n then better = f.n > found[best].n
      elseif rank(p) ~= rank(best) then better = rank(p) > rank(best)
      else better = p < best end
    end
    if better then best = p end
  end
  return best, best and found[best].n
end

-- scheme{ prefix = "v" | "" | nil (detect), names = { tag names }, package = name,
--   targets = { [name] = commit id } (optional: how a renamed scheme is recognised) }.
function M.scheme(opts)
  local s = setmetatable({}, Scheme)
  if opts.prefix ~= nil then
    s.prefix, s.how = opts.prefix, "configured"
    return s
  end
  local found = {}
  for _, name in ipairs(opts.names or {}) do
    local prefix, v = split(name)
    if prefix and not v:is_devrelease() then
      local f = found[prefix] or { n = 0, highest = v, commits = {} }
      f.n = f.n + 1
      if pep440.compare(v, f.highest) > 0 then f.highest = v end
      f.commits[tostring(v)] = opts.targets and opts.targets[name] or nil
      found[prefix] = f
    end
  end
  local best, n = choose(found, opts.package)
  if best then
    s.prefix, s.how = best, string.format("detected from %d tag%s", n, n == 1 and "" or "s")
  else
    s.prefix, s.how = "v", "default (no release tags yet)"
  end
  return s
end

-- The normalised version a tag names in this scheme, or nil.
function Scheme:version(name)
  if name:sub(1, #self.prefix) ~= self.prefix then return nil end
  local prefix, v = split(name)
  -- "v1.0" in the "" scheme is not a release tag: its prefix is "v"
  if prefix ~= self.prefix then return nil end
  return tostring(v), v
end

function Scheme:tag(version)
  return self.prefix .. version
end

-- Release tags among `names`, lowest first: { name, version, parsed }.
-- Development versions (".devN") are never releases.
function Scheme:releases(names)
  local list, seen = {}, {}
  for _, name in ipairs(names) do
    local version, v = self:version(name)
    if version and not v:is_devrelease() and not seen[name] then
      seen[name] = true
      list[#list + 1] = { name = name, version = version, parsed = v }
    end
  end
  table.sort(list, function(a, b)
    local c = pep440.compare(a.parsed, b.parsed)
    if c ~= 0 then return c < 0 end
    return a.name < b.name
  end)
  return list
end

-- The highest release among `names` (pre-releases included), or nil.
function Scheme:last(names)
  local list = self:releases(names)
  return list[#list]
end

-- A parsed version's release tuple as text with `n` parts at least.
local function release_text(release, n)
  local parts = {}
  for i = 1, math.max(n, #release) do parts[i] = tostring(release[i] or 0) end
  return table.concat(parts, ".")
end

local PARTS = { major = 1, minor = 2, patch = 3 }
local PRE_LABELS = { a = true, b = true, rc = true, alpha = "a", beta = "b", c = "rc" }

local function pre_label(label)
  local l = label and label:lower()
  if not l or not PRE_LABELS[l] then return nil end
  return PRE_LABELS[l] == true and l or PRE_LABELS[l]
end

-- bump(version, part [, pre_label]) -> version | nil, err.
--   part: "major" | "minor" | "patch" (keep the number of parts, adding
--   one only when the part is not there: 24.3 --patch-> 24.3.1),
--   "pre" (the next pre-release of the same label, or of pre_label:
--   1.3.0rc1 -> 1.3.0rc2, 1.3.0b2 + rc -> 1.3.0rc1), "post" (1.2.0 -> 1.2.0.post1).
--   With pre_label, major/minor/patch give the first pre-release of that
--   version (1.2.0 --minor --pre rc-> 1.3.0rc1). Bumping a pre-release whose
--   lower parts are zero finishes it (1.3.0rc1 --minor-> 1.3.0), as semver does.
function M.bump(version, part, pre)
  local v = type(version) == "string" and pep440.parse(version) or version
  if not v then return nil, errors.new("BAD_VERSION", string.format("%q is not a PEP 440 version", tostring(version))) end
  local label = pre and pre_label(pre)
  if pre and not label then
    return nil, errors.new("BAD_PRE", string.format("--pre %s: a pre-release is a (alpha), b (beta) or rc", pre),
      { exit = 2 })
  end
  local epoch = v.epoch ~= 0 and (v.epoch .. "!") or ""
  if part == "pre" then
    if not v.pre and not label then
      return nil, errors.new("BUMP_PRE", string.format("%s is not a pre-release", tostring(v)),
        { hint = "start one with --bump minor --pre rc (or major/patch)", exit = 2 })
    end
    local rel = release_text(v.release, #v.release)
    if v.pre and (not label or label == v.pre[1]) then return epoch .. rel .. v.pre[1] .. (v.pre[2] + 1) end
    if v.pre and label < v.pre[1] then
      return nil, errors.new("BUMP_PRE", string.format("%s%s would come before %s", rel, label .. "1", tostring(v)),
        { exit = 2 })
    end
    return epoch .. rel .. label .. "1"
  end
  if part == "post" then
    return epoch .. v:public():gsub("%.post%d+$", "") .. ".post" .. ((v.post or 0) + 1)
  end
  local index = PARTS[part]
  if not index then error("tags.bump: part must be major, minor, patch, pre or post", 2) end
  local release = { table.unpack(v.release) }
  local lower_zero = true
  for i = index + 1, #release do lower_zero = lower_zero and release[i] == 0 end
  local n = math.max(#release, index)
  if not (v.pre and lower_zero and index <= #release) then
    release[index] = (release[index] or 0) + 1
    for i = index + 1, n do release[i] = 0 end
  end
  local text = epoch .. release_text(release, n)
  if label then text = text .. label .. "1" end
  return text
end

-- The next version for each bump of `last` (a release entry or nil):
-- { major, minor, patch [, pre] }; with no release yet, from 0.0.0.
function M.next_versions(last)
  local base = last and last.parsed or pep440.parse("0.0.0")
  local out = {}
  for _, part in ipairs({ "major", "minor", "patch" }) do out[part] = M.bump(base, part) end
  if base.pre then out.pre = M.bump(base, "pre") end
  return out
end

return M
