/*
 * Helpers for the C tests of bindings/git/: repositories built by the real
 * git CLI in a temp folder, and git's own answers read back to compare.
 * Header-only (each test is one program); not itself a test.
 */
#ifndef RELRUN_TEST_GIT_FIXTURE_H
#define RELRUN_TEST_GIT_FIXTURE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                              \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
            failures++;                                                               \
        }                                                                             \
    } while (0)

/* A fixed identity and clock, no user or system config. */
#define GIT_ENV                                                                              \
    "env -u GIT_DIR -u GIT_WORK_TREE GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null "     \
    "GIT_AUTHOR_NAME=Ann GIT_AUTHOR_EMAIL=a@example.com GIT_COMMITTER_NAME=Ann "             \
    "GIT_COMMITTER_EMAIL=a@example.com GIT_AUTHOR_DATE='1700000000 +0000' "                  \
    "GIT_COMMITTER_DATE='1700000000 +0000' "

static char fixture_dir[256];

/* A fresh temp folder for this program; removed by fixture_done. */
static inline const char *fixture_tmp(void) {
    snprintf(fixture_dir, sizeof fixture_dir, "/tmp/relrun-unit-XXXXXX");
    if (mkdtemp(fixture_dir) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
    return fixture_dir;
}

static inline void fixture_done(void) {
    char cmd[320];
    if (fixture_dir[0] == '\0') return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fixture_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", fixture_dir);
}

/* Run a shell command (in `dir`, with GIT_ENV); exit on failure. */
static inline void sh(const char *dir, const char *fmt, ...) {
    char cmd[8192];
    int n = snprintf(cmd, sizeof cmd, "cd '%s' && " GIT_ENV " sh -c '", dir);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
    va_end(ap);
    snprintf(cmd + n, sizeof cmd - (size_t)n, "' >/dev/null 2>&1");
    if (system(cmd) != 0) {
        fprintf(stderr, "fixture command failed: %s\n", cmd);
        fixture_done();
        exit(2);
    }
}

/* A shell command's output (malloc'd, final newline removed). */
static inline char *capture(const char *dir, const char *fmt, ...) {
    char cmd[8192];
    size_t len = 0, cap = 4096;
    char *out = malloc(cap);
    FILE *p;
    int n = snprintf(cmd, sizeof cmd, "cd '%s' && " GIT_ENV " sh -c '", dir);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
    va_end(ap);
    snprintf(cmd + n, sizeof cmd - (size_t)n, "' 2>/dev/null");
    if (out == NULL || (p = popen(cmd, "r")) == NULL) exit(2);
    for (;;) {
        size_t got = fread(out + len, 1, cap - len - 1, p);
        len += got;
        if (got == 0) break;
        if (len + 1 == cap && (out = realloc(out, cap *= 2)) == NULL) exit(2);
    }
    pclose(p);
    while (len > 0 && out[len - 1] == '\n') len--;
    out[len] = '\0';
    return out;
}

/* Write a file (creating nothing else). */
static inline void write_file(const char *dir, const char *name, const char *text) {
    char path[1024];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if ((f = fopen(path, "wb")) == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

static inline int finish(const char *name) {
    fixture_done();
    if (failures) fprintf(stderr, "%s: %d check(s) failed\n", name, failures);
    return failures ? 1 : 0;
}

#endif
