/*
 * relrun embedding API.
 *
 * A relrun state is a Lua 5.4 state with every relrun module preloaded
 * (the C primitives and the Lua libraries compiled into the binary).
 * The functions return RELRUN_OK or RELRUN_ERROR; after an error,
 * relrun_error() gives the message, with secrets masked.
 */
#ifndef RELRUN_H
#define RELRUN_H

#include <lua.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RELRUN_VERSION "0.1.0"

enum { RELRUN_OK = 0, RELRUN_ERROR = 1, RELRUN_USAGE = 2, RELRUN_INTERRUPTED = 130 };

typedef struct relrun relrun;

/* A new state, or NULL when memory is exhausted. */
relrun *relrun_new(void);

/* Run a Lua file with arguments (argv[0] is the script name, as in lua's
 * `arg` table); "-" reads standard input. */
int relrun_run_file(relrun *r, const char *path, int argc, char **argv);

/* Run a chunk of Lua code; chunkname names it in messages ("=(command line)"). */
int relrun_run_string(relrun *r, const char *code, const char *chunkname);

/* The message of the last failure, or NULL. Valid until the next call. */
const char *relrun_error(const relrun *r);

/* Whether failures carry a traceback. */
void relrun_set_debug(relrun *r, int on);

/* The Lua state, for hosts that add their own functions. */
lua_State *relrun_lua(relrun *r);

/* Release everything. Safe on NULL. */
void relrun_close(relrun *r);

#ifdef __cplusplus
}
#endif
#endif
