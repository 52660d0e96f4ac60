/*
 * plugins/sqlite/notes.c - notes and a log beside the tokens (ABI 1.4's
 * note_set, note_get, log_append and log_walk), so that every process
 * sharing the database sees what the OAuth client keeps there: a failed
 * refresh's backoff, the requests spent of a token's refresh budget, and
 * the refresh log an operator reads.
 *
 * They live in two tables of their own in the same file, named after the
 * token table, and the SDK's table is left exactly as the sample made it:
 *
 *     <table>_notes (name TEXT PRIMARY KEY, value TEXT NOT NULL,
 *                    expires_at INTEGER)      -- ms since the epoch, or NULL
 *     <table>_log   (seq INTEGER PRIMARY KEY, entry TEXT NOT NULL)
 *
 * - A table is made by the first write to it, inside that write's
 *   transaction (CREATE TABLE IF NOT EXISTS, which does nothing once the
 *   table is there, so one dropped by hand comes back). A read makes
 *   nothing: a table that is not there is no note and an empty log, so a
 *   read-only handle, or one on another program's database, changes
 *   nothing.
 * - Expiries are wall-clock milliseconds, which every process compares,
 *   as the lock table's are. An expired note reads as none, and each note
 *   written drops the expired ones (through a partial index, so the
 *   notes that never expire cost nothing there).
 * - A log row's seq is its rowid, which SQLite makes the largest plus
 *   one, so seq order is commit order and the log is a run of numbers;
 *   the transaction that appends drops every row more than `keep` behind
 *   the new one, so no reader ever sees more than keep.
 * - Writes are BEGIN IMMEDIATE transactions that wait for another writer
 *   through the store's busy handler (busy_timeout_ms), as saves do; a
 *   note's removal is one DELETE.
 * - The statements live with the store's others and are finalized with
 *   them (on close, on a read-only reconnect, in a forked child).
 */
#include <stdio.h>
#include <string.h>
#include <sqlite3.h>
#include <tokenstore/backend.h>
#include "sqlite_store.h"

/* What the tables are called after: "notes" or "log". */
#define NOTES "notes"
#define LOG "log"

static char *side_sql(const char *t, enum sqlite_side which)
{
    switch (which) {
    case SIDE_EXISTS:
        return sqlite3_mprintf("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                               "name = ?1 || '_' || ?2");
    case SIDE_NOTES_MAKE:
        return sqlite3_mprintf("CREATE TABLE IF NOT EXISTS \"%w_notes\" (name TEXT PRIMARY "
                               "KEY, value TEXT NOT NULL, expires_at INTEGER)", t);
    case SIDE_NOTES_INDEX:
        return sqlite3_mprintf("CREATE INDEX IF NOT EXISTS \"%w_notes_expiry_idx\" ON "
                               "\"%w_notes\" (expires_at) WHERE expires_at IS NOT NULL", t, t);
    case SIDE_NOTE_PUT:
        return sqlite3_mprintf("INSERT OR REPLACE INTO \"%w_notes\" (name, value, expires_at) "
                               "VALUES (?1, ?2, ?3)", t);
    case SIDE_NOTE_PURGE:
        return sqlite3_mprintf("DELETE FROM \"%w_notes\" WHERE expires_at <= ?1", t);
    case SIDE_NOTE_REMOVE:
        return sqlite3_mprintf("DELETE FROM \"%w_notes\" WHERE name = ?1", t);
    case SIDE_NOTE_GET:
        return sqlite3_mprintf("SELECT value FROM \"%w_notes\" WHERE name = ?1 AND "
                               "(expires_at IS NULL OR expires_at > ?2)", t);
    case SIDE_LOG_MAKE:
        return sqlite3_mprintf("CREATE TABLE IF NOT EXISTS \"%w_log\" (seq INTEGER PRIMARY "
                               "KEY, entry TEXT NOT NULL)", t);
    case SIDE_LOG_ADD:
        return sqlite3_mprintf("INSERT INTO \"%w_log\" (entry) VALUES (?1)", t);
    case SIDE_LOG_PRUNE:
        return sqlite3_mprintf("DELETE FROM \"%w_log\" WHERE seq <= ?1", t);
    case SIDE_LOG_WALK:
        return sqlite3_mprintf("SELECT entry FROM \"%w_log\" ORDER BY seq", t);
    case SIDE_STATEMENTS:
        break;
    }
    return NULL;
}

/* "table oauthtoken_notes: setting a note", for db_fail. */
static const char *doing(const struct sqlite_store *s, char buf[160], const char *kind,
                         const char *what)
{
    snprintf(buf, 160, "table %s_%s: %s", s->table, kind, what);
    return buf;
}

/* The statement `which`, prepared on first use. */
static int side_stmt(struct sqlite_store *s, enum sqlite_side which, const char *what,
                     sqlite3_stmt **out, ts_error *err)
{
    *out = NULL;
    if (!s->side[which]) {
        char *sql = side_sql(s->table, which);
        if (!sql)
            return s->host->error(err, TS_ERR_NOMEM, "out of memory");
        int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->side[which],
                                    NULL);
        sqlite3_free(sql);
        if (rc != SQLITE_OK)
            return sqlite_db_fail(s, rc, what, err);
    }
    *out = s->side[which];
    return TS_OK;
}

