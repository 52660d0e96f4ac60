/*
 * core/oauth.c - the OAuth token lifecycle, as the SDK runs it before each
 * API call: find the token, exchange a grant token the first time, refresh
 * the access token when it is missing or expires soon, save the result;
 * and revoke.
 *
 * Zoho lets one refresh token mint at most ten access tokens in ten
 * minutes, then blocks it, so workers that refresh on their own take an
 * application down. Refreshes are therefore single-flight: the threads of
 * this process queue on a mutex, and processes sharing the store queue on
 * the backend's store-wide lock (try_lock/unlock in the ABI), one lock per
 * token (per grant token for a first exchange). Whoever gets through
 * re-reads the token first, so only the first of them talks to the
 * accounts server and the rest use the token it saved. oauth_guard.c
 * keeps a failing or revoked token from being asked for again and again,
 * and logs each refresh; oauth_http.c speaks to the server.
 *
 * Which server: as the SDK, the one of the data center the token's
 * api_domain names (www., sandbox. or developer.zohoapis.eu is EU's),
 * unless a setting says otherwise (accounts_url.EU, accounts_url.<host>,
 * or accounts_url for every token); a token without a known api_domain
 * goes to data_center's server. No config file is needed: the client id,
 * secret and refresh token are the stored token's.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "client.h"
#include "../core/json.h"

#define TOKEN_PATH "/oauth/v2/token"

static void free_secret(char **p)
{
    if (*p) {
        oa__wipe(*p, strlen(*p));
        free(*p);
        *p = NULL;
    }
}

/* ---------------------------------------------------------------- settings */

/* An accounts server, as a base URL: the SDK's full token URL
 * (".../oauth/v2/token") and trailing slashes are taken off. */
static int base_url(const char *key, const char *url, char **out, ts_error *err)
{
    size_t n = strlen(url), tail = strlen(TOKEN_PATH);

    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
        return ts_error_set(err, TS_ERR_CONFIG, "oauth.%s: '%.100s' is not an http(s) URL", key,
                         url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    if (n > tail && strncmp(url + n - tail, TOKEN_PATH, tail) == 0)
        n -= tail;
    while (n > 0 && url[n - 1] == '/')
        n--;
    char *copy = strndup(url, n);
    if (!copy)
        return ts_error_set(err, TS_ERR_NOMEM, "out of memory");
    free(*out);
    *out = copy;
    return TS_OK;
}

/* accounts_url.<data center or api_domain host> = URL */
static int set_override(ts_oauth *o, const char *which, const char *url, ts_error *err)
{
    char key[128];
    size_t i;

    if (oa__data_center_accounts(which))
        snprintf(key, sizeof key, "%s", which);
    else if (oa__api_domain_host(which, key, sizeof key) == 0 || !strchr(key, '.'))
        return ts_error_set(err, TS_ERR_CONFIG, "oauth.accounts_url.%.64s: not a data center "
                         "(US, EU, IN, CN, JP, AU, CA, SA) nor an api_domain host", which);
    for (i = 0; i < o->noverrides; i++)
        if (strcasecmp(o->overrides[i].key, key) == 0)
            break;
    if (i == o->noverrides) {
        struct accounts_override *grown =
            realloc(o->overrides, (o->noverrides + 1) * sizeof *grown);
        if (!grown || !(grown[i].key = strdup(key))) {
            if (grown)
                o->overrides = grown;
            return ts_error_set(err, TS_ERR_NOMEM, "out of memory");
        }
        grown[i].url = NULL;
        o->overrides = grown;
        o->noverrides++;
    }
    char setting[160];
    snprintf(setting, sizeof setting, "accounts_url.%s", which);
    return base_url(setting, url, &o->overrides[i].url, err);
}

/* The field behind a number setting. */
static long *number_field(const ts_oauth *o, const char *name)
{
    static const struct { const char *name; size_t offset; } fields[] = {
        { "connect_timeout_ms", offsetof(ts_oauth, connect_timeout_ms) },
        { "timeout_ms", offsetof(ts_oauth, timeout_ms) },
        { "retries", offsetof(ts_oauth, retries) },
        { "retry_base_ms", offsetof(ts_oauth, retry_base_ms) },
        { "retry_max_ms", offsetof(ts_oauth, retry_max_ms) },
        { "refresh_ahead_ms", offsetof(ts_oauth, refresh_ahead_ms) },
        { "failure_backoff_ms", offsetof(ts_oauth, failure_backoff_ms) },
        { "failure_backoff_max_ms", offsetof(ts_oauth, failure_backoff_max_ms) },
        { "refresh_budget", offsetof(ts_oauth, refresh_budget) },
        { "refresh_budget_window_ms", offsetof(ts_oauth, refresh_budget_window_ms) },
        { "refresh_log_size", offsetof(ts_oauth, refresh_log_size) },
    };

    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        if (strcmp(fields[i].name, name) == 0)
            return (long *)(uintptr_t)((const char *)o + fields[i].offset);
    return NULL;
}

static int set_number(ts_oauth *o, const ts_oauth_setting *def, const char *value,
                      ts_error *err)
{
    long *field = number_field(o, def->name);
    char *end;

    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end || v < def->min || v > def->max)
        return ts_error_set(err, TS_ERR_CONFIG, "oauth.%s: '%.40s' is not a whole number from "
                         "%lld to %lld", def->name, value, def->min, def->max);
    if (!field)
        return ts_error_set(err, TS_ERR_CONFIG, "oauth.%s: not supported", def->name);
    *field = (long)v;
    return TS_OK;
}

