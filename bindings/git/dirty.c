/*
 * The dirty check (see dirty.h): git's tracked-file status, read from the
 * index file, HEAD's trees and lstat.
 *
 * git's rules followed here (read-cache.c, diff-lib.c, wt-status.c of git
 * 2.39, described in Documentation/technical/racy-git.txt):
 *   - an entry whose stat data (mtime and ctime seconds, inode, owner, size)
 *     matches the file is clean, unless it is "racy" (not older than the
 *     index file) or its recorded size is 0 ("smudged"): then the content
 *     is hashed and compared;
 *   - a changed size (recorded size not 0) or a changed owner execute bit
 *     (core.fileMode) is a modification without reading the file;
 *   - assume-unchanged and skip-worktree entries are not looked at;
 *     intent-to-add entries are always changes;
 *   - a submodule is changed when its HEAD is not the recorded commit, or
 *     (unless ignored by its `ignore` setting) its tracked files changed;
 *   - tree modes compare after canon_mode, so an old 100664 is 100644.
 * Untracked files are never looked for.
 */
#include "dirty.h"
#include "odb.h"
#include "repo.h"

#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_IFGITLINK 0160000
#define IS_GITLINK(m) (((m) & S_IFMT) == S_IFGITLINK)
#define MAX_PATH 4096
#define MAX_SUBMODULE_DEPTH 8

/* ---- reading the index ---------------------------------------------------------- */

static uint16_t be16(const unsigned char *p) {
    return (uint16_t)(p[0] << 8 | p[1]);
}

void rgit_index_free(rgit_index *ix) {
    if (ix->map != NULL) munmap((void *)ix->map, ix->size);
    free(ix->e);
    free(ix->paths);
    free(ix->tree);
    memset(ix, 0, sizeof *ix);
}

/* Append a path (prefix + suffix) to ix->paths, NUL-terminated. */
static int path_add(rgit_index *ix, const char *prefix, size_t plen, const char *suffix, size_t slen,
                    rgit_index_entry *e) {
    size_t need = ix->pathsize + plen + slen + 1;
    if (need > UINT32_MAX || plen + slen >= MAX_PATH) return -1;
    if (need > ix->pathcap) {
        size_t cap = ix->pathcap ? ix->pathcap : 16384;
        char *p;
        while (cap < need) cap *= 2;
        if ((p = realloc(ix->paths, cap)) == NULL) return -1;
        ix->paths = p;
        ix->pathcap = cap;
    }
    memcpy(ix->paths + ix->pathsize, prefix, plen);
    memcpy(ix->paths + ix->pathsize + plen, suffix, slen);
    ix->paths[ix->pathsize + plen + slen] = '\0';
    e->path = (uint32_t)ix->pathsize;
    e->pathlen = (uint32_t)(plen + slen);
    ix->pathsize = need;
    return 0;
}

/* git's offset varint (index v4's path prefix length): 7 bits a byte, each
 * continuation adding one before the shift. */
static int varint(const unsigned char **p, const unsigned char *end, uint64_t *out) {
    unsigned char c;
    uint64_t v;
    if (*p >= end) return -1;
    c = *(*p)++;
    v = c & 127;
    while (c & 128) {
        if (*p >= end || v > (UINT64_MAX >> 8)) return -1;
        c = *(*p)++;
        v = ((v + 1) << 7) | (c & 127);
    }
    *out = v;
    return 0;
}

/* The fixed part of an entry (62 bytes, 64 with extended flags). */
static void entry_fixed(rgit_index_entry *e, const unsigned char *p) {
    e->ctime_s = rgit_be32(p);
    e->ctime_ns = rgit_be32(p + 4);
    e->mtime_s = rgit_be32(p + 8);
    e->mtime_ns = rgit_be32(p + 12);
    e->dev = rgit_be32(p + 16);
    e->ino = rgit_be32(p + 20);
    e->mode = rgit_be32(p + 24);
    e->uid = rgit_be32(p + 28);
    e->gid = rgit_be32(p + 32);
    e->size = rgit_be32(p + 36);
    memcpy(e->id.id, p + 40, 20);
    e->flags = be16(p + 60);
    e->xflags = 0;
}

/* Index v2/v3: the name, then NULs to a multiple of 8 bytes. */
static const unsigned char *entry_name_v2(rgit_index *ix, rgit_index_entry *e, const unsigned char *start,
                                          const unsigned char *name, const unsigned char *end) {
    size_t len = e->flags & 0x0fffu;
    const unsigned char *nul;
    if (len == 0x0fff) { /* too long for the field: NUL-terminated */
        if ((nul = memchr(name, 0, (size_t)(end - name))) == NULL) return NULL;
        len = (size_t)(nul - name);
    }
    if ((size_t)(end - name) < len + 1 || name[len] != '\0') return NULL;
    if (path_add(ix, "", 0, (const char *)name, len, e) < 0) return NULL;
    return start + (((size_t)(name - start) + len + 8) & ~(size_t)7);
}

/* Index v4: strip N bytes off the previous path, then a NUL-terminated suffix. */
static const unsigned char *entry_name_v4(rgit_index *ix, rgit_index_entry *e, const rgit_index_entry *prev,
                                          const unsigned char *name, const unsigned char *end) {
    const char *before = prev ? ix->paths + prev->path : "";
    size_t blen = prev ? prev->pathlen : 0;
    const unsigned char *nul;
    uint64_t strip;
    if (varint(&name, end, &strip) < 0 || strip > blen) return NULL;
    if ((nul = memchr(name, 0, (size_t)(end - name))) == NULL) return NULL;
    if (path_add(ix, before, blen - (size_t)strip, (const char *)name, (size_t)(nul - name), e) < 0) return NULL;
    return nul + 1;
}

