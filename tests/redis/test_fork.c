/*
 * tests/redis/test_fork.c - a redis store handle carried across fork(),
 * as a pre-forking server or Python's multiprocessing carries it, and a
 * store dropped whole.
 *
 * A child inherits the parent's socket (and TLS session). The backend's
 * `forked` member lets go of its copy without a word to the server, so
 * the child's first call connects on its own: checked with four children
 * each saving 200 tokens and finding existing users 2,000 times while the
 * parent keeps finding, on a plain and on a TLS server: every save a
 * child saw acknowledged is stored, every find of an existing user finds
 * it, and the server saw exactly one new connection per child, so the
 * parent's connection was never disturbed (a child that wrote on it, or
 * closed it with a TLS close_notify, would have broken it and made the
 * parent connect again). Then a handle with a batch of finds sent by
 * ts_find_tokens_send, its answers waiting in the socket, at the fork:
 * the child neither reads them nor trips on them, and the parent reads
 * them after the child is gone.
 *
 * ts_store_drop removes every key under the store's prefix, counters and
 * locks included, over several SCAN pages, and no key of another prefix,
 * glob characters in the prefix included.
 */
#include <check.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <hiredis/hiredis.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"
#include "../test_store.h"
#include "server.h"
#include "walk.h"

enum { CHILDREN = 4, SAVES = 200, FINDS = 2000, USERS = 50 };

static struct test_server plain_sv, tls_sv;
static char certs[PATH_MAX];

/* ------------------------------------------------------------------ */
/* Stores                                                              */
/* ------------------------------------------------------------------ */

/* A store under `prefix` on the plain server, or over TLS with the
 * client certificate on the TLS one. */
static ts_store *open_store(int tls, const char *prefix)
{
    char port[16], ca[PATH_MAX + 16], cert[PATH_MAX + 16], key[PATH_MAX + 16];
    ts_config *cfg;
    ts_store *store = NULL;
    ts_error err = { 0 };

    snprintf(port, sizeof port, "%d", tls ? tls_sv.port : plain_sv.port);
    snprintf(ca, sizeof ca, "%s/ca.crt", certs);
    snprintf(cert, sizeof cert, "%s/client.crt", certs);
    snprintf(key, sizeof key, "%s/client.key", certs);
    const char *opts[] = { "host", "127.0.0.1", "port", port, "prefix", prefix,
                           "tls", "on", "tls_ca", ca, "tls_cert", cert, "tls_key", key, NULL };
    ck_assert_int_eq(ts_config_new(&cfg), TS_OK);
    ck_assert_int_eq(ts_config_set_backend(cfg, "redis", &err), TS_OK);
    for (int i = 0; opts[i] && (tls || i < 6); i += 2)
        ck_assert_int_eq(ts_config_set_option(cfg, opts[i], opts[i + 1], &err), TS_OK);
    int rc = ts_store_open_config(&store, cfg, &err);
    ts_config_free(cfg);
    ck_assert_msg(rc == TS_OK, "open: %s", err.message);
    return store;
}

/* Saves users NAME-0 .. NAME-(n-1). */
static void save_users(ts_store *s, const char *name, int n)
{
    char user[64], refresh[128];

    for (int i = 0; i < n; i++) {
        snprintf(user, sizeof user, "%s-%d", name, i);
        snprintf(refresh, sizeof refresh, "refresh-of-%s", user);
        ts_token *t = make_token(user, refresh, "access");
        save_ok(s, t);
        ts_token_free(t);
    }
}

