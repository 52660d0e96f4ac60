/*
 * tests/mysql/test_mysql_schema.c - the mysql backend's table, on a real
 * MariaDB server of the program's own (tests/mysql/harness.c).
 *
 * The SDK DBStore's table made by hand with its rows 1..10, extended past
 * id 10; the table we create has the SDK's columns, in utf8mb4 with the
 * SDK's case-insensitive user_name and binary tokens, and a value wider
 * than a column is refused, not cut; a table lacking columns is named and
 * left alone; the last id. Takeover fidelity: on the SDK's own table a
 * user name matches as the DBStore's `WHERE user_name = %s` matches it
 * (whatever its case), a save never adds a second row for it and writes
 * the spelling saved, and tokens still match byte for byte; a latin1
 * table finds a non-ASCII user name and keeps one row for it; a server
 * whose default character set is latin1 gets a utf8mb4 table. 8
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

/* The collations of the table we create, column by column. */
#define CREATED_COLLATIONS                                                           \
    "id utf8mb4_bin, user_name utf8mb4_general_ci, client_id utf8mb4_bin, "          \
    "client_secret utf8mb4_bin, refresh_token utf8mb4_bin, access_token utf8mb4_bin, " \
    "grant_token utf8mb4_bin, expiry_time utf8mb4_bin, redirect_url utf8mb4_bin, "   \
    "api_domain utf8mb4_bin"

/* The table's columns as "name type, ..." in their order. */
static void columns_of(const char *table, char *out, size_t n)
{
    char q[512];
    snprintf(q, sizeof q, "SELECT GROUP_CONCAT(CONCAT(COLUMN_NAME, ' ', COLUMN_TYPE) "
             "ORDER BY ORDINAL_POSITION SEPARATOR ', ') FROM information_schema.COLUMNS "
             "WHERE TABLE_SCHEMA = 'tokens' AND TABLE_NAME = '%s'", table);
    ck_assert_int_eq(sql(q, out, n), 0);
}

/* The table's columns as "name collation, ..." in their order. */
static void collations_of(const char *db, const char *table, char *out, size_t n)
{
    char q[512];
    snprintf(q, sizeof q, "SELECT GROUP_CONCAT(CONCAT(COLUMN_NAME, ' ', COLLATION_NAME) "
             "ORDER BY ORDINAL_POSITION SEPARATOR ', ') FROM information_schema.COLUMNS "
             "WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s'", db, table);
    ck_assert_int_eq(sql(q, out, n), 0);
}

/* The cases the postgres backend shares are tests/sql/schema_cases.h. */
#define INDEX_COUNT_SQL                                                                    \
    "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'tokens' AND " \
    "TABLE_NAME = '%s'"
#define ID_AS_NUMBER "CAST(id AS UNSIGNED)"
#define OPENER_ALARM 60
#define OPENER_GATE_US 200000
static void our_indexes_made(const char *table);
#include "../sql/schema_cases.h"

/* How many of id, user_name and the three tokens an index starts with,
 * and that no column has two. */
static long long indexed_columns(const char *table)
{
    char q[512];
    snprintf(q, sizeof q, "SELECT COUNT(DISTINCT COLUMN_NAME) FROM information_schema.STATISTICS "
             "WHERE TABLE_SCHEMA = 'tokens' AND TABLE_NAME = '%s' AND SEQ_IN_INDEX = 1 AND "
             "COLUMN_NAME IN ('id', 'user_name', 'access_token', 'refresh_token', "
             "'grant_token')", table);
    long long distinct = sql_number(q);
    ck_assert_int_eq(index_count(table), distinct);
    return distinct;
}

/* Our five indexes (the SDK's primary key among them), each once. */
static void our_indexes_made(const char *table)
{
    ck_assert_int_eq(indexed_columns(table), 5);
}

/* ------------------------------------------------------------------ */
/* The SDK's table                                                     */
/* ------------------------------------------------------------------ */

