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
 * `arg` table); "-" reads standard input.
 *
 * The script's main chunk chooses the exit status by what it returns: an
 * integer 0..255, true (0) or false (1); nothing (or any other value) is 0.
 * The function returns that status, with relrun_error() NULL; a script
 * error returns RELRUN_ERROR (or the `exit` of an error table) with
 * relrun_error() set. A script never needs os.exit, which would end the
 * embedding program too. */
int relrun_run_file(relrun *r, const char *path, int argc, char **argv);

/* Run a script by name ("release" for scripts/release.lua): the project's
 * own copy (.relrun-scripts/NAME.lua at the root of the repository holding
 * the current folder) when there is one, else the copy built into relrun.
 * Arguments and status as relrun_run_file. */
int relrun_run_script(relrun *r, const char *name, int argc, char **argv);

/* With `on`, relrun_run_file and relrun_run_script first check relrun.lock
 * (relrun's version, the sha256 of every Lua file the run may load from
 * outside the binary) and refuse, before any of the script's code runs,
 * when it does not match. */
void relrun_set_locked(relrun *r, int on);

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
