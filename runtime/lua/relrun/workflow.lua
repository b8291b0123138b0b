-- relrun.workflow: the release workflow a package's repository runs
-- (scripts/templates/release.yml, built into relrun), filled in with the
-- relrun it installs: a version, the URL of that version's Debian package
-- and the package's sha256, which the job checks before installing it.
--
--   local workflow = require "relrun.workflow"
--   local text = workflow.render{ deb_url = "https://…/relrun_0.1.0_amd64.deb",
--                                 deb_sha256 = "…64 hex…" }   -- version: this relrun's
--   workflow.render{ ..., matrix = true }   -- scripts/templates/release-matrix.yml: build jobs
--                                           -- (cibuildwheel, sdist) upload, one job publishes --dist
--
-- relrun.lock pins the same version, so `relrun --locked release publish`
-- in the job runs exactly what the project locked. Used by `relrun
-- workflow` and `relrun init`.
local host = require "relrun.host"

local M = {}

M.TEMPLATE = "scripts/templates/release.yml"
M.MATRIX_TEMPLATE = "scripts/templates/release-matrix.yml"
M.PATH = ".github/workflows/release.yml"

local function bad(message)
  error({ message = message, exit = 2 }, 0)
end

-- The publish step run in the package's folder (a package in a subfolder
-- of the repository; relrun.lock stays at the root, where `relrun --locked`
-- finds it from there).
local function in_folder(text, params)
  local dir = params.working_directory
  if params.matrix then bad("relrun workflow: the matrix workflow is for a package at the repository's root") end
  if not dir:match("^[%w._/-]+$") or dir:find("%.%.") or dir:sub(1, 1) == "/" then
    bad("relrun workflow: not a folder of the repository: " .. dir)
  end
  local n
  text, n = text:gsub("(\n      %- name: Publish\n)", "%1        working-directory: " .. dir .. "\n")
  assert(n == 1, "the workflow template has one Publish step")
  return text
end

-- render{version = "0.1.0" (default: this relrun's), deb_url =, deb_sha256 =, matrix = bool,
-- tag_prefix = "v" (default; the workflow runs on PREFIX* tags), working_directory = "python"
-- (a package in that folder of the repository; default: at the root)} -> text
function M.render(params)
  local version = params.version or host.version
  if not version:match("^%d+%.%d+%.%d+[%w.+~-]*$") then bad("relrun workflow: not a relrun version: " .. version) end
  local url = params.deb_url or bad("relrun workflow: the URL of relrun's Debian package is needed (--deb-url)")
  if not url:match("^%a[%w+.-]*://%S+$") or url:find('["\\]') then bad("relrun workflow: not a URL: " .. url) end
  local sha = (params.deb_sha256 or bad("relrun workflow: the sha256 of relrun's Debian package is needed "
    .. "(--deb-sha256, or --deb FILE to compute it)")):lower()
  if not sha:match("^" .. ("%x"):rep(64) .. "$") then bad("relrun workflow: not a sha256: " .. sha) end
  local prefix = params.tag_prefix or "v"
  if not prefix:match("^[%w._/-]*$") then bad("relrun workflow: not a tag prefix: " .. prefix) end
  local values = { RELRUN_VERSION = version, RELRUN_DEB_URL = url, RELRUN_DEB_SHA256 = sha,
                   RELRUN_TAG_PATTERN = prefix .. "*" }
  local template = params.matrix and M.MATRIX_TEMPLATE or M.TEMPLATE
  local text = assert(host.builtin_text(template), "the workflow template is built into relrun")
  text = text:gsub("@([%u%d_]+)@", function(name)
    return assert(values[name], "the template names an unknown parameter " .. name)
  end)
  return params.working_directory and in_folder(text, params) or text
end

-- The relrun a rendered workflow pins: { version =, deb_url =, deb_sha256 = },
-- or nil when `text` was not written by relrun (no such pins in it).
function M.pins(text)
  local function value(name)
    return text:match("\n%s+" .. name .. ': "([^"\n]*)"\n')
  end
  local pins = { version = value("RELRUN_VERSION"), deb_url = value("RELRUN_DEB_URL"),
                 deb_sha256 = value("RELRUN_DEB_SHA256") }
  if pins.version and pins.deb_url and pins.deb_sha256 then return pins end
  return nil
end

return M
