/*
 * tests/sqlite/test_sqlite.c - the sqlite backend against the database the
 * Zoho SDK's sample CustomStoreSQLite makes, and against the ways that
 * sample fails.
 *
 * Everything goes through the public API (ts_store_open_config with
 * backend "sqlite"); the sqlite3 API builds fixtures and looks at what
 * was really written. The fixture database is built from
 * tests/fixtures/sqlite/sample.sql: the sample's own CREATE TABLE and
 * twelve rows with text ids, so the "9" > "10" trap is in it.
 *
 * The multi-process and SIGKILL cases fork real writers; they run with a
 * longer Check timeout.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"
#include "../test_store.h"

/* A path in the scratch directory; each call has its own buffer. */
static const char *in_scratch(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];

    snprintf(b, sizeof bufs[0], "%s/%s", scratch, name);
    return b;
}

/* ------------------------------------------------------------------ */
/* The store                                                           */
/* ------------------------------------------------------------------ */

/* Opens the sqlite backend on path (NULL: no path option) with TS_OPEN_*
 * flags and extra key/value options, NULL-terminated. */
static int open_store_flags(ts_store **out, const char *path, unsigned flags, ts_error *err,
                            ...)
{
    ts_config *cfg;
    va_list ap;
    const char *k;

    ck_assert_int_eq(ts_config_new(&cfg), TS_OK);
    ts_config_set_logger(cfg, NULL, NULL, 0);
    ck_assert_int_eq(ts_config_set_backend(cfg, "sqlite", NULL), TS_OK);
    if (path)
        ck_assert_int_eq(ts_config_set_option(cfg, "path", path, NULL), TS_OK);
    va_start(ap, err);
    while ((k = va_arg(ap, const char *))) {
        const char *v = va_arg(ap, const char *);
        ck_assert_int_eq(ts_config_set_option(cfg, k, v, NULL), TS_OK);
    }
    va_end(ap);
    int rc = ts_store_open_config_flags(out, cfg, flags, err);
    ts_config_free(cfg);
    return rc;
}

#define open_store(out, path, ...) open_store_flags(out, path, 0, __VA_ARGS__)

static ts_store *open_ok(const char *path)
{
    ts_store *s;
    ts_error err = { 0 };

    ck_assert_msg(open_store(&s, path, &err, NULL) == TS_OK, "open %s: %s", path, err.message);
    return s;
}

/* Saves a new user's token and returns the id it got (static buffer). */
static const char *save_user(ts_store *s, const char *user, const char *access)
{
    static char id[32];
    ts_error err = { 0 };
    ts_token *t = make_token(user, "1000.refresh", access);

    ck_assert_msg(ts_save_token(s, t, &err) == TS_OK, "save %s: %s", user, err.message);
    snprintf(id, sizeof id, "%s", ts_token_get(t, TS_FIELD_ID));
    ts_token_free(t);
    return id;
}

/* find_token by user name; NULL when not found. Caller frees. */
static ts_token *find_row(ts_store *s, const char *user)
{
    ts_token *t = ts_token_new();
    ts_error err = { 0 };

    ts_token_set(t, TS_FIELD_USER_NAME, user);
    int rc = ts_find_token(s, t, &err);
    if (rc == TS_NOT_FOUND) {
        ts_token_free(t);
        return NULL;
    }
    ck_assert_msg(rc == TS_OK, "find %s: %s", user, err.message);
    return t;
}

struct id_list {
    char ids[4096];
    int count;
};

static int collect_id(const ts_token *t, void *ud)
{
    struct id_list *l = ud;
    size_t used = strlen(l->ids);

    snprintf(l->ids + used, sizeof l->ids - used, "%s%s", l->count++ ? "," : "",
             ts_token_get(t, TS_FIELD_ID));
    return 0;
}

static void all_ids(ts_store *s, struct id_list *l)
{
    ts_error err = { 0 };

    memset(l, 0, sizeof *l);
    ck_assert_msg(ts_get_tokens(s, collect_id, l, &err) == TS_OK, "get_tokens: %s", err.message);
}

/* ------------------------------------------------------------------ */
/* Raw SQLite                                                          */
/* ------------------------------------------------------------------ */

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db;

    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                     SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "?");
    sqlite3_free(msg);
}

/* The first column of the first row as text ("" for NULL or no row). */
static const char *raw_text(sqlite3 *db, const char *sql)
{
    static char buf[4][1024];
    static int next;
    char *b = buf[next++ % 4];
    sqlite3_stmt *st;

    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    b[0] = '\0';
    int rc = sqlite3_step(st);
    ck_assert_msg(rc == SQLITE_ROW || rc == SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(db));
    if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(b, sizeof buf[0], "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return b;
}

static long raw_long(sqlite3 *db, const char *sql)
{
    return atol(raw_text(db, sql));
}

/* Builds path from tests/fixtures/sqlite/sample.sql. */
static void make_sample_db(const char *path)
{
    const char *top = getenv("top_srcdir");
    char file[512];
    static char sql[65536];

    snprintf(file, sizeof file, "%s/tests/fixtures/sqlite/sample.sql", top ? top : ".");
    FILE *f = fopen(file, "r");
    ck_assert_msg(f != NULL, "cannot open %s", file);
    size_t n = fread(sql, 1, sizeof sql - 1, f);
    fclose(f);
    sql[n] = '\0';
    sqlite3 *db = raw_open(path);
    raw_exec(db, sql);
    sqlite3_close(db);
}

static const char sample_create[] =
    "CREATE TABLE oauthtoken (id varchar(10) NOT NULL, user_name varchar(255), "
    "client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), "
    "access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), "
    "redirect_url varchar(255), api_domain varchar(255), primary key (id))";

/* ------------------------------------------------------------------ */
/* The sample's database                                               */
/* ------------------------------------------------------------------ */

START_TEST(test_sample_db_is_read)
{
    const char *db = in_scratch("zohooauth.db");
    struct id_list l;

    make_sample_db(db);
    ts_store *s = open_ok(db);
    all_ids(s, &l);
    ck_assert_int_eq(l.count, 12);
    ck_assert_str_eq(l.ids, "1,2,3,4,5,6,7,8,9,10,11,12");

    ts_token *t = find_row(s, "user10@zoho.com");
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "10");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_CLIENT_SECRET), "secret10");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_REFRESH_TOKEN), "1000.refresh10");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_EXPIRY_TIME), "1700000010000");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_API_DOMAIN), "https://www.zohoapis.com");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_GRANT_TOKEN), "");    /* NULL in the file */
    ts_token_free(t);

    /* By access token alone (no client credentials), and by grant token
     * with them; row 11's '' grant token is absent, not a match for "". */
    t = ts_token_new();
    ts_token_set(t, TS_FIELD_ACCESS_TOKEN, "1000.access07");
    ck_assert_int_eq(ts_find_token(s, t, NULL), TS_OK);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_USER_NAME), "user7@zoho.com");
    ts_token_free(t);
    t = ts_token_new();
    ts_token_set(t, TS_FIELD_CLIENT_ID, "1000.CLIENT12");
    ts_token_set(t, TS_FIELD_CLIENT_SECRET, "secret12");
    ts_token_set(t, TS_FIELD_GRANT_TOKEN, "1000.grant12");
    ck_assert_int_eq(ts_find_token(s, t, NULL), TS_OK);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "12");
    ts_token_free(t);

    t = ts_token_new();
    ck_assert_int_eq(ts_find_token_by_id(s, "11", t, NULL), TS_OK);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_USER_NAME), "user11@zoho.com");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_GRANT_TOKEN), "");
    ck_assert_int_eq(ts_find_token_by_id(s, "13", t, NULL), TS_NOT_FOUND);
    ts_token_free(t);
    ts_store_close(s);
}
END_TEST

