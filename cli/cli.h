/*
 * cli/cli.h - what the tokenstore command's files share.
 *
 * main.c reads the command line and talks to the store; format.c decides
 * how tokens look (masked secrets, tables, `field: value` lines, JSON). The
 * split keeps every rule about what may be printed in one file, so a
 * secret can only reach the terminal through cli_display_value().
 */
#ifndef TS_CLI_H
#define TS_CLI_H

#include <stddef.h>
#include <stdio.h>
#include <json-c/json.h>
#include <tokenstore/tokenstore.h>
#include "../core/json.h"

/* Exit statuses, documented in `tokenstore --help`. */
enum cli_exit {
    CLI_OK = 0,
    CLI_NOT_FOUND = 1,       /* no token matched */
    CLI_USAGE = 2,           /* bad command line or input the store refuses */
    CLI_STORE = 3,           /* store, backend or config error */
    CLI_CHECKS_FAILED = 4,   /* check-backend: some conformance checks failed */
    CLI_CONFLICT = 5,        /* the save or migration would give one user two
                                rows or overwrite a different token */
    CLI_OAUTH = 6            /* token, revoke: the accounts server refused,
                                failed or did not answer in time */
};

/* ------------------------------------------------------------ values */

/* explicit_bzero(s, strlen(s)) then free(s); NULL is allowed. */
void cli_free_secret(char *s);

/* A secret as it may be shown: the first 4 characters, "…" and the length
 * in characters ("1000…(70)"); "****" for 8 characters or fewer; "" for an
 * absent value. Returns a malloc'd string, or NULL when out of memory. */
char *cli_mask(const char *value);

/* A field's value as output shows it: masked when the field is secret and
 * show_secrets is 0, else a copy. malloc'd (free with cli_free_secret). */
char *cli_display_value(const ts_token *token, ts_field field, int show_secrets);

/* Control characters as \n, \t, \r or \xNN so a stored value cannot
 * break a table or drive the terminal. malloc'd, NULL when out of memory. */
char *cli_escape(const char *text);

/* "2024-05-01T12:00:00Z" for an expiry_time in epoch milliseconds; -1 when
 * ms is not a decimal number a calendar date can be made of. */
int cli_iso8601(const char *ms, char out[32]);

/* ------------------------------------------------------------ tables */

/* Rows of text cells printed in aligned columns under a header line. The
 * table keeps escaped copies of the cells and wipes them when freed. */
typedef struct cli_table cli_table;

cli_table *cli_table_new(size_t ncols, const char *const *headers);
/* Copies ncols cells (NULL or "" prints as "-"); CLI_OK or CLI_STORE
 * when out of memory. */
int cli_table_add(cli_table *table, const char *const *cells);
void cli_table_print(const cli_table *table, FILE *out);
size_t cli_table_rows(const cli_table *table);
void cli_table_free(cli_table *table);

/* The column headers and cells of `tokenstore list`. */
#define CLI_TOKEN_COLUMNS 10
extern const char *const cli_token_headers[CLI_TOKEN_COLUMNS];
int cli_table_add_token(cli_table *table, const ts_token *token, int show_secrets);

/* ------------------------------------------------------------ tokens */

/* The ten fields as `field: value` lines, expiry_time followed by its
 * UTC date. Returns CLI_OK or CLI_STORE when out of memory. */
int cli_print_token(FILE *out, const ts_token *token, int show_secrets);

/* ------------------------------------------------------------ JSON */

/* An object with the ten SDK field names and string values ("" when
 * absent), secrets masked unless show_secrets. NULL when out of memory. */
json_object *cli_token_json(const ts_token *token, int show_secrets);

/* Prints o pretty-printed with a newline, then wipes the printed text. */
void cli_json_print(FILE *out, json_object *o);

/* Fills token from a JSON object with SDK field names (string values;
 * numbers allowed for id and expiry_time; null means absent). On bad input
 * returns CLI_USAGE with a message in why that names the key or the line
 * and column, never a value; CLI_STORE when out of memory. */
int cli_token_from_json(const char *text, ts_token *token, char *why, size_t whylen);

#endif
