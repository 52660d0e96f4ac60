/*
 * plugins/postgres/schema.c - the postgres backend's table: finding the
 * schema, reading the table's columns and indexes from the catalog,
 * creating the SDK's table and the indexes the rules need when missing
 * (in one transaction under an advisory lock, so that any number of
 * processes may open a new table at once and all find it whole: DDL is
 * transactional in PostgreSQL), noticing a table that appeared under a
 * read-only handle, the lookup the host's rules call (the rows whose
 * FIELD is VALUE, the lowest id kept), the columns' widths, and the SQL
 * of every statement.
 *
 * The indexes. The lookups are equality on user_name and the three
 * tokens: hash indexes, which hold a value's hash and not the value, so a
 * value of any length is indexed (a btree refuses one over 2.7 kB). Ids
 * are ordered as numbers: ids are canonical decimals, so numeric order is
 * (length, text in byte order), and an index on (length(id), id COLLATE
 * "C") answers the largest id and the walk's pages without a sort.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pg_store.h"

/* The SDK DBStore's ten columns, in PostgreSQL's words for its types. */
#define SDK_COLUMNS                                                                      \
    "id varchar(10) NOT NULL, user_name varchar(255), client_id varchar(255), "          \
    "client_secret varchar(255), refresh_token varchar(255), access_token varchar(255), " \
    "grant_token varchar(255), expiry_time varchar(20), redirect_url varchar(255), "     \
    "api_domain varchar(255), PRIMARY KEY (id)"

/* Numeric order of canonical ids; the id index's columns. */
#define ID_ORDER "length(id), id COLLATE \"C\""

/* What the catalog says about the table. */
struct table_info {
    int exists;
    unsigned present;              /* bit f: field f's column is there */
    int indexed[TS_FIELD_COUNT];   /* an index starts with the column */
    int id_order;                  /* our id index is there */
};

/* ------------------------------------------------------------------ */
/* Reading the catalog                                                 */
/* ------------------------------------------------------------------ */

/* The columns: which are there, their widths, and that id holds text. */
static int read_columns(struct pg_store *s, struct table_info *t, ts_error *err)
{
    const char *p[2] = { s->schema, s->table };
    PGresult *res;
    int rc = postgres_run(s, ST_COLUMNS, p, 2, "reading the table's columns", &res, err);
    char id_type[64] = "";

    memset(t, 0, sizeof *t);
    for (int i = 0; rc == TS_OK && i < PQntuples(res); i++) {
        int f = sql_field_of(s->host, PQgetvalue(res, i, 0), 0);
        t->exists = 1;
        if (f < 0)
            continue;
        t->present |= 1u << f;
        s->max_chars[f] = PQgetisnull(res, i, 2) ? 0 : atoi(PQgetvalue(res, i, 2));
        if (f == TS_FIELD_ID && strcmp(PQgetvalue(res, i, 3), "S") != 0)
            snprintf(id_type, sizeof id_type, "%s", PQgetvalue(res, i, 1));
    }
    postgres_clear_result(res);
    if (rc != TS_OK || !t->exists)
        return rc;
    char missing[160];
    sql_missing_columns(s->host, t->present, missing, sizeof missing);
    if (*missing)
        return s->host->error(err, TS_ERR_CORRUPT, "%s: table %s.%s has no column %s (it needs "
                              "the Zoho SDK's ten columns); nothing was changed", s->where,
                              s->schema, s->table, missing);
    if (*id_type)
        return s->host->error(err, TS_ERR_CORRUPT, "%s: table %s.%s: column id is %s, where "
                              "the Zoho SDK's table has varchar; nothing was changed", s->where,
                              s->schema, s->table, id_type);
    return TS_OK;
}

static int read_indexes(struct pg_store *s, struct table_info *t, ts_error *err)
{
    const char *p[2] = { s->schema, s->table };
    char order[PG_NAME_MAX + 1];
    PGresult *res;
    int rc = postgres_run(s, ST_INDEXES, p, 2, "reading the table's indexes", &res, err);

    postgres_derived_name(s, "_id_order_idx", order);
    for (int i = 0; rc == TS_OK && i < PQntuples(res); i++) {
        int f = PQgetisnull(res, i, 0) ? -1 : sql_field_of(s->host, PQgetvalue(res, i, 0), 0);
        if (f >= 0)
            t->indexed[f] = 1;
        if (strcmp(PQgetvalue(res, i, 1), order) == 0)
            t->id_order = 1;
    }
    postgres_clear_result(res);
    return rc;
}

