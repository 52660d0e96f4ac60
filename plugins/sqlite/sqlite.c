/*
 * plugins/sqlite - tokens in a SQLite database: the store you get when you
 * configure nothing.
 *
 * The file is the one the Zoho SDK's sample CustomStoreSQLite keeps: table
 * `oauthtoken` (the name is an option), the SDK's ten columns, all text,
 * ids stored as text. We open the sample's zohooauth.db as it is, and a
 * database we create is one the sample can use. What we add is what the
 * sample lacks:
 *
 *  - Prepared statements only, with every value bound: a user name with a
 *    quote, or one written as an SQL injection, is just a value.
 *  - Ids compared as numbers. The sample takes max(id) over text, where
 *    "9" > "10", and breaks after its tenth token. Here the next id is
 *    max(CAST(id AS INTEGER)) + 1, read through an index on that expression
 *    (O(log n), not a scan) and chosen inside the BEGIN IMMEDIATE
 *    transaction that inserts the row, so two processes never pick the
 *    same id.
 *  - Indexes on the lookup keys (user_name, access, refresh and grant
 *    token), created with IF NOT EXISTS: extra indexes do not bother the
 *    sample, and they make every lookup O(log n).
 *  - WAL journaling, so readers never wait for the writer, and a busy
 *    handler that waits up to busy_timeout_ms for another writer before
 *    reporting TS_ERR_BUSY.
 *  - Nothing is migrated behind the user's back: a file that is not a
 *    SQLite database, or a table that lacks one of the ten columns, is an
 *    error naming the file, the table and the column.
 *  - New files are created 0600 (option `mode`) before SQLite opens them,
 *    so there is no moment when tokens sit in a world-readable file.
 *  - Opened with TS_OPEN_MUST_EXIST, a missing file is TS_ERR_NO_STORE and
 *    nothing is created. With TS_OPEN_READ_ONLY the connection is
 *    SQLITE_OPEN_READONLY and sets no journal mode and creates no table or
 *    index: another program's database is read as it is, and one without
 *    our table reads as an empty store. A reader of a WAL database would
 *    leave -wal and -shm files behind (only a writer removes them), so
 *    while there is no -wal file, which means no connection has the
 *    database open, we read it as SQLite's "immutable" file, and move to
 *    an ordinary read-only connection as soon as a writer makes one; a
 *    writer that came and went (the file is no longer the one we opened)
 *    makes us open it afresh. A rollback-journal database is read through
 *    an ordinary read-only connection, which creates nothing.
 *
 * The SDK's rules (which row a token matches, what a save replaces, the
 * fields rows are found by, the next id) come from the host (ABI 1.2): we
 * only supply a "find the row whose FIELD is VALUE" backed by one
 * prepared SELECT and one index per key field, and the largest id. A save runs the host's
 * resolve and our write in one transaction, and updates only the columns
 * that changed, so an access-token refresh touches one index, not five.
 *
 * A save is acknowledged only when its COMMIT succeeded: that is where
 * WAL mode writes (and with synchronous=FULL syncs) the transaction's
 * pages, so a full disk or a failed write is reported there, naming the
 * file, and nothing is rolled forward behind the caller.
 *
 * One connection per store handle. The core serializes calls on a handle
 * (we do not claim TS_CAP_THREAD_SAFE), so the connection is opened
 * without SQLite's own mutex. In a forked child the connections the child
 * inherited are closed before it makes its own (fork.c).
 *
 * This file has the ts_backend, open and close; find.c the reads and
 * save.c the writes; statements.c turns SQLite's results into ts_codes,
 * waits for another writer and runs statements; schema.c checks and
 * creates the table and its indexes and opens the read-only connection;
 * connection.c opens, checks and closes the connection; locks.c has the
 * store-wide locks; notes.c the notes and the refresh log, in tables of
 * their own; fork.c follows a store into a forked child; sqlite_store.h
 * is what they share.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include <tokenstore/backend.h>
#include "sqlite_store.h"

#define DEFAULT_PATH "zohooauth.db"    /* the sample's file, in the working directory */
#define DEFAULT_TABLE "oauthtoken"
#define DEFAULT_BUSY_TIMEOUT_MS 5000
#define DEFAULT_MODE 0600

