/*
 * core/oauth_guard.c - keeps a failing, revoked or overused token from
 * hammering the accounts server, and writes the refresh log.
 *
 * Zoho lets one refresh token mint at most ten access tokens in ten
 * minutes and then blocks it. Single flight (oauth.c) makes one request
 * per expiry when the server answers; this file covers the times it does
 * not. What it knows of a token lives in a note beside the tokens, so
 * every process sharing the store sees it:
 *
 * - after a failed refresh, no process asks again for failure_backoff_ms,
 *   doubling with each failure in a row up to failure_backoff_max_ms;
 * - every request that could mint an access token, retries included,
 *   spends one of refresh_budget per refresh_budget_window_ms, a window
 *   that slides, so no ten minutes ever hold more;
 * - a refresh token the server refused for good (invalid_code,
 *   invalid_client) is not sent again; a new refresh token or client
 *   secret, which changes the note's fingerprint, starts afresh.
 *
 * Callers get TS_ERR_BACKOFF with the time of the next try. Each request
 * and each process served by another's refresh adds an entry to the
 * refresh log (JSON, one object a line, capped at refresh_log_size), which
 * `tokenstore refreshes` reads: an operator confirms single flight there.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "client.h"

uint64_t oa__fingerprint(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* ---------------------------------------------------------------- the note */

static void note_name(const struct oa__flight *f, char name[96])
{
    snprintf(name, 96, "oauth:%s", f->key);
}

/* "v1 FP FAILURES NEXT REVOKED T1,T2,...|- LAST MESSAGE" */
static void parse_state(const char *text, struct oa__guard_state *st)
{
    char times[TS__BUDGET_MAX * 21 + 2];
    int used = 0;

    memset(st, 0, sizeof *st);
    if (sscanf(text, "v1 %" SCNx64 " %d %" SCNd64 " %d %1300s %n", &st->fingerprint,
               &st->failures, &st->next_ms, &st->revoked, times, &used) < 5) {
        memset(st, 0, sizeof *st);
        return;
    }
    snprintf(st->last, sizeof st->last, "%s", text + used);
    for (char *p = times, *end; *p && *p != '-' && st->nrequests < TS__BUDGET_MAX; p = end) {
        st->requests[st->nrequests++] = strtoll(p, &end, 10);
        if (*end == ',')
            end++;
        else if (*end)
            break;
    }
}

static void format_state(const struct oa__guard_state *st, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "v1 %" PRIx64 " %d %" PRId64 " %d ", st->fingerprint,
                                st->failures, st->next_ms, st->revoked);
    for (int i = 0; i < st->nrequests && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%" PRId64, i ? "," : "", st->requests[i]);
    if (n < size)
        snprintf(out + n, size - n, "%s %s", st->nrequests ? "" : "-", st->last);
}

/* A note outlives what it holds (the budget's window, the longest wait)
 * and then goes, so a store does not keep one for every grant token ever
 * exchanged; a refusal for good stays until a new secret replaces it. */
static void save_state(ts_oauth *o, const struct oa__flight *f)
{
    char name[96], text[1800];
    int64_t ttl = f->state.revoked ? 0 : (int64_t)o->refresh_budget_window_ms +
                                         o->failure_backoff_max_ms;
    ts_error err;

    note_name(f, name);
    format_state(&f->state, text, sizeof text);
    if (ts_store_note_set(o->store, name, text, ttl, &err) != TS_OK)
        ts_store_log(o->store, TS_LOG_WARN, "token %s: the refresh guard could not "
                "be written, so other processes may not see it: %s", f->key, err.message);
}

/* Forgets the budget's requests older than its window. */
static void prune(const ts_oauth *o, struct oa__guard_state *st, int64_t now)
{
    int keep = 0;

    for (int i = 0; i < st->nrequests; i++)
        if (st->requests[i] > now - o->refresh_budget_window_ms)
            st->requests[keep++] = st->requests[i];
    st->nrequests = keep;
}

/* When the budget allows the next request (0: now). */
static int64_t budget_next(const ts_oauth *o, const struct oa__guard_state *st)
{
    if (st->nrequests < o->refresh_budget)
        return 0;
    return st->requests[st->nrequests - o->refresh_budget] + o->refresh_budget_window_ms;
}

/* ---------------------------------------------------------------- checks */

int oa__guard_check(ts_oauth *o, struct oa__flight *f, ts_error *err)
{
    char name[96], text[1800];
    ts_error ignored;
    int64_t now = oa__wall_ms();

    note_name(f, name);
    if (ts_store_note_get(o->store, name, text, sizeof text, &ignored) == TS_OK)
        parse_state(text, &f->state);
    else
        memset(&f->state, 0, sizeof f->state);
    if (f->state.fingerprint != f->secret) {    /* a new secret starts afresh */
        memset(&f->state, 0, sizeof f->state);
        f->state.fingerprint = f->secret;
    }
    prune(o, &f->state, now);
    if (f->state.revoked)
        return ts_error_set(err, TS_ERR_OAUTH, "token %s: the accounts server refused its %s "
                         "for good (%s); it is not sent again: store a new grant token, "
                         "refresh token or client secret", *f->id ? f->id : "(new)",
                         strcmp(f->event, "grant") == 0 ? "grant token" : "refresh token",
                         f->state.last);
    int64_t next = f->state.next_ms > budget_next(o, &f->state) ? f->state.next_ms
                                                                : budget_next(o, &f->state);
    if (next <= now)
        return TS_OK;
    if (f->state.next_ms > now)
        return ts_error_set(err, TS_ERR_BACKOFF, "token %s: %d %s in a row failed, the last with "
                         "'%s'; the next try is allowed in %.1f s", *f->id ? f->id : "(new)",
                         f->state.failures, f->state.failures == 1 ? "refresh" : "refreshes",
                         f->state.last, (double)(next - now) / 1000);
    return ts_error_set(err, TS_ERR_BACKOFF, "token %s: %ld refresh requests in the last %ld s "
                     "spent its budget (Zoho blocks a refresh token past ten in ten minutes); "
                     "the next is allowed in %.1f s", *f->id ? f->id : "(new)",
                     o->refresh_budget, o->refresh_budget_window_ms / 1000,
                     (double)(next - now) / 1000);
}

