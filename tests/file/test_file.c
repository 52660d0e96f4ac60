/*
 * tests/file/test_file.c - the file backend: its CSV dialect, the SDK's
 * golden files, many processes, SIGKILL, malformed files, permissions.
 *
 * csv.c is compiled into this program, so the parser and writer are tested
 * directly; everything else goes through the public API with the built
 * backend, as an application would use it. Golden files: tests/fixtures/sdk
 * holds files written by the SDKs' FileStores (Python's csv module as the
 * Python SDK calls it, and the Node.js SDK itself; its README says how),
 * tests/fixtures/file files edited by other hands, and the *.expected.csv
 * files are what the file's SDK writes for the rows of their inputs.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <tokenstore/tokenstore.h>
#include <tokenstore/backend.h>
#include "../../plugins/file/csv.h"
#include "../check_main.h"
#include "../raw_backend.h"
#include "../test_store.h"

/* A new file's header: the Python SDK's. */
#define HEADER "id,user_name,client_id,client_secret,refresh_token,access_token," \
               "grant_token,expiry_time,redirect_uri,api_domain\r\n"

/* ---------------------------------------------------------------- helpers */

/* A path inside the scratch directory (one of four rotating buffers). */
static const char *in_scratch(const char *name)
{
    static char buf[4][PATH_MAX];
    static int next;
    char *p = buf[next++ % 4];
    int n = snprintf(p, PATH_MAX, "%s/%s", scratch, name);
    ck_assert(n > 0 && n < PATH_MAX);
    return p;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "cannot open %s: %s", path, strerror(errno));
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    rewind(fp);
    char *buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
    buf[n] = '\0';
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static void spit(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(data, 1, len, fp), len);
    ck_assert_int_eq(fclose(fp), 0);
}

static const char *fixture_in(const char *dir, const char *name)
{
    static char path[2][PATH_MAX];
    static int next;
    char *p = path[next++ % 2];
    const char *top = getenv("top_srcdir");
    snprintf(p, PATH_MAX, "%s/tests/fixtures/%s/%s", top ? top : "../..", dir, name);
    return p;
}

/* tests/fixtures/file: files edited by other hands. */
static const char *fixture(const char *name)
{
    return fixture_in("file", name);
}

/* tests/fixtures/sdk: files the SDKs wrote. */
static const char *sdk_file(const char *name)
{
    return fixture_in("sdk", name);
}

static void copy_file(const char *from, const char *dest)
{
    size_t len;
    char *data = slurp(from, &len);
    spit(dest, data, len);
    free(data);
}

static void copy_fixture(const char *name, const char *dest)
{
    copy_file(fixture(name), dest);
}

/* Asserts the file holds exactly these bytes, naming the first difference. */
static void assert_file_bytes(const char *path, const char *want, size_t want_len)
{
    size_t len, i = 0;
    char *got = slurp(path, &len);
    while (i < len && i < want_len && got[i] == want[i])
        i++;
    ck_assert_msg(len == want_len && i == len,
                  "%s differs at byte %zu (got %zu bytes, expected %zu)", path, i, len, want_len);
    free(got);
}

static void assert_same_files(const char *path, const char *expected_path)
{
    size_t len;
    char *want = slurp(expected_path, &len);
    assert_file_bytes(path, want, len);
    free(want);
}

static int open_store_logged(ts_store **out, const char *path, const char *mode,
                             struct log_capture *log, ts_error *err)
{
    ts_config *cfg;
    ck_assert_int_eq(ts_config_new(&cfg), TS_OK);
    ck_assert_int_eq(ts_config_set_backend(cfg, "file", err), TS_OK);
    ck_assert_int_eq(ts_config_set_option(cfg, "path", path, err), TS_OK);
    if (mode)
        ck_assert_int_eq(ts_config_set_option(cfg, "mode", mode, err), TS_OK);
    ts_config_set_logger(cfg, log ? capture_log : NULL, log, TS_LOG_DEBUG);
    int rc = ts_store_open_config(out, cfg, err);
    ts_config_free(cfg);
    return rc;
}

static ts_store *open_store(const char *path)
{
    ts_store *s;
    ts_error err;
    int rc = open_store_logged(&s, path, NULL, NULL, &err);
    ck_assert_msg(rc == TS_OK, "open %s: %s", path, err.message);
    return s;
}

static ts_token *user_token(const char *user, const char *refresh)
{
    ts_token *t = ts_token_new();
    ts_token_set(t, TS_FIELD_USER_NAME, user);
    ts_token_set(t, TS_FIELD_CLIENT_ID, "1000.CLIENT");
    ts_token_set(t, TS_FIELD_REFRESH_TOKEN, refresh);
    return t;
}


static ts_token *by_id(ts_store *s, const char *id)
{
    ts_token *t = ts_token_new();
    ts_error err;
    int rc = ts_find_token_by_id(s, id, t, &err);
    ck_assert_msg(rc == TS_OK, "find_token_by_id(%s): %s", id, rc == TS_NOT_FOUND ? "not found" : err.message);
    return t;
}

/* Re-saves token `id` unchanged: a load/save round trip of the file. */
static void resave(ts_store *s, const char *id)
{
    ts_token *t = by_id(s, id);
    save_ok(s, t);
    ts_token_free(t);
}

/* Every record of a CSV buffer (header included), strictly parsed. */
static size_t count_records(const char *buf, size_t len)
{
    csv_reader r;
    csv_record rec;
    size_t n = 0;
    csv_status st;

    file_csv_reader_init(&r, buf, len);
    while ((st = file_csv_read(&r, &rec)) == CSV_RECORD) {
        ck_assert_uint_eq(rec.nfields, 10);
        n++;
    }
    ck_assert_msg(st == CSV_END, "line %zu: %s", r.err_line, r.err_msg);
    file_csv_reader_free(&r);
    return n;
}

/* ---------------------------------------------------------------- csv writer */

static void assert_buf(const csv_buf *b, const char *want, size_t want_len)
{
    ck_assert_uint_eq(b->len, want_len);
    ck_assert_int_eq(memcmp(b->data, want, want_len), 0);
}

/* A record as Python's csv writer writes it: its fields, then "\r\n". */
static int python_record(csv_buf *b, const char *const *values, const size_t *lens, size_t n)
{
    if (file_csv_write_fields(b, values, lens, n) != 0)
        return -1;
    return file_csv_buf_append(b, "\r\n", 2);
}

START_TEST(test_write_quotes_minimally)
{
    const char *v[] = { "plain", "a,b", "q\"q", "cr\r", "lf\n", "", "crlf\r\n", " sp\t", "\"" };
    size_t n[9];
    csv_buf b = { 0 };
    for (int i = 0; i < 9; i++)
        n[i] = strlen(v[i]);
    ck_assert_int_eq(python_record(&b, v, n, 9), 0);
    static const char want[] =
        "plain,\"a,b\",\"q\"\"q\",\"cr\r\",\"lf\n\",,\"crlf\r\n\", sp\t,\"\"\"\"\r\n";
    assert_buf(&b, want, sizeof want - 1);
    static const char cr[] = "a\rb";
    ck_assert_ptr_null(file_csv_needs_quotes("a;b c'd", 7));
    ck_assert_ptr_eq(file_csv_needs_quotes(cr, 3), cr + 1);
    file_csv_buf_free(&b);
    ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(test_write_empty_records)
{
    const char *v[] = { "" };
    size_t n[] = { 0 };
    csv_buf b = { 0 };
    /* As Python: one empty field is "" so it does not read back as a blank line. */
    ck_assert_int_eq(python_record(&b, v, n, 1), 0);
    assert_buf(&b, "\"\"\r\n", 4);
    file_csv_buf_reset(&b);
    const char *two[] = { "", "" };
    size_t n2[] = { 0, 0 };
    ck_assert_int_eq(python_record(&b, two, n2, 2), 0);
    assert_buf(&b, ",\r\n", 3);
    file_csv_buf_free(&b);
}
END_TEST

/* ---------------------------------------------------------------- csv reader */

/* Reads one record and checks its line and values. */
static void expect_record(csv_reader *r, size_t line, size_t n, ...)
{
    csv_record rec;
    va_list ap;
    csv_status st = file_csv_read(r, &rec);
    ck_assert_msg(st == CSV_RECORD, "expected a record on line %zu, got %d (%s, line %zu)", line,
                  st, r->err_msg ? r->err_msg : "", r->err_line);
    ck_assert_uint_eq(rec.line, line);
    ck_assert_uint_eq(rec.nfields, n);
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        const char *want = va_arg(ap, const char *);
        ck_assert_msg(rec.len[i] == strlen(want) && memcmp(rec.value[i], want, rec.len[i]) == 0,
                      "line %zu field %zu: got '%.*s', expected '%s'", line, i + 1,
                      (int)rec.len[i], rec.value[i], want);
    }
    va_end(ap);
}

static void expect_end(csv_reader *r)
{
    csv_record rec;
    ck_assert_int_eq(file_csv_read(r, &rec), CSV_END);
    ck_assert_int_eq(file_csv_read(r, &rec), CSV_END);
}

