/*
 * tests/postgres/harness.c - the PostgreSQL server of a postgres test
 * program (harness.h says what each function does): how stores reach it,
 * how SQL runs on it, and how it is made. The rest is
 * tests/sql/harness.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "harness.h"
#include "../check_main.h"

/* Over TCP unless a test gives a host or a conninfo; as app on database
 * tokens. */
static const struct harness_default defaults[] = {
    { "host", "127.0.0.1", "host conninfo" },
    { "port", NULL, "port" },
    { "user", "app", "user username" },
    { "password", APP_PASSWORD, "user username" },
    { "dbname", "tokens", "dbname" },
    { NULL, NULL, NULL },
};

const struct harness_backend harness_backend = { "postgres", "PostgreSQL", "postgresql",
                                                 defaults };

int server_reload(void)
{
    char args[PATH_MAX + 16];

    snprintf(args, sizeof args, "reload '%s'", server_dir);
    int rc = server_sh(args);
    /* pg_ctl reload only signals the server: give it time to reread. */
    usleep(1000 * 1000);
    return rc;
}

int sql_in(const char *dir, const char *db, const char *query, char *out, size_t n)
{
    char tail[256];

    snprintf(tail, sizeof tail, "'%s'", db);
    return server_sql(dir, query, tail, out, n);
}

int admin_sql(const char *query, char *out, size_t n)
{
    return sql_in(server_dir, "tokens", query, out, n);
}

/* As app, so that what a test makes is app's, as what its stores make. */
int sql(const char *query, char *out, size_t n)
{
    char *q;

    if (asprintf(&q, "SET ROLE app;\n%s", query) < 0)
        return -1;
    int rc = sql_in(server_dir, "tokens", q, out, n);
    free(q);
    return rc;
}

int harness_run(Suite *suite, const char *setup_sql, int (*ready)(void))
{
    char common[256], out[1024];
    int status;

    if (!harness_begin(&status))
        return status;
    if (!harness_start_server())
        return 99;
    snprintf(common, sizeof common, "CREATE ROLE app LOGIN PASSWORD '%s';"
             "CREATE DATABASE tokens OWNER app;", APP_PASSWORD);
    if (sql_in(server_dir, "postgres", common, out, sizeof out) != 0 ||
        (setup_sql && admin_sql(setup_sql, out, sizeof out) != 0)) {
        printf("Bail out! the server's database and users could not be set up: %s\n", out);
        return 99;
    }
    if (ready && !ready()) {
        puts("Bail out! what the tests need beside the server could not be started");
        return 99;
    }
    return run_suite(suite);
}
