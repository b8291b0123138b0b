/*
 * relrun.fs: files, folders, globs, temporary folders and the environment,
 * straight on POSIX calls.
 *
 * Expected failures return nil, "<operation> <path>: <strerror>", "<ERRNO>".
 * Nothing malloc'd, no fd and no DIR is held across a Lua call that can
 * raise: such resources live in a small "guard" userdata whose __gc releases
 * them if a memory error unwinds past us.
 */
#include "rr.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define GUARD_T "relrun.fs.guard"
#define TEMPDIR_T "relrun.fs.tempdir"
#define LOCK_T "relrun.fs.lock"
#define CHUNK (64 * 1024)

/* ---- errors ------------------------------------------------------------ */

static int fail_errno(lua_State *L, const char *op, const char *path, int err) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s %s: %s", op, path, strerror(err));
    lua_pushstring(L, rr_errno_name(err));
    return 3;
}

/* A string argument that C will see whole: a NUL inside would silently cut
 * a path short, so it is misuse. */
static const char *check_cstr(lua_State *L, int arg) {
    size_t len;
    const char *s = luaL_checklstring(L, arg, &len);
    luaL_argcheck(L, strlen(s) == len, arg, "contains a NUL byte");
    return s;
}

/* ---- guard: releases an fd, a scandir list or a glob on unwinding ------ */

typedef struct {
    int fd;                 /* -1 when none */
    struct dirent **names;  /* scandir result */
    int n;
    glob_t gl;
    int globbed;
} guard;

static void guard_release(guard *g) {
    if (g->fd >= 0) close(g->fd);
    g->fd = -1;
    if (g->names != NULL) {
        for (int i = 0; i < g->n; i++) free(g->names[i]);
        free(g->names);
        g->names = NULL;
    }
    if (g->globbed) globfree(&g->gl);
    g->globbed = 0;
}

static int guard_gc(lua_State *L) {
    guard_release(luaL_checkudata(L, 1, GUARD_T));
    return 0;
}

/* Push a new empty guard; release it with guard_done. */
static guard *guard_new(lua_State *L) {
    guard *g = rr_newhandle(L, sizeof *g, GUARD_T);
    g->fd = -1;
    return g;
}

/* ---- small helpers ----------------------------------------------------- */

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A mode given as an integer (0x1a4, tonumber("644", 8)) or an octal string ("644"). */
static mode_t check_mode(lua_State *L, int arg) {
    lua_Integer m;
    if (lua_type(L, arg) == LUA_TSTRING) {
        const char *s = lua_tostring(L, arg);
        char *end;
        long v = strtol(s, &end, 8);
        luaL_argcheck(L, *s != '\0' && *end == '\0', arg, "mode must be octal digits");
        m = v;
    } else {
        m = luaL_checkinteger(L, arg);
    }
    luaL_argcheck(L, m >= 0 && m <= 07777, arg, "mode out of range");
    return (mode_t)m;
}

static mode_t current_umask(void) {
    mode_t m = umask(022);
    umask(m);
    return m;
}

/* Push the folder part of `path` (POSIX dirname: "a" -> ".", "/a" -> "/"). */
static void push_dirname(lua_State *L, const char *p, size_t n) {
    while (n > 1 && p[n - 1] == '/') n--;          /* trailing slashes */
    while (n > 0 && p[n - 1] != '/') n--;          /* last component */
    if (n == 0) { lua_pushliteral(L, "."); return; }
    while (n > 1 && p[n - 1] == '/') n--;          /* slashes before it */
    lua_pushlstring(L, p, n);
}

static void push_basename(lua_State *L, const char *p, size_t n) {
    size_t end, start;
    while (n > 1 && p[n - 1] == '/') n--;
    end = n;
    start = end;
    while (start > 0 && p[start - 1] != '/') start--;
    if (start == end && end > 0) { lua_pushliteral(L, "/"); return; }
    lua_pushlstring(L, p + start, end - start);
}

/* ---- read, write, append ----------------------------------------------- */

static int fs_read(lua_State *L) {
    const char *path = check_cstr(L, 1);
    luaL_Buffer b;
    guard *g = guard_new(L);                         /* [path, guard] */
    int err;
    g->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (g->fd < 0) return fail_errno(L, "read", path, errno);
    luaL_buffinit(L, &b);
    for (;;) {
        char *p = luaL_prepbuffsize(&b, CHUNK);
        ssize_t r = read(g->fd, p, CHUNK);
        if (r < 0) {
            if (errno == EINTR) continue;
            err = errno;
            guard_release(g);
            return fail_errno(L, "read", path, err);
        }
        if (r == 0) break;
        luaL_addsize(&b, (size_t)r);
    }
    luaL_pushresult(&b);                             /* [path, guard, data] */
    guard_release(g);
    return 1;
}

