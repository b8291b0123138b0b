/*
 * relrun.archive: read and write the archives Python packaging uses (wheels
 * are zip files, sdists are tar.gz) over libarchive.
 *
 *   list(path)                     -> { {name, size, type, mode, mtime, link}, ... }
 *   read(path, member [, {max_bytes}]) -> bytes
 *   read_all(path [, {max_bytes}])  -> { [name] = bytes }
 *   extract(path, dest [, {max_entries, max_bytes}]) -> true
 *   write(path, {format, entries = { {name, data | file, mode} }, mtime})
 *
 * Expected failures return nil, message, code: "ENOENT" (no such archive or
 * member), "FORMAT" (not an archive libarchive reads, or damaged), "UNSAFE"
 * (an entry that would land outside the destination), "LIMIT" (entry count
 * or uncompressed size over the caller's limit), or an errno name.
 *
 * Every libarchive object lives in one userdata (`relrun.archive.handle`)
 * whose metatable is set before anything is acquired. Each call runs
 * protected (with_handle), closes the handle as soon as it ends, and only
 * then re-raises an error, so nothing leaks and no temporary file stays
 * behind; __gc/__close free whatever a collector finds still open.
 */
#include "rr.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HANDLE "relrun.archive.handle"
#define BLOCK 65536
/* Defaults for extract and read: far above any wheel or sdist, far below
 * what a decompression bomb would fill a disk with. */
#define DEFAULT_MAX_ENTRIES 100000
#define DEFAULT_MAX_BYTES ((lua_Integer)2 << 30)
/* read and read_all hold what they read in memory (twice, briefly, while a
 * member's buffer becomes a string): a lower default, still far above the
 * members of any pure-Python wheel. */
#define DEFAULT_READ_BYTES ((lua_Integer)128 << 20)
/* 1980-01-01T00:00:00Z: the earliest time a zip entry can hold (DOS time). */
#define ZIP_EPOCH 315532800

typedef struct Handle {
    struct archive *r;    /* reader */
    struct archive *w;    /* archive writer or disk writer */
    int in;               /* input file being archived by write(), or -1 */
    int out;              /* output of write(), or -1 */
    char *tmp;            /* temporary output of write(), removed unless renamed */
    int (*worker)(lua_State *L, struct Handle *h); /* what with_handle runs */
    int closed;
} Handle;

/* ---- the handle -------------------------------------------------------- */

static int handle_close(lua_State *L) {
    Handle *h = luaL_checkudata(L, 1, HANDLE);
    if (h->closed) return 0;
    h->closed = 1;
    if (h->r) { archive_read_free(h->r); h->r = NULL; }
    if (h->w) { archive_write_free(h->w); h->w = NULL; }
    if (h->in >= 0) { close(h->in); h->in = -1; }
    if (h->out >= 0) { close(h->out); h->out = -1; }
    if (h->tmp) { unlink(h->tmp); free(h->tmp); h->tmp = NULL; }
    return 0;
}

static Handle *new_handle(lua_State *L) {
    Handle *h = rr_newhandle(L, sizeof *h, HANDLE);
    h->in = h->out = -1;
    return h;
}

/* Close the handle at `idx` now (before returning a result). */
static void done(lua_State *L, int idx) {
    lua_pushcfunction(L, handle_close);
    lua_pushvalue(L, idx);
    lua_call(L, 1, 0);
}

/* ---- errors ------------------------------------------------------------ */

static const char *error_code(struct archive *a) {
    int e = archive_errno(a);
    /* libarchive reports bad data as EILSEQ (its ARCHIVE_ERRNO_FILE_FORMAT) or -1 */
    if (e == EILSEQ || e <= 0) return "FORMAT";
    return rr_errno_name(e);
}

/* nil, "<path>: <libarchive's message>", code. */
static int fail_archive(lua_State *L, const char *path, struct archive *a) {
    const char *msg = archive_error_string(a);
    return rr_failf(L, error_code(a), "%s: %s", path, msg ? msg : "archive error");
}

/* ---- reading ----------------------------------------------------------- */

/* Open `path` for reading: zip and tar (any compression). Only the formats
 * packaging uses, so a text file is "not an archive" rather than mtree. */
