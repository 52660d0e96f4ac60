/*
 * tests/sql/schema_cases.h - the table cases of test_mysql_schema.c and
 * test_postgres_schema.c that the mysql and postgres backends share,
 * against a real server of the program's own: the SDK DBStore's table
 * made by hand with its rows 1..10, extended past id 10 and used as it is
 * (our indexes added); a bulk save that is all or nothing; a table
 * lacking columns named and left alone; the last id; 8 processes opening
 * a new table, or an SDK table without our indexes, at once; drop. Where
 * a case's details differ by server, its common part is a helper here
 * (bulk_save_is_all_or_nothing, missing_columns_named), which the
 * backend's own case calls.
 *
 * The including test includes its backend's harness.h first (SDK_DDL,
 * TOKENS_TABLE, TABLES_LIKE) and defines:
 *  - columns_of(table, out, n): the table's columns as "name type, ..."
 *    in their order;
 *  - our_indexes_made(table): asserts that the table has the backend's
 *    indexes, each once;
 *  - INDEX_COUNT_SQL: a query counting the indexes of the table its one
 *    %s names;
 *  - ID_AS_NUMBER: column id as a number in SQL;
 *  - OPENER_ALARM, OPENER_GATE_US: the seconds an opener of
 *    open_at_once may take, and the microseconds the openers wait at
 *    its gate.
 */
#ifndef TS_TEST_SQL_SCHEMA_CASES_H
#define TS_TEST_SQL_SCHEMA_CASES_H

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <tokenstore/tokenstore.h>
#include "../test_store.h"

/* find_token by user name: the row's id and refresh token. */
static void found_as(ts_store *s, const char *user, const char *id, const char *refresh)
{
    ts_error err = { 0 };
    ts_token *row;

    ck_assert_msg(find_user(s, user, &row, &err) == TS_OK, "'%s': %s", user, err.message);
    ck_assert_str_eq(ts_token_get(row, TS_FIELD_ID), id);
    ck_assert_str_eq(ts_token_get(row, TS_FIELD_REFRESH_TOKEN), refresh);
    ts_token_free(row);
}

/* How many indexes table `table` has. */
static long long index_count(const char *table)
{
    char q[512];

    snprintf(q, sizeof q, INDEX_COUNT_SQL, table);
    return sql_number(q);
}

/* ------------------------------------------------------------------ */
/* The SDK's table                                                     */
/* ------------------------------------------------------------------ */

START_TEST(test_sdk_table_extended_past_ten)
{
    char before[1024], after[1024], q[256];
    ts_error err = { 0 };

    sql_ok(SDK_DDL("sdk"));
    /* Rows as the SDK's DBStore writes them: ids 1..10, as text. */
    for (int i = 1; i <= 10; i++) {
        snprintf(q, sizeof q, "INSERT INTO " TOKENS_TABLE("sdk") " (id, user_name, client_id, "
                 "client_secret, refresh_token, expiry_time) VALUES ('%d', 'sdk%d@x', "
                 "'1000.C', 'secret', '1000.r.%d', '1700000000000')", i, i, i);
        sql_ok(q);
    }
    columns_of("sdk", before, sizeof before);
    const char *opts[] = { "table", "sdk", NULL };
    ts_store *s = open_with(opts, &err);
    ck_assert_msg(s != NULL, "%s", err.message);

    found_as(s, "sdk9@x", "9", "1000.r.9");
    /* Text order says "9" is the largest id and the SDK would insert "10"
     * again; numerically the next ones are 11 and 12. */
    ck_assert_int_eq(save_user(s, "new1@x"), 11);
    ck_assert_int_eq(save_user(s, "new2@x"), 12);
    ck_assert_uint_eq(count_tokens(s), 12);

    /* An update of an SDK row in place, keeping what the save left out. */
    ts_token *t = ts_token_new();
    ts_token_set(t, TS_FIELD_USER_NAME, "sdk10@x");
    ts_token_set(t, TS_FIELD_ACCESS_TOKEN, "1000.a.10");
    save_ok(s, t);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "10");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_REFRESH_TOKEN), "1000.r.10");
    ts_token_free(t);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM " TOKENS_TABLE("sdk") " WHERE id = '10' "
                                "AND access_token = '1000.a.10' AND refresh_token = "
                                "'1000.r.10'"), 1);

    /* The table is used as it is: the same columns; our indexes added. */
    columns_of("sdk", after, sizeof after);
    ck_assert_str_eq(after, before);
    our_indexes_made("sdk");
    ts_store_close(s);
}
END_TEST