/*
 * Atomic replace: a temp file beside `path` (same file system, so rename is
 * atomic), the data, fsync, rename over `path`, fsync of the folder. Readers
 * see the old or the new content, never a mix; on any failure the temp file
 * is removed and `path` is untouched. `fill` writes the content into fd.
 * Without `sync` the two fsyncs are left out: still atomic for every reader,
 * only not durable across a power cut (a journal rewritten every step pays
 * ~10 ms per fsync on some disks).
 */
typedef int (*fill_fn)(lua_State *L, int fd, void *ud, const char **what);

static void sweep_leftovers(lua_State *L, const char *dir);

static int atomic_replace(lua_State *L, const char *path, int has_mode, mode_t mode, int sync,
                          fill_fn fill, void *ud) {
    size_t plen = strlen(path), n;
    struct stat st;
    const char *what = "write";
    char *tmp;
    int err, dirfd, existed = stat(path, &st) == 0;
    guard *g;

    if (!has_mode) mode = existed ? (st.st_mode & 07777) : (0666 & ~current_umask());
    push_dirname(L, path, plen);
    sweep_leftovers(L, lua_tostring(L, -1));
    lua_pushliteral(L, "/.");
    push_basename(L, path, plen);
    if (lua_rawlen(L, -1) > 200) {           /* the temp name must fit NAME_MAX too */
        lua_pushlstring(L, lua_tostring(L, -1), 200);
        lua_remove(L, -2);
    }
    lua_pushfstring(L, ".relrun-%d-XXXXXX", (int)getpid());   /* whose it is: see sweep_leftovers */
    lua_concat(L, 4);                                /* [.., template] */
    /* mkostemp edits its template: give it a buffer of our own, never a
     * (possibly shared, interned) Lua string. */
    n = lua_rawlen(L, -1);
    tmp = lua_newuserdatauv(L, n + 1, 0);            /* [.., template, tmp] */
    memcpy(tmp, lua_tostring(L, -2), n + 1);
    g = guard_new(L);                                /* [.., template, tmp, guard] */
    g->fd = mkostemp(tmp, O_CLOEXEC);
    if (g->fd < 0) return fail_errno(L, "write", path, errno);
    /* The replacement keeps the old file's owner where we may set it (root
     * editing someone's file); a refusal is not a reason to fail the write. */
    if (existed && fchown(g->fd, st.st_uid, st.st_gid) != 0) {}
    if (fchmod(g->fd, mode) != 0 || fill(L, g->fd, ud, &what) != 0 || (sync && fsync(g->fd) != 0))
        goto fail;
    err = close(g->fd);
    g->fd = -1;
    if (err != 0) goto fail;
    what = "rename into";
    if (rename(tmp, path) != 0) goto fail;
    /* Make the rename itself durable; a failure here changes nothing visible. */
    push_dirname(L, path, plen);
    dirfd = sync ? open(lua_tostring(L, -1), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (dirfd >= 0) {
        fsync(dirfd);
        close(dirfd);
    }
    lua_pushboolean(L, 1);
    return 1;
fail:
    err = errno;
    guard_release(g);
    unlink(tmp);
    return fail_errno(L, what, path, err);
}

typedef struct { const char *data; size_t len; } bytes;

static int fill_bytes(lua_State *L, int fd, void *ud, const char **what) {
    bytes *b = ud;
    (void)L; (void)what;
    return write_all(fd, b->data, b->len);
}

/* write(path, data [, mode | {mode = m, sync = false}]) */
static int fs_write(lua_State *L) {
    const char *path = check_cstr(L, 1);
    bytes b;
    int has_mode = 0, sync = 1;
    mode_t mode = 0;
    b.data = luaL_checklstring(L, 2, &b.len);
    if (lua_istable(L, 3)) {
        sync = rr_optfield_boolean(L, 3, "sync", 1);
        if (lua_getfield(L, 3, "mode") != LUA_TNIL) {
            has_mode = 1;
            mode = check_mode(L, lua_gettop(L));
        }
        lua_pop(L, 1);
    } else if (!lua_isnoneornil(L, 3)) {
        has_mode = 1;
        mode = check_mode(L, 3);
    }
    return atomic_replace(L, path, has_mode, mode, sync, fill_bytes, &b);
}

static int fs_append(lua_State *L) {
    const char *path = check_cstr(L, 1);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    int err;
    if (fd < 0) return fail_errno(L, "append to", path, errno);
    if (write_all(fd, data, len) != 0) {
        err = errno;
        close(fd);
        return fail_errno(L, "append to", path, err);
    }
    if (close(fd) != 0) return fail_errno(L, "append to", path, errno);
    lua_pushboolean(L, 1);
    return 1;
}

/* copy: streamed (copy_file_range, else a 64 KiB buffer) into an atomic
 * replace of dst, keeping the source's permission bits.
 *
 * Ctrl-C stops a copy between two slices (a 200 MB wheel takes seconds to
 * copy and sync): the copy fails with EINTR before the rename, atomic_replace
 * removes its temporary file, and fs_copy raises the interruption. A copy
 * that starts after Ctrl-C (cleanup code) is not cut short. */
#define COPY_SLICE (8 << 20)

typedef struct { int fd; int was_interrupted; } copy_src;

static int copy_interrupted(const copy_src *c, const char **what) {
    if (c->was_interrupted || !rr_interrupted()) return 0;
    *what = "copy to";
    errno = EINTR;
    return 1;
}

/* The data is synced here (atomic_replace's own fsync then finds nothing
 * to write), so a Ctrl-C during the sync, the slow part, is still seen
 * before the rename. */
static int copy_done(copy_src *c, int fd, const char **what) {
    if (fsync(fd) != 0) return -1;
    return copy_interrupted(c, what) ? -1 : 0;
}

static int fill_copy(lua_State *L, int fd, void *ud, const char **what) {
    copy_src *c = ud;
    char buf[CHUNK];
    ssize_t n;
    (void)L;
    /* In the kernel when the file systems allow it (no copy through user
     * space, reflinks where supported); else the plain loop below. */
    size_t total = 0;
    while ((n = copy_file_range(c->fd, NULL, fd, NULL, COPY_SLICE, 0)) > 0) {
        total += (size_t)n;
        if (copy_interrupted(c, what)) return -1;
    }
    /* 0 at once may also be a /proc-like file with no size: read it. */
    if (n == 0 && total > 0) return copy_done(c, fd, what);
    if (n < 0 && copy_interrupted(c, what)) return -1;
    if (n < 0 && errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP) {
        *what = "copy to";
        return -1;
    }
    for (;;) {
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (copy_interrupted(c, what)) return -1;
        if (r < 0) {
            if (errno == EINTR) continue;
            *what = "copy (reading the source) to";
            return -1;
        }
        if (r == 0) return copy_done(c, fd, what);
        if (write_all(fd, buf, (size_t)r) != 0) return -1;
    }
}

/* copy(src, dst [, {mode = bits}]): the source's permission bits unless
 * `mode` says otherwise (a file others must read, whatever the umask of the
 * program that wrote the source). */
static int fs_copy(lua_State *L) {
    const char *src = check_cstr(L, 1);
    const char *dst = check_cstr(L, 2);
    lua_Integer mode = -1;
    struct stat st = {0};
    copy_src c;
    guard *g;
    int n;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        mode = rr_optfield_integer(L, 3, "mode", -1);
        luaL_argcheck(L, mode >= -1 && mode <= 07777, 3, "mode is permission bits (0 to 0o7777)");
    }
    g = guard_new(L);
    g->fd = open(src, O_RDONLY | O_CLOEXEC);
    if (g->fd < 0) return fail_errno(L, "copy", src, errno);
    errno = 0;
    if (fstat(g->fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        int err = errno;
        if (err == 0 || S_ISDIR(st.st_mode)) err = EISDIR;
        guard_release(g);
        return fail_errno(L, "copy", src, err);
    }
    c.fd = g->fd;
    c.was_interrupted = rr_interrupted();
    n = atomic_replace(L, dst, 1, mode >= 0 ? (mode_t)mode : st.st_mode & 07777, 1, fill_copy, &c);
    guard_release(g);
    if (!c.was_interrupted && rr_interrupted()) return rr_raise_interrupted(L);   /* its temporary file is gone */
    return n;
}

/* ---- stat, exists ------------------------------------------------------ */

static const char *type_name(mode_t m) {
    if (S_ISREG(m)) return "file";
    if (S_ISDIR(m)) return "directory";
    if (S_ISLNK(m)) return "link";
    return "other";
}

static void push_stat(lua_State *L, const struct stat *st) {
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, (lua_Integer)st->st_uid);
    lua_setfield(L, -2, "uid");
    lua_pushinteger(L, (lua_Integer)st->st_gid);
    lua_setfield(L, -2, "gid");
    lua_pushstring(L, type_name(st->st_mode));
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, (lua_Integer)st->st_size);
    lua_setfield(L, -2, "size");
    lua_pushnumber(L, (lua_Number)st->st_mtim.tv_sec + (lua_Number)st->st_mtim.tv_nsec / 1e9);
    lua_setfield(L, -2, "mtime");
    lua_pushinteger(L, (lua_Integer)(st->st_mode & 07777));
    lua_setfield(L, -2, "mode");
}

