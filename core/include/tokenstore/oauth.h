/*
 * tokenstore/oauth.h - the OAuth client of libtokenstore-oauth: a valid
 * access token, as the SDK gets one before each call.
 *
 * The client is a library of its own, libtokenstore-oauth, built on
 * libtokenstore's public API and libcurl; a program that only reads and
 * writes tokens links libtokenstore alone and never loads libcurl.
 * <tokenstore/tokenstore.h> includes this header, so a program that calls
 * ts_oauth_* includes either and links both:
 *
 *     cc app.c $(pkg-config --cflags --libs tokenstore-oauth)
 *
 * The settings (ts_oauth_settings, ts_oauth_setting_find,
 * ts_config_set_oauth) are the configuration's, in libtokenstore. The
 * conventions are tokenstore.h's: a ts_code, an optional ts_error naming
 * what went wrong, never a secret in a message.
 */
#ifndef TOKENSTORE_OAUTH_H
#define TOKENSTORE_OAUTH_H

#include <tokenstore/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_oauth ts_oauth;

/*
 * A client that keeps the tokens of `store` valid. Settings come from the
 * "oauth" section of `config` (may be NULL) and from ts_oauth_set; none is
 * needed. ts_oauth_settings() lists them with their defaults and bounds
 * (tokenstore.conf(5) explains each): data_center, accounts_url,
 * accounts_url.<data center or api_domain host>, client_id, client_secret
 * and redirect_url (used when the stored token carries none), timeouts,
 * retries, refresh_ahead_ms (60000), and the failure backoff, refresh
 * budget and refresh log sizes. A store opened read-only is refused
 * (TS_ERR_READ_ONLY): a refreshed token could not be saved. `store` may be
 * NULL to check settings only. The store must outlive the client.
 */
int ts_oauth_new(ts_oauth **out, ts_store *store, const ts_config *config, ts_error *err);

/* Sets one of the settings above; TS_ERR_CONFIG names a bad key or value. */
int ts_oauth_set(ts_oauth *oauth, const char *key, const char *value, ts_error *err);

void ts_oauth_free(ts_oauth *oauth);

/*
 * Makes `token` hold a valid access token. The token is looked up by its id
 * when it has one, else by the find_token key. A token that is not stored
 * but carries a grant_token is exchanged for its first access token and
 * saved. A stored token whose access token is missing or expires within
 * refresh_ahead_ms (60 s) is refreshed, at the accounts server of its data
 * center (ts_oauth_accounts_url), and saved. However many threads and
 * processes sharing the store ask at once, one request reaches the
 * accounts server; the others wait for it and use its result. On success
 * every field of `token` is replaced by the stored token's. A failed
 * refresh leaves the stored token as it was; after one, no process asks
 * again before the backoff ends, nor past the refresh budget
 * (TS_ERR_BACKOFF says when the next try is allowed), and a refresh token
 * the server refused for good (invalid_code, invalid_client) is not sent
 * again until the stored token gets a new one (TS_ERR_OAUTH).
 */
int ts_oauth_get_access_token(ts_oauth *oauth, ts_token *token, ts_error *err);

/* Revokes the refresh token of the token stored under `id` at the accounts
 * server and, when the server agrees, deletes the token from the store. */
int ts_oauth_revoke(ts_oauth *oauth, const char *id, ts_error *err);

/* The value in force of setting `key` as text ("" when it has none; a
 * client_secret that is set as "****"), into value of size bytes. Since
 * 1.4. */
int ts_oauth_get(const ts_oauth *oauth, const char *key, char *value, size_t size,
                 ts_error *err);

/* The accounts server (a base URL, without /oauth/v2/token) that
 * refreshes `token`: an accounts_url.<host or data center> setting for its
 * api_domain, else accounts_url, else the server of the data center its
 * api_domain names (www., sandbox. or developer.zohoapis.<tld>), else
 * data_center's. Valid while the client lives. Since 1.4. */
const char *ts_oauth_accounts_url(const ts_oauth *oauth, const ts_token *token);

/* Calls cb with each entry of the store's refresh log, oldest first: one
 * JSON object per refresh, grant exchange or process served by another's
 * ("time", "event", "id", "user", "host", "pid", "result", "detail",
 * "server", "requests", "waited_ms", "took_ms"). Non-zero from cb stops
 * the walk and is returned. Since 1.4. */
int ts_oauth_refresh_log(ts_store *store, int (*cb)(const char *entry, void *userdata),
                         void *userdata, ts_error *err);

#ifdef __cplusplus
}
#endif

#endif /* TOKENSTORE_OAUTH_H */
