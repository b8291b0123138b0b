/*
 * relrun.proc: run programs with an argv (never a shell), an environment,
 * a folder, stdin from a string, stdout/stderr captured, streamed by line
 * to a Lua function, inherited, discarded or sent to a file; a timeout; and
 * Ctrl-C that stops the child too.
 *
 * run{} and spawn{} share one handle type (relrun.proc.process): run spawns,
 * waits with the timeout's kill policy and closes. Everything the child
 * holds (pid, pipe fds, output buffers) lives in the handle, so an error
 * that unwinds past us (out of memory, an interruption) still leaves no
 * zombie, no fd and no memory behind once the handle is collected.
 *
 * The wait is one poll(2) loop over the stdin pipe, the stdout and stderr
 * pipes and a pidfd of the child: stdin is written only as fast as the
 * child reads while both outputs are drained, so no pipe fills up and
 * nothing deadlocks, whatever the sizes.
 */
#include "rr.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define PROCESS_T "relrun.proc.process"
#define CHUNK (64 * 1024)
#define KILL_GRACE 2.0          /* seconds between SIGTERM and SIGKILL */
#define TICK_MS 200             /* longest poll, so a missed Ctrl-C is seen */

/* user values of a process handle */
enum { UV_OUT_CB = 1, UV_ERR_CB, UV_STDIN, UV_RESULT, UV_COUNT = UV_RESULT };

/* How a stream is connected. M_FORWARD ("inherit") pipes the child's output
 * through relrun's own stdout/stderr with registered secrets masked;
 * M_DIRECT hands the child our fd itself (a terminal stays a terminal, but
 * nothing can be masked). M_INHERIT is stdin's "not given". */
enum { M_INHERIT, M_NULL, M_CAPTURE, M_LINES, M_FILE, M_FORWARD, M_DIRECT };

typedef struct {
    int fd;          /* parent's read end, -1 when closed */
    int child_fd;    /* child's write end until the spawn, then -1 */
    int mode;
    rr_buf buf;      /* captured bytes, or the unfinished line */
    FILE *to;        /* M_FORWARD: relrun's stdout or stderr */
} stream;

typedef struct {
    pid_t pid;       /* 0 before the spawn */
    int pidfd;       /* readable once the child exits; -1 if unavailable */
    int reaped, status;
    int lost;        /* reaped by someone else (SIGCHLD ignored): no status */
    int closed;
    int timed_out;
    int in_fd, in_child_fd;
    size_t in_off;   /* bytes of the stdin string written so far */
    stream out, err;
} process;

/* ---- small helpers ----------------------------------------------------- */

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the handle's life ------------------------------------------------- */

static void close_pipes(process *p) {
    close_fd(&p->in_fd);
    close_fd(&p->in_child_fd);
    close_fd(&p->out.fd);
    close_fd(&p->out.child_fd);
    close_fd(&p->err.fd);
    close_fd(&p->err.child_fd);
}

/* Non-blocking reap; 1 once the child is gone. */
static int try_reap(process *p) {
    if (p->pid <= 0 || p->reaped) return 1;
    for (;;) {
        pid_t r = waitpid(p->pid, &p->status, WNOHANG);
        if (r == p->pid) break;
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) return 0;
        p->lost = 1;      /* ECHILD: nothing left to wait for */
        break;
    }
    p->reaped = 1;
    close_fd(&p->pidfd);
    return 1;
}

static void kill_and_reap(process *p) {
    if (p->pid <= 0 || p->reaped) return;
    kill(p->pid, SIGKILL);
    while (waitpid(p->pid, &p->status, 0) < 0) {
        if (errno != EINTR) { p->lost = 1; break; }
    }
    p->reaped = 1;
    close_fd(&p->pidfd);
}

/* Release everything; safe to call twice. A still-running child is killed:
 * an unreachable handle can never be waited for, and a zombie or an orphan
 * server outliving the script is worse than a stopped one. */
static void release(process *p) {
    if (p->closed) return;
    p->closed = 1;
    kill_and_reap(p);
    close_pipes(p);
    close_fd(&p->pidfd);
    rr_buf_free(&p->out.buf);
    rr_buf_free(&p->err.buf);
}

static int process_gc(lua_State *L) {
    release(luaL_checkudata(L, 1, PROCESS_T));
    return 0;
}

static process *check_open(lua_State *L) {
    process *p = luaL_checkudata(L, 1, PROCESS_T);
    if (p->closed) luaL_error(L, "attempt to use a closed " PROCESS_T);
    return p;
}

