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
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/socket.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>
#include <tokenstore/backend.h>

#define DEFAULT_HOST "localhost"       /* the SDK's defaults, all of them */
#define DEFAULT_PORT 3306
#define DEFAULT_USER "root"
#define DEFAULT_DATABASE "zohooauth"
#define DEFAULT_TABLE "oauthtoken"
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_READ_TIMEOUT_MS 30000
#define DEFAULT_WRITE_TIMEOUT_MS 30000
#define NAME_MAX_LEN 64                /* MySQL's identifier limit */
#define INNODB_KEY_BYTES 3072          /* the widest InnoDB index key */
#define PREFIX_CHARS 255               /* a prefix index's length, in characters */
#define VALUE_BUF 512                  /* initial room per fetched column */

/* The SDK DBStore's CREATE TABLE, with our table name. */
#define SDK_DDL                                                                        \
    "CREATE TABLE IF NOT EXISTS `%s` (id varchar(10) NOT NULL, user_name varchar(255), " \
    "client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), " \
    "access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), "   \
    "redirect_url varchar(255), api_domain varchar(255), primary key (id))"

/* Ids are canonical decimals, so DECIMAL(20) holds every one exactly. */
#define NUMERIC_ID "CAST(id AS DECIMAL(20,0))"

enum tls_mode { TLS_OFF, TLS_REQUIRED, TLS_VERIFY_CA, TLS_VERIFY_IDENTITY };

/* The statements of a connection, prepared on first use. Field f's lookup
 * is ST_LOOKUP + f, there for the fields the host's key_fields lists. */
enum stmt_kind {
    ST_LOOKUP, ST_INSERT = ST_LOOKUP + TS_FIELD_COUNT, ST_MAX_ID, ST_DELETE_ONE, ST_DELETE_ALL, ST_WALK,
    ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_GET_LOCK, ST_RELEASE_LOCK, ST_WAIT_TIMEOUT,
    ST_WAIT_DEFAULT, ST_COLUMNS, ST_INDEXED, ST_COUNT
};

/* Columns an UPDATE may set: every field but id, one bit per field f at
 * bit f - 1; an UPDATE is prepared per set of changed columns. */
#define UPDATE_MASKS (1u << (TS_FIELD_COUNT - 1))
#define USER_BIT (1u << (TS_FIELD_USER_NAME - 1))

/* What information_schema says about one of our columns. */
struct column {
    int present;
    int needs_prefix;      /* TEXT/BLOB, or too wide for an InnoDB key */
};

struct held_lock;

struct mysql_store {
    const ts_host *host;
    ts_backend_ctx *ctx;
    const ts_field *keys;            /* the host's key fields: looked up, indexed */
    size_t nkeys;
    MYSQL *conn;                     /* NULL while disconnected */
    unsigned generation;             /* counts connections, for held locks */
    int lost;                        /* the last error was a dropped connection */

    char *host_name, *socket_path, *user, *password, *database;
    char *tls_ca, *tls_cert, *tls_key;
    unsigned port;
    enum tls_mode tls;
    unsigned connect_timeout_s, read_timeout_s, write_timeout_s;
    unsigned long long lock_wait_s;  /* how long a writer waits for the write lock */
    char table[NAME_MAX_LEN + 1];
    char where[320];                 /* "host:port" or the socket path */
    unsigned open_flags;
    int no_table;                    /* read-only, and the table is not there (yet) */

    char *sql[ST_COUNT];
    MYSQL_STMT *stmt[ST_COUNT];
    MYSQL_STMT *update[UPDATE_MASKS];
    char write_lock[40];             /* the GET_LOCK name inserts serialize on */
    unsigned locks_held;             /* try_lock's locks held on this connection */
    struct held_lock *held;          /* ... and every lock this handle took */

    /* Result columns: our buffers, wiped after every row. */
    char *col[TS_FIELD_COUNT];
    unsigned long col_cap[TS_FIELD_COUNT], col_len[TS_FIELD_COUNT];
    my_bool col_null[TS_FIELD_COUNT];

