/*
 * plugins/sqlite/schema.c - the sqlite backend's table and indexes:
 * checking the columns of an existing table, creating the table and our
 * indexes, and the read-only connection (immutable while no writer has the
 * database open) that creates neither. The store and the rest are in
 * sqlite.c.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sqlite3.h>
#include "sqlite_store.h"

/* ------------------------------------------------------------------ */
/* Read-only and immutable connections                                 */
/* ------------------------------------------------------------------ */

/* Whether PATH-wal exists: some connection has the database open in WAL
 * mode, or one that crashed left committed pages there. */
static int wal_exists(const struct sqlite_store *s)
{
    char wal[4096];

    snprintf(wal, sizeof wal, "%s-wal", s->path);
    return access(wal, F_OK) == 0;
}

/* Whether the file's header says WAL (read and write versions 2). */
static int wal_mode_file(const char *path)
{
    unsigned char head[20];
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);    /* a FIFO must not hang us */
    ssize_t n = fd >= 0 ? pread(fd, head, sizeof head, 0) : -1;

    if (fd >= 0)
        close(fd);
    return n == (ssize_t)sizeof head && memcmp(head, "SQLite format 3", 16) == 0 &&
           head[18] == 2 && head[19] == 2;
}

/* An immutable connection must not outlive the file as it was: a writer
 * has it open (its -wal file exists), or one came and went. */
int sqlite_immutable_stale(const struct sqlite_store *s)
{
    struct stat st;
    const struct stat *then = &s->immutable_at;

    if (wal_exists(s) || stat(s->path, &st) != 0)
        return 1;
    return st.st_ino != then->st_ino || st.st_dev != then->st_dev ||
           st.st_size != then->st_size || st.st_mtim.tv_sec != then->st_mtim.tv_sec ||
           st.st_mtim.tv_nsec != then->st_mtim.tv_nsec;
}

/* "file:PATH?mode=ro&immutable=1", PATH %-escaped as RFC 3986 wants. */
static char *immutable_uri(const char *path)
{
    sqlite3_str *uri = sqlite3_str_new(NULL);

    sqlite3_str_appendall(uri, path[0] == '/' ? "file://" : "file:");
    for (const char *p = path; *p; p++) {
        if (*p == '%' || *p == '?' || *p == '#')
            sqlite3_str_appendf(uri, "%%%02X", (unsigned char)*p);
        else
            sqlite3_str_appendchar(uri, 1, *p);
    }
    sqlite3_str_appendall(uri, "?mode=ro&immutable=1");
    return sqlite3_str_finish(uri);
}

/* A read-only connection: see the top of sqlite.c. */
int sqlite_connect_reader(struct sqlite_store *s)
{
    int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;

    s->immutable = wal_mode_file(s->path) && !wal_exists(s) &&
                   stat(s->path, &s->immutable_at) == 0;
    if (!s->immutable)
        return sqlite3_open_v2(s->path, &s->db, flags, NULL);
    char *uri = immutable_uri(s->path);
    if (!uri)
        return SQLITE_NOMEM;
    int rc = sqlite3_open_v2(uri, &s->db, flags | SQLITE_OPEN_URI, NULL);
    sqlite3_free(uri);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The schema                                                          */
/* ------------------------------------------------------------------ */

/* Checks the table's columns. *exists is 0 when there is no such table. */
int sqlite_check_columns(struct sqlite_store *s, int *exists, ts_error *err)
{
    sqlite3_stmt *stmt;
    unsigned seen = 0;
    int rc = sqlite3_prepare_v2(s->db, "SELECT name FROM pragma_table_info(?1)", -1, &stmt, NULL);

    if (rc != SQLITE_OK)
        return sqlite_db_fail(s, rc, "reading the table's columns", err);
    sqlite3_bind_text(stmt, 1, s->table, -1, SQLITE_STATIC);
    *exists = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(stmt, 0);
        *exists = 1;
        int f = name ? sql_field_of(s->host, name, 1) : -1;
        if (f >= 0)
            seen |= 1u << f;
    }
    rc = rc == SQLITE_DONE ? TS_OK : sqlite_db_fail(s, rc, "reading the table's columns", err);
    sqlite3_finalize(stmt);
    if (rc != TS_OK || !*exists)
        return rc;

    char missing[160];
    sql_missing_columns(s->host, seen, missing, sizeof missing);
    if (*missing)
        return s->host->error(err, TS_ERR_CORRUPT,
                              "%s: table %s has no column %s (it needs the Zoho SDK's "
                              "columns: %s); nothing was changed",
                              s->path, s->table, missing, SQL_COLUMNS);
    return TS_OK;
}

