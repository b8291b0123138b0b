/*
 * relrun.hash against published vectors: RFC 1321 (MD5), FIPS 180 example
 * messages (SHA-1, SHA-256, SHA-512), RFC 4231 (HMAC-SHA-256), RFC 7693
 * Appendix A (BLAKE2b-512, through runtime/blake2b.c directly), and
 * BLAKE2b-256 values from Python's hashlib.blake2b(digest_size=32), the
 * digest twine sends. The module is called through a relrun Lua state.
 */
#include "relrun.h"
#include "blake2b.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check(const char *what, const char *got, const char *want) {
    if (got == NULL || strcmp(got, want) != 0) {
        fprintf(stderr, "FAIL %s\n  got  %s\n  want %s\n", what, got ? got : "(null)", want);
        failures++;
    }
}

/* hash[fn](arg1, arg2) as a string; the module table is at index 1. */
static const char *call(lua_State *L, const char *fn, const char *a, size_t an,
                        const char *b, size_t bn) {
    lua_getfield(L, 1, fn);
    lua_pushlstring(L, a, an);
    if (b != NULL) lua_pushlstring(L, b, bn);
    if (lua_pcall(L, b != NULL ? 2 : 1, 1, 0) != LUA_OK) {
        fprintf(stderr, "FAIL %s raised: %s\n", fn, lua_tostring(L, -1));
        failures++;
    }
    return lua_tostring(L, -1);   /* anchored until the caller's lua_settop */
}

static char *repeat(const char *unit, size_t times) {
    size_t n = strlen(unit);
    char *s = malloc(n * times + 1);
    for (size_t i = 0; i < times; i++) memcpy(s + i * n, unit, n);
    s[n * times] = 0;
    return s;
}

static void digest(lua_State *L, const char *alg, const char *msg, size_t n, const char *want) {
    char what[96];
    snprintf(what, sizeof what, "%s of %zu bytes \"%.20s\"", alg, n, msg);
    check(what, call(L, alg, msg, n, NULL, 0), want);
    lua_settop(L, 1);
}

static void test_md5(lua_State *L) {   /* RFC 1321 appendix A.5 */
    static const char *v[][2] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"a", "0cc175b9c0f1b6a831c399e269772661"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
         "d174ab98d277d9f5a5611c2c9f419d9f"},
        {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) digest(L, "md5", v[i][0], strlen(v[i][0]), v[i][1]);
}

static const char M448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
static const char M896[] =
    "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
    "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

