/*
 * cli/conformance_differential.c - the differential check: seeded random
 * sequences of saves, finds, finds by id, deletes and walks, run on the
 * backend under test and on the memory backend side by side, compared
 * answer by answer and, at every walk and at the end, store by store.
 *
 * The hand-written checks pin the rules one case at a time; a backend
 * that keeps a rule through some side path of its own (which row it
 * looked up last, a text comparison of ids) passes them and still goes
 * wrong in a sequence nobody wrote down. The memory backend runs the
 * core's own rules over the core's table, so it is the reference.
 *
 * The values come from small pools (five users, a few refresh, grant and
 * access tokens shared between rows), so that keys collide, rows are
 * found by several keys at once and saves conflict. User names differ in
 * more than case: a backend may compare them as its database's collation
 * does (the SDK's DBStore on MySQL does).
 *
 * Ids: a backend may number new rows differently from the SDK only when
 * it says so with TS_CAP_IDS_NOT_REUSED (redis): its new id must then be
 * above every id it handed out since the store was last emptied. Each
 * store's ids are kept in a map, so the sequences go on comparing rows
 * after the numbering has parted; without the capability a new id must
 * be the memory backend's.
 *
 * A failure names the seed and the step, and the step's operation, so
 * `tokenstore check-backend --differential 1 --seed S` replays it alone.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conformance_checks.h"

#define STEPS 30            /* operations in one sequence */
#define MAX_ROWS (STEPS + 1)

/* splitmix64: a seed gives the same sequence on every machine. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned pick(uint64_t *state, unsigned n)
{
    return (unsigned)(next_random(state) % n);
}

/* The two stores' ids of one row. */
struct id_pair {
    uint64_t backend, memory;
};

struct run {
    check_state *st;
    ts_store *memory;
    uint64_t rng, seed;
    int step;
    int never_reused;                 /* the backend's TS_CAP_IDS_NOT_REUSED */
    struct id_pair ids[MAX_ROWS * 2];
    size_t nids;
    uint64_t backend_high;            /* the largest id the backend gave since emptied */
    uint64_t memory_high;             /* ... and memory */
    char op[256];                     /* the step's operation, for a failure */
};

/* Fails the sequence, naming its seed, step and operation. */
#define DIFFER(r, ...)                                                        \
    do {                                                                      \
        char what_[512];                                                      \
        snprintf(what_, sizeof what_, __VA_ARGS__);                           \
        snprintf((r)->st->why, sizeof (r)->st->why,                           \
                 "seed %" PRIu64 ", step %d (%s): %s", (r)->seed, (r)->step,  \
                 (r)->op, what_);                                             \
        return 1;                                                             \
    } while (0)

static struct id_pair *pair_by(struct run *r, uint64_t id, int memory_side)
{
    for (size_t i = 0; i < r->nids; i++)
        if ((memory_side ? r->ids[i].memory : r->ids[i].backend) == id)
            return &r->ids[i];
    return NULL;
}

static void forget_pair(struct run *r, struct id_pair *p)
{
    *p = r->ids[--r->nids];
}

/* --------------------------------------------------------------- tokens */

static const char *const users[] = {
    "ann@example.com", "bob@example.com", "cy@example.org", "dee@example.net", "eve@example.com",
};
static const char *const refreshes[] = { "1000.r.a", "1000.r.b", "1000.r.c", "1000.r.d" };
static const char *const grants[] = { "1000.g.a", "1000.g.b", "1000.g.c" };
static const char *const accesses[] = { "1000.x.a", "1000.x.b", "1000.x.c", "1000.x.d" };
#define POOL(a) (sizeof(a) / sizeof(a)[0])

/* Sets field to a value of pool, or leaves it out, one time in `absent`. */
static void maybe(struct run *r, ts_token *t, ts_field f, const char *const *pool, size_t n,
                  unsigned absent)
{
    if (pick(&r->rng, absent) != 0)
        ts_token_set(t, f, pool[pick(&r->rng, (unsigned)n)]);
}

