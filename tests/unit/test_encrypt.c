/*
 * tests/unit/test_encrypt.c - encryption at rest through the public API:
 * keys and the encrypt section, every lookup on the memory, file and
 * sqlite backends, what reaches the disk (the CSV, the sqlite file and
 * its WAL, read while the store is open), and the errors: a key file
 * others can read, a missing key, a tampered value, a value of another
 * field, a plain value where a sealed one belongs. tests/unit/test_rekey.c
 * has rotations, rekey, migrations from plain stores and the OAuth client.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"
#include "../test_store.h"
#include "encrypt_cases.h"

/* ---------------------------------------------------------------- keys */

START_TEST(keygen_writes_a_private_key)
{
    char id[TS_KEY_ID_SIZE];
    const char *path = new_key("k", id);
    struct stat st;
    size_t len;
    char *text = slurp(path, &len);
    ts_error err = { 0 };

    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    ck_assert_uint_eq(len, 45);                     /* 32 bytes in base64, a newline */
    ck_assert_int_eq(text[44], '\n');
    ck_assert_uint_eq(strlen(id), 8);
    ck_assert_uint_eq(strspn(id, "0123456789abcdef"), 8);
    ck_assert_int_eq(ts_keygen(path, id, &err), TS_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.message, "never written over"));
    size_t len2;
    char *again = slurp(path, &len2);
    ck_assert_mem_eq(again, text, len);             /* the key is still the first one */
    ts_config *c = encrypted_config("memory", "key_file", path, NULL);
    ts_store *s = open_config(c);
    ck_assert_str_eq(ts_store_key_id(s), id);
    ts_store_close(s);
    ts_config_free(c);
    free(text);
    free(again);
}
END_TEST

/* A key that cannot be had is an error naming where, and the store is
 * not created. */
static void refused(const char *key, const char *value, const char *want)
{
    ts_config *c = encrypted_config("sqlite", key, value, NULL);
    ts_store *s = NULL;
    ts_error err = { 0 };

    ck_assert_int_eq(ts_store_open_config(&s, c, &err), TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, want), "'%s' lacks '%s'", err.message, want);
    ck_assert_msg(access(in_scratch("tokens.db"), F_OK) != 0, "the store was created");
    ts_config_free(c);
}

START_TEST(bad_keys_are_refused)
{
    const char *key = new_key("k", NULL);
    char text[128];

    ck_assert_int_eq(chmod(key, 0644), 0);
    snprintf(text, sizeof text, "%s is open to others (mode 0644)", key);
    refused("key_file", key, text);
    ck_assert_int_eq(chmod(key, 0604), 0);
    refused("key_file", key, "chmod 600");
    ck_assert_int_eq(chmod(key, 0620), 0);
    refused("key_file", key, "is writable by its group (mode 0620)");
    refused("key_file", scratch, "is not a regular file");
    refused("key_file", in_scratch("none"), "cannot open");
    FILE *f = fopen(in_scratch("junk"), "w");
    fputs("not a key\n", f);
    fclose(f);
    chmod(in_scratch("junk"), 0600);
    refused("key_file", in_scratch("junk"), "holds no key");
    unsetenv("TS_TEST_KEY");
    refused("key_env", "TS_TEST_KEY", "TS_TEST_KEY is not set");
    setenv("TS_TEST_KEY", "c2hvcnQ=", 1);
    refused("key_env", "TS_TEST_KEY", "$TS_TEST_KEY holds no key");
    refused("fields", "user_name", "the current key is missing (key_file or key_env)");
}
END_TEST

