/*
 * tests/oauth/test_oauth.c - the OAuth lifecycle against a fake accounts
 * server (tests/oauth/fake_accounts.py) on a free loopback port, over real
 * HTTP through libcurl.
 *
 * The server counts requests by grant type, so every test checks how many
 * requests reached it, not only what came back: no request while a token
 * is valid, one per refresh, bounded retries, and exactly one refresh when
 * 32 threads or 8 processes need the same expired token at once.
 */
#include <check.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"
#include "fake.h"
#include "../test_store.h"

/* ---------------------------------------------------------------- fixtures */

static ts_store *store;
static ts_oauth *oauth;

static void open_client(const char *uri)
{
    ts_error err;
    ck_assert_msg(ts_store_open(&store, uri, &err) == TS_OK, "%s", err.message);
    ck_assert_int_eq(ts_delete_tokens(store, &err), TS_OK);
    ck_assert_int_eq(ts_oauth_new(&oauth, store, NULL, &err), TS_OK);
    ck_assert_int_eq(ts_oauth_set(oauth, "accounts_url", accounts_url, &err), TS_OK);
    ck_assert_int_eq(ts_oauth_set(oauth, "client_id", "1000.CLIENT", &err), TS_OK);
    ck_assert_int_eq(ts_oauth_set(oauth, "client_secret", "client-s3cret", &err), TS_OK);
    ck_assert_int_eq(ts_oauth_set(oauth, "retry_base_ms", "10", &err), TS_OK);
    ck_assert_int_eq(ts_oauth_set(oauth, "retry_max_ms", "40", &err), TS_OK);
    /* Most tests fail a refresh on purpose and try again at once; the
     * backoff after a failure has tests of its own. */
    ck_assert_int_eq(ts_oauth_set(oauth, "failure_backoff_ms", "0", &err), TS_OK);
}

static void setup(void)
{
    free(server_call("/reset", ""));
    open_client("memory:");
}

static void teardown(void)
{
    ts_oauth_free(oauth);
    ts_store_close(store);
    oauth = NULL;
    store = NULL;
}

/* Stores a token for user me@example.com expiring at `expiry` (ms). */
static void store_token(long long expiry)
{
    ts_token *t = ts_token_new();
    char buf[32];
    ts_error err;

    snprintf(buf, sizeof buf, "%lld", expiry);
    ts_token_set(t, TS_FIELD_USER_NAME, "me@example.com");
    ts_token_set(t, TS_FIELD_CLIENT_ID, "1000.CLIENT");
    ts_token_set(t, TS_FIELD_CLIENT_SECRET, "client-s3cret");
    ts_token_set(t, TS_FIELD_REFRESH_TOKEN, "1000.refresh.stored");
    ts_token_set(t, TS_FIELD_ACCESS_TOKEN, "1000.access.stored");
    ts_token_set(t, TS_FIELD_EXPIRY_TIME, buf);
    ck_assert_msg(ts_save_token(store, t, &err) == TS_OK, "%s", err.message);
    ts_token_free(t);
}

/* get_access_token for me@example.com; returns the code, fills access. */
static int get_token(char *access, size_t n, ts_error *err)
{
    ts_token *q = ts_token_new();
    ts_token_set(q, TS_FIELD_USER_NAME, "me@example.com");
    int rc = ts_oauth_get_access_token(oauth, q, err);
    snprintf(access, n, "%s", ts_token_get(q, TS_FIELD_ACCESS_TOKEN));
    ts_token_free(q);
    return rc;
}

static void assert_stored_unchanged(long long expiry)
{
    ts_token *t = ts_token_new();
    char buf[32];
    ts_error err;

    snprintf(buf, sizeof buf, "%lld", expiry);
    ts_token_set(t, TS_FIELD_USER_NAME, "me@example.com");
    ck_assert_int_eq(ts_find_token(store, t, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ACCESS_TOKEN), "1000.access.stored");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_REFRESH_TOKEN), "1000.refresh.stored");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_EXPIRY_TIME), buf);
    ts_token_free(t);
}

/* ---------------------------------------------------------------- lifecycle */