/* A random token or query; the id is set by the caller. */
static ts_token *random_token(struct run *r)
{
    static const char *const clients[] = { "1000.C" };
    static const char *const secrets[] = { "s3cret", "other" };
    static const char *const expiries[] = { "1893456000000", "1700000000000", "99" };
    static const char *const domains[] = { "https://www.zohoapis.com", "https://www.zohoapis.eu" };
    ts_token *t = ts_token_new();

    if (!t)
        return NULL;
    maybe(r, t, TS_FIELD_USER_NAME, users, POOL(users), 3);
    switch (pick(&r->rng, 4)) {      /* client credentials: both, one, none */
    case 0: case 1:
        ts_token_set(t, TS_FIELD_CLIENT_ID, clients[0]);
        maybe(r, t, TS_FIELD_CLIENT_SECRET, secrets, POOL(secrets), 1000);
        break;
    case 2:
        ts_token_set(t, TS_FIELD_CLIENT_ID, clients[0]);
        break;
    }
    maybe(r, t, TS_FIELD_REFRESH_TOKEN, refreshes, POOL(refreshes), 2);
    maybe(r, t, TS_FIELD_ACCESS_TOKEN, accesses, POOL(accesses), 2);
    maybe(r, t, TS_FIELD_GRANT_TOKEN, grants, POOL(grants), 3);
    maybe(r, t, TS_FIELD_EXPIRY_TIME, expiries, POOL(expiries), 2);
    maybe(r, t, TS_FIELD_API_DOMAIN, domains, POOL(domains), 2);
    return t;
}

/* What a token looks like in a failure: which fields it has, and the pool
 * values of the keys (test values, never a user's). */
static void describe(const ts_token *t, char *buf, size_t size)
{
    size_t used = 0;

    buf[0] = '\0';
    for (int f = 0; f < TS_FIELD_COUNT && used < size; f++) {
        const char *v = ts_token_get(t, (ts_field)f);
        if (*v)
            used += (size_t)snprintf(buf + used, size - used, "%s%s=%.24s", used ? " " : "",
                                     ts_field_name((ts_field)f), v);
    }
}

/* Compares two rows field by field, the backend's id through the map. */
static int same_row(struct run *r, const char *what, const ts_token *b, const ts_token *m)
{
    for (int f = 1; f < TS_FIELD_COUNT; f++)
        if (strcmp(ts_token_get(b, (ts_field)f), ts_token_get(m, (ts_field)f)) != 0)
            DIFFER(r, "%s: %s is '%s' on the backend, '%s' on memory", what,
                   ts_field_name((ts_field)f), ts_token_get(b, (ts_field)f),
                   ts_token_get(m, (ts_field)f));
    uint64_t bid = conf_id_of(b), mid = conf_id_of(m);
    struct id_pair *p = pair_by(r, bid, 0);
    if (!p || p->memory != mid)
        DIFFER(r, "%s: the backend's id %" PRIu64 " is not memory's id %" PRIu64, what, bid,
               mid);
    return 0;
}

/* ----------------------------------------------------------- operations */

/* Both stores' answers must be the same code. */
static int same_code(struct run *r, int b, int m)
{
    if (b != m)
        DIFFER(r, "the backend said '%s' (%.300s), memory said '%s'", ts_strerror(b),
               b == TS_OK || b == TS_NOT_FOUND ? "" : r->st->last.message, ts_strerror(m));
    return 0;
}

/* A new row's id: the memory backend's, or with TS_CAP_IDS_NOT_REUSED
 * one above every id the backend gave since the store was emptied. */
static int learn_new_id(struct run *r, uint64_t bid, uint64_t mid, int explicit_id)
{
    if (pair_by(r, bid, 0) || pair_by(r, mid, 1))
        DIFFER(r, "a new row got id %" PRIu64 " on the backend and %" PRIu64 " on memory, "
               "and one of them is a stored row's", bid, mid);
    if (bid != mid && (explicit_id || !r->never_reused))
        DIFFER(r, "a new row got id %" PRIu64 " on the backend, %" PRIu64 " on memory%s", bid,
               mid, explicit_id ? " (the id was given)" : "");
    if (bid != mid && bid <= r->backend_high)
        DIFFER(r, "a new row got id %" PRIu64 ", which the backend handed out before "
               "(the largest so far is %" PRIu64 ")", bid, r->backend_high);
    r->ids[r->nids++] = (struct id_pair){ bid, mid };
    if (bid > r->backend_high)
        r->backend_high = bid;
    if (mid > r->memory_high)
        r->memory_high = mid;
    return 0;
}

/* The id to give a token: none, a stored row's (each store's own), or one
 * that neither store ever gave, which both take as it is. */
