/*
 * plugins/mysql/options.c - the mysql store's options (server or socket,
 * user, database, table, timeouts, TLS), checked together at open so
 * that a bad combination is refused with the option's name before
 * anything connects, with the SDK's defaults; the names of the tables
 * beside the token table (the notes, the log); and the names of the
 * store's MySQL locks, built on the database and the table.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mysql_store.h"

#define DEFAULT_HOST "localhost"       /* the SDK's defaults, all of them */
#define DEFAULT_PORT 3306
#define DEFAULT_USER "root"
#define DEFAULT_DATABASE "zohooauth"
#define DEFAULT_TABLE "oauthtoken"
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_READ_TIMEOUT_MS 30000
#define DEFAULT_WRITE_TIMEOUT_MS 30000

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

static int identifier_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > NAME_MAX_LEN || strspn(name, "0123456789") > 0)
        return 0;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789_$") == n;
}

/* A table beside the token table, "<table><suffix>" within MySQL's 64
 * characters, so that the stores in one database keep apart. */
static int side_name(struct mysql_store *s, const char *suffix, char out[NAME_MAX_LEN + 1],
                     ts_error *err)
{
    char name[NAME_MAX_LEN + 1];

    sql_derived_name(s->table, suffix, NAME_MAX_LEN, name);
    if (!identifier_valid(name))
        return s->host->error(err, TS_ERR_CONFIG, "option 'table': '%.80s', the table beside "
                              "it, is not an SQL identifier", name);
    memcpy(out, name, strlen(name) + 1);
    return TS_OK;
}

static int dup_option(struct mysql_store *s, const char *key, const char *dflt, char **out)
{
    const char *v = s->host->option(s->ctx, key);

    *out = NULL;
    if (!v)
        v = dflt;
    return v && !(*out = strdup(v)) ? TS_ERR_NOMEM : TS_OK;
}

/* A timeout in ms, which the client library takes in whole seconds. */
static int timeout_option(struct mysql_store *s, const char *key, long long dflt,
                          unsigned *seconds, ts_error *err)
{
    long long ms;
    int rc = s->host->option_int(s->ctx, key, dflt, 1, 3600000, &ms, err);

    *seconds = (unsigned)((ms + 999) / 1000);
    return rc;
}

/* The option tls's words, in enum tls_mode's order. */
static const char *const tls_modes[] = { "off", "required", "verify-ca", "verify-identity",
                                         NULL };

const char *mysql_tls_mode_name(enum tls_mode mode)
{
    return tls_modes[mode];
}

static int read_tls(struct mysql_store *s, ts_error *err)
{
    const char *const *modes = tls_modes;
    const ts_host *h = s->host;
    int mode;
    int rc = h->option_choice(s->ctx, "tls", modes, TLS_OFF, &mode, err);

    if (rc != TS_OK)
        return rc;
    s->tls = (enum tls_mode)mode;
    if (dup_option(s, "tls_ca", NULL, &s->tls_ca) != TS_OK ||
        dup_option(s, "tls_cert", NULL, &s->tls_cert) != TS_OK ||
        dup_option(s, "tls_key", NULL, &s->tls_key) != TS_OK)
        return h->error(err, TS_ERR_NOMEM, "out of memory");
    if (s->tls == TLS_OFF && (s->tls_ca || s->tls_cert || s->tls_key))
        return h->error(err, TS_ERR_CONFIG, "options tls_ca, tls_cert and tls_key need the "
                        "option 'tls' (required, verify-ca or verify-identity)");
    if (s->tls >= TLS_VERIFY_CA && !s->tls_ca)
        return h->error(err, TS_ERR_CONFIG, "option 'tls' %s needs tls_ca, the CA certificate "
                        "to verify the server with", modes[s->tls]);
    if (!s->tls_cert != !s->tls_key)
        return h->error(err, TS_ERR_CONFIG, "options tls_cert and tls_key go together");
    return TS_OK;
}

