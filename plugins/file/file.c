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
 * counter kept in the first 8 bytes of the lock file, so a reader learns
 * that nothing changed from a pread() of them instead of a stat() of the
 * path (a path lookup costs more than the whole find); a stat() comparing
 * device, inode, size, mtime and ctime still runs before every write and
 * at least every RECHECK_NS, which catches other programs (the SDK, an
 * editor, a restored backup). The loaded file is held open so that its inode number cannot
 * be reused by a newer file while we remember it. When the file did
 * change, the new bytes are compared with the image and only the rows
 * between their common prefix and suffix are parsed again; another
 * process's save costs a reader a read() and a memcmp(), not a parse of
 * every row. (The counter is not mapped into memory, which would save the
 * pread(): whoever truncated the lock file would kill every process that
 * has it mapped with SIGBUS. Truncating or removing it is safe.)
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
 * files next to the token file, one per lock name; see "named locks". The
 * notes and the log the OAuth client shares between processes are files
 * next to it too, "<file>.notes" and "<file>.refreshes" (notes.c).
 *
 * A file that does not parse is never written over: every operation
 * returns TS_ERR_CORRUPT naming the file and line until it is fixed. The
 * path is resolved once, at open, to a directory handle and a name, so a
 * later chdir() does not redirect writes and a symlinked token file is
 * written where it points. A handle followed into a forked child lets go
 * of the lock descriptors it shares with its parent (see "fork").
 *
 * This file holds the backend's table of operations, open and close, the
 * operations, the named locks and following a fork; load.c reads the file
 * and catches up with other processes, write.c writes it and holds the
 * writers' lock, notes.c keeps the notes and the log, image.c holds the
 * image's index of rows, and file_store.h is what they share.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <tokenstore/backend.h>
#include "file_store.h"

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
        return file_nomem(f, err);
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

/* Under the lock: clears up after killed writers and gives a missing or
 * empty file its header. Without write access to the directory, an
 * existing file is still opened, for reading. */
