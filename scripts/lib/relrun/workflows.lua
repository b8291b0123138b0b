-- relrun.workflows: what a repository's GitHub Actions workflows mean for
-- its AWS trust policy — which jobs can get an OIDC token when a tag is
-- pushed, and the `sub` claim each one presents (FIELD-NOTES 5: a job with
-- an environment presents repo:O/R:environment:NAME, one without presents
-- repo:O/R:ref:refs/tags/TAG). The one place relrun reads workflow files.
--
--   local workflows = require "relrun.workflows"
--   local doc, err = workflows.parse_yaml(text)           -- the YAML workflows use, every scalar a string
--   local jobs, notes = workflows.release_jobs(root, { prefix = "v" })
--   --> { { file = ".github/workflows/release.yml", job = "release", environment = "production" | nil,
--   --      tags = { "v*" } (IAM patterns), expression = true when the environment is an ${{ }} },
--   --  notes = { "one line each about what was skipped or cannot be known" }
--   workflows.subs(job, "owner/repo")                       --> { "repo:owner/repo:environment:production" }
--
-- The YAML reader covers block mappings and sequences, flow [..] and {..},
-- quoted and plain scalars, block scalars (| >), comments. Anchors, aliases,
-- tags and complex keys are refused with the line number, not guessed.
-- Scalars stay strings, as PyYAML's BaseLoader reads them (tests compare).
local fs = require "relrun.fs"

local M = {}

---------------------------------------------------------------------------
-- A YAML subset
---------------------------------------------------------------------------

local Parser = {}
Parser.__index = Parser

local function yaml_error(p, msg, lineno)
  error({ yaml = string.format("line %d: %s", lineno or p.pos or 0, msg) }, 0)
end

-- Is line i blank or only a comment?
local function insignificant(line)
  return line:match("^%s*$") or line:match("^%s*#")
end

-- The next significant line at or after p.pos: index, indent, text (without the indent).
function Parser:peek()
  local i = self.pos
  while self.lines[i] and insignificant(self.lines[i]) do i = i + 1 end
  self.pos = i
  local line = self.lines[i]
  if not line then return nil end
  local lead = line:match("^([ \t]*)")
  if lead:find("\t") then yaml_error(self, "a tab in the indentation", i) end
  return i, #lead, line:sub(#lead + 1)
end

-- Remove a trailing " # comment". In a plain scalar quotes mean nothing
-- (`echo "a # b"` ends before " #", as YAML says); in flow text (`in_flow`)
-- a quoted item keeps its " #".
local function strip_comment(s, in_flow)
  local quote
  for i = 1, #s do
    local c = s:sub(i, i)
    if quote then
      if c == quote then quote = nil end
    elseif in_flow and (c == '"' or c == "'") and (i == 1 or s:sub(i - 1, i - 1):match("[%s%[{,:]")) then
      quote = c
    elseif c == "#" and (i == 1 or s:sub(i - 1, i - 1):match("%s")) then
      return (s:sub(1, i - 1):gsub("%s+$", ""))
    end
  end
  return (s:gsub("%s+$", ""))
end

local ESCAPES = { n = "\n", t = "\t", r = "\r", ["0"] = "\0", ['"'] = '"', ["\\"] = "\\", ["/"] = "/", [" "] = " " }

local function utf8_char(code) return utf8.char(code) end

-- A quoted scalar at the start of s -> value, rest of s.
local function quoted(p, s)
  local q = s:sub(1, 1)
  local out, i = {}, 2
  while i <= #s do
    local c = s:sub(i, i)
    if q == "'" and c == "'" then
      if s:sub(i + 1, i + 1) == "'" then out[#out + 1] = "'"; i = i + 2
      else return table.concat(out), s:sub(i + 1) end
    elseif q == '"' and c == "\\" then
      local e = s:sub(i + 1, i + 1)
      if e == "u" or e == "x" then
        local n = e == "u" and 4 or 2
        local hex = s:sub(i + 2, i + 1 + n)
        if not hex:match("^%x+$") or #hex ~= n then yaml_error(p, "a bad \\" .. e .. " escape") end
        out[#out + 1] = utf8_char(tonumber(hex, 16))
        i = i + 2 + n
      elseif ESCAPES[e] then
        out[#out + 1] = ESCAPES[e]; i = i + 2
      else
        yaml_error(p, "an unknown escape \\" .. e)
      end
    elseif q == '"' and c == '"' then
      return table.concat(out), s:sub(i + 1)
    else
      out[#out + 1] = c; i = i + 1
    end
  end
  yaml_error(p, "a quoted string that does not end on its line")
end

local function refuse_special(p, s)
  local c = s:sub(1, 1)
  if c == "&" or c == "*" then yaml_error(p, "anchors and aliases (& *) are not supported") end
  if c == "!" then yaml_error(p, "YAML tags (!) are not supported") end
  if c == "?" and (s:sub(2, 2) == " " or #s == 1) then yaml_error(p, "complex keys (?) are not supported") end
  if c == "%" or c == "@" or c == "`" then yaml_error(p, "a plain value cannot start with " .. c) end
end

-- Flow collections: [a, b], {k: v}, nested.
local function flow(p, s)
  local i = 1
  local function skip() while s:sub(i, i):match("%s") and i <= #s do i = i + 1 end end
  local value
  local function scalar()
    skip()
    local c = s:sub(i, i)
    if c == '"' or c == "'" then
      local v, rest = quoted(p, s:sub(i))
      i = #s - #rest + 1
      return v
    end
    local j = i
    while j <= #s and not s:sub(j, j):match("[,%[%]{}]") and not (s:sub(j, j) == ":" and s:sub(j + 1, j + 1):match("[%s,%]}]"))
    do j = j + 1 end
    local v = s:sub(i, j - 1):gsub("%s+$", "")
    refuse_special(p, v)
    i = j
    return v
  end
  function value()
    skip()
    local c = s:sub(i, i)
    if c == "[" then
      i = i + 1
      local list = {}
      skip()
      if s:sub(i, i) == "]" then i = i + 1; return list end
      while true do
        list[#list + 1] = value()
        skip()
        local d = s:sub(i, i)
        i = i + 1
        if d == "]" then return list end
        if d ~= "," then yaml_error(p, "a flow sequence needs , or ]") end
        skip()
        if s:sub(i, i) == "]" then i = i + 1; return list end
      end
    elseif c == "{" then
      i = i + 1
      local map = {}
      skip()
      if s:sub(i, i) == "}" then i = i + 1; return map end
      while true do
        local k = scalar()
        skip()
        local v = ""
        if s:sub(i, i) == ":" then i = i + 1; v = value() end
        map[k] = v
        skip()
        local d = s:sub(i, i)
        i = i + 1
        if d == "}" then return map end
        if d ~= "," then yaml_error(p, "a flow mapping needs , or }") end
      end
    end
    return scalar()
  end
  local v = value()
  skip()
  if i <= #s then yaml_error(p, "text after a flow collection: " .. s:sub(i)) end
  return v
end

-- Gather a flow collection that spans lines until its brackets balance.
function Parser:flow_text(first)
  local text = first
  local function balanced(t)
    local depth, q = 0, nil
    for c in t:gmatch(".") do
      if q then if c == q then q = nil end
      elseif c == '"' or c == "'" then q = c
      elseif c == "[" or c == "{" then depth = depth + 1
      elseif c == "]" or c == "}" then depth = depth - 1 end
    end
    return depth <= 0
  end
  while not balanced(text) do
    self.pos = self.pos + 1
    local line = self.lines[self.pos]
    if not line then yaml_error(self, "a flow collection that never closes") end
    if not insignificant(line) then text = text .. " " .. strip_comment(line:match("^%s*(.*)$"), true) end
  end
  return text
end

-- A block scalar (| or >) whose header is `header`, its parent at `indent`.
function Parser:block_scalar(header, indent)
  local style, chomp = header:sub(1, 1), header:match("[%+%-]") or ""
  local body, content_indent = {}, nil
  local i = self.pos + 1
  while self.lines[i] do
    local line = self.lines[i]
    local lead = #line:match("^( *)")
    if line:match("^%s*$") then
      body[#body + 1] = ""
    elseif lead <= indent then
      break
    else
      content_indent = content_indent or lead
      if lead < content_indent then break end
      body[#body + 1] = line:sub(content_indent + 1)
    end
    i = i + 1
  end
  self.pos = i
  local trailing = 0
  while #body > 0 and body[#body] == "" do body[#body] = nil; trailing = trailing + 1 end
  local text
  if style == "|" then
    text = table.concat(body, "\n")
  else
    local parts, prev_blank = {}, true
    for _, l in ipairs(body) do
      if l == "" then parts[#parts + 1] = "\n"; prev_blank = true
      elseif l:match("^%s") then parts[#parts + 1] = (prev_blank and "" or "\n") .. l .. "\n"; prev_blank = true
      else parts[#parts + 1] = (prev_blank and "" or " ") .. l; prev_blank = false end
    end
    text = table.concat(parts):gsub("\n$", "")
  end
  if #body == 0 then return "" end
  if chomp == "-" then return text end
  if chomp == "+" then return text .. "\n" .. string.rep("\n", trailing) end
  return text .. "\n"
end

-- The value written after "key:" or "- " on line self.pos, its parent at indent.
function Parser:inline_value(rest, indent)
  rest = rest:gsub("^%s+", "")
  if rest:match("^[|>][%+%-]?%d?%s*$") or rest:match("^[|>][%+%-]?%d?%s+#") then
    return self:block_scalar(rest, indent)
  end
  refuse_special(self, rest)
  local c = rest:sub(1, 1)
  if c == "[" or c == "{" then
    local v = flow(self, self:flow_text(strip_comment(rest, true)))
    self.pos = self.pos + 1
    return v
  end
  if c == '"' or c == "'" then
    local v, after = quoted(self, rest)
    if strip_comment(after) ~= "" then yaml_error(self, "text after a quoted value: " .. after) end
    self.pos = self.pos + 1
    return v
  end
  local parts = { strip_comment(rest) }
  self.pos = self.pos + 1
  -- A plain scalar continues on more-indented lines (folded with spaces).
  while true do
    local i, ind, text = self:peek()
    if not i or ind <= indent then break end
    parts[#parts + 1] = strip_comment(text)
    self.pos = i + 1
  end
  return table.concat(parts, " ")
end

-- Split "key: rest" -> key, rest; nil when the text is not a mapping entry.
local function split_key(p, text)
  local c = text:sub(1, 1)
  if c == '"' or c == "'" then
    local k, after = quoted(p, text)
    local rest = after:match("^%s*:%s(.*)$") or (after:match("^%s*:$") and "")
    if rest then return k, rest end
    return nil
  end
  local s, e = text:find(":%s")
  if not s and text:sub(-1) == ":" then s, e = #text, #text end
  if not s then return nil end
  local key = text:sub(1, s - 1):gsub("%s+$", "")
  if key:find(" #", 1, true) or key:sub(1, 1) == "#" then return nil end
  refuse_special(p, key)
  if key == "<<" then yaml_error(p, "merge keys (<<) are not supported") end
  return key, text:sub(e + 1)
end

-- Whether text is a "key: value" entry (a flow collection never is one).
local function is_entry(p, text)
  local c = text:sub(1, 1)
  return c ~= "[" and c ~= "{" and split_key(p, text) ~= nil
end

-- The node whose lines are indented more than `parent` (or a sequence at
-- the same indent, as YAML allows under a key).
function Parser:node(parent, allow_same_indent_sequence)
  local i, indent, text = self:peek()
  if not i then return "" end
  local is_item = text:match("^%-$") or text:match("^%- ")
  if indent > parent or (allow_same_indent_sequence and indent == parent and is_item) then
    if is_item then return self:sequence(indent) end
    -- a value on the line after its key (`versions:\n  ["3.10", "3.11"]`)
    if indent > parent and not is_entry(self, text) then return self:inline_value(text, parent) end
    return self:mapping(indent)
  end
  return ""
end

function Parser:mapping(indent)
  local map = {}
  while true do
    local i, ind, text = self:peek()
    if not i or ind < indent then break end
    if ind > indent then yaml_error(self, "unexpected indentation", i) end
    if text:match("^%-$") or text:match("^%- ") then break end
    if text == "..." then break end   -- the document's end marker
    if text == "---" then yaml_error(self, "more than one YAML document", i) end
    local key, rest = split_key(self, text)
    if not key then yaml_error(self, "expected `key: value`, found: " .. text, i) end
    if rest:match("^%s*$") or rest:match("^%s*#") then
      self.pos = i + 1
      map[key] = self:node(indent, true)
    else
      map[key] = self:inline_value(rest, indent)
    end
  end
  return map
end

function Parser:sequence(indent)
  local list = {}
  while true do
    local i, ind, text = self:peek()
    if not i or ind ~= indent or not (text:match("^%-$") or text:match("^%- ")) then
      if i and ind > indent then yaml_error(self, "unexpected indentation", i) end
      break
    end
    local rest = text:sub(2)
    local pad = #rest:match("^( *)")
    local body = rest:sub(pad + 1)
    if body == "" or body:sub(1, 1) == "#" then
      self.pos = i + 1
      list[#list + 1] = self:node(indent, false)
    elseif is_entry(self, body) or body:match("^%- ") or body == "-" then
      -- "- key: v" is a mapping (or "- - x" a sequence) indented where its text starts.
      local at = indent + 1 + pad
      self.lines[i] = string.rep(" ", at) .. body
      list[#list + 1] = body:match("^%-") and self:sequence(at) or self:mapping(at)
    else
      list[#list + 1] = self:inline_value(body, indent)
    end
  end
  return list
end

-- parse_yaml(text) -> value | nil, "line N: what is not supported".
function M.parse_yaml(text)
  local lines = {}
  for line in (text:gsub("\r\n", "\n") .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  local p = setmetatable({ lines = lines, pos = 1 }, Parser)
  local good, result = pcall(function()
    local i, _, first = p:peek()
    if i and first:match("^%-%-%-%s*$") then p.pos = i + 1 end
    local value = p:node(-1, true)
    local rest, _, after = p:peek()
    if rest and after:match("^%.%.%.%s*$") then   -- the end marker; only comments may follow
      p.pos = rest + 1
      rest = p:peek()
      if rest then yaml_error(p, "more than one YAML document", rest) end
    end
    if rest then yaml_error(p, after == "---" and "more than one YAML document" or "unexpected text", rest) end
    return value
  end)
  if good then return result end
  if type(result) == "table" and result.yaml then return nil, result.yaml end
  error(result, 0)
end

---------------------------------------------------------------------------
-- Workflows, jobs and the subs they present
---------------------------------------------------------------------------

local function as_list(v)
  if type(v) == "table" then return v end
  if v == nil or v == "" then return {} end
  return { v }
end

-- A GitHub filter pattern as an IAM StringLike pattern that admits at least
-- every ref it matches: ** and * are IAM's *; from the first ?, +, [ or \
-- on, the rest becomes * (IAM has no such operators).
function M.iam_pattern(glob)
  local cut = glob:find("[%?%+%[\\]")
  if cut then glob = glob:sub(1, cut - 1) .. "*" end
  return (glob:gsub("%*%*", "*"):gsub("%*+", "*"))
end

-- The tag patterns a workflow runs for on push: a list ("*" for every tag),
-- or nil when pushing a tag does not start it.
local function tag_triggers(on)
  if on == "push" then return { "*" } end
  if type(on) ~= "table" then return nil end
  if on[1] ~= nil then
    for _, e in ipairs(on) do if e == "push" then return { "*" } end end
    return nil
  end
  local push = on.push
  if push == nil then return nil end
  if type(push) ~= "table" then return { "*" } end   -- `push:` with no filters
  if push.tags ~= nil then
    local out = {}
    for _, t in ipairs(as_list(push.tags)) do
      if t:sub(1, 1) ~= "!" then out[#out + 1] = t end   -- negative patterns only narrow
    end
    return #out > 0 and out or nil
  end
  if push["tags-ignore"] ~= nil then return { "*" } end
  -- Only branch filters: GitHub then does not run the workflow for tags.
  if push.branches ~= nil or push["branches-ignore"] ~= nil then return nil end
  return { "*" }
end

-- Whether permissions (workflow or job level) grant an OIDC token.
local function grants_id_token(perms)
  if perms == "write-all" then return true end
  return type(perms) == "table" and perms["id-token"] == "write"
end

-- The jobs that can assume an AWS role through OIDC when a release tag is
-- pushed: in a workflow started by a tag push, with `id-token: write` (the
-- job's own permissions, else the workflow's). opts.prefix: the release tag
-- prefix; a trigger wider than PREFIX* is narrowed to it (the job presents
-- the release tag), a trigger that never matches a release tag is noted.
function M.release_jobs(root, opts)
  opts = opts or {}
  local prefix = opts.prefix or "v"
  local jobs, notes = {}, {}
  local files = fs.glob(fs.join(root, ".github/workflows/*.yml")) or {}
  for _, f in ipairs(fs.glob(fs.join(root, ".github/workflows/*.yaml")) or {}) do files[#files + 1] = f end
  table.sort(files)
  local policy = require "relrun.policy"
  for _, path in ipairs(files) do
    local rel = path:sub(#root + 2)
    local doc, err = M.parse_yaml(fs.read(path) or "")
    if not doc then
      notes[#notes + 1] = rel .. ": not read (" .. err .. ")"
    elseif type(doc) == "table" and type(doc.jobs) == "table" then
      local triggers = tag_triggers(doc.on)
      local names = {}
      for name in pairs(doc.jobs) do names[#names + 1] = name end
      table.sort(names)
      for _, name in ipairs(triggers and names or {}) do
        local job = doc.jobs[name]
        local perms = type(job) == "table" and job.permissions
        if perms == nil then perms = doc.permissions end
        if type(job) == "table" and job.uses then
          notes[#notes + 1] = string.format("%s: job %s calls another workflow; its jobs are not checked", rel, name)
        elseif grants_id_token(perms) then
          local env = job.environment
          if type(env) == "table" then env = env.name end
          local entry = { file = rel, job = name }
          if type(env) == "string" and env ~= "" then
            entry.environment = env
            entry.expression = env:find("${{", 1, true) ~= nil
          end
          local tags = {}
          for _, t in ipairs(triggers) do
            local p = M.iam_pattern(t)
            if policy.wildcard_match(p, prefix .. "*") then
              tags[#tags + 1] = prefix .. "*"       -- wider than the release tags: they are what it presents
            elseif policy.wildcard_match(prefix .. "*", p) then
              tags[#tags + 1] = p                   -- narrower: only these
            else
              notes[#notes + 1] = string.format("%s: job %s runs for tags %s, which no release tag (%sVERSION) " ..
                "matches: it will not run for a release", rel, name, t, prefix)
            end
          end
          entry.tags = tags
          if #tags > 0 or entry.environment then jobs[#jobs + 1] = entry end
        end
      end
    end
  end
  return jobs, notes
end

-- What pushing `tag` starts: the workflow files under root's
-- .github/workflows. -> { files = n, started = { {file, name} },
-- not_matching = { {file, name, tags = {patterns}} }, unread = {notes} }.
-- A workflow starts when its push trigger admits the tag (tag_triggers;
-- patterns compared as IAM patterns, which admit at least as much).
function M.tag_workflows(root, tag)
  local out = { files = 0, started = {}, not_matching = {}, unread = {} }
  local files = fs.glob(fs.join(root, ".github/workflows/*.yml")) or {}
  for _, f in ipairs(fs.glob(fs.join(root, ".github/workflows/*.yaml")) or {}) do files[#files + 1] = f end
  table.sort(files)
  local policy = require "relrun.policy"
  for _, path in ipairs(files) do
    out.files = out.files + 1
    local rel = path:sub(#root + 2)
    local doc, err = M.parse_yaml(fs.read(path) or "")
    if not doc then
      out.unread[#out.unread + 1] = rel .. ": not read (" .. err .. ")"
    elseif type(doc) == "table" then
      local name = type(doc.name) == "string" and doc.name or rel
      local triggers = tag_triggers(doc.on)
      local matched = false
      for _, t in ipairs(triggers or {}) do
        if policy.wildcard_match(M.iam_pattern(t), tag) then matched = true end
      end
      if matched then
        out.started[#out.started + 1] = { file = rel, name = name }
      elseif triggers then
        out.not_matching[#out.not_matching + 1] = { file = rel, name = name, tags = triggers }
      end
    end
  end
  return out
end

-- The sub patterns a job presents to AWS, for repository OWNER/REPO.
function M.subs(job, repository)
  if job.environment then return { string.format("repo:%s:environment:%s", repository, job.environment) } end
  local out = {}
  for _, t in ipairs(job.tags or {}) do out[#out + 1] = string.format("repo:%s:ref:refs/tags/%s", repository, t) end
  return out
end

-- A job's description for messages: "release.yml job release".
function M.describe(job)
  return string.format("%s job %s", job.file, job.job)
end

return M
