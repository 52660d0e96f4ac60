/*
 * tests/faults.h - making a store's last write steps fail, with no
 * privileges, for the tests that check a failed write is reported and
 * never acknowledged.
 *
 * - A file size limit: under_size_limit() runs a function in a child
 *   whose files may not grow past N bytes (RLIMIT_FSIZE) with SIGXFSZ
 *   ignored, so a write that would pass the limit fails with EFBIG, as
 *   one on a full disk fails with ENOSPC.
 * - Failing calls: this header defines fsync(), fdatasync() and
 *   renameat(), which pass each call on to the C library unless a fault
 *   is armed. A program that includes it (once) and is linked with
 *   -export-dynamic answers the backends' calls to them, since a backend
 *   is loaded after the program and the program's definitions come first
 *   (SQLite, loaded with the sqlite backend, resolves its own the same
 *   way).
 *
 * saves_until_full() and check_saves() are the scenario both backends'
 * tests run under the limit: many saves, then the store opened again and
 * every acknowledged save looked for.
 */
#ifndef TS_TEST_FAULTS_H
#define TS_TEST_FAULTS_H

#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <tokenstore/tokenstore.h>
#include "test_store.h"

enum fault {
    FAULT_NONE,
    FAULT_FSYNC,            /* fsync or fdatasync of a file */
    FAULT_FSYNC_DIR,        /* fsync of a directory */
    FAULT_RENAME,
};

static enum fault fault_armed;
static int fault_hits;      /* calls the armed fault failed */

static inline int fault_is_dir(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
}

static inline int fault_fails_sync(int fd)
{
    if ((fault_armed == FAULT_FSYNC && !fault_is_dir(fd)) ||
        (fault_armed == FAULT_FSYNC_DIR && fault_is_dir(fd))) {
        fault_hits++;
        errno = EIO;
        return 1;
    }
    return 0;
}

#define FAULT_EXPORT __attribute__((visibility("default")))

FAULT_EXPORT int fsync(int fd)
{
    static int (*real)(int);
    if (fault_fails_sync(fd))
        return -1;
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "fsync");
    return real(fd);
}

FAULT_EXPORT int fdatasync(int fd)
{
    static int (*real)(int);
    if (fault_fails_sync(fd))
        return -1;
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "fdatasync");
    return real(fd);
}

FAULT_EXPORT int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
    static int (*real)(int, const char *, int, const char *);
    if (fault_armed == FAULT_RENAME) {
        fault_hits++;
        errno = EIO;
        return -1;
    }
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "renameat");
    return real(olddirfd, oldpath, newdirfd, newpath);
}

/* What a save in a size-limited child answered. */
struct save_result {
    int rc;
    char message[TS_ERROR_MAX];
};

/* Runs fn(arg, results) in a child whose files may not grow past limit
 * bytes; fn fills results[0..n) and they come back here through a pipe.
 * The child must exit 0. */
