/*
 * bench/bench_sqlite.c - the sqlite backend against raw sqlite3 calls on
 * the same database file in the same run.
 *
 * For each size the database is built directly with sqlite3 (one
 * transaction, the backend's schema and indexes, rows from
 * bench_fill_token), then opened through tokenstore. Two operations are
 * timed, each next to the raw statement an application would otherwise
 * write:
 *
 *  - find_token by user name, against a prepared SELECT of all ten
 *    columns by user_name whose values are copied out (a caller must copy
 *    them before the statement is reset);
 *  - save_token of an existing user with a new access token and expiry,
 *    against a prepared UPDATE of those two columns by user_name in
 *    autocommit.
 *
 * The raw connection uses WAL with synchronous=NORMAL, the backend's
 * defaults, so both sides do the same I/O per commit. The two sides run
 * alternately in rounds on the same random keys, so drift in the machine's
 * load falls on both; they take turns going first, since the second
 * finds the keys' pages already cached (the store's side and the timing
 * are bench/bench_sql.h's).
 *
 * Usage: bench_sqlite [SIZE...]   (default 100 10000 1000000)
 * The files go to $TMPDIR (default /tmp) and are removed afterwards.
 */
#include <unistd.h>
#include <sqlite3.h>
#include "bench_sql.h"

#define TABLE_SQL                                                                          \
    "CREATE TABLE oauthtoken (id varchar(10) NOT NULL, user_name varchar(255), "           \
    "client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), "     \
    "access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), "       \
    "redirect_url varchar(255), api_domain varchar(255), primary key (id))"

/* The backend's indexes, by the backend's names, so it finds them there
 * and has nothing to build. */
static const char *const index_sql[] = {
    "CREATE INDEX oauthtoken_numeric_id_idx ON oauthtoken (CAST(id AS INTEGER), id)",
    "CREATE INDEX oauthtoken_user_name_idx ON oauthtoken (user_name)",
    "CREATE INDEX oauthtoken_access_token_idx ON oauthtoken (access_token)",
    "CREATE INDEX oauthtoken_refresh_token_idx ON oauthtoken (refresh_token)",
    "CREATE INDEX oauthtoken_grant_token_idx ON oauthtoken (grant_token)",
};


static void die_sql(sqlite3 *db, const char *what)
{
    fprintf(stderr, "bench: %s: %s\n", what, sqlite3_errmsg(db));
    exit(1);
}

static void exec_sql(sqlite3 *db, const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        die_sql(db, sql);
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        die_sql(db, sql);
    return st;
}

static void build_database(const char *path, size_t n)
{
    sqlite3 *db;
    ts_token *t = ts_token_new();
    char id[24];

    if (sqlite3_open(path, &db) != SQLITE_OK)
        die_sql(db, path);
    exec_sql(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144");
    exec_sql(db, TABLE_SQL);
    exec_sql(db, "BEGIN");
    sqlite3_stmt *ins = prepare(db, "INSERT INTO oauthtoken VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                                    "?8, ?9, ?10)");
    for (size_t i = 0; i < n; i++) {
        bench_fill_token(t, i);
        snprintf(id, sizeof id, "%zu", i + 1);
        ts_token_set(t, TS_FIELD_ID, id);
        for (int f = 0; f < TS_FIELD_COUNT; f++) {
            const char *v = ts_token_get(t, (ts_field)f);
            if (*v)
                sqlite3_bind_text(ins, f + 1, v, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(ins, f + 1);
        }
        if (sqlite3_step(ins) != SQLITE_DONE)
            die_sql(db, "insert");
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    for (size_t i = 0; i < sizeof index_sql / sizeof index_sql[0]; i++)
        exec_sql(db, index_sql[i]);
    exec_sql(db, "COMMIT");
    exec_sql(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_close(db);
    ts_token_free(t);
}

/* ------------------------------------------------------------------ */
/* The two sides of each comparison                                    */
/* ------------------------------------------------------------------ */

struct raw {
    sqlite3 *db;
    sqlite3_stmt *select, *update;
};

static void raw_open(struct raw *r, const char *path)
{
    if (sqlite3_open(path, &r->db) != SQLITE_OK)
        die_sql(r->db, path);
    exec_sql(r->db, "PRAGMA synchronous=NORMAL");
    sqlite3_busy_timeout(r->db, 5000);
    r->select = prepare(r->db, "SELECT id, user_name, client_id, client_secret, refresh_token, "
                               "access_token, grant_token, expiry_time, redirect_url, api_domain "
                               "FROM oauthtoken WHERE user_name = ?1");
    r->update = prepare(r->db, "UPDATE oauthtoken SET access_token = ?1, expiry_time = ?2 "
                               "WHERE user_name = ?3");
}

static void raw_close(struct raw *r)
{
    sqlite3_finalize(r->select);
    sqlite3_finalize(r->update);
    sqlite3_close(r->db);
}

static void raw_find(void *ctx, const char *user)
{
    struct raw *r = ctx;
    char copy[TS_FIELD_COUNT][256];
    size_t total = 0;

    sqlite3_bind_text(r->select, 1, user, -1, SQLITE_STATIC);
    if (sqlite3_step(r->select) != SQLITE_ROW)
        die_sql(r->db, "raw select found nothing");
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        const unsigned char *v = sqlite3_column_text(r->select, f);
        size_t len = (size_t)sqlite3_column_bytes(r->select, f);
        if (v && len < sizeof copy[f]) {
            memcpy(copy[f], v, len + 1);
            total += len + (unsigned char)copy[f][0];
        }
    }
    sqlite3_reset(r->select);
    sink += total;
}

static void raw_update(void *ctx, const char *user, const char *access, const char *expiry)
{
    struct raw *r = ctx;
    sqlite3_bind_text(r->update, 1, access, -1, SQLITE_STATIC);
    sqlite3_bind_text(r->update, 2, expiry, -1, SQLITE_STATIC);
    sqlite3_bind_text(r->update, 3, user, -1, SQLITE_STATIC);
    if (sqlite3_step(r->update) != SQLITE_DONE || sqlite3_changes(r->db) != 1)
        die_sql(r->db, "raw update");
    sqlite3_reset(r->update);
}

static void bench_size(size_t n)
{
    const char *tmp = getenv("TMPDIR");
    char path[512], uri[600], side[600];
    ts_store *s;
    ts_error err;
    struct raw r;
    double ours, base;

    snprintf(path, sizeof path, "%s/bench_sqlite.%d.db", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    build_database(path, n);
    snprintf(uri, sizeof uri, "sqlite:%s", path);
    if (ts_store_open(&s, uri, &err) != TS_OK)
        bench_die("open", &err);
    raw_open(&r, path);
    struct bench_raw raw = { &r, raw_find, raw_update };

    size_t iters = bench_iterations(n);
    bench_compare(BENCH_FIND, &raw, s, n, iters, &ours, &base);
    bench_report("sqlite", "find_token by user", n, ours, "raw SELECT 10 cols by user", base);
    /* An update commits a transaction; fewer suffice. */
    bench_compare(BENCH_UPDATE, &raw, s, n, iters / 4, &ours, &base);
    bench_report("sqlite", "save_token (update user)", n, ours, "raw UPDATE autocommit", base);

    raw_close(&r);
    ts_store_close(s);
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

int main(int argc, char **argv)
{
    static const size_t dflt[] = { 100, 10000, 1000000 };
    size_t sizes[16];
    size_t nsizes = bench_sizes(argc, argv, sizes, 16, dflt, 3);

    for (size_t i = 0; i < nsizes; i++)
        bench_size(sizes[i]);
    return 0;
}
