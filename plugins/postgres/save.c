/*
 * plugins/postgres/save.c - the postgres backend's writing: save_token,
 * save_tokens and save_stream by the host's plan, and the deletes. Every
 * write reads the server's answer to its last step (the statement's own
 * reply in autocommit, the COMMIT of a transaction, the rows a command
 * says it touched) before it tells the caller the save is stored.
 *
 * Saving, three ways, the cheapest that applies:
 *
 *  - A save by user name of a user already stored (a refresh, the hot
 *    path) is one statement, one round trip: it locks the user's row
 *    (FOR UPDATE), writes the token's fields over it and returns the row
 *    as it was. The host's save_plan is then run over that row, and
 *    decides as it always does: for a token with a user name and no id
 *    its contract is that row, filled with the token's fields, which is
 *    what the statement wrote. Were a later core ever to decide
 *    otherwise, the row is put back and the save goes the locked way. A
 *    user with no row, or with two (an SDK table may hold a user twice),
 *    changes nothing and goes the locked way.
 *  - Any other update that keeps the row's user name: the plan's lookups,
 *    then an UPDATE of the changed columns guarded by the row's id and
 *    user name; if another process changed that row in between, the
 *    guard fails and the save goes the locked way.
 *  - Everything else (an insert, a rename, a bulk save): a transaction
 *    holding the table's write lock, an advisory lock every insert takes,
 *    with the plan and the writes inside, so no two processes insert the
 *    same user or the same id.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pg_store.h"

#define OLD_COLUMNS "o.id, o.user_name, o.client_id, o.client_secret, o.refresh_token, "   \
                    "o.access_token, o.grant_token, o.expiry_time, o.redirect_url, "       \
                    "o.api_domain"


/* save_one's answer when the save must go through the locked path. */
#define NEEDS_LOCK (-1)
/* ... and when a locked save found its row changed under it. */
#define ROW_CHANGED (-2)

/* A token's value as a parameter: NULL (SQL NULL) when absent. */
static const char *param(const ts_host *h, const ts_token *t, ts_field f)
{
    const char *v = h->token_get(t, f);
    return *v ? v : NULL;
}

/* ------------------------------------------------------------------ */
/* The guarded UPDATE                                                  */
/* ------------------------------------------------------------------ */

/* Writes token's columns in mask over `row`, and no other row: the row
 * must still have the id and user name it had when it was read. *done is
 * 0 when the guard found it changed. */
static int update_row(struct pg_store *s, const ts_token *token, const ts_token *row,
                      unsigned mask, int *done, ts_error *err)
{
    const ts_host *h = s->host;
    const char *p[TS_FIELD_COUNT + 2];
    char set[512], sql[1024], name[24];
    int n = 0;
    long rows = 0;

    *done = 1;
    if (mask == 0)
        return TS_OK;
    sql_set_list(s->host, mask, SQL_MARKS_NUMBERED, 1, set, sizeof set);
    for (int f = 1; f < TS_FIELD_COUNT; f++)
        if (mask & SQL_COLUMN(f))
            p[n++] = param(h, token, (ts_field)f);
    p[n++] = h->token_get(row, TS_FIELD_ID);
    p[n++] = h->token_get(row, TS_FIELD_USER_NAME);       /* "" when absent */
    snprintf(sql, sizeof sql, "UPDATE %s SET %s WHERE id = $%d AND COALESCE(user_name, '') = "
             "$%d", s->qtable, set, n - 1, n);
    snprintf(name, sizeof name, "ts_u%u", mask);
    PGresult *res;
    int rc = postgres_run_named(s, name, sql, &s->prepared.update[mask / 32], mask % 32, p, n,
                                "updating a token", &res, err);
    if (rc == TS_OK)
        rc = postgres_rows_touched(s, res, 0, 1, "updating a token", &rows, err);
    postgres_clear_result(res);
    *done = rows == 1;
    return rc;
}

/* ------------------------------------------------------------------ */
/* The one-statement save                                              */
/* ------------------------------------------------------------------ */

/* The lookup save_plan runs after a one-statement save: the row it wrote
 * over, as it was, for the token's user name; anything else is a lookup
 * this way did not make, which sends the save the locked way. */
struct served {
    struct pg_store *s;
    const ts_token *old;
    int asked_more;
};

