/*
 * relrun.http: HTTP(S) requests over libcurl.
 *
 * One easy handle per Lua state is reused for every request, so libcurl's
 * connection cache keeps connections alive between requests. Bodies stream
 * from files and downloads stream to files; only string bodies and answers
 * without `output` are held in memory.
 *
 * Everything a request allocates (header list, mime parts, files, buffers)
 * belongs to a `relrun.http.transfer` userdata, so a Lua error at any point
 * frees it through __gc. Lua code (on_progress) runs under lua_pcall from
 * curl's progress callback; its error is kept in the transfer and raised
 * only after curl_easy_perform has returned.
 */
#include "relrun.h"
#include "rr.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define STATE_T "relrun.http.state"
#define STATE_KEY "relrun.http.handle" /* registry field holding this state's handle */
#define TRANSFER_T "relrun.http.transfer"
#define URL_T "relrun.http.url"

/* The stack slots of one request, from a base index b: the options, the
 * transfer, then values kept alive for curl (the body string, the output's
 * temporary path), and the URL and method of the hop being sent (they
 * change when a redirect is followed). request() uses b = 1;
 * request_many() one set per request. */
enum { S_OPTS, S_XFER, S_PROGRESS, S_BODY, S_HEADERS, S_PARTPATH, S_URL, S_METHOD, NSLOTS };
#define OPTS (b + S_OPTS)
#define XFER (b + S_XFER)
#define PROGRESS (b + S_PROGRESS)
#define BODY (b + S_BODY)
#define HEADERS (b + S_HEADERS)
#define PARTPATH (b + S_PARTPATH)
#define URL (b + S_URL)
#define METHOD (b + S_METHOD)

#define MAX_REDIRECTS 5
#define MAX_HEAD (1024 * 1024) /* answer headers kept, all together */

/* CURLcode → name, in curl.h's order (libcurl 7.88). */
static const char *const curle_names[] = {
    "OK", "UNSUPPORTED_PROTOCOL", "FAILED_INIT", "URL_MALFORMAT", "NOT_BUILT_IN",
    "COULDNT_RESOLVE_PROXY", "COULDNT_RESOLVE_HOST", "COULDNT_CONNECT", "WEIRD_SERVER_REPLY",
    "REMOTE_ACCESS_DENIED", "FTP_ACCEPT_FAILED", "FTP_WEIRD_PASS_REPLY", "FTP_ACCEPT_TIMEOUT",
    "FTP_WEIRD_PASV_REPLY", "FTP_WEIRD_227_FORMAT", "FTP_CANT_GET_HOST", "HTTP2",
    "FTP_COULDNT_SET_TYPE", "PARTIAL_FILE", "FTP_COULDNT_RETR_FILE", "OBSOLETE20", "QUOTE_ERROR",
    "HTTP_RETURNED_ERROR", "WRITE_ERROR", "OBSOLETE24", "UPLOAD_FAILED", "READ_ERROR",
    "OUT_OF_MEMORY", "OPERATION_TIMEDOUT", "OBSOLETE29", "FTP_PORT_FAILED", "FTP_COULDNT_USE_REST",
    "OBSOLETE32", "RANGE_ERROR", "HTTP_POST_ERROR", "SSL_CONNECT_ERROR", "BAD_DOWNLOAD_RESUME",
    "FILE_COULDNT_READ_FILE", "LDAP_CANNOT_BIND", "LDAP_SEARCH_FAILED", "OBSOLETE40",
    "FUNCTION_NOT_FOUND", "ABORTED_BY_CALLBACK", "BAD_FUNCTION_ARGUMENT", "OBSOLETE44",
    "INTERFACE_FAILED", "OBSOLETE46", "TOO_MANY_REDIRECTS", "UNKNOWN_OPTION",
    "SETOPT_OPTION_SYNTAX", "OBSOLETE50", "OBSOLETE51", "GOT_NOTHING", "SSL_ENGINE_NOTFOUND",
    "SSL_ENGINE_SETFAILED", "SEND_ERROR", "RECV_ERROR", "OBSOLETE57", "SSL_CERTPROBLEM",
    "SSL_CIPHER", "PEER_FAILED_VERIFICATION", "BAD_CONTENT_ENCODING", "OBSOLETE62",
    "FILESIZE_EXCEEDED", "USE_SSL_FAILED", "SEND_FAIL_REWIND", "SSL_ENGINE_INITFAILED",
    "LOGIN_DENIED", "TFTP_NOTFOUND", "TFTP_PERM", "REMOTE_DISK_FULL", "TFTP_ILLEGAL",
    "TFTP_UNKNOWNID", "REMOTE_FILE_EXISTS", "TFTP_NOSUCHUSER", "OBSOLETE75", "OBSOLETE76",
    "SSL_CACERT_BADFILE", "REMOTE_FILE_NOT_FOUND", "SSH", "SSL_SHUTDOWN_FAILED", "AGAIN",
    "SSL_CRL_BADFILE", "SSL_ISSUER_ERROR", "FTP_PRET_FAILED", "RTSP_CSEQ_ERROR",
    "RTSP_SESSION_ERROR", "FTP_BAD_FILE_LIST", "CHUNK_FAILED", "NO_CONNECTION_AVAILABLE",
    "SSL_PINNEDPUBKEYNOTMATCH", "SSL_INVALIDCERTSTATUS", "HTTP2_STREAM", "RECURSIVE_API_CALL",
    "AUTH_ERROR", "HTTP3", "QUIC_CONNECT_ERROR", "PROXY", "SSL_CLIENTCERT", "UNRECOVERABLE_POLL",
};

static void push_curle_name(lua_State *L, CURLcode c) {
    if ((size_t)c < sizeof curle_names / sizeof curle_names[0])
        lua_pushfstring(L, "CURLE_%s", curle_names[c]);
    else
        lua_pushfstring(L, "CURLE_%d", (int)c);
}

/* ---- the per-state handle ------------------------------------------------ */

#define MAX_PARALLEL 16

typedef struct {
    CURL *curl;                /* request() */
    CURLM *multi;              /* request_many(): keeps its own connections */
    CURL *pool[MAX_PARALLEL];  /* its easy handles, reused */
    int used[MAX_PARALLEL];
    int busy; /* inside a transfer: on_progress must not start another */
    int many; /* inside request_many: its generator, before and after may
               * call request, not request_many (one multi handle) */
} state;

static int global_users; /* states holding curl; the last one cleans up */

static int state_gc(lua_State *L) {
    state *st = luaL_checkudata(L, 1, STATE_T);
    for (int i = 0; i < MAX_PARALLEL; i++) {
        if (st->pool[i] == NULL) continue;
        if (st->used[i]) curl_multi_remove_handle(st->multi, st->pool[i]);
        curl_easy_cleanup(st->pool[i]);
        st->pool[i] = NULL;
    }
    if (st->multi != NULL) curl_multi_cleanup(st->multi);
    st->multi = NULL;
    if (st->curl != NULL) {
        curl_easy_cleanup(st->curl);
        st->curl = NULL;
        if (--global_users == 0) curl_global_cleanup();
    }
    return 0;
}

