/*
 * bench/bench_postgres.c - the postgres backend against raw libpq calls on
 * the same table of the same server in the same run.
 *
 * The bench starts a PostgreSQL server of its own with
 * tests/postgres/server.sh (DURABLE=1: PostgreSQL's default fsync and
 * synchronous_commit, so a commit costs what it costs on a real server),
 * builds the SDK's table with the backend's indexes (by their names, so
 * it has none to make) and SIZE rows from bench_fill_token, and opens it
 * through tokenstore over the server's Unix socket. Two operations are
 * timed, each next to the raw prepared statement an application would
 * otherwise write, on a libpq connection of its own over the same socket:
 *
 *  - find_token by user name, against a prepared SELECT of the ten
 *    columns by user_name whose values are copied out;
 *  - save_token of an existing user with a new access token and expiry,
 *    against a prepared UPDATE of those two columns by user_name in
 *    autocommit, RETURNING the ten columns, copied out.
 *
 * The two sides run alternately in rounds on the same random keys, taking
 * turns going first, so drift in the machine's load falls on both (the
 * store's side and the timing are bench/bench_sql.h's).
 *
 * Usage: bench_postgres [SIZE...]   (default 100000). Needs top_srcdir in
 * the environment (make bench sets it) to find the server script.
 */
#include <limits.h>
#include <unistd.h>
#include <libpq-fe.h>
#include "bench_sql.h"

#define COLUMNS "id, user_name, client_id, client_secret, refresh_token, access_token, " \
                "grant_token, expiry_time, redirect_url, api_domain"

static char server_dir[PATH_MAX], server_sh[PATH_MAX + 32], port[16];

static void server(const char *verb)
{
    char cmd[3 * PATH_MAX];

    snprintf(cmd, sizeof cmd, "DURABLE=1 sh '%s' %s '%s' -c shared_buffers=128MB >/dev/null",
             server_sh, verb, server_dir);
    if (strcmp(verb, "stop") == 0)
        snprintf(cmd, sizeof cmd, "sh '%s' stop '%s'", server_sh, server_dir);
    bench_server_sh(cmd, verb);
}

static void stop_server(void)
{
    server("stop");
    bench_remove_dir(server_dir);
}

static void quiet(void *arg, const char *message)
{
    (void)arg, (void)message;
}

static PGconn *connect_raw(const char *db)
{
    const char *kw[] = { "host", "port", "user", "dbname", NULL };
    const char *val[] = { server_dir, port, "postgres", db, NULL };
    PGconn *c = PQconnectdbParams(kw, val, 0);

    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "bench: connect: %s", PQerrorMessage(c));
        exit(1);
    }
    PQsetNoticeProcessor(c, quiet, NULL);
    return c;
}

static void query(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);

    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bench: %s: %s", sql, PQerrorMessage(c));
        exit(1);
    }
    PQclear(r);
}

static void prepare(PGconn *c, const char *name, const char *sql)
{
    PGresult *r = PQprepare(c, name, sql, 0, NULL);

    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "bench: %s: %s", sql, PQerrorMessage(c));
        exit(1);
    }
    PQclear(r);
}

/* The SDK's table, the backend's indexes (by its names) and n rows, sent
 * with COPY. */
static void build_table(size_t n)
{
    PGconn *c = connect_raw("postgres");
    ts_token *t = ts_token_new();
    char line[1024];

    query(c, "DROP DATABASE IF EXISTS bench");
    query(c, "CREATE DATABASE bench");
    PQfinish(c);
    c = connect_raw("bench");
    query(c, "CREATE TABLE oauthtoken (id varchar(10) NOT NULL, user_name varchar(255), "
             "client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), "
             "access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), "
             "redirect_url varchar(255), api_domain varchar(255), primary key (id))");
    PGresult *r = PQexec(c, "COPY oauthtoken (" COLUMNS ") FROM STDIN");
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        fprintf(stderr, "bench: COPY: %s", PQerrorMessage(c));
        exit(1);
    }
    PQclear(r);
    for (size_t i = 0; i < n; i++) {
        bench_fill_token(t, i);
        int len = snprintf(line, sizeof line, "%zu", i + 1);
        for (int f = 1; f < TS_FIELD_COUNT; f++) {
            const char *v = ts_token_get(t, (ts_field)f);
            len += snprintf(line + len, sizeof line - (size_t)len, "\t%s", *v ? v : "\\N");
        }
        line[len++] = '\n';
        if (PQputCopyData(c, line, len) != 1) {
            fprintf(stderr, "bench: COPY: %s", PQerrorMessage(c));
            exit(1);
        }
    }
    if (PQputCopyEnd(c, NULL) != 1 || PQresultStatus(r = PQgetResult(c)) != PGRES_COMMAND_OK) {
        fprintf(stderr, "bench: COPY: %s", PQerrorMessage(c));
        exit(1);
    }
    PQclear(r);
    query(c, "CREATE INDEX oauthtoken_user_name_idx ON oauthtoken USING hash (user_name)");
    query(c, "CREATE INDEX oauthtoken_access_token_idx ON oauthtoken USING hash (access_token)");
    query(c, "CREATE INDEX oauthtoken_refresh_token_idx ON oauthtoken USING hash "
             "(refresh_token)");
    query(c, "CREATE INDEX oauthtoken_grant_token_idx ON oauthtoken USING hash (grant_token)");
    query(c, "CREATE INDEX oauthtoken_id_order_idx ON oauthtoken ((length(id)), id COLLATE "
             "\"C\")");
    query(c, "VACUUM ANALYZE oauthtoken");
    ts_token_free(t);
    PQfinish(c);
}

