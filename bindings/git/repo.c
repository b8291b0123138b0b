/*
 * The repository relrun reads itself, libgit2 behind it on demand (see
 * repo.h). Sections: libgit2 on demand; finding the repository; config;
 * refs; objects and hashing; abbreviations.
 *
 * Nothing here calls libgit2 before rgit_git() (or rgit_error_set) has
 * initialised it: libgit2's functions, its error state included, need
 * git_libgit2_init first.
 */
#include "repo.h"
#include "libs.h"
#include "rr.h" /* rr_hex_decode */

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- libgit2 on demand -------------------------------------------------------- */

static int ensure_init(rgit_repo *r) {
    if (r->inited) return 0;
    if (rgit_need_libgit2() < 0) return -1;
    if (r->init != NULL ? r->init(r->init_ctx) < 0 : git_libgit2_init() < 0) return -1;
    r->inited = r->init != NULL ? 1 : 2; /* 2: ours to undo */
    return 0;
}

/* dst = a + b when it fits in RGIT_PATH; 0, or -1 (dst emptied). */
static int join(char *dst, const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la + lb + 1 > RGIT_PATH) { dst[0] = '\0'; return -1; }
    memmove(dst, a, la);
    memcpy(dst + la, b, lb + 1);
    return 0;
}

/* A folder path ending in '/'. */
static int set_dir(char *dst, const char *src) {
    size_t n = strlen(src);
    return join(dst, src, n > 0 && src[n - 1] == '/' ? "" : "/");
}

/* Take libgit2's view of the paths; its config from now on. */
static void adopt_paths(rgit_repo *r) {
    const char *w = git_repository_workdir(r->git);
    set_dir(r->gitdir, git_repository_path(r->git));
    set_dir(r->commondir, git_repository_commondir(r->git));
    if (w != NULL) set_dir(r->workdir, w);
    else r->workdir[0] = '\0';
    join(r->objects, r->commondir, "objects");
    r->lite_config = 0;
}

git_repository *rgit_git(rgit_repo *r) {
    if (r->git != NULL) return r->git;
    if (ensure_init(r) < 0) return NULL;
    if (git_repository_open_ext(&r->git, r->open_path, 0, NULL) < 0) {
        r->git = NULL;
        return NULL;
    }
    r->own_git = 1;
    /* the same repository as found here, or libgit2's view wins */
    if (strcmp(git_repository_path(r->git), r->gitdir) != 0) adopt_paths(r);
    return r->git;
}

void rgit_error_clear(rgit_repo *r) {
    if (r->inited) git_error_clear();
}

void rgit_error_set(rgit_repo *r, int klass, const char *message) {
    if (ensure_init(r) == 0) git_error_set_str(klass, message);
}

static void config_free(rgit_repo *r) {
    for (size_t i = 0; i < r->ncfg; i++) {
        free(r->cfg[i].key);
        free(r->cfg[i].value);
    }
    free(r->cfg);
    r->cfg = NULL;
    r->ncfg = r->capcfg = 0;
}

static void stamp_of(const char *path, struct rgit_stamp *s);

rgit_packs *rgit_repo_packs(rgit_repo *r) {
    char dir[RGIT_PATH + 8];
    struct rgit_stamp now;
    snprintf(dir, sizeof dir, "%s/pack", r->objects);
    stamp_of(dir, &now);
    if (r->packs != NULL && memcmp(&now, &r->packs_stamp, sizeof now) == 0) return r->packs;
    if (r->packs == NULL && (r->packs = calloc(1, sizeof *r->packs)) == NULL) return NULL;
    rgit_packs_close(r->packs);
    rgit_packs_open(r->packs, r->objects);
    r->packs_stamp = now;
    return r->packs;
}

void rgit_repo_close(rgit_repo *r) {
    if (r->packs != NULL) rgit_packs_close(r->packs);
    free(r->packs);
    r->packs = NULL;
    config_free(r);
    if (r->git != NULL && r->own_git) git_repository_free(r->git);
    r->git = NULL;
    if (r->inited == 2) git_libgit2_shutdown();
    r->inited = 0;
}

