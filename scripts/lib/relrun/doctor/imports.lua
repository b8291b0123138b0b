-- What a package imports, read from its sources without running them: the
-- doctor's "imports are declared dependencies" check.
--
--   local imports = require "relrun.doctor.imports"
--   local found = imports.of_package("/p/src/attr")   -- or "/p/src/six" for six.py
--   found.eager  --> { requests = "/p/src/attr/__init__.py", ... }   what `import attr` itself needs
--   found.lazy   --> { twisted = "/p/src/attr/twisted.py", ... }     only other modules need
--
-- Only imports at the left margin count, outside strings: an import
-- indented under `if TYPE_CHECKING:`, `try: ... except ImportError:` or a
-- function is the project's way of making it optional (markupsafe's
-- typing_extensions, structlog's colorama). "Eager" follows the package's
-- own imports from its __init__.py: a missing dependency there breaks
-- `import pkg` for every user; one only an integration module imports
-- (structlog.twisted) breaks that module alone.
local fs = require "relrun.fs"

local M = {}

-- Whether a line opens or closes a triple-quoted string: toggles per """ or '''.
local function string_toggles(line, state)
  local i = 1
  while true do
    local s, e, q
    if state then
      s, e = line:find(state, i, true)
    else
      local s1, e1 = line:find('"""', i, true)
      local s2, e2 = line:find("'''", i, true)
      if s1 and (not s2 or s1 < s2) then s, e, q = s1, e1, '"""' elseif s2 then s, e, q = s2, e2, "'''" end
    end
    if not s then return state end
    if state then state = nil else state = q end
    i = e + 1
  end
end

-- The imports of one file at the left margin, outside triple-quoted
-- strings: { { name = "a.b", level = 0, names = { "c" } } }.
function M.scan(path)
  local out, in_string = {}, nil
  for line in ((fs.read(path) or "") .. "\n"):gmatch("([^\n]*)\n") do
    local was = in_string
    in_string = string_toggles(line, in_string)
    if not was then
      local dots, from, what = line:match("^from%s+(%.*)([%w_.]*)%s+import%s+(.*)$")
      if dots then
        local names = {}
        for n in what:gsub("#.*", ""):gmatch("[%w_]+") do if n ~= "as" then names[#names + 1] = n end end
        out[#out + 1] = { name = from, level = #dots, names = names }
      else
        local list = line:match("^import%s+([%w_.,%s]+)")
        for item in (list or ""):gmatch("[^,]+") do
          local name = item:match("^%s*([%w_.]+)")
          if name then out[#out + 1] = { name = name, level = 0, names = {} } end
        end
      end
    end
  end
  return out
end

-- The file of module `parts` (a list of names) under the package folder, or nil.
local function module_file(root, parts)
  local base = fs.join(root, table.concat(parts, "/"))
  if #parts == 0 then base = root end
  for _, candidate in ipairs({ fs.join(base, "__init__.py"), base .. ".py" }) do
    if fs.exists(candidate) then return candidate end
  end
end

-- The package-relative parts of the module an import names, from the file
-- `path` (its parts: `here`), or nil when it is not the package's own.
local function own_parts(imp, top, here, is_init)
  if imp.level == 0 then
    local first, rest = imp.name:match("^([^.]+)%.?(.*)$")
    if first ~= top then return nil end
    local parts = {}
    for n in rest:gmatch("[^.]+") do parts[#parts + 1] = n end
    return parts
  end
  local parts = {}
  local keep = #here - (is_init and 0 or 1) - (imp.level - 1)
  for k = 1, math.max(keep, 0) do parts[k] = here[k] end
  for n in imp.name:gmatch("[^.]+") do parts[#parts + 1] = n end
  return parts
end

-- Every .py file under dir -> { path = parts (module path inside the package) }.
local function python_files(dir, parts, out)
  out = out or {}
  for _, name in ipairs(fs.list(dir) or {}) do
    local path = fs.join(dir, name)
    local st = fs.lstat(path)
    if st and st.type == "directory" and name ~= "__pycache__" then
      local sub = { table.unpack(parts) }
      sub[#sub + 1] = name
      python_files(path, sub, out)
    elseif name:match("%.py$") then
      local mine = { table.unpack(parts) }
      if name ~= "__init__.py" then mine[#mine + 1] = name:sub(1, -4) end
      out[path] = mine
    end
  end
  return out
end

-- The imports of `files` ({ path = parts }) of package `top` (folder
-- `root`, nil for a single module): external = { path = { top names } },
-- edges = { path = { files of the package it imports } }.
local function graph(files, root, top)
  local external, edges = {}, {}
  for path, here in pairs(files) do
    edges[path] = {}
    local function edge(parts)
      local target = module_file(root, parts)
      if target then edges[path][#edges[path] + 1] = target end
    end
    for _, imp in ipairs(M.scan(path)) do
      local parts = own_parts(imp, top, here, path:match("__init__%.py$") ~= nil)
      if parts and root then
        edge(parts)
        for _, n in ipairs(imp.names) do   -- `from . import sub` imports a module
          local sub = { table.unpack(parts) }
          sub[#sub + 1] = n
          edge(sub)
        end
      elseif not parts and imp.level == 0 then
        external[path] = external[path] or {}
        external[path][#external[path] + 1] = imp.name:match("^[^.]+")
      end
    end
  end
  return external, edges
end

-- The files `import pkg` runs: the entry file and what it imports of the package, in turn.
local function reached_from(entry, edges)
  local reached, queue = { [entry] = true }, { entry }
  while #queue > 0 do
    for _, target in ipairs(edges[table.remove(queue)] or {}) do
      if not reached[target] then reached[target] = true; queue[#queue + 1] = target end
    end
  end
  return reached
end

-- of_package(where) -> { eager = { top = file }, lazy = { top = file } }:
-- the top-level names of modules other than the package's own, by whether
-- importing the package reaches them. `where` is a package folder, or a
-- module's path without .py.
function M.of_package(where)
  local single = fs.exists(where .. ".py")
  local root = not single and where or nil
  local files = single and { [where .. ".py"] = {} } or python_files(where, {})
  local external, edges = graph(files, root, fs.basename(where))
  local reached = reached_from(root and fs.join(root, "__init__.py") or (where .. ".py"), edges)
  local out = { eager = {}, lazy = {} }
  local paths = {}
  for path in pairs(external) do paths[#paths + 1] = path end
  table.sort(paths)   -- the first file naming a module is the one shown
  for _, path in ipairs(paths) do
    local set = reached[path] and out.eager or out.lazy
    for _, name in ipairs(external[path]) do set[name] = set[name] or path end
  end
  for name in pairs(out.eager) do out.lazy[name] = nil end
  return out
end

return M