/* Whether table <table>_<kind> is there. */
static int side_exists(struct sqlite_store *s, const char *kind, int *exists, const char *what,
                       ts_error *err)
{
    sqlite3_stmt *st;
    int rc = side_stmt(s, SIDE_EXISTS, what, &st, err);

    if (rc != TS_OK)
        return rc;
    sqlite3_bind_text(st, 1, s->table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    *exists = rc == SQLITE_ROW;
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? TS_OK : sqlite_db_fail(s, rc, what, err);
    sqlite3_reset(st);
    return rc;
}

/* A statement on table <table>_<kind> that must not make it: *out is NULL
 * (and the answer TS_OK) while the table is not there. */
static int side_reader(struct sqlite_store *s, enum sqlite_side which, const char *kind,
                       const char *what, sqlite3_stmt **out, ts_error *err)
{
    int exists, rc = sqlite_reading(s, err);

    *out = NULL;
    if (rc != TS_OK)
        return rc;
    if (s->side[which]) {
        *out = s->side[which];
        return TS_OK;
    }
    rc = side_exists(s, kind, &exists, what, err);
    return rc == TS_OK && exists ? side_stmt(s, which, what, out, err) : rc;
}

/* After a read failed: whether it is because the table went (dropped by
 * hand while prepared), which reads as empty. The statement is let go, so
 * the next read looks for the table again. */
static int side_gone(struct sqlite_store *s, enum sqlite_side which, const char *kind)
{
    int exists = 1;

    sqlite3_finalize(s->side[which]);
    s->side[which] = NULL;
    return side_exists(s, kind, &exists, "", NULL) == TS_OK && !exists;
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

/* The core refuses these writes on a read-only handle before they get
 * here; a handle that was opened not to change the file says so too. */
static int read_only(struct sqlite_store *s, const char *what, ts_error *err)
{
    if (!(s->open_flags & TS_OPEN_READ_ONLY))
        return TS_OK;
    return s->host->error(err, TS_ERR_READ_ONLY, "%s is open read-only: %s", s->path, what);
}

/* Starts the write transaction and makes the table there: the statements
 * from make (SIDE_NOTES_MAKE or SIDE_LOG_MAKE) to last, in order. */
static int write_begin(struct sqlite_store *s, enum sqlite_side make, enum sqlite_side last,
                       const char *what, ts_error *err)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = read_only(s, what, err)) != TS_OK || (rc = sqlite_connected(s, err)) != TS_OK)
        return rc;
    if ((rc = sqlite_run(s, s->begin, what, err)) != TS_OK)
        return rc;
    for (int i = make; rc == TS_OK && i <= (int)last; i++)
        if ((rc = side_stmt(s, (enum sqlite_side)i, what, &st, err)) == TS_OK)
            rc = sqlite_run(s, st, what, err);
    if (rc != TS_OK)
        sqlite_rollback(s);
    return rc;
}

/* Commits what write_begin started, or rolls it back after rc. */
static int write_end(struct sqlite_store *s, int rc, ts_error *err)
{
    if (rc == TS_OK)
        return sqlite_commit(s, err);
    sqlite_rollback(s);
    return rc;
}

static int note_remove(struct sqlite_store *s, const char *name, ts_error *err)
{
    char what[160];
    sqlite3_stmt *st;
    int rc;

    /* No table, no note: nothing is made for a removal. */
    if ((rc = read_only(s, doing(s, what, NOTES, "removing a note"), err)) != TS_OK ||
        (rc = side_reader(s, SIDE_NOTE_REMOVE, NOTES, what, &st, err)) != TS_OK || !st)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    return sqlite_run(s, st, what, err);
}

