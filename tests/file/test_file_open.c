/*
 * tests/file/test_file_open.c - what opening and rewriting a token file
 * may and may not change: TS_OPEN_MUST_EXIST and TS_OPEN_READ_ONLY (no
 * file, header or lock file created, the bytes and mtime left alone), a
 * rewrite keeping the file's owner, group and mode, and the warning about
 * a readable file.
 *
 * Kept apart from test_file.c (the CSV dialect and the processes) so the
 * two grow independently. The owner test chowns a file to another user
 * and so runs only as root; as anyone else it passes without checking.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"
#include "../test_store.h"

#define HEADER "id,user_name,client_id,client_secret,refresh_token,access_token," \
               "grant_token,expiry_time,redirect_url,api_domain\r\n"
#define ROW1 "1,alice@example.com,1000.CLIENTA,s3cret,1000.refresh.alice," \
             "1000.access.alice,,1700000000000,https://example.com/cb,https://www.zohoapis.com\r\n"
#define OTHER_UID 12345
#define OTHER_GID 12345

static const char *in_scratch(const char *name)
{
    static char buf[4][PATH_MAX];
    static int next;
    char *p = buf[next++ % 4];

    snprintf(p, PATH_MAX, "%s/%s", scratch, name);
    return p;
}

static void spit(const char *path, const char *data)
{
    FILE *fp = fopen(path, "wb");

    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(data, 1, strlen(data), fp), strlen(data));
    ck_assert_int_eq(fclose(fp), 0);
}

/* Opens the file backend on path with flags, option mode when not NULL,
 * warnings into log when not NULL. */
static int open_file(ts_store **out, const char *path, unsigned flags, const char *mode,
                     struct log_capture *log, ts_error *err)
{
    ts_config *cfg;

    ck_assert_int_eq(ts_config_new(&cfg), TS_OK);
    ck_assert_int_eq(ts_config_set_backend(cfg, "file", err), TS_OK);
    ck_assert_int_eq(ts_config_set_option(cfg, "path", path, err), TS_OK);
    if (mode)
        ck_assert_int_eq(ts_config_set_option(cfg, "mode", mode, err), TS_OK);
    ts_config_set_logger(cfg, log ? capture_log : NULL, log, TS_LOG_DEBUG);
    int rc = ts_store_open_config_flags(out, cfg, flags, err);
    ts_config_free(cfg);
    return rc;
}

static ts_store *open_ok(const char *path, unsigned flags)
{
    ts_store *s;
    ts_error err = { 0 };

    ck_assert_msg(open_file(&s, path, flags, NULL, NULL, &err) == TS_OK, "open %s: %s", path,
                  err.message);
    return s;
}

/* The names in the scratch directory, sorted, comma-separated. */
static const char *listing(void)
{
    static char out[1024];
    struct dirent **names;
    int n = scandir(scratch, &names, NULL, alphasort);

    ck_assert_int_ge(n, 0);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.')
            snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", *out ? "," : "",
                     names[i]->d_name);
        free(names[i]);
    }
    free(names);
    return out;
}

static void save_user(ts_store *s, const char *user, const char *refresh)
{
    ts_token *t = ts_token_new();
    ts_error err = { 0 };

    ts_token_set(t, TS_FIELD_USER_NAME, user);
    ts_token_set(t, TS_FIELD_REFRESH_TOKEN, refresh);
    ck_assert_msg(ts_save_token(s, t, &err) == TS_OK, "save %s: %s", user, err.message);
    ts_token_free(t);
}

/* Every write through a read-only handle is refused. */
static void assert_writes_refused(ts_store *s)
{
    ts_token *t = ts_token_new();
    ts_error err = { 0 };

    ts_token_set(t, TS_FIELD_USER_NAME, "mallory@example.com");
    ts_token_set(t, TS_FIELD_REFRESH_TOKEN, "1000.refresh.m");
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_READ_ONLY);
    ck_assert_msg(strstr(err.message, "read-only"), "%s", err.message);
    ck_assert_int_eq(ts_save_tokens(s, &t, 1, NULL), TS_ERR_READ_ONLY);
    ck_assert_int_eq(ts_delete_token(s, "1", NULL), TS_ERR_READ_ONLY);
    ck_assert_int_eq(ts_delete_tokens(s, NULL), TS_ERR_READ_ONLY);
    ts_token_free(t);
}

/* ---------------------------------------------------------------- open flags */

