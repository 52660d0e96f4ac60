/*
 * cli/options.c - reading the tokenstore command line.
 *
 * Shaped like git's and curl's small tools: one table of options, read in
 * a single getopt_long pass in "return in order" mode, so options may come
 * before or after the command (`tokenstore --store memory: list` and
 * `tokenstore list --store memory:` are the same); main.c then checks the
 * command's row in its table for which options it accepts. A misspelt
 * command or option gets a "did you mean".
 *
 * Secrets given as flags are copied out of argv and wiped there at once,
 * which shortens the time they are readable in /proc/PID/cmdline; the
 * copies are wiped before they are freed. A secret option given as "-"
 * reads its value from standard input instead. Error messages name
 * options, never a secret's value.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

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
    { "differential", required_argument, NULL, OPT_CODE(OPT_DIFFERENTIAL) },
    { "seed", required_argument, NULL, OPT_CODE(OPT_SEED) },
    { "since", required_argument, NULL, OPT_CODE(OPT_SINCE) },
    { "expiring-within", required_argument, NULL, OPT_CODE(OPT_EXPIRING_WITHIN) },
    { "expired", no_argument, NULL, OPT_CODE(OPT_EXPIRED) },
    { "sort", required_argument, NULL, OPT_CODE(OPT_SORT) },
    { "user-like", required_argument, NULL, OPT_CODE(OPT_USER_LIKE) },
    { "read-only", no_argument, NULL, OPT_CODE(OPT_READ_ONLY) },
    { "schemes", no_argument, NULL, OPT_CODE(OPT_SCHEMES) },
    { NULL, 0, NULL, 0 },
};

/* "-" first: non-options come back in order (as code 1), whatever
 * POSIXLY_CORRECT says; ":" next: a missing value is reported as ':'. */
static const char short_options[] = "-:o:O:qvhVy";

/* ---------------------------------------------------------------- errors */

/* The command on the line, once known: its usage errors point at its own
 * help, which lists what it takes, rather than at the long general one. */
static const char *usage_command;

int cli_usage_error(const char *fmt, ...)
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

/* ---------------------------------------------------------------- did you mean */

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

/* The command table cli_parse was given (main.c's). */
static const struct cli_command *const *commands;

const struct cli_command *cli_find_command(const char *name)
{
    for (size_t i = 0; commands && commands[i]; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

static const char *nearest_command(const char *word)
{
    const char *best = NULL;
    size_t distance = SIZE_MAX;

    for (size_t i = 0; commands && commands[i]; i++)
        consider(word, strlen(word), commands[i]->name, &best, &distance);
    return best;
}

const char *cli_nearest_word(const char *word, const char *const *candidates, size_t n)
{
    const char *best = NULL;
    size_t distance = SIZE_MAX;

    for (size_t i = 0; i < n; i++)
        if (strcmp(word, candidates[i]) != 0)
            consider(word, strlen(word), candidates[i], &best, &distance);
    return best;
}

/* ---------------------------------------------------------------- parsing */

/* "--user" for OPT_USER; "-o" for the one option known by its short name. */
const char *cli_option_name(int opt)
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
        return cli_usage_error("%s", usage);
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
        return cli_usage_error("%s -: %s", option,
                               n == MAX_SECRET ? "the line on standard input is too long"
                                               : "standard input holds no value for it");
    }
    line[n] = '\0';
    cli_free_secret(*slot);
    *slot = line;
    return CLI_OK;
}

/* A decimal number from min to max, nothing else. */
static int parse_count(const char *arg, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!cli_all_digits(arg) || strlen(arg) > 19)
        return CLI_USAGE;
    *out = strtoull(arg, NULL, 10);
    return *out >= min && *out <= max ? CLI_OK : CLI_USAGE;
}

/* list --sort: id, user or expiry. */
static int set_sort(struct cli *cli, const char *arg)
{
    static const char *const keys[] = { "id", "user", "expiry" };

    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (strcmp(arg, keys[i]) == 0) {
            cli->sort = (int)i;
            return CLI_OK;
        }
    const char *guess = cli_nearest_word(arg, keys, sizeof keys / sizeof *keys);
    return cli_usage_error("--sort takes id, user or expiry, not '%.40s'%s%s%s", arg,
                           guess ? "; did you mean '" : "", guess ? guess : "", guess ? "'?" : "");
}

