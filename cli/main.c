/*
 * cli/main.c - the tokenstore command: inspect, edit and check token
 * stores from a shell.
 *
 * Shaped like git's and curl's small tools: a table of commands, one
 * function per command, and one table of options. The command line is read
 * in a single getopt_long pass in "return in order" mode, so options may
 * come before or after the command (`tokenstore --store memory: list` and
 * `tokenstore list --store memory:` are the same), and then each command's
 * row in the table says which options it accepts; anything else is a usage
 * error that names the option.
 *
 * Secrets given as flags are copied out of argv and wiped there at once,
 * which shortens the time they are readable in /proc/PID/cmdline; the
 * copies are wiped before they are freed. Error messages name options,
 * keys, ids and user names, never a secret's value. Output that is data
 * (tables, tokens, JSON, ids, TAP) goes to stdout; everything else,
 * prompts included, goes to stderr.
 */
#include "config.h"
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <tokenstore/backend.h>   /* TS_ABI_MAJOR/MINOR for --version */
#include "cli.h"
#include "conformance.h"

#define MAX_STDIN_BYTES (1024 * 1024)

/* Options, in one numbering for the parser and the commands' masks. The
 * field options follow the order of ts_field so OPT_ID + field is the
 * option for a field. */
enum option_id {
    OPT_CONFIG, OPT_STORE, OPT_OPTION, OPT_QUIET, OPT_SHOW_SECRETS, OPT_VERSION,
    OPT_HELP, OPT_JSON, OPT_YES,
    OPT_ID, OPT_USER, OPT_CLIENT_ID, OPT_CLIENT_SECRET, OPT_REFRESH_TOKEN,
    OPT_ACCESS_TOKEN, OPT_GRANT_TOKEN, OPT_EXPIRY_TIME, OPT_REDIRECT_URL, OPT_API_DOMAIN,
    OPT_COUNT
};
_Static_assert(OPT_API_DOMAIN - OPT_ID == TS_FIELD_API_DOMAIN, "field options follow ts_field");

#define BIT(o) (1u << (o))
#define OPTS_GLOBAL (BIT(OPT_CONFIG) | BIT(OPT_STORE) | BIT(OPT_OPTION) | BIT(OPT_QUIET) | \
                     BIT(OPT_SHOW_SECRETS) | BIT(OPT_VERSION) | BIT(OPT_HELP))
#define OPTS_KEYS (BIT(OPT_ID) | BIT(OPT_USER) | BIT(OPT_CLIENT_ID) | BIT(OPT_CLIENT_SECRET) | \
                   BIT(OPT_REFRESH_TOKEN) | BIT(OPT_ACCESS_TOKEN) | BIT(OPT_GRANT_TOKEN))
#define OPTS_FIELDS (OPTS_KEYS | BIT(OPT_EXPIRY_TIME) | BIT(OPT_REDIRECT_URL) | \
                     BIT(OPT_API_DOMAIN))
#define OPT_CODE(o) (256 + (o))   /* getopt_long's value for a long option */

static const struct option long_options[] = {
    { "config", required_argument, NULL, OPT_CODE(OPT_CONFIG) },
    { "store", required_argument, NULL, OPT_CODE(OPT_STORE) },
    { "option", required_argument, NULL, OPT_CODE(OPT_OPTION) },
    { "quiet", no_argument, NULL, OPT_CODE(OPT_QUIET) },
    { "show-secrets", no_argument, NULL, OPT_CODE(OPT_SHOW_SECRETS) },
    { "version", no_argument, NULL, OPT_CODE(OPT_VERSION) },
    { "help", no_argument, NULL, OPT_CODE(OPT_HELP) },
    { "json", no_argument, NULL, OPT_CODE(OPT_JSON) },
    { "yes", no_argument, NULL, OPT_CODE(OPT_YES) },
    { "id", required_argument, NULL, OPT_CODE(OPT_ID) },
    { "user", required_argument, NULL, OPT_CODE(OPT_USER) },
    { "client-id", required_argument, NULL, OPT_CODE(OPT_CLIENT_ID) },
    { "client-secret", required_argument, NULL, OPT_CODE(OPT_CLIENT_SECRET) },
    { "refresh-token", required_argument, NULL, OPT_CODE(OPT_REFRESH_TOKEN) },
    { "access-token", required_argument, NULL, OPT_CODE(OPT_ACCESS_TOKEN) },
    { "grant-token", required_argument, NULL, OPT_CODE(OPT_GRANT_TOKEN) },
    { "expiry-time", required_argument, NULL, OPT_CODE(OPT_EXPIRY_TIME) },
    { "redirect-url", required_argument, NULL, OPT_CODE(OPT_REDIRECT_URL) },
    { "api-domain", required_argument, NULL, OPT_CODE(OPT_API_DOMAIN) },
    { NULL, 0, NULL, 0 },
};

/* "-" first: non-options come back in order (as code 1), whatever
 * POSIXLY_CORRECT says; ":" next: a missing value is reported as ':'. */
static const char short_options[] = "-:o:qhVy";

