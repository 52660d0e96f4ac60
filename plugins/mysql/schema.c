/*
 * plugins/mysql/schema.c - the mysql backend's table: reading its columns
 * and indexes from information_schema, creating the SDK's table and the
 * indexes on the lookup fields when missing, noticing a table that
 * appeared under a read-only handle, and the SQL of every statement.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <mysql.h>
#include <mysqld_error.h>
#include "mysql_store.h"

#define INNODB_KEY_BYTES 3072          /* the widest InnoDB index key */
#define PREFIX_CHARS 255               /* a prefix index's length, in characters */

/*
 * The SDK DBStore's ten columns, as its CREATE TABLE has them, in utf8mb4
 * whatever the server's default (a latin1 table refuses most UTF-8 user
 * names): user_name in the case-insensitive collation the SDK's lookups
 * rely on, every other column, the secrets among them, in a binary one.
 * The indexes on the lookup fields come in the same statement, so that a
 * table is never seen without them (create_table).
 */
#define SDK_COLUMNS                                                                      \
    "id varchar(10) NOT NULL, "                                                          \
    "user_name varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci, "          \
    "client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), "   \
    "access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), "     \
    "redirect_url varchar(255), api_domain varchar(255), primary key (id)"
#define TABLE_CHARSET " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

/* Ids are canonical decimals, so DECIMAL(20) holds every one exactly. */
#define NUMERIC_ID "CAST(id AS DECIMAL(20,0))"

/* What information_schema says about one of our columns. */
struct column {
    int needs_prefix;      /* TEXT/BLOB, or too wide for an InnoDB key */
};

/* ------------------------------------------------------------------ */
/* The schema                                                          */
/* ------------------------------------------------------------------ */

/* Runs one SQL text once, through a statement of its own (DDL). */
int mysql_run_once(struct mysql_store *s, const char *sql, const char *doing, ts_error *err)
{
    MYSQL_STMT *st = NULL;
    int rc = mysql_get_stmt(s, &st, sql, &st, err);

    if (rc == TS_OK)
        rc = mysql_execute(s, st, NULL, 0, doing, err);
    if (st)
        mysql_stmt_close(st);
    return rc;
}

/* Reads the table's columns. *exists is 0 when there is no such table (or
 * none that the user may see). */
