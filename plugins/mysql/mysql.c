/*
 * plugins/mysql - tokens in the Zoho SDK DBStore's own MySQL/MariaDB table,
 * shared by every process on every host that points at it.
 *
 * The table is the one each Zoho CRM SDK's DBStore keeps: `oauthtoken`
 * (option `table`) in database `zohooauth` (option `database`), the SDK's
 * ten columns, ids stored as text. An existing SDK table is used as it is,
 * and one we create has the SDK's own DDL, so the SDK and tokenstore can
 * share it. What we add is what the DBStore lacks:
 *
 *  - Server-side prepared statements only (mysql_stmt_*), every value
 *    bound, prepared once per connection and kept.
 *  - Ids compared as numbers. The DBStore takes max(id) over the varchar
 *    column, a text maximum, and fails on the primary key from its tenth
 *    insert on. Here the next id is the host's next_id over
 *    MAX(CAST(id AS DECIMAL)), read under a MySQL named lock (GET_LOCK) that every inserting writer takes
 *    before its transaction, so two processes never pick the same id. The
 *    server answers that MAX from the smallest index that holds id (every
 *    secondary index does), a scan of a few bytes per row; a bulk save
 *    reads it once and counts on from there.
 *  - Indexes on the fields the host's key_fields lists (id, user_name,
 *    access, refresh and grant token), made when missing, with a prefix where the column type needs
 *    one (TEXT, or a VARCHAR wider than InnoDB's 3072-byte key). An index
 *    someone else made on the column counts.
 *  - Lookups that match bytes, not the collation: the SDK's columns have a
 *    case-insensitive collation that also ignores trailing spaces, where a
 *    token is case-sensitive. Each lookup uses the column's index and keeps
 *    only the rows whose bytes are equal (`c = ? AND c = BINARY ?`).
 *  - Values are never cut short: the session runs in strict mode, so a
 *    value wider than its column is refused (TS_ERR_INVALID naming the
 *    column) and nothing is written.
 *  - One connection per store handle, kept open, with reads committed.
 *
 * Saving. An update of a stored row that keeps its user name (a refresh,
 * the hot path) is one lookup and one UPDATE of the changed columns in
 * autocommit, guarded by the row's id and user name: if another process
 * changed that row in between, the guard fails and the save starts over
 * on the locked path. Every other save (an insert, a rename, a bulk save)
 * takes the table's write lock, GET_LOCK(name, wait), then runs the
 * host's save_resolve and the write in one transaction, so no two
 * processes insert the same user or the same id. The SDK's rules come from
 * the host (find_by_rule, save_resolve, key_fields, next_id); we only
 * supply "the row whose FIELD is VALUE".
 *
 * Failures. A connection that drops is reopened once and the call
 * replayed when a replay cannot change the outcome: reads, delete_tokens,
 * and saves of a token with an id or a lookup key (a replay finds the row
 * the first attempt may have written). A keyless insert or a delete whose
 * reply was lost is TS_ERR_CONNECT, saying the change may have been
 * applied; before such a write the socket is polled, so a server that
 * restarted between calls is noticed before anything is sent. A server
 * that is down, a wrong password, an unknown database and a missing
 * privilege each get a message naming the server, the user, the database
 * or the privilege; the password never appears anywhere, and is wiped when
 * the store is closed. Server messages are passed on only for errors that
 * cannot quote a value (some, such as a duplicate key, quote the value).
 *
 * Open flags (TS_CAP_OPEN_FLAGS). The store "exists" when its database
 * does: with TS_OPEN_MUST_EXIST an unknown database is TS_ERR_NO_STORE.
 * With TS_OPEN_READ_ONLY nothing is created (no table, no index) and a
 * database without the table reads as an empty store until the table
 * appears. Without either flag the database must exist (we do not create
 * databases, as the DBStore does not) and the table is made when missing.
 *
 * Files. This one has reading, writing, the store-wide locks, opening and
 * closing, and the ts_backend; statements.c the errors, statements and
 * rows; client.c connecting and reconnecting; schema.c the table, its
 * indexes and the SQL; options.c the options and the lock names;
 * mysql_store.h what they share.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mysql.h>
#include <tokenstore/backend.h>
#include "mysql_store.h"

/* An UPDATE that changes the user name: the bit of TS_FIELD_USER_NAME in a
 * set of columns (UPDATE_MASKS). */
#define USER_BIT (1u << (TS_FIELD_USER_NAME - 1))

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

