/*
 * tests/postgres/test_postgres_failover.c - the postgres backend through a
 * failover: a primary (tests/postgres/harness.c's server) and a streaming
 * standby made from it with pg_basebackup -R, the standby synchronous
 * (synchronous_standby_names, synchronous_commit=remote_apply), so that a
 * commit is acknowledged once the standby has it. A store given the
 * standby alone reads there and is refused writes, saying why. A writer process saves through a URI naming both hosts
 * with target_session_attrs=read-write, the primary is killed (SIGKILL to
 * the server and all its processes), the standby promoted, and the
 * writer's saves resume on the new primary on their own: every save the
 * writer was told is stored is there, and every failure in between was
 * TS_ERR_CONNECT, naming what happened.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <tokenstore/tokenstore.h>
#include "../test_store.h"
#include "harness.h"

static char standby_dir[PATH_MAX + 16];
static int standby_port;

/* ------------------------------------------------------------------ */
/* The writer                                                          */
/* ------------------------------------------------------------------ */

/*
 * Saves a new user, then refreshes user hot@x (an update by key, the
 * one-statement save), over and over until SIGTERM, retrying a failed
 * save until it is stored. Reports on `out` one line per acknowledged
 * save, "ack USER ACCESS", and one per failure, "err CODE MESSAGE".
 */
static volatile sig_atomic_t stop_writing;

static void on_term(int sig)
{
    (void)sig;
    stop_writing = 1;
}

static void writer(const char *uri, int out)
{
    ts_store *s = NULL;
    ts_error err = { 0 };
    char user[64], access[64];

    signal(SIGTERM, on_term);
    alarm(200);
    while (!s && !stop_writing)
        if (ts_store_open(&s, uri, &err) != TS_OK) {
            dprintf(out, "err %d %s\n", err.code, err.message);
            s = NULL;
            usleep(100000);
        }
    for (int i = 0; !stop_writing; i++)
        for (int hot = 0; hot < 2 && !stop_writing; hot++) {
            snprintf(user, sizeof user, hot ? "hot@x" : "f%d@x", i);
            snprintf(access, sizeof access, "1000.access.%d", i);
            for (;;) {                      /* until it is stored */
                ts_token *t = make_token(user, "1000.refresh.failover", access);
                int rc = ts_save_token(s, t, &err);
                ts_token_free(t);
                if (rc == TS_OK) {
                    dprintf(out, "ack %s %s\n", user, access);
                    break;
                }
                dprintf(out, "err %d %s\n", rc, err.message);
                if (stop_writing)
                    break;
                usleep(100000);
            }
        }
    ts_store_close(s);
    _exit(0);
}

/* ------------------------------------------------------------------ */

struct tally {
    int acks, errors, bad_errors;
    char users[4096][64];
    char hot_access[64];
    char last_error[640];
};

/* Reads the writer's lines until `acks` acknowledgements (more) came, or
 * `seconds` passed. */
static void read_until(FILE *f, struct tally *t, int acks, double seconds)
{
    struct timespec t0;
    char line[640];

    clock_gettime(CLOCK_MONOTONIC, &t0);
    int want = t->acks + acks;
    while (t->acks < want && seconds_since(&t0) < seconds && fgets(line, sizeof line, f)) {
        char user[64], access[64];
        int code;
        if (sscanf(line, "ack %63s %63s", user, access) == 2) {
            if (strcmp(user, "hot@x") == 0)
                snprintf(t->hot_access, sizeof t->hot_access, "%s", access);
            else if (t->acks < 4096)
                snprintf(t->users[t->acks], sizeof t->users[0], "%s", user);
            t->acks++;
        } else if (sscanf(line, "err %d", &code) == 1) {
            t->errors++;
            t->bad_errors += code != TS_ERR_CONNECT;
            snprintf(t->last_error, sizeof t->last_error, "%s", line);
        }
    }
}

/* A store given the standby alone: it reads, and a write is refused
 * saying the server is a read-only standby and what to give instead; a
 * read-only handle is served. Nothing is written anywhere. */
START_TEST(test_standby_refuses_writes_clearly)
{
    char uri[256];
    ts_error err = { 0 };
    ts_store *s = open_table("direct");

    ck_assert_int_eq(save_user(s, "primary@x"), 1);
    ts_store_close(s);
    snprintf(uri, sizeof uri, "postgresql://app:%s@127.0.0.1:%d/tokens?table=direct",
             APP_PASSWORD, standby_port);
    ck_assert_msg(ts_store_open(&s, uri, &err) == TS_OK, "%s", err.message);
    ck_assert_msg(find_user(s, "primary@x", NULL, &err) == TS_OK, "%s", err.message);
    for (int keyed = 0; keyed < 2; keyed++) {
        ts_token *t = make_token(keyed ? "primary@x" : "new@x", "1000.refresh.standby", "");
        ck_assert_int_eq(ts_save_token(s, t, &err), TS_ERR_CONNECT);
        ck_assert_msg(strstr(err.message, "read-only standby") &&
                      strstr(err.message, "target_session_attrs=read-write"), "%s",
                      err.message);
        ts_token_free(t);
    }
    ts_store_close(s);
    ck_assert_msg(ts_store_open_flags(&s, uri, TS_OPEN_READ_ONLY, &err) == TS_OK, "%s",
                  err.message);
    ck_assert_uint_eq(count_tokens(s), 1);
    ts_store_close(s);
    ck_assert_int_eq(sql_number("SELECT COUNT(*) FROM direct"), 1);
}
END_TEST

