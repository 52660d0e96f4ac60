/*
 * plugins/file/csv.c - the SDKs' CSV, read strictly and written byte for
 * byte as Python's csv writer (QUOTE_MINIMAL) writes a record's fields;
 * line ends are the caller's, as they differ between the SDKs.
 *
 * The reader is one pass over the caller's buffer. Bytes that cannot end
 * a field are skipped by a table lookup, so a large file is read at close
 * to memory speed; values point into the buffer and only fields with
 * doubled quotes are copied, into a scratch buffer that is wiped between
 * records because it holds secrets. Lines are counted as an editor shows
 * them ("\r\n", "\n" and a lone "\r" each end one), inside quoted values
 * too, so an error names the line a user will find the problem on.
 */
#include <stdlib.h>
#include <string.h>
#include "csv.h"

static const char OUT_OF_MEMORY[] = "out of memory";

/* ---------------------------------------------------------------- buffer */

int file_csv_buf_reserve(csv_buf *b, size_t extra)
{
    if (extra <= b->cap - b->len)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra) {
        if (cap > (size_t)-1 / 2)
            return -1;
        cap *= 2;
    }
    /* Not realloc: the old block holds secrets and must be wiped. */
    char *data = malloc(cap);
    if (!data)
        return -1;
    if (b->len)
        memcpy(data, b->data, b->len);
    if (b->data) {
        explicit_bzero(b->data, b->len);
        free(b->data);
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

int file_csv_buf_append(csv_buf *b, const void *bytes, size_t n)
{
    if (n == 0)
        return 0;
    if (file_csv_buf_reserve(b, n) != 0)
        return -1;
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    return 0;
}

void file_csv_buf_reset(csv_buf *b)
{
    if (b->data && b->len)
        explicit_bzero(b->data, b->len);
    b->len = 0;
}

void file_csv_buf_free(csv_buf *b)
{
    file_csv_buf_reset(b);
    free(b->data);
    b->data = NULL;
    b->cap = 0;
}

/* ---------------------------------------------------------------- writer */

const char *file_csv_needs_quotes(const char *value, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = value[i];
        if (c == ',' || c == '"' || c == '\r' || c == '\n')
            return value + i;
    }
    return NULL;
}

int file_csv_write_field(csv_buf *b, const char *value, size_t len)
{
    if (!file_csv_needs_quotes(value, len))
        return file_csv_buf_append(b, value, len);
    size_t quotes = 0;
    for (size_t i = 0; i < len; i++)
        quotes += value[i] == '"';
    if (file_csv_buf_reserve(b, len + quotes + 2) != 0)
        return -1;
    char *out = b->data + b->len;
    *out++ = '"';
    for (size_t i = 0; i < len; i++) {
        if (value[i] == '"')
            *out++ = '"';
        *out++ = value[i];
    }
    *out++ = '"';
    b->len = (size_t)(out - b->data);
    return 0;
}

int file_csv_write_fields(csv_buf *b, const char *const *values, const size_t *lens, size_t n)
{
    if (n == 1 && lens[0] == 0)
        return file_csv_buf_append(b, "\"\"", 2);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && file_csv_buf_append(b, ",", 1) != 0)
            return -1;
        if (file_csv_write_field(b, values[i], lens[i]) != 0)
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- reader */

/* Bytes that end a run of ordinary bytes, outside and inside quotes. */
static const unsigned char stops_unquoted[256] = {
    ['\0'] = 1, ['\n'] = 1, ['\r'] = 1, ['"'] = 1, [','] = 1,
};
static const unsigned char stops_quoted[256] = {
    ['\0'] = 1, ['\n'] = 1, ['\r'] = 1, ['"'] = 1,
};

void file_csv_reader_init(csv_reader *r, const char *buf, size_t len)
{
    memset(r, 0, sizeof *r);
    r->buf = buf;
    r->len = len;
    r->line = 1;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        r->pos = 3;
}

void file_csv_reader_free(csv_reader *r)
{
    file_csv_buf_free(&r->scratch);
}

static csv_status fail(csv_reader *r, size_t line, size_t field, const char *msg)
{
    r->err_line = line;
    r->err_field = field;
    r->err_msg = msg;
    r->err_nomem = msg == OUT_OF_MEMORY;
    return CSV_ERROR;
}

/* Consumes one line ending at pos: "\r\n", "\n" or "\r". */
static void end_line(csv_reader *r)
{
    if (r->buf[r->pos] == '\r' && r->pos + 1 < r->len && r->buf[r->pos + 1] == '\n')
        r->pos++;
    r->pos++;
    r->line++;
}

static void keep_field(csv_record *rec, size_t k, const char *value, size_t len)
{
    if (k < CSV_MAX_FIELDS) {
        rec->value[k] = value;
        rec->len[k] = len;
    }
}

