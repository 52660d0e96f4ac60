/*
 * plugins/redis - one token set on a Redis server, shared by every process
 * on every host that points at it (Redis Cluster included).
 *
 * Data model. Every key of a store starts with the hash tag "{PREFIX}", so
 * a whole store lives in one cluster slot and one Lua script may touch all
 * of it:
 *
 *   {P}token:ID          hash, the token's non-empty fields by SDK name
 *   {P}ids               sorted set of every id, score 0, member = the id
 *                        zero-padded to 20 digits so that lexical order is
 *                        numeric order: ZRANGEBYLEX pages get_tokens in
 *                        ascending id (scores are doubles, exact only to
 *                        2^53, and ids go to 2^63 - 1)
 *   {P}next_id           INCR counter: the largest id assigned or saved
 *   {P}user:NAME         string, a copy of the row of user NAME: each of
 *                        the ten fields in order as "<decimal length>:
 *                        <bytes>" ("0:" when absent), so the id is the
 *                        first field (a bare id, as older stores hold,
 *                        is still read)
 *   {P}access:SHA1       sorted set (as {P}ids) of the ids holding that
 *   {P}refresh:SHA1      access, refresh or grant token; several tokens may
 *   {P}grant:SHA1        share one, and the lowest id answers a lookup
 *   {P}lock:NAME         try_lock's lock: a random tag, set NX with a TTL
 *   {P}note:NAME         a note of the OAuth client's (note_set), and
 *   {P}refreshes         its refresh log, a list, with a counter beside
 *                        it: not tokens, which delete_tokens leaves and
 *                        drop removes (see notes.c)
 *
 * Index keys for the three secrets carry the SHA-1 of the secret, not the
 * secret: key names outlive a command and show up in SCAN, --bigkeys, key
 * space notifications and RDB dumps. A save still has to send the secrets
 * as arguments, since they are stored. User names are not secret and stay
 * readable. Every lookup checks that the row it reaches really holds the
 * value, so neither a digest collision nor a stray key can answer wrong.
 *
 * Why the user key holds the whole row: find_token by user name is the
 * SDK's hot path, and a GET of that one key answers it in a single plain
 * command that touches one key, where going through an index to the hash
 * would touch two (in a large store each key that is not in the CPU cache
 * costs the server microseconds, more than running a script does). The
 * price is on the write side: every save that changes any field of a row
 * with a user name rewrites the copy in the same script, so the copy
 * never lags the hash, which stays the authority for every other read and
 * for the save rules. A refresh thus touches four keys (copy, hash, old
 * and new access index entry), which is most of its cost.
 *
 * Every write is one Lua script (loaded with SCRIPT LOAD at open, called
 * with EVALSHA, re-sent with EVAL after a NOSCRIPT), so the hash, the id
 * set, the counter and all index keys change together or not at all. The
 * SDK's save rules (core/rules.c: by id, else by the lookup keys, the two
 * TS_ERR_CONFLICT cases, filling empty fields from the replaced row) are
 * mirrored in the save script, because they must run inside the same
 * atomic step as the write; the lookup keys themselves still come from the
 * host's lookup_keys. find_token by user name is one GET of the copy,
 * by any other key one script call, find_token_by_id one HMGET: one round
 * trip each. New ids come from INCR on {P}next_id, which
 * a save with a larger explicit id pushes up, so a new id is greater than
 * every stored one and no id is reused until the store is emptied (the
 * SDK's "max + 1" would hand a deleted token's id to the next insert, and
 * with many writers some of them may still hold the old one).
 *
 * The wire. Commands are written in RESP by client.c into a buffer it
 * owns, handed to conn.c (a plain socket or TLS over it, sent with
 * send(MSG_NOSIGNAL) either way) and wiped after sending; hiredis's reader
 * parses the replies, once scan.c has checked them against the store's
 * bounds (max_reply_bytes, max_reply_elements), and command_timeout_ms is
 * a deadline for each round trip as a whole. Values travel as
 * length-prefixed arguments, never formatted into command text.
 *
 * Failures. A connection that drops is reopened once (AUTH and SELECT
 * again) and the call retried, when retrying cannot change the outcome:
 * reads, delete_tokens and saves whose token has an id or a lookup key (a
 * replay finds the row the first attempt wrote). A keyless insert or a
 * delete whose reply was lost returns TS_ERR_CONNECT, saying the change may
 * have been applied; before such a write the socket is polled, so a server
 * that restarted between calls is noticed before anything is sent. A
 * timeout is returned as TS_ERR_TIMEOUT and the connection is reopened by
 * the next call. A MOVED reply follows the cluster to the slot's node; if
 * that node later goes away, the configured node is asked again.
 *
 * TLS and Sentinel. With tls on, conn.c carries the same bytes over
 * OpenSSL (see there). With sentinels, every connect first asks them for
 * the master (sentinel.c) and checks its ROLE in the handshake's round
 * trip; a READONLY reply (the master was demoted under us) wrote nothing,
 * so the sentinels are asked again and the command sent once more. With
 * wait_replicas, each save and delete carries WAIT in its round trip, and
 * a write that did not reach the replicas in time is an error saying the
 * token may or may not be stored.
 *
 * Open flags (TS_CAP_OPEN_FLAGS). Opening creates nothing on the server: a
 * key prefix with no keys is an empty store, so TS_OPEN_MUST_EXIST has
 * nothing to refuse (a store "exists" once the server answers), and
 * TS_OPEN_READ_ONLY needs nothing here beyond the core refusing every
 * write. SCRIPT LOAD at open fills the server's script cache, not the
 * store.
 *
 * Files. This one holds the saves and deletes, the walk, the locks,
 * fork, drop and open/close; the others: find.c (find_token and
 * find_token_by_id), batch.c (find_tokens and its event-loop halves),
 * notes.c (the notes and the refresh log), client.c (RESP, connecting,
 * the retry rules), scripts.c and lua/ (the scripts), rows.c (rows out
 * of replies), options.c (the options, key names and teardown), conn.c
 * (socket and TLS, deadlines), scan.c (the bounds of a reply),
 * sentinel.c (asking the sentinels); redis_store.h is what they share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <hiredis/hiredis.h>
#include "redis_store.h"

#define SAVE_BATCH 256        /* tokens per save script call */
#define PAGE_SIZE 256         /* ids per get_tokens / delete_tokens page */

