/*
 * cli/cli.h - what the tokenstore command's files share.
 *
 * main.c holds the one table of commands and dispatches through it;
 * options.c reads the command line into a struct cli; store.c loads the
 * config and opens the store it names. Each cmd_*.c holds one family of
 * commands, their help text beside their code: cmd_tokens.c (list, get,
 * save, delete, clear), cmd_migrate.c, cmd_rotate.c (rotate-secret),
 * cmd_oauth.c (token, revoke), cmd_refreshes.c, cmd_status.c,
 * cmd_keys.c (keygen, rekey), cmd_doctor.c (with doctor_store.c and
 * doctor_net.c, doctor.h between them) and cmd_backends.c (backends,
 * check-backend; check.c decides where
 * the conformance suite of conformance.c may run; schemes.c lists the URI
 * schemes). text.c holds how one value is read or shown (masked, escaped,
 * a duration, a date), below every other file; format.c decides how
 * tokens look (masked secrets, tables, `field: value` lines) and json.c
 * how they look as JSON, so a secret can only reach the terminal through
 * cli_display_value() or cli_token_json().
 *
 * The command uses the library's public API only, and libtsjson (the
 * convenience library the library links too) for reading and releasing
 * JSON: the core's private headers are not on its include path.
 */
#ifndef TS_CLI_H
#define TS_CLI_H

#include <stddef.h>
#include <stdint.h>
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

/* doctor's exit statuses, by the worst finding (the convention of
 * monitoring plugins): 0 none, 1 warnings, 2 errors. */
enum cli_doctor_exit { DOCTOR_OK = 0, DOCTOR_WARNINGS = 1, DOCTOR_ERRORS = 2 };

/* Options, in one numbering for the parser and the commands' masks. The
 * field options follow the order of ts_field so OPT_ID + field is the
 * option for a field. */
enum cli_option {
    OPT_CONFIG, OPT_STORE, OPT_OPTION, OPT_QUIET, OPT_SHOW_SECRETS, OPT_VERSION,
    OPT_HELP, OPT_JSON, OPT_YES,
    OPT_ID, OPT_USER, OPT_CLIENT_ID, OPT_CLIENT_SECRET, OPT_REFRESH_TOKEN,
    OPT_ACCESS_TOKEN, OPT_GRANT_TOKEN, OPT_EXPIRY_TIME, OPT_REDIRECT_URL, OPT_API_DOMAIN,
    OPT_TO, OPT_ACCOUNTS_URL, OPT_OAUTH, OPT_VERBOSE, OPT_FORCE, OPT_DRY_RUN, OPT_OVERWRITE,
    OPT_NO_HEADERS, OPT_DIFFERENTIAL, OPT_SEED, OPT_SINCE, OPT_EXPIRING_WITHIN, OPT_EXPIRED,
    OPT_SORT, OPT_USER_LIKE, OPT_READ_ONLY, OPT_SCHEMES, OPT_COUNT
};
_Static_assert(OPT_COUNT <= 64, "option masks are 64 bits");
_Static_assert(OPT_API_DOMAIN - OPT_ID == TS_FIELD_API_DOMAIN, "field options follow ts_field");

#define BIT(o) (UINT64_C(1) << (o))
#define OPTS_GLOBAL (BIT(OPT_CONFIG) | BIT(OPT_STORE) | BIT(OPT_OPTION) | BIT(OPT_QUIET) | \
                     BIT(OPT_VERBOSE) | BIT(OPT_SHOW_SECRETS) | BIT(OPT_VERSION) | BIT(OPT_HELP))
#define OPTS_KEYS (BIT(OPT_ID) | BIT(OPT_USER) | BIT(OPT_CLIENT_ID) | BIT(OPT_CLIENT_SECRET) | \
                   BIT(OPT_REFRESH_TOKEN) | BIT(OPT_ACCESS_TOKEN) | BIT(OPT_GRANT_TOKEN))
