/*
 * relrun.sigv4: AWS Signature Version 4 (header and query signing).
 *
 * The request's url is taken as it goes on the wire (already
 * percent-encoded). The canonical form follows botocore's SigV4Auth and the
 * AWS test suite: header names lower-cased, values trimmed with inner runs
 * of white space collapsed, duplicates joined with ","; query parameters
 * decoded, re-encoded (unreserved characters kept) and sorted; the path
 * normalised and encoded a second time for every service except S3, whose
 * path is signed exactly as sent.
 *
 * Everything is built on the Lua stack (luaL_Buffer, userdata arrays), so a
 * raised error never leaks memory.
 */
#include "rr.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ALGORITHM "AWS4-HMAC-SHA256"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* One header or query pair; the strings are anchored in the `anchor` table. */
typedef struct {
    const char *name, *value;
    size_t nlen, vlen;
    int order; /* keeps the sort stable: duplicates stay in the given order */
} pair;

/* Everything sign/presign/canonical_request need from the options table. */
typedef struct {
    const char *method, *service, *region, *access_key, *secret_key, *token;
    const char *scheme, *host, *path, *query; /* slices of the url, anchored */
    size_t scheme_len, host_len, path_len, query_len;
    char date[17];           /* 20150830T123600Z */
    char day[9];             /* 20150830 */
    char payload[65 + 32];   /* hex sha256 or UNSIGNED-PAYLOAD */
    int s3, normalize, double_encode, content_sha256, sign_token;
    lua_Integer expires;     /* > 0: query signing */
    int opts, anchor;        /* stack slots */
} request;

/* ---- hashing --------------------------------------------------------- */

/* SHA-256, fetched once: OpenSSL 3 looks an algorithm up on every
 * EVP_sha256()/HMAC() call otherwise, which costs more than the hashing of
 * a canonical request. */
static const EVP_MD *sha256_md(void) {
    static EVP_MD *md;
    if (md == NULL) md = EVP_MD_fetch(NULL, "SHA256", NULL);
    return md;
}

/* Hash the concatenation of two pieces (HMAC needs pad || message). */
static void sha256_2(EVP_MD_CTX *ctx, const void *a, size_t an, const void *b, size_t bn, unsigned char out[32]) {
    EVP_DigestInit_ex(ctx, sha256_md(), NULL);
    EVP_DigestUpdate(ctx, a, an);
    if (bn > 0) EVP_DigestUpdate(ctx, b, bn);
    EVP_DigestFinal_ex(ctx, out, NULL);
}

/* One digest context for the thread, reused: creating one per hash is a
 * malloc and a provider context each time. */
static EVP_MD_CTX *digest_ctx(void) {
    static _Thread_local EVP_MD_CTX *ctx;
    if (ctx == NULL) ctx = EVP_MD_CTX_new();
    return ctx;
}

static void sha256_hex(const char *s, size_t n, char out[65]) {
    unsigned char md[32];
    sha256_2(digest_ctx(), s, n, NULL, 0, md);
    rr_hex_encode(md, 32, out);
}

/* HMAC-SHA256 (RFC 2104) over the digest above; keys here are at most 64
 * bytes ("AWS4" + a 40-character secret, or a 32-byte derived key). */
static void hmac(EVP_MD_CTX *ctx, const void *key, size_t klen, const char *data, size_t n, unsigned char out[32]) {
    unsigned char pad[64], inner[32];
    unsigned char k[64] = {0};
    if (klen > 64) sha256_2(ctx, key, klen, NULL, 0, k);
    else memcpy(k, key, klen);
    for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x36;
    sha256_2(ctx, pad, 64, data, n, inner);
    for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x5c;
    sha256_2(ctx, pad, 64, inner, 32, out);
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
}

/* ---- percent-encoding (runtime/codec.c: SigV4's UriEncode is RFC 3986's) -- */

