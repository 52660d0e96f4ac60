/*
 * tests/file/test_file_faults.c - a file store whose writes fail, and one
 * whose lock file is cut short under it.
 *
 * Each step of a write (writing the new file, its fsync, the rename over
 * the token file, the fsync of the directory) is made to fail in turn: a
 * file size limit for the write (tests/faults.h), this program's own
 * fsync() and renameat() for the others (it is linked with
 * -export-dynamic, so the backend calls them). Every failure must be
 * reported, naming the file, and no save is acknowledged that is not in
 * the file. tests/full-disk.test does the same on a real full tmpfs where
 * it may mount one.
 *
 * The lock file holds the generation counter other processes watch; a
 * store that mapped it into memory would die of SIGBUS when someone
 * truncated it.
 */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"
#include "../test_store.h"
#include "../faults.h"
#include "../fork_cases.h"

static char path[512], uri[600];

static void use_file(const char *name)
{
    snprintf(path, sizeof path, "%s/%s", scratch, name);
    snprintf(uri, sizeof uri, "file:%s", path);
}

/* The names in the scratch directory that are not `keep`'s files. */
static int strays(const char *keep)
{
    DIR *d = opendir(scratch);
    struct dirent *e;
    int n = 0;
    size_t len = strlen(keep);

    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, keep, len) == 0 && strstr(e->d_name, "tokenstore-tmp"))
            n++;
    closedir(d);
    return n;
}

/* 200 saves into a file that may not grow past 2 KiB: those that would
 * pass it fail, say so, and every one acknowledged is in the file. */
START_TEST(test_write_past_size_limit)
{
    static struct save_result r[FULL_SAVES];
    int acked, failed;

    use_file("limit.csv");
    under_size_limit(2048, saves_until_full, uri, r, FULL_SAVES);
    check_saves(uri, path, r, &acked, &failed);
    ck_assert_msg(acked > 0 && failed > 0, "%d acknowledged, %d failed: the limit did not bite",
                  acked, failed);
    ck_assert_int_eq(strays("limit.csv"), 0);
}
END_TEST

/* A save whose `fault` fails: reported naming the file; the store still
 * holds what it held (stored says whether the failed save may be there:
 * a failed sync of the directory comes after the rename); a later save
 * works. */
