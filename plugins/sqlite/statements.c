/*
 * plugins/sqlite/statements.c - the bottom of the sqlite backend: SQLite's
 * results as ts_codes with messages naming the file, the busy handler
 * that waits for another writer, and running statements and reading their
 * rows. The other files build on these.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>
#include <tokenstore/backend.h>
#include "sqlite_store.h"

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* Turns a SQLite result into a ts_code and a message naming the file and
 * what we were doing. SQLite's messages name tables and constraints, never
 * bound values, so no secret can leak through them. */
int sqlite_db_fail(struct sqlite_store *s, int rc, const char *doing, ts_error *err)
{
    const char *why = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    int code;

    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return s->host->error(err, TS_ERR_BUSY,
                              "%s: %s: the database stayed locked by another connection "
                              "for more than %lld ms (option busy_timeout_ms)",
                              s->path, doing, s->busy_timeout_ms);
    case SQLITE_NOTADB:
        return s->host->error(err, TS_ERR_CORRUPT, "%s is not a SQLite database (%s)",
                              s->path, why);
    case SQLITE_NOMEM:
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    case SQLITE_CORRUPT:
        code = TS_ERR_CORRUPT;
        break;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL:
        code = TS_ERR_IO;
        break;
    default:
        code = TS_ERR_BACKEND;
    }
    return s->host->error(err, code, "%s: %s: %s", s->path, doing, why);
}

/* ------------------------------------------------------------------ */
/* Waiting for another writer                                          */
/* ------------------------------------------------------------------ */

static long long ms_since(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000LL + (now.tv_nsec - start->tv_nsec) / 1000000;
}

/*
 * SQLite's own busy_timeout sleeps up to 100 ms between tries. Writers
 * that save in a loop hold the lock for tens of microseconds and take it
 * again at once, so a waiter that sleeps that long keeps missing the gap
 * and can starve. We poll every 0.1-2 ms instead, with jitter so waiters
 * do not wake in step, and give up after busy_timeout_ms.
 */
int sqlite_busy_wait(void *arg, int attempts)
{
    struct sqlite_store *s = arg;

    if (s->busy_timeout_ms == 0)
        return 0;
    if (attempts == 0)
        clock_gettime(CLOCK_MONOTONIC, &s->busy_since);
    else if (ms_since(&s->busy_since) >= s->busy_timeout_ms)
        return 0;
    long us = 100L << (attempts < 4 ? attempts : 4);
    us = us / 2 + rand_r(&s->jitter_seed) % us;
    struct timespec pause = { 0, us * 1000 };
    nanosleep(&pause, NULL);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Statements                                                          */
/* ------------------------------------------------------------------ */

/* Prepares sql (from sqlite3_mprintf, freed here) to live as long as the
 * store. */
int sqlite_prepare(struct sqlite_store *s, sqlite3_stmt **stmt, char *sql, ts_error *err)
{
    if (!sql)
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL);
    sqlite3_free(sql);
    return rc == SQLITE_OK ? TS_OK : sqlite_db_fail(s, rc, "preparing a statement", err);
}

/* Runs a statement that returns no rows and resets it. */
int sqlite_run(struct sqlite_store *s, sqlite3_stmt *stmt, const char *doing, ts_error *err)
{
    int rc = sqlite3_step(stmt);

    if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
        sqlite3_reset(stmt);
        return TS_OK;
    }
    rc = sqlite_db_fail(s, rc, doing, err);
    sqlite3_reset(stmt);
    return rc;
}

/* Runs one SQL text once (pragmas, schema). */
int sqlite_run_sql(struct sqlite_store *s, char *sql, const char *doing, ts_error *err)
{
    sqlite3_stmt *stmt = NULL;

    if (!sql)
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL);
    sqlite3_free(sql);
    if (rc != SQLITE_OK)
        return sqlite_db_fail(s, rc, doing, err);
    rc = sqlite_run(s, stmt, doing, err);
    sqlite3_finalize(stmt);
    return rc;
}

/* A write is stored once COMMIT says so and not before: in WAL mode the
 * commit is where the transaction's pages are written to the log (and,
 * with synchronous=FULL, synced), so a full disk, a file size limit or
 * a failed write or sync shows up here. Whatever SQLite left open after
 * a failed commit is rolled back, so that the next call starts clean. */
int sqlite_commit(struct sqlite_store *s, ts_error *err)
{
    int rc = sqlite_run(s, s->commit, "committing", err);

    if (rc != TS_OK)
        sqlite_rollback(s);
    return rc;
}

void sqlite_rollback(struct sqlite_store *s)
{
    if (s->db && sqlite3_get_autocommit(s->db) == 0)
        sqlite_run(s, s->rollback, "rolling back", NULL);
}

int sqlite_bind_field(sqlite3_stmt *stmt, const ts_host *host, const ts_token *token,
                      ts_field f)
{
    const char *v = host->token_get(token, f);

    /* Parameter ?N is field N - 1 in every statement. An absent field is
     * NULL, as the SDK's None is. */
    if (!*v)
        return sqlite3_bind_null(stmt, (int)f + 1);
    return sqlite3_bind_text(stmt, (int)f + 1, v, (int)strlen(v), SQLITE_STATIC);
}

/* Copies the ten columns of the current result row into token. NULL and
 * the empty string both mean "absent". */
int sqlite_read_row(struct sqlite_store *s, sqlite3_stmt *stmt, ts_token *token, ts_error *err)
{
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        const char *v = (const char *)sqlite3_column_text(stmt, f);
        if (!v && sqlite3_errcode(s->db) == SQLITE_NOMEM)
            return s->host->error(err, TS_ERR_NOMEM, "out of memory");
        int rc = s->host->token_setn(token, (ts_field)f, v, (size_t)sqlite3_column_bytes(stmt, f));
        if (rc == TS_ERR_NOMEM)
            return s->host->error(err, TS_ERR_NOMEM, "out of memory");
        if (rc != TS_OK)
            return s->host->error(err, TS_ERR_CORRUPT,
                                  "%s: table %s: column %s of the row with id %s holds a NUL byte",
                                  s->path, s->table, s->host->field_name((ts_field)f),
                                  f == TS_FIELD_ID ? "(unreadable)"
                                                   : s->host->token_get(token, TS_FIELD_ID));
    }
    return TS_OK;
}
