-- relrun.maintain.actions: RELEASE.md "Update GitHub Actions versions in
-- workflows" — every `uses:` of .github/workflows/*.yml, which of them name a
-- tag or a branch rather than a commit, the commit each names (git
-- ls-remote), the newest release each action has, and the rewrite that pins
-- them: `owner/repo@<sha> # vX.Y.Z`, nothing else in the file touched.
--
--   local actions = require "relrun.maintain.actions"
--   local files = errors.check(actions.read(root))       -- { {path, text, uses = { {line, action, ref, ...} }} }
--   actions.resolve(files, { git_url = "https://github.com/" })   -- sha, kind, pin_comment, latest per use
--   actions.pin(file) -> new text
local errors = require "relrun.errors"
local semver = require "relrun.semver"
local workflows = require "relrun.workflows"
local fs = require "relrun.fs"

local M = {}

M.GIT_URL = "https://github.com/"

-- A `uses:` line: indent and key, an optional quote, the value, the rest.
local USES = "^(%s*%-?%s*uses:%s*)([\"']?)([^\"'%s#]+)%2(.*)$"

-- parse_use("actions/checkout@v4") -> { action, repo, path, ref } | nil (local
-- ./x and docker:// steps have no ref to pin).
function M.parse_use(value)
  if value:find("^%./") or value:find("^docker://") then return nil end
  local action, ref = value:match("^([^@]+)@(.+)$")
  if not action then return { action = value, unversioned = true } end
  local owner, repo = action:match("^([%w%-%._]+)/([%w%-%._]+)")
  if not owner then return nil end
  return { action = action, repo = owner .. "/" .. repo, ref = ref }
end

function M.is_sha(ref) return ref:match("^%x+$") ~= nil and #ref == 40 end

-- One workflow file: checked to be YAML, then its `uses:` lines.
local function read_file(path, shown)
  local text, err = fs.read(path)
  if not text then return nil, errors.new("READ", "cannot read " .. shown .. ": " .. tostring(err)) end
  local doc, yerr = workflows.parse_yaml(text)
  if type(doc) ~= "table" then
    return nil, errors.new("NOT_YAML", string.format("%s is not a YAML workflow (%s)", shown,
      yerr or "not a mapping"), { hint = "fix the file (actionlint shows the problem), then rerun", exit = 2 })
  end
  local uses, n = {}, 0
  for line in (text .. (text:sub(-1) == "\n" and "" or "\n")):gmatch("([^\n]*)\n") do
    n = n + 1
    local _, _, value, rest = line:match(USES)
    local use = value and M.parse_use(value)
    if use then
      use.line, use.value, use.comment = n, value, rest:match("#%s*(.-)%s*$")
      uses[#uses + 1] = use
    end
  end
  return { path = path, shown = shown, text = text, uses = uses }
end

-- read(root) -> files (sorted by name) | nil, err.
function M.read(root)
  local dir = fs.join(root, ".github", "workflows")
  local out = {}
  for _, name in ipairs(fs.exists(dir) and fs.list(dir) or {}) do
    if name:match("%.ya?ml$") then
      local f, err = read_file(fs.join(dir, name), ".github/workflows/" .. name)
      if not f then return nil, err end
      out[#out + 1] = f
    end
  end
  return out
end

-- The refs of a repository, by `git ls-remote URL`: { tags = {name = sha}, heads = {name = sha} }
-- (an annotated tag's commit, not the tag object).
function M.ls_remote(url)
  local r, err = require("relrun.proc").run{ argv = { "git", "ls-remote", "--tags", "--heads", url },
    env = { GIT_TERMINAL_PROMPT = "0" }, timeout = 60 }
  if not r or r.code ~= 0 then
    return nil, errors.new("LS_REMOTE", string.format("git ls-remote %s: %s", url,
      r and (r.stderr:match("[^\n]+") or ("exit " .. tostring(r.code))) or tostring(err)))
  end
  local refs = { tags = {}, heads = {} }
  for sha, name in r.stdout:gmatch("(%x+)%s+([^\n]+)") do
    local peeled = name:match("^refs/tags/(.-)%^{}$")
    if peeled then refs.tags[peeled] = sha   -- follows its tag object's line
    elseif name:match("^refs/tags/") then refs.tags[name:sub(11)] = sha
    elseif name:match("^refs/heads/") then refs.heads[name:sub(12)] = sha end
  end
  return refs
end

-- The release tags (semver, v optional) newest first.
local function releases(refs)
  local list = {}
  for name, sha in pairs(refs.tags) do
    local v = semver.parse(name)
    if v and not v.pre then list[#list + 1] = { name = name, v = v, sha = sha } end
  end
  table.sort(list, function(a, b) return semver.compare(a.v, b.v) > 0 end)
  return list
end

-- The most specific release tag at `sha` ("v4.2.2" rather than "v4").
local function tag_at(list, sha)
  local best
  for _, r in ipairs(list) do
    if r.sha == sha then
      local parts = select(2, r.name:gsub("%.", ""))
      if not best or parts > best.parts then best = { name = r.name, parts = parts } end
    end
  end
  return best and best.name
end

-- What one `uses:` names: kind (sha | tag | branch | unknown), sha,
-- pin_comment, latest (the newest release), newer (true when it is not at it).
function M.judge(use, refs)
  local list = releases(refs)
  local latest = list[1]
  if M.is_sha(use.ref) then
    use.kind, use.sha = "sha", use.ref:lower()
  elseif refs.tags[use.ref] then
    use.kind, use.sha = "tag", refs.tags[use.ref]
  elseif refs.heads[use.ref] then
    use.kind, use.sha = "branch", refs.heads[use.ref]
  else
    use.kind = "unknown"
    return use
  end
  use.pin_comment = tag_at(list, use.sha) or use.ref
  if use.kind == "sha" and use.comment and use.comment ~= "" then use.pin_comment = use.comment end
  if latest then
    use.latest = tag_at(list, latest.sha) or latest.name
    use.newer = latest.sha ~= use.sha
  end
  return use
end

-- resolve(files, {git_url}) -> files with every use judged; one ls-remote per repository.
function M.resolve(files, opts)
  local base = (opts and opts.git_url or M.GIT_URL):gsub("/*$", "/")
  local cache = {}
  for _, f in ipairs(files) do
    for _, use in ipairs(f.uses) do
      if use.repo and not use.unversioned then
        if cache[use.repo] == nil then
          local refs, err = M.ls_remote(base .. use.repo)
          cache[use.repo] = refs or false
          use.error = err and err.message
        end
        if cache[use.repo] then M.judge(use, cache[use.repo]) else use.kind = "unknown" end
      end
    end
  end
  return files
end

-- Does this use want a pin? A tag or a branch whose commit is known.
function M.unpinned(use)
  return (use.kind == "tag" or use.kind == "branch") and use.sha ~= nil
end

-- pin(file) -> the text with each unpinned `uses:` line rewritten to
-- ACTION@SHA # TAG; every other byte as it was. -> text, count.
function M.pin(file)
  local by_line = {}
  for _, use in ipairs(file.uses) do
    if M.unpinned(use) then by_line[use.line] = use end
  end
  local out, n, count = {}, 0, 0
  for line, nl in file.text:gmatch("([^\n]*)(\n?)") do
    if line == "" and nl == "" then break end
    n = n + 1
    local use = by_line[n]
    if use then
      local head, quote = line:match(USES)
      line = string.format("%s%s%s@%s%s # %s", head, quote, use.action, use.sha, quote, use.pin_comment)
      count = count + 1
    end
    out[#out + 1] = line .. nl
  end
  return table.concat(out), count
end

return M
