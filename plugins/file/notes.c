/*
 * plugins/file/notes.c - notes and a log beside the token file (ABI 1.4's
 * note_set, note_get, log_append and log_walk): what the OAuth client
 * keeps so that every process sharing the store sees it (a failed
 * refresh's backoff, the requests spent of a token's refresh budget) and
 * the refresh log an operator reads.
 *
 * The token file stays exactly the SDK's, so both live in files of their
 * own next to it, which no SDK and no token reader opens:
 *
 * - "<file>.notes", a CSV file written as the token file's Python dialect
 *   is: the header "name,expires,value", then a row per note, expires
 *   being when it ends in ms since 1970 (0: never). A change rewrites it
 *   whole as the token file is written (a temporary file, fsync, rename)
 *   under the writers' lock, dropping expired notes on the way, so each
 *   read-modify-write is whole and a reader opens the old file or the
 *   new one: note_get takes no lock. The last note removed takes the file
 *   with it.
 * - "<file>.refreshes", the log: an entry a line, oldest first, each
 *   appended with O_APPEND under the writers' lock. Rewriting the log to
 *   drop its oldest line would cost the whole log on every append once it
 *   is full, so instead, when it holds `keep` lines, the next append first
 *   renames it "<file>.refreshes.1" (replacing the one before) and starts
 *   it again. The log is then the newest `keep` lines of the two: the
 *   lines of ".1" past as many as the new file holds, then those. An
 *   append that finds the files not so (`keep` changed) rewrites the log
 *   as its newest `keep` entries. log_walk reads both files under the
 *   writers' lock shared, so it never sees half an append or a rotation,
 *   and calls back only after letting go (a callback may write).
 *
 * Both take the token file's owner and mode, are opened only as
 * file_open_side_file() allows (never through a symbolic link), and are never
 * created by reading: a store opened read-only, or never given a note,
 * reads as having none and an empty log. No descriptor of theirs outlives
 * a call, so a forked child has nothing of them to let go of.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "file_store.h"

#define NOTES_SUFFIX ".notes"
#define LOG_SUFFIX ".refreshes"
#define OLD_LOG_SUFFIX ".refreshes.1"
#define NOTES_WHAT "the notes file"
#define LOG_WHAT "the refresh log"

/* A callback's "stop, found it", apart from every ts_code. */
#define FOUND (-1)

/* ---------------------------------------------------------------- side files */

static void side_name(const struct file *f, const char *suffix, char *out, size_t size)
{
    snprintf(out, size, "%s%s", f->base, suffix);
}

/* Reads the side file whole into buf (and its stat into *st). TS_OK;
 * TS_NOT_FOUND when there is none; an error naming it. Creates nothing. */
static int read_side(struct file *f, const char *suffix, const char *what, csv_buf *buf,
                     struct stat *st, ts_error *err)
{
    char name[PATH_MAX];
    const char *why;
    int e;

    side_name(f, suffix, name, sizeof name);
    int fd = file_open_side_file(f, name, O_RDONLY, 0, &why);
    if (fd < 0 && !why && errno == ENOENT)
        return TS_NOT_FOUND;
    if (fd < 0)
        return why ? file_side_file_error(f, what, name, why, errno, err)
                   : file_io_error_at(f, suffix, err, "cannot open");
    e = fstat(fd, st) != 0 ? errno : file_read_all(fd, buf, (size_t)st->st_size);
    close(fd);
    if (e == ENOMEM)
        return file_nomem(f, err);
    errno = e;
    return e ? file_io_error_at(f, suffix, err, "cannot read") : TS_OK;
}

/* Removes a side file; one that is not there is removed already. */
static int remove_side(struct file *f, const char *suffix, int *removed, ts_error *err)
{
    char name[PATH_MAX];

    side_name(f, suffix, name, sizeof name);
    if (unlinkat(f->dir_fd, name, 0) == 0) {
        *removed = 1;
        return TS_OK;
    }
    return errno == ENOENT ? TS_OK : file_io_error_at(f, suffix, err, "cannot remove");
}

/* After a side file was created, renamed or removed: the directory holds
 * the change across a crash. */
static int sync_dir(struct file *f, const char *suffix, ts_error *err)
{
    return fsync(f->dir_fd) == 0
               ? TS_OK
               : file_io_error_at(f, suffix, err, "changed, but could not sync the directory of");
}

/* ---------------------------------------------------------------- notes */

