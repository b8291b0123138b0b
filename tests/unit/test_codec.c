/*
 * runtime/codec.c and the buffer helpers of runtime/util.c and redact.c
 * against published vectors: RFC 4648 section 10 (base64 and base16), RFC
 * 4648 section 5 (the URL-safe alphabet), RFC 3986 sections 2.1-2.4
 * (percent-encoding: unreserved characters stay, every other byte is %XX in
 * upper case), and the percent-encodings of the AWS SigV4 test suite
 * (tests/conformance/sigv4: get-utf8, get-space, get-vanilla-query-unreserved).
 * Workflow command escaping follows GitHub's toolkit (command.ts:
 * escapeData / escapeProperty).
 */
#include "rr.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check_bytes(const char *what, const void *got, size_t gn, const void *want, size_t wn) {
    if (gn != wn || memcmp(got, want, wn) != 0) {
        fprintf(stderr, "FAIL %s\n  got  (%zu) %.*s\n  want (%zu) %.*s\n", what, gn, (int)gn, (const char *)got, wn,
                (int)wn, (const char *)want);
        failures++;
    }
}

static void check_str(const char *what, const char *got, const char *want) {
    check_bytes(what, got, strlen(got), want, strlen(want));
}

static void check_int(const char *what, long long got, long long want) {
    if (got != want) {
        fprintf(stderr, "FAIL %s: got %lld, want %lld\n", what, got, want);
        failures++;
    }
}

/* RFC 4648 section 10: the same inputs for base64 and base16. */
static const char *const RFC4648[][3] = {
    {"", "", ""},
    {"f", "Zg==", "66"},
    {"fo", "Zm8=", "666F"},
    {"foo", "Zm9v", "666F6F"},
    {"foob", "Zm9vYg==", "666F6F62"},
    {"fooba", "Zm9vYmE=", "666F6F6261"},
    {"foobar", "Zm9vYmFy", "666F6F626172"},
};
#define NVEC (sizeof RFC4648 / sizeof RFC4648[0])

static void lower(char *s) {
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z') *s = (char)(*s + 32);
}

static void test_hex(void) {
    char out[64], want[64];
    unsigned char bytes[32];
    for (size_t i = 0; i < NVEC; i++) {
        const char *plain = RFC4648[i][0], *hex = RFC4648[i][2];
        snprintf(want, sizeof want, "%s", hex);
        lower(want); /* relrun writes lower case, like hashlib's hexdigest */
        rr_hex_encode(plain, strlen(plain), out);
        check_str("hex_encode", out, want);
        check_int("hex_decode upper case", (long long)rr_hex_decode(hex, strlen(hex) / 2, bytes), 0);
        check_bytes("hex_decode upper case", bytes, strlen(hex) / 2, plain, strlen(plain));
        check_int("hex_decode lower case", (long long)rr_hex_decode(want, strlen(want) / 2, bytes), 0);
        check_bytes("hex_decode lower case", bytes, strlen(want) / 2, plain, strlen(plain));
    }
    rr_hex_encode("\x00\xff\x10", 3, out);
    check_str("hex_encode of 00 ff 10", out, "00ff10");
    check_int("hex_decode: the first bad digit, high", (long long)rr_hex_decode("00g0", 2, bytes), 3);
    check_int("hex_decode: the first bad digit, low", (long long)rr_hex_decode("0z00", 2, bytes), 2);
    check_int("hex_digit F", rr_hex_digit('F'), 15);
    check_int("hex_digit a", rr_hex_digit('a'), 10);
    check_int("hex_digit g", rr_hex_digit('g'), -1);
    check_int("hex_digit NUL", rr_hex_digit('\0'), -1);
}

static void test_base64(void) {
    char out[64];
    unsigned char bytes[64];
    size_t len;
    for (size_t i = 0; i < NVEC; i++) {
        const char *plain = RFC4648[i][0], *b64 = RFC4648[i][1];
        size_t n = rr_base64_encode(plain, strlen(plain), out);
        check_int("base64 length", (long long)n, (long long)RR_BASE64_LEN(strlen(plain)));
        check_bytes("base64_encode", out, n, b64, strlen(b64));
        len = 99;
        check_int("base64_decode ok", (long long)rr_base64_decode(b64, strlen(b64), bytes, &len), 0);
        check_bytes("base64_decode", bytes, len, plain, strlen(plain));
        /* the loose reader agrees on well-formed input */
        len = rr_base64_decode_loose(b64, strlen(b64), bytes, sizeof bytes);
        check_bytes("base64_decode_loose", bytes, len, plain, strlen(plain));
    }
    check_int("strict: '!' is not base64", (long long)rr_base64_decode("Zm9v!A==", 8, bytes, &len), 5);
    check_int("strict: '=' inside", (long long)rr_base64_decode("Z=9v", 4, bytes, &len), 2);
    check_int("strict: three '='", (long long)rr_base64_decode("Z===", 4, bytes, &len), 2);
    check_int("strict: URL-safe '-' refused", (long long)rr_base64_decode("-_-_", 4, bytes, &len), 1);
    check_int("strict: a blank refused", (long long)rr_base64_decode("Zm9 ", 4, bytes, &len), 4);
    /* RFC 4648 section 5: '-' and '_' stand for 62 and 63 */
    len = rr_base64_decode_loose("-_-_", 4, bytes, sizeof bytes);
    check_bytes("loose: URL-safe alphabet", bytes, len, "\xfb\xff\xbf", 3);
    len = rr_base64_decode_loose("+/+/", 4, bytes, sizeof bytes);
    check_bytes("loose: standard alphabet", bytes, len, "\xfb\xff\xbf", 3);
    len = rr_base64_decode_loose("Zm9v\r\nYm Fy", 11, bytes, sizeof bytes);
    check_bytes("loose: blanks skipped", bytes, len, "foobar", 6);
    len = rr_base64_decode_loose("Zm9vYmFy", 8, bytes, 4);
    check_bytes("loose: stops at the cap", bytes, len, "foob", 4);
}

