/*
 * cli/doctor_net.c - doctor's checks beyond the store: the accounts
 * servers, this host's clock and the TLS certificates.
 *
 * Each accounts server the tokens are refreshed at (one per data center
 * in use, as ts_oauth_accounts_url picks it; the settings' own when the
 * store holds no token) is sent a HEAD request: no form, no secret,
 * nothing for the server to act on. Any HTTP answer shows it reachable,
 * and its Date header gives the server's clock: expiry_time is written by
 * whichever host refreshed a token and read by every other, so a host
 * whose clock is behind by refresh_ahead_ms or more sends access tokens
 * Zoho already considers expired. The Date header counts whole seconds,
 * so the clock is compared with the middle of the exchange and half a
 * second added: what is left is within the round trip's half.
 *
 * The certificates are the files tls_ca and tls_cert name, read with
 * libssl: a certificate past its date makes every connection fail at
 * once, on the day it expires, so one within 30 days is a warning.
 */
#include "config.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "doctor.h"

#define CLOCK_OK_MS 5000          /* a skew this small is the measure's own error */
#define CERT_WARN_DAYS 30

/* ---------------------------------------------------------------- accounts servers */

struct answer {
    long status;
    int64_t date_ms;              /* the Date header, or -1 */
    int64_t sent_ms, took_ms;
    char error[CURL_ERROR_SIZE];
};

static size_t on_header(char *line, size_t size, size_t n, void *userdata)
{
    struct answer *a = userdata;
    size_t len = size * n;
    char value[128];

    if (len > 5 && len < sizeof value + 5 && strncasecmp(line, "Date:", 5) == 0) {
        memcpy(value, line + 5, len - 5);
        value[len - 5] = '\0';
        time_t t = curl_getdate(value, NULL);
        if (t != -1)
            a->date_ms = (int64_t)t * 1000;
    }
    return len;
}

static long setting(const ts_oauth *oauth, const char *key, long dflt)
{
    char value[32];

    if (!oauth || ts_oauth_get(oauth, key, value, sizeof value, NULL) != TS_OK || !value[0])
        return dflt;
    return strtol(value, NULL, 10);
}

static int head(const char *url, const ts_oauth *oauth, struct answer *a)
{
    CURL *curl = curl_easy_init();
    CURLcode rc;

    a->date_ms = -1;
    if (!curl) {
        snprintf(a->error, sizeof a->error, "out of memory");
        return -1;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, setting(oauth, "connect_timeout_ms", 10000));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, setting(oauth, "timeout_ms", 30000));
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, a->error);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "tokenstore-doctor/" PACKAGE_VERSION);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    a->sent_ms = cli_now_ms();
    rc = curl_easy_perform(curl);
    a->took_ms = cli_now_ms() - a->sent_ms;
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a->status);
    else if (!a->error[0])
        snprintf(a->error, sizeof a->error, "%s", curl_easy_strerror(rc));
    curl_easy_cleanup(curl);
    return rc == CURLE_OK ? 0 : -1;
}

