-- Reading the trees relrun.xml.decode returns: paths of child names.
--
--   local x = require "relrun.xmlutil"
--   local doc = assert(require("relrun.xml").decode(body))
--   x.text(doc, "AssumeRoleWithWebIdentityResult/Credentials/AccessKeyId")
--   for _, c in ipairs(x.find_all(doc, "Contents")) do ... x.text(c, "Key") ... end
--
-- A path is matched from the element's children ("A/B" = child A, then its
-- child B); "" or nil is the element itself.
local M = {}

local function steps(path)
  local out = {}
  for name in (path or ""):gmatch("[^/]+") do out[#out + 1] = name end
  return out
end

local function walk(el, names, i, out, all)
  if i > #names then
    out[#out + 1] = el
    return not all
  end
  for _, child in ipairs(el.children) do
    if child.name == names[i] and walk(child, names, i + 1, out, all) then return true end
  end
  return false
end

-- The first element at `path` under `el`, or nil.
function M.find(el, path)
  local out = {}
  walk(el, steps(path), 1, out, false)
  return out[1]
end

-- Every element at `path` under `el`, in document order.
function M.find_all(el, path)
  local out = {}
  walk(el, steps(path), 1, out, true)
  return out
end

-- The text of the first element at `path`, or nil when there is none.
function M.text(el, path)
  local found = M.find(el, path)
  return found and found.text or nil
end

-- The texts of every element at `path`.
function M.texts(el, path)
  local out = {}
  for i, found in ipairs(M.find_all(el, path)) do out[i] = found.text end
  return out
end

return M
