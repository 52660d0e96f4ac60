/*
 * cli/main.c - the tokenstore command: inspect, edit, migrate and check
 * token stores, and get access tokens, from a shell.
 *
 * Shaped like git's and curl's small tools: a table of commands, one
 * function per command, and one table of options. The command line is read
 * in a single getopt_long pass in "return in order" mode, so options may
 * come before or after the command (`tokenstore --store memory: list` and
 * `tokenstore list --store memory:` are the same), and then each command's
 * row in the table says which options it accepts; anything else is a usage
 * error that names the option.
 *
 * Commands that only read open the store with TS_OPEN_READ_ONLY, so a
 * mistyped path is an error rather than a new empty store, and a file
 * that belongs to another program is left as it was. migrate's plan and
 * copy live in migrate.c, check-backend's choice of where the suite may
 * run in check.c; token and revoke are thin over the library's OAuth
 * client.
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
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
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
    OPT_TO, OPT_ACCOUNTS_URL, OPT_OAUTH, OPT_VERBOSE, OPT_FORCE, OPT_DRY_RUN, OPT_OVERWRITE,
    OPT_NO_HEADERS, OPT_COUNT
};
_Static_assert(OPT_COUNT <= 32, "option masks are 32 bits");
_Static_assert(OPT_API_DOMAIN - OPT_ID == TS_FIELD_API_DOMAIN, "field options follow ts_field");

#define BIT(o) (1u << (o))
#define OPTS_GLOBAL (BIT(OPT_CONFIG) | BIT(OPT_STORE) | BIT(OPT_OPTION) | BIT(OPT_QUIET) | \
                     BIT(OPT_VERBOSE) | BIT(OPT_SHOW_SECRETS) | BIT(OPT_VERSION) | BIT(OPT_HELP))
#define OPTS_KEYS (BIT(OPT_ID) | BIT(OPT_USER) | BIT(OPT_CLIENT_ID) | BIT(OPT_CLIENT_SECRET) | \
                   BIT(OPT_REFRESH_TOKEN) | BIT(OPT_ACCESS_TOKEN) | BIT(OPT_GRANT_TOKEN))
#define OPTS_FIELDS (OPTS_KEYS | BIT(OPT_EXPIRY_TIME) | BIT(OPT_REDIRECT_URL) | \
                     BIT(OPT_API_DOMAIN))
#define OPTS_OAUTH (BIT(OPT_ACCOUNTS_URL) | BIT(OPT_OAUTH))
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
    { "to", required_argument, NULL, OPT_CODE(OPT_TO) },
    { "accounts-url", required_argument, NULL, OPT_CODE(OPT_ACCOUNTS_URL) },
    { "oauth", required_argument, NULL, OPT_CODE(OPT_OAUTH) },
    { "verbose", no_argument, NULL, OPT_CODE(OPT_VERBOSE) },
    { "force", no_argument, NULL, OPT_CODE(OPT_FORCE) },
    { "dry-run", no_argument, NULL, OPT_CODE(OPT_DRY_RUN) },
    { "overwrite", no_argument, NULL, OPT_CODE(OPT_OVERWRITE) },
    { "no-headers", no_argument, NULL, OPT_CODE(OPT_NO_HEADERS) },
    { NULL, 0, NULL, 0 },
};

/* "-" first: non-options come back in order (as code 1), whatever
 * POSIXLY_CORRECT says; ":" next: a missing value is reported as ':'. */
static const char short_options[] = "-:o:O:qvhVy";

