/*
 * core/oauth.c - the OAuth token lifecycle, as the SDK runs it before each
 * API call: find the token, exchange a grant token the first time, refresh
 * the access token when it is missing or expires within 5 seconds, save
 * the result; and revoke.
 *
 * Zoho lets one refresh token mint at most ten access tokens in ten
 * minutes, then blocks it, so workers that refresh on their own take an
 * application down. Refreshes are therefore single-flight: the threads of
 * this process queue on a mutex, and processes sharing the store queue on
 * the backend's store-wide lock (try_lock/unlock in the ABI). Whoever gets
 * through re-reads the token first, so only the first of them talks to the
 * accounts server and the rest use the token it saved.
 *
 * Requests are form-encoded POST bodies: secrets never go into URLs, logs
 * or error messages. Connection failures, 5xx and 429 are retried with
 * capped exponential backoff and jitter; other answers are final.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include "internal.h"
#include "json.h"
#include "oauth_settings.h"

#define EXPIRY_MARGIN_MS 5000   /* the SDK refreshes this long before expiry */
#define REFRESH_AHEAD_MAX_MS 3000000  /* less than a Zoho access token's hour */
#define MAX_REPLY (1024 * 1024)
#define MAX_EXPIRES_IN_S (366LL * 24 * 3600)   /* a year */
#define MAX_TOKEN 1024          /* Zoho's tokens are about 70 characters */
#define MAX_DOMAIN 255

static const struct {
    const char *code;
    const char *url;
} data_centers[] = {
    { "US", "https://accounts.zoho.com" },    { "EU", "https://accounts.zoho.eu" },
    { "IN", "https://accounts.zoho.in" },     { "CN", "https://accounts.zoho.com.cn" },
    { "JP", "https://accounts.zoho.jp" },     { "AU", "https://accounts.zoho.com.au" },
    { "CA", "https://accounts.zohocloud.ca" }, { "SA", "https://accounts.zoho.sa" },
};

struct ts_oauth {
    ts_store *store;
    char *accounts_url;
    char *client_id, *client_secret, *redirect_url;
    long connect_timeout_ms, timeout_ms, retry_base_ms, retry_max_ms;
    long refresh_ahead_ms;          /* refresh when expiring within this */
    int retries;
    pthread_mutex_t refresh_lock;   /* single flight among this process's threads */
    unsigned jitter_seed;
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void free_secret(char **p)
{
    if (*p) {
        ts__wipe(*p, strlen(*p));
        free(*p);
        *p = NULL;
    }
}

/* ---------------------------------------------------------------- settings */

static int set_url(ts_oauth *o, const char *url, ts_error *err)
{
    size_t n = strlen(url);

    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
        return ts__error(err, TS_ERR_CONFIG,
                         "oauth.accounts_url: '%.100s' is not an http(s) URL", url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    char *copy = strndup(url, n);
    if (!copy)
        return ts__error(err, TS_ERR_NOMEM, "out of memory");
    free(o->accounts_url);
    o->accounts_url = copy;
    return TS_OK;
}

static int set_long(const char *key, const char *value, long min, long max, long *out,
                    ts_error *err)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < min || v > max)
        return ts__error(err, TS_ERR_CONFIG,
                         "oauth.%s: '%.40s' is not a whole number from %ld to %ld", key, value,
                         min, max);
    *out = v;
    return TS_OK;
}

