/*
 * A host program that embeds relrun through include/relrun.h alone: states,
 * strings, files with arguments, errors read back (masked), debug
 * tracebacks, exit codes from error tables and from what a script returns,
 * scripts by name and --locked, close. Run under ASan too.
 */
#include "relrun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures = 0;

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                 \
            fputc('\n', stderr);                                          \
            failures++;                                                   \
        }                                                                 \
    } while (0)

static const char *err_or_null(relrun *r) {
    return relrun_error(r) ? relrun_error(r) : "(null)";
}

static int starts_with(const char *s, const char *prefix) {
    return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The global `name` of r's state as a string (copied to buf). */
static const char *global_string(relrun *r, const char *name, char *buf, size_t size) {
    lua_State *L = relrun_lua(r);
    const char *s;
    lua_getglobal(L, name);
    s = lua_tostring(L, -1);
    snprintf(buf, size, "%s", s ? s : "(nil)");
    lua_pop(L, 1);
    return buf;
}

static void test_strings(void) {
    relrun *r = relrun_new();
    char buf[256];
    CHECK(r != NULL, "relrun_new");
    CHECK(relrun_run_string(r, "x = tostring(1 + 1) .. require('relrun.util').trim('  y ')", "=(embed)") == RELRUN_OK,
          "%s", err_or_null(r));
    CHECK(relrun_error(r) == NULL, "no error after success: %s", err_or_null(r));
    CHECK(strcmp(global_string(r, "x", buf, sizeof buf), "2y") == 0, "x = %s", buf);

    CHECK(relrun_run_string(r, "x = = 1", "=(embed)") == RELRUN_ERROR, "syntax error");
    CHECK(strcmp(err_or_null(r), "(embed):1: unexpected symbol near '='") == 0, "%s", err_or_null(r));

    CHECK(relrun_run_string(r, "local t\nreturn t.x", "=(embed)") == RELRUN_ERROR, "runtime error");
    CHECK(strcmp(err_or_null(r), "(embed):2: attempt to index a nil value (local 't')") == 0, "%s",
          err_or_null(r));

    CHECK(relrun_run_string(r, "error({ message = 'checks failed', exit = 3 })", NULL) == 3, "exit code");
    CHECK(strcmp(err_or_null(r), "checks failed") == 0, "%s", err_or_null(r));

    /* the state survives its errors */
    CHECK(relrun_run_string(r, "x = 'still here'", NULL) == RELRUN_OK, "%s", err_or_null(r));
    CHECK(relrun_error(r) == NULL, "error cleared");
    relrun_close(r);
}

static void test_secret_masked(void) {
    relrun *r = relrun_new();
    CHECK(relrun_run_string(r, "require('relrun.host').secret('embed-secret-42')", NULL) == RELRUN_OK, "%s",
          err_or_null(r));
    CHECK(relrun_run_string(r, "error('token embed-secret-42 refused')", "=(embed)") == RELRUN_ERROR, "error");
    CHECK(strcmp(err_or_null(r), "(embed):1: token *** refused") == 0, "%s", err_or_null(r));
    CHECK(relrun_run_string(r, "error({ message = 'table embed-secret-42', exit = 4 })", NULL) == 4, "table");
    CHECK(strcmp(err_or_null(r), "table ***") == 0, "%s", err_or_null(r));
    relrun_close(r);
}

static void test_debug(void) {
    relrun *r = relrun_new();
    relrun_set_debug(r, 1);
    CHECK(relrun_run_string(r, "local function f() error('deep') end\nf()", "=(embed)") == RELRUN_ERROR, "err");
    CHECK(starts_with(relrun_error(r), "(embed):1: deep\nstack traceback:\n"), "%s", err_or_null(r));
    CHECK(strstr(err_or_null(r), "(embed):2: in main chunk") != NULL, "%s", err_or_null(r));
    CHECK(relrun_run_string(r, "assert(require('relrun.host').debug() == true)", NULL) == RELRUN_OK, "%s",
          err_or_null(r));
    relrun_close(r);
}

static void test_file(void) {
    char dir[] = "/tmp/relrun-embed-XXXXXX";
    char path[256], buf[512];
    char *argv[3];
    relrun *r;
    FILE *f;
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/script.lua", dir);
    f = fopen(path, "w");
    CHECK(f != NULL, "open %s", path);
    if (f == NULL) return;
    fputs("result = table.concat({...}, ',') .. '|' .. arg[0]:match('[^/]*$') .. '|' .. #arg\n"
          "if ... == 'fail' then error('asked to') end\n", f);
    fclose(f);

    r = relrun_new();
    argv[0] = path;
    argv[1] = "a b";
    argv[2] = "c";
    CHECK(relrun_run_file(r, path, 3, argv) == RELRUN_OK, "%s", err_or_null(r));
    CHECK(strcmp(global_string(r, "result", buf, sizeof buf), "a b,c|script.lua|2") == 0, "result = %s", buf);

    argv[1] = "fail";
    CHECK(relrun_run_file(r, path, 2, argv) == RELRUN_ERROR, "script error");
    snprintf(buf, sizeof buf, "%s:2: asked to", path);
    CHECK(strcmp(err_or_null(r), buf) == 0, "%s", err_or_null(r));

    snprintf(path, sizeof path, "%s/missing.lua", dir);
    CHECK(relrun_run_file(r, path, 1, argv) == RELRUN_ERROR, "missing file");
    CHECK(starts_with(relrun_error(r), "cannot open "), "%s", err_or_null(r));
    relrun_close(r);

    snprintf(path, sizeof path, "%s/script.lua", dir);
    unlink(path);
    rmdir(dir);
}

/* A main chunk's return value is the status relrun_run_file returns: the
 * host program decides what to do with it (no os.exit ends it). */
static void test_exit_status(void) {
    char dir[] = "/tmp/relrun-embed-XXXXXX";
    char path[256];
    char *argv[2];
    relrun *r;
    FILE *f;
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/status.lua", dir);
    f = fopen(path, "w");
    CHECK(f != NULL, "open %s", path);
    if (f == NULL) return;
    fputs("local v = ...\n"
          "if v == 'true' then return true elseif v == 'false' then return false\n"
          "elseif v == 'none' then return end\n"
          "return tonumber(v)\n", f);
    fclose(f);

    r = relrun_new();
    argv[0] = path;
    argv[1] = "3";
    CHECK(relrun_run_file(r, path, 2, argv) == 3, "return 3");
    CHECK(relrun_error(r) == NULL, "a returned status is no error: %s", err_or_null(r));
    argv[1] = "0";
    CHECK(relrun_run_file(r, path, 2, argv) == RELRUN_OK, "return 0: %s", err_or_null(r));
    argv[1] = "true";
    CHECK(relrun_run_file(r, path, 2, argv) == RELRUN_OK, "return true: %s", err_or_null(r));
    argv[1] = "false";
    CHECK(relrun_run_file(r, path, 2, argv) == 1 && relrun_error(r) == NULL, "return false: %s", err_or_null(r));
    argv[1] = "none";
    CHECK(relrun_run_file(r, path, 2, argv) == RELRUN_OK, "return: %s", err_or_null(r));
    argv[1] = "1000";
    CHECK(relrun_run_file(r, path, 2, argv) == RELRUN_ERROR, "out of range");
    CHECK(starts_with(relrun_error(r), "the script returned 1000: an exit code is an integer from 0 to 255"), "%s",
          err_or_null(r));
    /* the program goes on after every one of them */
    CHECK(relrun_run_string(r, "x = 'after'", NULL) == RELRUN_OK, "%s", err_or_null(r));
    relrun_close(r);
    unlink(path);
    rmdir(dir);
}

/* A built-in script by name; --locked outside a project with relrun.lock
 * refuses before the script runs. */
static void test_run_script(void) {
    char *argv[] = {"version", "--help"};
    char cwd[4096], dir[] = "/tmp/relrun-embed-XXXXXX";
    relrun *r = relrun_new();
    int status;
    CHECK(getcwd(cwd, sizeof cwd) != NULL && mkdtemp(dir) != NULL && chdir(dir) == 0, "chdir");
    status = relrun_run_script(r, "no-such-script", 1, argv);
    CHECK(status == RELRUN_USAGE, "unknown name: %d", status);
    CHECK(starts_with(relrun_error(r), "no script named 'no-such-script'"), "%s", err_or_null(r));
    relrun_set_locked(r, 1);
    status = relrun_run_script(r, "version", 2, argv);
    CHECK(status == RELRUN_ERROR, "locked without relrun.lock: %d", status);
    CHECK(starts_with(relrun_error(r), "--locked: no relrun.lock in "), "%s", err_or_null(r));
    relrun_close(r);
    CHECK(chdir(cwd) == 0 && rmdir(dir) == 0, "back");
}

static void test_two_states(void) {
    relrun *a = relrun_new(), *b = relrun_new();
    CHECK(a != NULL && b != NULL, "two states");
    CHECK(relrun_run_string(a, "v = 'a'", NULL) == RELRUN_OK, "%s", err_or_null(a));
    relrun_close(a);
    CHECK(relrun_run_string(b, "assert(v == nil)", NULL) == RELRUN_OK, "%s", err_or_null(b));
    relrun_close(b);
    relrun_close(NULL);
}

int main(void) {
    test_strings();
    test_secret_masked();
    test_debug();
    test_file();
    test_exit_status();
    test_run_script();
    test_two_states();
    if (failures) fprintf(stderr, "%d checks failed\n", failures);
    else printf("test_embed: all checks passed\n");
    return failures ? 1 : 0;
}
