/*
 * core/oauth_http.c - the OAuth client's conversation with an accounts
 * server: form-encoded POSTs over libcurl, retried with capped, jittered
 * backoff, and strict reading of what comes back.
 *
 * Requests are form bodies: secrets never go into URLs, logs or error
 * messages. Connection failures, 5xx and 429 are retried; other answers
 * are final. Before each request the caller's may_send is asked, so that
 * a token's refresh budget counts every request that could have minted an
 * access token, retries included. A reply is stored and printed
 * (`tokenstore token` goes into a curl header), so its values must be
 * printable ASCII of sane length; anything else is refused whole.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include "client.h"
#include "../core/json.h"

#define MAX_REPLY (1024 * 1024)
#define MAX_EXPIRES_IN_S (366LL * 24 * 3600)   /* a year */
#define MAX_TOKEN 1024          /* Zoho's tokens are about 70 characters */
#define MAX_DOMAIN 255

int64_t oa__wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

void oa__reply_clear(struct oa__reply *r)
{
    if (r->body) {
        oa__wipe(r->body, r->len);
        free(r->body);
    }
    memset(r, 0, sizeof *r);
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct oa__reply *r = ud;
    size_t add = size * n;

    if (r->len + add > MAX_REPLY)
        return 0;                       /* aborts the transfer */
    char *body = malloc(r->len + add + 1);
    if (!body)
        return 0;
    if (r->body) {
        memcpy(body, r->body, r->len);
        oa__wipe(r->body, r->len);      /* it may hold tokens */
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
            oa__wipe(escaped[k], strlen(escaped[k]));
            curl_free(escaped[k]);
        }
    return body;
}

/* One POST. TS_OK once an HTTP answer arrived (any status). */
static int post_once(ts_oauth *o, CURL *curl, const char *url, const char *body,
                     struct oa__reply *r, int *retryable, ts_error *err)
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
        return ts_error_set(err, TS_ERR_TIMEOUT, "%s: no answer within %ld ms", url,
                         o->timeout_ms);
    *retryable = cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
                 cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR || cc == CURLE_GOT_NOTHING;
    return ts_error_set(err, TS_ERR_HTTP, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
}

static void backoff(ts_oauth *o, int attempt)
{
    long cap = o->retry_base_ms << (attempt < 20 ? attempt : 20);
    if (cap > o->retry_max_ms || cap < 0)
        cap = o->retry_max_ms;
    /* "Equal jitter": half fixed, half random, so retries spread out. */
    long ms = cap / 2 + (cap > 1 ? rand_r(&o->jitter_seed) % (cap / 2 + 1) : 0);
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    ts_store_log(o->store, TS_LOG_INFO, "waiting %ld ms before attempt %d", ms,
            attempt + 2);
    nanosleep(&ts, NULL);
}