/* The command line, parsed. Option values are copies (see the top). */
struct cli {
    const struct command *command;
    const char *args[2];          /* the command's own arguments */
    int nargs;
    unsigned given;               /* BIT(option) for each option seen */
    char *config_path, *store_uri;
    char **options;               /* -o "key=value" */
    size_t noptions;
    char **oauth;                 /* -O "key=value" */
    size_t noauth;
    char *to, *accounts_url;      /* migrate --to, --accounts-url */
    char *field[TS_FIELD_COUNT];  /* --id, --user, ... */
    int quiet, verbose, show_secrets, json, yes, force, dry_run, overwrite, no_headers;
    int secret_from_stdin;        /* a secret option was given as "-" */
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
static const char *nearest_command(const char *word);
static void print_help(FILE *out);
static void print_command_help(const struct command *cmd, FILE *out);

/* ---------------------------------------------------------------- errors */

/* The command on the line, once known: its usage errors point at its own
 * help, which lists what it takes, rather than at the long general one. */
static const char *usage_command;

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("tokenstore: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (usage_command)
        fprintf(stderr, "\nTry 'tokenstore %s --help'.\n", usage_command);
    else
        fputs("\nTry 'tokenstore --help'.\n", stderr);
    return CLI_USAGE;
}

int cli_exit_status(int code)
{
    if (code == TS_OK)
        return CLI_OK;
    if (code == TS_NOT_FOUND)
        return CLI_NOT_FOUND;
    if (code == TS_ERR_INVALID)
        return CLI_USAGE;
    if (code == TS_ERR_CONFLICT)
        return CLI_CONFLICT;
    if (code == TS_ERR_OAUTH || code == TS_ERR_HTTP)
        return CLI_OAUTH;
    return CLI_STORE;   /* TS_ERR_NO_STORE and TS_ERR_READ_ONLY among them */
}

int cli_store_error(int code, const ts_error *err)
{
    fprintf(stderr, "tokenstore: %s\n",
            err->message[0] ? err->message : ts_strerror(code));
    return cli_exit_status(code);
}

int cli_out_of_memory(void)
{
    fputs("tokenstore: out of memory\n", stderr);
    return CLI_STORE;
}

/* ---------------------------------------------------------------- parsing */

/* The Levenshtein distance of two short words, for "did you mean": longer
 * words than a command or option name are never close to one. */
static size_t edit_distance(const char *a, const char *b)
{
    enum { MAX = 32 };
    size_t la = strlen(a), lb = strlen(b), row[MAX + 1];

    if (la > MAX || lb > MAX)
        return MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Keeps CANDIDATE in *best when it is nearer WORD than what is there and
 * near enough to be a slip of the keyboard (a third of it at most). */
static void consider(const char *word, size_t len, const char *candidate,
                     const char **best, size_t *best_distance)
{
    char typed[33];

    if (len >= sizeof typed)
        return;
    memcpy(typed, word, len);
    typed[len] = '\0';
    size_t d = edit_distance(typed, candidate);
    if (d <= 2 && d * 3 <= strlen(candidate) && d < *best_distance) {
        *best = candidate;
        *best_distance = d;
    }
}

/* The long option nearest the first LEN bytes of WORD (no dashes), or NULL. */
static const char *nearest_option(const char *word, size_t len)
{
    const char *best = NULL;
    size_t distance = SIZE_MAX;

    for (const struct option *o = long_options; o->name; o++)
        consider(word, len, o->name, &best, &distance);
    return best;
}

/* "--user" for OPT_USER; "-o" for the one option known by its short name. */
static const char *option_name(int opt)
{
    static char name[32];

    if (opt == OPT_OPTION)
        return "-o";
    if (opt == OPT_OAUTH)
        return "-O";
    for (const struct option *o = long_options; o->name; o++)
        if (o->val == OPT_CODE(opt))
            snprintf(name, sizeof name, "--%s", o->name);
    return name;
}

static int option_from_code(int c)
{
    switch (c) {
    case 'o': return OPT_OPTION;
    case 'O': return OPT_OAUTH;
    case 'q': return OPT_QUIET;
    case 'v': return OPT_VERBOSE;
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

/* "-o key=value" and "-O key=value": the key must be there; the value may
 * be empty. Either may carry a password or a client secret. */
static int add_key_value(char ***list, size_t *n, char *arg, const char *usage)
{
    if (arg[0] == '=' || !strchr(arg, '='))
        return usage_error("%s", usage);
    char *copy = take_value(arg, 1);
    char **grown = copy ? realloc(*list, (*n + 1) * sizeof *grown) : NULL;
    if (!grown) {
        cli_free_secret(copy);
        return cli_out_of_memory();
    }
    *list = grown;
    (*list)[(*n)++] = copy;
    return CLI_OK;
}

static int set_string_option(char **slot, char *arg, int secret)
{
    cli_free_secret(*slot);
    *slot = take_value(arg, secret);
    return *slot ? CLI_OK : cli_out_of_memory();
}

/* A secret option given as "-": its value is the next line of standard
 * input, so it never shows in /proc/PID/cmdline. Read a byte at a time
 * into one buffer, leaving no stdio or realloc() copy behind. */
static int secret_from_stdin(char **slot, const char *option)
{
    enum { MAX_SECRET = 8192 };
    char *line = malloc(MAX_SECRET);
    size_t n = 0;
    ssize_t got = 0;

    if (!line)
        return cli_out_of_memory();
    while (n < MAX_SECRET && (got = read(STDIN_FILENO, line + n, 1)) == 1 && line[n] != '\n')
        n++;
    if (n > 0 && line[n - 1] == '\r')
        n--;
    if (n == MAX_SECRET || got < 0 || n == 0) {
        explicit_bzero(line, n < MAX_SECRET ? n : MAX_SECRET);
        free(line);
        return usage_error("%s -: %s", option,
                           n == MAX_SECRET ? "the line on standard input is too long"
                                           : "standard input holds no value for it");
    }
    line[n] = '\0';
    cli_free_secret(*slot);
    *slot = line;
    return CLI_OK;
}

static int record_option(struct cli *cli, int opt, char *arg)
{
    cli->given |= BIT(opt);
    switch (opt) {
    case OPT_CONFIG: return set_string_option(&cli->config_path, arg, 0);
    case OPT_STORE: return set_string_option(&cli->store_uri, arg, 1);
    case OPT_OPTION:
        if (strcmp(arg, "json") == 0)   /* kubectl's and gh's habit */
            return usage_error("-o takes KEY=VALUE (a backend option); "
                               "for JSON output use --json");
        return add_key_value(&cli->options, &cli->noptions, arg, "-o takes KEY=VALUE "
                             "(a backend option), e.g. -o path=/tmp/tokens.db");
    case OPT_OAUTH:
        return add_key_value(&cli->oauth, &cli->noauth, arg, "-O takes KEY=VALUE "
                             "(an OAuth setting), e.g. -O data_center=EU");
    case OPT_TO: return set_string_option(&cli->to, arg, 1);
    case OPT_ACCOUNTS_URL: return set_string_option(&cli->accounts_url, arg, 0);
    case OPT_QUIET: cli->quiet = 1; return CLI_OK;
    case OPT_VERBOSE: cli->verbose = 1; return CLI_OK;
    case OPT_FORCE: cli->force = 1; return CLI_OK;
    case OPT_DRY_RUN: cli->dry_run = 1; return CLI_OK;
    case OPT_OVERWRITE: cli->overwrite = 1; return CLI_OK;
    case OPT_NO_HEADERS: cli->no_headers = 1; return CLI_OK;
    case OPT_SHOW_SECRETS: cli->show_secrets = 1; return CLI_OK;
    case OPT_JSON: cli->json = 1; return CLI_OK;
    case OPT_YES: cli->yes = 1; return CLI_OK;
    case OPT_VERSION:
    case OPT_HELP: return CLI_OK;
    default: {
        ts_field field = (ts_field)(opt - OPT_ID);
        if (ts_field_is_secret(field) && strcmp(arg, "-") == 0) {
            cli->secret_from_stdin = 1;
            return secret_from_stdin(&cli->field[field], option_name(opt));
        }
        return set_string_option(&cli->field[field], arg, ts_field_is_secret(field));
    }
    }
}

static int unknown_command(const char *word)
{
    const char *guess = nearest_command(word);

    usage_command = NULL;
    return guess ? usage_error("unknown command '%.64s'; did you mean '%s'?", word, guess)
                 : usage_error("unknown command '%.64s'", word);
}

static int add_argument(struct cli *cli, const char *arg)
{
    if (!cli->command) {
        cli->command = find_command(arg);
        if (!cli->command)
            return unknown_command(arg);
        usage_command = cli->command->name;
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
    const char *guess = strncmp(arg, "--", 2) == 0 ? nearest_option(arg + 2, (size_t)len - 2)
                                                    : NULL;
    if (guess)
        return usage_error("unknown option '%.*s'; did you mean '--%s'?",
                           len > 64 ? 64 : len, arg, guess);
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
    for (size_t i = 0; i < cli->noauth; i++)
        cli_free_secret(cli->oauth[i]);
    free(cli->oauth);
    cli_free_secret(cli->to);
    cli_free_secret(cli->accounts_url);
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
    if (cli->quiet && cli->verbose)
        return usage_error("give --quiet or --verbose, not both");
    if (cli->config_path && strcmp(cli->config_path, "-") == 0 &&
        (cli->secret_from_stdin || (strcmp(cmd->name, "save") == 0 && cli->nargs == 1 &&
                                    strcmp(cli->args[0], "-") == 0)))
        return usage_error("--config - reads standard input: give the token's values "
                           "another way");
    if (cli->store_uri && !strchr(cli->store_uri, ':'))
        return usage_error("--store takes a URI such as sqlite:/path/tokens.db or memory:; "
                           "use --config for a config file");
    return CLI_OK;
}

/* ---------------------------------------------------------------- stores */

/* The library's log lines; it never logs a secret. */
static void log_to_stderr(void *userdata, int level, const char *message)
{
    (void)userdata;
    (void)level;
    fprintf(stderr, "tokenstore: %s\n", message);
}

void cli_set_logger(ts_config *cfg, int quiet, int verbose)
{
    if (quiet)
        ts_config_set_logger(cfg, log_to_stderr, NULL, TS_LOG_ERROR);
    else if (verbose)
        ts_config_set_logger(cfg, log_to_stderr, NULL, TS_LOG_DEBUG);
}

int cli_apply_options(ts_config *cfg, char *const *options, size_t n, ts_error *err)
{
    int rc = TS_OK;

    for (size_t i = 0; i < n && rc == TS_OK; i++) {
        char *eq = strchr(options[i], '=');
        *eq = '\0';
        rc = ts_config_set_option(cfg, options[i], eq + 1, err);
        *eq = '=';
    }
    return rc;
}

/* All of fd, NUL-terminated, read with read(2) so no stdio buffer keeps a
 * copy; every buffer it passed through is wiped. NULL with errno set on a
 * read error, errno 0 for over 1 MiB, a NUL byte or no memory. */
static char *read_all(int fd)
{
    size_t len = 0, cap = 4096;
    char *text = malloc(cap);
    ssize_t n = 0;

    while (text && (n = read(fd, text + len, cap - len - 1)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        len += (size_t)n;
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
    int e = n < 0 ? errno : 0;
    if (text)
        text[len] = '\0';
    if (text && (n < 0 || strlen(text) != len)) {
        explicit_bzero(text, len);
        free(text);
        text = NULL;
    }
    errno = e;
    return text;
}

/* The first secret a config file's JSON holds, as a key path; NULL for
 * none (or JSON the loader has already accepted or refused by now). */
static const char *config_secret_key(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    char *text = fd >= 0 ? read_all(fd) : NULL;
    json_object *root = NULL, *section, *value;
    const char *key = NULL;
    char why[TS_ERROR_MAX];

    if (fd >= 0)
        close(fd);
    if (text && ts__json_parse(text, path, &root, why, sizeof why) == 0) {
        if (json_object_object_get_ex(root, "oauth", &section) &&
            json_object_object_get_ex(section, "client_secret", &value))
            key = "oauth.client_secret";
        else if (json_object_object_get_ex(root, "store", &section) &&
                 json_object_object_get_ex(section, "options", &section) &&
                 json_object_object_get_ex(section, "password", &value))
            key = "store.options.password";
    }
    ts__json_release(root);
    cli_free_secret(text);
    return key;
}

/* A config file with a client secret or a password in it gets the same
 * advice as a token file that others may read. */
static void warn_if_config_readable(const ts_config *cfg)
{
    /* A file's origin holds a '/' (config_file_spec and the lookup chain
     * see to it); "URI", "default" and "standard input" do not. */
    const char *path = ts_config_origin(cfg);
    struct stat st;
    const char *key;

    if (!strchr(path, '/') || stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
        !(st.st_mode & 066) || !(key = config_secret_key(path)))
        return;
    fprintf(stderr, "tokenstore: %s holds secrets (%s) but is %s by group or others "
            "(mode %04o): chmod 600 %s\n", path, key, st.st_mode & 022 ? "writable" : "readable",
            (unsigned)(st.st_mode & 07777), path);
}

/* --config -: the config is JSON on standard input. */
static int config_from_stdin(ts_config **cfg, ts_error *err)
{
    char *text = read_all(STDIN_FILENO);
    int rc;

    if (!text) {
        err->code = TS_ERR_CONFIG;
        snprintf(err->message, sizeof err->message, "--config -: cannot read a config "
                 "from standard input (%s)", errno ? strerror(errno)
                                                   : "over 1 MiB, a NUL byte or out of memory");
        return err->code;
    }
    rc = ts_config_parse_json(cfg, text, "standard input", err);
    cli_free_secret(text);
    return rc;
}

/* The -o options, --quiet and --verbose, applied to a loaded config. */
static int apply_command_line(const struct cli *cli, ts_config *cfg)
{
    ts_error err = { 0 };
    int rc = cli_apply_options(cfg, cli->options, cli->noptions, &err);

    if (rc != TS_OK)
        return cli_store_error(rc, &err);
    cli_set_logger(cfg, cli->quiet, cli->verbose);
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

/* A config's "oauth" section is checked by every command that loads it,
 * not only by token and revoke: a wrong data_center found months later,
 * when a refresh is first needed, is found too late. */
static int check_oauth_section(const ts_config *cfg)
{
    ts_error err = { 0 };
    ts_oauth *oauth;
    int rc = ts_oauth_new(&oauth, NULL, cfg, &err);

    if (rc != TS_OK)
        return cli_store_error(rc, &err);
    ts_oauth_free(oauth);
    return CLI_OK;
}

static int load_config(const struct cli *cli, ts_config **cfg)
{
    ts_error err = { 0 };
    char *spec = NULL;
    int rc;

    if (cli->config_path && strcmp(cli->config_path, "-") == 0) {
        rc = config_from_stdin(cfg, &err);
    } else {
        if (cli->config_path && !(spec = config_file_spec(cli->config_path)))
            return cli_out_of_memory();
        rc = ts_config_load(cfg, spec ? spec : cli->store_uri, &err);
        free(spec);
    }
    if (rc != TS_OK)
        return cli_store_error(rc, &err);
    if (!cli->quiet)
        warn_if_config_readable(*cfg);
    rc = check_oauth_section(*cfg);
    if (rc != CLI_OK) {
        ts_config_free(*cfg);
        *cfg = NULL;
        return rc;
    }
    rc = apply_command_line(cli, *cfg);
    if (rc != CLI_OK) {
        ts_config_free(*cfg);
        *cfg = NULL;
    }
    return rc;
}

/* Opens the chosen store with TS_OPEN_* flags (reading commands never
 * create or change a store); *cfg (may be NULL) receives its config. */
static int open_store(const struct cli *cli, unsigned flags, ts_store **store,
                      ts_config **cfg_out)
{
    ts_config *cfg;
    ts_error err = { 0 };
    int rc = load_config(cli, &cfg);

    if (rc != CLI_OK)
        return rc;
    rc = ts_store_open_config_flags(store, cfg, flags, &err);
    if (rc != TS_OK) {
        ts_config_free(cfg);
        cli_store_error(rc, &err);
        return CLI_STORE;
    }
    if (cfg_out)
        *cfg_out = cfg;
    else
        ts_config_free(cfg);
    return CLI_OK;
}

void cli_describe_store(ts_store *store, const ts_config *cfg, char *out, size_t size)
{
    static const char *const where_keys[] = { "path", "socket", "host" };
    ts_backend_info info = { .name = ts_config_backend(cfg) ? ts_config_backend(cfg) : "?" };
    const char *where = NULL;

    if (store)
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
            ts__json_release(o);
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
    int rc = open_store(cli, TS_OPEN_READ_ONLY, &store, NULL);

    if (rc != CLI_OK)
        return rc;
    if (cli->json)
        st.array = json_object_new_array();
    else
        st.table = cli_table_new(CLI_TOKEN_COLUMNS, cli_token_headers);
    if (!st.array && !st.table)
        rc = cli_out_of_memory();
    else if ((rc = ts_get_tokens(store, list_one, &st, &err)) != TS_OK)
        rc = cli_store_error(rc, &err);
    else if (st.array)
        cli_json_print(stdout, st.array);
    else
        cli_table_print(st.table, stdout, !cli->no_headers);
    ts__json_release(st.array);
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
            return cli_out_of_memory();
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
        return cli_out_of_memory();
    cli_json_print(stdout, o);
    ts__json_release(o);
    return CLI_OK;
}

static int cmd_get(struct cli *cli)
{
    ts_token *token;
    ts_store *store;
    ts_error err = { 0 };
    int rc = check_get_keys(cli);

    if (rc != CLI_OK || (rc = open_store(cli, TS_OPEN_READ_ONLY, &store, NULL)) != CLI_OK)
        return rc;
    if (!(token = ts_token_new())) {
        ts_store_close(store);
        return cli_out_of_memory();
    }
    rc = find_stored(store, cli, token, &err);
    if (rc == TS_NOT_FOUND) {
        report_no_match(cli);
        rc = CLI_NOT_FOUND;
    } else if (rc == TS_ERR_NOMEM && !err.message[0]) {
        rc = cli_out_of_memory();
    } else if (rc != TS_OK) {
        rc = cli_store_error(rc, &err);
    } else {
        rc = print_one_token(cli, token);
    }
    ts_token_free(token);
    ts_store_close(store);
    return rc;
}

/* ---------------------------------------------------------------- save */

/* One JSON token or an array of them from stdin. */
static int tokens_from_stdin(ts_token ***tokens, size_t *n)
{
    char why[TS_ERROR_MAX] = "";
    char *text = read_all(STDIN_FILENO);

    if (!text) {
        fprintf(stderr, "tokenstore: cannot read a JSON token from stdin (%s)\n",
                errno ? strerror(errno) : "over 1 MiB, a NUL byte or out of memory");
        return CLI_USAGE;
    }
    int rc = cli_tokens_from_json(text, tokens, n, why, sizeof why);
    cli_free_secret(text);
    if (rc != CLI_OK)
        fprintf(stderr, "tokenstore: %s\n", why);
    return rc;
}

/* The fields given as options, as a one-token list. */
static int tokens_from_flags(const struct cli *cli, ts_token ***tokens, size_t *n)
{
    if (!(*tokens = calloc(1, sizeof **tokens)) || !(**tokens = ts_token_new()))
        return cli_out_of_memory();
    *n = 1;
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        if (ts_field_is_secret((ts_field)f) && has(cli, (ts_field)f) &&
            cli_looks_masked(cli->field[f]))
            return usage_error("%s: the value is masked output, not the secret",
                               option_name(OPT_ID + f));
    return token_from_flags(cli, **tokens);
}

/* What the store would take but nobody means: a date that is not a date. */
static int check_token_values(ts_token *const *tokens, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *expiry = ts_token_get(tokens[i], TS_FIELD_EXPIRY_TIME);
        if (expiry[0] && !cli_all_digits(expiry))
            return n == 1 ? usage_error("expiry_time must be epoch milliseconds (digits "
                                        "only), e.g. 1714564800000")
                          : usage_error("token %zu: expiry_time must be epoch milliseconds "
                                        "(digits only)", i + 1);
    }
    return CLI_OK;
}

static int save_input(struct cli *cli, ts_token ***tokens, size_t *n)
{
    int from_stdin = cli->json || cli->nargs == 1;
    int has_fields = (cli->given & OPTS_FIELDS) != 0;

    if (cli->nargs == 1 && strcmp(cli->args[0], "-") != 0)
        return usage_error("save takes '-' (JSON on stdin) or field options, "
                           "not '%.64s'", cli->args[0]);
    if (from_stdin && has_fields)
        return usage_error("save takes its fields from options or from JSON on stdin, "
                           "not both");
    if (!from_stdin && !has_fields)
        return usage_error("save needs field options (--user, --refresh-token, ...) "
                           "or '-' to read a JSON token from stdin");
    int rc = from_stdin ? tokens_from_stdin(tokens, n) : tokens_from_flags(cli, tokens, n);
    return rc == CLI_OK ? check_token_values(*tokens, *n) : rc;
}

/* One token or many (an export read back): all in one ts_save_tokens, so
 * a file or sqlite store takes the whole array or none of it. */
static int cmd_save(struct cli *cli)
{
    ts_token **tokens = NULL;
    size_t n = 0;
    ts_store *store = NULL;
    ts_error err = { 0 };
    int rc = save_input(cli, &tokens, &n);

    if (rc == CLI_OK && n > 0)
        rc = open_store(cli, 0, &store, NULL);
    if (rc == CLI_OK && n > 0) {
        int code = n == 1 ? ts_save_token(store, tokens[0], &err)
                          : ts_save_tokens(store, tokens, n, &err);
        for (size_t i = 0; code == TS_OK && i < n; i++)
            printf("%s\n", ts_token_get(tokens[i], TS_FIELD_ID));
        if (code != TS_OK)
            rc = cli_store_error(code, &err);
    }
    cli_tokens_free(tokens, n);
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
    if ((rc = open_store(cli, 0, &store, NULL)) != CLI_OK)
        return rc;
    rc = ts_delete_token(store, id, &err);
    if (rc == TS_OK && !cli->quiet)
        printf("Deleted token %s.\n", id);
    if (rc == TS_NOT_FOUND && !cli->quiet)
        fprintf(stderr, "tokenstore: no token with id %s\n", id);
    if (rc != TS_OK && rc != TS_NOT_FOUND)
        cli_store_error(rc, &err);
    ts_store_close(store);
    return cli_exit_status(rc);
}

int cli_count_token(const ts_token *token, void *userdata)
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
    int rc = ts_get_tokens(store, cli_count_token, &count, &err);

    if (rc != TS_OK)
        return cli_store_error(rc, &err);
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
        return cli_store_error(rc, &err);
    if (!cli->quiet)
        printf("Deleted %zu token%s from %s.\n", count, count == 1 ? "" : "s", where);
    return CLI_OK;
}

static int cmd_clear(struct cli *cli)
{
    ts_store *store;
    ts_config *cfg;
    char where[256];
    int rc = open_store(cli, 0, &store, &cfg);

    if (rc != CLI_OK)
        return rc;
    cli_describe_store(store, cfg, where, sizeof where);
    rc = clear_store(cli, store, where);
    ts_store_close(store);
    ts_config_free(cfg);
    return rc;
}

/* ---------------------------------------------------------------- migrate */

/* The --to store: a URI or a config file, with no -o (those are the
 * source's); --quiet and --verbose apply. A dry run opens it read-only,
 * and *store stays NULL when it does not exist. */
static int open_target(const struct cli *cli, ts_store **store, ts_config **cfg)
{
    ts_error err = { 0 };
    int rc = ts_config_load(cfg, cli->to, &err);

    if (rc != TS_OK)
        return cli_store_error(rc, &err);
    cli_set_logger(*cfg, cli->quiet, cli->verbose);
    rc = ts_store_open_config_flags(store, *cfg, cli->dry_run ? TS_OPEN_READ_ONLY : 0, &err);
    if (rc == TS_ERR_NO_STORE && cli->dry_run)
        return CLI_OK;
    if (rc != TS_OK) {
        ts_config_free(*cfg);
        *cfg = NULL;
        cli_store_error(rc, &err);
        return CLI_STORE;
    }
    return CLI_OK;
}

/* The source is opened read-only: a mistyped one is "no such store", not
 * an empty store created by the attempt (see migrate.c). */
static int cmd_migrate(struct cli *cli)
{
    struct cli_migration m = { .quiet = cli->quiet, .dry_run = cli->dry_run,
                               .overwrite = cli->overwrite };
    ts_config *source_cfg = NULL, *target_cfg = NULL;
    char from[256], to[256];
    int rc;

    if (!cli->to || !cli->to[0])
        return usage_error("usage: tokenstore %s", cli->command->synopsis);
    rc = open_store(cli, TS_OPEN_READ_ONLY, &m.source, &source_cfg);
    if (rc == CLI_OK && (rc = open_target(cli, &m.target, &target_cfg)) == CLI_OK) {
        cli_describe_store(m.source, source_cfg, from, sizeof from);
        cli_describe_store(m.target, target_cfg, to, sizeof to);
        m.from = from;
        m.to = to;
        rc = cli_migrate(&m);
    }
    ts_store_close(m.target);
    ts_store_close(m.source);
    ts_config_free(target_cfg);
    ts_config_free(source_cfg);
    return rc;
}

/* ---------------------------------------------------------------- token, revoke */

/* The OAuth client of a store: settings from the config's "oauth"
 * section, then --accounts-url, then each -O in order, so the command
 * line wins. A bad setting on the command line is a usage error. */
static int open_oauth(const struct cli *cli, ts_store *store, const ts_config *cfg,
                      ts_oauth **oauth)
{
    ts_error err = { 0 };
    int rc = ts_oauth_new(oauth, store, cfg, &err);

    if (rc != TS_OK)
        return cli_store_error(rc, &err);
    if (cli->accounts_url)
        rc = ts_oauth_set(*oauth, "accounts_url", cli->accounts_url, &err);
    for (size_t i = 0; rc == TS_OK && i < cli->noauth; i++) {
        char *eq = strchr(cli->oauth[i], '=');
        *eq = '\0';
        rc = ts_oauth_set(*oauth, cli->oauth[i], eq + 1, &err);
        *eq = '=';
    }
    if (rc == TS_OK)
        return CLI_OK;
    ts_oauth_free(*oauth);
    *oauth = NULL;
    return rc == TS_ERR_NOMEM ? cli_out_of_memory() : usage_error("%s", err.message);
}

/* An OAuth failure: a timeout here is the accounts server's. */
static int oauth_error(int code, const ts_error *err)
{
    int status = cli_store_error(code, err);
    return code == TS_ERR_TIMEOUT ? CLI_OAUTH : status;
}

/* What token and revoke share: the store, its config and the client. */
struct oauth_session {
    ts_store *store;
    ts_config *cfg;
    ts_oauth *oauth;
};

static int open_session(const struct cli *cli, struct oauth_session *s)
{
    int rc = open_store(cli, TS_OPEN_MUST_EXIST, &s->store, &s->cfg);

    if (rc == CLI_OK)
        rc = open_oauth(cli, s->store, s->cfg, &s->oauth);
    return rc;
}

static void close_session(struct oauth_session *s)
{
    ts_oauth_free(s->oauth);
    ts_store_close(s->store);
    ts_config_free(s->cfg);
}

static int cmd_token(struct cli *cli)
{
    struct oauth_session s = { 0 };
    ts_error err = { 0 };
    ts_token *token;
    int rc;

    if (has(cli, TS_FIELD_ID) == has(cli, TS_FIELD_USER_NAME))
        return usage_error("token needs --user NAME or --id N (one of them)");
    if (!(token = ts_token_new()))
        return cli_out_of_memory();
    if ((rc = open_session(cli, &s)) == CLI_OK &&
        (rc = token_from_flags(cli, token)) == CLI_OK) {
        int code = ts_oauth_get_access_token(s.oauth, token, &err);
        if (code == TS_OK) {
            printf("%s\n", ts_token_get(token, TS_FIELD_ACCESS_TOKEN));
        } else if (code == TS_NOT_FOUND) {
            report_no_match(cli);
            rc = CLI_NOT_FOUND;
        } else {
            rc = oauth_error(code, &err);
        }
    }
    ts_token_free(token);
    close_session(&s);
    return rc;
}

static int cmd_revoke(struct cli *cli)
{
    struct oauth_session s = { 0 };
    const char *id = cli->field[TS_FIELD_ID];
    ts_error err = { 0 };
    int rc;

    if (!id)
        return usage_error("usage: tokenstore %s", cli->command->synopsis);
    if ((rc = open_session(cli, &s)) == CLI_OK) {
        int code = ts_oauth_revoke(s.oauth, id, &err);
        if (code == TS_OK && !cli->quiet)
            printf("Revoked token %s and deleted it.\n", id);
        if (code == TS_NOT_FOUND) {
            if (!cli->quiet)
                fprintf(stderr, "tokenstore: no token with id %s\n", id);
            rc = CLI_NOT_FOUND;
        } else if (code != TS_OK) {
            rc = oauth_error(code, &err);
        }
    }
    close_session(&s);
    return rc;
}

/* ---------------------------------------------------------------- status */

/* The options that say where a store is; a password is shown as set only. */
static const char *const location_keys[] = {
    "path", "socket", "host", "port", "db", "prefix", "table", "username", "password",
};

struct status {
    const char *source;           /* how the config was chosen */
    const char *file;             /* the config file, or NULL */
    ts_backend_info info;         /* name only when the store was not opened */
    int opened;                   /* its tokens were counted */
    int exists;                   /* 1, 0, or -1 when it could not be opened */
    size_t tokens, expired;
    int64_t now_ms;
};

static void config_source(const struct cli *cli, const ts_config *cfg, struct status *st)
{
    const char *origin = ts_config_origin(cfg);
    const char *env = getenv("TOKENSTORE_CONFIG");
    int is_file = strcmp(origin, "URI") != 0 && strcmp(origin, "default") != 0;

    st->file = is_file ? origin : NULL;
    st->source = cli->config_path ? "--config"
                 : cli->store_uri ? "--store"
                 : env && env[0] ? "$TOKENSTORE_CONFIG"
                 : is_file ? "config file" : "default";
}

static int count_expired(const ts_token *token, void *userdata)
{
    struct status *st = userdata;
    const char *expiry = ts_token_get(token, TS_FIELD_EXPIRY_TIME);

    st->tokens++;
    st->expired += cli_all_digits(expiry) && strtoll(expiry, NULL, 10) < st->now_ms;
    return TS_OK;
}

static int print_status_text(const struct status *st, const ts_config *cfg)
{
    printf("config:   %s%s%s%s\n", st->source, st->file ? " (" : "", st->file ? st->file : "",
           st->file ? ")" : "");
    printf("backend:  %s", st->info.name);
    if (st->info.version)
        printf(" %s (%s)", st->info.version, st->info.path);
    printf("\nlocation:");
    int shown_any = 0;
    for (size_t i = 0; i < sizeof location_keys / sizeof *location_keys; i++) {
        const char *value = ts_config_option(cfg, location_keys[i]);
        char *shown = value ? cli_escape(value) : NULL;
        if (shown)
            printf(" %s=%s", location_keys[i], strcmp(location_keys[i], "password") == 0
                                               ? "****" : shown);
        shown_any |= shown != NULL;
        free(shown);
    }
    if (!shown_any)
        printf(" none (this process's memory)");
    if (st->opened)
        printf("\ntokens:   %zu (%zu expired)\n", st->tokens, st->expired);
    else
        printf("\ntokens:   unknown, %s\n", st->exists == 0 ? "the store does not exist"
                                                         : "the store could not be read");
    return CLI_OK;
}

static int print_status_json(const struct status *st, const ts_config *cfg)
{
    json_object *o = json_object_new_object(), *loc = json_object_new_object();
    json_object *config = json_object_new_object(), *backend = json_object_new_object();

    if (!o || !loc || !config || !backend) {
        json_object_put(o);
        json_object_put(loc);
        json_object_put(config);
        json_object_put(backend);
        return cli_out_of_memory();
    }
    json_object_object_add(config, "source", json_object_new_string(st->source));
    json_object_object_add(config, "file", st->file ? json_object_new_string(st->file) : NULL);
    json_object_object_add(o, "config", config);
    json_object_object_add(backend, "name", json_object_new_string(st->info.name));
    if (st->info.version) {
        json_object_object_add(backend, "version", json_object_new_string(st->info.version));
        json_object_object_add(backend, "path", json_object_new_string(st->info.path));
    }
    json_object_object_add(o, "backend", backend);
    for (size_t i = 0; i < sizeof location_keys / sizeof *location_keys; i++) {
        const char *value = ts_config_option(cfg, location_keys[i]);
        if (value)
            json_object_object_add(loc, location_keys[i], json_object_new_string(
                strcmp(location_keys[i], "password") == 0 ? "****" : value));
    }
    json_object_object_add(o, "location", loc);
    json_object_object_add(o, "exists",
                           st->exists < 0 ? NULL : json_object_new_boolean(st->exists));
    json_object_object_add(o, "tokens",
                           st->opened ? json_object_new_int64((int64_t)st->tokens) : NULL);
    json_object_object_add(o, "expired",
                           st->opened ? json_object_new_int64((int64_t)st->expired) : NULL);
    cli_json_print(stdout, o);
    json_object_put(o);
    return CLI_OK;
}

/* Opens the store read-only: looking never creates or changes it. */
static int cmd_status(struct cli *cli)
{
    struct status st = { .now_ms = (int64_t)time(NULL) * 1000 };
    ts_config *cfg;
    ts_store *store = NULL;
    ts_error err = { 0 };
    int rc = load_config(cli, &cfg);

    if (rc != CLI_OK)
        return rc;
    config_source(cli, cfg, &st);
    st.info.name = ts_config_backend(cfg) ? ts_config_backend(cfg) : "?";
    int code = ts_store_open_config_flags(&store, cfg, TS_OPEN_READ_ONLY, &err);
    st.exists = code == TS_OK ? 1 : code == TS_ERR_NO_STORE ? 0 : -1;
    if (code == TS_OK) {
        ts_store_info(store, &st.info);
        code = ts_get_tokens(store, count_expired, &st, &err);
        st.opened = code == TS_OK;
    }
    /* What is known is shown even when the store cannot be read: where it
     * was looked for is what the user needs then. */
    rc = cli->json ? print_status_json(&st, cfg) : print_status_text(&st, cfg);
    if (code != TS_OK)
        rc = cli_store_error(code, &err);
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
        rc = cli_out_of_memory();
    else if ((rc = ts_backends_list(cfg, backend_one, backend_broken, &st, &err)) != TS_OK)
        rc = err.message[0] ? cli_store_error(rc, &err) : cli_out_of_memory();
    else if (st.found == 0) {
        fprintf(stderr, "tokenstore: no backends found (search path: plugin_dir of the "
                "config, $TOKENSTORE_PLUGIN_PATH, %s)\n", ts_plugin_dir());
        rc = CLI_NOT_FOUND;
    } else if (st.array)
        cli_json_print(stdout, st.array);
    else
        cli_table_print(st.table, stdout, !cli->no_headers);
    json_object_put(st.array);
    cli_table_free(st.table);
    ts_config_free(cfg);
    return rc;
}

/* ---------------------------------------------------------------- check-backend */

/* Whether -o sets the store's location: a path, or a key prefix in a
 * Redis server the other options name. */
static int names_location(const struct cli *cli)
{
    for (size_t i = 0; i < cli->noptions; i++)
        if (strncmp(cli->options[i], "path=", 5) == 0 ||
            strncmp(cli->options[i], "prefix=", 7) == 0)
            return 1;
    return 0;
}

static int cmd_check_backend(struct cli *cli)
{
    const char *arg = cli->args[0];
    struct cli_check check = {
        .backend = arg, .options = cli->options, .noptions = cli->noptions,
        .force = cli->force, .quiet = cli->quiet, .verbose = cli->verbose,
    };
    char *spec = NULL;

    /* "sqlite:/tmp/x.db" is a URI; "memory.so" would read as a (bad)
     * backend name: it means ./memory.so. */
    size_t len = strlen(arg);
    check.is_uri = strcspn(arg, ":") < strcspn(arg, "/");
    if (!check.is_uri && !strchr(arg, '/') && len > 3 && strcmp(arg + len - 3, ".so") == 0) {
        if (asprintf(&spec, "./%s", arg) < 0)
            return cli_out_of_memory();
        check.backend = spec;
    }
    check.named = check.is_uri || names_location(cli);
    int rc = cli_check_backend(&check);
    free(spec);
    return rc;
}

/* ---------------------------------------------------------------- help */

static int cmd_help(struct cli *cli)
{
    const struct command *cmd = cli->nargs ? find_command(cli->args[0]) : NULL;

    if (cli->nargs && !cmd)
        return unknown_command(cli->args[0]);
    if (cmd)
        print_command_help(cmd, stdout);
    else
        print_help(stdout);
    return CLI_OK;
}

static const struct command commands[] = {
    { "list", cmd_list, OPTS_GLOBAL | BIT(OPT_JSON) | BIT(OPT_NO_HEADERS), 0, 0,
      "list [--json | --no-headers]",
      "list every token",
      "Prints a table of every token: id, user_name, client_id, expiry_time as\n"
      "an ISO-8601 UTC date (marked \"(expired)\" once past) and in\n"
      "milliseconds, api_domain and the secrets (masked); --no-headers leaves\n"
      "out the header line, for scripts. --json prints an array of objects with\n"
      "the SDK's ten fields and \"expired\" (true or false); without\n"
      "--show-secrets each secret that has a value is left out and named\n"
      "in \"masked\". The store is opened read-only: one that does not exist is\n"
      "an error (exit status 3), never created.\n" },
    { "get", cmd_get, OPTS_GLOBAL | BIT(OPT_JSON) | OPTS_KEYS, 0, 0,
      "get (--id N | --user NAME | --access-token TOKEN) [--json]\n"
      "       tokenstore get (--grant-token | --refresh-token) TOKEN\n"
      "                      --client-id ID --client-secret SECRET [--json]",
      "show one token",
      "Finds a token by id, or by the SDK's key: user_name; else access_token\n"
      "(without client credentials); else grant_token or refresh_token (with\n"
      "both --client-id and --client-secret); the lowest id when several match.\n"
      "Prints `field: value` lines, or a JSON object with --json (secrets left\n"
      "out and named in \"masked\", unless --show-secrets). Exit status 1 when no\n"
      "token matches, 3 when the store does not exist (it is opened read-only).\n" },
    { "save", cmd_save, OPTS_GLOBAL | BIT(OPT_JSON) | OPTS_FIELDS, 0, 1,
      "save FIELD-OPTIONS | save - | save --json",
      "store a token and print its id",
      "Fields come from options (--id, --user, --client-id, --client-secret,\n"
      "--refresh-token, --access-token, --grant-token, --expiry-time MS,\n"
      "--redirect-url, --api-domain) or from a JSON object on stdin ('-' or\n"
      "--json) with the SDK's field names, e.g.\n"
      "  {\"user_name\": \"a@b.com\", \"refresh_token\": \"1000.x\", \"expiry_time\": \"1714564800000\"}\n"
      "or an array of them (list --json --show-secrets), saved together (one\n"
      "transaction or file write on sqlite and file), their ids printed one per\n"
      "line. A \"masked\" key (get --json) is ignored, so the left-out secrets\n"
      "keep their stored values; a secret whose value looks like masked output\n"
      "(\"1000...(70)\", \"****\") is refused.\n"
      "The SDK's save_token rule applies: the token replaces the stored one with\n"
      "the same id, else the same key, else it is added with the next id; a\n"
      "save that would give one user two rows is refused (exit status 5).\n"
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
    { "migrate", cmd_migrate,
      OPTS_GLOBAL | BIT(OPT_TO) | BIT(OPT_DRY_RUN) | BIT(OPT_OVERWRITE), 0, 0,
      "migrate --to URI|CONFIG [--dry-run] [--overwrite]",
      "copy every token to another store, keeping ids",
      "Copies every token of the store (--config, --store) to the store named by\n"
      "--to, a URI or a JSON config file, keeping each token's id. First every\n"
      "token is checked against the target: a target holding a different token\n"
      "under the same id, or the same user (or refresh, grant or access token)\n"
      "under another id, is a conflict; conflicts are listed and nothing is\n"
      "copied (exit status 5). Tokens the target already holds unchanged are\n"
      "skipped, so running it again is harmless. A target token whose\n"
      "expiry_time is later than the source's (refreshed since) is kept and\n"
      "reported; --overwrite replaces it. The rest are saved in batches of\n"
      "1000, then the target is read back to verify every token. Fields a\n"
      "source token leaves empty keep the target's value.\n"
      "--dry-run prints, token by token, what would be added, updated, left as\n"
      "it is (same), kept, or refused, and writes nothing: the target is opened\n"
      "read-only and not created. Its exit status is the one the migration\n"
      "would have.\n"
      "The source is opened read-only: one that does not exist is an error\n"
      "(exit status 3). -o options apply to the source; give the target's in\n"
      "its URI (sqlite:/path?busy_timeout_ms=9000) or config. A progress bar is\n"
      "drawn on stderr when it is a terminal and the store holds 1000 tokens or\n"
      "more.\n" },
    { "token", cmd_token, OPTS_GLOBAL | BIT(OPT_ID) | BIT(OPT_USER) | OPTS_OAUTH, 0, 0,
      "token (--user NAME | --id N) [--accounts-url URL] [-O KEY=VALUE ...]",
      "print a valid access token, refreshing it when needed",
      "Prints the access token of the token of user NAME (or id N) on stdout,\n"
      "alone, for scripts:\n"
      "  curl -H \"Authorization: Zoho-oauthtoken $(tokenstore token --user me@x.com)\" ...\n"
      "When the stored access token is missing or expires within 5 seconds, it\n"
      "is refreshed at the Zoho accounts server with the refresh token (or a\n"
      "stored grant token is exchanged) and the new one is saved; processes\n"
      "sharing the store send one request between them. OAuth settings come\n"
      "from the \"oauth\" section of the config file, then --accounts-url URL,\n"
      "then -O/--oauth KEY=VALUE (repeatable): data_center (US, EU, IN, CN, JP,\n"
      "AU, CA, SA), accounts_url, client_id, client_secret, redirect_url,\n"
      "connect_timeout_ms, timeout_ms, retries, retry_base_ms, retry_max_ms.\n"
      "client_id and client_secret are used when the stored token has none.\n"
      "Exit status 1 when no token matches, 2 when it has no refresh or grant\n"
      "token or no client credentials are known, 6 when the accounts server\n"
      "refused, failed or did not answer.\n" },
    { "revoke", cmd_revoke, OPTS_GLOBAL | BIT(OPT_ID) | OPTS_OAUTH, 0, 0,
      "revoke --id N [--accounts-url URL] [-O KEY=VALUE ...]",
      "revoke a token at the accounts server and delete it",
      "Revokes the refresh token of the token with id N at the Zoho accounts\n"
      "server and, once the server agrees, deletes the token from the store.\n"
      "OAuth settings as for 'token'. Exit status 1 when there is no such\n"
      "token, 2 when it has no refresh token, 6 when the server refused or\n"
      "failed (the token is then kept).\n" },
    { "status", cmd_status, OPTS_GLOBAL | BIT(OPT_JSON), 0, 0,
      "status [--json]",
      "show which store is in use and what it holds",
      "Prints where the configuration came from (--config, --store,\n"
      "$TOKENSTORE_CONFIG, a config file, or the default store), the backend,\n"
      "its version and .so, the store's location options (a password only as\n"
      "****), and how many tokens it holds and how many of them have expired\n"
      "(expiry_time before now). --json prints the same as one object. The\n"
      "store is opened read-only; a store that does not exist is reported\n"
      "(exit status 3) and not created.\n" },
    { "backends", cmd_backends, OPTS_GLOBAL | BIT(OPT_JSON) | BIT(OPT_NO_HEADERS), 0, 0,
      "backends [--json | --no-headers]",
      "list the backends found",
      "Lists every backend found in the search path (the config's plugin_dir,\n"
      "$TOKENSTORE_PLUGIN_PATH, the installed plugin directory): name, version,\n"
      "ABI, capabilities and path. Files that fail to load are reported on\n"
      "stderr.\n" },
    { "check-backend", cmd_check_backend,
      BIT(OPT_OPTION) | BIT(OPT_QUIET) | BIT(OPT_VERBOSE) | BIT(OPT_FORCE) | BIT(OPT_HELP) |
      BIT(OPT_VERSION), 1, 1,
      "check-backend (PATH | URI) [-o KEY=VALUE ...] [--force]",
      "run the conformance suite on a backend",
      "Runs the conformance suite against the backend PATH (a .so path or a\n"
      "backend name) with the given backend options, printing TAP on stdout.\n"
      "The suite deletes every token of its store again and again, so it never\n"
      "runs on data it did not create. Without a location (no -o path=, no\n"
      "-o prefix=, no URI) it runs on a scratch store it makes: a new temporary\n"
      "directory (-o path=DIR/store) for a backend with a path option, a new\n"
      "random key prefix for redis (on the server -o host/port/socket/db name),\n"
      "and removes it at the end, whatever the outcome (interrupted too).\n"
      "Given a location, or a URI such as sqlite:/tmp/x.db, it runs there only\n"
      "when that store holds no tokens (or does not exist yet), and empties it\n"
      "at the end; a store holding tokens is refused (exit status 2). --force\n"
      "runs anyway and DESTROYS every token of that store. Exit status 0 when\n"
      "every check passed, 4 when some failed, 3 when the backend could not be\n"
      "loaded or opened.\n" },
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

static const char *nearest_command(const char *word)
{
    const char *best = NULL;
    size_t distance = SIZE_MAX;

    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        consider(word, strlen(word), commands[i].name, &best, &distance);
    return best;
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
          "  --config FILE        use the store of a JSON config file ('-': stdin)\n"
          "  --store URI          use the store at URI: memory:, file:/path/tokens.csv,\n"
          "                       sqlite:/path/tokens.db, redis://host:port/db, ...\n"
          "  -o, --option KEY=VALUE  set an option of the backend (repeatable)\n"
          "  -q, --quiet          no status messages or backend warnings\n"
          "  -v, --verbose        log the library's steps (OAuth requests, HTTP status,\n"
          "                       retries and waits) on stderr; never a secret\n"
          "  --show-secrets       print secrets in full (they are masked: \"1000...(70)\")\n"
          "  -h, --help           show help; 'tokenstore COMMAND --help' for a command\n"
          "  -V, --version        print the version\n"
          "\nWithout --config or --store the store is read from $TOKENSTORE_CONFIG, else\n"
          "$XDG_CONFIG_HOME/tokenstore/config.json, else %s/tokenstore/config.json,\n"
          "else it is sqlite at $XDG_DATA_HOME/tokenstore/zohooauth.db.\n"
          "\nExit status:\n"
          "  0  success\n"
          "  1  not found: no token matched (get, delete, token, revoke)\n"
          "  2  usage error, a token or id the store refuses as invalid, or a\n"
          "     refusal to destroy tokens (clear, check-backend)\n"
          "  3  store, backend or configuration error; a store that does not exist\n"
          "     for a command that only reads (list, get, status, migrate's source)\n"
          "  4  check-backend: some conformance checks failed\n"
          "  5  conflict: one user would get two rows (save), or the target holds\n"
          "     other tokens under the same ids or keys (migrate)\n"
          "  6  token, revoke: the accounts server refused, failed or timed out\n"
          "\nSee tokenstore(1) for more.\n", TS_SYSCONFDIR);
}

static void print_command_help(const struct command *cmd, FILE *out)
{
    fprintf(out, "Usage: tokenstore %s\n\n%s", cmd->synopsis, cmd->help);
    if (cmd->options & BIT(OPT_STORE))
        fputs("\nGlobal options: --config FILE, --store URI, -o KEY=VALUE, --quiet,\n"
              "--verbose, --show-secrets (see 'tokenstore --help').\n", out);
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
    int rc;

    cli_choose_charset();
    rc = parse_command_line(&cli, argc, argv);

    if (rc == CLI_OK)
        rc = run(&cli);
    free_cli(&cli);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "tokenstore: cannot write the output: %s\n", strerror(errno));
        rc = rc == CLI_OK ? CLI_STORE : rc;
    }
    return rc;
}