static int prepare(struct file *f, ts_error *err)
{
    struct stat st;
    int exists = fstatat(f->dir_fd, f->base, &st, 0) == 0;
    ts_error lock_err;

    if (file_lock_writers(f, &lock_err) != TS_OK) {
        if (exists)
            return TS_OK;
        return f->host->error(err, lock_err.code, "%s", lock_err.message);
    }
    file_remove_stale_temps(f);
    exists = fstatat(f->dir_fd, f->base, &st, 0) == 0;
    int rc = TS_OK;
    if (!exists && errno != ENOENT)
        rc = file_io_error(f, err, "cannot stat");
    else if (!exists || st.st_size == 0)
        rc = file_write_all_rows(f, err);
    file_unlock_writers(f);
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
            return file_io_error(f, err, "cannot stat");
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

static void forget_named(struct file *f, struct named_lock *l);

static void file_close(void *state)
{
    struct file *f = state;

    if (!f)
        return;
    while (f->held)             /* locks never unlocked: closing releases them */
        forget_named(f, f->held);
    file_csv_buf_free(&f->out);
    file_csv_buf_free(&f->image);
    free(f->rows);
    if (f->table)
        f->host->table_free(f->table);
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

    if (ts_host_require(host, 5, err) != TS_OK)    /* error_prefix */
        return TS_ERR_ABI;
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
        rc = file_nomem(f, err);
    if (rc == TS_OK)
        rc = locate(f, path, err);
    if (rc == TS_OK)
        rc = check_target(f, err);
    /* A reader writes no header and makes no lock file; it watches the
     * generation of a lock file a writer made, if there is one. */
    if (rc == TS_OK && (f->open_flags & TS_OPEN_READ_ONLY))
        file_open_lock(f, NULL);
    else if (rc == TS_OK)
        rc = prepare(f, err);
    if (rc == TS_OK) {
        warn_if_readable(f);
        /* A file that does not parse still opens: each call reports it. */
        rc = file_check_file(f, err);
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

/* Lock, then catch up with what other processes wrote. */
static int begin_write(struct file *f, ts_error *err)
{
    int rc = file_lock_writers(f, err);

    if (rc == TS_OK && (rc = file_check_file(f, err)) != TS_OK)
        file_unlock_writers(f);
    return rc;
}

/* Unlock. A failure after the table may have changed (anything but a
 * refusal) makes the next call reload, so the table matches the file. */
static int end_write(struct file *f, int rc)
{
    if (rc != TS_OK && rc != TS_NOT_FOUND && rc != TS_ERR_CONFLICT && rc != TS_ERR_INVALID &&
        rc != TS_ERR_CORRUPT)
        f->loaded = 0;
    file_unlock_writers(f);
    return rc;
}

static int file_find_token(void *state, const ts_token *query, ts_token *row, ts_error *err)
{
    struct file *f = state;
    int rc = file_refresh(f, err);

    if (rc == TS_OK)
        rc = f->host->find_by_rule(query, f->host->table_lookup, f->table, row, err);
    return rc;
}

static int file_find_token_by_id(void *state, const char *id, ts_token *row, ts_error *err)
{
    struct file *f = state;
    int rc = file_refresh(f, err);

    if (rc == TS_OK)
        rc = f->host->table_lookup(f->table, TS_FIELD_ID, id, row, err);
    return rc;
}

static int file_get_tokens(void *state, ts_token_cb cb, void *userdata, ts_error *err)
{
    struct file *f = state;
    int rc = file_refresh(f, err);

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
        const char *bad = file_csv_needs_quotes(v, strlen(v));
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
        rc = file_write_row(f, f->host->token_get(token, TS_FIELD_ID), err);
    return end_write(f, rc);
}

/* Names the token a batch failed on, keeping the message. */
static int batch_error(struct file *f, int rc, size_t i, ts_error *err)
{
    return f->host->error_prefix(err, rc, "token %zu", i);
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
    return end_write(f, file_write_all_rows(f, err));
}

/* A restore of any size: each token into the table as it comes, and the
 * file written once at the end, or not at all. */
static int file_save_stream(void *state, int (*next)(void *stream, ts_token **token,
                                                      ts_error *err),
                            void *stream, ts_error *err)
{
    struct file *f = state;
    ts_token *token;
    size_t i = 0;
    int rc = begin_write(f, err);

    if (rc != TS_OK)
        return rc;
    while ((rc = next(stream, &token, err)) == TS_OK) {
        if ((rc = fits_dialect(f, token, err)) != TS_OK ||
            (rc = f->host->table_save(f->table, token, err)) != TS_OK) {
            rc = batch_error(f, rc, i, err);
            break;
        }
        i++;
    }
    if (rc == TS_NOT_FOUND)
        return end_write(f, file_write_all_rows(f, err));
    f->loaded = 0;            /* the table may hold saves that were not written */
    return end_write(f, rc);
}

static int file_delete_token(void *state, const char *id, ts_error *err)
{
    struct file *f = state;
    int rc = begin_write(f, err);

    if (rc != TS_OK)
        return rc;
    rc = f->host->table_delete(f->table, id);
    if (rc == TS_OK)
        rc = file_write_row(f, id, err);
    return end_write(f, rc);
}

static int file_delete_tokens(void *state, ts_error *err)
{
    struct file *f = state;
    int rc = begin_write(f, err);

    if (rc != TS_OK)
        return rc;
    f->host->table_clear(f->table);
    return end_write(f, file_write_all_rows(f, err));
}

/* ---------------------------------------------------------------- named locks */

/* A lock taken with try_lock: an flock()ed file next to the token file,
 * "<file>.lock.<hash of the lock's name>", holding its expiry. Taking,
 * breaking and releasing happen under the writers' lock, so they never race
 * each other; a holder that dies releases the flock at once, one that
 * outlives its ttl has its file replaced by the next taker. */
struct named_lock {
    int fd;                  /* -1: inherited across fork, the parent's to release */
    dev_t dev;
    ino_t ino;
    struct named_lock *next; /* in f->held */
    char file[];             /* its name in the directory */
};

static void named_lock_file(const struct file *f, const char *name, char *out, size_t size)
{
    uint64_t h = 1469598103934665603u;     /* FNV-1a */
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211u;
    snprintf(out, size, "%s.%016llx", f->lock_name, (unsigned long long)h);
}

static int hold_named(struct file *f, int fd, const char *file, int64_t ttl_ms,
                      struct named_lock **out, ts_error *err)
{
    int64_t expires = file_wall_ms() + ttl_ms;
    struct stat st;
    struct named_lock *l = malloc(sizeof *l + strlen(file) + 1);

    if (!l || pwrite(fd, &expires, sizeof expires, 0) != (ssize_t)sizeof expires ||
        fstat(fd, &st) != 0) {
        int rc = l ? f->host->error(err, TS_ERR_IO, "cannot write the lock file %s: %s", file,
                                    strerror(errno))
                   : file_nomem(f, err);
        free(l);
        close(fd);
        return rc;
    }
    *l = (struct named_lock){ fd, st.st_dev, st.st_ino, f->held };
    strcpy(l->file, file);
    f->held = l;
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
        int fd = file_open_side_file(f, file, O_RDWR | O_CREAT, f->mode, &why);
        if (fd < 0)
            return file_side_file_error(f, "the lock file", file, why, errno, err);
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return hold_named(f, fd, file, ttl_ms, out, err);
        if (errno != EWOULDBLOCK) {
            int rc = f->host->error(err, TS_ERR_IO, "cannot lock %s: %s", file, strerror(errno));
            close(fd);
            return rc;
        }
        int stale = pread(fd, &expires, sizeof expires, 0) == (ssize_t)sizeof expires &&
                    expires <= file_wall_ms();
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
    int rc = file_lock_writers(f, err);

    if (rc != TS_OK)
        return rc;
    named_lock_file(f, name, file, sizeof file);
    rc = take_named(f, file, ttl_ms, &l, err);
    file_unlock_writers(f);
    if (rc == TS_OK)
        *handle = l;
    return rc;
}

static void forget_named(struct file *f, struct named_lock *l)
{
    for (struct named_lock **p = &f->held; *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            break;
        }
    if (l->fd >= 0)
        close(l->fd);
    free(l);
}

/* Closing the file releases the lock; the file goes too unless someone
 * broke the lock after its ttl and the file there is theirs. A lock this
 * process inherited is its parent's: it is left alone. */
static int file_unlock(void *state, void *handle, ts_error *err)
{
    struct file *f = state;
    struct named_lock *l = handle;
    struct stat st;
    ts_error ignored;

    (void)err;
    if (l->fd >= 0 && file_lock_writers(f, &ignored) == TS_OK) {
        if (fstatat(f->dir_fd, l->file, &st, 0) == 0 && st.st_dev == l->dev &&
            st.st_ino == l->ino)
            unlinkat(f->dir_fd, l->file, 0);
        file_unlock_writers(f);
    }
    forget_named(f, l);
    return TS_OK;
}

/* ---------------------------------------------------------------- fork */

/*
 * In a forked child, before its first call (backend.h's `forked`). flock()
 * locks belong to an open file description, which the child shares with
 * its parent through every descriptor it inherited: writing under the
 * inherited lock descriptor, a child would find the writers' lock its
 * parent holds already its own, and both would write at once (four
 * children saving through an inherited handle lost 581 of 800 saves they
 * were told had succeeded). So the child closes its copies of the lock
 * descriptors, which leaves the parent's locks as they are (a lock goes
 * only with the last descriptor of its description), and opens the lock
 * file again, a description of its own. The named locks the handle held
 * are its parent's: the child keeps no descriptor of theirs, and its
 * unlock of one releases nothing. What was read of the file is read again.
 * The notes and the log (notes.c) hold no descriptor between calls.
 */
static int file_forked(void *state, ts_error *err)
{
    struct file *f = state;

    (void)err;
    if (f->lock_fd >= 0)
        close(f->lock_fd);
    f->lock_fd = -1;
    file_open_lock(f, NULL);         /* or the next write does */
    for (struct named_lock *l = f->held; l; l = l->next) {
        if (l->fd >= 0)
            close(l->fd);
        l->fd = -1;
    }
    f->loaded = 0;
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
    .save_stream = file_save_stream,
    .try_lock = file_try_lock,
    .unlock = file_unlock,
    .forked = file_forked,
    .note_set = file_note_set,
    .note_get = file_note_get,
    .log_append = file_log_append,
    .log_walk = file_log_walk,
};

TS_BACKEND_DEFINE(file_backend)
