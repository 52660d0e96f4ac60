/*
 * core/store.c - a store: one opened backend behind the SDK's operations.
 *
 * Every operation passes through here on its way to the backend, so the
 * SDK's preconditions are checked once for all backends (a lookup key for
 * find_token, something to save for save_token, well-formed ids), the
 * find_token merge happens once, and every backend error is prefixed with
 * the backend's name. With an "encrypt" section, what goes to the backend
 * is sealed here and what comes back opened (crypt_token.c), so no
 * backend sees a key or an unsealed listed value. Backends that do not
 * declare TS_CAP_THREAD_SAFE are called under a per-store mutex, so any
 * store may be shared by threads.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "crypt.h"
#include "store.h"

/* The lock every call holds for reading and a fork takes for writing
 * (store_before_fork). It prefers the writer: with glibc's default, threads
 * that keep calling could keep a fork waiting for as long as they run. A
 * reader that a waiting fork blocks holds nothing of this store, or the
 * fork's wait ends at its timeout. */
static void calls_lock_init(pthread_rwlock_t *calls)
{
    pthread_rwlockattr_t attr;

    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(calls, &attr);
    pthread_rwlockattr_destroy(&attr);
}

/* In a forked child (fork.c): the handle is marked, so that its next
 * call lets the backend drop what it cannot share (backend->forked) before
 * anything else, and its mutexes are made new. */
static void store_in_child(ts__forkable *f)
{
    ts_store *s = (ts_store *)((char *)f - offsetof(ts_store, forkable));

    pthread_mutex_init(&s->lock, NULL);
    calls_lock_init(&s->calls);
    ts__notes_forked(s->notes);
    ts__crypt_forked(s->crypt);
    s->fork_locked = 0;
    s->forked = 1;
}

/* How many calls into a backend this thread is making (one, or more when
 * a get_tokens callback calls another store): before a fork, the forking
 * thread cannot wait for its own. */
static __thread int calls_in_this_thread;

/* Before a fork: waits for the calls other threads are making into the
 * backend to end, and lets no new one start (the mutex of a serialized
 * backend, the write side of a thread-safe one's), so the child inherits
 * no change half made. Not when the forking thread is in a call itself
 * (from a get_tokens callback): it cannot wait for its own. A call that
 * does not end within 10 s (a lock wait, a server's timeout) is not
 * waited for: the child then follows as best it can. */
static void store_before_fork(ts__forkable *f)
{
    ts_store *s = (ts_store *)((char *)f - offsetof(ts_store, forkable));
    struct timespec until;

    if (calls_in_this_thread > 0)
        return;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    s->fork_locked = s->serialize ? pthread_mutex_timedlock(&s->lock, &until) == 0
                                  : pthread_rwlock_timedwrlock(&s->calls, &until) == 0;
}

static void store_after_fork(ts__forkable *f)
{
    ts_store *s = (ts_store *)((char *)f - offsetof(ts_store, forkable));

    if (!s->fork_locked)
        return;
    s->fork_locked = 0;
    if (s->serialize)
        pthread_mutex_unlock(&s->lock);
    else
        pthread_rwlock_unlock(&s->calls);
}

/* Frees a batch of finds and wipes its rows; NULL is allowed. */
void ts__batch_free(struct batch *b)
{
    for (size_t j = 0; b && j < b->n; j++) {
        ts_token_clear(&b->rows[j]);
        ts_token_clear(&b->sealed[j]);
    }
    free(b);
}

/* In a child of the process that opened the store, before its first
 * call there: the backend lets go of what it shares with the parent, or,
 * when it cannot, every call is refused. Runs under the store's mutex. */