TS_API int ts_oauth_set(ts_oauth *o, const char *key, const char *value, ts_error *err)
{
    long n;
    int rc;

    if (!key || !value)
        return ts__error(err, TS_ERR_CONFIG, "oauth: a setting needs a key and a value");
    if (!ts__oauth_setting_known(key))
        return ts__error(err, TS_ERR_CONFIG, "oauth.%.64s: unknown key", key);
    if (strcmp(key, "data_center") == 0) {
        for (size_t i = 0; i < sizeof data_centers / sizeof *data_centers; i++)
            if (strcasecmp(value, data_centers[i].code) == 0)
                return set_url(o, data_centers[i].url, err);
        return ts__error(err, TS_ERR_CONFIG,
                         "oauth.data_center: '%.20s' is not one of US, EU, IN, CN, JP, AU, CA, SA",
                         value);
    }
    if (strcmp(key, "accounts_url") == 0)
        return set_url(o, value, err);
    char **text = strcmp(key, "client_id") == 0       ? &o->client_id
                  : strcmp(key, "client_secret") == 0 ? &o->client_secret
                  : strcmp(key, "redirect_url") == 0  ? &o->redirect_url
                                                      : NULL;
    if (text) {
        char *copy = strdup(value);
        if (!copy)
            return ts__error(err, TS_ERR_NOMEM, "out of memory");
        free_secret(text);
        *text = copy;
        return TS_OK;
    }
    if (strcmp(key, "connect_timeout_ms") == 0)
        return set_long(key, value, 1, 600000, &o->connect_timeout_ms, err);
    if (strcmp(key, "timeout_ms") == 0)
        return set_long(key, value, 1, 600000, &o->timeout_ms, err);
    if (strcmp(key, "retry_base_ms") == 0)
        return set_long(key, value, 0, 60000, &o->retry_base_ms, err);
    if (strcmp(key, "retry_max_ms") == 0)
        return set_long(key, value, 0, 600000, &o->retry_max_ms, err);
    if (strcmp(key, "refresh_ahead_ms") == 0)
        return set_long(key, value, EXPIRY_MARGIN_MS, REFRESH_AHEAD_MAX_MS,
                        &o->refresh_ahead_ms, err);
    if (strcmp(key, "retries") == 0) {
        rc = set_long(key, value, 0, 10, &n, err);
        if (rc == TS_OK)
            o->retries = (int)n;
        return rc;
    }
    /* Listed in oauth_settings.h but given no meaning above. */
    return ts__error(err, TS_ERR_CONFIG, "oauth.%.64s: not supported", key);
}

static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* libcurl (and the TLS library under it) is set up before the first
 * request, not when a client is made: a program that only reads its
 * settings, such as a command checking a config's oauth section, never
 * pays for it. */
static CURL *easy_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, global_init);
    return curl_easy_init();
}

TS_API int ts_oauth_new(ts_oauth **out, ts_store *store, const ts_config *cfg, ts_error *err)
{
    ts_oauth *o = calloc(1, sizeof *o);
    int rc = TS_OK;

    *out = NULL;
    if (!o)
        return ts__error(err, TS_ERR_NOMEM, "out of memory");
    o->store = store;
    o->connect_timeout_ms = 10000;
    o->timeout_ms = 30000;
    o->retries = 3;
    o->retry_base_ms = 250;
    o->retry_max_ms = 4000;
    o->refresh_ahead_ms = EXPIRY_MARGIN_MS;
    o->jitter_seed = (unsigned)(wall_ms() ^ ((int64_t)getpid() << 16));
    pthread_mutex_init(&o->refresh_lock, NULL);
    rc = set_url(o, data_centers[0].url, err);
    for (size_t i = 0; cfg && rc == TS_OK && i < cfg->oauth.n; i++) {
        rc = ts_oauth_set(o, cfg->oauth.items[i].key, cfg->oauth.items[i].value, err);
        if (rc != TS_OK)
            ts__error_prefix(err, "%s", ts_config_origin(cfg));
    }
    if (rc != TS_OK) {
        ts_oauth_free(o);
        return rc;
    }
    *out = o;
    return TS_OK;
}

TS_API void ts_oauth_free(ts_oauth *o)
{
    if (!o)
        return;
    free(o->accounts_url);
    free_secret(&o->client_id);
    free_secret(&o->client_secret);
    free_secret(&o->redirect_url);
    pthread_mutex_destroy(&o->refresh_lock);
    free(o);
}

/* ---------------------------------------------------------------- HTTP */

struct reply {
    long status;
    char *body;
    size_t len;
};

