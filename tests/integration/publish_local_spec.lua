-- label: slow
-- release.lua publish on the embedded local target (a PEP 503 folder), the
-- way a user without CodeArtifact runs it: a clone of examples/stock-pipeline
-- with a file:// remote. An identical file is skipped, a different one is
-- refused and never overwritten, a failing build shows its output's tail and
-- the doctor hint, a failure at each step followed by a rerun converges to a
-- clean run's state; rollback.lua and verify.lua on that target. Nothing but
-- the tagged commit reaches the files; a tag whose commit does not build
-- shows the build's tail and says a new commit is needed.
local G = require "git_fixtures"
local fs = require "relrun.fs"
local proc = require "relrun.proc"
local hash = require "relrun.hash"
local localrepo = require "relrun.pypi.localrepo"

local source_dir = os.getenv("RELRUN_SOURCE_DIR") or "."
local tmp = require("e2e_world").tempdir()
local _ <close> = setmetatable({}, { __close = function() G.rmrf(tmp) end })

local clone, repo = tmp .. "/stock-pipeline", tmp .. "/repository"
local STEPS = { "gate", "preflight", "build", "publish", "instructions", "verify" }

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function git(args) return G.git(clone, args) end

do -- the clone and its remote
  G.sh("git init -q --bare -b main " .. G.quote(tmp .. "/origin.git"))
  G.sh("cp -r " .. G.quote(source_dir .. "/examples/stock-pipeline") .. " " .. G.quote(clone) .. " && rm -rf "
    .. G.quote(clone .. "/build") .. " " .. G.quote(clone .. "/dist"))
  write(clone .. "/.gitignore", ".relrun/\ndist/\nbuild/\n*.egg-info/\n__pycache__/\n")
  git("init -q -b main")
  git("add -A")
  git("commit -q -m 'stock-pipeline'")
  git("tag v0.1.0")
  git("remote add origin " .. G.quote("file://" .. tmp .. "/origin.git"))
  git("push -q -u origin main --tags")
end