START_TEST(grant_exchange_then_stored)
{
    ts_token *q = ts_token_new();
    ts_error err;

    ts_token_set(q, TS_FIELD_USER_NAME, "new@example.com");
    ts_token_set(q, TS_FIELD_GRANT_TOKEN, "1000.grant.abc");
    ts_token_set(q, TS_FIELD_REDIRECT_URL, "https://example.com/cb");
    ck_assert_msg(ts_oauth_get_access_token(oauth, q, &err) == TS_OK, "%s", err.message);
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_ACCESS_TOKEN), "1000.access.1");
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_REFRESH_TOKEN), "1000.refresh.1");
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_API_DOMAIN), "https://www.zohoapis.eu");
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_CLIENT_ID), "1000.CLIENT");
    long long expiry = atoll(ts_token_get(q, TS_FIELD_EXPIRY_TIME));
    ck_assert(expiry > now_ms() + 3590 * 1000LL && expiry <= now_ms() + 3600 * 1000LL);
    ck_assert_int_eq(count("authorization_code"), 1);
    ts_token_free(q);

    /* Saved: found by user, and asking again sends nothing. */
    q = ts_token_new();
    ts_token_set(q, TS_FIELD_USER_NAME, "new@example.com");
    ck_assert_int_eq(ts_find_token(store, q, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_GRANT_TOKEN), "1000.grant.abc");
    ck_assert_int_eq(ts_oauth_get_access_token(oauth, q, &err), TS_OK);
    ck_assert_int_eq(count("authorization_code") + count("refresh_token"), 1);
    ts_token_free(q);
    char *body = server_call("/counts", NULL);
    ck_assert_msg(strstr(body, "redirect_uri=https%3A%2F%2Fexample.com%2Fcb"), "%s", body);
    ck_assert_msg(strstr(body, "code=1000.grant.abc"), "%s", body);
    free(body);
}
END_TEST

START_TEST(no_request_while_valid)
{
    char access[64];
    ts_error err;

    /* An hour left: well past refresh_ahead_ms (60 s by default), so no
     * millisecond that passes between the save and the calls matters. */
    store_token(now_ms() + 3600 * 1000LL);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(get_token(access, sizeof access, &err), TS_OK);
        ck_assert_str_eq(access, "1000.access.stored");
    }
    ck_assert_int_eq(count("refresh_token"), 0);
}
END_TEST

START_TEST(refresh_when_expired_or_within_5s)
{
    char access[64];
    ts_error err;

    store_token(now_ms() - 1000);
    ck_assert_int_eq(get_token(access, sizeof access, &err), TS_OK);
    ck_assert_str_eq(access, "1000.access.1");
    ck_assert_int_eq(count("refresh_token"), 1);

    /* Saved: the next call uses it. */
    ck_assert_int_eq(get_token(access, sizeof access, &err), TS_OK);
    ck_assert_str_eq(access, "1000.access.1");
    ck_assert_int_eq(count("refresh_token"), 1);

    /* 3 s left is too little (the SDK's margin is 5 s). */
    store_token(now_ms() + 3000);
    ck_assert_int_eq(get_token(access, sizeof access, &err), TS_OK);
    ck_assert_str_eq(access, "1000.access.2");
    ck_assert_int_eq(count("refresh_token"), 2);
    char *body = server_call("/counts", NULL);
    ck_assert_msg(strstr(body, "refresh_token=1000.refresh.stored"), "%s", body);
    free(body);
}
END_TEST

START_TEST(refresh_when_access_token_missing)
{
    ts_token *t = ts_token_new();
    char access[64];
    ts_error err;

    ts_token_set(t, TS_FIELD_USER_NAME, "me@example.com");
    ts_token_set(t, TS_FIELD_REFRESH_TOKEN, "1000.refresh.stored");
    ck_assert_int_eq(ts_save_token(store, t, &err), TS_OK);
    ts_token_free(t);
    ck_assert_msg(get_token(access, sizeof access, &err) == TS_OK, "%s", err.message);
    ck_assert_str_eq(access, "1000.access.1");
    ck_assert_int_eq(count("refresh_token"), 1);
}
END_TEST