/* A note as read from the file; its strings are the reader's and live
 * until it reads the next record. */
struct note {
    const char *name, *value;
    size_t name_len, value_len;
    int64_t expires;            /* ms since 1970; 0: never */
};

typedef int (*note_fn)(struct file *f, const struct note *n, void *ud, ts_error *err);

static int notes_corrupt(struct file *f, ts_error *err, size_t line, const char *why)
{
    return f->host->error(err, TS_ERR_CORRUPT, "%s" NOTES_SUFFIX " line %zu: %s; it is left "
                          "as it is (remove it to start the notes afresh)", f->path, line, why);
}

static int is_notes_header(const csv_record *rec)
{
    static const char *const names[] = { "name", "expires", "value" };

    if (rec->nfields != 3)
        return 0;
    for (size_t i = 0; i < 3; i++)
        if (rec->len[i] != strlen(names[i]) || memcmp(rec->value[i], names[i], rec->len[i]))
            return 0;
    return 1;
}

static int parse_note(struct file *f, const csv_record *rec, struct note *n, ts_error *err)
{
    uint64_t ms = 0;
    size_t len = rec->nfields == 3 ? rec->len[1] : 0;

    if (rec->nfields != 3)
        return notes_corrupt(f, err, rec->line, "not 3 fields (name,expires,value)");
    for (size_t i = 0; i < len && ms <= INT64_MAX / 10; i++) {
        char c = rec->value[1][i];
        ms = c >= '0' && c <= '9' ? ms * 10 + (uint64_t)(c - '0') : UINT64_MAX;
    }
    if (len == 0 || ms > INT64_MAX)
        return notes_corrupt(f, err, rec->line, "the expiry is not a number of milliseconds");
    *n = (struct note){ rec->value[0], rec->value[2], rec->len[0], rec->len[2], (int64_t)ms };
    return TS_OK;
}

/* Calls fn with each note of the file in buf, in file order, until it
 * returns non-zero, which this returns. */
static int each_note(struct file *f, const csv_buf *buf, note_fn fn, void *ud, ts_error *err)
{
    csv_reader r;
    csv_record rec;
    struct note n;
    int rc = TS_OK;

    file_csv_reader_init(&r, buf->data, buf->len);
    csv_status st = file_csv_read(&r, &rec);
    if (st == CSV_RECORD && !is_notes_header(&rec))
        rc = notes_corrupt(f, err, rec.line, "not the header name,expires,value");
    while (rc == TS_OK && st == CSV_RECORD && (st = file_csv_read(&r, &rec)) == CSV_RECORD) {
        rc = parse_note(f, &rec, &n, err);
        if (rc == TS_OK)
            rc = fn(f, &n, ud, err);
    }
    if (rc == TS_OK && st == CSV_ERROR)
        rc = r.err_nomem ? file_nomem(f, err) : notes_corrupt(f, err, r.err_line, r.err_msg);
    file_csv_reader_free(&r);
    return rc;
}

static int same_name(const struct note *n, const char *name, size_t len)
{
    return n->name_len == len && memcmp(n->name, name, len) == 0;
}

struct lookup {
    const char *name;
    size_t len;
    int64_t now;
    char *value;
    size_t size;
};

/* The first note of that name decides: live, expired or too long. */
static int find_note(struct file *f, const struct note *n, void *ud, ts_error *err)
{
    struct lookup *l = ud;

    if (!same_name(n, l->name, l->len))
        return TS_OK;
    if (n->expires && n->expires <= l->now)
        return TS_NOT_FOUND;
    if (n->value_len >= l->size)
        return f->host->error(err, TS_ERR_BACKEND, "%s" NOTES_SUFFIX ": note '%s' holds %zu "
                              "bytes, more than the %zu there is room for", f->path, l->name,
                              n->value_len, l->size ? l->size - 1 : 0);
    memcpy(l->value, n->value, n->value_len);
    l->value[n->value_len] = '\0';
    return FOUND;
}

int file_note_get(void *state, const char *name, char *value, size_t size, ts_error *err)
{
    struct file *f = state;
    struct lookup l = { name, strlen(name), file_wall_ms(), value, size };
    csv_buf buf = { 0 };
    struct stat st;
    int rc = read_side(f, NOTES_SUFFIX, NOTES_WHAT, &buf, &st, err);

    if (rc == TS_OK)
        rc = each_note(f, &buf, find_note, &l, err);
    file_csv_buf_free(&buf);
    return rc == FOUND ? TS_OK : rc == TS_OK ? TS_NOT_FOUND : rc;
}