START_TEST(test_created_table_has_the_sdk_columns)
{
    char cols[1024];
    ts_error err = { 0 };
    ts_store *s = open_table("fresh");

    columns_of("fresh", cols, sizeof cols);
    ck_assert_str_eq(cols, "id varchar(10), user_name varchar(255), client_id varchar(255), "
                           "client_secret varchar(255), refresh_token varchar(255), "
                           "access_token varchar(255), grant_token varchar(255), "
                           "expiry_time varchar(20), redirect_url varchar(255), "
                           "api_domain varchar(255)");
    ts_token *t = make_token("wide@x", "1000.refresh.wide", "1000.access.wide");
    save_ok(s, t);

    /* A value wider than its column is refused and nothing changes. */
    char wide[301];
    memset(wide, 'W', 300);
    wide[300] = '\0';
    ts_token_set(t, TS_FIELD_ACCESS_TOKEN, wide);
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "access_token") != NULL, "%s", err.message);
    ck_assert_ptr_null(strstr(err.message, "WWWWWWWW"));
    ts_token *row;
    ck_assert_int_eq(find_user(s, "wide@x", &row, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(row, TS_FIELD_ACCESS_TOKEN), "1000.access.wide");
    ts_token_free(row);

    bulk_save_is_all_or_nothing(s, wide);

    /* The user name matches in the SDK's case-insensitive collation; the
     * tokens match byte for byte. */
    ck_assert_int_eq(find_user(s, "WIDE@x", NULL, &err), TS_OK);
    ts_token *q = ts_token_new();
    ts_token_set(q, TS_FIELD_ACCESS_TOKEN, "1000.ACCESS.WIDE");
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_NOT_FOUND);
    ts_token_set(q, TS_FIELD_ACCESS_TOKEN, "1000.access.wide ");
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_NOT_FOUND);
    ts_token_set(q, TS_FIELD_ACCESS_TOKEN, "1000.access.wide");
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_OK);
    ts_token_free(q);
    ts_token_free(t);
    ts_store_close(s);

    /* utf8mb4 whatever the server's default; user_name case-insensitive,
     * the rest binary; the indexes made with the table. */
    char collations[1024];
    collations_of("tokens", "fresh", collations, sizeof collations);
    ck_assert_str_eq(collations, CREATED_COLLATIONS);
    our_indexes_made("fresh");
}
END_TEST

START_TEST(test_missing_columns_are_named)
{
    missing_columns_named("tokens.partial");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Takeover: user names as the SDK matches them                        */
/* ------------------------------------------------------------------ */

/* On the SDK's own table (its DDL, made by hand, in the server's default
 * utf8mb4_general_ci), as the DBStore left it. */
START_TEST(test_sdk_table_matches_users_as_the_sdk)
{
    ts_error err = { 0 };

    sql_ok(SDK_DDL("sdkcase"));
    sql_ok("INSERT INTO tokens.sdkcase (id, user_name, client_id, client_secret, "
           "refresh_token, access_token, expiry_time) VALUES ('1', 'user1@example.com', "
           "'1000.C', 'secret', '1000.r.one', '1000.a.one', '1700000000000'), ('2', "
           "'user2@example.com', '1000.C', 'secret', '1000.r.two', NULL, '1700000000000')");
    /* What the DBStore's `WHERE user_name = %s` answers... */
    ck_assert_int_eq(sql_number("SELECT id FROM tokens.sdkcase WHERE user_name = "
                                "'User1@Example.com'"), 1);
    const char *opts[] = { "table", "sdkcase", NULL };
    ts_store *s = open_with(opts, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    /* ... we answer the same. */
    found_as(s, "User1@Example.com", "1", "1000.r.one");
    found_as(s, "USER1@EXAMPLE.COM", "1", "1000.r.one");
    found_as(s, "user1@example.com  ", "1", "1000.r.one");
    found_as(s, "user2@example.com", "2", "1000.r.two");
    /* Tokens match byte for byte. */
    ts_token *q = ts_token_new();
    ts_token_set(q, TS_FIELD_ACCESS_TOKEN, "1000.A.ONE");
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_NOT_FOUND);
    ts_token_set(q, TS_FIELD_ACCESS_TOKEN, "1000.a.one");
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_ID), "1");
    ts_token_free(q);

    /* A save in another spelling updates the user's row, which takes that
     * spelling as the DBStore's UPDATE ... SET user_name = ... writes it. */
    ts_token *t = ts_token_new();
    ts_token_set(t, TS_FIELD_USER_NAME, "User1@Example.com");
    ts_token_set(t, TS_FIELD_REFRESH_TOKEN, "1000.r.new");
    save_ok(s, t);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "1");
    ts_token_free(t);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM tokens.sdkcase"), 2);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM tokens.sdkcase WHERE id = '1' AND "
                                "user_name = BINARY 'User1@Example.com' AND refresh_token = "
                                "BINARY '1000.r.new' AND access_token = BINARY '1000.a.one'"),
                     1);
    /* A new token for the user, in yet another spelling: still one row. */
    t = make_token("uSeR1@example.COM", "1000.r.third", "");
    save_ok(s, t);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "1");
    ts_token_free(t);
    /* Row 2 renamed to user 1 in capitals would give user 1 two rows. */
    t = make_token("USER1@EXAMPLE.COM", "1000.r.two", "");
    ts_token_set(t, TS_FIELD_ID, "2");
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_CONFLICT);
    ts_token_free(t);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM tokens.sdkcase"), 2);
    found_as(s, "user1@example.com", "1", "1000.r.third");
    ts_store_close(s);
}
END_TEST

