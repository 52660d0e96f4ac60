/*
 * plugins/postgres/statements.c - the postgres backend's bottom layer:
 * PostgreSQL errors turned into ts_codes and messages that never quote a
 * value, statements prepared on the server once per connection with every
 * value bound as a parameter, and rows copied out of results whose values
 * are wiped before they are freed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pg_store.h"

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

static int state_is(const char *state, const char *want)
{
    return state && strcmp(state, want) == 0;
}

/* The connection is gone: class 08, the server shutting down or ending
 * the session (57P01 admin, 57P02 crash, 57P03 cannot connect now, 57P05
 * idle session timeout), or libpq's own word. */
static int connection_lost(struct pg_store *s, const char *state)
{
    return !s->conn || PQstatus(s->conn) == CONNECTION_BAD ||
           (state && strncmp(state, "08", 2) == 0) || state_is(state, "57P01") ||
           state_is(state, "57P02") || state_is(state, "57P03") || state_is(state, "57P05");
}

/* Errors whose primary message names no value (a DETAIL may, and is
 * never used): a message about a statement that carries values is passed
 * on only for these. */
static int message_is_safe(const char *state)
{
    static const char *const safe[] = {
        "42501", "42P01", "42703", "55P03", "40001", "40P01", "57014", "25006", "22001",
        "53100", "53200", "53000", "58030", "23505", "3D000", "3F000", "42P07", NULL,
    };
    for (int i = 0; state && safe[i]; i++)
        if (strcmp(state, safe[i]) == 0)
            return 1;
    return state && strncmp(state, "08", 2) == 0;
}

/* The server's (or libpq's) words, first line only. */
static void primary_message(struct pg_store *s, const PGresult *res, char *out, size_t n)
{
    const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    if (!m && s->conn)
        m = PQerrorMessage(s->conn);
    if (!m || !*m)
        m = "no message";
    snprintf(out, n, "%.*s", (int)strcspn(m, "\n"), m);
}

static int privilege_fail(struct pg_store *s, const char *doing, const char *why,
                          ts_error *err)
{
    const char *table = s->subject ? s->subject : s->table;

    if (s->subject)
        return s->host->error(err, TS_ERR_AUTH, "%s: %s: missing privilege: %s (the store's "
                              "user needs SELECT, INSERT, UPDATE and DELETE on %s.%s, kept "
                              "beside table %s, and CREATE on schema %s to make it)",
                              s->where, doing, why, s->schema, table, s->table, s->schema);
    return s->host->error(err, TS_ERR_AUTH, "%s: %s: missing privilege: %s (the store's user "
                          "needs SELECT, INSERT, UPDATE and DELETE on %s.%s, and CREATE on "
                          "schema %s to make it)", s->where, doing, why, s->schema, table,
                          s->schema);
}

int postgres_db_fail(struct pg_store *s, const PGresult *res, int values, const char *doing,
                     ts_error *err)
{
    const ts_host *h = s->host;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *table = s->subject ? s->subject : s->table;
    char why[256];

    s->lost = connection_lost(s, state);
    s->standby = state_is(state, "25006");
    snprintf(s->sqlstate, sizeof s->sqlstate, "%s", state ? state : "");
    if (values && !message_is_safe(state) && !s->lost)
        snprintf(why, sizeof why, "PostgreSQL error (SQLSTATE %s)", state ? state : "?");
    else
        primary_message(s, res, why, sizeof why);
    if (s->lost)
        return h->error(err, TS_ERR_CONNECT, "%s: %s: the connection was lost: %s", s->where,
                        doing, why);
    if (s->standby)
        return h->error(err, TS_ERR_CONNECT, "%s: %s: the server is a read-only standby (%s); "
                        "give every host with target_session_attrs=read-write, and libpq "
                        "finds the primary", s->where, doing, why);
    if (!state)
        return h->error(err, TS_ERR_BACKEND, "%s: %s: %s", s->where, doing, why);
    if (state_is(state, "42501"))
        return privilege_fail(s, doing, why, err);
    if (state_is(state, "55P03") || state_is(state, "40001") || state_is(state, "40P01"))
        return h->error(err, TS_ERR_BUSY, "%s: %s: %s", s->where, doing, why);
    if (state_is(state, "57014"))
        return h->error(err, TS_ERR_TIMEOUT, "%s: %s: %s (statement_timeout_ms is %lld)",
                        s->where, doing, why, s->statement_timeout_ms);
    if (state_is(state, "22001"))
        return h->error(err, TS_ERR_INVALID, "%s: table %s.%s: %s: %s", s->where, s->schema,
                        table, doing, why);
    if (state_is(state, "42P01") || state_is(state, "42703"))
        return h->error(err, TS_ERR_CORRUPT, "%s: %s: %s", s->where, doing, why);
    if (state_is(state, "53100") || state_is(state, "53000") || state_is(state, "58030"))
        return h->error(err, TS_ERR_IO, "%s: table %s.%s: %s: the server cannot store more "
                        "(its disk is full, or writing failed): %s", s->where, s->schema,
                        table, doing, why);
    return h->error(err, TS_ERR_BACKEND, "%s: table %s.%s: %s: %s", s->where, s->schema,
                    table, doing, why);
}

