/*
 * cli/conformance_durability.c - the conformance checks beyond the SDK's
 * rules: tokens that survive a reopen, two handles on one store, eight
 * threads on one handle, 10,000 tokens, and a read-only handle that reads
 * everything and changes nothing. conformance.c runs them.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conformance_checks.h"

static int check_persistence(check_state *st)
{
    uint64_t id;
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(1), &id));
    ts_store_close(st->store);
    st->store = NULL;
    EXPECT_RC(TS_OK, ts_store_open_config(&st->store, st->suite->config, &st->last));
    ts_token *got = conf_by_id(st, id);
    EXPECT(got, "a persistent store forgot token %" PRIu64 " on reopen", id);
    EXPECT_SAME("user_name after reopen", conf_get(got, "user_name"), "user1@example.com");
    ts_token_free(got);
    uint64_t next;
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(2), &next));
    EXPECT(next == id + 1, "the first insert after reopening got id %" PRIu64 ", not %" PRIu64,
           next, id + 1);
    return 0;
}

static int check_two_handles(check_state *st)
{
    ts_store *other;
    uint64_t id;
    EXPECT_RC(TS_OK, ts_store_open_config(&other, st->suite->config, &st->last));
    int rc = conf_save(st, conf_user_token(1), &id);
    ts_token *q = conf_tok("user_name", "user1@example.com", NULL);
    int found = ts_find_token(other, q, &st->last);
    ts_token_free(q);
    q = conf_tok("user_name", "user1@example.com", "access_token", "1000.access.other", NULL);
    int saved = ts_save_token(other, q, &st->last);
    ts_token_free(q);
    ts_store_close(other);
    EXPECT(rc == TS_OK && found == TS_OK, "a second handle does not see a saved token ('%s')",
           ts_strerror(found));
    EXPECT(saved == TS_OK, "saving through a second handle: '%s'", ts_strerror(saved));
    ts_token *got = conf_by_id(st, id);
    EXPECT(got, "token vanished");
    EXPECT_SAME("access_token saved by the other handle", conf_get(got, "access_token"),
                "1000.access.other");
    ts_token_free(got);
    return 0;
}

struct thread_arg {
    ts_store *store;
    unsigned base;
    int failures;
};

static void *saver(void *p)
{
    struct thread_arg *a = p;
    for (unsigned i = 0; i < 200; i++) {
        ts_token *t = conf_user_token(a->base + i);
        if (ts_save_token(a->store, t, NULL) != TS_OK)
            a->failures++;
        ts_token *q = conf_tok("user_name", ts_token_get(t, TS_FIELD_USER_NAME), NULL);
        if (ts_find_token(a->store, q, NULL) != TS_OK ||
            strcmp(ts_token_get(q, TS_FIELD_ID), ts_token_get(t, TS_FIELD_ID)) != 0)
            a->failures++;
        ts_token_free(q);
        ts_token_free(t);
    }
    return NULL;
}

struct distinct {
    uint64_t *ids;
    size_t n;
};

static int collect_cb(const ts_token *t, void *ud)
{
    struct distinct *d = ud;
    d->ids[d->n++ % 1600] = conf_id_of(t);
    return 0;
}

static int check_threads(check_state *st)
{
    pthread_t th[8];
    struct thread_arg args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (struct thread_arg){ st->store, 1000u * (unsigned)(i + 1), 0 };
        pthread_create(&th[i], NULL, saver, &args[i]);
    }
    int failures = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        failures += args[i].failures;
    }
    EXPECT(failures == 0, "%d saves or finds failed with 8 threads on one handle", failures);
    uint64_t ids[1600];
    struct distinct d = { ids, 0 };
    EXPECT_RC(TS_OK, ts_get_tokens(st->store, collect_cb, &d, &st->last));
    EXPECT(d.n == 1600, "8 threads x 200 saves left %zu tokens", d.n);
    for (size_t i = 1; i < d.n; i++)
        EXPECT(ids[i] > ids[i - 1], "ids not distinct and ascending at %zu", i);
    return 0;
}

static int check_ten_thousand(check_state *st)
{
    enum { N = 10000 };
    ts_token **batch = calloc(N, sizeof *batch);
    EXPECT(batch, "out of memory");
    for (unsigned i = 0; i < N; i++)
        batch[i] = conf_user_token(i);
    int rc = ts_save_tokens(st->store, batch, N, &st->last);
    uint64_t first = rc == TS_OK ? conf_id_of(batch[0]) : 0;
    uint64_t last = rc == TS_OK ? conf_id_of(batch[N - 1]) : 0;
    for (unsigned i = 0; i < N; i++)
        ts_token_free(batch[i]);
    free(batch);
    EXPECT(rc == TS_OK, "saving 10,000 tokens: %s", st->last.message);
    EXPECT(last == first + N - 1, "10,000 inserts got ids %" PRIu64 "..%" PRIu64, first, last);
    struct order o = { 0 };
    EXPECT_RC(TS_OK, ts_get_tokens(st->store, conf_order_cb, &o, &st->last));
    EXPECT(o.n == N && !o.bad, "get_tokens over 10,000: %zu tokens%s", o.n,
           o.bad ? ", out of order" : "");
    for (unsigned i = 0; i < N; i += 997) {
        ts_token *q = conf_user_token(i), *want = conf_user_token(i);
        ts_token_set(q, TS_FIELD_CLIENT_SECRET, NULL);
        ts_token_set(q, TS_FIELD_REFRESH_TOKEN, NULL);
        EXPECT_RC(TS_OK, ts_find_token(st->store, q, &st->last));
        EXPECT_SAME("refresh_token among 10,000", conf_get(q, "refresh_token"),
                    conf_get(want, "refresh_token"));
        EXPECT(conf_id_of(q) == first + i, "user %u has id %" PRIu64, i, conf_id_of(q));
        ts_token_free(q);
        ts_token_free(want);
    }
    /* Single saves into a large store: an update and an insert. */
    ts_token *t = conf_tok("user_name", "user5000@example.com", "access_token", "1000.access.fresh",
                           NULL);
    EXPECT_RC(TS_OK, conf_save(st, t, NULL));
    uint64_t id;
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(N), &id));
    EXPECT(id == last + 1, "the insert after 10,000 got id %" PRIu64, id);
    EXPECT(conf_count(st) == N + 1, "10,000 + 1 tokens listed as %zu", conf_count(st));
    return 0;
}

