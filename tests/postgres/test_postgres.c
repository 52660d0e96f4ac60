/*
 * tests/postgres/test_postgres.c - the postgres backend against a real
 * PostgreSQL server, with many processes and with the rest of the
 * library: the command, URIs and the OAuth client.
 *
 * main() starts a server of its own (tests/postgres/harness.c) and the
 * fake accounts server (tests/oauth/fake_accounts.py), creates the users
 * the tests need over the socket, and runs the suite.
 *
 * What is checked here and not by the conformance suite: 8 processes x
 * 1,000 saves; one user's row saved by 4 processes at once, by key and by
 * id; a wrong or missing password, a password from a .pgpass file, an
 * unknown database, a missing privilege; one refresh across 8 processes
 * against the fake accounts server, and its lock freed when the holder is
 * killed or, after the lock's TTL, when it hangs; sqlite -> postgres ->
 * mysql with the CLI keeps every token and id; URIs and status; read-only
 * opens create nothing. The table itself is test_postgres_schema.c's; TLS
 * test_postgres_tls.c's; a server that restarts, and fork(),
 * test_postgres_failures.c's; a standby's promotion
 * test_postgres_failover.c's.
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
#include "../mysql/accounts.h"
#include "harness.h"

/* The cases the mysql backend shares are tests/sql/store_cases.h. */
#define MULTI_SUMMARY_SQL                                                              \
    "SELECT COUNT(*) || ' ' || COUNT(DISTINCT id) || ' ' || COUNT(DISTINCT user_name) || ' ' " \
    "|| MIN(id::bigint) || ' ' || MAX(id::bigint) FROM multi"
#define LOCK_HOLDER_POLLS 400
#define DEAD_HOLDER_WAIT_MAX 8
#define HUNG_HOLDER_WAIT_MAX 20
#include "../sql/store_cases.h"

/* ------------------------------------------------------------------ */
/* Credentials and privileges                                          */
/* ------------------------------------------------------------------ */

