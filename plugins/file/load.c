/*
 * plugins/file/load.c - reading the token file into the table: parsing
 * it whole into rows, catching up with a change another process made by
 * parsing only the rows that differ, and deciding when to look again
 * (see "Reading" at the top of file.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "file_store.h"


/* ---------------------------------------------------------------- errors */

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
        return file_nomem(f, err);
    if (k >= 1 && k <= TS_FIELD_COUNT)
        return corrupt(f, err, r->err_line, "field %zu (%s): %s", k, column_name[k - 1],
                       r->err_msg);
    return corrupt(f, err, r->err_line, "field %zu: %s", k, r->err_msg);
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

    file_csv_reader_init(&r, buf, len);
    if (file_csv_read(&r, &rec) == CSV_RECORD) {
        while (!line && file_csv_read(&r, &rec) == CSV_RECORD)
            if (rec.nfields > 0 && record_id(f, &rec, &other, digits) == 0 && other == id)
                line = rec.line;
    }
    file_csv_reader_free(&r);
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
        return file_nomem(f, err);
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
    int rc = row ? TS_OK : file_nomem(f, err);

    while (rc == TS_OK && (st = file_csv_read(r, &rec)) == CSV_RECORD) {
        int exact = record_span(f->dialect, &rec, buf, 0, &lo, &hi);
        rc = add_row(f, row, &rec, columns, buf, len, &id, err);
        if (rc == TS_OK && file_push_row(f, id, lo) != TS_OK)
            rc = file_nomem(f, err);
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
    file_csv_reader_init(&r, buf, len);
    csv_status st = file_csv_read(&r, &rec);
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
    file_csv_reader_free(&r);
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

    file_csv_reader_init(&r, region, len);
    while (rc == TS_OK && (st = file_csv_read(&r, &rec)) == CSV_RECORD) {
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
    file_csv_reader_free(&r);
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

    if (p < file_first_row_offset(f))
        return TS_ERR_CORRUPT;       /* the header changed */
    size_t s = common_suffix(f->image.data + old_len, fresh->data + new_len, shorter - p);
    size_t a = p >= old_len ? f->nrows : file_row_from(f, p + 1) - 1;   /* the row holding p */
    size_t b = file_row_from(f, old_len - s);                            /* first row kept after */
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
        rc = file_splice_rows(f, a, b, added, n, old_len, new_len);
    free(added);
    return rc;
}

/* ---------------------------------------------------------------- loading */

/* Reads fd to its end into raw (hint: the size it is expected to have):
 * 0, or an errno value. */
int file_read_all(int fd, csv_buf *raw, size_t hint)
{
    if (file_csv_buf_reserve(raw, hint + 1) != 0)
        return ENOMEM;
    for (;;) {
        if (raw->cap - raw->len < 4096 && file_csv_buf_reserve(raw, 65536) != 0)
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
    file_csv_buf_reset(&f->image);
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
        rc = file_io_error(f, err, fd < 0 ? "cannot open" : "cannot stat");
    } else if (!S_ISREG(st.st_mode)) {
        rc = f->host->error(err, TS_ERR_IO, "%s: not a regular file", f->path);
    } else if ((e = file_read_all(fd, &fresh, (size_t)st.st_size)) != 0) {
        errno = e;
        rc = e == ENOMEM ? file_nomem(f, err) : file_io_error(f, err, "cannot read");
    } else {
        rc = take_in(f, &fresh, by_difference, err);
    }
    file_csv_buf_free(&fresh);
    if (rc != TS_OK && rc != TS_ERR_CORRUPT) {
        if (fd >= 0)
            close(fd);
        return rc;
    }
    if (f->data_fd >= 0)
        close(f->data_fd);
    f->data_fd = fd;
    f->seen = file_identity_of(&st);
    f->loaded = 1;
    return rc;
}


/* stat()s the file and reloads it if it is not the one we have; watches
 * the generation of the lock file now there. */
int file_check_file(struct file *f, ts_error *err)
{
    struct stat st;
    struct identity now = { 0 };

    if (f->lock_fd >= 0 && !file_lock_is_current(f)) {
        file_drop_lock(f);
        file_open_lock(f, NULL);
    }
    uint64_t generation = file_generation_now(f);

    if (fstatat(f->dir_fd, f->base, &st, 0) == 0)
        now = file_identity_of(&st);
    else if (errno != ENOENT)
        return file_io_error(f, err, "cannot stat");
    if (!f->loaded || !file_same_identity(&now, &f->seen)) {
        int rc = reload(f, err);
        if (rc != TS_OK && rc != TS_ERR_CORRUPT)
            return rc;
    }
    f->seen_generation = generation;
    f->checked_at = file_coarse_now_ns();
    if (f->corrupt)
        return f->host->error(err, TS_ERR_CORRUPT, "%s", f->why);
    return TS_OK;
}

/* Before a read: nothing to do when no writer of ours bumped the
 * generation and the last stat() is recent. */
int file_refresh(struct file *f, ts_error *err)
{
    if (f->loaded && f->lock_fd >= 0 && file_generation_now(f) == f->seen_generation &&
        file_coarse_now_ns() - f->checked_at < RECHECK_NS)
        return f->corrupt ? f->host->error(err, TS_ERR_CORRUPT, "%s", f->why) : TS_OK;
    return file_check_file(f, err);
}
