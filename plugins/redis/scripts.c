/*
 * plugins/redis/scripts.c - the redis backend's Lua scripts: their text
 * (the .lua files in plugins/redis/lua/, put together by luacat.sh and embedded at
 * build time as lua_scripts.c, see Makefile.am), loading them with SCRIPT
 * LOAD at open and calling them by SHA. The scripts are the same text for
 * every store, so the server caches each once: what differs per store
 * travels as arguments, "{P}" in ARGV[1] and the host's key fields in
 * ARGV[2].
 */
#include <stdio.h>
#include <string.h>
#include <hiredis/hiredis.h>
#include "redis_store.h"

extern const char redis_lua_find[], redis_lua_save[], redis_lua_delete[], redis_lua_clear[],
    redis_lua_page[], redis_lua_unlock[], redis_lua_drop[], redis_lua_log_append[],
    redis_lua_log_page[];

static const char *const script_source[SCRIPT_COUNT] = {
    redis_lua_find, redis_lua_save, redis_lua_delete, redis_lua_clear, redis_lua_page,
    redis_lua_unlock, redis_lua_drop, redis_lua_log_append, redis_lua_log_page,
};

/* The key fields other than the id as "NUMBER=NAME" words (Lua field
 * numbers, index key names): "2=user 6=access 5=refresh 7=grant" for
 * the SDK's. The name is the field's up to its '_', as the stores
 * written so far name their index keys. */
int redis_build_index_arg(struct redis_store *s, ts_error *err)
{
    size_t n, used = 0;
    const ts_field *keys = s->host->key_fields(&n);

    for (size_t i = 0; i < n; i++) {
        const char *name = s->host->field_name(keys[i]);
        int len = (int)strcspn(name, "_");
        if (keys[i] == TS_FIELD_ID)
            continue;
        int w = snprintf(s->index_arg + used, sizeof s->index_arg - used, "%s%d=%.*s",
                         used ? " " : "", (int)keys[i] + 1, len, name);
        if (w < 0 || (size_t)w >= sizeof s->index_arg - used)
            return s->host->error(err, TS_ERR_BACKEND, "the host's %zu key fields do not fit "
                                  "the scripts' argument", n);
        used += (size_t)w;
    }
    return TS_OK;
}

void redis_script_begin(struct redis_store *s, enum script which)
{
    redis_cmd_reset(&s->cmd);
    if (s->sha[which][0]) {
        redis_cmd_add(&s->cmd, "EVALSHA", 7);
        redis_cmd_add(&s->cmd, s->sha[which], 40);
    } else {
        redis_cmd_add(&s->cmd, "EVAL", 4);
        redis_cmd_add_str(&s->cmd, script_source[which]);
    }
    redis_cmd_add(&s->cmd, "1", 1);
    redis_cmd_add_str(&s->cmd, s->ids_key);
    redis_cmd_add(&s->cmd, s->base, s->base_len);
    redis_cmd_add_str(&s->cmd, s->index_arg);
}

/* Runs the script built by script_begin and the arguments added since;
 * an error reply becomes a ts_code. NOSCRIPT (a restarted server, another
 * cluster node) means nothing ran: send the source with EVAL. */
int redis_run_script(struct redis_store *s, enum script which, int writing, int retry,
                     redisReply **out, ts_error *err)
{
    static const char *const what[SCRIPT_COUNT] = {
        "find_token", "save_token", "delete_token", "delete_tokens", "get_tokens", "unlock",
        "drop", "log_append", "log_walk",
    };
    /* Saves and deletes wait for the replicas; a lock is only a lock, a
     * dropped store a scratch one, a log line not worth a refresh's delay
     * (see notes.c). */
    int wait = writing && (which == SCRIPT_SAVE || which == SCRIPT_DELETE ||
                           which == SCRIPT_CLEAR) && s->wait_replicas > 0;
    int rc = redis_call_waiting(s, writing, retry, wait, out, err);

    if (rc == TS_OK && redis_is_error(*out, "NOSCRIPT")) {
        redis_free_reply(*out);
        *out = NULL;
        s->cmd.argv[0] = "EVAL";
        s->cmd.len[0] = 4;
        s->cmd.argv[1] = script_source[which];
        s->cmd.len[1] = strlen(script_source[which]);
        rc = redis_call_waiting(s, writing, retry, wait, out, err);
    }
    if (rc == TS_OK && (*out)->type == REDIS_REPLY_ERROR) {
        rc = redis_reply_error(s, *out, what[which], err);
        redis_free_reply(*out);
        *out = NULL;
    }
    return rc;
}

/* SCRIPT LOAD for every script, pipelined. */
int redis_load_scripts(struct redis_store *s, ts_error *err)
{
    redisReply *replies[SCRIPT_COUNT] = { NULL };
    struct command load = { 0 };
    int rc = TS_OK;

    for (int i = 0; i < SCRIPT_COUNT && rc == TS_OK; i++) {
        redis_cmd_reset(&load);
        redis_cmd_add_str(&load, "SCRIPT");
        redis_cmd_add_str(&load, "LOAD");
        redis_cmd_add_str(&load, script_source[i]);
        rc = redis_wire_append(s, &load);
    }
    redis_cmd_free(&load);
    if (rc != TS_OK)
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    rc = redis_exchange(s, replies, SCRIPT_COUNT, err);
    for (int i = 0; rc == TS_OK && i < SCRIPT_COUNT; i++) {
        if (replies[i]->type == REDIS_REPLY_ERROR)
            rc = redis_reply_error(s, replies[i], "SCRIPT LOAD", err);
        else if (replies[i]->type == REDIS_REPLY_STRING && replies[i]->len == 40)
            memcpy(s->sha[i], replies[i]->str, 41);
    }
    for (int i = 0; i < SCRIPT_COUNT && replies[i]; i++)
        redis_free_reply(replies[i]);
    return rc;
}
