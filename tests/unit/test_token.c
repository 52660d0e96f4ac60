/*
 * tests/unit/test_token.c - the token model, result codes and the SDK's
 * TokenStore rules as an application sees them.
 *
 * The rules are exercised through the memory backend opened by URI, so
 * what is tested is the whole path an application takes (store.c's checks,
 * the host helpers, rules.c and table.c) rather than internal functions
 * that a refactoring could bypass. Each test builds the rows it needs and
 * checks the stored values afterwards, not just the return code.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"

/*
 * Every explicit_bzero the library calls lands here first: a definition
 * in the executable, made visible despite -fvisibility=hidden, interposes
 * on libc's for the shared library too. The bytes about to be wiped are
 * appended to `wiped`, one call a line, so a test can check that a secret
 * was wiped before its memory was freed, which is otherwise invisible by
 * design.
 */
static char wiped[1 << 16];
static size_t wiped_len;

__attribute__((visibility("default"))) void explicit_bzero(void *p, size_t n)
{
    volatile unsigned char *v = p;

    if (wiped_len + n + 1 < sizeof wiped) {
        memcpy(wiped + wiped_len, p, n);
        wiped_len += n;
        wiped[wiped_len++] = '\n';
        wiped[wiped_len] = '\0';
    }
    while (n--)
        *v++ = 0;
}

static void forget_wipes(void)
{
    wiped_len = 0;
    wiped[0] = '\0';
}

/* memmem, not strstr: a wiped buffer may hold NUL bytes before the value. */
#define assert_wiped(value)                                                         \
    ck_assert_msg(memmem(wiped, wiped_len, (value), strlen(value)) != NULL,        \
                  "'%s' was freed without a wipe", (value))

static const char *const sdk_field_order[TS_FIELD_COUNT] = {
    "id", "user_name", "client_id", "client_secret", "refresh_token",
    "access_token", "grant_token", "expiry_time", "redirect_url", "api_domain",
};

/* A token from NULL-terminated (field name, value) pairs. */
static ts_token *make_token(const char *name, ...)
{
    ts_token *t = ts_token_new();
    va_list ap;

    ck_assert_ptr_nonnull(t);
    va_start(ap, name);
    for (; name; name = va_arg(ap, const char *)) {
        ts_field f;
        ck_assert_msg(ts_field_from_name(name, &f) == TS_OK, "no field %s", name);
        ck_assert_int_eq(ts_token_set(t, f, va_arg(ap, const char *)), TS_OK);
    }
    va_end(ap);
    return t;
}

static ts_store *open_memory(void)
{
    ts_store *s = NULL;
    ts_error err = { 0 };

    ck_assert_msg(ts_store_open(&s, "memory:", &err) == TS_OK, "memory: %s", err.message);
    return s;
}

/* Saves a full user token with the given id ("" for a new one); returns
 * the id it was stored under. */
static unsigned long save_user(ts_store *s, const char *id, const char *user)
{
    char access[64], refresh[64], grant[64];
    ts_error err = { 0 };

    snprintf(access, sizeof access, "access.%s", user);
    snprintf(refresh, sizeof refresh, "refresh.%s", user);
    snprintf(grant, sizeof grant, "grant.%s", user);
    ts_token *t = make_token("id", id, "user_name", user, "client_id", "1000.CLIENT",
                             "client_secret", "s3cret", "access_token", access,
                             "refresh_token", refresh, "grant_token", grant,
                             "expiry_time", "1700000000000", NULL);
    ck_assert_msg(ts_save_token(s, t, &err) == TS_OK, "save %s: %s", user, err.message);
    unsigned long stored = strtoul(ts_token_get(t, TS_FIELD_ID), NULL, 10);
    ts_token_free(t);
    return stored;
}

static int append_id(const ts_token *t, void *userdata)
{
    char *list = userdata;
    size_t used = strlen(list);

    snprintf(list + used, 256 - used, "%s%s", used ? "," : "", ts_token_get(t, TS_FIELD_ID));
    return 0;
}

/* The stored ids in walk order, "1,2,10". */
static const char *walk_ids(ts_store *s)
{
    static char list[256];
    ts_error err = { 0 };

    list[0] = '\0';
    ck_assert_int_eq(ts_get_tokens(s, append_id, list, &err), TS_OK);
    return list;
}

static const char *stored_field(ts_store *s, const char *id, ts_field f)
{
    static char value[256];
    ts_token *t = ts_token_new();
    ts_error err = { 0 };

    ck_assert_msg(ts_find_token_by_id(s, id, t, &err) == TS_OK, "id %s: %s", id, err.message);
    snprintf(value, sizeof value, "%s", ts_token_get(t, f));
    ts_token_free(t);
    return value;
}

/* ------------------------------------------------------------ the token */

START_TEST(field_names_in_sdk_order)
{
    for (int i = 0; i < TS_FIELD_COUNT; i++) {
        ts_field f = TS_FIELD_COUNT;
        ck_assert_str_eq(ts_field_name((ts_field)i), sdk_field_order[i]);
        ck_assert_int_eq(ts_field_from_name(sdk_field_order[i], &f), TS_OK);
        ck_assert_int_eq(f, i);
    }
    ck_assert_int_eq(TS_FIELD_API_DOMAIN, 9);
    ck_assert_ptr_null(ts_field_name(TS_FIELD_COUNT));
    ck_assert_ptr_null(ts_field_name((ts_field)-1));

    ts_field f = TS_FIELD_EXPIRY_TIME;
    const char *bad[] = { "ID", "user", "user_name ", "", "userName", NULL };
    for (int i = 0; bad[i]; i++)
        ck_assert_int_eq(ts_field_from_name(bad[i], &f), TS_ERR_INVALID);
    ck_assert_int_eq(ts_field_from_name(NULL, &f), TS_ERR_INVALID);
    ck_assert_int_eq(f, TS_FIELD_EXPIRY_TIME);
}
END_TEST

START_TEST(absent_field_reads_empty)
{
    ts_token *t = ts_token_new();

    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        ck_assert_ptr_nonnull(ts_token_get(t, (ts_field)f));
        ck_assert_str_eq(ts_token_get(t, (ts_field)f), "");
    }
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_COUNT), "");
    ck_assert_int_eq(ts_token_set(t, TS_FIELD_COUNT, "x"), TS_ERR_INVALID);
    ck_assert_int_eq(ts_token_set(t, (ts_field)-1, "x"), TS_ERR_INVALID);
    ts_token_free(t);
    ts_token_free(NULL);
}
END_TEST

START_TEST(set_empty_or_null_makes_absent)
{
    ts_token *t = ts_token_new();

    ck_assert_int_eq(ts_token_set(t, TS_FIELD_USER_NAME, "a@example.com"), TS_OK);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_USER_NAME), "a@example.com");
    ck_assert_int_eq(ts_token_set(t, TS_FIELD_USER_NAME, ""), TS_OK);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_USER_NAME), "");

    ck_assert_int_eq(ts_token_set(t, TS_FIELD_ACCESS_TOKEN, "1000.abc"), TS_OK);
    ck_assert_int_eq(ts_token_set(t, TS_FIELD_ACCESS_TOKEN, NULL), TS_OK);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ACCESS_TOKEN), "");

    /* An absent field is no lookup key: "" must not match a stored "". */
    ts_store *s = open_memory();
    ts_error err = { 0 };
    ck_assert_int_eq(ts_find_token(s, t, &err), TS_ERR_INVALID);
    ts_store_close(s);
    ts_token_free(t);
}
END_TEST

