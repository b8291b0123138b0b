/*
 * relrun.json: lua-cjson (Debian's 2.1.0, linked statically) with what
 * relrun's callers need on top of it:
 * - decode returns nil, message on bad input instead of raising;
 * - numbers without a fraction decode as Lua integers (cjson 2.1.0 predates
 *   Lua 5.3 and makes every number a float, so a size would print "12.0");
 * - what 2.1.0 encodes wrongly: it has no empty_array or array_mt and
 *   writes every empty table as {}, yet AWS and GitHub APIs want `[]`; it
 *   prints numbers with at most 14 digits, so 123456789012345 would become
 *   1.2345678901235e+14. Before cjson runs, a copy of the value gets a
 *   placeholder string for each empty table marked by json.array (or
 *   json.empty_array) and each integer of 15 digits or more; after, each
 *   placeholder is replaced by `[]` or the integer's digits. Values without
 *   either go to cjson untouched.
 */
#include "rr.h"

#include <lua-cjson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* cjson's own limit: deeper values make it raise, so the walks stop there. */
#define MAX_DEPTH 1000

/* Upvalues of the module's functions. */
#define UV_ENCODE lua_upvalueindex(1)     /* cjson.encode */
#define UV_DECODE lua_upvalueindex(2)     /* cjson.decode */
#define UV_ARRAY_MT lua_upvalueindex(3)   /* metatable json.array sets */
#define UV_EMPTY_MT lua_upvalueindex(4)   /* json.empty_array's metatable */
#define UV_TOKEN lua_upvalueindex(5)      /* "\"relrun.json.swap:<random>" */

/* 10^14: from here cjson's 14 digits are not enough for an integer. */
#define BIG_INT 100000000000000LL

/* Whether the value at idx is a table marked as an array. */
static int is_marked(lua_State *L, int idx) {
    int marked = 0;
    if (lua_getmetatable(L, idx)) {
        marked = lua_rawequal(L, -1, UV_ARRAY_MT) || lua_rawequal(L, -1, UV_EMPTY_MT);
        lua_pop(L, 1);
    }
    return marked;
}

static int is_empty(lua_State *L, int idx) {
    lua_pushnil(L);
    if (lua_next(L, idx) == 0) return 1;
    lua_pop(L, 2);
    return 0;
}

/* Whether the value at idx is a whole number (integer or float) that
 * cjson would print rounded; its value goes to *out. */
static int is_big_int(lua_State *L, int idx, lua_Integer *out) {
    if (lua_type(L, idx) != LUA_TNUMBER) return 0;
    if (!lua_isinteger(L, idx)) {
        double d = lua_tonumber(L, idx);
        /* 2^63 is the first double outside lua_Integer's range. */
        if (d != floor(d) || fabs(d) < (double)BIG_INT || fabs(d) >= 9223372036854775808.0) return 0;
        *out = (lua_Integer)d;
        return 1;
    }
    *out = lua_tointeger(L, idx);
    return *out >= BIG_INT || *out <= -BIG_INT;
}

/* Whether the value at idx holds, anywhere, something cjson gets wrong. */
static int needs_swap(lua_State *L, int idx, int depth) {
    int found = 0;
    lua_Integer i;
    if (is_big_int(L, idx, &i)) return 1;
    if (lua_type(L, idx) != LUA_TTABLE || depth > MAX_DEPTH) return 0;
    if (is_marked(L, idx) && is_empty(L, idx)) return 1;
    luaL_checkstack(L, 3, "json.encode");
    lua_pushnil(L);
    while (!found && lua_next(L, idx) != 0) {   /* [k, v] */
        found = needs_swap(L, lua_gettop(L), depth + 1);
        lua_pop(L, 1);
    }
    if (found) lua_pop(L, 1);   /* the key left by the early stop */
    return found;
}

/* A string holding the placeholder's text would be rewritten by
 * push_unswapped. The token is random per state, so only a caller who read
 * it (fuzz_json did, through libFuzzer's memmem hook) can write one: refuse
 * rather than emit wrong JSON. */
static void refuse_token(lua_State *L, int idx) {
    size_t n, tn;
    const char *s, *tok;
    if (lua_type(L, idx) != LUA_TSTRING) return;
    s = lua_tolstring(L, idx, &n);
    tok = lua_tolstring(L, UV_TOKEN, &tn);
    if (memmem(s, n, tok + 1, tn - 1) != NULL)
        luaL_error(L, "json.encode: a string holds relrun.json's internal placeholder");
}

/* Push a copy of the value at idx with placeholders: TOKEN" for an empty
 * marked table, TOKEN:digits" for a big integer (TOKEN starts with the
 * quote). Metatables are not copied: cjson ignores them. */
static void push_swapped(lua_State *L, int idx, int depth) {
    lua_Integer i;
    if (is_big_int(L, idx, &i)) {
        lua_pushfstring(L, "%s:%I", lua_tostring(L, UV_TOKEN) + 1, (LUAI_UACINT)i);
        return;
    }
    if (lua_type(L, idx) != LUA_TTABLE || depth > MAX_DEPTH) {
        refuse_token(L, idx);
        lua_pushvalue(L, idx);   /* cjson reports what is wrong with it */
        return;
    }
    if (is_marked(L, idx) && is_empty(L, idx)) {
        lua_pushstring(L, lua_tostring(L, UV_TOKEN) + 1);
        return;
    }
    luaL_checkstack(L, 4, "json.encode");
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {   /* [copy, k, v] */
        refuse_token(L, -2);
        push_swapped(L, lua_gettop(L), depth + 1);
        lua_remove(L, -2);
        lua_pushvalue(L, -2);
        lua_insert(L, -2);            /* [copy, k, k, v'] */
        lua_rawset(L, -4);
    }
}

