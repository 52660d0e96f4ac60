/*
 * tests/postgres/harness.h - what the postgres backend's Check programs
 * share: a PostgreSQL server of their own (tests/postgres/server.sh: its
 * own cluster, socket directory and port), started by harness_run before
 * the suite and stopped from an atexit handler and on SIGINT, SIGTERM,
 * SIGHUP and SIGPIPE, so a failing test never leaves a server behind; SQL
 * run as the superuser over its socket; and stores opened on it.
 *
 * Every program gets database `tokens`, owned by user `app` (password
 * APP_PASSWORD); its own setup SQL, run in that database, adds the rest.
 * The names server_dir and harness_is_owner are the mysql harness's too,
 * so the fake accounts server of tests/mysql/accounts.c serves both.
 */
#ifndef TS_TEST_POSTGRES_HARNESS_H
#define TS_TEST_POSTGRES_HARNESS_H

#include <check.h>
#include <limits.h>
#include <stddef.h>
#include <tokenstore/tokenstore.h>

#define APP_PASSWORD "app-Pa55word"

/* The SDK DBStore's CREATE TABLE, in PostgreSQL's types. */
#define SDK_DDL(table)                                                                  \
    "CREATE TABLE " table " (id varchar(10) NOT NULL, user_name varchar(255), "         \
    "client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), "  \
    "access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), "    \
    "redirect_url varchar(255), api_domain varchar(255), primary key (id))"

extern char server_dir[PATH_MAX];   /* the server's directory, the tests' scratch too */
extern int server_port;
/* Server arguments a program sets before harness_run (may stay NULL),
 * kept across restarts. */
extern const char *server_args;

/* server.sh start with `extra` server arguments (may be NULL), on port
 * `want` (0: any free one); the port, 0 on failure. */
int server_start(int want, const char *extra);
void server_stop(void);
/* Stops the server and starts it again on its port; the port, 0 on failure. */
int server_restart(const char *extra);
/* Has the server reread its settings and pg_hba.conf; 0 when done. */
int server_reload(void);
/* Runs `sh server.sh ARGS` (args as the shell reads them); its status. */
int server_sh(const char *args);
/* The path of tests/postgres/server.sh. */
const char *server_script(void);

/* Runs SQL as user app in database tokens (admin_sql: as the superuser;
 * sql_in: as the superuser in db, the server in dir); the first line of
 * its output goes to out. The client's exit status, -1 when it could not
 * be run. No assertion. */
int sql(const char *query, char *out, size_t n);
int admin_sql(const char *query, char *out, size_t n);
int sql_in(const char *dir, const char *db, const char *query, char *out, size_t n);
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
/* The URI of table `table` as user app over TCP. */
const char *app_uri(const char *table);

/* Runs the suite against a server of the program's own, made with
 * setup_sql after the common setup; then `ready` (may be NULL) starts
 * what else the program needs, and 0 from it bails out. Returns the
 * program's exit status. */
int harness_run(Suite *suite, const char *setup_sql, int (*ready)(void));
/* Whether this is the process that started the server (Check runs each
 * test in a child of it): exit handlers act only there. */
int harness_is_owner(void);
/* Runs a shell command; its stdout (the first n - 1 bytes) in out; the
 * exit status. */
int run_cmd(const char *cmd, char *out, size_t n);
/* The tokenstore command of this build. */
const char *cli(void);

#endif
