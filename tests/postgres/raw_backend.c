/*
 * tests/postgres/raw_backend.c - the postgres backend with a host of the
 * test's own, for the members that have no public API: the mysql tests'
 * tests/mysql/raw_backend.c (which raw_backend.h there describes), built
 * for postgres, whose database option is dbname. The defaults it gives
 * (127.0.0.1, the harness's port, user app) are this harness's too.
 */
#define RAW_BACKEND "postgres"
#define RAW_DATABASE_OPTION "dbname"
#include "../mysql/raw_backend.c"
