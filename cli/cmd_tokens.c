/*
 * cli/cmd_tokens.c - the commands that read and edit a store's tokens:
 * list, get, save, delete and clear.
 *
 * Commands that only read open the store with TS_OPEN_READ_ONLY, so a
 * mistyped path is an error rather than a new empty store, and a file
 * that belongs to another program is left as it was. Output that is data
 * (tables, tokens, JSON, ids) goes to stdout; everything else, prompts
 * included, goes to stderr. Messages name options, keys, ids and user
 * names, never a secret's value.
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

/* ---------------------------------------------------------------- list */

/* list's filters and order. list --json --show-secrets is the export
 * (there is no separate command), so the filters shape an export too. */
struct list_state {
    cli_rows rows;
    const struct cli *cli;
    int64_t now_ms;
    ts_token **kept;         /* copies, when the order is not the store's */
    size_t nkept, cap;
};

/* Whether a token passes --client-id, --user-like, --expired and
 * --expiring-within; the last two together take either. */
static int list_wanted(const struct list_state *st, const ts_token *token)
{
    const struct cli *cli = st->cli;
    const char *client = cli->field[TS_FIELD_CLIENT_ID];
    int64_t expiry;

    if (client && strcmp(ts_token_get(token, TS_FIELD_CLIENT_ID), client) != 0)
        return 0;
    if (cli->user_like &&
        fnmatch(cli->user_like, ts_token_get(token, TS_FIELD_USER_NAME), FNM_CASEFOLD) != 0)
        return 0;
    if (!cli->expired && !cli->expiring_within_ms)
        return 1;
    if (cli_token_expiry(token, &expiry) != 0)
        return 0;
    if (expiry <= st->now_ms)
        return cli->expired;
    return cli->expiring_within_ms && expiry - st->now_ms <= cli->expiring_within_ms;
}

static int list_add_row(struct list_state *st, const ts_token *token)
{
    if (st->rows.array) {
        json_object *o = cli_token_json(token, st->cli->show_secrets);
        if (!o || json_object_array_add(st->rows.array, o) != 0) {
            ts__json_release(o);
            return TS_ERR_NOMEM;
        }
        return TS_OK;
    }
    return cli_table_add_token(st->rows.table, token, st->cli->show_secrets) == CLI_OK
           ? TS_OK : TS_ERR_NOMEM;
}

static int list_one(const ts_token *token, void *userdata)
{
    struct list_state *st = userdata;

    if (!list_wanted(st, token))
        return TS_OK;
    if (st->cli->sort == CLI_SORT_ID)
        return list_add_row(st, token);
    if (st->nkept == st->cap) {
        size_t cap = st->cap ? 2 * st->cap : 64;
        ts_token **grown = realloc(st->kept, cap * sizeof *grown);
        if (!grown)
            return TS_ERR_NOMEM;
        st->kept = grown;
        st->cap = cap;
    }
    if (!(st->kept[st->nkept] = ts_token_dup(token)))
        return TS_ERR_NOMEM;
    st->nkept++;
    return TS_OK;
}

static int by_id(const ts_token *a, const ts_token *b)
{
    uint64_t x = 0, y = 0;

    ts_id_parse(ts_token_get(a, TS_FIELD_ID), &x);
    ts_id_parse(ts_token_get(b, TS_FIELD_ID), &y);
    return x < y ? -1 : x > y;
}

/* User names ignoring case (e-mail addresses), then as stored. */
static int by_user(const void *pa, const void *pb)
{
    const ts_token *a = *(ts_token *const *)pa, *b = *(ts_token *const *)pb;
    const char *x = ts_token_get(a, TS_FIELD_USER_NAME), *y = ts_token_get(b, TS_FIELD_USER_NAME);
    int c = strcasecmp(x, y);

    return c ? c : (c = strcmp(x, y)) ? c : by_id(a, b);
}

