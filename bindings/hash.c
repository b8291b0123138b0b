/*
 * relrun.hash: message digests, HMAC-SHA256, hex and base64.
 *
 * md5/sha1/sha256/sha512 come from OpenSSL's EVP; blake2b_256 is the
 * 32-byte BLAKE2b that PyPI's upload form calls blake2_256_digest, which
 * OpenSSL 3.0 does not offer (runtime/blake2b.c). hash.file reads a file
 * once, in big chunks, and may hash on two threads: uploads need md5,
 * sha256 and blake2b of the same wheel. hash.parts hashes a file's parts
 * on a thread, ahead of a multipart upload.
 */
#include "rr.h"
#include "blake2b.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define HASHER "relrun.hash.hasher"
#define MAX_DIGEST 64

/* ---- algorithms ------------------------------------------------------- */

typedef struct {
    const char *name;
    const EVP_MD *(*evp)(void);   /* NULL: our BLAKE2b */
} alg_info;

static const alg_info ALGS[] = {
    {"md5", EVP_md5},
    {"sha1", EVP_sha1},
    {"sha256", EVP_sha256},
    {"sha512", EVP_sha512},
    {"blake2b_256", NULL},
};
enum { NALGS = sizeof ALGS / sizeof ALGS[0] };
#define B2_OUT 32

static const char *const ALG_NAMES[] = {"md5", "sha1", "sha256", "sha512", "blake2b_256", NULL};

/* One running digest of any algorithm. */
typedef struct {
    int alg;
    EVP_MD_CTX *md;        /* EVP algorithms */
    rr_blake2b_ctx b2;     /* blake2b_256 */
} digest_ctx;

/* 0 on success, -1 when OpenSSL fails (out of memory). */
static int dctx_init(digest_ctx *d, int alg) {
    d->alg = alg;
    if (ALGS[alg].evp == NULL) {
        rr_blake2b_init(&d->b2, B2_OUT);
        return 0;
    }
    if (d->md == NULL && (d->md = EVP_MD_CTX_new()) == NULL) return -1;
    return EVP_DigestInit_ex(d->md, ALGS[alg].evp(), NULL) == 1 ? 0 : -1;
}

static void dctx_update(digest_ctx *d, const void *p, size_t n) {
    if (ALGS[d->alg].evp == NULL) rr_blake2b_update(&d->b2, p, n);
    else EVP_DigestUpdate(d->md, p, n);
}

/* Writes the digest, returns its length. */
static size_t dctx_final(digest_ctx *d, unsigned char *out) {
    unsigned int n = 0;
    if (ALGS[d->alg].evp == NULL) {
        rr_blake2b_final(&d->b2, out);
        return B2_OUT;
    }
    EVP_DigestFinal_ex(d->md, out, &n);
    return n;
}

static void dctx_free(digest_ctx *d) {
    EVP_MD_CTX_free(d->md);
    d->md = NULL;
}

/* One-shot digest; raises only when OpenSSL cannot allocate. */
static size_t digest_of(lua_State *L, int alg, const char *s, size_t n, unsigned char *out) {
    digest_ctx d = {0};
    size_t len;
    if (dctx_init(&d, alg) != 0) {
        dctx_free(&d);
        luaL_error(L, "relrun.hash: OpenSSL could not start %s", ALGS[alg].name);
    }
    dctx_update(&d, s, n);
    len = dctx_final(&d, out);
    dctx_free(&d);
    return len;
}

/* ---- hex and base64 (runtime/codec.c) ------------------------------------ */

static int l_hex_encode(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    rr_push_hex(L, s, n);
    return 1;
}

static int l_hex_decode(lua_State *L) {
    size_t n, bad;
    const char *s = luaL_checklstring(L, 1, &n);
    luaL_Buffer b;
    unsigned char *o;
    if (n % 2 != 0) return rr_failf(L, NULL, "hex_decode: odd length %d", (int)n);
    o = (unsigned char *)luaL_buffinitsize(L, &b, n / 2);
    if ((bad = rr_hex_decode(s, n / 2, o)) != 0)
        return rr_failf(L, NULL, "hex_decode: not a hex digit at byte %d", (int)bad);
    luaL_pushresultsize(&b, n / 2);
    return 1;
}

static int l_base64_encode(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    luaL_Buffer b;
    char *o = luaL_buffinitsize(L, &b, RR_BASE64_LEN(n));
    luaL_pushresultsize(&b, rr_base64_encode(s, n, o));
    return 1;
}

