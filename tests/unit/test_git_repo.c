/*
 * bindings/git/repo.c and odb.c against the real git: finding a
 * repository, its config (git's syntax, read back with `git config`),
 * HEAD and refs, objects from loose files and packs (deltas included), the
 * commit-graph, abbreviations and blob ids. Every repository is built by
 * git in a temp folder; every expected value is what git answers there.
 */
#include "../../bindings/git/describe.h"
#include "../../bindings/git/odb.h"
#include "../../bindings/git/repo.h"
#include "git_fixture.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

static char *hex(const git_oid *id) {
    static char buf[41];
    rgit_oid_tohex(id, buf);
    return buf;
}

/* git log's "%P" leaves a space after a root commit's fields. */
static void trim(char *s) {
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ') s[--n] = '\0';
}

static void test_bool_and_refnames(void) {
    static const struct { const char *v; int want; } bools[] = {
        {"true", 1}, {"Yes", 1}, {"on", 1}, {"1", 1}, {"42", 1}, {"1k", 1}, {"false", 0}, {"NO", 0},
        {"off", 0}, {"0", 0}, {"", 0}, {"maybe", -1}, {"1x", -1}};
    static const struct { const char *name; int ok; } refs[] = {
        {"refs/tags/v1.0", 1}, {"refs/tags/release/1.2", 1}, {"refs/heads/a-b_c", 1},
        {"refs/tags/v1..2", 0}, {"refs/tags/.hidden", 0}, {"refs/tags/x.lock", 0},
        {"refs/tags/a.lock/b", 0}, {"refs/tags/a b", 0}, {"refs/tags/a~1", 0}, {"refs/tags/a^", 0},
        {"refs/tags/a:b", 0}, {"refs/tags/a?", 0}, {"refs/tags/a*", 0}, {"refs/tags/a[", 0},
        {"refs/tags/a\\b", 0}, {"refs/tags/a@{1}", 0}, {"refs/tags/", 0}, {"refs/tags/a.", 0},
        {"refs/tags//a", 0}, {"tags/v1", 0}};
    for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++)
        CHECK(rgit_parse_bool(bools[i].v) == bools[i].want, "bool %s", bools[i].v);
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++)
        CHECK(rgit_refname_ok(refs[i].name) == refs[i].ok, "refname %s", refs[i].name);
}

static void test_auto_abbrev(void) {
    /* git's length for n objects: 7 below 2^14, then one more digit per
     * factor of 4 (FIELD-NOTES.md; object-name.c) */
    static const unsigned long n[] = {0, 1, 16383, 16384, 65535, 65536, 262143, 262144, 849014, 4194304};
    static const int want[] = {7, 7, 7, 8, 8, 9, 9, 10, 10, 12};
    for (size_t i = 0; i < sizeof n / sizeof n[0]; i++)
        CHECK(rgit_auto_abbrev(n[i]) == want[i], "%lu objects: %d", n[i], rgit_auto_abbrev(n[i]));
}

