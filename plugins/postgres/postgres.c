/*
 * plugins/postgres - tokens in the Zoho SDK DBStore's table on
 * PostgreSQL, shared by every process on every host that points at it,
 * through libpq.
 *
 * The table is the DBStore's `oauthtoken` (option `table`) with its ten
 * columns in PostgreSQL's types (varchar, ids as text), in the schema the
 * option `schema` names or the connection's current one. An existing
 * table is used as it is; one lacking a column is refused, naming it. A
 * table we create has those ten columns. What we add:
 *
 *  - Connections as libpq makes them, from libpq's own keywords (host
 *    lists and target_session_attrs, service files, .pgpass, sslmode up
 *    to verify-full): options.c. Statements prepared on the server once
 *    per connection, every value a parameter.
 *  - Ids compared as numbers, the next one the host's next_id over the
 *    largest canonical id, read under a transaction-scoped advisory lock
 *    that every inserting writer takes, so two processes never pick the
 *    same id; an index on (length(id), id COLLATE "C") answers it.
 *  - Indexes on the lookup fields (schema.c): hash indexes, so a value of
 *    any length is indexed; an index someone else made on the column
 *    counts. Any number of processes may open a new table at once.
 *  - Values compared as PostgreSQL's `=` compares text: byte for byte,
 *    user names too (as the sqlite and file backends do).
 *  - A value wider than its column is refused naming the column, never
 *    cut, and nothing is written.
 *  - A save by user name of a stored user, a refresh's, in one statement
 *    and one round trip (save.c).
 *
 * The SDK's rules come from the host (find_by_rule, save_plan, key_fields,
 * next_id); we supply "the rows whose FIELD is VALUE" and keep the one
 * with the lowest id.
 *
 * Failures. A connection that drops is reopened once and the call
 * replayed when a replay cannot change the outcome: reads, delete_tokens,
 * and saves of a token with an id or a lookup key. A keyless insert or a
 * delete whose reply was lost is TS_ERR_CONNECT, saying the change may
 * have been applied; before such a write the socket is polled, so a
 * server that restarted between calls is noticed before anything is
 * sent. A write a read-only standby refused is run again on a new
 * connection, where libpq, given every host and
 * target_session_attrs=read-write, finds the new primary. A server that
 * is down, a wrong or missing password, an unknown database, a missing
 * privilege, only standbys, a TLS failure and a server that cannot store
 * each get a message naming the server and the cause; the password never
 * appears anywhere. Server messages are passed on only for errors that
 * cannot quote a value.
 *
 * fork(). A child lets go of the parent's connection without a byte to
 * the server (client.c's abandon_connection): its session, transaction
 * and locks are the parent's. Its next call connects anew.
 *
 * Notes and the refresh log (notes.c): in tables of their own beside the
 * token table, `<table>_notes` and `<table>_log`, made on the first write
 * that needs them, never by a read.
 *
 * Open flags (TS_CAP_OPEN_FLAGS). The store "exists" when its database
 * (and the schema given) does: with TS_OPEN_MUST_EXIST an unknown
 * database is TS_ERR_NO_STORE. With TS_OPEN_READ_ONLY nothing is created,
 * the session is read-only (so a standby serves it), and a schema without
 * the table reads as an empty store until the table appears. Without
 * either flag the database must exist (we do not create databases or
 * schemas) and the table is made when missing. drop removes the table
 * and the two beside it.
 *
 * Files. This one has finding, walking, forking, dropping, opening and
 * closing, and the ts_backend; save.c the writes; notes.c the notes and
 * the log; locks.c the advisory locks; statements.c the errors,
 * statements and rows; client.c connecting, reconnecting and letting go
 * after a fork; schema.c the table, its indexes, the SQL and the lookup
 * the rules call; options.c the options and the names; pg_store.h what
 * they share.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tokenstore/backend.h>
#include "pg_store.h"

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

struct find_args {
    const ts_token *query;
    const char *id;
    ts_token *row;
};

static int do_find(struct pg_store *s, void *arg, ts_error *err)
{
    struct find_args *a = arg;

    if (a->id)
        return postgres_lookup_row(s, TS_FIELD_ID, a->id, a->row, err);
    return s->host->find_by_rule(a->query, postgres_lookup_row, s, a->row, err);
}

static int postgres_find_token(void *state, const ts_token *query, ts_token *row, ts_error *err)
{
    struct find_args a = { .query = query, .row = row };
    return postgres_with_connection(state, 1, 0, do_find, &a, err);
}

static int postgres_find_token_by_id(void *state, const char *id, ts_token *row, ts_error *err)
{
    struct find_args a = { .id = id, .row = row };
    return postgres_with_connection(state, 1, 0, do_find, &a, err);
}

struct walk_args {
    ts_token_cb cb;
    void *userdata;
    char after[128];          /* the last id handed over; "" before the first */
};

/*
 * Pages of rows in numeric id order, each copied out of the server before
 * its callbacks run, so a callback may use the store, and a walk replayed
 * after a dropped connection goes on after the last token it handed over.
 */
