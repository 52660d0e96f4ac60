/*
 * tests/mysql/test_mysql_tls.c - the mysql backend's TLS modes against a
 * real MariaDB server of the program's own with a test certificate
 * (tests/mysql/harness.c), and against a man in the middle
 * (tests/mysql/downgrade_proxy.py) that removes the server's offer of TLS
 * from its greeting, recording every byte it relays.
 *
 * required, verify-ca and verify-identity each promise an encrypted
 * connection: through the proxy, and against the server restarted without
 * TLS (also under a store opened while it had TLS), each refuses, naming
 * the mode and the server, and neither the password nor a token crosses
 * in the clear; a proxy that then asks the client for its password in
 * the clear (mysql_clear_password) does not get it. Without TLS the proxy
 * does relay, and does see what crosses. A child forked from a process
 * with a TLS connection open saves on it while the parent reads.
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

#define TLS_PASSWORD "tls-Pa55word"
#define CANARY "1000.refresh.canary-5f3e9a"

/* The proxies: one relaying, one asking for the password in the clear. */
enum { RELAY, CLEAR_PASSWORD, PROXIES };
static const char *const proxy_mode[PROXIES] = { "relay", "clear-password" };
static pid_t proxy_pid[PROXIES];
static int proxy_port[PROXIES];
static char record[PROXIES][PATH_MAX + 32];

/* The modes that promise TLS. */
static const char *const modes[] = { "required", "verify-ca", "verify-identity" };

/* ------------------------------------------------------------------ */
/* The man in the middle                                               */
/* ------------------------------------------------------------------ */

static void stop_proxies(void)
{
    if (!harness_is_owner())
        return;
    for (int i = 0; i < PROXIES; i++)
        if (proxy_pid[i] > 0) {
            kill(proxy_pid[i], SIGTERM);
            waitpid(proxy_pid[i], NULL, 0);
            proxy_pid[i] = 0;
        }
}

static int start_proxy(int i)
{
    char portfile[PATH_MAX + 32], script[PATH_MAX], upstream[16];
    const char *src = getenv("top_srcdir");

    snprintf(portfile, sizeof portfile, "%s/proxy-%d.port", server_dir, i);
    snprintf(record[i], sizeof record[i], "%s/proxy-%d.record", server_dir, i);
    snprintf(script, sizeof script, "%s/tests/mysql/downgrade_proxy.py", src ? src : ".");
    snprintf(upstream, sizeof upstream, "%d", server_port);
    proxy_pid[i] = fork();
    if (proxy_pid[i] == 0) {
        execlp("python3", "python3", script, upstream, portfile, record[i], proxy_mode[i],
               (char *)NULL);
        _exit(127);
    }
    for (int t = 0; t < 200 && proxy_port[i] <= 0; t++) {
        FILE *f = fopen(portfile, "r");
        if (f) {
            if (fscanf(f, "%d", &proxy_port[i]) != 1)
                proxy_port[i] = 0;
            fclose(f);
        }
        if (proxy_port[i] <= 0)
            usleep(50000);
    }
    return proxy_port[i] > 0;
}

static int start_proxies(void)
{
    atexit(stop_proxies);
    return start_proxy(RELAY) && start_proxy(CLEAR_PASSWORD);
}