/* Every key of the fixture's config reads as `git config --get` says. */
static void test_config(const char *tmp) {
    static const char *const keys[] = {
        "core.abbrev", "section.Sub Name.key", "section.Sub Name.spaced", "section.Sub Name.escaped",
        "section.Sub Name.cont", "old.style.x", "section.Sub Name.bare", "section.sub name.key"};
    static const char *const git_keys[] = {
        "core.abbrev", "section.\"Sub Name\".key", "section.\"Sub Name\".spaced", "section.\"Sub Name\".escaped",
        "section.\"Sub Name\".cont", "old.style.x", "section.\"Sub Name\".bare", "section.\"sub name\".key"};
    char dir[512], v[256];
    rgit_repo r;
    snprintf(dir, sizeof dir, "%s/cfg", tmp);
    sh(tmp, "git init -q -b main cfg");
    sh(dir, "printf \"%%s\\n\" \"[core]\" \"  Abbrev = 9 ; a comment\" \"[Section \\\"Sub Name\\\"]\" "
            "\"  Key = \\\"quoted ; not a comment\\\"   # a comment\" \"  Bare\" \"  spaced =   a   b  \" "
            "\"  escaped = tab\\\\there \\\\\\\"q\\\\\\\" back\\\\\\\\slash\" \"  cont = one\\\\\" \"two\" "
            "\"[old.Style]\" \"  X = y\" >> .git/config");
    CHECK(rgit_repo_discover(&r, dir, NULL, NULL) == 0, "a plain repository");
    CHECK(r.lite_config, "its config is read here");
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char *want = capture(dir, "git config --get %s || echo UNSET", git_keys[i]);
        int got = rgit_config_string(&r, keys[i], v, sizeof v);
        if (strcmp(want, "UNSET") == 0) CHECK(got == 1, "%s should be unset, got %s", keys[i], v);
        else if (strcmp(keys[i], "section.Sub Name.bare") == 0) CHECK(got == 0 && rgit_config_bool(&r, keys[i], 0), "bare name");
        else CHECK(got == 0 && strcmp(v, want) == 0, "%s: want [%s], got [%s]", keys[i], want, got == 0 ? v : "?");
        free(want);
    }
    sh(dir, "git config core.abbrev 12");
    CHECK(rgit_config_string(&r, "core.abbrev", v, sizeof v) == 0 && strcmp(v, "12") == 0,
          "a changed file is read again: %s", v);
    sh(dir, "printf \"[include]\\n  path = more\\n\" >> .git/config && printf \"[core]\\n abbrev = 15\\n\" > .git/more");
    CHECK(rgit_config_string(&r, "core.abbrev", v, sizeof v) == 0 && strcmp(v, "15") == 0,
          "an include: the config is libgit2's: %s", v);
    CHECK(!r.lite_config, "no longer read here");
    rgit_repo_close(&r);
    CHECK(rgit_repo_discover(&r, dir, NULL, NULL) == RGIT_FALLBACK, "an include sends the repository to libgit2");
    rgit_repo_close(&r);
}

static void test_discover(const char *tmp) {
    char dir[512], sub[600], real[PATH_MAX], want[PATH_MAX + 8];
    rgit_repo r;
    snprintf(dir, sizeof dir, "%s/disc", tmp);
    sh(tmp, "git init -q -b main disc && mkdir -p disc/a/b && git init -q --bare bare.git && "
            "git -C disc commit -q --allow-empty -m one && git -C disc worktree add -q ../wt && mkdir none");
    snprintf(sub, sizeof sub, "%s/a/b", dir);
    CHECK(rgit_repo_discover(&r, sub, NULL, NULL) == 0, "found from a subfolder");
    if (realpath(dir, real) == NULL) exit(2);
    snprintf(want, sizeof want, "%s/", real);
    CHECK(strcmp(r.workdir, want) == 0, "workdir %s", r.workdir);
    snprintf(want, sizeof want, "%s/.git/", real);
    CHECK(strcmp(r.gitdir, want) == 0 && strcmp(r.commondir, want) == 0, "gitdir %s", r.gitdir);
    CHECK(r.git == NULL, "libgit2 not opened");
    CHECK(rgit_git(&r) != NULL && strcmp(git_repository_path(r.git), r.gitdir) == 0, "libgit2 agrees");
    rgit_repo_close(&r);
    snprintf(sub, sizeof sub, "%s/bare.git", tmp);
    CHECK(rgit_repo_discover(&r, sub, NULL, NULL) == RGIT_FALLBACK, "a bare repository is libgit2's");
    rgit_repo_close(&r);
    snprintf(sub, sizeof sub, "%s/wt", tmp);
    CHECK(rgit_repo_discover(&r, sub, NULL, NULL) == RGIT_FALLBACK, "a linked worktree is libgit2's");
    rgit_repo_close(&r);
    snprintf(sub, sizeof sub, "%s/none", tmp);
    CHECK(rgit_repo_discover(&r, sub, NULL, NULL) == RGIT_FALLBACK, "no repository: libgit2 says so");
    rgit_repo_close(&r);
}

