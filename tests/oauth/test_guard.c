/*
 * tests/oauth/test_guard.c - which accounts server refreshes a token, and
 * what keeps a failing, revoked or overused token from hammering it.
 *
 * One fake accounts server (fake.h) stands for every data center: each is
 * mapped to a path prefix of it (accounts_url.EU = .../eu), so a test
 * counts the requests each "data center" received. Processes are forked
 * children with handles of their own on one store, as workers are.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"
#include "fake.h"

/* ---------------------------------------------------------------- which server */

static const char *server_of(ts_oauth *o, const char *api_domain)
{
    static ts_token *t;

    if (!t)
        t = ts_token_new();
    ts_token_set(t, TS_FIELD_API_DOMAIN, api_domain);
    return ts_oauth_accounts_url(o, t);
}

START_TEST(api_domain_picks_the_data_center)
{
    static const char *const cases[][2] = {
        { "https://www.zohoapis.com", "https://accounts.zoho.com" },
        { "https://www.zohoapis.eu", "https://accounts.zoho.eu" },
        { "https://sandbox.zohoapis.eu", "https://accounts.zoho.eu" },
        { "https://developer.zohoapis.in", "https://accounts.zoho.in" },
        { "https://www.zohoapis.com.cn", "https://accounts.zoho.com.cn" },
        { "https://WWW.ZOHOAPIS.JP/", "https://accounts.zoho.jp" },
        { "https://www.zohoapis.com.au/crm/v8", "https://accounts.zoho.com.au" },
        { "https://www.zohoapis.ca", "https://accounts.zohocloud.ca" },
        { "https://sandbox.zohoapis.sa", "https://accounts.zoho.sa" },
        { "", "https://accounts.zoho.com" },                  /* data_center's */
        { "https://crm.example.com", "https://accounts.zoho.com" },
        { "https://www.zohoapis.eu.example.com", "https://accounts.zoho.com" },
    };
    ts_oauth *o;
    ts_error err;

    ck_assert_int_eq(ts_oauth_new(&o, NULL, NULL, &err), TS_OK);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        ck_assert_msg(strcmp(server_of(o, cases[i][0]), cases[i][1]) == 0, "%s: %s, not %s",
                      cases[i][0], server_of(o, cases[i][0]), cases[i][1]);
    /* data_center is the server of tokens whose api_domain names none. */
    ck_assert_int_eq(ts_oauth_set(o, "data_center", "JP", &err), TS_OK);
    ck_assert_str_eq(server_of(o, ""), "https://accounts.zoho.jp");
    ck_assert_str_eq(server_of(o, "https://www.zohoapis.eu"), "https://accounts.zoho.eu");
    ts_oauth_free(o);
}
END_TEST

START_TEST(settings_map_servers)
{
    ts_oauth *o;
    ts_error err;

    ck_assert_int_eq(ts_oauth_new(&o, NULL, NULL, &err), TS_OK);
    /* The SDK's accounts_url is the full token URL: taken either way. */
    ck_assert_int_eq(ts_oauth_set(o, "accounts_url", "https://accounts.zoho.com/oauth/v2/token/",
                                  &err), TS_OK);
    ck_assert_str_eq(server_of(o, "https://www.zohoapis.eu"), "https://accounts.zoho.com");
    ck_assert_int_eq(ts_oauth_set(o, "accounts_url.EU", "http://127.0.0.1:9/eu", &err), TS_OK);
    ck_assert_int_eq(ts_oauth_set(o, "accounts_url.sandbox.zohoapis.eu",
                                  "http://127.0.0.1:9/eu-sandbox/oauth/v2/token", &err), TS_OK);
    ck_assert_str_eq(server_of(o, "https://www.zohoapis.eu"), "http://127.0.0.1:9/eu");
    ck_assert_str_eq(server_of(o, "https://developer.zohoapis.eu"), "http://127.0.0.1:9/eu");
    ck_assert_str_eq(server_of(o, "https://sandbox.zohoapis.eu"), "http://127.0.0.1:9/eu-sandbox");
    ck_assert_str_eq(server_of(o, "https://www.zohoapis.in"), "https://accounts.zoho.com");
    ck_assert_int_eq(ts_oauth_set(o, "accounts_url.eu", "http://127.0.0.1:9/eu2", &err), TS_OK);
    ck_assert_str_eq(server_of(o, "https://www.zohoapis.eu"), "http://127.0.0.1:9/eu2");
    ck_assert_int_eq(ts_oauth_set(o, "accounts_url.UK", "http://x", &err), TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, "accounts_url.UK") && strstr(err.message, "data center"),
                  "%s", err.message);
    ck_assert_int_eq(ts_oauth_set(o, "accounts_url.EU", "ftp://x", &err), TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, "oauth.accounts_url.EU: 'ftp://x' is not an http(s) URL"),
                  "%s", err.message);
    ts_oauth_free(o);
}
END_TEST