#define OPTS_FIELDS (OPTS_KEYS | BIT(OPT_EXPIRY_TIME) | BIT(OPT_REDIRECT_URL) | \
                     BIT(OPT_API_DOMAIN))
#define OPTS_OAUTH (BIT(OPT_ACCOUNTS_URL) | BIT(OPT_OAUTH))

/* The command line, parsed (options.c). Option values are copies, and
 * secrets among them were wiped in argv. */
struct cli {
    const struct cli_command *command;
    char *args[2];                /* the command's own arguments (copies) */
    int nargs;
    uint64_t given;               /* BIT(option) for each option seen */
    char *config_path, *store_uri;
    char **options;               /* -o "key=value" */
    size_t noptions;
    char **oauth;                 /* -O "key=value" */
    size_t noauth;
    char *to, *accounts_url;      /* migrate --to, --accounts-url */
    char *field[TS_FIELD_COUNT];  /* --id, --user, ... */
    int quiet, verbose, show_secrets, json, yes, force, dry_run, overwrite, no_headers;
    int secret_from_stdin;        /* a secret option was given as "-" */
    unsigned differential;        /* check-backend --differential N (0: the default) */
    uint64_t seed;                /* check-backend --seed S (0: the default) */
    char *since;                  /* refreshes --since */
    int64_t expiring_within_ms;   /* list --expiring-within (0: not given) */
    int expired, read_only, schemes;
    int sort;                     /* list --sort: a cli_sort */
    char *user_like;              /* list --user-like GLOB */
};

/* list --sort: the store's order (ascending id), user_name, expiry_time. */
enum cli_sort { CLI_SORT_ID, CLI_SORT_USER, CLI_SORT_EXPIRY };

/* A command: each cmd_*.c defines its commands' rows, main.c lists them
 * in the one table it dispatches through. */
struct cli_command {
    const char *name;
    int (*run)(struct cli *cli);
    uint64_t options;             /* the options it accepts */
    int min_args, max_args;
    const char *synopsis;
    const char *summary;
    const char *help;
};

/* ------------------------------------------------------------ main.c */

/* Every command, in the order --help lists them; NULL-terminated. */
extern const struct cli_command *const cli_commands[];

/* The rows of the command table, defined next to each command's code. */
extern const struct cli_command cli_cmd_list, cli_cmd_get, cli_cmd_save, cli_cmd_delete,
    cli_cmd_clear, cli_cmd_migrate, cli_cmd_token, cli_cmd_revoke, cli_cmd_status,
    cli_cmd_backends, cli_cmd_check_backend, cli_cmd_refreshes, cli_cmd_rotate_secret,
    cli_cmd_doctor;

/* ------------------------------------------------------------ cmd_refreshes.c */

/* status's OAuth part: the settings in force and the refresh log's counts,
 * into json (an object) or as lines on out (either may be NULL). */
int cli_oauth_status(ts_store *store, const ts_config *cfg, json_object *json, FILE *out);

/* ------------------------------------------------------------ cmd_keys.c */

extern const struct cli_command cli_cmd_keygen, cli_cmd_rekey;

/* status's encryption part: the encrypt section and the key ids the
 * store's values are sealed with, into json (an object) or as lines on
 * out (either may be NULL; store NULL when it was not opened). */
int cli_encrypt_status(ts_store *store, const ts_config *cfg, json_object *json, FILE *out);

/* ------------------------------------------------------------ options.c */

/* Reads argv into cli (which starts zeroed), the command named among the
 * NULL-terminated `table` (main.c's cli_commands, which cli_find_command
 * then searches too); CLI_OK or an exit status after a message. Secret
 * values are wiped in argv. */
int cli_parse(struct cli *cli, const struct cli_command *const *table, int argc, char *argv[]);

/* Wipes and frees what cli_parse copied. */
void cli_free(struct cli *cli);

/* "tokenstore: MESSAGE" and where to find help (the command's own, once
 * the command is known); returns CLI_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "--user" for OPT_USER; "-o" and "-O" for the two known by short names. */
const char *cli_option_name(int opt);

