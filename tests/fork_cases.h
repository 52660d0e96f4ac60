/*
 * tests/fork_cases.h - a store handle followed into forked children (ABI
 * 1.4's `forked`), the cases the file and sqlite programs share.
 *
 * - fork_saves(): the parent opens a store and uses it, then four children
 *   save through the handle they inherited while the parent saves through
 *   its own. Every save any process was told succeeded must be in the
 *   store afterwards, and the parent's handle must still work. A child
 *   that wrote under its parent's lock (a shared flock) or through its
 *   parent's database connection would lose some.
 * - fork_lock(): a handle holding a store-wide lock (try_lock) at the
 *   fork. The child must not believe it holds the lock: taking it fails,
 *   and letting go of the handle it inherited leaves the parent's lock
 *   held. try_lock, unlock and forked have no public API (the OAuth
 *   client and the core call them), so this case calls the backend's
 *   table directly (tests/raw_backend.h).
 */
#ifndef TS_TEST_FORK_CASES_H
#define TS_TEST_FORK_CASES_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <tokenstore/backend.h>
#include <tokenstore/tokenstore.h>
#include "raw_backend.h"
#include "test_store.h"

#define FORK_CHILDREN 4
#define FORK_SAVES 200

/* A store from a URI, logging nothing. */
static inline ts_store *fork_open(const char *uri)
{
    ts_config *cfg;
    ts_store *s;
    ts_error err = { 0 };

    ck_assert_msg(ts_config_parse_uri(&cfg, uri, &err) == TS_OK, "%s", err.message);
    ts_config_set_logger(cfg, NULL, NULL, 0);
    ck_assert_msg(ts_store_open_config(&s, cfg, &err) == TS_OK, "open %s: %s", uri,
                  err.message);
    ts_config_free(cfg);
    return s;
}

/* Saves who's i-th user ("c2-17@x.com"); TS_OK or the error. */
static inline int fork_save(ts_store *s, const char *who, int i, ts_error *err)
{
    char user[64], refresh[64];

    snprintf(user, sizeof user, "%s-%d@x.com", who, i);
    snprintf(refresh, sizeof refresh, "1000.r-%s-%d", who, i);
    ts_token *t = make_token(user, refresh, user);
    int rc = ts_save_token(s, t, err);
    ts_token_free(t);
    return rc;
}

/* Whether who's i-th user is stored with its refresh token. */
static inline int fork_saved(ts_store *s, const char *who, int i)
{
    char user[64], refresh[64];
    ts_token *row;
    ts_error err = { 0 };

    snprintf(user, sizeof user, "%s-%d@x.com", who, i);
    snprintf(refresh, sizeof refresh, "1000.r-%s-%d", who, i);
    int rc = find_user(s, user, &row, &err);
    int found = rc == TS_OK && strcmp(ts_token_get(row, TS_FIELD_REFRESH_TOKEN), refresh) == 0;
    ts_token_free(row);
    return found;
}

/* A child: FORK_SAVES saves through the inherited handle, each answer as a
 * byte on the pipe ('+' saved, '-' not), then a read of its own saves
 * back through the same handle ('+' found). */
static inline void fork_child(ts_store *s, int k, int fd)
{
    char who[16], answers[2 * FORK_SAVES];
    ts_error err = { 0 };

    snprintf(who, sizeof who, "c%d", k);
    for (int i = 0; i < FORK_SAVES; i++) {
        int rc = fork_save(s, who, i, &err);
        answers[i] = rc == TS_OK ? '+' : '-';
        if (rc != TS_OK && i == 0)
            fprintf(stderr, "child %d: %s\n", k, err.message);
    }
    for (int i = 0; i < FORK_SAVES; i++)
        answers[FORK_SAVES + i] = fork_saved(s, who, i) ? '+' : '-';
    ts_store_close(s);
    _exit(write(fd, answers, sizeof answers) == (ssize_t)sizeof answers ? 0 : 3);
}

/* The parent's part; `during` (may be NULL) runs as soon as the children
 * are forked, and may close the parent's handle and open it again. */
