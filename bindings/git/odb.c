/*
 * Direct readers of a repository's objects folder: commit-graph, pack files,
 * object counts (see odb.h). Moved out of bindings/git.c so that describe
 * and the dirty check share them and tests/unit/test_git_odb.c can test
 * them without Lua.
 */
#include "odb.h"
#include "rr.h" /* rr_hex_encode */

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GRAPH_NO_PARENT 0x70000000u
#define GRAPH_EXTRA_EDGES 0x80000000u
#define CDAT_WIDTH 36 /* tree (20), two parents (4 + 4), generation and date (8) */

const unsigned char *rgit_map_file(const char *path, size_t *size) {
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

/* ---- the commit-graph ---------------------------------------------------------
 * A file, or a chain of files (objects/info/commit-graphs), maps each commit
 * to a position; positions count on across the chain, base first. CDAT gives
 * per commit: tree, two parent positions (0x70000000 = none; high bit set on
 * the second = an index into EDGE for octopus merges), then 30 bits of
 * generation and 34 bits of commit time. */

/* Find the chunks of a mapped graph file; 0 when the ones we read are sound. */
static int graph_chunks(rgit_graph_layer *g) {
    const unsigned char *m = g->map;
    unsigned nchunks;
    /* header: "CGPH", version 1, hash version 1 (SHA-1), chunk count, base count */
    if (g->size < 8 + 12 + 20 || memcmp(m, "CGPH", 4) != 0 || m[4] != 1 || m[5] != 1) return -1;
    nchunks = m[6];
    if (8 + (size_t)(nchunks + 1) * 12 > g->size) return -1;
    for (unsigned i = 0; i < nchunks; i++) {
        const unsigned char *e = m + 8 + i * 12;
        uint64_t off = rgit_be64(e + 4), end = rgit_be64(e + 16);
        if (off > end || end > g->size) return -1;
        if (memcmp(e, "OIDF", 4) == 0 && end - off == 1024) g->fanout = m + off;
        else if (memcmp(e, "OIDL", 4) == 0) { g->oids = m + off; g->count = (uint32_t)((end - off) / 20); }
        else if (memcmp(e, "CDAT", 4) == 0) g->cdat = m + off;
        else if (memcmp(e, "EDGE", 4) == 0) { g->edges = m + off; g->nedges = (uint32_t)((end - off) / 4); }
    }
    if (g->fanout == NULL || g->oids == NULL || g->cdat == NULL) return -1;
    if (rgit_be32(g->fanout + 255 * 4) != g->count) return -1;
    if ((size_t)(g->cdat - m) + (size_t)g->count * CDAT_WIDTH > g->size) return -1;
    return 0;
}

static int graph_add_layer(rgit_graph *cg, const char *path) {
    rgit_graph_layer *g;
    if (cg->nlayers == RGIT_GRAPH_MAX_LAYERS) return -1;
    g = &cg->layer[cg->nlayers];
    memset(g, 0, sizeof *g);
    if ((g->map = rgit_map_file(path, &g->size)) == NULL) return -1;
    if (graph_chunks(g) != 0) {
        munmap((void *)g->map, g->size);
        memset(g, 0, sizeof *g);
        return -1;
    }
    g->base = cg->total;
    cg->total += g->count;
    cg->nlayers++;
    return 0;
}

void rgit_graph_close(rgit_graph *cg) {
    for (int i = 0; i < cg->nlayers; i++)
        if (cg->layer[i].map != NULL) munmap((void *)cg->layer[i].map, cg->layer[i].size);
    cg->nlayers = 0;
    cg->total = 0;
}

int rgit_graph_open(rgit_graph *cg, const char *objects) {
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
        /* a broken link breaks the positions of every layer above it */
        if (graph_add_layer(cg, path) != 0) { rgit_graph_close(cg); break; }
    }
    fclose(chain);
    return cg->nlayers > 0 ? 0 : -1;
}