START_TEST(any_bytes_but_nul_round_trip)
{
    static const char *const values[] = {
        "a,b,,c", "\"quoted\" and 'single'", "line1\r\nline2\n", "tab\there",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91", "\x01\x7f\xff", "=;%00\\", " ",
    };
    ts_token *t = ts_token_new();

    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        ts_field f = (ts_field)(i % TS_FIELD_COUNT);
        ck_assert_int_eq(ts_token_set(t, f, values[i]), TS_OK);
        ck_assert_str_eq(ts_token_get(t, f), values[i]);
    }

    size_t big_len = 64 * 1024;
    char *big = malloc(big_len + 1);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)('!' + i % 90);
    big[big_len] = '\0';
    ck_assert_int_eq(ts_token_set(t, TS_FIELD_REFRESH_TOKEN, big), TS_OK);
    ck_assert_uint_eq(strlen(ts_token_get(t, TS_FIELD_REFRESH_TOKEN)), big_len);
    ck_assert(memcmp(ts_token_get(t, TS_FIELD_REFRESH_TOKEN), big, big_len + 1) == 0);
    ck_assert_ptr_ne(ts_token_get(t, TS_FIELD_REFRESH_TOKEN), big);

    /* And through a store: the stored copy is byte for byte the same. */
    ts_store *s = open_memory();
    ts_error err = { 0 };
    ck_assert_int_eq(ts_token_set(t, TS_FIELD_ID, NULL), TS_OK);
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_OK);
    ts_token *back = ts_token_new();
    ck_assert_int_eq(ts_find_token_by_id(s, ts_token_get(t, TS_FIELD_ID), back, &err), TS_OK);
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        ck_assert_str_eq(ts_token_get(back, (ts_field)f), ts_token_get(t, (ts_field)f));
    ts_token_free(back);
    ts_store_close(s);
    free(big);
    ts_token_free(t);
}
END_TEST

START_TEST(dup_is_deep)
{
    ts_token *t = ts_token_new();

    for (int f = 0; f < TS_FIELD_COUNT; f++)
        ck_assert_int_eq(ts_token_set(t, (ts_field)f, sdk_field_order[f]), TS_OK);
    ts_token *copy = ts_token_dup(t);
    ck_assert_ptr_nonnull(copy);
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        ck_assert_str_eq(ts_token_get(copy, (ts_field)f), sdk_field_order[f]);
        ck_assert_ptr_ne(ts_token_get(copy, (ts_field)f), ts_token_get(t, (ts_field)f));
    }
    ts_token_set(t, TS_FIELD_USER_NAME, "changed");
    ts_token_clear(t);
    ck_assert_str_eq(ts_token_get(copy, TS_FIELD_USER_NAME), "user_name");

    ts_token *empty = ts_token_dup(t);
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        ck_assert_str_eq(ts_token_get(empty, (ts_field)f), "");
    ts_token_free(empty);
    ts_token_free(copy);
    ts_token_free(t);
}
END_TEST

START_TEST(clear_empties_every_field)
{
    ts_token *t = ts_token_new();

    for (int f = 0; f < TS_FIELD_COUNT; f++)
        ts_token_set(t, (ts_field)f, "secret-value");
    ts_token_clear(t);
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        ck_assert_str_eq(ts_token_get(t, (ts_field)f), "");
    /* Still usable after a clear. */
    ck_assert_int_eq(ts_token_set(t, TS_FIELD_GRANT_TOKEN, "g"), TS_OK);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_GRANT_TOKEN), "g");
    ts_token_clear(NULL);
    ts_token_free(t);
}
END_TEST

START_TEST(secret_fields)
{
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        int secret = f == TS_FIELD_CLIENT_SECRET || f == TS_FIELD_REFRESH_TOKEN ||
                     f == TS_FIELD_ACCESS_TOKEN || f == TS_FIELD_GRANT_TOKEN;
        ck_assert_msg(!ts_field_is_secret((ts_field)f) == !secret, "%s", sdk_field_order[f]);
    }
    ck_assert(!ts_field_is_secret(TS_FIELD_COUNT));
}
END_TEST

START_TEST(strerror_names_every_code)
{
    const char *unknown = ts_strerror(TS_CODE_COUNT);

    ck_assert_str_eq(ts_strerror(TS_OK), "no error");
    ck_assert_str_eq(ts_strerror(TS_NOT_FOUND), "not found");
    ck_assert_str_eq(ts_strerror(TS_ERR_CONFLICT), "conflicting token");
    for (int c = 0; c < TS_CODE_COUNT; c++) {
        ck_assert_ptr_nonnull(ts_strerror(c));
        ck_assert_msg(strlen(ts_strerror(c)) > 3, "code %d", c);
        ck_assert_str_ne(ts_strerror(c), unknown);
        for (int d = 0; d < c; d++)
            ck_assert_msg(strcmp(ts_strerror(c), ts_strerror(d)) != 0,
                          "codes %d and %d share '%s'", c, d, ts_strerror(c));
    }
    ck_assert_str_eq(unknown, "unknown error code");
    ck_assert_str_eq(ts_strerror(-1), unknown);
    ck_assert_str_eq(ts_strerror(1000), unknown);
}
END_TEST

START_TEST(secrets_are_wiped_before_free)
{
    ts_token *t = ts_token_new();

    forget_wipes();
    ts_token_set(t, TS_FIELD_CLIENT_SECRET, "first-secret");
    ts_token_set(t, TS_FIELD_CLIENT_SECRET, "second-secret");
    assert_wiped("first-secret");
    ts_token_set(t, TS_FIELD_REFRESH_TOKEN, "1000.refresh.value");
    ts_token_set(t, TS_FIELD_REFRESH_TOKEN, "");
    assert_wiped("1000.refresh.value");
    ts_token_set(t, TS_FIELD_ACCESS_TOKEN, "1000.access.value");
    ts_token_clear(t);
    assert_wiped("second-secret");
    assert_wiped("1000.access.value");
    ts_token_set(t, TS_FIELD_GRANT_TOKEN, "1000.grant.value");
    ts_token *copy = ts_token_dup(t);
    ts_token_free(t);
    assert_wiped("1000.grant.value");

    forget_wipes();
    ts_token_free(copy);
    assert_wiped("1000.grant.value");
}
END_TEST

