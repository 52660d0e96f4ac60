/*
 * tests/postgres/test_postgres_tls.c - the postgres backend over TLS, with
 * libpq's sslmode, against a real PostgreSQL server of the program's own
 * (tests/postgres/harness.c) given certificates of a test CA made by
 * openssl (tests/redis/certs.sh).
 *
 * verify-full connects to the server by its name and encrypts; it refuses
 * a server whose certificate another CA signed, and one whose certificate
 * names another host (which verify-ca lets through); a client certificate
 * logs in without a password; a server without TLS is refused before a
 * password or a token is sent; a child forked from a process with a TLS
 * session open saves on its own while the parent reads on the parent's.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <tokenstore/tokenstore.h>
#include "../test_store.h"
#include "harness.h"

static char certs[PATH_MAX + 16];

static const char *cert(const char *name)
{
    static char path[4][PATH_MAX + 64];
    static int next;
    char *p = path[next++ % 4];

    snprintf(p, sizeof path[0], "%s/%s", certs, name);
    return p;
}

/* A store over TCP to `host` with sslmode `mode` and root CA `ca`, and
 * more options as pairs (may be NULL). */
static ts_store *open_tls(const char *host, const char *mode, const char *ca,
                          const char *const *more, ts_error *err)
{
    const char *opts[24] = { "host", host, "sslmode", mode, "sslrootcert", ca,
                             "table", "secure", "application_name", "tls-check" };
    int n = 10;

    for (int i = 0; more && more[i] && n < 22; i++)
        opts[n++] = more[i];
    opts[n] = NULL;
    return open_with(opts, err);
}

START_TEST(test_verify_full)
{
    ts_error err = { 0 };
    ts_store *s = open_tls("localhost", "verify-full", cert("ca.crt"), NULL, &err);

    ck_assert_msg(s != NULL, "%s", err.message);
    ck_assert_int_eq(save_user(s, "tls@x"), 1);
    /* The session the store opened is encrypted. */
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM pg_stat_ssl JOIN pg_stat_activity USING "
                                "(pid) WHERE application_name = 'tls-check' AND ssl"), 1);
    ts_store_close(s);

    /* The same through a URI. */
    char uri[PATH_MAX + 256];
    snprintf(uri, sizeof uri, "postgresql://app:%s@localhost:%d/tokens?table=secure&"
             "sslmode=verify-full&sslrootcert=%s", APP_PASSWORD, server_port, cert("ca.crt"));
    ck_assert_msg(ts_store_open(&s, uri, &err) == TS_OK, "%s", err.message);
    ck_assert_int_eq(find_user(s, "tls@x", NULL, &err), TS_OK);
    ts_store_close(s);
}
END_TEST

