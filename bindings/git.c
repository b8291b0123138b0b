/*
 * relrun.git: the repository primitives a release needs, over libgit2 1.5.
 *
 * Two things here are relrun's own rather than libgit2's, because they must
 * print exactly what git prints (setuptools_scm copies git's output):
 *   - abbreviated ids: git's auto length from the approximate object count,
 *     lengthened while ambiguous (libgit2 always starts at 7);
 *   - describe: git's candidate walk (builtin/describe.c's algorithm, written
 *     anew), fed by the commit-graph file when there is one, else by commit
 *     heads inflated straight from the pack files (libgit2 for the rest).
 *     libgit2's own describe is slower than git's and ignores the graph.
 *
 * Sections: errors and library lifetime; the repository handle; abbrev;
 * head and status; the commit-graph reader; commits from pack files; the
 * describe walk; tags; log and graph queries; remotes; the module.
 *
 * Memory rule: C allocations that live while Lua values are pushed belong
 * to a guard userdata (below), so an out-of-memory error never leaks them.
 */
#include "rr.h"

#include <git2.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define REPO_T "relrun.git.repository"
#define LIB_T "relrun.git.library"

/* ---- errors and library lifetime --------------------------------------- */

static const char *code_name(int err) {
    switch (err) {
    case GIT_ENOTFOUND: return "GIT_ENOTFOUND";
    case GIT_EEXISTS: return "GIT_EEXISTS";
    case GIT_EAMBIGUOUS: return "GIT_EAMBIGUOUS";
    case GIT_EBUFS: return "GIT_EBUFS";
    case GIT_EUSER: return "GIT_EUSER";
    case GIT_EBAREREPO: return "GIT_EBAREREPO";
    case GIT_EUNBORNBRANCH: return "GIT_EUNBORNBRANCH";
    case GIT_EUNMERGED: return "GIT_EUNMERGED";
    case GIT_ENONFASTFORWARD: return "GIT_ENONFASTFORWARD";
    case GIT_EINVALIDSPEC: return "GIT_EINVALIDSPEC";
    case GIT_ECONFLICT: return "GIT_ECONFLICT";
    case GIT_ELOCKED: return "GIT_ELOCKED";
    case GIT_EMODIFIED: return "GIT_EMODIFIED";
    case GIT_EAUTH: return "GIT_EAUTH";
    case GIT_ECERTIFICATE: return "GIT_ECERTIFICATE";
    case GIT_EAPPLIED: return "GIT_EAPPLIED";
    case GIT_EPEEL: return "GIT_EPEEL";
    case GIT_EEOF: return "GIT_EEOF";
    case GIT_EINVALID: return "GIT_EINVALID";
    case GIT_EUNCOMMITTED: return "GIT_EUNCOMMITTED";
    case GIT_EDIRECTORY: return "GIT_EDIRECTORY";
    case GIT_EMERGECONFLICT: return "GIT_EMERGECONFLICT";
    case GIT_PASSTHROUGH: return "GIT_PASSTHROUGH";
    case GIT_ITEROVER: return "GIT_ITEROVER";
    case GIT_EMISMATCH: return "GIT_EMISMATCH";
    case GIT_EINDEXDIRTY: return "GIT_EINDEXDIRTY";
    case GIT_EAPPLYFAIL: return "GIT_EAPPLYFAIL";
    case GIT_EOWNER: return "GIT_EOWNER";
    default: return "GIT_ERROR";
    }
}

static const char *class_name(int klass) {
    static const char *const names[] = {
        "none", "nomemory", "os", "invalid", "reference", "zlib", "repository",
        "config", "regex", "odb", "index", "object", "net", "tag", "tree",
        "indexer", "ssl", "submodule", "thread", "stash", "checkout",
        "fetchhead", "merge", "ssh", "filter", "revert", "callback",
        "cherrypick", "describe", "rebase", "filesystem", "patch", "worktree",
        "sha", "http", "internal"};
    if (klass < 0 || (size_t)klass >= sizeof names / sizeof names[0]) return "unknown";
    return names[klass];
}

/* nil, "<what>: <libgit2 message> (libgit2 <class> error)", "GIT_<CODE>". */
static int git_fail(lua_State *L, int err, const char *what) {
    const git_error *e = git_error_last();
    if (e == NULL || e->message == NULL)
        return rr_failf(L, code_name(err), "%s: libgit2 error %d", what, err);
    return rr_failf(L, code_name(err), "%s: %s (libgit2 %s error)", what, e->message,
                    class_name(e->klass));
}

/* libgit2 is initialised on the first open and shut down when the Lua state
 * closes: a registry userdata whose __gc runs last among ours, since every
 * repository handle is created after it and finalised before it. */
static int lib_gc(lua_State *L) {
    int *live = luaL_checkudata(L, 1, LIB_T);
    if (*live) git_libgit2_shutdown();
    *live = 0;
    return 0;
}