void rgit_repo_from_git(rgit_repo *r, git_repository *git, int borrowed) {
    memset(r, 0, sizeof *r);
    r->git = git;
    r->own_git = !borrowed;
    r->inited = 1; /* whoever opened it initialised libgit2 */
    snprintf(r->open_path, sizeof r->open_path, "%s", git_repository_path(git));
    adopt_paths(r);
}

/* ---- finding the repository ----------------------------------------------------
 * As libgit2's find_repo with no flags: from the real path upward, try
 * "<dir>/.git", then "<dir>" itself (a bare repository), never crossing to
 * another file system; a repository has HEAD, objects/ and refs/. Only a
 * `.git` folder without a commondir file, owned by this user (libgit2 checks
 * ownership), is plain; anything else is libgit2's. */

static int is_file(const char *dir, const char *name, int want_dir) {
    char path[RGIT_PATH + 64];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 && (want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
}

static int looks_like_repo(const char *dir) {
    return is_file(dir, "HEAD", 0) && is_file(dir, "objects", 1) && is_file(dir, "refs", 1);
}

/* Stat a candidate, keeping to the first file system seen: 1 when it exists
 * there, 0 when missing, -1 when on another file system (stop). */
static int probe(const char *path, struct stat *st, dev_t *dev, int *have_dev) {
    if (stat(path, st) != 0) return 0;
    if (!*have_dev) {
        *dev = st->st_dev;
        *have_dev = 1;
    } else if (st->st_dev != *dev) {
        return -1;
    }
    return 1;
}

static int owned_by_me(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && st.st_uid == geteuid();
}

/* The workdir holding a plain `.git` folder: 0 and the paths set, or -1. */
static int found_dotgit(rgit_repo *r, const char *dir, const char *dotgit) {
    if (is_file(dotgit, "commondir", 0)) return -1; /* a linked worktree's folder */
    if (set_dir(r->gitdir, dotgit) < 0 || set_dir(r->commondir, dotgit) < 0 || set_dir(r->workdir, dir) < 0 ||
        join(r->objects, r->commondir, "objects") < 0)
        return -1;
    return owned_by_me(r->workdir) && owned_by_me(r->gitdir) ? 0 : -1;
}

static int discover(rgit_repo *r, const char *path) {
    char dir[RGIT_PATH], dotgit[RGIT_PATH + 8];
    struct stat st;
    dev_t dev = 0;
    int have_dev = 0, p;
    if (realpath(path, dir) == NULL) return -1;
    for (;;) {
        snprintf(dotgit, sizeof dotgit, "%s/.git", strcmp(dir, "/") == 0 ? "" : dir);
        if ((p = probe(dotgit, &st, &dev, &have_dev)) < 0) return -1;
        if (p > 0 && S_ISDIR(st.st_mode) && looks_like_repo(dotgit)) return found_dotgit(r, dir, dotgit);
        if (p > 0 && S_ISREG(st.st_mode)) return -1; /* a gitfile: a worktree or submodule */
        if ((p = probe(dir, &st, &dev, &have_dev)) < 0) return -1;
        if (p > 0 && S_ISDIR(st.st_mode) && looks_like_repo(dir)) return -1; /* bare */
        if (strcmp(dir, "/") == 0) return -1;
        *strrchr(dir, '/') = '\0';
        if (dir[0] == '\0') strcpy(dir, "/");
    }
}

static int config_load(rgit_repo *r);

/* A repository libgit2 would open as this plain one: not bare by config, no
 * core.worktree, format version 0 (no extensions). */
static int plain_config(rgit_repo *r) {
    char v[64];
    if (rgit_config_bool(r, "core.bare", 0)) return 0;
    if (rgit_config_string(r, "core.worktree", v, sizeof v) != 1) return 0;
    if (rgit_config_string(r, "core.repositoryformatversion", v, sizeof v) == 0 && strcmp(v, "0") != 0) return 0;
    return 1;
}

int rgit_repo_discover(rgit_repo *r, const char *path, int (*init)(void *), void *ctx) {
    memset(r, 0, sizeof *r);
    r->init = init;
    r->init_ctx = ctx;
    snprintf(r->open_path, sizeof r->open_path, "%s", path);
    if (discover(r, path) != 0 || config_load(r) != 0 || !plain_config(r)) {
        config_free(r);
        r->lite_config = 0;
        return RGIT_FALLBACK;
    }
    return 0;
}

/* ---- config -----------------------------------------------------------------------
 * git's config files as libgit2 1.5 reads them (system /etc/gitconfig, XDG,
 * ~/.gitconfig, the repository's), later ones winning. The syntax is git's
 * (Documentation/config.txt): [section] and [section "subsection"], names
 * case-insensitive, values with quotes, escapes, comments and line
 * continuations. An include makes the configuration libgit2's. */

typedef struct {
    const char *p, *end;
    char section[512];
    char value[RGIT_PATH];
} cfg_parse;

static int cfg_add(rgit_repo *r, const char *section, const char *name, const char *value) {
    rgit_config_entry *e;
    size_t n = strlen(section) + strlen(name) + 2;
    if (r->ncfg == r->capcfg) {
        size_t cap = r->capcfg ? r->capcfg * 2 : 32;
        if ((e = realloc(r->cfg, cap * sizeof *e)) == NULL) return -1;
        r->cfg = e;
        r->capcfg = cap;
    }
    e = &r->cfg[r->ncfg];
    if ((e->key = malloc(n)) == NULL) return -1;
    snprintf(e->key, n, "%s.%s", section, name);
    e->value = value ? strdup(value) : NULL;
    if (value != NULL && e->value == NULL) { free(e->key); return -1; }
    r->ncfg++;
    return 0;
}

static int is_name_char(int c) {
    return isalnum(c) || c == '-';
}

/* "[section]", "[section "sub"]" or the old "[section.sub]". -2: an include. */
static int cfg_section(cfg_parse *c) {
    size_t n = 0;
    c->p++;
    while (c->p < c->end && (is_name_char((unsigned char)*c->p) || *c->p == '.') && n + 1 < sizeof c->section)
        c->section[n++] = (char)tolower((unsigned char)*c->p++);
    c->section[n] = '\0';
    if (n == 0 || c->p >= c->end) return -1;
    if (strcmp(c->section, "include") == 0 || strcmp(c->section, "includeif") == 0) return -2;
    if (*c->p == ']') { c->p++; return 0; }
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) c->p++;
    if (c->p >= c->end || *c->p != '"' || n + 2 >= sizeof c->section) return -1;
    c->section[n++] = '.';
    for (c->p++; c->p < c->end && *c->p != '"'; c->p++) {
        if (*c->p == '\n' || n + 1 >= sizeof c->section) return -1;
        if (*c->p == '\\' && ++c->p >= c->end) return -1;
        c->section[n++] = *c->p;
    }
    c->section[n] = '\0';
    if (c->p + 1 >= c->end || c->p[1] != ']') return -1;
    c->p += 2;
    return 0;
}