/* Strict RFC 4648 base64: the standard alphabet, padded, no whitespace. */
static int l_base64_decode(lua_State *L) {
    size_t n, len, bad;
    const char *s = luaL_checklstring(L, 1, &n);
    luaL_Buffer b;
    unsigned char *o;
    if (n % 4 != 0)
        return rr_failf(L, NULL, "base64_decode: length %d is not a multiple of 4", (int)n);
    o = (unsigned char *)luaL_buffinitsize(L, &b, n / 4 * 3);
    if ((bad = rr_base64_decode(s, n, o, &len)) != 0)
        return rr_failf(L, NULL, "base64_decode: invalid character at byte %d", (int)bad);
    luaL_pushresultsize(&b, len);
    return 1;
}

/* ---- one-shot digests and HMAC ------------------------------------------ */

static int hex_digest(lua_State *L, int alg) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    unsigned char out[MAX_DIGEST];
    rr_push_hex(L, out, digest_of(L, alg, s, n, out));
    return 1;
}

static int l_md5(lua_State *L) { return hex_digest(L, 0); }
static int l_sha1(lua_State *L) { return hex_digest(L, 1); }
static int l_sha256(lua_State *L) { return hex_digest(L, 2); }
static int l_sha512(lua_State *L) { return hex_digest(L, 3); }
static int l_blake2b_256(lua_State *L) { return hex_digest(L, 4); }

static int l_digest(lua_State *L) {
    int alg = luaL_checkoption(L, 1, NULL, ALG_NAMES);
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    unsigned char out[MAX_DIGEST];
    lua_pushlstring(L, (const char *)out, digest_of(L, alg, s, n, out));
    return 1;
}

static void hmac_sha256(lua_State *L, unsigned char out[32]) {
    size_t kn, dn;
    const char *key = luaL_checklstring(L, 1, &kn);
    const char *data = luaL_checklstring(L, 2, &dn);
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), key, (int)kn, (const unsigned char *)data, dn, out, &len) == NULL)
        luaL_error(L, "relrun.hash: OpenSSL HMAC-SHA256 failed");
}

static int l_hmac_sha256(lua_State *L) {
    unsigned char out[32];
    hmac_sha256(L, out);
    lua_pushlstring(L, (const char *)out, sizeof out);
    return 1;
}

static int l_hmac_sha256_hex(lua_State *L) {
    unsigned char out[32];
    hmac_sha256(L, out);
    rr_push_hex(L, out, sizeof out);
    return 1;
}

/* ---- streaming hasher ----------------------------------------------------- */

enum { H_OPEN = 1, H_FINISHED = 2 };   /* 0 = closed */

typedef struct {
    int state;
    digest_ctx d;
} hasher;

/* The hasher at `idx`, raising if it is closed or already finalised. */
static hasher *check_hasher(lua_State *L, int idx) {
    hasher *h = luaL_checkudata(L, idx, HASHER);
    if (h->state == 0) luaL_error(L, "attempt to use a closed " HASHER);
    if (h->state == H_FINISHED)
        luaL_error(L, "attempt to use a finalised " HASHER " (digest() or raw() was already called)");
    return h;
}

static int l_new(lua_State *L) {
    int alg = luaL_checkoption(L, 1, NULL, ALG_NAMES);
    hasher *h = rr_newhandle(L, sizeof *h, HASHER);
    if (dctx_init(&h->d, alg) != 0) {
        dctx_free(&h->d);
        return luaL_error(L, "relrun.hash: OpenSSL could not start %s", ALGS[alg].name);
    }
    h->state = H_OPEN;
    return 1;
}

static int h_update(lua_State *L) {
    hasher *h = check_hasher(L, 1);
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    dctx_update(&h->d, s, n);
    lua_settop(L, 1);
    return 1;
}

/* Finalise into `out`; the context is released at once, not at __gc. */
static size_t h_finish(lua_State *L, unsigned char *out) {
    hasher *h = check_hasher(L, 1);
    size_t n = dctx_final(&h->d, out);
    dctx_free(&h->d);
    h->state = H_FINISHED;
    return n;
}

static int h_digest(lua_State *L) {
    unsigned char out[MAX_DIGEST];
    rr_push_hex(L, out, h_finish(L, out));
    return 1;
}

static int h_raw(lua_State *L) {
    unsigned char out[MAX_DIGEST];
    size_t n = h_finish(L, out);
    lua_pushlstring(L, (const char *)out, n);
    return 1;
}

