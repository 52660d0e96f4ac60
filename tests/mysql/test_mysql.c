/*
 * tests/mysql/test_mysql.c - the mysql backend against a real MariaDB
 * server, with many processes and with the rest of the library: the
 * command, URIs and the OAuth client.
 *
 * main() starts a server of its own (tests/mysql/harness.c) and the fake
 * accounts server (tests/oauth/fake_accounts.py), creates the users the
 * tests need as root over the socket, and runs the suite.
 *
 * What is checked here and not by the conformance suite: 8 processes x
 * 1,000 saves; one user's row saved by 4 processes at once, by key and by
 * id; a wrong password, an unknown database, a missing privilege; one
 * refresh across 8 processes against the fake accounts server, and its
 * lock freed when the holder is killed or, after the lock's TTL, when it
 * hangs; sqlite -> mysql -> file with the CLI keeps every token and id;
 * URIs; read-only opens create nothing. The table itself is
 * test_mysql_schema.c's; TLS test_mysql_tls.c's; a server that restarts or
 * cannot store, and fork(), test_mysql_failures.c's.
 */
#include <check.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <tokenstore/tokenstore.h>
#include "../test_store.h"
#include "accounts.h"
#include "harness.h"

/* The cases the postgres backend shares are tests/sql/store_cases.h. */
#define MULTI_SUMMARY_SQL                                                              \
    "SELECT CONCAT(COUNT(*), ' ', COUNT(DISTINCT id), ' ', COUNT(DISTINCT user_name), ' ', " \
    "MIN(CAST(id AS UNSIGNED)), ' ', MAX(CAST(id AS UNSIGNED))) FROM tokens.multi"
#define LOCK_HOLDER_POLLS 200
#define DEAD_HOLDER_WAIT_MAX 5
#define HUNG_HOLDER_WAIT_MAX 15
#include "../sql/store_cases.h"

/* ------------------------------------------------------------------ */
/* Credentials and privileges                                          */
/* ------------------------------------------------------------------ */

START_TEST(test_credentials_and_database)
{
    ts_error err = { 0 };

    wrong_password_refused("access denied for user 'app'");

    const char *nodb[] = { "database", "nosuch", NULL };
    ck_assert_ptr_null(open_with(nodb, &err));
    /* The server does not tell a user without rights whether it exists. */
    ck_assert_int_eq(err.code, TS_ERR_AUTH);
    ck_assert_msg(strstr(err.message, "user 'app' may not use database 'nosuch'") != NULL, "%s",
                  err.message);
    const char *rootdb[] = { "socket", server_sock, "user", "root", "database", "nosuch", NULL };
    unknown_database_named(rootdb);

    const char *both[] = { "socket", server_sock, "port", "3306", NULL };
    ck_assert_ptr_null(open_with(both, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONFIG);
    const char *tls[] = { "tls", "sometimes", NULL };
    ck_assert_ptr_null(open_with(tls, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.message, "verify-identity"));
}
END_TEST

/* SELECT only: reads work, a write names the missing privilege; no
 * privilege on a table that is not there: it cannot be made. */
START_TEST(test_missing_privilege)
{
    reader_refused(NULL, "INSERT command denied", "UPDATE command denied",
                   "CREATE command denied");
}
END_TEST

/* ------------------------------------------------------------------ */
/* URIs, read-only, the CLI                                            */
/* ------------------------------------------------------------------ */

START_TEST(test_uris_and_status)
{
    char uri[PATH_MAX + 128], cmd[3 * PATH_MAX], out[4096];
    ts_error err = { 0 };
    ts_store *s;

    ck_assert_msg(ts_store_open(&s, app_uri("viauri"), &err) == TS_OK, "%s", err.message);
    ck_assert_int_eq(ts_delete_tokens(s, &err), TS_OK);
    ck_assert_int_eq(save_user(s, "uri@x"), 1);
    ts_store_close(s);

    /* The socket form, as root. */
    snprintf(uri, sizeof uri, "mysql:%s?user=root&database=tokens&table=viauri", server_sock);
    ck_assert_msg(ts_store_open(&s, uri, &err) == TS_OK, "%s", err.message);
    ck_assert_int_eq(find_user(s, "uri@x", NULL, &err), TS_OK);
    ts_store_close(s);

    /* status names the store (server, database, table, user), never the
     * password; the user is "user" however the URI spells it. */
    status_names_the_store("database");
    /* The same name over the socket, where the SDK's option spells it. */
    snprintf(cmd, sizeof cmd, "'%s' --store 'mysql:%s?user=root&database=tokens&table=viauri' "
             "status 2>&1", cli(), server_sock);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 0);
    ck_assert_msg(strstr(out, " database=tokens table=viauri user=root\n") != NULL, "%s", out);
    wrong_password_listed("access denied");
}
END_TEST

START_TEST(test_migrate_sqlite_mysql_file)
{
    char cmd[8 * PATH_MAX], out[8192], first[8192], db[PATH_MAX + 32], csv[PATH_MAX + 32];
    const char *my = app_uri("migrated");

    snprintf(db, sizeof db, "sqlite:%s/migrate.db", server_dir);
    snprintf(csv, sizeof csv, "file:%s/migrate.csv", server_dir);
    migration_source(db, "1000.access,\"odd\"", first, sizeof first);
    snprintf(cmd, sizeof cmd, "'%s' --store '%s' migrate --to '%s' >/dev/null 2>&1 && "
             "'%s' --store '%s' migrate --to '%s' >/dev/null 2>&1", cli(), db, my, cli(), my,
             csv);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 0);
    /* Every token and id, byte for byte, in the table and in the file. */
    snprintf(cmd, sizeof cmd, "'%s' --store '%s' list --json --show-secrets", cli(), my);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 0);
    ck_assert_str_eq(out, first);
    snprintf(cmd, sizeof cmd, "'%s' --store '%s' list --json --show-secrets", cli(), csv);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 0);
    ck_assert_str_eq(out, first);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM tokens.migrated WHERE id IN "
                                "('1', '2', '5', '12', '40')"), 5);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *mysql_suite(void)
{
    Suite *s = suite_create("mysql");
    TCase *tc = tcase_create("mysql");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_eight_processes_thousand_saves);
    tcase_add_test(tc, test_one_user_many_writers);
    tcase_add_test(tc, test_credentials_and_database);
    tcase_add_test(tc, test_missing_privilege);
    tcase_add_test(tc, test_uris_and_status);
    tcase_add_test(tc, test_read_only_creates_nothing);
    tcase_add_test(tc, test_migrate_sqlite_mysql_file);
    tcase_add_test(tc, test_one_refresh_across_eight_processes);
    tcase_add_test(tc, test_refresh_lock_freed_by_crash_and_ttl);
    suite_add_tcase(s, tc);
    return s;
}

static const char setup_sql[] =
    "CREATE USER 'reader'@'%' IDENTIFIED BY '" READER_PASSWORD "';"
    "CREATE TABLE tokens.guarded (id int);"           /* replaced by the test */
    "GRANT SELECT ON tokens.guarded TO 'reader'@'%';"
    "DROP TABLE tokens.guarded;";

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return harness_run(mysql_suite(), setup_sql, 0, start_accounts);
}