static process *new_process(lua_State *L) {
    process *p = lua_newuserdatauv(L, sizeof *p, UV_COUNT);
    memset(p, 0, sizeof *p);
    p->pidfd = p->in_fd = p->in_child_fd = -1;
    p->out.fd = p->out.child_fd = p->err.fd = p->err.child_fd = -1;
    p->out.to = stdout;
    p->err.to = stderr;
    luaL_setmetatable(L, PROCESS_T);
    return p;
}

/* ---- options ----------------------------------------------------------- */

/* [opts] -> pushes a userdata array of char*, NULL-terminated, pointing into
 * the strings of the table at `t` (which stays on the stack, anchoring them). */
static char **string_array(lua_State *L, int t, int n) {
    char **a = lua_newuserdatauv(L, sizeof(char *) * ((size_t)n + 1), 0);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, t, i);
        a[i - 1] = (char *)lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    a[n] = NULL;
    return a;
}

/* Converts a number at `i` to a string in place; 1 if it holds a NUL (which
 * C would silently cut at, so it is misuse). */
static int has_nul(lua_State *L, int i) {
    size_t len;
    const char *s = lua_tolstring(L, i, &len);
    return strlen(s) != len;
}

/* Push a copy of opts.argv (at index 1) as strings: a non-empty list. */
static int check_argv(lua_State *L) {
    int n;
    if (lua_getfield(L, 1, "argv") != LUA_TTABLE) luaL_error(L, "option 'argv' must be a list of strings");
    n = (int)luaL_len(L, -1);
    if (n < 1) luaL_error(L, "option 'argv' must not be empty");
    lua_createtable(L, n, 0);
    for (int i = 1; i <= n; i++) {
        int t = lua_rawgeti(L, -2, i);
        if (t != LUA_TSTRING && t != LUA_TNUMBER) luaL_error(L, "argv[%d] must be a string", i);
        if (has_nul(L, -1)) luaL_error(L, "argv[%d] contains a NUL byte", i);
        lua_rawseti(L, -2, i);
    }
    lua_remove(L, -2);
    return n;
}

/* Push the child's environment as a list of "NAME=value" strings: the
 * current one (unless clear_env) without the credentials in it (unless
 * inherit_credentials: runtime/credentials.c names them), with opts.env's
 * additions and removals. A child that needs a credential gets it through
 * `env`, so each one is passed on by a line a reader can see. */
static int build_env(lua_State *L) {
    int clear = rr_optfield_boolean(L, 1, "clear_env", 0);
    int scrub = !rr_optfield_boolean(L, 1, "inherit_credentials", 0);
    int n = 0;
    lua_newtable(L);                                  /* name -> value */
    for (char **e = environ; !clear && *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        if (eq == NULL) continue;
        if (scrub && rr_env_scrubbed(*e, (size_t)(eq - *e), eq + 1)) continue;
        lua_pushlstring(L, *e, (size_t)(eq - *e));
        lua_pushstring(L, eq + 1);
        lua_rawset(L, -3);
    }
    lua_getfield(L, 1, "env");
    if (!lua_isnil(L, -1)) {
        luaL_argexpected(L, lua_istable(L, -1), 1, "table as option 'env'");
        lua_pushnil(L);
        while (lua_next(L, -2) != 0) {            /* [names, env, k, v] */
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
            if (k == NULL || *k == '\0' || strchr(k, '='))
                luaL_error(L, "env: names must be non-empty strings without '='");
            if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
                lua_pop(L, 1);
                lua_pushnil(L);                   /* false removes */
            } else if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER) {
                luaL_error(L, "env.%s must be a string, a number or false", k);
            } else if (has_nul(L, -1) || has_nul(L, -2)) {
                luaL_error(L, "env.%s contains a NUL byte", k);
            }
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, -5);
        }
    }
    lua_pop(L, 1);
    lua_newtable(L);                                  /* [names, list] */
    lua_pushnil(L);
    while (lua_next(L, -3) != 0) {
        lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
        lua_rawseti(L, -4, ++n);
        lua_pop(L, 1);
    }
    lua_remove(L, -2);
    return n;
}

/* PATH as the child will see it: from its environment list at `envt`. */
static const char *child_path(lua_State *L, int envt, int n) {
    for (int i = 1; i <= n; i++) {
        const char *s;
        lua_rawgeti(L, envt, i);
        s = lua_tostring(L, -1);
        lua_pop(L, 1);
        if (strncmp(s, "PATH=", 5) == 0) return s + 5;   /* anchored by the list */
    }
    return NULL;
}