START_TEST(test_sample_db_is_updated_in_place)
{
    const char *db = in_scratch("zohooauth.db");
    ts_error err = { 0 };

    make_sample_db(db);
    ts_store *s = open_ok(db);
    ts_token *t = ts_token_new();
    ts_token_set(t, TS_FIELD_USER_NAME, "user3@zoho.com");
    ts_token_set(t, TS_FIELD_ACCESS_TOKEN, "1000.access03.new");
    ts_token_set(t, TS_FIELD_EXPIRY_TIME, "1800000000000");
    ck_assert_msg(ts_save_token(s, t, &err) == TS_OK, "%s", err.message);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "3");
    /* The caller's empty fields came from the stored row. */
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_REFRESH_TOKEN), "1000.refresh03");
    ts_token_free(t);
    ts_store_close(s);

    sqlite3 *raw = raw_open(db);
    ck_assert_int_eq(raw_long(raw, "SELECT count(*) FROM oauthtoken"), 12);
    ck_assert_str_eq(raw_text(raw, "SELECT access_token FROM oauthtoken WHERE id = '3'"),
                     "1000.access03.new");
    ck_assert_str_eq(raw_text(raw, "SELECT expiry_time FROM oauthtoken WHERE id = '3'"),
                     "1800000000000");
    ck_assert_str_eq(raw_text(raw, "SELECT client_secret || refresh_token || grant_token "
                                   "FROM oauthtoken WHERE id = '3'"),
                     "secret031000.refresh031000.grant03");
    ck_assert_str_eq(raw_text(raw, "SELECT access_token FROM oauthtoken WHERE id = '4'"),
                     "1000.access04");
    /* The sample's table definition is untouched; only indexes were added. */
    char want[600];
    snprintf(want, sizeof want, "%s", sample_create);
    ck_assert_str_eq(raw_text(raw, "SELECT sql FROM sqlite_master WHERE name = 'oauthtoken'"),
                     want);
    ck_assert_int_eq(raw_long(raw, "SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                                   "AND name LIKE 'oauthtoken_%_idx'"), 5);
    sqlite3_close(raw);
}
END_TEST

START_TEST(test_sample_db_is_extended_after_id_9)
{
    const char *db = in_scratch("zohooauth.db");

    make_sample_db(db);
    ts_store *s = open_ok(db);
    ck_assert_str_eq(save_user(s, "new1@zoho.com", "1000.a13"), "13");
    ck_assert_str_eq(save_user(s, "new2@zoho.com", "1000.a14"), "14");
    ts_store_close(s);

    sqlite3 *raw = raw_open(db);
    ck_assert_str_eq(raw_text(raw, "SELECT typeof(id) || ':' || user_name FROM oauthtoken "
                                   "WHERE id = '14'"), "text:new2@zoho.com");
    ck_assert_int_eq(raw_long(raw, "SELECT count(DISTINCT id) FROM oauthtoken"), 14);
    sqlite3_close(raw);
}
END_TEST

/* A database we create has the sample's table, so the sample's own
 * statements work on it. */
START_TEST(test_created_db_has_sample_table)
{
    const char *db = in_scratch("new.db");

    ts_store *s = open_ok(db);
    save_user(s, "a@zoho.com", "1000.a1");
    ts_store_close(s);

    sqlite3 *raw = raw_open(db);
    ck_assert_str_eq(raw_text(raw, "SELECT group_concat(name || ' ' || type || ' ' || \"notnull\" "
                                   "|| ' ' || pk, ', ') FROM pragma_table_info('oauthtoken')"),
                     "id varchar(10) 1 1, user_name varchar(255) 0 0, client_id varchar(255) 0 0, "
                     "client_secret varchar(255) 0 0, refresh_token varchar(255) 0 0, "
                     "access_token varchar(255) 0 0, grant_token varchar(255) 0 0, "
                     "expiry_time varchar(20) 0 0, redirect_url varchar(255) 0 0, "
                     "api_domain varchar(255) 0 0");
    ck_assert_str_eq(raw_text(raw, "SELECT typeof(id) || ':' || id FROM oauthtoken"), "text:1");
    /* The sample inserts a row its way; we read it. */
    raw_exec(raw, "INSERT INTO oauthtoken VALUES ('2', 'b@zoho.com', 'c', 's', 'r', 'x', NULL, "
                  "'1', 'u', 'd')");
    sqlite3_close(raw);
    s = open_ok(db);
    ts_token *t = find_row(s, "b@zoho.com");
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "2");
    ts_token_free(t);
    ts_store_close(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Where the sample breaks                                             */
/* ------------------------------------------------------------------ */

START_TEST(test_ids_are_numeric_past_ten)
{
    ts_store *s = open_ok(in_scratch("t.db"));
    char user[64], want[16];
    struct id_list l;

    for (int i = 1; i <= 21; i++) {
        snprintf(user, sizeof user, "u%d@x.com", i);
        snprintf(want, sizeof want, "%d", i);
        ck_assert_str_eq(save_user(s, user, "1000.a"), want);
    }
    ck_assert_int_eq(ts_delete_token(s, "21", NULL), TS_OK);
    ck_assert_int_eq(ts_delete_token(s, "5", NULL), TS_OK);
    ck_assert_str_eq(save_user(s, "u22@x.com", "1000.a"), "21");   /* max + 1, as the SDK */
    all_ids(s, &l);
    ck_assert_str_eq(l.ids, "1,2,3,4,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21");
    ts_store_close(s);
}
END_TEST

START_TEST(test_injection_strings_are_values)
{
    const char *db = in_scratch("t.db");
    const char *evil[] = { "o'brien@x.com", "'; DROP TABLE oauthtoken;--",
                           "\"; DELETE FROM oauthtoken; --", "x' OR '1'='1" };
    ts_store *s = open_ok(db);
    char id[4][32];

    for (int i = 0; i < 4; i++)
        snprintf(id[i], sizeof id[i], "%s", save_user(s, evil[i], evil[(i + 1) % 4]));
    ck_assert_str_eq(id[0], "1");
    ck_assert_str_eq(id[3], "4");
    for (int i = 0; i < 4; i++) {
        ts_token *t = find_row(s, evil[i]);
        ck_assert_msg(t != NULL, "%s not found", evil[i]);
        ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), id[i]);
        ck_assert_str_eq(ts_token_get(t, TS_FIELD_ACCESS_TOKEN), evil[(i + 1) % 4]);
        ts_token_free(t);
    }
    /* Matching is exact: the classic always-true string finds nothing. */
    ck_assert_ptr_null(find_row(s, "nobody' OR '1'='1"));
    ts_token *t = ts_token_new();
    ts_token_set(t, TS_FIELD_ACCESS_TOKEN, "'; DROP TABLE oauthtoken;--");
    ck_assert_int_eq(ts_find_token(s, t, NULL), TS_OK);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_USER_NAME), "o'brien@x.com");
    ts_token_free(t);
    ts_store_close(s);

    sqlite3 *raw = raw_open(db);
    ck_assert_int_eq(raw_long(raw, "SELECT count(*) FROM oauthtoken"), 4);
    ck_assert_str_eq(raw_text(raw, "SELECT user_name FROM oauthtoken WHERE id = '2'"), evil[1]);
    sqlite3_close(raw);
}
END_TEST

