/*
 * tests/redis/test_refused.c - the redis backend against a real
 * redis-server that refuses writes, as one does when it is out of memory
 * (maxmemory with noeviction: OOM), when its last RDB save failed and
 * stop-writes-on-bgsave-error holds (MISCONF), or when too few replicas
 * are connected for min-replicas-to-write (NOREPLICAS).
 *
 * Every write reaches the server as one script, so a refusal either
 * stops it before it writes anything or not at all; each write path must
 * say which: a save (insert or update), save_tokens, delete_token,
 * delete_tokens and the lock the OAuth refresh takes each fail with an
 * error naming the server and the server's reason (or, where Redis lets
 * a delete through on OOM, succeed), a refused write leaves the store as
 * it was, and once the server takes writes again every acknowledged one
 * is there. Then a writer saves and updates tokens while refusals come
 * and go every few milliseconds: whatever it saw acknowledged is stored
 * with its last acknowledged value, nothing refused is, and the store's
 * indexes agree with its tokens (tests/redis/walk.h).
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <hiredis/hiredis.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"
#include "../test_store.h"
#include "server.h"
#include "walk.h"

static struct test_server sv;
static char where[64];            /* "127.0.0.1:PORT", as messages name it */

/* ------------------------------------------------------------------ */
/* Making the server refuse                                            */
/* ------------------------------------------------------------------ */

static void command(redisContext *c, const char *fmt, const char *arg)
{
    redisReply *r = redisCommand(c, fmt, arg);
    ck_assert_msg(r && r->type != REDIS_REPLY_ERROR, "%s: %s", fmt, r ? r->str : c->errstr);
    freeReplyObject(r);
}

/* Waits for the background save started last to end; 1 when it saved. */
static int bgsave_ended_ok(redisContext *c)
{
    for (int i = 0; i < 500; i++) {
        redisReply *r = redisCommand(c, "INFO persistence");
        ck_assert(r && r->type == REDIS_REPLY_STRING);
        int busy = strstr(r->str, "rdb_bgsave_in_progress:1") != NULL;
        int ok = strstr(r->str, "rdb_last_bgsave_status:ok") != NULL;
        freeReplyObject(r);
        if (!busy)
            return ok;
        usleep(20000);
    }
    ck_abort_msg("BGSAVE did not end in 10 s");
    return 0;
}

/* MISCONF: a save point, a directory that is gone when BGSAVE runs. A
 * new one each time: the last one holds the save that ended it. */
static int rdb_dirs;

static void misconf_on(redisContext *c)
{
    char dir[PATH_MAX + 16];

    snprintf(dir, sizeof dir, "%s/rdb%d", sv.dir, ++rdb_dirs);
    ck_assert(mkdir(dir, 0700) == 0);
    command(c, "CONFIG SET dir %s", dir);
    ck_assert(rmdir(dir) == 0);
    command(c, "CONFIG SET save %s", "3600 1");
    command(c, "BGSAVE%s", "");
    ck_assert_msg(!bgsave_ended_ok(c), "BGSAVE into a removed directory succeeded");
}

static void misconf_off(redisContext *c)
{
    char dir[PATH_MAX + 16];

    snprintf(dir, sizeof dir, "%s/rdb%d", sv.dir, rdb_dirs);
    ck_assert(mkdir(dir, 0700) == 0);
    command(c, "CONFIG SET dir %s", dir);
    command(c, "BGSAVE%s", "");
    ck_assert(bgsave_ended_ok(c));
    command(c, "CONFIG SET save %s", "");
}

static void oom_on(redisContext *c)
{
    command(c, "CONFIG SET maxmemory %s", "1");
}

static void oom_off(redisContext *c)
{
    command(c, "CONFIG SET maxmemory %s", "0");
}

static void noreplicas_on(redisContext *c)
{
    command(c, "CONFIG SET min-replicas-to-write %s", "1");
}

static void noreplicas_off(redisContext *c)
{
    command(c, "CONFIG SET min-replicas-to-write %s", "0");
}

/* Whatever an earlier test left (it may have failed half-way): writes
 * are taken again. With no save point, a failed RDB save stops none. */
static void accept_writes(redisContext *c)
{
    oom_off(c);
    noreplicas_off(c);
    command(c, "CONFIG SET save %s", "");
}

struct refusal {
    const char *reason;           /* the server's word for it */
    void (*on)(redisContext *c), (*off)(redisContext *c);
    int deletes_pass;             /* Redis lets deletes through (they free memory) */
};