static void test_head(const char *tmp) {
    char dir[512];
    char *want;
    rgit_repo r;
    rgit_head h;
    git_oid id;
    snprintf(dir, sizeof dir, "%s/head", tmp);
    sh(tmp, "git init -q -b trunk head");
    CHECK(rgit_repo_discover(&r, dir, NULL, NULL) == 0, "plain");
    CHECK(rgit_read_head(&r, &h) == 0 && h.unborn && strcmp(h.target, "refs/heads/trunk") == 0, "unborn");
    sh(dir, "git commit -q --allow-empty -m one && git commit -q --allow-empty -m two");
    want = capture(dir, "git rev-parse HEAD");
    CHECK(rgit_read_head(&r, &h) == 0 && !h.unborn && !h.detached && strcmp(hex(&h.id), want) == 0, "born");
    sh(dir, "git pack-refs --all");
    CHECK(rgit_read_head(&r, &h) == 0 && strcmp(hex(&h.id), want) == 0, "a packed branch");
    CHECK(rgit_resolve_ref(&r, "refs/heads/trunk", &id) == 0 && strcmp(hex(&id), want) == 0, "resolve");
    CHECK(rgit_resolve_ref(&r, "refs/heads/nope", &id) == GIT_ENOTFOUND, "missing");
    free(want);
    sh(dir, "git checkout -q --detach HEAD~1");
    want = capture(dir, "git rev-parse HEAD");
    CHECK(rgit_read_head(&r, &h) == 0 && h.detached && strcmp(hex(&h.id), want) == 0, "detached");
    free(want);
    CHECK(!rgit_is_shallow(&r), "not shallow");
    rgit_repo_close(&r);
}

/* Each commit's parents and committer date, read through rgit_reader, as
 * `git log --format="%H %P %ct"` lists them. */
static void check_commits(rgit_repo *r, const char *dir, const char *label) {
    char *list = capture(dir, "git log --all --format=\"%%H %%ct %%P\""), *line, *save = NULL;
    rgit_reader rd;
    int n = 0;
    rgit_reader_open(&rd, r);
    for (line = strtok_r(list, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save), n++) {
        git_oid id, parents[8];
        const unsigned char *data;
        size_t len;
        int64_t date;
        int type, np;
        char got[1024];
        size_t at;
        rgit_oid_fromhex(&id, line, 40);
        trim(line);
        CHECK(rgit_reader_head(&rd, &id, "committer ", &type, &data, &len) == 0 && type == RGIT_OBJ_COMMIT,
              "%s: read %s", label, line);
        np = rgit_parse_commit_head((const char *)data, len, parents, 8, &date);
        at = (size_t)snprintf(got, sizeof got, "%s %lld", hex(&id), (long long)date);
        for (int k = 0; k < np; k++) at += (size_t)snprintf(got + at, sizeof got - at, " %s", hex(&parents[k]));
        CHECK(strcmp(got, line) == 0, "%s: want %s, got %s", label, line, got);
    }
    CHECK(n > 0, "%s: commits listed", label);
    rgit_reader_close(&rd);
    free(list);
}

