/*
 * core/json.h - strict JSON parsing that says where the text went wrong,
 * and releasing a tree without leaving secrets behind. Used by
 * core/config.c and compiled into the CLI as well.
 */
#ifndef TOKENSTORE_JSON_H
#define TOKENSTORE_JSON_H

#include <stddef.h>
#include <json-c/json.h>

/* Parses text as exactly one JSON value into *out. TS_OK, or TS_ERR_NOMEM
 * or TS_ERR_CONFIG with what went wrong in why ("ORIGIN:LINE:COL: invalid
 * JSON: ..." for the latter). */
int ts__json_parse(const char *text, const char *origin, json_object **out, char *why,
                   size_t whylen);

/* Wipes every string in the tree and releases it (json_object_put). */
void ts__json_release(json_object *o);

#endif