    ts_token *matched;               /* during a save: the row it matched */
    int saving;
    int have_max;                    /* in a locked save: max_id is current */
    unsigned long long max_id;
};

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

static int connection_lost(unsigned code)
{
    return code == CR_SERVER_GONE_ERROR || code == CR_SERVER_LOST ||
           code == CR_SERVER_LOST_EXTENDED || code == ER_CONNECTION_KILLED ||
           code == ER_SERVER_SHUTDOWN || code == CR_CONNECTION_ERROR ||
           code == CR_CONN_HOST_ERROR;
}

/* Errors whose server message names no value: a message about a
 * statement that carries values is passed on only for these. */
static int message_is_safe(unsigned code)
{
    return connection_lost(code) || code == ER_DATA_TOO_LONG || code == ER_BAD_NULL_ERROR ||
           code == ER_TABLEACCESS_DENIED_ERROR || code == ER_COLUMNACCESS_DENIED_ERROR ||
           code == ER_NO_SUCH_TABLE || code == ER_BAD_FIELD_ERROR ||
           code == ER_LOCK_WAIT_TIMEOUT || code == ER_LOCK_DEADLOCK ||
           code == ER_DBACCESS_DENIED_ERROR || code == ER_SPECIFIC_ACCESS_DENIED_ERROR ||
           code == ER_OPTION_PREVENTS_STATEMENT;
}

/*
 * Turns a MySQL error into a ts_code and a message naming the server, the
 * table and what we were doing. `values`: the statement carried values,
 * so the server's own words are used only when they cannot quote one.
 */
static int db_fail(struct mysql_store *s, unsigned code, const char *sqlstate,
                   const char *msg, int values, const char *doing, ts_error *err)
{
    const ts_host *h = s->host;
    const char *why = values && !message_is_safe(code) ? NULL : msg;
    char generic[64];

    if (!why) {
        snprintf(generic, sizeof generic, "MySQL error %u (SQLSTATE %s)", code,
                 sqlstate ? sqlstate : "?");
        why = generic;
    }
    s->lost = connection_lost(code);
    if (s->lost)
        return h->error(err, TS_ERR_CONNECT, "%s: %s: the connection was lost: %s", s->where,
                        doing, why);
    switch (code) {
    case ER_TABLEACCESS_DENIED_ERROR:
    case ER_COLUMNACCESS_DENIED_ERROR:
    case ER_DBACCESS_DENIED_ERROR:
    case ER_SPECIFIC_ACCESS_DENIED_ERROR:
        return h->error(err, TS_ERR_AUTH, "%s: %s: missing privilege: %s (the store's user "
                        "needs SELECT, INSERT, UPDATE and DELETE on %s.%s)", s->where, doing,
                        why, s->database, s->table);
    case ER_LOCK_WAIT_TIMEOUT:
    case ER_LOCK_DEADLOCK:
        return h->error(err, TS_ERR_BUSY, "%s: %s: %s", s->where, doing, why);
    case ER_DATA_TOO_LONG:
    case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD:
    case ER_BAD_NULL_ERROR:
        return h->error(err, TS_ERR_INVALID, "%s: table %s: %s: %s%s", s->where, s->table,
                        doing, why, code == ER_TRUNCATED_WRONG_VALUE_FOR_FIELD
                        ? " (a value is not valid in its column's character set)" : "");
    case ER_NO_SUCH_TABLE:
    case ER_BAD_FIELD_ERROR:
        return h->error(err, TS_ERR_CORRUPT, "%s: %s: %s", s->where, doing, why);
    case CR_OUT_OF_MEMORY:
        return h->error(err, TS_ERR_NOMEM, "out of memory");
    default:
        return h->error(err, TS_ERR_BACKEND, "%s: table %s.%s: %s: %s", s->where, s->database,
                        s->table, doing, why);
    }
}