static void lib_ensure(lua_State *L) {
    int *live;
    if (lua_getfield(L, LUA_REGISTRYINDEX, LIB_T) != LUA_TNIL) { lua_pop(L, 1); return; }
    lua_pop(L, 1);
    live = lua_newuserdatauv(L, sizeof *live, 0);
    *live = 0;
    if (luaL_newmetatable(L, LIB_T)) {
        lua_pushcfunction(L, lib_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    if (git_libgit2_init() < 0) luaL_error(L, "relrun.git: libgit2 failed to initialise");
    *live = 1;
    lua_setfield(L, LUA_REGISTRYINDEX, LIB_T);
}

/* A guard owns C memory while Lua values are pushed (which may raise on
 * out-of-memory): its __gc frees what an error left behind, and
 * guard_release frees it at once on the normal path. */
#define GUARD_T "relrun.git.guard"

typedef struct {
    void *ptr;
    void (*release)(void *);
} guard;

static int guard_gc(lua_State *L) {
    guard *g = luaL_checkudata(L, 1, GUARD_T);
    if (g->ptr != NULL) g->release(g->ptr);
    g->ptr = NULL;
    return 0;
}

/* Push a guard (before the resource exists, so no leak if this raises). */
static guard *guard_new(lua_State *L, void (*release)(void *)) {
    guard *g = lua_newuserdatauv(L, sizeof *g, 0);
    g->ptr = NULL;
    g->release = release;
    if (luaL_newmetatable(L, GUARD_T)) {
        lua_pushcfunction(L, guard_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return g;
}

static void guard_release(guard *g) {
    if (g->ptr != NULL) g->release(g->ptr);
    g->ptr = NULL;
}

/* ---- the repository handle --------------------------------------------- */

typedef struct {
    git_repository *repo;
} repo_handle;

static int repo_close(lua_State *L) {
    repo_handle *h = luaL_checkudata(L, 1, REPO_T);
    if (h->repo != NULL) git_repository_free(h->repo);
    h->repo = NULL;
    return 0;
}

static git_repository *check_repo(lua_State *L) {
    repo_handle *h = luaL_checkudata(L, 1, REPO_T);
    if (h->repo == NULL) luaL_error(L, "attempt to use a closed " REPO_T);
    return h->repo;
}

static int l_open(lua_State *L) {
    const char *path = luaL_optstring(L, 1, ".");
    repo_handle *h;
    int err;
    lib_ensure(L);
    h = rr_newhandle(L, sizeof *h, REPO_T);
    err = git_repository_open_ext(&h->repo, path, 0, NULL);
    if (err == GIT_ENOTFOUND)
        return rr_failf(L, "GIT_ENOTFOUND",
                        "not a git repository: %s (nor any parent folder); run relrun in "
                        "a checkout or pass its path", path);
    if (err < 0) return git_fail(L, err, "cannot open git repository");
    return 1;
}

static int l_init(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    int bare = lua_istable(L, 2) ? rr_optfield_boolean(L, 2, "bare", 0) : 0;
    repo_handle *h;
    int err;
    lib_ensure(L);
    h = rr_newhandle(L, sizeof *h, REPO_T);
    err = git_repository_init(&h->repo, path, (unsigned)bare);
    if (err < 0) return git_fail(L, err, "cannot create git repository");
    return 1;
}

static int r_tostring(lua_State *L) {
    repo_handle *h = luaL_checkudata(L, 1, REPO_T);
    if (h->repo == NULL) lua_pushliteral(L, "git repository (closed)");
    else lua_pushfstring(L, "git repository (%s)", git_repository_path(h->repo));
    return 1;
}

static int r_path(lua_State *L) {
    lua_pushstring(L, git_repository_path(check_repo(L)));
    return 1;
}

static int r_workdir(lua_State *L) {
    const char *w = git_repository_workdir(check_repo(L));
    if (w == NULL) lua_pushnil(L);
    else lua_pushstring(L, w);
    return 1;
}

static int r_is_shallow(lua_State *L) {
    lua_pushboolean(L, git_repository_is_shallow(check_repo(L)) == 1);
    return 1;
}

/* Empty: HEAD unborn and no reference at all. (libgit2's is_empty also
 * wants HEAD on its idea of the default branch, which `git init -b main`
 * does not match.) */
static int r_is_empty(lua_State *L) {
    git_repository *repo = check_repo(L);
    git_reference_iterator *it;
    git_reference *ref;
    int unborn = git_repository_head_unborn(repo), err;
    if (unborn < 0) return git_fail(L, unborn, "cannot read HEAD");
    if (unborn == 1 && (err = git_reference_iterator_new(&it, repo)) == 0) {
        if (git_reference_next(&ref, it) == 0) {
            git_reference_free(ref);
            unborn = 0;
        }
        git_reference_iterator_free(it);
    }
    lua_pushboolean(L, unborn == 1);
    return 1;
}

static void push_oid(lua_State *L, const git_oid *id) {
    char hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(hex, sizeof hex, id);
    lua_pushstring(L, hex);
}

/* Resolve a revision to the object id it names (rev-parse semantics). */
static int resolve(git_repository *repo, const char *spec, git_oid *out) {
    git_object *obj;
    int err = git_revparse_single(&obj, repo, spec);
    if (err < 0) return err;
    git_oid_cpy(out, git_object_id(obj));
    git_object_free(obj);
    return 0;
}

/* Resolve a revision to a commit id (peeling tags). */
static int resolve_commit(git_repository *repo, const char *spec, git_oid *out) {
    git_object *obj, *peeled;
    int err = git_revparse_single(&obj, repo, spec);
    if (err < 0) return err;
    err = git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT);
    git_object_free(obj);
    if (err < 0) return err;
    git_oid_cpy(out, git_object_id(peeled));
    git_object_free(peeled);
    return 0;
}

static int fail_rev(lua_State *L, int err, const char *spec) {
    if (err == GIT_ENOTFOUND || err == GIT_EINVALIDSPEC || err == GIT_EAMBIGUOUS ||
        err == GIT_EPEEL) {
        const git_error *e = git_error_last();
        return rr_failf(L, code_name(err), "unknown revision '%s': %s", spec,
                        e && e->message ? e->message : "not found");
    }
    return git_fail(L, err, "cannot resolve revision");
}

static int r_rev_parse(lua_State *L) {
    git_repository *repo = check_repo(L);
    const char *spec = luaL_checkstring(L, 2);
    git_oid id;
    int err = resolve(repo, spec, &id);
    if (err < 0) return fail_rev(L, err, spec);
    push_oid(L, &id);
    return 1;
}

static int r_config(lua_State *L) {
    git_repository *repo = check_repo(L);
    const char *key = luaL_checkstring(L, 2);
    git_config *cfg;
    git_buf buf = GIT_BUF_INIT;
    int err = git_repository_config_snapshot(&cfg, repo);
    if (err < 0) return git_fail(L, err, "cannot read git config");
    err = git_config_get_string_buf(&buf, cfg, key);
    git_config_free(cfg);
    if (err == GIT_ENOTFOUND) { lua_pushnil(L); return 1; }
    if (err < 0) return git_fail(L, err, "cannot read git config");
    {
        luaL_Buffer b; /* copy out first: the git_buf must not outlive a raise */
        size_t size = buf.size;
        char *copy = luaL_buffinitsize(L, &b, size);
        memcpy(copy, buf.ptr, size);
        git_buf_dispose(&buf);
        luaL_pushresultsize(&b, size);
    }
    return 1;
}

/* ---- abbreviated ids, as git prints them --------------------------------- */

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const unsigned char *p) {
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static const unsigned char *map_file(const char *path, size_t *size) {
    struct stat st;
    void *m;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    if (fstat(fd, &st) != 0 || st.st_size == 0) { close(fd); return NULL; }
    m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return NULL;
    *size = (size_t)st.st_size;
    return m;
}

/* The object count in a pack index: the last fan-out entry (v1 and v2). */
static unsigned long idx_object_count(const char *path) {
    unsigned char buf[8 + 256 * 4];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    n = read(fd, buf, sizeof buf);
    close(fd);
    if (n < (ssize_t)(256 * 4)) return 0;
    if (memcmp(buf, "\377tOc", 4) == 0) {
        if (n < (ssize_t)sizeof buf) return 0;
        return be32(buf + 8 + 255 * 4);
    }
    return be32(buf + 255 * 4);
}

/* The object count of a multi-pack-index (its OIDF fan-out's last entry);
 * 0 if there is none. Format: git's Documentation/gitformat-pack.txt. */
static unsigned long midx_object_count(const char *path) {
    size_t size;
    unsigned long count = 0;
    const unsigned char *m = map_file(path, &size);
    if (m == NULL) return 0;
    if (size >= 12 && memcmp(m, "MIDX", 4) == 0 && m[4] == 1 &&
        12 + (size_t)(m[6] + 1) * 12 <= size) {
        for (unsigned i = 0; i < m[6]; i++) {
            const unsigned char *e = m + 12 + i * 12;
            uint64_t off = be64(e + 4), end = be64(e + 16);
            if (memcmp(e, "OIDF", 4) == 0 && off <= end && end <= size && end - off == 1024)
                count = be32(m + off + 255 * 4);
        }
    }
    munmap((void *)m, size);
    return count;
}

/* Objects in one object folder's packs, as git 2.39 counts them: the
 * multi-pack-index's objects plus every pack's. (git adds a pack the
 * multi-pack-index covers once it has read from it, so after reading
 * objects — describe, log — it counts those twice; `git rev-parse --short
 * <full id>`, which reads nothing first, does not. We follow the former.) */
static unsigned long pack_object_count(const char *objects) {
    char dir[4200], file[4200 + 264]; /* room for dir + a file name */
    unsigned long count;
    struct dirent *de;
    DIR *d;
    snprintf(dir, sizeof dir, "%s/pack", objects);
    snprintf(file, sizeof file, "%s/multi-pack-index", dir);
    count = midx_object_count(file);
    if ((d = opendir(dir)) == NULL) return count;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        struct stat st;
        if (len < 5 || strcmp(de->d_name + len - 4, ".idx") != 0) continue;
        snprintf(file, sizeof file, "%s/%.*s.pack", dir, (int)(len - 4), de->d_name);
        if (stat(file, &st) != 0) continue;
        snprintf(file, sizeof file, "%s/%s", dir, de->d_name);
        count += idx_object_count(file);
    }
    closedir(d);
    return count;
}

/* This folder's packs and those of its alternates (objects/info/alternates,
 * paths absolute or relative to the folder; git follows 5 levels). */
static unsigned long object_count_in(const char *objects, int depth) {
    char path[4200], line[4096];
    unsigned long count = pack_object_count(objects);
    FILE *f;
    if (depth >= 5) return count;
    if (snprintf(path, sizeof path, "%s/info/alternates", objects) >= (int)sizeof path) return count;
    if ((f = fopen(path, "re")) == NULL) return count;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#') continue;
        if (line[0] == '/') snprintf(path, sizeof path, "%s", line);
        else if (snprintf(path, sizeof path, "%s/%s", objects, line) >= (int)sizeof path) continue;
        count += object_count_in(path, depth + 1);
    }
    fclose(f);
    return count;
}

/* git's repo_approximate_object_count: the objects in packs (a
 * multi-pack-index counts for the packs it covers), alternates included;
 * loose objects are not counted (object-name.c, packfile.c). */
static unsigned long approximate_object_count(git_repository *repo) {
    char objects[4096];
    snprintf(objects, sizeof objects, "%sobjects", git_repository_commondir(repo));
    return object_count_in(objects, 0);
}

/* The length git starts from: core.abbrev, else max(7, ceil((msb(n)+1)/2))
 * with n the approximate object count (git's find_unique_abbrev_r). */
static int abbrev_base(git_repository *repo) {
    git_config *cfg;
    git_buf buf = GIT_BUF_INIT;
    int len = -1;
    if (git_repository_config_snapshot(&cfg, repo) == 0) {
        if (git_config_get_string_buf(&buf, cfg, "core.abbrev") == 0) {
            if (strcmp(buf.ptr, "no") == 0 || strcmp(buf.ptr, "false") == 0) len = GIT_OID_HEXSZ;
            else if (strcmp(buf.ptr, "auto") != 0) len = atoi(buf.ptr);
            if (len != -1 && len < 4) len = 4;
            if (len > GIT_OID_HEXSZ) len = GIT_OID_HEXSZ;
            git_buf_dispose(&buf);
        }
        git_config_free(cfg);
    }
    if (len < 0) {
        unsigned long n = approximate_object_count(repo);
        int msb = 0;
        while (n >>= 1) msb++;
        len = (msb + 1 + 1) / 2;
        if (len < 7) len = 7;
    }
    return len;
}

/* Lengthen from `len` while another object shares the prefix. */
static int abbrev_unique(git_odb *odb, const git_oid *id, int len) {
    while (len < GIT_OID_HEXSZ) {
        git_oid found;
        int err = git_odb_exists_prefix(&found, odb, id, (size_t)len);
        if (err != GIT_EAMBIGUOUS) break;
        len++;
    }
    return len;
}

static void free_odb(void *p) { git_odb_free(p); }
static void free_object(void *p) { git_object_free(p); }

/* Abbreviates ids for the length of one call: the base length is read once.
 * abbrev_open pushes a guard that owns the odb (place it before results). */
typedef struct {
    git_odb *odb;
    guard *g;
    int base;
} abbrev_ctx;

static int abbrev_open(lua_State *L, abbrev_ctx *a, git_repository *repo) {
    int err;
    a->g = guard_new(L, free_odb);
    a->base = abbrev_base(repo);
    err = git_repository_odb(&a->odb, repo);
    a->g->ptr = err < 0 ? NULL : a->odb;
    return err;
}

static void abbrev_close(abbrev_ctx *a) {
    guard_release(a->g);
    a->odb = NULL;
}

static void abbrev_push(lua_State *L, abbrev_ctx *a, const git_oid *id) {
    char hex[GIT_OID_HEXSZ + 1];
    int len = abbrev_unique(a->odb, id, a->base);
    git_oid_tostr(hex, sizeof hex, id);
    lua_pushlstring(L, hex, (size_t)len);
}

static int r_abbrev(lua_State *L) {
    git_repository *repo = check_repo(L);
    const char *spec = luaL_checkstring(L, 2);
    abbrev_ctx a;
    git_oid id;
    int err = resolve(repo, spec, &id);
    if (err < 0) return fail_rev(L, err, spec);
    if ((err = abbrev_open(L, &a, repo)) < 0) return git_fail(L, err, "cannot open object database");
    abbrev_push(L, &a, &id);
    abbrev_close(&a);
    return 1;
}

/* ---- head and status ------------------------------------------------------ */

static void free_ref(void *p) { git_reference_free(p); }

static void set_bool(lua_State *L, const char *key, int v) {
    lua_pushboolean(L, v);
    lua_setfield(L, -2, key);
}

/* [t] HEAD names a branch with no commit yet: say which. */
static void head_unborn(lua_State *L, git_repository *repo, guard *g) {
    git_reference *head;
    set_bool(L, "unborn", 1);
    set_bool(L, "detached", 0);
    if (git_reference_lookup(&head, repo, "HEAD") == 0) {
        const char *t = git_reference_symbolic_target(head);
        g->ptr = head;
        if (t != NULL && strncmp(t, "refs/heads/", 11) == 0) {
            lua_pushstring(L, t + 11);
            lua_setfield(L, -2, "branch");
        }
    }
}

/* [t] fields of a HEAD that resolves to a commit. */
static void head_born(lua_State *L, git_repository *repo, git_reference *ref, abbrev_ctx *a) {
    const git_oid *id = git_reference_target(ref);
    int detached = git_repository_head_detached(repo) == 1;
    set_bool(L, "unborn", 0);
    set_bool(L, "detached", detached);
    if (!detached && git_reference_is_branch(ref)) {
        lua_pushstring(L, git_reference_shorthand(ref));
        lua_setfield(L, -2, "branch");
    }
    if (id != NULL) {
        push_oid(L, id);
        lua_setfield(L, -2, "id");
        abbrev_push(L, a, id);
        lua_setfield(L, -2, "short");
    }
}

static int r_head(lua_State *L) {
    git_repository *repo = check_repo(L);
    guard *g = guard_new(L, free_ref);
    git_reference *ref = NULL;
    abbrev_ctx a;
    int err = git_repository_head(&ref, repo), oerr;
    g->ptr = ref;
    if ((oerr = abbrev_open(L, &a, repo)) < 0) return git_fail(L, oerr, "cannot open object database");
    if (err < 0 && err != GIT_EUNBORNBRANCH && err != GIT_ENOTFOUND)
        return git_fail(L, err, "cannot read HEAD");
    lua_createtable(L, 0, 5);
    if (err < 0) head_unborn(L, repo, g);
    else head_born(L, repo, ref, &a);
    abbrev_close(&a);
    guard_release(g);
    return 1;
}

static const char *status_word(unsigned s) {
    if (s & GIT_STATUS_CONFLICTED) return "conflicted";
    if (s & (GIT_STATUS_INDEX_NEW)) return "added";
    if (s & (GIT_STATUS_INDEX_DELETED | GIT_STATUS_WT_DELETED)) return "deleted";
    if (s & (GIT_STATUS_INDEX_RENAMED | GIT_STATUS_WT_RENAMED)) return "renamed";
    if (s & (GIT_STATUS_INDEX_TYPECHANGE | GIT_STATUS_WT_TYPECHANGE)) return "typechange";
    if (s & (GIT_STATUS_INDEX_MODIFIED | GIT_STATUS_WT_MODIFIED)) return "modified";
    if (s & GIT_STATUS_WT_NEW) return "untracked";
    return "unknown";
}

static const char *status_path(const git_status_entry *e) {
    if (e->head_to_index != NULL) return e->head_to_index->new_file.path;
    if (e->index_to_workdir != NULL) return e->index_to_workdir->new_file.path;
    return "";
}

static void push_status_entry(lua_State *L, const git_status_entry *e) {
    unsigned idx = GIT_STATUS_INDEX_NEW | GIT_STATUS_INDEX_MODIFIED | GIT_STATUS_INDEX_DELETED |
                   GIT_STATUS_INDEX_RENAMED | GIT_STATUS_INDEX_TYPECHANGE;
    lua_createtable(L, 0, 3);
    lua_pushstring(L, status_path(e));
    lua_setfield(L, -2, "path");
    lua_pushstring(L, status_word(e->status));
    lua_setfield(L, -2, "status");
    lua_pushboolean(L, (e->status & idx) != 0);
    lua_setfield(L, -2, "staged");
}

/* Tracked changes make the tree dirty; untracked files are listed but do
 * not (as `git describe --dirty` and setuptools_scm decide). */
static void free_status(void *p) { git_status_list_free(p); }

static int r_status(lua_State *L) {
    git_repository *repo = check_repo(L);
    guard *g = guard_new(L, free_status);
    git_status_options opts;
    git_status_list *list;
    size_t n;
    int dirty = 0, err;
    if (git_repository_is_bare(repo))
        return rr_fail(L, "cannot read status: the repository is bare (no working tree)",
                       "GIT_EBAREREPO");
    git_status_options_init(&opts, GIT_STATUS_OPTIONS_VERSION);
    opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
    opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS |
                 GIT_STATUS_OPT_RENAMES_HEAD_TO_INDEX | GIT_STATUS_OPT_SORT_CASE_SENSITIVELY;
    err = git_status_list_new(&list, repo, &opts);
    if (err < 0) return git_fail(L, err, "cannot read status");
    g->ptr = list;
    n = git_status_list_entrycount(list);
    lua_createtable(L, 0, 2);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        const git_status_entry *e = git_status_byindex(list, i);
        if (e->status == GIT_STATUS_CURRENT || (e->status & GIT_STATUS_IGNORED)) continue;
        if (e->status != GIT_STATUS_WT_NEW) dirty = 1;
        push_status_entry(L, e);
        lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    }
    guard_release(g);
    lua_setfield(L, -2, "files");
    lua_pushboolean(L, dirty);
    lua_setfield(L, -2, "dirty");
    return 1;
}

/* ---- the commit-graph reader (git's Documentation/gitformat-commit-graph) --
 * A file, or a chain of files (objects/info/commit-graphs), maps each commit
 * to a position; positions count on across the chain, base first. CDAT gives
 * per commit: tree, two parent positions (0x70000000 = none; high bit set on
 * the second = an index into EDGE for octopus merges), then generation and
 * 34-bit commit time. */

