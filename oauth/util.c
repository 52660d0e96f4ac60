/*
 * oauth/util.c - the small helpers the OAuth client's files share: error
 * messages, wiping, copying a token through the public API, and what a
 * client does in the child of a fork().
 *
 * The core has helpers of the same kind, but they are its own (hidden in
 * libtokenstore.so); this library reaches the core through tokenstore.h
 * alone, so it keeps these few lines itself.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "client.h"

int oa__error(ts_error *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (err) {
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

int oa__error_prefix(ts_error *err, const char *fmt, ...)
{
    char old[TS_ERROR_MAX];
    size_t n;
    va_list ap;

    if (!err)
        return TS_OK;
    memcpy(old, err->message, sizeof old);
    if (old[0] == '\0')
        snprintf(old, sizeof old, "%s", ts_strerror(err->code));
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message - 3, fmt, ap);
    va_end(ap);
    n = strlen(err->message);
    memcpy(err->message + n, ": ", 3);
    n += 2;
    snprintf(err->message + n, sizeof err->message - n, "%s", old);
    return err->code;
}

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
