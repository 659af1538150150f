
/*
 * The floor of what ingesting a payload can cost: inflate it with zlib
 * and parse it with yajl (no callbacks), in a loop.  Prints nanoseconds
 * per payload.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include <yajl/yajl_parse.h>


static double now_ns(void);


int
main(int argc, char **argv)
{
    long            i, n;
    FILE           *f;
    size_t          len, out_size;
    double          start, ns;
    z_stream        z;
    yajl_handle     h;
    unsigned char  *in, *out;

    if (argc < 3) {
        fprintf(stderr, "usage: floor payload.gz iterations\n");
        return 2;
    }

    f = fopen(argv[1], "rb");
    if (f == NULL) {
        perror(argv[1]);
        return 1;
    }

    in = malloc(1 << 20);
    len = fread(in, 1, 1 << 20, f);
    fclose(f);

    n = atol(argv[2]);
    out_size = 16 << 20;
    out = malloc(out_size);

    start = now_ns();

    for (i = 0; i < n; i++) {
        memset(&z, 0, sizeof(z_stream));

        if (inflateInit2(&z, 15 + 32) != Z_OK) {
            return 1;
        }

        z.next_in = in;
        z.avail_in = len;
        z.next_out = out;
        z.avail_out = out_size;

        if (inflate(&z, Z_FINISH) != Z_STREAM_END) {
            fprintf(stderr, "inflate failed\n");
            return 1;
        }

        h = yajl_alloc(NULL, NULL, NULL);

        if (yajl_parse(h, out, z.total_out) != yajl_status_ok
            || yajl_complete_parse(h) != yajl_status_ok)
        {
            fprintf(stderr, "parse failed\n");
            return 1;
        }

        yajl_free(h);
        inflateEnd(&z);
    }

    ns = (now_ns() - start) / n;

    printf("%.0f\n", ns);

    return 0;
}


static double
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1e9 + ts.tv_nsec;
}
