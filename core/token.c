/*
 * core/token.c - the SDK's token: ten optional string fields.
 *
 * A value is stored with its length so it can be wiped before it is freed:
 * tokens carry client secrets and OAuth tokens, and freed heap memory is
 * readable by whatever reuses it. Absent is NULL internally and "" to the
 * caller, matching the SDK where an empty string means "not set".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static const char *const field_names[TS_FIELD_COUNT] = {
    "id", "user_name", "client_id", "client_secret", "refresh_token",
    "access_token", "grant_token", "expiry_time", "redirect_url", "api_domain",
};

void ts__wipe(void *p, size_t n)
{
    if (p && n)
        explicit_bzero(p, n);
}

char *ts__strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

TS_API ts_token *ts_token_new(void)
{
    return calloc(1, sizeof(ts_token));
}

static void field_free(ts_token *t, ts_field f)
{
    if (t->value[f]) {
        ts__wipe(t->value[f], t->len[f]);
        free(t->value[f]);
        t->value[f] = NULL;
        t->len[f] = 0;
    }
}

TS_API void ts_token_clear(ts_token *t)
{
    if (!t)
        return;
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        field_free(t, (ts_field)f);
}

TS_API void ts_token_free(ts_token *t)
{
    if (!t)
        return;
    ts_token_clear(t);
    free(t);
}

TS_API const char *ts_token_get(const ts_token *t, ts_field f)
{
    if (!t || (unsigned)f >= TS_FIELD_COUNT || !t->value[f])
        return "";
    return t->value[f];
}

TS_API size_t ts_token_pack(const ts_token *t, char *buf, size_t size)
{
    size_t need = TS_FIELD_COUNT - 1;

    for (int f = 0; f < TS_FIELD_COUNT; f++)
        need += t->len[f];
    if (need >= size)
        return need;
    char *p = buf;
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        if (t->len[f])
            memcpy(p, t->value[f], t->len[f]);
        p += t->len[f];
        *p++ = '\0';
    }
    return need;
}

int ts__token_unpack(ts_token *t, const char *packed, size_t len)
{
    const char *p = packed, *end = packed + len;
    int f = 0;

    ts_token_clear(t);
    for (;;) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        const char *stop = nul ? nul : end;
        int rc;

        if (f == TS_FIELD_COUNT)
            break;      /* an eleventh value */
        rc = ts__token_setn(t, (ts_field)f++, p, (size_t)(stop - p));
        if (rc != TS_OK) {
            ts_token_clear(t);
            return rc;
        }
        if (!nul)
            return f == TS_FIELD_COUNT ? TS_OK : TS_ERR_INVALID;
        p = nul + 1;
    }
    ts_token_clear(t);
    return TS_ERR_INVALID;
}

int ts__token_setn(ts_token *t, ts_field f, const char *value, size_t len)
{
    char *copy = NULL;

    if (!t || (unsigned)f >= TS_FIELD_COUNT)
        return TS_ERR_INVALID;
    if (value && len > 0) {
        if (memchr(value, '\0', len))
            return TS_ERR_INVALID;
        copy = malloc(len + 1);
        if (!copy)
            return TS_ERR_NOMEM;
        memcpy(copy, value, len);
        copy[len] = '\0';
    }
    field_free(t, f);
    t->value[f] = copy;
    t->len[f] = copy ? len : 0;
    return TS_OK;
}

TS_API int ts_token_set(ts_token *t, ts_field f, const char *value)
{
    return ts__token_setn(t, f, value, value ? strlen(value) : 0);
}

int ts__token_copy(ts_token *dst, const ts_token *src)
{
    if (dst == src)
        return TS_OK;
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        int rc = ts__token_setn(dst, (ts_field)f, src->value[f], src->len[f]);
        if (rc != TS_OK)
            return rc;
    }
    return TS_OK;
}

void ts__token_merge(ts_token *dst, ts_token *src)
{
    /* Moves rather than copies: both callers discard src afterwards, and a
     * find_token then costs one copy of the row, not two. */
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        if (dst->value[f] || !src->value[f])
            continue;
        dst->value[f] = src->value[f];
        dst->len[f] = src->len[f];
        src->value[f] = NULL;
        src->len[f] = 0;
    }
}

TS_API ts_token *ts_token_dup(const ts_token *t)
{
    ts_token *copy = ts_token_new();

    if (copy && t && ts__token_copy(copy, t) != TS_OK) {
        ts_token_free(copy);
        return NULL;
    }
    return copy;
}

TS_API const char *ts_field_name(ts_field f)
{
    return (unsigned)f < TS_FIELD_COUNT ? field_names[f] : NULL;
}

TS_API int ts_field_from_name(const char *name, ts_field *out)
{
    for (int f = 0; name && f < TS_FIELD_COUNT; f++) {
        if (strcmp(name, field_names[f]) == 0) {
            *out = (ts_field)f;
            return TS_OK;
        }
    }
    return TS_ERR_INVALID;
}

TS_API int ts_field_is_secret(ts_field f)
{
    return f == TS_FIELD_CLIENT_SECRET || f == TS_FIELD_REFRESH_TOKEN ||
           f == TS_FIELD_ACCESS_TOKEN || f == TS_FIELD_GRANT_TOKEN;
}
