/*
 * plugins/file - tokens in the Zoho SDK's own FileStore CSV, shared safely
 * by many processes.
 *
 * The file is the SDKs' FileStore file: a header row, then one row per
 * token in the SDK's column order. The Python SDK writes it with Python's
 * csv module (QUOTE_MINIMAL, "\r\n" after every row) under a header whose
 * ninth column is "redirect_uri"; the Node.js SDK joins unquoted fields
 * with "," and rows with "\n", with no newline at the end, under a header
 * with "redirect_url". Both read columns by position. A file is written
 * back in the dialect of its header line and its header is never renamed,
 * so each SDK can still read what we write; a new file is the Python
 * SDK's. The Node.js SDK splits its file on "\n" and "," and so cannot
 * read a value that would need quotes: saving one into its file is
 * refused. An application can move between an SDK's FileStore and this
 * backend in either direction without converting anything, and a file
 * comes back byte for byte when nothing changed.
 *
 * Reading. The parsed rows live in the host's hash-indexed table, next to
 * the file's exact bytes (the image) and where each row starts in it. The
 * file is read again only when it changed. Our writers bump a generation
 * counter kept in the mapped lock file, so a reader learns that nothing
 * changed from one load of shared memory instead of a stat() (a system call
 * costs more than the whole lookup); a stat() comparing device, inode,
 * size, mtime and ctime still runs before every write and at least every
 * RECHECK_NS, which catches other programs (the SDK, an editor, a restored
 * backup). The loaded file is held open so that its inode number cannot
 * be reused by a newer file while we remember it. When the file did
 * change, the new bytes are compared with the image and only the rows
 * between their common prefix and suffix are parsed again; another
 * process's save costs a reader a read() and a memcmp(), not a parse of
 * every row. (The lock file is mapped: truncating it under a running
 * process would kill that process with SIGBUS; removing it is safe.)
 *
 * Writing. A writer takes an exclusive flock() on the sidecar
 * "<file>.lock" (the data file's inode is replaced by every write, so it
 * cannot carry the lock), catches up with the file, changes the table,
 * and writes a temporary file in the same directory: the image's bytes
 * before the row, the row, the bytes after it (one writev, no other row is
 * formatted again). Then fsync, rename over the token file, bump the
 * generation, fsync the directory, unlock. A reader opens either the old
 * file or the new one, both complete, and a process killed at any moment
 * leaves one of them. A file not exactly as its dialect writes it (rows
 * out of id order, mixed line ends, blank lines, nine columns) is written
 * whole, in its header's dialect, on its first write.
 *
 * try_lock/unlock (the OAuth client's single-flight refresh) are flock()ed
 * files next to the token file, one per lock name; see "named locks".
 *
 * A file that does not parse is never written over: every operation
 * returns TS_ERR_CORRUPT naming the file and line until it is fixed. The
 * path is resolved once, at open, to a directory handle and a name, so a
 * later chdir() does not redirect writes and a symlinked token file is
 * written where it points. A store handle must not be shared across
 * fork(): the child shares its lock, so open the store after forking.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <tokenstore/backend.h>
#include "csv.h"

/* The fields, as messages name them; also the header but for the ninth
 * column, which each SDK spells its own way (REDIRECT_COLUMN). Older SDKs
 * wrote only the first nine columns. */
static const char *const column_name[TS_FIELD_COUNT] = {
    "id", "user_name", "client_id", "client_secret", "refresh_token",
    "access_token", "grant_token", "expiry_time", "redirect_url", "api_domain",
};
#define LEGACY_COLUMNS 9
#define REDIRECT_COLUMN 8

/* How an SDK lays out its file. A row owns the bytes before it and the
 * bytes after it, so that rows tile the file after the header: Python's
 * rows end in "\r\n"; the Node.js SDK's rows each follow a "\n" and the
 * file ends without one. The first (zero) is a new file's. */
enum { DIALECT_PYTHON, DIALECT_NODE };
static const struct dialect {
    const char *redirect_column;  /* the header's ninth column */
    const char *before_row;
    const char *after_record;
} dialects[] = {
    [DIALECT_PYTHON] = { "redirect_uri", "", "\r\n" },
    [DIALECT_NODE] = { "redirect_url", "\n", "" },
};

#define TEMP_INFIX ".tokenstore-tmp."
#define TEMP_RANDOM 6
#define LOCK_SUFFIX ".lock"
/* How stale a reader may be about a change made by a program that does
 * not bump the generation. */
#define RECHECK_NS 100000000u

/* Which file the table was loaded from. */
struct identity {
    int exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    struct timespec ctime;
};

/* A row of the image: its id and the offset of its first byte. */
struct row_at {
    uint64_t id;
    size_t off;
};

struct file {
    const ts_host *host;
    ts_backend_ctx *ctx;
    char *path;              /* as configured: what messages name */
    char *base;              /* the file's name inside dir_fd */
    char *lock_name;         /* base + ".lock" */
    unsigned mode;
    int mode_given;          /* option mode was set: it beats the replaced file's */
    unsigned open_flags;     /* TS_OPEN_* */
    int dir_fd;
    int lock_fd;             /* -1 until opened */
    int data_fd;             /* the loaded file, held open: see the top */
    uint64_t *generation;    /* in the mapped lock file, or NULL */
    int generation_writable;
    uint64_t seen_generation;
    uint64_t checked_at;     /* when the file was last stat()ed */
    int loaded;              /* table, image and rows describe `seen` */
    struct identity seen;
    int corrupt;             /* the file at `seen` did not parse ... */
    char why[TS_ERROR_MAX];  /* ... and this says where */
    ts_table *table;
    csv_buf image;           /* the file's bytes */
    struct row_at *rows;     /* the image's rows, in file order */
    size_t nrows, rows_cap;
    int canonical;           /* image is exactly what we would write: rows can be spliced */
    int dialect;             /* DIALECT_*, from the header's line end */
    int redirect_spelling;   /* the dialect whose spelling the header's ninth column has */
    csv_buf out;             /* bytes being written; wiped after use */
};

/* ---------------------------------------------------------------- identity */

static struct identity identity_of(const struct stat *st)
{
    return (struct identity){ 1, st->st_dev, st->st_ino, st->st_size, st->st_mtim, st->st_ctim };
}

