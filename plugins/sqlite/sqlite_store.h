/*
 * plugins/sqlite/sqlite_store.h - what the sqlite backend's files share: the
 * store (struct sqlite_store) and the functions one offers the others.
 * statements.c is the bottom layer (errors, the busy handler, running
 * statements); schema.c (the table, its indexes and the read-only
 * connection), locks.c (store-wide locks) and notes.c (the notes and the
 * log beside the tokens) build on it; connection.c opens and closes the
 * connection on top of them; fork.c lets a forked child go of the
 * connections it inherited; find.c has the reads, save.c the writes, and
 * sqlite.c the ts_backend, open and close. Nothing here leaves the
 * plugin (it is built with hidden visibility).
 */
#ifndef TS_PLUGIN_SQLITE_STORE_H
#define TS_PLUGIN_SQLITE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <sqlite3.h>
#include <tokenstore/backend.h>
#include "../sql/sql.h"

#define TABLE_NAME_MAX 64

/* notes.c's statements (in struct sqlite_store's side[]), each prepared
 * on first use: whether a table is there, then those of <table>_notes and
 * of <table>_log. */
enum sqlite_side {
    SIDE_EXISTS,
    SIDE_NOTES_MAKE, SIDE_NOTES_INDEX, SIDE_NOTE_PUT, SIDE_NOTE_PURGE, SIDE_NOTE_REMOVE,
    SIDE_NOTE_GET,
    SIDE_LOG_MAKE, SIDE_LOG_ADD, SIDE_LOG_PRUNE, SIDE_LOG_WALK,
    SIDE_STATEMENTS
};

struct sqlite_store {
    const ts_host *host;
    ts_backend_ctx *ctx;
    sqlite3 *db;             /* NULL until the next call connects (see fork.c) */
    pid_t pid;               /* the process that opened db */
    char *path;
    char table[TABLE_NAME_MAX + 1];
    long long busy_timeout_ms;
    unsigned open_flags;             /* TS_OPEN_* */
    int sync_level;
    int no_table;                    /* read-only, and the table is not there (yet) */
    int immutable;                   /* read-only, opened while no -wal file existed */
    struct stat immutable_at;        /* ... and the file as it was then */
    const ts_field *keys;            /* the host's key fields: one index each */
    size_t nkeys;
    struct timespec busy_since;      /* when the current wait for a lock began */
    unsigned jitter_seed;

    sqlite3_stmt *lookup[TS_FIELD_COUNT];   /* by key field; others NULL */
    sqlite3_stmt *insert, *max_id, *delete_one, *delete_all, *walk;
    sqlite3_stmt *begin, *commit, *rollback;
    sqlite3_stmt *update[SQL_COLUMN_SETS];  /* per set of changed columns, prepared on first use */

    ts_token *row;           /* save_one's plan row: empty between calls */
    int replaced_secret;     /* this transaction wrote over a stored secret */
    int stranded;            /* forked amid a write: the connection cannot be let go */
    struct sqlite_store *next;              /* fork.c's list of open stores */

    /* try_lock's rows, in a table of their own made on first use */
    sqlite3_stmt *lock_purge, *lock_take, *lock_release;
    /* the notes and the log, in tables of their own made on first write */
    sqlite3_stmt *side[SIDE_STATEMENTS];
};

/* statements.c */

/* Turns a SQLite result into a ts_code and a message naming the file and
 * what we were doing. */
int sqlite_db_fail(struct sqlite_store *s, int rc, const char *doing, ts_error *err);
/* SQLite's busy handler (arg: the store): polls for busy_timeout_ms. */
int sqlite_busy_wait(void *arg, int attempts);
/* Prepares sql (from sqlite3_mprintf, freed here) to live as long as the
 * store. */
int sqlite_prepare(struct sqlite_store *s, sqlite3_stmt **stmt, char *sql, ts_error *err);
/* Runs a statement that returns no rows and resets it. */
int sqlite_run(struct sqlite_store *s, sqlite3_stmt *stmt, const char *doing, ts_error *err);
/* Runs one SQL text (from sqlite3_mprintf, freed here) once. */
int sqlite_run_sql(struct sqlite_store *s, char *sql, const char *doing, ts_error *err);
/* Commits the write transaction; when the commit fails, rolls back what
 * is left of it and returns the commit's error. */