/* ------------------------------------------------------------------ */
/* Statements                                                          */
/* ------------------------------------------------------------------ */

/* The result of a statement, checked: TS_OK with *res set, or the error. */
static int checked(struct pg_store *s, PGresult *r, int values, const char *doing,
                   PGresult **res, ts_error *err)
{
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        if (res)
            *res = r;
        else
            postgres_clear_result(r);
        return TS_OK;
    }
    if (!r && s->conn && PQstatus(s->conn) == CONNECTION_OK && !*PQerrorMessage(s->conn))
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    int rc = postgres_db_fail(s, r, values, doing, err);
    postgres_clear_result(r);
    return rc;
}

int postgres_run_named(struct pg_store *s, const char *name, const char *sql, uint32_t *mask,
                       unsigned bit, const char *const *p, int n, const char *doing, PGresult **res,
                       ts_error *err)
{
    int rc = TS_OK;

    if (res)
        *res = NULL;
    if (!(*mask & (1u << bit))) {
        rc = checked(s, PQprepare(s->conn, name, sql, n, NULL), 0, doing, NULL, err);
        if (rc != TS_OK)
            return rc;
        *mask |= 1u << bit;
    }
    return checked(s, PQexecPrepared(s->conn, name, n, p, NULL, NULL, 0), n > 0, doing, res,
                   err);
}

int postgres_run(struct pg_store *s, enum stmt_kind kind, const char *const *p, int n,
                 const char *doing, PGresult **res, ts_error *err)
{
    char name[16];

    snprintf(name, sizeof name, "ts_%d", (int)kind);
    return postgres_run_named(s, name, s->sql[kind], &s->prepared.kind, (unsigned)kind, p, n, doing,
                              res, err);
}

int postgres_run_text(struct pg_store *s, const char *sql, const char *doing, PGresult **res,
                      ts_error *err)
{
    if (res)
        *res = NULL;
    return checked(s, PQexec(s->conn, sql), 0, doing, res, err);
}

void postgres_clear_result(PGresult *res)
{
    if (!res)
        return;
    for (int i = 0; i < PQntuples(res); i++)
        for (int f = 0; f < PQnfields(res); f++)
            explicit_bzero(PQgetvalue(res, i, f), (size_t)PQgetlength(res, i, f));
    PQclear(res);
}

/* ------------------------------------------------------------------ */
/* Rows                                                                */
/* ------------------------------------------------------------------ */

/* NULL and "" both mean absent; a value with a NUL byte cannot come from
 * a text column. */
int postgres_read_row(struct pg_store *s, const PGresult *res, int i, int first, ts_token *token,
                      ts_error *err)
{
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        int col = first + f;
        int rc = s->host->token_setn(token, (ts_field)f,
                                     PQgetisnull(res, i, col) ? NULL : PQgetvalue(res, i, col),
                                     (size_t)PQgetlength(res, i, col));
        if (rc == TS_ERR_NOMEM)
            return s->host->error(err, TS_ERR_NOMEM, "out of memory");
        if (rc != TS_OK)
            return s->host->error(err, TS_ERR_CORRUPT, "%s: table %s: column %s of a row "
                                  "holds a value the library refuses", s->where, s->table,
                                  s->host->field_name((ts_field)f));
    }
    return TS_OK;
}

int postgres_rows_touched(struct pg_store *s, const PGresult *res, long min, long max,
                          const char *doing, long *n, ts_error *err)
{
    const char *count = PQcmdTuples((PGresult *)res);
    char *end;
    long rows = count && *count ? strtol(count, &end, 10) : -1;

    *n = 0;
    if (rows < 0 || *end)
        return s->host->error(err, TS_ERR_BACKEND, "%s: table %s.%s: %s: the server's reply "
                              "says no row count; the write is not taken for done", s->where,
                              s->schema, s->table, doing);
    if (rows < min || rows > max)
        return s->host->error(err, TS_ERR_BACKEND, "%s: table %s.%s: %s: the server wrote %ld "
                              "rows where %s%ld %s expected (is id the primary key?)",
                              s->where, s->schema, s->table, doing, rows,
                              min == max ? "" : "at most ", max, max == 1 ? "was" : "were");
    *n = rows;
    return TS_OK;
}
