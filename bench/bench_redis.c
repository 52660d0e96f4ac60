/*
 * bench/bench_redis.c - the redis backend against raw round trips to the
 * same server in the same run.
 *
 * The server is the one on 127.0.0.1:$BENCH_REDIS_PORT, else one started
 * here with tests/redis/server.sh (persistence off) and stopped at exit.
 * The store is filled through the backend itself: ts_save_tokens, which
 * the backend turns into its save script run on 256 tokens per EVALSHA
 * (so the fill exercises the same rules and index writes as save_token).
 * Then, with bench_fill_token's tokens:
 *
 *  - find_token by user name (a fresh query token each time, as a caller
 *    would build one) against one raw GET of the same user key over a
 *    plain hiredis TCP connection: the price of one round trip (the
 *    backend's find by user is that GET plus decoding the row copy);
 *  - save_token of an existing user with a new access token and expiry
 *    (what a token refresh writes) against one raw EVALSHA of a script
 *    that returns 1 (the price of one script round trip), and against one
 *    raw EVALSHA of the least script that can write a refresh into this
 *    data model and keep it consistent (read the user's copy of the row,
 *    move the access index entry, update the hash and the copy; no rules,
 *    no checks): the price of the keys a refresh must touch;
 *  - 16 threads, each with its own store, doing find_token: aggregate
 *    operations per second against redis-benchmark's GET at -c 16
 *    (-n 200000) of the same user keys, run here as a child process, in
 *    four alternating rounds;
 *  - over TLS, on a second server whose only port is a TLS one (its
 *    certificates from tests/redis/certs.sh, filled with up to 100,000
 *    tokens): find_token by user against one raw GET of the same user key
 *    over the same kind of connection, the backend's own TLS transport
 *    (plugins/redis/conn.c) driven directly: the price of one TLS round
 *    trip;
 *  - the cost of wait_replicas=1, on a third server with a replica
 *    (10,000 tokens): a refresh save with it against the same save
 *    without it, the difference being WAIT's wait for the replica's
 *    acknowledgement.
 *
 * The sides of each comparison take turns every 10 operations, so the
 * load of a shared machine, which moves a round trip by tens of percent
 * within a second, falls on all alike. Each side draws its own random
 * keys: at a million tokens a key that is not in the CPU cache costs the
 * server several microseconds, and a side that followed another onto the
 * same keys would find them warm. Under each latency line the server's
 * own time per redis_call (INFO commandstats) shows how much of the difference
 * is work inside Redis rather than in the client or on the wire.
 *
 * Usage: bench_redis [SIZE...]   (default 1000000)
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <hiredis/hiredis.h>
#include "bench.h"
#include "../plugins/redis/conn.h"

enum { BLOCK = 10, OPS = 30000, THREADS = 16, THREAD_OPS = 200000, THREAD_ROUNDS = 4,
       FILL_CHUNK = 8192, TLS_FILL = 100000, WAIT_FILL = 10000, WAIT_OPS = 5000 };

/* The servers this run started: the plain one, the TLS one, and the
 * master and replica of the wait_replicas bench. */
enum { PLAIN, TLS, MASTER, REPLICA, SERVERS };
static char server_dir[SERVERS][PATH_MAX], certs_dir[PATH_MAX];
static int port;
static volatile size_t sink;

/* ------------------------------------------------------------------ */
/* The server                                                          */
/* ------------------------------------------------------------------ */

static void stop_servers(void)
{
    char cmd[PATH_MAX * (SERVERS * 2 + 1)];
    const char *src = getenv("top_srcdir");

    for (int i = 0; i < SERVERS; i++) {
        if (!server_dir[i][0])
            continue;
        snprintf(cmd, sizeof cmd, "sh '%s/tests/redis/server.sh' stop '%s'; rm -rf '%s'",
                 src ? src : ".", server_dir[i], server_dir[i]);
        if (system(cmd) != 0)
            fprintf(stderr, "bench: could not stop the server in %s\n", server_dir[i]);
        server_dir[i][0] = '\0';
    }
    if (certs_dir[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", certs_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench: could not remove %s\n", certs_dir);
        certs_dir[0] = '\0';
    }
}

