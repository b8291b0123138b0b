/*
 * relrun.json.decode on arbitrary bytes: a value or `nil, "invalid JSON:
 * ..."`, never a raise. What decode gives, encode either refuses with a
 * message (NaN, Infinity) or writes as JSON that decodes to the same value
 * (numbers within cjson's 14 significant digits).
 */
#include "fuzz.h"

static const char HARNESS[] =
    "local json = require 'relrun.json'\n"
    "local function same(a, b, path)\n"
    "  if type(a) == 'number' and type(b) == 'number' then\n"
    "    local scale = math.max(math.abs(a), math.abs(b), 1e-300)\n"
    "    fuzz.check(a == b or math.abs(a - b) / scale < 1e-13, '%s: %.17g became %.17g', path, a, b)\n"
    "    return\n"
    "  end\n"
    "  fuzz.check(type(a) == type(b), '%s: a %s became a %s', path, type(a), type(b))\n"
    "  if type(a) ~= 'table' then\n"
    "    fuzz.check(a == b, '%s: %q became %q', path, tostring(a), tostring(b))\n"
    "    return\n"
    "  end\n"
    "  for k, v in pairs(a) do same(v, b[k], path .. '/' .. tostring(k)) end\n"
    "  for k in pairs(b) do fuzz.check(a[k] ~= nil, '%s: key %s appeared', path, tostring(k)) end\n"
    "end\n"
    "return function(data)\n"
    "  local v, msg = fuzz.returns('json.decode', json.decode, data)\n"
    "  if v == nil then\n"
    "    fuzz.check(msg:find('^invalid JSON: ') or msg:find('not enough memory'), 'message %q', msg)\n"
    "    return\n"
    "  end\n"
    "  local text = fuzz.may_raise('json.encode', json.encode, v)\n"
    "  if text == nil then return end\n"
    "  local back, err = fuzz.returns('json.decode', json.decode, text)\n"
    "  fuzz.check(back ~= nil, 'encode wrote JSON that decode refuses: %s: %s', err, text)\n"
    "  same(v, back, '')\n"
    "end\n";

FUZZ_HARNESS("json", HARNESS, 0)
