/*
 * cli/cmd_migrate.c - `tokenstore migrate`: copy every token of one store
 * to another, keeping ids, without losing anything either side holds.
 *
 * It works in three passes:
 *  1. check, read-only: each source token against the target. A target
 *     that holds a different token under the same id, or the same token
 *     under another id, is in conflict; every conflict is reported and
 *     nothing is written, because which of the two tokens is right is the
 *     operator's call, not the tool's. A token the target already holds
 *     as it is will not be written again, so a re-run is cheap and
 *     changes nothing. A target token whose expiry_time is later than the
 *     source's was refreshed after the source was copied from, so it is
 *     kept (and reported) unless --overwrite: writing the older token back
 *     would replace a working access token, and perhaps a newer refresh
 *     token, with stale ones.
 *  2. copy: the rest, in id order, in batches through ts_save_tokens, so a
 *     file or sqlite target is rewritten or committed once per batch.
 *     Each token keeps its id because it is saved with the id set.
 *  3. verify: one walk of the target proves that every source token is
 *     there under its id with every value it has.
 * A dry run stops after the first pass and prints the plan, token by
 * token; it never opens the target for writing, so a target that does
 * not exist is not created. The source is only read. Fields a source
 * token leaves empty keep the target's value, as save_token does. Each
 * store seals and opens values with its own encrypt section, so every
 * pass compares plain values and a migration encrypts or decrypts on the
 * way; the summary says which.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

#define MIGRATE_BATCH 1000
#define PROGRESS_MIN 1000         /* smaller stores need no progress bar */
#define PROGRESS_WIDTH 30
#define CONFLICTS_SHOWN 10

struct token_list {
    ts_token **items;
    size_t n, cap;
};

/* What happens to each source token; the names are the dry run's. */
enum change { CHANGE_ADD, CHANGE_UPDATE, CHANGE_NONE, CHANGE_KEEP, CHANGE_REFUSE,
              CHANGE_KINDS };
static const char *const change_names[CHANGE_KINDS] = {
    "add", "update", "same", "keep", "refuse",
};

struct migration {
    const struct cli *opt;        /* --quiet, --dry-run, --overwrite */
    ts_store *source, *target;
    const char *from, *to;        /* "sqlite store /path", for messages */
    struct token_list tokens;     /* the source's, in ascending numeric id */
    unsigned char *change;        /* an enum change per token */
    size_t count[CHANGE_KINDS];
    size_t conflicts;             /* with the target's tokens */
    size_t unsaveable;            /* source tokens no store takes */
};

/* A bar on stderr, drawn only on a terminal and only for large stores. */
struct progress {
    const char *label;
    size_t total, done;
    int shown, last_percent;
};

static void progress_step(struct progress *p, size_t n)
{
    char bar[PROGRESS_WIDTH + 1];

    p->done += n;
    if (!p->shown || p->total == 0)
        return;
    int percent = (int)(p->done * 100 / p->total);
    if (percent == p->last_percent)
        return;
    p->last_percent = percent;
    int filled = percent * PROGRESS_WIDTH / 100;
    memset(bar, '#', (size_t)filled);
    memset(bar + filled, '.', (size_t)(PROGRESS_WIDTH - filled));
    bar[PROGRESS_WIDTH] = '\0';
    fprintf(stderr, "\r%-8s [%s] %3d%% %zu/%zu", p->label, bar, percent, p->done, p->total);
    fflush(stderr);
}

static void progress_start(struct progress *p, const struct migration *m, const char *label,
                           size_t total)
{
    *p = (struct progress){ .label = label, .total = total, .last_percent = -1 };
    p->shown = !m->opt->quiet && total >= PROGRESS_MIN && isatty(STDERR_FILENO);
    progress_step(p, 0);
}

static void progress_end(const struct progress *p)
{
    if (p->shown)
        fputs("\r\033[K", stderr);      /* erase the bar's line */
}

/* A token's id as a number, by the library's strict rule; the stores
 * hold no other kind, but one would sort last. */
static uint64_t id_value(const ts_token *token)
{
    uint64_t id;

    return ts_id_parse(ts_token_get(token, TS_FIELD_ID), &id) == TS_OK ? id : UINT64_MAX;
}

static int by_id(const void *a, const void *b)
{
    uint64_t x = id_value(*(ts_token *const *)a), y = id_value(*(ts_token *const *)b);
    return (x > y) - (x < y);
}