#define GRAPH_NO_PARENT 0x70000000u
#define GRAPH_EXTRA_EDGES 0x80000000u
#define GRAPH_MAX_LAYERS 64

typedef struct {
    const unsigned char *map;
    size_t size;
    const unsigned char *fanout, *oids, *cdat, *edges;
    uint32_t count, nedges, base; /* base: global position of this layer's first commit */
} graph_layer;

typedef struct {
    graph_layer layer[GRAPH_MAX_LAYERS];
    int nlayers;
    uint32_t total;
} commit_graph;

/* Map one graph file and find its chunks; 0 when it is usable. */
static int graph_layer_open(graph_layer *g, const char *path) {
    struct stat st;
    const unsigned char *m;
    unsigned nchunks;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    memset(g, 0, sizeof *g);
    if (fd < 0) return -1;
    if (fstat(fd, &st) != 0 || st.st_size < 8 + 12 + 20) { close(fd); return -1; }
    m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return -1;
    g->map = m;
    g->size = (size_t)st.st_size;
    /* header: "CGPH", version 1, hash version 1 (SHA-1), chunk count, base count */
    if (memcmp(m, "CGPH", 4) != 0 || m[4] != 1 || m[5] != 1) return -1;
    nchunks = m[6];
    if (8 + (size_t)(nchunks + 1) * 12 > g->size) return -1;
    for (unsigned i = 0; i < nchunks; i++) {
        const unsigned char *e = m + 8 + i * 12;
        uint64_t off = be64(e + 4), end = be64(e + 16);
        if (off > end || end > g->size) return -1;
        if (memcmp(e, "OIDF", 4) == 0 && end - off == 1024) g->fanout = m + off;
        else if (memcmp(e, "OIDL", 4) == 0) { g->oids = m + off; g->count = (uint32_t)((end - off) / 20); }
        else if (memcmp(e, "CDAT", 4) == 0) g->cdat = m + off;
        else if (memcmp(e, "EDGE", 4) == 0) { g->edges = m + off; g->nedges = (uint32_t)((end - off) / 4); }
    }
    if (g->fanout == NULL || g->oids == NULL || g->cdat == NULL) return -1;
    if (be32(g->fanout + 255 * 4) != g->count) return -1;
    if ((size_t)(g->cdat - m) + (size_t)g->count * 36 > g->size) return -1;
    return 0;
}

static void graph_close(commit_graph *cg) {
    for (int i = 0; i < cg->nlayers; i++)
        if (cg->layer[i].map != NULL) munmap((void *)cg->layer[i].map, cg->layer[i].size);
    cg->nlayers = 0;
    cg->total = 0;
}

static int graph_add_layer(commit_graph *cg, const char *path) {
    graph_layer *g;
    if (cg->nlayers == GRAPH_MAX_LAYERS) return -1;
    g = &cg->layer[cg->nlayers];
    if (graph_layer_open(g, path) != 0) {
        if (g->map != NULL) munmap((void *)g->map, g->size);
        return -1;
    }
    g->base = cg->total;
    cg->total += g->count;
    cg->nlayers++;
    return 0;
}

/* Open the single file, else the chain; 0 when a graph is there to use. */
static int graph_open(commit_graph *cg, const char *objects) {
    char path[4352], line[128];
    FILE *chain;
    cg->nlayers = 0;
    cg->total = 0;
    snprintf(path, sizeof path, "%s/info/commit-graph", objects);
    if (graph_add_layer(cg, path) == 0) return 0;
    snprintf(path, sizeof path, "%s/info/commit-graphs/commit-graph-chain", objects);
    chain = fopen(path, "re");
    if (chain == NULL) return -1;
    while (fgets(line, sizeof line, chain) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        snprintf(path, sizeof path, "%s/info/commit-graphs/graph-%s.graph", objects, line);
        if (graph_add_layer(cg, path) != 0) { graph_close(cg); break; }
    }
    fclose(chain);
    return cg->nlayers > 0 ? 0 : -1;
}

/* The global position of a commit, or -1 when the graph does not have it. */
static int64_t graph_find(const commit_graph *cg, const git_oid *id) {
    for (int i = cg->nlayers - 1; i >= 0; i--) {
        const graph_layer *g = &cg->layer[i];
        uint32_t lo = id->id[0] ? be32(g->fanout + (id->id[0] - 1) * 4) : 0;
        uint32_t hi = be32(g->fanout + id->id[0] * 4);
        if (hi > g->count || lo > hi) continue;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            int c = memcmp(g->oids + (size_t)mid * 20, id->id, 20);
            if (c == 0) return (int64_t)g->base + mid;
            if (c < 0) lo = mid + 1;
            else hi = mid;
        }
    }
    return -1;
}

static const graph_layer *graph_layer_of(const commit_graph *cg, uint32_t pos) {
    for (int i = cg->nlayers - 1; i >= 0; i--)
        if (pos >= cg->layer[i].base) return &cg->layer[i];
    return NULL;
}

static void graph_oid(const commit_graph *cg, uint32_t pos, git_oid *out) {
    const graph_layer *g = graph_layer_of(cg, pos);
    memcpy(out->id, g->oids + (size_t)(pos - g->base) * 20, 20);
}

/* ---- commits straight from pack files -------------------------------------
 * The walk needs only a commit's parents and committer date, which sit in
 * its first lines. Reading the pack directly (index v2 lookup, then inflate
 * only up to the committer line with one reused zlib stream) is what makes
 * describe without a commit-graph faster than git, which inflates every
 * commit whole. Anything else (a deltified commit, a loose object, an
 * alternate) is read through libgit2. Formats: git's
 * Documentation/gitformat-pack.txt. */

typedef struct {
    const unsigned char *idx, *pack;
    size_t idx_size, pack_size;
    uint32_t count;
    const unsigned char *fanout, *names, *offsets, *large;
    uint32_t nlarge;
} pack_file;

typedef struct {
    pack_file *pack;
    size_t npacks;
    z_stream z;
    int z_ready;
    unsigned char *buf;
    size_t bufsize;
} pack_reader;

/* Map a pack and its v2 index; 0 when both look sound. */
static int pack_open(pack_file *p, const char *idx_path, const char *pack_path) {
    size_t need;
    memset(p, 0, sizeof *p);
    if ((p->idx = map_file(idx_path, &p->idx_size)) == NULL) return -1;
    if (p->idx_size < 8 + 1024 + 40 || memcmp(p->idx, "\377tOc", 4) != 0 || be32(p->idx + 4) != 2)
        return -1;
    p->fanout = p->idx + 8;
    p->count = be32(p->fanout + 255 * 4);
    p->names = p->fanout + 1024;
    p->offsets = p->names + (size_t)p->count * 24; /* names, then crc32s, then offsets */
    p->large = p->offsets + (size_t)p->count * 4;
    need = 8 + 1024 + (size_t)p->count * 28 + 40;
    if (need > p->idx_size) return -1;
    p->nlarge = (uint32_t)((p->idx_size - need) / 8);
    if ((p->pack = map_file(pack_path, &p->pack_size)) == NULL) return -1;
    if (p->pack_size < 12 + 20 || memcmp(p->pack, "PACK", 4) != 0) return -1;
    return 0;
}

static void pack_close(pack_file *p) {
    if (p->idx != NULL) munmap((void *)p->idx, p->idx_size);
    if (p->pack != NULL) munmap((void *)p->pack, p->pack_size);
    memset(p, 0, sizeof *p);
}

static void packs_close(pack_reader *r) {
    for (size_t i = 0; i < r->npacks; i++) pack_close(&r->pack[i]);
    free(r->pack);
    free(r->buf);
    if (r->z_ready) inflateEnd(&r->z);
    memset(r, 0, sizeof *r);
}

/* Every pack in objects/pack that has a v2 index. */
static void packs_open(pack_reader *r, const char *objects) {
    char dir[4200], idx[4200 + 264], pack[4200 + 264];
    struct dirent *de;
    DIR *d;
    memset(r, 0, sizeof *r);
    snprintf(dir, sizeof dir, "%s/pack", objects);
    if ((d = opendir(dir)) == NULL) return;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        pack_file *q;
        if (len < 5 || strcmp(de->d_name + len - 4, ".idx") != 0) continue;
        q = realloc(r->pack, (r->npacks + 1) * sizeof *q);
        if (q == NULL) break;
        r->pack = q;
        snprintf(idx, sizeof idx, "%s/%s", dir, de->d_name);
        snprintf(pack, sizeof pack, "%s/%.*s.pack", dir, (int)(len - 4), de->d_name);
        if (pack_open(&r->pack[r->npacks], idx, pack) == 0) r->npacks++;
        else pack_close(&r->pack[r->npacks]);
    }
    closedir(d);
}

