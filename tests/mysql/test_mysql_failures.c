/*
 * tests/mysql/test_mysql_failures.c - the mysql backend when the process
 * or the server does what a store cannot prevent, on a real MariaDB server
 * of the program's own (tests/mysql/harness.c): a process that forks
 * while it has a store open, and children saving on the handle they
 * inherited while the parent keeps reading on it; a server that restarts
 * or is down; a server that cannot store any more (its InnoDB system
 * tablespace capped, the table in it), where every save it acknowledged
 * is there after a restart and every one it refused said why.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <tokenstore/tokenstore.h>
#include "../test_store.h"
#include "harness.h"

#define FORKER_PASSWORD "forker-Pa55word"

/* ------------------------------------------------------------------ */
/* fork()                                                              */
/* ------------------------------------------------------------------ */

/* The ids of the sessions user `forker` has open on the server, "1,2";
 * the rest of the case is tests/sql/fork_case.h. */
static void forker_sessions(char *out, size_t n)
{
    ck_assert_int_eq(sql("SELECT COALESCE(GROUP_CONCAT(ID ORDER BY ID), '') FROM "
                         "information_schema.PROCESSLIST WHERE USER = 'forker'", out, n), 0);
}

#define forked_number sql_number
#define FORKED_MATCHING_SQL                                                    \
    "SELECT COUNT(*) FROM tokens.forked WHERE refresh_token = CONCAT('1000.refresh.', " \
    "REPLACE(SUBSTRING_INDEX(SUBSTRING(user_name, 6), '@', 1), '-', '.'))"
#define FORKED_IDS_SQL "SELECT COUNT(DISTINCT id) FROM tokens.forked"
#include "../sql/fork_case.h"


/* ------------------------------------------------------------------ */
/* A server that restarts, or is down                                  */
/* ------------------------------------------------------------------ */

/* The server, down, named as host:port and the connection refused; the
 * rest of the case is tests/sql/restart_case.h. */
static void down_said(const ts_error *err, int opening)
{
    char where[64];

    (void)opening;
    snprintf(where, sizeof where, "127.0.0.1:%d", server_port);
    ck_assert_msg(strstr(err->message, where) && strstr(err->message, "refused"), "%s",
                  err->message);
}

#include "../sql/restart_case.h"

/* ------------------------------------------------------------------ */
/* A server that cannot store                                          */
/* ------------------------------------------------------------------ */

enum { MAX_SAVES = 20000, BATCH = 5 };

/* A token whose every value is wide, for table space to run out fast. */
static ts_token *wide_token(int i)
{
    char user[320], value[248];

    snprintf(value, sizeof value, "%0240d", i);
    snprintf(user, sizeof user, "full%d@%s", i, value);
    ts_token *t = make_token(user, value, value);
    ts_token_set(t, TS_FIELD_CLIENT_SECRET, value);
    ts_token_set(t, TS_FIELD_GRANT_TOKEN, value);
    ts_token_set(t, TS_FIELD_REDIRECT_URL, value);
    return t;
}

static ts_store *open_kept(const char *table)
{
    ts_error err = { 0 };
    const char *opts[] = { "table", table, NULL };
    ts_store *s = open_with(opts, &err);

    ck_assert_msg(s != NULL, "open: %s", err.message);
    return s;
}

/* A refusal must say the server is full. */
static void refused_for_space(int rc, const ts_error *err)
{
    ck_assert_msg(rc == TS_ERR_IO && strstr(err->message, "cannot store more") &&
                  strstr(err->message, "full") && strstr(err->message, "tokens.full"),
                  "%d: %s", rc, err->message);
}

/* The system tablespace capped a few MiB above its size, and the table in
 * it: single saves and batches until the server refuses twenty times, a
 * delete when it is full; then a restart, and every acknowledged save is
 * there, every refused one is not. */
