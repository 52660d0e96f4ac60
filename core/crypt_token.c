/*
 * core/crypt_token.c - tokens through the encrypt section's rules: what a
 * backend is handed (the listed fields sealed by the current key) and
 * what a caller gets back (every sealed value opened, by whichever
 * configured key sealed it), and a find that still finds a token sealed
 * by an older key.
 *
 * A lookup by a sealed field (an access, refresh or grant token, or a
 * user name when it is listed) is an equality on the sealed text, which
 * differs from key to key. So while a store holds values of several keys
 * (a rotation) or unsealed ones (a migration, allow_plaintext), a find
 * that the current key's form does not answer is asked again in each
 * older key's form, then unsealed: a token is found whichever key sealed
 * it, and the form that answers first wins (a row of the current key
 * before an older one, whatever their ids). Finds by user name, when
 * user names are not sealed, and finds by id are asked once.
 *
 * A value that cannot be opened is never handed on: a key that is not
 * configured, a value that fails authentication (changed on disk, or
 * moved from another field) or one that is not well formed is an error
 * naming the token's id and the field, and a listed field stored
 * unsealed is refused unless allow_plaintext says it may be read.
 */
#include <stdlib.h>
#include <string.h>
#include "crypt.h"

#define FIELD_BIT(f) (1u << (f))

static const char *id_of(const ts_token *t)
{
    return ts__has(t, TS_FIELD_ID) ? t->value[TS_FIELD_ID] : "(no id)";
}

/* Whether a value claims to be sealed (1), with a malformed head (-1). */
static int sealed(const ts_token *t, ts_field f, char id[TS__KEY_ID_LEN + 1])
{
    return t->value[f] ? ts__sealed_id(t->value[f], t->len[f], id) : 0;
}

size_t ts__crypt_forms(const ts__crypt *c, const ts_token *query)
{
    ts_field keys[2];
    int n = c ? ts__lookup_keys(query, keys) : 0;

    for (int i = 0; i < n; i++)
        if (c->fields & FIELD_BIT(keys[i]))
            return c->nkeys + (c->allow_plaintext ? 1 : 0);
    return 1;
}

/* A value that reads as sealed, in a field the store keeps unsealed, could
 * not be read back: refused before it is saved. */
static int refuse_lookalike(const ts_token *t, ts_field f, ts_error *err)
{
    char id[TS__KEY_ID_LEN + 1];

    if (!sealed(t, f, id))
        return TS_OK;
    return ts__error(err, TS_ERR_INVALID, "token %s: %s: the value has the form of an encrypted "
                     "one (" TS__SEALED_PREFIX "...), which this store, keeping %s unencrypted, "
                     "could not read back", id_of(t), ts_field_name(f), ts_field_name(f));
}

int ts__crypt_check_plain(const ts_token *t, ts_error *err)
{
    int rc = TS_OK;

    for (int f = 0; f < TS_FIELD_COUNT && rc == TS_OK; f++)
        if (TS__SEALABLE & FIELD_BIT(f))
            rc = refuse_lookalike(t, (ts_field)f, err);
    return rc;
}

/* Puts value (len bytes, malloc'd, taken over) in t's field, wiping the old. */
static void install(ts_token *t, ts_field f, char *value, size_t len)
{
    if (t->value[f]) {
        ts__wipe(t->value[f], t->len[f]);
        free(t->value[f]);
    }
    t->value[f] = value;
    t->len[f] = len;
}

int ts__crypt_seal_token(const ts__crypt *c, size_t form, const ts_token *in, ts_token *out,
                         ts_error *err)
{
    int rc = TS_OK;

    for (int f = 0; f < TS_FIELD_COUNT && rc == TS_OK; f++) {
        char *value;
        size_t len;
        if (!in->value[f] || !(c->fields & FIELD_BIT(f)) || form >= c->nkeys) {
            if ((c->fields & FIELD_BIT(f)) == 0 && (TS__SEALABLE & FIELD_BIT(f)))
                rc = refuse_lookalike(in, (ts_field)f, err);
            if (rc == TS_OK && (rc = ts__token_setn(out, (ts_field)f, in->value[f], in->len[f])))
                ts__error(err, rc, "out of memory");
            continue;
        }
        rc = ts__key_seal(c->keys[form], (ts_field)f, in->value[f], in->len[f], &value, &len);
        if (rc == TS_OK)
            install(out, (ts_field)f, value, len);
        else
            ts__error(err, rc, "token %s: %s: %s", id_of(in), ts_field_name((ts_field)f),
                      rc == TS_ERR_NOMEM ? "out of memory" : "OpenSSL could not encrypt it");
    }
    return rc;
}

/* One stored value as the caller gets it: *out NULL when it is as stored
 * (unsealed), else the opened value to install. */
