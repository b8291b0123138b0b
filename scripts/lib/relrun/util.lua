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

-- A module loaded on its first use, not when the file naming it loads: a C
-- module brings shared libraries (libarchive: a dozen, ICU among them)
-- that a run may never need, or may load while a child process runs
-- (relrun.build).
function M.lazy(name)
  return setmetatable({}, { __index = function(_, k) return require(name)[k] end })
end

return M
