/*
 * core/host.c - the table of host helpers every backend receives.
 *
 * Backends do not link against libtokenstore: everything they need from
 * the core reaches them through this one const table, in the manner of
 * SQLite's loadable-extension API routines. Adding a helper means adding a
 * member at the end of struct ts_host and bumping TS_ABI_MINOR.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "internal.h"

static const char *host_option(ts_backend_ctx *ctx, const char *key)
{
    return ts_config_option(ctx->config, key);
}

/* Where a bad option value came from: a config file's key path when the
 * value was read from one (the user edits that file), else the option (a
 * URI's, or one set on top of the file, such as the command's -o). */
static const char *option_label(ts_backend_ctx *ctx, const char *key, char *buf, size_t size)
{
    if (ts__kv_from_file(&ctx->config->options, key))
        snprintf(buf, size, "%s: store.options.%s", ctx->config->origin, key);
    else
        snprintf(buf, size, "option '%s'", key);
    return buf;
}

static int host_option_int(ts_backend_ctx *ctx, const char *key, long long dflt,
                           long long min, long long max, long long *out, ts_error *err)
{
    const char *v = host_option(ctx, key);
    char *end, label[512];

    *out = dflt;
    if (!v)
        return TS_OK;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || *end || n < min || n > max)
        return ts__error(err, TS_ERR_CONFIG,
                         "%s: '%.40s' is not a whole number from %lld to %lld",
                         option_label(ctx, key, label, sizeof label), v, min, max);
    *out = n;
    return TS_OK;
}

static int host_option_mode(ts_backend_ctx *ctx, const char *key, unsigned dflt,
                            unsigned *out, ts_error *err)
{
    const char *v = host_option(ctx, key);
    char *end, label[512];

    *out = dflt;
    if (!v)
        return TS_OK;
    errno = 0;
    unsigned long n = strtoul(v, &end, 8);
    if (errno || end == v || *end || n > 0777)
        return ts__error(err, TS_ERR_CONFIG,
                         "%s: '%.40s' is not an octal file mode such as 0600",
                         option_label(ctx, key, label, sizeof label), v);
    *out = (unsigned)n;
    return TS_OK;
}

static int host_option_choice(ts_backend_ctx *ctx, const char *key,
                              const char *const *choices, int dflt, int *out, ts_error *err)
{
    const char *v = host_option(ctx, key);
    char list[256] = "", label[512];
    int n = 0;

    *out = dflt;
    if (!v)
        return TS_OK;
    for (; choices[n]; n++) {
        if (strcasecmp(v, choices[n]) == 0) {
            *out = n;
            return TS_OK;
        }
    }
    for (int i = 0; i < n; i++) {
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s", i == 0 ? "" : i < n - 1 ? ", " : " or ",
                 choices[i]);
    }
    return ts__error(err, TS_ERR_CONFIG, "%s: '%.40s' is not %s",
                     option_label(ctx, key, label, sizeof label), v, list);
}

static unsigned host_open_flags(ts_backend_ctx *ctx)
{
    return ctx->open_flags;
}

const ts_host ts__host = {
    .size = sizeof(ts_host),
    .abi_major = TS_ABI_MAJOR,
    .abi_minor = TS_ABI_MINOR,
    .token_new = ts_token_new,
    .token_free = ts_token_free,
    .token_get = ts_token_get,
    .token_set = ts_token_set,
    .token_setn = ts__token_setn,
    .token_copy = ts__token_copy,
    .token_clear = ts_token_clear,
    .field_name = ts_field_name,
    .lookup_keys = ts__lookup_keys,
    .find_by_rule = ts__find_by_rule,
    .save_resolve = ts__save_resolve,
    .id_parse = ts__id_parse,
    .id_format = ts__id_format,
    .table_new = ts__table_new,
    .table_free = ts__table_free,
    .table_lookup = ts__table_lookup,
    .table_get = ts__table_get,
    .table_save = ts__table_save,
    .table_insert = ts__table_insert,
    .table_delete = ts__table_delete,
    .table_clear = ts__table_clear,
    .table_count = ts__table_count,
    .table_foreach = ts__table_foreach,
    .error = ts__error,
    .log = ts__log,
    .option = host_option,
    .option_int = host_option_int,
    .option_mode = host_option_mode,
    .open_flags = host_open_flags,
    .key_fields = ts__get_key_fields,
    .next_id = ts__next_id,
    .option_choice = host_option_choice,
    .save_plan = ts__save_plan,
    .error_prefix = ts__error_prefix_code,
};