START_TEST(stores_and_configs_wipe_too)
{
    ts_store *s = open_memory();
    ts_error err = { 0 };
    ts_token *t = make_token("user_name", "a", "refresh_token", "refresh-of-a",
                             "client_secret", "secret-of-a", NULL);

    ck_assert_int_eq(ts_save_token(s, t, &err), TS_OK);
    ts_token_set(t, TS_FIELD_ID, NULL);
    ts_token_set(t, TS_FIELD_USER_NAME, "b");
    ts_token_set(t, TS_FIELD_REFRESH_TOKEN, "refresh-of-b");
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_OK);
    ts_token_set(t, TS_FIELD_USER_NAME, "c");
    ts_token_set(t, TS_FIELD_ID, NULL);
    ts_token_set(t, TS_FIELD_REFRESH_TOKEN, "refresh-of-c");
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_OK);
    ts_token_free(t);

    /* An update, a delete, a delete of all, a close: each wipes the rows. */
    forget_wipes();
    t = make_token("user_name", "a", "refresh_token", "refresh-of-a-2", NULL);
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_OK);
    ts_token_free(t);
    assert_wiped("refresh-of-a");
    forget_wipes();
    ck_assert_int_eq(ts_delete_token(s, "2", &err), TS_OK);
    assert_wiped("refresh-of-b");
    forget_wipes();
    ck_assert_int_eq(ts_delete_tokens(s, &err), TS_OK);
    assert_wiped("refresh-of-a-2");
    assert_wiped("refresh-of-c");
    t = make_token("user_name", "d", "access_token", "access-of-d", NULL);
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_OK);
    ts_token_free(t);
    forget_wipes();
    ts_store_close(s);
    assert_wiped("access-of-d");

    /* A config holds passwords: its options are wiped when freed, and the
     * URI's percent-decoding leaves no copy behind. */
    ts_config *c;
    forget_wipes();
    ck_assert_int_eq(ts_config_parse_uri(&c, "redis://u:pass%20word@h", &err), TS_OK);
    assert_wiped("pass word");
    forget_wipes();
    ck_assert_int_eq(ts_config_set_option(c, "password", "replaced-password", &err), TS_OK);
    assert_wiped("pass word");
    ts_config_free(c);
    assert_wiped("replaced-password");

    /* So is the text of a config file, once parsed. */
    char path[] = "/tmp/tokenstore-wipe.XXXXXX";
    const char *json = "{\"store\": {\"backend\": \"redis\", "
                       "\"options\": {\"password\": \"file-password\"}}}";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, json, strlen(json)), (ssize_t)strlen(json));
    close(fd);
    forget_wipes();
    ck_assert_int_eq(ts_config_load(&c, path, &err), TS_OK);
    unlink(path);
    assert_wiped(json);
    ts_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ find_token */

START_TEST(lookup_key_priority)
{
    ts_store *s = open_memory();
    ts_error err = { 0 };
    unsigned long a = save_user(s, "", "a@example.com");
    unsigned long b = save_user(s, "", "b@example.com");
    ck_assert_uint_eq(a, 1);
    ck_assert_uint_eq(b, 2);

    struct {
        ts_token *query;
        int rc;
        const char *id;
    } cases[] = {
        /* user_name beats access_token, and there is no falling back. */
        { make_token("user_name", "a@example.com", "access_token", "access.b@example.com",
                     NULL), TS_OK, "1" },
        { make_token("user_name", "nobody", "access_token", "access.a@example.com", NULL),
          TS_NOT_FOUND, "" },
        /* access_token only without client credentials. */
        { make_token("access_token", "access.b@example.com", NULL), TS_OK, "2" },
        { make_token("access_token", "access.b@example.com", "client_id", "1000.CLIENT",
                     NULL), TS_ERR_INVALID, "" },
        { make_token("access_token", "access.b@example.com", "client_secret", "s3cret",
                     NULL), TS_ERR_INVALID, "" },
        { make_token("access_token", "access.b@example.com", "client_id", "1000.CLIENT",
                     "client_secret", "s3cret", NULL), TS_ERR_INVALID, "" },
        /* grant or refresh, only with both client credentials. */
        { make_token("grant_token", "grant.a@example.com", "client_id", "1000.CLIENT",
                     "client_secret", "s3cret", NULL), TS_OK, "1" },
        { make_token("grant_token", "grant.a@example.com", "client_id", "1000.CLIENT",
                     NULL), TS_ERR_INVALID, "" },
        { make_token("refresh_token", "refresh.b@example.com", "client_secret", "s3cret",
                     NULL), TS_ERR_INVALID, "" },
        { make_token("refresh_token", "refresh.b@example.com", "client_id", "1000.CLIENT",
                     "client_secret", "s3cret", NULL), TS_OK, "2" },
        /* Both match, different rows: the first in id order, as the SDK's
         * check of each row in file order. */
        { make_token("grant_token", "grant.b@example.com", "refresh_token",
                     "refresh.a@example.com", "client_id", "1000.CLIENT", "client_secret",
                     "s3cret", NULL), TS_OK, "1" },
        { make_token("grant_token", "grant.unknown", "refresh_token",
                     "refresh.a@example.com", "client_id", "1000.CLIENT", "client_secret",
                     "s3cret", NULL), TS_OK, "1" },
        { make_token("grant_token", "grant.unknown", "client_id", "1000.CLIENT",
                     "client_secret", "s3cret", NULL), TS_NOT_FOUND, "" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = ts_find_token(s, cases[i].query, &err);
        ck_assert_msg(rc == cases[i].rc, "case %zu: got %s, expected %s", i, ts_strerror(rc),
                      ts_strerror(cases[i].rc));
        ck_assert_msg(strcmp(ts_token_get(cases[i].query, TS_FIELD_ID), cases[i].id) == 0,
                      "case %zu: id '%s', expected '%s'", i,
                      ts_token_get(cases[i].query, TS_FIELD_ID), cases[i].id);
        ts_token_free(cases[i].query);
    }
    ts_store_close(s);
}
END_TEST

START_TEST(find_fills_only_empty_fields)
{
    ts_store *s = open_memory();
    ts_error err = { 0 };
    save_user(s, "", "a@example.com");

    ts_token *q = make_token("user_name", "a@example.com", "api_domain", "https://caller",
                             "access_token", "caller.access", NULL);
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_ID), "1");
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_API_DOMAIN), "https://caller");
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_ACCESS_TOKEN), "caller.access");
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_REFRESH_TOKEN), "refresh.a@example.com");
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_CLIENT_SECRET), "s3cret");
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_EXPIRY_TIME), "1700000000000");
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_REDIRECT_URL), "");
    /* find_token reads: the stored row kept its own values. */
    ck_assert_str_eq(stored_field(s, "1", TS_FIELD_ACCESS_TOKEN), "access.a@example.com");
    ck_assert_str_eq(stored_field(s, "1", TS_FIELD_API_DOMAIN), "");
    ts_token_free(q);
    ts_store_close(s);
}
END_TEST

START_TEST(find_without_key_is_an_error)
{
    ts_store *s = open_memory();
    ts_error err = { 0 };
    save_user(s, "", "a@example.com");

    ts_token *q = make_token("client_id", "1000.CLIENT", "client_secret", "s3cret",
                             "api_domain", "x", NULL);
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_ERR_INVALID);
    ck_assert_int_eq(err.code, TS_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "lookup key") && strstr(err.message, "user_name"),
                  "message: %s", err.message);
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_ID), "");
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_USER_NAME), "");
    ts_token_free(q);

    /* An empty token is not "the first row" either. */
    q = ts_token_new();
    ck_assert_int_eq(ts_find_token(s, q, NULL), TS_ERR_INVALID);
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_ID), "");
    ts_token_free(q);
    ts_store_close(s);
}
END_TEST

START_TEST(find_miss_leaves_query_alone)
{
    ts_store *s = open_memory();
    ts_error err = { 0 };
    save_user(s, "", "a@example.com");

    ts_token *q = make_token("user_name", "A@example.com", NULL);
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_NOT_FOUND);
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        if (f != TS_FIELD_USER_NAME)
            ck_assert_str_eq(ts_token_get(q, (ts_field)f), "");
    ts_token_free(q);
    ts_store_close(s);
}
END_TEST