static state *get_state(lua_State *L) {
    state *st;
    if (lua_getfield(L, LUA_REGISTRYINDEX, STATE_KEY) == LUA_TUSERDATA) {
        st = lua_touserdata(L, -1);
        lua_pop(L, 1);
        return st;
    }
    lua_pop(L, 1);
    st = rr_newhandle(L, sizeof *st, STATE_T);
    if (global_users == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        luaL_error(L, "relrun.http: curl_global_init failed");
    global_users++;
    st->curl = curl_easy_init();
    if (st->curl == NULL) luaL_error(L, "relrun.http: curl_easy_init failed");
    lua_setfield(L, LUA_REGISTRYINDEX, STATE_KEY);
    return st;
}

/* ---- the transfer --------------------------------------------------------- */

typedef struct {
    lua_State *L;
    CURL *curl;         /* request_many: the pool handle it runs on */
    int self;           /* stack index of this userdata (error slot: uservalue 1) */
    int progress;       /* stack index of on_progress, 0 if none */
    struct curl_slist *headers;
    curl_mime *mime;
    FILE *upload, *out;
    char *part_path;        /* out's name, removed if the transfer never finishes */
    curl_off_t upload_left; /* bytes of the file's range still to send */
    curl_off_t max_body;    /* a buffered answer's cap (0: streamed to `output`) */
    rr_buf body, head;
    int callback_failed, interrupted, oom, too_big, head_too_big;
    char errbuf[CURL_ERROR_SIZE];
} transfer;

static void transfer_free(transfer *t) {
    curl_slist_free_all(t->headers);
    t->headers = NULL;
    curl_mime_free(t->mime);
    t->mime = NULL;
    if (t->upload) fclose(t->upload);
    if (t->out) {
        /* still open: the transfer was abandoned (an error raised) */
        fclose(t->out);
        if (t->part_path) remove(t->part_path);
    }
    t->upload = t->out = NULL;
    free(t->part_path);
    t->part_path = NULL;
    rr_buf_free(&t->body);
    rr_buf_free(&t->head);
}

static int transfer_gc(lua_State *L) {
    transfer_free(luaL_checkudata(L, 1, TRANSFER_T));
    return 0;
}

/* ---- curl callbacks (no Lua error may escape these) ------------------------ */

static size_t on_write(char *p, size_t size, size_t n, void *ud) {
    transfer *t = ud;
    if (t->out != NULL) return fwrite(p, size, n, t->out);
    if ((curl_off_t)(t->body.len + size * n) > t->max_body) { t->too_big = 1; return 0; }
    if (rr_buf_add(&t->body, p, size * n) != 0) { t->oom = 1; return 0; }
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    transfer *t = ud;
    /* a new status line (after a redirect or 100 Continue) starts over */
    if (size * n >= 5 && memcmp(p, "HTTP/", 5) == 0) t->head.len = 0;
    if (t->head.len + size * n > MAX_HEAD) { t->head_too_big = 1; return 0; }
    if (rr_buf_add(&t->head, p, size * n) != 0) { t->oom = 1; return 0; }
    return size * n;
}

static size_t on_read(char *p, size_t size, size_t n, void *ud) {
    transfer *t = ud;
    size_t want = size * n, got;
    if ((curl_off_t)want > t->upload_left) want = (size_t)t->upload_left;
    got = fread(p, 1, want, t->upload);
    if (got == 0 && ferror(t->upload)) return CURL_READFUNC_ABORT;
    t->upload_left -= (curl_off_t)got;
    return got;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    transfer *t = ud;
    lua_State *L = t->L;
    if (rr_interrupted()) { t->interrupted = 1; return 1; }
    if (t->progress == 0) return 0;
    if (!lua_checkstack(L, 6)) return 0;
    lua_pushvalue(L, t->progress);
    lua_pushinteger(L, (lua_Integer)ulnow);
    lua_pushinteger(L, (lua_Integer)ultotal);
    lua_pushinteger(L, (lua_Integer)dlnow);
    lua_pushinteger(L, (lua_Integer)dltotal);
    if (lua_pcall(L, 4, 0, 0) != LUA_OK) {
        lua_setiuservalue(L, t->self, 1); /* raised after curl returns */
        t->callback_failed = 1;
        return 1;
    }
    return 0;
}

/* ---- urls ----------------------------------------------------------------- */

/* A parsed url and the part being copied out of it, freed by __gc so that
 * a raise (out of memory in lua_pushstring) never leaks them. */
typedef struct {
    CURLU *u;
    char *part;
} urlbox;

static int url_gc(lua_State *L) {
    urlbox *b = luaL_checkudata(L, 1, URL_T);
    if (b->u) curl_url_cleanup(b->u);
    curl_free(b->part);
    b->u = NULL;
    b->part = NULL;
    return 0;
}

/* Push a urlbox for `url`; returns the CURLUcode (0 on success). */
static CURLUcode push_url(lua_State *L, const char *url) {
    urlbox *b = rr_newhandle(L, sizeof *b, URL_T);
    b->u = curl_url();
    if (b->u == NULL) luaL_error(L, "relrun.http: out of memory");
    return curl_url_set(b->u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
}

/* Push one part of a parsed url as a string, or nil. */
static void push_part(lua_State *L, urlbox *b, CURLUPart part, unsigned flags) {
    if (curl_url_get(b->u, part, &b->part, flags) != CURLUE_OK || b->part == NULL) {
        lua_pushnil(L);
        return;
    }
    lua_pushstring(L, b->part);
    curl_free(b->part);
    b->part = NULL;
}

static int sensitive_param(const char *k, size_t n) {
    static const char *const words[] = {"signature", "token", "credential", "password", "secret", NULL};
    char low[64];
    if (n >= sizeof low) n = sizeof low - 1;
    for (size_t i = 0; i < n; i++) low[i] = (char)((k[i] >= 'A' && k[i] <= 'Z') ? k[i] + 32 : k[i]);
    low[n] = '\0';
    for (int i = 0; words[i]; i++)
        if (strstr(low, words[i])) return 1;
    return 0;
}

/* Push `url` fit to show: no userinfo, the values of query parameters that
 * look like credentials (X-Amz-Signature, X-Amz-Security-Token, ...) as ***. */
static void push_safe_url(lua_State *L, const char *url) {
    const char *scheme_end = strstr(url, "://");
    const char *auth = scheme_end ? scheme_end + 3 : url;
    const char *end = auth + strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', (size_t)(end - auth));
    const char *q = strchr(end, '?');
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addlstring(&b, url, (size_t)(auth - url));
    luaL_addlstring(&b, at ? at + 1 : auth, q ? (size_t)(q - (at ? at + 1 : auth)) : strcspn(at ? at + 1 : auth, "#"));
    if (q != NULL) {
        const char *s = q + 1, *qend = q + 1 + strcspn(q + 1, "#");
        luaL_addchar(&b, '?');
        while (s < qend) {
            const char *amp = memchr(s, '&', (size_t)(qend - s));
            const char *e = amp ? amp : qend;
            const char *eq = memchr(s, '=', (size_t)(e - s));
            if (eq && sensitive_param(s, (size_t)(eq - s))) {
                luaL_addlstring(&b, s, (size_t)(eq - s) + 1);
                luaL_addstring(&b, "***");
            } else {
                luaL_addlstring(&b, s, (size_t)(e - s));
            }
            if (amp) luaL_addchar(&b, '&');
            s = e + 1;
        }
    }
    luaL_pushresult(&b);
}

/* Push the origin of `url` as curl parses it ("scheme://host:port",
 * lower-case, the port always written), or nil. */
static void push_origin(lua_State *L, const char *url) {
    urlbox *u;
    luaL_Buffer b;
    size_t n;
    const char *o;
    char *low;
    if (push_url(L, url) != CURLUE_OK) {
        lua_pop(L, 1);
        lua_pushnil(L);
        return;
    }
    u = lua_touserdata(L, -1);
    push_part(L, u, CURLUPART_SCHEME, 0);
    push_part(L, u, CURLUPART_HOST, 0);
    push_part(L, u, CURLUPART_PORT, CURLU_DEFAULT_PORT);
    if (lua_isnil(L, -3) || lua_isnil(L, -2) || lua_isnil(L, -1)) {
        lua_pop(L, 4);
        lua_pushnil(L);
        return;
    }
    o = lua_pushfstring(L, "%s://%s:%s", lua_tostring(L, -3), lua_tostring(L, -2), lua_tostring(L, -1));
    n = lua_rawlen(L, -1);
    low = luaL_buffinitsize(L, &b, n);
    for (size_t i = 0; i < n; i++) low[i] = (char)((o[i] >= 'A' && o[i] <= 'Z') ? o[i] + 32 : o[i]);
    luaL_pushresultsize(&b, n);                     /* [urlbox, scheme, host, port, origin, low] */
    lua_replace(L, -6);
    lua_pop(L, 4);
}

/* The host of an origin "scheme://host:port". */
static int origin_is_loopback(const char *origin) {
    const char *host = strstr(origin, "://"), *colon = strrchr(origin, ':');
    return host != NULL && colon > host + 3 && rr_host_is_loopback(host + 3, (size_t)(colon - host - 3));
}

/* ---- request headers -------------------------------------------------------- */

static int credential_header(const char *name) {
    return strcasecmp(name, "authorization") == 0 || strcasecmp(name, "x-amz-security-token") == 0 ||
           strcasecmp(name, "proxy-authorization") == 0;
}

static void add_header(lua_State *L, transfer *t, const char *name, const char *value) {
    struct curl_slist *l;
    if (strpbrk(name, "\r\n:") != NULL || name[0] == '\0') luaL_error(L, "relrun.http: bad header name '%s'", name);
    if (strpbrk(value, "\r\n") != NULL) luaL_error(L, "relrun.http: header %s contains a line break", name);
    /* "Name;" is curl's way to send a header with an empty value */
    lua_pushfstring(L, value[0] ? "%s: %s" : "%s;", name, value);
    l = curl_slist_append(t->headers, lua_tostring(L, -1));
    lua_pop(L, 1);
    if (l == NULL) luaL_error(L, "relrun.http: out of memory");
    t->headers = l;
}

/* Walk the headers option: { name = value | {values} } or { {name, value}, ... }.
 * Calls fn for each (name, value). */
static void each_header(lua_State *L, int t, void (*fn)(lua_State *, void *, const char *, const char *), void *ud) {
    if (lua_isnil(L, t)) return;
    luaL_checktype(L, t, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) == LUA_TNUMBER && lua_istable(L, -1)) {
            lua_rawgeti(L, -1, 1);
            lua_rawgeti(L, -2, 2);
            if (!lua_isstring(L, -2) || !lua_isstring(L, -1)) luaL_error(L, "relrun.http: header pair must be {name, value}");
            fn(L, ud, lua_tostring(L, -2), lua_tostring(L, -1));
            lua_pop(L, 2);
        } else if (lua_type(L, -2) == LUA_TSTRING && lua_istable(L, -1)) {
            lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
            for (lua_Integer i = 1; i <= n; i++) {
                lua_rawgeti(L, -1, i);
                if (!lua_isstring(L, -1)) luaL_error(L, "relrun.http: header %s: values must be strings", lua_tostring(L, -3));
                fn(L, ud, lua_tostring(L, -3), lua_tostring(L, -1));
                lua_pop(L, 1);
            }
        } else if (lua_type(L, -2) == LUA_TSTRING && lua_isstring(L, -1)) {
            lua_pushvalue(L, -1); /* tostring on a number must not touch the key */
            fn(L, ud, lua_tostring(L, -3), lua_tostring(L, -1));
            lua_pop(L, 1);
        } else {
            luaL_error(L, "relrun.http: header %s must be a string", luaL_tolstring(L, -2, NULL));
        }
        lua_pop(L, 1);
    }
}

