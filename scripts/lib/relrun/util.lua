-- Small helpers the libraries share.
local M = {}

-- Shallow copy of a table.
function M.copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

-- Split `s` on the plain separator `sep`.
function M.split(s, sep)
  local out, from = {}, 1
  while true do
    local i, j = s:find(sep, from, true)
    if not i then out[#out + 1] = s:sub(from); return out end
    out[#out + 1] = s:sub(from, i - 1)
    from = j + 1
  end
end

function M.trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

return M