static const unsigned char *entry_read(rgit_index *ix, uint32_t i, const unsigned char *p, const unsigned char *end) {
    rgit_index_entry *e = &ix->e[i];
    const unsigned char *name = p + 62;
    if ((size_t)(end - p) < 64) return NULL;
    entry_fixed(e, p);
    if (e->flags & RGIT_EXTENDED) {
        if (ix->version < 3) return NULL;
        e->xflags = be16(p + 62);
        name += 2;
    }
    if (ix->version == 4) {
        /* ix->paths may move: entry_name_v4 reads the previous path by offset */
        return entry_name_v4(ix, e, i > 0 ? &ix->e[i - 1] : NULL, name, end);
    }
    return entry_name_v2(ix, e, p, name, end);
}

/* ---- the cache-tree (the TREE extension) ----
 * Each node: the folder name, NUL, its entry count (-1: invalid) in ASCII,
 * a space, its subtree count, LF, then the tree id if valid; its subtrees
 * follow it, depth first. */

static int ascii_int(const unsigned char **p, const unsigned char *end, char stop, long *out) {
    char num[24];
    size_t n = 0;
    char *tail;
    while (*p < end && **p != (unsigned char)stop && n + 1 < sizeof num) num[n++] = (char)*(*p)++;
    if (*p >= end || **p != (unsigned char)stop || n == 0) return -1;
    (*p)++;
    num[n] = '\0';
    *out = strtol(num, &tail, 10);
    return *tail == '\0' ? 0 : -1;
}

static int64_t ctree_node(rgit_index *ix, const unsigned char **p, const unsigned char *end, int depth) {
    const unsigned char *name = *p, *nul = memchr(name, 0, (size_t)(end - name));
    long entries, nsub;
    uint32_t idx, prev = 0;
    rgit_ctree *t;
    if (nul == NULL || depth > 1024) return -1;
    *p = nul + 1;
    if (ascii_int(p, end, ' ', &entries) < 0 || ascii_int(p, end, '\n', &nsub) < 0) return -1;
    if (nsub < 0 || entries < -1 || entries > INT32_MAX || (entries >= 0 && end - *p < 20)) return -1;
    if (ix->ntree == ix->captree) {
        uint32_t cap = ix->captree ? ix->captree * 2 : 64;
        if ((t = realloc(ix->tree, cap * sizeof *t)) == NULL) return -1;
        ix->tree = t;
        ix->captree = cap;
    }
    idx = ix->ntree++;
    t = &ix->tree[idx];
    memset(t, 0, sizeof *t);
    t->name = (const char *)name;
    t->namelen = (uint32_t)(nul - name);
    t->entries = (int32_t)entries;
    if (entries >= 0) {
        memcpy(t->id.id, *p, 20);
        *p += 20;
    }
    for (long k = 0; k < nsub; k++) {
        int64_t c = ctree_node(ix, p, end, depth + 1);
        if (c < 0) return -1;
        if (k == 0) ix->tree[idx].child = (uint32_t)c;
        else ix->tree[prev].sibling = (uint32_t)c;
        prev = (uint32_t)c;
    }
    return idx;
}

/* Extensions: TREE is read; optional ones (first letter A-Z) are skipped;
 * "sdir" only marks a sparse index, whose folder entries are read as such;
 * any other required one ("link": a split index) is not supported. */
static int extensions_read(rgit_index *ix, const unsigned char *p, const unsigned char *end) {
    while (end - p >= 8) {
        uint32_t len = rgit_be32(p + 4);
        const unsigned char *data = p + 8;
        if ((size_t)(end - data) < len) return RGIT_INDEX_BAD;
        if (memcmp(p, "TREE", 4) == 0 && len > 0) {
            const unsigned char *q = data;
            if (ctree_node(ix, &q, data + len, 0) < 0) { free(ix->tree); ix->tree = NULL; ix->ntree = 0; }
        } else if (!(p[0] >= 'A' && p[0] <= 'Z') && memcmp(p, "sdir", 4) != 0) {
            if (memcmp(p, "link", 4) == 0)
                snprintf(ix->why, sizeof ix->why, "the index is split (core.splitIndex), which relrun does not "
                         "read: run `git update-index --no-split-index`");
            else
                snprintf(ix->why, sizeof ix->why, "the index has an extension relrun does not read ('%.4s'): "
                         "rewrite it with git (`git update-index --index-version 4`)", (const char *)p);
            return RGIT_INDEX_UNSUPPORTED;
        }
        p = data + len;
    }
    return RGIT_INDEX_OK;
}

static int index_parse(rgit_index *ix) {
    const unsigned char *p, *end = ix->map + ix->size - 20; /* the trailing checksum */
    if (ix->size < 12 + 20 || memcmp(ix->map, "DIRC", 4) != 0) return RGIT_INDEX_BAD;
    ix->version = rgit_be32(ix->map + 4);
    if (ix->version < 2 || ix->version > 4) {
        snprintf(ix->why, sizeof ix->why, "the index is version %u, which relrun does not read",
                 (unsigned)ix->version);
        return RGIT_INDEX_UNSUPPORTED;
    }
    ix->n = rgit_be32(ix->map + 8);
    if (ix->n > ix->size / 40) return RGIT_INDEX_BAD; /* every entry takes more than 40 bytes */
    if ((ix->e = calloc(ix->n ? ix->n : 1, sizeof *ix->e)) == NULL) return RGIT_INDEX_BAD;
    p = ix->map + 12;
    for (uint32_t i = 0; i < ix->n; i++)
        if ((p = entry_read(ix, i, p, end)) == NULL || p > end) return RGIT_INDEX_BAD;
    return extensions_read(ix, p, end);
}