static int stmt_fail(struct mysql_store *s, MYSQL_STMT *st, int values, const char *doing,
                     ts_error *err)
{
    return db_fail(s, mysql_stmt_errno(st), mysql_stmt_sqlstate(st), mysql_stmt_error(st),
                   values, doing, err);
}

/* ------------------------------------------------------------------ */
/* Statements                                                          */
/* ------------------------------------------------------------------ */

/* A bound parameter: a string (NULL: SQL NULL) or, with is_num, a number. */
struct param {
    const char *v;
    size_t len;
    long long num;
    int is_num;
};

static struct param str_param(const char *v)
{
    return (struct param){ .v = v && *v ? v : NULL, .len = v ? strlen(v) : 0 };
}

static struct param num_param(long long n)
{
    return (struct param){ .num = n, .is_num = 1 };
}

static int get_stmt(struct mysql_store *s, MYSQL_STMT **slot, const char *sql,
                    MYSQL_STMT **out, ts_error *err)
{
    if (!*slot) {
        MYSQL_STMT *st = mysql_stmt_init(s->conn);
        if (!st)
            return s->host->error(err, TS_ERR_NOMEM, "out of memory");
        if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
            int rc = stmt_fail(s, st, 0, "preparing a statement", err);
            mysql_stmt_close(st);
            return rc;
        }
        *slot = st;
    }
    *out = *slot;
    return TS_OK;
}

/* Binds the parameters and runs the statement; a statement with a result
 * has it fetched into the client (store_result), so that the connection
 * is free for the next statement whatever the caller does meanwhile. */
static int execute(struct mysql_store *s, MYSQL_STMT *st, const struct param *p, unsigned n,
                   const char *doing, ts_error *err)
{
    MYSQL_BIND bind[TS_FIELD_COUNT + 2];
    my_bool null_flag = 1;

    memset(bind, 0, sizeof bind[0] * n);
    for (unsigned i = 0; i < n; i++) {
        if (p[i].is_num) {
            bind[i].buffer_type = MYSQL_TYPE_LONGLONG;
            bind[i].buffer = (void *)&p[i].num;
        } else if (!p[i].v) {
            bind[i].buffer_type = MYSQL_TYPE_NULL;
            bind[i].is_null = &null_flag;
        } else {
            bind[i].buffer_type = MYSQL_TYPE_STRING;
            bind[i].buffer = (void *)p[i].v;
            bind[i].buffer_length = (unsigned long)p[i].len;
        }
    }
    if ((n && mysql_stmt_bind_param(st, bind) != 0) || mysql_stmt_execute(st) != 0)
        return stmt_fail(s, st, n > 0, doing, err);
    if (mysql_stmt_field_count(st) > 0 && mysql_stmt_store_result(st) != 0)
        return stmt_fail(s, st, 0, doing, err);
    return TS_OK;
}

/* Runs statement `kind` (prepared on first use). */
static int run(struct mysql_store *s, enum stmt_kind kind, const struct param *p, unsigned n,
               const char *doing, ts_error *err)
{
    MYSQL_STMT *st;
    int rc = get_stmt(s, &s->stmt[kind], s->sql[kind], &st, err);

    return rc == TS_OK ? execute(s, st, p, n, doing, err) : rc;
}

/* Runs one SQL text once, through a statement of its own (schema). */
static int run_once(struct mysql_store *s, const char *sql, const char *doing, ts_error *err)
{
    MYSQL_STMT *st = NULL;
    int rc = get_stmt(s, &st, sql, &st, err);

    if (rc == TS_OK)
        rc = execute(s, st, NULL, 0, doing, err);
    if (st)
        mysql_stmt_close(st);
    return rc;
}