static const char *const redis_options[] = {
    "host", "port", "socket", "db", "username", "password", "prefix",
    "connect_timeout_ms", "command_timeout_ms", "tls", "tls_ca", "tls_cert", "tls_key",
    "tls_server_name", "tls_verify", "sentinels", "master_name", "sentinel_user",
    "sentinel_password", "wait_replicas", "wait_timeout_ms", "max_reply_bytes",
    "max_reply_elements", NULL,
};

/* ------------------------------------------------------------------ */
/* The TokenStore operations                                           */
/* ------------------------------------------------------------------ */

/* Adds one token to a save script call; says whether replaying it after a
 * lost reply would save it twice (no id and no key to find it again). */
static int add_saved_token(struct redis_store *s, const ts_token *token)
{
    static const char *const count[] = { "0", "1", "2" };
    ts_field keys[2];
    int n = s->host->lookup_keys(token, keys);

    redis_cmd_add(&s->cmd, count[n], 1);
    for (int i = 0; i < n; i++)
        redis_cmd_add_str(&s->cmd, redis_field_number[keys[i]]);
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        redis_cmd_add_str(&s->cmd, s->host->token_get(token, (ts_field)f));
    return n == 0 && !*s->host->token_get(token, TS_FIELD_ID);
}

/* The save script's answer: {rows} or {rows, kind, message}. A refusal
 * by the rules (CONFLICT, INVALID) is the rules' message; one by the
 * server (a full counter, a corrupt one, a write it refused: out of
 * memory, a failed RDB save, too few replicas) names the server. */