/* Every field of every token, in walk order: what a write must not change. */
struct fingerprint {
    char text[8192];
    size_t len;
};

static int fingerprint_cb(const ts_token *t, void *ud)
{
    struct fingerprint *fp = ud;

    for (int f = 0; f < TS_FIELD_COUNT && fp->len < sizeof fp->text; f++)
        fp->len += (size_t)snprintf(fp->text + fp->len, sizeof fp->text - fp->len, "%s%c",
                                    ts_token_get(t, (ts_field)f), f + 1 < TS_FIELD_COUNT ? ',' : ';');
    return 0;
}

static int fingerprint(ts_store *s, struct fingerprint *fp, ts_error *err)
{
    fp->len = 0;
    fp->text[0] = '\0';
    return ts_get_tokens(s, fingerprint_cb, fp, err);
}

/* The reads a read-only handle must answer over the three users saved by
 * check_read_only (ids first..first+2, or an empty store). */
static int read_only_reads(check_state *st, ts_store *ro, uint64_t first, int populated)
{
    int want = populated ? TS_OK : TS_NOT_FOUND;
    char id[24];
    ts_token *q = conf_tok("user_name", "user2@example.com", NULL);
    int rc = ts_find_token(ro, q, &st->last);

    EXPECT(rc == want, "read-only find_token by user_name: '%s'", ts_strerror(rc));
    EXPECT(!populated || strcmp(conf_get(q, "refresh_token"), "1000.refresh.2") == 0,
           "read-only find_token by user_name: wrong row");
    ts_token_free(q);
    q = conf_tok("access_token", "1000.access.3", NULL);
    rc = ts_find_token(ro, q, &st->last);
    ts_token_free(q);
    EXPECT(rc == want, "read-only find_token by access_token: '%s'", ts_strerror(rc));
    q = conf_tok("client_id", "1000.CLIENT", "client_secret", "s3cret",
                 "refresh_token", "1000.refresh.1", NULL);
    rc = ts_find_token(ro, q, &st->last);
    ts_token_free(q);
    EXPECT(rc == want, "read-only find_token by refresh_token: '%s'", ts_strerror(rc));
    snprintf(id, sizeof id, "%" PRIu64, first + 1);
    q = ts_token_new();
    rc = ts_find_token_by_id(ro, id, q, &st->last);
    ts_token_free(q);
    EXPECT(rc == want, "read-only find_token_by_id(%s): '%s'", id, ts_strerror(rc));
    size_t n = 0;
    EXPECT_RC(TS_OK, ts_get_tokens(ro, conf_count_cb, &n, &st->last));
    EXPECT(n == (populated ? 3u : 0u), "read-only get_tokens listed %zu tokens", n);
    return 0;
}