START_TEST(test_read_quoted_values)
{
    static const char in[] = "a,\"b,c\",\"d\"\"e\"\r\n"
                             "\"two\r\nlines\",\"\",\"x\ny\"\r\n"
                             "last,\"\"\"\"\r\n";
    csv_reader r;
    file_csv_reader_init(&r, in, sizeof in - 1);
    expect_record(&r, 1, 3, "a", "b,c", "d\"e");
    expect_record(&r, 2, 3, "two\r\nlines", "", "x\ny");
    expect_record(&r, 5, 2, "last", "\"");
    expect_end(&r);
    file_csv_reader_free(&r);
}
END_TEST

START_TEST(test_read_line_endings)
{
    static const char in[] = "a,b\nc,d\re,f\r\ng,h";
    csv_reader r;
    file_csv_reader_init(&r, in, sizeof in - 1);
    expect_record(&r, 1, 2, "a", "b");
    expect_record(&r, 2, 2, "c", "d");
    expect_record(&r, 3, 2, "e", "f");
    expect_record(&r, 4, 2, "g", "h");
    expect_end(&r);
    file_csv_reader_free(&r);
}
END_TEST

START_TEST(test_read_blank_lines_and_bom)
{
    static const char in[] = "\xEF\xBB\xBFid\r\n\r\n\nx,\r\r\n\"\"\n\n";
    csv_reader r;
    file_csv_reader_init(&r, in, sizeof in - 1);
    expect_record(&r, 1, 1, "id");
    expect_record(&r, 4, 2, "x", "");
    expect_record(&r, 6, 1, "");        /* "" is a field, not a blank line */
    expect_end(&r);
    file_csv_reader_free(&r);

    file_csv_reader_init(&r, "", 0);
    expect_end(&r);
    file_csv_reader_free(&r);
    file_csv_reader_init(&r, "\r\n\n", 3);
    expect_end(&r);
    file_csv_reader_free(&r);
}
END_TEST

START_TEST(test_read_counts_every_field)
{
    char in[128] = "";
    for (int i = 0; i < 20; i++)
        strcat(in, i ? ",f" : "f");
    strcat(in, "\r\na,b,\r\n");
    csv_reader r;
    csv_record rec;
    file_csv_reader_init(&r, in, strlen(in));
    ck_assert_int_eq(file_csv_read(&r, &rec), CSV_RECORD);
    ck_assert_uint_eq(rec.nfields, 20);
    expect_record(&r, 2, 3, "a", "b", "");
    expect_end(&r);
    file_csv_reader_free(&r);
}
END_TEST

/* Values with many doubled quotes move into the scratch buffer, which
 * grows (and moves) while one record is read. */
START_TEST(test_read_scratch_growth)
{
    csv_buf b = { 0 };
    const char *v[10];
    size_t n[10];
    char *vals[10];
    for (int i = 0; i < 10; i++) {
        size_t len = 300 + (size_t)i * 97;
        vals[i] = malloc(len + 1);
        for (size_t j = 0; j < len; j++)
            vals[i][j] = "\"ab,\r\n\"c"[(j + (size_t)i) % 8];
        vals[i][len] = '\0';
        v[i] = vals[i];
        n[i] = len;
    }
    ck_assert_int_eq(python_record(&b, v, n, 10), 0);
    csv_reader r;
    csv_record rec;
    file_csv_reader_init(&r, b.data, b.len);
    ck_assert_int_eq(file_csv_read(&r, &rec), CSV_RECORD);
    ck_assert_uint_eq(rec.nfields, 10);
    for (int i = 0; i < 10; i++) {
        ck_assert_uint_eq(rec.len[i], n[i]);
        ck_assert_int_eq(memcmp(rec.value[i], vals[i], n[i]), 0);
        free(vals[i]);
    }
    expect_end(&r);
    file_csv_reader_free(&r);
    file_csv_buf_free(&b);
}
END_TEST

/* Records know their bytes, how their line ended, and whether the writer
 * would have written exactly those bytes for their values. */
START_TEST(test_read_knows_canonical_records)
{
    static const char in[] = "a,\"b,c\",\"d\"\"e\"\r\n"   /* 0: as written */
                             "\"a\",b\r\n"                 /* 1: needless quotes */
                             "a,b\n"                        /* 2: a bare \n */
                             "\"\"\r"                       /* 3: one empty field, as written */
                             "\r\n"
                             "\"x\ny\",\"\"\r\n"             /* 4: an empty field quoted */
                             "last";                         /* 5: no line end */
    static const int clean[] = { 1, 0, 1, 1, 0, 1 };
    static const csv_eol eol[] = { CSV_EOL_CRLF, CSV_EOL_CRLF, CSV_EOL_LF, CSV_EOL_CR,
                                   CSV_EOL_CRLF, CSV_EOL_NONE };
    static const size_t start[] = { 0, 16, 23, 27, 32, 42 }, stop[] = { 14, 21, 26, 29, 40, 46 },
                        end[] = { 16, 23, 27, 30, 42, 46 };
    csv_reader r;
    csv_record rec;
    file_csv_reader_init(&r, in, sizeof in - 1);
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(file_csv_read(&r, &rec), CSV_RECORD);
        ck_assert_msg(rec.clean == clean[i], "record %d: clean %d", i, rec.clean);
        ck_assert_msg(rec.eol == eol[i], "record %d: eol %d", i, rec.eol);
        ck_assert_uint_eq(rec.start, start[i]);
        ck_assert_uint_eq(rec.stop, stop[i]);
        ck_assert_uint_eq(rec.end, end[i]);
    }
    expect_end(&r);
    file_csv_reader_free(&r);
}
END_TEST

struct bad_csv {
    const char *input;
    size_t len;
    size_t line, field;
    const char *says;
};
#define BAD(text, line, field, says) { text, sizeof text - 1, line, field, says }

START_TEST(test_read_errors)
{
    static const struct bad_csv cases[] = {
        BAD("a,b\r\nc,d\"e\r\n", 2, 2, "double quote inside an unquoted field"),
        BAD("a,b\r\n\"c\"d,e\r\n", 2, 1, "text after the closing quote"),
        BAD("a\r\nb,\"open\r\nstill\r\nopen", 2, 2, "never closed"),
        BAD("a\r\n\"x\ny\",\"z\"  ,w\r\n", 3, 2, "text after the closing quote"),
        BAD("a,b\r\nc,d\0e\r\n", 2, 2, "NUL byte"),
        BAD("\"a\0\"\r\n", 1, 1, "NUL byte"),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        csv_reader r;
        csv_record rec;
        csv_status st;
        file_csv_reader_init(&r, cases[i].input, cases[i].len);
        while ((st = file_csv_read(&r, &rec)) == CSV_RECORD)
            ;
        ck_assert_msg(st == CSV_ERROR, "case %zu parsed", i);
        ck_assert_msg(r.err_line == cases[i].line && r.err_field == cases[i].field,
                      "case %zu: line %zu field %zu, expected %zu/%zu", i, r.err_line,
                      r.err_field, cases[i].line, cases[i].field);
        ck_assert_msg(strstr(r.err_msg, cases[i].says), "case %zu: '%s'", i, r.err_msg);
        ck_assert_int_eq(r.err_nomem, 0);
        file_csv_reader_free(&r);
    }
}
END_TEST

/* Random values from the troublesome bytes survive writing and reading. */
START_TEST(test_round_trip_random)
{
    static const char alphabet[] = "a,\"\r\n \t\xc3\xa9z";
    uint64_t x = 88172645463325252u;
    enum { ROWS = 2000, FIELDS = 10 };
    char *vals = malloc(ROWS * FIELDS * 24);
    size_t *lens = malloc(ROWS * FIELDS * sizeof *lens);
    csv_buf b = { 0 };
    for (size_t i = 0; i < ROWS * FIELDS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        lens[i] = x % 24;
        for (size_t j = 0; j < lens[i]; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            vals[i * 24 + j] = alphabet[x % (sizeof alphabet - 1)];
        }
    }
    for (size_t r = 0; r < ROWS; r++) {
        const char *v[FIELDS];
        for (size_t f = 0; f < FIELDS; f++)
            v[f] = vals + (r * FIELDS + f) * 24;
        ck_assert_int_eq(python_record(&b, v, lens + r * FIELDS, FIELDS), 0);
    }
    csv_reader rd;
    csv_record rec;
    file_csv_reader_init(&rd, b.data, b.len);
    for (size_t r = 0; r < ROWS; r++) {
        ck_assert_int_eq(file_csv_read(&rd, &rec), CSV_RECORD);
        ck_assert_uint_eq(rec.nfields, FIELDS);
        for (size_t f = 0; f < FIELDS; f++) {
            size_t i = r * FIELDS + f;
            ck_assert_uint_eq(rec.len[f], lens[i]);
            ck_assert_int_eq(memcmp(rec.value[f], vals + i * 24, lens[i]), 0);
        }
    }
    expect_end(&rd);
    file_csv_reader_free(&rd);
    file_csv_buf_free(&b);
    free(vals);
    free(lens);
}
END_TEST

/* ---------------------------------------------------------------- golden files */

static void expect_fields(ts_token *t, const char *const want[10])
{
    for (int f = 0; f < 10; f++)
        ck_assert_msg(strcmp(ts_token_get(t, f), want[f]) == 0,
                      "id %s, %s: got '%s', expected '%s'", want[0], ts_field_name(f),
                      ts_token_get(t, f), want[f]);
}