static int follow_fork(ts_store *s, ts_error *err)
{
    const ts_backend *vt = s->module.vt;
    int rc = TS_OK;

    if (!s->serialize)
        pthread_mutex_lock(&s->lock);
    if (__atomic_load_n(&s->forked, __ATOMIC_ACQUIRE)) {
        if (!TS_BACKEND_HAS(vt, forked)) {
            rc = ts__error(err, TS_ERR_UNSUPPORTED, "%s: the store was opened in process %ld "
                           "and this backend cannot follow it across fork(): open the store "
                           "again in process %ld", vt->name, (long)s->pid, (long)getpid());
        } else if ((rc = vt->forked(s->state, err)) == TS_OK) {
            ts__batch_free(s->sent);    /* the parent's batch: its answers are the parent's */
            s->sent = NULL;
            s->pid = getpid();
            __atomic_store_n(&s->forked, 0, __ATOMIC_RELEASE);
        } else {
            ts_error_prefix(err, "%s: following the store into a forked process",
                             vt->name);
        }
    }
    if (!s->serialize)
        pthread_mutex_unlock(&s->lock);
    return rc;
}

static int check_options(const ts_store *s, ts_error *err)
{
    const ts_backend *vt = s->module.vt;

    for (size_t i = 0; i < s->config->options.n; i++) {
        const char *key = s->config->options.items[i].key;
        int known = 0;
        for (const char *const *o = vt->options; o && *o && !known; o++)
            known = strcmp(*o, key) == 0;
        if (known)
            continue;
        char list[256] = "";
        for (const char *const *o = vt->options; o && *o; o++) {
            size_t used = strlen(list);
            snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", *o);
        }
        return ts__error(err, TS_ERR_CONFIG, "%s: backend '%s' has no option '%s' (it takes: %s)",
                         ts_config_origin(s->config), vt->name, key, *list ? list : "none");
    }
    return TS_OK;
}

TS_API int ts_store_open_config_flags(ts_store **out, const ts_config *cfg, unsigned flags,
                                      ts_error *err)
{
    ts_store *s = calloc(1, sizeof *s);
    int rc;

    *out = NULL;
    if (!s || ts__config_copy(&s->config, cfg) != TS_OK) {
        free(s);
        return ts__error(err, TS_ERR_NOMEM, "out of memory");
    }
    /* The keys first: a store whose key is missing is never created. */
    rc = ts__crypt_open(&s->crypt, s->config, err);
    if (rc == TS_OK)
        rc = ts__module_load(&s->module, s->config, err);
    if (rc == TS_OK)
        rc = check_options(s, err);
    if (rc == TS_OK) {
        s->ctx = (ts_backend_ctx){ s->config, s->config->log_fn, s->config->log_userdata,
                                   s->config->log_level, s->config->log_custom,
                                   flags & TS_OPEN_READ_ONLY ? flags | TS_OPEN_MUST_EXIST
                                                             : flags };
        s->serialize = !(s->module.vt->caps & TS_CAP_THREAD_SAFE);
        pthread_mutex_init(&s->lock, NULL);
        calls_lock_init(&s->calls);
        ts__error_clear(err);
        rc = s->ctx.open_flags & TS_OPEN_MUST_EXIST ? TS_OK
                                                   : ts__make_default_dirs(s->config, err);
        if (rc == TS_OK)
            rc = s->module.vt->open(&ts__host, &s->ctx, &s->state, err);
        if (rc != TS_OK) {
            ts_error_prefix(err, "%s", s->module.vt->name);
            pthread_mutex_destroy(&s->lock);
            pthread_rwlock_destroy(&s->calls);
        }
    }
    if (rc == TS_OK && !(s->notes = ts__notes_new())) {
        s->module.vt->close(s->state);
        pthread_mutex_destroy(&s->lock);
        pthread_rwlock_destroy(&s->calls);
        rc = ts__error(err, TS_ERR_NOMEM, "out of memory");
    }
    if (rc == TS_OK) {
        s->pid = getpid();
        s->forkable.in_child = store_in_child;
        s->forkable.before = store_before_fork;
        s->forkable.after = store_after_fork;
        ts__fork_watch(&s->forkable);
    }
    if (rc != TS_OK) {
        ts__module_unload(&s->module);
        ts__crypt_free(s->crypt);
        ts_config_free(s->config);
        free(s);
        return rc;
    }
    *out = s;
    return TS_OK;
}

