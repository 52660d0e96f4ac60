/*
 * tests/unit/test_abi.c - what 1.5 adds to the application interface:
 * the versions a program is compiled and run with, the names of the
 * codes, ts_backend_info's size (and the 1.4 layout the old symbols keep
 * for programs built before it), and the store's lock, notes and log that
 * libtokenstore-oauth is built on. This program links libtokenstore
 * alone: none of it needs the OAuth client.
 */
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"

/* ---------------------------------------------------------------- versions */

START_TEST(compile_time_version_is_the_library_s)
{
    char text[64];

    snprintf(text, sizeof text, "%d.%d.%d", TS_VERSION_MAJOR, TS_VERSION_MINOR,
             TS_VERSION_PATCH);
    ck_assert_str_eq(text, TS_VERSION_STRING);
    ck_assert_str_eq(ts_version(), TS_VERSION_STRING);
    ck_assert_int_ge(TS_VERSION_MAJOR, 0);
    ck_assert_int_ge(TS_VERSION_MINOR, 0);
    ck_assert_int_ge(TS_VERSION_PATCH, 0);
}
END_TEST

START_TEST(version_numbers_order_versions)
{
    ck_assert(TS_VERSION_AT(1, 0, 0) > TS_VERSION_AT(0, 999, 999));
    ck_assert(TS_VERSION_AT(0, 2, 0) > TS_VERSION_AT(0, 1, 9));
    ck_assert(TS_VERSION_NUMBER == TS_VERSION_AT(TS_VERSION_MAJOR, TS_VERSION_MINOR,
                                                 TS_VERSION_PATCH));
#if TS_VERSION_NUMBER < TS_VERSION_AT(0, 1, 0)
    ck_abort_msg("TS_VERSION_NUMBER is usable in #if, and this library is at least 0.1.0");
#endif
}
END_TEST

/* ---------------------------------------------------------------- code names */