static int is_executable(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Push the program to execute: `name` itself when it has a slash, else the
 * first executable on `path` (execvp's rule, without its shell fallback).
 * Returns 0, or pushes nothing and returns -1. */
static int find_program(lua_State *L, const char *name, const char *path) {
    if (strchr(name, '/') != NULL) {
        lua_pushstring(L, name);
        return 0;
    }
    if (*name == '\0') return -1;
    if (path == NULL) path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *s = path;; ) {
        const char *e = strchr(s, ':');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 0) lua_pushfstring(L, "./%s", name);     /* empty entry: the current folder */
        else {
            lua_pushlstring(L, s, len);
            lua_pushfstring(L, "/%s", name);
            lua_concat(L, 2);
        }
        if (is_executable(lua_tostring(L, -1))) return 0;
        lua_pop(L, 1);
        if (e == NULL) return -1;
        s = e + 1;
    }
}

/* stdout/stderr option -> mode; a function or {file=...} is kept in the
 * handle `h`'s user value `uv`. */
static int stream_mode(lua_State *L, int h, const char *key, int uv) {
    int t = lua_getfield(L, 1, key), mode = -1;
    if (t == LUA_TNIL) mode = M_CAPTURE;
    else if (t == LUA_TFUNCTION) mode = M_LINES;
    else if (t == LUA_TTABLE) {
        if (lua_getfield(L, -1, "file") != LUA_TSTRING)
            luaL_error(L, "option '%s': {file = path} needs a path", key);
        lua_pop(L, 1);
        mode = M_FILE;
    } else if (t == LUA_TSTRING) {
        const char *s = lua_tostring(L, -1);
        if (strcmp(s, "capture") == 0) mode = M_CAPTURE;
        else if (strcmp(s, "inherit") == 0) mode = M_FORWARD;
        else if (strcmp(s, "direct") == 0) mode = M_DIRECT;
        else if (strcmp(s, "null") == 0) mode = M_NULL;
    }
    if (mode < 0)
        luaL_error(L, "option '%s' must be \"capture\", \"inherit\", \"direct\", \"null\", a function or {file = path}", key);
    if (mode == M_LINES || mode == M_FILE) lua_setiuservalue(L, h, uv);
    else lua_pop(L, 1);
    return mode;
}

/* stdin option: a string is the data; {file = path} reads a file; false is
 * /dev/null; nil inherits ours. */
static int stdin_mode(lua_State *L, int h) {
    int t = lua_getfield(L, 1, "stdin");
    if (t == LUA_TNIL) { lua_pop(L, 1); return M_INHERIT; }
    if (t == LUA_TBOOLEAN && !lua_toboolean(L, -1)) { lua_pop(L, 1); return M_NULL; }
    if (t == LUA_TSTRING) { lua_setiuservalue(L, h, UV_STDIN); return M_CAPTURE; }
    if (t == LUA_TTABLE && lua_getfield(L, -1, "file") == LUA_TSTRING) {
        lua_pop(L, 1);
        lua_setiuservalue(L, h, UV_STDIN);
        return M_FILE;
    }
    return luaL_error(L, "option 'stdin' must be a string (the data), {file = path} or false");
}

/* ---- spawning ---------------------------------------------------------- */

/* A pipe whose parent end is non-blocking; both ends close-on-exec (the
 * spawn's dup2 onto 0/1/2 clears the flag on the child's copy). */
static int make_pipe(int *parent, int *child, int parent_reads) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    *parent = parent_reads ? fds[0] : fds[1];
    *child = parent_reads ? fds[1] : fds[0];
    fcntl(*parent, F_SETFL, O_NONBLOCK);
    return 0;
}

/* The path of a {file = path} option kept in user value `uv` of `h`. */
static const char *file_option(lua_State *L, int h, int uv, int *append) {
    const char *path;
    lua_getiuservalue(L, h, uv);
    lua_getfield(L, -1, "file");
    path = lua_tostring(L, -1);              /* anchored by the handle */
    *append = rr_optfield_boolean(L, -2, "append", 0);
    lua_pop(L, 2);
    return path;
}

/* Open the child's end of stdout/stderr. Returns 0, or -1 with errno and
 * the failing path (or NULL) in *what. */
static int open_stream(lua_State *L, int h, stream *s, int uv, const char **what) {
    int append;
    *what = NULL;
    if (s->mode == M_CAPTURE || s->mode == M_LINES || s->mode == M_FORWARD)
        return make_pipe(&s->fd, &s->child_fd, 1);
    if (s->mode != M_FILE) return 0;
    *what = file_option(L, h, uv, &append);
    s->child_fd = open(*what, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0666);
    return s->child_fd < 0 ? -1 : 0;
}

