/*
 * plugins/mysql/locks.c - the mysql backend's MySQL named locks: GET_LOCK
 * and RELEASE_LOCK with their answers read in full (a NULL is the
 * server's error, a release of a lock the connection no longer holds is
 * said so), and the store-wide locks the OAuth client holds around a
 * refresh (try_lock, unlock).
 *
 * A store-wide lock is GET_LOCK(name, 0): the server releases it when the
 * connection that took it closes, so a holder that crashes frees it at
 * once. The TTL covers a holder that hangs, or whose host vanishes
 * without closing the connection (the server would otherwise wait for
 * TCP keepalive, hours): while we hold a lock, the session's wait_timeout
 * is the TTL (in whole seconds, rounded up), so a connection silent for
 * that long is closed by the server and the lock is free again. A holder
 * still at work keeps it; its own calls keep the connection alive. A lock
 * name is the table's, hashed (lock_name): the server's locks are
 * server-wide.
 *
 * A writer's lock (writer_lock, writer_unlock) is one a writer waits for
 * and holds for the length of its transaction: the token table's write
 * lock, which every insert takes, and the log's, which every append takes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mysql_store.h"

int mysql_named_lock(struct mysql_store *s, enum stmt_kind kind, const char *name, long long wait_s,
                     int *got, ts_error *err)
{
    struct param p[2] = { str_param(name), num_param(wait_s) };
    const char *doing = kind == ST_GET_LOCK ? "taking a lock" : "releasing a lock";
    char text[8];
    int is_null;
    int rc = mysql_run(s, kind, p, kind == ST_GET_LOCK ? 2 : 1, doing, err);

    *got = 0;
    if (rc == TS_OK)
        rc = mysql_fetch_scalar(s, s->stmt[kind], text, sizeof text, &is_null, err);
    if (rc != TS_OK)
        return rc;
    /* GET_LOCK answers NULL on an error (out of memory, a killed query);
     * RELEASE_LOCK answers NULL for a lock nobody holds, which the caller
     * hears as *got 0. */
    if (is_null && kind == ST_GET_LOCK)
        return s->host->error(err, TS_ERR_BACKEND, "%s: table %s.%s: %s: the server "
                              "answered NULL (an error on its side)", s->where, s->database,
                              s->table, doing);
    *got = !is_null && strcmp(text, "1") == 0;
    return TS_OK;
}

int mysql_writer_lock(struct mysql_store *s, const char *name, const char *what, ts_error *err)
{
    int got, rc = mysql_named_lock(s, ST_GET_LOCK, name, (long long)s->lock_wait_s, &got, err);

    if (rc == TS_OK && !got)
        return s->host->error(err, TS_ERR_BUSY, "%s: table %s.%s: another writer held %s for "
                              "more than %llu s (half of read_timeout_ms)", s->where,
                              s->database, s->subject ? s->subject : s->table, what,
                              s->lock_wait_s);
    return rc;
}

int mysql_writer_unlock(struct mysql_store *s, const char *name, int txn, int rc, ts_error *err)
{
    int got, unsure = 0;      /* the session may still hold a transaction or the lock */

    if (rc == TS_OK && txn)
        unsure = (rc = mysql_run(s, ST_COMMIT, NULL, 0, "committing", err)) != TS_OK;
    else if (rc != TS_OK && txn && !s->lost)
        unsure = mysql_run(s, ST_ROLLBACK, NULL, 0, "rolling back", NULL) != TS_OK;
    if (!s->lost && !unsure)
        unsure = mysql_named_lock(s, ST_RELEASE_LOCK, name, 0, &got, NULL) != TS_OK || !got;
    if (unsure && !s->lost) {
        /* Closing the connection ends them: the server rolls back what
         * was not committed and frees the lock for the other writers. */
        s->host->log(s->ctx, TS_LOG_WARN, "%s: table %s.%s: a transaction or a lock did not "
                     "end as asked; closing the connection to end them", s->where,
                     s->database, s->subject ? s->subject : s->table);
        mysql_disconnect(s);
    }
    return rc;
}

struct held_lock {
    struct sql_held link;            /* first: s->held's list */
    unsigned generation;             /* the connection it was taken on */
    char name[40];
};

struct lock_args {
    struct held_lock *lock;
    int64_t ttl_ms;
};

static int do_try_lock(struct mysql_store *s, void *arg, ts_error *err)
{
    struct lock_args *a = arg;
    int got;

    /* GET_LOCK is reentrant on one connection: we refuse a second take. */
    for (struct sql_held *h = s->held; h; h = h->next) {
        const struct held_lock *l = (const struct held_lock *)h;
        if (l->generation == s->generation && strcmp(l->name, a->lock->name) == 0)
            return TS_ERR_BUSY;
    }
    int rc = mysql_named_lock(s, ST_GET_LOCK, a->lock->name, 0, &got, err);
    if (rc != TS_OK || !got)
        return rc == TS_OK ? TS_ERR_BUSY : rc;
    long long ttl_s = a->ttl_ms <= 1000 ? 1 : (a->ttl_ms + 999) / 1000;
    struct param p = num_param(ttl_s > 31536000 ? 31536000 : ttl_s);
    rc = mysql_run(s, ST_WAIT_TIMEOUT, &p, 1, "setting the lock's TTL (wait_timeout)", err);
    if (rc != TS_OK) {
        if (!s->lost)
            mysql_named_lock(s, ST_RELEASE_LOCK, a->lock->name, 0, &got, NULL);
        return rc;
    }
    a->lock->generation = s->generation;
    s->locks_held++;
    return TS_OK;
}

static int do_unlock(struct mysql_store *s, void *arg, ts_error *err)
{
    struct held_lock *l = arg;
    int released;

    /* Taken on a connection that is gone: the server released it then. */
    if (l->generation != s->generation)
        return TS_OK;
    int rc = mysql_named_lock(s, ST_RELEASE_LOCK, l->name, 0, &released, err);
    if (rc != TS_OK)
        return rc;
    s->locks_held--;
    if (s->locks_held == 0)     /* wait_timeout back to the server's */
        rc = mysql_run(s, ST_WAIT_DEFAULT, NULL, 0, "resetting wait_timeout", err);
    if (rc == TS_OK && !released)
        rc = s->host->error(err, TS_ERR_BACKEND, "%s: table %s.%s: releasing a lock: the "
                            "server says this connection no longer held it", s->where,
                            s->database, s->table);
    return rc;
}

int mysql_try_lock(void *state, const char *name, int64_t ttl_ms, void **handle,
                   ts_error *err)
{
    struct mysql_store *s = state;
    struct held_lock *l = calloc(1, sizeof *l);
    char *what = NULL;

    if (!l || asprintf(&what, "lock:%s", name) < 0) {
        free(l);
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    }
    mysql_lock_name(s, what, l->name);
    free(what);
    struct lock_args a = { l, ttl_ms };
    int rc = mysql_with_connection(s, 1, 1, do_try_lock, &a, err);
    if (rc != TS_OK) {
        free(l);
        return rc;
    }
    sql_held_add(&s->held, &l->link);
    *handle = l;
    return TS_OK;
}

int mysql_unlock(void *state, void *handle, ts_error *err)
{
    struct mysql_store *s = state;
    struct held_lock *l = handle;
    int rc = mysql_with_connection(s, 1, 1, do_unlock, l, err);

    sql_held_drop(&s->held, &l->link);
    return rc;
}

void mysql_free_held_locks(struct mysql_store *s)
{
    sql_held_free_all(&s->held);
}
