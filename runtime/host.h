/* Internal to the host: the tables the build generates and the host's own module. */
#ifndef HOST_H
#define HOST_H

#include <lua.h>
#include <stddef.h>

typedef struct {
    const char *name;        /* "relrun.hash" */
    lua_CFunction open;      /* linked in; or NULL and: */
    const char *module;      /* "relrun_http": relrun-modules/relrun_http.so, opened on first require */
    const char *deferred;    /* "libgit2.so.1.5 libcrypto.so.3": libraries the module loads itself on
                                first need (bindings/git/libs.c), or NULL/"" */
} rr_cmodule;

/* What an embedded file is (tools/embed.c). */
enum {
    RR_EMBED_LIB = 1,   /* scripts/lib/...: a library a project may override */
    RR_EMBED_HOST,      /* runtime/lua/relrun/...: the host's own Lua, never overridden */
    RR_EMBED_SCRIPT,    /* scripts/NAME.lua: run by name (`relrun release`) */
    RR_EMBED_COMMAND,   /* runtime/lua/commands/NAME.lua: `relrun lock`, `relrun vendor` */
    RR_EMBED_FILE       /* scripts/templates/...: data */
};

typedef struct {
    int kind;                /* RR_EMBED_* */
    const char *name;        /* "relrun.aws.s3", "release", "templates/release.yml" */
    const char *chunkname;   /* "@scripts/lib/relrun/aws/s3.lua" */
    const unsigned char *source;  /* the file as written: vendoring, relrun.lock, diffs */
    size_t size;
    const unsigned char *code;    /* Lua: the chunk precompiled at build time, with its debug
                                     information (tracebacks keep names and lines); else NULL */
    size_t code_size;
} rr_embedded;

/* Load an embedded Lua file as a chunk: its precompiled code (built by
 * tools/embed.c with this very Lua) rather than compiling the source on
 * every run. Pushes the function, or the error message; a lua_load status. */
int rr_load_embedded(lua_State *L, const rr_embedded *e);

extern const rr_cmodule rr_cmodules[];      /* generated from bindings/NAME.c */
extern const rr_embedded rr_embedded_modules[];  /* generated from scripts/ and runtime/lua */

/* Install the preloads and the override search path (loader.c). */
void rr_loader_install(lua_State *L);
/* Set the folders searched before the embedded copies: `script_dir`/lib
 * (may be NULL), then RELRUN_PATH. */
void rr_loader_set_script_dir(lua_State *L, const char *script_dir);
/* [] -> [the override path rr_loader_set_script_dir would set]
 * ("DIR/lib/?.lua;DIR/lib/?/init.lua;" then each RELRUN_PATH folder's). */
void rr_loader_push_override_path(lua_State *L, const char *script_dir);
/* Load Lua modules from the override folders and the binary only: no
 * package.path defaults (./?.lua, /usr/share/lua), no C modules from
 * package.cpath (relrun --locked). */
void rr_loader_restrict(lua_State *L);

/* Signals (signal.c). */
void rr_signals_install(lua_State *L);
void rr_signals_restore(lua_State *L);
int rr_is_interruption(lua_State *L, int idx);
/* Hold Ctrl-C back (bracket cleanup code); a second Ctrl-C breaks through. */
void rr_shield_enter(void);
void rr_shield_leave(void);
/* os.execute that Ctrl-C stops (exit 130), unlike system(). */
int rr_os_execute(lua_State *L);

/* Registry table: module name -> the file it was loaded from. */
#define RR_SOURCES_KEY "relrun.sources"

int luaopen_relrun_host(lua_State *L);

#endif
