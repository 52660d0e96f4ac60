/*
 * plugins/postgres/locks.c - the postgres backend's advisory locks: the
 * writers' transaction-scoped locks (begin_locked, end_locked), and the
 * store-wide locks the OAuth client holds around a refresh (try_lock,
 * unlock).
 *
 * A writer's lock is pg_advisory_xact_lock(key) taken first thing in its
 * transaction and released by the server when the transaction ends,
 * whatever way it ends: the token table's write lock, which every insert
 * takes (so no two processes pick the same next id or give one user two
 * rows), the log's, and the schema's, which the first opens of a table
 * take while they make it. It is waited for up to half the statement
 * timeout (lock_timeout), then TS_ERR_BUSY.
 *
 * A store-wide lock is a session lock, pg_try_advisory_lock(key): the
 * server releases it when the session that took it ends, so a holder that
 * crashes frees it at once. The TTL covers a holder that hangs, or whose
 * host vanishes without closing the connection: while we hold a lock the
 * session's idle_session_timeout is the TTL, so a session silent for that
 * long is ended by the server and the lock is free again (PostgreSQL 14
 * and later; an older server frees it only when the connection drops).
 * A holder still at work keeps it; its own calls keep the session busy.
 * The keys are hashes of the schema, the table and the lock's name
 * (lock_key), so stores on other tables never meet.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pg_store.h"

/* ------------------------------------------------------------------ */
/* A writer's transaction                                              */
/* ------------------------------------------------------------------ */

int postgres_begin_locked(struct pg_store *s, int64_t key, const char *what, const char *then,
                          PGresult **res, ts_error *err)
{
    char sql[768];

    /* One round trip: the key and the wait are numbers of ours, and
     * `then` is SQL without values. */
    snprintf(sql, sizeof sql, "BEGIN; SET LOCAL lock_timeout = %lld; SELECT "
             "pg_advisory_xact_lock(%" PRId64 ")%s%s", s->lock_wait_ms, key, then ? "; " : "",
             then ? then : "");
    int rc = postgres_run_text(s, sql, "starting a locked transaction", res, err);
    if (rc == TS_OK)
        return TS_OK;
    if (rc == TS_ERR_BUSY && strcmp(s->sqlstate, "55P03") == 0)
        s->host->error(err, TS_ERR_BUSY, "%s: table %s.%s: another writer held %s for more "
                       "than %lld ms (half of statement_timeout_ms)", s->where, s->schema,
                       s->subject ? s->subject : s->table, what, s->lock_wait_ms);
    return postgres_end_locked(s, rc, NULL);
}

