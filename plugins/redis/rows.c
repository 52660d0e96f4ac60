/*
 * plugins/redis/rows.c - rows out of the server's replies: an HMGET-shaped
 * array (the find and page scripts answer that way too), the save
 * script's filled-in fields, and the "len:bytes" copy of a row that
 * {P}user:NAME holds (see redis.c). One place checks their shape, so a
 * malformed or hostile reply is TS_ERR_CORRUPT or TS_ERR_BACKEND, never a
 * bad read.
 */
#include <string.h>
#include <hiredis/hiredis.h>
#include "redis_store.h"

/* ------------------------------------------------------------------ */
/* Rows                                                                */
/* ------------------------------------------------------------------ */

/* An HMGET-shaped reply (ten values, nil for absent) into row. */
int redis_row_from_reply(struct redis_store *s, const redisReply *r, ts_token *row,
                         ts_error *err)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != TS_FIELD_COUNT)
        return redis_bad_reply(s, "a token read", err);
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        const redisReply *v = r->element[f];
        int is_string = v->type == REDIS_REPLY_STRING;
        int rc = s->host->token_setn(row, (ts_field)f, is_string ? v->str : NULL,
                                     is_string ? v->len : 0);
        if (rc == TS_ERR_INVALID)
            return s->host->error(err, TS_ERR_CORRUPT,
                                  "%s: the stored token %.20s has a NUL byte in %s",
                                  s->where, s->host->token_get(row, TS_FIELD_ID),
                                  s->host->field_name((ts_field)f));
        if (rc != TS_OK)
            return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    }
    return TS_OK;
}

/* What the save script filled in (field number, value pairs) back into
 * the caller's token: its id and the values merged from the stored row. */
int redis_merge_saved(struct redis_store *s, const redisReply *r, ts_token *token,
                      ts_error *err)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2)
        return redis_bad_reply(s, "save_token", err);
    for (size_t i = 0; i < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type != REDIS_REPLY_INTEGER || f->integer < 1 ||
            f->integer > TS_FIELD_COUNT || v->type != REDIS_REPLY_STRING)
            return redis_bad_reply(s, "save_token", err);
        int rc = s->host->token_setn(token, (ts_field)(f->integer - 1), v->str, v->len);
        if (rc == TS_ERR_INVALID)
            return s->host->error(err, TS_ERR_CORRUPT, "%s: a stored value has a NUL byte",
                                  s->where);
        if (rc != TS_OK)
            return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    }
    return TS_OK;
}

/* Splits a {P}user:NAME copy ("len:bytes" for each of the ten fields) into
 * value[] and len[]; 0 when it is not one. */
static int split_copy(const char *p, size_t left, const char *value[TS_FIELD_COUNT],
                      size_t len[TS_FIELD_COUNT])
{
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        size_t n = 0, digits = 0;
        while (digits < left && digits < 19 && p[digits] >= '0' && p[digits] <= '9')
            n = n * 10 + (size_t)(p[digits++] - '0');
        if (digits == 0 || digits == left || p[digits] != ':' || n > left - digits - 1)
            return 0;
        value[f] = p + digits + 1;
        len[f] = n;
        p += digits + 1 + n;
        left -= digits + 1 + n;
    }
    return left == 0;
}

/* A GET of the user's copy of the row into row; TS_NOT_FOUND when the key
 * is missing or names another user (a stray key), FIND_BY_SCRIPT when it
 * holds a bare id (a store written before the copy) and the script must
 * answer. */
int redis_row_from_copy(struct redis_store *s, const redisReply *r, const char *user,
                        ts_token *row, ts_error *err)
{
    const char *value[TS_FIELD_COUNT];
    size_t len[TS_FIELD_COUNT];

    if (r->type == REDIS_REPLY_ERROR)
        return redis_reply_error(s, r, "find_token", err);
    if (r->type == REDIS_REPLY_NIL)
        return TS_NOT_FOUND;
    if (r->type != REDIS_REPLY_STRING)
        return redis_bad_reply(s, "find_token", err);
    if (!memchr(r->str, ':', r->len))
        return FIND_BY_SCRIPT;
    if (!split_copy(r->str, r->len, value, len))
        return s->host->error(err, TS_ERR_CORRUPT, "%s: the copy of user '%s' is malformed",
                              s->where, user);
    if (len[TS_FIELD_USER_NAME] != strlen(user) ||
        memcmp(value[TS_FIELD_USER_NAME], user, len[TS_FIELD_USER_NAME]) != 0)
        return TS_NOT_FOUND;
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        int rc = s->host->token_setn(row, (ts_field)f, value[f], len[f]);
        if (rc == TS_ERR_INVALID)
            return s->host->error(err, TS_ERR_CORRUPT,
                                  "%s: the copy of user '%s' has a NUL byte in %s",
                                  s->where, user, s->host->field_name((ts_field)f));
        if (rc != TS_OK)
            return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    }
    return TS_OK;
}
