/*
 * plugins/postgres/pg_store.h - what the postgres backend's files share:
 * the open store (struct pg_store), its statements (enum stmt_kind), and
 * the functions one file offers the others. The files form layers:
 * statements.c (errors, prepared statements, rows), client.c (connecting,
 * reconnecting, letting go in a forked child) and options.c (the options,
 * the names made from the table's) use no other file; locks.c (advisory
 * locks) uses those; schema.c (the table, its indexes, the SQL, the
 * lookup the rules call) uses locks.c; save.c (saving and deleting) and
 * notes.c (the notes and the log, in tables of their own) use those;
 * postgres.c (finding and walking, opening and closing, the ts_backend)
 * uses them all. Nothing here leaves
 * the plugin (it is built with hidden visibility); postgres.c's opening
 * comment describes the design. Not named postgres.h: that is the name of
 * the server's own header.
 */
#ifndef TS_PLUGIN_PG_STORE_H
#define TS_PLUGIN_PG_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <libpq-fe.h>
#include <tokenstore/backend.h>
#include "../sql/sql.h"

#define PG_NAME_MAX 63                 /* PostgreSQL's identifier limit (NAMEDATALEN - 1) */
#define PG_QNAME_MAX (2 * (PG_NAME_MAX + 2) + 2)   /* "schema"."name" */
#define WALK_PAGE 1000                 /* rows per page of get_tokens */

/* The prepared statements of a connection, prepared on first use. Field
 * f's lookup is ST_LOOKUP + f, there for the fields the host's key_fields
 * lists. */
enum stmt_kind {
    ST_LOOKUP, ST_INSERT = ST_LOOKUP + TS_FIELD_COUNT, ST_MAX_ID, ST_DELETE_ONE,
    ST_DELETE_ALL, ST_WALK_FIRST, ST_WALK_NEXT, ST_TRY_LOCK, ST_UNLOCK, ST_IDLE_TIMEOUT,
    ST_COLUMNS, ST_INDEXES,
    ST_NOTE_SET, ST_NOTE_GET, ST_NOTE_DELETE, ST_LOG_INSERT, ST_LOG_CLEAR, ST_LOG_PAGE,
    ST_COUNT
};
_Static_assert(ST_COUNT <= 32, "a connection's prepared statements are bits of a uint32_t");

/* The connection's prepared statements: one bit each. An UPDATE, and the
 * one-statement save, is prepared per set of columns it sets. */
struct prepared {
    uint32_t kind;                   /* bit k: statement kind k */
    uint32_t update[SQL_COLUMN_SETS / 32];    /* the guarded UPDATEs */
    uint32_t quick[SQL_COLUMN_SETS / 32];     /* the one-statement saves */
};

struct pg_store {
    const ts_host *host;
    ts_backend_ctx *ctx;
    const ts_field *keys;            /* the host's key fields: looked up, indexed */
    size_t nkeys;
    PGconn *conn;                    /* NULL while disconnected */
    unsigned generation;             /* counts connections, for held locks */
    int lost;                        /* the last error was a dropped connection */
    int standby;                     /* ... or a write refused by a read-only server */
    char sqlstate[6];                /* the SQLSTATE of the last failure, "" if none */
    struct prepared prepared;

    /* libpq's keywords and values, in the order PQconnectdbParams takes
     * them (the values are the host's option strings); NULL-ended. */
    const char *kw[48], *val[48];
    char where[320];                 /* the server, for messages */
    const char *user;                /* as given, for messages; may be NULL */
    long long statement_timeout_ms;
    long long lock_wait_ms;          /* how long a writer waits for the write lock */
    unsigned open_flags;
    int no_table;                    /* read-only, and the table is not there (yet) */