static int served_lookup(void *state, ts_field field, const char *value, ts_token *row,
                         ts_error *err)
{
    struct served *v = state;
    const ts_host *h = v->s->host;

    if (field == TS_FIELD_USER_NAME &&
        strcmp(value, h->token_get(v->old, TS_FIELD_USER_NAME)) == 0)
        return h->token_copy(row, v->old) == TS_OK
                   ? TS_OK : h->error(err, TS_ERR_NOMEM, "out of memory");
    v->asked_more = 1;
    return h->error(err, TS_ERR_UNSUPPORTED, "not looked up");
}

/* The token's fields a one-statement save sets: all it has but id and
 * user name. */
static unsigned quick_columns(const struct pg_store *s, const ts_token *token)
{
    unsigned mask = 0;

    for (int f = TS_FIELD_USER_NAME + 1; f < TS_FIELD_COUNT; f++)
        if (*s->host->token_get(token, (ts_field)f))
            mask |= SQL_COLUMN(f);
    return mask;
}

static int quick_statement(struct pg_store *s, unsigned mask, const ts_token *token,
                           PGresult **res, ts_error *err)
{
    const char *p[TS_FIELD_COUNT];
    char set[512], sql[1536], name[24];
    int n = 0;

    sql_set_list(s->host, mask, SQL_MARKS_NUMBERED, 2, set, sizeof set);
    p[n++] = s->host->token_get(token, TS_FIELD_USER_NAME);
    for (int f = TS_FIELD_USER_NAME + 1; f < TS_FIELD_COUNT; f++)
        if (mask & SQL_COLUMN(f))
            p[n++] = param(s->host, token, (ts_field)f);
    snprintf(sql, sizeof sql, "WITH o AS (SELECT " SQL_COLUMNS " FROM %s WHERE user_name = $1 FOR "
             "UPDATE) UPDATE %s AS t SET %s FROM o WHERE t.id = o.id AND (SELECT count(*) FROM "
             "o) = 1 RETURNING " OLD_COLUMNS, s->qtable, s->qtable, set);
    snprintf(name, sizeof name, "ts_q%u", mask);
    return postgres_run_named(s, name, sql, &s->prepared.quick[mask / 32], mask % 32, p, n,
                              "saving a token", res, err);
}

/* A save by user name in one statement (see the top): TS_OK with the
 * token filled as the plan fills it, NEEDS_LOCK when nothing was written
 * and the save must go the locked way, or an error. */