/* Field's lookup statement, or ST_COUNT for a field rows are not found by. */
static enum stmt_kind lookup_kind(const struct mysql_store *s, ts_field field)
{
    if ((int)field < 0 || field >= TS_FIELD_COUNT || !s->sql[ST_LOOKUP + field])
        return ST_COUNT;
    return (enum stmt_kind)(ST_LOOKUP + field);
}

/* The ts_lookup_fn the host's rules call: the row whose `field` is
 * `value`. */
static int lookup(void *state, ts_field field, const char *value, ts_token *row, ts_error *err)
{
    struct mysql_store *s = state;
    enum stmt_kind kind = lookup_kind(s, field);
    int ready, rc = table_ready(s, &ready, err);

    if (rc != TS_OK || !ready)
        return rc == TS_OK ? TS_NOT_FOUND : rc;
    if (kind == ST_COUNT)
        return s->host->error(err, TS_ERR_INVALID, "cannot look tokens up by %s",
                              s->host->field_name(field) ? s->host->field_name(field) : "?");
    struct param p[2] = { str_param(value), str_param(value) };
    rc = run(s, kind, p, 2, "looking up a token", err);
    if (rc == TS_OK) {
        rc = fetch(s, s->stmt[kind], TS_FIELD_COUNT, err);
        if (rc == TS_OK)
            rc = read_row(s, row, err);
        mysql_stmt_free_result(s->stmt[kind]);
    }
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
        return lookup(s, TS_FIELD_ID, a->id, a->row, err);
    return s->host->find_by_rule(a->query, lookup, s, a->row, err);
}

static int store_find_token(void *state, const ts_token *query, ts_token *row, ts_error *err)
{
    struct find_args a = { .query = query, .row = row };
    return with_connection(state, 1, 0, do_find, &a, err);
}

static int store_find_token_by_id(void *state, const char *id, ts_token *row, ts_error *err)
{
    struct find_args a = { .id = id, .row = row };
    return with_connection(state, 1, 0, do_find, &a, err);
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
    int ready, rc = table_ready(s, &ready, err);

    if (rc != TS_OK || !ready)
        return rc;
    rc = run(s, ST_WALK, NULL, 0, "reading the tokens", err);
    if (rc != TS_OK)
        return rc;
    MYSQL_STMT *st = s->stmt[ST_WALK];
    ts_token *token = s->host->token_new();
    if (!token)
        rc = s->host->error(err, TS_ERR_NOMEM, "out of memory");
    while (rc == TS_OK && (rc = fetch(s, st, TS_FIELD_COUNT, err)) == TS_OK) {
        rc = read_row(s, token, err);
        if (rc == TS_OK)
            rc = a->cb(token, a->userdata);    /* non-zero stops the walk */
    }
    mysql_stmt_free_result(st);
    if (token)
        s->host->token_free(token);
    return rc == TS_NOT_FOUND ? TS_OK : rc;
}