START_TEST(test_full_tablespace)
{
    char path[PATH_MAX + 32], args[256];
    struct stat st;
    ts_error err = { 0 };
    static signed char saved[MAX_SAVES];          /* 1 acknowledged, -1 refused */
    int acknowledged = 0, refused = 0, n = 0, deleted = 0;

    snprintf(path, sizeof path, "%s/data/ibdata1", server_dir);
    ck_assert_int_eq(stat(path, &st), 0);
    snprintf(args, sizeof args, "--innodb-data-file-path=ibdata1:12M:autoextend:max:%lldM "
             "--innodb-file-per-table=0", (long long)st.st_size / (1 << 20) + 6);
    ck_assert_int_eq(server_restart(args), server_port);
    ts_store *s = open_table("full");
    ck_assert_int_eq(sql_number("SELECT SPACE FROM information_schema.INNODB_SYS_TABLES "
                                "WHERE NAME = 'tokens/full'"), 0);
    while (refused < 20 && n + BATCH <= MAX_SAVES) {
        int rc;
        if (n % 50 == 0) {
            ts_token *batch[BATCH];
            for (int j = 0; j < BATCH; j++)
                batch[j] = wide_token(n + j);
            rc = ts_save_tokens(s, batch, BATCH, &err);
            for (int j = 0; j < BATCH; j++) {
                saved[n + j] = rc == TS_OK ? 1 : -1;
                ts_token_free(batch[j]);
            }
            n += BATCH;
        } else {
            ts_token *t = wide_token(n);
            rc = ts_save_token(s, t, &err);
            saved[n++] = rc == TS_OK ? 1 : -1;
            ts_token_free(t);
        }
        if (rc == TS_OK) {
            acknowledged++;
            continue;
        }
        refused_for_space(rc, &err);
        refused++;
    }
    ck_assert_msg(refused == 20 && acknowledged > 100, "%d acknowledged, %d refused",
                  acknowledged, refused);
    /* A delete on a full server: done, or refused saying why. Id 2 is
     * token 1's, of the first batch. */
    ck_assert_int_eq(saved[1], 1);
    int rc = ts_delete_token(s, "2", &err);
    if (rc != TS_OK)
        refused_for_space(rc, &err);
    deleted = rc == TS_OK;
    ts_store_close(s);

    ck_assert_int_eq(server_restart(args), server_port);
    s = open_kept("full");
    for (int i = 0; i < n; i++) {
        ts_token *want = wide_token(i), *row;
        int found = find_user(s, ts_token_get(want, TS_FIELD_USER_NAME), &row, &err);
        if (i == 1 && deleted)
            ck_assert_int_eq(found, TS_NOT_FOUND);
        else if (saved[i] > 0) {
            ck_assert_msg(found == TS_OK, "acknowledged save %d: %d %s", i, found,
                          err.message);
            ck_assert_str_eq(ts_token_get(row, TS_FIELD_REFRESH_TOKEN),
                             ts_token_get(want, TS_FIELD_REFRESH_TOKEN));
        } else
            ck_assert_msg(found == TS_NOT_FOUND, "refused save %d is stored", i);
        ts_token_free(row);
        ts_token_free(want);
    }
    ts_store_close(s);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *failures_suite(void)
{
    Suite *s = suite_create("mysql_failures");
    TCase *tc = tcase_create("fork");

    tcase_set_timeout(tc, 200);
    tcase_add_test(tc, test_fork_children_save_while_parent_finds);
    suite_add_tcase(s, tc);
    /* These stop the server, each in a case of its own. */
    tc = tcase_create("restart");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_server_restart);
    suite_add_tcase(s, tc);
    tc = tcase_create("full");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_full_tablespace);
    suite_add_tcase(s, tc);
    return s;
}

static const char setup_sql[] =
    "CREATE USER 'forker'@'%' IDENTIFIED BY '" FORKER_PASSWORD "';"
    "GRANT ALL ON tokens.* TO 'forker'@'%';";

int main(void)
{
    return harness_run(failures_suite(), setup_sql, 0, NULL);
}
