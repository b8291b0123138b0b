/*
 * relrun.archive on arbitrary bytes written to a file (the module reads
 * archives by path): list, read of the first file member, read_all and
 * extract give results or `nil, msg, code`, never a raise. Reads and
 * extraction run with small limits (a bomb must stop with "LIMIT"), and
 * extraction must not create anything beside its destination.
 */
#include "fuzz.h"

static const char HARNESS[] =
    "local archive = require 'relrun.archive'\n"
    "local fs = require 'relrun.fs'\n"
    "fuzz.tmp = assert(fs.tempdir('relrun-fuzz-archive-'))\n" /* removed when the state closes */
    "local tmp = fuzz.tmp\n"
    "local input = fs.join(tmp.path, 'input')\n"
    "local sandbox = fs.join(tmp.path, 'sandbox')\n"
    "local dest = fs.join(sandbox, 'dest')\n"
    "local LIMITS = {max_bytes = 1 << 20, max_entries = 1000}\n"
    /* An archive may hold folders without write or search permission. */
    "local function unlock(dir)\n"
    "  fs.chmod(dir, '700')\n"
    "  for _, name in ipairs(fs.list(dir) or {}) do\n"
    "    local p = fs.join(dir, name)\n"
    "    local st = fs.lstat(p)\n"
    "    if st and st.type == 'directory' then unlock(p) end\n"
    "  end\n"
    "end\n"
    "return function(data)\n"
    "  local f = assert(io.open(input, 'wb'))\n"
    "  assert(f:write(data))\n"
    "  f:close()\n"
    "  local entries = fuzz.returns('list', archive.list, input)\n"
    "  for _, e in ipairs(entries or {}) do\n"
    "    fuzz.check(e.name == nil or type(e.name) == 'string', 'entry name is a %s', type(e.name))\n"
    "    if e.type == 'file' and e.name then\n"
    "      fuzz.returns('read', archive.read, input, e.name, LIMITS)\n"
    "      break\n"
    "    end\n"
    "  end\n"
    "  fuzz.returns('read_all', archive.read_all, input, LIMITS)\n"
    "  assert(fs.mkdir(sandbox))\n"
    "  fuzz.returns('extract', archive.extract, input, dest, LIMITS)\n"
    "  local beside = fs.list(sandbox)\n"
    "  fuzz.check(#beside <= 1 and (beside[1] == nil or beside[1] == 'dest'),\n"
    "             'extract wrote outside its destination: %s', table.concat(beside, ' '))\n"
    "  if not fs.remove(sandbox, {recursive = true}) then unlock(sandbox); assert(fs.remove(sandbox, {recursive = true})) end\n"
    "end\n";

FUZZ_HARNESS("archive", HARNESS, 0)
