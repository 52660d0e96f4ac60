/*
 * core/fork.c - what the core's objects do in the child of a fork().
 *
 * A store handle inherited across fork() (a pre-forking server, Python's
 * multiprocessing) shares its parent's connections, lock files and
 * mapped files, and a thread of the parent may have held one of its
 * mutexes at the fork: that thread is not in the child, and the mutex
 * would stay locked there forever. So every store and every OAuth client
 * is listed here while it lives, and the child handler, which runs while
 * the child still has its one thread, tells each: the store marks itself
 * and makes its mutex new, the client its mutex. Before the fork each is
 * asked too (`before`, undone by `after` in the parent): a store waits for
 * a call another thread is making into its backend to end, so that the
 * child does not inherit a backend caught half way through a change. The
 * list's own mutex is held across fork() so that the list is whole in the
 * child.
 */
#include "internal.h"

static pthread_mutex_t watched_lock = PTHREAD_MUTEX_INITIALIZER;
static ts__forkable *watched;

static void fork_prepare(void)
{
    pthread_mutex_lock(&watched_lock);
    for (ts__forkable *f = watched; f; f = f->next)
        if (f->before)
            f->before(f);
}

static void fork_parent(void)
{
    for (ts__forkable *f = watched; f; f = f->next)
        if (f->after)
            f->after(f);
    pthread_mutex_unlock(&watched_lock);
}

static void fork_child(void)
{
    pthread_mutex_init(&watched_lock, NULL);
    for (ts__forkable *f = watched; f; f = f->next)
        f->in_child(f);
}

static void register_handlers(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

void ts__fork_watch(ts__forkable *f)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, register_handlers);
    pthread_mutex_lock(&watched_lock);
    f->next = watched;
    watched = f;
    pthread_mutex_unlock(&watched_lock);
}

void ts__fork_unwatch(ts__forkable *f)
{
    pthread_mutex_lock(&watched_lock);
    for (ts__forkable **p = &watched; *p; p = &(*p)->next)
        if (*p == f) {
            *p = f->next;
            break;
        }
    pthread_mutex_unlock(&watched_lock);
}