static void cfg_skip_line(cfg_parse *c) {
    while (c->p < c->end && *c->p != '\n') c->p++;
}

static int cfg_escape(cfg_parse *c, char *out) {
    if (c->p >= c->end) return -1;
    switch (*c->p++) {
    case '\n': *out = 0; return 0; /* a continuation */
    case 't': *out = '\t'; return 0;
    case 'b': *out = '\b'; return 0;
    case 'n': *out = '\n'; return 0;
    case '\\': *out = '\\'; return 0;
    case '"': *out = '"'; return 0;
    default: return -1;
    }
}

/* A value after "=", as git's parse_value: whitespace outside quotes
 * collapses to the spaces between words, comments end it. */
static int cfg_value(cfg_parse *c) {
    size_t n = 0, spaces = 0;
    int quote = 0;
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) c->p++;
    for (;;) {
        char ch;
        if (c->p >= c->end || *c->p == '\n') { if (quote) return -1; break; }
        ch = *c->p++;
        if (!quote && (ch == ';' || ch == '#')) { cfg_skip_line(c); break; }
        if (!quote && isspace((unsigned char)ch)) { if (n) spaces++; continue; }
        for (; spaces > 0 && n + 1 < sizeof c->value; spaces--) c->value[n++] = ' ';
        if (ch == '"') { quote = !quote; continue; }
        if (ch == '\\' && (cfg_escape(c, &ch) < 0)) return -1;
        if (ch == 0) continue;
        if (n + 1 >= sizeof c->value) return -1;
        c->value[n++] = ch;
    }
    c->value[n] = '\0';
    return 0;
}

