/*
 * core/notes.c - notes and a log in this process's memory, for a store
 * whose backend keeps none beside its tokens.
 *
 * The OAuth client remembers a failed refresh's backoff, the requests
 * spent of a token's refresh budget and a log of refreshes. A backend
 * that offers note_set/note_get/log_append/log_walk keeps them where every
 * process sharing the store sees them; for the others (memory, a third
 * party's) they live here, per handle, and are as shared as the handle is.
 * A short list and a ring: there are a few notes per token and a bounded
 * log, and nothing here is a secret.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "internal.h"

int64_t ts__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct note {
    char *name, *value;
    int64_t expires_ms;         /* ts__now_ms(); 0: never */
    struct note *next;
};

struct ts__notes {
    pthread_mutex_t lock;
    struct note *notes;
    char **log;                 /* a ring of `cap` entries, `count` used from `head` */
    size_t cap, count, head;
};

ts__notes *ts__notes_new(void)
{
    ts__notes *n = calloc(1, sizeof *n);

    if (n)
        pthread_mutex_init(&n->lock, NULL);
    return n;
}

static void note_free(struct note *e)
{
    free(e->name);
    free(e->value);
    free(e);
}

static void log_clear(ts__notes *n)
{
    for (size_t i = 0; i < n->count; i++)
        free(n->log[(n->head + i) % n->cap]);
    free(n->log);
    n->log = NULL;
    n->cap = n->count = n->head = 0;
}

void ts__notes_free(ts__notes *n)
{
    if (!n)
        return;
    while (n->notes) {
        struct note *e = n->notes;
        n->notes = e->next;
        note_free(e);
    }
    log_clear(n);
    pthread_mutex_destroy(&n->lock);
    free(n);
}

/* After a fork the child's copy is its own; a thread of the parent may
 * have held the mutex. */
void ts__notes_forked(ts__notes *n)
{
    if (n)
        pthread_mutex_init(&n->lock, NULL);
}

/* The live note called name, dropping expired ones on the way. */
static struct note **find(ts__notes *n, const char *name)
{
    int64_t now = ts__now_ms();
    struct note **p = &n->notes;

    while (*p) {
        if ((*p)->expires_ms && (*p)->expires_ms <= now) {
            struct note *dead = *p;
            *p = dead->next;
            note_free(dead);
        } else if (strcmp((*p)->name, name) == 0) {
            return p;
        } else {
            p = &(*p)->next;
        }
    }
    return p;
}

int ts__notes_set(ts__notes *n, const char *name, const char *value, int64_t ttl_ms,
                  ts_error *err)
{
    int rc = TS_OK;

    pthread_mutex_lock(&n->lock);
    struct note **p = find(n, name), *e = *p;
    if (!value) {
        if (e) {
            *p = e->next;
            note_free(e);
        }
    } else {
        char *copy = strdup(value), *ncopy = e ? NULL : strdup(name);
        if (!copy || (!e && (!ncopy || !(e = calloc(1, sizeof *e))))) {
            free(copy);
            free(ncopy);
            rc = ts__error(err, TS_ERR_NOMEM, "out of memory");
        } else {
            if (!*p) {
                e->name = ncopy;
                *p = e;
            }
            free(e->value);
            e->value = copy;
            e->expires_ms = ttl_ms > 0 ? ts__now_ms() + ttl_ms : 0;
        }
    }
    pthread_mutex_unlock(&n->lock);
    return rc;
}

int ts__notes_get(ts__notes *n, const char *name, char *value, size_t size, ts_error *err)
{
    int rc;

    pthread_mutex_lock(&n->lock);
    struct note *e = *find(n, name);
    if (!e)
        rc = TS_NOT_FOUND;
    else if (strlen(e->value) >= size)
        rc = ts__error(err, TS_ERR_BACKEND, "note '%s' is longer than %zu bytes", name, size);
    else
        rc = (strcpy(value, e->value), TS_OK);
    pthread_mutex_unlock(&n->lock);
    return rc;
}

int ts__notes_log_append(ts__notes *n, const char *entry, size_t keep, ts_error *err)
{
    int rc = TS_OK;

    pthread_mutex_lock(&n->lock);
    if (keep != n->cap) {           /* the size changed: start the ring again */
        log_clear(n);
        if (keep && !(n->log = calloc(keep, sizeof *n->log)))
            rc = ts__error(err, TS_ERR_NOMEM, "out of memory");
        n->cap = n->log ? keep : 0;
    }
    char *copy = rc == TS_OK && n->cap ? strdup(entry) : NULL;
    if (rc == TS_OK && n->cap && !copy)
        rc = ts__error(err, TS_ERR_NOMEM, "out of memory");
    if (copy && n->count == n->cap) {
        free(n->log[n->head]);
        n->log[n->head] = copy;
        n->head = (n->head + 1) % n->cap;
    } else if (copy) {
        n->log[(n->head + n->count++) % n->cap] = copy;
    }
    pthread_mutex_unlock(&n->lock);
    return rc;
}

int ts__notes_log_walk(ts__notes *n, int (*cb)(const char *entry, void *ud), void *ud)
{
    int rc = TS_OK;

    pthread_mutex_lock(&n->lock);
    for (size_t i = 0; i < n->count && rc == TS_OK; i++)
        rc = cb(n->log[(n->head + i) % n->cap], ud);
    pthread_mutex_unlock(&n->lock);
    return rc;
}
