/*
 * cli/conformance_rules.c - the conformance checks of the SDK's rules:
 * the lookup keys and their order, find_token filling only empty fields,
 * numeric ids, save_token's upsert and what it refuses, one row per user,
 * deletes, the walk's order and byte-exact values.
 * conformance.c runs them.
 */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conformance_checks.h"

static int check_empty_store(check_state *st)
{
    EXPECT_RC(TS_OK, ts_delete_tokens(st->store, &st->last));
    EXPECT(conf_count(st) == 0, "an emptied store lists %zu tokens", conf_count(st));
    ts_token *q = conf_tok("user_name", "nobody@example.com", NULL);
    int rc = ts_find_token(st->store, q, &st->last);
    ts_token_free(q);
    EXPECT(rc == TS_NOT_FOUND, "find_token on an empty store returned '%s'", ts_strerror(rc));
    return 0;
}

static int check_insert_ids(check_state *st)
{
    uint64_t a, b, c;
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(1), &a));
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(2), &b));
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(3), &c));
    EXPECT(a > 0 && b == a + 1 && c == b + 1,
           "ids of three inserts are %" PRIu64 ", %" PRIu64 ", %" PRIu64 ", not consecutive",
           a, b, c);
    EXPECT(conf_count(st) == 3, "3 inserts, %zu tokens listed", conf_count(st));
    return 0;
}

static int check_numeric_ids(check_state *st)
{
    uint64_t id = 0;
    for (unsigned i = 1; i <= 12; i++) {
        ts_token *t = conf_user_token(i);
        char buf[8];
        snprintf(buf, sizeof buf, "%u", i);
        ts_token_set(t, TS_FIELD_ID, buf);
        EXPECT_RC(TS_OK, conf_save(st, t, &id));
        EXPECT(id == i, "explicit id %u stored as %" PRIu64, i, id);
    }
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(13), &id));
    EXPECT(id == 13, "after ids 1..12 the next id is %" PRIu64 ", not 13 (compared as text?)", id);
    ts_token *t = conf_user_token(14);
    ts_token_set(t, TS_FIELD_ID, "500");
    EXPECT_RC(TS_OK, conf_save(st, t, &id));
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(15), &id));
    EXPECT(id == 501, "after explicit id 500 the next id is %" PRIu64 ", not 501", id);
    return 0;
}

static int check_find_by_user_fills_all(check_state *st)
{
    uint64_t id;
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(7), &id));
    ts_token *q = conf_tok("user_name", "user7@example.com", NULL);
    EXPECT_RC(TS_OK, ts_find_token(st->store, q, &st->last));
    ts_token *want = conf_user_token(7);
    for (int f = 1; f < TS_FIELD_COUNT; f++)
        EXPECT_SAME(ts_field_name(f), ts_token_get(q, f), ts_token_get(want, f));
    EXPECT(conf_id_of(q) == id, "find_token gave id %" PRIu64 ", stored %" PRIu64, conf_id_of(q),
           id);
    ts_token_free(want);
    ts_token_free(q);
    return 0;
}

static int check_find_fills_only_empty(check_state *st)
{
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(1), NULL));
    ts_token *q = conf_tok("user_name", "user1@example.com", "redirect_url",
                           "https://mine.example/cb",
                           "api_domain", "https://other.example", NULL);
    EXPECT_RC(TS_OK, ts_find_token(st->store, q, &st->last));
    EXPECT_SAME("redirect_url (set by the caller)", conf_get(q, "redirect_url"),
                "https://mine.example/cb");
    EXPECT_SAME("api_domain (set by the caller)", conf_get(q, "api_domain"),
                "https://other.example");
    EXPECT_SAME("refresh_token (empty in the query)", conf_get(q, "refresh_token"),
                "1000.refresh.1");
    ts_token_free(q);
    return 0;
}

static int check_user_beats_access(check_state *st)
{
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(1), NULL));
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(2), NULL));
    /* user 1's name with user 2's access token: the name wins. */
    ts_token *q = conf_tok("user_name", "user1@example.com", "access_token", "1000.access.2", NULL);
    EXPECT_RC(TS_OK, ts_find_token(st->store, q, &st->last));
    EXPECT_SAME("refresh_token", conf_get(q, "refresh_token"), "1000.refresh.1");
    ts_token_free(q);
    return 0;
}