/* Makes room for a column value of len bytes; the old buffer is wiped. */
static int grow_column(struct mysql_store *s, int f, unsigned long len)
{
    unsigned long cap = s->col_cap[f] ? s->col_cap[f] : VALUE_BUF;
    char *bigger;

    while (cap <= len)
        cap *= 2;
    if (!(bigger = malloc(cap)))
        return TS_ERR_NOMEM;
    if (s->col[f]) {
        explicit_bzero(s->col[f], s->col_cap[f]);
        free(s->col[f]);
    }
    s->col[f] = bigger;
    s->col_cap[f] = cap;
    return TS_OK;
}

static void bind_columns(struct mysql_store *s, MYSQL_BIND *res, unsigned n)
{
    memset(res, 0, sizeof res[0] * n);
    for (unsigned f = 0; f < n; f++) {
        res[f].buffer_type = MYSQL_TYPE_STRING;
        res[f].buffer = s->col[f];
        res[f].buffer_length = s->col_cap[f];
        res[f].length = &s->col_len[f];
        res[f].is_null = &s->col_null[f];
    }
}

/*
 * Fetches the next row of a stored result into our column buffers (the
 * first n columns). A value longer than its buffer is fetched again into
 * a larger one. Returns TS_OK, TS_NOT_FOUND at the end, or an error.
 */
static int fetch(struct mysql_store *s, MYSQL_STMT *st, unsigned n, ts_error *err)
{
    MYSQL_BIND res[TS_FIELD_COUNT];

    for (unsigned f = 0; f < n; f++)
        if (!s->col[f] && grow_column(s, (int)f, VALUE_BUF - 1) != TS_OK)
            return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    bind_columns(s, res, n);
    if (mysql_stmt_bind_result(st, res) != 0)
        return stmt_fail(s, st, 0, "reading a row", err);
    int rc = mysql_stmt_fetch(st);
    if (rc == MYSQL_NO_DATA)
        return TS_NOT_FOUND;
    if (rc == 1)
        return stmt_fail(s, st, 0, "reading a row", err);
    for (unsigned f = 0; f < n; f++) {
        if (s->col_null[f] || s->col_len[f] < s->col_cap[f])
            continue;
        if (grow_column(s, (int)f, s->col_len[f]) != TS_OK)
            return s->host->error(err, TS_ERR_NOMEM, "out of memory");
        bind_columns(s, res, n);
        if (mysql_stmt_fetch_column(st, &res[f], f, 0) != 0)
            return stmt_fail(s, st, 0, "reading a long value", err);
    }
    return TS_OK;
}

static void wipe_columns(struct mysql_store *s)
{
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        if (s->col[f] && !s->col_null[f])
            explicit_bzero(s->col[f], s->col_len[f] < s->col_cap[f] ? s->col_len[f]
                                                                      : s->col_cap[f]);
}

/* Copies the fetched row into token. NULL and "" both mean absent. */
static int read_row(struct mysql_store *s, ts_token *token, ts_error *err)
{
    int rc = TS_OK;

    for (int f = 0; rc == TS_OK && f < TS_FIELD_COUNT; f++) {
        rc = s->host->token_setn(token, (ts_field)f, s->col_null[f] ? NULL : s->col[f],
                                 s->col_null[f] ? 0 : s->col_len[f]);
        if (rc == TS_ERR_NOMEM)
            rc = s->host->error(err, TS_ERR_NOMEM, "out of memory");
        else if (rc != TS_OK)
            rc = s->host->error(err, TS_ERR_CORRUPT,
                                "%s: table %s: column %s of the row with id %s holds a NUL byte",
                                s->where, s->table, s->host->field_name((ts_field)f),
                                f == TS_FIELD_ID ? "(unreadable)"
                                                 : s->host->token_get(token, TS_FIELD_ID));
    }
    wipe_columns(s);
    return rc;
}

/* Fetches a one-value result (a number or NULL) as text into buf. */
static int fetch_scalar(struct mysql_store *s, MYSQL_STMT *st, char *buf, size_t n,
                        int *is_null, ts_error *err)
{
    int rc = fetch(s, st, 1, err);

    *is_null = rc != TS_OK || s->col_null[0];
    if (rc == TS_OK && !s->col_null[0])
        snprintf(buf, n, "%.*s", (int)s->col_len[0], s->col[0]);
    mysql_stmt_free_result(st);
    return rc == TS_NOT_FOUND ? TS_OK : rc;
}

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
    for (unsigned m = 0; m < UPDATE_MASKS; m++) {
        if (s->update[m])
            mysql_stmt_close(s->update[m]);
        s->update[m] = NULL;
    }
}