int oa__guard_may_send(void *guarded, ts_error *err)
{
    struct oa__guarded *g = guarded;
    int64_t now = oa__wall_ms();

    prune(g->o, &g->f->state, now);
    int64_t next = budget_next(g->o, &g->f->state);
    if (next > now)
        return ts_error_set(err, TS_ERR_BACKOFF, "token %s: %ld refresh requests in the last %ld "
                         "s spent its budget; the next is allowed in %.1f s",
                         *g->f->id ? g->f->id : "(new)", g->o->refresh_budget,
                         g->o->refresh_budget_window_ms / 1000, (double)(next - now) / 1000);
    if (g->f->state.nrequests == TS__BUDGET_MAX)
        memmove(g->f->state.requests, g->f->state.requests + 1,
                (TS__BUDGET_MAX - 1) * sizeof *g->f->state.requests);
    else
        g->f->state.nrequests++;
    g->f->state.requests[g->f->state.nrequests - 1] = now;
    g->f->requests++;
    save_state(g->o, g->f);     /* spent even if this process dies now */
    return TS_OK;
}

/* ---------------------------------------------------------------- the log */

static void log_entry(ts_oauth *o, const struct oa__flight *f, const char *result,
                      const char *detail)
{
    char host[256] = "", *entry;
    json_object *e = json_object_new_object();
    ts_error err;

    if (!e || o->refresh_log_size == 0) {
        json_object_put(e);
        return;
    }
    gethostname(host, sizeof host - 1);
    json_object_object_add(e, "time", json_object_new_int64(oa__wall_ms()));
    json_object_object_add(e, "event", json_object_new_string(f->event));
    json_object_object_add(e, "id", json_object_new_string(f->id));
    json_object_object_add(e, "user", json_object_new_string(f->user));
    json_object_object_add(e, "host", json_object_new_string(host));
    json_object_object_add(e, "pid", json_object_new_int64((int64_t)getpid()));
    json_object_object_add(e, "result", json_object_new_string(result));
    if (detail && *detail)
        json_object_object_add(e, "detail", json_object_new_string(detail));
    if (f->server)
        json_object_object_add(e, "server", json_object_new_string(f->server));
    json_object_object_add(e, "requests", json_object_new_int(f->requests));
    json_object_object_add(e, "waited_ms", json_object_new_int64(f->waited_ms));
    json_object_object_add(e, "took_ms", json_object_new_int64(oa__wall_ms() - f->started_ms));
    entry = strdup(json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));
    json_object_put(e);
    if (entry && ts_store_log_append(o->store, entry, (size_t)o->refresh_log_size, &err) != TS_OK)
        ts_store_log(o->store, TS_LOG_WARN, "the refresh log could not be "
                "written: %s", err.message);
    free(entry);
}

void oa__guard_done(ts_oauth *o, struct oa__flight *f, int rc, const char *oauth_code,
                    const ts_error *why)
{
    if (rc != TS_OK && f->requests == 0)
        return;                 /* refused before asking: nothing happened */
    if (rc == TS_OK) {
        f->state.failures = 0;
        f->state.next_ms = 0;
        f->state.last[0] = '\0';
    } else if (rc == TS_ERR_OAUTH && oauth_code &&
               (strcmp(oauth_code, "invalid_code") == 0 ||
                strcmp(oauth_code, "invalid_client") == 0)) {
        f->state.revoked = 1;
        snprintf(f->state.last, sizeof f->state.last, "%s", oauth_code);
    } else {
        int shift = f->state.failures < 20 ? f->state.failures : 20;
        int64_t wait = (int64_t)o->failure_backoff_ms << shift;
        if (wait > o->failure_backoff_max_ms)
            wait = o->failure_backoff_max_ms;
        f->state.failures++;
        f->state.next_ms = oa__wall_ms() + wait;
        snprintf(f->state.last, sizeof f->state.last, "%.159s",
                 why && why->message[0] ? why->message : ts_strerror(rc));
    }
    save_state(o, f);
    log_entry(o, f, rc == TS_OK ? "ok" : ts_code_name(rc),
              rc == TS_OK ? NULL : why ? why->message : NULL);
}

void oa__guard_served(ts_oauth *o, struct oa__flight *f)
{
    const char *event = f->event;

    f->event = "served";
    log_entry(o, f, "ok", strcmp(event, "grant") == 0 ? "by another's grant exchange"
                                                      : "by another's refresh");
    f->event = event;
}
