/*
 * tests/file/test_file_oauth.c - what the file backend's notes and log
 * (tests/file/test_file_notes.c) are for: processes sharing a file store
 * share a failing token's backoff and the refresh log. Eight forked
 * workers, each with a handle and an OAuth client of its own, against the
 * fake accounts server (tests/oauth/fake.h).
 */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"
#include "../test_store.h"
#include "../oauth/fake.h"

#define HEADER "id,user_name,client_id,client_secret,refresh_token,access_token," \
               "grant_token,expiry_time,redirect_uri,api_domain\r\n"

#define WORKERS 8

static char path[512], uri[600];

static ts_store *open_store(void)
{
    ts_store *s;
    ts_error err = { 0 };
    ck_assert_msg(ts_store_open(&s, uri, &err) == TS_OK, "%s", err.message);
    return s;
}

/* Token 1 of user1, its access token expired. */
static void store_expired_token(void)
{
    ts_store *s = open_store();
    ts_token *t = make_token("user1@example.com", "1000.refresh.stored", "1000.access.old");
    char expiry[32];
    snprintf(expiry, sizeof expiry, "%lld", now_ms() - 1);
    ts_token_set(t, TS_FIELD_ID, "1");
    ts_token_set(t, TS_FIELD_EXPIRY_TIME, expiry);
    ts_token_set(t, TS_FIELD_API_DOMAIN, "https://www.zohoapis.com");
    save_ok(s, t);
    ts_token_free(t);
    ts_store_close(s);
}

/* A worker: a handle and a client of its own, then, once all are
 * ready (`go` closes), `calls` access tokens of token 1. Reports per call
 * 'o' (served), 't' (an error saying when the next try is allowed) or 'x'
 * (another error). */
static void worker(const char *const *settings, int calls, int go, int fd)
{
    ts_store *s = open_store();
    ts_oauth *o;
    ts_error err = { 0 };
    char answers[16], c;

    if (ts_oauth_new(&o, s, NULL, &err) != TS_OK)
        _exit(2);
    for (int i = 0; settings[i]; i += 2)
        if (ts_oauth_set(o, settings[i], settings[i + 1], &err) != TS_OK)
            _exit(2);
    if (read(go, &c, 1) != 0)
        _exit(2);
    for (int i = 0; i < calls; i++) {
        ts_token *q = ts_token_new();
        ts_token_set(q, TS_FIELD_ID, "1");
        int rc = ts_oauth_get_access_token(o, q, &err);
        answers[i] = rc == TS_OK && strcmp(ts_token_get(q, TS_FIELD_ACCESS_TOKEN),
                                           "1000.access.1") == 0 ? 'o'
                   : rc != TS_OK && strstr(err.message, "next try is allowed in") ? 't' : 'x';
        ts_token_free(q);
    }
    ts_oauth_free(o);
    ts_store_close(s);
    _exit(write(fd, answers, (size_t)calls) == calls ? 0 : 3);
}

