/*
 * bench/bench_memory.c - the memory backend against a plain hash table.
 *
 * The baseline is what an application would write by hand: an
 * open-addressing hash table from user name (or id) to a record of the ten
 * values. A store hands the caller its own copy of a token (it cannot lend
 * out memory another thread may free), so the baseline lookup copies the
 * ten values out too; the bare pointer lookup is printed as well, for
 * scale. Everything runs in one process, one after the other, on the same
 * keys in the same random order.
 */
#include "bench.h"

struct record {
    char *value[TS_FIELD_COUNT];
};

struct plain_table {
    char **keys;
    struct record **recs;
    size_t mask;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h ^ (h >> 29);
}

static void plain_init(struct plain_table *t, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2)
        cap <<= 1;
    t->keys = calloc(cap, sizeof *t->keys);
    t->recs = calloc(cap, sizeof *t->recs);
    t->mask = cap - 1;
}

static void plain_put(struct plain_table *t, const char *key, struct record *r)
{
    size_t i = fnv1a(key) & t->mask;
    while (t->keys[i] && strcmp(t->keys[i], key) != 0)
        i = (i + 1) & t->mask;
    t->keys[i] = r->value[TS_FIELD_USER_NAME] && strcmp(r->value[TS_FIELD_USER_NAME], key) == 0
                     ? r->value[TS_FIELD_USER_NAME] : strdup(key);
    t->recs[i] = r;
}

static struct record *plain_get(const struct plain_table *t, const char *key)
{
    size_t i = fnv1a(key) & t->mask;
    while (t->keys[i]) {
        if (strcmp(t->keys[i], key) == 0)
            return t->recs[i];
        i = (i + 1) & t->mask;
    }
    return NULL;
}

/* The baseline's "find": look up, copy the values out, free the copy. */
static size_t plain_find_copy(const struct plain_table *t, const char *key)
{
    struct record *r = plain_get(t, key), copy;
    size_t total = 0;
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        copy.value[f] = r && r->value[f] ? strdup(r->value[f]) : NULL;
        total += copy.value[f] ? strlen(copy.value[f]) : 0;
    }
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        free(copy.value[f]);
    return total;
}

static volatile size_t sink;

static int walk_cb(const ts_token *t, void *ud)
{
    *(size_t *)ud += strlen(ts_token_get(t, TS_FIELD_ACCESS_TOKEN));
    return 0;
}

