/*
 * cli/format.c - how the tokenstore command shows tokens.
 *
 * Every value the command prints passes through here, so the two rules
 * about output live in one place. First, secrets (client_secret and the
 * refresh, access and grant tokens) are masked in every format unless the
 * user asked for --show-secrets: enough of the start to tell two tokens
 * apart, plus the length, and nothing at all of a short value. Second, the
 * text formats escape control characters, because a stored value is data
 * from somewhere else and must not break a table or drive the terminal;
 * JSON output is the exact form.
 *
 * Buffers that may hold a secret (cells, JSON text and strings) are wiped
 * before they are freed. json-c's own buffers are wiped through the
 * pointers it hands out; what its allocator copied while growing them is
 * out of reach, which is the best a JSON library without wipe hooks allows.
 */
#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"

#define MASK_SHOWN_CHARS 4      /* characters of a long secret left visible */
#define MASK_HIDDEN_UPTO 8      /* secrets this short are hidden entirely */

/* The one character of our own that is not ASCII is the mask's ellipsis;
 * a terminal or log that is not UTF-8 gets "..." instead. */
static int ascii_output;

void cli_choose_charset(void)
{
    setlocale(LC_CTYPE, "");
    ascii_output = strcmp(nl_langinfo(CODESET), "UTF-8") != 0;
}

void cli_free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static int is_utf8_continuation(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* Characters in the first len bytes (UTF-8 code points; stray bytes
 * count as one each). */
static size_t char_count_n(const char *s, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len && s[i]; i++)
        n += !is_utf8_continuation((unsigned char)s[i]);
    return n;
}

static size_t char_count(const char *s)
{
    return char_count_n(s, strlen(s));
}

/* Bytes taken by the first nchars characters of s. */
static size_t prefix_bytes(const char *s, size_t nchars)
{
    size_t i = 0;

    while (s[i] && nchars > 0) {
        i++;
        while (s[i] && is_utf8_continuation((unsigned char)s[i]))
            i++;
        nchars--;
    }
    return i;
}

char *cli_mask(const char *value)
{
    size_t chars = char_count(value);
    char *out;

    if (chars == 0)
        return strdup("");
    if (chars <= MASK_HIDDEN_UPTO)
        return strdup("****");
    if (asprintf(&out, "%.*s%s(%zu)", (int)prefix_bytes(value, MASK_SHOWN_CHARS), value,
                 ascii_output ? "..." : "\xE2\x80\xA6", chars) < 0)
        return NULL;
    return out;
}

char *cli_display_value(const ts_token *token, ts_field field, int show_secrets)
{
    const char *value = ts_token_get(token, field);

    if (ts_field_is_secret(field) && !show_secrets)
        return cli_mask(value);
    return strdup(value);
}

char *cli_escape(const char *text)
{
    size_t len = strlen(text);
    char *out = malloc(4 * len + 1), *o = out;   /* \xNN is the longest */

    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '\n')
            o += sprintf(o, "\\n");
        else if (*p == '\t')
            o += sprintf(o, "\\t");
        else if (*p == '\r')
            o += sprintf(o, "\\r");
        else if (*p < 0x20 || *p == 0x7F)
            o += sprintf(o, "\\x%02X", *p);
        else
            *o++ = (char)*p;
    }
    *o = '\0';
    return out;
}

int cli_token_expired(const ts_token *token)
{
    const char *ms = ts_token_get(token, TS_FIELD_EXPIRY_TIME);
    struct timespec now;

    if (!ms[0] || !cli_all_digits(ms) || clock_gettime(CLOCK_REALTIME, &now) != 0)
        return 0;
    errno = 0;
    unsigned long long expiry = strtoull(ms, NULL, 10);
    return errno == 0 &&
           expiry <= (unsigned long long)now.tv_sec * 1000 + (unsigned long long)now.tv_nsec / 1000000;
}

int cli_all_digits(const char *s)
{
    return s[0] && strspn(s, "0123456789") == strlen(s);
}

