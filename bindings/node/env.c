/*
 * bindings/node/env.c - what belongs to one Node.js environment. Builds on
 * values.c (errors, the token functions) and log.c (the environment's log
 * handler); what ending a Store's work means is queue.c's, which env.c
 * does not name: it calls the end_store it was given (tsn_env_new).
 *
 * The main thread and each Worker load the addon into an environment of
 * their own, with its own JavaScript heap and its own event loop, so the
 * Store class, the token functions (values.c) and the Stores opened there
 * are kept in the environment's instance data, never in a global that the
 * next Worker's load would overwrite and its exit would leave dangling.
 *
 * When an environment ends (a Worker returns or is terminated, the
 * process exits), JavaScript can no longer run there and its loop is about
 * to be closed. Node first lets the calls already on the libuv pool
 * finish (their promises are left unsettled), then runs the cleanup hooks.
 * Ours ends what the environment's Stores still have going: the finds the
 * event loop sent (a uv_poll and a uv_timer on that loop, which must be
 * closed before the loop is), the calls queued for the end of a tick that
 * will not come (their tokens are wiped), and the store handles, so that a
 * terminated Worker's connections and locks go now, not at process exit.
 * Closing a uv handle takes a pass of the loop, so the hook is an
 * asynchronous one: Node runs the loop until the last close removes it.
 * The environment's log handler (log.c) hears nothing more from then on.
 */
#include <stdlib.h>
#include "addon.h"
#include "values.h"

static void env_unref(struct addon_env *ae)
{
    if (--ae->refs == 0)
        free(ae);
}

/* The cleanup is over: Node may close the loop. */
static void env_finish(struct addon_env *ae)
{
    napi_async_cleanup_hook_handle hook = ae->hook;

    ae->hook = NULL;
    napi_remove_async_cleanup_hook(hook);
    env_unref(ae);
}

/* The environment's cleanup hook. */
static void env_end(napi_async_cleanup_hook_handle handle, void *arg)
{
    struct addon_env *ae = arg;

    (void)handle;
    ae->ending = 1;
    for (struct store *s = ae->stores; s; s = s->next_in_env)
        ae->end_store(ae->env, s);
    tsn_log_sink_release(ae->log);
    ae->log = NULL;
    if (ae->closing == 0)
        env_finish(ae);
}

/* The instance data's finalizer, when the environment's addon state goes. */
static void env_finalize(napi_env env, void *data, void *hint)
{
    struct addon_env *ae = data;

    (void)hint;
    if (ae->store_ctor)
        napi_delete_reference(env, ae->store_ctor);
    ae->store_ctor = NULL;
    tsn_token_functions_free(env, &ae->tokens);
    env_unref(ae);
}

struct addon_env *tsn_env_new(napi_env env, void (*end_store)(napi_env env, struct store *s))
{
    struct addon_env *ae = calloc(1, sizeof *ae);

    if (!ae) {
        napi_throw_error(env, "TS_ERR_NOMEM", "out of memory");
        return NULL;
    }
    ae->env = env;
    ae->end_store = end_store;
    ae->refs = 1;
    if (napi_set_instance_data(env, ae, env_finalize, NULL) != napi_ok) {
        free(ae);
        napi_throw_error(env, "TS_ERR_LOAD", "tokenstore: cannot keep the addon's state");
        return NULL;
    }
    if (napi_add_async_cleanup_hook(env, env_end, ae, &ae->hook) != napi_ok) {
        napi_throw_error(env, "TS_ERR_LOAD", "tokenstore: cannot add a cleanup hook");
        return NULL;    /* the instance data's finalizer frees it */
    }
    ae->refs++;
    return ae;
}

struct addon_env *tsn_env_of(napi_env env)
{
    void *data = NULL;

    napi_get_instance_data(env, &data);
    return data;
}

void tsn_env_add_store(struct addon_env *ae, struct store *s)
{
    s->home = ae;
    s->next_in_env = ae->stores;
    ae->stores = s;
    ae->refs++;
}

void tsn_env_remove_store(struct store *s)
{
    struct addon_env *ae = s->home;

    if (!ae)
        return;
    for (struct store **p = &ae->stores; *p; p = &(*p)->next_in_env)
        if (*p == s) {
            *p = s->next_in_env;
            break;
        }
    s->home = NULL;
    env_unref(ae);
}

napi_value tsn_m_set_log_handler(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value fn, undefined;
    napi_valuetype t = napi_undefined;
    struct addon_env *ae = tsn_env_of(env);

    napi_get_cb_info(env, info, &argc, &fn, NULL, NULL);
    if (argc == 1)
        napi_typeof(env, fn, &t);
    if (t != napi_function)
        return tsn_throw_error(env, "TS_ERR_INVALID", "setLogHandler takes a function");
    /* The first handler stays: the Stores opened since use it. */
    if (ae && !ae->log && !ae->ending &&
        !(ae->log = tsn_log_sink_new(env, fn, TS_LOG_WARN, 1)))   /* no more passes the */
        return NULL;                                          /* process-wide logger */
    napi_get_undefined(env, &undefined);
    return undefined;
}

void tsn_env_closing(struct addon_env *ae)
{
    ae->closing++;
}

void tsn_env_closed(struct addon_env *ae)
{
    if (--ae->closing == 0 && ae->ending && ae->hook)
        env_finish(ae);
}
