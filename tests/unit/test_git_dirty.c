/*
 * bindings/git/dirty.c against the real git: the index read in versions 2,
 * 3 and 4 (entries, stages, flags, stat data, the cache-tree) as `git
 * ls-files --debug` and `git ls-files -s` show it; canon_mode and the racy
 * rule; and the dirty check on a few states, as `git status --porcelain
 * --untracked-files=no` says (tests/lua/git_status_spec.lua has many more).
 */
#include "../../bindings/git/dirty.h"
#include "../../bindings/git/odb.h"
#include "../../bindings/git/repo.h"
#include "git_fixture.h"

#include <sys/stat.h>

static void test_canon_and_racy(void) {
    static const unsigned modes[][2] = {
        {0100644, 0100644}, {0100664, 0100644}, {0100600, 0100644}, {0100755, 0100755}, {0100775, 0100755},
        {0100700, 0100755}, {0100744, 0100755}, {0100711, 0100755}, {0120000, 0120000}, {0120777, 0120000},
        {0040000, 0040000}, {0160000, 0160000}};
    rgit_index ix;
    rgit_index_entry e;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        CHECK(rgit_canon_mode(modes[i][0]) == modes[i][1], "%o -> %o", modes[i][0], rgit_canon_mode(modes[i][0]));
    memset(&ix, 0, sizeof ix);
    memset(&e, 0, sizeof e);
    ix.mtime.tv_sec = 1000;
    ix.mtime.tv_nsec = 500;
    e.mtime_s = 999;
    CHECK(!rgit_is_racy(&ix, &e), "older than the index");
    e.mtime_s = 1000;
    e.mtime_ns = 0;
    CHECK(rgit_is_racy(&ix, &e), "the same second, nanoseconds aside (git without USE_NSEC)");
    e.mtime_s = 1001;
    CHECK(rgit_is_racy(&ix, &e), "newer");
    ix.mtime.tv_sec = 0;
    CHECK(!rgit_is_racy(&ix, &e), "no index time: never racy");
}

/* git's in-memory flags keep CE_EXTENDED (0x4000) for some entries: the
 * bit only says that the on-disk entry has a second flags word. */
static void drop_extended_bit(char *text) {
    for (char *p = strstr(text, "flags: "); p != NULL; p = strstr(p + 1, "flags: ")) {
        char *end;
        unsigned long v = strtoul(p + 7, &end, 16);
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%lx", v & ~0x4000ul);
        memmove(p + 7 + n, end, strlen(end) + 1);
        memcpy(p + 7, buf, (size_t)n);
    }
}

/* Every entry as `git ls-files -s --debug` prints it. */
static void check_index(const char *dir, int version, const char *label) {
    char path[600], *want, got[65536];
    size_t at = 0;
    rgit_index ix;
    snprintf(path, sizeof path, "%s/.git/index", dir);
    want = capture(dir, "git ls-files -s --debug");
    drop_extended_bit(want);
    CHECK(rgit_index_read(&ix, path) == RGIT_INDEX_OK, "%s: read", label);
    CHECK(ix.version == (uint32_t)version, "%s: version %u", label, ix.version);
    for (uint32_t i = 0; i < ix.n && at < sizeof got - 512; i++) {
        const rgit_index_entry *e = &ix.e[i];
        char id[41];
        rgit_oid_tohex(&e->id, id);
        at += (size_t)snprintf(got + at, sizeof got - at,
                               "%s%06o %s %u\t%s\n  ctime: %u:%u\n  mtime: %u:%u\n  dev: %u\tino: %u\n"
                               "  uid: %u\tgid: %u\n  size: %u\tflags: %x",
                               i ? "\n" : "", e->mode, id, rgit_entry_stage(e), rgit_entry_path(&ix, e), e->ctime_s,
                               e->ctime_ns, e->mtime_s, e->mtime_ns, e->dev, e->ino, e->uid, e->gid, e->size,
                               (unsigned)(e->flags & (RGIT_ASSUME_VALID | RGIT_STAGE_MASK)) | (unsigned)e->xflags << 16);
    }
    if (strcmp(got, want) != 0) {
        size_t i = 0, line = 0;
        while (got[i] && got[i] == want[i]) line += got[i++] == '\n';
        while (i > 0 && got[i - 1] != '\n') i--;
        CHECK(0, "%s: line %zu differs:\nrelrun: %.80s\ngit:    %.80s", label, line + 1, got + i, want + i);
    }
    free(want);
    rgit_index_free(&ix);
}

