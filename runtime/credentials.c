/*
 * Where credentials may go, and which ones the environment holds.
 *
 * - At start the host registers every credential the environment holds as a
 *   secret (rr_env_secrets_register), so whatever a child prints is masked
 *   before relrun ever uses the value.
 * - rr_env_scrubbed names the variables a child does not inherit unless its
 *   caller passes them on explicitly (relrun.proc).
 * - Some secrets are bound to origins (scheme://host:port): the GitHub token
 *   only to the GitHub server, the Actions OIDC request token only to the
 *   URL it was issued for, the AWS secret key nowhere (it signs, it is never
 *   sent), and whatever a script binds with relrun.http.bind. relrun.http
 *   and relrun.git ask rr_bound_refusal before a credential leaves.
 *
 * The environment-bound rules are computed from the environment at each
 * check, so a script that sets GITHUB_SERVER_URL or GITHUB_TOKEN later is
 * held to the same rule.
 */
#include "rr.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern char **environ;

#define BOUND_KEY "relrun.bound" /* registry: list of {secret, label, origin...} */
#define ORIGIN_MAX RR_ORIGIN_MAX

/* ---- the variables ---------------------------------------------------------- */

/* Credentials by variable name: registered at start, never inherited by a
 * child unless passed explicitly. */
static const char *const credential_vars[] = {
    "GITHUB_TOKEN", "GH_TOKEN", "GIT_TOKEN", "GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_RUNTIME_TOKEN",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "TWINE_PASSWORD", "CODEARTIFACT_AUTH_TOKEN",
    NULL,
};

/* Not secrets themselves, but what lets a child get one: the OIDC request
 * URL (with the request token), the token files, the container endpoint. */
static const char *const credential_pointers[] = {
    "ACTIONS_ID_TOKEN_REQUEST_URL", "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    NULL,
};

/* Index URLs: a credential only when they carry userinfo. */
static const char *const url_vars[] = {"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", NULL};

static int in_list(const char *const *list, const char *name, size_t n) {
    for (int i = 0; list[i]; i++)
        if (strlen(list[i]) == n && memcmp(list[i], name, n) == 0) return 1;
    return 0;
}

/* The secret in the userinfo of the first URL in s[0..) that has one
 * ("user:password@": the password, or the user when there is none).
 * Returns where the scan may go on, or NULL when no URL has userinfo. */
static const char *userinfo_secret(const char *s, const char **out, size_t *len) {
    for (const char *p = strstr(s, "://"); p != NULL; p = strstr(p + 3, "://")) {
        const char *auth = p + 3, *end = auth + strcspn(auth, "/?# \t"), *at = NULL, *colon;
        for (const char *q = auth; q < end; q++)
            if (*q == '@') at = q;
        if (at == NULL) continue;
        colon = memchr(auth, ':', (size_t)(at - auth));
        if (colon != NULL && at > colon + 1) {
            *out = colon + 1;
            *len = (size_t)(at - colon - 1);
        } else {
            *out = auth;
            *len = (size_t)((colon ? colon : at) - auth);
        }
        if (*len > 0) return end;
    }
    return NULL;
}

int rr_env_scrubbed(const char *name, size_t n, const char *value) {
    const char *s;
    size_t len;
    if (in_list(credential_vars, name, n) || in_list(credential_pointers, name, n)) return 1;
    return in_list(url_vars, name, n) && userinfo_secret(value, &s, &len) != NULL;
}

char **rr_env_scrubbed_environ(void) {
    size_t n = 0, k = 0;
    char **out;
    while (environ[n] != NULL) n++;
    if ((out = malloc((n + 1) * sizeof *out)) == NULL) return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        if (eq == NULL || !rr_env_scrubbed(environ[i], (size_t)(eq - environ[i]), eq + 1)) out[k++] = environ[i];
    }
    out[k] = NULL;
    return out;
}

/* Register every credential the environment holds; of an index URL (which
 * may be a list, PIP_EXTRA_INDEX_URL), the userinfo of each. */
void rr_env_secrets_register(lua_State *L) {
    for (char **e = environ; *e != NULL; e++) {
        const char *eq = strchr(*e, '='), *v, *secret, *next;
        size_t n, len;
        if (eq == NULL || eq[1] == '\0') continue;
        n = (size_t)(eq - *e);
        v = eq + 1;
        if (in_list(credential_vars, *e, n)) {
            rr_secret_add(L, v, strlen(v));
            continue;
        }
        if (!in_list(url_vars, *e, n)) continue;
        for (next = v; (next = userinfo_secret(next, &secret, &len)) != NULL;) rr_secret_add(L, secret, len);
    }
}

