
/*
 * Unit tests of cap_sha256: FIPS 180-4's examples, lengths around the
 * block and padding edges against coreutils' sha256sum, and the same
 * digest whatever the split of the input across updates.
 */


#include <stdio.h>

#include "tap.h"
#include "core/cap_sha256.h"


typedef struct {
    const char  *text;
    const char  *digest;
} vector_t;


static void hex_of(const void *p, size_t len, char *out);
static void test_vectors(void);
static void test_million(void);
static void test_lengths(void);
static void test_splits(void);


static const vector_t  vectors[] = {
    { "",
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
    { "abc",
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
    { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
    { "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
      "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
    { NULL, NULL }
};


int
main(void)
{
    test_vectors();
    test_million();
    test_lengths();
    test_splits();

    return tap_done();
}


static void
hex_of(const void *p, size_t len, char *out)
{
    cap_uchar_t  md[CAP_SHA256_LEN];

    cap_sha256(p, len, md);
    cap_hex(md, CAP_SHA256_LEN, (cap_uchar_t *) out);
    out[2 * CAP_SHA256_LEN] = '\0';
}


static void
test_vectors(void)
{
    char             got[65];
    const vector_t  *v;

    for (v = vectors; v->text; v++) {
        hex_of(v->text, strlen(v->text), got);
        is_str(got, 64, v->digest, "FIPS 180-4 example of %zu bytes",
               strlen(v->text));
    }
}


static void
test_million(void)
{
    int           i;
    char          got[65];
    cap_uchar_t   md[CAP_SHA256_LEN], a[1000];
    cap_sha256_t  ctx;

    memset(a, 'a', sizeof(a));

    cap_sha256_init(&ctx);

    for (i = 0; i < 1000; i++) {
        cap_sha256_update(&ctx, a, sizeof(a));
    }

    is_int(ctx.bytes, 1000000, "the length is counted over updates");

    cap_sha256_final(&ctx, md);
    cap_hex(md, CAP_SHA256_LEN, (cap_uchar_t *) got);

    is_str(got, 64,
           "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
           "a million 'a' in updates of 1000");
}


/* every length from 0 to 200 bytes (padding in one or two blocks) */

static void
test_lengths(void)
{
    int           bad;
    char          got[65], want[65], cmd[64];
    FILE         *f;
    size_t        n, i;
    cap_uchar_t   data[200];
    const char   *path = "/tmp/cap_sha256_test.bin";

    bad = 0;

    for (i = 0; i < sizeof(data); i++) {
        data[i] = (cap_uchar_t) (i * 131 + 7);
    }

    for (n = 0; n <= sizeof(data); n++) {
        f = fopen(path, "wb");
        if (f == NULL || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
            bad++;
            break;
        }

        snprintf(cmd, sizeof(cmd), "sha256sum %s", path);

        f = popen(cmd, "r");
        if (f == NULL || fread(want, 1, 64, f) != 64) {
            bad++;
            break;
        }

        pclose(f);
        want[64] = '\0';

        hex_of(data, n, got);

        if (strcmp(got, want) != 0) {
            printf("# length %zu: got %s, sha256sum says %s\n", n, got,
                   want);
            bad++;
        }
    }

    remove(path);

    ok(bad == 0, "lengths 0 to 200 agree with sha256sum");
}


static void
test_splits(void)
{
    int           bad;
    size_t        i, cut, step;
    cap_uchar_t   data[300], one[CAP_SHA256_LEN], md[CAP_SHA256_LEN];
    cap_sha256_t  ctx;

    for (i = 0; i < sizeof(data); i++) {
        data[i] = (cap_uchar_t) (i ^ 0x5a);
    }

    cap_sha256(data, sizeof(data), one);

    bad = 0;

    for (step = 1; step <= 130; step++) {
        cap_sha256_init(&ctx);

        for (cut = 0; cut < sizeof(data); cut += step) {
            cap_sha256_update(&ctx, data + cut,
                              step < sizeof(data) - cut
                              ? step : sizeof(data) - cut);
        }

        cap_sha256_final(&ctx, md);

        if (memcmp(md, one, sizeof(md)) != 0) {
            printf("# updates of %zu bytes differ\n", step);
            bad++;
        }
    }

    ok(bad == 0, "updates of 1 to 130 bytes give the one-shot digest");
}
