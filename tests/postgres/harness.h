/*
 * tests/postgres/harness.h - what the postgres backend's Check programs
 * share: a PostgreSQL server of their own (tests/postgres/server.sh: its
 * own cluster, socket directory and port), started by harness_run before
 * the suite and stopped when the program ends, however it ends, so a
 * failing test never leaves a server behind; SQL run over its socket; and
 * stores opened on it. What the mysql harness has too is in
 * tests/sql/harness.h.
 *
 * Every program gets database `tokens`, owned by user `app` (password
 * APP_PASSWORD); its own setup SQL, run in that database, adds the rest.
 * The names server_dir and harness_is_owner are the mysql harness's too,
 * so the fake accounts server of tests/mysql/accounts.c serves both.
 */
#ifndef TS_TEST_POSTGRES_HARNESS_H
#define TS_TEST_POSTGRES_HARNESS_H

#include <check.h>
#include "../sql/harness.h"

/* The SDK DBStore's CREATE TABLE, in PostgreSQL's types. */
#define SDK_DDL(table)                                                                  \
    "CREATE TABLE " table " (id varchar(10) NOT NULL, user_name varchar(255), "         \
    "client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), "  \
    "access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), "    \
    "redirect_url varchar(255), api_domain varchar(255), primary key (id))"

/* Table t of database tokens (schema public) in SQL; a query counting
 * the tables there whose name is LIKE its %s. */
#define TOKENS_TABLE(t) t
#define TABLES_LIKE                                                                     \
    "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE '%s'"

/* Has the server reread its settings and pg_hba.conf; 0 when done. */
int server_reload(void);

/* sql() runs SQL as user app in database tokens; admin_sql as the
 * superuser there; sql_in as the superuser in db, the server in dir. */
int admin_sql(const char *query, char *out, size_t n);
int sql_in(const char *dir, const char *db, const char *query, char *out, size_t n);

/* Runs the suite against a server of the program's own, made with
 * setup_sql after the common setup; then `ready` (may be NULL) starts
 * what else the program needs, and 0 from it bails out. Returns the
 * program's exit status. */
int harness_run(Suite *suite, const char *setup_sql, int (*ready)(void));

#endif