/* The command line, parsed. Option values are copies (see the top). */
struct cli {
    const struct command *command;
    const char *args[2];          /* the command's own arguments */
    int nargs;
    unsigned given;               /* BIT(option) for each option seen */
    char *config_path, *store_uri;
    char **options;               /* -o "key=value" */
    size_t noptions;
    char *field[TS_FIELD_COUNT];  /* --id, --user, ... */
    int quiet, show_secrets, json, yes;
};

struct command {
    const char *name;
    int (*run)(struct cli *cli);
    unsigned options;             /* the options it accepts */
    int min_args, max_args;
    const char *synopsis;
    const char *summary;
    const char *help;
};

static const struct command *find_command(const char *name);
static void print_help(FILE *out);
static void print_command_help(const struct command *cmd, FILE *out);

/* ---------------------------------------------------------------- errors */

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("tokenstore: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'tokenstore --help'.\n", stderr);
    return CLI_USAGE;
}

/* The exit status for a library result code. */
static int exit_status(int code)
{
    if (code == TS_OK)
        return CLI_OK;
    if (code == TS_NOT_FOUND)
        return CLI_NOT_FOUND;
    if (code == TS_ERR_INVALID)
        return CLI_USAGE;
    return CLI_STORE;
}

/* Prints the library's message (it names the file, key or backend). */
static int store_error(int code, const ts_error *err)
{
    fprintf(stderr, "tokenstore: %s\n",
            err->message[0] ? err->message : ts_strerror(code));
    return exit_status(code);
}

static int out_of_memory(void)
{
    fputs("tokenstore: out of memory\n", stderr);
    return CLI_STORE;
}

/* ---------------------------------------------------------------- parsing */

/* "--user" for OPT_USER; "-o" for the one option known by its short name. */
static const char *option_name(int opt)
{
    static char name[32];

    if (opt == OPT_OPTION)
        return "-o";
    for (const struct option *o = long_options; o->name; o++)
        if (o->val == OPT_CODE(opt))
            snprintf(name, sizeof name, "--%s", o->name);
    return name;
}

static int option_from_code(int c)
{
    switch (c) {
    case 'o': return OPT_OPTION;
    case 'q': return OPT_QUIET;
    case 'h': return OPT_HELP;
    case 'V': return OPT_VERSION;
    case 'y': return OPT_YES;
    default: return c >= OPT_CODE(0) && c < OPT_CODE(OPT_COUNT) ? c - OPT_CODE(0) : -1;
    }
}

/* Copies a value out of argv, wiping argv's copy when it may be secret. */
static char *take_value(char *arg, int secret)
{
    char *copy = strdup(arg);

    if (copy && secret)
        explicit_bzero(arg, strlen(arg));
    return copy;
}

/* "-o key=value": the key must be there; the value may be empty. */
static int add_backend_option(struct cli *cli, char *arg)
{
    if (arg[0] == '=' || !strchr(arg, '='))
        return usage_error("-o takes KEY=VALUE (a backend option), e.g. -o path=/tmp/tokens.db");
    char *copy = take_value(arg, 1);
    char **grown = copy ? realloc(cli->options, (cli->noptions + 1) * sizeof *grown) : NULL;
    if (!grown) {
        cli_free_secret(copy);
        return out_of_memory();
    }
    cli->options = grown;
    cli->options[cli->noptions++] = copy;
    return CLI_OK;
}

static int set_string_option(char **slot, char *arg, int secret)
{
    cli_free_secret(*slot);
    *slot = take_value(arg, secret);
    return *slot ? CLI_OK : out_of_memory();
}

static int record_option(struct cli *cli, int opt, char *arg)
{
    cli->given |= BIT(opt);
    switch (opt) {
    case OPT_CONFIG: return set_string_option(&cli->config_path, arg, 0);
    case OPT_STORE: return set_string_option(&cli->store_uri, arg, 1);
    case OPT_OPTION: return add_backend_option(cli, arg);
    case OPT_QUIET: cli->quiet = 1; return CLI_OK;
    case OPT_SHOW_SECRETS: cli->show_secrets = 1; return CLI_OK;
    case OPT_JSON: cli->json = 1; return CLI_OK;
    case OPT_YES: cli->yes = 1; return CLI_OK;
    case OPT_VERSION:
    case OPT_HELP: return CLI_OK;
    default: {
        ts_field field = (ts_field)(opt - OPT_ID);
        return set_string_option(&cli->field[field], arg, ts_field_is_secret(field));
    }
    }
}

static int add_argument(struct cli *cli, const char *arg)
{
    if (!cli->command) {
        cli->command = find_command(arg);
        if (!cli->command)
            return usage_error("unknown command '%.64s'", arg);
        return CLI_OK;
    }
    if (cli->nargs == (int)(sizeof cli->args / sizeof cli->args[0]))
        return usage_error("too many arguments for '%s'", cli->command->name);
    cli->args[cli->nargs++] = arg;
    return CLI_OK;
}

/* An unknown option as the user typed it, without any "=value" part
 * (the value of a misspelt --client-secret=... is a secret). */
static int unknown_option(char *const argv[], int index)
{
    const char *arg = argv[index - 1];
    int len = (int)strcspn(arg, "=");

    if (optopt && optopt != '?')
        return usage_error("unknown option '-%c'", optopt);
    return usage_error("unknown option '%.*s'", len > 64 ? 64 : len, arg);
}