struct ids {
    char list[64];
};

static int ids_cb(const ts_token *t, void *ud)
{
    struct ids *ids = ud;
    size_t used = strlen(ids->list);
    snprintf(ids->list + used, sizeof ids->list - used, "%s%s", used ? " " : "",
             ts_token_get(t, TS_FIELD_ID));
    return 0;
}

START_TEST(test_golden_sdk_values)
{
    static const char *const rows[][10] = {
        { "1", "alice@example.com", "1000.CLIENTA", "s3cret", "1000.refresh.alice",
          "1000.access.alice", "", "1700000000000", "https://example.com/cb",
          "https://www.zohoapis.com" },
        { "2", "bob, the builder", "1000.CLIENTA", "sec\"ret", "1000.refresh.bob", "",
          "1000.grant.bob", "", "https://example.com/cb?a=1,b=2", "" },
        { "3", "two\r\nlines\nand a half", "", "", "", "1000.access.carol", "", "", "", "" },
        { "7", "say \"hi\"", "ends in CR\r", "", "\"", "1000.access.dave", "", " padded\t",
          "\xc3\xbcn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9 \xe4\xbb\xa4\xe7\x89\x8c",
          "https://www.zohoapis.eu" },
        { "12", "erin@example.com", "", "", "1000.refresh.erin", "", "", "", "", "" },
    };
    const char *path = in_scratch("tokens.csv");
    copy_fixture("sdk.csv", path);
    ts_store *s = open_store(path);
    for (size_t i = 0; i < 5; i++) {
        ts_token *t = by_id(s, rows[i][0]);
        expect_fields(t, rows[i]);
        ts_token_free(t);
    }
    /* Keys with commas, quotes and newlines find their rows. */
    ts_token *q = ts_token_new();
    ts_token_set(q, TS_FIELD_USER_NAME, "two\r\nlines\nand a half");
    ck_assert_int_eq(ts_find_token(s, q, NULL), TS_OK);
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_ID), "3");
    ts_token_clear(q);
    ts_token_set(q, TS_FIELD_ACCESS_TOKEN, "1000.access.dave");
    ck_assert_int_eq(ts_find_token(s, q, NULL), TS_OK);
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_USER_NAME), "say \"hi\"");
    ts_token_free(q);
    struct ids ids = { "" };
    ck_assert_int_eq(ts_get_tokens(s, ids_cb, &ids, NULL), TS_OK);
    ck_assert_str_eq(ids.list, "1 2 3 7 12");
    /* The next id is the largest plus one, compared as numbers. */
    ts_token *t = user_token("new@example.com", "1000.refresh.new");
    save_ok(s, t);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "13");
    ts_token_free(t);
    ts_store_close(s);
}
END_TEST

/* Loads a fixture, saves one token unchanged, and compares the file. */
static void round_trip(const char *input, const char *expected, const char *id)
{
    const char *path = in_scratch(input);
    struct stat before, after;
    copy_fixture(input, path);
    ck_assert_int_eq(stat(path, &before), 0);
    ts_store *s = open_store(path);
    resave(s, id);
    ts_store_close(s);
    ck_assert_int_eq(stat(path, &after), 0);
    ck_assert_msg(before.st_ino != after.st_ino, "%s was not rewritten", input);
    assert_same_files(path, fixture(expected));
}

START_TEST(test_golden_round_trips)
{
    round_trip("sdk.csv", "sdk.csv", "7");
    round_trip("legacy9.csv", "legacy9.expected.csv", "1");
    round_trip("windows.csv", "windows.expected.csv", "2");
    round_trip("edited.csv", "edited.expected.csv", "10");
}
END_TEST

START_TEST(test_tokenstore_file_is_stable)
{
    static const char *odd[] = {
        "o'brien@x.com", "comma,separated,\"quoted\"", "line1\r\nline2\nline3\r",
        " padded\t", "\xc3\xbcn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9", "\"", ",",
    };
    const char *path = in_scratch("tokens.csv");
    ts_store *s = open_store(path);
    for (unsigned i = 0; i < 7; i++) {
        ts_token *t = user_token(odd[i], odd[(i + 1) % 7]);
        ts_token_set(t, TS_FIELD_REDIRECT_URL, odd[(i + 2) % 7]);
        save_ok(s, t);
        ts_token_free(t);
    }
    ts_store_close(s);
    size_t len;
    char *first = slurp(path, &len);
    ck_assert_uint_eq(count_records(first, len), 8);
    s = open_store(path);
    for (unsigned i = 1; i <= 7; i++) {
        char id[4];
        snprintf(id, sizeof id, "%u", i);
        resave(s, id);
        ts_token *t = by_id(s, id);
        ck_assert_str_eq(ts_token_get(t, TS_FIELD_USER_NAME), odd[i - 1]);
        ck_assert_str_eq(ts_token_get(t, TS_FIELD_REFRESH_TOKEN), odd[i % 7]);
        ts_token_free(t);
    }
    ts_store_close(s);
    assert_file_bytes(path, first, len);
    free(first);
}
END_TEST

START_TEST(test_legacy_nine_columns)
{
    const char *path = in_scratch("old.csv");
    copy_fixture("legacy9.csv", path);
    ts_store *s = open_store(path);
    ts_token *t = by_id(s, "2");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_GRANT_TOKEN), "1000.grant.x");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_REDIRECT_URL), "https://example.com/cb,2");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_API_DOMAIN), "");
    ts_token_free(t);
    t = user_token("new@example.com", "1000.refresh.new");
    ts_token_set(t, TS_FIELD_API_DOMAIN, "https://www.zohoapis.in");
    save_ok(s, t);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "3");
    ts_token_free(t);
    ts_store_close(s);
    size_t len;
    char *want = slurp(fixture("legacy9.expected.csv"), &len);
    static const char row[] = "3,new@example.com,1000.CLIENT,,1000.refresh.new,,,,,"
                              "https://www.zohoapis.in\r\n";
    want = realloc(want, len + sizeof row);
    memcpy(want + len, row, sizeof row);
    assert_file_bytes(path, want, len + sizeof row - 1);
    free(want);
}
END_TEST

/* ---------------------------------------------------------------- the SDKs' own files */

static const char *const alice[10] = {
    "1", "alice@example.com", "1000.CLIENTA", "s3cret", "1000.refresh.alice",
    "1000.access.alice", "", "1700000000000", "https://example.com/cb",
    "https://www.zohoapis.com",
};

/* Reading a file changes nothing: no write, not even of the same bytes. */
static void assert_untouched(const char *path, const struct stat *before)
{
    struct stat after;
    ck_assert_int_eq(stat(path, &after), 0);
    ck_assert_msg(after.st_ino == before->st_ino && after.st_mtim.tv_sec == before->st_mtim.tv_sec &&
                      after.st_mtim.tv_nsec == before->st_mtim.tv_nsec,
                  "%s was written", path);
}

/* Opens a copy of an SDK's golden file, checks that reading writes
 * nothing, then makes the saves both golden *.saved.csv files were made
 * with (an update of token 2 by id, a new user) and compares the bytes
 * with what the SDK wrote. */
static ts_store *read_then_save(const char *golden, const char *saved, size_t rows,
                                const char *const user[10])
{
    const char *path = in_scratch(golden);
    struct stat before;
    copy_file(sdk_file(golden), path);
    ck_assert_int_eq(stat(path, &before), 0);
    ts_store *s = open_store(path);
    ts_token *t = by_id(s, "1");
    expect_fields(t, alice);
    ts_token_free(t);
    ck_assert_uint_eq(count_tokens(s), rows);
    assert_untouched(path, &before);
    assert_same_files(path, sdk_file(golden));

    t = ts_token_new();
    ts_token_set(t, TS_FIELD_ID, "2");
    ts_token_set(t, TS_FIELD_ACCESS_TOKEN, "1000.access.bob2");
    ts_token_set(t, TS_FIELD_EXPIRY_TIME, "1700000360000");
    save_ok(s, t);
    ts_token_free(t);
    t = ts_token_new();
    for (int f = 1; f < 10; f++)
        ts_token_set(t, f, user[f]);
    save_ok(s, t);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), user[0]);
    ts_token_free(t);
    assert_same_files(path, sdk_file(saved));
    return s;
}

START_TEST(test_python_sdk_file)
{
    static const char *const bob[10] = {
        "2", "bob, the builder", "1000.CLIENTA", "sec\"ret", "1000.refresh.bob", "",
        "1000.grant.bob", "", "https://example.com/cb?a=1,b=2", "",
    };
    static const char *const dave[10] = {
        "4", "say \"hi\"", "1000.CLIENTD", "line\nbreak", "1000.refresh.dave", "", "", "", "", "",
    };
    static const char *const erin[10] = {
        "5", "erin@example.com", "1000.CLIENTE", "", "1000.refresh.erin", "", "", "", "",
        "https://www.zohoapis.in",
    };
    const char *path = in_scratch("python-tokens.csv");
    copy_file(sdk_file("python-tokens.csv"), path);
    ts_store *s = open_store(path);
    ts_token *t = by_id(s, "2");
    expect_fields(t, bob);
    ts_token_free(t);
    t = by_id(s, "4");
    expect_fields(t, dave);
    ts_token_free(t);
    ts_store_close(s);

    s = read_then_save("python-tokens.csv", "python-tokens.saved.csv", 4, erin);
    ts_store_close(s);
}
END_TEST