static void random_token(lua_State *L) {
    unsigned char r[16];
    char hex[33];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        /* Only a guard against a user string equal to the token; the
         * address and the clock are enough when the kernel says no. */
        unsigned long long a = (unsigned long long)(size_t)&r ^ (unsigned long long)clock();
        memcpy(r, &a, sizeof a);
        memcpy(r + 8, &a, sizeof a);
    }
    rr_hex_encode(r, sizeof r, hex);
    lua_pushfstring(L, "\"relrun.json.swap:%s", hex);
}

/* Replace the placeholders in the JSON text at idx: TOKEN" by [] and
 * TOKEN:digits" by the digits. */
static void push_unswapped(lua_State *L, int idx) {
    size_t n, tn;
    const char *p = lua_tolstring(L, idx, &n), *end = p + n, *q;
    const char *tok = lua_tolstring(L, UV_TOKEN, &tn);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    while ((q = memmem(p, (size_t)(end - p), tok, tn)) != NULL) {
        luaL_addlstring(&b, p, (size_t)(q - p));
        q += tn;
        if (*q == '"') {
            luaL_addstring(&b, "[]");
            p = q + 1;
        } else {                         /* :digits" */
            const char *e = memchr(q, '"', (size_t)(end - q));
            luaL_addlstring(&b, q + 1, (size_t)(e - q - 1));
            p = e + 1;
        }
    }
    luaL_addlstring(&b, p, (size_t)(end - p));
    luaL_pushresult(&b);
}

/* encode(v) -> string; raises on values JSON cannot hold. */
static int l_encode(lua_State *L) {
    luaL_checkany(L, 1);
    lua_settop(L, 1);
    lua_pushvalue(L, UV_ENCODE);
    if (!needs_swap(L, 1, 0)) {
        lua_pushvalue(L, 1);
        lua_call(L, 1, 1);
        return 1;
    }
    push_swapped(L, 1, 0);
    lua_call(L, 1, 1);   /* [v, json] */
    push_unswapped(L, 2);
    return 1;
}

/* Floats without a fraction become integers, in place. Within 2^53 every
 * such double is exact; beyond it the number was already rounded. */
static void integerise(lua_State *L, int idx, int depth) {
    if (depth > MAX_DEPTH) return;
    luaL_checkstack(L, 3, "json.decode");
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {   /* [k, v] */
        int t = lua_type(L, -1);
        if (t == LUA_TTABLE) {
            integerise(L, lua_gettop(L), depth + 1);
        } else if (t == LUA_TNUMBER && !lua_isinteger(L, -1)) {
            double d = lua_tonumber(L, -1);
            if (d == floor(d) && fabs(d) <= 9007199254740992.0) {
                lua_pushvalue(L, -2);
                lua_pushinteger(L, (lua_Integer)d);
                lua_rawset(L, idx);
            }
        }
        lua_pop(L, 1);
    }
}

/* decode(s) -> value | nil, message */
static int l_decode(lua_State *L) {
    luaL_checkstring(L, 1);
    lua_settop(L, 1);
    lua_pushvalue(L, UV_DECODE);
    lua_pushvalue(L, 1);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK)
        return rr_failf(L, NULL, "invalid JSON: %s", lua_tostring(L, -1));
    if (lua_type(L, 2) == LUA_TTABLE) {
        integerise(L, 2, 0);
    } else if (lua_type(L, 2) == LUA_TNUMBER && !lua_isinteger(L, 2)) {
        double d = lua_tonumber(L, 2);
        if (d == floor(d) && fabs(d) <= 9007199254740992.0) lua_pushinteger(L, (lua_Integer)d);
    }
    return 1;
}

/* array(t) -> t, marked so that it encodes as `[]` when empty. */
static int l_array(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    if (lua_getmetatable(L, 1)) {
        luaL_argcheck(L, lua_rawequal(L, -1, UV_ARRAY_MT), 1,
                      "table already has a metatable; build a plain table for JSON");
        lua_pop(L, 1);
        return 1;
    }
    lua_pushvalue(L, UV_ARRAY_MT);
    lua_setmetatable(L, 1);
    return 1;
}

static int read_only(lua_State *L) {
    return luaL_error(L, "relrun.json.empty_array is shared and read-only; use json.array({})");
}

static const luaL_Reg functions[] = {
    {"encode", l_encode},
    {"decode", l_decode},
    {"array", l_array},
    {NULL, NULL},
};

int luaopen_relrun_json(lua_State *L) {
    int cjson;
    lua_settop(L, 0);                              /* require's arguments */
    luaL_newlibtable(L, functions);                /* [M] */
    luaopen_cjson(L);                              /* [M, cjson] */
    cjson = lua_gettop(L);
    lua_getfield(L, cjson, "null");
    lua_setfield(L, -3, "null");
    lua_getfield(L, cjson, "encode");
    lua_getfield(L, cjson, "decode");
    lua_newtable(L);                               /* array metatable */
    lua_pushliteral(L, "relrun.json.array");
    lua_setfield(L, -2, "__name");
    lua_newtable(L);                               /* empty_array's metatable */
    lua_pushliteral(L, "relrun.json.array");
    lua_setfield(L, -2, "__name");
    lua_pushcfunction(L, read_only);
    lua_setfield(L, -2, "__newindex");
    lua_newtable(L);                               /* json.empty_array */
    lua_pushvalue(L, -2);
    lua_setmetatable(L, -2);
    lua_setfield(L, 1, "empty_array");
    random_token(L);                               /* [M, cjson, enc, dec, amt, emt, token] */
    lua_remove(L, cjson);
    luaL_setfuncs(L, functions, 5);
    return 1;
}
