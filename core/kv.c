/*
 * core/kv.c - ordered key/value lists of strings: a backend's options and
 * the config's oauth section.
 *
 * A list sits below both the URI parser and the config, so a URI can be
 * parsed into options without the parser knowing what a config is. Values
 * may be passwords or client secrets, so they are wiped when replaced or
 * freed.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static void free_value(char *value)
{
    ts__wipe(value, strlen(value));
    free(value);
}

void ts__kv_free(struct ts_kv *kv)
{
    for (size_t i = 0; i < kv->n; i++) {
        free(kv->items[i].key);
        free_value(kv->items[i].value);
    }
    free(kv->items);
    kv->items = NULL;
    kv->n = 0;
}

static struct ts_option *find(const struct ts_kv *kv, const char *key)
{
    for (size_t i = 0; i < kv->n; i++)
        if (strcmp(kv->items[i].key, key) == 0)
            return &kv->items[i];
    return NULL;
}

const char *ts__kv_get(const struct ts_kv *kv, const char *key)
{
    const struct ts_option *o = find(kv, key);
    return o ? o->value : NULL;
}

int ts__kv_from_file(const struct ts_kv *kv, const char *key)
{
    const struct ts_option *o = find(kv, key);
    return o && o->from_file;
}

void ts__kv_mark_from_file(struct ts_kv *kv)
{
    for (size_t i = 0; i < kv->n; i++)
        kv->items[i].from_file = 1;
}

int ts__kv_set(struct ts_kv *kv, const char *key, const char *value, ts_error *err)
{
    char *copy = strdup(value);
    struct ts_option *items;

    struct ts_option *o = find(kv, key);

    if (!copy)
        return ts__error(err, TS_ERR_NOMEM, "out of memory");
    if (o) {
        free_value(o->value);
        o->value = copy;
        o->from_file = 0;
        return TS_OK;
    }
    items = realloc(kv->items, (kv->n + 1) * sizeof *items);
    if (!items || !(items[kv->n].key = strdup(key))) {
        if (items)
            kv->items = items;
        free(copy);
        return ts__error(err, TS_ERR_NOMEM, "out of memory");
    }
    items[kv->n].from_file = 0;
    items[kv->n++].value = copy;
    kv->items = items;
    return TS_OK;
}

int ts__kv_merge(struct ts_kv *dst, const struct ts_kv *src, ts_error *err)
{
    int rc = TS_OK;

    for (size_t i = 0; rc == TS_OK && i < src->n; i++) {
        rc = ts__kv_set(dst, src->items[i].key, src->items[i].value, err);
        if (rc == TS_OK)
            find(dst, src->items[i].key)->from_file = src->items[i].from_file;
    }
    return rc;
}
