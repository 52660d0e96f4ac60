/*
 * tests/oauth/test_processes.c - what the backends' notes and refresh log
 * are for: eight worker processes sharing one store, each with a handle
 * and an OAuth client of its own, as a pre-forking server's workers are,
 * against the fake accounts server (fake.h).
 *
 * - The server answers HTTP 500. A failed refresh's backoff and the
 *   requests spent of the token's budget are notes in the store, so
 *   every worker sees them: 8 workers x 5 calls send at most 10 requests
 *   in all (one refresh and its retries; with a backoff and a budget of
 *   its own, each worker would send its own 4), and every call is told
 *   when the next try is allowed.
 * - The server answers, slowly. One worker refreshes, the others wait on
 *   the store's lock and take its token: one request. The refresh log,
 *   read through a read-only handle opened afterwards, shows the one
 *   refresh by a worker and "served" entries of other workers, each
 *   logged once, no failure and no secret.
 *
 * The store is the URI in $TS_TEST_STORE (or the first argument), in
 * which each case replaces "{case}" with a name of its own, so that each
 * starts on a store of its own: the notes outlive delete_tokens, and a
 * backoff must not carry from one case into the next. The wrappers
 * tests/oauth/processes-*.test make the store (and start its server) for
 * each backend. Workers report through pipes and exit codes, never
 * through Check.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <json-c/json.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"
#include "../test_store.h"
#include "fake.h"

#define WORKERS 8
#define CALLS 5

/* The SDK's CSV header, which the file backend's token file keeps. */
#define FILE_HEADER "id,user_name,client_id,client_secret,refresh_token,access_token," \
                    "grant_token,expiry_time,redirect_uri,api_domain\r\n"

static const char *uri_template;
static char uri[1024];

/* ---------------------------------------------------------------- the store */

/* Points uri at case `name`'s store. */
static void use_store(const char *name)
{
    const char *from = uri_template, *at;
    size_t used = 0;

    uri[0] = '\0';
    while ((at = strstr(from, "{case}")) != NULL) {
        used += (size_t)snprintf(uri + used, sizeof uri - used, "%.*s%s", (int)(at - from), from,
                                 name);
        from = at + strlen("{case}");
    }
    snprintf(uri + used, sizeof uri - used, "%s", from);
}

static ts_store *open_store(unsigned flags)
{
    ts_config *cfg;
    ts_store *s;
    ts_error err = { 0 };

    ck_assert_msg(ts_config_parse_uri(&cfg, uri, &err) == TS_OK, "%s", err.message);
    ts_config_set_logger(cfg, NULL, NULL, 0);
    ck_assert_msg(ts_store_open_config_flags(&s, cfg, flags, &err) == TS_OK, "open %s: %s", uri,
                  err.message);
    ts_config_free(cfg);
    return s;
}

/* Token 1 of user1, its access token expired, in case `name`'s store. */
static void store_expired_token(const char *name)
{
    char expiry[32];

    use_store(name);
    ts_store *s = open_store(0);
    ts_token *t = make_token("user1@example.com", "1000.refresh.stored", "1000.access.old");
    snprintf(expiry, sizeof expiry, "%lld", wall_ms() - 1);
    ts_token_set(t, TS_FIELD_ID, "1");
    ts_token_set(t, TS_FIELD_EXPIRY_TIME, expiry);
    ts_token_set(t, TS_FIELD_API_DOMAIN, "https://www.zohoapis.com");
    save_ok(s, t);
    ts_token_free(t);
    ts_store_close(s);
}

/* ---------------------------------------------------------------- the workers */

/* What a worker tells the test. */
struct report {
    int opened, calls, ok, told_when;
    pid_t pid;
    char access[64], message[TS_ERROR_MAX];  /* the last call's token, the first odd error */
};

/* Worker k: its own handle and client, then, once the test closes `go`,
 * `calls` ts_oauth_get_access_token calls on token 1, asked for by its id
 * or, in every other worker, by its user name; a report on `out`. */
