/*
 * The embedding API (include/relrun.h): a Lua state with the standard
 * libraries, every relrun module preloaded, print masked through the secret
 * registry, and runs protected by a message handler that keeps the
 * traceback for --debug.
 */
#include "relrun.h"
#include "host.h"
#include "rr.h"

#include <lualib.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct relrun {
    lua_State *L;
    int debug;
    char *error;
};

static void set_error(relrun *r, const char *msg) {
    free(r->error);
    r->error = msg ? strdup(msg) : NULL;
}

/* print, with every argument masked (lbaselib's luaB_print otherwise). */
static int masked_print(lua_State *L) {
    int n = lua_gettop(L);
    for (int i = 1; i <= n; i++) {
        size_t len;
        const char *s = luaL_tolstring(L, i, &len);
        if (i > 1) fputc('\t', stdout);
        rr_mask_write(L, stdout, s, len);
        lua_pop(L, 1);
    }
    fputc('\n', stdout);
    fflush(stdout);
    return 0;
}

/* Whether every argument from..to is a string or a number (what write
 * accepts; anything else is left for liolib to refuse). */
static int all_writable(lua_State *L, int from, int to) {
    for (int i = from; i <= to; i++)
        if (lua_type(L, i) != LUA_TSTRING && lua_type(L, i) != LUA_TNUMBER) return 0;
    return 1;
}

/* Mask the arguments from..to in place when the stream behind `file` is the
 * terminal/CI log (stdout, stderr); files a script writes stay byte-exact.
 * The arguments are joined first (numbers formatted as write formats them),
 * so a secret written in pieces by one call, io.write(a, b), is masked too.
 * Returns the new last argument's index. */
static int mask_args_for(lua_State *L, int file, int from, int to) {
    luaL_Stream *p = luaL_testudata(L, file, LUA_FILEHANDLE);
    if (p == NULL || p->closef == NULL || (p->f != stdout && p->f != stderr)) return to;
    if (to > from && all_writable(L, from, to)) {
        for (int i = from; i <= to; i++) lua_pushvalue(L, i);
        lua_concat(L, to - from + 1);
        lua_replace(L, from);
        for (int i = to; i > from; i--) lua_remove(L, i);
        to = from;
    }
    for (int i = from; i <= to; i++) {
        size_t len;
        const char *s;
        if (lua_type(L, i) != LUA_TSTRING) continue; /* numbers hold no secret */
        s = lua_tolstring(L, i, &len);
        rr_mask_push(L, s, len);
        lua_replace(L, i);
    }
    return to;
}

