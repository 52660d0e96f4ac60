/*
 * plugins/redis/find.c - find_token and find_token_by_id: by user name a
 * GET of the copy of the row {P}user:NAME holds, by another key the find
 * script, by id an HMGET of {P}token:ID (see redis.c for the keys). The
 * batched finds of batch.c build on these.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>
#include "redis_store.h"

/* The scripts' numbers for the fields, ARGV's "2=user ..." (scripts.c). */
const char *const redis_field_number[TS_FIELD_COUNT] = {
    "1", "2", "3", "4", "5", "6", "7", "8", "9", "10",
};

/* The user key "{prefix}user:NAME" in a new buffer, or NULL. */
char *redis_user_key(const struct redis_store *s, const char *user, size_t *len)
{
    size_t user_len = strlen(user);
    char *key = malloc(s->base_len + 5 + user_len + 1);

    if (key) {
        memcpy(key, s->base, s->base_len);
        memcpy(key + s->base_len, "user:", 5);
        memcpy(key + s->base_len + 5, user, user_len + 1);
        *len = s->base_len + 5 + user_len;
    }
    return key;
}

/* By user name, one GET of the copy of the row the user key holds. The
 * name is copied first: row may be the query itself. */
static int find_by_user(struct redis_store *s, const char *user, ts_token *row, ts_error *err)
{
    size_t key_len;
    char *key = redis_user_key(s, user, &key_len), *name = strdup(user);
    redisReply *r = NULL;
    int rc;

    if (!key || !name) {
        free(key);
        free(name);
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    }
    redis_cmd_reset(&s->cmd);
    redis_cmd_add(&s->cmd, "GET", 3);
    redis_cmd_add(&s->cmd, key, key_len);
    rc = redis_call(s, 0, 1, &r, err);
    if (rc == TS_OK)
        rc = redis_row_from_copy(s, r, name, row, err);
    redis_free_reply(r);
    free(key);
    free(name);
    return rc;
}

int redis_find_token(void *state, const ts_token *query, ts_token *row, ts_error *err)
{
    struct redis_store *s = state;
    ts_field keys[2];
    int n = s->host->lookup_keys(query, keys);
    redisReply *r = NULL;

    if (n > 0 && keys[0] == TS_FIELD_USER_NAME) {
        int rc = find_by_user(s, s->host->token_get(query, TS_FIELD_USER_NAME), row, err);
        if (rc != FIND_BY_SCRIPT)
            return rc;
    }
    redis_script_begin(s, SCRIPT_FIND);
    for (int i = 0; i < n; i++) {
        redis_cmd_add_str(&s->cmd, redis_field_number[keys[i]]);
        redis_cmd_add_str(&s->cmd, s->host->token_get(query, keys[i]));
    }
    int rc = redis_run_script(s, SCRIPT_FIND, 0, 1, &r, err);
    if (rc == TS_OK)
        rc = r->type == REDIS_REPLY_NIL ? TS_NOT_FOUND : redis_row_from_reply(s, r, row, err);
    redis_free_reply(r);
    return rc;
}

int redis_find_token_by_id(void *state, const char *id, ts_token *row, ts_error *err)
{
    struct redis_store *s = state;
    redisReply *r = NULL;

    snprintf(s->token_key + s->base_len, 6 + 21, "token:%s", id);
    redis_cmd_reset(&s->cmd);
    redis_cmd_add(&s->cmd, "HMGET", 5);
    redis_cmd_add_str(&s->cmd, s->token_key);
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        redis_cmd_add_str(&s->cmd, s->host->field_name((ts_field)f));
    int rc = redis_call(s, 0, 1, &r, err);
    if (rc == TS_OK && r->type == REDIS_REPLY_ERROR)
        rc = redis_reply_error(s, r, "find_token_by_id", err);
    else if (rc == TS_OK && r->type == REDIS_REPLY_ARRAY && r->elements == TS_FIELD_COUNT &&
             r->element[0]->type == REDIS_REPLY_NIL)
        rc = TS_NOT_FOUND;
    else if (rc == TS_OK)
        rc = redis_row_from_reply(s, r, row, err);
    redis_free_reply(r);
    return rc;
}
