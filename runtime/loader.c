/*
 * Module loading. C bindings and the embedded Lua libraries are registered in
 * package.preload. An embedded library's loader first looks for a file of the
 * same module name on the override path (the running script's lib/ folder,
 * then each folder of RELRUN_PATH) and loads that instead, so a team edits one
 * module without rebuilding. relrun.host.source(name) tells which file a
 * module came from: a path for an override, the embedded chunk name otherwise.
 */
#include "host.h"
#include "rr.h"

#include <dlfcn.h>
#include <stdio.h>
#include <limits.h>
#include <lualib.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#define OVERRIDE_PATH_KEY "relrun.override_path"
#define RESTRICTED_KEY "relrun.restricted" /* rr_loader_restrict was called */

/* [] -> [override path string or nil] */
static void push_override_path(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, OVERRIDE_PATH_KEY);
}

int rr_load_embedded(lua_State *L, const rr_embedded *e) {
    if (e->code != NULL) return luaL_loadbufferx(L, (const char *)e->code, e->code_size, e->chunkname, "b");
    return luaL_loadbufferx(L, (const char *)e->source, e->size, e->chunkname, "t");
}

/* upvalue 1: index into rr_embedded_modules. A library of the host itself
 * (RR_EMBED_HOST: the lock verifier, the vendoring) is never looked up on
 * the override path: a project's file must not replace what checks it. */
static int load_embedded(lua_State *L) {
    const rr_embedded *m = &rr_embedded_modules[lua_tointeger(L, lua_upvalueindex(1))];
    const char *name = luaL_checkstring(L, 1);
    const char *found = NULL;
    const char *source = m->chunkname;
    int status;

    push_override_path(L);
    if (m->kind == RR_EMBED_LIB && lua_isstring(L, -1)) {
        lua_getglobal(L, "package");
        lua_getfield(L, -1, "searchpath");
        lua_pushstring(L, name);
        lua_pushvalue(L, -4);
        lua_call(L, 2, 1);
        found = lua_tostring(L, -1); /* anchored on the stack until return */
    }
    if (found != NULL) {
        status = luaL_loadfilex(L, found, "t");
        source = found;
    } else {
        status = rr_load_embedded(L, m);
    }
    if (status != LUA_OK)
        return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name,
                          source[0] == '@' ? source + 1 : source, lua_tostring(L, -1));
    lua_pushstring(L, name);
    lua_pushstring(L, source[0] == '@' ? source + 1 : source);
    lua_call(L, 2, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    luaL_getsubtable(L, LUA_REGISTRYINDEX, RR_SOURCES_KEY);
    lua_pushstring(L, source[0] == '@' ? source + 1 : source);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
    return 1;
}

/* Where the build put the loadable modules, relative to the program's
 * folder: relrun-modules/ beside it in a build tree, RELRUN_MODULE_RELDIR
 * (../lib/relrun/modules, set by CMakeLists.txt from the install layout)
 * in an installed tree. Relative, so a moved prefix still works. */
#ifndef RELRUN_MODULE_RELDIR
#define RELRUN_MODULE_RELDIR "../lib/relrun/modules"
#endif

/* The folder of the running program into `out` ("." if unknown). */
static void program_dir(char *out, size_t size) {
    ssize_t n = readlink("/proc/self/exe", out, size - 1);
    char *slash;
    if (n <= 0 || (out[n] = '\0', slash = strrchr(out, '/')) == NULL) {
        snprintf(out, size, ".");
        return;
    }
    *slash = '\0';
}

/* [] -> [path of `file`.so to load] and 1; or [the folders looked in] and 0.
 * RELRUN_MODULE_DIR alone when set; else the first of the build's and the
 * installation's folders that holds the file. */
static int find_module_file(lua_State *L, const char *file) {
    const char *env = getenv("RELRUN_MODULE_DIR");
    char dir[PATH_MAX], path[PATH_MAX + 64];
    const char *const subdirs[] = {"relrun-modules", RELRUN_MODULE_RELDIR};
    if (env != NULL && *env) {
        lua_pushfstring(L, "%s/%s.so", env, file);
        return 1;
    }
    program_dir(dir, sizeof dir);
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s/%s.so", dir, subdirs[i], file);
        if (access(path, F_OK) == 0) {
            lua_pushstring(L, path);
            return 1;
        }
    }
    lua_pushfstring(L, "%s/%s nor %s/%s", dir, subdirs[0], dir, subdirs[1]);
    return 0;
}

/* A module that loads some of its libraries on first need cannot be opened
 * when the dynamic loader binds every symbol at once (LD_BIND_NOW set in
 * the environment): those libraries are loaded first then. 1 if `deferred`
 * (space-separated sonames) named any and all loaded. */
static int load_deferred(const char *deferred) {
    char soname[256];
    int any = 0;
    while (deferred != NULL && *deferred) {
        size_t n = strcspn(deferred, " ");
        if (n > 0 && n < sizeof soname) {
            memcpy(soname, deferred, n);
            soname[n] = '\0';
            if (dlopen(soname, RTLD_LAZY | RTLD_GLOBAL) == NULL) return 0;
            any = 1;
        }
        deferred += n + (deferred[n] == ' ');
    }
    return any;
}

