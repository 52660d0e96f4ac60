/*
 * tests/sql/store_cases.h - the cases of test_mysql.c and test_postgres.c
 * that the mysql and postgres backends share, against a real server of
 * the program's own: 8 processes x 1,000 saves; one user's row saved by
 * 4 processes at once, by key and by id; a read-only open that creates
 * nothing; one refresh across 8 processes against the fake accounts
 * server, and its lock freed when the holder is killed or, after the
 * lock's TTL, when it hangs. Where a case's details differ by server,
 * its common part is a helper here (wrong_password_refused,
 * unknown_database_named, reader_refused, status_names_the_store,
 * wrong_password_listed, migration_source), which the backend's own
 * case calls.
 *
 * The including test includes its backend's harness.h first (which
 * names the backend and defines TOKENS_TABLE and TABLES_LIKE), makes
 * user reader (password READER_PASSWORD, defined here) with no rights of
 * its own, starts the fake accounts server (tests/mysql/accounts.c) and
 * defines:
 *  - MULTI_SUMMARY_SQL: a query answering "rows distinct-ids
 *    distinct-users min-id max-id" of table multi;
 *  - LOCK_HOLDER_POLLS: how many times (25 ms apart) a lock holder's
 *    request is waited for;
 *  - DEAD_HOLDER_WAIT_MAX, HUNG_HOLDER_WAIT_MAX: the seconds a refresh
 *    may wait at most for a killed holder's lock, and for a hung one's.
 */
#ifndef TS_TEST_SQL_STORE_CASES_H
#define TS_TEST_SQL_STORE_CASES_H

#include <check.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <tokenstore/tokenstore.h>
#include "../test_store.h"
#include "../mysql/accounts.h"

#define READER_PASSWORD "reader-Pa55word"

/* ------------------------------------------------------------------ */
/* Many writers                                                        */
/* ------------------------------------------------------------------ */

enum { WRITERS = 8, SAVES = 1000 };

static void writer(int w)
{
    ts_error err = { 0 };
    const char *opts[] = { "table", "multi", NULL };
    ts_store *s = open_with(opts, &err);

    if (!s)
        _exit(10);
    if (save_series(s, "writer", w, SAVES) != TS_OK)
        _exit(11);
    ts_store_close(s);
    _exit(0);
}

START_TEST(test_eight_processes_thousand_saves)
{
    ts_store *s = open_table("multi");
    pid_t pids[WRITERS];

    spawn_children(pids, WRITERS, writer);
    wait_children_ok(pids, WRITERS, "writer");
    char out[128];
    ck_assert_int_eq(sql(MULTI_SUMMARY_SQL, out, sizeof out), 0);
    ck_assert_str_eq(out, "8000 8000 8000 1 8000");
    ck_assert_uint_eq(count_tokens(s), WRITERS * SAVES);
    ts_store_close(s);
}
END_TEST

enum { RACERS = 4, RACES = 150 };

/* A racer saving user race@x's token RACES times, by id when w is odd
 * (the lookups and the guarded UPDATE), else by key (the one-statement
 * save); its exit status says whether every save succeeded, kept id 1
 * and handed back the row's refresh token. */
static void racer(int w)
{
    ts_error err = { 0 };
    const char *opts[] = { "table", "race", NULL };
    ts_store *mine = open_with(opts, &err);
    char access[64];
    int rc = mine ? TS_OK : TS_ERR_CONNECT;

    for (int i = 0; rc == TS_OK && i < RACES; i++) {
        ts_token *t = ts_token_new();
        snprintf(access, sizeof access, "1000.access.%d.%d", w, i);
        ts_token_set(t, TS_FIELD_USER_NAME, "race@x");
        ts_token_set(t, TS_FIELD_ACCESS_TOKEN, access);
        if (w % 2)
            ts_token_set(t, TS_FIELD_ID, "1");
        if ((rc = ts_save_token(mine, t, &err)) == TS_OK &&
            strcmp(ts_token_get(t, TS_FIELD_ID), "1") != 0)
            rc = TS_ERR_CONFLICT;
        if (rc == TS_OK && strcmp(ts_token_get(t, TS_FIELD_REFRESH_TOKEN),
                                  "1000.refresh.race@x") != 0)
            rc = TS_ERR_CORRUPT;
        ts_token_free(t);
    }
    if (rc != TS_OK)
        fprintf(stderr, "racer %d: %d %s\n", w, rc, err.message);
    ts_store_close(mine);
    _exit(rc == TS_OK ? 0 : 1);
}

/* RACERS processes save one user's token over and over, half of them by
 * key and half by id: every save succeeds and the user keeps one row. */
