-- Small helpers the libraries share.
local M = {}

-- `s` without leading and trailing white space.
function M.trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- t[k1][k2]…, or nil where a level is missing or not a table (a parsed
-- pyproject.toml, whose tables a project may leave out or mistype).
function M.at(t, ...)
  for _, k in ipairs({ ... }) do
    if type(t) ~= "table" then return nil end
    t = t[k]
  end
  return t
end

return M
