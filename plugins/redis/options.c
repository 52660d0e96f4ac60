/*
 * plugins/redis/options.c - the redis store's options (address, socket,
 * credentials, timeouts, reply bounds, TLS, Sentinel, wait_replicas),
 * checked together at open so that a bad combination is refused with the
 * option's name before anything connects; the key names built on the
 * prefix; and the store's teardown, which wipes the passwords and the
 * wire buffer.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "redis_store.h"

#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_PORT 6379
#define DEFAULT_PREFIX "tokenstore:"
#define DEFAULT_CONNECT_TIMEOUT_MS 2000
#define DEFAULT_COMMAND_TIMEOUT_MS 5000

/* ------------------------------------------------------------------ */
/* Teardown                                                            */
/* ------------------------------------------------------------------ */

void redis_store_free(struct redis_store *s)
{
    redis_disconnect(s);
    if (s->password)
        explicit_bzero(s->password, strlen(s->password));
    if (s->sentinel_password)
        explicit_bzero(s->sentinel_password, strlen(s->sentinel_password));
    free(s->sentinel_password);
    free(s->sentinel_user);
    free(s->master_name);
    redis_sentinels_free(s->sentinels);
    redis_cmd_free(&s->wait);
    if (s->wire)
        explicit_bzero(s->wire, s->wire_cap);
    free(s->password);
    free(s->username);
    free(s->host_name);
    free(s->moved_host);
    free(s->socket_path);
    free(s->tls_server_name);
    redis_conn_tls_free(s->tls);
    free(s->base);
    free(s->ids_key);
    free(s->token_key);
    redis_cmd_free(&s->cmd);
    free(s->wire);
    free(s);
}

static int dup_option(struct redis_store *s, const char *key, const char *dflt, char **out)
{
    const char *v = s->host->option(s->ctx, key);

    *out = NULL;
    if (!v)
        v = dflt;
    if (v && !(*out = strdup(v)))
        return TS_ERR_NOMEM;
    return TS_OK;
}

