-- relrun.pypi.* against real clients: the upload form relrun posts equals the
-- one `twine upload` (Debian's twine 4.0.2) posts for the same wheel and
-- sdist, field by field, both recorded by tests/fakes/pypi_record.py; reruns
-- are safe (identical skipped, different refused, a 409 judged by hashes);
-- and pip installs from the local repository.
local upload_api = require "relrun.pypi.upload"
local index = require "relrun.pypi.index"
local localrepo = require "relrun.pypi.localrepo"
local fs = require "relrun.fs"
local hash = require "relrun.hash"
local json = require "relrun.json"
local example = require "pypi_example"

local run = example.run
local USER, PASSWORD = "aws", "s3cr3t-token-for-tests"

local function start(record, extra)
  local opts = { record = record, "--username", USER, "--password", PASSWORD }
  for _, a in ipairs(extra or {}) do opts[#opts + 1] = a end
  return example.fake(opts)
end

local function records(path)
  local out = {}
  local f = io.open(path, "r")
  if not f then return out end
  for line in f:lines() do out[#out + 1] = assert(json.decode(line)) end
  f:close()
  return out
end

local function upload(server, path, extra)
  local opts = { url = server.url .. "/legacy/", path = path, username = USER, password = PASSWORD,
                 index_url = server.url .. "/simple/", progress = "none" }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return upload_api.upload(opts)
end

-- The sdist again with other tar timestamps: same name, different bytes.
local function rebuilt_sdist(dist, dir)
  local other, x = fs.join(dir, "stock-pipeline-0.1.0.tar.gz"), fs.join(dir, "x")
  assert(fs.mkdir(x))
  run { "tar", "-xzf", dist.sdist, "-C", x }
  run { "tar", "-czf", other, "--mtime=2001-01-01", "-C", x, "stock-pipeline-0.1.0" }
  return other
end

describe("upload", function()
  local tmp, servers
  before_each(function()
    tmp = fs.tempdir("pypi-upload")
    servers = {}
  end)
  after_each(function()
    for _, s in ipairs(servers) do s:stop() end
    tmp:close()
  end)

  it("posts exactly the form twine posts, for the wheel and the sdist", function()
    local dist = example.build("0.1.0")
    local twine_rec, relrun_rec = fs.join(tmp.path, "twine.jsonl"), fs.join(tmp.path, "relrun.jsonl")
    local a, b = start(twine_rec), start(relrun_rec)
    servers = { a, b }
    run { "/usr/bin/twine", "upload", "--disable-progress-bar", "--repository-url", a.url .. "/legacy/",
          dist.wheel, dist.sdist,
          env = { TWINE_USERNAME = USER, TWINE_PASSWORD = PASSWORD, TWINE_NON_INTERACTIVE = "1" } }
    for _, path in ipairs({ dist.wheel, dist.sdist }) do
      local r, err = upload(b, path)
      ok(r, err)
      eq(r.status, "uploaded")
    end
    local theirs, ours = records(twine_rec), records(relrun_rec)
    eq(#theirs, 2, "twine uploaded two files")
    eq(#ours, 2, "relrun uploaded two files")
    for i = 1, 2 do
      local filename = theirs[i].content.filename
      eq(ours[i].content, theirs[i].content, filename .. ": the file part")
      eq(#ours[i].fields, #theirs[i].fields, filename .. ": number of fields")
      for j, field in ipairs(theirs[i].fields) do
        eq(ours[i].fields[j], field, filename .. ": field " .. j .. " (" .. field[1] .. ")")
      end
      eq(ours[i].user, USER)
    end
    -- and the values are the file's own: spot-check against our hashes
    local form = {}
    for _, f in ipairs(ours[1].fields) do form[f[1]] = f[2] end
    eq(form.sha256_digest, hash.file(dist.wheel, { "sha256" }).sha256)
    eq({ form[":action"], form.protocol_version, form.filetype, form.pyversion, form.version },
       { "file_upload", "1", "bdist_wheel", "py3", "0.1.0" })
  end)

  it("posts what twine posts for unusual metadata too (1.2, 2.2, UNKNOWN, CRLF, no body)", function()
    local dir = fs.join(tmp.path, "odd")
    assert(fs.mkdir(dir))
    run { "/usr/bin/python3", (os.getenv("RELRUN_SOURCE_DIR") or ".") .. "/tests/support/pypi_odd_dists.py", dir }
    local files = fs.glob(fs.join(dir, "*"))
    eq(#files, 4)
    local twine_rec, relrun_rec = fs.join(tmp.path, "twine.jsonl"), fs.join(tmp.path, "relrun.jsonl")
    local a, b = start(twine_rec), start(relrun_rec)
    servers = { a, b }
    local argv = { "/usr/bin/twine", "upload", "--disable-progress-bar", "--repository-url", a.url .. "/legacy/",
                   env = { TWINE_USERNAME = USER, TWINE_PASSWORD = PASSWORD, TWINE_NON_INTERACTIVE = "1" } }
    for _, f in ipairs(files) do argv[#argv + 1] = f end
    run(argv)
    for _, f in ipairs(files) do assert(upload(b, f, { precheck = false })) end
    local theirs, ours = records(twine_rec), {}
    for _, r in ipairs(records(relrun_rec)) do ours[r.content.filename] = r end
    eq(#theirs, #files, "twine uploaded every file")
    for _, t in ipairs(theirs) do
      local mine = ours[t.content.filename]
      ok(mine, t.content.filename .. " uploaded by relrun")
      eq(mine.content, t.content, t.content.filename)
      eq(mine.fields, t.fields, t.content.filename)
    end
  end)

  it("skips an identical re-upload and refuses different bytes, both before posting", function()
    local dist = example.build("0.1.0")
    local rec = fs.join(tmp.path, "rec.jsonl")
    local s = start(rec)
    servers = { s }
    assert(upload(s, dist.sdist))
    local again = assert(upload(s, dist.sdist))
    eq(again.status, "identical")
    eq(again.message, "stock-pipeline-0.1.0.tar.gz: already published, identical")
    local other = rebuilt_sdist(dist, tmp.path)
    local r, msg, code = upload(s, other)
    eq({ r, code }, { nil, "CONFLICT" })
    contains(msg, hash.file(other, { "sha256" }).sha256)
    contains(msg, hash.file(dist.sdist, { "sha256" }).sha256)
    contains(msg, "refusing to overwrite")
    eq(#records(rec), 1, "only the first upload reached the server")
  end)

  it("judges a 409 by the index's hash, not by its text", function()
    local dist = example.build("0.1.0")
    local rec = fs.join(tmp.path, "rec.jsonl")
    local s = start(rec, { "--conflict-always" })
    servers = { s }
    assert(upload(s, dist.sdist))
    local again, err = upload(s, dist.sdist, { precheck = false })
    ok(again, err)
    eq(again.status, "identical", "409 for the same bytes is success")
    local r, msg, code = upload(s, rebuilt_sdist(dist, tmp.path), { precheck = false })
    eq({ r, code }, { nil, "CONFLICT" })
    contains(msg, hash.file(dist.sdist, { "sha256" }).sha256)
    eq(#records(rec), 3, "both re-uploads were posted and refused by the server")
  end)

  it("retries a server error, then uploads once", function()
    local dist = example.build("0.1.0")
    local rec = fs.join(tmp.path, "rec.jsonl")
    local s = start(rec, { "--fail-first", "2" })
    servers = { s }
    local r, err = upload(s, dist.wheel, { retry_delay = 0 })
    ok(r, err)
    eq(r.status, "uploaded")
    eq(#records(rec), 1)
    local s2 = start(fs.join(tmp.path, "rec2.jsonl"), { "--fail-first", "5" })
    servers[#servers + 1] = s2
    local r2, msg, code = upload(s2, dist.wheel, { retry_delay = 0, retries = 1 })
    eq({ r2, code }, { nil, "503" })
    contains(msg, "HTTP 503")
  end)

  it("reports refused credentials without showing them", function()
    local dist = example.build("0.1.0")
    local s = start(fs.join(tmp.path, "rec.jsonl"))
    servers = { s }
    local r, msg, code = upload(s, dist.wheel, { password = "wrong-password-xyz", precheck = false })
    eq({ r, code }, { nil, "AUTH" })
    contains(msg, "HTTP 401")
    ok(not msg:find("wrong-password-xyz", 1, true), "the password is not in the message")
    -- a redirect is named, not followed
    r, msg, code = upload_api.upload { url = s.url .. "/redirect/", path = dist.wheel, progress = "none",
                                 username = USER, password = PASSWORD }
    eq({ r, code }, { nil, "301" })
    contains(msg, "redirecting to /legacy/")
  end)

  it("reads the fake's index as JSON and HTML the way pip does", function()
    local dist = example.build("0.1.0")
    local s = start(fs.join(tmp.path, "rec.jsonl"))
    servers = { s }
    assert(upload(s, dist.wheel))
    local files = assert(index.files(s.url .. "/simple/", "Stock_Pipeline"))
    eq({ #files, files[1].filename, files[1].sha256 },
       { 1, "stock_pipeline-0.1.0-py3-none-any.whl", hash.file(dist.wheel, { "sha256" }).sha256 })
    -- an index without PEP 691 answers HTML: the same files
    local html = start(fs.join(tmp.path, "rec2.jsonl"), { "--html-only" })
    servers[#servers + 1] = html
    assert(upload(html, dist.wheel))
    eq(assert(index.files(html.url .. "/simple/", "stock.pipeline")), files)
    -- pip itself resolves and downloads from the fake (checks the fake)
    local dl = fs.join(tmp.path, "dl")
    run { "/usr/bin/python3", "-m", "pip", "download", "-q", "--no-deps", "--no-cache-dir",
          "--disable-pip-version-check", "-d", dl, "--index-url", s.url .. "/simple/", "stock-pipeline==0.1.0" }
    eq(fs.list(dl), { "stock_pipeline-0.1.0-py3-none-any.whl" })
  end)
end)

describe("local repository", function()
  it("is installed from by pip, and the packages import", function()
    local dist = example.build("0.1.0")
    local tmp = fs.tempdir("pypi-local")
    local repo = fs.join(tmp.path, "repo")
    for _, path in ipairs({ dist.wheel, dist.sdist }) do
      eq(assert(localrepo.publish(repo, path)).status, "published")
    end
    local venv = fs.join(tmp.path, "venv")
    run { "/usr/bin/python3", "-m", "venv", venv }
    run { venv .. "/bin/pip", "install", "-q", "--no-deps", "--no-cache-dir", "--disable-pip-version-check",
          "--index-url", localrepo.index_url(repo), "stock-pipeline==0.1.0" }
    local out = run { venv .. "/bin/python", "-c", "import bronze, silver, ingestion, importlib.metadata as m; "
      .. "print(m.version('stock-pipeline'), silver.refine([]).quotes)" }
    eq(out, "0.1.0 []\n")
    tmp:close()
  end)
end)