/* The soonest first; tokens without an expiry_time last. */
static int by_expiry(const void *pa, const void *pb)
{
    const ts_token *a = *(ts_token *const *)pa, *b = *(ts_token *const *)pb;
    int64_t x, y;
    int has_x = cli_token_expiry(a, &x) == 0, has_y = cli_token_expiry(b, &y) == 0;

    if (has_x != has_y)
        return has_x ? -1 : 1;
    if (has_x && x != y)
        return x < y ? -1 : 1;
    return by_id(a, b);
}

static int list_sorted(struct list_state *st)
{
    int rc = TS_OK;

    if (st->nkept)
        qsort(st->kept, st->nkept, sizeof *st->kept,
              st->cli->sort == CLI_SORT_USER ? by_user : by_expiry);
    for (size_t i = 0; i < st->nkept && rc == TS_OK; i++)
        rc = list_add_row(st, st->kept[i]);
    return rc;
}

static int cmd_list(struct cli *cli)
{
    struct list_state st = { .cli = cli, .now_ms = cli_now_ms() };
    ts_store *store;
    ts_error err = { 0 };
    int rc = cli_open_store(cli, TS_OPEN_READ_ONLY, &store, NULL);

    if (rc != CLI_OK)
        return rc;
    if ((rc = cli_rows_init(&st.rows, cli->json, CLI_TOKEN_COLUMNS, cli_token_headers)) == CLI_OK) {
        int code = ts_get_tokens(store, list_one, &st, &err);
        if (code == TS_OK)
            code = list_sorted(&st);
        if (code == TS_OK)
            cli_rows_print(&st.rows, stdout, !cli->no_headers);
        else if (code == TS_ERR_NOMEM && !err.message[0])
            rc = cli_out_of_memory();
        else
            rc = cli_store_error(code, &err);
    }
    cli_tokens_free(st.kept, st.nkept);
    cli_rows_free(&st.rows);
    ts_store_close(store);
    return rc;
}

const struct cli_command cli_cmd_list = {
    "list", cmd_list, OPTS_GLOBAL | BIT(OPT_JSON) | BIT(OPT_NO_HEADERS) | BIT(OPT_CLIENT_ID) |
    BIT(OPT_USER_LIKE) | BIT(OPT_EXPIRED) | BIT(OPT_EXPIRING_WITHIN) | BIT(OPT_SORT), 0, 0,
    "list [--expired] [--expiring-within DURATION] [--client-id ID]\n"
    "                       [--user-like GLOB] [--sort id|user|expiry] [--json | --no-headers]",
    "list the tokens, or those a filter picks",
    "Prints a table of every token: id, user_name, client_id, expiry_time as\n"
    "an ISO-8601 UTC date (marked \"(expired)\" once past) and in\n"
    "milliseconds, api_domain and the secrets (masked); --no-headers leaves\n"
    "out the header line, for scripts. --json prints an array of objects with\n"
    "the SDK's ten fields and \"expired\" (true or false); without\n"
    "--show-secrets each secret that has a value is left out and named\n"
    "in \"masked\". list --json --show-secrets is the export that save - reads\n"
    "back, and takes the same filters:\n"
    "  --expired                    tokens whose expiry_time has passed\n"
    "  --expiring-within DURATION   tokens still valid that expire within\n"
    "                               DURATION (30s, 10m, 2h, 1d); with\n"
    "                               --expired, those and the expired ones\n"
    "  --client-id ID               tokens of that client id\n"
    "  --user-like GLOB             user names matching a shell pattern\n"
    "                               ('*@example.com'), ignoring case\n"
    "  --sort id|user|expiry        ascending id (the default), user_name,\n"
    "                               or expiry_time (soonest first, tokens\n"
    "                               without one last)\n"
    "The store is opened read-only: one that does not exist is an error (exit\n"
    "status 3), never created.\n",
};

/* ---------------------------------------------------------------- get */

