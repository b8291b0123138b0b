/*
 * Ctrl-C. As in lua.c, the handler only sets a hook so the interpreter stops
 * at the next instruction; bindings blocked in a library poll rr_interrupted()
 * from their callbacks. The error object is a unique table so the host can
 * tell an interruption (exit 130) from a failure, and a script's cleanup code
 * (the step journal) still runs through pcall/close handlers.
 */
#include "host.h"
#include "rr.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define INTERRUPTED_KEY "relrun.interrupted"

static volatile sig_atomic_t interrupted = 0;
/* Cleanup code that must reach a server after Ctrl-C (aborting an S3
 * multipart upload, say) runs shielded: the interruption waits until it
 * ends, unless Ctrl-C is pressed again meanwhile (`forced`). */
static volatile sig_atomic_t shield_depth = 0, forced = 0;
static lua_State *global_L = NULL;
static struct sigaction previous;
static int installed = 0; /* live states that installed the handler */

int rr_interrupted(void) { return interrupted != 0 && (shield_depth == 0 || forced); }

int rr_raise_interrupted(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, INTERRUPTED_KEY);
    return lua_error(L);
}

int rr_is_interruption(lua_State *L, int idx) {
    int same;
    idx = lua_absindex(L, idx);
    lua_getfield(L, LUA_REGISTRYINDEX, INTERRUPTED_KEY);
    same = lua_rawequal(L, idx, -1);
    lua_pop(L, 1);
    return same;
}

static void stop_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    rr_raise_interrupted(L);
}

static void stop_soon(void) {
    int flag = LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT;
    if (global_L != NULL) lua_sethook(global_L, stop_hook, flag, 1);
}

static void on_sigint(int sig) {
    (void)sig;
    if (interrupted && shield_depth > 0) forced = 1;
    interrupted = 1;
    if (shield_depth == 0 || forced) stop_soon();
}

void rr_shield_enter(void) { shield_depth++; }

/* A Ctrl-C that came while shielded stops the script now. */
void rr_shield_leave(void) {
    if (--shield_depth > 0) return;
    forced = 0;
    if (interrupted) stop_soon();
}

static int interrupted_tostring(lua_State *L) {
    lua_pushliteral(L, "interrupted");
    return 1;
}

void rr_signals_install(lua_State *L) {
    struct sigaction sa;
    lua_newtable(L);
    lua_newtable(L);
    lua_pushcfunction(L, interrupted_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, INTERRUPTED_KEY);

    /* With several states (an embedding host), Ctrl-C stops the newest;
     * the handler the process had before is put back when the last closes. */
    global_L = L;
    if (installed++ > 0) return;
    interrupted = 0;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &previous);
}

void rr_signals_restore(lua_State *L) {
    int mine = lua_getfield(L, LUA_REGISTRYINDEX, INTERRUPTED_KEY) != LUA_TNIL;
    lua_pop(L, 1);
    if (!mine || installed == 0) return; /* the state failed before installing */
    if (global_L == L) global_L = NULL;
    if (--installed == 0) sigaction(SIGINT, &previous, NULL);
}

/* Start `sh -c cmd` with SIGINT and SIGQUIT at their defaults; 0 or an errno. */
static int spawn_shell(const char *cmd, pid_t *pid) {
    char *argv[] = {"sh", "-c", (char *)cmd, NULL};
    posix_spawnattr_t attr;
    sigset_t dflt;
    int err;
    if ((err = posix_spawnattr_init(&attr)) != 0) return err;
    sigemptyset(&dflt);
    sigaddset(&dflt, SIGINT);
    sigaddset(&dflt, SIGQUIT);
    posix_spawnattr_setsigdefault(&attr, &dflt);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
    {
        /* the shell gets what relrun.proc gives a child: no credentials */
        char **env = rr_env_scrubbed_environ();
        err = env == NULL ? ENOMEM : posix_spawn(pid, "/bin/sh", NULL, &attr, argv, env);
        free(env);
    }
    posix_spawnattr_destroy(&attr);
    return err;
}

/* os.execute([cmd]) with lua's results, but Ctrl-C stops the script.
 * system() ignores SIGINT in the parent while the child runs, so after a
 * Ctrl-C the script would carry on with the next command (lua.c has the same
 * gap). Here relrun keeps its handler; a SIGINT sent to relrun alone
 * (kill -INT, a CI runner cancelling) is passed on to the child; once the
 * child is gone the interruption is raised (the host exits 130). */
int rr_os_execute(lua_State *L) {
    const char *cmd = luaL_optstring(L, 1, NULL);
    pid_t pid;
    int status, err, forwarded = 0;
    if (cmd == NULL) {
        lua_pushboolean(L, access("/bin/sh", X_OK) == 0);
        return 1;
    }
    fflush(NULL); /* the child's output comes after ours */
    if ((err = spawn_shell(cmd, &pid)) != 0) {
        errno = err;
        return luaL_fileresult(L, 0, cmd);
    }
    for (;;) {
        if (interrupted && !forwarded) {
            kill(pid, SIGINT);
            forwarded = 1;
        }
        if (waitpid(pid, &status, 0) == pid) break;
        if (errno != EINTR) return luaL_fileresult(L, 0, cmd);
    }
    if (interrupted) return rr_raise_interrupted(L);
    errno = 0; /* luaL_execresult reads errno */
    return luaL_execresult(L, status);
}
