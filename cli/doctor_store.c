/*
 * cli/doctor_store.c - doctor's checks of the store and its tokens.
 *
 * The store is opened read-only and its tokens read, as a reader would;
 * then, unless --read-only, opened as the application opens it (it must
 * exist: nothing is created) and written the two ways that change no
 * token: an empty ts_save_stream (sqlite and mysql begin and commit a
 * transaction under their write lock, file rewrites its tokens as they
 * are, under its lock) and the delete of an id no token has (redis runs
 * its delete script, with the store's keys, through EVALSHA; mysql needs
 * the DELETE privilege). A failure is explained where its cause can be
 * told from the backend's message: a Redis ACL that does not cover the
 * store's hash-tagged keys or a command it runs, a MySQL privilege the
 * user lacks. What the backend warns about meanwhile (an index it may not
 * create, a token file others may read) becomes a finding as well.
 *
 * The tokens are looked at as they are read: those without a refresh
 * token, those expired long ago, two rows for one user, and the accounts
 * server each one is refreshed at, for doctor_net.c to ask.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "doctor.h"

/* An id no store reaches before it has handed out all the others. */
#define PROBE_ID "9223372036854775807"
#define STALE_MS (30LL * 86400 * 1000)
#define LISTED 5                  /* tokens named in a finding, then "and N more" */

/* ---------------------------------------------------------------- the backend's log */

static void doctor_log(void *userdata, int level, const char *message)
{
    struct doctor *d = userdata;

    if (d->cli->verbose)
        fprintf(stderr, "tokenstore: %s\n", message);
    if (level > TS_LOG_WARN)
        return;
    for (size_t i = 0; i < d->nlogs; i++)
        if (strcmp(d->logs[i], message) == 0)
            return;
    char **grown = realloc(d->logs, (d->nlogs + 1) * sizeof *grown);
    if (grown && (grown[d->nlogs] = strdup(message)))
        d->nlogs++;
    if (grown)
        d->logs = grown;
}

static void report_logs(struct doctor *d)
{
    for (size_t i = 0; i < d->nlogs; i++) {
        const char *fix = strstr(d->logs[i], "may not create one")
            ? "let a user with the INDEX privilege open the store once, or create the index "
              "the message names" : NULL;
        doctor_add(d, "store", DOCTOR_SEV_WARNING, fix, "the backend warns: %s", d->logs[i]);
    }
}

/* ---------------------------------------------------------------- explaining a failure */

/* A Redis ACL refusal: NOPERM for a key (a pattern without the hash tag
 * the store's keys carry) or for a command. */
static void redis_refused(struct doctor *d, const char *check, const char *message)
{
    const char *user = ts_config_option(d->cfg, "username");
    const char *prefix = ts_config_option(d->cfg, "prefix");
    const char *command = strstr(message, "run the '");
    char fix[512];

    user = user ? user : "default";
    prefix = prefix ? prefix : "tokenstore:";  /* the backend's default, tokenstore.conf(5) */
    if (command) {
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(command + 9, "'"), command + 9);
        snprintf(fix, sizeof fix, "ACL SETUSER %s +%s (and ACL SAVE, or the same in the ACL "
                 "file)", user, name);
        doctor_add(d, check, DOCTOR_SEV_ERROR, fix, "%s: the ACL of Redis user '%s' does not "
                   "allow %s, which the backend runs (its reads and writes are Lua scripts "
                   "run with EVALSHA)", message, user, name);
        return;
    }
    snprintf(fix, sizeof fix, "ACL SETUSER %s ~{%s}* (and ACL SAVE, or the same in the ACL "
             "file)", user, prefix);
    doctor_add(d, check, DOCTOR_SEV_ERROR, fix, "%s: the ACL of Redis user '%s' does not cover "
               "the store's keys, which carry a hash tag ({%s}ids, {%s}token:N, {%s}user:NAME), "
               "so that a pattern such as ~%s* misses them", message, user, prefix, prefix,
               prefix, prefix);
}

