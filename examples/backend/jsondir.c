/*
 * jsondir - a tokenstore backend written out of tree: one JSON file per
 * token in a directory, "<id>.json", readable and editable by hand.
 *
 * It is the example of a third-party backend. It includes nothing from
 * tokenstore but <tokenstore/backend.h>, links against nothing, and
 * exports one symbol (built with -fvisibility=hidden; see the Makefile).
 * Everything the SDK decides (which stored token a save replaces, the
 * next id, the lookup-key order) comes from the host table the core
 * passes in, so this file only stores and loads.
 *
 * Finding a token by user_name in a directory of files means reading them
 * all, and the conformance suite saves 10,000 tokens, so the parsed
 * tokens are kept in the host's hash-indexed table: loaded once at open,
 * then changed together with the files. The price of that cache is that
 * one process at a time may use a directory; the backend says so by not
 * claiming TS_CAP_SHARED (nor TS_CAP_THREAD_SAFE: the core then
 * serializes the calls on a handle).
 *
 * Each file is written whole to a temporary file, flushed to disk, and
 * renamed over "<id>.json", so a crash leaves the old token or the new
 * one, never half of one. When a write fails, the cache is reloaded from
 * the directory before the next call, so it never claims what the disk
 * does not hold.
 *
 * The format is a JSON object of the ten fields, all strings. Any byte but
 * NUL round-trips: '"', '\' and control characters are escaped, other
 * bytes are written as they are (UTF-8 stays readable).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <tokenstore/backend.h>

#define MAX_FILE_BYTES (16 * 1024 * 1024)

struct jsondir {
    const ts_host *host;
    char *path;          /* the directory, for messages */
    int dirfd;           /* the directory, for every file operation */
    ts_table *cache;     /* every token in the directory */
    int stale;           /* a write failed: reload before trusting the cache */
};

/* ---------------------------------------------------------------- names */

/* Whether a directory entry is a token file: digits, then ".json". */
static int is_token_file(const char *name)
{
    size_t digits = strspn(name, "0123456789");
    return digits > 0 && strcmp(name + digits, ".json") == 0;
}

static void file_name(const char *id, char out[32])
{
    snprintf(out, 32, "%.20s.json", id);
}

/* ---------------------------------------------------------------- writing */

/* The bytes `value` takes between the quotes. */
static size_t escaped_length(const char *value)
{
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        n += *p == '"' || *p == '\\' || *p == '\n' || *p == '\r' || *p == '\t' ? 2
             : *p < 0x20 || *p == 0x7f                                       ? 6
                                                                             : 1;
    return n;
}

static char *escape_into(char *out, const char *value)
{
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        switch (*p) {
        case '"': out += sprintf(out, "\\\""); break;
        case '\\': out += sprintf(out, "\\\\"); break;
        case '\n': out += sprintf(out, "\\n"); break;
        case '\r': out += sprintf(out, "\\r"); break;
        case '\t': out += sprintf(out, "\\t"); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                out += sprintf(out, "\\u%04x", *p);
            else
                *out++ = (char)*p;
        }
    }
    return out;
}

/* The token as JSON text, in one exactly sized buffer so that it can be
 * wiped (it holds secrets). *len receives its length. */
static char *format_token(const ts_host *host, const ts_token *token, size_t *len)
{
    size_t size = 4;                                  /* "{\n" and "}\n" */
    for (int f = 0; f < TS_FIELD_COUNT; f++)          /*   "name": "value",\n */
        size += 10 + strlen(host->field_name(f)) + escaped_length(host->token_get(token, f));

    char *text = malloc(size + 1), *p = text;
    if (!text)
        return NULL;
    p += sprintf(p, "{\n");
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        p += sprintf(p, "  \"%s\": \"", host->field_name(f));
        p = escape_into(p, host->token_get(token, f));
        p += sprintf(p, "\"%s\n", f + 1 < TS_FIELD_COUNT ? "," : "");
    }
    p += sprintf(p, "}\n");
    *len = (size_t)(p - text);
    return text;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes "<id>.json" through a temporary file, fsync and rename. */