static int open_stdin(lua_State *L, int h, process *p, int mode, const char **what) {
    int append;
    *what = NULL;
    if (mode == M_CAPTURE) return make_pipe(&p->in_fd, &p->in_child_fd, 0);
    if (mode != M_FILE) return 0;
    *what = file_option(L, h, UV_STDIN, &append);
    p->in_child_fd = open(*what, O_RDONLY | O_CLOEXEC);
    return p->in_child_fd < 0 ? -1 : 0;
}

/*
 * Starting a child. posix_spawn cannot ask the kernel to kill the child when
 * relrun dies, so a relrun killed with SIGKILL alone (a CI runner stopping
 * one process, the OOM killer) would leave `python -m build` or pip running
 * on, writing into the release's folders while the next run starts. So the
 * child is started as glibc's posix_spawn starts one — clone(CLONE_VM |
 * CLONE_VFORK) on a stack of its own, relrun suspended until the exec — and
 * before the exec it also asks for SIGKILL when relrun goes
 * (PR_SET_PDEATHSIG). Between the clone and the exec the child shares
 * relrun's memory: it only makes system calls, and reports a failure
 * through `err`, which relrun reads once it resumes.
 */

#define CHILD_STACK (256 * 1024)   /* ample for the system calls (and sanitizer interceptors) */
enum { FD_KEEP = -1, FD_NULL = -2 };

typedef struct {
    const char *prog, *cwd;
    char **argv, **envp;
    int fd[3];         /* what the child's 0, 1, 2 become: a descriptor, FD_KEEP or FD_NULL */
    pid_t parent;
    int err;           /* errno of the step that failed, written by the child */
} child_plan;

static int child_fail(child_plan *c) {
    c->err = errno ? errno : EINVAL;
    _exit(127);
}

/* fd `target` of the child becomes `fd` (FD_NULL: /dev/null, read-write so
 * no child trips over a read-only stdout). */
static int child_fd(int fd, int target) {
    if (fd == FD_KEEP) return 0;
    if (fd == FD_NULL) {
        int n = open("/dev/null", O_RDWR);
        if (n < 0) return -1;
        if (n == target) return 0;
        fd = n;
    }
    if (fd == target) return fcntl(target, F_SETFD, 0);   /* clear close-on-exec */
    return dup2(fd, target) < 0 ? -1 : 0;
}

/* Descriptors some library opened without O_CLOEXEC stay with us. */
static void child_close_rest(void) {
    if (close_range(3, ~0U, 0) == 0) return;
    for (int fd = 3; fd < 65536; fd++) close(fd);
}

static int child_main(void *arg) {
    child_plan *c = arg;
    struct sigaction dfl;
    sigset_t none;
    /* SIGKILL when relrun goes; if it went already, do not start at all */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) child_fail(c);
    if (getppid() != c->parent) _exit(127);
    /* default signal handling and nothing blocked, whatever relrun ignores or blocks */
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &dfl, NULL);   /* SIGKILL/SIGSTOP refuse: fine */
    for (int t = 0; t < 3; t++)
        if (child_fd(c->fd[t], t) != 0) child_fail(c);
    child_close_rest();
    if (c->cwd != NULL && chdir(c->cwd) != 0) child_fail(c);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(c->prog, c->argv, c->envp);
    return child_fail(c);
}

static int plan_of(int mode, int fd) {
    if (mode == M_NULL) return FD_NULL;
    return fd >= 0 ? fd : FD_KEEP;
}

/*
 * Spawn with everything prepared in Lua-owned memory; nothing here raises.
 * A failure before or at the exec (a missing program, EACCES, a folder that
 * cannot be entered) is an errno here, the child reaped.
 */
static int do_spawn(process *p, const char *prog, char **argv, char **envp, const char *cwd,
                    int in_mode) {
    child_plan c = {prog, cwd, argv, envp,
                    {plan_of(in_mode, p->in_child_fd), plan_of(p->out.mode, p->out.child_fd),
                     plan_of(p->err.mode, p->err.child_fd)},
                    getpid(), 0};
    sigset_t all, old;
    int err;
    pid_t pid;
    void *stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return errno;
    /* What relrun wrote before must come out before what the child writes. */
    fflush(stdout);
    fflush(stderr);
    /* No handler of relrun's may run in the child while it shares our memory. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pid = clone(child_main, (char *)stack + CHILD_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
    err = pid < 0 ? errno : 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    munmap(stack, CHILD_STACK);
    if (pid < 0) return err;
    if (c.err != 0) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
        return c.err;
    }
    p->pid = pid;
    p->pidfd = pidfd_open(p->pid, 0);   /* -1 on old kernels: we tick instead */
    if (p->pidfd >= 0) fcntl(p->pidfd, F_SETFD, FD_CLOEXEC);
    return 0;
}

