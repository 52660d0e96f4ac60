/*
 * tests/mysql/harness.c - the MariaDB server of a mysql test program, and
 * stores on it (harness.h says what each function does).
 *
 * The server is driven with tests/mysql/server.sh and its command-line
 * client, so the test programs need no libmariadb of their own. Check
 * forks every test; the exit handler only acts in the process that
 * started the server.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "harness.h"
#include "../check_main.h"
#include "../test_store.h"

char server_dir[PATH_MAX] = "";
char server_sock[PATH_MAX + 16];
int server_port;

static char server_sh[PATH_MAX];
static char server_args[4 * PATH_MAX + 256];
static pid_t owner_pid;

/* ------------------------------------------------------------------ */
/* The server                                                          */
/* ------------------------------------------------------------------ */

int server_start(int want, const char *extra)
{
    char cmd[sizeof server_args + 4 * PATH_MAX], line[32] = "";

    snprintf(cmd, sizeof cmd, "%s%.0d sh '%s' start '%s' %s %s", want ? "PORT=" : "", want,
             server_sh, server_dir, server_args, extra ? extra : "");
    FILE *p = popen(cmd, "r");
    if (!p)
        return 0;
    if (!fgets(line, sizeof line, p))
        line[0] = '\0';
    return pclose(p) == 0 ? atoi(line) : 0;
}

void server_stop(void)
{
    char cmd[3 * PATH_MAX];

    snprintf(cmd, sizeof cmd, "sh '%s' stop '%s'", server_sh, server_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "mysql tests: could not stop the server in %s\n", server_dir);
}

int server_restart(const char *extra)
{
    server_stop();
    return server_start(server_port, extra);
}

int sql(const char *query, char *out, size_t n)
{
    char file[PATH_MAX + 16], cmd[4 * PATH_MAX], line[1024] = "";

    snprintf(file, sizeof file, "%s/query.sql", server_dir);
    FILE *f = fopen(file, "w");
    if (!f)
        return -1;
    fputs(query, f);
    fclose(f);
    /* $(cat ...) in double quotes: the shell does not parse the SQL. */
    snprintf(cmd, sizeof cmd, "sh '%s' sql '%s' \"$(cat '%s')\" 2>&1", server_sh, server_dir,
             file);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    if (!fgets(line, sizeof line, p))
        line[0] = '\0';
    while (fgetc(p) != EOF)
        ;
    line[strcspn(line, "\n")] = '\0';
    if (out)
        snprintf(out, n, "%s", line);
    return pclose(p);
}

void sql_ok(const char *query)
{
    char out[1024];
    ck_assert_msg(sql(query, out, sizeof out) == 0, "%s: %s", query, out);
}

long long sql_number(const char *query)
{
    char out[1024];
    ck_assert_msg(sql(query, out, sizeof out) == 0, "%s: %s", query, out);
    return atoll(out);
}

int harness_is_owner(void)
{
    return getpid() == owner_pid;
}

static void stop_server(void)
{
    char cmd[PATH_MAX + 16];

    if (!harness_is_owner() || !server_dir[0])
        return;
    server_stop();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", server_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "mysql tests: could not remove %s\n", server_dir);
    server_dir[0] = '\0';
}

static void on_signal(int sig)
{
    (void)sig;
    exit(2);                /* runs the exit handlers */
}

/* A self-signed certificate for 127.0.0.1 and localhost, and another one
 * that signed nothing of the server's (the wrong CA). */
