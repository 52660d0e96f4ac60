/*
 * plugins/file/file_store.h - what the file backend's sources share: the
 * open store (struct file), the SDKs' columns and dialects, and the
 * functions image.c, load.c, write.c and notes.c offer. The files form
 * layers: image.c (the image's rows, identity, clocks, errors) uses none
 * of the others, write.c (writing, the lock file) only image.c, load.c
 * (reading, catching up) uses write.c's lock file, notes.c (the notes and
 * the log beside the tokens) uses both, file.c (the backend) uses all.
 * Nothing here leaves the plugin (it is built with hidden visibility);
 * file.c's opening comment describes the design.
 */
#ifndef TS_PLUGIN_FILE_STORE_H
#define TS_PLUGIN_FILE_STORE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
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

/* A lock taken with try_lock (file.c's "named locks"). */
struct named_lock;

/* A log file's complete lines as notes.c last counted them, for the
 * file of that identity: an append after our own need not read it. */
struct log_count {
    struct identity id;     /* id.exists = 0: nothing counted */
    size_t lines;
    off_t end;              /* after the last complete line */
    off_t size;             /* more than end: a line cut short by a crash */
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
    int lock_writable;       /* lock_fd is open for writing: we may bump the generation */
    int data_fd;             /* the loaded file, held open: see file.c's top comment */
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
    struct named_lock *held; /* the locks try_lock took and unlock has not released */
    struct log_count counted[2]; /* the log and its previous part (notes.c) */
};

/* ---------------------------------------------------------------- image.c */

/* The file's identity from stat(), and whether two are the same file in
 * the same state. */
struct identity file_identity_of(const struct stat *st);
int file_same_identity(const struct identity *a, const struct identity *b);
/* CLOCK_MONOTONIC_COARSE in ns; the wall clock in ms since 1970 (what
 * expiries other processes read are counted in). */
uint64_t file_coarse_now_ns(void);
int64_t file_wall_ms(void);
/* The generation our writers count in the first 8 bytes of the lock file;
 * 0 without a lock file, or with one cut short. */
uint64_t file_generation_now(const struct file *f);

/* TS_ERR_IO naming the token file (or the file beside it with `suffix`)
 * and errno; TS_ERR_NOMEM. */
int file_io_error(struct file *f, ts_error *err, const char *what);
int file_io_error_at(struct file *f, const char *suffix, ts_error *err, const char *what);
int file_nomem(struct file *f, ts_error *err);

/* The index of the image's rows: append one; where the first row starts
 * (the image's end if none); where row i ends; the first row whose id is
 * >= id (rows are in id order when canonical); the first row starting at
 * or after byte off; rows [a, b) replaced by the n rows of `with`, whose
 * offsets are final, and the rows after them moved by the image's growth. */
int file_push_row(struct file *f, uint64_t id, size_t off);
size_t file_first_row_offset(const struct file *f);
size_t file_row_end(const struct file *f, size_t i);
size_t file_row_by_id(const struct file *f, uint64_t id);
size_t file_row_from(const struct file *f, size_t off);
int file_splice_rows(struct file *f, size_t a, size_t b, const struct row_at *with, size_t n,
                     size_t old_len, size_t new_len);

/* ---------------------------------------------------------------- load.c */

int file_check_file(struct file *f, ts_error *err);
int file_refresh(struct file *f, ts_error *err);
int file_read_all(int fd, csv_buf *raw, size_t hint);

/* ---------------------------------------------------------------- write.c */

int file_writev_all(int fd, struct iovec *iov, int n);
int file_write_all_rows(struct file *f, ts_error *err);
int file_write_row(struct file *f, const char *id, ts_error *err);
void file_remove_stale_temps(struct file *f);
int file_take_attributes(struct file *f, int fd, const char *suffix, ts_error *err);
int file_write_beside(struct file *f, const char *suffix, struct iovec *iov, int n, int *fd_out,
                      ts_error *err);

int file_open_side_file(const struct file *f, const char *name, int flags, unsigned mode,
                        const char **why);
int file_side_file_error(const struct file *f, const char *what, const char *name, const char *why,
                         int e, ts_error *err);
int file_open_lock(struct file *f, ts_error *err);
int file_lock_is_current(const struct file *f);
void file_drop_lock(struct file *f);
int file_lock_writers(struct file *f, ts_error *err);
int file_lock_readers(struct file *f);
void file_unlock_writers(struct file *f);

/* ---------------------------------------------------------------- notes.c */

int file_note_set(void *state, const char *name, const char *value, int64_t ttl_ms,
                  ts_error *err);
int file_note_get(void *state, const char *name, char *value, size_t size, ts_error *err);
int file_log_append(void *state, const char *entry, size_t keep, ts_error *err);
int file_log_walk(void *state, int (*cb)(const char *entry, void *userdata), void *userdata,
                  ts_error *err);

#endif