START_TEST(test_delete_tokens_commits)
{
    const char *db = in_scratch("t.db");
    ts_store *s = open_ok(db);
    struct id_list l;

    save_user(s, "a@x.com", "1000.a");
    save_user(s, "b@x.com", "1000.b");
    ck_assert_int_eq(ts_delete_tokens(s, NULL), TS_OK);
    /* Another connection sees it while ours is still open. */
    sqlite3 *raw = raw_open(db);
    ck_assert_int_eq(raw_long(raw, "SELECT count(*) FROM oauthtoken"), 0);
    sqlite3_close(raw);
    all_ids(s, &l);
    ck_assert_int_eq(l.count, 0);
    ck_assert_str_eq(save_user(s, "c@x.com", "1000.c"), "1");
    ts_store_close(s);
}
END_TEST

/* Whether any of the database's files (main, -wal, -journal) holds the
 * bytes. */
static int on_disk(const char *db, const char *needle)
{
    static const char *const suffixes[] = { "", "-wal", "-journal" };
    int found = 0;

    for (size_t i = 0; i < 3 && !found; i++) {
        char path[PATH_MAX], *data = NULL;
        size_t len = 0;
        snprintf(path, sizeof path, "%s%s", db, suffixes[i]);
        FILE *f = fopen(path, "rb"), *mem = open_memstream(&data, &len);
        char buf[4096];
        size_t n;
        while (f && (n = fread(buf, 1, sizeof buf, f)) > 0)
            fwrite(buf, 1, n, mem);
        fclose(mem);
        found = memmem(data, len, needle, strlen(needle)) != NULL;
        free(data);
        if (f)
            fclose(f);
    }
    return found;
}

/* A deleted token leaves the disk while the store stays open: not in the
 * database's pages, not in the WAL's frames. */
START_TEST(test_deleted_token_leaves_the_wal)
{
    const char *db = in_scratch("t.db");
    ts_store *s = open_ok(db), *other = open_ok(db);
    ts_error err = { 0 };
    ts_token *t = make_token("gone@x.com", "1000.refresh-SECRET-R1", "1000.access-SECRET-A1");

    ck_assert_int_eq(ts_save_token(s, t, &err), TS_OK);
    save_user(s, "stays@x.com", "1000.access-stays");
    ck_assert(on_disk(db, "1000.refresh-SECRET-R1"));
    ck_assert_int_eq(ts_delete_token(s, ts_token_get(t, TS_FIELD_ID), &err), TS_OK);
    ck_assert_msg(!on_disk(db, "1000.refresh-SECRET-R1"), "the deleted refresh token is on disk");
    ck_assert(!on_disk(db, "1000.access-SECRET-A1"));

    ts_token_free(t);
    t = make_token("gone2@x.com", "1000.refresh-SECRET-R2", "1000.access-SECRET-A2");
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_OK);
    ck_assert_int_eq(ts_delete_tokens(other, &err), TS_OK);
    ck_assert(!on_disk(db, "1000.refresh-SECRET-R2"));
    ck_assert(!on_disk(db, "1000.access-stays"));
    ts_token_free(t);
    ts_store_close(other);
    ts_store_close(s);
}
END_TEST

/* A refresh token (or client secret) replaced by a save leaves the disk
 * as a deleted one does, while the store stays open and after it closes;
 * the new one is there. */
START_TEST(test_replaced_secret_leaves_the_wal)
{
    const char *db = in_scratch("t.db");
    ts_store *s = open_ok(db), *other = open_ok(db);
    ts_token *t = make_token("kept@x.com", "1000.refresh-OLD-R1", "1000.access-A1");

    ts_token_set(t, TS_FIELD_CLIENT_SECRET, "secret-OLD-S1");
    save_ok(s, t);
    save_user(other, "other@x.com", "1000.access-other");
    ck_assert(on_disk(db, "1000.refresh-OLD-R1"));
    ts_token_set(t, TS_FIELD_REFRESH_TOKEN, "1000.refresh-NEW-R2");
    save_ok(s, t);
    ck_assert_msg(!on_disk(db, "1000.refresh-OLD-R1"), "the replaced refresh token is on disk");
    ck_assert(on_disk(db, "1000.refresh-NEW-R2"));

    /* From another handle, and the client secret too. */
    ts_token_set(t, TS_FIELD_REFRESH_TOKEN, "1000.refresh-NEW-R3");
    ts_token_set(t, TS_FIELD_CLIENT_SECRET, "secret-NEW-S2");
    save_ok(other, t);
    ck_assert(!on_disk(db, "1000.refresh-NEW-R2"));
    ck_assert(!on_disk(db, "secret-OLD-S1"));
    ts_store_close(other);
    ts_store_close(s);
    ck_assert(!on_disk(db, "1000.refresh-OLD-R1"));
    ck_assert(!on_disk(db, "1000.refresh-NEW-R2"));
    ck_assert(on_disk(db, "1000.refresh-NEW-R3"));
    ts_token_free(t);
}
END_TEST

