-- relrun.watch's pieces without a server: GitHub's timestamps, a job log's
-- tail, the doctor check a failure gets, what a tag push starts (workflow
-- files in a temp folder), the push credential judged as the workflow's own
-- token, and the display: a line per change in a log, the step under way
-- redrawn on a terminal (a child relrun, its stdout and stderr apart).
local watch = require "relrun.watch"
local workflows = require "relrun.workflows"
local fs = require "relrun.fs"
local proc = require "relrun.proc"

describe("relrun.watch", function()
  it("reads GitHub's timestamps, with and without a UTC offset", function()
    eq(watch.parse_time("1970-01-01T00:00:00Z"), 0)
    eq(watch.parse_time("2020-01-20T17:42:40Z"), 1579542160)
    eq(watch.parse_time("2020-01-20T09:42:40.000-08:00"), 1579542160)
    eq(watch.parse_time("2024-02-29T12:00:00+01:00"), 1709204400)
    eq(watch.parse_time("yesterday"), nil)
  end)

  it("takes the tail of a job log: timestamps off, groups and errors readable", function()
    local log = "2026-12-02T09:41:01.0000000Z ##[group]Run relrun scripts/release.lua publish\n" ..
      "2026-12-02T09:41:01.0000001Z ##[endgroup]\n" ..
      "2026-12-02T09:41:02.0000002Z uploading x.whl\r\n" ..
      "2026-12-02T09:41:03.0000003Z ##[error]Process completed with exit code 1.\n"
    eq(watch.log_tail(log, 10), { "▸ Run relrun scripts/release.lua publish", "uploading x.whl",
                                  "error: Process completed with exit code 1." })
    eq(watch.log_tail(log, 1), { "error: Process completed with exit code 1." })
  end)

  it("gives the doctor check that fits the failing step and its log", function()
    contains(watch.doctor_hint("Publish", { "Not authorized to perform sts:AssumeRoleWithWebIdentity" }), "--only oidc")
    contains(watch.doctor_hint("Publish", { "GetAuthorizationToken: AccessDeniedException" }), "--only codeartifact")
    contains(watch.doctor_hint("Copy", { "upload to s3://b/wheels/x.whl: AccessDenied" }), "--only s3")
    contains(watch.doctor_hint("Build", { "python -m build failed" }), "--only build")
    contains(watch.doctor_hint("Release", { "Resource not accessible by integration" }), "contents: write")
    eq(watch.doctor_hint("Lint", { "E501 line too long" }), "`relrun doctor` checks the whole set-up")
  end)

  it("judges the push credential: GITHUB_TOKEN under Actions, a ghs_ token", function()
    local function env(t) return function(k) return t[k] end end
    eq(watch.pushed_with_actions_token(env{ GITHUB_ACTIONS = "true", GITHUB_TOKEN = "ghs_abc" }), true)
    eq(watch.pushed_with_actions_token(env{ GITHUB_ACTIONS = "true", GITHUB_TOKEN = "ghp_pat" }), false)
    eq(watch.pushed_with_actions_token(env{ GITHUB_ACTIONS = "true", GIT_TOKEN = "ghs_abc" }), false)
    eq(watch.pushed_with_actions_token(env{ GITHUB_TOKEN = "ghs_abc" }), false)
  end)

  it("knows what a tag push starts, and what only other tags start", function()
    local tmp <close> = fs.tempdir("relrun-watch-spec")
    local root = tmp.path
    eq(workflows.tag_workflows(root, "v1.0.0").files, 0)
    assert(fs.mkdir(root .. "/.github/workflows"))
    fs.write(root .. "/.github/workflows/ci.yml", "on:\n  push:\n    branches: [main]\njobs:\n  t:\n    runs-on: x\n")
    fs.write(root .. "/.github/workflows/release.yml",
      "name: Release\non:\n  push:\n    tags: ['release-*', '!release-x']\njobs:\n  r:\n    runs-on: x\n")
    local w = workflows.tag_workflows(root, "v1.0.0")
    eq(w.files, 2)
    eq(w.started, {})
    eq(w.not_matching, { { file = ".github/workflows/release.yml", name = "Release", tags = { "release-*" } } })
    eq(workflows.tag_workflows(root, "release-1.0.0").started,
      { { file = ".github/workflows/release.yml", name = "Release" } })
    fs.write(root .. "/.github/workflows/any.yaml", "on: push\njobs:\n  a:\n    runs-on: x\n")
    eq(#workflows.tag_workflows(root, "v1.0.0").started, 1)
  end)

  it("shows a line per change in a log, and on a terminal redraws the step under way on stderr", function()
    local script = [[
      local watch = require "relrun.watch"
      local d = watch.display{ out = print, terminal = arg[1] == "terminal" }
      local function job(a, b)
        return { { id = 1, name = "release", status = "in_progress", steps = {
          { number = 1, name = "Build", status = a, conclusion = a == "completed" and "success" or nil,
            started_at = "2026-01-01T00:00:00Z", completed_at = a == "completed" and "2026-01-01T00:01:05Z" or nil },
          { number = 2, name = "Publish", status = b, conclusion = nil } } } }
      end
      for _, s in ipairs({ { "in_progress", "queued" }, { "in_progress", "queued" }, { "completed", "in_progress" } }) do
        local current = d:update(job(s[1], s[2]), false)
        d:status("  … " .. current)
      end
      d:clear()
    ]]
    local tmp <close> = fs.tempdir("relrun-watch-display")
    assert(fs.write(tmp.path .. "/display.lua", script))
    local function run(mode)
      return assert(proc.run{ argv = { os.getenv("RELRUN") or "build/relrun", tmp.path .. "/display.lua", mode } })
    end
    local log = run("log")
    eq(log.stdout, "  … Build\n  ✓ Build (1 min 05 s)\n  … Publish\n")
    eq(log.stderr, "")
    local term = run("terminal")
    eq(term.stdout, "  ✓ Build (1 min 05 s)\n")
    contains(term.stderr, "\r  … release › Build\027[K")
    contains(term.stderr, "\r  … release › Publish\027[K")
    ok(term.stderr:find("\r\027%[K$"), "the status line is cleared at the end")
  end)
end)
