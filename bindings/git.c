/*
 * relrun.git: the repository primitives a release needs, over libgit2 1.5.
 *
 * Three things are relrun's own rather than libgit2's, because they must
 * answer exactly what git answers (setuptools_scm copies git's output) and
 * as fast as git on big histories. They live in bindings/git/ as plain C
 * (tested by tests/unit/test_git_*.c); this file is their Lua face:
 *   - abbreviated ids: git's auto length from the approximate object count,
 *     lengthened while ambiguous (libgit2 always starts at 7); git/odb.c;
 *   - describe: git's candidate walk over the commit-graph or pack files,
 *     from tags read with packed-refs' peeled ids; git/describe.c;
 *   - the dirty check: tracked files only, the index's stat data trusted as
 *     git trusts it, tree modes normalised as git does; git/dirty.c.
 *
 * Sections: errors and library lifetime; the repository handle; abbrev;
 * head and status; tags and describe; log and graph queries; remotes; the
 * module.
 *
 * Memory rule: C allocations that live while Lua values are pushed belong
 * to a guard userdata (below), so an out-of-memory error never leaks them.
 */
#include "rr.h"
#include "git/describe.h"
#include "git/dirty.h"
#include "git/libs.h"
#include "git/odb.h"
#include "git/repo.h"

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

/* libgit2 states initialised by this module and not shut down: its error
 * state (git_error_last) exists only then. */
static int libgit2_live;

/* nil, "<what>: <libgit2 message> (libgit2 <class> error)", "GIT_<CODE>". */
static int git_fail(lua_State *L, int err, const char *what) {
    const git_error *e = libgit2_live ? git_error_last() : NULL;
    if (e == NULL && rgit_libs_error() != NULL) return rr_failf(L, "GIT_ERROR", "%s: %s", what, rgit_libs_error());
    if (e == NULL || e->message == NULL)
        return rr_failf(L, code_name(err), "%s: libgit2 error %d", what, err);
    return rr_failf(L, code_name(err), "%s: %s (libgit2 %s error)", what, e->message,
                    class_name(e->klass));
}

/* libgit2 is initialised when a repository first needs it (see
 * bindings/git/repo.h: often never) and shut down when the Lua state closes:
 * a registry userdata whose __gc runs last among ours, since every
 * repository handle is created after it and finalised before it. */
static int lib_gc(lua_State *L) {
    int *live = luaL_checkudata(L, 1, LIB_T);
    if (*live) {
        git_libgit2_shutdown();
        libgit2_live--;
    }
    *live = 0;
    return 0;
}

/* Why lib_init failed: libgit2 could not be loaded, or its init failed. */
static const char *lib_init_failure(void) {
    return rgit_libs_error() != NULL ? rgit_libs_error() : "libgit2 failed to initialise";
}

/* The repository's hook: initialise libgit2 for this state, once. */
static int lib_init(void *ctx) {
    int *live = ctx;
    if (*live) return 0;
    if (rgit_need_libgit2() < 0 || git_libgit2_init() < 0) return -1;
    *live = 1;
    libgit2_live++;
    return 0;
}

