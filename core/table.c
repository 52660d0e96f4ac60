/*
 * core/table.c - an in-memory token table with a hash index per key.
 *
 * The memory backend keeps its tokens here and the file backend caches its
 * parsed file here, so both answer find_token in O(1) whatever the size.
 * A chained hash index per key field (id, user_name, access, refresh and
 * grant token, as rules.c lists them) points at rows; index keys borrow the row's own strings. Rows live
 * in an array that is kept in id order lazily: appending the next id keeps
 * it sorted, a delete swaps the last row into the hole and the next walk
 * sorts again.
 *
 * Only ids are unique. Several rows may share a token value (the SDK does
 * not forbid it); an index entry counts them and points at the one with
 * the lowest id, which answers a lookup (the first the SDK would meet in
 * its file), and losing that one costs a scan for the next - a rare case,
 * paid only then.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

/* One index per key field of rules.c, in its order. */
#define IDX_COUNT TS__KEY_FIELD_COUNT

struct row {
    ts_token tok;
    uint64_t id;
    size_t pos;              /* index in table->rows */
};

struct entry {
    struct entry *next;
    uint64_t hash;
    struct row *row;         /* one row holding this key */
    size_t count;            /* how many rows hold it */
};

struct index {
    struct entry **buckets;
    size_t nbuckets;         /* a power of two */
    size_t nentries;
};

struct ts_table {
    struct row **rows;
    size_t nrows, cap;
    int sorted;
    uint64_t max_id;
    int max_id_stale;        /* the max row was deleted: recompute on need */
    struct index idx[IDX_COUNT];
};

static int field_index(ts_field f)
{
    for (int i = 0; i < IDX_COUNT; i++)
        if (ts__key_fields[i] == f)
            return i;
    return -1;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h ^ (h >> 29);
}

static struct entry **find_slot(struct index *ix, ts_field f, const char *key, uint64_t h)
{
    struct entry **pe = &ix->buckets[h & (ix->nbuckets - 1)];
    for (; *pe; pe = &(*pe)->next)
        if ((*pe)->hash == h && strcmp((*pe)->row->tok.value[f], key) == 0)
            return pe;
    return pe;
}