START_TEST(good_keys_are_taken)
{
    const char *key = new_key("k", NULL);
    size_t len;
    char *text = slurp(key, &len);
    ts_error err = { 0 };

    ck_assert_int_eq(chmod(key, 0640), 0);        /* a service's group may read it */
    ts_config *c = encrypted_config("memory", "key_file", key, NULL);
    ts_store *s = open_config(c);
    char id[TS_KEY_ID_SIZE];
    snprintf(id, sizeof id, "%s", ts_store_key_id(s));
    ts_store_close(s);
    ts_config_free(c);
    text[44] = '\0';
    setenv("TS_TEST_KEY", text, 1);
    c = encrypted_config("memory", "key_env", "TS_TEST_KEY", NULL);
    s = open_config(c);
    ck_assert_str_eq(ts_store_key_id(s), id);     /* the same key, the same id */
    ts_store_close(s);
    ck_assert_int_eq(ts_config_set_encrypt(c, "key_file", key, &err), TS_OK);
    ck_assert_int_eq(ts_store_open_config(&s, c, &err), TS_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.message, "give key_file or key_env, not both"));
    ts_config_free(c);
    free(text);
}
END_TEST

/* ---------------------------------------------------------------- config */

START_TEST(encrypt_section)
{
    ts_config *c = NULL;
    ts_error err = { 0 };

    ck_assert_int_eq(ts_config_parse_json(&c, "{\"store\": \"memory:\", \"encrypt\": "
                     "{\"key_file\": \"/k/new\", \"old_key_files\": [\"/k/a\", \"/k/b\"], "
                     "\"fields\": [\"user_name\", \"refresh_token\"], \"allow_plaintext\": true}}",
                     "cfg.json", &err), TS_OK);
    ck_assert_str_eq(ts_config_encrypt(c, "key_file"), "/k/new");
    ck_assert_str_eq(ts_config_encrypt(c, "old_key_files"), "/k/a,/k/b");
    ck_assert_str_eq(ts_config_encrypt(c, "fields"), "user_name,refresh_token");
    ck_assert_str_eq(ts_config_encrypt(c, "allow_plaintext"), "1");
    ck_assert_ptr_null(ts_config_encrypt(c, "key_env"));
    ts_config_free(c);
    ck_assert_int_eq(ts_config_parse_json(&c, "{\"store\": \"memory:\", \"encrypt\": "
                     "{\"colour\": \"blue\"}}", "cfg.json", &err), TS_ERR_CONFIG);
    ck_assert_str_eq(err.message, "cfg.json: encrypt.colour: unknown key");
    ck_assert_int_eq(ts_config_parse_json(&c, "{\"store\": \"memory:\", \"encrypt\": "
                     "{\"fields\": [\"refresh_token\", 3]}}", "cfg.json", &err), TS_ERR_CONFIG);
    ck_assert_str_eq(err.message, "cfg.json: encrypt.fields[1]: expected a string without a "
                     "comma, got int");
    ck_assert_int_eq(ts_config_parse_json(&c, "{\"store\": \"memory:\", \"encrypt\": "
                     "{\"fields\": \"id\"}}", "cfg.json", &err), TS_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.message, "cfg.json: encrypt.fields: 'id' cannot be"));
    /* encrypt.KEY options: a URI's query, the option setter, store.options. */
    ck_assert_int_eq(ts_config_parse_uri(&c, "sqlite:/x.db?encrypt.key_env=K&busy_timeout_ms=9",
                                         &err), TS_OK);
    ck_assert_str_eq(ts_config_encrypt(c, "key_env"), "K");
    ck_assert_ptr_null(ts_config_option(c, "encrypt.key_env"));
    ck_assert_str_eq(ts_config_option(c, "busy_timeout_ms"), "9");
    ck_assert_int_eq(ts_config_set_option(c, "encrypt.fields", "grant_token", &err), TS_OK);
    ck_assert_str_eq(ts_config_encrypt(c, "fields"), "grant_token");
    ck_assert_int_eq(ts_config_set_option(c, "encrypt.nope", "1", &err), TS_ERR_CONFIG);
    ck_assert_str_eq(err.message, "URI: encrypt.nope: unknown key (expected key_file, key_env, "
                     "old_key_files, old_key_env, fields, allow_plaintext)");
    ts_config_free(c);
    ck_assert_int_eq(ts_config_parse_json(&c, "{\"store\": {\"backend\": \"file\", \"options\": "
                     "{\"path\": \"/t.csv\", \"encrypt.key_file\": \"/k\"}}}", "cfg.json", &err),
                     TS_OK);
    ck_assert_str_eq(ts_config_encrypt(c, "key_file"), "/k");
    ck_assert_ptr_null(ts_config_option(c, "encrypt.key_file"));
    ts_config_free(c);
}
END_TEST