/* __gc, __close and :close(); safe to call twice. */
static int h_close(lua_State *L) {
    hasher *h = luaL_checkudata(L, 1, HASHER);
    dctx_free(&h->d);
    h->state = 0;
    return 0;
}

static int h_tostring(lua_State *L) {
    hasher *h = luaL_checkudata(L, 1, HASHER);
    const char *what = h->state == H_OPEN ? "" : h->state == 0 ? " (closed)" : " (finalised)";
    lua_pushfstring(L, HASHER " %s%s (%p)", ALGS[h->d.alg].name, what, (void *)h);
    return 1;
}

/* ---- hash.file: one read, a hashing thread per algorithm ----------------
 *
 * The calling thread only reads, into a ring of chunks; each algorithm runs
 * on its own thread over the same chunks, and a chunk is reused once every
 * thread is done with it. md5 + sha256 + blake2b on two cores: the
 * scheduler shares the cores among three threads, so the pass takes about
 * half the summed CPU time instead of the slowest pair's. */

#define CHUNK (1u << 20)          /* 1 MiB reads: the kernel's readahead keeps up */
#define NSLOTS 8                   /* chunks in flight: slack for the scheduler */
#define THREAD_MIN (4u << 20)      /* below this a thread costs more than it saves */

typedef struct file_job file_job;

typedef struct {
    file_job *job;
    digest_ctx d;
    unsigned long done;            /* chunks hashed (threaded only) */
    pthread_t tid;
    int threaded;                  /* 0: the reader hashes this one inline */
} worker;

struct file_job {
    int fd;
    int n;
    worker w[NALGS];
    unsigned char *buf[NSLOTS];
    size_t len[NSLOTS];
    unsigned long filled;          /* chunks read */
    int eof;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long long size;
    int err;                       /* errno of a failed read */
    int interrupted;
};

/* Fill buf with up to `cap` bytes; 0 at end of file, -1 with errno set. */
static ssize_t read_chunk(int fd, unsigned char *buf, size_t cap) {
    size_t got = 0;
    while (got < cap) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    file_job *j = w->job;
    for (unsigned long seq = 0;; seq++) {
        size_t n;
        pthread_mutex_lock(&j->mu);
        while (j->filled <= seq && !j->eof) pthread_cond_wait(&j->cv, &j->mu);
        if (j->filled <= seq) {    /* end of file and nothing left */
            pthread_mutex_unlock(&j->mu);
            return NULL;
        }
        n = j->len[seq % NSLOTS];
        pthread_mutex_unlock(&j->mu);
        dctx_update(&w->d, j->buf[seq % NSLOTS], n);
        pthread_mutex_lock(&j->mu);
        w->done = seq + 1;
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
    }
}

/* Whether every hashing thread has released chunk `seq`'s slot. Locked. */
static int slot_free(file_job *j, unsigned long seq) {
    if (seq < NSLOTS) return 1;
    for (int i = 0; i < j->n; i++)
        if (j->w[i].threaded && j->w[i].done < seq - NSLOTS + 1) return 0;
    return 1;
}

