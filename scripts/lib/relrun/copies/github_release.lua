-- The GitHub Release of the tag, with the release's files attached, a
-- SHA256SUMS asset listing every one of them (`sha256sum -c` reads it), and
-- notes from the commits since the previous release (relrun.notes); a
-- prerelease for a PEP 440 pre-release, a draft with --draft or
-- [tool.relrun.github_release] draft. A step any target can add (it needs
-- GITHUB_TOKEN).
local errors = require "relrun.errors"
local log = require "relrun.log"
local github = require "relrun.github"
local notes = require "relrun.notes"
local release_build = require "relrun.phases.build"

local M = {}

M.SUMS = "SHA256SUMS"

-- The SHA256SUMS text of the files: "<sha256>  <name>" lines, sorted by name.
function M.sums_text(files)
  local sorted = {}
  for _, f in ipairs(files) do sorted[#sorted + 1] = f end
  table.sort(sorted, function(a, b) return a.filename < b.filename end)
  local lines = {}
  for _, f in ipairs(sorted) do lines[#lines + 1] = f.sha256 .. "  " .. f.filename .. "\n" end
  return table.concat(lines)
end

local function client(ctx)
  if not ctx.github then
    local gh, err = github.new{ repository = ctx.project:github_repository() }
    if not gh then errors.raise(err) end
    ctx.github = gh
  end
  return ctx.github
end

-- The token must reach the repository, and not be read-only.
local function preflight(ctx)
  local gh = client(ctx)
  local repo, err = gh:request("GET", gh:repo_path(""))
  if not repo then errors.raise(errors.wrap(err, "the GitHub Release", "check GITHUB_TOKEN and GITHUB_REPOSITORY")) end
  if type(repo.permissions) == "table" and repo.permissions.push == false then
    errors.raise("GITHUB_READ_ONLY", "the GitHub token may read " .. gh.repository .. " but not create releases",
      { hint = "give the job `permissions: contents: write`" })
  end
  return "GitHub " .. gh.repository .. " reachable"
end

-- Done when the tag's release holds every built file with its sha256; an
-- asset of the same name with other content stops the run.
local function check(ctx)
  local built = ctx.evidence.build and ctx.evidence.build.files
  if not built then return false end
  local gh = client(ctx)
  local rel, err = gh:release_by_tag(ctx.tag)
  if rel == nil then errors.raise(err) end
  if not rel then return false end
  local assets, lerr = gh:list_assets(rel.id)
  if not assets then errors.raise(lerr) end
  local there = {}
  for _, a in ipairs(assets) do there[a.name] = a end
  local expected = { table.unpack(built) }
  expected[#expected + 1] = { filename = M.SUMS, sha256 = require("relrun.hash").sha256(M.sums_text(built)) }
  for _, f in ipairs(expected) do
    local a = there[f.filename]
    if not a or not github.asset_complete(a) then return false end   -- run() clears a leftover
    local sha, herr = gh:asset_sha256(a)
    if not sha then errors.raise(herr) end
    if sha ~= f.sha256 then
      errors.raise("RELEASE_CONFLICT", string.format("the GitHub Release %s already has a different %s (sha256 %s, " ..
        "ours %s)", ctx.tag, f.filename, sha, f.sha256), { hint = "delete that asset or release a new version" })
    end
  end
  return true, { release_id = rel.id, url = rel.html_url or rel.url }
end

local function run(ctx)
  local gh = client(ctx)
  local _, parsed = ctx.project.scheme:version(ctx.tag)
  local rel, how = gh:ensure_release{ tag = ctx.tag, name = ctx.tag, body = notes.for_tag(ctx.project, ctx.tag),
                                      prerelease = parsed and parsed:is_prerelease() or false,
                                      draft = ctx.project.cfg.github_release.draft or false }
  if not rel then errors.raise(how) end
  local assets = {}
  for _, f in ipairs(release_build.local_files(ctx)) do
    local asset, status = gh:upload_asset(rel, f.path)
    if not asset then errors.raise(status) end
    assets[#assets + 1] = { name = f.filename, status = status }
  end
  local tmp <close> = require("relrun.fs").tempdir("relrun-sums")
  local sums = tmp.path .. "/" .. M.SUMS
  errors.check(require("relrun.fs").write(sums, M.sums_text(ctx.evidence.build.files)))
  local asset, status = gh:upload_asset(rel, sums, { content_type = "text/plain" })
  if not asset then errors.raise(status) end
  assets[#assets + 1] = { name = M.SUMS, status = status }
  log.info("GitHub Release %s %s: %s", ctx.tag, how, rel.html_url or rel.url or "")
  return { release_id = rel.id, url = rel.html_url or rel.url, assets = assets, outcome = how }
end

function M.new(ctx)
  return {
    preflight = function() return preflight(ctx) end,
    step = { name = "github-release", does = "create the GitHub Release " .. ctx.tag .. " with the files",
             effect = "created the GitHub Release", check = function() return check(ctx) end,
             run = function() return run(ctx) end },
  }
end

return M