static int write_token_file(struct jsondir *d, const ts_token *token, ts_error *err)
{
    const char *id = d->host->token_get(token, TS_FIELD_ID);
    char name[32], temp[64];
    size_t len;
    char *text = format_token(d->host, token, &len);

    if (!text)
        return d->host->error(err, TS_ERR_NOMEM, "out of memory");
    file_name(id, name);
    snprintf(temp, sizeof temp, ".%s.%ld.tmp", name, (long)getpid());
    int fd = openat(d->dirfd, temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int ok = fd >= 0 && write_all(fd, text, len) == 0 && fsync(fd) == 0;
    int saved_errno = errno;
    if (fd >= 0 && close(fd) != 0 && ok) {
        ok = 0;
        saved_errno = errno;
    }
    if (ok && renameat(d->dirfd, temp, d->dirfd, name) != 0) {
        ok = 0;
        saved_errno = errno;
    }
    explicit_bzero(text, len);
    free(text);
    if (ok) {
        fsync(d->dirfd);              /* make the rename itself durable */
        return TS_OK;
    }
    unlinkat(d->dirfd, temp, 0);
    return d->host->error(err, TS_ERR_IO, "%s/%s: %s", d->path, name, strerror(saved_errno));
}

/* ---------------------------------------------------------------- reading */

/* A cursor over a file's text, for parse errors with line and column. */
struct parser {
    const char *start, *p, *end;
    const char *path, *name;
};

static int parse_error(const ts_host *host, const struct parser *ps, const char *what,
                       ts_error *err)
{
    int line = 1, col = 1;

    for (const char *q = ps->start; q < ps->p; q++) {
        col = *q == '\n' ? 1 : col + 1;
        line += *q == '\n';
    }
    return host->error(err, TS_ERR_CORRUPT, "%s/%s:%d:%d: %s", ps->path, ps->name, line, col,
                       what);
}

static void skip_space(struct parser *ps)
{
    while (ps->p < ps->end && isspace((unsigned char)*ps->p))
        ps->p++;
}

/* Consumes `c` after optional white space. */
static int expect(struct parser *ps, char c)
{
    skip_space(ps);
    if (ps->p == ps->end || *ps->p != c)
        return 0;
    ps->p++;
    return 1;
}

/* \uXXXX as UTF-8 into out; the number of bytes, or 0 for NUL, a
 * surrogate or bad hex digits. */
static int decode_unicode(const char *hex, char *out)
{
    unsigned cp = 0;

    for (int i = 0; i < 4; i++) {
        if (!isxdigit((unsigned char)hex[i]))
            return 0;
        cp = cp * 16 + (unsigned)(isdigit((unsigned char)hex[i]) ? hex[i] - '0'
                                                                 : (hex[i] | 0x20) - 'a' + 10);
    }
    if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    out[0] = (char)(0xE0 | cp >> 12);
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
}

/* A string after its opening quote, decoded into out (at least as long
 * as the rest of the text); its length, or -1 with *what set. */
static long parse_string(struct parser *ps, char *out, const char **what)
{
    static const char simple[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
    char *o = out;
    int n;

    while (ps->p < ps->end && *ps->p != '"') {
        char c = *ps->p++;
        if (c != '\\') {
            *o++ = c;
            continue;
        }
        const char *s = ps->p < ps->end ? strchr(simple, *ps->p) : NULL;
        if (s && *ps->p && (s - simple) % 2 == 0) {
            *o++ = s[1];
            ps->p++;
        } else if (ps->end - ps->p >= 5 && *ps->p == 'u' &&
                   (n = decode_unicode(ps->p + 1, o)) > 0) {
            o += n;
            ps->p += 5;
        } else {
            *what = "a bad escape (\\u0000 and surrogates are refused: write the "
                    "character itself, in UTF-8)";
            return -1;
        }
    }
    if (ps->p == ps->end) {
        *what = "the string does not end";
        return -1;
    }
    ps->p++;                                          /* the closing quote */
    return o - out;
}

/* One "key": "value" member into row. */
static int parse_member(const ts_host *host, struct parser *ps, char *buf, ts_token *row,
                        ts_error *err)
{
    const char *what = NULL;
    ts_field field = TS_FIELD_COUNT;

    if (!expect(ps, '"'))
        return parse_error(host, ps, "expected a field name in quotes", err);
    long n = parse_string(ps, buf, &what);
    if (n < 0)
        return parse_error(host, ps, what, err);
    buf[n] = '\0';
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        if (strcmp(buf, host->field_name(f)) == 0)
            field = (ts_field)f;
    if (field == TS_FIELD_COUNT)
        return parse_error(host, ps, "unknown field name", err);
    if (!expect(ps, ':'))
        return parse_error(host, ps, "expected ':'", err);
    if (!expect(ps, '"'))
        return parse_error(host, ps, "expected a string value", err);
    if ((n = parse_string(ps, buf, &what)) < 0)
        return parse_error(host, ps, what, err);
    int rc = host->token_setn(row, field, buf, (size_t)n);
    explicit_bzero(buf, (size_t)n);
    if (rc == TS_ERR_NOMEM)
        return host->error(err, rc, "out of memory");
    return rc == TS_OK ? TS_OK : parse_error(host, ps, "a NUL byte in the value", err);
}

/* A whole file: {"field": "value", ...} with nothing after it. */
static int parse_token(const ts_host *host, struct parser *ps, ts_token *row, ts_error *err)
{
    char *buf = malloc((size_t)(ps->end - ps->start) + 1);
    int rc = TS_OK;

    if (!buf)
        return host->error(err, TS_ERR_NOMEM, "out of memory");
    if (!expect(ps, '{'))
        rc = parse_error(host, ps, "expected '{'", err);
    else if (!expect(ps, '}')) {
        do
            rc = parse_member(host, ps, buf, row, err);
        while (rc == TS_OK && expect(ps, ','));
        if (rc == TS_OK && !expect(ps, '}'))
            rc = parse_error(host, ps, "expected ',' or '}'", err);
    }
    skip_space(ps);
    if (rc == TS_OK && ps->p != ps->end)
        rc = parse_error(host, ps, "text after the closing '}'", err);
    free(buf);
    return rc;
}

/* The whole of a file, NUL-terminated; NULL with errno set. */
static char *read_file(int dirfd, const char *name, size_t *len)
{
    struct stat st;
    char *text = NULL;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) == 0 && st.st_size <= MAX_FILE_BYTES &&
        (text = malloc((size_t)st.st_size + 1))) {
        ssize_t n = read(fd, text, (size_t)st.st_size);
        if (n != st.st_size) {
            explicit_bzero(text, (size_t)st.st_size);
            free(text);
            text = NULL;
            errno = n < 0 ? errno : EIO;
        } else {
            text[n] = '\0';
            *len = (size_t)n;
        }
    } else if (st.st_size > MAX_FILE_BYTES) {
        errno = EFBIG;
    }
    close(fd);
    return text;
}

