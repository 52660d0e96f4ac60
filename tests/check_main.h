/*
 * tests/check_main.h - the few lines every Check program shares.
 *
 * The Makefile sets CK_TAP_LOG_FILE_NAME=-, so Check itself prints one TAP
 * line per test; running silent keeps its own summary out of that stream.
 */
#ifndef TS_CHECK_MAIN_H
#define TS_CHECK_MAIN_H

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A scratch directory for an unchecked fixture: make_scratch creates it,
 * remove_scratch deletes it with everything in it. */
static char scratch[256];

static inline void make_scratch(void)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(scratch, sizeof scratch, "%s/tokenstore-test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(scratch))
        abort();
}

static inline int remove_entry(const char *path, const struct stat *st, int flag,
                               struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void remove_scratch(void)
{
    nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The wall clock in ms, as the stores' expiry times and ttls count it. */
static inline long long wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs child(k, arg) for k = 0 .. n - 1 (n at most 16), each in a
 * forked process, all released at once; each process exits with what
 * child returns, and every one must exit with 0. Their pids go to pids
 * (may be NULL). */
static inline void run_processes(int n, int (*child)(int k, void *arg), void *arg, pid_t *pids)
{
    pid_t kids[16];
    int go[2];

    ck_assert_int_le(n, 16);
    ck_assert_int_eq(pipe(go), 0);
    for (int k = 0; k < n; k++) {
        kids[k] = fork();
        ck_assert_int_ge(kids[k], 0);
        if (kids[k] == 0) {
            char c;
            close(go[1]);
            _exit(read(go[0], &c, 1) == 0 ? child(k, arg) : 99);
        }
        if (pids)
            pids[k] = kids[k];
    }
    close(go[0]);
    close(go[1]);               /* all start */
    for (int k = 0; k < n; k++) {
        int status;
        ck_assert_int_eq(waitpid(kids[k], &status, 0), kids[k]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "process %d: status %#x",
                      k, status);
    }
}

/* Runs every test of the suite, each in its own process, and returns the
 * program's exit status. */
static inline int run_suite(Suite *suite)
{
    SRunner *runner = srunner_create(suite);
    int failed;

    srunner_run_all(runner, CK_SILENT);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
