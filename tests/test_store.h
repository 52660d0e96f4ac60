/*
 * tests/test_store.h - what the store-level Check programs share: counting
 * a store's tokens, catching the warnings it logs, making, saving and
 * finding a client's token, and forking children and waiting for them.
 */
#ifndef TS_TEST_STORE_H
#define TS_TEST_STORE_H

#include <check.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <tokenstore/tokenstore.h>

/* The last warning a store logged, and how many there were. */
struct log_capture {
    int warnings;
    char last[1024];
};

static inline void capture_log(void *userdata, int level, const char *message)
{
    struct log_capture *c = userdata;

    if (level == TS_LOG_WARN) {
        c->warnings++;
        snprintf(c->last, sizeof c->last, "%s", message);
    }
}

static inline int count_cb(const ts_token *t, void *ud)
{
    (void)t;
    (*(size_t *)ud)++;
    return 0;
}

/* How many tokens the store walks; the walk must succeed. */
static inline size_t count_tokens(ts_store *s)
{
    size_t n = 0;
    ts_error err = { 0 };

    ck_assert_msg(ts_get_tokens(s, count_cb, &n, &err) == TS_OK, "get_tokens: %s", err.message);
    return n;
}

/* A client's token for user, with the given refresh and access tokens. */
static inline ts_token *make_token(const char *user, const char *refresh, const char *access)
{
    ts_token *t = ts_token_new();
    ts_token_set(t, TS_FIELD_USER_NAME, user);
    ts_token_set(t, TS_FIELD_CLIENT_ID, "1000.CLIENT");
    ts_token_set(t, TS_FIELD_CLIENT_SECRET, "client-secret-value");
    ts_token_set(t, TS_FIELD_REFRESH_TOKEN, refresh);
    ts_token_set(t, TS_FIELD_ACCESS_TOKEN, access);
    ts_token_set(t, TS_FIELD_EXPIRY_TIME, "1893456000000");
    return t;
}

/* Saves t; the save must succeed. */
static inline void save_ok(ts_store *s, ts_token *t)
{
    ts_error err = { 0 };
    int rc = ts_save_token(s, t, &err);
    ck_assert_msg(rc == TS_OK, "save: %d %s", rc, err.message);
}

/* find_token by user name; returns the result code, the row in *out. */
static inline int find_user(ts_store *s, const char *user, ts_token **out, ts_error *err)
{
    ts_token *q = ts_token_new();
    ts_token_set(q, TS_FIELD_USER_NAME, user);
    int rc = ts_find_token(s, q, err);
    if (out)
        *out = q;
    else
        ts_token_free(q);
    return rc;
}

/* Forks n children, the k-th of which runs child(k), which must not
 * return; their pids in pids. */
static inline void spawn_children(pid_t *pids, int n, void (*child)(int))
{
    for (int k = 0; k < n; k++) {
        pids[k] = fork();
        ck_assert(pids[k] >= 0);
        if (pids[k] == 0)
            child(k);
    }
}

/* Waits for the n children of pids, each of which must exit with status
 * 0 (a failure names it: "writer 2 failed"). */
static inline void wait_children_ok(const pid_t *pids, int n, const char *what)
{
    for (int k = 0; k < n; k++) {
        int status;
        ck_assert(waitpid(pids[k], &status, 0) == pids[k]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s %d failed", what, k);
    }
}

/* What n workers, the children in kids, wrote each on one line to the
 * pipe read end fd (their answer padded with spaces): every line must be
 * `want` and there must be n of them. Closes fd and reaps the children. */
static inline void expect_workers_said(int fd, const pid_t *kids, int n, const char *want)
{
    FILE *f = fdopen(fd, "r");
    char line[128];
    size_t len = strlen(want);
    int lines = 0;

    ck_assert(f != NULL);
    while (fgets(line, sizeof line, f)) {
        ck_assert_msg(strncmp(line, want, len) == 0 && line[len] == ' ', "a worker got '%s'",
                      line);
        lines++;
    }
    fclose(f);
    for (int i = 0; i < n; i++)
        waitpid(kids[i], NULL, 0);
    ck_assert_int_eq(lines, n);
}

#endif