/* The ten values joined by NUL, as ts_token_pack and ts_find_token_packed
 * lay them out, from a NULL-terminated list of (field name, value) pairs;
 * its length in *len. */
static const char *packed(size_t *len, const char *name, ...)
{
    static char buf[512];
    const char *value[TS_FIELD_COUNT] = { 0 };
    va_list ap;
    char *p = buf;

    va_start(ap, name);
    for (; name; name = va_arg(ap, const char *)) {
        ts_field f;
        ck_assert(ts_field_from_name(name, &f) == TS_OK);
        value[f] = va_arg(ap, const char *);
    }
    va_end(ap);
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        size_t n = value[f] ? strlen(value[f]) : 0;
        memcpy(p, value[f] ? value[f] : "", n);
        p += n;
        *p++ = '\0';
    }
    *len = (size_t)(p - buf) - 1;
    return buf;
}

START_TEST(pack_joins_the_ten_values_by_nul)
{
    ts_token *t = make_token("id", "7", "user_name", "a@example.com", "refresh_token", "r.1",
                             "api_domain", "https://www.zohoapis.eu", NULL);
    size_t want_len;
    const char *want = packed(&want_len, "id", "7", "user_name", "a@example.com",
                              "refresh_token", "r.1", "api_domain", "https://www.zohoapis.eu",
                              NULL);
    char buf[128];

    ck_assert_uint_eq(want_len, 1 + 13 + 3 + 23 + 9);
    memset(buf, 'x', sizeof buf);
    ck_assert_uint_eq(ts_token_pack(t, buf, sizeof buf), want_len);
    ck_assert_mem_eq(buf, want, want_len + 1);
    /* Too small by one (no room for the final NUL): nothing is written. */
    memset(buf, 'x', sizeof buf);
    ck_assert_uint_eq(ts_token_pack(t, buf, want_len), want_len);
    ck_assert_int_eq(buf[0], 'x');
    ck_assert_uint_eq(ts_token_pack(t, NULL, 0), want_len);
    ts_token_free(t);

    /* An empty token is nine separators. */
    t = ts_token_new();
    ck_assert_uint_eq(ts_token_pack(t, buf, sizeof buf), TS_FIELD_COUNT - 1);
    ck_assert_mem_eq(buf, "\0\0\0\0\0\0\0\0\0\0", TS_FIELD_COUNT);
    ts_token_free(t);
}
END_TEST

START_TEST(find_packed_answers_as_find_does)
{
    ts_store *s = open_memory();
    ts_error err = { 0 };
    char buf[512];
    size_t qlen, len = 99;
    save_user(s, "", "a@example.com");
    save_user(s, "", "b@example.com");

    /* The caller's api_domain and access token stay; the rest is filled. */
    const char *q = packed(&qlen, "user_name", "b@example.com", "api_domain", "https://caller",
                           "access_token", "caller.access", NULL);
    ck_assert_int_eq(ts_find_token_packed(s, q, qlen, buf, sizeof buf, &len, &err), TS_OK);
    size_t want_len;
    const char *want = packed(&want_len, "id", "2", "user_name", "b@example.com",
                              "client_id", "1000.CLIENT", "client_secret", "s3cret",
                              "refresh_token", "refresh.b@example.com",
                              "access_token", "caller.access",
                              "grant_token", "grant.b@example.com",
                              "expiry_time", "1700000000000", "api_domain", "https://caller",
                              NULL);
    ck_assert_uint_eq(len, want_len);
    ck_assert_mem_eq(buf, want, want_len + 1);
    /* The same answer as ts_find_token's, packed. */
    ts_token *t = make_token("user_name", "b@example.com", "api_domain", "https://caller",
                             "access_token", "caller.access", NULL);
    char direct[512];
    ck_assert_int_eq(ts_find_token(s, t, &err), TS_OK);
    ck_assert_uint_eq(ts_token_pack(t, direct, sizeof direct), len);
    ck_assert_mem_eq(direct, buf, len + 1);
    ts_token_free(t);

    /* By refresh token with the client's credentials, as the rules say. */
    q = packed(&qlen, "client_id", "1000.CLIENT", "client_secret", "s3cret",
               "refresh_token", "refresh.a@example.com", NULL);
    ck_assert_int_eq(ts_find_token_packed(s, q, qlen, buf, sizeof buf, &len, &err), TS_OK);
    ck_assert_str_eq(buf, "1");
    ck_assert_str_eq(buf + 2, "a@example.com");

    /* A buffer too small: the length, nothing written; then a larger one. */
    size_t a_len;
    packed(&a_len, "id", "1", "user_name", "a@example.com", "client_id", "1000.CLIENT",
           "client_secret", "s3cret", "refresh_token", "refresh.a@example.com",
           "access_token", "access.a@example.com", "grant_token", "grant.a@example.com",
           "expiry_time", "1700000000000", NULL);
    q = packed(&qlen, "user_name", "a@example.com", NULL);
    memset(buf, 'x', sizeof buf);
    ck_assert_int_eq(ts_find_token_packed(s, q, qlen, buf, 8, &len, &err), TS_OK);
    ck_assert_uint_eq(len, a_len);
    ck_assert_int_eq(buf[0], 'x');
    ck_assert_int_eq(ts_find_token_packed(s, q, qlen, buf, len + 1, &len, &err), TS_OK);
    ck_assert_str_eq(buf + 2, "a@example.com");

    /* A miss and a query without a key answer as ts_find_token does. */
    len = 99;
    q = packed(&qlen, "user_name", "nobody@example.com", NULL);
    ck_assert_int_eq(ts_find_token_packed(s, q, qlen, buf, sizeof buf, &len, &err),
                     TS_NOT_FOUND);
    ck_assert_uint_eq(len, 0);
    q = packed(&qlen, "api_domain", "x", NULL);
    ck_assert_int_eq(ts_find_token_packed(s, q, qlen, buf, sizeof buf, &len, &err),
                     TS_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "lookup key"), "message: %s", err.message);
    ts_store_close(s);
}
END_TEST

START_TEST(find_packed_refuses_a_query_of_other_than_ten_values)
{
    ts_store *s = open_memory();
    ts_error err = { 0 };
    char buf[512];
    size_t len = 99;
    save_user(s, "", "a@example.com");

    static const struct { const char *q; size_t n; } bad[] = {
        { "", 0 },                                            /* one empty value */
        { "\0a@example.com", 14 },                            /* two */
        { "\0a@example.com\0\0\0\0\0\0\0", 21 },              /* nine */
        { "\0a@example.com\0\0\0\0\0\0\0\0\0", 23 },          /* eleven */
        { "\0a@example.com\0\0\0\0\0\0\0\0\0", 24 },          /* ten and a final NUL */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(ts_find_token_packed(s, bad[i].q, bad[i].n, buf, sizeof buf, &len,
                                              &err), TS_ERR_INVALID);
        ck_assert_str_eq(err.message, "ts_find_token_packed: the query is not ten values "
                         "joined by NUL");
        ck_assert_uint_eq(len, 0);
    }
    ck_assert_int_eq(ts_find_token_packed(s, NULL, 0, buf, sizeof buf, &len, &err),
                     TS_ERR_INVALID);
    /* Ten values, the query from the same bytes less the final NUL. */
    ck_assert_int_eq(ts_find_token_packed(s, "\0a@example.com\0\0\0\0\0\0\0\0", 22, buf,
                                          sizeof buf, &len, &err), TS_OK);
    ck_assert_str_eq(buf, "1");
    ts_store_close(s);
}
END_TEST

