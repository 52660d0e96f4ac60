/*
 * bindings/node/values.c - JS values to and from the library's.
 *
 * A token crosses the boundary as a plain object with the SDK's ten field
 * names (absent: null), carried as one NUL-joined string through two small
 * JS functions compiled at load; errors become an Error whose `code` is
 * the ts_code's name and whose message is the library's, which never
 * holds a secret.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addon.h"
#include "values.h"

/* The JS side's name of each ts_code. */
static const char *const code_names[] = {
    [TS_OK] = "TS_OK", [TS_NOT_FOUND] = "TS_NOT_FOUND",
    [TS_ERR_INVALID] = "TS_ERR_INVALID", [TS_ERR_NOMEM] = "TS_ERR_NOMEM",
    [TS_ERR_IO] = "TS_ERR_IO", [TS_ERR_CONFIG] = "TS_ERR_CONFIG",
    [TS_ERR_LOAD] = "TS_ERR_LOAD", [TS_ERR_ABI] = "TS_ERR_ABI",
    [TS_ERR_CORRUPT] = "TS_ERR_CORRUPT", [TS_ERR_CONFLICT] = "TS_ERR_CONFLICT",
    [TS_ERR_BUSY] = "TS_ERR_BUSY", [TS_ERR_CONNECT] = "TS_ERR_CONNECT",
    [TS_ERR_AUTH] = "TS_ERR_AUTH", [TS_ERR_TIMEOUT] = "TS_ERR_TIMEOUT",
    [TS_ERR_UNSUPPORTED] = "TS_ERR_UNSUPPORTED", [TS_ERR_BACKEND] = "TS_ERR_BACKEND",
    [TS_ERR_HTTP] = "TS_ERR_HTTP", [TS_ERR_OAUTH] = "TS_ERR_OAUTH",
    [TS_ERR_READ_ONLY] = "TS_ERR_READ_ONLY", [TS_ERR_NO_STORE] = "TS_ERR_NO_STORE",
};

/* Throws a JS error with the given code name unless one is pending. */
napi_value throw_error(napi_env env, const char *code, const char *msg)
{
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending)
        napi_throw_type_error(env, code, msg);
    return NULL;
}

/* Throws "WHAT[.FIELD] must be a string" and the like. */
void throw_arg(napi_env env, const char *what, const char *field, const char *problem)
{
    char msg[192];

    snprintf(msg, sizeof msg, "%s%s%s %s", what, field ? "." : "", field ? field : "", problem);
    throw_error(env, "TS_ERR_INVALID", msg);
}

/* Whether v is a string, or a number (turned into its string). */
static int stringish(napi_env env, napi_value *v)
{
    napi_valuetype t;

    napi_typeof(env, *v, &t);
    if (t == napi_number && napi_coerce_to_string(env, *v, v) == napi_ok)
        t = napi_string;
    return t == napi_string;
}

/* A JS string as a new C string, or NULL with an exception thrown. */
char *string_arg(napi_env env, napi_value v, const char *what)
{
    size_t len = 0;
    char *out;

    if (!stringish(env, &v)) {
        throw_arg(env, what, NULL, "must be a string");
        return NULL;
    }
    napi_get_value_string_utf8(env, v, NULL, 0, &len);
    if (!(out = malloc(len + 1))) {
        throw_error(env, "TS_ERR_NOMEM", "out of memory");
        return NULL;
    }
    napi_get_value_string_utf8(env, v, out, len + 1, &len);
    if (strlen(out) != len) {
        free(out);
        throw_arg(env, what, NULL, "holds a NUL character");
        return NULL;
    }
    return out;
}

/*
 * A token crosses the boundary as one string, its ten values joined by NUL
 * (which no value may hold), through two JS functions made at load: one
 * reads a token object into that string, one builds the object from it.
 * JS property access, object literals and split() are what V8 optimizes;
 * twenty Node-API calls per token, with names made from C strings, are
 * not.
 */
enum { READER, FACTORY };

/* Calls the environment's reader or factory with one argument. The
 * functions belong to the environment (env.c): each Worker compiles its
 * own. */
static napi_status call_js(napi_env env, int which, napi_value arg, napi_value *out)
{
    struct addon_env *ae = env_of(env);
    napi_value fn, global;
    napi_status st;

    if (!ae)
        return napi_generic_failure;
    if ((st = napi_get_reference_value(env, which == READER ? ae->token_reader
                                                           : ae->token_factory, &fn)) != napi_ok ||
        (st = napi_get_global(env, &global)) != napi_ok)
        return st;
    return napi_call_function(env, global, fn, 1, &arg, out);
}

