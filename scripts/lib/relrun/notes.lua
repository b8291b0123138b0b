-- relrun.notes: release notes — the commits since the previous release,
-- found by the project's tag scheme among the tags the release contains.
-- When the history uses Conventional Commits (most subjects read
-- `type(scope)!: subject`), the notes are grouped: breaking changes,
-- features, fixes, other; otherwise they are a plain list.
--
--   local text = notes.for_tag(project, "v1.2.3")
--   local text = notes.render(commits, previous_tag_name)   -- the same from a list of commits
local M = {}

-- The types Conventional Commits and the Angular convention name.
local TYPES = { feat = true, fix = true, docs = true, style = true, refactor = true, perf = true, test = true,
                tests = true, build = true, ci = true, chore = true, revert = true }

-- The previous release of `tag`: the highest release tag below it that
-- its history contains.
function M.previous(project, tag)
  local repo = project.repo
  local _, mine = project.scheme:version(tag)
  local best
  for _, r in ipairs(project:releases()) do
    if r.name ~= tag and (not mine or r.parsed < mine) then
      local target = project:tag_target(r.name)
      local at = repo:rev_parse(tag .. "^{commit}")
      if target and at and repo:merge_base(target, at) == target and (not best or r.parsed > best.parsed) then
        best = r
      end
    end
  end
  return best
end

-- The commits of the release, newest first: { {short, summary, message, author} }.
-- `tag` may be any revision (HEAD, before the tag exists).
function M.commits(project, tag, previous)
  return project.repo:log(previous and (previous.name .. ".." .. tag) or tag) or {}
end

-- A commit subject (and message) as a Conventional Commit:
-- { type, scope, subject, breaking } | nil.
function M.parse(summary, message)
  local kind, rest = (summary or ""):match("^(%a+)(.*)$")
  if not kind or not TYPES[kind:lower()] then return nil end
  local scope, bang, subject = rest:match("^%(([^)]*)%)(!?):%s+(.+)$")
  if not scope then
    bang, subject = rest:match("^(!?):%s+(.+)$")
  end
  if not subject then return nil end
  local body = message or ""
  local breaking = bang == "!" or body:find("\nBREAKING[ %-]CHANGE:") ~= nil
  return { type = kind:lower(), scope = scope ~= "" and scope or nil, subject = subject, breaking = breaking }
end

-- Whether a history uses Conventional Commits: at least half of its
-- subjects (merge commits aside) parse as one.
function M.conventional(commits)
  local n, yes = 0, 0
  for _, c in ipairs(commits) do
    if not (c.summary or ""):find("^Merge ") then
      n = n + 1
      if M.parse(c.summary, c.message) then yes = yes + 1 end
    end
  end
  return n > 0 and yes * 2 >= n
end

local GROUPS = {
  { "breaking", "Breaking changes" }, { "feat", "Features" }, { "fix", "Fixes" }, { "other", "Other changes" },
}

local function entry(c, cc)
  local text = cc and ((cc.scope and (cc.scope .. ": ") or "") .. cc.subject) or c.summary
  return "- " .. text .. " (" .. c.short .. ")"
end

-- render(commits, previous_name) -> the notes' Markdown.
function M.render(commits, previous_name)
  local head = previous_name and ("Changes since " .. previous_name .. ":\n\n") or ""
  if not M.conventional(commits) then
    local lines = {}
    for _, c in ipairs(commits) do lines[#lines + 1] = entry(c) end
    return head .. table.concat(lines, "\n")
  end
  local by = { breaking = {}, feat = {}, fix = {}, other = {} }
  for _, c in ipairs(commits) do
    if not (c.summary or ""):find("^Merge ") then
      local cc = M.parse(c.summary, c.message)
      local group = cc and (cc.breaking and "breaking" or (by[cc.type] and cc.type)) or "other"
      local list = by[group]
      list[#list + 1] = entry(c, cc)
    end
  end
  local parts = {}
  for _, g in ipairs(GROUPS) do
    if #by[g[1]] > 0 then parts[#parts + 1] = "### " .. g[2] .. "\n\n" .. table.concat(by[g[1]], "\n") end
  end
  return head .. table.concat(parts, "\n\n")
end

-- The notes of `tag`.
function M.for_tag(project, tag)
  local previous = M.previous(project, tag)
  return M.render(M.commits(project, tag, previous), previous and previous.name)
end

return M
