/*
 * cli/check.c - `tokenstore check-backend`: run the conformance suite
 * without touching data it did not create.
 *
 * The suite empties its store before every check and fills it with
 * thousands of test tokens, so run on a real store it would destroy the
 * tokens there, and those an application saves while it runs. So it
 * runs on a scratch store that nothing else uses, made for the run and
 * removed afterwards:
 *
 * - for a backend with a `path` option (file, sqlite, most third-party
 *   backends), a fresh directory: under $TMPDIR, or beside the path the
 *   user named (the same directory, so the same file system), holding a
 *   store of that path's name;
 * - for one with a `prefix` option (redis), a fresh random key prefix,
 *   after the prefix the user named if any, on the server the other
 *   options name;
 * - for one with a `table` option (mysql), a fresh random table name,
 *   after the table the user named if any, in the database the other
 *   options name; the table is dropped at the end (ts_store_drop).
 *
 * The store the user named is never opened. A backend with none of these
 * options keeps its store where its options say: it runs there when the
 * store is its handle's own (neither persistent nor shared: memory), and
 * otherwise only with --force, which runs on the store as it is named and
 * destroys its tokens.
 *
 * The suite runs in a child process and this one removes the scratch store
 * when the child is done, also when it was interrupted or crashed.
 *
 * Whether a backend takes `path`, `prefix` or `table` is learnt by asking
 * the core to open a store with that option in the scratch location: the
 * core checks options against the backend's list before the backend's
 * open() runs, so a refused option touches nothing.
 */
#include <errno.h>
#include <ftw.h>
#include <libgen.h>
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

/* The options a scratch store is made with, in the order they are tried. */
static const char *const location_keys[] = { "path", "prefix", "table" };
#define NLOCATIONS (sizeof location_keys / sizeof *location_keys)

