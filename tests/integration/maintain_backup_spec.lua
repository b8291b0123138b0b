-- label: slow
-- scripts/maintain.lua backup and restore, and prune --s3: the CodeArtifact
-- fake and S3 on moto (signatures checked by both), real wheels made by
-- tests/support/aws_mkwheel.py. The backup check both ways, a restore into
-- an emptied repository, a fault mid-restore and the rerun, a damaged copy
-- refused, bad input, --json.
local peer = require "peer"
local peers = require "aws_peers"
local R = require "aws_run"
local fs = require "relrun.fs"
local json = require "relrun.json"
local http = require "relrun.http"
local hash = require "relrun.hash"

local ACCOUNT = "111122223333"
local BUCKET = "acme-wheels"
local moto, srv, dir, s3

local _ <close> = setmetatable({}, { __close = function()
  if srv then srv:stop() end
  if moto then moto.stop() end
  R.rmdir(dir)
end })

dir = R.tempdir()
moto = peers.moto()
srv = peer.start{ argv = { "python3", "tests/fakes/codeartifact.py", "--port-file", peer.PORT_FILE,
                           "--credentials", moto.akid .. ":" .. moto.secret, "--account", ACCOUNT } }
s3 = assert(require("relrun.aws.s3").client{ region = "us-east-1", endpoint = moto.url,
  credentials = require("relrun.aws.credentials").static(moto.akid, moto.secret) })
assert(s3:create_bucket{ bucket = BUCKET, region = "us-east-1" })

local function control(path, doc, method)
  local res = assert(http.request{ method = method or "POST", url = srv.url .. path, body = doc and json.encode(doc) })
  eq(res.status, 200, path .. ": " .. tostring(res.body))
  return json.decode(res.body)
end

local function env(extra)
  local e = { AWS_ACCESS_KEY_ID = moto.akid, AWS_SECRET_ACCESS_KEY = moto.secret, AWS_REGION = "us-east-1",
              AWS_DEFAULT_REGION = "us-east-1", AWS_PROFILE = false, AWS_SESSION_TOKEN = false, AWS_ROLE_ARN = false,
              AWS_CONFIG_FILE = "/dev/null", AWS_SHARED_CREDENTIALS_FILE = "/dev/null",
              AWS_EC2_METADATA_DISABLED = "true", AWS_ENDPOINT_URL_CODEARTIFACT = srv.url,
              AWS_ENDPOINT_URL_S3 = moto.url, AWS_ENDPOINT_URL = false,
              CODEARTIFACT_DOMAIN = "acme", CODEARTIFACT_ACCOUNT_ID = ACCOUNT, CODEARTIFACT_REPOSITORY = "python",
              S3_WHEELS_BUCKET = BUCKET, RELRUN_REPOSITORY_DIR = false, GITHUB_ACTIONS = false,
              GITHUB_STEP_SUMMARY = false, HOME = dir, RELRUN_LOG = false }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

local proj = fs.join(dir, "project")
fs.mkdir(proj)
R.write(fs.join(proj, "pyproject.toml"), '[project]\nname = "stock-pipeline"\nversion = "0"\n')

local function maintain(args, extra)
  local argv = { os.getenv("RELRUN") or fs.absolute("build/relrun"), fs.absolute("scripts/maintain.lua"),
                 "--project", proj }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local r = assert(require("relrun.proc").run{ argv = argv, env = env(extra), cwd = dir, stdin = "" })
  return r.code, r.stdout, r.stderr
end

local function succeeds(what, code, out, errout)
  eq(code, 0, what .. ": " .. out .. errout)
  return out, errout
end

-- A real wheel of `version`, copied to S3 as relrun's release does -> its sha256.
local function backed_up(version, extra)
  local out = fs.join(dir, "wheels-" .. version)
  fs.mkdir(out)
  local code, path = R.run{ "python3", "tests/support/aws_mkwheel.py", "stock-pipeline", version, out, extra or "" }
  eq(code, 0, path)
  path = path:gsub("%s+$", "")
  local sha = hash.file(path, { "sha256" }).sha256
  assert(s3:upload_file{ bucket = BUCKET, key = "wheels/" .. fs.basename(path), file = path, sha256 = sha,
                         metadata = { sha256 = sha } })
  return sha, fs.basename(path)
end

-- The repository's files: { [filename] = sha256 } over every version.
local function repository()
  local doc = json.decode((succeeds("versions", maintain({ "versions", "--json" }))))
  local out = {}
  for _, v in ipairs(doc.versions) do
    for _, f in ipairs(v.files) do out[f.filename] = f.sha256 end
  end
  return out
end

