/*
 * bindings/node/addon.h - the Node addon's private header: an
 * environment's state, a Store, its handles and one call, and the
 * functions of log.c, settings.c, env.c and queue.c. Not installed;
 * values.h has values.c's.
 *
 * Each file uses only the files below it, bottom first:
 *   values.c    JS values to and from the library's (values.h)
 *   log.c       the library's log lines to JavaScript
 *   settings.c  OAuth settings given in JavaScript
 *   env.c       what belongs to one Node.js environment (the main thread,
 *               each Worker), and the end of its Stores' work when it goes
 *               away, through the end_store it is given
 *   queue.c     how a call reaches a handle: the handle pool, the drains on
 *               the libuv pool, the finds on the event loop; it runs and
 *               settles the calls through the store's call_ops
 *   addon.c     the methods JavaScript sees and one call's lifecycle: the
 *               call_ops and the end_store the files below are given
 * Functions are prefixed tsn_; this header declares them in that order.
 */
#ifndef TS_NODE_ADDON_H
#define TS_NODE_ADDON_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <pthread.h>
#include <stddef.h>
#include <tokenstore/tokenstore.h>
#include "values.h"

#define MAX_HANDLES 16
#define MAX_DRAINS 4     /* the libuv pool's default size */
#define DRAIN_BATCH 64   /* calls one drain runs before it hands results back */
#define AHEAD_CONFIG (-1) /* refresh ahead as the config's oauth section says */

/* What one environment that loaded the addon keeps (its instance data):
 * the main thread and each Worker have their own. Used on that
 * environment's thread only. */
struct addon_env {
    napi_env env;
    napi_ref store_ctor;                 /* the Store class */
    struct token_functions tokens;       /* values.c's */
    struct log_sink *log;                /* the default log handler's, or NULL */
    struct store *stores;                /* its Store objects, by next_in_env */
    napi_async_cleanup_hook_handle hook; /* NULL once the cleanup finished */
    int ending;                          /* the environment is going away */
    int closing;                         /* finds on the loop whose uv handles
                                            are closing */
    unsigned refs;                       /* the instance data, the hook, each
                                            listed store: freed at 0 */
    /* Ends what a listed store has going, when the environment ends. */
    void (*end_store)(napi_env env, struct store *s);
};

struct store;
struct call;

/* What the queue does with the calls it runs, given with each store (its
 * ops): addon.c's. */
struct call_ops {
    /* Runs the call on a handle; on the libuv pool. */
    void (*execute)(napi_env env, void *call);
    /* Settles the call's promise and frees the call; on the event loop. */
    void (*complete)(napi_env env, napi_status status, void *call);
    /* Frees a call without settling it (its environment is ending). */
    void (*drop)(napi_env env, struct call *c);
};

struct slot {
    ts_store *store;
    ts_oauth *oauth;     /* made on the first accessToken call */
    long long ahead_ms;  /* the refresh_ahead_ms oauth was told, or AHEAD_CONFIG */
    int busy;
};

/* A Store: the configuration and the handles opened from it. */
struct store {
    ts_config *config;
    ts_oauth *settings;  /* the OAuth settings in force (a client without a
                            store, made at open; never changed after) */
    struct log_sink *log; /* where its calls' log lines go, or NULL */
    int own_log;          /* log is its onLog's, not its environment's */
    int log_level;        /* onLog's logLevel, TS_LOG_* */
    unsigned flags;
    const struct call_ops *ops;        /* what the queue does with its calls */
    int max_slots, nslots, closed;
    struct slot slots[MAX_HANDLES];
    struct call *queue, *queue_tail;   /* calls not started yet */
    int drains, max_drains;            /* works draining the queue */
    int kick_pending;                  /* finds wait for the end of the tick */
    struct watch *watch;               /* finds the event loop sent, if any */
    napi_ref kick_fn;                  /* the function that ends the wait */
    napi_ref self;                     /* the Store object: weak, but strong
                                          while calls are pending */
    struct addon_env *home;            /* its environment, once an object */
    struct store *next_in_env;
    unsigned pending;
    pthread_mutex_t lock;
    pthread_cond_t freed;
};

enum op { OP_OPEN, OP_FIND, OP_FIND_BY_ID, OP_SAVE, OP_DELETE, OP_TOKENS,
          OP_CLEAR, OP_SAVE_MANY, OP_ACCESS_TOKEN, OP_CLOSE };

