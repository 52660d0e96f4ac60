/*
 * bench/bench_file.c - the file backend against the memory backend.
 *
 * For each size the token file is written directly (as the SDK would have
 * left it), opened through tokenstore, and timed for find_token by user
 * (random users) and save_token (an update of an existing user, so one
 * rewrite of the file per call). The memory backend, filled with the same
 * tokens in the same run, is the baseline: a find on the file backend
 * answers from the same kind of in-memory table plus the check that the
 * file did not change, so the ratio shows what that check costs.
 */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include "bench.h"

/* The SDK's header and rows; bench tokens need no quoting. */
static void write_csv(const char *path, size_t n)
{
    FILE *fp = fopen(path, "wb");
    ts_token *t = ts_token_new();

    if (!fp || !t) {
        fprintf(stderr, "bench: cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
    fputs("id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,"
          "expiry_time,redirect_url,api_domain\r\n", fp);
    for (size_t i = 0; i < n; i++) {
        bench_fill_token(t, i);
        fprintf(fp, "%zu", i + 1);
        for (int f = 1; f < TS_FIELD_COUNT; f++)
            fprintf(fp, ",%s", ts_token_get(t, (ts_field)f));
        fputs("\r\n", fp);
    }
    ts_token_free(t);
    if (fchmod(fileno(fp), 0600) != 0 || fclose(fp) != 0) {
        fprintf(stderr, "bench: cannot write %s\n", path);
        exit(1);
    }
}

static ts_store *open_file(const char *path)
{
    ts_config *cfg;
    ts_store *s;
    ts_error err;

    if (ts_config_new(&cfg) != TS_OK || ts_config_set_backend(cfg, "file", &err) != TS_OK ||
        ts_config_set_option(cfg, "path", path, &err) != TS_OK ||
        ts_store_open_config(&s, cfg, &err) != TS_OK)
        bench_die("open file store", &err);
    ts_config_free(cfg);
    return s;
}

static ts_store *open_memory(size_t n)
{
    ts_store *s;
    ts_error err;
    ts_token **batch = calloc(n, sizeof *batch);

    if (ts_store_open(&s, "memory:", &err) != TS_OK)
        bench_die("open memory store", &err);
    for (size_t i = 0; i < n; i++) {
        batch[i] = ts_token_new();
        bench_fill_token(batch[i], i);
    }
    if (ts_save_tokens(s, batch, n, &err) != TS_OK)
        bench_die("fill memory store", &err);
    for (size_t i = 0; i < n; i++)
        ts_token_free(batch[i]);
    free(batch);
    return s;
}

/* ns per find_token of a random user. */
static double time_finds(ts_store *s, size_t n, size_t iterations)
{
    uint64_t seed = 0x9E3779B97F4A7C15u;
    ts_token *q = ts_token_new();
    char user[128];
    ts_error err;

    uint64_t start = bench_now_ns();
    for (size_t i = 0; i < iterations; i++) {
        bench_user(bench_rand(&seed) % n, user, sizeof user);
        ts_token_clear(q);
        ts_token_set(q, TS_FIELD_USER_NAME, user);
        if (ts_find_token(s, q, &err) != TS_OK)
            bench_die("find_token", &err);
    }
    uint64_t ns = bench_now_ns() - start;
    ts_token_free(q);
    return (double)ns / (double)iterations;
}

/* ns per save_token updating a random existing user; runs for about
 * budget_ns (at least 5 saves). */
static double time_updates(ts_store *s, size_t n, uint64_t budget_ns, size_t max)
{
    uint64_t seed = 0xD1B54A32D192ED03u;
    ts_token *t = ts_token_new();
    char user[128], access[64];
    ts_error err;
    size_t done = 0;

    uint64_t start = bench_now_ns(), now = start;
    while (done < max && (done < 5 || now - start < budget_ns)) {
        bench_user(bench_rand(&seed) % n, user, sizeof user);
        snprintf(access, sizeof access, "1000.updated.%016zx", done);
        ts_token_clear(t);
        ts_token_set(t, TS_FIELD_USER_NAME, user);
        ts_token_set(t, TS_FIELD_ACCESS_TOKEN, access);
        if (ts_save_token(s, t, &err) != TS_OK)
            bench_die("save_token", &err);
        done++;
        now = bench_now_ns();
    }
    ts_token_free(t);
    return (double)(now - start) / (double)done;
}

int main(int argc, char **argv)
{
    static const size_t dflt[] = { 100, 10000, 100000 };
    size_t sizes[8];
    size_t nsizes = bench_sizes(argc, argv, sizes, 8, dflt, 3);
    char dir[] = "/tmp/bench_file.XXXXXX", path[64], lock[72];

    if (!mkdtemp(dir)) {
        perror("bench: mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/tokens.csv", dir);
    snprintf(lock, sizeof lock, "%s.lock", path);
    for (size_t k = 0; k < nsizes; k++) {
        size_t n = sizes[k];
        write_csv(path, n);
        ts_store *file = open_file(path), *memory = open_memory(n);
        size_t iters = bench_iterations(n);

        double file_ns = time_finds(file, n, iters);
        double memory_ns = time_finds(memory, n, iters);
        bench_report("file", "find_token by user", n, file_ns, "memory find_token", memory_ns);

        double save_ns = time_updates(file, n, 2000000000u, 2000);
        double memory_save_ns = time_updates(memory, n, 200000000u, 200000);
        bench_report("file", "save_token (update)", n, save_ns, "memory save_token",
                     memory_save_ns);
        ts_store_close(file);
        ts_store_close(memory);
    }
    unlink(path);
    unlink(lock);
    rmdir(dir);
    return 0;
}
