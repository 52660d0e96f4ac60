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
 * JSON output (json.c) is the exact form, secrets left out unless shown.
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

int64_t cli_now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int cli_token_expiry(const ts_token *token, int64_t *ms)
{
    const char *text = ts_token_get(token, TS_FIELD_EXPIRY_TIME);

    if (!cli_all_digits(text))
        return -1;
    errno = 0;
    unsigned long long value = strtoull(text, NULL, 10);
    *ms = errno || value > INT64_MAX ? INT64_MAX : (int64_t)value;
    return 0;
}

int cli_token_expired(const ts_token *token)
{
    int64_t expiry;

    return cli_token_expiry(token, &expiry) == 0 && expiry <= cli_now_ms();
}

int cli_parse_duration(const char *arg, int64_t *ms)
{
    static const struct { char unit; int64_t ms; } units[] = {
        { 's', 1000 }, { 'm', 60000 }, { 'h', 3600000 }, { 'd', 86400000 },
    };
    size_t digits = strspn(arg, "0123456789");

    if (digits == 0 || digits > 12 || arg[digits + (arg[digits] != '\0')] != '\0')
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (arg[digits] == units[i].unit) {
            *ms = strtoll(arg, NULL, 10) * units[i].ms;
            return 0;
        }
    return -1;
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

int cli_rows_init(cli_rows *rows, int json, size_t ncols, const char *const *headers)
{
    *rows = (cli_rows){ 0 };
    if (json)
        rows->array = json_object_new_array();
    else
        rows->table = cli_table_new(ncols, headers);
    return rows->array || rows->table ? CLI_OK : cli_out_of_memory();
}

void cli_rows_print(cli_rows *rows, FILE *out, int headers)
{
    if (rows->array)
        cli_json_emit(out, rows->array);
    else
        cli_table_print(rows->table, out, headers);
    rows->array = NULL;
}

void cli_rows_free(cli_rows *rows)
{
    ts__json_release(rows->array);
    cli_table_free(rows->table);
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
            fprintf(out, " (%s)%s", cli_iso8601(shown, date) == 0 ? date : "not a time",
                    cli_token_expired(token) ? " (expired)" : "");
        fputc('\n', out);
        cli_free_secret(shown);
    }
    return CLI_OK;
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