static void disconnect(struct mysql_store *s)
{
    close_statements(s);
    if (s->conn)
        mysql_close(s->conn);
    s->conn = NULL;
    s->locks_held = 0;     /* the server released them with the connection */
}

static int set_tls(struct mysql_store *s, MYSQL *m)
{
    my_bool yes = 1, no = 0;
    int rc = 0;

    if (s->tls == TLS_OFF)
        return 0;
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
        return h->error(err, TS_ERR_CONNECT, "%s: TLS (option tls): %s", s->where, msg);
    default:
        return h->error(err, TS_ERR_CONNECT, "cannot connect to the MySQL server at %s: %s%s",
                        s->where, errno_words(s, msg, words, sizeof words), msg);
    }
}

static int connect_db(struct mysql_store *s, ts_error *err)
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
    s->conn = m;
    s->generation++;
    return TS_OK;
}

/* Whether the server closed (or wrote unasked to) an idle connection: a
 * restarted server is noticed here, before a write is sent into it. */
static int peer_closed(struct mysql_store *s)
{
    struct pollfd p = { .fd = (int)mysql_get_socket(s->conn), .events = POLLIN | POLLRDHUP };
    return p.fd < 0 || poll(&p, 1, 0) > 0;
}

static int ensure_connected(struct mysql_store *s, int check_peer, ts_error *err)
{
    if (s->conn && check_peer && peer_closed(s)) {
        s->host->log(s->ctx, TS_LOG_INFO, "%s closed the connection; connecting again",
                     s->where);
        disconnect(s);
    }
    return s->conn ? TS_OK : connect_db(s, err);
}

/*
 * Runs op on a live connection. When the connection drops, it is reopened
 * and op run once more if `replay` says that cannot change the outcome;
 * otherwise the caller hears that the change may have been applied.
 */
static int with_connection(struct mysql_store *s, int replay, int writing,
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
        disconnect(s);
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

/* ------------------------------------------------------------------ */
/* The schema                                                          */
/* ------------------------------------------------------------------ */

static int field_of(const struct mysql_store *s, const char *name)
{
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        if (strcasecmp(name, s->host->field_name((ts_field)f)) == 0)
            return f;
    return -1;
}

/* Reads the table's columns. *exists is 0 when there is no such table (or
 * none that the user may see). */
static int read_columns(struct mysql_store *s, struct column *cols, int *exists, ts_error *err)
{
    struct param p = str_param(s->table);
    int rc = run(s, ST_COLUMNS, &p, 1, "reading the table's columns", err);
    MYSQL_STMT *st = s->stmt[ST_COLUMNS];

    memset(cols, 0, sizeof *cols * TS_FIELD_COUNT);
    *exists = 0;
    while (rc == TS_OK && (rc = fetch(s, st, 4, err)) == TS_OK) {
        char name[NAME_MAX_LEN + 1], type[32];
        snprintf(name, sizeof name, "%.*s", (int)s->col_len[0], s->col[0]);
        snprintf(type, sizeof type, "%.*s", (int)s->col_len[1], s->col[1]);
        unsigned long long octets = s->col_null[3] ? 0 : strtoull(s->col[3], NULL, 10);
        int f = field_of(s, name);
        *exists = 1;
        if (f < 0)
            continue;
        cols[f].present = 1;
        cols[f].needs_prefix = strstr(type, "text") || strstr(type, "blob") ||
                               octets > INNODB_KEY_BYTES;
    }
    if (rc == TS_NOT_FOUND)
        rc = TS_OK;
    if (st)
        mysql_stmt_free_result(st);
    if (rc != TS_OK || !*exists)
        return rc;

    char missing[160] = "";
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        size_t used = strlen(missing);
        if (!cols[f].present)
            snprintf(missing + used, sizeof missing - used, "%s%s", used ? ", " : "",
                     s->host->field_name((ts_field)f));
    }
    if (*missing)
        return s->host->error(err, TS_ERR_CORRUPT,
                              "%s: table %s.%s has no column %s (it needs the Zoho SDK's ten "
                              "columns); nothing was changed", s->where, s->database, s->table,
                              missing);
    return TS_OK;
}