/* This state's library userdata (its `live` flag), made on first use. */
static int *lib_ensure(lua_State *L) {
    int *live;
    if (lua_getfield(L, LUA_REGISTRYINDEX, LIB_T) != LUA_TNIL) {
        live = lua_touserdata(L, -1);
        lua_pop(L, 1);
        return live;
    }
    lua_pop(L, 1);
    live = lua_newuserdatauv(L, sizeof *live, 0);
    *live = 0;
    if (luaL_newmetatable(L, LIB_T)) {
        lua_pushcfunction(L, lib_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, LIB_T);
    return live;
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
    int open;
    rgit_repo r; /* bindings/git/repo.h: libgit2's handle inside, opened on need */
} repo_handle;

static int repo_close(lua_State *L) {
    repo_handle *h = luaL_checkudata(L, 1, REPO_T);
    if (h->open) rgit_repo_close(&h->r);
    h->open = 0;
    return 0;
}

static rgit_repo *check_handle(lua_State *L) {
    repo_handle *h = luaL_checkudata(L, 1, REPO_T);
    if (!h->open) luaL_error(L, "attempt to use a closed " REPO_T);
    return &h->r;
}

/* libgit2's repository, opened now if it was not yet. */
static git_repository *check_repo(lua_State *L) {
    rgit_repo *r = check_handle(L);
    git_repository *git = rgit_git(r);
    if (git == NULL) {
        const git_error *e = libgit2_live ? git_error_last() : NULL;
        luaL_error(L, "cannot open git repository %s: %s", r->open_path,
                   e && e->message ? e->message : lib_init_failure());
    }
    return git;
}

static int l_open(lua_State *L) {
    const char *path = luaL_optstring(L, 1, ".");
    int *live = lib_ensure(L);
    repo_handle *h = rr_newhandle(L, sizeof *h, REPO_T);
    git_repository *git;
    int err;
    if (rgit_repo_discover(&h->r, path, lib_init, live) == 0) {
        h->open = 1;
        return 1;
    }
    rgit_repo_close(&h->r);
    if (lib_init(live) < 0) return luaL_error(L, "relrun.git: %s", lib_init_failure());
    err = git_repository_open_ext(&git, path, 0, NULL);
    if (err == GIT_ENOTFOUND)
        return rr_failf(L, "GIT_ENOTFOUND",
                        "not a git repository: %s (nor any parent folder); run relrun in "
                        "a checkout or pass its path", path);
    if (err < 0) return git_fail(L, err, "cannot open git repository");
    rgit_repo_from_git(&h->r, git, 0);
    h->r.init = lib_init;
    h->r.init_ctx = live;
    h->open = 1;
    return 1;
}

static int l_init(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    int bare = lua_istable(L, 2) ? rr_optfield_boolean(L, 2, "bare", 0) : 0;
    int *live = lib_ensure(L);
    repo_handle *h = rr_newhandle(L, sizeof *h, REPO_T);
    git_repository *git;
    int err;
    if (lib_init(live) < 0) return luaL_error(L, "relrun.git: %s", lib_init_failure());
    err = git_repository_init(&git, path, (unsigned)bare);
    if (err < 0) return git_fail(L, err, "cannot create git repository");
    rgit_repo_from_git(&h->r, git, 0);
    h->r.init = lib_init;
    h->r.init_ctx = live;
    h->open = 1;
    return 1;
}

static int r_tostring(lua_State *L) {
    repo_handle *h = luaL_checkudata(L, 1, REPO_T);
    if (!h->open) lua_pushliteral(L, "git repository (closed)");
    else lua_pushfstring(L, "git repository (%s)", h->r.gitdir);
    return 1;
}

static int r_path(lua_State *L) {
    lua_pushstring(L, check_handle(L)->gitdir);
    return 1;
}

static int r_workdir(lua_State *L) {
    const char *w = check_handle(L)->workdir;
    if (w[0] == '\0') lua_pushnil(L);
    else lua_pushstring(L, w);
    return 1;
}

static int r_is_shallow(lua_State *L) {
    lua_pushboolean(L, rgit_is_shallow(check_handle(L)));
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
    rgit_oid_tohex(id, hex);
    lua_pushstring(L, hex);
}

/* Resolve a revision to the object id it names (rev-parse semantics). */
static int resolve(git_repository *repo, const char *spec, git_oid *out) {
    git_object *obj;
    int err = git_revparse_single(&obj, repo, spec);
    if (err < 0) return err;
    rgit_oid_cpy(out, git_object_id(obj));
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
    rgit_oid_cpy(out, git_object_id(peeled));
    git_object_free(peeled);
    return 0;
}

/* A revision to a commit id: "HEAD" read by bindings/git/repo.c when it
 * can (GIT_EUNBORNBRANCH when it has no commit), anything else by libgit2. */
static int resolve_commit_at(lua_State *L, rgit_repo *r, const char *spec, git_oid *out) {
    rgit_head h;
    if (strcmp(spec, "HEAD") == 0 && rgit_read_head(r, &h) == 0) {
        if (h.unborn) return GIT_EUNBORNBRANCH;
        rgit_oid_cpy(out, &h.id);
        return 0;
    }
    return resolve_commit(check_repo(L), spec, out);
}

static int fail_rev(lua_State *L, int err, const char *spec) {
    if (err == GIT_ENOTFOUND || err == GIT_EINVALIDSPEC || err == GIT_EAMBIGUOUS ||
        err == GIT_EPEEL) {
        const git_error *e = libgit2_live ? git_error_last() : NULL;
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

static void free_object(void *p) { git_object_free(p); }

/* Abbreviates ids for the length of one call (bindings/git/repo.c): the
 * base length is read once. */
typedef struct {
    rgit_repo *r;
    int base;
} abbrev_ctx;

static void abbrev_open(lua_State *L, abbrev_ctx *a, rgit_repo *r) {
    (void)L;
    a->r = r;
    a->base = rgit_abbrev_base(r);
}

static void abbrev_close(abbrev_ctx *a) {
    a->r = NULL;
}

static void abbrev_push(lua_State *L, abbrev_ctx *a, const git_oid *id) {
    char hex[GIT_OID_HEXSZ + 1];
    int len = rgit_abbrev_unique(a->r, id, a->base);
    rgit_oid_tohex(id, hex);
    lua_pushlstring(L, hex, (size_t)len);
}

static int r_abbrev(lua_State *L) {
    git_repository *repo = check_repo(L);
    const char *spec = luaL_checkstring(L, 2);
    abbrev_ctx a;
    git_oid id;
    int err = resolve(repo, spec, &id);
    if (err < 0) return fail_rev(L, err, spec);
    abbrev_open(L, &a, check_handle(L));
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

/* [t] fields of HEAD as bindings/git/repo.c read it. */
static void head_here(lua_State *L, const rgit_head *h, abbrev_ctx *a) {
    set_bool(L, "unborn", h->unborn);
    set_bool(L, "detached", h->detached);
    if (strncmp(h->target, "refs/heads/", 11) == 0) {
        lua_pushstring(L, h->target + 11);
        lua_setfield(L, -2, "branch");
    }
    if (!h->unborn) {
        push_oid(L, &h->id);
        lua_setfield(L, -2, "id");
        abbrev_push(L, a, &h->id);
        lua_setfield(L, -2, "short");
    }
}

/* HEAD through libgit2, for what repo.c does not read. */
static int head_libgit2(lua_State *L, rgit_repo *r) {
    git_repository *repo = check_repo(L);
    guard *g = guard_new(L, free_ref);
    git_reference *ref = NULL;
    abbrev_ctx a;
    int err = git_repository_head(&ref, repo);
    g->ptr = ref;
    abbrev_open(L, &a, r);
    if (err < 0 && err != GIT_EUNBORNBRANCH && err != GIT_ENOTFOUND)
        return git_fail(L, err, "cannot read HEAD");
    lua_createtable(L, 0, 5);
    if (err < 0) head_unborn(L, repo, g);
    else head_born(L, repo, ref, &a);
    abbrev_close(&a);
    guard_release(g);
    return 1;
}

static int r_head(lua_State *L) {
    rgit_repo *r = check_handle(L);
    rgit_head h;
    abbrev_ctx a;
    if (rgit_read_head(r, &h) != 0) return head_libgit2(L, r);
    abbrev_open(L, &a, r);
    lua_createtable(L, 0, 5);
    head_here(L, &h, &a);
    abbrev_close(&a);
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

static void free_status(void *p) { git_status_list_free(p); }

static void free_changes(void *p) {
    rgit_changes_free(p);
    free(p);
}

/* The word for a change, as for libgit2's entries above. */
static const char *change_word(const rgit_change *c) {
    static const char *const words[] = {"", "added", "deleted", "modified", "typechange", "conflicted"};
    int order[] = {RGIT_CONFLICTED, RGIT_ADDED, RGIT_DELETED, RGIT_TYPECHANGE, RGIT_MODIFIED};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (c->staged == order[i] || c->unstaged == order[i]) return words[order[i]];
    return c->unstaged == RGIT_UNTRACKED ? "untracked" : "unknown";
}

/* [t] push the files of `c` into the list at the top; 1 if any is tracked. */
static int push_changes(lua_State *L, const rgit_changes *c) {
    int dirty = 0;
    for (size_t i = 0; i < c->n; i++) {
        const rgit_change *e = &c->v[i];
        lua_createtable(L, 0, 3);
        lua_pushstring(L, e->path);
        lua_setfield(L, -2, "path");
        lua_pushstring(L, change_word(e));
        lua_setfield(L, -2, "status");
        lua_pushboolean(L, e->staged != 0 && e->staged != RGIT_CONFLICTED && e->unstaged != RGIT_CONFLICTED);
        lua_setfield(L, -2, "staged");
        lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
        if (e->unstaged != RGIT_UNTRACKED) dirty = 1;
    }
    return dirty;
}

/* libgit2's status for what bindings/git/dirty.c does not read: untracked
 * files (GIT_STATUS_WT_NEW only, added to `c`), or every change of an
 * index it does not support (a split index), added to the list at `files`
 * (each one makes the tree dirty). */
static int libgit2_status(lua_State *L, git_repository *repo, int untracked, rgit_changes *c, int files,
                          int *dirty) {
    guard *g = guard_new(L, free_status);
    git_status_options opts;
    git_status_list *list;
    int err;
    git_status_options_init(&opts, GIT_STATUS_OPTIONS_VERSION);
    opts.show = untracked ? GIT_STATUS_SHOW_WORKDIR_ONLY : GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
    opts.flags = GIT_STATUS_OPT_SORT_CASE_SENSITIVELY;
    if (untracked) opts.flags |= GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS;
    if ((err = git_status_list_new(&list, repo, &opts)) < 0) return err;
    g->ptr = list;
    for (size_t i = 0; i < git_status_list_entrycount(list); i++) {
        const git_status_entry *e = git_status_byindex(list, i);
        if (e->status == GIT_STATUS_CURRENT || (e->status & GIT_STATUS_IGNORED)) continue;
        if (untracked && e->status == GIT_STATUS_WT_NEW) {
            if (rgit_changes_add(c, status_path(e), 0, RGIT_UNTRACKED) < 0) return GIT_ERROR;
        } else if (!untracked) {
            push_status_entry(L, e);
            lua_rawseti(L, files, (lua_Integer)lua_rawlen(L, files) + 1);
            *dirty = 1;
        }
    }
    guard_release(g);
    lua_pop(L, 1);
    return 0;
}

/* status{untracked = false} -> {dirty, files}. Tracked changes make the tree
 * dirty, found as `git status --porcelain --untracked-files=no` finds them;
 * untracked files are looked for and listed only when asked, and never make
 * it dirty (as `git describe --dirty` and setuptools_scm decide). */
static int r_status(lua_State *L) {
    rgit_repo *r = check_handle(L);
    int untracked = lua_istable(L, 2) ? rr_optfield_boolean(L, 2, "untracked", 0) : 0;
    guard *g = guard_new(L, free_changes);
    rgit_changes *c = calloc(1, sizeof *c);
    int dirty = 0, files, err;
    if (c == NULL) return luaL_error(L, "out of memory");
    g->ptr = c;
    if (r->workdir[0] == '\0')
        return rr_fail(L, "cannot read status: the repository is bare (no working tree)",
                       "GIT_EBAREREPO");
    lua_createtable(L, 0, 2);
    lua_newtable(L); /* [t, files] */
    files = lua_gettop(L);
    err = rgit_dirty(r, c);
    if (err == RGIT_INDEX_UNSUPPORTED) {
        /* libgit2 may read it; if not, say why ours did not */
        const git_error *why = libgit2_live ? git_error_last() : NULL;
        lua_pushstring(L, why && why->message ? why->message : "the index is not supported");
        err = libgit2_status(L, check_repo(L), 0, c, files, &dirty);
        if (err < 0) return rr_failf(L, code_name(err), "cannot read status: %s", lua_tostring(L, files + 1));
        lua_settop(L, files);
    }
    if (err == 0 && untracked) err = libgit2_status(L, check_repo(L), 1, c, files, &dirty);
    if (err < 0) return git_fail(L, err, "cannot read status");
    rgit_changes_sort(c);
    if (push_changes(L, c)) dirty = 1;
    guard_release(g);
    lua_setfield(L, -2, "files");
    lua_pushboolean(L, dirty);
    lua_setfield(L, -2, "dirty");
    return 1;
}

/* ---- tags and describe (bindings/git/describe.c) --------------------------- */

static void free_taglist(void *p) {
    rgit_taglist_free(p);
    free(p);
}

/* [g] A taglist owned by a guard, filled by rgit_tags_read. */
static rgit_taglist *taglist_new(lua_State *L, guard **g) {
    rgit_taglist *l;
    *g = guard_new(L, free_taglist);
    if ((l = calloc(1, sizeof *l)) == NULL) luaL_error(L, "out of memory");
    (*g)->ptr = l;
    return l;
}

static int is_zero(const git_oid *id) {
    static const git_oid zero;
    return rgit_oid_equal(id, &zero);
}

/* The describe patterns as C strings (anchored in the options table). */
typedef struct {
    const char **v;
    size_t n;
} patterns;

/* git matches with wildmatch without WM_PATHNAME: `*` crosses `/`. */
static int keep_matching(const char *name, void *ctx) {
    const patterns *p = ctx;
    if (p->n == 0) return 1;
    for (size_t i = 0; i < p->n; i++)
        if (fnmatch(p->v[i], name, 0) == 0) return 1;
    return 0;
}

/* The `match` option (a pattern or a list) into `out`; 1 when given. The
 * array is a userdata left on the stack. */
static int match_option(lua_State *L, int has_opts, patterns *out) {
    int ty, t;
    out->n = 0;
    out->v = NULL;
    if (!has_opts) return 0;
    ty = lua_getfield(L, 2, "match");
    luaL_argcheck(L, ty == LUA_TNIL || ty == LUA_TSTRING || ty == LUA_TTABLE, 2,
                  "match must be a pattern or a list of patterns");
    if (ty == LUA_TNIL) { lua_pop(L, 1); return 0; }
    t = lua_gettop(L);
    if (ty == LUA_TSTRING) {
        out->v = lua_newuserdatauv(L, sizeof *out->v, 0);
        out->v[out->n++] = lua_tostring(L, t);
        return 1;
    }
    out->v = lua_newuserdatauv(L, (lua_rawlen(L, t) + 1) * sizeof *out->v, 0);
    for (lua_Integer i = 1; lua_rawgeti(L, t, i) == LUA_TSTRING; i++) {
        out->v[out->n++] = lua_tostring(L, -1); /* anchored in the table */
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (out->n == 0) out->v[out->n++] = ""; /* an empty list matches nothing, as before */
    return 1;
}

static int describe_not_found(lua_State *L, const rgit_described *d, int patterns, const char *rev) {
    if (!d->any_names && patterns)
        return rr_failf(L, "GIT_ENOTFOUND", "no tag matching the pattern exists to describe %s", rev);
    if (!d->any_names)
        return rr_failf(L, "GIT_ENOTFOUND", "cannot describe %s: there are no tags", rev);
    return rr_failf(L, "GIT_ENOTFOUND", "no tag%s is reachable from %s",
                    patterns ? " matching the pattern" : "", rev);
}

/* [g] push { tag, distance, id, short }. */
static int push_described(lua_State *L, rgit_repo *repo, const rgit_described *d, const git_oid *id) {
    abbrev_ctx a;
    abbrev_open(L, &a, repo);
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
    rgit_repo *repo = check_handle(L);
    int has_opts = lua_istable(L, 2);
    const char *rev = has_opts ? rr_optfield_string(L, 2, "rev", "HEAD") : "HEAD";
    int tags_too = has_opts ? rr_optfield_boolean(L, 2, "tags", 1) : 1;
    lua_Integer cands = has_opts ? rr_optfield_integer(L, 2, "candidates", 10) : 10;
    rgit_describe_opts o;
    rgit_described d;
    patterns pats;
    int has_patterns = match_option(L, has_opts, &pats), err;
    rgit_taglist *l;
    guard *g;
    git_oid id;
    luaL_argcheck(L, cands >= 1 && cands <= RGIT_MAX_CANDIDATES, 2, "candidates must be 1..16");
    if ((err = resolve_commit_at(L, repo, rev, &id)) < 0) {
        if (err == GIT_EUNBORNBRANCH || git_repository_head_unborn(check_repo(L)) == 1)
            return rr_fail(L, "cannot describe: the repository has no commits yet",
                           "GIT_EUNBORNBRANCH");
        return fail_rev(L, err, rev);
    }
    l = taglist_new(L, &g);
    if ((err = rgit_tags_read(repo, keep_matching, &pats, l)) < 0) return git_fail(L, err, "cannot list tags");
    o.tags = l;
    o.tags_too = tags_too;
    o.candidates = (int)cands;
    err = rgit_describe(repo, &id, &o, &d);
    guard_release(g); /* d holds its own copy of the name */
    if (err < 0) return git_fail(L, err, "cannot describe");
    if (!d.found) return describe_not_found(L, &d, has_patterns, rev);
    return push_described(L, repo, &d, &id);
}

/* tags() -> { {name, id, target, annotated, tagger_time, message}, ... } */
static void push_tag_details(lua_State *L, git_repository *repo, const rgit_tag *t, guard *g) {
    git_tag *tag;
    push_oid(L, &t->target);
    lua_setfield(L, -2, "id");
    lua_pushboolean(L, t->annotated);
    lua_setfield(L, -2, "annotated");
    if (!is_zero(&t->commit)) {
        push_oid(L, &t->commit);
        lua_setfield(L, -2, "target");
    }
    if (t->annotated && repo != NULL && git_tag_lookup(&tag, repo, &t->target) == 0) {
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

/* The peeled id is a commit? (packed-refs records the peeled id, not its
 * type.) Read by relrun's own object reader, which falls back to libgit2
 * only for what it cannot read itself (an alternate's or deltified loose
 * object). */
static int is_commit(rgit_reader *rd, const git_oid *id) {
    const unsigned char *data;
    size_t len;
    int type;
    return !is_zero(id) && rgit_reader_head(rd, id, "", &type, &data, &len) == 0 && type == RGIT_OBJ_COMMIT;
}

/* tags([{details = true}]) -> list. Without details (tagger, message),
 * listing needs no libgit2 at all: its initialisation parses the system's
 * CA bundle (~3 ms with mbedTLS), which a run that only reads tags skips. */
static int r_tags(lua_State *L) {
    rgit_repo *r = check_handle(L);
    int details = lua_istable(L, 2) ? rr_optfield_boolean(L, 2, "details", 1) : 1;
    git_repository *repo = details ? check_repo(L) : NULL;
    guard *g, *obj = guard_new(L, free_object);
    rgit_taglist *l = taglist_new(L, &g);
    rgit_reader rd;
    int err = rgit_tags_read(r, NULL, NULL, l);
    if (err < 0) return git_fail(L, err, "cannot list tags");
    rgit_reader_open(&rd, r);
    for (size_t i = 0; i < l->n; i++)
        if (!is_commit(&rd, &l->t[i].commit)) memset(&l->t[i].commit, 0, sizeof(git_oid));
    rgit_reader_close(&rd);
    if (libgit2_live) git_error_clear();
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

/* warm() -> bool: start libgit2 and open its handle now, so the next call
 * that needs it (a checkout) finds it ready: its start parses the system's
 * CA bundle (~3 ms), which a caller can do while a child process runs.
 * False when libgit2 cannot open the repository (the call that needs it
 * says why). */
static int r_warm(lua_State *L) {
    rgit_repo *r = check_handle(L);
    int ready = rgit_git(r) != NULL;
    if (!ready && libgit2_live) git_error_clear();
    lua_pushboolean(L, ready);
    return 1;
}

/* ---- one commit ---------------------------------------------------------- */

/* git's order for a short name after the name itself (refs.c's
 * ref_rev_parse_rules). */
static const char *const REF_RULES[] = {"refs/%s", "refs/tags/%s", "refs/heads/%s", "refs/remotes/%s",
                                        "refs/remotes/%s/HEAD"};

/* HEAD, a full id or a ref name, read from the ref files: 0, or
 * RGIT_FALLBACK for anything else (an expression, a short id, a name at the
 * top of the git folder, a linked worktree, nothing found): libgit2's
 * revparse reads those, and says why when they do not exist. */
static int resolve_plain(rgit_repo *r, const char *spec, git_oid *out) {
    char name[600], top[RGIT_PATH + 600];
    struct stat st;
    rgit_head h;
    if (strcmp(r->gitdir, r->commondir) != 0) return RGIT_FALLBACK;
    if (strcmp(spec, "HEAD") == 0) {
        if (rgit_read_head(r, &h) != 0 || h.unborn) return RGIT_FALLBACK;
        rgit_oid_cpy(out, &h.id);
        return 0;
    }
    if (strlen(spec) == GIT_OID_HEXSZ && rgit_oid_fromhex(out, spec, GIT_OID_HEXSZ) == 0) return 0;
    if (strncmp(spec, "refs/", 5) == 0) return rgit_resolve_ref(r, spec, out) == 0 ? 0 : RGIT_FALLBACK;
    snprintf(top, sizeof top, "%s%s", r->gitdir, spec);
    if (strlen(spec) >= 500 || lstat(top, &st) == 0) return RGIT_FALLBACK;
    for (size_t i = 0; i < sizeof REF_RULES / sizeof *REF_RULES; i++) {
        int err;
        snprintf(name, sizeof name, REF_RULES[i], spec);
        if ((err = rgit_resolve_ref(r, name, out)) != GIT_ENOTFOUND) return err == 0 ? 0 : RGIT_FALLBACK;
    }
    return RGIT_FALLBACK;
}

/* Peel tags down to the commit and read its tree and committer date with
 * relrun's own object reader: 0, or RGIT_FALLBACK. */
static int peel_plain(rgit_repo *r, git_oid *id, git_oid *tree, int64_t *date) {
    rgit_reader rd;
    int result = RGIT_FALLBACK;
    rgit_reader_open(&rd, r);
    for (int depth = 0; depth < 16; depth++) {
        const unsigned char *data;
        const char *v;
        size_t len, vlen;
        int type;
        if (rgit_reader_head(&rd, id, "committer ", &type, &data, &len) < 0 || data == NULL) break;
        if (type == RGIT_OBJ_TAG) {
            v = rgit_header_value(data, len, "object ", &vlen);
            if (v == NULL || rgit_oid_fromhex(id, v, vlen) < 0) break;
            continue;
        }
        v = type == RGIT_OBJ_COMMIT ? rgit_header_value(data, len, "tree ", &vlen) : NULL;
        if (v != NULL && rgit_oid_fromhex(tree, v, vlen) == 0) {
            *date = rgit_commit_date((const char *)data, len);
            result = 0;
        }
        break;
    }
    rgit_reader_close(&rd);
    if (libgit2_live) git_error_clear();
    return result;
}

static void push_commit_info(lua_State *L, const git_oid *id, const git_oid *tree, int64_t date) {
    lua_createtable(L, 0, 3);
    push_oid(L, id);
    lua_setfield(L, -2, "id");
    push_oid(L, tree);
    lua_setfield(L, -2, "tree");
    lua_pushinteger(L, (lua_Integer)date);
    lua_setfield(L, -2, "time");
}

/* commit(rev) -> {id, tree, time (the committer's: SOURCE_DATE_EPOCH)}.
 * A tag, branch, HEAD or full id is read without libgit2, whose start costs
 * more than the answer (bindings/git/repo.h); anything else through it. */
static int r_commit(lua_State *L) {
    rgit_repo *r = check_handle(L);
    const char *spec = luaL_checkstring(L, 2);
    git_oid id, tree;
    int64_t date;
    git_commit *c;
    int err;
    if (resolve_plain(r, spec, &id) == 0 && peel_plain(r, &id, &tree, &date) == 0) {
        push_commit_info(L, &id, &tree, date);
        return 1;
    }
    if ((err = resolve_commit(check_repo(L), spec, &id)) < 0) return fail_rev(L, err, spec);
    if ((err = git_commit_lookup(&c, check_repo(L), &id)) < 0) return git_fail(L, err, "cannot read commit");
    push_commit_info(L, &id, git_commit_tree_id(c), git_commit_time(c));
    git_commit_free(c);
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
    abbrev_open(L, &a, check_handle(L));
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

/* count_commits(rev or "a..b") -> n. One revision goes through
 * rgit_count_reachable (shallow clones too); a range through libgit2's revwalk. */
static int r_count_commits(lua_State *L) {
    rgit_repo *r = check_handle(L);
    git_repository *repo;
    const char *range = luaL_optstring(L, 2, "HEAD");
    guard *gw;
    git_revwalk *wk;
    git_oid id;
    lua_Integer n = 0;
    uint64_t reachable;
    int err;
    if (strstr(range, "..") == NULL) {
        if ((err = resolve_commit_at(L, r, range, &id)) < 0) return fail_rev(L, err, range);
        if ((err = rgit_count_reachable(r, &id, &reachable)) < 0)
            return git_fail(L, err, "cannot walk history");
        lua_pushinteger(L, (lua_Integer)reachable);
        return 1;
    }
    repo = check_repo(L);
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

/* A remote's URL that is a relative path ("../origin.git"): git reads it
 * from the top of the working tree, libgit2 from the current folder, so a
 * script run from a subfolder could not reach it. Not a URL ("://"), not
 * absolute, not scp-like (host:path, a colon before any slash). */
static int is_relative_path(const char *url) {
    const char *colon = strchr(url, ':'), *slash = strchr(url, '/');
    if (*url == '\0' || *url == '/' || strstr(url, "://") != NULL) return 0;
    return colon == NULL || (slash != NULL && slash < colon);
}

/* Point the in-memory remote at its relative path as git reads it. */
static int anchor_relative_url(git_repository *repo, git_remote *r) {
    const char *url = git_remote_url(r);
    const char *top = git_repository_workdir(repo) ? git_repository_workdir(repo) : git_repository_path(repo);
    char path[4096];
    if (url == NULL || !is_relative_path(url) || top == NULL) return 0;
    if ((size_t)snprintf(path, sizeof path, "%s%s", top, url) >= sizeof path) return 0;
    return git_remote_set_instance_url(r, path);
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
    if ((err = anchor_relative_url(repo, r)) < 0) return err;
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
    git_repository_init_options init;
    git_checkout_options opts;
    git_commit *commit;
    git_oid id;
    char head[GIT_OID_HEXSZ + 2];
    int err = resolve_commit(src, rev, &id);
    git_checkout_options_init(&opts, GIT_CHECKOUT_OPTIONS_VERSION);
    git_repository_init_options_init(&init, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
    /* An empty template: no hooks/README.sample, description or info/exclude,
     * files nothing reads here that would only be written and removed. */
    init.flags = GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_EXTERNAL_TEMPLATE;
    init.template_path = "";
    if (err < 0) return fail_rev(L, err, rev);
    git_oid_tostr(head, sizeof head - 1, &id);
    strcat(head, "\n");
    if ((err = git_repository_init_ext((git_repository **)&gr->ptr, dir, &init)) < 0)
        return git_fail(L, err, "cannot create the checkout");
    /* HEAD detached at the commit, written as git writes it, without the
     * reflog git_repository_set_head_detached would start */
    if ((err = share_objects(src, git_repository_path(gr->ptr))) < 0 ||
        (err = copy_tags(src, git_repository_path(gr->ptr))) < 0 ||
        (err = write_git_file(git_repository_path(gr->ptr), "HEAD", head, strlen(head))) < 0)
        return git_fail(L, err, "cannot prepare the checkout");
    guard_release(gr); /* reopened: the object database reads the alternates at open */
    if ((err = git_repository_open((git_repository **)&gr->ptr, dir)) < 0 ||
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
    {"commit", r_commit},
    {"warm", r_warm},
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