int cli_has(const struct cli *cli, ts_field field)
{
    return cli->field[field] && cli->field[field][0];
}

/* The SDK's rule, checked up front so the user hears which flags are
 * missing rather than "no lookup key". */
static int check_get_keys(const struct cli *cli)
{
    int creds = cli_has(cli, TS_FIELD_CLIENT_ID) + cli_has(cli, TS_FIELD_CLIENT_SECRET);
    int by_grant = cli_has(cli, TS_FIELD_GRANT_TOKEN) || cli_has(cli, TS_FIELD_REFRESH_TOKEN);

    if (cli->field[TS_FIELD_ID])
        return cli->given & (OPTS_KEYS & ~BIT(OPT_ID))
               ? cli_usage_error("get --id takes no other key or credential option")
               : CLI_OK;
    if (cli_has(cli, TS_FIELD_USER_NAME))
        return CLI_OK;
    if (by_grant && creds != 2)
        return cli_usage_error("--grant-token and --refresh-token lookups need both "
                               "--client-id and --client-secret");
    if (!by_grant && cli_has(cli, TS_FIELD_ACCESS_TOKEN) && creds != 0)
        return cli_usage_error("--access-token lookups take no --client-id or --client-secret");
    if (!by_grant && !cli_has(cli, TS_FIELD_ACCESS_TOKEN))
        return cli_usage_error("get needs --id, --user, --access-token, --grant-token or "
                               "--refresh-token");
    return CLI_OK;
}

int cli_token_from_flags(const struct cli *cli, ts_token *token)
{
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        if (cli->field[f] && ts_token_set(token, (ts_field)f, cli->field[f]) != TS_OK)
            return cli_out_of_memory();
    return CLI_OK;
}

void cli_report_no_match(const struct cli *cli)
{
    if (cli->quiet)
        return;
    char *user = cli_has(cli, TS_FIELD_USER_NAME) ? cli_escape(cli->field[TS_FIELD_USER_NAME])
                                                  : NULL;
    char *client = cli_escape(cli->field[TS_FIELD_CLIENT_ID] ? cli->field[TS_FIELD_CLIENT_ID] : "");

    if (cli->field[TS_FIELD_ID])
        fprintf(stderr, "tokenstore: no token with id %s\n", cli->field[TS_FIELD_ID]);
    else if (user)
        fprintf(stderr, "tokenstore: no token for user_name '%s'\n", user);
    else if (!cli_has(cli, TS_FIELD_CLIENT_ID))
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
    rc = cli_token_from_flags(cli, out);
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
    cli_json_emit(stdout, o);
    return CLI_OK;
}

