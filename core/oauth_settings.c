/*
 * core/oauth_settings.c - the OAuth client's settings, as data: one home
 * for their names, defaults and bounds.
 *
 * Three readers need the same facts: config.c refuses a misspelt name in
 * a config's "oauth" section while it loads (naming the file and key
 * path), libtokenstore-oauth (oauth/oauth.c) gives the settings their
 * meaning, and the bindings and the command show and check them
 * (ts_oauth_settings()), so that nothing is copied as a constant into
 * Python, JavaScript or a manual page. The file calls nothing: the
 * configuration layer may use it without knowing anything of the OAuth
 * client, which lives in a library of its own and reads the settings
 * through ts_oauth_settings() and ts_oauth_setting_find(). Zoho's data
 * centers are the client's (oauth/data_centers.c).
 */
#include <string.h>
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

TS_API const ts_oauth_setting *ts_oauth_setting_find(const char *key)
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
    return ts_oauth_setting_find(key) != NULL;
}
