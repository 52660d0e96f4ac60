/*
 * plugins/sql/sql.c - the code the SQL backends share (see sql.h): on the
 * host table and the C library only.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "sql.h"

int sql_open_begin(const ts_host *host, ts_backend_ctx *ctx, ts_token **row,
                   const ts_field **keys, size_t *nkeys, unsigned *open_flags, ts_error *err)
{
    *row = NULL;
    if (ts_host_require(host, SQL_HOST_MINOR, err) != TS_OK)
        return TS_ERR_ABI;
    if (!(*row = host->token_new()))
        return host->error(err, TS_ERR_NOMEM, "out of memory");
    *keys = host->key_fields(nkeys);
    *open_flags = ts_host_open_flags(host, ctx);
    return TS_OK;
}

int sql_field_of(const ts_host *host, const char *name, int fold)
{
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        const char *field = host->field_name((ts_field)f);
        if (fold ? strcasecmp(name, field) == 0 : strcmp(name, field) == 0)
            return f;
    }
    return -1;
}

void sql_missing_columns(const ts_host *host, unsigned present, char *out, size_t size)
{
    size_t used = 0;

    out[0] = '\0';
    for (int f = 0; f < TS_FIELD_COUNT && used < size; f++)
        if (!(present & (1u << f))) {
            int n = snprintf(out + used, size - used, "%s%s", used ? ", " : "",
                             host->field_name((ts_field)f));
            used += n > 0 ? (size_t)n : 0;
        }
}

unsigned sql_changed_columns(const ts_host *host, const ts_token *token, const ts_token *row)
{
    unsigned columns = 0;

    for (int f = 1; f < TS_FIELD_COUNT; f++)
        if (strcmp(host->token_get(token, (ts_field)f), host->token_get(row, (ts_field)f)) != 0)
            columns |= SQL_COLUMN(f);
    return columns;
}

void sql_set_list(const ts_host *host, unsigned columns, enum sql_marks marks, int first,
                  char *out, size_t size)
{
    size_t used = 0;

    out[0] = '\0';
    for (int f = 1; f < TS_FIELD_COUNT && used < size; f++) {
        if (!(columns & SQL_COLUMN(f)))
            continue;
        const char *sep = used ? ", " : "", *name = host->field_name((ts_field)f);
        int n = marks == SQL_MARKS_PLAIN ? snprintf(out + used, size - used, "%s%s = ?", sep, name)
              : marks == SQL_MARKS_BY_FIELD
                  ? snprintf(out + used, size - used, "%s%s = ?%d", sep, name, f + 1)
                  : snprintf(out + used, size - used, "%s%s = $%d", sep, name, first++);
        used += n > 0 ? (size_t)n : 0;
    }
}

int sql_peer_closed(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };

    return fd < 0 || poll(&p, 1, 0) > 0;
}

uint64_t sql_hash(const char *const *parts, int n)
{
    uint64_t h = 14695981039346656037ULL;

    for (int i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    return h;
}

void sql_derived_name(const char *table, const char *suffix, size_t max, char *out)
{
    size_t room = max - strlen(suffix);
    const char *parts[] = { table };

    if (strlen(table) <= room)
        snprintf(out, max + 1, "%s%s", table, suffix);
    else
        snprintf(out, max + 1, "%.*s_%08x%s", (int)(room - 9), table,
                 (unsigned)(sql_hash(parts, 1) & 0xffffffffu), suffix);
}

int sql_replayable(const ts_host *host, ts_token *const *tokens, size_t n)
{
    ts_field keys[2];

    for (size_t i = 0; i < n; i++)
        if (!*host->token_get(tokens[i], TS_FIELD_ID) && host->lookup_keys(tokens[i], keys) == 0)
            return 0;
    return 1;
}

ts_token **sql_tokens_keep(const ts_host *host, ts_token *const *tokens, size_t n,
                           ts_error *err)
{
    ts_token **kept = calloc(n ? n : 1, sizeof *kept);

    for (size_t i = 0; kept && i < n; i++)
        if (!(kept[i] = host->token_new()) || host->token_copy(kept[i], tokens[i]) != TS_OK) {
            sql_tokens_restore(host, kept, tokens, n, TS_OK);
            kept = NULL;
        }
    if (!kept)
        host->error(err, TS_ERR_NOMEM, "out of memory");
    return kept;
}

void sql_tokens_restore(const ts_host *host, ts_token **kept, ts_token *const *tokens, size_t n,
                        int rc)
{
    for (size_t i = 0; kept && i < n && kept[i]; i++) {
        if (rc != TS_OK)
            host->token_copy(tokens[i], kept[i]);
        host->token_free(kept[i]);
    }
    free(kept);
}

int64_t sql_wall_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int sql_note_copy(const ts_host *host, struct sql_note_args *a, const char *value, size_t len,
                  const char *where, const char *schema, const char *table, ts_error *err)
{
    if (len >= a->size)
        return host->error(err, TS_ERR_BACKEND, "%s: table %s.%s: note '%s' is %zu bytes, "
                           "more than the %zu there is room for", where, schema, table,
                           a->name, len, a->size ? a->size - 1 : 0);
    memcpy(a->out, value, len);
    a->out[len] = '\0';
    return TS_OK;
}

int sql_log_hand_over(struct sql_log_args *a, char **entries, const long long *seqs, int n,
                      int rc, int *more)
{
    *more = rc == TS_OK && n == SQL_LOG_PAGE;
    for (int i = 0; i < n; i++) {
        if (rc == TS_OK) {
            a->after = seqs[i];
            rc = a->cb(entries[i], a->userdata);    /* non-zero stops the walk */
        }
        free(entries[i]);
    }
    if (rc != TS_OK)
        *more = 0;
    return rc;
}

void sql_held_add(struct sql_held **list, struct sql_held *lock)
{
    lock->next = *list;
    *list = lock;
}

void sql_held_drop(struct sql_held **list, struct sql_held *lock)
{
    while (*list && *list != lock)
        list = &(*list)->next;
    if (*list)
        *list = lock->next;
    free(lock);
}

void sql_held_free_all(struct sql_held **list)
{
    while (*list) {
        struct sql_held *next = (*list)->next;
        free(*list);
        *list = next;
    }
}