static int check_access_token_key(check_state *st)
{
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(1), NULL));
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(2), NULL));
    ts_token *q = conf_tok("access_token", "1000.access.2", NULL);
    EXPECT_RC(TS_OK, ts_find_token(st->store, q, &st->last));
    EXPECT_SAME("user_name", conf_get(q, "user_name"), "user2@example.com");
    ts_token_free(q);
    /* With a client id the access token is no key, and there is no other. */
    q = conf_tok("access_token", "1000.access.2", "client_id", "1000.CLIENT", NULL);
    int rc = ts_find_token(st->store, q, &st->last);
    ts_token_free(q);
    EXPECT(rc == TS_ERR_INVALID,
           "access_token with client_id and nothing else returned '%s', expected no key",
           ts_strerror(rc));
    return 0;
}

static int check_grant_then_refresh_key(check_state *st)
{
    ts_token *t = conf_user_token(1);
    ts_token_set(t, TS_FIELD_USER_NAME, NULL);
    ts_token_set(t, TS_FIELD_GRANT_TOKEN, "1000.grant.1");
    EXPECT_RC(TS_OK, conf_save(st, t, NULL));
    t = conf_user_token(2);
    ts_token_set(t, TS_FIELD_USER_NAME, NULL);
    EXPECT_RC(TS_OK, conf_save(st, t, NULL));

    ts_token *q = conf_tok("grant_token", "1000.grant.1", "client_id", "1000.CLIENT",
                           "client_secret", "s3cret", NULL);
    EXPECT_RC(TS_OK, ts_find_token(st->store, q, &st->last));
    EXPECT_SAME("refresh_token found by grant_token", conf_get(q, "refresh_token"),
                "1000.refresh.1");
    ts_token_free(q);
    /* An unknown grant token falls back to the refresh token. */
    q = conf_tok("grant_token", "1000.grant.unknown", "refresh_token", "1000.refresh.2",
                 "client_id", "1000.CLIENT", "client_secret", "s3cret", NULL);
    EXPECT_RC(TS_OK, ts_find_token(st->store, q, &st->last));
    EXPECT_SAME("access_token found by refresh_token", conf_get(q, "access_token"),
                "1000.access.2");
    ts_token_free(q);
    /* Grant and refresh tokens are keys only with both client credentials. */
    q = conf_tok("refresh_token", "1000.refresh.2", "client_id", "1000.CLIENT", NULL);
    int rc = ts_find_token(st->store, q, &st->last);
    ts_token_free(q);
    EXPECT(rc == TS_ERR_INVALID, "refresh_token without client_secret returned '%s'",
           ts_strerror(rc));
    return 0;
}

/* The SDK takes the first row of its file that matches; its files are in
 * id order, so the lowest id answers: among rows sharing a secret, and
 * when the grant and the refresh token match different rows. */