/* The SDK's DDL on a latin1 table (a server whose default is latin1
 * makes it so): a user name outside ASCII is stored as latin1 and found
 * back through the connection's utf8mb4. */
START_TEST(test_latin1_table)
{
    ts_error err = { 0 };

    sql_ok(SDK_DDL("latin") " DEFAULT CHARSET latin1");
    const char *opts[] = { "table", "latin", NULL };
    ts_store *s = open_with(opts, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    for (int i = 0; i < 3; i++) {
        char refresh[32];
        snprintf(refresh, sizeof refresh, "1000.refresh.%d", i);
        ts_token *t = make_token("josé@example.com", refresh, "");
        save_ok(s, t);
        ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "1");
        ts_token_free(t);
    }
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM tokens.latin"), 1);
    /* Stored in latin1: é is the one byte E9. */
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM tokens.latin WHERE HEX(user_name) = "
                                "'6A6F73E9406578616D706C652E636F6D'"), 1);
    found_as(s, "josé@example.com", "1", "1000.refresh.2");
    found_as(s, "JOSÉ@example.com", "1", "1000.refresh.2");

    /* A token outside ASCII matches byte for byte there too. */
    ts_token *t = make_token("token@example.com", "1000.refresh.tök", "1000.accès");
    save_ok(s, t);
    ts_token_free(t);
    ts_token *q = ts_token_new();
    ts_token_set(q, TS_FIELD_ACCESS_TOKEN, "1000.accès");
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_ID), "2");
    ts_token_free(q);
    q = ts_token_new();
    ts_token_set(q, TS_FIELD_ACCESS_TOKEN, "1000.ACCÈS");
    ck_assert_int_eq(ts_find_token(s, q, &err), TS_NOT_FOUND);
    ts_token_free(q);

    /* A name latin1 cannot hold is in no row, and a save of it is refused
     * saying why. */
    ck_assert_int_eq(find_user(s, "令牌@example.com", NULL, &err), TS_NOT_FOUND);
    t = make_token("令牌@example.com", "1000.refresh.cjk", "");
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "character set") != NULL, "%s", err.message);
    ts_token_free(t);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM tokens.latin"), 2);
    ts_store_close(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* A server whose default character set is latin1                      */
/* ------------------------------------------------------------------ */

START_TEST(test_latin1_server_gets_a_utf8mb4_table)
{
    ts_error err = { 0 };
    char collations[1024];

    ck_assert_int_eq(server_restart("--character-set-server=latin1 "
                                    "--collation-server=latin1_swedish_ci"), server_port);
    sql_ok("CREATE DATABASE latin; GRANT ALL ON latin.* TO 'app'@'%'");
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE "
                                "SCHEMA_NAME = 'latin' AND DEFAULT_CHARACTER_SET_NAME = "
                                "'latin1'"), 1);
    const char *opts[] = { "database", "latin", NULL };
    ts_store *s = open_with(opts, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    ts_token *t = make_token("José 令牌 ✓@example.com", "1000.refresh.utf8", "");
    save_ok(s, t);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "1");
    ts_token_free(t);
    found_as(s, "José 令牌 ✓@example.com", "1", "1000.refresh.utf8");
    found_as(s, "JOSÉ 令牌 ✓@EXAMPLE.COM", "1", "1000.refresh.utf8");
    ts_store_close(s);
    collations_of("latin", "oauthtoken", collations, sizeof collations);
    ck_assert_str_eq(collations, CREATED_COLLATIONS);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *schema_suite(void)
{
    Suite *s = suite_create("mysql_schema");
    TCase *tc = tcase_create("schema");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_sdk_table_extended_past_ten);
    tcase_add_test(tc, test_created_table_has_the_sdk_columns);
    tcase_add_test(tc, test_missing_columns_are_named);
    tcase_add_test(tc, test_no_id_left_after_the_last);
    tcase_add_test(tc, test_sdk_table_matches_users_as_the_sdk);
    tcase_add_test(tc, test_latin1_table);
    tcase_add_test(tc, test_many_first_opens_at_once);
    tcase_add_test(tc, test_drop_removes_the_tables);
    suite_add_tcase(s, tc);
    /* Last, in a case of its own: it restarts the server with latin1. */
    tc = tcase_create("latin1_server");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_latin1_server_gets_a_utf8mb4_table);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run(schema_suite(), NULL, 0, NULL);
}