static csv_status read_unquoted(csv_reader *r, csv_record *rec, size_t k)
{
    size_t start = r->pos;

    while (r->pos < r->len && !stops_unquoted[(unsigned char)r->buf[r->pos]])
        r->pos++;
    if (r->pos < r->len && r->buf[r->pos] == '"')
        return fail(r, r->line, k + 1,
                    "a double quote inside an unquoted field (a field holding a quote "
                    "must be quoted, with the quote doubled)");
    if (r->pos < r->len && r->buf[r->pos] == '\0')
        return fail(r, r->line, k + 1, "a NUL byte");
    keep_field(rec, k, r->buf + start, r->pos - start);
    return CSV_RECORD;
}

/* Copies buf[from, to) into the scratch copy of field k, which starts at
 * scratch offset *off (set on first use). */
static int to_scratch(csv_reader *r, size_t k, size_t from, size_t to)
{
    if (k >= CSV_MAX_FIELDS)
        return 0;
    if (!r->in_scratch[k]) {
        r->in_scratch[k] = 1;
        r->scratch_off[k] = r->scratch.len;
    }
    return file_csv_buf_append(&r->scratch, r->buf + from, to - from);
}

static csv_status read_quoted(csv_reader *r, csv_record *rec, size_t k)
{
    size_t open_line = r->line;
    size_t start = ++r->pos;          /* after the opening quote */
    size_t end;
    int escaped = 0;

    for (;;) {
        while (r->pos < r->len && !stops_quoted[(unsigned char)r->buf[r->pos]])
            r->pos++;
        if (r->pos >= r->len)
            return fail(r, open_line, k + 1, "a quoted field is never closed");
        char c = r->buf[r->pos];
        if (c == '\0')
            return fail(r, r->line, k + 1, "a NUL byte");
        if (c == '\n' || c == '\r') {
            if (c == '\n' || r->pos + 1 >= r->len || r->buf[r->pos + 1] != '\n')
                r->line++;
            r->pos++;
            continue;
        }
        if (r->pos + 1 < r->len && r->buf[r->pos + 1] == '"') {
            /* A doubled quote: keep one. */
            if (to_scratch(r, k, start, r->pos + 1) != 0)
                return fail(r, r->line, k + 1, OUT_OF_MEMORY);
            escaped = 1;
            r->pos += 2;
            start = r->pos;
            continue;
        }
        end = r->pos++;               /* the closing quote */
        break;
    }
    if (r->pos < r->len && r->buf[r->pos] != ',' && r->buf[r->pos] != '\r' &&
        r->buf[r->pos] != '\n')
        return fail(r, r->line, k + 1,
                    "text after the closing quote of a field (a quote inside a quoted "
                    "field must be doubled)");
    if (!escaped && !file_csv_needs_quotes(r->buf + start, end - start))
        r->needless_quotes++;
    if (k < CSV_MAX_FIELDS && r->in_scratch[k]) {
        if (to_scratch(r, k, start, end) != 0)
            return fail(r, r->line, k + 1, OUT_OF_MEMORY);
        rec->len[k] = r->scratch.len - r->scratch_off[k];
    } else {
        keep_field(rec, k, r->buf + start, end - start);
    }
    return CSV_RECORD;
}

csv_status file_csv_read(csv_reader *r, csv_record *rec)
{
    while (r->pos < r->len && (r->buf[r->pos] == '\r' || r->buf[r->pos] == '\n'))
        end_line(r);
    if (r->pos >= r->len)
        return CSV_END;
    file_csv_buf_reset(&r->scratch);
    memset(r->in_scratch, 0, sizeof r->in_scratch);
    r->needless_quotes = 0;
    rec->line = r->line;
    rec->start = r->pos;
    rec->nfields = 0;
    int lone_empty_quoted = 0;
    rec->eol = CSV_EOL_NONE;
    for (size_t k = 0;; k++) {
        int quoted = r->pos < r->len && r->buf[r->pos] == '"';
        csv_status st = quoted ? read_quoted(r, rec, k) : read_unquoted(r, rec, k);
        if (st != CSV_RECORD)
            return st;
        rec->nfields = k + 1;
        lone_empty_quoted = k == 0 && quoted && r->pos == rec->start + 2;
        if (r->pos >= r->len || r->buf[r->pos] != ',')
            break;
        r->pos++;
    }
    rec->stop = r->pos;
    if (r->pos < r->len) {
        int crlf = r->buf[r->pos] == '\r' && r->pos + 1 < r->len && r->buf[r->pos + 1] == '\n';
        rec->eol = crlf ? CSV_EOL_CRLF : r->buf[r->pos] == '\n' ? CSV_EOL_LF : CSV_EOL_CR;
        end_line(r);
    }
    rec->end = r->pos;
    /* One empty field is the one value the writer quotes without need. */
    if (rec->nfields == 1 && lone_empty_quoted)
        r->needless_quotes--;
    rec->clean = r->needless_quotes == 0;
    /* The scratch buffer may have moved while it grew: point at it now. */
    for (size_t k = 0; k < rec->nfields && k < CSV_MAX_FIELDS; k++)
        if (r->in_scratch[k])
            rec->value[k] = r->scratch.data + r->scratch_off[k];
    return CSV_RECORD;
}