/* The object's offset in pack p, or 0 when p does not have it. */
static uint64_t pack_find(const pack_file *p, const git_oid *id) {
    uint32_t lo = id->id[0] ? be32(p->fanout + (id->id[0] - 1) * 4) : 0;
    uint32_t hi = be32(p->fanout + id->id[0] * 4);
    uint32_t key = be32(id->id);
    if (hi > p->count) return 0;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint32_t k = be32(p->names + (size_t)mid * 20); /* most steps end here */
        int c = k != key ? (k < key ? -1 : 1) : memcmp(p->names + (size_t)mid * 20, id->id, 20);
        if (c == 0) {
            uint32_t off = be32(p->offsets + (size_t)mid * 4);
            if (!(off & 0x80000000u)) return off;
            off &= 0x7fffffffu;
            return off < p->nlarge ? be64(p->large + (size_t)off * 8) : 0;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

/* Does the text so far hold the whole committer line (or the header end)? */
static int header_complete(const unsigned char *buf, size_t len) {
    const unsigned char *p = buf, *end = buf + len;
    while (p < end) {
        const unsigned char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL) return 0;
        if (eol == p || (eol - p > 10 && memcmp(p, "committer ", 10) == 0)) return 1;
        p = eol + 1;
    }
    return 0;
}

/* Inflate the head of an undeltified commit at `off` into r->buf.
 * 1: done (*len bytes); 0: not here in a form we read (use libgit2). */
static int pack_read_head(pack_reader *r, const pack_file *p, uint64_t off, size_t *len) {
    const unsigned char *h = p->pack + off, *end = p->pack + p->pack_size - 20;
    size_t size;
    int shift = 4, zerr;
    if (off < 12 || h >= end || ((*h >> 4) & 7) != 1) return 0; /* 1: OBJ_COMMIT */
    size = *h & 15;
    while (*h & 0x80) {
        if (++h >= end || shift > 57) return 0;
        size |= (size_t)(*h & 0x7f) << shift;
        shift += 7;
    }
    h++;
    if (!r->z_ready) {
        memset(&r->z, 0, sizeof r->z);
        if (inflateInit(&r->z) != Z_OK) return 0;
        r->z_ready = 1;
    } else if (inflateReset(&r->z) != Z_OK) {
        return 0;
    }
    r->z.next_in = (unsigned char *)h;
    r->z.avail_in = (uInt)((size_t)(end - h) < (1u << 30) ? (size_t)(end - h) : (1u << 30));
    *len = 0;
    do {
        size_t want = *len + 512 > size ? size : *len + 512;
        if (want > r->bufsize) {
            unsigned char *b = realloc(r->buf, want);
            if (b == NULL) return 0;
            r->buf = b;
            r->bufsize = want;
        }
        size_t before = *len;
        r->z.next_out = r->buf + *len;
        r->z.avail_out = (uInt)(want - *len);
        zerr = inflate(&r->z, Z_SYNC_FLUSH);
        *len = want - r->z.avail_out;
        if (zerr != Z_OK && zerr != Z_STREAM_END && zerr != Z_BUF_ERROR) return 0;
        if (zerr == Z_BUF_ERROR && *len == before) return 0; /* no progress: damaged */
        if (header_complete(r->buf, *len)) return 1;
    } while (zerr != Z_STREAM_END && *len < size && r->z.avail_in > 0);
    return *len == size;
}

/* ---- the describe walk ----------------------------------------------------
 * The commits a walk touches, each parsed once: from the commit-graph when
 * it has the commit, else from the raw object (parents and committer date
 * only, as git's parse_commit_buffer reads them). */

enum {
    F_SEEN = 1u << 0, /* bits 1..MAX_CANDIDATES: "reachable from candidate i" */
    F_QUEUED = 1u << 30,
    F_PARSED = 1u << 31
};
#define MAX_CANDIDATES 16 /* git's --candidates maximum is 10 by default */

typedef struct {
    git_oid oid;
    int64_t date;
    uint64_t seq;        /* insertion order: ties on date pop first-in first */
    uint32_t flags;
    int32_t name;        /* the tag naming this commit, or -1 */
    uint32_t parents;    /* index into walk.parent */
    uint32_t nparents;
    int64_t gpos;        /* commit-graph position, -1 if not there, -2 unknown */
} wnode;

typedef struct {
    git_odb *odb;
    pack_reader packs;
    commit_graph graph;
    int use_graph;
    wnode *node;
    uint32_t nnodes, capnodes;
    int32_t *slot;            /* open addressing: oid -> node index + 1 */
    uint32_t capslots;
    int32_t *bypos;           /* graph position -> node index + 1 */
    uint32_t *parent;
    uint32_t nparent, capparent;
    uint32_t *heap;
    uint32_t nheap, capheap;
    uint64_t seq;
    git_oid *shallow;
    size_t nshallow;
    int error;                /* a libgit2 error met while parsing */
} walk;

static int grow(void **p, uint32_t *cap, uint32_t need, size_t elem) {
    uint32_t n = *cap ? *cap : 64;
    void *q;
    if (need <= *cap) return 0;
    while (n < need) n *= 2;
    q = realloc(*p, (size_t)n * elem);
    if (q == NULL) return -1;
    *p = q;
    *cap = n;
    return 0;
}

static uint32_t oid_hash(const git_oid *id) {
    uint32_t h;
    memcpy(&h, id->id, sizeof h);
    return h;
}

static int slots_rehash(walk *w, uint32_t cap) {
    int32_t *s = calloc(cap, sizeof *s);
    if (s == NULL) return -1;
    for (uint32_t i = 0; i < w->nnodes; i++) {
        uint32_t j = oid_hash(&w->node[i].oid) & (cap - 1);
        while (s[j] != 0) j = (j + 1) & (cap - 1);
        s[j] = (int32_t)i + 1;
    }
    free(w->slot);
    w->slot = s;
    w->capslots = cap;
    return 0;
}

/* The node of a commit id, created (unparsed) on first sight; -1 on OOM. */
static int64_t node_get(walk *w, const git_oid *id, int64_t gpos) {
    uint32_t j = 0;
    wnode *n;
    if (gpos == -2 && w->use_graph) gpos = graph_find(&w->graph, id);
    if (gpos >= 0 && w->bypos[gpos] != 0) return w->bypos[gpos] - 1;
    if (gpos < 0) {
        if (w->nnodes * 2 >= w->capslots && slots_rehash(w, w->capslots ? w->capslots * 2 : 1024) < 0)
            return -1;
        for (j = oid_hash(id) & (w->capslots - 1); w->slot[j] != 0; j = (j + 1) & (w->capslots - 1))
            if (git_oid_equal(&w->node[w->slot[j] - 1].oid, id)) return w->slot[j] - 1;
    }
    if (grow((void **)&w->node, &w->capnodes, w->nnodes + 1, sizeof *w->node) < 0) return -1;
    n = &w->node[w->nnodes];
    memset(n, 0, sizeof *n);
    git_oid_cpy(&n->oid, id);
    n->name = -1;
    n->gpos = gpos < 0 ? -1 : gpos;
    if (gpos >= 0) w->bypos[gpos] = (int32_t)w->nnodes + 1;
    else w->slot[j] = (int32_t)w->nnodes + 1;
    return w->nnodes++;
}

static int add_parent(walk *w, uint32_t *count, const git_oid *id, int64_t gpos) {
    int64_t p = node_get(w, id, gpos);
    if (p < 0) return -1;
    if (grow((void **)&w->parent, &w->capparent, w->nparent + 1, sizeof *w->parent) < 0) return -1;
    w->parent[w->nparent++] = (uint32_t)p;
    (*count)++;
    return 0;
}

static int graph_parent(walk *w, uint32_t *count, uint32_t pos) {
    git_oid id;
    if (pos >= w->graph.total) return -1;
    graph_oid(&w->graph, pos, &id);
    return add_parent(w, count, &id, pos);
}

/* Parse from CDAT; -1 if the entry is inconsistent (then the object is read). */
static int parse_from_graph(walk *w, uint32_t n) {
    const graph_layer *g = graph_layer_of(&w->graph, (uint32_t)w->node[n].gpos);
    const unsigned char *e = g->cdat + (size_t)((uint32_t)w->node[n].gpos - g->base) * 36;
    uint32_t p1 = be32(e + 20), p2 = be32(e + 24), count = 0, start = w->nparent;
    int64_t date = (int64_t)(((uint64_t)(be32(e + 28) & 3u) << 32) | be32(e + 32));
    if (p1 != GRAPH_NO_PARENT && graph_parent(w, &count, p1) < 0) goto bad;
    if (p2 != GRAPH_NO_PARENT && !(p2 & GRAPH_EXTRA_EDGES) && graph_parent(w, &count, p2) < 0)
        goto bad;
    if (p2 != GRAPH_NO_PARENT && (p2 & GRAPH_EXTRA_EDGES)) {
        uint32_t i = p2 & ~GRAPH_EXTRA_EDGES, v;
        do {
            if (g->edges == NULL || i >= g->nedges) goto bad;
            v = be32(g->edges + (size_t)i * 4);
            if (graph_parent(w, &count, v & ~GRAPH_EXTRA_EDGES) < 0) goto bad;
            i++;
        } while (!(v & GRAPH_EXTRA_EDGES));
    }
    w->node[n].parents = start;
    w->node[n].nparents = count;
    w->node[n].date = date;
    return 0;
bad:
    w->nparent = start;
    return -1;
}

static int is_shallow(const walk *w, const git_oid *id) {
    for (size_t i = 0; i < w->nshallow; i++)
        if (git_oid_equal(&w->shallow[i], id)) return 1;
    return 0;
}

/* Parents and committer date from a commit's text, as git's
 * parse_commit_buffer reads them (the date after the first '>' of the
 * committer line). */
static int parse_commit_text(walk *w, uint32_t n, const char *p, size_t size) {
    const char *end = p + size, *line;
    uint32_t count = 0, start = w->nparent;
    int shallow = w->nshallow > 0 && is_shallow(w, &w->node[n].oid);
    git_oid id;
    w->node[n].date = 0;
    for (line = p; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL) eol = end;
        if (eol == line) break; /* end of headers */
        if (eol - line >= 7 + GIT_OID_HEXSZ && memcmp(line, "parent ", 7) == 0 && !shallow) {
            if (git_oid_fromstrn(&id, line + 7, GIT_OID_HEXSZ) == 0 &&
                add_parent(w, &count, &id, -2) < 0) {
                w->error = GIT_ERROR;
                return -1;
            }
        } else if (eol - line > 10 && memcmp(line, "committer ", 10) == 0) {
            const char *gt = memchr(line, '>', (size_t)(eol - line));
            if (gt != NULL) w->node[n].date = strtoll(gt + 1, NULL, 10);
            break; /* nothing after it matters here */
        }
        line = eol + 1;
    }
    w->node[n].parents = start;
    w->node[n].nparents = count;
    return 0;
}

static int parse_from_packs(walk *w, uint32_t n) {
    for (size_t i = 0; i < w->packs.npacks; i++) {
        uint64_t off = pack_find(&w->packs.pack[i], &w->node[n].oid);
        size_t len;
        if (off == 0) continue;
        if (pack_read_head(&w->packs, &w->packs.pack[i], off, &len) != 1) return 1;
        return parse_commit_text(w, n, (const char *)w->packs.buf, len);
    }
    return 1;
}

/* From the packs when possible, else through libgit2. */
static int parse_from_odb(walk *w, uint32_t n) {
    git_odb_object *obj;
    int err = parse_from_packs(w, n);
    if (err <= 0) return err;
    if ((err = git_odb_read(&obj, w->odb, &w->node[n].oid)) < 0) { w->error = err; return -1; }
    if (git_odb_object_type(obj) != GIT_OBJECT_COMMIT) {
        git_odb_object_free(obj);
        git_error_set_str(GIT_ERROR_OBJECT, "object is not a commit");
        w->error = GIT_ERROR;
        return -1;
    }
    err = parse_commit_text(w, n, git_odb_object_data(obj), git_odb_object_size(obj));
    git_odb_object_free(obj);
    return err;
}

static int node_parse(walk *w, uint32_t n) {
    if (w->node[n].flags & F_PARSED) return 0;
    if (!(w->node[n].gpos >= 0 && parse_from_graph(w, n) == 0) && parse_from_odb(w, n) < 0)
        return -1;
    w->node[n].flags |= F_PARSED;
    return 0;
}

/* The queue: newest committer date first, equal dates in insertion order —
 * the order git's commit_list_insert_by_date keeps. */
static int before(const walk *w, uint32_t a, uint32_t b) {
    const wnode *x = &w->node[a], *y = &w->node[b];
    if (x->date != y->date) return x->date > y->date;
    return x->seq < y->seq;
}

static int queue_push(walk *w, uint32_t n) {
    uint32_t i;
    if (grow((void **)&w->heap, &w->capheap, w->nheap + 1, sizeof *w->heap) < 0) return -1;
    w->node[n].seq = w->seq++;
    w->node[n].flags |= F_QUEUED;
    for (i = w->nheap++; i > 0 && before(w, n, w->heap[(i - 1) / 2]); i = (i - 1) / 2)
        w->heap[i] = w->heap[(i - 1) / 2];
    w->heap[i] = n;
    return 0;
}

