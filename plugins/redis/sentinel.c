/*
 * plugins/redis/sentinel.c - the master's address from Redis Sentinel.
 *
 * A store configured with sentinels asks them for the master each time it
 * connects (at open and after a lost connection or a READONLY reply), so
 * a failover is followed as soon as a sentinel knows of it. Sentinels are
 * asked in turn, starting with the last that answered; one that is down
 * or does not know the master is skipped. The answer is checked by the
 * caller, which asks the server's ROLE: a sentinel mid-failover may still
 * name the old master.
 *
 * Sentinels have credentials of their own (sentinel_user,
 * sentinel_password), sent with AUTH in the same round trip as the
 * question; the buffer that held them is wiped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>
#include "sentinel.h"

#define DEFAULT_SENTINEL_PORT 26379

struct sentinel {
    char *host;
    int port;
};

struct sentinels {
    size_t n, last;                  /* last: the one that answered last */
    struct sentinel at[];
};

/* One "host[:port]" or "[v6]:port" of n bytes into e. */
static int parse_one(struct sentinel *e, const char *s, size_t n, char *why, size_t why_size)
{
    const char *end = s + n, *hend = end, *port = NULL;

    if (n > 0 && *s == '[') {
        const char *close = memchr(s, ']', n);
        if (!close || (close + 1 < end && close[1] != ':'))
            return snprintf(why, why_size, "sentinel '%.*s': bad [address]", (int)n, s), -1;
        port = close + 1 < end ? close + 2 : NULL;
        hend = close;
        s++;
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon) {
            port = colon + 1;
            hend = colon;
        }
    }
    long p = DEFAULT_SENTINEL_PORT;
    if (port) {
        char *stop;
        p = port < end ? strtol(port, &stop, 10) : 0;
        if (port == end || stop != end || p < 1 || p > 65535)
            return snprintf(why, why_size, "sentinel '%.*s': the port is not a number from 1 "
                            "to 65535", (int)(end - s), s), -1;
    }
    if (hend == s)
        return snprintf(why, why_size, "sentinels: an entry has no host"), -1;
    if (!(e->host = strndup(s, (size_t)(hend - s))))
        return snprintf(why, why_size, "out of memory"), -1;
    e->port = (int)p;
    return 0;
}

int redis_sentinels_parse(struct sentinels **out, const char *list, char *why, size_t why_size)
{
    size_t n = 1;

    for (const char *p = list; *p; p++)
        n += *p == ',';
    struct sentinels *set = calloc(1, sizeof *set + n * sizeof set->at[0]);
    *out = NULL;
    if (!set)
        return snprintf(why, why_size, "out of memory"), -1;
    for (const char *p = list;; p++) {
        size_t len = strcspn(p, ",");
        if (parse_one(&set->at[set->n], p, len, why, why_size) != 0) {
            redis_sentinels_free(set);
            return -1;
        }
        set->n++;
        p += len;
        if (!*p)
            break;
    }
    *out = set;
    return 0;
}

void redis_sentinels_free(struct sentinels *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++)
        free(set->at[i].host);
    free(set);
}

/* AUTH (when credentials are given) and the question, in one buffer. */
static int format_question(const char *name, const char *user, const char *password,
                           char **out, size_t *len)
{
    const char *argv[3];
    size_t argvlen[3];
    char *auth = NULL, *ask = NULL;
    int alen = 0, n = 0;

    if (password) {
        argv[n] = "AUTH", argvlen[n++] = 4;
        if (user)
            argv[n] = user, argvlen[n] = strlen(user), n++;
        argv[n] = password, argvlen[n] = strlen(password), n++;
        alen = redisFormatCommandArgv(&auth, n, argv, argvlen);
        if (alen < 0)
            return -1;
    }
    int qlen = redisFormatCommand(&ask, "SENTINEL get-master-addr-by-name %s", name);
    *out = qlen < 0 ? NULL : malloc((size_t)alen + (size_t)qlen);
    if (*out) {
        if (auth)
            memcpy(*out, auth, (size_t)alen);
        memcpy(*out + alen, ask, (size_t)qlen);
        *len = (size_t)alen + (size_t)qlen;
    }
    if (auth)
        explicit_bzero(auth, (size_t)alen);
    redisFreeCommand(auth);
    redisFreeCommand(ask);
    return *out ? (password ? 2 : 1) : -1;
}

/* One sentinel's answer: 0 with the address, 1 on refused credentials,
 * -1 otherwise; why says what it said. */
static int ask_one(const struct sentinel *e, const char *name, const char *user,
                   const char *password, const struct conn_target *how, char **host,
                   int *port, char *why, size_t why_size)
{
    struct conn_target t = *how;
    char *wire = NULL;
    size_t len = 0;
    void *replies[2] = { NULL, NULL };
    int rc = -1;

    t.host = e->host;
    t.port = e->port;
    t.socket_path = NULL;
    t.server_name = NULL;
    struct conn *c = redis_conn_open(&t);
    int n = c && !c->err ? format_question(name, user, password, &wire, &len) : 0;
    if (!c || n < 0) {
        snprintf(why, why_size, "out of memory");
    } else if (c->err || redis_conn_write(c, wire, len) != 0) {
        snprintf(why, why_size, "%s", c->errstr);
    } else {
        int i = 0;
        while (i < n && redis_conn_read_reply(c, &replies[i]) == 0)
            i++;
        const redisReply *auth = n == 2 ? replies[0] : NULL, *r = replies[n - 1];
        if (i < n)
            snprintf(why, why_size, "%s", c->errstr);
        else if (auth && auth->type == REDIS_REPLY_ERROR)
            rc = 1, snprintf(why, why_size, "authentication%s%s%s failed: %s",
                             user ? " as user '" : "", user ? user : "", user ? "'" : "",
                             auth->str);
        else if (r->type == REDIS_REPLY_ERROR)
            snprintf(why, why_size, "%s", r->str);
        else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
                 r->element[0]->type != REDIS_REPLY_STRING ||
                 r->element[1]->type != REDIS_REPLY_STRING)
            snprintf(why, why_size, "knows no master named '%s'", name);
        else if ((*port = atoi(r->element[1]->str)) < 1 || *port > 65535 ||
                 !(*host = strdup(r->element[0]->str)))
            snprintf(why, why_size, "answered an address that is not one");
        else
            rc = 0;
    }
    for (int i = 0; i < 2; i++)
        if (replies[i])
            freeReplyObject(replies[i]);
    if (wire)
        explicit_bzero(wire, len);
    free(wire);
    redis_conn_close(c);
    return rc;
}

int redis_sentinels_ask(struct sentinels *set, const char *name, const char *user,
                        const char *password, const struct conn_target *how, char **host, int *port,
                        char *why, size_t why_size)
{
    size_t used = 0;
    int refused = 0;

    *host = NULL;
    used += (size_t)snprintf(why, why_size, "no sentinel named the master '%s':", name);
    for (size_t k = 0; k < set->n; k++) {
        size_t i = (set->last + k) % set->n;
        const struct sentinel *e = &set->at[i];
        char one[300];
        int rc = ask_one(e, name, user, password, how, host, port, one, sizeof one);
        if (rc == 0) {
            set->last = i;
            return 0;
        }
        refused |= rc == 1;
        if (used < why_size)
            used += (size_t)snprintf(why + used, why_size - used, "%s %s%s%s:%d: %s",
                                     k ? ";" : "", strchr(e->host, ':') ? "[" : "", e->host,
                                     strchr(e->host, ':') ? "]" : "", e->port, one);
    }
    return refused ? 1 : -1;
}
