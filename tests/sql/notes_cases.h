/*
 * tests/sql/notes_cases.h - the notes and refresh-log cases (ABI 1.4's
 * note_set, note_get, log_append, log_walk) that the mysql and postgres
 * backends share, against a real server of the program's own. Each
 * backend keeps its notes and its log in side tables of its own beside
 * the token table, so the same cases hold for both: a note's ttl, its
 * removal and replacement, a buffer too small for it, the log trimmed to
 * the newest entries and walked oldest first, two processes appending at
 * once, a read-only handle that makes nothing, the SDK's table left as it
 * was, drop removing the side tables, and a user who may not make them
 * told which table and why.
 *
 * The members have no public API, so the cases call the backend's table
 * on handles of their own (tests/raw_backend.h). Each case uses tables of
 * its own: the notes outlive delete_tokens, as they should, so a reused
 * table would carry a backoff from one case into the next.
 *
 * The including test includes its backend's harness.h first, which
 * names the backend (harness_backend) and defines TOKENS_TABLE(t), table
 * t of database tokens as SQL names it, and TABLES_LIKE, a query counting
 * the tables of database tokens whose name is LIKE its one %s; and its
 * setup SQL makes user narrow (password NARROW_PASSWORD) with rights on
 * the rows of table narrow but none to make tables. Where a case's
 * details differ by server, its common part is a helper here
 * (notes_removal_cases, notes_buffer_cases, notes_sdk_untouched,
 * notes_denied), which the backend's own case calls.
 */
#ifndef TS_TEST_SQL_NOTES_CASES_H
#define TS_TEST_SQL_NOTES_CASES_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"
#include "../test_store.h"
#include "../raw_backend.h"

#define NARROW_PASSWORD "narrow-Pa55word"

static ts_error err;               /* the last call's error */

static const ts_backend *backend(void)
{
    return raw_backend(harness_backend.name);
}

/* A raw handle on table `table` of database tokens as user app (the
 * harness's defaults), opened with TS_OPEN_* flags and the option pairs
 * of `options` (may be NULL), which win over those; NULL, with e filled,
 * on failure. */
static void *open_table_raw(const char *table, unsigned flags, const char *const *options,
                            ts_error *e)
{
    char port[16];
    const char *defaults[32];
    int n = 0;

    snprintf(port, sizeof port, "%d", server_port);
    for (const struct harness_default *d = harness_backend.defaults; d->key && n < 28; d++) {
        defaults[n++] = d->key;
        defaults[n++] = d->value ? d->value : port;
    }
    defaults[n++] = "table";
    defaults[n++] = table;
    defaults[n] = NULL;
    return raw_open(backend(), flags, options, defaults, e);
}

static void *open_ok(const char *table)
{
    void *h;

    raw_notes_backend(harness_backend.name);
    h = open_table_raw(table, 0, NULL, &err);
    ck_assert_msg(h != NULL, "open %s: %s", table, err.message);
    return h;
}

static int note_set(void *h, const char *name, const char *value, int64_t ttl_ms)
{
    memset(&err, 0, sizeof err);
    return backend()->note_set(h, name, value, ttl_ms, &err);
}

static int note_get(void *h, const char *name, char *value, size_t size)
{
    memset(&err, 0, sizeof err);
    return backend()->note_get(h, name, value, size, &err);
}

/* The log as log_walk hands it over; it stops at entry number stop_at
 * (from 1), answering stop_rc. */
struct walked {
    int n, stop_at, stop_rc;
    char entries[1024][32];
};

static int walk_cb(const char *entry, void *ud)
{
    struct walked *w = ud;

    if (w->n < 1024)
        snprintf(w->entries[w->n], sizeof w->entries[0], "%s", entry);
    w->n++;
    return w->stop_at && w->n == w->stop_at ? w->stop_rc : 0;
}

static int walk(void *h, struct walked *w)
{
    memset(&err, 0, sizeof err);
    w->n = 0;
    return backend()->log_walk(h, walk_cb, w, &err);
}

static long long tables_named(const char *pattern)
{
    char q[256];

    snprintf(q, sizeof q, TABLES_LIKE, pattern);
    return sql_number(q);
}

/* ------------------------------------------------------------------ */
/* Notes                                                               */
/* ------------------------------------------------------------------ */

