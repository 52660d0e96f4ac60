/*
 * plugins/sql/sql.h - what the SQL backends (sqlite, mysql, postgres)
 * share, written once: the opening every one of them starts with; the
 * token table's columns (their list, a column's field by name, the set a
 * save changes and the SET list that writes it); a batch save's kept
 * copies and its replay rule; the idle-connection check; the names made
 * from the table's; the wall clock notes expire by, and the notes and
 * refresh log's arguments and page hand-over; the named locks a handle
 * holds.
 *
 * Compiled into each SQL backend's .so (not exported: every name is
 * hidden, as the backend's own are), on the host table alone: no SQL
 * client library's header is included here, so each backend keeps its
 * own statements, binding and error mapping.
 */
#ifndef TS_PLUGIN_SQL_H
#define TS_PLUGIN_SQL_H

#include <stddef.h>
#include <stdint.h>
#include <tokenstore/backend.h>

/* The host's minor version the SQL backends are written against: save_plan
 * (1.4), next_id and option_choice (1.2), error_prefix (1.5). */
#define SQL_HOST_MINOR 5

/* What each SQL backend's open() does first, into its own store: refuses
 * a core older than SQL_HOST_MINOR, makes the row a save's plan is read
 * into, and takes the host's key fields and the flags the store is opened
 * with. TS_OK, TS_ERR_ABI or TS_ERR_NOMEM; on failure *row is NULL. */
int sql_open_begin(const ts_host *host, ts_backend_ctx *ctx, ts_token **row,
                   const ts_field **keys, size_t *nkeys, unsigned *open_flags, ts_error *err);

/* ---------------------------------------------------------------- columns */

/* The token table's ten columns in field order, as the host's field_name
 * spells them (the SDK's oauthtoken). */
#define SQL_COLUMNS "id, user_name, client_id, client_secret, refresh_token, access_token, " \
                    "grant_token, expiry_time, redirect_url, api_domain"

/* The field a column is, by its name, or -1; `fold`: without regard to
 * case (MySQL's and SQLite's column names), else byte for byte
 * (PostgreSQL's catalog). */
int sql_field_of(const ts_host *host, const char *name, int fold);

/* The columns a table lacks, given `present` with bit f set for each
 * field f it has: "client_id, api_domain" into out (empty when none). */
void sql_missing_columns(const ts_host *host, unsigned present, char *out, size_t size);

/* A set of the token table's columns but id: field f is bit f - 1. */
#define SQL_COLUMN(f) (1u << ((f) - 1))
/* How many such sets there are: the size of a per-set statement cache. */
#define SQL_COLUMN_SETS (1u << (TS_FIELD_COUNT - 1))

/* The columns whose value `token` changes over `row`, the stored row the
 * host's save plan chose. */
unsigned sql_changed_columns(const ts_host *host, const ts_token *token, const ts_token *row);

/* How a SET list marks its parameters. */
enum sql_marks {
    SQL_MARKS_PLAIN,     /* "?", bound in the list's order (MySQL) */
    SQL_MARKS_BY_FIELD,  /* "?N", N the field's index + 1 (sqlite binds each field there) */
    SQL_MARKS_NUMBERED,  /* "$N", numbered from `first` (PostgreSQL) */
};

/* Writes "a = ?, b = ?" for the columns in `columns` into out (size
 * bytes, cut there), in field order, marked as `marks` says. */
void sql_set_list(const ts_host *host, unsigned columns, enum sql_marks marks, int first,
                  char *out, size_t size);

/* Whether the server closed, or wrote unasked to, the idle connection on
 * socket fd (-1: none), which it does only to end it (a shutdown, an idle
 * timeout): a restarted server is noticed before a write is sent into it. */
int sql_peer_closed(int fd);

/* ---------------------------------------------------------------- names */

/* FNV-1a over the parts, each ended by a byte no name holds: lock names
 * and keys, and the hash in a derived name. */
uint64_t sql_hash(const char *const *parts, int n);

/* A name made from the token table's: "<table><suffix>" into out (max + 1
 * bytes), so stores side by side keep apart; when that is longer than
 * max (which the server would refuse or cut, and two long names alike at
 * the start would meet), the table's name is cut short and a hash of the
 * whole of it goes before the suffix. */
void sql_derived_name(const char *table, const char *suffix, size_t max, char *out);

/* ---------------------------------------------------------------- saves */

/* Whether a save of these tokens may be replayed after a lost reply: not
 * when one has no id and no lookup key, as it could not be found again
 * and would be saved twice. */
int sql_replayable(const ts_host *host, ts_token *const *tokens, size_t n);

/* Copies of the n tokens a batch saves, so that a failed save leaves the
 * caller's tokens as they were given; NULL (err filled) when out of
 * memory. */
ts_token **sql_tokens_keep(const ts_host *host, ts_token *const *tokens, size_t n,
                           ts_error *err);
/* Puts the copies back into tokens when the save failed (rc not TS_OK),
 * and frees them. */
void sql_tokens_restore(const ts_host *host, ts_token **kept, ts_token *const *tokens, size_t n,
                        int rc);

/* ---------------------------------------------------------------- notes */

/* Milliseconds since the epoch by this host's clock, which notes expire
 * by (the OAuth client's own times in them go by it too). */
int64_t sql_wall_ms(void);

/* One note_set or note_get. */
struct sql_note_args {
    const char *name, *value;     /* value NULL: remove the note */
    int64_t ttl_ms;
    char *out;                    /* note_get's buffer, of size bytes */
    size_t size;
};

/* note_get's last step: copies the len bytes read for the note into the
 * caller's buffer, or says (naming where, the table and the note) that
 * they do not fit. */
int sql_note_copy(const ts_host *host, struct sql_note_args *a, const char *value, size_t len,
                  const char *where, const char *schema, const char *table, ts_error *err);

/* The log's rows are read this many to a round trip. */
#define SQL_LOG_PAGE 256

/* One log_append or log_walk. */
struct sql_log_args {
    const char *entry;
    size_t keep;
    int (*cb)(const char *entry, void *userdata);
    void *userdata;
    long long after;              /* the walk: the last seq handed over */
};

/* Hands the n entries of a page, copied out of the server with their
 * seqs, to the walk's callback in order while rc is TS_OK, moving
 * a->after along, and frees them all. *more says whether to read another
 * page: the page was full and nothing stopped the walk. Returns rc, or
 * what a callback returned to stop it. */
int sql_log_hand_over(struct sql_log_args *a, char **entries, const long long *seqs, int n,
                      int rc, int *more);

/* ---------------------------------------------------------------- locks */

/* The named locks a handle holds (try_lock): each backend's lock record
 * starts with this link. */
struct sql_held {
    struct sql_held *next;
};

void sql_held_add(struct sql_held **list, struct sql_held *lock);
/* Unlinks `lock` (when it is in the list) and frees it. */
void sql_held_drop(struct sql_held **list, struct sql_held *lock);
void sql_held_free_all(struct sql_held **list);

#endif