static int complete(const struct pg_store *s, const struct table_info *t)
{
    for (size_t i = 0; i < s->nkeys; i++)
        if (!t->indexed[s->keys[i]])
            return 0;
    return t->exists && t->id_order;
}

/* ------------------------------------------------------------------ */
/* Making what is missing                                              */
/* ------------------------------------------------------------------ */

/* The statements making each missing index, into sql. */
static void index_statements(const struct pg_store *s, const struct table_info *t, char *sql,
                             size_t n)
{
    char name[PG_NAME_MAX + 1], suffix[48];
    size_t used = strlen(sql);

    for (size_t i = 0; i < s->nkeys && used < n; i++) {
        ts_field f = s->keys[i];
        if (t->indexed[f])
            continue;
        snprintf(suffix, sizeof suffix, "_%s_idx", s->host->field_name(f));
        postgres_derived_name(s, suffix, name);
        used += (size_t)snprintf(sql + used, n - used, "; CREATE INDEX IF NOT EXISTS \"%s\" ON "
                                 "%s USING %s (%s)", name, s->qtable,
                                 f == TS_FIELD_ID ? "btree" : "hash", s->host->field_name(f));
    }
    if (!t->id_order && used < n) {
        postgres_derived_name(s, "_id_order_idx", name);
        snprintf(sql + used, n - used, "; CREATE INDEX IF NOT EXISTS \"%s\" ON %s "
                 "((length(id)), id COLLATE \"C\")", name, s->qtable);
    }
}

/* Under the schema's advisory lock, in one transaction: the table when it
 * is not there, and every missing index. */
static int create_missing(struct pg_store *s, struct table_info *t, ts_error *err)
{
    char sql[4096];
    int made_table = 0;
    int rc = postgres_begin_locked(s, s->schema_key, "the schema lock", NULL, NULL, err);

    if (rc == TS_OK)
        rc = read_columns(s, t, err);
    if (rc == TS_OK && t->exists)
        rc = read_indexes(s, t, err);
    if (rc == TS_OK && !complete(s, t)) {
        made_table = !t->exists;
        if (made_table)
            snprintf(sql, sizeof sql, "CREATE TABLE %s (" SDK_COLUMNS ")", s->qtable);
        else
            snprintf(sql, sizeof sql, "SELECT 1");
        t->indexed[TS_FIELD_ID] |= made_table;      /* the primary key */
        index_statements(s, t, sql, sizeof sql);
        rc = postgres_run_text(s, sql, made_table ? "creating the table" : "creating an index",
                               NULL,
                               err);
    }
    rc = postgres_end_locked(s, rc, err);
    if (rc == TS_OK && made_table)
        s->host->log(s->ctx, TS_LOG_INFO, "created table %s.%s on %s", s->schema, s->table,
                     s->where);
    return rc;
}

/* The schema: the option's, which must exist, or the server's current
 * one. */
int postgres_find_schema(struct pg_store *s, ts_error *err)
{
    char sql[256];
    PGresult *res;

    snprintf(sql, sizeof sql, "SELECT %s%s%s, current_database(), (SELECT count(*) FROM "
             "pg_catalog.pg_namespace WHERE nspname = %s%s%s)",
             *s->schema ? "'" : "", *s->schema ? s->schema : "current_schema()",
             *s->schema ? "'" : "", *s->schema ? "'" : "",
             *s->schema ? s->schema : "current_schema()", *s->schema ? "'" : "");
    int rc = postgres_run_text(s, sql, "finding the schema", &res, err);
    if (rc != TS_OK)
        return rc;
    int there = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) &&
                strcmp(PQgetvalue(res, 0, 2), "1") == 0;
    if (there)
        snprintf(s->schema, sizeof s->schema, "%s", PQgetvalue(res, 0, 0));
    char db[PG_NAME_MAX + 1];
    snprintf(db, sizeof db, "%s", PQntuples(res) == 1 ? PQgetvalue(res, 0, 1) : "?");
    postgres_clear_result(res);
    if (there)
        return TS_OK;
    if ((s->open_flags & TS_OPEN_MUST_EXIST) && *s->schema)
        return s->host->error(err, TS_ERR_NO_STORE, "no such store: schema '%s' in database "
                              "'%s' on %s", s->schema, db, s->where);
    return s->host->error(err, TS_ERR_CONFIG, "%s: database '%s' has no schema %s%s%s "
                              "(create it, or set the option 'schema')", s->where, db,
                              *s->schema ? "'" : "", *s->schema ? s->schema : "on its "
                              "search_path", *s->schema ? "'" : "");
    return TS_OK;
}

