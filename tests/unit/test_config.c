/*
 * tests/unit/test_config.c - JSON configs, store URIs and the lookup chain
 * of ts_config_load(NULL).
 *
 * A config mistake is the first thing a new user meets, so most of these
 * tests are about the message: it must name the file and the line and
 * column, or the key path, of what is wrong. The lookup chain is driven by
 * environment variables; Check runs each test in its own process, so a
 * setenv() here never leaks into the next test. Files go to a scratch
 * directory made once per test case by the parent process.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"


/* scratch/rel, made fresh for the calling test (each test has its own). */
static const char *scratch_dir(const char *rel)
{
    static char path[512];

    snprintf(path, sizeof path, "%s/%s", scratch, rel);
    ck_assert_msg(mkdir(path, 0755) == 0, "mkdir %s: %s", path, strerror(errno));
    return path;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static ts_config *parse_ok(const char *json)
{
    ts_config *c = NULL;
    ts_error err = { 0 };

    ck_assert_msg(ts_config_parse_json(&c, json, "cfg.json", &err) == TS_OK, "%s: %s", json,
                  err.message);
    return c;
}

/* The message of a config that must be refused with TS_ERR_CONFIG. */
static const char *parse_fails(const char *json)
{
    static ts_error err;
    ts_config *c = (ts_config *)&err;

    memset(&err, 0, sizeof err);
    int rc = ts_config_parse_json(&c, json, "cfg.json", &err);
    ck_assert_msg(rc == TS_ERR_CONFIG, "%s: got %s (%s)", json, ts_strerror(rc), err.message);
    ck_assert_int_eq(err.code, TS_ERR_CONFIG);
    ck_assert_ptr_null(c);
    return err.message;
}

static ts_config *uri_ok(const char *uri)
{
    ts_config *c = NULL;
    ts_error err = { 0 };

    ck_assert_msg(ts_config_parse_uri(&c, uri, &err) == TS_OK, "%s: %s", uri, err.message);
    ck_assert_str_eq(ts_config_origin(c), "URI");
    return c;
}

#define assert_has(text, needle) \
    ck_assert_msg(strstr((text), (needle)) != NULL, "'%s' lacks '%s'", (text), (needle))

/* ------------------------------------------------------------ JSON */

START_TEST(json_backend_and_options)
{
    ts_config *c = parse_ok(
        "{\"store\": {\"backend\": \"sqlite\",\n"
        "            \"options\": {\"path\": \"tokens.db\", \"busy_timeout\": 42,\n"
        "                        \"wal\": true, \"sync\": false, \"ratio\": 0.5,\n"
        "                        \"offset\": -3, \"empty\": \"\"}},\n"
        " \"plugin_dir\": \"/opt/tokenstore/plugins\"}\n");

    ck_assert_str_eq(ts_config_backend(c), "sqlite");
    ck_assert_str_eq(ts_config_option(c, "path"), "tokens.db");
    ck_assert_str_eq(ts_config_option(c, "busy_timeout"), "42");
    ck_assert_str_eq(ts_config_option(c, "wal"), "1");
    ck_assert_str_eq(ts_config_option(c, "sync"), "0");
    ck_assert_str_eq(ts_config_option(c, "ratio"), "0.5");
    ck_assert_str_eq(ts_config_option(c, "offset"), "-3");
    ck_assert_str_eq(ts_config_option(c, "empty"), "");
    ck_assert_ptr_null(ts_config_option(c, "missing"));
    ck_assert_str_eq(ts_config_origin(c), "cfg.json");
    ts_config_free(c);
    ts_config_free(NULL);
}
END_TEST

START_TEST(json_store_as_uri)
{
    ts_config *c = parse_ok("{\"store\": \"redis://cache.example:6390/3?prefix=app\"}");

    ck_assert_str_eq(ts_config_backend(c), "redis");
    ck_assert_str_eq(ts_config_option(c, "host"), "cache.example");
    ck_assert_str_eq(ts_config_option(c, "port"), "6390");
    ck_assert_str_eq(ts_config_option(c, "db"), "3");
    ck_assert_str_eq(ts_config_option(c, "prefix"), "app");
    /* Errors later on should point at the file, not at "URI". */
    ck_assert_str_eq(ts_config_origin(c), "cfg.json");
    ts_config_free(c);
}
END_TEST

/* ts_config_foreach_option: every option, in the order first set (a
 * replaced value keeps its place), and a non-zero return stops the walk. */
static int collect_option(const char *key, const char *value, void *userdata)
{
    char *out = userdata;

    snprintf(out + strlen(out), 256 - strlen(out), "%s=%s;", key, value);
    return strcmp(key, "stop") == 0 ? 7 : 0;
}

START_TEST(options_are_walked_in_order)
{
    ts_config *c = parse_ok("{\"store\": \"redis://u:pw@h:6390/3?prefix=app\"}");
    char seen[256] = "";

    ck_assert_int_eq(ts_config_set_option(c, "port", "6391", NULL), TS_OK);
    ck_assert_int_eq(ts_config_foreach_option(c, collect_option, seen), TS_OK);
    ck_assert_str_eq(seen, "username=u;password=pw;host=h;port=6391;db=3;prefix=app;");
    ck_assert_int_eq(ts_config_set_option(c, "stop", "1", NULL), TS_OK);
    ck_assert_int_eq(ts_config_set_option(c, "after", "1", NULL), TS_OK);
    seen[0] = '\0';
    ck_assert_int_eq(ts_config_foreach_option(c, collect_option, seen), 7);
    ck_assert_str_eq(seen, "username=u;password=pw;host=h;port=6391;db=3;prefix=app;stop=1;");
    ts_config_free(c);
    ck_assert_int_eq(ts_config_new(&c), TS_OK);
    seen[0] = '\0';
    ck_assert_int_eq(ts_config_foreach_option(c, collect_option, seen), TS_OK);
    ck_assert_str_eq(seen, "");
    ts_config_free(c);
}
END_TEST

START_TEST(json_plugin_dir_is_searched)
{
    ts_config *c = parse_ok("{\"store\": {\"backend\": \"nosuch\"},"
                            " \"plugin_dir\": \"/nonexistent/plugins\"}");
    ts_store *s = NULL;
    ts_error err = { 0 };

    ck_assert_int_eq(ts_store_open_config(&s, c, &err), TS_ERR_LOAD);
    ck_assert_ptr_null(s);
    assert_has(err.message, "/nonexistent/plugins");
    assert_has(err.message, "nosuch");
    ts_config_free(c);
}
END_TEST

START_TEST(invalid_json_names_line_and_column)
{
    static const struct {
        const char *text;
        int line, col;
        const char *why;
    } cases[] = {
        { "{\n  \"store\": ,\n}", 2, 12, "" },
        { "{\n\t\"store\": [1,]\n}", 2, 14, "" },
        { "{\"store\": tru}", 1, 14, "" },
        { "{\"store\":\"memory:\",,}", 1, 20, "" },
        /* trailing garbage */
        { "{\"store\":\"memory:\"}\n\nxyz\n", 3, 1, "" },
        { "{\"store\":\"memory:\"}}", 1, 20, "" },
        { "{\"store\": \"memory:\"} 42", 1, 22, "" },
        /* truncated */
        { "{\n \"store\": {\"backend\": \"mem", 2, 27, "end of file" },
        { "{\n \"store\": {\"backend\": \"memory\"}\n", 3, 1, "end of file" },
        { "", 1, 1, "end of file" },
        { "  \n  ", 2, 3, "end of file" },
    };

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char want[64];
        const char *msg = parse_fails(cases[i].text);
        snprintf(want, sizeof want, "cfg.json:%d:%d: invalid JSON: ", cases[i].line,
                 cases[i].col);
        ck_assert_msg(strncmp(msg, want, strlen(want)) == 0, "case %zu: '%s', expected '%s...'",
                      i, msg, want);
        ck_assert_msg(strlen(msg) > strlen(want) + 3, "case %zu: no reason: '%s'", i, msg);
        assert_has(msg, cases[i].why);
    }
}
END_TEST