/* Finds user and checks the row is that user's; TS_OK, or the code. */
static int find_checked(ts_store *s, const char *user, ts_error *err)
{
    char refresh[128];
    ts_token *q;
    int rc = find_user(s, user, &q, err);

    snprintf(refresh, sizeof refresh, "refresh-of-%s", user);
    if (rc == TS_OK && strcmp(ts_token_get(q, TS_FIELD_REFRESH_TOKEN), refresh) != 0)
        rc = TS_ERR_CORRUPT;
    ts_token_free(q);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Children that use the parent's handle                               */
/* ------------------------------------------------------------------ */

struct report {
    int saved[SAVES];            /* 1: the save returned TS_OK */
    int found, missed, failed;   /* of the finds */
    char why[256];               /* the first failure */
};

/* A child's work on the inherited handle: a save every tenth find. */
static void child_work(ts_store *s, int k, struct report *r)
{
    char user[64], refresh[128];
    ts_error err = { 0 };

    for (int i = 0; i < FINDS; i++) {
        if (i % (FINDS / SAVES) == 0) {
            int j = i / (FINDS / SAVES);
            snprintf(user, sizeof user, "child%d-%d", k, j);
            snprintf(refresh, sizeof refresh, "refresh-of-%s", user);
            ts_token *t = make_token(user, refresh, "access");
            int rc = ts_save_token(s, t, &err);
            r->saved[j] = rc == TS_OK;
            if (rc != TS_OK && !r->why[0])
                snprintf(r->why, sizeof r->why, "save: %.200s", err.message);
            ts_token_free(t);
        }
        snprintf(user, sizeof user, "base-%d", (i * 7 + k) % USERS);
        int rc = find_checked(s, user, &err);
        if (rc == TS_OK)
            r->found++;
        else if (rc == TS_NOT_FOUND)
            r->missed++;
        else
            r->failed++;
        if (rc != TS_OK && !r->why[0])
            snprintf(r->why, sizeof r->why, "find %.60s: %.40s (%.120s)", user,
                     ts_strerror(rc), rc == TS_NOT_FOUND ? "not found" : err.message);
    }
}

static void fork_children_and_find(int tls)
{
    ts_store *s = open_store(tls, "fork:");
    ts_error err = { 0 };
    redisContext *raw = test_server_connect(tls ? &tls_sv : &plain_sv);
    struct report *reports = mmap(NULL, CHILDREN * sizeof *reports, PROT_READ | PROT_WRITE,
                                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t pids[CHILDREN];
    int parent_found = 0, parent_other = 0, running = CHILDREN;

    ck_assert_ptr_nonnull(raw);
    ck_assert(reports != MAP_FAILED);
    memset(reports, 0, CHILDREN * sizeof *reports);
    ck_assert_int_eq(ts_delete_tokens(s, &err), TS_OK);
    save_users(s, "base", USERS);
    long long before = connections_received(raw);

    for (int k = 0; k < CHILDREN; k++) {
        pids[k] = fork();
        ck_assert_int_ge(pids[k], 0);
        if (pids[k] == 0) {
            child_work(s, k, &reports[k]);
            ts_store_close(s);
            _exit(0);
        }
    }
    /* The parent keeps finding on its own connection meanwhile. */
    for (int i = 0; running > 0; i++) {
        char user[64];
        snprintf(user, sizeof user, "base-%d", i % USERS);
        if (find_checked(s, user, &err) == TS_OK)
            parent_found++;
        else
            parent_other++;
        for (int k = 0; k < CHILDREN; k++) {
            int status;
            if (pids[k] > 0 && waitpid(pids[k], &status, WNOHANG) == pids[k]) {
                ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                              "child %d ended with status %d", k, status);
                pids[k] = 0;
                running--;
            }
        }
    }
    for (int k = 0; k < CHILDREN; k++) {
        int saved = 0;
        for (int j = 0; j < SAVES; j++)
            saved += reports[k].saved[j];
        ck_assert_msg(saved == SAVES && reports[k].found == FINDS,
                      "child %d: %d of %d saves acknowledged, %d of %d finds found (%d not "
                      "found, %d failed): %s", k, saved, SAVES, reports[k].found, FINDS,
                      reports[k].missed, reports[k].failed, reports[k].why);
    }
    ck_assert_msg(parent_other == 0, "the parent's finds: %d failed of %d", parent_other,
                  parent_found + parent_other);
    /* One connection per child; none for the parent, whose connection
     * the children never touched. */
    ck_assert_int_eq(connections_received(raw) - before, CHILDREN);
    ck_assert_int_eq(find_checked(s, "base-0", &err), TS_OK);
    ck_assert_int_eq(connections_received(raw) - before, CHILDREN);

    /* Every acknowledged save is stored, with its values. */
    for (int k = 0; k < CHILDREN; k++)
        for (int j = 0; j < SAVES; j++) {
            char user[64];
            snprintf(user, sizeof user, "child%d-%d", k, j);
            ck_assert_msg(find_checked(s, user, &err) == TS_OK, "%s is not stored", user);
        }
    ck_assert_uint_eq(count_tokens(s), USERS + CHILDREN * SAVES);
    munmap(reports, CHILDREN * sizeof *reports);
    redisFree(raw);
    ts_store_close(s);
}

START_TEST(test_fork_plain)
{
    fork_children_and_find(0);
}
END_TEST

START_TEST(test_fork_tls)
{
    fork_children_and_find(1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* A batch of finds in flight at the fork                              */
/* ------------------------------------------------------------------ */

static ts_token *user_query(const char *user)
{
    ts_token *q = ts_token_new();
    ts_token_set(q, TS_FIELD_USER_NAME, user);
    return q;
}

/* The child's side: `close_first` closes the handle at once (the batch
 * still in flight); else it finds on it, sends and reads a batch of its
 * own, and closes. Exits 0 when all went as it should. */
static void batch_child(ts_store *s, int close_first)
{
    ts_error err = { 0 };
    ts_token *mine[2] = { user_query("batch-1"), user_query("nobody") };
    int results[2], fd, timeout_ms, done = 0;

    if (close_first) {
        ts_store_close(s);
        _exit(0);
    }
    if (find_checked(s, "batch-2", &err) != TS_OK)
        _exit(10);
    /* The parent's batch is not the child's to read. */
    if (ts_find_tokens_receive(s, mine, 2, results, &done, &err) != TS_ERR_INVALID)
        _exit(11);
    if (ts_find_tokens_send(s, mine, 2, &fd, &timeout_ms, &err) != TS_OK)
        _exit(12);
    while (!done) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, timeout_ms) != 1 ||
            ts_find_tokens_receive(s, mine, 2, results, &done, &err) != TS_OK)
            _exit(13);
    }
    if (results[0] != TS_OK || results[1] != TS_NOT_FOUND ||
        strcmp(ts_token_get(mine[0], TS_FIELD_REFRESH_TOKEN), "refresh-of-batch-1") != 0)
        _exit(14);
    ts_store_close(s);
    _exit(0);
}