static const struct refusal refusals[] = {
    { "OOM", oom_on, oom_off, 1 },
    { "MISCONF", misconf_on, misconf_off, 0 },
    { "NOREPLICAS", noreplicas_on, noreplicas_off, 0 },
};

/* ------------------------------------------------------------------ */
/* Stores                                                              */
/* ------------------------------------------------------------------ */

/* A store under `prefix`; NULL when it cannot be opened. */
static ts_store *try_open(const char *prefix)
{
    char uri[128];
    ts_store *s;

    snprintf(uri, sizeof uri, "redis://127.0.0.1:%d/0?prefix=%s", sv.port, prefix);
    return ts_store_open(&s, uri, NULL) == TS_OK ? s : NULL;
}

/* The same, emptied. */
static ts_store *open_store(const char *prefix)
{
    ts_store *s = try_open(prefix);
    ts_error err = { 0 };

    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(ts_delete_tokens(s, &err), TS_OK);
    return s;
}

/* A write that the server refused: TS_ERR_BACKEND, naming the server and
 * its reason. */
static void expect_refused(int rc, const ts_error *err, const struct refusal *how,
                           const char *what)
{
    ck_assert_msg(rc == TS_ERR_BACKEND, "%s under %s: %s (%s)", what, how->reason,
                  ts_strerror(rc), err->message);
    ck_assert_msg(strstr(err->message, where) && strstr(err->message, how->reason),
                  "%s under %s: the message names neither %s nor the reason: %s", what,
                  how->reason, where, err->message);
}

/* The stored token of `user`'s expiry_time, or "" when it is not stored. */
static const char *stored_expiry(ts_store *s, const char *user)
{
    static char expiry[32];
    ts_error err = { 0 };
    ts_token *t;
    int rc = find_user(s, user, &t, &err);

    ck_assert_msg(rc == TS_OK || rc == TS_NOT_FOUND, "find %s: %s", user, err.message);
    snprintf(expiry, sizeof expiry, "%s", rc == TS_OK ? ts_token_get(t, TS_FIELD_EXPIRY_TIME) : "");
    ts_token_free(t);
    return expiry;
}

/* The refresh an OAuth client would make of `user`'s token, whose access
 * token has expired: it takes the store's lock first, so a refused lock
 * is its error, and the accounts server (nowhere) is never asked. */
