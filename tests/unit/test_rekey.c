/*
 * tests/unit/test_rekey.c - encryption at rest over time: a rotation
 * (a new current key, the old one still read), ts_store_rekey, a plain
 * store being encrypted (allow_plaintext), a handle used across fork(),
 * and the OAuth client, which reads and saves through the same layer as
 * any caller, against the fake accounts server.
 */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <json-c/json.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"
#include "../test_store.h"
#include "../oauth/fake.h"
#include "encrypt_cases.h"

/* The persistent backends: a rotation reopens its store. */
static const char *const persistent[] = {
    "file",
#ifdef TS_TEST_SQLITE
    "sqlite",
#endif
};

struct uses {
    size_t n;
    ts_key_usage use[8];
    char ids[8][TS_KEY_ID_SIZE];
};

static int collect_use(const ts_key_usage *u, void *ud)
{
    struct uses *us = ud;

    if (us->n < 8) {
        snprintf(us->ids[us->n], TS_KEY_ID_SIZE, "%s", u->key_id);
        us->use[us->n] = *u;
        us->use[us->n].key_id = us->ids[us->n];
        us->n++;
    }
    return TS_OK;
}

static struct uses usage(ts_store *s)
{
    struct uses us = { 0 };
    ts_error err = { 0 };

    ck_assert_msg(ts_store_key_usage(s, collect_use, &us, &err) == TS_OK, "%s", err.message);
    return us;
}

/* Finds t's token by user, access token, refresh and grant token, and
 * checks each answer is token `id` with its plain values. */
static void found_every_way(ts_store *s, unsigned i, const char *id)
{
    char v[96];
    ts_error err = { 0 };

    for (int way = 0; way < 4; way++) {
        ts_token *q = ts_token_new();
        if (way == 0) {
            snprintf(v, sizeof v, "user%u@example.com", i);
            ts_token_set(q, TS_FIELD_USER_NAME, v);
        } else if (way == 1) {
            snprintf(v, sizeof v, "1000.access-%u-SECRET", i);
            ts_token_set(q, TS_FIELD_ACCESS_TOKEN, v);
        } else {
            ts_token_set(q, TS_FIELD_CLIENT_ID, "1000.CLIENTID");
            ts_token_set(q, TS_FIELD_CLIENT_SECRET, "x");
            snprintf(v, sizeof v, way == 2 ? "1000.refresh-%u-SECRET" : "1000.grant-%u-SECRET", i);
            ts_token_set(q, way == 2 ? TS_FIELD_REFRESH_TOKEN : TS_FIELD_GRANT_TOKEN, v);
        }
        ck_assert_msg(ts_find_token(s, q, &err) == TS_OK, "token %u, way %d: %s", i, way,
                      err.message);
        ck_assert_str_eq(ts_token_get(q, TS_FIELD_ID), id);
        snprintf(v, sizeof v, "secret-client-%u-SECRET", i);
        if (way < 2)
            ck_assert_str_eq(ts_token_get(q, TS_FIELD_CLIENT_SECRET), v);
        ts_token_free(q);
    }
}

/* Two keys: every token saved under the old one stays readable and
 * findable every way; a save lands on the token's own row and seals it
 * with the new key; rekey seals the rest; then the old key can go. */
