/*
 * bindings/node/log.c - the library's log lines to JavaScript. Builds on
 * values.c (its errors) only; the stores and the environments hand it
 * their sinks.
 *
 * libtokenstore says what it has to say through a logger: a store's own
 * (ts_config_set_logger, which open() sets from its onLog) or the
 * process-wide one (ts_set_default_logger, set once when the addon loads),
 * which hears what is said outside any store (a config file holding a
 * secret that others can read) and what the stores without a logger of
 * their own say. Either is called on whatever thread is in the library:
 * one of the libuv pool, or the event loop of any environment (the main
 * thread, each Worker). JavaScript runs only on its environment's thread,
 * so a line crosses to it through a napi_threadsafe_function: a "sink".
 *
 * Which environment hears a line of the process-wide logger: a call marks
 * the thread that runs it with its Store's sink (tsn_log_enter,
 * tsn_log_leave), so what a call causes goes to the environment that made
 * the call, to its onLog or else to that environment's default handler
 * (index.mjs makes it process.emitWarning). A line from any other thread
 * goes to the oldest environment still alive that set a default handler,
 * and to stderr, as the library itself would write it, when there is
 * none.
 *
 * A terminated environment is never called. Node finalizes a sink's
 * function when its environment ends, and the finalizer marks the sink
 * dead under the lock every sender holds while it hands a line over, so
 * nothing reaches a function once it is gone; a sink whose owner released
 * it is not called either. Its memory lives until its function is
 * finalized and every store using it has let it go.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addon.h"
#include "values.h"

struct log_sink {
    napi_threadsafe_function fn;
    int max_level;
    int dead;                 /* finalized by Node: never call it */
    int released;             /* its owner let it go: never call it */
    int listed;               /* in default_sinks */
    unsigned refs;            /* its function's, its owner's, each borrower's */
    struct log_sink *next;    /* in default_sinks */
};

/* One line on its way: freed where it is delivered, or dropped. */
struct line {
    int level;
    char text[];
};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_sink *default_sinks;    /* the environments', oldest first */
static __thread struct log_sink *current; /* the sink of the call this thread runs */

static const char *const level_names[] = { "error", "warning", "info", "debug" };

static const char *level_name(int level)
{
    return level >= TS_LOG_ERROR && level <= TS_LOG_DEBUG ? level_names[level] : "debug";
}

/* Under log_lock. */
static void unlist(struct log_sink *k)
{
    if (!k->listed)
        return;
    for (struct log_sink **p = &default_sinks; *p; p = &(*p)->next)
        if (*p == k) {
            *p = k->next;
            break;
        }
    k->listed = 0;
}

/* Under log_lock. */
static void unref(struct log_sink *k)
{
    if (--k->refs == 0)
        free(k);
}

/* Hands a line to k, which delivers it on its environment's thread; under
 * log_lock, so that k cannot be finalized meanwhile. */
static void send_line(struct log_sink *k, int level, const char *message)
{
    size_t n = strlen(message);
    struct line *l;

    if (k->dead || k->released || level > k->max_level || !(l = malloc(sizeof *l + n + 1)))
        return;
    l->level = level;
    memcpy(l->text, message, n + 1);
    if (napi_call_threadsafe_function(k->fn, l, napi_tsfn_nonblocking) != napi_ok)
        free(l);
}

/* On the sink's thread: fn(level, message). A handler that throws is an
 * uncaught exception, as a throwing event listener would be. Node calls
 * this with no env for the lines left when the function goes. */