/* [env] tests/redis/server.sh start DIR [args]: the port, 0 on failure. */
static int start_server_as(int which, const char *env, const char *args)
{
    char cmd[PATH_MAX * 3 + 256], line[32] = "";
    const char *src = getenv("top_srcdir");
    static int registered;

    snprintf(server_dir[which], sizeof server_dir[which], "%s/bench-redis.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(server_dir[which]))
        return 0;
    if (!registered++)
        atexit(stop_servers);
    snprintf(cmd, sizeof cmd, "%s sh '%s/tests/redis/server.sh' start '%s' %s", env,
             src ? src : ".", server_dir[which], args);
    FILE *p = popen(cmd, "r");
    if (!p || !fgets(line, sizeof line, p))
        line[0] = '\0';
    if (p && pclose(p) != 0)
        line[0] = '\0';
    return atoi(line);
}

static int start_server(void)
{
    return start_server_as(PLAIN, "", "");
}

static redisContext *raw_connect(void)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    if (!c || c->err) {
        fprintf(stderr, "bench: cannot connect to 127.0.0.1:%d\n", port);
        exit(1);
    }
    return c;
}

/* The store on port p: scheme "redis" or "rediss", more options in
 * `query` ("&key=value..."). */
static ts_store *open_store_at(const char *scheme, int p, const char *query)
{
    char uri[PATH_MAX * 4];
    ts_store *s;
    ts_error err;

    snprintf(uri, sizeof uri, "%s://127.0.0.1:%d/0?prefix=bench:%s", scheme, p, query);
    if (ts_store_open(&s, uri, &err) != TS_OK)
        bench_die("open", &err);
    return s;
}

static ts_store *open_store(void)
{
    return open_store_at("redis", port, "");
}

/* ------------------------------------------------------------------ */
/* Filling                                                             */
/* ------------------------------------------------------------------ */

/* INFO memory's used_memory: what the server's data takes. */
static double used_memory(redisContext *c)
{
    redisReply *r = redisCommand(c, "INFO memory");
    const char *at = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "used_memory:") : NULL;
    double bytes = at ? strtod(at + strlen("used_memory:"), NULL) : 0;

    freeReplyObject(r);
    return bytes;
}