/* Every setting the library lists has a default it accepts. */
START_TEST(settings_table_is_the_library_s)
{
    size_t n;
    const ts_oauth_setting *s = ts_oauth_settings(&n);
    ts_oauth *o;
    ts_error err;
    char low[32];

    ck_assert_uint_ge(n, 10);
    ck_assert_int_eq(ts_oauth_new(&o, NULL, NULL, &err), TS_OK);
    for (size_t i = 0; i < n; i++) {
        if (!s[i].is_number)
            continue;
        ck_assert_msg(ts_oauth_set(o, s[i].name, s[i].default_value, &err) == TS_OK, "%s: %s",
                      s[i].name, err.message);
        snprintf(low, sizeof low, "%lld", s[i].min - 1);
        ck_assert_msg(ts_oauth_set(o, s[i].name, low, &err) == TS_ERR_CONFIG, "%s", s[i].name);
    }
    ck_assert_str_eq(s[0].name, "data_center");
    ts_oauth_free(o);
    ts_config *cfg;
    ck_assert_int_eq(ts_config_new(&cfg), TS_OK);
    ck_assert_int_eq(ts_config_set_oauth(cfg, "accounts_url.EU", "http://127.0.0.1:9", &err),
                     TS_OK);
    ck_assert_int_eq(ts_config_set_oauth(cfg, "accounts_urls", "x", &err), TS_ERR_CONFIG);
    ts_config_free(cfg);
}
END_TEST

/* ---------------------------------------------------------------- fixtures */

static char store_uri[512];

static ts_oauth *client(ts_store *s, const char *const *settings)
{
    ts_oauth *o;
    ts_error err;

    ck_assert_int_eq(ts_oauth_new(&o, s, NULL, &err), TS_OK);
    for (size_t i = 0; settings && settings[i]; i += 2)
        ck_assert_msg(ts_oauth_set(o, settings[i], settings[i + 1], &err) == TS_OK, "%s: %s",
                      settings[i], err.message);
    return o;
}

/* Saves token `id` for user<id>, of api_domain, expiring at expiry. */
static void store_token(ts_store *s, const char *id, const char *api_domain, long long expiry,
                        const char *refresh)
{
    ts_token *t = ts_token_new();
    char user[64], exp[32];
    ts_error err;

    snprintf(user, sizeof user, "user%s@example.com", id);
    snprintf(exp, sizeof exp, "%lld", expiry);
    ts_token_set(t, TS_FIELD_ID, id);
    ts_token_set(t, TS_FIELD_USER_NAME, user);
    ts_token_set(t, TS_FIELD_CLIENT_ID, "1000.CLIENT");
    ts_token_set(t, TS_FIELD_CLIENT_SECRET, "client-s3cret");
    ts_token_set(t, TS_FIELD_REFRESH_TOKEN, refresh);
    ts_token_set(t, TS_FIELD_ACCESS_TOKEN, "1000.access.old");
    ts_token_set(t, TS_FIELD_EXPIRY_TIME, exp);
    ts_token_set(t, TS_FIELD_API_DOMAIN, api_domain);
    ck_assert_msg(ts_save_token(s, t, &err) == TS_OK, "%s", err.message);
    ts_token_free(t);
}

static int access_of(ts_oauth *o, const char *id, char out[64], ts_error *err)
{
    ts_token *q = ts_token_new();

    ts_token_set(q, TS_FIELD_ID, id);
    int rc = ts_oauth_get_access_token(o, q, err);
    snprintf(out, 64, "%s", ts_token_get(q, TS_FIELD_ACCESS_TOKEN));
    ts_token_free(q);
    return rc;
}

static ts_store *open_store(void)
{
    ts_store *s;
    ts_error err;

    ck_assert_msg(ts_store_open(&s, store_uri, &err) == TS_OK, "%s", err.message);
    return s;
}