int sqlite_note_set(void *state, const char *name, const char *value, int64_t ttl_ms,
                    ts_error *err)
{
    struct sqlite_store *s = state;
    long long now = sql_wall_ms();
    char what[160];
    sqlite3_stmt *st;

    if (!value)
        return note_remove(s, name, err);
    int rc = write_begin(s, SIDE_NOTES_MAKE, SIDE_NOTES_INDEX,
                         doing(s, what, NOTES, "setting a note"), err);
    if (rc != TS_OK)
        return rc;
    if ((rc = side_stmt(s, SIDE_NOTE_PURGE, what, &st, err)) == TS_OK) {
        sqlite3_bind_int64(st, 1, now);
        rc = sqlite_run(s, st, what, err);
    }
    if (rc == TS_OK && (rc = side_stmt(s, SIDE_NOTE_PUT, what, &st, err)) == TS_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
        if (ttl_ms > 0)
            sqlite3_bind_int64(st, 3, now + ttl_ms);
        else
            sqlite3_bind_null(st, 3);
        rc = sqlite_run(s, st, what, err);
    }
    return write_end(s, rc, err);
}

int sqlite_log_append(void *state, const char *entry, size_t keep, ts_error *err)
{
    struct sqlite_store *s = state;
    char what[160];
    sqlite3_stmt *st;
    int rc = write_begin(s, SIDE_LOG_MAKE, SIDE_LOG_MAKE,
                         doing(s, what, LOG, "appending an entry"), err);

    if (rc != TS_OK)
        return rc;
    if ((rc = side_stmt(s, SIDE_LOG_ADD, what, &st, err)) == TS_OK) {
        sqlite3_bind_text(st, 1, entry, -1, SQLITE_STATIC);
        rc = sqlite_run(s, st, what, err);
    }
    /* The rows a reader may see are the new one and the keep - 1 before
     * it; keep 0 drops the new one too. */
    sqlite3_int64 seq = sqlite3_last_insert_rowid(s->db);
    if (rc == TS_OK && keep < (uint64_t)seq &&
        (rc = side_stmt(s, SIDE_LOG_PRUNE, what, &st, err)) == TS_OK) {
        sqlite3_bind_int64(st, 1, seq - (sqlite3_int64)keep);
        rc = sqlite_run(s, st, what, err);
    }
    return write_end(s, rc, err);
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

int sqlite_note_get(void *state, const char *name, char *value, size_t size, ts_error *err)
{
    struct sqlite_store *s = state;
    char what[160];
    sqlite3_stmt *st;
    int rc = side_reader(s, SIDE_NOTE_GET, NOTES, doing(s, what, NOTES, "reading a note"),
                         &st, err);

    if (rc != TS_OK || !st)
        return rc == TS_OK ? TS_NOT_FOUND : rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, sql_wall_ms());
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(st, 0);
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        if (!text && sqlite3_errcode(s->db) == SQLITE_NOMEM)
            rc = s->host->error(err, TS_ERR_NOMEM, "out of memory");
        else if (len >= size)
            rc = s->host->error(err, TS_ERR_BACKEND, "%s: %s: note '%s' is %zu bytes, more "
                                "than the %zu the caller has room for", s->path, what, name,
                                len, size ? size - 1 : 0);
        else
            memcpy(value, text ? text : "", len + 1);
    } else if (step == SQLITE_DONE) {
        rc = TS_NOT_FOUND;
    } else {
        rc = sqlite_db_fail(s, step, what, err);
    }
    sqlite3_reset(st);
    if (rc != TS_OK && rc != TS_NOT_FOUND && step == SQLITE_ERROR &&
        side_gone(s, SIDE_NOTE_GET, NOTES))
        rc = TS_NOT_FOUND;
    return rc;
}

int sqlite_log_walk(void *state, int (*cb)(const char *entry, void *userdata), void *userdata,
                    ts_error *err)
{
    struct sqlite_store *s = state;
    char what[160];
    sqlite3_stmt *st;
    int step, rc = side_reader(s, SIDE_LOG_WALK, LOG, doing(s, what, LOG, "reading the log"),
                               &st, err);

    if (rc != TS_OK || !st)
        return rc;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *entry = (const char *)sqlite3_column_text(st, 0);
        if (!entry && sqlite3_errcode(s->db) == SQLITE_NOMEM) {
            rc = s->host->error(err, TS_ERR_NOMEM, "out of memory");
            break;
        }
        if ((rc = cb(entry ? entry : "", userdata)) != 0)     /* the caller's stop */
            break;
    }
    if (rc == TS_OK && step != SQLITE_DONE)
        rc = sqlite_db_fail(s, step, what, err);
    sqlite3_reset(st);
    if (rc != TS_OK && step == SQLITE_ERROR && side_gone(s, SIDE_LOG_WALK, LOG))
        rc = TS_OK;
    return rc;
}
