/*
 * plugins/file/write.c - writing the token file: formatting rows in the
 * file's dialect, the atomic rewrite (a temporary file that takes the old
 * file's owner and mode, fsync, rename), the generation counter in the
 * lock file, the lock file and the other files kept beside the
 * token file, and the writers' lock (see "Writing" at the top of file.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "file_store.h"

#define TEMP_INFIX ".tokenstore-tmp."
#define TEMP_RANDOM 6

/* ---------------------------------------------------------------- writing */

/* Appends a record (the row with what the dialect puts before rows, or the
 * header) and its line end. */
static int append_record(struct file *f, const char *const *value, int is_row)
{
    const struct dialect *d = &dialects[f->dialect];
    size_t len[TS_FIELD_COUNT];

    for (int c = 0; c < TS_FIELD_COUNT; c++)
        len[c] = strlen(value[c]);
    if ((is_row && file_csv_buf_append(&f->out, d->before_row, strlen(d->before_row)) != 0) ||
        file_csv_write_fields(&f->out, value, len, TS_FIELD_COUNT) != 0 ||
        file_csv_buf_append(&f->out, d->after_record, strlen(d->after_record)) != 0)
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
    if (file_push_row(f, id, f->out.len) != TS_OK)
        return TS_ERR_NOMEM;
    return append_token(f, t);
}

/* f->out = the header (its ninth column spelled as the file had it) and
 * every row in ascending id, as the file's SDK writes them; f->rows =
 * where each row is in it. */
static int serialize_all(struct file *f)
{
    const char *header[TS_FIELD_COUNT];

    file_csv_buf_reset(&f->out);
    f->nrows = 0;
    memcpy(header, column_name, sizeof header);
    header[REDIRECT_COLUMN] = dialects[f->redirect_spelling].redirect_column;
    if (append_record(f, header, 0) != TS_OK)
        return TS_ERR_NOMEM;
    return f->host->table_foreach(f->table, append_row, f);
}

/* Writes all n buffers, resuming after short writes; 0 or -1 with errno. */
int file_writev_all(int fd, struct iovec *iov, int n)
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
            uint64_t x = file_coarse_now_ns() * 2654435761u ^ (uint64_t)getpid() << 20 ^
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

/* Temporary files of writers that were killed: under the lock no live
 * writer has one, so they can go. */
void file_remove_stale_temps(struct file *f)
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

/* Counts a change in the lock file's generation, under the writers' lock
 * (or, for a lock file no longer in use, to make its readers look). A
 * count cut short by someone truncating the file starts again from the
 * clock rather than from 1, so that no reader takes the new count for the
 * one it saw before the cut. */
static uint64_t count_change(struct file *f)
{
    uint64_t g;

    if (pread(f->lock_fd, &g, sizeof g, 0) != (ssize_t)sizeof g || g == 0)
        g = file_coarse_now_ns();
    g++;
    if (pwrite(f->lock_fd, &g, sizeof g, 0) != (ssize_t)sizeof g)
        f->host->log(f->ctx, TS_LOG_WARN, "%s: cannot count a change in %s" LOCK_SUFFIX
                     " (%s): other processes may read the file as it was for up to %u ms",
                     f->path, f->path, strerror(errno), RECHECK_NS / 1000000);
    return g;
}

/* Tells the other processes' readers that the file changed. */
static void bump_generation(struct file *f)
{
    if (f->lock_fd >= 0 && f->lock_writable)
        f->seen_generation = count_change(f);
    else
        f->seen_generation = file_generation_now(f);
    f->checked_at = file_coarse_now_ns();
}

/* Gives a new file beside the token file (a temporary one, or the
 * log) the owner, group and mode of the token file, so that a save run
 * as root (or as another member of the file's group) leaves the
 * application's files readable by the application; option `mode`, when
 * set, or a new store takes f->mode. A file whose owner we cannot give
 * back is not written. `suffix` names the file in messages: "" for the
 * token file, or a side file's suffix. */
int file_take_attributes(struct file *f, int fd, const char *suffix, ts_error *err)
{
    struct stat old, st;
    int have_old = fstatat(f->dir_fd, f->base, &old, 0) == 0 && S_ISREG(old.st_mode);
    unsigned mode = have_old && !f->mode_given ? (unsigned)(old.st_mode & 07777) : f->mode;

    if (fstat(fd, &st) != 0)
        return file_io_error_at(f, suffix, err, "cannot stat the temporary file next to");
    if (have_old && (st.st_uid != old.st_uid || st.st_gid != old.st_gid) &&
        fchown(fd, old.st_uid, old.st_gid) != 0)
        return f->host->error(err, TS_ERR_IO,
                              "%s is owned by uid %u gid %u, which %s%s cannot be given: "
                              "%s; nothing was changed", f->path, (unsigned)old.st_uid,
                              (unsigned)old.st_gid, *suffix ? f->path : "its rewritten copy",
                              suffix, strerror(errno));
    if (fchmod(fd, (mode_t)mode) != 0)
        return file_io_error_at(f, suffix, err,
                                "cannot set the mode of the temporary file next to");
    return TS_OK;
}