int64_t rgit_graph_find(const rgit_graph *cg, const git_oid *id) {
    for (int i = cg->nlayers - 1; i >= 0; i--) {
        const rgit_graph_layer *g = &cg->layer[i];
        uint32_t lo = id->id[0] ? rgit_be32(g->fanout + (id->id[0] - 1) * 4) : 0;
        uint32_t hi = rgit_be32(g->fanout + id->id[0] * 4);
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

static const rgit_graph_layer *layer_of(const rgit_graph *cg, uint32_t pos) {
    for (int i = cg->nlayers - 1; i >= 0; i--)
        if (pos >= cg->layer[i].base) return &cg->layer[i];
    return NULL;
}

static const unsigned char *cdat_of(const rgit_graph *cg, uint32_t pos, const rgit_graph_layer **g) {
    *g = layer_of(cg, pos);
    return (*g)->cdat + (size_t)(pos - (*g)->base) * CDAT_WIDTH;
}

void rgit_graph_oid(const rgit_graph *cg, uint32_t pos, git_oid *out) {
    const rgit_graph_layer *g = layer_of(cg, pos);
    memcpy(out->id, g->oids + (size_t)(pos - g->base) * 20, 20);
}

void rgit_graph_tree(const rgit_graph *cg, uint32_t pos, git_oid *out) {
    const rgit_graph_layer *g;
    memcpy(out->id, cdat_of(cg, pos, &g), 20);
}

int64_t rgit_graph_date(const rgit_graph *cg, uint32_t pos) {
    const rgit_graph_layer *g;
    const unsigned char *e = cdat_of(cg, pos, &g);
    return (int64_t)(((uint64_t)(rgit_be32(e + 28) & 3u) << 32) | rgit_be32(e + 32));
}

uint32_t rgit_graph_generation(const rgit_graph *cg, uint32_t pos) {
    const rgit_graph_layer *g;
    return rgit_be32(cdat_of(cg, pos, &g) + 28) >> 2;
}

static int graph_parent(const rgit_graph *cg, uint32_t pos, int (*each)(void *, uint32_t), void *ctx) {
    if (pos >= cg->total) return -1;
    return each(ctx, pos) != 0 ? -1 : 0;
}

/* An octopus merge's parents after the first: EDGE entries from index i,
 * the last one flagged. */
static int graph_edges(const rgit_graph_layer *g, const rgit_graph *cg, uint32_t i,
                       int (*each)(void *, uint32_t), void *ctx) {
    uint32_t v;
    do {
        if (g->edges == NULL || i >= g->nedges) return -1;
        v = rgit_be32(g->edges + (size_t)i * 4);
        if (graph_parent(cg, v & ~GRAPH_EXTRA_EDGES, each, ctx) < 0) return -1;
        i++;
    } while (!(v & GRAPH_EXTRA_EDGES));
    return 0;
}

int rgit_graph_parents(const rgit_graph *cg, uint32_t pos, int (*each)(void *, uint32_t), void *ctx) {
    const rgit_graph_layer *g;
    const unsigned char *e = cdat_of(cg, pos, &g);
    uint32_t p1 = rgit_be32(e + 20), p2 = rgit_be32(e + 24);
    if (p1 != GRAPH_NO_PARENT && graph_parent(cg, p1, each, ctx) < 0) return -1;
    if (p2 == GRAPH_NO_PARENT) return 0;
    if (!(p2 & GRAPH_EXTRA_EDGES)) return graph_parent(cg, p2, each, ctx);
    return graph_edges(g, cg, p2 & ~GRAPH_EXTRA_EDGES, each, ctx);
}

/* ---- pack files -------------------------------------------------------------------
 * The walks need only the first lines of commits and tags. Reading the pack
 * directly (index v2 lookup, then inflating only up to the line wanted with
 * one reused zlib stream) is what makes describe without a commit-graph
 * faster than git, which inflates every commit whole. */

/* Map a pack and its v2 index; 0 when both look sound. */
static int pack_open(rgit_pack *p, const char *idx_path, const char *pack_path) {
    size_t need;
    memset(p, 0, sizeof *p);
    if ((p->idx = rgit_map_file(idx_path, &p->idx_size)) == NULL) return -1;
    if (p->idx_size < 8 + 1024 + 40 || memcmp(p->idx, "\377tOc", 4) != 0 || rgit_be32(p->idx + 4) != 2)
        return -1;
    p->fanout = p->idx + 8;
    p->count = rgit_be32(p->fanout + 255 * 4);
    p->names = p->fanout + 1024;
    p->offsets = p->names + (size_t)p->count * 24; /* names, then crc32s, then offsets */
    p->large = p->offsets + (size_t)p->count * 4;
    need = 8 + 1024 + (size_t)p->count * 28 + 40;
    if (need > p->idx_size) return -1;
    p->nlarge = (uint32_t)((p->idx_size - need) / 8);
    if ((p->pack = rgit_map_file(pack_path, &p->pack_size)) == NULL) return -1;
    if (p->pack_size < 12 + 20 || memcmp(p->pack, "PACK", 4) != 0) return -1;
    return 0;
}

static void pack_close(rgit_pack *p) {
    if (p->idx != NULL) munmap((void *)p->idx, p->idx_size);
    if (p->pack != NULL) munmap((void *)p->pack, p->pack_size);
    memset(p, 0, sizeof *p);
}

void rgit_packs_close(rgit_packs *r) {
    for (size_t i = 0; i < r->npacks; i++) pack_close(&r->pack[i]);
    free(r->pack);
    free(r->buf);
    if (r->z_ready) inflateEnd(&r->z);
    memset(r, 0, sizeof *r);
}

static int is_idx_name(const char *name, size_t len) {
    return len >= 5 && strcmp(name + len - 4, ".idx") == 0;
}

void rgit_packs_open(rgit_packs *r, const char *objects) {
    char dir[4200], idx[4200 + 264], pack[4200 + 264];
    struct dirent *de;
    DIR *d;
    memset(r, 0, sizeof *r);
    snprintf(dir, sizeof dir, "%s/pack", objects);
    if ((d = opendir(dir)) == NULL) return;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        rgit_pack *q;
        if (!is_idx_name(de->d_name, len)) continue;
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

uint64_t rgit_pack_find(const rgit_pack *p, const git_oid *id) {
    uint32_t lo = id->id[0] ? rgit_be32(p->fanout + (id->id[0] - 1) * 4) : 0;
    uint32_t hi = rgit_be32(p->fanout + id->id[0] * 4);
    uint32_t key = rgit_be32(id->id);
    if (hi > p->count || lo > hi) return 0;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint32_t k = rgit_be32(p->names + (size_t)mid * 20); /* most steps end here */
        int c = k != key ? (k < key ? -1 : 1) : memcmp(p->names + (size_t)mid * 20, id->id, 20);
        if (c == 0) {
            uint32_t off = rgit_be32(p->offsets + (size_t)mid * 4);
            if (!(off & 0x80000000u)) return off;
            off &= 0x7fffffffu;
            return off < p->nlarge ? rgit_be64(p->large + (size_t)off * 8) : 0;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

int rgit_oid_common_hex(const unsigned char *a, const unsigned char *b) {
    int n = 0;
    for (int i = 0; i < 20; i++) {
        if (a[i] == b[i]) { n += 2; continue; }
        if ((a[i] >> 4) == (b[i] >> 4)) n++;
        break;
    }
    return n;
}

int rgit_pack_common(const rgit_pack *p, const git_oid *id) {
    uint32_t lo = id->id[0] ? rgit_be32(p->fanout + (id->id[0] - 1) * 4) : 0;
    uint32_t hi = rgit_be32(p->fanout + id->id[0] * 4);
    int best = 0, n;
    if (hi > p->count || lo > hi) return 0;
    while (lo < hi) { /* the first name not below id */
        uint32_t mid = lo + (hi - lo) / 2;
        if (memcmp(p->names + (size_t)mid * 20, id->id, 20) < 0) lo = mid + 1;
        else hi = mid;
    }
    if (lo > 0) best = rgit_oid_common_hex(p->names + (size_t)(lo - 1) * 20, id->id);
    if (lo < p->count && memcmp(p->names + (size_t)lo * 20, id->id, 20) == 0) lo++;
    if (lo < p->count && (n = rgit_oid_common_hex(p->names + (size_t)lo * 20, id->id)) > best) best = n;
    return best;
}

int rgit_head_complete(const unsigned char *buf, size_t len, const char *until) {
    const unsigned char *p = buf, *end = buf + len;
    size_t ulen = strlen(until);
    while (p < end) {
        const unsigned char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL) return 0;
        if (eol == p || ((size_t)(eol - p) > ulen && memcmp(p, until, ulen) == 0)) return 1;
        p = eol + 1;
    }
    return 0;
}

/* The type and inflated size in the entry header at `h`; the data start, or
 * NULL when the header runs past `end`. */
static const unsigned char *entry_header(const unsigned char *h, const unsigned char *end, int *type,
                                         size_t *size) {
    int shift = 4;
    if (h >= end) return NULL;
    *type = (*h >> 4) & 7;
    *size = *h & 15;
    while (*h & 0x80) {
        if (++h >= end || shift > 57) return NULL;
        *size |= (size_t)(*h & 0x7f) << shift;
        shift += 7;
    }
    return h + 1;
}

static int zstream_ready(rgit_packs *r) {
    if (!r->z_ready) {
        memset(&r->z, 0, sizeof r->z);
        if (inflateInit(&r->z) != Z_OK) return 0;
        r->z_ready = 1;
        return 1;
    }
    return inflateReset(&r->z) == Z_OK;
}

static int buf_reserve(rgit_packs *r, size_t want) {
    unsigned char *b;
    if (want <= r->bufsize) return 1;
    if ((b = realloc(r->buf, want)) == NULL) return 0;
    r->buf = b;
    r->bufsize = want;
    return 1;
}

/* Inflate from `data` 512 bytes at a time until the head is complete. */
static int inflate_head(rgit_packs *r, const unsigned char *data, const unsigned char *end,
                        size_t size, const char *until, size_t *len) {
    int zerr;
    if (!zstream_ready(r)) return 0;
    r->z.next_in = (unsigned char *)data;
    r->z.avail_in = (uInt)((size_t)(end - data) < (1u << 30) ? (size_t)(end - data) : (1u << 30));
    *len = 0;
    do {
        size_t want = *len + 512 > size ? size : *len + 512, before = *len;
        if (!buf_reserve(r, want + 1)) return 0;
        r->z.next_out = r->buf + *len;
        r->z.avail_out = (uInt)(want - *len);
        zerr = inflate(&r->z, Z_SYNC_FLUSH);
        *len = want - r->z.avail_out;
        if (zerr != Z_OK && zerr != Z_STREAM_END && zerr != Z_BUF_ERROR) return 0;
        if (zerr == Z_BUF_ERROR && *len == before) return 0; /* no progress: damaged */
        if (rgit_head_complete(r->buf, *len, until)) return 1;
    } while (zerr != Z_STREAM_END && *len < size && r->z.avail_in > 0);
    return *len == size;
}

/* ---- deltified objects ----
 * An OFS_DELTA (6) entry names its base by a backward offset, a REF_DELTA
 * (7) by id; the delta holds the base's size, the result's size, then
 * instructions: copy a range of the base, or insert literal bytes
 * (gitformat-pack.txt, "Deltified representation"). Commits and tags are
 * small: the whole result is built. */

#define OBJ_OFS_DELTA 6
#define OBJ_REF_DELTA 7
#define MAX_DELTA_DEPTH 64
#define MAX_WHOLE (16u << 20) /* bigger objects are libgit2's to read */

/* Inflate exactly `size` bytes from `data`; a malloc'd buffer or NULL. */
static unsigned char *inflate_all(rgit_packs *r, const unsigned char *data, const unsigned char *end, size_t size) {
    unsigned char *out;
    int zerr;
    if (size > MAX_WHOLE || !zstream_ready(r) || (out = malloc(size ? size : 1)) == NULL) return NULL;
    r->z.next_in = (unsigned char *)data;
    r->z.avail_in = (uInt)((size_t)(end - data) < (1u << 30) ? (size_t)(end - data) : (1u << 30));
    r->z.next_out = out;
    r->z.avail_out = (uInt)size;
    zerr = inflate(&r->z, Z_FINISH);
    if (zerr != Z_STREAM_END || r->z.avail_out != 0) { free(out); return NULL; }
    return out;
}

/* A delta's size header: 7 bits a byte, least significant first. */
static int delta_size(const unsigned char **p, const unsigned char *end, size_t *out) {
    int shift = 0;
    *out = 0;
    do {
        if (*p >= end || shift > 56) return -1;
        *out |= (size_t)(**p & 0x7f) << shift;
        shift += 7;
    } while (*(*p)++ & 0x80);
    return 0;
}

/* One copy instruction: offset and size bytes present as cmd's bits say. */
static int delta_copy(unsigned char cmd, const unsigned char **p, const unsigned char *end, size_t *off, size_t *len) {
    *off = *len = 0;
    for (int i = 0; i < 4; i++)
        if (cmd & (1u << i)) { if (*p >= end) return -1; *off |= (size_t)*(*p)++ << (8 * i); }
    for (int i = 0; i < 3; i++)
        if (cmd & (0x10u << i)) { if (*p >= end) return -1; *len |= (size_t)*(*p)++ << (8 * i); }
    if (*len == 0) *len = 0x10000;
    return 0;
}

/* Apply a delta to its base; the result (malloc'd) or NULL. */
static unsigned char *delta_apply(const unsigned char *base, size_t base_size, const unsigned char *delta,
                                  size_t delta_size_, size_t *out_size) {
    const unsigned char *p = delta, *end = delta + delta_size_;
    size_t want_base, size, at = 0;
    unsigned char *out;
    if (delta_size(&p, end, &want_base) < 0 || want_base != base_size || delta_size(&p, end, &size) < 0 ||
        size > MAX_WHOLE || (out = malloc(size ? size : 1)) == NULL)
        return NULL;
    while (p < end) {
        unsigned char cmd = *p++;
        size_t off, len;
        if (cmd & 0x80) {
            if (delta_copy(cmd, &p, end, &off, &len) < 0 || off > base_size || len > base_size - off ||
                len > size - at)
                goto bad;
            memcpy(out + at, base + off, len);
        } else if (cmd != 0) {
            len = cmd;
            if (len > (size_t)(end - p) || len > size - at) goto bad;
            memcpy(out + at, p, len);
            p += len;
        } else {
            goto bad;
        }
        at += len;
    }
    if (at != size) goto bad;
    *out_size = size;
    return out;
bad:
    free(out);
    return NULL;
}

static unsigned char *pack_whole(rgit_packs *r, const rgit_pack *p, uint64_t off, int depth, int *type,
                                 size_t *size);

/* The base of a delta at `data` (after the entry header), and where the
 * delta's own zlib stream starts. */
static unsigned char *delta_base(rgit_packs *r, const rgit_pack *p, uint64_t off, int kind, const unsigned char **data,
                                 const unsigned char *end, int depth, int *type, size_t *size) {
    if (kind == OBJ_OFS_DELTA) {
        const unsigned char *q = *data;
        uint64_t back;
        if (q >= end) return NULL;
        back = *q & 0x7f;
        while (*q++ & 0x80) {
            if (q >= end || back > (UINT64_MAX >> 8)) return NULL;
            back = ((back + 1) << 7) | (*q & 0x7f);
        }
        *data = q;
        if (back == 0 || back > off) return NULL;
        return pack_whole(r, p, off - back, depth + 1, type, size);
    }
    if ((size_t)(end - *data) < 20) return NULL;
    {
        git_oid base;
        memcpy(base.id, *data, 20);
        *data += 20;
        for (size_t i = 0; i < r->npacks; i++) {
            uint64_t at = rgit_pack_find(&r->pack[i], &base);
            if (at != 0) return pack_whole(r, &r->pack[i], at, depth + 1, type, size);
        }
    }
    return NULL;
}

/* The whole object at `off`, deltas resolved; malloc'd, or NULL. */
static unsigned char *pack_whole(rgit_packs *r, const rgit_pack *p, uint64_t off, int depth, int *type,
                                 size_t *size) {
    const unsigned char *end = p->pack + p->pack_size - 20, *data;
    unsigned char *base, *delta, *out;
    size_t base_size, dsize;
    int kind;
    if (depth > MAX_DELTA_DEPTH || off < 12 || off >= p->pack_size - 20) return NULL;
    if ((data = entry_header(p->pack + off, end, &kind, &dsize)) == NULL) return NULL;
    if (kind >= RGIT_OBJ_COMMIT && kind <= RGIT_OBJ_TAG) {
        *type = kind;
        *size = dsize;
        return inflate_all(r, data, end, dsize);
    }
    if (kind != OBJ_OFS_DELTA && kind != OBJ_REF_DELTA) return NULL;
    if ((base = delta_base(r, p, off, kind, &data, end, depth, type, &base_size)) == NULL) return NULL;
    if ((delta = inflate_all(r, data, end, dsize)) == NULL) { free(base); return NULL; }
    out = delta_apply(base, base_size, delta, dsize, size);
    free(base);
    free(delta);
    return out;
}

/* A deltified commit or tag, whole, into r->buf: 1, or 0. */
static int read_deltified(rgit_packs *r, const rgit_pack *p, uint64_t off, int *type, size_t *len) {
    unsigned char *whole = pack_whole(r, p, off, 0, type, len);
    if (whole == NULL) return 0;
    if (!buf_reserve(r, *len + 1)) { free(whole); return 0; }
    memcpy(r->buf, whole, *len);
    free(whole);
    return 1;
}

int rgit_packs_read_head(rgit_packs *r, const git_oid *id, const char *until, int *type,
                         size_t *len) {
    for (size_t i = 0; i < r->npacks; i++) {
        const rgit_pack *p = &r->pack[i];
        uint64_t off = rgit_pack_find(p, id);
        const unsigned char *data, *end = p->pack + p->pack_size - 20;
        size_t size;
        if (off == 0) continue;
        if (off < 12 || off >= p->pack_size - 20) return 0;
        data = entry_header(p->pack + off, end, type, &size);
        if (data == NULL) return 0;
        if (*type == OBJ_OFS_DELTA || *type == OBJ_REF_DELTA) return read_deltified(r, p, off, type, len);
        if (*type < RGIT_OBJ_COMMIT || *type > RGIT_OBJ_TAG) return 0;
        *len = 0;
        if (*type == RGIT_OBJ_TREE || *type == RGIT_OBJ_BLOB) return 1; /* only the type is wanted */
        return inflate_head(r, data, end, size, until, len);
    }
    return 0;
}

/* ---- loose objects ----------------------------------------------------------------
 * objects/xx/<38 hex digits>: a zlib stream of "<type> <size>\0<content>". */

static int type_of(const unsigned char *word, size_t n) {
    static const char *const names[] = {"commit", "tree", "blob", "tag"};
    for (int i = 0; i < 4; i++)
        if (strlen(names[i]) == n && memcmp(word, names[i], n) == 0) return i + 1;
    return 0;
}

void rgit_oid_tohex(const git_oid *id, char *out) {
    rr_hex_encode(id->id, 20, out);
}

/* Inflate the loose object at m into r->buf until its head is complete;
 * *hdr: where the content starts. */
static int inflate_loose(rgit_packs *r, const unsigned char *m, size_t size, const char *until, int *type,
                         size_t *len, size_t *hdr) {
    int zerr;
    *hdr = 0;
    *len = 0;
    if (!zstream_ready(r)) return 0;
    r->z.next_in = (unsigned char *)m;
    r->z.avail_in = (uInt)(size < (1u << 30) ? size : (1u << 30));
    do {
        size_t before = *len;
        if (!buf_reserve(r, *len + 513)) return 0;
        r->z.next_out = r->buf + *len;
        r->z.avail_out = 512;
        zerr = inflate(&r->z, Z_SYNC_FLUSH);
        *len += 512 - r->z.avail_out;
        if (zerr != Z_OK && zerr != Z_STREAM_END && zerr != Z_BUF_ERROR) return 0;
        if (zerr == Z_BUF_ERROR && *len == before) return 0;
        if (*hdr == 0) {
            const unsigned char *nul = memchr(r->buf, 0, *len), *sp;
            if (nul == NULL) continue;
            if ((sp = memchr(r->buf, ' ', (size_t)(nul - r->buf))) == NULL) return 0;
            if ((*type = type_of(r->buf, (size_t)(sp - r->buf))) == 0) return 0;
            *hdr = (size_t)(nul - r->buf) + 1;
        }
        if (*type == RGIT_OBJ_TREE || *type == RGIT_OBJ_BLOB) return 1; /* only the type is wanted */
        if (rgit_head_complete(r->buf + *hdr, *len - *hdr, until)) return 1;
    } while (zerr != Z_STREAM_END && r->z.avail_in > 0);
    return *hdr != 0 && zerr == Z_STREAM_END;
}

int rgit_loose_read_head(rgit_packs *r, const char *objects, const git_oid *id, const char *until, int *type,
                         size_t *len) {
    char hex[41], path[4200];
    const unsigned char *m;
    size_t size, hdr;
    int ok;
    rgit_oid_tohex(id, hex);
    snprintf(path, sizeof path, "%s/%.2s/%s", objects, hex, hex + 2);
    if ((m = rgit_map_file(path, &size)) == NULL) return 0;
    ok = inflate_loose(r, m, size, until, type, len, &hdr);
    munmap((void *)m, size);
    if (!ok) return 0;
    *len -= hdr;
    memmove(r->buf, r->buf + hdr, *len);
    return 1;
}

/* ---- object counts --------------------------------------------------------------- */

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
        return rgit_be32(buf + 8 + 255 * 4);
    }
    return rgit_be32(buf + 255 * 4);
}

/* The object count of a multi-pack-index (its OIDF fan-out's last entry);
 * 0 if there is none. */
static unsigned long midx_object_count(const char *path) {
    size_t size;
    unsigned long count = 0;
    const unsigned char *m = rgit_map_file(path, &size);
    if (m == NULL) return 0;
    if (size >= 12 && memcmp(m, "MIDX", 4) == 0 && m[4] == 1 && 12 + (size_t)(m[6] + 1) * 12 <= size) {
        for (unsigned i = 0; i < m[6]; i++) {
            const unsigned char *e = m + 12 + i * 12;
            uint64_t off = rgit_be64(e + 4), end = rgit_be64(e + 16);
            if (memcmp(e, "OIDF", 4) == 0 && off <= end && end <= size && end - off == 1024)
                count = rgit_be32(m + off + 255 * 4);
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
        if (!is_idx_name(de->d_name, len)) continue;
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
    snprintf(path, sizeof path, "%s/info/alternates", objects);
    if ((f = fopen(path, "re")) == NULL) return count;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#') continue;
        if (line[0] == '/') snprintf(path, sizeof path, "%s", line);
        else snprintf(path, sizeof path, "%s/%s", objects, line);
        count += object_count_in(path, depth + 1);
    }
    fclose(f);
    return count;
}

unsigned long rgit_approximate_object_count(const char *objects) {
    return object_count_in(objects, 0);
}

int rgit_auto_abbrev(unsigned long n) {
    int msb = 0, len;
    while (n >>= 1) msb++;
    len = (msb + 1 + 1) / 2; /* one bit more than the msb, halved and rounded up, in hex digits */
    return len < 7 ? 7 : len;
}