START_TEST(find_packed_wipes_its_copies)
{
    ts_store *s = open_memory();
    ts_error err = { 0 };
    char buf[512];
    size_t qlen, len;
    save_user(s, "", "a@example.com");

    const char *q = packed(&qlen, "client_id", "1000.CLIENT", "client_secret", "s3cret",
                           "refresh_token", "refresh.a@example.com", NULL);
    forget_wipes();
    ck_assert_int_eq(ts_find_token_packed(s, q, qlen, buf, sizeof buf, &len, &err), TS_OK);
    assert_wiped("refresh.a@example.com");
    assert_wiped("access.a@example.com");
    assert_wiped("grant.a@example.com");
    ts_store_close(s);
}
END_TEST

/* ------------------------------------------------------------ save_token */

START_TEST(save_upserts_by_id)
{
    ts_store *s = open_memory();
    ts_error err = { 0 };
    save_user(s, "", "a@example.com");
    save_user(s, "", "b@example.com");

    ts_token *t = make_token("id", "2", "access_token", "new.access", "expiry_time", "5", NULL);
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "2");
    /* The caller's empty fields were filled from the stored row. */
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_USER_NAME), "b@example.com");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_REFRESH_TOKEN), "refresh.b@example.com");
    ck_assert_str_eq(walk_ids(s), "1,2");
    ck_assert_str_eq(stored_field(s, "2", TS_FIELD_ACCESS_TOKEN), "new.access");
    ck_assert_str_eq(stored_field(s, "2", TS_FIELD_EXPIRY_TIME), "5");
    ck_assert_str_eq(stored_field(s, "2", TS_FIELD_GRANT_TOKEN), "grant.b@example.com");
    ck_assert_str_eq(stored_field(s, "1", TS_FIELD_ACCESS_TOKEN), "access.a@example.com");
    /* The old access token is no longer a key; the new one is. */
    ts_token *q = make_token("access_token", "access.b@example.com", NULL);
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_NOT_FOUND);
    ts_token_free(q);
    q = make_token("access_token", "new.access", NULL);
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_ID), "2");
    ts_token_free(q);
    ts_token_free(t);
    ts_store_close(s);
}
END_TEST

START_TEST(save_upserts_by_key)
{
    ts_store *s = open_memory();
    ts_error err = { 0 };
    save_user(s, "", "a@example.com");
    save_user(s, "", "b@example.com");

    ts_token *t = make_token("user_name", "a@example.com", "grant_token", "grant.new", NULL);
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "1");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_CLIENT_ID), "1000.CLIENT");
    ts_token_free(t);

    /* By access token, without client credentials. */
    t = make_token("access_token", "access.b@example.com", "api_domain", "https://b", NULL);
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "2");
    ts_token_free(t);

    /* By refresh token, with both client credentials. */
    t = make_token("refresh_token", "refresh.a@example.com", "client_id", "1000.CLIENT",
                   "client_secret", "s3cret", "redirect_url", "https://a/cb", NULL);
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "1");
    ts_token_free(t);

    ck_assert_str_eq(walk_ids(s), "1,2");
    ck_assert_str_eq(stored_field(s, "1", TS_FIELD_GRANT_TOKEN), "grant.new");
    ck_assert_str_eq(stored_field(s, "1", TS_FIELD_REDIRECT_URL), "https://a/cb");
    ck_assert_str_eq(stored_field(s, "1", TS_FIELD_ACCESS_TOKEN), "access.a@example.com");
    ck_assert_str_eq(stored_field(s, "2", TS_FIELD_API_DOMAIN), "https://b");
    ck_assert_str_eq(stored_field(s, "2", TS_FIELD_USER_NAME), "b@example.com");
    ts_store_close(s);
}
END_TEST

START_TEST(insert_takes_next_numeric_id)
{
    ts_store *s = open_memory();

    ck_assert_uint_eq(save_user(s, "9", "nine"), 9);
    ck_assert_uint_eq(save_user(s, "", "ten"), 10);
    ck_assert_uint_eq(save_user(s, "", "eleven"), 11);
    ck_assert_uint_eq(save_user(s, "2", "two"), 2);
    ck_assert_uint_eq(save_user(s, "", "twelve"), 12);
    ck_assert_str_eq(walk_ids(s), "2,9,10,11,12");
    ck_assert_str_eq(stored_field(s, "10", TS_FIELD_USER_NAME), "ten");
    ts_store_close(s);

    /* An empty store starts at 1. */
    s = open_memory();
    ts_token *t = make_token("access_token", "only.access", NULL);
    ck_assert_int_eq(ts_save_token(s, t, NULL), TS_OK);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "1");
    ts_token_free(t);
    ts_store_close(s);
}
END_TEST

START_TEST(save_refuses_token_without_any_token)
{
    ts_store *s = open_memory();
    ts_error err = { 0 };

    ts_token *t = make_token("user_name", "a@example.com", "client_id", "1000.CLIENT",
                             "client_secret", "s3cret", "expiry_time", "1", NULL);
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "refresh_token") && strstr(err.message, "grant_token") &&
                  strstr(err.message, "access_token"), "message: %s", err.message);
    ck_assert_msg(!strstr(err.message, "s3cret"), "secret in message: %s", err.message);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "");
    ck_assert_str_eq(walk_ids(s), "");
    ts_token_free(t);
    ts_store_close(s);
}
END_TEST

/* A read-only handle refuses each write call before the backend sees it,
 * naming the backend, and reads still answer. */
/* As the SDK: an update may leave every secret out; the stored row keeps
 * them and they are merged into the caller's token. An insert may not,
 * through save_tokens either. */
START_TEST(update_without_any_token_keeps_the_stored_ones)
{
    ts_store *s = open_memory();
    ts_error err = { 0 };

    ts_token *t = make_token("user_name", "a@example.com", "client_secret", "s3cret",
                             "refresh_token", "1000.r", "access_token", "1000.a", NULL);
    ck_assert_int_eq(ts_save_token(s, t, NULL), TS_OK);
    ts_token_free(t);
    t = make_token("user_name", "a@example.com", "expiry_time", "42", NULL);
    ck_assert_msg(ts_save_token(s, t, &err) == TS_OK, "%s", err.message);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "1");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_REFRESH_TOKEN), "1000.r");
    ts_token_free(t);
    t = make_token("id", "1", "redirect_url", "https://example.com/cb", NULL);
    ck_assert_msg(ts_save_tokens(s, &t, 1, &err) == TS_OK, "%s", err.message);
    ts_token_free(t);
    t = ts_token_new();
    ck_assert_int_eq(ts_find_token_by_id(s, "1", t, NULL), TS_OK);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ACCESS_TOKEN), "1000.a");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_CLIENT_SECRET), "s3cret");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_EXPIRY_TIME), "42");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_REDIRECT_URL), "https://example.com/cb");
    ts_token_free(t);

    t = make_token("user_name", "b@example.com", "expiry_time", "42", NULL);
    ck_assert_int_eq(ts_save_tokens(s, &t, 1, &err), TS_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "matches no stored token"), "%s", err.message);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "");
    ts_token_free(t);
    ck_assert_str_eq(walk_ids(s), "1");
    ts_store_close(s);
}
END_TEST

