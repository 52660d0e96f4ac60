/*
 * plugins/mysql/client.c - the mysql backend's connection: starting the
 * client library once per process, the connection's options (strict
 * mode, read committed, TLS), connecting and saying in the user's words
 * why a connection failed, refusing a connection that a TLS mode promised
 * to encrypt and that is not, noticing a server that closed an idle
 * connection, running an operation on a live connection with one
 * reconnect and replay (with_connection), and letting go of a parent's
 * connection in a forked child without a word to the server.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>
#include "mysql_store.h"

/* ------------------------------------------------------------------ */
/* Connecting                                                          */
/* ------------------------------------------------------------------ */

static pthread_once_t library_once = PTHREAD_ONCE_INIT;
static int library_ready;

/*
 * mysql_library_init is not thread-safe; mysql_init would call it on
 * first use from whichever thread came first. The client library is then
 * kept loaded for the life of the process: the core unloads a backend when
 * its last store closes, and unloading libmariadb with it would leave what
 * its init allocated unreachable, while calling mysql_library_end would
 * pull the library from under an application that uses it too.
 */
static void library_init(void)
{
    Dl_info info;

    library_ready = mysql_library_init(0, NULL, NULL) == 0;
    if (library_ready && dladdr((void *)mysql_init, &info) && info.dli_fname)
        dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

static void close_statements(struct mysql_store *s)
{
    for (int k = 0; k < ST_COUNT; k++) {
        if (s->stmt[k])
            mysql_stmt_close(s->stmt[k]);
        s->stmt[k] = NULL;
    }
    for (unsigned m = 0; m < SQL_COLUMN_SETS; m++) {
        if (s->update[m])
            mysql_stmt_close(s->update[m]);
        s->update[m] = NULL;
    }
}

void mysql_disconnect(struct mysql_store *s)
{
    close_statements(s);
    if (s->conn)
        mysql_close(s->conn);
    s->conn = NULL;
    s->locks_held = 0;     /* the server released them with the connection */
}

/*
 * The authentication methods a TLS mode allows. The client library learns
 * from the server's greeting whether it takes TLS, and when the greeting
 * says no (a server without TLS, or something on the way that cleared
 * the offer) it goes on in the clear, authenticating first; but for
 * verify-identity, where it refuses such a greeting at once. connect_db
 * refuses the unencrypted connection afterwards, so the exchange before
 * must not give the password away: mysql_clear_password and dialog send
 * it as it is, and caching_sha2_password and sha256_password, unencrypted,
 * send it under an RSA key the other end hands over, which only whoever
 * stands in the middle can use. `required` does not verify the server,
 * so it stands against an eavesdropper only and keeps those two;
 * verify-ca stands against someone in the middle as well.
 */
static const char *allowed_auth(enum tls_mode mode)
{
    switch (mode) {
    case TLS_REQUIRED:
        return "mysql_native_password,client_ed25519,caching_sha2_password,sha256_password";
    case TLS_VERIFY_CA:
        return "mysql_native_password,client_ed25519";
    default:
        return NULL;
    }
}

static int set_tls(struct mysql_store *s, MYSQL *m)
{
    my_bool yes = 1, no = 0;
    int rc = 0;

    if (s->tls == TLS_OFF)
        return 0;
    if (allowed_auth(s->tls))
        rc |= mysql_optionsv(m, MARIADB_OPT_RESTRICTED_AUTH, allowed_auth(s->tls));
    /* A MySQL 8 greeting proposes caching_sha2_password: start with the
     * native method, which the server switches from if the account has
     * another. */
    if (s->tls == TLS_VERIFY_CA)
        rc |= mysql_optionsv(m, MYSQL_DEFAULT_AUTH, "mysql_native_password");
    rc |= mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &yes);
    if (s->tls_ca)
        rc |= mysql_optionsv(m, MYSQL_OPT_SSL_CA, s->tls_ca);
    if (s->tls_cert)
        rc |= mysql_optionsv(m, MYSQL_OPT_SSL_CERT, s->tls_cert);
    if (s->tls_key)
        rc |= mysql_optionsv(m, MYSQL_OPT_SSL_KEY, s->tls_key);
    /* With a CA, the client library checks the chain; verify-identity
     * also checks that the certificate names the host. */
    rc |= mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT,
                         s->tls == TLS_VERIFY_IDENTITY ? &yes : &no);
    return rc;
}

