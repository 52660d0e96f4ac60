/*
 * tests/unit/check_main.h - the few lines every Check program shares.
 *
 * The Makefile sets CK_TAP_LOG_FILE_NAME=-, so Check itself prints one TAP
 * line per test; running silent keeps its own summary out of that stream.
 */
#ifndef TS_CHECK_MAIN_H
#define TS_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

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