static int open_reader(lua_State *L, Handle *h, const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return rr_fail_errno(L, path, errno);
    if (S_ISDIR(st.st_mode)) return rr_failf(L, "EISDIR", "%s: is a directory, not an archive", path);
    h->r = archive_read_new();
    if (h->r == NULL) return luaL_error(L, "out of memory");
    /* Only filters libarchive runs in-process: _all would also accept
     * lzop/lrzip/grzip streams by spawning those programs on hostile input. */
    archive_read_support_filter_gzip(h->r);
    archive_read_support_filter_bzip2(h->r);
    archive_read_support_filter_xz(h->r);
    archive_read_support_format_zip(h->r);
    archive_read_support_format_tar(h->r);
    archive_read_support_format_gnutar(h->r);
    if (archive_read_open_filename(h->r, path, BLOCK) != ARCHIVE_OK)
        return fail_archive(L, path, h->r);
    return 0;
}

/* Next header: 1 with an entry, 0 at the end, -1 on error (pushed). */
static int next_entry(lua_State *L, Handle *h, const char *path, struct archive_entry **e) {
    int rc = archive_read_next_header(h->r, e);
    if (rc == ARCHIVE_EOF) return 0;
    if (rc == ARCHIVE_OK || rc == ARCHIVE_WARN) return 1;
    fail_archive(L, path, h->r);
    return -1;
}

/* The entry's name; "" when libarchive has none it can give (refused as
 * an empty name by extract). */
static const char *entry_name(struct archive_entry *e) {
    const char *n = archive_entry_pathname_utf8(e);
    if (n == NULL) n = archive_entry_pathname(e);
    return n ? n : "";
}

static const char *entry_type(struct archive_entry *e) {
    if (archive_entry_hardlink(e)) return "hardlink";
    switch (archive_entry_filetype(e)) {
    case AE_IFREG: return "file";
    case AE_IFDIR: return "directory";
    case AE_IFLNK: return "symlink";
    default: return "other";
    }
}

static const char *entry_link(struct archive_entry *e) {
    const char *l = archive_entry_hardlink(e);
    if (l) return l;
    return archive_entry_filetype(e) == AE_IFLNK ? archive_entry_symlink(e) : NULL;
}

/* [entries] -> [entries], one more { name, size, type, mode, mtime, link } */
static void push_entry(lua_State *L, struct archive_entry *e) {
    const char *link = entry_link(e);
    lua_createtable(L, 0, 6);
    lua_pushstring(L, entry_name(e));
    lua_setfield(L, -2, "name");
    lua_pushinteger(L, archive_entry_size(e));
    lua_setfield(L, -2, "size");
    lua_pushstring(L, entry_type(e));
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, archive_entry_perm(e));
    lua_setfield(L, -2, "mode");
    lua_pushinteger(L, archive_entry_mtime(e));
    lua_setfield(L, -2, "mtime");
    if (link) {
        lua_pushstring(L, link);
        lua_setfield(L, -2, "link");
    }
    lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
}

static int list_worker(lua_State *L, Handle *h) {
    const char *path = luaL_checkstring(L, 1);       /* [path, h] */
    struct archive_entry *e;
    int n, rc;
    if ((n = open_reader(L, h, path)) != 0) return n;
    lua_newtable(L);                                 /* [path, h, entries] */
    while ((rc = next_entry(L, h, path, &e)) == 1) push_entry(L, e);
    return rc < 0 ? 3 : 1;
}

static int too_big(lua_State *L, const char *path, const char *member, lua_Integer max) {
    return rr_failf(L, "LIMIT", "%s: more than %I bytes uncompressed (at '%s'); "
                    "raise max_bytes if the archive is trusted", path, max, member), -1;
}

/* Append the current entry `e`'s data to `b` (initialised here), at most
 * `max` bytes: a member whose header declares more is refused before any
 * of it is read, and one whose header lies is stopped at `max`. The buffer
 * starts at the declared size, so an honest member is read without the
 * doubling growth. 0 on success, -1 (pushed nil, msg, code) on failure.
 * The buffer sits on the stack above the handle, which stays anchored. */