static void worker(int k, const char *const *settings, int calls, int go, int out)
{
    struct report r = { .pid = getpid() };
    ts_config *cfg = NULL;
    ts_store *s = NULL;
    ts_oauth *o = NULL;
    ts_error err = { 0 };
    char c;

    r.opened = ts_config_parse_uri(&cfg, uri, &err) == TS_OK;
    if (r.opened) {
        ts_config_set_logger(cfg, NULL, NULL, 0);
        r.opened = ts_store_open_config(&s, cfg, &err) == TS_OK &&
                   ts_oauth_new(&o, s, NULL, &err) == TS_OK;
    }
    ts_config_free(cfg);
    for (size_t i = 0; r.opened && settings[i]; i += 2)
        r.opened = ts_oauth_set(o, settings[i], settings[i + 1], &err) == TS_OK;
    if (!r.opened)
        snprintf(r.message, sizeof r.message, "%s", err.message);
    if (read(go, &c, 1) != 0)
        _exit(3);
    for (int i = 0; r.opened && i < calls; i++) {
        ts_token *q = ts_token_new();
        if (k % 2)
            ts_token_set(q, TS_FIELD_USER_NAME, "user1@example.com");
        else
            ts_token_set(q, TS_FIELD_ID, "1");
        int rc = ts_oauth_get_access_token(o, q, &err);
        r.calls++;
        r.ok += rc == TS_OK;
        snprintf(r.access, sizeof r.access, "%s", ts_token_get(q, TS_FIELD_ACCESS_TOKEN));
        if (rc != TS_OK && strstr(err.message, "next try is allowed in"))
            r.told_when++;
        else if (rc != TS_OK && !*r.message)
            snprintf(r.message, sizeof r.message, "%s", err.message);
        ts_token_free(q);
    }
    ts_oauth_free(o);
    if (s)
        ts_store_close(s);
    _exit(write(out, &r, sizeof r) == (ssize_t)sizeof r ? 0 : 3);
}

/* Forks the workers, lets them all go at once, and collects their
 * reports; each must have opened its store and client. */
static void run_workers(const char *const *settings, int calls, struct report *r)
{
    pid_t kids[WORKERS];
    int go[2], out[WORKERS][2];

    ck_assert_int_eq(pipe(go), 0);
    for (int k = 0; k < WORKERS; k++) {
        ck_assert_int_eq(pipe(out[k]), 0);
        kids[k] = fork();
        ck_assert_int_ge(kids[k], 0);
        if (kids[k] == 0) {
            close(go[1]);
            close(out[k][0]);
            worker(k, settings, calls, go[0], out[k][1]);
        }
        close(out[k][1]);
    }
    close(go[0]);
    close(go[1]);                               /* all go */
    for (int k = 0; k < WORKERS; k++) {
        int status;
        ssize_t got = read(out[k][0], &r[k], sizeof r[k]);
        close(out[k][0]);
        ck_assert_int_eq(waitpid(kids[k], &status, 0), kids[k]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0 && got == (ssize_t)sizeof r[k],
                      "worker %d: status %#x", k, status);
        ck_assert_msg(r[k].opened, "worker %d: %s", k, r[k].message);
    }
}

static void reset_server(void)
{
    free(server_call("/reset", ""));
}

/* ---------------------------------------------------------------- a failing server */

/* The workers together stay within one refresh and its retries, and
 * within the budget of 10, and each of the 40 calls says when the next
 * try is allowed. A backoff far longer than the test keeps a slow
 * machine from reaching the next try. */
START_TEST(failing_server_is_not_hammered_by_processes)
{
    const char *settings[] = { "accounts_url", accounts_url, "retry_base_ms", "10",
                               "retry_max_ms", "20", "failure_backoff_ms", "600000", NULL };
    struct report r[WORKERS];
    int told = 0;

    store_expired_token("failing");
    control("{\"mode\": \"status\", \"status\": 500, \"fail\": -1}");
    run_workers(settings, CALLS, r);
    for (int k = 0; k < WORKERS; k++) {
        ck_assert_int_eq(r[k].calls, CALLS);
        ck_assert_int_eq(r[k].ok, 0);
        ck_assert_msg(r[k].told_when == CALLS, "worker %d: %d of %d calls said when; %s", k,
                      r[k].told_when, CALLS, r[k].message);
        told += r[k].told_when;
    }
    int requests = count("refresh_token");
    ck_assert_msg(requests >= 1 && requests <= 10, "%d requests reached the server", requests);
    ck_assert_int_eq(told, WORKERS * CALLS);
}
END_TEST

/* ---------------------------------------------------------------- the log */

struct tally {
    int refresh_ok, served, other;
    pid_t refresher, pids[64];
    int npids;
};