/* Append a raw line to the header list ("Name:" removes a header curl would add). */
static void add_raw_header(lua_State *L, transfer *t, const char *line) {
    struct curl_slist *l = curl_slist_append(t->headers, line);
    if (l == NULL) luaL_error(L, "relrun.http: out of memory");
    t->headers = l;
}

typedef struct { const char *name; int found; } header_query;

static void header_is(lua_State *L, void *ud, const char *name, const char *value) {
    header_query *q = ud;
    (void)L;
    (void)value;
    if (strcasecmp(name, q->name) == 0) q->found = 1;
}

static int has_header(lua_State *L, int b, const char *name) {
    header_query q = {name, 0};
    each_header(L, HEADERS, header_is, &q);
    return q.found;
}

static void header_to_slist(lua_State *L, void *ud, const char *name, const char *value) {
    add_header(L, ud, name, value);
}


/* ---- tracing ---------------------------------------------------------------- */

static int tracing(lua_State *L) {
    const char *env = getenv("RELRUN_HTTP_TRACE");
    int on;
    if (env != NULL && env[0] != '\0' && strcmp(env, "0") != 0) return 1;
    lua_getfield(L, LUA_REGISTRYINDEX, "relrun.debug");
    on = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return on;
}

static int hidden_header(const char *name, size_t n) {
    static const char *const names[] = {"authorization", "proxy-authorization", "x-amz-security-token",
                                        "cookie", "set-cookie", NULL};
    for (int i = 0; names[i]; i++)
        if (strlen(names[i]) == n && strncasecmp(name, names[i], n) == 0) return 1;
    return 0;
}

static void trace_line(lua_State *L, const char *s) {
    rr_mask_write(L, stderr, s, strlen(s));
}

/* "> Name: value" for each request header, credentials as ***. */
static void trace_request(lua_State *L, const char *method, const char *url, const transfer *t) {
    push_safe_url(L, url);
    trace_line(L, lua_pushfstring(L, "http > %s %s\n", method, lua_tostring(L, -1)));
    lua_pop(L, 2);
    for (struct curl_slist *l = t->headers; l; l = l->next) {
        size_t n = strcspn(l->data, ":;");
        if (hidden_header(l->data, n))
            trace_line(L, lua_pushfstring(L, "http > %s: ***\n", lua_pushlstring(L, l->data, n)));
        else
            trace_line(L, lua_pushfstring(L, "http > %s\n", l->data));
        lua_pop(L, hidden_header(l->data, n) ? 2 : 1);
    }
}

/* ---- the answer --------------------------------------------------------------- */