/* ------------------------------------------------------------------ */
/* The two sides of each comparison                                    */
/* ------------------------------------------------------------------ */

static PGconn *raw_open(void)
{
    PGconn *c = connect_raw("bench");

    prepare(c, "find", "SELECT " COLUMNS " FROM oauthtoken WHERE user_name = $1");
    prepare(c, "update", "UPDATE oauthtoken SET access_token = $1, expiry_time = $2 WHERE "
                         "user_name = $3 RETURNING " COLUMNS);
    return c;
}

/* The ten values of the one row of r, copied out as an application would. */
static void copy_row(PGresult *r, const char *what)
{
    char copy[TS_FIELD_COUNT][256];
    size_t total = 0;

    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fprintf(stderr, "bench: raw %s: %s\n", what, PQresultErrorMessage(r));
        exit(1);
    }
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        snprintf(copy[f], sizeof copy[f], "%s", PQgetvalue(r, 0, f));
        total += (size_t)PQgetlength(r, 0, f) + (unsigned char)copy[f][0];
    }
    PQclear(r);
    sink += total;
}

static void raw_find(void *c, const char *user)
{
    const char *p[1] = { user };
    copy_row(PQexecPrepared(c, "find", 1, p, NULL, NULL, 0), "select");
}

static void raw_update(void *c, const char *user, const char *access, const char *expiry)
{
    const char *p[3] = { access, expiry, user };
    copy_row(PQexecPrepared(c, "update", 3, p, NULL, NULL, 0), "update");
}

static void bench_size(size_t n)
{
    char uri[2 * PATH_MAX];
    ts_store *s;
    ts_error err;
    double ours, base;

    build_table(n);
    snprintf(uri, sizeof uri, "postgres:host=%s port=%s user=postgres dbname=bench", server_dir,
             port);
    if (ts_store_open(&s, uri, &err) != TS_OK)
        bench_die("open", &err);
    PGconn *c = raw_open();
    struct bench_raw raw = { c, raw_find, raw_update };

    size_t iters = bench_iterations(n);
    bench_compare(BENCH_FIND, &raw, s, n, iters / 2, &ours, &base);
    bench_report("postgres", "find_token by user", n, ours, "raw SELECT 10 cols by user", base);
    /* An update commits and flushes the WAL; fewer suffice. */
    bench_compare(BENCH_UPDATE, &raw, s, n, iters / 50, &ours, &base);
    bench_report("postgres", "save_token (update user)", n, ours, "raw UPDATE ... RETURNING",
                 base);

    PQfinish(c);
    ts_store_close(s);
}

int main(int argc, char **argv)
{
    static const size_t dflt[] = { 100000 };
    size_t sizes[16];
    size_t nsizes = bench_sizes(argc, argv, sizes, 16, dflt, 1);
    char cmd[PATH_MAX + 64];

    if (!bench_server_paths("postgres", "bench_pg", server_sh, sizeof server_sh, server_dir,
                            sizeof server_dir))
        return 1;
    server("start");
    atexit(stop_server);
    snprintf(cmd, sizeof cmd, "%s/server.port", server_dir);
    FILE *f = fopen(cmd, "r");
    if (!f || !fgets(port, sizeof port, f)) {
        fprintf(stderr, "bench: no port in %s\n", cmd);
        return 1;
    }
    fclose(f);
    port[strcspn(port, "\n")] = '\0';
    for (size_t i = 0; i < nsizes; i++)
        bench_size(sizes[i]);
    return 0;
}
