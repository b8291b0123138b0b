-- bench/release.sh's peers: `relrun bench/release_world.lua FILE` starts the
-- world of the end-to-end specs (tests/support/e2e_world.lua: moto, the
-- CodeArtifact and GitHub fakes, a git remote over HTTP with a clone of the
-- example) and writes a shell file to source: the simulated-Actions
-- environment relrun runs in, the peers' URLs and PIDs, the clone.
local source_dir = os.getenv("RELRUN_SOURCE_DIR") or "."
package.path = source_dir .. "/tests/support/?.lua;" .. package.path
local world = require "e2e_world"

local out = assert(arg[1], "usage: relrun bench/release_world.lua FILE")
local w = world.start{}
local lines = {}
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local env = w:env()
local names = {}
for k in pairs(env) do names[#names + 1] = k end
table.sort(names)
for _, k in ipairs(names) do
  lines[#lines + 1] = env[k] == false and ("unset " .. k) or ("export " .. k .. "=" .. q(env[k]))
end
for k, v in pairs({ W_TMP = w.tmp, W_CLONE = w.clone, W_MOTO = w.moto.url, W_CA = w.ca.url, W_GH = w.gh.url,
                    W_UPLOADS = "http://127.0.0.1:" .. world.read(w.gh.port_file .. ".uploads"):gsub("%s", ""),
                    W_PIDS = table.concat({ w.moto.pid, w.ca.pid, w.gh.pid, w.githttp.pid }, " "),
                    W_AUTH = "Authorization: Basic " .. require("relrun.hash").base64_encode("x-access-token:" ..
                      world.GITHUB_TOKEN) }) do
  lines[#lines + 1] = "export " .. k .. "=" .. q(v)
end
world.write(out, table.concat(lines, "\n") .. "\n")
