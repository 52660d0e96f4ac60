/*
 * plugins/redis/client.c - the redis backend's side of the protocol: it
 * writes commands in RESP into a buffer it owns (values travel as
 * length-prefixed arguments, never formatted into command text), hands it
 * to conn.c (a socket or TLS) and wipes it after sending, reads replies
 * with hiredis's parser, and connects: AUTH, SELECT and ROLE in one round
 * trip, the master the sentinels name, the node a MOVED names. redis_call() is
 * one command's round trip with the retry rules described in redis.c.
 * Kept apart from the operations so that they read as what they ask the
 * server, not how the bytes travel.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>
#include "redis_store.h"

/* ------------------------------------------------------------------ */
/* Commands on the wire                                                */
/* ------------------------------------------------------------------ */

void redis_cmd_reset(struct command *c)
{
    c->argc = 0;
    c->nomem = 0;
}

void redis_cmd_add(struct command *c, const char *s, size_t len)
{
    if (c->argc == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        const char **argv = realloc(c->argv, cap * sizeof *argv);
        if (argv)
            c->argv = argv;
        size_t *lens = argv ? realloc(c->len, cap * sizeof *lens) : NULL;
        if (!lens) {
            c->nomem = 1;
            return;
        }
        c->len = lens;
        c->cap = cap;
    }
    c->argv[c->argc] = s;
    c->len[c->argc++] = len;
}

void redis_cmd_add_str(struct command *c, const char *s)
{
    redis_cmd_add(c, s, strlen(s));
}

void redis_cmd_free(struct command *c)
{
    free(c->argv);
    free(c->len);
    *c = (struct command){ 0 };
}

static size_t decimal_len(size_t n)
{
    size_t d = 1;
    for (; n >= 10; n /= 10)
        d++;
    return d;
}

/* Room for `more` bytes in the wire buffer. It holds secrets, so a bigger
 * one is a fresh copy and the old one is wiped, not realloc()ed. */
static int wire_reserve(struct redis_store *s, size_t more)
{
    size_t cap = s->wire_cap ? s->wire_cap : 4096;

    if (s->wire_len + more <= s->wire_cap)
        return TS_OK;
    while (cap < s->wire_len + more)
        cap *= 2;
    char *wire = malloc(cap);
    if (!wire)
        return TS_ERR_NOMEM;
    if (s->wire) {
        memcpy(wire, s->wire, s->wire_len);
        explicit_bzero(s->wire, s->wire_cap);
        free(s->wire);
    }
    s->wire = wire;
    s->wire_cap = cap;
    return TS_OK;
}

