/*
 * plugins/sqlite/connection.c - a store's connection: opened (WAL, the
 * synchronous level, the busy handler), its table checked or created and
 * its statements prepared; closed, or forgotten in a forked child; opened
 * again before a call that finds none, or before a read once a writer
 * has touched an immutable reader's file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include <tokenstore/backend.h>
#include "sqlite_store.h"

/* Opens the connection and sets WAL; the first read of the file happens
 * here, so this is where a file that is not a database is caught. */
static int connect_db(struct sqlite_store *s, int sync_level, ts_error *err)
{
    int read_only = s->open_flags & TS_OPEN_READ_ONLY;
    int rc = read_only ? sqlite_connect_reader(s)
                       : sqlite3_open_v2(s->path, &s->db,
                                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);

    if (rc != SQLITE_OK)
        return sqlite_db_fail(s, rc, "opening", err);
    s->pid = getpid();
    s->jitter_seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    sqlite3_busy_handler(s->db, sqlite_busy_wait, s);
    /* The journal mode is stored in the file: a reader leaves it alone. */
    if (read_only)
        return TS_OK;
    /* Opened to write, but it cannot be written: say so now rather than
     * fail on the journal mode with "unable to open database file". */
    if (sqlite3_db_readonly(s->db, "main") == 1)
        return s->host->error(err, TS_ERR_IO, "%s is read-only (a read-only filesystem, or no "
                              "permission to write it): it can be opened to read only",
                              s->path);

    /* Changing the journal mode needs the database to itself, and SQLite
     * may answer SQLITE_BUSY at once, without its busy handler, while
     * other processes are opening it too: wait here as the handler would. */
    sqlite3_stmt *stmt;
    int attempts = 0;
    rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &stmt, NULL);
    while (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || !sqlite_busy_wait(s, attempts++))
            break;
        sqlite3_reset(stmt);
        rc = SQLITE_OK;
    }
    if (rc == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(stmt, 0);
        if (!mode || strcmp(mode, "wal") != 0)
            s->host->log(s->ctx, TS_LOG_WARN,
                         "%s: WAL journaling is not available (journal mode %s): "
                         "readers will wait for writers", s->path, mode ? mode : "?");
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        rc = sqlite_db_fail(s, rc, "setting WAL journal mode", err);
    sqlite3_finalize(stmt);
    if (rc != TS_OK)
        return rc;
    rc = sqlite_run_sql(s, sqlite3_mprintf("PRAGMA synchronous=%d", sync_level),
                        "setting synchronous", err);
    /* Zero a deleted or replaced token's old bytes in the page, at no I/O
     * cost, so an old refresh token does not linger in free space. */
    if (rc == TS_OK)
        rc = sqlite_run_sql(s, sqlite3_mprintf("PRAGMA secure_delete=FAST"), "setting secure_delete", err);
    return rc;
}