/* Forks the workers; their answers, all in one string. */
static void run_workers(const char *const *settings, int calls, char *answers)
{
    pid_t kids[WORKERS];
    int fds[WORKERS][2], go[2];

    ck_assert_int_eq(pipe(go), 0);
    for (int k = 0; k < WORKERS; k++) {
        ck_assert_int_eq(pipe(fds[k]), 0);
        if ((kids[k] = fork()) == 0) {
            close(fds[k][0]);
            close(go[1]);
            worker(settings, calls, go[0], fds[k][1]);
        }
        close(fds[k][1]);
    }
    close(go[0]);
    close(go[1]);               /* all start at once */
    for (int k = 0; k < WORKERS; k++) {
        int status;
        ck_assert_int_eq(read(fds[k][0], answers + k * calls, (size_t)calls), calls);
        close(fds[k][0]);
        ck_assert_int_eq(waitpid(kids[k], &status, 0), kids[k]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker %d failed", k);
    }
    answers[WORKERS * calls] = '\0';
}

static void oauth_setup(void)
{
    make_scratch();
    free(server_call("/reset", ""));
    snprintf(path, sizeof path, "%s/workers.csv", scratch);
    snprintf(uri, sizeof uri, "file:%s", path);
    store_expired_token();
}

/* A server answering 500: eight processes x five calls send a few
 * requests, not one failed refresh's worth each, and every caller is told
 * when the next try is allowed. (The backoff after the failure is a
 * minute, not the default 5 s, so that a slow machine's forty calls all
 * fall within it.) */
START_TEST(test_failing_server_is_not_hammered_by_processes)
{
    const char *settings[] = { "accounts_url", accounts_url, "retry_base_ms", "10",
                               "retry_max_ms", "20", "failure_backoff_ms", "60000", NULL };
    char answers[WORKERS * 5 + 1];

    control("{\"mode\": \"status\", \"status\": 500, \"fail\": -1}");
    run_workers(settings, 5, answers);
    ck_assert_msg(count("refresh_token") <= 10, "%d requests reached the server",
                  count("refresh_token"));
    for (int i = 0; i < WORKERS * 5; i++)
        ck_assert_msg(answers[i] == 't', "call %d of worker %d: %c (%s)", i % 5, i / 5,
                      answers[i], answers);
}
END_TEST

struct tally {
    int refresh_ok, served, other;
    long long refresher, served_pid[WORKERS];
};

static int tally_entry(const char *entry, void *ud)
{
    struct tally *t = ud;
    json_object *o = json_tokener_parse(entry), *v;

    ck_assert_msg(o != NULL, "not JSON: %s", entry);
    const char *event = json_object_object_get_ex(o, "event", &v) ? json_object_get_string(v) : "";
    const char *result = json_object_object_get_ex(o, "result", &v) ? json_object_get_string(v) : "";
    long long pid = json_object_object_get_ex(o, "pid", &v) ? json_object_get_int64(v) : 0;
    ck_assert_msg(!strstr(entry, "client-secret-value") && !strstr(entry, "1000.refresh"),
                  "a secret in the log: %s", entry);
    if (strcmp(event, "refresh") == 0 && strcmp(result, "ok") == 0)
        t->refresh_ok++, t->refresher = pid;
    else if (strcmp(event, "served") == 0 && strcmp(result, "ok") == 0 && t->served < WORKERS)
        t->served_pid[t->served++] = pid;
    else
        t->other++;
    json_object_put(o);
    return 0;
}

/* Eight processes need the expired token at once: the log, read from a
 * handle opened afterwards, shows one refresh and the processes it served,
 * each a process of its own. */
START_TEST(test_refresh_log_is_shared_by_processes)
{
    const char *settings[] = { "accounts_url", accounts_url, NULL };
    char answers[WORKERS + 1];
    struct tally t = { 0 };
    ts_error err = { 0 };
    ts_store *s;

    control("{\"mode\": \"slow\", \"delay\": 0.5}");
    run_workers(settings, 1, answers);
    ck_assert_str_eq(answers, "oooooooo");
    ck_assert_int_eq(count("refresh_token"), 1);
    ck_assert_msg(ts_store_open_flags(&s, uri, TS_OPEN_READ_ONLY, &err) == TS_OK, "%s",
                  err.message);
    ck_assert_int_eq(ts_oauth_refresh_log(s, tally_entry, &t, &err), TS_OK);
    ts_store_close(s);
    ck_assert_int_eq(t.refresh_ok, 1);
    ck_assert_int_eq(t.other, 0);
    ck_assert_msg(t.served >= 1, "no process was logged as served by the refresh");
    for (int i = 0; i < t.served; i++) {
        ck_assert_msg(t.served_pid[i] > 0 && t.served_pid[i] != t.refresher &&
                      t.served_pid[i] != getpid(), "served pid %lld", t.served_pid[i]);
        for (int j = 0; j < i; j++)
            ck_assert_msg(t.served_pid[j] != t.served_pid[i], "pid %lld served twice",
                          t.served_pid[i]);
    }
    /* The token file is still the SDK's: its header and its one row. */
    char line[1024];
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
    ck_assert_str_eq(line, HEADER);
    ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
    ck_assert_msg(strncmp(line, "1,user1@example.com,", 20) == 0, "%s", line);
    ck_assert_ptr_null(fgets(line, sizeof line, fp));
    fclose(fp);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("file oauth");
    TCase *tc = tcase_create("oauth");

    tcase_add_checked_fixture(tc, oauth_setup, remove_scratch);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_failing_server_is_not_hammered_by_processes);
    tcase_add_test(tc, test_refresh_log_is_shared_by_processes);
    suite_add_tcase(suite, tc);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    start_server();
    int rc = run_suite(suite);
    stop_server();
    curl_global_cleanup();
    return rc;
}
