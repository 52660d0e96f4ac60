/*
 * plugins/redis/conn.h - one connection to a Redis server, plain or TLS.
 *
 * The backend speaks RESP through hiredis's codec (it formats commands
 * itself and parses replies with a redisReader) and moves the bytes
 * through this layer: a TCP or unix socket, with OpenSSL's libssl on top
 * when TLS is asked for. Debian 12's hiredis 0.14 has no TLS of its own,
 * so hiredis only opens the socket and parses; reads and writes are ours.
 */
#ifndef TS_REDIS_CONN_H
#define TS_REDIS_CONN_H

#include <stddef.h>
#include <sys/time.h>

/* What TLS needs across reconnects: the SSL_CTX holding the CA store and
 * the client certificate, and whether the server's certificate is
 * verified. Opaque to the backend. */
struct conn_tls;

/* TLS settings as the options give them; NULL for an absent option. */
struct conn_tls_options {
    const char *ca;           /* CA file or directory; NULL: the system store */
    const char *cert, *key;   /* client certificate chain and its key (PEM) */
    int verify;               /* 0 only when explicitly turned off */
};

/* Builds the TLS context: 0, or -1 with the reason (naming the file and
 * what is wrong with it) in why. */
int redis_conn_tls_new(struct conn_tls **out, const struct conn_tls_options *o, char *why,
                       size_t why_size);
/* Frees the context; close every connection made with it first. */
void redis_conn_tls_free(struct conn_tls *tls);

/* The bounds of one reply when a target leaves them 0 (see scan.c):
 * far above any reply of ours (a page of get_tokens is under 3,000
 * elements) and below what would hurt the host. */
#define CONN_MAX_REPLY_BYTES (64 * 1024 * 1024)
#define CONN_MAX_REPLY_ELEMENTS 1000000

/* Where to connect and how long to wait. server_name is the name
 * checked against the certificate and sent as SNI (default: host). The
 * command timeout is a deadline for a command's whole round trip: from
 * the write that sends it to the last byte of the last reply read before
 * the next write, however the bytes trickle in. */
struct conn_target {
    const char *host;
    int port;
    const char *socket_path;  /* instead of host and port */
    struct timeval connect_timeout, command_timeout;
    const struct conn_tls *tls;  /* NULL: plain */
    const char *server_name;
    size_t max_reply_bytes, max_reply_elements;   /* 0: the defaults above */
};

/* An open connection; err says why the last call failed (timed_out when
 * the time ran out, refused when a reply broke a bound), as hiredis's
 * context does. */
struct conn {
    int err;
    int timed_out;
    int refused;
    char errstr[256];
    struct conn_impl *impl;
};

/* Connects (and completes the TLS handshake): NULL only when out of
 * memory; otherwise a conn whose err tells whether it worked. Close it
 * either way. */
struct conn *redis_conn_open(const struct conn_target *t);
void redis_conn_close(struct conn *c);

/* Writes len bytes, starting the command's deadline: 0, or -1 with err
 * set. */
int redis_conn_write(struct conn *c, const char *buf, size_t len);
/* Reads one reply (a redisReply): 0, or -1 with err set. */
int redis_conn_read_reply(struct conn *c, void **reply);
/* The same without waiting, on a plain connection: 0, 1 when the reply
 * has not all come yet, or -1 with err set. */
int redis_conn_read_reply_nowait(struct conn *c, void **reply);
/* The socket an event loop watches for replies; -1 for TLS, whose reads
 * may have to write. */
int redis_conn_poll_fd(const struct conn *c);
/* Whether the server closed (or wrote unasked to) an idle connection. */
int redis_conn_peer_closed(const struct conn *c);

#endif