/* Writes the bytes in iov to a temporary file and renames it over the
 * token file's name + suffix: the token file itself (suffix "") or a
 * side file. The new file's descriptor goes to *fd_out, or is closed
 * when fd_out is NULL. The directory is not synced: the caller does. */
int file_write_beside(struct file *f, const char *suffix, struct iovec *iov, int n, int *fd_out,
                      ts_error *err)
{
    char tmp[PATH_MAX], target[PATH_MAX];
    int fd = create_temp(f, tmp, sizeof tmp);

    snprintf(target, sizeof target, "%s%s", f->base, suffix);
    if (fd < 0)
        return file_io_error_at(f, suffix, err, "cannot create a temporary file next to");
    int rc = file_take_attributes(f, fd, suffix, err);
    if (rc != TS_OK || file_writev_all(fd, iov, n) != 0 || fsync(fd) != 0 ||
        renameat(f->dir_fd, tmp, f->dir_fd, target) != 0) {
        if (rc == TS_OK)
            rc = file_io_error_at(f, suffix, err, "cannot write");
        unlinkat(f->dir_fd, tmp, 0);
        close(fd);
        return rc;
    }
    if (fd_out)
        *fd_out = fd;
    else
        close(fd);
    return TS_OK;
}

/* Writes the bytes in iov as the new token file and makes it the file we
 * hold. On failure the caller reloads. */
static int replace_file(struct file *f, struct iovec *iov, int n, ts_error *err)
{
    struct stat st;
    int fd;
    int rc = file_write_beside(f, "", iov, n, &fd, err);

    if (rc != TS_OK)
        return rc;
    if (f->data_fd >= 0)
        close(f->data_fd);
    f->data_fd = fd;
    bump_generation(f);
    if (fstat(fd, &st) != 0)
        return file_io_error(f, err, "cannot stat");
    f->seen = file_identity_of(&st);
    if (fsync(f->dir_fd) != 0)
        return file_io_error(f, err, "replaced, but could not sync the directory of");
    return TS_OK;
}