TS_API int ts_oauth_set(ts_oauth *o, const char *key, const char *value, ts_error *err)
{
    const ts_oauth_setting *def = ts_oauth_setting_find(key);

    if (!key || !value)
        return ts_error_set(err, TS_ERR_CONFIG, "oauth: a setting needs a key and a value");
    if (!def)
        return ts_error_set(err, TS_ERR_CONFIG, "oauth.%.64s: unknown key", key);
    if (def->is_number)
        return set_number(o, def, value, err);
    if (strcmp(key, "data_center") == 0) {
        const char *url = oa__data_center_accounts(value);
        if (!url)
            return ts_error_set(err, TS_ERR_CONFIG, "oauth.data_center: '%.20s' is not one of "
                             "US, EU, IN, CN, JP, AU, CA, SA", value);
        for (size_t i = 0; i < sizeof o->data_center - 1 && value[i]; i++)
            o->data_center[i] = (char)toupper((unsigned char)value[i]);
        return base_url(key, url, &o->default_url, err);
    }
    if (strcmp(key, "accounts_url") == 0)
        return base_url(key, value, &o->accounts_url, err);
    if (strncmp(key, "accounts_url.", 13) == 0)
        return set_override(o, key + 13, value, err);
    char **text = strcmp(key, "client_id") == 0       ? &o->client_id
                  : strcmp(key, "client_secret") == 0 ? &o->client_secret
                                                      : &o->redirect_url;
    char *copy = strdup(value);
    if (!copy)
        return ts_error_set(err, TS_ERR_NOMEM, "out of memory");
    free_secret(text);
    *text = copy;
    return TS_OK;
}

/* A config's "oauth" section, setting by setting (ts_config_foreach_oauth). */
struct from_config {
    ts_oauth *o;
    ts_error *err;
};

static int set_from_config(const char *key, const char *value, void *userdata)
{
    struct from_config *fc = userdata;

    return ts_oauth_set(fc->o, key, value, fc->err);
}

TS_API int ts_oauth_new(ts_oauth **out, ts_store *store, const ts_config *cfg, ts_error *err)
{
    ts_oauth *o = calloc(1, sizeof *o);
    size_t count;
    const ts_oauth_setting *defs = ts_oauth_settings(&count);
    int rc = TS_OK;

    *out = NULL;
    if (store && (ts_store_flags(store) & TS_OPEN_READ_ONLY)) {
        free(o);
        return ts_error_set(err, TS_ERR_READ_ONLY, "the store was opened read-only, so a "
                         "refreshed token could not be saved: open it for writing to refresh");
    }
    if (!o)
        return ts_error_set(err, TS_ERR_NOMEM, "out of memory");
    o->store = store;
    o->jitter_seed = (unsigned)(oa__wall_ms() ^ ((int64_t)getpid() << 16));
    pthread_mutex_init(&o->refresh_lock, NULL);
    for (size_t i = 0; rc == TS_OK && i < count; i++)
        if (defs[i].is_number || strcmp(defs[i].name, "data_center") == 0)
            rc = ts_oauth_set(o, defs[i].name, defs[i].default_value, err);
    if (cfg && rc == TS_OK) {
        struct from_config fc = { o, err };
        rc = ts_config_foreach_oauth(cfg, set_from_config, &fc);
        if (rc != TS_OK)
            ts_error_prefix(err, "%s", ts_config_origin(cfg));
    }
    if (rc != TS_OK) {
        ts_oauth_free(o);
        return rc;
    }
    oa__fork_watch(o);
    *out = o;
    return TS_OK;
}

