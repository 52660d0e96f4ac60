/*
 * cli/cmd_rotate.c - `tokenstore rotate-secret`: a new client secret for
 * every token of one client id.
 *
 * Once a client secret is regenerated in Zoho's API console, every token
 * stored for that client must carry the new one before its next refresh,
 * or the refresh fails with invalid_client. Before this command that took
 * an export, an edit and an import. Here the store is walked once for the
 * tokens of the client id, then they are saved in one ts_save_stream:
 * sqlite, mysql and file save them in one transaction or one write, so a
 * failure leaves every token with its old secret; the other backends save
 * them one at a time (after a failure, running the command again finishes
 * the job, as the tokens already rotated are skipped). Each token saved
 * holds its id and the new secret only, so the save changes that one
 * field and keeps every other value the store holds.
 *
 * The secret never comes from the command line, where ps would show it:
 * it is the first line of standard input ('-') or of a file, and a value
 * shaped like masked output ("1000…(40)", "****") is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "cli.h"

struct rotate {
    const char *client_id;
    char *secret;            /* NULL for a dry run without one */
    char **ids, **users;     /* the tokens to rotate */
    size_t n, cap, same;     /* same: those that hold the secret already */
    size_t next;             /* ts_save_stream's position in ids */
    ts_token *token;         /* what next() hands out */
    int nomem;
};

/* ---------------------------------------------------------------- the secret */

/* The one line of text, its line end taken off; NULL after a message
 * naming `where` when it is not one line of something. */
static char *one_line(char *text, const char *where)
{
    size_t len = strlen(text);

    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    if (len == 0)
        cli_usage_error("rotate-secret: %s holds no secret", where);
    else if (strpbrk(text, "\r\n"))
        cli_usage_error("rotate-secret: %s holds more than one line; give the secret alone",
                        where);
    else if (cli_looks_masked(text))
        cli_usage_error("rotate-secret: the secret in %s is masked output, not the secret",
                        where);
    else
        return text;
    cli_free_secret(text);
    return NULL;
}

/* '-' reads standard input, anything else is a file; a file others may
 * read is used, with the warning a config file holding a secret gets. */
static int read_secret(const char *source, int quiet, char **out)
{
    int stdin_source = strcmp(source, "-") == 0;
    int fd = stdin_source ? STDIN_FILENO : open(source, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *text;

    if (fd < 0) {
        fprintf(stderr, "tokenstore: rotate-secret: cannot open %s: %s\n", source,
                strerror(errno));
        return CLI_USAGE;
    }
    if (!stdin_source && fstat(fd, &st) == 0 && (st.st_mode & 077) && !quiet)
        fprintf(stderr, "tokenstore: warning: %s holds a client secret but is readable by "
                "group or others (mode %04o): chmod 600 %s\n", source,
                (unsigned)(st.st_mode & 07777), source);
    text = cli_read_all(fd);
    int e = errno;
    if (!stdin_source)
        close(fd);
    if (!text) {
        fprintf(stderr, "tokenstore: rotate-secret: cannot read %s: %s\n",
                stdin_source ? "standard input" : source,
                e ? strerror(e) : "over 1 MiB, a NUL byte or out of memory");
        return CLI_USAGE;
    }
    *out = one_line(text, stdin_source ? "standard input" : source);
    return *out ? CLI_OK : CLI_USAGE;
}

/* ---------------------------------------------------------------- the tokens */

static int add_token(struct rotate *r, const ts_token *token)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 16;
        char **ids = realloc(r->ids, cap * sizeof *ids);
        if (ids)
            r->ids = ids;
        char **users = ids ? realloc(r->users, cap * sizeof *users) : NULL;
        if (!users)
            return TS_ERR_NOMEM;
        r->users = users;
        r->cap = cap;
    }
    r->ids[r->n] = strdup(ts_token_get(token, TS_FIELD_ID));
    r->users[r->n] = cli_escape(ts_token_get(token, TS_FIELD_USER_NAME));
    if (!r->ids[r->n] || !r->users[r->n]) {
        free(r->ids[r->n]);
        free(r->users[r->n]);
        return TS_ERR_NOMEM;
    }
    r->n++;
    return TS_OK;
}

static int collect(const ts_token *token, void *userdata)
{
    struct rotate *r = userdata;

    if (strcmp(ts_token_get(token, TS_FIELD_CLIENT_ID), r->client_id) != 0)
        return TS_OK;
    if (r->secret && strcmp(ts_token_get(token, TS_FIELD_CLIENT_SECRET), r->secret) == 0) {
        r->same++;
        return TS_OK;
    }
    return add_token(r, token);
}

/* ts_save_stream's source: each token as its id and the new secret. */
static int next_token(void *userdata, ts_token **token, ts_error *err)
{
    struct rotate *r = userdata;

    if (r->next == r->n)
        return TS_NOT_FOUND;
    ts_token_clear(r->token);
    if (ts_token_set(r->token, TS_FIELD_ID, r->ids[r->next]) != TS_OK ||
        ts_token_set(r->token, TS_FIELD_CLIENT_SECRET, r->secret) != TS_OK) {
        snprintf(err->message, sizeof err->message, "out of memory");
        return err->code = TS_ERR_NOMEM;
    }
    r->next++;
    *token = r->token;
    return TS_OK;
}