START_TEST(expires_in_milliseconds)
{
    ts_token *q = ts_token_new();
    ts_error err;

    control("{\"mode\": \"ms\"}");
    store_token(0);
    ts_token_set(q, TS_FIELD_USER_NAME, "me@example.com");
    ck_assert_int_eq(ts_oauth_get_access_token(oauth, q, &err), TS_OK);
    long long expiry = atoll(ts_token_get(q, TS_FIELD_EXPIRY_TIME));
    /* 3600000 with expires_in_sec present is ms: one hour, not 1000 hours. */
    ck_assert(expiry > now_ms() + 3590 * 1000LL && expiry <= now_ms() + 3600 * 1000LL);
    ts_token_free(q);
}
END_TEST

START_TEST(revoke_deletes)
{
    ts_token *t = ts_token_new();
    ts_error err;

    store_token(now_ms() + 60000);
    ck_assert_int_eq(ts_oauth_revoke(oauth, "1", &err), TS_OK);
    ck_assert_int_eq(count("revoke"), 1);
    ck_assert_int_eq(ts_find_token_by_id(store, "1", t, &err), TS_NOT_FOUND);
    char *body = server_call("/counts", NULL);
    ck_assert_msg(strstr(body, "\"token=1000.refresh.stored\""), "%s", body);
    ck_assert_msg(strstr(body, "/oauth/v2/token/revoke\""), "%s", body);
    free(body);
    /* A failed revoke keeps the token. */
    store_token(now_ms() + 60000);
    control("{\"mode\": \"error\", \"code\": \"invalid_token\"}");
    ck_assert_int_eq(ts_oauth_revoke(oauth, "1", &err), TS_ERR_OAUTH);
    ck_assert_int_eq(ts_find_token_by_id(store, "1", t, &err), TS_OK);
    ck_assert_int_eq(ts_oauth_revoke(oauth, "99", &err), TS_NOT_FOUND);
    ts_token_free(t);
}
END_TEST

/* ---------------------------------------------------------------- errors */

START_TEST(error_json_carries_code)
{
    char access[64];
    ts_error err;
    long long expiry = now_ms() - 1;

    control("{\"mode\": \"error\", \"code\": \"invalid_code\"}");
    store_token(expiry);
    ck_assert_int_eq(get_token(access, sizeof access, &err), TS_ERR_OAUTH);
    ck_assert_msg(strstr(err.message, "'invalid_code'"), "%s", err.message);
    ck_assert_int_eq(count("refresh_token"), 1);       /* not retried */
    assert_stored_unchanged(expiry);
}
END_TEST

START_TEST(retry_5xx_then_success)
{
    char access[64];
    ts_error err;

    control("{\"mode\": \"status\", \"status\": 500, \"fail\": 2}");
    store_token(0);
    ck_assert_msg(get_token(access, sizeof access, &err) == TS_OK, "%s", err.message);
    ck_assert_str_eq(access, "1000.access.1");
    ck_assert_int_eq(count("refresh_token"), 3);
}
END_TEST

START_TEST(retry_429_then_success)
{
    char access[64];
    ts_error err;

    control("{\"mode\": \"status\", \"status\": 429, \"fail\": 1}");
    store_token(0);
    ck_assert_msg(get_token(access, sizeof access, &err) == TS_OK, "%s", err.message);
    ck_assert_int_eq(count("refresh_token"), 2);
}
END_TEST

START_TEST(retries_are_bounded)
{
    char access[64];
    ts_error err;

    ck_assert_int_eq(ts_oauth_set(oauth, "retries", "2", &err), TS_OK);
    control("{\"mode\": \"status\", \"status\": 503, \"fail\": -1}");
    store_token(0);
    ck_assert_int_eq(get_token(access, sizeof access, &err), TS_ERR_HTTP);
    ck_assert_msg(strstr(err.message, "HTTP status 503"), "%s", err.message);
    ck_assert_int_eq(count("refresh_token"), 3);
    assert_stored_unchanged(0);
}
END_TEST

START_TEST(other_4xx_not_retried)
{
    char access[64];
    ts_error err;

    control("{\"mode\": \"status\", \"status\": 401, \"fail\": -1}");
    store_token(0);
    ck_assert_int_eq(get_token(access, sizeof access, &err), TS_ERR_HTTP);
    ck_assert_int_eq(count("refresh_token"), 1);
    assert_stored_unchanged(0);
}
END_TEST

