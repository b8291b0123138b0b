/*
 * The relrun program: lua(1)'s command line where the two overlap.
 *
 *   relrun [options] [script [args]]
 *
 * Exit codes: 0 done, 1 failed, 2 usage, 130 interrupted; a script may exit
 * with its own (doctor: 3) by returning it from its main chunk.
 */
#include "relrun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *progname = "relrun";

static void print_usage(FILE *f) {
    fprintf(f,
            "usage: %s [options] [script [args]]\n"
            "Run a Lua 5.4 script with relrun's modules (git, http, sigv4, hash, ...).\n"
            "A script is a path (scripts/release.lua) or a name: release, doctor, version,\n"
            "verify, rollback, watch, setup, login, audit, maintain run the project's\n"
            ".relrun-scripts/NAME.lua if it has one, else the one built into relrun.\n"
            "Options:\n"
            "  -e CODE        run CODE\n"
            "  -l [G=]MODULE  require MODULE into global G (default: its last name part)\n"
            "  -v, --version  print the version\n"
            "  -h, --help     print this help\n"
            "  --debug        add tracebacks to errors (also RELRUN_DEBUG=1)\n"
            "  --locked       refuse to run unless relrun.lock matches this relrun and the\n"
            "                 project's Lua files (what CI runs)\n"
            "  --             stop handling options\n"
            "  -              run standard input\n"
            "Commands:\n"
            "  relrun init ...           set up a package's repository: settings, pinned workflow, lock\n"
            "  relrun vendor [NAME...]   copy built-in scripts or libraries into .relrun-scripts/ to edit\n"
            "  relrun lock [--check]     record relrun's version and the project's Lua files in relrun.lock\n"
            "  relrun workflow ...       print the release workflow for .github/workflows/\n"
            "Modules are found in the script's lib/ folder, then RELRUN_PATH, then inside relrun.\n",
            progname);
}

static int report(relrun *r, int status) {
    fflush(stdout); /* in a pipe, what the script printed comes before the error */
    if (status != RELRUN_OK && relrun_error(r) != NULL) {
        if (status == RELRUN_INTERRUPTED)
            fprintf(stderr, "%s: interrupted\n", progname);
        else
            fprintf(stderr, "%s: %s\n", progname, relrun_error(r));
        fflush(stderr);
    }
    return status;
}

/* -l [G=]MODULE */
static int require_module(relrun *r, const char *spec) {
    const char *eq = strchr(spec, '=');
    const char *mod = eq ? eq + 1 : spec;
    const char *glob = spec;
    size_t glen;
    char code[512];
    if (eq == NULL) {
        const char *dot = strrchr(spec, '.');
        glob = dot ? dot + 1 : spec;
        glen = strlen(glob);
    } else {
        glen = (size_t)(eq - spec);
    }
    if (snprintf(code, sizeof code, "%.*s = require(%s%s%s)", (int)glen, glob, "[==[", mod, "]==]") >=
        (int)sizeof code) {
        fprintf(stderr, "%s: module name too long: %s\n", progname, mod);
        return RELRUN_USAGE;
    }
    return relrun_run_string(r, code, "=(command line)");
}

static int usage_error(const char *fmt, const char *what) {
    fprintf(stderr, "%s: ", progname);
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n");
    print_usage(stderr);
    return RELRUN_USAGE;
}

/* First pass: find the script index and check options; -1 if none. */
static int scan_args(int argc, char **argv, int *script, int *debug, int *locked, int *ran_code) {
    *script = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            if (i + 1 < argc) *script = i + 1;
            return 0;
        }
        if (a[0] != '-' || strcmp(a, "-") == 0) {
            *script = i;
            return 0;
        }
        if (strcmp(a, "--debug") == 0) *debug = 1;
        else if (strcmp(a, "--locked") == 0) *locked = 1;
        else if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) {}
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {}
        else if (strcmp(a, "-e") == 0 || strcmp(a, "-l") == 0) {
            if (i + 1 >= argc) return usage_error("'%s' needs an argument", a);
            *ran_code = 1; /* -e and -l are work to do without a script */
            i++;
        } else if (strncmp(a, "-e", 2) == 0 || strncmp(a, "-l", 2) == 0) {
            *ran_code = 1; /* -e and -l are work to do without a script */
        } else {
            return usage_error("unrecognized option '%s'", a);
        }
    }
    return 0;
}

/* Second pass: run -e and -l in order. */
static int run_options(relrun *r, int argc, char **argv, int script) {
    int end = script < 0 ? argc : script;
    for (int i = 1; i < end; i++) {
        const char *a = argv[i];
        int status = RELRUN_OK;
        if (strcmp(a, "--") == 0) break;
        if (a[0] == '-' && (a[1] == 'e' || a[1] == 'l')) {
            const char *val = a[2] ? a + 2 : argv[++i];
            status = a[1] == 'e' ? relrun_run_string(r, val, "=(command line)") : require_module(r, val);
        }
        if (status != RELRUN_OK) return status;
    }
    return RELRUN_OK;
}

/* arg as lua.c makes it: arg[0] the script, the interpreter and its options
 * at negative indices (relrun_run_file keeps them), the script's arguments
 * from 1; without a script, arg[0] is the program. -e code sees it too. */
static void set_arg_table(relrun *r, int argc, char **argv, int script) {
    lua_State *L = relrun_lua(r);
    lua_createtable(L, argc - script, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

/* A script given by name ("release", "lock") rather than by path: no
 * slash, no .lua ending, not "-". */
static int is_script_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || strcmp(s, "-") == 0 || strchr(s, '/') != NULL) return 0;
    return !(n >= 4 && strcmp(s + n - 4, ".lua") == 0);
}

int main(int argc, char **argv) {
    int script, debug = 0, locked = 0, ran_code = 0, status;
    const char *env_debug = getenv("RELRUN_DEBUG");
    relrun *r;

    status = scan_args(argc, argv, &script, &debug, &locked, &ran_code);
    if (status != 0) return status;
    for (int i = 1; i < (script < 0 ? argc : script); i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            print_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--version") == 0) {
            printf("relrun %s (%s)\n", RELRUN_VERSION, LUA_RELEASE);
            return 0;
        }
    }
    if (script < 0 && !ran_code) {
        print_usage(stderr);
        return RELRUN_USAGE;
    }
    if (env_debug != NULL && strcmp(env_debug, "") != 0 && strcmp(env_debug, "0") != 0) debug = 1;

    r = relrun_new();
    if (r == NULL) {
        fprintf(stderr, "%s: cannot create the Lua state: not enough memory\n", progname);
        return RELRUN_ERROR;
    }
    relrun_set_debug(r, debug);
    relrun_set_locked(r, locked);
    set_arg_table(r, argc, argv, script < 0 ? 0 : script);
    status = report(r, run_options(r, argc, argv, script));
    if (status == RELRUN_OK && script >= 0) {
        if (is_script_name(argv[script]))
            status = report(r, relrun_run_script(r, argv[script], argc - script, argv + script));
        else
            status = report(r, relrun_run_file(r, argv[script], argc - script, argv + script));
    }
    relrun_close(r);
    return status;
}
