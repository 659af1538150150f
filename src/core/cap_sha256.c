
/*
 * SHA-256 as FIPS 180-4 gives it: 64-byte blocks, 64 rounds, the length
 * in bits at the end of the padding.
 */


#include "cap_sha256.h"


#define cap_ror(x, n)  (((x) >> (n)) | ((x) << (32 - (n))))


static void cap_sha256_block(uint32_t *h, const cap_uchar_t *p);


static const uint32_t  cap_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5,
    0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
    0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
    0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5,
    0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};


void
cap_sha256_init(cap_sha256_t *ctx)
{
    ctx->state[0] = 0x6a09e667;
    ctx->state[1] = 0xbb67ae85;
    ctx->state[2] = 0x3c6ef372;
    ctx->state[3] = 0xa54ff53a;
    ctx->state[4] = 0x510e527f;
    ctx->state[5] = 0x9b05688c;
    ctx->state[6] = 0x1f83d9ab;
    ctx->state[7] = 0x5be0cd19;

    ctx->bytes = 0;
    ctx->used = 0;
}


void
cap_sha256_update(cap_sha256_t *ctx, const void *data, size_t len)
{
    size_t             n;
    const cap_uchar_t  *p;

    p = data;
    ctx->bytes += len;

    if (ctx->used) {
        n = 64 - ctx->used;

        if (len < n) {
            memcpy(ctx->block + ctx->used, p, len);
            ctx->used += len;
            return;
        }

        memcpy(ctx->block + ctx->used, p, n);
        cap_sha256_block(ctx->state, ctx->block);

        p += n;
        len -= n;
        ctx->used = 0;
    }

    while (len >= 64) {
        cap_sha256_block(ctx->state, p);
        p += 64;
        len -= 64;
    }

    if (len) {
        memcpy(ctx->block, p, len);
        ctx->used = len;
    }
}


void
cap_sha256_final(cap_sha256_t *ctx, cap_uchar_t out[CAP_SHA256_LEN])
{
    int       i;
    uint64_t  bits;

    bits = ctx->bytes * 8;

    ctx->block[ctx->used++] = 0x80;

    if (ctx->used > 56) {
        memset(ctx->block + ctx->used, 0, 64 - ctx->used);
        cap_sha256_block(ctx->state, ctx->block);
        ctx->used = 0;
    }

    memset(ctx->block + ctx->used, 0, 56 - ctx->used);

    for (i = 0; i < 8; i++) {
        ctx->block[56 + i] = (cap_uchar_t) (bits >> (56 - 8 * i));
    }

    cap_sha256_block(ctx->state, ctx->block);

    for (i = 0; i < 8; i++) {
        out[4 * i] = (cap_uchar_t) (ctx->state[i] >> 24);
        out[4 * i + 1] = (cap_uchar_t) (ctx->state[i] >> 16);
        out[4 * i + 2] = (cap_uchar_t) (ctx->state[i] >> 8);
        out[4 * i + 3] = (cap_uchar_t) ctx->state[i];
    }
}


void
cap_sha256(const void *data, size_t len, cap_uchar_t out[CAP_SHA256_LEN])
{
    cap_sha256_t  ctx;

    cap_sha256_init(&ctx);
    cap_sha256_update(&ctx, data, len);
    cap_sha256_final(&ctx, out);
}


void
cap_hex(const cap_uchar_t *in, size_t n, cap_uchar_t *out)
{
    size_t             i;
    static const char  digits[] = "0123456789abcdef";

    for (i = 0; i < n; i++) {
        *out++ = digits[in[i] >> 4];
        *out++ = digits[in[i] & 0x0f];
    }
}


static void
cap_sha256_block(uint32_t *h, const cap_uchar_t *p)
{
    int       i;
    uint32_t  w[64], a, b, c, d, e, f, g, k, s0, s1, t1, t2;

    for (i = 0; i < 16; i++) {
        w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16
               | (uint32_t) p[4 * i + 2] << 8 | p[4 * i + 3];
    }

    for (i = 16; i < 64; i++) {
        s0 = cap_ror(w[i - 15], 7) ^ cap_ror(w[i - 15], 18)
             ^ (w[i - 15] >> 3);
        s1 = cap_ror(w[i - 2], 17) ^ cap_ror(w[i - 2], 19)
             ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }

    a = h[0]; b = h[1]; c = h[2]; d = h[3];
    e = h[4]; f = h[5]; g = h[6]; k = h[7];

    for (i = 0; i < 64; i++) {
        s1 = cap_ror(e, 6) ^ cap_ror(e, 11) ^ cap_ror(e, 25);
        t1 = k + s1 + ((e & f) ^ (~e & g)) + cap_sha256_k[i] + w[i];
        s0 = cap_ror(a, 2) ^ cap_ror(a, 13) ^ cap_ror(a, 22);
        t2 = s0 + ((a & b) ^ (a & c) ^ (b & c));

        k = g; g = f; f = e; e = d + t1;
        d = c; c = b; b = a; a = t1 + t2;
    }

    h[0] += a; h[1] += b; h[2] += c; h[3] += d;
    h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}