/* Every write through a read-only handle is TS_ERR_READ_ONLY. */
static int read_only_writes(check_state *st, ts_store *ro, uint64_t first)
{
    char id[24];
    ts_token *update = conf_tok("user_name", "user1@example.com", "access_token", "1000.changed",
                                NULL);
    ts_token *insert = conf_user_token(9);
    ts_token *both[] = { update, insert };
    int rc[4];

    snprintf(id, sizeof id, "%" PRIu64, first);
    rc[0] = ts_save_token(ro, update, &st->last);
    rc[1] = ts_save_tokens(ro, both, 2, &st->last);
    rc[2] = ts_delete_token(ro, id, &st->last);
    rc[3] = ts_delete_tokens(ro, &st->last);
    ts_token_free(update);
    ts_token_free(insert);
    EXPECT(rc[0] == TS_ERR_READ_ONLY, "read-only save_token: '%s'", ts_strerror(rc[0]));
    EXPECT(rc[1] == TS_ERR_READ_ONLY, "read-only save_tokens: '%s'", ts_strerror(rc[1]));
    EXPECT(rc[2] == TS_ERR_READ_ONLY, "read-only delete_token: '%s'", ts_strerror(rc[2]));
    EXPECT(rc[3] == TS_ERR_READ_ONLY, "read-only delete_tokens: '%s'", ts_strerror(rc[3]));
    return 0;
}

/* A store opened with TS_OPEN_READ_ONLY: every read answers, every write
 * is refused and changes nothing. A persistent store is populated, closed
 * and read back (the read-only handle is the only one open, as for a
 * `tokenstore list`); any other (memory) is read as the empty store a new
 * handle is. */
static int check_read_only(check_state *st)
{
    int persistent = (st->suite->caps & TS_CAP_PERSISTENT) != 0;
    struct fingerprint *before = malloc(sizeof *before), *now = malloc(sizeof *now);
    uint64_t first = 0, id = 0;
    ts_store *ro = NULL;
    int ok = before && now, failed = 1;

    for (unsigned i = 1; ok && i <= 3; i++) {
        ok = conf_save(st, conf_user_token(i), &id) == TS_OK;
        first = i == 1 ? id : first;
    }
    if (ok && persistent)
        ok = fingerprint(st->store, before, &st->last) == TS_OK;
    if (ok) {
        ts_store_close(st->store);
        st->store = NULL;
    }
    if (!ok) {
        snprintf(st->why, sizeof st->why, "populating the store: %s", st->last.message);
    } else if (ts_store_open_config_flags(&ro, st->suite->config, TS_OPEN_READ_ONLY,
                                          &st->last) != TS_OK) {
        snprintf(st->why, sizeof st->why, "opening read-only: %s", st->last.message);
    } else if (!read_only_reads(st, ro, first, persistent) && !read_only_writes(st, ro, first) &&
               !read_only_reads(st, ro, first, persistent)) {
        ts_store_close(ro);
        ro = NULL;
        if (persistent && ts_store_open_config(&st->store, st->suite->config, &st->last) != TS_OK)
            snprintf(st->why, sizeof st->why, "reopening: %s", st->last.message);
        else if (persistent && fingerprint(st->store, now, &st->last) != TS_OK)
            snprintf(st->why, sizeof st->why, "listing after: %s", st->last.message);
        else if (persistent && (now->len != before->len ||
                                memcmp(now->text, before->text, now->len) != 0))
            snprintf(st->why, sizeof st->why,
                     "writes through a read-only handle changed the store");
        else
            failed = 0;
    }
    ts_store_close(ro);
    free(before);
    free(now);
    return failed;
}

const struct check conf_durability_checks[] = {
    { "tokens survive closing and reopening", check_persistence, TS_CAP_PERSISTENT },
    { "two handles on one store see each other's saves", check_two_handles, TS_CAP_SHARED },
    { "8 threads x 200 saves on one handle: 1,600 distinct tokens", check_threads, 0 },
    { "10,000 tokens: bulk save, ordered walk, finds, single saves", check_ten_thousand, 0 },
    { "read-only: every read answers, every write is refused and changes nothing",
      check_read_only, 0 },
};
const size_t conf_durability_check_count =
    sizeof conf_durability_checks / sizeof conf_durability_checks[0];