/* A link where SQLite would create its log is refused, not followed. */
START_TEST(test_side_file_links_are_refused)
{
    const char *db = in_scratch("t.db");
    char wal[PATH_MAX], victim[PATH_MAX];
    ts_store *s = open_ok(db);
    ts_error err = { 0 };

    save_user(s, "a@x.com", "1000.a");
    ts_store_close(s);
    snprintf(wal, sizeof wal, "%s-wal", db);
    snprintf(victim, sizeof victim, "%s", in_scratch("victim"));
    FILE *f = fopen(victim, "w");
    ck_assert_ptr_nonnull(f);
    fputs("keep", f);
    fclose(f);
    ck_assert_int_eq(symlink(victim, wal), 0);
    ck_assert_int_eq(open_store(&s, db, &err, NULL), TS_ERR_IO);
    ck_assert_msg(strstr(err.message, "-wal: it is a symbolic link"), "%s", err.message);
    struct stat st;
    ck_assert_int_eq(stat(victim, &st), 0);
    ck_assert_int_eq(st.st_size, 4);
}
END_TEST

START_TEST(test_empty_table_opens_again)
{
    const char *db = in_scratch("t.db");
    struct id_list l;

    ts_store_close(open_ok(db));
    ts_store *a = open_ok(db);
    ts_store *b = open_ok(db);
    all_ids(a, &l);
    ck_assert_int_eq(l.count, 0);
    ck_assert_str_eq(save_user(a, "a@x.com", "1000.a"), "1");
    ts_token *t = find_row(b, "a@x.com");          /* one handle sees the other's save */
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ACCESS_TOKEN), "1000.a");
    ts_token_free(t);
    ts_store_close(a);
    ts_store_close(b);

    /* The sample's empty table, made by the sample's statement. */
    const char *sample = in_scratch("sample.db");
    sqlite3 *raw = raw_open(sample);
    raw_exec(raw, sample_create);
    sqlite3_close(raw);
    a = open_ok(sample);
    ts_store_close(a);
    a = open_ok(sample);
    ck_assert_str_eq(save_user(a, "a@x.com", "1000.a"), "1");
    ts_store_close(a);
}
END_TEST

START_TEST(test_delete_token)
{
    ts_store *s = open_ok(in_scratch("t.db"));
    ts_token *t = ts_token_new();

    save_user(s, "a@x.com", "1000.a");
    save_user(s, "b@x.com", "1000.b");
    ck_assert_int_eq(ts_delete_token(s, "2", NULL), TS_OK);
    ck_assert_int_eq(ts_delete_token(s, "2", NULL), TS_NOT_FOUND);
    ck_assert_int_eq(ts_find_token_by_id(s, "2", t, NULL), TS_NOT_FOUND);
    ck_assert_int_eq(ts_find_token_by_id(s, "1", t, NULL), TS_OK);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_USER_NAME), "a@x.com");
    ts_token_free(t);
    ts_store_close(s);
}
END_TEST

START_TEST(test_save_rules)
{
    const char *db = in_scratch("t.db");
    ts_store *s = open_ok(db);
    ts_error err = { 0 };

    save_user(s, "a@x.com", "1000.a");
    save_user(s, "b@x.com", "1000.b");
    ck_assert_str_eq(save_user(s, "a@x.com", "1000.a"), "1");   /* same token: same row */
    ck_assert_str_eq(save_user(s, "a@x.com", "1000.a2"), "1");

    /* Renaming row 1 to b's name would give b two rows: refused, and the
     * transaction leaves nothing behind. */
    ts_token *t = make_token("b@x.com", "1000.r", "1000.changed");
    ts_token_set(t, TS_FIELD_ID, "1");
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_CONFLICT);
    ck_assert_ptr_nonnull(strstr(err.message, "sqlite"));
    ts_token_free(t);

    /* An absent value is stored as NULL, as the sample's None. */
    t = ts_token_new();
    ts_token_set(t, TS_FIELD_USER_NAME, "c@x.com");
    ts_token_set(t, TS_FIELD_REFRESH_TOKEN, "1000.r");
    ck_assert_int_eq(ts_save_token(s, t, NULL), TS_OK);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "3");
    ts_token_free(t);

    /* A save with a new id the table lacks inserts under that id. */
    t = make_token("d@x.com", "1000.r", "1000.d");
    ts_token_set(t, TS_FIELD_ID, "40");
    ck_assert_int_eq(ts_save_token(s, t, NULL), TS_OK);
    ts_token_free(t);
    ck_assert_str_eq(save_user(s, "e@x.com", "1000.e"), "41");
    ts_store_close(s);

    sqlite3 *raw = raw_open(db);
    ck_assert_str_eq(raw_text(raw, "SELECT access_token FROM oauthtoken WHERE id = '1'"),
                     "1000.a2");
    ck_assert_str_eq(raw_text(raw, "SELECT user_name FROM oauthtoken WHERE id = '1'"), "a@x.com");
    ck_assert_str_eq(raw_text(raw, "SELECT typeof(access_token) || typeof(grant_token) "
                                   "FROM oauthtoken WHERE id = '3'"), "nullnull");
    ck_assert_int_eq(raw_long(raw, "SELECT count(*) FROM oauthtoken"), 5);
    sqlite3_close(raw);
}
END_TEST

/* The next id is found through the index on CAST(id AS INTEGER), not a
 * scan of the table. */
START_TEST(test_next_id_uses_an_index)
{
    const char *db = in_scratch("t.db");

    ts_store_close(open_ok(db));
    sqlite3 *raw = raw_open(db);
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(raw, "EXPLAIN QUERY PLAN SELECT max(CAST(id AS INTEGER)) "
                                             "FROM oauthtoken", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    const char *plan = (const char *)sqlite3_column_text(st, 3);
    ck_assert_msg(strncmp(plan, "SEARCH", 6) == 0 && strstr(plan, "oauthtoken_numeric_id_idx"),
                  "plan: %s", plan);
    sqlite3_finalize(st);
    ck_assert_str_eq(raw_text(raw, "PRAGMA journal_mode"), "wal");
    sqlite3_close(raw);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Files, options, errors                                              */
/* ------------------------------------------------------------------ */

static void read_file(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "r");

    ck_assert_ptr_nonnull(f);
    buf[fread(buf, 1, n - 1, f)] = '\0';
    fclose(f);
}

START_TEST(test_not_a_database)
{
    const char *db = in_scratch("tokens.csv");
    const char text[] = "id,user_name,client_id\n1,a@x.com,1000.C\n"
                        "this file is long enough to hold a SQLite header and is not one\n";
    char after[512];
    ts_store *s;
    ts_error err = { 0 };

    FILE *f = fopen(db, "w");
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(open_store(&s, db, &err, NULL), TS_ERR_CORRUPT);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err.message, db) && strstr(err.message, "not a SQLite database"),
                  "message: %s", err.message);
    read_file(db, after, sizeof after);
    ck_assert_str_eq(after, text);
    ck_assert_int_eq(access(in_scratch("tokens.csv-wal"), F_OK), -1);

    ck_assert_int_eq(open_store(&s, scratch, &err, NULL), TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, scratch) && strstr(err.message, "is a directory"),
                  "message: %s", err.message);
}
END_TEST

