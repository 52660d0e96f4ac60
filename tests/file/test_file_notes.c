/*
 * tests/file/test_file_notes.c - the notes and the log the file backend
 * keeps beside its token file (ABI 1.4's note_set, note_get, log_append,
 * log_walk).
 *
 * The four members have no public API (the OAuth client calls them
 * through the core), so the cases load the backend and call its table
 * (tests/raw_backend.h) on a header-only file; tests/oauth/test_processes.c
 * shows what they are for through the library.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <tokenstore/tokenstore.h>
#include "../check_main.h"
#include "../test_store.h"
#include "../raw_backend.h"

#define HEADER "id,user_name,client_id,client_secret,refresh_token,access_token," \
               "grant_token,expiry_time,redirect_uri,api_domain\r\n"

static char path[512];

/* A header-only token file in the scratch directory. */
static const char *use_file(const char *name)
{
    snprintf(path, sizeof path, "%s/%s", scratch, name);
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    fputs(HEADER, fp);
    ck_assert_int_eq(fclose(fp), 0);
    return path;
}

static char *side(const char *suffix)
{
    static char buf[4][600];
    static int next;
    char *out = buf[next++ % 4];
    snprintf(out, sizeof buf[0], "%s%s", path, suffix);
    return out;
}

/* A file's bytes, NUL-terminated (NULL when there is none). */
static char *slurp(const char *file)
{
    FILE *fp = fopen(file, "rb");
    char *data = NULL;
    size_t len = 0;
    if (!fp)
        return NULL;
    FILE *mem = open_memstream(&data, &len);
    for (int c; (c = fgetc(fp)) != EOF;)
        fputc(c, mem);
    fclose(mem);
    fclose(fp);
    return data;
}

static void spit(const char *file, const char *bytes)
{
    FILE *fp = fopen(file, "wb");
    ck_assert_ptr_nonnull(fp);
    fputs(bytes, fp);
    ck_assert_int_eq(fclose(fp), 0);
}

static int exists(const char *file)
{
    return access(file, F_OK) == 0;
}

/* The scratch directory's names, sorted, in one string. */
static char *listing(void)
{
    struct dirent **names;
    int n = scandir(scratch, &names, NULL, alphasort);
    char *out = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&out, &len);
    for (int i = 0; i < n; i++) {
        fprintf(mem, "%s\n", names[i]->d_name);
        free(names[i]);
    }
    free(names);
    fclose(mem);
    return out;
}

/* ---------------------------------------------------------------- the raw backend */

/* Opens path with TS_OPEN_* flags (the core adds MUST_EXIST to READ_ONLY). */
static void *open_with(const ts_backend *vt, unsigned flags)
{
    return raw_open_path(vt, path, flags);
}

static const ts_backend *notes_vt(void)
{
    return raw_notes_backend("file");
}

/* The log's entries, each followed by "|". */
struct collected {
    char text[65536];
    int calls, stop_at;
};

static int collect_entry(const char *entry, void *ud)
{
    struct collected *c = ud;
    size_t n = strlen(c->text);
    snprintf(c->text + n, sizeof c->text - n, "%s|", entry);
    return ++c->calls == c->stop_at ? 42 : 0;
}

static const char *walk(const ts_backend *vt, void *s)
{
    static struct collected c;
    ts_error err = { 0 };
    memset(&c, 0, sizeof c);
    int rc = vt->log_walk(s, collect_entry, &c, &err);
    ck_assert_msg(rc == TS_OK, "log_walk: %s", err.message);
    return c.text;
}

/* ---------------------------------------------------------------- notes */

/* A value with every byte CSV quotes round-trips, and another handle (a
 * process) reads what one wrote; the token file is left as the SDK
 * wrote it. */