/* Push decode-then-encode of `s`: the canonical form of a query key or value. */
static void push_reencoded(lua_State *L, const char *s, size_t n) {
    size_t dn;
    const char *d;
    rr_push_pct_decoded(L, s, n, 0);
    d = lua_tolstring(L, -1, &dn);
    rr_push_pct_encoded(L, d, dn, NULL);
    lua_remove(L, -2);
}

/* Keep the string on top of the stack alive for the whole call. */
static const char *anchor(lua_State *L, request *r, size_t *len) {
    const char *s = lua_tolstring(L, -1, len);
    lua_rawseti(L, r->anchor, (lua_Integer)lua_rawlen(L, r->anchor) + 1);
    return s;
}

/* ---- url ------------------------------------------------------------- */

/* Split scheme://[userinfo@]host[:port]/path?query#fragment into r. */
static void parse_url(lua_State *L, request *r, const char *url) {
    const char *p = strstr(url, "://"), *auth, *end, *at;
    if (p == NULL) luaL_error(L, "sigv4: url '%s' has no scheme", url);
    r->scheme = url;
    r->scheme_len = (size_t)(p - url);
    auth = p + 3;
    end = auth + strcspn(auth, "/?#");
    at = memchr(auth, '@', (size_t)(end - auth));
    if (at != NULL) auth = at + 1;
    r->host = auth;
    r->host_len = (size_t)(end - auth);
    if (r->host_len == 0) luaL_error(L, "sigv4: url has no host");
    r->path = end;
    r->path_len = strcspn(end, "?#");
    if (end[r->path_len] == '?') {
        r->query = end + r->path_len + 1;
        r->query_len = strcspn(r->query, "#");
    } else {
        r->query = "";
        r->query_len = 0;
    }
}

static int scheme_is(const request *r, const char *name) {
    return r->scheme_len == strlen(name) && strncasecmp(r->scheme, name, r->scheme_len) == 0;
}

/* The Host header: host[:port] lower-cased, without the scheme's default
 * port (what curl sends, and what botocore signs). */
static void push_host(lua_State *L, const request *r) {
    const char *h = r->host, *close = memchr(h, ']', r->host_len); /* [v6]:port */
    const char *from = close ? close : h;
    const char *colon = memchr(from, ':', r->host_len - (size_t)(from - h));
    size_t n = r->host_len;
    luaL_Buffer b;
    if (colon != NULL) {
        size_t plen = r->host_len - (size_t)(colon + 1 - h);
        if ((scheme_is(r, "http") && plen == 2 && memcmp(colon + 1, "80", 2) == 0) ||
            (scheme_is(r, "https") && plen == 3 && memcmp(colon + 1, "443", 3) == 0))
            n = (size_t)(colon - h);
    }
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < n; i++) luaL_addchar(&b, (char)((h[i] >= 'A' && h[i] <= 'Z') ? h[i] + 32 : h[i]));
    luaL_pushresult(&b);
}

/* ---- path ------------------------------------------------------------ */

static int is_dot(const char *s, size_t n) { return n == 1 && s[0] == '.'; }
static int is_dotdot(const char *s, size_t n) { return n == 2 && s[0] == '.' && s[1] == '.'; }

/* Remove dot segments and empty segments (RFC 3986 5.2.4, and "//" -> "/"),
 * as botocore signs a non-S3 path (utils.remove_dot_segments): a trailing
 * slash stays only when the path ends in "/" ("/a/." and "/a/b/.." are
 * "/a"), and an empty result is "/". */
