/*
 * tests/sqlite/test_sqlite_notes.c - the sqlite backend's notes and log
 * (ABI 1.4's note_set, note_get, log_append and log_walk): kept in
 * <table>_notes and <table>_log beside the SDK's table, which stays as it
 * was; made by the first write and by nothing else; shared by every
 * process and thread that has the database open, and followed into a
 * forked child.
 *
 * The four members have no public API (the OAuth client calls them
 * through the core), so the backend is loaded and its table called
 * directly (tests/raw_backend.h), with the path, table and open flags
 * each case asks for. The sqlite3 API looks at what was written. The
 * OAuth client on top of them, in eight processes, is
 * tests/oauth/test_processes.c.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include <tokenstore/backend.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"
#include "../raw_backend.h"

/* ------------------------------------------------------------------ */
/* The backend, opened where a case says                               */
/* ------------------------------------------------------------------ */

/* Where a handle is opened. */
struct place {
    char path[512];
    const char *table;          /* NULL: the default, oauthtoken */
    unsigned flags;             /* TS_OPEN_* */
};

static const ts_backend *vt;
static struct place here, reader;      /* this case's database, writable and read-only */

static void setup(void)
{
    make_scratch();
    snprintf(here.path, sizeof here.path, "%s/notes.db", scratch);
    here.table = NULL;
    here.flags = 0;
    reader = here;
    reader.flags = TS_OPEN_READ_ONLY | TS_OPEN_MUST_EXIST;
    vt = raw_notes_backend("sqlite");
}

/* A handle on p; NULL, with err filled, when it does not open. */
static void *try_open_at(const struct place *p, ts_error *err)
{
    const char *options[] = { "path", p->path, p->table ? "table" : NULL, p->table, NULL };

    return raw_open(vt, p->flags, options, NULL, err);
}

static void *open_at(const struct place *p)
{
    ts_error err = { 0 };
    void *state = try_open_at(p, &err);

    ck_assert_msg(state != NULL, "open %s: %s", p->path, err.message);
    return state;
}

/* note_get into a static buffer; NULL when TS_NOT_FOUND. */
static const char *get(void *h, const char *name)
{
    static char value[2048];

    return raw_note_get(h, name, value, sizeof value) == TS_OK ? value : NULL;
}

/* The log, walked: its entries joined by '|', and how many. */
struct walked {
    char all[65536];
    int count, stop_at;         /* stop_at: stop (returning 42) at that entry, 0 never */
};

static int gather(const char *entry, void *ud)
{
    struct walked *w = ud;
    size_t used = strlen(w->all);

    snprintf(w->all + used, sizeof w->all - used, "%s%s", w->count ? "|" : "", entry);
    return ++w->count == w->stop_at ? 42 : 0;
}

static const char *walk(void *h)
{
    static struct walked w;
    ts_error err = { 0 };

    memset(&w, 0, sizeof w);
    ck_assert_msg(vt->log_walk(h, gather, &w, &err) == TS_OK, "log_walk: %s", err.message);
    return w.all;
}

/* ------------------------------------------------------------------ */
/* Looking at the file                                                 */
/* ------------------------------------------------------------------ */

/* The first column of the first row sql gives, as text ("" when none). */
static const char *peek(const char *path, const char *sql)
{
    static char out[8192];
    sqlite3 *db;
    sqlite3_stmt *st;

    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    out[0] = '\0';
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

static void exec_sql(const char *path, const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;

    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql, msg);
    sqlite3_close(db);
}

/* Every table and index in the file, by name. */
#define SCHEMA "SELECT group_concat(type || ' ' || name, ', ') FROM " \
               "(SELECT type, name FROM sqlite_master ORDER BY name)"
/* The SDK's table as the sample reads it: its definition and every row. */
#define SDK_TABLE "SELECT (SELECT sql FROM sqlite_master WHERE name = 'oauthtoken') || ' / ' || " \
                  "(SELECT group_concat(quote(id) || quote(user_name) || quote(client_secret) " \
                  "|| quote(refresh_token) || quote(access_token) || quote(expiry_time), ';') " \
                  "FROM (SELECT * FROM oauthtoken ORDER BY id))"