static int save_outcome(struct redis_store *s, const redisReply *r, ts_token *const *tokens,
                        size_t n, size_t first, int batch, ts_error *err)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_ARRAY || r->element[0]->elements > n)
        return redis_bad_reply(s, "save_token", err);
    const redisReply *rows = r->element[0];
    for (size_t i = 0; i < rows->elements; i++) {
        int rc = redis_merge_saved(s, rows->element[i], tokens[i], err);
        if (rc != TS_OK)
            return rc;
    }
    if (r->elements < 3)
        return rows->elements == n ? TS_OK : redis_bad_reply(s, "save_token", err);
    const redisReply *kind = r->element[1], *message = r->element[2];
    int code = TS_ERR_BACKEND;
    if (kind->type == REDIS_REPLY_STRING && strcmp(kind->str, "CONFLICT") == 0)
        code = TS_ERR_CONFLICT;
    else if (kind->type == REDIS_REPLY_STRING && strcmp(kind->str, "INVALID") == 0)
        code = TS_ERR_INVALID;
    else if (kind->type == REDIS_REPLY_STRING && strcmp(kind->str, "CORRUPT") == 0)
        code = TS_ERR_CORRUPT;
    const char *where = code == TS_ERR_CONFLICT || code == TS_ERR_INVALID ? "" : s->where;
    if (message->type != REDIS_REPLY_STRING)
        return redis_bad_reply(s, "save_token", err);
    if (batch)
        return s->host->error(err, code, "%s%stoken %zu: %.*s", where, *where ? ": " : "",
                              first + rows->elements, (int)message->len, message->str);
    return s->host->error(err, code, "%s%s%.*s", where, *where ? ": " : "", (int)message->len,
                          message->str);
}

static int save_batch(struct redis_store *s, ts_token *const *tokens, size_t n, size_t first,
                      int batch, ts_error *err)
{
    char count[24];
    int once_only = 0;
    redisReply *r = NULL;

    snprintf(count, sizeof count, "%zu", n);
    redis_script_begin(s, SCRIPT_SAVE);
    redis_cmd_add_str(&s->cmd, count);
    for (size_t i = 0; i < n; i++)
        once_only |= add_saved_token(s, tokens[i]);
    int rc = redis_run_script(s, SCRIPT_SAVE, 1, !once_only, &r, err);
    if (rc == TS_OK)
        rc = save_outcome(s, r, tokens, n, first, batch, err);
    redis_free_reply(r);
    return rc;
}

static int redis_save_token(void *state, ts_token *token, ts_error *err)
{
    return save_batch(state, &token, 1, 0, 0, err);
}

static int redis_save_tokens(void *state, ts_token *const *tokens, size_t n, ts_error *err)
{
    int rc = TS_OK;

    for (size_t i = 0; i < n && rc == TS_OK; i += SAVE_BATCH)
        rc = save_batch(state, tokens + i, n - i < SAVE_BATCH ? n - i : SAVE_BATCH, i, 1, err);
    return rc;
}

static int redis_delete_token(void *state, const char *id, ts_error *err)
{
    struct redis_store *s = state;
    redisReply *r = NULL;

    redis_script_begin(s, SCRIPT_DELETE);
    redis_cmd_add_str(&s->cmd, id);
    int rc = redis_run_script(s, SCRIPT_DELETE, 1, 0, &r, err);
    if (rc == TS_OK && r->type != REDIS_REPLY_INTEGER)
        rc = redis_bad_reply(s, "delete_token", err);
    else if (rc == TS_OK && r->integer == 0)
        rc = TS_NOT_FOUND;
    redis_free_reply(r);
    return rc;
}

/* Calls cb for each row of one get_tokens page; returns what stopped it. */
static int visit_page(struct redis_store *s, const redisReply *rows, ts_token *token,
                      ts_token_cb cb, void *userdata, ts_error *err)
{
    for (size_t i = 0; i < rows->elements; i++) {
        int rc = redis_row_from_reply(s, rows->element[i], token, err);
        if (rc == TS_OK)
            rc = cb(token, userdata);
        if (rc != TS_OK)
            return rc;
    }
    return TS_OK;
}

static int redis_get_tokens(void *state, ts_token_cb cb, void *userdata, ts_error *err)
{
    struct redis_store *s = state;
    char after[64] = "", page[24];
    ts_token *token = s->host->token_new();
    int rc = token ? TS_OK : s->host->error(err, TS_ERR_NOMEM, "out of memory");
    long long got = PAGE_SIZE;

    snprintf(page, sizeof page, "%d", PAGE_SIZE);
    while (rc == TS_OK && got == PAGE_SIZE) {
        redisReply *r = NULL;
        redis_script_begin(s, SCRIPT_PAGE);
        redis_cmd_add_str(&s->cmd, after);
        redis_cmd_add_str(&s->cmd, page);
        rc = redis_run_script(s, SCRIPT_PAGE, 0, 1, &r, err);
        if (rc == TS_OK && (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
                            r->element[0]->type != REDIS_REPLY_STRING ||
                            r->element[0]->len >= sizeof after ||
                            r->element[1]->type != REDIS_REPLY_INTEGER ||
                            r->element[2]->type != REDIS_REPLY_ARRAY))
            rc = redis_bad_reply(s, "get_tokens", err);
        if (rc == TS_OK) {
            memcpy(after, r->element[0]->str, r->element[0]->len + 1);
            got = r->element[1]->integer;
            rc = visit_page(s, r->element[2], token, cb, userdata, err);
        }
        redis_free_reply(r);
    }
    s->host->token_free(token);
    return rc;
}

