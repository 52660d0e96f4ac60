/*
 * plugins/mysql/notes.c - the notes and the refresh log the OAuth client
 * keeps beside the tokens (note_set, note_get, log_append, log_walk), in
 * two tables of their own, so that every process on every host sharing
 * the store sees a failed refresh's backoff, the requests spent of a
 * token's budget and the log of refreshes. The token table, the SDK's,
 * is never touched: not a column, not a row.
 *
 *   <table>_notes: name varchar(191) primary key, value text,
 *                  expires_at bigint (NULL: never), indexed
 *   <table>_log:   seq bigint auto_increment primary key, entry text
 *
 * Named after the token table, so several stores in one database keep
 * apart (options.c shortens a name that would pass MySQL's 64 characters).
 * utf8mb4 with binary collation: names compare byte for byte, but for
 * trailing spaces, which MySQL's comparison ignores, so a name ending in
 * one is refused rather than taken for another.
 *
 * The tables are made on the first write that needs them (a statement
 * the server refuses for want of its table) and never by a read: a read
 * of a table that is not there is an empty one, so a read-only handle
 * makes nothing. All through prepared statements, every value bound.
 *
 * expires_at is in ms since the epoch by the writing host's clock, which
 * the OAuth client's own times in its notes go by as well. An expired
 * note is not found, and removed by the next note_set (lazily: a DELETE
 * on the expires_at index).
 *
 * Each append takes the log's named lock (GET_LOCK) and, in one
 * transaction, inserts the entry and deletes all but the newest `keep`
 * by seq. The lock makes seq order the order of appends and the cap
 * exact with processes appending at once: two transactions that cannot
 * see each other's insert would each keep `keep` and leave one more.
 * An entry's seq is the largest plus one, read under the lock, not the
 * AUTO_INCREMENT counter's next, which skips numbers (after a rolled
 * back insert, or by auto_increment_increment on a cluster): with no
 * gaps the newest `keep` are the seqs above the new one minus keep, so
 * the prune is a range of the primary key, where finding the newest
 * `keep` would read them all on every append (a log of 100,000 took
 * 40 ms an append that way). A row deleted by hand from the middle
 * leaves one entry fewer kept, until it has passed.
 *
 * log_walk reads pages by seq and copies each out before its callbacks
 * run, so a callback may use the store, and a walk replayed after a lost
 * connection goes on after the last entry it handed over.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <mysql.h>
#include <mysqld_error.h>
#include "mysql_store.h"

#define NOTE_NAME_MAX 191              /* the name column's characters */
#define STR(x) #x
#define XSTR(x) STR(x)

/* ------------------------------------------------------------------ */
/* The tables and their SQL                                            */
/* ------------------------------------------------------------------ */

#define SIDE_OPTIONS " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

static int create_tables(struct mysql_store *s, ts_error *err)
{
    char sql[512];
    int rc;

    if (s->open_flags & TS_OPEN_READ_ONLY)
        return s->host->error(err, TS_ERR_READ_ONLY, "%s: the store is open read-only: "
                              "tables %s and %s are not made", s->where, s->notes_table,
                              s->log_table);
    const char *saved = s->subject;
    s->subject = s->notes_table;
    snprintf(sql, sizeof sql, "CREATE TABLE IF NOT EXISTS `%s` (name varchar("
             XSTR(NOTE_NAME_MAX) ") NOT NULL, value text NOT NULL, expires_at bigint NULL, "
             "PRIMARY KEY (name), KEY expires_at (expires_at))" SIDE_OPTIONS, s->notes_table);
    rc = mysql_run_once(s, sql, "creating the notes table", err);
    if (rc == TS_OK) {
        s->subject = s->log_table;
        snprintf(sql, sizeof sql, "CREATE TABLE IF NOT EXISTS `%s` (seq bigint NOT NULL "
                 "AUTO_INCREMENT, entry text NOT NULL, PRIMARY KEY (seq))" SIDE_OPTIONS,
                 s->log_table);
        rc = mysql_run_once(s, sql, "creating the log table", err);
    }
    s->subject = saved;
    if (rc == TS_OK)
        s->host->log(s->ctx, TS_LOG_INFO, "made tables %s.%s and %s.%s on %s for the notes "
                     "and the refresh log", s->database, s->notes_table, s->database,
                     s->log_table, s->where);
    return rc;
}