describe("maintain.lua backup and restore", function()
  local sha1, name1 = backed_up("1.0.0")
  local sha2, name2 = backed_up("1.1.0")

  it("backup of an emptied repository: every S3 file is only in S3 (exit 3)", function()
    control("/__seed", { domain = "acme", repository = "python", package = "stock-pipeline", versions = {} })
    local code, out = maintain({ "backup" })
    eq(code, 3, out)
    contains(out, "only in S3:      " .. name1 .. " (1.0.0): `relrun maintain restore 1.0.0` puts it back")
    contains(out, "0 file(s) backed up with the same sha256; 2 problem(s)")
  end)

  it("restore --dry-run changes nothing; restore puts the version back, hash-checked", function()
    local out = succeeds("dry run", maintain({ "restore", "1.0.0", "--dry-run" }))
    ok(out:find("publish%s+publish them to CodeArtifact acme/python[^\n]*%[will publish 1 file%(s%)%]"), out)
    contains(out, "[done here: 1 file(s) match their sha256 (nothing outside this machine changed)]")
    eq(repository(), {})
    out = succeeds("restore", maintain({ "restore", "1.0.0", "--yes" }))
    contains(out, "✓ download: downloaded and checked")
    contains(out, "✓ verify: every sha256 matches")
    contains(out, "Restored stock-pipeline 1.0.0")
    eq(repository(), { [name1] = sha1 })
  end)

  it("a fault mid-restore stops with the rerun; the rerun converges and does not publish twice", function()
    control("/__fault", { target = "pypi", kind = "status", status = 400, times = 1 })
    local code, out, err = maintain({ "restore", "1.1.0", "--yes" })
    eq(code, 1, out .. err)
    contains(out, "stopped at step 'publish'")
    contains(err, "then rerun `")
    out = succeeds("rerun", maintain({ "restore", "1.1.0", "--yes" }))
    ok(out:find("✓ download: downloaded and checked"), out)
    eq(repository(), { [name1] = sha1, [name2] = sha2 })
    out = succeeds("again", maintain({ "restore", "1.1.0", "--yes" }))
    ok(out:find("✓ publish: already done"), out)
    local code2, out2 = maintain({ "backup" })
    eq(code2, 0, out2)
    contains(out2, "2 file(s) backed up with the same sha256; 0 problem(s)")
  end)

  it("backup finds a file missing in S3 and one that differs; --json", function()
    -- 1.2.0 in the repository only; 1.1.0's S3 copy replaced by other bytes
    control("/__seed", { domain = "acme", repository = "python", package = "stock-pipeline",
      versions = { { version = "1.2.0", assets = { { name = "stock_pipeline-1.2.0-py3-none-any.whl", size = 99 } } } } })
    assert(s3:delete_object{ bucket = BUCKET, key = "wheels/" .. name2 })
    backed_up("1.1.0", "other bytes")
    local code, out = maintain({ "backup", "--json" })
    eq(code, 3, out)
    local doc = json.decode(out)
    eq(doc.ok, 1)
    eq(#doc.missing, 1)
    eq(doc.missing[1].filename, "stock_pipeline-1.2.0-py3-none-any.whl")
    eq(#doc.differs, 1)
    eq(doc.differs[1].sha256, sha2)
    eq(#doc.orphans, 0)
  end)

  it("refuses a damaged copy: the bytes differ from the sha256 S3 records", function()
    local out = fs.join(dir, "bad")
    fs.mkdir(out)
    local code, path = R.run{ "python3", "tests/support/aws_mkwheel.py", "stock-pipeline", "2.0.0", out }
    eq(code, 0, path)
    path = path:gsub("%s+$", "")
    assert(s3:upload_file{ bucket = BUCKET, key = "wheels/" .. fs.basename(path), file = path,
                           metadata = { sha256 = string.rep("0", 64) } })
    local c, o, e = maintain({ "restore", "2.0.0", "--yes" })
    eq(c, 1, o .. e)
    contains(e, "has sha256 " .. hash.file(path, { "sha256" }).sha256 .. ", its metadata says " .. string.rep("0", 64))
    ok(not e:find("rerun"), "no rerun for a damaged copy: " .. e)
    eq(repository()["stock_pipeline-2.0.0-py3-none-any.whl"], nil)
  end)

  it("an empty case: a package neither in the repository nor in S3 has nothing to report", function()
    local code, out = maintain({ "backup", "--package", "nothing-here" })
    eq(code, 0, out)
    contains(out, "0 file(s) backed up with the same sha256; 0 problem(s)")
  end)

  it("refuses bad input", function()
    local code, _, err = maintain({ "restore" })
    eq(code, 2)
    contains(err, "restore needs the VERSION")
    code, _, err = maintain({ "restore", "not a version" })
    eq(code, 2)
    contains(err, "is not a PEP 440 version")
    code, _, err = maintain({ "restore", "9.9.9", "--yes" })
    eq(code, 1)
    contains(err, "no file of stock-pipeline 9.9.9 under s3://" .. BUCKET .. "/wheels/")
    code, _, err = maintain({ "backup" }, { S3_WHEELS_BUCKET = false })
    eq(code, 2)
    contains(err, "no backup bucket: set S3_WHEELS_BUCKET")
    code, _, err = maintain({ "backup", "extra" })
    eq(code, 2)
    contains(err, "unexpected argument")
  end)
end)

describe("maintain.lua prune --s3", function()
  it("disposes the versions and deletes their S3 copies, and a rerun has nothing to do", function()
    control("/__reset")
    local vs = {}
    for i = 1, 3 do
      local v = "3.0.0.dev" .. i
      backed_up(v)
      vs[i] = { version = v, published = os.time() - (10 - i) * 86400,
                assets = { { name = "stock_pipeline-" .. v .. "-py3-none-any.whl", size = 10 } } }
    end
    control("/__seed", { domain = "acme", repository = "python", package = "stock-pipeline", versions = vs })
    local out = succeeds("prune", maintain({ "prune", "--keep-dev", "1", "--s3", "--yes" }))
    contains(out, "2 object(s) deleted")
    local keys = {}
    for _, o in ipairs(assert(s3:list_objects{ bucket = BUCKET, prefix = "wheels/stock_pipeline-3" })) do
      keys[#keys + 1] = o.key
    end
    eq(keys, { "wheels/stock_pipeline-3.0.0.dev3-py3-none-any.whl" })
    out = succeeds("rerun", maintain({ "prune", "--keep-dev", "1", "--s3", "--yes" }))
    ok(out:find("✓ s3: already done"), out)
  end)
end)