static int cfg_variable(rgit_repo *r, cfg_parse *c) {
    char name[256];
    size_t n = 0;
    while (c->p < c->end && is_name_char((unsigned char)*c->p) && n + 1 < sizeof name)
        name[n++] = (char)tolower((unsigned char)*c->p++);
    name[n] = '\0';
    if (c->section[0] == '\0') return -1;
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r')) c->p++;
    if (c->p < c->end && *c->p == '=') {
        c->p++;
        if (cfg_value(c) < 0) return -1;
        return cfg_add(r, c->section, name, c->value);
    }
    if (c->p < c->end && *c->p != '\n' && *c->p != '#' && *c->p != ';') return -1;
    cfg_skip_line(c);
    return cfg_add(r, c->section, name, NULL);
}

static int cfg_text(rgit_repo *r, const char *text, size_t len) {
    cfg_parse *c = calloc(1, sizeof *c);
    int err = 0;
    if (c == NULL) return -1;
    c->p = text;
    c->end = text + len;
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) c->p += 3; /* a BOM, as git allows */
    while (err == 0 && c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p;
        if (isspace(ch)) c->p++;
        else if (ch == '#' || ch == ';') cfg_skip_line(c);
        else if (ch == '[') err = cfg_section(c);
        else if (isalpha(ch)) err = cfg_variable(r, c);
        else err = -1;
    }
    free(c);
    return err;
}

/* 0: read (or missing); -1: what this parser does not take (libgit2's then). */
static int cfg_file(rgit_repo *r, const char *path) {
    size_t size;
    const unsigned char *m;
    struct stat st;
    int err;
    if (stat(path, &st) != 0) return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
    if (st.st_size == 0) return 0;
    if ((m = rgit_map_file(path, &size)) == NULL) return -1;
    err = cfg_text(r, (const char *)m, size);
    munmap((void *)m, size);
    return err < 0 ? -1 : 0;
}

/* The config files libgit2 reads, in order (later ones win). */
static int config_paths(const rgit_repo *r, char paths[4][RGIT_PATH + 32]) {
    const char *home = getenv("HOME"), *xdg = getenv("XDG_CONFIG_HOME");
    snprintf(paths[0], sizeof paths[0], "/etc/gitconfig");
    if (xdg != NULL && *xdg) snprintf(paths[1], sizeof paths[1], "%s/git/config", xdg);
    else if (home != NULL) snprintf(paths[1], sizeof paths[1], "%s/.config/git/config", home);
    else paths[1][0] = '\0';
    if (home != NULL) snprintf(paths[2], sizeof paths[2], "%s/.gitconfig", home);
    else paths[2][0] = '\0';
    snprintf(paths[3], sizeof paths[3], "%sconfig", r->commondir);
    return 4;
}

static void stamp_of(const char *path, struct rgit_stamp *s) {
    struct stat st;
    memset(s, 0, sizeof *s);
    if (path[0] == '\0' || stat(path, &st) != 0) return;
    s->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    s->size = (int64_t)st.st_size;
    s->ino = (int64_t)st.st_ino;
}

static int config_load(rgit_repo *r) {
    char paths[4][RGIT_PATH + 32];
    int n = config_paths(r, paths);
    config_free(r);
    r->lite_config = 0;
    for (int i = 0; i < n; i++) {
        stamp_of(paths[i], &r->stamp[i]);
        if (paths[i][0] && cfg_file(r, paths[i]) < 0) return -1;
    }
    r->lite_config = 1;
    return 0;
}

/* Read the config again when one of its files changed since (as libgit2's
 * snapshots do); a config this parser does not take goes to libgit2. */
