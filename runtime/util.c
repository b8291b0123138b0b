/* Small helpers every binding uses: failure triples, handles, option
 * fields, a growing byte buffer. */
#include "rr.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rr_fail(lua_State *L, const char *message, const char *code) {
    lua_pushnil(L);
    lua_pushstring(L, message);
    if (code == NULL) return 2;
    lua_pushstring(L, code);
    return 3;
}

int rr_failf(lua_State *L, const char *code, const char *fmt, ...) {
    va_list ap;
    lua_pushnil(L);
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    if (code == NULL) return 2;
    lua_pushstring(L, code);
    return 3;
}

const char *rr_errno_name(int err) {
    const char *name = strerrorname_np(err); /* glibc 2.32+: "ENOENT" */
    if (name == NULL) {
        static _Thread_local char buf[24];
        snprintf(buf, sizeof buf, "E%d", err);
        return buf;
    }
    return name;
}

int rr_fail_errno(lua_State *L, const char *what, int err) {
    if (what != NULL)
        return rr_failf(L, rr_errno_name(err), "%s: %s", what, strerror(err));
    return rr_fail(L, strerror(err), rr_errno_name(err));
}

void *rr_newhandle(lua_State *L, size_t size, const char *tname) {
    void *h = lua_newuserdatauv(L, size, 1);
    memset(h, 0, size);
    luaL_setmetatable(L, tname);
    return h;
}

void rr_newclass(lua_State *L, const char *tname, const luaL_Reg *methods) {
    luaL_newmetatable(L, tname);
    luaL_setfuncs(L, methods, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

/* Push field `key` of the options table at `t`; 0 (nothing pushed) when
 * it is nil. */
static int push_option(lua_State *L, int t, const char *key) {
    lua_getfield(L, lua_absindex(L, t), key);
    if (!lua_isnil(L, -1)) return 1;
    lua_pop(L, 1);
    return 0;
}

/* A string option. Numbers are refused rather than converted: a converted
 * copy would live only on the stack, and the pointer must stay valid while
 * the options table is alive. */
const char *rr_optfield_string(lua_State *L, int t, const char *key, const char *def) {
    const char *s;
    if (!push_option(L, t, key)) return def;
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "option '%s' must be a string", key);
    s = lua_tostring(L, -1);
    lua_pop(L, 1); /* still anchored by the options table */
    return s;
}

lua_Integer rr_optfield_integer(lua_State *L, int t, const char *key, lua_Integer def) {
    lua_Integer v;
    int ok;
    if (!push_option(L, t, key)) return def;
    v = lua_tointegerx(L, -1, &ok);
    if (!ok) luaL_error(L, "option '%s' must be an integer", key);
    lua_pop(L, 1);
    return v;
}

double rr_optfield_number(lua_State *L, int t, const char *key, double def) {
    double v;
    int ok;
    if (!push_option(L, t, key)) return def;
    v = (double)lua_tonumberx(L, -1, &ok);
    if (!ok) luaL_error(L, "option '%s' must be a number", key);
    lua_pop(L, 1);
    return v;
}

int rr_optfield_boolean(lua_State *L, int t, const char *key, int def) {
    int v;
    if (!push_option(L, t, key)) return def;
    v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* Doubling from 4 KiB: a captured stream or an answer body costs a
 * logarithmic number of reallocs. */
int rr_buf_add(rr_buf *b, const void *p, size_t n) {
    if (n == 0) return 0;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *d;
        while (cap < b->len + n) cap *= 2;
        d = realloc(b->data, cap);
        if (d == NULL) return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void rr_buf_free(rr_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
