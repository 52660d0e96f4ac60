/*
 * tests/postgres/test_postgres_notes.c - the postgres backend's notes and
 * refresh log (ABI 1.4's note_set, note_get, log_append, log_walk) against
 * a real PostgreSQL server, and what they are for: the OAuth client's
 * backoff and refresh log seen by every process sharing the store.
 *
 * The cases the mysql backend shares are tests/sql/notes_cases.h; here
 * are PostgreSQL's own: names with trailing spaces kept apart, values of
 * 100 KiB and names up to 1,024 bytes, the SDK's table compared by its
 * columns and rows, a side table its owner made but did not grant; and
 * the last two go through the library: 8 worker processes, each with its
 * own handle and client, on a fake accounts server
 * (tests/oauth/fake_accounts.py) that fails, and one that answers slowly.
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <tokenstore/tokenstore.h>
#include "../mysql/accounts.h"
#include "harness.h"
#include "../sql/notes_cases.h"

/* ------------------------------------------------------------------ */
/* Notes and side tables: PostgreSQL's own                             */
/* ------------------------------------------------------------------ */

/* Names compare byte for byte, trailing spaces too. */
START_TEST(note_removed_replaced_and_empty)
{
    char v[64];
    void *h = open_ok("removal");

    notes_removal_cases(h);
    raw_note_set_ok(h, "pad ", "padded", 0);
    ck_assert_int_eq(note_get(h, "pad", v, sizeof v), TS_NOT_FOUND);
    ck_assert_int_eq(note_get(h, "pad ", v, sizeof v), TS_OK);
    ck_assert_str_eq(v, "padded");
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM removal_notes"), 3);
    raw_close(h);
}
END_TEST

START_TEST(note_too_big_for_the_buffer_or_the_key)
{
    char name[1100];
    void *h = open_ok("buffer");

    notes_buffer_cases(h);
    /* A value of 100 KiB is kept; a name past 1024 bytes is refused. */
    char *big = malloc(100 * 1024 + 1);
    memset(big, 'b', 100 * 1024);
    big[100 * 1024] = '\0';
    raw_note_set_ok(h, "big", big, 0);
    free(big);
    memset(name, 'n', 1025);
    name[1025] = '\0';
    ck_assert_int_eq(note_set(h, name, "x", 0), TS_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "1024"), "%s", err.message);
    name[1024] = '\0';
    raw_note_set_ok(h, name, "x", 0);
    raw_close(h);
}
END_TEST

/* Table sdk's columns and a digest of its rows. */
static void sdk_state(char *out, size_t n)
{
    static const char state[] =
        "SELECT md5(string_agg(t::text, ',' ORDER BY id)) || ' ' || (SELECT string_agg("
        "column_name || data_type, ',' ORDER BY ordinal_position) FROM information_schema.columns "
        "WHERE table_name = 'sdk') FROM sdk t";

    ck_assert_int_eq(sql(state, out, n), 0);
}

/* Each store's tables are its own; the SDK's table is left as it was. */
START_TEST(stores_apart_and_the_sdk_table_untouched)
{
    notes_sdk_untouched(sdk_state);
}
END_TEST

/* Made by the owner, but not granted: reading names the table. */
static void owner_makes_the_notes(void)
{
    sql_ok("CREATE TABLE narrow_notes (name text PRIMARY KEY, value text NOT NULL, "
           "expires_at bigint)");
}

/* A user who may not make the side tables hears which table and what
 * privilege, and nothing of the token table is touched. */
