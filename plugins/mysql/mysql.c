/*
 * plugins/mysql - tokens in the Zoho SDK DBStore's own MySQL/MariaDB table,
 * shared by every process on every host that points at it.
 *
 * The table is the one each Zoho CRM SDK's DBStore keeps: `oauthtoken`
 * (option `table`) in database `zohooauth` (option `database`), the SDK's
 * ten columns, ids stored as text. An existing SDK table is used as it is,
 * and one we create has the SDK's ten columns, so the SDK and tokenstore
 * can share it. What we add is what the DBStore lacks:
 *
 *  - Server-side prepared statements only (mysql_stmt_*), every value
 *    bound, prepared once per connection and kept.
 *  - Ids compared as numbers. The DBStore takes max(id) over the varchar
 *    column, a text maximum, and fails on the primary key from its tenth
 *    insert on. Here the next id is the host's next_id over
 *    MAX(CAST(id AS DECIMAL)), read under a MySQL named lock (GET_LOCK)
 *    that every inserting writer takes before its transaction, so two
 *    processes never pick the same id. The server answers that MAX from
 *    the smallest index that holds id (every secondary index does), a
 *    scan of a few bytes per row; a bulk save reads it once and counts on
 *    from there.
 *  - Indexes on the fields the host's key_fields lists (id, user_name,
 *    access, refresh and grant token): in the CREATE TABLE of a table we
 *    make, and added to an existing table that lacks one, with a prefix
 *    where the column type needs one (TEXT, or a VARCHAR wider than
 *    InnoDB's 3072-byte key). An index someone else made on the column
 *    counts. Any number of processes may open a new table at once.
 *  - user_name matched as the DBStore matches it, `WHERE user_name = ?`
 *    in the column's own collation (case-insensitive on the SDK's table:
 *    `User1@Example.com` finds `user1@example.com`), so every lookup the
 *    SDK answered is answered the same after a takeover, and a save
 *    never adds a second row for a user differing only in case; the row
 *    then takes the saved spelling, as the DBStore's UPDATE writes it.
 *    Secrets (access, refresh, grant token) and ids match byte for byte:
 *    each lookup uses the column's index and keeps only the rows whose
 *    value, as the connection reads it, has the same bytes
 *    (`c = ? AND CONVERT(c USING utf8mb4) = BINARY ?`), whatever the
 *    column's character set (a latin1 table works as a utf8mb4 one).
 *  - A table we make is utf8mb4, whatever the server's default: user_name
 *    in utf8mb4_general_ci (the SDK's case-insensitive semantics), every
 *    other column utf8mb4_bin.
 *  - Values are never cut short: the session runs in strict mode, so a
 *    value wider than its column, or one its character set cannot hold,
 *    is refused (TS_ERR_INVALID naming the column) and nothing is written.
 *  - One connection per store handle, kept open, with reads committed;
 *    a TLS mode is checked on the connection itself (client.c).
 *
 * The SDK's rules come from the host (find_by_rule, save_plan, key_fields,
 * next_id); we only supply "the row whose FIELD is VALUE". Saving and
 * deleting are in save.c, which describes them.
 *
 * Failures. A connection that drops is reopened once and the call
 * replayed when a replay cannot change the outcome: reads, delete_tokens,
 * and saves of a token with an id or a lookup key (a replay finds the row
 * the first attempt may have written). A keyless insert or a delete whose
 * reply was lost is TS_ERR_CONNECT, saying the change may have been
 * applied; before such a write the socket is polled, so a server that
 * restarted between calls is noticed before anything is sent. A server
 * that is down, a wrong password, an unknown database, a missing
 * privilege and a server that cannot store (disk full) each get a message
 * naming the server, the user, the database, the privilege or the cause;
 * the password never appears anywhere, and is wiped when the store is
 * closed. Server messages are passed on only for errors that cannot quote
 * a value (some, such as a duplicate key, quote the value).
 *
 * fork(). A child lets go of the parent's connection without a byte to
 * the server (client.c's abandon_connection): its statements and the
 * named locks of that session are the parent's. Its next call connects
 * anew.
 *
 * Notes and the refresh log (notes.c): in tables of their own beside
 * the token table, `<table>_notes` and `<table>_log`, made on the first
 * write that needs them, never by a read (a read of one that is not
 * there is empty); the OAuth client's backoff, refresh budget and log
 * are thus shared by every process on every host using the store.
 *
 * Open flags (TS_CAP_OPEN_FLAGS). The store "exists" when its database
 * does: with TS_OPEN_MUST_EXIST an unknown database is TS_ERR_NO_STORE.
 * With TS_OPEN_READ_ONLY nothing is created (no table, no index) and a
 * database without the table reads as an empty store until the table
 * appears. Without either flag the database must exist (we do not create
 * databases, as the DBStore does not) and the table is made when missing.
 * drop removes the table and the two beside it.
 *
 * Files. This one has forking, dropping, opening and closing, and the
 * ts_backend; find.c the reads; save.c the writes; notes.c the notes and the log;
 * locks.c the named locks; statements.c the errors, statements and rows;
 * client.c connecting, reconnecting and letting go after a fork;
 * schema.c the table, its indexes and the SQL; options.c the options,
 * the names of the tables beside it and of the locks; mysql_store.h what
 * they share.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mysql.h>
#include <tokenstore/backend.h>
#include "mysql_store.h"

/* ------------------------------------------------------------------ */
/* A forked child; a scratch table's end                               */
/* ------------------------------------------------------------------ */

