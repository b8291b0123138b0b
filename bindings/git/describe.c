/*
 * git describe and the tag list (see describe.h and docs/git-describe.md).
 *
 * Sections: tags (packed-refs, loose refs, peeling);
 * the walk's commits (nodes, parsing, the queue); the describe walk; names;
 * counting reachable commits.
 */
#include "describe.h"
#include "odb.h"
#include "repo.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATHBUF (RGIT_PATH + 512) /* a folder of the repository plus a ref name */

/* The time in a "Name <email> 1234567890 +0000" signature (after the last '>'
 * as git's parse_tag and parse_commit_buffer read it: after the first '>'). */
static int64_t signature_time(const char *v, size_t vlen) {
    const char *gt = memchr(v, '>', vlen);
    char num[32];
    size_t n = 0;
    if (gt == NULL) return 0;
    for (gt++; gt < v + vlen && *gt == ' '; gt++) {}
    while (gt < v + vlen && n + 1 < sizeof num && (*gt == '-' || (*gt >= '0' && *gt <= '9'))) num[n++] = *gt++;
    num[n] = '\0';
    return strtoll(num, NULL, 10);
}

/* ---- tags ---------------------------------------------------------------------- */

static void tag_free_name(rgit_tag *t) {
    free(t->name);
    t->name = NULL;
}

void rgit_taglist_free(rgit_taglist *l) {
    for (size_t i = 0; i < l->n; i++) tag_free_name(&l->t[i]);
    free(l->t);
    memset(l, 0, sizeof *l);
}

/* Entries being collected: a tag, where it came from, whether it is peeled. */
typedef struct {
    rgit_tag tag;
    int packed;
    int peeled;
} tag_entry;

typedef struct {
    tag_entry *e;
    size_t n, cap;
    int (*keep)(const char *, void *);
    void *ctx;
} tag_set;

static tag_entry *tag_set_add(tag_set *s, const char *name, size_t len) {
    tag_entry *e;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        tag_entry *q = realloc(s->e, cap * sizeof *q);
        if (q == NULL) return NULL;
        s->e = q;
        s->cap = cap;
    }
    e = &s->e[s->n];
    memset(e, 0, sizeof *e);
    if ((e->tag.name = strndup(name, len)) == NULL) return NULL;
    if (s->keep != NULL && !s->keep(e->tag.name, s->ctx)) {
        tag_free_name(&e->tag);
        return e; /* filtered out: the caller sees name == NULL */
    }
    s->n++;
    return e;
}

static int hex_oid(git_oid *out, const char *p, size_t avail) {
    return rgit_oid_fromhex(out, p, avail);
}

/* packed-refs' first line names its traits: with "peeled" every tag is
 * followed by a "^<id>" line when it is annotated (git's packed-backend.c),
 * with "fully-peeled" every ref is; without either nothing is known. */
static int packed_peeled(const char *p, const char *end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *head = "# pack-refs with:";
    size_t hlen = strlen(head);
    if (eol == NULL || (size_t)(eol - p) < hlen || memcmp(p, head, hlen) != 0) return 0;
    for (const char *t = p + hlen; t < eol;) {
        const char *sp;
        while (t < eol && *t == ' ') t++;
        sp = memchr(t, ' ', (size_t)(eol - t));
        if (sp == NULL) sp = eol;
        if ((sp - t == 6 && memcmp(t, "peeled", 6) == 0) || (sp - t == 12 && memcmp(t, "fully-peeled", 12) == 0))
            return 1;
        t = sp;
    }
    return 0;
}

/* One "<id> refs/tags/<name>" line of packed-refs, and the "^<id>" after it. */
static int packed_line(tag_set *s, const char *p, const char *eol, const char *end, int peeled) {
    const char *name = p + GIT_OID_HEXSZ + 1;
    tag_entry *e;
    git_oid id;
    if (eol - p < GIT_OID_HEXSZ + 1 + 10 || p[GIT_OID_HEXSZ] != ' ' || memcmp(name, "refs/tags/", 10) != 0)
        return 0;
    if (hex_oid(&id, p, (size_t)(eol - p)) < 0) return 0;
    if ((e = tag_set_add(s, name + 10, (size_t)(eol - name - 10))) == NULL) return -1;
    if (e->tag.name == NULL) return 0;
    e->packed = 1;
    e->tag.target = id;
    if (eol + 1 < end && eol[1] == '^' && hex_oid(&e->tag.commit, eol + 2, (size_t)(end - eol - 2)) == 0) {
        e->tag.annotated = !rgit_oid_equal(&e->tag.commit, &id);
        e->peeled = 1;
    } else if (peeled) {
        e->tag.commit = id;
        e->peeled = 1;
    }
    return 0;
}