static void push_normalized_path(lua_State *L, const char *p, size_t n) {
    size_t *starts = lua_newuserdatauv(L, (n + 1) * 2 * sizeof(size_t), 0);
    size_t *lens = starts + n + 1;
    size_t depth = 0, i = 0, last = 0;
    luaL_Buffer b;
    while (i <= n) {
        size_t j = i;
        while (j < n && p[j] != '/') j++;
        last = j - i;
        if (is_dotdot(p + i, last)) {
            if (depth > 0) depth--;
        } else if (last > 0 && !is_dot(p + i, last)) {
            starts[depth] = i;
            lens[depth++] = last;
        }
        if (j == n) break;
        i = j + 1;
    }
    int trailing = last == 0;
    luaL_buffinit(L, &b);
    for (size_t k = 0; k < depth; k++) {
        luaL_addchar(&b, '/');
        luaL_addlstring(&b, p + starts[k], lens[k]);
    }
    if (depth == 0 || trailing) luaL_addchar(&b, '/');
    luaL_pushresult(&b);
    lua_remove(L, -2); /* the scratch arrays */
}

static void push_canonical_path(lua_State *L, const request *r) {
    const char *p = r->path;
    size_t n = r->path_len;
    if (n == 0) { lua_pushliteral(L, "/"); return; }
    if (r->normalize) {
        push_normalized_path(L, p, n);
        p = lua_tolstring(L, -1, &n);
    } else {
        lua_pushlstring(L, p, n);
    }
    if (r->double_encode) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        rr_add_pct_encoded(&b, p, n, "/");
        luaL_pushresult(&b);
        lua_remove(L, -2);
    }
}

/* ---- sorting pairs --------------------------------------------------- */

static int pair_cmp(const void *a, const void *b) {
    const pair *x = a, *y = b;
    size_t n = x->nlen < y->nlen ? x->nlen : y->nlen;
    int c = memcmp(x->name, y->name, n);
    if (c == 0 && x->nlen != y->nlen) c = x->nlen < y->nlen ? -1 : 1;
    return c != 0 ? c : (x->order > y->order) - (x->order < y->order);
}

/* Query pairs compare by key, then value (SigV4 sorts by both). */
static int query_cmp(const void *a, const void *b) {
    const pair *x = a, *y = b;
    size_t n;
    int c;
    n = x->nlen < y->nlen ? x->nlen : y->nlen;
    c = memcmp(x->name, y->name, n);
    if (c == 0 && x->nlen != y->nlen) return x->nlen < y->nlen ? -1 : 1;
    if (c != 0) return c;
    n = x->vlen < y->vlen ? x->vlen : y->vlen;
    c = memcmp(x->value, y->value, n);
    if (c == 0 && x->vlen != y->vlen) return x->vlen < y->vlen ? -1 : 1;
    return c;
}

/* ---- query ------------------------------------------------------------ */

static size_t count_char(const char *s, size_t n, char c) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += s[i] == c;
    return k;
}

/* Push a (key, value) pair already in canonical encoding. */
static void add_query_pair(lua_State *L, request *r, pair *pairs, size_t *np,
                           const char *k, size_t kl, const char *v, size_t vl, int encode) {
    pair *q = &pairs[*np];
    if (encode) push_reencoded(L, k, kl); else lua_pushlstring(L, k, kl);
    q->name = anchor(L, r, &q->nlen);
    if (encode) push_reencoded(L, v, vl); else lua_pushlstring(L, v, vl);
    q->value = anchor(L, r, &q->vlen);
    q->order = (int)(*np)++;
}

static void push_credential(lua_State *L, const request *r);

/* Push the canonical query string; with query signing the X-Amz-* parameters
 * (given signed headers on the stack top) join it. */