static void setup(void)
{
    ts_error err;

    free(server_call("/reset", ""));
    snprintf(store_uri, sizeof store_uri, "file:%s/guard-%d.csv", server_dir, (int)getpid());
    ts_store *s = open_store();
    ck_assert_int_eq(ts_delete_tokens(s, &err), TS_OK);
    ts_store_close(s);
}

/* ---------------------------------------------------------------- data centers */

/* Four tokens of four data centers, each data center at its own server:
 * eight processes need all four at once, and each token is refreshed
 * once, at its own server. */
START_TEST(each_data_center_refreshed_once_at_its_own_server)
{
    static const char *const dcs[][3] = {
        { "1", "https://www.zohoapis.com", "us" }, { "2", "https://www.zohoapis.eu", "eu" },
        { "3", "https://www.zohoapis.in", "in" }, { "4", "https://www.zohoapis.com.au", "au" },
    };
    char urls[4][128];
    const char *settings[9];
    pid_t kids[8];

    for (int i = 0; i < 4; i++) {
        snprintf(urls[i], sizeof urls[i], "%s/%s", accounts_url, dcs[i][2]);
        settings[2 * i] = i == 0 ? "accounts_url.US" : i == 1 ? "accounts_url.EU"
                        : i == 2 ? "accounts_url.IN" : "accounts_url.AU";
        settings[2 * i + 1] = urls[i];
    }
    settings[8] = NULL;
    ts_store *s = open_store();
    for (int i = 0; i < 4; i++)
        store_token(s, dcs[i][0], dcs[i][1], now_ms() + 1000, "1000.refresh.stored");
    ts_store_close(s);
    control("{\"mode\": \"slow\", \"delay\": 0.2}");
    for (int k = 0; k < 8; k++) {
        if ((kids[k] = fork()) == 0) {
            ts_store *mine = open_store();
            ts_oauth *o = client(mine, settings);
            char access[64];
            ts_error err;
            int failed = 0;
            for (int i = 0; i < 4; i++)
                failed += access_of(o, dcs[(i + k) % 4][0], access, &err) != TS_OK;
            ts_oauth_free(o);
            ts_store_close(mine);
            _exit(failed);
        }
    }
    for (int k = 0; k < 8; k++) {
        int status;
        waitpid(kids[k], &status, 0);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker %d failed", k);
    }
    for (int i = 0; i < 4; i++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "/%s/", dcs[i][2]);
        ck_assert_msg(count_path(prefix) == 1, "%s: %d requests", prefix, count_path(prefix));
    }
    ck_assert_int_eq(count("refresh_token"), 4);
}
END_TEST

/* ---------------------------------------------------------------- failures */

struct caller {
    ts_store *store;
    const char *const *settings;
    int calls, ok, backoff, told_when;
};

/* A worker with a client of its own on the caller's store handle. */
static void *call_repeatedly(void *p)
{
    struct caller *c = p;
    ts_oauth *o = client(c->store, c->settings);

    for (int i = 0; i < c->calls; i++) {
        char access[64];
        ts_error err;
        int rc = access_of(o, "1", access, &err);
        c->ok += rc == TS_OK;
        c->backoff += rc == TS_ERR_BACKOFF;
        c->told_when += rc != TS_OK && strstr(err.message, "next try is allowed in") != NULL;
    }
    ts_oauth_free(o);
    return NULL;
}

/* A server answering 500: 8 workers x 5 calls make a few requests, not
 * 8 x 5 x 4, and every caller is told when the next try is allowed. */
START_TEST(failing_server_is_not_hammered)
{
    const char *settings[] = { "accounts_url", accounts_url, "retry_base_ms", "10",
                               "retry_max_ms", "20", NULL };
    struct caller c[8];
    pthread_t th[8];

    ts_store *s = open_store();
    store_token(s, "1", "https://www.zohoapis.com", now_ms() - 1, "1000.refresh.stored");
    control("{\"mode\": \"status\", \"status\": 500, \"fail\": -1}");
    for (int i = 0; i < 8; i++) {
        c[i] = (struct caller){ s, settings, 5, 0, 0, 0 };
        pthread_create(&th[i], NULL, call_repeatedly, &c[i]);
    }
    int told = 0, backoff = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(c[i].ok, 0);
        told += c[i].told_when;
        backoff += c[i].backoff;
    }
    ts_store_close(s);
    ck_assert_msg(count("refresh_token") <= 10, "%d requests", count("refresh_token"));
    ck_assert_int_eq(told, 40);
    ck_assert_int_ge(backoff, 30);
}
END_TEST