START_TEST(read_only_handle_refuses_every_write)
{
    ts_store *rw = open_memory(), *s = NULL;
    ts_error err = { 0 };
    ts_backend_info info;

    ck_assert_msg(ts_store_open_flags(&s, "memory:", TS_OPEN_READ_ONLY, &err) == TS_OK, "%s",
                  err.message);
    ts_store_info(s, &info);
    ck_assert_uint_ne(info.caps & TS_CAP_OPEN_FLAGS, 0);
    ts_token *t = make_token("user_name", "a@example.com", "refresh_token", "1000.r", NULL);
    ck_assert_int_eq(ts_find_token(s, t, NULL), TS_NOT_FOUND);
    ck_assert_str_eq(walk_ids(s), "");

    ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_READ_ONLY);
    ck_assert_str_eq(err.message, "memory: the store was opened read-only");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "");
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(ts_save_tokens(s, &t, 1, &err), TS_ERR_READ_ONLY);
    ck_assert_int_eq(err.code, TS_ERR_READ_ONLY);
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(ts_delete_token(s, "1", &err), TS_ERR_READ_ONLY);
    ck_assert_int_eq(err.code, TS_ERR_READ_ONLY);
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(ts_delete_tokens(s, &err), TS_ERR_READ_ONLY);
    ck_assert_int_eq(err.code, TS_ERR_READ_ONLY);
    /* Even a write the core would refuse anyway is refused as read-only. */
    ck_assert_int_eq(ts_delete_token(s, "007", NULL), TS_ERR_READ_ONLY);

    /* The same token saves through a writable handle. */
    ck_assert_int_eq(ts_save_token(rw, t, NULL), TS_OK);
    ck_assert_str_eq(ts_strerror(TS_ERR_READ_ONLY), "store is opened read-only");
    ck_assert_str_eq(ts_strerror(TS_ERR_NO_STORE), "no such store");
    ts_token_free(t);
    ts_store_close(s);
    ts_store_close(rw);
}
END_TEST

START_TEST(one_user_never_gets_two_rows)
{
    ts_store *s = open_memory();
    ts_error err = { 0 };

    save_user(s, "", "a@example.com");
    /* Every other key differs: the user name alone decides. */
    ts_token *t = make_token("user_name", "a@example.com", "client_id", "other",
                             "client_secret", "other", "grant_token", "other.grant",
                             "refresh_token", "other.refresh", "access_token", "other.access",
                             NULL);
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "1");
    ck_assert_str_eq(walk_ids(s), "1");
    ck_assert_str_eq(stored_field(s, "1", TS_FIELD_REFRESH_TOKEN), "other.refresh");
    ts_token_free(t);

    /* A second user is a second row, even with the first one's tokens. */
    t = make_token("user_name", "b@example.com", "client_id", "other", "client_secret",
                   "other", "refresh_token", "other.refresh", NULL);
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "2");
    ck_assert_str_eq(walk_ids(s), "1,2");
    ts_token_free(t);
    ts_store_close(s);
}
END_TEST

START_TEST(conflicts_are_refused_and_change_nothing)
{
    ts_store *s = open_memory();
    ts_error err = { 0 };
    save_user(s, "", "a@example.com");
    save_user(s, "", "b@example.com");

    /* Renaming row 2 to a user that row 1 has. */
    ts_token *t = make_token("id", "2", "user_name", "a@example.com", "access_token", "z", NULL);
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_CONFLICT);
    ck_assert_int_eq(err.code, TS_ERR_CONFLICT);
    ck_assert_msg(strstr(err.message, "a@example.com") && strstr(err.message, "id 1") &&
                  strstr(err.message, "id 2"), "message: %s", err.message);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_CLIENT_ID), "");
    ts_token_free(t);

    /* An existing user under a new id. */
    t = make_token("id", "900", "user_name", "b@example.com", "access_token", "z", NULL);
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_CONFLICT);
    ck_assert_msg(strstr(err.message, "id 2") && strstr(err.message, "900") &&
                  strstr(err.message, "user_name"), "message: %s", err.message);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_CLIENT_ID), "");
    ts_token_free(t);

    /* The same through a grant token key. */
    t = make_token("id", "901", "grant_token", "grant.a@example.com", "client_id",
                   "1000.CLIENT", "client_secret", "s3cret", NULL);
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_CONFLICT);
    ck_assert_msg(strstr(err.message, "grant_token") && !strstr(err.message, "s3cret") &&
                  !strstr(err.message, "grant.a@"), "message: %s", err.message);
    ts_token_free(t);

    ck_assert_str_eq(walk_ids(s), "1,2");
    ck_assert_str_eq(stored_field(s, "1", TS_FIELD_USER_NAME), "a@example.com");
    ck_assert_str_eq(stored_field(s, "2", TS_FIELD_USER_NAME), "b@example.com");
    ck_assert_str_eq(stored_field(s, "2", TS_FIELD_ACCESS_TOKEN), "access.b@example.com");

    /* Keeping a row's own user under its own id is no conflict. */
    t = make_token("id", "2", "user_name", "b@example.com", "access_token", "z", NULL);
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_OK);
    ck_assert_str_eq(stored_field(s, "2", TS_FIELD_ACCESS_TOKEN), "z");
    ts_token_free(t);
    ts_store_close(s);
}
END_TEST

START_TEST(missing_ids_are_not_found)
{
    ts_store *s = open_memory();
    ts_error err = { 0 };
    ts_token *t = ts_token_new();

    save_user(s, "", "a@example.com");
    ck_assert_int_eq(ts_delete_token(s, "42", &err), TS_NOT_FOUND);
    ck_assert_int_eq(ts_find_token_by_id(s, "42", t, &err), TS_NOT_FOUND);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "");
    ck_assert_int_eq(ts_delete_token(s, "1", &err), TS_OK);
    ck_assert_int_eq(ts_delete_token(s, "1", &err), TS_NOT_FOUND);
    ck_assert_int_eq(ts_find_token_by_id(s, "1", t, &err), TS_NOT_FOUND);
    ts_token_free(t);
    ts_store_close(s);
}
END_TEST

