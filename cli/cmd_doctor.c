/*
 * cli/cmd_doctor.c - `tokenstore doctor`: checks a deployment the way an
 * operator would by hand, and says what is wrong and how to fix it.
 *
 * The checks run in turn, each adding findings: the config file (its mode
 * and owner), the store (reachable, readable, writable unless --read-only,
 * the backend's privileges and whatever the backend warned about while
 * being opened), the tokens (without a refresh token, expired long ago,
 * two rows for one user), the TLS certificates the options name, the
 * accounts server of each data center in use and this host's clock
 * against that server's. A check that cannot run says so rather than
 * pass. The exit status is the worst finding's, as a monitoring plugin's
 * (0 nothing wrong, 1 warnings, 2 errors), and --json prints the findings
 * for a monitoring system.
 *
 * Nothing is changed: the store is read, and written to only with an
 * empty transaction and the delete of an id no token has, which leave
 * every token as it was; nothing is sent to an accounts server but a
 * HEAD request, without a secret.
 */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "doctor.h"

static const char *const severity_names[] = { "ok", "info", "warning", "error" };

/* ---------------------------------------------------------------- the config file */

/* The secret a config file holds, named by its key path, or NULL. The
 * file is loaded again on its own, so that -o options given to doctor
 * are not taken for the file's. */
static const char *file_secret(const char *path)
{
    ts_config *cfg;
    ts_oauth *oauth;
    const char *key = NULL;
    char value[16] = "";

    if (ts_config_load(&cfg, path, NULL) != TS_OK)
        return NULL;
    if (ts_oauth_new(&oauth, NULL, cfg, NULL) == TS_OK) {
        ts_oauth_get(oauth, "client_secret", value, sizeof value, NULL);
        ts_oauth_free(oauth);
    }
    key = value[0] ? "oauth.client_secret"
          : ts_config_option(cfg, "password") ? "store.options.password"
          : ts_config_option(cfg, "sentinel_password") ? "store.options.sentinel_password"
          : NULL;
    ts_config_free(cfg);
    return key;
}

static void owner_name(uid_t uid, char *out, size_t size)
{
    struct passwd *pw = getpwuid(uid);

    if (pw)
        snprintf(out, size, "%s", pw->pw_name);
    else
        snprintf(out, size, "uid %u", (unsigned)uid);
}

/* Its mode and owner: anyone who may write it chooses where the tokens
 * go and which accounts server gets the client secret; anyone who may
 * read it reads the secrets it holds. */
static void check_config_file(struct doctor *d, const char *path)
{
    struct stat st;
    char owner[64], fix[512];
    const char *secret = file_secret(path);
    unsigned mode;

    if (stat(path, &st) != 0) {
        doctor_add(d, "config", DOCTOR_SEV_ERROR, NULL, "%s: %s", path, strerror(errno));
        return;
    }
    mode = (unsigned)(st.st_mode & 07777);
    owner_name(st.st_uid, owner, sizeof owner);
    snprintf(fix, sizeof fix, "chmod %s %s", secret ? "600" : "go-w", path);
    if (mode & 022)
        doctor_add(d, "config", DOCTOR_SEV_ERROR, fix, "%s is writable by %s (mode %04o): "
                   "whoever may write it chooses the store and the accounts server", path,
                   mode & 002 ? "others" : "its group", mode);
    if (secret && (mode & 004))
        doctor_add(d, "config", DOCTOR_SEV_ERROR, fix, "%s holds secrets (%s) and is readable "
                   "by others (mode %04o)", path, secret, mode);
    else if (secret && (mode & 040))
        doctor_add(d, "config", DOCTOR_SEV_WARNING, fix, "%s holds secrets (%s) and is "
                   "readable by its group (mode %04o)", path, secret, mode);
    if (st.st_uid != geteuid() && st.st_uid != 0) {
        snprintf(fix, sizeof fix, "chown root %s (or the application's user)", path);
        doctor_add(d, "config", DOCTOR_SEV_WARNING, fix, "%s is owned by %s, neither this user "
                   "nor root: its owner may change it", path, owner);
    }
    if (!(mode & 022) && !(secret && (mode & 044)) &&
        (st.st_uid == geteuid() || st.st_uid == 0))
        doctor_add(d, "config", DOCTOR_SEV_OK, NULL, "%s: mode %04o, owner %s%s", path, mode,
                   owner, secret ? ", holds secrets" : "");
}