START_TEST(test_node_sdk_file)
{
    static const char *const bob[10] = {
        "2", "bob@example.com", "1000.CLIENTB", "", "", "1000.access.bob2", "1000.grant.bob",
        "1700000360000", "", "",
    };
    static const char *const erin[10] = {
        "4", "erin@example.com", "1000.CLIENTE", "", "1000.refresh.erin", "", "", "", "",
        "https://www.zohoapis.in",
    };
    ts_store *s = read_then_save("node-tokens.csv", "node-tokens.saved.csv", 3, erin);
    ts_token *t = by_id(s, "2");
    expect_fields(t, bob);
    ts_token_free(t);
    /* Deletes keep the layout: no newline after the last row, and a file
     * of no tokens is the header alone, as the SDK's deleteTokens writes. */
    const char *path = in_scratch("node-tokens.csv");
    size_t len;
    char *want = slurp(sdk_file("node-tokens.saved.csv"), &len);
    char *last = strrchr(want, '\n');
    ck_assert_int_eq(ts_delete_token(s, "4", NULL), TS_OK);
    assert_file_bytes(path, want, (size_t)(last - want));
    ck_assert_int_eq(ts_delete_tokens(s, NULL), TS_OK);
    assert_file_bytes(path, want, (size_t)(strchr(want, '\n') - want));
    free(want);
    ts_store_close(s);
}
END_TEST

/* Older SDKs' nine columns: the file gets the tenth as its SDK would add
 * it, and keeps its ninth column's name and its line ends. */
START_TEST(test_sdk_legacy_files)
{
    static const char *const names[][2] = {
        { "python-legacy9.csv", "python-legacy9.expected.csv" },
        { "node-legacy9.csv", "node-legacy9.expected.csv" },
    };
    for (int i = 0; i < 2; i++) {
        const char *path = in_scratch(names[i][0]);
        copy_file(sdk_file(names[i][0]), path);
        ts_store *s = open_store(path);
        ts_token *t = by_id(s, "1");
        ck_assert_str_eq(ts_token_get(t, TS_FIELD_REDIRECT_URL), "https://example.com/cb");
        ck_assert_str_eq(ts_token_get(t, TS_FIELD_API_DOMAIN), "");
        ts_token_free(t);
        resave(s, "1");
        ts_store_close(s);
        assert_same_files(path, sdk_file(names[i][1]));
    }
}
END_TEST

/* The Node.js SDK appended a row to a file in the Python SDK's bytes: every
 * row reads exactly, and the file is written back as its header line is. */
START_TEST(test_mixed_line_ends)
{
    static const char *const dave[10] = {
        "4", "dave@example.com", "1000.CLIENTD", "", "1000.refresh.dave", "", "", "", "",
        "https://www.zohoapis.com.au",
    };
    const char *path = in_scratch("node-mixed.csv");
    copy_file(sdk_file("node-mixed.csv"), path);
    ts_store *s = open_store(path);
    ts_token *t = by_id(s, "1");
    expect_fields(t, alice);
    ts_token_free(t);
    t = by_id(s, "4");
    expect_fields(t, dave);
    ts_token_free(t);
    resave(s, "4");
    ts_store_close(s);
    assert_same_files(path, sdk_file("node-mixed.expected.csv"));
}
END_TEST

/* A token whose values the Node.js SDK could not read back from its file
 * is refused there, naming the field and why, without its value, and
 * nothing changes. The Python SDK's file takes the same token. */
START_TEST(test_node_file_refuses_quoting)
{
    static const struct {
        ts_field field;
        const char *value, *says;
    } bad[] = {
        { TS_FIELD_USER_NAME, "x,y", "field user_name holds a comma" },
        { TS_FIELD_CLIENT_SECRET, "topsecret\"", "field client_secret holds a double quote" },
        { TS_FIELD_REFRESH_TOKEN, "topsecret\r", "field refresh_token holds a carriage return" },
        { TS_FIELD_REDIRECT_URL, "https://x\n", "field redirect_url holds a line feed" },
    };
    const char *path = in_scratch("node-tokens.csv");
    struct stat before;
    ts_error err;
    copy_file(sdk_file("node-tokens.csv"), path);
    ck_assert_int_eq(stat(path, &before), 0);
    ts_store *s = open_store(path);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ts_token *t = user_token(i % 2 ? "alice@example.com" : "new@example.com", "r");
        ts_token_set(t, bad[i].field, bad[i].value);
        ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_INVALID);
        ck_assert_msg(strstr(err.message, bad[i].says) && strstr(err.message, path) &&
                          strstr(err.message, "Node.js SDK") && !strstr(err.message, "topsecret"),
                      "%s", err.message);
        ts_token *batch[2] = { user_token("ok@example.com", "r"), t };
        ck_assert_int_eq(ts_save_tokens(s, batch, 2, &err), TS_ERR_INVALID);
        ck_assert_msg(strstr(err.message, "token 1: ") && strstr(err.message, bad[i].says), "%s",
                      err.message);
        ts_token_free(batch[0]);
        ts_token_free(t);
    }
    ck_assert_uint_eq(count_tokens(s), 3);
    ts_store_close(s);
    assert_untouched(path, &before);
    assert_same_files(path, sdk_file("node-tokens.csv"));

    path = in_scratch("python-tokens.csv");
    copy_file(sdk_file("python-tokens.csv"), path);
    s = open_store(path);
    ts_token *t = user_token("x,y", "r\r\n");
    save_ok(s, t);
    ts_token_free(t);
    ts_store_close(s);
}
END_TEST

/* A "\n" file may hold quoted values written by other hands: they read
 * back unquoted, and saving another row leaves their bytes alone. */
START_TEST(test_node_file_quoted_rows)
{
#define NODE_HEADER "id,user_name,client_id,client_secret,refresh_token,access_token," \
                    "grant_token,expiry_time,redirect_url,api_domain"
    static const char in[] = NODE_HEADER "\n1,a@example.com,,,r1,,,,,"
                                         "\n2,\"b,c\",,,\"r\"\"2\",,,,,"
                                         "\n3,d@example.com,,,r3,,,,,";
    static const char out[] = NODE_HEADER "\n1,a@example.com,,,r1,,,,,"
                                          "\n2,\"b,c\",,,\"r\"\"2\",,,,,"
                                          "\n3,d@example.com,,,r3,a3,,,,"
                                          "\n4,e@example.com,1000.CLIENT,,r4,,,,,";
    const char *path = in_scratch("quoted.csv");
    spit(path, in, sizeof in - 1);
    ts_store *s = open_store(path);
    ts_token *t = by_id(s, "2");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_USER_NAME), "b,c");
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_REFRESH_TOKEN), "r\"2");
    ts_token_free(t);
    t = by_id(s, "3");
    ts_token_set(t, TS_FIELD_ACCESS_TOKEN, "a3");
    save_ok(s, t);
    ts_token_free(t);
    t = user_token("e@example.com", "r4");
    save_ok(s, t);
    ts_token_free(t);
    /* The row keeps the values it has when it is saved again; a new one
     * that needs quotes is refused. */
    resave(s, "2");
    t = by_id(s, "2");
    ts_token_set(t, TS_FIELD_CLIENT_ID, "x,y");
    ck_assert_int_eq(ts_save_token(s, t, NULL), TS_ERR_INVALID);
    ts_token_free(t);
    ts_store_close(s);
    assert_file_bytes(path, out, sizeof out - 1);
}
END_TEST

/* ---------------------------------------------------------------- files and modes */

START_TEST(test_new_file_has_header_and_mode)
{
    umask(0);
    const char *path = in_scratch("new.csv");
    struct stat st;
    ts_store *s = open_store(path);
    ts_store_close(s);
    assert_file_bytes(path, HEADER, sizeof HEADER - 1);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    ck_assert_int_eq(stat(in_scratch("new.csv.lock"), &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);

    /* An empty file gets the header too; option mode sets the mode. */
    path = in_scratch("empty.csv");
    spit(path, "", 0);
    ts_error err;
    ck_assert_int_eq(open_store_logged(&s, path, "0640", NULL, &err), TS_OK);
    ts_token *t = user_token("a@example.com", "r");
    save_ok(s, t);
    ts_token_free(t);
    ts_store_close(s);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0640);
    static const char want[] = HEADER "1,a@example.com,1000.CLIENT,,r,,,,,\r\n";
    assert_file_bytes(path, want, sizeof want - 1);

    /* Options: path is required, mode is octal. */
    ts_config *cfg;
    ck_assert_int_eq(ts_config_new(&cfg), TS_OK);
    ck_assert_int_eq(ts_config_set_backend(cfg, "file", &err), TS_OK);
    ck_assert_int_eq(ts_store_open_config(&s, cfg, &err), TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, "'path' is required"), "%s", err.message);
    ck_assert_int_eq(ts_config_set_option(cfg, "path", path, &err), TS_OK);
    ck_assert_int_eq(ts_config_set_option(cfg, "mode", "0999", &err), TS_OK);
    ck_assert_int_eq(ts_store_open_config(&s, cfg, &err), TS_ERR_CONFIG);
    ck_assert_msg(strstr(err.message, "mode"), "%s", err.message);
    ts_config_free(cfg);

    /* A directory that does not exist is an error naming the path. */
    int rc = open_store_logged(&s, in_scratch("no/such/dir/tokens.csv"), NULL, NULL, &err);
    ck_assert_int_eq(rc, TS_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.message, "no/such/dir/tokens.csv"));
}
END_TEST

