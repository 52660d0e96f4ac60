/*
 * cli/format.c - how the tokenstore command shows tokens: aligned tables,
 * `field: value` lines, and rows that are a table or JSON (json.c) as the
 * user asked.
 *
 * Every value the command prints passes through here, and each through
 * text.c's cli_mask and cli_escape, so the two rules about output live in
 * one place. First, secrets (client_secret and the
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

char *cli_display_value(const ts_token *token, ts_field field, int show_secrets)
{
    const char *value = ts_token_get(token, field);

    if (ts_field_is_secret(field) && !show_secrets)
        return cli_mask(value);
    return strdup(value);
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

static void print_row(const cli_table *t, const char *const *row, const size_t *width,
                      FILE *out)
{
    for (size_t c = 0; c < t->ncols; c++) {
        int last = c + 1 == t->ncols;
        fputs(row[c], out);
        for (size_t pad = cli_char_count(row[c]); !last && pad < width[c] + 2; pad++)
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
        width[c] = cli_char_count(t->headers[c]);
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t w = cli_char_count(t->cells[r * t->ncols + c]);
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
