/*
 * bindings/node/addon.c - libtokenstore as a Node-API addon.
 *
 * Exports open(spec, flags) -> Promise<Store>, where Store has find,
 * findById, save, delete, tokens, clear, saveMany, accessToken (which takes
 * { refreshAheadMs } after the token) and close, each returning a Promise.
 * No call waits on the event loop: a store call may wait for a disk, a
 * lock or a Redis round trip, and JavaScript must keep running meanwhile.
 * Calls run on the libuv pool (napi_async_work), except the finds a
 * backend can send apart from their answers (redis, by user name), which
 * the event loop sends and reads as the answers come ("finds on the
 * loop").
 *
 * A libtokenstore handle takes turns between threads unless its backend is
 * thread-safe, so a Store of a backend that several processes may share
 * (TS_CAP_SHARED) keeps a small pool of handles, opened as concurrent calls
 * need them (see "drains" for how many run at once). A backend that is not
 * shared (memory) keeps one handle: a second would be another store.
 *
 * Tokens cross the boundary as plain objects with the SDK's ten field
 * names; an absent field is null. Errors reject with an Error whose `code`
 * is the ts_code's name ("TS_ERR_CONFIG") and whose message is the
 * library's, which never holds a secret.
 */
#define NAPI_VERSION 8
#include <fcntl.h>
#include <node_api.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tokenstore/tokenstore.h>
#include <uv.h>
#include "values.h"

#define MAX_HANDLES 16
#define MAX_DRAINS 4     /* the libuv pool's default size */
#define DRAIN_BATCH 64   /* calls one drain runs before it hands results back */
#define AHEAD_CONFIG (-1) /* refresh ahead as the config's oauth section says */

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

static napi_ref store_ctor;

/* ---------------------------------------------------------------- slots */

static void slot_close(struct slot *sl)
{
    ts_oauth_free(sl->oauth);
    ts_store_close(sl->store);
    sl->oauth = NULL;
    sl->store = NULL;
}

/* Takes a free handle, opening one when all are busy and the pool may
 * grow, else waiting for one. On the worker thread. */
static int slot_acquire(struct store *s, struct slot **out, ts_error *err)
{
    int rc = TS_OK;

    pthread_mutex_lock(&s->lock);
    for (;;) {
        if (s->closed) {
            rc = TS_ERR_INVALID;
            snprintf(err->message, sizeof err->message, "the store is closed");
            err->code = rc;
            break;
        }
        int i;
        for (i = 0; i < s->nslots && s->slots[i].busy; i++)
            ;
        if (i < s->nslots) {
            s->slots[i].busy = 1;
            *out = &s->slots[i];
            break;
        }
        if (s->nslots < s->max_slots) {
            /* Opened under the lock: the others are all busy anyway, and a
             * connection costs about one round trip. */
            struct slot *sl = &s->slots[s->nslots];
            rc = ts_store_open_config_flags(&sl->store, s->config, s->flags, err);
            if (rc == TS_OK) {
                sl->busy = 1;
                s->nslots++;
                *out = sl;
                break;
            }
            if (s->nslots == 0)
                break;
            /* The server takes no more connections: share those there are. */
            s->max_slots = s->nslots;
            rc = TS_OK;
            continue;
        }
        pthread_cond_wait(&s->freed, &s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void slot_release(struct store *s, struct slot *sl)
{
    pthread_mutex_lock(&s->lock);
    sl->busy = 0;
    pthread_cond_broadcast(&s->freed);
    pthread_mutex_unlock(&s->lock);
}

/* A free handle already open, without waiting; NULL when there is none.
 * On the event loop. */
static struct slot *slot_try_acquire(struct store *s)
{
    struct slot *sl = NULL;

    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->nslots && !sl && !s->closed; i++)
        if (!s->slots[i].busy)
            sl = &s->slots[i];
    if (sl)
        sl->busy = 1;
    pthread_mutex_unlock(&s->lock);
    return sl;
}

/* Waits for every call to finish and closes every handle. */
static void store_shutdown(struct store *s)
{
    pthread_mutex_lock(&s->lock);
    s->closed = 1;
    for (int i = 0; i < s->nslots; i++)
        while (s->slots[i].busy)
            pthread_cond_wait(&s->freed, &s->lock);
    for (int i = 0; i < s->nslots; i++)
        slot_close(&s->slots[i]);
    s->nslots = 0;
    pthread_mutex_unlock(&s->lock);
}

static void store_free(struct store *s)
{
    if (!s)
        return;
    store_shutdown(s);
    ts_config_free(s->config);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->freed);
    free(s);
}

static void store_finalize(napi_env env, void *data, void *hint)
{
    struct store *s = data;

    (void)hint;
    if (s->kick_fn)
        napi_delete_reference(env, s->kick_fn);
    napi_delete_reference(env, s->self);
    store_free(s);
}

/* ---------------------------------------------------------------- calls */

static void call_free(napi_env env, struct call *c)
{
    for (size_t i = 0; i < c->n; i++)
        ts_token_free(c->tokens[i]);
    free(c->tokens);
    free(c->spec);
    free(c->id);
    if (c->holds_store && --c->s->pending == 0)
        napi_reference_unref(env, c->s->self, NULL);
    if (c->work)
        napi_delete_async_work(env, c->work);
    free(c);
}

/* Collects a copy of every token for tokens(). */
static int collect(const ts_token *tok, void *userdata)
{
    struct call *c = userdata;

    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        ts_token **grown = realloc(c->tokens, cap * sizeof *grown);
        if (!grown)
            return TS_ERR_NOMEM;
        c->tokens = grown;
        c->cap = cap;
    }
    if (!(c->tokens[c->n] = ts_token_dup(tok)))
        return TS_ERR_NOMEM;
    c->n++;
    return TS_OK;
}