START_TEST(test_notes_are_shared_and_the_token_file_untouched)
{
    static const char value[] = "v1 9f 2 1700000000000 0 1,2,3 'HTTP 500', \"x\"\r\nline 2";
    char out[256];
    use_file("share.csv");
    const ts_backend *vt = notes_vt();
    void *a = open_with(vt, 0), *b = open_with(vt, 0);

    ck_assert_int_eq(raw_note_get(b, "oauth:id:3", out, sizeof out), TS_NOT_FOUND);
    raw_note_set_ok(a, "oauth:id:3", value, 0);
    raw_note_set_ok(a, "oauth:grant:00ff, \"odd\" name", "second", 0);
    ck_assert_int_eq(raw_note_get(b, "oauth:id:3", out, sizeof out), TS_OK);
    ck_assert_str_eq(out, value);
    ck_assert_int_eq(raw_note_get(b, "oauth:grant:00ff, \"odd\" name", out, sizeof out), TS_OK);
    ck_assert_str_eq(out, "second");
    raw_note_set_ok(b, "oauth:id:3", "replaced", 0);
    ck_assert_int_eq(raw_note_get(a, "oauth:id:3", out, sizeof out), TS_OK);
    ck_assert_str_eq(out, "replaced");
    ck_assert_int_eq(raw_note_get(a, "oauth:id", out, sizeof out), TS_NOT_FOUND);

    char *token_file = slurp(path), *notes = slurp(side(".notes"));
    ck_assert_str_eq(token_file, HEADER);
    ck_assert_msg(strncmp(notes, "name,expires,value\r\noauth:id:3,0,replaced\r\n", 42) == 0,
                  "%s", notes);
    free(token_file);
    free(notes);
    raw_close(a);
    raw_close(b);
}
END_TEST

START_TEST(test_note_ttl)
{
    char out[64], *notes;
    use_file("ttl.csv");
    const ts_backend *vt = notes_vt();
    void *s = open_with(vt, 0);

    raw_note_set_ok(s, "long", "stays", 600000);
    raw_note_set_ok(s, "forever", "stays too", 0);
    raw_note_set_ok(s, "short", "gone soon", 1000);
    /* The expiry is the wall clock's, for every process. */
    notes = slurp(side(".notes"));
    char *row = strstr(notes, "\nlong,");
    ck_assert_ptr_nonnull(row);
    long long expires = atoll(row + 6);
    ck_assert_msg(expires > wall_ms() + 500000 && expires <= wall_ms() + 600000, "%lld", expires);
    ck_assert_ptr_nonnull(strstr(notes, "\nforever,0,stays too\r\n"));
    ck_assert_ptr_nonnull(strstr(notes, "\nshort,"));
    free(notes);
    usleep(1100000);
    ck_assert_int_eq(raw_note_get(s, "short", out, sizeof out), TS_NOT_FOUND);
    ck_assert_int_eq(raw_note_get(s, "long", out, sizeof out), TS_OK);
    ck_assert_str_eq(out, "stays");
    ck_assert_int_eq(raw_note_get(s, "forever", out, sizeof out), TS_OK);
    ck_assert_str_eq(out, "stays too");
    /* The next change drops the expired note from the file. */
    raw_note_set_ok(s, "other", "x", 0);
    notes = slurp(side(".notes"));
    ck_assert_ptr_null(strstr(notes, "short"));
    ck_assert_ptr_nonnull(strstr(notes, "\nlong,"));
    free(notes);
    raw_close(s);
}
END_TEST

START_TEST(test_note_removal)
{
    char out[64];
    use_file("remove.csv");
    const ts_backend *vt = notes_vt();
    void *s = open_with(vt, 0);

    raw_note_set_ok(s, "missing", NULL, 0);     /* removing nothing makes nothing */
    ck_assert(!exists(side(".notes")));
    raw_note_set_ok(s, "a", "1", 0);
    raw_note_set_ok(s, "b", "2", 0);
    raw_note_set_ok(s, "a", NULL, 0);
    ck_assert_int_eq(raw_note_get(s, "a", out, sizeof out), TS_NOT_FOUND);
    ck_assert_int_eq(raw_note_get(s, "b", out, sizeof out), TS_OK);
    ck_assert_str_eq(out, "2");
    raw_note_set_ok(s, "b", NULL, 0);
    ck_assert_int_eq(raw_note_get(s, "b", out, sizeof out), TS_NOT_FOUND);
    ck_assert_msg(!exists(side(".notes")), "the last note removed leaves the file behind");
    raw_close(s);
}
END_TEST