static void forget_record(int i)
{
    FILE *f = fopen(record[i], "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
}

/* Whether the bytes proxy i relayed hold `needle`. */
static int relayed(int i, const char *needle)
{
    static char data[1 << 20];
    FILE *f = fopen(record[i], "rb");
    size_t n = f ? fread(data, 1, sizeof data, f) : 0;

    if (f)
        fclose(f);
    return memmem(data, n, needle, strlen(needle)) != NULL;
}

/* Opens a store as app on `port` with tls=mode (and the CA for the modes
 * that verify); NULL with err filled when refused. */
static ts_store *open_tls(int port, const char *mode, ts_error *err)
{
    char ca[PATH_MAX + 32], port_s[16];

    snprintf(ca, sizeof ca, "%s/server-cert.pem", server_dir);
    snprintf(port_s, sizeof port_s, "%d", port);
    int verify = strncmp(mode, "verify", 6) == 0;
    const char *opts[] = { "port", port_s, "table", "downgraded", "tls", mode,
                           verify ? "tls_ca" : NULL, ca, NULL };
    return open_with(opts, err);
}

/* Refused, with a message naming the mode and the server. */
static void refused(ts_store *s, const ts_error *err, int code, const char *mode, int port)
{
    char where[64], option[32];

    snprintf(where, sizeof where, "127.0.0.1:%d", port);
    snprintf(option, sizeof option, "tls=%s", mode);
    ck_assert_ptr_null(s);
    ck_assert_msg(err->code == code && strstr(err->message, where) &&
                  strstr(err->message, option), "%s: %d %s", mode, err->code, err->message);
}

/* ------------------------------------------------------------------ */
/* The modes                                                           */
/* ------------------------------------------------------------------ */

START_TEST(test_tls)
{
    char ca[PATH_MAX + 32], other[PATH_MAX + 32];
    ts_error err = { 0 };

    snprintf(ca, sizeof ca, "%s/server-cert.pem", server_dir);
    snprintf(other, sizeof other, "%s/other-cert.pem", server_dir);
    /* The user must come over TLS: without it, access is denied. */
    const char *plain[] = { "user", "tlsuser", "password", TLS_PASSWORD, "table", "tls", NULL };
    ck_assert_ptr_null(open_with(plain, &err));
    ck_assert_int_eq(err.code, TS_ERR_AUTH);

    const char *required[] = { "user", "tlsuser", "password", TLS_PASSWORD, "table", "tls",
                               "tls", "required", NULL };
    ts_store *s = open_with(required, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    ck_assert_int_eq(ts_delete_tokens(s, &err), TS_OK);
    ck_assert_int_eq(save_user(s, "tls@x"), 1);
    ts_store_close(s);

    const char *ca_ok[] = { "user", "tlsuser", "password", TLS_PASSWORD, "table", "tls",
                            "tls", "verify-ca", "tls_ca", ca, NULL };
    s = open_with(ca_ok, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    ck_assert_int_eq(find_user(s, "tls@x", NULL, &err), TS_OK);
    ts_store_close(s);

    const char *identity[] = { "user", "tlsuser", "password", TLS_PASSWORD, "table", "tls",
                               "tls", "verify-identity", "tls_ca", ca, NULL };
    s = open_with(identity, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    ts_store_close(s);

    const char *wrong_ca[] = { "user", "tlsuser", "password", TLS_PASSWORD, "table", "tls",
                               "tls", "verify-ca", "tls_ca", other, NULL };
    ck_assert_ptr_null(open_with(wrong_ca, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONNECT);
    ck_assert_msg(strstr(err.message, "TLS") != NULL, "%s", err.message);

    /* Over the socket too, the connection is encrypted, or refused. */
    const char *on_socket[] = { "socket", server_sock, "user", "root", "table", "tls",
                                "tls", "required", NULL };
    s = open_with(on_socket, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    ck_assert_int_eq(find_user(s, "tls@x", NULL, &err), TS_OK);
    ts_store_close(s);

    const char *no_ca[] = { "tls", "verify-ca", NULL };
    ck_assert_ptr_null(open_with(no_ca, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.message, "tls_ca"));
}
END_TEST


START_TEST(test_downgrade_refused_in_every_mode)
{
    ts_error err = { 0 };

    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        forget_record(RELAY);
        ts_store *s = open_tls(proxy_port[RELAY], modes[m], &err);
        refused(s, &err, TS_ERR_CONNECT, modes[m], proxy_port[RELAY]);
        ck_assert_msg(strstr(err.message, "not encrypted") || strstr(err.message, "SSL is "
                      "required"), "%s", err.message);
        ck_assert(!relayed(RELAY, APP_PASSWORD));
    }
    /* Without TLS the proxy relays, and a saved token crosses it where it
     * can be seen: the searches above could have found one. */
    forget_record(RELAY);
    ts_store *s = open_tls(proxy_port[RELAY], "off", &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    ts_token *t = make_token("plain@example.com", CANARY, "");
    save_ok(s, t);
    ts_token_free(t);
    ts_store_close(s);
    ck_assert(relayed(RELAY, CANARY));
}
END_TEST

/* After the downgrade, the proxy asks for the password in the clear: no
 * mode that promises TLS hands it over. Without TLS it is handed over,
 * which is what the test would catch. */
START_TEST(test_clear_password_never_sent_in_a_tls_mode)
{
    ts_error err = { 0 };

    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        forget_record(CLEAR_PASSWORD);
        ts_store *s = open_tls(proxy_port[CLEAR_PASSWORD], modes[m], &err);
        ck_assert_msg(!relayed(CLEAR_PASSWORD, APP_PASSWORD), "tls=%s sent the password",
                      modes[m]);
        refused(s, &err, m < 2 ? TS_ERR_AUTH : TS_ERR_CONNECT, modes[m],
                proxy_port[CLEAR_PASSWORD]);
    }
    forget_record(CLEAR_PASSWORD);
    ck_assert_ptr_null(open_tls(proxy_port[CLEAR_PASSWORD], "off", &err));
    ck_assert(relayed(CLEAR_PASSWORD, APP_PASSWORD));
}
END_TEST

/* ------------------------------------------------------------------ */
/* fork() on a TLS connection                                          */
/* ------------------------------------------------------------------ */

/* The ids of tlsuser's sessions on the server, "1,2". */
static void tls_sessions(char *out, size_t n)
{
    ck_assert_int_eq(sql("SELECT COALESCE(GROUP_CONCAT(ID ORDER BY ID), '') FROM "
                         "information_schema.PROCESSLIST WHERE USER = 'tlsuser'", out, n), 0);
}

/* The child's saves go over its own TLS session; the parent's session,
 * whose TLS state the child inherited, is left as it was. */
START_TEST(test_fork_with_a_tls_connection)
{
    const char *opts[] = { "user", "tlsuser", "password", TLS_PASSWORD, "table", "tlsfork",
                           "tls", "required", NULL };
    ts_error err = { 0 };
    char before[128], after[128] = "";
    ts_store *s = open_with(opts, &err);

    ck_assert_msg(s != NULL, "%s", err.message);
    ck_assert_int_eq(ts_delete_tokens(s, &err), TS_OK);
    ck_assert_int_eq(save_user(s, "parent@example.com"), 1);
    tls_sessions(before, sizeof before);
    pid_t kid = fork();
    ck_assert(kid >= 0);
    if (kid == 0) {
        char user[64];
        alarm(100);
        for (int i = 0; i < 50; i++) {
            snprintf(user, sizeof user, "tlschild%d@example.com", i);
            ts_token *t = make_token(user, "1000.refresh.tlschild", "");
            if (ts_save_token(s, t, &err) != TS_OK) {
                fprintf(stderr, "child: save %d: %s\n", i, err.message);
                _exit(1);
            }
            ts_token_free(t);
        }
        _exit(0);
    }
    int status, done = 0;
    for (int i = 0; !done && i < 20000; i++) {
        ck_assert_msg(find_user(s, "parent@example.com", NULL, &err) == TS_OK, "%s",
                      err.message);
        done = waitpid(kid, &status, WNOHANG) == kid;
    }
    if (!done) {
        kill(kid, SIGKILL);
        waitpid(kid, &status, 0);
    }
    ck_assert_msg(done && WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed");
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM tokens.tlsfork"), 51);
    for (int i = 0; i < 100 && strcmp(after, before) != 0; i++) {
        if (i)
            usleep(100000);
        tls_sessions(after, sizeof after);
    }
    ck_assert_str_eq(after, before);
    ck_assert_int_eq(save_user(s, "after@example.com"), 52);
    ts_store_close(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* A server without TLS                                                */
/* ------------------------------------------------------------------ */

/* A store opened while the server had TLS: after it restarts without,
 * the store's next connection is refused before a token is sent on it;
 * then each mode refuses to open. */
START_TEST(test_server_restarted_without_tls)
{
    ts_error err = { 0 };
    ts_store *s = open_tls(server_port, "required", &err);

    ck_assert_msg(s != NULL, "%s", err.message);
    ck_assert_int_eq(ts_delete_tokens(s, &err), TS_OK);
    ck_assert_int_eq(save_user(s, "before@example.com"), 1);
    /* Restarted with TLS, the server ends the session with a TLS error on
     * our side: the store connects again, as after any restart. */
    ck_assert_int_eq(server_restart(NULL), server_port);
    ck_assert_msg(find_user(s, "before@example.com", NULL, &err) == TS_OK, "%s",
                  err.message);
    ck_assert_int_eq(server_restart("--skip-ssl"), server_port);
    int rc = find_user(s, "before@example.com", NULL, &err);
    ck_assert_msg(rc == TS_ERR_CONNECT, "%d %s", rc, err.message);
    refused(NULL, &err, TS_ERR_CONNECT, "required", server_port);
    ts_token *t = make_token("after@example.com", CANARY, "");
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_CONNECT);
    refused(NULL, &err, TS_ERR_CONNECT, "required", server_port);
    ts_token_free(t);
    ts_store_close(s);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM tokens.downgraded WHERE "
                                "refresh_token = '" CANARY "'"), 0);
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        s = open_tls(server_port, modes[m], &err);
        refused(s, &err, TS_ERR_CONNECT, modes[m], server_port);
    }
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *tls_suite(void)
{
    Suite *s = suite_create("mysql_tls");
    TCase *tc = tcase_create("tls");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_tls);
    tcase_add_test(tc, test_downgrade_refused_in_every_mode);
    tcase_add_test(tc, test_clear_password_never_sent_in_a_tls_mode);
    tcase_add_test(tc, test_fork_with_a_tls_connection);
    suite_add_tcase(s, tc);
    /* Last, in a case of its own: it restarts the server without TLS. */
    tc = tcase_create("no_tls");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_server_restarted_without_tls);
    suite_add_tcase(s, tc);
    return s;
}

static const char setup_sql[] =
    "CREATE USER 'tlsuser'@'%' IDENTIFIED BY '" TLS_PASSWORD "' REQUIRE SSL;"
    "GRANT ALL ON tokens.* TO 'tlsuser'@'%';";

int main(void)
{
    return harness_run(tls_suite(), setup_sql, 1, start_proxies);
}
