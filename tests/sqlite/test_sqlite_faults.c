/*
 * tests/sqlite/test_sqlite_faults.c - a sqlite store whose writes fail at
 * the last step: a save is acknowledged only when its COMMIT succeeded,
 * and a failed one is reported, naming the database file.
 *
 * A full disk is stood in for by a file size limit (tests/faults.h), so
 * that the log's writes at COMMIT fail with EFBIG as they would with
 * ENOSPC; a failing sync, with synchronous=FULL, by this program's own
 * fdatasync() and fsync(), which SQLite calls (the program is linked with
 * -export-dynamic). tests/full-disk.test does the same on a real full
 * tmpfs where it may mount one.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"
#include "../test_store.h"
#include "../faults.h"

static char db[512], uri[600];

/* Each test's own database in the scratch directory. */
static void use_db(const char *name)
{
    snprintf(db, sizeof db, "%s/%s", scratch, name);
    snprintf(uri, sizeof uri, "sqlite:%s", db);
}

/* 200 saves into a database that may not grow past 256 KiB: those that
 * reach the limit fail, say so, and every one that was acknowledged is
 * there when the store is opened again. */
START_TEST(test_commit_past_size_limit)
{
    static struct save_result r[FULL_SAVES];
    int acked, failed;

    use_db("limit.db");
    under_size_limit(256 * 1024, saves_until_full, uri, r, FULL_SAVES);
    check_saves(uri, db, r, &acked, &failed);
    ck_assert_msg(acked > 0 && failed > 0, "%d acknowledged, %d failed: the limit did not bite",
                  acked, failed);
}
END_TEST

/* With synchronous=FULL every COMMIT syncs the log; a sync that fails
 * fails the save, which a later save (the fault gone) does not undo. */
START_TEST(test_failed_sync_is_reported)
{
    char full[700];
    ts_store *s;
    ts_error err = { 0 };

    use_db("sync.db");
    snprintf(full, sizeof full, "%s?synchronous=FULL", uri);
    ck_assert_msg(open_uri(&s, full, &err) == TS_OK, "%s", err.message);
    ts_token *kept = make_token("kept@x.com", "1000.r-kept", "1000.a-kept");
    ts_token *lost = make_token("lost@x.com", "1000.r-lost", "1000.a-lost");
    ts_token *later = make_token("later@x.com", "1000.r-later", "1000.a-later");
    save_ok(s, kept);

    fault_armed = FAULT_FSYNC;
    int rc = ts_save_token(s, lost, &err);
    fault_armed = FAULT_NONE;
    ck_assert_int_gt(fault_hits, 0);
    ck_assert_msg(rc == TS_ERR_IO && strstr(err.message, db) && strstr(err.message, "commit"),
                  "a failed sync was answered %s: %s", ts_strerror(rc), err.message);
    ck_assert_str_eq(ts_token_get(lost, TS_FIELD_ID), "");    /* no id handed out */

    /* An update fails the same way. */
    ts_token_set(kept, TS_FIELD_ACCESS_TOKEN, "1000.a-kept2");
    fault_armed = FAULT_FSYNC;
    rc = ts_save_token(s, kept, &err);
    fault_armed = FAULT_NONE;
    ck_assert_int_eq(rc, TS_ERR_IO);

    save_ok(s, later);
    ts_store_close(s);

    ck_assert_int_eq(open_uri(&s, uri, &err), TS_OK);
    ts_token *row;
    ck_assert_int_eq(find_user(s, "later@x.com", &row, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(row, TS_FIELD_REFRESH_TOKEN), "1000.r-later");
    ts_token_free(row);
    ck_assert_int_eq(find_user(s, "kept@x.com", &row, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(row, TS_FIELD_REFRESH_TOKEN), "1000.r-kept");
    ts_token_free(row);
    ts_store_close(s);
    ts_token_free(kept);
    ts_token_free(lost);
    ts_token_free(later);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("sqlite faults");
    TCase *tc = tcase_create("last step");

    tcase_add_unchecked_fixture(tc, make_scratch, remove_scratch);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_commit_past_size_limit);
    tcase_add_test(tc, test_failed_sync_is_reported);
    suite_add_tcase(suite, tc);
    return run_suite(suite);
}
