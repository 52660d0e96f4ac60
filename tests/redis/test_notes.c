/*
 * tests/redis/test_notes.c - the notes and the refresh log the redis
 * backend keeps beside the tokens (ABI 1.4's note_set, note_get,
 * log_append, log_walk), on a throwaway server (server.h).
 *
 * The four members have no public API (the OAuth client calls them
 * through the core), so the first cases call the backend's table
 * directly (tests/raw_backend.h) and look at the keys with
 * hiredis: a note's ttl is the key's PX, removal
 * deletes it, a buffer too small is an error that leaves it untouched;
 * the log keeps the newest `keep` entries in order, a walk stops where
 * its callback says, pages through a log longer than a page (by count and
 * by bytes) and neither repeats nor skips an entry while appends trim the
 * head under it; a read-only handle on an empty prefix answers "none"
 * and creates no key; the keys are no tokens (get_tokens and
 * delete_tokens pass them by, drop removes them); two processes
 * appending at once lose nothing and the cap holds; with wait_replicas
 * and no replica they are written at once, where a save would wait.
 *
 * What they are for, the OAuth client across processes sharing a redis
 * store, is tests/oauth/test_processes.c (tests/oauth/processes-redis.test).
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <hiredis/hiredis.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"
#include "../test_store.h"
#include "../raw_backend.h"
#include "server.h"

static struct test_server sv;

static const ts_backend *backend(void)
{
    return raw_notes_backend("redis");
}

/* A raw handle on the server under `prefix`, with TS_OPEN_* flags and
 * the option pairs of `more` (may be NULL). */
static void *open_prefix(const char *prefix, unsigned flags, const char *const *more)
{
    char port[16];
    const char *options[] = { "port", port, "prefix", prefix, NULL };

    snprintf(port, sizeof port, "%d", sv.port);
    return raw_open_ok(backend(), flags, options, more);
}

/* A walk's entries, joined by ',' (for short logs), and how many. */
struct walked {
    char joined[4096];
    int n;
};

static int collect_entry(const char *entry, void *ud)
{
    struct walked *w = ud;
    size_t used = strlen(w->joined);

    snprintf(w->joined + used, sizeof w->joined - used, "%s%s", w->n++ ? "," : "", entry);
    return 0;
}

static const char *walk(void *h)
{
    static struct walked w;
    ts_error err = { 0 };

    memset(&w, 0, sizeof w);
    int rc = backend()->log_walk(h, collect_entry, &w, &err);
    ck_assert_msg(rc == TS_OK, "log_walk: %s", err.message);
    return w.joined;
}