static int open_value(const ts__crypt *c, const ts_token *t, ts_field f, int plain_ok,
                      char **out, size_t *len, ts_error *err)
{
    char id[TS__KEY_ID_LEN + 1];
    ts__key *key;

    *out = NULL;
    if (!t->value[f] || !(TS__SEALABLE & FIELD_BIT(f)))
        return TS_OK;
    int form = sealed(t, f, id);
    if (form < 0)
        return ts__error(err, TS_ERR_CORRUPT, "token %s: %s is not a well-formed encrypted "
                         "value", id_of(t), ts_field_name(f));
    if (!form) {
        if (!c || !(c->fields & FIELD_BIT(f)) || plain_ok)
            return TS_OK;
        return ts__error(err, TS_ERR_CONFIG, "token %s: %s is stored unencrypted: set "
                         "encrypt.allow_plaintext while a store is being encrypted, and run "
                         "`tokenstore rekey`", id_of(t), ts_field_name(f));
    }
    if (!c)
        return ts__error(err, TS_ERR_CONFIG, "token %s: %s is encrypted (key %s), and the "
                         "store is opened without an encrypt section to read it with",
                         id_of(t), ts_field_name(f), id);
    if (!(key = ts__crypt_key(c, id)))
        return ts__error(err, TS_ERR_CONFIG, "token %s: %s is encrypted with key %s, which "
                         "is not configured (the current key is %s; name an older one in "
                         "encrypt.old_key_files or old_key_env)", id_of(t), ts_field_name(f),
                         id, ts__key_id(c->keys[0]));
    int rc = ts__key_open(key, f, t->value[f], t->len[f], out, len);
    if (rc == TS_ERR_INVALID)
        return ts__error(err, TS_ERR_CORRUPT, "token %s: %s is not a well-formed encrypted "
                         "value", id_of(t), ts_field_name(f));
    if (rc == TS_ERR_CORRUPT)
        return ts__error(err, TS_ERR_CORRUPT, "token %s: %s fails authentication with key %s: "
                         "the stored value was altered, or copied from another field",
                         id_of(t), ts_field_name(f), id);
    if (rc != TS_OK)
        return ts__error(err, rc, "token %s: %s: %s", id_of(t), ts_field_name(f),
                         rc == TS_ERR_NOMEM ? "out of memory" : "OpenSSL could not decrypt it");
    return TS_OK;
}

int ts__crypt_open_token(const ts__crypt *c, ts_token *t, int plain_ok, ts_error *err)
{
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        char *value;
        size_t len;
        int rc = open_value(c, t, (ts_field)f, plain_ok, &value, &len, err);
        if (rc != TS_OK)
            return rc;
        if (value)
            install(t, (ts_field)f, value, len);
    }
    return TS_OK;
}

/* Whether the token holds a value of a listed field. */
static int holds_sealed(const ts__crypt *c, const ts_token *t)
{
    for (int f = 0; c && f < TS_FIELD_COUNT; f++)
        if ((c->fields & FIELD_BIT(f)) && t->value[f])
            return 1;
    return 0;
}

int ts__crypt_find(const ts__crypt *c, const ts_token *query, ts__find_fn find,
                   void *userdata, ts_token *row, size_t *form, ts_error *err)
{
    size_t forms = ts__crypt_forms(c, query);
    int seal = holds_sealed(c, query);    /* a find by an unsealed user name: as it is */
    ts_token q = { 0 };
    int rc = TS_NOT_FOUND;

    for (size_t i = 0; i < forms && rc == TS_NOT_FOUND; i++) {
        if (seal && (rc = ts__crypt_seal_token(c, i, query, &q, err)) != TS_OK)
            break;
        rc = find(userdata, seal ? &q : query, row, err);
        if (form)
            *form = i;
    }
    ts_token_clear(&q);
    if (rc == TS_OK && (rc = ts__crypt_open_token(c, row, c && c->allow_plaintext, err)))
        ts_token_clear(row);
    return rc;
}

int ts__crypt_save_prepare(const ts__crypt *c, const ts_token *token, ts__find_fn find,
                           void *userdata, ts_token *out, ts_error *err)
{
    ts_token work = { 0 }, row = { 0 };
    const ts_token *src = token;
    size_t form = 0;
    int rc = TS_OK;

    /* Without an id, the save replaces the row its keys find: one sealed
     * by an older key (or unsealed) is found in that form here, and the
     * save goes to its id with its values sealed anew. */
    if (find && !ts__has(token, TS_FIELD_ID) && ts__crypt_forms(c, token) > 1) {
        rc = ts__crypt_find(c, token, find, userdata, &row, &form, err);
        if (rc == TS_OK && form > 0) {
            if ((rc = ts__token_copy(&work, token)) != TS_OK)
                ts__error(err, rc, "out of memory");
            ts__token_merge(&work, &row);
            src = &work;
        }
        rc = rc == TS_NOT_FOUND ? TS_OK : rc;
    }
    if (rc == TS_OK)
        rc = ts__crypt_seal_token(c, 0, src, out, err);
    ts_token_clear(&work);
    ts_token_clear(&row);
    return rc;
}

int ts__crypt_save_finish(const ts__crypt *c, ts_token *token, const ts_token *saved,
                          ts_error *err)
{
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        char *value;
        size_t len;
        if (token->value[f] || !saved->value[f])
            continue;
        int rc = open_value(c, saved, (ts_field)f, c->allow_plaintext, &value, &len, err);
        if (rc == TS_OK && !value && (rc = ts__token_setn(token, (ts_field)f, saved->value[f],
                                                          saved->len[f])) != TS_OK)
            ts__error(err, rc, "out of memory");
        else if (rc == TS_OK && value)
            install(token, (ts_field)f, value, len);
        if (rc != TS_OK)
            return ts_error_prefix(err, "saved, but reading it back failed");
    }
    return TS_OK;
}

int ts__crypt_row_current(const ts__crypt *c, const ts_token *row)
{
    char id[TS__KEY_ID_LEN + 1];

    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        if (!(TS__SEALABLE & FIELD_BIT(f)) || !row->value[f])
            continue;
        int is_sealed = sealed(row, (ts_field)f, id);
        if (!(c->fields & FIELD_BIT(f)) ? is_sealed != 0
            : is_sealed != 1 || memcmp(id, ts__key_id(c->keys[0]), TS__KEY_ID_LEN) != 0)
            return 0;
    }
    return 1;
}