int mysql_build_notes_sql(struct mysql_store *s, ts_error *err)
{
    const char *n = s->notes_table, *l = s->log_table;
    int ok = 1;

    /* The values twice: VALUES() in an upsert is deprecated in MySQL 8. */
    ok &= asprintf(&s->sql[ST_NOTE_SET], "INSERT INTO `%s` (name, value, expires_at) VALUES "
                   "(?, ?, ?) ON DUPLICATE KEY UPDATE value = ?, expires_at = ?", n) > 0;
    ok &= asprintf(&s->sql[ST_NOTE_GET], "SELECT value FROM `%s` WHERE name = ? AND "
                   "(expires_at IS NULL OR expires_at > ?)", n) > 0;
    ok &= asprintf(&s->sql[ST_NOTE_DELETE], "DELETE FROM `%s` WHERE name = ?", n) > 0;
    ok &= asprintf(&s->sql[ST_NOTE_EXPIRE], "DELETE FROM `%s` WHERE expires_at <= ?", n) > 0;
    ok &= asprintf(&s->sql[ST_LOG_LAST], "SELECT MAX(seq) FROM `%s`", l) > 0;
    ok &= asprintf(&s->sql[ST_LOG_INSERT], "INSERT INTO `%s` (seq, entry) VALUES (?, ?)",
                   l) > 0;
    ok &= asprintf(&s->sql[ST_LOG_PRUNE], "DELETE FROM `%s` WHERE seq <= ?", l) > 0;
    ok &= asprintf(&s->sql[ST_LOG_CLEAR], "DELETE FROM `%s`", l) > 0;
    ok &= asprintf(&s->sql[ST_LOG_PAGE], "SELECT seq, entry FROM `%s` WHERE seq > ? ORDER BY "
                   "seq LIMIT " XSTR(SQL_LOG_PAGE), l) > 0;
    return ok ? TS_OK : s->host->error(err, TS_ERR_NOMEM, "out of memory");
}

/* Runs a statement on a table beside the token table: *missing is set,
 * and TS_OK returned, when that table is not there. */
static int run_side(struct mysql_store *s, enum stmt_kind kind, const struct param *p,
                    unsigned n, const char *doing, int *missing, ts_error *err)
{
    ts_error why = { 0 };

    s->last_errno = 0;
    int rc = mysql_run(s, kind, p, n, doing, &why);
    *missing = rc != TS_OK && !s->lost && s->last_errno == ER_NO_SUCH_TABLE;
    if (rc == TS_OK || *missing)
        return TS_OK;
    if (err)
        *err = why;
    return rc;
}

/* As run_side, making the tables when they are not there. */
static int run_or_create(struct mysql_store *s, enum stmt_kind kind, const struct param *p,
                         unsigned n, const char *doing, ts_error *err)
{
    int missing, rc = run_side(s, kind, p, n, doing, &missing, err);

    if (rc == TS_OK && missing && (rc = create_tables(s, err)) == TS_OK)
        rc = run_side(s, kind, p, n, doing, &missing, err);
    if (rc == TS_OK && missing)
        rc = s->host->error(err, TS_ERR_BACKEND, "%s: table %s.%s went away as it was made "
                            "(dropped at once by another process?)", s->where, s->database,
                            s->subject ? s->subject : s->table);
    return rc;
}

/* A string parameter that keeps "" a string (str_param makes it NULL). */
static struct param text_param(const char *v)
{
    return (struct param){ .v = v, .len = strlen(v) };
}

