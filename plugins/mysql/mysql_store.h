/*
 * plugins/mysql/mysql_store.h - what the mysql backend's files share: the
 * open store (struct mysql_store), its statements (enum stmt_kind), a
 * bound parameter, and the functions one file offers the others. The
 * files form layers: statements.c (errors, running statements, fetching
 * rows), client.c (connecting, reconnecting, letting go in a forked
 * child) and options.c (the options, the lock names) use no other file;
 * schema.c (the table, its indexes, the SQL) runs statements.c's
 * statements; find.c (reading), locks.c (named locks, the store-wide
 * locks), notes.c (the notes and the log, in tables of their own) use
 * those, and save.c (saving and deleting) find.c too; mysql.c (opening
 * and closing, the ts_backend) uses them all. Nothing here leaves the plugin (it is
 * built with hidden visibility); mysql.c's opening comment describes the
 * design. Not named mysql.h: that is the client library's header, which
 * this one includes.
 */
#ifndef TS_PLUGIN_MYSQL_STORE_H
#define TS_PLUGIN_MYSQL_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <mysql.h>
#include <tokenstore/backend.h>
#include "../sql/sql.h"

#define NAME_MAX_LEN 64                /* MySQL's identifier limit */

enum tls_mode { TLS_OFF, TLS_REQUIRED, TLS_VERIFY_CA, TLS_VERIFY_IDENTITY };

/* The statements of a connection, prepared on first use. Field f's lookup
 * is ST_LOOKUP + f, there for the fields the host's key_fields lists. */
enum stmt_kind {
    ST_LOOKUP, ST_INSERT = ST_LOOKUP + TS_FIELD_COUNT, ST_MAX_ID, ST_DELETE_ONE, ST_DELETE_ALL, ST_WALK,
    ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_GET_LOCK, ST_RELEASE_LOCK, ST_WAIT_TIMEOUT,
    ST_WAIT_DEFAULT, ST_COLUMNS, ST_INDEXED, ST_DROP,
    ST_NOTE_SET, ST_NOTE_GET, ST_NOTE_DELETE, ST_NOTE_EXPIRE,
    ST_LOG_LAST, ST_LOG_INSERT, ST_LOG_PRUNE, ST_LOG_CLEAR, ST_LOG_PAGE, ST_COUNT
};


struct mysql_store {
    const ts_host *host;
    ts_backend_ctx *ctx;
    const ts_field *keys;            /* the host's key fields: looked up, indexed */
    size_t nkeys;
    MYSQL *conn;                     /* NULL while disconnected */
    unsigned generation;             /* counts connections, for held locks */
    int lost;                        /* the last error was a dropped connection */
    unsigned last_errno;             /* the MySQL error number of the last failure */

    char *host_name, *socket_path, *user, *password, *database;
    char *tls_ca, *tls_cert, *tls_key;
    unsigned port;
    enum tls_mode tls;
    unsigned connect_timeout_s, read_timeout_s, write_timeout_s;
    unsigned long long lock_wait_s;  /* how long a writer waits for the write lock */
    char table[NAME_MAX_LEN + 1];
    char notes_table[NAME_MAX_LEN + 1];  /* beside it: the notes, */
    char log_table[NAME_MAX_LEN + 1];    /* and the refresh log */
    const char *subject;             /* the table a failure is about; NULL: `table` */
    char where[320];                 /* "host:port" or the socket path */
    unsigned open_flags;
    int no_table;                    /* read-only, and the table is not there (yet) */

    char *sql[ST_COUNT];
    MYSQL_STMT *stmt[ST_COUNT];
    MYSQL_STMT *update[SQL_COLUMN_SETS];   /* an UPDATE per set of changed columns */
    char write_lock[40];             /* the GET_LOCK name inserts serialize on */
    char log_lock[40];               /* ... and appends to the log */
    unsigned locks_held;             /* try_lock's locks held on this connection */
    struct sql_held *held;           /* ... and every lock this handle took (locks.c) */