START_TEST(test_promoted_standby_takes_the_writes)
{
    char uri[512], q[2 * PATH_MAX], out[256];
    int pipefd[2];
    static struct tally t;

    snprintf(uri, sizeof uri, "postgresql://app:%s@127.0.0.1:%d,127.0.0.1:%d/tokens?"
             "table=failover&target_session_attrs=read-write&connect_timeout=2", APP_PASSWORD,
             server_port, standby_port);
    ck_assert_int_eq(pipe(pipefd), 0);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        close(pipefd[0]);
        writer(uri, pipefd[1]);
    }
    close(pipefd[1]);
    FILE *f = fdopen(pipefd[0], "r");

    read_until(f, &t, 150, 60);
    ck_assert_msg(t.acks >= 150, "%d saves before the failover (%s)", t.acks, t.last_error);
    int before = t.acks, errors_before = t.errors;
    snprintf(q, sizeof q, "kill '%s'", server_dir);
    ck_assert_int_eq(server_sh(q), 0);
    usleep(300000);
    snprintf(q, sizeof q, "promote '%s'", standby_dir);
    ck_assert_int_eq(server_sh(q), 0);
    read_until(f, &t, 150, 90);
    kill(pid, SIGTERM);
    read_until(f, &t, 1 << 20, 30);
    fclose(f);
    int status;
    ck_assert(waitpid(pid, &status, 0) == pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the writer failed");

    ck_assert_msg(t.acks >= before + 150, "%d saves after the failover (%s)", t.acks - before,
                  t.last_error);
    ck_assert_int_eq(errors_before, 0);
    ck_assert_msg(t.errors > 0, "no save failed while there was no primary");
    ck_assert_msg(t.bad_errors == 0, "a failure that is not TS_ERR_CONNECT: %s", t.last_error);
    /* The new primary has every acknowledged save. */
    ck_assert_int_eq(sql_in(standby_dir, "tokens", "SELECT pg_is_in_recovery()", out,
                            sizeof out), 0);
    ck_assert_str_eq(out, "f");
    /* One query for all of them: the acknowledged users not there. */
    static char check[4096 * 20 + 256];
    int users = 0;
    size_t used = (size_t)snprintf(check, sizeof check, "SELECT COUNT(*) FROM unnest(ARRAY["
                                   "''");
    for (int i = 0; i < t.acks && i < 4096; i++)
        if (t.users[i][0]) {
            users++;
            used += (size_t)snprintf(check + used, sizeof check - used, ", '%s'", t.users[i]);
        }
    snprintf(check + used, sizeof check - used, "]) u WHERE u <> '' AND NOT EXISTS (SELECT 1 "
             "FROM failover WHERE user_name = u)");
    ck_assert_int_eq(sql_in(standby_dir, "tokens", check, out, sizeof out), 0);
    ck_assert_msg(users > 100 && strcmp(out, "0") == 0, "%s of %d acknowledged users missing",
                  out, users);
    /* hot@x holds the last access token acknowledged, or a later one. */
    snprintf(q, sizeof q, "SELECT split_part(access_token, '.', 3)::int >= %d FROM failover "
             "WHERE user_name = 'hot@x'", atoi(strrchr(t.hot_access, '.') + 1));
    ck_assert_int_eq(sql_in(standby_dir, "tokens", q, out, sizeof out), 0);
    ck_assert_str_eq(out, "t");
    ck_assert_int_eq(sql_in(standby_dir, "tokens", "SELECT COUNT(*) = COUNT(DISTINCT id) FROM "
                            "failover", out, sizeof out), 0);
    ck_assert_str_eq(out, "t");
}
END_TEST

/* ------------------------------------------------------------------ */

static void stop_standby(void)
{
    char args[PATH_MAX + 32];

    if (!harness_is_owner() || !standby_port)
        return;
    snprintf(args, sizeof args, "stop '%s'", standby_dir);
    server_sh(args);
    standby_port = 0;
}

/* The standby, streaming from the primary, and then made synchronous. */
static int start_standby(void)
{
    char cmd[4 * PATH_MAX], line[32] = "", out[256];

    snprintf(standby_dir, sizeof standby_dir, "%s/standby", server_dir);
    snprintf(cmd, sizeof cmd, "standby '%s' '%s'", server_dir, standby_dir);
    if (server_sh(cmd) != 0)
        return 0;
    snprintf(cmd, sizeof cmd, "sh '%s' start '%s' %s", server_script(), standby_dir,
             server_args);
    FILE *p = popen(cmd, "r");
    if (!p || !fgets(line, sizeof line, p) || pclose(p) != 0 || !(standby_port = atoi(line)))
        return 0;
    atexit(stop_standby);
    if (sql_in(server_dir, "postgres", "ALTER SYSTEM SET synchronous_standby_names = '*'", out,
               sizeof out) != 0 || server_reload() != 0)
        return 0;
    for (int i = 0; i < 300; i++) {
        if (sql_in(server_dir, "postgres", "SELECT COUNT(*) FROM pg_stat_replication WHERE "
                   "sync_state = 'sync' AND state = 'streaming'", out, sizeof out) == 0 &&
            strcmp(out, "1") == 0)
            return 1;
        usleep(100000);
    }
    return 0;
}

static Suite *failover_suite(void)
{
    Suite *s = suite_create("postgres_failover");
    TCase *tc = tcase_create("failover");

    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_standby_refuses_writes_clearly);
    tcase_add_test(tc, test_promoted_standby_takes_the_writes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    /* A commit waits until the synchronous standby has applied it (so a
     * read there sees it); the test's servers run without fsync, which a
     * process kill does not need. */
    server_args = "-c synchronous_commit=remote_apply";
    return harness_run(failover_suite(), NULL, start_standby);
}
