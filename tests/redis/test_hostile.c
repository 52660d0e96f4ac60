/*
 * tests/redis/test_hostile.c - the redis backend against a server that is
 * broken or hostile (tests/redis/hostile_server.py): one that announces a
 * 2 GB string or a 2^31-element array, nests arrays deeper than any reply
 * of ours, sends 100,000 arrays of 100, a status line that never ends, or
 * a well-formed answer one byte at a time.
 *
 * The server controls what it sends, so the client must bound what it
 * takes: each find here must fail, and fail soon (well within three times
 * command_timeout_ms, as the machine may be loaded), with an error naming
 * the server and the limit that stopped it, and the process's peak
 * memory (VmHWM, reset before each find) must not grow by more than a few
 * MB. Each case runs twice: through ts_find_token, which waits, and
 * through ts_find_tokens_send/_receive, the halves an event loop runs
 * (the Node addon runs them on its loop, where a reply built without a
 * bound would also be freed without one). The drip runs over TLS too,
 * a byte a record (certificates from tests/redis/certs.sh).
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"
#include "../test_store.h"

#define TIMEOUT_MS 2000
#define TIMEOUT_MS_STR "2000"
/* A find must end within this; the client is allowed slack for a loaded
 * machine, never a reply's worth of dripping. */
#define BOUND_MS (3 * TIMEOUT_MS)
/* How far the peak RSS may rise during one find. */
#define MEMORY_BOUND_KB (24 * 1024)

static char hostile_py[PATH_MAX];
static char certs[PATH_MAX];          /* "" until made */
static pid_t server_pid;
static int server_port;

/* ------------------------------------------------------------------ */
/* The hostile server, one per test                                    */
/* ------------------------------------------------------------------ */

/* The server in `mode`, over TLS when tls is set. */
static void start_hostile(const char *mode, int tls)
{
    int fds[2];
    char line[32] = "";

    ck_assert_int_eq(pipe(fds), 0);
    server_pid = fork();
    ck_assert_int_ge(server_pid, 0);
    if (server_pid == 0) {
        /* Killed with the test process, whatever ends it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execlp("python3", "python3", hostile_py, mode, tls ? certs : (char *)NULL,
               (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_msg(fgets(line, sizeof line, f) != NULL, "hostile_server.py %s did not start",
                  mode);
    fclose(f);
    server_port = atoi(line);
    ck_assert_int_gt(server_port, 0);
}

static void stop_hostile(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
        server_pid = 0;
    }
}

/* A store on the hostile server (over TLS when tls is set), with these
 * options besides address and timeout (NULL-terminated pairs); NULL with
 * err filled when it fails. */
static ts_store *open_hostile(int tls, const char *const *extra, ts_error *err)
{
    char port[16], ca[PATH_MAX + 16];
    ts_config *cfg;
    ts_store *store = NULL;

    snprintf(port, sizeof port, "%d", server_port);
    ck_assert_int_eq(ts_config_new(&cfg), TS_OK);
    ck_assert_int_eq(ts_config_set_backend(cfg, "redis", err), TS_OK);
    const char *opts[] = { "host", "127.0.0.1", "port", port, "prefix", "hostile:",
                           "command_timeout_ms", TIMEOUT_MS_STR, NULL };
    for (int i = 0; opts[i]; i += 2)
        ck_assert_int_eq(ts_config_set_option(cfg, opts[i], opts[i + 1], err), TS_OK);
    for (int i = 0; extra && extra[i]; i += 2)
        ck_assert_int_eq(ts_config_set_option(cfg, extra[i], extra[i + 1], err), TS_OK);
    snprintf(ca, sizeof ca, "%s/ca.crt", certs);
    if (tls)
        ck_assert(ts_config_set_option(cfg, "tls", "on", err) == TS_OK &&
                  ts_config_set_option(cfg, "tls_ca", ca, err) == TS_OK);
    if (ts_store_open_config(&store, cfg, err) != TS_OK)
        store = NULL;
    ts_config_free(cfg);
    return store;
}

/* ------------------------------------------------------------------ */
/* Measuring a find                                                    */
/* ------------------------------------------------------------------ */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A "VmXXX:" line of /proc/self/status, in kB. */
static long status_kb(const char *field)
{
    char line[256];
    long kb = -1;
    size_t n = strlen(field);
    FILE *f = fopen("/proc/self/status", "r");

    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            kb = atol(line + n + 1);
    fclose(f);
    ck_assert_int_ge(kb, 0);
    return kb;
}

/* Makes VmHWM the current RSS again (Linux 4.0 and later). */
static void reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs("5", f), 1);
    ck_assert_int_eq(fclose(f), 0);
}

