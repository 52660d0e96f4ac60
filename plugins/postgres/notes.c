/*
 * plugins/postgres/notes.c - the notes and the refresh log the OAuth
 * client keeps beside the tokens (note_set, note_get, log_append,
 * log_walk), in two tables of their own, so that every process on every
 * host sharing the store sees a failed refresh's backoff, the requests
 * spent of a token's budget and the log of refreshes. The token table,
 * the SDK's, is never touched: not a column, not a row.
 *
 *   <table>_notes: name text primary key, value text, expires_at bigint
 *                  (NULL: never), indexed
 *   <table>_log:   seq bigint primary key, entry text
 *
 * Named after the token table in its schema, so several stores keep
 * apart (a name that would pass 63 characters is cut and given a hash).
 * Names compare byte for byte, trailing spaces included.
 *
 * The tables are made on the first write that needs them (a statement
 * the server refuses for want of its table), under the schema's advisory
 * lock, and never by a read: a read of a table that is not there is an
 * empty one, so a read-only handle makes nothing.
 *
 * expires_at is in ms since the epoch by the writing host's clock, which
 * the OAuth client's own times in its notes go by as well. An expired
 * note is not found, and removed by the next note_set, in the same
 * statement as the write.
 *
 * Each append takes the log's advisory lock and, in one transaction and
 * one statement, inserts the entry as the largest seq plus one and
 * deletes all but the newest `keep`. The lock makes seq order the order
 * of appends and the cap exact with processes appending at once, and
 * seqs without gaps make the prune a range of the primary key.
 *
 * log_walk reads pages by seq and copies each out before its callbacks
 * run, so a callback may use the store, and a walk replayed after a lost
 * connection goes on after the last entry it handed over.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "pg_store.h"

#define NOTE_NAME_MAX 1024             /* a btree key's room, with a margin */
#define STR(x) #x
#define XSTR(x) STR(x)

/* ------------------------------------------------------------------ */
/* The tables and their SQL                                            */
/* ------------------------------------------------------------------ */

static int create_tables(struct pg_store *s, ts_error *err)
{
    char sql[1024], index[PG_NAME_MAX + 1];

    if (s->open_flags & TS_OPEN_READ_ONLY)
        return s->host->error(err, TS_ERR_READ_ONLY, "%s: the store is open read-only: "
                              "tables %s and %s are not made", s->where, s->notes_table,
                              s->log_table);
    postgres_derived_name(s, "_notes_expires_idx", index);
    snprintf(sql, sizeof sql, "CREATE TABLE IF NOT EXISTS %s (name text NOT NULL PRIMARY KEY, "
             "value text NOT NULL, expires_at bigint); CREATE INDEX IF NOT EXISTS \"%s\" ON %s "
             "(expires_at); CREATE TABLE IF NOT EXISTS %s (seq bigint NOT NULL PRIMARY KEY, "
             "entry text NOT NULL)", s->qnotes, index, s->qnotes, s->qlog);
    const char *saved = s->subject;
    s->subject = s->notes_table;
    int rc = postgres_begin_locked(s, s->schema_key, "the schema lock", NULL, NULL, err);
    if (rc == TS_OK)
        rc = postgres_run_text(s, sql, "creating the notes and log tables", NULL, err);
    rc = postgres_end_locked(s, rc, err);
    s->subject = saved;
    if (rc == TS_OK)
        s->host->log(s->ctx, TS_LOG_INFO, "made tables %s.%s and %s.%s on %s for the notes "
                     "and the refresh log", s->schema, s->notes_table, s->schema,
                     s->log_table, s->where);
    return rc;
}

int postgres_build_notes_sql(struct pg_store *s, ts_error *err)
{
    const char *n = s->qnotes, *l = s->qlog;
    int ok = 1;

    for (int k = ST_NOTE_SET; k < ST_COUNT; k++) {
        free(s->sql[k]);
        s->sql[k] = NULL;
    }
    /* The write and the housekeeping in one statement. */
    ok &= asprintf(&s->sql[ST_NOTE_SET], "WITH gone AS (DELETE FROM %s WHERE expires_at <= "
                   "$4::bigint AND name <> $1) INSERT INTO %s (name, value, expires_at) VALUES "
                   "($1, $2, $3::bigint) ON CONFLICT (name) DO UPDATE SET value = "
                   "EXCLUDED.value, expires_at = EXCLUDED.expires_at", n, n) > 0;
    ok &= asprintf(&s->sql[ST_NOTE_GET], "SELECT value FROM %s WHERE name = $1 AND "
                   "(expires_at IS NULL OR expires_at > $2::bigint)", n) > 0;
    ok &= asprintf(&s->sql[ST_NOTE_DELETE], "DELETE FROM %s WHERE name = $1", n) > 0;
    ok &= asprintf(&s->sql[ST_LOG_INSERT], "WITH added AS (INSERT INTO %s (seq, entry) SELECT "
                   "COALESCE(max(seq), 0) + 1, $1 FROM %s RETURNING seq) DELETE FROM %s WHERE "
                   "seq <= (SELECT seq FROM added) - $2::bigint", l, l, l) > 0;
    ok &= asprintf(&s->sql[ST_LOG_CLEAR], "DELETE FROM %s", l) > 0;
    ok &= asprintf(&s->sql[ST_LOG_PAGE], "SELECT seq, entry FROM %s WHERE seq > $1::bigint "
                   "ORDER BY seq LIMIT " XSTR(SQL_LOG_PAGE), l) > 0;
    return ok ? TS_OK : s->host->error(err, TS_ERR_NOMEM, "out of memory");
}