START_TEST(note_ttl_expires_and_is_removed_lazily)
{
    char v[64];
    void *h = open_ok("ttl");

    raw_note_set_ok(h, "forever", "f", 0);
    raw_note_set_ok(h, "brief", "b", 1000);
    ck_assert_int_eq(note_get(h, "brief", v, sizeof v), TS_OK);
    ck_assert_str_eq(v, "b");
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM " TOKENS_TABLE("ttl_notes") " WHERE "
                                "name = 'brief' AND expires_at IS NOT NULL"), 1);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM " TOKENS_TABLE("ttl_notes") " WHERE "
                                "name = 'forever' AND expires_at IS NULL"), 1);
    usleep(1500 * 1000);
    ck_assert_int_eq(note_get(h, "brief", v, sizeof v), TS_NOT_FOUND);
    ck_assert_int_eq(note_get(h, "forever", v, sizeof v), TS_OK);
    ck_assert_str_eq(v, "f");
    /* Still there until a write removes it... */
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM " TOKENS_TABLE("ttl_notes") " WHERE "
                                "name = 'brief'"), 1);
    raw_note_set_ok(h, "other", "o", 0);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM " TOKENS_TABLE("ttl_notes") " WHERE "
                                "name = 'brief'"), 0);
    /* ... and a new value with no TTL lives on. */
    raw_note_set_ok(h, "brief", "again", 1000);
    raw_note_set_ok(h, "brief", "kept", 0);
    usleep(1200 * 1000);
    ck_assert_int_eq(note_get(h, "brief", v, sizeof v), TS_OK);
    ck_assert_str_eq(v, "kept");
    raw_close(h);
}
END_TEST

/* A note replaced, removed (twice), set to ""; names compare byte for
 * byte ("Case" is not "case"). Leaves notes "empty" and "Case". */
static void notes_removal_cases(void *h)
{
    char v[64];

    raw_note_set_ok(h, "n", "one", 0);
    raw_note_set_ok(h, "n", "two", 0);
    ck_assert_int_eq(note_get(h, "n", v, sizeof v), TS_OK);
    ck_assert_str_eq(v, "two");
    raw_note_set_ok(h, "n", NULL, 0);
    ck_assert_int_eq(note_get(h, "n", v, sizeof v), TS_NOT_FOUND);
    raw_note_set_ok(h, "n", NULL, 0);                   /* nothing to remove */
    raw_note_set_ok(h, "empty", "", 0);                 /* "" is a value, not a removal */
    strcpy(v, "x");
    ck_assert_int_eq(note_get(h, "empty", v, sizeof v), TS_OK);
    ck_assert_str_eq(v, "");
    raw_note_set_ok(h, "Case", "upper", 0);
    ck_assert_int_eq(note_get(h, "case", v, sizeof v), TS_NOT_FOUND);
}

/* A note of 1,500 bytes does not fit a buffer of 1,500 (nor of 0): an
 * error naming the note and the size; it does fit one of 1,501. */
static void notes_buffer_cases(void *h)
{
    char value[1501], out[1501];

    memset(value, 'v', 1500);
    value[1500] = '\0';
    raw_note_set_ok(h, "oauth:id:3", value, 0);
    ck_assert_int_eq(note_get(h, "oauth:id:3", out, 1500), TS_ERR_BACKEND);
    ck_assert_msg(strstr(err.message, "oauth:id:3") && strstr(err.message, "1500"), "%s",
                  err.message);
    ck_assert_int_eq(note_get(h, "oauth:id:3", out, sizeof out), TS_OK);
    ck_assert_str_eq(out, value);
    ck_assert_int_eq(note_get(h, "oauth:id:3", out, 0), TS_ERR_BACKEND);
}

/* ------------------------------------------------------------------ */
/* The log                                                             */
/* ------------------------------------------------------------------ */

START_TEST(log_keeps_the_newest_keep)
{
    static struct walked w;
    void *h = open_ok("cap");

    for (int i = 1; i <= 5; i++) {
        char e[16];
        snprintf(e, sizeof e, "e%d", i);
        raw_log_append_ok(h, e, 3);
    }
    ck_assert_int_eq(walk(h, &w), TS_OK);
    ck_assert_int_eq(w.n, 3);
    ck_assert_str_eq(w.entries[0], "e3");
    ck_assert_str_eq(w.entries[1], "e4");
    ck_assert_str_eq(w.entries[2], "e5");
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM " TOKENS_TABLE("cap_log")), 3);
    raw_log_append_ok(h, "e6", 1);
    ck_assert_int_eq(walk(h, &w), TS_OK);
    ck_assert_int_eq(w.n, 1);
    ck_assert_str_eq(w.entries[0], "e6");
    raw_log_append_ok(h, "e7", 0);                          /* keep none */
    ck_assert_int_eq(walk(h, &w), TS_OK);
    ck_assert_int_eq(w.n, 0);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM " TOKENS_TABLE("cap_log")), 0);
    raw_close(h);
}
END_TEST

/* Oldest first, across the pages log_walk reads; a callback's non-zero
 * answer stops the walk and is its result; a callback may use the store. */
