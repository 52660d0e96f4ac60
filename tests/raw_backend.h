/*
 * tests/raw_backend.h - a backend's own table, loaded from the build tree
 * and called directly with a host table of the tests', for the members
 * that have no public API (try_lock, unlock, forked, the notes and the
 * log, which the OAuth client and the core reach through the store).
 *
 * A raw handle is opened with option pairs and TS_OPEN_* flags of the
 * test's; the host answers option, option_int, option_choice and
 * option_mode from those pairs as the core does (a bad value is an error
 * naming the option), open_flags from the flags, and has the public token
 * functions, key_fields, error, a silent log, and a table the file
 * backend opens but never fills. A member the backend calls that no test
 * needed so far is NULL, and the test fails loudly.
 *
 * Each handle's options live until raw_close(), which closes the handle
 * through its backend; a mutex keeps raw_open and raw_close usable from
 * threads.
 */
#ifndef TS_TEST_RAW_BACKEND_H
#define TS_TEST_RAW_BACKEND_H

#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <tokenstore/backend.h>
#include <tokenstore/tokenstore.h>

/* What the backend's ts_backend_ctx points at: a handle's options. */
struct raw_ctx {
    const ts_backend *vt;
    void *state;                /* the handle opened with it */
    unsigned flags;
    char **pairs;               /* key, value, ..., NULL: copies */
    struct raw_ctx *next;
};

static struct raw_ctx *raw_handles;
static pthread_mutex_t raw_handles_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---------------------------------------------------------------- the host */

static inline const char *raw_option(ts_backend_ctx *ctx, const char *key)
{
    const struct raw_ctx *c = (const struct raw_ctx *)(const void *)ctx;

    for (int i = 0; c->pairs[i]; i += 2)
        if (strcmp(c->pairs[i], key) == 0)
            return c->pairs[i + 1];
    return NULL;
}