START_TEST(test_missing_column)
{
    const char *db = in_scratch("t.db");
    const char create[] = "CREATE TABLE oauthtoken (id varchar(10) NOT NULL, "
                          "user_name varchar(255), "
                          "client_id varchar(255), client_secret varchar(255), refresh_token "
                          "varchar(255), access_token varchar(255), expiry_time varchar(20), "
                          "redirect_url varchar(255), primary key (id))";
    ts_store *s;
    ts_error err = { 0 };

    sqlite3 *raw = raw_open(db);
    raw_exec(raw, create);
    raw_exec(raw, "INSERT INTO oauthtoken (id, user_name) VALUES ('1', 'a@x.com')");
    ck_assert_int_eq(open_store(&s, db, &err, NULL), TS_ERR_CORRUPT);
    ck_assert_msg(strstr(err.message, db) && strstr(err.message, "table oauthtoken") &&
                  strstr(err.message, "grant_token, api_domain"), "message: %s", err.message);
    /* Nothing was migrated or indexed. */
    ck_assert_str_eq(raw_text(raw, "SELECT sql FROM sqlite_master WHERE name = 'oauthtoken'"),
                     create);
    ck_assert_int_eq(raw_long(raw, "SELECT count(*) FROM sqlite_master"), 2);  /* table + pk */
    ck_assert_int_eq(raw_long(raw, "SELECT count(*) FROM oauthtoken"), 1);
    sqlite3_close(raw);
}
END_TEST

/* A value another program stored with a NUL byte inside cannot be a
 * token value: an error naming the row and column, not a cut string. */
START_TEST(test_nul_byte_is_reported)
{
    const char *db = in_scratch("t.db");
    ts_store *s = open_ok(db);
    ts_error err = { 0 };

    save_user(s, "a@x.com", "1000.a");
    sqlite3 *raw = raw_open(db);
    raw_exec(raw, "UPDATE oauthtoken SET access_token = X'610062' WHERE id = '1'");
    sqlite3_close(raw);
    ts_token *t = ts_token_new();
    ts_token_set(t, TS_FIELD_USER_NAME, "a@x.com");
    ck_assert_int_eq(ts_find_token(s, t, &err), TS_ERR_CORRUPT);
    ck_assert_msg(strstr(err.message, db) && strstr(err.message, "column access_token") &&
                  strstr(err.message, "id 1"), "message: %s", err.message);
    ts_token_free(t);
    ts_store_close(s);
}
END_TEST

static unsigned file_mode(const char *path)
{
    struct stat st;

    ck_assert_msg(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
    return st.st_mode & 07777;
}

START_TEST(test_new_file_mode)
{
    ts_store *s;
    ts_error err = { 0 };

    umask(0);      /* the mode must not depend on the umask */
    s = open_ok(in_scratch("t.db"));
    ck_assert_uint_eq(file_mode(in_scratch("t.db")), 0600);
    save_user(s, "a@x.com", "1000.a");
    ck_assert_uint_eq(file_mode(in_scratch("t.db-wal")), 0600);
    ck_assert_uint_eq(file_mode(in_scratch("t.db-shm")), 0600);
    ts_store_close(s);

    ck_assert_int_eq(open_store(&s, in_scratch("g.db"), &err, "mode", "0640", NULL), TS_OK);
    ck_assert_uint_eq(file_mode(in_scratch("g.db")), 0640);
    ts_store_close(s);

    /* An existing file keeps its mode. */
    ck_assert_int_eq(chmod(in_scratch("g.db"), 0644), 0);
    ts_store_close(open_ok(in_scratch("g.db")));
    ck_assert_uint_eq(file_mode(in_scratch("g.db")), 0644);
}
END_TEST

START_TEST(test_bad_options)
{
    const char *bad[][2] = {
        { "table", "oauth token" }, { "table", "1abc" }, { "table", "t;DROP TABLE x" },
        { "table", "" }, { "synchronous", "SOMETIMES" }, { "mode", "0999" },
        { "busy_timeout_ms", "-1" }, { "path", "" }, { "colour", "blue" },
    };
    ts_store *s;
    ts_error err = { 0 };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *path = strcmp(bad[i][0], "path") ? in_scratch("t.db") : NULL;
        int rc = path ? open_store(&s, path, &err, bad[i][0], bad[i][1], NULL)
                      : open_store(&s, "", &err, NULL);
        ck_assert_msg(rc == TS_ERR_CONFIG, "%s=%s: %d %s", bad[i][0], bad[i][1], rc, err.message);
        ck_assert_msg(strstr(err.message, bad[i][0]), "%s: %s", bad[i][0], err.message);
    }
    ck_assert_int_eq(access(in_scratch("t.db"), F_OK), -1);      /* nothing was created */
}
END_TEST

START_TEST(test_options_are_honoured)
{
    const char *db = in_scratch("t.db");
    ts_store *s;
    ts_error err = { 0 };

    ck_assert_msg(open_store(&s, db, &err, "table", "zoho_tokens", "synchronous", "full",
                             "busy_timeout_ms", "250", NULL) == TS_OK, "%s", err.message);
    save_user(s, "a@x.com", "1000.a");
    ts_store_close(s);
    sqlite3 *raw = raw_open(db);
    ck_assert_str_eq(raw_text(raw, "SELECT user_name FROM zoho_tokens WHERE id = '1'"), "a@x.com");
    ck_assert_int_eq(raw_long(raw, "SELECT count(*) FROM sqlite_master WHERE name IN "
                                   "('zoho_tokens_user_name_idx', "
                                   "'zoho_tokens_numeric_id_idx')"), 2);
    ck_assert_int_eq(raw_long(raw, "SELECT count(*) FROM sqlite_master "
                                   "WHERE name = 'oauthtoken'"), 0);
    sqlite3_close(raw);

    /* With no path: the sample's zohooauth.db in the working directory. */
    char cwd[512];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(scratch), 0);
    ck_assert_int_eq(open_store(&s, NULL, &err, NULL), TS_OK);
    save_user(s, "a@x.com", "1000.a");
    ts_store_close(s);
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_int_eq(access(in_scratch("zohooauth.db"), F_OK), 0);

    /* And through a URI. */
    char uri[600];
    snprintf(uri, sizeof uri, "sqlite:%s?table=zoho_tokens", db);
    ck_assert_msg(ts_store_open(&s, uri, &err) == TS_OK, "%s", err.message);
    ts_token *t = find_row(s, "a@x.com");
    ck_assert_ptr_nonnull(t);
    ts_token_free(t);
    ts_store_close(s);
}
END_TEST

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (t1.tv_nsec - t0->tv_nsec) / 1e9;
}