static void fill(ts_store *s, redisContext *c, size_t n)
{
    ts_token *chunk[FILL_CHUNK];
    ts_error err;

    if (ts_delete_tokens(s, &err) != TS_OK)
        bench_die("delete_tokens", &err);
    double before = c ? used_memory(c) : 0;
    uint64_t start = bench_now_ns();
    for (size_t i = 0; i < FILL_CHUNK; i++)
        chunk[i] = ts_token_new();
    for (size_t done = 0; done < n;) {
        size_t k = n - done < FILL_CHUNK ? n - done : FILL_CHUNK;
        for (size_t i = 0; i < k; i++)
            bench_fill_token(chunk[i], done + i);
        if (ts_save_tokens(s, chunk, k, &err) != TS_OK)
            bench_die("save_tokens", &err);
        done += k;
    }
    for (size_t i = 0; i < FILL_CHUNK; i++)
        ts_token_free(chunk[i]);
    printf("redis   filled %zu tokens with ts_save_tokens in %.1f s", n,
           (double)(bench_now_ns() - start) / 1e9);
    if (c)
        printf("; %.0f bytes of server memory per token", (used_memory(c) - before) / (double)n);
    printf("\n");
    fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* One round trip vs. one operation                                    */
/* ------------------------------------------------------------------ */

static uint64_t time_raw_get(redisContext *c, size_t n, size_t ops, uint64_t *rng)
{
    char key[128], user[96];
    uint64_t start = bench_now_ns();

    for (size_t i = 0; i < ops; i++) {
        bench_user(bench_rand(rng) % n, user, sizeof user);
        snprintf(key, sizeof key, "{bench:}user:%s", user);
        redisReply *r = redisCommand(c, "GET %s", key);
        if (!r || r->type != REDIS_REPLY_STRING)
            bench_die("raw GET", NULL);
        sink += r->len;
        freeReplyObject(r);
    }
    return bench_now_ns() - start;
}

static uint64_t time_find(ts_store *s, size_t n, size_t ops, uint64_t *rng)
{
    char user[96];
    ts_token *q = ts_token_new();
    ts_error err;
    uint64_t start = bench_now_ns();

    for (size_t i = 0; i < ops; i++) {
        bench_user(bench_rand(rng) % n, user, sizeof user);
        ts_token_clear(q);
        ts_token_set(q, TS_FIELD_USER_NAME, user);
        if (ts_find_token(s, q, &err) != TS_OK)
            bench_die("find_token", &err);
        sink += strlen(ts_token_get(q, TS_FIELD_ACCESS_TOKEN));
    }
    uint64_t took = bench_now_ns() - start;
    ts_token_free(q);
    return took;
}

/* The least a refresh of user ARGV[1] to access token ARGV[2] and expiry
 * ARGV[3] must do to the store's keys to leave them consistent: the
 * backend's save script does this and, before it, the SDK's rules. */
static const char floor_script[] =
    "local b = '{bench:}'\n"
    "local ukey = b .. 'user:' .. ARGV[1]\n"
    "local copy, f, at = redis.call('GET', ukey), {}, 1\n"
    "for i = 1, 10 do\n"
    "  local colon = string.find(copy, ':', at, true)\n"
    "  local n = tonumber(string.sub(copy, at, colon - 1))\n"
    "  f[i] = string.sub(copy, colon + 1, colon + n)\n"
    "  at = colon + n + 1\n"
    "end\n"
    "local m = string.rep('0', 20 - #f[1]) .. f[1]\n"
    "redis.call('ZREM', b .. 'access:' .. redis.sha1hex(f[6]), m)\n"
    "redis.call('ZADD', b .. 'access:' .. redis.sha1hex(ARGV[2]), 0, m)\n"
    "redis.call('HSET', b .. 'token:' .. f[1], 'access_token', ARGV[2],\n"
    "           'expiry_time', ARGV[3])\n"
    "f[6], f[8] = ARGV[2], ARGV[3]\n"
    "for i = 1, 10 do f[i] = #f[i] .. ':' .. f[i] end\n"
    "redis.call('SET', ukey, table.concat(f))\n"
    "return 1\n";

static void load_script(redisContext *c, const char *source, char sha[41])
{
    redisReply *r = redisCommand(c, "SCRIPT LOAD %s", source);

    if (!r || r->type != REDIS_REPLY_STRING || r->len != 40)
        bench_die("SCRIPT LOAD", NULL);
    memcpy(sha, r->str, 41);
    freeReplyObject(r);
}

static void refresh_of(uint64_t k, size_t i, char *user, char *access)
{
    bench_user(k, user, 96);
    snprintf(access, 64, "1000.%016" PRIx64 ".refreshed%zu", k, i);
}

/* One raw EVALSHA of `return 1` (floor == 0) or of the floor script. */
static uint64_t time_raw_evalsha(redisContext *c, const char *sha, int floor, size_t n,
                                 size_t ops, uint64_t *rng)
{
    char user[96], access[64];
    uint64_t start = bench_now_ns();

    for (size_t i = 0; i < ops; i++) {
        redisReply *r;
        if (floor) {
            refresh_of(bench_rand(rng) % n, i, user, access);
            r = redisCommand(c, "EVALSHA %s 1 {bench:}ids %s %s 1893459600000", sha, user,
                             access);
        } else {
            r = redisCommand(c, "EVALSHA %s 0", sha);
        }
        if (!r || r->type != REDIS_REPLY_INTEGER)
            bench_die("raw EVALSHA", NULL);
        sink += (size_t)r->integer;
        freeReplyObject(r);
    }
    return bench_now_ns() - start;
}

/* A token refresh: the user's new access token and expiry. */
static uint64_t time_save(ts_store *s, size_t n, size_t ops, uint64_t *rng)
{
    char user[96], access[64];
    ts_token *t = ts_token_new();
    ts_error err;
    uint64_t start = bench_now_ns();

    for (size_t i = 0; i < ops; i++) {
        refresh_of(bench_rand(rng) % n, i, user, access);
        ts_token_clear(t);
        ts_token_set(t, TS_FIELD_USER_NAME, user);
        ts_token_set(t, TS_FIELD_ACCESS_TOKEN, access);
        ts_token_set(t, TS_FIELD_EXPIRY_TIME, "1893459600000");
        if (ts_save_token(s, t, &err) != TS_OK)
            bench_die("save_token", &err);
    }
    uint64_t took = bench_now_ns() - start;
    ts_token_free(t);
    return took;
}

/* The server's own count of calls and microseconds spent in a command
 * (INFO commandstats), to tell server time from round-trip time. */
static void server_time(redisContext *c, const char *command, double *calls, double *usec)
{
    char field[64];
    redisReply *r = redisCommand(c, "INFO commandstats");

    *calls = *usec = 0;
    snprintf(field, sizeof field, "cmdstat_%s:calls=", command);
    const char *at = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, field) : NULL;
    if (at && sscanf(at + strlen(field), "%lf,usec=%lf", calls, usec) != 2)
        *calls = *usec = 0;
    freeReplyObject(r);
}