static void push_canonical_query(lua_State *L, request *r, const char *signed_headers) {
    size_t cap = count_char(r->query, r->query_len, '&') + 1 + 6, np = 0;
    pair *pairs = lua_newuserdatauv(L, cap * sizeof(pair), 0);
    const char *s = r->query, *end = r->query + r->query_len;
    luaL_Buffer b;
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *e = amp ? amp : end;
        if (e > s) {
            const char *eq = memchr(s, '=', (size_t)(e - s));
            if (eq) add_query_pair(L, r, pairs, &np, s, (size_t)(eq - s), eq + 1, (size_t)(e - eq - 1), 1);
            else add_query_pair(L, r, pairs, &np, s, (size_t)(e - s), "", 0, 1);
        }
        s = e + 1;
    }
    if (r->expires > 0) {
        size_t n;
        const char *v;
        add_query_pair(L, r, pairs, &np, "X-Amz-Algorithm", 15, ALGORITHM, strlen(ALGORITHM), 0);
        push_credential(L, r);
        v = lua_tolstring(L, -1, &n);
        add_query_pair(L, r, pairs, &np, "X-Amz-Credential", 16, v, n, 1);
        lua_pop(L, 1);
        add_query_pair(L, r, pairs, &np, "X-Amz-Date", 10, r->date, strlen(r->date), 0);
        lua_pushfstring(L, "%I", r->expires);
        v = lua_tolstring(L, -1, &n);
        add_query_pair(L, r, pairs, &np, "X-Amz-Expires", 13, v, n, 0);
        lua_pop(L, 1);
        if (r->token && r->sign_token)
            add_query_pair(L, r, pairs, &np, "X-Amz-Security-Token", 20, r->token, strlen(r->token), 1);
        add_query_pair(L, r, pairs, &np, "X-Amz-SignedHeaders", 19, signed_headers, strlen(signed_headers), 1);
    }
    qsort(pairs, np, sizeof(pair), query_cmp);
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < np; i++) {
        if (i > 0) luaL_addchar(&b, '&');
        luaL_addlstring(&b, pairs[i].name, pairs[i].nlen);
        luaL_addchar(&b, '=');
        luaL_addlstring(&b, pairs[i].value, pairs[i].vlen);
    }
    luaL_pushresult(&b);
    lua_remove(L, -2); /* pairs */
}

/* ---- headers ---------------------------------------------------------- */

/* Push `s` lower-cased (names). */
static void push_lower(lua_State *L, const char *s, size_t n) {
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, n);
    for (size_t i = 0; i < n; i++) out[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
    luaL_pushresultsize(&b, n);
}

/* Push `s` trimmed with inner runs of white space collapsed to one space. */
static void push_trimmed(lua_State *L, const char *s, size_t n) {
    luaL_Buffer b;
    int space = 0, any = 0;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
            space = 1;
            continue;
        }
        if (space && any) luaL_addchar(&b, ' ');
        luaL_addchar(&b, c);
        space = 0;
        any = 1;
    }
    luaL_pushresult(&b);
}

/* Add one header (name and value on the stack top, popped). Names that the
 * signer itself sets are replaced, so a caller's stale x-amz-date never
 * gets signed next to the fresh one. */
static void add_header(lua_State *L, request *r, pair *h, size_t *nh) {
    pair *p = &h[*nh];
    size_t n;
    const char *s = lua_tolstring(L, -2, &n);
    push_lower(L, s, n);
    p->name = anchor(L, r, &p->nlen);
    s = lua_tolstring(L, -1, &n);
    push_trimmed(L, s, n);
    p->value = anchor(L, r, &p->vlen);
    lua_pop(L, 2);
    if ((p->nlen == 10 && memcmp(p->name, "x-amz-date", 10) == 0) ||
        (p->nlen == 20 && memcmp(p->name, "x-amz-security-token", 20) == 0) ||
        (p->nlen == 20 && memcmp(p->name, "x-amz-content-sha256", 20) == 0) ||
        (p->nlen == 13 && memcmp(p->name, "authorization", 13) == 0))
        return; /* set by the signer */
    p->order = (int)(*nh)++;
}

static size_t header_count(lua_State *L, int t) {
    size_t n = 0;
    if (lua_isnil(L, t)) return 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        n += lua_istable(L, -1) ? lua_rawlen(L, -1) : 1;
        lua_pop(L, 1);
    }
    return n;
}

/* The caller's headers: a map {name = value | {value, ...}} or a list of
 * {name, value} pairs (order kept for duplicate names). */
