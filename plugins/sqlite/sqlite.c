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
 * This file has the ts_backend, open and close and the operations;
 * statements.c turns SQLite's results into ts_codes, waits for another
 * writer and runs statements; schema.c checks and creates the table and
 * its indexes and opens the read-only connection; locks.c has the
 * store-wide locks; notes.c the notes and the refresh log, in tables of
 * their own; fork.c follows a store into a forked child; sqlite.h is what
 * they share.
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
#include "sqlite.h"

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

/* Opens the connection and sets WAL; the first read of the file happens
 * here, so this is where a file that is not a database is caught. */
static int connect_db(struct sqlite_store *s, int sync_level, ts_error *err)
{
    int read_only = s->open_flags & TS_OPEN_READ_ONLY;
    int rc = read_only ? sqlite_connect_reader(s)
                       : sqlite3_open_v2(s->path, &s->db,
                                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);

    if (rc != SQLITE_OK)
        return sqlite_db_fail(s, rc, "opening", err);
    s->pid = getpid();
    s->jitter_seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    sqlite3_busy_handler(s->db, sqlite_busy_wait, s);
    /* The journal mode is stored in the file: a reader leaves it alone. */
    if (read_only)
        return TS_OK;
    /* Opened to write, but it cannot be written: say so now rather than
     * fail on the journal mode with "unable to open database file". */
    if (sqlite3_db_readonly(s->db, "main") == 1)
        return s->host->error(err, TS_ERR_IO, "%s is read-only (a read-only filesystem, or no "
                              "permission to write it): it can be opened to read only",
                              s->path);

    /* Changing the journal mode needs the database to itself, and SQLite
     * may answer SQLITE_BUSY at once, without its busy handler, while
     * other processes are opening it too: wait here as the handler would. */
    sqlite3_stmt *stmt;
    int attempts = 0;
    rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &stmt, NULL);
    while (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || !sqlite_busy_wait(s, attempts++))
            break;
        sqlite3_reset(stmt);
        rc = SQLITE_OK;
    }
    if (rc == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(stmt, 0);
        if (!mode || strcmp(mode, "wal") != 0)
            s->host->log(s->ctx, TS_LOG_WARN,
                         "%s: WAL journaling is not available (journal mode %s): "
                         "readers will wait for writers", s->path, mode ? mode : "?");
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        rc = sqlite_db_fail(s, rc, "setting WAL journal mode", err);
    sqlite3_finalize(stmt);
    if (rc != TS_OK)
        return rc;
    rc = sqlite_run_sql(s, sqlite3_mprintf("PRAGMA synchronous=%d", sync_level),
                 "setting synchronous", err);
    /* Zero a deleted or replaced token's old bytes in the page, at no I/O
     * cost, so an old refresh token does not linger in free space. */
    if (rc == TS_OK)
        rc = sqlite_run_sql(s, sqlite3_mprintf("PRAGMA secure_delete=FAST"), "setting secure_delete", err);
    return rc;
}

