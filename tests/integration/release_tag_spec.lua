-- scripts/release.lua prepare and tag against a real bare remote over
-- file://, every repository built with the git CLI; what the script claims is
-- checked with git itself (ls-remote, cat-file, for-each-ref, log). The
-- project is a small hatchling + hatch-vcs package: tag builds the release
-- before it creates the tag.
local fx = require "scm_fixture"

local SCRIPT = "scripts/release.lua"

local made = {}
local function track(r) made[#made + 1] = r; return r end
after_each(function()
  for _, r in ipairs(made) do r:remove() end
  made = {}
end)

local PYPROJECT = [[
[build-system]
requires = ["hatchling", "hatch-vcs"]
build-backend = "hatchling.build"

[project]
name = "demo-pkg"
dynamic = ["version"]
description = "a package for the release specs"

[tool.hatch.version]
source = "vcs"
]]

-- The Python project on the first commit of `work`.
local function python_project(work)
  work:write("pyproject.toml", PYPROJECT)
  work:write("demo_pkg/__init__.py", "")
  work:write(".gitignore", ".relrun/\n")
  work:git("add pyproject.toml demo_pkg .gitignore")
end

-- origin (bare) + work (a clone on main) with v1.0.0 released and two
-- commits after it, all pushed.
local function project()
  local origin = track(fx.repo({ bare = true }))
  local work = track(fx.repo({ init = false }))
  work:git("clone -q file://" .. origin.dir .. " .")
  work:git("checkout -q -b main")
  python_project(work)
  work:commit(1, "initial")
  work:git("tag v1.0.0")
  work:commit(2, "feature")
  work:git("push -q origin main v1.0.0")
  work:git("branch -q --set-upstream-to=origin/main main")
  return origin, work
end

local function release(work, args, opts)
  local argv = { SCRIPT }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local env = { RELRUN_BUILD_ISOLATION = "0" }
  for k, v in pairs(opts and opts.env or {}) do env[k] = v end
  return fx.relrun(argv, { cwd = work.dir, env = env, stdin = opts and opts.stdin })
end

-- A failure: exit code, nothing half-done, the error one line (the last
-- on stderr, which may also hold the build's headings).
local function fails(want_code, text, code, out, err)
  eq(code, want_code, "exit code (stdout: " .. out .. ")")
  local last = err:match("([^\n]*)\n$") or ""
  ok(last:find("^relrun: "), "the error is one line: " .. err)
  contains(last, text)
end

local function remote_tags(origin)
  local refs = {}
  for id, name in origin:git("for-each-ref --format='%(objectname) %(refname)' refs/tags"):gmatch("(%x+) (%S+)") do
    refs[name] = id
  end
  return refs
end

local function snapshot(r)
  local refs = r:git("for-each-ref --format='%(objectname) %(refname)'")
  if r:git("rev-parse --is-bare-repository") == "true\n" then return refs end
  return refs .. r:git("status --porcelain")
end

describe("prepare", function()
  it("checks the branch and shows the changes since the last tag and the next versions", function()
    local _, work = project()
    local code, out, err = release(work, { "prepare" })
    eq(code, 0, err)
    contains(out, "on branch main")
    contains(out, "working tree clean")
    contains(out, "up to date with origin/main (ahead 0, behind 0)")
    -- the same commits `git log $(git describe --tags --abbrev=0)..HEAD --oneline` shows
    local last = work:git("describe --tags --abbrev=0"):gsub("%s+$", "")
    for line in work:git("log " .. last .. "..HEAD --oneline"):gmatch("[^\n]+") do contains(out, "    " .. line) end
    contains(out, "changes since v1.0.0")
    contains(out, "--bump major -> v2.0.0, --bump minor -> v1.1.0, --bump patch -> v1.0.1")
  end)
  it("fetches: a tag pushed elsewhere becomes the last release", function()
    local origin, work = project()
    local other = track(fx.repo({ init = false }))
    other:git("clone -q file://" .. origin.dir .. " .")
    other:git("tag v1.4.0 origin/main")
    other:git("push -q origin v1.4.0")
    local code, out = release(work, { "prepare" })
    eq(code, 0)
    contains(out, "last release: v1.4.0")
    ok(work:git("tag -l v1.4.0"):find("v1.4.0"), "fetched the tag")
  end)
  it("says how far behind the upstream main is", function()
    local origin, work = project()
    local other = track(fx.repo({ init = false }))
    other:git("clone -q file://" .. origin.dir .. " .")
    other:commit(2, "elsewhere")
    other:git("push -q origin main")
    fails(1, "2 commit(s) behind origin/main", release(work, { "prepare" }))
  end)
  it("says when main has unpushed commits", function()
    local _, work = project()
    work:commit(1, "local only")
    fails(1, "1 commit(s) ahead of origin/main", release(work, { "prepare" }))
  end)
  it("refuses a dirty tree and names the files", function()
    local _, work = project()
    work:write("file.txt", "edited\n")
    fails(1, "uncommitted changes (file.txt)", release(work, { "prepare" }))
  end)
  it("untracked files are fine", function()
    local _, work = project()
    work:write("notes.txt", "scratch\n")
    local code = release(work, { "prepare" })
    eq(code, 0)
  end)
  -- git reads a relative remote path from the top of the working tree,
  -- whatever folder it runs in; so does relrun
  it("a remote at a relative path is reached from a folder inside the project", function()
    local origin, work = project()
    local rel = "../" .. origin.dir:match("([^/]+)/*$")
    ok(work.dir:match("^(.*)/[^/]+/*$") == origin.dir:match("^(.*)/[^/]+/*$"), "siblings")
    work:git("remote set-url origin " .. rel)
    local code, out, err = fx.relrun({ SCRIPT, "prepare" }, { cwd = work.dir .. "/demo_pkg",
                                                             env = { RELRUN_BUILD_ISOLATION = "0" } })
    eq(code, 0, out .. err)
    contains(out, "fetched origin (" .. rel .. ")")
  end)

  it("a shallow clone is named as such, with the fetch that deepens it", function()
    local origin = project()
    local shallow = track(fx.repo({ init = false }))
    shallow:git("clone -q --depth 1 file://" .. origin.dir .. " .")
    fails(1, "this clone is shallow: a release needs the history and the tags; run `git fetch --unshallow --tags " ..
      "origin`", release(shallow, { "prepare" }))
  end)
  it("refuses a detached HEAD", function()
    local _, work = project()
    work:git("checkout -q --detach HEAD")
    fails(1, "HEAD is detached", release(work, { "prepare" }))
  end)
  it("refuses another branch", function()
    local _, work = project()
    work:git("checkout -q -b feature")
    fails(1, "on branch feature, not the release branch main", release(work, { "prepare" }))
  end)
  -- a dry run goes on after the branch check fails (pytest's 9.1.x): the
  -- level check compares HEAD, and says so rather than naming main
  it("a dry run on another branch names HEAD, not main, in the level check", function()
    local _, work = project()
    work:git("checkout -q -b feature")
    work:commit(1, "feature work")
    local code, out = release(work, { "prepare", "--dry-run" })
    eq(code, 1)
    contains(out, "on branch feature, not the release branch main")
    contains(out, "HEAD (feature) is 1 commit(s) ahead of origin/main")
    ok(not out:find("main is 1 commit", 1, true), "main is level with origin/main")
  end)
  -- run from a folder inside the project (tqdm/contrib): every script
  -- finds the project up from there, as version.lua finds the repository
  it("from a folder inside the project, the project is the nearest one up", function()
    local _, work = project()
    local inside = work.dir .. "/demo_pkg"
    local code, out, err = fx.relrun({ SCRIPT, "config" }, { cwd = inside })
    eq(code, 0, err)
    ok(out:find("\npackage%s+demo%-pkg%s+pyproject.toml"), out)
    code, _, err = fx.relrun({ "scripts/verify.lua", "1.0.0" }, { cwd = inside })
    eq(code, 1)
    contains(err, "has no files in the local repository " .. work.dir .. "/.relrun/repository; " ..
      "publish it (relrun release publish --tag v1.0.0)")
    code, _, err = fx.relrun({ "scripts/verify.lua", "1.0.9" }, { cwd = inside })
    eq(code, 1)
    contains(err, "it is not tagged either: release it (relrun release --version 1.0.9)")
  end)
  it("without a branch setting, the remote's default branch a clone recorded is the release branch", function()
    local origin, work = project()
    -- a team whose repository releases from master: origin's HEAD names it
    work:git("checkout -q -b master")
    work:git("push -q -u origin master")
    origin:git("symbolic-ref HEAD refs/heads/master")
    local clone = track(fx.repo({ init = false }))
    clone:git("clone -q file://" .. origin.dir .. " .")
    eq(clone:git("symbolic-ref refs/remotes/origin/HEAD"), "refs/remotes/origin/master\n")
    local code, out, err = release(clone, { "prepare" })
    eq(code, 0, err)
    contains(out, "on branch master")
    clone:git("checkout -q main")
    fails(1, "on branch main, not the release branch master", release(clone, { "prepare" }))
  end)
  it("--branch names another release branch", function()
    local _, work = project()
    work:git("checkout -q -b trunk")
    work:git("push -q -u origin trunk")
    local code, out = release(work, { "prepare", "--branch", "trunk" })
    eq(code, 0)
    contains(out, "on branch trunk")
  end)
  it("[tool.relrun] branch names the release branch", function()
    local _, work = project()
    work:git("checkout -q -b trunk")
    work:write("pyproject.toml", PYPROJECT .. "\n[tool.relrun]\nbranch = \"trunk\"\n")
    work:git("commit -q -am 'release from trunk'")
    work:git("push -q -u origin trunk")
    local code, out, err = release(work, { "prepare" })
    eq(code, 0, err)
    contains(out, "on branch trunk")
    work:git("checkout -q main")
    work:git("checkout -q trunk -- pyproject.toml")
    work:git("commit -q -m same")
    fails(1, "on branch main, not the release branch trunk", release(work, { "prepare" }))
  end)
  it("not a repository", function()
    local d = track(fx.repo({ init = false }))
    fails(1, "is not in a git repository", release(d, { "prepare" }))
  end)
  it("an empty repository", function()
    local d = track(fx.repo())
    fails(1, "no commits yet", release(d, { "prepare" }))
  end)
  it("no such remote", function()
    local _, work = project()
    fails(1, "there is no remote \"upstream\"", release(work, { "prepare", "--remote", "upstream" }))
  end)
  it("remote unreachable (missing path)", function()
    local _, work = project()
    work:git("remote set-url origin file:///nonexistent/relrun-origin.git")
    fails(1, "cannot reach origin", release(work, { "prepare" }))
  end)
  it("remote unreachable (connection refused)", function()
    local _, work = project()
    work:git("remote set-url origin http://127.0.0.1:9/repo.git")
    fails(1, "cannot reach origin", release(work, { "prepare" }))
  end)
end)

describe("tag", function()
  it("--bump minor creates and pushes a lightweight tag at HEAD", function()
    local origin, work = project()
    local code, out, err = release(work, { "tag", "--bump", "minor" })
    eq(code, 0, err)
    local head = work:head()
    eq(remote_tags(origin)["refs/tags/v1.1.0"], head)
    eq(work:git("cat-file -t v1.1.0"), "commit\n")
    contains(out, "created v1.1.0")
    contains(out, "pushed v1.1.0 to origin")
    contains(out, "last release tags: v1.0.0 v1.1.0")
  end)
  -- werkzeug annotates its release tags ("release version 3.1.8")
  it("a project that annotates its release tags gets an annotated tag with the same kind of message", function()
    local origin, work = project()
    work:git("tag -f -a v1.0.0 -m 'release version v1.0.0' 'v1.0.0^{}'")
    work:git("push -q -f origin v1.0.0")
    local code, out, err = release(work, { "tag", "--version", "1.1.0", "--yes" })
    eq(code, 0, out .. err)
    eq(origin:git("cat-file -t v1.1.0"), "tag\n")
    eq(origin:git("tag -l --format='%(contents:subject)' v1.1.0"), "release version v1.1.0\n")
  end)

  it("git ignores .relrun/ where the project's .gitignore does not", function()
    local _, work = project()
    work:write(".gitignore", "")
    work:git("commit -q -am 'no .gitignore entry'")
    work:git("push -q origin main")
    local code, out, err = release(work, { "tag", "--version", "1.1.0", "--yes" })
    eq(code, 0, out .. err)
    ok(require("relrun.fs").exists(work.dir .. "/.relrun/dist/1.1.0"), "the build's files are kept")
    eq(work:git("status --porcelain"), "", "nothing untracked")
  end)
  it("--version with --message makes an annotated tag", function()
    local origin, work = project()
    local code, _, err = release(work, { "tag", "--version", "v1.0.1", "--message", "Release 1.0.1" })
    eq(code, 0, err)
    eq(work:git("cat-file -t v1.0.1"), "tag\n")
    eq(origin:git("rev-parse v1.0.1^{commit}"), work:git("rev-parse HEAD"))
  end)
  it("lists the last five release tags by version", function()
    local _, work = project()
    for _, v in ipairs({ "v1.2.0", "v1.10.0", "v1.9.0", "v1.3.0", "v1.0.1" }) do work:git("tag " .. v .. " HEAD~1") end
    work:git("push -q origin --tags")
    local code, out = release(work, { "tag", "--bump", "patch" })
    eq(code, 0)
    contains(out, "last release tags: v1.2.0 v1.3.0 v1.9.0 v1.10.0 v1.10.1")
    contains(out, "created v1.10.1")
  end)
  it("--dry-run builds the release, creates no tag, pushes nothing and says what it would do", function()
    local origin, work = project()
    local before, before_origin = snapshot(work), snapshot(origin)
    local code, out, err = release(work, { "tag", "--bump", "major", "--dry-run" })
    eq(code, 0, err)
    contains(out, "version  the version: newer than the last release, a new tag  [v2.0.0, newer than v1.0.0")
    contains(out, "build    build the sdist from a clean checkout, then the wheel from the sdist, and inspect them"
      .. "  [done here")
    contains(out, "create   create the tag at HEAD  [will run]")
    contains(out, "push     push the tag to origin  [will run]")
    eq(snapshot(work), before)
    eq(snapshot(origin), before_origin)
  end)
  it("--dry-run with no phase shows the whole plan", function()
    local origin, work = project()
    local before = snapshot(origin)
    local code, out, err = release(work, { "--dry-run", "--bump", "patch" })
    eq(code, 0, err)
    contains(out, "prepare — dry run, nothing is changed")
    contains(out, "tag — dry run, nothing is changed")
    contains(out, "create   create the tag at HEAD  [will run]")
    contains(out, "publish demo-pkg 1.0.1 to the local repository")
    contains(out, "build         build the sdist from a clean checkout, then the wheel from the sdist, and inspect"
      .. " them  [already done]")
    contains(out, "publish       upload the files to the local repository")
    eq(snapshot(origin), before)
  end)
  it("a project that does not build gets no tag: the build is proven first", function()
    local origin, work = project()
    work:write("pyproject.toml", PYPROJECT .. "this is not toml\n")
    work:git("commit -q -am broken")
    work:git("push -q origin main")
    local code, out, err = release(work, { "tag", "--bump", "patch" })
    fails(2, "pyproject.toml", code, out, err)
    work:write("pyproject.toml", (PYPROJECT:gsub('"hatch%-vcs"', '"hatch-vcs>=999"')))
    work:git("commit -q -am 'a backend too new'")
    work:git("push -q origin main")
    code, out, err = release(work, { "tag", "--bump", "patch" })
    fails(1, "it lacks hatch-vcs>=999 (0.", code, out, err)
    work:write("pyproject.toml", PYPROJECT .. "\n[tool.hatch.build.targets.wheel]\npackages = 42\n")
    work:git("commit -q -am 'a configuration the backend refuses'")
    work:git("push -q origin main")
    code, out, err = release(work, { "tag", "--bump", "patch" })
    fails(1, "build failed (exit 1)", code, out, err)
    ok(not err:find("rerun", 1, true), "a build failure needs a new commit, not a rerun: " .. err)
    contains(out, "This run changed nothing.")
    eq(work:git("tag -l v1.0.1"), "")
    eq(remote_tags(origin)["refs/tags/v1.0.1"], nil)
  end)
  it("the tag's build is the one a publish on the same machine uploads", function()
    local _, work = project()
    local code, _, err = release(work, { "tag", "--bump", "minor" })
    eq(code, 0, err)
    local out
    code, out, err = release(work, { "publish" })
    eq(code, 0, err)
    contains(out, "✓ build: already done (journal verified)")
    contains(out, "Released demo-pkg 1.1.0 (v1.1.0) to the local repository")
  end)
  it("a whole release asks the places publish writes to before it creates the tag", function()
    local origin, work = project()
    work:write("blocker", "a file where the local repository's folder would be\n")
    local before = snapshot(origin)
    local code, out, err = release(work, { "--version", "1.1.0", "--yes" },
      { env = { RELRUN_REPOSITORY_DIR = work.dir .. "/blocker/repository" } })
    fails(1, "targets: " .. work.dir .. "/blocker is not a folder", code, out, err)
    eq(snapshot(origin), before, "no tag pushed")
    eq(work:git("tag -l v1.1.0"), "", "no tag created")
    ok(not out:find("This run did", 1, true), "nothing to report: nothing changed")
  end)
  it("a whole release that stops in publish reports the tag it created and pushed", function()
    local origin, work = project()
    -- builds, but the installed package does not import: verify, after the upload, fails
    work:write("demo_pkg/__init__.py", "from . import gone  # noqa\n")
    work:git("commit -q -am 'a module that is not there'")
    work:git("push -q origin main")
    local code, out, err = release(work, { "--version", "1.1.0", "--yes" })
    fails(1, "verify", code, out, err)
    eq(remote_tags(origin)["refs/tags/v1.1.0"], work:head(), "tagged and pushed")
    contains(out, "This run did: created the tag, pushed the tag, uploaded files.")
  end)
  -- aiohttp vendors llhttp as a git submodule: the clean checkout the
  -- release is built from holds it too, at the commit the tag records
  it("a project with a submodule: the release holds it; a clone without it is told so", function()
    local origin, work = project()
    local sub = track(fx.repo())
    sub:write("data.txt", "vendored data\n")
    sub:git("add data.txt")
    sub:git("commit -q -m vendored")
    work:git("-c protocol.file.allow=always submodule add -q file://" .. sub.dir .. " demo_pkg/vendor")
    work:git("commit -q -m 'vendor a submodule'")
    work:git("push -q origin main")
    local code, out, err = release(work, { "tag", "--version", "1.1.0", "--yes" })
    eq(code, 0, out .. err)
    local sdist = work.dir .. "/.relrun/dist/1.1.0/demo_pkg-1.1.0.tar.gz"
    local names = {}
    for _, e in ipairs(assert(require("relrun.archive").list(sdist))) do names[e.name] = true end
    ok(names["demo_pkg-1.1.0/demo_pkg/vendor/data.txt"], "the submodule's file is in the sdist")
    -- a clone that never ran `git submodule update --init`
    local other = track(fx.repo({ init = false }))
    other:git("clone -q file://" .. origin.dir .. " .")
    other:commit(1, "more")
    other:git("push -q origin main")
    code, out, err = release(other, { "tag", "--version", "1.2.0", "--yes" })
    eq(code, 0, out .. err)
    contains(out .. err, "submodule demo_pkg/vendor (at ")
    contains(out .. err, "is not in this clone: the release is built without it")
  end)
  it("tag already on the remote", function()
    local origin, work = project()
    local before = remote_tags(origin)
    fails(1, "tag v1.0.0 already exists on origin", release(work, { "tag", "--version", "1.0.0" }))
    eq(remote_tags(origin), before)
  end)
  it("tag on the remote but not fetched here (dry run reads the remote)", function()
    local origin, work = project()
    local other = track(fx.repo({ init = false }))
    other:git("clone -q file://" .. origin.dir .. " .")
    other:git("tag v1.5.0 origin/main")
    other:git("push -q origin v1.5.0")
    fails(1, "tag v1.5.0 already exists on origin", release(work, { "tag", "--version", "1.5.0", "--dry-run" }))
  end)
  it("tag already in this clone only", function()
    local origin, work = project()
    work:git("tag v1.1.0")
    fails(1, "tag v1.1.0 already exists locally", release(work, { "tag", "--bump", "minor" }))
    eq(remote_tags(origin)["refs/tags/v1.1.0"], nil)
  end)
  it("the first release (no tag anywhere yet)", function()
    local origin = track(fx.repo({ bare = true }))
    local work = track(fx.repo({ init = false }))
    work:git("clone -q file://" .. origin.dir .. " .")
    work:git("checkout -q -b main")
    python_project(work)
    work:commit(3, "work")
    work:git("push -q -u origin main")
    local code, out = release(work, { "prepare" })
    eq(code, 0)
    contains(out, "no release tag yet: all 3 commit(s)")
    contains(out, "last release: none")
    code, out = release(work, { "tag", "--bump", "minor" })
    eq(code, 0, out)
    eq(remote_tags(origin)["refs/tags/v0.1.0"], work:head())
  end)
  it("not newer than the last release", function()
    local _, work = project()
    fails(1, "not newer than the last release v1.0.0", release(work, { "tag", "--version", "0.9.0" }))
  end)
  -- httpx tagged 1.0.0.beta0 in 2021, then released 0.19 … 0.28.1 after it
  it("a pre-release that lower final releases came after is not the last release", function()
    local origin, work = project()
    local function commit_at(when, message)
      work:write("file.txt", message .. "\n")
      work:git("add file.txt")
      work:git("commit -q -m " .. fx.q(message), { GIT_COMMITTER_DATE = when, GIT_AUTHOR_DATE = when })
    end
    commit_at("2030-01-01T00:00:00Z", "the 2.0 beta")
    work:git("tag v2.0.0b1")
    commit_at("2031-01-01T00:00:00Z", "back to 1.x")
    work:git("tag v1.1.0")
    commit_at("2032-01-01T00:00:00Z", "more")
    work:git("push -q origin main --tags")
    local code, out, err = release(work, { "prepare" })
    eq(code, 0, err)
    contains(out, "changes since v1.1.0")
    contains(out, "--bump minor -> v1.2.0, --bump patch -> v1.1.1")
    code, out, err = release(work, { "tag", "--version", "1.1.1", "--yes" })
    eq(code, 0, err)
    contains(out, "v1.1.1, newer than v1.1.0")
    eq(remote_tags(origin)["refs/tags/v1.1.1"], work:head())
  end)

  -- a fix release on a maintenance branch while main has moved on
  it("on a maintenance branch, the last release is the branch's, not main's higher one", function()
    local origin, work = project()
    work:git("branch -q 1.0.x v1.0.0")
    work:git("tag v1.1.0")
    work:git("push -q origin main 1.0.x v1.1.0")
    work:git("checkout -q 1.0.x")
    work:commit(1, "the fix")
    work:git("push -q origin 1.0.x")
    work:git("branch -q --set-upstream-to=origin/1.0.x 1.0.x")
    -- a newer release on main this clone has not fetched, and a tag of a tree: neither is 1.0.x's
    local other = track(fx.repo({ init = false }))
    other:git("clone -q file://" .. origin.dir .. " .")
    other:commit(1, "main moves on")
    other:git("tag v1.2.0")
    other:git("push -q origin main v1.2.0")
    work:git("tag v9.0.0 'HEAD^{tree}'")
    local _, out = release(work, { "prepare", "--dry-run", "--branch", "1.0.x" })
    contains(out, "last release: v1.0.0")
    local code, last = fx.sh(fx.q(fx.RELRUN) .. " -e " ..
      fx.q('print(require("relrun.project").open{}:last_release().name)'), { cwd = work.dir })
    eq(code, 0)
    eq(last, "v1.1.0\n", "this clone's tags, from the default branch: the tree's tag is no release")
    work:git("tag -d v9.0.0")   -- (libgit2 then cannot fetch: "object is not a committish")
    local err
    code, out, err = release(work, { "prepare", "--branch", "1.0.x" })
    eq(code, 0, err)
    contains(out, "last release: v1.0.0")
    contains(out, "--bump minor -> v1.1.0 (exists), --bump patch -> v1.0.1")
    code, out, err = release(work, { "tag", "--branch", "1.0.x", "--version", "1.0.1", "--yes" })
    eq(code, 0, err)
    contains(out, "v1.0.1, newer than v1.0.0")
    eq(remote_tags(origin)["refs/tags/v1.0.1"], work:head())
    work:commit(1, "another fix")
    work:git("push -q origin 1.0.x")
    fails(1, "v0.9.0 is not newer than the last release v1.0.1", release(work, { "tag", "--branch", "1.0.x",
      "--version", "0.9.0" }))
  end)

  for _, case in ipairs({
    { { "tag", "--version", "banana" }, "invalid version \"banana\"" },
    { { "tag", "--version", "1.2.3+local.1" }, "has a local segment (+local.1)" },
    { { "tag", "--version", "1.2.3.dev1" }, "is a development version" },
    { { "tag", "--bump", "huge" }, "--bump must be one of major, minor, patch, pre, post" },
    { { "tag", "--bump", "minor", "--version", "1.2.3" }, "not both" },
    { { "tag", "--pre", "rc" }, "--pre goes with --bump" },
    { { "tag", "--bump", "pre" }, "1.0.0 is not a pre-release" },
    { { "tag" }, "tag needs --version VERSION or --bump PART" },
    { { "deploy" }, "unknown command" },
    { {}, "a whole release (prepare, tag, publish) needs --version VERSION or --bump PART" },
    { { "prepare", "--frobnicate" }, "unknown option --frobnicate" },
  }) do
    it("usage error: " .. table.concat(case[1], " "), function()
      local _, work = project()
      fails(2, case[2], release(work, case[1]))
    end)
  end
  it("a push that fails: the local tag is removed and the error says so", function()
    local origin, work = project()
    -- fetching works, pushing goes to a remote that is not there
    work:git("remote set-url --push origin file:///nonexistent/relrun-push.git")
    fails(1, "the local tag was removed", release(work, { "tag", "--bump", "patch" }))
    eq(work:git("tag -l v1.0.1"), "")
    eq(remote_tags(origin)["refs/tags/v1.0.1"], nil)
  end)
  it("asks on a terminal unless --yes (no terminal here: no question)", function()
    local origin, work = project()
    local code, out = release(work, { "tag", "--bump", "patch" }, { stdin = "n\n" })
    eq(code, 0)
    ok(not out:find("%[y/N%]"), "asked without a terminal")
    ok(remote_tags(origin)["refs/tags/v1.0.1"])
  end)
  it("on a terminal it asks; 'n' creates nothing, 'y' goes ahead", function()
    if not os.execute("command -v script >/dev/null") then skip("util-linux script(1) is not installed") end
    local origin, work = project()
    local cmd = "script -qec " .. fx.q(fx.q(fx.RELRUN) .. " " .. fx.q(fx.SOURCE .. "/" .. SCRIPT)
      .. " tag --bump patch") .. " /dev/null"
    local code, out = fx.sh(cmd, { cwd = work.dir, stdin = "n\n", env = { RELRUN_BUILD_ISOLATION = "0" } })
    eq(code, 1)
    contains(out, "Create tag v1.0.1 at " .. work:head():sub(1, 7) .. " and push it to origin? [y/N]")
    contains(out, "cancelled: nothing was created")
    eq(work:git("tag -l v1.0.1"), "")
    code, out = fx.sh(cmd, { cwd = work.dir, stdin = "y\n", env = { RELRUN_BUILD_ISOLATION = "0" } })
    eq(code, 0, out)
    eq(remote_tags(origin)["refs/tags/v1.0.1"], work:head())
  end)
  it("--help comes from the option table", function()
    local code, out = fx.relrun({ SCRIPT, "--help" })
    eq(code, 0)
    for _, word in ipairs({ "prepare", "tag", "--dry-run", "--version VERSION", "--bump PART", "--yes",
      "--branch NAME" }) do
      contains(out, word)
    end
  end)
end)

describe("over smart HTTP (git http-backend behind tests/fakes/git_http.py, token auth)", function()
  local peer = require "peer"
  local TOKEN = "tok-" .. tostring(os.time()) .. "-release-s3cret"
  local server, origin, work

  before_each(function()
    local root = track(fx.repo({ init = false }))
    local o, w = project()
    -- serve the project's origin as <root>/r.git
    os.execute("mv " .. fx.q(o.dir) .. " " .. fx.q(root.dir .. "/r.git"))
    origin = setmetatable({ dir = root.dir .. "/r.git" }, getmetatable(o))
    work = w
    root:write("token", TOKEN)
    server = peer.start {
      argv = { "python3", fx.SOURCE .. "/tests/fakes/git_http.py", "--root", root.dir, "--port-file", peer.PORT_FILE,
               "--token-file", root.dir .. "/token" },
    }
    work:git("remote set-url origin " .. fx.q(server.url .. "/r.git"))
  end)
  after_each(function()
    if server then server:stop() end
    server = nil
  end)

  it("prepare and tag with GITHUB_TOKEN", function()
    local env = { GITHUB_TOKEN = TOKEN, GITHUB_SERVER_URL = server.url }
    local code, out, err = release(work, { "prepare" }, { env = env })
    eq(code, 0, err)
    contains(out, "fetched origin (" .. server.url .. "/r.git)")
    code, out, err = release(work, { "tag", "--bump", "minor" }, { env = env })
    eq(code, 0, err)
    eq(remote_tags(origin)["refs/tags/v1.1.0"], work:head())
    ok(not (out .. err):find(TOKEN, 1, true), "the token is never printed")
  end)
  it("a wrong token: auth refused, one line, the token not shown", function()
    local wrong = "wrong-" .. TOKEN
    local code, out, err = release(work, { "tag", "--bump", "patch" }, {
      env = { GITHUB_TOKEN = wrong, GITHUB_SERVER_URL = server.url } })
    fails(1, "authentication refused", code, out, err)
    ok(not (out .. err):find(wrong, 1, true), "the token is never printed")
    eq(remote_tags(origin)["refs/tags/v1.0.1"], nil)
    eq(work:git("tag -l v1.0.1"), "")
  end)
  it("no token at all", function()
    local code, out, err = release(work, { "prepare" }, { env = { GITHUB_TOKEN = false, GIT_TOKEN = false } })
    fails(1, "cannot reach origin", code, out, err)
  end)
end)