static int save_quick(struct pg_store *s, ts_token *token, ts_error *err)
{
    const ts_host *h = s->host;
    unsigned mask = quick_columns(s, token);
    PGresult *res;
    int done, rc = postgres_check_widths(s, token, err);

    if (rc == TS_OK)
        rc = quick_statement(s, mask, token, &res, err);
    if (rc != TS_OK)
        return rc;
    if (PQntuples(res) != 1) {
        postgres_clear_result(res);
        return NEEDS_LOCK;
    }
    rc = postgres_read_row(s, res, 0, 0, s->old, err);
    postgres_clear_result(res);
    struct served v = { s, s->old, 0 };
    if (rc == TS_OK)
        rc = h->save_plan(token, served_lookup, &v, s->row, err);
    if (rc != TS_OK || v.asked_more ||
        strcmp(h->token_get(s->row, TS_FIELD_ID), h->token_get(s->old, TS_FIELD_ID)) != 0) {
        /* The plan is not the row written over: put the row back. */
        rc = update_row(s, s->old, s->old, mask, &done, err);
        rc = rc == TS_OK ? NEEDS_LOCK : rc;
    }
    h->token_clear(s->row);
    h->token_clear(s->old);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Inserting                                                           */
/* ------------------------------------------------------------------ */

/* The largest canonical id of a result of ST_MAX_ID (0 when none). */
static void read_max(struct pg_store *s, const PGresult *res)
{
    uint64_t id = 0;

    if (res && PQntuples(res) == 1 && PQnfields(res) == 1 &&
        s->host->id_parse(PQgetvalue(res, 0, 0), &id) != TS_OK)
        id = 0;
    s->max_id = id;
    s->have_max = 1;
}

/* Gives the token the host's next id (we hold the write lock, so only our
 * own inserts move the largest id). */
static int next_id(struct pg_store *s, ts_token *token, ts_error *err)
{
    if (!s->have_max) {
        PGresult *res;
        int rc = postgres_run(s, ST_MAX_ID, NULL, 0, "reading the largest id", &res, err);
        if (rc != TS_OK)
            return rc;
        read_max(s, res);
        postgres_clear_result(res);
    }
    int rc = s->host->next_id(token, s->max_id, err);
    if (rc == TS_ERR_BACKEND)
        s->host->error_prefix(err, rc, "%s: table %s", s->where, s->table);
    return rc;
}

static int insert_row(struct pg_store *s, ts_token *token, ts_error *err)
{
    const ts_host *h = s->host;
    const char *p[TS_FIELD_COUNT];
    PGresult *res = NULL;
    long one;
    int rc = TS_OK;

    if (!*h->token_get(token, TS_FIELD_ID))
        rc = next_id(s, token, err);
    if (rc == TS_OK)
        rc = postgres_check_widths(s, token, err);
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        p[f] = param(h, token, (ts_field)f);
    if (rc == TS_OK)
        rc = postgres_run(s, ST_INSERT, p, TS_FIELD_COUNT, "inserting a token", &res, err);
    if (rc == TS_OK)
        rc = postgres_rows_touched(s, res, 1, 1, "inserting a token", &one, err);
    postgres_clear_result(res);
    uint64_t id;
    if (rc == TS_OK && s->have_max &&
        h->id_parse(h->token_get(token, TS_FIELD_ID), &id) == TS_OK && id > s->max_id)
        s->max_id = id;
    return rc;
}

/* ------------------------------------------------------------------ */
/* One token, unlocked or locked                                       */
/* ------------------------------------------------------------------ */

/*
 * Resolves one token by the host's rules and writes it. Unlocked, only an
 * update that keeps the row's user name is written (guarded); anything
 * else answers NEEDS_LOCK. Locked (inside save_locked), everything is.
 */
static int save_one(struct pg_store *s, ts_token *token, int locked, ts_error *err)
{
    int rc = s->host->save_plan(token, postgres_lookup_row, s, s->row, err);

    if (rc == TS_OK) {
        unsigned mask = sql_changed_columns(s->host, token, s->row);
        int done;
        if (!locked && (mask & SQL_COLUMN(TS_FIELD_USER_NAME)))
            rc = NEEDS_LOCK;
        else if ((rc = postgres_check_widths(s, token, err)) == TS_OK &&
                 (rc = update_row(s, token, s->row, mask, &done, err)) == TS_OK && !done)
            rc = locked ? ROW_CHANGED : NEEDS_LOCK;
    } else if (rc == TS_NOT_FOUND) {
        rc = locked ? insert_row(s, token, err) : NEEDS_LOCK;
    }
    s->host->token_clear(s->row);
    return rc;
}

/* Starts a transaction under the table's write lock, reading the largest
 * id with it. */
static int begin_write(struct pg_store *s, ts_error *err)
{
    PGresult *res;
    int rc = postgres_begin_locked(s, s->write_key, "the table's write lock", s->sql[ST_MAX_ID],
                                   &res, err);

    if (rc == TS_OK) {
        read_max(s, res);
        postgres_clear_result(res);
    }
    return rc;
}

/* Saves tokens in one transaction under the table's write lock: all of
 * them or none. *stopped is the token a failure came at. */
static int save_locked(struct pg_store *s, ts_token *const *tokens, size_t n, size_t *stopped,
                       ts_error *err)
{
    size_t i = 0;
    int rc = begin_write(s, err);

    if (rc != TS_OK)
        return rc;
    for (; rc == TS_OK && i < n; i++)
        rc = save_one(s, tokens[i], 1, err);
    *stopped = rc != TS_OK && i > 0 ? i - 1 : SIZE_MAX;
    s->have_max = 0;
    return postgres_end_locked(s, rc, err);
}

struct save_args {
    ts_token *const *tokens;
    ts_token **orig;          /* the tokens as the caller gave them */
    size_t n;
    int batch;
};

/* Puts the tokens back as they were given: a plan fills fields in, and a
 * save that starts over must plan the caller's token. */
static int restore(struct pg_store *s, struct save_args *a, ts_error *err)
{
    for (size_t i = 0; i < a->n; i++)
        if (s->host->token_copy(a->tokens[i], a->orig[i]) != TS_OK)
            return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    return TS_OK;
}

/* The first way that applies to a single save (see the top). */
static int save_unlocked(struct pg_store *s, ts_token *token, ts_error *err)
{
    const ts_host *h = s->host;

    if (*h->token_get(token, TS_FIELD_USER_NAME) && !*h->token_get(token, TS_FIELD_ID) &&
        quick_columns(s, token) != 0)
        return save_quick(s, token, err);
    return save_one(s, token, 0, err);
}

static int do_save(struct pg_store *s, void *arg, ts_error *err)
{
    struct save_args *a = arg;
    size_t stopped = SIZE_MAX;       /* the token a batch failed at */
    int rc = restore(s, a, err);

    if (rc == TS_OK && !a->batch) {
        rc = save_unlocked(s, a->tokens[0], err);
        if (rc != NEEDS_LOCK)
            return rc;
        rc = restore(s, a, err);
    }
    for (int attempt = 0; rc == TS_OK && attempt < 3; attempt++) {
        rc = save_locked(s, a->tokens, a->n, &stopped, err);
        if (rc != ROW_CHANGED || !s->conn)
            break;
        rc = restore(s, a, err);
        if (rc == TS_OK)
            rc = ROW_CHANGED;
    }
    if (rc == ROW_CHANGED)
        rc = s->host->error(err, TS_ERR_BUSY, "%s: table %s.%s: other writers kept changing "
                            "the row while it was saved; nothing was saved", s->where,
                            s->schema, s->table);
    if (rc != TS_OK && a->batch && !s->lost && stopped != SIZE_MAX)
        s->host->error_prefix(err, rc, "token %zu", stopped);
    return rc;
}

static int save_tokens(struct pg_store *s, ts_token *const *tokens, size_t n, int batch,
                       ts_error *err)
{
    struct save_args a = { .tokens = tokens, .n = n, .batch = batch };
    int rc = TS_OK;

    if (!(a.orig = sql_tokens_keep(s->host, tokens, n, err)))
        rc = TS_ERR_NOMEM;
    if (rc == TS_OK && n > 0)
        rc = postgres_with_connection(s, sql_replayable(s->host, tokens, n), 1, do_save, &a, err);
    /* A failed save leaves the caller's tokens as they were given. */
    sql_tokens_restore(s->host, a.orig, tokens, n, rc);
    return rc;
}

int postgres_save_token(void *state, ts_token *token, ts_error *err)
{
    return save_tokens(state, &token, 1, 0, err);
}

int postgres_save_tokens(void *state, ts_token *const *tokens, size_t n, ts_error *err)
{
    return save_tokens(state, tokens, n, 1, err);
}

/* ------------------------------------------------------------------ */
/* A stream; deleting                                                  */
/* ------------------------------------------------------------------ */

struct stream_args {
    int (*next)(void *stream, ts_token **token, ts_error *err);
    void *stream;
};

/* A restore of any size: pulled a token at a time, saved in one
 * transaction under the write lock, all or none. A stream cannot be
 * pulled again, so nothing here starts over: a row another writer changed
 * meanwhile, or a lost connection, fails the whole of it. */
static int do_save_stream(struct pg_store *s, void *arg, ts_error *err)
{
    struct stream_args *a = arg;
    ts_token *token;
    size_t i = 0;
    int rc = begin_write(s, err);

    if (rc != TS_OK)
        return rc;
    while (rc == TS_OK && (rc = a->next(a->stream, &token, err)) == TS_OK) {
        rc = save_one(s, token, 1, err);
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
    return postgres_end_locked(s, rc, err);
}

int postgres_save_stream(void *state, int (*next)(void *stream, ts_token **token, ts_error *err),
                         void *stream, ts_error *err)
{
    struct stream_args a = { next, stream };
    return postgres_with_connection(state, 0, 1, do_save_stream, &a, err);
}

static int do_delete(struct pg_store *s, void *arg, ts_error *err)
{
    const char *p[1] = { arg };
    PGresult *res;
    long deleted;
    int rc = postgres_run(s, ST_DELETE_ONE, p, 1, "deleting a token", &res, err);

    if (rc == TS_OK)
        rc = postgres_rows_touched(s, res, 0, 1, "deleting a token", &deleted, err);
    postgres_clear_result(res);
    return rc == TS_OK && !deleted ? TS_NOT_FOUND : rc;
}

int postgres_delete_token(void *state, const char *id, ts_error *err)
{
    /* A replay of a delete that went through would say "not found". */
    return postgres_with_connection(state, 0, 1, do_delete, (void *)id, err);
}

static int do_delete_all(struct pg_store *s, void *arg, ts_error *err)
{
    (void)arg;
    return postgres_run(s, ST_DELETE_ALL, NULL, 0, "deleting all tokens", NULL, err);
}

int postgres_delete_tokens(void *state, ts_error *err)
{
    return postgres_with_connection(state, 1, 1, do_delete_all, NULL, err);
}