int postgres_end_locked(struct pg_store *s, int rc, ts_error *err)
{
    PGresult *res = NULL;
    int unsure = 0;          /* the session may still be in the transaction */

    if (!s->conn || s->lost)
        return rc;
    if (rc == TS_OK) {
        rc = postgres_run_text(s, "COMMIT", "committing", &res, err);
        /* A transaction that failed answers COMMIT with ROLLBACK. */
        if (rc == TS_OK && strcmp(PQcmdStatus(res), "COMMIT") != 0)
            rc = s->host->error(err, TS_ERR_BACKEND, "%s: table %s.%s: the server rolled the "
                                "transaction back at COMMIT", s->where, s->schema, s->table);
        postgres_clear_result(res);
        unsure = rc != TS_OK && !s->lost;
    } else {
        ts_error ignored;
        unsure = postgres_run_text(s, "ROLLBACK", "rolling back", NULL, &ignored) != TS_OK;
    }
    if (unsure && !s->lost) {
        /* Closing the connection ends it: the server rolls back what was
         * not committed and frees the lock for the other writers. */
        s->host->log(s->ctx, TS_LOG_WARN, "%s: table %s.%s: a transaction did not end as "
                     "asked; closing the connection to end it", s->where, s->schema, s->table);
        postgres_disconnect(s);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Store-wide locks                                                    */
/* ------------------------------------------------------------------ */

struct held_lock {
    struct sql_held link;            /* first: s->held's list */
    unsigned generation;             /* the connection it was taken on */
    int64_t key;
};

struct lock_args {
    struct held_lock *lock;
    int64_t ttl_ms;
};

/* An advisory lock function's boolean answer. */
static int lock_call(struct pg_store *s, enum stmt_kind kind, int64_t key, int *yes,
                     ts_error *err)
{
    char text[24];
    const char *p[1] = { text };
    PGresult *res;

    snprintf(text, sizeof text, "%" PRId64, key);
    int rc = postgres_run(s, kind, p, 1, kind == ST_TRY_LOCK ? "taking a lock" : "releasing a lock",
                          &res, err);
    *yes = rc == TS_OK && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    postgres_clear_result(res);
    return rc;
}

/* The session's idle_session_timeout: the TTL while a lock is held. A
 * server older than 14 does not know it: the lock then lasts as long as
 * the connection, said once per handle. */
static int set_ttl(struct pg_store *s, int64_t ttl_ms, ts_error *err)
{
    char text[24];
    const char *p[1] = { text };
    PGresult *res;

    snprintf(text, sizeof text, "%" PRId64, ttl_ms < 1 ? 1 : ttl_ms > 2147483647 ? 2147483647
                                                                                 : ttl_ms);
    int rc = postgres_run(s, ST_IDLE_TIMEOUT, p, 1, "setting the lock's TTL (idle_session_timeout)",
                          &res, err);
    postgres_clear_result(res);
    if (rc != TS_OK && !s->lost && strcmp(s->sqlstate, "42704") == 0) {
        s->host->log(s->ctx, TS_LOG_WARN, "%s: the server has no idle_session_timeout "
                     "(PostgreSQL 14): a lock is freed when its holder's connection drops, "
                     "not after its TTL", s->where);
        rc = TS_OK;
    }
    return rc;
}

static int do_try_lock(struct pg_store *s, void *arg, ts_error *err)
{
    struct lock_args *a = arg;
    int got;

    /* Advisory locks are reentrant in a session: we refuse a second take. */
    for (struct sql_held *h = s->held; h; h = h->next) {
        const struct held_lock *l = (const struct held_lock *)h;
        if (l->generation == s->generation && l->key == a->lock->key)
            return TS_ERR_BUSY;
    }
    int rc = lock_call(s, ST_TRY_LOCK, a->lock->key, &got, err);
    if (rc != TS_OK || !got)
        return rc == TS_OK ? TS_ERR_BUSY : rc;
    rc = set_ttl(s, a->ttl_ms, err);
    if (rc != TS_OK) {
        if (!s->lost)
            lock_call(s, ST_UNLOCK, a->lock->key, &got, NULL);
        return rc;
    }
    a->lock->generation = s->generation;
    s->locks_held++;
    return TS_OK;
}

static int do_unlock(struct pg_store *s, void *arg, ts_error *err)
{
    struct held_lock *l = arg;
    int released;

    /* Taken on a connection that is gone: the server released it then. */
    if (l->generation != s->generation)
        return TS_OK;
    int rc = lock_call(s, ST_UNLOCK, l->key, &released, err);
    if (rc != TS_OK)
        return rc;
    s->locks_held--;
    if (s->locks_held == 0)     /* idle_session_timeout back to the server's */
        rc = postgres_run_text(s, "RESET idle_session_timeout", "resetting idle_session_timeout",
                               NULL, err);
    if (rc == TS_OK && !released)
        rc = s->host->error(err, TS_ERR_BACKEND, "%s: table %s.%s: releasing a lock: the "
                            "server says this session no longer held it", s->where,
                            s->schema, s->table);
    return rc;
}

int postgres_try_lock(void *state, const char *name, int64_t ttl_ms, void **handle,
                      ts_error *err)
{
    struct pg_store *s = state;
    struct held_lock *l = calloc(1, sizeof *l);
    char *what = NULL;

    if (!l || asprintf(&what, "lock:%s", name) < 0) {
        free(l);
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    }
    l->key = postgres_lock_key(s, what);
    free(what);
    struct lock_args a = { l, ttl_ms };
    int rc = postgres_with_connection(s, 1, 1, do_try_lock, &a, err);
    if (rc != TS_OK) {
        free(l);
        return rc;
    }
    sql_held_add(&s->held, &l->link);
    *handle = l;
    return TS_OK;
}

int postgres_unlock(void *state, void *handle, ts_error *err)
{
    struct pg_store *s = state;
    struct held_lock *l = handle;
    int rc = postgres_with_connection(s, 1, 1, do_unlock, l, err);

    sql_held_drop(&s->held, &l->link);
    return rc;
}

void postgres_free_held_locks(struct pg_store *s)
{
    sql_held_free_all(&s->held);
}
