/*
 * core/store_batch.c - many finds at once: ts_find_tokens, and its two
 * halves for an event loop, ts_find_tokens_send and
 * ts_find_tokens_receive.
 *
 * A backend that answers a batch in one round trip (redis pipelines it)
 * gets the queries that have a lookup key in one call; the others fail
 * here, each with its own result. Every result is settled here into the
 * caller's tokens as ts_find_token would (the stored row filling the
 * empty fields), and the error reported is the first failed query's,
 * whichever side failed it. With encryption the queries are sealed by
 * the current key and the rows opened here; a find that key's form does
 * not answer is asked again by ts_find_token, which tries the older
 * forms (the halves leave it to the caller). ts_find_tokens_cancel stays
 * in store.c, which closes a store with a batch still out.
 */
#include <stdlib.h>
#include "crypt.h"
#include "store.h"

static struct batch *batch_new(size_t n)
{
    struct batch *b = calloc(1, sizeof *b + n * (2 * sizeof(ts_token) + 3 * sizeof(void *) +
                                                 sizeof(size_t) + sizeof(int)));

    if (b) {
        b->n = n;
        b->rows = (ts_token *)(b + 1);
        b->sealed = b->rows + n;
        b->queries = (const ts_token **)(b->sealed + n);
        b->asked = (const ts_token **)(b->queries + n);
        b->row_of = (ts_token **)(b->asked + n);
        b->index = (size_t *)(b->row_of + n);
        b->found = (int *)(b->index + n);
    }
    return b;
}

/* The first failure found here rather than by the backend (a token
 * without a lookup key, a value that cannot be opened), by index. */
struct own_failure {
    size_t at;               /* n: none */
    ts_error why;
};

static void own_failed(struct own_failure *own, size_t at, const ts_error *why)
{
    if (at < own->at) {
        own->at = at;
        own->why = *why;
    }
}

/* Query j, as the backend gets it: sealed by the current key when the
 * store encrypts. */
static int batch_query(ts_store *s, struct batch *b, size_t j, const ts_token *token,
                       size_t index, struct own_failure *own)
{
    ts_error why = { 0 };

    b->asked[j] = b->queries[j] = token;
    b->row_of[j] = &b->rows[j];
    b->found[j] = TS_ERR_BACKEND;    /* until the backend says */
    b->index[j] = index;
    if (!s->crypt)
        return TS_OK;
    b->queries[j] = &b->sealed[j];
    int rc = ts__crypt_seal_token(s->crypt, 0, token, &b->sealed[j], &why);
    if (rc != TS_OK)
        own_failed(own, index, &why);
    return rc;
}

/* The rows found, opened; a find the current key's form did not answer
 * but an older one may is asked again through ts_find_token (by_token),
 * or, for the halves, left to the caller (TS_ERR_UNSUPPORTED). */
static void batch_open(ts_store *s, struct batch *b, size_t m, ts_token *const *tokens,
                       int by_token, struct own_failure *own)
{
    ts_error why = { 0 };

    for (size_t j = 0; j < m; j++) {
        int *rc = &b->found[j];
        const ts_token *asked = tokens[b->index[j]];
        if (*rc == TS_OK)
            *rc = ts__crypt_open_token(s->crypt, &b->rows[j],
                                       s->crypt && s->crypt->allow_plaintext, &why);
        else if (*rc == TS_NOT_FOUND && ts__crypt_forms(s->crypt, asked) > 1)
            *rc = by_token ? ts_find_token(s, tokens[b->index[j]], &why)
                           : ts__error(&why, TS_ERR_UNSUPPORTED, "token %zu: not found under "
                                       "the current key; ts_find_token looks under the older "
                                       "ones", b->index[j]);
        else
            continue;
        if (*rc != TS_OK && *rc != TS_NOT_FOUND) {
            ts_token_clear(&b->rows[j]);
            own_failed(own, b->index[j], &why);
        }
    }
}

/* Takes the m backend results into results[] and the tokens; the first
 * failure, the backend's or one found here, decides the return value. */
static int batch_settle(struct batch *b, size_t m, ts_token *const *tokens, size_t n,
                        int *results, const struct own_failure *own, ts_error *err)
{
    size_t failed = n;

    for (size_t j = 0; j < m; j++) {
        results[b->index[j]] = b->found[j];
        if (b->found[j] == TS_OK)
            ts__token_merge(tokens[b->index[j]], &b->rows[j]);
        else if (b->found[j] != TS_NOT_FOUND && failed == n)
            failed = b->index[j];
    }
    if (own->at <= failed && own->at < n && err)
        *err = own->why;
    if (own->at < n || failed < n)
        return results[own->at < failed ? own->at : failed];
    return TS_OK;
}

/* The backend's batch: the queries with a lookup key go to find_tokens in
 * one call, the others fail here, and the error reported is the first
 * failed query's, whichever side failed it. */