static int fs_stat(lua_State *L) {
    const char *path = check_cstr(L, 1);
    struct stat st;
    if (stat(path, &st) != 0) return fail_errno(L, "stat", path, errno);
    push_stat(L, &st);
    return 1;
}

static int fs_lstat(lua_State *L) {
    const char *path = check_cstr(L, 1);
    struct stat st;
    if (lstat(path, &st) != 0) return fail_errno(L, "lstat", path, errno);
    push_stat(L, &st);
    return 1;
}

static int fs_exists(lua_State *L) {
    struct stat st;
    lua_pushboolean(L, stat(check_cstr(L, 1), &st) == 0);
    return 1;
}

/* ---- mkdir -p ---------------------------------------------------------- */

static int mkdir_one(const char *p, mode_t mode) {
    struct stat st;
    if (mkdir(p, mode) == 0) return 0;
    if (errno == EEXIST && stat(p, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return 0;
        errno = ENOTDIR;
    }
    return -1;
}

static int fs_mkdir(lua_State *L) {
    const char *path = check_cstr(L, 1);
    size_t len = strlen(path);
    mode_t mode = lua_isnoneornil(L, 2) ? 0777 : check_mode(L, 2);
    char *p = (char *)lua_newuserdatauv(L, len + 1, 0);   /* a scratch copy Lua owns */
    memcpy(p, path, len + 1);
    /* Create each parent in turn, cutting the string at each slash. */
    for (size_t i = 1; i < len; i++) {
        if (p[i] != '/' || p[i - 1] == '/') continue;
        p[i] = '\0';
        if (mkdir_one(p, mode) != 0) return fail_errno(L, "mkdir", p, errno);
        p[i] = '/';
    }
    if (mkdir_one(p, mode) != 0) return fail_errno(L, "mkdir", path, errno);
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- remove ------------------------------------------------------------ */

/*
 * Recursive removal works through directory fds (openat with O_NOFOLLOW,
 * unlinkat), so a symlink inside the tree is removed as a link and never
 * followed, and a folder swapped for a link mid-way is not entered.
 * On failure `bad` holds the name that failed (relative to its folder).
 */
typedef struct { int err; char bad[NAME_MAX + 1]; } rm_state;

static int rm_note(rm_state *s, const char *name, int err) {
    if (s->err == 0) {
        s->err = err;
        strncpy(s->bad, name, sizeof s->bad - 1);
    }
    return -1;
}

static int rm_tree_at(int parent, const char *name, rm_state *s);

static int rm_contents(int dfd, rm_state *s) {
    DIR *d = fdopendir(dfd);
    struct dirent *e;
    int rc = 0;
    if (d == NULL) { close(dfd); return rm_note(s, ".", errno); }
    while ((errno = 0, e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (rm_tree_at(dirfd(d), e->d_name, s) != 0) rc = -1;
    }
    if (errno != 0) rc = rm_note(s, ".", errno);
    closedir(d);
    return rc;
}

static int rm_tree_at(int parent, const char *name, rm_state *s) {
    int fd;
    if (unlinkat(parent, name, 0) == 0 || errno == ENOENT) return 0;
    if (errno != EISDIR && errno != EPERM) return rm_note(s, name, errno);
    /* A folder (Linux says EISDIR, POSIX allows EPERM): empty it, then rmdir. */
    fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return rm_note(s, name, errno);
    if (rm_contents(fd, s) != 0) return -1;
    if (unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        return rm_note(s, name, errno);
    return 0;
}

/* ---- leftovers of dead relrun processes ------------------------------
 *
 * Every temporary file and folder relrun makes is named
 * NAME.relrun-PID-XXXXXX, PID being the process that made it. A process
 * killed before it could clean up (kill -9, a power cut) leaves one behind:
 * the next relrun that writes into that folder (fs.write, fs.copy, the
 * local repository) or makes a temporary folder in $TMPDIR (fs.tempdir,
 * the verify venv) removes those whose process is gone and which belong to
 * the same user. Each folder is looked at once per process. A process in
 * another PID namespace sharing the folder would look gone: relrun's
 * temporary folders are per user and per machine. */

#define SWEPT_KEY "relrun.fs.swept"   /* registry: folder -> true */

/* The PID in a name ending ".relrun-PID-XXXXXX" (X: mkstemp's letters), or 0. */
static pid_t leftover_pid(const char *name) {
    const char *m = NULL, *p, *end;
    long pid = 0;
    for (p = strstr(name, ".relrun-"); p != NULL; p = strstr(p + 1, ".relrun-")) m = p;
    if (m == NULL) return 0;
    p = m + 8;
    for (end = p; *end >= '0' && *end <= '9'; end++) pid = pid * 10 + (*end - '0');
    if (end == p || end - p > 9 || *end != '-' || strlen(end + 1) != 6) return 0;
    for (const char *x = end + 1; *x; x++)
        if (!((*x >= 'a' && *x <= 'z') || (*x >= 'A' && *x <= 'Z') || (*x >= '0' && *x <= '9'))) return 0;
    return (pid_t)pid;
}

static int process_gone(pid_t pid) {
    return pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH;
}

static void sweep_leftovers(lua_State *L, const char *dir) {
    DIR *d;
    struct dirent *e;
    luaL_getsubtable(L, LUA_REGISTRYINDEX, SWEPT_KEY);
    if (lua_getfield(L, -1, dir) != LUA_TNIL) {
        lua_pop(L, 2);
        return;
    }
    lua_pushboolean(L, 1);
    lua_setfield(L, -3, dir);
    lua_pop(L, 2);
    if ((d = opendir(dir)) == NULL) return;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        rm_state s;
        pid_t pid = leftover_pid(e->d_name);
        if (pid <= 0 || !process_gone(pid)) continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || st.st_uid != geteuid()) continue;
        memset(&s, 0, sizeof s);
        rm_tree_at(dirfd(d), e->d_name, &s); /* what cannot be removed stays */
    }
    closedir(d);
}

/* sweep(dir): remove what dead relruns left in dir now, as the first write
 * there would (once per folder per process). For a folder a run may not
 * write to at all: a rerun that finds everything in place. */
static int fs_sweep(lua_State *L) {
    sweep_leftovers(L, check_cstr(L, 1));
    lua_pushboolean(L, 1);
    return 1;
}

static int fs_remove(lua_State *L) {
    const char *path = check_cstr(L, 1);
    int recursive = 0;
    struct stat st;
    rm_state s;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        recursive = rr_optfield_boolean(L, 2, "recursive", 0);
    }
    /* rm -r's own refusals: these would empty the folder they name, or more. */
    push_basename(L, path, strlen(path));
    if (strcmp(lua_tostring(L, -1), ".") == 0 || strcmp(lua_tostring(L, -1), "..") == 0 ||
        strcmp(lua_tostring(L, -1), "/") == 0)
        return rr_failf(L, "EINVAL", "remove %s: refusing to remove '.', '..' or '/'", path);
    lua_pop(L, 1);
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) { lua_pushboolean(L, 1); return 1; }
        return fail_errno(L, "remove", path, errno);
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0 && errno != ENOENT) return fail_errno(L, "remove", path, errno);
    } else if (!recursive) {
        if (rmdir(path) != 0 && errno != ENOENT) return fail_errno(L, "remove", path, errno);
    } else {
        memset(&s, 0, sizeof s);
        if (rm_tree_at(AT_FDCWD, path, &s) != 0) {
            if (strcmp(s.bad, path) == 0 || strcmp(s.bad, ".") == 0)
                return fail_errno(L, "remove", path, s.err);
            lua_pushfstring(L, "%s (in the tree of %s)", s.bad, path);
            return fail_errno(L, "remove", lua_tostring(L, -1), s.err);
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- list, glob -------------------------------------------------------- */

static int not_dots(const struct dirent *e) {
    return strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
}

/* Byte order, not the locale's collation: the same result on every machine. */
static int by_bytes(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int fs_list(lua_State *L) {
    const char *path = check_cstr(L, 1);
    guard *g = guard_new(L);
    g->n = scandir(path, &g->names, not_dots, by_bytes);
    if (g->n < 0) {
        g->n = 0;
        g->names = NULL;
        return fail_errno(L, "list", path, errno);
    }
    lua_createtable(L, g->n, 0);
    for (int i = 0; i < g->n; i++) {
        lua_pushstring(L, g->names[i]->d_name);
        lua_rawseti(L, -2, i + 1);
    }
    lua_remove(L, -2);
    guard_release(g);
    return 1;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int fs_glob(lua_State *L) {
    const char *pattern = check_cstr(L, 1);
    guard *g = guard_new(L);
    int rc = glob(pattern, GLOB_NOSORT, NULL, &g->gl);
    g->globbed = 1;
    if (rc == GLOB_NOMATCH) g->gl.gl_pathc = 0;
    else if (rc != 0) {
        guard_release(g);
        if (rc == GLOB_NOSPACE) return luaL_error(L, "glob %s: out of memory", pattern);
        return rr_failf(L, "EIO", "glob %s: a folder could not be read", pattern);
    }
    if (g->gl.gl_pathc > 1) qsort(g->gl.gl_pathv, g->gl.gl_pathc, sizeof(char *), cmp_str);
    lua_createtable(L, (int)g->gl.gl_pathc, 0);
    for (size_t i = 0; i < g->gl.gl_pathc; i++) {
        lua_pushstring(L, g->gl.gl_pathv[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_remove(L, -2);
    guard_release(g);
    return 1;
}

/* ---- tempdir ----------------------------------------------------------- */

typedef struct {
    int open;
    char path[];   /* the mkdtemp template, then the folder's path */
} tempdir;

static tempdir *check_tempdir(lua_State *L) {
    tempdir *t = luaL_checkudata(L, 1, TEMPDIR_T);
    if (!t->open) luaL_error(L, "attempt to use a closed " TEMPDIR_T);
    return t;
}

/* Remove the folder; safe to call twice. Returns 0 or an errno. */
static int tempdir_release(tempdir *t, rm_state *s) {
    if (!t->open) return 0;
    t->open = 0;
    memset(s, 0, sizeof *s);
    if (rm_tree_at(AT_FDCWD, t->path, s) != 0) return s->err;
    return 0;
}

static int tempdir_gc(lua_State *L) {
    rm_state s;
    tempdir_release(luaL_checkudata(L, 1, TEMPDIR_T), &s);
    return 0;
}

static int tempdir_close(lua_State *L) {
    tempdir *t = luaL_checkudata(L, 1, TEMPDIR_T);
    rm_state s;
    int err = tempdir_release(t, &s);
    if (err != 0) return fail_errno(L, "remove temporary folder", t->path, err);
    lua_pushboolean(L, 1);
    return 1;
}

static int tempdir_index(lua_State *L) {
    tempdir *t = luaL_checkudata(L, 1, TEMPDIR_T);
    const char *key = check_cstr(L, 2);
    if (strcmp(key, "close") != 0) check_tempdir(L);  /* close stays idempotent */
    if (strcmp(key, "path") == 0) {
        lua_pushstring(L, t->path);
        return 1;
    }
    luaL_getmetatable(L, TEMPDIR_T);
    lua_getfield(L, -1, key);
    return 1;
}

static int tempdir_tostring(lua_State *L) {
    tempdir *t = luaL_checkudata(L, 1, TEMPDIR_T);
    if (t->open) lua_pushfstring(L, TEMPDIR_T " (%s)", t->path);
    else lua_pushliteral(L, TEMPDIR_T " (closed)");
    return 1;
}

/* tempdir([prefix [, dir]]): DIR (default $TMPDIR)/PREFIX.relrun-PID-XXXXXX
 * (a trailing "-" or "." of the prefix dropped), leftovers of dead
 * processes in that folder removed first. */
static int fs_tempdir(lua_State *L) {
    const char *prefix = lua_isnoneornil(L, 1) ? "relrun" : check_cstr(L, 1);
    const char *base = lua_isnoneornil(L, 2) ? getenv("TMPDIR") : check_cstr(L, 2);
    size_t n, plen = strlen(prefix);
    tempdir *t;
    luaL_argcheck(L, strchr(prefix, '/') == NULL, 1, "prefix must not contain '/'");
    if (base == NULL || *base == '\0') base = "/tmp";
    sweep_leftovers(L, base);
    while (plen > 0 && (prefix[plen - 1] == '-' || prefix[plen - 1] == '.')) plen--;
    lua_pushfstring(L, "%s/", base);
    lua_pushlstring(L, prefix, plen);
    lua_pushfstring(L, ".relrun-%d-XXXXXX", (int)getpid());
    lua_concat(L, 3);
    n = lua_rawlen(L, -1);
    t = rr_newhandle(L, sizeof *t + n + 1, TEMPDIR_T);
    memcpy(t->path, lua_tostring(L, -2), n + 1);
    if (mkdtemp(t->path) == NULL) return fail_errno(L, "create temporary folder in", base, errno);
    t->open = 1;
    return 1;
}

/* ---- paths ------------------------------------------------------------- */

/* join(a, b, ...): "/" between parts; an absolute part starts over; empty
 * parts are skipped. */
static int fs_join(lua_State *L) {
    int n = lua_gettop(L);
    luaL_Buffer b;
    int start = 1;
    for (int i = 1; i <= n; i++) {
        const char *s = check_cstr(L, i);
        if (s[0] == '/') start = i;
    }
    luaL_buffinit(L, &b);
    for (int i = start, first = 1; i <= n; i++) {
        size_t len;
        const char *s = lua_tolstring(L, i, &len);
        if (len == 0) continue;
        if (!first && luaL_bufflen(&b) > 0 && luaL_buffaddr(&b)[luaL_bufflen(&b) - 1] != '/')
            luaL_addchar(&b, '/');
        luaL_addlstring(&b, s, len);
        first = 0;
    }
    luaL_pushresult(&b);
    return 1;
}

static int fs_basename(lua_State *L) {
    size_t n;
    const char *p = luaL_checklstring(L, 1, &n);
    push_basename(L, p, n);
    return 1;
}

static int fs_dirname(lua_State *L) {
    size_t n;
    const char *p = luaL_checklstring(L, 1, &n);
    push_dirname(L, p, n);
    return 1;
}

static int push_cwd(lua_State *L) {
    char buf[PATH_MAX];
    if (getcwd(buf, sizeof buf) == NULL) return -1;
    lua_pushstring(L, buf);
    return 0;
}

static int fs_cwd(lua_State *L) {
    if (push_cwd(L) != 0) return fail_errno(L, "getcwd", ".", errno);
    return 1;
}

/* absolute(p): p against the current folder, "." and ".." resolved by text
 * alone (no symlinks are read; realpath does that). */
static int fs_absolute(lua_State *L) {
    size_t n;
    const char *p = luaL_checklstring(L, 1, &n);
    luaL_Buffer b;
    const char *s, *end;
    if (p[0] != '/') {
        if (push_cwd(L) != 0) return fail_errno(L, "getcwd", ".", errno);
        lua_pushliteral(L, "/");
        lua_pushvalue(L, 1);
        lua_concat(L, 3);
        p = lua_tolstring(L, -1, &n);
    }
    luaL_buffinit(L, &b);
    for (s = p, end = p + n; s < end;) {
        const char *e = memchr(s, '/', (size_t)(end - s));
        size_t len;
        if (e == NULL) e = end;
        len = (size_t)(e - s);
        if (len == 0 || (len == 1 && s[0] == '.')) {
            /* skip */
        } else if (len == 2 && s[0] == '.' && s[1] == '.') {
            while (luaL_bufflen(&b) > 0 && luaL_buffaddr(&b)[luaL_bufflen(&b) - 1] != '/')
                luaL_buffsub(&b, 1);
            if (luaL_bufflen(&b) > 0) luaL_buffsub(&b, 1);
        } else {
            luaL_addchar(&b, '/');
            luaL_addlstring(&b, s, len);
        }
        s = e + 1;
    }
    if (luaL_bufflen(&b) == 0) luaL_addchar(&b, '/');
    luaL_pushresult(&b);
    return 1;
}

static int fs_realpath(lua_State *L) {
    const char *path = check_cstr(L, 1);
    char buf[PATH_MAX];
    if (realpath(path, buf) == NULL) return fail_errno(L, "realpath", path, errno);
    lua_pushstring(L, buf);
    return 1;
}

/* ---- links, modes, renames --------------------------------------------- */

static int fs_chmod(lua_State *L) {
    const char *path = check_cstr(L, 1);
    if (chmod(path, check_mode(L, 2)) != 0) return fail_errno(L, "chmod", path, errno);
    lua_pushboolean(L, 1);
    return 1;
}

static int fs_rename(lua_State *L) {
    const char *from = check_cstr(L, 1);
    const char *to = check_cstr(L, 2);
    if (rename(from, to) != 0) {
        lua_pushfstring(L, "%s to %s", from, to);
        return fail_errno(L, "rename", lua_tostring(L, -1), errno);
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int fs_symlink(lua_State *L) {
    const char *target = check_cstr(L, 1);
    const char *path = check_cstr(L, 2);
    if (symlink(target, path) != 0) return fail_errno(L, "symlink", path, errno);
    lua_pushboolean(L, 1);
    return 1;
}

static int fs_readlink(lua_State *L) {
    const char *path = check_cstr(L, 1);
    char buf[PATH_MAX];
    ssize_t n = readlink(path, buf, sizeof buf);
    if (n < 0) return fail_errno(L, "readlink", path, errno);
    if ((size_t)n == sizeof buf) return fail_errno(L, "readlink", path, ENAMETOOLONG);
    lua_pushlstring(L, buf, (size_t)n);
    return 1;
}

/* ---- environment ------------------------------------------------------- */

/* isatty(fd): whether 0, 1 or 2 is a terminal (to ask before acting). */
static int fs_isatty(lua_State *L) {
    lua_Integer fd = luaL_checkinteger(L, 1);
    luaL_argcheck(L, fd >= 0 && fd <= 2, 1, "0 (stdin), 1 (stdout) or 2 (stderr)");
    lua_pushboolean(L, isatty((int)fd));
    return 1;
}

static int fs_getenv(lua_State *L) {
    const char *v = getenv(check_cstr(L, 1));
    if (v == NULL) lua_pushnil(L);
    else lua_pushstring(L, v);
    return 1;
}

static int fs_setenv(lua_State *L) {
    const char *name = check_cstr(L, 1);
    luaL_argcheck(L, *name != '\0' && strchr(name, '=') == NULL, 1,
                  "a variable name must be non-empty and without '='");
    if (lua_isnoneornil(L, 2)) {
        if (unsetenv(name) != 0) return fail_errno(L, "unsetenv", name, errno);
    } else if (setenv(name, check_cstr(L, 2), 1) != 0) {
        return fail_errno(L, "setenv", name, errno);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- lock: one holder at a time, across processes ------------------------
 *
 * An exclusive flock(2) on a file that is never removed (removing a lock
 * file lets a third process lock a new inode while the second still holds
 * the old one). The holder writes its pid and host into it, so a waiting
 * process can say who holds it. The kernel drops the lock when the holder
 * exits, however it exits: no stale locks. */

typedef struct {
    int fd;     /* -1 once released */
    int held;   /* the lock is ours: the note is ours to clear */
} lockh;

/* Write "pid host" into the lock file, for whoever waits. Best effort. */
static void lock_note_holder(int fd) {
    char host[256] = "?", note[320];
    int n;
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    n = snprintf(note, sizeof note, "%ld %s\n", (long)getpid(), host);
    if (ftruncate(fd, 0) == 0 && n > 0) (void)!pwrite(fd, note, (size_t)n, 0);
}

/* Push "pid N on HOST" from the lock file, or "another process". */
static void push_holder(lua_State *L, int fd) {
    char note[320];
    ssize_t n = pread(fd, note, sizeof note - 1, 0);
    long pid;
    char host[257];
    if (n > 0) {
        note[n] = '\0';
        if (sscanf(note, "%ld %256s", &pid, host) == 2) {
            lua_pushfstring(L, "pid %d on %s", (int)pid, host);
            return;
        }
    }
    lua_pushliteral(L, "another process");
}

static int lock_release(lockh *h) {
    int fd = h->fd;
    h->fd = -1;
    if (fd < 0) return 0;
    if (h->held && ftruncate(fd, 0) != 0) { /* the note is only a hint */ }
    h->held = 0;
    return close(fd);   /* closing the only descriptor drops the flock */
}

static int lock_gc(lua_State *L) {
    lock_release(luaL_checkudata(L, 1, LOCK_T));
    return 0;
}

static int lock_close(lua_State *L) {
    lock_release(luaL_checkudata(L, 1, LOCK_T));
    lua_pushboolean(L, 1);
    return 1;
}

static int lock_tostring(lua_State *L) {
    lockh *h = luaL_checkudata(L, 1, LOCK_T);
    lua_pushfstring(L, LOCK_T " (%s)", h->held ? "held" : "released");
    return 1;
}

/* lock(path [, { wait = seconds (0) }]) -> handle | nil, msg, "ELOCKED" or
 * an errno name. Waits up to `wait` seconds for the holder, in 50 ms steps
 * (Ctrl-C stops the wait). */
static int fs_lock(lua_State *L) {
    const char *path = check_cstr(L, 1);
    double wait = lua_istable(L, 2) ? rr_optfield_number(L, 2, "wait", 0) : 0;
    lockh *h = rr_newhandle(L, sizeof *h, LOCK_T);
    struct timespec start, now, step = {0, 50 * 1000 * 1000};
    h->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (h->fd < 0) return fail_errno(L, "lock", path, errno);
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (flock(h->fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR) continue;
        if (errno != EWOULDBLOCK) {
            int err = errno;
            lock_release(h);
            return fail_errno(L, "lock", path, err);
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9 >= wait) {
            lua_pushnil(L);
            push_holder(L, h->fd);
            lua_pushfstring(L, "%s is locked by %s (another run is using it; wait for it or stop it)", path,
                            lua_tostring(L, -1));
            lua_remove(L, -2);
            lua_pushliteral(L, "ELOCKED");
            lock_release(h);
            return 3;
        }
        if (rr_interrupted()) {
            lock_release(h);
            return rr_raise_interrupted(L);
        }
        nanosleep(&step, NULL);
    }
    h->held = 1;
    lock_note_holder(h->fd);
    return 1;
}

/* ---- module ------------------------------------------------------------ */

static const luaL_Reg fs_funcs[] = {
    {"read", fs_read}, {"write", fs_write}, {"append", fs_append}, {"copy", fs_copy},
    {"exists", fs_exists}, {"stat", fs_stat}, {"lstat", fs_lstat},
    {"mkdir", fs_mkdir}, {"remove", fs_remove}, {"list", fs_list}, {"glob", fs_glob},
    {"tempdir", fs_tempdir},
    {"join", fs_join}, {"basename", fs_basename}, {"dirname", fs_dirname},
    {"absolute", fs_absolute}, {"cwd", fs_cwd}, {"realpath", fs_realpath},
    {"chmod", fs_chmod}, {"rename", fs_rename}, {"symlink", fs_symlink},
    {"readlink", fs_readlink}, {"getenv", fs_getenv}, {"isatty", fs_isatty}, {"setenv", fs_setenv},
    {"lock", fs_lock}, {"sweep", fs_sweep},
    {NULL, NULL}};

static const luaL_Reg lock_methods[] = {
    {"close", lock_close}, {"__close", lock_gc}, {"__gc", lock_gc},
    {"__tostring", lock_tostring}, {NULL, NULL}};

static const luaL_Reg tempdir_methods[] = {
    {"close", tempdir_close}, {"__close", tempdir_gc}, {"__gc", tempdir_gc},
    {"__tostring", tempdir_tostring}, {NULL, NULL}};

int luaopen_relrun_fs(lua_State *L) {
    luaL_newmetatable(L, GUARD_T);
    lua_pushcfunction(L, guard_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    rr_newclass(L, TEMPDIR_T, tempdir_methods);
    rr_newclass(L, LOCK_T, lock_methods);
    luaL_getmetatable(L, TEMPDIR_T);
    lua_pushcfunction(L, tempdir_index);   /* .path, and methods only while open */
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, fs_funcs);
    return 1;
}