    char schema[PG_NAME_MAX + 1];    /* given, or the server's current_schema() */
    char table[PG_NAME_MAX + 1];
    char notes_table[PG_NAME_MAX + 1];   /* beside it: the notes, */
    char log_table[PG_NAME_MAX + 1];     /* and the refresh log */
    char qtable[PG_QNAME_MAX], qnotes[PG_QNAME_MAX], qlog[PG_QNAME_MAX];   /* quoted */
    const char *subject;             /* the table a failure is about; NULL: `table` */
    int64_t write_key, log_key, schema_key;   /* advisory lock keys */
    int max_chars[TS_FIELD_COUNT];   /* a column's character limit, 0: none */

    char *sql[ST_COUNT];
    ts_token *row;                   /* a save's plan row: empty between calls */
    ts_token *old;                   /* the row a one-statement save wrote over */
    int have_max;                    /* in a locked save: max_id is current */
    uint64_t max_id;
    unsigned locks_held;             /* try_lock's locks held on this connection */
    struct sql_held *held;           /* ... and every lock this handle took (locks.c) */
};

/* ------------------------------------------------------------------ */
/* statements.c: errors, statements, rows                              */
/* ------------------------------------------------------------------ */

/* Turns a failed result into a ts_code and a message naming the server,
 * the table and what we were doing; `values` says the statement carried
 * values, so the server's words are used only when they cannot quote one.
 * res may be NULL (a failure on the connection itself). */
int postgres_db_fail(struct pg_store *s, const PGresult *res, int values, const char *doing,
                     ts_error *err);
/* Runs statement `kind` with n text parameters (NULL: SQL NULL), preparing
 * it first on this connection; *res is the result, to free with
 * clear_result, or NULL on failure. */
int postgres_run(struct pg_store *s, enum stmt_kind kind, const char *const *p, int n,
                 const char *doing, PGresult **res, ts_error *err);
/* As run for a statement of the caller's: its name and SQL, prepared once
 * per connection (bit `bit` of *mask says it is). */
int postgres_run_named(struct pg_store *s, const char *name, const char *sql, uint32_t *mask,
                       unsigned bit, const char *const *p, int n, const char *doing, PGresult **res,
                       ts_error *err);
/* Runs SQL text without parameters (BEGIN, DDL; several statements may be
 * separated by ';'); the last result is checked, *res (may be NULL) gets it. */
int postgres_run_text(struct pg_store *s, const char *sql, const char *doing, PGresult **res,
                      ts_error *err);
/* Wipes the values of a result, then frees it (NULL is fine). */
void postgres_clear_result(PGresult *res);
/* Copies row i of res (the ten columns from column `first`) into token. */
int postgres_read_row(struct pg_store *s, const PGresult *res, int i, int first, ts_token *token,
                      ts_error *err);
/* The number of rows a command touched, checked against [min, max]. */
int postgres_rows_touched(struct pg_store *s, const PGresult *res, long min, long max,
                          const char *doing, long *n, ts_error *err);

/* ------------------------------------------------------------------ */
/* client.c: the connection                                            */
/* ------------------------------------------------------------------ */

/* Connects (s->conn) with the store's options; a failure names the cause. */
int postgres_connect_db(struct pg_store *s, ts_error *err);
/* Closes the connection (the server ends its transaction and its locks). */
void postgres_disconnect(struct pg_store *s);
/* Runs op on a live connection, reconnecting (and replaying op once, when
 * `replay` says that cannot change the outcome) if it drops. */
int postgres_with_connection(struct pg_store *s, int replay, int writing,
                             int (*op)(struct pg_store *, void *, ts_error *), void *arg,
                             ts_error *err);
/* In a forked child: lets go of the parent's connection without a byte to
 * the server. */
int postgres_abandon_connection(struct pg_store *s, ts_error *err);

/* ------------------------------------------------------------------ */
/* options.c: the options and the names                                */
/* ------------------------------------------------------------------ */

/* The option names the backend takes, NULL-ended. */
extern const char *const postgres_option_names[];
/* Reads and checks the store's options into s (libpq's keywords, the
 * table and schema, the timeouts). */
int postgres_read_options(struct pg_store *s, ts_error *err);
/* Once the schema is known: the quoted names, the tables beside the token
 * table and the advisory lock keys. */
