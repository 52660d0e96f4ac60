/*
 * cli/conformance_checks.h - what the conformance suite's files share:
 * the state a check runs in, the EXPECT macros and the token helpers
 * (conformance_tokens.c), and the tables of checks the runner goes
 * through: the SDK's rules (conformance_rules.c), the calls that carry
 * many tokens (conformance_batch.c), durability, concurrency and read-only access
 * (conformance_durability.c) and the differential check
 * (conformance_differential.c). Only those files include it; the command
 * sees conformance.h.
 */
#ifndef TS_CLI_CONFORMANCE_CHECKS_H
#define TS_CLI_CONFORMANCE_CHECKS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <tokenstore/tokenstore.h>

struct suite {
    const ts_config *config;
    ts_store *store;
    uint32_t caps;
    unsigned sequences;      /* the differential check's */
    uint64_t seed;           /* its first sequence's */
};

typedef struct check_state {
    struct suite *suite;
    ts_store *store;         /* a fresh handle, emptied before the check */
    ts_error last;           /* the last call's error, quoted in failures */
    char why[1024];          /* why the check failed */
} check_state;

/* Fails the current check with a reason unless cond holds. */
#define EXPECT(cond, ...)                                                     \
    do {                                                                      \
        if (!(cond)) {                                                        \
            snprintf(st->why, sizeof st->why, __VA_ARGS__);                   \
            return 1;                                                         \
        }                                                                     \
    } while (0)

/* Runs a store call and fails the check unless it returns `want`. */
#define EXPECT_RC(want, call)                                                 \
    do {                                                                      \
        int rc_ = (call);                                                     \
        EXPECT(rc_ == (want), "%s returned '%s', expected '%s' (%s)", #call,  \
               ts_strerror(rc_), ts_strerror(want), st->last.message);        \
    } while (0)

/* Fails the check unless got is the string want (see conf_same()). */
#define EXPECT_SAME(what, got, want)                                          \
    do {                                                                      \
        if (!conf_same(st, what, got, want))                                       \
            return 1;                                                         \
    } while (0)

/* One check: its TAP line, its function (non-zero: failed, st->why says
 * why), and the capabilities without which it is skipped. */
struct check {
    const char *name;
    int (*run)(check_state *st);
    uint32_t needs;      /* capability bits the check requires */
};

/* The checks, in the order they run and are numbered: the rules, the
 * calls that carry many tokens (conformance_batch.c), the durability ones;
 * then the differential check. */
extern const struct check conf_rule_checks[];
extern const size_t conf_rule_check_count;
extern const struct check conf_batch_checks[];
extern const size_t conf_batch_check_count;
extern const struct check conf_durability_checks[];
extern const size_t conf_durability_check_count;
/* The differential check (conformance_differential.c), run last. */
extern const struct check conf_differential_check;

/* The helpers, in conformance_tokens.c. */

/* A token from "field=value" pairs, e.g. conf_tok("user_name", "a", NULL). */
ts_token *conf_tok(const char *field, ...);
/* A full token for user number i. */
ts_token *conf_user_token(unsigned i);
/* The field of t named `field` ("" when it is absent). */
const char *conf_get(const ts_token *t, const char *field);
/* A token's id by the library's strict rule; UINT64_MAX, which no store
 * may hand out, for one that breaks it, so the check comparing it fails. */
uint64_t conf_id_of(const ts_token *t);
/* A get_tokens callback that counts into the size_t at ud. */
int conf_count_cb(const ts_token *t, void *ud);
/* How many tokens the store lists; (size_t)-1 when it cannot list them. */
size_t conf_count(check_state *st);
/* Saves and frees t; returns the ts_code. *id gets the stored id. */
int conf_save(check_state *st, ts_token *t, uint64_t *id);
/* The stored token with this id, or NULL. */
ts_token *conf_by_id(check_state *st, uint64_t id);
/* Compares two strings, describing the first difference for a failure. */
int conf_same(check_state *st, const char *what, const char *got, const char *want);
/* What conf_order_cb sees of a walk: the tokens, the last id, and whether the
 * ids failed to ascend. */
struct order {
    uint64_t last;
    size_t n;
    int bad;
};
/* A get_tokens callback that fills the struct order at ud. */
int conf_order_cb(const ts_token *t, void *ud);

#endif
