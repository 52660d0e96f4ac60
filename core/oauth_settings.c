/*
 * core/oauth_settings.c - the OAuth client's settings and Zoho's data
 * centers, as data: one home for their names, defaults, bounds and the
 * accounts server of each data center.
 *
 * Three readers need the same facts: config.c refuses a misspelt name in
 * a config's "oauth" section while it loads (naming the file and key
 * path), oauth.c gives the settings their meaning, and the bindings and
 * the command show and check them (ts_oauth_settings()), so that nothing
 * is copied as a constant into Python, JavaScript or a manual page. The
 * file calls nothing: the configuration layer may use it without knowing
 * anything of the OAuth client.
 *
 * The data centers are the Zoho SDKs' list: each has an accounts server
 * and three API domains (www., sandbox. and developer.zohoapis.<tld>); a
 * token's api_domain tells which accounts server refreshes it, as the
 * SDK's DataCenter.get(api_domain) does.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include "internal.h"

static const ts_oauth_setting settings[] = {
    { "data_center", "US", 0, 0, 0,
      "accounts server for tokens whose api_domain names none: US, EU, IN, CN, JP, AU, CA, SA" },
    { "accounts_url", "", 0, 0, 0,
      "one accounts server for every token (base or full token URL), e.g. a test server" },
    { "accounts_url.*", "", 0, 0, 0,
      "accounts_url.EU, accounts_url.www.zohoapis.eu: the server for one data center or "
      "api_domain host" },
    { "client_id", "", 0, 0, 0, "used when the stored token carries none" },
    { "client_secret", "", 0, 0, 0, "used when the stored token carries none" },
    { "redirect_url", "", 0, 0, 0, "used when the stored token carries none" },
    { "connect_timeout_ms", "10000", 1, 1, 600000, "per request" },
    { "timeout_ms", "30000", 1, 1, 600000, "per request" },
    { "retries", "3", 1, 0, 10, "connection failures, HTTP 5xx and 429, within one refresh" },
    { "retry_base_ms", "250", 1, 0, 60000, "first wait between retries (doubling, jittered)" },
    { "retry_max_ms", "4000", 1, 0, 600000, "longest wait between retries" },
    { "refresh_ahead_ms", "60000", 1, TS_OAUTH_SDK_MARGIN_MS, 3000000,
      "refresh an access token that expires within this long" },
    { "failure_backoff_ms", "5000", 1, 0, 3600000,
      "after a failed refresh, every process waits this long (doubling per failure)" },
    { "failure_backoff_max_ms", "300000", 1, 0, 86400000, "the longest such wait" },
    { "refresh_budget", "10", 1, 1, 64,
      "requests per token per budget window (Zoho blocks the eleventh in ten minutes)" },
    { "refresh_budget_window_ms", "600000", 1, 1000, 86400000, "the budget's window" },
    { "refresh_log_size", "1000", 1, 0, 1000000, "refresh log entries kept beside the tokens" },
};

#define NSETTINGS (sizeof settings / sizeof *settings)

TS_API const ts_oauth_setting *ts_oauth_settings(size_t *count)
{
    if (count)
        *count = NSETTINGS;
    return settings;
}

const ts_oauth_setting *ts__oauth_setting(const char *key)
{
    for (size_t i = 0; key && i < NSETTINGS; i++) {
        size_t n = strlen(settings[i].name);
        if (settings[i].name[n - 1] == '*' ? strncmp(key, settings[i].name, n - 1) == 0 &&
                                                 key[n - 1] != '\0'
                                           : strcmp(key, settings[i].name) == 0)
            return &settings[i];
    }
    return NULL;
}

int ts__oauth_setting_known(const char *key)
{
    return ts__oauth_setting(key) != NULL;
}

/* ---------------------------------------------------------------- data centers */

static const struct data_center {
    const char *code;
    const char *accounts;     /* the accounts server, without /oauth/v2/token */
    const char *api_suffix;   /* the API domains are (www|sandbox|developer).<this> */
} data_centers[] = {
    { "US", "https://accounts.zoho.com", "zohoapis.com" },
    { "EU", "https://accounts.zoho.eu", "zohoapis.eu" },
    { "IN", "https://accounts.zoho.in", "zohoapis.in" },
    { "CN", "https://accounts.zoho.com.cn", "zohoapis.com.cn" },
    { "JP", "https://accounts.zoho.jp", "zohoapis.jp" },
    { "AU", "https://accounts.zoho.com.au", "zohoapis.com.au" },
    { "CA", "https://accounts.zohocloud.ca", "zohoapis.ca" },
    { "SA", "https://accounts.zoho.sa", "zohoapis.sa" },
};

#define NDATA_CENTERS (sizeof data_centers / sizeof *data_centers)

const char *ts__data_center_accounts(const char *code)
{
    for (size_t i = 0; code && i < NDATA_CENTERS; i++)
        if (strcasecmp(code, data_centers[i].code) == 0)
            return data_centers[i].accounts;
    return NULL;
}

/* The host of an api_domain ("https://www.zohoapis.eu/" -> "www.zohoapis.eu"),
 * lower-cased, into host; 0 when there is none. */
size_t ts__api_domain_host(const char *api_domain, char *host, size_t size)
{
    const char *p = api_domain, *sep = strstr(p, "://");
    size_t n = 0;

    if (sep)
        p = sep + 3;
    while (p[n] && p[n] != '/' && p[n] != ':' && p[n] != '?' && n + 1 < size) {
        host[n] = (char)tolower((unsigned char)p[n]);
        n++;
    }
    if (p[n] && p[n] != '/' && p[n] != ':' && p[n] != '?')
        n = 0;                      /* too long to be a host */
    host[n] = '\0';
    return n;
}

/* The data center whose API domains include `host`, or NULL. */
const char *ts__data_center_of_host(const char *host)
{
    static const char *const kinds[] = { "www.", "sandbox.", "developer." };

    for (size_t i = 0; i < NDATA_CENTERS; i++)
        for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
            size_t kl = strlen(kinds[k]);
            if (strncmp(host, kinds[k], kl) == 0 &&
                strcmp(host + kl, data_centers[i].api_suffix) == 0)
                return data_centers[i].code;
        }
    return NULL;
}