/* Push {status, headers, header_list} from the raw header block. Stack: [result] */
static void push_headers(lua_State *L, int result, const rr_buf *head) {
    const char *s = head->data ? head->data : "", *end = s + head->len;
    int map, list, n = 0;
    lua_newtable(L);
    map = lua_gettop(L);
    lua_newtable(L);
    list = lua_gettop(L);
    while (s < end) {
        const char *eol = memchr(s, '\n', (size_t)(end - s));
        const char *e = eol ? eol : end, *colon;
        size_t len = (size_t)(e - s);
        if (len > 0 && s[len - 1] == '\r') len--;
        colon = memchr(s, ':', len);
        if (colon != NULL && !(len >= 5 && memcmp(s, "HTTP/", 5) == 0)) {
            const char *v = colon + 1, *ve = s + len;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            lua_createtable(L, 2, 0);
            lua_pushlstring(L, s, (size_t)(colon - s));
            lua_rawseti(L, -2, 1);
            lua_pushlstring(L, v, (size_t)(ve - v));
            lua_rawseti(L, -2, 2);
            lua_rawseti(L, list, ++n);
            /* lower-case name → value, repeated ones joined by ", " */
            luaL_Buffer b;
            char *low = luaL_buffinitsize(L, &b, (size_t)(colon - s));
            for (size_t i = 0; i < (size_t)(colon - s); i++)
                low[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
            luaL_pushresultsize(&b, (size_t)(colon - s));
            lua_pushvalue(L, -1);
            if (lua_rawget(L, map) == LUA_TSTRING) {
                lua_pushliteral(L, ", ");
                lua_pushlstring(L, v, (size_t)(ve - v));
                lua_concat(L, 3);
            } else {
                lua_pop(L, 1);
                lua_pushlstring(L, v, (size_t)(ve - v));
            }
            lua_rawset(L, map);
        }
        s = e + 1;
    }
    lua_setfield(L, result, "header_list");
    lua_setfield(L, result, "headers");
}

static void trace_response(lua_State *L, int result) {
    lua_getfield(L, result, "status");
    trace_line(L, lua_pushfstring(L, "http < %d\n", (int)lua_tointeger(L, -1)));
    lua_pop(L, 2);
    lua_getfield(L, result, "header_list");
    for (lua_Integer i = 1; lua_rawgeti(L, -1, i) == LUA_TTABLE; i++) {
        size_t n;
        const char *name;
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        name = lua_tolstring(L, -2, &n);
        trace_line(L, lua_pushfstring(L, "http < %s: %s\n", name, hidden_header(name, n) ? "***" : lua_tostring(L, -1)));
        lua_pop(L, 4);
    }
    lua_pop(L, 2);
}

/* ---- request set-up ----------------------------------------------------------- */

/* nil, "<what> <url>: <reason>", code */
static int fail_request(lua_State *L, const char *code, const char *method, const char *url, const char *reason) {
    push_safe_url(L, url);
    return rr_failf(L, code, "%s %s: %s", method, lua_tostring(L, -1), reason);
}

/* Open the upload file of body = {file = path [, offset = n] [, length = n]}
 * (a range is how S3 multipart parts are sent without copying the file);
 * returns 0 or errno (EINVAL: the range is not inside the file). */
static int setup_file_body(lua_State *L, int b, transfer *t, CURL *c) {
    struct stat st;
    const char *path;
    lua_Integer offset = rr_optfield_integer(L, BODY, "offset", 0);
    lua_Integer length = rr_optfield_integer(L, BODY, "length", -1);
    lua_getfield(L, BODY, "file");
    path = lua_tostring(L, -1);
    if (path == NULL) luaL_error(L, "relrun.http: body.file must be a path");
    luaL_argcheck(L, offset >= 0 && length >= -1, 1, "body offset and length must not be negative");
    t->upload = fopen(path, "rb");
    lua_pop(L, 1); /* anchored by the body table */
    if (t->upload == NULL) return errno;
    if (fstat(fileno(t->upload), &st) != 0) return errno;
    if (!S_ISREG(st.st_mode)) return EISDIR;
    if (length < 0) length = (lua_Integer)st.st_size - offset;
    if (offset > (lua_Integer)st.st_size || length < 0 || offset + length > (lua_Integer)st.st_size) return EINVAL;
    if (fseeko(t->upload, (off_t)offset, SEEK_SET) != 0) return errno;
    t->upload_left = (curl_off_t)length;
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, t);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)length);
    return 0;
}

/* Push part[key] as a string (numbers converted), or nil; it stays on the
 * stack, so the pointer returned is valid until the caller pops it. */
static const char *part_field(lua_State *L, int part_idx, const char *key, size_t *len) {
    int type = lua_getfield(L, part_idx, key);
    if (type == LUA_TNIL) return NULL;
    if (type != LUA_TSTRING && type != LUA_TNUMBER) luaL_error(L, "relrun.http: multipart %s must be a string", key);
    return lua_tolstring(L, -1, len);
}

/* One multipart part: {name=, value=} or {name=, file=, filename=, content_type=}. */
static void add_part(lua_State *L, transfer *t, int part_idx) {
    size_t vlen = 0;
    curl_mimepart *p = curl_mime_addpart(t->mime);
    const char *name = part_field(L, part_idx, "name", NULL);
    const char *value = part_field(L, part_idx, "value", &vlen);
    const char *file = part_field(L, part_idx, "file", NULL);
    const char *filename = part_field(L, part_idx, "filename", NULL);
    const char *type = part_field(L, part_idx, "content_type", NULL);
    if (p == NULL) luaL_error(L, "relrun.http: out of memory");
    if (name == NULL) luaL_error(L, "relrun.http: every multipart part needs a name");
    if ((value == NULL) == (file == NULL)) luaL_error(L, "relrun.http: part '%s' needs value or file", name);
    /* curl copies every string it is given */
    curl_mime_name(p, name);
    if (value != NULL) curl_mime_data(p, value, vlen);
    else curl_mime_filedata(p, file); /* streamed when sent; the filename defaults to its basename */
    if (filename != NULL) curl_mime_filename(p, filename);
    if (type != NULL) curl_mime_type(p, type);
    lua_pop(L, 5);
}

/* Check every file part is readable before sending anything. Returns the path
 * of the first that is not (errno in *err), or NULL. */
static const char *check_parts(lua_State *L, int b, int *err) {
    if (lua_getfield(L, BODY, "multipart") != LUA_TTABLE)
        luaL_error(L, "relrun.http: body must be a string, {file = path} or {multipart = parts}");
    for (lua_Integer i = 1; lua_rawgeti(L, -1, i) == LUA_TTABLE; i++) {
        const char *file = rr_optfield_string(L, -1, "file", NULL);
        FILE *f;
        if (file != NULL) {
            if ((f = fopen(file, "rb")) == NULL) {
                *err = errno;
                lua_pop(L, 2);
                return file; /* anchored by the part table inside opts */
            }
            fclose(f);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
    return NULL;
}

static void setup_multipart(lua_State *L, int b, transfer *t, CURL *c) {
    lua_getfield(L, BODY, "multipart");
    luaL_checktype(L, -1, LUA_TTABLE);
    t->mime = curl_mime_init(c);
    if (t->mime == NULL) luaL_error(L, "relrun.http: out of memory");
    for (lua_Integer i = 1; lua_rawgeti(L, -1, i) != LUA_TNIL; i++) {
        luaL_checktype(L, -1, LUA_TTABLE);
        add_part(L, t, lua_gettop(L));
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
}

/* Defaults in the range aws cli (60 s connect and read timeouts) and pip
 * (15 s) use; each one an option of the request, its default settable in
 * the environment (RELRUN_HTTP_<NAME>). A stalled transfer fails once it
 * moved fewer than LOW_SPEED_LIMIT bytes/s on average for LOW_SPEED_TIME
 * seconds: a server that trickles a byte now and then does not keep a
 * release waiting (curl averages over the window; one byte does not reset
 * it). Buffered answers are capped (an endless answer would otherwise grow
 * until the process dies); downloads to a file are not. */
#define DEFAULT_CONNECT_TIMEOUT 30.0
#define DEFAULT_LOW_SPEED_LIMIT 1024.0  /* bytes/s */
#define DEFAULT_LOW_SPEED_TIME 60.0     /* s */
#define DEFAULT_MAX_BODY (100.0 * 1024 * 1024)

/* opts[key], else $RELRUN_HTTP_<KEY> (a number), else def. */
static double opt_number(lua_State *L, int b, const char *key, const char *var, double def) {
    const char *env = getenv(var);
    char *end;
    if (env != NULL && env[0] != '\0') {
        double v = strtod(env, &end);
        if (*end == '\0' && v >= 0) def = v;
    }
    def = rr_optfield_number(L, OPTS, key, def);
    luaL_argcheck(L, def >= 0, 1, "timeouts and limits must not be negative");
    return def;
}

static void set_timeout(lua_State *L, int b, CURL *c, const char *key, CURLoption opt, double def) {
    double s = rr_optfield_number(L, OPTS, key, def);
    luaL_argcheck(L, s >= 0, 1, "timeouts must not be negative");
    curl_easy_setopt(c, opt, (long)(s * 1000));
}

static void set_limits(lua_State *L, int b, CURL *c) {
    double limit = opt_number(L, b, "low_speed_limit", "RELRUN_HTTP_LOW_SPEED_LIMIT", DEFAULT_LOW_SPEED_LIMIT);
    double window = opt_number(L, b, "low_speed_time", "RELRUN_HTTP_LOW_SPEED_TIME", DEFAULT_LOW_SPEED_TIME);
    set_timeout(L, b, c, "timeout", CURLOPT_TIMEOUT_MS, 0);
    set_timeout(L, b, c, "connect_timeout", CURLOPT_CONNECTTIMEOUT_MS,
                opt_number(L, b, "connect_timeout", "RELRUN_HTTP_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT));
    /* curl counts whole seconds; a fraction rounds up so that 0.5 still checks */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, (long)(limit + 0.5));
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, window > 0 && window < 1 ? 1L : (long)(window + 0.5));
}

static void set_ca_bundle(CURL *c) {
    static const char *const vars[] = {"AWS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", NULL};
    for (int i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        if (v != NULL && v[0] != '\0') {
            curl_easy_setopt(c, CURLOPT_CAINFO, v);
            return;
        }
    }
}

/* Options that do not depend on the body. */
static void setup_common(lua_State *L, int b, transfer *t, CURL *c, const char *method, const char *url) {
    curl_easy_setopt(c, CURLOPT_URL, url);
    /* a User-Agent header in `headers` wins over this */
    curl_easy_setopt(c, CURLOPT_USERAGENT, "relrun/" RELRUN_VERSION " " "libcurl/" LIBCURL_VERSION);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    /* redirects are followed by next_hop(), each hop checked */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    /* bigger buffers than curl's 16/64 KiB: fewer callbacks and system calls
     * for large files, still a few hundred KiB of memory */
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    set_ca_bundle(c);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
    /* always on: Ctrl-C is noticed in the progress callback */
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
    set_limits(L, b, c);
    if (strcmp(method, "GET") == 0) curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "HEAD") == 0) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
}

/* Body options; returns 0 or an expected failure pushed (nil, msg, code). */
static int setup_body(lua_State *L, int b, transfer *t, CURL *c, const char *method, const char *url) {
    int type = lua_type(L, BODY), err = 0;
    if (type == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, BODY, &n);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, s); /* anchored in the BODY slot */
        /* curl would label it a form; a body is what the caller says it is */
        if (!has_header(L, b, "content-type")) add_raw_header(L, t, "Content-Type:");
    } else if (type == LUA_TTABLE) {
        lua_getfield(L, BODY, "file");
        int file = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (file) {
            if ((err = setup_file_body(L, b, t, c)) != 0) {
                lua_getfield(L, BODY, "file");
                lua_pushfstring(L, "cannot read %s: %s", lua_tostring(L, -1),
                                err == EINVAL ? "the offset and length are not inside the file" : strerror(err));
                return fail_request(L, rr_errno_name(err), method, url, lua_tostring(L, -1));
            }
        } else {
            const char *bad = check_parts(L, b, &err);
            if (bad != NULL) {
                lua_pushfstring(L, "cannot read %s: %s", bad, strerror(err));
                return fail_request(L, rr_errno_name(err), method, url, lua_tostring(L, -1));
            }
            setup_multipart(L, b, t, c);
            curl_easy_setopt(c, CURLOPT_MIMEPOST, t->mime);
        }
    } else if (type != LUA_TNIL) {
        luaL_error(L, "relrun.http: body must be a string, {file = path} or {multipart = parts}");
    } else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    }
    if (type != LUA_TNIL) add_raw_header(L, t, "Expect:"); /* no 100-continue round trip */
    return 0;
}

