/*
 * Build-time generator: turns files of the source tree into a C table of
 * { kind, name, chunk name, bytes, size } for runtime/loader.c and host.c.
 *
 *   relrun-embed OUT.c --KIND ROOT FILE... [--KIND ROOT FILE...]...
 *
 * KIND says what a file is and how it is named, relative to ROOT:
 *   lib      a library a project may override (scripts/lib): ROOT/relrun/aws/s3.lua
 *            is module "relrun.aws.s3"; .../init.lua names its folder
 *   host     a library of the host itself (runtime/lua), named the same way;
 *            never overridden
 *   script   a top-level script run by name (scripts): ROOT/release.lua is "release"
 *   command  a command of the host run by name (runtime/lua/commands): "lock"
 *   file     any other file (templates): named by its path under ROOT
 * The chunk name is "@" + the file's path relative to the source tree
 * (RELRUN_EMBED_STRIP), so tracebacks name a file the user can open.
 *
 * Lua files are also compiled here, with the Lua relrun links, and their
 * code embedded beside the source (debug information kept): loading
 * precompiled code is several times faster than compiling on every run, and
 * a syntax error fails the build instead of a release.
 */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const KINDS[] = {"lib", "host", "script", "command", "file", NULL};
static const char *const KIND_CONSTANTS[] = {"RR_EMBED_LIB", "RR_EMBED_HOST", "RR_EMBED_SCRIPT",
                                             "RR_EMBED_COMMAND", "RR_EMBED_FILE"};

static int kind_index(const char *arg) {
    if (strncmp(arg, "--", 2) != 0) return -1;
    for (int k = 0; KINDS[k] != NULL; k++)
        if (strcmp(arg + 2, KINDS[k]) == 0) return k;
    return -1;
}

/* The name of `file` under `root` for a kind; -1 if it is not under root. */
static int entry_name(const char *kind, const char *root, const char *file, char *out, size_t cap) {
    size_t rl = strlen(root), n;
    const char *rel;
    if (strncmp(file, root, rl) != 0 || file[rl] != '/') return -1;
    rel = file + rl + 1;
    n = strlen(rel);
    if (n >= cap) return -1;
    if (strcmp(kind, "file") == 0) {
        memcpy(out, rel, n + 1);
        return 0;
    }
    if (n < 5 || strcmp(rel + n - 4, ".lua") != 0) return -1;
    memcpy(out, rel, n - 4);
    out[n - 4] = 0;
    n -= 4;
    if (strcmp(kind, "script") == 0 || strcmp(kind, "command") == 0) return strchr(out, '/') ? -1 : 0;
    if (n > 5 && strcmp(out + n - 5, "/init") == 0) out[n - 5] = 0;
    for (char *p = out; *p; p++)
        if (*p == '/') *p = '.';
    return 0;
}

static const char *chunk_path(const char *file);

/* A growing byte buffer: the file read, then its compiled chunk. */
typedef struct {
    unsigned char *bytes;
    size_t len, cap;
} Buffer;

static int append(Buffer *b, const void *data, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 65536;
        unsigned char *grown;
        while (cap < b->len + n) cap *= 2;
        if ((grown = realloc(b->bytes, cap)) == NULL) return -1;
        b->bytes = grown;
        b->cap = cap;
    }
    memcpy(b->bytes + b->len, data, n);
    b->len += n;
    return 0;
}

static int read_file(const char *path, Buffer *b) {
    FILE *in = fopen(path, "rb");
    char chunk[65536];
    size_t n;
    if (in == NULL) {
        perror(path);
        return -1;
    }
    while ((n = fread(chunk, 1, sizeof chunk, in)) > 0)
        if (append(b, chunk, n) != 0) break;
    n = (size_t)ferror(in);
    fclose(in);
    return n ? -1 : 0;
}

static void emit_array(FILE *out, const char *prefix, int index, const Buffer *b) {
    fprintf(out, "static const unsigned char %s%d[] = {\n", prefix, index);
    for (size_t i = 0; i < b->len; i++) fprintf(out, "%d,%s", b->bytes[i], i % 24 == 23 ? "\n" : "");
    fprintf(out, "0};\n");
}

static int dump_writer(lua_State *L, const void *p, size_t n, void *ud) {
    (void)L;
    return append(ud, p, n);
}