/* Why a spawn could not happen: nil, "cannot run PROG: [what: ]strerror", code. */
static int spawn_failed(lua_State *L, process *p, const char *prog, const char *what, int err) {
    release(p);
    if (what != NULL)
        return rr_failf(L, rr_errno_name(err), "cannot run %s: %s: %s", prog, what, strerror(err));
    return rr_failf(L, rr_errno_name(err), "cannot run %s: %s", prog, strerror(err));
}

/*
 * [opts] -> [opts, argv, envlist, handle] and *out, returning 0; or nothing
 * acquired and nil, msg, code pushed, returning 3.
 */
static int start(lua_State *L, process **out) {
    int argc, envc, in_mode, h, rc;
    const char *cwd, *name, *prog, *what;
    char **argv, **envp;
    process *p;
    struct stat st;

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    argc = check_argv(L);                           /* [opts, argv] */
    envc = build_env(L);                            /* [opts, argv, envlist] */
    cwd = rr_optfield_string(L, 1, "cwd", NULL);
    if (cwd != NULL && lua_getfield(L, 1, "cwd") && has_nul(L, -1)) luaL_error(L, "option 'cwd' contains a NUL byte");
    lua_settop(L, 3);
    p = new_process(L);                             /* [opts, argv, envlist, handle] */
    h = lua_gettop(L);
    in_mode = stdin_mode(L, h);
    p->out.mode = stream_mode(L, h, "stdout", UV_OUT_CB);
    p->err.mode = stream_mode(L, h, "stderr", UV_ERR_CB);

    lua_rawgeti(L, 2, 1);
    name = lua_tostring(L, -1);
    if (find_program(L, name, child_path(L, 3, envc)) != 0) {
        release(p);
        return rr_failf(L, "ENOENT", "cannot run %s: not found on PATH", name);
    }
    prog = lua_tostring(L, -1);                     /* [.., handle, name, prog] */
    if (cwd != NULL) {      /* checked here: the exec's errno would seem the program's */
        int err = stat(cwd, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
        if (err != 0) return spawn_failed(L, p, name, lua_pushfstring(L, "folder %s", cwd), err);
    }
    argv = string_array(L, 2, argc);
    envp = string_array(L, 3, envc);
    if (open_stdin(L, h, p, in_mode, &what) != 0 || open_stream(L, h, &p->out, UV_OUT_CB, &what) != 0 ||
        open_stream(L, h, &p->err, UV_ERR_CB, &what) != 0)
        return spawn_failed(L, p, prog, what, errno);
    rc = do_spawn(p, prog, argv, envp, cwd, in_mode);
    close_fd(&p->in_child_fd);
    close_fd(&p->out.child_fd);
    close_fd(&p->err.child_fd);
    if (rc != 0) return spawn_failed(L, p, prog, NULL, rc);
    lua_settop(L, h);
    *out = p;
    return 0;
}

/* ---- waiting ----------------------------------------------------------- */

/* Stack slots the wait loop uses: the callbacks, the stdin string, and the
 * first error raised by a callback. */
typedef struct {
    int out_cb, err_cb;       /* stack indices or 0 */
    const char *in_data;
    size_t in_len;
    int error_slot;           /* a stack slot holding nil, or the error */
    int failed;               /* a callback raised; stop feeding lines */
    int nomem;
} waitctx;

static void call_line(lua_State *L, waitctx *w, int cb, const char *s, size_t n) {
    if (w->failed) return;
    lua_pushvalue(L, cb);
    lua_pushlstring(L, s, n);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        lua_replace(L, w->error_slot);
        w->failed = 1;
    }
}

/* One line to its sink: the callback, or relrun's own stream through the
 * secret mask (then `newline` says whether the child wrote a "\n"). */
static void emit(lua_State *L, waitctx *w, stream *s, int cb, const char *p, size_t n, int newline) {
    if (s->mode == M_LINES) {
        call_line(L, w, cb, p, n);
        return;
    }
    rr_mask_write(L, s->to, p, n);
    if (newline) fputc('\n', s->to);
    fflush(s->to);
}

/* Forward an unfinished line now (the child is quiet, or the line is long):
 * a prompt without "\n" must show. */
static void flush_partial(lua_State *L, waitctx *w, stream *s) {
    if (s->mode != M_FORWARD || s->buf.len == 0) return;
    emit(L, w, s, 0, s->buf.data, s->buf.len, 0);
    s->buf.len = 0;
}

