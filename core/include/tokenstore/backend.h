/*
 * tokenstore/backend.h - everything a storage backend is written against.
 *
 * A backend is a shared object that exports exactly one symbol,
 * tokenstore_backend_init(). The core calls it with the ABI version it
 * speaks and a table of host helpers (struct ts_host); the backend answers
 * with a const table of its own (struct ts_backend): name, version,
 * capabilities, the option names it accepts, open/close and the SDK's six
 * TokenStore operations.
 *
 * The host table is how a backend stays small and faithful: tokens, the
 * SDK's lookup-key and upsert rules, id arithmetic, a hash-indexed token
 * table, option parsing, error and log reporting all come from the core, so
 * a backend neither links against libtokenstore nor re-implements the SDK.
 * A backend builds with this header alone.
 *
 * Versioning, in the manner of krb5's plugin interface: the major version
 * changes only when an existing member changes meaning; new members are
 * added at the end of either table with a minor bump, each marked with
 * the version that added it ("since 1.1"; a member without a note is in
 * 1.0). Both tables start with their size, so each side treats a member
 * beyond the other's size, or a NULL optional member, as "not supported":
 * TS_HOST_HAS() and TS_BACKEND_HAS() below say which.
 *
 * Lifetimes and aliasing, as the core keeps them:
 * - The host table, and the ts_backend_ctx open() receives, stay valid
 *   from open() until close() returns; a backend may keep both. Strings
 *   host->option() returns live as long.
 * - Tokens, strings and ids passed to an operation are the caller's and
 *   valid only during the call: copy what you keep. find_token's `row`
 *   and find_token_by_id's `row` are empty tokens of the core's, never the
 *   query or the caller's token (`row` does not alias `query`); save_token
 *   writes into the caller's `token` itself.
 * - The token get_tokens hands its callback is the backend's, valid only
 *   during that callback (the core passes it on to the application's
 *   callback, which copies what it keeps); the backend may reuse it.
 * - When the host's rule helpers call a ts_lookup_fn, `value` points into
 *   the query or token being resolved, never into `row`; the lookup
 *   replaces every field of `row` (token_copy does).
 * - A backend's own table and the strings it points at (name, version,
 *   description, options) must stay valid while the .so is loaded: make
 *   them static const.
 * - `err` may be NULL: fill it only through host->error(), which allows it.
 */
#ifndef TOKENSTORE_BACKEND_H
#define TOKENSTORE_BACKEND_H

#include <stddef.h>
#include <tokenstore/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TS_ABI_MAJOR 1
#define TS_ABI_MINOR 5

/* The one symbol a backend exports. */
#define TS_BACKEND_INIT_SYMBOL "tokenstore_backend_init"

#if defined(__GNUC__)
#define TS_BACKEND_EXPORT __attribute__((visibility("default")))
#else
#define TS_BACKEND_EXPORT
#endif

/* The core's per-store context; passed back to the host's log and option
 * helpers. (A backend's own per-store pointer is called `state`.) */
typedef struct ts_backend_ctx ts_backend_ctx;

/* A hash-indexed in-memory table of tokens kept by the core for backends
 * (memory keeps its tokens in one, file caches its parsed file in one). */
typedef struct ts_table ts_table;

/*
 * A backend's primitive lookup: find the stored row whose `field` equals
 * `value` (field is TS_FIELD_ID or one of the lookup-key fields) and copy it
 * into `row`; when several rows hold the value, the one with the lowest id
 * (the conformance suite checks it). Returns TS_OK, TS_NOT_FOUND, or an
 * error (filling err).
 * The host's rule helpers call it; `state` is the pointer the backend gave
 * them alongside it (its own state, or a ts_table for table_lookup).
 */
typedef int (*ts_lookup_fn)(void *state, ts_field field, const char *value,
                            ts_token *row, ts_error *err);

