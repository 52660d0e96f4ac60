/*
 * cli/cli.h - what the tokenstore command's files share.
 *
 * main.c reads the command line and talks to the store; format.c decides
 * how tokens look (masked secrets, tables, `field: value` lines, JSON). The
 * split keeps every rule about what may be printed in one file, so a
 * secret can only reach the terminal through cli_display_value().
 * migrate.c and check.c hold the two commands that are more than a call
 * into the library: a migration's plan, and where the conformance suite
 * may run.
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

/* ------------------------------------------------------------ main.c */

/* The exit status for a library result code. */
int cli_exit_status(int code);

/* Prints the library's message (it names the file, key or backend) and
 * returns cli_exit_status(code). */
int cli_store_error(int code, const ts_error *err);

/* Says "out of memory" and returns CLI_STORE. */
int cli_out_of_memory(void);

/* A ts_get_tokens callback that counts: userdata is a size_t. */
int cli_count_token(const ts_token *token, void *userdata);

/* Sets each "key=value" of options (-o) on cfg. */
int cli_apply_options(ts_config *cfg, char *const *options, size_t n, ts_error *err);

/* --quiet: errors only; -v: the library's and the OAuth client's steps
 * too (never secrets); else the library's default (warnings). */
void cli_set_logger(ts_config *cfg, int quiet, int verbose);

/* "sqlite store /tmp/tokens.db": how messages name a store. store may be
 * NULL (one not opened): the config's backend names it then. */
void cli_describe_store(ts_store *store, const ts_config *cfg, char *out, size_t size);

/* ------------------------------------------------------------ migrate.c */

struct cli_migration {
    ts_store *source;
    ts_store *target;        /* NULL in a dry run into a store not there yet */
    const char *from, *to;   /* the stores, for messages */
    int quiet;
    int dry_run;             /* print the plan, write nothing */
    int overwrite;           /* replace target tokens that expire later */
};

/* Copies every token of source to target keeping ids (see migrate.c);
 * returns an exit status. */
int cli_migrate(const struct cli_migration *migration);

/* ------------------------------------------------------------ check.c */

struct cli_check {
    const char *backend;     /* a backend name, a .so path, or a URI */
    int is_uri;
    char *const *options;    /* -o "key=value" */
    size_t noptions;
    int named;               /* a URI, or a path or prefix option: the
                                user's store, not a scratch one */
    int force;               /* run on a named store that holds tokens */
    int quiet, verbose;
};

/* Runs the conformance suite (TAP on stdout) on a scratch store, or on
 * the named store when it is empty or force is set; returns an exit
 * status. */
int cli_check_backend(const struct cli_check *check);

/* ------------------------------------------------------------ values */

/* Non-zero when s is one or more decimal digits and nothing else. */
int cli_all_digits(const char *s);

/* explicit_bzero(s, strlen(s)) then free(s); NULL is allowed. */
void cli_free_secret(char *s);

/* Reads the locale's character set (LC_CTYPE): output that is not UTF-8
 * gets ASCII only. Called once, before anything is printed. */
void cli_choose_charset(void);

/* A secret as it may be shown: the first 4 characters, an ellipsis ("..."
 * outside a UTF-8 locale) and the length in characters ("1000…(70)");
 * "****" for 8 characters or fewer; "" for an absent value. Returns a
 * malloc'd string, or NULL when out of memory. */
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

/* Non-zero when the token's expiry_time is a time that has passed. */
int cli_token_expired(const ts_token *token);

/* ------------------------------------------------------------ tables */

/* Rows of text cells printed in aligned columns under a header line. The
 * table keeps escaped copies of the cells and wipes them when freed. */
typedef struct cli_table cli_table;

cli_table *cli_table_new(size_t ncols, const char *const *headers);
/* Copies ncols cells (NULL or "" prints as "-"); CLI_OK or CLI_STORE
 * when out of memory. */
int cli_table_add(cli_table *table, const char *const *cells);
/* headers 0 leaves out the header line (--no-headers, for scripts). */
void cli_table_print(const cli_table *table, FILE *out, int headers);
size_t cli_table_rows(const cli_table *table);
void cli_table_free(cli_table *table);

/* The column headers and cells of `tokenstore list`; the date of an
 * expired token is marked "(expired)". */
#define CLI_TOKEN_COLUMNS 10
extern const char *const cli_token_headers[CLI_TOKEN_COLUMNS];
int cli_table_add_token(cli_table *table, const ts_token *token, int show_secrets);

/* ------------------------------------------------------------ tokens */

/* The ten fields as `field: value` lines, expiry_time followed by its
 * UTC date. Returns CLI_OK or CLI_STORE when out of memory. */
int cli_print_token(FILE *out, const ts_token *token, int show_secrets);

/* ------------------------------------------------------------ JSON */

/* An object with the SDK field names and string values ("" when absent).
 * Unless show_secrets, each secret that has a value is left out and named
 * in "masked": ["refresh_token", ...], so the object never holds text that
 * could be mistaken for the secret. NULL when out of memory. */
json_object *cli_token_json(const ts_token *token, int show_secrets);

/* Prints o pretty-printed with a newline, then wipes the printed text. */
void cli_json_print(FILE *out, json_object *o);

/* Whether a value has the shape of a masked secret ("1000…(70)", also
 * with "..." for the ellipsis, or "****"): masked output read back. */
int cli_looks_masked(const char *value);

/* Tokens from JSON text (stdin): one object with SDK field names, or an
 * array of them (what `list --json --show-secrets` prints). Values are
 * strings (numbers allowed for id and expiry_time; null means absent); a
 * "masked" key (get --json's list of left-out secrets) is accepted and
 * ignored; a secret with a masked value is refused. On success *tokens is
 * a malloc'd array of *n tokens (free with cli_tokens_free). On bad input
 * returns CLI_USAGE with a message in why that names the token, the key or
 * the line and column, never a value; CLI_STORE when out of memory. */
int cli_tokens_from_json(const char *text, ts_token ***tokens, size_t *n, char *why,
                         size_t whylen);
void cli_tokens_free(ts_token **tokens, size_t n);

#endif
