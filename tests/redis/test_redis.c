/*
 * tests/redis/test_redis.c - the redis backend against real redis-servers.
 *
 * main() starts throwaway servers with tests/redis/server.sh (one open,
 * one with requirepass, three forming a cluster), runs the suite, and
 * stops them from an
 * atexit handler and on SIGINT/SIGTERM, so a failing test never leaves a
 * server behind. Check forks every test; the handler only acts in the
 * process that started the servers.
 *
 * What is checked here and not by the conformance suite: stores with
 * different prefixes or dbs do not see each other; 8 processes saving
 * 1,000 tokens each get 8,000 distinct ids and leave every index key
 * consistent (a Lua walk over all keys of the store, written here
 * independently of the backend's scripts, that also checks each user
 * key's copy of the row field by field against the hash); a changed
 * refresh token leaves no index key behind; find by user sees every
 * update through the copy, and falls back on a bare-id user key; server restarts, a server that is down, timeouts,
 * passwords and ACL users; binary values; ids (explicit, large, ascending
 * walks); bulk saves; no secret in a key name; a store opened on the
 * wrong cluster node follows MOVED to its slot.
 *
 * With TS_REDIS_TLS=1 in the environment (tests/redis/tls.test) the same
 * tests run over TLS: every server's port is a TLS port requiring a client
 * certificate (certificates from tests/redis/certs.sh), every store is
 * opened with the tls options, the tests' own checks go through each
 * server's plain unix socket, and a TLS case checks verification and its
 * errors (client certificate missing, wrong CA, host name mismatch and
 * tls_server_name, an expired certificate, plain against TLS both ways,
 * tls_verify off). The cluster test runs in plain mode only.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <hiredis/hiredis.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"
#include "../test_store.h"
#include "walk.h"

static char server_sh[PATH_MAX];
static char main_dir[PATH_MAX] = "", auth_dir[PATH_MAX] = "";
static int main_port, auth_port;
enum { CLUSTER_NODES = 3 };
static char cluster_dir[CLUSTER_NODES][PATH_MAX];
static int cluster_port[CLUSTER_NODES];
static pid_t owner_pid;
static char certs[PATH_MAX];          /* TLS mode: the certificates; else "" */
enum { NAMED, EXPIRED, PLAIN, TLS_SERVERS };
static char tls_dir[TLS_SERVERS][PATH_MAX];
static int tls_port[TLS_SERVERS];

#define AUTH_PASSWORD "s3cret-Pa55"
#define CLUSTER_ARGS                                                          \
    "--cluster-enabled yes --cluster-config-file nodes.conf "                 \
    "--cluster-node-timeout 2000"

/* ------------------------------------------------------------------ */
/* Servers                                                             */
/* ------------------------------------------------------------------ */

/* server.sh start DIR [args]; returns the port, 0 on failure. `port` 0
 * lets the script choose. */
static int server_start(const char *dir, int port, const char *args)
{
    char cmd[PATH_MAX * 3 + 256], line[64] = "";
    FILE *p;

    /* server.sh makes the port a TLS one when TLS_CERTS names the
     * certificates; "TLS_CERTS=" in args' place asks for a plain one. */
    int plain = args && strncmp(args, "TLS_CERTS= ", 11) == 0;
    snprintf(cmd, sizeof cmd, "%s%s%s%s%.0d sh '%s' start '%s' %s",
             certs[0] && !plain ? "TLS_CERTS='" : "", certs[0] && !plain ? certs : "",
             certs[0] && !plain ? "' " : "", port ? "PORT=" : "", port, server_sh, dir,
             args ? args + (plain ? 11 : 0) : "");
    p = popen(cmd, "r");
    if (!p)
        return 0;
    if (!fgets(line, sizeof line, p))
        line[0] = '\0';
    int status = pclose(p);
    return status == 0 ? atoi(line) : 0;
}

static void server_stop(const char *dir)
{
    char cmd[PATH_MAX * 2 + 64];

    if (!dir[0])
        return;
    snprintf(cmd, sizeof cmd, "sh '%s' stop '%s'", server_sh, dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_redis: could not stop the server in %s\n", dir);
}

static void remove_dir(const char *dir)
{
    char cmd[PATH_MAX + 16];

    if (!dir[0])
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_redis: could not remove %s\n", dir);
}

static void stop_servers(void)
{
    if (getpid() != owner_pid)
        return;
    server_stop(main_dir);
    server_stop(auth_dir);
    remove_dir(main_dir);
    remove_dir(auth_dir);
    main_dir[0] = auth_dir[0] = '\0';
    for (int i = 0; i < CLUSTER_NODES; i++) {
        server_stop(cluster_dir[i]);
        remove_dir(cluster_dir[i]);
        cluster_dir[i][0] = '\0';
    }
    for (int i = 0; i < TLS_SERVERS; i++) {
        server_stop(tls_dir[i]);
        remove_dir(tls_dir[i]);
        tls_dir[i][0] = '\0';
    }
    remove_dir(certs);
    certs[0] = '\0';
}

static void on_signal(int sig)
{
    (void)sig;
    exit(2);                /* runs stop_servers */
}

static int make_server(char *dir, const char *args)
{
    snprintf(dir, PATH_MAX, "%s/tokenstore-redis.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        dir[0] = '\0';
        return 0;
    }
    return server_start(dir, 0, args);
}

static int cluster_ok(int port)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    redisReply *r = c && !c->err ? redisCommand(c, "CLUSTER INFO") : NULL;
    int ok = r && r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok");

    if (r)
        freeReplyObject(r);
    if (c)
        redisFree(c);
    return ok;
}