static int store_get_tokens(void *state, ts_token_cb cb, void *userdata, ts_error *err)
{
    struct walk_args a = { cb, userdata };
    return with_connection(state, 1, 0, do_walk, &a, err);
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

/* The columns whose value the save changes over `row`, the stored row
 * the host's plan chose. */
static unsigned changed_columns(struct mysql_store *s, const ts_token *token,
                                const ts_token *row)
{
    const ts_host *h = s->host;
    unsigned mask = 0;

    for (int f = 1; f < TS_FIELD_COUNT; f++)
        if (strcmp(h->token_get(token, (ts_field)f), h->token_get(row, (ts_field)f)) != 0)
            mask |= 1u << (f - 1);
    return mask;
}

/* UPDATE of the columns in mask, guarded: the row must still have the id
 * and the user name it had when it was read. */
static int update_statement(struct mysql_store *s, unsigned mask, MYSQL_STMT **out,
                            ts_error *err)
{
    char sql[768], set[512] = "";

    if (s->update[mask]) {
        *out = s->update[mask];
        return TS_OK;
    }
    for (int f = 1; f < TS_FIELD_COUNT; f++) {
        size_t used = strlen(set);
        if (mask & (1u << (f - 1)))
            snprintf(set + used, sizeof set - used, "%s%s = ?", used ? ", " : "",
                     s->host->field_name((ts_field)f));
    }
    snprintf(sql, sizeof sql, "UPDATE `%s` SET %s WHERE id = ? AND id = BINARY ? AND "
             "COALESCE(user_name, '') = BINARY ?", s->table, set);
    return get_stmt(s, &s->update[mask], sql, out, err);
}

/* Writes the resolved token over `row`, the stored row the plan chose, and
 * no other. *done is 0 when the guard found the row changed since it was
 * read. */
static int update_row(struct mysql_store *s, const ts_token *token, const ts_token *row,
                      unsigned mask, int *done, ts_error *err)
{
    const ts_host *h = s->host;
    struct param p[TS_FIELD_COUNT + 2];
    unsigned n = 0;
    MYSQL_STMT *st;

    *done = 1;
    if (mask == 0)
        return TS_OK;
    int rc = update_statement(s, mask, &st, err);
    if (rc != TS_OK)
        return rc;
    for (int f = 1; f < TS_FIELD_COUNT; f++)
        if (mask & (1u << (f - 1)))
            p[n++] = str_param(h->token_get(token, (ts_field)f));
    p[n++] = str_param(h->token_get(row, TS_FIELD_ID));
    p[n++] = str_param(h->token_get(row, TS_FIELD_ID));
    /* The guard compares with '': bind a user name that is absent as ''. */
    p[n] = str_param(h->token_get(row, TS_FIELD_USER_NAME));
    if (!p[n].v)
        p[n].v = "";
    n++;
    rc = execute(s, st, p, n, "updating a token", err);
    if (rc == TS_OK)
        *done = mysql_stmt_affected_rows(st) == 1;
    return rc;
}

/* Gives the token the host's next id, from the largest numeric id, read
 * once per locked save (we hold the write lock, so only our own inserts
 * move it). */
static int next_id(struct mysql_store *s, ts_token *token, ts_error *err)
{
    if (!s->have_max) {
        char text[48];
        int is_null, rc = run(s, ST_MAX_ID, NULL, 0, "reading the largest id", err);
        if (rc == TS_OK)
            rc = fetch_scalar(s, s->stmt[ST_MAX_ID], text, sizeof text, &is_null, err);
        if (rc != TS_OK)
            return rc;
        s->max_id = is_null || text[0] == '-' ? 0 : strtoull(text, NULL, 10);
        s->have_max = 1;
    }
    int rc = s->host->next_id(token, s->max_id, err);
    if (rc == TS_ERR_BACKEND && err) {
        char why[sizeof err->message];
        memcpy(why, err->message, sizeof why);
        s->host->error(err, rc, "%s: table %s: %s", s->where, s->table, why);
    }
    return rc;
}

static int insert_row(struct mysql_store *s, ts_token *token, int *id_assigned, ts_error *err)
{
    const ts_host *h = s->host;
    struct param p[TS_FIELD_COUNT];
    int rc = TS_OK;

    if (!*h->token_get(token, TS_FIELD_ID)) {
        rc = next_id(s, token, err);
        *id_assigned = rc == TS_OK;
    }
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        p[f] = str_param(h->token_get(token, (ts_field)f));
    if (rc == TS_OK)
        rc = run(s, ST_INSERT, p, TS_FIELD_COUNT, "inserting a token", err);
    if (rc == TS_OK && s->have_max) {
        uint64_t id;
        if (h->id_parse(h->token_get(token, TS_FIELD_ID), &id) == TS_OK && id > s->max_id)
            s->max_id = id;
    }
    return rc;
}

/* save_one's answer when the save must go through the locked path. */
#define NEEDS_LOCK (-1)
/* ... and when a locked save found its row changed under it. */
#define ROW_CHANGED (-2)

/*
 * Resolves one token by the host's rules and writes it. Unlocked, only an
 * update that keeps the row's user name is written (guarded); anything
 * else answers NEEDS_LOCK. Locked (inside save_locked), everything is.
 */
static int save_one(struct mysql_store *s, ts_token *token, int locked, int *id_assigned,
                    ts_error *err)
{
    int rc = s->host->save_plan(token, lookup, s, s->row, err);

    if (rc == TS_OK) {
        unsigned mask = changed_columns(s, token, s->row);
        int done;
        if (!locked && (mask & USER_BIT))
            rc = NEEDS_LOCK;
        else if ((rc = update_row(s, token, s->row, mask, &done, err)) == TS_OK && !done)
            rc = locked ? ROW_CHANGED : NEEDS_LOCK;
    } else if (rc == TS_NOT_FOUND) {
        rc = locked ? insert_row(s, token, id_assigned, err) : NEEDS_LOCK;
    }
    s->host->token_clear(s->row);
    return rc;
}

/* GET_LOCK(name, wait) / RELEASE_LOCK(name): 1 when taken or released. */
static int named_lock(struct mysql_store *s, enum stmt_kind kind, const char *name,
                      long long wait_s, int *got, ts_error *err)
{
    struct param p[2] = { str_param(name), num_param(wait_s) };
    char text[8];
    int is_null;
    int rc = run(s, kind, p, kind == ST_GET_LOCK ? 2 : 1,
                 kind == ST_GET_LOCK ? "taking a lock" : "releasing a lock", err);

    if (rc == TS_OK)
        rc = fetch_scalar(s, s->stmt[kind], text, sizeof text, &is_null, err);
    *got = rc == TS_OK && !is_null && strcmp(text, "1") == 0;
    return rc;
}

/*
 * Saves tokens in one transaction under the table's write lock: all of
 * them or none. The write lock is what makes "largest id plus one" and
 * "one row per user" hold across processes: every insert takes it.
 */
static int save_locked(struct mysql_store *s, ts_token *const *tokens, size_t n, int *assigned,
                       size_t *stopped, ts_error *err)
{
    int got, rc = named_lock(s, ST_GET_LOCK, s->write_lock, (long long)s->lock_wait_s, &got,
                             err);
    size_t i = 0;

    if (rc == TS_OK && !got)
        return s->host->error(err, TS_ERR_BUSY, "%s: table %s.%s: another writer held the "
                              "table's write lock for more than %llu s (half of "
                              "read_timeout_ms)", s->where, s->database, s->table,
                              s->lock_wait_s);
    if (rc != TS_OK)
        return rc;
    /* One token is one statement, atomic by itself in autocommit. */
    int txn = n > 1;
    if (txn)
        rc = run(s, ST_BEGIN, NULL, 0, "starting a transaction", err);
    s->have_max = 0;
    for (; rc == TS_OK && i < n; i++)
        rc = save_one(s, tokens[i], 1, &assigned[i], err);
    *stopped = rc != TS_OK && i > 0 ? i - 1 : SIZE_MAX;
    if (rc == TS_OK && txn)
        rc = run(s, ST_COMMIT, NULL, 0, "committing", err);
    else if (rc != TS_OK && txn && !s->lost)
        run(s, ST_ROLLBACK, NULL, 0, "rolling back", NULL);
    s->have_max = 0;
    if (!s->lost)
        named_lock(s, ST_RELEASE_LOCK, s->write_lock, 0, &got, NULL);
    return rc;
}

struct save_args {
    ts_token *const *tokens;
    ts_token **orig;          /* the tokens as the caller gave them */
    int *assigned;
    size_t n;
    int batch;
};

/* Puts the tokens back as they were given: a resolve fills fields in,
 * and a save that starts over must resolve the caller's token. */
static int restore(struct mysql_store *s, struct save_args *a, ts_error *err)
{
    for (size_t i = 0; i < a->n; i++) {
        a->assigned[i] = 0;
        if (s->host->token_copy(a->tokens[i], a->orig[i]) != TS_OK)
            return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    }
    return TS_OK;
}

static int do_save(struct mysql_store *s, void *arg, ts_error *err)
{
    struct save_args *a = arg;
    size_t stopped = SIZE_MAX;       /* the token a batch failed at */
    int rc = restore(s, a, err);

    /* The hot path: an update of a stored row, no lock, no transaction. */
    if (rc == TS_OK && !a->batch) {
        rc = save_one(s, a->tokens[0], 0, &a->assigned[0], err);
        if (rc != NEEDS_LOCK)
            return rc;
        rc = restore(s, a, err);
    }
    for (int attempt = 0; rc == TS_OK && attempt < 3; attempt++) {
        rc = save_locked(s, a->tokens, a->n, a->assigned, &stopped, err);
        if (rc != ROW_CHANGED)
            break;
        rc = restore(s, a, err);
        if (rc == TS_OK)
            rc = ROW_CHANGED;
    }
    if (rc == ROW_CHANGED)
        rc = s->host->error(err, TS_ERR_BUSY, "%s: table %s.%s: other writers kept changing "
                            "the row while it was saved; nothing was saved", s->where,
                            s->database, s->table);
    if (rc != TS_OK && a->batch && err && !s->lost && stopped != SIZE_MAX) {
        char why[sizeof err->message];
        memcpy(why, err->message, sizeof why);
        s->host->error(err, rc, "token %zu: %s", stopped, why);
    }
    return rc;
}

/* Whether replaying the save after a lost reply could save a token twice
 * (a token with no id and no key cannot be found again). */
static int replayable(const ts_host *h, ts_token *const *tokens, size_t n)
{
    ts_field keys[2];

    for (size_t i = 0; i < n; i++)
        if (!*h->token_get(tokens[i], TS_FIELD_ID) && h->lookup_keys(tokens[i], keys) == 0)
            return 0;
    return 1;
}

static int save_tokens(struct mysql_store *s, ts_token *const *tokens, size_t n, int batch,
                       ts_error *err)
{
    struct save_args a = { .tokens = tokens, .n = n, .batch = batch };
    int rc = TS_OK;

    a.orig = calloc(n ? n : 1, sizeof *a.orig);
    a.assigned = calloc(n ? n : 1, sizeof *a.assigned);
    if (!a.orig || !a.assigned)
        rc = s->host->error(err, TS_ERR_NOMEM, "out of memory");
    for (size_t i = 0; rc == TS_OK && i < n; i++)
        if (!(a.orig[i] = s->host->token_new()) ||
            s->host->token_copy(a.orig[i], tokens[i]) != TS_OK)
            rc = s->host->error(err, TS_ERR_NOMEM, "out of memory");
    if (rc == TS_OK && n > 0)
        rc = with_connection(s, replayable(s->host, tokens, n), 1, do_save, &a, err);
    /* A failed save leaves the caller's tokens as they were given. */
    for (size_t i = 0; a.orig && i < n && a.orig[i]; i++) {
        if (rc != TS_OK)
            s->host->token_copy(tokens[i], a.orig[i]);
        s->host->token_free(a.orig[i]);
    }
    free(a.orig);
    free(a.assigned);
    return rc;
}

static int store_save_token(void *state, ts_token *token, ts_error *err)
{
    return save_tokens(state, &token, 1, 0, err);
}

static int store_save_tokens(void *state, ts_token *const *tokens, size_t n, ts_error *err)
{
    return save_tokens(state, tokens, n, 1, err);
}

static int do_delete(struct mysql_store *s, void *arg, ts_error *err)
{
    const char *id = arg;
    struct param p[2] = { str_param(id), str_param(id) };
    int rc = run(s, ST_DELETE_ONE, p, 2, "deleting a token", err);

    if (rc == TS_OK && mysql_stmt_affected_rows(s->stmt[ST_DELETE_ONE]) == 0)
        rc = TS_NOT_FOUND;
    return rc;
}

static int store_delete_token(void *state, const char *id, ts_error *err)
{
    /* A replay of a delete that went through would say "not found". */
    return with_connection(state, 0, 1, do_delete, (void *)id, err);
}

static int do_delete_all(struct mysql_store *s, void *arg, ts_error *err)
{
    (void)arg;
    return run(s, ST_DELETE_ALL, NULL, 0, "deleting all tokens", err);
}

static int store_delete_tokens(void *state, ts_error *err)
{
    return with_connection(state, 1, 1, do_delete_all, NULL, err);
}

/* ------------------------------------------------------------------ */
/* Store-wide locks (single-flight OAuth refresh)                      */
/* ------------------------------------------------------------------ */

/*
 * A MySQL named lock, GET_LOCK(name, 0): the server releases it when the
 * connection that took it closes, so a holder that crashes frees it at
 * once. The TTL covers a holder that hangs, or whose host vanishes
 * without closing the connection (the server would otherwise wait for
 * TCP keepalive, hours): while we hold a lock, the session's wait_timeout
 * is the TTL (in whole seconds, rounded up), so a connection silent for
 * that long is closed by the server and the lock is free again. A holder
 * still at work keeps it; its own calls keep the connection alive. A lock
 * name is the table's, hashed (lock_name): the server's locks are
 * server-wide.
 */
struct held_lock {
    unsigned generation;             /* the connection it was taken on */
    struct held_lock *next;
    char name[40];
};

struct lock_args {
    struct held_lock *lock;
    int64_t ttl_ms;
};

static int do_try_lock(struct mysql_store *s, void *arg, ts_error *err)
{
    struct lock_args *a = arg;
    int got;

    /* GET_LOCK is reentrant on one connection: we refuse a second take. */
    for (struct held_lock *l = s->held; l; l = l->next)
        if (l->generation == s->generation && strcmp(l->name, a->lock->name) == 0)
            return TS_ERR_BUSY;
    int rc = named_lock(s, ST_GET_LOCK, a->lock->name, 0, &got, err);
    if (rc != TS_OK || !got)
        return rc == TS_OK ? TS_ERR_BUSY : rc;
    long long ttl_s = a->ttl_ms <= 1000 ? 1 : (a->ttl_ms + 999) / 1000;
    struct param p = num_param(ttl_s > 31536000 ? 31536000 : ttl_s);
    rc = run(s, ST_WAIT_TIMEOUT, &p, 1, "setting the lock's TTL (wait_timeout)", err);
    if (rc != TS_OK) {
        if (!s->lost)
            named_lock(s, ST_RELEASE_LOCK, a->lock->name, 0, &got, NULL);
        return rc;
    }
    a->lock->generation = s->generation;
    s->locks_held++;
    return TS_OK;
}

static int do_unlock(struct mysql_store *s, void *arg, ts_error *err)
{
    struct held_lock *l = arg;
    int got;

    /* Taken on a connection that is gone: the server released it then. */
    if (l->generation != s->generation)
        return TS_OK;
    int rc = named_lock(s, ST_RELEASE_LOCK, l->name, 0, &got, err);
    if (rc == TS_OK && --s->locks_held == 0)     /* wait_timeout back to the server's */
        rc = run(s, ST_WAIT_DEFAULT, NULL, 0, "resetting wait_timeout", err);
    return rc;
}

static int store_try_lock(void *state, const char *name, int64_t ttl_ms, void **handle,
                          ts_error *err)
{
    struct mysql_store *s = state;
    struct held_lock *l = calloc(1, sizeof *l);
    char *what = NULL;

    if (!l || asprintf(&what, "lock:%s", name) < 0) {
        free(l);
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    }
    lock_name(s, what, l->name);
    free(what);
    struct lock_args a = { l, ttl_ms };
    int rc = with_connection(s, 1, 1, do_try_lock, &a, err);
    if (rc != TS_OK) {
        free(l);
        return rc;
    }
    l->next = s->held;
    s->held = l;
    *handle = l;
    return TS_OK;
}

static int store_unlock(void *state, void *handle, ts_error *err)
{
    struct mysql_store *s = state;
    struct held_lock *l = handle, **p = &s->held;
    int rc = with_connection(s, 1, 1, do_unlock, l, err);

    while (*p && *p != l)
        p = &(*p)->next;
    if (*p)
        *p = l->next;
    free(l);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Opening and closing (the options: options.c)                        */
/* ------------------------------------------------------------------ */

static const char *const store_options[] = {
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

static void store_close_store(void *state)
{
    struct mysql_store *s = state;

    disconnect(s);
    while (s->held) {
        struct held_lock *next = s->held->next;
        free(s->held);
        s->held = next;
    }
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

static int store_open(const ts_host *host, ts_backend_ctx *ctx, void **state, ts_error *err)
{
    struct mysql_store *s;

    if (ts_host_require(host, 4, err) != TS_OK)    /* save_plan, next_id, option_choice */
        return TS_ERR_ABI;
    s = calloc(1, sizeof *s);
    if (!s || !(s->row = host->token_new())) {
        free(s);
        return host->error(err, TS_ERR_NOMEM, "out of memory");
    }
    s->host = host;
    s->ctx = ctx;
    s->keys = host->key_fields(&s->nkeys);
    s->open_flags = ts_host_open_flags(host, ctx);
    int rc = read_options(s, err);
    if (rc == TS_OK)
        rc = build_sql(s, err);
    if (rc == TS_OK)
        rc = connect_db(s, err);
    if (rc == TS_OK)
        rc = ensure_schema(s, err);
    if (rc != TS_OK) {
        store_close_store(s);
        return rc;
    }
    *state = s;
    return TS_OK;
}

static const ts_backend store_backend = {
    TS_BACKEND_HEAD,
    .name = "mysql",
    .version = "1.0.0",
    .description = "a MySQL/MariaDB table, the Zoho SDK DBStore's oauthtoken",
    .caps = TS_CAP_PERSISTENT | TS_CAP_SHARED | TS_CAP_OPEN_FLAGS,
    .options = store_options,
    .open = store_open,
    .close = store_close_store,
    .find_token = store_find_token,
    .save_token = store_save_token,
    .delete_token = store_delete_token,
    .get_tokens = store_get_tokens,
    .delete_tokens = store_delete_tokens,
    .find_token_by_id = store_find_token_by_id,
    .save_tokens = store_save_tokens,
    .try_lock = store_try_lock,
    .unlock = store_unlock,
};

TS_BACKEND_DEFINE(store_backend)

