/*
 * tests/redis/test_scan.c - the redis backend's reply scanner
 * (plugins/redis/scan.c) on its own, against hiredis's reader.
 *
 * The scanner stands between the socket and hiredis, so it must frame
 * replies exactly as hiredis does: every well-formed reply passes,
 * however the bytes are cut into reads, and a bound holds to the byte
 * and the element; a reply's counts start again with the next reply of
 * a pipeline; and no byte that hiredis would read as a header can pass
 * the scanner as the inside of a line or a string. Random replies, cut
 * at random, are fed to both, and they must agree on where each ends.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>
#include "../check_main.h"
#include "../../plugins/redis/scan.h"

/* Feeds the whole of buf in pieces of `piece` bytes; 0 or -1. */
static int feed(struct resp_scan *s, const char *buf, size_t len, size_t piece, char *why)
{
    for (size_t at = 0; at < len; at += piece) {
        size_t n = len - at < piece ? len - at : piece;
        if (redis_resp_scan_feed(s, buf + at, n, why, 200) != 0)
            return -1;
    }
    return 0;
}

static int scan_all(const char *buf, size_t len, size_t max_bytes, size_t max_elements,
                    size_t piece, char *why)
{
    struct resp_scan s;

    redis_resp_scan_init(&s, max_bytes, max_elements);
    return feed(&s, buf, len, piece, why);
}

START_TEST(test_replies_pass_in_any_pieces)
{
    static const char *const replies[] = {
        "+OK\r\n", "-ERR no\r\n", ":-42\r\n", "$5\r\nhello\r\n", "$0\r\n\r\n", "$-1\r\n",
        "*-1\r\n", "*0\r\n", "*2\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n",
        "$4\r\n\r\n\r\n\r\n",                   /* CR LF inside a string */
        "+a\rb\r\r\n",                          /* lone CRs inside a line */
        "*3\r\n*3\r\n$0\r\n\r\n:2\r\n*0\r\n+x\r\n-y\r\n",
    };
    char why[200];

    for (size_t i = 0; i < sizeof replies / sizeof *replies; i++)
        for (size_t piece = 1; piece <= strlen(replies[i]); piece++)
            ck_assert_msg(scan_all(replies[i], strlen(replies[i]), 1 << 20, 1000, piece,
                                   why) == 0, "'%s' in pieces of %zu: %s", replies[i], piece,
                          why);
}
END_TEST

/* "$N\r\n" + N bytes + "\r\n": its whole length is the bound it needs. */
START_TEST(test_bounds_hold_to_the_byte)
{
    char reply[200], why[200];
    int len = snprintf(reply, sizeof reply, "$100\r\n%0100d\r\n", 7);

    ck_assert_int_eq(len, 108);
    ck_assert_int_eq(scan_all(reply, 108, 108, 10, 108, why), 0);
    ck_assert_int_eq(scan_all(reply, 108, 107, 10, 108, why), -1);
    ck_assert_msg(strstr(why, "a 100-byte string, beyond max_reply_bytes (107)"), "%s", why);
    /* Refused at the header: the string's bytes need not come. */
    ck_assert_int_eq(scan_all(reply, 6, 107, 10, 1, why), -1);

    /* A line has no length to refuse: it is counted as it comes. */
    ck_assert_int_eq(scan_all("+0123456789\r\n", 13, 13, 10, 1, why), 0);
    ck_assert_int_eq(scan_all("+0123456789\r\n", 13, 12, 10, 1, why), -1);
    ck_assert_msg(strstr(why, "longer than max_reply_bytes (12)"), "%s", why);

    /* Elements: all the arrays of a reply together. */
    const char *four = "*2\r\n*1\r\n:1\r\n*1\r\n:2\r\n";
    ck_assert_int_eq(scan_all(four, strlen(four), 1000, 4, 3, why), 0);
    ck_assert_int_eq(scan_all(four, strlen(four), 1000, 3, 3, why), -1);
    ck_assert_msg(strstr(why, "max_reply_elements (3)"), "%s", why);
    ck_assert_int_eq(scan_all("*4\r\n", 4, 1000, 3, 1, why), -1);
    ck_assert_msg(strstr(why, "an array of 4 elements"), "%s", why);
}
END_TEST

/* A pipeline's replies are bounded one by one. */
START_TEST(test_counts_start_again_with_each_reply)
{
    struct resp_scan s;
    char why[200];
    const char *one = "*2\r\n$3\r\nabc\r\n:1\r\n";   /* 17 bytes, 2 elements */

    redis_resp_scan_init(&s, 17, 2);
    for (int i = 0; i < 100; i++)
        ck_assert_msg(feed(&s, one, 17, (size_t)(i % 17) + 1, why) == 0, "reply %d: %s", i,
                      why);
}
END_TEST

START_TEST(test_depth)
{
    char reply[64] = "", why[200];

    for (int i = 0; i < RESP_SCAN_DEPTH; i++)
        strcat(reply, "*1\r\n");
    strcat(reply, ":1\r\n");
    ck_assert_int_eq(scan_all(reply, strlen(reply), 1000, 100, 1, why), 0);
    memmove(reply + 4, reply, strlen(reply) + 1);
    ck_assert_int_eq(scan_all(reply, strlen(reply), 1000, 100, 1, why), -1);
    ck_assert_msg(strstr(why, "nested deeper than 7"), "%s", why);
}
END_TEST