/* Every request spends the budget, retries included: with no backoff
 * after a failure, the eleventh request in the window is never sent. */
START_TEST(budget_caps_requests_per_window)
{
    const char *settings[] = { "accounts_url", accounts_url, "retries", "2",
                               "retry_base_ms", "1", "retry_max_ms", "2",
                               "failure_backoff_ms", "0", NULL };
    ts_store *s = open_store();
    struct caller c = { s, settings, 6, 0, 0, 0 };

    store_token(s, "1", "https://www.zohoapis.com", now_ms() - 1, "1000.refresh.stored");
    control("{\"mode\": \"status\", \"status\": 503, \"fail\": -1}");
    call_repeatedly(&c);
    ck_assert_int_eq(count("refresh_token"), 10);
    ck_assert_int_ge(c.backoff, 2);
    /* Served again once the server answers, but still not past the budget. */
    control("{\"mode\": \"success\"}");
    char access[64];
    ts_error err;
    ts_oauth *o = client(s, settings);
    ck_assert_int_eq(access_of(o, "1", access, &err), TS_ERR_BACKOFF);
    ck_assert_msg(strstr(err.message, "10 refresh requests in the last 600 s spent its budget"),
                  "%s", err.message);
    ts_oauth_free(o);
    ts_store_close(s);
}
END_TEST

/* A refresh token the server refuses for good is not sent again, until
 * the stored token gets a new one. */
START_TEST(revoked_token_is_not_retried)
{
    const char *settings[] = { "accounts_url", accounts_url, NULL };
    char access[64];
    ts_error err;

    ts_store *s = open_store();
    ts_oauth *o = client(s, settings);
    store_token(s, "1", "https://www.zohoapis.com", now_ms() - 1, "1000.refresh.revoked");
    control("{\"mode\": \"error\", \"code\": \"invalid_code\"}");
    ck_assert_int_eq(access_of(o, "1", access, &err), TS_ERR_OAUTH);
    ck_assert_msg(strstr(err.message, "invalid_code"), "%s", err.message);
    ck_assert_int_eq(access_of(o, "1", access, &err), TS_ERR_OAUTH);
    ck_assert_msg(strstr(err.message, "not sent again"), "%s", err.message);
    ck_assert_int_eq(count("refresh_token"), 1);
    control("{\"mode\": \"success\"}");
    store_token(s, "1", "https://www.zohoapis.com", now_ms() - 1, "1000.refresh.new");
    ck_assert_msg(access_of(o, "1", access, &err) == TS_OK, "%s", err.message);
    ck_assert_int_eq(count("refresh_token"), 2);
    ts_oauth_free(o);
    ts_store_close(s);
}
END_TEST

/* A backend whose notes fail (a database user without the right to make
 * their table): the handle keeps its own, so this process still backs
 * off, and says why once. */
static void capture_line(void *userdata, int level, const char *message)
{
    if (level == TS_LOG_WARN && strstr(message, "notes beside the tokens cannot be used"))
        ++*(int *)userdata;
}

START_TEST(failing_notes_fall_back_to_the_handle_s_own)
{
    const char *top = getenv("top_builddir");
    char so[512];
    int warned = 0;
    ts_config *cfg;
    ts_store *s;
    ts_error err;

    snprintf(so, sizeof so, "%s/tests/fixtures/.libs/extra_symbol.so", top ? top : ".");
    void *handle = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(handle, "%s", dlerror());
    void (*select)(int);
    *(void **)&select = dlsym(handle, "fixture_select_table");
    select(8);                      /* TABLE_FAILING_NOTES */
    ck_assert_int_eq(ts_config_new(&cfg), TS_OK);
    ck_assert_int_eq(ts_config_set_backend(cfg, so, &err), TS_OK);
    ts_config_set_logger(cfg, capture_line, &warned, TS_LOG_WARN);
    ck_assert_msg(ts_store_open_config(&s, cfg, &err) == TS_OK, "%s", err.message);
    ts_config_free(cfg);
    store_token(s, "1", "https://www.zohoapis.com", now_ms() - 1, "1000.refresh.stored");
    control("{\"mode\": \"status\", \"status\": 500, \"fail\": -1}");
    const char *settings[] = { "accounts_url", accounts_url, "retries", "1",
                               "retry_base_ms", "1", "retry_max_ms", "2", NULL };
    ts_oauth *o = client(s, settings);
    char access[64];
    ck_assert_int_eq(access_of(o, "1", access, &err), TS_ERR_HTTP);
    ck_assert_int_eq(access_of(o, "1", access, &err), TS_ERR_BACKOFF);
    ck_assert_int_eq(count("refresh_token"), 2);
    ck_assert_int_eq(warned, 1);
    ts_oauth_free(o);
    ts_store_close(s);
    select(0);
}
END_TEST