/* Fills tok from the reader's string: the ten values, NUL between them. */
static int token_from_packed(napi_env env, napi_value packed, ts_token *tok)
{
    char stack[1024], *buf = stack;
    size_t len = 0;
    int rc = TS_OK;

    napi_get_value_string_utf8(env, packed, NULL, 0, &len);
    if (len >= sizeof stack && !(buf = malloc(len + 1)))
        return TS_ERR_NOMEM;
    napi_get_value_string_utf8(env, packed, buf, len + 1, &len);
    /* Each value ends with the NUL after it (the last, with the copy's). */
    const char *p = buf, *end = buf + len;
    for (int f = 0; f < TS_FIELD_COUNT && p <= end && rc == TS_OK; f++) {
        if (*p)
            rc = ts_token_set(tok, f, p);
        p += strlen(p) + 1;
    }
    explicit_bzero(buf, len);
    if (buf != stack)
        free(buf);
    return rc;
}

/* A plain object with the ten field names into a new token; null or
 * undefined fields are absent, numbers are read as strings. NULL with an
 * exception thrown. */
ts_token *token_from_js(napi_env env, napi_value obj, const char *what)
{
    napi_valuetype t;
    napi_value packed;
    ts_token *tok;

    napi_typeof(env, obj, &t);
    if (t != napi_object) {
        throw_arg(env, what, NULL, "must be an object with the token's fields");
        return NULL;
    }
    if (call_js(env, READER, obj, &packed) != napi_ok) {
        throw_arg(env, what, NULL, "cannot be read");
        return NULL;
    }
    napi_typeof(env, packed, &t);
    if (t == napi_number) {    /* the reader's answer for a bad field */
        int32_t bad = 0;
        napi_get_value_int32(env, packed, &bad);
        throw_arg(env, what, ts_field_name(bad % TS_FIELD_COUNT),
                  bad < TS_FIELD_COUNT ? "must be a string" : "holds a NUL character");
        return NULL;
    }
    if (!(tok = ts_token_new()) || token_from_packed(env, packed, tok) != TS_OK) {
        ts_token_free(tok);
        throw_error(env, "TS_ERR_NOMEM", "out of memory");
        return NULL;
    }
    return tok;
}

napi_value token_to_js(napi_env env, const ts_token *tok)
{
    char stack[1024], *buf = stack;
    size_t len = TS_FIELD_COUNT - 1;
    napi_value packed, obj;

    for (int f = 0; f < TS_FIELD_COUNT; f++)
        len += strlen(ts_token_get(tok, f));
    if (len >= sizeof stack && !(buf = malloc(len + 1))) {
        napi_get_null(env, &obj);
        return obj;
    }
    char *p = buf;
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        const char *value = ts_token_get(tok, f);
        size_t n = strlen(value);
        memcpy(p, value, n);
        p += n;
        if (f < TS_FIELD_COUNT - 1)
            *p++ = '\0';
    }
    napi_create_string_utf8(env, buf, len, &packed);
    explicit_bzero(buf, len);
    if (buf != stack)
        free(buf);
    if (call_js(env, FACTORY, packed, &obj) != napi_ok)
        napi_get_null(env, &obj);
    return obj;
}

/* Compiles src into a function kept in *ref. */
static napi_status make_function(napi_env env, const char *src, napi_ref *ref)
{
    napi_value script, fn;
    napi_status st;

    if ((st = napi_create_string_utf8(env, src, NAPI_AUTO_LENGTH, &script)) != napi_ok ||
        (st = napi_run_script(env, script, &fn)) != napi_ok)
        return st;
    return napi_create_reference(env, fn, 1, ref);
}

/* The reader answers the joined string, or the index of a field that is
 * not a string (number: its string), or 10 + the index of one that holds
 * a NUL; the factory turns the string back into an object, "" into null. */
napi_status make_token_functions(napi_env env, struct addon_env *ae)
{
    char reader[1024] = "(function (t) { const v = [", factory[1024] =
        "(function (s) { const v = s.split('\\0'); return {";
    napi_status st;

    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        sprintf(reader + strlen(reader), "%st.%s", f ? ", " : "", ts_field_name(f));
        sprintf(factory + strlen(factory), "%s %s: v[%d] || null", f ? "," : "",
                ts_field_name(f), f);
    }
    sprintf(reader + strlen(reader),
            "]; for (let i = 0; i < %d; i++) { const x = v[i];"
            " if (x === null || x === undefined) v[i] = '';"
            " else if (typeof x === 'number') v[i] = String(x);"
            " else if (typeof x !== 'string') return i;"
            " else if (x.includes('\\0')) return %d + i; }"
            " return v.join('\\0'); })", TS_FIELD_COUNT, TS_FIELD_COUNT);
    strcat(factory, " }; })");
    if ((st = make_function(env, reader, &ae->token_reader)) != napi_ok)
        return st;
    return make_function(env, factory, &ae->token_factory);
}

napi_value error_to_js(napi_env env, int rc, const ts_error *err)
{
    napi_value code, msg, e;
    char unknown[32];
    const char *name = rc >= 0 && rc < (int)(sizeof code_names / sizeof *code_names)
                       ? code_names[rc] : NULL;

    if (!name) {
        snprintf(unknown, sizeof unknown, "TS_CODE_%d", rc);
        name = unknown;
    }
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, *err->message ? err->message : ts_strerror(rc),
                            NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, code, msg, &e);
    return e;
}

