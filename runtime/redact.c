/*
 * The secret registry. Every credential, token and key relrun handles is
 * registered the moment it exists; everything the host prints (print, error
 * messages, relrun.log) goes through rr_mask_*, which replaces the secret and
 * the forms it travels in (URL-encoded, base64) with "***".
 */
#include "rr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REGISTRY_KEY "relrun.secrets"
#define MASK "***"
/* Shorter values would mask ordinary words; no real credential is this short. */
#define MIN_SECRET 4

typedef struct {
    char **forms;
    size_t *lens;
    size_t count, cap;
} SecretSet;

static int secretset_gc(lua_State *L) {
    SecretSet *s = lua_touserdata(L, 1);
    for (size_t i = 0; i < s->count; i++) free(s->forms[i]);
    free(s->forms);
    free(s->lens);
    s->forms = NULL;
    s->lens = NULL;
    s->count = s->cap = 0;
    return 0;
}

static SecretSet *secretset_get(lua_State *L, int create) {
    SecretSet *s;
    if (lua_getfield(L, LUA_REGISTRYINDEX, REGISTRY_KEY) == LUA_TUSERDATA) {
        s = lua_touserdata(L, -1);
        lua_pop(L, 1);
        return s;
    }
    lua_pop(L, 1);
    if (!create) return NULL;
    s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    lua_newtable(L);
    lua_pushcfunction(L, secretset_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, REGISTRY_KEY);
    return s;
}

static int secretset_has(const SecretSet *s, const char *v, size_t len) {
    for (size_t i = 0; i < s->count; i++)
        if (s->lens[i] == len && memcmp(s->forms[i], v, len) == 0) return 1;
    return 0;
}

/* Keep forms sorted longest first so a longer form masks whole.
 * Returns whether the form is new. */
static int secretset_insert(lua_State *L, SecretSet *s, const char *v, size_t len) {
    size_t at;
    char *copy;
    if (len < MIN_SECRET || secretset_has(s, v, len)) return 0;
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        char **forms = realloc(s->forms, cap * sizeof *forms);
        if (forms == NULL) luaL_error(L, "out of memory");
        s->forms = forms;
        size_t *lens = realloc(s->lens, cap * sizeof *lens);
        if (lens == NULL) luaL_error(L, "out of memory");
        s->lens = lens;
        s->cap = cap;
    }
    copy = malloc(len);
    if (copy == NULL) luaL_error(L, "out of memory");
    memcpy(copy, v, len);
    for (at = 0; at < s->count && s->lens[at] >= len; at++) {}
    memmove(s->forms + at + 1, s->forms + at, (s->count - at) * sizeof *s->forms);
    memmove(s->lens + at + 1, s->lens + at, (s->count - at) * sizeof *s->lens);
    s->forms[at] = copy;
    s->lens[at] = len;
    s->count++;
    return 1;
}

/* The form a value takes inside an Authorization header or a JSON body. */
static void push_base64(lua_State *L, const char *s, size_t len) {
    luaL_Buffer b;
    char *o = luaL_buffinitsize(L, &b, RR_BASE64_LEN(len));
    luaL_pushresultsize(&b, rr_base64_encode(s, len, o));
}

int rr_in_actions(void) {
    const char *v = getenv("GITHUB_ACTIONS");
    return v != NULL && strcmp(v, "true") == 0;
}

void rr_add_command_escaped(luaL_Buffer *b, const char *s, size_t len, int property) {
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') luaL_addstring(b, "%25");
        else if (c == '\r') luaL_addstring(b, "%0D");
        else if (c == '\n') luaL_addstring(b, "%0A");
        else if (property && c == ':') luaL_addstring(b, "%3A");
        else if (property && c == ',') luaL_addstring(b, "%2C");
        else luaL_addchar(b, c);
    }
}

/* Tell the Actions runner to mask a value in the job log (it masks what
 * child processes print too). Written unmasked, straight to stdout, before
 * anything could print the value. */
static void emit_add_mask(lua_State *L, const char *v, size_t len) {
    luaL_Buffer b;
    size_t n;
    const char *line;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "::add-mask::");
    rr_add_command_escaped(&b, v, len, 0);
    luaL_addchar(&b, '\n');
    luaL_pushresult(&b);
    line = lua_tolstring(L, -1, &n);
    fwrite(line, 1, n, stdout);
    fflush(stdout);
    lua_pop(L, 1);
}

/* One value and the forms it travels in. Returns whether it was new. */
static int add_forms(lua_State *L, SecretSet *s, const char *v, size_t len) {
    size_t n;
    const char *form;
    int added = secretset_insert(L, s, v, len);
    rr_push_pct_encoded(L, v, len, NULL);
    form = lua_tolstring(L, -1, &n);
    secretset_insert(L, s, form, n);
    lua_pop(L, 1);
    /* base64 without its padding: the value may sit inside a longer encoding
     * only at a 3-byte boundary, which is the common case (a token alone). */
    push_base64(L, v, len);
    form = lua_tolstring(L, -1, &n);
    while (n > 0 && form[n - 1] == '=') n--;
    if (n > len / 2) secretset_insert(L, s, form, n);
    lua_pop(L, 1);
    return added;
}

