/*
 * tests/mysql/raw_backend.c - the mysql backend with a host of the test's
 * own (raw_backend.h). The host has what opening a store and the notes
 * use: the public token functions, the options of a handle, errors; a
 * helper the backend calls unexpectedly is NULL and crashes the test
 * loudly.
 */
#include <check.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <tokenstore/tokenstore.h>
#include "harness.h"
#include "raw_backend.h"

/* The backend and the option naming its database: the postgres tests
 * build this file for theirs (tests/postgres/raw_backend.c). */
#ifndef RAW_BACKEND
#define RAW_BACKEND "mysql"
#define RAW_DATABASE_OPTION "database"
#endif

/* What the backend's ts_backend_ctx points at here. */
struct raw_ctx {
    const char *options[32];          /* key, value, ..., NULL */
    char port[16];
    unsigned flags;
    void *state;                      /* the handle opened with it */
    struct raw_ctx *next;
};

static struct raw_ctx *open_handles;  /* freed with their handle */

static const char *raw_option(ts_backend_ctx *ctx, const char *key)
{
    const struct raw_ctx *c = (const struct raw_ctx *)ctx;

    for (int i = 0; c->options[i]; i += 2)
        if (strcmp(c->options[i], key) == 0)
            return c->options[i + 1];
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
    const char *v = raw_option(ctx, key);

    (void)err;
    *out = dflt;
    for (int i = 0; v && choices[i]; i++)
        if (strcasecmp(v, choices[i]) == 0)
            *out = i;
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
    *count = sizeof keys / sizeof keys[0];
    return keys;
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

static void raw_log(ts_backend_ctx *ctx, int level, const char *fmt, ...)
{
    (void)ctx, (void)level, (void)fmt;
}

static const ts_host raw_host = {
    .size = sizeof(ts_host), .abi_major = TS_ABI_MAJOR, .abi_minor = TS_ABI_MINOR,
    .token_new = ts_token_new, .token_free = ts_token_free, .token_get = ts_token_get,
    .token_set = ts_token_set, .token_clear = ts_token_clear, .field_name = ts_field_name,
    .error = raw_error, .log = raw_log, .option = raw_option, .option_int = raw_option_int,
    .option_choice = raw_option_choice, .open_flags = raw_open_flags,
    .key_fields = raw_key_fields,
};

const ts_backend *raw_backend(void)
{
    static const ts_backend *vt;
    const char *top = getenv("top_builddir");
    char so[PATH_MAX];

    if (vt)
        return vt;
    snprintf(so, sizeof so, "%s/plugins/" RAW_BACKEND "/.libs/" RAW_BACKEND ".so",
             top ? top : ".");
    void *dl = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(dl != NULL, "%s", dlerror());
    ts_backend_init_fn init = (ts_backend_init_fn)dlsym(dl, TS_BACKEND_INIT_SYMBOL);
    ck_assert_ptr_nonnull(init);
    ck_assert_int_eq(init(TS_ABI_MAJOR, TS_ABI_MINOR, &raw_host, &vt), TS_OK);
    return vt;
}

void *raw_open(const char *table, unsigned flags, const char *const *options, ts_error *err)
{
    struct raw_ctx *c = calloc(1, sizeof *c);
    void *state = NULL;
    int n = 0;

    snprintf(c->port, sizeof c->port, "%d", server_port);
    c->flags = flags;
    ck_assert_ptr_nonnull(c);
    for (int i = 0; options && options[i] && n < 18; i += 2) {
        c->options[n++] = options[i];
        c->options[n++] = options[i + 1];
    }
    const char *defaults[] = { "host", "127.0.0.1", "port", c->port, "user", "app",
                               "password", APP_PASSWORD, RAW_DATABASE_OPTION, "tokens",
                               "table", table, NULL };
    for (int i = 0; defaults[i]; i += 2) {
        if (raw_option((ts_backend_ctx *)c, defaults[i]))
            continue;
        c->options[n++] = defaults[i];
        c->options[n++] = defaults[i + 1];
    }
    if (raw_backend()->open(&raw_host, (ts_backend_ctx *)c, &state, err) != TS_OK) {
        free(c);
        return NULL;
    }
    c->state = state;
    c->next = open_handles;
    open_handles = c;
    return state;
}

void raw_close(void *state)
{
    struct raw_ctx **p = &open_handles;

    raw_backend()->close(state);
    while (*p && (*p)->state != state)
        p = &(*p)->next;
    if (*p) {
        struct raw_ctx *c = *p;
        *p = c->next;
        free(c);
    }
}
