/*
 * relrun.log: what a release prints. Levels, JSON lines, the secret registry
 * (runtime/redact.c) as seen from Lua, and the GitHub Actions workflow
 * commands: ::add-mask::, annotations, groups, $GITHUB_OUTPUT and
 * $GITHUB_STEP_SUMMARY. Everything written here is masked first.
 *
 * Workflow command syntax and escaping: GitHub's "Workflow commands for
 * GitHub Actions" page (FIELD-NOTES.md); the file commands' parsing follows
 * the runner's SetOutputFileCommandExtension (one line per entry, a heredoc
 * `name<<DELIM` ... `DELIM` for multi-line values).
 */
#include "rr.h"

#include <errno.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define STATE_TYPE "relrun.log.state"
#define SUMMARY_CAP (1024 * 1024) /* GitHub refuses a bigger step summary */

enum { L_QUIET, L_INFO, L_VERBOSE, L_DEBUG };
static const char *const level_names[] = {"quiet", "info", "verbose", "debug", NULL};

/* Shared by every function as upvalue 1. */
typedef struct {
    int level;
    int json;
    int groups;          /* open groups */
    int summary_warned;  /* the 1 MiB warning is given once */
} LogState;

static LogState *state(lua_State *L) { return lua_touserdata(L, lua_upvalueindex(1)); }


/* ---- escaping ------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (RFC 3629), 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t left) {
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t n;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0;
    if (left < n || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return n;
}

/* A JSON string literal; bytes that are not UTF-8 become U+FFFD so every
 * line stays valid JSON. */
static void add_json_string(luaL_Buffer *b, const char *s, size_t len) {
    luaL_addchar(b, '"');
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t n;
        if (c == '"' || c == '\\') {
            luaL_addchar(b, '\\');
            luaL_addchar(b, (char)c);
        } else if (c == '\n') luaL_addstring(b, "\\n");
        else if (c == '\r') luaL_addstring(b, "\\r");
        else if (c == '\t') luaL_addstring(b, "\\t");
        else if (c < 0x20) {
            char hex[3];
            rr_hex_encode(&c, 1, hex);
            luaL_addstring(b, "\\u00");
            luaL_addstring(b, hex);
        } else if ((n = utf8_len((const unsigned char *)s + i, len - i)) == 0) {
            luaL_addstring(b, "\\ufffd");
        } else {
            luaL_addlstring(b, s + i, n);
            i += n;
            continue;
        }
        i++;
    }
    luaL_addchar(b, '"');
}

/* ---- writing -------------------------------------------------------- */

/* Write a finished line to f; stdout is flushed first so the two streams
 * keep their order on a terminal or a CI log. */
static void emit(FILE *f, const char *s, size_t len) {
    fflush(stdout);
    fwrite(s, 1, len, f);
    fflush(f);
}

/* [..., masked line] -> [...] written to f */
static void emit_top(lua_State *L, FILE *f) {
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    emit(f, s, len);
    lua_pop(L, 1);
}

/* "2026-01-02T03:04:05.678Z", quoted for JSON */
static void push_time(lua_State *L) {
    struct timespec ts;
    struct tm tm;
    char buf[40], out[48];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, sizeof out, "\"%s.%03dZ\"", buf, (int)(ts.tv_nsec / 1000000));
    lua_pushstring(L, out);
}

/* One log line to stderr: `prefix msg` or a JSON object. msg is masked
 * here, and under Actions made inert (rr_inert_push). */
static void write_line(lua_State *L, const char *level, const char *prefix, const char *msg, size_t len) {
    luaL_Buffer b;
    size_t mlen;
    const char *masked;
    rr_mask_push(L, msg, len);
    rr_inert_push(L, lua_tostring(L, -1), lua_rawlen(L, -1));   /* no workflow command hides in it */
    lua_remove(L, -2);
    masked = lua_tolstring(L, -1, &mlen);
    luaL_buffinit(L, &b);
    if (state(L)->json) {
        luaL_addstring(&b, "{\"level\":");
        add_json_string(&b, level, strlen(level));
        luaL_addstring(&b, ",\"msg\":");
        add_json_string(&b, masked, mlen);
        luaL_addstring(&b, ",\"time\":");
        push_time(L);
        luaL_addvalue(&b);
        luaL_addstring(&b, "}\n");
    } else {
        luaL_addstring(&b, prefix);
        luaL_addlstring(&b, masked, mlen);
        luaL_addchar(&b, '\n');
    }
    luaL_pushresult(&b);
    emit_top(L, stderr);
    lua_pop(L, 1);
}

/* (fmt, ...) -> the formatted message on top: string.format when there are
 * arguments, tostring of a single value otherwise. */
