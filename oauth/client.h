/*
 * oauth/client.h - what the files of libtokenstore-oauth share: the
 * client itself, the small helpers of util.c, Zoho's data centers
 * (data_centers.c), the HTTP half (oauth_http.c) and the guard that keeps
 * a failing or revoked token from hammering the accounts server
 * (oauth_guard.c). oauth.c, on top, runs the token lifecycle with them.
 *
 * The library is a client of libtokenstore like any other: it includes
 * the public headers only (core/'s private ones are not on its include
 * path), and the store's lock, notes, log and logger reach it through
 * tokenstore.h. It shares libtsjson, the strict JSON reader, with the
 * core and the command.
 */
#ifndef TS_OAUTH_CLIENT_H
#define TS_OAUTH_CLIENT_H

#include "config.h"
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include <tokenstore/tokenstore.h>

#define TS_API __attribute__((visibility("default")))

struct accounts_override {
    char *key;               /* a data center ("EU") or an api_domain host */
    char *url;               /* its accounts server, without /oauth/v2/token */
};

struct ts_oauth {
    ts_store *store;
    char data_center[4];     /* the data_center setting, upper case */
    char *default_url;       /* its server: tokens without a known api_domain */
    char *accounts_url;      /* the accounts_url setting (every token), or NULL */
    struct accounts_override *overrides;
    size_t noverrides;
    char *client_id, *client_secret, *redirect_url;
    long connect_timeout_ms, timeout_ms, retry_base_ms, retry_max_ms;
    long refresh_ahead_ms;   /* refresh when expiring within this */
    long failure_backoff_ms, failure_backoff_max_ms;
    long refresh_budget, refresh_budget_window_ms, refresh_log_size;
    long retries;
    pthread_mutex_t refresh_lock;    /* single flight among this process's threads */
    unsigned jitter_seed;
    struct ts_oauth *next_watched;   /* the clients util.c tells of a fork */
};

/* ---------------------------------------------------------------- util.c */

/* Wipes n bytes where the compiler cannot skip it. */
void oa__wipe(void *p, size_t n);
/* Whether field f of t has a value. */
static inline int oa__has(const ts_token *t, ts_field f)
{
    return *ts_token_get(t, f) != '\0';
}
/* Replaces every field of dst with src's: TS_OK or TS_ERR_NOMEM. */
int oa__token_copy(ts_token *dst, const ts_token *src);
/* Lists a client while it lives; in the child of a fork() its mutex is
 * made new (a thread of the parent may have held it at the fork). */
void oa__fork_watch(struct ts_oauth *o);
void oa__fork_unwatch(struct ts_oauth *o);

/* ---------------------------------------------------------------- data_centers.c */

/* The accounts server (no path) of data center `code`, or NULL. */
const char *oa__data_center_accounts(const char *code);
/* The lower-cased host of an api_domain URL into host; its length, 0 for none. */
size_t oa__api_domain_host(const char *api_domain, char *host, size_t size);
/* The data center whose API domains include host, or NULL. */
const char *oa__data_center_of_host(const char *host);

/* ---------------------------------------------------------------- oauth_http.c */

struct oa__reply {
    long status;
    char *body;
    size_t len;
};

void oa__reply_clear(struct oa__reply *r);

/* Asked before each request a POST sends: TS_OK to send it, or why not
 * (the guard's budget), which ends the POST with that error. */
typedef int (*oa__may_send_fn)(void *userdata, ts_error *err);

/* POSTs the form (NULL-terminated name/value pairs, empty values left
 * out) to url, retrying connection failures, 5xx and 429 as the client's
 * settings say. TS_OK with the final answer in r, whatever its status. */
int oa__oauth_post(ts_oauth *o, const char *url, const char *const *pairs,
                   oa__may_send_fn may_send, void *userdata, struct oa__reply *r,
                   ts_error *err);

/* Parses a reply: TS_OK with the JSON object in *root; TS_ERR_OAUTH with
 * the server's error code in `code` (may be NULL); TS_ERR_HTTP. */
int oa__oauth_parse_reply(const struct oa__reply *r, const char *what, json_object **root,
                          char code[65], ts_error *err);

/* Copies a token reply into tok: access_token, expiry_time and, when the
 * server sent them, refresh_token and api_domain. */
int oa__oauth_apply_token_reply(const struct oa__reply *r, const char *what, ts_token *tok,
                                char code[65], ts_error *err);

int64_t oa__wall_ms(void);

/* What a token reply of HTTP 200 with this body makes of tok (the reply
 * parser's fuzz harness's entry); body is NUL-terminated after len. */
int oa__oauth_apply_reply(const char *body, size_t len, ts_token *tok, ts_error *err);

/* ---------------------------------------------------------------- oauth_guard.c */

/* What every process knows of one token's refreshes (a note in the
 * store): the secret it applies to, consecutive failures and the time
 * before which no request may go out, whether the server refused that
 * secret for good, and when the requests of the budget window went. */
#define TS__BUDGET_MAX 64
struct oa__guard_state {
    uint64_t fingerprint;
    int failures;
    int64_t next_ms;
    int revoked;
    int64_t requests[TS__BUDGET_MAX];
    int nrequests;
    char last[160];          /* the last failure, as its error said it */
};

/* One refresh or grant exchange of one token, as the guard follows it. */
struct oa__flight {
    char key[64];            /* "id:3" or "grant:<fingerprint>" */
    char id[24];             /* the token's id, "" for a first exchange */
    char user[128];          /* its user_name, for the log */
    const char *event;       /* "refresh" or "grant" */
    const char *server;      /* the accounts server asked */
    uint64_t secret;         /* fingerprint of the refresh (grant) token used */
    int requests;            /* requests sent */
    int64_t started_ms, waited_ms;
    struct oa__guard_state state;
};

/* TS_OK when a request for the flight's token may go out now; else
 * TS_ERR_BACKOFF (a recent failure, or the budget spent) or TS_ERR_OAUTH
 * (the server refused this very refresh token for good), saying why and
 * when the next try is allowed. */
int oa__guard_check(ts_oauth *o, struct oa__flight *f, ts_error *err);
/* A oa__may_send_fn (userdata: a struct oa__guarded): the budget,
 * checked and spent per request. */
int oa__guard_may_send(void *guarded, ts_error *err);
/* After the flight: clears or records the failure (backoff, or "revoked"
 * for invalid_code and invalid_client) and appends the log entry. */
void oa__guard_done(ts_oauth *o, struct oa__flight *f, int rc, const char *oauth_code,
                    const ts_error *why);
/* Logs a process served by another's refresh: who waited, and how long. */
void oa__guard_served(ts_oauth *o, struct oa__flight *f);
/* A 64-bit fingerprint of a secret (FNV-1a): notes name a token's
 * refresh token by it, never by the token. */
uint64_t oa__fingerprint(const char *s);

/* What oa__guard_may_send is handed. */
struct oa__guarded {
    ts_oauth *o;
    struct oa__flight *f;
};

#endif
