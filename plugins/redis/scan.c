/*
 * plugins/redis/scan.c - the bounds a reply must keep, enforced before
 * hiredis's reader sees a byte of it.
 *
 * Why: the server decides what a reply holds, and hiredis 0.14 (Debian
 * 12's) believes it. A "$2000000000" header makes it buffer two
 * gigabytes before it builds the string; "*2147483647" makes it allocate
 * an array of that many pointers at once and, when the reply never ends,
 * visit every one of them to free it (78 s of CPU, on whatever thread
 * closes the connection: in the Node addon, the event loop). hiredis 1.x
 * has a maxelements, 0.14 has nothing; and a reply object function that
 * refuses is called only once the bytes are all buffered.
 *
 * So conn.c runs every byte it reads through redis_resp_scan_feed() first: a
 * small state machine that follows the RESP2 framing exactly as hiredis
 * 0.14 reads it (a line ends at the first CR LF; "$N" is followed by N
 * bytes and two more; "*N" by N items) and keeps, for the reply being
 * read, the bytes it has taken and the array elements it has announced.
 * A length or count is judged when it is read, before any of what it
 * announces arrives, so nothing of a refused reply is buffered beyond the
 * read that brought its header. Wherever the scanner is unsure it is
 * stricter than hiredis (a length must be all digits, a reply must start
 * with one of + - : $ *), so no byte hiredis would take as a header can
 * pass here as the inside of a string.
 */
#include <stdio.h>
#include <string.h>
#include "scan.h"

enum {
    AT_TYPE,        /* the next byte begins an item */
    IN_LINE,        /* a + - : line, until CR LF */
    IN_LINE_CR,     /* that line's last byte was CR */
    IN_NUMBER,      /* the length of a $ or the count of a * */
    IN_NUMBER_LF,   /* its CR was read: LF must follow */
    IN_BULK,        /* a string's bytes, and its CR LF */
};

/* Saturates past 18 digits: the bounds refuse such a number anyway. */
#define NUMBER_MAX 999999999999999999LL

void redis_resp_scan_init(struct resp_scan *scan, size_t max_bytes, size_t max_elements)
{
    memset(scan, 0, sizeof *scan);
    scan->max_bytes = max_bytes;
    scan->max_elements = max_elements;
    scan->state = AT_TYPE;
}

/* An item is complete: it counts against the arrays around it, each of
 * which may be complete in turn; with none left open, so is the reply. */
static void item_done(struct resp_scan *s)
{
    s->state = AT_TYPE;
    while (s->depth > 0) {
        if (--s->left[s->depth - 1] > 0)
            return;
        s->depth--;
    }
    s->bytes = 0;
    s->elements = 0;
}

/* The length of a string or the count of an array has been read: -1 is
 * nil (no other negative number is taken). */
static int number_done(struct resp_scan *s, char *why, size_t why_size)
{
    long long n = s->negative ? -s->number : s->number;

    if (n < -1)
        return snprintf(why, why_size, "the reply has a malformed %s",
                        s->type == '$' ? "string length" : "array count"), -1;
    if (n == -1 || (s->type == '*' && n == 0)) {   /* nil, or an empty array */
        item_done(s);
        return 0;
    }
    if (s->type == '$') {
        if ((unsigned long long)n + 2 > s->max_bytes - s->bytes)
            return snprintf(why, why_size, "the reply announces a %lld-byte string, beyond "
                            "max_reply_bytes (%zu)", n, s->max_bytes), -1;
        s->bulk_left = (unsigned long long)n + 2;
        s->state = IN_BULK;
        return 0;
    }
    if ((unsigned long long)n > s->max_elements)
        return snprintf(why, why_size, "the reply announces an array of %lld elements, beyond "
                        "max_reply_elements (%zu)", n, s->max_elements), -1;
    if ((unsigned long long)n > s->max_elements - s->elements)
        return snprintf(why, why_size, "the reply's arrays announce more elements than "
                        "max_reply_elements (%zu)", s->max_elements), -1;
    if (s->depth == RESP_SCAN_DEPTH)
        return snprintf(why, why_size, "the reply has arrays nested deeper than %d",
                        RESP_SCAN_DEPTH), -1;
    s->elements += (size_t)n;
    s->left[s->depth++] = n;
    s->state = AT_TYPE;
    return 0;
}

/* One byte of a length or count; -1 when it is not one. */
static int number_byte(struct resp_scan *s, char c)
{
    if (c == '-' && s->digits == 0 && !s->negative) {
        s->negative = 1;
    } else if (c >= '0' && c <= '9') {
        s->number = s->number > (NUMBER_MAX - (c - '0')) / 10 ? NUMBER_MAX
                                                              : s->number * 10 + (c - '0');
        s->digits++;
    } else if (c == '\r' && s->digits > 0) {
        s->state = IN_NUMBER_LF;
    } else {
        return -1;
    }
    return 0;
}

static int start_item(struct resp_scan *s, char c)
{
    s->type = c;
    if (c == '+' || c == '-' || c == ':') {
        s->state = IN_LINE;
    } else if (c == '$' || c == '*') {
        s->state = IN_NUMBER;
        s->number = 0;
        s->negative = s->digits = 0;
    } else {
        return -1;
    }
    return 0;
}

/* How many of the n bytes at p the current state takes in one step. */
static size_t span(const struct resp_scan *s, const char *p, size_t n)
{
    const char *cr;

    if (s->state == IN_LINE) {
        cr = memchr(p, '\r', n);
        return cr ? (size_t)(cr - p) + 1 : n;
    }
    if (s->state == IN_BULK)
        return n < s->bulk_left ? n : (size_t)s->bulk_left;
    return 1;
}

/* The step over those bytes (p[0..take)), whose last one decides. */
static int consume(struct resp_scan *s, const char *p, size_t take, char *why,
                   size_t why_size)
{
    char c = p[take - 1];

    switch (s->state) {
    case AT_TYPE:
        if (start_item(s, c) == 0)
            return 0;
        return snprintf(why, why_size, "the server sent a byte 0x%02x where a reply begins: "
                        "it does not speak RESP", (unsigned char)c), -1;
    case IN_LINE:
        if (c == '\r')
            s->state = IN_LINE_CR;
        return 0;
    case IN_LINE_CR:
        if (c == '\n')
            item_done(s);
        else if (c != '\r')
            s->state = IN_LINE;
        return 0;
    case IN_NUMBER:
        if (number_byte(s, c) == 0)
            return 0;
        break;
    case IN_NUMBER_LF:
        if (c == '\n')
            return number_done(s, why, why_size);
        break;
    default:        /* IN_BULK */
        s->bulk_left -= take;
        if (s->bulk_left == 0)
            item_done(s);
        return 0;
    }
    return snprintf(why, why_size, "the reply has a malformed %s",
                    s->type == '$' ? "string length" : "array count"), -1;
}

int redis_resp_scan_feed(struct resp_scan *s, const char *buf, size_t n, char *why,
                         size_t why_size)
{
    while (n > 0) {
        size_t take = span(s, buf, n);
        /* A reply's bytes count from its type byte to its last CR LF. */
        if (take > s->max_bytes - s->bytes)
            return snprintf(why, why_size, "the reply is longer than max_reply_bytes (%zu)",
                            s->max_bytes), -1;
        s->bytes += take;
        if (consume(s, buf, take, why, why_size) != 0)
            return -1;
        buf += take;
        n -= take;
    }
    return 0;
}