typedef struct ts_host {
    uint32_t size;          /* sizeof(struct ts_host) in the core */
    uint16_t abi_major;
    uint16_t abi_minor;

    /* --- tokens --- */
    ts_token *(*token_new)(void);                 /* NULL when out of memory */
    void (*token_free)(ts_token *token);          /* wipes secrets */
    const char *(*token_get)(const ts_token *token, ts_field field); /* never NULL */
    /* Copies value (NULL or "" clears); TS_ERR_NOMEM or TS_ERR_INVALID. */
    int (*token_set)(ts_token *token, ts_field field, const char *value);
    /* As token_set for len bytes that need not be NUL-terminated; a NUL
     * byte inside is refused with TS_ERR_INVALID. */
    int (*token_setn)(ts_token *token, ts_field field, const char *value, size_t len);
    int (*token_copy)(ts_token *dst, const ts_token *src);
    void (*token_clear)(ts_token *token);         /* wipes and empties */
    const char *(*field_name)(ts_field field);    /* "user_name", ... */

    /* --- the SDK's rules --- */
    /* The keys find_token/save_token match on, in priority order: user_name;
     * else access_token when client_id and client_secret are both absent;
     * else grant_token and refresh_token when client_id and client_secret
     * are both present. Returns how many keys were written (0, 1 or 2). */
    int (*lookup_keys)(const ts_token *query, ts_field keys[2]);
    /* find_token for a backend: looks the lookup keys up through `lookup`
     * and copies into `row` the match with the lowest id (the SDK takes
     * the first row of its file that any key matches). TS_OK, TS_NOT_FOUND
     * or an error. */
    int (*find_by_rule)(const ts_token *query, ts_lookup_fn lookup, void *state,
                        ts_token *row, ts_error *err);
    /* save_token for a backend, the deciding half: finds the stored row the
     * token replaces (by id when the token has one, else by its lookup
     * keys), refuses a save that would give one user two rows
     * (TS_ERR_CONFLICT), and fills the token's empty fields, id included,
     * from that row. TS_OK: write the token over the row with that id.
     * TS_NOT_FOUND: insert it; if its id is empty, give it the next id.
     * TS_ERR_INVALID (since 1.1): it matches no row and holds none of
     * refresh, grant and access token, which the SDK does not insert.
     * Call it under the same lock or transaction as the write. */
    int (*save_resolve)(ts_token *token, ts_lookup_fn lookup, void *state,
                        ts_error *err);

    /* --- ids: decimal integers, compared numerically --- */
    /* Parses a stored id: TS_ERR_INVALID unless a decimal number from 0 to
     * INT64_MAX without leading zeros. */
    int (*id_parse)(const char *id, uint64_t *out);
    void (*id_format)(uint64_t id, char buf[21]);

    /* --- hash-indexed token tables (O(1) by id and by every key) --- */
    ts_table *(*table_new)(void);
    void (*table_free)(ts_table *table);
    /* A ts_lookup_fn over a table: pass the table as state. */
    int (*table_lookup)(void *table, ts_field field, const char *value,
                        ts_token *row, ts_error *err);
    /* Borrowed pointer to a stored row, or NULL; valid until the next change. */
    const ts_token *(*table_get)(const ts_table *table, ts_field field, const char *value);
    /* The whole save_token (resolve, merge, insert with the next id). */
    int (*table_save)(ts_table *table, ts_token *token, ts_error *err);
    /* Stores a row as it is (loading a file): TS_ERR_CORRUPT on a duplicate
     * or missing id. */
    int (*table_insert)(ts_table *table, const ts_token *row, ts_error *err);
    int (*table_delete)(ts_table *table, const char *id);   /* TS_OK / TS_NOT_FOUND */
    void (*table_clear)(ts_table *table);
    size_t (*table_count)(const ts_table *table);
    /* Visits rows in ascending numeric id; returns what a callback returned
     * when it stopped the walk, else TS_OK. */
    int (*table_foreach)(ts_table *table, ts_token_cb cb, void *userdata);

    /* --- errors, logs and options --- */
    /* Fills err (may be NULL) and returns code. Never put a secret in it. */
    int (*error)(ts_error *err, int code, const char *fmt, ...) TS_PRINTF(3, 4);
    void (*log)(ts_backend_ctx *ctx, int level, const char *fmt, ...) TS_PRINTF(3, 4);
    /* The value of an option, or NULL when it was not given. Only names the
     * backend listed in its `options` ever reach it. */
    const char *(*option)(ts_backend_ctx *ctx, const char *key);
    /* An integer option in [min, max], or dflt when absent. */
    int (*option_int)(ts_backend_ctx *ctx, const char *key, long long dflt,
                      long long min, long long max, long long *out, ts_error *err);
    /* A file mode option, always octal ("0600", "640"), or dflt. */
    int (*option_mode)(ts_backend_ctx *ctx, const char *key, unsigned dflt,
                       unsigned *out, ts_error *err);

    /* --- since 1.1 --- */
    /* The TS_OPEN_* flags the store is being opened with. A backend that
     * declares TS_CAP_OPEN_FLAGS honours them in open(): with
     * TS_OPEN_MUST_EXIST it creates nothing and returns TS_ERR_NO_STORE
     * ("no such store: PATH") when the store does not exist; with
     * TS_OPEN_READ_ONLY it also changes nothing (no schema, header, journal
     * mode or lock file) and reads a store that lacks its table or header as
     * an empty one. The core refuses every write on a read-only handle
     * before it reaches the backend. */
    unsigned (*open_flags)(ts_backend_ctx *ctx);

    /* --- since 1.2: the rest of the SDK's rules, so no backend spells
     * them out --- */
    /* The fields a stored row is looked up by, the ones a ts_lookup_fn is
     * asked about and a backend indexes: id, user_name, access_token,
     * refresh_token, grant_token, in that order. Returns a static array and
     * stores its length in *count. Only id and user_name are one row each;
     * several rows may share a token value. */
    const ts_field *(*key_fields)(size_t *count);
    /* Gives a token to insert without an id the SDK's next id: the largest
     * numeric id stored plus one, max_id being that largest id (0 in an
     * empty store), so deleting the newest row frees its id again. Call it
     * under the same lock or transaction as the insert. TS_OK; TS_ERR_BACKEND
     * when max_id is INT64_MAX ("no id is left"); TS_ERR_NOMEM. */
    int (*next_id)(ts_token *token, uint64_t max_id, ts_error *err);
    /* An option that takes one of a few words, such as sqlite's
     * synchronous: the index in `choices` (NULL-terminated, compared
     * without regard to case) of its value, or dflt when it is absent. A
     * value not among them is TS_ERR_CONFIG naming where it was set and
     * the choices, as option_int does. */
    int (*option_choice)(ts_backend_ctx *ctx, const char *key, const char *const *choices,
                         int dflt, int *out, ts_error *err);

    /* --- since 1.4 --- */
    /* save_token's deciding half, with its decision handed back as data:
     * the same rules, codes and filling of the token as save_resolve, and
     * on TS_OK `row` holds the stored row the save replaces, as `lookup`
     * read it. Write over row's id and no other row; the fields where the
     * token differs from row are the ones the save changes. On any other
     * result `row` is empty. `row` is the caller's (an empty token from
     * token_new) and is not the token. A backend reads the plan it is
     * given and keeps nothing of a lookup between calls: which row a save
     * lands on is decided here once. Call it under the same lock or
     * transaction as the write. */
    int (*save_plan)(ts_token *token, ts_lookup_fn lookup, void *state, ts_token *row,
                     ts_error *err);

    /* --- since 1.5 --- */
    /* Says where a failure happened without losing what it was: puts the
     * formatted text and ": " before the message err holds (its code's
     * text when the message is empty), sets err's code to `code` and
     * returns `code`, err being NULL or not ("token 3: ...", "PATH: table
     * oauthtoken: ..."). Never put a secret in it. */
    int (*error_prefix)(ts_error *err, int code, const char *fmt, ...) TS_PRINTF(3, 4);
    /* New members go here, with a minor version bump. */
} ts_host;