struct outcome {
    int rc;
    int64_t ms;             /* how long the find took */
    long grew_kb;           /* how far the peak RSS rose meanwhile */
    ts_error err;
};

enum way { WAITING, HALVES };

/* The halves as an event loop runs them, except that receive is called
 * every 100 ms whether or not the socket is readable, and never given up
 * on: the backend's own deadline must end the batch. */
static int halves(ts_store *s, ts_token *q, ts_error *err)
{
    int fd, timeout_ms, done = 0, result;
    int64_t start = now_ms();
    int rc = ts_find_tokens_send(s, &q, 1, &fd, &timeout_ms, err);

    ck_assert_msg(rc == TS_OK, "send: %s", err->message);
    ck_assert_int_eq(timeout_ms, TIMEOUT_MS);
    while (!done) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ck_assert_int_ge(poll(&p, 1, 100), 0);
        rc = ts_find_tokens_receive(s, &q, 1, &result, &done, err);
        ck_assert_msg(done || now_ms() - start < 60000, "receive never ended the batch");
    }
    /* A miss is not a failure of the batch. */
    ck_assert(rc == result || (rc == TS_OK && result == TS_NOT_FOUND));
    return result;
}

/* One find by user name, the given way, measured. The halves need a
 * connection that is up, which open left. */
static void find_measured(ts_store *s, enum way way, struct outcome *o)
{
    ts_token *q = ts_token_new();

    ts_token_set(q, TS_FIELD_USER_NAME, "victim@x");
    memset(o, 0, sizeof *o);
    reset_peak();
    long rss = status_kb("VmRSS");
    int64_t start = now_ms();
    o->rc = way == WAITING ? ts_find_token(s, q, &o->err) : halves(s, q, &o->err);
    o->ms = now_ms() - start;
    o->grew_kb = status_kb("VmHWM") - rss;
    ts_token_free(q);
}

/* Runs one find each way on a fresh store and checks that it failed with
 * `code`, soon, without growing, and that its message names the server
 * and has `words` in it. Over TLS, the halves are not offered. */
static void expect_refused_over(int tls, const char *mode, const char *const *extra, int code,
                                const char *words)
{
    char where[64];
    ts_error err = { 0 };

    start_hostile(mode, tls);
    snprintf(where, sizeof where, "127.0.0.1:%d", server_port);
    for (int way = WAITING; way <= (tls ? WAITING : HALVES); way++) {
        struct outcome o;
        ts_store *s = open_hostile(tls, extra, &err);
        ck_assert_msg(s != NULL, "open: %s", err.message);
        find_measured(s, (enum way)way, &o);
        const char *how = way == WAITING ? "find_token" : "find_tokens_send/_receive";
        ck_assert_msg(o.ms < BOUND_MS && o.grew_kb < MEMORY_BOUND_KB, "%s, %s: took %lld ms, "
                      "the peak RSS grew by %ld kB (%s)", mode, how, (long long)o.ms,
                      o.grew_kb, o.err.message);
        ck_assert_msg(o.rc == code, "%s, %s: %s (%d), not %s: %s", mode, how,
                      ts_strerror(o.rc), o.rc, ts_strerror(code), o.err.message);
        ck_assert_msg(strstr(o.err.message, where) && strstr(o.err.message, words),
                      "%s, %s: the message names neither %s nor '%s': %s", mode, how, where,
                      words, o.err.message);
        /* The connection is dropped, and the next call connects again. */
        find_measured(s, WAITING, &o);
        ck_assert_msg(o.rc == code, "%s again: %s", mode, o.err.message);
        ts_store_close(s);
    }
    stop_hostile();
}