static void choose_id(struct run *r, ts_token *tb, ts_token *tm, int *explicit_new)
{
    char buf[24];
    unsigned how = pick(&r->rng, 10);

    *explicit_new = 0;
    if (how < 2 && r->nids > 0) {
        struct id_pair *p = &r->ids[pick(&r->rng, (unsigned)r->nids)];
        snprintf(buf, sizeof buf, "%" PRIu64, p->backend);
        ts_token_set(tb, TS_FIELD_ID, buf);
        snprintf(buf, sizeof buf, "%" PRIu64, p->memory);
        ts_token_set(tm, TS_FIELD_ID, buf);
    } else if (how == 2) {
        uint64_t high = r->backend_high > r->memory_high ? r->backend_high : r->memory_high;
        snprintf(buf, sizeof buf, "%" PRIu64, high + 1 + pick(&r->rng, 50));
        ts_token_set(tb, TS_FIELD_ID, buf);
        ts_token_set(tm, TS_FIELD_ID, buf);
        *explicit_new = 1;
    }
}

static int op_save(struct run *r)
{
    ts_token *tb = random_token(r), *tm;
    int explicit_new, rc = 1;

    if (!tb || !(tm = ts_token_dup(tb))) {
        ts_token_free(tb);
        DIFFER(r, "out of memory");
    }
    choose_id(r, tb, tm, &explicit_new);
    char desc[200];
    describe(tb, desc, sizeof desc);
    snprintf(r->op, sizeof r->op, "save %s", desc);
    int b = ts_save_token(r->st->store, tb, &r->st->last);
    int m = ts_save_token(r->memory, tm, NULL);
    if (same_code(r, b, m) == 0) {
        rc = 0;
        if (b == TS_OK && !pair_by(r, conf_id_of(tb), 0))     /* a new row */
            rc = learn_new_id(r, conf_id_of(tb), conf_id_of(tm), explicit_new);
        if (rc == 0 && b == TS_OK)
            rc = same_row(r, "the saved token", tb, tm);
    }
    ts_token_free(tb);
    ts_token_free(tm);
    return rc;
}

static int op_find(struct run *r)
{
    ts_token *qb = random_token(r), *qm;
    int rc = 1;

    if (!qb || !(qm = ts_token_dup(qb))) {
        ts_token_free(qb);
        DIFFER(r, "out of memory");
    }
    char desc[200];
    describe(qb, desc, sizeof desc);
    snprintf(r->op, sizeof r->op, "find %s", desc);
    int b = ts_find_token(r->st->store, qb, &r->st->last);
    int m = ts_find_token(r->memory, qm, NULL);
    if (same_code(r, b, m) == 0)
        rc = b == TS_OK ? same_row(r, "the found token", qb, qm) : 0;
    ts_token_free(qb);
    ts_token_free(qm);
    return rc;
}

/* A stored row's ids, or (one time in four, or in an empty store) an id
 * neither store has. */
static void pick_ids(struct run *r, char bid[24], char mid[24])
{
    if (r->nids == 0 || pick(&r->rng, 4) == 0) {
        uint64_t high = r->backend_high > r->memory_high ? r->backend_high : r->memory_high;
        snprintf(bid, 24, "%" PRIu64, high + 1 + pick(&r->rng, 50));
        strcpy(mid, bid);
        return;
    }
    struct id_pair *p = &r->ids[pick(&r->rng, (unsigned)r->nids)];
    snprintf(bid, 24, "%" PRIu64, p->backend);
    snprintf(mid, 24, "%" PRIu64, p->memory);
}

static int op_find_by_id(struct run *r)
{
    char bid[24], mid[24];
    ts_token *tb = ts_token_new(), *tm = ts_token_new();
    int rc = 1;

    pick_ids(r, bid, mid);
    snprintf(r->op, sizeof r->op, "find_by_id %s (memory's %s)", bid, mid);
    if (tb && tm) {
        int b = ts_find_token_by_id(r->st->store, bid, tb, &r->st->last);
        int m = ts_find_token_by_id(r->memory, mid, tm, NULL);
        if (same_code(r, b, m) == 0)
            rc = b == TS_OK ? same_row(r, "the token found by id", tb, tm) : 0;
    }
    ts_token_free(tb);
    ts_token_free(tm);
    return rc;
}

static int op_delete(struct run *r)
{
    char bid[24], mid[24];

    pick_ids(r, bid, mid);
    snprintf(r->op, sizeof r->op, "delete %s (memory's %s)", bid, mid);
    int b = ts_delete_token(r->st->store, bid, &r->st->last);
    int m = ts_delete_token(r->memory, mid, NULL);
    if (same_code(r, b, m))
        return 1;
    uint64_t id;
    struct id_pair *p;
    if (b == TS_OK && ts_id_parse(bid, &id) == TS_OK && (p = pair_by(r, id, 0)))
        forget_pair(r, p);
    return 0;
}

