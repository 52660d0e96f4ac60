/*
 * bindings/node/values.h - JS values to and from the library's: tokens,
 * strings, errors; values.c holds them. The bottom layer of the addon:
 * every other file uses it, and it uses none of them.
 */
#ifndef TS_NODE_VALUES_H
#define TS_NODE_VALUES_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <tokenstore/tokenstore.h>

/* Throws a JS error with the given code name unless one is pending. */
napi_value tsn_throw_error(napi_env env, const char *code, const char *msg);
/* Throws "WHAT[.FIELD] PROBLEM" (TS_ERR_INVALID). */
void tsn_throw_arg(napi_env env, const char *what, const char *field, const char *problem);
/* A JS string as a new C string, or NULL with an exception thrown. */
char *tsn_string_arg(napi_env env, napi_value v, const char *what);
/* The two JS functions tokens cross through, compiled at load. Each
 * environment (the main thread, each Worker) has its own: the caller keeps
 * them, in its environment's state. */
struct token_functions {
    napi_ref reader, factory;
};
/* Compiles them into *fns; at load. */
napi_status tsn_token_functions_new(napi_env env, struct token_functions *fns);
/* Lets them go (references not made are NULL). */
void tsn_token_functions_free(napi_env env, struct token_functions *fns);
/* A plain object with the ten field names into a new token, or NULL with
 * an exception thrown. fns: the environment's token functions. */
ts_token *tsn_token_from_js(napi_env env, const struct token_functions *fns, napi_value obj,
                            const char *what);
/* The token as a plain object; absent fields are null. */
napi_value tsn_token_to_js(napi_env env, const struct token_functions *fns, const ts_token *tok);
/* An Error whose code is the ts_code's name and whose message is err's. */
napi_value tsn_error_to_js(napi_env env, int rc, const ts_error *err);

#endif