START_TEST(test_one_user_many_writers)
{
    ts_store *s = open_table("race");
    pid_t pids[RACERS];

    ck_assert_int_eq(save_user(s, "race@x"), 1);
    spawn_children(pids, RACERS, racer);
    wait_children_ok(pids, RACERS, "racer");
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM " TOKENS_TABLE("race")), 1);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM " TOKENS_TABLE("race") " WHERE "
                                "access_token LIKE '1000.access._.149' AND refresh_token = "
                                "'1000.refresh.race@x'"), 1);
    ts_store_close(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Credentials and privileges                                          */
/* ------------------------------------------------------------------ */

/* App with a wrong password: refused, the server's words `says` and
 * "wrong password" in the message, never the password tried. */
static void wrong_password_refused(const char *says)
{
    ts_error err = { 0 };
    const char *wrong[] = { "user", "app", "password", "not-the-password", NULL };

    ck_assert_ptr_null(open_with(wrong, &err));
    ck_assert_int_eq(err.code, TS_ERR_AUTH);
    ck_assert_msg(strstr(err.message, says) && strstr(err.message, "wrong password"), "%s",
                  err.message);
    ck_assert_ptr_null(strstr(err.message, "not-the-password"));
}

/* Options naming database nosuch, as a user who may see that it is not
 * there: a configuration error naming it, and no such store for an open
 * that wants the store to exist. */
static void unknown_database_named(const char *const *nosuch)
{
    open_refused(0, nosuch, TS_ERR_CONFIG, "unknown database 'nosuch'");
    open_refused(TS_OPEN_MUST_EXIST, nosuch, TS_ERR_NO_STORE, "no such store: database 'nosuch'");
}

/* User reader with SELECT only on table guarded (grant_sql, may be
 * NULL, gives it once the table is made): reads work, a write names the
 * missing privilege (`insert_says`; `update_says`, may be NULL, for an
 * update); on a table that is not there, it cannot be made
 * (`create_says`), and no message holds reader's password. */
static void reader_refused(const char *grant_sql, const char *insert_says,
                           const char *update_says, const char *create_says)
{
    ts_error err = { 0 };
    ts_store *s = open_table("guarded");
    ck_assert_int_eq(save_user(s, "g1@x"), 1);
    ts_store_close(s);
    if (grant_sql)
        sql_ok(grant_sql);

    const char *reader[] = { "user", "reader", "password", READER_PASSWORD, "table", "guarded",
                             NULL };
    s = open_with(reader, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    ck_assert_int_eq(find_user(s, "g1@x", NULL, &err), TS_OK);
    ts_token *t = make_token("g2@x", "1000.refresh.g2", "");
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_AUTH);
    ck_assert_msg(strstr(err.message, "missing privilege") && strstr(err.message, insert_says),
                  "%s", err.message);
    ts_token_set(t, TS_FIELD_USER_NAME, "g1@x");
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_AUTH);
    if (update_says)
        ck_assert_msg(strstr(err.message, update_says) != NULL, "%s", err.message);
    ck_assert_int_eq(ts_delete_token(s, "1", &err), TS_ERR_AUTH);
    ck_assert_uint_eq(count_tokens(s), 1);
    ts_token_free(t);
    ts_store_close(s);

    const char *elsewhere[] = { "user", "reader", "password", READER_PASSWORD, "table",
                                "notmine", NULL };
    ck_assert_ptr_null(open_with(elsewhere, &err));
    ck_assert_int_eq(err.code, TS_ERR_AUTH);
    ck_assert_msg(strstr(err.message, create_says) != NULL, "%s", err.message);
    ck_assert_ptr_null(strstr(err.message, READER_PASSWORD));
}

/* ------------------------------------------------------------------ */
/* URIs, read-only, the CLI                                            */
/* ------------------------------------------------------------------ */

/* The command's status of app_uri("viauri") (one token in it) names the
 * store (server, database as option `db_option` spells it, table, user),
 * never the password. */
static void status_names_the_store(const char *db_option)
{
    char cmd[2 * PATH_MAX], out[4096], location[256], backend_line[64];

    snprintf(cmd, sizeof cmd, "'%s' --store '%s' status 2>&1", cli(), app_uri("viauri"));
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 0);
    snprintf(location, sizeof location, "\nlocation: host=127.0.0.1 port=%d %s=tokens "
             "table=viauri user=app password=****\n", server_port, db_option);
    snprintf(backend_line, sizeof backend_line, "backend:  %s", harness_backend.name);
    ck_assert_msg(strstr(out, backend_line) && strstr(out, location) &&
                  strstr(out, "tokens:   1 "), "%s", out);
    ck_assert_ptr_null(strstr(out, APP_PASSWORD));
}

/* The command's list as app with a wrong password: exit status 3, the
 * server's words `says`, never the password. */