/* Open `output`.part for writing; returns 0 or an expected failure pushed. */
static int setup_output(lua_State *L, int b, transfer *t, const char *method, const char *url) {
    const char *out = rr_optfield_string(L, OPTS, "output", NULL);
    if (out == NULL) return 0;
    lua_pushfstring(L, "%s.part", out);
    lua_replace(L, PARTPATH);
    t->part_path = strdup(lua_tostring(L, PARTPATH));
    if (t->part_path == NULL) luaL_error(L, "relrun.http: out of memory");
    t->out = fopen(t->part_path, "wb");
    if (t->out == NULL) {
        int err = errno;
        lua_pushfstring(L, "cannot write %s: %s", lua_tostring(L, PARTPATH), strerror(err));
        return fail_request(L, rr_errno_name(err), method, url, lua_tostring(L, -1));
    }
    return 0;
}

/* ---- where credentials may go ------------------------------------------------- */

/* Query parameters that make a URL a credential (a presigned AWS request). */
static int credential_query(const char *url) {
    static const char *const names[] = {"x-amz-signature=", "x-amz-security-token=", "x-amz-credential=", NULL};
    const char *q = strchr(url, '?');
    for (const char *p = q; p != NULL && *p; p++) {
        if (*p != '?' && *p != '&') continue;
        for (int i = 0; names[i]; i++)
            if (strncasecmp(p + 1, names[i], strlen(names[i])) == 0) return 1;
    }
    return 0;
}

static void header_has_credential(lua_State *L, void *ud, const char *name, const char *value) {
    if (credential_header(name) || rr_bound_present(L, value, strlen(value))) *(int *)ud = 1;
}

/* Whether the request in slots b carries a credential to the URL in the URL
 * slot: an authorization, proxy-authorization or x-amz-security-token
 * header, any header holding a bound credential (the GitHub token, ...),
 * userinfo, or a presigned URL's signature or token. */