TS_API void ts_oauth_free(ts_oauth *o)
{
    if (!o)
        return;
    oa__fork_unwatch(o);
    free(o->default_url);
    free(o->accounts_url);
    for (size_t i = 0; i < o->noverrides; i++) {
        free(o->overrides[i].key);
        free(o->overrides[i].url);
    }
    free(o->overrides);
    free_secret(&o->client_id);
    free_secret(&o->client_secret);
    free_secret(&o->redirect_url);
    pthread_mutex_destroy(&o->refresh_lock);
    free(o);
}

/* ---------------------------------------------------------------- which server */

static const char *override_for(const ts_oauth *o, const char *key)
{
    for (size_t i = 0; key && i < o->noverrides; i++)
        if (strcasecmp(o->overrides[i].key, key) == 0)
            return o->overrides[i].url;
    return NULL;
}

/* The accounts server (base URL) that refreshes tok: an override for its
 * api_domain's host or data center, else accounts_url, else its data
 * center's own server, else data_center's. */
static const char *accounts_for(const ts_oauth *o, const ts_token *tok)
{
    char host[128];
    const char *dc = NULL, *url;

    if (oa__api_domain_host(ts_token_get(tok, TS_FIELD_API_DOMAIN), host, sizeof host)) {
        if ((url = override_for(o, host)))
            return url;
        dc = oa__data_center_of_host(host);
        if ((url = override_for(o, dc)))
            return url;
    }
    if (o->accounts_url)
        return o->accounts_url;
    return dc ? oa__data_center_accounts(dc) : o->default_url;
}

TS_API const char *ts_oauth_accounts_url(const ts_oauth *o, const ts_token *token)
{
    return accounts_for(o, token);
}

TS_API int ts_oauth_get(const ts_oauth *o, const char *key, char *value, size_t size,
                        ts_error *err)
{
    const ts_oauth_setting *def = ts_oauth_setting_find(key);
    const char *text = NULL;
    char number[24], host[128];

    if (!def)
        return ts_error_set(err, TS_ERR_CONFIG, "oauth.%.64s: unknown key", key ? key : "(null)");
    if (def->is_number) {
        snprintf(number, sizeof number, "%ld", *number_field(o, key));
        text = number;
    } else if (strcmp(key, "data_center") == 0) {
        text = o->data_center;
    } else if (strcmp(key, "accounts_url") == 0) {
        text = o->accounts_url;
    } else if (strncmp(key, "accounts_url.", 13) == 0) {
        text = oa__data_center_accounts(key + 13) ? override_for(o, key + 13)
               : oa__api_domain_host(key + 13, host, sizeof host) ? override_for(o, host) : NULL;
    } else if (strcmp(key, "client_id") == 0) {
        text = o->client_id;
    } else if (strcmp(key, "redirect_url") == 0) {
        text = o->redirect_url;
    } else {                                        /* client_secret */
        text = o->client_secret ? "****" : NULL;
    }
    if (snprintf(value, size, "%s", text ? text : "") >= (int)size)
        return ts_error_set(err, TS_ERR_INVALID, "oauth.%s: the value is longer than %zu bytes",
                         key, size);
    return TS_OK;
}

/* ---------------------------------------------------------------- lifecycle */

/* Whether the stored access token is good for refresh_ahead_ms more. The
 * stored expiry may come from another program: a value that is not a
 * number, or out of range, means "refresh", and the comparison is written
 * so that no expiry can overflow it. */
static int is_valid(const ts_oauth *o, const ts_token *t)
{
    const char *expiry = ts_token_get(t, TS_FIELD_EXPIRY_TIME);
    char *end;

    if (!*ts_token_get(t, TS_FIELD_ACCESS_TOKEN) || !*expiry)
        return 0;
    errno = 0;
    long long ms = strtoll(expiry, &end, 10);
    return *end == '\0' && errno == 0 && ms >= oa__wall_ms() + o->refresh_ahead_ms;
}