static inline void fork_saves(const char *uri, void (*during)(ts_store **parent))
{
    ts_store *s = fork_open(uri);
    ts_error err = { 0 };
    pid_t pids[FORK_CHILDREN];
    int fds[FORK_CHILDREN][2];

    /* Used before the fork: a connection, a lock file, a loaded file. */
    ck_assert_int_eq(fork_save(s, "before", 0, &err), TS_OK);
    ck_assert(fork_saved(s, "before", 0));
    for (int k = 0; k < FORK_CHILDREN; k++) {
        ck_assert_int_eq(pipe(fds[k]), 0);
        pids[k] = fork();
        ck_assert_int_ge(pids[k], 0);
        if (pids[k] == 0) {
            close(fds[k][0]);
            fork_child(s, k, fds[k][1]);
        }
        close(fds[k][1]);
    }
    if (during)
        during(&s);
    for (int i = 0; i < FORK_SAVES; i++)
        ck_assert_msg(fork_save(s, "p", i, &err) == TS_OK, "parent, save %d: %s", i,
                      err.message);

    char answers[FORK_CHILDREN][2 * FORK_SAVES];
    for (int k = 0; k < FORK_CHILDREN; k++) {
        int status;
        ssize_t got = read(fds[k][0], answers[k], sizeof answers[k]);
        close(fds[k][0]);
        ck_assert_int_eq(waitpid(pids[k], &status, 0), pids[k]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
                      got == (ssize_t)sizeof answers[k], "child %d died (status %#x)", k,
                      status);
    }

    /* The parent's handle still works, and sees everything. */
    ck_assert_int_eq(fork_save(s, "after", 0, &err), TS_OK);
    ck_assert(fork_saved(s, "after", 0));
    for (int k = 0; k < FORK_CHILDREN; k++) {
        char who[16];
        int acked = 0, lost = 0, unread = 0;
        snprintf(who, sizeof who, "c%d", k);
        for (int i = 0; i < FORK_SAVES; i++) {
            if (answers[k][i] != '+')
                continue;
            acked++;
            lost += !fork_saved(s, who, i);
            unread += answers[k][FORK_SAVES + i] != '+';
        }
        ck_assert_msg(acked == FORK_SAVES && lost == 0 && unread == 0,
                      "child %d: %d of %d saves acknowledged, %d of them lost, %d not read "
                      "back in the child", k, acked, FORK_SAVES, lost, unread);
    }
    for (int i = 0; i < FORK_SAVES; i++)
        ck_assert_msg(fork_saved(s, "p", i), "the parent's save %d is lost", i);
    ck_assert_uint_eq(count_tokens(s), 2 + FORK_SAVES * (FORK_CHILDREN + 1));
    ts_store_close(s);
}

/* What the child answered, in order. */
enum { LOCK_FORKED, LOCK_TAKE, LOCK_UNLOCK, LOCK_TAKE_AGAIN, LOCK_OWN, LOCK_OWN_UNLOCK,
       LOCK_STEPS };

static inline void fork_lock(const char *backend, const char *path)
{
    const ts_backend *vt = raw_backend(backend);
    void *a, *b, *held, *h;
    int fds[2], steps[LOCK_STEPS], status;
    ts_error err = { 0 };

    ck_assert_msg(TS_BACKEND_HAS(vt, forked), "backend %s cannot follow a fork", backend);
    a = raw_open_path(vt, path, 0);
    ck_assert_int_eq(raw_try_lock(vt, a, "oauth:1", 600000, &held), TS_OK);
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* As the core does: forked first, then the calls. */
        steps[LOCK_FORKED] = vt->forked(a, &err);
        steps[LOCK_TAKE] = vt->try_lock(a, "oauth:1", 600000, &h, &err);
        steps[LOCK_UNLOCK] = vt->unlock(a, held, &err);
        steps[LOCK_TAKE_AGAIN] = vt->try_lock(a, "oauth:1", 600000, &h, &err);
        steps[LOCK_OWN] = vt->try_lock(a, "oauth:2", 600000, &h, &err);
        steps[LOCK_OWN_UNLOCK] = steps[LOCK_OWN] == TS_OK ? vt->unlock(a, h, &err) : -1;
        raw_close(a);
        _exit(write(fds[1], steps, sizeof steps) == (ssize_t)sizeof steps ? 0 : 3);
    }
    close(fds[1]);
    ck_assert_int_eq(read(fds[0], steps, sizeof steps), (ssize_t)sizeof steps);
    close(fds[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(status, 0);
    ck_assert_int_eq(steps[LOCK_FORKED], TS_OK);
    ck_assert_msg(steps[LOCK_TAKE] == TS_ERR_BUSY, "the child took its parent's lock (%s)",
                  ts_strerror(steps[LOCK_TAKE]));
    ck_assert_int_eq(steps[LOCK_UNLOCK], TS_OK);
    ck_assert_msg(steps[LOCK_TAKE_AGAIN] == TS_ERR_BUSY,
                  "the child's unlock of the handle it inherited released its parent's lock");
    ck_assert_int_eq(steps[LOCK_OWN], TS_OK);
    ck_assert_int_eq(steps[LOCK_OWN_UNLOCK], TS_OK);

    /* Still the parent's, until it lets go. */
    b = raw_open_path(vt, path, 0);
    ck_assert_int_eq(raw_try_lock(vt, b, "oauth:1", 600000, &h), TS_ERR_BUSY);
    ck_assert_int_eq(vt->unlock(a, held, &err), TS_OK);
    ck_assert_int_eq(raw_try_lock(vt, b, "oauth:1", 600000, &h), TS_OK);
    /* The child's is free. */
    ck_assert_int_eq(raw_try_lock(vt, b, "oauth:2", 600000, &held), TS_OK);
    ck_assert_int_eq(vt->unlock(b, h, &err), TS_OK);
    ck_assert_int_eq(vt->unlock(b, held, &err), TS_OK);
    raw_close(a);
    raw_close(b);
}

#endif