/* file:write, masked for stdout and stderr; upvalue 1 is liolib's own. */
static int masked_file_write(lua_State *L) {
    mask_args_for(L, 1, 2, lua_gettop(L));
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* io.write, masked when the default output is stdout or stderr ("_IO_output"
 * is where liolib keeps io.output()). upvalue 1 is liolib's own. */
static int masked_io_write(lua_State *L) {
    int top = lua_gettop(L);
    lua_getfield(L, LUA_REGISTRYINDEX, "_IO_output");
    mask_args_for(L, top + 1, 1, top);
    lua_pop(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* [table] field `name` = closure(fn, old field value) */
static void wrap_field(lua_State *L, const char *name, lua_CFunction fn) {
    lua_getfield(L, -1, name);
    lua_pushcclosure(L, fn, 1);
    lua_setfield(L, -2, name);
}

static int host_debug(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, "relrun.debug");
    return 1;
}


/* monotime(): seconds on a monotonic clock, with sub-microsecond resolution
 * (os.time has whole seconds, os.clock is CPU time). */
static int host_monotime(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

/* sleep(seconds): wait, in short slices so Ctrl-C stops it at once. */
static int host_sleep(lua_State *L) {
    double left = luaL_checknumber(L, 1);
    luaL_argcheck(L, left >= 0, 1, "must not be negative");
    while (left > 0) {
        double slice = left < 0.05 ? left : 0.05;
        struct timespec ts = {(time_t)slice, (long)((slice - (double)(time_t)slice) * 1e9)};
        if (rr_interrupted()) return rr_raise_interrupted(L);
        nanosleep(&ts, NULL);
        left -= slice;
    }
    if (rr_interrupted()) return rr_raise_interrupted(L);
    return 0;
}

static int host_interrupted(lua_State *L) {
    lua_pushboolean(L, rr_interrupted());
    return 1;
}

/* shielded(fn, ...) -> fn's results. Ctrl-C does not stop fn (cleanup that
 * must still reach a server after an interruption); it takes effect when fn
 * ends. A second Ctrl-C while fn runs stops it as usual. fn cannot yield. */
static int host_shielded(lua_State *L) {
    int status;
    luaL_checktype(L, 1, LUA_TFUNCTION);
    rr_shield_enter();
    status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
    rr_shield_leave();
    if (status != LUA_OK) return lua_error(L);
    return lua_gettop(L);
}

static int host_is_interruption(lua_State *L) {
    lua_pushboolean(L, rr_is_interruption(L, 1));
    return 1;
}

/* Where an embedded library was loaded from (nil for other modules). */
static int host_source(lua_State *L) {
    luaL_checkstring(L, 1);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, RR_SOURCES_KEY);
    lua_getfield(L, -1, lua_tostring(L, 1));
    return 1;
}

static int host_embedded(lua_State *L) {
    lua_newtable(L);
    for (int i = 0; rr_embedded_modules[i].name != NULL; i++) {
        lua_pushstring(L, rr_embedded_modules[i].chunkname + 1);
        lua_setfield(L, -2, rr_embedded_modules[i].name);
    }
    return 1;
}

/* relrun.host: what the host knows about itself. */
int luaopen_relrun_host(lua_State *L) {
    static const luaL_Reg funcs[] = {
        {"debug", host_debug},
        {"secret", rr_lua_secret},
        {"mask", rr_lua_mask},
        {"interrupted", host_interrupted},
        {"sleep", host_sleep},
        {"monotime", host_monotime},
        {"is_interruption", host_is_interruption},
        {"shielded", host_shielded},
        {"embedded", host_embedded},
        {"source", host_source},
        {NULL, NULL},
    };
    luaL_newlib(L, funcs);
    lua_pushliteral(L, RELRUN_VERSION);
    lua_setfield(L, -2, "version");
    lua_pushliteral(L, LUA_RELEASE);
    lua_setfield(L, -2, "lua_version");
    return 1;
}

static int open_state(lua_State *L) {
    luaL_openlibs(L);
    rr_loader_install(L);
    lua_pushcfunction(L, masked_print);
    lua_setglobal(L, "print");
    lua_getglobal(L, "io");
    wrap_field(L, "write", masked_io_write);
    lua_pop(L, 1);
    luaL_getmetatable(L, LUA_FILEHANDLE);
    lua_getfield(L, -1, "__index");
    wrap_field(L, "write", masked_file_write);
    lua_pop(L, 2);
    lua_getglobal(L, "os");
    lua_pushcfunction(L, rr_os_execute);
    lua_setfield(L, -2, "execute");
    lua_pop(L, 1);
    lua_pushboolean(L, 0);
    lua_setfield(L, LUA_REGISTRYINDEX, "relrun.debug");
    rr_signals_install(L);
    rr_env_secrets_register(L); /* masked before anything can print them */
    return 0;
}

relrun *relrun_new(void) {
    relrun *r = calloc(1, sizeof *r);
    if (r == NULL) return NULL;
    r->L = luaL_newstate();
    if (r->L == NULL) {
        free(r);
        return NULL;
    }
    lua_pushcfunction(r->L, open_state);
    if (lua_pcall(r->L, 0, 0, 0) != LUA_OK) {
        relrun_close(r);
        return NULL;
    }
    return r;
}

void relrun_set_debug(relrun *r, int on) {
    r->debug = on;
    lua_pushboolean(r->L, on);
    lua_setfield(r->L, LUA_REGISTRYINDEX, "relrun.debug");
}

/* require's failures span lines: "module 'x' not found:" lists every file
 * tried, "error loading module 'x' from file 'f':" puts the cause on the
 * next line. Without --debug the user sees one line. */
static const char *one_line(lua_State *L, const char *msg) {
    const char *mod = strstr(msg, "module '");
    const char *name_end = mod ? strstr(mod, "' not found:\n") : NULL;
    if (name_end != NULL) {
        lua_pushlstring(L, msg, (size_t)(name_end - msg) + 1);
        lua_pushliteral(L, " not found in the script's lib/ folder, RELRUN_PATH, package.path or "
                           "relrun's own libraries (check the name; --debug lists the files tried)");
        lua_concat(L, 2);
        return lua_tostring(L, -1);
    }
    if (strstr(msg, "error loading module '") != NULL && strchr(msg, '\n') != NULL)
        return luaL_gsub(L, msg, ":\n\t", ": ");
    return msg;
}

/* error{exit = N} without a message: the script has said what went wrong
 * already and only chooses the exit code. */
static int is_silent_exit(lua_State *L, int idx) {
    int silent;
    if (lua_type(L, idx) != LUA_TTABLE || luaL_getmetafield(L, idx, "__tostring") != LUA_TNIL) {
        if (lua_type(L, idx) == LUA_TTABLE) lua_pop(L, 1);
        return 0;
    }
    silent = lua_getfield(L, idx, "message") == LUA_TNIL;
    silent = lua_getfield(L, idx, "exit") == LUA_TNUMBER && silent;
    lua_pop(L, 2);
    return silent;
}

/* Message handler: the error as one line; in debug mode with the traceback.
 * An error table { message = "...", exit = N } is a script's deliberate
 * failure: its message is printed without position. */
static int message_handler(lua_State *L) {
    const char *msg;
    int is_table = 0;
    if (rr_is_interruption(L, 1)) return 1;
    if (is_silent_exit(L, 1)) return 1;
    if (lua_type(L, 1) == LUA_TTABLE && lua_getfield(L, 1, "message") == LUA_TSTRING) {
        msg = lua_tostring(L, -1);
        is_table = 1;
    } else if ((msg = lua_tostring(L, 1)) == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    lua_getfield(L, LUA_REGISTRYINDEX, "relrun.debug");
    if (lua_toboolean(L, -1)) {
        luaL_traceback(L, L, msg, 1);
        msg = lua_tostring(L, -1);
    } else {
        msg = one_line(L, msg);
    }
    rr_mask_push(L, msg, strlen(msg));
    rr_inert_push(L, lua_tostring(L, -1), lua_rawlen(L, -1));
    if (!is_table) return 1;
    lua_setfield(L, 1, "message"); /* keep `exit` for the host */
    lua_settop(L, 1);
    return 1;
}

/* The exit code an error value asks for: 130 for Ctrl-C, a table's `exit`. */
static int error_status(lua_State *L, int errobj) {
    int code = RELRUN_ERROR;
    if (rr_is_interruption(L, errobj)) return RELRUN_INTERRUPTED;
    if (lua_type(L, errobj) == LUA_TTABLE) {
        if (lua_getfield(L, errobj, "exit") == LUA_TNUMBER) code = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
    }
    return code;
}

/* [chunk] -> run it protected, record the error. */
static int docall(relrun *r, int nargs) {
    lua_State *L = r->L;
    int base = lua_gettop(L) - nargs;
    int status, code;
    lua_pushcfunction(L, message_handler);
    lua_insert(L, base);
    /* keep the raw error object too: the handler replaces it */
    status = lua_pcall(L, nargs, 0, base);
    if (status == LUA_OK) {
        lua_remove(L, base);
        set_error(r, NULL);
        return RELRUN_OK;
    }
    code = rr_interrupted() ? RELRUN_INTERRUPTED : RELRUN_ERROR;
    if (lua_type(L, -1) == LUA_TTABLE) {
        code = error_status(L, lua_gettop(L));
        lua_getfield(L, -1, "message");
        if (code == RELRUN_INTERRUPTED) set_error(r, "interrupted");
        else set_error(r, lua_tostring(L, -1)); /* NULL for a silent exit */
        lua_pop(L, 1);
    } else {
        set_error(r, lua_tostring(L, -1) ? lua_tostring(L, -1) : "(error object is not a string)");
    }
    lua_settop(L, base - 1);
    return code;
}

static void set_arg_table(lua_State *L, int argc, char **argv) {
    lua_createtable(L, argc, 1);
    /* the interpreter's own options (set by main.c) keep their negative
     * indices, as in lua */
    if (lua_getglobal(L, "arg") == LUA_TTABLE) {
        for (lua_Integer i = -1; lua_rawgeti(L, -1, i) != LUA_TNIL; i--) lua_rawseti(L, -3, i);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i);
    }
    lua_setglobal(L, "arg");
}

/* The folder a script lives in ("." for a bare name). */
static void push_script_dir(lua_State *L, const char *path) {
    const char *slash = strrchr(path, '/');
    if (slash == NULL) lua_pushliteral(L, ".");
    else if (slash == path) lua_pushliteral(L, "/");
    else lua_pushlstring(L, path, (size_t)(slash - path));
}

int relrun_run_file(relrun *r, const char *path, int argc, char **argv) {
    lua_State *L = r->L;
    int is_stdin = path == NULL || strcmp(path, "-") == 0;
    int status;
    if (!is_stdin) {
        push_script_dir(L, path);
        rr_loader_set_script_dir(L, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    set_arg_table(L, argc, argv);
    status = luaL_loadfilex(L, is_stdin ? NULL : path, "t");
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        /* "cannot open x.lua" from lauxlib: say what to do */
        if (status == LUA_ERRFILE)
            lua_pushfstring(L, "%s (check the path; run from the folder that holds the script)", msg);
        else if (strstr(msg, "binary chunk") != NULL) /* lua names no file here */
            lua_pushfstring(L, "%s: relrun runs Lua source, not precompiled chunks", path);
        else
            lua_pushvalue(L, -1);
        set_error(r, lua_tostring(L, -1));
        lua_pop(L, 2);
        return RELRUN_ERROR;
    }
    for (int i = 1; i < argc; i++) lua_pushstring(L, argv[i]);
    return docall(r, argc > 0 ? argc - 1 : 0);
}

int relrun_run_string(relrun *r, const char *code, const char *chunkname) {
    lua_State *L = r->L;
    if (luaL_loadbufferx(L, code, strlen(code), chunkname ? chunkname : "=(string)", "t") != LUA_OK) {
        set_error(r, lua_tostring(L, -1));
        lua_pop(L, 1);
        return RELRUN_ERROR;
    }
    return docall(r, 0);
}

const char *relrun_error(const relrun *r) { return r->error; }

lua_State *relrun_lua(relrun *r) { return r->L; }

void relrun_close(relrun *r) {
    if (r == NULL) return;
    rr_signals_restore(r->L);
    if (r->L != NULL) lua_close(r->L);
    free(r->error);
    free(r);
}
