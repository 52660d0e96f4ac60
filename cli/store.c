/*
 * cli/store.c - how a command finds its store: the config that --config
 * (a file, or "-" for standard input), --store (a URI) or the lookup
 * chain names, with -o, --quiet and --verbose on top; and how the
 * library's result codes become messages and exit statuses.
 *
 * Every command that loads a config checks its "oauth" section too, so a
 * mistake there is found when the config is first used, not months later
 * when a token first needs refreshing. A config file that holds a secret
 * and that others may read gets a warning, as a token file would.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "cli.h"

#define MAX_STDIN_BYTES (1024 * 1024)

/* ---------------------------------------------------------------- errors */

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
    if (code == TS_ERR_OAUTH || code == TS_ERR_HTTP || code == TS_ERR_BACKOFF)
        return CLI_OAUTH;
    return CLI_STORE;   /* TS_ERR_NO_STORE and TS_ERR_READ_ONLY among them */
}

int cli_store_error(int code, const ts_error *err)
{
    fprintf(stderr, "tokenstore: %s\n",
            err->message[0] ? err->message : ts_strerror(code));
    return cli_exit_status(code);
}

int cli_count_token(const ts_token *token, void *userdata)
{
    (void)token;
    ++*(size_t *)userdata;
    return TS_OK;
}

/* ---------------------------------------------------------------- configs */

/* The library's log lines; it never logs a secret. */
static void log_to_stderr(void *userdata, int level, const char *message)
{
    (void)userdata;
    (void)level;
    fprintf(stderr, "tokenstore: %s\n", message);
}

void cli_set_default_logger(int quiet, int verbose)
{
    ts_set_default_logger(log_to_stderr, NULL,
                          quiet ? TS_LOG_ERROR : verbose ? TS_LOG_DEBUG : TS_LOG_WARN);
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

char *cli_read_all(int fd)
{
    char *text;
    size_t len;
    int e = ts__json_read(fd, MAX_STDIN_BYTES, &text, &len);

    if (e == 0 && strlen(text) == len)
        return text;
    if (e == 0) {                       /* a NUL byte: wipe past it too */
        explicit_bzero(text, len);
        free(text);
    }
    errno = e == EFBIG || e == ENOMEM ? 0 : e;
    return NULL;
}

/* --config -: the config is JSON on standard input. */
static int config_from_stdin(ts_config **cfg, ts_error *err)
{
    char *text = cli_read_all(STDIN_FILENO);
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
static int check_oauth_section(const ts_config *cfg, ts_error *err)
{
    ts_oauth *oauth;
    int rc = ts_oauth_new(&oauth, NULL, cfg, err);

    if (rc == TS_OK)
        ts_oauth_free(oauth);
    return rc;
}

int cli_try_load_config(const struct cli *cli, ts_config **cfg, ts_error *err)
{
    char *spec = NULL;
    int rc;

    *cfg = NULL;
    if (cli->config_path && strcmp(cli->config_path, "-") == 0) {
        rc = config_from_stdin(cfg, err);
    } else {
        if (cli->config_path && !(spec = config_file_spec(cli->config_path))) {
            snprintf(err->message, sizeof err->message, "out of memory");
            return err->code = TS_ERR_NOMEM;
        }
        rc = ts_config_load(cfg, spec ? spec : cli->store_uri, err);
        free(spec);
    }
    if (rc == TS_OK)
        rc = check_oauth_section(*cfg, err);
    if (rc == TS_OK)
        rc = cli_apply_options(*cfg, cli->options, cli->noptions, err);
    if (rc != TS_OK) {
        ts_config_free(*cfg);
        *cfg = NULL;
        return rc;
    }
    cli_set_logger(*cfg, cli->quiet, cli->verbose);
    return TS_OK;
}

int cli_load_config(const struct cli *cli, ts_config **cfg)
{
    ts_error err = { 0 };
    int rc = cli_try_load_config(cli, cfg, &err);

    return rc == TS_OK ? CLI_OK : cli_store_error(rc, &err);
}

void cli_suggest_backend(const ts_config *cfg, int code)
{
    char guess[96];

    if (code == TS_ERR_LOAD && cli_backend_guess(cfg, guess, sizeof guess) == 0)
        fprintf(stderr, "tokenstore: did you mean %s?\n", guess);
}

int cli_open_store(const struct cli *cli, unsigned flags, ts_store **store,
                   ts_config **cfg_out)
{
    ts_config *cfg;
    ts_error err = { 0 };
    int rc = cli_load_config(cli, &cfg);

    if (rc != CLI_OK)
        return rc;
    rc = ts_store_open_config_flags(store, cfg, flags, &err);
    if (rc != TS_OK) {
        cli_store_error(rc, &err);
        cli_suggest_backend(cfg, rc);
        ts_config_free(cfg);
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
