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
 * whichever side failed it. ts_find_tokens_cancel stays in store.c,
 * which closes a store with a batch still out.
 */
#include <stdlib.h>
#include "store.h"

static struct batch *batch_new(size_t n)
{
    struct batch *b = calloc(1, sizeof *b + n * (sizeof(ts_token) + 2 * sizeof(void *) +
                                                 sizeof(size_t) + sizeof(int)));

    if (b) {
        b->n = n;
        b->rows = (ts_token *)(b + 1);
        b->queries = (const ts_token **)(b->rows + n);
        b->row_of = (ts_token **)(b->queries + n);
        b->index = (size_t *)(b->row_of + n);
        b->found = (int *)(b->index + n);
    }
    return b;
}

/* Takes the m backend results into results[] and the tokens; the first
 * failure (or the first keyless token, whose error is `why`) decides
 * the return value. */
static int batch_settle(struct batch *b, size_t m, ts_token *const *tokens, size_t n,
                        int *results, size_t invalid, const ts_error *why, ts_error *err)
{
    size_t failed = n;

    for (size_t j = 0; j < m; j++) {
        results[b->index[j]] = b->found[j];
        if (b->found[j] == TS_OK)
            ts__token_merge(tokens[b->index[j]], &b->rows[j]);
        else if (b->found[j] != TS_NOT_FOUND && failed == n)
            failed = b->index[j];
    }
    if (invalid < failed && err)
        *err = *why;
    if (invalid < n || failed < n)
        return results[invalid < failed ? invalid : failed];
    return TS_OK;
}

/* The backend's batch: the queries with a lookup key go to find_tokens in
 * one call, the others fail here, and the error reported is the first
 * failed query's, whichever side failed it. */
static int find_batch(ts_store *s, ts_token *const *tokens, size_t n, int *results,
                      ts_error *err)
{
    struct batch *b = batch_new(n);
    size_t m = 0, invalid = n;
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
        if (ts__lookup_keys(tokens[i], keys) > 0) {
            b->queries[m] = tokens[i];
            b->row_of[m] = &b->rows[m];
            b->found[m] = TS_ERR_BACKEND;    /* until the backend says */
            b->index[m++] = i;
        } else if ((results[i] = TS_ERR_INVALID) && invalid == n) {
            invalid = i;
            ts__no_lookup_key(&why);
        }
    }
    if (m > 0 && (rc = ts__store_enter(s, err)) != TS_OK)
        for (size_t j = 0; j < m; j++)
            b->found[j] = rc;
    else if (m > 0)
        ts__store_leave(s, s->module.vt->find_tokens(s->state, b->queries, m, b->row_of, b->found, err),
              err);
    rc = batch_settle(b, m, tokens, n, results, invalid, &why, err);
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
    ts_field keys[2];
    struct batch *b;
    int rc;

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
    for (size_t i = 0; i < n; i++) {
        b->queries[i] = tokens[i];
        b->row_of[i] = &b->rows[i];
        b->found[i] = TS_ERR_BACKEND;
        b->index[i] = i;
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
        if (b->queries[i] != tokens[i])
            return ts__store_leave(s, ts__error(err, TS_ERR_INVALID, "token %zu is not the one sent", i),
                         err);
    rc = ts__store_leave(s, s->module.vt->find_tokens_receive(s->state, b->queries, n, b->row_of,
                                                    b->found, done, err), err);
    if (!*done)
        return rc;
    s->sent = NULL;
    rc = batch_settle(b, n, tokens, n, results, n, NULL, err);
    ts__batch_free(b);
    return rc;
}
