/*
 * tests/postgres/test_postgres_schema.c - the postgres backend's table, on
 * a real PostgreSQL server of the program's own (tests/postgres/harness.c).
 *
 * The SDK DBStore's table made by hand with its rows 1..10, extended past
 * id 10, used as it is (our indexes added); the table we create has the
 * SDK's columns and our indexes, a value wider than a column is refused
 * naming the column, not cut, and a bulk save is all or nothing; values
 * match byte for byte; a table lacking columns is named and left alone;
 * the last id; a schema of its own, and one that is not there; names at
 * PostgreSQL's 63 characters keep their side tables and indexes apart; 8
 * processes opening a new table, or an SDK table without our indexes, at
 * once; drop.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <tokenstore/tokenstore.h>
#include "../test_store.h"
#include "harness.h"

/* The table's columns as "name type, ..." in their order. */
static void columns_of(const char *table, char *out, size_t n)
{
    char q[512];
    snprintf(q, sizeof q, "SELECT string_agg(column_name || ' ' || data_type || COALESCE('(' || "
             "character_maximum_length || ')', ''), ', ' ORDER BY ordinal_position) FROM "
             "information_schema.columns WHERE table_schema = 'public' AND table_name = '%s'",
             table);
    ck_assert_int_eq(sql(q, out, n), 0);
}

/* The table's indexes as "method(first column or expression) ..." sorted. */
static void indexes_of(const char *table, char *out, size_t n)
{
    char q[512];
    snprintf(q, sizeof q, "SELECT string_agg(d, ' | ' ORDER BY d) FROM (SELECT "
             "regexp_replace(indexdef, '^.* USING ', '') AS d FROM pg_indexes WHERE schemaname "
             "= 'public' AND tablename = '%s') i", table);
    ck_assert_int_eq(sql(q, out, n), 0);
}

#define OUR_INDEXES                                                                      \
    "btree (id) | btree (length((id)::text), id COLLATE \"C\") | hash (access_token) | "  \
    "hash (grant_token) | hash (refresh_token) | hash (user_name)"

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
        snprintf(q, sizeof q, "INSERT INTO sdk (id, user_name, client_id, client_secret, "
                 "refresh_token, expiry_time) VALUES ('%d', 'sdk%d@x', '1000.C', 'secret', "
                 "'1000.r.%d', '1700000000000')", i, i, i);
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
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM sdk WHERE id = '10' AND access_token = "
                                "'1000.a.10' AND refresh_token = '1000.r.10'"), 1);

    /* The table is used as it is: the same columns; our indexes added. */
    columns_of("sdk", after, sizeof after);
    ck_assert_str_eq(after, before);
    indexes_of("sdk", after, sizeof after);
    ck_assert_str_eq(after, OUR_INDEXES);
    ts_store_close(s);
}
END_TEST