static void config_refresh(rgit_repo *r) {
    char paths[4][RGIT_PATH + 32];
    int n;
    if (!r->lite_config) return;
    n = config_paths(r, paths);
    for (int i = 0; i < n; i++) {
        struct rgit_stamp now;
        stamp_of(paths[i], &now);
        if (memcmp(&now, &r->stamp[i], sizeof now) != 0) {
            if (config_load(r) < 0) config_free(r);
            return;
        }
    }
}

static const rgit_config_entry *cfg_find(const rgit_repo *r, const char *key) {
    for (size_t i = r->ncfg; i > 0; i--)
        if (strcmp(r->cfg[i - 1].key, key) == 0) return &r->cfg[i - 1];
    return NULL;
}

int rgit_config_string(rgit_repo *r, const char *key, char *buf, size_t size) {
    git_repository *git;
    git_config *cfg;
    git_buf b = GIT_BUF_INIT;
    int err;
    config_refresh(r);
    if (r->lite_config) {
        const rgit_config_entry *e = cfg_find(r, key);
        if (e == NULL) return 1;
        snprintf(buf, size, "%s", e->value ? e->value : "true");
        return 0;
    }
    if ((git = rgit_git(r)) == NULL) return GIT_ERROR;
    if ((err = git_repository_config_snapshot(&cfg, git)) < 0) return err;
    err = git_config_get_string_buf(&b, cfg, key);
    git_config_free(cfg);
    if (err == GIT_ENOTFOUND) { git_error_clear(); return 1; }
    if (err < 0) return err;
    snprintf(buf, size, "%s", b.ptr);
    git_buf_dispose(&b);
    return 0;
}

int rgit_parse_bool(const char *v) {
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off", ""};
    char *end;
    long n;
    for (size_t i = 0; i < 3; i++)
        if (strcasecmp(v, yes[i]) == 0) return 1;
    for (size_t i = 0; i < 4; i++)
        if (strcasecmp(v, no[i]) == 0) return 0;
    n = strtol(v, &end, 10);
    if (end != v && (*end == '\0' || strchr("kKmMgG", *end) != NULL)) return n != 0;
    return -1;
}

int rgit_config_bool(rgit_repo *r, const char *key, int def) {
    char v[256];
    int b;
    config_refresh(r);
    if (!r->lite_config) {
        git_repository *git = rgit_git(r);
        git_config *cfg;
        if (git == NULL || git_repository_config_snapshot(&cfg, git) < 0) { rgit_error_clear(r); return def; }
        if (git_config_get_bool(&b, cfg, key) < 0) b = def;
        git_config_free(cfg);
        git_error_clear();
        return b;
    }
    if (rgit_config_string(r, key, v, sizeof v) != 0) return def;
    b = rgit_parse_bool(v);
    return b < 0 ? def : b;
}

/* ---- refs ------------------------------------------------------------------------------ */

int rgit_refname_ok(const char *name) {
    const char *c = name;
    size_t len = strlen(name);
    if (strncmp(name, "refs/", 5) != 0 || len == 0 || name[len - 1] == '/' || name[len - 1] == '.') return 0;
    if (strstr(name, "..") || strstr(name, "@{") || strstr(name, "//") || strcmp(name, "@") == 0) return 0;
    for (; *c; c++) {
        unsigned char ch = (unsigned char)*c;
        if (ch < 32 || ch == 127 || strchr(" ~^:?*[\\", ch) != NULL) return 0;
        if ((c == name || c[-1] == '/') && *c == '.') return 0;
        if ((c[1] == '/' || c[1] == '\0') && c - name >= 4 && memcmp(c - 4, ".lock", 5) == 0) return 0;
    }
    return 1;
}

int rgit_oid_fromhex(git_oid *out, const char *hex, size_t avail) {
    if (avail < 40) return -1;
    return rr_hex_decode(hex, 20, out->id) == 0 ? 0 : -1;
}

/* A loose ref file's content, trimmed: its length, -1 when missing. */
static int read_ref_file(const char *path, char *buf, size_t size) {
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0) return -1;
    while (n > 0 && isspace((unsigned char)buf[n - 1])) n--;
    buf[n] = '\0';
    return (int)n;
}