static int read_data(lua_State *L, Handle *h, struct archive_entry *e, const char *path, const char *member,
                     luaL_Buffer *b, lua_Integer max) {
    lua_Integer total = 0;
    if (archive_entry_size_is_set(e) && (lua_Integer)archive_entry_size(e) > max) return too_big(L, path, member, max);
    if (archive_entry_size_is_set(e)) luaL_buffinitsize(L, b, (size_t)archive_entry_size(e) + 1);
    else luaL_buffinit(L, b);
    for (;;) {
        char *p = luaL_prepbuffsize(b, BLOCK);
        la_ssize_t got = archive_read_data(h->r, p, BLOCK);
        if (got < 0) return fail_archive(L, path, h->r), -1;
        if (got == 0) return 0;
        total += got;
        if (total > max) return too_big(L, path, member, max);
        luaL_addsize(b, (size_t)got);
    }
}

/* The max_bytes of an optional options table at `arg`. */
static lua_Integer max_bytes_option(lua_State *L, int arg) {
    if (lua_isnoneornil(L, arg)) return DEFAULT_READ_BYTES;
    luaL_checktype(L, arg, LUA_TTABLE);
    return rr_optfield_integer(L, arg, "max_bytes", DEFAULT_READ_BYTES);
}

static int read_worker(lua_State *L, Handle *h) {
    const char *path = luaL_checkstring(L, 1);
    const char *member = luaL_checkstring(L, 2);
    lua_Integer max;
    struct archive_entry *e;
    luaL_Buffer b;
    int n, rc;
    max = max_bytes_option(L, 3);
                                                     /* [path, member, opts, h] */
    if ((n = open_reader(L, h, path)) != 0) return n;
    while ((rc = next_entry(L, h, path, &e)) == 1) {
        if (strcmp(entry_name(e), member) != 0) continue;
        if (archive_entry_filetype(e) != AE_IFREG)
            return rr_failf(L, "EISDIR", "%s: member '%s' is a %s, not a file", path, member,
                            entry_type(e));
        if (read_data(L, h, e, path, member, &b, max) != 0) return 3;
        luaL_pushresult(&b);                         /* [path, member, opts, h, data] */
        return 1;
    }
    if (rc < 0) return 3;
    return rr_failf(L, "ENOENT", "%s: no member '%s' in the archive", path, member);
}

/* read_all(path [, {max_bytes}]) -> { [name] = bytes } for every regular
 * file, in one pass (verifying a wheel's RECORD reads every member). The
 * limit counts the bytes of all members together. */
static int read_all_worker(lua_State *L, Handle *h) {
    const char *path = luaL_checkstring(L, 1);
    lua_Integer budget;
    struct archive_entry *e;
    luaL_Buffer b;
    int n, rc;
    budget = max_bytes_option(L, 2);
                                                     /* [path, opts, h] */
    if ((n = open_reader(L, h, path)) != 0) return n;
    lua_newtable(L);                                 /* [path, opts, h, files] */
    while ((rc = next_entry(L, h, path, &e)) == 1) {
        if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e)) continue;
        lua_pushstring(L, entry_name(e));            /* [.., files, name] */
        if (read_data(L, h, e, path, lua_tostring(L, 5), &b, budget) != 0) return 3;
        luaL_pushresult(&b);                         /* [.., files, name, data] */
        budget -= (lua_Integer)luaL_len(L, -1);
        lua_rawset(L, 4);
    }
    return rc < 0 ? 3 : 1;
}

/* ---- extracting -------------------------------------------------------- */

/* Is `name` a relative path without "..", usable below a destination? */
static const char *unsafe_name(const char *name) {
    const char *p = name;
    if (name[0] == '\0') return "an empty name";
    if (name[0] == '/') return "an absolute path";
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') return "a '..' component";
        if (!slash) break;
        p = slash + 1;
    }
    return NULL;
}

/* Walk the "/"-separated components of s[0..len), moving *depth: ".."
 * up, "." and empty components nowhere, anything else down. 1 when the walk
 * ever climbs above where it started (depth < 0). */
static int walk_escapes(const char *s, size_t len, int *depth) {
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && s[j] != '/') j++;
        if (j - i == 2 && s[i] == '.' && s[i + 1] == '.') {
            if (--*depth < 0) return 1;
        } else if (j - i > 0 && !(j - i == 1 && s[i] == '.')) {
            (*depth)++;
        }
        i = j + 1;
    }
    return 0;
}

/* Does a symlink at `name` pointing to `target` leave the destination?
 * Resolved lexically from the link's folder; the depth below the root must
 * never go negative. Links already on disk are further guarded by
 * SECURE_SYMLINKS. */
