/*
 * relrun.xml.decode on arbitrary bytes: a tree or `nil, "xml: ..."`, never
 * a raise; every element of the tree has the documented shape.
 */
#include "fuzz.h"

static const char HARNESS[] =
    "local xml = require 'relrun.xml'\n"
    "local function shape(el)\n"
    "  fuzz.check(type(el.name) == 'string' and el.name ~= '', 'element without a name')\n"
    "  fuzz.check(not el.name:find(':', 1, true) or el.name:sub(-1) == ':', 'name %q keeps its prefix', el.name)\n"
    "  fuzz.check(type(el.text) == 'string', '%s: text is a %s', el.name, type(el.text))\n"
    "  fuzz.check(type(el.attrs) == 'table' and type(el.children) == 'table', '%s: no attrs/children', el.name)\n"
    "  for k, v in pairs(el.attrs) do\n"
    "    fuzz.check(type(k) == 'string' and type(v) == 'string', '%s: attribute not a string', el.name)\n"
    "  end\n"
    "end\n"
    "return function(data)\n"
    "  local doc, msg = fuzz.returns('xml.decode', xml.decode, data)\n"
    "  if doc == nil then\n"
    "    fuzz.check(msg:find('^xml: ') or msg:find('not enough memory'), 'message %q', msg)\n"
    "    return\n"
    "  end\n"
    "  local todo = {doc}\n" /* no recursion: documents may nest deeply */
    "  while #todo > 0 do\n"
    "    local el = table.remove(todo)\n"
    "    shape(el)\n"
    "    for _, c in ipairs(el.children) do todo[#todo + 1] = c end\n"
    "  end\n"
    "end\n";

FUZZ_HARNESS("xml", HARNESS, 0)