/* One call in flight: its arguments, its results, its promise. */
struct call {
    struct call *next;        /* in the store's queue, then a drain's list */
    enum op op;
    struct store *s;
    int holds_store;          /* counted in s->pending: keeps the Store alive */
    napi_deferred deferred;
    napi_async_work work;
    char *spec, *id;
    long long ahead_ms;       /* accessToken's refreshAheadMs, or AHEAD_CONFIG */
    char *accounts_hint;      /* accessToken's accountsUrl, or NULL */
    struct oauth_kv *oauth;   /* open()'s OAuth settings, or NULL */
    ts_token **tokens;        /* in and out */
    size_t n, cap;
    int rc;
    ts_error err;
};

/* log.c: the library's log lines to JavaScript. */

/* A sink: lines to fn(level, message) on env's thread, from any thread,
 * up to max_level (TS_LOG_*). listed: the environment's default handler,
 * which hears the lines of no call. NULL with an exception thrown. */
struct log_sink *tsn_log_sink_new(napi_env env, napi_value fn, int max_level, int listed);
/* The owner is done with its sink; a store that borrowed one lets it go. */
void tsn_log_sink_release(struct log_sink *k);
void tsn_log_sink_borrow(struct log_sink *k);
void tsn_log_sink_unborrow(struct log_sink *k);
/* The ts_log_fn of a store whose config names sink k as its userdata. */
void tsn_log_to_sink(void *k, int level, const char *message);
/* Sets the process-wide logger, once. */
void tsn_log_init(void);
/* The calling thread runs a call of a store whose sink is k (NULL: none):
 * the lines of no store it causes go to k until tsn_log_leave(what
 * tsn_log_enter returned). */
struct log_sink *tsn_log_enter(struct log_sink *k);
void tsn_log_leave(struct log_sink *previous);

/* settings.c: OAuth settings given in JavaScript. */

/* Settings as key=value pairs, wiped on free (a client_secret may be one). */
struct oauth_kv {
    size_t n;
    char **key, **value;
};
/* The own properties of obj (strings or numbers) as settings, each checked
 * by the library: 0, or -1 with an exception thrown (an Error whose code
 * is TS_ERR_CONFIG for a bad name or value). undefined or null: *out NULL. */
int tsn_oauth_from_js(napi_env env, napi_value obj, const char *what, struct oauth_kv **out);
void tsn_oauth_kv_free(struct oauth_kv *kv);
/* checkOAuth(settings): throws as tsn_oauth_from_js does. */
napi_value tsn_m_check_oauth(napi_env env, napi_callback_info info);
/* The library's list of settings (ts_oauth_settings) as an array. */
napi_value tsn_oauth_settings_js(napi_env env);
/* Store.prototype.oauthSetting(key): the value in force, as text. */
napi_value tsn_m_oauth_setting(napi_env env, napi_callback_info info);

/* env.c: the environment's own state. */

/* Makes the environment's state, its instance data, and its cleanup hook,
 * which calls end_store for each listed store; NULL (with an exception
 * thrown) when it cannot. */
struct addon_env *tsn_env_new(napi_env env, void (*end_store)(napi_env env, struct store *s));
/* The environment's state. */
struct addon_env *tsn_env_of(napi_env env);
/* Lists a Store object's store in its environment, and unlists it. */
void tsn_env_add_store(struct addon_env *ae, struct store *s);
void tsn_env_remove_store(struct store *s);
/* setLogHandler(fn): the environment's handler of the lines of its calls
 * that no onLog hears, and of lines from no call; the first one stays. */
napi_value tsn_m_set_log_handler(napi_env env, napi_callback_info info);
/* A find on the loop closes its uv handles, and they are closed. */
void tsn_env_closing(struct addon_env *ae);
void tsn_env_closed(struct addon_env *ae);

/* queue.c: the handle pool ("slots"). */

/* Takes a free handle, opening one when all are busy and the pool may
 * grow, else waiting for one. On the worker thread. */
int tsn_slot_acquire(struct store *s, struct slot **out, ts_error *err);
void tsn_slot_release(struct store *s, struct slot *sl);
/* Waits for every call to finish and closes every handle. */
void tsn_store_shutdown(struct store *s);
/* Shuts the store down and frees it; NULL is fine. */
void tsn_store_free(struct store *s);
/* The Store object's finalizer (napi_wrap): frees the store. */
void tsn_store_finalize(napi_env env, void *data, void *hint);

/* queue.c: the queue ("drains", "finds on the loop"); on the event loop. */

/* Queues call c on its store and starts it: a find at the end of the
 * tick, with the others of the tick; anything else now. */
void tsn_enqueue(napi_env env, struct call *c);
/* The environment is ending: ends the store's finds on the loop, drops
 * its queued calls unsettled and closes its handles. */
void tsn_queue_abandon(napi_env env, struct store *s);

#endif