static int refresh(ts_store *s, const char *user, ts_error *err)
{
    ts_oauth *o;
    ts_token *t = ts_token_new();

    ck_assert_int_eq(ts_oauth_new(&o, s, NULL, err), TS_OK);
    ck_assert_int_eq(ts_oauth_set(o, "accounts_url", "http://127.0.0.1:1", err), TS_OK);
    ck_assert_int_eq(ts_oauth_set(o, "retries", "0", err), TS_OK);
    ts_token_set(t, TS_FIELD_USER_NAME, user);
    int rc = ts_oauth_get_access_token(o, t, err);
    ts_token_free(t);
    ts_oauth_free(o);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Each write path, refused                                            */
/* ------------------------------------------------------------------ */

static void each_write_refused(const struct refusal *how)
{
    redisContext *raw = test_server_connect(&sv);
    ts_error err = { 0 };
    ts_token *keep = make_token("keep", "r-keep", "a-keep"), *gone = make_token("gone", "r", "a");

    ck_assert_ptr_nonnull(raw);
    accept_writes(raw);
    ts_store *s = open_store("refused:");
    ts_token_set(keep, TS_FIELD_EXPIRY_TIME, "1000");   /* expired: a refresh is due */
    save_ok(s, keep);
    save_ok(s, gone);
    how->on(raw);

    ts_token *fresh = make_token("fresh", "r-fresh", NULL);
    expect_refused(ts_save_token(s, fresh, &err), &err, how, "an insert");
    ck_assert_str_eq(ts_token_get(fresh, TS_FIELD_ID), "");
    ts_token *update = ts_token_new();
    ts_token_set(update, TS_FIELD_USER_NAME, "keep");
    ts_token_set(update, TS_FIELD_EXPIRY_TIME, "2000");
    expect_refused(ts_save_token(s, update, &err), &err, how, "an update");
    ts_token *many[3] = { make_token("m0", "r0", NULL), make_token("m1", "r1", NULL),
                          make_token("m2", "r2", NULL) };
    expect_refused(ts_save_tokens(s, many, 3, &err), &err, how, "save_tokens");
    for (int i = 0; i < 3; i++)
        ck_assert_str_eq(ts_token_get(many[i], TS_FIELD_ID), "");
    int rc = refresh(s, "keep", &err);
    expect_refused(rc, &err, how, "the refresh's lock");
    ck_assert_msg(strstr(err.message, "lock"), "%s", err.message);
    rc = ts_delete_token(s, ts_token_get(gone, TS_FIELD_ID), &err);
    if (how->deletes_pass)
        ck_assert_msg(rc == TS_OK, "delete under %s: %s", how->reason, err.message);
    else
        expect_refused(rc, &err, how, "delete_token");

    how->off(raw);
    /* Nothing refused was written; what was acknowledged is there. */
    ck_assert_str_eq(stored_expiry(s, "fresh"), "");
    ck_assert_str_eq(stored_expiry(s, "keep"), "1000");
    for (int i = 0; i < 3; i++)
        ck_assert_str_eq(stored_expiry(s, ts_token_get(many[i], TS_FIELD_USER_NAME)), "");
    ck_assert_str_eq(stored_expiry(s, "gone"), how->deletes_pass ? "" : "1893456000000");
    ck_assert_int_eq(check_consistency(raw, "refused:", NULL), how->deletes_pass ? 1 : 2);

    /* delete_tokens last: where Redis lets it through, it empties the store. */
    how->on(raw);
    rc = ts_delete_tokens(s, &err);
    if (how->deletes_pass)
        ck_assert_msg(rc == TS_OK, "delete_tokens under %s: %s", how->reason, err.message);
    else
        expect_refused(rc, &err, how, "delete_tokens");
    how->off(raw);
    ck_assert_uint_eq(count_tokens(s), how->deletes_pass ? 0 : 2);

    for (int i = 0; i < 3; i++)
        ts_token_free(many[i]);
    ts_token_free(update);
    ts_token_free(fresh);
    ts_token_free(keep);
    ts_token_free(gone);
    redisFree(raw);
    ts_store_close(s);
}

START_TEST(test_out_of_memory)
{
    each_write_refused(&refusals[0]);
}
END_TEST

START_TEST(test_failed_rdb_save)
{
    each_write_refused(&refusals[1]);
}
END_TEST

START_TEST(test_too_few_replicas)
{
    each_write_refused(&refusals[2]);
}
END_TEST

/* With wait_replicas, WAIT follows each write in its round trip. A write
 * the server refused wrote nothing, so WAIT's shortfall is not its
 * outcome: the refusal is. */
START_TEST(test_refused_before_wait)
{
    char uri[160];
    ts_store *s;
    ts_error err = { 0 };
    redisContext *raw = test_server_connect(&sv);

    ck_assert_ptr_nonnull(raw);
    accept_writes(raw);
    snprintf(uri, sizeof uri, "redis://127.0.0.1:%d/0?prefix=waiting:&wait_replicas=1"
             "&wait_timeout_ms=200", sv.port);
    ts_store_close(open_store("waiting:"));      /* emptied, without waiting */
    ck_assert_msg(ts_store_open(&s, uri, &err) == TS_OK, "%s", err.message);
    /* A first token, so that an insert's first write is the id counter's
     * INCR (WAIT finds no replica: "may or may not be stored"). */
    ts_token *first = make_token("first", "r", NULL);
    int rc = ts_save_token(s, first, &err);
    ck_assert_msg(rc == TS_OK || rc == TS_ERR_TIMEOUT, "%s", err.message);
    ts_token_free(first);
    noreplicas_on(raw);
    ts_token *fresh = make_token("fresh", "r", NULL);
    expect_refused(ts_save_token(s, fresh, &err), &err, &refusals[2], "an insert, waiting");
    ck_assert_str_eq(ts_token_get(fresh, TS_FIELD_ID), "");
    ts_token *many[2] = { make_token("m0", "r0", NULL), make_token("m1", "r1", NULL) };
    expect_refused(ts_save_tokens(s, many, 2, &err), &err, &refusals[2], "save_tokens, waiting");
    noreplicas_off(raw);
    ck_assert_uint_eq(count_tokens(s), 1);
    for (int i = 0; i < 2; i++)
        ts_token_free(many[i]);
    ts_token_free(fresh);
    redisFree(raw);
    ts_store_close(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Refusals coming and going under a writer                            */
/* ------------------------------------------------------------------ */

enum { WRITES = 1500 };

/* What the writer saw: the expiry each user should have now (0: not
 * stored), and how many writes were acknowledged and refused. */
struct ledger {
    long long expiry[WRITES];
    int acknowledged, refused, other;
    char why[256];
};

/* Inserts user i, then updates user i - 1's expiry if it is stored. It
 * runs in a child of the test: no assertions there. */
static void writer(struct ledger *l)
{
    ts_store *s = try_open("flicker:");
    ts_error err = { 0 };
    char user[32], expiry[32];

    if (!s)
        _exit(3);
    for (int i = 0; i < WRITES; i++) {
        for (int update = 0; update < 2; update++) {
            int u = i - update;
            if (u < 0 || (update && l->expiry[u] == 0))
                continue;
            snprintf(user, sizeof user, "w-%d", u);
            snprintf(expiry, sizeof expiry, "%d", 1000 + i * 2 + update);
            ts_token *t = update ? ts_token_new() : make_token(user, "r", "a");
            ts_token_set(t, TS_FIELD_USER_NAME, user);
            ts_token_set(t, TS_FIELD_EXPIRY_TIME, expiry);
            int rc = ts_save_token(s, t, &err);
            if (rc == TS_OK) {
                l->expiry[u] = atoll(expiry);
                l->acknowledged++;
            } else if (rc == TS_ERR_BACKEND && strstr(err.message, where)) {
                l->refused++;
            } else {
                l->other++;
                snprintf(l->why, sizeof l->why, "%.200s", err.message);
            }
            ts_token_free(t);
        }
    }
    ts_store_close(s);
}

START_TEST(test_refusals_come_and_go)
{
    redisContext *raw = test_server_connect(&sv);
    struct ledger *l = mmap(NULL, sizeof *l, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int status;

    ck_assert_ptr_nonnull(raw);
    accept_writes(raw);
    ts_store *s = open_store("flicker:");
    ck_assert(l != MAP_FAILED);
    memset(l, 0, sizeof *l);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        writer(l);
        _exit(0);
    }
    for (int i = 0; waitpid(pid, &status, WNOHANG) == 0; i++) {
        const struct refusal *how = &refusals[i % 2 ? 0 : 2];   /* OOM, NOREPLICAS */
        how->on(raw);
        usleep(3000);
        how->off(raw);
        usleep(3000);
    }
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_msg(l->other == 0, "%d writes failed otherwise: %s", l->other, l->why);
    ck_assert_msg(l->acknowledged > 100 && l->refused > 100, "%d acknowledged, %d refused: "
                  "the refusals did not come and go under the writer", l->acknowledged,
                  l->refused);
    size_t stored = 0;
    for (int u = 0; u < WRITES; u++) {
        char user[32], expiry[32] = "";
        snprintf(user, sizeof user, "w-%d", u);
        if (l->expiry[u])
            snprintf(expiry, sizeof expiry, "%lld", l->expiry[u]);
        ck_assert_msg(strcmp(stored_expiry(s, user), expiry) == 0,
                      "%s: stored with expiry '%s', acknowledged '%s'", user,
                      stored_expiry(s, user), expiry);
        stored += l->expiry[u] != 0;
    }
    ck_assert_int_eq(check_consistency(raw, "flicker:", NULL), (long long)stored);
    munmap(l, sizeof *l);
    redisFree(raw);
    ts_store_close(s);
}
END_TEST

static Suite *refused_suite(void)
{
    Suite *s = suite_create("redis-refused");
    TCase *tc = tcase_create("refused");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_out_of_memory);
    tcase_add_test(tc, test_failed_rdb_save);
    tcase_add_test(tc, test_too_few_replicas);
    tcase_add_test(tc, test_refused_before_wait);
    tcase_add_test(tc, test_refusals_come_and_go);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (!test_servers_init()) {
        puts("Bail out! tests/redis/server.sh not found (set top_srcdir)");
        return 99;
    }
    /* CONFIG SET dir (for MISCONF) is a protected config. */
    if (!test_server_start(&sv, NULL, "--enable-protected-configs local")) {
        puts("Bail out! redis-server could not be started");
        return 99;
    }
    snprintf(where, sizeof where, "127.0.0.1:%d", sv.port);
    return run_suite(refused_suite());
}
