/*
 * plugins/postgres/options.c - the postgres store's options, checked
 * together at open so that a bad one is refused with its name before
 * anything connects, and the names made from the table's.
 *
 * The options are libpq's own connection keywords, passed to
 * PQconnectdbParams as they are: a URI or a config says host=h1,h2 and
 * target_session_attrs=read-write as libpq's documentation does, and
 * libpq's defaults and environment (PGHOST, PGPASSFILE and ~/.pgpass,
 * PGSERVICE, PGSSLMODE, ...) apply to whatever is not given. `conninfo`
 * takes a whole libpq connection string or URI, under the options given
 * one by one; `username` is `user` (URIs set it); `schema`, `table` and
 * `statement_timeout_ms` are ours. Before them come our defaults, which
 * anything the user says overrides: client_encoding UTF8 (tokens are
 * UTF-8 text), fallback_application_name tokenstore (the name servers'
 * session lists show), and a connect_timeout of 10 s where libpq would
 * wait for ever.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pg_store.h"

#define DEFAULT_TABLE "oauthtoken"
#define DEFAULT_CONNECT_TIMEOUT_S "10"
#define DEFAULT_STATEMENT_TIMEOUT_MS 30000

/* libpq's keywords we take, passed on under their own names. */
static const char *const libpq_keys[] = {
    "host", "hostaddr", "port", "dbname", "user", "password", "passfile", "service",
    "sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword", "sslcrl", "sslcrldir",
    "sslsni", "requirepeer", "channel_binding", "gssencmode", "krbsrvname",
    "connect_timeout", "target_session_attrs", "application_name", "keepalives",
    "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout", NULL,
};

const char *const postgres_option_names[] = {
    "host", "hostaddr", "port", "dbname", "user", "password", "passfile", "service",
    "sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword", "sslcrl", "sslcrldir",
    "sslsni", "requirepeer", "channel_binding", "gssencmode", "krbsrvname",
    "connect_timeout", "target_session_attrs", "application_name", "keepalives",
    "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout",
    "conninfo", "username", "schema", "table", "statement_timeout_ms", NULL,
};

/* The words libpq takes for two options we check before connecting, so
 * that a typo is named as the option it is in. */
static const char *const ssl_modes[] = { "disable", "allow", "prefer", "require",
                                         "verify-ca", "verify-full", NULL };
static const char *const session_attrs[] = { "any", "read-write", "read-only", "primary",
                                             "standby", "prefer-standby", NULL };

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

static int identifier_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > PG_NAME_MAX || strchr("0123456789$", name[0]))
        return 0;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789_$") == n;
}

/* Index names share the schema with tables, so a name made from the
 * table's must stay apart from other tables' too (PostgreSQL would cut
 * one over 63 characters silently). */
void postgres_derived_name(const struct pg_store *s, const char *suffix, char out[PG_NAME_MAX + 1])
{
    sql_derived_name(s->table, suffix, PG_NAME_MAX, out);
}

int64_t postgres_lock_key(const struct pg_store *s, const char *what)
{
    const char *parts[] = { "tokenstore", s->schema, s->table, what };

    return (int64_t)sql_hash(parts, 4);
}

static void quote(char out[PG_QNAME_MAX], const char *schema, const char *name)
{
    snprintf(out, PG_QNAME_MAX, "\"%s\".\"%s\"", schema, name);
}

int postgres_name_tables(struct pg_store *s, ts_error *err)
{
    (void)err;
    postgres_derived_name(s, "_notes", s->notes_table);
    postgres_derived_name(s, "_log", s->log_table);
    quote(s->qtable, s->schema, s->table);
    quote(s->qnotes, s->schema, s->notes_table);
    quote(s->qlog, s->schema, s->log_table);
    s->write_key = postgres_lock_key(s, "write");
    s->log_key = postgres_lock_key(s, "log");
    s->schema_key = postgres_lock_key(s, "schema");
    return TS_OK;
}

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

static void add(struct pg_store *s, int *n, const char *kw, const char *val)
{
    if (*n < (int)(sizeof s->kw / sizeof s->kw[0]) - 1) {
        s->kw[*n] = kw;
        s->val[*n] = val;
        (*n)++;
    }
    s->kw[*n] = s->val[*n] = NULL;
}