static void wrong_password_listed(const char *says)
{
    char cmd[2 * PATH_MAX], out[4096];

    snprintf(cmd, sizeof cmd, "'%s' --store '%s://app:wrong-%s@127.0.0.1:%d/tokens' list 2>&1",
             cli(), harness_backend.scheme, APP_PASSWORD, server_port);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 3);
    ck_assert_msg(strstr(out, says) != NULL, "%s", out);
    ck_assert_ptr_null(strstr(out, APP_PASSWORD));
}

START_TEST(test_read_only_creates_nothing)
{
    ts_error err = { 0 };
    char q[512];
    const char *opts[] = { "table", "later", NULL };
    ts_store *ro = open_flags_with(TS_OPEN_READ_ONLY, opts, &err);

    ck_assert_msg(ro != NULL, "%s", err.message);
    ck_assert_uint_eq(count_tokens(ro), 0);
    ck_assert_int_eq(find_user(ro, "x@x", NULL, &err), TS_NOT_FOUND);
    snprintf(q, sizeof q, TABLES_LIKE, "later");
    ck_assert_int_eq(sql_number(q), 0);
    ts_token *t = make_token("x@x", "r", "");
    ck_assert_int_eq(ts_save_token(ro, t, &err), TS_ERR_READ_ONLY);

    /* A writer makes the table; the reader sees its token. */
    ts_store *rw = open_table("later");
    save_ok(rw, t);
    ck_assert_int_eq(find_user(ro, "x@x", NULL, &err), TS_OK);
    ts_token_free(t);
    ts_store_close(rw);
    ts_store_close(ro);
}
END_TEST

/* The sqlite store `db` that a migration starts from: five tokens of
 * ids 1, 2, 5, 12 and 40, those of odd index with access token
 * `odd_access`; then the command's list of it (JSON, with the secrets)
 * in first. */
static void migration_source(const char *db, const char *odd_access, char *first, size_t n)
{
    char cmd[2 * PATH_MAX];
    ts_error err = { 0 };
    ts_store *s;
    static const char *const ids[] = { "1", "2", "5", "12", "40" };

    ck_assert_msg(ts_store_open(&s, db, &err) == TS_OK, "%s", err.message);
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char user[32], secret[32];
        snprintf(user, sizeof user, "m%s@x", ids[i]);
        snprintf(secret, sizeof secret, "1000.refresh.%s", ids[i]);
        ts_token *t = make_token(user, secret, i % 2 ? odd_access : "");
        ts_token_set(t, TS_FIELD_ID, ids[i]);
        save_ok(s, t);
        ts_token_free(t);
    }
    ts_store_close(s);
    snprintf(cmd, sizeof cmd, "'%s' --store '%s' list --json --show-secrets", cli(), db);
    ck_assert_int_eq(run_cmd(cmd, first, n), 0);
}

/* ------------------------------------------------------------------ */
/* One refresh across processes                                        */
/* ------------------------------------------------------------------ */

START_TEST(test_one_refresh_across_eight_processes)
{
    char out[4096];
    const char *uri = app_uri("oauth");
    ts_error err = { 0 };
    ts_store *s;
    int fds[2];
    pid_t kids[8];

    accounts_call("/reset", "", out, sizeof out);
    accounts_call("/control", "{\"mode\": \"slow\", \"delay\": 0.3}", out, sizeof out);
    ck_assert_msg(ts_store_open(&s, uri, &err) == TS_OK, "%s", err.message);
    ck_assert_int_eq(ts_delete_tokens(s, &err), TS_OK);
    ts_token *t = make_token("me@example.com", "1000.refresh.stored", "1000.access.stored");
    ts_token_set(t, TS_FIELD_EXPIRY_TIME, "1000");        /* long expired */
    save_ok(s, t);
    ts_token_free(t);
    ts_store_close(s);

    ck_assert_int_eq(pipe(fds), 0);
    for (int i = 0; i < 8; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            ts_oauth *o;
            close(fds[0]);
            if (ts_store_open(&s, uri, &err) != TS_OK || ts_oauth_new(&o, s, NULL, &err) != TS_OK ||
                ts_oauth_set(o, "accounts_url", accounts_url(), &err) != TS_OK)
                _exit(2);
            ts_token *q = ts_token_new();
            ts_token_set(q, TS_FIELD_USER_NAME, "me@example.com");
            int rc = ts_oauth_get_access_token(o, q, &err);
            dprintf(fds[1], "%-63s\n", rc == TS_OK ? ts_token_get(q, TS_FIELD_ACCESS_TOKEN)
                                                   : err.message);
            _exit(0);
        }
    }
    close(fds[1]);
    expect_workers_said(fds[0], kids, 8, "1000.access.1");
    ck_assert_int_eq(accounts_count("refresh_token"), 1);
}
END_TEST

