/*
 * The working tree's changes to tracked files, as `git status --porcelain
 * --untracked-files=no` finds them (setuptools_scm's dirty check) and no
 * more: no untracked walk, the index's stat data trusted by git's rules
 * (racy entries and smudged sizes re-checked by content), tree modes
 * normalised as git does (an old tree's 100664 is 100644).
 *
 * The index is read here (Documentation/gitformat-index.txt: versions 2 to
 * 4, the cache-tree, sparse directory entries); its cache-tree spares
 * reading HEAD's trees when they are unchanged. libgit2 reads the trees that
 * must be compared, hashes files through the repository's filters and opens
 * submodules. An index this reader does not read (a split index, an unknown
 * required extension) is reported so the caller can use libgit2's status.
 *
 * Nothing here raises or prints; errors are libgit2 error codes (< 0).
 */
#ifndef RELRUN_GIT_DIRTY_H
#define RELRUN_GIT_DIRTY_H

#include <git2.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "repo.h"

/* ---- the index ------------------------------------------------------------------ */

#define RGIT_ASSUME_VALID 0x8000u   /* flags: `git update-index --assume-unchanged` */
#define RGIT_EXTENDED 0x4000u
#define RGIT_STAGE_MASK 0x3000u
#define RGIT_SKIP_WORKTREE 0x4000u  /* xflags: sparse checkout, --skip-worktree */
#define RGIT_INTENT_TO_ADD 0x2000u  /* xflags: `git add -N` */

typedef struct {
    uint32_t ctime_s, ctime_ns, mtime_s, mtime_ns, dev, ino, mode, uid, gid, size;
    git_oid id;
    uint16_t flags, xflags;
    uint32_t path, pathlen; /* the path is ix->paths + path, NUL-terminated */
} rgit_index_entry;

/* A cache-tree node: the tree an index range would write, when still valid. */
typedef struct {
    const char *name;  /* the folder name (not NUL-terminated) */
    uint32_t namelen;
    int32_t entries;   /* index entries it covers; -1: invalidated */
    uint32_t child, sibling; /* node indexes, 0 for none (the root is node 0) */
    git_oid id;
} rgit_ctree;

typedef struct {
    const unsigned char *map;
    size_t size;
    uint32_t version;
    rgit_index_entry *e;
    uint32_t n;
    char *paths;
    size_t pathsize, pathcap;
    rgit_ctree *tree; /* NULL when the index has no cache-tree */
    uint32_t ntree, captree;
    struct timespec mtime; /* the index file's: entries as new are "racy" */
    char why[200];         /* why an index is not supported */
} rgit_index;

enum { RGIT_INDEX_OK = 0, RGIT_INDEX_UNSUPPORTED = 1, RGIT_INDEX_BAD = -1 };

/* Read an index file (a missing file is an empty index). */
int rgit_index_read(rgit_index *ix, const char *path);
void rgit_index_free(rgit_index *ix);
static inline const char *rgit_entry_path(const rgit_index *ix, const rgit_index_entry *e) {
    return ix->paths + e->path;
}
static inline unsigned rgit_entry_stage(const rgit_index_entry *e) {
    return (e->flags & RGIT_STAGE_MASK) >> 12;
}

/* git's canon_mode: any regular file is 100644 or 100755 (by the owner's
 * execute bit), a symlink 120000, a folder 040000, else a gitlink 160000. */
unsigned rgit_canon_mode(unsigned mode);

/* git's is_racy_timestamp (built without USE_NSEC, as Debian's and the
 * default build are): an entry not older than the index file, in seconds,
 * may have changed in the same second it was recorded. */
int rgit_is_racy(const rgit_index *ix, const rgit_index_entry *e);

/* ---- the dirty check ------------------------------------------------------------- */

enum {
    RGIT_ADDED = 1,
    RGIT_DELETED,
    RGIT_MODIFIED,
    RGIT_TYPECHANGE,
    RGIT_CONFLICTED,
    RGIT_UNTRACKED /* only from a caller that adds untracked files */
};

typedef struct {
    char *path;
    int staged;   /* the HEAD-to-index change (RGIT_ADDED ...), 0 for none */
    int unstaged; /* the index-to-worktree change, 0 for none */
} rgit_change;

typedef struct {
    rgit_change *v;
    size_t n, cap;
} rgit_changes;

/* The tracked changes, sorted by path. RGIT_INDEX_UNSUPPORTED when the
 * index is one this reader does not read (use libgit2's status). */
int rgit_dirty(rgit_repo *repo, rgit_changes *out);
void rgit_changes_free(rgit_changes *c);
/* Add one change (a copy of `path`); sort by path joining the records of
 * one path (its staged and worktree sides). 0 or -1 (out of memory). */
int rgit_changes_add(rgit_changes *c, const char *path, int staged, int unstaged);
void rgit_changes_sort(rgit_changes *c);

#endif
