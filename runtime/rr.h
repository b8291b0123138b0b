/*
 * Helpers shared by the host and the bindings (bindings/NAME.c).
 *
 * Conventions (STYLE.md): an expected failure returns `nil, message, code`
 * (rr_fail); misuse raises (luaL_argcheck, luaL_error). Every binding
 * exports `int luaopen_relrun_<name>(lua_State *L)`; the build finds them
 * by file name and preloads them as `relrun.<name>`.
 */
#ifndef RR_H
#define RR_H

#include <lua.h>
#include <lauxlib.h>
#include <stddef.h>

/* Push nil, message, code; return 3. `code` may be NULL (then no third value). */
int rr_fail(lua_State *L, const char *message, const char *code);
/* Same with a printf-style message. */
int rr_failf(lua_State *L, const char *code, const char *fmt, ...);
/* nil, strerror(errno) prefixed with `what`, the errno name ("ENOENT"). */
int rr_fail_errno(lua_State *L, const char *what, int err);
/* The symbolic name of an errno value ("ENOENT"), or "E<number>". */
const char *rr_errno_name(int err);

/* Create a handle: a userdata of `size` bytes, zeroed, with metatable `tname`
 * set before anything is acquired (liolib's newprefile). */
void *rr_newhandle(lua_State *L, size_t size, const char *tname);

/* Register a metatable with methods; __index points at itself. */
void rr_newclass(lua_State *L, const char *tname, const luaL_Reg *methods);

/* Optional fields of an options table at index `t`. */
const char *rr_optfield_string(lua_State *L, int t, const char *key, const char *def);
lua_Integer rr_optfield_integer(lua_State *L, int t, const char *key, lua_Integer def);
double rr_optfield_number(lua_State *L, int t, const char *key, double def);
int rr_optfield_boolean(lua_State *L, int t, const char *key, int def);

/* Encodings (runtime/codec.c), for bytes that are not C strings. */
/* Lower-case hex of n bytes into out: 2n characters and a NUL. */
void rr_hex_encode(const void *in, size_t n, char *out);
/* The value of hex digit c (either case), or -1. */
int rr_hex_digit(int c);
/* 2n hex digits (either case) into n bytes: 0, or the 1-based position in
 * `in` of the first character that is not a hex digit. */
size_t rr_hex_decode(const char *in, size_t n, unsigned char *out);
/* Push the lower-case hex of n bytes. */
void rr_push_hex(lua_State *L, const void *in, size_t n);

/* RFC 4648 base64 (section 4's alphabet, padded): RR_BASE64_LEN(n)
 * characters into out (no NUL); returns that length. */
#define RR_BASE64_LEN(n) (((n) + 2) / 3 * 4)
size_t rr_base64_encode(const void *in, size_t n, char *out);
/* Strict base64: n a multiple of 4 (the caller checks), section 4's
 * alphabet, at most two '=' at the end, nothing else. Up to n / 4 * 3 bytes
 * into out and their count into *outlen: 0, or the 1-based position of the
 * first character that is not base64 (*outlen untouched). */
size_t rr_base64_decode(const char *in, size_t n, unsigned char *out, size_t *outlen);
/* Base64 read the way a secret scanner must: either alphabet (sections 4
 * and 5), every other character (padding, blanks) skipped, at most `cap`
 * bytes into out; returns how many. */
size_t rr_base64_decode_loose(const char *in, size_t n, unsigned char *out, size_t cap);

/* RFC 3986 percent-encoding: the unreserved characters (ALPHA DIGIT - . _ ~)
 * and those in `keep` (NULL: none; SigV4 paths keep "/") stay, every other
 * byte is %XX in upper-case hex. That is also SigV4's UriEncode. `out`
 * holds 3n bytes; returns the length written. */
size_t rr_pct_encode(const char *in, size_t n, const char *keep, char *out);
/* %XX decoded (either case); a '%' without two hex digits after it stays;
 * with plus_space, '+' is a space (form data). `out` holds n bytes; returns
 * the length written. */
