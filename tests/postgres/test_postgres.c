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
    char user[64], refresh[64];

    if (!s)
        _exit(10);
    for (int i = 0; i < SAVES; i++) {
        snprintf(user, sizeof user, "w%d-u%d@example.com", w, i);
        snprintf(refresh, sizeof refresh, "1000.refresh.%d.%d", w, i);
        ts_token *t = make_token(user, refresh, "");
        int rc = ts_save_token(s, t, &err);
        ts_token_free(t);
        if (rc != TS_OK) {
            fprintf(stderr, "writer %d: save %d: %s\n", w, i, err.message);
            _exit(11);
        }
    }
    ts_store_close(s);
    _exit(0);
}

START_TEST(test_eight_processes_thousand_saves)
{
    ts_store *s = open_table("multi");
    pid_t pids[WRITERS];

    for (int w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        ck_assert(pids[w] >= 0);
        if (pids[w] == 0)
            writer(w);
    }
    for (int w = 0; w < WRITERS; w++) {
        int status;
        ck_assert(waitpid(pids[w], &status, 0) == pids[w]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer %d failed", w);
    }
    char out[128];
    ck_assert_int_eq(sql("SELECT COUNT(*) || ' ' || COUNT(DISTINCT id) || ' ' || "
                         "COUNT(DISTINCT user_name) || ' ' || MIN(id::bigint) || ' ' || "
                         "MAX(id::bigint) FROM multi", out, sizeof out), 0);
    ck_assert_str_eq(out, "8000 8000 8000 1 8000");
    ck_assert_uint_eq(count_tokens(s), WRITERS * SAVES);
    ts_store_close(s);
}
END_TEST

enum { RACERS = 4, RACES = 150 };

/* RACERS processes save one user's token over and over, half of them by
 * key (the one-statement save) and half by id (the lookups and the
 * guarded UPDATE): every save succeeds and the user keeps one row. */
START_TEST(test_one_user_many_writers)
{
    ts_error err = { 0 };
    ts_store *s = open_table("race");
    pid_t pids[RACERS];

    ck_assert_int_eq(save_user(s, "race@x"), 1);
    for (int w = 0; w < RACERS; w++) {
        pids[w] = fork();
        ck_assert(pids[w] >= 0);
        if (pids[w] > 0)
            continue;
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
    for (int w = 0; w < RACERS; w++) {
        int status;
        ck_assert(waitpid(pids[w], &status, 0) == pids[w]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "racer %d failed", w);
    }
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM race"), 1);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM race WHERE access_token LIKE "
                                "'1000.access._.149' AND refresh_token = '1000.refresh.race@x'"),
                     1);
    ts_store_close(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Credentials and privileges                                          */
/* ------------------------------------------------------------------ */

START_TEST(test_credentials_and_database)
{
    ts_error err = { 0 };

    const char *wrong[] = { "user", "app", "password", "not-the-password", NULL };
    ck_assert_ptr_null(open_with(wrong, &err));
    ck_assert_int_eq(err.code, TS_ERR_AUTH);
    ck_assert_msg(strstr(err.message, "authentication failed for user 'app'") &&
                  strstr(err.message, "wrong password"), "%s", err.message);
    ck_assert_ptr_null(strstr(err.message, "not-the-password"));

    /* No password anywhere: said so, naming where one may come from. */
    const char *none[] = { "user", "app", "passfile", "/nonexistent/pgpass", NULL };
    unsetenv("PGPASSWORD");
    ck_assert_ptr_null(open_with(none, &err));
    ck_assert_int_eq(err.code, TS_ERR_AUTH);
    ck_assert_msg(strstr(err.message, "none was given") && strstr(err.message, "pgpass"), "%s",
                  err.message);

    const char *nodb[] = { "dbname", "nosuch", NULL };
    ck_assert_ptr_null(open_with(nodb, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, "unknown database 'nosuch'") != NULL, "%s", err.message);
    ck_assert_ptr_null(open_flags_with(TS_OPEN_MUST_EXIST, nodb, &err));
    ck_assert_int_eq(err.code, TS_ERR_NO_STORE);
    ck_assert_msg(strstr(err.message, "no such store: database 'nosuch'") != NULL, "%s",
                  err.message);

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

START_TEST(test_missing_privilege)
{
    ts_error err = { 0 };
    ts_store *s = open_table("guarded");
    ck_assert_int_eq(save_user(s, "g1@x"), 1);
    ts_store_close(s);
    sql_ok("GRANT SELECT ON guarded TO reader");

    /* SELECT only: reads work, a write names the missing privilege. */
    const char *reader[] = { "user", "reader", "password", READER_PASSWORD, "table", "guarded",
                             NULL };
    s = open_with(reader, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    ck_assert_int_eq(find_user(s, "g1@x", NULL, &err), TS_OK);
    ts_token *t = make_token("g2@x", "1000.refresh.g2", "");
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_AUTH);
    ck_assert_msg(strstr(err.message, "missing privilege") &&
                  strstr(err.message, "permission denied for table guarded"), "%s",
                  err.message);
    ts_token_set(t, TS_FIELD_USER_NAME, "g1@x");
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_AUTH);
    ck_assert_int_eq(ts_delete_token(s, "1", &err), TS_ERR_AUTH);
    ck_assert_uint_eq(count_tokens(s), 1);
    ts_token_free(t);
    ts_store_close(s);

    /* No privilege on a table that is not there: it cannot be made. */
    const char *elsewhere[] = { "user", "reader", "password", READER_PASSWORD, "table",
                                "notmine", NULL };
    ck_assert_ptr_null(open_with(elsewhere, &err));
    ck_assert_int_eq(err.code, TS_ERR_AUTH);
    ck_assert_msg(strstr(err.message, "permission denied for schema public") != NULL, "%s",
                  err.message);
    ck_assert_ptr_null(strstr(err.message, READER_PASSWORD));

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
    char uri[4 * PATH_MAX], cmd[5 * PATH_MAX], out[4096], location[256];
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
    snprintf(cmd, sizeof cmd, "'%s' --store '%s' status 2>&1", cli(), app_uri("viauri"));
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 0);
    snprintf(location, sizeof location, "\nlocation: host=127.0.0.1 port=%d dbname=tokens "
             "table=viauri user=app password=****\n", server_port);
    ck_assert_msg(strstr(out, "backend:  postgres") && strstr(out, location) &&
                  strstr(out, "tokens:   1 "), "%s", out);
    ck_assert_ptr_null(strstr(out, APP_PASSWORD));
    /* A connection string may hold the password: shown as **** whole. */
    snprintf(cmd, sizeof cmd, "'%s' --store 'postgres:host=127.0.0.1 port=%d dbname=tokens "
             "user=app password=%s?table=viauri' status 2>&1", cli(), server_port, APP_PASSWORD);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "\nlocation: table=viauri conninfo=****\n") &&
                  strstr(out, "tokens:   1 "), "%s", out);
    ck_assert_ptr_null(strstr(out, APP_PASSWORD));
    snprintf(cmd, sizeof cmd, "'%s' --store 'postgresql://app:wrong-%s@127.0.0.1:%d/tokens' "
             "list 2>&1", cli(), APP_PASSWORD, server_port);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 3);
    ck_assert_msg(strstr(out, "authentication failed") != NULL, "%s", out);
    ck_assert_ptr_null(strstr(out, APP_PASSWORD));
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

