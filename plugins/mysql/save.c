/*
 * plugins/mysql/save.c - the mysql backend's writing: save_token and
 * save_tokens by the host's plan (a guarded UPDATE of the row it chose,
 * or an INSERT with the next id under the table's write lock), and the
 * deletes. Every write reads the server's answer to its last step (the
 * statement's own reply in autocommit, the COMMIT of a batch, the rows
 * an INSERT, UPDATE or DELETE says it touched) before it tells the caller
 * the save is stored; a server that cannot store (its disk or tablespace
 * full) is an error that says so, and nothing was saved.
 *
 * Saving. An update of a stored row that keeps its user name (a refresh,
 * the hot path) is one lookup and one UPDATE of the changed columns in
 * autocommit, guarded by the row's id and user name: if another process
 * changed that row in between, the guard fails and the save starts over
 * on the locked path. Every other save (an insert, a rename, a bulk save)
 * takes the table's write lock, GET_LOCK(name, wait), then runs the
 * host's save_plan and the write in one transaction, so no two processes
 * insert the same user or the same id.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mysql.h>
#include <tokenstore/backend.h>
#include "mysql_store.h"

/* UPDATE of the columns in mask, guarded: the row must still have the id
 * and the user name it had when it was read. */
static int update_statement(struct mysql_store *s, unsigned mask, MYSQL_STMT **out,
                            ts_error *err)
{
    char sql[768], set[512];

    if (s->update[mask]) {
        *out = s->update[mask];
        return TS_OK;
    }
    sql_set_list(s->host, mask, SQL_MARKS_PLAIN, 0, set, sizeof set);
    /* The user name as we read it, in the connection's utf8mb4 and byte
     * for byte, whatever the column's character set and collation. */
    snprintf(sql, sizeof sql, "UPDATE `%s` SET %s WHERE id = ? AND id = BINARY ? AND "
             "CONVERT(COALESCE(user_name, '') USING utf8mb4) = BINARY ?", s->table, set);
    return mysql_get_stmt(s, &s->update[mask], sql, out, err);
}

/* How many rows the statement says it wrote, into *n: an answer outside
 * [min, max] (no count at all, or an id on several rows) is an error, so a
 * save is never taken for stored on an answer that does not say so. */
static int rows_touched(struct mysql_store *s, MYSQL_STMT *st, unsigned min, unsigned max,
                        const char *doing, int *n, ts_error *err)
{
    my_ulonglong rows = mysql_stmt_affected_rows(st);

    *n = 0;
    if (rows == (my_ulonglong)-1)
        return s->host->error(err, TS_ERR_BACKEND, "%s: table %s.%s: %s: the server's reply "
                              "says no row count; the write is not taken for done",
                              s->where, s->database, s->table, doing);
    if (rows < min || rows > max)
        return s->host->error(err, TS_ERR_BACKEND, "%s: table %s.%s: %s: the server wrote "
                              "%llu rows where %s%u %s expected (is id the primary key?)",
                              s->where, s->database, s->table, doing, (unsigned long long)rows,
                              min == max ? "" : "at most ", max, max == 1 ? "was" : "were");
    *n = (int)rows;
    return TS_OK;
}

/* Writes the resolved token over `row`, the stored row the plan chose, and
 * no other. *done is 0 when the guard found the row changed since it was
 * read. */
static int update_row(struct mysql_store *s, const ts_token *token, const ts_token *row,
                      unsigned mask, int *done, ts_error *err)
{
    const ts_host *h = s->host;
    struct param p[TS_FIELD_COUNT + 2];
    unsigned n = 0;
    MYSQL_STMT *st;

    *done = 1;
    if (mask == 0)
        return TS_OK;
    int rc = update_statement(s, mask, &st, err);
    if (rc != TS_OK)
        return rc;
    for (int f = 1; f < TS_FIELD_COUNT; f++)
        if (mask & SQL_COLUMN(f))
            p[n++] = str_param(h->token_get(token, (ts_field)f));
    p[n++] = str_param(h->token_get(row, TS_FIELD_ID));
    p[n++] = str_param(h->token_get(row, TS_FIELD_ID));
    /* The guard compares with '': bind a user name that is absent as ''. */
    p[n] = str_param(h->token_get(row, TS_FIELD_USER_NAME));
    if (!p[n].v)
        p[n].v = "";
    n++;
    rc = mysql_execute(s, st, p, n, "updating a token", err);
    if (rc == TS_OK)
        rc = rows_touched(s, st, 0, 1, "updating a token", done, err);
    return rc;
}

/* Gives the token the host's next id, from the largest numeric id, read
 * once per locked save (we hold the write lock, so only our own inserts
 * move it). */