/* Hand each complete line (without its "\n") to the sink; keep the rest. */
static void feed_lines(lua_State *L, waitctx *w, stream *s, int cb, const char *data, size_t n, int eof) {
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (data[i] != '\n') continue;
        if (s->buf.len > 0) {
            if (rr_buf_add(&s->buf, data + start, i - start) != 0) { w->nomem = 1; return; }
            emit(L, w, s, cb, s->buf.data, s->buf.len, 1);
            s->buf.len = 0;
        } else {
            emit(L, w, s, cb, data + start, i - start, 1);
        }
        start = i + 1;
    }
    if (rr_buf_add(&s->buf, data + start, n - start) != 0) { w->nomem = 1; return; }
    if (eof && s->buf.len > 0) {
        emit(L, w, s, cb, s->buf.data, s->buf.len, 0);
        s->buf.len = 0;
    }
    if (s->buf.len > CHUNK) flush_partial(L, w, s);
}

/* Read what is there, but at most 16 chunks: a child writing as fast as we
 * read must not keep us from the timeout, Ctrl-C and the other pipe. */
static void drain(lua_State *L, waitctx *w, stream *s, int cb) {
    char chunk[CHUNK];
    for (int k = 0; k < 16; k++) {
        ssize_t r = read(s->fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EAGAIN) return;
        if (r <= 0) {               /* EOF (or a read error: treat as the end) */
            if (s->mode != M_CAPTURE) feed_lines(L, w, s, cb, "", 0, 1);
            close_fd(&s->fd);
            return;
        }
        if (s->mode != M_CAPTURE) feed_lines(L, w, s, cb, chunk, (size_t)r, 0);
        else if (rr_buf_add(&s->buf, chunk, (size_t)r) != 0) w->nomem = 1;
        if (w->nomem) return;
    }
}

/* Write what the pipe takes now. SIGPIPE is blocked around the write so a
 * child that exits without reading its input costs us EPIPE, not our life. */
static void feed_stdin(process *p, waitctx *w) {
    sigset_t pipe_set, old, pending;
    ssize_t r;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    do {
        r = write(p->in_fd, w->in_data + p->in_off, w->in_len - p->in_off);
    } while (r < 0 && errno == EINTR);
    if (r < 0 && errno == EPIPE) {
        struct timespec zero = {0, 0};
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE) && !sigismember(&old, SIGPIPE))
            sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r > 0) p->in_off += (size_t)r;
    if ((r < 0 && errno != EAGAIN) || p->in_off >= w->in_len) close_fd(&p->in_fd);
}

enum { W_DONE, W_TIMEOUT, W_INTERRUPTED };

/* One poll over the pipes and the pidfd, at most `ms`, then the I/O that is ready. */
static void poll_once(lua_State *L, process *p, waitctx *w, int ms) {
    struct pollfd fds[4];
    stream *which[4];
    int n = 0, r;
    if (p->in_fd >= 0) { fds[n].fd = p->in_fd; fds[n].events = POLLOUT; which[n++] = NULL; }
    if (p->out.fd >= 0) { fds[n].fd = p->out.fd; fds[n].events = POLLIN; which[n++] = &p->out; }
    if (p->err.fd >= 0) { fds[n].fd = p->err.fd; fds[n].events = POLLIN; which[n++] = &p->err; }
    if (!p->reaped && p->pidfd >= 0) { fds[n].fd = p->pidfd; fds[n].events = POLLIN; which[n++] = NULL; }
    if (!p->reaped && p->pidfd < 0 && ms > 10) ms = 10;     /* no pidfd: look often */
    r = poll(fds, (nfds_t)n, ms);
    if (r < 0) return;                                       /* EINTR: the caller looks at the flag */
    if (r == 0) {                                            /* quiet: show pending prompts */
        flush_partial(L, w, &p->out);
        flush_partial(L, w, &p->err);
        return;
    }
    for (int i = 0; i < n; i++) {
        if (fds[i].revents == 0) continue;
        if (which[i] != NULL) drain(L, w, which[i], which[i] == &p->out ? w->out_cb : w->err_cb);
        else if (i == 0 && p->in_fd >= 0 && fds[i].fd == p->in_fd) feed_stdin(p, w);
    }
}

/* Milliseconds until `when` (0: never), at most TICK_MS, at least 0. */
static int ms_until(double when) {
    double left;
    if (when <= 0) return TICK_MS;
    left = (when - now()) * 1000;
    if (left < 0) return 0;
    return left < TICK_MS ? (int)left + 1 : TICK_MS;
}

