/*
 * core/oauth_settings.h - the names a config's "oauth" section may hold.
 *
 * A list, inline in this header: config.c refuses any other name while it
 * loads a config (so a misspelt setting is an error naming the file and
 * the key path, as in every other section), and oauth.c, which gives the
 * names their meaning, checks the same list. The config layer thus calls
 * nothing of the OAuth client, which sits on top of the store.
 */
#ifndef TS_OAUTH_SETTINGS_H
#define TS_OAUTH_SETTINGS_H

#include <string.h>

static inline int ts__oauth_setting_known(const char *key)
{
    static const char *const names[] = {
        "data_center", "accounts_url", "client_id", "client_secret", "redirect_url",
        "connect_timeout_ms", "timeout_ms", "retries", "retry_base_ms", "retry_max_ms",
        "refresh_ahead_ms",
    };

    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(names[i], key) == 0)
            return 1;
    return 0;
}

#endif