START_TEST(test_group_readable_warning)
{
    const char *path = in_scratch("shared.csv");
    struct log_capture log = { 0 };
    ts_store *s;
    struct stat st;
    ts_error err;

    copy_fixture("sdk.csv", path);
    ck_assert_int_eq(chmod(path, 0644), 0);
    ck_assert_int_eq(open_store_logged(&s, path, NULL, &log, &err), TS_OK);
    ck_assert_int_eq(log.warnings, 1);
    ck_assert_msg(strstr(log.last, path) && strstr(log.last, "readable by group or others"),
                  "warning: %s", log.last);
    ck_assert_ptr_null(strstr(log.last, "s3cret"));
    resave(s, "1");
    ts_store_close(s);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0644);    /* a rewrite keeps the mode */

    /* No warning for a private file, or for a mode the user asked for. */
    ck_assert_int_eq(chmod(path, 0600), 0);
    memset(&log, 0, sizeof log);
    ck_assert_int_eq(open_store_logged(&s, path, NULL, &log, &err), TS_OK);
    ts_store_close(s);
    ck_assert_int_eq(chmod(path, 0640), 0);
    ck_assert_int_eq(open_store_logged(&s, path, "0640", &log, &err), TS_OK);
    ts_store_close(s);
    ck_assert_int_eq(log.warnings, 0);
}
END_TEST

START_TEST(test_stale_temp_files_removed)
{
    char path[PATH_MAX], stale[PATH_MAX], mine[PATH_MAX];
    snprintf(path, sizeof path, "%s", in_scratch("tokens.csv"));
    snprintf(stale, sizeof stale, "%s", in_scratch("tokens.csv.tokenstore-tmp.AbC123"));
    snprintf(mine, sizeof mine, "%s", in_scratch("tokens.csv.tmpbackup"));
    copy_fixture("sdk.csv", path);
    spit(stale, "partial", 7);
    spit(mine, "mine", 4);
    ts_store *s = open_store(path);
    ts_store_close(s);
    ck_assert_int_ne(access(stale, F_OK), 0);
    assert_file_bytes(mine, "mine", 4);
    assert_same_files(path, fixture("sdk.csv"));
}
END_TEST

START_TEST(test_ids_are_numbers)
{
    ts_store *s = open_store(in_scratch("ids.csv"));
    static const char *ids[] = { "9", "10", "100", "99" };
    for (int i = 0; i < 4; i++) {
        char user[16];
        snprintf(user, sizeof user, "u%d", i);
        ts_token *t = user_token(user, "r");
        ts_token_set(t, TS_FIELD_ID, ids[i]);
        save_ok(s, t);
        ts_token_free(t);
    }
    ts_token *t = user_token("next", "r");
    save_ok(s, t);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "101");
    ts_token_free(t);
    ts_store_close(s);
    static const char want[] = HEADER "9,u0,1000.CLIENT,,r,,,,,\r\n10,u1,1000.CLIENT,,r,,,,,\r\n"
                                      "99,u3,1000.CLIENT,,r,,,,,\r\n100,u2,1000.CLIENT,,r,,,,,\r\n"
                                      "101,next,1000.CLIENT,,r,,,,,\r\n";
    assert_file_bytes(in_scratch("ids.csv"), want, sizeof want - 1);
}
END_TEST

START_TEST(test_handles_see_each_other)
{
    const char *path = in_scratch("shared.csv");
    ts_store *a = open_store(path), *b = open_store(path);
    ts_token *t = user_token("a@example.com", "r1");
    save_ok(a, t);
    ts_token_free(t);
    ts_token *q = ts_token_new();
    ts_token_set(q, TS_FIELD_USER_NAME, "a@example.com");
    ck_assert_int_eq(ts_find_token(b, q, NULL), TS_OK);
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_REFRESH_TOKEN), "r1");
    /* Same size, same second: the change is still seen. */
    t = user_token("a@example.com", "r2");
    save_ok(b, t);
    ts_token_free(t);
    ts_token_clear(q);
    ts_token_set(q, TS_FIELD_USER_NAME, "a@example.com");
    ck_assert_int_eq(ts_find_token(a, q, NULL), TS_OK);
    ck_assert_str_eq(ts_token_get(q, TS_FIELD_REFRESH_TOKEN), "r2");
    ts_token_free(q);
    /* A removed lock file is made again, and both handles move to it. */
    ck_assert_int_eq(unlink(in_scratch("shared.csv.lock")), 0);
    ck_assert_int_eq(ts_delete_tokens(a, NULL), TS_OK);
    ck_assert_int_eq(access(in_scratch("shared.csv.lock"), F_OK), 0);
    ck_assert_uint_eq(count_tokens(b), 0);
    t = user_token("b@example.com", "r3");
    save_ok(b, t);
    ts_token_free(t);
    ck_assert_uint_eq(count_tokens(a), 1);
    ts_store_close(a);
    ts_store_close(b);
}
END_TEST

START_TEST(test_batch_is_all_or_nothing)
{
    const char *path = in_scratch("batch.csv");
    copy_fixture("sdk.csv", path);
    ts_store *s = open_store(path);
    ts_token *batch[3] = {
        user_token("x@example.com", "rx"), user_token("y@example.com", "ry"),
        user_token("alice@example.com", "ra"),
    };
    ts_token_set(batch[2], TS_FIELD_ID, "2");  /* alice is id 1: a conflict */
    ts_error err;
    ck_assert_int_eq(ts_save_tokens(s, batch, 3, &err), TS_ERR_CONFLICT);
    ck_assert_msg(strstr(err.message, "token 2"), "%s", err.message);
    assert_same_files(path, fixture("sdk.csv"));
    ck_assert_uint_eq(count_tokens(s), 5);
    ts_token *q = ts_token_new();
    ts_token_set(q, TS_FIELD_USER_NAME, "x@example.com");
    ck_assert_int_eq(ts_find_token(s, q, NULL), TS_NOT_FOUND);
    ts_token_free(q);
    ts_token_set(batch[2], TS_FIELD_ID, NULL);
    ck_assert_int_eq(ts_save_tokens(s, batch, 3, &err), TS_OK);
    ck_assert_str_eq(ts_token_get(batch[0], TS_FIELD_ID), "13");
    ck_assert_str_eq(ts_token_get(batch[2], TS_FIELD_ID), "1");
    ck_assert_uint_eq(count_tokens(s), 7);
    for (int i = 0; i < 3; i++)
        ts_token_free(batch[i]);
    ts_store_close(s);
}
END_TEST

START_TEST(test_big_values)
{
    const char *path = in_scratch("big.csv");
    size_t n = 64 * 1024;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        big[i] = "abc,\"\r\n xyz;'"[i % 14];
    big[n] = '\0';
    ts_store *s = open_store(path);
    ts_token *t = ts_token_new();
    for (int f = 1; f < TS_FIELD_COUNT; f++) {
        big[0] = (char)('A' + f);
        ts_token_set(t, f, big);
    }
    save_ok(s, t);
    ts_token_free(t);
    ts_store_close(s);
    s = open_store(path);
    t = by_id(s, "1");
    for (int f = 1; f < TS_FIELD_COUNT; f++) {
        big[0] = (char)('A' + f);
        ck_assert_msg(strcmp(ts_token_get(t, f), big) == 0, "%s differs", ts_field_name(f));
    }
    ts_token_free(t);
    ts_store_close(s);
    free(big);
}
END_TEST

/* Every token of a store, every field, in id order: one string. */
static int dump_cb(const ts_token *t, void *ud)
{
    csv_buf *b = ud;
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        const char *v = ts_token_get(t, f);
        ck_assert_int_eq(file_csv_write_field(b, v, strlen(v)), 0);
        ck_assert_int_eq(file_csv_buf_append(b, "|", 1), 0);
    }
    return file_csv_buf_append(b, "\n", 1);
}

static char *dump(ts_store *s)
{
    csv_buf b = { 0 };
    ts_error err;
    int rc = ts_get_tokens(s, dump_cb, &b, &err);
    ck_assert_msg(rc == TS_OK, "get_tokens: %s", err.message);
    ck_assert_int_eq(file_csv_buf_append(&b, "", 1), 0);
    return b.data;
}

static void assert_same_store(ts_store *a, ts_store *b, int step)
{
    char *x = dump(a), *y = dump(b);
    ck_assert_msg(strcmp(x, y) == 0, "step %d: the stores differ:\n%s\n---\n%s", step, x, y);
    free(x);
    free(y);
}

/* A reader catches up with another handle's writes by parsing only the
 * rows that changed: random inserts, updates, deletes and explicit ids,
 * with values made of nine pieces, must leave it exactly where a fresh
 * parse of the file is. */