static void reply_clear(struct reply *r)
{
    if (r->body) {
        ts__wipe(r->body, r->len);
        free(r->body);
    }
    memset(r, 0, sizeof *r);
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct reply *r = ud;
    size_t add = size * n;

    if (r->len + add > MAX_REPLY)
        return 0;                       /* aborts the transfer */
    char *body = malloc(r->len + add + 1);
    if (!body)
        return 0;
    if (r->body) {
        memcpy(body, r->body, r->len);
        ts__wipe(r->body, r->len);      /* it may hold tokens */
        free(r->body);
    }
    memcpy(body + r->len, data, add);
    r->len += add;
    body[r->len] = '\0';
    r->body = body;
    return add;
}

/* "k1=v1&k2=v2" from NULL-terminated name/value pairs, values escaped;
 * empty values are left out. Built in one allocation: a growing buffer
 * would leave copies of the secrets in the blocks realloc() frees. */
static char *form_body(CURL *curl, const char *const *pairs)
{
    char *escaped[16] = { 0 };
    size_t len = 1, n = 0;
    char *body = NULL;

    for (size_t i = 0; pairs[i] && n < 16; i += 2, n++) {
        if (!pairs[i + 1] || !*pairs[i + 1])
            continue;
        if (!(escaped[n] = curl_easy_escape(curl, pairs[i + 1], 0)))
            goto done;
        len += strlen(pairs[i]) + strlen(escaped[n]) + 2;
    }
    if (!(body = malloc(len)))
        goto done;
    body[0] = '\0';
    for (size_t i = 0, k = 0; k < n; i += 2, k++)
        if (escaped[k])
            snprintf(body + strlen(body), len - strlen(body), "%s%s=%s", *body ? "&" : "",
                     pairs[i], escaped[k]);
done:
    for (size_t k = 0; k < n; k++)
        if (escaped[k]) {
            ts__wipe(escaped[k], strlen(escaped[k]));
            curl_free(escaped[k]);
        }
    return body;
}

/* One POST. TS_OK once an HTTP answer arrived (any status). */
static int post_once(ts_oauth *o, CURL *curl, const char *url, const char *body,
                     struct reply *r, int *retryable, ts_error *err)
{
    char errbuf[CURL_ERROR_SIZE] = "";

    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "tokenstore/" PACKAGE_VERSION);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");

    CURLcode cc = curl_easy_perform(curl);
    *retryable = 0;
    if (cc == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
        *retryable = r->status >= 500 || r->status == 429;
        return TS_OK;
    }
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return ts__error(err, TS_ERR_TIMEOUT, "%s: no answer within %ld ms", url,
                         o->timeout_ms);
    *retryable = cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
                 cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR || cc == CURLE_GOT_NOTHING;
    return ts__error(err, TS_ERR_HTTP, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
}

static void backoff(ts_oauth *o, int attempt)
{
    long cap = o->retry_base_ms << (attempt < 20 ? attempt : 20);
    if (cap > o->retry_max_ms || cap < 0)
        cap = o->retry_max_ms;
    /* "Equal jitter": half fixed, half random, so retries spread out. */
    long ms = cap / 2 + (cap > 1 ? rand_r(&o->jitter_seed) % (cap / 2 + 1) : 0);
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    ts__log(ts__store_ctx(o->store), TS_LOG_INFO, "waiting %ld ms before attempt %d", ms,
            attempt + 2);
    nanosleep(&ts, NULL);
}

/* POSTs the form to accounts_url + path, retrying what is worth retrying.
 * TS_OK with the final answer in r, whatever its status. */
static int post_form(ts_oauth *o, const char *path, const char *const *pairs,
                     struct reply *r, ts_error *err)
{
    CURL *curl = easy_init();
    char *url = NULL, *body = NULL;
    int rc = TS_ERR_NOMEM, retryable = 0;