static int next_id(struct mysql_store *s, ts_token *token, ts_error *err)
{
    if (!s->have_max) {
        char text[48];
        int is_null, rc = mysql_run(s, ST_MAX_ID, NULL, 0, "reading the largest id", err);
        if (rc == TS_OK)
            rc = mysql_fetch_scalar(s, s->stmt[ST_MAX_ID], text, sizeof text, &is_null, err);
        if (rc != TS_OK)
            return rc;
        s->max_id = is_null || text[0] == '-' ? 0 : strtoull(text, NULL, 10);
        s->have_max = 1;
    }
    int rc = s->host->next_id(token, s->max_id, err);
    if (rc == TS_ERR_BACKEND)
        s->host->error_prefix(err, rc, "%s: table %s", s->where, s->table);
    return rc;
}

static int insert_row(struct mysql_store *s, ts_token *token, int *id_assigned, ts_error *err)
{
    const ts_host *h = s->host;
    struct param p[TS_FIELD_COUNT];
    int rc = TS_OK;

    if (!*h->token_get(token, TS_FIELD_ID)) {
        rc = next_id(s, token, err);
        *id_assigned = rc == TS_OK;
    }
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        p[f] = str_param(h->token_get(token, (ts_field)f));
    if (rc == TS_OK)
        rc = mysql_run(s, ST_INSERT, p, TS_FIELD_COUNT, "inserting a token", err);
    if (rc == TS_OK) {
        int one;
        rc = rows_touched(s, s->stmt[ST_INSERT], 1, 1, "inserting a token", &one, err);
    }
    if (rc == TS_OK && s->have_max) {
        uint64_t id;
        if (h->id_parse(h->token_get(token, TS_FIELD_ID), &id) == TS_OK && id > s->max_id)
            s->max_id = id;
    }
    return rc;
}

/* save_one's answer when the save must go through the locked path. */
#define NEEDS_LOCK (-1)
/* ... and when a locked save found its row changed under it. */
#define ROW_CHANGED (-2)

/*
 * Resolves one token by the host's rules and writes it. Unlocked, only an
 * update that keeps the row's user name is written (guarded); anything
 * else answers NEEDS_LOCK. Locked (inside save_locked), everything is.
 */
static int save_one(struct mysql_store *s, ts_token *token, int locked, int *id_assigned,
                    ts_error *err)
{
    int rc = s->host->save_plan(token, mysql_lookup_row, s, s->row, err);

    if (rc == TS_OK) {
        unsigned mask = sql_changed_columns(s->host, token, s->row);
        int done;
        if (!locked && (mask & SQL_COLUMN(TS_FIELD_USER_NAME)))
            rc = NEEDS_LOCK;
        else if ((rc = update_row(s, token, s->row, mask, &done, err)) == TS_OK && !done)
            rc = locked ? ROW_CHANGED : NEEDS_LOCK;
    } else if (rc == TS_NOT_FOUND) {
        rc = locked ? insert_row(s, token, id_assigned, err) : NEEDS_LOCK;
    }
    s->host->token_clear(s->row);
    return rc;
}

/*
 * Saves tokens in one transaction under the table's write lock: all of
 * them or none. The write lock is what makes "largest id plus one" and
 * "one row per user" hold across processes: every insert takes it.
 */
static int save_locked(struct mysql_store *s, ts_token *const *tokens, size_t n, int *assigned,
                       size_t *stopped, ts_error *err)
{
    int rc = mysql_writer_lock(s, s->write_lock, "the table's write lock", err);
    size_t i = 0;

    if (rc != TS_OK)
        return rc;
    /* One token is one statement, atomic by itself in autocommit. */
    int txn = n > 1;
    if (txn)
        rc = mysql_run(s, ST_BEGIN, NULL, 0, "starting a transaction", err);
    s->have_max = 0;
    for (; rc == TS_OK && i < n; i++)
        rc = save_one(s, tokens[i], 1, &assigned[i], err);
    *stopped = rc != TS_OK && i > 0 ? i - 1 : SIZE_MAX;
    s->have_max = 0;
    return mysql_writer_unlock(s, s->write_lock, txn, rc, err);
}

struct save_args {
    ts_token *const *tokens;
    ts_token **orig;          /* the tokens as the caller gave them */
    int *assigned;
    size_t n;
    int batch;
};

/* Puts the tokens back as they were given: a resolve fills fields in,
 * and a save that starts over must resolve the caller's token. */
static int restore(struct mysql_store *s, struct save_args *a, ts_error *err)
{
    for (size_t i = 0; i < a->n; i++) {
        a->assigned[i] = 0;
        if (s->host->token_copy(a->tokens[i], a->orig[i]) != TS_OK)
            return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    }
    return TS_OK;
}