static inline int raw_error(ts_error *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (err) {
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

static inline int raw_option_int(ts_backend_ctx *ctx, const char *key, long long dflt,
                                 long long min, long long max, long long *out, ts_error *err)
{
    const char *v = raw_option(ctx, key);
    char *end;

    *out = dflt;
    if (!v)
        return TS_OK;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || *end || n < min || n > max)
        return raw_error(err, TS_ERR_CONFIG,
                         "option '%s': '%.40s' is not a whole number from %lld to %lld", key,
                         v, min, max);
    *out = n;
    return TS_OK;
}

static inline int raw_option_mode(ts_backend_ctx *ctx, const char *key, unsigned dflt,
                                  unsigned *out, ts_error *err)
{
    const char *v = raw_option(ctx, key);
    char *end;

    *out = dflt;
    if (!v)
        return TS_OK;
    errno = 0;
    unsigned long n = strtoul(v, &end, 8);
    if (errno || end == v || *end || n > 0777)
        return raw_error(err, TS_ERR_CONFIG, "option '%s': '%.40s' is not an octal file mode",
                         key, v);
    *out = (unsigned)n;
    return TS_OK;
}

static inline int raw_option_choice(ts_backend_ctx *ctx, const char *key,
                                    const char *const *choices, int dflt, int *out,
                                    ts_error *err)
{
    const char *v = raw_option(ctx, key);

    *out = dflt;
    if (!v)
        return TS_OK;
    for (int i = 0; choices[i]; i++)
        if (strcasecmp(v, choices[i]) == 0) {
            *out = i;
            return TS_OK;
        }
    return raw_error(err, TS_ERR_CONFIG, "option '%s': '%.40s' is not one of its choices", key,
                     v);
}

static inline unsigned raw_open_flags(ts_backend_ctx *ctx)
{
    return ((const struct raw_ctx *)(const void *)ctx)->flags;
}

static inline const ts_field *raw_key_fields(size_t *count)
{
    static const ts_field keys[] = { TS_FIELD_ID, TS_FIELD_USER_NAME, TS_FIELD_ACCESS_TOKEN,
                                     TS_FIELD_REFRESH_TOKEN, TS_FIELD_GRANT_TOKEN };
    *count = sizeof keys / sizeof *keys;
    return keys;
}

/* The file backend keeps its rows in a host table; opening one for
 * locking or the notes reads no row into it. */
static inline ts_table *raw_table_new(void)
{
    static int table;
    return (ts_table *)&table;
}

static inline void raw_table_drop(ts_table *t)
{
    (void)t;
}

static inline void raw_log(ts_backend_ctx *ctx, int level, const char *fmt, ...)
{
    (void)ctx, (void)level, (void)fmt;
}

static const ts_host raw_host = {
    .size = sizeof(ts_host), .abi_major = TS_ABI_MAJOR, .abi_minor = TS_ABI_MINOR,
    .token_new = ts_token_new, .token_free = ts_token_free, .token_get = ts_token_get,
    .token_set = ts_token_set, .token_clear = ts_token_clear, .field_name = ts_field_name,
    .table_new = raw_table_new, .table_free = raw_table_drop, .table_clear = raw_table_drop,
    .error = raw_error, .log = raw_log, .option = raw_option, .option_int = raw_option_int,
    .option_mode = raw_option_mode, .option_choice = raw_option_choice,
    .open_flags = raw_open_flags, .key_fields = raw_key_fields,
};

/* ---------------------------------------------------------------- backends and handles */

/* The built backend `name`'s table, loaded on first use. */
static inline const ts_backend *raw_backend(const char *name)
{
    static struct { char name[16]; const ts_backend *vt; } loaded[4];
    char so[PATH_MAX];
    const char *top = getenv("top_builddir");
    const ts_backend *vt;
    int i = 0;

    for (; i < 4 && loaded[i].vt; i++)
        if (strcmp(loaded[i].name, name) == 0)
            return loaded[i].vt;
    ck_assert_msg(i < 4, "more than 4 backends loaded raw");
    snprintf(so, sizeof so, "%s/plugins/%s/.libs/%s.so", top ? top : ".", name, name);
    void *dl = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(dl != NULL, "%s", dlerror());
    ts_backend_init_fn init = (ts_backend_init_fn)dlsym(dl, TS_BACKEND_INIT_SYMBOL);
    ck_assert_ptr_nonnull(init);
    ck_assert_int_eq(init(TS_ABI_MAJOR, TS_ABI_MINOR, &raw_host, &vt), TS_OK);
    snprintf(loaded[i].name, sizeof loaded[i].name, "%s", name);
    loaded[i].vt = vt;
    return vt;
}

/* The backend `name`, which must keep notes and a log. */
static inline const ts_backend *raw_notes_backend(const char *name)
{
    const ts_backend *vt = raw_backend(name);

    ck_assert_msg(TS_BACKEND_HAS(vt, note_set) && TS_BACKEND_HAS(vt, note_get) &&
                  TS_BACKEND_HAS(vt, log_append) && TS_BACKEND_HAS(vt, log_walk),
                  "the %s backend keeps no notes and no log", name);
    return vt;
}

static inline size_t raw_pairs(const char *const *pairs)
{
    size_t n = 0;

    while (pairs && pairs[n])
        n += 2;
    return n;
}

static inline void raw_ctx_free(struct raw_ctx *c)
{
    for (int i = 0; c->pairs[i]; i++)
        free(c->pairs[i]);
    free(c->pairs);
    free(c);
}

/* A handle of backend vt with TS_OPEN_* flags and the option pairs of
 * `options`, then of `more` (each NULL-terminated, may be NULL; the
 * first pair naming a key is its value). NULL, with err filled, when the
 * backend does not open it. */
static inline void *raw_open(const ts_backend *vt, unsigned flags, const char *const *options,
                             const char *const *more, ts_error *err)
{
    size_t n = raw_pairs(options), m = raw_pairs(more);
    struct raw_ctx *c = calloc(1, sizeof *c);

    ck_assert_ptr_nonnull(c);
    c->pairs = calloc(n + m + 1, sizeof *c->pairs);
    ck_assert_ptr_nonnull(c->pairs);
    for (size_t i = 0; i < n + m; i++) {
        c->pairs[i] = strdup(i < n ? options[i] : more[i - n]);
        ck_assert_ptr_nonnull(c->pairs[i]);
    }
    c->vt = vt;
    c->flags = flags;
    if (vt->open(&raw_host, (ts_backend_ctx *)(void *)c, &c->state, err) != TS_OK) {
        raw_ctx_free(c);
        return NULL;
    }
    pthread_mutex_lock(&raw_handles_lock);
    c->next = raw_handles;
    raw_handles = c;
    pthread_mutex_unlock(&raw_handles_lock);
    return c->state;
}

/* raw_open, which must succeed. */
static inline void *raw_open_ok(const ts_backend *vt, unsigned flags, const char *const *options,
                                const char *const *more)
{
    ts_error err = { 0 };
    void *state = raw_open(vt, flags, options, more, &err);

    ck_assert_msg(state != NULL, "open (%s backend): %s", vt->name, err.message);
    return state;
}

/* A handle on the store at `path`, which must open. */
static inline void *raw_open_path(const ts_backend *vt, const char *path, unsigned flags)
{
    const char *options[] = { "path", path, NULL };

    return raw_open_ok(vt, flags, options, NULL);
}

/* try_lock, which may only take the lock or find it busy. */
static inline int raw_try_lock(const ts_backend *vt, void *state, const char *name,
                               int64_t ttl_ms, void **handle)
{
    ts_error err = { 0 };
    int rc = vt->try_lock(state, name, ttl_ms, handle, &err);

    ck_assert_msg(rc == TS_OK || rc == TS_ERR_BUSY, "try_lock %s: %s", name, err.message);
    return rc;
}

/* The backend a handle was opened with. */
static inline const ts_backend *raw_vt(void *state)
{
    struct raw_ctx *c;

    pthread_mutex_lock(&raw_handles_lock);
    for (c = raw_handles; c && c->state != state; c = c->next)
        ;
    pthread_mutex_unlock(&raw_handles_lock);
    if (!c)
        ck_abort_msg("a handle raw_open did not open");
    return c->vt;
}

/* The notes and the log, checked: note_set and log_append must succeed,
 * note_get must find the note or answer TS_NOT_FOUND (which it returns).
 * (These, and raw_close, check with ck_abort_msg: the last check a test
 * passed, which names its line in the TAP output, stays the test's own.) */
static inline void raw_note_set_ok(void *state, const char *name, const char *value,
                                   int64_t ttl_ms)
{
    ts_error err = { 0 };
    int rc = raw_vt(state)->note_set(state, name, value, ttl_ms, &err);

    if (rc != TS_OK)
        ck_abort_msg("note_set %s: %d %s", name, rc, err.message);
}

static inline int raw_note_get(void *state, const char *name, char *value, size_t size)
{
    ts_error err = { 0 };
    int rc = raw_vt(state)->note_get(state, name, value, size, &err);

    if (rc != TS_OK && rc != TS_NOT_FOUND)
        ck_abort_msg("note_get %s: %d %s", name, rc, err.message);
    return rc;
}

static inline void raw_log_append_ok(void *state, const char *entry, size_t keep)
{
    ts_error err = { 0 };
    int rc = raw_vt(state)->log_append(state, entry, keep, &err);

    if (rc != TS_OK)
        ck_abort_msg("log_append %.40s: %d %s", entry, rc, err.message);
}

/* Closes a handle raw_open opened, and lets go of its options. */
static inline void raw_close(void *state)
{
    struct raw_ctx **p, *c;

    pthread_mutex_lock(&raw_handles_lock);
    for (p = &raw_handles; *p && (*p)->state != state; p = &(*p)->next)
        ;
    c = *p;
    if (c)
        *p = c->next;
    pthread_mutex_unlock(&raw_handles_lock);
    if (!c)
        ck_abort_msg("raw_close of a handle raw_open did not open");
    c->vt->close(state);
    raw_ctx_free(c);
}

#endif