static int packed_refs_read(tag_set *s, const char *commondir) {
    char path[4200];
    size_t size;
    const char *m, *p, *end;
    int peeled, err = 0;
    snprintf(path, sizeof path, "%spacked-refs", commondir);
    if ((m = (const char *)rgit_map_file(path, &size)) == NULL) return 0;
    end = m + size;
    peeled = packed_peeled(m, end);
    for (p = m; p < end && err == 0;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL) eol = end;
        if (*p != '#' && *p != '^') err = packed_line(s, p, eol, end, peeled);
        p = eol + 1;
    }
    munmap((void *)m, size);
    return err;
}

/* A symbolic ref under refs/tags (rare): resolved here, else by libgit2. */
static int loose_symbolic(rgit_repo *r, const char *refname, git_oid *out) {
    git_repository *git;
    git_reference *ref, *resolved;
    int err = rgit_resolve_ref(r, refname, out);
    if (err != RGIT_FALLBACK) return err;
    if ((git = rgit_git(r)) == NULL) return GIT_ERROR;
    if ((err = git_reference_lookup(&ref, git, refname)) < 0) return err;
    err = git_reference_resolve(&resolved, ref);
    git_reference_free(ref);
    if (err < 0) return err;
    if (git_reference_target(resolved) == NULL) err = GIT_ENOTFOUND;
    else rgit_oid_cpy(out, git_reference_target(resolved));
    git_reference_free(resolved);
    return err;
}

/* The id in a loose ref file; -1 when it is broken (git skips those). */
static int loose_ref_id(rgit_repo *repo, const char *file, const char *refname, git_oid *out) {
    char buf[256];
    ssize_t n;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = '\0';
    if (strncmp(buf, "ref:", 4) == 0) return loose_symbolic(repo, refname, out) < 0 ? -1 : 0;
    if (hex_oid(out, buf, (size_t)n) < 0 || (n > GIT_OID_HEXSZ && buf[GIT_OID_HEXSZ] > ' ')) return -1;
    return 0;
}

static int loose_add(tag_set *s, rgit_repo *repo, const char *file, const char *refname) {
    tag_entry *e;
    git_oid id;
    size_t len = strlen(refname);
    if (!rgit_refname_ok(refname)) return 0; /* git skips it, ".lock" files too */
    if (loose_ref_id(repo, file, refname, &id) < 0) return 0;
    if ((e = tag_set_add(s, refname + 10, len - 10)) == NULL) return -1;
    if (e->tag.name != NULL) e->tag.target = id;
    return 0;
}

/* Every file under refs/tags/<sub>, recursively. `path` and `refname` are
 * buffers extended in place. */