/* ---- origins ---------------------------------------------------------------- */

int rr_host_is_loopback(const char *host, size_t n) {
    char buf[64], extra;
    unsigned a, b, c, d;
    if (n == 0 || n >= sizeof buf) return 0;
    memcpy(buf, host, n);
    buf[n] = '\0';
    if (strcasecmp(buf, "localhost") == 0 || strcmp(buf, "[::1]") == 0 || strcmp(buf, "::1") == 0) return 1;
    /* 127.0.0.0/8, written as a dotted quad */
    return sscanf(buf, "%u.%u.%u.%u%c", &a, &b, &c, &d, &extra) == 4 && a == 127 && b < 256 && c < 256 &&
           d < 256;
}

int rr_origin(const char *url, char *out, size_t size) {
    const char *sep = strstr(url, "://"), *auth, *end, *host, *host_end, *port = NULL;
    int w;
    long portnum;
    if (sep == NULL || sep == url) return 0;
    for (const char *p = url; p < sep; p++)
        if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-' && *p != '.') return 0;
    auth = sep + 3;
    end = auth + strcspn(auth, "/?#");
    host = auth;
    for (const char *p = auth; p < end; p++)
        if (*p == '@') host = p + 1; /* userinfo ends at the last '@' */
    if (*host == '[') {
        host_end = memchr(host, ']', (size_t)(end - host));
        if (host_end == NULL) return 0;
        host_end++;
    } else {
        host_end = memchr(host, ':', (size_t)(end - host));
        if (host_end == NULL) host_end = end;
    }
    if (host_end == host) return 0;
    if (host_end < end && *host_end == ':' && host_end + 1 < end) port = host_end + 1;
    if (port != NULL) {
        char *stop;
        portnum = strtol(port, &stop, 10);
        if (stop != end || portnum <= 0 || portnum > 65535) return 0;
    } else if ((size_t)(sep - url) == 5 && strncasecmp(url, "https", 5) == 0) {
        portnum = 443;
    } else if ((size_t)(sep - url) == 4 && strncasecmp(url, "http", 4) == 0) {
        portnum = 80;
    } else {
        portnum = 0;
    }
    w = snprintf(out, size, "%.*s://%.*s:%ld", (int)(sep - url), url, (int)(host_end - host), host, portnum);
    if (w < 0 || (size_t)w >= size) return 0;
    for (char *p = out; *p; p++) *p = (char)tolower((unsigned char)*p);
    return 1;
}

/* An origin fit to receive credentials: https, or http to this machine. */
static int origin_may_carry(const char *origin) {
    const char *host, *colon;
    if (strncmp(origin, "https://", 8) == 0) return 1;
    if (strncmp(origin, "http://", 7) != 0) return 0;
    host = origin + 7;
    colon = strrchr(host, ':');
    return rr_host_is_loopback(host, (size_t)(colon - host));
}

/* ---- the rules ------------------------------------------------------------------ */

#define MAX_ORIGINS 4

typedef struct {
    const char *label;                /* what the message calls the credential */
    const char *secret;
    size_t len;
    char origins[MAX_ORIGINS][ORIGIN_MAX];
    int count;
    const char *where;                /* how to change where it may go */
} rule;

static void rule_allow(rule *r, const char *url) {
    char o[ORIGIN_MAX];
    if (url == NULL || r->count == MAX_ORIGINS || !rr_origin(url, o, sizeof o) || !origin_may_carry(o)) return;
    for (int i = 0; i < r->count; i++)
        if (strcmp(r->origins[i], o) == 0) return;
    memcpy(r->origins[r->count++], o, sizeof o);
}