int oa__oauth_post(ts_oauth *o, const char *url, const char *const *pairs,
                   oa__may_send_fn may_send, void *userdata, struct oa__reply *r,
                   ts_error *err)
{
    CURL *curl = easy_init();
    char *body = curl ? form_body(curl, pairs) : NULL;
    int rc = TS_ERR_NOMEM, retryable = 0;

    if (!body) {
        curl_easy_cleanup(curl);
        return ts_error_set(err, TS_ERR_NOMEM, "out of memory");
    }
    for (long attempt = 0; attempt <= o->retries; attempt++) {
        if (attempt > 0)
            backoff(o, (int)attempt - 1);
        if (may_send && (rc = may_send(userdata, err)) != TS_OK)
            break;
        oa__reply_clear(r);
        ts_store_log(o->store, TS_LOG_DEBUG, "POST %s (attempt %ld)", url, attempt + 1);
        rc = post_once(o, curl, url, body, r, &retryable, err);
        if (rc == TS_OK && !retryable)
            ts_store_log(o->store, TS_LOG_DEBUG, "POST %s: HTTP %ld, %zu bytes", url, r->status, r->len);
        if (!retryable)
            break;
        if (rc == TS_OK)
            ts_store_log(o->store, TS_LOG_INFO, "POST %s: HTTP %ld, server busy or failing; %s", url,
                    r->status, attempt < o->retries ? "retrying" : "giving up");
        else
            ts_store_log(o->store, TS_LOG_INFO, "%s; %s", err->message,
                    attempt < o->retries ? "retrying" : "giving up");
    }
    oa__wipe(body, strlen(body));
    free(body);
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

int oa__oauth_parse_reply(const struct oa__reply *r, const char *what, json_object **root,
                          char code[65], ts_error *err)
{
    char own[65];

    if (!code)
        code = own;
    code[0] = '\0';
    *root = NULL;
    if (r->len == 0)
        return ts_error_set(err, TS_ERR_HTTP, "%s: empty reply (HTTP %ld)", what, r->status);
    char why[TS_ERROR_MAX];
    int rc = strlen(r->body) == r->len ? ts__json_parse(r->body, what, root, why, sizeof why)
                                       : TS_ERR_CONFIG;
    if (rc == TS_ERR_NOMEM)
        return ts_error_set(err, rc, "out of memory");
    if (rc != TS_OK || !json_object_is_type(*root, json_type_object)) {
        ts__json_release(*root);
        *root = NULL;
        return ts_error_set(err, TS_ERR_HTTP, "%s: the reply (HTTP %ld, %zu bytes) is not a JSON "
                         "object", what, r->status, r->len);
    }
    json_object *e;
    if (json_object_object_get_ex(*root, "error", &e)) {
        error_code(json_object_get_string(e), code, 65);
        ts__json_release(*root);
        *root = NULL;
        return ts_error_set(err, TS_ERR_OAUTH, "%s: the accounts server answered error '%s' "
                         "(HTTP %ld)", what, code, r->status);
    }
    if (r->status != 200) {
        ts__json_release(*root);
        *root = NULL;
        return ts_error_set(err, TS_ERR_HTTP, "%s: HTTP status %ld", what, r->status);
    }
    return TS_OK;
}

/* A string member of the reply: NULL when absent or empty; *bad when it
 * is not printable ASCII without spaces (Zoho's are "1000." and hex) of
 * at most max bytes, rather than storing it or cutting it short. */
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

int oa__oauth_apply_token_reply(const struct oa__reply *r, const char *what, ts_token *tok,
                                char code[65], ts_error *err)
{
    json_object *root;
    int rc = oa__oauth_parse_reply(r, what, &root, code, err);
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
            return ts_error_set(err, TS_ERR_HTTP, "%s: the reply's %s is not printable ASCII of "
                             "at most %d characters; refused", what, bad,
                             bad_domain ? MAX_DOMAIN : MAX_TOKEN);
        return ts_error_set(err, TS_ERR_HTTP, "%s: the reply has no %s", what,
                         access ? "expires_in from 1 second to 1 year" : "access_token");
    }
    char expiry[24];
    snprintf(expiry, sizeof expiry, "%" PRId64, oa__wall_ms() + expires_in);
    rc = ts_token_set(tok, TS_FIELD_ACCESS_TOKEN, access);
    if (rc == TS_OK)
        rc = ts_token_set(tok, TS_FIELD_EXPIRY_TIME, expiry);
    if (rc == TS_OK && refresh)
        rc = ts_token_set(tok, TS_FIELD_REFRESH_TOKEN, refresh);
    if (rc == TS_OK && domain)
        rc = ts_token_set(tok, TS_FIELD_API_DOMAIN, domain);
    ts__json_release(root);
    return rc == TS_OK ? TS_OK : ts_error_set(err, rc, "out of memory");
}

/* What a token reply of HTTP 200 with this body makes of tok (for the
 * reply parser's fuzz harness); body must be NUL-terminated after len. */
int oa__oauth_apply_reply(const char *body, size_t len, ts_token *tok, ts_error *err)
{
    struct oa__reply r = { 200, (char *)(uintptr_t)body, len };
    return oa__oauth_apply_token_reply(&r, "refresh", tok, NULL, err);
}
