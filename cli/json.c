/*
 * cli/json.c - tokens as JSON, both ways: the objects list and get
 * print, the objects save reads back, and the one function every
 * JSON document the command prints goes through.
 *
 * Output is exact (every byte of a value survives, a value that is not
 * UTF-8 included) but never holds masked text where a secret would be:
 * such text read back by `save -` would be stored as the secret itself.
 * Input is strict: unknown keys, wrong types, NULs and masked secrets are
 * refused with the token and key named, never a value. Trees are
 * released with ts__json_release, which wipes their strings first.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* ---------------------------------------------------------------- output */

/* The secret fields a masked object leaves out, by name. */
static int add_masked(json_object *masked, ts_field field)
{
    json_object *name = json_object_new_string(ts_field_name(field));

    if (!name || json_object_array_add(masked, name) != 0) {
        ts__json_release(name);
        return -1;
    }
    return 0;
}

/* The length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3
               : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    unsigned long c = len == 1 ? s[0] : s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++)
        c = c << 6 | (s[i] & 0x3F);
    static const unsigned long least[] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (c < least[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    return len;
}

/* json-c writes a string's bytes as they are, so a value that is not
 * UTF-8 would make the output no JSON parser accepts. Such a string is
 * written with each stray byte as \udcXX, Python's "surrogateescape"
 * (json.loads then .encode("utf-8", "surrogateescape") gives the bytes). */
static int write_escaped(json_object *o, struct printbuf *pb, int level, int flags)
{
    const unsigned char *s = (const unsigned char *)json_object_get_string(o);
    size_t n = (size_t)json_object_get_string_len(o);
    char esc[8];

    (void)level, (void)flags;
    printbuf_strappend(pb, "\"");
    for (size_t i = 0; i < n;) {
        size_t len = utf8_sequence(s + i, n - i);
        if (len == 0) {
            snprintf(esc, sizeof esc, "\\udc%02x", s[i]);
            printbuf_memappend(pb, esc, 6);
            i++;
        } else if (s[i] == '"' || s[i] == '\\') {
            printbuf_memappend(pb, "\\", 1);
            printbuf_memappend(pb, (const char *)s + i++, 1);
        } else if (s[i] < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", s[i++]);
            printbuf_memappend(pb, esc, 6);
        } else {
            printbuf_memappend(pb, (const char *)s + i, (int)len);
            i += len;
        }
    }
    printbuf_strappend(pb, "\"");
    return 0;
}

/* A JSON string for a stored value, which may hold any bytes but NUL. */
static json_object *json_value(const char *value)
{
    json_object *o = json_object_new_string(value);
    const unsigned char *s = (const unsigned char *)value;

    for (size_t i = 0, n = strlen(value); o && i < n;) {
        size_t len = utf8_sequence(s + i, n - i);
        if (len == 0) {
            json_object_set_serializer(o, write_escaped, NULL, NULL);
            break;
        }
        i += len;
    }
    return o;
}

/* Masked text in JSON would be read back as the token itself (a pipe into
 * `save -` would store it), so a masked object leaves each secret that has
 * a value out and names it in "masked" instead. */
json_object *cli_token_json(const ts_token *token, int show_secrets)
{
    json_object *o = json_object_new_object();
    json_object *masked = show_secrets ? NULL : json_object_new_array();
    int failed = !o || (!show_secrets && !masked);

    for (int f = 0; !failed && f < TS_FIELD_COUNT; f++) {
        const char *value = ts_token_get(token, (ts_field)f);
        if (!show_secrets && ts_field_is_secret((ts_field)f) && value[0]) {
            failed = add_masked(masked, (ts_field)f) != 0;
            continue;
        }
        json_object *s = json_value(value);
        if (!s || json_object_object_add(o, ts_field_name((ts_field)f), s) != 0) {
            ts__json_release(s);
            failed = 1;
        }
    }
    if (!failed) {
        json_object *expired = json_object_new_boolean(cli_token_expired(token));
        failed = !expired || json_object_object_add(o, "expired", expired) != 0;
        if (failed)
            ts__json_release(expired);
    }
    if (!failed && masked) {
        failed = json_object_object_add(o, "masked", masked) != 0;
        masked = failed ? masked : NULL;
    }
    ts__json_release(masked);
    if (failed) {
        ts__json_release(o);
        return NULL;
    }
    return o;
}

/* json-c hands out the printed text as const; it is ours to wipe because
 * we own the object and are about to release it. */
void cli_json_emit(FILE *out, json_object *o)
{
    const char *text = json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);

    if (text) {
        fputs(text, out);
        fputc('\n', out);
        explicit_bzero((char *)(uintptr_t)text, strlen(text));
    }
    ts__json_release(o);
}

/* ---------------------------------------------------------------- input */

/* "masked": the names of the secrets a masked object left out. Checked,
 * so a typo in a hand-written file is not silently ignored, and dropped. */