/* The token's client credential, else the client's setting. */
static const char *credential(const ts_token *t, ts_field f, const char *setting)
{
    const char *v = ts_token_get(t, f);
    return *v ? v : setting ? setting : "";
}

/* Asks the accounts server for a new access token for tok: by refresh
 * token when it has one, else by exchanging its grant token. The guard
 * is asked first and told the outcome. */
static int request_token(ts_oauth *o, ts_token *tok, struct oa__flight *f, char code[65],
                         ts_error *err)
{
    const char *cid = credential(tok, TS_FIELD_CLIENT_ID, o->client_id);
    const char *secret = credential(tok, TS_FIELD_CLIENT_SECRET, o->client_secret);
    const char *redirect = credential(tok, TS_FIELD_REDIRECT_URL, o->redirect_url);
    const char *refresh = ts_token_get(tok, TS_FIELD_REFRESH_TOKEN);
    const char *grant = ts_token_get(tok, TS_FIELD_GRANT_TOKEN);
    struct oa__guarded guarded = { o, f };
    struct oa__reply r = { 0 };
    char url[512];
    int rc;

    code[0] = '\0';
    if (!*cid || !*secret)
        return ts_error_set(err, TS_ERR_INVALID, "token %s has no client_id/client_secret and "
                         "the OAuth settings give none", *f->id ? f->id : "(new)");
    if (!*refresh && !*grant)
        return ts_error_set(err, TS_ERR_INVALID, "token %s has neither a refresh_token nor a "
                         "grant_token to get an access token with", f->id);
    f->server = accounts_for(o, tok);
    snprintf(url, sizeof url, "%s" TOKEN_PATH, f->server);
    if ((rc = oa__guard_check(o, f, err)) != TS_OK)
        return rc;
    ts_store_log(o->store, TS_LOG_INFO, "%s token %s at %s",
            *refresh ? "refreshing the access token of" : "exchanging the grant token of",
            *f->id ? f->id : "(new)", url);
    if (*refresh) {
        const char *form[] = { "grant_type", "refresh_token", "refresh_token", refresh,
                               "client_id", cid, "client_secret", secret, NULL };
        rc = oa__oauth_post(o, url, form, oa__guard_may_send, &guarded, &r, err);
    } else {
        const char *form[] = { "grant_type", "authorization_code", "client_id", cid,
                               "client_secret", secret, "redirect_uri", redirect,
                               "code", grant, NULL };
        rc = oa__oauth_post(o, url, form, oa__guard_may_send, &guarded, &r, err);
    }
    char what[560];
    snprintf(what, sizeof what, "%s at %s", *refresh ? "refresh" : "grant exchange", url);
    if (rc == TS_OK)
        rc = oa__oauth_apply_token_reply(&r, what, tok, code, err);
    if (rc == TS_OK && !*ts_token_get(tok, TS_FIELD_CLIENT_ID))
        rc = ts_token_set(tok, TS_FIELD_CLIENT_ID, cid);
    if (rc == TS_OK && !*ts_token_get(tok, TS_FIELD_CLIENT_SECRET))
        rc = ts_token_set(tok, TS_FIELD_CLIENT_SECRET, secret);
    oa__reply_clear(&r);
    if (rc == TS_ERR_OAUTH && (strcmp(code, "invalid_code") == 0 ||
                               strcmp(code, "invalid_client") == 0))
        ts_error_prefix(err, "token %s is not refreshed again until it is replaced",
                         *f->id ? f->id : "(new)");
    return rc;
}

/* Reads the stored token the query names: by id, else by its key. */
static int load(ts_oauth *o, const ts_token *query, ts_token *tok, ts_error *err)
{
    const char *id = ts_token_get(query, TS_FIELD_ID);

    if (*id)
        return ts_find_token_by_id(o->store, id, tok, err);
    ts_token_clear(tok);
    int rc = oa__token_copy(tok, query);
    /* A grant or refresh token is a key only with client credentials: take
     * the settings' when the query has none (the SDK's token has them). */
    if (rc == TS_OK && !oa__has(tok, TS_FIELD_USER_NAME) &&
        (oa__has(tok, TS_FIELD_GRANT_TOKEN) || oa__has(tok, TS_FIELD_REFRESH_TOKEN))) {
        if (!oa__has(tok, TS_FIELD_CLIENT_ID) && o->client_id)
            rc = ts_token_set(tok, TS_FIELD_CLIENT_ID, o->client_id);
        if (rc == TS_OK && !oa__has(tok, TS_FIELD_CLIENT_SECRET) && o->client_secret)
            rc = ts_token_set(tok, TS_FIELD_CLIENT_SECRET, o->client_secret);
    }
    return rc == TS_OK ? ts_find_token(o->store, tok, err) : ts_error_set(err, rc, "out of memory");
}

