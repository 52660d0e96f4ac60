/*
 * tests/mysql/raw_backend.h - the mysql backend's own table, loaded with
 * dlopen() and a host of the test's, for the members that have no public
 * API (the notes and the log, which the OAuth client reaches through the
 * core): a test calls them directly, on handles of its own.
 */
#ifndef TS_TEST_MYSQL_RAW_BACKEND_H
#define TS_TEST_MYSQL_RAW_BACKEND_H

#include <tokenstore/backend.h>

/* The backend's table, loaded on first use. */
const ts_backend *raw_backend(void);
/* A handle on table `table` of database tokens as user app (the harness's
 * server), opened with TS_OPEN_* flags; more options as key, value pairs
 * ending in NULL (may be NULL). NULL, with err filled, on failure. */
void *raw_open(const char *table, unsigned flags, const char *const *options, ts_error *err);
void raw_close(void *state);

#endif