static void test_objects(const char *tmp) {
    char dir[512], *tree, *verify;
    const unsigned char *data;
    size_t len;
    int type, deltas = 0;
    rgit_repo r;
    rgit_reader rd;
    git_oid id;
    snprintf(dir, sizeof dir, "%s/obj", tmp);
    sh(tmp, "git init -q -b main obj");
    sh(dir, "for i in $(seq 1 60); do echo \"line $i\" >> f; git add f; "
            "GIT_COMMITTER_DATE=\"$((1700000000 + i)) +0000\" git commit -q -m \"a long enough message to be "
            "deltified against the one before it, number $i\"; done; git tag -a v1 -m v1 HEAD~3");
    CHECK(rgit_repo_discover(&r, dir, NULL, NULL) == 0, "plain");
    check_commits(&r, dir, "loose");
    rgit_reader_open(&rd, &r);
    tree = capture(dir, "git rev-parse HEAD^{tree}");
    rgit_oid_fromhex(&id, tree, 40);
    CHECK(rgit_reader_head(&rd, &id, "x", &type, &data, &len) == 0 && type == RGIT_OBJ_TREE && data == NULL,
          "a tree: its type only");
    free(tree);
    tree = capture(dir, "git rev-parse v1");
    rgit_oid_fromhex(&id, tree, 40);
    CHECK(rgit_reader_head(&rd, &id, "tagger ", &type, &data, &len) == 0 && type == RGIT_OBJ_TAG, "a loose tag");
    free(tree);
    rgit_reader_close(&rd);
    sh(dir, "git repack -adfq --window=250 --depth=50 && git prune-packed");
    verify = capture(dir, "git verify-pack -v .git/objects/pack/*.idx | grep -c \" commit .* [0-9][0-9]* [0-9a-f]\\{40\\}$\" || true");
    deltas = atoi(verify);
    free(verify);
    CHECK(deltas > 0, "the repack stored commits as deltas (%d)", deltas);
    check_commits(&r, dir, "packed, deltified");
    CHECK(!r.inited, "libgit2 was never needed");
    rgit_repo_close(&r);
}

typedef struct {
    uint32_t pos[16];
    int n;
} positions;

static int collect(void *ctx, uint32_t parent) {
    positions *p = ctx;
    if (p->n == 16) return -1;
    p->pos[p->n++] = parent;
    return 0;
}

/* The commit-graph's view of every commit (tree, date, parents, an octopus
 * merge's through EDGE) is `git log`'s. */
static void test_graph(const char *tmp) {
    char dir[512], objects[600], *list, *line, *save = NULL;
    rgit_graph g;
    int n = 0;
    snprintf(dir, sizeof dir, "%s/graph", tmp);
    snprintf(objects, sizeof objects, "%s/.git/objects", dir);
    sh(tmp, "git init -q -b main graph");
    sh(dir, "git commit -q --allow-empty -m a && git checkout -q -b x && git commit -q --allow-empty -m b && "
            "git checkout -q -b y main && git commit -q --allow-empty -m c && git checkout -q main && "
            "git commit -q --allow-empty -m d && git merge -q --no-ff -m octopus x y && "
            "git commit-graph write --reachable");
    CHECK(rgit_graph_open(&g, objects) == 0, "a graph");
    list = capture(dir, "git log --all --format=\"%%H %%T %%ct %%P\"");
    for (line = strtok_r(list, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save), n++) {
        git_oid id, other;
        positions ps = {{0}, 0};
        char got[1024];
        size_t at;
        int64_t pos;
        rgit_oid_fromhex(&id, line, 40);
        trim(line);
        if ((pos = rgit_graph_find(&g, &id)) < 0) { CHECK(0, "not in the graph: %s", line); continue; }
        rgit_graph_tree(&g, (uint32_t)pos, &other);
        at = (size_t)snprintf(got, sizeof got, "%s", hex(&id));
        at += (size_t)snprintf(got + at, sizeof got - at, " %s %lld", hex(&other),
                               (long long)rgit_graph_date(&g, (uint32_t)pos));
        CHECK(rgit_graph_parents(&g, (uint32_t)pos, collect, &ps) == 0, "parents of %s", line);
        for (int k = 0; k < ps.n; k++) {
            rgit_graph_oid(&g, ps.pos[k], &other);
            at += (size_t)snprintf(got + at, sizeof got - at, " %s", hex(&other));
        }
        CHECK(strcmp(got, line) == 0, "want %s, got %s", line, got);
        CHECK(rgit_graph_generation(&g, (uint32_t)pos) > 0, "a generation number");
    }
    CHECK(n == 5, "five commits, one an octopus merge: %d", n);
    free(list);
    rgit_graph_close(&g);
}

