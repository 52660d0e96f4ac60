/*
 * plugins/redis/batch.c - many finds at once: find_tokens as one pipeline
 * of GETs of the users' copies of their rows (one round trip for all),
 * and the same GETs in two halves for an event loop, sent by
 * find_tokens_send and read by find_tokens_receive without waiting. A
 * find the GET cannot settle (another key, a MOVED, a bare id from an
 * older store) goes to find_token, or back to the caller as
 * TS_ERR_UNSUPPORTED from the halves.
 */
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>
#include "redis_store.h"

/* Whether find_tokens can answer the query with a pipelined GET: its user
 * name, else NULL. */
static const char *piped_user(const struct redis_store *s, const ts_token *query)
{
    ts_field keys[2];

    return s->host->lookup_keys(query, keys) > 0 && keys[0] == TS_FIELD_USER_NAME
               ? s->host->token_get(query, TS_FIELD_USER_NAME) : NULL;
}

/* Appends GET {P}user:NAME to the wire for each users[i] set; how many. */
static int append_user_gets(struct redis_store *s, const char *const *users, size_t n,
                            size_t *m, ts_error *err)
{
    *m = 0;
    for (size_t i = 0; i < n; i++) {
        size_t key_len;
        char *key = users[i] ? redis_user_key(s, users[i], &key_len) : NULL;
        if (!users[i])
            continue;
        redis_cmd_reset(&s->cmd);
        redis_cmd_add(&s->cmd, "GET", 3);
        redis_cmd_add(&s->cmd, key ? key : "", key ? key_len : 0);
        int rc = key ? redis_wire_append(s, &s->cmd) : TS_ERR_NOMEM;
        free(key);
        if (rc != TS_OK) {
            explicit_bzero(s->wire, s->wire_len);
            s->wire_len = 0;
            return s->host->error(err, TS_ERR_NOMEM, "out of memory");
        }
        (*m)++;
    }
    return TS_OK;
}

/* The GETs of the queries that have a user name (users[i] set), in one
 * pipeline: one round trip for all, replayed once after a lost connection
 * (a read may be). replies[i] stays NULL for the other queries. */
static int pipeline_user_gets(struct redis_store *s, const char *const *users, size_t n,
                              redisReply **replies, ts_error *err)
{
    redisReply **got = calloc(n, sizeof *got);
    int rc = got ? TS_OK : s->host->error(err, TS_ERR_NOMEM, "out of memory");
    size_t m = 0;

    for (int attempt = 0; rc == TS_OK; attempt++) {
        if ((rc = redis_ensure_connected(s, 0, err)) != TS_OK)
            break;
        rc = append_user_gets(s, users, n, &m, err);
        if (rc == TS_OK && m > 0)
            rc = redis_exchange(s, got, (int)m, err);
        if (rc != TS_ERR_CONNECT || attempt > 0)
            break;
        s->host->log(s->ctx, TS_LOG_INFO, "%s", err ? err->message : "connection lost");
        rc = TS_OK;
    }
    for (size_t i = 0, j = 0; rc == TS_OK && i < n; i++)
        if (users[i])
            replies[i] = got[j++];
    free(got);
    return rc;
}

/* A GET's reply as the row of a find by user; FIND_BY_SCRIPT when the
 * GET cannot settle it (a MOVED, a bare id from an older store). */
static int row_from_get(struct redis_store *s, const redisReply *r, const char *user,
                        ts_token *row, ts_error *err)
{
    return redis_is_error(r, "MOVED") ? FIND_BY_SCRIPT : redis_row_from_copy(s, r, user, row, err);
}

/* find_tokens: the finds by user name as one pipeline of GETs; the rest,
 * and a reply the GET cannot settle, as find_token. */
int redis_find_tokens(void *state, const ts_token *const *queries, size_t n,
                      ts_token *const *rows, int *results, ts_error *err)
{
    struct redis_store *s = state;
    redisReply **replies = calloc(n, sizeof *replies);
    const char **users = calloc(n, sizeof *users);
    int rc = replies && users ? TS_OK : s->host->error(err, TS_ERR_NOMEM, "out of memory");
    int first = TS_OK;

    for (size_t i = 0; rc == TS_OK && i < n; i++)
        users[i] = piped_user(s, queries[i]);
    if (rc == TS_OK)
        rc = pipeline_user_gets(s, users, n, replies, err);
    for (size_t i = 0; i < n; i++) {
        ts_error *e = first == TS_OK ? err : NULL;
        results[i] = rc != TS_OK ? rc : FIND_BY_SCRIPT;
        if (rc == TS_OK && replies[i])
            results[i] = row_from_get(s, replies[i], users[i], rows[i], e);
        if (results[i] == FIND_BY_SCRIPT)
            results[i] = redis_find_token(s, queries[i], rows[i], e);
        if (first == TS_OK && results[i] != TS_NOT_FOUND)
            first = results[i];
        if (replies)
            redis_free_reply(replies[i]);
    }
    free(replies);
    free(users);
    return rc != TS_OK ? rc : first;
}

