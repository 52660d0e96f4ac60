/*
 * plugins/sqlite/locks.c - the store-wide named locks (try_lock/unlock)
 * the single-flight OAuth refresh takes: a row per held lock in a table of
 * their own, with an expiry every process compares against.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#include <sqlite3.h>
#include <tokenstore/backend.h>
#include "sqlite_store.h"

/* A lock this handle holds: its name, the random owner tag that lets
 * only us release it, and the process that took it. */
struct held_lock {
    pid_t pid;
    char owner[33];
    char name[];
};

/* ------------------------------------------------------------------ */
/* Store-wide locks (single-flight OAuth refresh)                      */
/* ------------------------------------------------------------------ */

/* A row per held lock in tokenstore_locks, with its owner's random tag and
 * a wall-clock expiry that every process compares against: a holder that
 * died leaves a row the next taker deletes once it has expired. */
static int prepare_locks(struct sqlite_store *s, ts_error *err)
{
    int rc;

    if (s->lock_take)
        return TS_OK;
    if ((rc = sqlite_connected(s, err)) != TS_OK)
        return rc;
    rc = sqlite_run_sql(s, sqlite3_mprintf("CREATE TABLE IF NOT EXISTS tokenstore_locks ("
                                           "name TEXT PRIMARY KEY, owner TEXT NOT NULL, "
                                    "expires_ms INTEGER NOT NULL)"),
                 "creating the lock table", err);
    if (rc == TS_OK)
        rc = sqlite_prepare(s, &s->lock_purge, sqlite3_mprintf(
                         "DELETE FROM tokenstore_locks WHERE name = ?1 AND expires_ms <= ?2"), err);
    if (rc == TS_OK)
        rc = sqlite_prepare(s, &s->lock_release, sqlite3_mprintf(
                         "DELETE FROM tokenstore_locks WHERE name = ?1 AND owner = ?2"), err);
    if (rc == TS_OK)
        rc = sqlite_prepare(s, &s->lock_take, sqlite3_mprintf(
                         "INSERT OR IGNORE INTO tokenstore_locks VALUES (?1, ?2, ?3)"), err);
    return rc;
}

int sqlite_try_lock(void *state, const char *name, int64_t ttl_ms, void **handle,
                           ts_error *err)
{
    struct sqlite_store *s = state;
    struct held_lock *l = malloc(sizeof *l + strlen(name) + 1);
    long long now = sql_wall_ms();

    if (!l)
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    strcpy(l->name, name);
    l->pid = getpid();
    snprintf(l->owner, sizeof l->owner, "%08x%08x%016llx", (unsigned)getpid(),
             (unsigned)rand_r(&s->jitter_seed), (unsigned long long)now);
    int rc = prepare_locks(s, err);
    if (rc == TS_OK)
        rc = sqlite_run(s, s->begin, "starting a write transaction", err);
    if (rc == TS_OK) {
        sqlite3_bind_text(s->lock_purge, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->lock_purge, 2, now);
        rc = sqlite_run(s, s->lock_purge, "dropping an expired lock", err);
        sqlite3_bind_text(s->lock_take, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->lock_take, 2, l->owner, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->lock_take, 3, now + ttl_ms);
        if (rc == TS_OK)
            rc = sqlite_run(s, s->lock_take, "taking a lock", err);
        if (rc == TS_OK && sqlite3_changes(s->db) == 0)
            rc = TS_ERR_BUSY;
        if (rc == TS_OK || rc == TS_ERR_BUSY) {
            int crc = sqlite_commit(s, err);
            rc = crc == TS_OK ? rc : crc;
        } else {
            sqlite_rollback(s);
        }
    }
    if (rc != TS_OK) {
        free(l);
        return rc;
    }
    *handle = l;
    return TS_OK;
}

int sqlite_unlock(void *state, void *handle, ts_error *err)
{
    struct sqlite_store *s = state;
    struct held_lock *l = handle;
    int rc = TS_OK;

    /* A handle a forked child inherited: the lock is its parent's, and
     * stays held until the parent lets it go. */
    if (l->pid == getpid() && (rc = prepare_locks(s, err)) == TS_OK) {
        sqlite3_bind_text(s->lock_release, 1, l->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->lock_release, 2, l->owner, -1, SQLITE_STATIC);
        rc = sqlite_run(s, s->lock_release, "releasing a lock", err);
    }
    free(l);
    return rc;
}