START_TEST(test_missing_file_is_no_store)
{
    const unsigned flags[] = { TS_OPEN_MUST_EXIST, TS_OPEN_READ_ONLY };
    const char *path = in_scratch("typo.csv");
    char expect[PATH_MAX + 32];

    snprintf(expect, sizeof expect, "no such store: %s", path);
    for (int i = 0; i < 2; i++) {
        ts_store *s = (ts_store *)&s;
        ts_error err = { 0 };
        ck_assert_int_eq(open_file(&s, path, flags[i], NULL, NULL, &err), TS_ERR_NO_STORE);
        ck_assert_ptr_null(s);
        ck_assert_msg(strstr(err.message, expect), "'%s' lacks '%s'", err.message, expect);
        ck_assert_str_eq(listing(), "");
    }
}
END_TEST

/* A read-only open of an empty file: it stays empty, untouched, and no
 * lock file appears. */
START_TEST(test_read_only_empty_file_stays_empty)
{
    const char *path = in_scratch("tokens.csv");
    struct stat before, after;

    spit(path, "");
    ck_assert_int_eq(stat(path, &before), 0);
    ts_store *s = open_ok(path, TS_OPEN_READ_ONLY);
    ck_assert_int_eq((int)count_tokens(s), 0);
    assert_writes_refused(s);
    ts_store_close(s);
    ck_assert_int_eq(stat(path, &after), 0);
    ck_assert_int_eq(after.st_size, 0);
    ck_assert(after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
              after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
    ck_assert_str_eq(listing(), "tokens.csv");
}
END_TEST

/* A populated file read through a read-only handle: every read answers,
 * the file and its mtime stay as they were, and a later writer's save is
 * seen. */
START_TEST(test_read_only_reads_and_sees_writers)
{
    const char *path = in_scratch("tokens.csv");
    struct stat before, after;
    ts_error err = { 0 };

    spit(path, HEADER ROW1);
    ck_assert_int_eq(stat(path, &before), 0);
    ts_store *s = open_ok(path, TS_OPEN_READ_ONLY);
    ck_assert_int_eq((int)count_tokens(s), 1);
    ts_token *t = ts_token_new();
    ts_token_set(t, TS_FIELD_USER_NAME, "alice@example.com");
    ck_assert_msg(ts_find_token(s, t, &err) == TS_OK, "%s", err.message);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_REFRESH_TOKEN), "1000.refresh.alice");
    ck_assert_int_eq(ts_find_token_by_id(s, "1", t, NULL), TS_OK);
    ck_assert_int_eq(ts_find_token_by_id(s, "2", t, NULL), TS_NOT_FOUND);
    ts_token_free(t);
    assert_writes_refused(s);
    ck_assert_int_eq(stat(path, &after), 0);
    ck_assert(after.st_ino == before.st_ino && after.st_size == before.st_size &&
              after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
              after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
    ck_assert_str_eq(listing(), "tokens.csv");

    /* A writer makes the lock file; the reader still sees its saves. */
    ts_store *w = open_ok(path, 0);
    save_user(w, "bob@example.com", "1000.refresh.bob");
    ck_assert_int_eq((int)count_tokens(s), 2);
    ts_store_close(s);
    s = open_ok(path, TS_OPEN_READ_ONLY);
    save_user(w, "carol@example.com", "1000.refresh.carol");
    ck_assert_int_eq((int)count_tokens(s), 3);
    ts_store_close(w);
    ts_store_close(s);
}
END_TEST

/* MUST_EXIST alone is for writers: an existing file opens and saves. */
START_TEST(test_must_exist_writes)
{
    const char *path = in_scratch("tokens.csv");

    spit(path, HEADER ROW1);
    ts_store *s = open_ok(path, TS_OPEN_MUST_EXIST);
    save_user(s, "bob@example.com", "1000.refresh.bob");
    ck_assert_int_eq((int)count_tokens(s), 2);
    ts_store_close(s);
}
END_TEST

/* A directory is refused by name, and draws no chmod advice. */
START_TEST(test_directory_is_refused)
{
    struct log_capture log = { 0 };
    ts_store *s = (ts_store *)&s;
    ts_error err = { 0 };

    ck_assert_int_eq(chmod(scratch, 0755), 0);
    ck_assert_int_eq(open_file(&s, scratch, 0, NULL, &log, &err), TS_ERR_CONFIG);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err.message, scratch) && strstr(err.message, "is a directory"), "%s",
                  err.message);
    ck_assert_int_eq(log.warnings, 0);
    ck_assert_int_eq(open_file(&s, scratch, TS_OPEN_READ_ONLY, NULL, &log, &err),
                     TS_ERR_CONFIG);
    ck_assert_int_eq(log.warnings, 0);
}
END_TEST