/* A database with the SDK sample's table and one row, made without us. */
static void make_sample(const char *path)
{
    exec_sql(path, "PRAGMA journal_mode=WAL; CREATE TABLE oauthtoken (id varchar(10) NOT NULL, "
             "user_name varchar(255), client_id varchar(255), client_secret varchar(255), "
             "refresh_token varchar(255), access_token varchar(255), grant_token varchar(255), "
             "expiry_time varchar(20), redirect_url varchar(255), api_domain varchar(255), "
             "primary key (id)); INSERT INTO oauthtoken (id, user_name, client_secret, "
             "refresh_token, access_token, expiry_time) VALUES ('1', 'u@zoho.com', 's', "
             "'1000.r', '1000.a', '1700000001000')");
}

/* ------------------------------------------------------------------ */
/* Notes                                                               */
/* ------------------------------------------------------------------ */

/* The notes and the log go in tables of their own, named after the
 * token table, made by the first write; the SDK's table is not touched. */
START_TEST(test_tables_beside_the_sdk_s)
{
    make_sample(here.path);
    char sdk[8192];
    snprintf(sdk, sizeof sdk, "%s", peek(here.path, SDK_TABLE));
    void *h = open_at(&here);

    ck_assert_ptr_null(get(h, "oauth:id:1"));
    ck_assert_str_eq(walk(h), "");
    ck_assert_str_eq(peek(here.path, "SELECT count(*) FROM sqlite_master WHERE name LIKE "
                                     "'oauthtoken\\_%' ESCAPE '\\' AND type = 'table'"), "0");
    raw_note_set_ok(h, "oauth:id:1", "v1 backoff", 0);
    raw_log_append_ok(h, "{\"event\":\"refresh\"}", 10);
    ck_assert_str_eq(get(h, "oauth:id:1"), "v1 backoff");
    raw_note_set_ok(h, "oauth:id:1", "v1 replaced", 0);
    ck_assert_str_eq(get(h, "oauth:id:1"), "v1 replaced");
    raw_close(h);

    ck_assert_str_eq(peek(here.path, "SELECT group_concat(name || '=' || value) FROM "
                                     "oauthtoken_notes"), "oauth:id:1=v1 replaced");
    ck_assert_str_eq(peek(here.path, "SELECT group_concat(entry) FROM oauthtoken_log"),
                     "{\"event\":\"refresh\"}");
    ck_assert_str_eq(peek(here.path, SDK_TABLE), sdk);
}
END_TEST

/* With option table, the side tables follow its name. */
START_TEST(test_tables_follow_the_table_option)
{
    here.table = "crm_tokens";
    void *h = open_at(&here);

    raw_note_set_ok(h, "n", "v", 0);
    raw_log_append_ok(h, "e", 10);
    raw_close(h);
    const char *schema = peek(here.path, SCHEMA);
    ck_assert_msg(strstr(schema, "table crm_tokens_log") && strstr(schema, "table crm_tokens_notes") &&
                  !strstr(schema, "oauthtoken"), "%s", schema);
}
END_TEST

/* Values of the OAuth client's size, text of any kind, round trip. */
START_TEST(test_long_values_round_trip)
{
    char value[1601];
    void *h = open_at(&here);

    for (size_t i = 0; i < sizeof value - 1; i++)
        value[i] = "v1 0123456789,abcdef'\";-- "[i % 26];
    value[sizeof value - 1] = '\0';
    raw_note_set_ok(h, "oauth:grant:00ff00ff00ff00ff", value, 0);
    ck_assert_str_eq(get(h, "oauth:grant:00ff00ff00ff00ff"), value);
    ck_assert_ptr_null(get(h, "oauth:grant"));
    raw_close(h);
}
END_TEST

/* An expired note is none; a note without ttl stays; a write drops the
 * expired ones from the table. */