/* Whether a table has `member`: its size reaches past the member and the
 * member is set. A backend built against this header may be loaded by an
 * older core, whose host table ends earlier, and the core loads backends
 * built for older minors. */
#define TS_HOST_HAS(host, member)                                               \
    ((host)->size >= offsetof(ts_host, member) + sizeof((host)->member) &&      \
     (host)->member)
#define TS_BACKEND_HAS(backend, member)                                         \
    ((backend)->size >= offsetof(ts_backend, member) + sizeof((backend)->member) && \
     (backend)->member)

/* The flags the store is opened with, or 0 from a core older than 1.1,
 * whose host table ends before open_flags. */
static inline unsigned ts_host_open_flags(const ts_host *host, ts_backend_ctx *ctx)
{
    return TS_HOST_HAS(host, open_flags) ? host->open_flags(ctx) : 0;
}

/* For open(): TS_OK when the core's host table is of ABI 1.`minor` or
 * later (so every member up to that version is there), else TS_ERR_ABI
 * with a message naming both versions. */
static inline int ts_host_require(const ts_host *host, unsigned minor, ts_error *err)
{
    if (host->abi_major == TS_ABI_MAJOR && host->abi_minor >= minor)
        return TS_OK;
    return host->error(err, TS_ERR_ABI, "this backend needs a core of ABI %d.%u or later; "
                       "this one speaks %u.%u", TS_ABI_MAJOR, minor,
                       (unsigned)host->abi_major, (unsigned)host->abi_minor);
}

