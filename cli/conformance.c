/*
 * cli/conformance.c - the conformance suite: does a backend keep the SDK's
 * TokenStore contract?
 *
 * Every backend, ours or a third party's, is driven through the public API
 * exactly as an application drives it, so what is proven here is what an
 * application gets: the SDK's lookup-key priority, find_token filling only
 * empty fields, save_token's upsert and numeric ids, one row per user,
 * byte-exact values, ordering, missing ids, persistence and sharing (when
 * the backend claims them), threads, 10,000 tokens, and a read-only handle
 * that reads everything and changes nothing.
 *
 * Each check opens a fresh handle on the configured store and empties it
 * first, so checks are independent and the store must be a scratch one.
 * Output is TAP, so `make check` and any CI counts single checks.
 *
 * This file has the helpers the checks share and the TAP runner; the
 * checks of the SDK's rules are in conformance_rules.c, those of the calls
 * carrying many tokens in conformance_batch.c, those of durability,
 * concurrency and read-only access in conformance_durability.c, and the
 * differential check in conformance_differential.c.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "conformance.h"
#include "conformance_checks.h"

/* A token from "field=value" pairs, e.g. tok("user_name", "a", NULL). */
ts_token *tok(const char *field, ...)
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
ts_token *user_token(unsigned i)
{
    char user[64], refresh[64], access[64];

    snprintf(user, sizeof user, "user%u@example.com", i);
    snprintf(refresh, sizeof refresh, "1000.refresh.%u", i);
    snprintf(access, sizeof access, "1000.access.%u", i);
    return tok("user_name", user, "client_id", "1000.CLIENT", "client_secret", "s3cret",
               "refresh_token", refresh, "access_token", access,
               "expiry_time", "1893456000000", "redirect_url", "https://example.com/cb",
               "api_domain", "https://www.zohoapis.com", NULL);
}

const char *get(const ts_token *t, const char *field)
{
    ts_field f;
    return ts_field_from_name(field, &f) == TS_OK ? ts_token_get(t, f) : "";
}

/* A token's id by the library's strict rule; UINT64_MAX, which no store
 * may hand out, for one that breaks it, so the check comparing it fails. */
uint64_t id_of(const ts_token *t)
{
    uint64_t id;

    return ts_id_parse(ts_token_get(t, TS_FIELD_ID), &id) == TS_OK ? id : UINT64_MAX;
}

int count_cb(const ts_token *t, void *ud)
{
    (void)t;
    (*(size_t *)ud)++;
    return 0;
}

size_t count(check_state *st)
{
    size_t n = 0;
    if (ts_get_tokens(st->store, count_cb, &n, &st->last) != TS_OK)
        return (size_t)-1;
    return n;
}

/* Saves and frees t; returns the ts_code. *id gets the stored id. */
int save(check_state *st, ts_token *t, uint64_t *id)
{
    int rc = ts_save_token(st->store, t, &st->last);
    if (id)
        *id = rc == TS_OK ? id_of(t) : 0;
    ts_token_free(t);
    return rc;
}

/* The stored token with this id, or NULL. */
ts_token *by_id(check_state *st, uint64_t id)
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
int same(check_state *st, const char *what, const char *got, const char *want)
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
int order_cb(const ts_token *t, void *ud)
{
    struct order *o = ud;
    uint64_t id = id_of(t);
    if (o->n++ && id <= o->last)
        o->bad = 1;
    o->last = id;
    return 0;
}

/* ---------------------------------------------------------------- runner */

static int run_check(struct suite *su, const struct check *c, int n, FILE *out)
{
    check_state st = { .suite = su };
    int failed;

    if ((su->caps & c->needs) != c->needs) {
        fprintf(out, "ok %d - %s # SKIP the backend does not claim this capability\n", n, c->name);
        return 0;
    }
    if (ts_store_open_config(&st.store, su->config, &st.last) != TS_OK) {
        snprintf(st.why, sizeof st.why, "open: %s", st.last.message);
        failed = 1;
    } else if (ts_delete_tokens(st.store, &st.last) != TS_OK) {
        snprintf(st.why, sizeof st.why, "delete_tokens: %s", st.last.message);
        failed = 1;
    } else {
        failed = c->run(&st);
    }
    ts_store_close(st.store);
    fprintf(out, "%s %d - %s\n", failed ? "not ok" : "ok", n, c->name);
    if (failed)
        fprintf(out, "# %s\n", st.why);
    fflush(out);
    return failed;
}

int cli_conformance_run(const ts_config *config, unsigned sequences, uint64_t seed,
                        FILE *out, ts_error *err)
{
    struct suite su = { .config = config,
                        .sequences = sequences ? sequences : CLI_DIFFERENTIAL_SEQUENCES,
                        .seed = seed ? seed : CLI_DIFFERENTIAL_SEED };
    ts_backend_info info;
    int failures = 0, k = 0;
    int n = (int)(rule_check_count + batch_check_count + durability_check_count) + 1;

    if (ts_store_open_config(&su.store, config, err) != TS_OK)
        return -1;
    ts_store_info(su.store, &info);
    su.caps = info.caps;
    fprintf(out, "1..%d\n# backend %s %s (ABI %u.%u) from %s\n", n, info.name, info.version,
            info.abi_major, info.abi_minor, info.path);
    if (ts_store_key_id(su.store))
        fprintf(out, "# values encrypted with key %s\n", ts_store_key_id(su.store));
    ts_store_close(su.store);
    for (size_t i = 0; i < rule_check_count; i++)
        failures += run_check(&su, &rule_checks[i], ++k, out);
    for (size_t i = 0; i < batch_check_count; i++)
        failures += run_check(&su, &batch_checks[i], ++k, out);
    for (size_t i = 0; i < durability_check_count; i++)
        failures += run_check(&su, &durability_checks[i], ++k, out);
    fprintf(out, "# differential: %u sequences from seed %" PRIu64 "\n", su.sequences,
            su.seed);
    failures += run_check(&su, &differential_check, ++k, out);
    return failures;
}
