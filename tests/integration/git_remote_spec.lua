-- relrun.git push, fetch, ls-remote and tag deletion against real remotes:
-- a bare repository over file://, and the same over smart HTTP served by
-- `git http-backend` behind tests/fakes/git_http.py (token auth), which is
-- itself checked with the real git CLI first.
local git = require "relrun.git"
local fx = require "git_fixtures"
local peer = require "peer"

local sh, run, q = fx.sh, fx.git, fx.quote
local RELRUN = sh("realpath " .. q(os.getenv("RELRUN") or "build/relrun"))
local SOURCE = os.getenv("RELRUN_SOURCE_DIR") or "."

local dirs = {}
local function tempdir()
  local d = fx.tempdir()
  dirs[#dirs + 1] = d
  return d
end
after_each(function()
  for _, d in ipairs(dirs) do fx.rmrf(d) end
  dirs = {}
end)

-- A bare remote with one commit on main, and a clone of it to work in.
local function remote_and_clone(root)
  root = root or tempdir()
  local seed = fx.repo()
  dirs[#dirs + 1] = seed
  fx.commit(seed, "first")
  sh("git clone -q --bare " .. q(seed) .. " " .. q(root .. "/r.git"))
  local work = tempdir() .. "/work"
  sh(fx.ENV .. "git clone -q file://" .. q(root .. "/r.git") .. " " .. q(work))
  return root .. "/r.git", work
end

-- Run a Lua snippet in a child relrun (its own environment: tokens);
-- returns stdout+stderr and whether it exited 0.
local function child(script, env)
  return sh("cd " .. q(SOURCE) .. " && env " .. (env or "") .. " " .. q(RELRUN) .. " -e " .. q(script) .. " 2>&1",
    true)
end

describe("over file://", function()
  it("pushes a branch and a tag, lists and deletes the remote tag", function()
    local bare, work = remote_and_clone()
    local c2 = fx.commit(work, "second")
    local r = assert(git.open(work))
    ok(r:push("origin", { "refs/heads/main:refs/heads/main" }))
    eq(sh("git -C " .. q(bare) .. " rev-parse main"), c2)
    run(work, "tag -a v1.2.3 -m 'Release 1.2.3'")
    ok(r:push("origin", "refs/tags/v1.2.3:refs/tags/v1.2.3"))
    eq(sh("git -C " .. q(bare) .. " rev-parse v1.2.3^{commit}"), c2)
    local names = {}
    for _, h in ipairs(assert(r:ls_remote("origin"))) do names[h.name] = h.id end
    eq(names["refs/tags/v1.2.3"], run(work, "rev-parse v1.2.3"))
    eq(names["refs/heads/main"], c2)
    ok(r:push("origin", { ":refs/tags/v1.2.3" }))
    eq(sh("git -C " .. q(bare) .. " tag -l"), "")
  end)

  it("fetches new commits and tags from the remote", function()
    local bare, work = remote_and_clone()
    local other = tempdir() .. "/other"
    sh(fx.ENV .. "git clone -q file://" .. q(bare) .. " " .. q(other))
    local c = fx.commit(other, "from elsewhere")
    run(other, "tag v9.9.9")
    run(other, "push -q origin main v9.9.9")
    local r = assert(git.open(work))
    ok(r:fetch("origin"))
    eq(run(work, "rev-parse origin/main"), c)
    eq(run(work, "rev-parse v9.9.9"), c)
    local ahead, behind = r:ahead_behind("main", "origin/main")
    eq({ ahead, behind }, { 0, 1 })
  end)

  it("fetches explicit refspecs and prunes what the remote deleted", function()
    local bare, work = remote_and_clone()
    sh("git -C " .. q(bare) .. " branch topic main")
    local r = assert(git.open(work))
    ok(r:fetch("origin", { refspecs = { "+refs/heads/topic:refs/remotes/origin/topic" } }))
    eq(run(work, "rev-parse origin/topic"), sh("git -C " .. q(bare) .. " rev-parse topic"))
    sh("git -C " .. q(bare) .. " branch -D topic")
    ok(r:fetch("origin", { prune = true }))
    eq(fx.git_may_fail(work, "rev-parse --verify -q origin/topic"), "")
  end)

  it("a refused non-fast-forward push is a failure naming the ref", function()
    local bare, work = remote_and_clone()
    local other = tempdir() .. "/other"
    sh(fx.ENV .. "git clone -q file://" .. q(bare) .. " " .. q(other))
    fx.commit(other, "theirs")
    run(other, "push -q origin main")
    fx.commit(work, "ours")
    local r = assert(git.open(work))
    local v, msg, code = r:push("origin", { "refs/heads/main:refs/heads/main" })
    eq(v, nil)
    ok(code == "GIT_EREJECTED" or code == "GIT_ENONFASTFORWARD", "code " .. tostring(code))
    contains(msg, "refs/heads/main")
  end)

  it("a missing remote is one clear line", function()
    local _, work = remote_and_clone()
    local r = assert(git.open(work))
    local v, msg, code = r:push("file:///nonexistent/r.git", { "refs/heads/main:refs/heads/main" })
    eq(v, nil)
    ok(code:match("^GIT_"), code)
    contains(msg, "push of refs/heads/main:refs/heads/main to file:///nonexistent/r.git failed")
    v, msg = r:fetch("nosuchremote")
    eq(v, nil)
    contains(msg, "nosuchremote")
  end)
end)

describe("over smart HTTP with a token", function()
  local TOKEN = "tok-" .. tostring(os.time()) .. "-s3cret"
  local server, root, bare, work, url

  before_each(function()
    root = tempdir()
    bare, work = remote_and_clone(root)
    local token_file = root .. "/token"
    local f = assert(io.open(token_file, "w"))
    f:write(TOKEN)
    f:close()
    server = peer.start {
      argv = { "python3", SOURCE .. "/tests/fakes/git_http.py", "--root", root, "--port-file", peer.PORT_FILE,
               "--token-file", token_file },
    }
    url = server.url .. "/r.git"
    run(work, "remote set-url origin " .. q(url))
  end)
  -- the token goes only to the GitHub server: here, the fake
  local function github(env) return "GITHUB_SERVER_URL=" .. q(server.url) .. " " .. env end
  after_each(function()
    if server then server:stop() end
    server = nil
  end)

  it("the fake serves the real git CLI: clone and push with the token, 401 without", function()
    local authed = (url:gsub("^http://", "http://x-access-token:" .. TOKEN .. "@"))
    local clone = tempdir() .. "/c"
    sh(fx.ENV .. "git clone -q " .. q(authed) .. " " .. q(clone))
    local c = fx.commit(clone, "via http")
    run(clone, "push -q origin main")
    eq(sh("git -C " .. q(bare) .. " rev-parse main"), c)
    local out, good = sh(fx.ENV .. "GIT_TERMINAL_PROMPT=0 git ls-remote "
      .. q((url:gsub("^http://", "http://x-access-token:wrong@"))), true)
    ok(not good, "git refuses the wrong token")
    contains(out, "Authentication failed")
  end)

  it("pushes and deletes a tag, fetches tags, with GITHUB_TOKEN", function()
    local c = fx.commit(work, "second")
    run(work, "tag -a v1.2.3 -m r")
    local script = string.format([[
      local r = assert(require("relrun.git").open(%q))
      assert(r:push("origin", { "refs/heads/main:refs/heads/main", "refs/tags/v1.2.3:refs/tags/v1.2.3" }))
      print("pushed")
      local seen = {}
      for _, h in ipairs(assert(r:ls_remote("origin"))) do seen[#seen + 1] = h.name end
      print(table.concat(seen, ","))
      assert(r:push("origin", ":refs/tags/v1.2.3"))
      print("deleted")
    ]], work)
    local out, good = child(script, github("GITHUB_TOKEN=" .. q(TOKEN)))
    ok(good, out)
    contains(out, "pushed")
    contains(out, "refs/tags/v1.2.3")
    contains(out, "deleted")
    eq(sh("git -C " .. q(bare) .. " rev-parse main"), c)
    eq(sh("git -C " .. q(bare) .. " tag -l"), "")
    -- fetch a tag someone else pushed, with GIT_TOKEN this time
    sh("git -C " .. q(bare) .. " tag v5 main")
    out, good = child(string.format([[
      local r = assert(require("relrun.git").open(%q))
      assert(r:fetch("origin"))
      print(r:rev_parse("v5"))
    ]], work), github("GITHUB_TOKEN= GIT_TOKEN=" .. q(TOKEN)))
    ok(good, out)
    contains(out, c)
  end)

  it("a wrong token: authentication refused by the URL, token never shown", function()
    local out, good = child(string.format([[
      local r = assert(require("relrun.git").open(%q))
      local v, msg, code = r:push("origin", { "refs/heads/main:refs/heads/main" })
      print(v, code) print(msg)
    ]], work), github("GITHUB_TOKEN=wrong-" .. q(TOKEN)))
    ok(good, out)
    contains(out, "nil\tGIT_EAUTH")
    contains(out, "authentication refused by " .. url)
    ok(not out:find(TOKEN, 1, true), "the token is not printed")
    -- credentials written into the URL never reach the message either
    local with_creds = (url:gsub("^http://", "http://x-access-token:in-url-secret@"))
    out = child(string.format([[
      local r = assert(require("relrun.git").open(%q))
      print(select(2, r:fetch(%q)))
    ]], work, with_creds), github("GITHUB_TOKEN=wrong"))
    contains(out, "authentication refused by " .. url)
    ok(not out:find("in-url-secret", 1, true), "URL credentials are not printed: " .. out)
  end)

  it("GITHUB_TOKEN goes only to the GitHub server: a remote elsewhere that asks (401) gets none", function()
    local log = root .. "/auth.log"
    local other = peer.start {
      argv = { "python3", SOURCE .. "/tests/fakes/git_http.py", "--root", root, "--port-file", peer.PORT_FILE,
               "--token-file", root .. "/token", "--auth-log", log },
    }
    local script = string.format([[
      local r = assert(require("relrun.git").open(%q))
      local v, msg, code = r:push(%q, { "refs/heads/main:refs/heads/main" })
      print(v, code) print(msg)
    ]], work, other.url .. "/r.git")
    -- the default GitHub server (github.com), and a GitHub Enterprise one:
    -- neither makes this remote GitHub
    local by_default = child(script, "GITHUB_SERVER_URL= GITHUB_API_URL= GITHUB_TOKEN=" .. q(TOKEN))
    local elsewhere = child(script, "GITHUB_SERVER_URL=https://ghe.example.com GITHUB_API_URL= GITHUB_TOKEN="
      .. q(TOKEN))
    other:stop()
    contains(by_default, "nil\tGIT_EAUTH")
    contains(by_default, other.url .. "/r.git asks for credentials; the token was not sent: GITHUB_TOKEN goes " ..
      "only to https://github.com, https://api.github.com, https://uploads.github.com (GITHUB_SERVER_URL, " ..
      "GITHUB_API_URL), not to " .. other.url)
    contains(elsewhere, "nil\tGIT_EAUTH")
    contains(elsewhere, "GITHUB_TOKEN goes only to https://ghe.example.com (GITHUB_SERVER_URL")
    local f = assert(io.open(log))
    local seen = f:read("a")
    f:close()
    ok(seen:find("GET /r.git/info/refs", 1, true), "the remote was asked: " .. seen)
    ok(not seen:find("Basic", 1, true), "no credentials reached it: " .. seen)
    ok(not (by_default .. elsewhere):find(TOKEN, 1, true), "the token is not printed")
  end)

  it("no token: says which variable to set", function()
    local out = child(string.format([[
      local r = assert(require("relrun.git").open(%q))
      print(select(2, r:fetch("origin")))
    ]], work), "-u GITHUB_TOKEN -u GIT_TOKEN")
    contains(out, url .. " asks for credentials: set GITHUB_TOKEN or GIT_TOKEN")
  end)

  it("a hook's refusal is a failure with the server's message", function()
    local hook = bare .. "/hooks/pre-receive"
    local f = assert(io.open(hook, "w"))
    f:write("#!/bin/sh\necho 'tags are frozen today' >&2\nexit 1\n")
    f:close()
    sh("chmod +x " .. q(hook))
    run(work, "tag v2")
    local out, good = child(string.format([[
      local r = assert(require("relrun.git").open(%q))
      local v, msg, code = r:push("origin", { "refs/tags/v2:refs/tags/v2" })
      print(v, code) print(msg)
    ]], work), github("GITHUB_TOKEN=" .. q(TOKEN)))
    ok(good, out)
    contains(out, "nil\tGIT_EREJECTED")
    contains(out, "refs/tags/v2")
    contains(out, "tags are frozen today")
  end)

  it("Ctrl-C during a transfer stops relrun with the interruption (exit 130)", function()
    local hung = peer.start {
      argv = { "python3", SOURCE .. "/tests/fakes/git_http.py", "--root", root, "--port-file", peer.PORT_FILE,
               "--token-file", root .. "/token", "--stall", "60" },
    }
    local script = string.format([[
      local r = assert(require("relrun.git").open(%q))
      print("fetching")
      io.stdout:flush()
      print(r:fetch(%q))
    ]], work, hung.url .. "/r.git")
    -- start the fetch, wait until it has begun, then send SIGINT to relrun
    local out = sh("cd " .. q(SOURCE) .. " && { env GITHUB_TOKEN=" .. q(TOKEN) .. " " .. q(RELRUN) .. " -e "
      .. q(script) .. " > " .. q(root .. "/out") .. " 2>&1 & pid=$!; "
      .. "for i in $(seq 100); do grep -q fetching " .. q(root .. "/out") .. " && break; sleep 0.1; done; "
      .. "sleep 0.5; kill -INT $pid; wait $pid; echo \"exit=$?\"; cat " .. q(root .. "/out") .. "; }", true)
    hung:stop()
    contains(out, "exit=130")
    ok(not out:find("fetch from", 1, true), "no failure line, an interruption: " .. out)
  end)

  it("an unreachable server is one clear line", function()
    local r = assert(git.open(work))
    local v, msg, code = r:fetch("http://127.0.0.1:1/r.git")
    eq(v, nil)
    ok(code:match("^GIT_"), code)
    contains(msg, "fetch from http://127.0.0.1:1/r.git failed")
  end)
end)