static int record_option(struct cli *cli, int opt, char *arg)
{
    cli->given |= BIT(opt);
    switch (opt) {
    case OPT_CONFIG: return set_string_option(&cli->config_path, arg, 0);
    case OPT_STORE: return set_string_option(&cli->store_uri, arg, 1);
    case OPT_OPTION:
        if (strcmp(arg, "json") == 0)   /* kubectl's and gh's habit */
            return cli_usage_error("-o takes KEY=VALUE (a backend option); "
                                   "for JSON output use --json");
        return add_key_value(&cli->options, &cli->noptions, arg, "-o takes KEY=VALUE "
                             "(a backend option), e.g. -o path=/tmp/tokens.db");
    case OPT_OAUTH:
        return add_key_value(&cli->oauth, &cli->noauth, arg, "-O takes KEY=VALUE "
                             "(an OAuth setting), e.g. -O data_center=EU");
    case OPT_TO: return set_string_option(&cli->to, arg, 1);
    case OPT_SINCE: return set_string_option(&cli->since, arg, 0);
    case OPT_ACCOUNTS_URL: return set_string_option(&cli->accounts_url, arg, 0);
    case OPT_QUIET: cli->quiet = 1; return CLI_OK;
    case OPT_VERBOSE: cli->verbose = 1; return CLI_OK;
    case OPT_FORCE: cli->force = 1; return CLI_OK;
    case OPT_DRY_RUN: cli->dry_run = 1; return CLI_OK;
    case OPT_OVERWRITE: cli->overwrite = 1; return CLI_OK;
    case OPT_NO_HEADERS: cli->no_headers = 1; return CLI_OK;
    case OPT_DIFFERENTIAL: {
        uint64_t n;
        if (parse_count(arg, 1, 1000000, &n) != CLI_OK)
            return cli_usage_error("--differential takes a number of sequences from 1 to "
                                   "1000000, not '%.40s'", arg);
        cli->differential = (unsigned)n;
        return CLI_OK;
    }
    case OPT_SEED:
        if (parse_count(arg, 1, UINT64_MAX / 2, &cli->seed) != CLI_OK)
            return cli_usage_error("--seed takes a positive whole number, not '%.40s'", arg);
        return CLI_OK;
    case OPT_EXPIRING_WITHIN:
        if (cli_parse_duration(arg, &cli->expiring_within_ms) != 0 || cli->expiring_within_ms == 0)
            return cli_usage_error("--expiring-within takes a duration such as 30s, 10m, 2h "
                                   "or 1d, not '%.40s'", arg);
        return CLI_OK;
    case OPT_EXPIRED: cli->expired = 1; return CLI_OK;
    case OPT_SORT: return set_sort(cli, arg);
    case OPT_USER_LIKE: return set_string_option(&cli->user_like, arg, 0);
    case OPT_READ_ONLY: cli->read_only = 1; return CLI_OK;
    case OPT_SCHEMES: cli->schemes = 1; return CLI_OK;
    case OPT_SHOW_SECRETS: cli->show_secrets = 1; return CLI_OK;
    case OPT_JSON: cli->json = 1; return CLI_OK;
    case OPT_YES: cli->yes = 1; return CLI_OK;
    case OPT_VERSION:
    case OPT_HELP: return CLI_OK;
    default: {
        ts_field field = (ts_field)(opt - OPT_ID);
        if (ts_field_is_secret(field) && strcmp(arg, "-") == 0) {
            cli->secret_from_stdin = 1;
            return secret_from_stdin(&cli->field[field], cli_option_name(opt));
        }
        return set_string_option(&cli->field[field], arg, ts_field_is_secret(field));
    }
    }
}

int cli_unknown_command(const char *word)
{
    const char *guess = nearest_command(word);

    usage_command = NULL;
    return guess ? cli_usage_error("unknown command '%.64s'; did you mean '%s'?", word, guess)
                 : cli_usage_error("unknown command '%.64s'", word);
}

static int add_argument(struct cli *cli, char *arg)
{
    if (!cli->command) {
        cli->command = cli_find_command(arg);
        if (!cli->command)
            return cli_unknown_command(arg);
        usage_command = cli->command->name;
        return CLI_OK;
    }
    if (cli->nargs == (int)(sizeof cli->args / sizeof cli->args[0]))
        return cli_usage_error("too many arguments for '%s'", cli->command->name);
    /* A URI's user info may hold a password (check-backend URI). */
    if (!(cli->args[cli->nargs] = take_value(arg, strchr(arg, '@') != NULL)))
        return cli_out_of_memory();
    cli->nargs++;
    return CLI_OK;
}

/* An unknown option as the user typed it, without any "=value" part
 * (the value of a misspelt --client-secret=... is a secret). */
static int unknown_option(char *const argv[], int index)
{
    const char *arg = argv[index - 1];
    int len = (int)strcspn(arg, "=");

    if (optopt && optopt != '?')
        return cli_usage_error("unknown option '-%c'", optopt);
    const char *guess = strncmp(arg, "--", 2) == 0 ? nearest_option(arg + 2, (size_t)len - 2)
                                                    : NULL;
    if (guess)
        return cli_usage_error("unknown option '%.*s'; did you mean '--%s'?",
                               len > 64 ? 64 : len, arg, guess);
    return cli_usage_error("unknown option '%.*s'", len > 64 ? 64 : len, arg);
}

int cli_parse(struct cli *cli, const struct cli_command *const *table, int argc, char *argv[])
{
    int c, rc = CLI_OK;

    commands = table;
    opterr = 0;
    while (rc == CLI_OK && (c = getopt_long(argc, argv, short_options, long_options, NULL)) != -1) {
        if (c == 1)
            rc = add_argument(cli, optarg);
        else if (c == '?')
            rc = unknown_option(argv, optind);
        else if (c == ':')
            rc = cli_usage_error("option '%s' needs a value",
                                 optopt ? cli_option_name(option_from_code(optopt))
                                        : argv[optind - 1]);
        else
            rc = record_option(cli, option_from_code(c), optarg);
    }
    while (rc == CLI_OK && optind < argc)      /* after "--" */
        rc = add_argument(cli, argv[optind++]);
    return rc;
}

void cli_free(struct cli *cli)
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
    cli_free_secret(cli->since);
    cli_free_secret(cli->user_like);
    cli_free_secret(cli->accounts_url);
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        cli_free_secret(cli->field[f]);
    for (int i = 0; i < cli->nargs; i++)
        cli_free_secret(cli->args[i]);
}