static int symlink_escapes(const char *name, const char *target) {
    const char *slash = strrchr(name, '/');
    int depth = 0;
    if (target == NULL || target[0] == '/' || target[0] == '\0') return 1;
    if (slash && walk_escapes(name, (size_t)(slash - name), &depth)) return 1;
    return walk_escapes(target, strlen(target), &depth);
}

/* Refuse what could write outside `dest` or is not a plain file, folder or
 * inside symlink. NULL when fine, else the reason. */
static const char *unsafe_entry(struct archive_entry *e) {
    const char *why = unsafe_name(entry_name(e));
    const char *hard = archive_entry_hardlink(e);
    if (why) return why;
    if (hard) return unsafe_name(hard) ? "a hardlink pointing outside the destination" : NULL;
    switch (archive_entry_filetype(e)) {
    case AE_IFREG: case AE_IFDIR: return NULL;
    case AE_IFLNK:
        return symlink_escapes(entry_name(e), archive_entry_symlink(e))
            ? "a symlink pointing outside the destination" : NULL;
    default: return "a device, fifo or socket";
    }
}

/* A refusal by the disk writer: an errno when it has one, else one of its
 * own security checks (SECURE_SYMLINKS: "Cannot extract through symlink"). */
static int fail_disk(lua_State *L, const char *path, struct archive *w) {
    const char *msg = archive_error_string(w);
    int e = archive_errno(w);
    if (e > 0 && e != EILSEQ)
        return rr_failf(L, rr_errno_name(e), "%s: %s", path, msg ? msg : strerror(e));
    return rr_failf(L, "UNSAFE", "%s: %s; refusing to extract", path, msg ? msg : "unsafe entry");
}