START_TEST(json_mistakes_name_the_key)
{
    static const struct {
        const char *text;
        const char *expect[3];
    } cases[] = {
        { "{\"store\": \"memory:\", \"plugins\": 1}", { "cfg.json: plugins: unknown key" } },
        { "{\"store\": {\"backend\": \"memory\", \"opts\": {}}}",
          { "cfg.json: store.opts: unknown key" } },
        { "{\"store\": {\"backend\": \"sqlite\", \"options\": {\"path\": [\"a\"]}}}",
          { "cfg.json: store.options.path: ", "array" } },
        { "{\"store\": {\"backend\": \"sqlite\", \"options\": {\"path\": null}}}",
          { "cfg.json: store.options.path: ", "null" } },
        { "{\"store\": {\"backend\": \"sqlite\", \"options\": {\"path\": {}}}}",
          { "cfg.json: store.options.path: ", "object" } },
        { "{\"store\": {\"backend\": \"memory\", \"options\": \"path=x\"}}",
          { "cfg.json: store.options: ", "expected an object", "string" } },
        { "{\"store\": {\"backend\": 7}}", { "cfg.json: store.backend: ", "int" } },
        { "{\"store\": 42}", { "cfg.json: store: ", "int" } },
        { "{\"store\": \"memory:\", \"plugin_dir\": true}", { "cfg.json: plugin_dir: ", "boolean" } },
        { "{\"store\": \"memory:\", \"plugin_dir\": \"\"}", { "cfg.json: plugin_dir" } },
        { "{\"plugin_dir\": \"/x\"}", { "cfg.json: store: missing" } },
        { "{}", { "cfg.json: store: missing" } },
        { "{\"store\": {\"options\": {\"path\": \"x\"}}}", { "cfg.json: store.backend: missing" } },
        { "{\"store\": {\"backend\": \"../evil\"}}", { "cfg.json: store.backend: ", "../evil" } },
        { "{\"store\": {\"backend\": \"../../lib/x\"}}", { "cfg.json: store.backend: ", "../../lib/x" } },
        { "{\"store\": {\"backend\": \"SQLite\"}}", { "cfg.json: store.backend: ", "SQLite" } },
        { "{\"store\": {\"backend\": \"\"}}", { "cfg.json: store.backend: " } },
        { "{\"store\": \"no uri here\"}", { "cfg.json: store: ", "no uri here" } },
        { "{\"store\": \"file:/a%zz\"}", { "cfg.json: store: ", "percent" } },
        { "[{\"store\": \"memory:\"}]", { "cfg.json: ", "JSON object", "array" } },
        { "42", { "cfg.json: ", "JSON object", "int" } },
        { "\"memory:\"", { "cfg.json: ", "JSON object", "string" } },
    };

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *msg = parse_fails(cases[i].text);
        for (int k = 0; k < 3 && cases[i].expect[k]; k++)
            ck_assert_msg(strstr(msg, cases[i].expect[k]), "case %zu (%s): '%s' lacks '%s'", i,
                          cases[i].text, msg, cases[i].expect[k]);
    }
}
END_TEST