int cli_iso8601(const char *ms, char out[32])
{
    struct tm tm;
    char *end;

    if (!ms[0] || strspn(ms, "0123456789") != strlen(ms))
        return -1;
    errno = 0;
    unsigned long long value = strtoull(ms, &end, 10);
    time_t seconds = (time_t)(value / 1000);
    if (errno || (unsigned long long)seconds != value / 1000 || !gmtime_r(&seconds, &tm) ||
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return -1;
    return 0;
}

/* ---------------------------------------------------------------- tables */

struct cli_table {
    size_t ncols;
    const char *const *headers;
    char **cells;              /* nrows * ncols escaped strings */
    size_t nrows, cap;
};

cli_table *cli_table_new(size_t ncols, const char *const *headers)
{
    cli_table *t = calloc(1, sizeof *t);

    if (t) {
        t->ncols = ncols;
        t->headers = headers;
    }
    return t;
}

size_t cli_table_rows(const cli_table *t)
{
    return t->nrows;
}

int cli_table_add(cli_table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        char **grown = realloc(t->cells, cap * t->ncols * sizeof *grown);
        if (!grown)
            return CLI_STORE;
        t->cells = grown;
        t->cap = cap;
    }
    char **row = t->cells + t->nrows * t->ncols;
    for (size_t c = 0; c < t->ncols; c++) {
        row[c] = cli_escape(cells[c] && cells[c][0] ? cells[c] : "-");
        if (!row[c]) {
            while (c-- > 0)
                cli_free_secret(row[c]);
            return CLI_STORE;
        }
    }
    t->nrows++;
    return CLI_OK;
}

/* Columns on a terminal: one per character, as the cells are escaped and
 * the one non-ASCII character we add ourselves ("…") is one column wide. */
static size_t display_width(const char *s)
{
    return char_count(s);
}

static void print_row(const cli_table *t, const char *const *row, const size_t *width,
                      FILE *out)
{
    for (size_t c = 0; c < t->ncols; c++) {
        int last = c + 1 == t->ncols;
        fputs(row[c], out);
        for (size_t pad = display_width(row[c]); !last && pad < width[c] + 2; pad++)
            fputc(' ', out);
    }
    fputc('\n', out);
}

void cli_table_print(const cli_table *t, FILE *out, int headers)
{
    size_t *width = calloc(t->ncols, sizeof *width);

    if (!width)
        return;
    for (size_t c = 0; c < t->ncols; c++)
        width[c] = display_width(t->headers[c]);
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t w = display_width(t->cells[r * t->ncols + c]);
            if (w > width[c])
                width[c] = w;
        }
    if (headers)
        print_row(t, t->headers, width, out);
    for (size_t r = 0; r < t->nrows; r++)
        print_row(t, (const char *const *)t->cells + r * t->ncols, width, out);
    free(width);
}

void cli_table_free(cli_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        cli_free_secret(t->cells[i]);
    free(t->cells);
    free(t);
}

const char *const cli_token_headers[CLI_TOKEN_COLUMNS] = {
    "ID", "USER_NAME", "CLIENT_ID", "EXPIRES (UTC)", "EXPIRY_TIME", "API_DOMAIN",
    "CLIENT_SECRET", "REFRESH_TOKEN", "ACCESS_TOKEN", "GRANT_TOKEN",
};

/* The source of each column of cli_token_headers; the expiry date is
 * derived from TS_FIELD_EXPIRY_TIME. */
static const ts_field token_columns[CLI_TOKEN_COLUMNS] = {
    TS_FIELD_ID, TS_FIELD_USER_NAME, TS_FIELD_CLIENT_ID, TS_FIELD_EXPIRY_TIME,
    TS_FIELD_EXPIRY_TIME, TS_FIELD_API_DOMAIN, TS_FIELD_CLIENT_SECRET,
    TS_FIELD_REFRESH_TOKEN, TS_FIELD_ACCESS_TOKEN, TS_FIELD_GRANT_TOKEN,
};
#define EXPIRES_COLUMN 3

int cli_table_add_token(cli_table *t, const ts_token *token, int show_secrets)
{
    char *cells[CLI_TOKEN_COLUMNS] = { 0 };
    char date[32];
    int rc = CLI_OK;

    for (size_t c = 0; c < CLI_TOKEN_COLUMNS && rc == CLI_OK; c++) {
        if (c == EXPIRES_COLUMN) {
            const char *ms = ts_token_get(token, TS_FIELD_EXPIRY_TIME);
            if (!ms[0])
                cells[c] = strdup("");
            else if (cli_iso8601(ms, date) != 0)
                cells[c] = strdup("invalid");
            else if (asprintf(&cells[c], "%s%s", date,
                              cli_token_expired(token) ? " (expired)" : "") < 0)
                cells[c] = NULL;
        } else {
            cells[c] = cli_display_value(token, token_columns[c], show_secrets);
        }
        if (!cells[c])
            rc = CLI_STORE;
    }
    if (rc == CLI_OK)
        rc = cli_table_add(t, (const char *const *)cells);
    for (size_t c = 0; c < CLI_TOKEN_COLUMNS; c++)
        cli_free_secret(cells[c]);
    return rc;
}

