/*
 * git describe, as git 2.39 computes it (builtin/describe.c's walk, written
 * anew; docs/git-describe.md), and the tag list it starts from, read straight
 * from packed-refs and refs/tags with the peeled ids packed-refs records.
 * Commits come from the commit-graph when there is one, else from the
 * pack files (odb.h), else through libgit2.
 *
 * Nothing here raises or prints; errors are libgit2 error codes (< 0).
 */
#ifndef RELRUN_GIT_DESCRIBE_H
#define RELRUN_GIT_DESCRIBE_H

#include <git2.h>
#include <stddef.h>
#include <stdint.h>

#include "repo.h"

#define RGIT_MAX_CANDIDATES 16 /* git's --candidates default is 10 */

/* One tag ref. `commit` is the id it peels to: a commit, or (for a tag of a
 * tree or blob) that object; zero when unknown or broken. */
typedef struct {
    char *name;     /* without "refs/tags/" */
    git_oid target; /* the ref's own id: a tag object or the commit */
    git_oid commit;
    int annotated;
} rgit_tag;

typedef struct {
    rgit_tag *t;
    size_t n, cap;
} rgit_taglist;

/* Every tag (packed-refs and loose refs/tags, a loose one over a packed one
 * of the same name), sorted by name, peeled: from packed-refs' "^" lines
 * when it has them, else by reading the objects (pack heads, then libgit2).
 * `keep(name, ctx)` filters before any object is read (NULL keeps all). */
int rgit_tags_read(rgit_repo *repo, int (*keep)(const char *name, void *ctx), void *ctx,
                   rgit_taglist *out);
void rgit_taglist_free(rgit_taglist *l);

typedef struct {
    const rgit_taglist *tags; /* the names to describe with (already filtered) */
    int tags_too;             /* lightweight tags count (--tags) */
    int candidates;           /* 1..RGIT_MAX_CANDIDATES */
} rgit_describe_opts;

typedef struct {
    int found;         /* 1: tag and distance are the answer */
    int any_names;     /* 0: no usable name at all (git: "No names found") */
    char tag[1024];    /* an annotated tag's own name (inside the object), else the ref's */
    uint32_t distance;
    uint32_t walked;   /* commits popped from the queue: for tests and the bench */
    int used_graph;    /* the commit-graph was read */
} rgit_described;

/* describe `commit` (git describe --long [--tags] [--candidates=n]). */
int rgit_describe(rgit_repo *repo, const git_oid *commit, const rgit_describe_opts *o,
                  rgit_described *out);

/* The commits reachable from `id` (`git rev-list --count`), stopping at the
 * commits .git/shallow names, as git does. */
int rgit_count_reachable(rgit_repo *repo, const git_oid *id, uint64_t *out);

/* Parents and committer date from a commit's header text, as git's
 * parse_commit_buffer reads them (the date after the first '>' of the
 * committer line); for tests. Returns the parent count, -1 on bad input. */
int rgit_parse_commit_head(const char *text, size_t len, git_oid *parents, int max_parents,
                           int64_t *date);
/* The committer date alone, however many parents the commit has. */
int64_t rgit_commit_date(const char *text, size_t len);

#endif
