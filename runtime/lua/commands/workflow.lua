-- relrun workflow --deb-url URL (--deb-sha256 HEX | --deb FILE) [--version V] [--tag-prefix P] [--matrix]
--                 [--working-directory DIR] [-o FILE]
--
-- Print (or write) the release workflow for a package's repository
-- (relrun.workflow): it installs this relrun's Debian package, checked by its
-- sha256, and runs `relrun --locked release publish`; with --matrix, build
-- jobs make the files on several platforms and the publish job runs
-- `relrun --locked release publish --dist dist/`.
local fs = require "relrun.fs"
local hash = require "relrun.hash"
local workflow = require "relrun.workflow"

local USAGE = [[
usage: relrun workflow --deb-url URL (--deb-sha256 HEX | --deb FILE) [--version V] [--tag-prefix P] [--matrix]
                       [--working-directory DIR] [-o FILE]
Print the GitHub Actions workflow that releases this project on its release tags with a pinned relrun.
  --deb-url URL     where the job downloads relrun's Debian package
  --deb-sha256 HEX  that package's sha256 (the job refuses any other file)
  --deb FILE        compute the sha256 from a copy of the package
  --version V       the relrun version it installs (default: this relrun's)
  --tag-prefix P    the release tags' prefix: the workflow runs on P* tags (default v; "" for bare tags)
  --matrix          build jobs (cibuildwheel on Linux, Windows, macOS, and the sdist) upload their
                    files; one job publishes them all: relrun --locked release publish --dist dist/
  --working-directory DIR
                    the package's folder in the repository, when it is not the root: the publish
                    step runs there (relrun init in that folder writes this for you)
  -o FILE           write FILE (.github/workflows/release.yml) instead of printing
]]

local params, out = {}, nil
local args = { ... }
local i = 1
while i <= #args do
  local a, v = args[i], args[i + 1]
  if a == "-h" or a == "--help" then
    io.stdout:write(USAGE)
    return 0
  elseif a == "--matrix" then
    params.matrix = true
    i = i + 1
  elseif (a == "--deb-url" or a == "--deb-sha256" or a == "--deb" or a == "--version" or a == "-o"
          or a == "--tag-prefix" or a == "--working-directory") and v then
    if a == "--deb-url" then params.deb_url = v
    elseif a == "--working-directory" then params.working_directory = v
    elseif a == "--tag-prefix" then params.tag_prefix = v
    elseif a == "--deb-sha256" then params.deb_sha256 = v
    elseif a == "--version" then params.version = v
    elseif a == "-o" then out = v
    else
      local digest, err = hash.file(v, { "sha256" })
      if not digest then error({ message = "relrun workflow: " .. err, exit = 2 }, 0) end
      params.deb_sha256 = digest.sha256
    end
    i = i + 2
  else
    local known = ({ ["--deb-url"] = 1, ["--deb-sha256"] = 1, ["--deb"] = 1, ["--version"] = 1, ["-o"] = 1,
                     ["--tag-prefix"] = 1, ["--working-directory"] = 1 })[a]
    io.stderr:write("relrun workflow: " .. (known and "missing value for " or "unknown option ") .. a .. "\n" .. USAGE)
    return 2
  end
end

local text = workflow.render(params)
if not out then
  io.stdout:write(text)
  return 0
end
local ok, err = fs.mkdir(fs.dirname(out))
if ok then ok, err = fs.write(out, text) end
if not ok then error({ message = "relrun workflow: cannot write " .. out .. ": " .. err, exit = 1 }, 0) end
print("wrote " .. out)
return 0
