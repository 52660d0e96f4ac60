/*
 * plugins/sqlite/save.c - the sqlite backend's writes: saving where the
 * host's plan says (over the row it chose, or as a new row with the next
 * id), in one write transaction for a token, a batch or a stream of any
 * length, and deleting, with the WAL scrubbed of a deleted or replaced
 * secret. sqlite.c opens the store and reads it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sqlite_store.h"

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

/* A deleted or replaced token's bytes are zeroed in its page
 * (secure_delete), but the WAL keeps the frames that held the page before
 * until a checkpoint copies the pages back and the log is started over,
 * which SQLite does only when the last connection closes. Doing it after
 * a delete, and after a save that wrote over a stored secret, keeps a
 * revoked or replaced token off the disk while the store stays open: the
 * log is cut to nothing, and the database's pages hold only the zeroed
 * copies. The cost is a checkpoint: a few page writes and syncs, about a
 * millisecond. A replaced access token is not scrubbed (see SCRUBBED). A
 * checkpoint that another connection holds up is left for later: the
 * save or delete is committed either way. */
static void forget_old_frames(struct sqlite_store *s, const char *why)
{
    int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    if (rc != SQLITE_OK)
        s->host->log(s->ctx, TS_LOG_DEBUG, "%s: %s, but the WAL was not truncated: %s",
                     s->path, why, sqlite3_errstr(rc));
}

static int update_statement(struct sqlite_store *s, unsigned mask, sqlite3_stmt **out,
                            ts_error *err)
{
    if (s->update[mask]) {
        *out = s->update[mask];
        return TS_OK;
    }
    char set[512];
    sql_set_list(s->host, mask, SQL_MARKS_BY_FIELD, 0, set, sizeof set);
    char *sql = sqlite3_mprintf("UPDATE \"%w\" SET %s WHERE id = ?1", s->table, set);
    int rc = sqlite_prepare(s, &s->update[mask], sql, err);
    *out = s->update[mask];
    return rc;
}

/* The fields whose old value a save scrubs from the WAL when it replaces
 * one (a bit per field): the long-lived secrets. Not the access token:
 * every refresh replaces it, and a checkpoint there would make the
 * commonest save some 20 times slower (0.96 ms instead of 0.05 ms), for
 * a token that lives an hour; README says when it leaves the disk. */
#define SCRUBBED ((1u << TS_FIELD_CLIENT_SECRET) | (1u << TS_FIELD_REFRESH_TOKEN) | \
                  (1u << TS_FIELD_GRANT_TOKEN))

/* Writes the resolved token over `row`, the stored row the host's plan
 * chose: only the columns whose value changed, so unchanged indexes are
 * not rewritten. */
static int update_row(struct sqlite_store *s, const ts_token *token, const ts_token *row,
                      ts_error *err)
{
    const ts_host *h = s->host;
    unsigned mask = sql_changed_columns(h, token, row);

    for (int f = 1; f < TS_FIELD_COUNT; f++)
        if ((mask & SQL_COLUMN(f)) && (SCRUBBED & (1u << f)) && *h->token_get(row, (ts_field)f))
            s->replaced_secret = 1;
    if (mask == 0)
        return TS_OK;

    sqlite3_stmt *stmt;
    int rc = update_statement(s, mask, &stmt, err);
    if (rc != TS_OK)
        return rc;
    sqlite_bind_field(stmt, h, row, TS_FIELD_ID);
    for (int f = 1; f < TS_FIELD_COUNT; f++)
        if (mask & SQL_COLUMN(f))
            sqlite_bind_field(stmt, h, token, (ts_field)f);
    return sqlite_run(s, stmt, "updating a token", err);
}

/* The largest numeric id (0 in an empty table), for the host's next_id.
 * Read inside the save's write transaction, so no other process can take
 * the same id. */
static int max_id(struct sqlite_store *s, uint64_t *out, ts_error *err)
{
    int rc = sqlite3_step(s->max_id);
    sqlite3_int64 max = 0;

    if (rc != SQLITE_ROW) {
        rc = sqlite_db_fail(s, rc, "reading the largest id", err);
        sqlite3_reset(s->max_id);
        return rc;
    }
    if (sqlite3_column_type(s->max_id, 0) != SQLITE_NULL)
        max = sqlite3_column_int64(s->max_id, 0);
    sqlite3_reset(s->max_id);
    *out = max < 0 ? 0 : (uint64_t)max;
    return TS_OK;
}

static int insert_row(struct sqlite_store *s, ts_token *token, int *id_assigned, ts_error *err)
{
    const ts_host *h = s->host;
    int rc = TS_OK;

    if (!*h->token_get(token, TS_FIELD_ID)) {
        uint64_t max = 0;
        rc = max_id(s, &max, err);
        if (rc == TS_OK && (rc = h->next_id(token, max, err)) == TS_ERR_BACKEND)
            h->error_prefix(err, rc, "%s: table %s", s->path, s->table);
        *id_assigned = rc == TS_OK;
    }
    for (int f = 0; rc == TS_OK && f < TS_FIELD_COUNT; f++)
        sqlite_bind_field(s->insert, h, token, (ts_field)f);
    if (rc == TS_OK)
        rc = sqlite_run(s, s->insert, "inserting a token", err);
    return rc;
}