static int cmd_get(struct cli *cli)
{
    ts_token *token;
    ts_store *store;
    ts_error err = { 0 };
    int rc = check_get_keys(cli);

    if (rc != CLI_OK || (rc = cli_open_store(cli, TS_OPEN_READ_ONLY, &store, NULL)) != CLI_OK)
        return rc;
    if (!(token = ts_token_new())) {
        ts_store_close(store);
        return cli_out_of_memory();
    }
    rc = find_stored(store, cli, token, &err);
    if (rc == TS_NOT_FOUND) {
        cli_report_no_match(cli);
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

const struct cli_command cli_cmd_get = {
    "get", cmd_get, OPTS_GLOBAL | BIT(OPT_JSON) | OPTS_KEYS, 0, 0,
    "get (--id N | --user NAME | --access-token TOKEN) [--json]\n"
    "       tokenstore get (--grant-token | --refresh-token) TOKEN\n"
    "                      --client-id ID --client-secret SECRET [--json]",
    "show one token",
    "Finds a token by id, or by the SDK's key: user_name; else access_token\n"
    "(without client credentials); else grant_token or refresh_token (with\n"
    "both --client-id and --client-secret); the lowest id when several match.\n"
    "Prints `field: value` lines, expiry_time followed by its UTC date and\n"
    "\"(expired)\" once past, as list marks it; or a JSON object with --json\n"
    "(secrets left out and named in \"masked\", unless --show-secrets, and\n"
    "\"expired\"). Exit status 1 when no token matches, 3 when the store does\n"
    "not exist (it is opened read-only).\n",
};

/* ---------------------------------------------------------------- save */

/* What ts_save_stream reads: the input's tokens, each checked as the
 * options' are; and the ids it saved, printed once all are. */
struct save_input {
    cli_token_stream *stream;
    ts_token *first;         /* read before the store was opened */
    int bad;                 /* the input was refused: a usage error */
    char **ids;
    size_t nids, capacity;
};

/* What the store would take but nobody means: a date that is not a date. */
static int check_token_value(const ts_token *token, const char *where, char *why, size_t n)
{
    const char *expiry = ts_token_get(token, TS_FIELD_EXPIRY_TIME);

    if (expiry[0] && !cli_all_digits(expiry)) {
        snprintf(why, n, "%s%sexpiry_time must be epoch milliseconds (digits only), e.g. "
                 "1714564800000", where, *where ? ": " : "");
        return CLI_USAGE;
    }
    return CLI_OK;
}

static int next_input(void *userdata, ts_token **token, ts_error *err)
{
    struct save_input *in = userdata;
    int rc;

    if (in->first) {
        *token = in->first;
        in->first = NULL;
        return TS_OK;
    }
    if (!in->stream)
        return TS_NOT_FOUND;        /* the options' one token */
    rc = cli_token_stream_next(in->stream, token);
    if (rc == CLI_OK)
        rc = check_token_value(*token, "stdin", err->message, sizeof err->message);
    if (rc == CLI_NOT_FOUND)
        return TS_NOT_FOUND;
    if (rc != CLI_OK) {
        in->bad = rc == CLI_USAGE;
        if (cli_token_stream_error(in->stream))
            snprintf(err->message, sizeof err->message, "%s",
                     cli_token_stream_error(in->stream));
        return err->code = rc == CLI_USAGE ? TS_ERR_INVALID : TS_ERR_NOMEM;
    }
    return TS_OK;
}

static void saved_id(void *userdata, const ts_token *token)
{
    struct save_input *in = userdata;

    if (in->nids == in->capacity) {
        size_t cap = in->capacity ? in->capacity * 2 : 64;
        char **grown = realloc(in->ids, cap * sizeof *grown);
        if (!grown)
            return;
        in->ids = grown;
        in->capacity = cap;
    }
    in->ids[in->nids] = strdup(ts_token_get(token, TS_FIELD_ID));
    in->nids += in->ids[in->nids] != NULL;
}

/* The fields given as options, as the first and only token. */
static int token_from_flags(const struct cli *cli, ts_token **token)
{
    char why[TS_ERROR_MAX];

    for (int f = 0; f < TS_FIELD_COUNT; f++)
        if (ts_field_is_secret((ts_field)f) && cli_has(cli, (ts_field)f) &&
            cli_looks_masked(cli->field[f]))
            return cli_usage_error("%s: the value is masked output, not the secret",
                                   cli_option_name(OPT_ID + f));
    if (!(*token = ts_token_new()))
        return cli_out_of_memory();
    int rc = cli_token_from_flags(cli, *token);
    if (rc == CLI_OK && check_token_value(*token, "", why, sizeof why) != CLI_OK)
        rc = cli_usage_error("%s", why);
    return rc;
}

static int save_usage(const struct cli *cli)
{
    int from_stdin = cli->json || cli->nargs == 1;
    int has_fields = (cli->given & OPTS_FIELDS) != 0;

    if (cli->nargs == 1 && strcmp(cli->args[0], "-") != 0)
        return cli_usage_error("save takes '-' (JSON on stdin) or field options, "
                               "not '%.64s'", cli->args[0]);
    if (from_stdin && has_fields)
        return cli_usage_error("save takes its fields from options or from JSON on stdin, "
                               "not both");
    if (!from_stdin && !has_fields)
        return cli_usage_error("save needs field options (--user, --refresh-token, ...) "
                               "or '-' to read a JSON token from stdin");
    return CLI_OK;
}

/* One token or many (an export read back, of any size): one
 * ts_save_stream, so a file, sqlite or mysql store takes all of them or
 * none; the input is read as it is saved, a token at a time. The store
 * is opened only once there is something to save in it. */
static int cmd_save(struct cli *cli)
{
    struct save_input in = { 0 };
    ts_token *flags_token = NULL;   /* the options' token: ours to free */
    ts_store *store = NULL;
    ts_error err = { 0 };
    int rc = save_usage(cli), from_stdin = cli->json || cli->nargs == 1;

    if (rc == CLI_OK && from_stdin) {
        if (!(in.stream = cli_token_stream_new(STDIN_FILENO)))
            return cli_out_of_memory();
        rc = next_input(&in, &in.first, &err) == TS_OK ? CLI_OK
             : in.bad ? CLI_USAGE : err.code == TS_NOT_FOUND ? CLI_NOT_FOUND : CLI_STORE;
        if (rc == CLI_USAGE)
            fprintf(stderr, "tokenstore: %s\n", err.message);
    } else if (rc == CLI_OK) {
        rc = token_from_flags(cli, &flags_token);
        in.first = flags_token;
    }
    if (rc == CLI_OK)
        rc = cli_open_store(cli, 0, &store, NULL);
    if (rc == CLI_OK) {
        int code = ts_save_stream(store, next_input, saved_id, &in, NULL, &err);
        for (size_t i = 0; code == TS_OK && i < in.nids; i++)
            printf("%s\n", in.ids[i]);
        if (code != TS_OK && in.bad) {
            fprintf(stderr, "tokenstore: %s\n", err.message);
            rc = CLI_USAGE;
        } else if (code != TS_OK) {
            rc = cli_store_error(code, &err);
        }
    }
    ts_token_free(flags_token);
    for (size_t i = 0; i < in.nids; i++)
        free(in.ids[i]);
    free(in.ids);
    cli_token_stream_free(in.stream);
    ts_store_close(store);
    return rc == CLI_NOT_FOUND ? CLI_OK : rc;
}

const struct cli_command cli_cmd_save = {
    "save", cmd_save, OPTS_GLOBAL | BIT(OPT_JSON) | OPTS_FIELDS, 0, 1,
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
    "for secrets.\n",
};

/* ---------------------------------------------------------------- delete, clear */

static int cmd_delete(struct cli *cli)
{
    const char *id = cli->field[TS_FIELD_ID];
    ts_store *store;
    ts_error err = { 0 };
    int rc;

    if (!id)
        return cli_usage_error("usage: tokenstore %s", cli->command->synopsis);
    if ((rc = cli_open_store(cli, 0, &store, NULL)) != CLI_OK)
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

const struct cli_command cli_cmd_delete = {
    "delete", cmd_delete, OPTS_GLOBAL | BIT(OPT_ID), 0, 0,
    "delete --id N",
    "delete one token",
    "Deletes the token with id N. Exit status 1 when there is none.\n",
};

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
    int rc = cli_open_store(cli, 0, &store, &cfg);

    if (rc != CLI_OK)
        return rc;
    cli_describe_store(store, cfg, where, sizeof where);
    rc = clear_store(cli, store, where);
    ts_store_close(store);
    ts_config_free(cfg);
    return rc;
}

const struct cli_command cli_cmd_clear = {
    "clear", cmd_clear, OPTS_GLOBAL | BIT(OPT_YES), 0, 0,
    "clear [--yes]",
    "delete every token",
    "Deletes every token of the store after asking on the terminal. -y/--yes\n"
    "skips the question; without it and with stdin not a terminal, nothing\n"
    "is deleted and the exit status is 2.\n",
};
