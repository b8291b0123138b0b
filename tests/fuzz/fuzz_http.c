/*
 * relrun.http's url parsers on arbitrary bytes: parse_url gives the parts
 * or `nil, msg, "EINVAL"`, url_decode any bytes, never a raise; url_encode
 * then url_decode is the identity.
 */
#include "fuzz.h"

static const char HARNESS[] =
    "local http = require 'relrun.http'\n"
    "local PARTS = {'scheme', 'host', 'path', 'query', 'fragment', 'user', 'password'}\n"
    "return function(data)\n"
    "  local u, msg, code = fuzz.returns('parse_url', http.parse_url, data)\n"
    "  if u == nil then\n"
    "    fuzz.check(code == 'EINVAL' or msg:find('not enough memory'), 'parse_url code %s: %s', code, msg)\n"
    "  else\n"
    "    for _, k in ipairs(PARTS) do\n"
    "      fuzz.check(u[k] == nil or type(u[k]) == 'string', '%s is a %s', k, type(u[k]))\n"
    "    end\n"
    "    fuzz.check(u.port == nil or math.type(u.port) == 'integer', 'port is %s', tostring(u.port))\n"
    "  end\n"
    "  fuzz.returns('url_decode', http.url_decode, data)\n"
    "  fuzz.returns('url_decode', http.url_decode, data, true)\n"
    "  fuzz.check(http.url_decode(http.url_encode(data)) == data, 'url_encode round trip')\n"
    "  fuzz.check(http.url_decode(http.url_encode(data), true) == data, 'url_encode round trip (form)')\n"
    "end\n";

/* parse_url registers each password as a secret: a fresh state now and
 * then keeps the registry (and the fuzzer) small. */
FUZZ_HARNESS("http", HARNESS, 1000)
