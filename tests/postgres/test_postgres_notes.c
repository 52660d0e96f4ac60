/*
 * tests/postgres/test_postgres_notes.c - the postgres backend's notes and
 * refresh log (ABI 1.4's note_set, note_get, log_append, log_walk) against
 * a real PostgreSQL server, and what they are for: the OAuth client's
 * backoff and refresh log seen by every process sharing the store.
 *
 * The members have no public API, so most tests call the backend's table
 * on handles of their own (tests/raw_backend.h); the last two go through the
 * library: 8 worker processes, each with its own handle and client, on a
 * fake accounts server (tests/oauth/fake_accounts.py) that fails, and one
 * that answers slowly. Each test uses tables of its own: the notes outlive
 * delete_tokens, as they should.
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <tokenstore/tokenstore.h>
#include "../test_store.h"
#include "../mysql/accounts.h"
#include "harness.h"
#include "../raw_backend.h"

#define NARROW_PASSWORD "narrow-Pa55word"

static ts_error err;               /* the last call's error */

static const ts_backend *backend(void)
{
    return raw_backend("postgres");
}

/* A raw handle on table `table` of database tokens as user app, opened
 * with TS_OPEN_* flags and the option pairs of `options` (may be NULL),
 * which win over those; NULL, with e filled, on failure. */
static void *open_table_raw(const char *table, unsigned flags, const char *const *options,
                            ts_error *e)
{
    char port[16];
    const char *defaults[] = { "host", "127.0.0.1", "port", port, "user", "app",
                               "password", APP_PASSWORD, "dbname", "tokens",
                               "table", table, NULL };

    snprintf(port, sizeof port, "%d", server_port);
    return raw_open(backend(), flags, options, defaults, e);
}

static void *open_ok(const char *table)
{
    void *h;

    raw_notes_backend("postgres");
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
    snprintf(q, sizeof q, "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public' AND "
             "tablename LIKE '%s'", pattern);
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
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM ttl_notes WHERE name = 'brief' AND "
                                "expires_at IS NOT NULL"), 1);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM ttl_notes WHERE name = 'forever' AND "
                                "expires_at IS NULL"), 1);
    usleep(1500 * 1000);
    ck_assert_int_eq(note_get(h, "brief", v, sizeof v), TS_NOT_FOUND);
    ck_assert_int_eq(note_get(h, "forever", v, sizeof v), TS_OK);
    ck_assert_str_eq(v, "f");
    /* Still there until a write removes it... */
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM ttl_notes WHERE name = 'brief'"), 1);
    raw_note_set_ok(h, "other", "o", 0);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM ttl_notes WHERE name = 'brief'"), 0);
    /* ... and a new value with no TTL lives on. */
    raw_note_set_ok(h, "brief", "again", 1000);
    raw_note_set_ok(h, "brief", "kept", 0);
    usleep(1200 * 1000);
    ck_assert_int_eq(note_get(h, "brief", v, sizeof v), TS_OK);
    ck_assert_str_eq(v, "kept");
    raw_close(h);
}
END_TEST

START_TEST(note_removed_replaced_and_empty)
{
    char v[64];
    void *h = open_ok("removal");

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
    /* Names compare byte for byte, trailing spaces too. */
    raw_note_set_ok(h, "Case", "upper", 0);
    ck_assert_int_eq(note_get(h, "case", v, sizeof v), TS_NOT_FOUND);
    raw_note_set_ok(h, "pad ", "padded", 0);
    ck_assert_int_eq(note_get(h, "pad", v, sizeof v), TS_NOT_FOUND);
    ck_assert_int_eq(note_get(h, "pad ", v, sizeof v), TS_OK);
    ck_assert_str_eq(v, "padded");
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM removal_notes"), 3);
    raw_close(h);
}
END_TEST