/* Opens a Store: the configuration, then its first handle, so that a bad
 * spec or an unreachable server rejects open() itself. */
static int run_open(struct call *c)
{
    struct store *s = c->s;
    struct slot *sl;
    ts_backend_info info;
    int rc = ts_config_load(&s->config, c->spec, &c->err);

    if (rc == TS_OK)
        rc = slot_acquire(s, &sl, &c->err);
    if (rc != TS_OK)
        return rc;
    ts_store_info(sl->store, &info);
    s->max_slots = (info.caps & TS_CAP_SHARED) && !(info.caps & TS_CAP_THREAD_SAFE)
                   ? MAX_HANDLES : 1;
    s->max_drains = s->max_slots > 1 ? MAX_DRAINS : 1;
    slot_release(s, sl);
    return TS_OK;
}

/* Readies the handle's OAuth client for an accessToken call: made from
 * the config, then told the call's refresh_ahead_ms, which the library
 * checks. The config's own value cannot be read back, so a call without
 * one after a call with one gets a new client. */
static int slot_oauth(struct call *c, struct slot *sl)
{
    char value[32];
    int rc;

    if (sl->oauth && sl->ahead_ms != c->ahead_ms && c->ahead_ms == AHEAD_CONFIG) {
        ts_oauth_free(sl->oauth);
        sl->oauth = NULL;
    }
    if (!sl->oauth) {
        if ((rc = ts_oauth_new(&sl->oauth, sl->store, c->s->config, &c->err)) != TS_OK)
            return rc;
        sl->ahead_ms = AHEAD_CONFIG;
    }
    if (sl->ahead_ms == c->ahead_ms)
        return TS_OK;
    snprintf(value, sizeof value, "%lld", c->ahead_ms);
    if ((rc = ts_oauth_set(sl->oauth, "refresh_ahead_ms", value, &c->err)) == TS_OK)
        sl->ahead_ms = c->ahead_ms;
    return rc;
}

static int run_op(struct call *c, struct slot *sl)
{
    ts_store *st = sl->store;

    switch (c->op) {
    case OP_FIND:
        return ts_find_token(st, c->tokens[0], &c->err);
    case OP_FIND_BY_ID:
        return ts_find_token_by_id(st, c->id, c->tokens[0], &c->err);
    case OP_SAVE:
        return ts_save_token(st, c->tokens[0], &c->err);
    case OP_SAVE_MANY:
        return ts_save_tokens(st, c->tokens, c->n, &c->err);
    case OP_DELETE:
        return ts_delete_token(st, c->id, &c->err);
    case OP_TOKENS: {
        int rc = ts_get_tokens(st, collect, c, &c->err);
        if (rc == TS_ERR_NOMEM)
            snprintf(c->err.message, sizeof c->err.message, "out of memory");
        return rc;
    }
    case OP_CLEAR:
        return ts_delete_tokens(st, &c->err);
    case OP_ACCESS_TOKEN: {
        int rc = slot_oauth(c, sl);
        return rc == TS_OK ? ts_oauth_get_access_token(sl->oauth, c->tokens[0], &c->err) : rc;
    }
    default:
        return TS_ERR_INVALID;
    }
}