static int check_lowest_id_answers(check_state *st)
{
    static const char *const rows[][4] = {
        /* id, user_name, refresh_token, grant_token; saved in this order */
        { "7", "seven@example.com", "1000.refresh.7", "" },
        { "3", "three@example.com", "1000.refresh.3", "1000.grant.3" },
        { "2", "two@example.com", "1000.refresh.2", "" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        ts_token *t = conf_tok("id", rows[i][0], "user_name", rows[i][1], "client_id",
                               "1000.CLIENT", "client_secret", "s3cret", "refresh_token",
                               rows[i][2], "grant_token", rows[i][3], "access_token",
                               "1000.access.shared", NULL);
        EXPECT_RC(TS_OK, conf_save(st, t, NULL));
    }
    const char *want[] = { "2", "3", "7" };
    for (int round = 0; round < 3; round++) {
        ts_token *q = conf_tok("access_token", "1000.access.shared", NULL);
        EXPECT_RC(TS_OK, ts_find_token(st->store, q, &st->last));
        EXPECT(strcmp(conf_get(q, "id"), want[round]) == 0,
               "three rows share an access token; with the lower ones deleted %d, id %s "
               "answered, not %s", round, conf_get(q, "id"), want[round]);
        ts_token_free(q);
        EXPECT_RC(TS_OK, ts_delete_token(st->store, want[round], &st->last));
    }
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        ts_token *t = conf_tok("id", rows[i][0], "user_name", rows[i][1], "client_id",
                               "1000.CLIENT", "client_secret", "s3cret", "refresh_token",
                               rows[i][2], "grant_token", rows[i][3], NULL);
        EXPECT_RC(TS_OK, conf_save(st, t, NULL));
    }
    /* Grant token of id 3, refresh token of id 2 (or 7): the lower id. */
    static const char *const pairs[][3] = {
        { "1000.grant.3", "1000.refresh.2", "2" },
        { "1000.grant.3", "1000.refresh.7", "3" },
    };
    for (size_t i = 0; i < 2; i++) {
        ts_token *q = conf_tok("grant_token", pairs[i][0], "refresh_token", pairs[i][1],
                               "client_id", "1000.CLIENT", "client_secret", "s3cret", NULL);
        EXPECT_RC(TS_OK, ts_find_token(st->store, q, &st->last));
        EXPECT(strcmp(conf_get(q, "id"), pairs[i][2]) == 0,
               "grant_token of id 3 and refresh_token of another id found id %s, not %s",
               conf_get(q, "id"), pairs[i][2]);
        ts_token_free(q);
    }
    /* A save by those keys replaces the lower id too. */
    EXPECT_RC(TS_OK, conf_save(st, conf_tok("grant_token", "1000.grant.3", "refresh_token",
                                            "1000.refresh.2", "client_id", "1000.CLIENT",
                                            "client_secret", "s3cret", "access_token",
                                            "1000.access.new", NULL), NULL));
    ts_token *two = conf_by_id(st, 2), *three = conf_by_id(st, 3);
    int ok = two && three && strcmp(conf_get(two, "access_token"), "1000.access.new") == 0 &&
             !*conf_get(three, "access_token");
    ts_token_free(two);
    ts_token_free(three);
    EXPECT(ok, "a save matching id 3 by grant_token and id 2 by refresh_token did not "
               "update id 2 alone");
    return 0;
}

/* Users 3 and 7, each with a refresh token; only grant_on has a grant. */
static int save_two_users(check_state *st, const char *grant_on)
{
    static const char *const ids[] = { "3", "7" };
    for (int i = 0; i < 2; i++) {
        char user[32], refresh[32], grant[32];
        snprintf(user, sizeof user, "user%s@example.com", ids[i]);
        snprintf(refresh, sizeof refresh, "1000.refresh.%s", ids[i]);
        snprintf(grant, sizeof grant, "1000.grant.%s", ids[i]);
        ts_token *t = conf_tok("id", ids[i], "user_name", user, "client_id", "C",
                               "client_secret", "S", "refresh_token", refresh, "grant_token",
                               strcmp(ids[i], grant_on) == 0 ? grant : "", NULL);
        EXPECT_RC(TS_OK, conf_save(st, t, NULL));
    }
    return 0;
}

/* A save whose grant token is one row's and refresh token another's
 * lands on the row find_token answers with (the lower id), and only
 * there: the other user keeps their row, whichever key found the lower
 * one and whichever was looked up last. */
