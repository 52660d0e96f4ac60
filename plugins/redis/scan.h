/*
 * plugins/redis/scan.h - the bounds a reply must keep, checked on the
 * bytes as they arrive, before hiredis's reader sees them.
 */
#ifndef TS_REDIS_SCAN_H
#define TS_REDIS_SCAN_H

#include <stddef.h>

/* Arrays may nest this deep; ours nest three deep at most. */
#define RESP_SCAN_DEPTH 7

/* Where a reply stands: which item is being read and what of the reply
 * has been counted so far. Zero-initialised, then redis_resp_scan_init(). */
struct resp_scan {
    size_t max_bytes, max_elements;   /* per reply */
    size_t bytes, elements;           /* of the reply being read */
    int depth;                        /* arrays open */
    long long left[RESP_SCAN_DEPTH];  /* items still to come in each */
    int state;                        /* see scan.c */
    char type;                        /* of the item being read */
    int negative, digits;
    long long number;                 /* a length or count being read */
    unsigned long long bulk_left;     /* of a string's bytes and CRLF */
};

void redis_resp_scan_init(struct resp_scan *scan, size_t max_bytes, size_t max_elements);

/* Follows n more bytes of the stream: 0, or -1 with the reason in why
 * (what the reply announced, and the option it is beyond) when a reply
 * outgrows a bound or is not RESP. The stream is then unusable. */
int redis_resp_scan_feed(struct resp_scan *scan, const char *buf, size_t n, char *why,
                         size_t why_size);

#endif
