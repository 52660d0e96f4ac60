/*
 * bindings/node/settings.c - the OAuth client's settings from JavaScript.
 * Builds on values.c (strings and errors) only.
 *
 * An application may give the settings a config file's "oauth" section
 * holds in code instead: open(spec, { oauth: { accounts_url: ..., "accounts_url.EU":
 * ..., refresh_ahead_ms: 60000 } }). Their names, defaults and bounds are
 * the library's (ts_oauth_settings), and so is every check: a setting is
 * tried on a client made for the purpose, so that a misspelt name or a
 * value out of range is refused where it is given, with the library's
 * message, and not on the first refresh. Nothing here keeps a copy of a
 * bound. Values are wiped when freed: a client_secret may be one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addon.h"
#include "values.h"

static void free_text(char *p)
{
    if (p) {
        explicit_bzero(p, strlen(p));
        free(p);
    }
}

void tsn_oauth_kv_free(struct oauth_kv *kv)
{
    if (!kv)
        return;
    for (size_t i = 0; i < kv->n; i++) {
        free_text(kv->key[i]);
        free_text(kv->value[i]);
    }
    free(kv->key);
    free(kv->value);
    free(kv);
}

/* Throws the library's error rc/err as an Error with its code's name. */
static void throw_ts(napi_env env, int rc, const ts_error *err)
{
    bool pending = false;

    napi_is_exception_pending(env, &pending);
    if (!pending)
        napi_throw(env, tsn_error_to_js(env, rc, err));
}

/* Tries every setting on a client of no store: the library's own checks. */
static int check(const struct oauth_kv *kv, ts_error *err)
{
    ts_oauth *o = NULL;
    int rc = ts_oauth_new(&o, NULL, NULL, err);

    for (size_t i = 0; rc == TS_OK && i < kv->n; i++)
        rc = ts_oauth_set(o, kv->key[i], kv->value[i], err);
    ts_oauth_free(o);
    return rc;
}

/* Reads the name and value of obj's i-th own property into kv. */
static int read_setting(napi_env env, napi_value obj, napi_value names, uint32_t i,
                        const char *what, struct oauth_kv *kv)
{
    napi_value name, value;
    char where[160];

    if (napi_get_element(env, names, i, &name) != napi_ok ||
        !(kv->key[i] = tsn_string_arg(env, name, what)))
        return -1;
    kv->n = i + 1;
    snprintf(where, sizeof where, "%s[\"%.100s\"]", what, kv->key[i]);
    if (napi_get_property(env, obj, name, &value) != napi_ok) {
        tsn_throw_arg(env, where, NULL, "cannot be read");
        return -1;
    }
    kv->value[i] = tsn_string_arg(env, value, where);
    return kv->value[i] ? 0 : -1;
}

int tsn_oauth_from_js(napi_env env, napi_value obj, const char *what, struct oauth_kv **out)
{
    napi_valuetype t = napi_undefined;
    napi_value names;
    uint32_t n = 0;
    struct oauth_kv *kv;
    ts_error err = { 0 };
    int rc;

    *out = NULL;
    napi_typeof(env, obj, &t);
    if (t == napi_undefined || t == napi_null)
        return 0;
    if (t != napi_object || napi_get_property_names(env, obj, &names) != napi_ok ||
        napi_get_array_length(env, names, &n) != napi_ok) {
        tsn_throw_arg(env, what, NULL, "must be an object of OAuth settings");
        return -1;
    }
    if (!(kv = calloc(1, sizeof *kv)) || (n && (!(kv->key = calloc(n, sizeof *kv->key)) ||
                                                !(kv->value = calloc(n, sizeof *kv->value))))) {
        tsn_oauth_kv_free(kv);
        tsn_throw_error(env, "TS_ERR_NOMEM", "out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < n; i++)
        if (read_setting(env, obj, names, i, what, kv) != 0) {
            tsn_oauth_kv_free(kv);
            return -1;
        }
    if ((rc = check(kv, &err)) != TS_OK) {
        tsn_oauth_kv_free(kv);
        throw_ts(env, rc, &err);
        return -1;
    }
    *out = kv;
    return 0;
}

napi_value tsn_m_check_oauth(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value arg, undefined;
    struct oauth_kv *kv;

    napi_get_undefined(env, &arg);
    napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
    if (tsn_oauth_from_js(env, arg, "oauth", &kv) != 0)
        return NULL;
    tsn_oauth_kv_free(kv);
    napi_get_undefined(env, &undefined);
    return undefined;
}

static void set_string(napi_env env, napi_value obj, const char *key, const char *value)
{
    napi_value v;

    napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, obj, key, v);
}

/* [{ name, default, min, max, summary }]: min and max are null for a
 * setting that is not a number. */
napi_value tsn_oauth_settings_js(napi_env env)
{
    size_t count = 0;
    const ts_oauth_setting *defs = ts_oauth_settings(&count);
    napi_value list, item, v;

    napi_create_array_with_length(env, count, &list);
    for (size_t i = 0; i < count; i++) {
        napi_create_object(env, &item);
        set_string(env, item, "name", defs[i].name);
        set_string(env, item, "default", defs[i].default_value);
        if (defs[i].is_number)
            napi_create_int64(env, defs[i].min, &v);
        else
            napi_get_null(env, &v);
        napi_set_named_property(env, item, "min", v);
        if (defs[i].is_number)
            napi_create_int64(env, defs[i].max, &v);
        napi_set_named_property(env, item, "max", v);
        set_string(env, item, "summary", defs[i].summary);
        napi_object_freeze(env, item);
        napi_set_element(env, list, (uint32_t)i, item);
    }
    napi_object_freeze(env, list);
    return list;
}

/* store.oauthSetting(key): the value in force from the config file's
 * section, open()'s settings and the defaults ("" for none; a
 * client_secret that is set reads "****"). */
napi_value tsn_m_oauth_setting(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value arg, self, v;
    struct store *s = NULL;
    char value[1024], *key;
    ts_error err = { 0 };
    int rc;

    napi_get_undefined(env, &arg);
    napi_get_cb_info(env, info, &argc, &arg, &self, NULL);
    if (napi_unwrap(env, self, (void **)&s) != napi_ok || !s || !s->settings)
        return tsn_throw_error(env, "TS_ERR_INVALID", "not a tokenstore Store");
    if (!(key = tsn_string_arg(env, arg, "key")))
        return NULL;
    rc = ts_oauth_get(s->settings, key, value, sizeof value, &err);
    free(key);
    if (rc != TS_OK) {
        throw_ts(env, rc, &err);
        return NULL;
    }
    napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v);
    return v;
}