TS_API int ts_store_open_config(ts_store **out, const ts_config *cfg, ts_error *err)
{
    return ts_store_open_config_flags(out, cfg, 0, err);
}

TS_API int ts_store_open_flags(ts_store **out, const char *spec, unsigned flags,
                               ts_error *err)
{
    ts_config *cfg;
    int rc = ts_config_load(&cfg, spec, err);

    *out = NULL;
    if (rc != TS_OK)
        return rc;
    rc = ts_store_open_config_flags(out, cfg, flags, err);
    ts_config_free(cfg);
    return rc;
}

TS_API int ts_store_open(ts_store **out, const char *spec, ts_error *err)
{
    return ts_store_open_flags(out, spec, 0, err);
}

TS_API void ts_store_close(ts_store *s)
{
    if (!s)
        return;
    ts__fork_unwatch(&s->forkable);
    /* In a child, a backend that cannot let go of its parent's
     * connections is not asked to close them (a goodbye to the server
     * would end the parent's session too): its state is left as it is. */
    if (s->forked && follow_fork(s, NULL) != TS_OK) {
        ts__batch_free(s->sent);
    } else {
        ts_find_tokens_cancel(s);
        s->module.vt->close(s->state);
    }
    pthread_mutex_destroy(&s->lock);
    pthread_rwlock_destroy(&s->calls);
    ts__notes_free(s->notes);
    ts__crypt_free(s->crypt);
    ts__module_unload(&s->module);
    ts_config_free(s->config);
    free(s);
}

/* The members of ts_backend_info, each up to where it ends: a caller's
 * size is filled up to the last member that fits wholly. */
#define INFO_END(m) (offsetof(ts_backend_info, m) + sizeof(((ts_backend_info *)0)->m))
static const size_t info_ends[] = {
    INFO_END(size), INFO_END(name), INFO_END(version), INFO_END(description),
    INFO_END(path), INFO_END(abi_major), INFO_END(abi_minor), INFO_END(caps),
};

TS_API void ts_store_info_sized(const ts_store *s, ts_backend_info *info)
{
    const ts_backend *vt = s->module.vt;
    ts_backend_info full = {
        sizeof full, vt->name, vt->version,
        TS_BACKEND_HAS(vt, description) ? vt->description : "",
        s->module.path, vt->abi_major, vt->abi_minor, ts__backend_caps(vt),
    };
    size_t fill = 0;

    for (size_t i = 0; i < sizeof info_ends / sizeof *info_ends; i++)
        if (info_ends[i] <= info->size)
            fill = info_ends[i];
    if (info->size >= sizeof full)
        fill = sizeof full;     /* all of it, as ts_backends_list hands it out */
    if (fill == 0)
        return;                 /* not even room for the size */
    memcpy(info, &full, fill);
    info->size = fill;
}

/* The symbol programs built before 1.5 call, with the struct they knew. */
TS_API void ts_store_info(const ts_store *s, struct ts__backend_info_1_4 *info)
{
    ts_backend_info full = { .size = sizeof full };

    ts_store_info_sized(s, &full);
    *info = (struct ts__backend_info_1_4){
        full.name, full.version, full.description, full.path,
        full.abi_major, full.abi_minor, full.caps,
    };
}

/* Every write passes here first: a read-only handle never reaches the
 * backend's writing operations. */
int ts__store_writable(const ts_store *s, ts_error *err)
{
    if (s->ctx.open_flags & TS_OPEN_READ_ONLY)
        return ts__error(err, TS_ERR_READ_ONLY, "%s: the store was opened read-only",
                         s->module.vt->name);
    return TS_OK;
}

/* A backend built for ABI 1.0 was promised that every token it is asked
 * to save holds a refresh, grant or access token; since 1.1 the save rules
 * (save_resolve, table_save, a backend's own mirror of them) refuse only
 * an insert without one, so an update may leave them out as in the SDK. */
