/*
 * tests/redis/test_crypt_batch.c - many finds at once with encryption at
 * rest, on the one backend that answers a batch in one round trip:
 * ts_find_tokens and its halves seal the queries and open the rows; a
 * find the current key's form does not answer (a token sealed by an
 * older key) is answered by ts_find_token inside ts_find_tokens, and
 * left TS_ERR_UNSUPPORTED by the halves, whose caller asks
 * ts_find_token; a row that fails authentication is that find's error,
 * naming the token, while the others answer.
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"
#include "../test_store.h"
#include "server.h"

static struct test_server sv;
static char k1[300], k2[300];

static void make_keys(void)
{
    ts_error err = { 0 };

    make_scratch();
    snprintf(k1, sizeof k1, "%s/k1", scratch);
    snprintf(k2, sizeof k2, "%s/k2", scratch);
    if (ts_keygen(k1, NULL, &err) != TS_OK || ts_keygen(k2, NULL, &err) != TS_OK)
        abort();
}

/* A store under prefix, its current key `key`, `old` (may be NULL) old. */
static ts_store *open_store(const char *prefix, const char *key, const char *old,
                            const char *fields)
{
    char uri[1200];
    ts_store *s;
    ts_error err = { 0 };

    snprintf(uri, sizeof uri, "redis://127.0.0.1:%d/0?prefix=%s&encrypt.key_file=%s%s%s%s%s",
             sv.port, prefix, key, old ? "&encrypt.old_key_files=" : "", old ? old : "",
             fields ? "&encrypt.fields=" : "", fields ? fields : "");
    ck_assert_msg(ts_store_open(&s, uri, &err) == TS_OK, "%s", err.message);
    return s;
}

static ts_token *by(ts_field f, const char *value)
{
    ts_token *t = ts_token_new();
    ts_token_set(t, f, value);
    return t;
}

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

static void free_all(ts_token **t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ts_token_free(t[i]);
}

/* One key: the batch and the halves answer with plain values. */
START_TEST(batches_open_what_they_find)
{
    ts_store *s = open_store("one:", k1, NULL, NULL);
    ts_token *a = make_token("a@x", "1000.ra", "1000.aa");
    ts_token *b = make_token("b@x", "1000.rb", "1000.ab");
    ts_token *batch[3] = { by(TS_FIELD_USER_NAME, "b@x"), by(TS_FIELD_ACCESS_TOKEN, "1000.aa"),
                           by(TS_FIELD_USER_NAME, "nobody@x") };
    ts_error err = { 0 };
    int results[3];

    save_ok(s, a);
    save_ok(s, b);
    ck_assert_msg(ts_find_tokens(s, batch, 3, results, &err) == TS_OK, "%s", err.message);
    ck_assert_int_eq(results[0], TS_OK);
    ck_assert_str_eq(ts_token_get(batch[0], TS_FIELD_REFRESH_TOKEN), "1000.rb");
    ck_assert_int_eq(results[1], TS_OK);
    ck_assert_str_eq(ts_token_get(batch[1], TS_FIELD_USER_NAME), "a@x");
    ck_assert_int_eq(results[2], TS_NOT_FOUND);
    ts_token *halves[2] = { by(TS_FIELD_USER_NAME, "a@x"), by(TS_FIELD_USER_NAME, "b@x") };
    ck_assert_msg(send_and_receive(s, halves, 2, results, &err) == TS_OK, "%s", err.message);
    ck_assert_str_eq(ts_token_get(halves[0], TS_FIELD_ACCESS_TOKEN), "1000.aa");
    ck_assert_str_eq(ts_token_get(halves[1], TS_FIELD_CLIENT_SECRET), "client-secret-value");
    free_all(batch, 3);
    free_all(halves, 2);
    ts_token_free(a);
    ts_token_free(b);
    ts_store_close(s);
}
END_TEST

/* During a rotation a batch still finds a token sealed by the old key;
 * the halves say which finds they leave to ts_find_token. */
