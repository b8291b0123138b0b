/*
 * relrun.hash's text decoders on arbitrary bytes: hex_decode and
 * base64_decode give bytes or `nil, message`, never a raise; what they
 * accept encodes back to the input (hex in lower case); encoding then
 * decoding any bytes is the identity.
 */
#include "fuzz.h"

static const char HARNESS[] =
    "local hash = require 'relrun.hash'\n"
    "return function(data)\n"
    "  local raw = fuzz.returns('hex_decode', hash.hex_decode, data)\n"
    "  if raw ~= nil then\n"
    "    fuzz.check(hash.hex_encode(raw) == data:lower(), 'hex_decode(%q) does not encode back', data)\n"
    "  end\n"
    "  local b = fuzz.returns('base64_decode', hash.base64_decode, data)\n"
    "  if b ~= nil then\n"
    "    local pad = #data:match('=*$')\n"
    "    fuzz.check(#b == #data // 4 * 3 - pad, 'base64_decode(%q) gave %d bytes', data, #b)\n"
    "    fuzz.check(hash.base64_decode(hash.base64_encode(b)) == b, 'base64 round trip of %q', data)\n"
    "  end\n"
    "  fuzz.check(hash.hex_decode(hash.hex_encode(data)) == data, 'hex round trip')\n"
    "  fuzz.check(hash.base64_decode(hash.base64_encode(data)) == data, 'base64 round trip')\n"
    "end\n";

FUZZ_HARNESS("hash", HARNESS, 0)