static int needs_secret_check(const ts_store *s)
{
    return s->module.vt->abi_minor < 1;
}

/* Enters the backend: TS_OK, or why the handle cannot be used in this
 * process (nothing is held then). */
int ts__store_enter(ts_store *s, ts_error *err)
{
    int rc = TS_OK;

    if (s->serialize)
        pthread_mutex_lock(&s->lock);
    else
        pthread_rwlock_rdlock(&s->calls);
    calls_in_this_thread++;
    if (__atomic_load_n(&s->forked, __ATOMIC_ACQUIRE) && (rc = follow_fork(s, err)) != TS_OK)
        ts__store_leave(s, TS_OK, NULL);
    return rc;
}

/* Leaves the backend and names it in any error it reported. */
int ts__store_leave(ts_store *s, int rc, ts_error *err)
{
    calls_in_this_thread--;
    if (s->serialize)
        pthread_mutex_unlock(&s->lock);
    else
        pthread_rwlock_unlock(&s->calls);
    if (rc != TS_OK && rc != TS_NOT_FOUND && err) {
        if (err->code != rc || !err->message[0])
            ts__error(err, rc, "%s", ts_strerror(rc));
        ts_error_prefix(err, "%s", s->module.vt->name);
    }
    return rc;
}

/* The backend's find_token, for the encryption layer's loop over forms. */
int ts__store_find(void *store, const ts_token *query, ts_token *row, ts_error *err)
{
    ts_store *s = store;
    int rc = ts__store_enter(s, err);

    if (rc != TS_OK)
        return rc;
    return ts__store_leave(s, s->module.vt->find_token(s->state, query, row, err), err);
}

TS_API int ts_find_token(ts_store *s, ts_token *token, ts_error *err)
{
    ts_field keys[2];
    ts_token row = { 0 };
    int rc;

    if (ts__lookup_keys(token, keys) == 0)
        return ts__no_lookup_key(err);
    rc = ts__crypt_find(s->crypt, token, ts__store_find, s, &row, NULL, err);
    if (rc == TS_OK)
        ts__token_merge(token, &row);
    ts_token_clear(&row);
    return rc;
}

TS_API int ts_find_token_packed(ts_store *s, const char *query, size_t query_len,
                                char *buf, size_t size, size_t *len, ts_error *err)
{
    ts_token token = { 0 };
    int rc;

    *len = 0;
    if (!query)
        return ts__error(err, TS_ERR_INVALID, "ts_find_token_packed: no query");
    rc = ts__token_unpack(&token, query, query_len);
    if (rc == TS_ERR_INVALID)
        rc = ts__error(err, rc, "ts_find_token_packed: the query is not ten values "
                       "joined by NUL");
    else if (rc != TS_OK)
        rc = ts__error(err, rc, "%s", ts_strerror(rc));
    if (rc == TS_OK)
        rc = ts_find_token(s, &token, err);
    if (rc == TS_OK)
        *len = ts_token_pack(&token, buf, size);
    ts_token_clear(&token);
    return rc;
}


TS_API void ts_find_tokens_cancel(ts_store *s)
{
    if (!s || !s->sent)
        return;
    if (ts__store_enter(s, NULL) != TS_OK)
        return;     /* a child that cannot use the handle: the batch is freed at close */
    if (s->sent)    /* not a batch of the parent's, which following the fork dropped */
        s->module.vt->find_tokens_cancel(s->state);
    ts__store_leave(s, TS_OK, NULL);
    ts__batch_free(s->sent);
    s->sent = NULL;
}

TS_API int ts_find_token_by_id(ts_store *s, const char *id, ts_token *out, ts_error *err)
{
    ts_token row = { 0 };
    int rc = ts__check_id(id, err);

    if (rc != TS_OK)
        return rc;
    if ((rc = ts__store_enter(s, err)) != TS_OK)
        return rc;
    rc = ts__store_leave(s, s->module.vt->find_token_by_id(s->state, id, &row, err), err);
    if (rc == TS_OK)
        rc = ts__crypt_open_token(s->crypt, &row, s->crypt && s->crypt->allow_plaintext, err);
    if (rc == TS_OK) {
        ts_token_clear(out);
        ts__token_merge(out, &row);
    }
    ts_token_clear(&row);
    return rc;
}