static void test_index(const char *tmp) {
    char dir[512], path[600], *tree;
    rgit_index ix;
    snprintf(dir, sizeof dir, "%s/ix", tmp);
    sh(tmp, "git init -q -b main ix");
    sh(dir, "mkdir -p a/b a-b && echo 1 > a/b/c && echo 2 > a-b/d && echo 3 > a.txt && echo 4 > z && "
            "ln -s z link && git add -A && git commit -q -m one && "
            "git update-index --assume-unchanged a.txt && git update-index --skip-worktree z && "
            "echo 5 > new && git add -N new");
    check_index(dir, 3, "version 3, extended flags"); /* skip-worktree and intent-to-add need version 3 */
    sh(dir, "git update-index --index-version 4");
    check_index(dir, 4, "version 4, prefix-compressed paths");
    sh(dir, "git update-index --no-skip-worktree z && git rm -q --cached new && git update-index --index-version 2");
    check_index(dir, 2, "version 2");
    sh(dir, "git read-tree HEAD && git status --porcelain >/dev/null"); /* a full cache-tree */
    snprintf(path, sizeof path, "%s/.git/index", dir);
    tree = capture(dir, "git rev-parse HEAD^{tree}");
    CHECK(rgit_index_read(&ix, path) == RGIT_INDEX_OK && ix.tree != NULL, "a cache-tree");
    if (ix.tree != NULL) {
        char id[41];
        rgit_oid_tohex(&ix.tree[0].id, id);
        CHECK(ix.tree[0].entries == (int32_t)ix.n && strcmp(id, tree) == 0, "its root is HEAD's tree: %s", id);
        CHECK(ix.tree[0].child != 0 && ix.tree[ix.tree[0].child].namelen > 0, "with folders below");
    }
    rgit_index_free(&ix);
    free(tree);
    write_file(dir, ".git/index", "DIRC\0\0\0\x02garbage that is no index at all");
    CHECK(rgit_index_read(&ix, path) == RGIT_INDEX_BAD, "a damaged index is refused");
    sh(dir, "rm .git/index");
    CHECK(rgit_index_read(&ix, path) == RGIT_INDEX_OK && ix.n == 0, "no index: empty");
    rgit_index_free(&ix);
}

/* The changes found, as "<path> <staged kind> <worktree kind>" lines. */
static void changes_text(rgit_repo *r, char *out, size_t size) {
    rgit_changes c;
    size_t at = 0;
    out[0] = '\0';
    CHECK(rgit_dirty(r, &c) == 0, "dirty check");
    for (size_t i = 0; i < c.n; i++)
        at += (size_t)snprintf(out + at, size - at, "%s%s %d %d", i ? "\n" : "", c.v[i].path, c.v[i].staged,
                               c.v[i].unstaged);
    rgit_changes_free(&c);
}

static void test_dirty(const char *tmp) {
    char dir[512], got[4096];
    rgit_repo r;
    snprintf(dir, sizeof dir, "%s/dirty", tmp);
    sh(tmp, "git init -q -b main dirty");
    sh(dir, "mkdir d && echo a > a && echo b > d/b && echo c > c && git add -A && git commit -q -m one");
    CHECK(rgit_repo_discover(&r, dir, NULL, NULL) == 0, "plain");
    changes_text(&r, got, sizeof got);
    CHECK(got[0] == '\0', "clean: [%s]", got);
    CHECK(!r.inited, "a clean tree: libgit2 was not needed (the cache-tree covers HEAD's tree)");
    sh(dir, "echo A > a && git add a && echo more >> a && rm d/b && echo n > n && git add n && "
            "echo u > untracked && chmod +x c");
    changes_text(&r, got, sizeof got);
    {
        char want[256];
        snprintf(want, sizeof want, "a %d %d\nc 0 %d\nd/b 0 %d\nn %d 0", RGIT_MODIFIED, RGIT_MODIFIED, RGIT_MODIFIED,
                 RGIT_DELETED, RGIT_ADDED);
        CHECK(strcmp(got, want) == 0, "changes:\n%s\nwant\n%s", got, want);
    }
    {
        char *git = capture(dir, "git status --porcelain --untracked-files=no");
        CHECK(strcmp(git, "MM a\n M c\n D d/b\nA  n") == 0, "git agrees: [%s]", git);
        free(git);
    }
    rgit_repo_close(&r);
}

int main(void) {
    const char *tmp = fixture_tmp();
    test_canon_and_racy();
    test_index(tmp);
    test_dirty(tmp);
    return finish("test_git_dirty");
}
