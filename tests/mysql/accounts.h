/*
 * tests/mysql/accounts.h - the fake accounts server of the mysql test
 * programs that refresh tokens: tests/oauth/fake_accounts.py, started in
 * a directory of the MariaDB server's, on a free loopback port, stopped
 * when the program's owner process exits, and asked over HTTP (libcurl)
 * how to answer and how many requests reached it.
 */
#ifndef TS_TEST_MYSQL_ACCOUNTS_H
#define TS_TEST_MYSQL_ACCOUNTS_H

#include <stddef.h>

extern int accounts_port;

/* Starts the server (harness_run's `ready`); 0 when it did not start. */
int start_accounts(void);
/* A request to the server's control endpoints (a POST when there is a
 * body); its reply in out. */
void accounts_call(const char *path, const char *body, char *out, size_t n);
/* How many requests of a kind ("refresh_token") reached the server since
 * its last /reset. */
int accounts_count(const char *kind);
/* The server's base URL, for the setting accounts_url. */
const char *accounts_url(void);

#endif
