/*
 * BLAKE2b (RFC 7693), unkeyed, with any digest length from 1 to 64 bytes.
 *
 * OpenSSL 3.0 offers only BLAKE2b-512, and a 32-byte BLAKE2b is not a
 * truncated BLAKE2b-512 (the length is part of the parameter block), yet
 * PyPI's blake2_256_digest is exactly that: hashlib.blake2b(digest_size=32).
 */
#ifndef RR_BLAKE2B_H
#define RR_BLAKE2B_H

#include <stddef.h>
#include <stdint.h>

#define RR_BLAKE2B_BLOCK 128
#define RR_BLAKE2B_MAX_OUT 64

typedef struct {
    uint64_t h[8];                          /* chained state */
    uint64_t t[2];                          /* bytes compressed so far, 128-bit */
    uint8_t buf[RR_BLAKE2B_BLOCK];          /* the last, possibly partial block */
    size_t used;                            /* bytes in buf */
    size_t outlen;
} rr_blake2b_ctx;

/* outlen must be 1..64. */
void rr_blake2b_init(rr_blake2b_ctx *c, size_t outlen);
void rr_blake2b_update(rr_blake2b_ctx *c, const void *data, size_t len);
/* Writes c->outlen bytes. */
void rr_blake2b_final(rr_blake2b_ctx *c, uint8_t *out);

#endif
