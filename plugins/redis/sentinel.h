/*
 * plugins/redis/sentinel.h - asking Redis Sentinels where the master is.
 */
#ifndef TS_REDIS_SENTINEL_H
#define TS_REDIS_SENTINEL_H

#include <stddef.h>
#include "conn.h"

struct sentinels;

/* Parses "host:port,host:port,[::1]:26379" (port 26379 when left out):
 * 0, or -1 with the reason in why. */
int redis_sentinels_parse(struct sentinels **out, const char *list, char *why, size_t why_size);
void redis_sentinels_free(struct sentinels *set);

/* Asks the sentinels in turn, starting with the one that answered last,
 * for the address of master `name` (SENTINEL get-master-addr-by-name),
 * authenticating with user/password when given (both may be NULL). `how`
 * gives the timeouts and TLS settings; its host, port and server name
 * are replaced by each sentinel's. Returns 0 with *host (malloc'd) and
 * *port, 1 when a sentinel refused the credentials, or -1; why then says
 * what each sentinel answered. */
int redis_sentinels_ask(struct sentinels *set, const char *name, const char *user,
                        const char *password, const struct conn_target *how, char **host, int *port,
                        char *why, size_t why_size);

#endif