static int do_save(struct mysql_store *s, void *arg, ts_error *err)
{
    struct save_args *a = arg;
    size_t stopped = SIZE_MAX;       /* the token a batch failed at */
    int rc = restore(s, a, err);

    /* The hot path: an update of a stored row, no lock, no transaction. */
    if (rc == TS_OK && !a->batch) {
        rc = save_one(s, a->tokens[0], 0, &a->assigned[0], err);
        if (rc != NEEDS_LOCK)
            return rc;
        rc = restore(s, a, err);
    }
    for (int attempt = 0; rc == TS_OK && attempt < 3; attempt++) {
        rc = save_locked(s, a->tokens, a->n, a->assigned, &stopped, err);
        if (rc != ROW_CHANGED || !s->conn)
            break;
        rc = restore(s, a, err);
        if (rc == TS_OK)
            rc = ROW_CHANGED;
    }
    if (rc == ROW_CHANGED)
        rc = s->host->error(err, TS_ERR_BUSY, "%s: table %s.%s: other writers kept changing "
                            "the row while it was saved; nothing was saved", s->where,
                            s->database, s->table);
    if (rc != TS_OK && a->batch && !s->lost && stopped != SIZE_MAX)
        s->host->error_prefix(err, rc, "token %zu", stopped);
    return rc;
}

static int save_tokens(struct mysql_store *s, ts_token *const *tokens, size_t n, int batch,
                       ts_error *err)
{
    struct save_args a = { .tokens = tokens, .n = n, .batch = batch };
    int rc = TS_OK;

    a.assigned = calloc(n ? n : 1, sizeof *a.assigned);
    if (!a.assigned)
        rc = s->host->error(err, TS_ERR_NOMEM, "out of memory");
    else if (!(a.orig = sql_tokens_keep(s->host, tokens, n, err)))
        rc = TS_ERR_NOMEM;
    if (rc == TS_OK && n > 0)
        rc = mysql_with_connection(s, sql_replayable(s->host, tokens, n), 1, do_save, &a, err);
    /* A failed save leaves the caller's tokens as they were given. */
    sql_tokens_restore(s->host, a.orig, tokens, n, rc);
    free(a.assigned);
    return rc;
}

int mysql_save_token(void *state, ts_token *token, ts_error *err)
{
    return save_tokens(state, &token, 1, 0, err);
}

int mysql_save_tokens(void *state, ts_token *const *tokens, size_t n, ts_error *err)
{
    return save_tokens(state, tokens, n, 1, err);
}

struct stream_args {
    int (*next)(void *stream, ts_token **token, ts_error *err);
    void *stream;
};

/* A restore of any size: pulled a token at a time, saved in one
 * transaction under the write lock, all or none. A stream cannot be
 * pulled again, so nothing here starts over: a row another writer changed
 * meanwhile, or a lost connection, fails the whole of it. */
static int do_save_stream(struct mysql_store *s, void *arg, ts_error *err)
{
    struct stream_args *a = arg;
    ts_token *token;
    size_t i = 0;
    int assigned, rc = mysql_writer_lock(s, s->write_lock, "the table's write lock", err);

    if (rc != TS_OK)
        return rc;
    rc = mysql_run(s, ST_BEGIN, NULL, 0, "starting a transaction", err);
    s->have_max = 0;
    while (rc == TS_OK && (rc = a->next(a->stream, &token, err)) == TS_OK) {
        rc = save_one(s, token, 1, &assigned, err);
        if (rc == ROW_CHANGED)
            rc = s->host->error(err, TS_ERR_BUSY, "another writer changed its row while it "
                                "was saved; nothing was saved");
        if (rc != TS_OK && !s->lost)
            s->host->error_prefix(err, rc, "token %zu", i);
        i++;
    }
    if (rc == TS_NOT_FOUND)
        rc = TS_OK;
    s->have_max = 0;
    return mysql_writer_unlock(s, s->write_lock, 1, rc, err);
}

int mysql_save_stream(void *state, int (*next)(void *stream, ts_token **token, ts_error *err),
                      void *stream, ts_error *err)
{
    struct stream_args a = { next, stream };
    return mysql_with_connection(state, 0, 1, do_save_stream, &a, err);
}

static int do_delete(struct mysql_store *s, void *arg, ts_error *err)
{
    const char *id = arg;
    struct param p[2] = { str_param(id), str_param(id) };
    int deleted, rc = mysql_run(s, ST_DELETE_ONE, p, 2, "deleting a token", err);

    if (rc == TS_OK)
        rc = rows_touched(s, s->stmt[ST_DELETE_ONE], 0, 1, "deleting a token", &deleted, err);
    return rc == TS_OK && !deleted ? TS_NOT_FOUND : rc;
}

int mysql_delete_token(void *state, const char *id, ts_error *err)
{
    /* A replay of a delete that went through would say "not found". */
    return mysql_with_connection(state, 0, 1, do_delete, (void *)id, err);
}

static int do_delete_all(struct mysql_store *s, void *arg, ts_error *err)
{
    (void)arg;
    return mysql_run(s, ST_DELETE_ALL, NULL, 0, "deleting all tokens", err);
}

int mysql_delete_tokens(void *state, ts_error *err)
{
    return mysql_with_connection(state, 1, 1, do_delete_all, NULL, err);
}