/* On the libuv pool. */
static void execute(napi_env env, void *data)
{
    struct call *c = data;
    struct slot *sl;

    (void)env;
    if (c->op == OP_OPEN) {
        c->rc = run_open(c);
    } else if (c->op == OP_CLOSE) {
        store_shutdown(c->s);
        c->rc = TS_OK;
    } else if ((c->rc = slot_acquire(c->s, &sl, &c->err)) == TS_OK) {
        c->rc = run_op(c, sl);
        slot_release(c->s, sl);
    }
}

/* The promise's value for a call that succeeded. */
static napi_value result_of(napi_env env, struct call *c)
{
    napi_value v;

    switch (c->op) {
    case OP_OPEN: {
        napi_value ctor, ext;
        napi_get_reference_value(env, store_ctor, &ctor);
        napi_create_external(env, c->s, NULL, NULL, &ext);
        napi_new_instance(env, ctor, 1, &ext, &v);
        /* Where the configuration came from (a file, "URI", "default"):
         * the wrapper reads a config file's oauth section from there. */
        napi_create_string_utf8(env, ts_config_origin(c->s->config), NAPI_AUTO_LENGTH, &ext);
        napi_set_named_property(env, v, "origin", ext);
        c->s = NULL;    /* the Store object owns it now */
        return v;
    }
    case OP_FIND: case OP_FIND_BY_ID: case OP_SAVE: case OP_ACCESS_TOKEN:
        return token_to_js(env, c->tokens[0]);
    case OP_SAVE_MANY: case OP_TOKENS:
        napi_create_array_with_length(env, c->n, &v);
        for (size_t i = 0; i < c->n; i++)
            napi_set_element(env, v, (uint32_t)i, token_to_js(env, c->tokens[i]));
        return v;
    default:
        napi_get_undefined(env, &v);
        return v;
    }
}

/* On the event loop: settles the promise. A miss of find and findById is
 * null, not an error: the SDK's stores answer a miss with null too. */
static void complete(napi_env env, napi_status status, void *data)
{
    struct call *c = data;
    napi_value v;

    if (status != napi_ok) {
        c->rc = TS_ERR_BACKEND;
        snprintf(c->err.message, sizeof c->err.message, "the call was cancelled");
    }
    if (c->rc == TS_NOT_FOUND && (c->op == OP_FIND || c->op == OP_FIND_BY_ID)) {
        napi_get_null(env, &v);
        napi_resolve_deferred(env, c->deferred, v);
    } else if (c->rc == TS_OK) {
        napi_resolve_deferred(env, c->deferred, result_of(env, c));
    } else {
        napi_reject_deferred(env, c->deferred, error_to_js(env, c->rc, &c->err));
    }
    if (c->op == OP_OPEN)
        store_free(c->s);    /* NULL once a Store object took it */
    call_free(env, c);
}

/* ---------------------------------------------------------------- drains */

/*
 * Calls on a Store are not one async work each: a work costs two thread
 * wake-ups, which on a busy machine cost more than a Redis round trip. A
 * call joins the store's queue, and up to max_drains works take calls from
 * it until it is empty, then settle every promise they ran in one pass of
 * the event loop. Sixteen finds in flight thus cost a few wake-ups, not
 * thirty-two, and still run on as many handles as there are drains.
 */
struct drain {
    struct store *s;
    napi_async_work work;
    struct call *done, *done_tail;
};

static void start_drain(napi_env env, struct store *s);

/* Runs the k finds chained from `first` as one ts_find_tokens: on redis,
 * one round trip for all. err describes the first failed find; another
 * that failed on its own is run again alone for its own message, while a
 * lost connection or a closed store failed them all alike. */
