/*
 * cli/conformance_batch.c - the conformance checks of the calls that
 * carry many tokens at once: find_tokens in one call and in two halves
 * for an event loop, and save_stream, a restore of any size.
 * conformance.c runs them, after the rules and before durability.
 */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conformance_checks.h"

/* ts_find_tokens answers each query as ts_find_token would, in order,
 * whether the backend pipelines the batch or the core loops. */
static int check_find_tokens(check_state *st)
{
    enum { N = 24 };
    ts_token *q[N];
    int results[N];
    char user[64], access[64];

    for (unsigned i = 1; i <= 20; i++)
        EXPECT_RC(TS_OK, conf_save(st, conf_user_token(i), NULL));
    for (unsigned i = 0; i < N; i++) {
        snprintf(user, sizeof user, "user%u@example.com", i);
        q[i] = conf_tok("user_name", user, NULL);
    }
    ts_token_free(q[0]);
    q[0] = conf_tok("user_name", "stranger@example.com", NULL);
    ts_token_free(q[2]);
    q[2] = conf_tok("client_id", "1000.CLIENT", NULL);
    ts_token_free(q[3]);
    q[3] = conf_tok("access_token", "1000.access.5", NULL);
    ts_token_set(q[4], TS_FIELD_API_DOMAIN, "kept");
    int rc = ts_find_tokens(st->store, q, N, results, &st->last);
    EXPECT(rc == TS_ERR_INVALID && strstr(st->last.message, "lookup key"),
           "a batch holding a query without a key returned '%s' (%s)", ts_strerror(rc),
           st->last.message);
    EXPECT(results[0] == TS_NOT_FOUND && results[2] == TS_ERR_INVALID &&
           results[21] == TS_NOT_FOUND && results[23] == TS_NOT_FOUND,
           "misses and the keyless query answered '%s', '%s', '%s'", ts_strerror(results[0]),
           ts_strerror(results[2]), ts_strerror(results[21]));
    EXPECT(!*conf_get(q[0], "id") && !*conf_get(q[21], "refresh_token"), "a miss filled fields");
    EXPECT(results[3] == TS_OK && strcmp(conf_get(q[3], "user_name"), "user5@example.com") == 0,
           "the access_token query answered '%s' with user '%s'", ts_strerror(results[3]),
           conf_get(q[3], "user_name"));
    EXPECT(strcmp(conf_get(q[4], "api_domain"), "kept") == 0, "a batch find overwrote a set field");
    for (unsigned i = 1; i <= 20; i++) {
        if (i == 2 || i == 3)
            continue;
        snprintf(access, sizeof access, "1000.access.%u", i);
        EXPECT(results[i] == TS_OK && strcmp(conf_get(q[i], "access_token"), access) == 0 &&
               conf_id_of(q[i]) == i, "query %u answered '%s' with id '%s'", i,
               ts_strerror(results[i]), conf_get(q[i], "id"));
    }
    for (unsigned i = 0; i < N; i++)
        ts_token_free(q[i]);
    q[0] = conf_tok("user_name", "user9@example.com", NULL);
    EXPECT_RC(TS_OK, ts_find_tokens(st->store, q, 1, results, &st->last));
    EXPECT(conf_id_of(q[0]) == 9, "a batch of one found id '%s'", conf_get(q[0], "id"));
    ts_token_free(q[0]);
    EXPECT_RC(TS_OK, ts_find_tokens(st->store, q, 0, results, &st->last));
    return 0;
}

/* Receives a sent batch, waiting on its socket; TS_ERR_TIMEOUT when the
 * answers do not come in the time the backend gave. */
static int receive_all(check_state *st, ts_token **q, size_t n, int fd, int timeout_ms,
                       int *results)
{
    int done = 0, rc = TS_OK;

    while (!done) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, timeout_ms) != 1)
            return TS_ERR_TIMEOUT;
        rc = ts_find_tokens_receive(st->store, q, n, results, &done, &st->last);
    }
    return rc;
}

/* ts_find_tokens_send and _receive answer as ts_find_tokens does, where
 * the backend sends finds apart from their answers; elsewhere send says
 * it cannot, and nothing waits. */
