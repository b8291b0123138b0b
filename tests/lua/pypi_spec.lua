-- relrun.pypi.* without a network: names, file names, core metadata (checked
-- against pkginfo, the parser twine uses), RECORD verification, the upload
-- form's shape, simple-index pages, and the local repository's rules.
local metadata = require "relrun.pypi.metadata"
local upload_api = require "relrun.pypi.upload"
local index = require "relrun.pypi.index"
local localrepo = require "relrun.pypi.localrepo"
local fs = require "relrun.fs"
local hash = require "relrun.hash"
local json = require "relrun.json"
local example = require "pypi_example"

local run = example.run

-- pkginfo's reading of a file (twine's own parser), as JSON.
local function pkginfo(path)
  local code = [[
import json, sys, pkginfo
from twine import wheel
p = sys.argv[1]
if p.endswith(".whl"):
    d = wheel.Wheel(p)
elif p.endswith(".tar.gz"):
    d = pkginfo.SDist(p)
else:
    d = pkginfo.Distribution()
    d.parse(open(p, "rb").read())
print(json.dumps({a: (list(v) if isinstance(v, tuple) else v) for a in d for v in [getattr(d, a)]}))
]]
  return json.decode(run { "/usr/bin/python3", "-c", code, path })
end

local function same_as_pkginfo(meta, theirs)
  for key, value in pairs(theirs) do
    if key ~= "metadata_version" or value ~= json.null then
      local mine = meta[key]
      if value == json.null then value = nil end
      if type(value) == "table" and #value == 0 then value = nil end
      if type(mine) == "table" and #mine == 0 then mine = nil end
      eq(mine, value, key)
    end
  end
end

