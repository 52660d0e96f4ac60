/*
 * cli/doctor.h - what the files of `tokenstore doctor` share.
 *
 * cmd_doctor.c runs the checks in turn, each adding findings (a severity,
 * what was found, how to fix it) through doctor.c, and prints them; doctor_store.c checks
 * the store (reachable, readable, writable, the backend's privileges) and
 * its tokens; doctor_net.c the accounts servers, the clock and the TLS
 * certificates. A finding never holds a secret: it names options, files,
 * servers, ids and user names.
 */
#ifndef TS_CLI_DOCTOR_H
#define TS_CLI_DOCTOR_H

#include "cli.h"

enum doctor_severity { DOCTOR_SEV_OK, DOCTOR_SEV_INFO, DOCTOR_SEV_WARNING, DOCTOR_SEV_ERROR };

struct doctor_finding {
    const char *check;        /* "config", "store", "write", ... (static) */
    int severity;
    char *message, *fix;      /* fix may be NULL */
};

/* An accounts server in use and what asking it told. */
struct doctor_server {
    char *url;                /* its base URL, as ts_oauth_accounts_url gives it */
    size_t tokens;            /* the tokens it refreshes */
};

struct doctor {
    const struct cli *cli;
    ts_config *cfg;           /* NULL when the config did not load */
    struct doctor_finding *findings;
    size_t nfindings, cap;
    char **logs;              /* the backend's warnings, each once */
    size_t nlogs;
    int store_read;           /* its tokens were read: the token checks ran */
    struct doctor_server *servers;
    size_t nservers;
};

/* Adds a finding; fix may be NULL. Out of memory, the finding is lost. */
void doctor_add(struct doctor *d, const char *check, int severity, const char *fix,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The store and its tokens (doctor_store.c). */
void doctor_check_store(struct doctor *d);

/* The OAuth client of the config with the command line's -O and
 * --accounts-url over it; TS_OK, or a code with err filled. */
int doctor_oauth(const struct doctor *d, ts_oauth **oauth, ts_error *err);

/* The accounts servers and the clock; the TLS certificates the options
 * name (doctor_net.c). */
void doctor_check_accounts(struct doctor *d);
void doctor_check_certificates(struct doctor *d);

#endif