/* How long a refresh may hold the store's lock: every attempt timing out,
 * plus the backoff between them, plus a margin. */
static int64_t lock_ttl_ms(const ts_oauth *o)
{
    return (int64_t)(o->timeout_ms + o->connect_timeout_ms) * (o->retries + 1) +
           (int64_t)o->retry_max_ms * o->retries + 5000;
}

/* The flight of the token query names: one per stored token, or per
 * grant token for a first exchange, whose secret is what the guard
 * remembers a refusal of. */
static void start_flight(struct oa__flight *f, const ts_token *query, const ts_token *stored)
{
    const char *id = *ts_token_get(query, TS_FIELD_ID) ? ts_token_get(query, TS_FIELD_ID)
                                                       : ts_token_get(stored, TS_FIELD_ID);
    const char *grant = ts_token_get(query, TS_FIELD_GRANT_TOKEN);

    memset(f, 0, sizeof *f);
    snprintf(f->id, sizeof f->id, "%s", id);
    if (*id)
        snprintf(f->key, sizeof f->key, "id:%s", id);
    else
        snprintf(f->key, sizeof f->key, "grant:%016" PRIx64, oa__fingerprint(grant));
    snprintf(f->user, sizeof f->user, "%s", ts_token_get(query, TS_FIELD_USER_NAME));
    f->started_ms = oa__wall_ms();
}

/* The secret a flight asks with: the refresh token and client secret, or
 * the grant token. */
static uint64_t flight_secret(const ts_oauth *o, const ts_token *tok)
{
    const char *refresh = ts_token_get(tok, TS_FIELD_REFRESH_TOKEN);
    uint64_t h = oa__fingerprint(*refresh ? refresh : ts_token_get(tok, TS_FIELD_GRANT_TOKEN));

    return h ^ (oa__fingerprint(credential(tok, TS_FIELD_CLIENT_SECRET, o->client_secret)) *
                0x9e3779b97f4a7c15ull);
}

/* Asks for tok's access token under the lock it was found needing one,
 * saves it, and tells the guard. */
static int ask_and_save(ts_oauth *o, ts_token *tok, struct oa__flight *f, ts_error *err)
{
    char code[65] = "";

    f->event = *ts_token_get(tok, TS_FIELD_REFRESH_TOKEN) ? "refresh" : "grant";
    f->secret = flight_secret(o, tok);
    if (!*f->user)
        snprintf(f->user, sizeof f->user, "%s", ts_token_get(tok, TS_FIELD_USER_NAME));
    int rc = request_token(o, tok, f, code, err);
    if (rc == TS_OK)
        rc = ts_save_token(o->store, tok, err);
    if (rc == TS_OK)
        snprintf(f->id, sizeof f->id, "%s", ts_token_get(tok, TS_FIELD_ID));
    oa__guard_done(o, f, rc, code, err);
    int64_t wait = f->state.next_ms - oa__wall_ms();
    if (rc != TS_OK && rc != TS_ERR_BACKOFF && f->requests > 0 && wait > 0 && err) {
        size_t n = strlen(err->message);
        snprintf(err->message + n, sizeof err->message - n, "; the next try is allowed in "
                 "%.1f s", (double)wait / 1000);
    }
    return rc;
}

/* The single flight: under this process's mutex and the store's lock,
 * re-read; only if still needed, ask the server and save. */