START_TEST(test_note_larger_than_the_buffer)
{
    char out[2048], big[1601];
    ts_error err = { 0 };
    use_file("small.csv");
    const ts_backend *vt = notes_vt();
    void *s = open_with(vt, 0);

    raw_note_set_ok(s, "n", "abcdef", 0);
    ck_assert_int_eq(vt->note_get(s, "n", out, 6, &err), TS_ERR_BACKEND);
    ck_assert_msg(strstr(err.message, "small.csv.notes") && strstr(err.message, "note 'n'"),
                  "%s", err.message);
    ck_assert_int_eq(vt->note_get(s, "n", out, 7, &err), TS_OK);
    ck_assert_str_eq(out, "abcdef");
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    raw_note_set_ok(s, "big", big, 0);
    ck_assert_int_eq(vt->note_get(s, "big", out, 1800, &err), TS_OK);
    ck_assert_str_eq(out, big);
    raw_close(s);
}
END_TEST

/* A notes file other hands broke is reported where, and never written
 * over. */
START_TEST(test_broken_notes_file_is_kept)
{
    static const char broken[] = "name,expires,value\r\nok,0,1\r\nbad,soon,2\r\n";
    char out[64], *after;
    ts_error err = { 0 };
    use_file("broken.csv");
    const ts_backend *vt = notes_vt();
    void *s = open_with(vt, 0);

    spit(side(".notes"), broken);
    ck_assert_int_eq(vt->note_get(s, "bad", out, sizeof out, &err), TS_ERR_CORRUPT);
    ck_assert_msg(strstr(err.message, "broken.csv.notes line 3") &&
                  strstr(err.message, "expiry"), "%s", err.message);
    ck_assert_int_eq(vt->note_set(s, "new", "x", 0, &err), TS_ERR_CORRUPT);
    after = slurp(side(".notes"));
    ck_assert_str_eq(after, broken);
    free(after);
    spit(side(".notes"), "id,user_name\r\n");
    ck_assert_int_eq(vt->note_get(s, "x", out, sizeof out, &err), TS_ERR_CORRUPT);
    ck_assert_msg(strstr(err.message, "line 1: not the header"), "%s", err.message);
    raw_close(s);
}
END_TEST

/* Whoever may write the directory could point a side file at any file
 * this process may write: it is refused, never followed. */
START_TEST(test_side_files_are_never_followed)
{
    char victim[600], *kept;
    ts_error err = { 0 };
    use_file("links.csv");
    const ts_backend *vt = notes_vt();
    void *s = open_with(vt, 0);

    snprintf(victim, sizeof victim, "%s/victim", scratch);
    spit(victim, "keep\n");
    ck_assert_int_eq(symlink(victim, side(".notes")), 0);
    ck_assert_int_eq(symlink(victim, side(".refreshes")), 0);
    ck_assert_int_eq(vt->note_set(s, "n", "v", 0, &err), TS_ERR_IO);
    ck_assert_msg(strstr(err.message, "notes file") && strstr(err.message, "symbolic link"),
                  "%s", err.message);
    ck_assert_int_eq(vt->log_append(s, "entry", 10, &err), TS_ERR_IO);
    ck_assert_msg(strstr(err.message, "refresh log") && strstr(err.message, "symbolic link"),
                  "%s", err.message);
    ck_assert_int_ne(vt->log_walk(s, collect_entry, &(struct collected){ 0 }, &err), TS_OK);
    kept = slurp(victim);
    ck_assert_str_eq(kept, "keep\n");
    free(kept);
    raw_close(s);
}
END_TEST

/* The side files take the token file's mode, so whoever may use the store
 * may use them. */