    if (curl && asprintf(&url, "%s%s", o->accounts_url, path) >= 0)
        body = form_body(curl, pairs);
    if (!body) {
        rc = ts__error(err, TS_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int attempt = 0; attempt <= o->retries; attempt++) {
        if (attempt > 0)
            backoff(o, attempt - 1);
        reply_clear(r);
        ts__log(ts__store_ctx(o->store), TS_LOG_DEBUG, "POST %s (attempt %d)", url, attempt + 1);
        rc = post_once(o, curl, url, body, r, &retryable, err);
        if (rc == TS_OK && !retryable)
            ts__log(ts__store_ctx(o->store), TS_LOG_DEBUG, "POST %s: HTTP %ld, %zu bytes",
                    url, r->status, r->len);
        if (!retryable)
            break;
        if (rc == TS_OK)
            ts__log(ts__store_ctx(o->store), TS_LOG_INFO, "POST %s: HTTP %ld, server busy or "
                    "failing; %s", url, r->status, attempt < o->retries ? "retrying" : "giving up");
        else
            ts__log(ts__store_ctx(o->store), TS_LOG_INFO, "%s; %s", err->message,
                    attempt < o->retries ? "retrying" : "giving up");
    }
done:
    if (body) {
        ts__wipe(body, strlen(body));
        free(body);
    }
    free(url);
    curl_easy_cleanup(curl);
    return rc;
}

/* ---------------------------------------------------------------- replies */

/* The server's error code, reduced to harmless characters. */
static void error_code(const char *in, char *out, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; in[i] && j + 1 < n; i++)
        if (isalnum((unsigned char)in[i]) || in[i] == '_' || in[i] == '-' || in[i] == '.')
            out[j++] = in[i];
    out[j] = '\0';
}

/* Parses a reply as JSON and turns an "error" member or a bad status into
 * an error. *root is the parsed object on TS_OK. */
static int parse_reply(const struct reply *r, const char *what, json_object **root,
                       ts_error *err)
{
    char code[65];

    *root = NULL;
    if (r->len == 0)
        return ts__error(err, TS_ERR_HTTP, "%s: empty reply (HTTP %ld)", what, r->status);
    char why[TS_ERROR_MAX];
    int rc = strlen(r->body) == r->len ? ts__json_parse(r->body, what, root, why, sizeof why)
                                       : TS_ERR_CONFIG;
    if (rc == TS_ERR_NOMEM)
        return ts__error(err, rc, "out of memory");
    if (rc != TS_OK || !json_object_is_type(*root, json_type_object)) {
        ts__json_release(*root);
        *root = NULL;
        return ts__error(err, TS_ERR_HTTP, "%s: the reply (HTTP %ld, %zu bytes) is not a JSON "
                         "object", what, r->status, r->len);
    }
    json_object *e;
    if (json_object_object_get_ex(*root, "error", &e)) {
        error_code(json_object_get_string(e), code, sizeof code);
        ts__json_release(*root);
        *root = NULL;
        return ts__error(err, TS_ERR_OAUTH, "%s: the accounts server answered error '%s' "
                         "(HTTP %ld)", what, code, r->status);
    }
    if (r->status != 200) {
        ts__json_release(*root);
        *root = NULL;
        return ts__error(err, TS_ERR_HTTP, "%s: HTTP status %ld", what, r->status);
    }
    return TS_OK;
}

/* A string member of the reply: NULL when absent or empty. What the
 * server sends is stored and printed (`tokenstore token` goes into a curl
 * header), so a value must be printable ASCII without spaces (Zoho's are
 * "1000." and hex) and of sane length; *bad is set when it is not, rather
 * than storing it or cutting it short. */
static const char *member(json_object *root, const char *key, size_t max, int *bad)
{
    json_object *v;
    if (!json_object_object_get_ex(root, key, &v))
        return NULL;
    if (!json_object_is_type(v, json_type_string)) {
        *bad = 1;
        return NULL;
    }
    const char *s = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    for (size_t i = 0; i < len; i++)
        if (s[i] <= ' ' || s[i] > '~')
            *bad = 1;
    if (len > max)
        *bad = 1;
    return *s && !*bad ? s : NULL;
}

/* expires_in: seconds as a JSON integer or a string of digits (the SDK
 * takes both), at most a year; milliseconds when the reply also has
 * expires_in_sec, as the SDK reads it. 0 when it is missing or not that. */