/* ---------------------------------------------------------------- lookups */

/* Every lookup the SDK makes answers with plain values, on every backend. */
START_TEST(lookups_work_on_sealed_values)
{
    ts_config *c = encrypted_config(backends[_i], "key_file", new_key("k", NULL), NULL);
    ts_store *s = open_config(c);
    ts_error err = { 0 };

    for (unsigned i = 0; i < 3; i++) {
        ts_token *t = numbered_token(i, i == 2);
        save_ok(s, t);
        ts_token_free(t);
    }
    ts_token *q = ts_token_new();
    ts_token_set(q, TS_FIELD_USER_NAME, "user1@example.com");
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_REFRESH_TOKEN), "1000.refresh-1-SECRET");
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_CLIENT_SECRET), "secret-client-1-SECRET");
    ts_token_clear(q);
    ts_token_set(q, TS_FIELD_ACCESS_TOKEN, "1000.access-2-SECRET");
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_ID), "3");
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_GRANT_TOKEN), "1000.grant-2-SECRET");
    ts_token_clear(q);
    ts_token_set(q, TS_FIELD_CLIENT_ID, "1000.CLIENTID");
    ts_token_set(q, TS_FIELD_CLIENT_SECRET, "secret-client-0-SECRET");
    ts_token_set(q, TS_FIELD_REFRESH_TOKEN, "1000.refresh-0-SECRET");
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_USER_NAME), "user0@example.com");
    ts_token_clear(q);
    ts_token_set(q, TS_FIELD_CLIENT_ID, "1000.CLIENTID");
    ts_token_set(q, TS_FIELD_CLIENT_SECRET, "any");
    ts_token_set(q, TS_FIELD_GRANT_TOKEN, "1000.grant-2-SECRET");
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_ID), "3");
    ts_token_clear(q);
    ts_token_set(q, TS_FIELD_ACCESS_TOKEN, "1000.access-9-SECRET");
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_NOT_FOUND);
    ck_assert_int_eq(ts_find_token_by_id(s, "2", q, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_ACCESS_TOKEN), "1000.access-1-SECRET");
    /* Many at once: each as ts_find_token would answer it. */
    ts_token *many[3] = { ts_token_new(), ts_token_new(), ts_token_new() };
    int results[3];
    ts_token_set(many[0], TS_FIELD_USER_NAME, "user2@example.com");
    ts_token_set(many[1], TS_FIELD_ACCESS_TOKEN, "1000.access-0-SECRET");
    ts_token_set(many[2], TS_FIELD_USER_NAME, "nobody");
    ck_assert_int_eq(ts_find_tokens(s, many, 3, results, &err), TS_OK);
    ck_assert_int_eq(results[0], TS_OK);
    ck_assert_str_eq(ts_token_get(many[0], TS_FIELD_GRANT_TOKEN), "1000.grant-2-SECRET");
    ck_assert_int_eq(results[1], TS_OK);
    ck_assert_str_eq(ts_token_get(many[1], TS_FIELD_USER_NAME), "user0@example.com");
    ck_assert_int_eq(results[2], TS_NOT_FOUND);
    /* A save fills in the caller's empty fields with plain values. */
    ts_token_clear(q);
    ts_token_set(q, TS_FIELD_USER_NAME, "user0@example.com");
    ts_token_set(q, TS_FIELD_ACCESS_TOKEN, "1000.access-0-NEW");
    save_ok(s, q);
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_ID), "1");
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_REFRESH_TOKEN), "1000.refresh-0-SECRET");
    ck_assert_uint_eq(count_tokens(s), 3);
    for (int i = 0; i < 3; i++)
        ts_token_free(many[i]);
    ts_token_free(q);
    ts_store_close(s);
    ts_config_free(c);
}
END_TEST

