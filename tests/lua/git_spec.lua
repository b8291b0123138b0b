-- relrun.git against the real git CLI: every scenario is built by git in a
-- temp folder and relrun's answer is compared with what git prints.
local git = require "relrun.git"
local fs = require "relrun.fs"
local proc = require "relrun.proc"
local fx = require "git_fixtures"

local RELRUN = os.getenv("RELRUN") or "build/relrun"
local sh, run, q = fx.sh, fx.git, fx.quote

local dirs = {}
local function newrepo()
  local d = fx.repo()
  dirs[#dirs + 1] = d
  return d
end
local function tempdir()
  local d = fx.tempdir()
  dirs[#dirs + 1] = d
  return d
end
after_each(function()
  for _, d in ipairs(dirs) do fx.rmrf(d) end
  dirs = {}
end)

-- Does running `script` initialise libgit2? Seen from the outside: Debian's
-- libgit2 reads the system CA bundle (mbedTLS) when it starts. `with` must
-- start it, `without` must not; skipped where that cannot be seen.
local function never_initialises_libgit2(with, without, what)
  local function opens_ca_bundle(script)
    local trace = tempdir()
    -- (LeakSanitizer cannot run under ptrace: the sanitizer build's leak check is off for this one run)
    sh("ASAN_OPTIONS=detect_leaks=0 strace -f -e trace=openat -o " .. q(trace .. "/trace") .. " " ..
      q(sh("realpath " .. q(RELRUN))) .. " -e " .. q(script))
    return (fs.read(trace .. "/trace") or ""):find("ca%-certificates") ~= nil
  end
  if not proc.which("strace") then
    print("  (strace is not installed: libgit2's initialisation not traced)")
  elseif opens_ca_bundle(with) then
    eq(opens_ca_bundle(without), false, what .. " never initialises libgit2")
  else
    print("  (this libgit2 reads no CA bundle at initialisation: nothing to compare)")
  end
end

describe("open", function()
  it("discovers the repository from a subfolder", function()
    local d = newrepo()
    fx.commit(d, "one")
    assert(os.execute("mkdir -p " .. q(d .. "/a/b")))
    local r = assert(git.open(d .. "/a/b"))
    eq(r:workdir(), sh("realpath " .. q(d)) .. "/")
    eq(r:path(), sh("realpath " .. q(d)) .. "/.git/")
    r:close()
  end)

  it("returns nil, message, GIT_ENOTFOUND outside a repository", function()
    local d = tempdir()
    local r, msg, code = git.open(d)
    eq(r, nil)
    eq(code, "GIT_ENOTFOUND")
    contains(msg, "not a git repository: " .. d)
  end)

  it("raises on a closed handle, and close is idempotent", function()
    local d = newrepo()
    local r = assert(git.open(d))
    r:close()
    r:close()
    raises(function() r:head() end, "attempt to use a closed relrun%.git%.repository")
    do
      local r2 <close> = assert(git.open(d))
      ok(r2:is_empty())
    end
  end)

  it("init creates a bare repository", function()
    local d = tempdir()
    local r = assert(git.init(d .. "/x.git", { bare = true }))
    eq(r:workdir(), nil)
    eq(sh("git -C " .. q(d .. "/x.git") .. " rev-parse --is-bare-repository"), "true")
  end)
end)

describe("head", function()
  -- a linked worktree keeps HEAD in its own folder and the branch it names
  -- in the shared one
  it("in a linked worktree, names the worktree's branch and commit", function()
    local d = newrepo()
    fx.commit(d, "one")
    local wt = tempdir() .. "/linked"
    fx.git(d, "worktree add -q " .. q(wt) .. " -b feature")
    fx.commit(wt, "two")
    local r = assert(git.open(wt))
    local h = r:head()
    eq(h.branch, "feature")
    eq(h.unborn, false)
    eq(h.id, sh("git -C " .. q(wt) .. " rev-parse HEAD"))
    eq(r:commit("main").id, sh("git -C " .. q(d) .. " rev-parse main"))
    r:close()
  end)

  it("on an empty repository is unborn with its branch", function()
    local d = newrepo()
    local r = assert(git.open(d))
    ok(r:is_empty())
    eq(r:head(), { unborn = true, detached = false, branch = "main" })
    local v, msg, code = r:describe()
    eq(v, nil)
    eq(code, "GIT_EUNBORNBRANCH")
    contains(msg, "no commits yet")
  end)

  it("gives id, short id and branch", function()
    local d = newrepo()
    local id = fx.commit(d, "one")
    local h = assert(git.open(d)):head()
    eq(h, { id = id, short = run(d, "rev-parse --short HEAD"), branch = "main",
            detached = false, unborn = false })
  end)

  it("detached HEAD has no branch", function()
    local d = newrepo()
    local first = fx.commit(d, "one")
    fx.commit(d, "two")
    run(d, "checkout -q --detach " .. first)
    local h = assert(git.open(d)):head()
    eq(h.detached, true)
    eq(h.branch, nil)
    eq(h.id, first)
  end)
end)

describe("status", function()
  it("untracked files are listed when asked, and do not make the tree dirty", function()
    local d = newrepo()
    fx.commit(d, "one")
    local f = assert(io.open(d .. "/new.txt", "w")); f:write("x"); f:close()
    local r = assert(git.open(d))
    eq(r:status { untracked = true },
      { dirty = false, files = { { path = "new.txt", status = "untracked", staged = false } } })
    eq(r:status(), { dirty = false, files = {} }, "not looked for by default")
  end)

  it("a modified tracked file makes it dirty, staged or not", function()
    local d = newrepo()
    fx.commit(d, "one")
    local f = assert(io.open(d .. "/file.txt", "a")); f:write("more\n"); f:close()
    local r = assert(git.open(d))
    eq(r:status(), { dirty = true, files = { { path = "file.txt", status = "modified", staged = false } } })
    run(d, "add file.txt")
    eq(r:status(), { dirty = true, files = { { path = "file.txt", status = "modified", staged = true } } })
    eq(sh(fx.ENV .. "git -C " .. q(d) .. " status --porcelain --untracked-files=no"), "M  file.txt")
  end)

  it("a clean checkout is clean", function()
    local d = newrepo()
    fx.commit(d, "one")
    eq(assert(git.open(d)):status(), { dirty = false, files = {} })
  end)
end)

describe("tags", function()
  it("lists annotated and lightweight tags with target and tagger date", function()
    local d = newrepo()
    local c1 = fx.commit(d, "one")
    run(d, "tag -a v1.0.0 -m 'first release'", "GIT_COMMITTER_DATE='1700001234 +0000'")
    local c2 = fx.commit(d, "two")
    run(d, "tag v1.1.0")
    local tags = assert(git.open(d)):tags()
    eq(#tags, 2)
    eq(tags[1].name, "v1.0.0")
    eq(tags[1].target, c1)
    eq(tags[1].annotated, true)
    eq(tags[1].tagger_time, 1700001234)
    eq(tags[1].message, "first release\n")
    eq(tags[1].id, run(d, "rev-parse v1.0.0"))
    eq(tags[2], { name = "v1.1.0", target = c2, id = c2, annotated = false })
  end)

  it("a tag of a tree has no commit target and never describes", function()
    local d = newrepo()
    fx.commit(d, "one")
    run(d, "tag -a v1 -m v1")
    fx.commit(d, "two")
    run(d, "tag -a v9-tree -m tree HEAD^{tree}")
    local r = assert(git.open(d))
    local tags = r:tags()
    eq(tags[2].name, "v9-tree")
    eq(tags[2].target, nil)
    eq(tags[2].annotated, true)
    local v = assert(r:describe())
    eq(v.tag .. "-" .. v.distance .. "-g" .. v.short, run(d, "describe --tags --long"))
  end)

  it("creates an annotated tag with the tagger from the config", function()
    local d = newrepo()
    local c = fx.commit(d, "one")
    run(d, "config user.name 'Cee Fig'")
    run(d, "config user.email cee@example.com")
    local r = assert(git.open(d))
    local id = assert(r:tag_create("v2.0.0", { message = "Release 2.0.0  \n\n# comment\n" }))
    eq(run(d, "rev-parse v2.0.0"), id)
    eq(run(d, "rev-parse v2.0.0^{commit}"), c)
    eq(run(d, "cat-file -p v2.0.0"):match("tagger ([^<]*) <"), "Cee Fig")
    eq(run(d, "for-each-ref --format='%(contents)' refs/tags/v2.0.0"), "Release 2.0.0\n")
    local again, msg, code = r:tag_create("v2.0.0", { message = "x" })
    eq(again, nil)
    eq(code, "GIT_EEXISTS")
    contains(msg, "tag 'v2.0.0' already exists")
  end)

  it("takes the tagger from GIT_COMMITTER_NAME and GIT_COMMITTER_EMAIL", function()
    local d = newrepo()
    fx.commit(d, "one")
    local script = "local r = assert(require'relrun.git'.open(" .. string.format("%q", d) .. "))"
      .. " assert(r:tag_create('v3', {message = 'm'}))"
    sh("cd " .. q(d) .. " && env HOME=/nonexistent GIT_CONFIG_NOSYSTEM=1 GIT_COMMITTER_NAME='Env Tagger' "
      .. "GIT_COMMITTER_EMAIL=env@example.com " .. q(sh("realpath " .. q(RELRUN))) .. " -e " .. q(script))
    contains(run(d, "cat-file -p v3"), "tagger Env Tagger <env@example.com>")
  end)

  it("without details, lists the same tags by relrun's own reader, loose or packed, without libgit2", function()
    local d = newrepo()
    local c1 = fx.commit(d, "one")
    run(d, "tag -a v1.0.0 -m first")
    run(d, "tag -a v1.0.0-outer -m outer v1.0.0")   -- a tag of a tag
    fx.commit(d, "two")
    run(d, "tag v1.1.0")
    run(d, "tag -a v9-tree -m tree HEAD^{tree}")
    local function stripped(list)
      for _, t in ipairs(list) do t.tagger, t.tagger_email, t.tagger_time, t.message = nil, nil, nil, nil end
      return list
    end
    local loose = assert(git.open(d)):tags{ details = false }
    eq(loose, stripped(assert(git.open(d)):tags()), "loose refs and objects")
    eq(loose[2], { name = "v1.0.0-outer", id = run(d, "rev-parse v1.0.0-outer"), target = c1, annotated = true })
    eq(loose[4].target, nil, "a tag of a tree has no commit target")
    run(d, "gc -q")   -- packed-refs with peeled lines, objects in a pack
    eq(assert(git.open(d)):tags{ details = false }, loose, "packed")
    -- libgit2's initialisation happens for details, not without them
    never_initialises_libgit2(
      string.format("assert(require'relrun.git'.open(%q)):tags{ details = true }", d),
      string.format("assert(require'relrun.git'.open(%q)):tags{ details = false }", d),
      "listing tags without details")
  end)

  it("reads a revision's commit, tree and committer time as git does, without libgit2 for names and ids", function()
    local d = newrepo()
    fx.commit(d, "one")
    run(d, "tag v1.0.0")
    run(d, "tag -a v1.0.1 -m annotated")
    run(d, "-c advice.nestedTag=false tag -a v1.0.1-outer -m outer v1.0.1")   -- a tag of a tag
    fx.commit(d, "two")
    run(d, "branch feature")
    run(d, "tag -a v9-tree -m tree HEAD^{tree}")
    local revs = { "v1.0.0", "v1.0.1", "v1.0.1-outer", "HEAD", "main", "feature", "refs/tags/v1.0.1",
                   "HEAD~1", run(d, "rev-parse HEAD"), run(d, "rev-parse --short HEAD") }
    local function check(r, what)
      for _, rev in ipairs(revs) do
        eq(assert(r:commit(rev)), { id = run(d, "rev-parse " .. q(rev .. "^{commit}")),
          tree = run(d, "rev-parse " .. q(rev .. "^{tree}")),
          time = tonumber(run(d, "log -1 --format=%ct " .. q(rev))) }, what .. ": " .. rev)
      end
      local none, msg, code = r:commit("nope")
      eq({ none, code }, { nil, "GIT_ENOTFOUND" }, what)
      contains(msg, "nope")
      eq(select(3, r:commit("v9-tree")) ~= nil, true, what .. ": a tag of a tree names no commit")
    end
    check(assert(git.open(d)), "loose")
    run(d, "gc -q")
    check(assert(git.open(d)), "packed")
    eq(assert(git.open(d)):warm(), true, "warm() opens it with libgit2")
    never_initialises_libgit2(
      string.format("assert(require'relrun.git'.open(%q)):warm()", d),
      string.format("local r = assert(require'relrun.git'.open(%q)) assert(r:commit('v1.0.1-outer')) "
        .. "assert(r:commit('main')) assert(r:commit('HEAD'))", d),
      "reading a tag's, branch's or HEAD's commit")
  end)

  it("loads libgit2 and libcrypto only when something needs them (the program's build)", function()
    local d = newrepo()
    fx.commit(d, "one")
    run(d, "tag -a v1.0.0 -m first")
    fx.commit(d, "two")
    local tracked = sh("cd " .. q(d) .. " && git ls-files | head -n 1")
    fs.write(d .. "/" .. tracked, "an unstaged change\n")   -- (a staged one is compared with HEAD's tree: libgit2's)
    local unborn = newrepo()
    fs.write(unborn .. "/staged.txt", "x\n")
    run(unborn, "add staged.txt")   -- no HEAD: a tree-less dirty check
    -- each in a process of its own, which reports what it has mapped
    local function mapped(script)
      local out = sh(q(sh("realpath " .. q(RELRUN))) .. " -e " .. q(script
        .. " local m = io.open('/proc/self/maps'):read('a')"
        .. " io.write(tostring(m:find('libgit2', 1, true) ~= nil), ' ', tostring(m:find('libcrypto', 1, true) ~= nil))"))
      return out
    end
    if mapped("") ~= "false false" then
      print("  (this relrun links libgit2 and libcrypto in: the sanitizer build; nothing to see)")
      return
    end
    eq(mapped(string.format("local r = assert(require'relrun.git'.open(%q)) assert(r:head()) "
      .. "assert(r:describe{ tags = true }) assert(r:commit('v1.0.0')) assert(r:tags{ details = false })", d)),
      "false false", "HEAD, describe, a tag's commit, tags")
    -- (files written in the index's second are hashed to be sure: SHA-1 is libcrypto's)
    eq(mapped(string.format("assert(require'relrun.git'.open(%q):status()) "
      .. "assert(require'relrun.git'.open(%q):status())", d, unborn)):match("^%a+"), "false",
      "status, with and without a HEAD")
    eq(mapped(string.format("assert(require'relrun.git'.open(%q):warm())", d)), "true true", "warm() loads them")
    -- a dynamic loader binding every symbol at load (LD_BIND_NOW) gets them loaded first
    eq(sh("LD_BIND_NOW=1 " .. q(sh("realpath " .. q(RELRUN))) .. " -e "
      .. q(string.format("local t = assert(require'relrun.git'.open(%q):describe{ tags = true }) "
        .. "io.write(t.tag, '-', t.distance, '-g', t.short)", d))),
      run(d, "describe --tags"))
  end)

  it("creates a lightweight tag and deletes tags", function()
    local d = newrepo()
    fx.commit(d, "one")
    local c2 = fx.commit(d, "two")
    local r = assert(git.open(d))
    eq(r:tag_create("light", { target = "HEAD" }), c2)
    eq(run(d, "cat-file -t light"), "commit")
    ok(r:tag_delete("light"))
    eq(run(d, "tag -l"), "")
    local gone, msg, code = r:tag_delete("light")
    eq(gone, nil)
    eq(code, "GIT_ENOTFOUND")
    contains(msg, "tag 'light' not found")
  end)

  it("refuses a bad revision and a bad tag name with a message", function()
    local d = newrepo()
    fx.commit(d, "one")
    local r = assert(git.open(d))
    local v, msg = r:tag_create("x", { target = "nope" })
    eq(v, nil)
    contains(msg, "unknown revision 'nope'")
    local v2, msg2, code2 = r:tag_create("bad..name")
    eq(v2, nil)
    eq(code2, "GIT_EINVALIDSPEC")
    contains(msg2, "not a valid tag name")
  end)
end)

describe("log and graph queries", function()
  it("log a..b lists what git log --oneline a..b lists", function()
    local d = newrepo()
    fx.commit(d, "one")
    run(d, "tag v1")
    for i = 2, 6 do fx.commit(d, "commit " .. i) end
    run(d, "checkout -q -b side HEAD~2")
    fx.commit(d, "side work", "side.txt")
    run(d, "checkout -q main")
    run(d, "merge -q --no-ff -m 'merge side' side")
    fx.commit(d, "after merge")
    local r = assert(git.open(d))
    local lines = {}
    for _, c in ipairs(r:log("v1..HEAD")) do lines[#lines + 1] = c.short .. " " .. c.summary end
    eq(table.concat(lines, "\n"), run(d, "log --oneline v1..HEAD"))
    local two = r:log("HEAD", { limit = 2 })
    eq(#two, 2)
    eq(two[1].author, "Ann")
    eq(two[1].email, "ann@example.com")
    eq(two[1].message, "after merge\n")
    eq(two[1].time, tonumber(run(d, "log -1 --format=%at")))
    eq(r:count_commits("HEAD"), tonumber(run(d, "rev-list --count HEAD")))
    eq(r:count_commits("v1..HEAD"), tonumber(run(d, "rev-list --count v1..HEAD")))
    eq(r:count_commits("side"), tonumber(run(d, "rev-list --count side")))
    -- Shallow clones of it, cut inside the merge and beyond it: only the
    -- commits the clone has are counted, as git does.
    for _, depth in ipairs({ 1, 2, 3, 5 }) do
      local c = tempdir()
      run(c, "clone -q --no-local --depth " .. depth .. " " .. fx.quote(d) .. " .")
      local sr = assert(git.open(c))
      ok(sr:is_shallow(), "depth " .. depth .. " is shallow")
      eq(sr:count_commits("HEAD"), tonumber(run(c, "rev-list --count HEAD")), "depth " .. depth)
    end
    local n, msg, code = r:count_commits("no-such-rev")
    eq({ n, code }, { nil, "GIT_ENOTFOUND" })
    contains(msg, "no-such-rev")
  end)

  it("merge_base and ahead_behind agree with git", function()
    local d = newrepo()
    fx.commit(d, "one")
    fx.commit(d, "two")
    run(d, "checkout -q -b topic")
    fx.commit(d, "t1", "t.txt")
    fx.commit(d, "t2", "t.txt")
    run(d, "checkout -q main")
    fx.commit(d, "m3")
    local r = assert(git.open(d))
    eq(r:merge_base("main", "topic"), run(d, "merge-base main topic"))
    local ahead, behind = r:ahead_behind("topic", "main")
    eq(ahead .. "\t" .. behind, run(d, "rev-list --left-right --count topic...main"))
    eq(r:rev_parse("topic~1"), run(d, "rev-parse topic~1"))
    local v, msg, code = r:rev_parse("nope~3")
    eq(v, nil)
    eq(code, "GIT_ENOTFOUND")
    contains(msg, "unknown revision 'nope~3'")
  end)

  it("reads config, remotes and the upstream branch", function()
    local d = newrepo()
    fx.commit(d, "one")
    run(d, "remote add origin https://example.com/o/r.git")
    run(d, "config branch.main.remote origin")
    run(d, "config branch.main.merge refs/heads/main")
    run(d, "update-ref refs/remotes/origin/main HEAD")
    local r = assert(git.open(d))
    eq(r:remotes(), { { name = "origin", url = "https://example.com/o/r.git" } })
    eq(r:upstream(), "origin/main")
    eq(r:upstream("main"), "origin/main")
    eq(r:config("remote.origin.url"), "https://example.com/o/r.git")
    eq(r:config("no.such.key"), nil)
  end)
end)

describe("abbrev", function()
  it("is git's length on a small repository, core.abbrev honoured", function()
    local d = newrepo()
    fx.commit(d, "one")
    local r = assert(git.open(d))
    eq(r:abbrev("HEAD"), run(d, "rev-parse --short HEAD"))
    run(d, "config core.abbrev 12")
    eq(r:abbrev("HEAD"), run(d, "rev-parse --short HEAD"))
    eq(#r:abbrev("HEAD"), 12)
  end)

  -- ~40,500 objects: git prints 8 digits, 7 if an alternate's packs were
  -- missed. A multi-pack-index makes git 2.39 count its packs twice once it
  -- has read objects (as log and describe do): 81,000, so 9.
  local function same_as_git(d, r, label)
    local ids = {}
    for id in run(d, "rev-list --max-count=300 --all"):gmatch("%x+") do ids[#ids + 1] = id end
    local got = {}
    for i, id in ipairs(ids) do got[i] = r:abbrev(id) end
    eq(table.concat(got, "\n"), run(d, "log --no-walk=unsorted --format=%h " .. table.concat(ids, " ")), label)
    return #got[1]
  end

  it("grows with the object count like git: packs, multi-pack-index, alternates", function()
    local d = newrepo()
    fx.fast_import(d, fx.linear_stream(13500))
    local r = assert(git.open(d))
    eq(same_as_git(d, r, "one pack"), 8)
    local tree = run(d, "rev-parse main^{tree}")
    eq(r:abbrev(tree), run(d, "rev-parse --short " .. tree), "a tree")
    for i = 1, 3 do fx.commit(d, "loose " .. i) end
    same_as_git(d, r, "loose objects beside the pack")
    local b = tempdir() .. "/borrower"
    sh(fx.ENV .. "git clone -q --shared " .. q(d) .. " " .. q(b))
    eq(same_as_git(b, assert(git.open(b)), "objects in an alternate"), 8)
    run(d, "repack -q")
    run(d, "multi-pack-index write")
    ok(io.open(d .. "/.git/objects/pack/multi-pack-index"), "a multi-pack-index")
    eq(same_as_git(d, r, "two packs under a multi-pack-index"), 9)
  end)
end)

-- The describe walk must equal `git describe --tags --long` for every commit
-- of many random histories, with and without a commit-graph (single file,
-- split chain, and a graph that misses the newest commits).
describe("describe", function()
  local function check_all(d, r, label)
    local ids = {}
    for id in run(d, "rev-list --all"):gmatch("%x+") do ids[#ids + 1] = id end
    local function compare(match)
      local m = match and (" --match " .. q(match)) or ""
      local want = run(d, "describe --tags --long --always" .. m .. " " .. table.concat(ids, " "))
      local got = {}
      for i, id in ipairs(ids) do
        local v, msg, code = r:describe { rev = id, match = match }
        if v then
          got[i] = string.format("%s-%d-g%s", v.tag, v.distance, v.short)
          eq(v.id, id)
        else
          eq(code, "GIT_ENOTFOUND", msg)
          got[i] = r:abbrev(id)
        end
      end
      eq(table.concat(got, "\n"), want, label .. (match and (" match " .. match) or ""))
    end
    compare(nil)
    compare("v*")
  end

  it("equals git on random histories with merges and many tag layouts", function()
    for seed = 1, 12 do
      local d = newrepo()
      fx.fast_import(d, fx.random_stream(seed, 60 + seed * 10))
      local r = assert(git.open(d))
      check_all(d, r, "seed " .. seed .. " without commit-graph")
      run(d, "commit-graph write --reachable")
      check_all(d, r, "seed " .. seed .. " with commit-graph")
      r:close()
      fx.rmrf(d)
    end
  end)

  it("equals git when more than 10 candidates are found (git gives up the search)", function()
    local gave_up = 0
    for seed = 20, 23 do
      local d = newrepo()
      fx.fast_import(d, fx.random_stream(seed, 150, { tags = 60, annotated = 0.15 }))
      local ids = run(d, "rev-list --all"):gsub("\n", " ")
      local debug = fx.sh(fx.ENV .. "git -C " .. q(d) .. " describe --tags --long --always --debug " .. ids)
      for _ in debug:gmatch("gave up search") do gave_up = gave_up + 1 end
      check_all(d, assert(git.open(d)), "seed " .. seed .. ", many tags")
      fx.rmrf(d)
    end
    ok(gave_up > 0, "some walks found more than 10 candidates")
  end)

  it("honours candidates = n and tags = false as git's --candidates and no --tags", function()
    local d = newrepo()
    fx.fast_import(d, fx.random_stream(21, 150, { tags = 40, annotated = 0.4 }))
    local r = assert(git.open(d))
    local ids = {}
    for id in run(d, "rev-list --all"):gmatch("%x+") do ids[#ids + 1] = id end
    local function compare(args, opts)
      local want = run(d, "describe --long --always " .. args .. " " .. table.concat(ids, " "))
      local got = {}
      for i, id in ipairs(ids) do
        opts.rev = id
        local v = r:describe(opts)
        got[i] = v and string.format("%s-%d-g%s", v.tag, v.distance, v.short) or r:abbrev(id)
      end
      eq(table.concat(got, "\n"), want, args)
    end
    compare("--tags --candidates=3", { candidates = 3 })
    compare("--candidates=1 --tags", { candidates = 1 })
    compare("", { tags = false })
  end)

  it("equals git with a split commit-graph chain and a stale graph", function()
    local d = newrepo()
    local stream = fx.random_stream(99, 150)
    fx.fast_import(d, stream)
    run(d, "commit-graph write --reachable --split")
    -- newer commits the graph does not know
    run(d, "checkout -q -f b1")
    for i = 1, 5 do fx.commit(d, "late " .. i) end
    run(d, "tag -a vlate -m late HEAD~2")
    run(d, "commit-graph write --reachable --split=no-merge")
    fx.commit(d, "after the chain")
    local r = assert(git.open(d))
    ok(io.open(d .. "/.git/objects/info/commit-graphs/commit-graph-chain"), "a split chain")
    check_all(d, r, "split and stale")
  end)

  it("a damaged commit-graph is ignored: the answer is still git's", function()
    local d = newrepo()
    fx.fast_import(d, fx.random_stream(5, 120))
    run(d, "commit-graph write --reachable")
    local want = run(d, "describe --tags --long --always b1")
    local path = d .. "/.git/objects/info/commit-graph"
    local f = assert(io.open(path, "rb"))
    local bytes = f:read("a")
    f:close()
    local function describe_with(content)
      local w = assert(io.open(path, "wb"))
      w:write(content)
      w:close()
      local r = assert(git.open(d))
      local v = r:describe { rev = "b1" }
      return v and string.format("%s-%d-g%s", v.tag, v.distance, v.short) or r:abbrev("b1")
    end
    eq(describe_with(bytes:sub(1, #bytes // 2)), want, "truncated")
    eq(describe_with("CGPH\2" .. bytes:sub(6)), want, "unknown version")
    -- every first parent out of range: each commit falls back to its object
    local cdat = bytes:find("CDAT", 9, true)
    local oidf = bytes:find("OIDF", 9, true)
    ok(cdat and oidf, "CDAT and OIDF chunks")
    local off = string.unpack(">I8", bytes, cdat + 4)
    local count = string.unpack(">I4", bytes, string.unpack(">I8", bytes, oidf + 4) + 255 * 4 + 1)
    local parts = { bytes:sub(1, off) }
    for i = 0, count - 1 do
      local e = off + i * 36
      parts[#parts + 1] = bytes:sub(e + 1, e + 20) .. "\127\255\255\255" .. bytes:sub(e + 25, e + 36)
    end
    parts[#parts + 1] = bytes:sub(off + count * 36 + 1)
    eq(describe_with(table.concat(parts)), want, "parent positions out of range")
  end)

  it("equals git when some commits are stored as deltas (read through libgit2)", function()
    local d = newrepo()
    fx.fast_import(d, fx.random_stream(7, 150))
    run(d, "repack -adfq --window=250 --depth=50")
    local deltas = 0
    for line in run(d, "verify-pack -v " .. d .. "/.git/objects/pack/pack-*.idx"):gmatch("[^\n]+") do
      local kind, chain = line:match("^%x+ (%a+) %d+ %d+ %d+ (%d+)")
      if kind == "commit" and chain then deltas = deltas + 1 end
    end
    ok(deltas > 0, "the repack stored some commits as deltas")
    check_all(d, assert(git.open(d)), "deltified commits")
  end)

  it("prefers the newer annotated tag on one commit, annotated over lightweight", function()
    local d = newrepo()
    fx.commit(d, "one")
    run(d, "tag a-light")
    run(d, "tag -a b-old -m old", "GIT_COMMITTER_DATE='1700000100 +0000'")
    run(d, "tag -a c-new -m new", "GIT_COMMITTER_DATE='1700000200 +0000'")
    fx.commit(d, "two")
    local r = assert(git.open(d))
    local v = assert(r:describe())
    eq(v.tag .. "-" .. v.distance .. "-g" .. v.short, run(d, "describe --tags --long"))
    eq(v.tag, "c-new")
    local exact = assert(r:describe { rev = "HEAD~1" })
    eq(exact.distance, 0)
    eq(exact.tag, "c-new")
  end)

  it("no tag, or none matching, is nil, message, GIT_ENOTFOUND", function()
    local d = newrepo()
    fx.commit(d, "one")
    local r = assert(git.open(d))
    local v, msg, code = r:describe()
    eq(v, nil)
    eq(code, "GIT_ENOTFOUND")
    contains(msg, "there are no tags")
    run(d, "tag other")
    v, msg, code = r:describe { match = "v*" }
    eq(v, nil)
    eq(code, "GIT_ENOTFOUND")
    contains(msg, "matching the pattern")
    eq(r:describe { match = { "x*", "o*" } }.tag, "other")
    raises(function() r:describe { match = 3 } end, "match must be")
    -- a tag only on another branch: nothing reachable, as git says
    run(d, "checkout -q -b side")
    fx.commit(d, "side")
    run(d, "tag -a v-side -m side")
    run(d, "checkout -q main")
    local _, good = fx.git_may_fail(d, "describe --tags --match 'v*'")
    ok(not good, "git finds nothing either")
    v, msg, code = r:describe { match = "v*" }
    eq(v, nil)
    eq(code, "GIT_ENOTFOUND")
    contains(msg, "no tag matching the pattern is reachable from HEAD")
  end)

  it("on a shallow clone stops at the boundary, as git", function()
    local src = newrepo()
    for i = 1, 6 do
      fx.commit(src, "c" .. i)
      if i == 2 then run(src, "tag -a v0.1 -m v0.1") end
      if i == 5 then run(src, "tag v0.2") end
    end
    local d = tempdir() .. "/clone"
    sh(fx.ENV .. "git clone -q --depth 3 file://" .. src .. " " .. q(d))
    local r = assert(git.open(d))
    ok(r:is_shallow())
    -- the walk reaches the shallow commit and must not look for its parents
    local v = assert(r:describe())
    eq(v.tag .. "-" .. v.distance .. "-g" .. v.short, run(d, "describe --tags --long"))
    eq(v.tag, "v0.2")
  end)
end)