static uint32_t queue_pop(walk *w) {
    uint32_t top = w->heap[0], last = w->heap[--w->nheap], i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= w->nheap) break;
        if (c + 1 < w->nheap && before(w, w->heap[c + 1], w->heap[c])) c++;
        if (!before(w, w->heap[c], last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (w->nheap > 0) w->heap[i] = last;
    w->node[top].flags &= ~F_QUEUED;
    return top;
}

typedef struct {
    int32_t name;
    uint32_t depth, found_order, flag;
} candidate;

typedef struct {
    candidate cand[MAX_CANDIDATES];
    int ncand, annotated;
    uint32_t best_flag;    /* set while finishing the depth count */
    uint32_t outside_best; /* queued commits not reachable from the best */
} search;

/* The tags known to describe, by the commit they name. */
typedef struct {
    char *name;
    git_oid target;  /* the tag ref's target (tag object or commit) */
    git_oid commit;  /* peeled */
    int annotated;
} tagname;

/* Mark parents of `c` (git: insert unseen parents by date, then pass flags). */
static int push_parents(walk *w, search *s, uint32_t c) {
    for (uint32_t i = 0; i < w->node[c].nparents; i++) {
        uint32_t p = w->parent[w->node[c].parents + i];
        wnode *pn;
        if (node_parse(w, p) < 0) return -1;
        pn = &w->node[p];
        if (!(pn->flags & F_SEEN)) {
            if (queue_push(w, p) < 0) return -1;
            if (s->best_flag && !(pn->flags & s->best_flag)) s->outside_best++;
        }
        if (s->best_flag && (pn->flags & F_QUEUED) && !(pn->flags & s->best_flag) &&
            (w->node[c].flags & s->best_flag))
            s->outside_best--;
        pn->flags |= w->node[c].flags & ~(F_QUEUED | F_PARSED);
    }
    return 0;
}

static int by_depth(const void *a, const void *b) {
    const candidate *x = a, *y = b;
    if (x->depth != y->depth) return x->depth < y->depth ? -1 : 1;
    return x->found_order < y->found_order ? -1 : x->found_order > y->found_order;
}

/* git's finish_depth_computation: walk on until every queued commit is
 * reachable from the best candidate, counting those that are not. */
static int finish_depth(walk *w, search *s) {
    candidate *best = &s->cand[0];
    s->best_flag = best->flag;
    s->outside_best = 0;
    for (uint32_t i = 0; i < w->nheap; i++)
        if (!(w->node[w->heap[i]].flags & best->flag)) s->outside_best++;
    while (w->nheap > 0) {
        uint32_t c = queue_pop(w);
        if (w->node[c].flags & best->flag) {
            if (s->outside_best == 0) break;
        } else {
            s->outside_best--;
            best->depth++;
        }
        if (push_parents(w, s, c) < 0) return -1;
    }
    return 0;
}

/* With the queue empty, git stops once the last commit is reachable from
 * every candidate of the smallest depth so far. */
static int covered_by_best(const walk *w, const search *s, uint32_t c) {
    uint32_t best_depth = UINT32_MAX, within = 0;
    for (int i = 0; i < s->ncand; i++) {
        if (s->cand[i].depth < best_depth) {
            best_depth = s->cand[i].depth;
            within = s->cand[i].flag;
        } else if (s->cand[i].depth == best_depth) {
            within |= s->cand[i].flag;
        }
    }
    return (w->node[c].flags & within) == within;
}

/* The main walk (git's describe_commit). Returns 0 with s->ncand candidates
 * sorted best first, or -1 on error. */
static int describe_walk(walk *w, search *s, uint32_t start, const tagname *names, int tags_too,
                         int max_candidates) {
    uint32_t seen = 0;
    int64_t gave_up_on = -1;
    if (node_parse(w, start) < 0) return -1;
    w->node[start].flags |= F_SEEN;
    if (queue_push(w, start) < 0) return -1;
    while (w->nheap > 0) {
        uint32_t c = queue_pop(w);
        int32_t nm = w->node[c].name;
        seen++;
        if (nm >= 0) {
            if (!tags_too && !names[nm].annotated) {
                /* lightweight tags only count with --tags */
            } else if (s->ncand < max_candidates) {
                candidate *t = &s->cand[s->ncand++];
                t->name = nm;
                t->depth = seen - 1;
                t->flag = 1u << s->ncand;
                t->found_order = (uint32_t)s->ncand;
                w->node[c].flags |= t->flag;
                if (names[nm].annotated) s->annotated++;
            } else {
                gave_up_on = c;
                break;
            }
        }
        for (int i = 0; i < s->ncand; i++)
            if (!(w->node[c].flags & s->cand[i].flag)) s->cand[i].depth++;
        if (s->annotated && w->nheap == 0 && covered_by_best(w, s, c)) break;
        if (push_parents(w, s, c) < 0) return -1;
    }
    if (s->ncand == 0) return 0;
    qsort(s->cand, (size_t)s->ncand, sizeof s->cand[0], by_depth);
    if (gave_up_on >= 0 && queue_push(w, (uint32_t)gave_up_on) < 0) return -1;
    return finish_depth(w, s);
}

static void walk_free(walk *w) {
    free(w->node);
    free(w->slot);
    free(w->bypos);
    free(w->parent);
    free(w->heap);
    free(w->shallow);
    if (w->use_graph) graph_close(&w->graph);
    packs_close(&w->packs);
    if (w->odb) git_odb_free(w->odb);
    memset(w, 0, sizeof *w);
}

/* .git/shallow: commits whose parents this clone does not have. */
static int read_shallow(walk *w, git_repository *repo) {
    char path[4352], line[128];
    FILE *f;
    snprintf(path, sizeof path, "%sshallow", git_repository_commondir(repo));
    f = fopen(path, "re");
    if (f == NULL) return 0;
    while (fgets(line, sizeof line, f) != NULL) {
        git_oid id;
        git_oid *q;
        if (git_oid_fromstrn(&id, line, GIT_OID_HEXSZ) != 0) continue;
        q = realloc(w->shallow, (w->nshallow + 1) * sizeof *q);
        if (q == NULL) { fclose(f); return -1; }
        w->shallow = q;
        w->shallow[w->nshallow++] = id;
    }
    fclose(f);
    return 0;
}

/* git reads the commit-graph unless core.commitGraph is false or the
 * repository is shallow (commit-graph.c, commit_graph_compatible). */
static int graph_wanted(git_repository *repo) {
    git_config *cfg;
    int on = 1;
    if (git_repository_is_shallow(repo) == 1) return 0;
    if (git_repository_config_snapshot(&cfg, repo) == 0) {
        if (git_config_get_bool(&on, cfg, "core.commitGraph") != 0) on = 1;
        git_config_free(cfg);
    }
    return on;
}

static int walk_open(walk *w, git_repository *repo) {
    char objects[4096];
    int err;
    memset(w, 0, sizeof *w);
    if ((err = git_repository_odb(&w->odb, repo)) < 0) return err;
    if (read_shallow(w, repo) < 0) return GIT_ERROR;
    snprintf(objects, sizeof objects, "%sobjects", git_repository_commondir(repo));
    packs_open(&w->packs, objects);
    if (graph_wanted(repo) && graph_open(&w->graph, objects) == 0) {
        w->bypos = calloc(w->graph.total ? w->graph.total : 1, sizeof *w->bypos);
        if (w->bypos == NULL) { graph_close(&w->graph); return GIT_ERROR; }
        w->use_graph = 1;
    }
    return 0;
}

/* ---- tags ------------------------------------------------------------------ */

static int by_tag_name(const void *a, const void *b) {
    return strcmp(((const tagname *)a)->name, ((const tagname *)b)->name);
}

typedef struct {
    tagname *t;
    size_t n;
} taglist;

static void taglist_free(void *p) {
    taglist *l = p;
    for (size_t i = 0; i < l->n; i++) free(l->t[i].name);
    free(l->t);
    free(l);
}

/* Every tag ref with the object it peels to, sorted by name (the order
 * git's for_each_rawref gives). A tag that does not end at a commit keeps
 * `commit` zeroed. The list goes into guard g. */
static int tags_collect(git_repository *repo, guard *g) {
    git_reference_iterator *it;
    git_reference *ref;
    taglist *l = calloc(1, sizeof *l);
    tagname *t = NULL;
    size_t n = 0, cap = 0;
    int err;
    if (l == NULL) return GIT_ERROR;
    g->ptr = l;
    if ((err = git_reference_iterator_glob_new(&it, repo, "refs/tags/*")) < 0) return err;
    while ((err = git_reference_next(&ref, it)) == 0) {
        git_object *obj = NULL;
        const git_oid *target;
        git_reference *resolved = NULL;
        if (git_reference_resolve(&resolved, ref) < 0 ||
            (target = git_reference_target(resolved)) == NULL) {
            git_reference_free(resolved);
            git_reference_free(ref);
            continue;
        }
        if (n == cap) {
            tagname *q = realloc(t, (cap = cap ? cap * 2 : 64) * sizeof *t);
            if (q == NULL) { err = GIT_ERROR; git_reference_free(resolved); git_reference_free(ref); break; }
            l->t = t = q;
        }
        memset(&t[n], 0, sizeof t[n]);
        t[n].name = strdup(git_reference_name(ref) + 10);
        git_oid_cpy(&t[n].target, target);
        if (git_reference_peel(&obj, resolved, GIT_OBJECT_ANY) == 0) {
            if (git_object_type(obj) == GIT_OBJECT_COMMIT) git_oid_cpy(&t[n].commit, git_object_id(obj));
            t[n].annotated = !git_oid_equal(git_object_id(obj), target);
            git_object_free(obj);
        }
        git_reference_free(resolved);
        git_reference_free(ref);
        l->n = ++n;
        if (t[n - 1].name == NULL) { err = GIT_ERROR; break; }
    }
    git_reference_iterator_free(it);
    if (err != GIT_ITEROVER) return err;
    if (n > 1) qsort(t, n, sizeof *t, by_tag_name);
    return 0;
}

static int64_t tagger_time(git_repository *repo, const git_oid *tag) {
    git_tag *t;
    const git_signature *sig;
    int64_t when = 0;
    if (git_tag_lookup(&t, repo, tag) < 0) return 0;
    sig = git_tag_tagger(t);
    if (sig != NULL) when = sig->when.time;
    git_tag_free(t);
    return when;
}

static int is_zero(const git_oid *id) {
    static const git_oid zero;
    return git_oid_equal(id, &zero);
}

/* Attach names to commits as git's add_to_known_names/replace_name choose:
 * annotated over lightweight; between annotated tags the newer tagger date;
 * otherwise the first by refname. */
static int attach_names(walk *w, git_repository *repo, const tagname *t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int64_t c;
        wnode *node;
        if (is_zero(&t[i].commit)) continue;
        if ((c = node_get(w, &t[i].commit, -2)) < 0) return -1;
        node = &w->node[c];
        if (node->name >= 0) {
            const tagname *e = &t[node->name];
            if (e->annotated > t[i].annotated) continue;
            if (e->annotated == t[i].annotated &&
                (!e->annotated || tagger_time(repo, &e->target) >= tagger_time(repo, &t[i].target)))
                continue;
        }
        node->name = (int32_t)i;
    }
    return 0;
}

static int match_any(lua_State *L, int patterns, const char *name) {
    int ok = 0;
    if (patterns == 0) return 1;
    if (lua_type(L, patterns) == LUA_TSTRING) return fnmatch(lua_tostring(L, patterns), name, 0) == 0;
    for (lua_Integer i = 1; !ok && lua_rawgeti(L, patterns, i) == LUA_TSTRING; i++) {
        ok = fnmatch(lua_tostring(L, -1), name, 0) == 0;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return ok;
}

/* Keep the tags whose name matches (git: wildmatch without WM_PATHNAME). */
static void filter_tags(lua_State *L, int patterns, taglist *l) {
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (match_any(L, patterns, l->t[i].name)) l->t[k++] = l->t[i];
        else free(l->t[i].name);
    }
    l->n = k;
}

typedef struct {
    int found;          /* 1: result valid; 0: nothing describes it */
    int any_names;
    char tag[1024];
    uint32_t distance;
    git_oid id;
} described;

/* The name git prints: an annotated tag's own name (the one inside the tag
 * object, which a renamed ref does not change), else the ref's name. */
static void described_name(git_repository *repo, const tagname *t, described *out) {
    git_tag *tag;
    out->found = 1;
    snprintf(out->tag, sizeof out->tag, "%s", t->name);
    if (t->annotated && git_tag_lookup(&tag, repo, &t->target) == 0) {
        if (git_tag_name(tag) != NULL) snprintf(out->tag, sizeof out->tag, "%s", git_tag_name(tag));
        git_tag_free(tag);
    }
}

/* Everything in C, nothing that raises: the caller pushes the result. */
static int describe_commit(git_repository *repo, const git_oid *id, tagname *t, size_t n,
                           int tags_too, int max_candidates, described *out) {
    walk w;
    search s;
    int64_t start;
    int err = walk_open(&w, repo);
    memset(&s, 0, sizeof s);
    git_oid_cpy(&out->id, id);
    if (err < 0) { walk_free(&w); return err; }
    if (attach_names(&w, repo, t, n) < 0) { walk_free(&w); return GIT_ERROR; }
    for (size_t i = 0; i < n; i++)
        if (!is_zero(&t[i].commit) && (tags_too || t[i].annotated)) out->any_names = 1;
    if (!out->any_names) { walk_free(&w); return 0; } /* git: "No names found" */
    if ((start = node_get(&w, id, -2)) < 0) { walk_free(&w); return GIT_ERROR; }
    if (w.node[start].name >= 0 && (tags_too || t[w.node[start].name].annotated)) {
        described_name(repo, &t[w.node[start].name], out);
        out->distance = 0;
        walk_free(&w);
        return 0;
    }
    if (describe_walk(&w, &s, (uint32_t)start, t, tags_too, max_candidates) < 0) {
        err = w.error ? w.error : GIT_ERROR;
        walk_free(&w);
        return err;
    }
    if (s.ncand > 0) {
        described_name(repo, &t[s.cand[0].name], out);
        out->distance = s.cand[0].depth;
    }
    walk_free(&w);
    return 0;
}

/* The stack index of the `match` option (a pattern or a list), or 0. */
static int match_option(lua_State *L, int has_opts) {
    int ty;
    if (!has_opts) return 0;
    ty = lua_getfield(L, 2, "match");
    luaL_argcheck(L, ty == LUA_TNIL || ty == LUA_TSTRING || ty == LUA_TTABLE, 2,
                  "match must be a pattern or a list of patterns");
    if (ty == LUA_TNIL) { lua_pop(L, 1); return 0; }
    return lua_gettop(L);
}

static int describe_not_found(lua_State *L, const described *d, int patterns, const char *rev) {
    if (!d->any_names && patterns)
        return rr_failf(L, "GIT_ENOTFOUND", "no tag matching the pattern exists to describe %s", rev);
    if (!d->any_names)
        return rr_failf(L, "GIT_ENOTFOUND", "cannot describe %s: there are no tags", rev);
    return rr_failf(L, "GIT_ENOTFOUND", "no tag%s is reachable from %s",
                    patterns ? " matching the pattern" : "", rev);
}

/* [g] push { tag, distance, id, short }. */
static int push_described(lua_State *L, git_repository *repo, const described *d, const git_oid *id) {
    abbrev_ctx a;
    int err = abbrev_open(L, &a, repo);
    if (err < 0) return git_fail(L, err, "cannot open object database");
    lua_createtable(L, 0, 4);
    lua_pushstring(L, d->tag);
    lua_setfield(L, -2, "tag");
    lua_pushinteger(L, d->distance);
    lua_setfield(L, -2, "distance");
    push_oid(L, id);
    lua_setfield(L, -2, "id");
    abbrev_push(L, &a, id);
    lua_setfield(L, -2, "short");
    abbrev_close(&a);
    return 1;
}

