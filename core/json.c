/*
 * core/json.c - strict JSON parsing that says where the text went wrong,
 * and releasing a parsed tree without leaving its strings (client secrets,
 * passwords, tokens) in freed memory.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <tokenstore/types.h>
#include "json.h"

/* Line and column (1-based) of byte offset `off` in text. */
static void line_col(const char *text, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && text[i]; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

int ts__json_parse(const char *text, const char *origin, json_object **out, char *why,
                   size_t whylen)
{
    json_tokener *tok = json_tokener_new();
    size_t len = strlen(text);

    *out = NULL;
    if (!tok) {
        snprintf(why, whylen, "out of memory");
        return TS_ERR_NOMEM;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    /* The terminating NUL included, so a value at the very end (a number)
     * is complete rather than "to be continued". */
    json_object *root = json_tokener_parse_ex(tok, text, (int)len + 1);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    const char *problem = json_tokener_error_desc(jerr);

    if (root && end < len && text[end + strspn(text + end, " \t\r\n")] != '\0') {
        ts__json_release(root);
        root = NULL;
        end += strspn(text + end, " \t\r\n");
        problem = "unexpected text after the JSON value";
    } else if (!root && (jerr == json_tokener_continue || jerr == json_tokener_error_parse_eof)) {
        end = len;
        problem = "unexpected end of file";
    }
    json_tokener_free(tok);
    if (!root) {
        int line, col;
        line_col(text, end, &line, &col);
        snprintf(why, whylen, "%s:%d:%d: invalid JSON: %s", origin, line, col, problem);
        return TS_ERR_CONFIG;
    }
    *out = root;
    return TS_OK;
}

/* json-c hands out its string buffers as const; they are ours to wipe
 * because we own the tree and are about to release it. */
static void wipe_strings(json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_string: {
        size_t len = (size_t)json_object_get_string_len(o);
        if (len)
            explicit_bzero((char *)(uintptr_t)json_object_get_string(o), len);
        break;
    }
    case json_type_object: {
        json_object_object_foreach(o, key, value) {
            (void)key;
            wipe_strings(value);
        }
        break;
    }
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(o); i++)
            wipe_strings(json_object_array_get_idx(o, i));
        break;
    default:
        break;
    }
}

void ts__json_release(json_object *o)
{
    if (o) {
        wipe_strings(o);
        json_object_put(o);
    }
}