static int find_batch(ts_store *s, ts_token *const *tokens, size_t n, int *results,
                      ts_error *err)
{
    struct batch *b = batch_new(n);
    struct own_failure own = { .at = n };
    size_t m = 0;
    ts_field keys[2];
    ts_error why = { 0 };
    int rc;

    if (!b) {
        rc = ts__error(err, TS_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < n; i++)
            results[i] = rc;
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        if (ts__lookup_keys(tokens[i], keys) == 0) {
            results[i] = ts__no_lookup_key(&why);
            own_failed(&own, i, &why);
        } else if ((rc = batch_query(s, b, m, tokens[i], i, &own)) != TS_OK) {
            results[i] = rc;
        } else {
            m++;
        }
    }
    if (m > 0 && (rc = ts__store_enter(s, err)) != TS_OK)
        for (size_t j = 0; j < m; j++)
            b->found[j] = rc;
    else if (m > 0)
        ts__store_leave(s, s->module.vt->find_tokens(s->state, b->queries, m, b->row_of, b->found, err),
              err);
    batch_open(s, b, m, tokens, 1, &own);
    rc = batch_settle(b, m, tokens, n, results, &own, err);
    ts__batch_free(b);
    return rc;
}

TS_API int ts_find_tokens(ts_store *s, ts_token *const *tokens, size_t n, int *results,
                          ts_error *err)
{
    int rc = TS_OK;

    if (n > 0 && TS_BACKEND_HAS(s->module.vt, find_tokens))
        return find_batch(s, tokens, n, results, err);
    for (size_t i = 0; i < n; i++) {
        results[i] = ts_find_token(s, tokens[i], rc == TS_OK ? err : NULL);
        if (rc == TS_OK && results[i] != TS_NOT_FOUND)
            rc = results[i];
    }
    return rc;
}

TS_API int ts_find_tokens_send(ts_store *s, ts_token *const *tokens, size_t n, int *fd,
                               int *timeout_ms, ts_error *err)
{
    const ts_backend *vt = s->module.vt;
    struct own_failure own = { .at = n };
    ts_field keys[2];
    struct batch *b;
    int rc = TS_OK;

    if (!TS_BACKEND_HAS(vt, find_tokens_send) || !TS_BACKEND_HAS(vt, find_tokens_receive) ||
        !TS_BACKEND_HAS(vt, find_tokens_cancel))
        return ts__error(err, TS_ERR_UNSUPPORTED, "%s: finds are not sent apart from their "
                         "answers; use ts_find_tokens", vt->name);
    for (size_t i = 0; i < n; i++)
        if (ts__lookup_keys(tokens[i], keys) == 0)
            return ts__error(err, TS_ERR_UNSUPPORTED, "token %zu has no lookup key "
                             "(ts_find_tokens answers it with the error)", i);
    if (n == 0 || !(b = batch_new(n)))
        return ts__error(err, n ? TS_ERR_NOMEM : TS_ERR_INVALID, n ? "out of memory"
                         : "an empty batch has nothing to send");
    for (size_t i = 0; i < n && rc == TS_OK; i++)
        rc = batch_query(s, b, i, tokens[i], i, &own);
    if (rc != TS_OK) {
        if (err)
            *err = own.why;
        ts__batch_free(b);
        return rc;
    }
    /* Entered first: in a forked child, entering drops the parent's batch. */
    if ((rc = ts__store_enter(s, err)) == TS_OK && s->sent)
        rc = ts__store_leave(s, ts__error(err, TS_ERR_UNSUPPORTED, "a batch sent before waits for its "
                                "answers"), err);
    else if (rc == TS_OK)
        rc = ts__store_leave(s, vt->find_tokens_send(s->state, b->queries, n, fd, timeout_ms, err), err);
    if (rc == TS_OK)
        s->sent = b;
    else
        ts__batch_free(b);
    return rc;
}

TS_API int ts_find_tokens_receive(ts_store *s, ts_token *const *tokens, size_t n,
                                  int *results, int *done, ts_error *err)
{
    struct own_failure own = { .at = n };
    int rc;

    *done = 0;
    /* Entered first: in a forked child, entering drops the parent's batch. */
    if ((rc = ts__store_enter(s, err)) != TS_OK)
        return rc;
    struct batch *b = s->sent;
    if (!b || b->n != n)
        return ts__store_leave(s, ts__error(err, TS_ERR_INVALID, "no batch of %zu finds was sent", n),
                     err);
    for (size_t i = 0; i < n; i++)
        if (b->asked[i] != tokens[i])
            return ts__store_leave(s, ts__error(err, TS_ERR_INVALID, "token %zu is not the one sent", i),
                         err);
    rc = ts__store_leave(s, s->module.vt->find_tokens_receive(s->state, b->queries, n, b->row_of,
                                                    b->found, done, err), err);
    if (!*done)
        return rc;
    s->sent = NULL;
    batch_open(s, b, n, tokens, 0, &own);
    rc = batch_settle(b, n, tokens, n, results, &own, err);
    ts__batch_free(b);
    return rc;
}
