/*
 * tests/mysql/harness.c - the MariaDB server of a mysql test program
 * (harness.h says what each function does): how stores reach it, how SQL
 * runs on it, and how it is made. The rest is tests/sql/harness.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include "harness.h"
#include "../check_main.h"

char server_sock[PATH_MAX + 16];

/* Over TCP unless a test gives a socket; as app on database tokens. */
static const struct harness_default defaults[] = {
    { "host", "127.0.0.1", "socket" },
    { "port", NULL, "socket port" },
    { "user", "app", "user" },
    { "password", APP_PASSWORD, "user" },
    { "database", "tokens", "database" },
    { NULL, NULL, NULL },
};

const struct harness_backend harness_backend = { "mysql", "MariaDB", "mysql", defaults };

int sql(const char *query, char *out, size_t n)
{
    return server_sql(server_dir, query, "", out, n);
}

/* A self-signed certificate for 127.0.0.1 and localhost, and another one
 * that signed nothing of the server's (the wrong CA). */
static int make_certificates(void)
{
    static char args[4 * PATH_MAX + 256];
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
    snprintf(args, sizeof args, "--ssl-cert='%s/server-cert.pem' "
             "--ssl-key='%s/server-key.pem' --ssl-ca='%s/server-cert.pem'", server_dir,
             server_dir, server_dir);
    server_args = args;
    return 1;
}

static const char common_sql[] =
    "CREATE DATABASE tokens;"
    "CREATE USER 'app'@'%' IDENTIFIED BY '" APP_PASSWORD "';"
    "GRANT ALL ON tokens.* TO 'app'@'%';";

int harness_run(Suite *suite, const char *setup_sql, int tls, int (*ready)(void))
{
    int status;

    if (!harness_begin(&status))
        return status;
    snprintf(server_sock, sizeof server_sock, "%s/mysql.sock", server_dir);
    if (tls && !make_certificates()) {
        puts("Bail out! openssl could not make a test certificate");
        return 99;
    }
    if (!harness_start_server())
        return 99;
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
