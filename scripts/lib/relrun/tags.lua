-- relrun.tags: release tags — the one place that knows how a tag names a
-- version. A scheme is a prefix and a PEP 440 version: "v1.2.3" (prefix
-- "v"), "1.2.3" (no prefix, as pluggy and attrs tag), "bronze-v1.2.3" (one
-- prefix per package of a repository that releases several). Semver-style
-- spellings are read as setuptools_scm reads them: "v1.2.3-rc.1" is 1.2.3rc1.
-- A scheme also keeps its tags' spelling: "_" between numbers (SQLAlchemy's
-- rel_2_0_36 is 2.0.36) and x.y for x.y.0 (pip's 26.3).
--
--   local tags = require "relrun.tags"
--   local scheme = tags.scheme{ prefix = cfg.tag_prefix, names = { "v1.0.0", "v1.1.0" } }
--   scheme.prefix, scheme.how                  --> "v", "detected from 2 tags"
--   scheme:version("v1.1.0")                   --> "1.1.0" (nil for a tag of another scheme)
--   scheme:tag("1.2.0")                        --> "v1.2.0"
--   local list = scheme:releases(names)        --> { {name, version, parsed}, ... } lowest first
--   scheme:pattern()                           --> "vVERSION" ("rel_VERSION with _ between numbers")
--   scheme:bump("26.2.1", "minor")             --> "26.3.0" ("26.3" when the tags write 26.3)
--   tags.bump("1.2.0", "minor")                --> "1.3.0"
--   tags.bump("1.3.0rc1", "pre")               --> "1.3.0rc2"
local pep440 = require "relrun.pep440"
local errors = require "relrun.errors"

local M = {}

local Scheme = {}
Scheme.__index = Scheme

-- Release numbers written with "_" for "." (SQLAlchemy's rel_2_0_36): only
-- a "_" between two digits stands for a dot, so rel_2_1_0b3 is 2.1.0b3.
local function dotted(text)
  local n
  repeat text, n = text:gsub("(%d)_(%d)", "%1.%2") until n == 0
  return text
end

-- How a version's numbers are separated: "_", ".", nil for one number alone
-- (it reads the same in both), false for both at once (not a release).
local function separator(text)
  local under, dot = text:find("%d_%d") ~= nil, text:find("%d%.%d") ~= nil
  if under and dot then return false end
  return under and "_" or dot and "." or nil
end

-- The prefix, version and separator of a tag name: the prefix is everything
-- before the first digit, and the rest must be a PEP 440 version without a
-- local segment (a build's "+..." is not a release).
local function split(name)
  local prefix, rest = name:match("^(%D*)(%d.*)$")
  if not prefix then return nil end
  local sep = separator(rest)
  if sep == false then return nil end
  local v = pep440.parse(sep == "_" and dotted(rest) or rest)
  if not v or v:local_part() then return nil end
  return prefix, v, sep
end

-- Whether a tag prefix names the package: "hatch-v", "hatch-", "hatch/v",
-- "hatch@", "hatch==" for hatch (never "hatchling-v": a repository
-- releasing both is pypa/hatch), or the package's last part in a
-- repository whose packages share a first one (langgraph tags
-- langgraph-checkpoint's releases checkpoint==4.2.0).
local function names_package(prefix, package)
  if not package then return false end
  local function norm(t) return (t:lower():gsub("[-_.]+", "-")) end
  local stem = norm(prefix):gsub("[-/@=:]*v?$", ""):gsub("[-/@=:]+$", "")
  if stem == "" then return false end
  if stem == norm(package) then return true end
  -- the package's last parts, written with or without their dashes
  -- (langgraph-checkpoint-sqlite tags checkpointsqlite==2.0.1)
  local parts, bare = {}, stem:gsub("%-", "")
  for part in norm(package):gmatch("[^-]+") do parts[#parts + 1] = part end
  for first = #parts, 2, -1 do
    local tail = table.concat(parts, "-", first)
    if stem == tail or bare == tail:gsub("%-", "") then return true end
  end
  return false
end

-- Prefixes that say "a release" in any project: a tag such as nightly-2026,
-- build-17 or deploy-3 has a version-shaped tail but names something else.
local GENERIC = { [""] = true, v = true, V = true, ["release-"] = true, ["release/"] = true, ["release-v"] = true,
                  ["rel-"] = true, ["rel_"] = true, ["release_"] = true, ["version-"] = true, r = true }

-- How strongly a prefix claims to be the project's release scheme: the
-- package's own (2: a repository releasing several packages), a generic
-- release prefix (1), anything else (0). A generic prefix that tagged the
-- package prefix's last release again (same version, same commit) is the
-- same package's, renamed, and claims as much: pyparsing tagged
-- pyparsing_3.1.0 .. pyparsing_3.1.2 and 3.1.0 .. 3.1.2 on the same commits,
-- then went on bare to 3.3.2.
local function claim(prefix, package, found)
  if names_package(prefix, package) then return 2 end
  if not GENERIC[prefix] then return 0 end
  for other, f in pairs(found) do
    -- renamed: the package's prefix stopped at a release the generic one
    -- tagged too; one that went on after it is still the package's own
    -- (langgraph tagged prebuilt==0.5.0 and 0.5.0 together, then
    -- prebuilt== alone to 1.1.0, while the bare tags are langgraph's)
    local last = names_package(other, package) and tostring(f.highest)
    if last and f.commits[last] and found[prefix].commits[last] == f.commits[last] then return 2 end
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

-- The separator most of each prefix's tags write their numbers with: "_"
-- when more of them use it than ".". -> { [prefix] = "_" | "." }
local function separators(names)
  local count = {}
  for _, name in ipairs(names) do
    local prefix, _, sep = split(name)
    if sep then
      local c = count[prefix] or { ["."] = 0, _ = 0 }
      c[sep] = c[sep] + 1
      count[prefix] = c
    end
  end
  local out = {}
  for prefix, c in pairs(count) do out[prefix] = c._ > c["."] and "_" or "." end
  return out
end

-- The release tags of each prefix, in its usual separator: { [prefix] =
-- { n, highest, commits = { [version] = commit } } }.
local function releases_by_prefix(opts, seps)
  local found = {}
  for _, name in ipairs(opts.names or {}) do
    local prefix, v, sep = split(name)
    if prefix and not v:is_devrelease() and (sep == nil or sep == seps[prefix]) then
      local f = found[prefix] or { n = 0, highest = v, commits = {} }
      f.n = f.n + 1
      if pep440.compare(v, f.highest) > 0 then f.highest = v end
      f.commits[tostring(v)] = opts.targets and opts.targets[name] or nil
      found[prefix] = f
    end
  end
  return found
end

local function plural(n, word) return string.format("%d %s%s", n, word, n == 1 and "" or "s") end

-- The detected prefix and how it was found.
local function detect(opts, seps)
  local best, n = choose(releases_by_prefix(opts, seps), opts.package)
  if best then return best, "detected from " .. plural(n, "tag") end
  -- tags that are all something else (latest, nightly) are not "no tags"
  local all = #(opts.names or {})
  if all > 0 then return "v", string.format("default (%s, none reads as a release version)", plural(all, "tag")) end
  return "v", "default (no release tags yet)"
end

-- Whether the project writes x.y.0 as x.y (pip: 26.0, 26.1, 26.2, 26.2.1):
-- a release has two numbers and none has three ending in 0.
local function spells_two_parts(s, names)
  local two = false
  for _, r in ipairs(s:releases(names)) do
    local release = r.parsed.release
    if #release == 3 and release[3] == 0 then return false end
    two = two or #release == 2
  end
  return two
end

-- scheme{ prefix = "v" | "" | nil (detect), names = { tag names }, package = name,
--   targets = { [name] = commit id } (optional: how a renamed scheme is recognised) }.
-- The separator ("." or "_") and the two-part spelling come from the tags
-- even when the prefix is configured.
function M.scheme(opts)
  local s = setmetatable({}, Scheme)
  local seps = separators(opts.names or {})
  if opts.prefix ~= nil then
    s.prefix, s.how = opts.prefix, "configured"
  else
    s.prefix, s.how = detect(opts, seps)
  end
  s.sep = seps[s.prefix] or "."
  s.two_parts = spells_two_parts(s, opts.names or {})
  return s
end

-- The normalised version a tag names in this scheme, or nil.
function Scheme:version(name)
  if name:sub(1, #self.prefix) ~= self.prefix then return nil end
  local prefix, v, sep = split(name)
  -- "v1.0" in the "" scheme is not a release tag: its prefix is "v"
  if prefix ~= self.prefix or (sep and sep ~= self.sep) then return nil end
  return tostring(v), v
end

function Scheme:tag(version)
  if self.sep == "_" then
    local n
    repeat version, n = version:gsub("(%d)%.(%d)", "%1_%2") until n == 0
  end
  return self.prefix .. version
end

-- The tags' form for people: "vVERSION", "rel_VERSION with _ between numbers".
function Scheme:pattern()
  return self.prefix .. "VERSION" .. self:note()
end

-- What the prefix alone does not say about the spelling: "" or " with _ between numbers".
function Scheme:note()
  return self.sep == "_" and " with _ between numbers" or ""
end

-- tags.bump and tags.next_versions in this project's spelling (x.y for x.y.0).
function Scheme:bump(version, part, pre)
  return M.bump(version, part, pre, { two_parts = self.two_parts })
end

function Scheme:next_versions(last)
  return M.next_versions(last, { two_parts = self.two_parts })
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

-- The last release among `names`, or nil: the highest (pre-releases
-- included). With `standing(name)` -> { contained, time, id } | nil (what
-- the repository knows of a tag: whether HEAD holds its commit, the
-- commit's time and id), `holds(a, b)` (whether commit a holds commit b;
-- nil when unknown) and `head` (HEAD's commit id): a tag HEAD does not
-- hold is another branch's (9.2.0 seen from a 9.1.x maintenance branch)
-- when `contained` says so, and is left out; a pre-release is left out
-- when a lower final release was made after it, either on top of it
-- (httpx tagged 1.0.0.beta0 in 2021, then released 0.19 … 0.28.1 from the
-- same line) or while HEAD does not hold it (sentry's 3.0.0a7 on a side
-- branch, 2.x released from master since). sqlalchemy's 2.1.0b3 stays: main
-- holds it, and the 2.0.x fixes made after it are another branch's.
-- Unknown standing counts as held.
function Scheme:last(names, standing, holds, head)
  local list = self:releases(names)
  if not standing then return list[#list] end
  local function abandoned(pre, final)
    if not (pre.time and final.time and pre.time < final.time and pre.id and final.id) then return false end
    return holds(final.id, pre.id) or (head ~= nil and holds(head, pre.id) == false)
  end
  local pres = {}   -- held pre-releases above the highest held final release, highest first
  for i = #list, 1, -1 do
    local r, at = list[i], standing(list[i].name) or {}
    if at.contained ~= false then
      if not r.parsed:is_prerelease() then
        for _, p in ipairs(pres) do
          if not abandoned(p, at) then return p.release end
        end
        return r
      end
      pres[#pres + 1] = { release = r, time = at.time, id = at.id }
    end
  end
  return pres[1] and pres[1].release
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

-- The next pre-release: the same label's next number, or the first of
-- pre_label (1.3.0b2 + rc -> 1.3.0rc1); of a final release, the first of the
-- next patch (9.1.0 + rc -> 9.1.1rc1: 9.1.0rc1 would come before 9.1.0).
local function bump_pre(v, label, epoch)
  if not v.pre then return M.bump(v, "patch", label) end
  local rel = release_text(v.release, #v.release)
  if not label or label == v.pre[1] then return epoch .. rel .. v.pre[1] .. (v.pre[2] + 1) end
  if label < v.pre[1] then
    return nil, errors.new("BUMP_PRE", string.format("%s%s would come before %s", rel, label .. "1", tostring(v)),
      { exit = 2 })
  end
  return epoch .. rel .. label .. "1"
end

-- The release numbers after bumping part `index`, and how many to write.
local function bump_release(v, index, two_parts)
  local release = { table.unpack(v.release) }
  local lower_zero = true
  for i = index + 1, #release do lower_zero = lower_zero and release[i] == 0 end
  local n = math.max(#release, index)
  if not (v.pre and lower_zero and index <= #release) then
    release[index] = (release[index] or 0) + 1
    for i = index + 1, n do release[i] = 0 end
  end
  -- a project that tags 26.3, not 26.3.0 (pip)
  if two_parts and index < 3 and n == 3 and release[3] == 0 then release[3], n = nil, 2 end
  return release, n
end

-- bump(version, part [, pre_label [, opts]]) -> version | nil, err.
--   part: "major" | "minor" | "patch" (keep the number of parts, adding
--   one only when the part is not there: 24.3 --patch-> 24.3.1),
--   "pre" (the next pre-release of the same label, or of pre_label:
--   1.3.0rc1 -> 1.3.0rc2, 1.3.0b2 + rc -> 1.3.0rc1, 9.1.0 + rc -> 9.1.1rc1),
--   "post" (1.2.0 -> 1.2.0.post1).
--   With pre_label, major/minor/patch give the first pre-release of that
--   version (1.2.0 --minor --pre rc-> 1.3.0rc1). Bumping a pre-release whose
--   lower parts are zero finishes it (1.3.0rc1 --minor-> 1.3.0), as semver does.
--   opts.two_parts: major and minor write x.y.0 as x.y (26.2.1 --minor-> 26.3).
function M.bump(version, part, pre, opts)
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
    return bump_pre(v, label, epoch)
  end
  if part == "post" then
    return epoch .. v:public():gsub("%.post%d+$", "") .. ".post" .. ((v.post or 0) + 1)
  end
  local index = PARTS[part]
  if not index then error("tags.bump: part must be major, minor, patch, pre or post", 2) end
  local text = epoch .. release_text(bump_release(v, index, opts and opts.two_parts))
  if label then text = text .. label .. "1" end
  return text
end

-- The next version for each bump of `last` (a release entry or nil):
-- { major, minor, patch [, pre] }; with no release yet, from 0.0.0.
-- opts: as bump's.
function M.next_versions(last, opts)
  local base = last and last.parsed or pep440.parse("0.0.0")
  local out = {}
  for _, part in ipairs({ "major", "minor", "patch" }) do out[part] = M.bump(base, part, nil, opts) end
  if base.pre then out.pre = M.bump(base, "pre", nil, opts) end
  return out
end

return M