int postgres_ensure_schema(struct pg_store *s, ts_error *err)
{
    struct table_info t;
    int rc = read_columns(s, &t, err);

    if (rc != TS_OK)
        return rc;
    if (s->open_flags & TS_OPEN_READ_ONLY) {
        s->no_table = !t.exists;
        return TS_OK;
    }
    if (t.exists && (rc = read_indexes(s, &t, err)) != TS_OK)
        return rc;
    if (complete(s, &t))
        return TS_OK;
    rc = create_missing(s, &t, err);
    if (rc == TS_OK)                     /* the widths of a table just made */
        rc = read_columns(s, &t, err);
    if (rc != TS_ERR_AUTH || !t.exists)
        return rc;
    /* Not the table's owner: reading and writing still work, only slower. */
    s->host->log(s->ctx, TS_LOG_WARN, "%s: table %s.%s lacks indexes the lookups need and "
                 "user '%s' may not create them (only its owner may): lookups will scan the "
                 "table", s->where, s->schema, s->table, s->user ? s->user : PQuser(s->conn));
    return TS_OK;
}

int postgres_table_ready(struct pg_store *s, int *ready, ts_error *err)
{
    struct table_info t;
    int rc = TS_OK;

    if (s->no_table && (rc = read_columns(s, &t, err)) == TS_OK && t.exists)
        s->no_table = 0;
    *ready = !s->no_table;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Rows by value: the lookup the rules call                            */
/* ------------------------------------------------------------------ */

/* Ids that are not canonical numbers come after every one that is. */
int postgres_lowest_id_row(struct pg_store *s, const PGresult *res, int first)
{
    uint64_t best = UINT64_MAX, id;
    int at = 0;

    for (int i = 0; i < PQntuples(res); i++)
        if (s->host->id_parse(PQgetvalue(res, i, first), &id) == TS_OK && id < best) {
            best = id;
            at = i;
        }
    return at;
}

int postgres_lookup_row(void *state, ts_field field, const char *value, ts_token *row,
                        ts_error *err)
{
    struct pg_store *s = state;
    int ready, rc = postgres_table_ready(s, &ready, err);

    if (rc != TS_OK || !ready)
        return rc == TS_OK ? TS_NOT_FOUND : rc;
    if ((int)field < 0 || field >= TS_FIELD_COUNT || !s->sql[ST_LOOKUP + field])
        return s->host->error(err, TS_ERR_INVALID, "cannot look tokens up by %s",
                              s->host->field_name(field) ? s->host->field_name(field) : "?");
    const char *p[1] = { value };
    PGresult *res;
    rc = postgres_run(s, (enum stmt_kind)(ST_LOOKUP + field), p, 1, "looking up a token", &res,
                      err);
    if (rc != TS_OK)
        return rc;
    rc = PQntuples(res) == 0
             ? TS_NOT_FOUND
             : postgres_read_row(s, res, postgres_lowest_id_row(s, res, 0), 0, row, err);
    postgres_clear_result(res);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Widths                                                              */
/* ------------------------------------------------------------------ */

/* Characters in a UTF-8 string: its bytes but continuation bytes. */
static size_t utf8_chars(const char *v)
{
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        n += (*p & 0xC0) != 0x80;
    return n;
}

int postgres_check_widths(struct pg_store *s, const ts_token *token, ts_error *err)
{
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        const char *v = s->host->token_get(token, (ts_field)f);
        size_t n = s->max_chars[f] > 0 ? utf8_chars(v) : 0;
        if (n > (size_t)s->max_chars[f])
            return s->host->error(err, TS_ERR_INVALID, "%s: table %s.%s: column %s holds at "
                                  "most %d characters and the value has %zu; nothing was "
                                  "saved", s->where, s->schema, s->table,
                                  s->host->field_name((ts_field)f), s->max_chars[f], n);
    }
    return TS_OK;
}

/* ------------------------------------------------------------------ */
/* The SQL                                                             */
/* ------------------------------------------------------------------ */

/* The SQL of the token table's statements (the notes' are notes.c's);
 * prepared on a connection's first use. A lookup reads every row with
 * the value and the caller takes the lowest id (lowest_id_row): no ORDER
 * BY to tempt the planner into walking the id index. */
int postgres_build_sql(struct pg_store *s, ts_error *err)
{
    const char *t = s->qtable;
    int ok = 1;

    for (size_t i = 0; i < s->nkeys; i++) {
        const char *c = s->host->field_name(s->keys[i]);
        free(s->sql[ST_LOOKUP + s->keys[i]]);
        ok &= asprintf(&s->sql[ST_LOOKUP + s->keys[i]], "SELECT " SQL_COLUMNS " FROM %s WHERE "
                       "%s = $1", t, c) > 0;
    }
    for (int k = ST_INSERT; k <= ST_INDEXES; k++) {
        free(s->sql[k]);
        s->sql[k] = NULL;
    }
    ok &= asprintf(&s->sql[ST_INSERT], "INSERT INTO %s (" SQL_COLUMNS ") VALUES ($1, $2, $3, $4, "
                   "$5, $6, $7, $8, $9, $10)", t) > 0;
    ok &= asprintf(&s->sql[ST_MAX_ID], "SELECT id FROM %s WHERE id ~ '^(0|[1-9][0-9]{0,18})$' "
                   "ORDER BY length(id) DESC, id COLLATE \"C\" DESC LIMIT 1", t) > 0;
    ok &= asprintf(&s->sql[ST_DELETE_ONE], "DELETE FROM %s WHERE id = $1", t) > 0;
    ok &= asprintf(&s->sql[ST_DELETE_ALL], "DELETE FROM %s", t) > 0;
    ok &= asprintf(&s->sql[ST_WALK_FIRST], "SELECT " SQL_COLUMNS " FROM %s ORDER BY " ID_ORDER
                   " LIMIT %d", t, WALK_PAGE) > 0;
    ok &= asprintf(&s->sql[ST_WALK_NEXT], "SELECT " SQL_COLUMNS " FROM %s WHERE (" ID_ORDER
                   ") > ($1::int, $2::text) ORDER BY " ID_ORDER " LIMIT %d", t, WALK_PAGE) > 0;
    ok &= (s->sql[ST_TRY_LOCK] = strdup("SELECT pg_try_advisory_lock($1::bigint)")) != NULL;
    ok &= (s->sql[ST_UNLOCK] = strdup("SELECT pg_advisory_unlock($1::bigint)")) != NULL;
    ok &= (s->sql[ST_IDLE_TIMEOUT] =
               strdup("SELECT set_config('idle_session_timeout', $1, false)")) != NULL;
    ok &= (s->sql[ST_COLUMNS] = strdup(
               "SELECT a.attname, format_type(a.atttypid, a.atttypmod), CASE WHEN a.atttypid "
               "IN ('pg_catalog.varchar'::regtype, 'pg_catalog.bpchar'::regtype) AND "
               "a.atttypmod > 4 THEN a.atttypmod - 4 END, ty.typcategory "
               "FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
               "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
               "JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid "
               "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') "
               "AND a.attnum > 0 AND NOT a.attisdropped")) != NULL;
    ok &= (s->sql[ST_INDEXES] = strdup(
               "SELECT a.attname, ic.relname FROM pg_catalog.pg_index i "
               "JOIN pg_catalog.pg_class c ON c.oid = i.indrelid "
               "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
               "JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid "
               "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND "
               "a.attnum = i.indkey[0] WHERE n.nspname = $1 AND c.relname = $2 AND "
               "i.indisvalid")) != NULL;
    return ok ? TS_OK : s->host->error(err, TS_ERR_NOMEM, "out of memory");
}
