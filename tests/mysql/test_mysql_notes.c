/*
 * tests/mysql/test_mysql_notes.c - the mysql backend's notes and refresh
 * log (ABI 1.4's note_set, note_get, log_append, log_walk) against a real
 * MariaDB server. What they are for, the OAuth client's backoff and
 * refresh log seen by every process sharing the store, is
 * tests/oauth/test_processes.c (tests/oauth/processes-mysql.test).
 *
 * The cases the postgres backend shares are tests/sql/notes_cases.h;
 * here are MySQL's own: what its columns cannot hold (names past 191
 * characters, trailing spaces, values past a TEXT), its table's
 * definition and checksum, and names at its 64-character limit.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tokenstore/tokenstore.h>
#include "harness.h"
#include "../sql/notes_cases.h"

/* Table sdk's definition and a checksum of its rows. */
static void sdk_state(char *out, size_t n)
{
    char def[1024], sum[128];

    ck_assert_int_eq(sql("SHOW CREATE TABLE tokens.sdk", def, sizeof def), 0);
    ck_assert_int_eq(sql("CHECKSUM TABLE tokens.sdk EXTENDED", sum, sizeof sum), 0);
    snprintf(out, n, "%s | %s", def, sum);
}

START_TEST(note_removed_replaced_and_empty)
{
    void *h = open_ok("removal");

    notes_removal_cases(h);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM tokens.removal_notes"), 2);
    raw_close(h);
}
END_TEST

START_TEST(note_too_big_for_the_buffer)
{
    void *h = open_ok("buffer");

    notes_buffer_cases(h);
    raw_close(h);
}
END_TEST

/* What MySQL cannot keep apart or hold is refused, saying why. */
START_TEST(note_names_and_values_mysql_cannot_hold)
{
    char name[256], v[16];
    void *h = open_ok("names");

    memset(name, 'n', 192);
    name[192] = '\0';
    ck_assert_int_eq(note_set(h, name, "x", 0), TS_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "191"), "%s", err.message);
    name[191] = '\0';
    raw_note_set_ok(h, name, "x", 0);
    ck_assert_int_eq(note_get(h, name, v, sizeof v), TS_OK);
    raw_note_set_ok(h, "pad", "p", 0);
    ck_assert_int_eq(note_set(h, "pad ", "q", 0), TS_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "space"), "%s", err.message);
    ck_assert_int_eq(note_get(h, "pad ", v, sizeof v), TS_ERR_INVALID);
    ck_assert_int_eq(note_get(h, "pad", v, sizeof v), TS_OK);
    ck_assert_str_eq(v, "p");
    char *big = malloc(70000);
    memset(big, 'b', 69999);
    big[69999] = '\0';
    ck_assert_int_eq(note_set(h, "big", big, 0), TS_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "names_notes"), "%s", err.message);
    free(big);
    raw_close(h);
}
END_TEST

/* Each store's tables are its own, also for names that MySQL's 64
 * characters leave no room to suffix; the SDK's table is left as it was. */
START_TEST(stores_apart_and_the_sdk_table_untouched)
{
    char v[16], long_a[65], long_b[65];

    notes_sdk_untouched(sdk_state);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE "
                                "TABLE_SCHEMA = 'tokens' AND TABLE_NAME = 'sdk'"), 10);

    memset(long_a, 'l', 64);
    long_a[64] = '\0';
    memcpy(long_b, long_a, sizeof long_b);
    long_b[63] = 'm';
    void *a = open_ok(long_a), *b = open_ok(long_b);
    raw_note_set_ok(a, "n", "a", 0);
    raw_note_set_ok(b, "n", "b", 0);
    ck_assert_int_eq(note_get(a, "n", v, sizeof v), TS_OK);
    ck_assert_str_eq(v, "a");
    ck_assert_int_eq(note_get(b, "n", v, sizeof v), TS_OK);
    ck_assert_str_eq(v, "b");
    ck_assert_int_eq(tables_named("lll%\\_notes"), 2);
    raw_close(a);
    raw_close(b);
}
END_TEST

/* A user who may not make the side tables hears which table and what
 * privilege, and nothing of the token table is touched. */
START_TEST(missing_privilege_names_the_side_table)
{
    notes_denied("CREATE", NULL);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *notes_suite(void)
{
    Suite *s = suite_create("mysql notes");
    TCase *tc = tcase_create("notes");

    tcase_set_timeout(tc, 120);
    notes_cases_add(tc);
    tcase_add_test(tc, note_removed_replaced_and_empty);
    tcase_add_test(tc, note_too_big_for_the_buffer);
    tcase_add_test(tc, note_names_and_values_mysql_cannot_hold);
    tcase_add_test(tc, stores_apart_and_the_sdk_table_untouched);
    tcase_add_test(tc, missing_privilege_names_the_side_table);
    suite_add_tcase(s, tc);
    return s;
}

static const char setup_sql[] =
    SDK_DDL("narrow") ";"
    "CREATE USER 'narrow'@'%' IDENTIFIED BY '" NARROW_PASSWORD "';"
    "GRANT SELECT, INSERT, UPDATE, DELETE ON tokens.narrow TO 'narrow'@'%';";

int main(void)
{
    return harness_run(notes_suite(), setup_sql, 0, NULL);
}