/* Runs op on the notes' or the log's table, which messages then name. */
static int on_table(struct mysql_store *s, const char *table, int replay, int writing,
                    int (*op)(struct mysql_store *, void *, ts_error *), void *arg, ts_error *err)
{
    const char *saved = s->subject;    /* a log_walk callback's call nests */

    s->subject = table;
    int rc = mysql_with_connection(s, replay, writing, op, arg, err);
    s->subject = saved;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Notes                                                               */
/* ------------------------------------------------------------------ */

static int check_name(struct mysql_store *s, const char *name, ts_error *err)
{
    size_t n = strlen(name);

    if (n > NOTE_NAME_MAX)
        return s->host->error(err, TS_ERR_INVALID, "%s: table %s: note name '%.40s...' is "
                              "%zu bytes, longer than the %d the table holds", s->where,
                              s->notes_table, name, n, NOTE_NAME_MAX);
    if (n > 0 && name[n - 1] == ' ')
        return s->host->error(err, TS_ERR_INVALID, "%s: table %s: note name '%s' ends in a "
                              "space, which MySQL's comparison ignores (it would be the note "
                              "without it)", s->where, s->notes_table, name);
    return TS_OK;
}

static int do_note_set(struct mysql_store *s, void *arg, ts_error *err)
{
    struct sql_note_args *a = arg;
    struct param name = text_param(a->name);
    int missing, rc;

    if (!a->value)            /* no table: no note to remove */
        return run_side(s, ST_NOTE_DELETE, &name, 1, "removing a note", &missing, err);
    int64_t now = sql_wall_ms();
    struct param expires = a->ttl_ms > 0 ? num_param(now + a->ttl_ms) : str_param(NULL);
    struct param p[5] = { name, text_param(a->value), expires, text_param(a->value), expires };
    /* Upserts of one name at once can deadlock in InnoDB; the statement
     * is then rolled back whole, so it is simply run again. */
    for (int attempt = 0;; attempt++) {
        rc = run_or_create(s, ST_NOTE_SET, p, 5, "writing a note", err);
        if (rc != TS_ERR_BUSY || s->lost || s->last_errno != ER_LOCK_DEADLOCK || attempt == 4)
            break;
    }
    if (rc != TS_OK)
        return rc;
    /* Housekeeping: a failure here loses nothing, but a lost connection
     * is the caller's to hear (the note is set again on the replay). */
    ts_error ignored;
    struct param cut = num_param(now);
    int housekeeping = run_side(s, ST_NOTE_EXPIRE, &cut, 1, "removing expired notes",
                                &missing, &ignored);
    if (housekeeping != TS_OK && s->lost) {
        if (err)
            *err = ignored;
        return housekeeping;
    }
    return TS_OK;
}

static int do_note_get(struct mysql_store *s, void *arg, ts_error *err)
{
    struct sql_note_args *a = arg;
    struct param p[2] = { text_param(a->name), num_param(sql_wall_ms()) };
    int missing, rc = run_side(s, ST_NOTE_GET, p, 2, "reading a note", &missing, err);

    if (rc != TS_OK || missing)
        return rc == TS_OK ? TS_NOT_FOUND : rc;
    MYSQL_STMT *st = s->stmt[ST_NOTE_GET];
    rc = mysql_fetch(s, st, 1, err);
    if (rc == TS_OK) {
        size_t len = s->col_null[0] ? 0 : s->col_len[0];
        rc = sql_note_copy(s->host, a, s->col[0], len, s->where, s->database, s->notes_table,
                           err);
    }
    mysql_stmt_free_result(st);
    return rc;
}

int mysql_note_set(void *state, const char *name, const char *value, int64_t ttl_ms,
                   ts_error *err)
{
    struct mysql_store *s = state;
    struct sql_note_args a = { .name = name, .value = value, .ttl_ms = ttl_ms };
    int rc = check_name(s, name, err);

    if (rc != TS_OK)
        return rc;
    return on_table(s, s->notes_table, 1, 1, do_note_set, &a, err);    /* the same note again */
}

int mysql_note_get(void *state, const char *name, char *value, size_t size, ts_error *err)
{
    struct mysql_store *s = state;
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
static int append_locked(struct mysql_store *s, struct sql_log_args *a, ts_error *err)
{
    char text[32];
    int is_null = 1, rc = mysql_writer_lock(s, s->log_lock, "the log's lock", err);

    if (rc != TS_OK)
        return rc;
    rc = mysql_run(s, ST_BEGIN, NULL, 0, "starting a transaction", err);
    if (rc == TS_OK)
        rc = mysql_run(s, ST_LOG_LAST, NULL, 0, "reading the log's last entry", err);
    if (rc == TS_OK)
        rc = mysql_fetch_scalar(s, s->stmt[ST_LOG_LAST], text, sizeof text, &is_null, err);
    long long seq = rc == TS_OK && !is_null ? strtoll(text, NULL, 10) + 1 : 1;
    struct param p[2] = { num_param(seq), text_param(a->entry) };
    if (rc == TS_OK)
        rc = mysql_run(s, ST_LOG_INSERT, p, 2, "appending to the log", err);
    if (rc == TS_OK && (size_t)seq > a->keep) {
        struct param cut = num_param(seq - (long long)a->keep);
        rc = mysql_run(s, ST_LOG_PRUNE, &cut, 1, "dropping the log's oldest entries", err);
    }
    return mysql_writer_unlock(s, s->log_lock, 1, rc, err);
}

static int do_log_append(struct mysql_store *s, void *arg, ts_error *err)
{
    struct sql_log_args *a = arg;
    int missing;

    if (a->keep == 0)         /* keep none: nothing to append, or to make */
        return run_side(s, ST_LOG_CLEAR, NULL, 0, "emptying the log", &missing, err);
    for (int attempt = 0;; attempt++) {
        s->last_errno = 0;
        int rc = append_locked(s, a, err);
        /* The tables are made, when they are not there, outside the lock
         * and the transaction (DDL would end it), and the append made
         * again. */
        if (rc == TS_OK || s->lost || s->last_errno != ER_NO_SUCH_TABLE || attempt > 0)
            return rc;
        if ((rc = create_tables(s, err)) != TS_OK)
            return rc;
    }
}

/* Copies up to SQL_LOG_PAGE entries after a->after out of the server, then
 * hands them over. *more is 0 after the last page. */
static int walk_page(struct mysql_store *s, struct sql_log_args *a, int *more, ts_error *err)
{
    struct param after = num_param(a->after);
    char *entries[SQL_LOG_PAGE];
    long long seqs[SQL_LOG_PAGE];
    int n = 0, missing, rc = run_side(s, ST_LOG_PAGE, &after, 1, "reading the log", &missing,
                                      err);

    *more = 0;
    if (rc != TS_OK || missing)
        return rc;
    MYSQL_STMT *st = s->stmt[ST_LOG_PAGE];
    while (n < SQL_LOG_PAGE && (rc = mysql_fetch(s, st, 2, err)) == TS_OK) {
        char seq[24];
        snprintf(seq, sizeof seq, "%.*s", (int)s->col_len[0], s->col[0]);
        seqs[n] = strtoll(seq, NULL, 10);
        if (!(entries[n] = strndup(s->col[1], s->col_null[1] ? 0 : s->col_len[1]))) {
            rc = s->host->error(err, TS_ERR_NOMEM, "out of memory");
            break;
        }
        n++;
    }
    mysql_stmt_free_result(st);
    if (rc == TS_NOT_FOUND)
        rc = TS_OK;
    return sql_log_hand_over(a, entries, seqs, n, rc, more);
}

static int do_log_walk(struct mysql_store *s, void *arg, ts_error *err)
{
    int more = 1, rc = TS_OK;

    while (rc == TS_OK && more)
        rc = walk_page(s, arg, &more, err);
    return rc;
}

int mysql_log_append(void *state, const char *entry, size_t keep, ts_error *err)
{
    struct mysql_store *s = state;
    struct sql_log_args a = { .entry = entry, .keep = keep };

    /* Not replayed: an append whose COMMIT's reply was lost may be in. */
    return on_table(s, s->log_table, 0, 1, do_log_append, &a, err);
}

int mysql_log_walk(void *state, int (*cb)(const char *entry, void *userdata), void *userdata,
                   ts_error *err)
{
    struct mysql_store *s = state;
    struct sql_log_args a = { .cb = cb, .userdata = userdata };

    return on_table(s, s->log_table, 1, 0, do_log_walk, &a, err);
}