static const char *format_args(lua_State *L, size_t *len) {
    int n = lua_gettop(L);
    if (n == 0) lua_pushliteral(L, "");
    if (n <= 1) return luaL_tolstring(L, 1, len);
    luaL_checkstring(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, LUA_STRLIBNAME);
    lua_getfield(L, -1, "format");
    lua_replace(L, -3);
    lua_pop(L, 1);
    for (int i = 1; i <= n; i++) lua_pushvalue(L, i);
    lua_call(L, n, 1);
    return lua_tolstring(L, -1, len);
}

static int log_at(lua_State *L, int min, const char *level, const char *prefix) {
    size_t len;
    const char *msg;
    if (state(L)->level < min) return 0;
    msg = format_args(L, &len);
    write_line(L, level, prefix, msg, len);
    return 0;
}

static int log_error(lua_State *L) { return log_at(L, L_QUIET, "error", "error: "); }
static int log_warn(lua_State *L) { return log_at(L, L_INFO, "warning", "warning: "); }
static int log_info(lua_State *L) { return log_at(L, L_INFO, "info", ""); }
static int log_verbose(lua_State *L) { return log_at(L, L_VERBOSE, "verbose", ""); }
static int log_debug(lua_State *L) { return log_at(L, L_DEBUG, "debug", "debug: "); }

static int log_set_level(lua_State *L) {
    state(L)->level = luaL_checkoption(L, 1, NULL, level_names);
    return 0;
}

static int log_level(lua_State *L) {
    lua_pushstring(L, level_names[state(L)->level]);
    return 1;
}

static int log_set_json(lua_State *L) {
    luaL_checkany(L, 1);
    state(L)->json = lua_toboolean(L, 1);
    return 0;
}

static int log_actions(lua_State *L) {
    lua_pushboolean(L, rr_in_actions());
    return 1;
}


/* ---- annotations and groups ---------------------------------------- */

/* [opts] property `key=value` of a workflow command, masked and escaped. */
static void add_property(lua_State *L, luaL_Buffer *b, int *first, const char *key, const char *field) {
    size_t len;
    const char *v;
    if (lua_getfield(L, 1, field) == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_isstring(L, -1)) luaL_error(L, "annotate: '%s' must be a string or a number", field);
    v = lua_tolstring(L, -1, &len);
    rr_mask_push(L, v, len);
    v = lua_tolstring(L, -1, &len);
    luaL_addstring(b, *first ? " " : ",");
    *first = 0;
    luaL_addstring(b, key);
    luaL_addchar(b, '=');
    rr_add_command_escaped(b, v, len, 1);
    lua_pop(L, 2);
}

/* [opts, message] -> [opts, message, "::level props::msg\n"] */
static void push_annotation_command(lua_State *L, const char *level) {
    luaL_Buffer b;
    int first = 1;
    size_t len;
    const char *msg;
    rr_mask_push(L, lua_tostring(L, 2), lua_rawlen(L, 2));
    lua_replace(L, 2);
    msg = lua_tolstring(L, 2, &len);
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "::");
    luaL_addstring(&b, level);
    add_property(L, &b, &first, "file", "file");
    add_property(L, &b, &first, "line", "line");
    add_property(L, &b, &first, "endLine", "end_line");
    add_property(L, &b, &first, "col", "col");
    add_property(L, &b, &first, "endColumn", "end_col");
    add_property(L, &b, &first, "title", "title");
    luaL_addstring(&b, "::");
    rr_add_command_escaped(&b, msg, len, 0);
    luaL_addchar(&b, '\n');
    luaL_pushresult(&b);
}

/* Outside Actions: "file:line: warning: title: message", like a compiler. */
static void push_annotation_plain(lua_State *L, const char *level) {
    static const char *const fields[] = {"file", "line", "title"};
    luaL_Buffer b;
    for (int i = 0; i < 3; i++) {
        int t = lua_getfield(L, 1, fields[i]);
        if (t != LUA_TNIL && !lua_isstring(L, -1))
            luaL_error(L, "annotate: '%s' must be a string or a number", fields[i]);
        lua_pop(L, 1);
    }
    luaL_buffinit(L, &b);
    if (lua_getfield(L, 1, "file") != LUA_TNIL) {
        luaL_addvalue(&b);
        if (lua_getfield(L, 1, "line") != LUA_TNIL) {
            luaL_addchar(&b, ':');
            luaL_addvalue(&b);
        } else lua_pop(L, 1);
        luaL_addstring(&b, ": ");
    } else lua_pop(L, 1);
    luaL_addstring(&b, level);
    luaL_addstring(&b, ": ");
    if (lua_getfield(L, 1, "title") != LUA_TNIL) {
        luaL_addvalue(&b);
        luaL_addstring(&b, ": ");
    } else lua_pop(L, 1);
    lua_pushvalue(L, 2);
    luaL_addvalue(&b);
    luaL_pushresult(&b);
}