START_TEST(note_too_big_for_the_buffer_or_the_key)
{
    char value[1501], out[1501], name[1100];
    void *h = open_ok("buffer");

    memset(value, 'v', 1500);
    value[1500] = '\0';
    raw_note_set_ok(h, "oauth:id:3", value, 0);
    ck_assert_int_eq(note_get(h, "oauth:id:3", out, 1500), TS_ERR_BACKEND);
    ck_assert_msg(strstr(err.message, "oauth:id:3") && strstr(err.message, "1500"), "%s",
                  err.message);
    ck_assert_int_eq(note_get(h, "oauth:id:3", out, sizeof out), TS_OK);
    ck_assert_str_eq(out, value);
    ck_assert_int_eq(note_get(h, "oauth:id:3", out, 0), TS_ERR_BACKEND);
    /* A value of 100 KiB is kept; a name past 1024 bytes is refused. */
    char *big = malloc(100 * 1024 + 1);
    memset(big, 'b', 100 * 1024);
    big[100 * 1024] = '\0';
    raw_note_set_ok(h, "big", big, 0);
    free(big);
    memset(name, 'n', 1025);
    name[1025] = '\0';
    ck_assert_int_eq(note_set(h, name, "x", 0), TS_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "1024"), "%s", err.message);
    name[1024] = '\0';
    raw_note_set_ok(h, name, "x", 0);
    raw_close(h);
}
END_TEST

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
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM cap_log"), 3);
    raw_log_append_ok(h, "e6", 1);
    ck_assert_int_eq(walk(h, &w), TS_OK);
    ck_assert_int_eq(w.n, 1);
    ck_assert_str_eq(w.entries[0], "e6");
    raw_log_append_ok(h, "e7", 0);                          /* keep none */
    ck_assert_int_eq(walk(h, &w), TS_OK);
    ck_assert_int_eq(w.n, 0);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM cap_log"), 0);
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
 * in order. Both write one note too. */
static void appender(int k, int go)
{
    char c, e[32], v[32];
    ts_error e2;
    void *h = open_table_raw("race", 0, NULL, &e2);

    if (!h || read(go, &c, 1) != 0)
        _exit(2);
    for (int i = 0; i < 300; i++) {
        snprintf(e, sizeof e, "p%d-%03d", k, i);
        snprintf(v, sizeof v, "%d", i);
        if (backend()->log_append(h, e, 400, &e2) != TS_OK ||
            backend()->note_set(h, "shared", v, 0, &e2) != TS_OK) {
            fprintf(stderr, "appender %d: %s\n", k, e2.message);
            _exit(1);
        }
    }
    raw_close(h);
    _exit(0);
}

START_TEST(two_processes_append_at_once)
{
    static struct walked w;
    int go[2], next[2] = { -1, -1 }, kept[2] = { 0, 0 };
    pid_t kids[2];
    void *h = open_ok("race");

    raw_log_append_ok(h, "p9-000", 400);                    /* the tables are there */
    ck_assert_int_eq(pipe(go), 0);
    for (int k = 0; k < 2; k++)
        if ((kids[k] = fork()) == 0) {
            close(go[1]);
            appender(k, go[0]);
        }
    close(go[0]);
    close(go[1]);                                   /* both start */
    for (int k = 0; k < 2; k++) {
        int status;
        waitpid(kids[k], &status, 0);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "appender %d failed", k);
    }
    ck_assert_int_eq(walk(h, &w), TS_OK);
    ck_assert_int_eq(w.n, 400);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM race_log"), 400);
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

/* Each store's tables are its own; the SDK's table is left as it was. */
START_TEST(stores_apart_and_the_sdk_table_untouched)
{
    static struct walked w;
    char v[16], before[256], after[256];
    static const char state[] =
        "SELECT md5(string_agg(t::text, ',' ORDER BY id)) || ' ' || (SELECT string_agg("
        "column_name || data_type, ',' ORDER BY ordinal_position) FROM information_schema.columns "
        "WHERE table_name = 'sdk') FROM sdk t";

    sql_ok(SDK_DDL("sdk") ";INSERT INTO sdk (id, user_name, refresh_token) VALUES "
           "('1', 'u@x', 'r')");
    void *sdk = open_ok("sdk"), *other = open_ok("sdk2");
    ck_assert_int_eq(sql(state, before, sizeof before), 0);
    raw_note_set_ok(sdk, "n", "sdk's", 0);
    raw_log_append_ok(sdk, "sdk's", 10);
    ck_assert_int_eq(note_get(other, "n", v, sizeof v), TS_NOT_FOUND);
    ck_assert_int_eq(walk(other, &w), TS_OK);
    ck_assert_int_eq(w.n, 0);
    ck_assert_int_eq(sql(state, after, sizeof after), 0);
    ck_assert_str_eq(after, before);
    raw_close(sdk);
    raw_close(other);
}
END_TEST

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

/* A user who may not make the side tables hears which table and what
 * privilege, and nothing of the token table is touched. */