static int check_two_keys_two_rows(check_state *st)
{
    /* grant on the lower id, refresh on the higher; then the mirror */
    static const char *const cases[][2] = { { "3", "7" }, { "7", "3" } };
    for (int c = 0; c < 2; c++) {
        char grant[32], refresh[32];
        EXPECT_RC(TS_OK, ts_delete_tokens(st->store, &st->last));
        if (save_two_users(st, cases[c][0]))
            return 1;
        snprintf(grant, sizeof grant, "1000.grant.%s", cases[c][0]);
        snprintf(refresh, sizeof refresh, "1000.refresh.%s", cases[c][1]);
        ts_token *q = conf_tok("client_id", "C", "client_secret", "S", "grant_token", grant,
                               "refresh_token", refresh, NULL);
        EXPECT_RC(TS_OK, ts_find_token(st->store, q, &st->last));
        EXPECT(strcmp(conf_get(q, "id"), "3") == 0 &&
               strcmp(conf_get(q, "user_name"), "user3@example.com") == 0,
               "grant_token of id %s and refresh_token of id %s: find answered id %s (%s), "
               "not 3", cases[c][0], cases[c][1], conf_get(q, "id"), conf_get(q, "user_name"));
        ts_token_free(q);
        uint64_t id;
        EXPECT_RC(TS_OK, conf_save(st, conf_tok("client_id", "C", "client_secret", "S",
                                                "grant_token",
                                                grant, "refresh_token", refresh, "access_token",
                                                "1000.access.new", NULL), &id));
        EXPECT(id == 3, "the save by grant_token of id %s and refresh_token of id %s "
               "returned id %" PRIu64 ", not 3", cases[c][0], cases[c][1], id);
        ts_token *three = conf_by_id(st, 3), *seven = conf_by_id(st, 7);
        int ok = three && seven && conf_count(st) == 2 &&
                 strcmp(conf_get(three, "user_name"), "user3@example.com") == 0 &&
                 strcmp(conf_get(three, "access_token"), "1000.access.new") == 0 &&
                 strcmp(conf_get(seven, "user_name"), "user7@example.com") == 0 &&
                 strcmp(conf_get(seven, "refresh_token"), "1000.refresh.7") == 0 &&
                 !*conf_get(seven, "access_token");
        char why[256];
        snprintf(why, sizeof why, "id 3 is %s with access %s, id 7 is %s with access %s",
                 three ? conf_get(three, "user_name") : "(gone)",
                 three ? (*conf_get(three, "access_token") ? "set" : "empty") : "-",
                 seven ? conf_get(seven, "user_name") : "(gone)",
                 seven ? (*conf_get(seven, "access_token") ? "set" : "empty") : "-");
        ts_token_free(three);
        ts_token_free(seven);
        EXPECT(ok, "grant_token of id %s and refresh_token of id %s: the save must change "
               "id 3 alone, but %s", cases[c][0], cases[c][1], why);
    }
    return 0;
}

static int check_no_key_and_not_found(check_state *st)
{
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(1), NULL));
    ts_token *q = conf_tok("client_id", "1000.CLIENT", "api_domain", "x", NULL);
    int rc = ts_find_token(st->store, q, &st->last);
    EXPECT(rc == TS_ERR_INVALID && st->last.message[0],
           "a query without a key returned '%s' (never 'the first row')", ts_strerror(rc));
    ts_token_free(q);
    q = conf_tok("user_name", "stranger@example.com", NULL);
    EXPECT_RC(TS_NOT_FOUND, ts_find_token(st->store, q, &st->last));
    EXPECT(!*conf_get(q, "refresh_token") && !*conf_get(q, "id"),
           "a miss filled fields of the query");
    ts_token_free(q);
    return 0;
}

static int check_save_by_id(check_state *st)
{
    uint64_t id, id2;
    char buf[24];
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(1), &id));
    snprintf(buf, sizeof buf, "%" PRIu64, id);
    ts_token *t = conf_tok("id", buf, "access_token", "1000.access.new", "expiry_time", "1", NULL);
    EXPECT_RC(TS_OK, conf_save(st, t, &id2));
    EXPECT(id2 == id, "save by id %" PRIu64 " gave id %" PRIu64, id, id2);
    EXPECT(conf_count(st) == 1, "save by id added a row (%zu tokens)", conf_count(st));
    ts_token *got = conf_by_id(st, id);
    EXPECT(got, "token %" PRIu64 " vanished after an update", id);
    EXPECT_SAME("updated access_token", conf_get(got, "access_token"), "1000.access.new");
    EXPECT_SAME("updated expiry_time", conf_get(got, "expiry_time"), "1");
    EXPECT_SAME("kept user_name", conf_get(got, "user_name"), "user1@example.com");
    EXPECT_SAME("kept refresh_token", conf_get(got, "refresh_token"), "1000.refresh.1");
    ts_token_free(got);
    return 0;
}

static int check_save_by_key_merges(check_state *st)
{
    uint64_t id, id2;
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(1), &id));
    ts_token *t = conf_tok("user_name", "user1@example.com", "access_token", "1000.access.2nd",
                           NULL);
    EXPECT_RC(TS_OK, ts_save_token(st->store, t, &st->last));
    id2 = conf_id_of(t);
    EXPECT(id2 == id, "saving an existing user gave id %" PRIu64 ", not %" PRIu64, id2, id);
    EXPECT_SAME("client_id filled into the saved token", conf_get(t, "client_id"), "1000.CLIENT");
    ts_token_free(t);
    EXPECT(conf_count(st) == 1, "one user has %zu rows", conf_count(st));
    ts_token *got = conf_by_id(st, id);
    EXPECT(got, "token vanished");
    EXPECT_SAME("access_token", conf_get(got, "access_token"), "1000.access.2nd");
    EXPECT_SAME("refresh_token kept from the old row", conf_get(got, "refresh_token"),
                "1000.refresh.1");
    ts_token_free(got);
    return 0;
}