static int renew(ts_oauth *o, const ts_token *query, ts_token *tok, ts_error *err)
{
    struct oa__flight f;
    char name[96];
    void *lock;
    int rc;

    start_flight(&f, query, tok);
    snprintf(name, sizeof name, "oauth:%s", f.key);
    pthread_mutex_lock(&o->refresh_lock);
    rc = ts_store_lock(o->store, name, lock_ttl_ms(o), lock_ttl_ms(o), &lock, err);
    f.waited_ms = oa__wall_ms() - f.started_ms;
    if (rc == TS_OK) {
        rc = load(o, query, tok, err);
        int first = rc == TS_NOT_FOUND && *ts_token_get(query, TS_FIELD_GRANT_TOKEN) &&
                    !*ts_token_get(query, TS_FIELD_ID);
        if (first) {            /* first use: exchange the grant token */
            ts_token_clear(tok);
            rc = oa__token_copy(tok, query);
            if (rc == TS_OK)
                rc = ask_and_save(o, tok, &f, err);
        } else if (rc == TS_OK && is_valid(o, tok)) {
            ts_store_log(o->store, TS_LOG_INFO, "token %s was refreshed by another "
                    "thread or process meanwhile", ts_token_get(tok, TS_FIELD_ID));
            f.event = strncmp(f.key, "grant:", 6) == 0 ? "grant" : "refresh";
            snprintf(f.id, sizeof f.id, "%s", ts_token_get(tok, TS_FIELD_ID));
            if (!*f.user)
                snprintf(f.user, sizeof f.user, "%s", ts_token_get(tok, TS_FIELD_USER_NAME));
            oa__guard_served(o, &f);
        } else if (rc == TS_OK) {
            rc = ask_and_save(o, tok, &f, err);
        }
        ts_error unlock_err;
        ts_store_unlock(o->store, lock, &unlock_err);
    }
    pthread_mutex_unlock(&o->refresh_lock);
    return rc;
}

TS_API int ts_oauth_get_access_token(ts_oauth *o, ts_token *query, ts_error *err)
{
    ts_token *tok = ts_token_new();
    int rc;

    if (!tok)
        return ts_error_set(err, TS_ERR_NOMEM, "out of memory");
    rc = load(o, query, tok, err);
    if (rc == TS_OK && is_valid(o, tok))
        ts_store_log(o->store, TS_LOG_DEBUG, "token %s: the stored access token "
                "is valid until %s (epoch ms)", ts_token_get(tok, TS_FIELD_ID),
                ts_token_get(tok, TS_FIELD_EXPIRY_TIME));
    if ((rc == TS_OK && !is_valid(o, tok)) ||
        (rc == TS_NOT_FOUND && *ts_token_get(query, TS_FIELD_GRANT_TOKEN)))
        rc = renew(o, query, tok, err);
    else if (rc == TS_NOT_FOUND)
        ts_error_set(err, rc, "no stored token matches, and it has no grant_token to exchange");
    if (rc == TS_OK && oa__token_copy(query, tok) != TS_OK)
        rc = ts_error_set(err, TS_ERR_NOMEM, "out of memory");
    ts_token_free(tok);
    return rc;
}

TS_API int ts_oauth_revoke(ts_oauth *o, const char *id, ts_error *err)
{
    ts_token *tok = ts_token_new();
    struct oa__reply r = { 0 };
    json_object *root = NULL;
    char url[512];
    int rc;

    if (!tok)
        return ts_error_set(err, TS_ERR_NOMEM, "out of memory");
    rc = ts_find_token_by_id(o->store, id, tok, err);
    if (rc == TS_OK && !*ts_token_get(tok, TS_FIELD_REFRESH_TOKEN))
        rc = ts_error_set(err, TS_ERR_INVALID, "token %s has no refresh_token to revoke", id);
    if (rc == TS_OK) {
        const char *form[] = { "token", ts_token_get(tok, TS_FIELD_REFRESH_TOKEN), NULL };
        snprintf(url, sizeof url, "%s" TOKEN_PATH "/revoke", accounts_for(o, tok));
        ts_store_log(o->store, TS_LOG_INFO, "revoking the refresh token of token %s "
                "at %s", id, url);
        rc = oa__oauth_post(o, url, form, NULL, NULL, &r, err);
    }
    if (rc == TS_OK)
        rc = oa__oauth_parse_reply(&r, "revoke", &root, NULL, err);
    if (rc == TS_OK)
        rc = ts_delete_token(o->store, id, err);
    ts__json_release(root);
    oa__reply_clear(&r);
    ts_token_free(tok);
    return rc;
}

/* ---------------------------------------------------------------- the log */

TS_API int ts_oauth_refresh_log(ts_store *store, int (*cb)(const char *entry, void *userdata),
                                void *userdata, ts_error *err)
{
    return ts_store_log_walk(store, cb, userdata, err);
}