static int loose_dir(tag_set *s, rgit_repo *repo, char *path, size_t plen, char *refname, size_t rlen,
                     int depth) {
    DIR *d = opendir(path);
    struct dirent *de;
    int err = 0;
    if (d == NULL) return 0;
    while (err == 0 && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        struct stat st;
        if (de->d_name[0] == '.' || plen + n + 2 > PATHBUF || rlen + n + 2 > PATHBUF) continue;
        snprintf(path + plen, PATHBUF - plen, "/%s", de->d_name);
        snprintf(refname + rlen, PATHBUF - rlen, "/%s", de->d_name);
        if (de->d_type == DT_DIR || (de->d_type == DT_UNKNOWN && stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
            if (depth < 64) err = loose_dir(s, repo, path, plen + n + 1, refname, rlen + n + 1, depth + 1);
        } else {
            err = loose_add(s, repo, path, refname);
        }
    }
    closedir(d);
    path[plen] = '\0';
    refname[rlen] = '\0';
    return err;
}

/* By name; of two with one name the loose ref first (it wins). */
static int by_name_loose_first(const void *a, const void *b) {
    const tag_entry *x = a, *y = b;
    int c = strcmp(x->tag.name, y->tag.name);
    return c != 0 ? c : x->packed - y->packed;
}

/* Peel an unpeeled tag by reading objects: a chain of tag objects ends at
 * the commit (or tree, blob) the name stands for. */
static int tag_peel(rgit_reader *rd, rgit_tag *t) {
    git_oid cur = t->target;
    for (int depth = 0; depth < 32; depth++) {
        const unsigned char *data;
        const char *v;
        size_t len, vlen;
        int type, err = rgit_reader_head(rd, &cur, "object ", &type, &data, &len);
        if (err < 0) return err;
        if (type != GIT_OBJECT_TAG) {
            t->commit = cur;
            return 0;
        }
        t->annotated = 1;
        if ((v = rgit_header_value(data, len, "object ", &vlen)) == NULL || hex_oid(&cur, v, vlen) < 0)
            return GIT_ERROR;
    }
    return GIT_ERROR;
}

/* Sort, drop packed duplicates of loose refs, peel what is not peeled and
 * move the result into `out`. */
static int tag_set_finish(tag_set *s, rgit_reader *rd, rgit_taglist *out) {
    size_t k = 0;
    if (s->n > 1) qsort(s->e, s->n, sizeof *s->e, by_name_loose_first);
    for (size_t i = 0; i < s->n; i++) {
        if (k > 0 && strcmp(s->e[k - 1].tag.name, s->e[i].tag.name) == 0) {
            tag_free_name(&s->e[i].tag);
            continue;
        }
        s->e[k++] = s->e[i];
    }
    s->n = k;
    if ((out->t = calloc(k ? k : 1, sizeof *out->t)) == NULL) return GIT_ERROR;
    for (size_t i = 0; i < k; i++) {
        /* a broken tag keeps a zero commit and is never used, as git */
        if (!s->e[i].peeled && tag_peel(rd, &s->e[i].tag) < 0) memset(&s->e[i].tag.commit, 0, sizeof(git_oid));
        out->t[i] = s->e[i].tag;
        s->e[i].tag.name = NULL;
        out->n = out->cap = i + 1;
    }
    rgit_error_clear(rd->repo);
    return 0;
}

static void tag_set_free(tag_set *s) {
    for (size_t i = 0; i < s->n; i++) tag_free_name(&s->e[i].tag);
    free(s->e);
    memset(s, 0, sizeof *s);
}

static int tags_read_with(rgit_repo *repo, rgit_reader *rd, int (*keep)(const char *, void *), void *ctx,
                          rgit_taglist *out) {
    char path[PATHBUF], refname[PATHBUF];
    tag_set s;
    int err;
    memset(&s, 0, sizeof s);
    memset(out, 0, sizeof *out);
    s.keep = keep;
    s.ctx = ctx;
    err = packed_refs_read(&s, repo->commondir);
    snprintf(path, sizeof path, "%srefs/tags", repo->commondir);
    snprintf(refname, sizeof refname, "refs/tags");
    if (err == 0) err = loose_dir(&s, repo, path, strlen(path), refname, strlen(refname), 0);
    if (err == 0) err = tag_set_finish(&s, rd, out);
    tag_set_free(&s);
    if (err < 0) rgit_taglist_free(out);
    return err < 0 ? GIT_ERROR : 0;
}

int rgit_tags_read(rgit_repo *repo, int (*keep)(const char *, void *), void *ctx, rgit_taglist *out) {
    rgit_reader rd;
    int err;
    rgit_reader_open(&rd, repo);
    err = tags_read_with(repo, &rd, keep, ctx, out);
    rgit_reader_close(&rd);
    return err;
}

/* ---- the walk's commits ---------------------------------------------------------
 * The commits a walk touches, each parsed once: from the commit-graph when
 * it has the commit, else from the raw object (parents and committer date
 * only, as git's parse_commit_buffer reads them). */

enum {
    F_SEEN = 1u << 0, /* bits 1..RGIT_MAX_CANDIDATES: "reachable from candidate i" */
    F_QUEUED = 1u << 30,
    F_PARSED = 1u << 31
};

typedef struct {
    git_oid oid;         /* zero for a commit found in the graph: rgit_graph_oid has it */
    int64_t date;
    uint64_t seq;        /* insertion order: ties on date pop first-in first */
    uint32_t flags;
    int32_t name;        /* the tag naming this commit, or -1 */
    uint32_t parents;    /* index into walk.parent */
    uint32_t nparents;
    int64_t gpos;        /* commit-graph position, -1 if not there */
} wnode;

typedef struct {
    rgit_repo *repo;
    rgit_reader rd;
    rgit_graph graph;
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
    uint32_t adding;          /* the node whose parents are being added */
    uint32_t added;           /* how many so far */
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
        if (w->node[i].gpos >= 0) continue; /* found through bypos */
        uint32_t j = oid_hash(&w->node[i].oid) & (cap - 1);
        while (s[j] != 0) j = (j + 1) & (cap - 1);
        s[j] = (int32_t)i + 1;
    }
    free(w->slot);
    w->slot = s;
    w->capslots = cap;
    return 0;
}