static void catch_up(const char *golden, const char *const pieces[9])
{
    const char *path = in_scratch("tokens.csv");
    copy_file(golden, path);
    ts_store *writer = open_store(path), *reader = open_store(path);
    uint64_t x = 0x2545F4914F6CDD1Du;
    for (int step = 0; step < 400; step++) {
        char user[16], value[64] = "", id[16];
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        snprintf(user, sizeof user, "u%u", (unsigned)(x % 40));
        for (int i = 0; i < 6; i++)
            strcat(value, pieces[(x >> (8 + 4 * i)) % 9]);
        unsigned op = (unsigned)(x >> 40) % 8;
        if (op == 0) {
            snprintf(id, sizeof id, "%u", (unsigned)(x >> 44) % 60 + 1);
            ts_delete_token(writer, id, NULL);
        } else {
            ts_token *t = user_token(user, value);
            ts_token_set(t, TS_FIELD_ACCESS_TOKEN, value[0] ? value : NULL);
            if (op == 1) {
                snprintf(id, sizeof id, "%u", (unsigned)(x >> 44) % 60 + 1);
                ts_token_set(t, TS_FIELD_ID, id);
            }
            ts_save_token(writer, t, NULL);   /* a conflict is fine: nothing changes */
            ts_token_free(t);
        }
        assert_same_store(writer, reader, step);
    }
    ts_store *fresh = open_store(path);
    assert_same_store(fresh, reader, -1);
    ts_store_close(fresh);
    ts_store_close(writer);
    ts_store_close(reader);
}

/* Python's file, with values full of commas, quotes and line ends. */
START_TEST(test_reader_catches_up_exactly)
{
    static const char *const pieces[] = { "a", ",", "\"", "\r\n", "\n", "\r", " ", "id", "" };
    catch_up(fixture("sdk.csv"), pieces);
}
END_TEST

/* The Node.js SDK's file, whose rows each follow a "\n", with values it
 * can read back. */
START_TEST(test_reader_catches_up_node_file)
{
    static const char *const plain[] = { "a", "b", "'", ";", "\t", "=", " ", "id", "" };
    catch_up(sdk_file("node-tokens.csv"), plain);
}
END_TEST

/* ---------------------------------------------------------------- malformed files */

struct malformed {
    const char *name;
    const char *body;        /* after the header */
    int no_header;
    size_t line;
    const char *says;
};

static const struct malformed malformed_files[] = {
    { "bad quoting", "1,a,,,r,,,,,\r\n2,\"b\"x,,,r,,,,,\r\n", 0, 3, "text after the closing quote" },
    { "quote in a field", "1,a,,,r,,,,,\r\n2,b\"x,,,r,,,,,\r\n", 0, 3, "double quote inside" },
    { "unclosed quote", "1,a,,,r,,,,,\r\n2,\"b\r\n\r\n3,c,,,r,,,,,\r\n", 0, 3, "never closed" },
    { "column count", "1,a,,,r,,,,,\r\n2,b,,,r,,,,\r\n", 0, 3, "9 fields, but the header has 10" },
    { "non-numeric id", "1,a,,,r,,,,,\r\n\r\nx2,b,,,r,,,,,\r\n", 0, 4, "not a decimal number" },
    { "empty id", ",a,,,r,,,,,\r\n", 0, 2, "the id is empty" },
    { "leading zero", "01,a,,,r,,,,,\r\n", 0, 2, "without leading zeros" },
    { "duplicate id", "1,a,,,r,,,,,\r\n2,b,,,r,,,,,\r\n1,c,,,r,,,,,\r\n", 0, 4,
      "id 1 appears twice (first on line 2)" },
    { "wrong header", "id,user,client_id\r\n1,a,b\r\n", 1, 1, "not the SDKs' token file header" },
};

static void write_malformed(const char *path, const struct malformed *m)
{
    size_t hlen = m->no_header ? 0 : strlen(HEADER), blen = strlen(m->body);
    char *data = malloc(hlen + blen);
    memcpy(data, HEADER, hlen);
    memcpy(data + hlen, m->body, blen);
    spit(path, data, hlen + blen);
    free(data);
}

/* Every operation reports the file and line, and nothing is written. */
static void expect_refused(ts_store *s, const char *path, const struct malformed *m)
{
    char where[PATH_MAX + 32];
    ts_error err;
    size_t len;
    char *before = slurp(path, &len);
    snprintf(where, sizeof where, "%s:%zu: ", path, m->line);

    ts_token *t = user_token("new@example.com", "r");
    int rcs[5];
    const char *msgs[5];
    char saved[5][TS_ERROR_MAX];
    rcs[0] = ts_save_token(s, t, &err);
    memcpy(saved[0], err.message, sizeof err.message);
    rcs[1] = ts_find_token(s, t, &err);
    memcpy(saved[1], err.message, sizeof err.message);
    rcs[2] = ts_delete_tokens(s, &err);
    memcpy(saved[2], err.message, sizeof err.message);
    rcs[3] = ts_delete_token(s, "1", &err);
    memcpy(saved[3], err.message, sizeof err.message);
    size_t visited = 0;
    rcs[4] = ts_get_tokens(s, count_cb, &visited, &err);
    memcpy(saved[4], err.message, sizeof err.message);
    ts_token_free(t);
    for (int i = 0; i < 5; i++) {
        msgs[i] = saved[i];
        ck_assert_msg(rcs[i] == TS_ERR_CORRUPT, "%s: call %d returned %d", m->name, i, rcs[i]);
        ck_assert_msg(strstr(msgs[i], where) && strstr(msgs[i], m->says),
                      "%s: message '%s' lacks '%s' or '%s'", m->name, msgs[i], where, m->says);
    }
    assert_file_bytes(path, before, strlen(HEADER) * !m->no_header + strlen(m->body));
    free(before);
}

START_TEST(test_malformed_files)
{
    for (size_t i = 0; i < sizeof malformed_files / sizeof malformed_files[0]; i++) {
        const struct malformed *m = &malformed_files[i];
        const char *path = in_scratch("bad.csv");
        write_malformed(path, m);
        ts_store *s = open_store(path);
        expect_refused(s, path, m);
        ts_store_close(s);
        DIR *d = opendir(scratch);
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            ck_assert_msg(!strstr(e->d_name, "tmp"), "%s left %s", m->name, e->d_name);
        closedir(d);
    }
}
END_TEST

/* A file that breaks while a store has it open is refused too, and a
 * repaired file is used again. Changes by other programs (here: stdio
 * rewriting the file in place) reach readers within 100 ms, and writers at
 * once. */
START_TEST(test_file_breaks_while_open)
{
    const char *path = in_scratch("tokens.csv");
    const struct malformed *m = &malformed_files[3];
    ts_store *s = open_store(path), *reader = open_store(path);
    ts_token *t = user_token("a@example.com", "r");
    save_ok(s, t);
    ts_token_free(t);
    ck_assert_uint_eq(count_tokens(reader), 1);
    write_malformed(path, m);
    expect_refused(s, path, m);
    usleep(150000);
    expect_refused(reader, path, m);
    static const char fixed[] = HEADER "4,b@example.com,,,r,,,,,\r\n";
    spit(path, fixed, sizeof fixed - 1);
    t = user_token("c@example.com", "r");
    save_ok(s, t);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "5");
    ts_token_free(t);
    t = by_id(reader, "4");          /* our write bumped the generation */
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_USER_NAME), "b@example.com");
    ts_token_free(t);
    ck_assert_uint_eq(count_tokens(reader), 2);
    ts_store_close(s);
    ts_store_close(reader);
}
END_TEST

/* What a reader of the shared file sees, and when: a save through another
 * handle at once; an edit by another program within 100 ms. */
START_TEST(test_reader_sees_changes)
{
    const char *path = in_scratch("tokens.csv");
    copy_fixture("sdk.csv", path);
    ts_store *reader = open_store(path), *writer = open_store(path);
    ck_assert_uint_eq(count_tokens(reader), 5);
    ck_assert_int_eq(ts_delete_token(writer, "3", NULL), TS_OK);
    ck_assert_uint_eq(count_tokens(reader), 4);
    copy_fixture("sdk.csv", path);          /* in place, like the SDK */
    usleep(150000);
    ck_assert_uint_eq(count_tokens(reader), 5);
    ts_store_close(reader);
    ts_store_close(writer);
}
END_TEST

/* ---------------------------------------------------------------- processes */

enum { WRITERS = 8, SAVES = 1000 };