static int usage_cb(const ts_key_usage *u, void *ud)
{
    ts_key_usage *out = ud;

    if (u->role == TS_KEY_CURRENT)
        *out = *u;
    return TS_OK;
}

/* 1,000 tokens through ts_save_tokens: the store's files, read while it
 * is open (the sqlite WAL holds the frames then), hold none of their
 * secrets; the same tokens in a plain store show every one, so the
 * search is real. */
START_TEST(nothing_secret_reaches_the_disk)
{
    const char *backend = backends[_i], *path = NULL;
    char wal[600];

    for (int encrypted = 1; encrypted >= 0; encrypted--) {
        ts_config *c = encrypted ? encrypted_config(backend, "key_file", new_key("k", NULL), NULL)
                                 : encrypted_config(backend, NULL);
        ts_store *s = open_config(c);
        ts_token *t[1000];
        ts_error err = { 0 };
        for (unsigned i = 0; i < 1000; i++)
            t[i] = numbered_token(i, 1);
        ck_assert_msg(ts_save_tokens(s, t, 1000, &err) == TS_OK, "%s", err.message);
        ck_assert_str_eq(ts_token_get(t[999], TS_FIELD_ID), "1000");
        ts_key_usage u = { 0 };
        ck_assert_int_eq(ts_store_key_usage(s, usage_cb, &u, &err), TS_OK);
        ck_assert_uint_eq(u.tokens, encrypted ? 1000 : 0);
        ck_assert_uint_eq(u.values, encrypted ? 4000 : 0);
        path = ts_config_option(c, "path");
        if (path) {
            size_t len, wlen;
            char *bytes = slurp(path, &len), *wbytes;
            snprintf(wal, sizeof wal, "%s-wal", path);
            wbytes = slurp(wal, &wlen);
            if (strcmp(backend, "sqlite") == 0)
                ck_assert_msg(wlen > 0, "the WAL is empty: nothing was looked at");
            ck_assert_uint_eq(secrets_in(bytes, len, 1000) + secrets_in(wbytes, wlen, 1000),
                              encrypted ? 0 : 4000);
            ck_assert(!encrypted || memmem(bytes, len, "tsenc1:", 7) ||
                      memmem(wbytes, wlen, "tsenc1:", 7));
            free(bytes);
            free(wbytes);
        }
        for (unsigned i = 0; i < 1000; i++)
            ts_token_free(t[i]);
        ts_store_close(s);
        ts_config_free(c);
        if (path) {
            unlink(in_scratch("tokens.csv"));
            unlink(in_scratch("tokens.db"));
        }
        unlink(in_scratch("k"));
    }
}
END_TEST

/* user_name may be sealed too: a user is still found and updated. */
START_TEST(user_names_can_be_sealed)
{
    ts_config *c = encrypted_config("file", "key_file", new_key("k", NULL), "fields",
                                    "user_name,refresh_token,access_token", NULL);
    ts_store *s = open_config(c);
    ts_token *t = numbered_token(5, 0);
    ts_error err = { 0 };
    size_t len;

    save_ok(s, t);
    ts_token_clear(t);
    ts_token_set(t, TS_FIELD_USER_NAME, "user5@example.com");
    ts_token_set(t, TS_FIELD_ACCESS_TOKEN, "1000.access-5-NEW");
    save_ok(s, t);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "1");
    ck_assert_uint_eq(count_tokens(s), 1);
    char *bytes = slurp(in_scratch("tokens.csv"), &len);
    ck_assert_ptr_null(memmem(bytes, len, "user5", 5));
    ck_assert_ptr_null(memmem(bytes, len, "1000.refresh-5", 14));
    ck_assert_ptr_nonnull(memmem(bytes, len, "secret-client-5-SECRET", 22));  /* not listed */
    ts_token_clear(t);
    ts_token_set(t, TS_FIELD_USER_NAME, "user5@example.com");
    ck_assert_int_eq(ts_find_token(s, t, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ACCESS_TOKEN), "1000.access-5-NEW");
    free(bytes);
    ts_token_free(t);
    ts_store_close(s);
    ts_config_free(c);
}
END_TEST