static int collect_one(const ts_token *token, void *userdata)
{
    struct token_list *list = userdata;

    if (list->n == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 256;
        ts_token **grown = realloc(list->items, cap * sizeof *grown);
        if (!grown)
            return TS_ERR_NOMEM;
        list->items = grown;
        list->cap = cap;
    }
    if (!(list->items[list->n] = ts_token_dup(token)))
        return TS_ERR_NOMEM;
    list->n++;
    return TS_OK;
}

static void token_list_free(struct token_list *list)
{
    for (size_t i = 0; i < list->n; i++)
        ts_token_free(list->items[i]);
    free(list->items);
}

/* "user_name 'a@b.com'" or "a token without user_name", escaped. */
static void describe_token(const ts_token *token, char *out, size_t size)
{
    char *user = cli_escape(ts_token_get(token, TS_FIELD_USER_NAME));

    if (user && user[0])
        snprintf(out, size, "user_name '%.100s'", user);
    else
        snprintf(out, size, "a token without user_name");
    free(user);
}

/* Whether two tokens are one: the same user, or, when either has no
 * user_name, a refresh, grant or access token in common. */
static int same_token(const ts_token *a, const ts_token *b)
{
    static const ts_field credentials[] = {
        TS_FIELD_REFRESH_TOKEN, TS_FIELD_GRANT_TOKEN, TS_FIELD_ACCESS_TOKEN,
    };
    const char *user_a = ts_token_get(a, TS_FIELD_USER_NAME);
    const char *user_b = ts_token_get(b, TS_FIELD_USER_NAME);

    if (user_a[0] && user_b[0])
        return strcmp(user_a, user_b) == 0;
    for (size_t i = 0; i < sizeof credentials / sizeof *credentials; i++) {
        const char *value = ts_token_get(a, credentials[i]);
        if (value[0] && strcmp(value, ts_token_get(b, credentials[i])) == 0)
            return 1;
    }
    return 0;
}

/* Whether `row` has every value `token` has; the first missing field, if
 * any, in *differs. */
static int holds(const ts_token *row, const ts_token *token, ts_field *differs)
{
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        const char *value = ts_token_get(token, (ts_field)f);
        if (value[0] && strcmp(value, ts_token_get(row, (ts_field)f)) != 0) {
            if (differs)
                *differs = (ts_field)f;
            return 0;
        }
    }
    return 1;
}

static void report_conflict(struct migration *m, const ts_token *source, const ts_token *row)
{
    const char *id = ts_token_get(source, TS_FIELD_ID);
    const char *row_id = ts_token_get(row, TS_FIELD_ID);
    char mine[160], theirs[160];

    if (++m->conflicts > CONFLICTS_SHOWN)
        return;
    describe_token(source, mine, sizeof mine);
    describe_token(row, theirs, sizeof theirs);
    if (strcmp(id, row_id) == 0)
        fprintf(stderr, "tokenstore: conflict: id %s is %s in %s but %s in %s\n", id, mine,
                m->from, theirs, m->to);
    else
        fprintf(stderr, "tokenstore: conflict: id %s of %s (%s) is stored under id %s "
                "in %s\n", id, m->from, mine, row_id, m->to);
}

/* The same token under another id in the target would make the save
 * give it two rows (the core would refuse with TS_ERR_CONFLICT). */
static int check_key(struct migration *m, const ts_token *source, ts_token *row, ts_error *err)
{
    int rc = TS_OK;

    ts_token_clear(row);
    for (int f = 0; f < TS_FIELD_COUNT && rc == TS_OK; f++)
        if (f != TS_FIELD_ID)
            rc = ts_token_set(row, (ts_field)f, ts_token_get(source, (ts_field)f));
    if (rc != TS_OK)
        return rc;
    rc = ts_find_token(m->target, row, err);
    if (rc == TS_OK && strcmp(ts_token_get(row, TS_FIELD_ID),
                              ts_token_get(source, TS_FIELD_ID)) != 0)
        report_conflict(m, source, row);
    /* No match, or no key to match by: the save will go by id alone. */
    return rc == TS_NOT_FOUND || rc == TS_ERR_INVALID ? TS_OK : rc;
}

/* A new token without refresh, grant or access token (a hand-edited file
 * can hold one) is refused by every store, and would make its whole batch
 * fail half way through the copy. (An update may leave them out: the
 * target's row keeps its own, as the SDK's save does.) */