static int mysql_forked(void *state, ts_error *err)
{
    return mysql_abandon_connection(state, err);
}

static int do_drop(struct mysql_store *s, void *arg, ts_error *err)
{
    (void)arg;
    int rc = mysql_run(s, ST_DROP, NULL, 0, "dropping the table", err);
    if (rc == TS_OK)
        s->host->log(s->ctx, TS_LOG_INFO, "dropped tables %s.%s, %s and %s on %s", s->database,
                     s->table, s->notes_table, s->log_table, s->where);
    return rc;
}

/* DROP TABLE IF EXISTS of the three: a replay after a lost reply ends
 * the same. */
static int mysql_drop(void *state, ts_error *err)
{
    return mysql_with_connection(state, 1, 1, do_drop, NULL, err);
}

/* ------------------------------------------------------------------ */
/* Opening and closing (the options: options.c)                        */
/* ------------------------------------------------------------------ */

static const char *const mysql_option_names[] = {
    "host", "port", "socket", "user", "username", "password", "database", "table",
    "connect_timeout_ms", "read_timeout_ms", "write_timeout_ms",
    "tls", "tls_ca", "tls_cert", "tls_key", NULL,
};

static void wipe_free(char *p)
{
    if (p)
        explicit_bzero(p, strlen(p));
    free(p);
}

static void mysql_close_store(void *state)
{
    struct mysql_store *s = state;

    mysql_disconnect(s);
    mysql_free_held_locks(s);
    wipe_free(s->password);
    free(s->host_name);
    free(s->socket_path);
    free(s->user);
    free(s->database);
    free(s->tls_ca);
    free(s->tls_cert);
    free(s->tls_key);
    for (int k = 0; k < ST_COUNT; k++)
        free(s->sql[k]);
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        if (s->col[f])
            explicit_bzero(s->col[f], s->col_cap[f]);
        free(s->col[f]);
    }
    if (s->row)
        s->host->token_free(s->row);
    free(s);
}

static int mysql_open(const ts_host *host, ts_backend_ctx *ctx, void **state, ts_error *err)
{
    struct mysql_store *s;

    if (!(s = calloc(1, sizeof *s)))
        return host->error(err, TS_ERR_NOMEM, "out of memory");
    int rc = sql_open_begin(host, ctx, &s->row, &s->keys, &s->nkeys, &s->open_flags, err);
    if (rc != TS_OK) {
        free(s);
        return rc;
    }
    s->host = host;
    s->ctx = ctx;
    rc = mysql_read_options(s, err);
    if (rc == TS_OK)
        rc = mysql_build_sql(s, err);
    if (rc == TS_OK)
        rc = mysql_build_notes_sql(s, err);
    if (rc == TS_OK)
        rc = mysql_connect_db(s, err);
    if (rc == TS_OK)
        rc = mysql_ensure_schema(s, err);
    if (rc != TS_OK) {
        mysql_close_store(s);
        return rc;
    }
    *state = s;
    return TS_OK;
}

static const ts_backend mysql_backend = {
    TS_BACKEND_HEAD,
    .name = "mysql",
    .version = "1.0.0",
    .description = "a MySQL/MariaDB table, the Zoho SDK DBStore's oauthtoken",
    .caps = TS_CAP_PERSISTENT | TS_CAP_SHARED | TS_CAP_OPEN_FLAGS,
    .options = mysql_option_names,
    .open = mysql_open,
    .close = mysql_close_store,
    .find_token = mysql_find_token,
    .save_token = mysql_save_token,
    .delete_token = mysql_delete_token,
    .get_tokens = mysql_get_tokens,
    .delete_tokens = mysql_delete_tokens,
    .find_token_by_id = mysql_find_token_by_id,
    .save_tokens = mysql_save_tokens,
    .save_stream = mysql_save_stream,
    .try_lock = mysql_try_lock,
    .unlock = mysql_unlock,
    .forked = mysql_forked,
    .drop = mysql_drop,
    .note_set = mysql_note_set,
    .note_get = mysql_note_get,
    .log_append = mysql_log_append,
    .log_walk = mysql_log_walk,
};

TS_BACKEND_DEFINE(mysql_backend)

