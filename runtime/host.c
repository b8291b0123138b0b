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
#include <unistd.h>

struct relrun {
    lua_State *L;
    int debug;
    int locked;   /* verify relrun.lock before running a script */
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
        int kind = rr_embedded_modules[i].kind;
        if (kind != RR_EMBED_LIB && kind != RR_EMBED_HOST) continue;
        lua_pushstring(L, rr_embedded_modules[i].chunkname + 1);
        lua_setfield(L, -2, rr_embedded_modules[i].name);
    }
    return 1;
}

static const char *kind_name(int kind) {
    switch (kind) {
    case RR_EMBED_LIB: return "lib";
    case RR_EMBED_HOST: return "host";
    case RR_EMBED_SCRIPT: return "script";
    case RR_EMBED_COMMAND: return "command";
    default: return "file";
    }
}

/* builtin_files() -> { {kind=, name=, path=}, ... }: every file compiled
 * into relrun, in build order. */
static int host_builtin_files(lua_State *L) {
    lua_newtable(L);
    for (int i = 0; rr_embedded_modules[i].name != NULL; i++) {
        const rr_embedded *e = &rr_embedded_modules[i];
        lua_createtable(L, 0, 3);
        lua_pushstring(L, kind_name(e->kind));
        lua_setfield(L, -2, "kind");
        lua_pushstring(L, e->name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, e->chunkname + 1);
        lua_setfield(L, -2, "path");
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* override_path(dir|nil) -> the package.path-style folders searched before
 * the built-in libraries when a script's lib/ folder is dir/lib. */
static int host_override_path(lua_State *L) {
    rr_loader_push_override_path(L, luaL_optstring(L, 1, NULL));
    return 1;
}

/* builtin_text(path) -> the bytes of the built-in file at `path`
 * ("scripts/release.lua"), or nil. */
static int host_builtin_text(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    for (int i = 0; rr_embedded_modules[i].name != NULL; i++) {
        const rr_embedded *e = &rr_embedded_modules[i];
        if (strcmp(e->chunkname + 1, path) == 0) {
            lua_pushlstring(L, (const char *)e->source, e->size);
            return 1;
        }
    }
    lua_pushnil(L);
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
        {"builtin_files", host_builtin_files},
        {"builtin_text", host_builtin_text},
        {"override_path", host_override_path},
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
    if (lua_type(L, 1) == LUA_TTABLE && luaL_getmetafield(L, 1, "__tostring") != LUA_TNIL) {
        /* relrun.errors: "message; hint", from the type's own __tostring */
        lua_pop(L, 1);
        msg = luaL_tolstring(L, 1, NULL);
        is_table = 1;
    } else if (lua_type(L, 1) == LUA_TTABLE && lua_getfield(L, 1, "message") == LUA_TSTRING) {
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

/* The exit status a main chunk returned, at `idx`: an integer 0..255, true
 * (0) or false (1); nothing, nil or any other value is 0. Returns -1 (and
 * sets the error) for an integer out of range. */
static int returned_status(relrun *r, int idx) {
    lua_State *L = r->L;
    lua_Integer code;
    int isint;
    if (lua_type(L, idx) == LUA_TBOOLEAN) return lua_toboolean(L, idx) ? RELRUN_OK : RELRUN_ERROR;
    if (lua_type(L, idx) != LUA_TNUMBER) return RELRUN_OK;
    code = lua_tointegerx(L, idx, &isint);
    if (!isint || code < 0 || code > 255) {
        lua_pushfstring(L, "the script returned %s: an exit code is an integer from 0 to 255 (or true/false)",
                        luaL_tolstring(L, idx, NULL));
        set_error(r, lua_tostring(L, -1));
        lua_pop(L, 2);
        return -1;
    }
    return (int)code;
}

/* [f, args...] -> [results...]: call f protected; RELRUN_OK and its
 * `nresults` results on the stack, or the failure's status with the stack
 * back below f and the error recorded. */
static int protected_call(relrun *r, int nargs, int nresults) {
    lua_State *L = r->L;
    int base = lua_gettop(L) - nargs;
    int status, code;
    lua_pushcfunction(L, message_handler);
    lua_insert(L, base);
    /* keep the raw error object too: the handler replaces it */
    status = lua_pcall(L, nargs, nresults, base);
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

/* [chunk, args...] -> run it protected, record the error. With
 * `want_status`, the chunk's first result is its exit status (a main chunk
 * that ends with `return 3`); otherwise results are dropped. */
static int docall(relrun *r, int nargs, int want_status) {
    lua_State *L = r->L;
    int base = lua_gettop(L) - nargs;
    int code = protected_call(r, nargs, want_status ? 1 : 0);
    if (code != RELRUN_OK) return code;
    code = want_status ? returned_status(r, lua_gettop(L)) : RELRUN_OK;
    lua_settop(L, base - 1);
    return code < 0 ? RELRUN_ERROR : code;
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

/* [chunk] -> [chunk, argv[1], ..., argv[argc-1]]: every argument the OS
 * passed (lua.c's pushargs checks the stack the same way; the OS's limit,
 * ARG_MAX, stays far below Lua's million stack slots). */
static int push_script_args(relrun *r, int argc, char **argv) {
    lua_State *L = r->L;
    if (argc > 1 && !lua_checkstack(L, argc)) {
        lua_pushfstring(L, "too many arguments for a script (%d): Lua takes at most about a million", argc - 1);
        set_error(r, lua_tostring(L, -1));
        lua_pop(L, 2);
        return 0;
    }
    for (int i = 1; i < argc; i++) lua_pushstring(L, argv[i]);
    return 1;
}

/* [] -> [the host library `name`]: loaded once per state, straight from
 * package.preload (the host's own Lua is never overridden). */
static void require_host_module(lua_State *L, const char *name) {
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    if (lua_getfield(L, -1, name) != LUA_TNIL) {
        lua_remove(L, -2);
        return;
    }
    lua_pop(L, 1);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_getfield(L, -1, name);
    lua_remove(L, -2);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name);
    lua_remove(L, -2);
}

/* [name|nil, path|nil, locked] -> [plan]: relrun.launch.prepare, which
 * finds the script, verifies relrun.lock and says which files override
 * built-in ones, before any of the script's code runs. */
static int launch_prepare(lua_State *L) {
    lua_settop(L, 3);
    lua_createtable(L, 0, 3);
    lua_insert(L, 1);
    lua_setfield(L, 1, "locked");
    lua_setfield(L, 1, "path");
    lua_setfield(L, 1, "name");
    require_host_module(L, "relrun.launch");
    lua_getfield(L, -1, "prepare");
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    luaL_checktype(L, -1, LUA_TTABLE);
    return 1;
}

/* The field `key` of the table on top as a C string (NULL if absent); it
 * stays valid while the table is on the stack. */
static const char *plan_string(lua_State *L, const char *key) {
    const char *s;
    lua_getfield(L, -1, key);
    s = lua_tostring(L, -1);
    lua_pop(L, 1);
    return s;
}

/* [plan] -> [plan, chunk]: the script the plan names, loaded; or an error
 * status with the error recorded. */
static int load_planned(relrun *r) {
    lua_State *L = r->L;
    const char *file = plan_string(L, "file");
    const char *builtin = plan_string(L, "builtin");
    int status;
    if (builtin != NULL) {
        const rr_embedded *e = NULL;
        for (int i = 0; e == NULL && rr_embedded_modules[i].name != NULL; i++)
            if (strcmp(rr_embedded_modules[i].chunkname + 1, builtin) == 0) e = &rr_embedded_modules[i];
        if (e == NULL) { /* relrun.launch named a file the build did not embed */
            set_error(r, "relrun.launch planned a built-in script that is not in this relrun");
            return RELRUN_ERROR;
        }
        status = rr_load_embedded(L, e);
    } else {
        status = luaL_loadfilex(L, file, "t");
    }
    if (status == LUA_OK) return RELRUN_OK;
    {
        const char *msg = lua_tostring(L, -1);
        /* "cannot open x.lua" from lauxlib: say what to do */
        if (status == LUA_ERRFILE)
            lua_pushfstring(L, "%s (check the path; run from the folder that holds the script)", msg);
        else if (strstr(msg, "binary chunk") != NULL) /* lua names no file here */
            lua_pushfstring(L, "%s: relrun runs Lua source, not precompiled chunks", file);
        else
            lua_pushvalue(L, -1);
        set_error(r, lua_tostring(L, -1));
        lua_pop(L, 2);
    }
    return RELRUN_ERROR;
}

/* Whether a script at `path` can load anything from outside the binary or
 * be checked: its lib/ folder exists, RELRUN_PATH is set, or --locked. A
 * plain script with none of these skips relrun.launch (start-up). */
static int needs_launch(relrun *r, const char *path) {
    const char *env = getenv("RELRUN_PATH");
    int has_lib;
    if (r->locked || (env != NULL && *env)) return 1;
    push_script_dir(r->L, path);
    lua_pushliteral(r->L, "/lib");
    lua_concat(r->L, 2);
    has_lib = access(lua_tostring(r->L, -1), F_OK) == 0;
    lua_pop(r->L, 1);
    return has_lib;
}

/* [] -> [plan]: what relrun.launch decided, or (a plain file) the same
 * shape made here: { file = path, lib_dir = its folder }. */
static int make_plan(relrun *r, const char *name, const char *path) {
    lua_State *L = r->L;
    if (name != NULL || needs_launch(r, path)) {
        lua_pushcfunction(L, launch_prepare);
        if (name) lua_pushstring(L, name);
        else lua_pushnil(L);
        if (path) lua_pushstring(L, path);
        else lua_pushnil(L);
        lua_pushboolean(L, r->locked);
        return protected_call(r, 3, 1);
    }
    lua_createtable(L, 0, 2);
    lua_pushstring(L, path);
    lua_setfield(L, -2, "file");
    push_script_dir(L, path);
    lua_setfield(L, -2, "lib_dir");
    return RELRUN_OK;
}

/* Run a script by name or by path, as the plan says. */
static int run_script(relrun *r, const char *name, const char *path, int argc, char **argv) {
    lua_State *L = r->L;
    int status = make_plan(r, name, path);
    if (status != RELRUN_OK) return status;
    rr_loader_set_script_dir(L, plan_string(L, "lib_dir"));
    lua_getfield(L, -1, "restrict");
    if (lua_toboolean(L, -1)) rr_loader_restrict(L);
    lua_pop(L, 1);
    set_arg_table(L, argc, argv);
    status = load_planned(r);
    if (status != RELRUN_OK) {
        lua_pop(L, 1); /* the plan */
        return status;
    }
    lua_remove(L, -2); /* the plan, under the chunk */
    if (!push_script_args(r, argc, argv)) return RELRUN_ERROR;
    return docall(r, argc > 0 ? argc - 1 : 0, 1);
}

int relrun_run_file(relrun *r, const char *path, int argc, char **argv) {
    lua_State *L = r->L;
    int status;
    if (path != NULL && strcmp(path, "-") != 0) return run_script(r, NULL, path, argc, argv);
    if (r->locked) {
        set_error(r, "--locked runs a script by name or by path: standard input cannot be checked against "
                     "relrun.lock");
        return RELRUN_ERROR;
    }
    set_arg_table(L, argc, argv);
    status = luaL_loadfilex(L, NULL, "t");
    if (status != LUA_OK) {
        set_error(r, lua_tostring(L, -1));
        lua_pop(L, 1);
        return RELRUN_ERROR;
    }
    if (!push_script_args(r, argc, argv)) return RELRUN_ERROR;
    return docall(r, argc > 0 ? argc - 1 : 0, 1);
}

int relrun_run_script(relrun *r, const char *name, int argc, char **argv) {
    return run_script(r, name, NULL, argc, argv);
}

void relrun_set_locked(relrun *r, int on) { r->locked = on; }

int relrun_run_string(relrun *r, const char *code, const char *chunkname) {
    lua_State *L = r->L;
    if (luaL_loadbufferx(L, code, strlen(code), chunkname ? chunkname : "=(string)", "t") != LUA_OK) {
        set_error(r, lua_tostring(L, -1));
        lua_pop(L, 1);
        return RELRUN_ERROR;
    }
    return docall(r, 0, 0);
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