START_TEST(rotation_keeps_every_token)
{
    char old_id[TS_KEY_ID_SIZE], new_id[TS_KEY_ID_SIZE];
    const char *old_key = new_key("old.key", old_id), *new_key_path = new_key("new.key", new_id);
    ts_config *before = encrypted_config(persistent[_i], "key_file", old_key, NULL);
    ts_config *during = encrypted_config(persistent[_i], "key_file", new_key_path,
                                         "old_key_files", old_key, NULL);
    ts_config *after = encrypted_config(persistent[_i], "key_file", new_key_path, NULL);
    ts_error err = { 0 };
    ts_store *s = open_config(before);
    char id[24];

    for (unsigned i = 0; i < 20; i++) {
        ts_token *t = numbered_token(i, 1);
        save_ok(s, t);
        ts_token_free(t);
    }
    ts_store_close(s);
    s = open_config(during);
    for (unsigned i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "%u", i + 1);
        found_every_way(s, i, id);
    }
    /* No id, no user name: the save finds its row by the refresh token
     * sealed under the old key, and replaces it. */
    ts_token *t = ts_token_new();
    ts_token_set(t, TS_FIELD_CLIENT_ID, "1000.CLIENTID");
    ts_token_set(t, TS_FIELD_CLIENT_SECRET, "secret-client-3-SECRET");
    ts_token_set(t, TS_FIELD_REFRESH_TOKEN, "1000.refresh-3-SECRET");
    ts_token_set(t, TS_FIELD_ACCESS_TOKEN, "1000.access-3-SECRET");
    save_ok(s, t);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "4");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_USER_NAME), "user3@example.com");
    ck_assert_uint_eq(count_tokens(s), 20);
    struct uses us = usage(s);
    ck_assert_uint_eq(us.n, 2);
    ck_assert_str_eq(us.use[0].key_id, new_id);
    ck_assert_int_eq(us.use[0].role, TS_KEY_CURRENT);
    ck_assert_uint_eq(us.use[0].tokens, 1);           /* token 4, sealed anew whole */
    ck_assert_uint_eq(us.use[0].values, 4);
    ck_assert_str_eq(us.use[1].key_id, old_id);
    ck_assert_int_eq(us.use[1].role, TS_KEY_OLD);
    ck_assert_uint_eq(us.use[1].tokens, 19);
    ts_rekey_result r;
    ck_assert_int_eq(ts_store_rekey(s, TS_REKEY_DRY_RUN, &r, &err), TS_OK);
    ck_assert_uint_eq(r.tokens, 20);
    ck_assert_uint_eq(r.current, 1);
    ck_assert_uint_eq(r.rewritten, 19);
    ck_assert_uint_eq(usage(s).use[1].tokens, 19);    /* a dry run writes nothing */
    ck_assert_msg(ts_store_rekey(s, 0, &r, &err) == TS_OK, "%s", err.message);
    ck_assert_uint_eq(r.rewritten, 19);
    us = usage(s);
    ck_assert_uint_eq(us.use[0].tokens, 20);
    ck_assert_uint_eq(us.use[1].tokens, 0);
    ts_store_close(s);
    s = open_config(after);
    for (unsigned i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "%u", i + 1);
        found_every_way(s, i, id);
    }
    ts_store_close(s);
    s = open_config(before);                          /* the old key alone reads nothing */
    ck_assert_int_eq(ts_find_token_by_id(s, "1", t, &err), TS_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.message, new_id));
    ts_store_close(s);
    ts_token_free(t);
    ts_config_free(before);
    ts_config_free(during);
    ts_config_free(after);
}
END_TEST

/* rekey reads everything first: a value it cannot open stops it before
 * any token is written. */
START_TEST(rekey_stops_before_writing)
{
    char old_id[TS_KEY_ID_SIZE];
    const char *old_key = new_key("old.key", old_id), *lost = new_key("lost.key", NULL);
    ts_config *a = encrypted_config("file", "key_file", old_key, NULL);
    ts_config *b = encrypted_config("file", "key_file", lost, NULL);
    ts_config *c = encrypted_config("file", "key_file", new_key("new.key", NULL), "old_key_files",
                                    old_key, NULL);
    ts_error err = { 0 };
    ts_store *s = open_config(a);
    ts_token *t = numbered_token(0, 0);
    ts_rekey_result r;
    size_t len, len2;

    save_ok(s, t);
    ts_store_close(s);
    ts_token_free(t);
    s = open_config(b);                               /* a second token, another key */
    t = numbered_token(1, 0);
    save_ok(s, t);
    ts_store_close(s);
    char *before = slurp(in_scratch("tokens.csv"), &len);
    s = open_config(c);
    ck_assert_int_eq(ts_store_rekey(s, 0, &r, &err), TS_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.message, "token 2: client_secret is encrypted with key "));
    ck_assert_uint_eq(r.rewritten, 0);
    char *after = slurp(in_scratch("tokens.csv"), &len2);
    ck_assert_uint_eq(len, len2);
    ck_assert_mem_eq(before, after, len);
    ts_store_close(s);
    free(before);
    free(after);
    ts_token_free(t);
    ts_config_free(a);
    ts_config_free(b);
    ts_config_free(c);
}
END_TEST

/* A plain store being encrypted: refused until allow_plaintext says its
 * plain values may be read; then found every way, and sealed by rekey. */
START_TEST(plain_store_is_encrypted)
{
    const char *key = new_key("k", NULL);
    ts_config *plain = encrypted_config(persistent[_i], NULL);
    ts_config *strict = encrypted_config(persistent[_i], "key_file", key, NULL);
    ts_config *lenient = encrypted_config(persistent[_i], "key_file", key, "allow_plaintext",
                                          "true", NULL);
    ts_error err = { 0 };
    ts_store *s = open_config(plain);
    ts_rekey_result r;

    for (unsigned i = 0; i < 5; i++) {
        ts_token *t = numbered_token(i, 1);
        save_ok(s, t);
        ts_token_free(t);
    }
    ts_store_close(s);
    s = open_config(strict);
    ts_token *t = ts_token_new();
    ck_assert_int_eq(ts_find_token_by_id(s, "2", t, &err), TS_ERR_CONFIG);
    ck_assert_str_eq(err.message, "token 2: client_secret is stored unencrypted: set "
                     "encrypt.allow_plaintext while a store is being encrypted, and run "
                     "`tokenstore rekey`");
    ts_store_close(s);
    s = open_config(lenient);
    found_every_way(s, 2, "3");
    struct uses us = usage(s);
    ck_assert_int_eq(us.use[us.n - 1].role, TS_KEY_PLAINTEXT);
    ck_assert_uint_eq(us.use[us.n - 1].tokens, 5);
    ck_assert_msg(ts_store_rekey(s, 0, &r, &err) == TS_OK, "%s", err.message);
    ck_assert_uint_eq(r.rewritten, 5);
    ts_store_close(s);
    s = open_config(strict);
    for (unsigned i = 0; i < 5; i++) {
        char id[8];
        snprintf(id, sizeof id, "%u", i + 1);
        found_every_way(s, i, id);
    }
    ck_assert_uint_eq(usage(s).n, 1);                 /* no plain value left */
    ts_store_close(s);
    ts_token_free(t);
    ts_config_free(plain);
    ts_config_free(strict);
    ts_config_free(lenient);
}
END_TEST