/* What every save checks before the backend: the SDK's rules, and, in a
 * store without encryption, no value it could not read back. */
static int check_token(const ts_store *s, const ts_token *token, ts_error *err)
{
    int rc = ts__check_saveable(token, needs_secret_check(s), err);

    return rc == TS_OK && !s->crypt ? ts__crypt_check_plain(token, err) : rc;
}

TS_API int ts_save_token(ts_store *s, ts_token *token, ts_error *err)
{
    ts_token sealed = { 0 };
    int rc = ts__store_writable(s, err);

    if (rc == TS_OK)
        rc = check_token(s, token, err);
    if (rc == TS_OK && s->crypt)
        rc = ts__crypt_save_prepare(s->crypt, token, ts__store_find, s, &sealed, err);
    if (rc == TS_OK && (rc = ts__store_enter(s, err)) == TS_OK)
        rc = ts__store_leave(s, s->module.vt->save_token(s->state, s->crypt ? &sealed : token,
                                                         err), err);
    if (rc == TS_OK && s->crypt)
        rc = ts__crypt_save_finish(s->crypt, token, &sealed, err);
    ts_token_clear(&sealed);
    return rc;
}

/* With encryption, what the backend saves for tokens[0..n): sealed copies
 * in *block, pointed to by *out. */
static int seal_batch(ts_store *s, ts_token *const *tokens, size_t n, ts_token **block,
                      ts_token ***out, ts_error *err)
{
    if (!(*block = calloc(n, sizeof **block)) || !(*out = calloc(n, sizeof **out)))
        return ts__error(err, TS_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        (*out)[i] = &(*block)[i];
        if (ts__crypt_save_prepare(s->crypt, tokens[i], ts__store_find, s, &(*block)[i], err))
            return ts_error_prefix(err, "token %zu", i);
    }
    return TS_OK;
}

TS_API int ts_save_tokens(ts_store *s, ts_token *const *tokens, size_t n, ts_error *err)
{
    const ts_backend *vt = s->module.vt;
    ts_token *block = NULL, **sealed = NULL, *const *saved = tokens;
    int rc = ts__store_writable(s, err);

    for (size_t i = 0; i < n && rc == TS_OK; i++)
        if ((rc = check_token(s, tokens[i], err)) != TS_OK)
            ts_error_prefix(err, "token %zu", i);
    if (rc == TS_OK && s->crypt && n > 0) {
        rc = seal_batch(s, tokens, n, &block, &sealed, err);
        saved = sealed;
    }
    if (rc == TS_OK && (rc = ts__store_enter(s, err)) == TS_OK) {
        if (TS_BACKEND_HAS(vt, save_tokens)) {
            rc = vt->save_tokens(s->state, saved, n, err);
        } else {
            for (size_t i = 0; i < n && rc == TS_OK; i++)
                if ((rc = vt->save_token(s->state, saved[i], err)) != TS_OK)
                    ts_error_prefix(err, "token %zu", i);
        }
        rc = ts__store_leave(s, rc, err);
    }
    for (size_t i = 0; block && i < n && rc == TS_OK; i++)
        if ((rc = ts__crypt_save_finish(s->crypt, tokens[i], sealed[i], err)) != TS_OK)
            ts_error_prefix(err, "token %zu", i);
    for (size_t i = 0; block && i < n; i++)
        ts_token_clear(&block[i]);
    free(block);
    free(sealed);
    return rc;
}

/* What the backend's save_stream pulls through: each token checked as
 * ts_save_tokens checks them, and the one before it reported saved. */
struct stream {
    ts_store *store;
    ts_token_next_fn next;
    void (*saved)(void *userdata, const ts_token *token);
    void *userdata;
    ts_token *last;          /* handed to the backend, saved once it asks again */
    ts_token sealed;         /* with encryption, what the backend got for it */
    size_t count;
};

