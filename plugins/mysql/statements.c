/*
 * plugins/mysql/statements.c - the mysql backend's bottom layer: MySQL
 * errors turned into ts_codes and messages that never quote a value,
 * server-side prepared statements (prepared once per connection, every
 * value bound), and rows fetched into the store's column buffers, which
 * are wiped after every row.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>
#include "mysql_store.h"

#define VALUE_BUF 512                  /* initial room per fetched column */

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* A statement's error that leaves the connection unusable. On a TLS
 * connection the server's going away is a TLS error (an EOF where a
 * record was due). */
static int connection_lost(unsigned code)
{
    return code == CR_SERVER_GONE_ERROR || code == CR_SERVER_LOST ||
           code == CR_SERVER_LOST_EXTENDED || code == ER_CONNECTION_KILLED ||
           code == ER_SERVER_SHUTDOWN || code == CR_CONNECTION_ERROR ||
           code == CR_CONN_HOST_ERROR || code == CR_SSL_CONNECTION_ERROR;
}

/* The server could not write what it was given: its disk, or the
 * table's tablespace, is full, or writing a file failed. Their messages
 * name a table or a file, never a value. */
static int cannot_store(unsigned code)
{
    return code == ER_RECORD_FILE_FULL || code == ER_DISK_FULL || code == ER_ERROR_ON_WRITE ||
           code == ER_GET_ERRNO || code == ER_TEMP_FILE_WRITE_FAILURE;
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
           code == ER_OPTION_PREVENTS_STATEMENT || cannot_store(code) ||
           code == ER_OUTOFMEMORY || code == ER_OUT_OF_RESOURCES ||
           code == ER_CANT_AGGREGATE_2COLLATIONS;
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
    const char *table = s->subject ? s->subject : s->table;
    char generic[64];

    if (!why) {
        snprintf(generic, sizeof generic, "MySQL error %u (SQLSTATE %s)", code,
                 sqlstate ? sqlstate : "?");
        why = generic;
    }
    s->lost = connection_lost(code);
    s->last_errno = code;
    if (s->lost)
        return h->error(err, TS_ERR_CONNECT, "%s: %s: the connection was lost: %s", s->where,
                        doing, why);
    switch (code) {
    case ER_TABLEACCESS_DENIED_ERROR:
    case ER_COLUMNACCESS_DENIED_ERROR:
    case ER_DBACCESS_DENIED_ERROR:
    case ER_SPECIFIC_ACCESS_DENIED_ERROR:
        if (s->subject)
            return h->error(err, TS_ERR_AUTH, "%s: %s: missing privilege: %s (the store's "
                            "user needs SELECT, INSERT, UPDATE and DELETE on %s.%s, kept "
                            "beside table %s, and CREATE on database %s to make it)",
                            s->where, doing, why, s->database, table, s->table, s->database);
        return h->error(err, TS_ERR_AUTH, "%s: %s: missing privilege: %s (the store's user "
                        "needs SELECT, INSERT, UPDATE and DELETE on %s.%s)", s->where, doing,
                        why, s->database, table);
    case ER_LOCK_WAIT_TIMEOUT:
    case ER_LOCK_DEADLOCK:
        return h->error(err, TS_ERR_BUSY, "%s: %s: %s", s->where, doing, why);
    case ER_DATA_TOO_LONG:
    case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD:
    case ER_BAD_NULL_ERROR:
        return h->error(err, TS_ERR_INVALID, "%s: table %s: %s: %s%s", s->where, table,
                        doing, why, code == ER_TRUNCATED_WRONG_VALUE_FOR_FIELD
                        ? " (a value is not valid in its column's character set)" : "");
    case ER_NO_SUCH_TABLE:
    case ER_BAD_FIELD_ERROR:
        return h->error(err, TS_ERR_CORRUPT, "%s: %s: %s", s->where, doing, why);
    case ER_RECORD_FILE_FULL:
    case ER_DISK_FULL:
        return h->error(err, TS_ERR_IO, "%s: table %s.%s: %s: the server cannot store more "
                        "(its disk, or the tablespace the table is in, is full): %s",
                        s->where, s->database, table, doing, why);
    case ER_ERROR_ON_WRITE:
    case ER_GET_ERRNO:
    case ER_TEMP_FILE_WRITE_FAILURE:
        return h->error(err, TS_ERR_IO, "%s: table %s.%s: %s: the server could not write: %s",
                        s->where, s->database, table, doing, why);
    case CR_OUT_OF_MEMORY:
        return h->error(err, TS_ERR_NOMEM, "out of memory");
    default:
        return h->error(err, TS_ERR_BACKEND, "%s: table %s.%s: %s: %s", s->where, s->database,
                        table, doing, why);
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

int mysql_get_stmt(struct mysql_store *s, MYSQL_STMT **slot, const char *sql,
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
int mysql_execute(struct mysql_store *s, MYSQL_STMT *st, const struct param *p, unsigned n,
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
int mysql_run(struct mysql_store *s, enum stmt_kind kind, const struct param *p, unsigned n,
               const char *doing, ts_error *err)
{
    MYSQL_STMT *st;
    int rc = mysql_get_stmt(s, &s->stmt[kind], s->sql[kind], &st, err);

    return rc == TS_OK ? mysql_execute(s, st, p, n, doing, err) : rc;
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
int mysql_fetch(struct mysql_store *s, MYSQL_STMT *st, unsigned n, ts_error *err)
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
int mysql_read_row(struct mysql_store *s, ts_token *token, ts_error *err)
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
int mysql_fetch_scalar(struct mysql_store *s, MYSQL_STMT *st, char *buf, size_t n,
                        int *is_null, ts_error *err)
{
    int rc = mysql_fetch(s, st, 1, err);

    *is_null = rc != TS_OK || s->col_null[0];
    if (rc == TS_OK && !s->col_null[0])
        snprintf(buf, n, "%.*s", (int)s->col_len[0], s->col[0]);
    mysql_stmt_free_result(st);
    return rc == TS_NOT_FOUND ? TS_OK : rc;
}