/* Writes the whole table as the new file. */
int file_write_all_rows(struct file *f, ts_error *err)
{
    int rc = serialize_all(f);

    if (rc != TS_OK) {
        rc = file_nomem(f, err);
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
    file_csv_buf_reset(&f->out);
    return rc;
}

/* After the file was written as image[0, lo) + out + image[hi, len):
 * the same change to the image and the row list. */
static int splice_image(struct file *f, size_t i, size_t lo, size_t hi, uint64_t id)
{
    size_t old_len = f->image.len, new_len = old_len - (hi - lo) + f->out.len;
    struct row_at added = { id, lo };

    if (new_len > old_len && file_csv_buf_reserve(&f->image, new_len - old_len) != 0)
        return TS_ERR_NOMEM;
    char *img = f->image.data;
    memmove(img + lo + f->out.len, img + hi, old_len - hi);
    if (f->out.len)             /* a delete writes no row: out may be NULL */
        memcpy(img + lo, f->out.data, f->out.len);
    if (new_len < old_len)
        explicit_bzero(img + new_len, old_len - new_len);
    f->image.len = new_len;
    int replaced = i < f->nrows && f->rows[i].id == id;
    return file_splice_rows(f, i, i + replaced, &added, f->out.len > 0, old_len, new_len);
}

/* Writes the file with the row `id` as the table now has it (or without
 * it, when the table has none): one row formatted, the others' bytes
 * copied from the image. */
int file_write_row(struct file *f, const char *id, ts_error *err)
{
    uint64_t n;

    if (!f->canonical || f->host->id_parse(id, &n) != TS_OK)
        return file_write_all_rows(f, err);
    size_t i = file_row_by_id(f, n);
    size_t lo = i < f->nrows ? f->rows[i].off : f->image.len;
    size_t hi = i < f->nrows && f->rows[i].id == n ? file_row_end(f, i) : lo;
    const ts_token *row = f->host->table_get(f->table, TS_FIELD_ID, id);
    file_csv_buf_reset(&f->out);
    int rc = row ? append_token(f, row) : TS_OK;
    if (rc != TS_OK) {
        rc = file_nomem(f, err);
    } else {
        struct iovec iov[3] = { { f->image.data, lo }, { f->out.data, f->out.len },
                                { f->image.data + hi, f->image.len - hi } };
        rc = replace_file(f, iov, 3, err);
    }
    if (rc == TS_OK && splice_image(f, i, lo, hi, n) != TS_OK)
        rc = file_nomem(f, err);
    file_csv_buf_reset(&f->out);
    return rc;
}

/* ---------------------------------------------------------------- locking */

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
int file_open_side_file(const struct file *f, const char *name, int flags, unsigned mode,
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

/* The error for a side file file_open_side_file() would not open. */
int file_side_file_error(const struct file *f, const char *what, const char *name, const char *why,
                         int e, ts_error *err)
{
    return f->host->error(err, TS_ERR_IO, "%s: refusing %s %s: %s", f->path, what, name,
                          why ? why : strerror(e));
}

/* Opens the lock file, creating it with the token file's mode (not
 * narrowed by the umask, so that whoever may write the token file may
 * also bump the generation). */
int file_open_lock(struct file *f, ts_error *err)
{
    const char *why;

    if (f->open_flags & TS_OPEN_READ_ONLY) {
        /* A reader creates nothing: without a lock file it stat()s. */
        f->lock_fd = file_open_side_file(f, f->lock_name, O_RDONLY, 0, &why);
        f->lock_writable = 0;
        if (f->lock_fd < 0 && why)
            return file_side_file_error(f, "the lock file", f->lock_name, why, errno, err);
        return f->lock_fd >= 0 ? TS_OK : TS_ERR_IO;
    }
    f->lock_fd = file_open_side_file(f, f->lock_name, O_RDWR | O_CREAT | O_EXCL, f->mode, &why);
    if (f->lock_fd >= 0)
        fchmod(f->lock_fd, f->mode);
    else if (errno == EEXIST)
        f->lock_fd = file_open_side_file(f, f->lock_name, O_RDWR, 0, &why);
    int e = errno;
    if (f->lock_fd < 0 && !why && (e == EACCES || e == EROFS)) {
        /* Readable only: read along without bumping the generation. */
        f->lock_fd = file_open_side_file(f, f->lock_name, O_RDONLY, 0, &why);
        if (f->lock_fd < 0 && errno != ENOENT)
            e = errno;          /* else say why it could not be made, not that it is missing */
    }
    if (f->lock_fd < 0)
        return file_side_file_error(f, "the lock file", f->lock_name, why, e, err);
    f->lock_writable = (fcntl(f->lock_fd, F_GETFL) & O_ACCMODE) == O_RDWR;
    return TS_OK;
}

int file_lock_is_current(const struct file *f)
{
    struct stat held, named;

    return fstat(f->lock_fd, &held) == 0 && fstatat(f->dir_fd, f->lock_name, &named, 0) == 0 &&
           held.st_dev == named.st_dev && held.st_ino == named.st_ino;
}

/* Someone removed or replaced the lock file: move to the one now there,
 * first bumping the old generation so that readers still watching it look
 * again (and move too, in check_file). */
void file_drop_lock(struct file *f)
{
    if (f->lock_writable)
        count_change(f);
    close(f->lock_fd);
    f->lock_fd = -1;
}

/* Takes the writers' lock; a lock on a lock file that is no longer there
 * would guard nothing. */
int file_lock_writers(struct file *f, ts_error *err)
{
    for (;;) {
        if (f->lock_fd < 0 && file_open_lock(f, err) != TS_OK)
            return TS_ERR_IO;
        while (flock(f->lock_fd, LOCK_EX) != 0)
            if (errno != EINTR)
                return f->host->error(err, TS_ERR_IO, "cannot lock %s" LOCK_SUFFIX ": %s",
                                      f->path, strerror(errno));
        if (file_lock_is_current(f))
            return TS_OK;
        file_drop_lock(f);
    }
}

/* The writers' lock shared, for reading what writers change in place
 * (the log): 0 when held; -1 when there is no lock file to hold (a store
 * never written; a reader makes none) or it cannot be locked, and the
 * caller reads without. file_unlock_writers() lets go of it. */
int file_lock_readers(struct file *f)
{
    for (;;) {
        if (f->lock_fd < 0 && file_open_lock(f, NULL) != TS_OK)
            return -1;
        while (flock(f->lock_fd, LOCK_SH) != 0)
            if (errno != EINTR)
                return -1;
        if (file_lock_is_current(f))
            return 0;
        flock(f->lock_fd, LOCK_UN);
        file_drop_lock(f);
    }
}

void file_unlock_writers(struct file *f)
{
    flock(f->lock_fd, LOCK_UN);
}