START_TEST(timeout_enforced)
{
    char access[64];
    ts_error err;

    ck_assert_int_eq(ts_oauth_set(oauth, "timeout_ms", "300", &err), TS_OK);
    control("{\"mode\": \"slow\", \"delay\": 3}");
    store_token(0);
    long long start = now_ms();
    ck_assert_int_eq(get_token(access, sizeof access, &err), TS_ERR_TIMEOUT);
    ck_assert_msg(now_ms() - start < 2000, "took %lld ms", now_ms() - start);
    ck_assert_msg(strstr(err.message, "300 ms"), "%s", err.message);
    assert_stored_unchanged(0);
}
END_TEST

static const char *const bad_bodies[] = { "garbage", "truncated", "empty" };

START_TEST(bad_bodies_are_errors)
{
    char access[64], mode[64];
    ts_error err;

    snprintf(mode, sizeof mode, "{\"mode\": \"%s\"}", bad_bodies[_i]);
    control(mode);
    store_token(0);
    ck_assert_int_eq(get_token(access, sizeof access, &err), TS_ERR_HTTP);
    ck_assert_msg(strstr(err.message, "refresh"), "%s", err.message);
    assert_stored_unchanged(0);
}
END_TEST

/* What a hostile or broken accounts server may send: each is refused, and
 * the stored token stays as it was. */
static const char *const hostile_replies[] = {
    /* an expiry that overflows, or is not a number of seconds up to a year */
    "{\"access_token\": \"1000.a\", \"expires_in\": 9223372036854775807}",
    "{\"access_token\": \"1000.a\", \"expires_in\": 99999999999999999999}",
    "{\"access_token\": \"1000.a\", \"expires_in\": \"3600abc\"}",
    "{\"access_token\": \"1000.a\", \"expires_in\": -5}",
    "{\"access_token\": \"1000.a\", \"expires_in\": 0}",
    "{\"access_token\": \"1000.a\", \"expires_in\": 3600.5}",
    "{\"access_token\": \"1000.a\", \"expires_in\": 31708800001, \"expires_in_sec\": 1}",
    /* values that would be stored and printed as they came */
    "{\"access_token\": \"1000.a\\r\\nX-Injected: 1\", \"expires_in\": 3600}",
    "{\"access_token\": \"1000.a\\u001b[31m\", \"expires_in\": 3600}",
    "{\"access_token\": \"A\\u0000B\", \"expires_in\": 3600}",
    "{\"access_token\": \"1000.a b\", \"expires_in\": 3600}",
    "{\"access_token\": \"1000.\u00e9\", \"expires_in\": 3600}",
    "{\"access_token\": 12345, \"expires_in\": 3600}",
    "{\"access_token\": \"1000.a\", \"refresh_token\": \"r\\nx\", \"expires_in\": 3600}",
    "{\"access_token\": \"1000.a\", \"api_domain\": \"https://x\\r\\n\", \"expires_in\": 3600}",
    "{\"access_token\": \"1000.a\", \"access_token\": \"1000.b\", \"expires_in\": 3600}",
};

START_TEST(hostile_replies_are_refused)
{
    char access[64], *mode;
    json_object *o = json_object_new_object();
    ts_error err;

    json_object_object_add(o, "mode", json_object_new_string("raw"));
    json_object_object_add(o, "body", json_object_new_string(hostile_replies[_i]));
    mode = strdup(json_object_to_json_string(o));
    json_object_put(o);
    control(mode);
    free(mode);
    store_token(0);
    ck_assert_int_eq(get_token(access, sizeof access, &err), TS_ERR_HTTP);
    ck_assert_msg(strstr(err.message, "/oauth/v2/token: the reply"), "%s", err.message);
    ck_assert_msg(!strstr(err.message, "1000.a") && !strstr(err.message, "Injected"), "%s",
                  err.message);
    assert_stored_unchanged(0);
}
END_TEST