static int walk_page(struct pg_store *s, struct walk_args *a, ts_token *token, int *more,
                     ts_error *err)
{
    char len[24];
    const char *p[2] = { len, a->after };
    PGresult *res;

    snprintf(len, sizeof len, "%zu", strlen(a->after));
    int rc = *a->after ? postgres_run(s, ST_WALK_NEXT, p, 2, "reading the tokens", &res, err)
                       : postgres_run(s, ST_WALK_FIRST, NULL, 0, "reading the tokens", &res, err);
    if (rc != TS_OK)
        return rc;
    int n = PQntuples(res);
    *more = n == WALK_PAGE;
    for (int i = 0; rc == TS_OK && i < n; i++) {
        if (PQgetlength(res, i, 0) >= (int)sizeof a->after) {
            rc = s->host->error(err, TS_ERR_CORRUPT, "%s: table %s.%s holds an id of %d "
                                "characters, longer than any id", s->where, s->schema,
                                s->table, PQgetlength(res, i, 0));
            break;
        }
        snprintf(a->after, sizeof a->after, "%s", PQgetvalue(res, i, 0));
        rc = postgres_read_row(s, res, i, 0, token, err);
        if (rc == TS_OK)
            rc = a->cb(token, a->userdata);    /* non-zero stops the walk */
    }
    postgres_clear_result(res);
    return rc;
}

static int do_walk(struct pg_store *s, void *arg, ts_error *err)
{
    struct walk_args *a = arg;
    int more = 1, ready, rc = postgres_table_ready(s, &ready, err);

    if (rc != TS_OK || !ready)
        return rc;
    ts_token *token = s->host->token_new();
    if (!token)
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    while (rc == TS_OK && more)
        rc = walk_page(s, a, token, &more, err);
    s->host->token_free(token);
    return rc;
}

static int postgres_get_tokens(void *state, ts_token_cb cb, void *userdata, ts_error *err)
{
    struct walk_args a = { .cb = cb, .userdata = userdata };
    return postgres_with_connection(state, 1, 0, do_walk, &a, err);
}

/* ------------------------------------------------------------------ */
/* A forked child; a scratch table's end                               */
/* ------------------------------------------------------------------ */

static int postgres_forked(void *state, ts_error *err)
{
    return postgres_abandon_connection(state, err);
}

static int do_drop(struct pg_store *s, void *arg, ts_error *err)
{
    char sql[3 * PG_QNAME_MAX + 64];

    (void)arg;
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s, %s, %s", s->qtable, s->qnotes,
             s->qlog);
    int rc = postgres_run_text(s, sql, "dropping the table", NULL, err);
    if (rc == TS_OK)
        s->host->log(s->ctx, TS_LOG_INFO, "dropped tables %s.%s, %s and %s on %s", s->schema,
                     s->table, s->notes_table, s->log_table, s->where);
    return rc;
}

/* DROP TABLE IF EXISTS of the three: a replay after a lost reply ends
 * the same. */
static int postgres_drop(void *state, ts_error *err)
{
    return postgres_with_connection(state, 1, 1, do_drop, NULL, err);
}

/* ------------------------------------------------------------------ */
/* Opening and closing (the options: options.c)                        */
/* ------------------------------------------------------------------ */

static void postgres_close_store(void *state)
{
    struct pg_store *s = state;

    postgres_disconnect(s);
    postgres_free_held_locks(s);
    for (int k = 0; k < ST_COUNT; k++)
        free(s->sql[k]);
    if (s->row)
        s->host->token_free(s->row);
    if (s->old)
        s->host->token_free(s->old);
    free(s);
}

static int postgres_open(const ts_host *host, ts_backend_ctx *ctx, void **state, ts_error *err)
{
    struct pg_store *s;

    if (!(s = calloc(1, sizeof *s)))
        return host->error(err, TS_ERR_NOMEM, "out of memory");
    int rc = sql_open_begin(host, ctx, &s->row, &s->keys, &s->nkeys, &s->open_flags, err);
    if (rc == TS_OK && !(s->old = host->token_new())) {
        host->token_free(s->row);
        rc = host->error(err, TS_ERR_NOMEM, "out of memory");
    }
    if (rc != TS_OK) {
        free(s);
        return rc;
    }
    s->host = host;
    s->ctx = ctx;
    rc = postgres_read_options(s, err);
    if (rc == TS_OK)
        rc = postgres_connect_db(s, err);
    if (rc == TS_OK)
        rc = postgres_find_schema(s, err);
    if (rc == TS_OK)
        rc = postgres_name_tables(s, err);
    if (rc == TS_OK)
        rc = postgres_build_sql(s, err);
    if (rc == TS_OK)
        rc = postgres_build_notes_sql(s, err);
    if (rc == TS_OK)
        rc = postgres_ensure_schema(s, err);
    if (rc != TS_OK) {
        postgres_close_store(s);
        return rc;
    }
    *state = s;
    return TS_OK;
}

static const ts_backend postgres_backend = {
    TS_BACKEND_HEAD,
    .name = "postgres",
    .version = "1.0.0",
    .description = "a PostgreSQL table, the Zoho SDK DBStore's oauthtoken, through libpq",
    .caps = TS_CAP_PERSISTENT | TS_CAP_SHARED | TS_CAP_OPEN_FLAGS,
    .options = postgres_option_names,
    .open = postgres_open,
    .close = postgres_close_store,
    .find_token = postgres_find_token,
    .save_token = postgres_save_token,
    .delete_token = postgres_delete_token,
    .get_tokens = postgres_get_tokens,
    .delete_tokens = postgres_delete_tokens,
    .find_token_by_id = postgres_find_token_by_id,
    .save_tokens = postgres_save_tokens,
    .save_stream = postgres_save_stream,
    .try_lock = postgres_try_lock,
    .unlock = postgres_unlock,
    .forked = postgres_forked,
    .drop = postgres_drop,
    .note_set = postgres_note_set,
    .note_get = postgres_note_get,
    .log_append = postgres_log_append,
    .log_walk = postgres_log_walk,
};

TS_BACKEND_DEFINE(postgres_backend)
