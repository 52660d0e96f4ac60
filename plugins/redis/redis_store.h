/*
 * plugins/redis/redis_store.h - what the redis backend's files share: the store
 * (struct redis_store), the command being built, and the functions one
 * file offers the others. Nothing here leaves the plugin (it is built
 * with hidden visibility); the data model is described in redis.c.
 */
#ifndef TS_PLUGIN_REDIS_STORE_H
#define TS_PLUGIN_REDIS_STORE_H

#include <stddef.h>
#include <sys/time.h>
#include <hiredis/hiredis.h>
#include <tokenstore/backend.h>
#include "conn.h"
#include "sentinel.h"

/* The scripts, in the order of script_source[] (scripts.c). */
enum script {
    SCRIPT_FIND, SCRIPT_SAVE, SCRIPT_DELETE, SCRIPT_CLEAR, SCRIPT_PAGE, SCRIPT_UNLOCK,
    SCRIPT_DROP, SCRIPT_LOG_APPEND, SCRIPT_LOG_PAGE, SCRIPT_COUNT
};

/* ------------------------------------------------------------------ */
/* The store                                                           */
/* ------------------------------------------------------------------ */

/* The command being built: argument pointers (borrowed) and lengths. */
struct command {
    size_t argc, cap;
    const char **argv;
    size_t *len;
    int nomem;                       /* an argument could not be added */
};

struct redis_store {
    const ts_host *host;
    ts_backend_ctx *ctx;
    struct conn *conn;               /* NULL while disconnected */
    struct conn_tls *tls;            /* NULL: plain TCP */
    char *tls_server_name;           /* NULL: the host */

    char *host_name;                 /* the configured TCP server, or the
                                        master the sentinels named */
    int port;
    struct sentinels *sentinels;     /* NULL: no Sentinel */
    char *master_name;
    char *sentinel_user, *sentinel_password;   /* password wiped on close */
    struct command wait;             /* WAIT n ms after each save and delete */
    long long wait_replicas, wait_timeout_ms;
    char wait_args[2][24];
    char *moved_host;                /* the cluster node a MOVED sent us to */
    int moved_port;
    char *socket_path;               /* or a unix socket */
    char *username, *password;       /* password wiped on close */
    long long db;
    struct timeval connect_timeout, command_timeout;
    size_t max_reply_bytes, max_reply_elements;     /* one reply's bounds */
    char where[320];                 /* "host:port" or the socket path */

    char *base;                      /* "{prefix}" */
    size_t base_len;
    char *ids_key;                   /* "{prefix}ids" */
    char *token_key;                 /* "{prefix}token:" + room for an id */

    struct command cmd;
    char *wire;                      /* RESP of the commands; wiped after sending */
    size_t wire_len, wire_cap;
    char sha[SCRIPT_COUNT][41];      /* "" until SCRIPT LOAD answered */
    char index_arg[128];             /* the scripts' ARGV[2]: "2=user 6=access ..." */

    redisReply **got;                /* a sent batch of finds: its replies so far */
    size_t sent, ngot;               /* how many it sent, how many came */
    unsigned forks;                  /* how many times forked() was called */
};

/* row_from_copy's answer for a user key that holds a bare id: the find
 * script, which reads the hash, answers instead. */
#define FIND_BY_SCRIPT (-1)

/* client.c: commands in RESP, connecting, and one call's round trip. */
void redis_cmd_reset(struct command *c);
void redis_cmd_add(struct command *c, const char *s, size_t len);
void redis_cmd_add_str(struct command *c, const char *s);
void redis_cmd_free(struct command *c);
/* Appends the RESP form of command c to the wire buffer. */
int redis_wire_append(struct redis_store *s, const struct command *c);
/* Replies carry tokens: wipes them before they go back to the heap. */
void redis_free_reply(redisReply *r);
void redis_disconnect(struct redis_store *s);
/* The connection failed: drops it and says how (TS_ERR_TIMEOUT,
 * TS_ERR_BACKEND for a reply beyond a bound, TS_ERR_CONNECT). */
int redis_connection_failed(struct redis_store *s, ts_error *err);
/* Sends the wire buffer (and wipes it). */
int redis_send_wire(struct redis_store *s, ts_error *err);
/* Sends the wire buffer and reads n replies into replies[]. */
int redis_exchange(struct redis_store *s, redisReply **replies, int n, ts_error *err);
/* Whether r is an error reply with this code ("MOVED", "NOSCRIPT"...). */
int redis_is_error(const redisReply *r, const char *code);
/* An error reply as a ts_code and a message naming the server. */
int redis_reply_error(struct redis_store *s, const redisReply *r, const char *what,
                      ts_error *err);