/* The lookup columns that lack an index starting with them: a bit per field. */
static int unindexed(struct mysql_store *s, unsigned *missing, ts_error *err)
{
    struct param p = str_param(s->table);
    int rc = run(s, ST_INDEXED, &p, 1, "reading the table's indexes", err);
    unsigned have = 0;

    while (rc == TS_OK && (rc = fetch(s, s->stmt[ST_INDEXED], 1, err)) == TS_OK) {
        char name[NAME_MAX_LEN + 1];
        snprintf(name, sizeof name, "%.*s", (int)s->col_len[0], s->col[0]);
        int f = field_of(s, name);
        if (f >= 0)
            have |= 1u << f;
    }
    if (s->stmt[ST_INDEXED])
        mysql_stmt_free_result(s->stmt[ST_INDEXED]);
    *missing = 0;
    for (size_t i = 0; i < s->nkeys; i++)
        if (!(have & (1u << s->keys[i])))
            *missing |= 1u << s->keys[i];
    return rc == TS_NOT_FOUND ? TS_OK : rc;
}

static int create_indexes(struct mysql_store *s, const struct column *cols, unsigned missing,
                          ts_error *err)
{
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        if (!(missing & (1u << f)))
            continue;
        const char *name = s->host->field_name((ts_field)f);
        char sql[256], prefix[16] = "";
        if (cols[f].needs_prefix)
            snprintf(prefix, sizeof prefix, "(%d)", PREFIX_CHARS);
        snprintf(sql, sizeof sql, "CREATE INDEX `%s_%s_idx` ON `%s` (%s%s)", s->table, name,
                 s->table, name, prefix);
        int rc = run_once(s, sql, "creating an index", err);
        if (rc == TS_ERR_BACKEND && mysql_errno(s->conn) == ER_DUP_KEYNAME)
            rc = TS_OK;         /* another process made it meanwhile */
        if (rc == TS_ERR_AUTH) {
            /* Reading and writing still work, only slower. */
            s->host->log(s->ctx, TS_LOG_WARN, "%s: table %s.%s has no index on %s and user "
                         "'%s' may not create one: lookups by it will scan the table",
                         s->where, s->database, s->table, name, s->user);
            continue;
        }
        if (rc != TS_OK)
            return rc;
    }
    return TS_OK;
}

static int ensure_schema(struct mysql_store *s, ts_error *err)
{
    struct column cols[TS_FIELD_COUNT];
    int exists;
    unsigned missing;
    int rc = read_columns(s, cols, &exists, err);

    if (s->open_flags & TS_OPEN_READ_ONLY) {
        s->no_table = rc == TS_OK && !exists;
        return rc;
    }
    if (rc == TS_OK && !exists) {
        char sql[sizeof SDK_DDL + NAME_MAX_LEN];
        snprintf(sql, sizeof sql, SDK_DDL, s->table);
        rc = run_once(s, sql, "creating the table", err);
        if (rc == TS_OK)
            s->host->log(s->ctx, TS_LOG_INFO, "created table %s.%s on %s", s->database,
                         s->table, s->where);
        /* Another process may have made it meanwhile: check what is there. */
        if (rc == TS_OK)
            rc = read_columns(s, cols, &exists, err);
    }
    if (rc == TS_OK)
        rc = unindexed(s, &missing, err);
    if (rc == TS_OK && missing)
        rc = create_indexes(s, cols, missing, err);
    return rc;
}