/* ---------------------------------------------------------------- rewrites */

static unsigned mode_of(const char *path)
{
    struct stat st;

    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_mode & 07777;
}

/* A rewrite keeps the file's mode; option mode, when set, replaces it. */
START_TEST(test_rewrite_keeps_mode)
{
    const char *path = in_scratch("tokens.csv");
    ts_store *s;
    ts_error err = { 0 };

    spit(path, HEADER ROW1);
    ck_assert_int_eq(chmod(path, 0640), 0);
    s = open_ok(path, 0);
    save_user(s, "bob@example.com", "1000.refresh.bob");
    ts_store_close(s);
    ck_assert_uint_eq(mode_of(path), 0640);

    ck_assert_int_eq(open_file(&s, path, 0, "0600", NULL, &err), TS_OK);
    save_user(s, "carol@example.com", "1000.refresh.carol");
    ts_store_close(s);
    ck_assert_uint_eq(mode_of(path), 0600);

    /* A new file takes option mode, or 0600. */
    ck_assert_int_eq(open_file(&s, in_scratch("new.csv"), 0, "0660", NULL, &err), TS_OK);
    ts_store_close(s);
    ck_assert_uint_eq(mode_of(in_scratch("new.csv")), 0660);
}
END_TEST

/* The warning about a readable file says what will fix it: chmod when a
 * rewrite keeps the mode, the next write when option mode is set. */
START_TEST(test_readable_warning_advice)
{
    const char *path = in_scratch("tokens.csv");
    struct log_capture log = { 0 };
    char advice[PATH_MAX + 32];
    ts_store *s;
    ts_error err = { 0 };

    spit(path, HEADER ROW1);
    ck_assert_int_eq(chmod(path, 0644), 0);
    ck_assert_int_eq(open_file(&s, path, 0, NULL, &log, &err), TS_OK);
    ts_store_close(s);
    snprintf(advice, sizeof advice, "chmod 0600 %s", path);
    ck_assert_int_eq(log.warnings, 1);
    ck_assert_msg(strstr(log.last, advice), "'%s' lacks '%s'", log.last, advice);
    ck_assert_ptr_null(strstr(log.last, "s3cret"));

    memset(&log, 0, sizeof log);
    ck_assert_int_eq(open_file(&s, path, 0, "0600", &log, &err), TS_OK);
    ts_store_close(s);
    ck_assert_int_eq(log.warnings, 1);
    ck_assert_msg(strstr(log.last, "becomes 0600") && !strstr(log.last, "chmod"), "%s",
                  log.last);
}
END_TEST

/* As root, saving into another user's file leaves it theirs: owner,
 * group and mode as they were, so the application can still read it. */
START_TEST(test_rewrite_keeps_owner)
{
    const char *path = in_scratch("app.csv");
    struct stat st;

    if (geteuid() != 0) {
        fprintf(stderr, "# test_rewrite_keeps_owner: not root, nothing checked\n");
        return;
    }
    spit(path, HEADER ROW1);
    ck_assert_int_eq(chown(path, OTHER_UID, OTHER_GID), 0);
    ck_assert_int_eq(chmod(path, 0644), 0);
    ts_store *s = open_ok(path, 0);
    save_user(s, "bob@example.com", "1000.refresh.bob");
    ts_store_close(s);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_uid, OTHER_UID);
    ck_assert_uint_eq(st.st_gid, OTHER_GID);
    ck_assert_uint_eq(st.st_mode & 07777, 0644);
    s = open_ok(path, TS_OPEN_READ_ONLY);
    ck_assert_int_eq((int)count_tokens(s), 2);
    ts_store_close(s);
}
END_TEST

static Suite *file_open_suite(void)
{
    Suite *s = suite_create("file_open");
    TCase *tc = tcase_create("open_flags");

    tcase_add_checked_fixture(tc, make_scratch, remove_scratch);
    tcase_add_test(tc, test_missing_file_is_no_store);
    tcase_add_test(tc, test_read_only_empty_file_stays_empty);
    tcase_add_test(tc, test_read_only_reads_and_sees_writers);
    tcase_add_test(tc, test_must_exist_writes);
    tcase_add_test(tc, test_directory_is_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("rewrites");
    tcase_add_checked_fixture(tc, make_scratch, remove_scratch);
    tcase_add_test(tc, test_rewrite_keeps_mode);
    tcase_add_test(tc, test_readable_warning_advice);
    tcase_add_test(tc, test_rewrite_keeps_owner);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(file_open_suite());
}
