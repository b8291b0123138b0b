-- build.missing_kinds and build.wheel_matches: the set of files a release
-- must have ([tool.relrun] expect), as `release.lua publish --dist` and a
-- build check it: wheel tag patterns matched against the file's tags.
local build = require "relrun.build"

local SDIST = { filename = "fx_demo-1.0.tar.gz", kind = "sdist" }
local LINUX = { filename = "fx_demo-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", kind = "wheel" }
local WIN = { filename = "fx_demo-1.0-cp312-cp312-win_amd64.whl", kind = "wheel" }
local ABI3 = { filename = "fx_demo-1.0-cp38-abi3-macosx_11_0_arm64.whl", kind = "wheel" }

describe("expect: the set of a release's files", function()
  it("matches each pattern part against a tag field, in order, by its start or a glob", function()
    ok(build.wheel_matches(LINUX.filename, "cp311-manylinux"), "cp311-manylinux")
    ok(build.wheel_matches(LINUX.filename, "manylinux2014"), "the second platform of a compressed tag set")
    ok(build.wheel_matches(LINUX.filename, "cp311-cp311-manylinux_2_17_x86_64"), "the whole tag")
    ok(build.wheel_matches(LINUX.filename, "*x86_64"), "a glob")
    ok(build.wheel_matches(ABI3.filename, "abi3"), "the abi alone")
    ok(build.wheel_matches(WIN.filename, "cp312-win"), "cp312-win")
    ok(not build.wheel_matches(LINUX.filename, "cp312-manylinux"), "another python")
    ok(not build.wheel_matches(LINUX.filename, "manylinux-cp311"), "fields out of order")
    ok(not build.wheel_matches(LINUX.filename, "linux"), "not a field's start")
    ok(not build.wheel_matches(SDIST.filename, "cp311"), "an sdist has no tags")
  end)

  it("names what is missing and what is extra", function()
    eq(build.missing_kinds({ SDIST, LINUX }), {}, "the default: an sdist and a wheel")
    eq(build.missing_kinds({ LINUX }), { "missing sdist (expect = sdist, wheel)" })
    eq(build.missing_kinds({ SDIST, LINUX, WIN }, { "sdist", "cp311-manylinux", "cp311-win" }),
      { "missing cp311-win (expect = sdist, cp311-manylinux, cp311-win)",
        "extra " .. WIN.filename .. " (matches nothing in expect = sdist, cp311-manylinux, cp311-win)" })
    eq(build.missing_kinds({ { filename = LINUX.filename } }, { "wheel" }), {}, "the kind from the file name")
  end)

  it("takes a count of files", function()
    eq(build.missing_kinds({ SDIST, LINUX, WIN }, 3), {})
    eq(build.missing_kinds({ SDIST, LINUX }, 3), { "2 file(s), expect = 3" })
  end)
end)