    /* Result columns: our buffers, wiped after every row. */
    char *col[TS_FIELD_COUNT];
    unsigned long col_cap[TS_FIELD_COUNT], col_len[TS_FIELD_COUNT];
    my_bool col_null[TS_FIELD_COUNT];

    ts_token *row;                   /* save_one's plan row: empty between calls */
    int have_max;                    /* in a locked save: max_id is current */
    unsigned long long max_id;
};

/* A bound parameter: a string (NULL: SQL NULL) or, with is_num, a number. */
struct param {
    const char *v;
    size_t len;
    long long num;
    int is_num;
};

static inline struct param str_param(const char *v)
{
    return (struct param){ .v = v && *v ? v : NULL, .len = v ? strlen(v) : 0 };
}

static inline struct param num_param(long long n)
{
    return (struct param){ .num = n, .is_num = 1 };
}

/* ------------------------------------------------------------------ */
/* statements.c: errors, statements, rows                              */
/* ------------------------------------------------------------------ */

/* Prepares sql into *slot unless it is there already; *out = *slot. */
int mysql_get_stmt(struct mysql_store *s, MYSQL_STMT **slot, const char *sql, MYSQL_STMT **out,
                   ts_error *err);
/* Binds the parameters and runs the statement, its result fetched into
 * the client. */
int mysql_execute(struct mysql_store *s, MYSQL_STMT *st, const struct param *p, unsigned n,
                  const char *doing, ts_error *err);
/* Runs statement `kind` (prepared on first use). */
int mysql_run(struct mysql_store *s, enum stmt_kind kind, const struct param *p, unsigned n,
              const char *doing, ts_error *err);
/* The next row of a stored result into s->col (the first n columns):
 * TS_OK, TS_NOT_FOUND at the end, or an error. */
int mysql_fetch(struct mysql_store *s, MYSQL_STMT *st, unsigned n, ts_error *err);
/* Copies the fetched row into token, and wipes the column buffers. */
int mysql_read_row(struct mysql_store *s, ts_token *token, ts_error *err);
/* A one-value result (a number or NULL) as text into buf. */
int mysql_fetch_scalar(struct mysql_store *s, MYSQL_STMT *st, char *buf, size_t n, int *is_null,
                       ts_error *err);

/* ------------------------------------------------------------------ */
/* client.c: the connection                                            */
/* ------------------------------------------------------------------ */

/* Connects (s->conn) with the store's options; a failure names the cause. */
int mysql_connect_db(struct mysql_store *s, ts_error *err);
/* Closes the connection and its statements (the server releases its locks). */
void mysql_disconnect(struct mysql_store *s);
/* Runs op on a live connection, reconnecting (and replaying op once, when
 * `replay` says that cannot change the outcome) if it drops. */
int mysql_with_connection(struct mysql_store *s, int replay, int writing,
                          int (*op)(struct mysql_store *, void *, ts_error *), void *arg,
                          ts_error *err);
/* In a forked child: lets go of the parent's connection and statements
 * without a byte to the server. */
int mysql_abandon_connection(struct mysql_store *s, ts_error *err);

/* ------------------------------------------------------------------ */
/* options.c: the options                                              */
/* ------------------------------------------------------------------ */

/* Reads and checks the store's options into s, and names the tables
 * beside the token table. */
int mysql_read_options(struct mysql_store *s, ts_error *err);
/* The GET_LOCK name for `what` on the store's table. */
void mysql_lock_name(const struct mysql_store *s, const char *what, char out[40]);
/* The option tls's word for a mode ("verify-ca"). */
const char *mysql_tls_mode_name(enum tls_mode mode);

/* ------------------------------------------------------------------ */
/* schema.c: the table                                                 */
/* ------------------------------------------------------------------ */