static inline void under_size_limit(rlim_t limit,
                                    void (*fn)(void *arg, struct save_result *r), void *arg,
                                    struct save_result *results, size_t n)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct rlimit rl = { limit, limit };
        close(fds[0]);
        signal(SIGXFSZ, SIG_IGN);
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(2);
        memset(results, 0, n * sizeof *results);
        fn(arg, results);
        const char *p = (const char *)results;
        size_t left = n * sizeof *results;
        while (left > 0) {
            ssize_t w = write(fds[1], p, left);
            if (w <= 0)
                _exit(3);
            p += w;
            left -= (size_t)w;
        }
        _exit(0);
    }
    close(fds[1]);
    char *p = (char *)results;
    size_t got = 0, want = n * sizeof *results;
    ssize_t r;
    while (got < want && (r = read(fds[0], p + got, want - got)) > 0)
        got += (size_t)r;
    close(fds[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the size-limited child died (status %#x)", status);
    ck_assert_uint_eq(got, want);
}

/* ---------------------------------------------------------------- the scenario */

#define FULL_SAVES 200
#define FULL_USERS 50

/* A store from a URI, logging nothing. */
static inline int open_uri(ts_store **s, const char *uri, ts_error *err)
{
    ts_config *cfg;
    int rc = ts_config_parse_uri(&cfg, uri, err);
    if (rc != TS_OK)
        return rc;
    ts_config_set_logger(cfg, NULL, NULL, 0);
    rc = ts_store_open_config(s, cfg, err);
    ts_config_free(cfg);
    return rc;
}

/* Save i is user i % FULL_USERS's, with refresh token 1000.r-i and access
 * token 1000.a-i: the first FULL_USERS insert, the others update. Each
 * result goes into r[i]; arg is the store's URI. */
static inline void saves_until_full(void *arg, struct save_result *r)
{
    ts_store *s = NULL;
    ts_error err = { 0 };
    int rc = open_uri(&s, arg, &err);

    for (int i = 0; i < FULL_SAVES; i++) {
        char user[32], refresh[32], access[32];
        snprintf(user, sizeof user, "u%d@x.com", i % FULL_USERS);
        snprintf(refresh, sizeof refresh, "1000.r-%d", i);
        snprintf(access, sizeof access, "1000.a-%d", i);
        ts_token *t = make_token(user, refresh, access);
        r[i].rc = rc == TS_OK ? ts_save_token(s, t, &err) : rc;
        snprintf(r[i].message, sizeof r[i].message, "%s", r[i].rc ? err.message : "");
        ts_token_free(t);
    }
    ts_store_close(s);
}

/* Opens the store again (no limit now) and checks that every user holds
 * its last acknowledged save, or a later one that was reported failed
 * (a failure may leave a write done that could not be confirmed), and
 * that every failure is TS_ERR_IO naming `file`. Counts what was
 * acknowledged and what failed. */
static inline void check_saves(const char *uri, const char *file,
                               const struct save_result *r, int *acked, int *failed)
{
    ts_store *s;
    ts_error err = { 0 };

    *acked = *failed = 0;
    for (int i = 0; i < FULL_SAVES; i++) {
        if (r[i].rc == TS_OK) {
            ++*acked;
            continue;
        }
        ++*failed;
        ck_assert_msg(r[i].rc == TS_ERR_IO && strstr(r[i].message, file),
                      "save %d: %s (%s) does not say what failed where", i,
                      r[i].message, ts_strerror(r[i].rc));
    }
    ck_assert_msg(open_uri(&s, uri, &err) == TS_OK, "reopen %s: %s", uri, err.message);
    for (int u = 0; u < FULL_USERS; u++) {
        int last = -1, j = -1;
        char user[32];
        for (int i = u; i < FULL_SAVES; i += FULL_USERS)
            if (r[i].rc == TS_OK)
                last = i;
        snprintf(user, sizeof user, "u%d@x.com", u);
        ts_token *row;
        int rc = find_user(s, user, &row, &err);
        ck_assert_msg(rc == TS_OK || (rc == TS_NOT_FOUND && last < 0), "%s: %s (saved %d)",
                      user, rc == TS_NOT_FOUND ? "missing" : err.message, last);
        if (rc == TS_OK) {
            ck_assert_int_eq(sscanf(ts_token_get(row, TS_FIELD_REFRESH_TOKEN), "1000.r-%d", &j),
                             1);
            char access[32];
            snprintf(access, sizeof access, "1000.a-%d", j);
            ck_assert_str_eq(ts_token_get(row, TS_FIELD_ACCESS_TOKEN), access);
            ck_assert_msg(j % FULL_USERS == u && j >= last && (j == last || r[j].rc != TS_OK),
                          "%s holds save %d, but save %d was acknowledged", user, j, last);
        }
        ts_token_free(row);
    }
    ts_store_close(s);
}

#endif