/* The event-loop halves: finds by user name only, as the same GETs, on
 * a plain connection that is up (connecting would wait). drop_sent
 * forgets a sent batch and the replies read of it. */
void redis_drop_sent(struct redis_store *s)
{
    for (size_t i = 0; i < s->ngot; i++)
        redis_free_reply(s->got[i]);
    free(s->got);
    s->got = NULL;
    s->sent = s->ngot = 0;
}

int redis_find_tokens_send(void *state, const ts_token *const *queries, size_t n,
                           int *fd, int *timeout_ms, ts_error *err)
{
    struct redis_store *s = state;
    const char **users = calloc(n, sizeof *users);
    size_t m = 0;
    int rc = users ? TS_OK : s->host->error(err, TS_ERR_NOMEM, "out of memory");

    if (rc == TS_OK && (!s->conn || redis_conn_poll_fd(s->conn) < 0))
        rc = s->host->error(err, TS_ERR_UNSUPPORTED, "%s: %s", s->where, s->conn
                            ? "a TLS connection is read waiting" : "not connected yet");
    for (size_t i = 0; rc == TS_OK && i < n; i++)
        if (!(users[i] = piped_user(s, queries[i])))
            rc = s->host->error(err, TS_ERR_UNSUPPORTED, "find %zu is not by user name", i);
    if (rc == TS_OK && !(s->got = calloc(n, sizeof *s->got)))
        rc = s->host->error(err, TS_ERR_NOMEM, "out of memory");
    if (rc == TS_OK)
        rc = append_user_gets(s, users, n, &m, err);
    if (rc == TS_OK && (rc = redis_send_wire(s, err)) != TS_OK)
        rc = s->host->error(err, TS_ERR_UNSUPPORTED, "%s: the connection was lost before "
                            "the finds were sent", s->where);
    free(users);
    if (rc != TS_OK) {
        redis_drop_sent(s);
        return rc;
    }
    s->sent = n;
    *fd = redis_conn_poll_fd(s->conn);
    long ms = (long)(s->command_timeout.tv_sec * 1000 + s->command_timeout.tv_usec / 1000);
    *timeout_ms = ms > 0 ? (int)ms : -1;    /* command_timeout_ms 0: no limit */
    return TS_OK;
}

int redis_find_tokens_receive(void *state, const ts_token *const *queries, size_t n,
                              ts_token *const *rows, int *results, int *done,
                              ts_error *err)
{
    struct redis_store *s = state;
    int first = TS_OK, r = 0, failed = TS_OK;

    while (s->ngot < s->sent &&
           (r = redis_conn_read_reply_nowait(s->conn, (void **)&s->got[s->ngot])) == 0)
        s->ngot++;
    if (r == 1) {
        *done = 0;
        return TS_OK;
    }
    *done = 1;
    if (r < 0 && (s->conn->timed_out || s->conn->refused)) {
        /* Past the deadline, or beyond a bound: that is every find's
         * answer, as the waiting way would give it. */
        failed = redis_connection_failed(s, err);
    } else if (r < 0) {
        /* Lost: the finds go the waiting way, which connects again. */
        s->host->log(s->ctx, TS_LOG_INFO, "%s: connection lost: %s", s->where,
                     s->conn->errstr);
        redis_disconnect(s);
    }
    for (size_t i = 0; i < n && failed != TS_OK; i++)
        results[i] = failed;
    for (size_t i = 0; i < n && failed == TS_OK; i++) {
        ts_error *e = first == TS_OK ? err : NULL;
        results[i] = r < 0 ? FIND_BY_SCRIPT
                           : row_from_get(s, s->got[i], piped_user(s, queries[i]), rows[i], e);
        if (results[i] == FIND_BY_SCRIPT)
            results[i] = s->host->error(e, TS_ERR_UNSUPPORTED, "%s: find %zu needs "
                                        "find_token", s->where, i);
        if (first == TS_OK && results[i] != TS_NOT_FOUND)
            first = results[i];
    }
    redis_drop_sent(s);
    return failed != TS_OK ? failed : first;
}

void redis_find_tokens_cancel(void *state)
{
    struct redis_store *s = state;

    /* The answers still to come would be taken for the next call's. */
    if (s->ngot < s->sent)
        redis_disconnect(s);
    redis_drop_sent(s);
}
