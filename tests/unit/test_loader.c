/*
 * tests/unit/test_loader.c - finding, vetting and describing backends.
 *
 * Every refusal is checked for its code and for a message that names the
 * file and the reason, since "backend could not be loaded" alone sends a
 * user hunting. The broken backends are the fixtures built from
 * tests/fixtures/bad_backends.c; the extra_symbol one is a working backend
 * whose init can be told, through its second exported symbol, to hand out
 * other tables (larger, smaller, nameless, ...), so each table defect needs
 * no .so of its own. Search-order tests put symlinks to fixtures in scratch
 * directories and point plugin_dir and TOKENSTORE_PLUGIN_PATH at them.
 */
#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <tokenstore/tokenstore.h>
#include <tokenstore/backend.h>
#include "../check_main.h"

/* "MAJOR.MINOR" of the ABI this library speaks, as messages print it. */
#define STR_(x) #x
#define STR(x) STR_(x)
#define ABI_TEXT STR(TS_ABI_MAJOR) "." STR(TS_ABI_MINOR)

/* Keep in step with the enum in tests/fixtures/bad_backends.c. */
enum fixture_table {
    TABLE_PLAIN, TABLE_NEWER_MINOR, TABLE_NO_DESCRIPTION, TABLE_TOO_SMALL,
    TABLE_BAD_NAME, TABLE_NONE, TABLE_REFUSE_ABI, TABLE_INIT_FAILS, TABLE_FAILING_NOTES,
};


/* $top_builddir/DIR/NAME.so, or the directory alone when `so` is 0; each
 * call returns a new string. */
static char *built(const char *dir, const char *name, int so)
{
    const char *top = getenv("top_builddir");
    char *path;

    ck_assert_msg(top && *top, "top_builddir is not set");
    ck_assert_int_ge(so ? asprintf(&path, "%s/%s/%s.so", top, dir, name)
                        : asprintf(&path, "%s/%s", top, dir), 0);
    return path;
}

static char *fixture_so(const char *name)
{
    char *path = built("tests/fixtures/.libs", name, 1);
    ck_assert_msg(access(path, R_OK) == 0, "%s is not built (make check builds it)", path);
    return path;
}

static char *plugin_so(const char *name)
{
    char dir[64];

    snprintf(dir, sizeof dir, "plugins/%s/.libs", name);
    return built(dir, name, 1);
}

static char *plugin_dir_of(const char *name)
{
    char dir[64];

    snprintf(dir, sizeof dir, "plugins/%s/.libs", name);
    return built(dir, NULL, 0);
}

/* scratch/rel as a new directory; each call returns a new string. */
static char *scratch_dir(const char *rel)
{
    char *path;

    ck_assert_int_ge(asprintf(&path, "%s/%s", scratch, rel), 0);
    ck_assert_msg(mkdir(path, 0755) == 0, "mkdir %s: %s", path, strerror(errno));
    return path;
}

static void link_into(const char *dir, const char *name, const char *target)
{
    char path[600];

    snprintf(path, sizeof path, "%s/%s", dir, name);
    ck_assert_msg(symlink(target, path) == 0, "symlink %s: %s", path, strerror(errno));
}

/* Opens the backend `backend` (name or path), with plugin_dir if not NULL. */
static int open_backend(ts_store **s, const char *backend, const char *plugin_dir,
                        ts_error *err)
{
    ts_config *c;
    int rc;

    ck_assert_int_eq(ts_config_new(&c), TS_OK);
    ck_assert_msg(ts_config_set_backend(c, backend, err) == TS_OK, "%s", err->message);
    if (plugin_dir)
        ck_assert_int_eq(ts_config_set_plugin_dir(c, plugin_dir, err), TS_OK);
    ts_config_set_logger(c, NULL, NULL, TS_LOG_DEBUG);
    rc = ts_store_open_config(s, c, err);
    ts_config_free(c);
    return rc;
}

/* The refusal of the backend at `path`: checks code, path and reason. */
static void assert_refused(const char *path, int code, const char *reason)
{
    ts_store *s = (ts_store *)&s;
    ts_error err = { 0 };
    int rc = open_backend(&s, path, NULL, &err);

    ck_assert_msg(rc == code, "%s: got %s, expected %s (%s)", path, ts_strerror(rc),
                  ts_strerror(code), err.message);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(err.code, code);
    ck_assert_msg(strstr(err.message, path), "'%s' does not name %s", err.message, path);
    ck_assert_msg(strstr(err.message, reason), "'%s' lacks '%s'", err.message, reason);
}

