/*
 * tests/mysql/harness.h - what the mysql backend's Check programs share: a
 * MariaDB server of their own (tests/mysql/server.sh: its own data
 * directory, socket and port), started by harness_run before the suite
 * and stopped when the program ends, however it ends, so a failing test
 * never leaves a server behind; SQL run as root over its socket; and
 * stores opened on it. What the postgres harness has too is in
 * tests/sql/harness.h.
 *
 * Every program gets database `tokens` and user `app` (password
 * APP_PASSWORD, all rights on it); its own setup SQL adds the rest.
 */
#ifndef TS_TEST_MYSQL_HARNESS_H
#define TS_TEST_MYSQL_HARNESS_H

#include <check.h>
#include "../sql/harness.h"

/* The SDK DBStore's CREATE TABLE (no character set: the server's). */
#define SDK_DDL(table)                                                                  \
    "CREATE TABLE tokens." table " (id varchar(10) NOT NULL, user_name varchar(255), "  \
    "client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), "  \
    "access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), "    \
    "redirect_url varchar(255), api_domain varchar(255), primary key (id))"

/* Table t of database tokens in SQL; a query counting the tables there
 * whose name is LIKE its %s. */
#define TOKENS_TABLE(t) "tokens." t
#define TABLES_LIKE                                                                     \
    "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'tokens' AND " \
    "TABLE_NAME LIKE '%s'"

extern char server_sock[PATH_MAX + 16];

/* sql() runs SQL as root. */

/* Runs the suite against a server of the program's own, made with
 * setup_sql after the common setup; then `ready` (may be NULL) starts
 * what else the program needs, and 0 from it bails out. With tls, the
 * server has a test certificate for 127.0.0.1 and localhost
 * (server_dir/server-cert.pem, its own CA), and server_dir/other-cert.pem
 * is one that signed nothing. Returns the program's exit status. */
int harness_run(Suite *suite, const char *setup_sql, int tls, int (*ready)(void));

#endif