/* Before a read on a read-only handle opened before the table existed:
 * looks for it again. *ready is 0 while the store is empty. */
static int table_ready(struct mysql_store *s, int *ready, ts_error *err)
{
    struct column cols[TS_FIELD_COUNT];
    int rc = TS_OK;

    if (s->no_table && (rc = read_columns(s, cols, ready, err)) == TS_OK && *ready)
        s->no_table = 0;
    *ready = !s->no_table;
    return rc;
}

/* The SQL of every statement; prepared on a connection's first use. */
static int build_sql(struct mysql_store *s, ts_error *err)
{
    const char *t = s->table;
    char cols[256] = "";
    int ok = 1;

    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        size_t used = strlen(cols);
        snprintf(cols + used, sizeof cols - used, "%s%s", f ? ", " : "",
                 s->host->field_name((ts_field)f));
    }
    /* Several rows may share a secret (and an SDK table may hold a user
     * twice): the lowest id answers. */
    for (size_t i = 0; i < s->nkeys; i++) {
        const char *c = s->host->field_name(s->keys[i]);
        ok &= asprintf(&s->sql[ST_LOOKUP + s->keys[i]], "SELECT %s FROM `%s` WHERE %s = ? AND "
                       "%s = BINARY ?%s LIMIT 1", cols, t, c, c,
                       s->keys[i] == TS_FIELD_ID ? "" : " ORDER BY " NUMERIC_ID) > 0;
    }
    ok &= asprintf(&s->sql[ST_INSERT], "INSERT INTO `%s` (%s) VALUES (?, ?, ?, ?, ?, ?, ?, "
                   "?, ?, ?)", t, cols) > 0;
    ok &= asprintf(&s->sql[ST_MAX_ID], "SELECT MAX(" NUMERIC_ID ") FROM `%s`", t) > 0;
    ok &= asprintf(&s->sql[ST_DELETE_ONE], "DELETE FROM `%s` WHERE id = ? AND id = BINARY ?",
                   t) > 0;
    ok &= asprintf(&s->sql[ST_DELETE_ALL], "DELETE FROM `%s`", t) > 0;
    ok &= asprintf(&s->sql[ST_WALK], "SELECT %s FROM `%s` ORDER BY " NUMERIC_ID ", id", cols,
                   t) > 0;
    ok &= (s->sql[ST_BEGIN] = strdup("START TRANSACTION")) != NULL;
    ok &= (s->sql[ST_COMMIT] = strdup("COMMIT")) != NULL;
    ok &= (s->sql[ST_ROLLBACK] = strdup("ROLLBACK")) != NULL;
    ok &= (s->sql[ST_GET_LOCK] = strdup("SELECT GET_LOCK(?, ?)")) != NULL;
    ok &= (s->sql[ST_RELEASE_LOCK] = strdup("SELECT RELEASE_LOCK(?)")) != NULL;
    ok &= (s->sql[ST_WAIT_TIMEOUT] = strdup("SET SESSION wait_timeout = ?")) != NULL;
    ok &= (s->sql[ST_WAIT_DEFAULT] = strdup("SET SESSION wait_timeout = DEFAULT")) != NULL;
    ok &= (s->sql[ST_COLUMNS] = strdup(
               "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, CHARACTER_OCTET_LENGTH "
               "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND "
               "TABLE_NAME = ?")) != NULL;
    ok &= (s->sql[ST_INDEXED] = strdup(
               "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE "
               "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND SEQ_IN_INDEX = 1")) != NULL;
    return ok ? TS_OK : s->host->error(err, TS_ERR_NOMEM, "out of memory");
}

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
 * `value`. During a save it also keeps the matched row, so the write can
 * tell which columns changed. */
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
    if (rc == TS_OK && s->saving && s->host->token_copy(s->matched, row) != TS_OK)
        rc = s->host->error(err, TS_ERR_NOMEM, "out of memory");
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

