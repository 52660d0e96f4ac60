/*
 * plugins/sqlite/find.c - the sqlite backend's reads: the lookup the host's
 * rules call (one prepared SELECT per key field, on its index),
 * find_token, find_token_by_id and the walk of get_tokens in id order.
 */
#include <string.h>
#include <sqlite3.h>
#include <tokenstore/backend.h>
#include "sqlite_store.h"

/* The ts_lookup_fn the host's rules call: the row whose `field` is
 * `value`. */
int sqlite_lookup(void *state, ts_field field, const char *value, ts_token *row, ts_error *err)
{
    struct sqlite_store *s = state;
    int ready, rc = sqlite_table_ready(s, &ready, err);

    if (rc != TS_OK || !ready)
        return rc == TS_OK ? TS_NOT_FOUND : rc;
    sqlite3_stmt *stmt = (unsigned)field < TS_FIELD_COUNT ? s->lookup[field] : NULL;
    if (!stmt)
        return s->host->error(err, TS_ERR_INVALID, "cannot look tokens up by %s",
                              s->host->field_name(field) ? s->host->field_name(field) : "?");
    sqlite3_bind_text(stmt, 1, value, (int)strlen(value), SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        rc = sqlite_read_row(s, stmt, row, err);
    else if (rc == SQLITE_DONE)
        rc = TS_NOT_FOUND;
    else
        rc = sqlite_db_fail(s, rc, "looking up a token", err);
    sqlite3_reset(stmt);
    return rc;
}

int sqlite_find_token(void *state, const ts_token *query, ts_token *row, ts_error *err)
{
    struct sqlite_store *s = state;

    return s->host->find_by_rule(query, sqlite_lookup, s, row, err);
}

int sqlite_find_token_by_id(void *state, const char *id, ts_token *row, ts_error *err)
{
    return sqlite_lookup(state, TS_FIELD_ID, id, row, err);
}

int sqlite_get_tokens(void *state, ts_token_cb cb, void *userdata, ts_error *err)
{
    struct sqlite_store *s = state;
    int ready, rc = sqlite_table_ready(s, &ready, err), step;

    if (rc != TS_OK || !ready)
        return rc;
    ts_token *token = s->host->token_new();
    if (!token)
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    while ((step = sqlite3_step(s->walk)) == SQLITE_ROW) {
        rc = sqlite_read_row(s, s->walk, token, err);
        if (rc == TS_OK)
            rc = cb(token, userdata);    /* non-zero stops the walk */
        if (rc != TS_OK)
            break;
    }
    if (rc == TS_OK && step != SQLITE_DONE)
        rc = sqlite_db_fail(s, step, "reading the tokens", err);
    sqlite3_reset(s->walk);
    s->host->token_free(token);
    return rc;
}
