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

/* The table has our indexes, each once. */
static void our_indexes_made(const char *table)
{
    char out[1024];

    indexes_of(table, out, sizeof out);
    ck_assert_str_eq(out, OUR_INDEXES);
}

/* The cases the mysql backend shares are tests/sql/schema_cases.h. */
#define INDEX_COUNT_SQL "SELECT COUNT(*) FROM pg_indexes WHERE tablename = '%s'"
#define ID_AS_NUMBER "id::int"
#define OPENER_ALARM 90
#define OPENER_GATE_US 300000
#include "../sql/schema_cases.h"

/* ------------------------------------------------------------------ */
/* The SDK's table                                                     */
/* ------------------------------------------------------------------ */

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
    our_indexes_made("fresh");
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

    bulk_save_is_all_or_nothing(s, wide);

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

/* A table lacking columns is named, as the schema's; a schema name
 * that is no identifier is refused. */
START_TEST(test_missing_columns_are_named)
{
    ts_error err = { 0 };

    missing_columns_named("public.partial");
    const char *bad_schema[] = { "schema", "x\";drop", NULL };
    ck_assert_ptr_null(open_with(bad_schema, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.message, "option 'schema'"));
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
    open_refused(0, none, TS_ERR_CONFIG, "has no schema 'nosuch'");
    open_refused(TS_OPEN_MUST_EXIST, none, TS_ERR_NO_STORE, "no such store: schema 'nosuch'");
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
        ck_assert_int_eq(index_count(i ? b : a), 6);
        snprintf(q, sizeof q, "SELECT user_name FROM \"%s\"", i ? b : a);
        char out[64];
        ck_assert_int_eq(sql(q, out, sizeof out), 0);
        ck_assert_str_eq(out, i ? "b@x" : "a@x");
    }
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