int postgres_name_tables(struct pg_store *s, ts_error *err);
/* "<table><suffix>", cut short and given a hash when longer than 63. */
void postgres_derived_name(const struct pg_store *s, const char *suffix, char out[PG_NAME_MAX + 1]);
/* The advisory lock key of `what` on the store's table. */
int64_t postgres_lock_key(const struct pg_store *s, const char *what);

/* ------------------------------------------------------------------ */
/* schema.c: the table                                                 */
/* ------------------------------------------------------------------ */

/* The SQL of every statement of the token table (s->sql). */
int postgres_build_sql(struct pg_store *s, ts_error *err);
/* Finds the schema: the option's, which must exist, or the server's
 * current one (into s->schema). */
int postgres_find_schema(struct pg_store *s, ts_error *err);
/* Checks the table's columns, and creates the table and the missing
 * indexes (a read-only handle creates nothing and notes s->no_table). */
int postgres_ensure_schema(struct pg_store *s, ts_error *err);
/* Before a read: whether the table is there; *ready is 0 while it is not. */
int postgres_table_ready(struct pg_store *s, int *ready, ts_error *err);
/* Refuses a value wider than its column, naming the column. */
int postgres_check_widths(struct pg_store *s, const ts_token *token, ts_error *err);
/* The ts_lookup_fn the host's rules call: the row whose `field` is `value`. */
int postgres_lookup_row(void *state, ts_field field, const char *value, ts_token *row,
                        ts_error *err);
/* Of the rows of res (ten columns from `first`), the one with the lowest id. */
int postgres_lowest_id_row(struct pg_store *s, const PGresult *res, int first);

/* ------------------------------------------------------------------ */
/* locks.c: advisory locks                                             */
/* ------------------------------------------------------------------ */

/* Starts a transaction holding advisory lock `key` until it ends, waiting
 * up to lock_wait_ms (TS_ERR_BUSY naming `what` after that); `then`, SQL
 * without parameters, runs in the same round trip (may be NULL), its
 * result in *res. */
int postgres_begin_locked(struct pg_store *s, int64_t key, const char *what, const char *then,
                          PGresult **res, ts_error *err);
/* Ends what begin_locked began: COMMIT when rc is TS_OK, else ROLLBACK;
 * when either does not end as asked, closes the connection, which ends
 * it. Returns rc, or the COMMIT's failure. */
int postgres_end_locked(struct pg_store *s, int rc, ts_error *err);
int postgres_try_lock(void *state, const char *name, int64_t ttl_ms, void **handle,
                      ts_error *err);
int postgres_unlock(void *state, void *handle, ts_error *err);
/* Frees the record of the locks this handle took (at close). */
void postgres_free_held_locks(struct pg_store *s);

/* ------------------------------------------------------------------ */
/* save.c: writing                                                     */
/* ------------------------------------------------------------------ */

int postgres_save_token(void *state, ts_token *token, ts_error *err);
int postgres_save_tokens(void *state, ts_token *const *tokens, size_t n, ts_error *err);
int postgres_save_stream(void *state, int (*next)(void *stream, ts_token **token, ts_error *err),
                         void *stream, ts_error *err);
int postgres_delete_token(void *state, const char *id, ts_error *err);
int postgres_delete_tokens(void *state, ts_error *err);

/* ------------------------------------------------------------------ */
/* notes.c: the notes and the refresh log                              */
/* ------------------------------------------------------------------ */

/* The SQL of the notes' and the log's statements (s->sql). */
int postgres_build_notes_sql(struct pg_store *s, ts_error *err);
int postgres_note_set(void *state, const char *name, const char *value, int64_t ttl_ms,
                      ts_error *err);
int postgres_note_get(void *state, const char *name, char *value, size_t size, ts_error *err);
int postgres_log_append(void *state, const char *entry, size_t keep, ts_error *err);
int postgres_log_walk(void *state, int (*cb)(const char *entry, void *userdata), void *userdata,
                      ts_error *err);

#endif