static void expect_refused(const char *mode, const char *const *extra, int code,
                           const char *words)
{
    expect_refused_over(0, mode, extra, code, words);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

/* "$2000000000": refused at the length, nothing of it buffered. */
START_TEST(test_huge_bulk_length)
{
    expect_refused("bulk", NULL, TS_ERR_BACKEND, "2000000000-byte string");
    expect_refused("bulk", NULL, TS_ERR_BACKEND, "max_reply_bytes (67108864)");
}
END_TEST

/* "*2147483647": refused at the count, before hiredis makes the array
 * (whose freeing alone cost 78 s of CPU). */
START_TEST(test_huge_array_count)
{
    expect_refused("array", NULL, TS_ERR_BACKEND, "2147483647 elements");
    expect_refused("array", NULL, TS_ERR_BACKEND, "max_reply_elements (1000000)");
}
END_TEST

/* Each array within bounds, their sum not. */
START_TEST(test_wide_nested_arrays)
{
    const char *const small[] = { "max_reply_elements", "100000", NULL };

    expect_refused("wide", small, TS_ERR_BACKEND, "max_reply_elements (100000)");
}
END_TEST

START_TEST(test_deep_nested_arrays)
{
    expect_refused("deep", NULL, TS_ERR_BACKEND, "nested deeper than");
}
END_TEST

/* No length to refuse: the bytes are counted as they come. */
START_TEST(test_endless_line)
{
    const char *const small[] = { "max_reply_bytes", "1048576", NULL };

    expect_refused("line", small, TS_ERR_BACKEND, "max_reply_bytes (1048576)");
}
END_TEST

/* A byte every 250 ms never lets a read wait long, but the answer as a
 * whole is late: command_timeout_ms is a deadline for it. */
START_TEST(test_drip)
{
    expect_refused("drip", NULL, TS_ERR_TIMEOUT, "within " TIMEOUT_MS_STR " ms");
}
END_TEST

/* Each byte a TLS record: OpenSSL's reads wait on our socket BIO, which
 * keeps the same deadline. */
START_TEST(test_drip_over_tls)
{
    expect_refused_over(1, "drip", NULL, TS_ERR_TIMEOUT, "within " TIMEOUT_MS_STR " ms");
}
END_TEST

/* The limits are options, checked at open; a server that answers as
 * Redis does is not bothered by them. */
START_TEST(test_limit_options)
{
    ts_error err = { 0 };

    start_hostile("nil", 0);
    const char *const low[] = { "max_reply_bytes", "1000", NULL };
    ck_assert_ptr_null(open_hostile(0, low, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, "max_reply_bytes"), "%s", err.message);
    const char *const word[] = { "max_reply_elements", "many", NULL };
    ck_assert_ptr_null(open_hostile(0, word, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, "max_reply_elements"), "%s", err.message);

    const char *const tight[] = { "max_reply_bytes", "65536", "max_reply_elements", "4096",
                                  NULL };
    ts_store *s = open_hostile(0, tight, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    for (int way = WAITING; way <= HALVES; way++) {
        struct outcome o;
        find_measured(s, (enum way)way, &o);
        ck_assert_msg(o.rc == TS_NOT_FOUND, "%s", o.err.message);
    }
    ts_store_close(s);
    stop_hostile();
}
END_TEST

static Suite *hostile_suite(void)
{
    Suite *s = suite_create("redis-hostile");
    TCase *tc = tcase_create("hostile");

    /* Before the bounds, one of these took minutes: fail, not hang. */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_limit_options);
    tcase_add_test(tc, test_huge_bulk_length);
    tcase_add_test(tc, test_huge_array_count);
    tcase_add_test(tc, test_wide_nested_arrays);
    tcase_add_test(tc, test_deep_nested_arrays);
    tcase_add_test(tc, test_endless_line);
    tcase_add_test(tc, test_drip);
    tcase_add_test(tc, test_drip_over_tls);
    suite_add_tcase(s, tc);
    return s;
}

static void remove_certs(void)
{
    char cmd[PATH_MAX + 16];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", certs);
    if (certs[0] && system(cmd) != 0)
        fprintf(stderr, "test_hostile: could not remove %s\n", certs);
}

int main(void)
{
    const char *srcdir = getenv("top_srcdir");
    char cmd[PATH_MAX * 3];

    snprintf(hostile_py, sizeof hostile_py, "%s/tests/redis/hostile_server.py",
             srcdir ? srcdir : ".");
    if (access(hostile_py, R_OK) != 0) {
        printf("Bail out! %s not found (set top_srcdir)\n", hostile_py);
        return 99;
    }
    snprintf(certs, sizeof certs, "%s/tokenstore-certs.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(certs)) {
        puts("Bail out! no directory for the certificates");
        return 99;
    }
    pid_t owner = getpid();
    snprintf(cmd, sizeof cmd, "sh '%s/tests/redis/certs.sh' '%s'", srcdir ? srcdir : ".",
             certs);
    int made = system(cmd) == 0;
    int rc = made ? run_suite(hostile_suite()) : 99;
    if (!made)
        puts("Bail out! tests/redis/certs.sh could not make the certificates");
    if (getpid() == owner)
        remove_certs();
    return rc;
}