static void bench_find(ts_store *s, redisContext *c, size_t n)
{
    uint64_t ours = 0, raw = 0, rng_ours = 88172645463325252ull, rng_raw = 0x5851F42D4C957F2Dull;
    double get_calls[2], get_usec[2];

    server_time(c, "get", &get_calls[0], &get_usec[0]);
    for (int r = 0; r < OPS / BLOCK; r++) {
        raw += time_raw_get(c, n, BLOCK, &rng_raw);
        ours += time_find(s, n, BLOCK, &rng_ours);
    }
    server_time(c, "get", &get_calls[1], &get_usec[1]);
    bench_report("redis", "find_token by user", n, (double)ours / OPS, "raw GET round trip",
                 (double)raw / OPS);
    /* find by user is itself a GET of the user key, so the GETs counted
     * are both sides'. */
    if (get_calls[1] > get_calls[0])
        printf("redis     (server time per call: GET %.2f us, %.0f calls, both sides)\n",
               (get_usec[1] - get_usec[0]) / (get_calls[1] - get_calls[0]),
               get_calls[1] - get_calls[0]);
}

static void bench_save(ts_store *s, redisContext *c, size_t n)
{
    enum { EMPTY, FLOOR, OURS, SIDES };
    static const char *const what[SIDES] = { "'return 1'", "least refresh", "save" };
    uint64_t took[SIDES] = { 0 }, rng[SIDES] = { 0, 0x9E3779B97F4A7C15ull, 0xD1B54A32D192ED03ull };
    double calls[SIDES][2], usec[SIDES][2];
    char sha[2][41];

    load_script(c, "return 1", sha[EMPTY]);
    load_script(c, floor_script, sha[FLOOR]);
    /* A first round of each alone, for the server's time per call. */
    for (int side = 0; side < SIDES; side++) {
        server_time(c, "evalsha", &calls[side][0], &usec[side][0]);
        if (side == OURS)
            took[side] += time_save(s, n, OPS / 10, &rng[side]);
        else
            took[side] += time_raw_evalsha(c, sha[side], side == FLOOR, n, OPS / 10, &rng[side]);
        server_time(c, "evalsha", &calls[side][1], &usec[side][1]);
    }
    for (int k = 0; k < OPS / BLOCK; k++) {
        took[EMPTY] += time_raw_evalsha(c, sha[EMPTY], 0, n, BLOCK, &rng[EMPTY]);
        took[FLOOR] += time_raw_evalsha(c, sha[FLOOR], 1, n, BLOCK, &rng[FLOOR]);
        took[OURS] += time_save(s, n, BLOCK, &rng[OURS]);
    }
    double per_op[SIDES];
    for (int side = 0; side < SIDES; side++)
        per_op[side] = (double)took[side] / (OPS + OPS / 10);
    bench_report("redis", "save_token (update user)", n, per_op[OURS], "raw EVALSHA round trip",
                 per_op[EMPTY]);
    bench_report("redis", "save_token (update user)", n, per_op[OURS],
                 "raw EVALSHA, least refresh", per_op[FLOOR]);
    printf("redis     (server time per call:");
    for (int side = 0; side < SIDES; side++)
        if (calls[side][1] > calls[side][0])
            printf(" %s %.2f us", what[side],
                   (usec[side][1] - usec[side][0]) / (calls[side][1] - calls[side][0]));
    printf(")\n");
}

/* ------------------------------------------------------------------ */
/* Throughput: 16 threads vs. redis-benchmark -c 16                    */
/* ------------------------------------------------------------------ */

/* The threads take operations BLOCK at a time from one count until
 * THREAD_OPS are done, as redis-benchmark's clients do: a thread the
 * scheduler favoured does more, and none idles while others finish. */
static atomic_size_t ops_taken;

struct worker {
    pthread_t thread;
    ts_store *store;
    size_t n;
    uint64_t seed;
};

static void *find_worker(void *arg)
{
    struct worker *w = arg;

    while (atomic_fetch_add(&ops_taken, BLOCK) < THREAD_OPS)
        time_find(w->store, w->n, BLOCK, &w->seed);
    return NULL;
}