/* Reads "<id>.json" into the cache; the id inside must match the name. */
static int load_file(struct jsondir *d, const char *name, ts_token *row, ts_error *err)
{
    const ts_host *host = d->host;
    size_t len = 0;
    char *text = read_file(d->dirfd, name, &len);

    if (!text)
        return host->error(err, TS_ERR_IO, "%s/%s: %s", d->path, name, strerror(errno));
    struct parser ps = { text, text, text + len, d->path, name };
    host->token_clear(row);
    int rc = parse_token(host, &ps, row, err);
    explicit_bzero(text, len);
    free(text);
    size_t idlen = strlen(name) - strlen(".json");
    const char *id = host->token_get(row, TS_FIELD_ID);
    if (rc == TS_OK && !*id)                          /* the name says it */
        rc = host->token_setn(row, TS_FIELD_ID, name, idlen);
    else if (rc == TS_OK && (strlen(id) != idlen || strncmp(id, name, idlen) != 0))
        rc = host->error(err, TS_ERR_CORRUPT, "%s/%s: holds id \"%.20s\"", d->path, name, id);
    if (rc == TS_OK && (rc = host->table_insert(d->cache, row, err)) != TS_OK && err &&
        rc != TS_ERR_NOMEM) {
        char why[TS_ERROR_MAX];
        snprintf(why, sizeof why, "%s", err->message);
        host->error(err, rc, "%s/%s: %s", d->path, name, why);
    }
    return rc;
}

/* Calls fn for every token file of the directory. */
static int each_token_file(struct jsondir *d, int (*fn)(struct jsondir *, const char *, void *),
                           void *arg, ts_error *err)
{
    int fd = dup(d->dirfd);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    int rc = TS_OK;

    if (!dir) {
        if (fd >= 0)
            close(fd);
        return d->host->error(err, TS_ERR_IO, "%s: %s", d->path, strerror(errno));
    }
    rewinddir(dir);
    for (struct dirent *e; rc == TS_OK && (e = readdir(dir));)
        if (is_token_file(e->d_name))
            rc = fn(d, e->d_name, arg);
    closedir(dir);
    return rc;
}

struct load_arg {
    ts_token *row;
    ts_error *err;
};

static int load_one(struct jsondir *d, const char *name, void *arg)
{
    struct load_arg *a = arg;
    return load_file(d, name, a->row, a->err);
}

/* (Re)fills the cache from the directory. */
static int load_all(struct jsondir *d, ts_error *err)
{
    struct load_arg a = { d->host->token_new(), err };

    if (!a.row)
        return d->host->error(err, TS_ERR_NOMEM, "out of memory");
    d->host->table_clear(d->cache);
    int rc = each_token_file(d, load_one, &a, err);
    d->host->token_free(a.row);
    d->stale = rc != TS_OK;
    return rc;
}

/* Every operation starts here: a cache a failed write left behind is
 * thrown away and read again. */
static int fresh(struct jsondir *d, ts_error *err)
{
    return d->stale ? load_all(d, err) : TS_OK;
}