/* ------------------------------------------------------------ URIs */

START_TEST(uris_become_backend_and_options)
{
    static const struct {
        const char *uri, *backend;
        const char *kv[12];   /* key, value pairs; a NULL value means absent */
    } cases[] = {
        { "memory:", "memory", { "path", NULL, "host", NULL } },
        { "file:/var/lib/ts/tokens.csv", "file", { "path", "/var/lib/ts/tokens.csv", "host", NULL } },
        { "file:///var/lib/ts/tokens.csv", "file", { "path", "/var/lib/ts/tokens.csv", "host", NULL } },
        { "sqlite:relative.db", "sqlite", { "path", "relative.db" } },
        { "SQLite:/x.db", "sqlite", { "path", "/x.db" } },
        { "sqlite:/a%20b.db", "sqlite", { "path", "/a b.db" } },
        { "redis://user:p%40ss@host.example:6380/2?prefix=x", "redis",
          { "username", "user", "password", "p@ss", "host", "host.example", "port", "6380",
            "db", "2", "prefix", "x" } },
        { "redis://[::1]:6379", "redis", { "host", "::1", "port", "6379", "db", NULL } },
        { "redis://[fe80::1]/4", "redis", { "host", "fe80::1", "port", NULL, "db", "4" } },
        { "redis://:only%20pw@h", "redis", { "username", NULL, "password", "only pw", "host", "h" } },
        { "redis://a:b@c@h:1", "redis", { "username", "a", "password", "b@c", "host", "h", "port", "1" } },
        { "redis://h/0?prefix=a@b:", "redis", { "host", "h", "db", "0", "prefix", "a@b:" } },
        { "rediss://h", "redis", { "tls", "1", "host", "h" } },
        { "unix:/tmp/r.sock?db=1", "redis", { "socket", "/tmp/r.sock", "db", "1", "path", NULL } },
        { "unix:///tmp/r.sock", "redis", { "socket", "/tmp/r.sock", "path", NULL } },
        { "mystore:/srv/x?k=v&flag&e=a%26b", "mystore",
          { "path", "/srv/x", "k", "v", "flag", "1", "e", "a&b" } },
        { "my-store_2:?timeout=5", "my-store_2", { "timeout", "5", "path", NULL } },
    };

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ts_config *c = uri_ok(cases[i].uri);
        ck_assert_str_eq(ts_config_backend(c), cases[i].backend);
        for (int k = 0; k < 12 && cases[i].kv[k]; k += 2) {
            const char *got = ts_config_option(c, cases[i].kv[k]);
            const char *want = cases[i].kv[k + 1];
            ck_assert_msg(want ? got && strcmp(got, want) == 0 : got == NULL,
                          "%s: option %s is '%s', expected '%s'", cases[i].uri, cases[i].kv[k],
                          got ? got : "(absent)", want ? want : "(absent)");
        }
        ts_config_free(c);
    }
}
END_TEST

