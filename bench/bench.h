/*
 * bench/bench.h - what the benchmarks share: a clock, a token generator,
 * a timing loop and one report format.
 *
 * Every figure is printed next to a baseline measured in the same run on
 * the same machine (a raw library call doing the same work), because only
 * the ratio means anything across machines.
 */
#ifndef TS_BENCH_H
#define TS_BENCH_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tokenstore/tokenstore.h>

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The values of token number i, as the SDK would store them. The number
 * in the user name has 12 digits, as redis-benchmark's __rand_int__. */
static inline void bench_user(uint64_t i, char *buf, size_t n)
{
    snprintf(buf, n, "user%012" PRIu64 "@example.com", i);
}

static inline void bench_fill_token(ts_token *t, uint64_t i)
{
    char buf[128];

    ts_token_clear(t);
    bench_user(i, buf, sizeof buf);
    ts_token_set(t, TS_FIELD_USER_NAME, buf);
    ts_token_set(t, TS_FIELD_CLIENT_ID, "1000.BENCHCLIENTID0000000000000000");
    ts_token_set(t, TS_FIELD_CLIENT_SECRET, "0123456789abcdef0123456789abcdef0123456789");
    snprintf(buf, sizeof buf, "1000.%032" PRIx64 ".%016" PRIx64, i * 2654435761u, i);
    ts_token_set(t, TS_FIELD_REFRESH_TOKEN, buf);
    snprintf(buf, sizeof buf, "1000.%032" PRIx64 ".a%015" PRIx64, i * 40503u, i);
    ts_token_set(t, TS_FIELD_ACCESS_TOKEN, buf);
    ts_token_set(t, TS_FIELD_EXPIRY_TIME, "1893456000000");
    ts_token_set(t, TS_FIELD_REDIRECT_URL, "https://example.com/oauth/callback");
    ts_token_set(t, TS_FIELD_API_DOMAIN, "https://www.zohoapis.com");
}

/* A simple xorshift so every run visits the same "random" keys. */
static inline uint64_t bench_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

/* How many operations to time: enough for ~0.3 s on a fast op, capped. */
static inline size_t bench_iterations(size_t ntokens)
{
    return ntokens < 20000 ? 20000 : ntokens > 200000 ? 200000 : ntokens;
}

/* One line: backend, operation, store size, ours vs baseline. */
static inline void bench_report(const char *backend, const char *op, size_t ntokens,
                                double ns_per_op, const char *baseline, double base_ns)
{
    printf("%-7s %-26s %9zu tokens %11.3f us/op | %-30s %11.3f us/op | ratio %5.2fx\n",
           backend, op, ntokens, ns_per_op / 1000.0, baseline, base_ns / 1000.0,
           base_ns > 0 ? ns_per_op / base_ns : 0.0);
    fflush(stdout);
}

static inline void bench_die(const char *what, const ts_error *err)
{
    fprintf(stderr, "bench: %s: %s\n", what, err ? err->message : "failed");
    exit(1);
}

/* Sizes from argv ("100 10000 1000000") or the defaults given. */
static inline size_t bench_sizes(int argc, char **argv, size_t *sizes, size_t max,
                                 const size_t *dflt, size_t ndflt)
{
    size_t n = 0;
    for (int i = 1; i < argc && n < max; i++)
        sizes[n++] = strtoull(argv[i], NULL, 10);
    for (size_t i = 0; n == 0 && i < ndflt; i++)
        sizes[i] = dflt[i];
    return n ? n : ndflt;
}

#endif