/* Our index on key field f is "<table>_<what>_idx"; ids are indexed by
 * number, as the next id and the walk read them. */
static const char *index_what(const struct sqlite_store *s, ts_field f)
{
    return f == TS_FIELD_ID ? "numeric_id" : s->host->field_name(f);
}

static const char *index_expr(const struct sqlite_store *s, ts_field f)
{
    return f == TS_FIELD_ID ? "CAST(id AS INTEGER), id" : s->host->field_name(f);
}

static int indexes_present(struct sqlite_store *s, int *present, ts_error *err)
{
    sqlite3_stmt *stmt = NULL;
    const char *sql = "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                      "name = ?1 || '_' || ?2 || '_idx'";
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL);

    *present = 1;
    for (size_t i = 0; rc == SQLITE_OK && *present && i < s->nkeys; i++) {
        sqlite3_bind_text(stmt, 1, s->table, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, index_what(s, s->keys[i]), -1, SQLITE_STATIC);
        if ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            *present = sqlite3_column_int(stmt, 0) == 1;
            rc = SQLITE_OK;
        }
        sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_OK ? TS_OK : sqlite_db_fail(s, rc, "reading the schema", err);
}

/* The sample's CREATE TABLE, with our table name, and our indexes. */
static int create_schema(struct sqlite_store *s, ts_error *err)
{
    int exists;
    int rc = sqlite_run_sql(s, sqlite3_mprintf(
        "CREATE TABLE IF NOT EXISTS \"%w\" (id varchar(10) NOT NULL, user_name varchar(255), "
        "client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), "
        "access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), "
        "redirect_url varchar(255), api_domain varchar(255), primary key (id))", s->table),
        "creating the table", err);

    /* Another process may have made the table between our look and our
     * lock; check what is there before indexing it. */
    if (rc == TS_OK)
        rc = sqlite_check_columns(s, &exists, err);
    for (size_t i = 0; rc == TS_OK && i < s->nkeys; i++)
        rc = sqlite_run_sql(s, sqlite3_mprintf("CREATE INDEX IF NOT EXISTS \"%w_%s_idx\" "
                                               "ON \"%w\" (%s)",
                                               s->table, index_what(s, s->keys[i]), s->table,
                                               index_expr(s, s->keys[i])),
                            "creating an index", err);
    return rc;
}

int sqlite_ensure_schema(struct sqlite_store *s, ts_error *err)
{
    int exists = 0, indexed = 0;
    int rc = sqlite_check_columns(s, &exists, err);

    if (s->open_flags & TS_OPEN_READ_ONLY) {
        /* Our indexes only speed lookups up; a reader adds nothing. */
        s->no_table = rc == TS_OK && !exists;
        return rc;
    }
    if (rc == TS_OK && exists)
        rc = indexes_present(s, &indexed, err);
    if (rc != TS_OK || (exists && indexed))
        return rc;
    if (exists && sqlite3_db_readonly(s->db, "main") == 1) {
        /* Reading a read-only file still works, only slower. */
        s->host->log(s->ctx, TS_LOG_WARN, "%s is read-only and table %s lacks our indexes: "
                     "lookups will scan the table", s->path, s->table);
        return TS_OK;
    }
    rc = sqlite_run_sql(s, sqlite3_mprintf("BEGIN IMMEDIATE"),
                        "locking the database to create the table", err);
    if (rc != TS_OK)
        return rc;
    rc = create_schema(s, err);
    if (rc == TS_OK)
        rc = sqlite_run_sql(s, sqlite3_mprintf("COMMIT"), "committing the new table", err);
    if (rc != TS_OK)
        sqlite_run_sql(s, sqlite3_mprintf("ROLLBACK"), "rolling back", NULL);
    else if (!exists)
        s->host->log(s->ctx, TS_LOG_INFO, "created table %s in %s", s->table, s->path);
    return rc;
}
