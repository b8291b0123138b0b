/* Internal to the host: the tables the build generates and the host's own module. */
#ifndef HOST_H
#define HOST_H

#include <lua.h>
#include <stddef.h>

typedef struct {
    const char *name;        /* "relrun.hash" */
    lua_CFunction open;      /* linked in; or NULL and: */
    const char *module;      /* "relrun_http": relrun-modules/relrun_http.so, opened on first require */
} rr_cmodule;

typedef struct {
    const char *name;        /* "relrun.aws.s3" */
    const char *chunkname;   /* "@scripts/lib/relrun/aws/s3.lua" */
    const unsigned char *source;
    size_t size;
} rr_embedded;

extern const rr_cmodule rr_cmodules[];      /* generated from bindings/NAME.c */
extern const rr_embedded rr_embedded_modules[];  /* generated from scripts/lib */

/* Install the preloads and the override search path (loader.c). */
void rr_loader_install(lua_State *L);
/* Set the folders searched before the embedded copies: `script_dir`/lib
 * (may be NULL), then RELRUN_PATH. */
void rr_loader_set_script_dir(lua_State *L, const char *script_dir);

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