static int prepare_statements(struct sqlite_store *s, ts_error *err)
{
    const char *t = s->table, *cols = SQL_COLUMNS;
    int rc = TS_OK;

    if (s->no_table)
        return TS_OK;

    /* Several rows may share a secret: the lowest id answers. Ids and user
     * names are one row each. */
    for (size_t i = 0; rc == TS_OK && i < s->nkeys; i++) {
        ts_field f = s->keys[i];
        int shared = f != TS_FIELD_ID && f != TS_FIELD_USER_NAME;
        rc = sqlite_prepare(s, &s->lookup[f],
                            sqlite3_mprintf("SELECT %s FROM \"%w\" WHERE %s = ?1%s LIMIT 1", cols, t,
                                     s->host->field_name(f),
                                     shared ? " ORDER BY CAST(id AS INTEGER)" : ""),
                     err);
    }
    if (rc == TS_OK)
        rc = sqlite_prepare(s, &s->insert, sqlite3_mprintf("INSERT INTO \"%w\" (%s) VALUES "
                                                    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                                                    t, cols), err);
    if (rc == TS_OK)
        rc = sqlite_prepare(s, &s->max_id,
                            sqlite3_mprintf("SELECT max(CAST(id AS INTEGER)) FROM \"%w\"", t), err);
    if (rc == TS_OK)
        rc = sqlite_prepare(s, &s->delete_one,
                            sqlite3_mprintf("DELETE FROM \"%w\" WHERE id = ?1", t), err);
    if (rc == TS_OK)
        rc = sqlite_prepare(s, &s->delete_all, sqlite3_mprintf("DELETE FROM \"%w\"", t), err);
    if (rc == TS_OK)
        rc = sqlite_prepare(s, &s->walk,
                            sqlite3_mprintf("SELECT %s FROM \"%w\" ORDER BY CAST(id AS INTEGER), id",
                                     cols, t), err);
    if (rc == TS_OK)
        rc = sqlite_prepare(s, &s->begin, sqlite3_mprintf("BEGIN IMMEDIATE"), err);
    if (rc == TS_OK)
        rc = sqlite_prepare(s, &s->commit, sqlite3_mprintf("COMMIT"), err);
    if (rc == TS_OK)
        rc = sqlite_prepare(s, &s->rollback, sqlite3_mprintf("ROLLBACK"), err);
    return rc;
}

void sqlite_disconnect(struct sqlite_store *s, int abandon)
{
    sqlite3_stmt **fixed[] = { &s->insert, &s->max_id, &s->delete_one, &s->delete_all,
                               &s->walk, &s->begin, &s->commit, &s->rollback, &s->lock_purge,
                               &s->lock_take, &s->lock_release };

    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        if (!abandon)
            sqlite3_finalize(s->lookup[f]);
        s->lookup[f] = NULL;
    }
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (!abandon)
            sqlite3_finalize(*fixed[i]);
        *fixed[i] = NULL;
    }
    for (unsigned m = 0; m < SQL_COLUMN_SETS; m++) {
        if (!abandon)
            sqlite3_finalize(s->update[m]);
        s->update[m] = NULL;
    }
    for (int i = 0; i < SIDE_STATEMENTS; i++) {
        if (!abandon)
            sqlite3_finalize(s->side[i]);
        s->side[i] = NULL;
    }
    if (!abandon)
        sqlite3_close_v2(s->db);
    s->db = NULL;
}

/* Opens the connection, checks or creates the table and prepares the
 * statements. */
int sqlite_open_connection(struct sqlite_store *s, ts_error *err)
{
    int rc = connect_db(s, s->sync_level, err);

    if (rc == TS_OK)
        rc = sqlite_ensure_schema(s, err);
    if (rc == TS_OK)
        rc = prepare_statements(s, err);
    if (rc != TS_OK)
        sqlite_disconnect(s, 0);
    return rc;
}

int sqlite_connected(struct sqlite_store *s, ts_error *err)
{
    if (s->db)
        return TS_OK;
    if (s->stranded)
        return s->host->error(err, TS_ERR_UNSUPPORTED, "%s: the process forked while another "
                              "thread was writing through this store: open it again",
                              s->path);
    return sqlite_open_connection(s, err);
}

/* Before a read on a read-only handle: an immutable connection is opened
 * again once a writer has touched the database (see the top of the file),
 * and one that failed to is tried again. */
int sqlite_reading(struct sqlite_store *s, ts_error *err)
{
    if (s->db && s->immutable && sqlite_immutable_stale(s))
        sqlite_disconnect(s, 0);
    return sqlite_connected(s, err);
}

/* Before a read of the tokens: a handle opened before the table existed
 * also looks for it again. *ready is 0 while the store is empty. */
int sqlite_table_ready(struct sqlite_store *s, int *ready, ts_error *err)
{
    int rc;

    if ((rc = sqlite_reading(s, err)) != TS_OK)
        return rc;
    *ready = !s->no_table;
    if (*ready || (rc = sqlite_check_columns(s, ready, err)) != TS_OK || !*ready)
        return rc;
    s->no_table = 0;
    return prepare_statements(s, err);
}