static void rotate_free(struct rotate *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->ids[i]);
        free(r->users[i]);
    }
    free(r->ids);
    free(r->users);
    cli_free_secret(r->secret);
    ts_token_free(r->token);
}

/* ---------------------------------------------------------------- the command */

static void print_plan(const struct rotate *r, const char *client, const char *where)
{
    for (size_t i = 0; i < r->n; i++)
        printf("rotate  id %s, user_name '%s'\n", r->ids[i], r->users[i]);
    printf("Dry run, client_id '%s' in %s: %zu token%s to rotate", client, where, r->n,
           r->n == 1 ? "" : "s");
    if (r->secret)
        printf(", %zu already %s the new secret", r->same, r->same == 1 ? "has" : "have");
    printf(". Nothing was written.\n");
}

static int save_all(const struct cli *cli, struct rotate *r, ts_store *store,
                    const char *client, const char *where)
{
    ts_error err = { 0 };
    size_t saved = 0;
    int code = r->n ? ts_save_stream(store, next_token, NULL, r, &saved, &err) : TS_OK;

    if (code != TS_OK) {
        int rc = cli_store_error(code, &err);
        fprintf(stderr, "tokenstore: %zu of %zu tokens of client_id '%s' got the new secret\n",
                saved, r->n, client);
        return rc;
    }
    if (!cli->quiet)
        printf("Rotated the client secret of %zu token%s of client_id '%s' in %s (%zu already "
               "had it).\n", saved, saved == 1 ? "" : "s", client, where, r->same);
    return CLI_OK;
}

static int rotate_in(const struct cli *cli, struct rotate *r)
{
    ts_store *store;
    ts_config *cfg;
    ts_error err = { 0 };
    char where[256];
    int rc = cli_open_store(cli, cli->dry_run ? TS_OPEN_READ_ONLY : TS_OPEN_MUST_EXIST, &store,
                            &cfg);
    char *client = cli_escape(r->client_id);

    if (rc != CLI_OK || !client) {
        free(client);
        return rc != CLI_OK ? rc : cli_out_of_memory();
    }
    cli_describe_store(store, cfg, where, sizeof where);
    int code = ts_get_tokens(store, collect, r, &err);
    if (code != TS_OK)
        rc = err.message[0] ? cli_store_error(code, &err) : cli_out_of_memory();
    else if (r->n + r->same == 0) {
        fprintf(stderr, "tokenstore: no token has client_id '%s' in %s\n", client, where);
        rc = CLI_NOT_FOUND;
    } else if (cli->dry_run)
        print_plan(r, client, where);
    else
        rc = save_all(cli, r, store, client, where);
    free(client);
    ts_store_close(store);
    ts_config_free(cfg);
    return rc;
}

static int cmd_rotate_secret(struct cli *cli)
{
    struct rotate r = { .client_id = cli->field[TS_FIELD_CLIENT_ID] };
    int rc;

    if (!cli_has(cli, TS_FIELD_CLIENT_ID))
        return cli_usage_error("rotate-secret needs --client-id ID");
    if (cli->nargs == 0 && !cli->dry_run)
        return cli_usage_error("rotate-secret needs the new secret: '-' (standard input) or "
                               "a file holding it");
    if (cli->nargs == 1 && strcmp(cli->args[0], "-") == 0 && cli->config_path &&
        strcmp(cli->config_path, "-") == 0)
        return cli_usage_error("--config - reads standard input: give the secret in a file");
    if (cli->nargs == 1 && (rc = read_secret(cli->args[0], cli->quiet, &r.secret)) != CLI_OK)
        return rc;
    if (!(r.token = ts_token_new()))
        rc = cli_out_of_memory();
    else
        rc = rotate_in(cli, &r);
    rotate_free(&r);
    return rc;
}

const struct cli_command cli_cmd_rotate_secret = {
    "rotate-secret", cmd_rotate_secret,
    OPTS_GLOBAL | BIT(OPT_CLIENT_ID) | BIT(OPT_DRY_RUN), 0, 1,
    "rotate-secret --client-id ID (- | FILE) [--dry-run]",
    "give every token of a client id a new client secret",
    "Sets the client_secret of every token whose client_id is ID to the new\n"
    "secret, the first line of standard input ('-') or of FILE (never an\n"
    "option: ps would show it), and prints how many tokens changed and how\n"
    "many held it already. sqlite, mysql and file save them all in one\n"
    "transaction or write, or none; other backends one at a time (run the\n"
    "command again after a failure: the tokens done are skipped). Every\n"
    "other field is kept. A secret that looks like masked output\n"
    "(\"1000...(40)\", \"****\") is refused. --dry-run lists the tokens that\n"
    "would change (the secret may then be left out) and writes nothing.\n"
    "Exit status 1 when no token has that client_id.\n",
};