static int writer_child(const char *path, int w)
{
    ts_store *s;
    ts_error err;
    int failures = 0;
    if (open_store_logged(&s, path, NULL, NULL, &err) != TS_OK)
        return 100;
    for (int i = 0; i < SAVES; i++) {
        char user[32];
        snprintf(user, sizeof user, "w%d.%d", w, i);
        ts_token *t = ts_token_new();
        ts_token_set(t, TS_FIELD_USER_NAME, user);
        ts_token_set(t, TS_FIELD_REFRESH_TOKEN, "r");
        if (ts_save_token(s, t, &err) != TS_OK)
            failures++;
        ts_token_free(t);
    }
    ts_store_close(s);
    return failures > 99 ? 99 : failures;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(test_many_processes)
{
    const char *path = in_scratch("shared.csv");
    pid_t pids[WRITERS];
    ts_store_close(open_store(path));
    for (int w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        ck_assert_int_ge(pids[w], 0);
        if (pids[w] == 0)
            _exit(writer_child(path, w));
    }
    for (int w = 0; w < WRITERS; w++) {
        int status;
        ck_assert_int_eq(waitpid(pids[w], &status, 0), pids[w]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "writer %d: status %d", w, status);
    }
    /* Parse the file itself: 8,000 rows, 8,000 distinct ids and users. */
    size_t len;
    char *data = slurp(path, &len);
    ck_assert_uint_eq(count_records(data, len), 1 + WRITERS * SAVES);
    uint64_t *ids = calloc(WRITERS * SAVES, sizeof *ids);
    char *seen = calloc(WRITERS * SAVES, 1);
    csv_reader r;
    csv_record rec;
    size_t n = 0;
    file_csv_reader_init(&r, data, len);
    ck_assert_int_eq(file_csv_read(&r, &rec), CSV_RECORD);
    while (file_csv_read(&r, &rec) == CSV_RECORD) {
        int w, i;
        char user[32];
        snprintf(user, sizeof user, "%.*s", (int)rec.len[1], rec.value[1]);
        ck_assert_int_eq(sscanf(user, "w%d.%d", &w, &i), 2);
        ck_assert_int_eq(seen[w * SAVES + i]++, 0);
        ids[n++] = strtoull(rec.value[0], NULL, 10);
    }
    file_csv_reader_free(&r);
    ck_assert_uint_eq(n, WRITERS * SAVES);
    for (size_t i = 1; i < n; i++)
        ck_assert_msg(ids[i] > ids[i - 1], "ids not ascending at row %zu", i);
    qsort(ids, n, sizeof *ids, cmp_u64);
    ck_assert_uint_eq(ids[0], 1);
    ck_assert_uint_eq(ids[n - 1], WRITERS * SAVES);
    free(ids);
    free(seen);
    free(data);
    ts_store *s = open_store(path);
    ck_assert_uint_eq(count_tokens(s), WRITERS * SAVES);
    ts_store_close(s);
}
END_TEST

/* A child saves in a loop and reports each save that returned; the parent
 * kills it at a random moment. The file must parse and hold every
 * reported save. */
static void saver_child(const char *path, int report)
{
    ts_store *s;
    ts_error err;
    if (open_store_logged(&s, path, NULL, NULL, &err) != TS_OK)
        _exit(1);
    for (uint32_t i = 0;; i++) {
        char user[32], refresh[32];
        snprintf(user, sizeof user, "k%u", i % 300);      /* inserts, then updates */
        snprintf(refresh, sizeof refresh, "r%u", i);
        ts_token *t = ts_token_new();
        ts_token_set(t, TS_FIELD_USER_NAME, user);
        ts_token_set(t, TS_FIELD_REFRESH_TOKEN, refresh);
        if (ts_save_token(s, t, &err) != TS_OK)
            _exit(2);
        ts_token_free(t);
        if (write(report, &i, sizeof i) != sizeof i)
            _exit(3);
    }
}

/* Returns how many rows the file has. */
static size_t kill_during_writes(const char *path, unsigned seed)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        saver_child(path, fds[1]);
    }
    close(fds[1]);
    srand(seed);
    unsigned wanted = 100 + (unsigned)rand() % 400;
    uint32_t last = 0, got = 0;
    while (got < wanted && read(fds[0], &last, sizeof last) == sizeof last)
        got++;
    usleep((useconds_t)(rand() % 3000));       /* somewhere inside a later save */
    kill(pid, SIGKILL);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %d", status);
    while (read(fds[0], &last, sizeof last) == sizeof last)
        got++;
    close(fds[0]);
    ck_assert_uint_eq(last + 1, got);

    /* The file parses, and every save the child reported is in it: for
     * each user, the refresh token of its last reported save or a later one. */
    size_t len;
    char *data = slurp(path, &len);
    csv_reader r;
    csv_record rec;
    uint32_t users = got < 300 ? got : 300, found = 0;
    size_t rows = 0;
    file_csv_reader_init(&r, data, len);
    ck_assert_int_eq(file_csv_read(&r, &rec), CSV_RECORD);
    while (file_csv_read(&r, &rec) == CSV_RECORD) {
        unsigned k, v;
        char user[16], refresh[16];
        snprintf(user, sizeof user, "%.*s", (int)rec.len[1], rec.value[1]);
        snprintf(refresh, sizeof refresh, "%.*s", (int)rec.len[4], rec.value[4]);
        ck_assert_int_eq(sscanf(user, "k%u", &k), 1);
        ck_assert_int_eq(sscanf(refresh, "r%u", &v), 1);
        ck_assert_uint_eq(v % 300, k);
        rows++;
        /* The last reported save of user k is the largest i <= last with i % 300 == k. */
        if (k <= last) {
            uint32_t want = last - ((last - k) % 300);
            ck_assert_msg(v >= want && v <= last + 1, "user k%u has r%u, saved r%u", k, v, want);
            found++;
        }
    }
    ck_assert_msg(file_csv_read(&r, &rec) == CSV_END, "line %zu: %s", r.err_line, r.err_msg);
    file_csv_reader_free(&r);
    free(data);
    ck_assert_uint_eq(found, users);
    return rows;
}

START_TEST(test_sigkill_during_writes)
{
    const char *path = in_scratch("killed.csv");
    unsigned seed = (unsigned)time(NULL);
    size_t rows = 0;
    for (unsigned round = 0; round < 3; round++)
        rows = kill_during_writes(path, seed + round);
    ts_store *s = open_store(path);
    ck_assert_uint_eq(count_tokens(s), rows);
    ts_store_close(s);
    /* Opening cleared away any temporary file a killed save left. */
    DIR *d = opendir(scratch);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        ck_assert_msg(!strstr(e->d_name, "tmp"), "%s was left behind", e->d_name);
    closedir(d);
}
END_TEST

/* ---------------------------------------------------------------- named locks */

/* try_lock and unlock have no public API (the OAuth client calls them
 * through the core), so these tests load the backend and call its table
 * directly (tests/raw_backend.h) on a header-only file. */
static const ts_backend *file_vt(void)
{
    const ts_backend *vt = raw_backend("file");
    ck_assert_ptr_nonnull(vt->try_lock);
    ck_assert_ptr_nonnull(vt->unlock);
    return vt;
}

static int lock_files(void)
{
    DIR *d = opendir(scratch);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL)
        n += strncmp(e->d_name, "tokens.csv.lock.", 16) == 0;
    closedir(d);
    return n;
}

START_TEST(test_named_locks)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", in_scratch("tokens.csv"));
    spit(path, HEADER, sizeof HEADER - 1);
    const ts_backend *vt = file_vt();
    void *a = raw_open_path(vt, path, 0), *b = raw_open_path(vt, path, 0);
    void *ha, *hb, *hb2;

    ck_assert_int_eq(raw_try_lock(vt, a, "oauth:1", 60000, &ha), TS_OK);
    ck_assert_int_eq(raw_try_lock(vt, b, "oauth:1", 60000, &hb), TS_ERR_BUSY);
    /* The same handle too. */
    ck_assert_int_eq(raw_try_lock(vt, a, "oauth:1", 60000, &hb), TS_ERR_BUSY);
    ck_assert_int_eq(raw_try_lock(vt, b, "oauth:2", 60000, &hb2), TS_OK);
    ck_assert_int_eq(lock_files(), 2);
    ck_assert_int_eq(vt->unlock(a, ha, NULL), TS_OK);
    ck_assert_int_eq(raw_try_lock(vt, b, "oauth:1", 60000, &hb), TS_OK);
    ck_assert_int_eq(vt->unlock(b, hb, NULL), TS_OK);
    ck_assert_int_eq(vt->unlock(b, hb2, NULL), TS_OK);
    ck_assert_int_eq(lock_files(), 0);

    /* A holder past its ttl loses the lock, and its unlock leaves the
     * next holder's lock alone. */
    ck_assert_int_eq(raw_try_lock(vt, a, "slow", 50, &ha), TS_OK);
    ck_assert_int_eq(raw_try_lock(vt, b, "slow", 60000, &hb), TS_ERR_BUSY);
    usleep(120000);
    ck_assert_int_eq(raw_try_lock(vt, b, "slow", 60000, &hb), TS_OK);
    ck_assert_int_eq(vt->unlock(a, ha, NULL), TS_OK);
    ck_assert_int_eq(raw_try_lock(vt, a, "slow", 60000, &ha), TS_ERR_BUSY);
    ck_assert_int_eq(vt->unlock(b, hb, NULL), TS_OK);

    /* A holder that dies releases the lock at once, long before its ttl. */
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        void *c = raw_open_path(vt, path, 0), *hc;
        int rc = vt->try_lock(c, "crash", 600000, &hc, NULL);
        (void)!write(fds[1], &rc, sizeof rc);
        _exit(0);
    }
    int child_rc = -1;
    ck_assert_int_eq(read(fds[0], &child_rc, sizeof child_rc), sizeof child_rc);
    ck_assert_int_eq(child_rc, TS_OK);
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
    ck_assert_int_eq(raw_try_lock(vt, a, "crash", 60000, &ha), TS_OK);
    ck_assert_int_eq(vt->unlock(a, ha, NULL), TS_OK);
    raw_close(a);
    raw_close(b);
}
END_TEST