START_TEST(test_read_only_creates_nothing)
{
    ts_error err = { 0 };
    const char *opts[] = { "table", "later", NULL };
    ts_store *ro = open_flags_with(TS_OPEN_READ_ONLY, opts, &err);

    ck_assert_msg(ro != NULL, "%s", err.message);
    ck_assert_uint_eq(count_tokens(ro), 0);
    ck_assert_int_eq(find_user(ro, "x@x", NULL, &err), TS_NOT_FOUND);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM pg_tables WHERE tablename = 'later'"),
                     0);
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
    ts_error err = { 0 };
    ts_store *s;
    static const char *const ids[] = { "1", "2", "5", "12", "40" };

    snprintf(db, sizeof db, "sqlite:%s/migrate.db", server_dir);
    ck_assert_msg(ts_store_open(&s, db, &err) == TS_OK, "%s", err.message);
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char user[32], secret[32];
        snprintf(user, sizeof user, "m%s@x", ids[i]);
        snprintf(secret, sizeof secret, "1000.refresh.%s", ids[i]);
        ts_token *t = make_token(user, secret, i % 2 ? "1000.access,\"odd\" é" : "");
        ts_token_set(t, TS_FIELD_ID, ids[i]);
        save_ok(s, t);
        ts_token_free(t);
    }
    ts_store_close(s);
    const char *sock = mariadb_socket();
    if (*sock)
        snprintf(last, sizeof last, "mysql:%s?user=root&database=tokens&table=migrated", sock);
    else
        snprintf(last, sizeof last, "file:%s/migrate.csv", server_dir);

    snprintf(cmd, sizeof cmd, "'%s' --store '%s' list --json --show-secrets", cli(), db);
    ck_assert_int_eq(run_cmd(cmd, first, sizeof first), 0);
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
    FILE *f = fdopen(fds[0], "r");
    char line[128];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        ck_assert_msg(strncmp(line, "1000.access.1 ", 14) == 0, "a worker got '%s'", line);
        lines++;
    }
    fclose(f);
    for (int i = 0; i < 8; i++)
        waitpid(kids[i], NULL, 0);
    ck_assert_int_eq(lines, 8);
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
    for (int i = 0; i < 400; i++) {
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

    /* A holder killed in its request: the server frees its session lock
     * with its connection, and the next refresh goes at once (its wait
     * would otherwise last its TTL, a minute). */
    accounts_call("/reset", "", out, sizeof out);
    accounts_call("/control", "{\"mode\": \"slow\", \"delay\": 30}", out, sizeof out);
    pid_t holder = lock_holder("locks", "30000", 1);
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    accounts_call("/control", "{\"mode\": \"success\"}", out, sizeof out);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_msg(refresh(o, access, sizeof access, &err) == TS_OK, "%s", err.message);
    ck_assert_msg(seconds_since(&t0) < 8, "waited %.1f s for a dead holder's lock",
                  seconds_since(&t0));
    ck_assert_str_eq(access, "1000.access.2");

    /* A holder that hangs (stopped) past its lock's TTL, about 6 s here
     * (its timeouts of 0.5 s each and 5 s more): the server ends its
     * silent session (idle_session_timeout), and with it the lock. */
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
    ck_assert_msg(waited > 3 && waited < 20, "the hung holder's lock freed after %.1f s", waited);
    ck_assert_str_eq(access, "1000.access.4");
    ts_token_free(t);
    ts_oauth_free(o);
    ts_store_close(s);
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