static int redis_delete_tokens(void *state, ts_error *err)
{
    struct redis_store *s = state;
    char page[24];
    long long left = 1;
    int rc = TS_OK;

    snprintf(page, sizeof page, "%d", PAGE_SIZE);
    while (rc == TS_OK && left > 0) {
        redisReply *r = NULL;
        redis_script_begin(s, SCRIPT_CLEAR);
        redis_cmd_add_str(&s->cmd, page);
        rc = redis_run_script(s, SCRIPT_CLEAR, 1, 1, &r, err);
        if (rc == TS_OK && r->type != REDIS_REPLY_INTEGER)
            rc = redis_bad_reply(s, "delete_tokens", err);
        if (rc == TS_OK)
            left = r->integer;
        redis_free_reply(r);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Store-wide locks (single-flight OAuth refresh)                      */
/* ------------------------------------------------------------------ */

/* A lock we hold: {P}lock:NAME set to our random tag with SET NX PX, so it
 * expires by itself if we die, and released only while it holds our tag.
 * `forks` is the store's count when it was taken: a lock taken before a
 * fork is the parent's, which the child must not release. */
struct held_lock {
    char tag[33];
    unsigned forks;
    char name[];
};

static int redis_try_lock(void *state, const char *name, int64_t ttl_ms, void **handle,
                          ts_error *err)
{
    struct redis_store *s = state;
    struct held_lock *l = malloc(sizeof *l + strlen(name) + 1);
    unsigned char random[16];
    char *key = NULL, ttl[24];
    redisReply *r = NULL;

    if (!l || getrandom(random, sizeof random, 0) != (ssize_t)sizeof random ||
        asprintf(&key, "%slock:%s", s->base, name) < 0) {
        free(l);
        return s->host->error(err, TS_ERR_NOMEM, "no memory or randomness for a lock");
    }
    strcpy(l->name, name);
    l->forks = s->forks;
    for (size_t i = 0; i < sizeof random; i++)
        snprintf(l->tag + 2 * i, 3, "%02x", random[i]);
    snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_ms);
    redis_cmd_reset(&s->cmd);
    redis_cmd_add_str(&s->cmd, "SET");
    redis_cmd_add_str(&s->cmd, key);
    redis_cmd_add_str(&s->cmd, l->tag);
    redis_cmd_add_str(&s->cmd, "NX");
    redis_cmd_add_str(&s->cmd, "PX");
    redis_cmd_add_str(&s->cmd, ttl);
    int rc = redis_call(s, 1, 0, &r, err);
    if (rc == TS_OK && r->type == REDIS_REPLY_ERROR)
        rc = redis_reply_error(s, r, "taking a lock", err);
    else if (rc == TS_OK && r->type == REDIS_REPLY_NIL)
        rc = TS_ERR_BUSY;
    else if (rc == TS_OK && r->type != REDIS_REPLY_STATUS)
        rc = redis_bad_reply(s, "taking a lock", err);
    redis_free_reply(r);
    free(key);
    if (rc != TS_OK) {
        free(l);
        return rc;
    }
    *handle = l;
    return TS_OK;
}

static int redis_unlock(void *state, void *handle, ts_error *err)
{
    struct redis_store *s = state;
    struct held_lock *l = handle;
    redisReply *r = NULL;

    if (l->forks != s->forks) {
        /* Taken by the parent before this process was forked: its
         * holder is the parent, which releases it. */
        s->host->log(s->ctx, TS_LOG_INFO, "lock '%s' was taken before the fork: the "
                     "parent process holds it", l->name);
        free(l);
        return TS_OK;
    }
    redis_script_begin(s, SCRIPT_UNLOCK);
    redis_cmd_add_str(&s->cmd, l->name);
    redis_cmd_add_str(&s->cmd, l->tag);
    int rc = redis_run_script(s, SCRIPT_UNLOCK, 1, 1, &r, err);
    redis_free_reply(r);
    free(l);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Fork and drop                                                       */
/* ------------------------------------------------------------------ */

/*
 * In a forked child, before its first call: the socket (and its TLS
 * session) is the parent's too, and a word from the child on it would
 * be read as the parent's, or swap their answers. So the child lets go
 * of its copy without a word: closing a descriptor that the parent still
 * holds sends nothing (no FIN goes out while any process has the socket
 * open), and SSL_free sends no close_notify (only SSL_shutdown does);
 * conn_close does exactly that. The parent's batch of finds, sent and
 * not read, is the parent's to read. What is left is the child's own
 * copy of the state: the next call connects afresh (asking the sentinels
 * again, if any). The scripts' SHA-1s stay: the server's script cache
 * is the same for both.
 */
static int redis_forked(void *state, ts_error *err)
{
    struct redis_store *s = state;

    (void)err;
    redis_drop_sent(s);
    redis_disconnect(s);
    if (s->wire)
        explicit_bzero(s->wire, s->wire_len);
    s->wire_len = 0;
    redis_cmd_reset(&s->cmd);
    s->forks++;
    return TS_OK;
}

/* Removes every key under the prefix: what delete_tokens leaves (the id
 * counter while rows remain, locks, keys of an older layout) and the
 * rest, a page of SCAN at a time, so the server is never held long. */
static int redis_drop(void *state, ts_error *err)
{
    struct redis_store *s = state;
    char cursor[24] = "0";
    int rc;

    do {
        redisReply *r = NULL;
        redis_script_begin(s, SCRIPT_DROP);
        redis_cmd_add_str(&s->cmd, cursor);
        rc = redis_run_script(s, SCRIPT_DROP, 1, 1, &r, err);
        if (rc == TS_OK && (r->type != REDIS_REPLY_STRING || r->len == 0 ||
                            r->len >= sizeof cursor))
            rc = redis_bad_reply(s, "drop", err);
        if (rc == TS_OK)
            memcpy(cursor, r->str, r->len + 1);
        redis_free_reply(r);
    } while (rc == TS_OK && strcmp(cursor, "0") != 0);
    return rc;
}

static int redis_open(const ts_host *host, ts_backend_ctx *ctx, void **state, ts_error *err)
{
    struct redis_store *s = calloc(1, sizeof *s);
    int rc;

    /* The scripts' index keys come from key_fields (1.2). */
    if (ts_host_require(host, 2, err) != TS_OK) {
        free(s);
        return TS_ERR_ABI;
    }
    if (!s)
        return host->error(err, TS_ERR_NOMEM, "out of memory");
    s->host = host;
    s->ctx = ctx;
    rc = redis_read_options(s, err);
    if (rc == TS_OK)
        rc = redis_build_keys(s, err);
    if (rc == TS_OK)
        rc = redis_build_index_arg(s, err);
    if (rc == TS_OK)
        rc = redis_connect_store(s, err);
    if (rc == TS_OK)
        rc = redis_load_scripts(s, err);
    if (rc != TS_OK) {
        redis_store_free(s);
        return rc;
    }
    *state = s;
    return TS_OK;
}

static void redis_close(void *state)
{
    redis_drop_sent(state);
    redis_store_free(state);
}

static const ts_backend redis_backend = {
    TS_BACKEND_HEAD,
    .name = "redis",
    .version = "1.0.0",
    .description = "tokens on a Redis server or cluster, shared by many processes and hosts",
    .caps = TS_CAP_PERSISTENT | TS_CAP_SHARED | TS_CAP_OPEN_FLAGS | TS_CAP_IDS_NOT_REUSED,
    .options = redis_options,
    .open = redis_open,
    .close = redis_close,
    .find_token = redis_find_token,
    .save_token = redis_save_token,
    .delete_token = redis_delete_token,
    .get_tokens = redis_get_tokens,
    .delete_tokens = redis_delete_tokens,
    .find_token_by_id = redis_find_token_by_id,
    .save_tokens = redis_save_tokens,
    .try_lock = redis_try_lock,
    .unlock = redis_unlock,
    .find_tokens = redis_find_tokens,
    .find_tokens_send = redis_find_tokens_send,
    .find_tokens_receive = redis_find_tokens_receive,
    .find_tokens_cancel = redis_find_tokens_cancel,
    .forked = redis_forked,
    .drop = redis_drop,
    .note_set = redis_note_set,
    .note_get = redis_note_get,
    .log_append = redis_log_append,
    .log_walk = redis_log_walk,
};

TS_BACKEND_DEFINE(redis_backend)