/* describe{match = "v*" | {...}, tags = true, rev = "HEAD", candidates = 10} */
static int r_describe(lua_State *L) {
    git_repository *repo = check_repo(L);
    int has_opts = lua_istable(L, 2);
    const char *rev = has_opts ? rr_optfield_string(L, 2, "rev", "HEAD") : "HEAD";
    int tags_too = has_opts ? rr_optfield_boolean(L, 2, "tags", 1) : 1;
    lua_Integer cands = has_opts ? rr_optfield_integer(L, 2, "candidates", 10) : 10;
    int patterns = match_option(L, has_opts), err;
    described d;
    taglist *l;
    guard *g;
    git_oid id;
    luaL_argcheck(L, cands >= 1 && cands <= MAX_CANDIDATES, 2, "candidates must be 1..16");
    if ((err = resolve_commit(repo, rev, &id)) < 0) {
        if (err == GIT_EUNBORNBRANCH || git_repository_head_unborn(repo) == 1)
            return rr_fail(L, "cannot describe: the repository has no commits yet",
                           "GIT_EUNBORNBRANCH");
        return fail_rev(L, err, rev);
    }
    g = guard_new(L, taglist_free);
    if ((err = tags_collect(repo, g)) < 0) return git_fail(L, err, "cannot list tags");
    l = g->ptr;
    filter_tags(L, patterns, l);
    memset(&d, 0, sizeof d);
    err = describe_commit(repo, &id, l->t, l->n, tags_too, (int)cands, &d);
    guard_release(g); /* d holds its own copy of the name */
    if (err < 0) return git_fail(L, err, "cannot describe");
    if (!d.found) return describe_not_found(L, &d, patterns, rev);
    return push_described(L, repo, &d, &id);
}

/* tags() -> { {name, id, target, annotated, tagger_time, message}, ... } */
static void push_tag_details(lua_State *L, git_repository *repo, const tagname *t, guard *g) {
    git_tag *tag;
    push_oid(L, &t->target);
    lua_setfield(L, -2, "id");
    lua_pushboolean(L, t->annotated);
    lua_setfield(L, -2, "annotated");
    if (!is_zero(&t->commit)) {
        push_oid(L, &t->commit);
        lua_setfield(L, -2, "target");
    }
    if (t->annotated && git_tag_lookup(&tag, repo, &t->target) == 0) {
        const git_signature *sig = git_tag_tagger(tag);
        const char *msg = git_tag_message(tag);
        g->ptr = tag;
        if (sig != NULL) {
            lua_pushinteger(L, sig->when.time);
            lua_setfield(L, -2, "tagger_time");
            lua_pushstring(L, sig->name);
            lua_setfield(L, -2, "tagger");
            lua_pushstring(L, sig->email);
            lua_setfield(L, -2, "tagger_email");
        }
        lua_pushstring(L, msg ? msg : "");
        lua_setfield(L, -2, "message");
        guard_release(g);
    }
}

