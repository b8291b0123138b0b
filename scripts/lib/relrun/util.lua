-- Small helpers the libraries share.
local M = {}

-- `s` without leading and trailing white space.
function M.trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

return M