START_TEST(a_long_token_is_refused_not_cut)
{
    char body[2200], access[64];
    ts_error err;

    snprintf(body, sizeof body, "{\"mode\": \"raw\", \"body\": \"{\\\"access_token\\\": "
             "\\\"1000.%01100d\\\", \\\"expires_in\\\": 3600}\"}", 0);
    control(body);
    store_token(0);
    ck_assert_int_eq(get_token(access, sizeof access, &err), TS_ERR_HTTP);
    ck_assert_msg(strstr(err.message, "access_token is not printable ASCII of at most 1024"),
                  "%s", err.message);
    assert_stored_unchanged(0);

    /* expires_in as a string of digits, as the SDK also takes it. */
    control("{\"mode\": \"raw\", \"body\": \"{\\\"access_token\\\": \\\"1000.ok\\\", "
            "\\\"expires_in\\\": \\\"3600\\\"}\"}");
    ck_assert_msg(get_token(access, sizeof access, &err) == TS_OK, "%s", err.message);
    ck_assert_str_eq(access, "1000.ok");
}
END_TEST

/* A stored expiry written by another program: out of range or not a number
 * means "refresh", without overflowing anything. */
START_TEST(stored_expiry_out_of_range_refreshes)
{
    static const char *const expiries[] = {
        "-9223372036854775808", "99999999999999999999", "-99999999999999999999", "abc", "12x",
    };
    char access[64];
    ts_error err;

    for (size_t i = 0; i < sizeof expiries / sizeof *expiries; i++) {
        ts_token *t = ts_token_new();
        ts_token_set(t, TS_FIELD_USER_NAME, "me@example.com");
        ts_token_set(t, TS_FIELD_REFRESH_TOKEN, "1000.refresh.stored");
        ts_token_set(t, TS_FIELD_ACCESS_TOKEN, "1000.access.stored");
        ts_token_set(t, TS_FIELD_EXPIRY_TIME, expiries[i]);
        ck_assert_int_eq(ts_save_token(store, t, &err), TS_OK);
        ts_token_free(t);
        ck_assert_msg(get_token(access, sizeof access, &err) == TS_OK, "%s", err.message);
        ck_assert_msg(strcmp(access, "1000.access.stored") != 0, "expiry %s", expiries[i]);
        ck_assert_int_eq(count("refresh_token"), (int)i + 1);
    }
}
END_TEST

START_TEST(connection_refused_retried)
{
    char access[64];
    ts_error err;

    /* A port nobody listens on: the fake server's, after it is gone, is
     * not certain; port 1 on loopback refuses. */
    ck_assert_int_eq(ts_oauth_set(oauth, "accounts_url", "http://127.0.0.1:1", &err), TS_OK);
    ck_assert_int_eq(ts_oauth_set(oauth, "retries", "2", &err), TS_OK);
    store_token(0);
    long long start = now_ms();
    ck_assert_int_eq(get_token(access, sizeof access, &err), TS_ERR_HTTP);
    ck_assert_msg(strstr(err.message, "http://127.0.0.1:1/oauth/v2/token"), "%s", err.message);
    ck_assert(now_ms() - start >= 10);    /* it backed off between attempts */
    assert_stored_unchanged(0);
}
END_TEST

static char *log_text;
static size_t log_len;

static void log_to_file(void *ud, int level, const char *message)
{
    FILE *f = ud;
    (void)level;
    fprintf(f, "%s\n", message);
}

START_TEST(secrets_stay_out_of_urls_logs_errors)
{
    FILE *f = open_memstream(&log_text, &log_len);
    ts_config *cfg;
    char access[64];
    ts_error err;

    teardown();
    ck_assert_int_eq(ts_config_parse_uri(&cfg, "memory:", &err), TS_OK);
    ts_config_set_logger(cfg, log_to_file, f, TS_LOG_DEBUG);
    ck_assert_int_eq(ts_store_open_config(&store, cfg, &err), TS_OK);
    ts_config_free(cfg);
    ck_assert_int_eq(ts_oauth_new(&oauth, store, NULL, &err), TS_OK);
    ck_assert_int_eq(ts_oauth_set(oauth, "accounts_url", accounts_url, &err), TS_OK);
    ck_assert_int_eq(ts_oauth_set(oauth, "retry_base_ms", "1", &err), TS_OK);
    ck_assert_int_eq(ts_oauth_set(oauth, "failure_backoff_ms", "0", &err), TS_OK);
    store_token(0);
    control("{\"mode\": \"status\", \"status\": 500, \"fail\": 1}");
    ck_assert_int_eq(get_token(access, sizeof access, &err), TS_OK);
    control("{\"mode\": \"error\", \"code\": \"1000.refresh.stored\"}");
    store_token(0);
    ck_assert_int_eq(get_token(access, sizeof access, &err), TS_ERR_OAUTH);
    fclose(f);
    ck_assert_msg(strstr(log_text, "POST"), "nothing was logged: %s", log_text);
    static const char *const secrets[] = { "client-s3cret", "1000.refresh.stored",
                                           "1000.access" };
    for (int i = 0; i < 3; i++)
        ck_assert_msg(!strstr(log_text, secrets[i]), "log shows %s: %s", secrets[i], log_text);
    char *body = server_call("/counts", NULL);
    ck_assert_msg(!strstr(body, "?"), "a request URL carried a query: %s", body);
    free(body);
    free(log_text);
}
END_TEST

