/*
 * tests/file/test_file_fork.c - a file store handle followed into forked
 * children: the cases of tests/fork_cases.h. The writers' lock is an
 * flock() on the lock file, shared by every descriptor of one open file
 * description, which a child inherits: a child that kept its parent's
 * descriptor would write while its parent does, and saves would be lost.
 */
#include <check.h>
#include <stdio.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"
#include "../test_store.h"
#include "../fork_cases.h"

#define HEADER "id,user_name,client_id,client_secret,refresh_token,access_token," \
               "grant_token,expiry_time,redirect_uri,api_domain\r\n"

static char path[512], uri[600];

static void use_file(const char *name)
{
    snprintf(path, sizeof path, "%s/%s", scratch, name);
    snprintf(uri, sizeof uri, "file:%s", path);
}

START_TEST(test_children_save_through_the_parents_handle)
{
    use_file("fork.csv");
    fork_saves(uri, NULL);
}
END_TEST

/* The parent closes and opens its handle while the children save. */
static void reopen(ts_store **parent)
{
    ts_store_close(*parent);
    *parent = fork_open(uri);
}

START_TEST(test_children_save_while_the_parent_reopens)
{
    use_file("reopen.csv");
    fork_saves(uri, reopen);
}
END_TEST

/* The raw backend's host has no token table: the file holds its header
 * only. */
START_TEST(test_lock_held_at_fork)
{
    use_file("lock.csv");
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    fputs(HEADER, fp);
    ck_assert_int_eq(fclose(fp), 0);
    fork_lock("file", path);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("file fork");
    TCase *tc = tcase_create("fork");

    tcase_add_unchecked_fixture(tc, make_scratch, remove_scratch);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_children_save_through_the_parents_handle);
    tcase_add_test(tc, test_children_save_while_the_parent_reopens);
    tcase_add_test(tc, test_lock_held_at_fork);
    suite_add_tcase(suite, tc);
    return run_suite(suite);
}