/* A bulk save is one transaction: a token holding `wide` (wider than
 * its column) is refused and leaves none saved. */
static void bulk_save_is_all_or_nothing(ts_store *s, const char *wide)
{
    ts_error err = { 0 };
    ts_token *batch[2] = { make_token("b1@x", "1000.refresh.b1", ""),
                           make_token("b2@x", "1000.refresh.b2", wide) };

    ck_assert_int_eq(ts_save_tokens(s, batch, 2, &err), TS_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "token 1: ") != NULL, "%s", err.message);
    ck_assert_int_eq(find_user(s, "b1@x", NULL, &err), TS_NOT_FOUND);
    ck_assert_str_eq(ts_token_get(batch[0], TS_FIELD_ID), "");
    ts_token_free(batch[0]);
    ts_token_free(batch[1]);
}

/* A table lacking two of the SDK's columns: an open names them and the
 * table (as `qualified`), and leaves it as it was; a table name that is
 * no identifier is refused. */
static void missing_columns_named(const char *qualified)
{
    char before[1024], after[1024];
    ts_error err = { 0 };

    sql_ok("CREATE TABLE " TOKENS_TABLE("partial") " (id varchar(10) NOT NULL, user_name "
           "varchar(255), client_id varchar(255), client_secret varchar(255), refresh_token "
           "varchar(255), access_token varchar(255), expiry_time varchar(20), redirect_url "
           "varchar(255), primary key (id))");
    columns_of("partial", before, sizeof before);
    const char *opts[] = { "table", "partial", NULL };
    ck_assert_ptr_null(open_with(opts, &err));
    ck_assert_int_eq(err.code, TS_ERR_CORRUPT);
    ck_assert_msg(strstr(err.message, "no column grant_token, api_domain") &&
                  strstr(err.message, qualified), "%s", err.message);
    columns_of("partial", after, sizeof after);
    ck_assert_str_eq(after, before);
    ck_assert_int_eq(index_count("partial"), 1);

    const char *bad[] = { "table", "oauth token", NULL };
    ck_assert_ptr_null(open_with(bad, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.message, "identifier"));
}

/* The host's next_id gives the ids; an id column wider than the SDK's
 * can hold the last one, after which an insert is refused, naming the
 * table, and nothing is written. */