static int check_find_tokens_halves(check_state *st)
{
    enum { N = 6 };
    ts_token *q[N], *p[N];
    int results[N], expected[N], fd = -1, timeout_ms = 0;
    char user[64];

    for (unsigned i = 1; i <= 5; i++)
        EXPECT_RC(TS_OK, conf_save(st, conf_user_token(i), NULL));
    for (unsigned i = 0; i < N; i++) {
        snprintf(user, sizeof user, "user%u@example.com", i);
        q[i] = conf_tok("user_name", user, NULL);
        p[i] = conf_tok("user_name", user, NULL);
    }
    ts_token_set(q[2], TS_FIELD_API_DOMAIN, "kept");
    ts_token_set(p[2], TS_FIELD_API_DOMAIN, "kept");
    int rc = ts_find_tokens_send(st->store, q, N, &fd, &timeout_ms, &st->last);
    if (rc == TS_ERR_UNSUPPORTED) {
        EXPECT_RC(TS_ERR_INVALID, ts_find_tokens_receive(st->store, q, N, results, &rc,
                                                         &st->last));
        for (unsigned i = 0; i < N; i++)
            ts_token_free(q[i]), ts_token_free(p[i]);
        return 0;
    }
    EXPECT(rc == TS_OK && fd >= 0 && (timeout_ms > 0 || timeout_ms == -1), "send returned '%s', fd %d, timeout %d ms "
           "(%s)", ts_strerror(rc), fd, timeout_ms, st->last.message);
    EXPECT_RC(TS_ERR_UNSUPPORTED, ts_find_tokens_send(st->store, p, N, &fd, &timeout_ms,
                                                      &st->last));
    EXPECT_RC(TS_ERR_INVALID, ts_find_tokens_receive(st->store, p, N, results, &rc, &st->last));
    EXPECT_RC(TS_OK, receive_all(st, q, N, fd, timeout_ms, results));
    EXPECT_RC(TS_OK, ts_find_tokens(st->store, p, N, expected, &st->last));
    for (unsigned i = 0; i < N; i++) {
        EXPECT(results[i] == expected[i], "find %u answered '%s', find_tokens '%s'", i,
               ts_strerror(results[i]), ts_strerror(expected[i]));
        for (int f = 0; f < TS_FIELD_COUNT; f++)
            EXPECT(strcmp(ts_token_get(q[i], (ts_field)f), ts_token_get(p[i], (ts_field)f)) == 0,
                   "find %u: %s differs from find_tokens's", i, ts_field_name((ts_field)f));
    }
    EXPECT(conf_id_of(q[3]) == 3 && strcmp(conf_get(q[2], "api_domain"), "kept") == 0 &&
           !*conf_get(q[0], "id"), "the halves found ids '%s', '%s' and api_domain '%s'",
           conf_get(q[0], "id"), conf_get(q[3], "id"), conf_get(q[2], "api_domain"));

    /* Given up on, a batch's answers are not taken for the next call's. */
    ts_token_clear(q[1]);
    ts_token_set(q[1], TS_FIELD_USER_NAME, "user1@example.com");
    EXPECT_RC(TS_OK, ts_find_tokens_send(st->store, q + 1, 1, &fd, &timeout_ms, &st->last));
    ts_find_tokens_cancel(st->store);
    ts_token_clear(q[4]);
    ts_token_set(q[4], TS_FIELD_USER_NAME, "user4@example.com");
    EXPECT_RC(TS_OK, ts_find_token(st->store, q[4], &st->last));
    EXPECT(conf_id_of(q[4]) == 4, "after a cancel, user4 found id '%s'", conf_get(q[4], "id"));
    for (unsigned i = 0; i < N; i++)
        ts_token_free(q[i]), ts_token_free(p[i]);
    return 0;
}

/* A stream of user tokens for ts_save_stream: tokens[0..n), the one at
 * `refused` without any secret, and an input error at `broken`. */
struct stream_in {
    unsigned n, next, refused, broken;
    ts_token *current;
    unsigned saved;
    int ids_ascend;
    uint64_t last_id;
};

