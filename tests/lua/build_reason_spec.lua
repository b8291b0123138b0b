-- relrun.build.reason: the one line a failed build is reported with, on
-- the output of real backends' failures (Debian 12's setuptools 66 on an
-- SPDX license, poetry-core on a [tool.poetry] without a name, aiohttp's
-- setup.py in a clone without its submodules, an unknown classifier).
local build = require "relrun.build"

local function lines(text)
  local out = {}
  for l in (text .. "\n"):gmatch("([^\n]*)\n") do out[#out + 1] = l end
  return out
end

describe("relrun.build.reason", function()
  it("names the exception, not the heading of the schema below it (setuptools 66, SPDX license)", function()
    eq(build.reason(lines([[
* Getting build dependencies for sdist...
ValueError: invalid pyproject.toml config: `project.license`.
configuration error: `project.license` must be valid exactly by one definition (2 matches found):

    - keys:
        'file': {type: string}
      required: ['file']

ERROR Backend subprocess exited when trying to invoke get_requires_for_build_sdist]])),
      "ValueError: invalid pyproject.toml config: `project.license`.")
  end)

  it("takes an exception's indented details along, not the traceback's source line (poetry-core)", function()
    eq(build.reason(lines([[
Traceback (most recent call last):
  File "/usr/lib/python3/dist-packages/poetry/core/factory.py", line 58, in create_poetry
    raise RuntimeError("The Poetry configuration is invalid:\n" + message)
RuntimeError: The Poetry configuration is invalid:
  - 'name' is a required property

ERROR Backend subprocess exited when trying to invoke build_sdist]])),
      "RuntimeError: The Poetry configuration is invalid: - 'name' is a required property")
  end)

  it("with only the wrapper saying error, the last line before it (aiohttp without submodules)", function()
    eq(build.reason(lines([[
* Getting build dependencies for sdist...
Install submodules when building from git clone
ERROR Backend subprocess exited when trying to invoke get_requires_for_build_sdist]])),
      "Install submodules when building from git clone")
  end)

  it("the last error line otherwise (an unknown classifier)", function()
    eq(build.reason(lines([[
running egg_info
error: Invalid distribution metadata: unrecognized classifier 'Not :: A :: Classifier'
ERROR Backend subprocess exited when trying to invoke build_sdist]])),
      "error: Invalid distribution metadata: unrecognized classifier 'Not :: A :: Classifier'")
    eq(build.reason({}), "no output")
  end)
end)

describe("relrun.build.missing_requirements", function()
  it("names a requirement without its marker, with what is installed (pyyaml's Cython; python_version < ...)", function()
    local python = "/usr/bin/python3"
    local missing = assert(build.missing_requirements(python, {
      "relrun-absent-requirement; python_version >= '3'", "setuptools>=999", "setuptools", "other; python_version < '3'" }))
    eq(#missing, 2, table.concat(missing, ", "))
    eq(missing[1], "relrun-absent-requirement (not installed)")
    ok(missing[2]:find("^setuptools>=999 %([%d.]+ is installed%)$"), missing[2])
  end)
end)

describe("relrun.build.reason on more backends' failures", function()
  it("an exception under a frame with no source line (setup.py run from a string)", function()
    eq(build.reason(lines([[
Traceback (most recent call last):
  File "<string>", line 2, in <module>
ModuleNotFoundError: No module named 'numpy_not_here'
ERROR Backend subprocess exited when trying to invoke get_requires_for_build_sdist]])),
      "ModuleNotFoundError: No module named 'numpy_not_here'")
  end)

  it("python-build's missing dependencies, with the names below the heading", function()
    eq(build.reason(lines("* Getting build dependencies for sdist...\nERROR Missing dependencies:\n\teditables>=0.3\n")),
      "ERROR Missing dependencies: editables>=0.3")
  end)
end)

describe("relrun.build.debian_packages", function()
  local function debian12(names)   -- what Debian 12's apt has, of these
    local has = { cython3 = true, flit = true, ["python3-hatch-vcs"] = true }
    local out = {}
    for _, n in ipairs(names) do out[n] = has[n] end
    return out
  end

  it("names Debian's packages of requirements not installed, not of those too old", function()
    eq(build.debian_packages({ "setuptools>=77 (66.1.1 is installed)", "hatch_fancy.pypi-readme (not installed)",
                               "Cython (not installed)", "flit_core>=3.2 (not installed)" }, debian12),
      "apt install cython3 flit; not packaged by Debian: hatch_fancy.pypi-readme")
    eq(build.debian_packages({ "hatchling>=1.27 (1.12.2 is installed)" }, debian12), nil)
    eq(build.install_advice({ "hatchling>=1.27 (1.12.2 is installed)" }, debian12),
      "the installed one is too old (Debian 12's packages are)")
    eq(build.install_advice({ "hatch-vcs (not installed)" }, debian12),
      "install it for that interpreter (Debian: apt install python3-hatch-vcs)")
    eq(build.debian_packages({ "hatch-vcs (not installed)" }, function() return nil end), "apt install python3-hatch-vcs")
  end)

  it("asks apt which packages it has, where apt can say", function()
    local said = build.debian_packages({ "hatch-vcs (not installed)", "relrun-absent-plugin (not installed)" })
    ok(said == "apt install python3-hatch-vcs python3-relrun-absent-plugin" or
       said == "apt install python3-hatch-vcs; not packaged by Debian: relrun-absent-plugin", said)
  end)
end)