static int64_t node_new(walk *w, const git_oid *id, int64_t gpos) {
    wnode *n;
    if (grow((void **)&w->node, &w->capnodes, w->nnodes + 1, sizeof *w->node) < 0) return -1;
    n = &w->node[w->nnodes];
    memset(n, 0, sizeof *n);
    if (id != NULL) rgit_oid_cpy(&n->oid, id);
    n->name = -1;
    n->gpos = gpos;
    return w->nnodes++;
}

/* The node of a commit id, created (unparsed) on first sight; -1 on OOM.
 * gpos: its graph position when the caller knows it, -2 when not. */
static int64_t node_get(walk *w, const git_oid *id, int64_t gpos) {
    uint32_t j;
    int64_t n;
    if (gpos == -2) gpos = w->use_graph ? rgit_graph_find(&w->graph, id) : -1;
    if (gpos >= 0) {
        if (w->bypos[gpos] != 0) return w->bypos[gpos] - 1;
        if ((n = node_new(w, id, gpos)) >= 0) w->bypos[gpos] = (int32_t)n + 1;
        return n;
    }
    if (w->nnodes * 2 >= w->capslots && slots_rehash(w, w->capslots ? w->capslots * 2 : 1024) < 0) return -1;
    for (j = oid_hash(id) & (w->capslots - 1); w->slot[j] != 0; j = (j + 1) & (w->capslots - 1))
        if (rgit_oid_equal(&w->node[w->slot[j] - 1].oid, id)) return w->slot[j] - 1;
    if ((n = node_new(w, id, -1)) >= 0) w->slot[j] = (int32_t)n + 1;
    return n;
}

static int add_parent(walk *w, const git_oid *id, int64_t gpos) {
    int64_t p = node_get(w, id, gpos);
    if (p < 0) return -1;
    if (grow((void **)&w->parent, &w->capparent, w->nparent + 1, sizeof *w->parent) < 0) return -1;
    w->parent[w->nparent++] = (uint32_t)p;
    w->added++;
    return 0;
}

/* A parent by graph position: its id is read only if it must be parsed
 * from its object (a bad graph entry). */
static int graph_parent_cb(void *ctx, uint32_t pos) {
    return add_parent(ctx, NULL, pos);
}

/* Parse from CDAT; -1 if the entry is inconsistent (then the object is read). */
static int parse_from_graph(walk *w, uint32_t n) {
    uint32_t start = w->nparent, pos = (uint32_t)w->node[n].gpos;
    w->added = 0;
    if (rgit_graph_parents(&w->graph, pos, graph_parent_cb, w) < 0) {
        w->nparent = start;
        return -1;
    }
    w->node[n].parents = start;
    w->node[n].nparents = w->added;
    w->node[n].date = rgit_graph_date(&w->graph, pos);
    return 0;
}

static int is_shallow(const walk *w, const git_oid *id) {
    for (size_t i = 0; i < w->nshallow; i++)
        if (rgit_oid_equal(&w->shallow[i], id)) return 1;
    return 0;
}

/* Walk a commit's header lines: each parent to on_parent (unless NULL), the
 * committer date to *date. Stops after the committer line. */