/* Prefix the entry's path (and hardlink target) with the destination. */
static int reroot(lua_State *L, struct archive_entry *e, const char *root) {
    const char *hard = archive_entry_hardlink(e);
    lua_pushfstring(L, "%s/%s", root, entry_name(e));
    archive_entry_set_pathname(e, lua_tostring(L, -1));
    if (hard) {
        lua_pushfstring(L, "%s/%s", root, hard);
        archive_entry_set_hardlink(e, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return 0;
}

/* Copy the current entry's data to the disk writer, counting every byte
 * actually decompressed against the remaining budget (headers can lie). */
static int copy_data(lua_State *L, Handle *h, const char *path, const char *name,
                     lua_Integer *budget, lua_Integer max) {
    const void *buf;
    size_t size;
    la_int64_t off;
    int rc;
    while ((rc = archive_read_data_block(h->r, &buf, &size, &off)) == ARCHIVE_OK) {
        *budget -= (lua_Integer)size;
        if (*budget < 0)
            return rr_failf(L, "LIMIT", "%s: more than %I bytes uncompressed (at '%s'); "
                            "refusing to extract, raise max_bytes if the archive is trusted",
                            path, max, name), -1;
        if (archive_write_data_block(h->w, buf, size, off) != ARCHIVE_OK)
            return fail_disk(L, path, h->w), -1;
    }
    if (rc != ARCHIVE_EOF) return fail_archive(L, path, h->r), -1;
    return 0;
}

/* The destination folder, created when missing, as an absolute real path
 * (SECURE_NODOTDOT would otherwise refuse a destination like "../out"). */
static const char *real_dest(lua_State *L, const char *dest) {
    char buf[PATH_MAX];
    if (mkdir(dest, 0755) != 0 && errno != EEXIST) return rr_fail_errno(L, dest, errno), NULL;
    if (realpath(dest, buf) == NULL) return rr_fail_errno(L, dest, errno), NULL;
    lua_pushstring(L, buf);
    return lua_tostring(L, -1);
}

/* What the disk writer always does: entry times, no ".." (our own checks
 * come first). SECURE_SYMLINKS, which refuses to write through a symlink on
 * disk, costs an lstat of every component of every path; it is needed only
 * where a symlink can be on the way: a destination that was not empty, or
 * once the archive itself has made one. */
#define EXTRACT_OPTIONS (ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_NODOTDOT)
#define EXTRACT_SECURE_OPTIONS (EXTRACT_OPTIONS | ARCHIVE_EXTRACT_SECURE_SYMLINKS)

static int folder_is_empty(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *de;
    int empty = 1;
    if (d == NULL) return 0;
    while (empty && (de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) empty = 0;
    closedir(d);
    return empty;
}

static int extract_entries(lua_State *L, Handle *h, const char *path, const char *root,
                           lua_Integer max_entries, lua_Integer max_bytes) {
    struct archive_entry *e;
    lua_Integer count = 0, budget = max_bytes;
    int rc;
    while ((rc = next_entry(L, h, path, &e)) == 1) {
        const char *why = unsafe_entry(e);
        lua_pushstring(L, entry_name(e));            /* keep the name past reroot */
        const char *name = lua_tostring(L, -1);
        if (why)
            return rr_failf(L, "UNSAFE", "%s: entry '%s' is %s; refusing to extract",
                            path, name, why);
        if (++count > max_entries)
            return rr_failf(L, "LIMIT", "%s: more than %I entries; refusing to extract, "
                            "raise max_entries if the archive is trusted", path, max_entries);
        if (archive_entry_size_is_set(e) && archive_entry_size(e) > budget)
            return rr_failf(L, "LIMIT", "%s: more than %I bytes uncompressed (at '%s'); "
                            "refusing to extract, raise max_bytes if the archive is trusted",
                            path, max_bytes, name);
        if (archive_entry_filetype(e) == AE_IFLNK) archive_write_disk_set_options(h->w, EXTRACT_SECURE_OPTIONS);
        reroot(L, e, root);
        rc = archive_write_header(h->w, e);
        if (rc < ARCHIVE_WARN) return fail_disk(L, path, h->w);
        if (archive_entry_filetype(e) == AE_IFREG && copy_data(L, h, path, name, &budget, max_bytes) != 0)
            return 3;
        if (archive_write_finish_entry(h->w) < ARCHIVE_WARN) return fail_disk(L, path, h->w);
        lua_pop(L, 1);
    }
    return rc < 0 ? 3 : 0;
}

static int extract_worker(lua_State *L, Handle *h) {
    const char *path = luaL_checkstring(L, 1);
    const char *dest = luaL_checkstring(L, 2);
    lua_Integer max_entries = DEFAULT_MAX_ENTRIES, max_bytes = DEFAULT_MAX_BYTES;
    const char *root;
    int n;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        max_entries = rr_optfield_integer(L, 3, "max_entries", DEFAULT_MAX_ENTRIES);
        max_bytes = rr_optfield_integer(L, 3, "max_bytes", DEFAULT_MAX_BYTES);
    }
                                                     /* [path, dest, opts, h] */
    if ((n = open_reader(L, h, path)) != 0) return n;
    if ((root = real_dest(L, dest)) == NULL) return 3; /* [..., h, root] */
    h->w = archive_write_disk_new();
    if (h->w == NULL) return luaL_error(L, "out of memory");
    /* No PERM (umask applies, no set-id bits) and no OWNER. SECURE_SYMLINKS
     * and SECURE_NODOTDOT back our own checks (no writing through a symlink
     * on disk); SECURE_NOABSOLUTEPATHS cannot be used since entries are
     * rerooted under the absolute destination, and unsafe_entry already
     * refuses absolute names. */
    archive_write_disk_set_options(h->w, folder_is_empty(root) ? EXTRACT_OPTIONS : EXTRACT_SECURE_OPTIONS);
    if ((n = extract_entries(L, h, path, root, max_entries, max_bytes)) != 0) return n;
    if (archive_write_close(h->w) != ARCHIVE_OK) return fail_disk(L, path, h->w);
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- writing ----------------------------------------------------------- */

static int by_name(lua_State *L) {
    lua_getfield(L, 1, "name");
    lua_getfield(L, 2, "name");
    lua_pushboolean(L, strcmp(lua_tostring(L, -2), lua_tostring(L, -1)) < 0);
    return 1;
}

/* Misuse in one entry raises before any output exists: a name that is
 * relative and free of "..", exactly one of data (string) or file (path)
 * unless the name is a folder ("dir/"), an integer mode if any. */
static void check_entry(lua_State *L, lua_Integer i) {
    const char *name, *why;
    int has_data, has_file;
    if (lua_getfield(L, -1, "name") != LUA_TSTRING || lua_rawlen(L, -1) == 0)
        luaL_error(L, "entry %I needs a name", i);
    name = lua_tostring(L, -1);
    if ((why = unsafe_name(name)) != NULL) luaL_error(L, "entry '%s': %s", name, why);
    has_data = lua_getfield(L, -2, "data") != LUA_TNIL;
    if (has_data && !lua_isstring(L, -1)) luaL_error(L, "entry '%s': data must be a string", name);
    has_file = lua_getfield(L, -3, "file") != LUA_TNIL;
    if (has_file && !lua_isstring(L, -1)) luaL_error(L, "entry '%s': file must be a path", name);
    if (has_data && has_file) luaL_error(L, "entry '%s' has both data and file", name);
    if (!has_data && !has_file && name[lua_rawlen(L, -3) - 1] != '/')
        luaL_error(L, "entry '%s' needs data or file", name);
    if (lua_getfield(L, -4, "mode") != LUA_TNIL && !lua_isinteger(L, -1))
        luaL_error(L, "entry '%s': mode must be an integer", name);
    lua_pop(L, 4);
}

/* [.., entries] -> [.., sorted copy], every entry checked. */
static void sorted_entries(lua_State *L, int entries) {
    lua_Integer n = luaL_len(L, entries);
    lua_getglobal(L, "table");
    lua_getfield(L, -1, "sort");
    lua_remove(L, -2);                               /* [.., sort] */
    lua_createtable(L, (int)n, 0);                   /* [.., sort, copy] */
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_geti(L, entries, i) != LUA_TTABLE) luaL_error(L, "entry %I must be a table", i);
        check_entry(L, i);
        lua_rawseti(L, -2, i);
    }
    lua_pushvalue(L, -1);
    lua_insert(L, -3);                               /* [.., copy, sort, copy] */
    lua_pushcfunction(L, by_name);
    lua_call(L, 2, 0);                               /* [.., copy] */
}

static int configure_writer(lua_State *L, Handle *h, const char *format) {
    h->w = archive_write_new();
    if (h->w == NULL) return luaL_error(L, "out of memory");
    if (strcmp(format, "zip") == 0) {
        archive_write_set_format_zip(h->w);
        archive_write_set_options(h->w, "zip:compression=deflate");
    } else if (strcmp(format, "tar.gz") == 0) {
        archive_write_set_format_pax_restricted(h->w);
        archive_write_add_filter_gzip(h->w);
        /* no time stamp in the gzip header: two runs give the same bytes */
        archive_write_set_options(h->w, "gzip:!timestamp");
    } else {
        return luaL_error(L, "unknown format '%s' (zip or tar.gz)", format);
    }
    return 0;
}

/* A temporary file beside `path`, renamed over it once complete. Named as
 * relrun.fs names its own (".NAME.relrun-PID-XXXXXX"), so a relrun killed
 * while writing leaves a file the next relrun writing in that folder sweeps
 * (bindings/fs.c, sweep_leftovers): one mechanism for every temporary file. */
static int open_output(lua_State *L, Handle *h, const char *path) {
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) + 1 : 0, blen = strlen(path) - dlen;
    int fd, n;
    if (blen > 200) blen = 200;   /* the temp name must fit NAME_MAX too */
    h->tmp = malloc(dlen + blen + 48);
    if (h->tmp == NULL) return luaL_error(L, "out of memory");
    n = snprintf(h->tmp, dlen + blen + 48, "%.*s.%.*s.relrun-%d-XXXXXX", (int)dlen, path, (int)blen, path + dlen,
                 (int)getpid());
    if (n < 0) {
        free(h->tmp);
        h->tmp = NULL;
        return luaL_error(L, "cannot name a temporary file for %s", path);
    }
    fd = mkstemp(h->tmp);
    if (fd < 0) {
        free(h->tmp);
        h->tmp = NULL;
        return rr_fail_errno(L, path, errno);
    }
    h->out = fd;
    fchmod(fd, 0644);
    if (archive_write_open_fd(h->w, fd) != ARCHIVE_OK) return fail_archive(L, path, h->w);
    return 0;
}

