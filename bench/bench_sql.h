/*
 * bench/bench_sql.h - what the SQL benches (bench_sqlite, bench_mysql,
 * bench_postgres) share: the store's side of each comparison (find_token
 * by user name; save_token of an existing user with a new access token
 * and expiry), and the timing that runs it against the bench's raw side
 * in alternating rounds on the same random keys.
 *
 * Each bench defines its raw side (a prepared SELECT of the ten columns
 * by user_name whose values are copied out, and a prepared UPDATE of the
 * access token and expiry by user_name) and hands it to bench_compare as
 * a struct bench_raw; everything else is written once here, with the
 * paths of the server the mysql and postgres benches start.
 */
#ifndef TS_BENCH_SQL_H
#define TS_BENCH_SQL_H

#include <limits.h>
#include <unistd.h>
#include "bench.h"

/* Where the sides put what they read, so no read is optimized away. */
static volatile size_t sink;

/* A bench's raw side: `find` reads user's row and copies its values
 * out, `update` sets its access token and expiry; `ctx` is theirs. */
struct bench_raw {
    void *ctx;
    void (*find)(void *ctx, const char *user);
    void (*update)(void *ctx, const char *user, const char *access, const char *expiry);
};

static inline void store_find(ts_store *s, ts_token *t, const char *user)
{
    ts_error err;

    ts_token_clear(t);
    ts_token_set(t, TS_FIELD_USER_NAME, user);
    if (ts_find_token(s, t, &err) != TS_OK)
        bench_die("find_token", &err);
    sink += strlen(ts_token_get(t, TS_FIELD_REFRESH_TOKEN));
}

static inline void store_update(ts_store *s, ts_token *t, const char *user, const char *access,
                                const char *expiry)
{
    ts_error err;

    ts_token_clear(t);
    ts_token_set(t, TS_FIELD_USER_NAME, user);
    ts_token_set(t, TS_FIELD_ACCESS_TOKEN, access);
    ts_token_set(t, TS_FIELD_EXPIRY_TIME, expiry);
    if (ts_save_token(s, t, &err) != TS_OK)
        bench_die("save_token", &err);
}

/* For a bench with a server of its own (mysql, postgres): the path of
 * tests/BACKEND/server.sh (under $top_srcdir, else .) in sh, and a new
 * directory PREFIX.XXXXXX in $TMPDIR (else /tmp) for the server in dir;
 * 0, said on stderr, when it could not be made. */
static inline int bench_server_paths(const char *backend, const char *prefix, char *sh,
                                     size_t shn, char *dir, size_t dirn)
{
    const char *src = getenv("top_srcdir"), *tmp = getenv("TMPDIR");

    snprintf(sh, shn, "%s/tests/%s/server.sh", src ? src : ".", backend);
    snprintf(dir, dirn, "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
    if (!mkdtemp(dir)) {
        perror("bench: mkdtemp");
        return 0;
    }
    return 1;
}

/* Runs cmd, the server script's `verb`; exits, saying so, if it fails. */
static inline void bench_server_sh(const char *cmd, const char *verb)
{
    if (system(cmd) != 0) {
        fprintf(stderr, "bench: server.sh %s failed\n", verb);
        exit(1);
    }
}

/* Removes the server's directory, once the server is stopped. */
static inline void bench_remove_dir(const char *dir)
{
    char cmd[PATH_MAX + 16];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: could not remove %s\n", dir);
}

enum bench_op { BENCH_FIND, BENCH_UPDATE };
enum { BENCH_ROUNDS = 20 };

/* Runs `iters` operations of one side on keys from *seed; nanoseconds. */
static inline uint64_t bench_run_side(enum bench_op op, int raw_side, const struct bench_raw *r,
                                      ts_store *s, ts_token *t, size_t n, size_t iters,
                                      uint64_t *seed, uint64_t *serial)
{
    char user[64], access[64], expiry[24];
    uint64_t t0 = bench_now_ns();

    for (size_t i = 0; i < iters; i++) {
        bench_user(bench_rand(seed) % n, user, sizeof user);
        if (op == BENCH_FIND) {
            if (raw_side)
                r->find(r->ctx, user);
            else
                store_find(s, t, user);
            continue;
        }
        (*serial)++;
        snprintf(access, sizeof access, "1000.%032" PRIx64 ".new", *serial);
        snprintf(expiry, sizeof expiry, "%" PRIu64, 1900000000000u + *serial);
        if (raw_side)
            r->update(r->ctx, user, access, expiry);
        else
            store_update(s, t, user, access, expiry);
    }
    return bench_now_ns() - t0;
}

/* Both sides in alternating rounds on the same keys of a store of n
 * tokens, `iters` operations each; their per-op averages. */
static inline void bench_compare(enum bench_op op, const struct bench_raw *r, ts_store *s,
                                 size_t n, size_t iters, double *ours, double *base)
{
    ts_token *t = ts_token_new();
    uint64_t ours_ns = 0, base_ns = 0, serial = 0;
    size_t per_round = iters / BENCH_ROUNDS ? iters / BENCH_ROUNDS : 1;

    for (int round = 0; round < BENCH_ROUNDS; round++) {
        uint64_t seed = 0x9E3779B97F4A7C15ull + (uint64_t)round, copy = seed;
        /* Whoever goes second finds the keys' pages cached: take turns. */
        if (round % 2 == 0) {
            base_ns += bench_run_side(op, 1, r, s, t, n, per_round, &seed, &serial);
            ours_ns += bench_run_side(op, 0, r, s, t, n, per_round, &copy, &serial);
        } else {
            ours_ns += bench_run_side(op, 0, r, s, t, n, per_round, &copy, &serial);
            base_ns += bench_run_side(op, 1, r, s, t, n, per_round, &seed, &serial);
        }
    }
    *ours = (double)ours_ns / (double)(per_round * BENCH_ROUNDS);
    *base = (double)base_ns / (double)(per_round * BENCH_ROUNDS);
    ts_token_free(t);
}

#endif
