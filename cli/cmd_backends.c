/*
 * cli/cmd_backends.c - the commands about stores and backends rather than
 * tokens: status (which store is in use and what it holds), backends
 * (which backends the search path offers) and check-backend (the
 * conformance suite, run where check.c allows).
 *
 * status opens its store read-only, so looking never creates or changes
 * one; it shows what it knows even when the store cannot be read, since
 * where the store was looked for is what the user needs then. A store's
 * password is shown as "****" only.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"

/* ---------------------------------------------------------------- status */

/* The options that say where a store is; a password is shown as set only. */
static const char *const location_keys[] = {
    "path", "socket", "host", "port", "db", "database", "prefix", "table", "user", "username",
    "password",
};

struct status {
    const char *source;           /* how the config was chosen */
    const char *file;             /* the config file, or NULL */
    ts_backend_info info;         /* name only when the store was not opened */
    int opened;                   /* its tokens were counted */
    int exists;                   /* 1, 0, or -1 when it could not be opened */
    size_t tokens, expired;
    int64_t now_ms;
    ts_store *store;              /* opened read-only, or NULL */
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
    cli_encrypt_status(st->store, cfg, NULL, stdout);
    return cli_oauth_status(st->store, cfg, NULL, stdout);
}

static int print_status_json(const struct status *st, const ts_config *cfg)
{
    json_object *o = json_object_new_object(), *loc = json_object_new_object();
    json_object *config = json_object_new_object(), *backend = json_object_new_object();

    if (!o || !loc || !config || !backend) {
        ts__json_release(o);
        ts__json_release(loc);
        ts__json_release(config);
        ts__json_release(backend);
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
    cli_encrypt_status(st->store, cfg, o, NULL);
    cli_oauth_status(st->store, cfg, o, NULL);
    cli_json_emit(stdout, o);
    return CLI_OK;
}

/* Opens the store read-only: looking never creates or changes it. */
static int cmd_status(struct cli *cli)
{
    struct status st = { .now_ms = (int64_t)time(NULL) * 1000 };
    ts_config *cfg;
    ts_store *store = NULL;
    ts_error err = { 0 };
    int rc = cli_load_config(cli, &cfg);

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
        st.store = store;
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

const struct cli_command cli_cmd_status = {
    "status", cmd_status, OPTS_GLOBAL | BIT(OPT_JSON), 0, 0,
    "status [--json]",
    "show which store is in use and what it holds",
    "Prints where the configuration came from (--config, --store,\n"
    "$TOKENSTORE_CONFIG, a config file, or the default store), the backend,\n"
    "its version and .so, the store's location options (a password only as\n"
    "****), and how many tokens it holds and how many of them have expired\n"
    "(expiry_time before now), the OAuth settings in force (the config's\n"
    "\"oauth\" section over the library's defaults) and what the refresh log\n"
    "counts: refreshes, processes served by another's, failures and the\n"
    "last one. --json prints the same as one object. The\n"
    "store is opened read-only; a store that does not exist is reported\n"
    "(exit status 3) and not created.\n",
};

/* ---------------------------------------------------------------- backends */

struct backends_state {
    cli_rows rows;
    size_t found;
};

static const char *const backend_headers[] = { "NAME", "VERSION", "ABI", "CAPABILITIES", "PATH" };

static const struct { uint32_t bit; const char *name; } capabilities[] = {
    { TS_CAP_PERSISTENT, "persistent" },
    { TS_CAP_SHARED, "shared" },
    { TS_CAP_THREAD_SAFE, "thread-safe" },
    { TS_CAP_NOTES, "notes" },
};

static int backend_json(struct backends_state *st, const ts_backend_info *info, const char *abi)
{
    json_object *o = json_object_new_object(), *caps = json_object_new_array();

    if (!o || !caps) {
        ts__json_release(o);
        ts__json_release(caps);
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
    return json_object_array_add(st->rows.array, o) == 0 ? TS_OK : TS_ERR_NOMEM;
}

static int backend_one(const ts_backend_info *info, void *userdata)
{
    struct backends_state *st = userdata;
    char abi[32], caps[64] = "";

    st->found++;
    snprintf(abi, sizeof abi, "%u.%u", info->abi_major, info->abi_minor);
    if (st->rows.array)
        return backend_json(st, info, abi);
    for (size_t i = 0; i < sizeof capabilities / sizeof *capabilities; i++)
        if (info->caps & capabilities[i].bit)
            snprintf(caps + strlen(caps), sizeof caps - strlen(caps), "%s%s",
                     caps[0] ? "," : "", capabilities[i].name);
    const char *row[] = { info->name, info->version, abi, caps, info->path };
    return cli_table_add(st->rows.table, row) == CLI_OK ? TS_OK : TS_ERR_NOMEM;
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
        return cli_load_config(cli, cfg);
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

    if (rc != CLI_OK || (rc = cli_rows_init(&st.rows, cli->json, 5, backend_headers)) != CLI_OK) {
        ts_config_free(cfg);
        return rc;
    }
    int code = ts_backends_list(cfg, backend_one, backend_broken, &st, &err);
    if (code != TS_OK) {
        rc = err.message[0] ? cli_store_error(code, &err) : cli_out_of_memory();
    } else if (st.found == 0) {
        fprintf(stderr, "tokenstore: no backends found (search path: plugin_dir of the "
                "config, $TOKENSTORE_PLUGIN_PATH, %s)\n", ts_plugin_dir());
        rc = CLI_NOT_FOUND;
    } else {
        cli_rows_print(&st.rows, stdout, !cli->no_headers);
    }
    cli_rows_free(&st.rows);
    ts_config_free(cfg);
    return rc;
}

const struct cli_command cli_cmd_backends = {
    "backends", cmd_backends, OPTS_GLOBAL | BIT(OPT_JSON) | BIT(OPT_NO_HEADERS), 0, 0,
    "backends [--json | --no-headers]",
    "list the backends found",
    "Lists every backend found in the search path (the config's plugin_dir,\n"
    "$TOKENSTORE_PLUGIN_PATH, the installed plugin directory): name, version,\n"
    "ABI, capabilities and path. Files that fail to load are reported on\n"
    "stderr.\n",
};

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
        .differential = cli->differential, .seed = cli->seed,
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

const struct cli_command cli_cmd_check_backend = {
    "check-backend", cmd_check_backend,
    BIT(OPT_OPTION) | BIT(OPT_QUIET) | BIT(OPT_VERBOSE) | BIT(OPT_FORCE) | BIT(OPT_HELP) |
    BIT(OPT_VERSION) | BIT(OPT_DIFFERENTIAL) | BIT(OPT_SEED), 1, 1,
    "check-backend (PATH | URI) [-o KEY=VALUE ...] [--force] [--differential N] [--seed S]",
    "run the conformance suite on a backend",
    "Runs the conformance suite against the backend PATH (a .so path or a\n"
    "backend name) with the given backend options, printing TAP on stdout.\n"
    "The suite deletes every token of its store again and again, so it runs\n"
    "on a scratch store that nothing else uses, made for the run and removed\n"
    "at the end whatever the outcome (interrupted too): a new directory for a\n"
    "backend with a path option (under $TMPDIR, or beside the -o path= or the\n"
    "URI's path, with a store of that name in it), a new random key prefix for\n"
    "redis (after -o prefix= if given), a new random table for mysql (after\n"
    "-o table= if given), on the server the other options name. The store\n"
    "the options or URI name is never opened. A backend with none of these\n"
    "options runs where its options say when its store is the handle's own\n"
    "(memory), and otherwise only with --force, which runs on the named store\n"
    "itself and DESTROYS its tokens. The last check runs N (200) seeded\n"
    "random sequences of saves, finds and deletes on the backend and on the\n"
    "memory backend and compares every answer; a failure names its seed,\n"
    "which --differential 1 --seed S replays. Exit status 0 when every check\n"
    "passed, 4 when some failed, 3 when the backend could not be loaded or\n"
    "opened, 2 when a store was refused.\n",
};
