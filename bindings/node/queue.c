/*
 * bindings/node/queue.c - how the Node addon's calls reach a handle: the
 * Store's pool of handles ("slots"), the queue of calls that async works
 * on the libuv pool drain ("drains"), and the finds the event loop sends
 * and reads itself ("finds on the loop"). Builds on env.c (a Store is
 * listed in its environment, and a find on the loop keeps the
 * environment's cleanup waiting until its uv handles close) and log.c (the
 * lines a call causes go to its Store's sink). addon.c makes the calls; the
 * queue runs one on a handle and settles its promise through the store's
 * call_ops (execute, complete, drop), which addon.c gives at open, and
 * names no function of addon.c.
 *
 * A libtokenstore handle takes turns between threads unless its backend is
 * thread-safe, so a Store of a backend that several processes may share
 * (TS_CAP_SHARED) keeps a small pool of handles, opened as concurrent calls
 * need them (see "drains" for how many run at once). A backend that is not
 * shared (memory) keeps one handle: a second would be another store.
 * open() sizes the pool from its first handle (run_open, in addon.c).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>
#include "addon.h"

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
int tsn_slot_acquire(struct store *s, struct slot **out, ts_error *err)
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

void tsn_slot_release(struct store *s, struct slot *sl)
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

/* Waits for every call to finish and closes every handle; what closing
 * says goes where the store's calls' lines go. */
void tsn_store_shutdown(struct store *s)
{
    struct log_sink *outer = tsn_log_enter(s->log);

    pthread_mutex_lock(&s->lock);
    s->closed = 1;
    for (int i = 0; i < s->nslots; i++)
        while (s->slots[i].busy)
            pthread_cond_wait(&s->freed, &s->lock);
    for (int i = 0; i < s->nslots; i++)
        slot_close(&s->slots[i]);
    s->nslots = 0;
    pthread_mutex_unlock(&s->lock);
    tsn_log_leave(outer);
}

void tsn_store_free(struct store *s)
{
    if (!s)
        return;
    tsn_store_shutdown(s);
    ts_oauth_free(s->settings);
    ts_config_free(s->config);
    /* No handle is left to log to the sink. */
    if (s->own_log)
        tsn_log_sink_release(s->log);
    else
        tsn_log_sink_unborrow(s->log);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->freed);
    free(s);
}

void tsn_store_finalize(napi_env env, void *data, void *hint)
{
    struct store *s = data;

    (void)hint;
    tsn_env_remove_store(s);
    if (s->kick_fn)
        napi_delete_reference(env, s->kick_fn);
    napi_delete_reference(env, s->self);
    tsn_store_free(s);
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
    int rc = tsn_slot_acquire(first->s, &sl, &err), reported = 0;

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
        tsn_slot_release(first->s, sl);
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
        if (c->op == OP_FIND) {
            struct log_sink *outer = tsn_log_enter(s->log);
            run_finds(c, k);
            tsn_log_leave(outer);
        } else {
            s->ops->execute(env, c);
        }
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
        d->s->ops->complete(env, status, c);
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
    struct addon_env *home;   /* keeps the loop open until they are */
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
    struct addon_env *ae = w->home;

    if (--w->handles == 0) {
        free(w);
        tsn_env_closed(ae);
    }
}

/* Closes the watch's uv handles and gives its handle back; cancel: its
 * answers will not be read. The calls are still w->calls. */
static void watch_stop(struct watch *w, int cancel)
{
    tsn_env_closing(w->home);
    uv_close((uv_handle_t *)&w->poll, watch_closed);
    uv_close((uv_handle_t *)&w->timer, watch_closed);
    /* libuv made the socket non-blocking; the handle's other calls wait. */
    fcntl(w->fd, F_SETFL, w->fd_flags);
    if (cancel)
        ts_find_tokens_cancel(w->sl->store);   /* after libuv let go of the socket */
    tsn_slot_release(w->s, w->sl);
    w->s->watch = NULL;
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

    watch_stop(w, !results);
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
        s->ops->complete(env, napi_ok, done);
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
    struct log_sink *outer = tsn_log_enter(w->s->log);
    ts_find_tokens_receive(w->sl->store, w->tokens, w->n, results, &done, &err);
    tsn_log_leave(outer);
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
        tsn_slot_release(s, sl);
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
    struct log_sink *outer = tsn_log_enter(s->log);
    int rc = last ? ts_find_tokens_send(sl->store, w->tokens, w->n, &fd, &timeout_ms, &err)
                  : TS_ERR_UNSUPPORTED;
    tsn_log_leave(outer);
    if (rc != TS_OK) {
        if (last)
            requeue(s, w->calls, last);
        tsn_slot_release(s, sl);
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
        tsn_slot_release(s, sl);
        free(w);
        return;
    }
    uv_timer_init(loop, &w->timer);
    w->handles = 2;
    w->home = s->home;
    s->watch = w;
    uv_poll_start(&w->poll, UV_READABLE, watch_readable);
    if (timeout_ms >= 0)      /* -1: the store sets no limit */
        uv_timer_start(&w->timer, watch_timeout, (uint64_t)timeout_ms, 0);
}

/* A microtask queued by the first find of a tick: by the time it runs,
 * the finds the rest of the tick made (the continuations of the promises
 * one batch settled, say) are queued behind it, and the event loop (or
 * else one drain) takes them all as one batch. */
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

void tsn_enqueue(napi_env env, struct call *c)
{
    struct store *s = c->s;

    pthread_mutex_lock(&s->lock);
    if (s->queue_tail)
        s->queue_tail->next = c;
    else
        s->queue = c;
    s->queue_tail = c;
    pthread_mutex_unlock(&s->lock);
    if (c->op == OP_FIND)
        kick_later(env, s);
    else
        drain_more(env, s);
}

/* The environment is ending (env.c) and JavaScript cannot run: the finds
 * on the loop are given up and every call not started is freed unsettled
 * (wiping its tokens); then the handles close. Node has let the drains
 * finish before, so no handle is busy but the watch's. */
void tsn_queue_abandon(napi_env env, struct store *s)
{
    struct call *c = NULL, *next;

    if (s->watch) {
        c = s->watch->calls;
        watch_stop(s->watch, 1);
    }
    for (; c; c = next) {
        next = c->next;
        s->ops->drop(env, c);
    }
    pthread_mutex_lock(&s->lock);
    c = s->queue;
    s->queue = s->queue_tail = NULL;
    pthread_mutex_unlock(&s->lock);
    for (; c; c = next) {
        next = c->next;
        s->ops->drop(env, c);
    }
    tsn_store_shutdown(s);
}