static void collect_headers(lua_State *L, request *r, int t, pair *h, size_t *nh) {
    if (lua_isnil(L, t)) return;
    luaL_checktype(L, t, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, t)) { /* [key, value] */
        if (lua_type(L, -2) == LUA_TNUMBER && lua_istable(L, -1)) {
            lua_rawgeti(L, -1, 1);
            lua_rawgeti(L, -2, 2);
            if (!lua_isstring(L, -2) || !lua_isstring(L, -1))
                luaL_error(L, "sigv4: header pair must be {name, value}");
            add_header(L, r, h, nh);
        } else if (lua_type(L, -2) == LUA_TSTRING && lua_istable(L, -1)) {
            lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
            for (lua_Integer i = 1; i <= n; i++) {
                lua_pushvalue(L, -2);
                lua_rawgeti(L, -2, i);
                if (!lua_isstring(L, -1)) luaL_error(L, "sigv4: header values must be strings");
                add_header(L, r, h, nh);
            }
        } else if (lua_type(L, -2) == LUA_TSTRING && lua_isstring(L, -1)) {
            lua_pushvalue(L, -2);
            lua_pushvalue(L, -2);
            add_header(L, r, h, nh);
        } else {
            luaL_error(L, "sigv4: header %s must be a string", lua_tostring(L, -2));
        }
        lua_pop(L, 1);
    }
}

static int has_header(const pair *h, size_t nh, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < nh; i++)
        if (h[i].nlen == n && memcmp(h[i].name, name, n) == 0) return 1;
    return 0;
}

/* A header the signer sets itself (add_header drops callers' copies). */
static void add_own(lua_State *L, request *r, pair *h, size_t *nh, const char *name, const char *value) {
    pair *p = &h[*nh];
    p->name = name;
    p->nlen = strlen(name);
    lua_pushstring(L, value);
    p->value = anchor(L, r, &p->vlen);
    p->order = (int)(*nh)++;
}

static int same_name(const pair *a, const pair *b) {
    return a->nlen == b->nlen && memcmp(a->name, b->name, a->nlen) == 0;
}

/* From sorted pairs, push "name:v1,v2\n..." then "name;name2;...". */
static void push_header_block(lua_State *L, const pair *h, size_t nh) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < nh; i++) {
        if (i > 0 && same_name(&h[i], &h[i - 1])) {
            luaL_addchar(&b, ','); /* repeated header: values joined in order */
        } else {
            if (i > 0) luaL_addchar(&b, '\n');
            luaL_addlstring(&b, h[i].name, h[i].nlen);
            luaL_addchar(&b, ':');
        }
        luaL_addlstring(&b, h[i].value, h[i].vlen);
    }
    luaL_addchar(&b, '\n');
    luaL_pushresult(&b);
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < nh; i++) {
        if (i > 0 && same_name(&h[i], &h[i - 1])) continue;
        if (i > 0) luaL_addchar(&b, ';');
        luaL_addlstring(&b, h[i].name, h[i].nlen);
    }
    luaL_pushresult(&b);
}

/* Push the canonical headers block, then the signed header list. */
static void push_canonical_headers(lua_State *L, request *r) {
    int t;
    size_t cap, nh = 0;
    pair *h;
    lua_getfield(L, r->opts, "headers");
    t = lua_absindex(L, -1);
    cap = header_count(L, t) + 5;
    h = lua_newuserdatauv(L, cap * sizeof(pair), 0);
    memset(h, 0, cap * sizeof(pair));
    collect_headers(L, r, t, h, &nh);
    if (!has_header(h, nh, "host")) {
        push_host(L, r);
        h[nh].name = "host";
        h[nh].nlen = 4;
        h[nh].value = anchor(L, r, &h[nh].vlen);
        h[nh].order = (int)nh;
        nh++;
    }
    if (r->expires <= 0) {
        add_own(L, r, h, &nh, "x-amz-date", r->date);
        if (r->token && r->sign_token) add_own(L, r, h, &nh, "x-amz-security-token", r->token);
        if (r->content_sha256) add_own(L, r, h, &nh, "x-amz-content-sha256", r->payload);
    }
    qsort(h, nh, sizeof(pair), pair_cmp);
    push_header_block(L, h, nh);
    lua_remove(L, -3); /* h */
    lua_remove(L, -3); /* headers option */
}