START_TEST(missing_privilege_names_the_side_table)
{
    notes_denied("permission denied for schema public", owner_makes_the_notes);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The OAuth client across processes                                   */
/* ------------------------------------------------------------------ */

/* A token on table `table` whose access token expired long ago. */
static void expired_token(const char *table)
{
    const char *opts[] = { "table", table, NULL };
    ts_error e2 = { 0 };
    ts_store *s = open_with(opts, &e2);

    ck_assert_msg(s != NULL, "%s", e2.message);
    ts_token *t = make_token("me@example.com", "1000.refresh.stored", "1000.access.stored");
    ts_token_set(t, TS_FIELD_EXPIRY_TIME, "1000");
    save_ok(s, t);
    ts_token_free(t);
    ts_store_close(s);
}

/* A worker process with a handle and a client of its own: `calls`
 * access-token calls once `go` closes, then "PID OK TOLD" on `out`. */
static void worker(const char *table, const char *const *settings, int calls, int go, int out)
{
    char c;
    ts_store *s;
    ts_oauth *o;
    ts_error e2;
    int ok = 0, told = 0;

    if (ts_store_open(&s, app_uri(table), &e2) != TS_OK ||
        ts_oauth_new(&o, s, NULL, &e2) != TS_OK)
        _exit(2);
    for (int i = 0; settings[i]; i += 2)
        if (ts_oauth_set(o, settings[i], settings[i + 1], &e2) != TS_OK)
            _exit(3);
    if (read(go, &c, 1) != 0)
        _exit(4);
    for (int i = 0; i < calls; i++) {
        ts_token *q = ts_token_new();
        ts_token_set(q, TS_FIELD_USER_NAME, "me@example.com");
        int rc = ts_oauth_get_access_token(o, q, &e2);
        ok += rc == TS_OK;
        if (rc != TS_OK && strstr(e2.message, "next try is allowed in"))
            told++;
        else if (rc != TS_OK)
            fprintf(stderr, "worker %d: %s\n", (int)getpid(), e2.message);
        ts_token_free(q);
    }
    dprintf(out, "%d %d %d\n", (int)getpid(), ok, told);
    ts_oauth_free(o);
    ts_store_close(s);
    _exit(0);
}

enum { WORKERS = 8 };

struct outcome {
    pid_t pid[WORKERS];
    int ok, told;
};

/* Runs WORKERS workers at once and adds up what they say. */
static void run_workers(const char *table, const char *const *settings, int calls,
                        struct outcome *r)
{
    int go[2], out[2], lines = 0;
    char line[128];

    memset(r, 0, sizeof *r);
    ck_assert_int_eq(pipe(go), 0);
    ck_assert_int_eq(pipe(out), 0);
    for (int i = 0; i < WORKERS; i++) {
        pid_t pid = fork();
        ck_assert(pid >= 0);
        if (pid == 0) {
            close(go[1]);
            close(out[0]);
            worker(table, settings, calls, go[0], out[1]);
        }
    }
    close(go[0]);
    close(out[1]);
    close(go[1]);                                   /* all go */
    FILE *f = fdopen(out[0], "r");
    while (lines < WORKERS && fgets(line, sizeof line, f)) {
        int pid, ok, told;
        ck_assert_int_eq(sscanf(line, "%d %d %d", &pid, &ok, &told), 3);
        r->pid[lines++] = pid;
        r->ok += ok;
        r->told += told;
    }
    fclose(f);
    for (int i = 0; i < WORKERS; i++) {
        int status;
        pid_t pid = wait(&status);
        ck_assert_msg(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "a worker failed (status %d)", status);
    }
    ck_assert_int_eq(lines, WORKERS);
}

/* A server answering 500: 8 processes x 5 calls send a few requests, not
 * 8 x 4, because the backoff is a note every process reads; and every
 * caller is told when to retry. */
START_TEST(failing_server_is_not_hammered_by_eight_processes)
{
    const char *settings[] = { "accounts_url", accounts_url(), "retry_base_ms", "10",
                               "retry_max_ms", "20", NULL };
    struct outcome r;
    char out[4096];

    expired_token("failing");
    accounts_call("/reset", "", out, sizeof out);
    accounts_call("/control", "{\"mode\": \"status\", \"status\": 500, \"fail\": -1}", out,
                  sizeof out);
    run_workers("failing", settings, 5, &r);
    ck_assert_int_eq(r.ok, 0);
    ck_assert_msg(accounts_count("refresh_token") <= 10, "%d requests",
                  accounts_count("refresh_token"));
    ck_assert_int_eq(r.told, WORKERS * 5);
}
END_TEST

struct tally {
    int refreshed, failed, served;
    long long refresher;
    long long served_by[WORKERS];
};

static int tally_entry(const char *entry, void *ud)
{
    struct tally *t = ud;
    json_object *o = json_tokener_parse(entry), *v;

    ck_assert_msg(o != NULL, "not JSON: %s", entry);
    const char *event = json_object_object_get_ex(o, "event", &v) ? json_object_get_string(v)
                                                                 : "";
    const char *result = json_object_object_get_ex(o, "result", &v) ? json_object_get_string(v)
                                                                   : "";
    long long pid = json_object_object_get_ex(o, "pid", &v) ? json_object_get_int64(v) : 0;
    if (strcmp(result, "ok") != 0)
        t->failed++;
    else if (strcmp(event, "refresh") == 0)
        t->refreshed++, t->refresher = pid;
    else if (strcmp(event, "served") == 0 && t->served < WORKERS)
        t->served_by[t->served++] = pid;
    json_object_put(o);
    return 0;
}

static int is_worker(const struct outcome *r, long long pid)
{
    for (int i = 0; i < WORKERS; i++)
        if (r->pid[i] == pid)
            return 1;
    return 0;
}

/* 8 processes need the token while one refreshes it: a handle opened
 * afterwards, read-only, reads one refresh and the others it served. */
START_TEST(refresh_log_shows_one_refresh_across_processes)
{
    const char *settings[] = { "accounts_url", accounts_url(), NULL };
    const char *opts[] = { "table", "served", NULL };
    struct outcome r;
    struct tally t = { 0 };
    char out[4096];

    expired_token("served");
    accounts_call("/reset", "", out, sizeof out);
    accounts_call("/control", "{\"mode\": \"slow\", \"delay\": 0.3}", out, sizeof out);
    run_workers("served", settings, 1, &r);
    ck_assert_int_eq(r.ok, WORKERS);
    ck_assert_int_eq(accounts_count("refresh_token"), 1);

    ts_store *s = open_flags_with(TS_OPEN_READ_ONLY, opts, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    ck_assert_int_eq(ts_oauth_refresh_log(s, tally_entry, &t, &err), TS_OK);
    ts_store_close(s);
    ck_assert_int_eq(t.failed, 0);
    ck_assert_int_eq(t.refreshed, 1);
    ck_assert(is_worker(&r, t.refresher));
    ck_assert_msg(t.served >= 1, "no process was served by the refresh");
    for (int i = 0; i < t.served; i++) {
        ck_assert(is_worker(&r, t.served_by[i]));
        ck_assert(t.served_by[i] != t.refresher);
        for (int j = 0; j < i; j++)
            ck_assert(t.served_by[j] != t.served_by[i]);
    }
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *notes_suite(void)
{
    Suite *s = suite_create("postgres notes");
    TCase *tc = tcase_create("notes");

    tcase_set_timeout(tc, 120);
    notes_cases_add(tc);
    tcase_add_test(tc, note_removed_replaced_and_empty);
    tcase_add_test(tc, note_too_big_for_the_buffer_or_the_key);
    tcase_add_test(tc, stores_apart_and_the_sdk_table_untouched);
    tcase_add_test(tc, missing_privilege_names_the_side_table);
    tcase_add_test(tc, failing_server_is_not_hammered_by_eight_processes);
    tcase_add_test(tc, refresh_log_shows_one_refresh_across_processes);
    suite_add_tcase(s, tc);
    return s;
}

static const char setup_sql[] =
    "REVOKE CREATE ON SCHEMA public FROM PUBLIC;"
    SDK_DDL("narrow") ";"
    "CREATE INDEX ON narrow USING hash (user_name); CREATE INDEX ON narrow USING hash "
    "(access_token); CREATE INDEX ON narrow USING hash (refresh_token); CREATE INDEX ON narrow "
    "USING hash (grant_token); CREATE INDEX narrow_id_order_idx ON narrow ((length(id)), id "
    "COLLATE \"C\");"
    "CREATE ROLE narrow LOGIN PASSWORD '" NARROW_PASSWORD "';"
    "GRANT SELECT, INSERT, UPDATE, DELETE ON narrow TO narrow;";

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return harness_run(notes_suite(), setup_sql, start_accounts);
}