/* Saves one token inside the caller's write transaction, where the
 * host's plan says: over the row it chose, or as a new row. */
static int save_one(struct sqlite_store *s, ts_token *token, int *id_assigned, ts_error *err)
{
    int rc = s->host->save_plan(token, sqlite_lookup, s, s->row, err);

    if (rc == TS_OK)
        rc = update_row(s, token, s->row, err);
    else if (rc == TS_NOT_FOUND)
        rc = insert_row(s, token, id_assigned, err);
    s->host->token_clear(s->row);
    return rc;
}

/* Saves tokens in one write transaction: all of them or none. Nothing is
 * reported saved before COMMIT succeeds; after any failure, the ids the
 * batch assigned are taken back from the caller's tokens, and a batch's
 * error names the token it stopped at. */
/* Where a write transaction's tokens come from: an array (whose ids a
 * failed batch takes back), or the core's stream of them. */
struct source {
    ts_token *const *tokens;
    size_t n;
    int *assigned;
    int (*next)(void *stream, ts_token **token, ts_error *err);
    void *stream;
};

static int source_next(struct source *src, size_t i, ts_token **token, ts_error *err)
{
    if (src->next)
        return src->next(src->stream, token, err);
    if (i == src->n)
        return TS_NOT_FOUND;
    *token = src->tokens[i];
    return TS_OK;
}

/* Saves tokens in one write transaction: all or none. A batch's error
 * names the token it stopped at. */
static int save_batch(struct sqlite_store *s, struct source *src, int batch, ts_error *err)
{
    size_t i = 0;
    int rc = sqlite_connected(s, err), in_token = 0, assigned = 0;
    ts_token *token;

    s->replaced_secret = 0;
    if (rc == TS_OK)
        rc = sqlite_run(s, s->begin, "starting a write transaction", err);
    while (rc == TS_OK && (rc = source_next(src, i, &token, err)) == TS_OK) {
        in_token = (rc = save_one(s, token, src->assigned ? &src->assigned[i] : &assigned,
                                  err)) != TS_OK;
        i++;
    }
    if (rc == TS_NOT_FOUND && (rc = sqlite_commit(s, err)) == TS_OK) {
        if (s->replaced_secret)
            forget_old_frames(s, "a token's secret was replaced");
        return TS_OK;
    }
    sqlite_rollback(s);
    for (size_t j = 0; src->assigned && j < src->n; j++)
        if (src->assigned[j])
            s->host->token_set(src->tokens[j], TS_FIELD_ID, NULL);
    if (batch && in_token)
        s->host->error_prefix(err, rc, "token %zu", i - 1);
    return rc;
}

int sqlite_save_token(void *state, ts_token *token, ts_error *err)
{
    int assigned = 0;
    struct source src = { &token, 1, &assigned, NULL, NULL };

    return save_batch(state, &src, 0, err);
}

int sqlite_save_tokens(void *state, ts_token *const *tokens, size_t n, ts_error *err)
{
    struct sqlite_store *s = state;
    int *assigned = calloc(n ? n : 1, sizeof *assigned);

    if (!assigned)
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    struct source src = { tokens, n, assigned, NULL, NULL };
    int rc = save_batch(s, &src, 1, err);
    free(assigned);
    return rc;
}

/* A restore of any size: one transaction, one token in memory at a time. */
int sqlite_save_stream(void *state, int (*next)(void *stream, ts_token **token, ts_error *err),
                       void *stream, ts_error *err)
{
    struct source src = { NULL, 0, NULL, next, stream };

    return save_batch(state, &src, 1, err);
}

int sqlite_delete_token(void *state, const char *id, ts_error *err)
{
    struct sqlite_store *s = state;
    int rc = sqlite_connected(s, err);

    if (rc != TS_OK)
        return rc;
    sqlite3_bind_text(s->delete_one, 1, id, (int)strlen(id), SQLITE_STATIC);
    rc = sqlite_run(s, s->delete_one, "deleting a token", err);
    if (rc == TS_OK && sqlite3_changes(s->db) == 0)
        rc = TS_NOT_FOUND;
    if (rc == TS_OK)
        forget_old_frames(s, "a token was deleted");
    return rc;
}

int sqlite_delete_tokens(void *state, ts_error *err)
{
    struct sqlite_store *s = state;
    int rc = sqlite_connected(s, err);

    /* In autocommit mode: the delete is committed when this returns. */
    if (rc == TS_OK)
        rc = sqlite_run(s, s->delete_all, "deleting all tokens", err);
    if (rc == TS_OK && sqlite3_changes(s->db) > 0)
        forget_old_frames(s, "a token was deleted");
    return rc;
}