static int check_one_row_per_user(check_state *st)
{
    for (int i = 0; i < 5; i++) {
        char refresh[32];
        snprintf(refresh, sizeof refresh, "1000.r.%d", i);
        EXPECT_RC(TS_OK, conf_save(st, conf_tok("user_name", "same@example.com", "refresh_token",
                                                refresh,
                                                NULL), NULL));
    }
    EXPECT(conf_count(st) == 1, "five saves of one user left %zu rows", conf_count(st));
    ts_token *q = conf_tok("user_name", "same@example.com", NULL);
    EXPECT_RC(TS_OK, ts_find_token(st->store, q, &st->last));
    EXPECT_SAME("the last save wins", conf_get(q, "refresh_token"), "1000.r.4");
    ts_token_free(q);
    return 0;
}

/* As the SDK: a new row needs a refresh, grant or access token, through
 * save_token and save_tokens alike. */
static int check_refuses_empty_token(check_state *st)
{
    int rc = conf_save(st, conf_tok("user_name", "empty@example.com", "client_id", "x", NULL),
                       NULL);
    EXPECT(rc == TS_ERR_INVALID, "a new token without refresh/grant/access token: '%s'",
           ts_strerror(rc));
    rc = conf_save(st, conf_tok("id", "77", "client_id", "x", NULL), NULL);
    EXPECT(rc == TS_ERR_INVALID, "a token with a new id and no refresh/grant/access token: "
           "'%s'", ts_strerror(rc));
    ts_token *t = conf_tok("user_name", "empty@example.com", "expiry_time", "1", NULL);
    rc = ts_save_tokens(st->store, &t, 1, &st->last);
    ts_token_free(t);
    EXPECT(rc == TS_ERR_INVALID, "save_tokens of a new token without refresh/grant/access "
           "token: '%s'", ts_strerror(rc));
    EXPECT(conf_count(st) == 0, "a refused token was stored");
    return 0;
}

/* ... but an update may leave all three out: the merge keeps the stored
 * ones, by user name, by id, and in save_tokens. */
static int check_update_without_secrets(check_state *st)
{
    uint64_t id, got;
    char buf[24];

    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(1), &id));
    ts_token *t = conf_tok("user_name", "user1@example.com", "expiry_time", "1900000000000", NULL);
    int rc = ts_save_token(st->store, t, &st->last);
    got = rc == TS_OK ? conf_id_of(t) : 0;
    EXPECT(rc == TS_OK, "updating a user without refresh/grant/access token: '%s' (%s)",
           ts_strerror(rc), st->last.message);
    EXPECT(got == id, "the update went to id %" PRIu64 ", not %" PRIu64, got, id);
    EXPECT_SAME("refresh_token merged into the caller's token", conf_get(t, "refresh_token"),
                "1000.refresh.1");
    ts_token_free(t);
    snprintf(buf, sizeof buf, "%" PRIu64, id);
    t = conf_tok("id", buf, "redirect_url", "https://example.com/new", NULL);
    rc = ts_save_tokens(st->store, &t, 1, &st->last);
    ts_token_free(t);
    EXPECT(rc == TS_OK, "save_tokens updating id %s without secrets: '%s' (%s)", buf,
           ts_strerror(rc), st->last.message);
    ts_token *row = conf_by_id(st, id);
    EXPECT(row, "token %s vanished", buf);
    int same = strcmp(conf_get(row, "refresh_token"), "1000.refresh.1") == 0 &&
               strcmp(conf_get(row, "access_token"), "1000.access.1") == 0 &&
               strcmp(conf_get(row, "client_secret"), "s3cret") == 0 &&
               strcmp(conf_get(row, "expiry_time"), "1900000000000") == 0 &&
               strcmp(conf_get(row, "redirect_url"), "https://example.com/new") == 0;
    ts_token_free(row);
    EXPECT(same, "updates without secrets lost a stored secret or a new value");
    EXPECT(conf_count(st) == 1, "updates without secrets left %zu tokens", conf_count(st));
    return 0;
}

