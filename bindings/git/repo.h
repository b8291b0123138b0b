/*
 * A repository as relrun's own readers see it, with libgit2 behind it on
 * demand.
 *
 * Initialising libgit2 1.5 costs more than the answers relrun needs most
 * (Debian's build parses the whole system CA bundle with mbedTLS in
 * git_libgit2_init: ~5 ms of CPU, a third of `scripts/version.lua` on a
 * big repository). So a plain checkout (a `.git` folder, found the way
 * libgit2 finds it) is opened here, its config read here, HEAD and refs
 * resolved here, objects read from packs and loose files here; libgit2 is
 * initialised and opened only when something needs it (a deltified object,
 * a tree to compare, a filter, a submodule, any other call). Whatever is not
 * plain (a linked worktree, core.worktree, config includes, alternates ...)
 * goes to libgit2 from the start, so the two never disagree about which
 * repository this is.
 */
#ifndef RELRUN_GIT_REPO_H
#define RELRUN_GIT_REPO_H

#include <git2.h>
#include <stddef.h>
#include <stdint.h>

#include "odb.h"

#define RGIT_PATH 4096
#define RGIT_FALLBACK 2 /* not a plain case: do it with libgit2 */

typedef struct {
    char *key;   /* "section.subsection.name", section and name in lower case */
    char *value; /* NULL: a bare "name" (true) */
} rgit_config_entry;

typedef struct rgit_repo {
    char gitdir[RGIT_PATH];    /* absolute, ending in '/' (libgit2's git_repository_path) */
    char commondir[RGIT_PATH];
    char workdir[RGIT_PATH];   /* "" when bare */
    char objects[RGIT_PATH];   /* commondir + "objects" */
    char open_path[RGIT_PATH]; /* what was asked to be opened */
    git_repository *git;       /* libgit2's handle; NULL until needed */
    int own_git;               /* git is ours to free */
    int (*init)(void *ctx);    /* initialise libgit2 (once): 0, or < 0 */
    void *init_ctx;
    int inited;                /* init has been called */
    int lite_config;           /* cfg holds the whole configuration */
    rgit_config_entry *cfg;
    size_t ncfg, capcfg;
    struct rgit_stamp {        /* the files cfg was read from, as they were */
        int64_t mtime_ns, size, ino;
    } stamp[4];
    rgit_packs *packs;         /* the pack files, mapped once (see rgit_repo_packs) */
    struct rgit_stamp packs_stamp;
} rgit_repo;

/* Find the repository at or above `path` as git_repository_open_ext(path,
 * 0, NULL) would: 0 when found and plain; RGIT_FALLBACK otherwise (not
 * found too: libgit2 then says why). `init` is called before libgit2 is
 * first used (NULL: git_libgit2_init is called, and undone by close). */
int rgit_repo_discover(rgit_repo *r, const char *path, int (*init)(void *), void *ctx);
/* Take an open libgit2 repository (closed with r unless borrowed). */
void rgit_repo_from_git(rgit_repo *r, git_repository *git, int borrowed);
void rgit_repo_close(rgit_repo *r);
/* The repository's packs, mapped on first use and kept while objects/pack
 * is unchanged (a fetch or gc changes it: then they are mapped again), so
 * that every reader in a process shares the pages it touched. NULL on OOM. */
rgit_packs *rgit_repo_packs(rgit_repo *r);
/* libgit2's handle, opened (libgit2 initialised) on first need; NULL when
 * it cannot be opened (git_error_last() says why). */
git_repository *rgit_git(rgit_repo *r);
/* libgit2's error state is only there once it is initialised. */
void rgit_error_clear(rgit_repo *r);
void rgit_error_set(rgit_repo *r, int klass, const char *message);

/* ---- config ------------------------------------------------------------------ */

/* The value of `key` (lower case section and name): 0 and the value in buf;
 * 1 when unset; < 0 on error. A bare "name" reads as "true". */
int rgit_config_string(rgit_repo *r, const char *key, char *buf, size_t size);
/* git's boolean: true/yes/on/1 or any non-zero number, false/no/off/0/"". */
int rgit_config_bool(rgit_repo *r, const char *key, int def);
/* Parse git's boolean; -1 when it is none. */
int rgit_parse_bool(const char *value);

/* ---- refs ---------------------------------------------------------------------- */

/* The object a ref names, following symbolic refs: 0; GIT_ENOTFOUND when it
 * does not exist; RGIT_FALLBACK for what is not read here. */
int rgit_resolve_ref(rgit_repo *r, const char *name, git_oid *out);

typedef struct {
    int unborn, detached;
    char target[600]; /* the ref HEAD names ("refs/heads/main"), "" when detached */
    git_oid id;       /* when born */
} rgit_head;

/* HEAD: 0, or RGIT_FALLBACK (ask libgit2). */
int rgit_read_head(rgit_repo *r, rgit_head *h);
/* A shallow clone: the shallow file is there and not empty (libgit2's test). */
int rgit_is_shallow(rgit_repo *r);
/* git's check_refname_format, for refs under refs/ (no "..", "@{", control
 * characters, " ~^:?*[\\", components starting with '.' or ending ".lock"). */
int rgit_refname_ok(const char *name);

/* ---- objects ---------------------------------------------------------------------- */

/* Reads the head of commits and tags: from the packs, else the loose
 * object, else through libgit2 (deltified objects, alternates). */
typedef struct {
    rgit_repo *repo;
    rgit_packs *packs;   /* the repository's */
    git_odb *odb;        /* libgit2's, opened on first need */
    unsigned char *copy; /* libgit2's answers, copied out */
    size_t copysize;
    int error;           /* the first libgit2 error met */
} rgit_reader;

void rgit_reader_open(rgit_reader *rd, rgit_repo *r);
void rgit_reader_close(rgit_reader *rd);
/* The head of an object up to the line starting with `until`: 0, *type
 * (RGIT_OBJ_*), *data valid until the next read; or a libgit2 error. For a
 * tree or blob *data is NULL (only the type is known). */
int rgit_reader_head(rgit_reader *rd, const git_oid *id, const char *until, int *type,
                     const unsigned char **data, size_t *len);

/* The value of header `key` ("tree ", "object ") in an object's head. */
const char *rgit_header_value(const unsigned char *data, size_t len, const char *key, size_t *vlen);
/* 40 hex digits (at most `avail` read) to an id; 0 or -1. */
int rgit_oid_fromhex(git_oid *out, const char *hex, size_t avail);

/* git's blob id of a byte string, and of a file's content as it is. */
void rgit_hash_blob(const void *data, size_t len, git_oid *out);
int rgit_hash_file(int dirfd, const char *name, git_oid *out);

/* ---- abbreviations ------------------------------------------------------------------ */

/* The length git starts from: core.abbrev, else from the object count. */
int rgit_abbrev_base(rgit_repo *r);
/* Lengthened from `base` while another object shares the prefix. */
int rgit_abbrev_unique(rgit_repo *r, const git_oid *id, int base);

#endif
