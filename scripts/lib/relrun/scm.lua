-- The version setuptools_scm 7.x (Debian's python3-setuptools-scm 7.1) prints
-- for a git checkout, computed from relrun.git instead of git subprocesses,
-- and the release gate built on it.
--
--   local scm = require "relrun.scm"
--   local v, err = scm.version(".")            --> "1.2.3.dev4+g1234567"
--   local info = scm.explain(".")              --> { version, tag, distance, dirty_files, shallow, ... }
--   local ok, err, code = scm.gate(".", "v1.2.3")
--
-- How setuptools_scm gets there (setuptools_scm/git.py, version.py):
--  1. `git describe --dirty --tags --long --match '*[0-9]*'`: nearest tag whose
--     name holds a digit, distance, git's abbreviated id, dirty (tracked
--     changes only). A "debian/" or "upstream/" prefix is dropped (Debian's patch).
--  2. No such tag: tag "0.0", distance = number of commits, node = the first 7
--     hex digits of HEAD (not git's abbreviation), dirty from `git status`.
--  3. distance 0 and clean is "exact". The tag's version is the tag_regex's
--     `version` group (or its only group), parsed and normalised by PEP 440.
--  4. version_scheme + local_scheme format the two halves; the date in
--     "+gNODE.dYYYYMMDD" is today in UTC (SOURCE_DATE_EPOCH when set).
local pep440 = require "relrun.pep440"
local errors = require "relrun.errors"
local pyre = require "relrun.pyre"
local toml = require "relrun.toml"

local M = {}

M.DEFAULT_TAG_REGEX = [[^(?:[\w-]+-)?(?P<version>[vV]?\d+(?:\.\d+){0,2}[^\+]*)(?:\+.*)?$]]
M.DESCRIBE_MATCH = "*[0-9]*"

-- Failures are relrun.errors values with a stable code: raised inside,
-- `nil, err, code` at the API boundary.
local function fail(code, fmt, ...)
  errors.raise(code or "SCM", string.format(fmt, ...))
end

local function protect(fn, ...)
  local good, a, b, c = pcall(fn, ...)
  if good then return a, b, c end
  if errors.is(a) then return nil, a, a.code end
  error(a, 0)
end

---------------------------------------------------------------------------
-- Configuration: pyproject.toml's [tool.setuptools_scm]
---------------------------------------------------------------------------

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

local function dirname(path)
  local d = path:match("^(.*)/[^/]*$")
  if d == "" then return "/" end
  return d or "."
end

local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  local pwd = os.getenv("PWD")
  local fs_ok, fs = pcall(require, "relrun.fs")
  if fs_ok and fs.cwd then pwd = fs.cwd() end
  if path == "." then return pwd end
  return pwd .. "/" .. path:gsub("^%./", "")
end

-- An absolute path without "." / ".." / symlinks when it exists (setuptools_scm
-- compares roots with os.path.samefile).
local function canonical(path)
  local fs_ok, fs = pcall(require, "relrun.fs")
  local real = fs_ok and fs.realpath and fs.realpath(absolute(path))
  return real or (absolute(path):gsub("/%.$", ""))
end

-- The nearest pyproject.toml from `dir` upward (setuptools_scm's CLI lookup).
function M.find_pyproject(dir)
  local d = absolute(dir or ".")
  while true do
    local p = (d == "/" and "" or d) .. "/pyproject.toml"
    if exists(p) then return p end
    if d == "/" or d == "" then return nil end
    d = dirname(d)
  end
end

local KNOWN_KEYS = {
  root = true, version_scheme = true, local_scheme = true, tag_regex = true, fallback_version = true,
  dist_name = true, normalize = true, write_to = true, write_to_template = true, relative_to = true,
  parentdir_prefix_version = true, version_cls = true, search_parent_directories = true,
  git_describe_command = true, fallback_root = true, parse = true,
}

-- cfg with pyproject.toml's [tool.setuptools_scm] `section` of `doc` (read
-- from `path`) on top; raises on a setting relrun does not know or support.
local function apply_section(cfg, path, doc, section)
  cfg.pyproject = path
  for k, v in pairs(section) do
    if not KNOWN_KEYS[k] then fail("CONFIG", "%s: unknown setting tool.setuptools_scm.%s", path, k) end
    cfg[k] = v
  end
  if section.parse or section.version_cls then
    fail("CONFIG", "%s: parse and version_cls are not supported by relrun", path)
  end
  if section.git_describe_command then M.describe_match(section.git_describe_command, path) end
  cfg.root = canonical(dirname(path) .. "/" .. tostring(section.root or "."))
  cfg.dist_name = section.dist_name or (type(doc.project) == "table" and doc.project.name) or nil
  cfg.tag_regex = section.tag_regex or M.DEFAULT_TAG_REGEX
  return cfg
end

-- The --match patterns of a git_describe_command (a list or a command
-- line): monorepos set it to describe only their package's tags
-- (`--match "hatch-v*"` in pypa/hatch). Only `git describe` with the flags
-- setuptools_scm's own walk uses is read; anything else is refused, since
-- relrun walks the history itself. -> list of patterns.
local DESCRIBE_FLAGS = { ["--dirty"] = true, ["--tags"] = true, ["--long"] = true, ["--always"] = true }

function M.describe_match(command, where)
  local argv = command
  if type(command) == "string" then
    argv = {}
    for word in command:gmatch("%S+") do argv[#argv + 1] = (word:gsub("^([\"'])(.*)%1$", "%2")) end
  end
  local function refuse(why)
    fail("CONFIG", "%s: git_describe_command %s is not read by relrun (%s); use tag_regex to choose the tags",
      where or "pyproject.toml", type(command) == "table" and table.concat(command, " ") or tostring(command), why)
  end
  if type(argv) ~= "table" or argv[1] ~= "git" or argv[2] ~= "describe" then refuse("not `git describe`") end
  local patterns, i = {}, 3
  while argv[i] do
    local a = tostring(argv[i])
    if a == "--match" and argv[i + 1] then
      patterns[#patterns + 1] = tostring(argv[i + 1]); i = i + 1
    elseif a:match("^%-%-match=") then
      patterns[#patterns + 1] = a:sub(9)
    elseif not (DESCRIBE_FLAGS[a] or a:match("^%-%-abbrev=%d+$") or a:match("^%-%-dirty=")) then
      refuse("the option " .. a)
    end
    i = i + 1
  end
  return #patterns > 0 and patterns or { M.DESCRIBE_MATCH }
end

-- hatch-vcs hands [tool.hatch.version] raw-options to setuptools_scm and
-- turns tag-pattern and fallback-version into tag_regex and
-- fallback_version; the root is the project's folder. [tool.setuptools_scm]
-- is not read then.
local function apply_hatch(cfg, path, doc, hatch)
  local raw = type(hatch["raw-options"]) == "table" and hatch["raw-options"] or {}
  local section = {}
  for k, v in pairs(raw) do section[k] = v end
  if hatch["tag-pattern"] then section.tag_regex = hatch["tag-pattern"] end
  if hatch["fallback-version"] then section.fallback_version = hatch["fallback-version"] end
  for k in pairs(section) do
    if not KNOWN_KEYS[k] then fail("CONFIG", "%s: [tool.hatch.version] raw-options.%s is not known", path, k) end
  end
  apply_section(cfg, path, doc, section)
  cfg.source = "[tool.hatch.version] (hatch-vcs) in " .. path
  return cfg
end

local function hatch_vcs(doc)
  local bs = type(doc["build-system"]) == "table" and doc["build-system"] or {}
  local v = type(doc.tool) == "table" and type(doc.tool.hatch) == "table" and doc.tool.hatch.version
  if bs["build-backend"] == "hatchling.build" and type(v) == "table" and v.source == "vcs" then return v end
end

-- config{dir = ".", pyproject = path | false} -> config table | nil, msg, code.
-- Without [tool.setuptools_scm] the defaults apply and the root is `dir`,
-- as the setuptools_scm CLI does; with it, the root is the file's folder
-- (plus its `root` setting).
function M.config(opts)
  return protect(function()
    opts = opts or {}
    local dir = canonical(opts.dir or ".")
    local cfg = { version_scheme = "guess-next-dev", local_scheme = "node-and-date",
      tag_regex = M.DEFAULT_TAG_REGEX, root = dir, normalize = true }
    local path = opts.pyproject
    if path == nil then path = M.find_pyproject(dir) end
    if not path then cfg.note = "no pyproject.toml, default configuration"; return cfg end
    local doc, err = toml.read(path)
    if not doc then fail("CONFIG", "%s", err) end
    local hatch = hatch_vcs(doc)
    if hatch then return apply_hatch(cfg, path, doc, hatch) end
    -- setuptools-scm 10 reads its settings from [tool.vcs-versioning] too
    -- (xarray keeps them there)
    local name, section = M.section(doc)
    if not section then
      cfg.note = path .. " has no [tool.setuptools_scm], default configuration"
      return cfg
    end
    apply_section(cfg, path, doc, section)
    cfg.source = name .. " in " .. path
    return cfg
  end)
end

-- The table setuptools_scm takes its settings from: [tool.setuptools_scm],
-- else [tool.vcs-versioning] (setuptools-scm 10). -> its name, the table | nil.
function M.section(doc)
  local tool = type(doc) == "table" and type(doc.tool) == "table" and doc.tool or {}
  if type(tool.setuptools_scm) == "table" then return "[tool.setuptools_scm]", tool.setuptools_scm end
  if type(tool["vcs-versioning"]) == "table" then return "[tool.vcs-versioning]", tool["vcs-versioning"] end
end

---------------------------------------------------------------------------
-- Tag -> version
---------------------------------------------------------------------------

local regex_cache = {}
local function compiled(pattern)
  local re = regex_cache[pattern]
  if re then return re end
  local err
  re, err = pyre.compile(pattern)
  if not re then fail("CONFIG", "tag_regex: %s", err) end
  regex_cache[pattern] = re
  return re
end

-- The version part of a tag per tag_regex: the `version` group when there
-- are several groups, else group 1. -> text | nil.
local function version_group(tag, cfg)
  local re = compiled(cfg.tag_regex or M.DEFAULT_TAG_REGEX)
  local m = re:match(tag)
  if not m then return nil end
  if re.groups == 1 then return m:group(1) end
  if not re.names.version then fail("CONFIG", "tag_regex needs a single group or a group named 'version'") end
  return m:group("version")
end

-- tag_version(tag, cfg) -> pep440 Version, its string | raises (scm error).
local function tag_version(tag, cfg)
  local text = version_group(tag, cfg)
  if not text or text == "" then
    errors.raise("BAD_TAG", string.format("tag %q holds no version (tag_regex %s)", tag,
      cfg.tag_regex or M.DEFAULT_TAG_REGEX), { hint = "the nearest tag is read as setuptools_scm reads it: set " ..
      "[tool.setuptools_scm] tag_regex to a pattern whose version group matches it (setuptools_scm fails there too)" })
  end
  local v, err = pep440.parse(text)
  if not v then fail("BAD_TAG", "tag %q: %s", tag, err) end
  local str = (cfg.normalize == false) and text or tostring(v)
  return v, str
end

-- tag_to_version(tag [, cfg]) -> normalised version string | nil, msg, code
function M.tag_to_version(tag, cfg)
  return protect(function()
    local _, str = tag_version(tag, cfg or {})
    return str
  end)
end

---------------------------------------------------------------------------
-- Facts from the repository
---------------------------------------------------------------------------

local function git_fail(what, msg, code)
  fail(code or "GIT", "%s: %s", what, msg or "failed")
end

local function open_checkout(root)
  local repo, err, code = require("relrun.git").open(root)
  if not repo then
    fail(code == "GIT_ENOTFOUND" and "NOT_A_REPO" or code, "%s is not a git repository (%s)", root, err)
  end
  local workdir = repo:workdir()
  if not workdir then fail("BARE", "%s is a bare repository: no checkout to version", root) end
  return repo, (workdir:gsub("/$", ""))
end

-- f.dirty and f.dirty_files: tracked files with changes.
local function add_dirty_facts(f, repo)
  local st, serr, scode = repo:status()
  if not st then git_fail("status", serr, scode) end
  f.dirty = st.dirty
  f.dirty_files = {}
  for _, file in ipairs(st.files) do
    if file.status ~= "untracked" and file.status ~= "ignored" then f.dirty_files[#f.dirty_files + 1] = file end
  end
end

-- f.tag, f.distance, f.node: git describe's, or with no tag the commit
-- count and HEAD's abbreviated id.
local function add_describe_facts(f, repo, head, cfg)
  local match = cfg.git_describe_command and M.describe_match(cfg.git_describe_command) or M.DESCRIBE_MATCH
  local d, derr, dcode = repo:describe({ match = match, tags = true })
  if d then
    f.tag, f.distance, f.node = d.tag, d.distance, "g" .. d.short
    return
  end
  if dcode ~= "GIT_ENOTFOUND" then git_fail("describe", derr, dcode) end
  f.node = "g" .. head.id:sub(1, 7)
  local n, cerr, ccode = repo:count_commits("HEAD")
  if not n then
    git_fail("counting the commits of HEAD" .. (f.shallow and " in this shallow clone" or ""), cerr, ccode)
  end
  f.distance = n
end

-- facts(root) -> { tag, distance, node, dirty, dirty_files, branch, shallow,
-- head, workdir } read through relrun.git; raises scm errors.
local function facts(root, cfg)
  local repo, workdir = open_checkout(root)
  local f = { workdir = workdir, shallow = repo:is_shallow() }
  local head = repo:head()
  f.branch = head.branch or (not head.unborn and "HEAD") or nil
  f.head = head.id
  f.unborn = head.unborn
  add_dirty_facts(f, repo)
  if head.unborn then f.distance = 0; return f, repo end
  add_describe_facts(f, repo, head, cfg or {})
  return f, repo
end

---------------------------------------------------------------------------
-- Schemes (setuptools_scm/version.py)
---------------------------------------------------------------------------

-- Public part of a version string (before "+").
local function strip_local(s)
  return (s:gsub("%+.*$", ""))
end

-- "X.devN" -> "X" when N is 0; any other N is refused, as setuptools_scm does.
local function bump_dev(s)
  local prefix, tail = s:match("^(.*)%.dev(.-)$")
  if not prefix then return nil end
  if tail ~= "0" then
    fail("SCHEME", "%s can't be bumped: setuptools_scm supports only .dev0 tags for commits after them;"
      .. " drop the tag or tag X.Y.Z.dev0", s)
  end
  return prefix
end

-- Increment the last number ("2.0.0rc1" -> "2.0.0rc2").
local function bump_last(s)
  local prefix, tail = s:match("^(.-)(%d+)$")
  if not prefix then fail("SCHEME", "%s does not end with a number to bump", s) end
  return prefix .. tostring(math.tointeger(tonumber(tail)) + 1)
end

local function guess_next(v)
  local s = strip_local(v.tag)
  return bump_dev(s) or bump_last(s)
end

local function simple_semver(v, retain)
  local parts = {}
  local k = 0
  for piece in (v.tag .. "."):gmatch("([^.]*)%.") do
    k = k + 1
    if k > retain then break end
    if not piece:find("^%d+$") then fail("SCHEME", "%s can't be parsed as numeric version", v.tag) end
    parts[#parts + 1] = math.tointeger(tonumber(piece))
  end
  while #parts < retain do parts[#parts + 1] = 0 end
  parts[#parts] = parts[#parts] + 1
  while #parts < 3 do parts[#parts + 1] = 0 end
  return table.concat(parts, ".")
end

local function first_two(s)
  local out = {}
  for piece in (s .. "."):gmatch("([^.]*)%.") do
    out[#out + 1] = piece
    if #out == 2 then break end
  end
  return table.concat(out, ".")
end

local VERSION_SCHEMES = {}

VERSION_SCHEMES["guess-next-dev"] = function(v)
  if v.exact then return v.tag end
  return guess_next(v) .. ".dev" .. v.distance
end

VERSION_SCHEMES["post-release"] = function(v)
  if v.exact then return v.tag end
  return v.tag .. ".post" .. v.distance
end

VERSION_SCHEMES["no-guess-dev"] = function(v)
  if v.exact then return v.tag end
  local s = strip_local(v.tag)
  local next = bump_dev(s)
  if not next then
    if s:find("post", 1, true) then
      fail("SCHEME", "%s already is a post release, refusing to guess the update", s)
    end
    next = s .. ".post1"
  end
  return next .. ".dev" .. v.distance
end

VERSION_SCHEMES["python-simplified-semver"] = function(v)
  if v.exact then
    local parts = {}
    for piece in (v.tag .. "."):gmatch("([^.]*)%.") do
      if #parts == 3 then break end
      if not piece:find("^%d+$") then fail("SCHEME", "%s can't be parsed as numeric version", v.tag) end
      parts[#parts + 1] = math.tointeger(tonumber(piece))
    end
    while #parts < 3 do parts[#parts + 1] = 0 end
    return table.concat(parts, ".")
  end
  local retain = (v.branch and v.branch:find("feature", 1, true)) and 2 or 3
  return simple_semver(v, retain) .. ".dev" .. v.distance
end

VERSION_SCHEMES["release-branch-semver"] = function(v, cfg)
  if v.exact then return v.tag end
  if v.branch then
    local last = v.branch:match("([^/]*)$")
    local branch_ver = version_group(last, cfg)
    if branch_ver then
      branch_ver = branch_ver:gsub("^v", "")
      -- a maintenance branch ("release/1.2") of the tag's minor: patch/rc bump
      if first_two(branch_ver) == first_two(v.tag) then
        return guess_next(v) .. ".dev" .. v.distance
      end
    end
  end
  return simple_semver(v, 2) .. ".dev" .. v.distance
end

local function date_suffix(v, fmt)
  return os.date("!" .. fmt, v.time)
end

local LOCAL_SCHEMES = {}

local function node_and_time(v, fmt)
  if v.exact or not v.node then
    return v.dirty and ("+d" .. date_suffix(v, fmt)) or ""
  end
  return "+" .. v.node .. (v.dirty and (".d" .. date_suffix(v, fmt)) or "")
end

LOCAL_SCHEMES["node-and-date"] = function(v) return node_and_time(v, "%Y%m%d") end
LOCAL_SCHEMES["node-and-timestamp"] = function(v) return node_and_time(v, "%Y%m%d%H%M%S") end
LOCAL_SCHEMES["dirty-tag"] = function(v) return v.dirty and "+dirty" or "" end
LOCAL_SCHEMES["no-local-version"] = function() return "" end

-- setuptools_scm's time: SOURCE_DATE_EPOCH when set, else now (UTC).
local function now()
  local epoch = os.getenv("SOURCE_DATE_EPOCH")
  if epoch then
    local n = math.tointeger(tonumber(epoch))
    if not n then fail("CONFIG", "SOURCE_DATE_EPOCH=%q is not an integer", epoch) end
    return n
  end
  return os.time()
end

-- format(facts, cfg) -> version string; raises scm errors. Pure: the facts
-- can come from anywhere (tests feed tables).
local function format(f, cfg)
  local v = { distance = f.distance, node = f.node, dirty = f.dirty, branch = f.branch, time = now() }
  if f.tag then
    local tag = f.tag:gsub("^debian/", ""):gsub("^upstream/", "")
    v.tag_text = tag
    local _, str = tag_version(tag, cfg)
    v.tag = str
  else
    v.tag = "0.0"
  end
  if f.tag and v.distance == 0 and not v.dirty then v.distance = nil end
  v.exact = v.distance == nil
  local scheme_name = cfg.version_scheme or "guess-next-dev"
  local scheme = VERSION_SCHEMES[scheme_name]
  if type(scheme_name) ~= "string" or not scheme then
    fail("CONFIG", "version_scheme %q is not supported (relrun knows: guess-next-dev, post-release, no-guess-dev,"
      .. " release-branch-semver, python-simplified-semver)", tostring(scheme_name))
  end
  local main = scheme(v, cfg)
  -- an unknown local scheme gives "+unknown" in setuptools_scm
  local local_scheme = LOCAL_SCHEMES[cfg.local_scheme or "node-and-date"]
  return main .. (local_scheme and local_scheme(v) or "+unknown")
end
M.format = function(f, cfg) return protect(format, f, cfg or {}) end

---------------------------------------------------------------------------
-- The public entry points
---------------------------------------------------------------------------

local function pretend(cfg)
  if cfg.dist_name then
    local named = os.getenv("SETUPTOOLS_SCM_PRETEND_VERSION_FOR_" .. cfg.dist_name:upper())
    if named and named ~= "" then return named, "SETUPTOOLS_SCM_PRETEND_VERSION_FOR_" .. cfg.dist_name:upper() end
    if named == "" then return nil end
  end
  local any = os.getenv("SETUPTOOLS_SCM_PRETEND_VERSION")
  if any and any ~= "" then return any, "SETUPTOOLS_SCM_PRETEND_VERSION" end
  return nil
end

local function has_git(root)
  return exists(root .. "/.git") or exists(root .. "/.git/HEAD")
end

-- The nearest folder above `root` with a checkout, and how far up it is
-- ("..", "../.."), or nil.
local function parent_checkout(root)
  local d, up = root, {}
  while d ~= "/" and d ~= "" and d ~= "." do
    d = dirname(d)
    up[#up + 1] = ".."
    if has_git(d) then return d, table.concat(up, "/") end
  end
end

-- setuptools_scm's search_parent_directories: the checkout above a project
-- in a subfolder becomes the root git is read at.
local function find_root(cfg)
  if not cfg.search_parent_directories or has_git(cfg.root) then return end
  local parent = parent_checkout(cfg.root)
  if parent then cfg.root = parent end
end

-- The version when git does not decide it: a pretend variable, or without
-- a checkout the fallback_version; raises when there is neither. nil when
-- git decides.
local function version_without_git(cfg, info)
  local p, var = pretend(cfg)
  if p then
    info.version, info.how, info.pretend_variable = p, "pretend", var
    return info
  end
  if has_git(cfg.root) then return nil end
  if cfg.fallback_version then
    info.version, info.how = tostring(cfg.fallback_version), "fallback"
    return info
  end
  local parent, up = parent_checkout(cfg.root)
  if parent then
    fail("NOT_A_REPO", "setuptools-scm was unable to detect version for %s: it is a subfolder of the git checkout "
      .. "%s, and setuptools_scm reads the checkout at the project's root: set root = %q in "
      .. "[tool.setuptools_scm] (hatch-vcs: in [tool.hatch.version] raw-options), or search_parent_directories = "
      .. "true", cfg.root, parent, up)
  end
  fail("NOT_A_REPO", "setuptools-scm was unable to detect version for %s: not a git checkout"
    .. " (build from a full git clone, or set SETUPTOOLS_SCM_PRETEND_VERSION)", cfg.root)
end

-- explain(dir | {dir=, config=}) -> info | nil, msg, code. info has
-- version, how ("pretend"|"git"|"fallback"), root, config, and from git:
-- tag, tag_version, distance, node, dirty, dirty_files, branch, shallow.
function M.explain(opts)
  if type(opts) ~= "table" then opts = { dir = opts } end
  return protect(function()
    local cfg = opts.config
    if not cfg then
      local err, code
      cfg, err, code = M.config({ dir = opts.dir })
      if not cfg then fail(code, "%s", err) end
    end
    find_root(cfg)
    local info = { root = cfg.root, config = cfg }
    if version_without_git(cfg, info) then return info end
    local f = facts(cfg.root, cfg)
    if canonical(f.workdir) ~= canonical(cfg.root) then
      fail("NOT_A_REPO", "%s is not the top of its git checkout (%s is)", cfg.root, f.workdir)
    end
    for k, v in pairs(f) do info[k] = v end
    if f.tag then info.tag_version = select(2, tag_version(f.tag:gsub("^debian/", ""):gsub("^upstream/", ""), cfg)) end
    info.version = format(f, cfg)
    info.how = "git"
    return info
  end)
end

-- version(dir) -> version string | nil, msg, code
function M.version(dir)
  local info, err, code = M.explain(dir)
  if not info then return nil, err, code end
  return info.version
end

---------------------------------------------------------------------------
-- The release gate
---------------------------------------------------------------------------

local function file_list(files, max)
  local out = {}
  for k, f in ipairs(files) do
    if k > max then out[#out + 1] = string.format("and %d more", #files - max); break end
    out[#out + 1] = f.path
  end
  return table.concat(out, ", ")
end

-- Why the computed version differs from the tag's: one line per cause.
local function causes(info, tag, repo)
  local out, code = {}, nil
  local function add(c, line) out[#out + 1] = line; code = code or c end
  if info.shallow then
    add("SHALLOW", "the clone is shallow, so the tag's history is missing: check out with fetch-depth: 0"
      .. " (actions/checkout) or run `git fetch --unshallow --tags`")
  end
  local tag_id = repo:rev_parse(tag .. "^{commit}")
  if not tag_id then
    add("NO_TAG", string.format("tag %s does not exist in this checkout: run `git fetch --tags`", tag))
  elseif tag_id ~= info.head then
    add("TAG_NOT_ON_HEAD", string.format("tag %s is on %s but HEAD is %s: check out the tag (`git checkout %s`)",
      tag, tag_id:sub(1, 12), tostring(info.head):sub(1, 12), tag))
  end
  if #info.dirty_files > 0 then
    add("DIRTY", "the working tree has changes to tracked files: " .. file_list(info.dirty_files, 10)
      .. " (commit or `git stash` them; build steps must not modify tracked files)")
  end
  if info.version:find("+", 1, true) then
    add("LOCAL_SEGMENT", string.format("the version %s has a local segment (+%s), which package indexes reject",
      info.version, info.version:match("%+(.*)$")))
  end
  return out, code
end

-- explain's info for the gate; raises, naming a shallow clone as the cause
-- when there is one.
local function explain_for_gate(dir, cfg, tag)
  local info, err, code = M.explain({ dir = dir, config = cfg })
  if info then return info end
  local repo = require("relrun.git").open(cfg.root)
  if repo and repo:is_shallow() then
    fail("SHALLOW", "cannot compute the version of %s: the clone is shallow (%s); check out with"
      .. " fetch-depth: 0 (actions/checkout) or run `git fetch --unshallow --tags`", tag, err)
  end
  fail(code, "%s", err)
end

-- gate(dir, tag) -> version | nil, message, code. The version setuptools_scm
-- would build must be exactly the tag's version; otherwise the message names
-- each cause found (shallow clone, tag missing or not on HEAD, dirty files,
-- local segment). Codes: SHALLOW, NO_TAG, TAG_NOT_ON_HEAD, DIRTY,
-- LOCAL_SEGMENT, MISMATCH, BAD_TAG, or those of explain.
function M.gate(dir, tag)
  if type(tag) ~= "string" then error("scm.gate: tag must be a string", 2) end
  return protect(function()
    local cfg, err, code = M.config({ dir = dir })
    if not cfg then fail(code, "%s", err) end
    local want = select(2, tag_version(tag, cfg))
    local info = explain_for_gate(dir, cfg, tag)
    if info.how ~= "git" then
      if info.version == want then return want end
      fail("MISMATCH", "version %s (from %s) is not the tag's %s", info.version,
        info.pretend_variable or "fallback_version", want)
    end
    local _, repo = facts(cfg.root, cfg)
    local list, why = causes(info, tag, repo)
    if info.version == want and #list == 0 then return want end
    if info.version == want then
      -- same string, yet something is off (e.g. tag missing); still refuse
      fail(why, "tag %s: %s", tag, table.concat(list, "; "))
    end
    if #list == 0 then
      list[1] = string.format("the nearest tag is %s at distance %s", tostring(info.tag), tostring(info.distance))
      why = "MISMATCH"
    end
    fail(why, "version %s is not the tag's %s: %s", info.version, want, table.concat(list, "; "))
  end)
end

return M