static const char *env_value(const char *name) {
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* The GitHub server: GITHUB_SERVER_URL (default https://github.com), its API
 * (GITHUB_API_URL, default api.github.com, or the server's own host for
 * GitHub Enterprise) and, on github.com, the uploads host of release assets. */
static void github_rule(rule *r) {
    const char *server = env_value("GITHUB_SERVER_URL"), *api = env_value("GITHUB_API_URL");
    char o[ORIGIN_MAX];
    int dotcom;
    if (server == NULL) server = "https://github.com";
    dotcom = rr_origin(server, o, sizeof o) && strcmp(o, "https://github.com:443") == 0;
    rule_allow(r, server);
    rule_allow(r, api != NULL ? api : dotcom ? "https://api.github.com" : server);
    if (dotcom) rule_allow(r, "https://uploads.github.com");
    r->where = "GITHUB_SERVER_URL, GITHUB_API_URL";
}

static int holds(const char *text, size_t tlen, const char *secret, size_t slen);

/* The environment's bound credentials; calls fn for each one present. */
static const char *each_env_rule(lua_State *L, const char *text, size_t tlen,
                                 const char *(*fn)(lua_State *, rule *, const char *), const char *origin) {
    static const char *const github_vars[] = {"GITHUB_TOKEN", "GH_TOKEN", "GIT_TOKEN", NULL};
    const char *msg;
    rule r;
    for (int i = 0; github_vars[i]; i++) {
        memset(&r, 0, sizeof r);
        r.label = github_vars[i];
        if ((r.secret = env_value(r.label)) == NULL) continue;
        r.len = strlen(r.secret);
        if (!holds(text, tlen, r.secret, r.len)) continue;
        github_rule(&r);
        if ((msg = fn(L, &r, origin)) != NULL) return msg;
    }
    memset(&r, 0, sizeof r);
    r.label = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";
    if ((r.secret = env_value(r.label)) != NULL && holds(text, tlen, r.secret, r.len = strlen(r.secret))) {
        rule_allow(&r, env_value("ACTIONS_ID_TOKEN_REQUEST_URL"));
        r.where = "ACTIONS_ID_TOKEN_REQUEST_URL";
        if ((msg = fn(L, &r, origin)) != NULL) return msg;
    }
    memset(&r, 0, sizeof r);
    r.label = "AWS_SECRET_ACCESS_KEY"; /* it signs; it is never sent */
    if ((r.secret = env_value(r.label)) != NULL && holds(text, tlen, r.secret, r.len = strlen(r.secret))) {
        r.where = "nowhere: it only signs requests";
        if ((msg = fn(L, &r, origin)) != NULL) return msg;
    }
    return NULL;
}

/* Binding i of relrun.http.bind into r; 0 when there is none. The strings
 * stay valid after the stack is popped: the registry's table holds them
 * and bindings are never removed. */
static int load_binding(lua_State *L, lua_Integer i, rule *r) {
    int ok = 0;
    memset(r, 0, sizeof *r);
    if (lua_getfield(L, LUA_REGISTRYINDEX, BOUND_KEY) != LUA_TTABLE) {
        lua_pop(L, 1);
        return 0;
    }
    if (lua_rawgeti(L, -1, i) == LUA_TTABLE) {
        lua_rawgeti(L, -1, 1);
        r->secret = lua_tolstring(L, -1, &r->len);
        lua_rawgeti(L, -2, 2);
        r->label = lua_tostring(L, -1);
        r->where = "relrun.http.bind";
        lua_pop(L, 2);
        for (lua_Integer k = 3; lua_rawgeti(L, -1, k) == LUA_TSTRING; k++) {
            if (r->count < MAX_ORIGINS) snprintf(r->origins[r->count++], ORIGIN_MAX, "%s", lua_tostring(L, -1));
            lua_pop(L, 1);
        }
        lua_pop(L, 1); /* the nil that ended the list */
        ok = 1;
    }
    lua_pop(L, 2);
    return ok;
}

/* The bindings a script made (relrun.http.bind); calls fn for each present. */
static const char *each_bound_rule(lua_State *L, const char *text, size_t tlen,
                                   const char *(*fn)(lua_State *, rule *, const char *), const char *origin) {
    rule r;
    const char *msg;
    for (lua_Integer i = 1; load_binding(L, i, &r); i++)
        if (holds(text, tlen, r.secret, r.len) && (msg = fn(L, &r, origin)) != NULL) return msg;
    return NULL;
}

/* Whether `text` holds `secret`: as is, or inside the Basic credentials of
 * an authorization header ("Basic base64(user:secret)"). */
static int holds_basic(const char *text, size_t tlen, const char *secret, size_t slen) {
    unsigned char decoded[1024];
    size_t n;
    if (tlen < 6 || strncasecmp(text, "Basic ", 6) != 0) return 0;
    n = rr_base64_decode_loose(text + 6, tlen - 6, decoded, sizeof decoded);
    return memmem(decoded, n, secret, slen) != NULL;
}

static int holds(const char *text, size_t tlen, const char *secret, size_t slen) {
    if (secret == NULL || slen < 4) return 0;
    return memmem(text, tlen, secret, slen) != NULL || holds_basic(text, tlen, secret, slen);
}

/* ---- the checks --------------------------------------------------------------- */

/* An origin as a person writes it: without the scheme's default port. */
static void add_origin(luaL_Buffer *b, const char *origin) {
    size_t n = strlen(origin);
    if (strncmp(origin, "https://", 8) == 0 && n > 4 && strcmp(origin + n - 4, ":443") == 0) n -= 4;
    else if (strncmp(origin, "http://", 7) == 0 && n > 3 && strcmp(origin + n - 3, ":80") == 0) n -= 3;
    luaL_addlstring(b, origin, n);
}

/* The "scheme://host" part of an origin (its length). */
static size_t host_end(const char *origin) {
    const char *colon = strrchr(origin, ':');
    return colon != NULL && colon > strstr(origin, "://") + 2 ? (size_t)(colon - origin) : strlen(origin);
}

static const char *host_of(const char *origin) { return strstr(origin, "://") + 3; }

/* Whether `origin` is one of the rule's. An allowed origin on this machine
 * stands for its host on any port: servers there (the tests' fakes) take
 * free ports, and the GitHub fake serves uploads on a second one as
 * github.com does on a second host. */
static int allowed(const rule *r, const char *origin) {
    for (int i = 0; i < r->count; i++) {
        const char *o = r->origins[i];
        size_t a = host_end(o) - (size_t)(host_of(o) - o), b = host_end(origin) - (size_t)(host_of(origin) - origin);
        if (strcmp(o, origin) == 0) return 1;
        if (rr_host_is_loopback(host_of(o), a) && a == b && memcmp(host_of(o), host_of(origin), a) == 0) return 1;
    }
    return 0;
}

static const char *refuse_unless_allowed(lua_State *L, rule *r, const char *origin) {
    luaL_Buffer b;
    if (allowed(r, origin)) return NULL;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, r->label);
    luaL_addstring(&b, r->count > 0 ? " goes only to " : " goes to no server");
    for (int i = 0; i < r->count; i++) {
        if (i > 0) luaL_addstring(&b, ", ");
        add_origin(&b, r->origins[i]);
    }
    luaL_addstring(&b, " (");
    luaL_addstring(&b, r->where);
    if (r->count == 0 && strcmp(r->label, "AWS_SECRET_ACCESS_KEY") != 0)
        luaL_addstring(&b, ": https, or http on this machine only");
    luaL_addstring(&b, "), not to ");
    add_origin(&b, origin);
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

static const char *found(lua_State *L, rule *r, const char *origin) {
    (void)L, (void)r, (void)origin;
    return "";
}

const char *rr_bound_refusal(lua_State *L, const char *text, size_t len, const char *origin) {
    const char *msg = each_env_rule(L, text, len, refuse_unless_allowed, origin);
    return msg != NULL ? msg : each_bound_rule(L, text, len, refuse_unless_allowed, origin);
}

int rr_bound_present(lua_State *L, const char *text, size_t len) {
    return each_env_rule(L, text, len, found, NULL) != NULL || each_bound_rule(L, text, len, found, NULL) != NULL;
}

/* bind(secret, {url, ...} [, label]): the secret goes only to those origins
 * (relrun.http and relrun.git refuse any other); it is registered too. */
int rr_lua_bind(lua_State *L) {
    size_t len;
    const char *secret = luaL_checklstring(L, 1, &len);
    const char *label = luaL_optstring(L, 3, "a bound credential");
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_argcheck(L, len >= 4, 1, "too short to be a credential");
    rr_secret_add(L, secret, len);
    if (lua_getfield(L, LUA_REGISTRYINDEX, BOUND_KEY) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, BOUND_KEY);
    }
    lua_createtable(L, 4, 0);                        /* [.., bound, binding] */
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
    lua_pushstring(L, label);
    lua_rawseti(L, -2, 2);
    for (lua_Integer i = 1; lua_rawgeti(L, 2, i) != LUA_TNIL; i++) {
        char o[ORIGIN_MAX];
        const char *url = lua_tostring(L, -1);
        luaL_argcheck(L, url != NULL && rr_origin(url, o, sizeof o), 2, "a list of URLs (scheme://host[:port])");
        luaL_argcheck(L, i <= MAX_ORIGINS, 2, "at most 4 origins");
        lua_pop(L, 1);
        lua_pushstring(L, o);
        lua_rawseti(L, -2, i + 2);
    }
    lua_pop(L, 1);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1);
    return 0;
}