START_TEST(test_fork_with_batch_in_flight)
{
    ts_store *s = open_store(0, "forkbatch:");
    ts_error err = { 0 };
    redisContext *raw = test_server_connect(&plain_sv);
    ts_token *batch[3] = { user_query("batch-0"), user_query("batch-2"), user_query("none") };
    int results[3], fd, timeout_ms, done = 0;

    ck_assert_ptr_nonnull(raw);
    ck_assert_int_eq(ts_delete_tokens(s, &err), TS_OK);
    save_users(s, "batch", 3);
    long long before = connections_received(raw);
    for (int close_first = 1; close_first >= 0; close_first--) {
        for (int i = 0; i < 3; i++)
            ts_token_set(batch[i], TS_FIELD_REFRESH_TOKEN, NULL);
        ck_assert_int_eq(ts_find_tokens_send(s, batch, 3, &fd, &timeout_ms, &err), TS_OK);
        /* The answers are in the socket when the child is made. */
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ck_assert_int_eq(poll(&p, 1, 5000), 1);
        usleep(20000);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            batch_child(s, close_first);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "the child (close_first %d) ended with status %d", close_first, status);
        done = 0;
        while (!done) {
            ck_assert_int_eq(poll(&p, 1, timeout_ms), 1);
            ck_assert_msg(ts_find_tokens_receive(s, batch, 3, results, &done, &err) == TS_OK,
                          "%s", err.message);
        }
        ck_assert_int_eq(results[0], TS_OK);
        ck_assert_int_eq(results[1], TS_OK);
        ck_assert_int_eq(results[2], TS_NOT_FOUND);
        ck_assert_str_eq(ts_token_get(batch[0], TS_FIELD_REFRESH_TOKEN), "refresh-of-batch-0");
        ck_assert_str_eq(ts_token_get(batch[1], TS_FIELD_REFRESH_TOKEN), "refresh-of-batch-2");
    }
    /* The child that closed at once never connected; the other did. */
    ck_assert_int_eq(connections_received(raw) - before, 1);
    ck_assert_int_eq(find_checked(s, "batch-1", &err), TS_OK);
    ck_assert_int_eq(connections_received(raw) - before, 1);
    for (int i = 0; i < 3; i++)
        ts_token_free(batch[i]);
    redisFree(raw);
    ts_store_close(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Drop                                                                */
/* ------------------------------------------------------------------ */

static long long count_keys(redisContext *c, const char *pattern)
{
    long long n = 0;
    char cursor[32] = "0";

    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        ck_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        n += (long long)r->element[1]->elements;
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return n;
}

static void set_key(redisContext *c, const char *key)
{
    redisReply *r = redisCommand(c, "SET %s x", key);
    ck_assert(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
}

START_TEST(test_drop)
{
    /* Glob characters in the prefix must match only themselves. */
    static const char prefix[] = "dr*p?[x]\\:";
    ts_error err = { 0 };
    redisContext *raw = test_server_connect(&plain_sv);
    ts_store *s = open_store(0, prefix);
    ts_store *other = open_store(0, "drop-other:");

    ck_assert_ptr_nonnull(raw);
    save_users(s, "drop", 1500);               /* several SCAN pages of keys */
    save_users(other, "other", 3);
    /* What delete_tokens leaves: a lock, a stray key of the prefix. */
    set_key(raw, "{dr*p?[x]\\:}lock:oauth:7");
    set_key(raw, "{dr*p?[x]\\:}stray");
    /* Keys the prefix as an unescaped pattern, or without its braces,
     * would take. */
    set_key(raw, "{drop!x:}ids");
    set_key(raw, "{dr*p?[x]\\:}");
    set_key(raw, "dr*p?[x]\\:plain");
    long long all = count_keys(raw, "*");
    long long mine = count_keys(raw, "{dr\\*p\\?\\[x\\]\\\\:}*");
    ck_assert_int_ge(mine, 1500 * 2 + 4);

    ck_assert_int_eq(ts_delete_token(s, "1500", &err), TS_OK);
    ck_assert_msg(ts_store_drop(s, &err) == TS_OK, "%s", err.message);
    ck_assert_int_eq(count_keys(raw, "{dr\\*p\\?\\[x\\]\\\\:}*"), 0);
    ck_assert_int_eq(count_keys(raw, "*"), all - mine);
    ck_assert_uint_eq(count_tokens(other), 3);
    ts_store_close(s);

    /* A new store under the prefix starts from id 1 again: the counter
     * went too. */
    s = open_store(0, prefix);
    ts_token *t = make_token("after-drop", "r", "a");
    save_ok(s, t);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "1");
    ts_token_free(t);
    ts_store_close(s);

    /* A read-only handle drops nothing. */
    char uri[128];
    snprintf(uri, sizeof uri, "redis://127.0.0.1:%d/0?prefix=drop-other:", plain_sv.port);
    ck_assert_int_eq(ts_store_open_flags(&s, uri, TS_OPEN_READ_ONLY, &err), TS_OK);
    ck_assert_int_eq(ts_store_drop(s, &err), TS_ERR_READ_ONLY);
    ts_store_close(s);
    ck_assert_uint_eq(count_tokens(other), 3);
    ts_store_close(other);
    redisFree(raw);
}
END_TEST

static Suite *fork_suite(void)
{
    Suite *s = suite_create("redis-fork");
    TCase *tc = tcase_create("fork");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fork_plain);
    tcase_add_test(tc, test_fork_tls);
    tcase_add_test(tc, test_fork_with_batch_in_flight);
    tcase_add_test(tc, test_drop);
    suite_add_tcase(s, tc);
    return s;
}