/* Compile `source` as chunk `chunkname` and dump it into `code`. */
static int compile(lua_State *L, const Buffer *source, const char *chunkname, Buffer *code) {
    int status = luaL_loadbufferx(L, (const char *)source->bytes, source->len, chunkname, "t");
    if (status != LUA_OK || lua_dump(L, dump_writer, code, 0) != 0) {
        fprintf(stderr, "relrun-embed: %s\n", status != LUA_OK ? lua_tostring(L, -1) : "cannot dump the chunk");
        lua_pop(L, 1);
        return -1;
    }
    lua_pop(L, 1);
    return 0;
}

/* The file's bytes as m<index>[], and for Lua its code as c<index>[];
 * sizes[index] and code_sizes[index] (-1: no code). */
static int emit_file(FILE *out, lua_State *L, const char *kind, const char *path, int index,
                     long *size, long *code_size) {
    Buffer source = {0}, code = {0};
    char chunkname[1024];
    int status = read_file(path, &source);
    *code_size = -1;
    if (status == 0) {
        emit_array(out, "m", index, &source);
        *size = (long)source.len;
    }
    if (status == 0 && strcmp(kind, "file") != 0) {
        snprintf(chunkname, sizeof chunkname, "@%s", chunk_path(path));
        status = compile(L, &source, chunkname, &code);
        if (status == 0) {
            emit_array(out, "c", index, &code);
            *code_size = (long)code.len;
        }
    }
    free(source.bytes);
    free(code.bytes);
    return status;
}

static const char *chunk_path(const char *file) {
    const char *strip = getenv("RELRUN_EMBED_STRIP"); /* source dir prefix removed from chunk names */
    if (strip && *strip && strncmp(file, strip, strlen(strip)) == 0) {
        file += strlen(strip);
        while (*file == '/') file++;
    }
    return file;
}

/* One table row per file; groups start with --KIND ROOT. */
static int emit_table(FILE *out, int argc, char **argv, const long *sizes, const long *code_sizes) {
    const char *kind = NULL, *root = NULL, *constant = NULL;
    fprintf(out, "const rr_embedded rr_embedded_modules[] = {\n");
    for (int i = 2; i < argc; i++) {
        char name[512];
        int k = kind_index(argv[i]);
        if (k >= 0) {
            kind = KINDS[k];
            constant = KIND_CONSTANTS[k];
            root = argv[++i];
            continue;
        }
        if (entry_name(kind, root, argv[i], name, sizeof name) != 0) {
            fprintf(stderr, "relrun-embed: %s is not a %s file under %s\n", argv[i], kind, root);
            return -1;
        }
        fprintf(out, "  {%s, \"%s\", \"@%s\", m%d, %ld, ", constant, name, chunk_path(argv[i]), i, sizes[i]);
        if (code_sizes[i] >= 0) fprintf(out, "c%d, %ld},\n", i, code_sizes[i]);
        else fprintf(out, "0, 0},\n");
    }
    fprintf(out, "  {0, 0, 0, 0, 0, 0, 0}\n};\n");
    return 0;
}

int main(int argc, char **argv) {
    FILE *out;
    long *sizes, *code_sizes;
    const char *kind = NULL;
    lua_State *L;
    int status = 0;
    if (argc < 4 || kind_index(argv[2]) < 0) {
        fprintf(stderr, "usage: relrun-embed OUT.c --KIND ROOT FILE... (KIND: lib host script command file)\n");
        return 2;
    }
    out = fopen(argv[1], "w");
    if (out == NULL) {
        perror(argv[1]);
        return 1;
    }
    sizes = calloc((size_t)argc, sizeof *sizes);
    code_sizes = calloc((size_t)argc, sizeof *code_sizes);
    L = luaL_newstate();
    if (sizes == NULL || code_sizes == NULL || L == NULL) {
        fprintf(stderr, "relrun-embed: out of memory\n");
        return 1;
    }
    fprintf(out, "/* generated by tools/embed.c: do not edit */\n#include \"host.h\"\n");
    for (int i = 2; i < argc && status == 0; i++) {
        int k = kind_index(argv[i]);
        if (k >= 0) {
            kind = KINDS[k];
            i++;
            continue;
        }
        if (emit_file(out, L, kind, argv[i], i, &sizes[i], &code_sizes[i]) != 0) status = 1;
    }
    if (status == 0 && emit_table(out, argc, argv, sizes, code_sizes) != 0) status = 1;
    lua_close(L);
    free(sizes);
    free(code_sizes);
    if (fclose(out) != 0) status = 1;
    return status;
}
