/*
 * relrun.git's commit-graph reader, driven through repo:describe. At start
 * a tiny repository is made with the real git (fast-import: a merge, an
 * octopus merge that needs the EDGE chunk, an annotated and a lightweight
 * tag); each input then becomes its commit-graph:
 *   - one file, .git/objects/info/commit-graph, or
 *   - when the input holds the separator "--LAYER--", a chain of layers
 *     (objects/info/commit-graphs/graph-<n>.graph + commit-graph-chain).
 * describe must give one of the repository's tags at a distance >= 0, or
 * `nil, msg, code`: never a raise, whatever the file says.
 * The corpus holds the graphs git itself writes for that repository.
 */
#include "fuzz.h"

static const char HARNESS[] =
    "local git = require 'relrun.git'\n"
    "local fs = require 'relrun.fs'\n"
    "local proc = require 'relrun.proc'\n"
    "local STREAM = [[\n"
    "commit refs/heads/main\nmark :1\ncommitter Ann <ann@example.com> 1700000000 +0000\ndata 3\none\n"
    "M 644 inline f\ndata 2\n1\n\n"
    "commit refs/heads/main\nmark :2\ncommitter Ann <ann@example.com> 1700000060 +0000\ndata 3\ntwo\n"
    "from :1\nM 644 inline f\ndata 2\n2\n\n"
    "commit refs/heads/side\nmark :3\ncommitter Ann <ann@example.com> 1700000120 +0000\ndata 4\nside\n"
    "from :1\nM 644 inline g\ndata 2\n3\n\n"
    "tag v1.0.0\nfrom :2\ntagger Ann <ann@example.com> 1700000130 +0000\ndata 5\nv1.0\n\n"
    "commit refs/heads/other\nmark :4\ncommitter Ann <ann@example.com> 1700000180 +0000\ndata 5\nother\n"
    "from :1\nM 644 inline h\ndata 2\n4\n\n"
    "commit refs/heads/main\nmark :5\ncommitter Ann <ann@example.com> 1700000240 +0000\ndata 7\noctopus\n"
    "from :2\nmerge :3\nmerge :4\n\n"
    "commit refs/heads/main\nmark :6\ncommitter Ann <ann@example.com> 1700000300 +0000\ndata 5\nafter\n"
    "from :5\nM 644 inline f\ndata 2\n6\n\n"
    "reset refs/tags/light\nfrom :3\n\n"
    "]]\n"
    "local ENV = {GIT_CONFIG_NOSYSTEM = '1', GIT_CONFIG_GLOBAL = '/dev/null', GIT_DIR = false}\n"
    "local function run(argv, stdin)\n"
    "  local r = assert(proc.run{argv = argv, env = ENV, stdin = stdin or false})\n"
    "  assert(r.code == 0, table.concat(argv, ' ') .. ': ' .. r.stderr)\n"
    "end\n"
    "fuzz.tmp = assert(fs.tempdir('relrun-fuzz-git-'))\n" /* removed when the state closes */
    "local dir = fs.join(fuzz.tmp.path, 'repo')\n"
    "run{'git', 'init', '-q', '-b', 'main', dir}\n"
    "run({'git', '-C', dir, 'fast-import', '--quiet'}, STREAM)\n"
    "local repo = assert(git.open(dir))\n"
    "local info = fs.join(dir, '.git', 'objects', 'info')\n"
    "local chain = fs.join(info, 'commit-graphs')\n"
    "local TAGS = {['v1.0.0'] = true, light = true}\n"
    "local CALLS = {{tags = true}, {match = 'v*'}, {rev = 'side'}, {rev = 'other', candidates = 1}}\n"
    "local function put(path, data)\n"
    "  local f = assert(io.open(path, 'wb'))\n"
    "  assert(f:write(data))\n"
    "  f:close()\n"
    "end\n"
    "local function install(data)\n"
    "  assert(fs.remove(fs.join(info, 'commit-graph')))\n"
    "  assert(fs.remove(chain, {recursive = true}))\n"
    "  if not data:find('--LAYER--', 1, true) then return put(fs.join(info, 'commit-graph'), data) end\n"
    "  local names, n = {}, 0\n"
    "  assert(fs.mkdir(chain))\n"
    "  for layer in (data .. '--LAYER--'):gmatch('(.-)%-%-LAYER%-%-') do\n"
    "    n = n + 1\n"
    "    names[n] = 'layer' .. n\n"
    "    put(fs.join(chain, 'graph-' .. names[n] .. '.graph'), layer)\n"
    "  end\n"
    "  put(fs.join(chain, 'commit-graph-chain'), table.concat(names, '\\n') .. '\\n')\n"
    "end\n"
    "return function(data)\n"
    "  install(data)\n"
    "  for _, opts in ipairs(CALLS) do\n"
    "    local d = fuzz.returns('describe', repo.describe, repo, opts)\n"
    "    if d ~= nil then\n"
    "      fuzz.check(TAGS[d.tag] and math.type(d.distance) == 'integer' and d.distance >= 0,\n"
    "                 'describe gave %s-%s', tostring(d.tag), tostring(d.distance))\n"
    "    end\n"
    "  end\n"
    "end\n";

FUZZ_HARNESS("git", HARNESS, 0)