/* ------------------------------------------------------------------ */
/* Options and opening                                                 */
/* ------------------------------------------------------------------ */

static int table_name_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > TABLE_NAME_MAX || strspn(name, "0123456789") > 0)
        return 0;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789_") == n;
}

/* OFF, NORMAL, FULL or EXTRA, as SQLite's PRAGMA synchronous spells them. */
static int parse_synchronous(struct sqlite_store *s, int *level, ts_error *err)
{
    static const char *const names[] = { "OFF", "NORMAL", "FULL", "EXTRA", NULL };

    /* NORMAL in WAL mode syncs at checkpoints, not at each commit. A
     * commit is in the WAL file when save_token returns, so it survives
     * the process being killed (the OS keeps the written pages); only a
     * power loss or OS crash can take back the last commits. FULL
     * fsyncs every commit for that. */
    return s->host->option_choice(s->ctx, "synchronous", names, 1, level, err);
}

static int read_options(struct sqlite_store *s, unsigned *mode, int *sync_level, ts_error *err)
{
    const ts_host *h = s->host;
    const char *path = h->option(s->ctx, "path");
    const char *table = h->option(s->ctx, "table");

    if (!path)
        path = DEFAULT_PATH;
    if (!*path)
        return h->error(err, TS_ERR_CONFIG, "option 'path' is empty");
    if (!(s->path = strdup(path)))
        return h->error(err, TS_ERR_NOMEM, "out of memory");
    if (!table)
        table = DEFAULT_TABLE;
    if (!table_name_valid(table))
        return h->error(err, TS_ERR_CONFIG,
                        "option 'table': '%.80s' is not an SQL identifier "
                        "([A-Za-z_][A-Za-z0-9_]*, at most %d characters)",
                        table, TABLE_NAME_MAX);
    snprintf(s->table, sizeof s->table, "%s", table);
    int rc = h->option_int(s->ctx, "busy_timeout_ms", DEFAULT_BUSY_TIMEOUT_MS, 0,
                           24LL * 3600 * 1000, &s->busy_timeout_ms, err);
    if (rc == TS_OK)
        rc = parse_synchronous(s, sync_level, err);
    if (rc == TS_OK)
        rc = h->option_mode(s->ctx, "mode", DEFAULT_MODE, mode, err);
    return rc;
}

/* Creates the file with `mode` before SQLite sees it: SQLite would create
 * it 0644 (less the umask), and the tokens would be readable by others
 * until a chmod. O_EXCL leaves an existing file alone. The mode is set
 * exactly, umask or not, because the user asked for it. SQLite gives the
 * -wal and -shm files the database file's mode. */
static int create_file(struct sqlite_store *s, unsigned mode, ts_error *err)
{
    int fd = open(s->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);

    if (fd < 0) {
        struct stat st;
        if (errno == EEXIST && stat(s->path, &st) == 0 && S_ISDIR(st.st_mode))
            return s->host->error(err, TS_ERR_CONFIG, "%s is a directory, not a database file",
                                  s->path);
        if (errno == EEXIST)
            return TS_OK;
        return s->host->error(err, TS_ERR_IO, "cannot create %s: %s", s->path, strerror(errno));
    }
    int failed = fchmod(fd, (mode_t)mode) != 0;
    int saved = errno;
    close(fd);
    if (failed)
        return s->host->error(err, TS_ERR_IO, "cannot set mode %04o on %s: %s", mode,
                              s->path, strerror(saved));
    s->host->log(s->ctx, TS_LOG_INFO, "created %s (mode %04o)", s->path, mode);
    return TS_OK;
}

/* SQLite creates PATH-wal, -shm and -journal itself, following a symbolic
 * link there: whoever can write the directory could make it write the log
 * into another file. Refuse a link in any of their places; the database
 * file itself may be a link (it is opened as the user named it). This
 * narrows the window rather than closing it: a directory others can
 * write is no place for a token store, and the README says so. */
