/*
 * plugins/file/image.c - the token file as the backend holds it: its
 * identity (what stat() said when it was read), the clocks and the
 * writers' generation it is checked against, the index of the image's
 * rows, and the I/O errors that name it. Below load.c, write.c, notes.c
 * and file.c; it uses none of them.
 */
#include "file_store.h"

/* ---------------------------------------------------------------- identity */

struct identity file_identity_of(const struct stat *st)
{
    return (struct identity){ 1, st->st_dev, st->st_ino, st->st_size, st->st_mtim, st->st_ctim };
}

static int same_time(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

int file_same_identity(const struct identity *a, const struct identity *b)
{
    if (!a->exists || !b->exists)
        return a->exists == b->exists;
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           same_time(a->mtime, b->mtime) && same_time(a->ctime, b->ctime);
}

uint64_t file_coarse_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The wall clock in ms since 1970: what expiries other processes read are
 * counted in. */
int64_t file_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The generation our writers count in the first 8 bytes of the lock file;
 * 0 without a lock file, or with one cut short. It is read with pread(),
 * not through a mapping: a mapping of a file that someone truncates kills
 * the process with SIGBUS at its next read, and anyone who may write the
 * store may truncate its lock file. */
uint64_t file_generation_now(const struct file *f)
{
    uint64_t g;

    if (f->lock_fd < 0 || pread(f->lock_fd, &g, sizeof g, 0) != (ssize_t)sizeof g)
        return 0;
    return g;
}

/* ---------------------------------------------------------------- errors */

int file_io_error(struct file *f, ts_error *err, const char *what)
{
    return f->host->error(err, TS_ERR_IO, "%s %s: %s", what, f->path, strerror(errno));
}

/* The same for a file beside the token file: "" is the token file. */
int file_io_error_at(struct file *f, const char *suffix, ts_error *err, const char *what)
{
    return f->host->error(err, TS_ERR_IO, "%s %s%s: %s", what, f->path, suffix,
                          strerror(errno));
}

int file_nomem(struct file *f, ts_error *err)
{
    return f->host->error(err, TS_ERR_NOMEM, "out of memory");
}

/* ---------------------------------------------------------------- rows of the image */

int file_push_row(struct file *f, uint64_t id, size_t off)
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
size_t file_first_row_offset(const struct file *f)
{
    return f->nrows ? f->rows[0].off : f->image.len;
}

size_t file_row_end(const struct file *f, size_t i)
{
    return i + 1 < f->nrows ? f->rows[i + 1].off : f->image.len;
}

/* The first row whose id (by_offset: whose offset) is >= key, by
 * bisection: rows are in offset order, and in id order when canonical. */
static size_t first_row_from(const struct file *f, int by_offset, uint64_t key)
{
    size_t lo = 0, hi = f->nrows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((by_offset ? (uint64_t)f->rows[mid].off : f->rows[mid].id) < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The first row whose id is >= id (rows are in id order when canonical). */
size_t file_row_by_id(const struct file *f, uint64_t id)
{
    return first_row_from(f, 0, id);
}

/* The first row starting at or after byte off. */
size_t file_row_from(const struct file *f, size_t off)
{
    return first_row_from(f, 1, off);
}

/* Replaces rows [a, b) with the n rows in `with`, whose offsets are final,
 * and moves the rows after them by the image's growth. */
int file_splice_rows(struct file *f, size_t a, size_t b, const struct row_at *with,
                     size_t n, size_t old_len, size_t new_len)
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