static void deliver(napi_env env, napi_value fn, void *context, void *data)
{
    struct line *l = data;
    napi_value argv[2], recv, exc;
    bool pending = false;

    (void)context;
    if (env && fn &&
        napi_create_string_utf8(env, level_name(l->level), NAPI_AUTO_LENGTH, &argv[0]) == napi_ok &&
        napi_create_string_utf8(env, l->text, NAPI_AUTO_LENGTH, &argv[1]) == napi_ok &&
        napi_get_undefined(env, &recv) == napi_ok &&
        napi_call_function(env, recv, fn, 2, argv, NULL) != napi_ok &&
        napi_is_exception_pending(env, &pending) == napi_ok && pending &&
        napi_get_and_clear_last_exception(env, &exc) == napi_ok)
        napi_fatal_exception(env, exc);
    free(l);
}

/* Node is done with the function: its environment ended, or its owner
 * released it and the lines queued before were delivered. */
static void finalized(napi_env env, void *data, void *hint)
{
    struct log_sink *k = data;

    (void)env;
    (void)hint;
    pthread_mutex_lock(&log_lock);
    k->dead = 1;
    unlist(k);
    unref(k);
    pthread_mutex_unlock(&log_lock);
}

struct log_sink *tsn_log_sink_new(napi_env env, napi_value fn, int max_level, int listed)
{
    struct log_sink *k = calloc(1, sizeof *k);
    napi_value name;

    if (!k || napi_create_string_utf8(env, "tokenstore log", NAPI_AUTO_LENGTH, &name) != napi_ok ||
        napi_create_threadsafe_function(env, fn, NULL, name, 0, 1, k, finalized, NULL, deliver,
                                        &k->fn) != napi_ok) {
        free(k);
        tsn_throw_error(env, "TS_ERR_NOMEM", "tokenstore: a log handler cannot be set up");
        return NULL;
    }
    /* Waiting lines must not keep the process, or a Worker, alive. */
    napi_unref_threadsafe_function(env, k->fn);
    k->max_level = max_level;
    k->refs = 2;
    pthread_mutex_lock(&log_lock);
    if (listed) {
        struct log_sink **p = &default_sinks;
        while (*p)
            p = &(*p)->next;
        *p = k;
        k->listed = 1;
    }
    pthread_mutex_unlock(&log_lock);
    return k;
}

void tsn_log_sink_release(struct log_sink *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&log_lock);
    unlist(k);
    /* Released, the function still delivers what was queued, then Node
     * finalizes it; a dead one is already gone. */
    if (!k->dead && !k->released)
        napi_release_threadsafe_function(k->fn, napi_tsfn_release);
    k->released = 1;
    unref(k);
    pthread_mutex_unlock(&log_lock);
}

void tsn_log_sink_borrow(struct log_sink *k)
{
    pthread_mutex_lock(&log_lock);
    k->refs++;
    pthread_mutex_unlock(&log_lock);
}

void tsn_log_sink_unborrow(struct log_sink *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&log_lock);
    unref(k);
    pthread_mutex_unlock(&log_lock);
}

void tsn_log_to_sink(void *k, int level, const char *message)
{
    pthread_mutex_lock(&log_lock);
    send_line(k, level, message);
    pthread_mutex_unlock(&log_lock);
}

/* The process-wide logger. A call's line goes to its Store's sink, or
 * nowhere once that is gone (an ending environment's lines are not
 * another's); any other line to the oldest live default handler, else to
 * stderr. */
static void log_default(void *userdata, int level, const char *message)
{
    struct log_sink *k;

    (void)userdata;
    pthread_mutex_lock(&log_lock);
    k = current ? current : default_sinks;
    if (k)
        send_line(k, level, message);
    pthread_mutex_unlock(&log_lock);
    if (!k)
        fprintf(stderr, "tokenstore: %s: %s\n", level_name(level), message);
}

static void set_default_logger(void)
{
    ts_set_default_logger(log_default, NULL, TS_LOG_WARN);
}

void tsn_log_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, set_default_logger);
}

struct log_sink *tsn_log_enter(struct log_sink *k)
{
    struct log_sink *previous = current;

    current = k;
    return previous;
}

void tsn_log_leave(struct log_sink *previous)
{
    current = previous;
}
