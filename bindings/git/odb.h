/*
 * Reading a repository's objects folder directly, for the answers that must
 * be fast on big histories (describe, the dirty check, abbreviations):
 *   - the commit-graph (a single file or a split chain);
 *   - pack files through their v2 index, inflating only the head of an
 *     undeltified commit or tag (the lines before the message);
 *   - git's approximate object count, from pack index headers.
 * Formats: git's Documentation/gitformat-commit-graph.txt and
 * gitformat-pack.txt. Anything these readers do not handle (a deltified or
 * loose object, an alternate) is the caller's to read through libgit2.
 *
 * No function here raises or prints; errors are return values.
 */
#ifndef RELRUN_GIT_ODB_H
#define RELRUN_GIT_ODB_H

#include <git2.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>

static inline uint32_t rgit_be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t rgit_be64(const unsigned char *p) {
    return (uint64_t)rgit_be32(p) << 32 | rgit_be32(p + 4);
}

/* Object ids compared and copied here, not with libgit2's functions of the
 * same name: relrun's own readers run before libgit2 is loaded (libs.c). */
static inline int rgit_oid_equal(const git_oid *a, const git_oid *b) {
    return memcmp(a->id, b->id, sizeof a->id) == 0;
}

static inline void rgit_oid_cpy(git_oid *out, const git_oid *src) {
    memcpy(out->id, src->id, sizeof out->id);
}

/* mmap a whole file read-only; NULL if it is missing or empty. */
const unsigned char *rgit_map_file(const char *path, size_t *size);

/* ---- commit-graph ---------------------------------------------------------- */

#define RGIT_GRAPH_MAX_LAYERS 64

typedef struct {
    const unsigned char *map;
    size_t size;
    const unsigned char *fanout, *oids, *cdat, *edges;
    uint32_t count, nedges, base; /* base: global position of this layer's first commit */
} rgit_graph_layer;

typedef struct {
    rgit_graph_layer layer[RGIT_GRAPH_MAX_LAYERS];
    int nlayers;
    uint32_t total;
} rgit_graph;

/* Open objects/info/commit-graph, else the chain in objects/info/commit-graphs;
 * 0 when a usable graph is there. A damaged file is not used. */
int rgit_graph_open(rgit_graph *g, const char *objects);
void rgit_graph_close(rgit_graph *g);
/* The global position of a commit, or -1 when the graph does not have it. */
int64_t rgit_graph_find(const rgit_graph *g, const git_oid *id);
void rgit_graph_oid(const rgit_graph *g, uint32_t pos, git_oid *out);
void rgit_graph_tree(const rgit_graph *g, uint32_t pos, git_oid *out);
/* The commit time (34 bits) and the generation number (topological level
 * for v1 graphs; 0 when the writer did not compute one). */
int64_t rgit_graph_date(const rgit_graph *g, uint32_t pos);
uint32_t rgit_graph_generation(const rgit_graph *g, uint32_t pos);
/* Call each(ctx, parent position) for every parent in order; -1 when the
 * entry is inconsistent (a position out of range, a broken EDGE list) or
 * when each() returns non-zero. */
int rgit_graph_parents(const rgit_graph *g, uint32_t pos, int (*each)(void *ctx, uint32_t parent),
                       void *ctx);

/* ---- pack files --------------------------------------------------------------- */

enum { RGIT_OBJ_COMMIT = 1, RGIT_OBJ_TREE = 2, RGIT_OBJ_BLOB = 3, RGIT_OBJ_TAG = 4 };

typedef struct {
    const unsigned char *idx, *pack;
    size_t idx_size, pack_size;
    uint32_t count;
    const unsigned char *fanout, *names, *offsets, *large;
    uint32_t nlarge;
} rgit_pack;

typedef struct {
    rgit_pack *pack;
    size_t npacks;
    z_stream z;
    int z_ready;
    unsigned char *buf;
    size_t bufsize;
} rgit_packs;

/* Every pack in objects/pack with a v2 index (none is not an error). */
void rgit_packs_open(rgit_packs *r, const char *objects);
void rgit_packs_close(rgit_packs *r);
/* The object's offset in pack p, or 0 when p does not have it. */
uint64_t rgit_pack_find(const rgit_pack *p, const git_oid *id);
/* The most leading hex digits another object in p shares with id (its
 * neighbours in the sorted index: git's find_abbrev_len_for_pack). */
int rgit_pack_common(const rgit_pack *p, const git_oid *id);
/* Inflate the head of an object, up to and including the first line that
 * starts with `until` (e.g. "committer "), or the end of the headers, into
 * r->buf. 1: read, *type and *len set; 0: not here in a form read here
 * (absent, deltified, damaged): read it through libgit2 instead. */
int rgit_packs_read_head(rgit_packs *r, const git_oid *id, const char *until, int *type,
                         size_t *len);
/* The same from the loose object in `objects`; for a tree or blob only
 * the type is read. */
int rgit_loose_read_head(rgit_packs *r, const char *objects, const git_oid *id, const char *until, int *type,
                         size_t *len);
/* 40 lower-case hex digits and a NUL. */
void rgit_oid_tohex(const git_oid *id, char *out);
/* How many leading hex digits two 20-byte ids share. */
int rgit_oid_common_hex(const unsigned char *a, const unsigned char *b);
/* Does `buf` hold the whole line starting with `until`, or the header end? */
int rgit_head_complete(const unsigned char *buf, size_t len, const char *until);

/* ---- object counts and abbreviations -------------------------------------------- */

/* git's repo_approximate_object_count: objects in the packs (a
 * multi-pack-index counts for the packs it covers, and again for those
 * packs: see docs/git-describe.md), alternates included, loose objects not. */
unsigned long rgit_approximate_object_count(const char *objects);
/* The abbreviation length git starts from for n objects:
 * max(7, ceil((msb(n) + 1) / 2)). */
int rgit_auto_abbrev(unsigned long n);

#endif
