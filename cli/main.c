/*
 * cli/main.c - the tokenstore command: inspect, edit, migrate and check
 * token stores, and get access tokens, from a shell.
 *
 * This file is the table of commands and the dispatch through it: the
 * command line is read by options.c, each command's row (its options,
 * arguments and help) is defined beside its code in a cmd_*.c file, and
 * here the row is checked against what was given before the command runs.
 * --help and --version are answered here too.
 */
#include "config.h"
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <tokenstore/backend.h>   /* TS_ABI_MAJOR/MINOR for --version */
#include "cli.h"
#include "ts_paths.h"

static void print_help(FILE *out);
static void print_command_help(const struct cli_command *cmd, FILE *out);

/* ---------------------------------------------------------------- help */

static int cmd_help(struct cli *cli)
{
    const struct cli_command *cmd = cli->nargs ? cli_find_command(cli->args[0]) : NULL;

    if (cli->nargs && !cmd)
        return cli_unknown_command(cli->args[0]);
    if (cmd)
        print_command_help(cmd, stdout);
    else
        print_help(stdout);
    return CLI_OK;
}

static const struct cli_command cli_cmd_help = {
    "help", cmd_help, BIT(OPT_HELP) | BIT(OPT_VERSION), 0, 1,
    "help [COMMAND]",
    "show help",
    "Shows the list of commands, or the help of one command.\n",
};

/* The one table: every command, in the order --help lists them. */
const struct cli_command *const cli_commands[] = {
    &cli_cmd_list, &cli_cmd_get, &cli_cmd_save, &cli_cmd_delete, &cli_cmd_clear,
    &cli_cmd_migrate, &cli_cmd_rotate_secret, &cli_cmd_token, &cli_cmd_revoke,
    &cli_cmd_refreshes, &cli_cmd_status, &cli_cmd_doctor, &cli_cmd_backends,
    &cli_cmd_check_backend, &cli_cmd_keygen, &cli_cmd_rekey, &cli_cmd_help, NULL,
};

static void print_help(FILE *out)
{
    fputs("Usage: tokenstore [OPTIONS] COMMAND [ARGS]\n\n"
          "Inspect and edit the OAuth tokens a Zoho CRM SDK application keeps in a\n"
          "tokenstore backend, and check backends.\n\nCommands:\n", out);
    for (size_t i = 0; cli_commands[i]; i++)
        fprintf(out, "  %-15s %s\n", cli_commands[i]->name, cli_commands[i]->summary);
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
          "  1  not found: no token matched (get, delete, token, revoke, rotate-secret)\n"
          "  2  usage error, a token or id the store refuses as invalid, or a\n"
          "     refusal to destroy tokens (clear, check-backend)\n"
          "  3  store, backend or configuration error; a store that does not exist\n"
          "     for a command that only reads (list, get, status, migrate's source)\n"
          "  4  check-backend: some conformance checks failed\n"
          "  5  conflict: one user would get two rows (save), or the target holds\n"
          "     other tokens under the same ids or keys (migrate)\n"
          "  6  token, revoke: the accounts server refused, failed or timed out\n"
          "doctor exits 0 when it found nothing wrong, 1 for warnings, 2 for errors.\n"
          "\nSee tokenstore(1) for more.\n", TS_SYSCONFDIR);
}

static void print_command_help(const struct cli_command *cmd, FILE *out)
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

/* Refuses options the command does not take and a wrong argument count. */
static int check_usage(const struct cli *cli)
{
    const struct cli_command *cmd = cli->command;
    uint64_t extra = cli->given & ~cmd->options;

    for (int opt = 0; opt < OPT_COUNT; opt++)
        if (extra & BIT(opt))
            return cli_usage_error("'%s' does not take %s", cmd->name, cli_option_name(opt));
    if (cli->nargs < cmd->min_args || cli->nargs > cmd->max_args)
        return cli_usage_error("usage: tokenstore %s", cmd->synopsis);
    if (cli->config_path && cli->store_uri)
        return cli_usage_error("give --config or --store, not both");
    if (cli->quiet && cli->verbose)
        return cli_usage_error("give --quiet or --verbose, not both");
    if (cli->config_path && strcmp(cli->config_path, "-") == 0 &&
        (cli->secret_from_stdin || (strcmp(cmd->name, "save") == 0 && cli->nargs == 1 &&
                                    strcmp(cli->args[0], "-") == 0)))
        return cli_usage_error("--config - reads standard input: give the token's values "
                               "another way");
    if (cli->store_uri && !strchr(cli->store_uri, ':'))
        return cli_usage_error("--store takes a URI such as sqlite:/path/tokens.db or memory:; "
                               "use --config for a config file");
    return CLI_OK;
}

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
    rc = cli_parse(&cli, cli_commands, argc, argv);
    cli_set_default_logger(cli.quiet, cli.verbose);
    if (rc == CLI_OK)
        rc = run(&cli);
    cli_free(&cli);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "tokenstore: cannot write the output: %s\n", strerror(errno));
        rc = rc == CLI_OK ? CLI_STORE : rc;
    }
    return rc;
}
