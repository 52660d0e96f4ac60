/*
 * core/rules.c - the Zoho SDK's TokenStore rules, written once.
 *
 * The SDK's stores (FileStore, DBStore) all match a token the same way:
 * by user name when there is one; else by access token when the caller
 * gave no client credentials; else by grant token or refresh token, when
 * it gave both client id and secret. The FileStore checks each row in file
 * order and takes the first that matches; here that is the row with the
 * lowest id (the order get_tokens lists, and the order of a file the SDK
 * wrote), also when the grant and the refresh token match different rows.
 * save_token replaces the row with the same id, else the row find_token
 * would answer with, after filling the new token's empty fields from it;
 * otherwise it appends a row whose id is the largest numeric id plus one
 * (next_id). The fields rows are found by (key_fields) are listed here
 * too, for the table's indexes and a backend's.
 * A new row must hold a refresh, grant or access token; an update may
 * leave all three out, the merge keeping the stored ones (the SDK raises
 * "Given user authentication details not found" only on its insert path).
 * Backends get these rules through the host table and supply only a
 * primitive "find the row whose FIELD is VALUE".
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"

const ts_field ts__key_fields[TS__KEY_FIELD_COUNT] = {
    TS_FIELD_ID, TS_FIELD_USER_NAME, TS_FIELD_ACCESS_TOKEN,
    TS_FIELD_REFRESH_TOKEN, TS_FIELD_GRANT_TOKEN,
};

const ts_field *ts__get_key_fields(size_t *count)
{
    *count = TS__KEY_FIELD_COUNT;
    return ts__key_fields;
}

int ts__lookup_keys(const ts_token *q, ts_field keys[2])
{
    int with_client_id = ts__has(q, TS_FIELD_CLIENT_ID);
    int with_secret = ts__has(q, TS_FIELD_CLIENT_SECRET);
    int n = 0;

    if (ts__has(q, TS_FIELD_USER_NAME)) {
        keys[0] = TS_FIELD_USER_NAME;
        return 1;
    }
    if (ts__has(q, TS_FIELD_ACCESS_TOKEN) && !with_client_id && !with_secret) {
        keys[0] = TS_FIELD_ACCESS_TOKEN;
        return 1;
    }
    if (with_client_id && with_secret) {
        if (ts__has(q, TS_FIELD_GRANT_TOKEN))
            keys[n++] = TS_FIELD_GRANT_TOKEN;
        if (ts__has(q, TS_FIELD_REFRESH_TOKEN))
            keys[n++] = TS_FIELD_REFRESH_TOKEN;
    }
    return n;
}

int ts__no_lookup_key(ts_error *err)
{
    return ts__error(err, TS_ERR_INVALID,
                     "the token has no lookup key (user_name; access_token without "
                     "client credentials; or grant_token/refresh_token with client_id "
                     "and client_secret)");
}

static int id_below(const ts_token *a, const ts_token *b)
{
    uint64_t x = 0, y = 0;

    ts__id_parse(ts_token_get(a, TS_FIELD_ID), &x);
    ts__id_parse(ts_token_get(b, TS_FIELD_ID), &y);
    return x < y;
}

/* The stored row the keys find, the lowest id of the rows any key finds;
 * *by says which key found it. */
static int find_by_keys(const ts_token *q, const ts_field *keys, int n, ts_lookup_fn lookup,
                        void *state, ts_token *row, ts_field *by, ts_error *err)
{
    int rc = lookup(state, keys[0], q->value[keys[0]], row, err);

    *by = keys[0];
    if (n < 2 || (rc != TS_OK && rc != TS_NOT_FOUND))
        return rc;
    ts_token *other = ts_token_new();
    if (!other)
        return ts__error(err, TS_ERR_NOMEM, "out of memory");
    int orc = lookup(state, keys[1], q->value[keys[1]], other, err);
    if (orc == TS_OK && (rc == TS_NOT_FOUND || id_below(other, row))) {
        ts_token swap = *row;
        *row = *other;
        *other = swap;
        *by = keys[1];
        rc = TS_OK;
    } else if (orc != TS_NOT_FOUND && orc != TS_OK) {
        rc = orc;
    }
    ts_token_free(other);
    return rc;
}

int ts__find_by_rule(const ts_token *q, ts_lookup_fn lookup, void *state,
                     ts_token *row, ts_error *err)
{
    ts_field keys[2], by;
    int n = ts__lookup_keys(q, keys);

    if (n == 0)
        return ts__no_lookup_key(err);
    return find_by_keys(q, keys, n, lookup, state, row, &by, err);
}

/* The row the token replaces: by id first. */
static int resolve_by_id(ts_token *tok, ts_lookup_fn lookup, void *state,
                         ts_token *row, ts_error *err)
{
    int rc = lookup(state, TS_FIELD_ID, tok->value[TS_FIELD_ID], row, err);

    if (rc != TS_OK || !ts__has(tok, TS_FIELD_USER_NAME))
        return rc;
    /* Renaming a row to a user another row has would give that user two. */
    ts_token *other = ts_token_new();
    if (!other)
        return ts__error(err, TS_ERR_NOMEM, "out of memory");
    int orc = lookup(state, TS_FIELD_USER_NAME, tok->value[TS_FIELD_USER_NAME], other, err);
    if (orc == TS_OK && strcmp(ts_token_get(other, TS_FIELD_ID), tok->value[TS_FIELD_ID]) != 0)
        orc = ts__error(err, TS_ERR_CONFLICT,
                        "user_name '%s' is stored under id %s; saving it under id %s "
                        "would give that user two rows",
                        tok->value[TS_FIELD_USER_NAME], ts_token_get(other, TS_FIELD_ID),
                        tok->value[TS_FIELD_ID]);
    ts_token_free(other);
    return orc == TS_NOT_FOUND ? TS_OK : orc;
}