static int stream_next(void *ud, ts_token **token, ts_error *err)
{
    struct stream_in *in = ud;

    ts_token_free(in->current);
    in->current = NULL;
    if (in->next == in->broken) {
        snprintf(err->message, sizeof err->message, "the input broke");
        return err->code = TS_ERR_IO;
    }
    if (in->next == in->n)
        return TS_NOT_FOUND;
    *token = in->current = conf_user_token(1000 + in->next);
    if (in->next == in->refused) {
        ts_token_set(*token, TS_FIELD_REFRESH_TOKEN, NULL);
        ts_token_set(*token, TS_FIELD_ACCESS_TOKEN, NULL);
    }
    in->next++;
    return TS_OK;
}

static void stream_saved(void *ud, const ts_token *token)
{
    struct stream_in *in = ud;

    in->ids_ascend &= in->saved == 0 || conf_id_of(token) == in->last_id + 1;
    in->last_id = conf_id_of(token);
    in->saved++;
}

/* A stream that stops at token `at`: the store holds all of it or none of
 * what came before, as the backend's transaction allows. */
static int check_stream_stops(check_state *st, unsigned refused, unsigned broken, int want,
                              const char *what)
{
    struct stream_in in = { .n = 10, .refused = refused, .broken = broken, .ids_ascend = 1 };
    size_t saved = 99;
    unsigned at = refused < broken ? refused : broken;

    EXPECT_RC(TS_OK, ts_delete_tokens(st->store, &st->last));
    int rc = ts_save_stream(st->store, stream_next, stream_saved, &in, &saved, &st->last);
    ts_token_free(in.current);
    char where[16];
    snprintf(where, sizeof where, "token %u", at);
    EXPECT(rc == want, "a stream with %s at token %u returned '%s', not '%s'", what, at,
           ts_strerror(rc), ts_strerror(want));
    EXPECT(want != TS_ERR_INVALID || strstr(st->last.message, where),
           "the error does not name %s: %s", where, st->last.message);
    size_t stored = conf_count(st);
    EXPECT((stored == 0 || stored == at) && saved == stored,
           "a stream with %s at token %u left %zu tokens (%zu reported saved); all before "
           "it or none of them", what, at, stored, saved);
    return 0;
}

static int check_save_stream(check_state *st)
{
    struct stream_in in = { .n = 50, .refused = 99, .broken = 99, .ids_ascend = 1 };
    size_t saved = 0;

    EXPECT_RC(TS_OK, ts_save_stream(st->store, stream_next, stream_saved, &in, &saved,
                                    &st->last));
    ts_token_free(in.current);
    EXPECT(saved == 50 && in.saved == 50 && conf_count(st) == 50,
           "a stream of 50 tokens: %zu saved, %u reported, %zu stored", saved, in.saved,
           conf_count(st));
    EXPECT(in.ids_ascend && in.last_id == 50, "the stream's ids do not run 1..50 (last %"
           PRIu64 ")", in.last_id);
    ts_token *q = conf_tok("user_name", "user1049@example.com", NULL);
    int rc = ts_find_token(st->store, q, &st->last);
    int whole = rc == TS_OK && strcmp(conf_get(q, "refresh_token"), "1000.refresh.1049") == 0;
    ts_token_free(q);
    EXPECT(whole, "the stream's last token is not stored whole");
    if (check_stream_stops(st, 3, 99, TS_ERR_INVALID, "a token with no secret"))
        return 1;
    return check_stream_stops(st, 99, 4, TS_ERR_IO, "an input error");
}

const struct check conf_batch_checks[] = {
    { "find_tokens answers a batch as find_token would, in order", check_find_tokens, 0 },
    { "find_tokens_send and _receive answer as find_tokens, or send declines",
      check_find_tokens_halves, 0 },
    { "save_stream saves tokens pulled one at a time; a stop leaves all before it or none",
      check_save_stream, 0 },
};
const size_t conf_batch_check_count = sizeof conf_batch_checks / sizeof *conf_batch_checks;