/* Makes the extra_symbol fixture's init return `table` from now on. */
static void select_table(enum fixture_table table)
{
    char *path = fixture_so("extra_symbol");
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    void (*select)(int);

    ck_assert_msg(handle != NULL, "%s", dlerror());
    *(void **)&select = dlsym(handle, "fixture_select_table");
    ck_assert_ptr_nonnull(select);
    select(table);
    free(path);
    /* handle stays open, so the choice survives the loader's dlclose. */
}

/* Saves one token and reads it back: the backend really works. */
static void assert_store_works(ts_store *s)
{
    ts_token *t = ts_token_new(), *back = ts_token_new();
    ts_error err = { 0 };

    ts_token_set(t, TS_FIELD_USER_NAME, "a@example.com");
    ts_token_set(t, TS_FIELD_REFRESH_TOKEN, "1000.refresh");
    ck_assert_msg(ts_save_token(s, t, &err) == TS_OK, "%s", err.message);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "1");
    ts_token_set(back, TS_FIELD_USER_NAME, "a@example.com");
    ck_assert_int_eq(ts_find_token(s, back, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(back, TS_FIELD_REFRESH_TOKEN), "1000.refresh");
    ts_token_free(back);
    ts_token_free(t);
}

/* ------------------------------------------------------------ refusals */

START_TEST(other_abi_major_is_refused)
{
    char *path = fixture_so("bad_major");
    assert_refused(path, TS_ERR_ABI, "ABI 99." STR(TS_ABI_MINOR));
    assert_refused(path, TS_ERR_ABI, ABI_TEXT);
    free(path);
}
END_TEST

START_TEST(missing_init_symbol_is_refused)
{
    char *path = fixture_so("no_symbol");
    assert_refused(path, TS_ERR_LOAD, "does not export tokenstore_backend_init");
    free(path);
}
END_TEST

START_TEST(missing_operation_is_refused)
{
    char *path = fixture_so("missing_op");
    assert_refused(path, TS_ERR_ABI, "'save_token'");
    assert_refused(path, TS_ERR_ABI, "'missing_op'");
    free(path);
}
END_TEST

START_TEST(non_elf_file_is_refused)
{
    char *dir = scratch_dir("text"), path[600];
    FILE *f;

    snprintf(path, sizeof path, "%s/x.so", dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("this is not a shared object\n", f);
    fclose(f);
    assert_refused(path, TS_ERR_LOAD, "cannot load");

    snprintf(path, sizeof path, "%s/absent.so", dir);
    assert_refused(path, TS_ERR_LOAD, "cannot load");
    free(dir);
}
END_TEST

START_TEST(table_defects_are_refused)
{
    static const struct {
        enum fixture_table table;
        int code;
        const char *reason;
    } cases[] = {
        { TABLE_TOO_SMALL, TS_ERR_ABI, "too small" },
        { TABLE_BAD_NAME, TS_ERR_ABI, "'Extra Symbol'" },
        { TABLE_NONE, TS_ERR_LOAD, "no table" },
        { TABLE_REFUSE_ABI, TS_ERR_ABI, "refused ABI " ABI_TEXT },
        { TABLE_INIT_FAILS, TS_ERR_LOAD, "backend error" },
    };
    char *path = fixture_so("extra_symbol");

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        select_table(cases[i].table);
        assert_refused(path, cases[i].code, cases[i].reason);
    }
    select_table(TABLE_PLAIN);   /* for CK_FORK=no runs */
    free(path);
}
END_TEST

