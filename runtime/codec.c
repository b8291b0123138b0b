/* The byte encodings the bindings share: hex, base64 (RFC 4648) and
 * percent-encoding (RFC 3986). One implementation each, so SigV4's canonical
 * request, relrun.http's url_encode and the secret masker's URL-encoded
 * form can never disagree about which characters stay. */
#include "rr.h"

#include <string.h>

static const char HEX_LOWER[] = "0123456789abcdef";
static const char HEX_UPPER[] = "0123456789ABCDEF";
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ---- hex ---------------------------------------------------------------- */

void rr_hex_encode(const void *in, size_t n, char *out) {
    const unsigned char *p = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = HEX_LOWER[p[i] >> 4];
        out[2 * i + 1] = HEX_LOWER[p[i] & 15];
    }
    out[2 * n] = '\0';
}

int rr_hex_digit(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t rr_hex_decode(const char *in, size_t n, unsigned char *out) {
    for (size_t i = 0; i < n; i++) {
        int hi = rr_hex_digit((unsigned char)in[2 * i]), lo = rr_hex_digit((unsigned char)in[2 * i + 1]);
        if (hi < 0) return 2 * i + 1;
        if (lo < 0) return 2 * i + 2;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

void rr_push_hex(lua_State *L, const void *in, size_t n) {
    luaL_Buffer b;
    char *o = luaL_buffinitsize(L, &b, 2 * n + 1); /* + the NUL rr_hex_encode writes */
    rr_hex_encode(in, n, o);
    luaL_pushresultsize(&b, 2 * n);
}

/* ---- base64 ------------------------------------------------------------- */

size_t rr_base64_encode(const void *in, size_t n, char *out) {
    const unsigned char *s = in;
    size_t i, j = 0;
    for (i = 0; i + 2 < n; i += 3) {
        unsigned long v = (unsigned long)s[i] << 16 | (unsigned long)s[i + 1] << 8 | s[i + 2];
        out[j++] = B64[v >> 18];
        out[j++] = B64[v >> 12 & 63];
        out[j++] = B64[v >> 6 & 63];
        out[j++] = B64[v & 63];
    }
    if (i < n) { /* one or two bytes left: pad to four characters */
        unsigned long v = (unsigned long)s[i] << 16 | (i + 1 < n ? (unsigned long)s[i + 1] << 8 : 0);
        out[j++] = B64[v >> 18];
        out[j++] = B64[v >> 12 & 63];
        out[j++] = i + 1 < n ? B64[v >> 6 & 63] : '=';
        out[j++] = '=';
    }
    return j;
}

/* The standard alphabet's value of c (RFC 4648 section 4), or -1. */
static int base64_digit(unsigned char c) {
    const char *p = c ? strchr(B64, c) : NULL;
    return p ? (int)(p - B64) : -1;
}

size_t rr_base64_decode(const char *in, size_t n, unsigned char *out, size_t *outlen) {
    const unsigned char *s = (const unsigned char *)in;
    size_t pad = 0, j = 0;
    while (pad < 2 && n > pad && s[n - 1 - pad] == '=') pad++;
    for (size_t i = 0; i + 4 <= n; i += 4) {
        unsigned long v = 0;
        for (size_t k = 0; k < 4; k++) {
            int d = i + k >= n - pad ? 0 : base64_digit(s[i + k]);
            if (d < 0) return i + k + 1;
            v = v << 6 | (unsigned long)d;
        }
        out[j++] = (unsigned char)(v >> 16);
        out[j++] = (unsigned char)(v >> 8);
        out[j++] = (unsigned char)v;
    }
    *outlen = j - pad;
    return 0;
}

/* Either alphabet's value of c (sections 4 and 5), or -1. */
static int base64_any_digit(int c) {
    if (c == '-') return 62;
    if (c == '_') return 63;
    return base64_digit((unsigned char)c);
}

size_t rr_base64_decode_loose(const char *in, size_t n, unsigned char *out, size_t cap) {
    size_t len = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n && len < cap; i++) {
        int v = base64_any_digit((unsigned char)in[i]);
        if (v < 0) continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[len++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    return len;
}

/* ---- percent-encoding --------------------------------------------------- */

/* RFC 3986 section 2.3: ALPHA / DIGIT / "-" / "." / "_" / "~". */
static int unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.' || c == '~';
}

size_t rr_pct_encode(const char *in, size_t n, const char *keep, char *out) {
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (unreserved(c) || (keep != NULL && c != '\0' && strchr(keep, c) != NULL)) {
            out[j++] = (char)c;
        } else {
            out[j++] = '%';
            out[j++] = HEX_UPPER[c >> 4];
            out[j++] = HEX_UPPER[c & 15];
        }
    }
    return j;
}

size_t rr_pct_decode(const char *in, size_t n, int plus_space, char *out) {
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (in[i] == '%' && i + 2 < n && (hi = rr_hex_digit((unsigned char)in[i + 1])) >= 0 &&
            (lo = rr_hex_digit((unsigned char)in[i + 2])) >= 0) {
            out[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[j++] = plus_space && in[i] == '+' ? ' ' : in[i];
        }
    }
    return j;
}

void rr_add_pct_encoded(luaL_Buffer *b, const char *s, size_t n, const char *keep) {
    char *o = luaL_prepbuffsize(b, 3 * n);
    luaL_addsize(b, rr_pct_encode(s, n, keep, o));
}

void rr_push_pct_encoded(lua_State *L, const char *s, size_t n, const char *keep) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    rr_add_pct_encoded(&b, s, n, keep);
    luaL_pushresult(&b);
}

void rr_push_pct_decoded(lua_State *L, const char *s, size_t n, int plus_space) {
    luaL_Buffer b;
    char *o = luaL_buffinitsize(L, &b, n);
    luaL_pushresultsize(&b, rr_pct_decode(s, n, plus_space, o));
}
