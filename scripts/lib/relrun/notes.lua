-- relrun.notes: release notes — the commits since the previous release,
-- found by the project's tag scheme among the tags the release contains.
--
--   local text = notes.for_tag(project, "v1.2.3")
local M = {}

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
function M.commits(project, tag, previous)
  return project.repo:log(previous and (previous.name .. ".." .. tag) or tag) or {}
end

function M.for_tag(project, tag)
  local previous = M.previous(project, tag)
  local lines = {}
  for _, c in ipairs(M.commits(project, tag, previous)) do
    lines[#lines + 1] = "- " .. c.summary .. " (" .. c.short .. ")"
  end
  return (previous and ("Changes since " .. previous.name .. ":\n\n") or "") .. table.concat(lines, "\n")
end

return M