struct rewrite {
    const char *name, *value;   /* value NULL: remove */
    size_t len;
    int64_t expires, now;
    int placed;                 /* the note is written (or removed) */
    int changed;                /* the file must be written */
    size_t kept;
    csv_buf out;
};

static int append_note(struct rewrite *w, const char *name, size_t name_len, const char *value,
                       size_t value_len, int64_t expires)
{
    char ms[24];
    const char *v[3] = { name, ms, value };
    size_t len[3] = { name_len, 0, value_len };

    len[1] = (size_t)snprintf(ms, sizeof ms, "%lld", (long long)expires);
    if (file_csv_write_fields(&w->out, v, len, 3) != 0 || file_csv_buf_append(&w->out, "\r\n",
                                                                              2) != 0)
        return TS_ERR_NOMEM;
    w->kept++;
    return TS_OK;
}

/* Copies each live note to the new file, the named one as it now is. */
static int keep_note(struct file *f, const struct note *n, void *ud, ts_error *err)
{
    struct rewrite *w = ud;
    int rc = TS_OK;

    if ((n->expires && n->expires <= w->now) || (same_name(n, w->name, w->len) && w->placed)) {
        w->changed = 1;         /* expired, or a second of that name: dropped */
    } else if (same_name(n, w->name, w->len)) {
        w->placed = w->changed = 1;
        if (w->value)
            rc = append_note(w, w->name, w->len, w->value, strlen(w->value), w->expires);
    } else {
        rc = append_note(w, n->name, n->name_len, n->value, n->value_len, n->expires);
    }
    return rc == TS_OK ? TS_OK : file_nomem(f, err);
}

/* Under the writers' lock: the notes in `old` (NULL: none) with the
 * change made, written back when anything changed. */
static int rewrite_notes(struct file *f, const csv_buf *old, struct rewrite *w, ts_error *err)
{
    int rc = TS_OK, removed = 0;

    if (file_csv_buf_append(&w->out, "name,expires,value\r\n", 20) != 0)
        return file_nomem(f, err);
    if (old)
        rc = each_note(f, old, keep_note, w, err);
    if (rc == TS_OK && !w->placed && w->value) {
        w->changed = 1;
        if (append_note(w, w->name, w->len, w->value, strlen(w->value), w->expires) != TS_OK)
            rc = file_nomem(f, err);
    }
    if (rc != TS_OK || !w->changed)
        return rc;
    if (w->kept == 0) {
        rc = remove_side(f, NOTES_SUFFIX, &removed, err);
    } else {
        struct iovec iov = { w->out.data, w->out.len };
        rc = file_write_beside(f, NOTES_SUFFIX, &iov, 1, NULL, err);
    }
    return rc == TS_OK ? sync_dir(f, NOTES_SUFFIX, err) : rc;
}

int file_note_set(void *state, const char *name, const char *value, int64_t ttl_ms,
                  ts_error *err)
{
    struct file *f = state;
    int64_t now = file_wall_ms();
    struct rewrite w = { .name = name, .value = value, .len = strlen(name), .now = now };
    csv_buf old = { 0 };
    struct stat st;
    int rc = file_lock_writers(f, err);

    if (ttl_ms > 0)
        w.expires = ttl_ms < INT64_MAX - now ? now + ttl_ms : INT64_MAX;
    if (rc != TS_OK)
        return rc;
    rc = read_side(f, NOTES_SUFFIX, NOTES_WHAT, &old, &st, err);
    if (rc == TS_OK || rc == TS_NOT_FOUND)
        rc = rewrite_notes(f, rc == TS_OK ? &old : NULL, &w, err);
    file_unlock_writers(f);
    file_csv_buf_free(&old);
    file_csv_buf_free(&w.out);
    return rc;
}

/* ---------------------------------------------------------------- the log */

static size_t count_lines(const csv_buf *b)
{
    size_t n = 0;

    for (size_t i = 0; i < b->len; i++)
        n += b->data[i] == '\n';
    return n;
}

/* Counts a log file's complete lines: remembered for the file of that
 * identity, so an append after our own reads nothing. Under the writers'
 * lock. A missing file has none. */
