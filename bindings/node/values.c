/*
 * bindings/node/values.c - JS values to and from the library's. The
 * bottom layer of the addon: it builds on no other file of it, and the
 * environment's token functions are given to it (struct token_functions,
 * which env.c keeps).
 *
 * A token crosses the boundary as a plain object with the SDK's ten field
 * names (absent: null), carried as one NUL-joined string through two small
 * JS functions compiled at load; errors become an Error whose `code` is
 * the ts_code's name as the library spells it (ts_code_name, so a code
 * added to the library is named without a change here) and whose message
 * is the library's, which never holds a secret.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uchar.h>
#include "values.h"

/* Throws a JS error with the given code name unless one is pending. */
napi_value tsn_throw_error(napi_env env, const char *code, const char *msg)
{
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending)
        napi_throw_type_error(env, code, msg);
    return NULL;
}

/* Throws "WHAT[.FIELD] must be a string" and the like. */
void tsn_throw_arg(napi_env env, const char *what, const char *field, const char *problem)
{
    char msg[384];

    snprintf(msg, sizeof msg, "%s%s%s %s", what, field ? "." : "", field ? field : "", problem);
    tsn_throw_error(env, "TS_ERR_INVALID", msg);
}

/* Throws a RangeError "WHAT[.FIELD] holds a lone surrogate at index N":
 * UTF-16 that is not text, which UTF-8 cannot carry. Node would make it
 * U+FFFD, so that two different names would reach the store as one. */
static void throw_surrogate(napi_env env, const char *what, const char *field, long at)
{
    char msg[256];
    bool pending = false;

    snprintf(msg, sizeof msg, "%s%s%s holds a lone surrogate at index %ld (UTF-16 that is "
             "not text, which UTF-8 cannot carry)", what, field ? "." : "", field ? field : "",
             at);
    napi_is_exception_pending(env, &pending);
    if (!pending)
        napi_throw_range_error(env, "TS_ERR_INVALID", msg);
}

/* The index of the first lone surrogate in the JS string v, or -1. */
static long lone_surrogate(napi_env env, napi_value v)
{
    char16_t stack[256], *buf = stack;
    size_t len = 0;
    long at = -1;

    napi_get_value_string_utf16(env, v, NULL, 0, &len);
    if (len >= sizeof stack / sizeof *stack && !(buf = malloc((len + 1) * sizeof *buf)))
        return -1;
    napi_get_value_string_utf16(env, v, buf, len + 1, &len);
    for (size_t i = 0; i < len && at < 0; i++) {
        if (buf[i] >= 0xD800 && buf[i] <= 0xDBFF && i + 1 < len &&
            buf[i + 1] >= 0xDC00 && buf[i + 1] <= 0xDFFF)
            i++;    /* a pair */
        else if (buf[i] >= 0xD800 && buf[i] <= 0xDFFF)
            at = (long)i;
    }
    explicit_bzero(buf, len * sizeof *buf);
    if (buf != stack)
        free(buf);
    return at;
}

/* Whether v is a string, or a number (turned into its string). */
static int stringish(napi_env env, napi_value *v)
{
    napi_valuetype t = napi_undefined;

    napi_typeof(env, *v, &t);
    if (t == napi_number && napi_coerce_to_string(env, *v, v) == napi_ok)
        t = napi_string;
    return t == napi_string;
}

