/*
 * tests/test_store.h - what the store-level Check programs share: counting
 * a store's tokens and catching the warnings it logs.
 */
#ifndef TS_TEST_STORE_H
#define TS_TEST_STORE_H

#include <check.h>
#include <stdio.h>
#include <tokenstore/tokenstore.h>

/* The last warning a store logged, and how many there were. */
struct log_capture {
    int warnings;
    char last[1024];
};

static inline void capture_log(void *userdata, int level, const char *message)
{
    struct log_capture *c = userdata;

    if (level == TS_LOG_WARN) {
        c->warnings++;
        snprintf(c->last, sizeof c->last, "%s", message);
    }
}

static inline int count_cb(const ts_token *t, void *ud)
{
    (void)t;
    (*(size_t *)ud)++;
    return 0;
}

/* How many tokens the store walks; the walk must succeed. */
static inline size_t count_tokens(ts_store *s)
{
    size_t n = 0;
    ts_error err = { 0 };

    ck_assert_msg(ts_get_tokens(s, count_cb, &n, &err) == TS_OK, "get_tokens: %s", err.message);
    return n;
}

#endif