START_TEST(test_credentials_and_database)
{
    ts_error err = { 0 };

    wrong_password_refused("authentication failed for user 'app'");

    /* No password anywhere: said so, naming where one may come from. */
    const char *none[] = { "user", "app", "passfile", "/nonexistent/pgpass", NULL };
    unsetenv("PGPASSWORD");
    ck_assert_ptr_null(open_with(none, &err));
    ck_assert_int_eq(err.code, TS_ERR_AUTH);
    ck_assert_msg(strstr(err.message, "none was given") && strstr(err.message, "pgpass"), "%s",
                  err.message);

    const char *nodb[] = { "dbname", "nosuch", NULL };
    unknown_database_named(nodb);

    const char *mode[] = { "sslmode", "sometimes", NULL };
    ck_assert_ptr_null(open_with(mode, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, "sslmode") && strstr(err.message, "verify-full"), "%s",
                  err.message);
    /* A connection string libpq cannot read: said so, never quoted (it
     * may hold a password). */
    const char *bad[] = { "conninfo", "host=127.0.0.1 password=s3cret-in-conninfo oops", NULL };
    ck_assert_ptr_null(open_with(bad, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, "option 'conninfo'") != NULL, "%s", err.message);
    ck_assert_ptr_null(strstr(err.message, "s3cret"));
    const char *both[] = { "user", "app", "username", "other", NULL };
    ck_assert_ptr_null(open_with(both, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONFIG);
}
END_TEST

/* The password in a .pgpass file (PGPASSFILE), not in the config. */
START_TEST(test_password_from_pgpass)
{
    char file[PATH_MAX + 16], port[16];
    ts_error err = { 0 };

    snprintf(file, sizeof file, "%s/pgpass", server_dir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "127.0.0.1:%d:tokens:app:%s\n", server_port, APP_PASSWORD);
    fclose(f);
    ck_assert_int_eq(chmod(file, 0600), 0);
    setenv("PGPASSFILE", file, 1);
    snprintf(port, sizeof port, "%d", server_port);
    const char *opts[] = { "user", "app", "table", "viapass", NULL };
    ts_store *s = open_with(opts, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    ck_assert_int_eq(save_user(s, "pass@x"), 1);
    ts_store_close(s);

    /* And through a URI without a password. */
    char uri[256];
    snprintf(uri, sizeof uri, "postgres://app@127.0.0.1:%d/tokens?table=viapass", server_port);
    ck_assert_msg(ts_store_open(&s, uri, &err) == TS_OK, "%s", err.message);
    ck_assert_int_eq(find_user(s, "pass@x", NULL, &err), TS_OK);
    ts_store_close(s);
    unsetenv("PGPASSFILE");
}
END_TEST

/* SELECT only: reads work, a write names the missing privilege; no
 * privilege on a table that is not there: it cannot be made; no CONNECT
 * on the database: it cannot be reached. */
START_TEST(test_missing_privilege)
{
    ts_error err = { 0 };

    reader_refused("GRANT SELECT ON guarded TO reader", "permission denied for table guarded",
                   NULL, "permission denied for schema public");

    /* No CONNECT on the database. */
    const char *locked[] = { "user", "reader", "password", READER_PASSWORD, "dbname",
                             "locked", NULL };
    ck_assert_ptr_null(open_with(locked, &err));
    ck_assert_int_eq(err.code, TS_ERR_AUTH);
    ck_assert_msg(strstr(err.message, "may not connect to database 'locked'") != NULL, "%s",
                  err.message);
}
END_TEST

/* ------------------------------------------------------------------ */
/* URIs, read-only, the CLI                                            */
/* ------------------------------------------------------------------ */

START_TEST(test_uris_and_status)
{
    char uri[4 * PATH_MAX], cmd[5 * PATH_MAX], out[4096];
    ts_error err = { 0 };
    ts_store *s;

    ck_assert_msg(ts_store_open(&s, app_uri("viauri"), &err) == TS_OK, "%s", err.message);
    ck_assert_int_eq(ts_delete_tokens(s, &err), TS_OK);
    ck_assert_int_eq(save_user(s, "uri@x"), 1);
    ts_store_close(s);

    /* postgres://, and the socket as the superuser, percent-encoded. */
    char dir[PATH_MAX * 3] = "";
    for (const char *p = server_dir; *p; p++)
        snprintf(dir + strlen(dir), sizeof dir - strlen(dir), *p == '/' ? "%%2F" : "%c", *p);
    snprintf(uri, sizeof uri, "postgres://postgres@%s:%d/tokens?table=viauri", dir,
             server_port);
    ck_assert_msg(ts_store_open(&s, uri, &err) == TS_OK, "%s", err.message);
    ck_assert_int_eq(find_user(s, "uri@x", NULL, &err), TS_OK);
    ts_store_close(s);
    /* A libpq connection string. */
    snprintf(uri, sizeof uri, "postgres:host=127.0.0.1 port=%d dbname=tokens user=app "
             "password=%s?table=viauri", server_port, APP_PASSWORD);
    ck_assert_msg(ts_store_open(&s, uri, &err) == TS_OK, "%s", err.message);
    ck_assert_int_eq(find_user(s, "uri@x", NULL, &err), TS_OK);
    ts_store_close(s);
    /* Two hosts, the first down: libpq goes on to the second. */
    snprintf(uri, sizeof uri, "postgresql://app:%s@127.0.0.1:1,127.0.0.1:%d/tokens?table=viauri"
             "&connect_timeout=5", APP_PASSWORD, server_port);
    ck_assert_msg(ts_store_open(&s, uri, &err) == TS_OK, "%s", err.message);
    ck_assert_int_eq(find_user(s, "uri@x", NULL, &err), TS_OK);
    ts_store_close(s);

    /* A service of pg_service.conf (PGSERVICEFILE). */
    char file[PATH_MAX + 16];
    snprintf(file, sizeof file, "%s/pg_service.conf", server_dir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "[tokens]\nhost=127.0.0.1\nport=%d\ndbname=tokens\nuser=app\npassword=%s\n",
            server_port, APP_PASSWORD);
    fclose(f);
    setenv("PGSERVICEFILE", file, 1);
    ck_assert_msg(ts_store_open(&s, "postgresql://?service=tokens&table=viauri", &err) == TS_OK,
                  "%s", err.message);
    ck_assert_int_eq(find_user(s, "uri@x", NULL, &err), TS_OK);
    ts_store_close(s);
    snprintf(cmd, sizeof cmd, "'%s' --store 'postgresql://?service=tokens&table=viauri' status "
             "2>&1", cli());
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "\nlocation: service=tokens table=viauri\n") &&
                  strstr(out, "tokens:   1 "), "%s", out);
    unsetenv("PGSERVICEFILE");

    /* status names the store, never the password. */
    status_names_the_store("dbname");
    /* A connection string may hold the password: shown as **** whole. */
    snprintf(cmd, sizeof cmd, "'%s' --store 'postgres:host=127.0.0.1 port=%d dbname=tokens "
             "user=app password=%s?table=viauri' status 2>&1", cli(), server_port, APP_PASSWORD);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "\nlocation: table=viauri conninfo=****\n") &&
                  strstr(out, "tokens:   1 "), "%s", out);
    ck_assert_ptr_null(strstr(out, APP_PASSWORD));
    wrong_password_listed("authentication failed");
    /* A URI with several hosts becomes libpq's lists. */
    ts_config *cfg;
    ck_assert_int_eq(ts_config_parse_uri(&cfg, "postgresql://u:p@h1:5432,[::1]:5433,h3/db"
                                         "?target_session_attrs=read-write", &err), TS_OK);
    ck_assert_str_eq(ts_config_option(cfg, "host"), "h1,::1,h3");
    ck_assert_str_eq(ts_config_option(cfg, "port"), "5432,5433,");
    ck_assert_str_eq(ts_config_option(cfg, "dbname"), "db");
    ck_assert_str_eq(ts_config_option(cfg, "target_session_attrs"), "read-write");
    ts_config_free(cfg);
}
END_TEST