/* A handle opened before fork() seals and opens in the child, and the
 * parent reads what the child saved. */
START_TEST(child_uses_the_parents_handle)
{
    ts_config *c = encrypted_config("file", "key_file", new_key("k", NULL), NULL);
    ts_store *s = open_config(c);
    ts_token *t = numbered_token(0, 0);
    int status;

    save_ok(s, t);
    pid_t pid = fork();
    if (pid == 0) {
        ts_token *q = numbered_token(1, 0), *r = ts_token_new();
        ts_error err = { 0 };
        int ok = ts_save_token(s, q, &err) == TS_OK &&
                 ts_find_token_by_id(s, "1", r, &err) == TS_OK &&
                 strcmp(ts_token_get(r, TS_FIELD_REFRESH_TOKEN), "1000.refresh-0-SECRET") == 0;
        _exit(ok ? 0 : 1);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    ck_assert_int_eq(ts_find_token_by_id(s, "2", t, NULL), TS_OK);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ACCESS_TOKEN), "1000.access-1-SECRET");
    ts_token_free(t);
    ts_store_close(s);
    ts_config_free(c);
}
END_TEST

/* The OAuth client goes through the same layer: it sends the plain
 * refresh token and client secret, and the new access token is stored
 * sealed. */
START_TEST(oauth_refreshes_an_encrypted_token)
{
    ts_config *c = encrypted_config("file", "key_file", new_key("k", NULL), NULL);
    ts_store *s = open_config(c);
    ts_token *t = numbered_token(0, 0);
    ts_oauth *o;
    ts_error err = { 0 };
    size_t len;

    free(server_call("/reset", ""));
    ts_token_set(t, TS_FIELD_EXPIRY_TIME, "1000");        /* long expired */
    save_ok(s, t);
    ck_assert_int_eq(ts_oauth_new(&o, s, NULL, &err), TS_OK);
    ck_assert_int_eq(ts_oauth_set(o, "accounts_url", accounts_url, &err), TS_OK);
    ts_token_clear(t);
    ts_token_set(t, TS_FIELD_ID, "1");
    ck_assert_msg(ts_oauth_get_access_token(o, t, &err) == TS_OK, "%s", err.message);
    ck_assert_int_eq(count("refresh_token"), 1);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ACCESS_TOKEN), "1000.access.1");
    char *sent = server_call("/counts", NULL);
    ck_assert_ptr_nonnull(strstr(sent, "1000.refresh-0-SECRET"));
    ck_assert_ptr_nonnull(strstr(sent, "secret-client-0-SECRET"));
    free(sent);
    char *bytes = slurp(in_scratch("tokens.csv"), &len);
    ck_assert_ptr_null(memmem(bytes, len, "1000.access.1", 13));
    ck_assert_uint_eq(secrets_in(bytes, len, 1), 0);
    free(bytes);
    ts_oauth_free(o);
    ts_token_free(t);
    ts_store_close(s);
    ts_config_free(c);
}
END_TEST

static Suite *rekey_suite(void)
{
    Suite *s = suite_create("rekey");
    TCase *keys = tcase_create("keys"), *use = tcase_create("use");
    int n = (int)(sizeof persistent / sizeof *persistent);

    tcase_add_checked_fixture(keys, make_scratch, remove_scratch);
    tcase_set_timeout(keys, 120);
    tcase_add_loop_test(keys, rotation_keeps_every_token, 0, n);
    tcase_add_test(keys, rekey_stops_before_writing);
    tcase_add_loop_test(keys, plain_store_is_encrypted, 0, n);
    tcase_add_checked_fixture(use, make_scratch, remove_scratch);
    tcase_set_timeout(use, 120);
    tcase_add_test(use, child_uses_the_parents_handle);
    tcase_add_test(use, oauth_refreshes_an_encrypted_token);
    suite_add_tcase(s, keys);
    suite_add_tcase(s, use);
    return s;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    start_server();
    int rc = run_suite(rekey_suite());
    stop_server();
    curl_global_cleanup();
    return rc;
}