int rgit_index_read(rgit_index *ix, const char *path) {
    struct stat st;
    int fd, r;
    memset(ix, 0, sizeof *ix);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) return errno == ENOENT ? RGIT_INDEX_OK : RGIT_INDEX_BAD;
    if (fstat(fd, &st) != 0) { close(fd); return RGIT_INDEX_BAD; }
    ix->mtime = st.st_mtim;
    ix->size = (size_t)st.st_size;
    ix->map = ix->size ? mmap(NULL, ix->size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (ix->map == MAP_FAILED) { ix->map = NULL; return RGIT_INDEX_BAD; }
    if (ix->map == NULL) return RGIT_INDEX_BAD;
    if ((r = index_parse(ix)) != RGIT_INDEX_OK) {
        char why[sizeof ix->why];
        memcpy(why, ix->why, sizeof why);
        rgit_index_free(ix);
        memcpy(ix->why, why, sizeof why);
    }
    return r;
}

unsigned rgit_canon_mode(unsigned mode) {
    switch (mode & S_IFMT) {
    case S_IFREG: return S_IFREG | ((mode & 0100) ? 0755 : 0644);
    case S_IFLNK: return S_IFLNK;
    case S_IFDIR: return S_IFDIR;
    default: return S_IFGITLINK;
    }
}

int rgit_is_racy(const rgit_index *ix, const rgit_index_entry *e) {
    return ix->mtime.tv_sec != 0 && (uint32_t)ix->mtime.tv_sec <= e->mtime_s;
}

/* ---- the changes found ------------------------------------------------------------ */

void rgit_changes_free(rgit_changes *c) {
    for (size_t i = 0; i < c->n; i++) free(c->v[i].path);
    free(c->v);
    memset(c, 0, sizeof *c);
}

static int change_add(rgit_changes *c, const char *prefix, size_t plen, const char *name, size_t nlen, int staged,
                      int unstaged) {
    rgit_change *v;
    char *path;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        if ((v = realloc(c->v, cap * sizeof *v)) == NULL) return GIT_ERROR;
        c->v = v;
        c->cap = cap;
    }
    if ((path = malloc(plen + nlen + 1)) == NULL) return GIT_ERROR;
    memcpy(path, prefix, plen);
    memcpy(path + plen, name, nlen);
    path[plen + nlen] = '\0';
    c->v[c->n].path = path;
    c->v[c->n].staged = staged;
    c->v[c->n].unstaged = unstaged;
    c->n++;
    return 0;
}

int rgit_changes_add(rgit_changes *c, const char *path, int staged, int unstaged) {
    return change_add(c, "", 0, path, strlen(path), staged, unstaged) < 0 ? -1 : 0;
}

static int by_path(const void *a, const void *b) {
    return strcmp(((const rgit_change *)a)->path, ((const rgit_change *)b)->path);
}

void rgit_changes_sort(rgit_changes *c) {
    size_t k = 0;
    if (c->n > 1) qsort(c->v, c->n, sizeof *c->v, by_path);
    for (size_t i = 0; i < c->n; i++) {
        if (k > 0 && strcmp(c->v[k - 1].path, c->v[i].path) == 0) {
            rgit_change *into = &c->v[k - 1];
            if (!into->staged || c->v[i].staged == RGIT_CONFLICTED) into->staged = c->v[i].staged;
            if (!into->unstaged || c->v[i].unstaged == RGIT_CONFLICTED) into->unstaged = c->v[i].unstaged;
            free(c->v[i].path);
            continue;
        }
        c->v[k++] = c->v[i];
    }
    c->n = k;
}

/* ---- the check ------------------------------------------------------------------------ */

/* The folders of the entry being checked, kept open (O_PATH) from the
 * working tree down: entries come sorted, so a file is looked up by its
 * name in an open folder (one path step, where a whole-path lstat walks
 * every folder from "/"), and a folder is checked once for being a real
 * folder rather than a symlink (git's has_symlink_leading_path). */
#define DIR_DEPTH 128

typedef struct {
    int root;               /* the working tree */
    int fd[DIR_DEPTH];      /* open folders of `dir`, outermost first */
    size_t end[DIR_DEPTH];  /* where each one's name ends in `dir` */
    int n;
    char dir[MAX_PATH + 1]; /* the folder last asked for */
    size_t dirlen;
    int broken;             /* it is missing, or reached through a symlink or a file */
} dirs;

typedef struct {
    rgit_repo *repo;
    rgit_index ix;
    rgit_changes *out;
    const char *workdir;
    char full[2 * MAX_PATH + 2]; /* workdir + an entry's path */
    char prefix[MAX_PATH + 2];   /* the folder being compared with HEAD's tree */
    dirs dirs;
    int filemode, symlinks, trustctime, checkstat, depth;
    int attributes; /* -1 unknown; 1 when attributes or core.autocrlf may filter content */
} dctx;

/* The core.* settings git's stat comparison reads (defaults for Linux). */
static void read_config(dctx *d) {
    char v[64];
    d->filemode = rgit_config_bool(d->repo, "core.filemode", 1);
    d->symlinks = rgit_config_bool(d->repo, "core.symlinks", 1);
    d->trustctime = rgit_config_bool(d->repo, "core.trustctime", 1);
    d->checkstat = !(rgit_config_string(d->repo, "core.checkstat", v, sizeof v) == 0 && strcmp(v, "minimal") == 0);
    rgit_error_clear(d->repo);
}

static const char *full_path(dctx *d, const char *path) {
    snprintf(d->full, sizeof d->full, "%s%s", d->workdir, path);
    return d->full;
}

static void dirs_close(dirs *s) {
    while (s->n > 0) close(s->fd[--s->n]);
    if (s->root >= 0) close(s->root);
    s->root = -1;
}

static int dirs_top(const dirs *s) {
    return s->n > 0 ? s->fd[s->n - 1] : s->root;
}

/* Open the next folder `name` below the top one; 0, or -1 when it is not a
 * real folder. */