static int r_tags(lua_State *L) {
    git_repository *repo = check_repo(L);
    guard *g = guard_new(L, taglist_free);
    guard *obj = guard_new(L, free_object);
    taglist *l;
    int err = tags_collect(repo, g);
    if (err < 0) return git_fail(L, err, "cannot list tags");
    l = g->ptr;
    lua_createtable(L, (int)l->n, 0);
    for (size_t i = 0; i < l->n; i++) {
        lua_createtable(L, 0, 8);
        lua_pushstring(L, l->t[i].name);
        lua_setfield(L, -2, "name");
        push_tag_details(L, repo, &l->t[i], obj);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    guard_release(g);
    return 1;
}

/* The tagger: GIT_COMMITTER_NAME/EMAIL over user.name/user.email, as git. */
static int tagger_signature(git_repository *repo, git_signature **out) {
    const char *name = getenv("GIT_COMMITTER_NAME"), *email = getenv("GIT_COMMITTER_EMAIL");
    git_signature *cfg_sig = NULL;
    int err;
    if (name != NULL && *name && email != NULL && *email) return git_signature_now(out, name, email);
    err = git_signature_default(&cfg_sig, repo);
    if (err < 0 && (name == NULL || email == NULL)) return err;
    err = git_signature_now(out, name && *name ? name : cfg_sig ? cfg_sig->name : "",
                            email && *email ? email : cfg_sig ? cfg_sig->email : "");
    git_signature_free(cfg_sig);
    return err;
}

/* git tag -m cleans the message up: trailing spaces, comments, one final \n. */
static int tag_annotated(git_repository *repo, git_oid *out, const char *name,
                         const git_object *target, const char *message, int force) {
    git_signature *sig;
    git_buf msg = GIT_BUF_INIT;
    int err = tagger_signature(repo, &sig);
    if (err < 0) return GIT_EUSER;
    if ((err = git_message_prettify(&msg, message, 1, '#')) == 0)
        err = git_tag_create(out, repo, name, target, sig, msg.ptr, force);
    git_buf_dispose(&msg);
    git_signature_free(sig);
    return err;
}

/* tag_create(name, {target = "HEAD", message = nil, force = false}) -> id */
static int r_tag_create(lua_State *L) {
    git_repository *repo = check_repo(L);
    const char *name = luaL_checkstring(L, 2);
    int has_opts = lua_istable(L, 3);
    const char *target = has_opts ? rr_optfield_string(L, 3, "target", "HEAD") : "HEAD";
    const char *message = has_opts ? rr_optfield_string(L, 3, "message", NULL) : NULL;
    int force = has_opts ? rr_optfield_boolean(L, 3, "force", 0) : 0;
    guard *g = guard_new(L, free_object);
    git_object *obj;
    git_oid id;
    int err = git_revparse_single(&obj, repo, target);
    if (err < 0) return fail_rev(L, err, target);
    g->ptr = obj;
    if (message != NULL) err = tag_annotated(repo, &id, name, obj, message, force);
    else err = git_tag_create_lightweight(&id, repo, name, obj, force);
    guard_release(g);
    if (err == GIT_EEXISTS)
        return rr_failf(L, "GIT_EEXISTS", "tag '%s' already exists; delete it first or choose "
                        "another version", name);
    if (err == GIT_EUSER)
        return rr_fail(L, "cannot create annotated tag: no tagger identity; set user.name and "
                       "user.email (git config) or GIT_COMMITTER_NAME and GIT_COMMITTER_EMAIL",
                       "GIT_EUSER");
    if (err == GIT_EINVALIDSPEC)
        return rr_failf(L, "GIT_EINVALIDSPEC", "'%s' is not a valid tag name", name);
    if (err < 0) return git_fail(L, err, "cannot create tag");
    push_oid(L, &id);
    return 1;
}

static int r_tag_delete(lua_State *L) {
    git_repository *repo = check_repo(L);
    const char *name = luaL_checkstring(L, 2);
    int err = git_tag_delete(repo, name);
    if (err == GIT_ENOTFOUND) return rr_failf(L, "GIT_ENOTFOUND", "tag '%s' not found", name);
    if (err < 0) return git_fail(L, err, "cannot delete tag");
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- log and graph queries ------------------------------------------------- */

static void free_walker(void *p) { git_revwalk_free(p); }
static void free_commit(void *p) { git_commit_free(p); }

/* One log entry; the commit is owned by guard cg while fields are pushed. */
static void push_commit(lua_State *L, abbrev_ctx *a, git_commit *c) {
    const git_signature *au = git_commit_author(c);
    const char *summary = git_commit_summary(c);
    lua_createtable(L, 0, 8);
    push_oid(L, git_commit_id(c));
    lua_setfield(L, -2, "id");
    abbrev_push(L, a, git_commit_id(c));
    lua_setfield(L, -2, "short");
    lua_pushstring(L, summary ? summary : "");
    lua_setfield(L, -2, "summary");
    lua_pushstring(L, git_commit_message(c));
    lua_setfield(L, -2, "message");
    lua_pushstring(L, au->name);
    lua_setfield(L, -2, "author");
    lua_pushstring(L, au->email);
    lua_setfield(L, -2, "email");
    lua_pushinteger(L, au->when.time);
    lua_setfield(L, -2, "time");
    lua_pushinteger(L, git_commit_time(c)); /* the committer's: SOURCE_DATE_EPOCH */
    lua_setfield(L, -2, "commit_time");
}

/* Push the range onto the walker: "a..b", or one revision and its history. */
static int walker_push(git_revwalk *wk, git_repository *repo, const char *range) {
    git_oid id;
    int err;
    if (strstr(range, "..") != NULL) return git_revwalk_push_range(wk, range);
    if ((err = resolve_commit(repo, range, &id)) < 0) return err;
    return git_revwalk_push(wk, &id);
}

/* log(range = "HEAD", {limit = n}) -> { {id, short, summary, message, author, email, time} } */
static int r_log(lua_State *L) {
    git_repository *repo = check_repo(L);
    const char *range = luaL_optstring(L, 2, "HEAD");
    lua_Integer limit = lua_istable(L, 3) ? rr_optfield_integer(L, 3, "limit", -1) : -1;
    guard *gw = guard_new(L, free_walker), *gc = guard_new(L, free_commit);
    git_revwalk *wk;
    abbrev_ctx a;
    git_oid id;
    lua_Integer n = 0;
    int err = git_revwalk_new(&wk, repo);
    if (err < 0) return git_fail(L, err, "cannot walk history");
    gw->ptr = wk;
    git_revwalk_sorting(wk, GIT_SORT_NONE);
    if ((err = walker_push(wk, repo, range)) < 0) return fail_rev(L, err, range);
    if ((err = abbrev_open(L, &a, repo)) < 0) return git_fail(L, err, "cannot open object database");
    lua_newtable(L);
    while (limit < 0 || n < limit) {
        git_commit *c;
        if ((err = git_revwalk_next(&id, wk)) == GIT_ITEROVER) break;
        if (err < 0 || (err = git_commit_lookup(&c, repo, &id)) < 0)
            return git_fail(L, err, "cannot walk history");
        gc->ptr = c;
        push_commit(L, &a, c);
        guard_release(gc);
        lua_rawseti(L, -2, ++n);
    }
    abbrev_close(&a);
    guard_release(gw);
    return 1;
}

/* The commits reachable from `id` (`git rev-list --count`), through the
 * describe walk's reader: it stops at the commits .git/shallow names, where
 * libgit2 1.5's revwalk fails on their missing parents. Nothing raises. */
static int count_reachable(git_repository *repo, const git_oid *id, lua_Integer *out) {
    walk w;
    uint32_t *stack = NULL, nstack = 0, capstack = 0;
    int64_t start;
    int err = walk_open(&w, repo);
    *out = 0;
    if (err < 0) goto done;
    err = GIT_ERROR;
    if ((start = node_get(&w, id, -2)) < 0 || grow((void **)&stack, &capstack, 1, sizeof *stack) < 0) goto done;
    w.node[start].flags |= F_SEEN;
    stack[nstack++] = (uint32_t)start;
    while (nstack > 0) {
        uint32_t c = stack[--nstack];
        (*out)++;
        if (node_parse(&w, c) < 0) {
            if (w.error) err = w.error;
            goto done;
        }
        for (uint32_t i = 0; i < w.node[c].nparents; i++) {
            uint32_t parent = w.parent[w.node[c].parents + i];
            if (w.node[parent].flags & F_SEEN) continue;
            w.node[parent].flags |= F_SEEN;
            if (grow((void **)&stack, &capstack, nstack + 1, sizeof *stack) < 0) goto done;
            stack[nstack++] = parent;
        }
    }
    err = 0;
done:
    free(stack);
    walk_free(&w);
    return err;
}

/* count_commits(rev or "a..b") -> n. One revision goes through
 * count_reachable (shallow clones too); a range through libgit2's revwalk. */
static int r_count_commits(lua_State *L) {
    git_repository *repo = check_repo(L);
    const char *range = luaL_optstring(L, 2, "HEAD");
    guard *gw;
    git_revwalk *wk;
    git_oid id;
    lua_Integer n = 0;
    int err;
    if (strstr(range, "..") == NULL) {
        if ((err = resolve_commit(repo, range, &id)) < 0) return fail_rev(L, err, range);
        if ((err = count_reachable(repo, &id, &n)) < 0) return git_fail(L, err, "cannot walk history");
        lua_pushinteger(L, n);
        return 1;
    }
    gw = guard_new(L, free_walker);
    if ((err = git_revwalk_new(&wk, repo)) < 0) return git_fail(L, err, "cannot walk history");
    gw->ptr = wk;
    if ((err = walker_push(wk, repo, range)) < 0) return fail_rev(L, err, range);
    while ((err = git_revwalk_next(&id, wk)) == 0) n++;
    if (err != GIT_ITEROVER) return git_fail(L, err, "cannot walk history");
    guard_release(gw);
    lua_pushinteger(L, n);
    return 1;
}

static int r_merge_base(lua_State *L) {
    git_repository *repo = check_repo(L);
    const char *a = luaL_checkstring(L, 2), *b = luaL_checkstring(L, 3);
    git_oid x, y, base;
    int err;
    if ((err = resolve_commit(repo, a, &x)) < 0) return fail_rev(L, err, a);
    if ((err = resolve_commit(repo, b, &y)) < 0) return fail_rev(L, err, b);
    err = git_merge_base(&base, repo, &x, &y);
    if (err == GIT_ENOTFOUND)
        return rr_failf(L, "GIT_ENOTFOUND", "%s and %s have no common ancestor", a, b);
    if (err < 0) return git_fail(L, err, "cannot find merge base");
    push_oid(L, &base);
    return 1;
}

/* ahead_behind(local, upstream) -> ahead, behind (git rev-list --left-right --count) */
static int r_ahead_behind(lua_State *L) {
    git_repository *repo = check_repo(L);
    const char *a = luaL_checkstring(L, 2), *b = luaL_checkstring(L, 3);
    size_t ahead, behind;
    git_oid x, y;
    int err;
    if ((err = resolve_commit(repo, a, &x)) < 0) return fail_rev(L, err, a);
    if ((err = resolve_commit(repo, b, &y)) < 0) return fail_rev(L, err, b);
    if ((err = git_graph_ahead_behind(&ahead, &behind, repo, &x, &y)) < 0)
        return git_fail(L, err, "cannot count commits ahead and behind");
    lua_pushinteger(L, (lua_Integer)ahead);
    lua_pushinteger(L, (lua_Integer)behind);
    return 2;
}

/* upstream([branch]) -> "origin/main" | nil (the current branch by default) */
static int r_upstream(lua_State *L) {
    git_repository *repo = check_repo(L);
    const char *branch = luaL_optstring(L, 2, NULL);
    git_buf buf = GIT_BUF_INIT;
    char refname[1024];
    int err;
    if (branch == NULL) {
        git_reference *head = NULL;
        if (git_repository_head(&head, repo) < 0 || !git_reference_is_branch(head)) {
            if (head) git_reference_free(head);
            lua_pushnil(L);
            return 1;
        }
        snprintf(refname, sizeof refname, "%s", git_reference_name(head));
        git_reference_free(head);
    } else if (strncmp(branch, "refs/", 5) == 0) {
        snprintf(refname, sizeof refname, "%s", branch);
    } else {
        snprintf(refname, sizeof refname, "refs/heads/%s", branch);
    }
    err = git_branch_upstream_name(&buf, repo, refname);
    if (err == GIT_ENOTFOUND) { lua_pushnil(L); return 1; }
    if (err < 0) return git_fail(L, err, "cannot read the upstream branch");
    snprintf(refname, sizeof refname, "%s",
             strncmp(buf.ptr, "refs/remotes/", 13) == 0 ? buf.ptr + 13 : buf.ptr);
    git_buf_dispose(&buf);
    lua_pushstring(L, refname);
    return 1;
}

/* ---- remotes ---------------------------------------------------------------- */

static void free_strarray(void *p) {
    git_strarray_dispose(p);
    free(p);
}

static void free_remote(void *p) { git_remote_free(p); }

static int r_remotes(lua_State *L) {
    git_repository *repo = check_repo(L);
    guard *g = guard_new(L, free_strarray), *gr = guard_new(L, free_remote);
    git_strarray *names = calloc(1, sizeof *names);
    int err;
    if (names == NULL) return luaL_error(L, "out of memory");
    g->ptr = names;
    if ((err = git_remote_list(names, repo)) < 0) return git_fail(L, err, "cannot list remotes");
    lua_createtable(L, (int)names->count, 0);
    for (size_t i = 0; i < names->count; i++) {
        git_remote *r;
        if (git_remote_lookup(&r, repo, names->strings[i]) < 0) continue;
        gr->ptr = r;
        lua_createtable(L, 0, 2);
        lua_pushstring(L, names->strings[i]);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, git_remote_url(r) ? git_remote_url(r) : "");
        lua_setfield(L, -2, "url");
        guard_release(gr);
        lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    }
    guard_release(g);
    return 1;
}

/* One fetch, push or ls-remote: what the callbacks saw, for the message. */
typedef struct {
    char url[1024];       /* the remote's URL without any userinfo */
    const char *token;    /* GITHUB_TOKEN or GIT_TOKEN, registered as a secret */
    lua_State *L;         /* to ask where the token may go (rr_bound_refusal) */
    char token_refused[512]; /* why the token was not sent to the server asking */
    int cred_calls, auth_refused, no_token, no_agent, interrupted;
    char rejected[768];   /* the first ref the server refused, with its reason */
    char remote_msg[512]; /* the server's last sideband line ("remote: ...") */
} xfer;

/* Copy a URL for messages with "user:password@" taken out. */
static void strip_userinfo(char *dst, size_t size, const char *url) {
    const char *scheme = strstr(url, "://"), *at, *slash;
    if (scheme == NULL) { snprintf(dst, size, "%s", url); return; }
    slash = strchr(scheme + 3, '/');
    at = memchr(scheme + 3, '@', (size_t)((slash ? slash : url + strlen(url)) - (scheme + 3)));
    if (at == NULL) { snprintf(dst, size, "%s", url); return; }
    snprintf(dst, size, "%.*s%s", (int)(scheme + 3 - url), url, at + 1);
}

/* A password written into a URL ("https://user:secret@host/...") is a
 * secret like a token: register it so no message can show it. */
static void secret_from_url(lua_State *L, const char *url) {
    const char *scheme = strstr(url, "://"), *at, *colon, *slash;
    if (scheme == NULL) return;
    slash = strchr(scheme + 3, '/');
    at = memchr(scheme + 3, '@', (size_t)((slash ? slash : url + strlen(url)) - (scheme + 3)));
    if (at == NULL) return;
    colon = memchr(scheme + 3, ':', (size_t)(at - (scheme + 3)));
    if (colon != NULL && at - colon > 1) rr_secret_add(L, colon + 1, (size_t)(at - colon - 1));
}

static int poll_interrupt(xfer *x) {
    if (!rr_interrupted()) return 0;
    x->interrupted = 1;
    return -1;
}

/* [token, url] -> nil when the token may go to url's origin, else why not.
 * Run under lua_pcall: no Lua error may cross libgit2's frames. */
static int token_refusal(lua_State *L) {
    char origin[RR_ORIGIN_MAX];
    size_t len;
    const char *token = lua_tolstring(L, 1, &len);
    if (!rr_origin(lua_tostring(L, 2), origin, sizeof origin)) {
        lua_pushliteral(L, "the token goes only to the GitHub server, and this URL names no host");
        return 1;
    }
    if (rr_bound_refusal(L, token, len, origin) == NULL) lua_pushnil(L);
    return 1;
}

/* Whether the token may go to `url`: only to the GitHub server
 * (GITHUB_SERVER_URL, GITHUB_API_URL; https, or http on this machine when
 * that server is configured there). Otherwise x->token_refused says why. */
static int token_allowed(xfer *x, const char *url) {
    lua_State *L = x->L;
    int top = lua_gettop(L), ok;
    if (!lua_checkstack(L, 4)) return 0;
    lua_pushcfunction(L, token_refusal);
    lua_pushstring(L, x->token);
    lua_pushstring(L, url ? url : "");
    ok = lua_pcall(L, 2, 1, 0) == LUA_OK && lua_isnil(L, -1);
    if (!ok) snprintf(x->token_refused, sizeof x->token_refused, "%s",
                      lua_isstring(L, -1) ? lua_tostring(L, -1) : "not allowed");
    lua_settop(L, top);
    return ok;
}

/* A token over https (user x-access-token, as GitHub wants) to the GitHub
 * server only, ssh-agent over ssh. Asked again after handing one out means
 * it was refused: stop there. */
static int cred_cb(git_credential **out, const char *url, const char *user, unsigned allowed,
                   void *payload) {
    xfer *x = payload;
    if (poll_interrupt(x)) return GIT_EUSER;
    if (allowed & GIT_CREDENTIAL_USERNAME) /* ssh asks who first when the URL does not say */
        return git_credential_username_new(out, user ? user : "git");
    if (x->cred_calls++ > 0) { x->auth_refused = 1; return GIT_EAUTH; }
    if (allowed & GIT_CREDENTIAL_SSH_KEY) {
        const char *sock = getenv("SSH_AUTH_SOCK");
        if (sock == NULL || *sock == '\0') { x->no_agent = 1; return GIT_EAUTH; }
        return git_credential_ssh_key_from_agent(out, user ? user : "git");
    }
    if (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) {
        if (x->token == NULL) { x->no_token = 1; return GIT_EAUTH; }
        if (!token_allowed(x, url)) return GIT_EAUTH;
        return git_credential_userpass_plaintext_new(out, "x-access-token", x->token);
    }
    return GIT_PASSTHROUGH;
}

static int transfer_cb(const git_indexer_progress *stats, void *payload) {
    (void)stats;
    return poll_interrupt(payload);
}

static int push_transfer_cb(unsigned current, unsigned total, size_t bytes, void *payload) {
    (void)current, (void)total, (void)bytes;
    return poll_interrupt(payload);
}

static int pack_cb(int stage, uint32_t current, uint32_t total, void *payload) {
    (void)stage, (void)current, (void)total;
    return poll_interrupt(payload);
}

/* Keep the server's last non-empty message line (hooks explain refusals). */
static int sideband_cb(const char *str, int len, void *payload) {
    xfer *x = payload;
    int end = len;
    while (end > 0 && (str[end - 1] == '\n' || str[end - 1] == '\r')) end--;
    if (end > 0) {
        int start = end;
        while (start > 0 && str[start - 1] != '\n' && str[start - 1] != '\r') start--;
        snprintf(x->remote_msg, sizeof x->remote_msg, "%.*s", end - start, str + start);
    }
    return poll_interrupt(x);
}

static int update_ref_cb(const char *refname, const char *status, void *payload) {
    xfer *x = payload;
    if (status != NULL && x->rejected[0] == '\0')
        snprintf(x->rejected, sizeof x->rejected, "%s (%s)", refname, status);
    return 0;
}

static void callbacks_init(git_remote_callbacks *cb, xfer *x) {
    git_remote_init_callbacks(cb, GIT_REMOTE_CALLBACKS_VERSION);
    cb->credentials = cred_cb;
    cb->transfer_progress = transfer_cb;
    cb->push_transfer_progress = push_transfer_cb;
    cb->pack_progress = pack_cb;
    cb->sideband_progress = sideband_cb;
    cb->push_update_reference = update_ref_cb;
    cb->payload = x;
}

/* The remote by name, else a URL (or path) as an anonymous remote. */
static int remote_get(lua_State *L, git_repository *repo, const char *name, guard *g, xfer *x) {
    git_remote *r;
    const char *token = getenv("GITHUB_TOKEN");
    int err = git_remote_lookup(&r, repo, name);
    if (err == GIT_ENOTFOUND || err == GIT_EINVALIDSPEC)
        err = git_remote_create_anonymous(&r, repo, name);
    if (err < 0) return err;
    g->ptr = r;
    memset(x, 0, sizeof *x);
    x->L = L;
    strip_userinfo(x->url, sizeof x->url, git_remote_url(r) ? git_remote_url(r) : name);
    secret_from_url(L, git_remote_url(r) ? git_remote_url(r) : name);
    if (token == NULL || *token == '\0') token = getenv("GIT_TOKEN");
    if (token != NULL && *token != '\0') {
        rr_secret_add(L, token, strlen(token));
        x->token = token;
    }
    return 0;
}

/* The one line a user sees when a transfer failed. */
static int xfer_fail(lua_State *L, int err, xfer *x, const char *verb) {
    if (x->interrupted || rr_interrupted()) return rr_raise_interrupted(L);
    if (x->token_refused[0] != '\0')
        return rr_failf(L, "GIT_EAUTH", "%s asks for credentials; the token was not sent: %s", x->url,
                        x->token_refused);
    if (x->auth_refused)
        return rr_failf(L, "GIT_EAUTH", "authentication refused by %s: check that GITHUB_TOKEN "
                        "(or GIT_TOKEN) is valid and may write to the repository", x->url);
    if (x->no_token)
        return rr_failf(L, "GIT_EAUTH", "%s asks for credentials: set GITHUB_TOKEN or GIT_TOKEN",
                        x->url);
    if (x->no_agent)
        return rr_failf(L, "GIT_EAUTH", "%s needs an ssh key: start ssh-agent and ssh-add the "
                        "key (SSH_AUTH_SOCK is not set), or use an https URL with GITHUB_TOKEN",
                        x->url);
    {
        const git_error *e = git_error_last();
        return rr_failf(L, code_name(err), "%s %s failed: %s (libgit2 %s error)%s%s", verb, x->url,
                        e && e->message ? e->message : "unknown error",
                        class_name(e ? e->klass : 0), x->remote_msg[0] ? "; remote said: " : "",
                        x->remote_msg);
    }
}

static int remote_missing(lua_State *L, int err, const char *name) {
    return rr_failf(L, code_name(err), "no remote named '%s' and not a URL: %s", name,
                    git_error_last() && git_error_last()->message ? git_error_last()->message : "");
}

static void free_strings(void *p) {
    git_strarray *a = p;
    free(a->strings);
    free(a);
}

/* A list of strings from the Lua table at index t; owned by guard g. */
static git_strarray *strings_from(lua_State *L, int t, guard *g) {
    git_strarray *a = calloc(1, sizeof *a);
    size_t n = lua_rawlen(L, t);
    if (a == NULL) luaL_error(L, "out of memory");
    g->ptr = a;
    a->strings = calloc(n ? n : 1, sizeof *a->strings);
    if (a->strings == NULL) luaL_error(L, "out of memory");
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, t, (lua_Integer)i + 1);
        a->strings[i] = (char *)lua_tostring(L, -1); /* anchored in the table */
        if (a->strings[i] == NULL) luaL_error(L, "refspec %d is not a string", (int)i + 1);
        lua_pop(L, 1);
        a->count = i + 1;
    }
    return a;
}

