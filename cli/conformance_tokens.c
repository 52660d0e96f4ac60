/*
 * cli/conformance_tokens.c - what the conformance checks build on: tokens
 * made from "field", "value" pairs and read back by field name, saves that
 * give back the id, the count and order of a walk, and the comparison that
 * explains a failure. Below every check file; it uses none of them.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "conformance_checks.h"

/* A token from "field=value" pairs, e.g. conf_tok("user_name", "a", NULL). */
ts_token *conf_tok(const char *field, ...)
{
    ts_token *t = ts_token_new();
    va_list ap;

    va_start(ap, field);
    for (const char *f = field; f; f = va_arg(ap, const char *)) {
        ts_field id;
        const char *value = va_arg(ap, const char *);
        if (ts_field_from_name(f, &id) == TS_OK)
            ts_token_set(t, id, value);
    }
    va_end(ap);
    return t;
}

/* A full token for user number i. */
ts_token *conf_user_token(unsigned i)
{
    char user[64], refresh[64], access[64];

    snprintf(user, sizeof user, "user%u@example.com", i);
    snprintf(refresh, sizeof refresh, "1000.refresh.%u", i);
    snprintf(access, sizeof access, "1000.access.%u", i);
    return conf_tok("user_name", user, "client_id", "1000.CLIENT", "client_secret", "s3cret",
                    "refresh_token", refresh, "access_token", access,
                    "expiry_time", "1893456000000", "redirect_url", "https://example.com/cb",
                    "api_domain", "https://www.zohoapis.com", NULL);
}

const char *conf_get(const ts_token *t, const char *field)
{
    ts_field f;
    return ts_field_from_name(field, &f) == TS_OK ? ts_token_get(t, f) : "";
}

/* A token's id by the library's strict rule; UINT64_MAX, which no store
 * may hand out, for one that breaks it, so the check comparing it fails. */
uint64_t conf_id_of(const ts_token *t)
{
    uint64_t id;

    return ts_id_parse(ts_token_get(t, TS_FIELD_ID), &id) == TS_OK ? id : UINT64_MAX;
}

int conf_count_cb(const ts_token *t, void *ud)
{
    (void)t;
    (*(size_t *)ud)++;
    return 0;
}

size_t conf_count(check_state *st)
{
    size_t n = 0;
    if (ts_get_tokens(st->store, conf_count_cb, &n, &st->last) != TS_OK)
        return (size_t)-1;
    return n;
}

/* Saves and frees t; returns the ts_code. *id gets the stored id. */
int conf_save(check_state *st, ts_token *t, uint64_t *id)
{
    int rc = ts_save_token(st->store, t, &st->last);
    if (id)
        *id = rc == TS_OK ? conf_id_of(t) : 0;
    ts_token_free(t);
    return rc;
}

/* The stored token with this id, or NULL. */
ts_token *conf_by_id(check_state *st, uint64_t id)
{
    char buf[24];
    ts_token *t = ts_token_new();

    snprintf(buf, sizeof buf, "%" PRIu64, id);
    if (ts_find_token_by_id(st->store, buf, t, &st->last) != TS_OK) {
        ts_token_free(t);
        return NULL;
    }
    return t;
}

/* Compares two strings, describing the first difference for a failure. */
int conf_same(check_state *st, const char *what, const char *got, const char *want)
{
    if (strcmp(got, want) == 0)
        return 1;
    size_t i = 0;
    while (got[i] && got[i] == want[i])
        i++;
    snprintf(st->why, sizeof st->why,
             "%s differs at byte %zu of %zu (got %zu bytes)", what, i, strlen(want), strlen(got));
    return 0;
}

/* A get_tokens callback that fills the struct order at ud. */
int conf_order_cb(const ts_token *t, void *ud)
{
    struct order *o = ud;
    uint64_t id = conf_id_of(t);
    if (o->n++ && id <= o->last)
        o->bad = 1;
    o->last = id;
    return 0;
}