static int set_options(struct mysql_store *s, MYSQL *m)
{
    unsigned protocol = s->socket_path ? MYSQL_PROTOCOL_SOCKET : MYSQL_PROTOCOL_TCP;
    my_bool no = 0;
    int rc = 0;

    /* "localhost" means TCP to localhost, as it does for the SDK; libmariadb
     * would otherwise take it for its default socket. */
    rc |= mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &protocol);
    rc |= mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &s->connect_timeout_s);
    rc |= mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &s->read_timeout_s);
    rc |= mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &s->write_timeout_s);
    rc |= mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    rc |= mysql_optionsv(m, MYSQL_OPT_LOCAL_INFILE, &no);
    rc |= mysql_optionsv(m, MYSQL_OPT_RECONNECT, &no);      /* we reconnect ourselves */
    /* Strict: a value wider than its column is refused, never cut. */
    rc |= mysql_optionsv(m, MYSQL_INIT_COMMAND,
                         "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'");
    rc |= mysql_optionsv(m, MYSQL_INIT_COMMAND,
                         "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
    return rc | set_tls(s, m);
}

/*
 * Why a TCP connection to the server fails, asked of the kernel: the
 * client library connects without blocking and then reports the errno of
 * that first step, EINPROGRESS ("(115)"), where the real reason (refused,
 * unreachable, timed out) came later. One blocking-with-timeout connect
 * to the first address tells it. 0 when the probe connects after all.
 */
static int probe_tcp(const struct mysql_store *s)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
    char port[8];
    int e = 0;

    snprintf(port, sizeof port, "%u", s->port);
    if (getaddrinfo(s->host_name, port, &hints, &ai) != 0 || !ai)
        return 0;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        e = errno;
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        socklen_t len = sizeof e;
        if (e == EINPROGRESS)
            e = poll(&p, 1, (int)s->connect_timeout_s * 1000) == 1 &&
                        getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == 0
                    ? e : ETIMEDOUT;
    }
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return e;
}

/* "(111)" at the end of a client message is an errno: say what it means. */
static const char *errno_words(const struct mysql_store *s, const char *msg, char *buf,
                               size_t n)
{
    const char *open = strrchr(msg, '(');
    char *end;
    long e = open ? strtol(open + 1, &end, 10) : 0;

    if (!open || e <= 0 || *end != ')')
        return "";
    if (e == EINPROGRESS && !s->socket_path)
        e = probe_tcp(s);
    if (e <= 0)
        return "";
    snprintf(buf, n, "%s: ", strerror((int)e));
    return buf;
}

/* The connection failed: why, in the words the user needs. */
static int connect_fail(struct mysql_store *s, MYSQL *m, ts_error *err)
{
    const ts_host *h = s->host;
    unsigned code = mysql_errno(m);
    const char *msg = mysql_error(m);
    char words[128];

    switch (code) {
    case ER_ACCESS_DENIED_ERROR:
    case ER_ACCESS_DENIED_NO_PASSWORD_ERROR:
        return h->error(err, TS_ERR_AUTH, "%s: access denied for user '%s' (wrong password, "
                        "or the user may not connect from this host): %s", s->where, s->user,
                        msg);
    case ER_DBACCESS_DENIED_ERROR:
        return h->error(err, TS_ERR_AUTH, "%s: user '%s' may not use database '%s': %s",
                        s->where, s->user, s->database, msg);
    case ER_BAD_DB_ERROR:
        if (s->open_flags & TS_OPEN_MUST_EXIST)
            return h->error(err, TS_ERR_NO_STORE, "no such store: database '%s' on %s",
                            s->database, s->where);
        return h->error(err, TS_ERR_CONFIG, "%s: unknown database '%s' (create it with "
                        "CREATE DATABASE, or set the option 'database')", s->where,
                        s->database);
    case CR_SSL_CONNECTION_ERROR:
        return h->error(err, TS_ERR_CONNECT, "%s: TLS (option tls=%s): %s", s->where,
                        mysql_tls_mode_name(s->tls), msg);
    case CR_PLUGIN_NOT_ALLOWED:
        return h->error(err, TS_ERR_AUTH, "%s: option tls=%s: the server asked for an "
                        "authentication method that would give the password away were the "
                        "connection not encrypted, which cannot be known before it is done "
                        "(%s); use tls=verify-identity, which refuses a server without TLS "
                        "before it authenticates, or an account with mysql_native_password "
                        "or ed25519", s->where, mysql_tls_mode_name(s->tls), msg);
    default:
        return h->error(err, TS_ERR_CONNECT, "cannot connect to the MySQL server at %s: %s%s",
                        s->where, errno_words(s, msg, words, sizeof words), msg);
    }
}

