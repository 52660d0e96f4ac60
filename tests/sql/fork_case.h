/*
 * tests/sql/fork_case.h - the fork() case the mysql and postgres backends
 * share, against a real server of the program's own: CHILDREN children
 * save on the handle they inherited while the parent keeps finding on it.
 *
 * The including test includes its harness.h first, creates user forker
 * (password FORKER_PASSWORD) with rights on table forked, and defines
 * forker_sessions(out, n) (the server's ids of forker's sessions, joined
 * by commas in order), forked_number(query) (a number from SQL that may
 * read table forked), FORKED_MATCHING_SQL (how many rows of forked hold
 * the refresh token their user name says) and FORKED_IDS_SQL (how many
 * distinct ids it holds).
 */
#ifndef TS_TEST_SQL_FORK_CASE_H
#define TS_TEST_SQL_FORK_CASE_H

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <tokenstore/tokenstore.h>
#include "../test_store.h"

enum { CHILDREN = 4, CHILD_SAVES = 200 };

/* A child saving on the store it inherited; its exit status says whether
 * every save was acknowledged. */
static void forked_writer(ts_store *s, int k)
{
    alarm(150);
    if (save_series(s, "child", k, CHILD_SAVES) != TS_OK)
        _exit(1);
    ts_store_close(s);
    _exit(0);
}

/*
 * CHILDREN children save CHILD_SAVES tokens each on the handle they
 * inherited, and one more only closes it, while the parent keeps finding
 * on it. Every acknowledged save is stored, and the parent's session on
 * the server is the one it had before: no child spoke on it (a goodbye
 * or a statement's close from a child would have ended or upset it).
 */
START_TEST(test_fork_children_save_while_parent_finds)
{
    const char *opts[] = { "table", "forked", "user", "forker", "password", FORKER_PASSWORD,
                           NULL };
    ts_error err = { 0 };
    char before[256], after[256] = "";
    pid_t kids[CHILDREN + 1];
    struct timespec t0;
    ts_store *s = open_with(opts, &err);

    ck_assert_msg(s != NULL, "%s", err.message);
    ck_assert_int_eq(ts_delete_tokens(s, &err), TS_OK);
    ck_assert_int_eq(save_user(s, "parent@example.com"), 1);
    forker_sessions(before, sizeof before);
    ck_assert_msg(before[0] && !strchr(before, ','), "sessions: '%s'", before);
    for (int k = 0; k <= CHILDREN; k++) {
        kids[k] = fork();
        ck_assert(kids[k] >= 0);
        if (kids[k] == 0 && k == CHILDREN) {
            ts_store_close(s);          /* a child that only lets go */
            _exit(0);
        }
        if (kids[k] == 0)
            forked_writer(s, k);
    }
    int left = CHILDREN + 1, failed = 0;
    long finds = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (left > 0 && seconds_since(&t0) < 160) {
        ck_assert_msg(find_user(s, "parent@example.com", NULL, &err) == TS_OK, "%s",
                      err.message);
        finds++;
        for (int k = 0; k <= CHILDREN; k++) {
            int status;
            if (kids[k] > 0 && waitpid(kids[k], &status, WNOHANG) == kids[k]) {
                failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
                kids[k] = 0;
                left--;
            }
        }
    }
    for (int k = 0; k <= CHILDREN; k++)
        if (kids[k] > 0) {
            kill(kids[k], SIGKILL);
            waitpid(kids[k], NULL, 0);
        }
    ck_assert_msg(left == 0, "%d children still running after %.0f s", left,
                  seconds_since(&t0));
    ck_assert_int_eq(failed, 0);
    ck_assert(finds > 0);
    ck_assert_int_eq(forked_number(FORKED_MATCHING_SQL), CHILDREN * CHILD_SAVES);
    ck_assert_int_eq(forked_number(FORKED_IDS_SQL), CHILDREN * CHILD_SAVES + 1);
    /* The children's own sessions end as they exit. */
    for (int i = 0; i < 100 && strcmp(after, before) != 0; i++) {
        if (i)
            usleep(100000);
        forker_sessions(after, sizeof after);
    }
    ck_assert_str_eq(after, before);
    ck_assert_int_eq(save_user(s, "after@example.com"), CHILDREN * CHILD_SAVES + 2);
    ts_store_close(s);
}
END_TEST

#endif