/*
 * The backend's table. Mandatory members: size, abi_major, abi_minor, name,
 * version, open, close and the six operations; the core refuses a backend
 * without them. `state` is what open() returned.
 *
 * Contracts the core relies on (and the conformance suite checks):
 * - Ids are decimal strings; the core validates them before any call.
 * - The core validates before calling: find_token's query has a lookup key;
 *   a saved token's id, if any, is valid. Since ABI 1.1 a token to save may
 *   lack refresh, grant and access token when it updates a stored row (the
 *   merge keeps the row's); save_token refuses it with TS_ERR_INVALID when
 *   it would insert, as save_resolve and table_save do. A backend built for
 *   1.0 is still only handed tokens holding one of them. find_token
 *   copies the whole stored row into `row`; the core merges it into the
 *   caller's token.
 * - save_token upserts exactly as host->save_resolve decides and writes
 *   the final token (with its id) back into `token`.
 * - get_tokens visits every token in ascending numeric id.
 * - delete_token and find_token_by_id return TS_NOT_FOUND for a missing id.
 */
typedef struct ts_backend {
    uint32_t size;            /* sizeof(struct ts_backend) the backend built with */
    uint16_t abi_major;       /* TS_ABI_MAJOR */
    uint16_t abi_minor;       /* TS_ABI_MINOR */
    const char *name;         /* [a-z0-9_-]+, e.g. "sqlite" */
    const char *version;      /* the backend's own version, e.g. "1.0.0" */
    const char *description;  /* optional, one line */
    uint32_t caps;            /* TS_CAP_* bits */
    const char *const *options; /* NULL-terminated option names it accepts */

    int (*open)(const ts_host *host, ts_backend_ctx *ctx, void **state, ts_error *err);
    void (*close)(void *state);

    int (*find_token)(void *state, const ts_token *query, ts_token *row, ts_error *err);
    int (*save_token)(void *state, ts_token *token, ts_error *err);
    int (*delete_token)(void *state, const char *id, ts_error *err);
    int (*get_tokens)(void *state, ts_token_cb cb, void *userdata, ts_error *err);
    int (*delete_tokens)(void *state, ts_error *err);
    int (*find_token_by_id)(void *state, const char *id, ts_token *row, ts_error *err);

    /* --- optional members: NULL (or beyond `size`) means "not offered" --- */

    /* Saves n tokens as n save_token calls in order would, but in one
     * transaction or one write where the store allows it (a migration or a
     * bulk import into a file store is then one rewrite, not n). On failure
     * nothing is saved if the backend can promise it, else a prefix may be.
     * Without it the core calls save_token n times. */
    int (*save_tokens)(void *state, ts_token *const *tokens, size_t n, ts_error *err);

    /* A store-wide advisory lock called `name` (such as "refresh:42"),
     * excluding every other handle, thread and process using the same
     * store; the OAuth client holds it around a token refresh so that one
     * refresh request reaches the accounts server however many workers
     * need the token. try_lock never waits: TS_OK with *handle set when it
     * took the lock, TS_ERR_BUSY when someone holds it (the core does the
     * waiting). A lock not released within ttl_ms is free again, so a
     * crashed holder cannot block forever. unlock releases only the lock
     * this handle took. Offer both or neither; without them the core
     * excludes only the threads of one process. */
    int (*try_lock)(void *state, const char *name, int64_t ttl_ms, void **handle,
                    ts_error *err);
    int (*unlock)(void *state, void *handle, ts_error *err);

    /* --- since 1.2 --- */
    /* n find_token calls at once, for a store that can answer them in one
     * round trip (redis pipelines them): for each i, rows[i] and results[i]
     * as find_token(state, queries[i], rows[i]) would leave them (TS_OK,
     * TS_NOT_FOUND or an error). Each query has a lookup key; a row may
     * not alias its query. Returns TS_OK when every result is TS_OK or
     * TS_NOT_FOUND, else the first failed one's code with err describing
     * it; an error that stops the whole batch (a lost connection) is every
     * result. Without it the core calls find_token n times. */
    int (*find_tokens)(void *state, const ts_token *const *queries, size_t n,
                       ts_token *const *rows, int *results, ts_error *err);

    /* --- since 1.3: find_tokens in two halves, for an event loop --- */
    /* Sends the n finds' requests without waiting for an answer, and sets
     * *fd to the socket the answers come in on and *timeout_ms to how long
     * they may take (-1: no limit); TS_ERR_UNSUPPORTED, sending nothing, when it cannot
     * do so now without waiting (not connected, TLS, a query it answers
     * in more than one round trip): the core then says so to the caller,
     * who uses find_tokens. Every query has a lookup key. Between send and
     * the receive that sets *done (or cancel) the core makes no other
     * call on the state. */
    int (*find_tokens_send)(void *state, const ts_token *const *queries, size_t n, int *fd,
                            int *timeout_ms, ts_error *err);
    /* Reads what has arrived without waiting. *done = 0: not every answer
     * yet (the core calls again when fd is readable). *done = 1: rows and
     * results as find_tokens leaves them, where a result of
     * TS_ERR_UNSUPPORTED is a find this way cannot settle (a redirect, a
     * lost connection), for find_token to answer. */
    int (*find_tokens_receive)(void *state, const ts_token *const *queries, size_t n,
                               ts_token *const *rows, int *results, int *done,
                               ts_error *err);
    /* Gives up on a sent batch (the caller's timeout, or a close): the
     * answers still to come must not be taken for another call's. */
    void (*find_tokens_cancel)(void *state);

    /* --- since 1.4 --- */
    /* The process was forked since the store was opened, and this is the
     * child, about to make its first call on the handle: let go of what a
     * child cannot share with its parent (connections, lock files and
     * locks, mapped files, statements of a database connection) without
     * a word to any server and without touching a lock the parent holds,
     * so that the next operation opens its own. Called once per fork,
     * before any other member, in a child that has one thread. Without
     * it the core refuses every call in the child with TS_ERR_UNSUPPORTED
     * (open the store again there). */
    int (*forked)(void *state, ts_error *err);
    /* Removes the store itself, what delete_tokens leaves behind (a
     * table, a file, a key prefix), for a scratch store made for one run
     * (`tokenstore check-backend`). The state is closed right after. */
    int (*drop)(void *state, ts_error *err);
    /* Notes and a log beside the tokens, never in the SDK's table, file or
     * keys: the OAuth client keeps there what every process sharing the
     * store must see (a failed refresh's backoff, the requests spent of a
     * token's refresh budget) and the refresh log an operator reads.
     * Names and entries are short lines of text without a secret. Offer
     * all four or none; without them the core keeps both in the memory
     * of the process that holds the handle. */
    /* Stores value under name for ttl_ms (0: until replaced or removed),
     * replacing what was there; a NULL value removes the note. */
    int (*note_set)(void *state, const char *name, const char *value, int64_t ttl_ms,
                    ts_error *err);
    /* Copies the live note under name into value (size bytes, with the
     * NUL): TS_OK; TS_NOT_FOUND when there is none or it expired;
     * TS_ERR_BACKEND when it does not fit. */
    int (*note_get)(void *state, const char *name, char *value, size_t size, ts_error *err);
    /* Appends entry to the log, then drops the oldest entries beyond keep. */
    int (*log_append)(void *state, const char *entry, size_t keep, ts_error *err);
    /* Calls cb with each entry of the log, oldest first, until it returns
     * non-zero, which log_walk returns. */
    int (*log_walk)(void *state, int (*cb)(const char *entry, void *userdata), void *userdata,
                    ts_error *err);
    /* save_tokens for tokens that come one at a time (a restore of any
     * size): pulls each from next() (TS_OK with *token set, valid until
     * the next call; TS_NOT_FOUND after the last; any other code ends the
     * save with that error) and saves it as save_token would, writing its
     * id into it before pulling the next, all in one transaction or one
     * write: all of them or none. Without it the core saves them one by
     * one. */
    int (*save_stream)(void *state, int (*next)(void *source, ts_token **token, ts_error *err),
                       void *source, ts_error *err);
    /* New members go here, with a minor version bump and a "since" note. */
} ts_backend;