static void run_finds(struct call *first, size_t k)
{
    ts_token *tokens[DRAIN_BATCH];
    int results[DRAIN_BATCH];
    struct slot *sl = NULL;
    ts_error err = { 0 };
    size_t i = 0;
    int rc = slot_acquire(first->s, &sl, &err), reported = 0;

    for (struct call *c = first; c; c = c->next)
        results[i] = rc, tokens[i++] = c->tokens[0];
    if (rc == TS_OK)
        ts_find_tokens(sl->store, tokens, k, results, &err);
    i = 0;
    for (struct call *c = first; c; c = c->next) {
        c->rc = results[i++];
        if (c->rc == TS_OK || c->rc == TS_NOT_FOUND)
            continue;
        if (!reported++ || !sl || c->rc == TS_ERR_CONNECT || c->rc == TS_ERR_TIMEOUT)
            c->err = err;
        else
            c->rc = ts_find_token(sl->store, c->tokens[0], &c->err);
    }
    if (sl)
        slot_release(first->s, sl);
}

static void drain_execute(napi_env env, void *data)
{
    struct drain *d = data;
    struct store *s = d->s;

    for (int n = 0;;) {
        pthread_mutex_lock(&s->lock);
        struct call *c = n < DRAIN_BATCH ? s->queue : NULL, *last = c;
        size_t k = 1;
        if (!c) {
            s->drains--;
            pthread_mutex_unlock(&s->lock);
            return;
        }
        /* The finds queued behind a find go with it. */
        while (c->op == OP_FIND && last->next && last->next->op == OP_FIND &&
               n + (int)k < DRAIN_BATCH) {
            last = last->next;
            k++;
        }
        if (!(s->queue = last->next))
            s->queue_tail = NULL;
        pthread_mutex_unlock(&s->lock);
        last->next = NULL;
        if (c->op == OP_FIND)
            run_finds(c, k);
        else
            execute(env, c);
        n += (int)k;
        if (d->done_tail)
            d->done_tail->next = c;
        else
            d->done = c;
        d->done_tail = last;
    }
}

/* Starts another drain when calls wait and fewer than allowed run. */
static void drain_more(napi_env env, struct store *s)
{
    int more;

    pthread_mutex_lock(&s->lock);
    more = s->queue && s->drains < s->max_drains;
    if (more)
        s->drains++;
    pthread_mutex_unlock(&s->lock);
    if (more)
        start_drain(env, s);
}

static void drain_complete(napi_env env, napi_status status, void *data)
{
    struct drain *d = data;
    struct call *c = d->done;

    /* A drain stops after DRAIN_BATCH calls: carry on with the rest. This
     * comes first, while the calls below still keep the Store alive. */
    drain_more(env, d->s);
    while (c) {
        struct call *next = c->next;
        complete(env, status, c);
        c = next;
    }
    napi_delete_async_work(env, d->work);
    free(d);
}

static void start_drain(napi_env env, struct store *s)
{
    struct drain *d = calloc(1, sizeof *d);
    napi_value name;

    napi_create_string_utf8(env, "tokenstore", NAPI_AUTO_LENGTH, &name);
    if (!d || napi_create_async_work(env, NULL, name, drain_execute, drain_complete, d,
                                     &d->work) != napi_ok) {
        free(d);
        pthread_mutex_lock(&s->lock);
        s->drains--;    /* the next call tries again */
        pthread_mutex_unlock(&s->lock);
        return;
    }
    d->s = s;
    napi_queue_async_work(env, d->work);
}

/* --------------------------------------------------- finds on the loop */

/*
 * Finds that need no thread: where the backend can send a batch of finds
 * apart from reading their answers (redis, by user name), the event loop
 * sends it (ts_find_tokens_send), watches the socket and reads the answers
 * as they come (ts_find_tokens_receive), without the two thread wake-ups
 * a drain costs. A batch the backend will not send so, and a find it
 * could not settle so (a redirect, a lost connection, a timeout), go back
 * to the queue for a drain. One such batch per Store at a time.
 */
struct watch {
    uv_poll_t poll;
    uv_timer_t timer;
    int handles;              /* of the two, those not closed yet */
    napi_env env;
    struct store *s;
    struct slot *sl;
    struct call *calls;       /* chained by next, in the order sent */
    size_t n;
    ts_token *tokens[DRAIN_BATCH];
    int fd, fd_flags;         /* the socket, and its flags before libuv's */
};

/* Puts the chain first..last back at the head of the store's queue. */
static void requeue(struct store *s, struct call *first, struct call *last)
{
    pthread_mutex_lock(&s->lock);
    last->next = s->queue;
    s->queue = first;
    if (!s->queue_tail)
        s->queue_tail = last;
    pthread_mutex_unlock(&s->lock);
}