static int commit_head_each(const char *p, size_t size, int (*on_parent)(void *, const git_oid *),
                            void *ctx, int64_t *date) {
    const char *end = p + size, *line;
    git_oid id;
    *date = 0;
    for (line = p; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL) eol = end;
        if (eol == line) break; /* end of headers */
        if (eol - line >= 7 + GIT_OID_HEXSZ && memcmp(line, "parent ", 7) == 0) {
            if (on_parent != NULL && rgit_oid_fromhex(&id, line + 7, GIT_OID_HEXSZ) == 0 &&
                on_parent(ctx, &id) < 0)
                return -1;
        } else if (eol - line > 10 && memcmp(line, "committer ", 10) == 0) {
            *date = signature_time(line + 10, (size_t)(eol - line - 10));
            break; /* nothing after it matters here */
        }
        line = eol + 1;
    }
    return 0;
}

typedef struct {
    git_oid *v;
    int n, max;
} oid_array;

static int collect_parent(void *ctx, const git_oid *id) {
    oid_array *a = ctx;
    if (a->n >= a->max) return -1;
    a->v[a->n++] = *id;
    return 0;
}

int rgit_parse_commit_head(const char *text, size_t len, git_oid *parents, int max_parents, int64_t *date) {
    oid_array a = {parents, 0, max_parents};
    if (commit_head_each(text, len, collect_parent, &a, date) < 0) return -1;
    return a.n;
}

int64_t rgit_commit_date(const char *text, size_t len) {
    int64_t date;
    commit_head_each(text, len, NULL, NULL, &date);
    return date;
}

static int walk_parent_cb(void *ctx, const git_oid *id) {
    return add_parent(ctx, id, -2);
}

/* Parents and date from the commit's text; .git/shallow commits have none. */
static int parse_from_text(walk *w, uint32_t n, const unsigned char *text, size_t len) {
    int shallow = w->nshallow > 0 && is_shallow(w, &w->node[n].oid);
    uint32_t start = w->nparent;
    int64_t date;
    w->added = 0;
    if (commit_head_each((const char *)text, len, shallow ? NULL : walk_parent_cb, w, &date) < 0) {
        w->rd.error = GIT_ERROR;
        return -1;
    }
    w->node[n].parents = start;
    w->node[n].nparents = w->added;
    w->node[n].date = date;
    return 0;
}

static int parse_from_objects(walk *w, uint32_t n) {
    const unsigned char *data;
    size_t len;
    git_oid id = w->node[n].oid; /* node_get may move w->node */
    int type;
    if (w->node[n].gpos >= 0) rgit_graph_oid(&w->graph, (uint32_t)w->node[n].gpos, &id);
    if (rgit_reader_head(&w->rd, &id, "committer ", &type, &data, &len) < 0) return -1;
    if (type != GIT_OBJECT_COMMIT) {
        rgit_error_set(w->repo, GIT_ERROR_OBJECT, "object is not a commit");
        w->rd.error = GIT_ERROR;
        return -1;
    }
    return parse_from_text(w, n, data, len);
}