/* ---- the request ------------------------------------------------------ */

static const char *req_string(lua_State *L, request *r, const char *key) {
    const char *s = rr_optfield_string(L, r->opts, key, NULL);
    if (s == NULL) luaL_error(L, "sigv4: option '%s' is required", key);
    return s;
}

static void set_payload(lua_State *L, request *r, int query) {
    const char *hash = rr_optfield_string(L, r->opts, "payload_hash", NULL);
    size_t n;
    const char *body;
    if (hash != NULL) {
        if (strlen(hash) >= sizeof r->payload) luaL_error(L, "sigv4: payload_hash is too long");
        strcpy(r->payload, hash);
        return;
    }
    lua_getfield(L, r->opts, "body");
    if (lua_isnil(L, -1)) {
        /* S3 presigned URLs are for whoever sends the body later */
        strcpy(r->payload, (query && r->s3) ? "UNSIGNED-PAYLOAD" : EMPTY_SHA256);
    } else {
        if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "sigv4: option 'body' must be a string");
        body = lua_tolstring(L, -1, &n);
        sha256_hex(body, n, r->payload);
    }
    lua_pop(L, 1);
}

/* X-Amz-Date has four year digits: past 9999 strftime would not fit the
 * buffer and leave a truncated date, unterminated (found by fuzz_sigv4). */
#define MAX_TIME 253402300799LL /* 9999-12-31T23:59:59Z */

static void set_date(lua_State *L, request *r) {
    lua_Integer t = rr_optfield_integer(L, r->opts, "time", (lua_Integer)time(NULL));
    time_t tt = (time_t)t;
    struct tm tm;
    if (t < 0 || t > MAX_TIME || gmtime_r(&tt, &tm) == NULL)
        luaL_error(L, "sigv4: time %I is out of range (0 .. %I)", (LUAI_UACINT)t, (LUAI_UACINT)MAX_TIME);
    strftime(r->date, sizeof r->date, "%Y%m%dT%H%M%SZ", &tm);
    memcpy(r->day, r->date, 8);
    r->day[8] = '\0';
}

/* Register opts[key] as a secret, once per value: a signer called in a loop
 * must not re-derive its encoded forms every time. */
static void add_secret(lua_State *L, const char *key) {
    static const char seen_key = 0; /* registry key: set of registered values */
    size_t n;
    const char *s;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &seen_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &seen_key);
    }
    lua_getfield(L, 1, key);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, -3) == LUA_TNIL) {
        s = lua_tolstring(L, -2, &n);
        rr_secret_add(L, s, n);
        lua_pushvalue(L, -2);
        lua_pushboolean(L, 1);
        lua_rawset(L, -5);
    }
    lua_pop(L, 3);
}

/* Read and check the options at index 1; leaves [opts, anchor] on the stack. */
static void read_request(lua_State *L, request *r, int query) {
    const char *url;
    memset(r, 0, sizeof *r);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_createtable(L, 32, 0);
    r->opts = 1;
    r->anchor = 2;
    r->method = req_string(L, r, "method");
    url = req_string(L, r, "url");
    r->service = req_string(L, r, "service");
    r->region = req_string(L, r, "region");
    r->access_key = req_string(L, r, "access_key");
    r->secret_key = req_string(L, r, "secret_key");
    r->token = rr_optfield_string(L, 1, "session_token", NULL);
    if (r->token != NULL && r->token[0] == '\0') r->token = NULL;
    add_secret(L, "secret_key");
    if (r->token) add_secret(L, "session_token");
    r->s3 = strcmp(r->service, "s3") == 0;
    r->normalize = rr_optfield_boolean(L, 1, "normalize_path", !r->s3);
    r->double_encode = rr_optfield_boolean(L, 1, "double_encode", !r->s3);
    r->content_sha256 = rr_optfield_boolean(L, 1, "content_sha256", r->s3);
    r->sign_token = rr_optfield_boolean(L, 1, "sign_session_token", 1);
    if (query) {
        r->expires = rr_optfield_integer(L, 1, "expires", 3600);
        luaL_argcheck(L, r->expires > 0 && r->expires <= 604800, 1, "expires must be 1..604800 seconds");
        r->content_sha256 = 0;
    }
    parse_url(L, r, url);
    set_date(L, r);
    set_payload(L, r, query);
}