static int prepare_statements(struct sqlite_store *s, ts_error *err)
{
    const char *t = s->table, *cols = s->columns;
    int rc = TS_OK;

    if (s->no_table)
        return TS_OK;

    /* Several rows may share a secret: the lowest id answers. Ids and user
     * names are one row each. */
    for (size_t i = 0; rc == TS_OK && i < s->nkeys; i++) {
        ts_field f = s->keys[i];
        int shared = f != TS_FIELD_ID && f != TS_FIELD_USER_NAME;
        rc = sqlite_prepare(s, &s->lookup[f],
                     sqlite3_mprintf("SELECT %s FROM \"%w\" WHERE %s = ?1%s LIMIT 1", cols, t,
                                     s->host->field_name(f),
                                     shared ? " ORDER BY CAST(id AS INTEGER)" : ""),
                     err);
    }
    if (rc == TS_OK)
        rc = sqlite_prepare(s, &s->insert, sqlite3_mprintf("INSERT INTO \"%w\" (%s) VALUES "
                                                    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                                                    t, cols), err);
    if (rc == TS_OK)
        rc = sqlite_prepare(s, &s->max_id,
                     sqlite3_mprintf("SELECT max(CAST(id AS INTEGER)) FROM \"%w\"", t), err);
    if (rc == TS_OK)
        rc = sqlite_prepare(s, &s->delete_one,
                     sqlite3_mprintf("DELETE FROM \"%w\" WHERE id = ?1", t), err);
    if (rc == TS_OK)
        rc = sqlite_prepare(s, &s->delete_all, sqlite3_mprintf("DELETE FROM \"%w\"", t), err);
    if (rc == TS_OK)
        rc = sqlite_prepare(s, &s->walk,
                     sqlite3_mprintf("SELECT %s FROM \"%w\" ORDER BY CAST(id AS INTEGER), id",
                                     cols, t), err);
    if (rc == TS_OK)
        rc = sqlite_prepare(s, &s->begin, sqlite3_mprintf("BEGIN IMMEDIATE"), err);
    if (rc == TS_OK)
        rc = sqlite_prepare(s, &s->commit, sqlite3_mprintf("COMMIT"), err);
    if (rc == TS_OK)
        rc = sqlite_prepare(s, &s->rollback, sqlite3_mprintf("ROLLBACK"), err);
    return rc;
}

void sqlite_disconnect(struct sqlite_store *s, int abandon)
{
    sqlite3_stmt **fixed[] = { &s->insert, &s->max_id, &s->delete_one, &s->delete_all,
                               &s->walk, &s->begin, &s->commit, &s->rollback, &s->lock_purge,
                               &s->lock_take, &s->lock_release };

    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        if (!abandon)
            sqlite3_finalize(s->lookup[f]);
        s->lookup[f] = NULL;
    }
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (!abandon)
            sqlite3_finalize(*fixed[i]);
        *fixed[i] = NULL;
    }
    for (unsigned m = 0; m < UPDATE_MASKS; m++) {
        if (!abandon)
            sqlite3_finalize(s->update[m]);
        s->update[m] = NULL;
    }
    for (int i = 0; i < SIDE_STATEMENTS; i++) {
        if (!abandon)
            sqlite3_finalize(s->side[i]);
        s->side[i] = NULL;
    }
    if (!abandon)
        sqlite3_close_v2(s->db);
    s->db = NULL;
}

/* Opens the connection, checks or creates the table and prepares the
 * statements. */
static int open_connection(struct sqlite_store *s, ts_error *err)
{
    int rc = connect_db(s, s->sync_level, err);

    if (rc == TS_OK)
        rc = sqlite_ensure_schema(s, err);
    if (rc == TS_OK)
        rc = prepare_statements(s, err);
    if (rc != TS_OK)
        sqlite_disconnect(s, 0);
    return rc;
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

    if (ts_host_require(host, 4, err) != TS_OK)    /* save_plan, next_id, option_choice */
        return TS_ERR_ABI;
    s = calloc(1, sizeof *s);
    if (!s || !(s->row = host->token_new())) {
        free(s);
        return host->error(err, TS_ERR_NOMEM, "out of memory");
    }
    s->host = host;
    s->ctx = ctx;
    s->keys = host->key_fields(&s->nkeys);
    s->open_flags = ts_host_open_flags(host, ctx);
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        size_t used = strlen(s->columns);
        snprintf(s->columns + used, sizeof s->columns - used, "%s%s", f ? ", " : "",
                 host->field_name((ts_field)f));
    }
    int rc = read_options(s, &mode, &sync_level, err);
    if (rc == TS_OK)
        rc = s->open_flags & TS_OPEN_MUST_EXIST ? check_exists(s, err)
                                                : create_file(s, mode, err);
    if (rc == TS_OK)
        rc = check_side_files(s, err);
    s->sync_level = sync_level;
    if (rc == TS_OK) {
        sqlite_leave_inherited();
        rc = open_connection(s, err);
    }
    if (rc != TS_OK) {
        sqlite_close(s);
        return rc;
    }
    sqlite_list_store(s);
    *state = s;
    return TS_OK;
}