/* fetch(remote, {refspecs = {...}, tags = true, prune = false}) -> true */
static int r_fetch(lua_State *L) {
    git_repository *repo = check_repo(L);
    const char *name = luaL_checkstring(L, 2);
    int has_opts = lua_istable(L, 3);
    int tags = has_opts ? rr_optfield_boolean(L, 3, "tags", 1) : 1;
    int prune = has_opts ? rr_optfield_boolean(L, 3, "prune", 0) : 0;
    guard *gr = guard_new(L, free_remote), *gs = guard_new(L, free_strings);
    git_fetch_options opts;
    git_strarray *refspecs = NULL;
    xfer x;
    int err;
    git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
    if (has_opts && lua_getfield(L, 3, "refspecs") == LUA_TTABLE)
        refspecs = strings_from(L, lua_gettop(L), gs);
    if ((err = remote_get(L, repo, name, gr, &x)) < 0) return remote_missing(L, err, name);
    callbacks_init(&opts.callbacks, &x);
    opts.proxy_opts.type = GIT_PROXY_AUTO; /* http.proxy from the git config */
    opts.download_tags = tags ? GIT_REMOTE_DOWNLOAD_TAGS_ALL : GIT_REMOTE_DOWNLOAD_TAGS_AUTO;
    opts.prune = prune ? GIT_FETCH_PRUNE : GIT_FETCH_PRUNE_UNSPECIFIED;
    err = git_remote_fetch(gr->ptr, refspecs, &opts, "fetch");
    guard_release(gs);
    if (err < 0) return xfer_fail(L, err, &x, "fetch from");
    guard_release(gr);
    lua_pushboolean(L, 1);
    return 1;
}

/* "push of a:b, :c to": libgit2's messages often do not name the refs. */
static const char *push_verb(lua_State *L, const git_strarray *refspecs) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "push of ");
    for (size_t i = 0; i < refspecs->count; i++) {
        if (i > 0) luaL_addstring(&b, ", ");
        luaL_addstring(&b, refspecs->strings[i]);
    }
    luaL_addstring(&b, " to");
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

/* push(remote, refspecs) -> true; a ref the server refuses is a failure. */
static int r_push(lua_State *L) {
    git_repository *repo = check_repo(L);
    const char *name = luaL_checkstring(L, 2);
    guard *gr, *gs;
    git_push_options opts;
    git_strarray *refspecs;
    xfer x;
    int err;
    git_push_options_init(&opts, GIT_PUSH_OPTIONS_VERSION);
    if (lua_type(L, 3) == LUA_TSTRING) {
        lua_createtable(L, 1, 0);
        lua_pushvalue(L, 3);
        lua_rawseti(L, -2, 1);
        lua_replace(L, 3);
    }
    luaL_checktype(L, 3, LUA_TTABLE);
    gr = guard_new(L, free_remote);
    gs = guard_new(L, free_strings);
    refspecs = strings_from(L, 3, gs);
    luaL_argcheck(L, refspecs->count > 0, 3, "at least one refspec");
    if ((err = remote_get(L, repo, name, gr, &x)) < 0) return remote_missing(L, err, name);
    callbacks_init(&opts.callbacks, &x);
    opts.proxy_opts.type = GIT_PROXY_AUTO;
    err = git_remote_push(gr->ptr, refspecs, &opts);
    if (err < 0) return xfer_fail(L, err, &x, push_verb(L, refspecs));
    guard_release(gs);
    if (x.rejected[0] != '\0')
        return rr_failf(L, "GIT_EREJECTED", "%s rejected %s%s%s", x.url, x.rejected,
                        x.remote_msg[0] ? "; remote said: " : "", x.remote_msg);
    guard_release(gr);
    lua_pushboolean(L, 1);
    return 1;
}

static void free_connected(void *p) {
    git_remote_disconnect(p);
    git_remote_free(p);
}

/* ls_remote(remote) -> { {name = "refs/...", id = hex}, ... } */
static int r_ls_remote(lua_State *L) {
    git_repository *repo = check_repo(L);
    const char *name = luaL_checkstring(L, 2);
    guard *gr = guard_new(L, free_connected);
    git_remote_callbacks cb;
    const git_remote_head **heads;
    size_t n;
    xfer x;
    int err;
    if ((err = remote_get(L, repo, name, gr, &x)) < 0) return remote_missing(L, err, name);
    callbacks_init(&cb, &x);
    if ((err = git_remote_connect(gr->ptr, GIT_DIRECTION_FETCH, &cb, NULL, NULL)) < 0 ||
        (err = git_remote_ls(&heads, &n, gr->ptr)) < 0)
        return xfer_fail(L, err, &x, "listing");
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 2);
        lua_pushstring(L, heads[i]->name);
        lua_setfield(L, -2, "name");
        push_oid(L, &heads[i]->oid);
        lua_setfield(L, -2, "id");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    guard_release(gr);
    return 1;
}

/* ---- a clean checkout of one commit ---------------------------------------- */

static void free_repo(void *p) { git_repository_free(p); }

/* Write every tag of `src` into dst's packed-refs: one file rather than a
 * loose ref each (git/git has a thousand tags). A ref that does not resolve
 * is left out, as git's own clone leaves it. */
static int copy_tags(git_repository *src, const char *dst_gitdir) {
    git_strarray names = {0};
    char path[PATH_MAX];
    FILE *f;
    int err = git_reference_list(&names, src);
    if (err < 0) return err;
    snprintf(path, sizeof path, "%spacked-refs", dst_gitdir);
    f = fopen(path, "w");
    if (f == NULL) {
        git_strarray_dispose(&names);
        git_error_set_str(GIT_ERROR_OS, "cannot write packed-refs of the checkout");
        return -1;
    }
    for (size_t i = 0; i < names.count; i++) {
        git_oid id;
        char hex[GIT_OID_HEXSZ + 1];
        if (strncmp(names.strings[i], "refs/tags/", 10) != 0) continue;
        if (git_reference_name_to_id(&id, src, names.strings[i]) < 0) continue;
        git_oid_tostr(hex, sizeof hex, &id);
        fprintf(f, "%s %s\n", hex, names.strings[i]);
    }
    git_strarray_dispose(&names);
    if (fclose(f) != 0) {
        git_error_set_str(GIT_ERROR_OS, "cannot write packed-refs of the checkout");
        return -1;
    }
    return 0;
}

/* Write `text` into dst_gitdir/name (creating it). */
static int write_git_file(const char *dst_gitdir, const char *name, const char *text, size_t len) {
    char path[PATH_MAX];
    FILE *f;
    snprintf(path, sizeof path, "%s%s", dst_gitdir, name);
    f = fopen(path, "w");
    if (f == NULL || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
        if (f != NULL) fclose(f);
        git_error_set_str(GIT_ERROR_OS, "cannot write the checkout's git files");
        return -1;
    }
    return 0;
}

/* The new repository borrows src's objects (objects/info/alternates, as
 * `git clone --shared`) and knows where src's history is cut (.git/shallow). */
static int share_objects(git_repository *src, const char *dst_gitdir) {
    char line[PATH_MAX + 16], path[PATH_MAX];
    const char *common = git_repository_commondir(src);
    int n = snprintf(line, sizeof line, "%sobjects\n", common);
    FILE *f;
    if (n < 0 || (size_t)n >= sizeof line || write_git_file(dst_gitdir, "objects/info/alternates", line, (size_t)n) < 0)
        return -1;
    snprintf(path, sizeof path, "%sshallow", common);
    f = fopen(path, "r");
    if (f != NULL) {
        char buf[65536];
        size_t got = fread(buf, 1, sizeof buf, f);
        int err = ferror(f) || !feof(f);
        fclose(f);
        if (err) {
            git_error_set_str(GIT_ERROR_OS, "cannot copy .git/shallow (over 64 KiB?)");
            return -1;
        }
        if (write_git_file(dst_gitdir, "shallow", buf, got) < 0) return -1;
    }
    return 0;
}

/* checkout(dir, rev) -> true | nil, msg, code. A new repository in `dir`
 * (absent or empty) sharing this one's objects, with all its tags, HEAD
 * detached at rev's commit and that commit's tree checked out with a fresh
 * index. It is a real git checkout, so build backends that list files
 * through git (setuptools_scm, hatch-vcs) see what they see in a clone,
 * while untracked and ignored files of this working tree cannot reach it.
 * Submodules are not checked out. */
static int r_checkout(lua_State *L) {
    git_repository *src = check_repo(L);
    const char *dir = luaL_checkstring(L, 2);
    const char *rev = luaL_checkstring(L, 3);
    guard *gr = guard_new(L, free_repo);
    git_checkout_options opts;
    git_commit *commit;
    git_oid id;
    int err = resolve_commit(src, rev, &id);
    git_checkout_options_init(&opts, GIT_CHECKOUT_OPTIONS_VERSION);
    if (err < 0) return fail_rev(L, err, rev);
    if ((err = git_repository_init((git_repository **)&gr->ptr, dir, 0)) < 0)
        return git_fail(L, err, "cannot create the checkout");
    if ((err = share_objects(src, git_repository_path(gr->ptr))) < 0 ||
        (err = copy_tags(src, git_repository_path(gr->ptr))) < 0)
        return git_fail(L, err, "cannot prepare the checkout");
    guard_release(gr); /* reopened: the object database reads the alternates at open */
    if ((err = git_repository_open((git_repository **)&gr->ptr, dir)) < 0 ||
        (err = git_repository_set_head_detached(gr->ptr, &id)) < 0 ||
        (err = git_commit_lookup(&commit, gr->ptr, &id)) < 0)
        return git_fail(L, err, "cannot prepare the checkout");
    opts.checkout_strategy = GIT_CHECKOUT_FORCE;
    err = git_checkout_tree(gr->ptr, (const git_object *)commit, &opts);
    git_commit_free(commit);
    if (err < 0) return git_fail(L, err, "cannot check out the commit");
    guard_release(gr);
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- the module --------------------------------------------------------------- */

static const luaL_Reg repo_methods[] = {
    {"close", repo_close},
    {"path", r_path},
    {"workdir", r_workdir},
    {"is_shallow", r_is_shallow},
    {"is_empty", r_is_empty},
    {"head", r_head},
    {"abbrev", r_abbrev},
    {"status", r_status},
    {"describe", r_describe},
    {"tags", r_tags},
    {"tag_create", r_tag_create},
    {"tag_delete", r_tag_delete},
    {"rev_parse", r_rev_parse},
    {"log", r_log},
    {"count_commits", r_count_commits},
    {"merge_base", r_merge_base},
    {"ahead_behind", r_ahead_behind},
    {"upstream", r_upstream},
    {"remotes", r_remotes},
    {"fetch", r_fetch},
    {"push", r_push},
    {"ls_remote", r_ls_remote},
    {"config", r_config},
    {"checkout", r_checkout},
    {"__gc", repo_close},
    {"__close", repo_close},
    {"__tostring", r_tostring},
    {NULL, NULL}};

static const luaL_Reg functions[] = {
    {"open", l_open},
    {"init", l_init},
    {NULL, NULL}};

int luaopen_relrun_git(lua_State *L) {
    rr_newclass(L, REPO_T, repo_methods);
    luaL_newlib(L, functions);
    return 1;
}