START_TEST(test_wrong_ca_and_wrong_name_are_refused)
{
    ts_error err = { 0 };

    ck_assert_ptr_null(open_tls("localhost", "verify-full", cert("other-ca.crt"), NULL, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONNECT);
    ck_assert_msg(strstr(err.message, "TLS (sslmode=verify-full)") &&
                  strstr(err.message, "certificate verify failed"), "%s", err.message);
    ck_assert_ptr_null(strstr(err.message, APP_PASSWORD));

    /* The server at 127.0.0.1 asked for as a name its certificate does
     * not hold: verify-full refuses, verify-ca (which checks only the
     * chain) does not. */
    const char *addr[] = { "hostaddr", "127.0.0.1", NULL };
    ck_assert_ptr_null(open_tls("db.tokenstore.test", "verify-full", cert("ca.crt"), addr,
                                &err));
    ck_assert_int_eq(err.code, TS_ERR_CONNECT);
    ck_assert_msg(strstr(err.message, "does not match host name \"db.tokenstore.test\""), "%s",
                  err.message);
    ts_store *s = open_tls("db.tokenstore.test", "verify-ca", cert("ca.crt"), addr, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    ts_store_close(s);
}
END_TEST

START_TEST(test_client_certificate)
{
    ts_error err = { 0 };
    const char *opts[] = { "user", "certuser", "sslcert", cert("client.crt"), "sslkey",
                           cert("client.key"), "passfile", "/nonexistent", NULL };
    ts_store *s = open_tls("localhost", "verify-full", cert("ca.crt"), opts, &err);

    ck_assert_msg(s != NULL, "%s", err.message);
    ck_assert_int_eq(find_user(s, "tls@x", NULL, &err), TS_OK);
    ts_store_close(s);
    /* Without the certificate, certuser has no way in. */
    const char *bare[] = { "user", "certuser", "password", "any", NULL };
    ck_assert_ptr_null(open_tls("localhost", "verify-full", cert("ca.crt"), bare, &err));
    ck_assert_msg(err.code == TS_ERR_AUTH && strstr(err.message, "user 'certuser'"), "%d %s",
                  err.code, err.message);
}
END_TEST

/* A child forked with a TLS session open saves on its own session while
 * the parent reads on its; both go on. */
START_TEST(test_fork_over_tls)
{
    ts_error err = { 0 };
    ts_store *s = open_tls("localhost", "verify-full", cert("ca.crt"), NULL, &err);
    pid_t kids[2];

    ck_assert_msg(s != NULL, "%s", err.message);
    ck_assert_int_eq(find_user(s, "tls@x", NULL, &err), TS_OK);
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        ck_assert(kids[k] >= 0);
        if (kids[k] > 0)
            continue;
        alarm(60);
        for (int i = 0; i < 50; i++) {
            char user[32];
            snprintf(user, sizeof user, "fork%d-%d@x", k, i);
            ts_token *t = make_token(user, "1000.refresh.fork", "");
            int rc = ts_save_token(s, t, &err);
            ts_token_free(t);
            if (rc != TS_OK) {
                fprintf(stderr, "child %d: %s\n", k, err.message);
                _exit(1);
            }
        }
        _exit(0);
    }
    for (int i = 0; i < 100; i++)
        ck_assert_msg(find_user(s, "tls@x", NULL, &err) == TS_OK, "%s", err.message);
    for (int k = 0; k < 2; k++) {
        int status;
        ck_assert(waitpid(kids[k], &status, 0) == kids[k]);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM secure WHERE user_name LIKE 'fork%'"), 100);
    ck_assert_int_eq(find_user(s, "fork1-49@x", NULL, &err), TS_OK);
    ts_store_close(s);
}
END_TEST

/* A server that no longer offers TLS: every mode that asks for it is
 * refused before anything is sent but the request for TLS. */
START_TEST(test_server_without_tls)
{
    ts_error err = { 0 };

    ck_assert_int_eq(admin_sql("ALTER SYSTEM SET ssl = off", NULL, 0), 0);
    ck_assert_int_eq(server_reload(), 0);
    static const char *const modes[] = { "require", "verify-ca", "verify-full" };
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_null(open_tls("localhost", modes[i], cert("ca.crt"), NULL, &err));
        ck_assert_int_eq(err.code, TS_ERR_CONNECT);
        ck_assert_msg(strstr(err.message, "TLS") &&
                      strstr(err.message, "server does not support SSL"), "%s", err.message);
    }
    /* prefer, libpq's default, goes on in the clear. */
    ts_store *s = open_tls("localhost", "prefer", cert("ca.crt"), NULL, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    ts_store_close(s);
    ck_assert_int_eq(admin_sql("ALTER SYSTEM SET ssl = on", NULL, 0), 0);
    ck_assert_int_eq(server_reload(), 0);
}
END_TEST

/* ------------------------------------------------------------------ */

/* The CA and certificates, the server's TLS settings, and who may come
 * in how: certuser by its client certificate only. */
static int setup_tls(void)
{
    char cmd[8 * PATH_MAX + 256], hba[PATH_MAX + 32], old[8192] = "";
    const char *src = getenv("top_srcdir");

    snprintf(certs, sizeof certs, "%s/certs", server_dir);
    snprintf(cmd, sizeof cmd, "sh '%s/tests/redis/certs.sh' '%s' >/dev/null 2>&1 && "
             "chmod 600 '%s/server.key' '%s/client.key' && sh '%s' own '%s/server.key'",
             src ? src : ".", certs, certs, certs, server_script(), certs);
    if (system(cmd) != 0)
        return 0;
    snprintf(hba, sizeof hba, "%s/data/pg_hba.conf", server_dir);
    FILE *f = fopen(hba, "r");
    if (!f)
        return 0;
    size_t n = fread(old, 1, sizeof old - 1, f);
    old[n] = '\0';
    fclose(f);
    if (!(f = fopen(hba, "w")))
        return 0;
    fprintf(f, "hostssl all certuser 127.0.0.1/32 cert map=tls\n"
               "host all certuser 127.0.0.1/32 reject\n%s", old);
    fclose(f);
    snprintf(hba, sizeof hba, "%s/data/pg_ident.conf", server_dir);
    if (!(f = fopen(hba, "a")))
        return 0;
    fprintf(f, "tls \"tokenstore client\" certuser\n");
    fclose(f);
    char q[4 * PATH_MAX + 256];
    snprintf(q, sizeof q, "ALTER SYSTEM SET ssl_cert_file = '%s/server.crt'; ALTER SYSTEM SET "
             "ssl_key_file = '%s/server.key'; ALTER SYSTEM SET ssl_ca_file = '%s/ca.crt'; "
             "ALTER SYSTEM SET ssl = on;", certs, certs, certs);
    return admin_sql(q, NULL, 0) == 0 && server_reload() == 0;
}

static Suite *tls_suite(void)
{
    Suite *s = suite_create("postgres_tls");
    TCase *tc = tcase_create("tls");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_verify_full);
    tcase_add_test(tc, test_wrong_ca_and_wrong_name_are_refused);
    tcase_add_test(tc, test_client_certificate);
    tcase_add_test(tc, test_fork_over_tls);
    tcase_add_test(tc, test_server_without_tls);
    suite_add_tcase(s, tc);
    return s;
}

static const char setup_sql[] =
    "CREATE ROLE certuser LOGIN; GRANT app TO certuser;";

int main(void)
{
    return harness_run(tls_suite(), setup_sql, setup_tls);
}