static int carries_credentials(lua_State *L, int b) {
    const char *url = lua_tostring(L, URL);
    int cred = 0;
    each_header(L, HEADERS, header_has_credential, &cred);
    if (cred || credential_query(url) || rr_bound_present(L, url, strlen(url))) return 1;
    if (push_url(L, url) == CURLUE_OK) {
        push_part(L, lua_touserdata(L, -1), CURLUPART_USER, 0);
        cred = !lua_isnil(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return cred;
}

/* The first refusal a header value earns (rr_bound_refusal), copied out:
 * each_header's callbacks must leave the stack as they found it. */
typedef struct {
    const char *origin;
    char why[512];
} refusal;

static void header_refused(lua_State *L, void *ud, const char *name, const char *value) {
    refusal *r = ud;
    const char *msg;
    (void)name;
    if (r->why[0] != '\0' || (msg = rr_bound_refusal(L, value, strlen(value), r->origin)) == NULL) return;
    snprintf(r->why, sizeof r->why, "%s", msg);
    lua_pop(L, 1);
}

/* Check the hop about to be sent: no credential over plain http to a host
 * that is not this machine, no bound credential to an origin it is not
 * bound to. Returns 0, or the failure pushed (nil, msg, code). */
static int refused_destination(lua_State *L, int b) {
    const char *method = lua_tostring(L, METHOD), *url = lua_tostring(L, URL), *msg;
    refusal r;
    int top = lua_gettop(L), n;
    push_origin(L, url);
    if (lua_isnil(L, -1)) { lua_settop(L, top); return 0; } /* curl reports a bad url */
    r.origin = lua_tostring(L, -1);
    r.why[0] = '\0';
    if (strncmp(r.origin, "http://", 7) == 0 && !origin_is_loopback(r.origin) && carries_credentials(L, b)) {
        n = fail_request(L, "INSECURE", method, url,
                         "refusing to send credentials over plain http to a host that is not loopback; use https");
        lua_rotate(L, top + 1, n);
        lua_settop(L, top + n);
        return n;
    }
    if ((msg = rr_bound_refusal(L, url, strlen(url), r.origin)) != NULL) {
        snprintf(r.why, sizeof r.why, "%s", msg);
        lua_pop(L, 1);
    }
    each_header(L, HEADERS, header_refused, &r);
    if (r.why[0] == '\0') { lua_settop(L, top); return 0; }
    lua_pushfstring(L, "not sent: %s", r.why);
    n = fail_request(L, "CREDENTIAL", method, url, lua_tostring(L, -1));
    lua_rotate(L, top + 1, n);
    lua_settop(L, top + n);
    return n;
}

/* The request's own follow_redirects (default: GET and HEAD follow). */
static int follows(lua_State *L, int b) {
    const char *method = rr_optfield_string(L, OPTS, "method", "GET");
    return rr_optfield_boolean(L, OPTS, "follow_redirects", strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0);
}

/* After an answer on `c`: 1 when it is a redirect to follow (the URL,
 * METHOD and BODY slots now hold the next hop, which prepare() checks as it
 * checks every hop), 0 when it is the answer, or the failure pushed (nil,
 * msg, code; returns 3) when the redirect is refused. relrun follows
 * redirects itself, hop by hop, rather than letting curl do it: curl drops
 * only Authorization on another host and would forward x-amz-security-token,
 * and it has no hook to check each hop for plain http. */
static int next_hop(lua_State *L, int b, CURL *c, long status, int *hops) {
    const char *method = lua_tostring(L, METHOD), *url = lua_tostring(L, URL), *next = NULL;
    int top = lua_gettop(L), n;
    if (status != 301 && status != 302 && status != 303 && status != 307 && status != 308) return 0;
    if (!follows(L, b) || curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &next) != CURLE_OK || next == NULL) return 0;
    lua_pushstring(L, next);                          /* [.., next] */
    push_safe_url(L, next);                           /* [.., next, next shown] */
    if (++*hops > MAX_REDIRECTS) {
        n = fail_request(L, "CURLE_TOO_MANY_REDIRECTS", method, url, "more than 5 redirects");
    } else if (strncasecmp(url, "https:", 6) == 0 && strncasecmp(next, "https:", 6) != 0) {
        lua_pushfstring(L, "redirected to %s: not followed, it leaves https", lua_tostring(L, top + 2));
        n = fail_request(L, "REDIRECT", method, url, lua_tostring(L, -1));
    } else if (strncasecmp(next, "http:", 5) != 0 && strncasecmp(next, "https:", 6) != 0) {
        lua_pushfstring(L, "redirected to %s: not followed, not http or https", lua_tostring(L, top + 2));
        n = fail_request(L, "REDIRECT", method, url, lua_tostring(L, -1));
    } else {
        push_origin(L, url);
        push_origin(L, next);
        if (lua_rawequal(L, -1, -2) || !carries_credentials(L, b)) {
            if (status == 303 || ((status == 301 || status == 302) && strcmp(method, "POST") == 0)) {
                /* what browsers and curl do: the next hop is a GET without the body */
                if (strcmp(method, "HEAD") != 0) {
                    lua_pushliteral(L, "GET");
                    lua_replace(L, METHOD);
                }
                lua_pushnil(L);
                lua_replace(L, BODY);
            }
            lua_pushvalue(L, top + 1);
            lua_replace(L, URL);
            lua_settop(L, top);
            return 1;
        }
        lua_pushfstring(L, "redirected to %s, another origin; not followed because the request carries "
                           "credentials, which go only to the origin they were made for",
                        lua_tostring(L, top + 2));
        n = fail_request(L, "REDIRECT", method, url, lua_tostring(L, -1));
    }
    lua_rotate(L, top + 1, n);
    lua_settop(L, top + n);
    return n;
}

/* Push what went wrong, saying what to change when a limit stopped it. */
static const char *push_reason(lua_State *L, int b, const transfer *t, CURLcode rc) {
    if (t->oom) return lua_pushliteral(L, "out of memory");
    if (t->head_too_big) return lua_pushliteral(L, "the answer's headers are larger than 1 MiB");
    if (rc == CURLE_FILESIZE_EXCEEDED)
        return lua_pushfstring(L, "the answer is larger than %I bytes, the cap on answers held in memory "
                                  "(max_body, RELRUN_HTTP_MAX_BODY); stream it to a file with `output`",
                               (lua_Integer)t->max_body);
    if (rc == CURLE_OPERATION_TIMEDOUT && strncmp(t->errbuf, "Operation too slow", 18) == 0)
        return lua_pushfstring(L, "fewer than %I bytes/s for %I s: the server stalled (low_speed_limit and "
                                  "low_speed_time, RELRUN_HTTP_LOW_SPEED_TIME to wait longer)",
                               (lua_Integer)opt_number(L, b, "low_speed_limit", "RELRUN_HTTP_LOW_SPEED_LIMIT",
                                                       DEFAULT_LOW_SPEED_LIMIT),
                               (lua_Integer)(opt_number(L, b, "low_speed_time", "RELRUN_HTTP_LOW_SPEED_TIME",
                                                        DEFAULT_LOW_SPEED_TIME) + 0.5));
    if (rc == CURLE_OPERATION_TIMEDOUT && strncmp(t->errbuf, "Connection timed out", 20) == 0)
        return lua_pushfstring(L, "no connection within %f s (connect_timeout, RELRUN_HTTP_CONNECT_TIMEOUT); "
                                  "check the host, the network and any proxy",
                               opt_number(L, b, "connect_timeout", "RELRUN_HTTP_CONNECT_TIMEOUT",
                                          DEFAULT_CONNECT_TIMEOUT));
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return lua_pushfstring(L, "%s (the request's timeout)", t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
    return lua_pushstring(L, t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
}

/* After curl returned: re-raise a callback's error, report failures, build the answer. */
static int finish(lua_State *L, int b, transfer *t, CURLcode rc, const char *method, const char *url, long status) {
    int out_failed = 0;
    if (t->upload) { fclose(t->upload); t->upload = NULL; }
    if (t->out) { out_failed = fclose(t->out) != 0; t->out = NULL; }
    if (rc != CURLE_OK || out_failed || t->callback_failed || t->interrupted) {
        if (!lua_isnil(L, PARTPATH)) remove(lua_tostring(L, PARTPATH));
        if (t->callback_failed) {
            lua_getiuservalue(L, XFER, 1);
            return lua_error(L);
        }
        if (t->interrupted) return rr_raise_interrupted(L);
        if (out_failed) return fail_request(L, "CURLE_WRITE_ERROR", method, url, "cannot write the output file");
        if (t->too_big) rc = CURLE_FILESIZE_EXCEEDED;
        push_reason(L, b, t, rc);
        push_curle_name(L, rc);
        return fail_request(L, lua_tostring(L, -1), method, url, lua_tostring(L, -2));
    }
    if (!lua_isnil(L, PARTPATH)) {
        const char *out = rr_optfield_string(L, OPTS, "output", NULL);
        if (rename(lua_tostring(L, PARTPATH), out) != 0) {
            int err = errno;
            remove(lua_tostring(L, PARTPATH));
            lua_pushfstring(L, "cannot write %s: %s", out, strerror(err));
            return fail_request(L, rr_errno_name(err), method, url, lua_tostring(L, -1));
        }
    }
    lua_createtable(L, 0, 4);
    int result = lua_gettop(L);
    lua_pushinteger(L, status);
    lua_setfield(L, result, "status");
    push_headers(L, result, &t->head);
    if (lua_isnil(L, PARTPATH)) {
        lua_pushlstring(L, t->body.data ? t->body.data : "", t->body.len);
        lua_setfield(L, result, "body");
    }
    if (tracing(L)) trace_response(L, result);
    transfer_free(t); /* now, not at the next collection: bodies can be large */
    return 1;
}

/* ---- the request ---------------------------------------------------------------- */

/* The hop being sent (the request's own until a redirect is followed). */
static const char *opt_method(lua_State *L, int b) { return lua_tostring(L, METHOD); }
static const char *opt_url(lua_State *L, int b) { return lua_tostring(L, URL); }

/* Check the options table at OPTS and fill the other slots from it. */
static void load_slots(lua_State *L, int b) {
    const char *method, *url;
    luaL_checktype(L, OPTS, LUA_TTABLE);
    method = rr_optfield_string(L, OPTS, "method", "GET");
    url = rr_optfield_string(L, OPTS, "url", NULL);
    luaL_argcheck(L, url != NULL, 1, "url is required");
    for (const char *m = method; *m; m++)
        luaL_argcheck(L, *m >= 'A' && *m <= 'Z', 1, "method must be upper-case letters");
    lua_pushstring(L, method);
    lua_replace(L, METHOD);
    lua_pushstring(L, url);
    lua_replace(L, URL);
    lua_getfield(L, OPTS, "headers");
    lua_replace(L, HEADERS);
    lua_getfield(L, OPTS, "body");
    lua_replace(L, BODY);
    lua_getfield(L, OPTS, "on_progress");
    if (!lua_isnil(L, -1)) luaL_checktype(L, -1, LUA_TFUNCTION);
    lua_replace(L, PROGRESS);
    lua_pushnil(L);
    lua_replace(L, XFER);
    lua_pushnil(L);
    lua_replace(L, PARTPATH);
}

/* Build the transfer (in XFER) and set every option of `c` for it. Returns
 * 0 when ready, or the number of values of an expected failure pushed. */
static int prepare(lua_State *L, int b, CURL *c) {
    const char *method = opt_method(L, b), *url = opt_url(L, b);
    transfer *t;
    int n;
    if ((n = refused_destination(L, b)) != 0) return n;
    t = rr_newhandle(L, sizeof *t, TRANSFER_T);
    lua_replace(L, XFER);
    t->L = L;
    t->self = XFER;
    t->progress = lua_isnil(L, PROGRESS) ? 0 : PROGRESS;
    curl_easy_reset(c);
    each_header(L, HEADERS, header_to_slist, t);
    setup_common(L, b, t, c, method, url);
    if ((n = setup_body(L, b, t, c, method, url)) != 0 || (n = setup_output(L, b, t, method, url)) != 0) {
        curl_easy_reset(c);
        return n;
    }
    if (t->out == NULL) { /* buffered: capped (early when Content-Length says; a HEAD has no body) */
        t->max_body = (curl_off_t)opt_number(L, b, "max_body", "RELRUN_HTTP_MAX_BODY", DEFAULT_MAX_BODY);
        if (strcmp(method, "HEAD") != 0) curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, t->max_body);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, t->headers);
    if (tracing(L)) trace_request(L, method, url, t);
    return 0;
}

static int l_request(lua_State *L) {
    const int b = 1;
    state *st;
    CURLcode rc;
    long status = 0;
    int n;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, b + NSLOTS - 1);
    load_slots(L, b);
    st = get_state(L);
    if (st->busy) luaL_error(L, "relrun.http: request called from inside on_progress");
    for (int hops = 0;;) {
        if ((n = prepare(L, b, st->curl)) != 0) return n;
        st->busy = 1;
        rc = curl_easy_perform(st->curl);
        st->busy = 0;
        curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &status);
        n = rc == CURLE_OK ? next_hop(L, b, st->curl, status, &hops) : 0;
        curl_easy_reset(st->curl); /* drop curl's pointers into this transfer */
        if (n == 0) break;
        transfer_free(lua_touserdata(L, XFER));
        if (n != 1) return n; /* a refused redirect */
    }
    return finish(L, b, lua_touserdata(L, XFER), rc, opt_method(L, b), opt_url(L, b), status);
}