static int parse_command_line(struct cli *cli, int argc, char *argv[])
{
    int c, rc = CLI_OK;

    opterr = 0;
    while (rc == CLI_OK && (c = getopt_long(argc, argv, short_options, long_options, NULL)) != -1) {
        if (c == 1)
            rc = add_argument(cli, optarg);
        else if (c == '?')
            rc = unknown_option(argv, optind);
        else if (c == ':')
            rc = usage_error("option '%s' needs a value",
                             optopt ? option_name(option_from_code(optopt)) : argv[optind - 1]);
        else
            rc = record_option(cli, option_from_code(c), optarg);
    }
    while (rc == CLI_OK && optind < argc)      /* after "--" */
        rc = add_argument(cli, argv[optind++]);
    return rc;
}

static void free_cli(struct cli *cli)
{
    cli_free_secret(cli->config_path);
    cli_free_secret(cli->store_uri);
    for (size_t i = 0; i < cli->noptions; i++)
        cli_free_secret(cli->options[i]);
    free(cli->options);
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        cli_free_secret(cli->field[f]);
}

/* Refuses options the command does not take and a wrong argument count. */
static int check_usage(const struct cli *cli)
{
    const struct command *cmd = cli->command;
    unsigned extra = cli->given & ~cmd->options;

    for (int opt = 0; opt < OPT_COUNT; opt++)
        if (extra & BIT(opt))
            return usage_error("'%s' does not take %s", cmd->name, option_name(opt));
    if (cli->nargs < cmd->min_args || cli->nargs > cmd->max_args)
        return usage_error("usage: tokenstore %s", cmd->synopsis);
    if (cli->config_path && cli->store_uri)
        return usage_error("give --config or --store, not both");
    if (cli->store_uri && !strchr(cli->store_uri, ':'))
        return usage_error("--store takes a URI such as sqlite:/path/tokens.db or memory:; "
                           "use --config for a config file");
    return CLI_OK;
}

/* ---------------------------------------------------------------- stores */

static void log_errors_only(void *userdata, int level, const char *message)
{
    (void)userdata;
    if (level == TS_LOG_ERROR)
        fprintf(stderr, "tokenstore: %s\n", message);
}

/* The -o options and --quiet, applied to a loaded config. */
static int apply_command_line(const struct cli *cli, ts_config *cfg)
{
    ts_error err = { 0 };

    for (size_t i = 0; i < cli->noptions; i++) {
        char *eq = strchr(cli->options[i], '=');
        *eq = '\0';
        int rc = ts_config_set_option(cfg, cli->options[i], eq + 1, &err);
        *eq = '=';
        if (rc != TS_OK)
            return store_error(rc, &err);
    }
    if (cli->quiet)
        ts_config_set_logger(cfg, log_errors_only, NULL, TS_LOG_ERROR);
    return CLI_OK;
}

/* --config always names a file, even one called "a:b" that would
 * otherwise read as a URI. */
static char *config_file_spec(const char *path)
{
    char *spec;

    if (path[0] == '/' || strcspn(path, ":") > strcspn(path, "/"))
        return strdup(path);
    return asprintf(&spec, "./%s", path) < 0 ? NULL : spec;
}

static int load_config(const struct cli *cli, ts_config **cfg)
{
    ts_error err = { 0 };
    char *spec = NULL;
    int rc;

    if (cli->config_path && !(spec = config_file_spec(cli->config_path)))
        return out_of_memory();
    rc = ts_config_load(cfg, spec ? spec : cli->store_uri, &err);
    free(spec);
    if (rc != TS_OK)
        return store_error(rc, &err);
    rc = apply_command_line(cli, *cfg);
    if (rc != CLI_OK) {
        ts_config_free(*cfg);
        *cfg = NULL;
    }
    return rc;
}

/* Opens the chosen store; *cfg (may be NULL) receives its config. */
static int open_store(const struct cli *cli, ts_store **store, ts_config **cfg_out)
{
    ts_config *cfg;
    ts_error err = { 0 };
    int rc = load_config(cli, &cfg);

    if (rc != CLI_OK)
        return rc;
    rc = ts_store_open_config(store, cfg, &err);
    if (rc != TS_OK) {
        ts_config_free(cfg);
        store_error(rc, &err);
        return CLI_STORE;
    }
    if (cfg_out)
        *cfg_out = cfg;
    else
        ts_config_free(cfg);
    return CLI_OK;
}

/* "sqlite store /tmp/tokens.db": how the clear prompt names a store. */
static void describe_store(ts_store *store, const ts_config *cfg, char *out, size_t size)
{
    static const char *const where_keys[] = { "path", "socket", "host" };
    ts_backend_info info;
    const char *where = NULL;

    ts_store_info(store, &info);
    for (size_t i = 0; !where && i < sizeof where_keys / sizeof *where_keys; i++)
        where = ts_config_option(cfg, where_keys[i]);
    const char *port = where && ts_config_option(cfg, "port") && !ts_config_option(cfg, "path")
                       ? ts_config_option(cfg, "port") : NULL;
    snprintf(out, size, "%s store%s%s%s%s", info.name, where ? " " : "", where ? where : "",
             port ? ":" : "", port ? port : "");
}

/* ---------------------------------------------------------------- list */

