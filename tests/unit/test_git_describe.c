/*
 * bindings/git/describe.c against the real git: the tag list (packed-refs
 * with and without peeled ids, loose refs over packed ones, a renamed
 * annotated tag, a tag of a tree), describe at every commit of a generated
 * history with merges, octopus merges, clock skew and many tags (as `git
 * describe --tags --long`), with and without a commit-graph, and the
 * reachable-commit count; plus the commit header parser on odd headers.
 */
#include "../../bindings/git/describe.h"
#include "../../bindings/git/odb.h"
#include "../../bindings/git/repo.h"
#include "git_fixture.h"

static char *hex(const git_oid *id) {
    static char buf[41];
    rgit_oid_tohex(id, buf);
    return buf;
}

static void test_commit_head(void) {
    static const char text[] =
        "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
        "parent 1111111111111111111111111111111111111111\n"
        "parent 2222222222222222222222222222222222222222\n"
        "author A <a@e> 1 +0000\n"
        "committer C <c> 3> 1700000123 -0700\n"
        "mergetag object 3333333333333333333333333333333333333333\n"
        " parent 4444444444444444444444444444444444444444\n"
        "\n"
        "parent 5555555555555555555555555555555555555555\n";
    git_oid p[4];
    int64_t date;
    int n = rgit_parse_commit_head(text, sizeof text - 1, p, 4, &date);
    CHECK(n == 2, "two parents, not the ones after the committer line: %d", n);
    CHECK(n == 2 && strcmp(hex(&p[1]), "2222222222222222222222222222222222222222") == 0, "the second");
    CHECK(date == 3, "the date after the first '>', as git reads it: %lld", (long long)date);
    n = rgit_parse_commit_head("tree x\ncommitter C <c> 99 +0000\n", 31, p, 4, &date);
    CHECK(n == 0 && date == 99, "a root commit: %d %lld", n, (long long)date);
}

/* A history for fast-import: commits on a few branches, merges (some of
 * three parents), dates that repeat and go back, tags annotated and
 * lightweight, some on one commit. */
static void write_history(const char *path, unsigned seed, int ncommits) {
    FILE *f = fopen(path, "w");
    int heads[8] = {0}, nheads = 1;
    long date = 1600000000;
    if (f == NULL) exit(2);
    srand(seed);
    for (int i = 1; i <= ncommits; i++) {
        int b = rand() % nheads, r = rand() % 100;
        int dr = rand() % 10;
        date += dr < 2 ? 0 : dr < 3 ? -(rand() % 500) : rand() % 300;
        fprintf(f, "commit refs/heads/b%d\nmark :%d\ncommitter C <c@e> %ld +0000\ndata 3\nc%d\n", b, i, date, i % 10);
        if (heads[b]) fprintf(f, "from :%d\n", heads[b]);
        if (r < 15 && nheads > 1) {
            int o = rand() % nheads;
            if (o != b && heads[o]) fprintf(f, "merge :%d\n", heads[o]);
            if (r < 4 && nheads > 2) {
                int t = rand() % nheads;
                if (t != b && t != o && heads[t]) fprintf(f, "merge :%d\n", heads[t]);
            }
        }
        fprintf(f, "M 644 inline f%d\ndata 2\n%d\n\n", b, i % 10);
        heads[b] = i;
        if (nheads < 8 && rand() % 12 == 0) heads[nheads++] = i;
    }
    for (int t = 1; t <= ncommits / 6; t++) {
        int m = 1 + rand() % ncommits;
        if (rand() % 2) fprintf(f, "tag v1.%d\nfrom :%d\ntagger T <t@e> %d +0000\ndata 2\nt\n", t, m, 1600000000 + rand() % 50 * 7);
        else fprintf(f, "reset refs/tags/v1.%d\nfrom :%d\n\n", t, m);
        if (rand() % 5 == 0) fprintf(f, "tag v1.%db\nfrom :%d\ntagger T <t@e> %d +0000\ndata 2\nt\n", t, m, 1600000000 + rand() % 50 * 7);
    }
    fclose(f);
}

/* describe every commit; the lines git prints for them, for --tags or not. */
static void check_describe_all(rgit_repo *r, const char *dir, int tags_too, const char *label) {
    char *ids = capture(dir, "git rev-list --all"), *want, *line, *save = NULL, *wl, *ws = NULL;
    rgit_taglist tl;
    rgit_describe_opts o;
    int n = 0;
    want = capture(dir, "git rev-list --all | xargs git describe --long --always %s", tags_too ? "--tags" : "");
    CHECK(rgit_tags_read(r, NULL, NULL, &tl) == 0, "%s: tags", label);
    o.tags = &tl;
    o.tags_too = tags_too;
    o.candidates = 10;
    for (line = strtok_r(ids, "\n", &save), wl = strtok_r(want, "\n", &ws); line && wl;
         line = strtok_r(NULL, "\n", &save), wl = strtok_r(NULL, "\n", &ws), n++) {
        rgit_described d;
        git_oid id;
        char got[1200];
        rgit_oid_fromhex(&id, line, 40);
        CHECK(rgit_describe(r, &id, &o, &d) == 0, "%s: describe %s", label, line);
        if (d.found) snprintf(got, sizeof got, "%s-%u-g%.*s", d.tag, d.distance,
                              rgit_abbrev_unique(r, &id, rgit_abbrev_base(r)), line);
        else snprintf(got, sizeof got, "%.*s", rgit_abbrev_unique(r, &id, rgit_abbrev_base(r)), line);
        CHECK(strcmp(got, wl) == 0, "%s: %s: git %s, relrun %s", label, line, wl, got);
    }
    CHECK(n > 100, "%s: %d commits", label, n);
    rgit_taglist_free(&tl);
    free(ids);
    free(want);
}

