/*
 * relrun.sigv4 with a fuzzed url and headers. The input is
 *     <flags byte><url>\n<name>:<value>\n...
 * flags: bit 0 service s3, bit 1 query signing (expires), bits 2-3 the
 * method, bit 4 a session token, bit 5 normalize_path/double_encode
 * flipped from the service's default, bit 6 headers as a map (a repeated
 * name: a list of values) instead of a list of pairs. Header lines
 * "@time:<n>" and "@body:<text>" set the signing time and the body. A bad url may raise (misuse); anything else must
 * give strings of the documented shape.
 */
#include "fuzz.h"

static const char HARNESS[] =
    "local sigv4 = require 'relrun.sigv4'\n"
    "local METHODS = {'GET', 'PUT', 'POST', 'DELETE'}\n"
    "local function request(data)\n"
    "  local flags = data:byte(1) or 0\n"
    "  local url, rest = data:sub(2):match('^([^\\n]*)\\n?(.*)$')\n"
    "  local s3 = flags & 1 ~= 0\n"
    "  local r = {method = METHODS[(flags >> 2 & 3) + 1], url = url, headers = {},\n"
    "    service = s3 and 's3' or 'execute-api', region = 'us-east-1',\n"
    "    access_key = 'AKIDEXAMPLE', secret_key = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',\n"
    "    time = 1440938160}\n"
    "  if flags & 2 ~= 0 then r.expires = 3600 end\n"
    "  if flags & 16 ~= 0 then r.session_token = 'IQoJb3JpZ2luX2VjEXAMPLETOKEN' end\n"
    "  if flags & 32 ~= 0 then r.normalize_path = s3; r.double_encode = s3 end\n"
    "  for line in rest:gmatch('[^\\n]+') do\n"
    "    local name, value = line:match('^([^:]*):(.*)$')\n"
    "    if name == '@time' then r.time = math.tointeger(tonumber(value)) or r.time\n"
    "    elseif name == '@body' then r.body = value\n"
    "    elseif name and flags & 64 == 0 then r.headers[#r.headers + 1] = {name, value}\n"
    "    elseif name then\n" /* the map form; a repeated name holds a list */
    "      local old = r.headers[name]\n"
    "      if old == nil then r.headers[name] = value\n"
    "      elseif type(old) == 'table' then old[#old + 1] = value\n"
    "      else r.headers[name] = {old, value} end\n"
    "    end\n"
    "  end\n"
    "  return r\n"
    "end\n"
    "return function(data)\n"
    "  local r = request(data)\n"
    "  local creq = fuzz.may_raise('canonical_request', sigv4.canonical_request, r)\n"
    "  if creq == nil then return end\n"
    "  fuzz.check(type(creq) == 'string' and creq:find('^' .. r.method .. '\\n'), 'canonical request %q', creq)\n"
    "  local sts = fuzz.may_raise('string_to_sign', sigv4.string_to_sign, r)\n"
    "  fuzz.check(type(sts) == 'string', 'string_to_sign failed after canonical_request: %s', tostring(sts))\n"
    "  local date = sts:match('^AWS4%-HMAC%-SHA256\\n(%d%d%d%d%d%d%d%dT%d%d%d%d%d%dZ)\\n')\n"
    "  fuzz.check(date, 'string to sign has no date line: %q', sts)\n"
    "  fuzz.check(os.date('!%Y%m%dT%H%M%SZ', r.time) == date, 'date %s for time %s', date, r.time)\n"
    "  if r.expires then\n"
    "    local u = fuzz.may_raise('presign', sigv4.presign, r)\n"
    "    fuzz.check(type(u) == 'string' and u:find('&X%-Amz%-Signature=%x+$'), 'presigned url %q', tostring(u))\n"
    "  else\n"
    "    local h = fuzz.may_raise('sign', sigv4.sign, r)\n"
    "    fuzz.check(type(h) == 'table' and h.authorization:find('Signature=%x+$'), 'sign failed')\n"
    "  end\n"
    "end\n";

FUZZ_HARNESS("sigv4", HARNESS, 0)