START_TEST(errors_set_and_prefixed)
{
    ts_error err = { 0 };
    char long_text[2 * TS_ERROR_MAX];

    ck_assert_int_eq(ts_error_set(&err, TS_ERR_IO, "cannot read %s", "/x"), TS_ERR_IO);
    ck_assert_int_eq(err.code, TS_ERR_IO);
    ck_assert_str_eq(err.message, "cannot read /x");
    ck_assert_int_eq(ts_error_prefix(&err, "%s", "file"), TS_ERR_IO);
    ck_assert_str_eq(err.message, "file: cannot read /x");
    ck_assert_int_eq(err.code, TS_ERR_IO);

    /* No message yet: the code's description stands in for it. */
    ts_error bare = { TS_ERR_BUSY, "" };
    ck_assert_int_eq(ts_error_prefix(&bare, "redis"), TS_ERR_BUSY);
    char want[TS_ERROR_MAX];
    snprintf(want, sizeof want, "redis: %s", ts_strerror(TS_ERR_BUSY));
    ck_assert_str_eq(bare.message, want);

    /* Cut to the buffer, still a C string; a NULL err is allowed. */
    memset(long_text, 'x', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    ck_assert_int_eq(ts_error_set(&err, TS_ERR_CONFIG, "%s", long_text), TS_ERR_CONFIG);
    ck_assert_uint_eq(strlen(err.message), TS_ERROR_MAX - 1);
    ck_assert_int_eq(ts_error_prefix(&err, "sqlite"), TS_ERR_CONFIG);
    ck_assert_uint_eq(strlen(err.message), TS_ERROR_MAX - 1);
    ck_assert_int_eq(strncmp(err.message, "sqlite: xxx", 11), 0);
    ck_assert_int_eq(ts_error_set(NULL, TS_ERR_IO, "x"), TS_ERR_IO);
    ck_assert_int_eq(ts_error_prefix(NULL, "x"), TS_OK);
}
END_TEST

START_TEST(code_names_spell_the_enum)
{
    ck_assert_str_eq(ts_code_name(TS_OK), "TS_OK");
    ck_assert_str_eq(ts_code_name(TS_NOT_FOUND), "TS_NOT_FOUND");
    ck_assert_str_eq(ts_code_name(TS_ERR_IO), "TS_ERR_IO");
    ck_assert_str_eq(ts_code_name(TS_ERR_READ_ONLY), "TS_ERR_READ_ONLY");
    ck_assert_str_eq(ts_code_name(TS_ERR_BACKOFF), "TS_ERR_BACKOFF");
    ck_assert_ptr_null(ts_code_name(-1));
    ck_assert_ptr_null(ts_code_name(TS_CODE_COUNT));
}
END_TEST

START_TEST(every_code_has_its_own_name)
{
    for (int i = 0; i < TS_CODE_COUNT; i++) {
        const char *name = ts_code_name(i);
        ck_assert_msg(name && strncmp(name, "TS_", 3) == 0, "code %d: %s", i,
                      name ? name : "(null)");
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(name, ts_code_name(j));
    }
}
END_TEST

/* ---------------------------------------------------------------- ts_backend_info */

/* The struct as 1.4 declared it: what a program built then passes. */
struct info_1_4 {
    const char *name;
    const char *version;
    const char *description;
    const char *path;
    unsigned abi_major;
    unsigned abi_minor;
    uint32_t caps;
};

static ts_store *open_memory(void)
{
    ts_store *s;
    ts_error err;

    ck_assert_msg(ts_store_open(&s, "memory:", &err) == TS_OK, "%s", err.message);
    return s;
}

START_TEST(store_info_fills_all_and_says_so)
{
    ts_store *s = open_memory();
    ts_backend_info info;

    memset(&info, 0xa5, sizeof info);       /* the macro sets size itself */
    ts_store_info(s, &info);
    ck_assert_uint_eq(info.size, sizeof info);
    ck_assert_str_eq(info.name, "memory");
    ck_assert_ptr_nonnull(info.version);
    ck_assert_uint_eq(info.abi_major, 1);
    ck_assert(TS_BACKEND_INFO_HAS(&info, caps));
    ts_store_close(s);
}
END_TEST

START_TEST(store_info_fills_only_what_fits)
{
    ts_store *s = open_memory();
    ts_backend_info info;
    static const char sentinel[] = "untouched";

    memset(&info, 0, sizeof info);
    info.version = sentinel;
    info.size = offsetof(ts_backend_info, version);     /* size and name */
    ts_store_info_sized(s, &info);
    ck_assert_uint_eq(info.size, offsetof(ts_backend_info, version));
    ck_assert_str_eq(info.name, "memory");
    ck_assert_ptr_eq(info.version, sentinel);
    ck_assert(TS_BACKEND_INFO_HAS(&info, name));
    ck_assert(!TS_BACKEND_INFO_HAS(&info, version));

    /* A size ending inside a member fills up to the member before it. */
    info.size = offsetof(ts_backend_info, version) + 3;
    info.name = NULL;
    ts_store_info_sized(s, &info);
    ck_assert_uint_eq(info.size, offsetof(ts_backend_info, version));
    ck_assert_str_eq(info.name, "memory");
    ck_assert_ptr_eq(info.version, sentinel);

    /* No room even for the size: nothing is written. */
    info.size = 0;
    info.name = NULL;
    ts_store_info_sized(s, &info);
    ck_assert_uint_eq(info.size, 0);
    ck_assert_ptr_null(info.name);
    ts_store_close(s);
}
END_TEST

START_TEST(old_symbol_keeps_the_1_4_layout)
{
    void (*old_info)(const ts_store *, struct info_1_4 *) =
        (void (*)(const ts_store *, struct info_1_4 *))dlsym(RTLD_DEFAULT, "ts_store_info");
    ts_store *s = open_memory();
    struct info_1_4 info;

    ck_assert_ptr_nonnull(old_info);
    memset(&info, 0, sizeof info);
    old_info(s, &info);
    ck_assert_str_eq(info.name, "memory");
    ck_assert_str_eq(info.path + strlen(info.path) - strlen("memory.so"), "memory.so");
    ck_assert_uint_eq(info.abi_major, 1);
    ts_store_close(s);
}
END_TEST

struct seen {
    int memory;
    size_t size;
};

static int seen_new(const ts_backend_info *info, void *userdata)
{
    struct seen *seen = userdata;

    if (strcmp(info->name, "memory") == 0) {
        seen->memory++;
        seen->size = info->size;
    }
    return 0;
}

static int seen_old(const struct info_1_4 *info, void *userdata)
{
    struct seen *seen = userdata;

    seen->memory += strcmp(info->name, "memory") == 0;
    return 0;
}

START_TEST(backends_list_hands_out_its_size_and_the_old_layout)
{
    typedef int (*old_list_fn)(const ts_config *, int (*)(const struct info_1_4 *, void *),
                               void (*)(const char *, const ts_error *, void *), void *,
                               ts_error *);
    old_list_fn old_list = (old_list_fn)dlsym(RTLD_DEFAULT, "ts_backends_list");
    struct seen seen = { 0, 0 };
    ts_error err;

    ck_assert_int_eq(ts_backends_list(NULL, seen_new, NULL, &seen, &err), TS_OK);
    ck_assert_int_eq(seen.memory, 1);
    ck_assert_uint_eq(seen.size, sizeof(ts_backend_info));
    ck_assert_ptr_nonnull(old_list);
    seen.memory = 0;
    ck_assert_int_eq(old_list(NULL, seen_old, NULL, &seen, &err), TS_OK);
    ck_assert_int_eq(seen.memory, 1);
}
END_TEST

/* ---------------------------------------------------------------- the store's hooks */

START_TEST(store_flags_are_the_open_flags)
{
    ts_store *s = open_memory();
    ts_error err;

    ck_assert_uint_eq(ts_store_flags(s), 0);
    ts_store_close(s);
    ck_assert_int_eq(ts_store_open_flags(&s, "memory:", TS_OPEN_MUST_EXIST, &err), TS_OK);
    ck_assert_uint_eq(ts_store_flags(s), TS_OPEN_MUST_EXIST);
    ts_store_close(s);
}
END_TEST

static int collect(const char *entry, void *userdata)
{
    char *all = userdata;

    strcat(all, entry);
    strcat(all, "|");
    return 0;
}

START_TEST(notes_log_and_lock)
{
    ts_store *s = open_memory();
    char value[64], all[256] = "";
    void *lock = NULL;
    ts_error err;

    ck_assert_int_eq(ts_store_note_get(s, "n", value, sizeof value, &err), TS_NOT_FOUND);
    ck_assert_int_eq(ts_store_note_set(s, "n", "one", 0, &err), TS_OK);
    ck_assert_int_eq(ts_store_note_get(s, "n", value, sizeof value, &err), TS_OK);
    ck_assert_str_eq(value, "one");
    for (int i = 0; i < 4; i++) {
        char entry[16];
        snprintf(entry, sizeof entry, "e%d", i);
        ck_assert_int_eq(ts_store_log_append(s, entry, 3, &err), TS_OK);
    }
    ck_assert_int_eq(ts_store_log_walk(s, collect, all, &err), TS_OK);
    ck_assert_str_eq(all, "e1|e2|e3|");
    ck_assert_int_eq(ts_store_lock(s, "l", 1000, 1000, &lock, &err), TS_OK);
    ck_assert_int_eq(ts_store_unlock(s, lock, &err), TS_OK);
    ts_store_close(s);
}
END_TEST

START_TEST(oauth_settings_are_found_by_key)
{
    const ts_oauth_setting *def = ts_oauth_setting_find("accounts_url.EU");

    ck_assert_ptr_nonnull(def);
    ck_assert_str_eq(def->name, "accounts_url.*");
    def = ts_oauth_setting_find("refresh_ahead_ms");
    ck_assert_ptr_nonnull(def);
    ck_assert_str_eq(def->default_value, "60000");
    ck_assert_ptr_null(ts_oauth_setting_find("accounts_url."));
    ck_assert_ptr_null(ts_oauth_setting_find("refresh_ahead"));
    ck_assert_ptr_null(ts_oauth_setting_find(NULL));
}
END_TEST

static int join(const char *key, const char *value, void *userdata)
{
    char *all = userdata;

    strcat(all, key);
    strcat(all, "=");
    strcat(all, value);
    strcat(all, ";");
    return strcmp(key, "stop") == 0 ? 7 : 0;
}

START_TEST(config_oauth_section_is_walked_in_order)
{
    ts_config *c;
    ts_error err;
    char all[256] = "";

    ck_assert_int_eq(ts_config_parse_json(&c, "{\"store\": \"memory:\", \"oauth\": "
                                          "{\"timeout_ms\": 5000, \"data_center\": \"EU\"}}",
                                          "test.json", &err), TS_OK);
    ck_assert_int_eq(ts_config_set_oauth(c, "retries", "2", &err), TS_OK);
    ck_assert_int_eq(ts_config_foreach_oauth(c, join, all), TS_OK);
    ck_assert_str_eq(all, "timeout_ms=5000;data_center=EU;retries=2;");
    ts_config_free(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("abi");
    TCase *versions = tcase_create("versions");
    TCase *info = tcase_create("backend info");
    TCase *hooks = tcase_create("store hooks");

    tcase_add_test(versions, compile_time_version_is_the_library_s);
    tcase_add_test(versions, version_numbers_order_versions);
    tcase_add_test(versions, code_names_spell_the_enum);
    tcase_add_test(versions, every_code_has_its_own_name);
    tcase_add_test(versions, errors_set_and_prefixed);
    tcase_add_test(info, store_info_fills_all_and_says_so);
    tcase_add_test(info, store_info_fills_only_what_fits);
    tcase_add_test(info, old_symbol_keeps_the_1_4_layout);
    tcase_add_test(info, backends_list_hands_out_its_size_and_the_old_layout);
    tcase_add_test(hooks, store_flags_are_the_open_flags);
    tcase_add_test(hooks, notes_log_and_lock);
    tcase_add_test(hooks, oauth_settings_are_found_by_key);
    tcase_add_test(hooks, config_oauth_section_is_walked_in_order);
    suite_add_tcase(s, versions);
    suite_add_tcase(s, info);
    suite_add_tcase(s, hooks);
    return run_suite(s);
}