/* MariaDB's "DELETE command denied to user 'u'@'h' for table `db`.`t`". */
static void mysql_refused(struct doctor *d, const char *check, const char *message)
{
    const char *to = strstr(message, "denied to user ");
    const char *table = strstr(message, "for table ");
    char fix[512], user[160] = "the store's user", db[160] = "the store's database";

    if (to)
        snprintf(user, sizeof user, "%.*s", (int)strcspn(to + 15, " "), to + 15);
    if (table)
        snprintf(db, sizeof db, "%.*s", (int)strcspn(table + 10, "."), table + 10);
    snprintf(fix, sizeof fix, "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, INDEX ON %s.* TO "
             "%s (the token table, and the notes and log tables the backend makes beside it)",
             db, user);
    doctor_add(d, check, DOCTOR_SEV_ERROR, fix, "%s", message);
}

static const char *fix_for(int code)
{
    switch (code) {
    case TS_ERR_NO_STORE:
        return "check the path or database the store names (tokenstore status shows it); the "
               "first save makes a store";
    case TS_ERR_CONNECT:
        return "check that the server runs and can be reached from this host at the address "
               "named";
    case TS_ERR_AUTH:
        return "check the user and password the store is given";
    case TS_ERR_TIMEOUT:
        return "check the server and the network, or raise connect_timeout_ms";
    case TS_ERR_CONFIG:
        return "correct the option named (tokenstore.conf(5) lists each backend's)";
    case TS_ERR_IO:
    case TS_ERR_READ_ONLY:
        return "let this user read and write the store's file and its directory (the "
               "application's user: run doctor as it)";
    case TS_ERR_BUSY:
        return "another process held the store locked throughout: try again; raise "
               "busy_timeout_ms if it lasts";
    case TS_ERR_CORRUPT:
        return "restore the store from a backup (tokenstore save - < backup.json)";
    case TS_ERR_ABI:
        return "install a backend built for this library (tokenstore backends lists their ABI)";
    default:
        return NULL;
    }
}

static void failed(struct doctor *d, const char *check, int code, const char *message)
{
    char guess[96], fix[160];

    if (strstr(message, "NOPERM"))
        redis_refused(d, check, message);
    else if (strstr(message, "command denied to user"))
        mysql_refused(d, check, message);
    else if (code == TS_ERR_LOAD) {
        if (cli_backend_guess(d->cfg, guess, sizeof guess) == 0)
            snprintf(fix, sizeof fix, "did you mean %s? (tokenstore backends lists the "
                     "backends found)", guess);
        else
            snprintf(fix, sizeof fix, "install the backend, or name its directory in "
                     "plugin_dir or $TOKENSTORE_PLUGIN_PATH");
        doctor_add(d, check, DOCTOR_SEV_ERROR, fix, "%s", message);
    } else
        doctor_add(d, check, DOCTOR_SEV_ERROR, fix_for(code), "%s", message);
}

/* ---------------------------------------------------------------- the tokens */

struct user_row {
    char *user, *id;
};

/* A list of tokens for a message: "3 (a@x.com), 7 (b@x.com)". */
struct listing {
    size_t count;
    char text[LISTED * 96];
};

struct walk {
    struct doctor *d;
    ts_oauth *oauth;             /* NULL when the settings are refused */
    int64_t now_ms;
    size_t tokens, expired;
    struct listing no_refresh, stale;
    struct user_row *users;
    size_t nusers, cap;
    int nomem;
};

static void list_token(struct listing *l, const ts_token *token)
{
    size_t used = strlen(l->text);

    if (l->count++ < LISTED)
        snprintf(l->text + used, sizeof l->text - used, "%s%s (%.64s)", used ? ", " : "",
                 ts_token_get(token, TS_FIELD_ID), ts_token_get(token, TS_FIELD_USER_NAME));
}

static void add_server(struct doctor *d, const char *url)
{
    for (size_t i = 0; i < d->nservers; i++)
        if (strcmp(d->servers[i].url, url) == 0) {
            d->servers[i].tokens++;
            return;
        }
    struct doctor_server *grown = realloc(d->servers, (d->nservers + 1) * sizeof *grown);
    if (!grown)
        return;
    d->servers = grown;
    if ((grown[d->nservers].url = strdup(url)))
        grown[d->nservers++].tokens = 1;
}