/* Abbreviations as `git log --format=%h` prints them, and the longest prefix
 * an object shares with another as found by brute force. */
static void test_abbrev(const char *tmp) {
    char dir[512], *ids, *shorts, *line, *save = NULL, *s2 = NULL, *sl;
    rgit_repo r;
    int base, checked = 0;
    snprintf(dir, sizeof dir, "%s/obj", tmp); /* test_objects' repository, packed */
    CHECK(rgit_repo_discover(&r, dir, NULL, NULL) == 0, "plain");
    base = rgit_abbrev_base(&r);
    ids = capture(dir, "git log --all --format=%%H");
    shorts = capture(dir, "git log --all --format=%%h");
    for (line = strtok_r(ids, "\n", &save), sl = strtok_r(shorts, "\n", &s2); line && sl;
         line = strtok_r(NULL, "\n", &save), sl = strtok_r(NULL, "\n", &s2), checked++) {
        git_oid id;
        rgit_oid_fromhex(&id, line, 40);
        CHECK(rgit_abbrev_unique(&r, &id, base) == (int)strlen(sl), "%s: git %s", line, sl);
    }
    CHECK(checked > 50, "abbreviations checked: %d", checked);
    free(ids);
    free(shorts);
    /* a prefix shared on purpose: the pack's neighbours say how long */
    ids = capture(dir, "git cat-file --batch-all-objects --batch-check=%%\\(objectname\\)");
    {
        rgit_packs *packs = rgit_repo_packs(&r);
        char *all[4096];
        int n = 0, worst = 0;
        for (line = strtok_r(ids, "\n", &save); line && n < 4096; line = strtok_r(NULL, "\n", &save)) all[n++] = line;
        for (int i = 0; i < n; i++) {
            int best = 0, got = 0;
            git_oid id;
            for (int j = 0; j < n; j++) {
                int k = 0;
                if (i == j) continue;
                while (k < 40 && all[i][k] == all[j][k]) k++;
                if (k > best) best = k;
            }
            rgit_oid_fromhex(&id, all[i], 40);
            for (size_t p = 0; packs && p < packs->npacks; p++) {
                int c = rgit_pack_common(&packs->pack[p], &id);
                if (c > got) got = c;
            }
            CHECK(got == best, "%s shares %d digits, the pack says %d", all[i], best, got);
            if (best > worst) worst = best;
        }
        CHECK(n > 100 && worst >= 2, "%d objects, longest shared prefix %d", n, worst);
    }
    free(ids);
    rgit_repo_close(&r);
}

/* Blob ids as `git hash-object` computes them. */
static void test_hash(const char *tmp) {
    static const char *const texts[] = {"", "hello\n", "no newline", "\x01\x02binary\xff"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char name[32], *want;
        git_oid id;
        int fd;
        snprintf(name, sizeof name, "blob%zu", i);
        write_file(tmp, name, texts[i]);
        want = capture(tmp, "git hash-object %s", name);
        rgit_hash_blob(texts[i], strlen(texts[i]), &id);
        CHECK(strcmp(hex(&id), want) == 0, "blob %zu: %s vs %s", i, hex(&id), want);
        fd = open(tmp, O_RDONLY | O_DIRECTORY);
        CHECK(rgit_hash_file(fd, name, &id) == 0 && strcmp(hex(&id), want) == 0, "file %zu", i);
        close(fd);
        free(want);
    }
}

int main(void) {
    const char *tmp = fixture_tmp();
    test_bool_and_refnames();
    test_auto_abbrev();
    test_config(tmp);
    test_discover(tmp);
    test_head(tmp);
    test_objects(tmp);
    test_graph(tmp);
    test_abbrev(tmp);
    test_hash(tmp);
    return finish("test_git_repo");
}
