/*
 * tests/redis/raw_host.h - the redis backend's table, loaded from the
 * build tree and called directly with a host table of the test's own,
 * for members that have no public API (the notes and the log, which the
 * OAuth client calls through the core). The host has what opening and
 * those members use; a helper the backend calls unexpectedly is NULL and
 * fails loudly.
 */
#ifndef TS_TEST_REDIS_RAW_HOST_H
#define TS_TEST_REDIS_RAW_HOST_H

#include <check.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tokenstore/backend.h>
#include <tokenstore/tokenstore.h>

/* What a raw handle is opened with: option pairs and TS_OPEN_* flags. */
struct raw_ctx {
    const char *opts[12];
    unsigned flags;
    char port[16];
};

static const char *raw_option(ts_backend_ctx *ctx, const char *key)
{
    const struct raw_ctx *c = (const struct raw_ctx *)ctx;

    for (int i = 0; c->opts[i]; i += 2)
        if (strcmp(c->opts[i], key) == 0)
            return c->opts[i + 1];
    return NULL;
}

static int raw_option_int(ts_backend_ctx *ctx, const char *key, long long dflt, long long min,
                          long long max, long long *out, ts_error *err)
{
    const char *v = raw_option(ctx, key);

    (void)min, (void)max, (void)err;
    *out = v ? atoll(v) : dflt;
    return TS_OK;
}

static int raw_option_choice(ts_backend_ctx *ctx, const char *key, const char *const *choices,
                             int dflt, int *out, ts_error *err)
{
    (void)ctx, (void)key, (void)choices, (void)err;
    *out = dflt;
    return TS_OK;
}

static unsigned raw_open_flags(ts_backend_ctx *ctx)
{
    return ((const struct raw_ctx *)ctx)->flags;
}

static const ts_field *raw_key_fields(size_t *count)
{
    static const ts_field keys[] = { TS_FIELD_ID, TS_FIELD_USER_NAME, TS_FIELD_ACCESS_TOKEN,
                                     TS_FIELD_REFRESH_TOKEN, TS_FIELD_GRANT_TOKEN };
    *count = sizeof keys / sizeof *keys;
    return keys;
}

static void raw_log(ts_backend_ctx *ctx, int level, const char *fmt, ...)
{
    (void)ctx, (void)level, (void)fmt;
}

static int raw_error(ts_error *err, int code, const char *fmt, ...)
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

static const ts_host raw_host = {
    .size = sizeof(ts_host), .abi_major = TS_ABI_MAJOR, .abi_minor = TS_ABI_MINOR,
    .token_new = ts_token_new, .token_free = ts_token_free, .field_name = ts_field_name,
    .error = raw_error, .log = raw_log, .option = raw_option, .option_int = raw_option_int,
    .option_choice = raw_option_choice, .open_flags = raw_open_flags,
    .key_fields = raw_key_fields,
};

static const ts_backend *backend(void)
{
    static const ts_backend *vt;
    char so[PATH_MAX];
    const char *top = getenv("top_builddir");

    if (vt)
        return vt;
    snprintf(so, sizeof so, "%s/plugins/redis/.libs/redis.so", top ? top : "../..");
    void *dl = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(dl != NULL, "%s", dlerror());
    ts_backend_init_fn init = (ts_backend_init_fn)dlsym(dl, TS_BACKEND_INIT_SYMBOL);
    ck_assert_ptr_nonnull(init);
    ck_assert_int_eq(init(TS_ABI_MAJOR, TS_ABI_MINOR, &raw_host, &vt), TS_OK);
    ck_assert_msg(TS_BACKEND_HAS(vt, note_set) && TS_BACKEND_HAS(vt, note_get) &&
                  TS_BACKEND_HAS(vt, log_append) && TS_BACKEND_HAS(vt, log_walk),
                  "the redis backend offers no notes");
    return vt;
}

/* A raw handle on the server at 127.0.0.1:port under `prefix`; `more`
 * adds option pairs (NULL-terminated, may be NULL). The ctx must outlive
 * the handle. */
static void *raw_open(struct raw_ctx *c, int port, const char *prefix, unsigned flags,
                      const char *const *more)
{
    void *state;
    ts_error err = { 0 };
    int n = 0;

    snprintf(c->port, sizeof c->port, "%d", port);
    c->opts[n++] = "port", c->opts[n++] = c->port;
    c->opts[n++] = "prefix", c->opts[n++] = prefix;
    for (int i = 0; more && more[i]; i++)
        c->opts[n++] = more[i];
    c->opts[n] = NULL;
    c->flags = flags;
    int rc = backend()->open(&raw_host, (ts_backend_ctx *)c, &state, &err);
    ck_assert_msg(rc == TS_OK, "open: %s", err.message);
    return state;
}

#endif