static int count_log(struct file *f, int which, struct log_count *out, ts_error *err)
{
    const char *suffix = which ? OLD_LOG_SUFFIX : LOG_SUFFIX;
    struct log_count *known = &f->counted[which];
    char name[PATH_MAX];
    csv_buf buf = { 0 };
    struct stat st;

    side_name(f, suffix, name, sizeof name);
    if (fstatat(f->dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        struct identity now = file_identity_of(&st);
        if (known->id.exists && file_same_identity(&now, &known->id)) {
            *out = *known;
            return TS_OK;
        }
    }
    *out = *known = (struct log_count){ 0 };
    int rc = read_side(f, suffix, LOG_WHAT, &buf, &st, err);
    if (rc == TS_NOT_FOUND)
        return TS_OK;
    if (rc == TS_OK) {
        *out = (struct log_count){ file_identity_of(&st), count_lines(&buf), 0, (off_t)buf.len };
        for (size_t i = buf.len; i > 0 && !out->end; i--)
            if (buf.data[i - 1] == '\n')
                out->end = (off_t)i;
        *known = *out;
    }
    file_csv_buf_free(&buf);
    return rc;
}

/* Opens the log for appending (creating it with the token file's owner
 * and mode); *created when it was new. */
static int open_log(struct file *f, int *created, ts_error *err)
{
    char name[PATH_MAX];
    const char *why;
    struct stat st;

    side_name(f, LOG_SUFFIX, name, sizeof name);
    int fd = file_open_side_file(f, name, O_WRONLY | O_APPEND | O_CREAT, f->mode, &why);
    if (fd < 0)
        return why ? -file_side_file_error(f, LOG_WHAT, name, why, errno, err)
                   : -file_io_error_at(f, LOG_SUFFIX, err, "cannot open");
    *created = fstat(fd, &st) == 0 && st.st_size == 0;
    int rc = *created ? file_take_attributes(f, fd, LOG_SUFFIX, err) : TS_OK;
    if (rc != TS_OK) {
        close(fd);
        return -rc;
    }
    return fd;
}

/* Appends entry and its line end to the log, first cutting off a line
 * a crash left unfinished. */
static int append_line(struct file *f, const char *entry, const struct log_count *cur,
                       int *created, ts_error *err)
{
    struct iovec iov[2] = { { (void *)entry, strlen(entry) }, { "\n", 1 } };
    struct stat st;
    int fd = open_log(f, created, err);

    if (fd < 0)
        return -fd;
    if ((cur->size > cur->end && ftruncate(fd, cur->end) != 0) || file_writev_all(fd, iov,
                                                                                  2) != 0 ||
        fdatasync(fd) != 0) {
        int rc = file_io_error_at(f, LOG_SUFFIX, err, "cannot append to");
        close(fd);
        return rc;
    }
    if (fstat(fd, &st) == 0)
        f->counted[0] = (struct log_count){ file_identity_of(&st), cur->lines + 1, st.st_size,
                                            st.st_size };
    close(fd);
    return TS_OK;
}

/* The log's entries, oldest first: the lines of its previous part past
 * as many as the current part holds, then the current part's. The
 * strings point into the two buffers; a line a crash left unfinished is
 * not an entry. */
struct entries {
    csv_buf cur, old;
    char **line;
    size_t n;
};

/* Ends each line of b with a NUL and lists those past the first `skip`. */
static size_t take_lines(csv_buf *b, size_t skip, char **line)
{
    size_t n = 0, k = 0, start = 0;

    for (size_t i = 0; i < b->len; i++)
        if (b->data[i] == '\n') {
            b->data[i] = '\0';
            if (n++ >= skip)
                line[k++] = b->data + start;
            start = i + 1;
        }
    return k;
}

static int read_entries(struct file *f, struct entries *e, ts_error *err)
{
    struct stat st;
    int rc = read_side(f, OLD_LOG_SUFFIX, LOG_WHAT, &e->old, &st, err);

    if (rc == TS_OK || rc == TS_NOT_FOUND)
        rc = read_side(f, LOG_SUFFIX, LOG_WHAT, &e->cur, &st, err);
    if (rc != TS_OK && rc != TS_NOT_FOUND)
        return rc;
    size_t n_old = count_lines(&e->old), n_cur = count_lines(&e->cur);
    size_t skip = n_cur < n_old ? n_cur : n_old;
    if (!(e->line = malloc((n_old - skip + n_cur + 1) * sizeof *e->line)))
        return file_nomem(f, err);
    e->n = take_lines(&e->old, skip, e->line);
    e->n += take_lines(&e->cur, 0, e->line + e->n);
    return TS_OK;
}

static void free_entries(struct entries *e)
{
    free(e->line);
    file_csv_buf_free(&e->cur);
    file_csv_buf_free(&e->old);
}

/* The log made again as its newest `keep` entries with the new one, in
 * its current part alone: for an append that finds the two parts not as
 * appends leave them (`keep` changed, or other hands were at work). */
static int rewrite_log(struct file *f, const char *entry, size_t keep, ts_error *err)
{
    struct entries e = { 0 };
    csv_buf out = { 0 };
    int removed = 0;
    int rc = read_entries(f, &e, err);

    for (size_t i = e.n + 1 > keep ? e.n + 1 - keep : 0; rc == TS_OK && i <= e.n; i++) {
        const char *line = i < e.n ? e.line[i] : entry;
        if (file_csv_buf_append(&out, line, strlen(line)) != 0 || file_csv_buf_append(&out, "\n",
                                                                                      1) != 0)
            rc = file_nomem(f, err);
    }
    if (rc == TS_OK) {
        struct iovec iov = { out.data, out.len };
        rc = file_write_beside(f, LOG_SUFFIX, &iov, 1, NULL, err);
    }
    if (rc == TS_OK)
        rc = remove_side(f, OLD_LOG_SUFFIX, &removed, err);
    if (rc == TS_OK)
        rc = sync_dir(f, LOG_SUFFIX, err);
    f->counted[0] = f->counted[1] = (struct log_count){ 0 };
    free_entries(&e);
    file_csv_buf_free(&out);
    return rc;
}

/* Under the writers' lock. */
static int append_entry(struct file *f, const char *entry, size_t keep, ts_error *err)
{
    char cur_name[PATH_MAX], old_name[PATH_MAX];
    struct log_count cur, old;
    int created = 0, rotated = 0;
    int rc = count_log(f, 0, &cur, err);

    if (rc == TS_OK)
        rc = count_log(f, 1, &old, err);
    if (rc != TS_OK)
        return rc;
    if ((old.lines && old.lines != keep) || cur.lines > keep)
        return rewrite_log(f, entry, keep, err);
    if (cur.lines == keep) {    /* full: it becomes the previous part */
        side_name(f, LOG_SUFFIX, cur_name, sizeof cur_name);
        side_name(f, OLD_LOG_SUFFIX, old_name, sizeof old_name);
        f->counted[0] = f->counted[1] = (struct log_count){ 0 };
        if (renameat(f->dir_fd, cur_name, f->dir_fd, old_name) != 0)
            return file_io_error_at(f, LOG_SUFFIX, err, "cannot rename");
        cur = (struct log_count){ 0 };
        rotated = 1;
    }
    rc = append_line(f, entry, &cur, &created, err);
    if (rc == TS_OK && (created || rotated))
        rc = sync_dir(f, LOG_SUFFIX, err);
    return rc;
}

/* keep 0: no entry is kept, so neither part is. */
static int clear_log(struct file *f, ts_error *err)
{
    int removed = 0;
    int rc = remove_side(f, LOG_SUFFIX, &removed, err);

    if (rc == TS_OK)
        rc = remove_side(f, OLD_LOG_SUFFIX, &removed, err);
    f->counted[0] = f->counted[1] = (struct log_count){ 0 };
    return rc == TS_OK && removed ? sync_dir(f, LOG_SUFFIX, err) : rc;
}

int file_log_append(void *state, const char *entry, size_t keep, ts_error *err)
{
    struct file *f = state;
    int rc;

    if (strchr(entry, '\n'))
        return f->host->error(err, TS_ERR_INVALID, "%s" LOG_SUFFIX ": an entry of the log is "
                              "one line, and this one holds a line feed; it was not logged",
                              f->path);
    if ((rc = file_lock_writers(f, err)) != TS_OK)
        return rc;
    rc = keep ? append_entry(f, entry, keep, err) : clear_log(f, err);
    file_unlock_writers(f);
    return rc;
}

int file_log_walk(void *state, int (*cb)(const char *entry, void *userdata), void *userdata,
                  ts_error *err)
{
    struct file *f = state;
    struct entries e = { 0 };
    int locked = file_lock_readers(f) == 0;
    int rc = read_entries(f, &e, err);

    if (locked)
        file_unlock_writers(f);
    for (size_t i = 0; rc == TS_OK && i < e.n; i++)
        rc = cb(e.line[i], userdata);
    free_entries(&e);
    return rc;
}
