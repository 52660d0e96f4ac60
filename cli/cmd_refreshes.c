/*
 * cli/cmd_refreshes.c - `tokenstore refreshes`, and the OAuth lines of
 * `tokenstore status`: what the refresh log and the settings say.
 *
 * The OAuth client logs each refresh and grant exchange, and each process
 * a refresh served while it waited, beside the tokens (ts_oauth_refresh_log).
 * This is how an operator confirms single flight in production: one
 * "refresh" entry per expiry, the other workers "served". Entries are JSON
 * objects; they are shown as a table, or passed on with --json. Reading
 * opens the store read-only and changes nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"

static const char *const log_headers[] = {
    "TIME", "EVENT", "ID", "USER", "HOST", "PID", "RESULT", "REQUESTS", "WAITED", "DETAIL",
};
#define LOG_COLUMNS (sizeof log_headers / sizeof *log_headers)

/* What one walk of the log gathers: the rows to print, or the counts
 * status shows. */
struct log_walk {
    cli_rows rows;
    int64_t since_ms;
    size_t refreshes, served, failures;
    int64_t last_failure_ms;
    char last_failure[160];
    int failed;              /* out of memory */
};

static const char *member_string(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
           ? json_object_get_string(v) : "";
}

static int64_t member_int(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static void count_entry(struct log_walk *w, json_object *e)
{
    const char *event = member_string(e, "event"), *result = member_string(e, "result");

    if (strcmp(event, "served") == 0)
        w->served++;
    else if (strcmp(result, "ok") == 0)
        w->refreshes++;
    else {
        w->failures++;
        w->last_failure_ms = member_int(e, "time");
        snprintf(w->last_failure, sizeof w->last_failure, "token %s: %s",
                 member_string(e, "id"), member_string(e, "detail"));
    }
}

static int add_row(struct log_walk *w, json_object *e)
{
    char time_text[32], ms[24], pid[24], requests[24], waited[32];
    char *cells[LOG_COLUMNS];

    snprintf(ms, sizeof ms, "%lld", (long long)member_int(e, "time"));
    if (cli_iso8601(ms, time_text) != 0)
        snprintf(time_text, sizeof time_text, "%s", ms);
    snprintf(pid, sizeof pid, "%lld", (long long)member_int(e, "pid"));
    snprintf(requests, sizeof requests, "%lld", (long long)member_int(e, "requests"));
    snprintf(waited, sizeof waited, "%lld ms", (long long)member_int(e, "waited_ms"));
    const char *values[LOG_COLUMNS] = {
        time_text, member_string(e, "event"), member_string(e, "id"), member_string(e, "user"),
        member_string(e, "host"), pid, member_string(e, "result"), requests, waited,
        member_string(e, "detail"),
    };
    int rc = CLI_OK;
    for (size_t c = 0; c < LOG_COLUMNS; c++)
        if (!(cells[c] = cli_escape(values[c])))
            rc = CLI_STORE;
    if (rc == CLI_OK)
        rc = cli_table_add(w->rows.table, (const char *const *)cells);
    for (size_t c = 0; c < LOG_COLUMNS; c++)
        free(cells[c]);
    return rc;
}

static int one_entry(const char *entry, void *ud)
{
    struct log_walk *w = ud;
    json_object *e = json_tokener_parse(entry);

    if (!e || !json_object_is_type(e, json_type_object) || member_int(e, "time") < w->since_ms) {
        json_object_put(e);
        return 0;                   /* an entry from another writer we cannot read: skip */
    }
    count_entry(w, e);
    if (w->rows.array) {
        w->failed |= json_object_array_add(w->rows.array, e) != 0;
        return 0;
    }
    if (w->rows.table)
        w->failed |= add_row(w, e) != CLI_OK;
    json_object_put(e);
    return 0;
}

/* "10m", "2h", "1d", "30s" back from now, or epoch milliseconds. */
static int parse_since(const char *arg, int64_t *out)
{
    int64_t back;

    if (cli_all_digits(arg) && strlen(arg) <= 18) {
        *out = strtoll(arg, NULL, 10);
        return 0;
    }
    if (cli_parse_duration(arg, &back) != 0)
        return -1;
    *out = cli_now_ms() - back;
    return 0;
}

static int cmd_refreshes(struct cli *cli)
{
    struct log_walk w = { 0 };
    ts_store *store;
    ts_error err = { 0 };
    int rc;

    if (cli->since && parse_since(cli->since, &w.since_ms) != 0)
        return cli_usage_error("--since takes a duration back from now (30s, 10m, 2h, 1d) or "
                               "epoch milliseconds, not '%.40s'", cli->since);
    if ((rc = cli_open_store(cli, TS_OPEN_READ_ONLY, &store, NULL)) != CLI_OK)
        return rc;
    if ((rc = cli_rows_init(&w.rows, cli->json, LOG_COLUMNS, log_headers)) == CLI_OK) {
        int code = ts_oauth_refresh_log(store, one_entry, &w, &err);
        if (code != TS_OK)
            rc = cli_store_error(code, &err);
        else if (w.failed)
            rc = cli_out_of_memory();
        else
            cli_rows_print(&w.rows, stdout, !cli->no_headers);
    }
    ts_backend_info info;
    ts_store_info(store, &info);
    if (rc == CLI_OK && !(info.caps & TS_CAP_NOTES) && !cli->quiet)
        fprintf(stderr, "tokenstore: the %s backend keeps no refresh log beside its tokens: "
                "each process logs in its own memory, which ends with it\n", info.name);
    cli_rows_free(&w.rows);
    ts_store_close(store);
    return rc;
}

const struct cli_command cli_cmd_refreshes = {
    "refreshes", cmd_refreshes, OPTS_GLOBAL | BIT(OPT_JSON) | BIT(OPT_NO_HEADERS) | BIT(OPT_SINCE),
    0, 0,
    "refreshes [--since DURATION] [--json | --no-headers]",
    "show the refresh log",
    "Lists the refresh log the OAuth client keeps beside the tokens (a side\n"
    "table, a capped list or a side file, never the SDK's own table or CSV):\n"
    "each refresh and grant exchange with its time, token id, user, host and\n"
    "process, result, requests sent and time taken, and each process that a\n"
    "refresh served while it waited. One \"refresh\" per expiry and the other\n"
    "workers \"served\" is single flight at work. --since 10m (30s, 2h, 1d, or\n"
    "epoch milliseconds) shows the newer entries only; --json prints them as\n"
    "objects. The store is opened read-only.\n",
};

/* ---------------------------------------------------------------- status */

/* The OAuth settings in force (the config's "oauth" section over the
 * library's defaults) and what the refresh log counts. */
int cli_oauth_status(ts_store *store, const ts_config *cfg, json_object *json, FILE *out)
{
    size_t n;
    const ts_oauth_setting *settings = ts_oauth_settings(&n);
    struct log_walk w = { 0 };
    ts_oauth *oauth;
    ts_error err = { 0 };
    char value[512];

    if (ts_oauth_new(&oauth, NULL, cfg, &err) != TS_OK)
        return CLI_OK;              /* cli_load_config has said why */
    json_object *set = json ? json_object_new_object() : NULL;
    if (out)
        fprintf(out, "oauth:   ");
    for (size_t i = 0; i < n; i++) {
        if (strchr(settings[i].name, '*') ||
            ts_oauth_get(oauth, settings[i].name, value, sizeof value, &err) != TS_OK ||
            !value[0])
            continue;
        if (set)
            json_object_object_add(set, settings[i].name, json_object_new_string(value));
        if (out)
            fprintf(out, " %s=%s", settings[i].name, value);
    }
    ts_oauth_free(oauth);
    if (store)
        ts_oauth_refresh_log(store, one_entry, &w, &err);
    if (out) {
        fprintf(out, "\nrefresh log: %zu refreshes, %zu served, %zu failures", w.refreshes,
                w.served, w.failures);
        char ms[24], date[32];
        snprintf(ms, sizeof ms, "%lld", (long long)w.last_failure_ms);
        if (w.failures && cli_iso8601(ms, date) == 0)
            fprintf(out, "; last failure %s, %s", date, w.last_failure);
        fputc('\n', out);
    }
    if (json) {
        json_object *log = json_object_new_object();
        json_object_object_add(log, "refreshes", json_object_new_int64((int64_t)w.refreshes));
        json_object_object_add(log, "served", json_object_new_int64((int64_t)w.served));
        json_object_object_add(log, "failures", json_object_new_int64((int64_t)w.failures));
        json_object_object_add(log, "last_failure", w.failures ?
                               json_object_new_string(w.last_failure) : NULL);
        json_object_object_add(json, "oauth", set);
        json_object_object_add(json, "refresh_log", log);
    }
    return CLI_OK;
}
