/*
 * cli/doctor.c - what every check of `tokenstore doctor` uses: the list
 * of findings it adds to, and the OAuth client the command line asks for.
 * The checks (cmd_doctor.c, doctor_store.c, doctor_net.c) sit above it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "doctor.h"

void doctor_add(struct doctor *d, const char *check, int severity, const char *fix,
                const char *fmt, ...)
{
    struct doctor_finding f = { check, severity, NULL, NULL };
    va_list ap;

    va_start(ap, fmt);
    if (vasprintf(&f.message, fmt, ap) < 0)
        f.message = NULL;
    va_end(ap);
    if (f.message && fix)
        f.fix = strdup(fix);
    if (f.message && (!fix || f.fix) && d->nfindings == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 16;
        struct doctor_finding *grown = realloc(d->findings, cap * sizeof *grown);
        if (grown) {
            d->findings = grown;
            d->cap = cap;
        }
    }
    if (!f.message || (fix && !f.fix) || d->nfindings == d->cap) {
        free(f.message);
        free(f.fix);
        return;
    }
    d->findings[d->nfindings++] = f;
}

int doctor_oauth(const struct doctor *d, ts_oauth **oauth, ts_error *err)
{
    const struct cli *cli = d->cli;
    int rc = ts_oauth_new(oauth, NULL, d->cfg, err);

    if (rc == TS_OK && cli->accounts_url)
        rc = ts_oauth_set(*oauth, "accounts_url", cli->accounts_url, err);
    for (size_t i = 0; rc == TS_OK && i < cli->noauth; i++) {
        char *eq = strchr(cli->oauth[i], '=');
        *eq = '\0';
        rc = ts_oauth_set(*oauth, cli->oauth[i], eq + 1, err);
        *eq = '=';
    }
    if (rc != TS_OK) {
        ts_oauth_free(*oauth);
        *oauth = NULL;
    }
    return rc;
}