/* The columns whose value the save changes; all of them when the token
 * lands on another row than the one it matched. */
static unsigned changed_columns(struct mysql_store *s, const ts_token *token)
{
    const ts_host *h = s->host;
    unsigned mask = 0;
    int same_row = strcmp(h->token_get(token, TS_FIELD_ID),
                          h->token_get(s->matched, TS_FIELD_ID)) == 0;

    for (int f = 1; f < TS_FIELD_COUNT; f++)
        if (!same_row || strcmp(h->token_get(token, (ts_field)f),
                                h->token_get(s->matched, (ts_field)f)) != 0)
            mask |= 1u << (f - 1);
    return mask;
}

/* UPDATE of the columns in mask, guarded: the row must still have the id
 * and the user name it had when it was matched. */
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

/* Writes the resolved token over the row it matched. *done is 0 when the
 * guard found the row changed since it was read. */
static int update_row(struct mysql_store *s, const ts_token *token, unsigned mask, int *done,
                      ts_error *err)
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
    p[n++] = str_param(h->token_get(s->matched, TS_FIELD_ID));
    p[n++] = str_param(h->token_get(s->matched, TS_FIELD_ID));
    /* The guard compares with '': bind a user name that is absent as ''. */
    p[n] = str_param(h->token_get(s->matched, TS_FIELD_USER_NAME));
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
    s->host->token_clear(s->matched);
    s->saving = 1;
    int rc = s->host->save_resolve(token, lookup, s, err);
    s->saving = 0;
    if (rc == TS_OK) {
        unsigned mask = changed_columns(s, token);
        int done;
        if (!locked && (mask & USER_BIT))
            rc = NEEDS_LOCK;
        else if ((rc = update_row(s, token, mask, &done, err)) == TS_OK && !done)
            rc = locked ? ROW_CHANGED : NEEDS_LOCK;
    } else if (rc == TS_NOT_FOUND) {
        rc = locked ? insert_row(s, token, id_assigned, err) : NEEDS_LOCK;
    }
    s->host->token_clear(s->matched);
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
 * name is the table's, hashed: the server's locks are server-wide.
 */
struct held_lock {
    unsigned generation;             /* the connection it was taken on */
    struct held_lock *next;
    char name[40];
};

/* "ts:" and FNV-1a of database, table and what, in hex. */
static void lock_name(const struct mysql_store *s, const char *what, char out[40])
{
    uint64_t h = 14695981039346656037ULL;
    const char *parts[] = { s->database, s->table, what };

    for (int i = 0; i < 3; i++) {
        for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;    /* a separator no name holds */
    }
    snprintf(out, 40, "ts:%016llx", (unsigned long long)h);
}

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
/* Options, opening and closing                                        */
/* ------------------------------------------------------------------ */

static const char *const store_options[] = {
    "host", "port", "socket", "user", "username", "password", "database", "table",
    "connect_timeout_ms", "read_timeout_ms", "write_timeout_ms",
    "tls", "tls_ca", "tls_cert", "tls_key", NULL,
};

static int identifier_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > NAME_MAX_LEN || strspn(name, "0123456789") > 0)
        return 0;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789_$") == n;
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

static int read_tls(struct mysql_store *s, ts_error *err)
{
    static const char *const modes[] = { "off", "required", "verify-ca", "verify-identity",
                                         NULL };
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

static int read_options(struct mysql_store *s, ts_error *err)
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
    lock_name(s, "write", s->write_lock);
    return TS_OK;
}

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
    if (s->matched)
        s->host->token_free(s->matched);
    free(s);
}

static int store_open(const ts_host *host, ts_backend_ctx *ctx, void **state, ts_error *err)
{
    struct mysql_store *s;

    if (ts_host_require(host, 2, err) != TS_OK)    /* key_fields, next_id, option_choice */
        return TS_ERR_ABI;
    s = calloc(1, sizeof *s);
    if (!s || !(s->matched = host->token_new())) {
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
