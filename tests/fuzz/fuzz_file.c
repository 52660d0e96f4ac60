/*
 * tests/fuzz/fuzz_file.c - the file backend when another program rewrites
 * its file with any bytes. A handle that had the file loaded takes the
 * new file in by difference (only the rows that changed are parsed again);
 * a fresh handle parses it whole. Both must agree on every row, or on the
 * error. Then a file the backend has written must stay byte for byte the
 * same when the same token is saved again by another handle.
 */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fuzz.h"

#define HEADER "id,user_name,client_id,client_secret,refresh_token,access_token," \
               "grant_token,expiry_time,redirect_uri,api_domain\r\n"
#define FIRST HEADER \
              "1,a@x.com,1000.C,s,1000.r1,1000.a1,,1893456000000,https://x/cb,https://www.zohoapis.com\r\n" \
              "2,b@x.com,1000.C,s,1000.r2,,,,,\r\n"

static const ts_backend *vt;
static ts_config *config;
static char path[PATH_MAX], tmp[PATH_MAX], lock[PATH_MAX];

static void setup_once(void)
{
    static char dir[] = "/tmp/tokenstore-fuzz-file-XXXXXX";

    FUZZ_ASSERT(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/t.csv", dir);
    snprintf(tmp, sizeof tmp, "%s/incoming", dir);
    snprintf(lock, sizeof lock, "%s/t.csv.lock", dir);
    FUZZ_ASSERT(ts_config_new(&config) == TS_OK);
    FUZZ_ASSERT(ts_config_set_backend(config, "file", NULL) == TS_OK);
    FUZZ_ASSERT(ts_config_set_option(config, "path", path, NULL) == TS_OK);
    FUZZ_ASSERT(tokenstore_backend_init(TS_ABI_MAJOR, TS_ABI_MINOR, &ts__host, &vt) == TS_OK);
}

/* Puts bytes in the file's place as another writer would: a new file
 * renamed over it, and the generation in the lock file bumped. */
static void replace_file(const void *data, size_t size)
{
    FILE *f = fopen(tmp, "wb");
    FUZZ_ASSERT(f && fwrite(data, 1, size, f) == size && fclose(f) == 0);
    FUZZ_ASSERT(rename(tmp, path) == 0);
    int fd = open(lock, O_RDWR);
    if (fd >= 0) {               /* as the backend counts it: pread, pwrite */
        uint64_t generation = 0;
        if (pread(fd, &generation, sizeof generation, 0) != (ssize_t)sizeof generation)
            generation = 1;
        generation++;
        FUZZ_ASSERT(pwrite(fd, &generation, sizeof generation, 0) ==
                    (ssize_t)sizeof generation);
        close(fd);
    }
}

struct handle {
    ts_backend_ctx ctx;
    void *state;
};

static int open_handle(struct handle *h)
{
    ts_error err;
    h->ctx = (ts_backend_ctx){ .config = config, .log_custom = 1 };
    return vt->open(&ts__host, &h->ctx, &h->state, &err);
}

/* Every row, each value with its length, in the walk's order. */
static int collect(const ts_token *t, void *ud)
{
    FILE *out = ud;
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        fprintf(out, "%zu:%s,", strlen(ts_token_get(t, (ts_field)f)), ts_token_get(t, (ts_field)f));
    fputc('\n', out);
    return 0;
}

static int rows(struct handle *h, char **text)
{
    size_t len;
    ts_error err;
    FILE *out = open_memstream(text, &len);
    int rc = vt->get_tokens(h->state, collect, out, &err);
    fclose(out);
    return rc;
}

static char *file_bytes(size_t *len)
{
    char *data = NULL;
    FILE *f = fopen(path, "rb"), *mem = open_memstream(&data, len);
    char buf[4096];
    size_t n;
    while (f && (n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, mem);
    fclose(mem);
    if (f)
        fclose(f);
    return data;
}

/* Saving a stored row again through a fresh handle changes no byte. */
static void check_stable(const ts_token *row)
{
    struct handle h;
    ts_error err;
    size_t before_len, after_len;
    ts_token *copy = ts_token_new();

    FUZZ_ASSERT(copy && ts__token_copy(copy, row) == TS_OK);
    char *before = file_bytes(&before_len);
    if (open_handle(&h) == TS_OK) {
        if (vt->save_token(h.state, copy, &err) == TS_OK) {
            char *after = file_bytes(&after_len);
            FUZZ_ASSERT(after_len == before_len && memcmp(after, before, after_len) == 0);
            free(after);
        }
        vt->close(h.state);
    }
    free(before);
    ts_token_free(copy);
}

static int first_row(const ts_token *t, void *ud)
{
    return ts__token_copy(ud, t) == TS_OK ? 1 : 0;
}

/* The file changes from `first` (which a handle has loaded) to data. */
static void check_change(const char *first, const uint8_t *data, size_t size)
{
    struct handle loaded, fresh;
    char *seen = NULL, *parsed = NULL;
    ts_error err;

    unlink(path);
    replace_file(first, strlen(first));
    FUZZ_ASSERT(open_handle(&loaded) == TS_OK);
    FUZZ_ASSERT(rows(&loaded, &seen) == TS_OK);
    free(seen);

    replace_file(data, size);
    int rc_loaded = rows(&loaded, &seen);
    int rc_fresh = open_handle(&fresh);
    if (rc_fresh == TS_OK) {
        rc_fresh = rows(&fresh, &parsed);
        FUZZ_ASSERT(rc_loaded == rc_fresh);
        FUZZ_ASSERT(rc_fresh != TS_OK || strcmp(seen, parsed) == 0);
        if (rc_fresh == TS_OK) {
            /* Written by the backend once, then saved again unchanged. */
            ts_token *row = ts_token_new();
            if (vt->get_tokens(fresh.state, first_row, row, &err) == 1 &&
                vt->save_token(fresh.state, row, &err) == TS_OK)
                check_stable(row);
            ts_token_free(row);
        }
        vt->close(fresh.state);
    }
    vt->close(loaded.state);
    free(seen);
    free(parsed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!vt)
        setup_once();
    check_change(FIRST, data, size);
    check_change(HEADER, data, size);       /* an empty store */
    return 0;
}
