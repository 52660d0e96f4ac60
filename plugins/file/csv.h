/*
 * plugins/file/csv.h - reading and writing CSV exactly as the Zoho SDK's
 * FileStore does, over plain memory buffers.
 *
 * The Python SDK writes its token file with Python's csv module
 * (QUOTE_MINIMAL): a field is quoted only when it holds a comma, a double
 * quote, CR or LF; quotes inside are doubled; every row ends with "\r\n".
 * The Node.js SDK joins fields with "," and rows with "\n", never quotes,
 * and ends the file without a newline. The writer here writes a record's
 * fields as Python does and leaves the line ends to the caller, who knows
 * which SDK's file it is writing (a value that needs no quotes is written
 * the same by both).
 *
 * The reader is stricter than Python's (which silently accepts `ab"c` and
 * `"ab"c`): a token file that does not parse cleanly is reported with its
 * line, never guessed at. It accepts "\r\n", "\n" or a lone "\r" between
 * records, skips blank lines and a leading UTF-8 byte order mark, keeps
 * every byte inside quotes as it is (a value may hold "\r\n"), and does not
 * need a newline at the end of the file. Each record says where its bytes
 * are, how its line ended and whether its fields are exactly what the
 * writer would produce, so a caller can tell an untouched file from one
 * edited by other hands without writing it out again. Values are returned as pointers
 * into the caller's buffer, or into a scratch buffer when doubled quotes
 * had to be undone, so reading a large file copies almost nothing.
 *
 * Nothing here knows about tokens: the backend (load.c and write.c) maps
 * columns to fields, and the tests call these functions directly.
 */
#ifndef TS_FILE_CSV_H
#define TS_FILE_CSV_H

#include <stddef.h>

/* Fields kept per record; a longer record is still counted in nfields. */
#define CSV_MAX_FIELDS 16

/* A growable byte buffer. Token files hold secrets, so it is wiped before
 * its memory is given back. */
typedef struct csv_buf {
    char *data;
    size_t len;
    size_t cap;
} csv_buf;

/* Makes room for `extra` more bytes: 0, or -1 when out of memory (the
 * buffer is then unchanged). */
int file_csv_buf_reserve(csv_buf *b, size_t extra);
/* 0, or -1 when out of memory (the buffer is then unchanged). */
int file_csv_buf_append(csv_buf *b, const void *bytes, size_t n);
/* Wipes the used bytes and empties the buffer, keeping its memory. */
void file_csv_buf_reset(csv_buf *b);
/* Wipes and frees. */
void file_csv_buf_free(csv_buf *b);

/* The first byte that makes QUOTE_MINIMAL quote this value (a comma, a
 * double quote, CR or LF), or NULL when it needs no quotes. */
const char *file_csv_needs_quotes(const char *value, size_t len);
/* Appends one field, quoted when needed. 0 or -1 (out of memory). */
int file_csv_write_field(csv_buf *b, const char *value, size_t len);
/* Appends a record's fields, separated by commas, without a line end. A
 * record of one empty field is written as `""`, as Python does, so it does
 * not read back as a blank line. 0 or -1. */
int file_csv_write_fields(csv_buf *b, const char *const *values, const size_t *lens, size_t n);

typedef enum csv_status {
    CSV_RECORD,     /* a record was read */
    CSV_END,        /* no more records */
    CSV_ERROR       /* malformed input, or out of memory: see err_* */
} csv_status;

/* How a record's line ended. */
typedef enum csv_eol {
    CSV_EOL_NONE,   /* at the end of the buffer */
    CSV_EOL_LF,
    CSV_EOL_CRLF,
    CSV_EOL_CR
} csv_eol;

typedef struct csv_record {
    size_t line;                        /* the line the record starts on, from 1 */
    size_t start, end;                  /* its bytes in the buffer, line ending included */
    size_t stop;                        /* where its line ending starts (end when none) */
    csv_eol eol;
    int clean;                          /* bytes [start, stop) are exactly what
                                           csv_write_fields writes for these values */
    size_t nfields;                     /* every field, even past CSV_MAX_FIELDS */
    const char *value[CSV_MAX_FIELDS];  /* not NUL-terminated: use len */
    size_t len[CSV_MAX_FIELDS];
} csv_record;

typedef struct csv_reader {
    const char *buf;
    size_t len;
    size_t pos;
    size_t line;               /* the line at pos, from 1 */
    csv_buf scratch;           /* values whose doubled quotes were undone */
    size_t scratch_off[CSV_MAX_FIELDS];
    unsigned char in_scratch[CSV_MAX_FIELDS];
    int needless_quotes;       /* a field of this record was quoted without need */
    /* After CSV_ERROR: where and what. err_field counts from 1 (0: none). */
    size_t err_line;
    size_t err_field;
    const char *err_msg;       /* a constant string */
    int err_nomem;             /* the error was running out of memory */
} csv_reader;

/* Starts reading buf[0..len). A leading UTF-8 BOM is skipped. The buffer
 * must outlive the records read from it. */
void file_csv_reader_init(csv_reader *r, const char *buf, size_t len);
/* Reads the next non-blank record. Values stay valid until the next call. */
csv_status file_csv_read(csv_reader *r, csv_record *rec);
/* Wipes and frees the scratch buffer. */
void file_csv_reader_free(csv_reader *r);

#endif /* TS_FILE_CSV_H */