static void watch_closed(uv_handle_t *h)
{
    struct watch *w = h->data;

    if (--w->handles == 0)
        free(w);
}

/* Ends the watch: results[] settles the calls it can; NULL gives up on
 * the batch (its answers are not read) and settles none. The rest go back
 * to the queue. JavaScript runs here, in a callback scope, so the
 * continuations of the promises settled run before it returns. */
static void watch_end(struct watch *w, const int *results)
{
    struct store *s = w->s;
    napi_env env = w->env;
    struct call *c = w->calls, *back = NULL, *back_tail = NULL, *done = NULL, **done_tail = &done;
    napi_handle_scope hs;
    napi_callback_scope cs = NULL;
    napi_async_context actx = NULL;
    napi_value resource, name;

    uv_close((uv_handle_t *)&w->poll, watch_closed);
    uv_close((uv_handle_t *)&w->timer, watch_closed);
    /* libuv made the socket non-blocking; the handle's other calls wait. */
    fcntl(w->fd, F_SETFL, w->fd_flags);
    if (!results)
        ts_find_tokens_cancel(w->sl->store);   /* after libuv let go of the socket */
    slot_release(s, w->sl);
    s->watch = NULL;
    for (size_t i = 0; c; i++) {
        struct call *next = c->next;
        c->next = NULL;
        if (results && (results[i] == TS_OK || results[i] == TS_NOT_FOUND)) {
            c->rc = results[i];
            *done_tail = c;
            done_tail = &c->next;
        } else {
            if (back_tail)
                back_tail->next = c;
            else
                back = c;
            back_tail = c;
        }
        c = next;
    }
    if (back)
        requeue(s, back, back_tail);
    napi_open_handle_scope(env, &hs);
    if (napi_create_object(env, &resource) == napi_ok &&
        napi_create_string_utf8(env, "tokenstore", NAPI_AUTO_LENGTH, &name) == napi_ok &&
        napi_async_init(env, resource, name, &actx) == napi_ok)
        napi_open_callback_scope(env, resource, actx, &cs);
    if (back)
        drain_more(env, s);
    while (done) {
        struct call *next = done->next;
        complete(env, napi_ok, done);
        done = next;
    }
    if (cs)
        napi_close_callback_scope(env, cs);
    if (actx)
        napi_async_destroy(env, actx);
    napi_close_handle_scope(env, hs);
}

static void watch_readable(uv_poll_t *h, int status, int events)
{
    struct watch *w = h->data;
    int results[DRAIN_BATCH], done = 1;
    ts_error err = { 0 };

    (void)events;
    if (status < 0) {
        watch_end(w, NULL);
        return;
    }
    ts_find_tokens_receive(w->sl->store, w->tokens, w->n, results, &done, &err);
    if (done)
        watch_end(w, results);
}

/* No answer in the backend's time: the finds go to a drain, which waits
 * its own time on a new connection and says what became of them. */
static void watch_timeout(uv_timer_t *h)
{
    watch_end(h->data, NULL);
}

/* Sends the finds at the head of the queue from the event loop, when the
 * backend can and a handle is free; else leaves them to the drains. */