/* ---- several requests at once (curl multi) ----------------------------------------- */

/* A pool of `parallel` transfers kept full: as soon as one finishes, the
 * next request is taken (from the list, or from the caller's generator) and
 * started, so one slow transfer never holds the others back. Pool handle k
 * runs in the stack slots at slot_base(k); the requests themselves are
 * taken one at a time, so a generator can build (and sign) each one just
 * before it starts, and `after` can consume each answer as it comes. The
 * Lua functions (generator, before, after) run between curl calls, never
 * inside curl's frames: many_run itself runs under lua_pcall, and an error
 * there is raised only after every transfer has been detached and freed. */

/* Turn the failure triple on the stack top into { error = msg, code = code }. */
static void failure_table(lua_State *L) {
    lua_createtable(L, 0, 2);
    lua_rotate(L, -3, 1); /* [tbl, msg, code] */
    lua_setfield(L, -3, "code");
    lua_setfield(L, -2, "error");
}

/* A free pool handle's index (created on first use). */
static int pool_take(lua_State *L, state *st) {
    for (int k = 0; k < MAX_PARALLEL; k++) {
        if (st->used[k]) continue;
        if (st->pool[k] == NULL && (st->pool[k] = curl_easy_init()) == NULL)
            luaL_error(L, "relrun.http: curl_easy_init failed");
        st->used[k] = 1;
        return k;
    }
    return luaL_error(L, "relrun.http: no free transfer handle");
}

/* Detach pool handle k from the multi handle and mark it free. */
static void pool_give(state *st, int k) {
    if (!st->used[k]) return;
    curl_multi_remove_handle(st->multi, st->pool[k]);
    curl_easy_reset(st->pool[k]);
    st->used[k] = 0;
}

static int pool_index(state *st, CURL *c) {
    int k = 0;
    while (k < MAX_PARALLEL - 1 && st->pool[k] != c) k++;
    return k;
}

/* many_run's frame: the list or generator, parallel, before, after, the
 * running transfers by pool index (so that the caller can free them if an
 * error escapes), the results, then the slots of pool handle k at
 * slot_base(k). */
enum { M_SRC = 1, M_PARALLEL, M_BEFORE, M_AFTER, M_TRANSFERS, M_RESULTS, M_SLOTS };
static int slot_base(int k) { return M_SLOTS + k * NSLOTS; }

/* Push request i, from the list or the generator; 0 when there is none. */
static int next_request(lua_State *L, lua_Integer i) {
    if (lua_isfunction(L, M_SRC)) {
        lua_pushvalue(L, M_SRC);
        lua_pushinteger(L, i);
        lua_call(L, 1, 1);
    } else if (i <= (lua_Integer)lua_rawlen(L, M_SRC)) {
        lua_rawgeti(L, M_SRC, i);
    } else {
        lua_pushnil(L);
    }
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    if (!lua_istable(L, -1)) luaL_error(L, "relrun.http: request %d is not a table", (int)i);
    if (!lua_isnil(L, M_BEFORE)) { /* before(i, req): the last moment to change it */
        lua_pushvalue(L, M_BEFORE);
        lua_pushinteger(L, i);
        lua_pushvalue(L, -3);
        lua_call(L, 2, 0);
    }
    return 1;
}

/* Hand the result on the stack top to after(i, result), or keep it. */
static void deliver(lua_State *L, lua_Integer i) {
    if (lua_isnil(L, M_AFTER)) {
        lua_rawseti(L, M_RESULTS, i);
        return;
    }
    lua_pushvalue(L, M_AFTER);
    lua_insert(L, -2);
    lua_pushinteger(L, i);
    lua_insert(L, -2);
    lua_call(L, 2, 0);
}

/* Start request i (on the stack top, popped): 1 when it is running, 0 when
 * it failed at once (its failure already delivered). index[k] records
 * which request pool handle k runs. */
/* Start the hop in pool handle k's slots on it: 1 when it is running, 0
 * when it failed at once (its failure delivered as request i's result). */
static int start(lua_State *L, state *st, int k, lua_Integer i) {
    int b = slot_base(k);
    CURL *c = st->pool[k];
    if (prepare(L, b, c) != 0) {
        pool_give(st, k);
        failure_table(L);
        deliver(L, i);
        return 0;
    }
    lua_pushvalue(L, XFER);
    lua_rawseti(L, M_TRANSFERS, k + 1);
    ((transfer *)lua_touserdata(L, XFER))->curl = c;
    curl_multi_add_handle(st->multi, c);
    return 1;
}

static int launch(lua_State *L, state *st, lua_Integer i, lua_Integer *index, int *hops) {
    int k = pool_take(L, st), b = slot_base(k);
    lua_replace(L, OPTS);
    load_slots(L, b);
    index[k] = i;
    hops[k] = 0;
    return start(L, st, k, i);
}

/* Deliver the finished transfers; returns how many finished (a redirect
 * followed starts its next hop on the same handle instead). */