/* The command called name in cli_parse's table, or NULL. */
const struct cli_command *cli_find_command(const char *name);

/* The candidate nearest word, when near enough to be a slip of the
 * keyboard (and not word itself), else NULL: "did you mean". */
const char *cli_nearest_word(const char *word, const char *const *candidates, size_t n);

/* "unknown command", with the nearest command's name when one is near;
 * returns CLI_USAGE. */
int cli_unknown_command(const char *word);

/* ------------------------------------------------------------ store.c */

/* The exit status for a library result code. */
int cli_exit_status(int code);

/* Prints the library's message (it names the file, key or backend) and
 * returns cli_exit_status(code). */
int cli_store_error(int code, const ts_error *err);

/* A ts_get_tokens callback that counts: userdata is a size_t. */
int cli_count_token(const ts_token *token, void *userdata);

/* Sets each "key=value" of options (-o) on cfg. */
int cli_apply_options(ts_config *cfg, char *const *options, size_t n, ts_error *err);

/* --quiet: errors only; -v: the library's and the OAuth client's steps
 * too (never secrets); else the library's default (warnings). */
void cli_set_logger(ts_config *cfg, int quiet, int verbose);

/* The same for what the library says outside a store (loading a config),
 * as "tokenstore: MESSAGE" on stderr. */
void cli_set_default_logger(int quiet, int verbose);

/* All of fd (standard input: a config or tokens), NUL-terminated, with no
 * copy left behind (ts__json_read). NULL with errno set on a read error,
 * errno 0 for over 1 MiB, a NUL byte or no memory. cli_free_secret it. */
char *cli_read_all(int fd);

/* The config --config or --store names (else the lookup chain), with its
 * oauth section checked and -o, --quiet and --verbose applied. CLI_OK or
 * an exit status after a message. */
int cli_load_config(const struct cli *cli, ts_config **cfg);

/* The same, saying nothing: a library code, with the reason in err. */
int cli_try_load_config(const struct cli *cli, ts_config **cfg, ts_error *err);

/* After a store failed to open with `code`: when the backend was not
 * found, "did you mean 'sqlite:'?" on stderr, naming the nearest URI
 * scheme (a URI) or backend (a config) found. */
void cli_suggest_backend(const ts_config *cfg, int code);

/* Opens the chosen store with TS_OPEN_* flags (reading commands never
 * create or change a store); *cfg (may be NULL) receives its config. */
int cli_open_store(const struct cli *cli, unsigned flags, ts_store **store, ts_config **cfg);

/* "sqlite store /tmp/tokens.db": how messages name a store. store may be
 * NULL (one not opened): the config's backend names it then. */
void cli_describe_store(ts_store *store, const ts_config *cfg, char *out, size_t size);

/* ------------------------------------------------------------ schemes.c */

/* The names of the backends found, and with `aliases` the other URI
 * schemes that open one of them (rediss, redis-sentinel, unix, ...), in
 * a NULL-terminated malloc'd array (cli_strings_free it), or NULL. */
char **cli_uri_schemes(const ts_config *cfg, int aliases, size_t *n);
void cli_strings_free(char **strings);

/* "'sqlite:'" (the config is a URI) or "backend 'sqlite'": the scheme or
 * backend found nearest the config's backend name, when it names none
 * found; 0, else -1. */
int cli_backend_guess(const ts_config *cfg, char *out, size_t size);

/* ------------------------------------------------------------ cmd_tokens.c */

/* Whether the option for field was given a value that is not "". */
int cli_has(const struct cli *cli, ts_field field);

/* Sets every field given as an option on token; CLI_OK or CLI_STORE. */
int cli_token_from_flags(const struct cli *cli, ts_token *token);

/* "no token with id N" and the like on stderr, naming the keys given
 * (never a secret); nothing with --quiet. */
void cli_report_no_match(const struct cli *cli);

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
    unsigned differential;   /* sequences for the differential check (0: default) */
    uint64_t seed;           /* its first seed (0: default) */
};