START_TEST(test_busy_is_reported)
{
    const char *db = in_scratch("t.db");
    ts_store *s;
    ts_error err = { 0 };
    struct timespec t0;

    s = open_ok(db);
    save_user(s, "a@x.com", "1000.a");
    ts_store_close(s);

    sqlite3 *raw = raw_open(db);
    raw_exec(raw, "BEGIN IMMEDIATE");
    ck_assert_msg(open_store(&s, db, &err, "busy_timeout_ms", "300", NULL) == TS_OK,
                  "open while another writer holds the lock: %s", err.message);
    ts_token *t = find_row(s, "a@x.com");              /* WAL: reading does not wait */
    ck_assert_ptr_nonnull(t);
    ts_token_free(t);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    t = make_token("b@x.com", "1000.r", "1000.b");
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_BUSY);
    double waited = seconds_since(&t0);
    ck_assert_msg(waited >= 0.29 && waited < 3.0, "waited %.3f s", waited);
    ck_assert_msg(strstr(err.message, db) && strstr(err.message, "300 ms") &&
                  strstr(err.message, "busy_timeout_ms"), "message: %s", err.message);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "");
    raw_exec(raw, "ROLLBACK");
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "2");
    ts_token_free(t);
    ts_store_close(s);
    sqlite3_close(raw);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Processes                                                           */
/* ------------------------------------------------------------------ */

enum { WRITERS = 8, SAVES_EACH = 1000 };

/* A writer process: its own store handle, SAVES_EACH distinct users. */
static void writer(const char *db, int w)
{
    ts_store *s;
    ts_error err = { 0 };
    char user[64];

    if (open_store(&s, db, &err, NULL) != TS_OK) {
        fprintf(stderr, "writer %d: open: %s\n", w, err.message);
        _exit(2);
    }
    for (int i = 0; i < SAVES_EACH; i++) {
        snprintf(user, sizeof user, "w%d-u%d@x.com", w, i);
        ts_token *t = make_token(user, "1000.r", user);
        int rc = ts_save_token(s, t, &err);
        ts_token_free(t);
        if (rc != TS_OK) {
            fprintf(stderr, "writer %d, save %d: %s\n", w, i, err.message);
            _exit(1);
        }
    }
    ts_store_close(s);
    _exit(0);
}

START_TEST(test_writers_in_parallel)
{
    const char *db = in_scratch("shared.db");
    pid_t pids[WRITERS];

    /* They all start on a database that does not exist yet. */
    for (int w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        ck_assert_int_ge(pids[w], 0);
        if (pids[w] == 0)
            writer(db, w);
    }
    for (int w = 0; w < WRITERS; w++) {
        int status;
        ck_assert_int_eq(waitpid(pids[w], &status, 0), pids[w]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "writer %d failed (status %d)", w, status);
    }
    sqlite3 *raw = raw_open(db);
    ck_assert_int_eq(raw_long(raw, "SELECT count(*) FROM oauthtoken"), WRITERS * SAVES_EACH);
    ck_assert_int_eq(raw_long(raw, "SELECT count(DISTINCT id) FROM oauthtoken"),
                     WRITERS * SAVES_EACH);
    ck_assert_int_eq(raw_long(raw, "SELECT count(DISTINCT user_name) FROM oauthtoken"),
                     WRITERS * SAVES_EACH);
    ck_assert_int_eq(raw_long(raw, "SELECT max(CAST(id AS INTEGER)) FROM oauthtoken"),
                     WRITERS * SAVES_EACH);
    ck_assert_str_eq(raw_text(raw, "PRAGMA integrity_check"), "ok");
    sqlite3_close(raw);
    ck_assert_uint_eq(file_mode(db), 0600);
}
END_TEST

/* Saves users k0, k1, ... forever, writing each index to `ack` once
 * save_token has said it is saved. */
static void acking_writer(const char *db, int ack)
{
    ts_store *s;
    ts_error err = { 0 };
    char user[64], access[64];

    if (open_store(&s, db, &err, NULL) != TS_OK)
        _exit(2);
    for (int i = 0;; i++) {
        snprintf(user, sizeof user, "k%d@x.com", i);
        snprintf(access, sizeof access, "1000.access.%d", i);
        ts_token *t = make_token(user, "1000.r", access);
        int rc = ts_save_token(s, t, &err);
        ts_token_free(t);
        if (rc != TS_OK || write(ack, &i, sizeof i) != sizeof i)
            _exit(1);
    }
}

START_TEST(test_sigkill_loses_nothing_saved)
{
    const char *db = in_scratch("killed.db");
    int fds[2], last = -1, i;

    ts_store_close(open_ok(db));
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        acking_writer(db, fds[1]);
    }
    close(fds[1]);
    while (last < 400 && read(fds[0], &i, sizeof i) == sizeof i)
        last = i;
    kill(pid, SIGKILL);            /* in the middle of some save */
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    while (read(fds[0], &i, sizeof i) == sizeof i)    /* acks already in the pipe */
        last = i;
    close(fds[0]);
    ck_assert_int_ge(last, 400);

    ts_store *s = open_ok(db);
    char user[64], access[64];
    for (i = 0; i <= last; i++) {
        snprintf(user, sizeof user, "k%d@x.com", i);
        snprintf(access, sizeof access, "1000.access.%d", i);
        ts_token *t = find_row(s, user);
        ck_assert_msg(t != NULL, "%s was reported saved but is gone", user);
        ck_assert_str_eq(ts_token_get(t, TS_FIELD_ACCESS_TOKEN), access);
        ts_token_free(t);
    }
    ts_store_close(s);
    sqlite3 *raw = raw_open(db);
    ck_assert_str_eq(raw_text(raw, "PRAGMA integrity_check"), "ok");
    long rows = raw_long(raw, "SELECT count(*) FROM oauthtoken");
    ck_assert_msg(rows == last + 1 || rows == last + 2, "rows %ld, last ack %d", rows, last);
    sqlite3_close(raw);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Opening without creating or changing (TS_OPEN_MUST_EXIST, READ_ONLY) */
