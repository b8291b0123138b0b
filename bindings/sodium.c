/*
 * relrun.sodium: libsodium's sealed boxes, the encryption GitHub asks for
 * when a secret is set through its REST API ("Encrypting secrets for the
 * REST API"): anyone may seal a value to the repository's public key; only
 * GitHub, which holds the private key, can open it.
 *
 * A sealed box (crypto_box_seal) is an ephemeral X25519 key pair, the shared
 * key with the recipient's public key, and XSalsa20-Poly1305 under a nonce
 * that is BLAKE2b(ephemeral public key || recipient public key). libsodium
 * does all of it; nothing here is cryptography of relrun's own.
 *
 *   sodium.seal(message, public_key)          -> ciphertext (#message + 48 bytes)
 *   sodium.seal_open(ciphertext, public_key, secret_key)
 *                                             -> message | nil, msg, "EBADMSG"
 *   sodium.box_keypair()                      -> public_key, secret_key
 *   sodium.PUBLICKEYBYTES, sodium.SEALBYTES
 *
 * Keys and ciphertexts are raw bytes (base64 is relrun.hash's). A key of the
 * wrong length is misuse and raises.
 */
#include <sodium.h>

#include "rr.h"

static const unsigned char *check_key(lua_State *L, int arg, size_t want, const char *what) {
    size_t len;
    const char *key = luaL_checklstring(L, arg, &len);
    luaL_argcheck(L, len == want, arg, lua_pushfstring(L, "%s must be %d bytes, not %d", what,
                                                       (int)want, (int)len));
    return (const unsigned char *)key;
}

/* seal(message, public_key) -> ciphertext */
static int l_seal(lua_State *L) {
    size_t len;
    const unsigned char *message = (const unsigned char *)luaL_checklstring(L, 1, &len);
    const unsigned char *pk = check_key(L, 2, crypto_box_PUBLICKEYBYTES, "a public key");
    size_t out_len = len + crypto_box_SEALBYTES;
    luaL_Buffer b;
    unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, out_len);
    /* -1 only for a public key X25519 refuses (a low-order point) */
    if (crypto_box_seal(out, message, len, pk) != 0) {
        return rr_fail(L, "cannot seal to this public key (not a valid X25519 key)", "EINVAL");
    }
    luaL_pushresultsize(&b, out_len);
    return 1;
}

/* seal_open(ciphertext, public_key, secret_key) -> message | nil, msg, code */
static int l_seal_open(lua_State *L) {
    size_t len;
    const unsigned char *sealed = (const unsigned char *)luaL_checklstring(L, 1, &len);
    const unsigned char *pk = check_key(L, 2, crypto_box_PUBLICKEYBYTES, "a public key");
    const unsigned char *sk = check_key(L, 3, crypto_box_SECRETKEYBYTES, "a secret key");
    if (len < crypto_box_SEALBYTES) {
        return rr_fail(L, "not a sealed box (too short)", "EBADMSG");
    }
    size_t out_len = len - crypto_box_SEALBYTES;
    luaL_Buffer b;
    unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, out_len > 0 ? out_len : 1);
    if (crypto_box_seal_open(out, sealed, len, pk, sk) != 0) {
        return rr_fail(L, "cannot open the sealed box (another key, or altered)", "EBADMSG");
    }
    luaL_pushresultsize(&b, out_len);
    return 1;
}

/* box_keypair() -> public_key, secret_key */
static int l_box_keypair(lua_State *L) {
    unsigned char pk[crypto_box_PUBLICKEYBYTES];
    unsigned char sk[crypto_box_SECRETKEYBYTES];
    crypto_box_keypair(pk, sk);
    lua_pushlstring(L, (const char *)pk, sizeof pk);
    lua_pushlstring(L, (const char *)sk, sizeof sk);
    sodium_memzero(sk, sizeof sk);
    return 2;
}

static const luaL_Reg functions[] = {
    {"seal", l_seal},
    {"seal_open", l_seal_open},
    {"box_keypair", l_box_keypair},
    {NULL, NULL},
};

int luaopen_relrun_sodium(lua_State *L) {
    /* 0: initialised now, 1: already; -1: no usable randomness source */
    if (sodium_init() < 0) return luaL_error(L, "relrun.sodium: libsodium could not initialise");
    luaL_newlib(L, functions);
    lua_pushinteger(L, crypto_box_PUBLICKEYBYTES);
    lua_setfield(L, -2, "PUBLICKEYBYTES");
    lua_pushinteger(L, crypto_box_SEALBYTES);
    lua_setfield(L, -2, "SEALBYTES");
    return 1;
}