static int saveable(struct migration *m, const ts_token *source)
{
    if (ts_token_get(source, TS_FIELD_REFRESH_TOKEN)[0] ||
        ts_token_get(source, TS_FIELD_GRANT_TOKEN)[0] ||
        ts_token_get(source, TS_FIELD_ACCESS_TOKEN)[0])
        return 1;
    if (++m->unsaveable <= CONFLICTS_SHOWN)
        fprintf(stderr, "tokenstore: token %s of %s has no refresh, grant or access token: "
                "no store takes it as a new token\n", ts_token_get(source, TS_FIELD_ID),
                m->from);
    return 0;
}

/* Whether the target's row was refreshed after the source's copy: its
 * expiry_time is later. Values that are not numbers are never later. */
static int target_is_newer(const ts_token *row, const ts_token *source)
{
    const char *mine = ts_token_get(source, TS_FIELD_EXPIRY_TIME);
    const char *theirs = ts_token_get(row, TS_FIELD_EXPIRY_TIME);

    if (!cli_all_digits(mine) || !cli_all_digits(theirs))
        return 0;
    return strtoull(theirs, NULL, 10) > strtoull(mine, NULL, 10);
}

static void report_kept(struct migration *m, const ts_token *source)
{
    char who[160];

    if (m->count[CHANGE_KEEP] > CONFLICTS_SHOWN || m->opt->quiet)
        return;
    describe_token(source, who, sizeof who);
    fprintf(stderr, "tokenstore: keeping token %s (%s) of %s: its expiry_time is later than "
            "in %s (--overwrite replaces it)\n", ts_token_get(source, TS_FIELD_ID), who,
            m->to, m->from);
}

/* What the save of source would do to the target (row is scratch). */
static int plan_one(struct migration *m, const ts_token *source, ts_token *row,
                    enum change *change, ts_error *err)
{
    *change = CHANGE_REFUSE;
    if (!m->target) {                  /* a dry run into a store not there yet */
        if (saveable(m, source))
            *change = CHANGE_ADD;
        return TS_OK;
    }
    int rc = ts_find_token_by_id(m->target, ts_token_get(source, TS_FIELD_ID), row, err);
    if (rc != TS_OK && rc != TS_NOT_FOUND)
        return rc;
    if (rc == TS_OK && !same_token(source, row)) {
        report_conflict(m, source, row);
        return TS_OK;
    }
    enum change planned = rc == TS_NOT_FOUND ? CHANGE_ADD
                          : holds(row, source, NULL) ? CHANGE_NONE
                          : !m->opt->overwrite && target_is_newer(row, source) ? CHANGE_KEEP
                          : CHANGE_UPDATE;
    if (planned == CHANGE_ADD && !saveable(m, source))
        return TS_OK;
    size_t conflicts = m->conflicts;
    rc = check_key(m, source, row, err);
    if (m->conflicts == conflicts)
        *change = planned;
    return rc;
}

static int check_one(struct migration *m, size_t i, ts_token *row, ts_error *err)
{
    enum change change;
    int rc = plan_one(m, m->tokens.items[i], row, &change, err);

    m->change[i] = (unsigned char)change;
    m->count[change]++;
    if (change == CHANGE_KEEP)
        report_kept(m, m->tokens.items[i]);
    return rc;
}

static const char *nothing_copied(const struct migration *m)
{
    return m->opt->dry_run ? "a migration would copy nothing" : "nothing was copied";
}

static int check_all(struct migration *m)
{
    struct progress bar;
    ts_error err = { 0 };
    ts_token *row = ts_token_new();
    int rc = row ? TS_OK : TS_ERR_NOMEM;

    progress_start(&bar, m, "Checking", m->tokens.n);
    for (size_t i = 0; i < m->tokens.n && rc == TS_OK; i++) {
        rc = check_one(m, i, row, &err);
        progress_step(&bar, 1);
    }
    progress_end(&bar);
    ts_token_free(row);
    if (rc != TS_OK)
        return err.message[0] ? cli_store_error(rc, &err) : cli_out_of_memory();
    if (m->unsaveable > 0)
        fprintf(stderr, "tokenstore: %zu token%s of %s cannot be saved: %s\n",
                m->unsaveable, m->unsaveable == 1 ? "" : "s", m->from, nothing_copied(m));
    if (m->conflicts > 0) {
        if (m->conflicts > CONFLICTS_SHOWN)
            fprintf(stderr, "tokenstore: ... and %zu more conflicts\n",
                    m->conflicts - CONFLICTS_SHOWN);
        fprintf(stderr, "tokenstore: %zu conflict%s between %s and %s: %s (delete the "
                "target's token or migrate to another store)\n", m->conflicts,
                m->conflicts == 1 ? "" : "s", m->from, m->to, nothing_copied(m));
        return CLI_CONFLICT;
    }
    return m->unsaveable > 0 ? CLI_STORE : CLI_OK;
}