/*
 * Poll until the child is reaped and its pipes are at EOF. With `deadline`
 * (> 0), either return W_TIMEOUT there (spawn's :wait) or, with `kill`, send
 * SIGTERM, then SIGKILL KILL_GRACE seconds later (run). After a kill we stop
 * reading once the child is gone and the grace is over: a grandchild may
 * still hold the pipes.
 */
static int wait_loop(lua_State *L, process *p, waitctx *w, double deadline, int kill_on_deadline) {
    int was_interrupted = rr_interrupted();
    double hard = 0;
    for (;;) {
        if (!was_interrupted && rr_interrupted()) return W_INTERRUPTED;
        if (w->failed || w->nomem) return W_DONE;
        try_reap(p);
        if (p->reaped && p->out.fd < 0 && p->err.fd < 0) {
            close_fd(&p->in_fd);
            return W_DONE;
        }
        if (deadline > 0 && !p->timed_out && now() >= deadline) {
            if (!kill_on_deadline) return W_TIMEOUT;
            p->timed_out = 1;
            if (!p->reaped) kill(p->pid, SIGTERM);
            hard = now() + KILL_GRACE;
        }
        if (p->timed_out && now() >= hard) {
            kill_and_reap(p);
            close_pipes(p);
            return W_DONE;
        }
        poll_once(L, p, w, ms_until(p->timed_out ? hard : deadline));
    }
}

/* Push the result table {code, signal, stdout, stderr, timed_out}. */
static void push_result(lua_State *L, process *p) {
    lua_createtable(L, 0, 5);
    if (p->lost) {
        /* neither code nor signal is known */
    } else if (WIFEXITED(p->status)) {
        lua_pushinteger(L, WEXITSTATUS(p->status));
        lua_setfield(L, -2, "code");
    } else if (WIFSIGNALED(p->status)) {
        lua_pushinteger(L, WTERMSIG(p->status));
        lua_setfield(L, -2, "signal");
    }
    if (p->out.mode == M_CAPTURE) {
        lua_pushlstring(L, p->out.buf.data ? p->out.buf.data : "", p->out.buf.len);
        lua_setfield(L, -2, "stdout");
    }
    if (p->err.mode == M_CAPTURE) {
        lua_pushlstring(L, p->err.buf.data ? p->err.buf.data : "", p->err.buf.len);
        lua_setfield(L, -2, "stderr");
    }
    lua_pushboolean(L, p->timed_out);
    lua_setfield(L, -2, "timed_out");
    rr_buf_free(&p->out.buf);
    rr_buf_free(&p->err.buf);
}

/*
 * The handle at `h`: wait, then push the result (cached in the handle for a
 * second :wait). Returns the number of values pushed. Raises a callback's
 * error or the interruption only after the child is dead and reaped.
 */
static int finish(lua_State *L, int h, double timeout, int kill_on_deadline) {
    process *p = lua_touserdata(L, h);
    waitctx w;
    int r;
    memset(&w, 0, sizeof w);
    if (lua_getiuservalue(L, h, UV_RESULT) == LUA_TTABLE) return 1;
    lua_pop(L, 1);
    lua_getiuservalue(L, h, UV_OUT_CB);
    w.out_cb = lua_isfunction(L, -1) ? lua_gettop(L) : 0;
    lua_getiuservalue(L, h, UV_ERR_CB);
    w.err_cb = lua_isfunction(L, -1) ? lua_gettop(L) : 0;
    lua_getiuservalue(L, h, UV_STDIN);
    w.in_data = lua_tolstring(L, -1, &w.in_len);
    lua_pushnil(L);
    w.error_slot = lua_gettop(L);
    r = wait_loop(L, p, &w, timeout > 0 ? now() + timeout : 0, kill_on_deadline);
    if (r == W_TIMEOUT) return rr_failf(L, "ETIMEDOUT", "process %d still running after %f s", (int)p->pid, timeout);
    if (r == W_INTERRUPTED || w.failed || w.nomem) {
        kill_and_reap(p);
        close_pipes(p);
        rr_buf_free(&p->out.buf);
        rr_buf_free(&p->err.buf);
        if (r == W_INTERRUPTED) return rr_raise_interrupted(L);
        if (w.nomem) return luaL_error(L, "not enough memory for the output of process %d", (int)p->pid);
        lua_pushvalue(L, w.error_slot);
        return lua_error(L);
    }
    push_result(L, p);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, h, UV_RESULT);
    return 1;
}

/* ---- the module -------------------------------------------------------- */

static double opt_timeout(lua_State *L) {
    double t = rr_optfield_number(L, 1, "timeout", 0);
    if (!(t >= 0)) luaL_error(L, "option 'timeout' must be a number of seconds >= 0");
    return t;
}