static int check_masked_list(json_object *value, const char *where, char *why, size_t whylen)
{
    int ok = json_object_is_type(value, json_type_array);

    for (size_t i = 0; ok && i < json_object_array_length(value); i++) {
        json_object *name = json_object_array_get_idx(value, i);
        ts_field field;
        ok = json_object_is_type(name, json_type_string) &&
             ts_field_from_name(json_object_get_string(name), &field) == TS_OK &&
             ts_field_is_secret(field);
    }
    if (ok)
        return CLI_OK;
    snprintf(why, whylen, "%s: key 'masked': expected an array of the secret fields' names "
             "(client_secret, refresh_token, access_token, grant_token)", where);
    return CLI_USAGE;
}

/* One key of the input object into the token. */
static int set_from_json(ts_token *token, const char *key, json_object *value,
                         const char *where, char *why, size_t whylen)
{
    ts_field field;
    json_type type = json_object_get_type(value);

    if (strcmp(key, "masked") == 0)
        return check_masked_list(value, where, why, whylen);
    if (strcmp(key, "expired") == 0) {   /* list's and get's output: derived, dropped */
        if (type == json_type_boolean)
            return CLI_OK;
        snprintf(why, whylen, "%s: key 'expired': expected true or false", where);
        return CLI_USAGE;
    }
    if (ts_field_from_name(key, &field) != TS_OK) {
        char *shown = cli_escape(key);
        snprintf(why, whylen, "%s: unknown key '%.64s' (expected id, user_name, "
                 "client_id, client_secret, refresh_token, access_token, grant_token, "
                 "expiry_time, redirect_url, api_domain)", where, shown ? shown : "?");
        free(shown);
        return CLI_USAGE;
    }
    int numeric_ok = field == TS_FIELD_ID || field == TS_FIELD_EXPIRY_TIME;
    if (type == json_type_null)
        return ts_token_set(token, field, NULL) == TS_OK ? CLI_OK : CLI_STORE;
    /* json-c keeps an integer past 2^64 - 1 as that maximum: refuse every
     * one past INT64_MAX rather than name a number the input never said. */
    if (type == json_type_int && numeric_ok && json_object_get_uint64(value) > INT64_MAX) {
        snprintf(why, whylen, "%s: key '%s': the number is larger than 9223372036854775807",
                 where, key);
        return CLI_USAGE;
    }
    if (type == json_type_int && numeric_ok && json_object_get_int64(value) >= 0)
        return ts_token_set(token, field, json_object_get_string(value)) == TS_OK ? CLI_OK
                                                                             : CLI_STORE;
    if (type != json_type_string) {
        snprintf(why, whylen, "%s: key '%s': expected a string%s, got %s", where, key,
                 numeric_ok ? " or a whole number" : "", json_type_to_name(type));
        return CLI_USAGE;
    }
    const char *text = json_object_get_string(value);
    if (strlen(text) != (size_t)json_object_get_string_len(value)) {
        snprintf(why, whylen, "%s: key '%s': the value contains a NUL character", where, key);
        return CLI_USAGE;
    }
    if (ts_field_is_secret(field) && cli_looks_masked(text)) {
        snprintf(why, whylen, "%s: key '%s': the value is masked output, not the secret "
                 "(export with --show-secrets, or leave the key out to keep the stored "
                 "value)", where, key);
        return CLI_USAGE;
    }
    return ts_token_set(token, field, text) == TS_OK ? CLI_OK : CLI_STORE;
}

/* One object of the input into a new token. */
static int token_from_object(json_object *o, const char *where, ts_token **out, char *why,
                             size_t whylen)
{
    int rc = CLI_OK;

    if (!json_object_is_type(o, json_type_object)) {
        snprintf(why, whylen, "%s: expected a JSON object with the token's fields, got %s",
                 where, json_type_to_name(json_object_get_type(o)));
        return CLI_USAGE;
    }
    if (!(*out = ts_token_new()))
        return CLI_STORE;
    json_object_object_foreach(o, key, value) {
        rc = set_from_json(*out, key, value, where, why, whylen);
        if (rc != CLI_OK)
            break;
    }
    return rc;
}

int cli_token_from_json_text(const char *text, const char *where, ts_token **out, char *why,
                             size_t whylen)
{
    json_object *o;
    int rc = ts__json_parse(text, "stdin", &o, why, whylen);

    *out = NULL;
    if (rc != TS_OK)
        return rc == TS_ERR_NOMEM ? CLI_STORE : CLI_USAGE;
    rc = token_from_object(o, where, out, why, whylen);
    ts__json_release(o);
    if (rc != CLI_OK) {
        ts_token_free(*out);
        *out = NULL;
    }
    return rc;
}

void cli_tokens_free(ts_token **tokens, size_t n)
{
    for (size_t i = 0; tokens && i < n; i++)
        ts_token_free(tokens[i]);
    free(tokens);
}