int sqlite_connected(struct sqlite_store *s, ts_error *err)
{
    if (s->db)
        return TS_OK;
    if (s->stranded)
        return s->host->error(err, TS_ERR_UNSUPPORTED, "%s: the process forked while another "
                              "thread was writing through this store: open it again",
                              s->path);
    return open_connection(s, err);
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

/* Before a read on a read-only handle: an immutable connection is opened
 * again once a writer has touched the database (see the top of the file),
 * and one that failed to is tried again. */
int sqlite_reading(struct sqlite_store *s, ts_error *err)
{
    if (s->db && s->immutable && sqlite_immutable_stale(s))
        sqlite_disconnect(s, 0);
    return sqlite_connected(s, err);
}

/* Before a read of the tokens: a handle opened before the table existed
 * also looks for it again. *ready is 0 while the store is empty. */
static int table_ready(struct sqlite_store *s, int *ready, ts_error *err)
{
    int rc;

    if ((rc = sqlite_reading(s, err)) != TS_OK)
        return rc;
    *ready = !s->no_table;
    if (*ready || (rc = sqlite_check_columns(s, ready, err)) != TS_OK || !*ready)
        return rc;
    s->no_table = 0;
    return prepare_statements(s, err);
}

/* The ts_lookup_fn the host's rules call: the row whose `field` is
 * `value`. */
int sqlite_lookup(void *state, ts_field field, const char *value, ts_token *row, ts_error *err)
{
    struct sqlite_store *s = state;
    int ready, rc = table_ready(s, &ready, err);

    if (rc != TS_OK || !ready)
        return rc == TS_OK ? TS_NOT_FOUND : rc;
    sqlite3_stmt *stmt = (unsigned)field < TS_FIELD_COUNT ? s->lookup[field] : NULL;
    if (!stmt)
        return s->host->error(err, TS_ERR_INVALID, "cannot look tokens up by %s",
                              s->host->field_name(field) ? s->host->field_name(field) : "?");
    sqlite3_bind_text(stmt, 1, value, (int)strlen(value), SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        rc = sqlite_read_row(s, stmt, row, err);
    else if (rc == SQLITE_DONE)
        rc = TS_NOT_FOUND;
    else
        rc = sqlite_db_fail(s, rc, "looking up a token", err);
    sqlite3_reset(stmt);
    return rc;
}

static int sqlite_find_token(void *state, const ts_token *query, ts_token *row, ts_error *err)
{
    struct sqlite_store *s = state;

    return s->host->find_by_rule(query, sqlite_lookup, s, row, err);
}

static int sqlite_find_token_by_id(void *state, const char *id, ts_token *row, ts_error *err)
{
    return sqlite_lookup(state, TS_FIELD_ID, id, row, err);
}

static int sqlite_get_tokens(void *state, ts_token_cb cb, void *userdata, ts_error *err)
{
    struct sqlite_store *s = state;
    int ready, rc = table_ready(s, &ready, err), step;

    if (rc != TS_OK || !ready)
        return rc;
    ts_token *token = s->host->token_new();
    if (!token)
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    while ((step = sqlite3_step(s->walk)) == SQLITE_ROW) {
        rc = sqlite_read_row(s, s->walk, token, err);
        if (rc == TS_OK)
            rc = cb(token, userdata);    /* non-zero stops the walk */
        if (rc != TS_OK)
            break;
    }
    if (rc == TS_OK && step != SQLITE_DONE)
        rc = sqlite_db_fail(s, step, "reading the tokens", err);
    sqlite3_reset(s->walk);
    s->host->token_free(token);
    return rc;
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