static double our_throughput(struct worker *workers, size_t n)
{
    uint64_t start = bench_now_ns();

    atomic_store(&ops_taken, 0);
    for (int i = 0; i < THREADS; i++) {
        workers[i].n = n;
        pthread_create(&workers[i].thread, NULL, find_worker, &workers[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(workers[i].thread, NULL);
    return (double)THREAD_OPS * 1e9 / (double)(bench_now_ns() - start);
}

/* redis-benchmark's GET of the same user keys find_token reads (-r draws
 * __rand_int__ from 0 to n - 1, as our threads draw users), so both sides
 * ask the server for the same values. With -q it draws progress lines
 * ended by '\r' and ends with "GET ...: N requests per second, ...":
 * read it all, take the number before the last "requests per second". */
static double benchmark_throughput(size_t n)
{
    static const char rps_text[] = " requests per second";
    char cmd[256], *out = NULL, *last = NULL;
    size_t len = 0, cap = 0, got;
    double rps = 0;

    snprintf(cmd, sizeof cmd,
             "redis-benchmark -h 127.0.0.1 -p %d -c %d -n %d -r %zu -q "
             "GET '{bench:}user:user__rand_int__@example.com' 2>&1",
             port, THREADS, THREAD_OPS, n);
    FILE *p = popen(cmd, "r");
    if (!p)
        bench_die("redis-benchmark", NULL);
    do {
        if (len + 4096 + 1 > cap && !(out = realloc(out, cap = cap * 2 + 8192)))
            bench_die("out of memory", NULL);
        got = fread(out + len, 1, 4096, p);
        len += got;
    } while (got > 0);
    out[len] = '\0';
    for (char *at = strstr(out, rps_text); at; at = strstr(at + 1, rps_text))
        last = at;
    while (last && last > out && (last[-1] == '.' || (last[-1] >= '0' && last[-1] <= '9')))
        last--;
    if (last)
        rps = strtod(last, NULL);
    if (pclose(p) != 0 || rps <= 0)
        bench_die("redis-benchmark (is it installed?)", NULL);
    free(out);
    return rps;
}

static void bench_threads(size_t n)
{
    struct worker workers[THREADS];
    double ours = 0, theirs = 0;

    for (int i = 0; i < THREADS; i++) {
        workers[i].store = open_store();
        workers[i].seed = 0x2545F4914F6CDD1Dull + (uint64_t)i * 7919;
    }
    for (int k = 0; k < THREAD_ROUNDS; k++) {
        ours += our_throughput(workers, n) / THREAD_ROUNDS;
        theirs += benchmark_throughput(n) / THREAD_ROUNDS;
    }
    for (int i = 0; i < THREADS; i++)
        ts_store_close(workers[i].store);
    bench_report("redis", "find_token 16 threads", n, 1e9 / ours, "redis-benchmark GET -c 16",
                 1e9 / theirs);
    printf("redis   find_token 16 threads %9zu tokens %11.0f ops/s | redis-benchmark GET -c 16 "
           "%11.0f ops/s | ratio %5.2fx\n", n, ours, theirs, theirs / ours);
    fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* TLS: find by user vs one raw GET over the same transport            */
/* ------------------------------------------------------------------ */

static uint64_t time_tls_get(struct conn *c, size_t n, size_t ops, uint64_t *rng)
{
    char user[96];
    uint64_t start = bench_now_ns();

    for (size_t i = 0; i < ops; i++) {
        char *cmd;
        void *reply;
        bench_user(bench_rand(rng) % n, user, sizeof user);
        int len = redisFormatCommand(&cmd, "GET {bench:}user:%s", user);
        if (len < 0 || redis_conn_write(c, cmd, (size_t)len) != 0 ||
            redis_conn_read_reply(c, &reply) != 0)
            bench_die("raw GET over TLS", NULL);
        redisReply *r = reply;
        if (r->type != REDIS_REPLY_STRING)
            bench_die("raw GET over TLS: no such key", NULL);
        sink += r->len;
        freeReplyObject(r);
        redisFreeCommand(cmd);
    }
    return bench_now_ns() - start;
}

/* A TLS-only server with throwaway certificates; the query that opens a
 * verified store on it. */
static int start_tls_server(char *query, size_t size)
{
    char cmd[PATH_MAX * 2 + 64], env[PATH_MAX + 32];
    const char *src = getenv("top_srcdir");

    snprintf(certs_dir, sizeof certs_dir, "%s/bench-certs.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(certs_dir))
        return 0;
    snprintf(cmd, sizeof cmd, "sh '%s/tests/redis/certs.sh' '%s'", src ? src : ".", certs_dir);
    if (system(cmd) != 0)
        return 0;
    snprintf(env, sizeof env, "TLS_CERTS='%s'", certs_dir);
    snprintf(query, size, "&tls_ca=%s/ca.crt", certs_dir);
    return start_server_as(TLS, env, "--tls-auth-clients no");
}

static void bench_tls(size_t n)
{
    char query[PATH_MAX + 64], ca[PATH_MAX + 16], why[256];
    struct conn_tls *tls;
    int tls_port = start_tls_server(query, sizeof query);

    if (!tls_port)
        bench_die("could not start redis-server with TLS", NULL);
    if (n > TLS_FILL)
        n = TLS_FILL;
    ts_store *s = open_store_at("rediss", tls_port, query);
    fill(s, NULL, n);
    snprintf(ca, sizeof ca, "%s/ca.crt", certs_dir);
    const struct conn_tls_options o = { .ca = ca, .verify = 1 };
    if (redis_conn_tls_new(&tls, &o, why, sizeof why) != 0) {
        fprintf(stderr, "bench: %s\n", why);
        exit(1);
    }
    const struct conn_target t = { .host = "127.0.0.1", .port = tls_port,
                                   .connect_timeout = { 2, 0 }, .command_timeout = { 5, 0 },
                                   .tls = tls };
    struct conn *c = redis_conn_open(&t);
    if (!c || c->err)
        bench_die(c ? c->errstr : "out of memory", NULL);
    uint64_t ours = 0, raw = 0, rng_ours = 88172645463325252ull, rng_raw = 0x5851F42D4C957F2Dull;
    for (int r = 0; r < OPS / BLOCK; r++) {
        raw += time_tls_get(c, n, BLOCK, &rng_raw);
        ours += time_find(s, n, BLOCK, &rng_ours);
    }
    bench_report("redis", "find_token by user, TLS", n, (double)ours / OPS,
                 "raw GET round trip, TLS", (double)raw / OPS);
    redis_conn_close(c);
    redis_conn_tls_free(tls);
    ts_store_close(s);
}

/* ------------------------------------------------------------------ */
/* What wait_replicas=1 costs a save                                   */
/* ------------------------------------------------------------------ */

static void bench_wait(void)
{
    char args[96];
    int master = start_server_as(MASTER, "", "--repl-diskless-sync-delay 0");

    snprintf(args, sizeof args, "--replicaof 127.0.0.1 %d", master);
    if (!master || !start_server_as(REPLICA, "", args))
        bench_die("could not start a master and its replica", NULL);
    ts_store *plain = open_store_at("redis", master, "");
    ts_store *waiting = open_store_at("redis", master, "&wait_replicas=1&wait_timeout_ms=1000");
    fill(plain, NULL, WAIT_FILL);
    uint64_t with = 0, without = 0, rng_with = 0x9E3779B97F4A7C15ull,
             rng_without = 0xD1B54A32D192ED03ull;
    for (int k = 0; k < WAIT_OPS / BLOCK; k++) {
        without += time_save(plain, WAIT_FILL, BLOCK, &rng_without);
        with += time_save(waiting, WAIT_FILL, BLOCK, &rng_with);
    }
    bench_report("redis", "save_token, wait_replicas=1", WAIT_FILL, (double)with / WAIT_OPS,
                 "the same save without it", (double)without / WAIT_OPS);
    ts_store_close(plain);
    ts_store_close(waiting);
}

int main(int argc, char **argv)
{
    const size_t dflt[] = { 1000000 };
    size_t sizes[8];
    size_t nsizes = bench_sizes(argc, argv, sizes, 8, dflt, 1);
    const char *given = getenv("BENCH_REDIS_PORT");

    port = given && *given ? atoi(given) : start_server();
    if (port <= 0) {
        fprintf(stderr, "bench: no redis-server (set BENCH_REDIS_PORT or install redis-server)\n");
        return 1;
    }
    ts_store *s = open_store();
    redisContext *c = raw_connect();
    for (size_t i = 0; i < nsizes; i++) {
        if (sizes[i] == 0)
            continue;
        fill(s, c, sizes[i]);
        bench_find(s, c, sizes[i]);
        bench_save(s, c, sizes[i]);
        bench_threads(sizes[i]);
    }
    if (nsizes > 0 && sizes[nsizes - 1] > 0)
        bench_tls(sizes[nsizes - 1]);
    bench_wait();
    ts_error err;
    if (ts_delete_tokens(s, &err) != TS_OK)
        bench_die("delete_tokens", &err);
    redisFree(c);
    ts_store_close(s);
    return 0;
}
