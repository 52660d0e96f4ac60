/*
 * core/store_notes.c - a store's notes and log (backend.h's note_set ...
 * log_walk), which the OAuth client keeps its backoff, budget and refresh
 * log in.
 *
 * A backend that keeps them puts them beside its tokens, where every
 * process sharing the store sees them. For one that keeps none, and for
 * one whose notes fail (a database user without the right to create
 * their table), the handle keeps its own in memory (notes.c): a backoff
 * this process honours is better than none, and the failure is said once.
 */
#include "store.h"

static int use_backend(ts_store *s)
{
    return ts__backend_has_notes(s->module.vt) &&
           !__atomic_load_n(&s->notes_failed, __ATOMIC_RELAXED);
}

/* Whether the backend's answer was a failure (not a miss), after which the
 * handle keeps to its own notes; said once. */
static int fell_back(ts_store *s, int rc, const ts_error *err)
{
    if (rc == TS_OK || rc == TS_NOT_FOUND || rc == TS_ERR_READ_ONLY)
        return 0;
    if (!__atomic_exchange_n(&s->notes_failed, 1, __ATOMIC_RELAXED))
        ts__log(&s->ctx, TS_LOG_WARN, "the notes beside the tokens cannot be used (%s); this "
                "process keeps its own, which other processes do not see",
                err && err->message[0] ? err->message : ts_strerror(rc));
    return 1;
}

/* Calls the backend's member, inside the store's enter/leave. */
#define CALL_BACKEND(s, rc, err, call)                                        \
    do {                                                                      \
        if (((rc) = ts__store_enter((s), (err))) == TS_OK)                    \
            (rc) = ts__store_leave((s), (call), (err));                       \
    } while (0)

TS_API int ts_store_note_set(ts_store *s, const char *name, const char *value,
                             int64_t ttl_ms, ts_error *err)
{
    int rc = ts__store_writable(s, err);

    if (rc != TS_OK)
        return rc;
    if (use_backend(s)) {
        CALL_BACKEND(s, rc, err, s->module.vt->note_set(s->state, name, value, ttl_ms, err));
        if (!fell_back(s, rc, err))
            return rc;
    }
    return ts__notes_set(s->notes, name, value, ttl_ms, err);
}

TS_API int ts_store_note_get(ts_store *s, const char *name, char *value, size_t size,
                             ts_error *err)
{
    int rc;

    if (use_backend(s)) {
        CALL_BACKEND(s, rc, err, s->module.vt->note_get(s->state, name, value, size, err));
        if (!fell_back(s, rc, err))
            return rc;
    }
    return ts__notes_get(s->notes, name, value, size, err);
}

TS_API int ts_store_log_append(ts_store *s, const char *entry, size_t keep, ts_error *err)
{
    int rc = ts__store_writable(s, err);

    if (rc != TS_OK)
        return rc;
    if (use_backend(s)) {
        CALL_BACKEND(s, rc, err, s->module.vt->log_append(s->state, entry, keep, err));
        if (!fell_back(s, rc, err))
            return rc;
    }
    return ts__notes_log_append(s->notes, entry, keep, err);
}

TS_API int ts_store_log_walk(ts_store *s, int (*cb)(const char *entry, void *ud), void *ud,
                             ts_error *err)
{
    int rc;

    if (!use_backend(s))
        return ts__notes_log_walk(s->notes, cb, ud);
    CALL_BACKEND(s, rc, err, s->module.vt->log_walk(s->state, cb, ud, err));
    return rc;
}