START_TEST(test_no_id_left_after_the_last)
{
    ts_error err = { 0 };

    sql_ok("CREATE TABLE " TOKENS_TABLE("wide") " (id varchar(20) NOT NULL, user_name "
           "varchar(255), client_id varchar(255), client_secret varchar(255), refresh_token "
           "varchar(255), access_token varchar(255), grant_token varchar(255), expiry_time "
           "varchar(20), redirect_url varchar(255), api_domain varchar(255), primary key (id))");
    sql_ok("INSERT INTO " TOKENS_TABLE("wide") " (id, user_name, refresh_token) VALUES "
           "('9223372036854775807', 'last@x', '1000.r.last')");
    const char *opts[] = { "table", "wide", NULL };
    ts_store *s = open_with(opts, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    ts_token *t = make_token("next@x", "1000.r.next", "");
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_BACKEND);
    ck_assert_msg(strstr(err.message, "table wide: no id is left after 9223372036854775807"),
                  "%s", err.message);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM " TOKENS_TABLE("wide")), 1);
    ts_token_free(t);
    ts_store_close(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Many first opens; drop                                              */
/* ------------------------------------------------------------------ */

enum { OPENERS = 8 };

/* OPENERS processes open table `table` at the same moment and each saves
 * a token; returns how many failed. */
static int open_at_once(const char *table)
{
    int gate[2], failed = 0;
    pid_t kids[OPENERS];

    ck_assert_int_eq(pipe(gate), 0);
    for (int i = 0; i < OPENERS; i++) {
        kids[i] = fork();
        ck_assert(kids[i] >= 0);
        if (kids[i] > 0)
            continue;
        ts_error err = { 0 };
        char c, user[64];
        close(gate[1]);
        alarm(OPENER_ALARM);
        if (read(gate[0], &c, 1) != 0)       /* the gate opens on EOF */
            _exit(3);
        const char *opts[] = { "table", table, NULL };
        ts_store *s = open_with(opts, &err);
        if (!s) {
            fprintf(stderr, "opener %d: %s\n", i, err.message);
            _exit(1);
        }
        snprintf(user, sizeof user, "opener%d@example.com", i);
        ts_token *t = make_token(user, "1000.refresh.opener", "");
        int rc = ts_save_token(s, t, &err);
        if (rc != TS_OK)
            fprintf(stderr, "opener %d: save: %s\n", i, err.message);
        _exit(rc == TS_OK ? 0 : 2);
    }
    close(gate[0]);
    usleep(OPENER_GATE_US);         /* every opener waits at the gate */
    close(gate[1]);
    for (int i = 0; i < OPENERS; i++) {
        int status;
        ck_assert(waitpid(kids[i], &status, 0) == kids[i]);
        failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    return failed;
}

START_TEST(test_many_first_opens_at_once)
{
    char q[256];

    /* A table nobody made yet. */
    ck_assert_int_eq(open_at_once("born"), 0);
    our_indexes_made("born");
    /* The SDK's table without our indexes: the openers add them once. */
    sql_ok(SDK_DDL("bare"));
    ck_assert_int_eq(open_at_once("bare"), 0);
    our_indexes_made("bare");
    for (int i = 0; i < 2; i++) {
        snprintf(q, sizeof q, "SELECT COUNT(DISTINCT id) + COUNT(DISTINCT user_name) FROM "
                 TOKENS_TABLE("%s") " WHERE " ID_AS_NUMBER " BETWEEN 1 AND %d",
                 i ? "bare" : "born", OPENERS);
        ck_assert_int_eq(sql_number(q), 2 * OPENERS);
    }
}
END_TEST

/* Drop removes the table and its side tables; not on a read-only
 * handle; a table someone else dropped already is dropped as well. */
START_TEST(test_drop_removes_the_tables)
{
    char q[512];
    ts_error err = { 0 };
    ts_store *s = open_table("scratch");
    const char *opts[] = { "table", "scratch", NULL };
    ts_store *ro = open_flags_with(TS_OPEN_READ_ONLY, opts, &err);

    ck_assert_msg(ro != NULL, "%s", err.message);
    ck_assert_int_eq(save_user(s, "dropped@example.com"), 1);
    ck_assert_int_eq(ts_store_drop(ro, &err), TS_ERR_READ_ONLY);
    ts_store_close(ro);
    ck_assert_msg(ts_store_drop(s, &err) == TS_OK, "%s", err.message);
    ts_store_close(s);
    snprintf(q, sizeof q, TABLES_LIKE, "scratch%");
    ck_assert_int_eq(sql_number(q), 0);
    /* A table someone else dropped already: done as well. */
    s = open_table("scratch");
    sql_ok("DROP TABLE " TOKENS_TABLE("scratch"));
    ck_assert_msg(ts_store_drop(s, &err) == TS_OK, "%s", err.message);
    ts_store_close(s);
}
END_TEST

#endif