/* Modes are normalised: 0755 when any execute bit is set, else 0644. */
static int normal_mode(lua_Integer mode) {
    return (mode & 0111) ? 0755 : 0644;
}

/* The header for the entry table at -1; `size` and `mode` known by now. */
static struct archive_entry *make_header(lua_State *L, const char *name, la_int64_t size,
                                         lua_Integer mode, time_t mtime) {
    struct archive_entry *e = archive_entry_new();
    int dir = name[strlen(name) - 1] == '/';
    if (e == NULL) luaL_error(L, "out of memory");
    archive_entry_set_pathname_utf8(e, name);
    archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(e, dir ? 0755 : normal_mode(mode));
    archive_entry_set_size(e, dir ? 0 : size);
    archive_entry_set_mtime(e, mtime, 0);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    return e;
}

/* Write the header `e` (freed here, before anything can raise). */
static int put_header(lua_State *L, Handle *h, const char *path, struct archive_entry *e) {
    int rc = archive_write_header(h->w, e);
    archive_entry_free(e);
    if (rc != ARCHIVE_OK) return fail_archive(L, path, h->w), -1;
    return 0;
}

static int put_bytes(lua_State *L, Handle *h, const char *path, const char *p, size_t n) {
    while (n > 0) {
        la_ssize_t put = archive_write_data(h->w, p, n);
        if (put <= 0) return fail_archive(L, path, h->w), -1;
        p += put;
        n -= (size_t)put;
    }
    return 0;
}