START_TEST(test_side_files_take_the_token_file_mode)
{
    struct stat st;
    use_file("mode.csv");
    ck_assert_int_eq(chmod(path, 0640), 0);
    const ts_backend *vt = notes_vt();
    void *s = open_with(vt, 0);

    raw_note_set_ok(s, "n", "v", 0);
    raw_log_append_ok(s, "e", 10);
    ck_assert_int_eq(stat(side(".notes"), &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0640);
    ck_assert_int_eq(stat(side(".refreshes"), &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0640);
    raw_close(s);
}
END_TEST

/* ---------------------------------------------------------------- the log */

START_TEST(test_log_order_and_stop)
{
    char entry[32];
    struct collected c = { .stop_at = 4 };
    ts_error err = { 0 };
    use_file("order.csv");
    const ts_backend *vt = notes_vt();
    void *s = open_with(vt, 0), *other = open_with(vt, 0);

    ck_assert_str_eq(walk(vt, s), "");
    for (int i = 0; i < 10; i++) {
        snprintf(entry, sizeof entry, "{\"n\":%d}", i);
        raw_log_append_ok(i % 2 ? other : s, entry, 100);
    }
    ck_assert_str_eq(walk(vt, s), "{\"n\":0}|{\"n\":1}|{\"n\":2}|{\"n\":3}|{\"n\":4}|"
                                  "{\"n\":5}|{\"n\":6}|{\"n\":7}|{\"n\":8}|{\"n\":9}|");
    ck_assert_int_eq(vt->log_walk(s, collect_entry, &c, &err), 42);
    ck_assert_int_eq(c.calls, 4);
    ck_assert_str_eq(c.text, "{\"n\":0}|{\"n\":1}|{\"n\":2}|{\"n\":3}|");
    raw_close(s);
    raw_close(other);
}
END_TEST

static int lines_of(const char *file)
{
    char *data = slurp(file);
    int n = 0;
    for (char *p = data; p && *p; p++)
        n += *p == '\n';
    free(data);
    return n;
}

START_TEST(test_log_keeps_the_newest)
{
    char entry[16], want[256];
    use_file("cap.csv");
    const ts_backend *vt = notes_vt();
    void *s = open_with(vt, 0);

    for (int i = 0; i < 10; i++) {
        snprintf(entry, sizeof entry, "e%d", i);
        raw_log_append_ok(s, entry, 3);
        want[0] = '\0';
        for (int j = i >= 2 ? i - 2 : 0; j <= i; j++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "e%d|", j);
        ck_assert_str_eq(walk(vt, s), want);
        ck_assert_int_le(lines_of(side(".refreshes")), 3);
        ck_assert_int_le(lines_of(side(".refreshes.1")), 3);
    }
    /* keep changed: the newest of the new size. */
    raw_log_append_ok(s, "e10", 2);
    ck_assert_str_eq(walk(vt, s), "e9|e10|");
    raw_log_append_ok(s, "e11", 4);
    raw_log_append_ok(s, "e12", 4);
    ck_assert_str_eq(walk(vt, s), "e9|e10|e11|e12|");
    raw_log_append_ok(s, "e13", 4);
    ck_assert_str_eq(walk(vt, s), "e10|e11|e12|e13|");
    raw_log_append_ok(s, "e14", 1);
    ck_assert_str_eq(walk(vt, s), "e14|");
    raw_log_append_ok(s, "e15", 1);
    ck_assert_str_eq(walk(vt, s), "e15|");
    /* keep 0 keeps none. */
    raw_log_append_ok(s, "e16", 0);
    ck_assert_str_eq(walk(vt, s), "");
    ck_assert(!exists(side(".refreshes")) && !exists(side(".refreshes.1")));
    raw_close(s);
}
END_TEST

/* A line a crash left half written is not an entry, and the next append
 * cuts it off. */
START_TEST(test_log_line_cut_short)
{
    char *data;
    use_file("cut.csv");
    const ts_backend *vt = notes_vt();
    void *s = open_with(vt, 0);

    raw_log_append_ok(s, "a", 10);
    raw_log_append_ok(s, "b", 10);
    FILE *fp = fopen(side(".refreshes"), "ab");
    fputs("{\"half", fp);
    fclose(fp);
    ck_assert_str_eq(walk(vt, s), "a|b|");
    raw_log_append_ok(s, "c", 10);
    ck_assert_str_eq(walk(vt, s), "a|b|c|");
    data = slurp(side(".refreshes"));
    ck_assert_str_eq(data, "a\nb\nc\n");
    free(data);
    raw_close(s);
}
END_TEST

START_TEST(test_log_entry_is_one_line)
{
    ts_error err = { 0 };
    use_file("lines.csv");
    const ts_backend *vt = notes_vt();
    void *s = open_with(vt, 0);

    raw_log_append_ok(s, "first", 10);
    ck_assert_int_eq(vt->log_append(s, "two\nlines", 10, &err), TS_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "lines.csv.refreshes") && strstr(err.message, "line feed"),
                  "%s", err.message);
    ck_assert_str_eq(walk(vt, s), "first|");
    raw_close(s);
}
END_TEST

/* ---------------------------------------------------------------- read-only */

/* A reader of a store never written (no lock file, no side files) finds
 * no note and an empty log, and creates nothing; then it reads what a
 * writer leaves. */
START_TEST(test_reader_creates_nothing)
{
    char out[64], *before, *after;
    use_file("ro.csv");
    const ts_backend *vt = notes_vt();
    before = listing();

    void *r = open_with(vt, TS_OPEN_READ_ONLY | TS_OPEN_MUST_EXIST);
    ck_assert_int_eq(raw_note_get(r, "oauth:id:1", out, sizeof out), TS_NOT_FOUND);
    ck_assert_str_eq(walk(vt, r), "");
    after = listing();
    ck_assert_str_eq(after, before);
    free(after);

    void *w = open_with(vt, 0);
    raw_note_set_ok(w, "oauth:id:1", "v1", 0);
    raw_log_append_ok(w, "entry", 10);
    raw_close(w);
    ck_assert_int_eq(raw_note_get(r, "oauth:id:1", out, sizeof out), TS_OK);
    ck_assert_str_eq(out, "v1");
    ck_assert_str_eq(walk(vt, r), "entry|");
    raw_close(r);

    /* Through the library: the log of a store opened to read it. */
    char uri[600];
    ts_store *st;
    ts_error err = { 0 };
    struct collected c = { 0 };
    snprintf(uri, sizeof uri, "file:%s", path);
    ck_assert_int_eq(unlink(side(".lock")), 0);
    free(before);
    before = listing();
    ck_assert_msg(ts_store_open_flags(&st, uri, TS_OPEN_READ_ONLY, &err) == TS_OK, "%s",
                  err.message);
    ck_assert_int_eq(ts_oauth_refresh_log(st, collect_entry, &c, &err), TS_OK);
    ck_assert_str_eq(c.text, "entry|");
    ts_store_close(st);
    after = listing();
    ck_assert_str_eq(after, before);
    free(before);
    free(after);
}
END_TEST

/* ---------------------------------------------------------------- processes */

#define APPENDS 300

/* Two processes append at once, each to a handle of its own: every entry
 * whole, each process's in its order, none lost but the oldest beyond
 * the cap. */
static int append_entries(int k, void *keep)
{
    const ts_backend *vt = notes_vt();
    void *s = open_with(vt, 0);
    char entry[128];
    ts_error err;

    for (int i = 0; i < APPENDS; i++) {
        snprintf(entry, sizeof entry, "{\"worker\":%d,\"n\":%d,\"pad\":\"%040d\"}", k, i, i);
        if (vt->log_append(s, entry, *(const size_t *)keep, &err) != TS_OK)
            return 1;
    }
    raw_close(s);
    return 0;
}

static void appenders(const char *name, size_t keep)
{
    use_file(name);
    const ts_backend *vt = notes_vt();

    run_processes(2, append_entries, &keep, NULL);
    void *s = open_with(vt, 0);
    const char *all = walk(vt, s);
    int next[2] = { -1, -1 }, total = 0;
    for (const char *p = all; *p; p = strchr(p, '|') + 1) {
        int k, n, pad, used = 0;
        ck_assert_msg(sscanf(p, "{\"worker\":%d,\"n\":%d,\"pad\":\"%d\"}|%n", &k, &n, &pad,
                             &used) == 3 && used > 0 && (k == 0 || k == 1) && pad == n,
                      "a broken entry: %.80s", p);
        ck_assert_msg(next[k] < 0 || n == next[k], "worker %d: entry %d after %d", k, n,
                      next[k] - 1);
        next[k] = n + 1;
        total++;
    }
    ck_assert_int_eq(total, 2 * APPENDS < (int)keep ? 2 * APPENDS : (int)keep);
    /* What is gone is the oldest: a worker with any entry left has its
     * newest there (one that finished before the other began may have
     * none left past the cap), and the last to append has its own. */
    ck_assert_msg(next[0] < 0 || next[0] == APPENDS, "worker 0 ends at %d", next[0] - 1);
    ck_assert_msg(next[1] < 0 || next[1] == APPENDS, "worker 1 ends at %d", next[1] - 1);
    ck_assert(next[0] == APPENDS || next[1] == APPENDS);
    raw_close(s);
}

START_TEST(test_two_processes_append)
{
    appenders("append.csv", 1000);
}
END_TEST

START_TEST(test_two_processes_append_past_the_cap)
{
    appenders("append-cap.csv", 250);
}
END_TEST

/* Two processes set notes at once: no change is lost to the other's
 * rewrite of the file. */
static int set_notes(int k, void *unused)
{
    const ts_backend *vt = notes_vt();
    void *s = open_with(vt, 0);
    char name[32];
    ts_error err;

    (void)unused;
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "w%d-%d", k, i);
        if (vt->note_set(s, name, name, 0, &err) != TS_OK)
            return 1;
    }
    raw_close(s);
    return 0;
}