/* With encryption a stream's token is sealed without looking for a row of
 * an older key first: the backend holds its transaction meanwhile, and a
 * lookup would have to enter it again. */
static int stream_next(void *source, ts_token **token, ts_error *err)
{
    struct stream *st = source;
    const ts__crypt *c = st->store->crypt;
    int rc = TS_OK;

    if (st->last) {
        if (c && (rc = ts__crypt_save_finish(c, st->last, &st->sealed, err)) != TS_OK)
            return ts_error_prefix(err, "token %zu", st->count);
        st->count++;
        if (st->saved)
            st->saved(st->userdata, st->last);
        st->last = NULL;
    }
    rc = st->next(st->userdata, token, err);
    if (rc == TS_OK && (rc = check_token(st->store, *token, err)) != TS_OK)
        ts_error_prefix(err, "token %zu", st->count);
    if (rc == TS_OK && c) {
        ts_token_clear(&st->sealed);
        if ((rc = ts__crypt_save_prepare(c, *token, NULL, NULL, &st->sealed, err)) != TS_OK)
            ts_error_prefix(err, "token %zu", st->count);
    }
    if (rc == TS_OK) {
        st->last = *token;
        *token = c ? &st->sealed : *token;
    }
    return rc;
}

TS_API int ts_save_stream(ts_store *s, ts_token_next_fn next,
                          void (*saved)(void *userdata, const ts_token *token), void *userdata,
                          size_t *count, ts_error *err)
{
    const ts_backend *vt = s->module.vt;
    struct stream st = { .store = s, .next = next, .saved = saved, .userdata = userdata };
    ts_token *token;
    int rc = ts__store_writable(s, err);

    if (rc != TS_OK) {
        /* refused before reading anything */
    } else if (TS_BACKEND_HAS(vt, save_stream)) {
        /* The backend asks for the next token once the last is saved, and
         * after the last is told TS_NOT_FOUND: every one is reported. */
        if ((rc = ts__store_enter(s, err)) == TS_OK)
            rc = ts__store_leave(s, vt->save_stream(s->state, stream_next, &st, err), err);
        if (rc != TS_OK)
            st.count = 0;                       /* one transaction: none */
    } else {
        while ((rc = stream_next(&st, &token, err)) == TS_OK)
            if ((rc = ts__store_enter(s, err)) == TS_OK &&
                (rc = ts__store_leave(s, vt->save_token(s->state, token, err), err)) != TS_OK) {
                ts_error_prefix(err, "token %zu", st.count);
                break;
            }
        if (rc == TS_NOT_FOUND)
            rc = TS_OK;
    }
    ts_token_clear(&st.sealed);
    if (count)
        *count = st.count;
    return rc;
}

TS_API int ts_delete_token(ts_store *s, const char *id, ts_error *err)
{
    int rc = ts__store_writable(s, err);

    if (rc == TS_OK)
        rc = ts__check_id(id, err);
    if (rc != TS_OK)
        return rc;
    if ((rc = ts__store_enter(s, err)) != TS_OK)
        return rc;
    return ts__store_leave(s, s->module.vt->delete_token(s->state, id, err), err);
}

struct walk {
    ts_token_cb cb;
    void *userdata;
    int stopped;             /* what the caller's callback returned */
    const ts__crypt *crypt;
    ts_token row;            /* with encryption, the backend's token opened */
    int failed;              /* a value could not be opened: why */
    ts_error why;
};

static int walk_one(const ts_token *token, void *ud)
{
    struct walk *w = ud;
    int rc = TS_OK;

    if (w->crypt && (rc = ts__token_copy(&w->row, token)) != TS_OK)
        ts__error(&w->why, rc, "out of memory");
    else if (w->crypt)
        rc = ts__crypt_open_token(w->crypt, &w->row, w->crypt->allow_plaintext, &w->why);
    else
        rc = ts__crypt_open_token(NULL, (ts_token *)token, 0, &w->why);   /* only checks */
    if (rc != TS_OK)
        return w->failed = rc;
    return w->stopped = w->cb(w->crypt ? &w->row : token, w->userdata);
}