START_TEST(missing_name_lists_every_place)
{
    char *p = scratch_dir("p"), *a = scratch_dir("a"), *b = scratch_dir("b");
    char env[600];
    ts_store *s;
    ts_error err = { 0 };

    snprintf(env, sizeof env, "%s:%s", a, b);
    setenv("TOKENSTORE_PLUGIN_PATH", env, 1);
    /* Unset, the installed directory comes last (nosuch is not there). */
    unsetenv("TOKENSTORE_SYSTEM_PLUGIN_DIR");
    ck_assert_int_eq(open_backend(&s, "nosuch", p, &err), TS_ERR_LOAD);
    ck_assert_ptr_null(s);
    const char *places[] = { "'nosuch'", "nosuch.so", p, a, b, ts_plugin_dir() };
    for (size_t i = 0; i < sizeof places / sizeof *places; i++)
        ck_assert_msg(strstr(err.message, places[i]), "'%s' lacks %s", err.message, places[i]);
    /* In search order. */
    ck_assert(strstr(err.message, p) < strstr(err.message, a));
    ck_assert(strstr(err.message, a) < strstr(err.message, b));
    ck_assert(strstr(err.message, b) < strstr(err.message, ts_plugin_dir()));

    /* TOKENSTORE_SYSTEM_PLUGIN_DIR stands in for it; empty, for nothing. */
    char *sys = scratch_dir("sys");
    setenv("TOKENSTORE_SYSTEM_PLUGIN_DIR", sys, 1);
    ck_assert_int_eq(open_backend(&s, "nosuch", p, &err), TS_ERR_LOAD);
    ck_assert_msg(strstr(err.message, b) < strstr(err.message, sys) &&
                  !strstr(err.message, ts_plugin_dir()), "%s", err.message);
    setenv("TOKENSTORE_SYSTEM_PLUGIN_DIR", "", 1);
    ck_assert_int_eq(open_backend(&s, "nosuch", p, &err), TS_ERR_LOAD);
    ck_assert_msg(!strstr(err.message, sys) && !strstr(err.message, ts_plugin_dir()), "%s",
                  err.message);
    free(sys);

    /* The real test environment's long plugin path is listed whole too. */
    char *memory_dir = plugin_dir_of("memory");
    char *file_dir = plugin_dir_of("file");
    char *sqlite_dir = plugin_dir_of("sqlite");
    char *redis_dir = plugin_dir_of("redis");
    snprintf(env, sizeof env, "%s:%s:%s:%s", memory_dir, file_dir, sqlite_dir, redis_dir);
    setenv("TOKENSTORE_PLUGIN_PATH", env, 1);
    unsetenv("TOKENSTORE_SYSTEM_PLUGIN_DIR");
    ck_assert_int_eq(open_backend(&s, "nosuch", p, &err), TS_ERR_LOAD);
    const char *dirs[] = { p, memory_dir, file_dir, sqlite_dir, redis_dir, ts_plugin_dir() };
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
        ck_assert_msg(strstr(err.message, dirs[i]), "'%s' lacks %s", err.message, dirs[i]);
    ck_assert_msg(strlen(err.message) < TS_ERROR_MAX - 1, "message truncated: %s", err.message);
    free(memory_dir);
    free(file_dir);
    free(sqlite_dir);
    free(redis_dir);
    free(p);
    free(a);
    free(b);
}
END_TEST

/* ------------------------------------------------------------ loading */

START_TEST(explicit_path_loads)
{
    char *path = plugin_so("memory");
    ts_store *s = NULL;
    ts_error err = { 0 };
    ts_backend_info info;

    ck_assert_msg(open_backend(&s, path, NULL, &err) == TS_OK, "%s", err.message);
    ts_store_info(s, &info);
    ck_assert_str_eq(info.name, "memory");
    ck_assert_str_eq(info.version, "1.0.0");
    ck_assert_str_eq(info.path, path);
    ck_assert_uint_eq(info.abi_major, TS_ABI_MAJOR);
    ck_assert_uint_eq(info.abi_minor, TS_ABI_MINOR);
    ck_assert_uint_eq(info.caps, TS_CAP_THREAD_SAFE | TS_CAP_OPEN_FLAGS);
    ck_assert_ptr_nonnull(info.description);
    ck_assert_uint_gt(strlen(info.description), 10);
    assert_store_works(s);
    ts_store_close(s);
    select_table(TABLE_PLAIN);
    free(path);
}
END_TEST

START_TEST(name_is_found_in_plugin_path)
{
    char *expected = plugin_so("memory");
    ts_store *s = NULL;
    ts_error err = { 0 };
    ts_backend_info info;

    ck_assert_msg(open_backend(&s, "memory", NULL, &err) == TS_OK, "%s", err.message);
    ts_store_info(s, &info);
    ck_assert_str_eq(info.path, expected);
    ts_store_close(s);
    free(expected);
}
END_TEST