static int walk_and_read(const char *entry, void *ud)
{
    void **h = ud;
    char v[16];
    (void)entry;
    return note_get(*h, "n", v, sizeof v) == TS_OK ? 0 : 7;
}

START_TEST(log_walks_oldest_first_and_stops)
{
    static struct walked w;
    void *h = open_ok("order");

    for (int i = 0; i < 600; i++) {
        char e[24];
        snprintf(e, sizeof e, "entry %03d", i);
        raw_log_append_ok(h, e, 1000);
    }
    ck_assert_int_eq(walk(h, &w), TS_OK);
    ck_assert_int_eq(w.n, 600);
    for (int i = 0; i < 600; i++) {
        char e[24];
        snprintf(e, sizeof e, "entry %03d", i);
        ck_assert_str_eq(w.entries[i], e);
    }
    w.stop_at = 300;
    w.stop_rc = 42;
    ck_assert_int_eq(walk(h, &w), 42);
    ck_assert_int_eq(w.n, 300);
    raw_note_set_ok(h, "n", "v", 0);
    ck_assert_int_eq(backend()->log_walk(h, walk_and_read, &h, &err), TS_OK);
    raw_close(h);
}
END_TEST

/* Two processes append 300 entries each at once, keeping 400: the log
 * holds exactly the newest 400, each process's a run ending at its last,
 * in order, none cut or mixed with another. Both write one note too. */
static int appender(int k, void *unused)
{
    char e[32], v[32];
    ts_error e2;
    void *h = open_table_raw("race", 0, NULL, &e2);

    (void)unused;
    if (!h)
        return 2;
    for (int i = 0; i < 300; i++) {
        snprintf(e, sizeof e, "p%d-%03d", k, i);
        snprintf(v, sizeof v, "%d", i);
        if (backend()->log_append(h, e, 400, &e2) != TS_OK ||
            backend()->note_set(h, "shared", v, 0, &e2) != TS_OK) {
            fprintf(stderr, "appender %d: %s\n", k, e2.message);
            return 1;
        }
    }
    raw_close(h);
    return 0;
}

