/*
 * core/store_keys.c - what a store's values are sealed with, and sealing
 * them all anew: ts_store_key_usage (for `tokenstore status`) and
 * ts_store_rekey (for `tokenstore rekey`).
 *
 * Both read the rows as the backend keeps them, without opening a value,
 * which the token operations never do: a key id is read from a value's
 * prefix, so the keys a store needs are listed even when the config has
 * none of them.
 *
 * A rekey first reads every row and opens every row that is not as the
 * config seals now (a listed field under an older key or unsealed, an
 * unlisted one sealed): one that cannot be opened stops it before
 * anything is written. Then, where the backend saves a stream in one
 * transaction, those tokens are saved through ts_save_stream, sealed on
 * the way as every save is, all or none; elsewhere each is read again
 * by id and, if it still needs it, saved alone, so that a rekey stopped
 * half way is finished by running it again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crypt.h"
#include "store.h"

TS_API const char *ts_store_key_id(const ts_store *s)
{
    return s->crypt ? ts__key_id(s->crypt->keys[0]) : NULL;
}

/* ---------------------------------------------------------------- usage */

#define USAGE_MAX 64               /* distinct ids told apart; more are lumped */

struct usage {
    const ts__crypt *crypt;
    ts_key_usage use[USAGE_MAX + 1];   /* [USAGE_MAX]: unsealed values */
    char ids[USAGE_MAX][TS_KEY_ID_SIZE];
    size_t n;
    int counted[USAGE_MAX + 1];        /* in the token being read */
};

static ts_key_usage *usage_of(struct usage *u, const char *id, int role)
{
    for (size_t i = 0; i < u->n; i++)
        if (strcmp(u->ids[i], id) == 0)
            return &u->use[i];
    if (u->n == USAGE_MAX)
        return &u->use[USAGE_MAX - 1];  /* the last slot stands for the rest */
    snprintf(u->ids[u->n], TS_KEY_ID_SIZE, "%s", id);
    u->use[u->n] = (ts_key_usage){ u->ids[u->n], role, 0, 0 };
    return &u->use[u->n++];
}

static void count(struct usage *u, ts_key_usage *use)
{
    size_t slot = (size_t)(use - u->use);

    use->values++;
    if (!u->counted[slot]++)
        use->tokens++;
}

static int usage_one(const ts_token *t, void *ud)
{
    struct usage *u = ud;
    char id[TS__KEY_ID_LEN + 1];

    memset(u->counted, 0, sizeof u->counted);
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        unsigned bit = 1u << f;
        if (!(TS__SEALABLE & bit) || !ts__has(t, (ts_field)f))
            continue;
        if (ts__sealed_id(t->value[f], t->len[f], id) != 0)
            count(u, usage_of(u, id, TS_KEY_UNKNOWN));
        else if (u->crypt ? (u->crypt->fields & bit) != 0 : (TS__SEALED_DEFAULT & bit) != 0)
            count(u, &u->use[USAGE_MAX]);
    }
    return TS_OK;
}

/* A walk of the rows as the backend keeps them. */
static int raw_walk(ts_store *s, ts_token_cb cb, void *ud, ts_error *err)
{
    int rc = ts__store_enter(s, err);

    return rc == TS_OK ? ts__store_leave(s, s->module.vt->get_tokens(s->state, cb, ud, err), err)
                       : rc;
}

TS_API int ts_store_key_usage(ts_store *s, int (*cb)(const ts_key_usage *usage, void *userdata),
                              void *userdata, ts_error *err)
{
    struct usage *u = calloc(1, sizeof *u);
    int rc;

    if (!u)
        return ts__error(err, TS_ERR_NOMEM, "out of memory");
    u->crypt = s->crypt;
    for (size_t i = 0; s->crypt && i < s->crypt->nkeys; i++)
        usage_of(u, ts__key_id(s->crypt->keys[i]), i == 0 ? TS_KEY_CURRENT : TS_KEY_OLD);
    u->use[USAGE_MAX] = (ts_key_usage){ "", TS_KEY_PLAINTEXT, 0, 0 };
    rc = raw_walk(s, usage_one, u, err);
    for (size_t i = 0; i < u->n && rc == TS_OK; i++)
        rc = cb(&u->use[i], userdata);
    if (rc == TS_OK && u->use[USAGE_MAX].values > 0)
        rc = cb(&u->use[USAGE_MAX], userdata);
    free(u);
    return rc;
}