static int read_columns(struct mysql_store *s, struct column *cols, int *exists, ts_error *err)
{
    struct param p = str_param(s->table);
    int rc = mysql_run(s, ST_COLUMNS, &p, 1, "reading the table's columns", err);
    MYSQL_STMT *st = s->stmt[ST_COLUMNS];

    unsigned present = 0;              /* bit f: field f's column is there */

    memset(cols, 0, sizeof *cols * TS_FIELD_COUNT);
    *exists = 0;
    while (rc == TS_OK && (rc = mysql_fetch(s, st, 4, err)) == TS_OK) {
        char name[NAME_MAX_LEN + 1], type[32];
        snprintf(name, sizeof name, "%.*s", (int)s->col_len[0], s->col[0]);
        snprintf(type, sizeof type, "%.*s", (int)s->col_len[1], s->col[1]);
        unsigned long long octets = s->col_null[3] ? 0 : strtoull(s->col[3], NULL, 10);
        int f = sql_field_of(s->host, name, 1);
        *exists = 1;
        if (f < 0)
            continue;
        present |= 1u << f;
        cols[f].needs_prefix = strstr(type, "text") || strstr(type, "blob") ||
                               octets > INNODB_KEY_BYTES;
    }
    if (rc == TS_NOT_FOUND)
        rc = TS_OK;
    if (st)
        mysql_stmt_free_result(st);
    if (rc != TS_OK || !*exists)
        return rc;

    char missing[160];
    sql_missing_columns(s->host, present, missing, sizeof missing);
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
    int rc = mysql_run(s, ST_INDEXED, &p, 1, "reading the table's indexes", err);
    unsigned have = 0;

    while (rc == TS_OK && (rc = mysql_fetch(s, s->stmt[ST_INDEXED], 1, err)) == TS_OK) {
        char name[NAME_MAX_LEN + 1];
        snprintf(name, sizeof name, "%.*s", (int)s->col_len[0], s->col[0]);
        int f = sql_field_of(s->host, name, 1);
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

/* The name of our index on field: "<table>_<field>_idx", or, for a table
 * whose name leaves no room for that in 64 characters, "<field>_idx"
 * (index names are the table's own). */
static void index_name(const struct mysql_store *s, ts_field f, char out[NAME_MAX_LEN + 1])
{
    const char *field = s->host->field_name(f);
    int n = snprintf(out, NAME_MAX_LEN + 1, "%s_%s_idx", s->table, field);

    if (n < 0 || n > NAME_MAX_LEN)
        snprintf(out, NAME_MAX_LEN + 1, "%s_idx", field);
}

static int create_indexes(struct mysql_store *s, const struct column *cols, unsigned missing,
                          ts_error *err)
{
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        if (!(missing & (1u << f)))
            continue;
        const char *name = s->host->field_name((ts_field)f);
        char sql[256], prefix[16] = "", index[NAME_MAX_LEN + 1];
        if (cols[f].needs_prefix)
            snprintf(prefix, sizeof prefix, "(%d)", PREFIX_CHARS);
        index_name(s, (ts_field)f, index);
        snprintf(sql, sizeof sql, "CREATE INDEX `%s` ON `%s` (%s%s)", index, s->table, name,
                 prefix);
        int rc = mysql_run_once(s, sql, "creating an index", err);
        /* Another process opening the table made it meanwhile. (The error
         * number is the statement's: run_once has closed it since.) */
        if (rc != TS_OK && !s->lost && s->last_errno == ER_DUP_KEYNAME)
            rc = TS_OK;
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

/* CREATE TABLE IF NOT EXISTS with the indexes: one statement, so any
 * number of processes may run it at once and all of them find the table
 * whole. */
static int create_table(struct mysql_store *s, ts_error *err)
{
    char sql[1024], index[NAME_MAX_LEN + 1];
    size_t used = (size_t)snprintf(sql, sizeof sql, "CREATE TABLE IF NOT EXISTS `%s` ("
                                   SDK_COLUMNS, s->table);

    for (size_t i = 0; i < s->nkeys && used < sizeof sql; i++) {
        if (s->keys[i] == TS_FIELD_ID)          /* the primary key */
            continue;
        index_name(s, s->keys[i], index);
        used += (size_t)snprintf(sql + used, sizeof sql - used, ", KEY `%s` (%s)", index,
                                 s->host->field_name(s->keys[i]));
    }
    if (used < sizeof sql)
        used += (size_t)snprintf(sql + used, sizeof sql - used, ")" TABLE_CHARSET);
    if (used >= sizeof sql)
        return s->host->error(err, TS_ERR_BACKEND, "the CREATE TABLE statement is too long");
    int rc = mysql_run_once(s, sql, "creating the table", err);
    if (rc == TS_OK)
        s->host->log(s->ctx, TS_LOG_INFO, "created table %s.%s on %s", s->database, s->table,
                     s->where);
    return rc;
}

int mysql_ensure_schema(struct mysql_store *s, ts_error *err)
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
        rc = create_table(s, err);
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
int mysql_table_ready(struct mysql_store *s, int *ready, ts_error *err)
{
    struct column cols[TS_FIELD_COUNT];
    int rc = TS_OK;

    if (s->no_table && (rc = read_columns(s, cols, ready, err)) == TS_OK && *ready)
        s->no_table = 0;
    *ready = !s->no_table;
    return rc;
}

unsigned mysql_lookup_params(ts_field field)
{
    return field == TS_FIELD_USER_NAME ? 1 : 2;
}

/*
 * The lookup by field. user_name compares in the column's collation, as
 * the DBStore's `WHERE user_name = %s` does: on the SDK's table that
 * ignores case (and trailing spaces). Every other key compares bytes:
 * `c = ?` finds the candidates through the column's index, and the value
 * as the connection reads it, in utf8mb4, must then equal the bound bytes
 * (a latin1 column's é is one byte stored and two read). Several rows may
 * share a secret (and an SDK table may hold a user twice): the lowest id
 * answers.
 */
static int lookup_sql(struct mysql_store *s, ts_field f, const char *cols)
{
    const char *c = s->host->field_name(f);
    char **sql = &s->sql[ST_LOOKUP + f];
    int n;

    if (f == TS_FIELD_USER_NAME)
        n = asprintf(sql, "SELECT %s FROM `%s` WHERE %s = ? ORDER BY " NUMERIC_ID " LIMIT 1",
                     cols, s->table, c);
    else if (f == TS_FIELD_ID)          /* ids are ASCII digits */
        n = asprintf(sql, "SELECT %s FROM `%s` WHERE id = ? AND id = BINARY ? LIMIT 1", cols,
                     s->table);
    else
        n = asprintf(sql, "SELECT %s FROM `%s` WHERE %s = ? AND CONVERT(%s USING utf8mb4) = "
                     "BINARY ? ORDER BY " NUMERIC_ID " LIMIT 1", cols, s->table, c, c);
    return n > 0 ? TS_OK : TS_ERR_NOMEM;
}

/* The SQL of the token table's statements (the notes' are notes.c's);
 * prepared on a connection's first use. */
int mysql_build_sql(struct mysql_store *s, ts_error *err)
{
    const char *t = s->table, *cols = SQL_COLUMNS;
    int ok = 1;

    for (size_t i = 0; i < s->nkeys; i++)
        ok &= lookup_sql(s, s->keys[i], cols) == TS_OK;
    ok &= asprintf(&s->sql[ST_INSERT], "INSERT INTO `%s` (%s) VALUES (?, ?, ?, ?, ?, ?, ?, "
                   "?, ?, ?)", t, cols) > 0;
    ok &= asprintf(&s->sql[ST_MAX_ID], "SELECT MAX(" NUMERIC_ID ") FROM `%s`", t) > 0;
    ok &= asprintf(&s->sql[ST_DELETE_ONE], "DELETE FROM `%s` WHERE id = ? AND id = BINARY ?",
                   t) > 0;
    ok &= asprintf(&s->sql[ST_DELETE_ALL], "DELETE FROM `%s`", t) > 0;
    ok &= asprintf(&s->sql[ST_WALK], "SELECT %s FROM `%s` ORDER BY " NUMERIC_ID ", id", cols,
                   t) > 0;
    ok &= asprintf(&s->sql[ST_DROP], "DROP TABLE IF EXISTS `%s`, `%s`, `%s`", t,
                   s->notes_table, s->log_table) > 0;
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