START_TEST(find_by_id_replaces_every_field)
{
    ts_store *s = open_memory();
    ts_error err = { 0 };
    save_user(s, "", "a@example.com");

    ts_token *out = make_token("id", "77", "user_name", "stale", "redirect_url", "stale",
                               NULL);
    ck_assert_int_eq(ts_find_token_by_id(s, "2", out, &err), TS_NOT_FOUND);
    ck_assert_str_eq(ts_token_get(out, TS_FIELD_USER_NAME), "stale");
    ck_assert_int_eq(ts_find_token_by_id(s, "1", out, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(out, TS_FIELD_ID), "1");
    ck_assert_str_eq(ts_token_get(out, TS_FIELD_USER_NAME), "a@example.com");
    ck_assert_str_eq(ts_token_get(out, TS_FIELD_GRANT_TOKEN), "grant.a@example.com");
    /* Absent in the row, so absent in out: nothing of the old token stays. */
    ck_assert_str_eq(ts_token_get(out, TS_FIELD_REDIRECT_URL), "");
    ts_token_free(out);
    ts_store_close(s);
}
END_TEST

START_TEST(bad_ids_are_invalid)
{
    static const char *const bad[] = {
        "", "abc", "-1", "+1", " 1", "1 ", "1a", "0x10", "1.0",
        "12345678901234567890", "99999999999999999999999",
        /* "007" would be row 7 to SQLite and another row to a text key. */
        "007", "00", "01",
        /* Past INT64_MAX, which SQLite and Redis integers cannot hold. */
        "9223372036854775808", "9999999999999999999",
    };
    ts_store *s = open_memory();
    ts_error err = { 0 };
    ts_token *t = ts_token_new();

    save_user(s, "", "a@example.com");
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err.message[0] = '\0';
        ck_assert_msg(ts_delete_token(s, bad[i], &err) == TS_ERR_INVALID, "'%s'", bad[i]);
        ck_assert_msg(strstr(err.message, "id '"), "'%s': %s", bad[i], err.message);
        ck_assert_msg(ts_find_token_by_id(s, bad[i], t, &err) == TS_ERR_INVALID, "'%s'", bad[i]);
        ts_token *save = make_token("id", bad[i], "access_token", "x", NULL);
        ck_assert_msg(ts_save_token(s, save, &err) == (bad[i][0] ? TS_ERR_INVALID : TS_OK),
                      "save '%s': %s", bad[i], err.message);
        ts_token_free(save);
    }
    ck_assert_int_eq(ts_delete_token(s, NULL, &err), TS_ERR_INVALID);
    ck_assert_int_eq(ts_find_token_by_id(s, NULL, t, &err), TS_ERR_INVALID);
    /* ts_id_parse, the public form of the check, refuses the same ids and
     * leaves the output alone; it reads good ones by number. */
    uint64_t n = 42;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(ts_id_parse(bad[i], &n) == TS_ERR_INVALID && n == 42, "'%s'", bad[i]);
    ck_assert_int_eq(ts_id_parse(NULL, &n), TS_ERR_INVALID);
    ck_assert_int_eq(ts_id_parse("0", &n), TS_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(ts_id_parse("9223372036854775807", &n), TS_OK);
    ck_assert_uint_eq(n, INT64_MAX);
    ck_assert_int_eq(ts_id_parse("10", NULL), TS_OK);
    /* Only the save with id "" (= no id) stored anything. */
    ck_assert_str_eq(walk_ids(s), "1,2");
    ts_token_free(t);
    ts_store_close(s);
}
END_TEST

/* Ids from 0 to INT64_MAX, then a refusal naming `where` (the store) and
 * the last id, with nothing wrapped or made unreachable. */
static void check_id_range(ts_store *s, const char *where)
{
    ts_error err = { 0 };

    ck_assert_uint_eq(save_user(s, "0", "zero"), 0);
    ck_assert_uint_eq(save_user(s, "", "one"), 1);
    ck_assert_str_eq(stored_field(s, "0", TS_FIELD_USER_NAME), "zero");
    save_user(s, "9223372036854775807", "last");
    ck_assert_str_eq(stored_field(s, "9223372036854775807", TS_FIELD_USER_NAME), "last");

    ts_token *t = make_token("user_name", "late", "access_token", "x", NULL);
    int rc = ts_save_token(s, t, &err);
    ck_assert_msg(rc == TS_ERR_BACKEND, "saved as id %s", ts_token_get(t, TS_FIELD_ID));
    ck_assert_msg(strstr(err.message, "no id is left after 9223372036854775807") &&
                  strstr(err.message, where), "%s", err.message);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "");
    ck_assert_str_eq(walk_ids(s), "0,1,9223372036854775807");
    ts_token_free(t);
}

START_TEST(id_range_ends_cleanly)
{
    ts_store *s = open_memory();

    check_id_range(s, "memory: ");
    ts_store_close(s);
}
END_TEST

#ifdef TS_TEST_SQLITE
/* The sqlite backend takes its next id from the host (ABI 1.2) and names
 * its file and table when none is left. */
