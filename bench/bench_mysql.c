/*
 * bench/bench_mysql.c - the mysql backend against raw libmariadb calls on
 * the same table of the same server in the same run.
 *
 * The bench starts a MariaDB server of its own with tests/mysql/server.sh
 * (DURABLE=1: InnoDB's default flushing, so a commit costs what it costs
 * on a real server), builds the SDK's table with the backend's indexes and
 * SIZE rows from bench_fill_token, and opens it through tokenstore over
 * the server's Unix socket. Two operations are timed, each next to the raw
 * prepared statement an application would otherwise write, on a
 * connection of its own over the same socket:
 *
 *  - find_token by user name, against a prepared SELECT of the ten
 *    columns by user_name whose values are copied out;
 *  - save_token of an existing user with a new access token and expiry,
 *    against a prepared UPDATE of those two columns by user_name in
 *    autocommit.
 *
 * The two sides run alternately in rounds on the same random keys, taking
 * turns going first, so drift in the machine's load falls on both (the
 * store's side and the timing are bench/bench_sql.h's).
 *
 * Usage: bench_mysql [SIZE...]   (default 100000). Needs top_srcdir in the
 * environment (make bench sets it) to find the server script.
 */
#include <limits.h>
#include <unistd.h>
#include <mysql.h>
#include "bench_sql.h"

#define COLUMNS "id, user_name, client_id, client_secret, refresh_token, access_token, " \
                "grant_token, expiry_time, redirect_url, api_domain"
#define ROWS_PER_INSERT 100

static char server_dir[PATH_MAX], server_sh[PATH_MAX + 32], sock[PATH_MAX + 16];

static void die_mysql(MYSQL *m, const char *what)
{
    fprintf(stderr, "bench: %s: %s\n", what, mysql_error(m));
    exit(1);
}

static void die_stmt(MYSQL_STMT *st, const char *what)
{
    fprintf(stderr, "bench: %s: %s\n", what, mysql_stmt_error(st));
    exit(1);
}

static void server(const char *verb)
{
    char cmd[3 * PATH_MAX];

    snprintf(cmd, sizeof cmd, "DURABLE=1 BUFFER_POOL=256M sh '%s' %s '%s' >/dev/null",
             server_sh, verb, server_dir);
    bench_server_sh(cmd, verb);
}

static void stop_server(void)
{
    server("stop");
    bench_remove_dir(server_dir);
}

static MYSQL *connect_raw(const char *db)
{
    MYSQL *m = mysql_init(NULL);

    if (!m || !mysql_real_connect(m, NULL, "root", "", db, 0, sock, 0))
        die_mysql(m, "connect");
    return m;
}

static void query(MYSQL *m, const char *sql)
{
    if (mysql_query(m, sql) != 0)
        die_mysql(m, sql);
}

static MYSQL_STMT *prepare(MYSQL *m, const char *sql)
{
    MYSQL_STMT *st = mysql_stmt_init(m);

    if (!st || mysql_stmt_prepare(st, sql, strlen(sql)) != 0)
        die_mysql(m, sql);
    return st;
}

/* The SDK's table, the backend's indexes (by its names, so it has none
 * to make) and n rows, ROWS_PER_INSERT per prepared INSERT. */
static void build_table(size_t n)
{
    MYSQL *m = connect_raw(NULL);
    char sql[8192];
    size_t used;

    query(m, "DROP DATABASE IF EXISTS bench");
    query(m, "CREATE DATABASE bench");
    query(m, "CREATE TABLE bench.oauthtoken (id varchar(10) NOT NULL, user_name varchar(255), "
             "client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), "
             "access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), "
             "redirect_url varchar(255), api_domain varchar(255), primary key (id), "
             "KEY oauthtoken_user_name_idx (user_name), "
             "KEY oauthtoken_access_token_idx (access_token), "
             "KEY oauthtoken_refresh_token_idx (refresh_token), "
             "KEY oauthtoken_grant_token_idx (grant_token))");
    used = (size_t)snprintf(sql, sizeof sql, "INSERT INTO bench.oauthtoken (" COLUMNS ") VALUES ");
    for (int r = 0; r < ROWS_PER_INSERT; r++)
        used += (size_t)snprintf(sql + used, sizeof sql - used, "%s(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                 r ? ", " : "");
    MYSQL_STMT *ins = prepare(m, sql);
    ts_token *t[ROWS_PER_INSERT];
    MYSQL_BIND bind[ROWS_PER_INSERT * TS_FIELD_COUNT];
    char ids[ROWS_PER_INSERT][24];
    my_bool null_flag = 1;

    for (int r = 0; r < ROWS_PER_INSERT; r++)
        t[r] = ts_token_new();
    query(m, "START TRANSACTION");
    for (size_t i = 0; i < n; i += ROWS_PER_INSERT) {
        memset(bind, 0, sizeof bind);
        for (int r = 0; r < ROWS_PER_INSERT; r++) {
            size_t k = i + (size_t)r < n ? i + (size_t)r : n - 1;   /* the last batch repeats */
            bench_fill_token(t[r], k);
            snprintf(ids[r], sizeof ids[r], "%zu", k + 1);
            ts_token_set(t[r], TS_FIELD_ID, ids[r]);
            for (int f = 0; f < TS_FIELD_COUNT; f++) {
                MYSQL_BIND *b = &bind[r * TS_FIELD_COUNT + f];
                const char *v = ts_token_get(t[r], (ts_field)f);
                b->buffer_type = *v ? MYSQL_TYPE_STRING : MYSQL_TYPE_NULL;
                b->buffer = (void *)v;
                b->buffer_length = strlen(v);
                b->is_null = *v ? NULL : &null_flag;
            }
        }
        if (i + ROWS_PER_INSERT > n)
            break;       /* n is a multiple of ROWS_PER_INSERT in every use */
        if (mysql_stmt_bind_param(ins, bind) != 0 || mysql_stmt_execute(ins) != 0)
            die_stmt(ins, "insert");
    }
    query(m, "COMMIT");
    for (int r = 0; r < ROWS_PER_INSERT; r++)
        ts_token_free(t[r]);
    mysql_stmt_close(ins);
    mysql_close(m);
}

/* ------------------------------------------------------------------ */
/* The two sides of each comparison                                    */
/* ------------------------------------------------------------------ */

struct raw {
    MYSQL *m;
    MYSQL_STMT *select, *update;
};

static void raw_open(struct raw *r)
{
    r->m = connect_raw("bench");
    r->select = prepare(r->m, "SELECT " COLUMNS " FROM oauthtoken WHERE user_name = ?");
    r->update = prepare(r->m, "UPDATE oauthtoken SET access_token = ?, expiry_time = ? "
                              "WHERE user_name = ?");
}

static void raw_close(struct raw *r)
{
    mysql_stmt_close(r->select);
    mysql_stmt_close(r->update);
    mysql_close(r->m);
}

static void bind_str(MYSQL_BIND *b, const char *v)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = MYSQL_TYPE_STRING;
    b->buffer = (void *)v;
    b->buffer_length = strlen(v);
}