/* Three masters sharing the 16384 slots, made with redis-cli --cluster. */
static int make_cluster(void)
{
    char cmd[256];
    size_t used;

    for (int i = 0; i < CLUSTER_NODES; i++) {
        cluster_port[i] = make_server(cluster_dir[i], CLUSTER_ARGS);
        if (!cluster_port[i])
            return 0;
    }
    used = (size_t)snprintf(cmd, sizeof cmd, "redis-cli --cluster create");
    for (int i = 0; i < CLUSTER_NODES; i++)
        used += (size_t)snprintf(cmd + used, sizeof cmd - used, " 127.0.0.1:%d", cluster_port[i]);
    snprintf(cmd + used, sizeof cmd - used,
             " --cluster-replicas 0 --cluster-yes >/dev/null 2>&1");
    if (system(cmd) != 0)
        return 0;
    for (int tries = 0; tries < 200; tries++) {
        int ok = 1;
        for (int i = 0; i < CLUSTER_NODES; i++)
            ok = ok && cluster_ok(cluster_port[i]);
        if (ok)
            return 1;
        usleep(50000);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* The tests' own connection to the main server: its unix socket, which
 * stays plain in TLS mode. */
static redisContext *raw_connect(void)
{
    char sock[PATH_MAX + 16];

    snprintf(sock, sizeof sock, "%s/redis.sock", main_dir);
    redisContext *c = redisConnectUnix(sock);
    ck_assert_msg(c && !c->err, "raw connection to %s failed", sock);
    return c;
}

/* "redis://AUTH127.0.0.1:PORT/REST", or in TLS mode the rediss:// form
 * with the certificates. */
static void store_uri(char *buf, size_t size, const char *auth, int port, const char *rest)
{
    if (certs[0])
        snprintf(buf, size, "rediss://%s127.0.0.1:%d/%s&tls_ca=%s/ca.crt&tls_cert=%s/client.crt"
                 "&tls_key=%s/client.key", auth, port, rest, certs, certs, certs);
    else
        snprintf(buf, size, "redis://%s127.0.0.1:%d/%s", auth, port, rest);
}

static int has_option(const char *const *options, const char *key)
{
    for (int i = 0; options[i]; i += 2)
        if (strcmp(options[i], key) == 0)
            return 1;
    return 0;
}

/* Logs of the last store opened, for the tests that read them. */
static char logged[2048];

static void catch_log(void *userdata, int level, const char *message)
{
    (void)userdata;
    (void)level;
    size_t used = strlen(logged);
    snprintf(logged + used, sizeof logged - used, "%s\n", message);
}

/* Opens a store with these options; in TLS mode, over TLS with the
 * client certificate unless the options say anything about tls (or use
 * the unix socket). */
static ts_store *open_with(const char *const *options, ts_error *err)
{
    ts_config *cfg;
    ts_store *store = NULL;
    char ca[PATH_MAX + 16], cert[PATH_MAX + 16], key[PATH_MAX + 16];

    ck_assert_int_eq(ts_config_new(&cfg), TS_OK);
    ck_assert_int_eq(ts_config_set_backend(cfg, "redis", err), TS_OK);
    for (int i = 0; options[i]; i += 2)
        ck_assert_int_eq(ts_config_set_option(cfg, options[i], options[i + 1], err), TS_OK);
    if (certs[0] && !has_option(options, "tls") && !has_option(options, "socket")) {
        snprintf(ca, sizeof ca, "%s/ca.crt", certs);
        snprintf(cert, sizeof cert, "%s/client.crt", certs);
        snprintf(key, sizeof key, "%s/client.key", certs);
        ck_assert_int_eq(ts_config_set_option(cfg, "tls", "on", err), TS_OK);
        ck_assert_int_eq(ts_config_set_option(cfg, "tls_ca", ca, err), TS_OK);
        ck_assert_int_eq(ts_config_set_option(cfg, "tls_cert", cert, err), TS_OK);
        ck_assert_int_eq(ts_config_set_option(cfg, "tls_key", key, err), TS_OK);
    }
    logged[0] = '\0';
    ts_config_set_logger(cfg, catch_log, NULL, TS_LOG_WARN);
    int rc = ts_store_open_config(&store, cfg, err);
    ts_config_free(cfg);
    ck_assert(rc == TS_OK || store == NULL);
    return store;
}

/* A store on the main server under `prefix`, emptied. */
static ts_store *open_prefix(const char *prefix)
{
    char port[16];
    ts_error err = { 0 };

    snprintf(port, sizeof port, "%d", main_port);
    const char *opts[] = { "host", "127.0.0.1", "port", port, "prefix", prefix, NULL };
    ts_store *s = open_with(opts, &err);
    ck_assert_msg(s != NULL, "open: %s", err.message);
    ck_assert_int_eq(ts_delete_tokens(s, &err), TS_OK);
    return s;
}




static int exists(redisContext *c, const char *key)
{
    redisReply *r = redisCommand(c, "EXISTS %s", key);
    ck_assert(r && r->type == REDIS_REPLY_INTEGER);
    int n = (int)r->integer;
    freeReplyObject(r);
    return n;
}

static void sha1_of(redisContext *c, const char *value, char out[41])
{
    redisReply *r = redisCommand(c, "EVAL %s 0 %s", "return redis.sha1hex(ARGV[1])", value);
    ck_assert(r && r->type == REDIS_REPLY_STRING && r->len == 40);
    memcpy(out, r->str, 41);
    freeReplyObject(r);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

START_TEST(test_uri_forms_and_layout)
{
    char uri[PATH_MAX * 4];
    ts_store *tcp, *unix_store;
    ts_error err = { 0 };

    store_uri(uri, sizeof uri, "", main_port, "0?prefix=uri:");
    ck_assert_msg(ts_store_open(&tcp, uri, &err) == TS_OK, "%s", err.message);
    ck_assert_int_eq(ts_delete_tokens(tcp, &err), TS_OK);
    snprintf(uri, sizeof uri, "unix:%s/redis.sock?db=0&prefix=uri:", main_dir);
    ck_assert_msg(ts_store_open(&unix_store, uri, &err) == TS_OK, "%s", err.message);

    ts_token *t = make_token("alice@example.com", "1000.refresh.a", "1000.access.a");
    save_ok(tcp, t);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "1");
    ts_token *found;
    ck_assert_int_eq(find_user(unix_store, "alice@example.com", &found, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(found, TS_FIELD_ID), "1");
    ck_assert_str_eq(ts_token_get(found, TS_FIELD_REFRESH_TOKEN), "1000.refresh.a");
    ck_assert_str_eq(ts_token_get(found, TS_FIELD_EXPIRY_TIME), "1893456000000");
    ck_assert_str_eq(ts_token_get(found, TS_FIELD_GRANT_TOKEN), "");

    /* The documented layout, seen from a plain client. */
    redisContext *c = raw_connect();
    redisReply *r = redisCommand(c, "HGET {uri:}token:1 user_name");
    ck_assert(r && r->type == REDIS_REPLY_STRING);
    ck_assert_str_eq(r->str, "alice@example.com");
    freeReplyObject(r);
    r = redisCommand(c, "GET {uri:}user:alice@example.com");
    ck_assert(r && r->type == REDIS_REPLY_STRING);
    ck_assert_str_eq(r->str, "1:117:alice@example.com11:1000.CLIENT19:client-secret-value"
                             "14:1000.refresh.a13:1000.access.a0:13:18934560000000:0:");
    freeReplyObject(r);
    ck_assert_int_eq(exists(c, "{uri:}token:1"), 1);
    ck_assert_int_eq(check_consistency(c, "uri:", NULL), 1);

    ts_token_free(found);
    ts_token_free(t);
    ts_store_close(tcp);
    ts_store_close(unix_store);
    redisFree(c);
}
END_TEST

START_TEST(test_prefixes_and_dbs_are_isolated)
{
    ts_store *a = open_prefix("iso-a:"), *b = open_prefix("iso-b:");
    ts_error err = { 0 };
    char port[16];

    ts_token *t = make_token("same@example.com", "r-a", "a-a");
    save_ok(a, t);
    ck_assert_int_eq(find_user(b, "same@example.com", NULL, &err), TS_NOT_FOUND);
    ts_token *row = ts_token_new();
    ck_assert_int_eq(ts_find_token_by_id(b, "1", row, &err), TS_NOT_FOUND);
    ck_assert_uint_eq(count_tokens(b), 0);

    /* b numbers its own tokens from 1 and clearing b leaves a alone. */
    ts_token *u = make_token("same@example.com", "r-b", "a-b");
    save_ok(b, u);
    ck_assert_str_eq(ts_token_get(u, TS_FIELD_ID), "1");
    ck_assert_int_eq(ts_delete_tokens(b, &err), TS_OK);
    ck_assert_uint_eq(count_tokens(b), 0);
    ck_assert_uint_eq(count_tokens(a), 1);
    ck_assert_int_eq(ts_find_token_by_id(a, "1", row, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(row, TS_FIELD_REFRESH_TOKEN), "r-a");

    /* Same prefix, another db: another store. */
    snprintf(port, sizeof port, "%d", main_port);
    const char *opts[] = { "port", port, "prefix", "iso-a:", "db", "3", NULL };
    ts_store *a3 = open_with(opts, &err);
    ck_assert_msg(a3 != NULL, "%s", err.message);
    ck_assert_int_eq(find_user(a3, "same@example.com", NULL, &err), TS_NOT_FOUND);
    ck_assert_uint_eq(count_tokens(a3), 0);

    ts_token_free(t);
    ts_token_free(u);
    ts_token_free(row);
    ts_store_close(a);
    ts_store_close(b);
    ts_store_close(a3);
}
END_TEST

enum { WRITERS = 8, SAVES_PER_WRITER = 1000 };

static void writer(int w)
{
    char port[16], user[64], refresh[64], access[64];
    ts_error err = { 0 };

    snprintf(port, sizeof port, "%d", main_port);
    const char *opts[] = { "port", port, "prefix", "multi:", NULL };
    ts_store *s = open_with(opts, &err);
    if (!s)
        _exit(10);
    for (int i = 0; i < SAVES_PER_WRITER; i++) {
        snprintf(user, sizeof user, "w%d-u%d@example.com", w, i);
        snprintf(refresh, sizeof refresh, "1000.refresh.%d.%d", w, i);
        snprintf(access, sizeof access, "1000.access.%d.%d", w, i);
        ts_token *t = make_token(user, refresh, access);
        int rc = ts_save_token(s, t, &err);
        ts_token_free(t);
        if (rc != TS_OK) {
            fprintf(stderr, "writer %d: save %d: %s\n", w, i, err.message);
            _exit(11);
        }
    }
    ts_store_close(s);
    _exit(0);
}

struct ids {
    unsigned char *seen;      /* seen[id] for ids 1..max */
    size_t max, count, distinct, out_of_range;
};

static int collect_id(const ts_token *t, void *ud)
{
    struct ids *ids = ud;
    unsigned long id = strtoul(ts_token_get(t, TS_FIELD_ID), NULL, 10);

    ids->count++;
    if (id == 0 || id > ids->max)
        ids->out_of_range++;
    else if (!ids->seen[id]++)
        ids->distinct++;
    return 0;
}

START_TEST(test_eight_processes_thousand_saves)
{
    ts_store *s = open_prefix("multi:");
    pid_t pids[WRITERS];

    spawn_children(pids, WRITERS, writer);
    wait_children_ok(pids, WRITERS, "writer");

    enum { TOTAL = WRITERS * SAVES_PER_WRITER };
    struct ids ids = { .seen = calloc(TOTAL + 1, 1), .max = TOTAL };
    ts_error err = { 0 };
    ck_assert_int_eq(ts_get_tokens(s, collect_id, &ids, &err), TS_OK);
    ck_assert_uint_eq(ids.count, TOTAL);
    ck_assert_uint_eq(ids.distinct, TOTAL);      /* so exactly 1..8000 */
    ck_assert_uint_eq(ids.out_of_range, 0);
    free(ids.seen);

    ts_token *row;
    ck_assert_int_eq(find_user(s, "w7-u999@example.com", &row, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(row, TS_FIELD_ACCESS_TOKEN), "1000.access.7.999");
    ts_token_free(row);

    redisContext *c = raw_connect();
    long long index_keys;
    ck_assert_int_eq(check_consistency(c, "multi:", &index_keys), TOTAL);
    ck_assert_int_eq(index_keys, 3 * TOTAL);   /* user, refresh, access each */
    redisReply *r = redisCommand(c, "GET {multi:}next_id");
    ck_assert(r && r->type == REDIS_REPLY_STRING);
    ck_assert_str_eq(r->str, "8000");
    freeReplyObject(r);
    redisFree(c);
    ts_store_close(s);
}
END_TEST

START_TEST(test_refresh_change_leaves_no_stale_key)
{
    ts_store *s = open_prefix("rotate:");
    ts_error err = { 0 };
    redisContext *c = raw_connect();
    char old_sha[41], new_sha[41], key[128];

    ts_token *t = make_token("rot@example.com", "1000.refresh.OLD", "1000.access.OLD");
    save_ok(s, t);
    ts_token *u = make_token("rot@example.com", "1000.refresh.NEW", "");
    save_ok(s, u);
    ck_assert_str_eq(ts_token_get(u, TS_FIELD_ID), "1");
    /* The empty access token was filled from the stored row. */
    ck_assert_str_eq(ts_token_get(u, TS_FIELD_ACCESS_TOKEN), "1000.access.OLD");

    sha1_of(c, "1000.refresh.OLD", old_sha);
    sha1_of(c, "1000.refresh.NEW", new_sha);
    snprintf(key, sizeof key, "{rotate:}refresh:%s", old_sha);
    ck_assert_int_eq(exists(c, key), 0);
    snprintf(key, sizeof key, "{rotate:}refresh:%s", new_sha);
    ck_assert_int_eq(exists(c, key), 1);

    /* Finding by the old refresh token (with client credentials) misses. */
    ts_token *q = ts_token_new();
    ts_token_set(q, TS_FIELD_CLIENT_ID, "1000.CLIENT");
    ts_token_set(q, TS_FIELD_CLIENT_SECRET, "client-secret-value");
    ts_token_set(q, TS_FIELD_REFRESH_TOKEN, "1000.refresh.OLD");
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_NOT_FOUND);
    ts_token_set(q, TS_FIELD_REFRESH_TOKEN, "1000.refresh.NEW");
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_USER_NAME), "rot@example.com");

    /* A rename moves the user index too. */
    ts_token *v = ts_token_new();
    ts_token_set(v, TS_FIELD_ID, "1");
    ts_token_set(v, TS_FIELD_USER_NAME, "renamed@example.com");
    ts_token_set(v, TS_FIELD_GRANT_TOKEN, "1000.grant.G");
    save_ok(s, v);
    ck_assert_int_eq(exists(c, "{rotate:}user:rot@example.com"), 0);
    ck_assert_int_eq(exists(c, "{rotate:}user:renamed@example.com"), 1);
    ck_assert_int_eq(check_consistency(c, "rotate:", NULL), 1);

    /* Deleting removes the hash and every index key. */
    ck_assert_int_eq(ts_delete_token(s, "1", &err), TS_OK);
    ck_assert_int_eq(ts_delete_token(s, "1", &err), TS_NOT_FOUND);
    redisReply *r = redisCommand(c, "KEYS {rotate:}*");
    ck_assert(r && r->type == REDIS_REPLY_ARRAY);
    ck_assert_uint_eq(r->elements, 1);            /* only the id counter */
    ck_assert_str_eq(r->element[0]->str, "{rotate:}next_id");
    freeReplyObject(r);

    ts_token_free(t);
    ts_token_free(u);
    ts_token_free(v);
    ts_token_free(q);
    redisFree(c);
    ts_store_close(s);
}
END_TEST

/* The user key holds a copy of the row that find_token reads alone: every
 * write must refresh it, a rename must drop it, and a stray or old-style
 * key must not answer wrong. */
START_TEST(test_user_copy_follows_updates)
{
    ts_store *s = open_prefix("copy:");
    ts_error err = { 0 };
    redisContext *c = raw_connect();
    ts_token *found;

    ts_token *t = make_token("copy@example.com", "1000.refresh.C", "1000.access.C1");
    save_ok(s, t);
    /* A refresh: new access token and expiry, nothing else given. */
    ts_token *u = ts_token_new();
    ts_token_set(u, TS_FIELD_USER_NAME, "copy@example.com");
    ts_token_set(u, TS_FIELD_ACCESS_TOKEN, "1000.access.C2");
    ts_token_set(u, TS_FIELD_EXPIRY_TIME, "1893459600000");
    save_ok(s, u);
    ck_assert_int_eq(find_user(s, "copy@example.com", &found, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(found, TS_FIELD_ACCESS_TOKEN), "1000.access.C2");
    ck_assert_str_eq(ts_token_get(found, TS_FIELD_EXPIRY_TIME), "1893459600000");
    ck_assert_str_eq(ts_token_get(found, TS_FIELD_REFRESH_TOKEN), "1000.refresh.C");
    ts_token_free(found);

    /* A non-key field alone changes (the refresh token is the same). */
    ts_token *v = ts_token_new();
    ts_token_set(v, TS_FIELD_ID, "1");
    ts_token_set(v, TS_FIELD_REFRESH_TOKEN, "1000.refresh.C");
    ts_token_set(v, TS_FIELD_API_DOMAIN, "https://www.zohoapis.eu");
    save_ok(s, v);
    ck_assert_int_eq(find_user(s, "copy@example.com", &found, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(found, TS_FIELD_API_DOMAIN), "https://www.zohoapis.eu");
    ck_assert_str_eq(ts_token_get(found, TS_FIELD_ACCESS_TOKEN), "1000.access.C2");
    ts_token_free(found);
    ck_assert_int_eq(check_consistency(c, "copy:", NULL), 1);

    /* A rename: the old name's key goes, the new one answers. */
    ts_token_clear(v);
    ts_token_set(v, TS_FIELD_ID, "1");
    ts_token_set(v, TS_FIELD_USER_NAME, "moved@example.com");
    ts_token_set(v, TS_FIELD_REFRESH_TOKEN, "1000.refresh.C");
    save_ok(s, v);
    ck_assert_int_eq(exists(c, "{copy:}user:copy@example.com"), 0);
    ck_assert_int_eq(find_user(s, "copy@example.com", NULL, &err), TS_NOT_FOUND);
    ck_assert_int_eq(find_user(s, "moved@example.com", &found, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(found, TS_FIELD_ID), "1");
    ck_assert_str_eq(ts_token_get(found, TS_FIELD_API_DOMAIN), "https://www.zohoapis.eu");
    ts_token_free(found);
    ck_assert_int_eq(check_consistency(c, "copy:", NULL), 1);

    /* A copy under another user's name does not answer for it. */
    redisReply *r = redisCommand(c, "COPY {copy:}user:moved@example.com {copy:}user:x@y");
    ck_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1);
    freeReplyObject(r);
    ck_assert_int_eq(find_user(s, "x@y", NULL, &err), TS_NOT_FOUND);
    r = redisCommand(c, "DEL {copy:}user:x@y");
    freeReplyObject(r);

    /* A bare id (a store written before the copy) still answers, through
     * the hash, and the next change writes the copy. */
    r = redisCommand(c, "SET {copy:}user:moved@example.com 1");
    freeReplyObject(r);
    ck_assert_int_eq(find_user(s, "moved@example.com", &found, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(found, TS_FIELD_ACCESS_TOKEN), "1000.access.C2");
    ts_token_free(found);
    /* ... in a pipelined batch too. */
    ts_token *batch[2] = { ts_token_new(), ts_token_new() };
    int results[2];
    ts_token_set(batch[0], TS_FIELD_USER_NAME, "nobody@example.com");
    ts_token_set(batch[1], TS_FIELD_USER_NAME, "moved@example.com");
    ck_assert_int_eq(ts_find_tokens(s, batch, 2, results, &err), TS_OK);
    ck_assert_int_eq(results[0], TS_NOT_FOUND);
    ck_assert_int_eq(results[1], TS_OK);
    ck_assert_str_eq(ts_token_get(batch[1], TS_FIELD_ACCESS_TOKEN), "1000.access.C2");
    ts_token_free(batch[0]);
    ts_token_free(batch[1]);
    ts_token_clear(u);
    ts_token_set(u, TS_FIELD_USER_NAME, "moved@example.com");
    ts_token_set(u, TS_FIELD_ACCESS_TOKEN, "1000.access.C3");
    save_ok(s, u);
    ck_assert_int_eq(find_user(s, "moved@example.com", &found, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(found, TS_FIELD_ACCESS_TOKEN), "1000.access.C3");
    ts_token_free(found);
    ck_assert_int_eq(check_consistency(c, "copy:", NULL), 1);

    /* Deleting takes the copy with the row. */
    ck_assert_int_eq(ts_delete_token(s, "1", &err), TS_OK);
    ck_assert_int_eq(exists(c, "{copy:}user:moved@example.com"), 0);
    ck_assert_int_eq(find_user(s, "moved@example.com", NULL, &err), TS_NOT_FOUND);

    ts_token_free(t);
    ts_token_free(u);
    ts_token_free(v);
    redisFree(c);
    ts_store_close(s);
}
END_TEST

START_TEST(test_secrets_stay_out_of_key_names)
{
    ts_store *s = open_prefix("nosecret:");
    ts_token *t = make_token("k@example.com", "REFRESHSECRET", "ACCESSSECRET");
    ts_token_set(t, TS_FIELD_GRANT_TOKEN, "GRANTSECRET");
    save_ok(s, t);

    redisContext *c = raw_connect();
    redisReply *r = redisCommand(c, "KEYS {nosecret:}*");
    ck_assert(r && r->type == REDIS_REPLY_ARRAY);
    ck_assert_uint_eq(r->elements, 7);   /* token, ids, next_id, 4 indexes */
    for (size_t i = 0; i < r->elements; i++) {
        ck_assert_ptr_null(strstr(r->element[i]->str, "SECRET"));
        ck_assert_ptr_null(strstr(r->element[i]->str, "client-secret"));
    }
    freeReplyObject(r);
    redisFree(c);
    ts_token_free(t);
    ts_store_close(s);
}
END_TEST

static char *patterned(size_t len, unsigned seed)
{
    char *v = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        v[i] = (char)(1 + (i * 31 + seed) % 255);     /* every byte but NUL */
    v[len] = '\0';
    return v;
}

START_TEST(test_binary_safe_values)
{
    ts_store *s = open_prefix("binary:");
    ts_error err = { 0 };
    const char *user = "we\"ird 'user'\r\n name\twith spaces %s %d $3\r\n*1";
    char *big_access = patterned(65536, 7), *big_refresh = patterned(65536, 11);
    char *big_user = patterned(65536, 13);

    ts_token *t = make_token(user, big_refresh, big_access);
    ts_token_set(t, TS_FIELD_REDIRECT_URL, "https://x/?a=\"b\" c\r\nd");
    save_ok(s, t);

    ts_token *found;
    ck_assert_int_eq(find_user(s, user, &found, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(found, TS_FIELD_ACCESS_TOKEN), big_access);
    ck_assert_str_eq(ts_token_get(found, TS_FIELD_REFRESH_TOKEN), big_refresh);
    ck_assert_str_eq(ts_token_get(found, TS_FIELD_REDIRECT_URL), "https://x/?a=\"b\" c\r\nd");
    ts_token_free(found);

    /* By the 64 KiB access token alone (no client credentials). */
    ts_token *q = ts_token_new();
    ts_token_set(q, TS_FIELD_ACCESS_TOKEN, big_access);
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_USER_NAME), user);
    ts_token_free(q);

    /* A 64 KiB user name is a key name of 64 KiB: fine. */
    ts_token *b = make_token(big_user, "r-big", "a-big");
    save_ok(s, b);
    ck_assert_int_eq(find_user(s, big_user, &found, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(found, TS_FIELD_ID), "2");
    ts_token_free(found);

    redisContext *c = raw_connect();
    ck_assert_int_eq(check_consistency(c, "binary:", NULL), 2);
    redisFree(c);
    free(big_access);
    free(big_refresh);
    free(big_user);
    ts_token_free(t);
    ts_token_free(b);
    ts_store_close(s);
}
END_TEST

static int collect_order(const ts_token *t, void *ud)
{
    char *out = ud;
    strcat(out, ts_token_get(t, TS_FIELD_ID));
    strcat(out, ",");
    return 0;
}

START_TEST(test_ids)
{
    ts_store *s = open_prefix("ids:");
    ts_error err = { 0 };
    char order[512] = "";

    ts_token *a = make_token("a@x", "ra", "aa");
    save_ok(s, a);
    ck_assert_str_eq(ts_token_get(a, TS_FIELD_ID), "1");
    /* An explicit id above the counter pushes the counter up. */
    ts_token *b = make_token("b@x", "rb", "ab");
    ts_token_set(b, TS_FIELD_ID, "99");
    save_ok(s, b);
    ts_token *c = make_token("c@x", "rc", "ac");
    save_ok(s, c);
    ck_assert_str_eq(ts_token_get(c, TS_FIELD_ID), "100");
    /* Ids compare as numbers, up to 2^63 - 1. */
    const char *explicit_ids[] = { "9223372036854775806", "10", "7", NULL };
    for (int i = 0; explicit_ids[i]; i++) {
        char user[32];
        snprintf(user, sizeof user, "e%d@x", i);
        ts_token *e = make_token(user, user, user);
        ts_token_set(e, TS_FIELD_ID, explicit_ids[i]);
        save_ok(s, e);
        ts_token_free(e);
    }
    ck_assert_int_eq(ts_get_tokens(s, collect_order, order, &err), TS_OK);
    ck_assert_str_eq(order, "1,7,10,99,100,9223372036854775806,");
    ts_token *row = ts_token_new();
    ck_assert_int_eq(ts_find_token_by_id(s, "7", row, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(row, TS_FIELD_USER_NAME), "e2@x");

    ts_token *d = make_token("d@x", "rd", "ad");
    save_ok(s, d);
    ck_assert_str_eq(ts_token_get(d, TS_FIELD_ID), "9223372036854775807");
    ts_token *full = make_token("f@x", "rf", "af");
    ck_assert_int_eq(ts_save_token(s, full, &err), TS_ERR_BACKEND);
    ck_assert_ptr_nonnull(strstr(err.message, "no id is left"));
    ck_assert_uint_eq(count_tokens(s), 7);

    /* Ids are never reused while the store has tokens; emptied, it starts
     * again at 1. */
    ck_assert_int_eq(ts_delete_token(s, "100", &err), TS_OK);
    ck_assert_int_eq(ts_delete_tokens(s, &err), TS_OK);
    ck_assert_uint_eq(count_tokens(s), 0);
    ts_token *e = make_token("again@x", "r", "a");
    save_ok(s, e);
    ck_assert_str_eq(ts_token_get(e, TS_FIELD_ID), "1");

    redisContext *rc = raw_connect();
    ck_assert_int_eq(check_consistency(rc, "ids:", NULL), 1);
    redisFree(rc);
    ts_token_free(a);
    ts_token_free(b);
    ts_token_free(c);
    ts_token_free(d);
    ts_token_free(e);
    ts_token_free(full);
    ts_token_free(row);
    ts_store_close(s);
}
END_TEST

/* When the server cannot give an id, the error says why in its words:
 * not "no id is left" for a counter that is not a number or a server out
 * of memory. */
START_TEST(test_id_errors_name_their_cause)
{
    ts_store *s = open_prefix("iderr:");
    redisContext *c = raw_connect();
    ts_error err = { 0 };
    ts_token *a = make_token("a@x", "ra", "aa"), *b = make_token("b@x", "rb", "ab");

    save_ok(s, a);
    freeReplyObject(redisCommand(c, "SET {iderr:}next_id abc"));
    ck_assert_int_eq(ts_save_token(s, b, &err), TS_ERR_CORRUPT);
    ck_assert_msg(strstr(err.message, "{iderr:}next_id holds 'abc', not an id"), "%s",
                  err.message);
    freeReplyObject(redisCommand(c, "SET {iderr:}next_id 1"));

    freeReplyObject(redisCommand(c, "CONFIG SET maxmemory-policy noeviction"));
    freeReplyObject(redisCommand(c, "CONFIG SET maxmemory 1"));
    int rc = ts_save_token(s, b, &err);
    freeReplyObject(redisCommand(c, "CONFIG SET maxmemory 0"));
    ck_assert_int_ne(rc, TS_OK);
    ck_assert_msg(strstr(err.message, "OOM") && !strstr(err.message, "no id is left"), "%s",
                  err.message);
    ck_assert_uint_eq(count_tokens(s), 1);
    save_ok(s, b);
    ck_assert_str_eq(ts_token_get(b, TS_FIELD_ID), "2");

    ts_token_free(a);
    ts_token_free(b);
    redisFree(c);
    ts_store_close(s);
}
END_TEST

START_TEST(test_shared_access_token_and_conflicts)
{
    ts_store *s = open_prefix("rules:");
    ts_error err = { 0 };

    /* Two users share an access token: the lowest id answers, and deleting
     * it leaves the other reachable. */
    ts_token *a = make_token("a@x", "ra", "shared");
    ts_token *b = make_token("b@x", "rb", "shared");
    save_ok(s, a);
    save_ok(s, b);
    ts_token *q = ts_token_new();
    ts_token_set(q, TS_FIELD_ACCESS_TOKEN, "shared");
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_USER_NAME), "a@x");
    ck_assert_int_eq(ts_delete_token(s, "1", &err), TS_OK);
    ts_token_free(q);
    q = ts_token_new();
    ts_token_set(q, TS_FIELD_ACCESS_TOKEN, "shared");
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_USER_NAME), "b@x");

    /* Renaming id 2 to a user stored under id 3 is refused. */
    ts_token *c = make_token("c@x", "rc", "ac");
    save_ok(s, c);
    ts_token *r = ts_token_new();
    ts_token_set(r, TS_FIELD_ID, "2");
    ts_token_set(r, TS_FIELD_USER_NAME, "c@x");
    ts_token_set(r, TS_FIELD_ACCESS_TOKEN, "x");
    ck_assert_int_eq(ts_save_token(s, r, &err), TS_ERR_CONFLICT);
    ck_assert_ptr_nonnull(strstr(err.message, "stored under id 3"));
    /* A new id for a stored user is refused too. */
    ts_token_set(r, TS_FIELD_ID, "50");
    ck_assert_int_eq(ts_save_token(s, r, &err), TS_ERR_CONFLICT);
    ck_assert_ptr_nonnull(strstr(err.message, "matches stored id 3 by user_name"));
    ck_assert_uint_eq(count_tokens(s), 2);

    redisContext *rc = raw_connect();
    ck_assert_int_eq(check_consistency(rc, "rules:", NULL), 2);
    redisFree(rc);
    ts_token_free(a);
    ts_token_free(b);
    ts_token_free(c);
    ts_token_free(q);
    ts_token_free(r);
    ts_store_close(s);
}
END_TEST

START_TEST(test_bulk_save)
{
    enum { N = 700 };
    ts_store *s = open_prefix("bulk:");
    ts_token *tokens[N];
    ts_error err = { 0 };
    char user[32];

    for (int i = 0; i < N; i++) {
        snprintf(user, sizeof user, "bulk%d@x", i);
        tokens[i] = make_token(user, user, user);
    }
    /* Token 650 renames itself onto token 3's user: refused. */
    ts_token_set(tokens[650], TS_FIELD_USER_NAME, "bulk3@x");
    ts_token_set(tokens[650], TS_FIELD_ID, "9000");
    int rc = ts_save_tokens(s, tokens, N, &err);
    ck_assert_int_eq(rc, TS_ERR_CONFLICT);
    ck_assert_msg(strstr(err.message, "token 650") != NULL, "%s", err.message);
    ck_assert_uint_eq(count_tokens(s), 650);
    ck_assert_str_eq(ts_token_get(tokens[649], TS_FIELD_ID), "650");
    ck_assert_str_eq(ts_token_get(tokens[651], TS_FIELD_ID), "");

    redisContext *c = raw_connect();
    ck_assert_int_eq(check_consistency(c, "bulk:", NULL), 650);
    redisFree(c);
    for (int i = 0; i < N; i++)
        ts_token_free(tokens[i]);
    ts_store_close(s);
}
END_TEST

START_TEST(test_server_restart)
{
    ts_store *s = open_prefix("restart:");
    ts_error err = { 0 };

    ts_token *t = make_token("r@x", "rr", "ar");
    save_ok(s, t);
    server_stop(main_dir);
    ck_assert_int_eq(server_start(main_dir, main_port, NULL), main_port);

    /* The new server is empty (no persistence): the old token must not
     * come back from anywhere. */
    int rc = find_user(s, "r@x", NULL, &err);
    if (rc == TS_ERR_CONNECT)
        rc = find_user(s, "r@x", NULL, &err);
    ck_assert_msg(rc == TS_NOT_FOUND, "find after restart: %d %s", rc, err.message);
    /* Scripts are gone too: EVALSHA falls back to EVAL. */
    ts_token *u = make_token("r2@x", "rr2", "ar2");
    save_ok(s, u);
    ck_assert_str_eq(ts_token_get(u, TS_FIELD_ID), "1");

    /* A pipelined batch of finds is replayed once on a new connection. */
    server_stop(main_dir);
    ck_assert_int_eq(server_start(main_dir, main_port, NULL), main_port);
    ts_token *batch[2] = { ts_token_new(), ts_token_new() };
    int found[2];
    ts_token_set(batch[0], TS_FIELD_USER_NAME, "r2@x");
    ts_token_set(batch[1], TS_FIELD_USER_NAME, "r@x");
    rc = ts_find_tokens(s, batch, 2, found, &err);
    ck_assert_msg(rc == TS_OK && found[0] == TS_NOT_FOUND && found[1] == TS_NOT_FOUND,
                  "batch after restart: %d (%d, %d) %s", rc, found[0], found[1], err.message);
    save_ok(s, u);
    rc = ts_find_tokens(s, batch, 2, found, &err);
    ck_assert_msg(rc == TS_OK && found[0] == TS_OK && found[1] == TS_NOT_FOUND,
                  "batch: %d (%d, %d) %s", rc, found[0], found[1], err.message);
    ck_assert_str_eq(ts_token_get(batch[0], TS_FIELD_REFRESH_TOKEN), "rr2");
    ts_token_free(batch[0]);
    ts_token_free(batch[1]);

    /* Restart between two writes: the write notices the closed
     * connection before sending. */
    server_stop(main_dir);
    ck_assert_int_eq(server_start(main_dir, main_port, NULL), main_port);
    ck_assert_int_eq(ts_delete_token(s, "1", &err), TS_NOT_FOUND);
    ts_token *keyless = ts_token_new();
    ts_token_set(keyless, TS_FIELD_REFRESH_TOKEN, "only-a-refresh-token");
    server_stop(main_dir);
    ck_assert_int_eq(server_start(main_dir, main_port, NULL), main_port);
    save_ok(s, keyless);
    ck_assert_uint_eq(count_tokens(s), 1);

    /* Server down: a connection error naming the server; back: works. */
    server_stop(main_dir);
    rc = find_user(s, "r2@x", NULL, &err);
    ck_assert_int_eq(rc, TS_ERR_CONNECT);
    char where[64];
    snprintf(where, sizeof where, "127.0.0.1:%d", main_port);
    ck_assert_msg(strstr(err.message, where) != NULL, "%s", err.message);
    ck_assert_int_eq(server_start(main_dir, main_port, NULL), main_port);
    ck_assert_int_eq(find_user(s, "r2@x", NULL, &err), TS_NOT_FOUND);
    save_ok(s, t);

    ts_token_free(t);
    ts_token_free(u);
    ts_token_free(keyless);
    ts_store_close(s);
}
END_TEST

/* Sends a batch and receives it, waiting on its socket as an event loop
 * would. */
static int send_and_receive(ts_store *s, ts_token **batch, size_t n, int *results,
                            ts_error *err)
{
    int fd, timeout_ms, done = 0, rc = ts_find_tokens_send(s, batch, n, &fd, &timeout_ms, err);

    while (rc == TS_OK && !done) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ck_assert_int_eq(poll(&p, 1, timeout_ms), 1);
        rc = ts_find_tokens_receive(s, batch, n, results, &done, err);
    }
    return rc;
}

/* The halves of ts_find_tokens an event loop uses: the same GETs, each
 * find it cannot settle so (a bare id, a lost connection) answered
 * TS_ERR_UNSUPPORTED for ts_find_token to take over; what it does not
 * send (not by user name, not connected) declined before anything is
 * sent. */
START_TEST(test_find_tokens_halves)
{
    ts_store *s = open_prefix("halves:");
    ts_error err = { 0 };
    ts_token *a = make_token("a@x", "ra", "aa"), *b = make_token("b@x", "rb", "ab");
    ts_token *batch[3] = { ts_token_new(), ts_token_new(), ts_token_new() };
    int results[3], fd, timeout_ms;

    save_ok(s, a);
    save_ok(s, b);
    ts_token_set(batch[0], TS_FIELD_USER_NAME, "b@x");
    if (certs[0]) {
        /* The suite over TLS: a TLS connection is not read by halves. */
        ck_assert_int_eq(ts_find_tokens_send(s, batch, 1, &fd, &timeout_ms, &err),
                         TS_ERR_UNSUPPORTED);
        ck_assert_msg(strstr(err.message, "TLS"), "%s", err.message);
        for (int i = 0; i < 3; i++)
            ts_token_free(batch[i]);
        ts_token_free(a);
        ts_token_free(b);
        ts_store_close(s);
        return;
    }
    ts_token_set(batch[1], TS_FIELD_USER_NAME, "nobody@x");
    ts_token_set(batch[2], TS_FIELD_USER_NAME, "a@x");
    ck_assert_msg(send_and_receive(s, batch, 3, results, &err) == TS_OK, "%s", err.message);
    ck_assert_int_eq(results[0], TS_OK);
    ck_assert_int_eq(results[1], TS_NOT_FOUND);
    ck_assert_int_eq(results[2], TS_OK);
    ck_assert_str_eq(ts_token_get(batch[0], TS_FIELD_REFRESH_TOKEN), "rb");
    ck_assert_str_eq(ts_token_get(batch[2], TS_FIELD_ID), "1");
    /* The handle goes on as before. */
    ck_assert_int_eq(find_user(s, "b@x", NULL, &err), TS_OK);

    /* Not by user name: declined, nothing sent. */
    ts_token *by_refresh = make_token(NULL, "ra", NULL);
    ts_token_set(by_refresh, TS_FIELD_USER_NAME, NULL);
    ck_assert_int_eq(ts_find_tokens_send(s, &by_refresh, 1, &fd, &timeout_ms, &err),
                     TS_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(err.message, "not by user name"), "%s", err.message);
    ck_assert_int_eq(ts_find_token(s, by_refresh, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(by_refresh, TS_FIELD_USER_NAME), "a@x");

    /* A user key holding a bare id (an older store) needs the find script. */
    redisContext *c = raw_connect();
    redisReply *r = redisCommand(c, "SET {halves:}user:old@x 1");
    freeReplyObject(r);
    ts_token_clear(batch[1]);
    ts_token_set(batch[1], TS_FIELD_USER_NAME, "old@x");
    ck_assert_int_eq(send_and_receive(s, batch, 3, results, &err), TS_ERR_UNSUPPORTED);
    ck_assert_int_eq(results[0], TS_OK);
    ck_assert_int_eq(results[1], TS_ERR_UNSUPPORTED);
    ck_assert_int_eq(results[2], TS_OK);
    ck_assert_msg(strstr(err.message, "find 1"), "%s", err.message);

    /* The server dropped the connection: no answer comes, every find is
     * answered TS_ERR_UNSUPPORTED, and the handle, disconnected, declines
     * the next send until a waiting call has connected it again. */
    r = redisCommand(c, "CLIENT KILL TYPE normal SKIPME yes");
    ck_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer >= 1);
    freeReplyObject(r);
    int rc = send_and_receive(s, batch, 3, results, &err);
    ck_assert_int_eq(rc, TS_ERR_UNSUPPORTED);
    ck_assert_int_eq(results[0], TS_ERR_UNSUPPORTED);
    ck_assert_int_eq(results[2], TS_ERR_UNSUPPORTED);
    ck_assert_int_eq(ts_find_tokens_send(s, batch, 3, &fd, &timeout_ms, &err),
                     TS_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(err.message, "not connected"), "%s", err.message);
    ck_assert_int_eq(ts_find_tokens(s, batch, 3, results, &err), TS_OK);
    /* old@x's bare id names a@x's row: the find script says no. */
    ck_assert_int_eq(results[1], TS_NOT_FOUND);
    ts_token_clear(batch[2]);
    ts_token_set(batch[2], TS_FIELD_USER_NAME, "a@x");
    ck_assert_int_eq(send_and_receive(s, batch + 2, 1, results, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(batch[2], TS_FIELD_ACCESS_TOKEN), "aa");

    /* No command timeout: the answers may take as long as they take. */
    char port[16];
    snprintf(port, sizeof port, "%d", main_port);
    const char *untimed[] = { "port", port, "prefix", "halves:", "command_timeout_ms", "0",
                              NULL };
    ts_store *patient = open_with(untimed, &err);
    ck_assert_msg(patient != NULL, "%s", err.message);
    ck_assert_int_eq(find_user(patient, "a@x", NULL, &err), TS_OK);   /* connects */
    ck_assert_int_eq(ts_find_tokens_send(patient, batch + 2, 1, &fd, &timeout_ms, &err), TS_OK);
    ck_assert_int_eq(timeout_ms, -1);
    ts_store_close(patient);       /* with the batch unanswered */

    /* Other backends decline: the core loops on a thread instead. */
    ts_store *mem;
    ck_assert_int_eq(ts_store_open(&mem, "memory:", &err), TS_OK);
    ck_assert_int_eq(ts_find_tokens_send(mem, batch, 1, &fd, &timeout_ms, &err),
                     TS_ERR_UNSUPPORTED);
    ts_store_close(mem);

    redisFree(c);
    for (int i = 0; i < 3; i++)
        ts_token_free(batch[i]);
    ts_token_free(by_refresh);
    ts_token_free(a);
    ts_token_free(b);
    ts_store_close(s);
}
END_TEST

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;

    ck_assert(fd >= 0);
    ck_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    ck_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

START_TEST(test_server_down_at_open)
{
    char port[16], where[64], sock[PATH_MAX + 32];
    ts_error err = { 0 };
    int p = free_port();

    snprintf(port, sizeof port, "%d", p);
    const char *opts[] = { "host", "127.0.0.1", "port", port, NULL };
    ck_assert_ptr_null(open_with(opts, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONNECT);
    snprintf(where, sizeof where, "127.0.0.1:%d", p);
    ck_assert_msg(strstr(err.message, where) && strstr(err.message, "refused"), "%s",
                  err.message);

    snprintf(sock, sizeof sock, "%s/no-such.sock", main_dir);
    const char *sopts[] = { "socket", sock, NULL };
    ck_assert_ptr_null(open_with(sopts, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONNECT);
    ck_assert_msg(strstr(err.message, sock) != NULL, "%s", err.message);

    const char *both[] = { "socket", sock, "port", port, NULL };
    ck_assert_ptr_null(open_with(both, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONFIG);
    const char *badprefix[] = { "port", port, "prefix", "a}b", NULL };
    ck_assert_ptr_null(open_with(badprefix, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONFIG);

    /* An option that needs another: the first one set is named. */
    const char *no_tls[] = { "port", port, "tls", "off", "tls_key", "/k.pem", NULL };
    ck_assert_ptr_null(open_with(no_tls, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, "option 'tls_key' needs tls on"), "%s", err.message);
    const char *no_sentinels[] = { "tls", "off", "sentinel_user", "u", NULL };
    ck_assert_ptr_null(open_with(no_sentinels, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, "option 'sentinel_user' needs the sentinels option"),
                  "%s", err.message);
}
END_TEST

START_TEST(test_requirepass)
{
    char port[16];
    ts_error err = { 0 };

    snprintf(port, sizeof port, "%d", auth_port);
    const char *right[] = { "port", port, "password", AUTH_PASSWORD, "prefix", "pw:", NULL };
    ts_store *s = open_with(right, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    ck_assert_int_eq(ts_delete_tokens(s, &err), TS_OK);
    ts_token *t = make_token("p@x", "rp", "ap");
    save_ok(s, t);
    ck_assert_int_eq(find_user(s, "p@x", NULL, &err), TS_OK);
    ts_store_close(s);

    const char *wrong[] = { "port", port, "password", "not-the-password", NULL };
    ck_assert_ptr_null(open_with(wrong, &err));
    ck_assert_int_eq(err.code, TS_ERR_AUTH);
    ck_assert_ptr_nonnull(strstr(err.message, "authentication"));
    ck_assert_ptr_null(strstr(err.message, "not-the-password"));

    const char *none[] = { "port", port, NULL };
    ck_assert_ptr_null(open_with(none, &err));
    ck_assert_int_eq(err.code, TS_ERR_AUTH);
    ck_assert_ptr_nonnull(strstr(err.message, "password"));

    char uri[PATH_MAX * 4];
    store_uri(uri, sizeof uri, ":" AUTH_PASSWORD "@", auth_port, "0?prefix=pw:");
    ck_assert_msg(ts_store_open(&s, uri, &err) == TS_OK, "%s", err.message);
    ck_assert_int_eq(find_user(s, "p@x", NULL, &err), TS_OK);
    ts_store_close(s);
    ts_token_free(t);
}
END_TEST

START_TEST(test_acl_user)
{
    char port[16], uri[PATH_MAX * 4];
    ts_error err = { 0 };
    redisContext *c = raw_connect();
    redisReply *r = redisCommand(c, "ACL SETUSER tsworker on >worker-pw ~{acl:}* +@all");
    ck_assert(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);

    snprintf(port, sizeof port, "%d", main_port);
    const char *right[] = { "port", port, "username", "tsworker", "password", "worker-pw",
                            "prefix", "acl:", NULL };
    ts_store *s = open_with(right, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    ck_assert_int_eq(ts_delete_tokens(s, &err), TS_OK);
    ts_token *t = make_token("acl@x", "ra", "aa");
    save_ok(s, t);
    ts_store_close(s);

    store_uri(uri, sizeof uri, "tsworker:worker-pw@", main_port, "0?prefix=acl:");
    ck_assert_msg(ts_store_open(&s, uri, &err) == TS_OK, "%s", err.message);
    ck_assert_int_eq(find_user(s, "acl@x", NULL, &err), TS_OK);
    ts_store_close(s);

    /* The ACL keeps this user to its own prefix: a clear auth error. */
    const char *other[] = { "port", port, "username", "tsworker", "password", "worker-pw",
                            "prefix", "elsewhere:", NULL };
    s = open_with(other, &err);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(find_user(s, "acl@x", NULL, &err), TS_ERR_AUTH);
    ck_assert_ptr_nonnull(strstr(err.message, "NOPERM"));
    ts_store_close(s);

    const char *unknown[] = { "port", port, "username", "nobody", "password", "pw-of-nobody",
                              NULL };
    ck_assert_ptr_null(open_with(unknown, &err));
    ck_assert_int_eq(err.code, TS_ERR_AUTH);
    ck_assert_msg(strstr(err.message, "user 'nobody'") != NULL, "%s", err.message);
    ck_assert_ptr_null(strstr(err.message, "pw-of-nobody"));

    const char *wrong[] = { "port", port, "username", "tsworker", "password", "bad-pw", NULL };
    ck_assert_ptr_null(open_with(wrong, &err));
    ck_assert_int_eq(err.code, TS_ERR_AUTH);
    ck_assert_ptr_null(strstr(err.message, "bad-pw"));

    r = redisCommand(c, "ACL DELUSER tsworker");
    freeReplyObject(r);
    redisFree(c);
    ts_token_free(t);
}
END_TEST

START_TEST(test_command_timeout)
{
    char port[16];
    ts_error err = { 0 };

    snprintf(port, sizeof port, "%d", main_port);
    const char *opts[] = { "port", port, "prefix", "slow:", "command_timeout_ms", "200", NULL };
    ts_store *s = open_with(opts, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    ts_token *t = make_token("slow@x", "r", "a");
    save_ok(s, t);

    redisContext *c = raw_connect();
    /* A paused server takes commands but answers none until the pause
     * ends (the pausing client is paused too, so it cannot lift it). */
    redisReply *r = redisCommand(c, "CLIENT PAUSE 1000 ALL");
    ck_assert(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    int64_t start = now_ms();
    int rc = find_user(s, "slow@x", NULL, &err);
    int64_t took = now_ms() - start;
    ck_assert_int_eq(rc, TS_ERR_TIMEOUT);
    ck_assert_msg(took >= 150 && took < 900, "timed out after %lld ms", (long long)took);
    ck_assert_ptr_nonnull(strstr(err.message, "200 ms"));
    while (now_ms() - start < 1150)
        usleep(20000);

    /* The next call connects again and works. */
    ck_assert_int_eq(find_user(s, "slow@x", NULL, &err), TS_OK);
    redisFree(c);
    ts_token_free(t);
    ts_store_close(s);
}
END_TEST

static int count_entries(const char *entry, void *ud)
{
    (void)entry;
    (*(size_t *)ud)++;
    return 0;
}

/* A prefix whose slot the first node does not serve, and that node's
 * port: the store is opened on the wrong node and must follow MOVED. */
static const char *foreign_prefix(redisContext *first, int *owner_port)
{
    static char prefix[32];

    for (int i = 0; i < 100; i++) {
        snprintf(prefix, sizeof prefix, "clu%d:", i);
        redisReply *r = redisCommand(first, "GET {%s}ids", prefix);
        ck_assert_ptr_nonnull(r);
        const char *colon = r->type == REDIS_REPLY_ERROR && strncmp(r->str, "MOVED ", 6) == 0
                                ? strrchr(r->str, ':') : NULL;
        *owner_port = colon ? atoi(colon + 1) : 0;
        freeReplyObject(r);
        if (*owner_port)
            return prefix;
    }
    ck_abort_msg("every tried prefix hashes to the first node");
    return NULL;
}

START_TEST(test_cluster_follows_moved)
{
    char port[16];
    int owner;
    ts_error err = { 0 };
    redisContext *first = redisConnect("127.0.0.1", cluster_port[0]);
    ck_assert(first && !first->err);
    const char *prefix = foreign_prefix(first, &owner);

    snprintf(port, sizeof port, "%d", cluster_port[0]);
    const char *opts[] = { "port", port, "prefix", prefix, NULL };
    ts_store *s = open_with(opts, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    ck_assert_int_eq(ts_delete_tokens(s, &err), TS_OK);
    for (int i = 0; i < 5; i++) {
        char user[32];
        snprintf(user, sizeof user, "cluster%d@x", i);
        ts_token *t = make_token(user, user, user);
        save_ok(s, t);
        ts_token_free(t);
    }
    ts_token *found;
    ck_assert_int_eq(find_user(s, "cluster3@x", &found, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(found, TS_FIELD_ID), "4");
    ts_token_free(found);
    /* A new handle's first call is a pipelined batch: MOVED for each
     * find, which then follow it one by one. */
    ts_store *fresh = open_with(opts, &err);
    ck_assert_msg(fresh != NULL, "%s", err.message);
    ts_token *batch[3] = { ts_token_new(), ts_token_new(), ts_token_new() };
    int results[3];
    ts_token_set(batch[0], TS_FIELD_USER_NAME, "cluster3@x");
    ts_token_set(batch[1], TS_FIELD_USER_NAME, "nobody@x");
    ts_token_set(batch[2], TS_FIELD_USER_NAME, "cluster0@x");
    ck_assert_int_eq(ts_find_tokens(fresh, batch, 3, results, &err), TS_OK);
    ck_assert_int_eq(results[1], TS_NOT_FOUND);
    ck_assert_str_eq(ts_token_get(batch[0], TS_FIELD_ID), "4");
    ck_assert_str_eq(ts_token_get(batch[2], TS_FIELD_ID), "1");
    for (int i = 0; i < 3; i++)
        ts_token_free(batch[i]);
    ts_store_close(fresh);
    /* So does a new handle's first walk of the refresh log (its script;
     * tests/redis/test_notes checks what the log holds). */
    size_t entries = 0;
    fresh = open_with(opts, &err);
    ck_assert_msg(fresh != NULL, "%s", err.message);
    ck_assert_msg(ts_oauth_refresh_log(fresh, count_entries, &entries, &err) == TS_OK, "%s",
                  err.message);
    ck_assert_uint_eq(entries, 0);
    ts_store_close(fresh);
    ck_assert_int_eq(ts_delete_token(s, "2", &err), TS_OK);
    ck_assert_uint_eq(count_tokens(s), 4);

    /* Everything landed on the slot's node, consistent. */
    redisContext *c = redisConnect("127.0.0.1", owner);
    ck_assert(c && !c->err);
    ck_assert_int_eq(check_consistency(c, prefix, NULL), 4);
    redisFree(c);

    /* The slot's node goes away: the first node still sends us there, so
     * the answer is a connection error naming that node. */
    int k = 0;
    while (k < CLUSTER_NODES && cluster_port[k] != owner)
        k++;
    ck_assert_int_lt(k, CLUSTER_NODES);
    server_stop(cluster_dir[k]);
    ck_assert_int_eq(find_user(s, "cluster3@x", NULL, &err), TS_ERR_CONNECT);
    char where[32];
    snprintf(where, sizeof where, "127.0.0.1:%d", owner);
    ck_assert_msg(strstr(err.message, where) != NULL, "%s", err.message);
    /* Back (empty: no persistence), the store works again. */
    ck_assert_int_eq(server_start(cluster_dir[k], owner, CLUSTER_ARGS), owner);
    for (int tries = 0; tries < 200 && !cluster_ok(owner); tries++)
        usleep(50000);
    ck_assert_int_eq(find_user(s, "cluster3@x", NULL, &err), TS_NOT_FOUND);
    ts_token *again = make_token("again@x", "r", "a");
    save_ok(s, again);
    ts_token_free(again);
    ts_store_close(s);
    redisFree(first);
}
END_TEST

START_TEST(test_killed_connection_and_bad_db)
{
    char port[16];
    ts_error err = { 0 };
    ts_store *s = open_prefix("killed:");
    ts_token *t = make_token("k@x", "rk", "ak");
    save_ok(s, t);

    /* The server drops every client: a read retries on a new connection,
     * a write that must not be replayed notices before it is sent. */
    redisContext *c = raw_connect();
    redisReply *r = redisCommand(c, "CLIENT KILL TYPE normal SKIPME yes");
    ck_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer >= 1);
    freeReplyObject(r);
    ck_assert_int_eq(find_user(s, "k@x", NULL, &err), TS_OK);
    r = redisCommand(c, "CLIENT KILL TYPE normal SKIPME yes");
    freeReplyObject(r);
    ts_token *keyless = ts_token_new();
    ts_token_set(keyless, TS_FIELD_REFRESH_TOKEN, "refresh-without-credentials");
    save_ok(s, keyless);
    ck_assert_str_eq(ts_token_get(keyless, TS_FIELD_ID), "2");
    r = redisCommand(c, "CLIENT KILL TYPE normal SKIPME yes");
    freeReplyObject(r);
    ck_assert_int_eq(ts_delete_token(s, "2", &err), TS_OK);
    ck_assert_uint_eq(count_tokens(s), 1);
    redisFree(c);

    /* Reconnecting sends AUTH and SELECT again, then the call itself. */
    snprintf(port, sizeof port, "%d", main_port);
    const char *db2[] = { "port", port, "db", "2", "prefix", "killed:", NULL };
    ts_store *in_db2 = open_with(db2, &err);
    ck_assert_msg(in_db2 != NULL, "%s", err.message);
    ck_assert_int_eq(ts_delete_tokens(in_db2, &err), TS_OK);
    ts_token *t2 = make_token("db2@x", "r2", "a2");
    save_ok(in_db2, t2);
    c = raw_connect();
    r = redisCommand(c, "CLIENT KILL TYPE normal SKIPME yes");
    freeReplyObject(r);
    ck_assert_int_eq(find_user(in_db2, "db2@x", NULL, &err), TS_OK);
    ck_assert_int_eq(find_user(in_db2, "k@x", NULL, &err), TS_NOT_FOUND);
    r = redisCommand(c, "CLIENT KILL TYPE normal SKIPME yes");
    freeReplyObject(r);
    ts_token *t3 = make_token("db2b@x", "r3", "a3");
    save_ok(in_db2, t3);
    ck_assert_str_eq(ts_token_get(t3, TS_FIELD_ID), "2");
    r = redisCommand(c, "SELECT 2");
    freeReplyObject(r);
    ck_assert_int_eq(check_consistency(c, "killed:", NULL), 2);
    redisFree(c);
    ts_token_free(t2);
    ts_token_free(t3);
    ts_store_close(in_db2);

    const char *bad_db[] = { "port", port, "db", "999", NULL };
    ck_assert_ptr_null(open_with(bad_db, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, "db 999") != NULL, "%s", err.message);

    ts_token_free(t);
    ts_token_free(keyless);
    ts_store_close(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* TLS (TS_REDIS_TLS=1)                                                */
/* ------------------------------------------------------------------ */

/* Opens a store on port `port` with these TLS options after tls=on;
 * returns the error code and leaves the message in err (TS_OK: it worked,
 * and a save and a find went through). */
static int try_tls(int port, const char *const *tls_options, ts_error *err)
{
    char p[16];
    const char *opts[24] = { "port", p, "prefix", "tlscase:", "tls", "on",
                             "connect_timeout_ms", "1000" };
    int n = 8;

    snprintf(p, sizeof p, "%d", port);
    for (int i = 0; tls_options[i]; i++)
        opts[n++] = tls_options[i];
    opts[n] = NULL;
    ts_store *s = open_with(opts, err);
    if (!s)
        return err->code;
    ts_token *t = make_token("tls@x", "r-tls", "a-tls");
    int rc = ts_save_token(s, t, err);
    if (rc == TS_OK)
        rc = find_user(s, "tls@x", NULL, err);
    /* A TLS connection is never read by an event loop's halves. */
    int fd, timeout_ms;
    ts_error why = { 0 };
    if (rc == TS_OK)
        ck_assert_int_eq(ts_find_tokens_send(s, &t, 1, &fd, &timeout_ms, &why),
                         TS_ERR_UNSUPPORTED);
    ts_token_free(t);
    ts_store_close(s);
    return rc;
}

#define CERT(name) path_of(name, (char[PATH_MAX + 32]){ 0 })
static const char *path_of(const char *name, char *buf)
{
    snprintf(buf, PATH_MAX + 32, "%s/%s", certs, name);
    return buf;
}

#define ASSERT_FAILS(code, port, opts, ...)                                  \
    do {                                                                      \
        const char *const words_[] = { __VA_ARGS__, NULL };                   \
        char where_[32];                                                      \
        ck_assert_int_eq(try_tls(port, opts, &err), code);                    \
        snprintf(where_, sizeof where_, "127.0.0.1:%d", port);                \
        ck_assert_msg(strstr(err.message, where_), "%s", err.message);       \
        for (int w_ = 0; words_[w_]; w_++)                                    \
            ck_assert_msg(strstr(err.message, words_[w_]), "no '%s' in: %s",  \
                          words_[w_], err.message);                           \
    } while (0)

START_TEST(test_tls_verification)
{
    ts_error err = { 0 };
    const char *ca = CERT("ca.crt"), *cert = CERT("client.crt"), *key = CERT("client.key");

    /* Verified, with the client certificate the server requires; the CA
     * given as a hashed directory works as the file does. */
    const char *good[] = { "tls_ca", ca, "tls_cert", cert, "tls_key", key, NULL };
    ck_assert_msg(try_tls(main_port, good, &err) == TS_OK, "%s", err.message);
    const char *dir[] = { "tls_ca", CERT("ca.d"), "tls_cert", cert, "tls_key", key, NULL };
    ck_assert_msg(try_tls(main_port, dir, &err) == TS_OK, "%s", err.message);

    /* No client certificate: the server's alert, and what to set. */
    const char *no_cert[] = { "tls_ca", ca, NULL };
    ASSERT_FAILS(TS_ERR_CONNECT, main_port, no_cert, "certificate", "tls_cert");

    /* A CA that signed none of it. */
    const char *wrong_ca[] = { "tls_ca", CERT("other-ca.crt"), "tls_cert", cert,
                               "tls_key", key, NULL };
    ASSERT_FAILS(TS_ERR_CONNECT, main_port, wrong_ca, "certificate verify failed", "tls_ca");

    /* A certificate for another name; tls_server_name names it. */
    const char *named[] = { "tls_ca", ca, NULL };
    ASSERT_FAILS(TS_ERR_CONNECT, tls_port[NAMED], named, "not for '127.0.0.1'",
                 "tls_server_name");
    const char *renamed[] = { "tls_ca", ca, "tls_server_name", "redis.tokenstore.test", NULL };
    ck_assert_msg(try_tls(tls_port[NAMED], renamed, &err) == TS_OK, "%s", err.message);
    const char *misnamed[] = { "tls_ca", ca, "tls_server_name", "other.tokenstore.test", NULL };
    ASSERT_FAILS(TS_ERR_CONNECT, tls_port[NAMED], misnamed, "other.tokenstore.test");

    ASSERT_FAILS(TS_ERR_CONNECT, tls_port[EXPIRED], named, "certificate has expired");

    /* TLS to a plain port, plain to a TLS port. */
    ASSERT_FAILS(TS_ERR_CONNECT, tls_port[PLAIN], named, "TLS");
    char p[16];
    snprintf(p, sizeof p, "%d", main_port);
    const char *plain[] = { "port", p, "tls", "off", NULL };
    ck_assert_ptr_null(open_with(plain, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONNECT);
    ck_assert_msg(strstr(err.message, "TLS port"), "%s", err.message);

    /* Verification off: a wrong CA passes, with a warning on every open. */
    const char *unverified[] = { "tls_ca", CERT("other-ca.crt"), "tls_verify", "off",
                                 "tls_cert", cert, "tls_key", key, NULL };
    ck_assert_msg(try_tls(main_port, unverified, &err) == TS_OK, "%s", err.message);
    ck_assert_msg(strstr(logged, "tls_verify is off"), "logged: %s", logged);
    ck_assert_msg(try_tls(main_port, unverified, &err) == TS_OK, "%s", err.message);
    ck_assert_msg(strstr(logged, "tls_verify is off"), "logged: %s", logged);
}
END_TEST

START_TEST(test_tls_option_errors)
{
    ts_error err = { 0 };
    char p[16], sock[PATH_MAX + 16];

    const char *half[] = { "tls_cert", CERT("client.crt"), NULL };
    ck_assert_int_eq(try_tls(main_port, half, &err), TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, "tls_key"), "%s", err.message);
    const char *missing[] = { "tls_ca", CERT("no-such.crt"), NULL };
    ck_assert_int_eq(try_tls(main_port, missing, &err), TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, "no-such.crt"), "%s", err.message);
    const char *not_key[] = { "tls_cert", CERT("client.crt"), "tls_key", CERT("server.key"),
                              NULL };
    ck_assert_int_eq(try_tls(main_port, not_key, &err), TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, "server.key"), "%s", err.message);
    const char *bad_bool[] = { "tls_verify", "maybe", NULL };
    ck_assert_int_eq(try_tls(main_port, bad_bool, &err), TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, "tls_verify"), "%s", err.message);

    snprintf(p, sizeof p, "%d", main_port);
    const char *without_tls[] = { "port", p, "tls", "off", "tls_ca", CERT("ca.crt"), NULL };
    ck_assert_ptr_null(open_with(without_tls, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, "tls_ca"), "%s", err.message);
    snprintf(sock, sizeof sock, "%s/redis.sock", main_dir);
    const char *on_socket[] = { "socket", sock, "tls", "on", NULL };
    ck_assert_ptr_null(open_with(on_socket, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, "unix socket"), "%s", err.message);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *redis_suite(void)
{
    Suite *s = suite_create("redis");
    TCase *tc = tcase_create("redis");

    /* First: test_server_restart, last of the other case, leaves the
     * main server to die with its test process. */
    if (certs[0]) {
        TCase *tls = tcase_create("tls");
        tcase_set_timeout(tls, 120);
        tcase_add_test(tls, test_tls_verification);
        tcase_add_test(tls, test_tls_option_errors);
        suite_add_tcase(s, tls);
    }

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_uri_forms_and_layout);
    tcase_add_test(tc, test_prefixes_and_dbs_are_isolated);
    tcase_add_test(tc, test_eight_processes_thousand_saves);
    tcase_add_test(tc, test_refresh_change_leaves_no_stale_key);
    tcase_add_test(tc, test_user_copy_follows_updates);
    tcase_add_test(tc, test_secrets_stay_out_of_key_names);
    tcase_add_test(tc, test_binary_safe_values);
    tcase_add_test(tc, test_ids);
    tcase_add_test(tc, test_id_errors_name_their_cause);
    tcase_add_test(tc, test_shared_access_token_and_conflicts);
    tcase_add_test(tc, test_bulk_save);
    tcase_add_test(tc, test_server_down_at_open);
    tcase_add_test(tc, test_requirepass);
    tcase_add_test(tc, test_acl_user);
    tcase_add_test(tc, test_command_timeout);
    tcase_add_test(tc, test_killed_connection_and_bad_db);
    if (!certs[0])
        tcase_add_test(tc, test_cluster_follows_moved);
    tcase_add_test(tc, test_find_tokens_halves);
    tcase_add_test(tc, test_server_restart);
    suite_add_tcase(s, tc);
    return s;
}

/* TLS mode: the certificates, made fresh in a directory of their own. */
static int make_certs(void)
{
    char cmd[PATH_MAX * 3];

    snprintf(certs, sizeof certs, "%s/tokenstore-certs.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(certs)) {
        certs[0] = '\0';
        return 0;
    }
    snprintf(cmd, sizeof cmd, "sh '%.*s/certs.sh' '%s'", (int)(strlen(server_sh) - 10),
             server_sh, certs);
    return system(cmd) == 0;
}

/* TLS mode: servers with the wrong name, an expired certificate, and
 * none at all. */
static int make_tls_servers(void)
{
    char named[PATH_MAX * 3], expired[PATH_MAX * 3];

    snprintf(named, sizeof named, "--tls-cert-file %s/named.crt --tls-key-file %s/named.key "
             "--tls-auth-clients no", certs, certs);
    snprintf(expired, sizeof expired, "--tls-cert-file %s/expired.crt --tls-key-file "
             "%s/expired.key --tls-auth-clients no", certs, certs);
    tls_port[NAMED] = make_server(tls_dir[NAMED], named);
    tls_port[EXPIRED] = make_server(tls_dir[EXPIRED], expired);
    tls_port[PLAIN] = make_server(tls_dir[PLAIN], "TLS_CERTS= ");
    return tls_port[NAMED] && tls_port[EXPIRED] && tls_port[PLAIN];
}

int main(void)
{
    const char *srcdir = getenv("top_srcdir");

    snprintf(server_sh, sizeof server_sh, "%s/tests/redis/server.sh", srcdir ? srcdir : ".");
    if (access(server_sh, R_OK) != 0) {
        fprintf(stderr, "test_redis: %s not found (set top_srcdir)\n", server_sh);
        puts("Bail out! tests/redis/server.sh not found");
        return 99;
    }
    owner_pid = getpid();
    atexit(stop_servers);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (getenv("TS_REDIS_TLS") && !make_certs()) {
        puts("Bail out! tests/redis/certs.sh could not make the certificates");
        return 99;
    }
    main_port = make_server(main_dir, NULL);
    auth_port = make_server(auth_dir, "--requirepass " AUTH_PASSWORD);
    if (!main_port || !auth_port || (certs[0] ? !make_tls_servers() : !make_cluster())) {
        fprintf(stderr, "test_redis: could not start redis-server (REDIS_SERVER='%s')\n",
                getenv("REDIS_SERVER") ? getenv("REDIS_SERVER") : "");
        puts("Bail out! redis-server could not be started");
        return 99;
    }

    return run_suite(redis_suite());
}
