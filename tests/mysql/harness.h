/*
 * tests/mysql/harness.h - what the mysql backend's Check programs share: a
 * MariaDB server of their own (tests/mysql/server.sh: its own data
 * directory, socket and port), started by harness_run before the suite
 * and stopped from an atexit handler and on SIGINT, SIGTERM, SIGHUP and
 * SIGPIPE, so a failing test never leaves a server behind; SQL run as
 * root over its socket; and stores opened on it.
 *
 * Every program gets database `tokens` and user `app` (password
 * APP_PASSWORD, all rights on it); its own setup SQL adds the rest.
 */
#ifndef TS_TEST_MYSQL_HARNESS_H
#define TS_TEST_MYSQL_HARNESS_H

#include <check.h>
#include <limits.h>
#include <stddef.h>
#include <tokenstore/tokenstore.h>

#define APP_PASSWORD "app-Pa55word"

/* The SDK DBStore's CREATE TABLE (no character set: the server's). */
#define SDK_DDL(table)                                                                  \
    "CREATE TABLE tokens." table " (id varchar(10) NOT NULL, user_name varchar(255), "  \
    "client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), "  \
    "access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), "    \
    "redirect_url varchar(255), api_domain varchar(255), primary key (id))"

extern char server_dir[PATH_MAX];   /* the server's directory, the tests' scratch too */
extern char server_sock[PATH_MAX + 16];
extern int server_port;

/* server.sh start with the program's server arguments and `extra` (may
 * be NULL), on port `want` (0: any free one); the port, 0 on failure. */
int server_start(int want, const char *extra);
void server_stop(void);
/* Stops the server and starts it again on its port with `extra` added
 * to its arguments; the port, 0 on failure. */
int server_restart(const char *extra);

/* Runs SQL as root; the first line of its output goes to out. The
 * client's exit status, -1 when it could not be run. No assertion. */
int sql(const char *query, char *out, size_t n);
void sql_ok(const char *query);
long long sql_number(const char *query);

/* A store on the server; options are key, value pairs ending in NULL.
 * The TCP defaults (127.0.0.1, the server's port, user app, database
 * tokens) apply unless the options name their own. NULL on failure. */
ts_store *open_flags_with(unsigned flags, const char *const *options, ts_error *err);
ts_store *open_with(const char *const *options, ts_error *err);
/* A store on table `table` of database tokens, emptied. */
ts_store *open_table(const char *table);
/* Saves a new token for user; returns its id. */
long long save_user(ts_store *s, const char *user);

/* Runs the suite against a server of the program's own, made with
 * setup_sql after the common setup; then `ready` (may be NULL) starts
 * what else the program needs, and 0 from it bails out. With tls, the
 * server has a test certificate for 127.0.0.1 and localhost
 * (server_dir/server-cert.pem, its own CA), and server_dir/other-cert.pem
 * is one that signed nothing. Returns the program's exit status. */
int harness_run(Suite *suite, const char *setup_sql, int tls, int (*ready)(void));
/* Whether this is the process that started the server (Check runs each
 * test in a child of it): exit handlers act only there. */
int harness_is_owner(void);

#endif
