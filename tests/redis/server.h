/*
 * tests/redis/server.h - throwaway redis-servers for the Check programs
 * that need one or two (test_fork, test_refused): started with
 * tests/redis/server.sh in a directory of their own and stopped, with
 * the directory removed, by test_servers_stop(), which main() registers
 * with atexit and which acts only in the process that started them
 * (Check forks every test).
 */
#ifndef TS_TEST_REDIS_SERVER_H
#define TS_TEST_REDIS_SERVER_H

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <hiredis/hiredis.h>

struct test_server {
    char dir[PATH_MAX];   /* "" until started */
    int port;
};

enum { TEST_SERVERS_MAX = 4 };
static struct test_server *test_servers[TEST_SERVERS_MAX];
static char test_server_sh[PATH_MAX];
static pid_t test_servers_owner;

static void test_servers_stop(void)
{
    char cmd[PATH_MAX * 3 + 64];

    if (getpid() != test_servers_owner)
        return;
    for (int i = 0; i < TEST_SERVERS_MAX; i++) {
        struct test_server *sv = test_servers[i];
        if (!sv || !sv->dir[0])
            continue;
        snprintf(cmd, sizeof cmd, "sh '%s' stop '%s'; rm -rf '%s'", test_server_sh, sv->dir,
                 sv->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not stop the server in %s\n", sv->dir);
        sv->dir[0] = '\0';
    }
}

static void test_servers_on_signal(int sig)
{
    (void)sig;
    exit(2);                /* runs test_servers_stop */
}

/* Finds server.sh under $top_srcdir and arranges the cleanup; 0 when the
 * script is not there. */
static int test_servers_init(void)
{
    const char *srcdir = getenv("top_srcdir");

    snprintf(test_server_sh, sizeof test_server_sh, "%s/tests/redis/server.sh",
             srcdir ? srcdir : ".");
    if (access(test_server_sh, R_OK) != 0)
        return 0;
    test_servers_owner = getpid();
    atexit(test_servers_stop);
    signal(SIGINT, test_servers_on_signal);
    signal(SIGTERM, test_servers_on_signal);
    return 1;
}

/* [ENV] server.sh start DIR ARGS in a new directory: 1 with sv->port set,
 * else 0. `env` may set TLS_CERTS (see server.sh). */
static int test_server_start(struct test_server *sv, const char *env, const char *args)
{
    char cmd[PATH_MAX * 3 + 512], line[64] = "";
    int slot = 0;

    while (slot < TEST_SERVERS_MAX && test_servers[slot] && test_servers[slot] != sv)
        slot++;
    if (slot == TEST_SERVERS_MAX)
        return 0;
    test_servers[slot] = sv;
    snprintf(sv->dir, sizeof sv->dir, "%s/tokenstore-redis.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(sv->dir)) {
        sv->dir[0] = '\0';
        return 0;
    }
    snprintf(cmd, sizeof cmd, "%s sh '%s' start '%s' %s", env ? env : "", test_server_sh,
             sv->dir, args ? args : "");
    FILE *p = popen(cmd, "r");
    if (!p)
        return 0;
    if (!fgets(line, sizeof line, p))
        line[0] = '\0';
    sv->port = pclose(p) == 0 ? atoi(line) : 0;
    return sv->port > 0;
}

/* The tests' own connection: the server's unix socket, plain even when
 * its port speaks TLS. NULL when it cannot connect. */
static redisContext *test_server_connect(const struct test_server *sv)
{
    char sock[PATH_MAX + 16];

    snprintf(sock, sizeof sock, "%s/redis.sock", sv->dir);
    redisContext *c = redisConnectUnix(sock);
    if (c && c->err) {
        redisFree(c);
        c = NULL;
    }
    return c;
}

#endif