START_TEST(sqlite_id_range_ends_cleanly)
{
    char dir[] = "/tmp/tokenstore-ids.XXXXXX", db[64], uri[80], where[128];
    ts_store *s = NULL;
    ts_error err = { 0 };

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/ids.db", dir);
    snprintf(uri, sizeof uri, "sqlite:%s", db);
    snprintf(where, sizeof where, "%s: table oauthtoken: ", db);
    ck_assert_msg(ts_store_open(&s, uri, &err) == TS_OK, "%s", err.message);
    check_id_range(s, where);
    ts_store_close(s);
    unlink(db);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST
#endif

/* The id of the row find_token matches by access token, or "" */
static const char *find_by_access(ts_store *s, const char *access)
{
    static char id[32];
    ts_token *q = make_token("access_token", access, NULL);
    int rc = ts_find_token(s, q, NULL);

    ck_assert_int_eq(rc, *ts_token_get(q, TS_FIELD_ID) ? TS_OK : TS_NOT_FOUND);
    snprintf(id, sizeof id, "%s", ts_token_get(q, TS_FIELD_ID));
    ts_token_free(q);
    return id;
}

/* The table indexes one row per key value, but rows may share a value:
 * the lowest id holding it answers, and losing that row must not lose the
 * others. */
static void set_access(ts_store *s, const char *id, const char *access)
{
    ts_error err = { 0 };
    ts_token *t = make_token("id", id, "access_token", access, NULL);

    ck_assert_int_eq(ts_save_token(s, t, &err), TS_OK);
    ts_token_free(t);
}

START_TEST(shared_key_survives_deletes_and_updates)
{
    ts_store *s = open_memory();
    ts_error err = { 0 };
    const char *users[] = { "a", "b", "c" };

    for (int i = 0; i < 3; i++) {
        ts_token *t = make_token("user_name", users[i], "access_token", "shared", NULL);
        ck_assert_int_eq(ts_save_token(s, t, &err), TS_OK);
        ts_token_free(t);
    }
    ck_assert_str_eq(find_by_access(s, "shared"), "1");
    ck_assert_int_eq(ts_delete_token(s, "1", &err), TS_OK);
    ck_assert_str_eq(find_by_access(s, "shared"), "2");

    /* 2 moves away, comes back (and answers again), moves away again. */
    set_access(s, "2", "own");
    ck_assert_str_eq(find_by_access(s, "shared"), "3");
    ck_assert_str_eq(find_by_access(s, "own"), "2");
    set_access(s, "2", "shared");
    ck_assert_str_eq(find_by_access(s, "shared"), "2");
    set_access(s, "2", "own");
    ck_assert_int_eq(ts_delete_token(s, "3", &err), TS_OK);
    ck_assert_str_eq(find_by_access(s, "shared"), "");
    ck_assert_str_eq(find_by_access(s, "own"), "2");
    ck_assert_str_eq(walk_ids(s), "2");
    ts_store_close(s);
}
END_TEST

static int count_cb(const ts_token *t, void *userdata)
{
    unsigned long *n = userdata;
    unsigned long id = strtoul(ts_token_get(t, TS_FIELD_ID), NULL, 10);

    /* Also checks the order: ids strictly ascending. */
    if (n[0] && id <= n[1])
        return -1;
    n[0]++;
    n[1] = id;
    return 0;
}

START_TEST(thousands_of_rows)
{
    ts_store *s = open_memory();
    ts_error err = { 0 };
    char user[32], id[32];
    enum { ROWS = 3000 };

    for (int i = 1; i <= ROWS; i++) {
        snprintf(user, sizeof user, "user%d@example.com", i);
        ts_token *t = make_token("user_name", user, "refresh_token", user, NULL);
        ck_assert_int_eq(ts_save_token(s, t, &err), TS_OK);
        ts_token_free(t);
    }
    for (int i = 1; i <= ROWS; i += 2) {
        snprintf(id, sizeof id, "%d", i);
        ck_assert_int_eq(ts_delete_token(s, id, &err), TS_OK);
    }
    for (int i = 1; i <= ROWS; i++) {
        snprintf(user, sizeof user, "user%d@example.com", i);
        ts_token *q = make_token("user_name", user, NULL);
        ck_assert_int_eq(ts_find_token(s, q, &err), i % 2 ? TS_NOT_FOUND : TS_OK);
        if (i % 2 == 0) {
            snprintf(id, sizeof id, "%d", i);
            ck_assert_str_eq(ts_token_get(q, TS_FIELD_ID), id);
            ck_assert_str_eq(ts_token_get(q, TS_FIELD_REFRESH_TOKEN), user);
        }
        ts_token_free(q);
    }
    unsigned long n[2] = { 0, 0 };
    ck_assert_int_eq(ts_get_tokens(s, count_cb, n, &err), TS_OK);
    ck_assert_uint_eq(n[0], ROWS / 2);
    ck_assert_uint_eq(n[1], ROWS);
    ts_store_close(s);
}
END_TEST

/* ------------------------------------------------------------ the walk */

START_TEST(walk_is_in_ascending_numeric_id)
{
    ts_store *s = open_memory();
    ts_error err = { 0 };

    save_user(s, "100", "u100");
    save_user(s, "3", "u3");
    save_user(s, "20", "u20");
    save_user(s, "", "u101");
    ck_assert_str_eq(walk_ids(s), "3,20,100,101");
    ck_assert_int_eq(ts_delete_token(s, "3", &err), TS_OK);
    ck_assert_int_eq(ts_delete_token(s, "100", &err), TS_OK);
    save_user(s, "2", "u2");
    save_user(s, "1000", "u1000");
    save_user(s, "99", "u99");
    ck_assert_str_eq(walk_ids(s), "2,20,99,101,1000");
    /* The walk is repeatable and deleting the largest id is reflected. */
    ck_assert_int_eq(ts_delete_token(s, "1000", &err), TS_OK);
    ck_assert_str_eq(walk_ids(s), "2,20,99,101");
    ck_assert_uint_eq(save_user(s, "", "u102"), 102);
    ck_assert_str_eq(walk_ids(s), "2,20,99,101,102");
    ck_assert_int_eq(ts_delete_tokens(s, &err), TS_OK);
    ck_assert_str_eq(walk_ids(s), "");
    ck_assert_uint_eq(save_user(s, "", "again"), 1);
    ts_store_close(s);
}
END_TEST

struct stop_after {
    int visits, limit, value;
};

static int stop_after_cb(const ts_token *t, void *userdata)
{
    struct stop_after *st = userdata;

    (void)t;
    return ++st->visits == st->limit ? st->value : 0;
}

START_TEST(callback_stops_the_walk)
{
    ts_store *s = open_memory();
    ts_error err = { 0 };

    for (int i = 0; i < 5; i++) {
        char user[16];
        snprintf(user, sizeof user, "u%d", i);
        save_user(s, "", user);
    }
    struct stop_after st = { 0, 2, 42 };
    ck_assert_int_eq(ts_get_tokens(s, stop_after_cb, &st, &err), 42);
    ck_assert_int_eq(st.visits, 2);

    st = (struct stop_after){ 0, 1, -7 };
    ck_assert_int_eq(ts_get_tokens(s, stop_after_cb, &st, &err), -7);
    ck_assert_int_eq(st.visits, 1);

    /* A return equal to an error code is still the callback's, untouched. */
    st = (struct stop_after){ 0, 3, TS_ERR_IO };
    err.message[0] = '\0';
    ck_assert_int_eq(ts_get_tokens(s, stop_after_cb, &st, &err), TS_ERR_IO);
    ck_assert_int_eq(st.visits, 3);
    ck_assert_str_eq(err.message, "");

    st = (struct stop_after){ 0, 99, 1 };
    ck_assert_int_eq(ts_get_tokens(s, stop_after_cb, &st, &err), TS_OK);
    ck_assert_int_eq(st.visits, 5);
    ts_store_close(s);
}
END_TEST

static Suite *token_suite(void)
{
    Suite *s = suite_create("token");
    TCase *model = tcase_create("model");
    TCase *rules = tcase_create("rules");

    tcase_add_test(model, field_names_in_sdk_order);
    tcase_add_test(model, absent_field_reads_empty);
    tcase_add_test(model, set_empty_or_null_makes_absent);
    tcase_add_test(model, any_bytes_but_nul_round_trip);
    tcase_add_test(model, dup_is_deep);
    tcase_add_test(model, clear_empties_every_field);
    tcase_add_test(model, secret_fields);
    tcase_add_test(model, strerror_names_every_code);
    tcase_add_test(model, secrets_are_wiped_before_free);
    tcase_add_test(model, pack_joins_the_ten_values_by_nul);
    tcase_add_test(model, stores_and_configs_wipe_too);
    suite_add_tcase(s, model);

    tcase_add_test(rules, lookup_key_priority);
    tcase_add_test(rules, find_fills_only_empty_fields);
    tcase_add_test(rules, find_without_key_is_an_error);
    tcase_add_test(rules, find_miss_leaves_query_alone);
    tcase_add_test(rules, find_packed_answers_as_find_does);
    tcase_add_test(rules, find_packed_refuses_a_query_of_other_than_ten_values);
    tcase_add_test(rules, find_packed_wipes_its_copies);
    tcase_add_test(rules, save_upserts_by_id);
    tcase_add_test(rules, save_upserts_by_key);
    tcase_add_test(rules, insert_takes_next_numeric_id);
    tcase_add_test(rules, save_refuses_token_without_any_token);
    tcase_add_test(rules, update_without_any_token_keeps_the_stored_ones);
    tcase_add_test(rules, read_only_handle_refuses_every_write);
    tcase_add_test(rules, one_user_never_gets_two_rows);
    tcase_add_test(rules, conflicts_are_refused_and_change_nothing);
    tcase_add_test(rules, missing_ids_are_not_found);
    tcase_add_test(rules, find_by_id_replaces_every_field);
    tcase_add_test(rules, bad_ids_are_invalid);
    tcase_add_test(rules, id_range_ends_cleanly);
#ifdef TS_TEST_SQLITE
    tcase_add_test(rules, sqlite_id_range_ends_cleanly);
#endif
    tcase_add_test(rules, shared_key_survives_deletes_and_updates);
    tcase_add_test(rules, thousands_of_rows);
    tcase_add_test(rules, walk_is_in_ascending_numeric_id);
    tcase_add_test(rules, callback_stops_the_walk);
    suite_add_tcase(s, rules);
    return s;
}

int main(void)
{
    return run_suite(token_suite());
}