/* "host:port" for messages, a socket as its path; lists stay lists. */
static void describe_default(struct pg_store *s)
{
    const ts_host *h = s->host;
    const char *host = h->option(s->ctx, "host"), *port = h->option(s->ctx, "port");
    const char *service = h->option(s->ctx, "service");

    if (host)
        snprintf(s->where, sizeof s->where, "%.200s%s%.60s", host, port ? " port " : "",
                 port ? port : "");
    else if (service)
        snprintf(s->where, sizeof s->where, "service '%.200s'", service);
    else if (h->option(s->ctx, "conninfo"))
        snprintf(s->where, sizeof s->where, "the server of option conninfo");
    else
        snprintf(s->where, sizeof s->where, "libpq's default server");
}

static int read_user(struct pg_store *s, ts_error *err)
{
    const char *user = s->host->option(s->ctx, "user");
    const char *username = s->host->option(s->ctx, "username");

    /* `user` is libpq's name; URIs set `username`, as for redis and mysql. */
    if (user && username && strcmp(user, username) != 0)
        return s->host->error(err, TS_ERR_CONFIG, "options 'user' and 'username' name "
                              "different users; give one");
    s->user = user ? user : username;
    return TS_OK;
}

static int read_names(struct pg_store *s, ts_error *err)
{
    const ts_host *h = s->host;
    const char *table = h->option(s->ctx, "table"), *schema = h->option(s->ctx, "schema");

    if (!table)
        table = DEFAULT_TABLE;
    if (!identifier_valid(table))
        return h->error(err, TS_ERR_CONFIG, "option 'table': '%.80s' is not an SQL identifier "
                        "([A-Za-z_][A-Za-z0-9_$]*, at most %d characters)", table, PG_NAME_MAX);
    if (schema && !identifier_valid(schema))
        return h->error(err, TS_ERR_CONFIG, "option 'schema': '%.80s' is not an SQL identifier "
                        "([A-Za-z_][A-Za-z0-9_$]*, at most %d characters)", schema,
                        PG_NAME_MAX);
    snprintf(s->table, sizeof s->table, "%s", table);
    snprintf(s->schema, sizeof s->schema, "%s", schema ? schema : "");
    return TS_OK;
}

/* The options checked before libpq sees them: the words of sslmode and
 * target_session_attrs, the numbers, the names. */
static int check_options(struct pg_store *s, ts_error *err)
{
    const ts_host *h = s->host;
    long long timeout;
    int choice, rc;

    if ((rc = h->option_choice(s->ctx, "sslmode", ssl_modes, 2, &choice, err)) != TS_OK ||
        (rc = h->option_choice(s->ctx, "target_session_attrs", session_attrs, 0, &choice,
                               err)) != TS_OK ||
        (rc = h->option_int(s->ctx, "connect_timeout", 10, 0, 3600, &timeout, err)) != TS_OK ||
        (rc = h->option_int(s->ctx, "statement_timeout_ms", DEFAULT_STATEMENT_TIMEOUT_MS, 100,
                            86400000, &s->statement_timeout_ms, err)) != TS_OK)
        return rc;
    /* A writer waits for the write lock half a statement's time at most. */
    s->lock_wait_ms = s->statement_timeout_ms / 2;
    const char *host = h->option(s->ctx, "host");
    if (host && !*host)
        return h->error(err, TS_ERR_CONFIG, "option 'host' is empty");
    return TS_OK;
}

int postgres_read_options(struct pg_store *s, ts_error *err)
{
    const ts_host *h = s->host;
    int n = 0, rc;

    if ((rc = check_options(s, err)) != TS_OK || (rc = read_user(s, err)) != TS_OK ||
        (rc = read_names(s, err)) != TS_OK)
        return rc;
    add(s, &n, "client_encoding", "UTF8");
    add(s, &n, "fallback_application_name", "tokenstore");
    if (!getenv("PGCONNECT_TIMEOUT"))
        add(s, &n, "connect_timeout", DEFAULT_CONNECT_TIMEOUT_S);
    /* The first dbname is expanded (expand_dbname): a whole connection
     * string or URI, which the options after it override. */
    if (h->option(s->ctx, "conninfo"))
        add(s, &n, "dbname", h->option(s->ctx, "conninfo"));
    for (int i = 0; libpq_keys[i]; i++) {
        const char *v = h->option(s->ctx, libpq_keys[i]);
        if (v)
            add(s, &n, libpq_keys[i], v);
    }
    if (!h->option(s->ctx, "user") && s->user)
        add(s, &n, "user", s->user);
    describe_default(s);
    return TS_OK;
}
