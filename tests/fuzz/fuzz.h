/*
 * The driver every tests/fuzz/fuzz_<module>.c shares.
 *
 * A harness is a Lua chunk that returns `function(data)`; it calls the
 * module under test with the fuzz input and checks the outcome with the
 * `fuzz` helpers defined below. The chunk runs in a relrun state made with
 * the embedding API (include/relrun.h), exactly as a script would.
 *
 * What counts as a bug: a crash, a sanitizer report (ASan, UBSan, LSan), a
 * function whose contract says `value | nil, message` raising or returning
 * nil without a message, or a property check in the harness failing. Any
 * of them aborts the process, so libFuzzer keeps the input and the corpus
 * runner (runner.c) fails its ctest.
 *
 * Usage, in the harness's C file:
 *     static const char HARNESS[] = "...lua... return function(data) ... end";
 *     FUZZ_HARNESS("xml", HARNESS, 0)
 * The last argument makes a fresh state every that many inputs (0: never),
 * for modules that keep something per state (the secret registry).
 */
#ifndef RELRUN_FUZZ_H
#define RELRUN_FUZZ_H

#include "relrun.h"

#include <lauxlib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Helpers the harness chunks use (a global table `fuzz`). */
static const char FUZZ_PRELUDE[] =
    "fuzz = {}\n"
    /* Out of memory is the one error any call may raise. */
    "local function oom(e) return type(e) == 'string' and e:find('not enough memory', 1, true) end\n"
    /* f(...) must give a value, or nil and a message: never raise. */
    "function fuzz.returns(what, f, ...)\n"
    "  local r = table.pack(pcall(f, ...))\n"
    "  if not r[1] then\n"
    "    if oom(r[2]) then return nil, r[2] end\n"
    "    error(what .. ' raised: ' .. tostring(r[2]), 0)\n"
    "  end\n"
    "  if r[2] == nil and (type(r[3]) ~= 'string' or r[3] == '') then\n"
    "    error(what .. ' returned nil without a message', 0)\n"
    "  end\n"
    "  return table.unpack(r, 2, r.n)\n"
    "end\n"
    /* f(...) may also raise (misuse, by contract), but with a string message. */
    "function fuzz.may_raise(what, f, ...)\n"
    "  local r = table.pack(pcall(f, ...))\n"
    "  if not r[1] then\n"
    "    if type(r[2]) ~= 'string' or r[2] == '' then\n"
    "      error(what .. ' raised a ' .. type(r[2]) .. ', not a message', 0)\n"
    "    end\n"
    "    return nil, r[2]\n"
    "  end\n"
    "  if r[2] == nil and (type(r[3]) ~= 'string' or r[3] == '') then\n"
    "    error(what .. ' returned nil without a message', 0)\n"
    "  end\n"
    "  return table.unpack(r, 2, r.n)\n"
    "end\n"
    "function fuzz.check(cond, what, ...)\n"
    "  if not cond then error(string.format(what, ...), 0) end\n"
    "end\n";

static relrun *fuzz_r;
static const char *fuzz_name, *fuzz_chunk;
static unsigned long fuzz_runs; /* inputs run by the current state */
static int fuzz_atexit;

static void fuzz_die(const char *what, const char *msg) {
    fprintf(stderr, "fuzz_%s: %s: %s\n", fuzz_name, what, msg ? msg : "(no message)");
    abort();
}

static void fuzz_close(void) {
    relrun_close(fuzz_r);
    fuzz_r = NULL;
}

/* A new state with the prelude and the harness function in the registry. */
static void fuzz_open(void) {
    lua_State *L;
    fuzz_r = relrun_new();
    if (fuzz_r == NULL) fuzz_die("relrun_new", "out of memory");
    if (relrun_run_string(fuzz_r, FUZZ_PRELUDE, "=fuzz.h") != RELRUN_OK)
        fuzz_die("prelude", relrun_error(fuzz_r));
    L = relrun_lua(fuzz_r);
    if (luaL_loadbuffer(L, fuzz_chunk, strlen(fuzz_chunk), fuzz_name) != LUA_OK ||
        lua_pcall(L, 0, 1, 0) != LUA_OK)
        fuzz_die("harness", lua_tostring(L, -1));
    if (lua_type(L, -1) != LUA_TFUNCTION) fuzz_die("harness", "the chunk must return a function");
    lua_setfield(L, LUA_REGISTRYINDEX, "relrun.fuzz.harness");
}

static int fuzz_one(const uint8_t *data, size_t size, unsigned long reset_every) {
    lua_State *L;
    if (reset_every > 0 && fuzz_runs == reset_every) {
        fuzz_close();
        fuzz_runs = 0;
    }
    if (fuzz_r == NULL) {
        if (!fuzz_atexit) atexit(fuzz_close);
        fuzz_atexit = 1;
        fuzz_open();
    }
    fuzz_runs++;
    L = relrun_lua(fuzz_r);
    lua_settop(L, 0);
    lua_getfield(L, LUA_REGISTRYINDEX, "relrun.fuzz.harness");
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) fuzz_die("check failed", lua_tostring(L, -1));
    return 0;
}

#define FUZZ_HARNESS(NAME, CHUNK, RESET_EVERY)                              \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);          \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {         \
        fuzz_name = NAME;                                                  \
        fuzz_chunk = CHUNK;                                                \
        return fuzz_one(data, size, RESET_EVERY);                          \
    }

#endif