/* Whoever can write the store's directory must not be able to make us
 * write into another file through the files we keep beside the token
 * file: each is refused, named, and the other file is left as it was. */
static void assert_save_refused(const char *path, const char *why)
{
    ts_store *s;
    ts_error err;
    ts_token *t = user_token("u@example.com", "r");
    int rc = open_store_logged(&s, path, NULL, NULL, &err);
    if (rc == TS_OK) {
        rc = ts_save_token(s, t, &err);
        ts_store_close(s);
    }
    ts_token_free(t);
    ck_assert_int_eq(rc, TS_ERR_IO);
    ck_assert_msg(strstr(err.message, "refusing the lock file") && strstr(err.message, why),
                  "%s", err.message);
}

START_TEST(test_lock_files_are_never_followed)
{
    static const char victim_bytes[] = "root:x:0:0:root\n";
    char path[PATH_MAX], lock[PATH_MAX], victim[PATH_MAX];
    snprintf(path, sizeof path, "%s", in_scratch("tokens.csv"));
    snprintf(lock, sizeof lock, "%s", in_scratch("tokens.csv.lock"));
    snprintf(victim, sizeof victim, "%s", in_scratch("victim"));
    ts_store *s = open_store(path);
    ts_token *t = user_token("a@example.com", "r");
    ts_error err;
    ck_assert_int_eq(ts_save_token(s, t, &err), TS_OK);
    ts_token_free(t);
    ts_store_close(s);
    spit(victim, victim_bytes, sizeof victim_bytes - 1);

    ck_assert_int_eq(unlink(lock), 0);
    ck_assert_int_eq(symlink(victim, lock), 0);
    for (int i = 0; i < 3; i++)
        assert_save_refused(path, "symbolic link");
    assert_file_bytes(victim, victim_bytes, sizeof victim_bytes - 1);

    /* A dangling link does not create its target. */
    ck_assert_int_eq(unlink(lock), 0);
    ck_assert_int_eq(symlink(in_scratch("nowhere"), lock), 0);
    assert_save_refused(path, "symbolic link");
    ck_assert_int_eq(access(in_scratch("nowhere"), F_OK), -1);

    /* A hard link to another file, and a FIFO (which must not hang us). */
    ck_assert_int_eq(unlink(lock), 0);
    ck_assert_int_eq(link(victim, lock), 0);
    assert_save_refused(path, "more than one hard link");
    assert_file_bytes(victim, victim_bytes, sizeof victim_bytes - 1);
    ck_assert_int_eq(unlink(lock), 0);
    ck_assert_int_eq(mkfifo(lock, 0600), 0);
    assert_save_refused(path, "not a regular file");

    /* Someone else's file, where only root could be fooled into it. */
    if (geteuid() == 0) {
        ck_assert_int_eq(unlink(lock), 0);
        spit(lock, "", 0);
        ck_assert_int_eq(chown(lock, 12345, 12345), 0);
        assert_save_refused(path, "belongs to another user");
    }

    /* Put right, it works again and the token is there. */
    ck_assert_int_eq(unlink(lock), 0);
    s = open_store(path);
    t = user_token("a@example.com", "");
    ck_assert_int_eq(ts_find_token(s, t, &err), TS_OK);
    ts_token_free(t);
    ts_store_close(s);
}
END_TEST

/* The named locks' files too: a link in place of one is refused. */
START_TEST(test_named_lock_files_are_never_followed)
{
    char path[PATH_MAX], victim[PATH_MAX], named[PATH_MAX] = "";
    snprintf(path, sizeof path, "%s", in_scratch("tokens.csv"));
    snprintf(victim, sizeof victim, "%s", in_scratch("victim"));
    spit(path, HEADER, sizeof HEADER - 1);
    spit(victim, "keep", 4);
    const ts_backend *vt = file_vt();
    void *a = raw_open_path(vt, path, 0), *h;

    /* Learn the lock's file name by taking it once. */
    ck_assert_int_eq(raw_try_lock(vt, a, "oauth:1", 60000, &h), TS_OK);
    DIR *d = opendir(scratch);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strncmp(e->d_name, "tokens.csv.lock.", 16) == 0)
            snprintf(named, sizeof named, "%s", in_scratch(e->d_name));
    closedir(d);
    ck_assert(named[0]);
    ck_assert_int_eq(vt->unlock(a, h, NULL), TS_OK);

    ck_assert_int_eq(symlink(victim, named), 0);
    ts_error err;
    ck_assert_int_eq(vt->try_lock(a, "oauth:1", 60000, &h, &err), TS_ERR_IO);
    ck_assert_msg(strstr(err.message, "symbolic link"), "%s", err.message);
    assert_file_bytes(victim, "keep", 4);
    raw_close(a);
}
END_TEST

/* An empty store (header only) that takes in a changed file by
 * difference: found by fuzzing (a NULL row array met pointer arithmetic). */
START_TEST(test_empty_store_takes_in_garbage)
{
    char path[PATH_MAX], incoming[PATH_MAX];
    snprintf(path, sizeof path, "%s", in_scratch("tokens.csv"));
    snprintf(incoming, sizeof incoming, "%s", in_scratch("incoming"));
    spit(path, HEADER, sizeof HEADER - 1);
    ts_store *s = open_store(path);
    ts_error err;
    ck_assert_uint_eq(count_tokens(s), 0);
    spit(incoming, "\0,\xff", 3);
    ck_assert_int_eq(rename(incoming, path), 0);
    usleep(150 * 1000);                     /* past the backend's recheck interval */
    ts_token *t = user_token("a@example.com", "");
    ck_assert_int_eq(ts_find_token(s, t, &err), TS_ERR_CORRUPT);
    ck_assert_msg(strstr(err.message, path), "%s", err.message);
    ts_token_free(t);
    ts_store_close(s);
}
END_TEST

/* A FIFO where the token file should be is an error, not a hang. */
START_TEST(test_fifo_token_file)
{
    char path[PATH_MAX];
    ts_store *s;
    ts_error err;
    snprintf(path, sizeof path, "%s", in_scratch("tokens.csv"));
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    int rc = open_store_logged(&s, path, NULL, NULL, &err);
    if (rc == TS_OK) {
        ts_token *t = user_token("a@example.com", "");
        rc = ts_find_token(s, t, &err);
        ts_token_free(t);
        ts_store_close(s);
    }
    ck_assert_msg(rc != TS_OK && rc != TS_NOT_FOUND, "%s", ts_strerror(rc));
    ck_assert_msg(strstr(err.message, "is a special file, not a token file"), "%s", err.message);
}
END_TEST

/* ---------------------------------------------------------------- main */

static Suite *file_suite(void)
{
    Suite *s = suite_create("file");
    TCase *tc = tcase_create("csv");
    tcase_add_test(tc, test_write_quotes_minimally);
    tcase_add_test(tc, test_write_empty_records);
    tcase_add_test(tc, test_read_quoted_values);
    tcase_add_test(tc, test_read_line_endings);
    tcase_add_test(tc, test_read_blank_lines_and_bom);
    tcase_add_test(tc, test_read_counts_every_field);
    tcase_add_test(tc, test_read_scratch_growth);
    tcase_add_test(tc, test_read_errors);
    tcase_add_test(tc, test_read_knows_canonical_records);
    tcase_add_test(tc, test_round_trip_random);
    suite_add_tcase(s, tc);

    tc = tcase_create("backend");
    tcase_add_checked_fixture(tc, make_scratch, remove_scratch);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_golden_sdk_values);
    tcase_add_test(tc, test_golden_round_trips);
    tcase_add_test(tc, test_tokenstore_file_is_stable);
    tcase_add_test(tc, test_legacy_nine_columns);
    tcase_add_test(tc, test_python_sdk_file);
    tcase_add_test(tc, test_node_sdk_file);
    tcase_add_test(tc, test_sdk_legacy_files);
    tcase_add_test(tc, test_mixed_line_ends);
    tcase_add_test(tc, test_node_file_refuses_quoting);
    tcase_add_test(tc, test_node_file_quoted_rows);
    tcase_add_test(tc, test_new_file_has_header_and_mode);
    tcase_add_test(tc, test_group_readable_warning);
    tcase_add_test(tc, test_stale_temp_files_removed);
    tcase_add_test(tc, test_ids_are_numbers);
    tcase_add_test(tc, test_handles_see_each_other);
    tcase_add_test(tc, test_batch_is_all_or_nothing);
    tcase_add_test(tc, test_big_values);
    tcase_add_test(tc, test_malformed_files);
    tcase_add_test(tc, test_file_breaks_while_open);
    tcase_add_test(tc, test_reader_sees_changes);
    tcase_add_test(tc, test_reader_catches_up_exactly);
    tcase_add_test(tc, test_reader_catches_up_node_file);
    tcase_add_test(tc, test_named_locks);
    tcase_add_test(tc, test_lock_files_are_never_followed);
    tcase_add_test(tc, test_named_lock_files_are_never_followed);
    tcase_add_test(tc, test_fifo_token_file);
    tcase_add_test(tc, test_empty_store_takes_in_garbage);
    suite_add_tcase(s, tc);

    tc = tcase_create("processes");
    tcase_add_checked_fixture(tc, make_scratch, remove_scratch);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_many_processes);
    tcase_add_test(tc, test_sigkill_during_writes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(file_suite());
}