static int same_time(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static int same_identity(const struct identity *a, const struct identity *b)
{
    if (!a->exists || !b->exists)
        return a->exists == b->exists;
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           same_time(a->mtime, b->mtime) && same_time(a->ctime, b->ctime);
}

static uint64_t coarse_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------- errors */

static int io_error(struct file *f, ts_error *err, const char *what)
{
    return f->host->error(err, TS_ERR_IO, "%s %s: %s", what, f->path, strerror(errno));
}

static int nomem(struct file *f, ts_error *err)
{
    return f->host->error(err, TS_ERR_NOMEM, "out of memory");
}

/* Records why the file does not parse, as "path:line: what". */
static int corrupt(struct file *f, ts_error *err, size_t line, const char *fmt, ...)
    TS_PRINTF(4, 5);
static int corrupt(struct file *f, ts_error *err, size_t line, const char *fmt, ...)
{
    char what[TS_ERROR_MAX / 2];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(f->why, sizeof f->why, "%s:%zu: %s", f->path, line, what);
    return f->host->error(err, TS_ERR_CORRUPT, "%s", f->why);
}

static int syntax_error(struct file *f, const csv_reader *r, ts_error *err)
{
    size_t k = r->err_field;

    if (r->err_nomem)
        return nomem(f, err);
    if (k >= 1 && k <= TS_FIELD_COUNT)
        return corrupt(f, err, r->err_line, "field %zu (%s): %s", k, column_name[k - 1],
                       r->err_msg);
    return corrupt(f, err, r->err_line, "field %zu: %s", k, r->err_msg);
}

/* ---------------------------------------------------------------- rows of the image */

static int push_row(struct file *f, uint64_t id, size_t off)
{
    if (f->nrows == f->rows_cap) {
        size_t cap = f->rows_cap ? f->rows_cap * 2 : 256;
        struct row_at *rows = realloc(f->rows, cap * sizeof *rows);
        if (!rows)
            return TS_ERR_NOMEM;
        f->rows = rows;
        f->rows_cap = cap;
    }
    f->rows[f->nrows++] = (struct row_at){ id, off };
    return TS_OK;
}

/* Where the row after the header starts (the end of the image if none). */
static size_t first_row_offset(const struct file *f)
{
    return f->nrows ? f->rows[0].off : f->image.len;
}

static size_t row_end(const struct file *f, size_t i)
{
    return i + 1 < f->nrows ? f->rows[i + 1].off : f->image.len;
}

/* The first row whose id is >= id (rows are in id order when canonical). */
static size_t row_by_id(const struct file *f, uint64_t id)
{
    size_t lo = 0, hi = f->nrows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->rows[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The first row starting at or after byte off. */
static size_t row_from(const struct file *f, size_t off)
{
    size_t lo = 0, hi = f->nrows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->rows[mid].off < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Replaces rows [a, b) with the n rows in `with`, whose offsets are final,
 * and moves the rows after them by the image's growth. */
static int splice_rows(struct file *f, size_t a, size_t b, const struct row_at *with, size_t n,
                       size_t old_len, size_t new_len)
{
    size_t tail = f->nrows - b, need = a + n + tail;

    if (need > f->rows_cap) {
        struct row_at *rows = realloc(f->rows, need * sizeof *rows);
        if (!rows)
            return TS_ERR_NOMEM;
        f->rows = rows;
        f->rows_cap = need;
    }
    memmove(f->rows + a + n, f->rows + b, tail * sizeof *f->rows);
    if (n)
        memcpy(f->rows + a, with, n * sizeof *with);
    f->nrows = need;
    for (size_t i = a + n; i < f->nrows; i++)
        f->rows[i].off = f->rows[i].off + new_len - old_len;
    return TS_OK;
}

/* ---------------------------------------------------------------- parsing */

static int is_name(const csv_record *rec, size_t i, const char *name)
{
    return rec->len[i] == strlen(name) && memcmp(rec->value[i], name, rec->len[i]) == 0;
}

/* How many columns the header names (10, or 9 in older SDKs' files), or 0
 * when it is not an SDK's header; *spelling: whose ninth column it has. */
static int header_columns(const csv_record *rec, int *spelling)
{
    if (rec->nfields != TS_FIELD_COUNT && rec->nfields != LEGACY_COLUMNS)
        return 0;
    for (size_t i = 0; i < rec->nfields; i++) {
        if (i != REDIRECT_COLUMN && !is_name(rec, i, column_name[i]))
            return 0;
    }
    *spelling = is_name(rec, REDIRECT_COLUMN, dialects[DIALECT_NODE].redirect_column)
                    ? DIALECT_NODE : DIALECT_PYTHON;
    if (!is_name(rec, REDIRECT_COLUMN, dialects[*spelling].redirect_column))
        return 0;
    return (int)rec->nfields;
}

/* Where a record's bytes lie in the dialect's layout: [*lo, *hi) of buf.
 * 0 when they are not exactly what the dialect writes for its values. */
static int record_span(int dialect, const csv_record *rec, const char *buf, int header,
                       size_t *lo, size_t *hi)
{
    if (dialect == DIALECT_PYTHON) {
        *lo = rec->start;
        *hi = rec->end;
        return rec->clean && rec->eol == CSV_EOL_CRLF;
    }
    int owns_lf = header || (rec->start > 0 && buf[rec->start - 1] == '\n');
    *lo = header || !owns_lf ? rec->start : rec->start - 1;
    *hi = rec->stop;
    return rec->clean && owns_lf && (rec->eol == CSV_EOL_LF || rec->eol == CSV_EOL_NONE);
}

/* The record's id. Ids are kept in the one form the core accepts, so
 * equal strings are equal numbers. -1 when it is not an id. */
static int record_id(struct file *f, const csv_record *rec, uint64_t *id, char digits[21])
{
    if (rec->len[0] == 0 || rec->len[0] > 19)
        return -1;
    memcpy(digits, rec->value[0], rec->len[0]);
    digits[rec->len[0]] = '\0';
    return f->host->id_parse(digits, id) == TS_OK ? 0 : -1;
}

/* The line of the first row with this id: read again, on the error path. */
static size_t first_line_of(struct file *f, const char *buf, size_t len, uint64_t id)
{
    csv_reader r;
    csv_record rec;
    size_t line = 0;
    uint64_t other;
    char digits[21];

    csv_reader_init(&r, buf, len);
    if (csv_read(&r, &rec) == CSV_RECORD) {
        while (!line && csv_read(&r, &rec) == CSV_RECORD)
            if (rec.nfields > 0 && record_id(f, &rec, &other, digits) == 0 && other == id)
                line = rec.line;
    }
    csv_reader_free(&r);
    return line;
}

/* Checks one row and stores it in the table. `buf` is the whole file,
 * for the duplicate-id message. */
static int add_row(struct file *f, ts_token *row, const csv_record *rec, int columns,
                   const char *buf, size_t len, uint64_t *id, ts_error *err)
{
    const ts_host *h = f->host;
    char digits[21];

    if (rec->nfields != (size_t)columns)
        return corrupt(f, err, rec->line, "%zu fields, but the header has %d", rec->nfields,
                       columns);
    if (record_id(f, rec, id, digits) != 0)
        return corrupt(f, err, rec->line, "the id %s",
                       rec->len[0] ? "is not a decimal number from 0 to 9223372036854775807 "
                                     "without leading zeros"
                                   : "is empty");
    if (h->table_get(f->table, TS_FIELD_ID, digits))
        return corrupt(f, err, rec->line, "id %s appears twice (first on line %zu)", digits,
                       buf ? first_line_of(f, buf, len, *id) : 0);
    h->token_clear(row);
    int rc = h->token_set(row, TS_FIELD_ID, digits);
    for (int c = 1; c < columns && rc == TS_OK; c++)
        rc = h->token_setn(row, (ts_field)c, rec->value[c], rec->len[c]);
    if (rc != TS_OK)
        return nomem(f, err);
    return h->table_insert(f->table, row, err);
}

/* Reads every row after the header into the table and the row list, and
 * finds out whether the file is exactly what we would write. */
static int parse_rows(struct file *f, csv_reader *r, int columns, size_t header_end,
                      const char *buf, size_t len, ts_error *err)
{
    ts_token *row = f->host->token_new();
    size_t prev_end = header_end, lo, hi;
    uint64_t id = 0, prev_id = 0;
    csv_record rec;
    csv_status st = CSV_END;
    int rc = row ? TS_OK : nomem(f, err);

    while (rc == TS_OK && (st = csv_read(r, &rec)) == CSV_RECORD) {
        int exact = record_span(f->dialect, &rec, buf, 0, &lo, &hi);
        rc = add_row(f, row, &rec, columns, buf, len, &id, err);
        if (rc == TS_OK && push_row(f, id, lo) != TS_OK)
            rc = nomem(f, err);
        if (!exact || lo != prev_end || (f->nrows > 1 && id <= prev_id))
            f->canonical = 0;
        prev_end = hi;
        prev_id = id;
    }
    if (rc == TS_OK && st == CSV_ERROR)
        rc = syntax_error(f, r, err);
    if (prev_end != len)
        f->canonical = 0;
    f->host->token_free(row);
    return rc;
}

/* Parses a whole file into the (empty) table and row list. TS_ERR_CORRUPT
 * leaves the reason in f->why. */
static int parse_file(struct file *f, const char *buf, size_t len, ts_error *err)
{
    csv_reader r;
    csv_record rec;
    size_t lo, hi;
    int rc = TS_OK, columns;

    f->canonical = 0;
    csv_reader_init(&r, buf, len);
    csv_status st = csv_read(&r, &rec);
    if (st == CSV_ERROR) {
        rc = syntax_error(f, &r, err);
    } else if (st == CSV_RECORD && !(columns = header_columns(&rec, &f->redirect_spelling))) {
        rc = corrupt(f, err, rec.line,
                     "not the SDKs' token file header (id,user_name,client_id,client_secret,"
                     "refresh_token,access_token,grant_token,expiry_time,redirect_uri or "
                     "redirect_url,api_domain, or its first nine columns)");
    } else if (st == CSV_RECORD) {
        /* Only the Node.js SDK ends a line with a bare "\n", or writes a
         * header alone without a line end. */
        f->dialect = rec.eol == CSV_EOL_LF || rec.eol == CSV_EOL_NONE ? DIALECT_NODE
                                                                      : DIALECT_PYTHON;
        int exact = record_span(f->dialect, &rec, buf, 1, &lo, &hi);
        f->canonical = columns == TS_FIELD_COUNT && exact && lo == 0;
        rc = parse_rows(f, &r, columns, hi, buf, len, err);
    }
    csv_reader_free(&r);
    return rc;
}

/* ---------------------------------------------------------------- catching up */

static size_t common_prefix(const char *a, const char *b, size_t n)
{
    size_t i = 0;
    while (i + 4096 <= n && memcmp(a + i, b + i, 4096) == 0)
        i += 4096;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

static size_t common_suffix(const char *a_end, const char *b_end, size_t n)
{
    size_t i = 0;
    while (i + 4096 <= n && memcmp(a_end - i - 4096, b_end - i - 4096, 4096) == 0)
        i += 4096;
    while (i < n && a_end[-(ptrdiff_t)i - 1] == b_end[-(ptrdiff_t)i - 1])
        i++;
    return i;
}

/* Parses the rows of region [0, len) of the new file (which starts at byte
 * `at` of it) into the table and `out`. They must be exactly what we would
 * write, in id order, after *lo and before *hi (NULL: no bound). */
static int parse_region(struct file *f, const char *region, size_t len, size_t at,
                        const uint64_t *lo, const uint64_t *hi, struct row_at **out, size_t *n)
{
    ts_token *row = f->host->token_new();
    size_t cap = 0, prev_end = 0;
    uint64_t id = 0, last = 0;
    const uint64_t *prev = lo;
    csv_reader r;
    csv_record rec;
    csv_status st;
    int rc = row ? TS_OK : TS_ERR_NOMEM;

    csv_reader_init(&r, region, len);
    while (rc == TS_OK && (st = csv_read(&r, &rec)) == CSV_RECORD) {
        size_t lo_byte, hi_byte;
        int exact = record_span(f->dialect, &rec, region, 0, &lo_byte, &hi_byte);
        rc = add_row(f, row, &rec, TS_FIELD_COUNT, NULL, 0, &id, NULL);
        if (rc == TS_OK && (!exact || lo_byte != prev_end ||
                            (prev && id <= *prev) || (hi && id >= *hi)))
            rc = TS_ERR_CORRUPT;
        if (rc == TS_OK && *n == cap) {
            struct row_at *grown = realloc(*out, (cap = cap ? cap * 2 : 16) * sizeof **out);
            rc = grown ? TS_OK : TS_ERR_NOMEM;
            *out = grown ? grown : *out;
        }
        if (rc == TS_OK)
            (*out)[(*n)++] = (struct row_at){ id, at + lo_byte };
        prev_end = hi_byte;
        last = id;
        prev = &last;
    }
    if (rc == TS_OK && (st == CSV_ERROR || prev_end != len))
        rc = TS_ERR_CORRUPT;
    csv_reader_free(&r);
    f->host->token_free(row);
    return rc;
}

/* The file changed from the image to `fresh`, both exactly as we write
 * files. The rows between the common prefix and suffix are replaced in the
 * table and the row list; the rest is known. Anything unexpected returns
 * an error and the caller parses the whole file instead. */
static int apply_change(struct file *f, const csv_buf *fresh)
{
    size_t old_len = f->image.len, new_len = fresh->len;
    size_t shorter = old_len < new_len ? old_len : new_len;
    size_t p = common_prefix(f->image.data, fresh->data, shorter);

    if (p < first_row_offset(f))
        return TS_ERR_CORRUPT;       /* the header changed */
    size_t s = common_suffix(f->image.data + old_len, fresh->data + new_len, shorter - p);
    size_t a = p >= old_len ? f->nrows : row_from(f, p + 1) - 1;   /* the row holding p */
    size_t b = row_from(f, old_len - s);                            /* first row kept after */
    size_t from = a < f->nrows ? f->rows[a].off : old_len;
    size_t to = (b < f->nrows ? f->rows[b].off : old_len) + new_len - old_len;
    char id[21];

    for (size_t i = a; i < b; i++) {
        f->host->id_format(f->rows[i].id, id);
        f->host->table_delete(f->table, id);
    }
    struct row_at *added = NULL;
    size_t n = 0;
    int rc = parse_region(f, fresh->data + from, to - from, from,
                          a > 0 ? &f->rows[a - 1].id : NULL, b < f->nrows ? &f->rows[b].id : NULL,
                          &added, &n);
    if (rc == TS_OK)
        rc = splice_rows(f, a, b, added, n, old_len, new_len);
    free(added);
    return rc;
}

/* ---------------------------------------------------------------- loading */

static int read_all(int fd, csv_buf *raw, size_t hint)
{
    if (csv_buf_reserve(raw, hint + 1) != 0)
        return ENOMEM;
    for (;;) {
        if (raw->cap - raw->len < 4096 && csv_buf_reserve(raw, 65536) != 0)
            return ENOMEM;
        ssize_t n = read(fd, raw->data + raw->len, raw->cap - raw->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        if (n == 0)
            return 0;
        raw->len += (size_t)n;
    }
}

/* Empties every cached thing about the file. */
static void forget(struct file *f)
{
    f->host->table_clear(f->table);
    f->nrows = 0;
    csv_buf_reset(&f->image);
    f->canonical = 0;
    f->dialect = DIALECT_PYTHON;           /* what a new file gets */
    f->redirect_spelling = DIALECT_PYTHON;
    f->corrupt = 0;
    if (f->data_fd >= 0)
        close(f->data_fd);
    f->data_fd = -1;
    f->seen = (struct identity){ 0 };
}

/* Brings table, image and rows in line with `fresh`, the bytes of the file
 * now at the path: by the difference when we can, else by a full parse. */
static int take_in(struct file *f, csv_buf *fresh, int by_difference, ts_error *err)
{
    int rc = -1;

    if (by_difference)
        rc = apply_change(f, fresh);
    if (rc != TS_OK) {
        forget(f);
        rc = parse_file(f, fresh->data, fresh->len, err);
    }
    if (rc == TS_ERR_CORRUPT) {
        forget(f);
        f->corrupt = 1;
    }
    csv_buf old = f->image;
    f->image = *fresh;
    *fresh = old;
    return rc;
}

/* Reads the file now at the path. TS_ERR_CORRUPT still counts as loaded:
 * each call reports it until the file changes. */
static int reload(struct file *f, ts_error *err)
{
    struct stat st;
    csv_buf fresh = { 0 };
    /* O_NONBLOCK: a FIFO put in the file's place must not hang us. */
    int e, rc, fd = openat(f->dir_fd, f->base, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    int by_difference = f->loaded && !f->corrupt && f->canonical;

    f->loaded = 0;
    if (fd < 0 && errno == ENOENT) {
        forget(f);
        f->loaded = 1;
        return TS_OK;
    }
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = io_error(f, err, fd < 0 ? "cannot open" : "cannot stat");
    } else if (!S_ISREG(st.st_mode)) {
        rc = f->host->error(err, TS_ERR_IO, "%s: not a regular file", f->path);
    } else if ((e = read_all(fd, &fresh, (size_t)st.st_size)) != 0) {
        errno = e;
        rc = e == ENOMEM ? nomem(f, err) : io_error(f, err, "cannot read");
    } else {
        rc = take_in(f, &fresh, by_difference, err);
    }
    csv_buf_free(&fresh);
    if (rc != TS_OK && rc != TS_ERR_CORRUPT) {
        if (fd >= 0)
            close(fd);
        return rc;
    }
    if (f->data_fd >= 0)
        close(f->data_fd);
    f->data_fd = fd;
    f->seen = identity_of(&st);
    f->loaded = 1;
    return rc;
}

static uint64_t generation_now(const struct file *f)
{
    return f->generation ? __atomic_load_n(f->generation, __ATOMIC_ACQUIRE) : 0;
}

static int lock_is_current(const struct file *f);
static void drop_lock(struct file *f);
static int open_lock(struct file *f, ts_error *err);

/* stat()s the file and reloads it if it is not the one we have; watches
 * the generation of the lock file now there. */
static int check_file(struct file *f, ts_error *err)
{
    struct stat st;
    struct identity now = { 0 };

    if (f->lock_fd >= 0 && !lock_is_current(f)) {
        drop_lock(f);
        open_lock(f, NULL);
    }
    uint64_t generation = generation_now(f);

    if (fstatat(f->dir_fd, f->base, &st, 0) == 0)
        now = identity_of(&st);
    else if (errno != ENOENT)
        return io_error(f, err, "cannot stat");
    if (!f->loaded || !same_identity(&now, &f->seen)) {
        int rc = reload(f, err);
        if (rc != TS_OK && rc != TS_ERR_CORRUPT)
            return rc;
    }
    f->seen_generation = generation;
    f->checked_at = coarse_now_ns();
    if (f->corrupt)
        return f->host->error(err, TS_ERR_CORRUPT, "%s", f->why);
    return TS_OK;
}

/* Before a read: nothing to do when no writer of ours bumped the
 * generation and the last stat() is recent. */
static int refresh(struct file *f, ts_error *err)
{
    if (f->loaded && f->generation && generation_now(f) == f->seen_generation &&
        coarse_now_ns() - f->checked_at < RECHECK_NS)
        return f->corrupt ? f->host->error(err, TS_ERR_CORRUPT, "%s", f->why) : TS_OK;
    return check_file(f, err);
}

/* ---------------------------------------------------------------- writing */

/* Appends a record (the row with what the dialect puts before rows, or the
 * header) and its line end. */
static int append_record(struct file *f, const char *const *value, int is_row)
{
    const struct dialect *d = &dialects[f->dialect];
    size_t len[TS_FIELD_COUNT];

    for (int c = 0; c < TS_FIELD_COUNT; c++)
        len[c] = strlen(value[c]);
    if ((is_row && csv_buf_append(&f->out, d->before_row, strlen(d->before_row)) != 0) ||
        csv_write_fields(&f->out, value, len, TS_FIELD_COUNT) != 0 ||
        csv_buf_append(&f->out, d->after_record, strlen(d->after_record)) != 0)
        return TS_ERR_NOMEM;
    return TS_OK;
}

static int append_token(struct file *f, const ts_token *t)
{
    const char *value[TS_FIELD_COUNT];

    for (int c = 0; c < TS_FIELD_COUNT; c++)
        value[c] = f->host->token_get(t, (ts_field)c);
    return append_record(f, value, 1);
}

static int append_row(const ts_token *t, void *userdata)
{
    struct file *f = userdata;
    uint64_t id;

    if (f->host->id_parse(f->host->token_get(t, TS_FIELD_ID), &id) != TS_OK)
        return TS_ERR_INVALID;
    if (push_row(f, id, f->out.len) != TS_OK)
        return TS_ERR_NOMEM;
    return append_token(f, t);
}

/* f->out = the header (its ninth column spelled as the file had it) and
 * every row in ascending id, as the file's SDK writes them; f->rows =
 * where each row is in it. */
static int serialize_all(struct file *f)
{
    const char *header[TS_FIELD_COUNT];

    csv_buf_reset(&f->out);
    f->nrows = 0;
    memcpy(header, column_name, sizeof header);
    header[REDIRECT_COLUMN] = dialects[f->redirect_spelling].redirect_column;
    if (append_record(f, header, 0) != TS_OK)
        return TS_ERR_NOMEM;
    return f->host->table_foreach(f->table, append_row, f);
}

static int writev_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        for (; n > 0 && (size_t)w >= iov->iov_len; iov++, n--)
            w -= (ssize_t)iov->iov_len;
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

/* A new file next to the token file: "<name>.tokenstore-tmp.XXXXXX". */
static int create_temp(struct file *f, char *name, size_t size)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned char rnd[TEMP_RANDOM];
        char suffix[TEMP_RANDOM + 1];
        if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) {
            uint64_t x = coarse_now_ns() * 2654435761u ^ (uint64_t)getpid() << 20 ^
                         (uint64_t)attempt;
            for (int i = 0; i < TEMP_RANDOM; i++, x >>= 8)
                rnd[i] = (unsigned char)x;
        }
        for (int i = 0; i < TEMP_RANDOM; i++)
            suffix[i] = alphabet[rnd[i] % (sizeof alphabet - 1)];
        suffix[TEMP_RANDOM] = '\0';
        snprintf(name, size, "%s" TEMP_INFIX "%s", f->base, suffix);
        int fd = openat(f->dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

/* Tells the other processes' readers that the file changed. */
static void bump_generation(struct file *f)
{
    if (f->generation && f->generation_writable)
        f->seen_generation = __atomic_add_fetch(f->generation, 1, __ATOMIC_SEQ_CST);
    else
        f->seen_generation = generation_now(f);
    f->checked_at = coarse_now_ns();
}

/* Gives the temporary file the owner, group and mode of the file it is
 * to replace, so that a save run as root (or as another member of the
 * file's group) leaves the application's file readable by the
 * application; option `mode`, when set, or a new file takes f->mode. A
 * file whose owner we cannot give back is not replaced. */
static int take_attributes(struct file *f, int fd, ts_error *err)
{
    struct stat old, st;
    int have_old = fstatat(f->dir_fd, f->base, &old, 0) == 0 && S_ISREG(old.st_mode);
    unsigned mode = have_old && !f->mode_given ? (unsigned)(old.st_mode & 07777) : f->mode;

    if (fstat(fd, &st) != 0)
        return io_error(f, err, "cannot stat the temporary file next to");
    if (have_old && (st.st_uid != old.st_uid || st.st_gid != old.st_gid) &&
        fchown(fd, old.st_uid, old.st_gid) != 0)
        return f->host->error(err, TS_ERR_IO,
                              "%s is owned by uid %u gid %u, which its rewritten copy "
                              "cannot be given: %s; nothing was changed",
                              f->path, (unsigned)old.st_uid, (unsigned)old.st_gid,
                              strerror(errno));
    if (fchmod(fd, (mode_t)mode) != 0)
        return io_error(f, err, "cannot set the mode of the temporary file next to");
    return TS_OK;
}

/* Writes the bytes in iov to a temporary file, renames it over the token
 * file, and makes it the file we hold. On failure the caller reloads. */
static int replace_file(struct file *f, struct iovec *iov, int n, ts_error *err)
{
    char tmp[PATH_MAX];
    struct stat st;
    int fd = create_temp(f, tmp, sizeof tmp);

    if (fd < 0)
        return io_error(f, err, "cannot create a temporary file next to");
    int rc = take_attributes(f, fd, err);
    if (rc != TS_OK || writev_all(fd, iov, n) != 0 || fsync(fd) != 0 ||
        renameat(f->dir_fd, tmp, f->dir_fd, f->base) != 0) {
        if (rc == TS_OK)
            rc = io_error(f, err, "cannot write");
        unlinkat(f->dir_fd, tmp, 0);
        close(fd);
        return rc;
    }
    if (f->data_fd >= 0)
        close(f->data_fd);
    f->data_fd = fd;
    bump_generation(f);
    if (fstat(fd, &st) != 0)
        return io_error(f, err, "cannot stat");
    f->seen = identity_of(&st);
    if (fsync(f->dir_fd) != 0)
        return io_error(f, err, "replaced, but could not sync the directory of");
    return TS_OK;
}

/* Writes the whole table as the new file. */
static int write_all_rows(struct file *f, ts_error *err)
{
    int rc = serialize_all(f);

    if (rc != TS_OK) {
        rc = nomem(f, err);
    } else {
        struct iovec iov = { f->out.data, f->out.len };
        rc = replace_file(f, &iov, 1, err);
    }
    if (rc == TS_OK) {
        csv_buf old = f->image;
        f->image = f->out;
        f->out = old;
        f->canonical = 1;
    }
    csv_buf_reset(&f->out);
    return rc;
}

/* After the file was written as image[0, lo) + out + image[hi, len):
 * the same change to the image and the row list. */
static int splice_image(struct file *f, size_t i, size_t lo, size_t hi, uint64_t id)
{
    size_t old_len = f->image.len, new_len = old_len - (hi - lo) + f->out.len;
    struct row_at added = { id, lo };

    if (new_len > old_len && csv_buf_reserve(&f->image, new_len - old_len) != 0)
        return TS_ERR_NOMEM;
    char *img = f->image.data;
    memmove(img + lo + f->out.len, img + hi, old_len - hi);
    if (f->out.len)             /* a delete writes no row: out may be NULL */
        memcpy(img + lo, f->out.data, f->out.len);
    if (new_len < old_len)
        explicit_bzero(img + new_len, old_len - new_len);
    f->image.len = new_len;
    int replaced = i < f->nrows && f->rows[i].id == id;
    return splice_rows(f, i, i + replaced, &added, f->out.len > 0, old_len, new_len);
}

/* Writes the file with the row `id` as the table now has it (or without
 * it, when the table has none): one row formatted, the others' bytes
 * copied from the image. */
static int write_row(struct file *f, const char *id, ts_error *err)
{
    uint64_t n;

    if (!f->canonical || f->host->id_parse(id, &n) != TS_OK)
        return write_all_rows(f, err);
    size_t i = row_by_id(f, n);
    size_t lo = i < f->nrows ? f->rows[i].off : f->image.len;
    size_t hi = i < f->nrows && f->rows[i].id == n ? row_end(f, i) : lo;
    const ts_token *row = f->host->table_get(f->table, TS_FIELD_ID, id);
    csv_buf_reset(&f->out);
    int rc = row ? append_token(f, row) : TS_OK;
    if (rc != TS_OK) {
        rc = nomem(f, err);
    } else {
        struct iovec iov[3] = { { f->image.data, lo }, { f->out.data, f->out.len },
                                { f->image.data + hi, f->image.len - hi } };
        rc = replace_file(f, iov, 3, err);
    }
    if (rc == TS_OK && splice_image(f, i, lo, hi, n) != TS_OK)
        rc = nomem(f, err);
    csv_buf_reset(&f->out);
    return rc;
}

/* ---------------------------------------------------------------- locking */

static void unmap_generation(struct file *f)
{
    if (f->generation)
        munmap(f->generation, sizeof *f->generation);
    f->generation = NULL;
}

/* Maps the generation counter: the first 8 bytes of the lock file. */
static void map_generation(struct file *f)
{
    struct stat st;
    int writable = (fcntl(f->lock_fd, F_GETFL) & O_ACCMODE) == O_RDWR;

    unmap_generation(f);
    if (fstat(f->lock_fd, &st) != 0)
        return;
    /* Growing it is safe without the lock: ftruncate never shrinks here. */
    if (st.st_size < (off_t)sizeof *f->generation &&
        (!writable || ftruncate(f->lock_fd, sizeof *f->generation) != 0))
        return;
    void *p = mmap(NULL, sizeof *f->generation, writable ? PROT_READ | PROT_WRITE : PROT_READ,
                   MAP_SHARED, f->lock_fd, 0);
    if (p != MAP_FAILED) {
        f->generation = p;
        f->generation_writable = writable;
    }
}

/*
 * Opens a file this backend keeps beside the token file (the lock file and
 * the named locks), never through a symbolic link: whoever can write the
 * directory could otherwise point "<file>.lock" at any file this process
 * may write, and the generation counter or a lock's expiry would be
 * written into it. Refuses anything but a regular file with one link,
 * owned by this user, the directory's owner or the token file's owner
 * (root saving into an application's directory uses the application's
 * lock file). -1 with errno set, and *why naming the reason when it is
 * one of these, otherwise.
 */
static int open_side_file(const struct file *f, const char *name, int flags, unsigned mode,
                          const char **why)
{
    struct stat st, dir, data;
    int fd = openat(f->dir_fd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode);

    *why = NULL;
    if (fd < 0) {
        if (errno == ELOOP)
            *why = "it is a symbolic link";
        return -1;
    }
    if (fstat(fd, &st) != 0 || fstat(f->dir_fd, &dir) != 0) {
        *why = "it cannot be examined";
    } else if (!S_ISREG(st.st_mode)) {
        *why = "it is not a regular file";
    } else if (st.st_nlink != 1) {
        *why = "it has more than one hard link";
    } else if (st.st_uid != geteuid() && st.st_uid != dir.st_uid &&
               !(fstatat(f->dir_fd, f->base, &data, 0) == 0 && st.st_uid == data.st_uid)) {
        *why = "it belongs to another user than this process, the directory or the token file";
    } else {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        return fd;
    }
    close(fd);
    errno = EPERM;
    return -1;
}

/* The error for a side file open_side_file() would not open. */
static int side_file_error(const struct file *f, const char *name, const char *why, int e,
                           ts_error *err)
{
    return f->host->error(err, TS_ERR_IO, "%s: refusing the lock file %s: %s", f->path, name,
                          why ? why : strerror(e));
}

/* Opens the lock file, creating it with the token file's mode (not
 * narrowed by the umask, so that whoever may write the token file may
 * also bump the generation). */
static int open_lock(struct file *f, ts_error *err)
{
    const char *why;

    if (f->open_flags & TS_OPEN_READ_ONLY) {
        /* A reader creates nothing: without a lock file it stat()s. */
        f->lock_fd = open_side_file(f, f->lock_name, O_RDONLY, 0, &why);
        if (f->lock_fd >= 0)
            map_generation(f);
        else if (why)
            return side_file_error(f, f->lock_name, why, errno, err);
        return f->lock_fd >= 0 ? TS_OK : TS_ERR_IO;
    }
    f->lock_fd = open_side_file(f, f->lock_name, O_RDWR | O_CREAT | O_EXCL, f->mode, &why);
    if (f->lock_fd >= 0)
        fchmod(f->lock_fd, f->mode);
    else if (errno == EEXIST)
        f->lock_fd = open_side_file(f, f->lock_name, O_RDWR, 0, &why);
    int e = errno;
    if (f->lock_fd < 0 && !why && (e == EACCES || e == EROFS)) {
        /* Readable only: read along without bumping the generation. */
        f->lock_fd = open_side_file(f, f->lock_name, O_RDONLY, 0, &why);
        if (f->lock_fd < 0 && errno != ENOENT)
            e = errno;          /* else say why it could not be made, not that it is missing */
    }
    if (f->lock_fd < 0)
        return side_file_error(f, f->lock_name, why, e, err);
    map_generation(f);
    return TS_OK;
}

static int lock_is_current(const struct file *f)
{
    struct stat held, named;

    return fstat(f->lock_fd, &held) == 0 && fstatat(f->dir_fd, f->lock_name, &named, 0) == 0 &&
           held.st_dev == named.st_dev && held.st_ino == named.st_ino;
}

/* Someone removed or replaced the lock file: move to the one now there,
 * first bumping the old generation so that readers still watching it look
 * again (and move too, in check_file). */
static void drop_lock(struct file *f)
{
    if (f->generation && f->generation_writable)
        __atomic_add_fetch(f->generation, 1, __ATOMIC_SEQ_CST);
    unmap_generation(f);
    close(f->lock_fd);
    f->lock_fd = -1;
}

/* Takes the writers' lock; a lock on a lock file that is no longer there
 * would guard nothing. */
static int lock_writers(struct file *f, ts_error *err)
{
    for (;;) {
        if (f->lock_fd < 0 && open_lock(f, err) != TS_OK)
            return TS_ERR_IO;
        while (flock(f->lock_fd, LOCK_EX) != 0)
            if (errno != EINTR)
                return f->host->error(err, TS_ERR_IO, "cannot lock %s" LOCK_SUFFIX ": %s",
                                      f->path, strerror(errno));
        if (lock_is_current(f))
            return TS_OK;
        drop_lock(f);
    }
}

static void unlock_writers(struct file *f)
{
    flock(f->lock_fd, LOCK_UN);
}

/* Lock, then catch up with what other processes wrote. */
static int begin_write(struct file *f, ts_error *err)
{
    int rc = lock_writers(f, err);

    if (rc == TS_OK && (rc = check_file(f, err)) != TS_OK)
        unlock_writers(f);
    return rc;
}

/* Unlock. A failure after the table may have changed (anything but a
 * refusal) makes the next call reload, so the table matches the file. */
static int end_write(struct file *f, int rc)
{
    if (rc != TS_OK && rc != TS_NOT_FOUND && rc != TS_ERR_CONFLICT && rc != TS_ERR_INVALID &&
        rc != TS_ERR_CORRUPT)
        f->loaded = 0;
    unlock_writers(f);
    return rc;
}

/* ---------------------------------------------------------------- open and close */

/* Resolves the token file to a directory handle and a name in it. */
static int locate(struct file *f, const char *path, ts_error *err)
{
    char *real = realpath(path, NULL);
    const char *target = real ? real : path;
    const char *slash = strrchr(target, '/');
    char *dir = slash ? strndup(target, slash == target ? 1 : (size_t)(slash - target))
                      : strdup(".");

    f->path = strdup(path);
    f->base = strdup(slash ? slash + 1 : target);
    if (f->base)
        f->lock_name = malloc(strlen(f->base) + sizeof LOCK_SUFFIX);
    if (!dir || !f->path || !f->lock_name) {
        free(dir);
        free(real);
        return nomem(f, err);
    }
    sprintf(f->lock_name, "%s" LOCK_SUFFIX, f->base);
    int bad_name = !*f->base || strcmp(f->base, ".") == 0 || strcmp(f->base, "..") == 0;
    f->dir_fd = bad_name ? -1 : open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int e = errno;
    free(dir);
    free(real);
    if (bad_name)
        return f->host->error(err, TS_ERR_CONFIG, "option 'path': '%s' names no file", path);
    if (f->dir_fd < 0)
        return f->host->error(err, TS_ERR_IO, "cannot open the directory of %s: %s", path,
                              strerror(e));
    return TS_OK;
}

/* Temporary files of writers that were killed: under the lock no live
 * writer has one, so they can go. */
static void remove_stale_temps(struct file *f)
{
    int fd = openat(f->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    size_t blen = strlen(f->base), ilen = strlen(TEMP_INFIX);
    struct dirent *e;

    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strlen(e->d_name) == blen + ilen + TEMP_RANDOM &&
            strncmp(e->d_name, f->base, blen) == 0 &&
            strncmp(e->d_name + blen, TEMP_INFIX, ilen) == 0 &&
            unlinkat(f->dir_fd, e->d_name, 0) == 0)
            f->host->log(f->ctx, TS_LOG_INFO, "removed %s, left by an interrupted write",
                         e->d_name);
    }
    closedir(d);
}

/* Under the lock: clears up after killed writers and gives a missing or
 * empty file its header. Without write access to the directory, an
 * existing file is still opened, for reading. */
static int prepare(struct file *f, ts_error *err)
{
    struct stat st;
    int exists = fstatat(f->dir_fd, f->base, &st, 0) == 0;
    ts_error lock_err;

    if (lock_writers(f, &lock_err) != TS_OK) {
        if (exists)
            return TS_OK;
        return f->host->error(err, lock_err.code, "%s", lock_err.message);
    }
    remove_stale_temps(f);
    exists = fstatat(f->dir_fd, f->base, &st, 0) == 0;
    int rc = TS_OK;
    if (!exists && errno != ENOENT)
        rc = io_error(f, err, "cannot stat");
    else if (!exists || st.st_size == 0)
        rc = write_all_rows(f, err);
    unlock_writers(f);
    return rc;
}

/* Only a token file draws it (open refuses a directory). A rewrite keeps
 * the file's mode unless option mode is set, so the advice depends on it. */
static void warn_if_readable(struct file *f)
{
    struct stat st;

    if (fstatat(f->dir_fd, f->base, &st, 0) != 0 || !S_ISREG(st.st_mode) ||
        !(st.st_mode & 066 & ~f->mode))
        return;
    if (f->mode_given)
        f->host->log(f->ctx, TS_LOG_WARN,
                     "%s holds secrets but is %s by group or others (mode %04o); it becomes "
                     "%04o (option mode) on the next write",
                     f->path, st.st_mode & 022 ? "writable" : "readable",
                     (unsigned)(st.st_mode & 07777), f->mode);
    else
        f->host->log(f->ctx, TS_LOG_WARN,
                     "%s holds secrets but is %s by group or others (mode %04o); writes keep "
                     "its mode: chmod %04o %s, or set option mode=%04o",
                     f->path, st.st_mode & 022 ? "writable" : "readable",
                     (unsigned)(st.st_mode & 07777), f->mode, f->path, f->mode);
}

/* The token file must be a regular file (a FIFO would hang a reader);
 * opened with TS_OPEN_MUST_EXIST (or READ_ONLY), it must be there already. */
static int check_target(struct file *f, ts_error *err)
{
    struct stat st;

    if (fstatat(f->dir_fd, f->base, &st, 0) != 0) {
        if (errno != ENOENT)
            return io_error(f, err, "cannot stat");
        if (f->open_flags & TS_OPEN_MUST_EXIST)
            return f->host->error(err, TS_ERR_NO_STORE, "no such store: %s", f->path);
        return TS_OK;
    }
    if (!S_ISREG(st.st_mode))
        return f->host->error(err, TS_ERR_CONFIG,
                              "option 'path': %s is a %s, not a token file", f->path,
                              S_ISDIR(st.st_mode) ? "directory" : "special file");
    return TS_OK;
}

static void file_close(void *state)
{
    struct file *f = state;

    if (!f)
        return;
    csv_buf_free(&f->out);
    csv_buf_free(&f->image);
    free(f->rows);
    if (f->table)
        f->host->table_free(f->table);
    unmap_generation(f);
    if (f->data_fd >= 0)
        close(f->data_fd);
    if (f->lock_fd >= 0)
        close(f->lock_fd);
    if (f->dir_fd >= 0)
        close(f->dir_fd);
    free(f->path);
    free(f->base);
    free(f->lock_name);
    free(f);
}

static int file_open(const ts_host *host, ts_backend_ctx *ctx, void **state, ts_error *err)
{
    const char *path = host->option(ctx, "path");
    struct file *f;
    unsigned mode;
    int rc;

    if (!path || !*path)
        return host->error(err, TS_ERR_CONFIG,
                           "option 'path' is required (the token file, e.g. path=tokens.csv)");
    if ((rc = host->option_mode(ctx, "mode", 0600, &mode, err)) != TS_OK)
        return rc;
    if (!(f = calloc(1, sizeof *f)))
        return host->error(err, TS_ERR_NOMEM, "out of memory");
    *f = (struct file){ .host = host, .ctx = ctx, .mode = mode,
                        .mode_given = host->option(ctx, "mode") != NULL,
                        .open_flags = ts_host_open_flags(host, ctx),
                        .dir_fd = -1, .lock_fd = -1, .data_fd = -1 };
    if (!(f->table = host->table_new()))
        rc = nomem(f, err);
    if (rc == TS_OK)
        rc = locate(f, path, err);
    if (rc == TS_OK)
        rc = check_target(f, err);
    /* A reader writes no header and makes no lock file; it watches the
     * generation of a lock file a writer made, if there is one. */
    if (rc == TS_OK && (f->open_flags & TS_OPEN_READ_ONLY))
        open_lock(f, NULL);
    else if (rc == TS_OK)
        rc = prepare(f, err);
    if (rc == TS_OK) {
        warn_if_readable(f);
        /* A file that does not parse still opens: each call reports it. */
        rc = check_file(f, err);
        if (rc == TS_ERR_CORRUPT)
            rc = TS_OK;
    }
    if (rc != TS_OK) {
        file_close(f);
        return rc;
    }
    *state = f;
    return TS_OK;
}

/* ---------------------------------------------------------------- operations */

static int file_find_token(void *state, const ts_token *query, ts_token *row, ts_error *err)
{
    struct file *f = state;
    int rc = refresh(f, err);

    if (rc == TS_OK)
        rc = f->host->find_by_rule(query, f->host->table_lookup, f->table, row, err);
    return rc;
}

static int file_find_token_by_id(void *state, const char *id, ts_token *row, ts_error *err)
{
    struct file *f = state;
    int rc = refresh(f, err);

    if (rc == TS_OK)
        rc = f->host->table_lookup(f->table, TS_FIELD_ID, id, row, err);
    return rc;
}

static int file_get_tokens(void *state, ts_token_cb cb, void *userdata, ts_error *err)
{
    struct file *f = state;
    int rc = refresh(f, err);

    if (rc == TS_OK)
        rc = f->host->table_foreach(f->table, cb, userdata);
    return rc;
}

static const char *what_byte(char c)
{
    switch (c) {
    case ',': return "a comma";
    case '"': return "a double quote";
    case '\r': return "a carriage return (CR)";
    default: return "a line feed (LF)";
    }
}

/* The Node.js SDK splits its file on "\n" and "," and never unquotes, so
 * in its file a value that needs quotes would come back to it cut and
 * shifted across columns: refused before anything changes. A value the
 * row with the token's id already holds (quoted by other hands) is let
 * through, and written back as it was, so that such a row can still be
 * refreshed. */
static int fits_dialect(struct file *f, const ts_token *t, ts_error *err)
{
    if (f->dialect != DIALECT_NODE)
        return TS_OK;
    const char *id = f->host->token_get(t, TS_FIELD_ID);
    const ts_token *old = *id ? f->host->table_get(f->table, TS_FIELD_ID, id) : NULL;
    for (int c = 0; c < TS_FIELD_COUNT; c++) {
        const char *v = f->host->token_get(t, (ts_field)c);
        const char *bad = csv_needs_quotes(v, strlen(v));
        if (bad && old && strcmp(v, f->host->token_get(old, (ts_field)c)) == 0)
            continue;
        if (bad)
            return f->host->error(err, TS_ERR_INVALID,
                                  "%s: field %s holds %s, which the Node.js SDK cannot read "
                                  "back from its token file (\\n line ends, fields never "
                                  "quoted); nothing was saved",
                                  f->path, column_name[c], what_byte(*bad));
    }
    return TS_OK;
}

static int file_save_token(void *state, ts_token *token, ts_error *err)
{
    struct file *f = state;
    int rc = begin_write(f, err);

    if (rc != TS_OK)
        return rc;
    rc = fits_dialect(f, token, err);
    if (rc == TS_OK)
        rc = f->host->table_save(f->table, token, err);
    if (rc == TS_OK)
        rc = write_row(f, f->host->token_get(token, TS_FIELD_ID), err);
    return end_write(f, rc);
}

/* Names the token a batch failed on, keeping the message. */
static int batch_error(struct file *f, int rc, size_t i, ts_error *err)
{
    char why[TS_ERROR_MAX];

    if (!err)
        return rc;
    snprintf(why, sizeof why, "%s", err->message);
    return f->host->error(err, rc, "token %zu: %s", i, why);
}

/* Many saves, one lock and one file write; nothing is written unless all
 * of them succeed. */
static int file_save_tokens(void *state, ts_token *const *tokens, size_t n, ts_error *err)
{
    struct file *f = state;
    int rc = begin_write(f, err);

    if (rc != TS_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if ((rc = fits_dialect(f, tokens[i], err)) != TS_OK) {
            end_write(f, rc);
            return batch_error(f, rc, i, err);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if ((rc = f->host->table_save(f->table, tokens[i], err)) != TS_OK) {
            f->loaded = 0;    /* the table holds saves that were not written */
            end_write(f, rc);
            return batch_error(f, rc, i, err);
        }
    }
    return end_write(f, write_all_rows(f, err));
}

static int file_delete_token(void *state, const char *id, ts_error *err)
{
    struct file *f = state;
    int rc = begin_write(f, err);

    if (rc != TS_OK)
        return rc;
    rc = f->host->table_delete(f->table, id);
    if (rc == TS_OK)
        rc = write_row(f, id, err);
    return end_write(f, rc);
}

static int file_delete_tokens(void *state, ts_error *err)
{
    struct file *f = state;
    int rc = begin_write(f, err);

    if (rc != TS_OK)
        return rc;
    f->host->table_clear(f->table);
    return end_write(f, write_all_rows(f, err));
}

/* ---------------------------------------------------------------- named locks */

/* A lock taken with try_lock: an flock()ed file next to the token file,
 * "<file>.lock.<hash of the lock's name>", holding its expiry. Taking,
 * breaking and releasing happen under the writers' lock, so they never race
 * each other; a holder that dies releases the flock at once, one that
 * outlives its ttl has its file replaced by the next taker. */
struct named_lock {
    int fd;
    dev_t dev;
    ino_t ino;
    char file[];             /* its name in the directory */
};

static void named_lock_file(const struct file *f, const char *name, char *out, size_t size)
{
    uint64_t h = 1469598103934665603u;     /* FNV-1a */
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211u;
    snprintf(out, size, "%s.%016llx", f->lock_name, (unsigned long long)h);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int hold_named(struct file *f, int fd, const char *file, int64_t ttl_ms,
                      struct named_lock **out, ts_error *err)
{
    int64_t expires = wall_ms() + ttl_ms;
    struct stat st;
    struct named_lock *l = malloc(sizeof *l + strlen(file) + 1);

    if (!l || pwrite(fd, &expires, sizeof expires, 0) != (ssize_t)sizeof expires ||
        fstat(fd, &st) != 0) {
        int rc = l ? f->host->error(err, TS_ERR_IO, "cannot write the lock file %s: %s", file,
                                    strerror(errno))
                   : nomem(f, err);
        free(l);
        close(fd);
        return rc;
    }
    *l = (struct named_lock){ fd, st.st_dev, st.st_ino };
    strcpy(l->file, file);
    *out = l;
    return TS_OK;
}

/* Under the writers' lock. */
static int take_named(struct file *f, const char *file, int64_t ttl_ms,
                      struct named_lock **out, ts_error *err)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        int64_t expires = INT64_MAX;
        const char *why;
        int fd = open_side_file(f, file, O_RDWR | O_CREAT, f->mode, &why);
        if (fd < 0)
            return side_file_error(f, file, why, errno, err);
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return hold_named(f, fd, file, ttl_ms, out, err);
        if (errno != EWOULDBLOCK) {
            int rc = f->host->error(err, TS_ERR_IO, "cannot lock %s: %s", file, strerror(errno));
            close(fd);
            return rc;
        }
        int stale = pread(fd, &expires, sizeof expires, 0) == (ssize_t)sizeof expires &&
                    expires <= wall_ms();
        if (stale)      /* its holder outlived the ttl: the lock is free again */
            unlinkat(f->dir_fd, file, 0);
        close(fd);
        if (!stale)
            break;
    }
    return TS_ERR_BUSY;
}

static int file_try_lock(void *state, const char *name, int64_t ttl_ms, void **handle,
                         ts_error *err)
{
    struct file *f = state;
    struct named_lock *l = NULL;
    char file[PATH_MAX];
    int rc = lock_writers(f, err);

    if (rc != TS_OK)
        return rc;
    named_lock_file(f, name, file, sizeof file);
    rc = take_named(f, file, ttl_ms, &l, err);
    unlock_writers(f);
    if (rc == TS_OK)
        *handle = l;
    return rc;
}

/* Closing the file releases the lock; the file goes too unless someone
 * broke the lock after its ttl and the file there is theirs. */
static int file_unlock(void *state, void *handle, ts_error *err)
{
    struct file *f = state;
    struct named_lock *l = handle;
    struct stat st;
    ts_error ignored;

    (void)err;
    if (lock_writers(f, &ignored) == TS_OK) {
        if (fstatat(f->dir_fd, l->file, &st, 0) == 0 && st.st_dev == l->dev &&
            st.st_ino == l->ino)
            unlinkat(f->dir_fd, l->file, 0);
        unlock_writers(f);
    }
    close(l->fd);
    free(l);
    return TS_OK;
}

static const char *const file_options[] = { "path", "mode", NULL };

static const ts_backend file_backend = {
    TS_BACKEND_HEAD,
    .name = "file",
    .version = "1.0.0",
    .description = "the Zoho SDK's FileStore CSV; atomic writes, shared by processes",
    .caps = TS_CAP_OPEN_FLAGS | TS_CAP_PERSISTENT | TS_CAP_SHARED,
    .options = file_options,
    .open = file_open,
    .close = file_close,
    .find_token = file_find_token,
    .save_token = file_save_token,
    .delete_token = file_delete_token,
    .get_tokens = file_get_tokens,
    .delete_tokens = file_delete_tokens,
    .find_token_by_id = file_find_token_by_id,
    .save_tokens = file_save_tokens,
    .try_lock = file_try_lock,
    .unlock = file_unlock,
};

TS_BACKEND_DEFINE(file_backend)