/* The library's own warning about a config file that others may read is
 * doctor's finding instead; other lines go to stderr as usual. */
static void default_log(void *userdata, int level, const char *message)
{
    const struct doctor *d = userdata;

    if (strstr(message, " holds secrets ("))
        return;
    if (level <= (d->cli->quiet ? TS_LOG_ERROR : d->cli->verbose ? TS_LOG_DEBUG : TS_LOG_WARN))
        fprintf(stderr, "tokenstore: %s\n", message);
}

static int load_config(struct doctor *d)
{
    ts_error err = { 0 };
    int rc = cli_try_load_config(d->cli, &d->cfg, &err);
    const char *origin;

    if (rc != TS_OK) {
        doctor_add(d, "config", DOCTOR_SEV_ERROR, "correct what the message names "
                   "(tokenstore.conf(5) lists every key)", "%s", err.message);
        return -1;
    }
    origin = ts_config_origin(d->cfg);
    if (origin[0] == '/' || origin[0] == '.')
        check_config_file(d, origin);
    else
        doctor_add(d, "config", DOCTOR_SEV_OK, NULL, "%s (%s)", strcmp(origin, "URI") == 0
                   ? "a store URI" : origin, ts_config_backend(d->cfg));
    return 0;
}

/* ---------------------------------------------------------------- output */

static int worst(const struct doctor *d, size_t counts[4])
{
    int worst = DOCTOR_SEV_OK;

    for (size_t i = 0; i < d->nfindings; i++) {
        counts[d->findings[i].severity]++;
        if (d->findings[i].severity > worst)
            worst = d->findings[i].severity;
    }
    return worst;
}

static void print_text(const struct doctor *d, const size_t counts[4])
{
    for (size_t i = 0; i < d->nfindings; i++) {
        const struct doctor_finding *f = &d->findings[i];
        char *message = cli_escape(f->message), *fix = f->fix ? cli_escape(f->fix) : NULL;
        printf("%-8s %s: %s\n", severity_names[f->severity], f->check, message ? message : "?");
        if (fix)
            printf("         fix: %s\n", fix);
        free(message);
        free(fix);
    }
    printf("%zu error%s, %zu warning%s, %zu ok.\n", counts[DOCTOR_SEV_ERROR],
           counts[DOCTOR_SEV_ERROR] == 1 ? "" : "s", counts[DOCTOR_SEV_WARNING],
           counts[DOCTOR_SEV_WARNING] == 1 ? "" : "s", counts[DOCTOR_SEV_OK]);
}

static int print_json(const struct doctor *d, int status, const size_t counts[4])
{
    json_object *o = json_object_new_object(), *list = json_object_new_array();
    json_object *totals = json_object_new_object();

    if (!o || !list || !totals) {
        ts__json_release(o);
        ts__json_release(list);
        ts__json_release(totals);
        return cli_out_of_memory();
    }
    json_object_object_add(o, "status", json_object_new_string(severity_names[status]));
    for (int s = DOCTOR_SEV_ERROR; s >= DOCTOR_SEV_OK; s--)
        json_object_object_add(totals, severity_names[s],
                               json_object_new_int64((int64_t)counts[s]));
    json_object_object_add(o, "counts", totals);
    for (size_t i = 0; i < d->nfindings; i++) {
        const struct doctor_finding *f = &d->findings[i];
        json_object *e = json_object_new_object();
        if (!e)
            continue;
        json_object_object_add(e, "check", json_object_new_string(f->check));
        json_object_object_add(e, "severity", json_object_new_string(severity_names[f->severity]));
        json_object_object_add(e, "message", json_object_new_string(f->message));
        json_object_object_add(e, "fix", f->fix ? json_object_new_string(f->fix) : NULL);
        json_object_array_add(list, e);
    }
    json_object_object_add(o, "findings", list);
    cli_json_emit(stdout, o);
    return CLI_OK;
}