static int dirs_push(dirs *s, const char *name, size_t len, size_t end) {
    char comp[256];
    struct stat st;
    int fd;
    if (len >= sizeof comp || s->n == DIR_DEPTH) return -1;
    memcpy(comp, name, len);
    comp[len] = '\0';
    if (fstatat(dirs_top(s), comp, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)) return -1;
    if ((fd = openat(dirs_top(s), comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) return -1;
    s->fd[s->n] = fd;
    s->end[s->n++] = end;
    return 0;
}

/* The open folder `path` (dlen bytes, "" for the top), or -1 when it is
 * missing or not a real folder. */
static int dirs_get(dirs *s, const char *path, size_t dlen) {
    size_t pos;
    if (dlen == s->dirlen && memcmp(path, s->dir, dlen) == 0) return s->broken ? -1 : dirs_top(s);
    /* keep the open folders that lead to the new one */
    while (s->n > 0) {
        size_t e = s->end[s->n - 1];
        if (e <= dlen && memcmp(s->dir, path, e) == 0 && (e == dlen || path[e] == '/')) break;
        close(s->fd[--s->n]);
    }
    memcpy(s->dir, path, dlen);
    s->dirlen = dlen;
    s->broken = 0;
    for (pos = s->n > 0 ? s->end[s->n - 1] + 1 : 0; pos < dlen;) {
        const char *slash = memchr(path + pos, '/', dlen - pos);
        size_t end = slash ? (size_t)(slash - path) : dlen;
        if (dirs_push(s, path + pos, end - pos, end) < 0) { s->broken = 1; return -1; }
        pos = end + 1;
    }
    return dirs_top(s);
}

/* git's match_stat_data, without nanoseconds (as git is built): 1 when the
 * stat data differs; *size_changed when the size does. */
static int stat_changed(const dctx *d, const rgit_index_entry *e, const struct stat *st, int *size_changed) {
    int changed = e->mtime_s != (uint32_t)st->st_mtime;
    if (d->trustctime && d->checkstat && e->ctime_s != (uint32_t)st->st_ctime) changed = 1;
    if (d->checkstat && (e->uid != (uint32_t)st->st_uid || e->gid != (uint32_t)st->st_gid ||
                         e->ino != (uint32_t)st->st_ino))
        changed = 1;
    *size_changed = e->size != (uint32_t)st->st_size;
    return changed || *size_changed;
}

static int is_empty_blob(const git_oid *id) {
    static const unsigned char empty[20] = {0xe6, 0x9d, 0xe2, 0x9b, 0xb2, 0xd1, 0xd6, 0x43, 0x4b, 0x8b,
                                            0x29, 0xae, 0x77, 0x5a, 0xd8, 0xc2, 0xe4, 0x8c, 0x53, 0x91};
    return memcmp(id->id, empty, 20) == 0;
}

static int exists(const char *path) {
    return path != NULL && access(path, F_OK) == 0;
}

/* A user's attributes file: core.attributesFile, else XDG's git/attributes. */
static int user_attributes(dctx *d) {
    char path[MAX_PATH];
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (rgit_config_string(d->repo, "core.attributesfile", path, sizeof path) == 0) return 1;
    if (xdg != NULL && *xdg) snprintf(path, sizeof path, "%s/git/attributes", xdg);
    else if (home != NULL) snprintf(path, sizeof path, "%s/.config/git/attributes", home);
    else return 0;
    return exists(path);
}

/* Could attributes outside the working tree's folders, or core.autocrlf,
 * change what git hashes for a file? (core.autocrlf true or input; the
 * system, user and info/attributes files; a tracked .gitattributes.) */
static int global_attributes(dctx *d) {
    char path[MAX_PATH + 32], v[64];
    int found = 0;
    if (rgit_config_string(d->repo, "core.autocrlf", v, sizeof v) == 0)
        found = strcmp(v, "input") == 0 || rgit_parse_bool(v) != 0; /* true, input, or no boolean */
    found = found || user_attributes(d);
    rgit_error_clear(d->repo);
    snprintf(path, sizeof path, "%sinfo/attributes", d->repo->commondir);
    found = found || exists(path) || (getenv("GIT_ATTR_NOSYSTEM") == NULL && exists("/etc/gitattributes"));
    for (uint32_t i = 0; i < d->ix.n && !found; i++) {
        const char *p = rgit_entry_path(&d->ix, &d->ix.e[i]), *slash = strrchr(p, '/');
        found = strcmp(slash ? slash + 1 : p, ".gitattributes") == 0;
    }
    return found;
}

/* Attributes that may apply to a file in the open folder chain: the global
 * ones, or a .gitattributes (tracked or not) in one of its folders. */
static int attributes_apply(dctx *d) {
    if (d->attributes < 0) d->attributes = global_attributes(d);
    if (d->attributes) return 1;
    if (faccessat(d->dirs.root, ".gitattributes", F_OK, AT_SYMLINK_NOFOLLOW) == 0) return 1;
    for (int i = 0; i < d->dirs.n; i++)
        if (faccessat(d->dirs.fd[i], ".gitattributes", F_OK, AT_SYMLINK_NOFOLLOW) == 0) return 1;
    return 0;
}

/* The whole file at dirfd/name in malloc'd memory (*len bytes); NULL if it
 * cannot be read. */
static char *read_all(int dirfd, const char *name, size_t *len) {
    struct stat st;
    char *buf = NULL;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return NULL;
    if (fstat(fd, &st) == 0 && (buf = malloc((size_t)st.st_size + 1)) != NULL) {
        ssize_t n = read(fd, buf, (size_t)st.st_size + 1);
        if (n != st.st_size) { free(buf); buf = NULL; } /* changing while read */
        else *len = (size_t)n;
    }
    close(fd);
    return buf;
}

/* `in` converted from `encoding` to UTF-8 (malloc'd, *out_len bytes), or
 * NULL when it is not valid in that encoding (git then hashes it unconverted). */
static char *to_utf8(const char *encoding, const char *in, size_t len, size_t *out_len) {
    iconv_t cd = iconv_open("UTF-8", encoding);
    size_t cap = len * 4 + 16, left = cap;
    char *out, *dst, *src = (char *)in;
    if (cd == (iconv_t)-1) return NULL;
    if ((out = malloc(cap)) != NULL) {
        dst = out;
        if (iconv(cd, &src, &len, &dst, &left) == (size_t)-1) { free(out); out = NULL; }
        else *out_len = cap - left;
    }
    iconv_close(cd);
    return out;
}

/* The blob id git would store for a file with a working-tree-encoding
 * attribute, which libgit2 1.5 does not know: git converts such a file to
 * UTF-8 first (gitattributes(5)), then runs its other filters (crlf,
 * ident: libgit2's). RGIT_FALLBACK when the attribute is not set, or the
 * file cannot be read or converted (an unknown encoding, bytes invalid in
 * it): git then hashes the file unconverted (with "failed to encode" on
 * stderr), as libgit2 does. */
static int hash_encoded(git_repository *git, const char *path, int dirfd, const char *name, git_oid *out) {
    const char *encoding = NULL;
    git_filter_list *filters = NULL;
    git_buf filtered = GIT_BUF_INIT;
    size_t len = 0, ulen = 0;
    char *raw, *utf8;
    int err;
    if (git_attr_get(&encoding, git, 0, path, "working-tree-encoding") < 0 || !GIT_ATTR_HAS_VALUE(encoding))
        return RGIT_FALLBACK;
    if ((raw = read_all(dirfd, name, &len)) == NULL) return RGIT_FALLBACK;
    utf8 = to_utf8(encoding, raw, len, &ulen);
    free(raw);
    if (utf8 == NULL) return RGIT_FALLBACK;
    err = git_filter_list_load(&filters, git, NULL, path, GIT_FILTER_TO_ODB, GIT_FILTER_DEFAULT);
    if (err == 0 && filters != NULL) err = git_filter_list_apply_to_buffer(&filtered, filters, utf8, ulen);
    if (err == 0) rgit_hash_blob(filters != NULL ? filtered.ptr : utf8, filters != NULL ? filtered.size : ulen, out);
    git_filter_list_free(filters);
    git_buf_dispose(&filtered);
    free(utf8);
    return err;
}

/* The file's content hashed as git adds it: through the repository's
 * filters (libgit2) when attributes may apply, else as it is; RGIT_MODIFIED
 * when it is not the recorded blob. */
static int content_change(dctx *d, const rgit_index_entry *e, const char *path, int dirfd, const char *name,
                          const struct stat *st) {
    git_repository *git;
    git_oid id;
    int err;
    if (S_ISLNK(st->st_mode)) {
        char target[MAX_PATH];
        ssize_t n = readlinkat(dirfd, name, target, sizeof target);
        if (n < 0 || (size_t)n >= sizeof target) return RGIT_MODIFIED;
        rgit_hash_blob(target, (size_t)n, &id);
    } else if (attributes_apply(d)) {
        if ((git = rgit_git(d->repo)) == NULL) return GIT_ERROR;
        err = hash_encoded(git, path, dirfd, name, &id);
        if (err == RGIT_FALLBACK && (err = git_repository_hashfile(&id, git, path, GIT_OBJECT_BLOB, path)) < 0)
            return err;
        if (err < 0) return err;
    } else if (rgit_hash_file(dirfd, name, &id) < 0) {
        return RGIT_MODIFIED; /* gone or changing while read */
    }
    return memcmp(id.id, e->id.id, 20) == 0 ? 0 : RGIT_MODIFIED;
}

/* The kind of type change between an entry and what lstat found, or 0. */
static int type_change(const dctx *d, const rgit_index_entry *e, const struct stat *st) {
    if (S_ISDIR(st->st_mode)) return RGIT_DELETED; /* a folder where a file was: git's check_removed */
    switch (e->mode & S_IFMT) {
    case S_IFREG: return S_ISREG(st->st_mode) ? 0 : RGIT_TYPECHANGE;
    case S_IFLNK: return S_ISLNK(st->st_mode) || (!d->symlinks && S_ISREG(st->st_mode)) ? 0 : RGIT_TYPECHANGE;
    default: return RGIT_TYPECHANGE;
    }
}

static int dirty_in(rgit_repo *repo, rgit_changes *out, int depth);

/* submodule.<name>.ignore in the repository's config, which for git
 * overrides .gitmodules (libgit2 1.5's git_submodule_ignore reads only
 * .gitmodules); `def` when unset or not a known value. */
static git_submodule_ignore_t ignore_from_config(dctx *d, const char *name, git_submodule_ignore_t def) {
    static const char *const words[] = {"none", "untracked", "dirty", "all"};
    static const git_submodule_ignore_t values[] = {GIT_SUBMODULE_IGNORE_NONE, GIT_SUBMODULE_IGNORE_UNTRACKED,
                                                    GIT_SUBMODULE_IGNORE_DIRTY, GIT_SUBMODULE_IGNORE_ALL};
    char key[512];
    char v[64];
    git_submodule_ignore_t ignore = def;
    snprintf(key, sizeof key, "submodule.%s.ignore", name);
    if (rgit_config_string(d->repo, key, v, sizeof v) == 0)
        for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
            if (strcmp(v, words[i]) == 0) ignore = values[i];
    return ignore;
}

/* A submodule's `ignore` setting: the config's, else .gitmodules', else none. */
static git_submodule_ignore_t submodule_ignore(dctx *d, git_repository *git, const char *path) {
    git_submodule *sm;
    git_submodule_ignore_t ignore = GIT_SUBMODULE_IGNORE_NONE;
    if (git_submodule_lookup(&sm, git, path) == 0) {
        ignore = git_submodule_ignore(sm);
        if (ignore == GIT_SUBMODULE_IGNORE_UNSPECIFIED) ignore = GIT_SUBMODULE_IGNORE_NONE;
        ignore = ignore_from_config(d, git_submodule_name(sm), ignore);
        git_submodule_free(sm);
    }
    git_error_clear();
    return ignore;
}

/* Its own tracked changes count unless `ignore = dirty`. */
static int submodule_dirty(dctx *d, git_repository *sub, git_submodule_ignore_t ignore) {
    rgit_changes inner;
    rgit_repo *r;
    int err;
    if (ignore == GIT_SUBMODULE_IGNORE_DIRTY || d->depth >= MAX_SUBMODULE_DEPTH) return 0;
    if ((r = malloc(sizeof *r)) == NULL) return GIT_ERROR;
    rgit_repo_from_git(r, sub, 1);
    memset(&inner, 0, sizeof inner);
    err = dirty_in(r, &inner, d->depth + 1);
    rgit_repo_close(r);
    free(r);
    if (err == 0 && inner.n > 0) err = RGIT_MODIFIED;
    rgit_changes_free(&inner);
    return err == RGIT_INDEX_UNSUPPORTED ? 0 : err;
}

/* A gitlink: a submodule checked out at another commit, or with changes.
 * Not checked out (no repository there) is clean, as for git. */
static int gitlink_change(dctx *d, const rgit_index_entry *e, const char *path, int dirfd, const char *name,
                          const struct stat *st) {
    char dotgit[300];
    git_submodule_ignore_t ignore;
    git_repository *sub, *git;
    git_oid head;
    int kind = 0;
    if (!S_ISDIR(st->st_mode)) return RGIT_TYPECHANGE;
    snprintf(dotgit, sizeof dotgit, "%s/.git", name);
    if (faccessat(dirfd, dotgit, F_OK, AT_SYMLINK_NOFOLLOW) != 0) return 0;
    if ((git = rgit_git(d->repo)) == NULL) return GIT_ERROR;
    if ((ignore = submodule_ignore(d, git, path)) == GIT_SUBMODULE_IGNORE_ALL) return 0;
    if (git_repository_open_ext(&sub, full_path(d, path), GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0) {
        git_error_clear();
        return 0;
    }
    if (git_reference_name_to_id(&head, sub, "HEAD") == 0)
        kind = rgit_oid_equal(&head, &e->id) ? submodule_dirty(d, sub, ignore) : RGIT_MODIFIED;
    git_error_clear();
    git_repository_free(sub);
    return kind;
}

static int os_error(dctx *d, const char *what, const char *path) {
    char msg[MAX_PATH + 256];
    snprintf(msg, sizeof msg, "cannot %s '%s': %s", what, path, strerror(errno));
    rgit_error_set(d->repo, GIT_ERROR_OS, msg);
    return GIT_ERROR;
}

static int lstat_failed(dctx *d, const char *path) {
    if (errno == ENOENT || errno == ENOTDIR) return RGIT_DELETED;
    return os_error(d, "read", path);
}

/* git's ie_modified for one entry: 0, a change kind, or an error. */
static int worktree_change(dctx *d, const rgit_index_entry *e, const char *path) {
    const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
    int dirfd = dirs_get(&d->dirs, path, slash ? (size_t)(slash - path) : 0), kind, changed, size_changed;
    struct stat st;
    if (dirfd < 0) return RGIT_DELETED; /* git's check_removed: a leading symlink, a missing folder */
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return lstat_failed(d, path);
    if (IS_GITLINK(e->mode)) return gitlink_change(d, e, path, dirfd, name, &st);
    if ((kind = type_change(d, e, &st)) != 0) return kind;
    if (d->filemode && S_ISREG(e->mode) && S_ISREG(st.st_mode) && ((e->mode ^ st.st_mode) & 0100))
        return RGIT_MODIFIED;
    changed = stat_changed(d, e, &st, &size_changed);
    if (e->size == 0 && !is_empty_blob(&e->id)) changed = 1; /* smudged by a racy write */
    if (!changed && !rgit_is_racy(&d->ix, e)) return 0;
    if (size_changed && e->size != 0) return RGIT_MODIFIED;
    return content_change(d, e, path, dirfd, name, &st);
}

/* Index against working tree (git's run_diff_files after a refresh). */
static int worktree_pass(dctx *d) {
    if ((d->dirs.root = open(d->workdir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        return os_error(d, "open the working tree", d->workdir);
    for (uint32_t i = 0; i < d->ix.n; i++) {
        const rgit_index_entry *e = &d->ix.e[i];
        const char *path = rgit_entry_path(&d->ix, e);
        int kind;
        if (rgit_entry_stage(e) != 0) kind = RGIT_CONFLICTED;
        else if (e->xflags & RGIT_SKIP_WORKTREE || e->flags & RGIT_ASSUME_VALID) continue;
        else if (e->xflags & RGIT_INTENT_TO_ADD) kind = RGIT_ADDED;
        else if ((kind = worktree_change(d, e, path)) < 0) return kind;
        if (kind != 0 && change_add(d->out, "", 0, path, e->pathlen, 0, kind) < 0) return GIT_ERROR;
    }
    return 0;
}

/* ---- HEAD against the index ----
 * A merge of a tree's entries with the index entries under the same folder.
 * Keys compare as git's base_name_compare: a folder's name as if it ended
 * with '/', which is also the index's order. */

typedef struct {
    const char *name;   /* the first path component below the prefix */
    size_t len;
    int is_dir;         /* entries below a folder (or one sparse folder entry) */
    uint32_t start, end;
} group;

static int key_cmp(const char *a, size_t alen, int adir, const char *b, size_t blen, int bdir) {
    size_t n = alen < blen ? alen : blen;
    int c = memcmp(a, b, n), ca, cb;
    if (c != 0) return c;
    ca = alen > n ? (unsigned char)a[n] : adir ? '/' : 0;
    cb = blen > n ? (unsigned char)b[n] : bdir ? '/' : 0;
    return ca - cb;
}

/* The group of entries at index position i: one path (all its stages) or
 * every path under one folder. */
static void group_at(const dctx *d, uint32_t i, uint32_t hi, size_t plen, group *g) {
    const char *rel = rgit_entry_path(&d->ix, &d->ix.e[i]) + plen, *slash = strchr(rel, '/');
    g->name = rel;
    g->start = i;
    g->is_dir = slash != NULL;
    g->len = slash ? (size_t)(slash - rel) : strlen(rel);
    for (g->end = i + 1; g->end < hi; g->end++) {
        const char *r = rgit_entry_path(&d->ix, &d->ix.e[g->end]) + plen;
        if (strncmp(r, rel, g->len) != 0) break;
        if (g->is_dir ? r[g->len] != '/' : r[g->len] != '\0') break;
    }
}

static int staged_add(dctx *d, const char *name, size_t len, int kind) {
    return change_add(d->out, d->prefix, strlen(d->prefix), name, len, kind, 0);
}

/* Entries only in the index: added (conflicts are the worktree pass's). */
static int index_only(dctx *d, const group *g) {
    for (uint32_t i = g->start; i < g->end; i++) {
        const rgit_index_entry *e = &d->ix.e[i];
        if (rgit_entry_stage(e) != 0 || (e->xflags & RGIT_INTENT_TO_ADD)) continue;
        if (change_add(d->out, "", 0, rgit_entry_path(&d->ix, e), e->pathlen, RGIT_ADDED, 0) < 0) return GIT_ERROR;
    }
    return 0;
}

typedef struct {
    dctx *d;
    int err;
} walk_ctx;

static int deleted_cb(const char *root, const git_tree_entry *te, void *payload) {
    walk_ctx *w = payload;
    char path[2 * MAX_PATH + 2];
    int n;
    if (git_tree_entry_type(te) == GIT_OBJECT_TREE) return 0;
    n = snprintf(path, sizeof path, "%s%s%s", w->d->prefix, root, git_tree_entry_name(te));
    if (n < 0 || (size_t)n >= sizeof path || change_add(w->d->out, "", 0, path, (size_t)n, RGIT_DELETED, 0) < 0) {
        w->err = GIT_ERROR;
        return -1;
    }
    return 0;
}

/* A tree entry the index lacks: deleted (a folder: every file in it). */
static int tree_only(dctx *d, const git_tree_entry *te) {
    const char *name = git_tree_entry_name(te);
    git_tree *sub;
    walk_ctx w = {d, 0};
    size_t plen = strlen(d->prefix);
    int err;
    if (git_tree_entry_type(te) != GIT_OBJECT_TREE) return staged_add(d, name, strlen(name), RGIT_DELETED);
    if (plen + strlen(name) + 2 > sizeof d->prefix) return GIT_ERROR;
    if ((err = git_tree_lookup(&sub, d->repo->git, git_tree_entry_id(te))) < 0) return err;
    snprintf(d->prefix + plen, sizeof d->prefix - plen, "%s/", name);
    err = git_tree_walk(sub, GIT_TREEWALK_PRE, deleted_cb, &w);
    d->prefix[plen] = '\0';
    git_tree_free(sub);
    return w.err ? w.err : err;
}

/* The cache-tree node of sub-folder `name` under node `ct`, or -1. */
static int64_t ctree_child(const rgit_index *ix, int64_t ct, const char *name, size_t len) {
    if (ct < 0 || ix->tree == NULL) return -1;
    for (uint32_t c = ix->tree[ct].child; c != 0; c = ix->tree[c].sibling)
        if (ix->tree[c].namelen == len && memcmp(ix->tree[c].name, name, len) == 0) return c;
    return -1;
}

static int diff_tree(dctx *d, const git_oid *tree_id, uint32_t lo, uint32_t hi, int64_t ct);

/* A folder in both: compare below it (a sparse folder entry: by its id). */
static int both_dirs(dctx *d, const group *g, const git_tree_entry *te, int64_t ct) {
    const rgit_index_entry *e = &d->ix.e[g->start];
    size_t plen = strlen(d->prefix);
    int err;
    if ((e->mode & S_IFMT) == S_IFDIR)
        return rgit_oid_equal(&e->id, git_tree_entry_id(te)) ? 0 : staged_add(d, g->name, g->len + 1, RGIT_MODIFIED);
    if (plen + g->len + 2 > sizeof d->prefix) return GIT_ERROR;
    memcpy(d->prefix + plen, g->name, g->len);
    d->prefix[plen + g->len] = '/';
    d->prefix[plen + g->len + 1] = '\0';
    err = diff_tree(d, git_tree_entry_id(te), g->start, g->end, ctree_child(&d->ix, ct, g->name, g->len));
    d->prefix[plen] = '\0';
    return err;
}

/* A file in both: modes after canon_mode (100664 is 100644), then ids. */
static int both_files(dctx *d, const group *g, const git_tree_entry *te) {
    const rgit_index_entry *e = &d->ix.e[g->start];
    unsigned tm = rgit_canon_mode((unsigned)git_tree_entry_filemode_raw(te)), im = rgit_canon_mode(e->mode);
    if (g->end - g->start > 1 || rgit_entry_stage(e) != 0) return 0; /* a conflict: the worktree pass's */
    if (e->xflags & RGIT_INTENT_TO_ADD) return staged_add(d, g->name, g->len, RGIT_DELETED);
    if ((tm & S_IFMT) != (im & S_IFMT)) return staged_add(d, g->name, g->len, RGIT_TYPECHANGE);
    if (tm != im || !rgit_oid_equal(&e->id, git_tree_entry_id(te))) return staged_add(d, g->name, g->len, RGIT_MODIFIED);
    return 0;
}

static int merge_step(dctx *d, git_tree *tree, size_t *k, size_t nt, uint32_t *i, uint32_t hi, int64_t ct) {
    size_t plen = strlen(d->prefix);
    const git_tree_entry *te = *k < nt ? git_tree_entry_byindex(tree, *k) : NULL;
    int c, tdir = te && git_tree_entry_type(te) == GIT_OBJECT_TREE, err;
    group g = {0};
    if (*i < hi) group_at(d, *i, hi, plen, &g);
    if (te == NULL) c = -1;
    else if (*i >= hi) c = 1;
    else c = key_cmp(g.name, g.len, g.is_dir, git_tree_entry_name(te), strlen(git_tree_entry_name(te)), tdir);
    if (c < 0) { *i = g.end; return index_only(d, &g); }
    if (c > 0) { (*k)++; return tree_only(d, te); }
    err = g.is_dir ? both_dirs(d, &g, te, ct) : both_files(d, &g, te);
    *i = g.end;
    (*k)++;
    return err;
}

/* HEAD's tree `tree_id` (NULL: none) against index entries [lo, hi) under
 * d->prefix. A valid cache-tree node with the same id covering the same
 * entries means no change below: git's own shortcut (unpack-trees.c). */
static int diff_tree(dctx *d, const git_oid *tree_id, uint32_t lo, uint32_t hi, int64_t ct) {
    git_tree *tree = NULL;
    size_t k = 0, nt = 0;
    uint32_t i = lo;
    int err = 0;
    if (ct >= 0 && tree_id != NULL && d->ix.tree[ct].entries == (int32_t)(hi - lo) &&
        rgit_oid_equal(&d->ix.tree[ct].id, tree_id))
        return 0;
    if (tree_id != NULL) {
        git_repository *git = rgit_git(d->repo); /* the trees themselves are libgit2's to read */
        if (git == NULL) return GIT_ERROR;
        if ((err = git_tree_lookup(&tree, git, tree_id)) < 0) return err;
        nt = git_tree_entrycount(tree);
    }
    while (err == 0 && (k < nt || i < hi)) err = merge_step(d, tree, &k, nt, &i, hi, ct);
    if (tree != NULL) git_tree_free(tree); /* no tree: libgit2 may never have been loaded (libs.c) */
    return err;
}

/* HEAD's tree id read here: from the commit's first line. 1: no commit yet;
 * RGIT_FALLBACK: ask libgit2. */
static int head_tree_here(rgit_repo *r, git_oid *out) {
    rgit_head h;
    rgit_reader rd;
    const unsigned char *data;
    const char *v;
    size_t len, vlen;
    int type, err;
    if (rgit_read_head(r, &h) != 0) return RGIT_FALLBACK;
    if (h.unborn) return 1;
    rgit_reader_open(&rd, r);
    err = rgit_reader_head(&rd, &h.id, "tree ", &type, &data, &len);
    if (err == 0 && type == RGIT_OBJ_COMMIT && (v = rgit_header_value(data, len, "tree ", &vlen)) != NULL &&
        rgit_oid_fromhex(out, v, vlen) == 0)
        err = 0;
    else
        err = err < 0 ? err : RGIT_FALLBACK;
    rgit_reader_close(&rd);
    return err;
}

/* HEAD's tree id; 1 when HEAD has no commit yet. */
static int head_tree(rgit_repo *r, git_oid *out) {
    git_repository *git;
    git_oid head;
    git_commit *c;
    int err = head_tree_here(r, out);
    if (err != RGIT_FALLBACK) return err;
    if ((git = rgit_git(r)) == NULL) return GIT_ERROR;
    err = git_reference_name_to_id(&head, git, "HEAD");
    if (err == GIT_ENOTFOUND || err == GIT_EUNBORNBRANCH) { git_error_clear(); return 1; }
    if (err < 0 || (err = git_commit_lookup(&c, git, &head)) < 0) return err;
    rgit_oid_cpy(out, git_commit_tree_id(c));
    git_commit_free(c);
    return 0;
}

static int staged_pass(dctx *d) {
    git_oid tree;
    int err = head_tree(d->repo, &tree);
    if (err < 0) return err;
    d->prefix[0] = '\0';
    return diff_tree(d, err == 1 ? NULL : &tree, 0, d->ix.n, d->ix.tree ? 0 : -1);
}

static int index_error(dctx *d, int r) {
    if (r == RGIT_INDEX_UNSUPPORTED) {
        rgit_error_set(d->repo, GIT_ERROR_INDEX, d->ix.why);
        return r;
    }
    rgit_error_set(d->repo, GIT_ERROR_INDEX, "the index file (.git/index) is damaged or unreadable");
    return GIT_ERROR;
}

static int dirty_in(rgit_repo *repo, rgit_changes *out, int depth) {
    char path[MAX_PATH + 16];
    dctx *d = calloc(1, sizeof *d);
    int err;
    if (d == NULL) return GIT_ERROR;
    d->repo = repo;
    d->out = out;
    d->depth = depth;
    d->dirs.root = -1;
    d->attributes = -1;
    d->workdir = repo->workdir;
    snprintf(path, sizeof path, "%sindex", repo->gitdir);
    if (d->workdir[0] == '\0') {
        rgit_error_set(repo, GIT_ERROR_REPOSITORY, "the repository is bare (no working tree)");
        err = GIT_EBAREREPO;
    } else if ((err = rgit_index_read(&d->ix, path)) != RGIT_INDEX_OK) {
        err = index_error(d, err);
    } else {
        read_config(d);
        if ((err = staged_pass(d)) == 0) err = worktree_pass(d);
    }
    dirs_close(&d->dirs);
    rgit_index_free(&d->ix);
    free(d);
    return err;
}

int rgit_dirty(rgit_repo *repo, rgit_changes *out) {
    int err;
    memset(out, 0, sizeof *out);
    err = dirty_in(repo, out, 0);
    if (err != 0) rgit_changes_free(out);
    else rgit_changes_sort(out);
    return err;
}
