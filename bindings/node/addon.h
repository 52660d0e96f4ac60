/*
 * bindings/node/addon.h - the Node addon's private header: a Store, its
 * handles and one call, and the functions that cross between addon.c (the
 * calls and the methods JavaScript sees) and queue.c (how a call reaches a
 * handle: the handle pool, the drains on the libuv pool, the finds on the
 * event loop). Not installed.
 *
 * The two files call each other: the methods put calls in the queue and
 * the calls take handles (addon.c -> queue.c), and the drains and the
 * finds on the loop run and settle the calls they take (queue.c ->
 * addon.c: execute and complete, nothing else). env.c keeps what belongs
 * to one Node.js environment (the main thread, each Worker) and ends its
 * Stores' work when the environment goes away.
 */
#ifndef TS_NODE_ADDON_H
#define TS_NODE_ADDON_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <pthread.h>
#include <stddef.h>
#include <tokenstore/tokenstore.h>

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
    napi_ref token_reader, token_factory; /* values.c's token functions */
    struct store *stores;                /* its Store objects, by next_in_env */
    napi_async_cleanup_hook_handle hook; /* NULL once the cleanup finished */
    int ending;                          /* the environment is going away */
    int closing;                         /* finds on the loop whose uv handles
                                            are closing */
    unsigned refs;                       /* the instance data, the hook, each
                                            listed store: freed at 0 */
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
    unsigned flags;
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
    ts_token **tokens;        /* in and out */
    size_t n, cap;
    int rc;
    ts_error err;
};

/* queue.c: the handle pool ("slots"). */

/* Takes a free handle, opening one when all are busy and the pool may
 * grow, else waiting for one. On the worker thread. */
int slot_acquire(struct store *s, struct slot **out, ts_error *err);
void slot_release(struct store *s, struct slot *sl);
/* Waits for every call to finish and closes every handle. */
void store_shutdown(struct store *s);
/* Shuts the store down and frees it; NULL is fine. */
void store_free(struct store *s);
/* The Store object's finalizer (napi_wrap): frees the store. */
void store_finalize(napi_env env, void *data, void *hint);

/* queue.c: the queue ("drains", "finds on the loop"); on the event loop. */

/* Queues call c on its store and starts it: a find at the end of the
 * tick, with the others of the tick; anything else now. */
void enqueue(napi_env env, struct call *c);
/* The environment is ending: ends the store's finds on the loop, drops
 * its queued calls unsettled and closes its handles. */
void queue_abandon(napi_env env, struct store *s);

/* env.c: the environment's own state. */

/* Makes the environment's state, its instance data, and its cleanup hook;
 * NULL (with an exception thrown) when it cannot. */
struct addon_env *env_new(napi_env env);
/* The environment's state. */
struct addon_env *env_of(napi_env env);
/* Lists a Store object's store in its environment, and unlists it. */
void env_add_store(struct addon_env *ae, struct store *s);
void env_remove_store(struct store *s);
/* A find on the loop closes its uv handles, and they are closed. */
void env_closing(struct addon_env *ae);
void env_closed(struct addon_env *ae);

/* addon.c: one call, which the drains and the finds on the loop run and
 * settle. */

/* Runs the call on a handle; on the libuv pool. */
void execute(napi_env env, void *data);
/* Settles the call's promise and frees the call; on the event loop. */
void complete(napi_env env, napi_status status, void *data);
/* Frees a call without settling it (its environment is ending). */
void call_free(napi_env env, struct call *c);

#endif