START_TEST(test_note_ttl)
{
    void *h = open_at(&here);
    long long before = wall_ms();

    raw_note_set_ok(h, "long", "l", 600000);
    long long after = wall_ms();
    raw_note_set_ok(h, "forever", "f", 0);
    raw_note_set_ok(h, "short", "s", 1);         /* last: the next write drops it */
    long long at = atoll(peek(here.path, "SELECT expires_at FROM oauthtoken_notes WHERE "
                                         "name = 'long'"));
    ck_assert_msg(at >= before + 600000 && at <= after + 600000, "expires_at %lld", at);
    ck_assert_str_eq(peek(here.path, "SELECT quote(expires_at) FROM oauthtoken_notes WHERE "
                                     "name = 'forever'"), "NULL");
    usleep(20000);
    ck_assert_ptr_null(get(h, "short"));
    ck_assert_str_eq(get(h, "long"), "l");
    ck_assert_str_eq(get(h, "forever"), "f");

    ck_assert_str_eq(peek(here.path, "SELECT count(*) FROM oauthtoken_notes"), "3");
    raw_note_set_ok(h, "other", "o", 0);
    ck_assert_str_eq(peek(here.path, "SELECT group_concat(name) FROM (SELECT name FROM "
                                     "oauthtoken_notes ORDER BY name)"), "forever,long,other");
    /* Replaced without a ttl, it no longer expires. */
    raw_note_set_ok(h, "long", "l2", 0);
    ck_assert_str_eq(peek(here.path, "SELECT quote(expires_at) FROM oauthtoken_notes WHERE "
                                     "name = 'long'"), "NULL");
    raw_close(h);
}
END_TEST

/* A NULL value removes the note; removing one that is not there, even
 * from a database without the notes table, is fine and makes nothing. */
START_TEST(test_note_removal)
{
    void *h = open_at(&here);

    raw_note_set_ok(h, "gone", NULL, 0);
    ck_assert_msg(!strstr(peek(here.path, SCHEMA), "oauthtoken_notes"), "%s",
                  peek(here.path, SCHEMA));
    raw_note_set_ok(h, "a", "1", 0);
    raw_note_set_ok(h, "b", "2", 0);
    raw_note_set_ok(h, "a", NULL, 0);
    ck_assert_ptr_null(get(h, "a"));
    ck_assert_str_eq(get(h, "b"), "2");
    raw_note_set_ok(h, "a", NULL, 0);
    ck_assert_str_eq(peek(here.path, "SELECT group_concat(name) FROM oauthtoken_notes"), "b");
    raw_close(h);
}
END_TEST

/* A value that does not fit the caller's buffer is TS_ERR_BACKEND naming
 * the note, and nothing is written past the buffer. */
START_TEST(test_note_buffer_too_small)
{
    void *h = open_at(&here);
    char buf[8];
    ts_error err = { 0 };

    raw_note_set_ok(h, "oauth:id:7", "abcde", 0);
    memset(buf, '#', sizeof buf);
    ck_assert_int_eq(vt->note_get(h, "oauth:id:7", buf, 5, &err), TS_ERR_BACKEND);
    ck_assert_msg(strstr(err.message, "oauth:id:7") && strstr(err.message, "oauthtoken_notes") &&
                  strstr(err.message, here.path), "%s", err.message);
    ck_assert_msg(memcmp(buf, "########", 8) == 0, "the buffer was written: %.8s", buf);
    ck_assert_int_eq(vt->note_get(h, "oauth:id:7", buf, 6, &err), TS_OK);
    ck_assert_str_eq(buf, "abcde");
    raw_close(h);
}
END_TEST

/* A table of that name that is not ours is an error naming it, and is
 * left as it was. */
START_TEST(test_foreign_table_is_named)
{
    ts_error err = { 0 };

    exec_sql(here.path, "CREATE TABLE oauthtoken_notes (name TEXT, note TEXT); "
                        "INSERT INTO oauthtoken_notes VALUES ('x', 'theirs')");
    void *h = open_at(&here);
    int rc = vt->note_set(h, "x", "ours", 0, &err);
    ck_assert_int_ne(rc, TS_OK);
    ck_assert_msg(strstr(err.message, here.path) && strstr(err.message, "oauthtoken_notes"),
                  "%s", err.message);
    raw_close(h);
    ck_assert_str_eq(peek(here.path, "SELECT group_concat(name || '=' || note) FROM "
                                     "oauthtoken_notes"), "x=theirs");
}
END_TEST

