/*
 * plugins/postgres/client.c - the postgres backend's connection:
 * connecting through libpq with the store's options, saying in the user's
 * words why a connection failed (server down, wrong or missing password,
 * unknown database, no privilege to connect, only read-only standbys, a
 * TLS failure), noticing a server that closed an idle connection,
 * running an operation on a live connection with one reconnect and replay
 * (with_connection), and letting go of a parent's connection in a forked
 * child without a word to the server.
 *
 * libpq gives no SQLSTATE for a failed connection, only its message,
 * which quotes the server's in English (servers that speak another
 * language still get the right code, TS_ERR_CONNECT, and their words).
 * No password is ever in it: libpq never echoes one, and a message that
 * could quote the conninfo option is replaced by ours.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "pg_store.h"

/* ------------------------------------------------------------------ */
/* Connecting                                                          */
/* ------------------------------------------------------------------ */

static pthread_once_t library_once = PTHREAD_ONCE_INIT;

/*
 * libpq is kept loaded for the life of the process once a store has
 * connected: the core unloads a backend when its last store closes, and
 * libpq unloaded with it would leave what it made once per process (its
 * OpenSSL BIO method) unreachable, to be made again on the next load.
 */
static void library_init(void)
{
    Dl_info info;

    if (dladdr((void *)PQconnectdbParams, &info) && info.dli_fname)
        dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

void postgres_disconnect(struct pg_store *s)
{
    if (s->conn)
        PQfinish(s->conn);
    s->conn = NULL;
    memset(&s->prepared, 0, sizeof s->prepared);
    s->locks_held = 0;        /* the server released them with the session */
}

/* libpq's message on one line: its lines joined by "; ", tabs dropped. */
static void one_line(const char *msg, char *out, size_t n)
{
    size_t o = 0;

    for (const char *p = msg; *p && o + 3 < n; p++) {
        if (*p == '\t')
            continue;
        if (*p == '\n') {
            if (p[1] && p[1] != '\n' && o > 0) {
                out[o++] = ';';
                out[o++] = ' ';
            }
            continue;
        }
        out[o++] = *p;
    }
    out[o] = '\0';
}

/* The value between the first pair of double quotes after `after`. */
static void quoted_after(const char *msg, const char *after, char *out, size_t n)
{
    const char *p = strstr(msg, after), *q;

    out[0] = '\0';
    if (p && (p = strchr(p + strlen(after), '"')) && (q = strchr(p + 1, '"')))
        snprintf(out, n, "%.*s", (int)(q - p - 1), p + 1);
}

static int connect_fail(struct pg_store *s, PGconn *c, ts_error *err)
{
    const ts_host *h = s->host;
    const char *raw = PQerrorMessage(c), *user = s->user ? s->user : PQuser(c);
    const char *mode = h->option(s->ctx, "sslmode");
    char msg[400], name[128];

    one_line(raw, msg, sizeof msg);
    if (h->option(s->ctx, "conninfo") &&
        (strstr(raw, "connection info string") || strstr(raw, "URI")))
        return h->error(err, TS_ERR_CONFIG, "option 'conninfo' is not a libpq connection "
                        "string (key=value ...) or URI (postgresql://...)");
    if (PQconnectionNeedsPassword(c))
        return h->error(err, TS_ERR_AUTH, "%s: the server asks user '%s' for a password and "
                        "none was given (option password, the URI, PGPASSWORD, or a line "
                        "in ~/.pgpass or the file PGPASSFILE names)", s->where,
                        user ? user : "?");
    if (strstr(raw, "authentication failed") || strstr(raw, "pg_hba.conf") ||
        strstr(raw, "client certificate"))
        return h->error(err, TS_ERR_AUTH, "%s: authentication failed for user '%s' (wrong "
                        "password or certificate, or pg_hba.conf does not let it in from "
                        "here): %s", s->where, user ? user : "?", msg);
    quoted_after(raw, "FATAL:  database ", name, sizeof name);
    if (*name && strstr(raw, "does not exist")) {
        if (s->open_flags & TS_OPEN_MUST_EXIST)
            return h->error(err, TS_ERR_NO_STORE, "no such store: database '%s' on %s", name,
                            s->where);
        return h->error(err, TS_ERR_CONFIG, "%s: unknown database '%s' (create it with "
                        "CREATE DATABASE, or set the option 'dbname')", s->where, name);
    }
    if (strstr(raw, "permission denied for database") || strstr(raw, "role \""))
        return h->error(err, TS_ERR_AUTH, "%s: user '%s' may not connect to database '%s': %s",
                        s->where, user ? user : "?", PQdb(c) ? PQdb(c) : "?", msg);
    if (strstr(raw, "read-only") || strstr(raw, "standby") || strstr(raw, "not the primary"))
        return h->error(err, TS_ERR_CONNECT, "%s: no server to write to (%s): %s", s->where,
                        h->option(s->ctx, "target_session_attrs")
                            ? "none answered as target_session_attrs asks"
                            : "a read-only standby", msg);
    if (strstr(raw, "SSL") || strstr(raw, "certificate"))
        return h->error(err, TS_ERR_CONNECT, "%s: TLS (sslmode=%s): %s", s->where,
                        mode ? mode : "prefer", msg);
    return h->error(err, TS_ERR_CONNECT, "cannot connect to the PostgreSQL server at %s: %s",
                    s->where, msg);
}

/* "host:port" of the server connected to; a socket as its path. */
static void describe_connected(struct pg_store *s)
{
    const char *host = PQhost(s->conn), *port = PQport(s->conn);

    if (!host || !*host)
        return;
    if (host[0] == '/' || host[0] == '@')
        snprintf(s->where, sizeof s->where, "%.250s/.s.PGSQL.%.10s", host, port ? port : "");
    else
        snprintf(s->where, sizeof s->where, strchr(host, ':') ? "[%.250s]:%.10s" : "%.250s:%.10s",
                 host, port ? port : "");
}

/* A server's NOTICE (a DROP of a table that is not there): the library's
 * debug log, never stderr, where libpq would print it. */
static void on_notice(void *arg, const char *message)
{
    struct pg_store *s = arg;

    s->host->log(s->ctx, TS_LOG_DEBUG, "%s: %.*s", s->where, (int)strcspn(message, "\n"),
                 message);
}

/* The session's settings: statement_timeout, and for a read-only handle
 * a read-only session (which a standby also answers). */
static int set_session(struct pg_store *s, ts_error *err)
{
    char sql[160];

    snprintf(sql, sizeof sql, "SET statement_timeout = %lld%s", s->statement_timeout_ms,
             s->open_flags & TS_OPEN_READ_ONLY ? "; SET default_transaction_read_only = on"
                                               : "");
    return postgres_run_text(s, sql, "setting up the session", NULL, err);
}

int postgres_connect_db(struct pg_store *s, ts_error *err)
{
    pthread_once(&library_once, library_init);
    PGconn *c = PQconnectdbParams(s->kw, s->val, 1);

    if (!c)
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    if (PQstatus(c) != CONNECTION_OK) {
        int rc = connect_fail(s, c, err);
        PQfinish(c);
        return rc;
    }
    PQsetNoticeProcessor(c, on_notice, s);
    s->conn = c;
    s->generation++;
    memset(&s->prepared, 0, sizeof s->prepared);
    s->locks_held = 0;
    describe_connected(s);
    int rc = set_session(s, err);
    if (rc != TS_OK)
        postgres_disconnect(s);
    return rc;
}

static int ensure_connected(struct pg_store *s, int check_peer, ts_error *err)
{
    if (s->conn && check_peer && sql_peer_closed(PQsocket(s->conn))) {
        s->host->log(s->ctx, TS_LOG_INFO, "%s closed the connection; connecting again",
                     s->where);
        postgres_disconnect(s);
    }
    return s->conn ? TS_OK : postgres_connect_db(s, err);
}

/*
 * Runs op on a live connection. When the connection drops, it is reopened
 * and op run once more if `replay` says that cannot change the outcome;
 * otherwise the caller hears that the change may have been applied. A
 * write a read-only standby refused was not applied: it is run once more
 * on a new connection, where libpq may find the new primary.
 */
int postgres_with_connection(struct pg_store *s, int replay, int writing,
                             int (*op)(struct pg_store *, void *, ts_error *), void *arg,
                             ts_error *err)
{
    for (int attempt = 0;; attempt++) {
        int rc = ensure_connected(s, writing && !replay, err);
        if (rc != TS_OK)
            return rc;
        s->lost = s->standby = 0;
        s->sqlstate[0] = '\0';
        rc = op(s, arg, err);
        if (rc == TS_OK || (!s->lost && !s->standby))
            return rc;
        int standby = s->standby;
        postgres_disconnect(s);
        if (attempt == 0 && (replay || standby)) {
            s->host->log(s->ctx, TS_LOG_INFO, "%s", err ? err->message : "connection lost");
            continue;
        }
        if (writing && !replay && !standby)
            return s->host->error(err, TS_ERR_CONNECT, "%s: the connection was lost before "
                                  "the reply came; the change may or may not have been "
                                  "applied", s->where);
        return rc;
    }
}

/*
 * In a forked child. The connection's socket, and its TLS session, are
 * the parent's too: libpq's goodbye (a Terminate message, a TLS
 * close_notify) sent from here would end the parent's session, whose
 * locks and transaction are the parent's. So the child's descriptor is
 * first pointed at one end of a socket pair of its own, and then libpq
 * closes as usual: what it writes on the way out goes into that pair, and
 * the parent's socket is left as it was. Should no pair be had, the
 * descriptor is closed and libpq's structures are left unfreed.
 */
int postgres_abandon_connection(struct pg_store *s, ts_error *err)
{
    int pair[2], fd = s->conn ? PQsocket(s->conn) : -1;

    (void)err;
    if (fd < 0) {
        postgres_disconnect(s);
        return TS_OK;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0 ||
        (dup3(pair[0], fd, O_CLOEXEC) < 0 && (close(pair[0]), close(pair[1]), 1))) {
        close(fd);
        s->conn = NULL;           /* libpq's structures are left unfreed */
        postgres_disconnect(s);
        return TS_OK;
    }
    postgres_disconnect(s);                /* libpq's goodbye goes into the pair */
    close(pair[0]);
    close(pair[1]);
    return TS_OK;
}