static void watch_start(napi_env env, struct store *s)
{
    struct watch *w;
    struct slot *sl;
    struct call *last = NULL;
    uv_loop_t *loop;
    ts_error err = { 0 };
    int fd, timeout_ms;

    if (s->watch || napi_get_uv_event_loop(env, &loop) != napi_ok || !(sl = slot_try_acquire(s)))
        return;
    if (!(w = calloc(1, sizeof *w))) {
        slot_release(s, sl);
        return;
    }
    pthread_mutex_lock(&s->lock);
    for (struct call *c = s->queue; c && c->op == OP_FIND && w->n < DRAIN_BATCH; c = c->next) {
        w->tokens[w->n++] = c->tokens[0];
        last = c;
    }
    if (last) {
        w->calls = s->queue;
        if (!(s->queue = last->next))
            s->queue_tail = NULL;
        last->next = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    if (!last || ts_find_tokens_send(sl->store, w->tokens, w->n, &fd, &timeout_ms, &err) != TS_OK) {
        if (last)
            requeue(s, w->calls, last);
        slot_release(s, sl);
        free(w);
        return;
    }
    w->env = env;
    w->s = s;
    w->sl = sl;
    w->poll.data = w->timer.data = w;
    w->fd = fd;
    w->fd_flags = fcntl(fd, F_GETFL);
    if (w->fd_flags < 0 || uv_poll_init(loop, &w->poll, fd) != 0) {
        if (w->fd_flags >= 0)
            fcntl(fd, F_SETFL, w->fd_flags);
        ts_find_tokens_cancel(sl->store);
        requeue(s, w->calls, last);
        slot_release(s, sl);
        free(w);
        return;
    }
    uv_timer_init(loop, &w->timer);
    w->handles = 2;
    s->watch = w;
    uv_poll_start(&w->poll, UV_READABLE, watch_readable);
    uv_timer_start(&w->timer, watch_timeout, (uint64_t)(timeout_ms > 0 ? timeout_ms : 1), 0);
}

/* A microtask queued by the first find of a tick: by the time it runs,
 * the finds the rest of the tick made (the continuations of the promises
 * one drain settled, say) are queued behind it, and one drain takes them
 * all as one batch. */
static napi_value kick(napi_env env, napi_callback_info info)
{
    struct store *s;

    napi_get_cb_info(env, info, NULL, NULL, NULL, (void **)&s);
    s->kick_pending = 0;
    watch_start(env, s);
    drain_more(env, s);
    return NULL;
}

/* Starts the store's queue at the end of the tick (on the event loop). */
static void kick_later(napi_env env, struct store *s)
{
    napi_value global, queue, fn;

    if (s->kick_pending)
        return;
    if (!s->kick_fn &&
        (napi_create_function(env, "tokenstoreKick", NAPI_AUTO_LENGTH, kick, s, &fn) != napi_ok ||
         napi_create_reference(env, fn, 1, &s->kick_fn) != napi_ok))
        s->kick_fn = NULL;
    if (!s->kick_fn || napi_get_reference_value(env, s->kick_fn, &fn) != napi_ok ||
        napi_get_global(env, &global) != napi_ok ||
        napi_get_named_property(env, global, "queueMicrotask", &queue) != napi_ok ||
        napi_call_function(env, global, queue, 1, &fn, NULL) != napi_ok) {
        drain_more(env, s);
        return;
    }
    s->kick_pending = 1;
}

/* Queues c and returns its promise; on a bad argument (an exception is
 * pending) returns a promise rejected with it instead. */
static napi_value start(napi_env env, struct call *c)
{
    napi_value promise, name, exc;
    bool pending = false;

    /* Node-API refuses most calls while an exception is pending. */
    napi_is_exception_pending(env, &pending);
    if (pending)
        napi_get_and_clear_last_exception(env, &exc);
    napi_create_promise(env, &c->deferred, &promise);
    if (pending) {
        napi_reject_deferred(env, c->deferred, exc);
        if (c->op == OP_OPEN)
            store_free(c->s);
        call_free(env, c);
        return promise;
    }
    if (c->op == OP_OPEN) {
        napi_create_string_utf8(env, "tokenstore", NAPI_AUTO_LENGTH, &name);
        napi_create_async_work(env, NULL, name, execute, complete, c, &c->work);
        napi_queue_async_work(env, c->work);
        return promise;
    }
    if (c->s->pending++ == 0)
        napi_reference_ref(env, c->s->self, NULL);
    c->holds_store = 1;
    pthread_mutex_lock(&c->s->lock);
    if (c->s->queue_tail)
        c->s->queue_tail->next = c;
    else
        c->s->queue = c;
    c->s->queue_tail = c;
    pthread_mutex_unlock(&c->s->lock);
    if (c->op == OP_FIND)
        kick_later(env, c->s);
    else
        drain_more(env, c->s);
    return promise;
}

/* ---------------------------------------------------------------- methods */

/* A new call on the Store `this`, with up to 2 arguments in arg[] (those
 * not given are undefined). */
static struct call *new_call(napi_env env, napi_callback_info info, enum op op,
                             napi_value *self, napi_value arg[2])
{
    size_t argc = 2;
    struct call *c = calloc(1, sizeof *c);

    if (!c) {
        throw_error(env, "TS_ERR_NOMEM", "out of memory");
        return NULL;
    }
    napi_get_cb_info(env, info, &argc, arg, self, NULL);
    for (; argc < 2; argc++)
        napi_get_undefined(env, &arg[argc]);
    c->op = op;
    c->ahead_ms = AHEAD_CONFIG;
    if (napi_unwrap(env, *self, (void **)&c->s) != napi_ok || !c->s) {
        free(c);
        throw_error(env, "TS_ERR_INVALID", "not a tokenstore Store");
        return NULL;
    }
    return c;
}

/* accessToken's options: refreshAheadMs, a whole number of milliseconds
 * (the library checks its range), or absent for the config's. Throws on
 * anything else. */
static void access_options(napi_env env, napi_value options, struct call *c)
{
    napi_valuetype t;
    napi_value v;
    double ms;

    napi_typeof(env, options, &t);
    if (t == napi_undefined || t == napi_null)
        return;
    if (t != napi_object) {
        throw_error(env, "TS_ERR_INVALID", "accessToken: options must be an object");
        return;
    }
    napi_get_named_property(env, options, "refreshAheadMs", &v);
    napi_typeof(env, v, &t);
    if (t == napi_undefined || t == napi_null)
        return;
    if (t != napi_number || napi_get_value_double(env, v, &ms) != napi_ok ||
        !(ms >= 0 && ms <= 1e15) || ms != (double)(long long)ms) {
        throw_error(env, "TS_ERR_INVALID",
                    "accessToken: options.refreshAheadMs must be a whole number of milliseconds");
        return;
    }
    c->ahead_ms = (long long)ms;
}

/* find, save and accessToken take a token; accessToken also options. */
static napi_value token_method(napi_env env, napi_callback_info info, enum op op)
{
    napi_value self, arg[2];
    struct call *c = new_call(env, info, op, &self, arg);

    if (!c)
        return NULL;
    if ((c->tokens = calloc(1, sizeof *c->tokens)) != NULL) {
        c->cap = 1;
        if ((c->tokens[0] = token_from_js(env, arg[0], "token")) != NULL)
            c->n = 1;
        if (c->n == 1 && op == OP_ACCESS_TOKEN)
            access_options(env, arg[1], c);
    } else {
        throw_error(env, "TS_ERR_NOMEM", "out of memory");
    }
    return start(env, c);
}

/* findById and delete take an id; findById answers a new token. */
static napi_value id_method(napi_env env, napi_callback_info info, enum op op)
{
    napi_value self, arg[2];
    struct call *c = new_call(env, info, op, &self, arg);

    if (!c)
        return NULL;
    if ((c->id = string_arg(env, arg[0], "id")) != NULL && op == OP_FIND_BY_ID) {
        if ((c->tokens = calloc(1, sizeof *c->tokens)) && (c->tokens[0] = ts_token_new()))
            c->n = c->cap = 1;
        else
            throw_error(env, "TS_ERR_NOMEM", "out of memory");
    }
    return start(env, c);
}

static napi_value plain_method(napi_env env, napi_callback_info info, enum op op)
{
    napi_value self, arg[2];
    struct call *c = new_call(env, info, op, &self, arg);

    return c ? start(env, c) : NULL;
}

static napi_value save_many(napi_env env, napi_callback_info info)
{
    napi_value self, arg[2], el;
    bool is_array = false;
    uint32_t len = 0;
    struct call *c = new_call(env, info, OP_SAVE_MANY, &self, arg);

    if (!c)
        return NULL;
    napi_is_array(env, arg[0], &is_array);
    if (!is_array) {
        throw_error(env, "TS_ERR_INVALID", "saveMany takes an array of tokens");
        return start(env, c);
    }
    napi_get_array_length(env, arg[0], &len);
    if (len && !(c->tokens = calloc(len, sizeof *c->tokens)))
        throw_error(env, "TS_ERR_NOMEM", "out of memory");
    c->cap = len;
    for (uint32_t i = 0; c->tokens && i < len; i++) {
        char what[32];
        snprintf(what, sizeof what, "tokens[%u]", i);
        napi_get_element(env, arg[0], i, &el);
        if (!(c->tokens[i] = token_from_js(env, el, what)))
            break;
        c->n++;
    }
    return start(env, c);
}

static napi_value m_find(napi_env e, napi_callback_info i) { return token_method(e, i, OP_FIND); }
static napi_value m_save(napi_env e, napi_callback_info i) { return token_method(e, i, OP_SAVE); }
static napi_value m_access_token(napi_env e, napi_callback_info i) { return token_method(e, i, OP_ACCESS_TOKEN); }
static napi_value m_find_by_id(napi_env e, napi_callback_info i) { return id_method(e, i, OP_FIND_BY_ID); }
static napi_value m_delete(napi_env e, napi_callback_info i) { return id_method(e, i, OP_DELETE); }
static napi_value m_tokens(napi_env e, napi_callback_info i) { return plain_method(e, i, OP_TOKENS); }
static napi_value m_clear(napi_env e, napi_callback_info i) { return plain_method(e, i, OP_CLEAR); }
static napi_value m_close(napi_env e, napi_callback_info i) { return plain_method(e, i, OP_CLOSE); }

/* new Store(external): only open() makes one. */
static napi_value store_new(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1], self;
    napi_valuetype t = napi_undefined;
    void *s = NULL;

    napi_get_cb_info(env, info, &argc, argv, &self, NULL);
    if (argc == 1)
        napi_typeof(env, argv[0], &t);
    if (t != napi_external)
        return throw_error(env, "TS_ERR_INVALID", "a Store is made by open(spec)");
    napi_get_value_external(env, argv[0], &s);
    napi_wrap(env, self, s, store_finalize, NULL, &((struct store *)s)->self);
    return self;
}