/* RFC 3986 section 2.3's unreserved set, as SigV4's
 * get-vanilla-query-unreserved sends it: nothing is encoded. */
static const char UNRESERVED[] = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void pct(const char *what, const char *in, size_t n, const char *keep, const char *want) {
    char out[256 * 3];
    check_bytes(what, out, rr_pct_encode(in, n, keep, out), want, strlen(want));
}

static void test_pct_encode(void) {
    char all[256], want[256 * 3 + 1], *w = want;
    pct("unreserved stay", UNRESERVED, strlen(UNRESERVED), NULL, UNRESERVED);
    pct("get-utf8: U+1234", "\xe1\x88\xb4", 3, NULL, "%E1%88%B4");
    pct("get-space, a path: '/' kept", "/example space/", 15, "/", "/example%20space/");
    pct("a query value: '/' encoded", "/example space/", 15, NULL, "%2Fexample%20space%2F");
    pct("gen-delims and sub-delims", ":/?#[]@!$&'()*+,;=", 18, NULL,
        "%3A%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D");
    pct("'%' itself", "100%", 4, NULL, "100%25");
    pct("a NUL byte is encoded even with a keep set", "a\0b", 3, "/", "a%00b");
    /* every byte: unreserved as is, the rest %XX upper case (section 2.1) */
    for (int c = 0; c < 256; c++) {
        all[c] = (char)c;
        if (strchr(UNRESERVED, c) != NULL && c != 0) *w++ = (char)c;
        else w += sprintf(w, "%%%02X", c);
    }
    *w = '\0';
    pct("every byte", all, 256, NULL, want);
}

static void unpct(const char *what, const char *in, int plus_space, const char *want) {
    char out[64];
    check_bytes(what, out, rr_pct_decode(in, strlen(in), plus_space, out), want, strlen(want));
}

static void test_pct_decode(void) {
    unpct("either case", "%E1%88%b4", 0, "\xe1\x88\xb4");
    unpct("a '%' without two hex digits stays", "100% %4 %zz %", 0, "100% %4 %zz %");
    unpct("'%' then one digit at the end stays", "a%4", 0, "a%4");
    unpct("%XX at the very end", "a%41", 0, "aA");
    unpct("'+' is a plus", "a+b", 0, "a+b");
    unpct("'+' is a space in form data", "a+b%2B", 1, "a b+");
    unpct("decoded '%' is not decoded again", "%2541", 0, "%41");
}

static void test_buf(void) {
    rr_buf b = {0};
    char big[10000];
    memset(big, 'x', sizeof big);
    check_int("adding nothing allocates nothing", rr_buf_add(&b, "", 0), 0);
    check_int("still no memory", b.data == NULL, 1);
    check_int("add", rr_buf_add(&b, "abc", 3), 0);
    check_int("add a lot", rr_buf_add(&b, big, sizeof big), 0);
    check_int("length", (long long)b.len, 3 + (long long)sizeof big);
    check_int("capacity holds it", b.cap >= b.len, 1);
    check_bytes("content kept across growth", b.data, 3, "abc", 3);
    check_int("last byte", b.data[b.len - 1], 'x');
    rr_buf_free(&b);
    check_int("freed", b.data == NULL && b.len == 0 && b.cap == 0, 1);
    rr_buf_free(&b); /* twice is safe */
}

/* The Lua-buffer forms, on a plain Lua state. */
static void test_lua_forms(void) {
    lua_State *L = luaL_newstate();
    luaL_Buffer b;
    rr_push_hex(L, "\x01\xab", 2);
    check_str("push_hex", lua_tostring(L, -1), "01ab");
    rr_push_pct_encoded(L, "a b/c", 5, "/");
    check_str("push_pct_encoded", lua_tostring(L, -1), "a%20b/c");
    rr_push_pct_decoded(L, "a+b%20c", 7, 1);
    check_str("push_pct_decoded", lua_tostring(L, -1), "a b c");
    luaL_buffinit(L, &b);
    rr_add_command_escaped(&b, "50%\r\nx: a,b", 11, 0);
    luaL_addchar(&b, '|');
    rr_add_command_escaped(&b, "50%\r\nx: a,b", 11, 1);
    luaL_pushresult(&b);
    check_str("command data and property", lua_tostring(L, -1), "50%25%0D%0Ax: a,b|50%25%0D%0Ax%3A a%2Cb");
    setenv("GITHUB_ACTIONS", "true", 1);
    check_int("in_actions", rr_in_actions(), 1);
    setenv("GITHUB_ACTIONS", "false", 1);
    check_int("not in_actions", rr_in_actions(), 0);
    lua_close(L);
}

int main(void) {
    test_hex();
    test_base64();
    test_pct_encode();
    test_pct_decode();
    test_buf();
    test_lua_forms();
    if (failures) fprintf(stderr, "%d failure(s)\n", failures);
    else printf("codec: all passed\n");
    return failures ? 1 : 0;
}
