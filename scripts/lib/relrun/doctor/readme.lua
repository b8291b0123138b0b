-- The long description as `twine check` judges it: reStructuredText (and a
-- missing or unknown content type, which twine treats as reStructuredText)
-- is rendered with readme_renderer, and a rendering that fails is what
-- twine check and PyPI reject; Markdown and plain text cannot fail (twine
-- 4's rule). The text comes from a built file's metadata, else from the
-- project's configuration: pyproject's readme (PEP 621, setuptools' dynamic
-- readme, poetry's), setup.cfg's long_description.
--
--   local d, why = readme.from_project(p)      -- { text, content_type, where } | nil, why
--   local d = readme.from_file(path)           -- the same, from a wheel's or sdist's metadata
--   local r = readme.render(python, d)         -- { ok, messages = {...} } | { missing = true } (no readme_renderer)
local fs = require "relrun.fs"
local json = require "relrun.json"
local proc = require "relrun.proc"

local M = {}

local at = require("relrun.util").at

-- PEP 621: the content type of a readme file from its extension.
local BY_EXTENSION = { md = "text/markdown", markdown = "text/markdown", rst = "text/x-rst", txt = "text/plain" }

local function content_type_of(name, default)
  local ext = name:match("%.([%w]+)$")
  return ext and BY_EXTENSION[ext:lower()] or default
end

-- Files joined as setuptools joins a list of them -> { text, content_type, where } | nil, why.
-- content_type: as given (nil: none declared; false: from the first file's extension).
local function read_files(p, names, content_type, where)
  local parts = {}
  for _, name in ipairs(names) do
    local text = fs.read(fs.join(p.dir, name))
    if not text then return nil, where .. " names " .. name .. ", which does not exist" end
    parts[#parts + 1] = text
  end
  if content_type == false then content_type = content_type_of(names[1] or "") end
  return { text = table.concat(parts, "\n"), content_type = content_type,
           where = where .. " (" .. table.concat(names, ", ") .. ")" }
end

local function list_of(v)
  if type(v) == "string" then return { v } end
  return type(v) == "table" and v or {}
end

local function from_pyproject(p)
  local readme = at(p.py, "project", "readme")
  local where = "pyproject.toml [project] readme"
  if type(readme) == "string" then return read_files(p, { readme }, false, where) end
  if type(readme) == "table" then
    if readme.file then return read_files(p, { readme.file }, readme["content-type"] or false, where) end
    if readme.text then return { text = readme.text, content_type = readme["content-type"], where = where } end
  end
  local dyn = at(p.py, "tool", "setuptools", "dynamic", "readme")
  if type(dyn) == "table" and dyn.file then
    return read_files(p, list_of(dyn.file), dyn["content-type"] or "text/x-rst",
      "pyproject.toml [tool.setuptools.dynamic] readme")
  end
  for _, field in ipairs(list_of(at(p.py, "project", "dynamic"))) do
    if field == "readme" then   -- a build hook makes it (hatch-fancy-pypi-readme in attrs, structlog)
      return nil, "[project] readme is dynamic, made by the build: build, then check the files (`doctor --dist DIR`)"
    end
  end
  local poetry = at(p.py, "tool", "poetry", "readme")
  if poetry then
    local names = list_of(poetry)
    return read_files(p, names, content_type_of(names[1] or "", "text/plain"), "pyproject.toml [tool.poetry] readme")
  end
  local flit = at(p.py, "tool", "flit", "metadata", "description-file")
  if flit then return read_files(p, { flit }, false, "pyproject.toml [tool.flit.metadata] description-file") end
end

-- from_project(p) -> { text, content_type, where } | false (the project has
-- none) | nil, why (it cannot be known without building).
function M.from_project(p)
  local d, err = from_pyproject(p)
  if d or err then return d, err end
  local meta = (require("relrun.doctor.setupcfg").read(p.dir) or {}).metadata
  local long = meta and meta.long_description
  if long then
    local where = "setup.cfg [metadata] long_description"
    local files = long:match("^file:%s*(.*)$")
    if files then
      local names = {}
      for name in files:gmatch("[^,%s]+") do names[#names + 1] = name end
      return read_files(p, names, meta.long_description_content_type, where)
    end
    return { text = long, content_type = meta.long_description_content_type, where = where }
  end
  if fs.exists(fs.join(p.dir, "setup.py")) then
    return nil, "setup.py makes it when it runs: build, then check the files (`doctor --dist DIR`)"
  end
  return false
end

-- from_file(path) -> { text, content_type, where } | nil, why
function M.from_file(path)
  local meta, err = require("relrun.pypi.metadata").read(path)
  if not meta then return nil, fs.basename(path) .. ": " .. tostring(err) end
  return { text = meta.description, content_type = meta.description_content_type, where = fs.basename(path) }
end

-- Rendered by readme_renderer.rst as twine check calls it; the messages in
-- twine's "line N: Level: message" form. Reads {"text", "content_type"}.
local RENDER = [[
import io, json, re, sys
from email.message import Message
try:
    import readme_renderer.rst
except ImportError:
    print(json.dumps({"missing": True})); sys.exit(0)
d = json.load(sys.stdin)
m = Message()
m["content-type"] = d.get("content_type") or "text/x-rst"
ctype, params = m.get_content_type(), dict(m.get_params()[1:])
if ctype in ("text/plain", "text/markdown"):
    print(json.dumps({"ok": True, "messages": [], "type": ctype})); sys.exit(0)
stream = io.StringIO()
ok = readme_renderer.rst.render(d["text"], stream=stream, **params) is not None
messages = []
for m in re.finditer(r"^<string>:(\d*): \((\w+)/\d+\) (.*)$", stream.getvalue(), re.M):
    messages.append("line %s: %s: %s" % (m.group(1), m.group(2).capitalize(), m.group(3)))
print(json.dumps({"ok": ok, "messages": messages, "type": ctype}))
]]

-- render(python, d) -> { ok, messages, type } | { missing = true } | nil, why
function M.render(python, d)
  local r, err = proc.run{ argv = { python, "-c", RENDER }, cwd = "/",
                           stdin = json.encode{ text = d.text, content_type = d.content_type or json.null } }
  if not r then return nil, tostring(err) end
  local out = r.code == 0 and json.decode(r.stdout)
  if type(out) ~= "table" then return nil, (r.stderr:match("([^\n]+)\n?$") or "it failed") end
  return out
end

return M