/* Fills tok's empty fields with copies of row's, which row keeps. */
static int fill_from(ts_token *tok, const ts_token *row, ts_error *err)
{
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        if (!tok->value[f] && row->value[f] &&
            ts__token_setn(tok, (ts_field)f, row->value[f], row->len[f]) != TS_OK)
            return ts__error(err, TS_ERR_NOMEM, "out of memory");
    return TS_OK;
}

/* The save's plan: the row it replaces (TS_OK, in `row`) or an insert
 * (TS_NOT_FOUND), decided once here, so that no backend has to remember
 * which of the rows it looked up the rules chose. */
int ts__save_plan(ts_token *tok, ts_lookup_fn lookup, void *state, ts_token *row,
                  ts_error *err)
{
    int rc = TS_NOT_FOUND;

    ts_token_clear(row);
    if (ts__has(tok, TS_FIELD_ID))
        rc = resolve_by_id(tok, lookup, state, row, err);
    if (rc == TS_NOT_FOUND) {
        ts_field keys[2], by;
        int n = ts__lookup_keys(tok, keys);
        if (n > 0)
            rc = find_by_keys(tok, keys, n, lookup, state, row, &by, err);
        if (rc == TS_OK && ts__has(tok, TS_FIELD_ID) &&
            strcmp(tok->value[TS_FIELD_ID], ts_token_get(row, TS_FIELD_ID)) != 0)
            rc = ts__error(err, TS_ERR_CONFLICT,
                           "the token matches stored id %s by %s but was given id %s",
                           ts_token_get(row, TS_FIELD_ID), ts_field_name(by),
                           tok->value[TS_FIELD_ID]);
    }
    if (rc == TS_OK)
        rc = fill_from(tok, row, err);
    else if (rc == TS_NOT_FOUND)
        rc = ts__check_has_secret(tok, err);
    if (rc != TS_OK)
        ts_token_clear(row);
    return rc;
}

int ts__save_resolve(ts_token *tok, ts_lookup_fn lookup, void *state, ts_error *err)
{
    ts_token *row = ts_token_new();

    if (!row)
        return ts__error(err, TS_ERR_NOMEM, "out of memory");
    int rc = ts__save_plan(tok, lookup, state, row, err);
    ts_token_free(row);
    return rc;
}

/* Only the canonical spelling of 0..INT64_MAX is an id: "007" and "7" are
 * one row to a backend comparing numbers and two to one comparing text, and
 * SQLite's and Redis's integers are signed 64-bit. */
int ts__id_parse(const char *id, uint64_t *out)
{
    uint64_t v = 0;
    size_t n = id ? strlen(id) : 0;

    if (n == 0 || n > 19 || (n > 1 && id[0] == '0'))
        return TS_ERR_INVALID;
    for (size_t i = 0; i < n; i++) {
        if (id[i] < '0' || id[i] > '9')
            return TS_ERR_INVALID;
        v = v * 10 + (uint64_t)(id[i] - '0');
    }
    if (v > INT64_MAX)
        return TS_ERR_INVALID;
    *out = v;
    return TS_OK;
}

TS_API int ts_id_parse(const char *id, uint64_t *out)
{
    uint64_t v;
    int rc = ts__id_parse(id, &v);

    if (rc == TS_OK && out)
        *out = v;
    return rc;
}

void ts__id_format(uint64_t id, char buf[21])
{
    snprintf(buf, 21, "%" PRIu64, id);
}

/* The SDK's FileStore and DBStore number a new row after the largest id;
 * deleting the newest row therefore frees its id again. */
int ts__next_id(ts_token *token, uint64_t max_id, ts_error *err)
{
    char buf[21];

    if (max_id >= INT64_MAX)
        return ts__error(err, TS_ERR_BACKEND, "no id is left after %" PRIu64, max_id);
    ts__id_format(max_id + 1, buf);
    if (ts_token_set(token, TS_FIELD_ID, buf) != TS_OK)
        return ts__error(err, TS_ERR_NOMEM, "out of memory");
    return TS_OK;
}

int ts__check_id(const char *id, ts_error *err)
{
    uint64_t v;

    if (!id || ts__id_parse(id, &v) != TS_OK)
        return ts__error(err, TS_ERR_INVALID,
                         "id '%.40s' is not a decimal number from 0 to %" PRId64
                         " without leading zeros",
                         id ? id : "(null)", INT64_MAX);
    return TS_OK;
}

/* TS_NOT_FOUND when the token may be inserted (it holds a secret), else
 * the refusal. */
int ts__check_has_secret(const ts_token *t, ts_error *err)
{
    if (ts__has(t, TS_FIELD_REFRESH_TOKEN) || ts__has(t, TS_FIELD_GRANT_TOKEN) ||
        ts__has(t, TS_FIELD_ACCESS_TOKEN))
        return TS_NOT_FOUND;
    return ts__error(err, TS_ERR_INVALID,
                     "the token has none of refresh_token, grant_token and access_token "
                     "and matches no stored token to take them from: nothing to save");
}

int ts__check_saveable(const ts_token *t, int needs_secret, ts_error *err)
{
    if (needs_secret && ts__check_has_secret(t, err) != TS_NOT_FOUND)
        return TS_ERR_INVALID;
    if (ts__has(t, TS_FIELD_ID))
        return ts__check_id(t->value[TS_FIELD_ID], err);
    return TS_OK;
}