START_TEST(plugin_dir_comes_first)
{
    char *p = scratch_dir("p"), *q = scratch_dir("q"), *fixture = fixture_so("extra_symbol");
    char *memory = plugin_so("memory"), *memory_dir = plugin_dir_of("memory");
    char env[600], expected[600];
    ts_store *s = NULL;
    ts_error err = { 0 };
    ts_backend_info info;

    /* plugin_dir/memory.so is the fixture in disguise. */
    link_into(p, "memory.so", fixture);
    snprintf(env, sizeof env, "%s:%s", memory_dir, q);
    setenv("TOKENSTORE_PLUGIN_PATH", env, 1);
    ck_assert_msg(open_backend(&s, "memory", p, &err) == TS_OK, "%s", err.message);
    ts_store_info(s, &info);
    snprintf(expected, sizeof expected, "%s/memory.so", p);
    ck_assert_str_eq(info.path, expected);
    ck_assert_str_eq(info.name, "extra_symbol");
    ts_store_close(s);

    /* Without plugin_dir, TOKENSTORE_PLUGIN_PATH in its own order. */
    ck_assert_int_eq(open_backend(&s, "memory", NULL, &err), TS_OK);
    ts_store_info(s, &info);
    ck_assert_str_eq(info.path, memory);
    ts_store_close(s);

    link_into(q, "memory.so", fixture);
    snprintf(env, sizeof env, "%s:%s", q, memory_dir);
    setenv("TOKENSTORE_PLUGIN_PATH", env, 1);
    ck_assert_int_eq(open_backend(&s, "memory", NULL, &err), TS_OK);
    ts_store_info(s, &info);
    ck_assert_str_eq(info.name, "extra_symbol");
    ts_store_close(s);

    /* A broken file found first is an error, not a reason to look further.
     * (A new directory: dlopen would hand back a still-loaded object for a
     * path it has seen, whatever the file there is now.) */
    char *r = scratch_dir("r");
    free(fixture);
    fixture = fixture_so("bad_major");
    link_into(r, "memory.so", fixture);
    snprintf(expected, sizeof expected, "%s/memory.so", r);
    ck_assert_int_eq(open_backend(&s, "memory", r, &err), TS_ERR_ABI);
    ck_assert_msg(strstr(err.message, expected), "%s", err.message);
    free(r);
    free(p);
    free(q);
    free(fixture);
    free(memory);
    free(memory_dir);
}
END_TEST

START_TEST(newer_minor_table_loads)
{
    char *path = fixture_so("extra_symbol");
    ts_store *s = NULL;
    ts_error err = { 0 };
    ts_backend_info info;

    select_table(TABLE_NEWER_MINOR);
    ck_assert_msg(open_backend(&s, path, NULL, &err) == TS_OK, "%s", err.message);
    ts_store_info(s, &info);
    ck_assert_uint_eq(info.abi_major, TS_ABI_MAJOR);
    ck_assert_uint_eq(info.abi_minor, TS_ABI_MINOR + 1);
    ck_assert_str_eq(info.description, "built against a newer minor version");
    assert_store_works(s);
    ts_store_close(s);
    select_table(TABLE_PLAIN);
    free(path);
}
END_TEST

START_TEST(absent_description_reads_empty)
{
    char *path = fixture_so("extra_symbol");
    ts_store *s = NULL;
    ts_error err = { 0 };
    ts_backend_info info;

    select_table(TABLE_NO_DESCRIPTION);
    ck_assert_msg(open_backend(&s, path, NULL, &err) == TS_OK, "%s", err.message);
    ts_store_info(s, &info);
    ck_assert_ptr_nonnull(info.description);
    ck_assert_str_eq(info.description, "");
    ck_assert_str_eq(info.name, "extra_symbol");
    ck_assert_str_eq(info.version, "0.0.1");
    ck_assert_uint_eq(info.caps, 0);
    assert_store_works(s);
    ts_store_close(s);
    select_table(TABLE_PLAIN);
    free(path);
}
END_TEST

START_TEST(backend_errors_carry_its_name)
{
    char *path = fixture_so("extra_symbol");
    ts_config *c;
    ts_store *s = (ts_store *)&s;
    ts_error err = { 0 };

    ck_assert_int_eq(ts_config_new(&c), TS_OK);
    ck_assert_int_eq(ts_config_set_backend(c, path, &err), TS_OK);
    ck_assert_int_eq(ts_config_set_option(c, "fail", "cache.example:6379", &err), TS_OK);
    ck_assert_int_eq(ts_store_open_config(&s, c, &err), TS_ERR_CONNECT);
    ck_assert_ptr_null(s);
    ck_assert_str_eq(err.message, "extra_symbol: cannot reach cache.example:6379");

    ck_assert_int_eq(ts_config_set_option(c, "nope", "1", &err), TS_OK);
    ck_assert_int_eq(ts_store_open_config(&s, c, &err), TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, "'nope'") && strstr(err.message, "fail"), "%s",
                  err.message);
    ts_config_free(c);
    free(path);
}
END_TEST