/* Runs a statement on a table beside the token table: *missing is set,
 * and TS_OK returned, when that table is not there. */
static int run_side(struct pg_store *s, enum stmt_kind kind, const char *const *p, int n,
                    const char *doing, PGresult **res, int *missing, ts_error *err)
{
    ts_error why = { 0 };
    int rc = postgres_run(s, kind, p, n, doing, res, &why);

    *missing = rc != TS_OK && !s->lost && strcmp(s->sqlstate, "42P01") == 0;
    if (rc == TS_OK || *missing)
        return TS_OK;
    if (err)
        *err = why;
    return rc;
}

/* As run_side, making the tables when they are not there. */
static int run_or_create(struct pg_store *s, enum stmt_kind kind, const char *const *p, int n,
                         const char *doing, ts_error *err)
{
    int missing, rc = run_side(s, kind, p, n, doing, NULL, &missing, err);

    if (rc == TS_OK && missing && (rc = create_tables(s, err)) == TS_OK)
        rc = run_side(s, kind, p, n, doing, NULL, &missing, err);
    if (rc == TS_OK && missing)
        rc = s->host->error(err, TS_ERR_BACKEND, "%s: table %s.%s went away as it was made "
                            "(dropped at once by another process?)", s->where, s->schema,
                            s->subject ? s->subject : s->table);
    return rc;
}

/* Runs op on the notes' or the log's table, which messages then name. */
static int on_table(struct pg_store *s, const char *table, int replay, int writing,
                    int (*op)(struct pg_store *, void *, ts_error *), void *arg, ts_error *err)
{
    const char *saved = s->subject;    /* a log_walk callback's call nests */

    s->subject = table;
    int rc = postgres_with_connection(s, replay, writing, op, arg, err);
    s->subject = saved;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Notes                                                               */
/* ------------------------------------------------------------------ */

static int check_name(struct pg_store *s, const char *name, ts_error *err)
{
    size_t n = strlen(name);

    if (n > NOTE_NAME_MAX)
        return s->host->error(err, TS_ERR_INVALID, "%s: table %s: note name '%.40s...' is "
                              "%zu bytes, longer than the %d the table's key takes", s->where,
                              s->notes_table, name, n, NOTE_NAME_MAX);
    return TS_OK;
}

static int do_note_set(struct pg_store *s, void *arg, ts_error *err)
{
    struct sql_note_args *a = arg;
    char expires[24], now[24];
    int missing;

    if (!a->value) {          /* no table: no note to remove */
        const char *p[1] = { a->name };
        return run_side(s, ST_NOTE_DELETE, p, 1, "removing a note", NULL, &missing, err);
    }
    int64_t t = sql_wall_ms();
    snprintf(expires, sizeof expires, "%" PRId64, t + a->ttl_ms);
    snprintf(now, sizeof now, "%" PRId64, t);
    const char *p[4] = { a->name, a->value, a->ttl_ms > 0 ? expires : NULL, now };
    /* Two writers clearing the same expired notes may deadlock; the
     * statement is then rolled back whole, so it is simply run again. */
    for (int attempt = 0;; attempt++) {
        int rc = run_or_create(s, ST_NOTE_SET, p, 4, "writing a note", err);
        if (rc != TS_ERR_BUSY || s->lost || strcmp(s->sqlstate, "40P01") != 0 || attempt == 4)
            return rc;
    }
}

static int do_note_get(struct pg_store *s, void *arg, ts_error *err)
{
    struct sql_note_args *a = arg;
    char now[24];
    PGresult *res;
    int missing;

    snprintf(now, sizeof now, "%" PRId64, sql_wall_ms());
    const char *p[2] = { a->name, now };
    int rc = run_side(s, ST_NOTE_GET, p, 2, "reading a note", &res, &missing, err);
    if (rc != TS_OK || missing)
        return rc == TS_OK ? TS_NOT_FOUND : rc;
    if (PQntuples(res) == 0)
        rc = TS_NOT_FOUND;
    else {
        rc = sql_note_copy(s->host, a, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0),
                           s->where, s->schema, s->notes_table, err);
    }
    postgres_clear_result(res);
    return rc;
}