static void failed_step(enum fault fault, int stored, const char *says)
{
    ts_store *s;
    ts_error err = { 0 };

    ck_assert_int_eq(open_uri(&s, uri, &err), TS_OK);
    ts_token *kept = make_token("kept@x.com", "1000.r-kept", "1000.a-kept");
    ts_token *failed = make_token("kept@x.com", "1000.r-failed", "1000.a-failed");
    ts_token *later = make_token("later@x.com", "1000.r-later", "1000.a-later");
    save_ok(s, kept);

    fault_armed = fault;
    int rc = ts_save_token(s, failed, &err);
    fault_armed = FAULT_NONE;
    ck_assert_int_gt(fault_hits, 0);
    ck_assert_msg(rc == TS_ERR_IO && strstr(err.message, path) && strstr(err.message, says),
                  "a failed step was answered %s: %s", ts_strerror(rc), err.message);
    ck_assert_int_eq(strays(path + strlen(scratch) + 1), 0);

    ts_token *row;
    ck_assert_int_eq(find_user(s, "kept@x.com", &row, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(row, TS_FIELD_REFRESH_TOKEN),
                     stored ? "1000.r-failed" : "1000.r-kept");
    ts_token_free(row);
    save_ok(s, later);
    ts_store_close(s);

    ck_assert_int_eq(open_uri(&s, uri, &err), TS_OK);
    ck_assert_int_eq(find_user(s, "kept@x.com", &row, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(row, TS_FIELD_REFRESH_TOKEN),
                     stored ? "1000.r-failed" : "1000.r-kept");
    ts_token_free(row);
    ck_assert_int_eq(find_user(s, "later@x.com", NULL, &err), TS_OK);
    ts_store_close(s);
    ts_token_free(kept);
    ts_token_free(failed);
    ts_token_free(later);
}

START_TEST(test_failed_fsync_is_reported)
{
    use_file("fsync.csv");
    failed_step(FAULT_FSYNC, 0, "cannot write");
}
END_TEST

START_TEST(test_failed_rename_is_reported)
{
    use_file("rename.csv");
    failed_step(FAULT_RENAME, 0, "cannot write");
}
END_TEST

START_TEST(test_failed_directory_sync_is_reported)
{
    use_file("dirsync.csv");
    failed_step(FAULT_FSYNC_DIR, 1, "could not sync the directory");
}
END_TEST

/* ---------------------------------------------------------------- the lock file cut short */

enum { USERS = 3, USER_SAVES = 60 };

/* A process using the store: saves, and reads back its own and the
 * others' tokens, each answer a byte on the pipe. */
static void user(int k, int fd)
{
    char who[16], answers[USER_SAVES];
    ts_store *s = fork_open(uri);
    ts_error err = { 0 };

    snprintf(who, sizeof who, "c%d", k);
    for (int i = 0; i < USER_SAVES; i++) {
        answers[i] = fork_save(s, who, i, &err) == TS_OK ? '+' : '-';
        char other[16];
        snprintf(other, sizeof other, "c%d", (k + 1) % USERS);
        fork_saved(s, other, i);
        if (answers[i] == '+' && !fork_saved(s, who, i))
            answers[i] = '?';
    }
    ts_store_close(s);
    _exit(write(fd, answers, sizeof answers) == (ssize_t)sizeof answers ? 0 : 3);
}

START_TEST(test_lock_file_truncated_under_users)
{
    char lock[600];
    pid_t pids[USERS];
    int fds[USERS][2], status[USERS], done[USERS] = { 0 }, running = USERS;

    use_file("cut.csv");
    snprintf(lock, sizeof lock, "%s.lock", path);
    ts_store_close(fork_open(uri));         /* the file and its lock file */
    for (int k = 0; k < USERS; k++) {
        ck_assert_int_eq(pipe(fds[k]), 0);
        pids[k] = fork();
        ck_assert_int_ge(pids[k], 0);
        if (pids[k] == 0) {
            close(fds[k][0]);
            user(k, fds[k][1]);
        }
        close(fds[k][1]);
    }
    /* Cut the lock file to nothing, again and again, while they work. */
    int cuts = 0;
    while (running > 0) {
        ck_assert_int_eq(truncate(lock, 0), 0);
        cuts++;
        struct timespec pause = { 0, 300000 };
        nanosleep(&pause, NULL);
        for (int k = 0; k < USERS; k++)
            if (!done[k] && waitpid(pids[k], &status[k], WNOHANG) == pids[k]) {
                done[k] = 1;
                running--;
            }
    }
    ts_store *s = fork_open(uri);
    for (int k = 0; k < USERS; k++) {
        char answers[USER_SAVES], who[16];
        ssize_t got = read(fds[k][0], answers, sizeof answers);
        close(fds[k][0]);
        ck_assert_msg(WIFEXITED(status[k]) && WEXITSTATUS(status[k]) == 0 &&
                      got == (ssize_t)sizeof answers,
                      "process %d died while the lock file was being cut (%s %d)", k,
                      WIFSIGNALED(status[k]) ? "signal" : "exit",
                      WIFSIGNALED(status[k]) ? WTERMSIG(status[k]) : WEXITSTATUS(status[k]));
        snprintf(who, sizeof who, "c%d", k);
        for (int i = 0; i < USER_SAVES; i++) {
            ck_assert_msg(answers[i] == '+', "process %d, save %d: %s", k, i,
                          answers[i] == '?' ? "not read back" : "failed");
            ck_assert_msg(fork_saved(s, who, i), "process %d, save %d is lost", k, i);
        }
    }
    ck_assert_int_gt(cuts, 10);
    ts_store_close(s);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("file faults");
    TCase *tc = tcase_create("last step");

    tcase_add_unchecked_fixture(tc, make_scratch, remove_scratch);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_write_past_size_limit);
    tcase_add_test(tc, test_failed_fsync_is_reported);
    tcase_add_test(tc, test_failed_rename_is_reported);
    tcase_add_test(tc, test_failed_directory_sync_is_reported);
    suite_add_tcase(suite, tc);

    tc = tcase_create("lock file");
    tcase_add_unchecked_fixture(tc, make_scratch, remove_scratch);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_lock_file_truncated_under_users);
    suite_add_tcase(suite, tc);
    return run_suite(suite);
}
