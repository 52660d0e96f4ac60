/*
 * tests/sql/harness.h - what the mysql and postgres test harnesses have in
 * common: a database server of the program's own, driven with the
 * backend's tests/NAME/server.sh (its own directory, socket and port),
 * stopped from an atexit handler and on SIGINT, SIGTERM, SIGHUP and
 * SIGPIPE; SQL run through that script's `sql` command; and stores opened
 * on the server with the test's defaults.
 *
 * The two servers differ in how they are set up, in their users and in
 * the names of their connection options, so each backend's harness.c
 * defines harness_backend (its name and option defaults) and its own
 * harness_run; everything here is written once, in tests/sql/harness.c.
 * Each backend's harness.h includes this file and adds its own.
 */
#ifndef TS_TEST_SQL_HARNESS_H
#define TS_TEST_SQL_HARNESS_H

#include <limits.h>
#include <stddef.h>
#include <time.h>
#include <tokenstore/tokenstore.h>

#define APP_PASSWORD "app-Pa55word"

/* An option open_flags_with sets when the test's options name none of
 * `unless` (names separated by spaces); a NULL value is the server's
 * port. */
struct harness_default {
    const char *key, *value, *unless;
};

/* What a backend's harness.c defines. */
struct harness_backend {
    const char *name;           /* the backend's, its directory's under tests/ and plugins/ */
    const char *server;         /* "MariaDB", for messages */
    const char *scheme;         /* of app_uri's URIs */
    const struct harness_default *defaults;     /* ends with a NULL key */
};
extern const struct harness_backend harness_backend;

extern char server_dir[PATH_MAX];   /* the server's directory, the tests' scratch too */
extern int server_port;
/* Server arguments (may stay NULL) the program sets before the server
 * starts, kept across restarts. */
extern const char *server_args;

/* server.sh start with server_args and `extra` server arguments (may be
 * NULL), on port `want` (0: any free one); the port, 0 on failure. */
int server_start(int want, const char *extra);
void server_stop(void);
/* Stops the server and starts it again on its port with `extra` added
 * to its arguments; the port, 0 on failure. */
int server_restart(const char *extra);
/* Runs `sh server.sh ARGS` (args as the shell reads them); its status. */
int server_sh(const char *args);
/* The path of tests/NAME/server.sh. */
const char *server_script(void);

/* Runs `server.sh sql DIR QUERY TAIL`, tail being more words for the
 * shell (may be ""); the first line of its output goes to out. The
 * client's exit status, -1 when it could not be run. No assertion. */
int server_sql(const char *dir, const char *query, const char *tail, char *out, size_t n);
/* The backend's own: SQL as the tests' usual user; then, asserting that
 * it ran, with no result, and its first line as a number. */
int sql(const char *query, char *out, size_t n);
void sql_ok(const char *query);
long long sql_number(const char *query);

/* A store on the server; options are key, value pairs ending in NULL.
 * The defaults (127.0.0.1, the server's port, user app, database tokens)
 * apply unless the options name their own. NULL on failure. */
ts_store *open_flags_with(unsigned flags, const char *const *options, ts_error *err);
ts_store *open_with(const char *const *options, ts_error *err);
/* A store on table `table` of database tokens, emptied. */
ts_store *open_table(const char *table);
/* An open with TS_OPEN_* flags and options that fails with error
 * `code`, its message holding `says`. */
void open_refused(unsigned flags, const char *const *options, int code, const char *says);
/* Saves `count` tokens on s, the i-th for user WHOk-i@example.com with
 * refresh token 1000.refresh.k.i; TS_OK, or the first failure's code
 * (said on stderr). No assertion, so a child may call it. */
int save_series(ts_store *s, const char *who, int k, int count);
/* Saves a new token for user; returns its id. */
long long save_user(ts_store *s, const char *user);
/* The URI of table `table` of database tokens as user app over TCP. */
const char *app_uri(const char *table);

/* Runs a shell command; its stdout (the first n - 1 bytes) in out; the
 * exit status. */
int run_cmd(const char *cmd, char *out, size_t n);
/* The tokenstore command of this build. */
const char *cli(void);
/* Seconds on the monotonic clock since t0. */
double seconds_since(const struct timespec *t0);

/* What every harness_run does first: skips when the backend was not
 * built, makes the server's directory and sets the exit handlers. 1
 * when the program goes on; else 0, with the exit status in *status. */
int harness_begin(int *status);
/* Starts the server; 0 (having said "Bail out!") when it did not start. */
int harness_start_server(void);
/* Whether this is the process that started the server (Check runs each
 * test in a child of it): exit handlers act only there. */
int harness_is_owner(void);

#endif