/* Register a secret: the whole value and, for a multi-line one, each line
 * (GitHub masks line by line, and so do we). Under GitHub Actions each new
 * line is also sent to the runner with ::add-mask::. */
void rr_secret_add(lua_State *L, const char *v, size_t len) {
    SecretSet *s = secretset_get(L, 1);
    const char *end = v + len;
    int actions = rr_in_actions();
    int multiline = memchr(v, '\n', len) != NULL;
    if (len == 0) return;
    if (add_forms(L, s, v, len) && actions && !multiline) emit_add_mask(L, v, len);
    for (const char *line = v; multiline && line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *stop = nl ? nl : end;
        size_t n = (size_t)(stop - line);
        if (n > 0 && line[n - 1] == '\r') n--;
        if (add_forms(L, s, line, n) && actions) emit_add_mask(L, line, n);
        line = stop + 1;
    }
}

/* Length of the secret form that starts at p, or 0. */
static size_t match_at(const SecretSet *s, const char *p, size_t left) {
    for (size_t i = 0; i < s->count; i++)
        if (s->lens[i] <= left && memcmp(p, s->forms[i], s->lens[i]) == 0) return s->lens[i];
    return 0;
}

void rr_mask_push(lua_State *L, const char *str, size_t len) {
    SecretSet *s = secretset_get(L, 0);
    luaL_Buffer b;
    if (s == NULL || s->count == 0) {
        lua_pushlstring(L, str, len);
        return;
    }
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < len;) {
        size_t m = match_at(s, str + i, len - i);
        if (m > 0) {
            luaL_addstring(&b, MASK);
            i += m;
        } else {
            luaL_addchar(&b, str[i]);
            i++;
        }
    }
    luaL_pushresult(&b);
}

void rr_mask_write(lua_State *L, FILE *f, const char *s, size_t len) {
    size_t n;
    const char *m;
    rr_mask_push(L, s, len);
    m = lua_tolstring(L, -1, &n);
    fwrite(m, 1, n, f);
    lua_pop(L, 1);
}

/* secret(value) and mask(s) for Lua: relrun.host and relrun.log both
 * export these two, so there is one implementation. */
int rr_lua_secret(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    rr_secret_add(L, s, len);
    return 0;
}

int rr_lua_mask(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    rr_mask_push(L, s, len);
    return 1;
}

/* ---- workflow commands in text ---------------------------------------------
 *
 * The Actions runner reads every line a step prints, on stdout and stderr,
 * and runs it as a workflow command when it starts with "::" after blanks
 * (or holds "##[", the older form). A log message can carry text relrun
 * does not control -- a git hook's rejection, a server's error, a commit
 * subject -- and a line of it must not open a group, add an annotation or
 * stop command processing (which would also stop ::add-mask::). A zero-width
 * space between the two characters keeps the text as it reads and makes it
 * no command. relrun's own commands are written without this. */

#define ZWSP "\xe2\x80\x8b"

static int at_command(const char *s, size_t len, size_t i, int line_start) {
    if (i + 1 < len && line_start && s[i] == ':' && s[i + 1] == ':') return 1;
    return i + 2 < len && s[i] == '#' && s[i + 1] == '#' && s[i + 2] == '[';
}

/* Bytes of the blank at s[i] that the runner's TrimStart (.NET's
 * char.IsWhiteSpace) would skip: ASCII blanks, U+0085, U+00A0, U+1680,
 * U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000; 0 for anything
 * else (U+200B is not one of them, which is why it works). */
static size_t blank_len(const unsigned char *s, size_t len, size_t i) {
    unsigned char c = s[i];
    if (c == ' ' || (c >= '\t' && c <= '\r')) return 1;
    if (c == 0xC2 && i + 1 < len && (s[i + 1] == 0x85 || s[i + 1] == 0xA0)) return 2;
    if (i + 2 >= len) return 0;
    if (c == 0xE1 && s[i + 1] == 0x9A && s[i + 2] == 0x80) return 3;
    if (c == 0xE2 && s[i + 1] == 0x80) {
        unsigned char d = s[i + 2];
        return (d >= 0x80 && d <= 0x8A) || d == 0xA8 || d == 0xA9 || d == 0xAF ? 3 : 0;
    }
    if (c == 0xE2 && s[i + 1] == 0x81 && s[i + 2] == 0x9F) return 3;
    if (c == 0xE3 && s[i + 1] == 0x80 && s[i + 2] == 0x80) return 3;
    return 0;
}

void rr_inert_push(lua_State *L, const char *s, size_t len) {
    luaL_Buffer b;
    int line_start = 1;
    if (!rr_in_actions()) {
        lua_pushlstring(L, s, len);
        return;
    }
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < len;) {
        size_t blank = blank_len((const unsigned char *)s, len, i);
        if (blank > 0) {
            luaL_addlstring(&b, s + i, blank);
            if (s[i] == '\n') line_start = 1;
            i += blank;
            continue;
        }
        luaL_addchar(&b, s[i]);
        if (at_command(s, len, i, line_start)) luaL_addstring(&b, ZWSP);
        line_start = 0;
        i++;
    }
    luaL_pushresult(&b);
}
