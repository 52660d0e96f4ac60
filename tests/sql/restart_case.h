/*
 * tests/sql/restart_case.h - the case of a server that restarts, or is
 * down, that the mysql and postgres backends share, against a real server
 * of the program's own: a read and a save by key replay on a new
 * connection, a delete is not replayed (the closed connection is noticed
 * before it is sent), a store on a server that is down says which and
 * why, and works again once it is back.
 *
 * The including test includes its harness.h first and defines
 * down_said(err, opening): asserts that err, from a call on a store
 * (opening 0) or from an open (opening 1) while the server is down,
 * names the server and says the connection was refused.
 */
#ifndef TS_TEST_SQL_RESTART_CASE_H
#define TS_TEST_SQL_RESTART_CASE_H

#include <check.h>
#include <tokenstore/tokenstore.h>
#include "../test_store.h"

START_TEST(test_server_restart)
{
    ts_error err = { 0 };
    ts_store *s = open_table("restart");

    ck_assert_int_eq(save_user(s, "r1@x"), 1);
    ck_assert_int_eq(save_user(s, "r2@x"), 2);
    ck_assert_int_eq(server_restart(NULL), server_port);
    /* A read replays on a new connection. */
    ck_assert_msg(find_user(s, "r1@x", NULL, &err) == TS_OK, "%s", err.message);
    /* A save by key replays too. */
    ck_assert_int_eq(server_restart(NULL), server_port);
    ts_token *t = make_token("r1@x", "1000.refresh.again", "1000.access.again");
    save_ok(s, t);
    ck_assert_str_eq(ts_token_get(t, TS_FIELD_ID), "1");
    ts_token_free(t);
    /* A delete must not be replayed: the closed connection is noticed
     * before it is sent. */
    ck_assert_int_eq(server_restart(NULL), server_port);
    ck_assert_msg(ts_delete_token(s, "2", &err) == TS_OK, "%s", err.message);
    ck_assert_int_eq(save_user(s, "r3@x"), 2);

    /* Down: an error naming the server and the reason; back: works. */
    server_stop();
    ck_assert_int_eq(find_user(s, "r1@x", NULL, &err), TS_ERR_CONNECT);
    down_said(&err, 0);
    const char *opts[] = { "table", "restart", NULL };
    ck_assert_ptr_null(open_with(opts, &err));
    ck_assert_int_eq(err.code, TS_ERR_CONNECT);
    down_said(&err, 1);
    ck_assert_int_eq(server_start(server_port, NULL), server_port);
    ck_assert_int_eq(find_user(s, "r3@x", NULL, &err), TS_OK);
    ck_assert_uint_eq(count_tokens(s), 2);
    ts_store_close(s);
}
END_TEST

#endif