static int node_parse(walk *w, uint32_t n) {
    if (w->node[n].flags & F_PARSED) return 0;
    if (!(w->node[n].gpos >= 0 && parse_from_graph(w, n) == 0) && parse_from_objects(w, n) < 0) return -1;
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

static void walk_free(walk *w) {
    free(w->node);
    free(w->slot);
    free(w->bypos);
    free(w->parent);
    free(w->heap);
    free(w->shallow);
    if (w->use_graph) rgit_graph_close(&w->graph);
    rgit_reader_close(&w->rd);
    memset(w, 0, sizeof *w);
}

/* .git/shallow: commits whose parents this clone does not have. */
static int read_shallow(walk *w, rgit_repo *repo) {
    char path[PATHBUF], line[128];
    FILE *f;
    snprintf(path, sizeof path, "%sshallow", repo->commondir);
    if ((f = fopen(path, "re")) == NULL) return 0;
    while (fgets(line, sizeof line, f) != NULL) {
        git_oid id, *q;
        if (rgit_oid_fromhex(&id, line, strlen(line)) != 0) continue;
        if ((q = realloc(w->shallow, (w->nshallow + 1) * sizeof *q)) == NULL) { fclose(f); return -1; }
        w->shallow = q;
        w->shallow[w->nshallow++] = id;
    }
    fclose(f);
    return 0;
}

/* git reads the commit-graph unless core.commitGraph is false or the
 * repository is shallow (commit-graph.c, commit_graph_compatible). */
static int graph_wanted(rgit_repo *repo) {
    return !rgit_is_shallow(repo) && rgit_config_bool(repo, "core.commitgraph", 1);
}

static int walk_open(walk *w, rgit_repo *repo) {
    memset(w, 0, sizeof *w);
    w->repo = repo;
    rgit_reader_open(&w->rd, repo);
    if (read_shallow(w, repo) < 0) return GIT_ERROR;
    if (graph_wanted(repo) && rgit_graph_open(&w->graph, repo->objects) == 0) {
        w->bypos = calloc(w->graph.total ? w->graph.total : 1, sizeof *w->bypos);
        if (w->bypos == NULL) { rgit_graph_close(&w->graph); return GIT_ERROR; }
        w->use_graph = 1;
    }
    return 0;
}

static int walk_error(walk *w) {
    return w->rd.error ? w->rd.error : GIT_ERROR;
}

/* ---- the describe walk (git's describe_commit) ----------------------------------- */

typedef struct {
    int32_t name;
    uint32_t depth, found_order, flag;
} candidate;

typedef struct {
    candidate cand[RGIT_MAX_CANDIDATES];
    int ncand, annotated;
    uint32_t best_flag;    /* set while finishing the depth count */
    uint32_t outside_best; /* queued commits not reachable from the best */
    uint32_t walked;
} search;

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
        s->walked++;
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

/* A named commit popped: a new candidate, or (the limit reached) the end. */
static int take_candidate(walk *w, search *s, uint32_t c, const rgit_tag *t, int max_candidates) {
    candidate *k;
    if (s->ncand >= max_candidates) return 1;
    k = &s->cand[s->ncand++];
    k->name = w->node[c].name;
    k->depth = s->walked - 1;
    k->flag = 1u << s->ncand;
    k->found_order = (uint32_t)s->ncand;
    w->node[c].flags |= k->flag;
    if (t->annotated) s->annotated++;
    return 0;
}

/* The main walk. Returns 0 with s->ncand candidates sorted best first. */
static int describe_walk(walk *w, search *s, uint32_t start, const rgit_tag *names, int tags_too,
                         int max_candidates) {
    int64_t gave_up_on = -1;
    if (node_parse(w, start) < 0) return -1;
    w->node[start].flags |= F_SEEN;
    if (queue_push(w, start) < 0) return -1;
    while (w->nheap > 0) {
        uint32_t c = queue_pop(w);
        int32_t nm = w->node[c].name;
        s->walked++;
        /* lightweight tags only count with --tags */
        if (nm >= 0 && (tags_too || names[nm].annotated) && take_candidate(w, s, c, &names[nm], max_candidates)) {
            gave_up_on = c;
            break;
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

/* ---- names ------------------------------------------------------------------------- */

static int64_t tagger_time(rgit_reader *rd, const git_oid *tag) {
    const unsigned char *data;
    const char *v;
    size_t len, vlen;
    int type;
    if (rgit_reader_head(rd, tag, "tagger ", &type, &data, &len) < 0 || type != GIT_OBJECT_TAG) return 0;
    if ((v = rgit_header_value(data, len, "tagger ", &vlen)) == NULL) return 0;
    return signature_time(v, vlen);
}

static int is_zero(const git_oid *id) {
    static const git_oid zero;
    return rgit_oid_equal(id, &zero);
}

/* Attach names to commits as git's add_to_known_names/replace_name choose:
 * annotated over lightweight; between annotated tags the newer tagger date;
 * otherwise the first by refname. */
static int attach_names(walk *w, const rgit_tag *t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int64_t c;
        wnode *node;
        if (is_zero(&t[i].commit)) continue;
        if ((c = node_get(w, &t[i].commit, -2)) < 0) return -1;
        node = &w->node[c];
        if (node->name >= 0) {
            const rgit_tag *e = &t[node->name];
            if (e->annotated > t[i].annotated) continue;
            if (e->annotated == t[i].annotated &&
                (!e->annotated || tagger_time(&w->rd, &e->target) >= tagger_time(&w->rd, &t[i].target)))
                continue;
        }
        node->name = (int32_t)i;
    }
    rgit_error_clear(w->repo);
    return 0;
}

/* The name git prints: an annotated tag's own name (the one inside the tag
 * object, which a renamed ref does not change), else the ref's name. */
static void described_name(rgit_reader *rd, const rgit_tag *t, rgit_described *out) {
    const unsigned char *data;
    const char *v;
    size_t len, vlen = 0;
    int type;
    out->found = 1;
    snprintf(out->tag, sizeof out->tag, "%s", t->name);
    if (!t->annotated || rgit_reader_head(rd, &t->target, "tag ", &type, &data, &len) < 0 ||
        type != GIT_OBJECT_TAG)
        return;
    if ((v = rgit_header_value(data, len, "tag ", &vlen)) != NULL && vlen > 0)
        snprintf(out->tag, sizeof out->tag, "%.*s", (int)vlen, v);
}

static int describe_in(walk *w, const git_oid *id, const rgit_describe_opts *o, rgit_described *out) {
    const rgit_tag *t = o->tags->t;
    search s;
    int64_t start;
    memset(&s, 0, sizeof s);
    if (attach_names(w, t, o->tags->n) < 0) return GIT_ERROR;
    for (size_t i = 0; i < o->tags->n; i++)
        if (!is_zero(&t[i].commit) && (o->tags_too || t[i].annotated)) out->any_names = 1;
    if (!out->any_names) return 0; /* git: "No names found" */
    if ((start = node_get(w, id, -2)) < 0) return GIT_ERROR;
    if (w->node[start].name >= 0 && (o->tags_too || t[w->node[start].name].annotated)) {
        described_name(&w->rd, &t[w->node[start].name], out);
        out->distance = 0;
        return 0;
    }
    if (describe_walk(w, &s, (uint32_t)start, t, o->tags_too, o->candidates) < 0) return walk_error(w);
    out->walked = s.walked;
    if (s.ncand > 0) {
        described_name(&w->rd, &t[s.cand[0].name], out);
        out->distance = s.cand[0].depth;
    }
    return 0;
}

int rgit_describe(rgit_repo *repo, const git_oid *id, const rgit_describe_opts *o, rgit_described *out) {
    walk w;
    int err;
    memset(out, 0, sizeof *out);
    if ((err = walk_open(&w, repo)) < 0) { walk_free(&w); return err; }
    out->used_graph = w.use_graph;
    err = describe_in(&w, id, o, out);
    walk_free(&w);
    return err;
}

/* ---- counting reachable commits ------------------------------------------------------ */

static int count_in(walk *w, const git_oid *id, uint64_t *out) {
    uint32_t *stack = NULL, nstack = 0, capstack = 0;
    int64_t start;
    int err = GIT_ERROR;
    if ((start = node_get(w, id, -2)) < 0 || grow((void **)&stack, &capstack, 1, sizeof *stack) < 0) goto done;
    w->node[start].flags |= F_SEEN;
    stack[nstack++] = (uint32_t)start;
    while (nstack > 0) {
        uint32_t c = stack[--nstack];
        (*out)++;
        if (node_parse(w, c) < 0) { err = walk_error(w); goto done; }
        for (uint32_t i = 0; i < w->node[c].nparents; i++) {
            uint32_t parent = w->parent[w->node[c].parents + i];
            if (w->node[parent].flags & F_SEEN) continue;
            w->node[parent].flags |= F_SEEN;
            if (grow((void **)&stack, &capstack, nstack + 1, sizeof *stack) < 0) goto done;
            stack[nstack++] = parent;
        }
    }
    err = 0;
done:
    free(stack);
    return err;
}

int rgit_count_reachable(rgit_repo *repo, const git_oid *id, uint64_t *out) {
    walk w;
    int err = walk_open(&w, repo);
    *out = 0;
    if (err == 0) err = count_in(&w, id, out);
    walk_free(&w);
    return err;
}