START_TEST(test_created_table_has_the_sdk_columns)
{
    char cols[1024];
    ts_error err = { 0 };
    ts_store *s = open_table("fresh");

    columns_of("fresh", cols, sizeof cols);
    ck_assert_str_eq(cols, "id character varying(10), user_name character varying(255), "
                           "client_id character varying(255), client_secret character "
                           "varying(255), refresh_token character varying(255), access_token "
                           "character varying(255), grant_token character varying(255), "
                           "expiry_time character varying(20), redirect_url character "
                           "varying(255), api_domain character varying(255)");
    indexes_of("fresh", cols, sizeof cols);
    ck_assert_str_eq(cols, OUR_INDEXES);
    ts_token *t = make_token("wide@x", "1000.refresh.wide", "1000.access.wide");
    save_ok(s, t);

    /* A value wider than its column is refused and nothing changes; 255
     * characters of three bytes each fit. */
    char wide[1024] = "";
    for (int i = 0; i < 255; i++)
        strcat(wide, "✓");
    ts_token_set(t, TS_FIELD_ACCESS_TOKEN, wide);
    save_ok(s, t);
    strcat(wide, "W");
    ts_token_set(t, TS_FIELD_ACCESS_TOKEN, wide);
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "column access_token holds at most 255 characters"), "%s",
                  err.message);
    ck_assert_ptr_null(strstr(err.message, "✓✓"));
    ts_token *row;
    ck_assert_int_eq(find_user(s, "wide@x", &row, &err), TS_OK);
    ck_assert_int_eq(strlen(ts_token_get(row, TS_FIELD_ACCESS_TOKEN)), 255 * 3);
    ts_token_free(row);

    /* A bulk save is one transaction: a refused token leaves none saved. */
    ts_token *batch[2] = { make_token("b1@x", "1000.refresh.b1", ""),
                           make_token("b2@x", "1000.refresh.b2", wide) };
    ck_assert_int_eq(ts_save_tokens(s, batch, 2, &err), TS_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "token 1: ") != NULL, "%s", err.message);
    ck_assert_int_eq(find_user(s, "b1@x", NULL, &err), TS_NOT_FOUND);
    ck_assert_str_eq(ts_token_get(batch[0], TS_FIELD_ID), "");
    ts_token_free(batch[0]);
    ts_token_free(batch[1]);

    /* User names and tokens match byte for byte. */
    ck_assert_int_eq(find_user(s, "WIDE@x", NULL, &err), TS_NOT_FOUND);
    ck_assert_int_eq(find_user(s, "wide@x ", NULL, &err), TS_NOT_FOUND);
    ts_token *q = ts_token_new();
    ts_token_set(q, TS_FIELD_REFRESH_TOKEN, "1000.REFRESH.WIDE");
    ts_token_set(q, TS_FIELD_CLIENT_ID, "c");
    ts_token_set(q, TS_FIELD_CLIENT_SECRET, "s");
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_NOT_FOUND);
    ts_token_set(q, TS_FIELD_REFRESH_TOKEN, "1000.refresh.wide");
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_OK);
    ts_token_free(q);
    ts_token_free(t);
    ts_store_close(s);
}
END_TEST

START_TEST(test_missing_columns_are_named)
{
    char before[1024], after[1024];
    ts_error err = { 0 };

    sql_ok("CREATE TABLE partial (id varchar(10) NOT NULL, user_name varchar(255), "
           "client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), "
           "access_token varchar(255), expiry_time varchar(20), redirect_url varchar(255), "
           "primary key (id))");
    columns_of("partial", before, sizeof before);
    const char *opts[] = { "table", "partial", NULL };
    ck_assert_ptr_null(open_with(opts, &err));
    ck_assert_int_eq(err.code, TS_ERR_CORRUPT);
    ck_assert_msg(strstr(err.message, "no column grant_token, api_domain") &&
                  strstr(err.message, "public.partial"), "%s", err.message);
    columns_of("partial", after, sizeof after);
    ck_assert_str_eq(after, before);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM pg_indexes WHERE tablename = 'partial'"),
                     1);

    const char *bad[] = { "table", "oauth token", NULL };
    ck_assert_ptr_null(open_with(bad, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.message, "identifier"));
    const char *bad_schema[] = { "schema", "x\";drop", NULL };
    ck_assert_ptr_null(open_with(bad_schema, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.message, "option 'schema'"));
}
END_TEST

/* The host's next_id gives the ids; an id column wider than the SDK's
 * can hold the last one, after which an insert is refused, naming the
 * table, and nothing is written. */
