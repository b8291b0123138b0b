-- relrun version [--root DIR] [--explain] [--strict]
--
-- Prints the version setuptools_scm would give this checkout (what
-- `python3 -m setuptools_scm` prints), one line. --explain says how: the
-- configuration, the tag and its version, the distance, the dirty files and
-- whether the clone is shallow.
local cli = require "relrun.cli"
local scm = require "relrun.scm"

local spec = {
  prog = "version",
  summary = "Print the setuptools_scm version of a git checkout.",
  options = {
    { "-r", "--root", arg = "DIR", help = "the checkout to version (default: the folder of the nearest"
      .. " pyproject.toml with [tool.setuptools_scm], else the current one)" },
    { "--strip-dev", help = "drop the .dev and local parts, as setuptools_scm's --strip-dev" },
    { "--explain", help = "also tell how the version was found (tag, distance, dirty files, shallow)" },
    { "--strict", help = "fail rather than print a guess: a shallow clone whose history holds no tag" },
  },
}

local opts = cli.parse_or_exit(spec, arg)

-- A project whose files state its version (pre-commit's setup.cfg,
-- werkzeug's static 3.2.0.dev, a monorepo package's version file) builds
-- that one, whatever git says. -> "the project's build takes ..." | nil.
local function build_note()
  local ok, p = pcall(require("relrun.project").open, { dir = opts.root, need_repo = false })
  if not (ok and p) then return nil end
  local good, written = pcall(require("relrun.doctor.version").read, p)
  p:close()
  if good and written and written.source ~= "scm" and written.version then
    return string.format("the project's build takes %s from %s, not a git version", written.version, written.where)
  end
end

local function die(err)
  local note = build_note()
  require("relrun.errors").raise("VERSION", "version: " .. tostring(err), { hint = note })
end

-- As setuptools_scm's CLI: the configuration comes from the pyproject.toml
-- nearest to --root (or "."); an explicit --root is the checkout itself.
local cfg, err = scm.config({ dir = opts.root or "." })
if not cfg then die(err) end
if opts.root then cfg.root = require("relrun.fs").realpath(opts.root) or cfg.root end
local info
info, err = scm.explain({ dir = opts.root or ".", config = cfg })
if not info then die(err) end
-- setuptools_scm prints 0.1.devN in a shallow clone that lacks the tag (its
-- users' most common complaint): the same here, on stdout, but said on
-- stderr, and refused with --strict.
if info.how == "git" and info.shallow and not info.tag and not info.unborn then
  local why = "this clone is shallow and no tag is in the history it has, so " .. info.version
    .. " is a guess; check out with fetch-depth: 0 (actions/checkout) or run `git fetch --unshallow --tags`"
  if opts.strict then die("refusing to guess: " .. why) end
  io.stderr:write("version: warning: ", why, "\n")
end
print(opts.strip_dev and (info.version:match("^(.-)%.dev") or info.version) or info.version)
if not opts.explain then return 0 end

local match = table.concat(cfg.git_describe_command and scm.describe_match(cfg.git_describe_command)
  or { scm.DESCRIBE_MATCH }, "' --match '")
local out = {}
local function say(fmt, ...) out[#out + 1] = string.format(fmt, ...) end
say("root:      %s", info.root)
say("config:    %s", cfg.source or cfg.note)
say("schemes:   version_scheme=%s local_scheme=%s", cfg.version_scheme, cfg.local_scheme)
if cfg.tag_regex ~= scm.DEFAULT_TAG_REGEX then say("tag_regex: %s", cfg.tag_regex) end
if info.how == "pretend" then
  say("source:    %s is set; git was not consulted", info.pretend_variable)
elseif info.how == "fallback" then
  say("source:    fallback_version (no git checkout at the root)")
else
  if info.unborn then
    say("tag:       none (no commits yet)")
  elseif info.tag then
    say("tag:       %s (version %s), matched by `git describe --tags --match '%s'`", info.tag, info.tag_version,
      match)
  else
    say("tag:       none matching '%s', so 0.0 and the commit count", match)
  end
  say("distance:  %s commit(s) since %s", tostring(info.distance), info.tag or "the first commit")
  say("node:      %s", info.node or "none")
  say("branch:    %s", info.branch or "none")
  if #info.dirty_files == 0 then
    say("dirty:     no")
  else
    say("dirty:     yes, %d changed tracked file(s):", #info.dirty_files)
    for _, f in ipairs(info.dirty_files) do say("             %s %s", f.status, f.path) end
  end
  say("shallow:   %s", info.shallow and "yes: history is incomplete, the version may be wrong"
    .. " (fetch with fetch-depth: 0, or `git fetch --unshallow`)" or "no")
end
local note = build_note()
if note then say("build:     %s", note) end
io.write(table.concat(out, "\n"), "\n")
return 0
