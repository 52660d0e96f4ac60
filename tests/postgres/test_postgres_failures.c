/*
 * tests/postgres/test_postgres_failures.c - the postgres backend when the
 * process or the server does what a store cannot prevent, on a real
 * PostgreSQL server of the program's own (tests/postgres/harness.c): a
 * process that forks while it has a store open, and children saving on
 * the handle they inherited while the parent keeps reading on it; a
 * server that restarts mid-use, or is down.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <tokenstore/tokenstore.h>
#include "../test_store.h"
#include "harness.h"

#define FORKER_PASSWORD "forker-Pa55word"

/* A number from SQL run as the superuser (forker's table is forker's). */
static long long admin_number(const char *query)
{
    char out[256];
    ck_assert_msg(admin_sql(query, out, sizeof out) == 0, "%s: %s", query, out);
    return atoll(out);
}

/* ------------------------------------------------------------------ */
/* fork()                                                              */
/* ------------------------------------------------------------------ */

/* The server processes of user forker's sessions, "123,456"; the rest of
 * the case is tests/sql/fork_case.h. */
static void forker_sessions(char *out, size_t n)
{
    ck_assert_int_eq(sql("SELECT COALESCE(string_agg(pid::text, ',' ORDER BY pid), '') FROM "
                         "pg_stat_activity WHERE usename = 'forker'", out, n), 0);
}

#define forked_number admin_number
#define FORKED_MATCHING_SQL                                                    \
    "SELECT COUNT(*) FROM forked WHERE refresh_token = '1000.refresh.' || "    \
    "replace(split_part(substr(user_name, 6), '@', 1), '-', '.')"
#define FORKED_IDS_SQL "SELECT COUNT(DISTINCT id) FROM forked"
#include "../sql/fork_case.h"


/* ------------------------------------------------------------------ */
/* A server that restarts, or is down                                  */
/* ------------------------------------------------------------------ */

/* The server, down: a call names its host and port, an open libpq's
 * words; both say the connection was refused. The rest of the case is
 * tests/sql/restart_case.h. */
static void down_said(const ts_error *err, int opening)
{
    char where[64];

    snprintf(where, sizeof where, "port %d", server_port);
    if (opening)
        ck_assert_msg(strstr(err->message, "cannot connect to the PostgreSQL server at") &&
                      strstr(err->message, "Connection refused"), "%s", err->message);
    else
        ck_assert_msg(strstr(err->message, "127.0.0.1") && strstr(err->message, where) &&
                      strstr(err->message, "Connection refused"), "%s", err->message);
}

#include "../sql/restart_case.h"

/* Sessions the server ends (pg_terminate_backend, as an administrator or
 * a failover does) mid-use: reads and keyed saves go on. */
START_TEST(test_session_terminated)
{
    ts_error err = { 0 };
    ts_store *s = open_table("terminated");

    for (int i = 0; i < 5; i++) {
        char user[32];
        snprintf(user, sizeof user, "t%d@x", i);
        ck_assert_int_eq(save_user(s, user), i + 1);
        sql_ok("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'app' "
               "AND datname = 'tokens'");
        ck_assert_msg(find_user(s, user, NULL, &err) == TS_OK, "%s", err.message);
    }
    ck_assert_uint_eq(count_tokens(s), 5);
    ts_store_close(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* A statement that waits too long                                     */
/* ------------------------------------------------------------------ */

/* Another session holds the user's row (FOR UPDATE) for 6 s: a save of
 * it is cancelled after statement_timeout_ms, TS_ERR_TIMEOUT saying so,
 * and nothing is written; once the row is free, the save goes through. */
START_TEST(test_statement_timeout)
{
    char cmd[4 * PATH_MAX];
    ts_error err = { 0 };
    struct timespec t0;
    const char *opts[] = { "table", "slow", "statement_timeout_ms", "500", NULL };
    ts_store *s = open_table("slow");

    ck_assert_int_eq(save_user(s, "held@x"), 1);
    ts_store_close(s);
    s = open_with(opts, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    snprintf(cmd, sizeof cmd, "sh '%s' sql '%s' \"BEGIN; SELECT 1 FROM slow WHERE user_name = "
             "'held@x' FOR UPDATE; SELECT pg_sleep(6); COMMIT\" tokens >/dev/null 2>&1 &",
             server_script(), server_dir);
    ck_assert_int_eq(system(cmd), 0);
    /* Until the other session holds the row. */
    for (int i = 0; i < 100 && sql_number("SELECT COUNT(*) FROM pg_locks l JOIN pg_class c "
                                          "ON c.oid = l.relation WHERE c.relname = 'slow' "
                                          "AND l.mode = 'RowShareLock' AND l.granted") == 0; i++)
        usleep(100000);
    ts_token *t = make_token("held@x", "1000.refresh.held", "1000.access.late");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_TIMEOUT);
    double waited = seconds_since(&t0);
    ck_assert_msg(strstr(err.message, "statement_timeout_ms is 500"), "%s", err.message);
    ck_assert_msg(waited < 4, "the save waited %.1f s", waited);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM slow WHERE access_token = "
                                "'1000.access.late'"), 0);
    /* The holder lets go: the same save now succeeds. */
    int rc = TS_ERR_TIMEOUT;
    for (int i = 0; i < 150 && rc == TS_ERR_TIMEOUT; i++)
        if ((rc = ts_save_token(s, t, &err)) == TS_ERR_TIMEOUT)
            usleep(100000);
    ck_assert_msg(rc == TS_OK, "%s", err.message);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM slow WHERE access_token = "
                                "'1000.access.late'"), 1);
    ts_token_free(t);
    ts_store_close(s);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *failures_suite(void)
{
    Suite *s = suite_create("postgres_failures");
    TCase *tc = tcase_create("fork");

    tcase_set_timeout(tc, 200);
    tcase_add_test(tc, test_fork_children_save_while_parent_finds);
    tcase_add_test(tc, test_session_terminated);
    tcase_add_test(tc, test_statement_timeout);
    suite_add_tcase(s, tc);
    /* It stops the server, in a case of its own. */
    tc = tcase_create("restart");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_server_restart);
    suite_add_tcase(s, tc);
    return s;
}

static const char setup_sql[] =
    "CREATE ROLE forker LOGIN PASSWORD '" FORKER_PASSWORD "';"
    "GRANT ALL ON SCHEMA public TO forker;";

int main(void)
{
    return harness_run(failures_suite(), setup_sql, NULL);
}