START_TEST(settings_from_config)
{
    ts_config *cfg;
    ts_oauth *o;
    ts_error err;

    ck_assert_int_eq(ts_config_parse_json(&cfg,
        "{\"store\": \"memory:\", \"oauth\": {\"data_center\": \"XX\"}}", "app.json", &err),
        TS_OK);
    ck_assert_int_eq(ts_oauth_new(&o, store, cfg, &err), TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, "app.json") && strstr(err.message, "oauth.data_center"),
                  "%s", err.message);
    ts_config_free(cfg);
    ck_assert_int_eq(ts_config_parse_json(&cfg,
        "{\"store\": \"memory:\", \"oauth\": {\"client_idd\": \"x\"}}", "app.json", &err),
        TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, "app.json: oauth.client_idd: unknown key"), "%s",
                  err.message);
    /* EU maps to accounts.zoho.eu: there is no network here, so the error
     * names the URL it tried. */
    ck_assert_int_eq(ts_config_parse_json(&cfg,
        "{\"store\": \"memory:\", \"oauth\": {\"data_center\": \"eu\", \"retries\": 0, "
        "\"client_id\": \"a\", \"client_secret\": \"b\", \"connect_timeout_ms\": 2000}}",
        "app.json", &err), TS_OK);
    ck_assert_int_eq(ts_oauth_new(&o, store, cfg, &err), TS_OK);
    store_token(0);
    ts_token *q = ts_token_new();
    ts_token_set(q, TS_FIELD_ID, "1");
    int rc = ts_oauth_get_access_token(o, q, &err);
    ck_assert(rc == TS_ERR_HTTP || rc == TS_ERR_TIMEOUT);
    ck_assert_msg(strstr(err.message, "https://accounts.zoho.eu/oauth/v2/token"), "%s",
                  err.message);
    ts_token_free(q);
    ts_oauth_free(o);
    ts_config_free(cfg);
}
END_TEST

/* ---------------------------------------------------------------- single flight */

static void *worker(void *arg)
{
    char *access = arg;
    ts_error err;
    if (get_token(access, 64, &err) != TS_OK)
        snprintf(access, 64, "error: %.50s", err.message);
    return NULL;
}

START_TEST(single_flight_32_threads)
{
    pthread_t th[32];
    char access[32][64];

    control("{\"mode\": \"slow\", \"delay\": 0.3}");
    store_token(now_ms() - 1);
    for (int i = 0; i < 32; i++)
        pthread_create(&th[i], NULL, worker, access[i]);
    for (int i = 0; i < 32; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(count("refresh_token"), 1);
    for (int i = 0; i < 32; i++)
        ck_assert_str_eq(access[i], "1000.access.1");
}
END_TEST

/* 8 processes, each with its own store handle and client, on one store. */
static void single_flight_processes(const char *uri)
{
    int fds[2];
    pid_t kids[8];
    ts_error err;

    teardown();
    open_client(uri);
    control("{\"mode\": \"slow\", \"delay\": 0.3}");
    store_token(now_ms() - 1);
    teardown();
    ck_assert_int_eq(pipe(fds), 0);
    for (int i = 0; i < 8; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            char access[64];
            ts_store *s;
            ts_oauth *o;
            close(fds[0]);
            if (ts_store_open(&s, uri, &err) != TS_OK || ts_oauth_new(&o, s, NULL, &err) != TS_OK ||
                ts_oauth_set(o, "accounts_url", accounts_url, &err) != TS_OK)
                _exit(2);
            store = s;
            oauth = o;
            if (get_token(access, sizeof access, &err) != TS_OK)
                snprintf(access, sizeof access, "error %d", err.code);
            dprintf(fds[1], "%-63s\n", access);
            _exit(0);
        }
    }
    close(fds[1]);
    expect_workers_said(fds[0], kids, 8, "1000.access.1");
    ck_assert_int_eq(count("refresh_token"), 1);
}