static void push_credential(lua_State *L, const request *r) {
    lua_pushfstring(L, "%s/%s/%s/%s/aws4_request", r->access_key, r->day, r->region, r->service);
}

/* Push the canonical request, then the signed header list. */
static void push_canonical_request(lua_State *L, request *r) {
    luaL_Buffer b;
    int base = lua_gettop(L);
    push_canonical_headers(L, r);                           /* base+1 headers, base+2 signed */
    push_canonical_path(L, r);                              /* base+3 */
    push_canonical_query(L, r, lua_tostring(L, base + 2)); /* base+4 */
    luaL_buffinit(L, &b);
    luaL_addstring(&b, r->method);
    for (int i = 3; i <= 4; i++) {
        luaL_addchar(&b, '\n');
        lua_pushvalue(L, base + i);
        luaL_addvalue(&b);
    }
    luaL_addchar(&b, '\n');
    lua_pushvalue(L, base + 1);
    luaL_addvalue(&b);
    luaL_addchar(&b, '\n');
    lua_pushvalue(L, base + 2);
    luaL_addvalue(&b);
    luaL_addchar(&b, '\n');
    luaL_addstring(&b, r->payload);
    luaL_pushresult(&b);       /* base+5 */
    lua_replace(L, base + 1);  /* [creq, signed, path, query] */
    lua_settop(L, base + 2);
}

static void push_string_to_sign(lua_State *L, const request *r, const char *creq, size_t n) {
    char hex[65];
    sha256_hex(creq, n, hex);
    lua_pushfstring(L, ALGORITHM "\n%s\n%s/%s/%s/aws4_request\n%s", r->date, r->day, r->region,
                    r->service, hex);
}

/* The signing key depends only on the secret, the day, the region and the
 * service, so the last one is kept (as the AWS SDKs' signing-key caches do):
 * a run signs many requests with one key. */
typedef struct {
    char secret[128], day[9], region[64], service[64];
    unsigned char key[32];
    int valid;
} key_cache;

static int cache_hit(const key_cache *c, const request *r) {
    return c->valid && strcmp(c->secret, r->secret_key) == 0 && strcmp(c->day, r->day) == 0 &&
           strcmp(c->region, r->region) == 0 && strcmp(c->service, r->service) == 0;
}

static void signing_key(EVP_MD_CTX *ctx, const request *r, unsigned char k[32]) {
    static _Thread_local key_cache cache;
    size_t slen = strlen(r->secret_key);
    char key[4 + 256];
    if (cache_hit(&cache, r)) {
        memcpy(k, cache.key, 32);
        return;
    }
    if (slen > 256) slen = 256; /* AWS secret keys are 40 characters */
    memcpy(key, "AWS4", 4);
    memcpy(key + 4, r->secret_key, slen);
    hmac(ctx, key, 4 + slen, r->day, 8, k);
    OPENSSL_cleanse(key, sizeof key);
    hmac(ctx, k, 32, r->region, strlen(r->region), k);
    hmac(ctx, k, 32, r->service, strlen(r->service), k);
    hmac(ctx, k, 32, "aws4_request", 12, k);
    OPENSSL_cleanse(&cache, sizeof cache);
    if (strlen(r->secret_key) < sizeof cache.secret && strlen(r->region) < sizeof cache.region &&
        strlen(r->service) < sizeof cache.service) {
        strcpy(cache.secret, r->secret_key);
        strcpy(cache.day, r->day);
        strcpy(cache.region, r->region);
        strcpy(cache.service, r->service);
        memcpy(cache.key, k, 32);
        cache.valid = 1;
    }
}