/* ------------------------------------------------------------------ */
/* The log                                                             */
/* ------------------------------------------------------------------ */

/* Only the newest `keep` entries stay, whatever keep each append gives;
 * keep 0 keeps none. */
START_TEST(test_log_cap)
{
    void *h = open_at(&here);
    char e[16];

    for (int i = 0; i < 5; i++) {
        snprintf(e, sizeof e, "e%d", i);
        raw_log_append_ok(h, e, 3);
    }
    ck_assert_str_eq(walk(h), "e2|e3|e4");
    raw_log_append_ok(h, "e5", 5);
    ck_assert_str_eq(walk(h), "e2|e3|e4|e5");
    raw_log_append_ok(h, "e6", 1);
    ck_assert_str_eq(walk(h), "e6");
    raw_log_append_ok(h, "e7", 0);
    ck_assert_str_eq(walk(h), "");
    ck_assert_str_eq(peek(here.path, "SELECT count(*) FROM oauthtoken_log"), "0");
    raw_log_append_ok(h, "e8", 2);
    ck_assert_str_eq(walk(h), "e8");
    raw_close(h);
}
END_TEST

/* Oldest first; a callback's non-zero answer stops the walk and is what
 * log_walk returns. */
START_TEST(test_log_order_and_stop)
{
    void *h = open_at(&here);
    struct walked w = { .stop_at = 3 };
    ts_error err = { 0 };
    char e[16];

    for (int i = 0; i < 5; i++) {
        snprintf(e, sizeof e, "e%d", i);
        raw_log_append_ok(h, e, 100);
    }
    ck_assert_str_eq(walk(h), "e0|e1|e2|e3|e4");
    ck_assert_int_eq(vt->log_walk(h, gather, &w, &err), 42);
    ck_assert_int_eq(w.count, 3);
    ck_assert_str_eq(w.all, "e0|e1|e2");
    /* The stopped walk left nothing open: the next one starts over. */
    ck_assert_str_eq(walk(h), "e0|e1|e2|e3|e4");
    raw_close(h);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Read-only                                                           */
/* ------------------------------------------------------------------ */

/* A read-only handle on a database without the side tables reads no
 * note and an empty log, refuses to write, and changes nothing. */
START_TEST(test_read_only_makes_nothing)
{
    ts_error err = { 0 };
    struct stat st0, st1;
    struct walked w = { 0 };

    make_sample(here.path);
    char schema[8192];
    snprintf(schema, sizeof schema, "%s", peek(here.path, SCHEMA));
    ck_assert_int_eq(stat(here.path, &st0), 0);
    void *h = open_at(&reader);
    ck_assert_ptr_null(get(h, "oauth:id:1"));
    ck_assert_str_eq(walk(h), "");
    ck_assert_int_eq(vt->note_set(h, "n", "v", 0, &err), TS_ERR_READ_ONLY);
    ck_assert_int_eq(vt->note_set(h, "n", NULL, 0, &err), TS_ERR_READ_ONLY);
    ck_assert_int_eq(vt->log_append(h, "e", 10, &err), TS_ERR_READ_ONLY);
    ck_assert_msg(strstr(err.message, "read-only") && strstr(err.message, here.path), "%s",
                  err.message);
    raw_close(h);

    /* The same through the library, as `tokenstore refreshes` reads. */
    ts_store *s;
    char uri[600];
    snprintf(uri, sizeof uri, "sqlite:%s", here.path);
    ck_assert_msg(ts_store_open_flags(&s, uri, TS_OPEN_READ_ONLY, &err) == TS_OK, "%s",
                  err.message);
    ck_assert_int_eq(ts_oauth_refresh_log(s, gather, &w, &err), TS_OK);
    ck_assert_int_eq(w.count, 0);
    ts_store_close(s);

    ck_assert_str_eq(peek(here.path, SCHEMA), schema);
    ck_assert_int_eq(stat(here.path, &st1), 0);
    ck_assert_int_eq(st1.st_size, st0.st_size);
    ck_assert_msg(st1.st_mtim.tv_sec == st0.st_mtim.tv_sec &&
                  st1.st_mtim.tv_nsec == st0.st_mtim.tv_nsec, "the file's mtime changed");
}
END_TEST

/* A reader opened before anything was written sees the notes and the
 * log a writer adds later, whether the writer is still there or gone. */
START_TEST(test_read_only_sees_later_writes)
{
    raw_close(open_at(&here));             /* our table, and no writer left */
    void *r = open_at(&reader);

    ck_assert_ptr_null(get(r, "n"));
    ck_assert_str_eq(walk(r), "");
    void *w = open_at(&here);
    raw_note_set_ok(w, "n", "first", 0);
    raw_log_append_ok(w, "e1", 10);
    ck_assert_str_eq(get(r, "n"), "first");
    ck_assert_str_eq(walk(r), "e1");
    raw_close(w);
    w = open_at(&here);
    raw_note_set_ok(w, "n", "second", 0);
    raw_log_append_ok(w, "e2", 10);
    raw_close(w);
    ck_assert_str_eq(get(r, "n"), "second");
    ck_assert_str_eq(walk(r), "e1|e2");
    raw_close(r);
}
END_TEST

/* Dropped by hand while a handle had it open: reads as empty, and the
 * next write makes it again. */
START_TEST(test_dropped_table_comes_back)
{
    void *h = open_at(&here);

    raw_note_set_ok(h, "n", "v", 0);
    raw_log_append_ok(h, "e1", 10);
    ck_assert_str_eq(walk(h), "e1");
    ck_assert_str_eq(get(h, "n"), "v");
    exec_sql(here.path, "DROP TABLE oauthtoken_log; DROP TABLE oauthtoken_notes");
    ck_assert_str_eq(walk(h), "");
    ck_assert_ptr_null(get(h, "n"));
    raw_log_append_ok(h, "e2", 10);
    raw_note_set_ok(h, "n", "again", 0);
    ck_assert_str_eq(walk(h), "e2");
    ck_assert_str_eq(get(h, "n"), "again");
    raw_close(h);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Processes and threads                                               */
/* ------------------------------------------------------------------ */

#define APPENDS 300

/* Appends "W I" for I = 0..n-1 through a handle of its own. */
static int append_run(int who, int n, size_t keep)
{
    void *h;
    ts_error err = { 0 };
    char e[32];

    if (!(h = try_open_at(&here, &err)))
        return 1;
    for (int i = 0; i < n; i++) {
        snprintf(e, sizeof e, "%d %d", who, i);
        if (vt->log_append(h, e, keep, &err) != TS_OK) {
            fprintf(stderr, "writer %d, entry %d: %s\n", who, i, err.message);
            raw_close(h);
            return 2;
        }
    }
    raw_close(h);
    return 0;
}

/* Checks the log `writers` writers left, each having appended n entries:
 * keep in all (or every entry), and each writer's in its order, a run
 * that ends with its last (an entry is kept only with those after it). */
static void check_runs(const char *log, int writers, int n, int keep)
{
    int next[16], seen = 0;
    const char *p = log;

    for (int k = 0; k < writers; k++)
        next[k] = -1;
    while (*p) {
        int who, i, used;
        ck_assert_msg(sscanf(p, "%d %d%n", &who, &i, &used) == 2 && who >= 0 && who < writers,
                      "entry %d: %.40s", seen, p);
        ck_assert_msg(next[who] == -1 || i == next[who], "writer %d: entry %d after %d", who,
                      i, next[who] - 1);
        next[who] = i + 1;
        seen++;
        p += used;
        p += *p == '|';
    }
    int total = writers * n;
    ck_assert_int_eq(seen, keep < total ? keep : total);
    for (int k = 0; k < writers; k++)
        ck_assert_msg(next[k] == n || (next[k] == -1 && keep < total),
                      "writer %d: its last entry is %d of %d", k, next[k] - 1, n);
}

static int append_process(int k, void *keep)
{
    return append_run(k, APPENDS, *(const size_t *)keep);
}

static void processes_append(size_t keep)
{
    raw_close(open_at(&here));
    run_processes(2, append_process, &keep, NULL);
    void *h = open_at(&reader);
    check_runs(walk(h), 2, APPENDS, (int)keep);
    raw_close(h);
}

/* Two processes appending at once lose no entry, and with a cap below
 * what they wrote, keep exactly the newest. */
START_TEST(test_two_processes_append)
{
    processes_append(1000);
}
END_TEST

START_TEST(test_two_processes_append_past_the_cap)
{
    processes_append(100);
}
END_TEST

struct appender {
    int who, rc;
};

static void *append_thread(void *p)
{
    struct appender *a = p;
    a->rc = append_run(a->who, 200, 100000);
    return NULL;
}

/* Threads, each with a handle of its own. */
START_TEST(test_threads_append)
{
    struct appender a[4];
    pthread_t th[4];

    raw_close(open_at(&here));
    for (int k = 0; k < 4; k++) {
        a[k] = (struct appender){ k, -1 };
        ck_assert_int_eq(pthread_create(&th[k], NULL, append_thread, &a[k]), 0);
    }
    for (int k = 0; k < 4; k++) {
        pthread_join(th[k], NULL);
        ck_assert_int_eq(a[k].rc, 0);
    }
    void *h = open_at(&here);
    check_runs(walk(h), 4, 200, 100000);
    raw_close(h);
}
END_TEST

/* A handle that used its notes and log before a fork: the child, after
 * `forked`, reads and writes them through a connection of its own, and
 * the parent's handle goes on working. */
START_TEST(test_fork_follows_the_notes)
{
    void *h = open_at(&here);
    ts_error err = { 0 };
    int status;

    raw_note_set_ok(h, "n", "parent", 0);
    raw_log_append_ok(h, "parent", 10);
    ck_assert_str_eq(walk(h), "parent");
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char v[64];
        struct walked w = { 0 };
        int bad = vt->forked(h, &err) != TS_OK;
        bad |= (vt->note_get(h, "n", v, sizeof v, &err) != TS_OK || strcmp(v, "parent") != 0) << 1;
        bad |= (vt->log_append(h, "child", 10, &err) != TS_OK) << 2;
        bad |= (vt->note_set(h, "n", "child", 0, &err) != TS_OK) << 3;
        bad |= (vt->log_walk(h, gather, &w, &err) != TS_OK ||
                strcmp(w.all, "parent|child") != 0) << 4;
        raw_close(h);
        _exit(bad);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: status %#x", status);
    ck_assert_str_eq(walk(h), "parent|child");
    ck_assert_str_eq(get(h, "n"), "child");
    raw_log_append_ok(h, "parent again", 10);
    ck_assert_str_eq(walk(h), "parent|child|parent again");
    raw_close(h);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("sqlite notes");
    TCase *tc = tcase_create("notes");

    tcase_add_checked_fixture(tc, setup, remove_scratch);
    tcase_add_test(tc, test_tables_beside_the_sdk_s);
    tcase_add_test(tc, test_tables_follow_the_table_option);
    tcase_add_test(tc, test_long_values_round_trip);
    tcase_add_test(tc, test_note_ttl);
    tcase_add_test(tc, test_note_removal);
    tcase_add_test(tc, test_note_buffer_too_small);
    tcase_add_test(tc, test_foreign_table_is_named);
    tcase_add_test(tc, test_log_cap);
    tcase_add_test(tc, test_log_order_and_stop);
    tcase_add_test(tc, test_read_only_makes_nothing);
    tcase_add_test(tc, test_read_only_sees_later_writes);
    tcase_add_test(tc, test_dropped_table_comes_back);
    suite_add_tcase(suite, tc);

    tc = tcase_create("concurrency");
    tcase_add_checked_fixture(tc, setup, remove_scratch);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_two_processes_append);
    tcase_add_test(tc, test_two_processes_append_past_the_cap);
    tcase_add_test(tc, test_threads_append);
    tcase_add_test(tc, test_fork_follows_the_notes);
    suite_add_tcase(suite, tc);
    return run_suite(suite);
}
