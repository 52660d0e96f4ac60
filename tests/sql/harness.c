/*
 * tests/sql/harness.c - the part of the mysql and postgres test harnesses
 * that is the same for both (tests/sql/harness.h says what each function
 * does): the server driven with the backend's server.sh, SQL through it,
 * and stores opened with the backend's defaults (harness_backend, which
 * the backend's harness.c defines).
 *
 * The server is driven with a shell script and the server's own
 * command-line client, so the test programs need no client library of
 * their own. Check forks every test; the exit handler only acts in the
 * process that started the server.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <check.h>
#include "harness.h"
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
    char cmd[4 * PATH_MAX + 256], line[32] = "";

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

void server_stop(void)
{
    char args[PATH_MAX + 16];

    snprintf(args, sizeof args, "stop '%s'", server_dir);
    if (server_sh(args) != 0)
        fprintf(stderr, "%s tests: could not stop the server in %s\n", harness_backend.name,
                server_dir);
}

int server_restart(const char *extra)
{
    server_stop();
    return server_start(server_port, extra);
}

int server_sql(const char *dir, const char *query, const char *tail, char *out, size_t n)
{
    char file[PATH_MAX + 16], cmd[4 * PATH_MAX], line[1024] = "";

    snprintf(file, sizeof file, "%s/query.sql", server_dir);
    FILE *f = fopen(file, "w");
    if (!f)
        return -1;
    fputs(query, f);
    fclose(f);
    /* $(cat ...) in double quotes: the shell does not parse the SQL. */
    snprintf(cmd, sizeof cmd, "sh '%s' sql '%s' \"$(cat '%s')\" %s 2>&1", script, dir, file,
             tail);
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

/* ------------------------------------------------------------------ */
/* Stores and commands                                                 */
/* ------------------------------------------------------------------ */

/* Whether `key` is one of the space-separated names of `names`. */
static int named(const char *names, const char *key)
{
    size_t len = strlen(key);

    for (const char *p = names; *p; p += strcspn(p, " "), p += *p == ' ')
        if (strncmp(p, key, len) == 0 && (p[len] == ' ' || p[len] == '\0'))
            return 1;
    return 0;
}

/* Whether the test's options name one of `names`. */
static int given(const char *const *options, const char *names)
{
    for (int i = 0; options[i]; i += 2)
        if (named(names, options[i]))
            return 1;
    return 0;
}

ts_store *open_flags_with(unsigned flags, const char *const *options, ts_error *err)
{
    ts_config *cfg;
    ts_store *store = NULL;
    char port_s[16];

    snprintf(port_s, sizeof port_s, "%d", server_port);
    ck_assert_int_eq(ts_config_new(&cfg), TS_OK);
    ck_assert_int_eq(ts_config_set_backend(cfg, harness_backend.name, err), TS_OK);
    for (int i = 0; options[i]; i += 2)
        ck_assert_int_eq(ts_config_set_option(cfg, options[i], options[i + 1], err), TS_OK);
    for (const struct harness_default *d = harness_backend.defaults; d->key; d++)
        if (!given(options, d->unless))
            ck_assert_int_eq(ts_config_set_option(cfg, d->key, d->value ? d->value : port_s,
                                                  err), TS_OK);
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

void open_refused(unsigned flags, const char *const *options, int code, const char *says)
{
    ts_error err = { 0 };

    ck_assert_ptr_null(open_flags_with(flags, options, &err));
    ck_assert_int_eq(err.code, code);
    ck_assert_msg(strstr(err.message, says) != NULL, "%s", err.message);
}

int save_series(ts_store *s, const char *who, int k, int count)
{
    ts_error err = { 0 };
    char user[64], refresh[64];

    for (int i = 0; i < count; i++) {
        snprintf(user, sizeof user, "%s%d-%d@example.com", who, k, i);
        snprintf(refresh, sizeof refresh, "1000.refresh.%d.%d", k, i);
        ts_token *t = make_token(user, refresh, "");
        int rc = ts_save_token(s, t, &err);
        ts_token_free(t);
        if (rc != TS_OK) {
            fprintf(stderr, "%s %d: save %d: %s\n", who, k, i, err.message);
            return rc;
        }
    }
    return TS_OK;
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

    snprintf(uri, sizeof uri, "%s://app:%s@127.0.0.1:%d/tokens?table=%s",
             harness_backend.scheme, APP_PASSWORD, server_port, table);
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

double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ------------------------------------------------------------------ */
/* main()                                                              */
/* ------------------------------------------------------------------ */

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
        fprintf(stderr, "%s tests: could not remove %s\n", harness_backend.name, server_dir);
    server_dir[0] = '\0';
}

static void on_signal(int sig)
{
    (void)sig;
    exit(2);                /* runs the exit handlers */
}

int harness_begin(int *status)
{
    const char *srcdir = getenv("top_srcdir"), *builddir = getenv("top_builddir");
    const char *name = harness_backend.name;
    char so[PATH_MAX];

    snprintf(so, sizeof so, "%s/plugins/%s/.libs/%s.so", builddir ? builddir : ".", name, name);
    /* Skipped only when the backend was not built: a TAP skip plan and
     * status 0, as automake's TAP driver wants it. */
    if (access(so, R_OK) != 0) {
        printf("1..0 # SKIP the %s backend was not built\n", name);
        *status = 0;
        return 0;
    }
    snprintf(script, sizeof script, "%s/tests/%s/server.sh", srcdir ? srcdir : ".", name);
    snprintf(server_dir, sizeof server_dir, "%s/tokenstore-%s.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", name);
    if (!mkdtemp(server_dir)) {
        puts("Bail out! cannot make a directory for the server");
        *status = 99;
        return 0;
    }
    owner_pid = getpid();
    atexit(stop_server);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    signal(SIGPIPE, on_signal);     /* a reader of our TAP that went away */
    return 1;
}

int harness_start_server(void)
{
    if ((server_port = server_start(0, NULL)) != 0)
        return 1;
    printf("Bail out! the %s server could not be started\n", harness_backend.server);
    return 0;
}
