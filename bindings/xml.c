/*
 * relrun.xml: decode an XML document (AWS answers: STS, S3, IAM, errors)
 * into Lua tables with expat.
 *
 *   decode(s) → { name = "Tag", attrs = { k = v }, children = { el, ... },
 *                 text = "the element's own text, concatenated" }
 *             | nil, "xml: <reason> at line L, column C"
 *
 * Element names keep their local part ("s3:Key" → "Key"); namespace
 * declarations stay in attrs ("xmlns", "xmlns:s3"). Entity expansion is
 * bounded by expat's amplification limit (billion laughs), and expat never
 * fetches external entities.
 *
 * Tables are built from expat's callbacks: each one runs a small C function
 * under lua_pcall, so a Lua error (out of memory) never unwinds through
 * expat; it stops the parser and is raised after XML_Parse returns.
 */
#include "rr.h"

#include <expat.h>
#include <string.h>

#define PARSER_T "relrun.xml.parser"

/* Stack slots of decode(): the open elements by depth (and the root at
 * field "root"), their text parts by depth. The callbacks' functions get
 * (parser, STACK, PARTS) as their arguments 1, 2, 3. */
enum { INPUT = 1, BOX, STACK, PARTS };
enum { ARG_X = 1, ARG_STACK, ARG_PARTS };

typedef struct {
    XML_Parser p;
    lua_State *L;
    int depth;
    int failed; /* a callback's Lua error is on the stack top */
    /* the callback's arguments, read by the pcalled functions */
    const char *name;
    const char **atts;
    const char *text;
    int len;
} parser;

static int parser_gc(lua_State *L) {
    parser *x = luaL_checkudata(L, 1, PARSER_T);
    if (x->p) XML_ParserFree(x->p);
    x->p = NULL;
    return 0;
}

/* The part after the last colon; the whole name when nothing follows it
 * (expat without namespace processing accepts "<a:/>" and "<:/>", which
 * would otherwise give an element named "": found by fuzz_xml). */
static const char *local_name(const char *name) {
    const char *colon = strrchr(name, ':');
    return colon && colon[1] != '\0' ? colon + 1 : name;
}

/* [.., el] → appended to parent's children or made the root. */
static int do_start(lua_State *L) {
    parser *x = lua_touserdata(L, 1);
    int el;
    lua_createtable(L, 0, 4);
    el = lua_gettop(L);
    lua_pushstring(L, local_name(x->name));
    lua_setfield(L, el, "name");
    lua_newtable(L);
    for (const char **a = x->atts; a[0] != NULL; a += 2) {
        lua_pushstring(L, a[1]);
        lua_setfield(L, -2, a[0]);
    }
    lua_setfield(L, el, "attrs");
    lua_newtable(L);
    lua_setfield(L, el, "children");
    if (x->depth == 0) {
        lua_pushvalue(L, el);
        lua_setfield(L, ARG_STACK, "root");
    } else {
        lua_rawgeti(L, ARG_STACK, x->depth);
        lua_getfield(L, -1, "children");
        lua_pushvalue(L, el);
        lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
        lua_pop(L, 2);
    }
    x->depth++;
    lua_pushvalue(L, el);
    lua_rawseti(L, ARG_STACK, x->depth);
    lua_newtable(L);
    lua_rawseti(L, ARG_PARTS, x->depth);
    return 0;
}

static int do_text(lua_State *L) {
    parser *x = lua_touserdata(L, 1);
    if (x->depth == 0) return 0;
    lua_rawgeti(L, ARG_PARTS, x->depth);
    lua_pushlstring(L, x->text, (size_t)x->len);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    return 0;
}

/* The element's text is its parts, joined; then it leaves the stack. */
static int do_end(lua_State *L) {
    parser *x = lua_touserdata(L, 1);
    int el, parts;
    luaL_Buffer b;
    lua_rawgeti(L, ARG_STACK, x->depth);
    el = lua_gettop(L);
    lua_rawgeti(L, ARG_PARTS, x->depth);
    parts = lua_gettop(L);
    luaL_buffinit(L, &b);
    for (lua_Integer i = 1; lua_rawgeti(L, parts, i) == LUA_TSTRING; i++) luaL_addvalue(&b);
    lua_pop(L, 1); /* the nil that ended the loop */
    luaL_pushresult(&b);
    lua_setfield(L, el, "text");
    lua_pushnil(L);
    lua_rawseti(L, ARG_STACK, x->depth);
    lua_pushnil(L);
    lua_rawseti(L, ARG_PARTS, x->depth);
    x->depth--;
    return 0;
}

/* Run fn under lua_pcall; on error keep the message and stop the parser. */
static void protected(parser *x, lua_CFunction fn) {
    lua_State *L = x->L;
    if (x->failed) return;
    if (!lua_checkstack(L, 8)) {
        x->failed = 1;
        lua_pushliteral(L, "xml: out of memory");
        XML_StopParser(x->p, XML_FALSE);
        return;
    }
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, x);
    lua_pushvalue(L, STACK);
    lua_pushvalue(L, PARTS);
    if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
        x->failed = 1;
        XML_StopParser(x->p, XML_FALSE);
    }
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts) {
    parser *x = ud;
    x->name = name;
    x->atts = atts;
    protected(x, do_start);
}

static void XMLCALL on_end(void *ud, const XML_Char *name) {
    (void)name;
    protected(ud, do_end);
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len) {
    parser *x = ud;
    x->text = s;
    x->len = len;
    protected(x, do_text);
}

/* nil, message (the message is on the stack top). */
static int fail(lua_State *L, parser *x) {
    XML_ParserFree(x->p);
    x->p = NULL;
    return rr_fail(L, lua_tostring(L, -1), NULL);
}

static int l_decode(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, INPUT, &n);
    parser *x;
    lua_settop(L, INPUT);
    x = rr_newhandle(L, sizeof *x, PARSER_T); /* BOX */
    lua_newtable(L);                          /* STACK */
    lua_newtable(L);                          /* PARTS */
    x->L = L;
    x->p = XML_ParserCreate("UTF-8");
    if (x->p == NULL) return luaL_error(L, "xml: out of memory");
    XML_SetUserData(x->p, x);
    XML_SetElementHandler(x->p, on_start, on_end);
    XML_SetCharacterDataHandler(x->p, on_text);
    if (n > (size_t)0x7fffffff) {
        lua_pushliteral(L, "xml: document larger than 2 GiB");
        return fail(L, x);
    }
    if (XML_Parse(x->p, s, (int)n, XML_TRUE) == XML_STATUS_ERROR && !x->failed) {
        enum XML_Error e = XML_GetErrorCode(x->p);
        lua_pushfstring(L, "xml: %s at line %d, column %d", XML_ErrorString(e),
                        (int)XML_GetCurrentLineNumber(x->p), (int)XML_GetCurrentColumnNumber(x->p) + 1);
        return fail(L, x);
    }
    if (x->failed) return lua_error(L); /* the callback's error is on top; __gc frees the parser */
    XML_ParserFree(x->p);
    x->p = NULL;
    lua_getfield(L, STACK, "root");
    return 1;
}

int luaopen_relrun_xml(lua_State *L) {
    static const luaL_Reg fns[] = {{"decode", l_decode}, {NULL, NULL}};
    static const luaL_Reg parser_m[] = {{"__gc", parser_gc}, {"__close", parser_gc}, {NULL, NULL}};
    rr_newclass(L, PARSER_T, parser_m);
    luaL_newlib(L, fns);
    return 1;
}