static void run_size(size_t n)
{
    ts_store *s;
    ts_error err;
    struct plain_table by_user, by_id;
    struct record **recs = calloc(n, sizeof *recs);
    ts_token *t = ts_token_new();
    char key[64];
    size_t iters = bench_iterations(n);
    uint64_t seed = 88172645463325252ULL, t0;

    if (ts_store_open(&s, "memory:", &err) != TS_OK)
        bench_die("open memory:", &err);
    plain_init(&by_user, n);
    plain_init(&by_id, n);
    for (size_t i = 0; i < n; i++) {
        bench_fill_token(t, i);
        if (ts_save_token(s, t, &err) != TS_OK)
            bench_die("save", &err);
        recs[i] = calloc(1, sizeof **recs);
        for (int f = 0; f < TS_FIELD_COUNT; f++)
            recs[i]->value[f] = strdup(ts_token_get(t, f));
        plain_put(&by_user, recs[i]->value[TS_FIELD_USER_NAME], recs[i]);
        plain_put(&by_id, recs[i]->value[TS_FIELD_ID], recs[i]);
    }

    /* find_token by user */
    t0 = bench_now_ns();
    for (size_t i = 0; i < iters; i++) {
        bench_user(bench_rand(&seed) % n, key, sizeof key);
        ts_token_clear(t);
        ts_token_set(t, TS_FIELD_USER_NAME, key);
        if (ts_find_token(s, t, &err) != TS_OK)
            bench_die("find_token", &err);
    }
    double ours = (double)(bench_now_ns() - t0) / iters;
    seed = 88172645463325252ULL;
    t0 = bench_now_ns();
    for (size_t i = 0; i < iters; i++) {
        bench_user(bench_rand(&seed) % n, key, sizeof key);
        sink += plain_find_copy(&by_user, key);
    }
    double base = (double)(bench_now_ns() - t0) / iters;
    seed = 88172645463325252ULL;
    t0 = bench_now_ns();
    for (size_t i = 0; i < iters; i++) {
        bench_user(bench_rand(&seed) % n, key, sizeof key);
        sink += (size_t)plain_get(&by_user, key);
    }
    double bare = (double)(bench_now_ns() - t0) / iters;
    bench_report("memory", "find_token by user", n, ours, "hash lookup + copy of 10 values", base);
    bench_report("memory", "find_token by user", n, ours, "bare hash lookup (pointer)", bare);

    /* find_token_by_id */
    t0 = bench_now_ns();
    for (size_t i = 0; i < iters; i++) {
        snprintf(key, sizeof key, "%" PRIu64, bench_rand(&seed) % n + 1);
        if (ts_find_token_by_id(s, key, t, &err) != TS_OK)
            bench_die("find_token_by_id", &err);
    }
    ours = (double)(bench_now_ns() - t0) / iters;
    t0 = bench_now_ns();
    for (size_t i = 0; i < iters; i++) {
        snprintf(key, sizeof key, "%" PRIu64, bench_rand(&seed) % n + 1);
        sink += plain_find_copy(&by_id, key);
    }
    base = (double)(bench_now_ns() - t0) / iters;
    bench_report("memory", "find_token_by_id", n, ours, "hash lookup + copy of 10 values", base);

    /* save_token, update of an existing user's access token */
    t0 = bench_now_ns();
    for (size_t i = 0; i < iters; i++) {
        bench_user(bench_rand(&seed) % n, key, sizeof key);
        ts_token_clear(t);
        ts_token_set(t, TS_FIELD_USER_NAME, key);
        ts_token_set(t, TS_FIELD_ACCESS_TOKEN, "1000.fresh.access.token.value");
        if (ts_save_token(s, t, &err) != TS_OK)
            bench_die("save_token update", &err);
    }
    ours = (double)(bench_now_ns() - t0) / iters;
    t0 = bench_now_ns();
    for (size_t i = 0; i < iters; i++) {
        bench_user(bench_rand(&seed) % n, key, sizeof key);
        struct record *r = plain_get(&by_user, key);
        free(r->value[TS_FIELD_ACCESS_TOKEN]);
        r->value[TS_FIELD_ACCESS_TOKEN] = strdup("1000.fresh.access.token.value");
    }
    base = (double)(bench_now_ns() - t0) / iters;
    bench_report("memory", "save_token (update)", n, ours, "hash lookup + replace 1 value", base);

    /* get_tokens, per token */
    size_t total = 0;
    t0 = bench_now_ns();
    ts_get_tokens(s, walk_cb, &total, &err);
    ours = (double)(bench_now_ns() - t0) / n;
    t0 = bench_now_ns();
    for (size_t i = 0; i < n; i++)
        total += strlen(recs[i]->value[TS_FIELD_ACCESS_TOKEN]);
    base = (double)(bench_now_ns() - t0) / n;
    sink += total;
    bench_report("memory", "get_tokens (per token)", n, ours, "array walk", base);

    /* save_token, insert of new users */
    size_t inserts = n < 10000 ? n : 10000;
    t0 = bench_now_ns();
    for (size_t i = 0; i < inserts; i++) {
        bench_fill_token(t, n + i);
        if (ts_save_token(s, t, &err) != TS_OK)
            bench_die("save_token insert", &err);
    }
    ours = (double)(bench_now_ns() - t0) / inserts;
    t0 = bench_now_ns();
    for (size_t i = 0; i < inserts; i++) {
        struct record *r = calloc(1, sizeof *r);
        bench_fill_token(t, n + i);
        for (int f = 0; f < TS_FIELD_COUNT; f++)
            r->value[f] = strdup(ts_token_get(t, f));
        sink += (size_t)r;
        for (int f = 0; f < TS_FIELD_COUNT; f++)
            free(r->value[f]);
        free(r);
    }
    base = (double)(bench_now_ns() - t0) / inserts;
    bench_report("memory", "save_token (insert)", n, ours, "build + copy a new record", base);

    ts_token_free(t);
    ts_store_close(s);
}

int main(int argc, char **argv)
{
    static const size_t dflt[] = { 100, 10000, 1000000 };
    size_t sizes[8], nsizes = bench_sizes(argc, argv, sizes, 8, dflt, 3);

    for (size_t i = 0; i < nsizes; i++)
        run_size(sizes[i]);
    return 0;
}