/* The SQL of every statement (s->sql). */
int mysql_build_sql(struct mysql_store *s, ts_error *err);
/* Checks the table's columns; creates the table and the missing indexes
 * (a read-only handle creates nothing and notes s->no_table). */
int mysql_ensure_schema(struct mysql_store *s, ts_error *err);
/* Before a read: whether the table is there; *ready is 0 while it is not. */
int mysql_table_ready(struct mysql_store *s, int *ready, ts_error *err);
/* How many values field's lookup statement binds (each is the value). */
unsigned mysql_lookup_params(ts_field field);
/* Runs one SQL text once, through a statement of its own (DDL). */
int mysql_run_once(struct mysql_store *s, const char *sql, const char *doing, ts_error *err);

/* ------------------------------------------------------------------ */
/* find.c: reading                                                     */
/* ------------------------------------------------------------------ */

/* The ts_lookup_fn the host's rules call: the row whose `field` is `value`. */
int mysql_lookup_row(void *state, ts_field field, const char *value, ts_token *row, ts_error *err);
int mysql_find_token(void *state, const ts_token *query, ts_token *row, ts_error *err);
int mysql_find_token_by_id(void *state, const char *id, ts_token *row, ts_error *err);
int mysql_get_tokens(void *state, ts_token_cb cb, void *userdata, ts_error *err);

/* ------------------------------------------------------------------ */
/* locks.c: named locks                                                */
/* ------------------------------------------------------------------ */

/* GET_LOCK(name, wait_s) into *got (1: taken); RELEASE_LOCK(name) with
 * kind ST_RELEASE_LOCK (*got 1: it was ours and is released). */
int mysql_named_lock(struct mysql_store *s, enum stmt_kind kind, const char *name, long long wait_s,
                     int *got, ts_error *err);
int mysql_try_lock(void *state, const char *name, int64_t ttl_ms, void **handle,
                   ts_error *err);
int mysql_unlock(void *state, void *handle, ts_error *err);
/* A writer's named lock (the table's write lock, the log's): GET_LOCK
 * waiting up to lock_wait_s; TS_ERR_BUSY naming `what` when another
 * writer kept it that long. */
int mysql_writer_lock(struct mysql_store *s, const char *name, const char *what, ts_error *err);
/* Ends what writer_lock began: commits the transaction (when txn and rc
 * is TS_OK) or rolls it back, and releases the lock; when either does not
 * end as asked, closes the connection, which ends both. Returns rc, or
 * the COMMIT's failure. */
int mysql_writer_unlock(struct mysql_store *s, const char *name, int txn, int rc, ts_error *err);
/* Frees the record of the locks this handle took (at close). */
void mysql_free_held_locks(struct mysql_store *s);

/* ------------------------------------------------------------------ */
/* save.c: writing                                                     */
/* ------------------------------------------------------------------ */

int mysql_save_token(void *state, ts_token *token, ts_error *err);
int mysql_save_tokens(void *state, ts_token *const *tokens, size_t n, ts_error *err);
int mysql_save_stream(void *state, int (*next)(void *stream, ts_token **token, ts_error *err),
                      void *stream, ts_error *err);
int mysql_delete_token(void *state, const char *id, ts_error *err);
int mysql_delete_tokens(void *state, ts_error *err);

/* ------------------------------------------------------------------ */
/* notes.c: the notes and the refresh log                              */
/* ------------------------------------------------------------------ */

/* The SQL of the notes' and the log's statements (s->sql). */
int mysql_build_notes_sql(struct mysql_store *s, ts_error *err);
int mysql_note_set(void *state, const char *name, const char *value, int64_t ttl_ms,
                   ts_error *err);
int mysql_note_get(void *state, const char *name, char *value, size_t size, ts_error *err);
int mysql_log_append(void *state, const char *entry, size_t keep, ts_error *err);
int mysql_log_walk(void *state, int (*cb)(const char *entry, void *userdata), void *userdata,
                   ts_error *err);

#endif
