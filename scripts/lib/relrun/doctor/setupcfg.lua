-- setup.cfg as setuptools reads the parts the doctor needs: sections of
-- `key = value` lines, an indented line continuing the value before it
-- (joined with "\n"), comments (# ;) and blank lines skipped, keys lower
-- case with - read as _.
--
--   local cfg = setupcfg.read(dir)   --> { metadata = { long_description = "file: README.rst", ... },
--                                    --    options = { install_requires = "\nrequests>=2\nclick" } } | nil
--   setupcfg.list(cfg.options.install_requires)   --> { "requests>=2", "click" }
local fs = require "relrun.fs"

local M = {}

function M.read(dir)
  local text = fs.read(fs.join(dir, "setup.cfg"))
  if not text then return nil end
  local out, section, key = {}, nil, nil
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    local name = line:match("^%[%s*([^%]]-)%s*%]")
    if name then
      section, key = {}, nil
      out[name] = section
    elseif section and not line:match("^%s*[#;]") and line:match("%S") then
      local k, v = line:match("^([%w_.-]+)%s*[=:]%s*(.-)%s*$")
      if k then
        key = k:lower():gsub("-", "_")
        section[key] = v
      elseif key and line:match("^%s") then
        section[key] = section[key] .. "\n" .. line:match("^%s*(.-)%s*$")
      end
    end
  end
  return out
end

-- A list value: one item a line, or comma-separated on one line.
function M.list(value)
  local items = {}
  if not value then return items end
  local sep = value:find("\n", 1, true) and "[^\n]+" or "[^,]+"
  for item in value:gmatch(sep) do
    item = item:match("^%s*(.-)%s*$")
    if item ~= "" then items[#items + 1] = item end
  end
  return items
end

return M
