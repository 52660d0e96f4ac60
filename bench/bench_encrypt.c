/*
 * bench/bench_encrypt.c - what encryption at rest costs: the same sqlite
 * store with and without an encrypt section, in the same run.
 *
 * For each size two databases are filled with the same tokens
 * (bench_fill_token, through ts_save_stream), one plain and one with the
 * four secrets sealed under a new key. Two operations are timed on both,
 * in alternating rounds on the same random keys, taking turns going
 * first, as bench_sqlite does:
 *
 *  - find_token by user name: the user name is not sealed, so the
 *    lookup is the same and the cost is opening the row's client
 *    secret, refresh token and access token;
 *  - save_token of an existing user with a new access token and expiry:
 *    one value sealed, and the client secret and refresh token the save
 *    fills in from the stored row opened.
 *
 * The targets: find within 1.2 times the plain store's time at
 * 100,000 tokens, save within 1.3 times. The ratio is printed, not
 * checked: it depends on the machine and its load (README.md has the
 * figures measured). The ratio of the process's CPU time is printed
 * too: on a machine that other work loads, it moves less.
 *
 * Usage: bench_encrypt [SIZE...]   (default 100000)
 * The files go to $TMPDIR (default /tmp) and are removed afterwards.
 */
#include <unistd.h>
#include "bench.h"

enum { ROUNDS = 20 };

static volatile size_t sink;

struct fill {
    ts_token *t;
    uint64_t i, n;
};

static int next_token(void *userdata, ts_token **token, ts_error *err)
{
    struct fill *f = userdata;

    (void)err;
    if (f->i == f->n)
        return TS_NOT_FOUND;
    bench_fill_token(f->t, f->i++);
    *token = f->t;
    return TS_OK;
}

static ts_store *open_filled(const char *uri, size_t n)
{
    struct fill f = { ts_token_new(), 0, n };
    ts_store *s;
    ts_error err;

    if (ts_store_open(&s, uri, &err) != TS_OK)
        bench_die("open", &err);
    if (ts_save_stream(s, next_token, NULL, &f, NULL, &err) != TS_OK)
        bench_die("filling the store", &err);
    ts_token_free(f.t);
    return s;
}

enum op { FIND, UPDATE };

/* The process's CPU time: on a machine others load, a steadier measure
 * of the work done than the clock on the wall, which is also printed. */
static uint64_t cpu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Runs `iters` operations on s on keys from *seed; wall-clock
 * nanoseconds, and CPU nanoseconds added to *cpu. */
static uint64_t run_side(enum op op, ts_store *s, ts_token *t, size_t n, size_t iters,
                         uint64_t *seed, uint64_t *serial, uint64_t *cpu)
{
    char user[64], access[64], expiry[24];
    ts_error err;
    uint64_t t0 = bench_now_ns(), c0 = cpu_now_ns();

    for (size_t i = 0; i < iters; i++) {
        bench_user(bench_rand(seed) % n, user, sizeof user);
        ts_token_clear(t);
        ts_token_set(t, TS_FIELD_USER_NAME, user);
        if (op == FIND) {
            if (ts_find_token(s, t, &err) != TS_OK)
                bench_die("find_token", &err);
            sink += strlen(ts_token_get(t, TS_FIELD_REFRESH_TOKEN));
            continue;
        }
        (*serial)++;
        snprintf(access, sizeof access, "1000.%032" PRIx64 ".new", *serial);
        snprintf(expiry, sizeof expiry, "%" PRIu64, 1900000000000u + *serial);
        ts_token_set(t, TS_FIELD_ACCESS_TOKEN, access);
        ts_token_set(t, TS_FIELD_EXPIRY_TIME, expiry);
        if (ts_save_token(s, t, &err) != TS_OK)
            bench_die("save_token", &err);
    }
    *cpu += cpu_now_ns() - c0;
    return bench_now_ns() - t0;
}

/* Both stores in alternating rounds on the same keys; per-op averages,
 * wall-clock and CPU. */
static void compare(enum op op, ts_store *sealed, ts_store *plain, size_t n, size_t iters,
                    double *ours, double *base, double *cpu_ratio)
{
    ts_token *t = ts_token_new();
    uint64_t ours_ns = 0, base_ns = 0, ours_cpu = 0, base_cpu = 0, serial = 0;
    size_t per_round = iters / ROUNDS ? iters / ROUNDS : 1;

    for (int round = 0; round < ROUNDS; round++) {
        uint64_t seed = 0x9E3779B97F4A7C15ull + (uint64_t)round, copy = seed;
        if (round % 2 == 0) {
            base_ns += run_side(op, plain, t, n, per_round, &seed, &serial, &base_cpu);
            ours_ns += run_side(op, sealed, t, n, per_round, &copy, &serial, &ours_cpu);
        } else {
            ours_ns += run_side(op, sealed, t, n, per_round, &copy, &serial, &ours_cpu);
            base_ns += run_side(op, plain, t, n, per_round, &seed, &serial, &base_cpu);
        }
    }
    *ours = (double)ours_ns / (double)(per_round * ROUNDS);
    *base = (double)base_ns / (double)(per_round * ROUNDS);
    *cpu_ratio = base_cpu ? (double)ours_cpu / (double)base_cpu : 0.0;
    ts_token_free(t);
}

static void remove_db(const char *path)
{
    char side[600];

    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

static void bench_size(size_t n)
{
    const char *tmp = getenv("TMPDIR");
    char dir[256], key[300], plain_db[300], sealed_db[300], uri[1000];
    ts_error err;
    double ours, base;

    snprintf(dir, sizeof dir, "%s", tmp && *tmp ? tmp : "/tmp");
    snprintf(key, sizeof key, "%s/bench_encrypt.%d.key", dir, (int)getpid());
    snprintf(plain_db, sizeof plain_db, "%s/bench_encrypt.%d.plain.db", dir, (int)getpid());
    snprintf(sealed_db, sizeof sealed_db, "%s/bench_encrypt.%d.sealed.db", dir, (int)getpid());
    if (ts_keygen(key, NULL, &err) != TS_OK)
        bench_die("keygen", &err);
    snprintf(uri, sizeof uri, "sqlite:%s", plain_db);
    ts_store *plain = open_filled(uri, n);
    snprintf(uri, sizeof uri, "sqlite:%s?encrypt.key_file=%s", sealed_db, key);
    ts_store *sealed = open_filled(uri, n);

    size_t iters = bench_iterations(n);
    double cpu;
    compare(FIND, sealed, plain, n, iters, &ours, &base, &cpu);
    bench_report("sqlite", "find by user, encrypted", n, ours, "the same, not encrypted", base);
    printf("%-7s %-26s %9s        CPU time ratio %5.2fx\n", "", "", "", cpu);
    compare(UPDATE, sealed, plain, n, iters / 4, &ours, &base, &cpu);
    bench_report("sqlite", "save (update), encrypted", n, ours, "the same, not encrypted", base);
    printf("%-7s %-26s %9s        CPU time ratio %5.2fx\n", "", "", "", cpu);

    ts_store_close(plain);
    ts_store_close(sealed);
    remove_db(plain_db);
    remove_db(sealed_db);
    unlink(key);
}

int main(int argc, char **argv)
{
    static const size_t dflt[] = { 100000 };
    size_t sizes[16];
    size_t nsizes = bench_sizes(argc, argv, sizes, 16, dflt, 1);

    for (size_t i = 0; i < nsizes; i++)
        bench_size(sizes[i]);
    return 0;
}