static struct timeval ms_to_timeval(long long ms)
{
    return (struct timeval){ .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
}

static int read_numbers(struct redis_store *s, ts_error *err)
{
    const ts_host *h = s->host;
    long long port, connect_ms, command_ms, max_bytes, max_elements;
    int rc = h->option_int(s->ctx, "port", DEFAULT_PORT, 1, 65535, &port, err);

    if (rc == TS_OK)
        rc = h->option_int(s->ctx, "db", 0, 0, INT_MAX, &s->db, err);
    if (rc == TS_OK)
        rc = h->option_int(s->ctx, "connect_timeout_ms", DEFAULT_CONNECT_TIMEOUT_MS, 1,
                           3600000, &connect_ms, err);
    if (rc == TS_OK)
        rc = h->option_int(s->ctx, "command_timeout_ms", DEFAULT_COMMAND_TIMEOUT_MS, 0,
                           3600000, &command_ms, err);
    /* The smallest bounds still take a page of get_tokens (256 rows of
     * ten fields) of short tokens. */
    if (rc == TS_OK)
        rc = h->option_int(s->ctx, "max_reply_bytes", CONN_MAX_REPLY_BYTES, 65536,
                           (long long)1 << 32, &max_bytes, err);
    if (rc == TS_OK)
        rc = h->option_int(s->ctx, "max_reply_elements", CONN_MAX_REPLY_ELEMENTS, 4096,
                           100000000, &max_elements, err);
    if (rc != TS_OK)
        return rc;
    s->max_reply_bytes = (size_t)max_bytes;
    s->max_reply_elements = (size_t)max_elements;
    s->port = (int)port;
    s->connect_timeout = ms_to_timeval(connect_ms);
    s->command_timeout = ms_to_timeval(command_ms);
    return TS_OK;
}

/* An on/off option: 1, 0, dflt when absent, or -1 after filling err. */
static int option_bool(struct redis_store *s, const char *key, int dflt, ts_error *err)
{
    /* The first four are "off". */
    static const char *const words[] = { "off", "0", "false", "no",
                                         "on", "1", "true", "yes", NULL };
    int i;

    if (s->host->option_choice(s->ctx, key, words, dflt ? 4 : 0, &i, err) != TS_OK)
        return -1;
    return i >= 4;
}

/* TS_ERR_CONFIG naming the first of the options that is set, which
 * needs what `needs` says; TS_OK when none is. */
static int refuse_any(struct redis_store *s, const char *const *names, size_t n,
                      const char *needs, ts_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (s->host->option(s->ctx, names[i]))
            return s->host->error(err, TS_ERR_CONFIG, "option '%s' needs %s", names[i], needs);
    return TS_OK;
}

/* The TLS options, when tls is on (rediss:// sets it). Verification is
 * turned off only by name, and every open says so. */
static int read_tls(struct redis_store *s, ts_error *err)
{
    static const char *const tls_only[] = { "tls_ca", "tls_cert", "tls_key",
                                            "tls_server_name", "tls_verify" };
    const ts_host *h = s->host;
    int tls = option_bool(s, "tls", 0, err), verify = option_bool(s, "tls_verify", 1, err);
    char why[512];

    if (tls < 0 || verify < 0)
        return TS_ERR_CONFIG;
    if (!tls)
        return refuse_any(s, tls_only, sizeof tls_only / sizeof *tls_only,
                          "tls on (or a rediss:// URI)", err);
    if (s->socket_path)
        return h->error(err, TS_ERR_CONFIG, "Redis has no TLS on a unix socket: give host and "
                        "port with tls, or the socket without it");
    const struct conn_tls_options o = {
        .ca = h->option(s->ctx, "tls_ca"),
        .cert = h->option(s->ctx, "tls_cert"),
        .key = h->option(s->ctx, "tls_key"),
        .verify = verify,
    };
    if (redis_conn_tls_new(&s->tls, &o, why, sizeof why) != 0)
        return h->error(err, TS_ERR_CONFIG, "%s", why);
    if (dup_option(s, "tls_server_name", NULL, &s->tls_server_name) != TS_OK)
        return h->error(err, TS_ERR_NOMEM, "out of memory");
    if (!verify)
        h->log(s->ctx, TS_LOG_WARN, "%s: tls_verify is off: the server's certificate is not "
               "checked, so anyone on the path can read and change the tokens", s->where);
    return TS_OK;
}

/* sentinels, master_name and the sentinels' credentials: all or none. */
static int read_sentinel(struct redis_store *s, ts_error *err)
{
    static const char *const sentinel_only[] = { "master_name", "sentinel_user",
                                                 "sentinel_password" };
    const ts_host *h = s->host;
    const char *list = h->option(s->ctx, "sentinels");
    char why[320];

    if (!list)
        return refuse_any(s, sentinel_only, sizeof sentinel_only / sizeof *sentinel_only,
                          "the sentinels option", err);
    if (h->option(s->ctx, "host") || h->option(s->ctx, "port") || h->option(s->ctx, "socket"))
        return h->error(err, TS_ERR_CONFIG, "with sentinels the master's address comes from "
                        "them: leave out host, port and socket");
    if (!h->option(s->ctx, "master_name") || !*h->option(s->ctx, "master_name"))
        return h->error(err, TS_ERR_CONFIG, "sentinels need master_name, the name they "
                        "monitor the master under");
    if (redis_sentinels_parse(&s->sentinels, list, why, sizeof why) != 0)
        return h->error(err, TS_ERR_CONFIG, "option 'sentinels': %s", why);
    if (dup_option(s, "master_name", NULL, &s->master_name) != TS_OK ||
        dup_option(s, "sentinel_user", NULL, &s->sentinel_user) != TS_OK ||
        dup_option(s, "sentinel_password", NULL, &s->sentinel_password) != TS_OK)
        return h->error(err, TS_ERR_NOMEM, "out of memory");
    return TS_OK;
}

/* wait_replicas and wait_timeout_ms, as the WAIT command sent after each
 * save and delete. WAIT must answer before the command timeout does. */
static int read_wait(struct redis_store *s, ts_error *err)
{
    const ts_host *h = s->host;
    long long command_ms = s->command_timeout.tv_sec * 1000 + s->command_timeout.tv_usec / 1000;
    int rc = h->option_int(s->ctx, "wait_replicas", 0, 0, 1000, &s->wait_replicas, err);

    if (rc == TS_OK)
        rc = h->option_int(s->ctx, "wait_timeout_ms", 1000, 1, 3600000, &s->wait_timeout_ms,
                           err);
    if (rc != TS_OK || s->wait_replicas == 0)
        return rc;
    if (command_ms && s->wait_timeout_ms >= command_ms)
        return h->error(err, TS_ERR_CONFIG, "wait_timeout_ms (%lld) must be less than "
                        "command_timeout_ms (%lld)", s->wait_timeout_ms, command_ms);
    snprintf(s->wait_args[0], sizeof s->wait_args[0], "%lld", s->wait_replicas);
    snprintf(s->wait_args[1], sizeof s->wait_args[1], "%lld", s->wait_timeout_ms);
    redis_cmd_add_str(&s->wait, "WAIT");
    redis_cmd_add_str(&s->wait, s->wait_args[0]);
    redis_cmd_add_str(&s->wait, s->wait_args[1]);
    return s->wait.nomem ? h->error(err, TS_ERR_NOMEM, "out of memory") : TS_OK;
}

int redis_read_options(struct redis_store *s, ts_error *err)
{
    const ts_host *h = s->host;
    const char *socket_path = h->option(s->ctx, "socket");

    if (socket_path && (h->option(s->ctx, "host") || h->option(s->ctx, "port")))
        return h->error(err, TS_ERR_CONFIG,
                        "give either the socket option or host and port, not both");
    if (socket_path && !*socket_path)
        return h->error(err, TS_ERR_CONFIG, "option 'socket' is empty");
    int rc = read_numbers(s, err);
    if (rc == TS_OK)
        rc = read_sentinel(s, err);
    if (rc == TS_OK)
        rc = read_wait(s, err);
    if (rc != TS_OK)
        return rc;
    if (dup_option(s, "socket", NULL, &s->socket_path) != TS_OK ||
        dup_option(s, "host", socket_path || s->sentinels ? NULL : DEFAULT_HOST,
                   &s->host_name) != TS_OK ||
        dup_option(s, "username", NULL, &s->username) != TS_OK ||
        dup_option(s, "password", NULL, &s->password) != TS_OK)
        return h->error(err, TS_ERR_NOMEM, "out of memory");
    if (s->host_name && !*s->host_name)
        return h->error(err, TS_ERR_CONFIG, "option 'host' is empty");
    redis_set_where(s);
    return read_tls(s, err);
}

/* "{prefix}" and the fixed keys built on it. The braces make the prefix
 * the cluster hash tag, so a '}' inside it would cut the tag short. */
int redis_build_keys(struct redis_store *s, ts_error *err)
{
    const char *prefix = s->host->option(s->ctx, "prefix");

    if (!prefix)
        prefix = DEFAULT_PREFIX;
    if (!*prefix || strchr(prefix, '}'))
        return s->host->error(err, TS_ERR_CONFIG,
                              "option 'prefix': '%.60s' must be non-empty and without '}' "
                              "(it becomes the cluster hash tag {prefix})", prefix);
    s->base_len = strlen(prefix) + 2;
    s->base = malloc(s->base_len + 1);
    s->ids_key = malloc(s->base_len + 4);
    s->token_key = malloc(s->base_len + 6 + 21);
    if (!s->base || !s->ids_key || !s->token_key)
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    snprintf(s->base, s->base_len + 1, "{%s}", prefix);
    snprintf(s->ids_key, s->base_len + 4, "%sids", s->base);
    memcpy(s->token_key, s->base, s->base_len);
    return TS_OK;
}