static void doctor_free(struct doctor *d)
{
    for (size_t i = 0; i < d->nfindings; i++) {
        free(d->findings[i].message);
        free(d->findings[i].fix);
    }
    free(d->findings);
    for (size_t i = 0; i < d->nlogs; i++)
        free(d->logs[i]);
    free(d->logs);
    for (size_t i = 0; i < d->nservers; i++)
        free(d->servers[i].url);
    free(d->servers);
    ts_config_free(d->cfg);
}

static int cmd_doctor(struct cli *cli)
{
    struct doctor d = { .cli = cli };
    size_t counts[4] = { 0 };
    int status, rc;

    ts_set_default_logger(default_log, &d, TS_LOG_DEBUG);
    if (load_config(&d) == 0) {
        doctor_check_store(&d);
        doctor_check_certificates(&d);
        doctor_check_accounts(&d);
    }
    status = worst(&d, counts);
    if (cli->json)
        rc = print_json(&d, status, counts);
    else {
        print_text(&d, counts);
        rc = CLI_OK;
    }
    cli_set_default_logger(cli->quiet, cli->verbose);
    doctor_free(&d);
    if (rc != CLI_OK)
        return rc;
    return status == DOCTOR_SEV_ERROR ? DOCTOR_ERRORS
           : status == DOCTOR_SEV_WARNING ? DOCTOR_WARNINGS : DOCTOR_OK;
}

const struct cli_command cli_cmd_doctor = {
    "doctor", cmd_doctor, OPTS_GLOBAL | OPTS_OAUTH | BIT(OPT_JSON) | BIT(OPT_READ_ONLY), 0, 0,
    "doctor [--read-only] [--json] [--accounts-url URL] [-O KEY=VALUE ...]",
    "check a deployment and say what is wrong and how to fix it",
    "Checks, as the user it runs as (run it as the application's user):\n"
    "  config    the config file's mode and owner (secrets others may read, a\n"
    "            file others may write)\n"
    "  store     the store is reachable and its tokens can be read; with the\n"
    "            backend's privileges (a Redis ACL that misses the store's\n"
    "            hash-tagged keys {PREFIX}* or EVALSHA, a MySQL user without\n"
    "            a privilege) and what the backend warned about (indexes it\n"
    "            may not create, a token file others may read)\n"
    "  write     the store is writable: an empty transaction and the delete\n"
    "            of an id no token has, which change no token (not with\n"
    "            --read-only, for a host meant only to read it)\n"
    "  tokens    tokens without a refresh token, expired over 30 days ago,\n"
    "            two rows for one user\n"
    "  tls       the expiry date of each certificate tls_ca and tls_cert name\n"
    "            (a warning within 30 days)\n"
    "  accounts  the accounts server of each data center in use answers a\n"
    "            HEAD request (no secret is sent)\n"
    "  clock     this host's clock against that server's Date header: a clock\n"
    "            off by refresh_ahead_ms (60 s) or more uses access tokens\n"
    "            after they expired\n"
    "Each finding is printed with its fix. OAuth settings as for 'token'.\n"
    "--json prints {\"status\", \"counts\", \"findings\": [{\"check\", \"severity\",\n"
    "\"message\", \"fix\"}]} for monitoring. Exit status 0 when nothing is\n"
    "wrong, 1 for warnings, 2 for errors (a monitoring plugin's convention).\n",
};