struct list_state {
    cli_table *table;
    json_object *array;
    int show_secrets;
};

static int list_one(const ts_token *token, void *userdata)
{
    struct list_state *st = userdata;

    if (st->array) {
        json_object *o = cli_token_json(token, st->show_secrets);
        if (!o || json_object_array_add(st->array, o) != 0) {
            cli_json_release(o);
            return TS_ERR_NOMEM;
        }
        return TS_OK;
    }
    return cli_table_add_token(st->table, token, st->show_secrets) == CLI_OK ? TS_OK
                                                                             : TS_ERR_NOMEM;
}

static int cmd_list(struct cli *cli)
{
    struct list_state st = { .show_secrets = cli->show_secrets };
    ts_store *store;
    ts_error err = { 0 };
    int rc = open_store(cli, &store, NULL);

    if (rc != CLI_OK)
        return rc;
    if (cli->json)
        st.array = json_object_new_array();
    else
        st.table = cli_table_new(CLI_TOKEN_COLUMNS, cli_token_headers);
    if (!st.array && !st.table)
        rc = out_of_memory();
    else if ((rc = ts_get_tokens(store, list_one, &st, &err)) != TS_OK)
        rc = store_error(rc, &err);
    else if (st.array)
        cli_json_print(stdout, st.array);
    else
        cli_table_print(st.table, stdout);
    cli_json_release(st.array);
    cli_table_free(st.table);
    ts_store_close(store);
    return rc;
}

/* ---------------------------------------------------------------- get */

static int has(const struct cli *cli, ts_field field)
{
    return cli->field[field] && cli->field[field][0];
}

/* The SDK's rule, checked up front so the user hears which flags are
 * missing rather than "no lookup key". */
static int check_get_keys(const struct cli *cli)
{
    int creds = has(cli, TS_FIELD_CLIENT_ID) + has(cli, TS_FIELD_CLIENT_SECRET);
    int by_grant = has(cli, TS_FIELD_GRANT_TOKEN) || has(cli, TS_FIELD_REFRESH_TOKEN);

    if (cli->field[TS_FIELD_ID])
        return cli->given & (OPTS_KEYS & ~BIT(OPT_ID))
               ? usage_error("get --id takes no other key or credential option")
               : CLI_OK;
    if (has(cli, TS_FIELD_USER_NAME))
        return CLI_OK;
    if (by_grant && creds != 2)
        return usage_error("--grant-token and --refresh-token lookups need both "
                           "--client-id and --client-secret");
    if (!by_grant && has(cli, TS_FIELD_ACCESS_TOKEN) && creds != 0)
        return usage_error("--access-token lookups take no --client-id or --client-secret");
    if (!by_grant && !has(cli, TS_FIELD_ACCESS_TOKEN))
        return usage_error("get needs --id, --user, --access-token, --grant-token or "
                           "--refresh-token");
    return CLI_OK;
}

static int token_from_flags(const struct cli *cli, ts_token *token)
{
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        if (cli->field[f] && ts_token_set(token, (ts_field)f, cli->field[f]) != TS_OK)
            return out_of_memory();
    return CLI_OK;
}

static void report_no_match(const struct cli *cli)
{
    if (cli->quiet)
        return;
    char *user = has(cli, TS_FIELD_USER_NAME) ? cli_escape(cli->field[TS_FIELD_USER_NAME]) : NULL;
    char *client = cli_escape(cli->field[TS_FIELD_CLIENT_ID] ? cli->field[TS_FIELD_CLIENT_ID] : "");

    if (cli->field[TS_FIELD_ID])
        fprintf(stderr, "tokenstore: no token with id %s\n", cli->field[TS_FIELD_ID]);
    else if (user)
        fprintf(stderr, "tokenstore: no token for user_name '%s'\n", user);
    else if (!has(cli, TS_FIELD_CLIENT_ID))
        fputs("tokenstore: no token has that access_token\n", stderr);
    else
        fprintf(stderr, "tokenstore: no token has that grant_token or refresh_token "
                "for client_id '%s'\n", client ? client : "?");
    free(user);
    free(client);
}

/* find_token fills only the fields the query left empty, so the stored
 * row is read back by its id to show exactly what is stored. */
static int find_stored(ts_store *store, const struct cli *cli, ts_token *out, ts_error *err)
{
    int rc;

    if (cli->field[TS_FIELD_ID])
        return ts_find_token_by_id(store, cli->field[TS_FIELD_ID], out, err);
    rc = token_from_flags(cli, out);
    if (rc != CLI_OK)
        return TS_ERR_NOMEM;
    rc = ts_find_token(store, out, err);
    if (rc != TS_OK)
        return rc;
    char *id = strdup(ts_token_get(out, TS_FIELD_ID));
    if (!id)
        return TS_ERR_NOMEM;
    rc = ts_find_token_by_id(store, id, out, err);
    free(id);
    return rc;
}

static int print_one_token(const struct cli *cli, const ts_token *token)
{
    if (!cli->json)
        return cli_print_token(stdout, token, cli->show_secrets);
    json_object *o = cli_token_json(token, cli->show_secrets);
    if (!o)
        return out_of_memory();
    cli_json_print(stdout, o);
    cli_json_release(o);
    return CLI_OK;
}