/* ---------------------------------------------------------------- the log */

struct entries {
    int refresh_ok, served, failed;
    long long waited;
};

static int tally(const char *entry, void *ud)
{
    struct entries *e = ud;
    json_object *o = json_tokener_parse(entry), *v;

    ck_assert_ptr_nonnull(o);
    const char *event = json_object_object_get_ex(o, "event", &v) ? json_object_get_string(v) : "";
    const char *result = json_object_object_get_ex(o, "result", &v) ? json_object_get_string(v) : "";
    ck_assert_msg(!strstr(entry, "client-s3cret") && !strstr(entry, "1000.refresh"),
                  "a secret in the log: %s", entry);
    if (strcmp(event, "refresh") == 0 && strcmp(result, "ok") == 0)
        e->refresh_ok++;
    else if (strcmp(event, "served") == 0 && json_object_object_get_ex(o, "waited_ms", &v))
        e->served++, e->waited += json_object_get_int64(v);
    else if (strcmp(result, "ok") != 0)
        e->failed++;
    json_object_put(o);
    return 0;
}

struct waiter {
    ts_oauth *o;
    char access[64];
};

static void *wait_for_token(void *p)
{
    struct waiter *w = p;
    ts_error err;
    if (access_of(w->o, "1", w->access, &err) != TS_OK)
        snprintf(w->access, sizeof w->access, "error");
    return NULL;
}

START_TEST(refresh_log_shows_one_refresh_and_who_it_served)
{
    const char *settings[] = { "accounts_url", accounts_url, NULL };
    struct waiter w[6];
    pthread_t th[6];
    struct entries e = { 0 };
    ts_error err;

    ts_store *s = open_store();
    store_token(s, "1", "https://www.zohoapis.com", now_ms() - 1, "1000.refresh.stored");
    control("{\"mode\": \"slow\", \"delay\": 0.3}");
    for (int i = 0; i < 6; i++) {      /* a client each, as six workers */
        w[i].o = client(s, settings);
        pthread_create(&th[i], NULL, wait_for_token, &w[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        ck_assert_str_eq(w[i].access, "1000.access.1");
    }
    ck_assert_int_eq(ts_oauth_refresh_log(s, tally, &e, &err), TS_OK);
    ck_assert_int_eq(count("refresh_token"), 1);
    ck_assert_int_eq(e.refresh_ok, 1);
    ck_assert_int_eq(e.failed, 0);
    ck_assert_msg(e.served >= 1 && e.served <= 5, "%d served", e.served);
    ck_assert_msg(e.waited > 0, "the served waited %lld ms in all", e.waited);
    for (int i = 0; i < 6; i++)
        ts_oauth_free(w[i].o);
    ts_store_close(s);
}
END_TEST

static Suite *guard_suite(void)
{
    Suite *s = suite_create("guard");
    TCase *tc = tcase_create("servers");

    tcase_add_test(tc, api_domain_picks_the_data_center);
    tcase_add_test(tc, settings_map_servers);
    tcase_add_test(tc, settings_table_is_the_library_s);
    suite_add_tcase(s, tc);
    tc = tcase_create("requests");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, each_data_center_refreshed_once_at_its_own_server);
    tcase_add_test(tc, failing_server_is_not_hammered);
    tcase_add_test(tc, budget_caps_requests_per_window);
    tcase_add_test(tc, revoked_token_is_not_retried);
    tcase_add_test(tc, failing_notes_fall_back_to_the_handle_s_own);
    tcase_add_test(tc, refresh_log_shows_one_refresh_and_who_it_served);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    start_server();
    int rc = run_suite(guard_suite());
    stop_server();
    curl_global_cleanup();
    return rc;
}