static int check_conflicts(check_state *st)
{
    uint64_t a, b;
    char buf[24];
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(1), &a));
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(2), &b));
    /* Renaming token a to user 2 would give user 2 two rows. */
    snprintf(buf, sizeof buf, "%" PRIu64, a);
    int rc = conf_save(st, conf_tok("id", buf, "user_name", "user2@example.com", "access_token",
                                    "z", NULL),
                       NULL);
    EXPECT(rc == TS_ERR_CONFLICT, "renaming a token to another user's name returned '%s'",
           ts_strerror(rc));
    /* User 1 under a new id would also give user 1 two rows. */
    rc = conf_save(st, conf_tok("id", "900", "user_name", "user1@example.com", "access_token", "z",
                                NULL),
                   NULL);
    EXPECT(rc == TS_ERR_CONFLICT, "an existing user under another id returned '%s'",
           ts_strerror(rc));
    ts_token *got = conf_by_id(st, a);
    EXPECT(got, "token a vanished after a refused save");
    EXPECT_SAME("token a's user after refused saves", conf_get(got, "user_name"),
                "user1@example.com");
    EXPECT_SAME("token a's access_token after refused saves", conf_get(got, "access_token"),
                "1000.access.1");
    ts_token_free(got);
    EXPECT(conf_count(st) == 2, "refused saves changed the row count to %zu", conf_count(st));
    return 0;
}

static int check_delete_token(check_state *st)
{
    uint64_t a, b;
    char buf[24];
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(1), &a));
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(2), &b));
    snprintf(buf, sizeof buf, "%" PRIu64, a);
    EXPECT_RC(TS_OK, ts_delete_token(st->store, buf, &st->last));
    EXPECT(conf_by_id(st, a) == NULL, "a deleted token is still found by id");
    ts_token *q = conf_tok("user_name", "user1@example.com", NULL);
    EXPECT_RC(TS_NOT_FOUND, ts_find_token(st->store, q, &st->last));
    ts_token_free(q);
    EXPECT_RC(TS_NOT_FOUND, ts_delete_token(st->store, buf, &st->last));
    EXPECT_RC(TS_NOT_FOUND, ts_delete_token(st->store, "987654", &st->last));
    ts_token *other = conf_by_id(st, b);
    EXPECT(other, "deleting one token took another with it");
    ts_token_free(other);
    /* The freed keys can be used again. */
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(1), NULL));
    EXPECT(conf_count(st) == 2, "re-saving a deleted user: %zu rows", conf_count(st));
    return 0;
}

static int check_find_by_id(check_state *st)
{
    uint64_t id;
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(3), &id));
    ts_token *got = conf_by_id(st, id);
    EXPECT(got, "find_token_by_id(%" PRIu64 ") failed: %s", id, st->last.message);
    ts_token *want = conf_user_token(3);
    for (int f = 1; f < TS_FIELD_COUNT; f++)
        EXPECT_SAME(ts_field_name(f), ts_token_get(got, f), ts_token_get(want, f));
    ts_token_free(want);
    ts_token_free(got);
    ts_token *t = ts_token_new();
    int rc = ts_find_token_by_id(st->store, "424242", t, &st->last);
    ts_token_free(t);
    EXPECT(rc == TS_NOT_FOUND, "a missing id returned '%s'", ts_strerror(rc));
    t = ts_token_new();
    rc = ts_find_token_by_id(st->store, "12ab", t, &st->last);
    ts_token_free(t);
    EXPECT(rc == TS_ERR_INVALID, "a non-numeric id returned '%s'", ts_strerror(rc));
    return 0;
}

static int stop_cb(const ts_token *t, void *ud)
{
    (void)t;
    return ++*(int *)ud == 2 ? 77 : 0;
}