/* "10 min 3 s", "4 s", "850 ms". */
static void duration(int64_t ms, char *out, size_t size)
{
    int64_t s = ms / 1000;

    if (s >= 3600)
        snprintf(out, size, "%lld h %lld min", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else if (s >= 60)
        snprintf(out, size, "%lld min %lld s", (long long)(s / 60), (long long)(s % 60));
    else if (s >= 1)
        snprintf(out, size, "%lld s", (long long)s);
    else
        snprintf(out, size, "%lld ms", (long long)ms);
}

static void check_clock(struct doctor *d, const char *url, const struct answer *a,
                        const ts_oauth *oauth)
{
    int64_t ahead_ms = setting(oauth, "refresh_ahead_ms", 60000);
    int64_t skew = a->sent_ms + a->took_ms / 2 - (a->date_ms + 500);
    int64_t off = skew < 0 ? -skew : skew;
    char text[64];

    duration(off, text, sizeof text);
    if (off <= CLOCK_OK_MS + a->took_ms / 2) {
        doctor_add(d, "clock", DOCTOR_SEV_OK, NULL, "this host's clock agrees with %s's (its "
                   "Date header, to the second)", url);
        return;
    }
    doctor_add(d, "clock", off >= ahead_ms ? DOCTOR_SEV_ERROR : DOCTOR_SEV_WARNING,
               "synchronize this host's clock (timedatectl set-ntp true, or chrony or ntpd)",
               "this host's clock is %s %s %s's (its Date header): %s", text,
               skew > 0 ? "ahead of" : "behind", url,
               off >= ahead_ms ? "past refresh_ahead_ms, access tokens are used after they "
                                 "expired or refreshed long before"
                               : "tokens expire early or late by as much");
}

void doctor_check_accounts(struct doctor *d)
{
    ts_oauth *oauth = NULL;
    ts_error err = { 0 };
    int clock_checked = 0;

    if (doctor_oauth(d, &oauth, &err) != TS_OK)
        return;                   /* doctor_check_store has said why */
    if (d->nservers == 0) {       /* no token read: the settings' own server */
        ts_token *none = ts_token_new();
        const char *url = none ? ts_oauth_accounts_url(oauth, none) : NULL;
        if (url && (d->servers = calloc(1, sizeof *d->servers)) &&
            (d->servers[0].url = strdup(url)))
            d->nservers = 1;          /* refreshing no token: .tokens 0 */
        ts_token_free(none);
    }
    for (size_t i = 0; i < d->nservers; i++) {
        const char *url = d->servers[i].url;
        char tokens[64] = "";
        struct answer a = { 0 };
        if (d->servers[i].tokens)
            snprintf(tokens, sizeof tokens, " (it refreshes %zu token%s)", d->servers[i].tokens,
                     d->servers[i].tokens == 1 ? "" : "s");
        if (head(url, oauth, &a) != 0) {
            doctor_add(d, "accounts", DOCTOR_SEV_ERROR, "check DNS, the firewall and any proxy "
                       "between this host and the server, or set the oauth section's "
                       "accounts_url to one this host can reach", "%s cannot be reached%s: %s",
                       url, tokens, a.error);
            continue;
        }
        doctor_add(d, "accounts", DOCTOR_SEV_OK, NULL, "%s answers (HTTP %ld in %lld ms)%s", url,
                   a.status, (long long)a.took_ms, tokens);
        if (!clock_checked && a.date_ms >= 0) {
            check_clock(d, url, &a, oauth);
            clock_checked = 1;
        }
    }
    if (!clock_checked)
        doctor_add(d, "clock", DOCTOR_SEV_INFO, NULL, "not checked: no accounts server "
                   "answered with a Date header");
    ts_oauth_free(oauth);
}

/* ---------------------------------------------------------------- certificates */

/* What a PEM file holds: a bundle of CAs is in force while one of them
 * is, so the soonest expiry that is still to come counts, and the last
 * one past when all have expired. */
struct certs {
    int count, expired;
    time_t when;                  /* the date that counts */
    char subject[256];            /* of the certificate it is */
};

static void read_cert(X509 *x, time_t now, struct certs *c)
{
    struct tm tm;

    if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
        return;
    time_t t = timegm(&tm);
    int valid = t > now, any_valid = c->expired < c->count;
    c->count++;
    c->expired += !valid;
    if (valid ? !any_valid || t < c->when : !any_valid && t > c->when) {
        c->when = t;
        X509_NAME_oneline(X509_get_subject_name(x), c->subject, sizeof c->subject);
    }
}

static int read_certs(const char *path, time_t now, struct certs *c)
{
    FILE *f = fopen(path, "r");
    X509 *x;

    if (!f)
        return -1;
    while ((x = PEM_read_X509(f, NULL, NULL, NULL))) {
        read_cert(x, now, c);
        X509_free(x);
    }
    ERR_clear_error();
    fclose(f);
    return 0;
}

static void check_cert_file(struct doctor *d, const char *option, const char *path)
{
    struct certs c = { 0 };
    time_t now = time(NULL);
    char date[32], fix[512];
    struct tm tm;

    if (read_certs(path, now, &c) != 0) {
        doctor_add(d, "tls", DOCTOR_SEV_ERROR, "give the option a PEM file this user may read",
                   "%s %s: %s", option, path, strerror(errno));
        return;
    }
    if (c.count == 0) {
        doctor_add(d, "tls", DOCTOR_SEV_ERROR, "give the option a PEM certificate file",
                   "%s %s holds no PEM certificate", option, path);
        return;
    }
    gmtime_r(&c.when, &tm);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &tm);
    long days = (long)((c.when - now) / 86400);
    snprintf(fix, sizeof fix, "renew %s and replace %s%s", c.subject, path,
             c.expired == c.count ? "" : " before then");
    if (c.expired == c.count)
        doctor_add(d, "tls", DOCTOR_SEV_ERROR, fix, "%s %s: %s expired on %s: every "
                   "connection that checks it fails", option, path, c.subject, date);
    else if (days < CERT_WARN_DAYS)
        doctor_add(d, "tls", DOCTOR_SEV_WARNING, fix, "%s %s: %s expires on %s, in %ld day%s",
                   option, path, c.subject, date, days, days == 1 ? "" : "s");
    else
        doctor_add(d, "tls", DOCTOR_SEV_OK, NULL, "%s %s: %s expires on %s, in %ld days%s",
                   option, path, c.subject, date, days, c.count > 1 ? " (the soonest of the "
                   "file's certificates)" : "");
}

void doctor_check_certificates(struct doctor *d)
{
    static const char *const options[] = { "tls_ca", "tls_cert", "sslrootcert", "sslcert" };

    for (size_t i = 0; i < sizeof options / sizeof *options; i++) {
        const char *path = ts_config_option(d->cfg, options[i]);
        if (!path || !path[0])
            continue;
        check_cert_file(d, options[i], path);
    }
}
