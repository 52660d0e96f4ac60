/*
 * cli/cmd_status.c - `tokenstore status`: which store is in use, what it
 * resolved to, and what it holds.
 *
 * status opens its store read-only, so looking never creates or changes
 * one; it shows what it knows even when the store cannot be read, since
 * where the store was looked for is what the user needs then. Every
 * option the store was given is shown, the ones that say where it is on
 * the location line (the same names however the store was spelt: a
 * mysql:// URI's user and a socket URI's ?user= are both "user"), the
 * rest on the options line, each whose name says it holds a password, a
 * secret or a key as "****" (a key's id is shown). What the backend
 * reached beyond its options (the master a Redis Sentinel named, the
 * cluster node of the store's slot) comes from the lines the backend logs
 * while the store is read; then the OAuth settings in force and the
 * refresh log's counts (cmd_refreshes.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* The options that say where a store is, in the order shown. */
static const char *const location_keys[] = {
    "path", "socket", "host", "hostaddr", "port", "sentinels", "master_name", "db", "database",
    "dbname", "service", "prefix", "schema", "table", "user", "password", "conninfo",
};
#define NLOCATION (sizeof location_keys / sizeof *location_keys)

struct status {
    const struct cli *cli;
    const char *source;           /* how the config was chosen */
    const char *file;             /* the config file, or NULL */
    ts_backend_info info;         /* name only when the store was not opened */
    int opened;                   /* its tokens were counted */
    int exists;                   /* 1, 0, or -1 when it could not be opened */
    size_t tokens, expired;
    int64_t now_ms;
    ts_store *store;              /* opened read-only, or NULL */
    char reached[320];            /* what the backend said it reached */
    int log_level;                /* the log lines passed on to stderr */
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

/* ---------------------------------------------------------------- options */

/* "user" for both spellings of the user a store logs in as. */
static const char *shown_key(const char *key)
{
    return strcmp(key, "username") == 0 ? "user" : key;
}

static int is_location(const char *key)
{
    for (size_t i = 0; i < NLOCATION; i++)
        if (strcmp(shown_key(key), location_keys[i]) == 0)
            return 1;
    return 0;
}

/* A password, a secret, a passphrase or key material: never shown, nor a
 * whole libpq connection string, which may hold a password. A key's id
 * ("key_id") and a TLS file's path ("tls_key", "sslkey") are not secret. */
static int is_secret_option(const char *key)
{
    size_t len = strlen(key);

    if (strstr(key, "password") || strstr(key, "secret") || strstr(key, "passphrase") ||
        strcmp(key, "conninfo") == 0)
        return 1;
    if (strncmp(key, "tls_", 4) == 0 || strcmp(key, "sslkey") == 0)
        return 0;
    return (len >= 3 && strcmp(key + len - 3, "key") == 0) ||
           (len >= 4 && strcmp(key + len - 4, "keys") == 0);
}

/* The options of one line: the location's in location_keys' order, the
 * others in the order they were set. Into json (an object) or onto out. */
struct option_line {
    int location;
    json_object *json;
    FILE *out;
    int shown;
};

static void show_option(struct option_line *l, const char *key, const char *value)
{
    char *text = is_secret_option(key) ? strdup("****") : cli_escape(value);

    if (!text)
        return;
    if (l->json)
        json_object_object_add(l->json, shown_key(key), json_object_new_string(text));
    if (l->out)
        fprintf(l->out, " %s=%s", shown_key(key), text);
    l->shown++;
    free(text);
}

static int other_option(const char *key, const char *value, void *userdata)
{
    if (!is_location(key))
        show_option(userdata, key, value);
    return 0;
}

static int show_options(const ts_config *cfg, int location, json_object *json, FILE *out)
{
    struct option_line l = { location, json, out, 0 };

    if (!location) {
        ts_config_foreach_option(cfg, other_option, &l);
        return l.shown;
    }
    for (size_t i = 0; i < NLOCATION; i++) {
        const char *key = location_keys[i];
        const char *value = ts_config_option(cfg, key);
        if (!value && strcmp(key, "user") == 0)
            value = ts_config_option(cfg, key = "username");
        if (value)
            show_option(&l, key, value);
    }
    return l.shown;
}

/* ---------------------------------------------------------------- the store */

/* The backend's log lines while status reads: what it reached is kept,
 * and each line goes on to stderr as the command's logger would. */
static void status_log(void *userdata, int level, const char *message)
{
    struct status *st = userdata;
    const char *master = strstr(message, "the master of '");
    const char *node = strstr(message, "cluster slot is served by ");

    if (master && strstr(master, "' is "))
        snprintf(st->reached, sizeof st->reached, "master %s (named by the sentinels)",
                 strstr(master, "' is ") + 5);
    else if (node)
        snprintf(st->reached, sizeof st->reached, "cluster node %s",
                 node + strlen("cluster slot is served by "));
    if (level <= st->log_level)
        fprintf(stderr, "tokenstore: %s\n", message);
}

static int count_expired(const ts_token *token, void *userdata)
{
    struct status *st = userdata;
    int64_t expiry;

    st->tokens++;
    st->expired += cli_token_expiry(token, &expiry) == 0 && expiry < st->now_ms;
    return TS_OK;
}

/* ---------------------------------------------------------------- output */

static int print_status_text(struct status *st, const ts_config *cfg)
{
    printf("config:   %s%s%s%s\n", st->source, st->file ? " (" : "", st->file ? st->file : "",
           st->file ? ")" : "");
    printf("backend:  %s", st->info.name);
    if (st->info.version)
        printf(" %s (%s)", st->info.version, st->info.path);
    printf("\nlocation:");
    if (!show_options(cfg, 1, NULL, stdout))
        printf(" none (this process's memory)");
    putchar('\n');
    if (show_options(cfg, 0, NULL, NULL)) {
        printf("options: ");
        show_options(cfg, 0, NULL, stdout);
        putchar('\n');
    }
    if (st->reached[0]) {
        char *reached = cli_escape(st->reached);
        printf("reached:  %s\n", reached ? reached : "?");
        free(reached);
    }
    if (st->opened)
        printf("tokens:   %zu (%zu expired)\n", st->tokens, st->expired);
    else
        printf("tokens:   unknown, %s\n", st->exists == 0 ? "the store does not exist"
                                                         : "the store could not be read");
    cli_encrypt_status(st->store, cfg, NULL, stdout);
    return cli_oauth_status(st->store, cfg, NULL, stdout);
}

static int print_status_json(struct status *st, const ts_config *cfg)
{
    json_object *o = json_object_new_object(), *loc = json_object_new_object();
    json_object *config = json_object_new_object(), *backend = json_object_new_object();
    json_object *options = json_object_new_object();

    if (!o || !loc || !config || !backend || !options) {
        ts__json_release(o);
        ts__json_release(loc);
        ts__json_release(config);
        ts__json_release(backend);
        ts__json_release(options);
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
    show_options(cfg, 1, loc, NULL);
    json_object_object_add(o, "location", loc);
    show_options(cfg, 0, options, NULL);
    json_object_object_add(o, "options", options);
    json_object_object_add(o, "reached", st->reached[0] ? json_object_new_string(st->reached)
                                                        : NULL);
    json_object_object_add(o, "exists",
                           st->exists < 0 ? NULL : json_object_new_boolean(st->exists));
    json_object_object_add(o, "tokens",
                           st->opened ? json_object_new_int64((int64_t)st->tokens) : NULL);
    json_object_object_add(o, "expired",
                           st->opened ? json_object_new_int64((int64_t)st->expired) : NULL);
    cli_encrypt_status(st->store, cfg, o, NULL);
    cli_oauth_status(st->store, cfg, o, NULL);
    cli_json_emit(stdout, o);
    return CLI_OK;
}

/* Opens the store read-only: looking never creates or changes it. */
static int cmd_status(struct cli *cli)
{
    struct status st = {
        .cli = cli, .now_ms = cli_now_ms(),
        .log_level = cli->quiet ? TS_LOG_ERROR : cli->verbose ? TS_LOG_DEBUG : TS_LOG_WARN,
    };
    ts_config *cfg;
    ts_store *store = NULL;
    ts_error err = { 0 };
    int rc = cli_load_config(cli, &cfg);

    if (rc != CLI_OK)
        return rc;
    config_source(cli, cfg, &st);
    st.info.name = ts_config_backend(cfg) ? ts_config_backend(cfg) : "?";
    ts_config_set_logger(cfg, status_log, &st, cli->verbose ? TS_LOG_DEBUG : TS_LOG_INFO);
    int code = ts_store_open_config_flags(&store, cfg, TS_OPEN_READ_ONLY, &err);
    st.exists = code == TS_OK ? 1 : code == TS_ERR_NO_STORE ? 0 : -1;
    if (code == TS_OK) {
        ts_store_info(store, &st.info);
        code = ts_get_tokens(store, count_expired, &st, &err);
        st.opened = code == TS_OK;
        st.store = store;
    }
    /* What is known is shown even when the store cannot be read: where it
     * was looked for is what the user needs then. */
    rc = cli->json ? print_status_json(&st, cfg) : print_status_text(&st, cfg);
    if (code != TS_OK) {
        rc = cli_store_error(code, &err);
        cli_suggest_backend(cfg, code);
    }
    ts_store_close(store);
    ts_config_free(cfg);
    return rc;
}

const struct cli_command cli_cmd_status = {
    "status", cmd_status, OPTS_GLOBAL | BIT(OPT_JSON), 0, 0,
    "status [--json]",
    "show which store is in use and what it holds",
    "Prints where the configuration came from (--config, --store,\n"
    "$TOKENSTORE_CONFIG, a config file, or the default store), the backend,\n"
    "its version and .so, every option the store was given: where it is\n"
    "(path, socket, host, hostaddr, port, sentinels, master_name, db,\n"
    "database, dbname, service, prefix, schema, table, user; a password and a\n"
    "libpq conninfo only as ****) and the others (TLS, timeouts,\n"
    "key ids; a value whose name says it holds a password, a secret or a key\n"
    "as ****); what the backend reached (the master the Sentinels named, the\n"
    "cluster node); how many tokens the store holds and how many of them\n"
    "have expired (expiry_time before now); the OAuth settings in force (the\n"
    "config's \"oauth\" section over the library's defaults) and what the\n"
    "refresh log counts: refreshes, processes served by another's, failures\n"
    "and the last one. --json prints the same as one object. The store is\n"
    "opened read-only; a store that does not exist is reported (exit status\n"
    "3) and not created.\n",
};