START_TEST(bad_uris_are_refused)
{
    static const struct {
        const char *uri, *expect;
    } cases[] = {
        { "file:/a%2", "percent-escape in path" },
        { "file:/a%zz", "percent-escape in path" },
        { "file:/a%00b", "percent-escape in path" },
        { "redis://u:hunter%2@h", "percent-escape in password" },
        { "redis://h:abc", "port 'abc'" },
        { "redis://h:", "port ''" },
        { "redis://h:123456", "port '123456'" },
        { "redis://h:65536", "port '65536'" },
        { "redis://h:0", "port '0'" },
        { "redis://u:hunter2@h:-1/0", "port '-1'" },
        { "redis://[::1", "unterminated '['" },
        { "redis://[::1]x", "after ']'" },
        { "my.store:/x", "'my.store'" },
        { "memory:?=hunter2", "query parameter name ''" },
        { "redis//u:hunter2@h", "'redis//u' is not a store URI" },
        { "redis//u@hunter2", "'redis//u' is not a store URI" },
        /* A '/' or '?' in a password, unescaped, cuts the authority short:
         * what follows must not be taken for a port, a path or an option. */
        { "redis://u:Hun/ter2hunter@127.0.0.1:6379/0", "an '@' after the host" },
        { "redis://u:Hun?ter2hunter@127.0.0.1/0", "an '@' after the host" },
        { "redis://u:12/hunter@h/0", "an '@' after the host" },
        { "mysql://u:p/hunter@h/db", "an '@' after the host" },
        { "redis-sentinel://u:p/hunter@s1:26379/m", "an '@' after the host" },
    };

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ts_config *c = (ts_config *)cases;
        ts_error err = { 0 };
        int rc = ts_config_parse_uri(&c, cases[i].uri, &err);
        ck_assert_msg(rc == TS_ERR_CONFIG, "%s: %s", cases[i].uri, ts_strerror(rc));
        ck_assert_ptr_null(c);
        ck_assert_msg(strstr(err.message, cases[i].expect), "%s: '%s' lacks '%s'",
                      cases[i].uri, err.message, cases[i].expect);
        ck_assert_msg(!strstr(err.message, "hunter"), "password in '%s'", err.message);
    }
}
END_TEST