/* A name in packed-refs: 0 and its id, or GIT_ENOTFOUND. */
static int packed_ref(rgit_repo *r, const char *name, git_oid *out) {
    char path[RGIT_PATH + 16];
    size_t size, nlen = strlen(name);
    const char *m, *p, *end;
    int found = GIT_ENOTFOUND;
    snprintf(path, sizeof path, "%spacked-refs", r->commondir);
    if ((m = (const char *)rgit_map_file(path, &size)) == NULL) return GIT_ENOTFOUND;
    for (p = m, end = m + size; p < end && found != 0;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL) eol = end;
        if ((size_t)(eol - p) == 41 + nlen && p[40] == ' ' && memcmp(p + 41, name, nlen) == 0 &&
            rgit_oid_fromhex(out, p, 40) == 0)
            found = 0;
        p = eol + 1;
    }
    munmap((void *)m, size);
    return found;
}

/* The folder a ref's loose file lives in: a linked worktree keeps HEAD and
 * its per-worktree refs in its own folder, every other ref in the shared
 * one (gitrepository-layout: refs/bisect, refs/worktree, refs/rewritten). */
static const char *ref_dir(const rgit_repo *r, const char *name) {
    if (strcmp(name, "HEAD") == 0 || strncmp(name, "refs/bisect/", 12) == 0 ||
        strncmp(name, "refs/worktree/", 14) == 0 || strncmp(name, "refs/rewritten/", 15) == 0)
        return r->gitdir;
    return r->commondir;
}

int rgit_resolve_ref(rgit_repo *r, const char *name, git_oid *out) {
    char path[RGIT_PATH + 600], buf[600], cur[600];
    snprintf(cur, sizeof cur, "%s", name);
    for (int depth = 0; depth < 5; depth++) {
        int n;
        if (strcmp(cur, "HEAD") != 0 && !rgit_refname_ok(cur)) return RGIT_FALLBACK;
        snprintf(path, sizeof path, "%s%s", ref_dir(r, cur), cur);
        if ((n = read_ref_file(path, buf, sizeof buf)) < 0) {
            struct stat st;
            if (errno != ENOENT && errno != ENOTDIR) return RGIT_FALLBACK;
            if (stat(path, &st) == 0) return RGIT_FALLBACK; /* a folder, or unreadable */
            return strcmp(cur, "HEAD") == 0 ? RGIT_FALLBACK : packed_ref(r, cur, out);
        }
        if (strncmp(buf, "ref:", 4) == 0) {
            const char *t = buf + 4;
            while (*t == ' ') t++;
            snprintf(cur, sizeof cur, "%s", t);
            continue;
        }
        return n == 40 && rgit_oid_fromhex(out, buf, (size_t)n) == 0 ? 0 : RGIT_FALLBACK;
    }
    return RGIT_FALLBACK;
}

int rgit_read_head(rgit_repo *r, rgit_head *h) {
    char path[RGIT_PATH + 600], buf[600];
    int n, err;
    memset(h, 0, sizeof *h);
    snprintf(path, sizeof path, "%sHEAD", r->gitdir);
    if ((n = read_ref_file(path, buf, sizeof buf)) < 0) return RGIT_FALLBACK;
    if (strncmp(buf, "ref:", 4) != 0) {
        h->detached = 1;
        return n == 40 && rgit_oid_fromhex(&h->id, buf, (size_t)n) == 0 ? 0 : RGIT_FALLBACK;
    }
    for (n = 4; buf[n] == ' '; n++) {}
    snprintf(h->target, sizeof h->target, "%s", buf + n);
    if (!rgit_refname_ok(h->target)) return RGIT_FALLBACK;
    snprintf(path, sizeof path, "%s%s", ref_dir(r, h->target), h->target);
    if (read_ref_file(path, buf, sizeof buf) >= 0 && strncmp(buf, "ref:", 4) == 0) return RGIT_FALLBACK;
    err = rgit_resolve_ref(r, h->target, &h->id);
    if (err == GIT_ENOTFOUND) h->unborn = 1;
    else if (err != 0) return RGIT_FALLBACK;
    return 0;
}

