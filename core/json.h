/*
 * core/json.h - reading JSON text, strict parsing that says where the text
 * went wrong, and releasing a tree without leaving secrets behind.
 *
 * The interface of libtsjson, the internal convenience library that both
 * libtokenstore (core/config.c) and the tokenstore command link: it is
 * built once and installed nowhere, and its symbols stay hidden inside
 * libtokenstore.so.
 */
#ifndef TOKENSTORE_JSON_H
#define TOKENSTORE_JSON_H

#include <stddef.h>
#include <json-c/json.h>

/* Reads all that fd holds into one malloc'd, NUL-terminated buffer, *len
 * bytes before the NUL. The text may be a config with client secrets or
 * tokens, so no copy is left behind: no stdio buffer, and a buffer it
 * outgrows is copied to a larger one and wiped (a regular file is read
 * into one sized from fstat()). max is the most bytes accepted, 0 for no
 * limit. Returns 0, or an errno: EISDIR for a directory, EFBIG for more
 * than max bytes, ENOMEM, or read()'s. A NUL byte in the text is the
 * caller's to refuse (strlen(*text) != *len). */
int ts__json_read(int fd, size_t max, char **text, size_t *len);

/* Parses text as exactly one JSON value into *out. TS_OK, or TS_ERR_NOMEM
 * or TS_ERR_CONFIG with what went wrong in why ("ORIGIN:LINE:COL: invalid
 * JSON: ..." for the latter). */
int ts__json_parse(const char *text, const char *origin, json_object **out, char *why,
                   size_t whylen);

/* Wipes every string in the tree and releases it (json_object_put). */
void ts__json_release(json_object *o);

#endif