static int tally_entry(const char *entry, void *ud)
{
    struct tally *t = ud;
    json_object *o = json_tokener_parse(entry), *v;

    ck_assert_msg(o != NULL, "not JSON: %s", entry);
    ck_assert_msg(!strstr(entry, "client-secret-value") && !strstr(entry, "1000.refresh") &&
                  !strstr(entry, "1000.access"), "a secret in the log: %s", entry);
    const char *event = json_object_object_get_ex(o, "event", &v) ? json_object_get_string(v)
                                                                   : "";
    const char *result = json_object_object_get_ex(o, "result", &v) ? json_object_get_string(v)
                                                                     : "";
    pid_t pid = json_object_object_get_ex(o, "pid", &v) ? (pid_t)json_object_get_int64(v) : 0;
    if (strcmp(event, "refresh") == 0 && strcmp(result, "ok") == 0)
        t->refresh_ok++, t->refresher = pid;
    else if (strcmp(event, "served") == 0 && strcmp(result, "ok") == 0)
        t->served++;
    else
        t->other++;
    if (t->npids < 64)
        t->pids[t->npids++] = pid;
    json_object_put(o);
    return 0;
}

static int is_worker(const struct report *r, pid_t pid)
{
    for (int k = 0; k < WORKERS; k++)
        if (r[k].pid == pid)
            return 1;
    return 0;
}

/* The file backend's token file is still the SDK's: its header and its
 * one row. */
static void check_sdk_file(const char *path)
{
    char line[1024];
    FILE *fp = fopen(path, "rb");

    ck_assert_msg(fp != NULL, "%s", path);
    ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
    ck_assert_str_eq(line, FILE_HEADER);
    ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
    ck_assert_msg(strncmp(line, "1,user1@example.com,", 20) == 0, "%s", line);
    ck_assert_ptr_null(fgets(line, sizeof line, fp));
    fclose(fp);
}

/* Eight workers need the token at once: one request, one "refresh"
 * entry, and "served" entries from other workers, each logged once, all
 * seen by a reader that took part in none of it. */
START_TEST(refresh_log_is_shared_by_processes)
{
    const char *settings[] = { "accounts_url", accounts_url, NULL };
    struct report r[WORKERS];
    struct tally t = { 0 };
    ts_error err = { 0 };

    store_expired_token("served");
    control("{\"mode\": \"slow\", \"delay\": 0.5}");
    run_workers(settings, 1, r);
    for (int k = 0; k < WORKERS; k++)
        ck_assert_msg(r[k].ok == 1 && strcmp(r[k].access, "1000.access.1") == 0,
                      "worker %d: %s %s", k, r[k].access, r[k].message);
    ck_assert_int_eq(count("refresh_token"), 1);

    ts_store *s = open_store(TS_OPEN_READ_ONLY);
    ck_assert_int_eq(ts_oauth_refresh_log(s, tally_entry, &t, &err), TS_OK);
    ck_assert_uint_eq(count_tokens(s), 1);
    ts_store_close(s);
    ck_assert_int_eq(t.refresh_ok, 1);
    ck_assert_int_eq(t.other, 0);
    ck_assert_msg(is_worker(r, t.refresher), "refreshed by pid %d, no worker's",
                  (int)t.refresher);
    ck_assert_msg(t.served >= 1 && t.served <= WORKERS - 1, "%d served", t.served);
    for (int i = 0; i < t.npids; i++) {
        ck_assert_msg(is_worker(r, t.pids[i]), "entry %d: pid %d is no worker's", i,
                      (int)t.pids[i]);
        for (int j = 0; j < i; j++)
            ck_assert_msg(t.pids[j] != t.pids[i], "pid %d logged twice", (int)t.pids[i]);
    }
    if (strncmp(uri, "file:", 5) == 0)
        check_sdk_file(uri + 5);
}
END_TEST

int main(int argc, char **argv)
{
    char scheme[32];

    uri_template = argc > 1 ? argv[1] : getenv("TS_TEST_STORE");
    if (!uri_template || !strstr(uri_template, "{case}")) {
        puts("Bail out! no store: give a URI with {case} in it (TS_TEST_STORE or argument)");
        return 99;
    }
    snprintf(scheme, sizeof scheme, "%.*s", (int)strcspn(uri_template, ":"), uri_template);
    Suite *suite = suite_create("oauth processes");
    TCase *tc = tcase_create(scheme);

    tcase_add_checked_fixture(tc, reset_server, NULL);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, failing_server_is_not_hammered_by_processes);
    tcase_add_test(tc, refresh_log_is_shared_by_processes);
    suite_add_tcase(suite, tc);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    start_server();
    int rc = run_suite(suite);
    stop_server();
    curl_global_cleanup();
    return rc;
}