int rgit_is_shallow(rgit_repo *r) {
    char path[RGIT_PATH + 16];
    struct stat st;
    if (r->git != NULL) return git_repository_is_shallow(r->git) == 1;
    snprintf(path, sizeof path, "%sshallow", r->gitdir);
    return lstat(path, &st) == 0 && st.st_size > 0;
}

/* ---- objects and hashing ------------------------------------------------------------- */

void rgit_reader_open(rgit_reader *rd, rgit_repo *r) {
    memset(rd, 0, sizeof *rd);
    rd->repo = r;
    rd->packs = rgit_repo_packs(r);
}

void rgit_reader_close(rgit_reader *rd) {
    free(rd->copy);
    if (rd->odb != NULL) git_odb_free(rd->odb);
    memset(rd, 0, sizeof *rd);
}

static int reader_keep(rgit_reader *rd, const void *data, size_t len) {
    if (len + 1 > rd->copysize) {
        unsigned char *b = realloc(rd->copy, len + 1);
        if (b == NULL) return -1;
        rd->copy = b;
        rd->copysize = len + 1;
    }
    memcpy(rd->copy, data, len);
    rd->copy[len] = '\0';
    return 0;
}

/* Through libgit2: the type from the object header, the text only for
 * commits and tags (a tag may point at a big blob). */
static int reader_libgit2(rgit_reader *rd, const git_oid *id, int *type, const unsigned char **data, size_t *len) {
    git_repository *git = rgit_git(rd->repo);
    git_odb_object *obj;
    git_object_t t;
    size_t size;
    int err;
    if (git == NULL) return rd->error = GIT_ERROR;
    if (rd->odb == NULL && (err = git_repository_odb(&rd->odb, git)) < 0) return rd->error = err;
    if ((err = git_odb_read_header(&size, &t, rd->odb, id)) < 0) return rd->error = err;
    *type = (int)t; /* libgit2's numbering is the pack format's */
    *data = NULL;
    *len = 0;
    if (t != GIT_OBJECT_COMMIT && t != GIT_OBJECT_TAG) return 0;
    if ((err = git_odb_read(&obj, rd->odb, id)) < 0) return rd->error = err;
    err = reader_keep(rd, git_odb_object_data(obj), git_odb_object_size(obj));
    git_odb_object_free(obj);
    if (err < 0) return rd->error = GIT_ERROR;
    *data = rd->copy;
    *len = size;
    return 0;
}

int rgit_reader_head(rgit_reader *rd, const git_oid *id, const char *until, int *type, const unsigned char **data,
                     size_t *len) {
    if (rd->packs != NULL && (rgit_packs_read_head(rd->packs, id, until, type, len) == 1 ||
                              rgit_loose_read_head(rd->packs, rd->repo->objects, id, until, type, len) == 1)) {
        *data = *type == RGIT_OBJ_COMMIT || *type == RGIT_OBJ_TAG ? rd->packs->buf : NULL;
        return 0;
    }
    return reader_libgit2(rd, id, type, data, len);
}

const char *rgit_header_value(const unsigned char *data, size_t len, const char *key, size_t *vlen) {
    const char *p = (const char *)data, *end = p + len;
    size_t klen = strlen(key);
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL) eol = end;
        if (eol == p) return NULL; /* end of headers */
        if ((size_t)(eol - p) >= klen && memcmp(p, key, klen) == 0) {
            *vlen = (size_t)(eol - p) - klen;
            return p + klen;
        }
        p = eol + 1;
    }
    return NULL;
}