static int make_certificates(void)
{
    char cmd[4 * PATH_MAX];

    for (int i = 0; i < 2; i++) {
        const char *name = i ? "other" : "server";
        snprintf(cmd, sizeof cmd,
                 "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
                 "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout '%s/%s-key.pem' "
                 "-out '%s/%s-cert.pem' >/dev/null 2>&1", server_dir, name, server_dir, name);
        if (system(cmd) != 0)
            return 0;
    }
    snprintf(server_args, sizeof server_args, "--ssl-cert='%s/server-cert.pem' "
             "--ssl-key='%s/server-key.pem' --ssl-ca='%s/server-cert.pem'", server_dir,
             server_dir, server_dir);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Stores                                                              */
/* ------------------------------------------------------------------ */

ts_store *open_flags_with(unsigned flags, const char *const *options, ts_error *err)
{
    ts_config *cfg;
    ts_store *store = NULL;
    char port_s[16];
    int has_socket = 0, has_user = 0, has_db = 0, has_port = 0;

    snprintf(port_s, sizeof port_s, "%d", server_port);
    ck_assert_int_eq(ts_config_new(&cfg), TS_OK);
    ck_assert_int_eq(ts_config_set_backend(cfg, "mysql", err), TS_OK);
    for (int i = 0; options[i]; i += 2) {
        ck_assert_int_eq(ts_config_set_option(cfg, options[i], options[i + 1], err), TS_OK);
        has_socket |= strcmp(options[i], "socket") == 0;
        has_port |= strcmp(options[i], "port") == 0;
        has_user |= strcmp(options[i], "user") == 0;
        has_db |= strcmp(options[i], "database") == 0;
    }
    if (!has_socket) {
        ck_assert_int_eq(ts_config_set_option(cfg, "host", "127.0.0.1", err), TS_OK);
        if (!has_port)
            ck_assert_int_eq(ts_config_set_option(cfg, "port", port_s, err), TS_OK);
    }
    if (!has_user) {
        ck_assert_int_eq(ts_config_set_option(cfg, "user", "app", err), TS_OK);
        ck_assert_int_eq(ts_config_set_option(cfg, "password", APP_PASSWORD, err), TS_OK);
    }
    if (!has_db)
        ck_assert_int_eq(ts_config_set_option(cfg, "database", "tokens", err), TS_OK);
    ts_config_set_logger(cfg, NULL, NULL, 0);
    int rc = ts_store_open_config_flags(&store, cfg, flags, err);
    ts_config_free(cfg);
    ck_assert(rc == TS_OK || store == NULL);
    return store;
}

ts_store *open_with(const char *const *options, ts_error *err)
{
    return open_flags_with(0, options, err);
}

ts_store *open_table(const char *table)
{
    ts_error err = { 0 };
    const char *opts[] = { "table", table, NULL };
    ts_store *s = open_with(opts, &err);

    ck_assert_msg(s != NULL, "open: %s", err.message);
    ck_assert_int_eq(ts_delete_tokens(s, &err), TS_OK);
    return s;
}

long long save_user(ts_store *s, const char *user)
{
    char refresh[128];

    snprintf(refresh, sizeof refresh, "1000.refresh.%s", user);
    ts_token *t = make_token(user, refresh, "");
    save_ok(s, t);
    long long id = atoll(ts_token_get(t, TS_FIELD_ID));
    ts_token_free(t);
    return id;
}

/* ------------------------------------------------------------------ */
/* main()                                                              */
/* ------------------------------------------------------------------ */

static const char common_sql[] =
    "CREATE DATABASE tokens;"
    "CREATE USER 'app'@'%' IDENTIFIED BY '" APP_PASSWORD "';"
    "GRANT ALL ON tokens.* TO 'app'@'%';";

int harness_run(Suite *suite, const char *setup_sql, int tls, int (*ready)(void))
{
    const char *srcdir = getenv("top_srcdir"), *builddir = getenv("top_builddir");
    char so[PATH_MAX];

    snprintf(so, sizeof so, "%s/plugins/mysql/.libs/mysql.so", builddir ? builddir : ".");
    /* Skipped only when the backend was not built: a TAP skip plan and
     * status 0, as automake's TAP driver wants it. */
    if (access(so, R_OK) != 0) {
        puts("1..0 # SKIP the mysql backend was not built");
        return 0;
    }
    snprintf(server_sh, sizeof server_sh, "%s/tests/mysql/server.sh", srcdir ? srcdir : ".");
    snprintf(server_dir, sizeof server_dir, "%s/tokenstore-mysql.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(server_dir)) {
        puts("Bail out! cannot make a directory for the server");
        return 99;
    }
    owner_pid = getpid();
    atexit(stop_server);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    signal(SIGPIPE, on_signal);     /* a reader of our TAP that went away */
    snprintf(server_sock, sizeof server_sock, "%s/mysql.sock", server_dir);
    if (tls && !make_certificates()) {
        puts("Bail out! openssl could not make a test certificate");
        return 99;
    }
    if (!(server_port = server_start(0, NULL))) {
        puts("Bail out! the MariaDB server could not be started");
        return 99;
    }
    if (sql(common_sql, NULL, 0) != 0 || (setup_sql && sql(setup_sql, NULL, 0) != 0)) {
        puts("Bail out! the server's database and users could not be set up");
        return 99;
    }
    if (ready && !ready()) {
        puts("Bail out! what the tests need beside the server could not be started");
        return 99;
    }
    return run_suite(suite);
}