static int make_certs(void)
{
    char cmd[PATH_MAX * 3];

    snprintf(certs, sizeof certs, "%s/tokenstore-certs.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(certs))
        return 0;
    snprintf(cmd, sizeof cmd, "sh '%.*s/certs.sh' '%s'", (int)(strlen(test_server_sh) - 10),
             test_server_sh, certs);
    return system(cmd) == 0;
}

static void remove_certs(void)
{
    char cmd[PATH_MAX + 16];

    if (getpid() == test_servers_owner && certs[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", certs);
        if (system(cmd) != 0)
            fprintf(stderr, "test_fork: could not remove %s\n", certs);
    }
}

int main(void)
{
    char env[PATH_MAX + 32];

    if (!test_servers_init()) {
        puts("Bail out! tests/redis/server.sh not found (set top_srcdir)");
        return 99;
    }
    atexit(remove_certs);
    if (!make_certs()) {
        puts("Bail out! tests/redis/certs.sh could not make the certificates");
        return 99;
    }
    snprintf(env, sizeof env, "TLS_CERTS='%s'", certs);
    if (!test_server_start(&plain_sv, NULL, NULL) || !test_server_start(&tls_sv, env, NULL)) {
        puts("Bail out! redis-server could not be started");
        return 99;
    }
    return run_suite(fork_suite());
}