START_TEST(test_no_id_left_after_the_last)
{
    ts_error err = { 0 };

    sql_ok("CREATE TABLE wide (id varchar(20) NOT NULL, user_name varchar(255), "
           "client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), "
           "access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), "
           "redirect_url varchar(255), api_domain varchar(255), primary key (id))");
    sql_ok("INSERT INTO wide (id, user_name, refresh_token) VALUES "
           "('9223372036854775807', 'last@x', '1000.r.last')");
    const char *opts[] = { "table", "wide", NULL };
    ts_store *s = open_with(opts, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    ts_token *t = make_token("next@x", "1000.r.next", "");
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_BACKEND);
    ck_assert_msg(strstr(err.message, "table wide: no id is left after 9223372036854775807"),
                  "%s", err.message);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM wide"), 1);
    ts_token_free(t);
    ts_store_close(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Schemas and long names                                              */
/* ------------------------------------------------------------------ */

START_TEST(test_schema_of_its_own)
{
    ts_error err = { 0 };
    const char *opts[] = { "schema", "zoho", "table", "oauthtoken", NULL };

    ts_store *s = open_with(opts, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    ck_assert_int_eq(save_user(s, "schema@x"), 1);
    ts_store_close(s);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM zoho.oauthtoken"), 1);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public' "
                                "AND tablename = 'oauthtoken'"), 0);

    const char *none[] = { "schema", "nosuch", NULL };
    ck_assert_ptr_null(open_with(none, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, "has no schema 'nosuch'") != NULL, "%s", err.message);
    ck_assert_ptr_null(open_flags_with(TS_OPEN_MUST_EXIST, none, &err));
    ck_assert_int_eq(err.code, TS_ERR_NO_STORE);
    ck_assert_msg(strstr(err.message, "no such store: schema 'nosuch'") != NULL, "%s",
                  err.message);
}
END_TEST

/* Two 63-character names alike but for the last character: tables,
 * indexes and side tables of their own, none cut into the other's. */
START_TEST(test_long_names_keep_apart)
{
    char a[64], b[64], q[512];
    ts_error err = { 0 };

    memset(a, 'l', 63);
    a[63] = '\0';
    memcpy(b, a, sizeof b);
    b[62] = 'm';
    for (int i = 0; i < 2; i++) {
        const char *opts[] = { "table", i ? b : a, NULL };
        ts_store *s = open_with(opts, &err);
        ck_assert_msg(s != NULL, "%s", err.message);
        ck_assert_int_eq(save_user(s, i ? "b@x" : "a@x"), 1);
        ts_store_close(s);
    }
    for (int i = 0; i < 2; i++) {
        snprintf(q, sizeof q, "SELECT COUNT(*) FROM pg_indexes WHERE tablename = '%s'",
                 i ? b : a);
        ck_assert_int_eq(sql_number(q), 6);
        snprintf(q, sizeof q, "SELECT user_name FROM \"%s\"", i ? b : a);
        char out[64];
        ck_assert_int_eq(sql(q, out, sizeof out), 0);
        ck_assert_str_eq(out, i ? "b@x" : "a@x");
    }
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
        alarm(90);
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
    usleep(300000);                 /* every opener waits at the gate */
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
    char q[256], out[1024];

    /* A table nobody made yet. */
    ck_assert_int_eq(open_at_once("born"), 0);
    indexes_of("born", out, sizeof out);
    ck_assert_str_eq(out, OUR_INDEXES);
    /* The SDK's table without our indexes: the openers add them once. */
    sql_ok(SDK_DDL("bare"));
    ck_assert_int_eq(open_at_once("bare"), 0);
    indexes_of("bare", out, sizeof out);
    ck_assert_str_eq(out, OUR_INDEXES);
    for (int i = 0; i < 2; i++) {
        snprintf(q, sizeof q, "SELECT COUNT(DISTINCT id) + COUNT(DISTINCT user_name) FROM %s "
                 "WHERE id::int BETWEEN 1 AND %d", i ? "bare" : "born", OPENERS);
        ck_assert_int_eq(sql_number(q), 2 * OPENERS);
    }
}
END_TEST

START_TEST(test_drop_removes_the_tables)
{
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
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM pg_tables WHERE tablename LIKE "
                                "'scratch%'"), 0);
    /* A table someone else dropped already: done as well. */
    s = open_table("scratch");
    sql_ok("DROP TABLE scratch");
    ck_assert_msg(ts_store_drop(s, &err) == TS_OK, "%s", err.message);
    ts_store_close(s);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *schema_suite(void)
{
    Suite *s = suite_create("postgres_schema");
    TCase *tc = tcase_create("schema");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_sdk_table_extended_past_ten);
    tcase_add_test(tc, test_created_table_has_the_sdk_columns);
    tcase_add_test(tc, test_missing_columns_are_named);
    tcase_add_test(tc, test_no_id_left_after_the_last);
    tcase_add_test(tc, test_schema_of_its_own);
    tcase_add_test(tc, test_long_names_keep_apart);
    tcase_add_test(tc, test_many_first_opens_at_once);
    tcase_add_test(tc, test_drop_removes_the_tables);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run(schema_suite(), "CREATE SCHEMA zoho AUTHORIZATION app;", NULL);
}