/* ------------------------------------------------------------------ */

/* What a reader must leave as it was: the bytes, the mtime, and which of
 * the side files (-wal, -shm, -journal) exist. */
struct snapshot {
    char *bytes;
    size_t len;
    struct timespec mtime;
    int side[3];
};

static void take_snapshot(const char *path, struct snapshot *sn)
{
    static const char *const suffix[3] = { "-wal", "-shm", "-journal" };
    struct stat st;
    char side[600];

    ck_assert_int_eq(stat(path, &st), 0);
    sn->mtime = st.st_mtim;
    sn->len = (size_t)st.st_size;
    sn->bytes = malloc(sn->len + 1);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fread(sn->bytes, 1, sn->len, f), sn->len);
    fclose(f);
    for (int i = 0; i < 3; i++) {
        snprintf(side, sizeof side, "%s%s", path, suffix[i]);
        sn->side[i] = access(side, F_OK) == 0;
    }
}

static void assert_unchanged(const char *path, struct snapshot *before)
{
    struct snapshot now;

    take_snapshot(path, &now);
    ck_assert_uint_eq(now.len, before->len);
    ck_assert_msg(memcmp(now.bytes, before->bytes, now.len) == 0, "%s changed", path);
    ck_assert_msg(now.mtime.tv_sec == before->mtime.tv_sec &&
                  now.mtime.tv_nsec == before->mtime.tv_nsec, "%s: mtime changed", path);
    ck_assert_int_eq(now.side[0], before->side[0]);     /* -wal */
    ck_assert_int_eq(now.side[1], before->side[1]);     /* -shm */
    ck_assert_int_eq(now.side[2], before->side[2]);     /* -journal */
    free(now.bytes);
    free(before->bytes);
}

START_TEST(test_missing_file_is_no_store)
{
    const unsigned flags[] = { TS_OPEN_MUST_EXIST, TS_OPEN_READ_ONLY };
    const char *db = in_scratch("typo.db");
    char expect[600];

    snprintf(expect, sizeof expect, "no such store: %s", db);
    for (int i = 0; i < 2; i++) {
        ts_store *s = (ts_store *)&s;
        ts_error err = { 0 };
        ck_assert_int_eq(open_store_flags(&s, db, flags[i], &err, NULL), TS_ERR_NO_STORE);
        ck_assert_ptr_null(s);
        ck_assert_msg(strstr(err.message, expect), "'%s' lacks '%s'", err.message, expect);
        DIR *d = opendir(scratch);
        struct dirent *e;
        while ((e = readdir(d)))
            ck_assert_msg(e->d_name[0] == '.', "%s was created", e->d_name);
        closedir(d);
    }
}
END_TEST

/* Another program's database without our table: reads as empty, and
 * nothing is added to it, not even the table. */
START_TEST(test_read_only_leaves_other_database_alone)
{
    const char *db = in_scratch("app.db");
    sqlite3 *raw = raw_open(db);
    struct snapshot before;
    ts_error err = { 0 };
    ts_store *s;

    raw_exec(raw, "CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT);"
                  "INSERT INTO orders (item) VALUES ('tea')");
    sqlite3_close(raw);
    take_snapshot(db, &before);
    ck_assert_msg(open_store_flags(&s, db, TS_OPEN_READ_ONLY, &err, NULL) == TS_OK, "%s",
                  err.message);
    ck_assert_int_eq((int)count_tokens(s), 0);
    ts_token *t = make_token("user@zoho.com", "", "");
    ck_assert_int_eq(ts_find_token(s, t, NULL), TS_NOT_FOUND);
    ck_assert_int_eq(ts_find_token_by_id(s, "1", t, NULL), TS_NOT_FOUND);
    ts_token_free(t);
    ts_store_close(s);
    assert_unchanged(db, &before);
    raw = raw_open(db);
    ck_assert_str_eq(raw_text(raw, "SELECT group_concat(name) FROM sqlite_master"), "orders");
    sqlite3_close(raw);
}
END_TEST

/* The sample's database is read whole, and gets none of our indexes. */
START_TEST(test_read_only_sample_gets_no_index)
{
    const char *db = in_scratch("zohooauth.db");
    struct snapshot before;
    ts_error err = { 0 };
    ts_store *s;

    make_sample_db(db);
    take_snapshot(db, &before);
    ck_assert_msg(open_store_flags(&s, db, TS_OPEN_READ_ONLY, &err, NULL) == TS_OK, "%s",
                  err.message);
    ck_assert_int_eq((int)count_tokens(s), 12);
    ts_token *t = find_row(s, "user10@zoho.com");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "10");
    ts_token_free(t);
    ts_store_close(s);
    assert_unchanged(db, &before);
    sqlite3 *raw = raw_open(db);
    ck_assert_int_eq(raw_long(raw, "SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                                   "AND name LIKE 'oauthtoken_%_idx'"), 0);
    ck_assert_str_eq(raw_text(raw, "PRAGMA journal_mode"), "delete");
    sqlite3_close(raw);
}
END_TEST

/* Our own (WAL) store read and written at through a read-only handle:
 * every read answers, every write is TS_ERR_READ_ONLY, and no -wal or
 * -shm file is left behind. */
START_TEST(test_read_only_on_our_store)
{
    const char *db = in_scratch("tokens.db");
    struct snapshot before;
    ts_error err = { 0 };
    ts_store *s = open_ok(db);

    save_user(s, "a@zoho.com", "1000.access-a");
    save_user(s, "b@zoho.com", "1000.access-b");
    ts_store_close(s);
    take_snapshot(db, &before);
    ck_assert_int_eq(before.side[0] + before.side[1], 0);
    ck_assert_msg(open_store_flags(&s, db, TS_OPEN_READ_ONLY, &err, NULL) == TS_OK, "%s",
                  err.message);
    ck_assert_int_eq((int)count_tokens(s), 2);
    ts_token *t = find_row(s, "b@zoho.com");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ACCESS_TOKEN), "1000.access-b");
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_READ_ONLY);
    ck_assert_ptr_nonnull(strstr(err.message, "read-only"));
    ck_assert_int_eq(ts_save_tokens(s, &t, 1, NULL), TS_ERR_READ_ONLY);
    ck_assert_int_eq(ts_delete_token(s, "1", NULL), TS_ERR_READ_ONLY);
    ck_assert_int_eq(ts_delete_tokens(s, NULL), TS_ERR_READ_ONLY);
    ts_token_free(t);
    ts_store_close(s);
    assert_unchanged(db, &before);
    sqlite3 *raw = raw_open(db);
    ck_assert_str_eq(raw_text(raw, "PRAGMA journal_mode"), "wal");
    sqlite3_close(raw);
}
END_TEST