/* examples/configs/postgres.json: every option it gives is the backend's;
 * pointed at the test server, it opens and saves. */
START_TEST(test_example_config)
{
    char path[PATH_MAX + 32], pass[PATH_MAX + 16], port[16], cmd[3 * PATH_MAX + 64];
    const char *src = getenv("top_srcdir");
    ts_config *cfg;
    ts_store *s;
    ts_error err = { 0 };

    /* A copy only its owner reads, as its client_secret asks. */
    snprintf(path, sizeof path, "%s/example.json", server_dir);
    snprintf(cmd, sizeof cmd, "cp '%s/examples/configs/postgres.json' '%s' && chmod 600 '%s'",
             src ? src : ".", path, path);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(pass, sizeof pass, "%s/example-pgpass", server_dir);
    FILE *f = fopen(pass, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "*:*:tokens:app:%s\n", APP_PASSWORD);
    fclose(f);
    ck_assert_int_eq(chmod(pass, 0600), 0);
    snprintf(port, sizeof port, "%d", server_port);
    ck_assert_msg(ts_config_load(&cfg, path, &err) == TS_OK, "%s", err.message);
    ck_assert_str_eq(ts_config_backend(cfg), "postgres");
    const char *here[] = { "host", "127.0.0.1", "port", port, "dbname", "tokens", "user", "app",
                           "passfile", pass, "sslmode", "prefer", "table", "example", NULL };
    for (int i = 0; here[i]; i += 2)
        ck_assert_int_eq(ts_config_set_option(cfg, here[i], here[i + 1], &err), TS_OK);
    ts_config_set_logger(cfg, NULL, NULL, 0);
    ck_assert_msg(ts_store_open_config(&s, cfg, &err) == TS_OK, "%s", err.message);
    ck_assert_int_eq(save_user(s, "example@x"), 1);
    ts_store_close(s);
    ts_config_free(cfg);
}
END_TEST

/* A MariaDB server for the migration's last leg, when the mysql backend
 * was built; its socket, or "" to end the migration in a file instead. */
