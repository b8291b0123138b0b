-- label: slow
-- scripts/maintain.lua versions and prune against the CodeArtifact fake
-- (DisposePackageVersions checked with the aws cli here, the rest in
-- codeartifact_fake_spec) and the local repository: the table, --json, the
-- step summary, an empty target, the retention plan, --dry-run changing
-- nothing, a fault mid-run and the rerun that converges, bad input.
local peer = require "peer"
local R = require "aws_run"
local fs = require "relrun.fs"
local json = require "relrun.json"
local http = require "relrun.http"
local localrepo = require "relrun.pypi.localrepo"

local AKID, SECRET = "AKIDMAINTAIN00001", "maintain/check+secret/0001"
local ACCOUNT = "111122223333"
local DAY = 86400
local srv, dir

local _ <close> = setmetatable({}, { __close = function()
  if srv then srv:stop() end
  R.rmdir(dir)
end })

dir = R.tempdir()
srv = peer.start{ argv = { "python3", "tests/fakes/codeartifact.py", "--port-file", peer.PORT_FILE,
                           "--credentials", AKID .. ":" .. SECRET, "--account", ACCOUNT } }

local function control(path, doc, method)
  local res = assert(http.request{ method = method or "POST", url = srv.url .. path, body = doc and json.encode(doc) })
  eq(res.status, 200, path .. ": " .. tostring(res.body))
  return json.decode(res.body)
end

local function env(extra)
  local e = { AWS_ACCESS_KEY_ID = AKID, AWS_SECRET_ACCESS_KEY = SECRET, AWS_REGION = "us-east-1",
              AWS_DEFAULT_REGION = "us-east-1", AWS_PROFILE = false, AWS_SESSION_TOKEN = false, AWS_ROLE_ARN = false,
              AWS_CONFIG_FILE = "/dev/null", AWS_SHARED_CREDENTIALS_FILE = "/dev/null",
              AWS_EC2_METADATA_DISABLED = "true", AWS_ENDPOINT_URL_CODEARTIFACT = srv.url, AWS_ENDPOINT_URL = false,
              CODEARTIFACT_DOMAIN = "acme", CODEARTIFACT_ACCOUNT_ID = ACCOUNT, CODEARTIFACT_REPOSITORY = "python",
              S3_WHEELS_BUCKET = false, RELRUN_REPOSITORY_DIR = false, RELRUN_STORAGE_PRICE = false,
              GITHUB_ACTIONS = false, GITHUB_STEP_SUMMARY = false, HOME = dir, RELRUN_LOG = false }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

-- A project folder with pyproject.toml (retention: the TOML text of [tool.relrun.retention]).
local function project(name, retention)
  local p = fs.join(dir, name)
  fs.mkdir(p)
  R.write(fs.join(p, "pyproject.toml"), '[project]\nname = "stock-pipeline"\nversion = "0"\n' ..
    (retention and ("[tool.relrun.retention]\n" .. retention .. "\n") or ""))
  return p
end

local function maintain(args, extra, cwd)
  local argv = { os.getenv("RELRUN") or fs.absolute("build/relrun"), fs.absolute("scripts/maintain.lua") }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local r = assert(require("relrun.proc").run{ argv = argv, env = env(extra), cwd = cwd or dir, stdin = "" })
  return r.code, r.stdout, r.stderr
end

-- The UTC date `days` ago, as a Lua pattern.
local function day(days)
  return (os.date("!%Y-%m-%d", os.time() - days * DAY):gsub("%-", "%%-"))
end

local function succeeds(what, code, out, errout)
  eq(code, 0, what .. ": " .. out .. errout)
  return out, errout
end

-- Seed the fake: { {version, days ago, status} } with a wheel and an sdist each.
local function seed(list)
  local vs = {}
  for i, v in ipairs(list) do
    local w = "stock_pipeline-" .. v[1] .. "-py3-none-any.whl"
    vs[i] = { version = v[1], published = os.time() - v[2] * DAY, status = v[3] or "Published",
              assets = { { name = w, size = 1000 + i }, { name = "stock_pipeline-" .. v[1] .. ".tar.gz", size = 500 } } }
  end
  control("/__seed", { domain = "acme", repository = "python", package = "stock-pipeline", versions = vs })
end

