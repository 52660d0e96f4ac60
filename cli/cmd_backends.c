/*
 * cli/cmd_backends.c - the commands about backends rather than tokens:
 * backends (which backends the search path offers, and the URI schemes
 * that open them) and check-backend (the conformance suite, run where
 * check.c allows).
 * `backends --schemes` prints the schemes of schemes.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"

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

/* ---------------------------------------------------------------- the command */

static int print_schemes(const ts_config *cfg)
{
    size_t n;
    char **schemes = cli_uri_schemes(cfg, 1, &n);

    if (!schemes)
        return cli_out_of_memory();
    for (size_t i = 0; i < n; i++)
        printf("%s:\n", schemes[i]);
    cli_strings_free(schemes);
    return CLI_OK;
}

static int cmd_backends(struct cli *cli)
{
    struct backends_state st = { 0 };
    ts_config *cfg;
    ts_error err = { 0 };
    int rc = backends_config(cli, &cfg);

    if (rc == CLI_OK && cli->schemes) {
        rc = cli->json || cli->no_headers
             ? cli_usage_error("--schemes takes no --json or --no-headers")
             : print_schemes(cfg);
        ts_config_free(cfg);
        return rc;
    }
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
    "backends", cmd_backends,
    OPTS_GLOBAL | BIT(OPT_JSON) | BIT(OPT_NO_HEADERS) | BIT(OPT_SCHEMES), 0, 0,
    "backends [--json | --no-headers | --schemes]",
    "list the backends found",
    "Lists every backend found in the search path (the config's plugin_dir,\n"
    "$TOKENSTORE_PLUGIN_PATH, the installed plugin directory): name, version,\n"
    "ABI, capabilities and path. Files that fail to load are reported on\n"
    "stderr. --schemes prints instead the URI schemes that open them, one a\n"
    "line: each backend's name and the other spellings of one (rediss:,\n"
    "redis-sentinel:, rediss-sentinel:, unix:), as completion offers them.\n",
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