describe("names", function()
  it("normalizes as PEP 503 says", function()
    local cases = { ["Stock_Pipeline"] = "stock-pipeline", ["a.b-_c"] = "a-b-c", FOO = "foo",
                    ["foo--__..bar"] = "foo-bar", ["stock-pipeline"] = "stock-pipeline" }
    for input, want in pairs(cases) do eq(metadata.normalize(input), want, input) end
  end)

  it("accepts exactly the names PEP 508 allows (checked with the PEP's regular expression in Python)", function()
    local names = { "a", "stock-pipeline", "Stock_Pipeline", "zope.interface", "a1", "1a", "A.b_c-D",
                    "/abs/OUTSIDE", "../x", "x/..", "a b", "-x", "x-", ".x", "x.", "_", "", "é", "a\nb", "a/b",
                    "..", "x\0y" }
    local code = [[
import re, sys
for n in sys.argv[1:]:
    print(bool(re.match(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])\Z", n, re.IGNORECASE)))
]]
    local argv = { "/usr/bin/python3", "-c", code }
    local sent = {}
    for _, n in ipairs(names) do
      if not n:find("\0", 1, true) then argv[#argv + 1] = n; sent[#sent + 1] = n end
    end
    local i = 0
    for line in run(argv):gmatch("[^\n]+") do
      i = i + 1
      eq(metadata.valid_name(sent[i]), line == "True", string.format("%q", sent[i]))
    end
    eq(i, #sent)
    eq(metadata.valid_name("x\0y"), false)
  end)

  it("gives twine's safe_name", function()
    eq(metadata.safe_name("stock_pipeline"), "stock-pipeline")
    eq(metadata.safe_name("zope.interface"), "zope.interface")
    eq(metadata.safe_name("My  Pkg!!x"), "My-Pkg-x")
  end)
end)

describe("file names", function()
  it("parses wheel names (PEP 427)", function()
    local w = assert(metadata.parse_wheel_filename("dist/stock_pipeline-1.2.0-py3-none-any.whl"))
    eq({ w.name, w.version, w.build, w.python, w.abi, w.platform, w.filename },
       { "stock_pipeline", "1.2.0", nil, "py3", "none", "any", "stock_pipeline-1.2.0-py3-none-any.whl" })
    w = assert(metadata.parse_wheel_filename("pkg-2.0-1b-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"))
    eq({ w.build, w.python, #w.tags }, { "1b", "cp311", 2 })
    eq(assert(metadata.parse_wheel_filename("six-1.16.0-py2.py3-none-any.whl")).tags,
       { "py2-none-any", "py3-none-any" })
    for _, bad in ipairs({ "pkg-1.0.whl", "pkg-1.0-py3-none-any.zip", "pkg-1.0-x-py3-none-any.whl",
                           "pkg--py3-none-any.whl" }) do
      local r, msg = metadata.parse_wheel_filename(bad)
      eq(r, nil, bad)
      contains(msg, bad)
    end
  end)

  it("parses sdist names, old (project's spelling) and PEP 625", function()
    local cases = {
      { "stock-pipeline-1.0.0.tar.gz", "stock-pipeline", "1.0.0" },
      { "stock_pipeline-1.0.0.tar.gz", "stock_pipeline", "1.0.0" },
      { "/x/foo-bar-baz-2.0rc1.zip", "foo-bar-baz", "2.0rc1" },
      { "pkg-1.0.dev3+g1234567.tar.gz", "pkg", "1.0.dev3+g1234567" },
    }
    for _, c in ipairs(cases) do
      local s = assert(metadata.parse_sdist_filename(c[1]))
      eq({ s.name, s.version }, { c[2], c[3] }, c[1])
    end
    for _, bad in ipairs({ "pkg.tar.gz", "pkg-x.tar.gz", "pkg-1.0.rar", "-1.0.tar.gz" }) do
      local r, msg = metadata.parse_sdist_filename(bad)
      eq(r, nil, bad)
      contains(msg, bad)
    end
    eq(metadata.parse_filename("a-1-py3-none-any.whl").kind, "wheel")
    eq(metadata.parse_filename("a-1.tar.gz").kind, "sdist")
  end)
end)

describe("core metadata", function()
  local tmp
  before_each(function() tmp = fs.tempdir("pypi-spec") end)
  after_each(function() tmp:close() end)

  local TEXT = table.concat({
    "Metadata-Version: 2.1",
    "Name: Odd_Name",
    "Version: 1.0",
    "Summary: a summary",
    "  continued on a second line",
    "Home-page: UNKNOWN",
    "Author: Ann",
    "Keywords: a,b",
    "Classifier: Topic :: One",
    "Classifier: Topic :: Two",
    "Requires-Dist: x>=1; extra == 'y'",
    "Provides-Extra: y",
    "Description: old style",
    "        second line",
    "Dynamic: Version",
    "",
    "The body.",
    "",
    "Second paragraph.",
    "" }, "\n")

  it("reads headers, continuations, lists, UNKNOWN and the body as pkginfo does", function()
    local path = fs.join(tmp.path, "PKG-INFO")
    assert(fs.write(path, TEXT))
    local meta = metadata.parse(TEXT)
    eq(meta.summary, "a summary continued on a second line")
    eq(meta.home_page, nil, "UNKNOWN is absent")
    eq(meta.classifiers, { "Topic :: One", "Topic :: Two" })
    eq(meta.description, "The body.\n\nSecond paragraph.\n")
    eq(meta.dynamic, nil, "Dynamic is not a 2.1 field")
    same_as_pkginfo(meta, pkginfo(path))
  end)

  it("keeps an old-style Description header when there is no body; a wheel always takes the body", function()
    local text = TEXT:gsub("\n\nThe body.*$", "\n")
    eq(metadata.parse(text).description, "old style\nsecond line")
    eq(metadata.parse(text, "wheel").description, "")
    local path = fs.join(tmp.path, "PKG-INFO")
    assert(fs.write(path, text))
    same_as_pkginfo(metadata.parse(text), pkginfo(path))
  end)

  it("reads the example's wheel and sdist like twine does", function()
    local dist = example.build("0.1.0")
    for _, path in ipairs({ dist.wheel, dist.sdist }) do
      local meta = assert(metadata.read(path))
      eq({ meta.name, meta.version, meta.metadata_version, meta.requires_python },
         { "stock-pipeline", "0.1.0", "2.1", ">=3.9" })
      contains(meta.description, "# stock-pipeline")
      same_as_pkginfo(meta, pkginfo(path))
    end
    eq(assert(metadata.read(dist.wheel)).member, "stock_pipeline-0.1.0.dist-info/METADATA")
    eq(assert(metadata.read(dist.sdist)).member, "stock-pipeline-0.1.0/PKG-INFO")
  end)

  it("names what an index would reject", function()
    eq(metadata.problems(metadata.parse("Metadata-Version: 2.1\nName: x\n\n")), { "Version is missing" })
    -- like pkginfo, no Metadata-Version means no known fields at all
    eq(metadata.problems(metadata.parse("Name: x\nVersion: 1\n")),
       { "Metadata-Version is missing", "Name is missing", "Version is missing" })
    local r, msg, code = metadata.read(fs.join(tmp.path, "none-1.0-py3-none-any.whl"))
    eq({ r, code }, { nil, "ENOENT" })
    contains(msg, "none-1.0-py3-none-any.whl")
  end)
end)

describe("RECORD", function()
  local tmp
  before_each(function() tmp = fs.tempdir("pypi-spec") end)
  after_each(function() tmp:close() end)

  -- Copy the wheel, changing it with Python's zipfile.
  local function tamper(src, dst, action)
    run { "/usr/bin/python3", "-c", [[
import sys, zipfile
src, dst, action = sys.argv[1:4]
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
    for item in zin.infolist():
        data = zin.read(item)
        if action == "edit" and item.filename == "silver/quotes.py":
            data += b"\n# changed\n"
        if action == "drop" and item.filename == "bronze/records.py":
            continue
        zout.writestr(item, data)
    if action == "add":
        zout.writestr("extra.py", "x = 1\n")
]], src, dst, action }
  end

  it("verifies the example's wheel", function()
    eq(metadata.verify_record(example.build("0.1.0").wheel), true)
  end)

  it("names a file whose hash does not match, one missing and one unlisted", function()
    local wheel = example.build("0.1.0").wheel
    local cases = {
      edit = "silver/quotes.py: sha256 mismatch",
      drop = "bronze/records.py: listed in RECORD but missing from the wheel",
      add = "extra.py: not listed in RECORD",
    }
    for action, want in pairs(cases) do
      local bad = fs.join(tmp.path, action .. "-0.1.0-py3-none-any.whl")
      tamper(wheel, bad, action)
      local r, msg, code, problems = metadata.verify_record(bad)
      eq({ r, code }, { nil, "RECORD" }, action)
      contains(msg, "RECORD does not match")
      eq(#problems, 1, action)
      contains(problems[1], want)
    end
  end)
end)

describe("upload form", function()
  it("has twine's fields in twine's order, digests from one read, the file last", function()
    local dist = example.build("0.1.0")
    local parts, info = assert(upload_api.form(dist.wheel))
    local names = {}
    for _, p in ipairs(parts) do
      if names[#names] ~= p.name then names[#names + 1] = p.name end
    end
    eq(names, { "name", "version", "filetype", "pyversion", "metadata_version", "summary", "home_page",
      "author", "author_email", "maintainer", "maintainer_email", "license", "description", "keywords",
      "classifiers", "download_url", "comment", "sha256_digest", "project_urls", "requires_dist",
      "requires_python", "provides_extras", "description_content_type", "md5_digest",
      "blake2_256_digest", ":action", "protocol_version", "content" })
    local data = assert(fs.read(dist.wheel))
    eq(info.digests.sha256, hash.sha256(data))
    eq(info.digests.md5, hash.md5(data))
    eq(info.digests.blake2_256, hash.blake2b_256(data))
    eq(parts[#parts], { name = "content", file = dist.wheel, filename = "stock_pipeline-0.1.0-py3-none-any.whl",
                        content_type = "application/octet-stream" })
    local sparts = assert(upload_api.form(dist.sdist))
    eq({ sparts[3].value, sparts[4].value }, { "sdist", "" })
    eq({ parts[3].value, parts[4].value }, { "bdist_wheel", "py3" })
  end)
end)

describe("simple index pages", function()
  it("reads PEP 503 links with hashes and escaped names", function()
    local files = index.parse_html([[
<html><body><a href="../../p/a-1.0.tar.gz#sha256=ABCDEF" data-requires-python="&gt;=3.9">a-1.0.tar.gz</a>
<A HREF='https://x/b_1-1.0-py3-none-any.whl#md5=00'>b_1-1.0-py3-none-any.whl</A>
<a href="/c&amp;d-1.0.zip" data-yanked="">c&amp;d-1.0.zip</a></body></html>]])
    eq(files[1], { filename = "a-1.0.tar.gz", url = "../../p/a-1.0.tar.gz", sha256 = "abcdef",
                   requires_python = ">=3.9", yanked = false })
    eq({ files[2].filename, files[2].sha256 }, { "b_1-1.0-py3-none-any.whl", nil })
    eq({ files[3].filename, files[3].url, files[3].yanked }, { "c&d-1.0.zip", "/c&d-1.0.zip", true })
  end)

  it("reads PEP 691 JSON", function()
    local files = assert(index.parse_json(json.encode({ meta = { ["api-version"] = "1.0" }, name = "a",
      files = { { filename = "a-1.tar.gz", url = "u", hashes = { sha256 = "AB" }, ["requires-python"] = ">=3" } } })))
    eq(files, { { filename = "a-1.tar.gz", url = "u", sha256 = "ab", requires_python = ">=3", yanked = false } })
    local r, msg = index.parse_json("{}")
    eq(r, nil)
    contains(msg, "PEP 691")
  end)
end)

describe("local repository", function()
  local tmp
  before_each(function() tmp = fs.tempdir("pypi-repo") end)
  after_each(function() tmp:close() end)

  it("metadata is read again when the file at a path is replaced", function()
    local one, two = example.build("0.1.0"), example.build("0.2.0")
    local path = fs.join(tmp.path, "x.whl")
    assert(fs.copy(one.wheel, path))
    eq(metadata.read(path).version, "0.1.0")
    assert(fs.copy(two.wheel, path))
    eq(metadata.read(path).version, "0.2.0")
  end)

  it("files are readable by others whatever mode the build left them in (hatchling writes 0600)", function()
    local dist = example.build("0.1.0")
    local private = fs.join(tmp.path, fs.basename(dist.wheel))
    assert(fs.copy(dist.wheel, private, { mode = tonumber("600", 8) }))
    local repo = fs.join(tmp.path, "repo")
    eq(assert(localrepo.publish(repo, private)).status, "published")
    eq(fs.stat(fs.join(repo, "packages", "stock-pipeline", fs.basename(private))).mode, tonumber("644", 8))
  end)

  it("publishes, says identical on a rerun, refuses different bytes", function()
    local dist = example.build("0.1.0")
    local repo = fs.join(tmp.path, "repo")
    eq(assert(localrepo.publish(repo, dist.wheel)).status, "published")
    eq(assert(localrepo.publish(repo, dist.sdist)).status, "published")
    local before = fs.read(fs.join(repo, "simple", "stock-pipeline", "index.html"))
    local again = assert(localrepo.publish(repo, dist.wheel))
    eq(again.status, "identical")
    eq(again.message, "stock_pipeline-0.1.0-py3-none-any.whl: already published, identical")
    eq(fs.read(fs.join(repo, "simple", "stock-pipeline", "index.html")), before, "page unchanged")

    -- the same file name with other bytes (a rebuild with another mtime)
    local other, x = fs.join(tmp.path, "stock-pipeline-0.1.0.tar.gz"), fs.join(tmp.path, "x")
    assert(fs.mkdir(x))
    run { "tar", "-xzf", dist.sdist, "-C", x }
    run { "tar", "-czf", other, "--mtime=2001-01-01", "-C", x, "stock-pipeline-0.1.0" }
    local r, msg, code = localrepo.publish(repo, other)
    eq({ r, code }, { nil, "CONFLICT" })
    contains(msg, hash.file(other, { "sha256" }).sha256)
    contains(msg, hash.file(dist.sdist, { "sha256" }).sha256)
    contains(msg, "refusing to overwrite")
    eq(hash.file(fs.join(repo, "packages", "stock-pipeline", "stock-pipeline-0.1.0.tar.gz"), { "sha256" }).sha256,
       hash.file(dist.sdist, { "sha256" }).sha256, "the published file is untouched")

    local files = localrepo.files(repo, "Stock_Pipeline")
    eq(#files, 2)
    for _, f in ipairs(files) do
      local on_disk = fs.join(repo, "simple", "stock-pipeline", f.url)
      eq(hash.file(on_disk, { "sha256" }).sha256, f.sha256, f.filename)
    end
    contains(fs.read(fs.join(repo, "simple", "index.html")), 'href="stock-pipeline/"')
    eq(fs.glob(fs.join(repo, "*", "*", "*.tmp-*")), {}, "no temporary files left")
  end)

  -- The metadata's Name becomes a folder: one that is not a project name
  -- (an absolute path, "..") is refused before any path is built from it.
  it("refuses a wheel whose Name is a path, and writes nothing outside", function()
    local repo, outside = fs.join(tmp.path, "repo"), fs.join(tmp.path, "OUTSIDE")
    for _, name in ipairs({ outside, "../../escaped", "ok/../../escaped" }) do
      local wheel = fs.join(tmp.path, "outside-1.0-py3-none-any.whl")
      run { "/usr/bin/python3", "-c", [[
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("outside-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: %s\nVersion: 1.0\n" % sys.argv[2])
    z.writestr("outside-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    z.writestr("outside-1.0.dist-info/RECORD", "")
]], wheel, name }
      local r, msg, code = localrepo.publish(repo, wheel)
      eq(fs.exists(outside:lower()), false, "nothing under " .. outside:lower())
      eq(fs.exists(fs.join(tmp.path, "escaped")), false, "nothing escaped")
      eq({ r, code }, { nil, "METADATA" }, name)
      contains(msg, "is not a project name (PEP 508")
      eq(fs.glob(fs.join(repo, "packages", "*")), {}, "nothing in the repository either")
    end
    eq({ localrepo.remove(repo, "../x", "1.0") }, { nil, '"../x" is not a project name (PEP 508)', "EINVAL" })
  end)
end)

describe("upload progress", function()
  it("writes a line every interval when not on a terminal, and the last one", function()
    local out, now = {}, 100
    local p = upload_api.progress("f.whl", "lines",
      { interval = 5, write = function(s) out[#out + 1] = s end, clock = function() return now end })
    p(0, 4 << 20)
    now = 103
    p(1 << 20, 4 << 20)
    now = 105
    p(2 << 20, 4 << 20)
    now = 106
    p(4 << 20, 4 << 20)
    p(4 << 20, 4 << 20)
    eq(out, { "  f.whl: 50% (2.0 MB of 4.0 MB)\n", "  f.whl: 100% (4.0 MB of 4.0 MB)\n" })
  end)

  it("draws a bar that ends with a newline; none and quiet write nothing", function()
    local out = {}
    local p = upload_api.progress("f.whl", "bar", { write = function(s) out[#out + 1] = s end })
    p(512, 1024)
    p(1024, 1024)
    contains(out[1], "\r  f.whl [" .. string.rep("#", 15) .. string.rep(" ", 15) .. "]  50% 512 B/1.0 kB")
    eq(out[#out], "\n")
    eq(upload_api.progress("f.whl", "none"), nil)
  end)
end)