/* ---------------------------------------------------------------- fields */

int cli_print_token(FILE *out, const ts_token *token, int show_secrets)
{
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        char *value = cli_display_value(token, (ts_field)f, show_secrets);
        char *shown = value ? cli_escape(value) : NULL;
        char date[32];

        cli_free_secret(value);
        if (!shown)
            return CLI_STORE;
        fprintf(out, "%s: %s", ts_field_name((ts_field)f), shown);
        if (f == TS_FIELD_EXPIRY_TIME && shown[0])
            fprintf(out, " (%s)", cli_iso8601(shown, date) == 0 ? date : "not a time");
        fputc('\n', out);
        cli_free_secret(shown);
    }
    return CLI_OK;
}

/* ---------------------------------------------------------------- JSON */

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

/* json-c hands out its internal buffers as const; they are ours to wipe
 * because we own the object and are about to release it. */
static void wipe_const(const char *s, size_t len)
{
    if (s && len)
        explicit_bzero((char *)(uintptr_t)s, len);
}

void cli_json_print(FILE *out, json_object *o)
{
    const char *text = json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);

    if (!text)
        return;
    fputs(text, out);
    fputc('\n', out);
    wipe_const(text, strlen(text));
}

/* cli_mask's shape: up to MASK_SHOWN_CHARS characters, an ellipsis (or
 * the "..." a terminal or an editor may turn it into), "(N)". */
int cli_looks_masked(const char *value)
{
    static const char *const ellipses[] = { "\xE2\x80\xA6", "..." };
    size_t len = strlen(value);

    if (strcmp(value, "****") == 0)
        return 1;
    if (len < 4 || value[len - 1] != ')')
        return 0;
    for (size_t e = 0; e < sizeof ellipses / sizeof *ellipses; e++) {
        const char *mark = strstr(value, ellipses[e]);
        if (!mark || mark == value)
            continue;
        size_t shown = char_count_n(value, (size_t)(mark - value));
        const char *count = mark + strlen(ellipses[e]);
        if (shown <= MASK_SHOWN_CHARS && count[0] == '(' &&
            strspn(count + 1, "0123456789") == strlen(count + 1) - 1 && count[1] != ')')
            return 1;
    }
    return 0;
}

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

void cli_tokens_free(ts_token **tokens, size_t n)
{
    for (size_t i = 0; tokens && i < n; i++)
        ts_token_free(tokens[i]);
    free(tokens);
}

/* Every element of an array into tokens[], naming the one that is wrong. */
static int tokens_from_array(json_object *array, ts_token **tokens, size_t *n, char *why,
                             size_t whylen)
{
    char where[48];
    int rc = CLI_OK;

    for (size_t i = 0; rc == CLI_OK && i < json_object_array_length(array); i++) {
        snprintf(where, sizeof where, "stdin: token %zu", i + 1);
        rc = token_from_object(json_object_array_get_idx(array, i), where, &tokens[i],
                               why, whylen);
        *n += tokens[i] != NULL;
    }
    return rc;
}

int cli_tokens_from_json(const char *text, ts_token ***tokens, size_t *n, char *why,
                         size_t whylen)
{
    json_object *root;
    int rc = ts__json_parse(text, "stdin", &root, why, whylen);

    *tokens = NULL;
    *n = 0;
    if (rc != TS_OK)
        return rc == TS_ERR_NOMEM ? CLI_STORE : CLI_USAGE;
    int array = json_object_is_type(root, json_type_array);
    size_t count = array ? json_object_array_length(root) : 1;
    if (!(*tokens = calloc(count ? count : 1, sizeof **tokens)))
        rc = CLI_STORE;
    else if (array)
        rc = tokens_from_array(root, *tokens, n, why, whylen);
    else {
        rc = token_from_object(root, "stdin", *tokens, why, whylen);
        *n = **tokens != NULL;
    }
    if (rc == CLI_STORE && !why[0])
        snprintf(why, whylen, "out of memory");
    if (rc != CLI_OK) {
        cli_tokens_free(*tokens, *n);
        *tokens = NULL;
        *n = 0;
    }
    ts__json_release(root);
    return rc;
}