/* Stream the open input file into the current entry; it must still have
 * the size its header announced. */
static int put_file(lua_State *L, Handle *h, const char *path, const char *src, la_int64_t size) {
    char buf[BLOCK];
    la_int64_t total = 0;
    ssize_t got;
    while ((got = read(h->in, buf, sizeof buf)) != 0) {
        if (got < 0) {
            if (errno == EINTR) continue;
            return rr_fail_errno(L, src, errno), -1;
        }
        total += got;
        if (total > size) break;
        if (put_bytes(L, h, path, buf, (size_t)got) != 0) return -1;
    }
    close(h->in);
    h->in = -1;
    if (total != size)
        return rr_failf(L, "EAGAIN", "%s: changed size while being archived", src), -1;
    return 0;
}

/* [.., entry] -> [.., entry]: one entry, header then data. */
static int write_entry(lua_State *L, Handle *h, const char *path, time_t mtime) {
    const char *name, *src = NULL, *data = NULL;
    size_t len = 0;
    lua_Integer mode = 0644;
    struct stat st;
    lua_getfield(L, -1, "name");
    lua_getfield(L, -2, "data");
    lua_getfield(L, -3, "file");                     /* [.., entry, name, data, file] */
    name = lua_tostring(L, -3);
    if (!lua_isnil(L, -2)) data = lua_tolstring(L, -2, &len);   /* checked by check_entry */
    if (!lua_isnil(L, -1)) src = lua_tostring(L, -1);
    if (src) {
        /* held by the handle at once, so a raise below cannot leak it */
        if ((h->in = open(src, O_RDONLY | O_CLOEXEC)) < 0) return rr_fail_errno(L, src, errno), -1;
        if (fstat(h->in, &st) != 0) return rr_fail_errno(L, src, errno), -1;
        if (!S_ISREG(st.st_mode)) return rr_failf(L, "EISDIR", "%s: not a regular file", src), -1;
        mode = st.st_mode;
        len = (size_t)st.st_size;
    }
    lua_getfield(L, -4, "mode");
    if (!lua_isnil(L, -1)) mode = lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (put_header(L, h, path, make_header(L, name, (la_int64_t)len, mode, mtime)) != 0) return -1;
    if (data && put_bytes(L, h, path, data, len) != 0) return -1;
    if (src && put_file(L, h, path, src, (la_int64_t)len) != 0) return -1;
    lua_pop(L, 3);
    return 0;
}

/* Finish the archive, make it durable (unless `sync` is false), then move
 * it over `path`. */
static int commit_output(lua_State *L, Handle *h, const char *path, int sync) {
    int rc = archive_write_close(h->w);
    if (rc != ARCHIVE_OK) return fail_archive(L, path, h->w);
    if (sync && fsync(h->out) != 0) return rr_fail_errno(L, path, errno);
    close(h->out);
    h->out = -1;
    if (rename(h->tmp, path) != 0) return rr_fail_errno(L, path, errno);
    free(h->tmp);
    h->tmp = NULL;
    return 0;
}