START_TEST(missing_privilege_names_the_side_table)
{
    char v[16];
    const char *opts[] = { "user", "narrow", "password", NARROW_PASSWORD, NULL };
    void *h = open_table_raw("narrow", 0, opts, &err);

    ck_assert_msg(h != NULL, "%s", err.message);
    ck_assert_int_eq(note_set(h, "n", "v", 0), TS_ERR_AUTH);
    ck_assert_msg(strstr(err.message, "narrow_notes") &&
                  strstr(err.message, "permission denied for schema public"), "%s",
                  err.message);
    ck_assert_ptr_null(strstr(err.message, NARROW_PASSWORD));
    /* Made by the owner, but not granted: reading names the table. */
    sql_ok("CREATE TABLE narrow_notes (name text PRIMARY KEY, value text NOT NULL, "
           "expires_at bigint)");
    ck_assert_int_eq(note_get(h, "n", v, sizeof v), TS_ERR_AUTH);
    ck_assert_msg(strstr(err.message, "narrow_notes"), "%s", err.message);
    raw_close(h);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The OAuth client across processes                                   */
/* ------------------------------------------------------------------ */

/* A token on table `table` whose access token expired long ago. */
static void expired_token(const char *table)
{
    const char *opts[] = { "table", table, NULL };
    ts_error e2 = { 0 };
    ts_store *s = open_with(opts, &e2);

    ck_assert_msg(s != NULL, "%s", e2.message);
    ts_token *t = make_token("me@example.com", "1000.refresh.stored", "1000.access.stored");
    ts_token_set(t, TS_FIELD_EXPIRY_TIME, "1000");
    save_ok(s, t);
    ts_token_free(t);
    ts_store_close(s);
}

/* A worker process with a handle and a client of its own: `calls`
 * access-token calls once `go` closes, then "PID OK TOLD" on `out`. */
static void worker(const char *table, const char *const *settings, int calls, int go, int out)
{
    char c;
    ts_store *s;
    ts_oauth *o;
    ts_error e2;
    int ok = 0, told = 0;

    if (ts_store_open(&s, app_uri(table), &e2) != TS_OK ||
        ts_oauth_new(&o, s, NULL, &e2) != TS_OK)
        _exit(2);
    for (int i = 0; settings[i]; i += 2)
        if (ts_oauth_set(o, settings[i], settings[i + 1], &e2) != TS_OK)
            _exit(3);
    if (read(go, &c, 1) != 0)
        _exit(4);
    for (int i = 0; i < calls; i++) {
        ts_token *q = ts_token_new();
        ts_token_set(q, TS_FIELD_USER_NAME, "me@example.com");
        int rc = ts_oauth_get_access_token(o, q, &e2);
        ok += rc == TS_OK;
        if (rc != TS_OK && strstr(e2.message, "next try is allowed in"))
            told++;
        else if (rc != TS_OK)
            fprintf(stderr, "worker %d: %s\n", (int)getpid(), e2.message);
        ts_token_free(q);
    }
    dprintf(out, "%d %d %d\n", (int)getpid(), ok, told);
    ts_oauth_free(o);
    ts_store_close(s);
    _exit(0);
}

enum { WORKERS = 8 };

struct outcome {
    pid_t pid[WORKERS];
    int ok, told;
};

/* Runs WORKERS workers at once and adds up what they say. */
static void run_workers(const char *table, const char *const *settings, int calls,
                        struct outcome *r)
{
    int go[2], out[2], lines = 0;
    char line[128];

    memset(r, 0, sizeof *r);
    ck_assert_int_eq(pipe(go), 0);
    ck_assert_int_eq(pipe(out), 0);
    for (int i = 0; i < WORKERS; i++) {
        pid_t pid = fork();
        ck_assert(pid >= 0);
        if (pid == 0) {
            close(go[1]);
            close(out[0]);
            worker(table, settings, calls, go[0], out[1]);
        }
    }
    close(go[0]);
    close(out[1]);
    close(go[1]);                                   /* all go */
    FILE *f = fdopen(out[0], "r");
    while (lines < WORKERS && fgets(line, sizeof line, f)) {
        int pid, ok, told;
        ck_assert_int_eq(sscanf(line, "%d %d %d", &pid, &ok, &told), 3);
        r->pid[lines++] = pid;
        r->ok += ok;
        r->told += told;
    }
    fclose(f);
    for (int i = 0; i < WORKERS; i++) {
        int status;
        pid_t pid = wait(&status);
        ck_assert_msg(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "a worker failed (status %d)", status);
    }
    ck_assert_int_eq(lines, WORKERS);
}

/* A server answering 500: 8 processes x 5 calls send a few requests, not
 * 8 x 4, because the backoff is a note every process reads; and every
 * caller is told when to retry. */
START_TEST(failing_server_is_not_hammered_by_eight_processes)
{
    const char *settings[] = { "accounts_url", accounts_url(), "retry_base_ms", "10",
                               "retry_max_ms", "20", NULL };
    struct outcome r;
    char out[4096];

    expired_token("failing");
    accounts_call("/reset", "", out, sizeof out);
    accounts_call("/control", "{\"mode\": \"status\", \"status\": 500, \"fail\": -1}", out,
                  sizeof out);
    run_workers("failing", settings, 5, &r);
    ck_assert_int_eq(r.ok, 0);
    ck_assert_msg(accounts_count("refresh_token") <= 10, "%d requests",
                  accounts_count("refresh_token"));
    ck_assert_int_eq(r.told, WORKERS * 5);
}
END_TEST

struct tally {
    int refreshed, failed, served;
    long long refresher;
    long long served_by[WORKERS];
};

static int tally_entry(const char *entry, void *ud)
{
    struct tally *t = ud;
    json_object *o = json_tokener_parse(entry), *v;

    ck_assert_msg(o != NULL, "not JSON: %s", entry);
    const char *event = json_object_object_get_ex(o, "event", &v) ? json_object_get_string(v)
                                                                 : "";
    const char *result = json_object_object_get_ex(o, "result", &v) ? json_object_get_string(v)
                                                                   : "";
    long long pid = json_object_object_get_ex(o, "pid", &v) ? json_object_get_int64(v) : 0;
    if (strcmp(result, "ok") != 0)
        t->failed++;
    else if (strcmp(event, "refresh") == 0)
        t->refreshed++, t->refresher = pid;
    else if (strcmp(event, "served") == 0 && t->served < WORKERS)
        t->served_by[t->served++] = pid;
    json_object_put(o);
    return 0;
}

static int is_worker(const struct outcome *r, long long pid)
{
    for (int i = 0; i < WORKERS; i++)
        if (r->pid[i] == pid)
            return 1;
    return 0;
}

/* 8 processes need the token while one refreshes it: a handle opened
 * afterwards, read-only, reads one refresh and the others it served. */
START_TEST(refresh_log_shows_one_refresh_across_processes)
{
    const char *settings[] = { "accounts_url", accounts_url(), NULL };
    const char *opts[] = { "table", "served", NULL };
    struct outcome r;
    struct tally t = { 0 };
    char out[4096];

    expired_token("served");
    accounts_call("/reset", "", out, sizeof out);
    accounts_call("/control", "{\"mode\": \"slow\", \"delay\": 0.3}", out, sizeof out);
    run_workers("served", settings, 1, &r);
    ck_assert_int_eq(r.ok, WORKERS);
    ck_assert_int_eq(accounts_count("refresh_token"), 1);

    ts_store *s = open_flags_with(TS_OPEN_READ_ONLY, opts, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    ck_assert_int_eq(ts_oauth_refresh_log(s, tally_entry, &t, &err), TS_OK);
    ts_store_close(s);
    ck_assert_int_eq(t.failed, 0);
    ck_assert_int_eq(t.refreshed, 1);
    ck_assert(is_worker(&r, t.refresher));
    ck_assert_msg(t.served >= 1, "no process was served by the refresh");
    for (int i = 0; i < t.served; i++) {
        ck_assert(is_worker(&r, t.served_by[i]));
        ck_assert(t.served_by[i] != t.refresher);
        for (int j = 0; j < i; j++)
            ck_assert(t.served_by[j] != t.served_by[i]);
    }
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *notes_suite(void)
{
    Suite *s = suite_create("postgres notes");
    TCase *tc = tcase_create("notes");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, note_ttl_expires_and_is_removed_lazily);
    tcase_add_test(tc, note_removed_replaced_and_empty);
    tcase_add_test(tc, note_too_big_for_the_buffer_or_the_key);
    tcase_add_test(tc, log_keeps_the_newest_keep);
    tcase_add_test(tc, log_walks_oldest_first_and_stops);
    tcase_add_test(tc, two_processes_append_at_once);
    tcase_add_test(tc, read_only_creates_nothing);
    tcase_add_test(tc, stores_apart_and_the_sdk_table_untouched);
    tcase_add_test(tc, drop_removes_the_side_tables);
    tcase_add_test(tc, missing_privilege_names_the_side_table);
    tcase_add_test(tc, failing_server_is_not_hammered_by_eight_processes);
    tcase_add_test(tc, refresh_log_shows_one_refresh_across_processes);
    suite_add_tcase(s, tc);
    return s;
}

static const char setup_sql[] =
    "REVOKE CREATE ON SCHEMA public FROM PUBLIC;"
    SDK_DDL("narrow") ";"
    "CREATE INDEX ON narrow USING hash (user_name); CREATE INDEX ON narrow USING hash "
    "(access_token); CREATE INDEX ON narrow USING hash (refresh_token); CREATE INDEX ON narrow "
    "USING hash (grant_token); CREATE INDEX narrow_id_order_idx ON narrow ((length(id)), id "
    "COLLATE \"C\");"
    "CREATE ROLE narrow LOGIN PASSWORD '" NARROW_PASSWORD "';"
    "GRANT SELECT, INSERT, UPDATE, DELETE ON narrow TO narrow;";

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return harness_run(notes_suite(), setup_sql, start_accounts);
}
