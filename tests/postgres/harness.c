/*
 * tests/postgres/harness.c - the PostgreSQL server of a postgres test
 * program, and stores on it (harness.h says what each function does).
 *
 * The server is driven with tests/postgres/server.sh and psql, so the
 * test programs need no libpq of their own. Check forks every test; the
 * exit handler only acts in the process that started the server.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "harness.h"
#include "../check_main.h"
#include "../test_store.h"

char server_dir[PATH_MAX] = "";
int server_port;
const char *server_args;

static char script[PATH_MAX];
static pid_t owner_pid;

/* ------------------------------------------------------------------ */
/* The server                                                          */
/* ------------------------------------------------------------------ */

const char *server_script(void)
{
    return script;
}

int server_start(int want, const char *extra)
{
    char cmd[4 * PATH_MAX], line[32] = "";

    snprintf(cmd, sizeof cmd, "%s%.0d sh '%s' start '%s' %s %s", want ? "PORT=" : "", want,
             script, server_dir, server_args ? server_args : "", extra ? extra : "");
    FILE *p = popen(cmd, "r");
    if (!p)
        return 0;
    if (!fgets(line, sizeof line, p))
        line[0] = '\0';
    return pclose(p) == 0 ? atoi(line) : 0;
}

int server_sh(const char *args)
{
    char cmd[4 * PATH_MAX];

    snprintf(cmd, sizeof cmd, "sh '%s' %s", script, args);
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int server_reload(void)
{
    char args[PATH_MAX + 16];

    snprintf(args, sizeof args, "reload '%s'", server_dir);
    int rc = server_sh(args);
    /* pg_ctl reload only signals the server: give it time to reread. */
    usleep(1000 * 1000);
    return rc;
}

void server_stop(void)
{
    char args[PATH_MAX + 16];

    snprintf(args, sizeof args, "stop '%s'", server_dir);
    if (server_sh(args) != 0)
        fprintf(stderr, "postgres tests: could not stop the server in %s\n", server_dir);
}

int server_restart(const char *extra)
{
    server_stop();
    return server_start(server_port, extra);
}

int sql_in(const char *dir, const char *db, const char *query, char *out, size_t n)
{
    char file[PATH_MAX + 16], cmd[4 * PATH_MAX], line[1024] = "";

    snprintf(file, sizeof file, "%s/query.sql", server_dir);
    FILE *f = fopen(file, "w");
    if (!f)
        return -1;
    fputs(query, f);
    fclose(f);
    /* $(cat ...) in double quotes: the shell does not parse the SQL. */
    snprintf(cmd, sizeof cmd, "sh '%s' sql '%s' \"$(cat '%s')\" '%s' 2>&1", script, dir,
             file, db);
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
        fprintf(stderr, "postgres tests: could not remove %s\n", server_dir);
    server_dir[0] = '\0';
}

static void on_signal(int sig)
{
    (void)sig;
    exit(2);                /* runs the exit handlers */
}

/* ------------------------------------------------------------------ */
/* Stores and commands                                                 */
/* ------------------------------------------------------------------ */

ts_store *open_flags_with(unsigned flags, const char *const *options, ts_error *err)
{
    ts_config *cfg;
    ts_store *store = NULL;
    char port_s[16];
    int has_host = 0, has_user = 0, has_db = 0, has_port = 0;

    snprintf(port_s, sizeof port_s, "%d", server_port);
    ck_assert_int_eq(ts_config_new(&cfg), TS_OK);
    ck_assert_int_eq(ts_config_set_backend(cfg, "postgres", err), TS_OK);
    for (int i = 0; options[i]; i += 2) {
        ck_assert_int_eq(ts_config_set_option(cfg, options[i], options[i + 1], err), TS_OK);
        has_host |= strcmp(options[i], "host") == 0 || strcmp(options[i], "conninfo") == 0;
        has_port |= strcmp(options[i], "port") == 0;
        has_user |= strcmp(options[i], "user") == 0 || strcmp(options[i], "username") == 0;
        has_db |= strcmp(options[i], "dbname") == 0;
    }
    if (!has_host)
        ck_assert_int_eq(ts_config_set_option(cfg, "host", "127.0.0.1", err), TS_OK);
    if (!has_port)
        ck_assert_int_eq(ts_config_set_option(cfg, "port", port_s, err), TS_OK);
    if (!has_user) {
        ck_assert_int_eq(ts_config_set_option(cfg, "user", "app", err), TS_OK);
        ck_assert_int_eq(ts_config_set_option(cfg, "password", APP_PASSWORD, err), TS_OK);
    }
    if (!has_db)
        ck_assert_int_eq(ts_config_set_option(cfg, "dbname", "tokens", err), TS_OK);
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

const char *app_uri(const char *table)
{
    static char uri[256];

    snprintf(uri, sizeof uri, "postgresql://app:%s@127.0.0.1:%d/tokens?table=%s", APP_PASSWORD,
             server_port, table);
    return uri;
}

int run_cmd(const char *cmd, char *out, size_t n)
{
    FILE *p = popen(cmd, "r");
    size_t got = 0, r;

    ck_assert_ptr_nonnull(p);
    while (got + 1 < n && (r = fread(out + got, 1, n - 1 - got, p)) > 0)
        got += r;
    out[got] = '\0';
    while (fgetc(p) != EOF)
        ;
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

const char *cli(void)
{
    static char path[PATH_MAX];
    const char *b = getenv("top_builddir");

    snprintf(path, sizeof path, "%s/cli/tokenstore", b ? b : ".");
    return path;
}

/* ------------------------------------------------------------------ */
/* main()                                                              */
/* ------------------------------------------------------------------ */

int harness_run(Suite *suite, const char *setup_sql, int (*ready)(void))
{
    const char *srcdir = getenv("top_srcdir"), *builddir = getenv("top_builddir");
    char so[PATH_MAX], common[256], out[1024];

    snprintf(so, sizeof so, "%s/plugins/postgres/.libs/postgres.so", builddir ? builddir : ".");
    /* Skipped only when the backend was not built: a TAP skip plan and
     * status 0, as automake's TAP driver wants it. */
    if (access(so, R_OK) != 0) {
        puts("1..0 # SKIP the postgres backend was not built");
        return 0;
    }
    snprintf(script, sizeof script, "%s/tests/postgres/server.sh", srcdir ? srcdir : ".");
    snprintf(server_dir, sizeof server_dir, "%s/tokenstore-pg.XXXXXX",
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
    if (!(server_port = server_start(0, NULL))) {
        puts("Bail out! the PostgreSQL server could not be started");
        return 99;
    }
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