static void test_sha(lua_State *L, const char *million_a) {   /* FIPS 180 examples */
    digest(L, "sha1", "abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
    digest(L, "sha1", M448, strlen(M448), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    digest(L, "sha1", million_a, 1000000, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    digest(L, "sha256", "abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    digest(L, "sha256", M448, strlen(M448), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    digest(L, "sha256", million_a, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    digest(L, "sha512", "abc", 3,
           "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
           "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
    digest(L, "sha512", M896, strlen(M896),
           "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
           "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909");
    digest(L, "sha512", million_a, 1000000,
           "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
           "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b");
}

static void test_hmac(lua_State *L) {   /* RFC 4231 section 4, HMAC-SHA-256 */
    char k1[20], k3[20], d3[50], k4[25], d4[50], k5[20], k6[131];
    memset(k1, 0x0b, sizeof k1);
    memset(k3, 0xaa, sizeof k3);
    memset(d3, 0xdd, sizeof d3);
    for (int i = 0; i < 25; i++) k4[i] = (char)(i + 1);
    memset(d4, 0xcd, sizeof d4);
    memset(k5, 0x0c, sizeof k5);
    memset(k6, 0xaa, sizeof k6);
    const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    const char *d7 = "This is a test using a larger than block-size key and a larger than "
                     "block-size data. The key needs to be hashed before being used by the "
                     "HMAC algorithm.";
    const char *jefe = "what do ya want for nothing?";
    check("HMAC case 1", call(L, "hmac_sha256_hex", k1, 20, "Hi There", 8),
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    check("HMAC case 2", call(L, "hmac_sha256_hex", "Jefe", 4, jefe, strlen(jefe)),
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    check("HMAC case 3", call(L, "hmac_sha256_hex", k3, 20, d3, 50),
          "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    check("HMAC case 4", call(L, "hmac_sha256_hex", k4, 25, d4, 50),
          "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    /* Case 5 publishes only the first 128 bits. */
    const char *c5 = call(L, "hmac_sha256_hex", k5, 20, "Test With Truncation", 20);
    check("HMAC case 5 (truncated)", c5 ? lua_pushlstring(L, c5, 32) : NULL,
          "a3b6167473100ee06e0c796c2955552b");
    check("HMAC case 6", call(L, "hmac_sha256_hex", k6, 131, d6, strlen(d6)),
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    check("HMAC case 7", call(L, "hmac_sha256_hex", k6, 131, d7, strlen(d7)),
          "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
    /* The raw form is the same 32 bytes. */
    const char *raw = call(L, "hmac_sha256", "Jefe", 4, jefe, strlen(jefe));
    check("HMAC raw", call(L, "hex_encode", raw, 32, NULL, 0),
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    lua_settop(L, 1);
}

static void hex(const uint8_t *p, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", p[i]);
}

/* RFC 7693 Appendix A: BLAKE2b-512("abc"), straight through the C API, in
 * one update and byte by byte. */
static void test_blake2b_rfc(void) {
    static const char want[] =
        "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
        "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923";
    uint8_t out[64];
    char got[129];
    rr_blake2b_ctx c;
    rr_blake2b_init(&c, 64);
    rr_blake2b_update(&c, "abc", 3);
    rr_blake2b_final(&c, out);
    hex(out, 64, got);
    check("RFC 7693 A: BLAKE2b-512(abc)", got, want);
    rr_blake2b_init(&c, 64);
    for (int i = 0; i < 3; i++) rr_blake2b_update(&c, "abc" + i, 1);
    rr_blake2b_final(&c, out);
    hex(out, 64, got);
    check("RFC 7693 A, byte by byte", got, want);
}

/* hashlib.blake2b(bytes(i % 251 for i in range(n)), digest_size=32): block
 * boundaries are where an off-by-one in the final-block rule shows. */
static void test_blake2b_256(lua_State *L, const char *million_a) {
    static const struct { size_t n; const char *want; } v[] = {
        {0, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"},
        {1, "03170a2e7597b7b7e3d84c05391d139a62b157e78786d8c082f29dcf4c111314"},
        {127, "f2fe67ff342e21b8f45e8f2e0bcd1d9243245d50ee6c78042e9c491388791c72"},
        {128, "c3582f71ebb2be66fa5dd750f80baae97554f3b015663c8be377cfcb2488c1d1"},
        {129, "f7f3c46ba2564ff4c4c162da1f5b605f9f1c4aa6a20652a9f9a337c1a2f5b9c9"},
        {255, "d9ef0fc521b4266d16df662bec231bc2ec3989e7adeaf63169c295dc239dbbea"},
        {256, "582f782226018ec33076bd8d1c42413530ac7e1126260ffc0f306ba3befc3f24"},
        {1000, "b372d0608f720c8c3dd41e9c8eecb10143b41abe520b616607e754bf79c08331"},
    };
    char data[1000];
    for (int i = 0; i < 1000; i++) data[i] = (char)(i % 251);
    digest(L, "blake2b_256", "abc", 3, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
    digest(L, "blake2b_256", million_a, 1000000,
           "0741850f36cba4259628355d1073e24ddb9ca0e1bfac36fd39ae5dc2101e23a4");
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t out[32];
        char got[65], what[64];
        rr_blake2b_ctx c;
        digest(L, "blake2b_256", data, v[i].n, v[i].want);
        /* The same bytes streamed in uneven pieces (1, 2, 3, ... bytes). */
        rr_blake2b_init(&c, 32);
        for (size_t off = 0, step = 1; off < v[i].n; off += step, step++)
            rr_blake2b_update(&c, data + off, off + step > v[i].n ? v[i].n - off : step);
        rr_blake2b_final(&c, out);
        hex(out, 32, got);
        snprintf(what, sizeof what, "blake2b_256 streamed, %zu bytes", v[i].n);
        check(what, got, v[i].want);
    }
}

int main(void) {
    relrun *r = relrun_new();
    lua_State *L;
    char *million_a = repeat("a", 1000000);
    if (r == NULL) return 1;
    L = relrun_lua(r);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "relrun.hash");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        fprintf(stderr, "require relrun.hash: %s\n", lua_tostring(L, -1));
        return 1;
    }
    test_md5(L);
    test_sha(L, million_a);
    test_hmac(L);
    test_blake2b_rfc();
    test_blake2b_256(L, million_a);
    free(million_a);
    relrun_close(r);
    if (failures) fprintf(stderr, "%d failed\n", failures);
    else printf("all hash vectors passed\n");
    return failures ? 1 : 0;
}