START_TEST(single_flight_8_processes_file)
{
    char uri[256];
    snprintf(uri, sizeof uri, "file:%s/tokens.csv", server_dir);
    single_flight_processes(uri);
}
END_TEST

/* Each backend configure built (--without-sqlite, --without-redis). */
#ifdef TS_TEST_SQLITE
START_TEST(single_flight_8_processes_sqlite)
{
    char uri[256];
    snprintf(uri, sizeof uri, "sqlite:%s/tokens.db", server_dir);
    single_flight_processes(uri);
}
END_TEST
#endif

#ifdef TS_TEST_REDIS
START_TEST(single_flight_8_processes_redis)
{
    const char *port = getenv("TS_TEST_REDIS_PORT");
    char uri[256];
    ck_assert_msg(port && *port, "TS_TEST_REDIS_PORT is not set: no redis-server was started");
    snprintf(uri, sizeof uri, "redis://127.0.0.1:%s/0?prefix=oauth-test:", port);
    single_flight_processes(uri);
}
END_TEST
#endif

static Suite *oauth_suite(void)
{
    Suite *s = suite_create("oauth");
    TCase *tc = tcase_create("lifecycle");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, grant_exchange_then_stored);
    tcase_add_test(tc, no_request_while_valid);
    tcase_add_test(tc, refresh_when_expired_or_within_5s);
    tcase_add_test(tc, refresh_when_access_token_missing);
    tcase_add_test(tc, expires_in_milliseconds);
    tcase_add_test(tc, revoke_deletes);
    tcase_add_test(tc, error_json_carries_code);
    tcase_add_test(tc, retry_5xx_then_success);
    tcase_add_test(tc, retry_429_then_success);
    tcase_add_test(tc, retries_are_bounded);
    tcase_add_test(tc, other_4xx_not_retried);
    tcase_add_test(tc, timeout_enforced);
    tcase_add_loop_test(tc, bad_bodies_are_errors, 0, 3);
    tcase_add_loop_test(tc, hostile_replies_are_refused, 0,
                        (int)(sizeof hostile_replies / sizeof *hostile_replies));
    tcase_add_test(tc, a_long_token_is_refused_not_cut);
    tcase_add_test(tc, stored_expiry_out_of_range_refreshes);
    tcase_add_test(tc, connection_refused_retried);
    tcase_add_test(tc, secrets_stay_out_of_urls_logs_errors);
    tcase_add_test(tc, settings_from_config);
    suite_add_tcase(s, tc);

    tc = tcase_create("single flight");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, single_flight_32_threads);
    tcase_add_test(tc, single_flight_8_processes_file);
#ifdef TS_TEST_SQLITE
    tcase_add_test(tc, single_flight_8_processes_sqlite);
#endif
#ifdef TS_TEST_REDIS
    tcase_add_test(tc, single_flight_8_processes_redis);
#endif
    suite_add_tcase(s, tc);
    return s;
}

/* A redis-server of our own for the shared-store test (tests/redis/server.sh
 * picks a free port, turns persistence off and prints the port). */
static void redis_server(const char *verb)
{
    char cmd[512], port[16] = "";
    const char *src = getenv("top_srcdir");

    snprintf(cmd, sizeof cmd, "sh %s/tests/redis/server.sh %s %s/redis", src ? src : ".", verb,
             server_dir);
    FILE *p = popen(cmd, "r");
    if (p && fgets(port, sizeof port, p))
        port[strcspn(port, "\n")] = '\0';
    if (p && pclose(p) == 0 && *port)
        setenv("TS_TEST_REDIS_PORT", port, 1);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    start_server();
    redis_server("start");
    int status = run_suite(oauth_suite());
    redis_server("stop");
    stop_server();
    curl_global_cleanup();
    return status;
}
