-- relrun.cli: one option table gives parsing and --help; usage errors are
-- one line and exit 2 (checked through a real script run by relrun).
local cli = require "relrun.cli"
local fx = require "scm_fixture"

local SPEC = {
  prog = "release",
  summary = "Release the package.",
  commands = { { "prepare", "check the branch" }, { "tag", "create and push the tag" } },
  options = {
    { "-n", "--dry-run", help = "change nothing" },
    { "--bump", arg = "PART", choices = { "major", "minor", "patch" }, help = "which part to bump" },
    { "--branch", arg = "NAME", default = "main", help = "the release branch" },
    { "--version", arg = "X.Y.Z", help = "the version to tag" },
    { "--include", arg = "GLOB", many = true, help = "repeatable" },
  },
}

describe("cli.parse", function()
  it("reads flags, both value forms, commands and defaults", function()
    local o = assert(cli.parse(SPEC, { "tag", "--bump=minor", "-n", "--version", "1.2.3" }))
    eq(o.command, "tag")
    eq(o.bump, "minor")
    eq(o.dry_run, true)
    eq(o.version, "1.2.3")
    eq(o.branch, "main")
    eq(o.args, {})
  end)
  it("options may come before the command; -- ends options", function()
    local o = assert(cli.parse(SPEC, { "--branch", "release", "prepare" }))
    eq(o.command, "prepare")
    eq(o.branch, "release")
    local spec = { prog = "x", args = { { "FILE" } }, options = {} }
    eq(assert(cli.parse(spec, { "--", "--not-an-option" })).args, { "--not-an-option" })
  end)
  it("a value may start with a dash", function()
    eq(assert(cli.parse(SPEC, { "tag", "--version", "-1" })).version, "-1")
  end)
  it("repeatable options collect", function()
    eq(assert(cli.parse(SPEC, { "tag", "--include", "a", "--include=b" })).include, { "a", "b" })
  end)
  for _, case in ipairs({
    { { "tag", "--zzz" }, "unknown option --zzz" },
    { { "tag", "--bump" }, "--bump needs a value" },
    { { "tag", "--bump", "huge" }, "--bump must be one of major, minor, patch" },
    { { "tag", "--dry-run=yes" }, "--dry-run takes no value" },
    { { "publish" }, "unknown command \"publish\"" },
    { {}, "missing command" },
    { { "tag", "extra" }, "unexpected argument \"extra\"" },
  }) do
    it("usage error: " .. case[2], function()
      local o, err = cli.parse(SPEC, case[1])
      eq(o, nil)
      contains(err, case[2])
    end)
  end
  it("-h and --help are always there", function()
    eq(assert(cli.parse(SPEC, { "--help" })).help, true)
    eq(assert(cli.parse(SPEC, { "tag", "-h" })).help, true)
  end)
  it("misuse of the spec raises", function()
    raises(function() cli.parse(nil, {}) end, "spec must be a table")
    raises(function() cli.parse({ options = { { "dry" } } }, {}) end, "start with '%-'")
    raises(function() cli.parse({ options = { { "--help" } } }, {}) end, "given twice")
  end)
end)

describe("cli.help", function()
  it("lists every command and option from the same table", function()
    local h = cli.help(SPEC)
    contains(h, "usage: relrun release COMMAND [options]")
    for _, c in ipairs(SPEC.commands) do contains(h, c[1]) end
    for _, o in ipairs(SPEC.options) do contains(h, o[#o]) ; contains(h, o.help) end
    contains(h, "(major|minor|patch)")
    contains(h, "[default: main]")
    contains(h, "-h, --help")
  end)
end)

describe("cli.parse_or_exit in a script", function()
  local script = os.tmpname() .. ".lua"
  local f = assert(io.open(script, "w"))
  f:write([[
local cli = require "relrun.cli"
local o = cli.parse_or_exit({ prog = "demo.lua", options = { { "--name", arg = "N", help = "a name" } } }, arg)
print("name=" .. tostring(o.name))
]])
  f:close()
  it("runs with good options", function()
    local code, out = fx.relrun({ script, "--name", "x" })
    eq(code, 0)
    eq(out, "name=x\n")
  end)
  it("exits 2 with one line on a usage error", function()
    local code, out, err = fx.relrun({ script, "--nope" })
    eq(code, 2)
    eq(out, "")
    eq(err, "relrun: demo.lua: unknown option --nope (try --help)\n")
  end)
  it("prints help and exits 0", function()
    local code, out = fx.relrun({ script, "--help" })
    eq(code, 0)
    contains(out, "--name N")
    contains(out, "a name")
  end)
end)