static void raw_find(void *ctx, const char *user)
{
    struct raw *r = ctx;
    char copy[TS_FIELD_COUNT][256];
    unsigned long len[TS_FIELD_COUNT];
    my_bool is_null[TS_FIELD_COUNT];
    MYSQL_BIND param, res[TS_FIELD_COUNT];
    size_t total = 0;

    bind_str(&param, user);
    memset(res, 0, sizeof res);
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        res[f].buffer_type = MYSQL_TYPE_STRING;
        res[f].buffer = copy[f];
        res[f].buffer_length = sizeof copy[f];
        res[f].length = &len[f];
        res[f].is_null = &is_null[f];
    }
    if (mysql_stmt_bind_param(r->select, &param) != 0 || mysql_stmt_execute(r->select) != 0 ||
        mysql_stmt_bind_result(r->select, res) != 0)
        die_stmt(r->select, "raw select");
    if (mysql_stmt_fetch(r->select) != 0)
        die_stmt(r->select, "raw select found nothing");
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        total += is_null[f] ? 0 : len[f] + (unsigned char)copy[f][0];
    mysql_stmt_free_result(r->select);
    sink += total;
}

static void raw_update(void *ctx, const char *user, const char *access, const char *expiry)
{
    struct raw *r = ctx;
    MYSQL_BIND p[3];

    bind_str(&p[0], access);
    bind_str(&p[1], expiry);
    bind_str(&p[2], user);
    if (mysql_stmt_bind_param(r->update, p) != 0 || mysql_stmt_execute(r->update) != 0 ||
        mysql_stmt_affected_rows(r->update) != 1)
        die_stmt(r->update, "raw update");
}

static void bench_size(size_t n)
{
    char uri[PATH_MAX + 64];
    ts_store *s;
    ts_error err;
    struct raw r;
    double ours, base;

    n -= n % ROWS_PER_INSERT;
    build_table(n);
    snprintf(uri, sizeof uri, "mysql:%s?user=root&database=bench", sock);
    if (ts_store_open(&s, uri, &err) != TS_OK)
        bench_die("open", &err);
    raw_open(&r);
    struct bench_raw raw = { &r, raw_find, raw_update };

    size_t iters = bench_iterations(n);
    bench_compare(BENCH_FIND, &raw, s, n, iters / 2, &ours, &base);
    bench_report("mysql", "find_token by user", n, ours, "raw SELECT 10 cols by user", base);
    /* An update commits and flushes the redo log; fewer suffice. */
    bench_compare(BENCH_UPDATE, &raw, s, n, iters / 50, &ours, &base);
    bench_report("mysql", "save_token (update user)", n, ours, "raw UPDATE autocommit", base);

    raw_close(&r);
    ts_store_close(s);
}

int main(int argc, char **argv)
{
    static const size_t dflt[] = { 100000 };
    size_t sizes[16];
    size_t nsizes = bench_sizes(argc, argv, sizes, 16, dflt, 1);

    if (!bench_server_paths("mysql", "bench_mysql", server_sh, sizeof server_sh, server_dir,
                            sizeof server_dir))
        return 1;
    snprintf(sock, sizeof sock, "%s/mysql.sock", server_dir);
    server("start");
    atexit(stop_server);
    for (size_t i = 0; i < nsizes; i++)
        bench_size(sizes[i]);
    return 0;
}