/* ---------------------------------------------------------------- errors */

/* Replaces the last occurrence of `from` in the CSV file by `to`. */
static void edit_csv(const char *from, const char *to)
{
    size_t len;
    char *bytes = slurp(in_scratch("tokens.csv"), &len), *at = NULL;

    for (char *p = bytes; (p = memmem(p, len - (size_t)(p - bytes), from, strlen(from))); p++)
        at = p;

    ck_assert_ptr_nonnull(at);
    FILE *f = fopen(in_scratch("tokens.csv"), "wb");
    fwrite(bytes, 1, (size_t)(at - bytes), f);
    fputs(to, f);
    fwrite(at + strlen(from), 1, len - (size_t)(at - bytes) - strlen(from), f);
    fclose(f);
    free(bytes);
}

/* The sealed text of token id's field, as the file keeps it (the file's
 * line id holds token id). */
static void sealed_of(int id, ts_field f, char *out, size_t size)
{
    size_t len;
    char *bytes = slurp(in_scratch("tokens.csv"), &len), *line = bytes;

    for (int i = 0; i < id; i++)
        line = strchr(line, '\n') + 1;
    for (int k = 0; k < (int)f; k++)
        line = strchr(line, ',') + 1;
    snprintf(out, size, "%.*s", (int)strcspn(line, ",\r\n"), line);
    ck_assert_int_eq(strncmp(out, "tsenc1:", 7), 0);
    free(bytes);
}

static void expect_corrupt(ts_store *s, const char *id, const char *want)
{
    ts_token *t = ts_token_new();
    ts_error err = { 0 };
    size_t n = 0;

    ck_assert_int_eq(ts_find_token_by_id(s, id, t, &err), TS_ERR_CORRUPT);
    ck_assert_msg(strstr(err.message, want), "'%s' lacks '%s'", err.message, want);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_REFRESH_TOKEN), "");   /* nothing handed on */
    ck_assert_int_eq(ts_get_tokens(s, count_cb, &n, &err), TS_ERR_CORRUPT);
    ck_assert_msg(strstr(err.message, want), "get_tokens: '%s'", err.message);
    ts_token_set(t, TS_FIELD_USER_NAME, "user1@example.com");
    ck_assert_int_eq(ts_find_token(s, t, &err), TS_ERR_CORRUPT);
    ck_assert_int_eq(ts_find_token_by_id(s, "1", t, &err), TS_OK);   /* the other reads */
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_REFRESH_TOKEN), "1000.refresh-0-SECRET");
    ts_token_free(t);
}

/* A value changed on disk, or moved from another field, is reported for
 * that token and field, never returned; the other tokens still read. */
START_TEST(tampered_values_are_named)
{
    ts_config *c = encrypted_config("file", "key_file", new_key("k", NULL), NULL);
    ts_store *s = open_config(c);
    char sealed[256], flipped[256], access[256], want[128];

    for (unsigned i = 0; i < 2; i++) {
        ts_token *t = numbered_token(i, 0);
        save_ok(s, t);
        ts_token_free(t);
    }
    snprintf(want, sizeof want, "token 2: refresh_token fails authentication with key %s",
             ts_store_key_id(s));
    ts_store_close(s);
    sealed_of(2, TS_FIELD_REFRESH_TOKEN, sealed, sizeof sealed);
    for (size_t at = 16; at + 1 < strlen(sealed); at += 7) {  /* the IV, then the text */
        snprintf(flipped, sizeof flipped, "%s", sealed);
        flipped[at] = flipped[at] == 'A' ? 'B' : 'A';
        edit_csv(sealed, flipped);
        s = open_config(c);
        expect_corrupt(s, "2", want);
        ts_store_close(s);
        edit_csv(flipped, sealed);
    }
    sealed_of(1, TS_FIELD_ACCESS_TOKEN, access, sizeof access);
    edit_csv(sealed, access);                       /* another field's value */
    s = open_config(c);
    expect_corrupt(s, "2", want);
    ts_store_close(s);
    edit_csv(access, "tsenc1:0000");                /* not the form */
    s = open_config(c);
    expect_corrupt(s, "2", "token 2: refresh_token is not a well-formed encrypted value");
    ts_store_close(s);
    ts_config_free(c);
}
END_TEST