START_TEST(spec_is_uri_or_path)
{
    ts_config *c = NULL;
    ts_error err = { 0 };
    const char *dir = scratch_dir("spec");
    char path[600];

    ck_assert_int_eq(ts_config_load(&c, "memory:", &err), TS_OK);
    ck_assert_str_eq(ts_config_backend(c), "memory");
    ck_assert_str_eq(ts_config_origin(c), "URI");
    ts_config_free(c);

    /* An absolute path, even with a colon in it, is a file. */
    snprintf(path, sizeof path, "%s/a:b.json", dir);
    write_file(path, "{\"store\": {\"backend\": \"file\", \"options\": {\"path\": \"t.csv\"}}}");
    ck_assert_int_eq(ts_config_load(&c, path, &err), TS_OK);
    ck_assert_str_eq(ts_config_backend(c), "file");
    ck_assert_str_eq(ts_config_option(c, "path"), "t.csv");
    ck_assert_str_eq(ts_config_origin(c), path);
    ts_config_free(c);

    /* So is a relative one. */
    ck_assert_int_eq(chdir(dir), 0);
    write_file("rel.json", "{\"store\": \"memory:\"}");
    ck_assert_int_eq(ts_config_load(&c, "rel.json", &err), TS_OK);
    ck_assert_str_eq(ts_config_backend(c), "memory");
    ck_assert_str_eq(ts_config_origin(c), "rel.json");
    ts_config_free(c);

    /* A missing file is an error naming it. */
    c = (ts_config *)&err;
    ck_assert_int_eq(ts_config_load(&c, "missing.json", &err), TS_ERR_CONFIG);
    ck_assert_ptr_null(c);
    assert_has(err.message, "missing.json");
    assert_has(err.message, "No such file");

    /* A bad file's message carries its path, line and column. */
    write_file("bad.json", "{\n  \"store\": \"memory:\"\n  \"x\": 1\n}\n");
    ck_assert_int_eq(ts_config_load(&c, "bad.json", &err), TS_ERR_CONFIG);
    assert_has(err.message, "bad.json:3:3: invalid JSON");

    /* A directory says so; a file larger than a first read is read whole. */
    ck_assert_int_eq(mkdir("confdir", 0700), 0);
    ck_assert_int_eq(ts_config_load(&c, "confdir", &err), TS_ERR_CONFIG);
    assert_has(err.message, "confdir: is a directory, not a config file");
    char big[20000];
    int n = snprintf(big, sizeof big, "{\"store\": {\"backend\": \"memory\", \"options\": {");
    char last[16] = "";
    for (int i = 0; n < 19000; i++) {
        n += snprintf(big + n, sizeof big - (size_t)n, "%s\"k%d\": \"v\"", i ? ", " : "", i);
        snprintf(last, sizeof last, "k%d", i);
    }
    snprintf(big + n, sizeof big - (size_t)n, "}}, \"plugin_dir\": \"/end\"}");
    write_file("big.json", big);
    ck_assert_int_eq(ts_config_load(&c, "big.json", &err), TS_OK);
    ck_assert_str_eq(ts_config_option(c, "k0"), "v");
    ck_assert_str_eq(ts_config_option(c, last), "v");
    ts_config_free(c);
}
END_TEST

/* json-c keeps the last of two equal keys and ends a C string at an
 * escaped NUL; a config must not silently say something else. */