/* The tests' own look at the server. */
static long long integer_of(const char *fmt, const char *arg)
{
    redisContext *c = test_server_connect(&sv);
    ck_assert_ptr_nonnull(c);
    redisReply *r = redisCommand(c, fmt, arg);
    ck_assert(r && r->type == REDIS_REPLY_INTEGER);
    long long n = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

/* The number a string key holds. */
static long long number_at(const char *key)
{
    redisContext *c = test_server_connect(&sv);
    ck_assert_ptr_nonnull(c);
    redisReply *r = redisCommand(c, "GET %s", key);
    ck_assert(r && r->type == REDIS_REPLY_STRING);
    long long n = atoll(r->str);
    freeReplyObject(r);
    redisFree(c);
    return n;
}

static long long keys_under(const char *prefix)
{
    char pattern[128];
    redisContext *c = test_server_connect(&sv);
    ck_assert_ptr_nonnull(c);
    snprintf(pattern, sizeof pattern, "{%s}*", prefix);
    redisReply *r = redisCommand(c, "KEYS %s", pattern);
    ck_assert(r && r->type == REDIS_REPLY_ARRAY);
    long long n = (long long)r->elements;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

/* ------------------------------------------------------------------ */
/* Notes                                                               */
/* ------------------------------------------------------------------ */

START_TEST(note_ttl_is_the_key_s)
{
    void *h = open_prefix("ttl:", 0, NULL);
    const ts_backend *vt = backend();
    char value[64];
    ts_error err = { 0 };

    ck_assert_int_eq(vt->note_set(h, "oauth:id:3", "v1 backoff", 60000, &err), TS_OK);
    ck_assert_int_eq(vt->note_get(h, "oauth:id:3", value, sizeof value, &err), TS_OK);
    ck_assert_str_eq(value, "v1 backoff");
    long long pttl = integer_of("PTTL %s", "{ttl:}note:oauth:id:3");
    ck_assert_msg(pttl > 0 && pttl <= 60000, "PTTL %lld", pttl);

    /* A replacement with ttl 0 lives until replaced or removed. */
    ck_assert_int_eq(vt->note_set(h, "oauth:id:3", "v2", 0, &err), TS_OK);
    ck_assert_int_eq(integer_of("PTTL %s", "{ttl:}note:oauth:id:3"), -1);
    ck_assert_int_eq(vt->note_get(h, "oauth:id:3", value, sizeof value, &err), TS_OK);
    ck_assert_str_eq(value, "v2");

    /* An expired note is none. */
    ck_assert_int_eq(vt->note_set(h, "oauth:id:3", "v3", 150, &err), TS_OK);
    usleep(600 * 1000);
    ck_assert_int_eq(vt->note_get(h, "oauth:id:3", value, sizeof value, &err), TS_NOT_FOUND);
    ck_assert_int_eq(integer_of("EXISTS %s", "{ttl:}note:oauth:id:3"), 0);
    raw_close(h);
}
END_TEST

START_TEST(null_value_removes_the_note)
{
    void *h = open_prefix("remove:", 0, NULL);
    const ts_backend *vt = backend();
    char value[64];
    ts_error err = { 0 };

    ck_assert_int_eq(vt->note_set(h, "oauth:grant:00ff", "v1", 0, &err), TS_OK);
    ck_assert_int_eq(vt->note_set(h, "other", "kept", 0, &err), TS_OK);
    ck_assert_int_eq(vt->note_set(h, "oauth:grant:00ff", NULL, 0, &err), TS_OK);
    ck_assert_int_eq(vt->note_get(h, "oauth:grant:00ff", value, sizeof value, &err),
                     TS_NOT_FOUND);
    ck_assert_int_eq(integer_of("EXISTS %s", "{remove:}note:oauth:grant:00ff"), 0);
    ck_assert_int_eq(vt->note_get(h, "other", value, sizeof value, &err), TS_OK);
    ck_assert_str_eq(value, "kept");
    /* Removing a note that is not there is no error. */
    ck_assert_int_eq(vt->note_set(h, "never", NULL, 0, &err), TS_OK);
    raw_close(h);
}
END_TEST

START_TEST(note_longer_than_the_buffer_is_an_error)
{
    void *h = open_prefix("small:", 0, NULL);
    const ts_backend *vt = backend();
    char value[16];
    ts_error err = { 0 };

    ck_assert_int_eq(vt->note_set(h, "n", "0123456789", 0, &err), TS_OK);
    memset(value, 'x', sizeof value);
    ck_assert_int_eq(vt->note_get(h, "n", value, 10, &err), TS_ERR_BACKEND);
    ck_assert_msg(strstr(err.message, "note 'n'") && strstr(err.message, "10 bytes"), "%s",
                  err.message);
    for (size_t i = 0; i < sizeof value; i++)
        ck_assert_int_eq(value[i], 'x');          /* untouched */
    ck_assert_int_eq(vt->note_get(h, "n", value, 11, &err), TS_OK);
    ck_assert_str_eq(value, "0123456789");
    raw_close(h);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The log                                                             */
/* ------------------------------------------------------------------ */

START_TEST(log_keeps_the_newest_in_order)
{
    void *h = open_prefix("cap:", 0, NULL);
    char entry[16];

    ck_assert_str_eq(walk(h), "");
    for (int i = 1; i <= 10; i++) {
        snprintf(entry, sizeof entry, "e%d", i);
        raw_log_append_ok(h, entry, 5);
    }
    ck_assert_str_eq(walk(h), "e6,e7,e8,e9,e10");
    ck_assert_int_eq(integer_of("LLEN %s", "{cap:}refreshes"), 5);
    raw_log_append_ok(h, "e11", 3);                   /* a smaller cap trims at once */
    ck_assert_str_eq(walk(h), "e9,e10,e11");
    raw_log_append_ok(h, "e12", 0);                   /* keep 0: keep none */
    ck_assert_str_eq(walk(h), "");
    ck_assert_int_eq(integer_of("EXISTS %s", "{cap:}refreshes"), 0);
    raw_log_append_ok(h, "e13", 2);
    ck_assert_str_eq(walk(h), "e13");
    raw_close(h);
}
END_TEST

/* Counts entries and checks they come as "N" or "N:padding" in order
 * from `next`. */
struct sequence {
    int next, seen, stop_at, bad;
    void *appender;                     /* appends one every `every` entries */
    int every, appended, keep;
};

static int follow_sequence(const char *entry, void *ud)
{
    struct sequence *q = ud;

    if (atoi(entry) != q->next && !q->bad)
        q->bad = q->next + 1;           /* the first entry out of place, + 1 */
    q->next = atoi(entry) + 1;
    q->seen++;
    if (q->appender && q->seen % q->every == 0) {
        char e[2048];
        snprintf(e, sizeof e, "%d:%01000d", q->keep + q->appended++, 0);
        raw_log_append_ok(q->appender, e, (size_t)q->keep);
    }
    return q->seen == q->stop_at ? 7 : 0;
}

START_TEST(log_walk_pages_and_stops)
{
    void *h = open_prefix("pages:", 0, NULL);
    char entry[32];
    ts_error err = { 0 };

    for (int i = 0; i < 2500; i++) {         /* two and a half pages of entries */
        snprintf(entry, sizeof entry, "%d", i);
        raw_log_append_ok(h, entry, 10000);
    }
    struct sequence q = { 0 };
    ck_assert_int_eq(backend()->log_walk(h, follow_sequence, &q, &err), TS_OK);
    ck_assert_int_eq(q.seen, 2500);
    ck_assert_msg(!q.bad, "entry %d out of order", q.bad - 1);

    /* A callback's non-zero answer ends the walk and is its result. */
    q = (struct sequence){ .stop_at = 1500 };
    ck_assert_int_eq(backend()->log_walk(h, follow_sequence, &q, &err), 7);
    ck_assert_int_eq(q.seen, 1500);
    q = (struct sequence){ .stop_at = 1 };
    ck_assert_int_eq(backend()->log_walk(h, follow_sequence, &q, &err), 7);
    ck_assert_int_eq(q.seen, 1);
    raw_close(h);
}
END_TEST

/* With max_reply_bytes at its least (64 KiB), a walk of 1 KB entries
 * takes many pages, each within the bound; and appends that trim the
 * head between pages neither repeat nor skip an entry: every entry from
 * the first to the last appended comes once, in order. */
START_TEST(log_walk_follows_trims)
{
    static const char *const small[] = { "max_reply_bytes", "65536", NULL };
    void *h = open_prefix("trim:", 0, small);
    void *other = open_prefix("trim:", 0, NULL);
    char entry[2048];
    ts_error err = { 0 };

    for (int i = 0; i < 400; i++) {
        snprintf(entry, sizeof entry, "%d:%01000d", i, 0);
        raw_log_append_ok(other, entry, 400);
    }
    struct sequence q = { .appender = other, .every = 10, .keep = 400 };
    int rc = backend()->log_walk(h, follow_sequence, &q, &err);
    ck_assert_msg(rc == TS_OK, "log_walk: %s", err.message);
    ck_assert_msg(!q.bad, "expected entry %d next, got another", q.bad - 1);
    ck_assert_int_ge(q.appended, 40);
    /* Those appended while the last page was being visited come after
     * the walk. */
    ck_assert_msg(q.seen > 400 && q.seen <= 400 + q.appended, "%d seen, %d appended", q.seen,
                  q.appended);
    ck_assert_int_eq(integer_of("LLEN %s", "{trim:}refreshes"), 400);
    int appended = q.appended;
    q = (struct sequence){ .next = appended };
    ck_assert_int_eq(backend()->log_walk(h, follow_sequence, &q, &err), TS_OK);
    ck_assert_msg(!q.bad, "expected entry %d next, got another", q.bad - 1);
    ck_assert_int_eq(q.seen, 400);
    raw_close(h);
    raw_close(other);
}
END_TEST

/* Two processes appending at once, each with its own handle, past the
 * cap: the log holds exactly `keep` entries, and each process's entries
 * in it are the newest of its own, in its order, whole. */
enum { EACH = 500, KEEP = 700 };

static int append_entries(int k, void *unused)
{
    void *h = open_prefix("two:", 0, NULL);
    char entry[128];
    ts_error err = { 0 };
    int failed = 0;

    (void)unused;
    for (int i = 0; i < EACH; i++) {
        snprintf(entry, sizeof entry, "{\"pid\":%d,\"k\":%d,\"i\":%d}", (int)getpid(), k, i);
        failed += backend()->log_append(h, entry, KEEP, &err) != TS_OK;
    }
    raw_close(h);
    return failed ? 1 : 0;
}

START_TEST(two_processes_append_at_once)
{
    pid_t kids[2];

    run_processes(2, append_entries, NULL, kids);
    redisContext *rc = test_server_connect(&sv);
    redisReply *r = redisCommand(rc, "LRANGE {two:}refreshes 0 -1");
    ck_assert(r && r->type == REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, KEEP);
    int last[2] = { -1, -1 }, count[2] = { 0, 0 };
    for (size_t i = 0; i < r->elements; i++) {
        int pid, k, n, used = 0;
        ck_assert_msg(sscanf(r->element[i]->str, "{\"pid\":%d,\"k\":%d,\"i\":%d}%n", &pid, &k,
                             &n, &used) == 3 && used == (int)r->element[i]->len &&
                      (k == 0 || k == 1) && pid == kids[k], "entry %zu: %s", i,
                      r->element[i]->str);
        ck_assert_msg(last[k] < 0 || n == last[k] + 1, "process %d: %d after %d", k, n, last[k]);
        last[k] = n;
        count[k]++;
    }
    freeReplyObject(r);
    redisFree(rc);
    ck_assert_int_eq(last[0], EACH - 1);
    ck_assert_int_eq(last[1], EACH - 1);
    ck_assert_int_eq(count[0] + count[1], KEEP);
    ck_assert_int_eq(number_at("{two:}refreshes:appended"), 2 * EACH);
}
END_TEST

/* With wait_replicas and no replica, a save fails after waiting; a note
 * or a log line is not worth that delay to a refresh, and is written
 * without it. */
START_TEST(notes_do_not_wait_for_replicas)
{
    static const char *const waiting[] = { "wait_replicas", "1", "wait_timeout_ms", "3000",
                                           NULL };
    void *h = open_prefix("nowait:", 0, waiting);
    char value[16];
    ts_error err = { 0 };
    long long start = wall_ms();

    ck_assert_msg(backend()->note_set(h, "n", "v", 0, &err) == TS_OK, "%s", err.message);
    ck_assert_msg(backend()->note_set(h, "n", NULL, 0, &err) == TS_OK, "%s", err.message);
    raw_log_append_ok(h, "line", 10);
    ck_assert_int_lt(wall_ms() - start, 3000);
    ck_assert_int_eq(backend()->note_get(h, "n", value, sizeof value, &err), TS_NOT_FOUND);
    ck_assert_str_eq(walk(h), "line");
    raw_close(h);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Read-only handles, and keys that are not tokens                     */
/* ------------------------------------------------------------------ */

static int count_entry(const char *entry, void *ud)
{
    (void)entry;
    (*(int *)ud)++;
    return 0;
}

/* A read-only handle on a prefix with nothing under it reads no note and
 * an empty log, and creates no key; through the core too. */
START_TEST(read_only_creates_nothing)
{
    void *h = open_prefix("ro:", TS_OPEN_READ_ONLY, NULL);
    char value[64], uri[128];
    int n = 0;
    ts_error err = { 0 };

    ck_assert_int_eq(backend()->note_get(h, "oauth:id:1", value, sizeof value, &err),
                     TS_NOT_FOUND);
    ck_assert_int_eq(backend()->log_walk(h, count_entry, &n, &err), TS_OK);
    ck_assert_int_eq(n, 0);
    raw_close(h);

    ts_store *s;
    snprintf(uri, sizeof uri, "redis://127.0.0.1:%d/0?prefix=ro:", sv.port);
    ck_assert_int_eq(ts_store_open_flags(&s, uri, TS_OPEN_READ_ONLY, &err), TS_OK);
    ck_assert_int_eq(ts_oauth_refresh_log(s, count_entry, &n, &err), TS_OK);
    ck_assert_int_eq(n, 0);
    ts_store_close(s);
    ck_assert_int_eq(keys_under("ro:"), 0);
}
END_TEST

/* get_tokens and delete_tokens see only tokens; delete_tokens leaves the
 * notes and the log (the SDK's deleteTokens removes every token, and a
 * note is no token), drop removes every key. */
START_TEST(notes_and_log_are_not_tokens)
{
    void *h = open_prefix("side:", 0, NULL);
    char uri[128], value[64];
    int n = 0;
    ts_store *s;
    ts_error err = { 0 };

    snprintf(uri, sizeof uri, "redis://127.0.0.1:%d/0?prefix=side:", sv.port);
    ck_assert_int_eq(ts_store_open(&s, uri, &err), TS_OK);
    ck_assert_int_eq(ts_delete_tokens(s, &err), TS_OK);
    ts_token *t = make_token("a@example.com", "1000.r-a", "1000.a-a");
    save_ok(s, t);
    ts_token_free(t);
    ck_assert_int_eq(backend()->note_set(h, "oauth:id:1", "v1 note", 0, &err), TS_OK);
    ck_assert_int_eq(backend()->note_set(h, "user:b@example.com", "a note named as a key", 0,
                                         &err), TS_OK);
    raw_log_append_ok(h, "{\"event\":\"refresh\"}", 10);
    ck_assert_uint_eq(count_tokens(s), 1);

    ck_assert_int_eq(ts_delete_tokens(s, &err), TS_OK);
    ck_assert_uint_eq(count_tokens(s), 0);
    ck_assert_int_eq(backend()->note_get(h, "oauth:id:1", value, sizeof value, &err), TS_OK);
    ck_assert_str_eq(value, "v1 note");
    ck_assert_int_eq(ts_oauth_refresh_log(s, count_entry, &n, &err), TS_OK);
    ck_assert_int_eq(n, 1);

    ck_assert_int_eq(ts_store_drop(s, &err), TS_OK);
    ts_store_close(s);
    ck_assert_int_eq(keys_under("side:"), 0);
    ck_assert_int_eq(backend()->note_get(h, "oauth:id:1", value, sizeof value, &err),
                     TS_NOT_FOUND);
    raw_close(h);
}
END_TEST

static Suite *notes_suite(void)
{
    Suite *s = suite_create("redis notes");
    TCase *tc = tcase_create("members");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, note_ttl_is_the_key_s);
    tcase_add_test(tc, null_value_removes_the_note);
    tcase_add_test(tc, note_longer_than_the_buffer_is_an_error);
    tcase_add_test(tc, log_keeps_the_newest_in_order);
    tcase_add_test(tc, log_walk_pages_and_stops);
    tcase_add_test(tc, log_walk_follows_trims);
    tcase_add_test(tc, two_processes_append_at_once);
    tcase_add_test(tc, notes_do_not_wait_for_replicas);
    tcase_add_test(tc, read_only_creates_nothing);
    tcase_add_test(tc, notes_and_log_are_not_tokens);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (!test_servers_init()) {
        puts("Bail out! tests/redis/server.sh not found (set top_srcdir)");
        return 99;
    }
    if (!test_server_start(&sv, NULL, NULL)) {
        puts("Bail out! redis-server could not be started");
        return 99;
    }
    return run_suite(notes_suite());
}