static int check_side_files(struct sqlite_store *s, ts_error *err)
{
    static const char *const suffixes[] = { "-wal", "-shm", "-journal" };
    char side[4096];
    struct stat st;

    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        snprintf(side, sizeof side, "%s%s", s->path, suffixes[i]);
        if (lstat(side, &st) == 0 && !S_ISREG(st.st_mode))
            return s->host->error(err, TS_ERR_IO, "refusing %s: it is %s, not a file SQLite "
                                  "made", side, S_ISLNK(st.st_mode) ? "a symbolic link"
                                                                    : "not a regular file");
    }
    return TS_OK;
}

/* Opened with TS_OPEN_MUST_EXIST: the file must be there already. */
static int check_exists(struct sqlite_store *s, ts_error *err)
{
    struct stat st;

    if (stat(s->path, &st) != 0)
        return errno == ENOENT
                   ? s->host->error(err, TS_ERR_NO_STORE, "no such store: %s", s->path)
                   : s->host->error(err, TS_ERR_IO, "cannot stat %s: %s", s->path,
                                    strerror(errno));
    if (S_ISDIR(st.st_mode))
        return s->host->error(err, TS_ERR_CONFIG, "%s is a directory, not a database file",
                              s->path);
    return TS_OK;
}

static void sqlite_close(void *state)
{
    struct sqlite_store *s = state;

    sqlite_unlist_store(s);
    sqlite_disconnect(s, 0);
    if (s->row)
        s->host->token_free(s->row);
    free(s->path);
    free(s);
}

static int sqlite_open(const ts_host *host, ts_backend_ctx *ctx, void **state, ts_error *err)
{
    struct sqlite_store *s;
    unsigned mode = DEFAULT_MODE;
    int sync_level = 1;

    if (!(s = calloc(1, sizeof *s)))
        return host->error(err, TS_ERR_NOMEM, "out of memory");
    int rc = sql_open_begin(host, ctx, &s->row, &s->keys, &s->nkeys, &s->open_flags, err);
    if (rc != TS_OK) {
        free(s);
        return rc;
    }
    s->host = host;
    s->ctx = ctx;
    rc = read_options(s, &mode, &sync_level, err);
    if (rc == TS_OK)
        rc = s->open_flags & TS_OPEN_MUST_EXIST ? check_exists(s, err)
                                                : create_file(s, mode, err);
    if (rc == TS_OK)
        rc = check_side_files(s, err);
    s->sync_level = sync_level;
    if (rc == TS_OK) {
        sqlite_leave_inherited();
        rc = sqlite_open_connection(s, err);
    }
    if (rc != TS_OK) {
        sqlite_close(s);
        return rc;
    }
    sqlite_list_store(s);
    *state = s;
    return TS_OK;
}

static const char *const sqlite_options[] = {
    "path", "table", "busy_timeout_ms", "synchronous", "mode", NULL,
};

static const ts_backend sqlite_backend = {
    TS_BACKEND_HEAD,
    .name = "sqlite",
    .version = "1.0.0",
    .description = "a SQLite database (WAL), compatible with the Zoho SDK sample's zohooauth.db",
    .caps = TS_CAP_PERSISTENT | TS_CAP_SHARED | TS_CAP_OPEN_FLAGS,
    .options = sqlite_options,
    .open = sqlite_open,
    .close = sqlite_close,
    .find_token = sqlite_find_token,
    .save_token = sqlite_save_token,
    .delete_token = sqlite_delete_token,
    .get_tokens = sqlite_get_tokens,
    .delete_tokens = sqlite_delete_tokens,
    .find_token_by_id = sqlite_find_token_by_id,
    .save_tokens = sqlite_save_tokens,
    .save_stream = sqlite_save_stream,
    .try_lock = sqlite_try_lock,
    .unlock = sqlite_unlock,
    .forked = sqlite_forked,
    .note_set = sqlite_note_set,
    .note_get = sqlite_note_get,
    .log_append = sqlite_log_append,
    .log_walk = sqlite_log_walk,
};

TS_BACKEND_DEFINE(sqlite_backend)