/* ---------------------------------------------------------------- the store */

static int jsondir_open(const ts_host *host, ts_backend_ctx *ctx, void **state, ts_error *err)
{
    const char *path = host->option(ctx, "path");
    struct jsondir *d;

    if (!path || !*path)
        return host->error(err, TS_ERR_CONFIG, "option 'path' (the token directory) is missing");
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return host->error(err, TS_ERR_IO, "%s: cannot create the directory: %s", path,
                           strerror(errno));
    if (!(d = calloc(1, sizeof *d)) || !(d->path = strdup(path)) ||
        !(d->cache = host->table_new())) {
        if (d)
            free(d->path);
        free(d);
        return host->error(err, TS_ERR_NOMEM, "out of memory");
    }
    d->host = host;
    d->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = d->dirfd >= 0 ? load_all(d, err)
                           : host->error(err, TS_ERR_IO, "%s: %s", path, strerror(errno));
    if (rc != TS_OK) {
        if (d->dirfd >= 0)
            close(d->dirfd);
        host->table_free(d->cache);
        free(d->path);
        free(d);
        return rc;
    }
    *state = d;
    return TS_OK;
}

static void jsondir_close(void *state)
{
    struct jsondir *d = state;

    close(d->dirfd);
    d->host->table_free(d->cache);
    free(d->path);
    free(d);
}

static int jsondir_find_token(void *state, const ts_token *query, ts_token *row, ts_error *err)
{
    struct jsondir *d = state;
    int rc = fresh(d, err);

    return rc != TS_OK ? rc : d->host->find_by_rule(query, d->host->table_lookup, d->cache, row, err);
}

static int jsondir_find_token_by_id(void *state, const char *id, ts_token *row, ts_error *err)
{
    struct jsondir *d = state;
    int rc = fresh(d, err);

    return rc != TS_OK ? rc : d->host->table_lookup(d->cache, TS_FIELD_ID, id, row, err);
}

/* The host decides (the row it replaces, the merged fields, the next id)
 * and updates the cache; then the file follows. */
static int jsondir_save_token(void *state, ts_token *token, ts_error *err)
{
    struct jsondir *d = state;
    int rc = fresh(d, err);

    if (rc == TS_OK)
        rc = d->host->table_save(d->cache, token, err);
    if (rc == TS_OK && (rc = write_token_file(d, token, err)) != TS_OK)
        d->stale = 1;
    return rc;
}

static int jsondir_delete_token(void *state, const char *id, ts_error *err)
{
    struct jsondir *d = state;
    char name[32];
    int rc = fresh(d, err);

    if (rc != TS_OK)
        return rc;
    if (!d->host->table_get(d->cache, TS_FIELD_ID, id))
        return TS_NOT_FOUND;
    file_name(id, name);
    if (unlinkat(d->dirfd, name, 0) != 0 && errno != ENOENT)
        return d->host->error(err, TS_ERR_IO, "%s/%s: %s", d->path, name, strerror(errno));
    return d->host->table_delete(d->cache, id);
}

static int jsondir_get_tokens(void *state, ts_token_cb cb, void *userdata, ts_error *err)
{
    struct jsondir *d = state;
    int rc = fresh(d, err);

    return rc != TS_OK ? rc : d->host->table_foreach(d->cache, cb, userdata);
}

static int unlink_one(struct jsondir *d, const char *name, void *arg)
{
    ts_error *err = arg;

    if (unlinkat(d->dirfd, name, 0) != 0 && errno != ENOENT)
        return d->host->error(err, TS_ERR_IO, "%s/%s: %s", d->path, name, strerror(errno));
    return TS_OK;
}

static int jsondir_delete_tokens(void *state, ts_error *err)
{
    struct jsondir *d = state;
    int rc = each_token_file(d, unlink_one, err, err);

    d->host->table_clear(d->cache);
    d->stale = rc != TS_OK;        /* some files may be left: read them again */
    return rc;
}

static const char *const jsondir_options[] = { "path", NULL };

static const ts_backend jsondir_backend = {
    TS_BACKEND_HEAD,
    .name = "jsondir",
    .version = "1.0.0",
    .description = "one JSON file per token in a directory (an out-of-tree example)",
    .caps = TS_CAP_PERSISTENT,
    .options = jsondir_options,
    .open = jsondir_open,
    .close = jsondir_close,
    .find_token = jsondir_find_token,
    .save_token = jsondir_save_token,
    .delete_token = jsondir_delete_token,
    .get_tokens = jsondir_get_tokens,
    .delete_tokens = jsondir_delete_tokens,
    .find_token_by_id = jsondir_find_token_by_id,
};

TS_BACKEND_DEFINE(jsondir_backend)