/* annotate{level = "error"|"warning"|"notice", message, file, line, title,
 * end_line, col, end_col} */
static int log_annotate(lua_State *L) {
    static const char *const levels[] = {"error", "warning", "notice", NULL};
    int lv;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_getfield(L, 1, "level");
    lv = luaL_checkoption(L, -1, "notice", levels);
    lua_pop(L, 1);
    if (lua_getfield(L, 1, "message") != LUA_TSTRING) luaL_error(L, "annotate: 'message' must be a string");
    if (rr_in_actions()) {
        push_annotation_command(L, levels[lv]);
        emit_top(L, stdout);
    } else if (lv == 0 || state(L)->level >= L_INFO) {
        size_t len;
        const char *s;
        push_annotation_plain(L, levels[lv]);
        s = lua_tolstring(L, -1, &len);
        write_line(L, levels[lv], "", s, len);
    }
    return 0;
}

static int log_group_start(lua_State *L) {
    size_t len;
    const char *title = luaL_checklstring(L, 1, &len);
    state(L)->groups++;
    if (rr_in_actions()) {
        luaL_Buffer b;
        rr_mask_push(L, title, len);
        title = lua_tolstring(L, -1, &len);
        luaL_buffinit(L, &b);
        luaL_addstring(&b, "::group::");
        rr_add_command_escaped(&b, title, len, 0);
        luaL_addchar(&b, '\n');
        luaL_pushresult(&b);
        emit_top(L, stdout);
    } else if (state(L)->level >= L_INFO) {
        write_line(L, "info", "== ", title, len);
    }
    return 0;
}

static int log_group_end(lua_State *L) {
    LogState *st = state(L);
    if (st->groups == 0) return luaL_error(L, "group_end: no group is open");
    st->groups--;
    if (rr_in_actions()) emit(stdout, "::endgroup::\n", 13);
    return 0;
}

/* The to-be-closed guard of group(): its __close ends the group on return
 * and on error alike. */
static int group_guard_close(lua_State *L) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, log_group_end, 1);
    lua_call(L, 0, 0);
    return 0;
}

/* After fn returned (maybe across a yield): its results are above `base`. */
static int group_done(lua_State *L, int status, lua_KContext base) {
    (void)status;
    return lua_gettop(L) - (int)base;
}

/* group(title, fn, ...) -> fn's results. The group is closed through a
 * to-be-closed slot rather than pcall + rethrow: the error travels
 * unchanged (an interruption stays one) and --debug keeps the traceback of
 * where it was raised. fn may yield (a coroutine step inside a group). */
static int log_group(lua_State *L) {
    int base;
    luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, log_group_start, 1);
    lua_insert(L, -2);
    lua_call(L, 1, 0);
    lua_newtable(L); /* guard */
    lua_newtable(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, group_guard_close, 1);
    lua_setfield(L, -2, "__close");
    lua_setmetatable(L, -2);
    lua_toclose(L, -1);
    base = lua_gettop(L);
    lua_pushvalue(L, 2);
    for (int i = 3; i < base; i++) lua_pushvalue(L, i);
    lua_callk(L, base - 3, LUA_MULTRET, base, group_done); /* fn may yield */
    return group_done(L, LUA_OK, base);
}

/* ---- file commands -------------------------------------------------- */

/* Append s to the file at path: 1 written, -1 with errno set. */
static int append_file(const char *path, const char *s, size_t len) {
    FILE *f = fopen(path, "a");
    int ok;
    if (f == NULL) return -1;
    ok = fwrite(s, 1, len, f) == len;
    if (fclose(f) != 0) ok = 0;
    return ok ? 1 : -1;
}