struct check {
    const struct cli_check *opt;
    const char *key;              /* the scratch store's location option, or NULL */
    char value[4200];             /* ... and its value */
    char dir[4096];               /* the scratch directory, or "" */
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

/* Removes the scratch store: its directory, or (a prefix, a table) what
 * ts_store_drop removes, else its tokens. */
static void remove_scratch(struct check *c, const ts_config *cfg)
{
    if (c->dir[0]) {
        nftw(c->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
        c->dir[0] = '\0';
        return;
    }
    ts_store *store;
    ts_error err = { 0 };
    if (!c->key || !cfg ||
        ts_store_open_config_flags(&store, cfg, TS_OPEN_MUST_EXIST, &err) != TS_OK)
        return;
    int rc = ts_store_drop(store, &err);
    if (rc == TS_ERR_UNSUPPORTED)
        rc = ts_delete_tokens(store, &err);
    if (rc != TS_OK)
        fprintf(stderr, "tokenstore: warning: the scratch store (%s %s) was left behind: %s\n",
                c->key, c->value, err.message);
    ts_store_close(store);
}

/* Sixteen random hex digits. */
static int random_name(char out[17], ts_error *err)
{
    unsigned char bytes[8];

    if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes)
        return fail(err, TS_ERR_IO, "getrandom: %s", strerror(errno));
    for (size_t i = 0; i < sizeof bytes; i++)
        snprintf(out + 2 * i, 3, "%02x", bytes[i]);
    return TS_OK;
}

/* A new directory for a path store: in $TMPDIR, or beside `named`. */
static int scratch_path(struct check *c, const char *named, ts_error *err)
{
    const char *tmp = getenv("TMPDIR");
    char parent[3800], base[256] = "store";

    if (named) {
        char a[4096], b[4096];
        snprintf(a, sizeof a, "%s", named);
        snprintf(b, sizeof b, "%s", named);
        snprintf(parent, sizeof parent, "%s", dirname(a));
        snprintf(base, sizeof base, "%s", basename(b));
    } else {
        snprintf(parent, sizeof parent, "%s", tmp && tmp[0] ? tmp : "/tmp");
    }
    snprintf(c->dir, sizeof c->dir, "%s/%stokenstore-check.XXXXXX", parent, named ? "." : "");
    if (!mkdtemp(c->dir)) {
        c->dir[0] = '\0';
        return fail(err, TS_ERR_IO, "cannot create a scratch directory in %s: %s", parent,
                    strerror(errno));
    }
    snprintf(c->value, sizeof c->value, "%.3900s/%.255s", c->dir, base);
    return TS_OK;
}

/* The scratch value of location option `key`, after `named` if given. */
static int scratch_value(struct check *c, const char *key, const char *named, ts_error *err)
{
    char hex[17];

    if (strcmp(key, "path") == 0)
        return scratch_path(c, named, err);
    if (random_name(hex, err) != TS_OK)
        return TS_ERR_IO;
    if (strcmp(key, "prefix") == 0)
        snprintf(c->value, sizeof c->value, "%stokenstore-check-%s:", named ? named : "", hex);
    else    /* a table: 63 characters at most, PostgreSQL's limit (MySQL's is 64) */
        snprintf(c->value, sizeof c->value, "%.29s%stokenstore_check_%s", named ? named : "",
                 named ? "_" : "", hex);
    return TS_OK;
}

/* The location option the user set (-o or the URI), or NULL. */
static const char *named_location(const struct check *c, const char **value)
{
    ts_config *cfg;
    ts_error err;
    const char *key = NULL;

    *value = NULL;
    if (build_config(c, NULL, NULL, &cfg, &err) != TS_OK)
        return NULL;
    for (size_t i = 0; i < NLOCATIONS && !key; i++)
        if (ts_config_option(cfg, location_keys[i])) {
            key = location_keys[i];
            *value = strdup(ts_config_option(cfg, key));
        }
    ts_config_free(cfg);
    return key;
}

/* Picks and makes the scratch store: c->key and c->value, and c->dir for a
 * path; c->key stays NULL when the backend takes none of the options. */
static int make_scratch(struct check *c, ts_error *err)
{
    const char *named;
    const char *named_key = named_location(c, &named);
    int rc = TS_OK;

    for (size_t i = 0; i < NLOCATIONS && rc == TS_OK; i++) {
        const char *key = location_keys[i];
        if (named_key && strcmp(key, named_key) != 0)
            continue;
        if ((rc = scratch_value(c, key, named_key ? named : NULL, err)) != TS_OK)
            break;
        int tried = try_scratch(c, key, c->value, err);
        if (tried == 0) {
            c->key = key;
            break;
        }
        if (c->dir[0])
            nftw(c->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
        c->dir[0] = '\0';
        if (tried < 0)
            rc = err->code ? err->code : TS_ERR_LOAD;
    }
    free((char *)named);
    return rc;
}

/* --force: deletes what the suite left in the store it was run on. */
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

/* A backend with no location option: its store is used only when it is
 * the handle's own, or with --force. CLI_OK or a refusal. */
static int refuse_unless_private(const ts_config *cfg)
{
    ts_store *store;
    ts_error err = { 0 };
    ts_backend_info info;
    char where[256];

    if (ts_store_open_config_flags(&store, cfg, TS_OPEN_READ_ONLY, &err) == TS_ERR_NO_STORE)
        return CLI_OK;
    if (!store)
        return cli_store_error(err.code, &err);
    ts_store_info(store, &info);
    cli_describe_store(store, cfg, where, sizeof where);
    ts_store_close(store);
    if (!(info.caps & (TS_CAP_PERSISTENT | TS_CAP_SHARED)))
        return CLI_OK;
    fprintf(stderr, "tokenstore: refusing to run the conformance suite on %s: the backend "
            "takes no path, prefix or table option to make a scratch store with, and the "
            "suite deletes every token of its store (--force runs it there and destroys "
            "them)\n", where);
    return CLI_USAGE;
}

static int run_suite(const struct check *c, const ts_config *cfg)
{
    ts_error err = { 0 };
    int failed = cli_conformance_run(cfg, c->opt->differential, c->opt->seed, stdout, &err);

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

    catch_signals(old);
    int rc = opt->force ? TS_OK : make_scratch(&c, &err);
    if (rc == TS_OK)
        rc = build_config(&c, c.key, c.value, &cfg, &err);
    if (rc != TS_OK) {
        remove_scratch(&c, NULL);
        restore_signals(old);
        return cli_store_error(rc, &err);
    }
    if (c.key && !opt->quiet)
        fprintf(stderr, "tokenstore: checking on a scratch store (%s %s), removed "
                "afterwards\n", c.key, c.value);
    rc = c.key || opt->force ? CLI_OK : refuse_unless_private(cfg);
    int stopped_by = 0;
    if (rc == CLI_OK) {
        rc = run_suite_in_child(&c, cfg, old, &stopped_by);
        if (c.key)
            remove_scratch(&c, cfg);
        else if (opt->force)
            empty_store(cfg);
    }
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