static int64_t expires_in_ms(json_object *root)
{
    json_object *v;
    int64_t n = 0;

    if (!json_object_object_get_ex(root, "expires_in", &v))
        return 0;
    if (json_object_is_type(v, json_type_int)) {
        errno = 0;
        n = json_object_get_int64(v);
        if (errno)
            return 0;
    } else if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 12)
            return 0;
        n = strtoll(s, NULL, 10);
    }
    int in_ms = json_object_object_get_ex(root, "expires_in_sec", NULL);
    int64_t max = in_ms ? MAX_EXPIRES_IN_S * 1000 : MAX_EXPIRES_IN_S;
    if (n <= 0 || n > max)
        return 0;
    return in_ms ? n : n * 1000;
}

/* Copies a token reply into tok: access_token, expiry_time and, when the
 * server sent them, refresh_token and api_domain. */
static int apply_token_reply(const struct reply *r, const char *what, ts_token *tok,
                             ts_error *err)
{
    json_object *root;
    int rc = parse_reply(r, what, &root, err);
    int bad_access = 0, bad_refresh = 0, bad_domain = 0;

    if (rc != TS_OK)
        return rc;
    const char *access = member(root, "access_token", MAX_TOKEN, &bad_access);
    const char *refresh = member(root, "refresh_token", MAX_TOKEN, &bad_refresh);
    const char *domain = member(root, "api_domain", MAX_DOMAIN, &bad_domain);
    int64_t expires_in = expires_in_ms(root);
    const char *bad = bad_access ? "access_token" : bad_refresh ? "refresh_token"
                    : bad_domain ? "api_domain" : NULL;
    if (bad || !access || !expires_in) {
        ts__json_release(root);
        if (bad)
            return ts__error(err, TS_ERR_HTTP, "%s: the reply's %s is not printable ASCII of "
                             "at most %d characters; refused", what, bad,
                             bad_domain ? MAX_DOMAIN : MAX_TOKEN);
        return ts__error(err, TS_ERR_HTTP, "%s: the reply has no %s", what,
                         access ? "expires_in from 1 second to 1 year" : "access_token");
    }
    char expiry[24];
    snprintf(expiry, sizeof expiry, "%" PRId64, wall_ms() + expires_in);
    rc = ts_token_set(tok, TS_FIELD_ACCESS_TOKEN, access);
    if (rc == TS_OK)
        rc = ts_token_set(tok, TS_FIELD_EXPIRY_TIME, expiry);
    if (rc == TS_OK && refresh)
        rc = ts_token_set(tok, TS_FIELD_REFRESH_TOKEN, refresh);
    if (rc == TS_OK && domain)
        rc = ts_token_set(tok, TS_FIELD_API_DOMAIN, domain);
    ts__json_release(root);
    return rc == TS_OK ? TS_OK : ts__error(err, rc, "out of memory");
}

/* What a token reply of HTTP 200 with this body makes of tok (for the
 * reply parser's fuzz harness); body must be NUL-terminated after len. */
int ts__oauth_apply_reply(const char *body, size_t len, ts_token *tok, ts_error *err)
{
    struct reply r = { 200, (char *)(uintptr_t)body, len };
    return apply_token_reply(&r, "refresh", tok, err);
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
    return *end == '\0' && errno == 0 && ms >= wall_ms() + o->refresh_ahead_ms;
}

/* The token's client credential, else the client's setting. */
static const char *credential(const ts_token *t, ts_field f, const char *setting)
{
    const char *v = ts_token_get(t, f);
    return *v ? v : setting ? setting : "";
}

/* Asks the accounts server for a new access token for tok: by refresh
 * token when it has one, else by exchanging its grant token. */