/* upvalue 1: the module file's name ("relrun_http"); upvalue 2: the
 * libraries it loads on first need ("" for none). [name] -> [module]
 * The library stays loaded until the process ends (dlopen keeps one copy
 * for every state): libcurl and libgit2 keep process-wide state that
 * unloading would strand. Symbols are bound lazily: libgit2 and libarchive
 * pull in a dozen libraries (Kerberos, ICU, libstdc++) whose functions a
 * run mostly never calls, and binding them all at load cost ~2 ms a run; a
 * missing library still fails here, at load. */
static int load_module_file(lua_State *L) {
    const char *file = lua_tostring(L, lua_upvalueindex(1));
    const char *name = luaL_checkstring(L, 1);
    const char *path, *dot = strrchr(name, '.');
    lua_CFunction open;
    void *h;
    if (!find_module_file(L, file))
        return luaL_error(L, "cannot load %s: %s.so is in neither %s, where this relrun keeps its modules "
                          "(the installation is incomplete: reinstall relrun; a copied program needs that "
                          "folder too, or RELRUN_MODULE_DIR naming it)", name, file, lua_tostring(L, -1));
    path = lua_tostring(L, -1);
    h = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
    if (h == NULL && load_deferred(lua_tostring(L, lua_upvalueindex(2)))) h = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
    if (h == NULL && access(path, F_OK) != 0)
        return luaL_error(L, "cannot load %s: %s does not exist (RELRUN_MODULE_DIR names a folder without "
                          "relrun's modules: unset it or point it at one)", name, path);
    if (h == NULL)
        return luaL_error(L, "cannot load %s from %s: %s (install the library it names; relrun's package "
                          "depends on it)", name, path, dlerror());
    lua_pushfstring(L, "luaopen_relrun_%s", dot ? dot + 1 : name);
    *(void **)(&open) = dlsym(h, lua_tostring(L, -1));
    if (open == NULL) return luaL_error(L, "%s has no %s", path, lua_tostring(L, -1));
    lua_pushcfunction(L, open);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    return 1;
}

void rr_loader_install(lua_State *L) {
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    for (const rr_cmodule *c = rr_cmodules; c->name != NULL; c++) {
        if (c->open != NULL) {
            lua_pushcfunction(L, c->open);
        } else {
            lua_pushstring(L, c->module);
            lua_pushstring(L, c->deferred != NULL ? c->deferred : "");
            lua_pushcclosure(L, load_module_file, 2);
        }
        lua_setfield(L, -2, c->name);
    }
    lua_pushcfunction(L, luaopen_relrun_host);
    lua_setfield(L, -2, "relrun.host");
    for (lua_Integer i = 0; rr_embedded_modules[i].name != NULL; i++) {
        int kind = rr_embedded_modules[i].kind;
        if (kind != RR_EMBED_LIB && kind != RR_EMBED_HOST) continue;
        lua_pushinteger(L, i);
        lua_pushcclosure(L, load_embedded, 1);
        lua_setfield(L, -2, rr_embedded_modules[i].name);
    }
    lua_pop(L, 1);
    rr_loader_set_script_dir(L, NULL);
}

static void add_dir(luaL_Buffer *b, const char *dir, size_t len) {
    if (len == 0) return;
    luaL_addlstring(b, dir, len);
    luaL_addstring(b, "/?.lua;");
    luaL_addlstring(b, dir, len);
    luaL_addstring(b, "/?/init.lua;");
}

void rr_loader_push_override_path(lua_State *L, const char *script_dir) {
    const char *env = getenv("RELRUN_PATH");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (script_dir != NULL) {
        luaL_addstring(&b, script_dir);
        luaL_addstring(&b, "/lib/?.lua;");
        luaL_addstring(&b, script_dir);
        luaL_addstring(&b, "/lib/?/init.lua;");
    }
    while (env != NULL && *env) {
        const char *colon = strchr(env, ':');
        size_t len = colon ? (size_t)(colon - env) : strlen(env);
        add_dir(&b, env, len);
        env = colon ? colon + 1 : NULL;
    }
    luaL_pushresult(&b);
}

void rr_loader_set_script_dir(lua_State *L, const char *script_dir) {
    int restricted;
    rr_loader_push_override_path(L, script_dir);
    lua_setfield(L, LUA_REGISTRYINDEX, OVERRIDE_PATH_KEY);

    /* Modules that are not embedded (a team's own) are found the usual way,
     * unless rr_loader_restrict allows the override folders alone. */
    lua_getfield(L, LUA_REGISTRYINDEX, RESTRICTED_KEY);
    restricted = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getglobal(L, "package");
    if (restricted && lua_istable(L, -1)) {
        lua_getfield(L, LUA_REGISTRYINDEX, OVERRIDE_PATH_KEY);
        lua_setfield(L, -2, "path");
    } else if (lua_istable(L, -1)) {
        lua_getfield(L, LUA_REGISTRYINDEX, OVERRIDE_PATH_KEY);
        lua_getfield(L, -2, "path");
        lua_getfield(L, LUA_REGISTRYINDEX, "relrun.default_path");
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_pushvalue(L, -1);
            lua_setfield(L, LUA_REGISTRYINDEX, "relrun.default_path");
        } else {
            lua_remove(L, -2);
        }
        lua_concat(L, 2);
        lua_setfield(L, -2, "path");
    }
    lua_pop(L, 1);
}

void rr_loader_restrict(lua_State *L) {
    lua_getglobal(L, "package");
    lua_getfield(L, LUA_REGISTRYINDEX, OVERRIDE_PATH_KEY);
    lua_setfield(L, -2, "path");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "cpath");
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, RESTRICTED_KEY);
}