START_TEST(test_two_processes_set_notes)
{
    char name[32], out[32];
    use_file("notes-race.csv");
    const ts_backend *vt = notes_vt();

    run_processes(2, set_notes, NULL, NULL);
    void *s = open_with(vt, 0);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 40; i++) {
            snprintf(name, sizeof name, "w%d-%d", k, i);
            ck_assert_msg(raw_note_get(s, name, out, sizeof out) == TS_OK, "%s is lost", name);
            ck_assert_str_eq(out, name);
        }
    raw_close(s);
}
END_TEST

/* A handle followed into a child (as the core does: forked first). */
START_TEST(test_child_of_a_fork)
{
    char out[32];
    int status;
    use_file("fork.csv");
    const ts_backend *vt = notes_vt();
    void *s = open_with(vt, 0);

    raw_log_append_ok(s, "parent before", 10);
    raw_note_set_ok(s, "parent", "p", 0);
    pid_t pid = fork();
    if (pid == 0) {
        ts_error err;
        int ok = vt->forked(s, &err) == TS_OK && vt->log_append(s, "child", 10, &err) == TS_OK &&
                 vt->note_set(s, "child", "c", 0, &err) == TS_OK &&
                 vt->note_get(s, "parent", out, sizeof out, &err) == TS_OK;
        _exit(ok ? 0 : 1);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(status, 0);
    raw_log_append_ok(s, "parent after", 10);
    ck_assert_str_eq(walk(vt, s), "parent before|child|parent after|");
    ck_assert_int_eq(raw_note_get(s, "child", out, sizeof out), TS_OK);
    ck_assert_str_eq(out, "c");
    raw_close(s);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("file notes");
    TCase *tc = tcase_create("notes");

    tcase_add_unchecked_fixture(tc, make_scratch, remove_scratch);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_notes_are_shared_and_the_token_file_untouched);
    tcase_add_test(tc, test_note_ttl);
    tcase_add_test(tc, test_note_removal);
    tcase_add_test(tc, test_note_larger_than_the_buffer);
    tcase_add_test(tc, test_broken_notes_file_is_kept);
    tcase_add_test(tc, test_side_files_are_never_followed);
    tcase_add_test(tc, test_side_files_take_the_token_file_mode);
    tcase_add_test(tc, test_log_order_and_stop);
    tcase_add_test(tc, test_log_keeps_the_newest);
    tcase_add_test(tc, test_log_line_cut_short);
    tcase_add_test(tc, test_log_entry_is_one_line);
    tcase_add_test(tc, test_reader_creates_nothing);
    tcase_add_test(tc, test_two_processes_append);
    tcase_add_test(tc, test_two_processes_append_past_the_cap);
    tcase_add_test(tc, test_two_processes_set_notes);
    tcase_add_test(tc, test_child_of_a_fork);
    suite_add_tcase(suite, tc);
    return run_suite(suite);
}