/* A reader opened while nobody wrote sees what a writer saves later, and
 * one opened before the table existed sees the table once it does. */
START_TEST(test_read_only_sees_later_writes)
{
    const char *db = in_scratch("tokens.db");
    ts_error err = { 0 };
    ts_store *reader, *empty_reader, *w = open_ok(db);

    save_user(w, "a@zoho.com", "1000.access-a");
    ts_store_close(w);
    sqlite3_close(raw_open(in_scratch("empty.db")));
    ck_assert_msg(open_store_flags(&reader, db, TS_OPEN_READ_ONLY, &err, NULL) == TS_OK, "%s",
                  err.message);
    ck_assert_msg(open_store_flags(&empty_reader, in_scratch("empty.db"), TS_OPEN_READ_ONLY,
                                   &err, NULL) == TS_OK, "%s", err.message);
    ck_assert_int_eq((int)count_tokens(reader), 1);
    ck_assert_int_eq((int)count_tokens(empty_reader), 0);

    w = open_ok(db);
    save_user(w, "b@zoho.com", "1000.access-b");
    ts_token *t = find_row(reader, "b@zoho.com");
    ck_assert_ptr_nonnull(t);
    ts_token_free(t);
    ts_store_close(w);
    ck_assert_int_eq((int)count_tokens(reader), 2);

    /* A writer that came and went while a new reader looked away. */
    ts_store_close(reader);
    ck_assert_msg(open_store_flags(&reader, db, TS_OPEN_READ_ONLY, &err, NULL) == TS_OK, "%s",
                  err.message);
    ck_assert_int_eq((int)count_tokens(reader), 2);
    w = open_ok(db);
    save_user(w, "d@zoho.com", "1000.access-d");
    ts_store_close(w);
    t = find_row(reader, "d@zoho.com");
    ck_assert_ptr_nonnull(t);
    ts_token_free(t);
    ck_assert_int_eq((int)count_tokens(reader), 3);

    w = open_ok(in_scratch("empty.db"));
    save_user(w, "c@zoho.com", "1000.access-c");
    ck_assert_int_eq((int)count_tokens(empty_reader), 1);
    ts_store_close(w);
    ts_store_close(reader);
    ts_store_close(empty_reader);
}
END_TEST

/* Another program writing its rollback-journal database while we read. */
START_TEST(test_read_only_sees_sample_writes)
{
    const char *db = in_scratch("zohooauth.db");
    ts_error err = { 0 };
    ts_store *s;

    make_sample_db(db);
    ck_assert_msg(open_store_flags(&s, db, TS_OPEN_READ_ONLY, &err, NULL) == TS_OK, "%s",
                  err.message);
    ck_assert_int_eq((int)count_tokens(s), 12);
    sqlite3 *raw = raw_open(db);
    raw_exec(raw, "INSERT INTO oauthtoken (id, user_name, refresh_token) "
                  "VALUES ('13', 'user13@zoho.com', '1000.refresh13')");
    ck_assert_int_eq((int)count_tokens(s), 13);
    raw_exec(raw, "DELETE FROM oauthtoken WHERE id = '1'");
    sqlite3_close(raw);
    ck_assert_ptr_null(find_row(s, "user1@zoho.com"));
    ck_assert_int_eq((int)count_tokens(s), 12);
    ts_store_close(s);
}
END_TEST

/* MUST_EXIST alone creates no file, but a writer may add the table to a
 * database that is there. */
START_TEST(test_must_exist_writes)
{
    const char *db = in_scratch("app.db");
    ts_error err = { 0 };
    ts_store *s;

    sqlite3_close(raw_open(db));
    ck_assert_msg(open_store_flags(&s, db, TS_OPEN_MUST_EXIST, &err, NULL) == TS_OK, "%s",
                  err.message);
    save_user(s, "a@zoho.com", "1000.access-a");
    ck_assert_int_eq((int)count_tokens(s), 1);
    ts_store_close(s);
}
END_TEST

static Suite *sqlite_suite(void)
{
    Suite *s = suite_create("sqlite");
    TCase *tc;

    tc = tcase_create("sample");
    tcase_add_checked_fixture(tc, make_scratch, remove_scratch);
    tcase_add_test(tc, test_sample_db_is_read);
    tcase_add_test(tc, test_sample_db_is_updated_in_place);
    tcase_add_test(tc, test_sample_db_is_extended_after_id_9);
    tcase_add_test(tc, test_created_db_has_sample_table);
    suite_add_tcase(s, tc);

    tc = tcase_create("sample_bugs");
    tcase_add_checked_fixture(tc, make_scratch, remove_scratch);
    tcase_add_test(tc, test_ids_are_numeric_past_ten);
    tcase_add_test(tc, test_injection_strings_are_values);
    tcase_add_test(tc, test_delete_tokens_commits);
    tcase_add_test(tc, test_deleted_token_leaves_the_wal);
    tcase_add_test(tc, test_replaced_secret_leaves_the_wal);
    tcase_add_test(tc, test_side_file_links_are_refused);
    tcase_add_test(tc, test_empty_table_opens_again);
    tcase_add_test(tc, test_delete_token);
    tcase_add_test(tc, test_save_rules);
    tcase_add_test(tc, test_next_id_uses_an_index);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_add_checked_fixture(tc, make_scratch, remove_scratch);
    tcase_add_test(tc, test_not_a_database);
    tcase_add_test(tc, test_missing_column);
    tcase_add_test(tc, test_nul_byte_is_reported);
    tcase_add_test(tc, test_new_file_mode);
    tcase_add_test(tc, test_bad_options);
    tcase_add_test(tc, test_options_are_honoured);
    tcase_add_test(tc, test_busy_is_reported);
    suite_add_tcase(s, tc);

    tc = tcase_create("open_flags");
    tcase_add_checked_fixture(tc, make_scratch, remove_scratch);
    tcase_add_test(tc, test_missing_file_is_no_store);
    tcase_add_test(tc, test_read_only_leaves_other_database_alone);
    tcase_add_test(tc, test_read_only_sample_gets_no_index);
    tcase_add_test(tc, test_read_only_on_our_store);
    tcase_add_test(tc, test_read_only_sees_later_writes);
    tcase_add_test(tc, test_read_only_sees_sample_writes);
    tcase_add_test(tc, test_must_exist_writes);
    suite_add_tcase(s, tc);

    tc = tcase_create("processes");
    tcase_add_checked_fixture(tc, make_scratch, remove_scratch);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_writers_in_parallel);
    tcase_add_test(tc, test_sigkill_loses_nothing_saved);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(sqlite_suite());
}
