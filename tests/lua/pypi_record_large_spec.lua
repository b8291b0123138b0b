-- label: slow
-- RECORD verification of a wheel holding more than relrun.archive's default
-- read limit (128 MB uncompressed): a release with a large data file is a
-- real wheel (the Ctrl-C case of issue 12 used 200 MB), checked up to what
-- it declares; one inflating past its declared sizes is still refused.
-- Slow: 130 MB in memory, left out of the ASan pass.
local metadata = require "relrun.pypi.metadata"
local fs = require "relrun.fs"
local example = require "pypi_example"

local MB = 130

describe("RECORD of a large wheel", function()
  local tmp
  before_each(function() tmp = fs.tempdir("pypi-large") end)
  after_each(function() tmp:close() end)

  it("a wheel with " .. MB .. " MB of data verifies", function()
    local big = fs.join(tmp.path, "stock_pipeline-0.1.0-py3-none-any.whl")
    -- the example's wheel plus a large member, listed in RECORD with its
    -- hash and size as a build backend writes it
    example.run { "/usr/bin/python3", "-c", [[
import sys, zipfile, hashlib, base64
src, dst, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = bytes(mb << 20)
digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
    for item in zin.infolist():
        body = zin.read(item.filename)
        if item.filename.endswith(".dist-info/RECORD"):
            body += ("bronze/big.bin,sha256=%s,%d\n" % (digest, len(data))).encode()
        zout.writestr(item, body)
    zout.writestr("bronze/big.bin", data)
]], example.build("0.1.0").wheel, big, tostring(MB) }
    eq({ metadata.verify_record(big) }, { true })
  end)
end)