/* A JS string as a new C string, or NULL with an exception thrown. */
char *tsn_string_arg(napi_env env, napi_value v, const char *what)
{
    size_t len = 0;
    char *out;

    long at;

    if (!stringish(env, &v)) {
        tsn_throw_arg(env, what, NULL, "must be a string");
        return NULL;
    }
    if ((at = lone_surrogate(env, v)) >= 0) {
        throw_surrogate(env, what, NULL, at);
        return NULL;
    }
    napi_get_value_string_utf8(env, v, NULL, 0, &len);
    if (!(out = malloc(len + 1))) {
        tsn_throw_error(env, "TS_ERR_NOMEM", "out of memory");
        return NULL;
    }
    napi_get_value_string_utf8(env, v, out, len + 1, &len);
    if (strlen(out) != len) {
        free(out);
        tsn_throw_arg(env, what, NULL, "holds a NUL character");
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
 * functions belong to the environment: each Worker compiles its own. */
static napi_status call_js(napi_env env, const struct token_functions *fns, int which,
                           napi_value arg, napi_value *out)
{
    napi_value fn, global;
    napi_status st;

    if (!fns)
        return napi_generic_failure;
    if ((st = napi_get_reference_value(env, which == READER ? fns->reader : fns->factory,
                                       &fn)) != napi_ok ||
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

/* What the reader answers for a token it refuses: [kind, field index or
 * the unknown key, index of the lone surrogate]. */
enum { NOT_STRING, HOLDS_NUL, UNKNOWN_FIELD, LONE_SURROGATE };

/* "refreshToken" -> "refresh_token", when that is a field's name. */
static const char *snake_field(const char *key)
{
    char snake[64];
    size_t n = 0;

    for (const char *p = key; *p && n + 2 < sizeof snake; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            snake[n++] = '_';
            snake[n++] = (char)(*p - 'A' + 'a');
        } else {
            snake[n++] = *p;
        }
    }
    snake[n] = '\0';
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        if (strcmp(snake, ts_field_name(f)) == 0)
            return ts_field_name(f);
    return NULL;
}

/* Throws the error for the reader's refusal of the token `what`. */
static void reader_refusal(napi_env env, napi_value answer, const char *what)
{
    napi_value v = NULL;
    int32_t kind = -1, field = 0;
    int64_t at = 0;
    char key[64] = "", problem[256];
    const char *near;

    napi_get_element(env, answer, 0, &v);
    napi_get_value_int32(env, v, &kind);
    napi_get_element(env, answer, 1, &v);
    if (kind == UNKNOWN_FIELD) {
        napi_get_value_string_utf8(env, v, key, sizeof key, NULL);
        if ((near = snake_field(key)) != NULL)
            snprintf(problem, sizeof problem, "is not a token field (did you mean %s?)", near);
        else
            snprintf(problem, sizeof problem, "is not a token field (the fields are id, "
                     "user_name, client_id, client_secret, refresh_token, access_token, "
                     "grant_token, expiry_time, redirect_url, api_domain)");
        tsn_throw_arg(env, what, key, problem);
        return;
    }
    napi_get_value_int32(env, v, &field);
    if (field < 0 || field >= TS_FIELD_COUNT)
        field = 0;
    if (kind == LONE_SURROGATE) {
        napi_get_element(env, answer, 2, &v);
        napi_get_value_int64(env, v, &at);
        throw_surrogate(env, what, ts_field_name(field), (long)at);
        return;
    }
    tsn_throw_arg(env, what, ts_field_name(field),
                  kind == HOLDS_NUL ? "holds a NUL character" : "must be a string");
}

/* A plain object with the ten field names into a new token; null or
 * undefined fields are absent, numbers are read as strings. Any other key
 * is refused (a misspelt field would otherwise be dropped without a word),
 * and so is a string UTF-8 cannot carry. NULL with an exception thrown. */
ts_token *tsn_token_from_js(napi_env env, const struct token_functions *fns, napi_value obj,
                            const char *what)
{
    napi_valuetype t = napi_undefined;
    napi_value packed = NULL;
    ts_token *tok;

    napi_typeof(env, obj, &t);
    if (t != napi_object) {
        tsn_throw_arg(env, what, NULL, "must be an object with the token's fields");
        return NULL;
    }
    if (call_js(env, fns, READER, obj, &packed) != napi_ok) {
        tsn_throw_arg(env, what, NULL, "cannot be read");
        return NULL;
    }
    napi_typeof(env, packed, &t);
    if (t == napi_object) {    /* the reader's answer for a bad field */
        reader_refusal(env, packed, what);
        return NULL;
    }
    if (!(tok = ts_token_new()) || token_from_packed(env, packed, tok) != TS_OK) {
        ts_token_free(tok);
        tsn_throw_error(env, "TS_ERR_NOMEM", "out of memory");
        return NULL;
    }
    return tok;
}

napi_value tsn_token_to_js(napi_env env, const struct token_functions *fns, const ts_token *tok)
{
    char stack[1024], *buf = stack;
    size_t len = TS_FIELD_COUNT - 1;
    napi_value packed = NULL, obj = NULL;

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
    if (call_js(env, fns, FACTORY, packed, &obj) != napi_ok)
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

/* The reader answers the joined string, or for a token it refuses
 * [kind, field index or key, surrogate index] (see reader_refusal): a
 * value that is not a string or a number (a number is read as its
 * string), one that holds a NUL or a lone surrogate, or an own key that
 * is no field's name. The factory turns the string back into an object,
 * "" into null. */
napi_status tsn_token_functions_new(napi_env env, struct token_functions *fns)
{
    char reader[2048] = "(() => { const lone = /\\p{Cs}/u;"
        " const wellFormed = String.prototype.isWellFormed ? (x) => x.isWellFormed()"
        " : (x) => !lone.test(x); const known = new Set([", factory[1024] =
        "(function (s) { const v = s.split('\\0'); return {";
    napi_status st;

    for (int f = 0; f < TS_FIELD_COUNT; f++)
        sprintf(reader + strlen(reader), "%s'%s'", f ? ", " : "", ts_field_name(f));
    strcat(reader, "]); return function (t) { const v = [");
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        sprintf(reader + strlen(reader), "%st.%s", f ? ", " : "", ts_field_name(f));
        sprintf(factory + strlen(factory), "%s %s: v[%d] || null", f ? "," : "",
                ts_field_name(f), f);
    }
    sprintf(reader + strlen(reader),
            "]; for (let i = 0; i < %d; i++) { const x = v[i];"
            " if (x === null || x === undefined) v[i] = '';"
            " else if (typeof x === 'number') v[i] = String(x);"
            " else if (typeof x !== 'string') return [%d, i];"
            " else if (x.includes('\\0')) return [%d, i];"
            " else if (!wellFormed(x)) return [%d, i, x.search(lone)]; }"
            " for (const k of Object.keys(t)) if (!known.has(k)) return [%d, k];"
            " return v.join('\\0'); }; })()", TS_FIELD_COUNT, NOT_STRING, HOLDS_NUL,
            LONE_SURROGATE, UNKNOWN_FIELD);
    strcat(factory, " }; })");
    if ((st = make_function(env, reader, &fns->reader)) != napi_ok)
        return st;
    return make_function(env, factory, &fns->factory);
}

void tsn_token_functions_free(napi_env env, struct token_functions *fns)
{
    if (fns->reader)
        napi_delete_reference(env, fns->reader);
    if (fns->factory)
        napi_delete_reference(env, fns->factory);
    fns->reader = fns->factory = NULL;
}

napi_value tsn_error_to_js(napi_env env, int rc, const ts_error *err)
{
    napi_value code = NULL, msg = NULL, e = NULL;
    char unknown[32];
    const char *name = ts_code_name(rc);

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

