/*
 * plugins/redis/notes.c - the notes and the refresh log the OAuth client
 * keeps beside the tokens (ABI 1.4's note_set, note_get, log_append and
 * log_walk), on the server, so that every process and host sharing the
 * store sees one failed refresh's backoff, one refresh budget and one log.
 * Without them each process would keep its own, and eight workers on a
 * failing accounts server would send eight times the requests.
 *
 *   {P}note:NAME            string, the note; SET ... PX for a ttl, so the
 *                           server forgets it when it expires, and DEL
 *                           for a NULL value
 *   {P}refreshes            list, the log, oldest first; RPUSH then LTRIM
 *                           to the newest `keep`, in one script
 *   {P}refreshes:appended   INCR counter of every entry ever appended
 *
 * All three sit under the store's hash tag, in its cluster slot and
 * under an ACL key pattern such as ~{crm:}*, and none is a token's key:
 * the scripts reach tokens through {P}ids and the index keys only.
 * delete_tokens leaves them (it removes tokens; a note is keyed by a
 * token's id or grant and fingerprints its secret, so a new token under
 * a reused id starts afresh), drop removes them with the rest.
 *
 * log_walk reads the log a page at a time (log_page.lua), at most
 * LOG_PAGE_ENTRIES entries and about LOG_PAGE_BYTES (less when
 * max_reply_bytes is smaller) a round trip, so a walk of a long log never
 * builds one huge reply. Pages are found by entry number, not list index,
 * so appends that trim the head during a walk neither repeat nor skip an
 * entry that is still there.
 *
 * Notes are idempotent (a replay sets the same value), so a lost reply is
 * retried as a read is; an append is not (a replay would log twice), so
 * a lost reply there is an error saying it may have been written. Neither
 * waits for replicas (wait_replicas): a note or a log line lost in a
 * failover costs a request or a line, not a token, and WAIT would add its
 * delay to every refresh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>
#include "redis_store.h"

#define LOG_PAGE_ENTRIES 1000           /* well under max_reply_elements' least */
#define LOG_PAGE_BYTES (1024 * 1024)

/* "{prefix}note:NAME" in a new buffer, or NULL. */
static char *note_key(const struct redis_store *s, const char *name, size_t *len)
{
    size_t name_len = strlen(name);
    char *key = malloc(s->base_len + 5 + name_len + 1);

    if (key) {
        memcpy(key, s->base, s->base_len);
        memcpy(key + s->base_len, "note:", 5);
        memcpy(key + s->base_len + 5, name, name_len + 1);
        *len = s->base_len + 5 + name_len;
    }
    return key;
}

int redis_note_set(void *state, const char *name, const char *value, int64_t ttl_ms,
                   ts_error *err)
{
    struct redis_store *s = state;
    size_t key_len;
    char *key = note_key(s, name, &key_len), ttl[24], what[160];
    redisReply *r = NULL;

    if (!key)
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    redis_cmd_reset(&s->cmd);
    redis_cmd_add_str(&s->cmd, value ? "SET" : "DEL");
    redis_cmd_add(&s->cmd, key, key_len);
    if (value)
        redis_cmd_add_str(&s->cmd, value);
    if (value && ttl_ms > 0) {
        snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_ms);
        redis_cmd_add(&s->cmd, "PX", 2);
        redis_cmd_add_str(&s->cmd, ttl);
    }
    int rc = redis_call(s, 1, 1, &r, err);
    snprintf(what, sizeof what, "setting note '%.100s'", name);
    if (rc == TS_OK && r->type == REDIS_REPLY_ERROR)
        rc = redis_reply_error(s, r, what, err);
    else if (rc == TS_OK && r->type != (value ? REDIS_REPLY_STATUS : REDIS_REPLY_INTEGER))
        rc = redis_bad_reply(s, what, err);
    redis_free_reply(r);
    free(key);
    return rc;
}