static int walk_one(const ts_token *token, void *userdata)
{
    struct walk *w = userdata;
    const char *user = ts_token_get(token, TS_FIELD_USER_NAME);
    int64_t expiry;

    w->tokens++;
    if (cli_token_expiry(token, &expiry) == 0 && expiry <= w->now_ms) {
        w->expired++;
        if (w->now_ms - expiry > STALE_MS)
            list_token(&w->stale, token);
    }
    if (!ts_token_get(token, TS_FIELD_REFRESH_TOKEN)[0] &&
        !ts_token_get(token, TS_FIELD_GRANT_TOKEN)[0])
        list_token(&w->no_refresh, token);
    if (w->oauth)
        add_server(w->d, ts_oauth_accounts_url(w->oauth, token));
    if (!user[0])
        return TS_OK;
    if (w->nusers == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        struct user_row *grown = realloc(w->users, cap * sizeof *grown);
        if (!grown) {
            w->nomem = 1;
            return TS_OK;
        }
        w->users = grown;
        w->cap = cap;
    }
    w->users[w->nusers].user = strdup(user);
    w->users[w->nusers].id = strdup(ts_token_get(token, TS_FIELD_ID));
    w->nusers++;
    return TS_OK;
}

static int by_user(const void *pa, const void *pb)
{
    const struct user_row *a = pa, *b = pb;
    uint64_t x = 0, y = 0;
    int c = strcasecmp(a->user ? a->user : "", b->user ? b->user : "");

    if (c)
        return c;
    ts_id_parse(a->id ? a->id : "", &x);
    ts_id_parse(b->id ? b->id : "", &y);
    return x < y ? -1 : x > y;
}

/* Rows [from, to) share a user name but for case: one finding. */
static void report_duplicate(struct doctor *d, const struct user_row *rows, size_t from,
                             size_t to, size_t *found)
{
    int exact = 1;
    char ids[256] = "", fix[160];

    for (size_t i = from + 1; i < to; i++)
        exact &= strcmp(rows[i].user, rows[from].user) == 0;
    for (size_t i = from; i < to; i++)
        snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%s", i > from ? ", " : "",
                 rows[i].id);
    snprintf(fix, sizeof fix, "keep the row the application uses and delete the other%s "
             "(tokenstore delete --id %s)", to - from > 2 ? "s" : "", rows[to - 1].id);
    if (exact)
        doctor_add(d, "tokens", DOCTOR_SEV_ERROR, fix, "user_name '%.64s' has %zu rows: ids "
                   "%s (a find answers with id %s, and saves of that user are refused as "
                   "conflicts)", rows[from].user, to - from, ids, rows[from].id);
    else
        doctor_add(d, "tokens", DOCTOR_SEV_WARNING, fix, "user names '%.64s' and '%.64s' "
                   "(ids %s) differ only in case: a MySQL store and the SDK's DBStore take "
                   "them for one user", rows[from].user, rows[to - 1].user, ids);
    (*found)++;
}

static size_t check_duplicates(struct doctor *d, struct walk *w)
{
    size_t found = 0;

    for (size_t i = 0; i < w->nusers; i++)
        if (!w->users[i].user || !w->users[i].id)
            w->nomem = 1;
    if (w->nomem) {
        doctor_add(d, "tokens", DOCTOR_SEV_INFO, NULL, "rows of one user: not checked "
                   "(out of memory)");
        return 0;
    }
    if (w->nusers)
        qsort(w->users, w->nusers, sizeof *w->users, by_user);
    for (size_t i = 0, j; i < w->nusers; i = j) {
        for (j = i + 1; j < w->nusers && strcasecmp(w->users[j].user, w->users[i].user) == 0;)
            j++;
        if (j - i > 1)
            report_duplicate(d, w->users, i, j, &found);
    }
    return found;
}