/* open(spec, flags): spec as ts_config_load takes it (a URI, a config
 * file, or null for the default); flags TS_OPEN_*. */
static napi_value m_open(napi_env env, napi_callback_info info)
{
    size_t argc = 2;
    napi_value argv[2];
    napi_valuetype t = napi_undefined;
    struct call *c = calloc(1, sizeof *c);
    struct store *s = calloc(1, sizeof *s);
    uint32_t flags = 0;

    if (!c || !s) {
        free(c);
        free(s);
        return throw_error(env, "TS_ERR_NOMEM", "out of memory");
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->freed, NULL);
    s->max_slots = 1;
    c->op = OP_OPEN;
    c->s = s;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc >= 1)
        napi_typeof(env, argv[0], &t);
    if (t != napi_null && t != napi_undefined)
        c->spec = string_arg(env, argv[0], "spec");
    if (argc >= 2 && napi_get_value_uint32(env, argv[1], &flags) == napi_ok)
        s->flags = flags;
    return start(env, c);
}

/* The macro defines exported functions without a separate prototype. */
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
NAPI_MODULE_INIT()
{
    napi_property_descriptor methods[] = {
        { "find", NULL, m_find, NULL, NULL, NULL, napi_default, NULL },
        { "findById", NULL, m_find_by_id, NULL, NULL, NULL, napi_default, NULL },
        { "save", NULL, m_save, NULL, NULL, NULL, napi_default, NULL },
        { "delete", NULL, m_delete, NULL, NULL, NULL, napi_default, NULL },
        { "tokens", NULL, m_tokens, NULL, NULL, NULL, napi_default, NULL },
        { "clear", NULL, m_clear, NULL, NULL, NULL, napi_default, NULL },
        { "saveMany", NULL, save_many, NULL, NULL, NULL, napi_default, NULL },
        { "accessToken", NULL, m_access_token, NULL, NULL, NULL, napi_default, NULL },
        { "close", NULL, m_close, NULL, NULL, NULL, napi_default, NULL },
    };
    napi_value ctor, fn, v;

    napi_define_class(env, "Store", NAPI_AUTO_LENGTH, store_new, NULL,
                      sizeof methods / sizeof *methods, methods, &ctor);
    napi_create_reference(env, ctor, 1, &store_ctor);
    if (make_token_functions(env) != napi_ok)
        return throw_error(env, "TS_ERR_LOAD", "tokenstore: the token functions did not compile");
    napi_set_named_property(env, exports, "Store", ctor);
    napi_create_function(env, "open", NAPI_AUTO_LENGTH, m_open, NULL, &fn);
    napi_set_named_property(env, exports, "open", fn);
    napi_create_uint32(env, TS_OPEN_MUST_EXIST, &v);
    napi_set_named_property(env, exports, "OPEN_MUST_EXIST", v);
    napi_create_uint32(env, TS_OPEN_READ_ONLY, &v);
    napi_set_named_property(env, exports, "OPEN_READ_ONLY", v);
    napi_create_string_utf8(env, ts_version(), NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, exports, "version", v);
    return exports;
}