static const char *mariadb_socket(void)
{
    static char sock[PATH_MAX + 32];
    char so[PATH_MAX], cmd[3 * PATH_MAX];
    const char *b = getenv("top_builddir"), *src = getenv("top_srcdir");

    snprintf(so, sizeof so, "%s/plugins/mysql/.libs/mysql.so", b ? b : ".");
    if (access(so, R_OK) != 0)
        return "";
    snprintf(cmd, sizeof cmd, "sh '%s/tests/mysql/server.sh' start '%s/mysql' >/dev/null && "
             "sh '%s/tests/mysql/server.sh' sql '%s/mysql' 'CREATE DATABASE tokens'",
             src ? src : ".", server_dir, src ? src : ".", server_dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(sock, sizeof sock, "%s/mysql/mysql.sock", server_dir);
    return sock;
}

static void stop_mariadb(void)
{
    char cmd[3 * PATH_MAX];
    const char *src = getenv("top_srcdir");

    snprintf(cmd, sizeof cmd, "sh '%s/tests/mysql/server.sh' stop '%s/mysql'", src ? src : ".",
             server_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not stop the MariaDB server\n");
}

START_TEST(test_migrate_sqlite_postgres_mysql)
{
    char cmd[8 * PATH_MAX], out[8192], first[8192], db[PATH_MAX + 32], last[PATH_MAX + 128];

    snprintf(db, sizeof db, "sqlite:%s/migrate.db", server_dir);
    migration_source(db, "1000.access,\"odd\" é", first, sizeof first);
    const char *sock = mariadb_socket();
    if (*sock)
        snprintf(last, sizeof last, "mysql:%s?user=root&database=tokens&table=migrated", sock);
    else
        snprintf(last, sizeof last, "file:%s/migrate.csv", server_dir);

    snprintf(cmd, sizeof cmd, "'%s' --store '%s' migrate --to '%s' >/dev/null 2>&1 && "
             "'%s' --store '%s' migrate --to '%s' >/dev/null 2>&1", cli(), db,
             app_uri("migrated"), cli(), app_uri("migrated"), last);
    int rc = run_cmd(cmd, out, sizeof out);
    /* Every token and id, byte for byte, in both tables. */
    char pg_list[8192], last_list[8192];
    snprintf(cmd, sizeof cmd, "'%s' --store '%s' list --json --show-secrets", cli(),
             app_uri("migrated"));
    ck_assert_int_eq(run_cmd(cmd, pg_list, sizeof pg_list), 0);
    snprintf(cmd, sizeof cmd, "'%s' --store '%s' list --json --show-secrets", cli(), last);
    int last_rc = run_cmd(cmd, last_list, sizeof last_list);
    if (*sock)
        stop_mariadb();
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(last_rc, 0);
    ck_assert_str_eq(pg_list, first);
    ck_assert_str_eq(last_list, first);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM migrated WHERE id IN "
                                "('1', '2', '5', '12', '40')"), 5);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *postgres_suite(void)
{
    Suite *s = suite_create("postgres");
    TCase *tc = tcase_create("postgres");

    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, test_eight_processes_thousand_saves);
    tcase_add_test(tc, test_one_user_many_writers);
    tcase_add_test(tc, test_credentials_and_database);
    tcase_add_test(tc, test_password_from_pgpass);
    tcase_add_test(tc, test_missing_privilege);
    tcase_add_test(tc, test_uris_and_status);
    tcase_add_test(tc, test_example_config);
    tcase_add_test(tc, test_read_only_creates_nothing);
    tcase_add_test(tc, test_migrate_sqlite_postgres_mysql);
    tcase_add_test(tc, test_one_refresh_across_eight_processes);
    tcase_add_test(tc, test_refresh_lock_freed_by_crash_and_ttl);
    suite_add_tcase(s, tc);
    return s;
}

static const char setup_sql[] =
    "CREATE ROLE reader LOGIN PASSWORD '" READER_PASSWORD "';"
    "REVOKE CREATE ON SCHEMA public FROM PUBLIC;"
    "CREATE DATABASE locked; REVOKE CONNECT ON DATABASE locked FROM PUBLIC;";

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return harness_run(postgres_suite(), setup_sql, start_accounts);
}