/* A store opened without its keys, or with another key, names what it
 * lacks; a store without encryption never saves a value it could not
 * read back. */
START_TEST(missing_keys_are_named)
{
    char id[TS_KEY_ID_SIZE], other[TS_KEY_ID_SIZE], want[256];
    ts_config *c = encrypted_config("file", "key_file", new_key("k", id), NULL);
    ts_config *wrong = encrypted_config("file", "key_file", new_key("k2", other), NULL);
    ts_config *plain = encrypted_config("file", NULL);
    ts_store *s = open_config(c);
    ts_token *t = numbered_token(0, 0);
    ts_error err = { 0 };

    save_ok(s, t);
    ts_store_close(s);
    s = open_config(plain);
    ck_assert_int_eq(ts_find_token_by_id(s, "1", t, &err), TS_ERR_CONFIG);
    snprintf(want, sizeof want, "token 1: client_secret is encrypted (key %s), and the store "
             "is opened without an encrypt section to read it with", id);
    ck_assert_str_eq(err.message, want);
    ts_token *look = numbered_token(1, 0);
    ts_token_set(look, TS_FIELD_REFRESH_TOKEN, "tsenc1:00000000:AAAA");
    ck_assert_int_eq(ts_save_token(s, look, &err), TS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "refresh_token: the value has the form of an "
                                 "encrypted one"));
    ts_store_close(s);
    s = open_config(wrong);
    ck_assert_int_eq(ts_find_token_by_id(s, "1", t, &err), TS_ERR_CONFIG);
    snprintf(want, sizeof want, "token 1: client_secret is encrypted with key %s, which is not "
             "configured (the current key is %s; name an older one in encrypt.old_key_files "
             "or old_key_env)", id, other);
    ck_assert_str_eq(err.message, want);
    /* Sealed, such a value is a value like any other, and reads back. */
    ck_assert_msg(ts_save_token(s, look, &err) == TS_OK, "%s", err.message);
    ck_assert_int_eq(ts_find_token_by_id(s, "2", t, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_REFRESH_TOKEN), "tsenc1:00000000:AAAA");
    ts_store_close(s);
    ts_token_free(look);
    ts_token_free(t);
    ts_config_free(c);
    ts_config_free(wrong);
    ts_config_free(plain);
}
END_TEST

static Suite *encrypt_suite(void)
{
    Suite *s = suite_create("encrypt");
    TCase *keys = tcase_create("keys"), *store = tcase_create("store");
    TCase *errors = tcase_create("errors");

    tcase_add_checked_fixture(keys, make_scratch, remove_scratch);
    tcase_add_test(keys, keygen_writes_a_private_key);
    tcase_add_test(keys, bad_keys_are_refused);
    tcase_add_test(keys, good_keys_are_taken);
    tcase_add_test(keys, encrypt_section);
    tcase_add_checked_fixture(store, make_scratch, remove_scratch);
    tcase_set_timeout(store, 120);
    tcase_add_loop_test(store, lookups_work_on_sealed_values, 0, NBACKENDS);
    tcase_add_loop_test(store, nothing_secret_reaches_the_disk, 0, NBACKENDS);
    tcase_add_test(store, user_names_can_be_sealed);
    tcase_add_checked_fixture(errors, make_scratch, remove_scratch);
    tcase_add_test(errors, tampered_values_are_named);
    tcase_add_test(errors, missing_keys_are_named);
    suite_add_tcase(s, keys);
    suite_add_tcase(s, store);
    suite_add_tcase(s, errors);
    return s;
}

int main(void)
{
    return run_suite(encrypt_suite());
}