static void test_describe(const char *tmp) {
    char dir[512], stream[600];
    rgit_repo r;
    snprintf(dir, sizeof dir, "%s/hist", tmp);
    snprintf(stream, sizeof stream, "%s/hist.stream", tmp);
    write_history(stream, 16, 300);
    sh(tmp, "git init -q -b main hist && git -C hist fast-import --quiet < hist.stream");
    CHECK(rgit_repo_discover(&r, dir, NULL, NULL) == 0, "plain");
    check_describe_all(&r, dir, 1, "loose refs, loose objects");
    check_describe_all(&r, dir, 0, "annotated only");
    sh(dir, "git repack -adq && git pack-refs --all");
    check_describe_all(&r, dir, 1, "packed, peeled");
    sh(dir, "git commit-graph write --reachable");
    check_describe_all(&r, dir, 1, "commit-graph");
    {
        char *heads = capture(dir, "git for-each-ref --format=%%\\(objectname\\) refs/heads"), *line, *save = NULL;
        for (line = strtok_r(heads, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *want = capture(dir, "git rev-list --count %s", line);
            git_oid id;
            uint64_t n = 0;
            rgit_oid_fromhex(&id, line, 40);
            CHECK(rgit_count_reachable(&r, &id, &n) == 0 && n == strtoull(want, NULL, 10),
                  "rev-list --count %s: %s, relrun %llu", line, want, (unsigned long long)n);
            free(want);
        }
        free(heads);
    }
    CHECK(!r.inited, "libgit2 was never needed");
    rgit_repo_close(&r);
}

static int keep_v(const char *name, void *ctx) {
    (void)ctx;
    return name[0] == 'v';
}

/* Tag refs as git lists them: packed without peeled ids, a loose ref over
 * a packed one, a renamed annotated tag, a tag of a tree, a filter. */
static void test_tags(const char *tmp) {
    char dir[512], *want;
    rgit_repo r;
    rgit_taglist tl;
    snprintf(dir, sizeof dir, "%s/tags", tmp);
    sh(tmp, "git init -q -b main tags");
    sh(dir, "git commit -q --allow-empty -m one && git tag -a v1 -m v1 && git tag light && "
            "git commit -q --allow-empty -m two && git tag -a v2 -m v2 && git tag -a vtree -m t HEAD^{tree} && "
            "git tag -a nested/v3 -m v3 && git pack-refs --all && "
            "sed -i -e \"/^\\^/d\" -e \"1s/.*/# pack-refs with: sorted /\" .git/packed-refs && "
            "git update-ref refs/tags/renamed refs/tags/v2 && git tag -f -a v1 -m moved HEAD >/dev/null && "
            "git commit -q --allow-empty -m three && git tag -a v4 -m v4 && "
            "git update-ref refs/tags/renamed4 refs/tags/v4 && git tag -d v4");
    CHECK(rgit_repo_discover(&r, dir, NULL, NULL) == 0, "plain");
    CHECK(rgit_tags_read(&r, NULL, NULL, &tl) == 0, "tags");
    want = capture(dir, "git for-each-ref --format=\"%%(refname:strip=2) %%(objectname) %%(*objectname)\" refs/tags");
    {
        char got[4096] = "";
        size_t at = 0;
        for (size_t i = 0; i < tl.n; i++) {
            char target[41];
            rgit_oid_tohex(&tl.t[i].target, target);
            at += (size_t)snprintf(got + at, sizeof got - at, "%s%s %s %s", i ? "\n" : "", tl.t[i].name, target,
                                   tl.t[i].annotated ? hex(&tl.t[i].commit) : "");
        }
        CHECK(strcmp(got, want) == 0, "tags:\n%s\nwant\n%s", got, want);
    }
    rgit_taglist_free(&tl);
    free(want);
    CHECK(rgit_tags_read(&r, keep_v, NULL, &tl) == 0 && tl.n == 3, "filtered: %zu", tl.n);
    rgit_taglist_free(&tl);
    {
        rgit_taglist all;
        rgit_describe_opts o;
        rgit_described d;
        git_oid id;
        char *head = capture(dir, "git rev-parse HEAD"), *gd = capture(dir, "git describe --tags --long HEAD");
        rgit_oid_fromhex(&id, head, 40);
        CHECK(rgit_tags_read(&r, NULL, NULL, &all) == 0, "all");
        o.tags = &all;
        o.tags_too = 1;
        o.candidates = 10;
        CHECK(rgit_describe(&r, &id, &o, &d) == 0 && d.found, "describe HEAD");
        CHECK(strcmp(d.tag, "v4") == 0 && strncmp(gd, "v4-0-g", 6) == 0,
              "the name inside the tag object, not the ref's: git %s, relrun %s", gd, d.tag);
        rgit_taglist_free(&all);
        free(head);
        free(gd);
    }
    rgit_repo_close(&r);
}

int main(void) {
    const char *tmp = fixture_tmp();
    test_commit_head();
    test_tags(tmp);
    test_describe(tmp);
    return finish("test_git_describe");
}