int redis_bad_reply(struct redis_store *s, const char *what, ts_error *err);
/* s->where from the address in use, for messages. */
void redis_set_where(struct redis_store *s);
int redis_connect_store(struct redis_store *s, ts_error *err);
/* Connects when needed; check_peer first polls a connection we hold. */
int redis_ensure_connected(struct redis_store *s, int check_peer, ts_error *err);
/* Sends s->cmd and returns its reply (which may be an error reply); see
 * client.c for when it is retried. `wait` adds WAIT (wait_replicas). */
int redis_call_waiting(struct redis_store *s, int writing, int retry, int wait,
                       redisReply **out, ts_error *err);
int redis_call(struct redis_store *s, int writing, int retry, redisReply **out,
               ts_error *err);

/* scripts.c: the Lua scripts, embedded from plugins/redis/lua/. */
/* s->index_arg from the host's key fields. */
int redis_build_index_arg(struct redis_store *s, ts_error *err);
/* Starts s->cmd as a call of script `which`: EVALSHA (or EVAL), the ids
 * key, ARGV[1] "{P}" and ARGV[2] the key fields; the caller adds the
 * rest. */
void redis_script_begin(struct redis_store *s, enum script which);
/* Runs it; an error reply becomes a ts_code. */
int redis_run_script(struct redis_store *s, enum script which, int writing, int retry,
                     redisReply **out, ts_error *err);
/* SCRIPT LOAD for every script, pipelined. */
int redis_load_scripts(struct redis_store *s, ts_error *err);

/* rows.c: rows out of replies. */
/* An HMGET-shaped reply (ten values, nil for absent) into row. */
int redis_row_from_reply(struct redis_store *s, const redisReply *r, ts_token *row,
                         ts_error *err);
/* What the save script filled in back into the caller's token. */
int redis_merge_saved(struct redis_store *s, const redisReply *r, ts_token *token,
                      ts_error *err);
/* A GET of a {P}user:NAME copy into row; TS_NOT_FOUND or FIND_BY_SCRIPT
 * when it cannot answer. */
int redis_row_from_copy(struct redis_store *s, const redisReply *r, const char *user,
                        ts_token *row, ts_error *err);

/* find.c: the scripts' numbers of the fields ("1" ... "10"); the key of a
 * user's copy of its row, "{prefix}user:NAME", in a new buffer (NULL when
 * out of memory); find_token and find_token_by_id (the backend's members). */
extern const char *const redis_field_number[TS_FIELD_COUNT];
char *redis_user_key(const struct redis_store *s, const char *user, size_t *len);
int redis_find_token(void *state, const ts_token *query, ts_token *row, ts_error *err);
int redis_find_token_by_id(void *state, const char *id, ts_token *row, ts_error *err);

/* batch.c: find_tokens and its halves (the backend's members); drop_sent
 * forgets a sent batch and the replies read of it. */
int redis_find_tokens(void *state, const ts_token *const *queries, size_t n,
                      ts_token *const *rows, int *results, ts_error *err);
int redis_find_tokens_send(void *state, const ts_token *const *queries, size_t n, int *fd,
                           int *timeout_ms, ts_error *err);
int redis_find_tokens_receive(void *state, const ts_token *const *queries, size_t n,
                              ts_token *const *rows, int *results, int *done, ts_error *err);
void redis_find_tokens_cancel(void *state);
void redis_drop_sent(struct redis_store *s);

/* notes.c: the notes and the refresh log beside the tokens (the
 * backend's members). */
int redis_note_set(void *state, const char *name, const char *value, int64_t ttl_ms,
                   ts_error *err);
int redis_note_get(void *state, const char *name, char *value, size_t size, ts_error *err);
int redis_log_append(void *state, const char *entry, size_t keep, ts_error *err);
int redis_log_walk(void *state, int (*cb)(const char *entry, void *userdata), void *userdata,
                   ts_error *err);

/* options.c: the store's options, keys and teardown. */
int redis_read_options(struct redis_store *s, ts_error *err);
int redis_build_keys(struct redis_store *s, ts_error *err);
void redis_store_free(struct redis_store *s);

#endif
