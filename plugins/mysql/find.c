/*
 * plugins/mysql/find.c - the mysql backend's reads: the lookup the host's
 * rules call (one prepared SELECT per key field), find_token,
 * find_token_by_id and the walk of get_tokens in id order, each through
 * mysql_with_connection so that a lost connection is made again.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <tokenstore/backend.h>
#include "mysql_store.h"

/* Field's lookup statement, or ST_COUNT for a field rows are not found by. */
static enum stmt_kind lookup_kind(const struct mysql_store *s, ts_field field)
{
    if ((int)field < 0 || field >= TS_FIELD_COUNT || !s->sql[ST_LOOKUP + field])
        return ST_COUNT;
    return (enum stmt_kind)(ST_LOOKUP + field);
}

int mysql_lookup_row(void *state, ts_field field, const char *value, ts_token *row, ts_error *err)
{
    struct mysql_store *s = state;
    enum stmt_kind kind = lookup_kind(s, field);
    int ready, rc = mysql_table_ready(s, &ready, err);

    if (rc != TS_OK || !ready)
        return rc == TS_OK ? TS_NOT_FOUND : rc;
    if (kind == ST_COUNT)
        return s->host->error(err, TS_ERR_INVALID, "cannot look tokens up by %s",
                              s->host->field_name(field) ? s->host->field_name(field) : "?");
    struct param p[2] = { str_param(value), str_param(value) };
    ts_error why = { 0 };
    rc = mysql_run(s, kind, p, mysql_lookup_params(field), "looking up a token", &why);
    /* A value the column's character set cannot hold (a Chinese name in
     * a latin1 column) is in no row: the server refuses to compare it. */
    if (rc != TS_OK && !s->lost && s->last_errno == ER_CANT_AGGREGATE_2COLLATIONS)
        return TS_NOT_FOUND;
    if (rc != TS_OK) {
        if (err)
            *err = why;
        return rc;
    }
    rc = mysql_fetch(s, s->stmt[kind], TS_FIELD_COUNT, err);
    if (rc == TS_OK)
        rc = mysql_read_row(s, row, err);
    mysql_stmt_free_result(s->stmt[kind]);
    return rc;
}

struct find_args {
    const ts_token *query;
    const char *id;
    ts_token *row;
};

static int do_find(struct mysql_store *s, void *arg, ts_error *err)
{
    struct find_args *a = arg;

    if (a->id)
        return mysql_lookup_row(s, TS_FIELD_ID, a->id, a->row, err);
    return s->host->find_by_rule(a->query, mysql_lookup_row, s, a->row, err);
}

int mysql_find_token(void *state, const ts_token *query, ts_token *row, ts_error *err)
{
    struct find_args a = { .query = query, .row = row };
    return mysql_with_connection(state, 1, 0, do_find, &a, err);
}

int mysql_find_token_by_id(void *state, const char *id, ts_token *row, ts_error *err)
{
    struct find_args a = { .id = id, .row = row };
    return mysql_with_connection(state, 1, 0, do_find, &a, err);
}

struct walk_args {
    ts_token_cb cb;
    void *userdata;
};

/* The whole result is in the client before the first callback, so a
 * callback may use the store, and a replay after a dropped connection
 * never hands a caller a token twice. */
static int do_walk(struct mysql_store *s, void *arg, ts_error *err)
{
    struct walk_args *a = arg;
    int ready, rc = mysql_table_ready(s, &ready, err);

    if (rc != TS_OK || !ready)
        return rc;
    rc = mysql_run(s, ST_WALK, NULL, 0, "reading the tokens", err);
    if (rc != TS_OK)
        return rc;
    MYSQL_STMT *st = s->stmt[ST_WALK];
    ts_token *token = s->host->token_new();
    if (!token)
        rc = s->host->error(err, TS_ERR_NOMEM, "out of memory");
    while (rc == TS_OK && (rc = mysql_fetch(s, st, TS_FIELD_COUNT, err)) == TS_OK) {
        rc = mysql_read_row(s, token, err);
        if (rc == TS_OK)
            rc = a->cb(token, a->userdata);    /* non-zero stops the walk */
    }
    mysql_stmt_free_result(st);
    if (token)
        s->host->token_free(token);
    return rc == TS_NOT_FOUND ? TS_OK : rc;
}

int mysql_get_tokens(void *state, ts_token_cb cb, void *userdata, ts_error *err)
{
    struct walk_args a = { cb, userdata };
    return mysql_with_connection(state, 1, 0, do_walk, &a, err);
}