static void read_loop(file_job *j) {
    for (unsigned long seq = 0;; seq++) {
        unsigned char *slot = j->buf[seq % NSLOTS];
        ssize_t n;
        pthread_mutex_lock(&j->mu);
        while (!slot_free(j, seq)) pthread_cond_wait(&j->cv, &j->mu);
        pthread_mutex_unlock(&j->mu);
        if (rr_interrupted()) { j->interrupted = 1; break; }
        n = read_chunk(j->fd, slot, CHUNK);
        if (n <= 0) {
            if (n < 0) j->err = errno;
            break;
        }
        j->size += n;
        pthread_mutex_lock(&j->mu);
        j->len[seq % NSLOTS] = (size_t)n;
        j->filled = seq + 1;
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
        for (int i = 0; i < j->n; i++)
            if (!j->w[i].threaded) dctx_update(&j->w[i].d, slot, (size_t)n);
    }
    pthread_mutex_lock(&j->mu);
    j->eof = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

/* Read and hash without touching Lua; 0, or an errno value. A thread that
 * cannot be created leaves its algorithm to the reader. */
static int job_run(file_job *j, int threaded) {
    int nbuf = threaded ? NSLOTS : 1;
    for (int i = 0; i < j->n; i++)
        if (dctx_init(&j->w[i].d, j->w[i].d.alg) != 0) return ENOMEM;
    for (int i = 0; i < NSLOTS; i++)
        if ((j->buf[i] = i < nbuf ? malloc(CHUNK) : j->buf[0]) == NULL) return ENOMEM;
    if (pthread_mutex_init(&j->mu, NULL) != 0) return ENOMEM;
    if (pthread_cond_init(&j->cv, NULL) != 0) {
        pthread_mutex_destroy(&j->mu);
        return ENOMEM;
    }
    for (int i = 0; threaded && i < j->n; i++) {
        j->w[i].job = j;
        j->w[i].threaded = pthread_create(&j->w[i].tid, NULL, worker_main, &j->w[i]) == 0;
    }
    read_loop(j);
    for (int i = 0; i < j->n; i++)
        if (j->w[i].threaded) pthread_join(j->w[i].tid, NULL);
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    return j->err;
}

static void job_free(file_job *j) {
    for (int i = 0; i < j->n; i++) dctx_free(&j->w[i].d);
    for (int i = 0; i < NSLOTS; i++)
        if (i == 0 || j->buf[i] != j->buf[0]) free(j->buf[i]);
    if (j->fd >= 0) close(j->fd);
}

/* The algorithm names of the list at `idx`, as indexes; raises on misuse. */
static int check_algs(lua_State *L, int idx, int *algs) {
    int n = 0, seen[NALGS] = {0};
    lua_Integer len;
    luaL_checktype(L, idx, LUA_TTABLE);
    len = luaL_len(L, idx);
    luaL_argcheck(L, len > 0, idx, "at least one algorithm expected");
    for (lua_Integer i = 1; i <= len; i++) {
        int a;
        lua_geti(L, idx, i);
        a = luaL_checkoption(L, -1, NULL, ALG_NAMES);
        lua_pop(L, 1);
        if (!seen[a]) algs[n++] = a;
        seen[a] = 1;
    }
    return n;
}

/* file(path, algs) -> { alg = hex, ..., size = bytes } | nil, msg, code */
static int l_file(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    int algs[NALGS], err;
    unsigned char out[NALGS][MAX_DIGEST];
    size_t outlen[NALGS] = {0};
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    file_job j;
    struct stat st;
    memset(&j, 0, sizeof j);
    j.n = check_algs(L, 2, algs);
    for (int i = 0; i < j.n; i++) j.w[i].d.alg = algs[i];
    j.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (j.fd < 0) return rr_fail_errno(L, path, errno);
    if (fstat(j.fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(j.fd);
        return rr_fail_errno(L, path, EISDIR);
    }
    posix_fadvise(j.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    err = job_run(&j, ncpu > 1 && st.st_size >= (off_t)THREAD_MIN);
    for (int i = 0; err == 0 && !j.interrupted && i < j.n; i++)
        outlen[algs[i]] = dctx_final(&j.w[i].d, out[algs[i]]);
    job_free(&j);   /* everything C-side is released before Lua can raise */
    if (j.interrupted) return rr_raise_interrupted(L);
    if (err != 0) return rr_fail_errno(L, path, err);
    lua_createtable(L, 0, j.n + 1);
    for (int a = 0; a < NALGS; a++) {
        if (outlen[a] == 0) continue;
        rr_push_hex(L, out[a], outlen[a]);
        lua_setfield(L, -2, ALGS[a].name);
    }
    lua_pushinteger(L, (lua_Integer)j.size);
    lua_setfield(L, -2, "size");
    return 1;
}

/* ---- hash.parts: the digest of each part of a file, on a thread ----------
 *
 * A multipart upload signs every part with its sha256 just before sending
 * it. Hashing on the thread that drives the transfers stalls them (two
 * digests of 1 GiB are over a second of CPU), so one thread reads the file
 * once, ahead of the uploads, and the caller only waits when it asks for a
 * part the thread has not reached yet. */

#define PARTS "relrun.hash.parts"

typedef struct {
    int state;                     /* 1 open, 0 closed */
    int fd;
    int alg;
    int whole;                     /* also the digest of the whole file */
    long long size, part_size;
    lua_Integer nparts;
    size_t dlen;                   /* digest length */
    unsigned char *digests;        /* nparts * dlen */
    unsigned char whole_digest[MAX_DIGEST];
    lua_Integer done;              /* parts hashed so far */
    int finished;                  /* the thread has stopped */
    int err;                       /* errno of a failed read, or EIO for a file that shrank */
    int cancel;
    int started;
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} part_job;

static int part_job_cancelled(part_job *p) {
    int c;
    pthread_mutex_lock(&p->mu);
    c = p->cancel;
    pthread_mutex_unlock(&p->mu);
    return c;
}

/* Hash one part of `len` bytes into `out` (and into `whole`); 0 or an errno. */
static int hash_one_part(part_job *p, digest_ctx *part, digest_ctx *whole, unsigned char *buf,
                         long long len, unsigned char *out) {
    if (dctx_init(part, p->alg) != 0) return ENOMEM;
    while (len > 0) {
        size_t want = len < (long long)CHUNK ? (size_t)len : CHUNK;
        ssize_t n = read_chunk(p->fd, buf, want);
        if (n < 0) return errno;
        if ((size_t)n < want) return EIO;   /* the file shrank while being read */
        dctx_update(part, buf, (size_t)n);
        if (p->whole) dctx_update(whole, buf, (size_t)n);
        len -= n;
        if (part_job_cancelled(p)) return ECANCELED;
    }
    dctx_final(part, out);
    return 0;
}

static void *part_job_main(void *arg) {
    part_job *p = arg;
    digest_ctx part = {0}, whole = {0};
    unsigned char *buf = malloc(CHUNK);
    int err = buf == NULL ? ENOMEM : 0;
    if (err == 0 && p->whole && dctx_init(&whole, p->alg) != 0) err = ENOMEM;
    for (lua_Integer i = 0; err == 0 && i < p->nparts; i++) {
        long long off = (long long)i * p->part_size;
        long long len = p->size - off < p->part_size ? p->size - off : p->part_size;
        unsigned char out[MAX_DIGEST];
        err = hash_one_part(p, &part, &whole, buf, len, out);
        if (err != 0) break;
        pthread_mutex_lock(&p->mu);
        memcpy(p->digests + (size_t)i * p->dlen, out, p->dlen);
        p->done = i + 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    if (err == 0 && p->whole) dctx_final(&whole, p->whole_digest);
    dctx_free(&part);
    dctx_free(&whole);
    free(buf);
    pthread_mutex_lock(&p->mu);
    p->err = err;
    p->finished = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static part_job *check_parts(lua_State *L, int idx) {
    part_job *p = luaL_checkudata(L, idx, PARTS);
    if (p->state == 0) luaL_error(L, "attempt to use a closed " PARTS);
    return p;
}

/* Wait, locked, until part n is hashed (n = nparts + 1: the whole file) or
 * the thread stopped. Wakes up now and then for Ctrl-C; 1 when interrupted. */
static int parts_wait(part_job *p, lua_Integer n) {
    while (!p->finished && p->done < n) {
        struct timespec ts;
        if (rr_interrupted()) return 1;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    }
    return 0;
}

/* Push the digest of part n (1-based; nparts + 1 for the whole file), or
 * nil, msg, code when the read failed; raises on Ctrl-C. */
static int parts_push(lua_State *L, part_job *p, lua_Integer n, const char *path_for_errors) {
    unsigned char out[MAX_DIGEST];
    int err = 0, interrupted;
    pthread_mutex_lock(&p->mu);
    interrupted = parts_wait(p, n);
    if (!interrupted && p->done >= n && n <= p->nparts) memcpy(out, p->digests + (size_t)(n - 1) * p->dlen, p->dlen);
    else if (!interrupted && p->finished && p->err == 0) memcpy(out, p->whole_digest, p->dlen);
    else err = p->err;
    pthread_mutex_unlock(&p->mu);
    if (interrupted) return rr_raise_interrupted(L);
    if (err == EIO) return rr_failf(L, "ECHANGED", "%s changed size while being read", path_for_errors);
    if (err != 0) return rr_fail_errno(L, path_for_errors, err);
    rr_push_hex(L, out, p->dlen);
    return 1;
}

/* job:part(n) -> hex digest of part n, waiting for it | nil, msg, code */
static int p_part(lua_State *L) {
    part_job *p = check_parts(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 1 && n <= p->nparts, 2, "no such part");
    lua_getiuservalue(L, 1, 1);
    return parts_push(L, p, n, lua_tostring(L, -1));
}

/* job:whole() -> hex digest of the whole file | nil, msg, code */
static int p_whole(lua_State *L) {
    part_job *p = check_parts(L, 1);
    if (!p->whole) return luaL_error(L, PARTS ": whole() needs hash.parts(..., { whole = true })");
    lua_getiuservalue(L, 1, 1);
    return parts_push(L, p, p->nparts + 1, lua_tostring(L, -1));
}

static int p_count(lua_State *L) {
    lua_pushinteger(L, check_parts(L, 1)->nparts);
    return 1;
}

/* __gc, __close and :close(): stop the thread and release everything. */
static int p_close(lua_State *L) {
    part_job *p = luaL_checkudata(L, 1, PARTS);
    if (p->state == 0) return 0;
    if (p->started) {
        pthread_mutex_lock(&p->mu);
        p->cancel = 1;
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->tid, NULL);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->digests);
    p->digests = NULL;
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
    p->state = 0;
    return 0;
}

static int p_tostring(lua_State *L) {
    part_job *p = luaL_checkudata(L, 1, PARTS);
    lua_pushfstring(L, PARTS " %s x%d%s (%p)", ALGS[p->alg].name, (int)p->nparts,
                    p->state == 0 ? " (closed)" : "", (void *)p);
    return 1;
}

/* parts(path, part_size [, { alg = "sha256", whole = false }]) -> job | nil, msg, code.
 * An empty file is one empty part, as S3 counts it. */
static int l_parts(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    lua_Integer ps = luaL_checkinteger(L, 2);
    int alg = 2, whole = 0, err;
    struct stat st;
    part_job *p;
    luaL_argcheck(L, ps > 0, 2, "part size must be positive");
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_getfield(L, 3, "alg");
        alg = luaL_checkoption(L, -1, "sha256", ALG_NAMES);
        lua_pop(L, 1);
        whole = rr_optfield_boolean(L, 3, "whole", 0);
    }
    p = lua_newuserdatauv(L, sizeof *p, 1);
    memset(p, 0, sizeof *p);
    p->fd = -1;
    luaL_setmetatable(L, PARTS);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);   /* the path, for error messages */
    if (pthread_mutex_init(&p->mu, NULL) != 0) return luaL_error(L, "relrun.hash: out of memory");
    if (pthread_cond_init(&p->cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        return luaL_error(L, "relrun.hash: out of memory");
    }
    p->state = 1;
    p->alg = alg;
    p->whole = whole;
    p->part_size = ps;
    p->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (p->fd < 0) return rr_fail_errno(L, path, errno);
    if (fstat(p->fd, &st) != 0) return rr_fail_errno(L, path, errno);
    if (S_ISDIR(st.st_mode)) return rr_fail_errno(L, path, EISDIR);
    posix_fadvise(p->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    p->size = st.st_size;
    p->nparts = p->size == 0 ? 1 : (lua_Integer)((p->size + ps - 1) / ps);
    p->dlen = ALGS[alg].evp ? (size_t)EVP_MD_get_size(ALGS[alg].evp()) : B2_OUT;
    if ((p->digests = malloc((size_t)p->nparts * p->dlen)) == NULL) return luaL_error(L, "relrun.hash: out of memory");
    if ((err = pthread_create(&p->tid, NULL, part_job_main, p)) != 0) return rr_fail_errno(L, "hash.parts thread", err);
    p->started = 1;
    return 1;
}

/* ---- module ---------------------------------------------------------------- */

static const luaL_Reg hasher_methods[] = {
    {"update", h_update},
    {"digest", h_digest},
    {"raw", h_raw},
    {"close", h_close},
    {"__gc", h_close},
    {"__close", h_close},
    {"__tostring", h_tostring},
    {NULL, NULL},
};

static const luaL_Reg parts_methods[] = {
    {"part", p_part},
    {"whole", p_whole},
    {"count", p_count},
    {"close", p_close},
    {"__gc", p_close},
    {"__close", p_close},
    {"__tostring", p_tostring},
    {NULL, NULL},
};

static const luaL_Reg functions[] = {
    {"md5", l_md5},
    {"sha1", l_sha1},
    {"sha256", l_sha256},
    {"sha512", l_sha512},
    {"blake2b_256", l_blake2b_256},
    {"digest", l_digest},
    {"hmac_sha256", l_hmac_sha256},
    {"hmac_sha256_hex", l_hmac_sha256_hex},
    {"new", l_new},
    {"file", l_file},
    {"parts", l_parts},
    {"hex_encode", l_hex_encode},
    {"hex_decode", l_hex_decode},
    {"base64_encode", l_base64_encode},
    {"base64_decode", l_base64_decode},
    {NULL, NULL},
};

int luaopen_relrun_hash(lua_State *L) {
    rr_newclass(L, HASHER, hasher_methods);
    rr_newclass(L, PARTS, parts_methods);
    luaL_newlib(L, functions);
    return 1;
}
