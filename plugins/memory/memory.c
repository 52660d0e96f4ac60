/*
 * plugins/memory - tokens in this process's memory, gone when it exits.
 *
 * The reference backend: the core's hash-indexed table does the work (O(1)
 * by id and by every lookup key, ids assigned as max + 1 like the SDK's
 * stores), and a mutex makes one handle safe for many threads. Useful for
 * tests, short-lived tools and as the model for a new backend.
 *
 * It honours the open flags (TS_CAP_OPEN_FLAGS) by having nothing to do:
 * a fresh memory store is an empty one, which exists, and opening it
 * changes nothing that outlives the handle.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tokenstore/backend.h>

/* A named lock (try_lock) held by one caller until released or expired. */
struct held_lock {
    struct held_lock *next;
    int64_t expires_ms;
    char name[];
};

struct memory {
    const ts_host *host;
    ts_table *table;
    pthread_mutex_t lock;
    struct held_lock *locks;
};

static int memory_open(const ts_host *host, ts_backend_ctx *ctx, void **state, ts_error *err)
{
    struct memory *m = calloc(1, sizeof *m);

    (void)ctx;
    if (!m || !(m->table = host->table_new())) {
        free(m);
        return host->error(err, TS_ERR_NOMEM, "out of memory");
    }
    m->host = host;
    pthread_mutex_init(&m->lock, NULL);
    *state = m;
    return TS_OK;
}

static void memory_close(void *state)
{
    struct memory *m = state;

    m->host->table_free(m->table);
    pthread_mutex_destroy(&m->lock);
    while (m->locks) {
        struct held_lock *next = m->locks->next;
        free(m->locks);
        m->locks = next;
    }
    free(m);
}

static int memory_find_token(void *state, const ts_token *query, ts_token *row, ts_error *err)
{
    struct memory *m = state;

    pthread_mutex_lock(&m->lock);
    int rc = m->host->find_by_rule(query, m->host->table_lookup, m->table, row, err);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int memory_find_token_by_id(void *state, const char *id, ts_token *row, ts_error *err)
{
    struct memory *m = state;

    pthread_mutex_lock(&m->lock);
    int rc = m->host->table_lookup(m->table, TS_FIELD_ID, id, row, err);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int memory_save_token(void *state, ts_token *token, ts_error *err)
{
    struct memory *m = state;

    pthread_mutex_lock(&m->lock);
    int rc = m->host->table_save(m->table, token, err);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int memory_delete_token(void *state, const char *id, ts_error *err)
{
    struct memory *m = state;

    (void)err;
    pthread_mutex_lock(&m->lock);
    int rc = m->host->table_delete(m->table, id);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int memory_get_tokens(void *state, ts_token_cb cb, void *userdata, ts_error *err)
{
    struct memory *m = state;

    (void)err;
    pthread_mutex_lock(&m->lock);
    int rc = m->host->table_foreach(m->table, cb, userdata);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int memory_delete_tokens(void *state, ts_error *err)
{
    struct memory *m = state;

    (void)err;
    pthread_mutex_lock(&m->lock);
    m->host->table_clear(m->table);
    pthread_mutex_unlock(&m->lock);
    return TS_OK;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int memory_try_lock(void *state, const char *name, int64_t ttl_ms, void **handle,
                           ts_error *err)
{
    struct memory *m = state;
    struct held_lock **p, *l;
    int64_t now = now_ms();
    int rc = TS_OK;

    pthread_mutex_lock(&m->lock);
    for (p = &m->locks; (l = *p);) {
        if (l->expires_ms <= now) {         /* its holder is gone or too slow */
            *p = l->next;
            free(l);
        } else if (strcmp(l->name, name) == 0) {
            rc = TS_ERR_BUSY;
            break;
        } else {
            p = &l->next;
        }
    }
    if (rc == TS_OK) {
        l = malloc(sizeof *l + strlen(name) + 1);
        if (!l) {
            rc = m->host->error(err, TS_ERR_NOMEM, "out of memory");
        } else {
            strcpy(l->name, name);
            l->expires_ms = now + ttl_ms;
            l->next = m->locks;
            m->locks = l;
            *handle = l;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int memory_unlock(void *state, void *handle, ts_error *err)
{
    struct memory *m = state;

    (void)err;
    pthread_mutex_lock(&m->lock);
    for (struct held_lock **p = &m->locks; *p; p = &(*p)->next) {
        if (*p == handle) {             /* else it expired and was dropped */
            struct held_lock *l = *p;
            *p = l->next;
            free(l);
            break;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return TS_OK;
}

/* In a forked child the tokens are the child's own copy, as everything
 * else in its memory; only what the parent's other threads held at the
 * fork is let go: the mutex, and the locks they had taken. */
static int memory_forked(void *state, ts_error *err)
{
    struct memory *m = state;

    (void)err;
    pthread_mutex_init(&m->lock, NULL);
    while (m->locks) {
        struct held_lock *l = m->locks;
        m->locks = l->next;
        free(l);
    }
    return TS_OK;
}

static const ts_backend memory_backend = {
    TS_BACKEND_HEAD,
    .name = "memory",
    .version = "1.0.0",
    .description = "tokens in process memory, hash-indexed; lost on close",
    .caps = TS_CAP_THREAD_SAFE | TS_CAP_OPEN_FLAGS,
    .options = NULL,
    .open = memory_open,
    .close = memory_close,
    .find_token = memory_find_token,
    .save_token = memory_save_token,
    .delete_token = memory_delete_token,
    .get_tokens = memory_get_tokens,
    .delete_tokens = memory_delete_tokens,
    .find_token_by_id = memory_find_token_by_id,
    .try_lock = memory_try_lock,
    .unlock = memory_unlock,
    .forked = memory_forked,
};

TS_BACKEND_DEFINE(memory_backend)
