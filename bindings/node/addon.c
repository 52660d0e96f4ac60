/*
 * bindings/node/addon.c - libtokenstore as a Node-API addon: what
 * JavaScript sees (the methods, the module's init) and one call's
 * lifecycle (its arguments, how it runs on a handle, how its promise
 * settles). The top layer: it builds on queue.c, env.c, settings.c, log.c
 * and values.c, and gives queue.c the call_ops it runs calls with and
 * env.c the end_store (tsn_queue_abandon) that ends a Store's work.
 *
 * Exports open(spec, flags, options) -> Promise<Store>, where Store has
 * find, findById, save, delete, tokens, clear, saveMany, accessToken (which
 * takes { refreshAheadMs, accountsUrl } after the token) and close, each
 * returning a Promise, and oauthSetting(key), the OAuth setting in force.
 * options: oauth (settings as a config's "oauth" section holds them,
 * settings.c), onLog(level, message) and logLevel (log.c). Also
 * checkOAuth(settings), oauthSettings (the library's list) and
 * setLogHandler(fn), the environment's handler of the lines no onLog
 * hears.
 * No call waits on the event loop: a store call may wait for a disk, a
 * lock or a Redis round trip, and JavaScript must keep running meanwhile.
 * Calls run on the libuv pool (napi_async_work), except the finds a
 * backend can send apart from their answers (redis, by user name), which
 * the event loop sends and reads as the answers come. How a call reaches
 * a handle (the Store's pool of handles, the drains, the finds on the
 * loop) is in queue.c.
 *
 * Tokens cross the boundary as plain objects with the SDK's ten field
 * names; an absent field is null. Errors reject with an Error whose `code`
 * is the ts_code's name ("TS_ERR_CONFIG") and whose message is the
 * library's, which never holds a secret (values.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addon.h"
#include "values.h"

/* ---------------------------------------------------------------- calls */

/* The environment's token functions (values.c). */
static const struct token_functions *tokens_of(napi_env env)
{
    struct addon_env *ae = tsn_env_of(env);

    return ae ? &ae->tokens : NULL;
}

