/*
 * cli/cmd_oauth.c - `tokenstore token` and `tokenstore revoke`: the
 * library's OAuth client from a shell.
 *
 * Both are thin over ts_oauth_get_access_token() and ts_oauth_revoke():
 * what they add is where the client's settings come from (the config's
 * "oauth" section, then --accounts-url, then each -O, so the command line
 * wins) and which exit status a failure gets (6 for the accounts server's
 * refusals and silences). The access token is printed alone on stdout so
 * that scripts can use $(tokenstore token --user ...).
 */
#include <stdlib.h>
#include <string.h>
#include "cli.h"

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
    return rc == TS_ERR_NOMEM ? cli_out_of_memory() : cli_usage_error("%s", err.message);
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
    int rc = cli_open_store(cli, TS_OPEN_MUST_EXIST, &s->store, &s->cfg);

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

/* A token that cannot be refreshed (no refresh token, no client
 * credentials) but holds an access token without an expiry_time: one
 * saved by hand (a self client's) whose validity nobody recorded. It is
 * printed as it is, with a warning, rather than refused: only the server
 * can tell whether it still works. CLI_OK when printed, else -1. */
static int print_unrefreshable(const struct cli *cli, ts_store *store, const ts_error *why)
{
    ts_token *stored = ts_token_new();
    int rc = -1, code;

    if (!stored)
        return -1;
    if (cli_has(cli, TS_FIELD_ID))
        code = ts_find_token_by_id(store, cli->field[TS_FIELD_ID], stored, NULL);
    else
        code = ts_token_set(stored, TS_FIELD_USER_NAME, cli->field[TS_FIELD_USER_NAME]) == TS_OK
               ? ts_find_token(store, stored, NULL) : TS_ERR_NOMEM;
    if (code == TS_OK && ts_token_get(stored, TS_FIELD_ACCESS_TOKEN)[0] &&
        !ts_token_get(stored, TS_FIELD_EXPIRY_TIME)[0]) {
        if (!cli->quiet)
            fprintf(stderr, "tokenstore: warning: token %s has an access token without an "
                    "expiry_time, printed as it is: it may have expired, and it cannot be "
                    "refreshed (%s)\n", ts_token_get(stored, TS_FIELD_ID), why->message);
        printf("%s\n", ts_token_get(stored, TS_FIELD_ACCESS_TOKEN));
        rc = CLI_OK;
    }
    ts_token_free(stored);
    return rc;
}

static int cmd_token(struct cli *cli)
{
    struct oauth_session s = { 0 };
    ts_error err = { 0 };
    ts_token *token;
    int rc;

    if (cli_has(cli, TS_FIELD_ID) == cli_has(cli, TS_FIELD_USER_NAME))
        return cli_usage_error("token needs --user NAME or --id N (one of them)");
    if (!(token = ts_token_new()))
        return cli_out_of_memory();
    if ((rc = open_session(cli, &s)) == CLI_OK &&
        (rc = cli_token_from_flags(cli, token)) == CLI_OK) {
        int code = ts_oauth_get_access_token(s.oauth, token, &err);
        if (code == TS_OK) {
            printf("%s\n", ts_token_get(token, TS_FIELD_ACCESS_TOKEN));
        } else if (code == TS_NOT_FOUND) {
            cli_report_no_match(cli);
            rc = CLI_NOT_FOUND;
        } else if (code != TS_ERR_INVALID ||
                   (rc = print_unrefreshable(cli, s.store, &err)) != CLI_OK) {
            rc = oauth_error(code, &err);
        }
    }
    ts_token_free(token);
    close_session(&s);
    return rc;
}

const struct cli_command cli_cmd_token = {
    "token", cmd_token, OPTS_GLOBAL | BIT(OPT_ID) | BIT(OPT_USER) | OPTS_OAUTH, 0, 0,
    "token (--user NAME | --id N) [--accounts-url URL] [-O KEY=VALUE ...]",
    "print a valid access token, refreshing it when needed",
    "Prints the access token of the token of user NAME (or id N) on stdout,\n"
    "alone, for scripts:\n"
    "  curl -H \"Authorization: Zoho-oauthtoken $(tokenstore token --user me@x.com)\" ...\n"
    "When the stored access token is missing or expires within refresh_ahead_ms\n"
    "(60 s), it is refreshed with the refresh token (or a stored grant token\n"
    "is exchanged) at the accounts server of the token's data center (its\n"
    "api_domain's), and the new one is saved; processes sharing the store send\n"
    "one request between them, and after a failure none asks again before the\n"
    "time the error gives. OAuth settings come from the \"oauth\" section of\n"
    "the config file, then --accounts-url URL (one server for every token),\n"
    "then -O/--oauth KEY=VALUE (repeatable): data_center, accounts_url,\n"
    "accounts_url.EU (a data center's server), client_id, client_secret,\n"
    "redirect_url, refresh_ahead_ms, timeouts, retries, backoff and budget\n"
    "(tokenstore.conf(5); `tokenstore status` shows those in force).\n"
    "client_id and client_secret are used when the stored token has none.\n"
    "A token that cannot be refreshed but holds an access token without an\n"
    "expiry_time (one saved by hand) gets that access token printed, with a\n"
    "warning that it may have expired.\n"
    "Exit status 1 when no token matches, 2 when it has no refresh or grant\n"
    "token or no client credentials are known, 6 when the accounts server\n"
    "refused, failed or did not answer, or a refresh is not allowed yet.\n",
};

static int cmd_revoke(struct cli *cli)
{
    struct oauth_session s = { 0 };
    const char *id = cli->field[TS_FIELD_ID];
    ts_error err = { 0 };
    int rc;

    if (!id)
        return cli_usage_error("usage: tokenstore %s", cli->command->synopsis);
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

const struct cli_command cli_cmd_revoke = {
    "revoke", cmd_revoke, OPTS_GLOBAL | BIT(OPT_ID) | OPTS_OAUTH, 0, 0,
    "revoke --id N [--accounts-url URL] [-O KEY=VALUE ...]",
    "revoke a token at the accounts server and delete it",
    "Revokes the refresh token of the token with id N at the Zoho accounts\n"
    "server and, once the server agrees, deletes the token from the store.\n"
    "OAuth settings as for 'token'. Exit status 1 when there is no such\n"
    "token, 2 when it has no refresh token, 6 when the server refused or\n"
    "failed (the token is then kept).\n",
};