static int check_get_tokens_order(check_state *st)
{
    static const char *ids[] = { "10", "2", "33", "1", "9" };
    for (unsigned i = 0; i < 5; i++) {
        ts_token *t = conf_user_token(i);
        ts_token_set(t, TS_FIELD_ID, ids[i]);
        EXPECT_RC(TS_OK, conf_save(st, t, NULL));
    }
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(50), NULL));
    EXPECT_RC(TS_OK, ts_delete_token(st->store, "2", &st->last));
    struct order o = { 0 };
    EXPECT_RC(TS_OK, ts_get_tokens(st->store, conf_order_cb, &o, &st->last));
    EXPECT(o.n == 5 && !o.bad, "get_tokens gave %zu tokens%s", o.n,
           o.bad ? " out of ascending numeric id order" : "");
    EXPECT(o.last == 34, "the new id after 33 is %" PRIu64, o.last);
    int seen = 0;
    int rc = ts_get_tokens(st->store, stop_cb, &seen, &st->last);
    EXPECT(rc == 77 && seen == 2, "a callback's stop (77 after 2) gave %d after %d", rc, seen);
    return 0;
}

static int check_delete_tokens(check_state *st)
{
    for (unsigned i = 0; i < 5; i++)
        EXPECT_RC(TS_OK, conf_save(st, conf_user_token(i), NULL));
    EXPECT_RC(TS_OK, ts_delete_tokens(st->store, &st->last));
    EXPECT(conf_count(st) == 0, "delete_tokens left %zu tokens", conf_count(st));
    ts_token *q = conf_tok("user_name", "user1@example.com", NULL);
    EXPECT_RC(TS_NOT_FOUND, ts_find_token(st->store, q, &st->last));
    ts_token_free(q);
    q = conf_tok("access_token", "1000.access.2", NULL);
    EXPECT_RC(TS_NOT_FOUND, ts_find_token(st->store, q, &st->last));
    ts_token_free(q);
    EXPECT_RC(TS_OK, ts_delete_tokens(st->store, &st->last));
    EXPECT_RC(TS_OK, conf_save(st, conf_user_token(1), NULL));
    EXPECT(conf_count(st) == 1, "a store emptied twice then saved to lists %zu", conf_count(st));
    return 0;
}

/* Values with every byte the SDK's formats must survive. */
static int check_bytes_round_trip(check_state *st)
{
    static const char *odd[] = {
        "o'brien@x.com", "'; DROP TABLE oauthtoken;--", "comma,separated,\"quoted\"",
        "line1\r\nline2\nline3\r", " padded\t", "ünïcödé ✓ 令牌", "{tokenstore:}:*?%s%n",
    };
    uint64_t ids[7];
    for (unsigned i = 0; i < 7; i++) {
        ts_token *t = conf_tok("user_name", odd[i], "refresh_token", odd[(i + 1) % 7],
                               "redirect_url", odd[(i + 2) % 7], NULL);
        EXPECT_RC(TS_OK, conf_save(st, t, &ids[i]));
    }
    for (unsigned i = 0; i < 7; i++) {
        ts_token *q = conf_tok("user_name", odd[i], NULL);
        EXPECT_RC(TS_OK, ts_find_token(st->store, q, &st->last));
        EXPECT(conf_id_of(q) == ids[i], "value %u found the wrong token", i);
        EXPECT_SAME("refresh_token", conf_get(q, "refresh_token"), odd[(i + 1) % 7]);
        EXPECT_SAME("redirect_url", conf_get(q, "redirect_url"), odd[(i + 2) % 7]);
        ts_token_free(q);
    }
    return 0;
}

/* A token whose every field holds n bytes (expiry_time at most
 * expiry_n) of commas, quotes, CR/LF and SQL-like text, each field's
 * first byte its own, or NULL. */
static ts_token *big_token(size_t n, size_t expiry_n)
{
    char *big = malloc(n + 1);
    ts_token *t = big ? ts_token_new() : NULL;

    for (size_t i = 0; t && i < n; i++)
        big[i] = "abc,\"\r\n xyz;'"[i % 13];
    for (int f = 1; t && f < TS_FIELD_COUNT; f++) {
        size_t len = f == TS_FIELD_EXPIRY_TIME && expiry_n < n ? expiry_n : n;
        char saved = big[len];
        big[len] = '\0';
        big[0] = (char)('A' + f);
        ts_token_set(t, f, big);
        big[len] = saved;
    }
    free(big);
    return t;
}