static void report_tokens(struct doctor *d, struct walk *w)
{
    size_t problems = check_duplicates(d, w);
    struct listing *l = &w->no_refresh;

    if (l->count)
        doctor_add(d, "tokens", DOCTOR_SEV_WARNING, "save a new grant token for each "
                   "(tokenstore save --id N --grant-token -), or delete those no longer used",
                   "%zu token%s without a refresh or grant token cannot be refreshed once "
                   "the access token expires: %s%s", l->count, l->count == 1 ? "" : "s",
                   l->text, l->count > LISTED ? ", ..." : "");
    l = &w->stale;
    if (l->count)
        doctor_add(d, "tokens", DOCTOR_SEV_WARNING, "revoke and delete those no longer used "
                   "(tokenstore revoke --id N)", "%zu token%s expired over 30 days ago, "
                   "unused since: %s%s", l->count, l->count == 1 ? "" : "s", l->text,
                   l->count > LISTED ? ", ..." : "");
    problems += w->no_refresh.count + w->stale.count;
    if (!problems)
        doctor_add(d, "tokens", DOCTOR_SEV_OK, NULL, "%zu token%s (%zu expired): each can be "
                   "refreshed, none expired over 30 days ago, one row per user", w->tokens,
                   w->tokens == 1 ? "" : "s", w->expired);
}

static void walk_free(struct walk *w)
{
    for (size_t i = 0; i < w->nusers; i++) {
        free(w->users[i].user);
        free(w->users[i].id);
    }
    free(w->users);
    ts_oauth_free(w->oauth);
}

/* ---------------------------------------------------------------- the checks */

static int no_tokens(void *userdata, ts_token **token, ts_error *err)
{
    (void)userdata;
    (void)token;
    (void)err;
    return TS_NOT_FOUND;
}

/* Writes that change no token: an empty save and the delete of an id no
 * token has. */
static void check_write(struct doctor *d, const char *where)
{
    ts_store *store;
    ts_error err = { 0 };
    ts_token *row = ts_token_new();
    int code = row ? ts_store_open_config_flags(&store, d->cfg, TS_OPEN_MUST_EXIST, &err)
                   : TS_ERR_NOMEM;
    int deleted = 0;

    if (code == TS_OK) {
        code = ts_save_stream(store, no_tokens, NULL, NULL, NULL, &err);
        if (code == TS_OK && (code = ts_find_token_by_id(store, PROBE_ID, row, &err)) ==
            TS_NOT_FOUND) {
            code = ts_delete_token(store, PROBE_ID, &err);
            deleted = code == TS_NOT_FOUND;
            code = deleted ? TS_OK : code;
        }
        ts_store_close(store);
    }
    ts_token_free(row);
    if (code != TS_OK)
        failed(d, "write", code, err.message[0] ? err.message : ts_strerror(code));
    else
        doctor_add(d, "write", DOCTOR_SEV_OK, NULL, "%s is writable (an empty write%s went "
                   "through, changing no token)", where,
                   deleted ? " and the delete of an id no token has" : "");
}

void doctor_check_store(struct doctor *d)
{
    struct walk w = { .d = d, .now_ms = cli_now_ms() };
    ts_store *store;
    ts_error err = { 0 };
    char where[256];

    ts_config_set_logger(d->cfg, doctor_log, d, d->cli->verbose ? TS_LOG_DEBUG : TS_LOG_WARN);
    if (doctor_oauth(d, &w.oauth, &err) != TS_OK)
        doctor_add(d, "accounts", DOCTOR_SEV_ERROR, "correct the setting named",
                   "the OAuth settings are refused: %s", err.message);
    int code = ts_store_open_config_flags(&store, d->cfg, TS_OPEN_READ_ONLY, &err);
    cli_describe_store(code == TS_OK ? store : NULL, d->cfg, where, sizeof where);
    if (code == TS_OK) {
        code = ts_get_tokens(store, walk_one, &w, &err);
        ts_store_close(store);
    }
    if (code != TS_OK) {
        failed(d, "store", code, err.message[0] ? err.message : ts_strerror(code));
    } else {
        d->store_read = 1;
        doctor_add(d, "store", DOCTOR_SEV_OK, NULL, "%s is reachable and readable: %zu "
                   "token%s", where, w.tokens, w.tokens == 1 ? "" : "s");
        report_tokens(d, &w);
    }
    if (d->cli->read_only)
        doctor_add(d, "write", DOCTOR_SEV_OK, NULL, "not checked: --read-only (this host only "
                   "reads the store)");
    else if (d->store_read)
        check_write(d, where);
    else
        doctor_add(d, "write", DOCTOR_SEV_INFO, NULL, "not checked: the store could not be "
                   "read");
    report_logs(d);
    walk_free(&w);
}