static void call_free(napi_env env, struct call *c)
{
    for (size_t i = 0; i < c->n; i++)
        ts_token_free(c->tokens[i]);
    free(c->tokens);
    free(c->spec);
    free(c->id);
    free(c->accounts_hint);
    tsn_oauth_kv_free(c->oauth);
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

/* The configuration of open(): as the spec names it, with open()'s OAuth
 * settings over its oauth section and onLog as its logger; then the OAuth
 * settings in force, which a bad value in the config file refuses. */
static int load_config(struct call *c)
{
    struct store *s = c->s;
    int rc = ts_config_load(&s->config, c->spec, &c->err);

    for (size_t i = 0; rc == TS_OK && c->oauth && i < c->oauth->n; i++)
        rc = ts_config_set_oauth(s->config, c->oauth->key[i], c->oauth->value[i], &c->err);
    if (rc == TS_OK && s->own_log)
        ts_config_set_logger(s->config, tsn_log_to_sink, s->log, s->log_level);
    if (rc == TS_OK)
        rc = ts_oauth_new(&s->settings, NULL, s->config, &c->err);
    return rc;
}

/* Opens a Store: the configuration, then its first handle, so that a bad
 * spec or an unreachable server rejects open() itself. */
static int run_open(struct call *c)
{
    struct store *s = c->s;
    struct slot *sl;
    ts_backend_info info;
    int rc = load_config(c);

    if (rc == TS_OK)
        rc = tsn_slot_acquire(s, &sl, &c->err);
    if (rc != TS_OK)
        return rc;
    ts_store_info(sl->store, &info);
    s->max_slots = (info.caps & TS_CAP_SHARED) && !(info.caps & TS_CAP_THREAD_SAFE)
                   ? MAX_HANDLES : 1;
    s->max_drains = s->max_slots > 1 ? MAX_DRAINS : 1;
    tsn_slot_release(s, sl);
    return TS_OK;
}

/* Readies the handle's OAuth client for an accessToken call: made from
 * the config, then told the call's refresh_ahead_ms, which the library
 * checks. A call without one after a call with one gets a new client,
 * with the config's value again. */
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

/*
 * accessToken's accountsUrl: the accounts server the caller would use for
 * the token (the Zoho SDK's environment's, for an api_domain the SDK names
 * no data center for). It becomes the client's accounts_url.<api_domain
 * host> when no setting names a server for the token and its api_domain
 * names no data center the library knows, that is when the token would
 * otherwise go to data_center's server only for want of a better one.
 * The client keeps it, as it keeps every setting. A host the library
 * takes no override for (one without a dot) keeps the library's choice.
 */
static void hint_accounts(ts_oauth *o, const ts_token *query, const char *url)
{
    const char *api_domain = ts_token_get(query, TS_FIELD_API_DOMAIN);
    char key[600], one[2];
    ts_token *bare = ts_token_new();
    ts_error err;

    if (bare && *api_domain && ts_oauth_get(o, "accounts_url", one, sizeof one, &err) == TS_OK &&
        !*one && strcmp(ts_oauth_accounts_url(o, query), ts_oauth_accounts_url(o, bare)) == 0 &&
        snprintf(key, sizeof key, "accounts_url.%s", api_domain) < (int)sizeof key)
        ts_oauth_set(o, key, url, &err);
    ts_token_free(bare);
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
        if (rc == TS_OK && c->accounts_hint)
            hint_accounts(sl->oauth, c->tokens[0], c->accounts_hint);
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
    struct log_sink *outer = tsn_log_enter(c->s->log);

    (void)env;
    if (c->op == OP_OPEN) {
        c->rc = run_open(c);
    } else if (c->op == OP_CLOSE) {
        tsn_store_shutdown(c->s);
        c->rc = TS_OK;
    } else if ((c->rc = tsn_slot_acquire(c->s, &sl, &c->err)) == TS_OK) {
        c->rc = run_op(c, sl);
        tsn_slot_release(c->s, sl);
    }
    tsn_log_leave(outer);
}

/* The promise's value for a call that succeeded. */
static napi_value result_of(napi_env env, struct call *c)
{
    napi_value v = NULL;

    switch (c->op) {
    case OP_OPEN: {
        napi_value ctor, ext;
        /* The environment may be ending, when no object can be made: the
         * store stays the call's, and complete() frees it. */
        if (napi_get_reference_value(env, tsn_env_of(env)->store_ctor, &ctor) != napi_ok ||
            napi_create_external(env, c->s, NULL, NULL, &ext) != napi_ok ||
            napi_new_instance(env, ctor, 1, &ext, &v) != napi_ok) {
            napi_get_undefined(env, &v);
            return v;
        }
        /* Where the configuration came from: a file, "URI", "default". */
        napi_create_string_utf8(env, ts_config_origin(c->s->config), NAPI_AUTO_LENGTH, &ext);
        napi_set_named_property(env, v, "origin", ext);
        c->s = NULL;    /* the Store object owns it now */
        return v;
    }
    case OP_FIND: case OP_FIND_BY_ID: case OP_SAVE: case OP_ACCESS_TOKEN:
        return tsn_token_to_js(env, tokens_of(env), c->tokens[0]);
    case OP_SAVE_MANY: case OP_TOKENS:
        napi_create_array_with_length(env, c->n, &v);
        for (size_t i = 0; i < c->n; i++)
            napi_set_element(env, v, (uint32_t)i,
                             tsn_token_to_js(env, tokens_of(env), c->tokens[i]));
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
    napi_value v = NULL;

    if (status != napi_ok) {
        c->rc = TS_ERR_BACKEND;
        snprintf(c->err.message, sizeof c->err.message, "the call was cancelled");
    }
    if (c->rc == TS_NOT_FOUND && (c->op == OP_FIND || c->op == OP_FIND_BY_ID)) {
        napi_get_null(env, &v);
        napi_resolve_deferred(env, c->deferred, v);
    } else if (c->rc == TS_OK) {
        v = result_of(env, c);
        if (c->op == OP_OPEN && c->s) {    /* no Store object was made */
            c->err.code = c->rc = TS_ERR_NOMEM;
            snprintf(c->err.message, sizeof c->err.message, "the Store object cannot be made");
            napi_reject_deferred(env, c->deferred, tsn_error_to_js(env, c->rc, &c->err));
        } else {
            napi_resolve_deferred(env, c->deferred, v);
        }
    } else {
        napi_reject_deferred(env, c->deferred, tsn_error_to_js(env, c->rc, &c->err));
    }
    if (c->op == OP_OPEN)
        tsn_store_free(c->s);    /* NULL once a Store object took it */
    call_free(env, c);
}

/* How queue.c runs and settles the calls it takes. */
static const struct call_ops call_ops = { execute, complete, call_free };

/* ---------------------------------------------------------------- methods */

/* Frees a call that was never started, and the store of an open(). */
static void drop_call(napi_env env, struct call *c)
{
    if (c->op == OP_OPEN)
        tsn_store_free(c->s);
    call_free(env, c);
}

/* Queues c and returns its promise; on a bad argument (an exception is
 * pending) returns a promise rejected with it instead. */
static napi_value start(napi_env env, struct call *c)
{
    napi_value promise = NULL, name = NULL, exc = NULL;
    bool pending = false;
    ts_error err = { 0 };

    /* Node-API refuses most calls while an exception is pending. */
    napi_is_exception_pending(env, &pending);
    if (pending)
        napi_get_and_clear_last_exception(env, &exc);
    /* No promise can be made once the environment is ending (a Worker
     * terminated while its code still makes calls): the call is dropped,
     * and the method returns undefined, never an unset value. */
    if (napi_create_promise(env, &c->deferred, &promise) != napi_ok) {
        drop_call(env, c);
        return NULL;
    }
    if (pending) {
        napi_reject_deferred(env, c->deferred, exc);
        drop_call(env, c);
        return promise;
    }
    if (c->op == OP_OPEN) {
        if (napi_create_string_utf8(env, "tokenstore", NAPI_AUTO_LENGTH, &name) != napi_ok ||
            napi_create_async_work(env, NULL, name, execute, complete, c, &c->work) != napi_ok ||
            napi_queue_async_work(env, c->work) != napi_ok) {
            snprintf(err.message, sizeof err.message, "open() could not be started");
            napi_reject_deferred(env, c->deferred, tsn_error_to_js(env, TS_ERR_NOMEM, &err));
            drop_call(env, c);
        }
        return promise;
    }
    if (c->s->pending++ == 0)
        napi_reference_ref(env, c->s->self, NULL);
    c->holds_store = 1;
    tsn_enqueue(env, c);
    return promise;
}

/* A new call on the Store `this`, with up to 2 arguments in arg[] (those
 * not given are undefined). */
static struct call *new_call(napi_env env, napi_callback_info info, enum op op,
                             napi_value *self, napi_value arg[2])
{
    size_t argc = 2;
    struct call *c = calloc(1, sizeof *c);

    if (!c) {
        tsn_throw_error(env, "TS_ERR_NOMEM", "out of memory");
        return NULL;
    }
    napi_get_cb_info(env, info, &argc, arg, self, NULL);
    for (; argc < 2; argc++)
        napi_get_undefined(env, &arg[argc]);
    c->op = op;
    c->ahead_ms = AHEAD_CONFIG;
    if (napi_unwrap(env, *self, (void **)&c->s) != napi_ok || !c->s) {
        free(c);
        tsn_throw_error(env, "TS_ERR_INVALID", "not a tokenstore Store");
        return NULL;
    }
    return c;
}

/* accessToken's options: refreshAheadMs, a whole number of milliseconds
 * (the library checks its range), or absent for the settings'; and
 * accountsUrl (hint_accounts). Throws on anything else. */
static void access_options(napi_env env, napi_value options, struct call *c)
{
    napi_valuetype t = napi_undefined;
    napi_value v = NULL;
    double ms;

    napi_typeof(env, options, &t);
    if (t == napi_undefined || t == napi_null)
        return;
    if (t != napi_object) {
        tsn_throw_error(env, "TS_ERR_INVALID", "accessToken: options must be an object");
        return;
    }
    napi_get_named_property(env, options, "accountsUrl", &v);
    napi_typeof(env, v, &t);
    if (t != napi_undefined && t != napi_null &&
        !(c->accounts_hint = tsn_string_arg(env, v, "accessToken: options.accountsUrl")))
        return;
    napi_get_named_property(env, options, "refreshAheadMs", &v);
    napi_typeof(env, v, &t);
    if (t == napi_undefined || t == napi_null)
        return;
    if (t != napi_number || napi_get_value_double(env, v, &ms) != napi_ok ||
        !(ms >= 0 && ms <= 1e15) || ms != (double)(long long)ms) {
        tsn_throw_error(env, "TS_ERR_INVALID", "accessToken: options.refreshAheadMs "
                        "must be a whole number of milliseconds");
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
        if ((c->tokens[0] = tsn_token_from_js(env, tokens_of(env), arg[0], "token")) != NULL)
            c->n = 1;
        if (c->n == 1 && op == OP_ACCESS_TOKEN)
            access_options(env, arg[1], c);
    } else {
        tsn_throw_error(env, "TS_ERR_NOMEM", "out of memory");
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
    if ((c->id = tsn_string_arg(env, arg[0], "id")) != NULL && op == OP_FIND_BY_ID) {
        if ((c->tokens = calloc(1, sizeof *c->tokens)) && (c->tokens[0] = ts_token_new()))
            c->n = c->cap = 1;
        else
            tsn_throw_error(env, "TS_ERR_NOMEM", "out of memory");
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
        tsn_throw_error(env, "TS_ERR_INVALID", "saveMany takes an array of tokens");
        return start(env, c);
    }
    napi_get_array_length(env, arg[0], &len);
    if (len && !(c->tokens = calloc(len, sizeof *c->tokens)))
        tsn_throw_error(env, "TS_ERR_NOMEM", "out of memory");
    c->cap = len;
    for (uint32_t i = 0; c->tokens && i < len; i++) {
        char what[32];
        snprintf(what, sizeof what, "tokens[%u]", i);
        if (napi_get_element(env, arg[0], i, &el) != napi_ok) {
            tsn_throw_arg(env, what, NULL, "cannot be read");
            break;
        }
        if (!(c->tokens[i] = tsn_token_from_js(env, tokens_of(env), el, what)))
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
        return tsn_throw_error(env, "TS_ERR_INVALID", "a Store is made by open(spec)");
    napi_get_value_external(env, argv[0], &s);
    if (napi_wrap(env, self, s, tsn_store_finalize, NULL, &((struct store *)s)->self) != napi_ok)
        return NULL;
    tsn_env_add_store(tsn_env_of(env), s);
    return self;
}

/* open()'s options: oauth (settings.c), onLog (a function, whose sink
 * becomes the store's logger) and logLevel ("error" to "debug", "info"
 * when not given). Without onLog the store's lines go to the process-wide
 * logger, and what its calls cause to the environment's handler. Throws
 * on a bad option. */
static void open_options(napi_env env, napi_value options, struct call *c)
{
    static const char *const levels[] = { "error", "warning", "info", "debug" };
    napi_valuetype t = napi_undefined;
    napi_value v = NULL, fn = NULL;
    struct store *s = c->s;
    char level[16] = "info";
    struct addon_env *ae = tsn_env_of(env);

    napi_typeof(env, options, &t);
    if (t != napi_undefined && t != napi_null && t != napi_object) {
        tsn_throw_error(env, "TS_ERR_INVALID", "open: options must be an object");
        return;
    }
    if (t == napi_object) {
        napi_get_named_property(env, options, "oauth", &v);
        if (tsn_oauth_from_js(env, v, "oauth", &c->oauth) != 0)
            return;
        napi_get_named_property(env, options, "logLevel", &v);
        napi_typeof(env, v, &t);
        if (t != napi_undefined && t != napi_null &&
            (t != napi_string ||
             napi_get_value_string_utf8(env, v, level, sizeof level, NULL) != napi_ok)) {
            tsn_throw_error(env, "TS_ERR_INVALID", "open: options.logLevel must be a string");
            return;
        }
        napi_get_named_property(env, options, "onLog", &fn);
        napi_typeof(env, fn, &t);
        if (t != napi_undefined && t != napi_null && t != napi_function) {
            tsn_throw_error(env, "TS_ERR_INVALID", "open: options.onLog must be a function");
            return;
        }
        if (t != napi_function)
            fn = NULL;
    }
    for (s->log_level = 0; s->log_level < 4 && strcmp(level, levels[s->log_level]); s->log_level++)
        ;
    if (s->log_level == 4) {
        tsn_throw_arg(env, "open: options.logLevel", NULL,
                      "must be \"error\", \"warning\", \"info\" or \"debug\"");
        return;
    }
    if (fn) {
        s->log = tsn_log_sink_new(env, fn, s->log_level, 0);
        s->own_log = s->log != NULL;
    } else if (ae && ae->log) {
        tsn_log_sink_borrow(ae->log);
        s->log = ae->log;
    }
}

/* open(spec, flags, options): spec as ts_config_load takes it (a URI, a
 * config file, or null for the default); flags TS_OPEN_*. */
static napi_value m_open(napi_env env, napi_callback_info info)
{
    size_t argc = 3;
    napi_value argv[3];
    napi_valuetype t = napi_undefined;
    struct call *c = calloc(1, sizeof *c);
    struct store *s = calloc(1, sizeof *s);
    uint32_t flags = 0;

    if (!c || !s) {
        free(c);
        free(s);
        return tsn_throw_error(env, "TS_ERR_NOMEM", "out of memory");
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->freed, NULL);
    s->max_slots = 1;
    s->ops = &call_ops;
    c->op = OP_OPEN;
    c->s = s;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    for (; argc < 3; argc++)
        napi_get_undefined(env, &argv[argc]);
    napi_typeof(env, argv[0], &t);
    if (t != napi_null && t != napi_undefined)
        c->spec = tsn_string_arg(env, argv[0], "spec");
    if (napi_get_value_uint32(env, argv[1], &flags) == napi_ok)
        s->flags = flags;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending)
        open_options(env, argv[2], c);
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
        { "oauthSetting", NULL, tsn_m_oauth_setting, NULL, NULL, NULL, napi_default, NULL },
        { "close", NULL, m_close, NULL, NULL, NULL, napi_default, NULL },
    };
    napi_value ctor, fn, v;
    struct addon_env *ae = tsn_env_new(env, tsn_queue_abandon);

    if (!ae)
        return NULL;
    tsn_log_init();
    if (napi_define_class(env, "Store", NAPI_AUTO_LENGTH, store_new, NULL,
                          sizeof methods / sizeof *methods, methods, &ctor) != napi_ok ||
        napi_create_reference(env, ctor, 1, &ae->store_ctor) != napi_ok)
        return tsn_throw_error(env, "TS_ERR_LOAD", "tokenstore: the Store class cannot be made");
    if (tsn_token_functions_new(env, &ae->tokens) != napi_ok)
        return tsn_throw_error(env, "TS_ERR_LOAD",
                               "tokenstore: the token functions did not compile");
    napi_set_named_property(env, exports, "Store", ctor);
    napi_create_function(env, "open", NAPI_AUTO_LENGTH, m_open, NULL, &fn);
    napi_set_named_property(env, exports, "open", fn);
    napi_create_function(env, "checkOAuth", NAPI_AUTO_LENGTH, tsn_m_check_oauth, NULL, &fn);
    napi_set_named_property(env, exports, "checkOAuth", fn);
    napi_create_function(env, "setLogHandler", NAPI_AUTO_LENGTH, tsn_m_set_log_handler, NULL, &fn);
    napi_set_named_property(env, exports, "setLogHandler", fn);
    napi_set_named_property(env, exports, "oauthSettings", tsn_oauth_settings_js(env));
    napi_create_uint32(env, TS_OPEN_MUST_EXIST, &v);
    napi_set_named_property(env, exports, "OPEN_MUST_EXIST", v);
    napi_create_uint32(env, TS_OPEN_READ_ONLY, &v);
    napi_set_named_property(env, exports, "OPEN_READ_ONLY", v);
    napi_create_string_utf8(env, ts_version(), NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, exports, "version", v);
    return exports;
}