/* The token stored under id has t's every field, byte for byte. */
static int stored_as(check_state *st, const ts_token *t, uint64_t id)
{
    ts_token *got = conf_by_id(st, id);
    int ok = 1;

    EXPECT(got, "the token of %zu-byte values is not found by id %" PRIu64,
           strlen(ts_token_get(t, TS_FIELD_USER_NAME)), id);
    for (int f = 1; ok && f < TS_FIELD_COUNT; f++)
        ok = conf_same(st, ts_field_name(f), ts_token_get(got, f), ts_token_get(t, f));
    ts_token_free(got);
    return !ok;
}

/* The field a backend's error names, or NULL. */
static const char *field_named(const char *message)
{
    for (int f = 1; f < TS_FIELD_COUNT; f++)
        if (strstr(message, ts_field_name(f)))
            return ts_field_name(f);
    return NULL;
}

/* 64 KiB in every field round-trips; a backend whose columns are the
 * SDK's widths (varchar(255), expiry_time varchar(20)) may refuse it
 * instead, naming the column and writing nothing, and then values of
 * exactly those widths round-trip. */
static int check_big_values(check_state *st)
{
    size_t n = 64 * 1024, expiry_n = 64 * 1024;
    ts_token *t = big_token(n, expiry_n);
    uint64_t id = 0;
    int rc;

    EXPECT(t, "out of memory");
    rc = conf_save(st, t, &id);
    if (rc != TS_OK) {
        EXPECT(rc == TS_ERR_INVALID && field_named(st->last.message),
               "saving 64 KiB values: '%s' (%s), neither stored nor refused naming the column",
               ts_strerror(rc), st->last.message);
        EXPECT(conf_count(st) == 0, "the refused 64 KiB token left %zu tokens", conf_count(st));
        n = 255, expiry_n = 20;
        t = big_token(n, expiry_n);
        EXPECT(t, "out of memory");
        rc = conf_save(st, t, &id);
        EXPECT(rc == TS_OK, "saving 255-byte values: '%s' (%s)", ts_strerror(rc),
               st->last.message);
    }
    t = big_token(n, expiry_n);
    EXPECT(t, "out of memory");
    rc = stored_as(st, t, id);
    ts_token_free(t);
    return rc;
}

const struct check conf_rule_checks[] = {
    { "delete_tokens empties; find on an empty store is not found", check_empty_store, 0 },
    { "inserts get consecutive numeric ids", check_insert_ids, 0 },
    { "ids compare numerically (after 12 comes 13, after 500 comes 501)", check_numeric_ids, 0 },
    { "find_token by user_name fills every field", check_find_by_user_fills_all, 0 },
    { "find_token fills only the fields the caller left empty", check_find_fills_only_empty, 0 },
    { "user_name is the first key, before access_token", check_user_beats_access, 0 },
    { "access_token is a key only without client credentials", check_access_token_key, 0 },
    { "grant_token or refresh_token, with client_id and client_secret",
      check_grant_then_refresh_key, 0 },
    { "the lowest id answers when several rows match", check_lowest_id_answers, 0 },
    { "grant and refresh token of two rows: find and save take the lower id, the other "
      "user keeps theirs", check_two_keys_two_rows, 0 },
    { "no usable key is an error; no match is not found", check_no_key_and_not_found, 0 },
    { "save_token by id updates in place", check_save_by_id, 0 },
    { "save_token by key updates and fills empty fields from the row", check_save_by_key_merges, 0 },
    { "one user never gets two rows", check_one_row_per_user, 0 },
    { "a new token without refresh, grant or access token is refused",
      check_refuses_empty_token, 0 },
    { "an update may leave out refresh, grant and access token (the row keeps them)",
      check_update_without_secrets, 0 },
    { "saves that would give a user two rows are refused", check_conflicts, 0 },
    { "delete_token removes one token; a missing id is not found", check_delete_token, 0 },
    { "find_token_by_id: whole row; missing id not found; bad id invalid", check_find_by_id, 0 },
    { "get_tokens walks ascending numeric ids and stops on request", check_get_tokens_order, 0 },
    { "delete_tokens removes everything and works on an empty store", check_delete_tokens, 0 },
    { "commas, quotes, CR/LF, UTF-8 and SQL-like values round-trip", check_bytes_round_trip, 0 },
    { "64 KiB values in every field round-trip (or, on the SDK's varchar(255) columns, are "
      "refused naming one and 255 bytes do)", check_big_values, 0 },
};
const size_t conf_rule_check_count = sizeof conf_rule_checks / sizeof *conf_rule_checks;