/* Where the scanner is unsure it is stricter than hiredis, so a header
 * never hides inside what it takes for a line or a string. */
START_TEST(test_no_header_slips_through)
{
    static const char *const refused[] = {
        /* A line ends at CR LF, not LF: hiredis reads "a\n$13" as the
         * line and then the array header; so must the scanner. */
        "+a\n$13\r\n*2147483647\r\n",
        "$+5\r\nhello\r\n",                     /* hiredis takes a '+' sign */
        "$5x\r\nhello\r\n",                     /* and reads this one as nil */
        "$-2\r\n",
        "$\r\n\r\n",
        "$18446744073709551621\r\nhello\r\n",   /* wraps to 5 in hiredis */
        "*1\r\n!x\r\n",                         /* not RESP2 */
        "$5\r\r\nhello\r\n",
    };
    char why[200];

    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        for (size_t piece = 1; piece <= strlen(refused[i]); piece++)
            ck_assert_msg(scan_all(refused[i], strlen(refused[i]), 1 << 20, 1 << 20, piece,
                                   why) == -1, "'%s' passed in pieces of %zu", refused[i],
                          piece);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Random replies, against hiredis                                     */
/* ------------------------------------------------------------------ */

struct buf {
    char data[1 << 16];
    size_t len;
};

static void put(struct buf *b, const char *s, size_t n)
{
    ck_assert(b->len + n <= sizeof b->data);
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

/* One random well-formed reply into b. */
static void random_reply(struct buf *b, int depth)
{
    char head[32], body[64];
    int kind = rand() % (depth < 4 ? 7 : 5);
    int n = rand() % 20;

    for (int i = 0; i < n; i++)     /* any bytes, CR and LF included */
        body[i] = (char)("ab\r\n:$*+-"[rand() % 9]);
    switch (kind) {
    case 0:
    case 1:
        put(b, kind ? "+" : "-", 1);
        for (int i = 0; i < n; i++)
            if (body[i] == '\r')
                body[i] = 'r';      /* a line holds no CR LF */
        put(b, body, (size_t)n);
        put(b, "\r\n", 2);
        break;
    case 2:
        put(b, head, (size_t)snprintf(head, sizeof head, ":%d\r\n", rand() - RAND_MAX / 2));
        break;
    case 3:
        put(b, head, (size_t)snprintf(head, sizeof head, "$%d\r\n", n));
        put(b, body, (size_t)n);
        put(b, "\r\n", 2);
        break;
    case 4:
        put(b, rand() % 2 ? "$-1\r\n" : "*-1\r\n", 5);
        break;
    default:
        n = rand() % 5;
        put(b, head, (size_t)snprintf(head, sizeof head, "*%d\r\n", n));
        for (int i = 0; i < n; i++)
            random_reply(b, depth + 1);
    }
}

START_TEST(test_agrees_with_hiredis)
{
    static struct buf b;
    char why[200];

    srand(20240601);
    for (int round = 0; round < 2000; round++) {
        int replies = 1 + rand() % 5;
        struct resp_scan s;
        redisReader *reader = redisReaderCreate();
        void *reply;
        int got = 0;

        b.len = 0;
        for (int i = 0; i < replies; i++)
            random_reply(&b, 0);
        redis_resp_scan_init(&s, 1 << 20, 1 << 20);
        for (size_t at = 0; at < b.len;) {
            size_t n = 1 + (size_t)rand() % 9;
            if (n > b.len - at)
                n = b.len - at;
            ck_assert_msg(redis_resp_scan_feed(&s, b.data + at, n, why, sizeof why) == 0,
                          "round %d: %s", round, why);
            ck_assert_int_eq(redisReaderFeed(reader, b.data + at, n), REDIS_OK);
            at += n;
            while (redisReaderGetReply(reader, &reply) == REDIS_OK && reply) {
                freeReplyObject(reply);
                got++;
            }
            ck_assert_msg(reader->err == 0, "round %d: hiredis: %s", round, reader->errstr);
        }
        ck_assert_int_eq(got, replies);
        /* Both at a reply's end: the scanner's counts are back at 0. */
        ck_assert_int_eq(s.depth, 0);
        ck_assert_uint_eq(s.bytes, 0);
        redisReaderFree(reader);
    }
}
END_TEST

static Suite *scan_suite(void)
{
    Suite *s = suite_create("redis-scan");
    TCase *tc = tcase_create("scan");

    tcase_add_test(tc, test_replies_pass_in_any_pieces);
    tcase_add_test(tc, test_bounds_hold_to_the_byte);
    tcase_add_test(tc, test_counts_start_again_with_each_reply);
    tcase_add_test(tc, test_depth);
    tcase_add_test(tc, test_no_header_slips_through);
    tcase_add_test(tc, test_agrees_with_hiredis);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(scan_suite());
}