/* The head of a backend's table, in the manner of libgit2's
 * GIT_ODB_BACKEND_INIT: its size and the ABI version it is built for.
 *     static const ts_backend table = { TS_BACKEND_HEAD, .name = "x", ... };
 */
#define TS_BACKEND_HEAD \
    .size = sizeof(ts_backend), .abi_major = TS_ABI_MAJOR, .abi_minor = TS_ABI_MINOR

/*
 * The registration symbol. The core passes the ABI it speaks and its host
 * table; the backend returns TS_ERR_ABI for a major it was not built for,
 * else stores its table in *out and returns TS_OK.
 */
typedef int (*ts_backend_init_fn)(unsigned abi_major, unsigned abi_minor,
                                  const ts_host *host, const ts_backend **out);

TS_BACKEND_EXPORT int tokenstore_backend_init(unsigned abi_major, unsigned abi_minor,
                                              const ts_host *host,
                                              const ts_backend **out);

/* Defines tokenstore_backend_init() for a backend whose table is `table`.
 * Build the backend with -fvisibility=hidden (or make everything else
 * static) so that this is its only exported symbol. */
#define TS_BACKEND_DEFINE(table)                                              \
    TS_BACKEND_EXPORT int tokenstore_backend_init(unsigned abi_major,         \
                                                  unsigned abi_minor,         \
                                                  const ts_host *host,        \
                                                  const ts_backend **out)     \
    {                                                                         \
        (void)abi_minor;                                                      \
        (void)host;                                                           \
        if (abi_major != TS_ABI_MAJOR)                                        \
            return TS_ERR_ABI;                                                \
        *out = &(table);                                                      \
        return TS_OK;                                                         \
    }

#ifdef __cplusplus
}
#endif

#endif /* TOKENSTORE_BACKEND_H */