static int request_token(ts_oauth *o, ts_token *tok, ts_error *err)
{
    const char *cid = credential(tok, TS_FIELD_CLIENT_ID, o->client_id);
    const char *secret = credential(tok, TS_FIELD_CLIENT_SECRET, o->client_secret);
    const char *redirect = credential(tok, TS_FIELD_REDIRECT_URL, o->redirect_url);
    const char *refresh = ts_token_get(tok, TS_FIELD_REFRESH_TOKEN);
    const char *grant = ts_token_get(tok, TS_FIELD_GRANT_TOKEN);
    struct reply r = { 0 };
    int rc;

    if (!*cid || !*secret)
        return ts__error(err, TS_ERR_INVALID,
                         "token %s has no client_id/client_secret and the OAuth settings "
                         "give none", *ts_token_get(tok, TS_FIELD_ID) ? ts_token_get(tok, TS_FIELD_ID) : "(new)");
    if (*refresh) {
        const char *form[] = { "grant_type", "refresh_token", "refresh_token", refresh,
                               "client_id", cid, "client_secret", secret, NULL };
        rc = post_form(o, "/oauth/v2/token", form, &r, err);
    } else if (*grant) {
        const char *form[] = { "grant_type", "authorization_code", "client_id", cid,
                               "client_secret", secret, "redirect_uri", redirect,
                               "code", grant, NULL };
        rc = post_form(o, "/oauth/v2/token", form, &r, err);
    } else {
        return ts__error(err, TS_ERR_INVALID,
                         "token %s has neither a refresh_token nor a grant_token to get an "
                         "access token with", ts_token_get(tok, TS_FIELD_ID));
    }
    if (rc == TS_OK)
        rc = apply_token_reply(&r, *refresh ? "refresh" : "grant exchange", tok, err);
    if (rc == TS_OK && !*ts_token_get(tok, TS_FIELD_CLIENT_ID))
        rc = ts_token_set(tok, TS_FIELD_CLIENT_ID, cid);
    if (rc == TS_OK && !*ts_token_get(tok, TS_FIELD_CLIENT_SECRET))
        rc = ts_token_set(tok, TS_FIELD_CLIENT_SECRET, secret);
    reply_clear(&r);
    return rc;
}

/* Reads the stored token the query names: by id, else by its key. */
static int load(ts_oauth *o, const ts_token *query, ts_token *tok, ts_error *err)
{
    const char *id = ts_token_get(query, TS_FIELD_ID);

    if (*id)
        return ts_find_token_by_id(o->store, id, tok, err);
    ts_token_clear(tok);
    int rc = ts__token_copy(tok, query);
    /* A grant or refresh token is a key only with client credentials: take
     * the settings' when the query has none (the SDK's token has them). */
    if (rc == TS_OK && !ts__has(tok, TS_FIELD_USER_NAME) &&
        (ts__has(tok, TS_FIELD_GRANT_TOKEN) || ts__has(tok, TS_FIELD_REFRESH_TOKEN))) {
        if (!ts__has(tok, TS_FIELD_CLIENT_ID) && o->client_id)
            rc = ts_token_set(tok, TS_FIELD_CLIENT_ID, o->client_id);
        if (rc == TS_OK && !ts__has(tok, TS_FIELD_CLIENT_SECRET) && o->client_secret)
            rc = ts_token_set(tok, TS_FIELD_CLIENT_SECRET, o->client_secret);
    }
    return rc == TS_OK ? ts_find_token(o->store, tok, err) : ts__error(err, rc, "out of memory");
}

/* How long a refresh may hold the store's lock: every attempt timing out,
 * plus the backoff between them, plus a margin. */
static int64_t lock_ttl_ms(const ts_oauth *o)
{
    return (int64_t)(o->timeout_ms + o->connect_timeout_ms) * (o->retries + 1) +
           (int64_t)o->retry_max_ms * o->retries + 5000;
}

/* The single flight: under this process's mutex and the store's lock,
 * re-read; only if still needed, ask the server and save. */