static int proc_run(lua_State *L) {
    process *p;
    double timeout;
    int n;
    luaL_checktype(L, 1, LUA_TTABLE);
    timeout = opt_timeout(L);
    if ((n = start(L, &p)) != 0) return n;
    n = finish(L, lua_gettop(L), timeout, 1);
    release(p);
    return n;
}

static int proc_spawn(lua_State *L) {
    process *p;
    int n = start(L, &p);
    if (n != 0) return n;
    return 1;
}

static int p_wait(lua_State *L) {
    double timeout;
    check_open(L);
    timeout = luaL_optnumber(L, 2, 0);
    luaL_argcheck(L, timeout >= 0, 2, "timeout must be >= 0");
    return finish(L, 1, timeout, 0);
}

static int check_signal(lua_State *L, int arg) {
    static const struct { const char *name; int sig; } names[] = {
        {"TERM", SIGTERM}, {"KILL", SIGKILL}, {"INT", SIGINT}, {"HUP", SIGHUP},
        {"QUIT", SIGQUIT}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"STOP", SIGSTOP},
        {"CONT", SIGCONT}, {NULL, 0}};
    const char *s;
    if (lua_isnoneornil(L, arg)) return SIGTERM;
    if (lua_type(L, arg) == LUA_TNUMBER) return (int)luaL_checkinteger(L, arg);
    s = luaL_checkstring(L, arg);
    if (strncmp(s, "SIG", 3) == 0) s += 3;
    for (int i = 0; names[i].name; i++)
        if (strcmp(s, names[i].name) == 0) return names[i].sig;
    return luaL_argerror(L, arg, "unknown signal name");
}

static int p_kill(lua_State *L) {
    process *p = check_open(L);
    int sig = check_signal(L, 2);
    if (try_reap(p)) return rr_failf(L, "ESRCH", "process %d has already exited", (int)p->pid);
    if (kill(p->pid, sig) != 0) return rr_fail_errno(L, "kill", errno);
    lua_pushboolean(L, 1);
    return 1;
}

static int p_running(lua_State *L) {
    process *p = check_open(L);
    lua_pushboolean(L, !try_reap(p));
    return 1;
}

/* :close(): a gentle stop for servers: SIGTERM, up to KILL_GRACE seconds,
 * then SIGKILL. Idempotent. */
static int p_close(lua_State *L) {
    process *p = luaL_checkudata(L, 1, PROCESS_T);
    if (!p->closed && !try_reap(p)) {
        double until = now() + KILL_GRACE;
        kill(p->pid, SIGTERM);
        while (!try_reap(p) && now() < until) {
            struct pollfd pf = {p->pidfd, POLLIN, 0};
            poll(&pf, p->pidfd >= 0 ? 1 : 0, 20);
        }
    }
    release(p);
    return 0;
}

static int p_index(lua_State *L) {
    const char *key = luaL_checkstring(L, 2);
    process *p = luaL_checkudata(L, 1, PROCESS_T);
    if (strcmp(key, "close") != 0) check_open(L);   /* close stays idempotent */
    if (strcmp(key, "pid") == 0) {
        lua_pushinteger(L, p->pid);
        return 1;
    }
    luaL_getmetatable(L, PROCESS_T);
    lua_getfield(L, -1, key);
    return 1;
}

static int p_tostring(lua_State *L) {
    process *p = luaL_checkudata(L, 1, PROCESS_T);
    if (p->closed) lua_pushliteral(L, PROCESS_T " (closed)");
    else lua_pushfstring(L, PROCESS_T " (%d)", (int)p->pid);
    return 1;
}

static int proc_which(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    if (find_program(L, name, getenv("PATH")) != 0) {
        lua_pushnil(L);
        return 1;
    }
    if (strchr(name, '/') != NULL && !is_executable(name)) lua_pushnil(L);
    return 1;
}

static int proc_pid(lua_State *L) {
    lua_pushinteger(L, getpid());
    return 1;
}

static const luaL_Reg proc_funcs[] = {
    {"run", proc_run}, {"spawn", proc_spawn}, {"which", proc_which}, {"pid", proc_pid},
    {NULL, NULL}};

static const luaL_Reg process_methods[] = {
    {"wait", p_wait}, {"kill", p_kill}, {"running", p_running}, {"close", p_close},
    {"__close", p_close}, {"__gc", process_gc}, {"__tostring", p_tostring}, {NULL, NULL}};

int luaopen_relrun_proc(lua_State *L) {
    rr_newclass(L, PROCESS_T, process_methods);
    luaL_getmetatable(L, PROCESS_T);
    lua_pushcfunction(L, p_index);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, proc_funcs);
    return 1;
}