START_TEST(batches_find_older_keys)
{
    ts_store *s = open_store("rot:", k1, NULL, "user_name,refresh_token,access_token");
    ts_token *a = make_token("a@x", "1000.ra", "1000.aa");
    ts_token *b = make_token("b@x", "1000.rb", "1000.ab");
    ts_error err = { 0 };
    int results[3];

    save_ok(s, a);
    ts_store_close(s);
    s = open_store("rot:", k2, k1, "user_name,refresh_token,access_token");
    save_ok(s, b);                                /* b under the new key, a under the old */
    ts_token *batch[3] = { by(TS_FIELD_ACCESS_TOKEN, "1000.aa"), by(TS_FIELD_USER_NAME, "b@x"),
                           by(TS_FIELD_USER_NAME, "a@x") };
    ck_assert_msg(ts_find_tokens(s, batch, 3, results, &err) == TS_OK, "%s", err.message);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(results[i] == TS_OK, "find %d: %s", i, ts_strerror(results[i]));
    ck_assert_str_eq(ts_token_get(batch[0], TS_FIELD_ID), "1");
    ck_assert_str_eq(ts_token_get(batch[1], TS_FIELD_REFRESH_TOKEN), "1000.rb");
    ck_assert_str_eq(ts_token_get(batch[2], TS_FIELD_REFRESH_TOKEN), "1000.ra");
    ts_token *halves[2] = { by(TS_FIELD_USER_NAME, "a@x"), by(TS_FIELD_USER_NAME, "b@x") };
    ck_assert_int_eq(send_and_receive(s, halves, 2, results, &err), TS_ERR_UNSUPPORTED);
    ck_assert_int_eq(results[0], TS_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(err.message, "token 0: not found under the current key"), "%s",
                  err.message);
    ck_assert_int_eq(results[1], TS_OK);
    ck_assert_str_eq(ts_token_get(halves[1], TS_FIELD_ACCESS_TOKEN), "1000.ab");
    ck_assert_int_eq(ts_find_token(s, halves[0], &err), TS_OK);  /* as the caller is told */
    ck_assert_str_eq(ts_token_get(halves[0], TS_FIELD_ACCESS_TOKEN), "1000.aa");
    free_all(batch, 3);
    free_all(halves, 2);
    ts_token_free(a);
    ts_token_free(b);
    ts_store_close(s);
}
END_TEST

/* A row that fails authentication fails its own find, named, and the
 * others in the batch still answer. */
START_TEST(a_tampered_row_fails_its_find)
{
    ts_store *s = open_store("bad:", k1, NULL, NULL);
    ts_token *a = make_token("a@x", "1000.ra", "1000.aa");
    ts_token *b = make_token("b@x", "1000.rb", "1000.ab");
    ts_error err = { 0 };
    int results[2];
    redisContext *c = test_server_connect(&sv);

    save_ok(s, a);
    save_ok(s, b);
    ck_assert_ptr_nonnull(c);
    /* The user key holds a copy of the row ("len:bytes" fields); the
     * refresh token's sealed text is changed in it. */
    redisReply *r = redisCommand(c, "GET {bad:}user:b@x");
    ck_assert(r && r->type == REDIS_REPLY_STRING);
    char *copy = strdup(r->str), *at = strstr(copy, "tsenc1:");
    ck_assert_ptr_nonnull(at = strstr(at + 1, "tsenc1:"));     /* the refresh token's */
    at[20] = at[20] == 'A' ? 'B' : 'A';
    freeReplyObject(r);
    freeReplyObject(redisCommand(c, "SET {bad:}user:b@x %s", copy));
    ts_token *batch[2] = { by(TS_FIELD_USER_NAME, "a@x"), by(TS_FIELD_USER_NAME, "b@x") };
    ck_assert_int_eq(ts_find_tokens(s, batch, 2, results, &err), TS_ERR_CORRUPT);
    ck_assert_int_eq(results[0], TS_OK);
    ck_assert_str_eq(ts_token_get(batch[0], TS_FIELD_REFRESH_TOKEN), "1000.ra");
    ck_assert_int_eq(results[1], TS_ERR_CORRUPT);
    ck_assert_msg(strstr(err.message, "token 2: refresh_token fails authentication"), "%s",
                  err.message);
    ck_assert_str_eq(ts_token_get(batch[1], TS_FIELD_REFRESH_TOKEN), "");
    free(copy);
    redisFree(c);
    free_all(batch, 2);
    ts_token_free(a);
    ts_token_free(b);
    ts_store_close(s);
}
END_TEST

static Suite *batch_suite(void)
{
    Suite *s = suite_create("crypt_batch");
    TCase *tc = tcase_create("batch");

    tcase_add_unchecked_fixture(tc, make_keys, remove_scratch);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, batches_open_what_they_find);
    tcase_add_test(tc, batches_find_older_keys);
    tcase_add_test(tc, a_tampered_row_fails_its_find);
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
    return run_suite(batch_suite());
}
