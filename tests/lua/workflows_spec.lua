-- relrun.workflows: its YAML reader agrees with PyYAML (BaseLoader: every
-- scalar a string) on relrun's own workflow and on the constructs workflows
-- use; refuses what it does not read; and finds the jobs that get an OIDC
-- token on a release tag, with the sub each presents.
local workflows = require "relrun.workflows"
local json = require "relrun.json"
local proc = require "relrun.proc"
local fs = require "relrun.fs"

local function pyyaml(text)
  local r = assert(proc.run{ argv = { "/usr/bin/python3", "-c",
    "import json, sys, yaml; print(json.dumps(yaml.load(sys.stdin.read(), Loader=yaml.BaseLoader)))" },
    stdin = text })
  assert(r.code == 0, r.stderr)
  return json.decode(r.stdout)
end

-- json.decode gives {} for both [] and {}; compare through a canonical text.
local function canon(v)
  if type(v) ~= "table" then return v == json.null and "" or v end
  local out = {}
  for k, x in pairs(v) do out[k] = canon(x) end
  return out
end

local CASES = {
  flow_and_quotes = [[
on:
  push:
    tags: ["v*", 'rel''s-*', {a: b}]
env: { A: "x: y", B: 'z' }   # a comment
list: [ ]
empty:
]],
  sequences_at_key_indent = [[
jobs:
  build:
    steps:
    - uses: actions/checkout@v4
      with:
        fetch-depth: 0
    - name: "Run # not a comment"
      run: echo "a # b" # comment
    -
      name: nested
    - - inner
      - two
]],
  block_scalars = [[
a: |
  line one
    indented
  line three

b: |-
  kept
c: >
  folded
  text

  para
d: >-
  x
e: plain
  continued here
f: "esc \"q\" \t \u00e9"
]],
  -- real projects' workflows: a matrix of flow mappings (pallets), a flow
  -- sequence on the line after its key (pypa/packaging), the document end
  -- marker (zizmor's workflow in hynek's projects)
  matrix_forms = [[
jobs:
  tests:
    strategy:
      matrix:
        include:
          - {python: '3.13'}
          - {name: Windows, python: '3.13', os: windows-latest}
        python_version:
          ["3.10", "3.11",
           "pypy3.10"]
        os:
          ubuntu-latest
    steps:
      - run: echo
...
# trailing comment
]],
  top_level_list = [[
- a
- b: c
  d: e
- [x, y]
]],
}

local function write(dir, name, text)
  assert(fs.mkdir(fs.join(dir, ".github/workflows")))
  assert(fs.write(fs.join(dir, ".github/workflows", name), text))
end

-- The release workflow relrun writes into a package's repository.
local function shipped_workflow()
  return require("relrun.workflow").render{ deb_url = "https://example.com/relrun_0.1.0_amd64.deb",
                                            deb_sha256 = string.rep("ab", 32) }
end

describe("relrun.workflows", function()
  it("reads the release workflow relrun writes exactly as PyYAML does", function()
    local text = shipped_workflow()
    eq(canon(assert(workflows.parse_yaml(text))), canon(pyyaml(text)))
  end)

  for name, text in pairs(CASES) do
    it("reads " .. name:gsub("_", " ") .. " as PyYAML does", function()
      local mine, err = workflows.parse_yaml(text)
      ok(mine, err)
      eq(canon(mine), canon(pyyaml(text)))
    end)
  end

  it("refuses anchors, aliases, tags and tabs with the line, instead of guessing", function()
    local v, err = workflows.parse_yaml("a: &x 1\nb: *x\n")
    eq(v, nil)
    contains(err, "line 1: anchors and aliases")
    contains(select(2, workflows.parse_yaml("a:\n  b: !!str x\n")), "line 2: YAML tags")
    contains(select(2, workflows.parse_yaml("a:\n\tb: 1\n")), "line 2: a tab in the indentation")
    contains(select(2, workflows.parse_yaml("a: 'open\n")), "does not end on its line")
    contains(select(2, workflows.parse_yaml("a: 1\n...\nb: 2\n")), "line 3: more than one YAML document")
    contains(select(2, workflows.parse_yaml("a: 1\n---\nb: 2\n")), "line 2: more than one YAML document")
  end)

  it("turns GitHub filter patterns into IAM patterns that admit at least the same tags", function()
    eq(workflows.iam_pattern("v*"), "v*")
    eq(workflows.iam_pattern("v**"), "v*")
    eq(workflows.iam_pattern("v[0-9]+.[0-9]+.[0-9]+"), "v*")
    eq(workflows.iam_pattern("release-?"), "release-*")
  end)

  it("finds the jobs that get an OIDC token on a release tag, and the sub each presents", function()
    local tmp = fs.tempdir("wf")
    local shipped = shipped_workflow()
    write(tmp.path, "release.yml", shipped)
    local jobs, notes = workflows.release_jobs(tmp.path, { prefix = "v" })
    eq(#jobs, 1, json.encode(notes))
    eq(jobs[1].job, "release")
    eq(jobs[1].environment, "production")
    eq(workflows.subs(jobs[1], "acme/x"), { "repo:acme/x:environment:production" })

    -- Without the environment: the tag ref.
    write(tmp.path, "release.yml", (shipped:gsub("\n    environment: production\n", "\n")))
    jobs = workflows.release_jobs(tmp.path, { prefix = "v" })
    eq(workflows.subs(jobs[1], "acme/x"), { "repo:acme/x:ref:refs/tags/v*" })

    -- A trigger wider than the release tags presents the release tags; a
    -- narrower one only its own; one that no release tag matches is noted.
    write(tmp.path, "release.yml", [[
on: push
permissions: write-all
jobs:
  a: {runs-on: x}
]])
    jobs = workflows.release_jobs(tmp.path, { prefix = "" })
    eq(jobs[1].tags, { "*" })
    jobs = workflows.release_jobs(tmp.path, { prefix = "pkg-v" })
    eq(jobs[1].tags, { "pkg-v*" })
    write(tmp.path, "release.yml", [[
on:
  push:
    tags: ["v1.*", "!v1.0*", "release-*"]
permissions:
  id-token: write
jobs:
  a:
    runs-on: x
    environment:
      name: prod
      url: https://example.com
  b:
    runs-on: x
    permissions:
      contents: read
  c:
    uses: ./.github/workflows/other.yml
]])
    jobs, notes = workflows.release_jobs(tmp.path, { prefix = "v" })
    eq(#jobs, 1)
    eq(jobs[1].environment, "prod")
    eq(jobs[1].tags, { "v1.*" })
    contains(table.concat(notes, "\n"), "job a runs for tags release-*, which no release tag (vVERSION) matches")
    contains(table.concat(notes, "\n"), "job c calls another workflow")

    -- Only branch filters, or no id-token permission: no release job.
    write(tmp.path, "release.yml", "on:\n  push:\n    branches: [main]\npermissions: write-all\njobs:\n  a: {}\n")
    eq(#workflows.release_jobs(tmp.path, {}), 0)
    write(tmp.path, "release.yml", "on:\n  push:\n    tags: [v*]\njobs:\n  a: {}\n")
    eq(#workflows.release_jobs(tmp.path, {}), 0)
    -- A file it cannot read is noted, not guessed.
    write(tmp.path, "release.yml", "on: &x push\n")
    jobs, notes = workflows.release_jobs(tmp.path, {})
    eq(#jobs, 0)
    contains(notes[1], ".github/workflows/release.yml: not read (line 1: anchors")
    tmp:close()
  end)
end)