/* ---------------------------------------------------------------- rekey */

struct rekey {
    ts_store *store;
    ts_rekey_result *result;
    ts_token **todo;           /* the tokens to seal anew, opened */
    size_t n, cap, next;
    int failed;
    ts_error why;
};

/* Whether the row needs sealing anew; if so *opened gets it opened. */
static int needs_rekey(const ts__crypt *c, const ts_token *row, ts_token **opened,
                       ts_error *err)
{
    *opened = NULL;
    if (ts__crypt_row_current(c, row))
        return TS_OK;
    if (!(*opened = ts_token_dup(row)))
        return ts__error(err, TS_ERR_NOMEM, "out of memory");
    int rc = ts__crypt_open_token(c, *opened, 1, err);
    if (rc != TS_OK) {
        ts_token_free(*opened);
        *opened = NULL;
    }
    return rc;
}

static int rekey_one(const ts_token *row, void *ud)
{
    struct rekey *r = ud;
    ts_token *opened;

    r->result->tokens++;
    if ((r->failed = needs_rekey(r->store->crypt, row, &opened, &r->why)) != TS_OK)
        return r->failed;
    if (!opened) {
        r->result->current++;
        return TS_OK;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 64;
        ts_token **grown = realloc(r->todo, cap * sizeof *grown);
        if (!grown) {
            ts_token_free(opened);
            return r->failed = ts__error(&r->why, TS_ERR_NOMEM, "out of memory");
        }
        r->todo = grown;
        r->cap = cap;
    }
    r->todo[r->n++] = opened;
    return TS_OK;
}

static int next_todo(void *ud, ts_token **token, ts_error *err)
{
    struct rekey *r = ud;

    (void)err;
    if (r->next == r->n)
        return TS_NOT_FOUND;
    *token = r->todo[r->next++];
    return TS_OK;
}

/* Without a transaction for all: each token read again by id, and saved
 * if it still needs it (another process may have saved it meanwhile). */
static int rekey_each(struct rekey *r, ts_error *err)
{
    ts_store *s = r->store;
    ts_token row = { 0 }, *opened;
    int rc = TS_OK;

    for (size_t i = 0; i < r->n && rc == TS_OK; i++) {
        const char *id = ts_token_get(r->todo[i], TS_FIELD_ID);
        if ((rc = ts__store_enter(s, err)) == TS_OK)
            rc = ts__store_leave(s, s->module.vt->find_token_by_id(s->state, id, &row, err), err);
        if (rc == TS_NOT_FOUND) {          /* deleted meanwhile: nothing to seal */
            rc = TS_OK;
            continue;
        }
        if (rc == TS_OK && (rc = needs_rekey(s->crypt, &row, &opened, err)) == TS_OK && opened) {
            rc = ts_save_token(s, opened, err);
            ts_token_free(opened);
            r->result->rewritten += rc == TS_OK;
        }
        ts_token_clear(&row);
    }
    return rc;
}

TS_API int ts_store_rekey(ts_store *s, unsigned flags, ts_rekey_result *result,
                          ts_error *err)
{
    ts_rekey_result ignored;
    struct rekey r = { .store = s, .result = result ? result : &ignored };
    int rc;

    *r.result = (ts_rekey_result){ 0, 0, 0 };
    if (!s->crypt)
        return ts__error(err, TS_ERR_CONFIG, "%s: the store has no encrypt section: there is "
                         "no key to seal with", ts_config_origin(s->config));
    if (!(flags & TS_REKEY_DRY_RUN) && (rc = ts__store_writable(s, err)) != TS_OK)
        return rc;
    rc = raw_walk(s, rekey_one, &r, err);
    if (r.failed) {
        rc = r.failed;
        if (err)
            *err = r.why;
    }
    if (rc == TS_OK && (flags & TS_REKEY_DRY_RUN))
        r.result->rewritten = r.n;
    else if (rc == TS_OK && TS_BACKEND_HAS(s->module.vt, save_stream))
        rc = ts_save_stream(s, next_todo, NULL, &r, &r.result->rewritten, err);
    else if (rc == TS_OK)
        rc = rekey_each(&r, err);
    for (size_t i = 0; i < r.n; i++)
        ts_token_free(r.todo[i]);
    free(r.todo);
    return rc;
}