static EVP_MD_CTX *blob_hash_start(size_t size) {
    char head[48];
    int n = snprintf(head, sizeof head, "blob %zu", size);
    EVP_MD_CTX *ctx;
    if (rgit_need_libcrypto() < 0 || (ctx = EVP_MD_CTX_new()) == NULL) return NULL;
    if (EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 || EVP_DigestUpdate(ctx, head, (size_t)n + 1) != 1) {
        EVP_MD_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static int blob_hash_end(EVP_MD_CTX *ctx, git_oid *out) {
    unsigned len = 0;
    int ok = EVP_DigestFinal_ex(ctx, out->id, &len) == 1 && len == 20;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

void rgit_hash_blob(const void *data, size_t len, git_oid *out) {
    EVP_MD_CTX *ctx = blob_hash_start(len);
    memset(out, 0, sizeof *out);
    if (ctx == NULL) return;
    EVP_DigestUpdate(ctx, data, len);
    blob_hash_end(ctx, out);
}

int rgit_hash_file(int dirfd, const char *name, git_oid *out) {
    unsigned char buf[65536];
    struct stat st;
    EVP_MD_CTX *ctx;
    size_t left;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -1;
    if (fstat(fd, &st) != 0 || (ctx = blob_hash_start((size_t)st.st_size)) == NULL) { close(fd); return -1; }
    for (left = (size_t)st.st_size; left > 0;) {
        ssize_t n = read(fd, buf, left < sizeof buf ? left : sizeof buf);
        if (n <= 0) break; /* shorter than it was: the hash cannot match */
        EVP_DigestUpdate(ctx, buf, (size_t)n);
        left -= (size_t)n;
    }
    close(fd);
    if (blob_hash_end(ctx, out) < 0 || left > 0) return -1;
    return 0;
}

/* ---- abbreviations ----------------------------------------------------------------------- */

int rgit_abbrev_base(rgit_repo *r) {
    char v[64];
    int len = -1;
    if (rgit_config_string(r, "core.abbrev", v, sizeof v) == 0) {
        if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0) len = GIT_OID_HEXSZ;
        else if (strcmp(v, "auto") != 0) len = atoi(v);
        if (len != -1 && len < 4) len = 4;
        if (len > GIT_OID_HEXSZ) len = GIT_OID_HEXSZ;
    }
    rgit_error_clear(r);
    if (len < 0) len = rgit_auto_abbrev(rgit_approximate_object_count(r->objects));
    return len;
}


/* The most hex digits a loose object shares with `id` (objects/xx/). */
static int loose_common(const char *objects, const git_oid *id) {
    char hex[41], dir[RGIT_PATH + 8];
    struct dirent *de;
    DIR *d;
    int best = 0;
    rgit_oid_tohex(id, hex);
    snprintf(dir, sizeof dir, "%s/%.2s", objects, hex);
    if ((d = opendir(dir)) == NULL) return 0;
    while ((de = readdir(d)) != NULL) {
        git_oid other;
        char full[41];
        int n;
        if (strlen(de->d_name) != 38) continue;
        memcpy(full, hex, 2);
        memcpy(full + 2, de->d_name, 39);
        if (rgit_oid_fromhex(&other, full, 40) < 0 || memcmp(other.id, id->id, 20) == 0) continue;
        if ((n = rgit_oid_common_hex(other.id, id->id)) > best) best = n;
    }
    closedir(d);
    return best;
}

/* git's find_unique_abbrev_r: longer than the longest prefix any other
 * object shares (pack neighbours, loose objects); libgit2 when there are
 * alternates, whose objects are not read here. */
int rgit_abbrev_unique(rgit_repo *r, const git_oid *id, int len) {
    char alternates[RGIT_PATH + 32];
    rgit_packs *packs = rgit_repo_packs(r);
    int common = loose_common(r->objects, id);
    snprintf(alternates, sizeof alternates, "%s/info/alternates", r->objects);
    if (access(alternates, F_OK) == 0) {
        git_repository *git = rgit_git(r);
        git_odb *odb;
        if (git == NULL || git_repository_odb(&odb, git) < 0) return len;
        while (len < GIT_OID_HEXSZ) {
            git_oid found;
            if (git_odb_exists_prefix(&found, odb, id, (size_t)len) != GIT_EAMBIGUOUS) break;
            len++;
        }
        git_odb_free(odb);
        git_error_clear();
        return len;
    }
    for (size_t i = 0; packs != NULL && i < packs->npacks; i++) {
        int n = rgit_pack_common(&packs->pack[i], id);
        if (n > common) common = n;
    }
    if (common + 1 > len) len = common + 1;
    return len > GIT_OID_HEXSZ ? GIT_OID_HEXSZ : len;
}