static int read_user(struct mysql_store *s, ts_error *err)
{
    const char *user = s->host->option(s->ctx, "user");
    const char *username = s->host->option(s->ctx, "username");

    /* `user` is the SDK's name; URIs set `username`, as for redis. */
    if (user && username && strcmp(user, username) != 0)
        return s->host->error(err, TS_ERR_CONFIG, "options 'user' and 'username' name "
                              "different users; give one");
    if (!(s->user = strdup(user ? user : username ? username : DEFAULT_USER)))
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    return TS_OK;
}

int mysql_read_options(struct mysql_store *s, ts_error *err)
{
    const ts_host *h = s->host;
    const char *socket_path = h->option(s->ctx, "socket");
    const char *table = h->option(s->ctx, "table");
    long long port, read_ms;
    int rc;

    if (socket_path && (h->option(s->ctx, "host") || h->option(s->ctx, "port")))
        return h->error(err, TS_ERR_CONFIG,
                        "give either the socket option or host and port, not both");
    if (socket_path && !*socket_path)
        return h->error(err, TS_ERR_CONFIG, "option 'socket' is empty");
    if ((rc = h->option_int(s->ctx, "port", DEFAULT_PORT, 1, 65535, &port, err)) != TS_OK ||
        (rc = timeout_option(s, "connect_timeout_ms", DEFAULT_CONNECT_TIMEOUT_MS,
                             &s->connect_timeout_s, err)) != TS_OK ||
        (rc = timeout_option(s, "read_timeout_ms", DEFAULT_READ_TIMEOUT_MS,
                             &s->read_timeout_s, err)) != TS_OK ||
        (rc = timeout_option(s, "write_timeout_ms", DEFAULT_WRITE_TIMEOUT_MS,
                             &s->write_timeout_s, err)) != TS_OK ||
        (rc = read_tls(s, err)) != TS_OK || (rc = read_user(s, err)) != TS_OK)
        return rc;
    s->port = (unsigned)port;
    read_ms = s->read_timeout_s * 1000LL;
    s->lock_wait_s = read_ms >= 4000 ? (unsigned long long)read_ms / 2000 : 1;
    if (dup_option(s, "socket", NULL, &s->socket_path) != TS_OK ||
        dup_option(s, "host", DEFAULT_HOST, &s->host_name) != TS_OK ||
        dup_option(s, "password", NULL, &s->password) != TS_OK ||
        dup_option(s, "database", DEFAULT_DATABASE, &s->database) != TS_OK)
        return h->error(err, TS_ERR_NOMEM, "out of memory");
    if (!*s->host_name)
        return h->error(err, TS_ERR_CONFIG, "option 'host' is empty");
    if (!*s->database || strlen(s->database) > NAME_MAX_LEN)
        return h->error(err, TS_ERR_CONFIG, "option 'database': '%.80s' is empty or longer "
                        "than %d characters", s->database, NAME_MAX_LEN);
    if (!table)
        table = DEFAULT_TABLE;
    if (!identifier_valid(table))
        return h->error(err, TS_ERR_CONFIG,
                        "option 'table': '%.80s' is not an SQL identifier "
                        "([A-Za-z_$][A-Za-z0-9_$]*, at most %d characters)",
                        table, NAME_MAX_LEN);
    snprintf(s->table, sizeof s->table, "%s", table);
    if (s->socket_path)
        snprintf(s->where, sizeof s->where, "%s", s->socket_path);
    else
        snprintf(s->where, sizeof s->where, strchr(s->host_name, ':') ? "[%s]:%u" : "%s:%u",
                 s->host_name, s->port);
    mysql_lock_name(s, "write", s->write_lock);
    mysql_lock_name(s, "log", s->log_lock);
    if ((rc = side_name(s, "_notes", s->notes_table, err)) != TS_OK)
        return rc;
    return side_name(s, "_log", s->log_table, err);
}

/* ------------------------------------------------------------------ */
/* Lock names                                                          */
/* ------------------------------------------------------------------ */

/* "ts:" and FNV-1a of database, table and what, in hex. */
void mysql_lock_name(const struct mysql_store *s, const char *what, char out[40])
{
    const char *parts[] = { s->database, s->table, what };

    snprintf(out, 40, "ts:%016llx", (unsigned long long)sql_hash(parts, 3));
}