START_TEST(json_duplicates_and_nul_are_refused)
{
    static const struct {
        const char *text;
        const char *expect;
    } cases[] = {
        { "{\"store\": \"memory:\",\n \"store\": \"file:/tmp/x\"}",
          "cfg.json:2:2: store: the key is given twice (first on line 1)" },
        { "{\"store\": {\"backend\": \"file\", \"options\": {\"path\": \"/tmp/x\\u0000.csv\"}}}",
          "cfg.json:1:51: store.options.path: the string holds a NUL byte" },
        { "{\"store\": {\"backend\": \"file\",\n  \"options\": {\"path\": \"a\", \"p\\u0061th\": \"b\"}}}",
          "cfg.json:2:28: store.options.path: the key is given twice (first on line 2)" },
        { "{\"store\": \"memory:\", \"oauth\": {\"client_secret\": \"s\\u0000t\"}}",
          "oauth.client_secret: the string holds a NUL byte" },
        { "{\"st\\u0000ore\": \"memory:\"}", "cfg.json:1:2: a key holds a NUL byte" },
        /* json-c would make U+FFFD of a lone surrogate: other bytes. */
        { "{\"store\": \"memory:\", \"oauth\": {\"client_id\": \"a\\udcffb\"}}",
          "oauth.client_id: the string holds a NUL byte (\\u0000) or a lone surrogate" },
        { "{\"store\": \"memory:\", \"oauth\": {\"client_id\": \"\\ud800\\u0041\"}}",
          "oauth.client_id: the string holds" },
        { "{\"a\": [{\"x\": 1}, {\"x\": 1, \"x\": 2}]}", "a[1].x: the key is given twice" },
        { "{\"store\": \"memory:\", \"\\ud83d\\ude00\": 1, \"\xf0\x9f\x98\x80\": 2}",
          "the key is given twice" },
        /* json-c's strict mode takes a single-quoted key; JSON does not. */
        { "{\"store\": \"memory:\",\n 'oauth': {}}",
          "cfg.json:2:2: a key must be a string in double quotes" },
        { "{\"store\": {'  \"dd': \"x\"}}", "store: a key must be a string in double quotes" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        assert_has(parse_fails(cases[i].text), cases[i].expect);

    /* Escapes that are not NUL, and equal values under different keys, stay fine. */
    ts_config *c = parse_ok("{\"store\": {\"backend\": \"file\", \"options\": "
                            "{\"path\": \"/tmp/a\\\\u0000b\\u0041\", \"mode\": \"0600\"}}}");
    ck_assert_str_eq(ts_config_option(c, "path"), "/tmp/a\\u0000bA");
    ts_config_free(c);
}
END_TEST

START_TEST(setters_check_their_input)
{
    ts_config *c = NULL;
    ts_error err = { 0 };

    ck_assert_int_eq(ts_config_new(&c), TS_OK);
    ck_assert_ptr_null(ts_config_backend(c));
    ck_assert_int_eq(ts_config_set_backend(c, "memory", &err), TS_OK);
    ck_assert_int_eq(ts_config_set_backend(c, "Memory", &err), TS_ERR_CONFIG);
    assert_has(err.message, "Memory");
    ck_assert_int_eq(ts_config_set_backend(c, "", &err), TS_ERR_CONFIG);
    ck_assert_int_eq(ts_config_set_backend(c, "../memory", &err), TS_ERR_CONFIG);
    ck_assert_str_eq(ts_config_backend(c), "memory");
    ck_assert_int_eq(ts_config_set_backend(c, "/opt/ts/mongo.so", &err), TS_OK);
    ck_assert_str_eq(ts_config_backend(c), "/opt/ts/mongo.so");
    ck_assert_int_eq(ts_config_set_backend(c, "./build/x.so", &err), TS_OK);

    ck_assert_int_eq(ts_config_set_option(c, "path", "a", &err), TS_OK);
    ck_assert_int_eq(ts_config_set_option(c, "path", "b", &err), TS_OK);
    ck_assert_str_eq(ts_config_option(c, "path"), "b");
    ck_assert_int_eq(ts_config_set_option(c, "", "x", &err), TS_ERR_CONFIG);
    ck_assert_int_eq(ts_config_set_option(c, NULL, "x", &err), TS_ERR_CONFIG);
    ck_assert_int_eq(ts_config_set_option(c, "k", NULL, &err), TS_ERR_CONFIG);
    ck_assert_int_eq(ts_config_set_plugin_dir(c, "", &err), TS_ERR_CONFIG);
    ck_assert_str_eq(ts_config_origin(c), "API");
    ts_config_free(c);
}
END_TEST

START_TEST(options_unknown_to_the_backend)
{
    ts_store *s = NULL;
    ts_error err = { 0 };
    const char *dir = scratch_dir("unknown");
    char path[600];

    ck_assert_int_eq(ts_store_open(&s, "memory:?foo=1", &err), TS_ERR_CONFIG);
    ck_assert_ptr_null(s);
    assert_has(err.message, "'foo'");
    assert_has(err.message, "'memory'");

    snprintf(path, sizeof path, "%s/cfg.json", dir);
    write_file(path, "{\"store\": {\"backend\": \"memory\", \"options\": {\"bar\": 2}}}");
    ck_assert_int_eq(ts_store_open(&s, path, &err), TS_ERR_CONFIG);
    assert_has(err.message, path);
    assert_has(err.message, "'bar'");
    assert_has(err.message, "'memory'");

    ck_assert_int_eq(ts_store_open(&s, "memory:", &err), TS_OK);
    ts_store_close(s);
}
END_TEST

/* ------------------------------------------------------------ lookup chain */

static void write_config(const char *dir, const char *json)
{
    char path[600];

    snprintf(path, sizeof path, "%s/tokenstore", dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/tokenstore/config.json", dir);
    write_file(path, json);
}

START_TEST(env_config_uri)
{
    ts_config *c = NULL;
    ts_error err = { 0 };
    const char *xdg = scratch_dir("env-uri");

    write_config(xdg, "{\"store\": \"file:/from/user/config\"}");
    setenv("XDG_CONFIG_HOME", xdg, 1);
    setenv("TOKENSTORE_CONFIG", "memory:?x=1", 1);
    ck_assert_int_eq(ts_config_load(&c, NULL, &err), TS_OK);
    ck_assert_str_eq(ts_config_backend(c), "memory");
    ck_assert_str_eq(ts_config_option(c, "x"), "1");
    ck_assert_str_eq(ts_config_origin(c), "URI");
    ts_config_free(c);

    /* An explicit spec beats the environment. */
    ck_assert_int_eq(ts_config_load(&c, "sqlite:/x.db", &err), TS_OK);
    ck_assert_str_eq(ts_config_backend(c), "sqlite");
    ts_config_free(c);
}
END_TEST

START_TEST(env_config_file)
{
    ts_config *c = NULL;
    ts_error err = { 0 };
    char path[600];
    const char *dir = scratch_dir("env-file");

    snprintf(path, sizeof path, "%s/app.json", dir);
    write_file(path, "{\"store\": {\"backend\": \"sqlite\", \"options\": {\"path\": \"/srv/t.db\"}}}");
    setenv("TOKENSTORE_CONFIG", path, 1);
    ck_assert_int_eq(ts_config_load(&c, NULL, &err), TS_OK);
    ck_assert_str_eq(ts_config_backend(c), "sqlite");
    ck_assert_str_eq(ts_config_option(c, "path"), "/srv/t.db");
    ck_assert_str_eq(ts_config_origin(c), path);
    ts_config_free(c);

    /* A TOKENSTORE_CONFIG that cannot be read is an error, not a fallback. */
    snprintf(path, sizeof path, "%s/gone.json", dir);
    setenv("TOKENSTORE_CONFIG", path, 1);
    ck_assert_int_eq(ts_config_load(&c, NULL, &err), TS_ERR_CONFIG);
    ck_assert_ptr_null(c);
    assert_has(err.message, path);
}
END_TEST

START_TEST(user_config_file)
{
    ts_config *c = NULL;
    ts_error err = { 0 };
    char path[600];
    const char *xdg = scratch_dir("xdg");

    unsetenv("TOKENSTORE_CONFIG");
    write_config(xdg, "{\"store\": {\"backend\": \"file\", \"options\": {\"path\": \"/t.csv\"}}}");
    setenv("XDG_CONFIG_HOME", xdg, 1);
    ck_assert_int_eq(ts_config_load(&c, NULL, &err), TS_OK);
    ck_assert_str_eq(ts_config_backend(c), "file");
    snprintf(path, sizeof path, "%s/tokenstore/config.json", xdg);
    ck_assert_str_eq(ts_config_origin(c), path);
    ts_config_free(c);

    /* An empty TOKENSTORE_CONFIG counts as unset. */
    setenv("TOKENSTORE_CONFIG", "", 1);
    ck_assert_int_eq(ts_config_load(&c, NULL, &err), TS_OK);
    ck_assert_str_eq(ts_config_origin(c), path);
    ts_config_free(c);

    /* A broken user config is reported, not skipped. */
    write_file(path, "{\"store\": {\"backend\": \"file\",}}");
    ck_assert_int_eq(ts_config_load(&c, NULL, &err), TS_ERR_CONFIG);
    assert_has(err.message, path);
    assert_has(err.message, ":1:");
}
END_TEST

START_TEST(user_config_under_home)
{
    ts_config *c = NULL;
    ts_error err = { 0 };
    char path[600];
    const char *home = scratch_dir("home");

    unsetenv("TOKENSTORE_CONFIG");
    unsetenv("XDG_CONFIG_HOME");
    setenv("HOME", home, 1);
    snprintf(path, sizeof path, "%s/.config", home);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    write_config(path, "{\"store\": \"memory:\"}");
    ck_assert_int_eq(ts_config_load(&c, NULL, &err), TS_OK);
    ck_assert_str_eq(ts_config_backend(c), "memory");
    assert_has(ts_config_origin(c), home);
    ts_config_free(c);

    /* A relative XDG_CONFIG_HOME is ignored, as the XDG spec says. */
    setenv("XDG_CONFIG_HOME", "relative/dir", 1);
    ck_assert_int_eq(ts_config_load(&c, NULL, &err), TS_OK);
    assert_has(ts_config_origin(c), home);
    ts_config_free(c);
}
END_TEST

START_TEST(default_store)
{
    ts_config *c = NULL;
    ts_error err = { 0 };
    struct stat st;
    char dbdir[700], db[800];
    const char *base = scratch_dir("default");
    char data[600], config[600];

    snprintf(config, sizeof config, "%s/empty-config", base);
    ck_assert_int_eq(mkdir(config, 0755), 0);
    snprintf(data, sizeof data, "%s/not-yet/data", base);
    unsetenv("TOKENSTORE_CONFIG");
    setenv("XDG_CONFIG_HOME", config, 1);
    setenv("XDG_DATA_HOME", data, 1);
    umask(022);

    ck_assert_int_eq(ts_config_load(&c, NULL, &err), TS_OK);
    ck_assert_str_eq(ts_config_backend(c), "sqlite");
    ck_assert_str_eq(ts_config_origin(c), "default");
    snprintf(dbdir, sizeof dbdir, "%s/tokenstore", data);
    snprintf(db, sizeof db, "%s/zohooauth.db", dbdir);
    ck_assert_str_eq(ts_config_option(c, "path"), db);
    ts_config_free(c);

    /* Loading a config only reads: the directory is made when the store
     * is opened to be written (below). */
    ck_assert_int_eq(stat(data, &st), -1);
}
END_TEST

/* Opening the default store to read it creates nothing, not even its
 * directory; opening it to write makes both, the directory 0700. */
#ifdef TS_TEST_SQLITE
/* The default store is sqlite: only when that backend was built. */
START_TEST(default_store_read_only_creates_nothing)
{
    ts_store *s = NULL;
    ts_error err = { 0 };
    char config[600], data[600], dbdir[700], db[800], expect[900];
    const char *base = scratch_dir("default-ro");

    snprintf(config, sizeof config, "%s/empty-config", base);
    ck_assert_int_eq(mkdir(config, 0755), 0);
    snprintf(data, sizeof data, "%s/data", base);
    snprintf(dbdir, sizeof dbdir, "%s/tokenstore", data);
    snprintf(db, sizeof db, "%s/zohooauth.db", dbdir);
    unsetenv("TOKENSTORE_CONFIG");
    setenv("XDG_CONFIG_HOME", config, 1);
    setenv("XDG_DATA_HOME", data, 1);

    for (unsigned flags = TS_OPEN_MUST_EXIST; flags <= TS_OPEN_READ_ONLY; flags <<= 1) {
        ck_assert_int_eq(ts_store_open_flags(&s, NULL, flags, &err), TS_ERR_NO_STORE);
        snprintf(expect, sizeof expect, "no such store: %s", db);
        assert_has(err.message, expect);
        ck_assert_int_eq(access(data, F_OK), -1);
    }
    umask(022);
    ck_assert_msg(ts_store_open_flags(&s, NULL, 0, &err) == TS_OK, "%s", err.message);
    ts_store_close(s);
    ck_assert_int_eq(access(db, F_OK), 0);
    struct stat st;
    ck_assert_int_eq(stat(dbdir, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 07777, 0700);
}
END_TEST
#endif

START_TEST(default_store_under_home)
{
    ts_config *c = NULL;
    ts_error err = { 0 };
    char db[700];
    const char *home = scratch_dir("default-home");

    unsetenv("TOKENSTORE_CONFIG");
    unsetenv("XDG_CONFIG_HOME");
    setenv("XDG_DATA_HOME", "not/absolute", 1);
    setenv("HOME", home, 1);
    ck_assert_int_eq(ts_config_load(&c, NULL, &err), TS_OK);
    snprintf(db, sizeof db, "%s/.local/share/tokenstore/zohooauth.db", home);
    ck_assert_str_eq(ts_config_option(c, "path"), db);
    ts_config_free(c);

    /* Nowhere to put it: a message, not a store in the working directory. */
    unsetenv("XDG_DATA_HOME");
    unsetenv("HOME");
    c = (ts_config *)&err;
    ck_assert_int_eq(ts_config_load(&c, NULL, &err), TS_ERR_CONFIG);
    ck_assert_ptr_null(c);
    assert_has(err.message, "HOME");
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *json = tcase_create("json");
    TCase *uri = tcase_create("uri");
    TCase *chain = tcase_create("lookup chain");

    tcase_add_test(json, json_backend_and_options);
    tcase_add_test(json, json_store_as_uri);
    tcase_add_test(json, options_are_walked_in_order);
    tcase_add_test(json, json_plugin_dir_is_searched);
    tcase_add_test(json, invalid_json_names_line_and_column);
    tcase_add_test(json, json_mistakes_name_the_key);
    tcase_add_test(json, json_duplicates_and_nul_are_refused);
    tcase_add_test(json, setters_check_their_input);
    suite_add_tcase(s, json);

    tcase_add_test(uri, uris_become_backend_and_options);
    tcase_add_test(uri, bad_uris_are_refused);
    suite_add_tcase(s, uri);

    tcase_add_unchecked_fixture(chain, make_scratch, remove_scratch);
    tcase_add_test(chain, spec_is_uri_or_path);
    tcase_add_test(chain, options_unknown_to_the_backend);
    tcase_add_test(chain, env_config_uri);
    tcase_add_test(chain, env_config_file);
    tcase_add_test(chain, user_config_file);
    tcase_add_test(chain, user_config_under_home);
    tcase_add_test(chain, default_store);
#ifdef TS_TEST_SQLITE
    tcase_add_test(chain, default_store_read_only_creates_nothing);
#endif
    tcase_add_test(chain, default_store_under_home);
    suite_add_tcase(s, chain);
    return s;
}

int main(void)
{
    return run_suite(config_suite());
}