/* ---------------------------------------------------------------- walks */

struct rows {
    ts_token *t[MAX_ROWS * 2];
    size_t n;
    int overflow;
};

static int collect(const ts_token *t, void *ud)
{
    struct rows *rows = ud;

    if (rows->n == MAX_ROWS * 2) {
        rows->overflow = 1;
        return 1;
    }
    rows->t[rows->n++] = ts_token_dup(t);
    return 0;
}

static void free_rows(struct rows *rows)
{
    for (size_t i = 0; i < rows->n; i++)
        ts_token_free(rows->t[i]);
}

/* Both stores hold the same rows, matched through the id map. */
static int compare_stores(struct run *r, const char *when)
{
    struct rows b = { 0 }, m = { 0 };
    int rc = 1;

    snprintf(r->op, sizeof r->op, "%s", when);
    int brc = ts_get_tokens(r->st->store, collect, &b, &r->st->last);
    int mrc = ts_get_tokens(r->memory, collect, &m, NULL);
    if (brc != TS_OK && !b.overflow) {
        snprintf(r->st->why, sizeof r->st->why, "seed %" PRIu64 ", step %d (%s): get_tokens "
                 "failed: %.300s", r->seed, r->step, when, r->st->last.message);
    } else if (b.overflow || mrc != TS_OK || b.n != m.n || b.n != r->nids) {
        snprintf(r->st->why, sizeof r->st->why, "seed %" PRIu64 ", step %d (%s): the backend "
                 "holds %zu%s tokens, memory %zu", r->seed, r->step, when, b.n,
                 b.overflow ? "+" : "", m.n);
    } else {
        rc = 0;
        for (size_t i = 0; i < b.n && rc == 0; i++) {
            struct id_pair *p = pair_by(r, conf_id_of(b.t[i]), 0);
            size_t j = 0;
            while (p && j < m.n && conf_id_of(m.t[j]) != p->memory)
                j++;
            if (!p || j == m.n) {
                snprintf(r->st->why, sizeof r->st->why, "seed %" PRIu64 ", step %d (%s): the "
                         "backend holds id %s, which memory does not", r->seed, r->step, when,
                         ts_token_get(b.t[i], TS_FIELD_ID));
                rc = 1;
            } else {
                rc = same_row(r, "a stored row", b.t[i], m.t[j]);
            }
        }
    }
    free_rows(&b);
    free_rows(&m);
    return rc;
}

/* ------------------------------------------------------------ sequences */

static int run_sequence(struct run *r, uint64_t seed)
{
    r->seed = seed;
    r->rng = seed;
    r->nids = 0;
    r->backend_high = r->memory_high = 0;
    r->step = 0;
    snprintf(r->op, sizeof r->op, "emptying the stores");
    int b = ts_delete_tokens(r->st->store, &r->st->last);
    if (b != TS_OK || ts_delete_tokens(r->memory, NULL) != TS_OK)
        DIFFER(r, "delete_tokens: %.300s", r->st->last.message);
    for (r->step = 1; r->step <= STEPS; r->step++) {
        unsigned what = pick(&r->rng, 20);
        int rc = what < 9 ? op_save(r) : what < 13 ? op_find(r) : what < 15 ? op_find_by_id(r)
                 : what < 18 ? op_delete(r) : compare_stores(r, "walk");
        if (rc)
            return 1;
    }
    return compare_stores(r, "the stores at the end");
}

static int check_differential(check_state *st)
{
    unsigned sequences = st->suite->sequences;
    uint64_t first_seed = st->suite->seed;
    struct run r = { .st = st, .never_reused = (st->suite->caps & TS_CAP_IDS_NOT_REUSED) != 0 };
    ts_config *cfg;
    int failed = 0;

    if (ts_config_new(&cfg) != TS_OK)
        EXPECT(0, "out of memory");
    int rc = ts_config_set_backend(cfg, "memory", &st->last);
    if (rc == TS_OK)
        rc = ts_store_open_config(&r.memory, cfg, &st->last);
    ts_config_free(cfg);
    EXPECT(rc == TS_OK, "the memory backend, which the differential check compares with, "
           "cannot be opened: %s", st->last.message);
    for (unsigned i = 0; i < sequences && !failed; i++)
        failed = run_sequence(&r, first_seed + i);
    ts_store_close(r.memory);
    return failed;
}

const struct check conf_differential_check = {
    "seeded random sequences of saves, finds and deletes answer as the memory backend does",
    check_differential, 0,
};
