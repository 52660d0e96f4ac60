/*
 * tests/sqlite/test_sqlite_fork.c - a sqlite store handle followed into
 * forked children: the cases of tests/fork_cases.h, and one the sqlite
 * backend adds. SQLite keeps the locks a process believes it holds once
 * per file for the whole process, so a child must let go of every
 * connection it inherited, whichever handle holds it, before it opens one
 * of its own (plugins/sqlite/fork.c says why).
 */
#include <check.h>
#include <stdio.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"
#include "../test_store.h"
#include "../fork_cases.h"

static char db[512], uri[600];

static void use_db(const char *name)
{
    snprintf(db, sizeof db, "%s/%s", scratch, name);
    snprintf(uri, sizeof uri, "sqlite:%s", db);
}

START_TEST(test_children_save_through_the_parents_handle)
{
    use_db("fork.db");
    fork_saves(uri, NULL);
}
END_TEST

/* The children also inherit a second handle on the same database, which
 * they never use; meanwhile the parent closes every connection it has, so
 * that its last close would checkpoint and delete the WAL if no child held
 * a lock on the database. */
static ts_store *second;

static void close_everything(ts_store **parent)
{
    ts_store_close(second);
    ts_store_close(*parent);
    *parent = fork_open(uri);
}

START_TEST(test_children_save_beside_a_second_handle)
{
    use_db("two.db");
    second = fork_open(uri);
    ck_assert_uint_eq(count_tokens(second), 0);
    fork_saves(uri, close_everything);
}
END_TEST

START_TEST(test_lock_held_at_fork)
{
    use_db("lock.db");
    fork_lock("sqlite", db);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("sqlite fork");
    TCase *tc = tcase_create("fork");

    tcase_add_unchecked_fixture(tc, make_scratch, remove_scratch);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_children_save_through_the_parents_handle);
    tcase_add_test(tc, test_children_save_beside_a_second_handle);
    tcase_add_test(tc, test_lock_held_at_fork);
    suite_add_tcase(suite, tc);
    return run_suite(suite);
}
