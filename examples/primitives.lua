-- A tour of relrun's primitives, each doing real work on this machine.
--   relrun examples/primitives.lua
local fs = require "relrun.fs"
local hash = require "relrun.hash"
local json = require "relrun.json"
local proc = require "relrun.proc"
local git = require "relrun.git"
local sigv4 = require "relrun.sigv4"
local xml = require "relrun.xml"
local archive = require "relrun.archive"
local log = require "relrun.log"

local function show(what, value) print(string.format("  %-28s %s", what, value)) end

local tmp <close> = fs.tempdir("relrun-tour")
print("relrun " .. require("relrun.host").version .. " — primitives at work in " .. tmp.path)

-- hash: every digest twine sends, from one read of the file
local file = fs.join(tmp.path, "data.bin")
assert(fs.write(file, string.rep("relrun", 100000)))
local d = assert(hash.file(file, { "md5", "sha256", "blake2b_256" }))
show("hash.file sha256", d.sha256)
show("hash.file blake2b_256", d.blake2b_256)
show("hmac_sha256_hex", hash.hmac_sha256_hex("key", "The quick brown fox jumps over the lazy dog"))

-- json
show("json round trip", json.encode(json.decode('{"a":[1,2,3]}')))

-- proc + git: a real repository made with the git CLI, read with libgit2
local repo_dir = fs.join(tmp.path, "repo")
assert(fs.mkdir(repo_dir))
local function sh(argv)
  local r = assert(proc.run{ argv = argv, cwd = repo_dir,
                             env = { GIT_AUTHOR_NAME = "Demo", GIT_AUTHOR_EMAIL = "demo@example.com",
                                     GIT_COMMITTER_NAME = "Demo", GIT_COMMITTER_EMAIL = "demo@example.com" } })
  assert(r.code == 0, r.stderr)
  return r.stdout
end
sh{ "git", "init", "-q", "-b", "main" }
for i = 1, 3 do
  assert(fs.write(fs.join(repo_dir, "f.txt"), tostring(i)))
  sh{ "git", "add", "f.txt" }
  sh{ "git", "commit", "-q", "-m", "commit " .. i }
  if i == 1 then sh{ "git", "tag", "v0.1.0" } end
end
local repo <close> = assert(git.open(repo_dir))
local desc = assert(repo:describe{ tags = true })
show("git describe", string.format("%s-%d-g%s", desc.tag, desc.distance, desc.short))
show("git describe (git CLI)", (sh{ "git", "describe", "--tags", "--long" }:gsub("\n", "")))

-- sigv4: the AWS test suite's get-vanilla request
local add = sigv4.sign{ method = "GET", url = "https://example.amazonaws.com/", headers = { host = "example.amazonaws.com" },
                        body = "", service = "service", region = "us-east-1",
                        access_key = "AKIDEXAMPLE", secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                        time = 1440938160 }
show("sigv4 signature", add.authorization:match("Signature=(%x+)"))

-- xml
local doc = assert(xml.decode("<GetCallerIdentityResponse><GetCallerIdentityResult><Account>123456789012</Account>"
  .. "</GetCallerIdentityResult></GetCallerIdentityResponse>"))
show("xml root", doc.name)

-- archive: a deterministic zip, listed back
local zip = fs.join(tmp.path, "demo.zip")
assert(archive.write(zip, { format = "zip", mtime = 0, entries = { { name = "hello.txt", data = "hello\n" } } }))
show("archive entries", archive.list(zip)[1].name)

-- log: secrets are masked everywhere
log.secret("s3cr3t-token-value")
show("masked print", "token=s3cr3t-token-value")
print("done; " .. tmp.path .. " is removed on exit")