/* ------------------------------------------------------------ listing */

struct listing {
    char names[1024];
    char memory_path[600];
    unsigned memory_major, memory_minor;
    int memory_seen;
    char bad[2048];
    int stop_with;
    int calls;
};

static int list_good(const ts_backend_info *info, void *userdata)
{
    struct listing *l = userdata;
    size_t used = strlen(l->names);

    l->calls++;
    snprintf(l->names + used, sizeof l->names - used, "%s ", info->name);
    if (strcmp(info->name, "memory") == 0) {
        l->memory_seen++;
        snprintf(l->memory_path, sizeof l->memory_path, "%s", info->path);
        l->memory_major = info->abi_major;
        l->memory_minor = info->abi_minor;
        ck_assert_str_eq(info->version, "1.0.0");
        ck_assert_uint_gt(strlen(info->description), 0);
    }
    return l->stop_with;
}

static void list_bad(const char *path, const ts_error *why, void *userdata)
{
    struct listing *l = userdata;
    size_t used = strlen(l->bad);

    ck_assert_msg(strstr(why->message, path), "'%s' does not name %s", why->message, path);
    snprintf(l->bad + used, sizeof l->bad - used, "%s=%d|", path, why->code);
}

START_TEST(listing_finds_backends_and_reports_broken_files)
{
    char *p = scratch_dir("p"), *memory = plugin_so("memory");
    char *memory_dir = plugin_dir_of("memory");
    char *fixtures[] = { fixture_so("bad_major"), fixture_so("no_symbol"),
                         fixture_so("missing_op") };
    char entry[700], text[600];
    struct listing l;
    ts_config *c;
    ts_error err = { 0 };

    link_into(p, "bad_major.so", fixtures[0]);
    link_into(p, "no_symbol.so", fixtures[1]);
    link_into(p, "missing_op.so", fixtures[2]);
    link_into(p, "memory.so", memory);
    link_into(p, "not_a_backend.txt", memory);
    snprintf(text, sizeof text, "%s/x.so", p);
    FILE *f = fopen(text, "w");
    ck_assert_ptr_nonnull(f);
    fputs("text\n", f);
    fclose(f);
    setenv("TOKENSTORE_PLUGIN_PATH", memory_dir, 1);

    ck_assert_int_eq(ts_config_new(&c), TS_OK);
    ck_assert_int_eq(ts_config_set_plugin_dir(c, p, &err), TS_OK);
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(ts_backends_list(c, list_good, list_bad, &l, &err), TS_OK);

    /* memory once, from plugin_dir, the first place it is found. */
    ck_assert_int_eq(l.memory_seen, 1);
    snprintf(entry, sizeof entry, "%s/memory.so", p);
    ck_assert_str_eq(l.memory_path, entry);
    ck_assert_uint_eq(l.memory_major, 1);
    ck_assert_uint_eq(l.memory_minor, TS_ABI_MINOR);
    ck_assert_str_eq(l.names, "memory ");

    const struct { const char *file; int code; } broken[] = {
        { "bad_major.so", TS_ERR_ABI }, { "no_symbol.so", TS_ERR_LOAD },
        { "missing_op.so", TS_ERR_ABI }, { "x.so", TS_ERR_LOAD },
    };
    for (size_t i = 0; i < sizeof broken / sizeof *broken; i++) {
        snprintf(entry, sizeof entry, "%s/%s=%d|", p, broken[i].file, broken[i].code);
        ck_assert_msg(strstr(l.bad, entry), "'%s' lacks '%s'", l.bad, entry);
    }
    ck_assert_msg(!strstr(l.bad, "not_a_backend"), "%s", l.bad);
    ck_assert_msg(!strstr(l.bad, "memory.so"), "%s", l.bad);

    /* Without a `bad` callback broken files are skipped quietly. */
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(ts_backends_list(c, list_good, NULL, &l, &err), TS_OK);
    ck_assert_int_eq(l.memory_seen, 1);

    /* A callback's non-zero return stops the listing and is returned. */
    memset(&l, 0, sizeof l);
    l.stop_with = 7;
    char *extra = fixture_so("extra_symbol");
    link_into(p, "extra_symbol.so", extra);
    free(extra);
    ck_assert_int_eq(ts_backends_list(c, list_good, NULL, &l, &err), 7);
    ck_assert_int_eq(l.calls, 1);
    /* As is, even when it equals an error code, and not as an error. */
    memset(&l, 0, sizeof l);
    l.stop_with = TS_ERR_NOMEM;
    err = (ts_error){ 0 };
    ck_assert_int_eq(ts_backends_list(c, list_good, NULL, &l, &err), TS_ERR_NOMEM);
    ck_assert_int_eq(l.calls, 1);
    ck_assert_str_eq(err.message, "");
    ts_config_free(c);

    /* No config: the environment's path alone. */
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(ts_backends_list(NULL, list_good, list_bad, &l, &err), TS_OK);
    ck_assert_int_eq(l.memory_seen, 1);
    ck_assert_str_eq(l.memory_path, memory);
    ck_assert_msg(!strstr(l.bad, p), "%s", l.bad);
    for (int i = 0; i < 3; i++)
        free(fixtures[i]);
    free(memory_dir);
    free(memory);
    free(p);
}
END_TEST