static void signature(const request *r, const char *sts, size_t n, char out[65]) {
    unsigned char k[32];
    EVP_MD_CTX *ctx = digest_ctx();
    signing_key(ctx, r, k);
    hmac(ctx, k, 32, sts, n, k);
    rr_hex_encode(k, 32, out);
}

/* ---- Lua functions ------------------------------------------------------ */

static int l_canonical_request(lua_State *L) {
    request r;
    lua_getfield(L, 1, "expires");
    int query = !lua_isnil(L, -1);
    lua_pop(L, 1);
    read_request(L, &r, query);
    push_canonical_request(L, &r);
    lua_pop(L, 1);
    return 1;
}

static int l_string_to_sign(lua_State *L) {
    request r;
    size_t n;
    const char *creq;
    lua_getfield(L, 1, "expires");
    int query = !lua_isnil(L, -1);
    lua_pop(L, 1);
    read_request(L, &r, query);
    push_canonical_request(L, &r);
    creq = lua_tolstring(L, -2, &n);
    push_string_to_sign(L, &r, creq, n);
    return 1;
}

static int l_sign(lua_State *L) {
    request r;
    size_t n;
    const char *creq, *sts;
    char sig[65];
    read_request(L, &r, 0);
    push_canonical_request(L, &r); /* [creq, signed] */
    creq = lua_tolstring(L, -2, &n);
    push_string_to_sign(L, &r, creq, n);
    sts = lua_tolstring(L, -1, &n);
    signature(&r, sts, n, sig);
    const char *signed_headers = lua_tostring(L, -2);
    lua_createtable(L, 0, 4);
    lua_pushfstring(L, ALGORITHM " Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
                    r.access_key, r.day, r.region, r.service, signed_headers, sig);
    lua_setfield(L, -2, "authorization");
    lua_pushstring(L, r.date);
    lua_setfield(L, -2, "x-amz-date");
    if (r.token) {
        lua_pushstring(L, r.token);
        lua_setfield(L, -2, "x-amz-security-token");
    }
    if (r.content_sha256) {
        lua_pushstring(L, r.payload);
        lua_setfield(L, -2, "x-amz-content-sha256");
    }
    return 1;
}

static int l_presign(lua_State *L) {
    request r;
    size_t n;
    const char *creq, *sts, *q;
    char sig[65];
    luaL_Buffer b;
    read_request(L, &r, 1);
    push_canonical_request(L, &r); /* [creq, signed] */
    creq = lua_tolstring(L, -2, &n);
    push_string_to_sign(L, &r, creq, n);
    sts = lua_tolstring(L, -1, &n);
    signature(&r, sts, n, sig);
    /* the canonical query is the creq's third line */
    q = strchr(strchr(creq, '\n') + 1, '\n') + 1;
    luaL_buffinit(L, &b);
    luaL_addlstring(&b, r.scheme, r.scheme_len);
    luaL_addstring(&b, "://");
    luaL_addlstring(&b, r.host, r.host_len);
    luaL_addlstring(&b, r.path, r.path_len);
    luaL_addchar(&b, '?');
    luaL_addlstring(&b, q, strcspn(q, "\n"));
    if (r.token && !r.sign_token) {
        luaL_addstring(&b, "&X-Amz-Security-Token=");
        rr_add_pct_encoded(&b, r.token, strlen(r.token), NULL);
    }
    luaL_addstring(&b, "&X-Amz-Signature=");
    luaL_addstring(&b, sig);
    luaL_pushresult(&b);
    return 1;
}

int luaopen_relrun_sigv4(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"sign", l_sign},
        {"presign", l_presign},
        {"canonical_request", l_canonical_request},
        {"string_to_sign", l_string_to_sign},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    return 1;
}