size_t rr_pct_decode(const char *in, size_t n, int plus_space, char *out);
/* The same onto a luaL_Buffer, or pushed as a new string. */
void rr_add_pct_encoded(luaL_Buffer *b, const char *s, size_t n, const char *keep);
void rr_push_pct_encoded(lua_State *L, const char *s, size_t n, const char *keep);
void rr_push_pct_decoded(lua_State *L, const char *s, size_t n, int plus_space);

/* A growing byte buffer in C memory (runtime/util.c), for bytes that arrive
 * in callbacks where no Lua call may raise. Zero it to start. */
typedef struct {
    char *data;
    size_t len, cap;
} rr_buf;
/* Append n bytes: 0, or -1 without memory (b unchanged). */
int rr_buf_add(rr_buf *b, const void *p, size_t n);
void rr_buf_free(rr_buf *b);

/* Secret registry (runtime/redact.c). */
void rr_secret_add(lua_State *L, const char *s, size_t len);
/* Push `s` with every registered secret (and its URL-encoded and base64
 * forms) replaced by "***". */
void rr_mask_push(lua_State *L, const char *s, size_t len);
/* The Lua functions secret(value) and mask(s). */
int rr_lua_secret(lua_State *L);
int rr_lua_mask(lua_State *L);
/* Write `s` masked to a stream. */
void rr_mask_write(lua_State *L, FILE *f, const char *s, size_t len);
/* Whether relrun runs under GitHub Actions (GITHUB_ACTIONS=true). */
int rr_in_actions(void);
/* Append `s` escaped as workflow command data (% CR LF become %25 %0D %0A);
 * `property` escapes a property value's ':' and ',' too. */
void rr_add_command_escaped(luaL_Buffer *b, const char *s, size_t len, int property);
/* Under GitHub Actions, push `s` with every workflow command in it made
 * inert (a line starting with "::", "##[" anywhere); elsewhere `s` as is. */
void rr_inert_push(lua_State *L, const char *s, size_t len);

/* Credentials (runtime/credentials.c). Register every credential the
 * environment holds as a secret (the host does it at start). */
void rr_env_secrets_register(lua_State *L);
/* Whether a child must not inherit variable NAME (n bytes) = value by
 * default: a credential, or what fetches one (relrun.proc). */
int rr_env_scrubbed(const char *name, size_t n, const char *value);
/* environ without those, for a shell (os.execute): a malloc'd array of
 * environ's own strings, NULL-terminated; free() it; NULL without memory. */
char **rr_env_scrubbed_environ(void);
int rr_host_is_loopback(const char *host, size_t n);
/* "scheme://host:port" of `url`, lower-case, the port always written (80,
 * 443 by default); 0 when `url` has no scheme://host. */
#define RR_ORIGIN_MAX 320
int rr_origin(const char *url, char *out, size_t size);
/* NULL when `text` (a header value, a URL, a token) holds no bound
 * credential that may not go to `origin` (rr_origin's form); otherwise a
 * message, pushed on the stack, naming it and where it may go. The GitHub
 * token goes only to the GitHub server (GITHUB_SERVER_URL, GITHUB_API_URL),
 * the Actions OIDC request token to its URL, AWS_SECRET_ACCESS_KEY nowhere,
 * and what relrun.http.bind bound to its origins. */
const char *rr_bound_refusal(lua_State *L, const char *text, size_t len, const char *origin);
/* Whether `text` holds any bound credential at all. */
int rr_bound_present(lua_State *L, const char *text, size_t len);
/* bind(secret, {url, ...} [, label]) for Lua (relrun.http.bind). */
int rr_lua_bind(lua_State *L);

/* Set once by SIGINT; long-running bindings poll it and abort (curl progress
 * callbacks, libgit2 transfer callbacks, proc waits). */
int rr_interrupted(void);
/* Raise the interruption error (the host exits 130). */
int rr_raise_interrupted(lua_State *L);

#endif