int sqlite_commit(struct sqlite_store *s, ts_error *err);
/* Rolls back the transaction, if one is still open. */
void sqlite_rollback(struct sqlite_store *s);
/* Binds field f of token to parameter ?f+1; an absent field is NULL. */
int sqlite_bind_field(sqlite3_stmt *stmt, const ts_host *host, const ts_token *token, ts_field f);
/* Copies the ten columns of the current result row into token. */
int sqlite_read_row(struct sqlite_store *s, sqlite3_stmt *stmt, ts_token *token, ts_error *err);

/* schema.c */

/* Opens s->db read-only, immutable while the database has no -wal file;
 * a SQLite result code. */
int sqlite_connect_reader(struct sqlite_store *s);
/* Whether an immutable connection must be opened again: a writer has the
 * database open, or one came and went. */
int sqlite_immutable_stale(const struct sqlite_store *s);
/* Checks the table's columns. *exists is 0 when there is no such table. */
int sqlite_check_columns(struct sqlite_store *s, int *exists, ts_error *err);
/* Creates the table and our indexes if they are not there (a reader
 * creates nothing and notes s->no_table). */
int sqlite_ensure_schema(struct sqlite_store *s, ts_error *err);

/* connection.c */

/* Opens the connection, checks or creates the table and prepares the
 * statements; closes it again on failure. */
int sqlite_open_connection(struct sqlite_store *s, ts_error *err);
/* Finalizes every statement and closes the connection; or, to abandon
 * them, only forgets them. */
void sqlite_disconnect(struct sqlite_store *s, int abandon);
/* Before a call: a store without a connection (a reader's failed
 * reconnect, a forked child's let-go one) opens one. */
int sqlite_connected(struct sqlite_store *s, ts_error *err);
/* Before a read: as sqlite_connected, and a read-only handle's immutable
 * connection is opened again once a writer has touched the database. */
int sqlite_reading(struct sqlite_store *s, ts_error *err);
/* Before a read of the tokens: as sqlite_reading, and a handle opened
 * before the table existed looks for it again. *ready is 0 while the
 * store is empty. */
int sqlite_table_ready(struct sqlite_store *s, int *ready, ts_error *err);

/* find.c */

/* The ts_lookup_fn the host's rules call: the row whose field is value. */
int sqlite_lookup(void *state, ts_field field, const char *value, ts_token *row,
                  ts_error *err);
int sqlite_find_token(void *state, const ts_token *query, ts_token *row, ts_error *err);
int sqlite_find_token_by_id(void *state, const char *id, ts_token *row, ts_error *err);
int sqlite_get_tokens(void *state, ts_token_cb cb, void *userdata, ts_error *err);

/* save.c: the backend's writing members. */
int sqlite_save_token(void *state, ts_token *token, ts_error *err);
int sqlite_save_tokens(void *state, ts_token *const *tokens, size_t n, ts_error *err);
int sqlite_save_stream(void *state, int (*next)(void *stream, ts_token **token, ts_error *err),
                       void *stream, ts_error *err);
int sqlite_delete_token(void *state, const char *id, ts_error *err);
int sqlite_delete_tokens(void *state, ts_error *err);

/* fork.c */

/* Lists a store that has just connected, so that a forked child lets go
 * of its connection; and takes it off the list before it is freed. */
void sqlite_list_store(struct sqlite_store *s);
void sqlite_unlist_store(struct sqlite_store *s);
/* In a forked child, before its first connection to a database: lets go
 * of every connection this process inherited. Nothing in the parent. */
void sqlite_leave_inherited(void);
/* The backend's forked member. */
int sqlite_forked(void *state, ts_error *err);

/* locks.c: the backend's try_lock and unlock. */
int sqlite_try_lock(void *state, const char *name, int64_t ttl_ms, void **handle,
                    ts_error *err);
int sqlite_unlock(void *state, void *handle, ts_error *err);

/* notes.c: the backend's note_set, note_get, log_append and log_walk. */
int sqlite_note_set(void *state, const char *name, const char *value, int64_t ttl_ms,
                    ts_error *err);
int sqlite_note_get(void *state, const char *name, char *value, size_t size, ts_error *err);
int sqlite_log_append(void *state, const char *entry, size_t keep, ts_error *err);
int sqlite_log_walk(void *state, int (*cb)(const char *entry, void *userdata), void *userdata,
                    ts_error *err);

#endif