static int renew(ts_oauth *o, const ts_token *query, ts_token *tok, ts_error *err)
{
    const char *id = *ts_token_get(query, TS_FIELD_ID) ? ts_token_get(query, TS_FIELD_ID)
                                                       : ts_token_get(tok, TS_FIELD_ID);
    char name[64];
    void *lock;
    int rc;

    /* One lock per stored token; a first grant exchange has no id yet. */
    snprintf(name, sizeof name, "oauth:%.40s", *id ? id : "new");
    pthread_mutex_lock(&o->refresh_lock);
    rc = ts__store_lock(o->store, name, lock_ttl_ms(o), lock_ttl_ms(o), &lock, err);
    if (rc == TS_OK) {
        rc = load(o, query, tok, err);
        if (rc == TS_NOT_FOUND && *ts_token_get(query, TS_FIELD_GRANT_TOKEN) &&
            !*ts_token_get(query, TS_FIELD_ID)) {
            ts_token_clear(tok);        /* first use: exchange the grant token */
            ts__log(ts__store_ctx(o->store), TS_LOG_INFO,
                    "no stored token: exchanging the grant token at %s", o->accounts_url);
            rc = ts__token_copy(tok, query);
            if (rc == TS_OK)
                rc = request_token(o, tok, err);
            if (rc == TS_OK)
                rc = ts_save_token(o->store, tok, err);
        } else if (rc == TS_OK && is_valid(o, tok)) {
            ts__log(ts__store_ctx(o->store), TS_LOG_INFO, "token %s was refreshed by another "
                    "thread or process meanwhile", ts_token_get(tok, TS_FIELD_ID));
        } else if (rc == TS_OK && !is_valid(o, tok)) {
            ts__log(ts__store_ctx(o->store), TS_LOG_INFO,
                    "refreshing the access token of token %s at %s",
                    ts_token_get(tok, TS_FIELD_ID), o->accounts_url);
            rc = request_token(o, tok, err);
            if (rc == TS_OK)
                rc = ts_save_token(o->store, tok, err);
        }
        ts_error unlock_err;
        ts__store_unlock(o->store, lock, &unlock_err);
    }
    pthread_mutex_unlock(&o->refresh_lock);
    return rc;
}

TS_API int ts_oauth_get_access_token(ts_oauth *o, ts_token *query, ts_error *err)
{
    ts_token *tok = ts_token_new();
    int rc;

    if (!tok)
        return ts__error(err, TS_ERR_NOMEM, "out of memory");
    rc = load(o, query, tok, err);
    if (rc == TS_OK && is_valid(o, tok))
        ts__log(ts__store_ctx(o->store), TS_LOG_DEBUG, "token %s: the stored access token "
                "is valid until %s (epoch ms)", ts_token_get(tok, TS_FIELD_ID),
                ts_token_get(tok, TS_FIELD_EXPIRY_TIME));
    if ((rc == TS_OK && !is_valid(o, tok)) ||
        (rc == TS_NOT_FOUND && *ts_token_get(query, TS_FIELD_GRANT_TOKEN)))
        rc = renew(o, query, tok, err);
    else if (rc == TS_NOT_FOUND)
        ts__error(err, rc, "no stored token matches, and it has no grant_token to exchange");
    if (rc == TS_OK) {
        ts_token_clear(query);
        ts__token_merge(query, tok);
    }
    ts_token_free(tok);
    return rc;
}

TS_API int ts_oauth_revoke(ts_oauth *o, const char *id, ts_error *err)
{
    ts_token *tok = ts_token_new();
    struct reply r = { 0 };
    json_object *root = NULL;
    int rc;

    if (!tok)
        return ts__error(err, TS_ERR_NOMEM, "out of memory");
    rc = ts_find_token_by_id(o->store, id, tok, err);
    if (rc == TS_OK && !*ts_token_get(tok, TS_FIELD_REFRESH_TOKEN))
        rc = ts__error(err, TS_ERR_INVALID, "token %s has no refresh_token to revoke", id);
    if (rc == TS_OK) {
        const char *form[] = { "token", ts_token_get(tok, TS_FIELD_REFRESH_TOKEN), NULL };
        ts__log(ts__store_ctx(o->store), TS_LOG_INFO, "revoking the refresh token of token %s "
                "at %s", id, o->accounts_url);
        rc = post_form(o, "/oauth/v2/token/revoke", form, &r, err);
    }
    if (rc == TS_OK)
        rc = parse_reply(&r, "revoke", &root, err);
    if (rc == TS_OK)
        rc = ts_delete_token(o->store, id, err);
    ts__json_release(root);
    reply_clear(&r);
    ts_token_free(tok);
    return rc;
}