/* Runs the conformance suite (TAP on stdout) on a scratch store, or on
 * the named store when it is empty or force is set; returns an exit
 * status. */
int cli_check_backend(const struct cli_check *check);

/* ------------------------------------------------------------ text.c */

/* Says "out of memory" and returns CLI_STORE. */
int cli_out_of_memory(void);

/* Non-zero when s is one or more decimal digits and nothing else. */
int cli_all_digits(const char *s);

/* "30s", "10m", "2h", "1d" in milliseconds: 0, or -1 for anything else
 * (a number without its unit among them). */
int cli_parse_duration(const char *arg, int64_t *ms);

/* The time now in milliseconds since 1970. */
int64_t cli_now_ms(void);

/* A token's expiry_time as a number: 0 with *ms set, -1 when it has none
 * or it is not a number (a stored value past INT64_MAX is INT64_MAX). */
int cli_token_expiry(const ts_token *token, int64_t *ms);

/* Characters in s (UTF-8 code points; a stray byte counts as one): its
 * width on a terminal, as cells are escaped and the one non-ASCII
 * character we add ourselves ("…") is one column wide. */
size_t cli_char_count(const char *s);

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

/* What list and backends print: a JSON array with --json, else a table.
 * Exactly one of the two is set. */
typedef struct cli_rows {
    cli_table *table;
    json_object *array;
} cli_rows;

/* CLI_OK, or CLI_STORE after "out of memory". */
int cli_rows_init(cli_rows *rows, int json, size_t ncols, const char *const *headers);
/* Prints the rows (headers 0: no header line); the array is released. */
void cli_rows_print(cli_rows *rows, FILE *out, int headers);
void cli_rows_free(cli_rows *rows);

/* ------------------------------------------------------------ tokens */

/* The ten fields as `field: value` lines, expiry_time followed by its
 * UTC date. Returns CLI_OK or CLI_STORE when out of memory. */
int cli_print_token(FILE *out, const ts_token *token, int show_secrets);

/* ------------------------------------------------------------ json.c */

/* An object with the SDK field names and string values ("" when absent).
 * Unless show_secrets, each secret that has a value is left out and named
 * in "masked": ["refresh_token", ...], so the object never holds text that
 * could be mistaken for the secret. NULL when out of memory. */
json_object *cli_token_json(const ts_token *token, int show_secrets);

/* Prints o pretty-printed with a newline and releases it, wiping the
 * printed text and every string of the tree: each JSON document the
 * command prints goes through here. */
void cli_json_emit(FILE *out, json_object *o);

/* Whether a value has the shape of a masked secret ("1000…(70)", also
 * with "..." for the ellipsis, or "****"): masked output read back. */
int cli_looks_masked(const char *value);

/* A token from the text of one JSON object with SDK field names. Values
 * are strings (numbers allowed for id and expiry_time; null means absent);
 * a "masked" key (get --json's list of left-out secrets) is accepted and
 * ignored; a secret with a masked value is refused. On bad input returns
 * CLI_USAGE with a message in why that names `where`, the key or the line
 * and column, never a value; CLI_STORE when out of memory. */
int cli_token_from_json_text(const char *text, const char *where, ts_token **out, char *why,
                             size_t whylen);

/* ------------------------------------------------------------ stream.c */

/* save -'s input: one JSON object, or an array of them (what
 * `list --json --show-secrets` prints) of any length, read one token at a
 * time from fd. */
typedef struct cli_token_stream cli_token_stream;
cli_token_stream *cli_token_stream_new(int fd);
void cli_token_stream_free(cli_token_stream *stream);
/* The next token (the stream's, valid until the next call): CLI_OK,
 * CLI_NOT_FOUND after the last, or CLI_USAGE/CLI_STORE with the reason in
 * cli_token_stream_error() ("stdin: token 2: key ...", "stdin:3:7: ..."). */
int cli_token_stream_next(cli_token_stream *stream, ts_token **token);
const char *cli_token_stream_error(const cli_token_stream *stream);
void cli_tokens_free(ts_token **tokens, size_t n);

#endif
