/*
 * plugins/sqlite/fork.c - the sqlite backend in a forked child: letting go
 * of the connections the child inherited (the backend's `forked` member),
 * so that its next call opens a connection of its own.
 *
 * Why a child must not use its parent's connection. SQLite locks a
 * database with POSIX record locks, which belong to a process: a child
 * holds none of its parent's. Its copy of a connection still says what it
 * holds, though, and SQLite's unix VFS keeps that once per file for the
 * whole process: every connection a process has to a file shares one
 * record of the locks taken and of the mapped WAL index. A child writing
 * through its copy, or through a second connection to the same file while
 * the copy is open, would skip taking locks it believes it has, and its
 * parent, not seeing them, could checkpoint and delete the WAL under it:
 * saves the child was told were stored would be lost. SQLite's
 * documentation says as much ("How To Corrupt An SQLite Database File",
 * 2.6: a child must open its own connections).
 *
 * Why closing it is safe for the parent. SQLite's own fork test
 * (test/fork-test.c) notes that a child may sqlite3_close() a connection
 * it inherited as long as no write transaction was pending at the fork.
 * Closing then writes nothing: the unlocks it makes release the child's
 * record locks only, and it has none; the checkpoint a last connection
 * makes on closing needs an exclusive lock on the database, which the
 * shared lock every WAL connection holds for as long as it is open
 * refuses while the parent has the database open (and once no process
 * has it open, checkpointing is what should happen). The statements are
 * finalized first, which, for a statement that is not writing, writes
 * nothing either.
 *
 * So in a child, before its first call on any store and before a new
 * store connects, every connection the process inherited is closed, all
 * at once: the per-file record is shared by the connections of every
 * store open on that file. A connection that was inside a write
 * transaction at the fork (another thread of the parent was saving
 * through it) is not closed, since rolling it back would undo the
 * parent's frames in the shared WAL index; it is abandoned, memory and
 * descriptors, and its store answers every call with TS_ERR_UNSUPPORTED.
 * (SQLite 3.48 added SQLITE_FCNTL_NULL_IO for closing such a connection
 * too; the SQLite this is built against may predate it.)
 *
 * The stores are listed for this under a mutex that is held across
 * fork(), so that the child finds the list whole.
 */
#include <pthread.h>
#include <sys/types.h>
#include <unistd.h>
#include <sqlite3.h>
#include <tokenstore/backend.h>
#include "sqlite_store.h"

static pthread_mutex_t stores_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sqlite_store *stores;     /* every open store of this process */
static pid_t inherited_left_in;         /* the process that last let go of them */

static void hold_list(void)
{
    pthread_mutex_lock(&stores_lock);
}

static void release_list(void)
{
    pthread_mutex_unlock(&stores_lock);
}

/* glibc unregisters these when the plugin is unloaded. */
static void watch_forks(void)
{
    pthread_atfork(hold_list, release_list, release_list);
}

void sqlite_list_store(struct sqlite_store *s)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, watch_forks);
    hold_list();
    s->next = stores;
    stores = s;
    release_list();
}

void sqlite_unlist_store(struct sqlite_store *s)
{
    hold_list();
    for (struct sqlite_store **p = &stores; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    release_list();
}

/* Whether the connection was writing when the process forked: inside a
 * transaction (we begin one only to write), or stepping a statement that
 * writes (a delete runs in autocommit mode). */
static int writing(sqlite3 *db)
{
    if (sqlite3_get_autocommit(db) == 0)
        return 1;
    for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st; st = sqlite3_next_stmt(db, st))
        if (sqlite3_stmt_busy(st) && !sqlite3_stmt_readonly(st))
            return 1;
    return 0;
}

/* Closes a connection inherited from the parent, or abandons it when the
 * fork came amid a write (see the top of the file). */
static void let_go(struct sqlite_store *s)
{
    if (writing(s->db)) {
        sqlite_disconnect(s, 1);
        s->stranded = 1;
        return;
    }
    sqlite_disconnect(s, 0);
}

void sqlite_leave_inherited(void)
{
    pid_t self = getpid();

    hold_list();
    if (inherited_left_in != self) {
        for (struct sqlite_store *s = stores; s; s = s->next)
            if (s->db && s->pid != self)
                let_go(s);
        inherited_left_in = self;
    }
    release_list();
}

int sqlite_forked(void *state, ts_error *err)
{
    struct sqlite_store *s = state;

    sqlite_leave_inherited();
    /* The next call connects; a stranded store's says why it cannot. */
    return s->stranded ? sqlite_connected(s, err) : TS_OK;
}
