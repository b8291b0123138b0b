-- relrun.git's status (the dirty check, bindings/git/dirty.c) against the
-- real git: in every scenario built here, the tracked changes relrun finds
-- are the ones `git status --porcelain --untracked-files=no` prints (what
-- setuptools_scm asks), path by path, with the same kind and side.
local git = require "relrun.git"
local fx = require "git_fixtures"

local sh, run, q = fx.sh, fx.git, fx.quote

local dirs = {}
local function newrepo()
  local d = fx.repo()
  dirs[#dirs + 1] = d
  return d
end
after_each(function()
  for _, d in ipairs(dirs) do fx.rmrf(d) end
  dirs = {}
end)

local function write(d, path, text)
  local dir = (d .. "/" .. path):match("^(.*)/")
  assert(os.execute("mkdir -p " .. q(dir)))
  local f = assert(io.open(d .. "/" .. path, "wb"))
  f:write(text)
  f:close()
end

local function shell(d, cmd)
  return sh("cd " .. q(d) .. " && " .. fx.ENV .. " sh -c " .. q(cmd))
end

-- git's porcelain v1 codes as relrun's words: unmerged pairs are
-- "conflicted"; otherwise the first of A, D, T, M on either side, staged
-- when the index side has a letter.
local UNMERGED = { DD = true, AU = true, UD = true, UA = true, DU = true, AA = true, UU = true }
local ORDER = { { "A", "added" }, { "D", "deleted" }, { "T", "typechange" }, { "M", "modified" } }

local function from_git(d)
  local out = run(d, "status --porcelain --untracked-files=no --no-renames")
  local files = {}
  for line in out:gmatch("[^\n]+") do
    if line:find("^error: ") then goto next end   -- git's complaints on stderr (an unknown encoding)
    local xy, path = line:sub(1, 2), line:sub(4)
    local entry = { path = path, status = "unknown", staged = false }
    if UNMERGED[xy] then
      entry.status = "conflicted"
    else
      for _, o in ipairs(ORDER) do
        if xy:find(o[1], 1, true) then entry.status = o[2]; break end
      end
      entry.staged = xy:sub(1, 1) ~= " "
    end
    files[#files + 1] = entry
    ::next::
  end
  return { dirty = #files > 0, files = files }
end

-- relrun first: `git status` refreshes the index's stat data and writes it,
-- which would spare relrun the cases it must decide itself.
local function agrees(d, label, want_dirty)
  local got = assert(assert(git.open(d)):status())
  local want = from_git(d)
  eq(got, want, label)
  if want_dirty ~= nil then eq(want.dirty, want_dirty, label .. ": the scenario itself (git's answer)") end
end

-- a.txt b.txt run.sh link -> a.txt, dir/c.txt dir/sub/d.txt doc/e.txt, committed.
local function base()
  local d = newrepo()
  write(d, "a.txt", "alpha\n")
  write(d, "b.txt", "bravo\n")
  write(d, "run.sh", "#!/bin/sh\n")
  write(d, "dir/c.txt", "charlie\n")
  write(d, "dir/sub/d.txt", "delta\n")
  write(d, "doc/e.txt", "echo\n")
  shell(d, "chmod +x run.sh && ln -s a.txt link")
  run(d, "add -A")
  run(d, "commit -q -m base")
  return d
end

-- name, what to do on a fresh base repository, git's answer (dirty or not)
local SCENARIOS = {
  { "clean", function() end, false },
  { "a file modified", function(d) write(d, "a.txt", "ALPHA\n") end, true },
  { "a file modified and staged", function(d) write(d, "a.txt", "ALPHA\n"); run(d, "add a.txt") end, true },
  { "staged, then modified again", function(d)
    write(d, "a.txt", "one\n"); run(d, "add a.txt"); write(d, "a.txt", "two\n")
  end, true },
  { "staged, then changed back in the worktree", function(d)
    write(d, "a.txt", "one\n"); run(d, "add a.txt"); write(d, "a.txt", "alpha\n")
  end, true },
  { "a file deleted", function(d) os.remove(d .. "/b.txt") end, true },
  { "a file deleted and staged", function(d) run(d, "rm -q b.txt") end, true },
  { "a folder deleted", function(d) shell(d, "rm -rf dir") end, true },
  { "a folder deleted and staged", function(d) run(d, "rm -r -q dir") end, true },
  { "a file added", function(d) write(d, "new.txt", "n\n"); run(d, "add new.txt") end, true },
  { "a file added with --intent-to-add", function(d) write(d, "new.txt", "n\n"); run(d, "add -N new.txt") end, true },
  { "a file untracked (git rm --cached)", function(d) run(d, "rm -q --cached a.txt") end, true },
  { "the executable bit set", function(d) shell(d, "chmod +x a.txt") end, true },
  { "the executable bit set, core.fileMode false", function(d)
    run(d, "config core.fileMode false"); shell(d, "chmod +x a.txt")
  end, false },
  { "the executable bit cleared and staged", function(d) shell(d, "chmod -x run.sh && git add run.sh") end, true },
  { "a file replaced by a symlink", function(d) shell(d, "rm a.txt && ln -s b.txt a.txt") end, true },
  { "a symlink pointed elsewhere", function(d) shell(d, "rm link && ln -s b.txt link") end, true },
  { "a file replaced by a folder", function(d) shell(d, "rm b.txt && mkdir b.txt && echo x > b.txt/x") end, true },
  { "a file replaced by a folder, staged", function(d)
    shell(d, "rm b.txt && mkdir b.txt && echo x > b.txt/x && git add -A")
  end, true },
  { "a folder replaced by a symlink to a copy of it", function(d)
    shell(d, "cp -r dir dir2 && rm -rf dir && ln -s dir2 dir")
  end, true },
  { "touched, content unchanged", function(d) shell(d, "touch -d '2001-02-03 04:05:06' a.txt dir/c.txt") end, false },
  { "rewritten with the same content", function(d) write(d, "dir/sub/d.txt", "delta\n") end, false },
  { "modified, marked assume-unchanged", function(d)
    run(d, "update-index --assume-unchanged a.txt"); write(d, "a.txt", "hidden\n")
  end, false },
  { "deleted, marked skip-worktree", function(d)
    run(d, "update-index --skip-worktree b.txt"); os.remove(d .. "/b.txt")
  end, false },
  { "untracked files only", function(d)
    write(d, "new.txt", "n\n"); write(d, "newdir/x.txt", "x\n")
  end, false },
  { "index version 4, clean", function(d) run(d, "update-index --index-version 4") end, false },
  { "index version 4, a file modified in a subfolder", function(d)
    run(d, "update-index --index-version 4"); write(d, "dir/sub/d.txt", "DELTA!\n")
  end, true },
  { "a merge conflict", function(d)
    run(d, "checkout -q -b other"); write(d, "a.txt", "other\n"); run(d, "commit -q -am other")
    run(d, "checkout -q main"); write(d, "a.txt", "main\n"); run(d, "commit -q -am main")
    local _, good = fx.git_may_fail(d, "merge -q other")
    assert(not good, "the merge should conflict")
  end, true },
}

describe("status agrees with git status --porcelain --untracked-files=no", function()
  for _, s in ipairs(SCENARIOS) do
    it(s[1], function()
      local d = base()
      s[2](d)
      agrees(d, s[1], s[3])
    end)
  end

  it("an empty repository, then one file staged", function()
    local d = newrepo()
    agrees(d, "empty", false)
    write(d, "a.txt", "a\n")
    agrees(d, "untracked in an empty repository", false)
    run(d, "add a.txt")
    agrees(d, "staged in an empty repository", true)
  end)
end)

-- git trusts an entry's stat data (mtime and ctime in whole seconds, inode,
-- owner, size) unless the entry is "racy": not older than the index file.
-- Here ctime is out of play (core.trustctime false) and each change keeps
-- the size and is given back the recorded mtime.
describe("stat data trusted as git trusts it", function()
  local function same_size_change(d, mtime)
    write(d, "a.txt", "alpha\n")
    shell(d, "touch -d @" .. mtime .. " a.txt")
    run(d, "add a.txt")
    run(d, "commit -q -m again --allow-empty")
    write(d, "a.txt", "ALPHA\n") -- same size, same inode
    shell(d, "touch -d @" .. mtime .. " a.txt")
  end

  it("a racy entry (mtime not older than the index) is compared by content: modified", function()
    local d = base()
    run(d, "config core.trustctime false")
    same_size_change(d, os.time() + 3600)
    agrees(d, "racy", true)
  end)

  it("an entry older than the index with matching stat data is trusted: clean, as for git", function()
    local d = base()
    run(d, "config core.trustctime false")
    same_size_change(d, 1600000000)
    agrees(d, "trusted", false)
  end)

  it("a change that keeps size and mtime is still seen through the ctime", function()
    local d = base()
    shell(d, "touch -d @1600000000 a.txt && git add a.txt && sleep 1") -- the ctime's second moves on
    write(d, "a.txt", "ALPHA\n")
    shell(d, "touch -d @1600000000 a.txt")
    agrees(d, "ctime", true)
  end)
end)

-- A file in another encoding (gitattributes' working-tree-encoding) is
-- stored as UTF-8: git converts it before hashing, libgit2 1.5 does not
-- (sphinx-doc/sphinx keeps a windows-1251 test file so). Touching the file
-- makes both compare contents.
describe("working-tree-encoding", function()
  local function encoded()
    local d = newrepo()
    write(d, ".gitattributes", "*.txt text working-tree-encoding=ISO-8859-1\n")
    write(d, "latin1.txt", "caf\xe9 cr\xe8me\n")
    write(d, "plain.txt", "plain\n")
    run(d, "add -A")
    run(d, "commit -q -m encoded")
    ok(shell(d, "git cat-file -p HEAD:latin1.txt | od -An -tx1 | tr -d ' \n'"):find("c3a9"), "stored as UTF-8")
    shell(d, "touch -d '2001-02-03 04:05:06' latin1.txt plain.txt")
    return d
  end

  it("an unchanged file is clean, as for git", function()
    agrees(encoded(), "touched", false)
  end)

  it("an encoding iconv does not know: hashed unconverted, as git does (clean)", function()
    local d = newrepo()
    write(d, "wrongenc.inc", "caf\xe9\n")
    run(d, "add wrongenc.inc")
    run(d, "commit -q -m raw")
    write(d, ".gitattributes", "*.inc working-tree-encoding=iso-8859\n")   -- sphinx's spelling
    run(d, "add .gitattributes")
    run(d, "commit -q -m attributes")
    shell(d, "touch -d '2001-02-03 04:05:06' wrongenc.inc")
    agrees(d, "unknown encoding", false)
  end)

  it("a change in that encoding is modified, and only that file", function()
    local d = encoded()
    write(d, "latin1.txt", "caf\xe9 cr\xe8me br\xfbl\xe9e\n")
    agrees(d, "changed", true)
  end)
end)

-- git/git's first 98 commits store file modes as 100664. git reads every
-- regular file mode as 100644 or 100755 (canon_mode), so such a checkout is
-- clean; libgit2's status called every file modified.
describe("old tree modes", function()
  local function old_tree(d)
    local function object(cmd) return shell(d, cmd) end
    local blob = object("printf 'hello\\n' | git hash-object -w --stdin")
    local script = object("printf '#!/bin/sh\\n' | git hash-object -w --stdin")
    local sub = object(string.format("printf '100664 blob %s\\tinner.c\\n' | git mktree", blob))
    local root = object(string.format(
      "printf '100664 blob %s\\tcache.h\\n040000 tree %s\\tlib\\n100775 blob %s\\trun.sh\\n' | git mktree",
      blob, sub, script))
    local commit = object("git commit-tree " .. root .. " -m 'an old tree'")
    run(d, "update-ref refs/heads/main " .. commit)
    run(d, "reset -q --hard")
    run(d, "tag -a v0.1 -m v0.1")
    ok(run(d, "cat-file tree HEAD^{tree}"):find("^100664 cache.h"), "the tree really stores 100664")
  end

  it("100664 and 100775 files are clean after a checkout", function()
    local d = newrepo()
    old_tree(d)
    agrees(d, "old modes", false)
    eq(assert(git.open(d)):status(), { dirty = false, files = {} })
  end)

  it("a real change in such a tree is still found, and only it", function()
    local d = newrepo()
    old_tree(d)
    write(d, "lib/inner.c", "changed\n")
    agrees(d, "one change", true)
    eq(assert(git.open(d)):status().files, { { path = "lib/inner.c", status = "modified", staged = false } })
  end)
end)

describe("submodules", function()
  local function with_submodule()
    local sub = newrepo()
    write(sub, "s.txt", "s\n")
    run(sub, "add s.txt")
    run(sub, "commit -q -m sub")
    local d = base()
    run(d, "-c protocol.file.allow=always submodule add -q " .. q(sub) .. " mod")
    run(d, "commit -q -m 'add a submodule'")
    return d, sub
  end

  it("clean, moved to another commit, with tracked and untracked changes inside", function()
    local d = with_submodule()
    agrees(d, "clean", false)
    write(d, "mod/untracked.txt", "u\n")
    agrees(d, "untracked inside: not a change with --untracked-files=no", false)
    write(d, "mod/s.txt", "changed\n")
    agrees(d, "tracked change inside", true)
    run(d, "config submodule.mod.ignore dirty")
    agrees(d, "tracked change inside, ignore = dirty in .git/config", false)
    run(d, "config --unset submodule.mod.ignore")
    run(d, "config -f .gitmodules submodule.mod.ignore dirty")
    agrees(d, "tracked change inside, ignore = dirty in .gitmodules", true) -- .gitmodules itself is modified
    run(d, "add .gitmodules")
    run(d, "commit -q -m 'ignore dirty'")
    agrees(d, "tracked change inside, ignore = dirty in .gitmodules, committed", false)
    run(d, "config submodule.mod.ignore none")
    agrees(d, "tracked change inside, .git/config's none over .gitmodules' dirty", true)
    run(d, "config submodule.mod.ignore dirty")
    run(d .. "/mod", "commit -q -am 'moved'")
    agrees(d, "checked out at another commit, ignore = dirty", true)
    run(d, "config submodule.mod.ignore all")
    agrees(d, "ignore = all", false)
  end)

  it("not checked out (a clone without --recurse-submodules) is clean", function()
    local d = with_submodule()
    local c = fx.tempdir()
    dirs[#dirs + 1] = c
    run(c, "clone -q " .. q(d) .. " .")
    ok(io.open(c .. "/.gitmodules"), "the clone has the .gitmodules")
    agrees(c, "uninitialised submodule", false)
  end)
end)

describe("sparse checkouts", function()
  for _, index in ipairs({ "--no-sparse-index", "--sparse-index" }) do
    it("cone mode, " .. index, function()
      local d = base()
      run(d, "sparse-checkout init --cone " .. index)
      run(d, "sparse-checkout set dir/sub")
      ok(not io.open(d .. "/doc/e.txt") and io.open(d .. "/dir/sub/d.txt"), "only dir/sub and the top are there")
      if index == "--sparse-index" then
        contains(run(d, "ls-files --sparse"), "doc/", "a sparse folder entry in the index")
      end
      agrees(d, "sparse, clean", false)
      write(d, "dir/sub/d.txt", "changed!\n")
      agrees(d, "sparse, a change inside the cone", true)
      run(d, "add dir/sub/d.txt")
      agrees(d, "sparse, the change staged", true)
    end)
  end
end)

describe("untracked files", function()
  it("are looked for only when asked, and never make the tree dirty", function()
    local d = base()
    write(d, "new.txt", "n\n")
    write(d, "newdir/x.txt", "x\n")
    local r = assert(git.open(d))
    eq(r:status(), { dirty = false, files = {} })
    eq(r:status { untracked = true }, { dirty = false, files = {
      { path = "new.txt", status = "untracked", staged = false },
      { path = "newdir/x.txt", status = "untracked", staged = false },
    } })
    write(d, "a.txt", "ALPHA\n")
    eq(r:status { untracked = true }, { dirty = true, files = {
      { path = "a.txt", status = "modified", staged = false },
      { path = "new.txt", status = "untracked", staged = false },
      { path = "newdir/x.txt", status = "untracked", staged = false },
    } })
  end)
end)

describe("what relrun does not read", function()
  it("a split index: one line saying how to go back to a plain index", function()
    local d = base()
    run(d, "update-index --split-index")
    local st, msg, code = assert(git.open(d)):status()
    eq(st, nil)
    ok(code, "a code")
    contains(msg, "the index is split")
    contains(msg, "git update-index --no-split-index")
    run(d, "update-index --no-split-index")
    agrees(d, "after --no-split-index", false)
  end)

  it("a bare repository has no working tree", function()
    local d = fx.tempdir()
    dirs[#dirs + 1] = d
    local r = assert(git.init(d .. "/b.git", { bare = true }))
    local st, msg, code = r:status()
    eq({ st, code }, { nil, "GIT_EBAREREPO" })
    contains(msg, "bare")
  end)
end)