-- The fake's versions and statuses (ListPackageVersions, which
-- codeartifact_fake_spec checks with the aws cli).
local function statuses()
  local ca = assert(require("relrun.aws.codeartifact").client{ region = "us-east-1", endpoint = srv.url,
    credentials = require("relrun.aws.credentials").static(AKID, SECRET) })
  local list = ca:list_package_versions{ domain = "acme", repository = "python", format = "pypi",
                                         package = "stock-pipeline", max_results = 1000 }
  local map = {}
  for _, v in ipairs(list or {}) do map[v.version] = v.status end
  return map
end

describe("maintain.lua versions", function()
  local p = project("ca")

  it("says an empty repository has no version (and no package yet)", function()
    control("/__reset")
    control("/__seed", { domain = "acme", repository = "python", package = "stock-pipeline", versions = {} })
    local out = succeeds("empty", maintain({ "versions", "--project", p }))
    contains(out, "0 version(s), 0 B stored: about $0.00 a month")
    control("/__reset")
    control("/__seed", { domain = "acme", repository = "other", package = "x", versions = {} })
    out = succeeds("no such package", maintain({ "versions", "--project", p, "--json" }))
    local doc = json.decode(out)
    eq(#doc.versions, 0)
    eq(doc.total.bytes, 0)
  end)

  it("lists every version with status, kind, publish time, size, and the month's cost", function()
    control("/__reset")
    seed{ { "1.0.0", 90 }, { "1.1.0rc1", 60, "Unlisted" }, { "1.1.0", 50 }, { "1.1.0.post1", 40, "Archived" },
          { "1.2.0.dev3", 3 } }
    local summary = fs.join(dir, "summary.md")
    R.write(summary, "")
    local out = succeeds("versions", maintain({ "versions", "--project", p, "--price", "0.10" },
      { GITHUB_ACTIONS = "true", GITHUB_STEP_SUMMARY = summary }))
    ok(out:find("1%.1%.0rc1%s+Unlisted%s+pre%s+%d%d%d%d%-%d%d%-%d%d"), out)
    ok(out:find("1%.1%.0%.post1%s+Archived%s+post"), out)
    ok(out:find("1%.2%.0%.dev3%s+Published%s+dev"), out)
    ok(out:find("1%.0%.0%s+Published%s+final%s+" .. day(90)), out)
    -- 5 versions: wheels 1001..1005 bytes, sdists 500 each
    local total = 1001 + 1002 + 1003 + 1004 + 1005 + 5 * 500
    contains(out, "5 version(s), " .. string.format("%.1f KiB", total / 1024) .. " stored")
    contains(out, "at $0.10 per GB-month")
    local md = R.read(summary)
    contains(md, "### Versions in CodeArtifact acme/python")
    contains(md, "| 1.2.0.dev3 | Published | dev |")
  end)

  it("--json: one document a program reads", function()
    local out = succeeds("json", maintain({ "versions", "--project", p, "--json" }))
    local doc = json.decode(out)
    eq(#doc.versions, 5)
    eq(doc.versions[1].version, "1.0.0")   -- oldest first
    eq(doc.versions[1].files[1].sha256:match("^%x+$") ~= nil, true)
    eq(doc.total.price_per_gb_month, 0.05)
    eq(doc.total.by_kind.final.count, 2)
    eq(doc.total.versions, 5)
    ok(doc.versions[5].published:match("^%d%d%d%d%-%d%d%-%d%dT"), doc.versions[5].published)
  end)

  it("takes the price from [tool.relrun] storage_price and refuses a bad one", function()
    local q = fs.join(dir, "priced")
    fs.mkdir(q)
    R.write(fs.join(q, "pyproject.toml"), '[project]\nname = "stock-pipeline"\n[tool.relrun]\nstorage_price = 0.5\n')
    local out = succeeds("price", maintain({ "versions", "--project", q }))
    contains(out, "at $0.50 per GB-month")
    local code, _, err = maintain({ "versions", "--project", q, "--price", "cheap" })
    eq(code, 2, err)
    contains(err, "storage_price (from --storage-price) must be a number")
    code, _, err = maintain({ "versions", "--project", p, "--frobnicate" })
    eq(code, 2)
    contains(err, "unknown option --frobnicate")
  end)

  it("fails in one line when CodeArtifact refuses", function()
    control("/__fault", { target = "ListPackageVersions", kind = "denied" })
    local code, _, err = maintain({ "versions", "--project", p })
    eq(code, 1)
    contains(err, "ListPackageVersions stock-pipeline:")
    contains(err, "not authorized")
    local lines = {}
    for line in err:gmatch("[^\n]+") do
      if not line:find("^relrun: using %d+ files? that differ") then lines[#lines + 1] = line end
    end
    eq(#lines, 1, "one line: " .. err)
  end)
end)

describe("maintain.lua prune on CodeArtifact", function()
  local p = project("prune", "keep_dev = 2\nolder_than_days = 7")

  local function world()
    control("/__reset")
    control("/__fault", nil, "DELETE")
    local list = { { "1.0.0", 400 }, { "1.1.0rc1", 300 } }
    for i = 1, 150 do list[#list + 1] = { "1.1.0.dev" .. i, 200 - i } end   -- dev150 is 50 days old
    list[#list + 1] = { "1.1.0.dev151", 1 }
    seed(list)
  end

  it("shows the plan and --dry-run removes nothing", function()
    world()
    local out = succeeds("dry run", maintain({ "prune", "--project", p, "--dry-run" }))
    ok(out:find("keep%s+1%.0%.0%s+Published%s+final%s+the latest final release"), out)
    ok(out:find("keep%s+1%.1%.0rc1%s+Published%s+pre"), out)
    ok(out:find("keep%s+1%.1%.0%.dev151%s+Published%s+dev%s+among the newest 2"), out)
    ok(out:find("dispose%s+1%.1%.0%.dev1%s+Published%s+dev%s+older than 7 days"), out)
    contains(out, "will dispose 149")
    local s = statuses()
    for v, st in pairs(s) do eq(st, "Published", v) end
  end)

  it("a fault mid-run stops with what was done and the rerun; the rerun converges", function()
    -- 149 to dispose: two calls of at most 100; the second one is refused
    control("/__fault", { target = "DisposePackageVersions", kind = "denied", skip = 1 })
    local code, out, err = maintain({ "prune", "--project", p, "--yes" })
    eq(code, 1, out .. err)
    contains(out, "stopped at step 'target'")
    contains(err, "then rerun `")
    local s = statuses()
    local disposed = 0
    for _, st in pairs(s) do if st == "Disposed" then disposed = disposed + 1 end end
    eq(disposed, 100, "the first call went through")
    out = succeeds("rerun", maintain({ "prune", "--project", p, "--yes" }))
    contains(out, "dispose 49 version(s)")
    s = statuses()
    eq(s["1.0.0"], "Published")
    eq(s["1.1.0rc1"], "Published")
    eq(s["1.1.0.dev150"], "Published")
    eq(s["1.1.0.dev151"], "Published")
    for i = 1, 149 do eq(s["1.1.0.dev" .. i], "Disposed", "dev" .. i) end
    -- and once more: nothing left to do
    out = succeeds("third run", maintain({ "prune", "--project", p, "--yes" }))
    ok(out:find("done%s+1%.1%.0%.dev1%s+Disposed"), out)
    contains(out, "already done")
    local doc = json.decode((succeeds("versions", maintain({ "versions", "--project", p, "--json" }))))
    -- 1.0.0, 1.1.0rc1, dev150, dev151: the 1st, 2nd, 152nd and 153rd seeded
    eq(doc.total.bytes, 1001 + 1002 + 1152 + 1153 + 4 * 500, "only the kept versions' files")
  end)

  it("killed while a call is in flight, the rerun converges", function()
    world()
    -- the second DisposePackageVersions is held 2 s by the fake: prune is
    -- killed while it waits (the call then completes on the server, as a
    -- request already sent does), and the rerun races it
    control("/__fault", { target = "DisposePackageVersions", kind = "slow", delay = 2, skip = 1 })
    local argv = { os.getenv("RELRUN") or fs.absolute("build/relrun"), fs.absolute("scripts/maintain.lua"), "prune",
                   "--project", p, "--yes" }
    local child = assert(require("relrun.proc").spawn{ argv = argv, env = env(), cwd = dir, stdin = "",
                                                        stdout = "null", stderr = "null" })
    local seen = 0
    for _ = 1, 300 do
      seen = control("/__stats", nil, "GET").requests.DisposePackageVersions or 0
      if seen >= 2 then break end
      os.execute("sleep 0.05")
    end
    eq(seen, 2, "the second call was sent")
    child:kill(9)
    local r = child:wait()
    eq(r.signal, 9, "killed")
    local out = succeeds("rerun", maintain({ "prune", "--project", p, "--yes" }))
    contains(out, "Pruned: 149 version(s)")
    local s = statuses()
    for i = 1, 149 do eq(s["1.1.0.dev" .. i], "Disposed", "dev" .. i) end
    eq(s["1.1.0.dev150"], "Published")
    -- the held call ends before the next test reseeds the fake
    for _ = 1, 600 do
      local st = control("/__stats", nil, "GET")
      if (st.done.DisposePackageVersions or 0) >= (st.requests.DisposePackageVersions or 0) then break end
      os.execute("sleep 0.05")
    end
  end)

  it("--include-finals and --action delete, from flags over the file", function()
    world()
    local out = succeeds("delete", maintain({ "prune", "--project", p, "--keep-dev", "1", "--older-than", "0",
                                              "--include-finals", "--action", "delete", "--yes", "--json" }))
    local doc = json.decode(out)
    eq(doc.ok, true)
    eq(doc.policy.action, "delete")
    local s = statuses()
    local left = {}
    for v in pairs(s) do left[#left + 1] = v end
    table.sort(left)
    -- the newest release besides the latest final stays too (keep 1 of each)
    eq(left, { "1.0.0", "1.1.0.dev151", "1.1.0rc1" })
  end)

  it("--package: prunes another package and keeps what the project's latest final requires", function()
    control("/__reset")
    seed{ { "1.0.0", 10 } }
    control("/__seed", { domain = "acme", repository = "python", package = "stock-pipeline",
      versions = { { version = "1.0.0", published = os.time() - 10 * DAY, requires = { "stock-utils==0.3.0.dev7" },
                     assets = { { name = "stock_pipeline-1.0.0-py3-none-any.whl", size = 10 } } } } })
    local vs = {}
    for i = 1, 9 do
      vs[i] = { version = "0.3.0.dev" .. i, published = os.time() - (100 - i) * DAY,
                assets = { { name = "stock_utils-0.3.0.dev" .. i .. "-py3-none-any.whl", size = 10 } } }
    end
    control("/__seed", { domain = "acme", repository = "python", package = "stock-utils", versions = vs })
    local out = succeeds("prune", maintain({ "prune", "--project", p, "--package", "stock-utils", "--keep-dev", "1",
                                             "--yes" }))
    ok(out:find("keep%s+0%.3%.0%.dev7%s+Published%s+dev%s+stock%-pipeline 1%.0%.0 requires stock%-utils==0%.3%.0%.dev7"),
       out)
    contains(out, "dispose 7 version(s)")
    local doc = json.decode((succeeds("versions", maintain({ "versions", "--project", p, "--package", "stock-utils",
                                                             "--json" }))))
    local live = {}
    for _, v in ipairs(doc.versions) do if v.status == "Published" then live[#live + 1] = v.version end end
    eq(live, { "0.3.0.dev7", "0.3.0.dev9" })
  end)

  it("refuses a malformed policy, unknown flags and nothing to go on", function()
    local bad = project("bad", 'keep_dev = "many"')
    local code, _, err = maintain({ "prune", "--project", bad, "--dry-run" })
    eq(code, 2)
    contains(err, "retention.keep_dev (from pyproject.toml [tool.relrun] retention.keep_dev) must be a number")
    code, _, err = maintain({ "prune", "--project", project("none"), "--dry-run" })
    eq(code, 2)
    contains(err, "no retention policy")
    code, _, err = maintain({ "prune", "--project", p, "--keep-dev", "-1" })
    eq(code, 2)
    contains(err, "--keep-dev is a whole number")
    code, _, err = maintain({ "prune", "--project", p, "--action", "shred" })
    eq(code, 2)
    contains(err, "--action must be one of dispose, delete, unlist, archive")
    world()
    code, _, err = maintain({ "prune", "--project", p })
    eq(code, 2, "no terminal, no --yes")
    contains(err, "pass --yes")
  end)
end)

describe("maintain.lua on the local repository", function()
  local repo = fs.join(dir, "repo")
  local p = project("local", "keep_dev = 1")

  local function maintain_here(args)
    return maintain(args, { CODEARTIFACT_DOMAIN = false })
  end

  local function publish(version, days)
    local out = fs.join(dir, "wheels")
    fs.mkdir(out)
    local code, path = R.run{ "python3", "tests/support/aws_mkwheel.py", "stock-pipeline", version, out }
    eq(code, 0, path)
    path = path:gsub("%s+$", "")
    assert(localrepo.publish(repo, path))
    local stored = fs.join(repo, "packages", "stock-pipeline", fs.basename(path))
    eq(R.run{ "touch", "-d", "@" .. (os.time() - days * DAY), stored }, 0)
  end

  it("lists nothing in an empty folder", function()
    local out = succeeds("empty", maintain_here({ "versions", "--project", p, "--repository-dir", repo }))
    contains(out, "0 version(s)")
  end)

  it("lists and prunes the files of a folder, and a rerun has nothing to do", function()
    publish("1.0.0", 30)
    publish("1.1.0.dev1", 20)
    publish("1.1.0.dev2", 10)
    publish("1.1.0.dev3", 1)
    local out = succeeds("versions", maintain_here({ "versions", "--project", p, "--repository-dir", repo }))
    ok(out:find("1%.1%.0%.dev1%s+Published%s+dev%s+" .. day(20)), out)
    contains(out, "4 version(s)")
    local code, _, err = maintain_here({ "prune", "--project", p, "--repository-dir", repo, "--action", "unlist", "--yes" })
    eq(code, 2)
    contains(err, "cannot unlist a version")
    out = succeeds("prune", maintain_here({ "prune", "--project", p, "--repository-dir", repo, "--yes" }))
    contains(out, "dispose 2 version(s)")
    local names = {}
    for _, f in ipairs(localrepo.files(repo, "stock-pipeline")) do names[#names + 1] = f.filename end
    table.sort(names)
    eq(names, { "stock_pipeline-1.0.0-py3-none-any.whl", "stock_pipeline-1.1.0.dev3-py3-none-any.whl" })
    out = succeeds("rerun", maintain_here({ "prune", "--project", p, "--repository-dir", repo, "--yes" }))
    contains(out, "already done")
  end)
end)

describe("the CodeArtifact fake's DisposePackageVersions", function()
  it("answers the aws cli as the service does", function()
    control("/__reset")
    seed{ { "2.0.0", 1 }, { "2.0.1", 1 } }
    local code, out = R.run({ "aws", "codeartifact", "dispose-package-versions", "--endpoint-url", srv.url,
      "--domain", "acme", "--repository", "python", "--format", "pypi", "--package", "stock-pipeline",
      "--versions", "2.0.0", "9.9.9", "--output", "json" }, env())
    eq(code, 0, out)
    local doc = json.decode(out)
    eq(doc.successfulVersions["2.0.0"].status, "Disposed")
    eq(doc.failedVersions["9.9.9"].errorCode, "NOT_FOUND")
    eq(statuses()["2.0.0"], "Disposed")
    code, out = R.run({ "aws", "codeartifact", "list-package-version-assets", "--endpoint-url", srv.url,
      "--domain", "acme", "--repository", "python", "--format", "pypi", "--package", "stock-pipeline",
      "--package-version", "2.0.0", "--output", "json" }, env())
    eq(code, 0, out)
    eq(#json.decode(out).assets, 0, "a disposed version keeps no file")
  end)

  it("answers ListPackageVersionDependencies to the aws cli as the service does", function()
    control("/__seed", { domain = "acme", repository = "python", package = "stock-pipeline",
      versions = { { version = "2.1.0", requires = { "stock-utils (==0.3.0.dev7)", "requests>=2.31; extra == 'http'" },
                     assets = {} } } })
    local code, out = R.run({ "aws", "codeartifact", "list-package-version-dependencies", "--endpoint-url", srv.url,
      "--domain", "acme", "--repository", "python", "--format", "pypi", "--package", "stock-pipeline",
      "--package-version", "2.1.0", "--output", "json" }, env())
    eq(code, 0, out)
    local doc = json.decode(out)
    eq(doc.version, "2.1.0")
    eq(doc.dependencies[1].package, "stock-utils")
    eq(doc.dependencies[1].versionRequirement, "==0.3.0.dev7")
    eq(doc.dependencies[2].versionRequirement, ">=2.31")
  end)
end)