/* A backend that does not declare TS_CAP_OPEN_FLAGS (the fixture's plain
 * table, as any ABI 1.0 backend) opens as it always did when asked for a
 * read-only handle; the core still refuses the writes. */
START_TEST(backend_without_open_flags_opens_as_before)
{
    char *path = fixture_so("extra_symbol");
    ts_config *c;
    ts_store *s = NULL;
    ts_error err = { 0 };
    ts_backend_info info;
    ts_token *t = ts_token_new();

    select_table(TABLE_PLAIN);
    ck_assert_int_eq(ts_config_new(&c), TS_OK);
    ck_assert_int_eq(ts_config_set_backend(c, path, &err), TS_OK);
    ck_assert_msg(ts_store_open_config_flags(&s, c, TS_OPEN_READ_ONLY | TS_OPEN_MUST_EXIST,
                                             &err) == TS_OK, "%s", err.message);
    ts_config_free(c);
    ts_store_info(s, &info);
    ck_assert_uint_eq(info.caps & TS_CAP_OPEN_FLAGS, 0);
    ts_token_set(t, TS_FIELD_USER_NAME, "a@example.com");
    ts_token_set(t, TS_FIELD_REFRESH_TOKEN, "1000.refresh");
    ck_assert_int_eq(ts_find_token(s, t, NULL), TS_NOT_FOUND);
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_READ_ONLY);
    ck_assert_msg(strstr(err.message, "extra_symbol") && strstr(err.message, "read-only"), "%s",
                  err.message);
    ck_assert_int_eq(ts_delete_tokens(s, NULL), TS_ERR_READ_ONLY);
    ts_token_free(t);
    ts_store_close(s);
    free(path);
}
END_TEST

static Suite *loader_suite(void)
{
    Suite *s = suite_create("loader");
    TCase *refuse = tcase_create("refusals");
    TCase *load = tcase_create("loading");
    TCase *list = tcase_create("listing");

    tcase_add_unchecked_fixture(refuse, make_scratch, remove_scratch);
    tcase_add_test(refuse, other_abi_major_is_refused);
    tcase_add_test(refuse, missing_init_symbol_is_refused);
    tcase_add_test(refuse, missing_operation_is_refused);
    tcase_add_test(refuse, non_elf_file_is_refused);
    tcase_add_test(refuse, table_defects_are_refused);
    tcase_add_test(refuse, missing_name_lists_every_place);
    suite_add_tcase(s, refuse);

    tcase_add_unchecked_fixture(load, make_scratch, remove_scratch);
    tcase_add_test(load, explicit_path_loads);
    tcase_add_test(load, name_is_found_in_plugin_path);
    tcase_add_test(load, plugin_dir_comes_first);
    tcase_add_test(load, newer_minor_table_loads);
    tcase_add_test(load, absent_description_reads_empty);
    tcase_add_test(load, backend_errors_carry_its_name);
    tcase_add_test(load, backend_without_open_flags_opens_as_before);
    suite_add_tcase(s, load);

    tcase_add_unchecked_fixture(list, make_scratch, remove_scratch);
    tcase_add_test(list, listing_finds_backends_and_reports_broken_files);
    suite_add_tcase(s, list);
    return s;
}

int main(void)
{
    return run_suite(loader_suite());
}