static int index_grow(struct index *ix)
{
    size_t n = ix->nbuckets ? ix->nbuckets * 2 : 64;
    struct entry **b = calloc(n, sizeof *b);

    if (!b)
        return TS_ERR_NOMEM;
    for (size_t i = 0; i < ix->nbuckets; i++) {
        struct entry *e = ix->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(ix->buckets);
    ix->buckets = b;
    ix->nbuckets = n;
    return TS_OK;
}

static int index_add(struct index *ix, ts_field f, struct row *r)
{
    const char *key = r->tok.value[f];

    if (!key)
        return TS_OK;
    if (ix->nentries >= ix->nbuckets && index_grow(ix) != TS_OK)
        return TS_ERR_NOMEM;
    uint64_t h = hash_str(key);
    struct entry **pe = find_slot(ix, f, key, h);
    if (*pe) {
        (*pe)->count++;
        if (r->id < (*pe)->row->id)
            (*pe)->row = r;
        return TS_OK;
    }
    struct entry *e = malloc(sizeof *e);
    if (!e)
        return TS_ERR_NOMEM;
    *e = (struct entry){ .next = NULL, .hash = h, .row = r, .count = 1 };
    *pe = e;
    ix->nentries++;
    return TS_OK;
}

static void index_remove(ts_table *t, struct index *ix, ts_field f, struct row *r)
{
    const char *key = r->tok.value[f];

    if (!key || !ix->nbuckets)
        return;
    struct entry **pe = find_slot(ix, f, key, hash_str(key));
    struct entry *e = *pe;
    if (!e)
        return;
    if (--e->count == 0) {
        *pe = e->next;
        free(e);
        ix->nentries--;
        return;
    }
    if (e->row != r)
        return;
    e->row = NULL;
    for (size_t i = 0; i < t->nrows; i++) {
        struct row *o = t->rows[i];
        if (o != r && o->tok.value[f] && strcmp(o->tok.value[f], key) == 0 &&
            (!e->row || o->id < e->row->id))
            e->row = o;
    }
}

static void index_free(struct index *ix)
{
    for (size_t i = 0; i < ix->nbuckets; i++) {
        struct entry *e = ix->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(ix->buckets);
    memset(ix, 0, sizeof *ix);
}

static void unindex_row(ts_table *t, struct row *r)
{
    for (int i = 0; i < IDX_COUNT; i++)
        index_remove(t, &t->idx[i], ts__key_fields[i], r);
}

static int index_row(ts_table *t, struct row *r)
{
    for (int i = 0; i < IDX_COUNT; i++) {
        if (index_add(&t->idx[i], ts__key_fields[i], r) != TS_OK) {
            while (i-- > 0)
                index_remove(t, &t->idx[i], ts__key_fields[i], r);
            return TS_ERR_NOMEM;
        }
    }
    return TS_OK;
}

ts_table *ts__table_new(void)
{
    ts_table *t = calloc(1, sizeof *t);
    if (t)
        t->sorted = 1;
    return t;
}

void ts__table_clear(ts_table *t)
{
    for (int i = 0; i < IDX_COUNT; i++)
        index_free(&t->idx[i]);
    for (size_t i = 0; i < t->nrows; i++) {
        ts_token_clear(&t->rows[i]->tok);
        free(t->rows[i]);
    }
    t->nrows = 0;
    t->sorted = 1;
    t->max_id = 0;
    t->max_id_stale = 0;
}

void ts__table_free(ts_table *t)
{
    if (!t)
        return;
    ts__table_clear(t);
    free(t->rows);
    free(t);
}

size_t ts__table_count(const ts_table *t)
{
    return t->nrows;
}

const ts_token *ts__table_get(const ts_table *t, ts_field f, const char *value)
{
    int i = field_index(f);

    if (i < 0 || !value || !*value || !t->idx[i].nbuckets)
        return NULL;
    struct entry *const *pe = find_slot((struct index *)&t->idx[i], f, value, hash_str(value));
    return *pe ? &(*pe)->row->tok : NULL;
}

int ts__table_lookup(void *table, ts_field f, const char *value, ts_token *row, ts_error *err)
{
    const ts_token *found = ts__table_get(table, f, value);

    if (!found)
        return TS_NOT_FOUND;
    if (ts__token_copy(row, found) != TS_OK)
        return ts__error(err, TS_ERR_NOMEM, "out of memory");
    return TS_OK;
}

static uint64_t table_max_id(ts_table *t)
{
    if (t->max_id_stale) {
        t->max_id = 0;
        for (size_t i = 0; i < t->nrows; i++)
            if (t->rows[i]->id > t->max_id)
                t->max_id = t->rows[i]->id;
        t->max_id_stale = 0;
    }
    return t->max_id;
}

static int append_row(ts_table *t, const ts_token *tok, uint64_t id, ts_error *err)
{
    struct row *r;

    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct row **rows = realloc(t->rows, cap * sizeof *rows);
        if (!rows)
            return ts__error(err, TS_ERR_NOMEM, "out of memory");
        t->rows = rows;
        t->cap = cap;
    }
    r = calloc(1, sizeof *r);
    if (r)
        r->id = id;
    if (!r || ts__token_copy(&r->tok, tok) != TS_OK || index_row(t, r) != TS_OK) {
        if (r)
            ts_token_clear(&r->tok);
        free(r);
        return ts__error(err, TS_ERR_NOMEM, "out of memory");
    }
    r->pos = t->nrows;
    if (t->nrows && id < t->rows[t->nrows - 1]->id)
        t->sorted = 0;
    t->rows[t->nrows++] = r;
    if (id > t->max_id)
        t->max_id = id;
    return TS_OK;
}

int ts__table_insert(ts_table *t, const ts_token *row, ts_error *err)
{
    uint64_t id;

    if (ts__id_parse(ts_token_get(row, TS_FIELD_ID), &id) != TS_OK)
        return ts__error(err, TS_ERR_CORRUPT, "id '%.40s' is not a decimal number",
                         ts_token_get(row, TS_FIELD_ID));
    if (ts__table_get(t, TS_FIELD_ID, row->value[TS_FIELD_ID]))
        return ts__error(err, TS_ERR_CORRUPT, "id %s appears twice", row->value[TS_FIELD_ID]);
    return append_row(t, row, id, err);
}

static struct row *row_of(const ts_token *tok)
{
    return (struct row *)((char *)tok - offsetof(struct row, tok));
}

int ts__table_save(ts_table *t, ts_token *tok, ts_error *err)
{
    int rc = ts__save_resolve(tok, ts__table_lookup, t, err);

    if (rc == TS_OK) {
        /* Update: re-index the row under its new values. */
        struct row *r = row_of(ts__table_get(t, TS_FIELD_ID, tok->value[TS_FIELD_ID]));
        ts_token *fresh = ts_token_dup(tok);
        if (!fresh)
            return ts__error(err, TS_ERR_NOMEM, "out of memory");
        unindex_row(t, r);
        ts_token_clear(&r->tok);
        r->tok = *fresh;
        free(fresh);
        if (index_row(t, r) != TS_OK)
            return ts__error(err, TS_ERR_NOMEM, "out of memory");
        return TS_OK;
    }
    if (rc != TS_NOT_FOUND)
        return rc;
    uint64_t id;
    if (!ts__has(tok, TS_FIELD_ID) && (rc = ts__next_id(tok, table_max_id(t), err)) != TS_OK)
        return rc;
    if (ts__id_parse(tok->value[TS_FIELD_ID], &id) != TS_OK)
        return ts__check_id(tok->value[TS_FIELD_ID], err);
    return append_row(t, tok, id, err);
}

int ts__table_delete(ts_table *t, const char *id)
{
    const ts_token *found = ts__table_get(t, TS_FIELD_ID, id);

    if (!found)
        return TS_NOT_FOUND;
    struct row *r = row_of(found);
    unindex_row(t, r);
    size_t pos = r->pos;
    if (r->id == t->max_id)
        t->max_id_stale = 1;
    t->rows[pos] = t->rows[--t->nrows];
    t->rows[pos]->pos = pos;
    if (pos != t->nrows)
        t->sorted = 0;
    ts_token_clear(&r->tok);
    free(r);
    return TS_OK;
}

static int cmp_rows(const void *a, const void *b)
{
    uint64_t x = (*(struct row *const *)a)->id, y = (*(struct row *const *)b)->id;
    return x < y ? -1 : x > y;
}

int ts__table_foreach(ts_table *t, ts_token_cb cb, void *userdata)
{
    if (!t->sorted) {
        qsort(t->rows, t->nrows, sizeof *t->rows, cmp_rows);
        for (size_t i = 0; i < t->nrows; i++)
            t->rows[i]->pos = i;
        t->sorted = 1;
    }
    for (size_t i = 0; i < t->nrows; i++) {
        int rc = cb(&t->rows[i]->tok, userdata);
        if (rc)
            return rc;
    }
    return TS_OK;
}