static int cmd_get(struct cli *cli)
{
    ts_token *token;
    ts_store *store;
    ts_error err = { 0 };
    int rc = check_get_keys(cli);

    if (rc != CLI_OK || (rc = open_store(cli, &store, NULL)) != CLI_OK)
        return rc;
    if (!(token = ts_token_new())) {
        ts_store_close(store);
        return out_of_memory();
    }
    rc = find_stored(store, cli, token, &err);
    if (rc == TS_NOT_FOUND) {
        report_no_match(cli);
        rc = CLI_NOT_FOUND;
    } else if (rc == TS_ERR_NOMEM && !err.message[0]) {
        rc = out_of_memory();
    } else if (rc != TS_OK) {
        rc = store_error(rc, &err);
    } else {
        rc = print_one_token(cli, token);
    }
    ts_token_free(token);
    ts_store_close(store);
    return rc;
}

/* ---------------------------------------------------------------- save */

/* All of stdin, NUL-terminated; every buffer it passed through is wiped. */
static char *read_stdin(void)
{
    size_t len = 0, cap = 4096;
    char *text = malloc(cap);

    while (text) {
        size_t n = fread(text + len, 1, cap - len - 1, stdin);
        len += n;
        if (n == 0)
            break;
        if (len + 1 < cap)
            continue;
        char *grown = cap < MAX_STDIN_BYTES ? malloc(cap * 2) : NULL;
        if (grown)
            memcpy(grown, text, len);
        explicit_bzero(text, cap);
        free(text);
        text = grown;
        cap *= 2;
    }
    if (text)
        text[len] = '\0';
    if (text && (ferror(stdin) || strlen(text) != len)) {
        explicit_bzero(text, len);
        free(text);
        text = NULL;
    }
    return text;
}

static int token_from_stdin(ts_token *token)
{
    char why[TS_ERROR_MAX] = "";
    char *text = read_stdin();

    if (!text) {
        fprintf(stderr, "tokenstore: cannot read a JSON token from stdin (%s)\n",
                ferror(stdin) ? strerror(errno) : "over 1 MiB, a NUL byte or out of memory");
        return CLI_USAGE;
    }
    int rc = cli_token_from_json(text, token, why, sizeof why);
    cli_free_secret(text);
    if (rc != CLI_OK)
        fprintf(stderr, "tokenstore: %s\n", why);
    return rc;
}

static int all_digits(const char *s)
{
    return s[0] && strspn(s, "0123456789") == strlen(s);
}

/* What the store would take but nobody means: a date that is not a date. */
static int check_token_values(const ts_token *token)
{
    const char *expiry = ts_token_get(token, TS_FIELD_EXPIRY_TIME);

    if (expiry[0] && !all_digits(expiry))
        return usage_error("expiry_time must be epoch milliseconds (digits only), "
                           "e.g. 1714564800000");
    return CLI_OK;
}

static int save_input(struct cli *cli, ts_token *token)
{
    int from_stdin = cli->json || cli->nargs == 1;
    int has_fields = (cli->given & OPTS_FIELDS) != 0;

    if (cli->nargs == 1 && strcmp(cli->args[0], "-") != 0)
        return usage_error("save takes '-' (a JSON token on stdin) or field options, "
                           "not '%.64s'", cli->args[0]);
    if (from_stdin && has_fields)
        return usage_error("save takes its fields from options or from JSON on stdin, "
                           "not both");
    if (!from_stdin && !has_fields)
        return usage_error("save needs field options (--user, --refresh-token, ...) "
                           "or '-' to read a JSON token from stdin");
    int rc = from_stdin ? token_from_stdin(token) : token_from_flags(cli, token);
    return rc == CLI_OK ? check_token_values(token) : rc;
}

static int cmd_save(struct cli *cli)
{
    ts_token *token = ts_token_new();
    ts_store *store = NULL;
    ts_error err = { 0 };
    int rc;

    if (!token)
        return out_of_memory();
    rc = save_input(cli, token);
    if (rc == CLI_OK)
        rc = open_store(cli, &store, NULL);
    if (rc == CLI_OK) {
        int code = ts_save_token(store, token, &err);
        if (code == TS_OK)
            printf("%s\n", ts_token_get(token, TS_FIELD_ID));
        else
            rc = store_error(code, &err);
    }
    ts_token_free(token);
    ts_store_close(store);
    return rc;
}

/* ---------------------------------------------------------------- delete, clear */

static int cmd_delete(struct cli *cli)
{
    const char *id = cli->field[TS_FIELD_ID];
    ts_store *store;
    ts_error err = { 0 };
    int rc;

    if (!id)
        return usage_error("usage: tokenstore %s", cli->command->synopsis);
    if ((rc = open_store(cli, &store, NULL)) != CLI_OK)
        return rc;
    rc = ts_delete_token(store, id, &err);
    if (rc == TS_OK && !cli->quiet)
        printf("Deleted token %s.\n", id);
    if (rc == TS_NOT_FOUND && !cli->quiet)
        fprintf(stderr, "tokenstore: no token with id %s\n", id);
    if (rc != TS_OK && rc != TS_NOT_FOUND)
        store_error(rc, &err);
    ts_store_close(store);
    return exit_status(rc);
}