static int copy_changed(struct migration *m)
{
    ts_token *batch[MIGRATE_BATCH];
    struct progress bar;
    ts_error err = { 0 };
    size_t n = 0, copied = 0;
    int rc = TS_OK;

    progress_start(&bar, m, "Copying", m->count[CHANGE_ADD] + m->count[CHANGE_UPDATE]);
    for (size_t i = 0; i <= m->tokens.n && rc == TS_OK; i++) {
        if (i < m->tokens.n &&
            (m->change[i] == CHANGE_ADD || m->change[i] == CHANGE_UPDATE))
            batch[n++] = m->tokens.items[i];
        if (n == MIGRATE_BATCH || (i == m->tokens.n && n > 0)) {
            if ((rc = ts_save_tokens(m->target, batch, n, &err)) == TS_OK) {
                progress_step(&bar, n);
                copied += n;
                n = 0;
            }
        }
    }
    progress_end(&bar);
    if (rc == TS_OK)
        return CLI_OK;
    fprintf(stderr, "tokenstore: copying to %s stopped after %zu of %zu tokens, in the "
            "batch of ids %s to %s: %s\n", m->to, copied, bar.total,
            ts_token_get(batch[0], TS_FIELD_ID), ts_token_get(batch[n - 1], TS_FIELD_ID),
            err.message[0] ? err.message : ts_strerror(rc));
    return cli_exit_status(rc);
}

struct verify {
    const struct migration *m;
    size_t found;
    const ts_token *bad;          /* the first token the target lacks a value of */
    ts_field bad_field;
};

static int verify_one(const ts_token *row, void *userdata)
{
    struct verify *v = userdata;
    const struct token_list *tokens = &v->m->tokens;
    const ts_token *key = row, *const *match;

    match = bsearch(&key, tokens->items, tokens->n, sizeof *tokens->items, by_id);
    if (!match)
        return TS_OK;           /* the target's own token */
    v->found++;
    if (v->m->change[match - (const ts_token *const *)tokens->items] == CHANGE_KEEP)
        return TS_OK;           /* the target's newer copy, kept on purpose */
    if (!v->bad && !holds(row, *match, &v->bad_field))
        v->bad = *match;
    return TS_OK;
}

static int verify_copy(struct migration *m)
{
    struct verify v = { .m = m };
    ts_error err = { 0 };
    int rc = ts_get_tokens(m->target, verify_one, &v, &err);

    if (rc != TS_OK)
        return cli_store_error(rc, &err);
    if (v.bad) {
        fprintf(stderr, "tokenstore: after copying, token %s in %s does not hold the "
                "source's %s\n", ts_token_get(v.bad, TS_FIELD_ID), m->to,
                ts_field_name(v.bad_field));
        return CLI_STORE;
    }
    if (v.found != m->tokens.n) {
        fprintf(stderr, "tokenstore: after copying, %s holds %zu of the %zu tokens of %s\n",
                m->to, v.found, m->tokens.n, m->from);
        return CLI_STORE;
    }
    return CLI_OK;
}


/* What happens to values on the way: each store seals and opens its own
 * (the library does it), so a migration between an encrypted store and a
 * plain one, or two keys, decrypts or encrypts them. "" when neither
 * store encrypts, or both with one key. */
static void crypt_note(const struct migration *m, char *out, size_t size)
{
    const char *from = ts_store_key_id(m->source);
    const char *to = m->target ? ts_store_key_id(m->target) : NULL;

    *out = '\0';
    if (to && from && strcmp(from, to) != 0)
        snprintf(out, size, " Values are decrypted with key %s and encrypted with key %s on "
                 "the way.", from, to);
    else if (to && !from)
        snprintf(out, size, " Values are encrypted with key %s on the way.", to);
    else if (from && m->target && !to)
        snprintf(out, size, " Values are decrypted on the way: the target keeps them "
                 "unencrypted.");
}