static int valid_output_name(const char *s) {
    if (*s == '\0') return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* A fresh heredoc delimiter from /dev/urandom: "ghadelimiter_<32 hex>". */
static int push_delimiter(lua_State *L) {
    unsigned char raw[16];
    char out[sizeof raw * 2 + 1];
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f ? fread(raw, 1, sizeof raw, f) : 0;
    if (f) fclose(f);
    if (got != sizeof raw) return 0;
    rr_hex_encode(raw, sizeof raw, out);
    lua_pushliteral(L, "ghadelimiter_");
    lua_pushstring(L, out);
    lua_concat(L, 2);
    return 1;
}

/* output(name, value) -> true, false without $GITHUB_OUTPUT, or nil, msg, code */
static int log_output(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    const char *path = getenv("GITHUB_OUTPUT");
    size_t len;
    const char *value = luaL_checklstring(L, 2, &len);
    luaL_argcheck(L, valid_output_name(name), 1, "an output name is letters, digits, '_' and '-'");
    if (path == NULL || *path == '\0') {
        lua_pushboolean(L, 0);
        return 1;
    }
    rr_mask_push(L, value, len);
    value = lua_tolstring(L, -1, &len);
    if (memchr(value, '\r', len) != NULL)
        return rr_fail(L, "output value has a carriage return, which GitHub outputs cannot carry", "EINVAL");
    if (memchr(value, '\n', len) == NULL) {
        lua_pushfstring(L, "%s=", name);
        lua_pushvalue(L, -2);
        lua_pushliteral(L, "\n");
        lua_concat(L, 3);
    } else {
        if (!push_delimiter(L)) return rr_fail(L, "cannot read /dev/urandom for an output delimiter", "EIO");
        if (strstr(value, lua_tostring(L, -1)) != NULL)
            return rr_fail(L, "output value contains its heredoc delimiter; try again", "EINVAL");
        /* [masked, delim] -> [masked, delim, "name<<delim\nvalue\ndelim\n"] */
        lua_pushfstring(L, "%s<<%s\n", name, lua_tostring(L, -1));
        lua_pushvalue(L, -3);
        lua_pushliteral(L, "\n");
        lua_pushvalue(L, -4);
        lua_pushliteral(L, "\n");
        lua_concat(L, 5);
    }
    value = lua_tolstring(L, -1, &len);
    if (append_file(path, value, len) < 0) return rr_fail_errno(L, "cannot write $GITHUB_OUTPUT", errno);
    lua_pushboolean(L, 1);
    return 1;
}

/* How much of s[0..len) fits in `room` bytes, cut after a newline when
 * there is one, never inside a UTF-8 sequence. */
static size_t fit(const char *s, size_t len, size_t room) {
    size_t n = len < room ? len : room;
    const char *nl;
    if (n == len) return n;
    for (nl = s + n; nl > s && nl[-1] != '\n'; nl--) {}
    if (nl > s) return (size_t)(nl - s);
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    return n;
}

/* summary(markdown) -> true, false without $GITHUB_STEP_SUMMARY, or nil, msg, code
 * (also when the 1 MiB cap cut the text; a warning says so once). */
static int log_summary(lua_State *L) {
    static const char note[] = "\n\n> relrun: step summary cut at 1 MiB (GitHub's limit)\n";
    const char *path = getenv("GITHUB_STEP_SUMMARY");
    size_t len, have = 0, room, n;
    const char *md = luaL_checklstring(L, 1, &len);
    struct stat st;
    if (path == NULL || *path == '\0') {
        lua_pushboolean(L, 0);
        return 1;
    }
    rr_mask_push(L, md, len);
    md = lua_tolstring(L, -1, &len);
    if (stat(path, &st) == 0) have = (size_t)st.st_size;
    room = have + sizeof note - 1 < SUMMARY_CAP ? SUMMARY_CAP - have - (sizeof note - 1) : 0;
    n = state(L)->summary_warned ? 0 : fit(md, len, room);
    if (n > 0 && append_file(path, md, n) < 0) return rr_fail_errno(L, "cannot write $GITHUB_STEP_SUMMARY", errno);
    if (n == len) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (!state(L)->summary_warned) {
        state(L)->summary_warned = 1;
        append_file(path, note, sizeof note - 1);
        lua_pushfstring(L, "step summary is capped at 1 MiB; %d bytes left out (write less, or attach a file)",
                        (int)(len - n));
        write_line(L, "warning", "warning: ", lua_tostring(L, -1), lua_rawlen(L, -1));
        lua_pop(L, 1);
    }
    return rr_failf(L, "EFBIG", "step summary is full (1 MiB): %d bytes left out", (int)(len - n));
}

/* ---- module --------------------------------------------------------- */

static int initial_level(void) {
    const char *env = getenv("RELRUN_LOG");
    if (env == NULL || *env == '\0') return L_INFO;
    for (int i = 0; level_names[i]; i++)
        if (strcmp(env, level_names[i]) == 0) return i;
    fprintf(stderr, "warning: RELRUN_LOG=%s is not a level (quiet, info, verbose, debug); using info\n", env);
    return L_INFO;
}

int luaopen_relrun_log(lua_State *L) {
    static const luaL_Reg funcs[] = {
        {"secret", rr_lua_secret},       {"mask", rr_lua_mask},
        {"set_level", log_set_level}, {"level", log_level},
        {"set_json", log_set_json},   {"error", log_error},
        {"warn", log_warn},           {"info", log_info},
        {"verbose", log_verbose},     {"debug", log_debug},
        {"annotate", log_annotate},   {"group", log_group},
        {"group_start", log_group_start}, {"group_end", log_group_end},
        {"output", log_output},       {"summary", log_summary},
        {"actions", log_actions},     {NULL, NULL},
    };
    LogState *st;
    luaL_newlibtable(L, funcs);
    st = lua_newuserdatauv(L, sizeof *st, 0);
    memset(st, 0, sizeof *st);
    st->level = initial_level();
    luaL_setfuncs(L, funcs, 1);
    return 1;
}