static int count_one(const ts_token *token, void *userdata)
{
    (void)token;
    ++*(size_t *)userdata;
    return TS_OK;
}

/* Asks on the terminal; anything but y or yes is a no. */
static int confirmed(const char *question)
{
    char answer[16] = "";

    fprintf(stderr, "%s [y/N] ", question);
    fflush(stderr);
    if (!fgets(answer, sizeof answer, stdin))
        return 0;
    answer[strcspn(answer, "\r\n")] = '\0';
    for (char *p = answer; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return strcmp(answer, "y") == 0 || strcmp(answer, "yes") == 0;
}

static int clear_store(const struct cli *cli, ts_store *store, const char *where)
{
    ts_error err = { 0 };
    size_t count = 0;
    char question[512];
    int rc = ts_get_tokens(store, count_one, &count, &err);

    if (rc != TS_OK)
        return store_error(rc, &err);
    if (count == 0) {
        if (!cli->quiet)
            printf("No tokens in %s.\n", where);
        return CLI_OK;
    }
    if (!cli->yes && !isatty(STDIN_FILENO)) {
        fprintf(stderr, "tokenstore: refusing to delete %zu token%s from %s without "
                "confirmation: stdin is not a terminal (pass --yes)\n",
                count, count == 1 ? "" : "s", where);
        return CLI_USAGE;
    }
    snprintf(question, sizeof question, "Delete %s %zu token%s from %s?",
             count == 1 ? "the" : "all", count, count == 1 ? "" : "s", where);
    if (!cli->yes && !confirmed(question)) {
        fputs("Nothing deleted.\n", stderr);
        return CLI_OK;
    }
    if ((rc = ts_delete_tokens(store, &err)) != TS_OK)
        return store_error(rc, &err);
    if (!cli->quiet)
        printf("Deleted %zu token%s from %s.\n", count, count == 1 ? "" : "s", where);
    return CLI_OK;
}

static int cmd_clear(struct cli *cli)
{
    ts_store *store;
    ts_config *cfg;
    char where[256];
    int rc = open_store(cli, &store, &cfg);

    if (rc != CLI_OK)
        return rc;
    describe_store(store, cfg, where, sizeof where);
    rc = clear_store(cli, store, where);
    ts_store_close(store);
    ts_config_free(cfg);
    return rc;
}

/* ---------------------------------------------------------------- backends */

struct backends_state {
    cli_table *table;
    json_object *array;
    size_t found;
};

static const char *const backend_headers[] = { "NAME", "VERSION", "ABI", "CAPABILITIES", "PATH" };

static const struct { uint32_t bit; const char *name; } capabilities[] = {
    { TS_CAP_PERSISTENT, "persistent" },
    { TS_CAP_SHARED, "shared" },
    { TS_CAP_THREAD_SAFE, "thread-safe" },
};

static int backend_json(struct backends_state *st, const ts_backend_info *info, const char *abi)
{
    json_object *o = json_object_new_object(), *caps = json_object_new_array();

    if (!o || !caps) {
        json_object_put(o);
        json_object_put(caps);
        return TS_ERR_NOMEM;
    }
    json_object_object_add(o, "name", json_object_new_string(info->name));
    json_object_object_add(o, "version", json_object_new_string(info->version));
    json_object_object_add(o, "description", json_object_new_string(info->description));
    json_object_object_add(o, "abi", json_object_new_string(abi));
    for (size_t i = 0; i < sizeof capabilities / sizeof *capabilities; i++)
        if (info->caps & capabilities[i].bit)
            json_object_array_add(caps, json_object_new_string(capabilities[i].name));
    json_object_object_add(o, "capabilities", caps);
    json_object_object_add(o, "path", json_object_new_string(info->path));
    return json_object_array_add(st->array, o) == 0 ? TS_OK : TS_ERR_NOMEM;
}

static int backend_one(const ts_backend_info *info, void *userdata)
{
    struct backends_state *st = userdata;
    char abi[32], caps[64] = "";

    st->found++;
    snprintf(abi, sizeof abi, "%u.%u", info->abi_major, info->abi_minor);
    if (st->array)
        return backend_json(st, info, abi);
    for (size_t i = 0; i < sizeof capabilities / sizeof *capabilities; i++)
        if (info->caps & capabilities[i].bit)
            snprintf(caps + strlen(caps), sizeof caps - strlen(caps), "%s%s",
                     caps[0] ? "," : "", capabilities[i].name);
    const char *row[] = { info->name, info->version, abi, caps, info->path };
    return cli_table_add(st->table, row) == CLI_OK ? TS_OK : TS_ERR_NOMEM;
}

static void backend_broken(const char *path, const ts_error *why, void *userdata)
{
    (void)path;
    (void)userdata;
    fprintf(stderr, "tokenstore: warning: %s\n", why->message);
}

/* The config only adds its plugin_dir to the search path, so a missing or
 * broken default config is a warning here, not a reason to stop. */
static int backends_config(const struct cli *cli, ts_config **cfg)
{
    ts_error err = { 0 };

    *cfg = NULL;
    if (cli->config_path || cli->store_uri)
        return load_config(cli, cfg);
    if (ts_config_load(cfg, NULL, &err) != TS_OK && !cli->quiet)
        fprintf(stderr, "tokenstore: warning: %s (listing without it)\n", err.message);
    return CLI_OK;
}

static int cmd_backends(struct cli *cli)
{
    struct backends_state st = { 0 };
    ts_config *cfg;
    ts_error err = { 0 };
    int rc = backends_config(cli, &cfg);

    if (rc != CLI_OK)
        return rc;
    if (cli->json)
        st.array = json_object_new_array();
    else
        st.table = cli_table_new(5, backend_headers);
    if (!st.array && !st.table)
        rc = out_of_memory();
    else if ((rc = ts_backends_list(cfg, backend_one, backend_broken, &st, &err)) != TS_OK)
        rc = err.message[0] ? store_error(rc, &err) : out_of_memory();
    else if (st.found == 0) {
        fprintf(stderr, "tokenstore: no backends found (search path: plugin_dir of the "
                "config, $TOKENSTORE_PLUGIN_PATH, %s)\n", ts_plugin_dir());
        rc = CLI_NOT_FOUND;
    } else if (st.array)
        cli_json_print(stdout, st.array);
    else
        cli_table_print(st.table, stdout);
    json_object_put(st.array);
    cli_table_free(st.table);
    ts_config_free(cfg);
    return rc;
}

/* ---------------------------------------------------------------- check-backend */

static int cmd_check_backend(struct cli *cli)
{
    const char *path = cli->args[0];
    ts_config *cfg;
    ts_error err = { 0 };
    char *spec = NULL;
    int rc;

    /* "memory.so" would read as a (bad) backend name: it means ./memory.so. */
    size_t len = strlen(path);
    if (!strchr(path, '/') && len > 3 && strcmp(path + len - 3, ".so") == 0 &&
        asprintf(&spec, "./%s", path) < 0)
        return out_of_memory();
    if (ts_config_new(&cfg) != TS_OK) {
        free(spec);
        return out_of_memory();
    }
    rc = ts_config_set_backend(cfg, spec ? spec : path, &err);
    free(spec);
    if (rc != TS_OK) {
        store_error(rc, &err);
        rc = CLI_STORE;
    } else {
        rc = apply_command_line(cli, cfg);
    }
    if (rc == CLI_OK) {
        int failed = ts_conformance_run(cfg, stdout, &err);
        fflush(stdout);
        if (failed < 0) {
            store_error(err.code ? err.code : TS_ERR_LOAD, &err);
            rc = CLI_STORE;
        } else if (failed > 0) {
            if (!cli->quiet)
                fprintf(stderr, "tokenstore: %d conformance check%s failed\n", failed,
                        failed == 1 ? "" : "s");
            rc = CLI_CHECKS_FAILED;
        }
    }
    ts_config_free(cfg);
    return rc;
}

/* ---------------------------------------------------------------- help */

static int cmd_help(struct cli *cli)
{
    const struct command *cmd = cli->nargs ? find_command(cli->args[0]) : NULL;

    if (cli->nargs && !cmd)
        return usage_error("unknown command '%.64s'", cli->args[0]);
    if (cmd)
        print_command_help(cmd, stdout);
    else
        print_help(stdout);
    return CLI_OK;
}

static const struct command commands[] = {
    { "list", cmd_list, OPTS_GLOBAL | BIT(OPT_JSON), 0, 0,
      "list [--json]",
      "list every token",
      "Prints a table of every token: id, user_name, client_id, expiry_time as\n"
      "an ISO-8601 UTC date and in milliseconds, api_domain and the secrets\n"
      "(masked). --json prints an array of objects with the SDK's ten fields.\n" },
    { "get", cmd_get, OPTS_GLOBAL | BIT(OPT_JSON) | OPTS_KEYS, 0, 0,
      "get (--id N | --user NAME | --access-token TOKEN) [--json]\n"
      "       tokenstore get (--grant-token | --refresh-token) TOKEN\n"
      "                      --client-id ID --client-secret SECRET [--json]",
      "show one token",
      "Finds a token by id, or by the SDK's key: user_name; else access_token\n"
      "(without client credentials); else grant_token, then refresh_token (with\n"
      "both --client-id and --client-secret). Prints `field: value` lines, or\n"
      "a JSON object with --json. Exit status 1 when no token matches.\n" },
    { "save", cmd_save, OPTS_GLOBAL | BIT(OPT_JSON) | OPTS_FIELDS, 0, 1,
      "save FIELD-OPTIONS | save - | save --json",
      "store a token and print its id",
      "Fields come from options (--id, --user, --client-id, --client-secret,\n"
      "--refresh-token, --access-token, --grant-token, --expiry-time MS,\n"
      "--redirect-url, --api-domain) or from a JSON object on stdin ('-' or\n"
      "--json) with the SDK's field names, e.g.\n"
      "  {\"user_name\": \"a@b.com\", \"refresh_token\": \"1000.x\", \"expiry_time\": \"1714564800000\"}\n"
      "The SDK's save_token rule applies: the token replaces the stored one with\n"
      "the same id, else the same key, else it is added with the next id.\n"
      "Options are visible to other users of this machine (ps); prefer stdin\n"
      "for secrets.\n" },
    { "delete", cmd_delete, OPTS_GLOBAL | BIT(OPT_ID), 0, 0,
      "delete --id N",
      "delete one token",
      "Deletes the token with id N. Exit status 1 when there is none.\n" },
    { "clear", cmd_clear, OPTS_GLOBAL | BIT(OPT_YES), 0, 0,
      "clear [--yes]",
      "delete every token",
      "Deletes every token of the store after asking on the terminal. -y/--yes\n"
      "skips the question; without it and with stdin not a terminal, nothing\n"
      "is deleted and the exit status is 2.\n" },
    { "backends", cmd_backends, OPTS_GLOBAL | BIT(OPT_JSON), 0, 0,
      "backends [--json]",
      "list the backends found",
      "Lists every backend found in the search path (the config's plugin_dir,\n"
      "$TOKENSTORE_PLUGIN_PATH, the installed plugin directory): name, version,\n"
      "ABI, capabilities and path. Files that fail to load are reported on\n"
      "stderr.\n" },
    { "check-backend", cmd_check_backend,
      BIT(OPT_OPTION) | BIT(OPT_QUIET) | BIT(OPT_HELP) | BIT(OPT_VERSION), 1, 1,
      "check-backend PATH [-o KEY=VALUE ...]",
      "run the conformance suite on a backend",
      "Runs the conformance suite against the backend PATH (a .so path or a\n"
      "backend name) with the given backend options, printing TAP on stdout.\n"
      "The suite empties the store again and again: point the options at a\n"
      "scratch location. Exit status 0 when every check passed, 4 when some\n"
      "failed, 3 when the backend could not be loaded or opened.\n" },
    { "help", cmd_help, BIT(OPT_HELP) | BIT(OPT_VERSION), 0, 1,
      "help [COMMAND]",
      "show help",
      "Shows the list of commands, or the help of one command.\n" },
};

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void print_help(FILE *out)
{
    fputs("Usage: tokenstore [OPTIONS] COMMAND [ARGS]\n\n"
          "Inspect and edit the OAuth tokens a Zoho CRM SDK application keeps in a\n"
          "tokenstore backend, and check backends.\n\nCommands:\n", out);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(out, "  %-15s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
          "\nOptions (before or after the command):\n"
          "  --config FILE        use the store of a JSON config file\n"
          "  --store URI          use the store at URI: memory:, file:/path/tokens.csv,\n"
          "                       sqlite:/path/tokens.db, redis://host:port/db, ...\n"
          "  -o, --option KEY=VALUE  set an option of the backend (repeatable)\n"
          "  -q, --quiet          no status messages or backend warnings\n"
          "  --show-secrets       print secrets in full (they are masked: \"1000…(70)\")\n"
          "  -h, --help           show help; 'tokenstore COMMAND --help' for a command\n"
          "  -V, --version        print the version\n"
          "\nWithout --config or --store the store is read from $TOKENSTORE_CONFIG, else\n"
          "$XDG_CONFIG_HOME/tokenstore/config.json, else %s/tokenstore/config.json,\n"
          "else it is sqlite at $XDG_DATA_HOME/tokenstore/zohooauth.db.\n"
          "\nExit status:\n"
          "  0  success\n"
          "  1  not found: no token matched (get, delete)\n"
          "  2  usage error, or a token or id the store refuses as invalid\n"
          "  3  store, backend or configuration error\n"
          "  4  check-backend: some conformance checks failed\n", TS_SYSCONFDIR);
}

static void print_command_help(const struct command *cmd, FILE *out)
{
    fprintf(out, "Usage: tokenstore %s\n\n%s", cmd->synopsis, cmd->help);
    if (cmd->options & BIT(OPT_STORE))
        fputs("\nGlobal options: --config FILE, --store URI, -o KEY=VALUE, --quiet,\n"
              "--show-secrets (see 'tokenstore --help').\n", out);
}

static void print_version(void)
{
    printf("tokenstore %s (libtokenstore %s, backend ABI %d.%d)\n", PACKAGE_VERSION,
           ts_version(), TS_ABI_MAJOR, TS_ABI_MINOR);
}

/* ---------------------------------------------------------------- main */

static int run(struct cli *cli)
{
    if (cli->given & BIT(OPT_VERSION)) {
        print_version();
        return CLI_OK;
    }
    if (!cli->command && (cli->given & BIT(OPT_HELP))) {
        print_help(stdout);
        return CLI_OK;
    }
    if (!cli->command) {
        fputs("Usage: tokenstore [OPTIONS] COMMAND [ARGS]\n"
              "Try 'tokenstore --help'.\n", stderr);
        return CLI_USAGE;
    }
    if (cli->given & BIT(OPT_HELP)) {
        print_command_help(cli->command, stdout);
        return CLI_OK;
    }
    int rc = check_usage(cli);
    return rc == CLI_OK ? cli->command->run(cli) : rc;
}

int main(int argc, char *argv[])
{
    struct cli cli = { 0 };
    int rc = parse_command_line(&cli, argc, argv);

    if (rc == CLI_OK)
        rc = run(&cli);
    free_cli(&cli);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "tokenstore: cannot write the output: %s\n", strerror(errno));
        rc = rc == CLI_OK ? CLI_STORE : rc;
    }
    return rc;
}
