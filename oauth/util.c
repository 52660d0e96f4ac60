/*
 * oauth/util.c - the small helpers the OAuth client's files share:
 * wiping, copying a token through the public API, and what a client does
 * in the child of a fork(). Errors are made with the library's public
 * ts_error_set and ts_error_prefix.
 *
 * The core has helpers of the same kind, but they are its own (hidden in
 * libtokenstore.so); this library reaches the core through tokenstore.h
 * alone, so it keeps these few lines itself.
 */
#include <string.h>
#include "client.h"

void oa__wipe(void *p, size_t n)
{
    if (p && n)
        explicit_bzero(p, n);
}

int oa__token_copy(ts_token *dst, const ts_token *src)
{
    if (dst == src)
        return TS_OK;
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        if (ts_token_set(dst, (ts_field)f, ts_token_get(src, (ts_field)f)) != TS_OK)
            return TS_ERR_NOMEM;
    return TS_OK;
}

/* ---------------------------------------------------------------- fork */

/* Every live client, so that the child of a fork() can make each one's
 * mutex new while it still has its one thread. The list's own mutex is
 * held across fork(), so the list is whole in the child. */
static pthread_mutex_t watched_lock = PTHREAD_MUTEX_INITIALIZER;
static ts_oauth *watched;

static void fork_prepare(void)
{
    pthread_mutex_lock(&watched_lock);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&watched_lock);
}

static void fork_child(void)
{
    pthread_mutex_init(&watched_lock, NULL);
    for (ts_oauth *o = watched; o; o = o->next_watched)
        pthread_mutex_init(&o->refresh_lock, NULL);
}

static void register_handlers(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

void oa__fork_watch(ts_oauth *o)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, register_handlers);
    pthread_mutex_lock(&watched_lock);
    o->next_watched = watched;
    watched = o;
    pthread_mutex_unlock(&watched_lock);
}

void oa__fork_unwatch(ts_oauth *o)
{
    pthread_mutex_lock(&watched_lock);
    for (ts_oauth **p = &watched; *p; p = &(*p)->next_watched)
        if (*p == o) {
            *p = o->next_watched;
            break;
        }
    pthread_mutex_unlock(&watched_lock);
}