/* The dry run's plan: one line per source token, then the totals. */
static void print_plan(const struct migration *m)
{
    char who[160];

    for (size_t i = 0; i < m->tokens.n; i++) {
        describe_token(m->tokens.items[i], who, sizeof who);
        printf("%-7s id %s, %s\n", change_names[m->change[i]],
               ts_token_get(m->tokens.items[i], TS_FIELD_ID), who);
    }
    char note[160];
    crypt_note(m, note, sizeof note);
    printf("Dry run, %zu token%s from %s to %s: %zu to add, %zu to update, %zu already "
           "there, %zu kept (newer in the target), %zu refused.%s Nothing was written.\n",
           m->tokens.n, m->tokens.n == 1 ? "" : "s", m->from, m->to, m->count[CHANGE_ADD],
           m->count[CHANGE_UPDATE], m->count[CHANGE_NONE], m->count[CHANGE_KEEP],
           m->count[CHANGE_REFUSE], note);
}

static void print_summary(const struct migration *m)
{
    char kept[64] = "", note[160];

    if (m->count[CHANGE_KEEP])
        snprintf(kept, sizeof kept, ", %zu kept (newer in the target)", m->count[CHANGE_KEEP]);
    crypt_note(m, note, sizeof note);
    printf("%zu token%s from %s to %s: %zu added, %zu updated, %zu already there%s.%s\n",
           m->tokens.n, m->tokens.n == 1 ? "" : "s", m->from, m->to, m->count[CHANGE_ADD],
           m->count[CHANGE_UPDATE], m->count[CHANGE_NONE], kept, note);
}

static int run(struct migration *m)
{
    ts_error err = { 0 };
    int rc = ts_get_tokens(m->source, collect_one, &m->tokens, &err);

    if (rc != TS_OK)
        return err.message[0] ? cli_store_error(rc, &err) : cli_out_of_memory();
    if (m->tokens.n == 0) {
        if (!m->opt->quiet)
            printf("No tokens in %s: nothing to copy.\n", m->from);
        return CLI_OK;
    }
    qsort(m->tokens.items, m->tokens.n, sizeof *m->tokens.items, by_id);
    if (!(m->change = calloc(m->tokens.n, 1)))
        return cli_out_of_memory();
    rc = check_all(m);
    if (m->opt->dry_run) {
        print_plan(m);
        return rc;
    }
    if (rc != CLI_OK || (rc = copy_changed(m)) != CLI_OK || (rc = verify_copy(m)) != CLI_OK)
        return rc;
    if (!m->opt->quiet)
        print_summary(m);
    return CLI_OK;
}

/* ---------------------------------------------------------------- the command */

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
 * an empty store created by the attempt. */
static int cmd_migrate(struct cli *cli)
{
    struct migration m = { .opt = cli };
    ts_config *source_cfg = NULL, *target_cfg = NULL;
    char from[256], to[256];
    int rc;

    if (!cli->to || !cli->to[0])
        return cli_usage_error("usage: tokenstore %s", cli->command->synopsis);
    rc = cli_open_store(cli, TS_OPEN_READ_ONLY, &m.source, &source_cfg);
    if (rc == CLI_OK && (rc = open_target(cli, &m.target, &target_cfg)) == CLI_OK) {
        cli_describe_store(m.source, source_cfg, from, sizeof from);
        cli_describe_store(m.target, target_cfg, to, sizeof to);
        m.from = from;
        m.to = to;
        rc = run(&m);
    }
    token_list_free(&m.tokens);
    free(m.change);
    ts_store_close(m.target);
    ts_store_close(m.source);
    ts_config_free(target_cfg);
    ts_config_free(source_cfg);
    return rc;
}

const struct cli_command cli_cmd_migrate = {
    "migrate", cmd_migrate,
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
    "source token leaves empty keep the target's value. Each store encrypts\n"
    "as its own config's encrypt section says, so a migration from a plain\n"
    "store to an encrypted one encrypts the values on the way, one the other\n"
    "way decrypts them, and one between two keys does both.\n"
    "--dry-run prints, token by token, what would be added, updated, left as\n"
    "it is (same), kept, or refused, and writes nothing: the target is opened\n"
    "read-only and not created. Its exit status is the one the migration\n"
    "would have.\n"
    "The source is opened read-only: one that does not exist is an error\n"
    "(exit status 3). -o options apply to the source; give the target's in\n"
    "its URI (sqlite:/path?busy_timeout_ms=9000) or config. A progress bar is\n"
    "drawn on stderr when it is a terminal and the store holds 1000 tokens or\n"
    "more.\n",
};