/* Appends the RESP form of command c to the wire buffer. */
int redis_wire_append(struct redis_store *s, const struct command *c)
{
    size_t need = 1 + decimal_len(c->argc) + 2 + 1;

    for (size_t i = 0; i < c->argc; i++)
        need += 1 + decimal_len(c->len[i]) + 2 + c->len[i] + 2;
    if (c->nomem || wire_reserve(s, need) != TS_OK)
        return TS_ERR_NOMEM;
    char *p = s->wire + s->wire_len;
    p += sprintf(p, "*%zu\r\n", c->argc);
    for (size_t i = 0; i < c->argc; i++) {
        p += sprintf(p, "$%zu\r\n", c->len[i]);
        memcpy(p, c->argv[i], c->len[i]);
        p += c->len[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    s->wire_len = (size_t)(p - s->wire);
    return TS_OK;
}

static void wipe_reply(redisReply *r)
{
    if (r->str && r->len)
        explicit_bzero(r->str, r->len);
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        wipe_reply(r->element[i]);
}

/* Replies carry tokens: wipe them before they go back to the heap. */
void redis_free_reply(redisReply *r)
{
    if (!r)
        return;
    wipe_reply(r);
    freeReplyObject(r);
}

void redis_disconnect(struct redis_store *s)
{
    redis_conn_close(s->conn);
    s->conn = NULL;
}

static long command_timeout_ms(const struct redis_store *s)
{
    return (long)(s->command_timeout.tv_sec * 1000 + s->command_timeout.tv_usec / 1000);
}

/* The connection failed (s->conn says how) and is out of step with the
 * server: drop it (the next call connects again) and say why. The time
 * ran out: TS_ERR_TIMEOUT; a reply broke a bound: TS_ERR_BACKEND; else
 * it is lost: TS_ERR_CONNECT. */
int redis_connection_failed(struct redis_store *s, ts_error *err)
{
    char why[sizeof s->conn->errstr];
    int timed_out = s->conn->timed_out, refused = s->conn->refused;

    snprintf(why, sizeof why, "%s", s->conn->errstr);
    redis_disconnect(s);
    if (timed_out)
        return s->host->error(err, TS_ERR_TIMEOUT, "%s: no complete answer within %ld ms "
                              "(command_timeout_ms)", s->where, command_timeout_ms(s));
    if (refused)
        return s->host->error(err, TS_ERR_BACKEND, "%s: %s; the connection is dropped",
                              s->where, why);
    return s->host->error(err, TS_ERR_CONNECT, "%s: connection lost: %s", s->where, why);
}

int redis_send_wire(struct redis_store *s, ts_error *err)
{
    int rc = TS_OK;

    if (redis_conn_write(s->conn, s->wire, s->wire_len) != 0)
        rc = redis_connection_failed(s, err);
    explicit_bzero(s->wire, s->wire_len);
    s->wire_len = 0;
    return rc;
}

/* Sends the wire buffer and reads n replies into replies[]. */
int redis_exchange(struct redis_store *s, redisReply **replies, int n, ts_error *err)
{
    int rc = redis_send_wire(s, err);

    for (int i = 0; rc == TS_OK && i < n; i++) {
        void *reply = NULL;
        if (redis_conn_read_reply(s->conn, &reply) != 0) {
            while (i-- > 0)
                redis_free_reply(replies[i]);
            return redis_connection_failed(s, err);
        }
        replies[i] = reply;
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Connecting                                                          */
/* ------------------------------------------------------------------ */

int redis_is_error(const redisReply *r, const char *code)
{
    size_t n = strlen(code);
    return r && r->type == REDIS_REPLY_ERROR && r->len >= n &&
           memcmp(r->str, code, n) == 0 && (r->len == n || r->str[n] == ' ');
}

/* An error reply as a ts_code and a message naming the server. */
int redis_reply_error(struct redis_store *s, const redisReply *r, const char *what,
                      ts_error *err)
{
    int code = TS_ERR_BACKEND;

    if (redis_is_error(r, "NOAUTH"))
        return s->host->error(err, TS_ERR_AUTH,
                              "%s requires authentication (%.*s): set the password option",
                              s->where, (int)r->len, r->str);
    if (redis_is_error(r, "WRONGPASS") || redis_is_error(r, "NOPERM"))
        code = TS_ERR_AUTH;
    else if (redis_is_error(r, "LOADING") || redis_is_error(r, "BUSY") ||
             redis_is_error(r, "TRYAGAIN") || redis_is_error(r, "ASK") ||
             redis_is_error(r, "CLUSTERDOWN"))
        code = TS_ERR_BUSY;
    return s->host->error(err, code, "%s: %s failed: %.*s", s->where, what,
                          (int)r->len, r->str);
}

static int open_socket(struct redis_store *s, ts_error *err)
{
    const struct conn_target t = {
        .host = s->moved_host ? s->moved_host : s->host_name,
        .port = s->moved_host ? s->moved_port : s->port,
        .socket_path = s->socket_path,
        .connect_timeout = s->connect_timeout,
        .command_timeout = s->command_timeout,
        .tls = s->tls,
        .server_name = s->tls_server_name,
        .max_reply_bytes = s->max_reply_bytes,
        .max_reply_elements = s->max_reply_elements,
    };
    struct conn *c = redis_conn_open(&t);

    if (!c)
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    if (c->err) {
        int rc = s->host->error(err, TS_ERR_CONNECT, "cannot connect to %s: %s", s->where,
                                c->errstr);
        redis_conn_close(c);
        return rc;
    }
    s->conn = c;
    return TS_OK;
}

static int handshake_error(struct redis_store *s, const char *what, const redisReply *r,
                           ts_error *err)
{
    if (strcmp(what, "AUTH") == 0)
        return s->host->error(err, TS_ERR_AUTH, "authentication%s%s%s at %s failed: %.*s",
                              s->username ? " as user '" : "", s->username ? s->username : "",
                              s->username ? "'" : "", s->where, (int)r->len, r->str);
    if (redis_is_error(r, "NOAUTH") || redis_is_error(r, "NOPERM"))
        return redis_reply_error(s, r, what, err);
    return s->host->error(err, TS_ERR_CONFIG, "%s: cannot select db %lld: %.*s", s->where,
                          s->db, (int)r->len, r->str);
}

/* Whether a ROLE reply says master; else an error naming what it is. */
static int check_role(struct redis_store *s, const redisReply *r, ts_error *err)
{
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
        r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "master") == 0)
        return TS_OK;
    return s->host->error(err, TS_ERR_CONNECT, "%s was named master of '%s' by a sentinel but "
                          "its ROLE is %s (a failover may be under way)", s->where,
                          s->master_name, r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
                          r->element[0]->type == REDIS_REPLY_STRING
                              ? r->element[0]->str : "unknown");
}

/* AUTH, SELECT and (with Sentinel) ROLE, pipelined: one round trip for
 * all. A reconnect runs this in the middle of sending s->cmd, so it
 * builds its own commands. */
static int handshake(struct redis_store *s, ts_error *err)
{
    struct command auth = { 0 }, select = { 0 }, role = { 0 };
    redisReply *replies[3] = { NULL, NULL, NULL };
    const char *what[3];
    char db[24];
    int n = 0, rc = TS_OK;

    if (s->password || s->username) {
        redis_cmd_add_str(&auth, "AUTH");
        if (s->username)
            redis_cmd_add_str(&auth, s->username);
        redis_cmd_add_str(&auth, s->password ? s->password : "");
        rc = redis_wire_append(s, &auth);
        what[n++] = "AUTH";
    }
    if (rc == TS_OK && s->db != 0) {
        snprintf(db, sizeof db, "%lld", s->db);
        redis_cmd_add_str(&select, "SELECT");
        redis_cmd_add_str(&select, db);
        rc = redis_wire_append(s, &select);
        what[n++] = "SELECT";
    }
    if (rc == TS_OK && s->sentinels) {
        redis_cmd_add_str(&role, "ROLE");
        rc = redis_wire_append(s, &role);
        what[n++] = "ROLE";
    }
    redis_cmd_free(&auth);
    redis_cmd_free(&select);
    redis_cmd_free(&role);
    if (rc != TS_OK) {
        explicit_bzero(s->wire, s->wire_len);
        s->wire_len = 0;
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    }
    if (n == 0)
        return TS_OK;
    rc = redis_exchange(s, replies, n, err);
    for (int i = 0; rc == TS_OK && i < n; i++)
        if (replies[i]->type == REDIS_REPLY_ERROR)
            rc = handshake_error(s, what[i], replies[i], err);
        else if (strcmp(what[i], "ROLE") == 0)
            rc = check_role(s, replies[i], err);
    if (rc != TS_OK)
        redis_disconnect(s);
    for (int i = 0; i < n && replies[i]; i++)
        redis_free_reply(replies[i]);
    return rc;
}

void redis_set_where(struct redis_store *s)
{
    const char *host = s->moved_host ? s->moved_host : s->host_name;
    int port = s->moved_host ? s->moved_port : s->port;

    if (s->socket_path)
        snprintf(s->where, sizeof s->where, "%s", s->socket_path);
    else if (!host)
        snprintf(s->where, sizeof s->where, "master '%.200s'", s->master_name);
    else if (strchr(host, ':'))
        snprintf(s->where, sizeof s->where, "[%s]:%d", host, port);
    else
        snprintf(s->where, sizeof s->where, "%s:%d", host, port);
}

/* A cluster node we were sent to is gone (failover): start again from the
 * configured one, which sends us on to the slot's new node. */
static void forget_moved(struct redis_store *s)
{
    s->host->log(s->ctx, TS_LOG_WARN, "cluster node %s is unreachable; asking %s:%d again",
                 s->where, s->host_name, s->port);
    free(s->moved_host);
    s->moved_host = NULL;
    redis_set_where(s);
}

/* Asks the sentinels where the master is now; the store then connects
 * there. */
static int locate_master(struct redis_store *s, ts_error *err)
{
    const struct conn_target how = {
        .connect_timeout = s->connect_timeout,
        .command_timeout = s->command_timeout,
        .tls = s->tls,
        .max_reply_bytes = s->max_reply_bytes,
        .max_reply_elements = s->max_reply_elements,
    };
    char why[1024], *host;
    int port;
    int rc = redis_sentinels_ask(s->sentinels, s->master_name, s->sentinel_user,
                                 s->sentinel_password, &how, &host, &port, why, sizeof why);

    if (rc != 0)
        return s->host->error(err, rc == 1 ? TS_ERR_AUTH : TS_ERR_CONNECT, "%s", why);
    if (!s->host_name || strcmp(host, s->host_name) != 0 || port != s->port)
        s->host->log(s->ctx, TS_LOG_INFO, "sentinels: the master of '%s' is %s:%d",
                     s->master_name, host, port);
    free(s->host_name);
    s->host_name = host;
    s->port = port;
    redis_set_where(s);
    return TS_OK;
}

int redis_connect_store(struct redis_store *s, ts_error *err)
{
    int rc = s->sentinels ? locate_master(s, err) : TS_OK;

    if (rc != TS_OK)
        return rc;
    rc = open_socket(s, err);

    if (rc == TS_ERR_CONNECT && s->moved_host) {
        forget_moved(s);
        rc = open_socket(s, err);
    }
    return rc == TS_OK ? handshake(s, err) : rc;
}

/* Connects when needed. A write that must not be replayed (retry 0)
 * first checks that the server has not closed the connection since the
 * last call; the check is a system call, so replayable calls skip it and
 * rely on the retry instead. */
int redis_ensure_connected(struct redis_store *s, int check_peer, ts_error *err)
{
    if (s->conn && check_peer && redis_conn_peer_closed(s->conn)) {
        s->host->log(s->ctx, TS_LOG_INFO, "%s closed the connection; connecting again",
                     s->where);
        redis_disconnect(s);
    }
    return s->conn ? TS_OK : redis_connect_store(s, err);
}

/* "MOVED <slot> <host>:<port>": the store's slot lives on another node of
 * the cluster; go there and stay. */
static int follow_moved(struct redis_store *s, const redisReply *r, ts_error *err)
{
    const char *addr = memchr(r->str + 6, ' ', r->len - 6);
    const char *colon = addr ? memrchr(addr, ':', r->len - (size_t)(addr - r->str)) : NULL;
    char *host = NULL;
    long port = 0;

    if (colon) {
        port = strtol(colon + 1, NULL, 10);
        host = strndup(addr + 1, (size_t)(colon - addr - 1));
    }
    if (!host || port <= 0 || port > 65535 || !*host) {
        free(host);
        return s->host->error(err, TS_ERR_BACKEND, "%s: cannot follow '%.*s'", s->where,
                              (int)r->len, r->str);
    }
    free(s->moved_host);
    s->moved_host = host;
    s->moved_port = (int)port;
    redis_set_where(s);
    s->host->log(s->ctx, TS_LOG_INFO, "the store's cluster slot is served by %s", s->where);
    redis_disconnect(s);
    int rc = open_socket(s, err);
    return rc == TS_OK ? handshake(s, err) : rc;
}

int redis_bad_reply(struct redis_store *s, const char *what, ts_error *err)
{
    return s->host->error(err, TS_ERR_BACKEND, "%s: unexpected reply to %s", s->where, what);
}

/* WAIT's answer after a write that succeeded: the number of replicas
 * that have it, at least wait_replicas, else the write is on the master
 * only and a failover now could lose it. */
static int check_wait(struct redis_store *s, const redisReply *wrote, const redisReply *r,
                      ts_error *err)
{
    if (wrote->type == REDIS_REPLY_ERROR)
        return TS_OK;
    if (r->type == REDIS_REPLY_ERROR)
        return s->host->error(err, TS_ERR_BACKEND, "%s: WAIT after the write failed (%.*s): "
                              "the change may or may not be kept", s->where, (int)r->len, r->str);
    if (r->type != REDIS_REPLY_INTEGER)
        return redis_bad_reply(s, "WAIT", err);
    if (r->integer >= s->wait_replicas)
        return TS_OK;
    return s->host->error(err, TS_ERR_TIMEOUT, "%s: the write reached %lld of the %lld "
                          "replicas wait_replicas asks for within %lld ms; a failover could "
                          "still lose it, so the token may or may not be stored", s->where,
                          r->integer, s->wait_replicas, s->wait_timeout_ms);
}

/* Sends the wire buffer and reads the reply into *out; with `wait`, WAIT
 * goes in the same round trip and its answer is checked. */
static int exchange_waiting(struct redis_store *s, int wait, redisReply **out, ts_error *err)
{
    redisReply *replies[2] = { NULL, NULL };

    if (wait && redis_wire_append(s, &s->wait) != TS_OK)
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    int rc = redis_exchange(s, replies, wait ? 2 : 1, err);   /* frees them on failure */
    if (rc != TS_OK)
        return rc;
    if (wait)
        rc = check_wait(s, replies[0], replies[1], err);
    redis_free_reply(replies[1]);
    if (rc != TS_OK)
        redis_free_reply(replies[0]);
    else
        *out = replies[0];
    return rc;
}

/*
 * Sends s->cmd and returns its reply (which may be an error reply). A
 * dropped connection is reopened and the command sent again once when
 * `retry` says a replay cannot change the outcome; a MOVED is followed.
 * With Sentinel, READONLY (the master we knew is a replica now) means
 * nothing was written: the sentinels are asked again and the command
 * sent once more. `wait` follows the command with WAIT (wait_replicas).
 */
int redis_call_waiting(struct redis_store *s, int writing, int retry, int wait,
                       redisReply **out, ts_error *err)
{
    for (int attempt = 0;; attempt++) {
        int rc = redis_ensure_connected(s, writing && !retry, err);
        if (rc != TS_OK)
            return rc;
        if (redis_wire_append(s, &s->cmd) != TS_OK)
            return s->host->error(err, TS_ERR_NOMEM, "out of memory");
        rc = exchange_waiting(s, wait, out, err);
        if (rc == TS_ERR_CONNECT && attempt == 0 && retry) {
            s->host->log(s->ctx, TS_LOG_INFO, "%s", err ? err->message : "connection lost");
            continue;
        }
        if (rc == TS_ERR_CONNECT && writing && !retry)
            return s->host->error(err, TS_ERR_CONNECT,
                                  "%s: connection lost before the reply came; the change "
                                  "may or may not have been applied", s->where);
        if (rc != TS_OK)
            return rc;
        if (redis_is_error(*out, "READONLY") && s->sentinels && attempt == 0) {
            s->host->log(s->ctx, TS_LOG_WARN, "%s is read-only now (a replica after a "
                         "failover?); asking the sentinels again", s->where);
            redis_free_reply(*out);
            *out = NULL;
            redis_disconnect(s);
            continue;
        }
        if (!redis_is_error(*out, "MOVED") || attempt >= 2 || s->socket_path)
            return TS_OK;
        rc = follow_moved(s, *out, err);
        redis_free_reply(*out);
        *out = NULL;
        if (rc != TS_OK)
            return rc;
    }
}

int redis_call(struct redis_store *s, int writing, int retry, redisReply **out,
               ts_error *err)
{
    return redis_call_waiting(s, writing, retry, 0, out, err);
}