local transcript = ""
local function relrun(argv, env)
  local full = { os.getenv("RELRUN") or (source_dir .. "/build/relrun") }
  for _, a in ipairs(argv) do full[#full + 1] = a:match("^scripts/") and (source_dir .. "/" .. a) or a end
  local e = { RELRUN_REPOSITORY_DIR = repo, CODEARTIFACT_DOMAIN = false, GITHUB_ACTIONS = false,
              GITHUB_OUTPUT = false, GITHUB_STEP_SUMMARY = false, GITHUB_TOKEN = false, RELRUN_LOG = false,
              PIP_CONFIG_FILE = "/dev/null", PIP_CONSTRAINT = false }
  for k, v in pairs(env or {}) do e[k] = v end
  local r = assert(proc.run{ argv = full, env = e, cwd = clone, stdin = "" })
  transcript = transcript .. r.stdout .. r.stderr
  return r
end

local minor = 1
local function next_release()
  minor = minor + 1
  local v = "0." .. minor .. ".0"
  write(clone .. "/CHANGES.md", "- release " .. v .. "\n")
  git("add -A")
  git("commit -q -m 'changes for " .. v .. "'")
  git("push -q origin main")
  local r = relrun{ "scripts/release.lua", "tag", "--version", v, "--yes" }
  eq(r.code, 0, "tag " .. v .. ": " .. r.stderr)
  return v
end

local function publish(env) return relrun({ "scripts/release.lua", "publish" }, env) end

local function names(v)
  return { "stock-pipeline-" .. v .. ".tar.gz", "stock_pipeline-" .. v .. "-py3-none-any.whl" }
end

-- What the repository holds for v: names, with each link's sha256 equal to
-- the file's on disk.
local function state(v)
  local out = {}
  for _, f in ipairs(localrepo.files(repo, "stock-pipeline")) do
    if f.filename:find("-" .. v, 1, true) then
      local path = fs.join(repo, "packages", "stock-pipeline", f.filename)
      eq(hash.file(path, { "sha256" }).sha256, f.sha256, "the link's sha256 is the file's: " .. f.filename)
      out[#out + 1] = f.filename
    end
  end
  table.sort(out)
  eq(fs.glob(fs.join(repo, "*", "*", "*.tmp-*")), {}, "no temporary files in the repository")
  return out
end

local function succeeds(r, what)
  if r.code ~= 0 then print(r.stdout, r.stderr) end
  eq(r.code, 0, what)
  return r
end

-- A failure at `step`: the report (done / FAILED / not done) on stdout,
-- the error once, as the last line of stderr, with what to do next.
local function stopped_at(r, step, why, rerun)
  if r.code ~= 1 then print(r.stdout, r.stderr) end
  eq(r.code, 1, step .. ": exit code")
  local last = r.stderr:match("([^\n]*)\n$") or ""
  contains(last, "relrun: " .. step .. ": ")
  contains(last, why)
  contains(r.stdout, "stopped at step '" .. step .. "':")
  local seen, later = false, {}
  for _, s in ipairs(STEPS) do
    if seen then later[#later + 1] = s
    else
      local mark = s == step and "FAILED" or "done"
      ok(r.stdout:find("\n  " .. mark .. "%s+" .. s .. "\n"), step .. ": report line " .. mark .. " " .. s)
    end
    if s == step then seen = true end
  end
  if #later > 0 then contains(r.stdout, "  not done  " .. table.concat(later, ", ")) end
  ok(not r.stdout:find(last:gsub("^relrun: ", ""), 1, true), "the error is printed once, on stderr")
  if rerun ~= false then
    contains(last, "then rerun `" .. os.getenv("RELRUN") .. " " .. source_dir .. "/scripts/release.lua publish`")
  else
    ok(not last:find("rerun", 1, true), "no rerun advised: " .. last)
  end
  return last
end

local function converges(v, env)
  local r = succeeds(publish(env), "the rerun")
  contains(r.stdout, "✓ verify: import bronze, ingestion, silver")
  contains(r.stdout, "Released stock-pipeline " .. v .. " (v" .. v .. ") to the local repository")
  eq(state(v), names(v), "final state")
  return r
end

describe("publish to the local repository", function()
  it("a clean run publishes, instructs and installs; a rerun does nothing", function()
    local v = next_release()
    local r = succeeds(publish(), "publish")
    contains(r.stdout, "pip install stock-pipeline==" .. v .. " --index-url " .. localrepo.index_url(repo))
    eq(state(v), names(v), "repository")
    local before = fs.read(fs.join(repo, "simple", "stock-pipeline", "index.html"))
    r = succeeds(publish(), "rerun")
    contains(r.stdout, "✓ build: already done")
    contains(r.stdout, "✓ publish: already done")
    eq(fs.read(fs.join(repo, "simple", "stock-pipeline", "index.html")), before, "pages unchanged")
  end)

  it("on a fresh machine (no journal) finds the version published: no build", function()
    local v = "0.2.0"
    os.execute("rm -rf " .. G.quote(clone .. "/.relrun"))
    local r = succeeds(publish(), "fresh machine")
    contains(r.stdout, "✓ build: already done")
    ok(not r.stderr:find("python -m build", 1, true), "no build ran")
    eq(state(v), names(v))
  end)

  it("publish: fails after the first file; the rerun skips the identical one and finishes", function()
    local v = next_release()
    -- a folder where the wheel must go: the sdist is placed, the wheel's rename fails
    local blocker = fs.join(repo, "packages", "stock-pipeline", names(v)[2])
    assert(fs.mkdir(blocker .. "/x"))
    stopped_at(publish(), "publish", names(v)[2])
    eq(state(v), { names(v)[1] }, "the sdist is published, the wheel is not")
    fs.remove(blocker, { recursive = true })
    local r = converges(v)
    contains(r.stderr, names(v)[1] .. ": already published, identical")
    contains(r.stderr, names(v)[2] .. ": published")
  end)

  it("a different file under a published name is refused, never overwritten", function()
    local v = next_release()
    -- the repository already holds an sdist of that name with other bytes
    local other = tmp .. "/other"
    G.sh("mkdir -p " .. G.quote(other .. "/stock-pipeline-" .. v) .. " && echo x > " ..
      G.quote(other .. "/stock-pipeline-" .. v .. "/PKG-INFO"))
    write(other .. "/stock-pipeline-" .. v .. "/PKG-INFO",
      "Metadata-Version: 2.1\nName: stock-pipeline\nVersion: " .. v .. "\nSummary: not ours\n")
    local sdist = other .. "/" .. names(v)[1]
    G.sh("tar -czf " .. G.quote(sdist) .. " -C " .. G.quote(other) .. " stock-pipeline-" .. v)
    assert(localrepo.publish(repo, sdist))
    local theirs = hash.file(sdist, { "sha256" }).sha256
    local r = publish()
    local last = stopped_at(r, "build", "the published " .. names(v)[1] .. " is not commit ", false)
    contains(last, "'s: it holds none of its files")
    contains(last, "a published file is never overwritten; release a new version")
    eq(hash.file(fs.join(repo, "packages", "stock-pipeline", names(v)[1]), { "sha256" }).sha256, theirs,
      "the published file is untouched")
    eq(state(v), { names(v)[1] }, "nothing else published")
  end)

  it("a version partly published by another build of the tag is completed from the published sdist", function()
    local v = next_release()
    -- another machine built the tag by hand (other time stamps: other bytes)
    -- and published its sdist only; this machine has no journal and no files
    local elsewhere = tmp .. "/elsewhere"
    G.sh("git clone -q " .. G.quote(clone) .. " " .. G.quote(elsewhere) .. " && cd " .. G.quote(elsewhere) ..
      " && git checkout -q v" .. v .. " && SETUPTOOLS_SCM_PRETEND_VERSION=" .. v ..
      " /usr/bin/python3 -m build -n -s -o dist . >/dev/null 2>&1")
    local theirs = elsewhere .. "/dist/" .. names(v)[1]
    assert(localrepo.publish(repo, theirs))
    local their_sha = hash.file(theirs, { "sha256" }).sha256
    os.execute("rm -rf " .. G.quote(clone .. "/.relrun/dist") .. " " .. G.quote(clone .. "/.relrun/journal-" .. v .. ".json"))
    local r = succeeds(publish(), "completes the partial release")
    contains(r.stdout, "✓ build: the wheel from the published " .. names(v)[1])
    contains(r.stderr, names(v)[1] .. ": already published, identical")
    contains(r.stderr, names(v)[2] .. ": published")
    eq(state(v), names(v))
    eq(hash.file(fs.join(repo, "packages", "stock-pipeline", names(v)[1]), { "sha256" }).sha256, their_sha,
      "the published sdist is kept")
    os.execute("rm -rf " .. G.quote(elsewhere))
  end)

  it("only the tagged commit is released: edits, untracked files and .relrun/ never reach the files", function()
    local v = next_release()
    write(clone .. "/README.md", fs.read(clone .. "/README.md") .. "an edit nobody committed\n")
    write(clone .. "/silver/untracked_secret.py", "TOKEN = 'not for release'\n")
    os.execute("rm -rf " .. G.quote(clone .. "/.relrun/dist") .. " " .. G.quote(clone .. "/.relrun/journal-" .. v .. ".json"))
    succeeds(publish(), "a dirty tree does not stop a publish: the tag's commit is built")
    local archive = require "relrun.archive"
    for _, name in ipairs(names(v)) do
      local path = fs.join(repo, "packages", "stock-pipeline", name)
      for _, e in ipairs(assert(archive.list(path))) do
        ok(not e.name:find("untracked_secret", 1, true), name .. " holds " .. e.name)
        ok(not e.name:find(".relrun", 1, true), name .. " holds " .. e.name)
      end
    end
    local readme = archive.read(fs.join(repo, "packages", "stock-pipeline", names(v)[1]),
      "stock-pipeline-" .. v .. "/README.md")
    ok(readme and not readme:find("an edit nobody committed", 1, true), "the committed README, not the edited one")
    git("checkout -- README.md")
    os.remove(clone .. "/silver/untracked_secret.py")
  end)

  it("build: a tag whose commit does not build: the output's tail, the doctor hint, a new commit needed", function()
    write(clone .. "/setup.py", "import sys\nprint('setup.py: cannot find the moon')\nsys.exit(3)\n")
    git("add setup.py")
    git("commit -q -m 'a setup.py that fails'")
    git("push -q origin main")
    git("tag v0.99.0")     -- tagged by hand: relrun's tag phase would have refused it
    local r = publish()
    local last = stopped_at(r, "build", "the sdist build failed (exit 1)", false)
    contains(r.stderr, "cannot find the moon")
    contains(last, "run `relrun doctor` (it names what a build needs)")
    eq(state("0.99.0"), {}, "nothing published")
    git("tag -d v0.99.0")
    git("rm -q setup.py")
    git("commit -q -m 'no setup.py'")
    git("push -q origin main")
  end)

  it("instructions: $GITHUB_OUTPUT cannot be written; the rerun converges", function()
    local v = next_release()
    stopped_at(publish{ GITHUB_OUTPUT = tmp .. "/no-such-dir/output" }, "instructions", "GITHUB_OUTPUT")
    converges(v, { GITHUB_OUTPUT = tmp .. "/github-output" })
    contains(fs.read(tmp .. "/github-output"), "version=" .. v .. "\n")
  end)

  it("verify: pip cannot satisfy the install; the rerun converges", function()
    local v = next_release()
    write(tmp .. "/constraints.txt", "stock-pipeline==99.0.0\n")
    stopped_at(publish{ PIP_CONSTRAINT = tmp .. "/constraints.txt" }, "verify", "pip")
    converges(v)
  end)
end)

describe("verify.lua and rollback.lua on the local target", function()
  it("verify.lua: the files' hashes as built, installs and imports", function()
    local r = succeeds(relrun{ "scripts/verify.lua", "0.2.0" }, "verify.lua")
    contains(r.stdout, "(as built)")
    contains(r.stdout, "import bronze, ingestion, silver; version 0.2.0")
  end)

  it("rollback removes the version and the tag (here and on the remote); a second run has nothing to do", function()
    local r = succeeds(relrun{ "scripts/rollback.lua", "0.2.0", "--yes" }, "rollback")
    contains(r.stdout, "Rolled back.")
    eq(state("0.2.0"), {}, "files gone")
    eq(git("tag -l v0.2.0"), "", "local tag gone")
    ok(not git("ls-remote --tags origin"):find("v0.2.0", 1, true), "remote tag gone")
    ok(#state("0.3.0") == 2, "other versions stay")
    r = succeeds(relrun{ "scripts/rollback.lua", "0.2.0", "--yes" }, "rollback again")
    contains(r.stdout, "Everything is already rolled back.")
    eq(select(2, r.stdout:gsub("already rolled back:", "")), 4, "four items already rolled back (with the journal)")
  end)

  it("verify.lua after the rollback: one line saying it is not there", function()
    local r = relrun{ "scripts/verify.lua", "0.2.0" }
    eq(r.code, 1, "exit code")
    contains(r.stderr, "stock-pipeline 0.2.0 has no files in the local repository")
    ok(not r.stderr:find("traceback", 1, true), "no traceback")
  end)

  it("the last version rolled back and released again from a new commit publishes the new commit, verified", function()
    local v = "0." .. minor .. ".0"   -- the last release
    succeeds(relrun{ "scripts/rollback.lua", v, "--yes" }, "rollback " .. v)
    write(clone .. "/silver/marker.py", "RELEASED_AGAIN = True\n")
    git("add silver/marker.py")
    git("commit -q -m 'the fix'")
    git("push -q origin main")
    local r = relrun{ "scripts/release.lua", "tag", "--version", v, "--yes" }
    eq(r.code, 0, r.stdout .. r.stderr)
    contains(r.stdout, "→ build: ")   -- tag builds the new commit: the old journal is not this commit's
    r = succeeds(publish(), "publish again")
    contains(r.stdout, "→ verify: ")
    local wheel = fs.join(repo, "packages", "stock-pipeline", names(v)[2])
    contains(assert(require("relrun.archive").read(wheel, "silver/marker.py")), "RELEASED_AGAIN")
    eq(state(v), names(v))
  end)

  it("rollback without --yes off a terminal asks for it", function()
    local r = relrun{ "scripts/rollback.lua", "0.3.0" }
    eq(r.code, 2, "usage exit code")
    contains(r.stderr, "pass --yes")
    eq(#state("0.3.0"), 2, "nothing changed")
  end)
end)

-- sqlalchemy and boto3 import a dependency as they load. With no index for
-- dependencies (the local repository holds this project only) pip runs with
-- --no-deps: such an import is not checked, and said so, rather than failed;
-- a module of the project's own that is missing still fails.
describe("a project whose package imports a dependency as it loads", function()
  it("is verified without the dependency: that import is not checked, and said so", function()
    local pyproject = fs.read(clone .. "/pyproject.toml")
    write(clone .. "/pyproject.toml",
      (pyproject:gsub("dependencies = %[%]", 'dependencies = ["relrun-absent-dependency>=1"]')))
    local init = fs.read(clone .. "/silver/__init__.py")
    write(clone .. "/silver/__init__.py", "import relrun_absent_dependency  # noqa\n" .. init)
    local v = next_release()
    local r = succeeds(publish(), "publish")
    contains(r.stdout, "✓ verify: import bronze, ingestion: stock-pipeline " .. v .. " installed; "
      .. "not imported: silver (needs relrun_absent_dependency); dependencies not installed: "
      .. "the local repository holds only this project")
    r = succeeds(relrun{ "scripts/verify.lua", v }, "verify.lua")
    contains(r.stdout, "not imported: silver (needs relrun_absent_dependency)")
  end)

  -- black's blackd needs the [d] extra (aiohttp) and says so with an
  -- ImportError of its own: pip installs no extras, so it is not checked
  it("a top-level module that needs an extra is not imported, and said so", function()
    local pyproject = fs.read(clone .. "/pyproject.toml")
    pyproject = pyproject:gsub('dependencies = %["relrun%-absent%-dependency>=1"%]', "dependencies = []")
      :gsub('test = %["pytest"%]', 'test = ["pytest"]\nd = ["relrun-absent-extra>=1"]')
      :gsub('packages = %["bronze", "silver", "ingestion"%]', 'packages = ["bronze", "silver", "ingestion", "silverd"]')
    write(clone .. "/pyproject.toml", pyproject)
    local init = fs.read(clone .. "/silver/__init__.py")
    write(clone .. "/silver/__init__.py", (init:gsub("import relrun_absent_dependency  # noqa\n", "")))
    fs.mkdir(clone .. "/silverd")
    write(clone .. "/silverd/__init__.py", "try:\n    import relrun_absent_extra  # noqa\nexcept ImportError as ie:\n" ..
      "    raise ImportError(f'{ie}: install stock-pipeline[d]') from None\n")
    local v = next_release()
    local r = succeeds(publish(), "publish")
    contains(r.stdout, "✓ verify: import bronze, ingestion, silver: stock-pipeline " .. v .. " installed; "
      .. "not imported: silverd (needs relrun_absent_extra from extra [d])")
    ok(not r.stdout:find("dependencies not installed", 1, true), "the dependencies were installed: there are none")
  end)

  it("a module of the project's own that is missing still fails", function()
    write(clone .. "/bronze/__init__.py", "from . import gone  # noqa\n" .. fs.read(clone .. "/bronze/__init__.py"))
    next_release()
    local r = publish()
    eq(r.code, 1, "exit code")
    contains(r.stderr, "relrun: verify: import ")
    contains(r.stderr, "gone")
  end)
end)