int redis_note_get(void *state, const char *name, char *value, size_t size, ts_error *err)
{
    struct redis_store *s = state;
    size_t key_len;
    char *key = note_key(s, name, &key_len), what[160];
    redisReply *r = NULL;

    if (!key)
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    redis_cmd_reset(&s->cmd);
    redis_cmd_add(&s->cmd, "GET", 3);
    redis_cmd_add(&s->cmd, key, key_len);
    int rc = redis_call(s, 0, 1, &r, err);
    snprintf(what, sizeof what, "reading note '%.100s'", name);
    if (rc == TS_OK && r->type == REDIS_REPLY_ERROR)
        rc = redis_reply_error(s, r, what, err);
    else if (rc == TS_OK && r->type == REDIS_REPLY_NIL)
        rc = TS_NOT_FOUND;
    else if (rc == TS_OK && r->type != REDIS_REPLY_STRING)
        rc = redis_bad_reply(s, what, err);
    else if (rc == TS_OK && r->len >= size)
        rc = s->host->error(err, TS_ERR_BACKEND, "%s: note '%.100s' (%s) holds %zu bytes, "
                            "more than the %zu the caller has room for", s->where, name, key,
                            r->len, size ? size - 1 : 0);
    else if (rc == TS_OK) {
        memcpy(value, r->str, r->len);
        value[r->len] = '\0';
    }
    redis_free_reply(r);
    free(key);
    return rc;
}

int redis_log_append(void *state, const char *entry, size_t keep, ts_error *err)
{
    struct redis_store *s = state;
    char keep_arg[24];
    redisReply *r = NULL;

    snprintf(keep_arg, sizeof keep_arg, "%llu",
             (unsigned long long)(keep > INT64_MAX ? INT64_MAX : keep));
    redis_script_begin(s, SCRIPT_LOG_APPEND);
    redis_cmd_add_str(&s->cmd, entry);
    redis_cmd_add_str(&s->cmd, keep_arg);
    int rc = redis_run_script(s, SCRIPT_LOG_APPEND, 1, 0, &r, err);
    if (rc == TS_OK && r->type != REDIS_REPLY_INTEGER)
        rc = redis_bad_reply(s, "log_append", err);
    redis_free_reply(r);
    return rc;
}

/* Hands one page's entries to cb; TS_OK, or what stopped the walk. */
static int visit_entries(struct redis_store *s, const redisReply *entries,
                         int (*cb)(const char *entry, void *userdata), void *userdata,
                         ts_error *err)
{
    for (size_t i = 0; i < entries->elements; i++) {
        if (entries->element[i]->type != REDIS_REPLY_STRING)
            return redis_bad_reply(s, "log_walk", err);
        int rc = cb(entries->element[i]->str, userdata);
        if (rc != 0)
            return rc;
    }
    return TS_OK;
}

int redis_log_walk(void *state, int (*cb)(const char *entry, void *userdata), void *userdata,
                   ts_error *err)
{
    struct redis_store *s = state;
    char from[24] = "", entries[24], bytes[24];
    long long more = 1;
    int rc = TS_OK;

    snprintf(entries, sizeof entries, "%d", LOG_PAGE_ENTRIES);
    snprintf(bytes, sizeof bytes, "%zu",
             s->max_reply_bytes / 2 < LOG_PAGE_BYTES ? s->max_reply_bytes / 2 : LOG_PAGE_BYTES);
    while (rc == TS_OK && more) {
        redisReply *r = NULL;
        redis_script_begin(s, SCRIPT_LOG_PAGE);
        redis_cmd_add_str(&s->cmd, from);
        redis_cmd_add_str(&s->cmd, entries);
        redis_cmd_add_str(&s->cmd, bytes);
        rc = redis_run_script(s, SCRIPT_LOG_PAGE, 0, 1, &r, err);
        if (rc == TS_OK && (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
                            r->element[0]->type != REDIS_REPLY_INTEGER ||
                            r->element[1]->type != REDIS_REPLY_INTEGER ||
                            r->element[2]->type != REDIS_REPLY_ARRAY))
            rc = redis_bad_reply(s, "log_walk", err);
        if (rc == TS_OK) {
            snprintf(from, sizeof from, "%lld", r->element[0]->integer);
            more = r->element[1]->integer && r->element[2]->elements > 0;
            rc = visit_entries(s, r->element[2], cb, userdata, err);
        }
        redis_free_reply(r);
    }
    return rc;
}
