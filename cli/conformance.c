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
 * This file has the TAP runner; the helpers the checks share are in
 * conformance_tokens.c, the checks of the SDK's rules in
 * conformance_rules.c, those of the calls
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
    int n = (int)(conf_rule_check_count + conf_batch_check_count + conf_durability_check_count) + 1;

    if (ts_store_open_config(&su.store, config, err) != TS_OK)
        return -1;
    ts_store_info(su.store, &info);
    su.caps = info.caps;
    fprintf(out, "1..%d\n# backend %s %s (ABI %u.%u) from %s\n", n, info.name, info.version,
            info.abi_major, info.abi_minor, info.path);
    if (ts_store_key_id(su.store))
        fprintf(out, "# values encrypted with key %s\n", ts_store_key_id(su.store));
    ts_store_close(su.store);
    for (size_t i = 0; i < conf_rule_check_count; i++)
        failures += run_check(&su, &conf_rule_checks[i], ++k, out);
    for (size_t i = 0; i < conf_batch_check_count; i++)
        failures += run_check(&su, &conf_batch_checks[i], ++k, out);
    for (size_t i = 0; i < conf_durability_check_count; i++)
        failures += run_check(&su, &conf_durability_checks[i], ++k, out);
    fprintf(out, "# differential: %u sequences from seed %" PRIu64 "\n", su.sequences,
            su.seed);
    failures += run_check(&su, &conf_differential_check, ++k, out);
    return failures;
}
