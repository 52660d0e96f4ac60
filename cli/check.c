/*
 * cli/check.c - `tokenstore check-backend`: run the conformance suite
 * without touching data it did not create.
 *
 * The suite empties its store before every check and fills it with
 * thousands of test tokens, so run on a real store it destroys the tokens
 * there. Hence two rules. Without a location (no path or prefix option, no
 * URI) the suite runs on a scratch store made for it: a fresh temporary
 * directory for a backend with a `path` option (file, sqlite and most
 * third-party backends), a fresh random key prefix for one with a `prefix`
 * option (redis, on whatever server the other options name), and the
 * store is removed at the end whatever the outcome. Only a backend that
 * takes neither (memory) runs where its options say, under the second
 * rule: a store the user named is used only when it holds no tokens (a
 * store that does not exist yet holds none), unless --force, and it is
 * emptied again at the end.
 *
 * The suite runs in a child process and this one removes the scratch store
 * when the child is done, also when it was interrupted or crashed.
 *
 * Whether a backend takes `path` or `prefix` is learnt by asking the core
 * to open a store with that option in the scratch location: the core
 * checks options against the backend's list before the backend's open()
 * runs, so a refused option touches nothing.
 */
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cli.h"
#include "conformance.h"

/* Fills err as the library would; returns code. */
static int fail(ts_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(ts_error *err, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->code = code;
    return code;
}

struct check {
    const struct cli_check *opt;
    char dir[4096];               /* the scratch directory, or "" */
    char prefix[64];              /* the scratch redis prefix, or "" */
    char where[256];              /* the store, for messages */
};

/* A config for the backend (a name, a .so or a URI) with the -o options
 * and, when key is not NULL, key=value on top. */
static int build_config(const struct check *c, const char *key, const char *value,
                        ts_config **cfg, ts_error *err)
{
    const struct cli_check *o = c->opt;
    int rc;

    *cfg = NULL;
    if (o->is_uri)
        rc = ts_config_parse_uri(cfg, o->backend, err);
    else if (ts_config_new(cfg) != TS_OK)
        return fail(err, TS_ERR_NOMEM, "out of memory");
    else
        rc = ts_config_set_backend(*cfg, o->backend, err);
    if (rc == TS_OK)
        rc = cli_apply_options(*cfg, o->options, o->noptions, err);
    if (rc == TS_OK && key)
        rc = ts_config_set_option(*cfg, key, value, err);
    if (rc == TS_OK)
        cli_set_logger(*cfg, o->quiet, o->verbose);
    if (rc != TS_OK) {
        ts_config_free(*cfg);
        *cfg = NULL;
    }
    return rc;
}

/* Whether the open failed only because the backend has no such option
 * (the core's check_options message). */
static int refused_option(int rc, const ts_error *err, const char *key)
{
    char needle[64];

    snprintf(needle, sizeof needle, "has no option '%s'", key);
    return rc == TS_ERR_CONFIG && strstr(err->message, needle) != NULL;
}

/* Opens (and so creates) the store of key=value; 1 when the backend does
 * not take key, 0 when the store opened, -1 with err filled otherwise. */
static int try_scratch(const struct check *c, const char *key, const char *value,
                       ts_error *err)
{
    ts_config *cfg = NULL;
    ts_store *store;
    int rc = build_config(c, key, value, &cfg, err);

    if (rc == TS_OK)
        rc = ts_store_open_config(&store, cfg, err);
    ts_config_free(cfg);
    if (refused_option(rc, err, key))
        return 1;
    if (rc != TS_OK)
        return -1;
    ts_store_close(store);
    return 0;
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void remove_scratch_dir(struct check *c)
{
    if (c->dir[0])
        nftw(c->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    c->dir[0] = '\0';
}

/* Picks the scratch location: path=DIR/store, else a random prefix, else
 * none (c->dir and c->prefix stay empty). */
static int make_scratch(struct check *c, ts_error *err)
{
    const char *tmp = getenv("TMPDIR");
    char path[4200];
    unsigned char bytes[8];

    snprintf(c->dir, sizeof c->dir, "%s/tokenstore-check.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(c->dir)) {
        c->dir[0] = '\0';
        return fail(err, TS_ERR_IO, "cannot create a scratch directory in %s: %s",
                    tmp && tmp[0] ? tmp : "/tmp", strerror(errno));
    }
    snprintf(path, sizeof path, "%s/store", c->dir);
    int tried = try_scratch(c, "path", path, err);
    if (tried == 0)
        return TS_OK;
    remove_scratch_dir(c);
    if (tried < 0)
        return err->code ? err->code : TS_ERR_LOAD;
    if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes)
        return fail(err, TS_ERR_IO, "getrandom: %s", strerror(errno));
    snprintf(c->prefix, sizeof c->prefix, "tokenstore-check-");
    for (size_t i = 0; i < sizeof bytes; i++)
        snprintf(c->prefix + strlen(c->prefix), 3, "%02x", bytes[i]);
    strcat(c->prefix, ":");
    tried = try_scratch(c, "prefix", c->prefix, err);
    if (tried != 0)
        c->prefix[0] = '\0';
    return tried < 0 ? (err->code ? err->code : TS_ERR_LOAD) : TS_OK;
}

/* The store the user named, opened read-only: CLI_OK when it holds no
 * token or does not exist. */
static int refuse_unless_empty(struct check *c, const ts_config *cfg)
{
    ts_store *store;
    ts_error err = { 0 };
    size_t count = 0;
    int rc = ts_store_open_config_flags(&store, cfg, TS_OPEN_READ_ONLY, &err);

    if (rc == TS_ERR_NO_STORE)
        return CLI_OK;
    if (rc != TS_OK)
        return cli_store_error(rc, &err);
    cli_describe_store(store, cfg, c->where, sizeof c->where);
    rc = ts_get_tokens(store, cli_count_token, &count, &err);
    ts_store_close(store);
    if (rc != TS_OK)
        return cli_store_error(rc, &err);
    if (count == 0)
        return CLI_OK;
    fprintf(stderr, "tokenstore: refusing to run the conformance suite on %s: it holds "
            "%zu token%s and the suite deletes every token of its store (leave out the "
            "location to check on a scratch store; --force destroys them)\n", c->where,
            count, count == 1 ? "" : "s");
    return CLI_USAGE;
}

/* Deletes what the suite left in a store that is not a scratch directory. */
static void empty_store(const ts_config *cfg)
{
    ts_store *store;
    ts_error err = { 0 };

    if (ts_store_open_config_flags(&store, cfg, TS_OPEN_MUST_EXIST, &err) == TS_OK) {
        if (ts_delete_tokens(store, &err) != TS_OK)
            fprintf(stderr, "tokenstore: warning: the suite's tokens were left in the "
                    "store: %s\n", err.message);
        ts_store_close(store);
    }
}

static int run_suite(const struct check *c, const ts_config *cfg)
{
    ts_error err = { 0 };
    int failed = cli_conformance_run(cfg, stdout, &err);

    fflush(stdout);
    if (failed < 0) {
        cli_store_error(err.code ? err.code : TS_ERR_LOAD, &err);
        return CLI_STORE;
    }
    if (failed > 0 && !c->opt->quiet)
        fprintf(stderr, "tokenstore: %d conformance check%s failed\n", failed,
                failed == 1 ? "" : "s");
    return failed > 0 ? CLI_CHECKS_FAILED : CLI_OK;
}

/* SIGINT, SIGTERM, SIGHUP and SIGQUIT are caught from before the scratch
 * store is made until it is removed: while the suite runs they are passed
 * on to it, before and after it they are remembered, so what was made is
 * removed in every case. */
static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define NFORWARDED (sizeof forwarded / sizeof *forwarded)
static volatile pid_t suite_pid;
static volatile sig_atomic_t pending_signal;

static void forward_signal(int sig)
{
    if (suite_pid > 0)
        kill(suite_pid, sig);
    else
        pending_signal = sig;
}

static void catch_signals(struct sigaction old[NFORWARDED])
{
    struct sigaction fwd = { .sa_handler = forward_signal };

    for (size_t i = 0; i < NFORWARDED; i++)
        sigaction(forwarded[i], &fwd, &old[i]);
}

static void restore_signals(const struct sigaction old[NFORWARDED])
{
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaction(forwarded[i], &old[i], NULL);
}

static int say_stopped(int sig, int *stopped_by)
{
    *stopped_by = sig;
    fprintf(stderr, "tokenstore: the conformance suite was stopped by signal %d (%s)\n", sig,
            strsignal(sig));
    return CLI_STORE;
}

/* The suite runs in a child process, so that what was made for it is
 * removed even when it is interrupted (Ctrl-C, SIGTERM) or crashes: this
 * process only waits and cleans up after. The signal that stopped the
 * suite is returned in *stopped_by (else 0). */
static int run_suite_in_child(const struct check *c, const ts_config *cfg,
                              const struct sigaction old[NFORWARDED], int *stopped_by)
{
    sigset_t block, prev;
    int status;

    /* Blocked across the fork: a signal waits until the child has its own
     * handlers back and this process knows whom to pass it to. */
    sigemptyset(&block);
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaddset(&block, forwarded[i]);
    sigprocmask(SIG_BLOCK, &block, &prev);
    *stopped_by = 0;
    if (pending_signal) {
        sigprocmask(SIG_SETMASK, &prev, NULL);
        return say_stopped(pending_signal, stopped_by);
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        restore_signals(old);
        sigprocmask(SIG_SETMASK, &prev, NULL);
        int rc = run_suite(c, cfg);
        fflush(stdout);
        _exit(rc);
    }
    suite_pid = pid;
    sigprocmask(SIG_SETMASK, &prev, NULL);
    if (pid < 0)
        return run_suite(c, cfg);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    suite_pid = 0;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return say_stopped(WTERMSIG(status), stopped_by);
}

int cli_check_backend(const struct cli_check *opt)
{
    struct check c = { .opt = opt };
    struct sigaction old[NFORWARDED];
    ts_config *cfg = NULL;
    ts_error err = { 0 };
    char path[4200];

    catch_signals(old);
    int rc = opt->named ? TS_OK : make_scratch(&c, &err);
    if (rc != TS_OK) {
        restore_signals(old);
        return cli_store_error(rc, &err);
    }
    snprintf(path, sizeof path, "%s/store", c.dir);
    rc = c.dir[0] ? build_config(&c, "path", path, &cfg, &err)
         : build_config(&c, c.prefix[0] ? "prefix" : NULL, c.prefix, &cfg, &err);
    if (rc != TS_OK) {
        remove_scratch_dir(&c);
        restore_signals(old);
        return cli_store_error(rc, &err);
    }
    int scratch = c.dir[0] || c.prefix[0];
    if (scratch && !opt->quiet)
        fprintf(stderr, "tokenstore: checking on a scratch store (%s %s), removed "
                "afterwards\n", c.dir[0] ? "path" : "prefix", c.dir[0] ? path : c.prefix);
    rc = scratch || opt->force ? CLI_OK : refuse_unless_empty(&c, cfg);
    int stopped_by = 0;
    if (rc == CLI_OK) {
        rc = run_suite_in_child(&c, cfg, old, &stopped_by);
        if (!c.dir[0])
            empty_store(cfg);
    }
    remove_scratch_dir(&c);
    ts_config_free(cfg);
    restore_signals(old);
    if (!stopped_by && pending_signal)  /* came after the suite: still stop */
        rc = say_stopped(pending_signal, &stopped_by);
    if (stopped_by == SIGINT || stopped_by == SIGTERM || stopped_by == SIGHUP) {
        signal(stopped_by, SIG_DFL);   /* stopped as the user asked: say so */
        raise(stopped_by);
    }
    return rc;
}