/*
 * A TLS mode's promise, checked on the connection the client library made:
 * it goes on in the clear when the server's greeting does not offer TLS
 * (set_tls). So the connection must have a cipher, before any statement
 * carrying a token is sent on it. In verify-ca and verify-identity an
 * encrypted connection is a verified one: with tls_ca given, the library
 * has OpenSSL verify the chain in the handshake and fails it otherwise.
 */
static int check_encrypted(struct mysql_store *s, MYSQL *m, ts_error *err)
{
    if (s->tls == TLS_OFF || mysql_get_ssl_cipher(m))
        return TS_OK;
    return s->host->error(err, TS_ERR_CONNECT, "%s: option tls=%s: the connection is not "
                          "encrypted: the server did not offer TLS, or something between it "
                          "and us removed the offer; refused before any token was sent",
                          s->where, mysql_tls_mode_name(s->tls));
}

int mysql_connect_db(struct mysql_store *s, ts_error *err)
{
    MYSQL *m;

    pthread_once(&library_once, library_init);
    if (!library_ready || !(m = mysql_init(NULL)))
        return s->host->error(err, TS_ERR_NOMEM, "the MySQL client library could not start");
    if (set_options(s, m) != 0) {
        mysql_close(m);
        return s->host->error(err, TS_ERR_CONFIG, "%s: the MySQL client library refused "
                              "an option (TLS files?)", s->where);
    }
    /* CLIENT_FOUND_ROWS: an UPDATE reports the rows it matched, also when
     * the values were already there. */
    if (!mysql_real_connect(m, s->socket_path ? NULL : s->host_name, s->user,
                            s->password ? s->password : "", s->database,
                            s->socket_path ? 0 : s->port, s->socket_path, CLIENT_FOUND_ROWS)) {
        int rc = connect_fail(s, m, err);
        mysql_close(m);
        return rc;
    }
    int rc = check_encrypted(s, m, err);
    if (rc != TS_OK) {
        mysql_close(m);
        return rc;
    }
    s->conn = m;
    s->generation++;
    return TS_OK;
}

static int ensure_connected(struct mysql_store *s, int check_peer, ts_error *err)
{
    if (s->conn && check_peer && sql_peer_closed((int)mysql_get_socket(s->conn))) {
        s->host->log(s->ctx, TS_LOG_INFO, "%s closed the connection; connecting again",
                     s->where);
        mysql_disconnect(s);
    }
    return s->conn ? TS_OK : mysql_connect_db(s, err);
}

/*
 * Runs op on a live connection. When the connection drops, it is reopened
 * and op run once more if `replay` says that cannot change the outcome;
 * otherwise the caller hears that the change may have been applied.
 */
int mysql_with_connection(struct mysql_store *s, int replay, int writing,
                           int (*op)(struct mysql_store *, void *, ts_error *), void *arg,
                           ts_error *err)
{
    for (int attempt = 0;; attempt++) {
        int rc = ensure_connected(s, writing && !replay, err);
        if (rc != TS_OK)
            return rc;
        s->lost = 0;
        rc = op(s, arg, err);
        if (rc == TS_OK || !s->lost)
            return rc;
        mysql_disconnect(s);
        if (attempt == 0 && replay) {
            s->host->log(s->ctx, TS_LOG_INFO, "%s", err ? err->message : "connection lost");
            continue;
        }
        if (writing && !replay)
            return s->host->error(err, TS_ERR_CONNECT, "%s: the connection was lost before "
                                  "the reply came; the change may or may not have been "
                                  "applied", s->where);
        return rc;
    }
}

/*
 * In a forked child. The connection's socket, and its TLS session, are
 * the parent's too: a COM_QUIT or a statement close sent from here would
 * end or confuse the parent's session, and the statements and the named
 * locks of that session are the parent's. So the child's descriptor is
 * pointed at /dev/null first, and then everything is closed as usual:
 * whatever the client library writes on the way out goes nowhere, and
 * the parent's socket is left as it was. Should /dev/null not open, the
 * descriptor is closed and the client's structures are left unfreed.
 */
int mysql_abandon_connection(struct mysql_store *s, ts_error *err)
{
    (void)err;
    if (!s->conn)
        return TS_OK;
    int fd = (int)mysql_get_socket(s->conn);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);

    if (fd >= 0 && (null < 0 || dup3(null, fd, O_CLOEXEC) < 0)) {
        close(fd);
        for (int k = 0; k < ST_COUNT; k++)
            s->stmt[k] = NULL;
        for (unsigned m = 0; m < SQL_COLUMN_SETS; m++)
            s->update[m] = NULL;
        s->conn = NULL;
    }
    if (null >= 0)
        close(null);
    mysql_disconnect(s);
    return TS_OK;
}
