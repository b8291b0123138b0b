-- relrun.sodium: sealed boxes open with the matching key only, refuse
-- tampering, and agree with PyNaCl (Debian's python3-nacl, the library
-- GitHub's own "Encrypting secrets for the REST API" example uses) in both
-- directions.
local sodium = require "relrun.sodium"
local hash = require "relrun.hash"
local proc = require "relrun.proc"

-- Debian's interpreter: python3-nacl is installed for it, not for others on PATH.
local PYTHON = "/usr/bin/python3"

local function python(code, args, stdin)
  local argv = { PYTHON, "-c", code }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  local r = assert(proc.run{ argv = argv, stdin = stdin or false })
  assert(r.code == 0, "python: " .. r.stderr)
  return (r.stdout:gsub("\n$", ""))
end

describe("relrun.sodium", function()
  it("seals a message that only the key pair's secret key opens", function()
    local pk, sk = sodium.box_keypair()
    eq(#pk, sodium.PUBLICKEYBYTES)
    eq(#sk, 32)
    local sealed = sodium.seal("arn:aws:iam::123456789012:role/release", pk)
    eq(#sealed, #"arn:aws:iam::123456789012:role/release" + sodium.SEALBYTES)
    eq(sodium.seal_open(sealed, pk, sk), "arn:aws:iam::123456789012:role/release")
    -- Each seal uses a fresh ephemeral key: the same message seals differently.
    ok(sodium.seal("x", pk) ~= sodium.seal("x", pk))
    -- The empty message and binary data survive.
    eq(sodium.seal_open(sodium.seal("", pk), pk, sk), "")
    local binary = "\0\1\2\255" .. string.rep("z", 5000)
    eq(sodium.seal_open(sodium.seal(binary, pk), pk, sk), binary)
  end)

  it("refuses another key and an altered box, as nil, message, EBADMSG", function()
    local pk, sk = sodium.box_keypair()
    local pk2, sk2 = sodium.box_keypair()
    local sealed = sodium.seal("secret", pk)
    local v, msg, code = sodium.seal_open(sealed, pk2, sk2)
    eq(v, nil)
    eq(code, "EBADMSG")
    contains(msg, "cannot open the sealed box")
    local altered = sealed:sub(1, -2) .. string.char((sealed:byte(-1) + 1) % 256)
    eq(select(3, sodium.seal_open(altered, pk, sk)), "EBADMSG")
    eq(select(3, sodium.seal_open("short", pk, sk)), "EBADMSG")
  end)

  it("raises on keys of the wrong length (misuse)", function()
    raises(function() sodium.seal("x", "short") end, "a public key must be 32 bytes, not 5")
    local pk = sodium.box_keypair()
    raises(function() sodium.seal_open(string.rep("x", 60), pk, "k") end, "a secret key must be 32 bytes")
  end)

  it("agrees with PyNaCl: what relrun seals PyNaCl opens, and the other way", function()
    -- PyNaCl makes the key pair, as GitHub holds the repository's private key.
    local keys = python([[
from nacl.public import PrivateKey
import base64
k = PrivateKey.generate()
print(base64.b64encode(bytes(k.public_key)).decode(), base64.b64encode(bytes(k)).decode())]])
    local pk_b64, sk_b64 = keys:match("^(%S+) (%S+)$")
    local pk = assert(hash.base64_decode(pk_b64))
    local message = "CODEARTIFACT_REPOSITORY=pypi-store ünïcode \t ok"
    local sealed_b64 = hash.base64_encode(sodium.seal(message, pk))
    local opened = python([[
import base64, sys
from nacl.public import PrivateKey, SealedBox
k = PrivateKey(base64.b64decode(sys.argv[1]))
sys.stdout.write(base64.b64encode(SealedBox(k).decrypt(base64.b64decode(sys.stdin.read()))).decode())]],
      { sk_b64 }, sealed_b64)
    eq(hash.base64_decode(opened), message)

    -- GitHub's documented Python example, sealing to relrun's key.
    local mine_pk, mine_sk = sodium.box_keypair()
    local theirs = python([[
import base64, sys
from nacl import encoding, public
key = public.PublicKey(sys.argv[1].encode(), encoding.Base64Encoder())
print(base64.b64encode(public.SealedBox(key).encrypt(sys.argv[2].encode())).decode())]],
      { hash.base64_encode(mine_pk), "us-east-1" })
    eq(sodium.seal_open(assert(hash.base64_decode(theirs)), mine_pk, mine_sk), "us-east-1")
  end)
end)