/* A client of the fake accounts server on table `table`; NULL on failure. */
static ts_oauth *oauth_client(const char *table, ts_store **store, const char *timeout_ms)
{
    ts_error err = { 0 };
    ts_oauth *o = NULL;

    if (ts_store_open(store, app_uri(table), &err) != TS_OK)
        return NULL;
    if (ts_oauth_new(&o, *store, NULL, &err) != TS_OK ||
        ts_oauth_set(o, "accounts_url", accounts_url(), &err) != TS_OK ||
        ts_oauth_set(o, "timeout_ms", timeout_ms, &err) != TS_OK ||
        ts_oauth_set(o, "connect_timeout_ms", "500", &err) != TS_OK ||
        ts_oauth_set(o, "retries", "0", &err) != TS_OK) {
        ts_oauth_free(o);
        return NULL;
    }
    return o;
}

static int refresh(ts_oauth *o, char *access, size_t n, ts_error *err)
{
    ts_token *q = ts_token_new();
    ts_token_set(q, TS_FIELD_USER_NAME, "me@example.com");
    int rc = ts_oauth_get_access_token(o, q, err);
    snprintf(access, n, "%s", ts_token_get(q, TS_FIELD_ACCESS_TOKEN));
    ts_token_free(q);
    return rc;
}

/* A child that takes the refresh lock and waits in its request; returns
 * once the server has the request (its `nth` refresh request), so the
 * child holds the lock. */
static pid_t lock_holder(const char *table, const char *timeout_ms, int nth)
{
    char out[4096], want[32];
    pid_t pid = fork();

    ck_assert(pid >= 0);
    if (pid == 0) {
        ts_store *s;
        char access[64];
        ts_error err;
        ts_oauth *o = oauth_client(table, &s, timeout_ms);
        _exit(o && refresh(o, access, sizeof access, &err) == TS_OK ? 0 : 1);
    }
    snprintf(want, sizeof want, "\"refresh_token\": %d,", nth);
    for (int i = 0; i < LOCK_HOLDER_POLLS; i++) {
        accounts_call("/counts", NULL, out, sizeof out);
        if (strstr(out, want))
            return pid;
        usleep(25000);
    }
    kill(pid, SIGKILL);
    ck_abort_msg("the lock holder's request never came: %s", out);
    return pid;
}

START_TEST(test_refresh_lock_freed_by_crash_and_ttl)
{
    char out[4096], access[64];
    ts_error err = { 0 };
    ts_store *s;
    struct timespec t0;
    ts_oauth *o = oauth_client("locks", &s, "30000");

    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(ts_delete_tokens(s, &err), TS_OK);
    ts_token *t = make_token("me@example.com", "1000.refresh.stored", "1000.access.stored");
    ts_token_set(t, TS_FIELD_EXPIRY_TIME, "1000");
    save_ok(s, t);

    /* A holder killed in its request: the server frees its lock with its
     * connection, and the next refresh goes at once (its wait would
     * otherwise last its TTL, a minute or more). */
    accounts_call("/reset", "", out, sizeof out);
    accounts_call("/control", "{\"mode\": \"slow\", \"delay\": 30}", out, sizeof out);
    pid_t holder = lock_holder("locks", "30000", 1);
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    accounts_call("/control", "{\"mode\": \"success\"}", out, sizeof out);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_msg(refresh(o, access, sizeof access, &err) == TS_OK, "%s", err.message);
    ck_assert_msg(seconds_since(&t0) < DEAD_HOLDER_WAIT_MAX,
                  "waited %.1f s for a dead holder's lock", seconds_since(&t0));
    ck_assert_str_eq(access, "1000.access.2");

    /* A holder that hangs (stopped) past its lock's TTL, about 6 s here
     * (its timeouts of 0.5 s each and 5 s more): the server ends its
     * silent connection, and with it the lock. */
    ts_token_set(t, TS_FIELD_ACCESS_TOKEN, "1000.access.stale");
    save_ok(s, t);
    accounts_call("/control", "{\"mode\": \"slow\", \"delay\": 30}", out, sizeof out);
    holder = lock_holder("locks", "500", 3);
    kill(holder, SIGSTOP);
    accounts_call("/control", "{\"mode\": \"success\"}", out, sizeof out);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = refresh(o, access, sizeof access, &err);
    double waited = seconds_since(&t0);
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    ck_assert_msg(rc == TS_OK, "%s", err.message);
    ck_assert_msg(waited > 3 && waited < HUNG_HOLDER_WAIT_MAX,
                  "the hung holder's lock freed after %.1f s", waited);
    ck_assert_str_eq(access, "1000.access.4");
    ts_token_free(t);
    ts_oauth_free(o);
    ts_store_close(s);
}
END_TEST

#endif