START_TEST(two_processes_append_at_once)
{
    static struct walked w;
    int next[2] = { -1, -1 }, kept[2] = { 0, 0 };
    void *h = open_ok("race");

    raw_log_append_ok(h, "p9-000", 400);                    /* the tables are there */
    run_processes(2, appender, NULL, NULL);
    ck_assert_int_eq(walk(h, &w), TS_OK);
    ck_assert_int_eq(w.n, 400);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM " TOKENS_TABLE("race_log")), 400);
    for (int n = 0; n < w.n; n++) {
        int k, i, used = 0;
        ck_assert_msg(sscanf(w.entries[n], "p%d-%d%n", &k, &i, &used) == 2 &&
                      used == (int)strlen(w.entries[n]) && (k == 0 || k == 1),
                      "entry %d: '%s'", n, w.entries[n]);
        ck_assert_msg(next[k] < 0 || i == next[k], "process %d: %d after %d", k, i, next[k] - 1);
        next[k] = i + 1;
        kept[k]++;
    }
    ck_assert_int_eq(next[0], 300);
    ck_assert_int_eq(next[1], 300);
    ck_assert_int_eq(kept[0] + kept[1], 400);
    char v[32];
    ck_assert_int_eq(note_get(h, "shared", v, sizeof v), TS_OK);
    ck_assert_str_eq(v, "299");
    raw_close(h);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The side tables                                                     */
/* ------------------------------------------------------------------ */

/* A read-only handle reads a store without the side tables as empty, and
 * makes nothing; once a writer has made them, it reads them. */
START_TEST(read_only_creates_nothing)
{
    static struct walked w;
    char v[16];
    ts_error e2 = { 0 };
    void *ro = open_table_raw("ronly", TS_OPEN_READ_ONLY, NULL, &err);

    ck_assert_msg(ro != NULL, "%s", err.message);
    ck_assert_int_eq(note_get(ro, "oauth:id:1", v, sizeof v), TS_NOT_FOUND);
    ck_assert_int_eq(walk(ro, &w), TS_OK);
    ck_assert_int_eq(w.n, 0);
    ck_assert_int_ne(note_set(ro, "n", "v", 0), TS_OK);
    ck_assert_int_eq(tables_named("ronly%"), 0);
    /* Through the library too. */
    const char *opts[] = { "table", "ronly", NULL };
    ts_store *s = open_flags_with(TS_OPEN_READ_ONLY, opts, &e2);
    ck_assert_msg(s != NULL, "%s", e2.message);
    ck_assert_int_eq(ts_oauth_refresh_log(s, walk_cb, &w, &e2), TS_OK);
    ck_assert_int_eq(w.n, 0);
    ts_store_close(s);
    ck_assert_int_eq(tables_named("ronly%"), 0);

    void *rw = open_ok("ronly");
    raw_note_set_ok(rw, "n", "v", 0);
    raw_log_append_ok(rw, "e", 10);
    ck_assert_int_eq(note_get(ro, "n", v, sizeof v), TS_OK);
    ck_assert_str_eq(v, "v");
    ck_assert_int_eq(walk(ro, &w), TS_OK);
    ck_assert_int_eq(w.n, 1);
    raw_close(rw);
    raw_close(ro);
}
END_TEST

/* The SDK's table `sdk` with a row, and a store on it and one beside it:
 * a note and a log entry of the first are not the other's, and `state`
 * (the table's definition and rows, as the server tells them) is the
 * same after them as before. */
static void notes_sdk_untouched(void (*state)(char *out, size_t n))
{
    static struct walked w;
    char v[16], before[1200], after[1200];

    sql_ok(SDK_DDL("sdk") ";INSERT INTO " TOKENS_TABLE("sdk") " (id, user_name, refresh_token) "
           "VALUES ('1', 'u@x', 'r')");
    /* Opening it adds its indexes (the schema tests); the notes add nothing. */
    void *sdk = open_ok("sdk"), *other = open_ok("sdk2");
    state(before, sizeof before);
    raw_note_set_ok(sdk, "n", "sdk's", 0);
    raw_log_append_ok(sdk, "sdk's", 10);
    ck_assert_int_eq(note_get(other, "n", v, sizeof v), TS_NOT_FOUND);
    ck_assert_int_eq(walk(other, &w), TS_OK);
    ck_assert_int_eq(w.n, 0);
    state(after, sizeof after);
    ck_assert_str_eq(after, before);
    raw_close(sdk);
    raw_close(other);
}

/* drop removes all three tables; a handle whose statements were
 * prepared on them makes them again on its next write. */
START_TEST(drop_removes_the_side_tables)
{
    static struct walked w;
    char v[16];
    void *h = open_ok("scratch"), *other = open_ok("scratch");

    raw_note_set_ok(other, "n", "v", 0);
    raw_log_append_ok(other, "e", 10);
    ck_assert_int_eq(walk(other, &w), TS_OK);
    ck_assert_int_eq(tables_named("scratch%"), 3);
    ck_assert_int_eq(backend()->drop(h, &err), TS_OK);
    ck_assert_int_eq(tables_named("scratch%"), 0);
    raw_close(h);

    ck_assert_int_eq(note_get(other, "n", v, sizeof v), TS_NOT_FOUND);
    ck_assert_int_eq(walk(other, &w), TS_OK);
    ck_assert_int_eq(w.n, 0);
    raw_log_append_ok(other, "again", 10);
    raw_note_set_ok(other, "n", "again", 0);
    ck_assert_int_eq(walk(other, &w), TS_OK);
    ck_assert_int_eq(w.n, 1);
    ck_assert_str_eq(w.entries[0], "again");
    ck_assert_int_eq(tables_named("scratch\\_%"), 2);
    raw_close(other);
}
END_TEST

/* User narrow, who may not make the side tables, hears which table and
 * `why` (the server's words), never the password; then, once
 * `before_read` (may be NULL) has run, a read names the table too. */
static void notes_denied(const char *why, void (*before_read)(void))
{
    char v[16];
    const char *opts[] = { "user", "narrow", "password", NARROW_PASSWORD, NULL };
    void *h = open_table_raw("narrow", 0, opts, &err);

    ck_assert_msg(h != NULL, "%s", err.message);
    ck_assert_int_eq(note_set(h, "n", "v", 0), TS_ERR_AUTH);
    ck_assert_msg(strstr(err.message, "narrow_notes") && strstr(err.message, why), "%s",
                  err.message);
    ck_assert_ptr_null(strstr(err.message, NARROW_PASSWORD));
    if (before_read)
        before_read();
    ck_assert_int_eq(note_get(h, "n", v, sizeof v), TS_ERR_AUTH);
    ck_assert_msg(strstr(err.message, "narrow_notes"), "%s", err.message);
    raw_close(h);
}

/* Adds the cases written here to tc; the backend's suite adds its own
 * after them. */
static void notes_cases_add(TCase *tc)
{
    tcase_add_test(tc, note_ttl_expires_and_is_removed_lazily);
    tcase_add_test(tc, log_keeps_the_newest_keep);
    tcase_add_test(tc, log_walks_oldest_first_and_stops);
    tcase_add_test(tc, two_processes_append_at_once);
    tcase_add_test(tc, read_only_creates_nothing);
    tcase_add_test(tc, drop_removes_the_side_tables);
}

#endif