static int collect(lua_State *L, state *st, const lua_Integer *index, int *hops) {
    CURLMsg *msg;
    int left, done = 0, top = lua_gettop(L);
    while ((msg = curl_multi_info_read(st->multi, &left)) != NULL) {
        CURLcode rc = msg->data.result;
        int k = pool_index(st, msg->easy_handle), b = slot_base(k), hop;
        long status = 0;
        if (msg->msg != CURLMSG_DONE) continue;
        curl_easy_getinfo(st->pool[k], CURLINFO_RESPONSE_CODE, &status);
        hop = rc == CURLE_OK ? next_hop(L, b, st->pool[k], status, &hops[k]) : 0;
        if (hop == 1) {
            curl_multi_remove_handle(st->multi, st->pool[k]);
            curl_easy_reset(st->pool[k]);
            transfer_free(lua_touserdata(L, XFER));
            if (start(L, st, k, index[k])) { lua_settop(L, top); continue; }
        } else {
            pool_give(st, k);
            if (hop != 0) transfer_free(lua_touserdata(L, XFER)); /* refused: its failure is on the stack */
            else if (finish(L, b, lua_touserdata(L, XFER), rc, opt_method(L, b), opt_url(L, b), status) != 3) {
                deliver(L, index[k]);
                lua_settop(L, top);
                done++;
                continue;
            }
            failure_table(L);
            deliver(L, index[k]);
        }
        lua_settop(L, top);
        done++;
    }
    return done;
}

/* The pcalled body of request_many: [src, parallel, before, after, transfers] → results. */
static int many_run(lua_State *L) {
    state *st = get_state(L);
    int parallel = (int)lua_tointeger(L, M_PARALLEL), active = 0, more = 1, still, done, top;
    lua_Integer next = 1, index[MAX_PARALLEL] = {0};
    int hops[MAX_PARALLEL] = {0};
    if (!lua_checkstack(L, parallel * NSLOTS + 20)) luaL_error(L, "relrun.http: out of stack space");
    lua_settop(L, M_TRANSFERS);
    lua_newtable(L); /* M_RESULTS */
    lua_settop(L, top = M_SLOTS - 1 + parallel * NSLOTS);
    while (more || active > 0) {
        while (more && active < parallel) {
            if (!(more = next_request(L, next))) break;
            active += launch(L, st, next++, index, hops);
            lua_settop(L, top); /* a failure leaves its message's pieces */
        }
        if (active == 0) continue;
        st->busy = 1; /* on_progress runs inside curl_multi_perform */
        curl_multi_perform(st->multi, &still);
        st->busy = 0;
        done = collect(L, st, index, hops);
        active -= done;
        /* wait for the network only when no slot came free to refill */
        if (done == 0 && active > 0) curl_multi_poll(st->multi, NULL, 0, 1000, NULL);
    }
    if (lua_isnil(L, M_AFTER)) lua_settop(L, M_RESULTS);
    else lua_pushinteger(L, next - 1);
    return 1;
}
static void check_callback(lua_State *L, const char *name) {
    if (lua_getfield(L, 2, name) != LUA_TNIL) luaL_argcheck(L, lua_isfunction(L, -1), 2, name);
}

/* request_many(list | generator [, {parallel = n, before = fn, after = fn}])
 * → results in the list's order (a failed request's result being
 * { error = message, code = code }), or with `after`, the number of
 * requests made. */
static int l_request_many(lua_State *L) {
    lua_Integer parallel = 4;
    state *st;
    int status;
    luaL_argexpected(L, lua_istable(L, 1) || lua_isfunction(L, 1), 1, "table or function");
    lua_settop(L, 2);
    if (!lua_isnil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        parallel = rr_optfield_integer(L, 2, "parallel", 4);
    }
    luaL_argcheck(L, parallel >= 1 && parallel <= MAX_PARALLEL, 2, "parallel must be 1..16");
    st = get_state(L);
    if (st->busy) luaL_error(L, "relrun.http: request_many called from inside on_progress");
    if (st->many) luaL_error(L, "relrun.http: request_many called from inside request_many");
    if (st->multi == NULL && (st->multi = curl_multi_init()) == NULL) luaL_error(L, "relrun.http: curl_multi_init failed");
    lua_pushcfunction(L, many_run); /* 3 */
    lua_pushvalue(L, 1);
    lua_pushinteger(L, parallel);
    if (lua_isnil(L, 2)) {
        lua_pushnil(L);
        lua_pushnil(L);
    } else {
        check_callback(L, "before");
        check_callback(L, "after");
    }
    lua_newtable(L); /* the running transfers, also kept at 4 for the clean-up */
    lua_pushvalue(L, -1);
    lua_insert(L, 3); /* [src, opts, transfers, many_run, src, parallel, before, after, transfers] */
    st->many = 1;
    status = lua_pcall(L, 5, 1, 0);
    st->many = 0;
    st->busy = 0;
    /* an error (a callback's, Ctrl-C, out of memory) leaves transfers
     * attached: detach them, then free them now (files closed, partial
     * downloads removed) rather than at some later collection */
    for (int k = 0; k < MAX_PARALLEL; k++) pool_give(st, k);
    if (status != LUA_OK) {
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            transfer_free(lua_touserdata(L, -1));
            lua_pop(L, 1);
        }
        return lua_error(L);
    }
    return 1;
}

/* ---- url helpers ------------------------------------------------------------------ */

/* url_encode(s): RFC 3986, every byte but the unreserved ones as %XX. */
static int l_url_encode(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    rr_push_pct_encoded(L, s, n, NULL);
    return 1;
}

/* url_decode(s [, form]): %XX decoded; with form, '+' is a space. */
static int l_url_decode(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    rr_push_pct_decoded(L, s, n, lua_toboolean(L, 2));
    return 1;
}

static int l_parse_url(lua_State *L) {
    const char *url = luaL_checkstring(L, 1);
    CURLUcode rc = push_url(L, url);
    urlbox *u = lua_touserdata(L, -1);
    if (rc != CURLUE_OK) {
        push_safe_url(L, url);
        return rr_failf(L, "EINVAL", "invalid url %s: %s", lua_tostring(L, -1), curl_url_strerror(rc));
    }
    lua_createtable(L, 0, 7);
    static const struct { const char *key; CURLUPart part; } parts[] = {
        {"scheme", CURLUPART_SCHEME}, {"host", CURLUPART_HOST}, {"path", CURLUPART_PATH},
        {"query", CURLUPART_QUERY}, {"fragment", CURLUPART_FRAGMENT}, {"user", CURLUPART_USER},
        {"password", CURLUPART_PASSWORD}, {NULL, 0}};
    for (int i = 0; parts[i].key; i++) {
        push_part(L, u, parts[i].part, 0);
        lua_setfield(L, -2, parts[i].key);
    }
    push_part(L, u, CURLUPART_PORT, CURLU_DEFAULT_PORT);
    if (lua_isstring(L, -1)) lua_pushinteger(L, lua_tointeger(L, -1));
    else lua_pushnil(L);
    lua_setfield(L, -3, "port");
    lua_pop(L, 1);
    lua_getfield(L, -1, "password");
    if (lua_isstring(L, -1)) rr_secret_add(L, lua_tostring(L, -1), lua_rawlen(L, -1));
    lua_pop(L, 1);
    return 1;
}

int luaopen_relrun_http(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"request", l_request},
        {"request_many", l_request_many},
        {"url_encode", l_url_encode},
        {"url_decode", l_url_decode},
        {"parse_url", l_parse_url},
        {"bind", rr_lua_bind},
        {NULL, NULL},
    };
    static const luaL_Reg state_m[] = {{"__gc", state_gc}, {NULL, NULL}};
    static const luaL_Reg transfer_m[] = {{"__gc", transfer_gc}, {"__close", transfer_gc}, {NULL, NULL}};
    static const luaL_Reg url_m[] = {{"__gc", url_gc}, {"__close", url_gc}, {NULL, NULL}};
    rr_newclass(L, STATE_T, state_m);
    rr_newclass(L, TRANSFER_T, transfer_m);
    rr_newclass(L, URL_T, url_m);
    luaL_newlib(L, fns);
    return 1;
}