/* mtime: the option, else SOURCE_DATE_EPOCH, else the zip epoch. */
static time_t write_mtime(lua_State *L, int opts) {
    const char *env = getenv("SOURCE_DATE_EPOCH");
    lua_Integer def = ZIP_EPOCH;
    if (env && *env) {
        char *end;
        long long v = strtoll(env, &end, 10);
        if (*end != '\0' || v < 0) luaL_error(L, "SOURCE_DATE_EPOCH must be a number of seconds");
        def = (lua_Integer)v;
    }
    return (time_t)rr_optfield_integer(L, opts, "mtime", def);
}

static int write_worker(lua_State *L, Handle *h) {
    const char *path = luaL_checkstring(L, 1);
    const char *format;
    time_t mtime;
    int n;
    luaL_checktype(L, 2, LUA_TTABLE);
    format = rr_optfield_string(L, 2, "format", NULL);
    luaL_argcheck(L, format != NULL, 2, "format is required (zip or tar.gz)");
    mtime = write_mtime(L, 2);
    luaL_argcheck(L, lua_getfield(L, 2, "entries") == LUA_TTABLE, 2, "entries must be a list");
    lua_replace(L, 3);                               /* [path, opts, entries, h] */
    sorted_entries(L, 3);                            /* [path, opts, entries, h, sorted] */
    configure_writer(L, h, format);
    if ((n = open_output(L, h, path)) != 0) return n;
    for (lua_Integer i = 1, len = luaL_len(L, 5); i <= len; i++) {
        lua_geti(L, 5, i);
        if (write_entry(L, h, path, mtime) != 0) return 3;
        lua_pop(L, 1);
    }
    if ((n = commit_output(L, h, path, rr_optfield_boolean(L, 2, "sync", 1))) != 0) return n;
    lua_pushboolean(L, 1);
    return 1;
}

/* libarchive converts names through the C library's multibyte functions,
 * so under the "C" locale a non-ASCII UTF-8 name fails (the pax writer
 * even crashes on it). Each call runs with a UTF-8 LC_CTYPE for this thread
 * only (uselocale), restored before returning or re-raising. */
static locale_t utf8_locale;

typedef int (*Worker)(lua_State *L, Handle *h);

/* [args..., h] -> the worker's results; the worker rides in h. */
static int trampoline(lua_State *L) {
    Handle *h = lua_touserdata(L, lua_gettop(L));
    return h->worker(L, h);
}

/* Run `worker` with its `nargs` arguments and a fresh handle after them,
 * protected, then restore the locale and close the handle at once,
 * whatever the outcome (a failed write leaves no temporary file, no reader
 * waits for the collector), and only then re-raise an error. */
static int with_handle(lua_State *L, int nargs, Worker worker) {
    Handle *h;
    locale_t saved = (locale_t)0;
    int status, i, top;
    lua_settop(L, nargs);
    h = new_handle(L);                               /* [args..., h] */
    h->worker = worker;
    lua_pushcfunction(L, trampoline);
    for (i = 1; i <= nargs + 1; i++) lua_pushvalue(L, i);
    if (utf8_locale) saved = uselocale(utf8_locale);
    status = lua_pcall(L, nargs + 1, LUA_MULTRET, 0);
    if (utf8_locale) uselocale(saved);
    done(L, nargs + 1);
    if (status != LUA_OK) return lua_error(L);
    top = lua_gettop(L);
    return top - (nargs + 1);
}

static int l_list(lua_State *L) { return with_handle(L, 1, list_worker); }
static int l_read(lua_State *L) { return with_handle(L, 3, read_worker); }
static int l_read_all(lua_State *L) { return with_handle(L, 2, read_all_worker); }
static int l_extract(lua_State *L) { return with_handle(L, 3, extract_worker); }
static int l_write(lua_State *L) { return with_handle(L, 3, write_worker); }

int luaopen_relrun_archive(lua_State *L) {
    static const luaL_Reg handle_methods[] = {
        {"__gc", handle_close}, {"__close", handle_close}, {NULL, NULL}};
    static const luaL_Reg funcs[] = {
        {"list", l_list}, {"read", l_read}, {"read_all", l_read_all}, {"extract", l_extract}, {"write", l_write},
        {NULL, NULL}};
    if (utf8_locale == (locale_t)0)
        utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0); /* may stay 0: ASCII only */
    rr_newclass(L, HANDLE, handle_methods);
    luaL_newlib(L, funcs);
    return 1;
}