TS_API int ts_get_tokens(ts_store *s, ts_token_cb cb, void *userdata, ts_error *err)
{
    struct walk w = { .cb = cb, .userdata = userdata, .crypt = s->crypt };
    int rc;

    if ((rc = ts__store_enter(s, err)) != TS_OK)
        return rc;
    rc = s->module.vt->get_tokens(s->state, walk_one, &w, err);
    ts_token_clear(&w.row);
    if (w.failed) {
        ts__store_leave(s, TS_OK, err);
        if (err)
            *err = w.why;
        return w.failed;
    }
    if (w.stopped) {
        ts__store_leave(s, TS_OK, err);
        return w.stopped;
    }
    return ts__store_leave(s, rc, err);
}

TS_API int ts_delete_tokens(ts_store *s, ts_error *err)
{
    int rc = ts__store_writable(s, err);

    if (rc != TS_OK)
        return rc;
    if ((rc = ts__store_enter(s, err)) != TS_OK)
        return rc;
    return ts__store_leave(s, s->module.vt->delete_tokens(s->state, err), err);
}

TS_API int ts_store_drop(ts_store *s, ts_error *err)
{
    const ts_backend *vt = s->module.vt;
    int rc = ts__store_writable(s, err);

    if (rc != TS_OK)
        return rc;
    if (!TS_BACKEND_HAS(vt, drop))
        return ts__error(err, TS_ERR_UNSUPPORTED, "%s: the backend cannot remove a store",
                         vt->name);
    if ((rc = ts__store_enter(s, err)) != TS_OK)
        return rc;
    return ts__store_leave(s, vt->drop(s->state, err), err);
}

/* ---------------------------------------------------------------- locks */

TS_API unsigned ts_store_flags(const ts_store *s)
{
    return s->ctx.open_flags;
}

TS_API void ts_store_log(ts_store *s, int level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    ts__log(s ? &s->ctx : NULL, level, "%s", line);
}

TS_API int ts_store_lock(ts_store *s, const char *name, int64_t ttl_ms, int64_t wait_ms,
                         void **handle, ts_error *err)
{
    const ts_backend *vt = s->module.vt;
    int64_t start = ts__now_ms(), pause = 2;

    *handle = NULL;
    if (ts__store_writable(s, err) != TS_OK)
        return TS_ERR_READ_ONLY;
    if (!TS_BACKEND_HAS(vt, try_lock) || !TS_BACKEND_HAS(vt, unlock))
        return TS_OK;   /* the caller's process-wide mutex is all there is */
    for (;;) {
        int rc = ts__store_enter(s, err);
        if (rc != TS_OK)
            return rc;
        rc = ts__store_leave(s, vt->try_lock(s->state, name, ttl_ms, handle, err), err);
        if (rc != TS_ERR_BUSY)
            return rc;
        if (ts__now_ms() - start >= wait_ms)
            return ts__error(err, TS_ERR_BUSY, "%s: lock '%s' still held after %lld ms",
                             vt->name, name, (long long)(ts__now_ms() - start));
        /* Back off from 2 ms to 50 ms: short waits stay short, long ones cheap. */
        struct timespec ts = { 0, (long)pause * 1000000L };
        nanosleep(&ts, NULL);
        pause = pause * 2 > 50 ? 50 : pause * 2;
    }
}

TS_API int ts_store_unlock(ts_store *s, void *handle, ts_error *err)
{
    const ts_backend *vt = s->module.vt;

    if (!handle || !TS_BACKEND_HAS(vt, unlock))
        return TS_OK;
    int rc = ts__store_enter(s, err);
    if (rc != TS_OK)
        return rc;
    return ts__store_leave(s, vt->unlock(s->state, handle, err), err);
}

TS_API const char *ts_version(void)
{
    return PACKAGE_VERSION;
}