int postgres_note_set(void *state, const char *name, const char *value, int64_t ttl_ms,
                      ts_error *err)
{
    struct pg_store *s = state;
    struct sql_note_args a = { .name = name, .value = value, .ttl_ms = ttl_ms };
    int rc = check_name(s, name, err);

    if (rc != TS_OK)
        return rc;
    return on_table(s, s->notes_table, 1, 1, do_note_set, &a, err);    /* the same note again */
}

int postgres_note_get(void *state, const char *name, char *value, size_t size, ts_error *err)
{
    struct pg_store *s = state;
    struct sql_note_args a = { .name = name, .out = value, .size = size };
    int rc = check_name(s, name, err);

    if (rc != TS_OK)
        return rc;
    return on_table(s, s->notes_table, 1, 0, do_note_get, &a, err);
}

/* ------------------------------------------------------------------ */
/* The log                                                             */
/* ------------------------------------------------------------------ */

/* One append under the log's lock, in one transaction. */
static int append_locked(struct pg_store *s, struct sql_log_args *a, ts_error *err)
{
    char keep[24];
    const char *p[2] = { a->entry, keep };
    PGresult *res;
    int rc = postgres_begin_locked(s, s->log_key, "the log's lock", NULL, NULL, err);

    snprintf(keep, sizeof keep, "%zu", a->keep);
    if (rc == TS_OK)
        rc = postgres_run(s, ST_LOG_INSERT, p, 2, "appending to the log", &res, err);
    if (rc == TS_OK)
        postgres_clear_result(res);
    return postgres_end_locked(s, rc, err);
}

static int do_log_append(struct pg_store *s, void *arg, ts_error *err)
{
    struct sql_log_args *a = arg;
    int missing;

    if (a->keep == 0)         /* keep none: nothing to append, or to make */
        return run_side(s, ST_LOG_CLEAR, NULL, 0, "emptying the log", NULL, &missing, err);
    for (int attempt = 0;; attempt++) {
        s->sqlstate[0] = '\0';
        int rc = append_locked(s, a, err);
        /* The tables are made, when they are not there, after the failed
         * transaction, and the append made again. */
        if (rc == TS_OK || s->lost || strcmp(s->sqlstate, "42P01") != 0 || attempt > 0)
            return rc;
        if ((rc = create_tables(s, err)) != TS_OK)
            return rc;
    }
}

/* Copies up to SQL_LOG_PAGE entries after a->after out of the server, then
 * hands them over. *more is 0 after the last page. */
static int walk_page(struct pg_store *s, struct sql_log_args *a, int *more, ts_error *err)
{
    char after[24], *entries[SQL_LOG_PAGE];
    long long seqs[SQL_LOG_PAGE];
    const char *p[1] = { after };
    PGresult *res;
    int n = 0, missing;

    snprintf(after, sizeof after, "%lld", a->after);
    int rc = run_side(s, ST_LOG_PAGE, p, 1, "reading the log", &res, &missing, err);
    *more = 0;
    if (rc != TS_OK || missing)
        return rc;
    for (; n < PQntuples(res) && n < SQL_LOG_PAGE; n++) {
        seqs[n] = strtoll(PQgetvalue(res, n, 0), NULL, 10);
        if (!(entries[n] = strdup(PQgetvalue(res, n, 1)))) {
            rc = s->host->error(err, TS_ERR_NOMEM, "out of memory");
            break;
        }
    }
    postgres_clear_result(res);
    return sql_log_hand_over(a, entries, seqs, n, rc, more);
}

static int do_log_walk(struct pg_store *s, void *arg, ts_error *err)
{
    int more = 1, rc = TS_OK;

    while (rc == TS_OK && more)
        rc = walk_page(s, arg, &more, err);
    return rc;
}

int postgres_log_append(void *state, const char *entry, size_t keep, ts_error *err)
{
    struct pg_store *s = state;
    struct sql_log_args a = { .entry = entry, .keep = keep };

    /* Not replayed: an append whose COMMIT's reply was lost may be in. */
    return on_table(s, s->log_table, 0, 1, do_log_append, &a, err);
}

int postgres_log_walk(void *state, int (*cb)(const char *entry, void *userdata), void *userdata,
                      ts_error *err)
{
    struct pg_store *s = state;
    struct sql_log_args a = { .cb = cb, .userdata = userdata };

    return on_table(s, s->log_table, 1, 0, do_log_walk, &a, err);
}
