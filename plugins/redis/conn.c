/*
 * plugins/redis/conn.c - the redis backend's transport: a socket opened by
 * hiredis, optionally wrapped in TLS with OpenSSL, and hiredis's reader
 * fed with what arrives.
 *
 * Why not hiredis's own I/O: Debian 12's hiredis 0.14 has no TLS, and its
 * write() raises SIGPIPE in the host process when the server is gone.
 * Every byte here goes out with send(MSG_NOSIGNAL): in plain mode
 * directly, under TLS through a small BIO of ours (OpenSSL's socket BIO
 * calls write() too).
 *
 * Time. A command's write starts its deadline, command_timeout_ms from
 * then, and every wait until the next write (for room to send, for the
 * replies) polls only until it: a server that sends a byte a second
 * cannot stretch a 2 s command to a minute, as a timeout per read
 * (SO_RCVTIMEO) would let it. Reads and writes never block
 * (MSG_DONTWAIT); in TLS mode the BIO waits the same way, so a TLS
 * record trickling in is bounded too. The handshake has the connect
 * timeout as its deadline.
 *
 * Size. Every byte read passes redis_resp_scan_feed() (scan.c) before hiredis
 * sees it, so a reply that announces more bytes or elements than the
 * store allows is refused at its header and never built.
 *
 * Verification is on unless turned off: the chain against tls_ca (or
 * the system store), and the server name (the host, or tls_server_name)
 * against the certificate's names, as an IP address when it is one. The
 * name goes out as SNI unless it is an IP address (RFC 6066 forbids
 * that). Errors say what failed in words a user can act on: the
 * verification reason from X509_verify_cert_error_string, a server that
 * does not speak TLS, one that wants a client certificate.
 *
 * Reads go through a stack buffer that is wiped after hiredis copies it
 * (replies carry tokens), and OpenSSL is asked to wipe the plaintext it
 * buffers (SSL_OP_CLEANSE_PLAINTEXT, OpenSSL 3).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "conn.h"
#include "scan.h"

struct conn_tls {
    SSL_CTX *ctx;
    BIO_METHOD *bio;                 /* ours: see nosig_method() */
    int verify;
    int client_cert;                 /* one is configured */
};

struct conn_impl {
    redisContext *rc;                /* the socket and the reader */
    SSL *ssl;                        /* NULL in plain mode */
    int client_cert;                 /* TLS with a client certificate */
    int got_bytes;                   /* something was read since connecting */
    unsigned char first_byte;
    long long command_ms;            /* 0: commands have no deadline */
    long long deadline;              /* CLOCK_MONOTONIC ms; 0: none */
    struct resp_scan scan;           /* the reply being read, as scan.c sees it */
};

/* ------------------------------------------------------------------ */
/* Waiting until the deadline                                          */
/* ------------------------------------------------------------------ */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void start_deadline(struct conn_impl *impl, long long ms)
{
    impl->deadline = ms > 0 ? now_ms() + ms : 0;
}

static int deadline_passed(const struct conn_impl *impl)
{
    return impl->deadline && now_ms() >= impl->deadline;
}

/* Waits until the socket is ready for `events` or the deadline passes:
 * 1, 0 (the time is up), or -1 with errno set. */
static int wait_ready(const struct conn_impl *impl, short events)
{
    for (;;) {
        int ms = -1;
        if (impl->deadline) {
            long long left = impl->deadline - now_ms();
            if (left <= 0)
                return 0;
            ms = left > INT_MAX ? INT_MAX : (int)left;
        }
        struct pollfd p = { .fd = impl->rc->fd, .events = events };
        int n = poll(&p, 1, ms);
        if (n >= 0 || errno != EINTR)
            return n > 0 ? 1 : n;
    }
}

/* send() and recv() that never block: each waits for the socket until
 * the deadline, then fails with EAGAIN. With `nowait`, recv returns -2
 * at once when nothing has come. */
static ssize_t send_within(const struct conn_impl *impl, const char *buf, size_t len)
{
    for (;;) {
        ssize_t n = send(impl->rc->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return n;
        if (errno != EINTR) {
            int ready = wait_ready(impl, POLLOUT);
            if (ready <= 0) {
                if (ready == 0)
                    errno = EAGAIN;
                return -1;
            }
        }
    }
}

static ssize_t recv_within(const struct conn_impl *impl, char *buf, size_t len, int nowait)
{
    for (;;) {
        ssize_t n = recv(impl->rc->fd, buf, len, MSG_DONTWAIT);
        if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return n;
        if (errno != EINTR) {
            if (nowait)
                return -2;
            int ready = wait_ready(impl, POLLIN);
            if (ready <= 0) {
                if (ready == 0)
                    errno = EAGAIN;
                return -1;
            }
        }
    }
}

/* ------------------------------------------------------------------ */
/* A socket BIO that never raises SIGPIPE                              */
/* ------------------------------------------------------------------ */

/* The BIO's data is the connection: its socket and its deadline. A
 * retry flag means the deadline passed, which OpenSSL reports as
 * SSL_ERROR_WANT_READ or _WRITE. */
static int nosig_write(BIO *b, const char *buf, int len)
{
    ssize_t n = send_within(BIO_get_data(b), buf, (size_t)len);

    BIO_clear_retry_flags(b);
    if (n < 0 && errno == EAGAIN)
        BIO_set_retry_write(b);
    return (int)n;
}

static int nosig_read(BIO *b, char *buf, int len)
{
    ssize_t n = recv_within(BIO_get_data(b), buf, (size_t)len, 0);

    BIO_clear_retry_flags(b);
    if (n < 0 && errno == EAGAIN)
        BIO_set_retry_read(b);
    return (int)n;
}

static long nosig_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int nosig_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

/* The BIO method, one per TLS context: the backend may be unloaded
 * (and loaded again) while OpenSSL stays, so nothing of ours may outlive
 * the stores that use it. No BIO_get_new_index(): OpenSSL has 127 of
 * them per process, and nothing looks ours up by type. */
static BIO_METHOD *nosig_method(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_TYPE_SOURCE_SINK, "tokenstore socket");
    if (m && BIO_meth_set_write(m, nosig_write) && BIO_meth_set_read(m, nosig_read) &&
        BIO_meth_set_ctrl(m, nosig_ctrl) && BIO_meth_set_create(m, nosig_create))
        return m;
    BIO_meth_free(m);
    return NULL;
}

static BIO *nosig_bio(const struct conn_tls *t, struct conn_impl *impl)
{
    BIO *b = BIO_new(t->bio);
    if (b)
        BIO_set_data(b, impl);
    return b;
}

/* ------------------------------------------------------------------ */
/* The TLS context                                                     */
/* ------------------------------------------------------------------ */

/* OpenSSL's reason for the last failure, and the error queue emptied. */
static const char *ssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;

    ERR_clear_error();
    return r ? r : "unknown error";
}

static int load_ca(SSL_CTX *ctx, const char *ca, char *why, size_t n)
{
    struct stat st;

    if (!ca)
        return SSL_CTX_set_default_verify_paths(ctx) == 1
                   ? 0 : (snprintf(why, n, "cannot load the system CA store: %s",
                                   ssl_reason()), -1);
    if (stat(ca, &st) != 0)
        return snprintf(why, n, "tls_ca '%s': %s", ca, strerror(errno)), -1;
    int dir = S_ISDIR(st.st_mode);
    if (SSL_CTX_load_verify_locations(ctx, dir ? NULL : ca, dir ? ca : NULL) != 1)
        return snprintf(why, n, "tls_ca '%s': no CA certificate could be read: %s", ca,
                        ssl_reason()), -1;
    return 0;
}

static int load_client_cert(SSL_CTX *ctx, const char *cert, const char *key, char *why,
                            size_t n)
{
    if (!cert && !key)
        return 0;
    if (!cert || !key)
        return snprintf(why, n, "a client certificate needs both tls_cert and tls_key"), -1;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        return snprintf(why, n, "tls_cert '%s': %s", cert, ssl_reason()), -1;
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        return snprintf(why, n, "tls_key '%s': %s", key, ssl_reason()), -1;
    if (SSL_CTX_check_private_key(ctx) != 1)
        return snprintf(why, n, "tls_key '%s' is not the key of tls_cert '%s'", key, cert), -1;
    return 0;
}

int redis_conn_tls_new(struct conn_tls **out, const struct conn_tls_options *o, char *why,
                       size_t why_size)
{
    struct conn_tls *t = calloc(1, sizeof *t);

    *out = NULL;
    if (!t || !(t->ctx = SSL_CTX_new(TLS_client_method())) || !(t->bio = nosig_method())) {
        if (t)
            SSL_CTX_free(t->ctx);
        free(t);
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    t->verify = o->verify;
    t->client_cert = o->cert != NULL;
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
#ifdef SSL_OP_CLEANSE_PLAINTEXT
    /* Decrypted replies carry tokens: OpenSSL wipes its copies too. */
    SSL_CTX_set_options(t->ctx, SSL_OP_CLEANSE_PLAINTEXT);
#endif
    SSL_CTX_set_verify(t->ctx, o->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    if ((o->verify && load_ca(t->ctx, o->ca, why, why_size) != 0) ||
        load_client_cert(t->ctx, o->cert, o->key, why, why_size) != 0) {
        redis_conn_tls_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void redis_conn_tls_free(struct conn_tls *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    BIO_meth_free(t->bio);
    free(t);
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

__attribute__((format(printf, 3, 4)))
static int fail(struct conn *c, int timed_out, const char *fmt, ...)
{
    va_list ap;

    c->err = 1;
    c->timed_out = timed_out;
    c->refused = 0;
    va_start(ap, fmt);
    vsnprintf(c->errstr, sizeof c->errstr, fmt, ap);
    va_end(ap);
    return -1;
}

/* Why a TLS call failed, in words that point at the fix. */
static int tls_fail(struct conn *c, int ret, const char *server_name)
{
    SSL *ssl = c->impl->ssl;
    int e = SSL_get_error(ssl, ret), saved = errno;
    long v = SSL_get_verify_result(ssl);

    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return fail(c, 1, SSL_is_init_finished(ssl) ? "no answer in time"
                          : "no answer to the TLS handshake in time (does the server speak TLS?)");
    }
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) ||
        ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ERR_clear_error();
        return fail(c, 0, "TLS: %s%s",
                    e == SSL_ERROR_SYSCALL && ret < 0 && saved ? strerror(saved)
                                                               : "the server closed the connection",
                    !SSL_is_init_finished(ssl) ? " during the handshake (is it a TLS port?)"
                    : c->impl->got_bytes || c->impl->client_cert ? ""
                    : " before any reply (does the server want a client certificate? "
                      "set tls_cert and tls_key)");
    }
    if (e == SSL_ERROR_SSL &&
        (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH)) {
        ERR_clear_error();
        return fail(c, 0, "TLS: certificate verify failed: the certificate is not for '%s' "
                    "(set tls_server_name to a name it holds)", server_name);
    }
    if (e == SSL_ERROR_SSL && v != X509_V_OK) {
        int ca = v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
                 v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
                 v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
                 v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT;
        ERR_clear_error();
        return fail(c, 0, "TLS: certificate verify failed: %s%s", X509_verify_cert_error_string(v),
                    ca ? " (is tls_ca the CA that signed the server's certificate?)" : "");
    }
    unsigned long code = ERR_peek_last_error();
    const char *reason = ssl_reason();
    if (ERR_GET_REASON(code) == SSL_R_WRONG_VERSION_NUMBER ||
        ERR_GET_REASON(code) == SSL_R_PACKET_LENGTH_TOO_LONG)
        return fail(c, 0, "TLS: %s: the server does not speak TLS (is tls on for a plain port?)",
                    reason);
    if (ERR_GET_REASON(code) == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED ||
        ERR_GET_REASON(code) == SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE)
        return fail(c, 0, "TLS: %s (does the server want a client certificate? set tls_cert "
                    "and tls_key)", reason);
    return fail(c, 0, "TLS: %s", reason);
}

/* ------------------------------------------------------------------ */
/* Connecting                                                          */
/* ------------------------------------------------------------------ */

static int is_ip_address(const char *name)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

static int start_tls(struct conn *c, const struct conn_target *t)
{
    const char *name = t->server_name ? t->server_name : t->host;
    SSL *ssl = SSL_new(t->tls->ctx);
    BIO *bio = ssl ? nosig_bio(t->tls, c->impl) : NULL;

    if (!bio) {
        SSL_free(ssl);
        return fail(c, 0, "out of memory");
    }
    SSL_set_bio(ssl, bio, bio);
    c->impl->ssl = ssl;
    c->impl->client_cert = t->tls->client_cert;
    int ok = 1;
    if (!is_ip_address(name))
        ok = SSL_set_tlsext_host_name(ssl, name) == 1;
    if (ok && t->tls->verify) {
        X509_VERIFY_PARAM *p = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = is_ip_address(name) ? X509_VERIFY_PARAM_set1_ip_asc(p, name) == 1
                                 : X509_VERIFY_PARAM_set1_host(p, name, 0) == 1;
    }
    if (!ok)
        return fail(c, 0, "TLS: cannot use server name '%s': %s", name, ssl_reason());
    start_deadline(c->impl, (long long)t->connect_timeout.tv_sec * 1000 +
                                t->connect_timeout.tv_usec / 1000);
    ERR_clear_error();
    int ret = SSL_connect(ssl);
    c->impl->deadline = 0;
    return ret == 1 ? 0 : tls_fail(c, ret, name);
}

struct conn *redis_conn_open(const struct conn_target *t)
{
    struct conn *c = calloc(1, sizeof *c);
    struct conn_impl *impl = calloc(1, sizeof *impl);

    if (!c || !impl) {
        free(c);
        free(impl);
        return NULL;
    }
    c->impl = impl;
    impl->command_ms = (long long)t->command_timeout.tv_sec * 1000 +
                       t->command_timeout.tv_usec / 1000;
    redis_resp_scan_init(&impl->scan,
                         t->max_reply_bytes ? t->max_reply_bytes : CONN_MAX_REPLY_BYTES,
                         t->max_reply_elements ? t->max_reply_elements : CONN_MAX_REPLY_ELEMENTS);
    impl->rc = t->socket_path ? redisConnectUnixWithTimeout(t->socket_path, t->connect_timeout)
                              : redisConnectWithTimeout(t->host, t->port, t->connect_timeout);
    if (!impl->rc) {
        redis_conn_close(c);
        return NULL;
    }
    if (impl->rc->err) {
        fail(c, 0, "%s", impl->rc->errstr);
        return c;
    }
    /* The read buffer holds tokens; hiredis frees an idle one larger than
     * maxbuf on its own, unwiped. Keep it, and wipe it on close. */
    impl->rc->reader->maxbuf = 0;
    if (!t->socket_path)
        redisEnableKeepAlive(impl->rc);
    if (t->tls)
        start_tls(c, t);
    return c;
}

void redis_conn_close(struct conn *c)
{
    if (!c)
        return;
    if (c->impl) {
        SSL_free(c->impl->ssl);      /* no close_notify: the socket may be dead */
        redisContext *rc = c->impl->rc;
        if (rc && rc->reader && rc->reader->buf)
            explicit_bzero(rc->reader->buf, sdsalloc(rc->reader->buf));
        if (rc)
            redisFree(rc);
        free(c->impl);
    }
    free(c);
}

/* ------------------------------------------------------------------ */
/* Bytes                                                               */
/* ------------------------------------------------------------------ */

/* A plain socket's failure (e: errno, 0 for end of file; EAGAIN when the
 * deadline passed). A TLS server drops a client that does not open with
 * a handshake, so a connection that never got a byte is asked about
 * that. */
static int plain_fail(struct conn *c, int e)
{
    const char *hint = c->impl->got_bytes ? "" : " before any reply (is it a TLS port? use "
                                                 "rediss:// or the tls option)";
    if (e == EAGAIN || e == EWOULDBLOCK)
        return fail(c, 1, "no complete answer in time");
    return fail(c, 0, "%s%s", e ? strerror(e) : "the server closed the connection", hint);
}

int redis_conn_write(struct conn *c, const char *buf, size_t len)
{
    start_deadline(c->impl, c->impl->command_ms);
    while (len > 0) {
        ssize_t n;
        if (deadline_passed(c->impl))
            return fail(c, 1, "could not send the command in time");
        int chunk = len > INT32_MAX ? INT32_MAX : (int)len;
        if (c->impl->ssl) {
            ERR_clear_error();
            n = SSL_write(c->impl->ssl, buf, chunk);
            if (n <= 0)
                return tls_fail(c, (int)n, "");
        } else {
            n = send_within(c->impl, buf, len);
            if (n < 0)
                return plain_fail(c, errno);
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Up to size bytes into buf: how many, or -1 with err set. With nowait
 * (plain sockets only), -2 when nothing has come. */
static ssize_t read_some(struct conn *c, char *buf, size_t size, int nowait)
{
    ssize_t n;

    if (c->impl->ssl) {
        ERR_clear_error();
        n = SSL_read(c->impl->ssl, buf, (int)size);
        return n > 0 ? n : tls_fail(c, (int)n, "");
    }
    n = recv_within(c->impl, buf, size, nowait);
    if (n > 0 || n == -2)
        return n;
    return plain_fail(c, n == 0 ? 0 : errno);
}

/* Whether a plain connection got a TLS record: 0x15 and 0x16 begin TLS
 * alert and handshake records, which a TLS port sends a plain client. */
static int answered_in_tls(const struct conn *c)
{
    return c->impl->got_bytes && !c->impl->ssl &&
           (c->impl->first_byte == 0x15 || c->impl->first_byte == 0x16);
}

static int reader_fail(struct conn *c, const char *why)
{
    if (answered_in_tls(c))
        return fail(c, 0, "the server answered in TLS (use rediss:// or the tls option)");
    return fail(c, 0, "%s", why);
}

/* n bytes that came into buf, checked against the bounds and fed to the
 * reader (and wiped, as they may hold tokens): 0, or -1 with err set. */
static int take_bytes(struct conn *c, char *buf, size_t n)
{
    char why[200];

    if (!c->impl->got_bytes) {
        c->impl->got_bytes = 1;
        c->impl->first_byte = (unsigned char)buf[0];
    }
    int scanned = redis_resp_scan_feed(&c->impl->scan, buf, n, why, sizeof why);
    int fed = scanned == 0 ? redisReaderFeed(c->impl->rc->reader, buf, n) : REDIS_OK;
    explicit_bzero(buf, n);
    if (scanned != 0) {
        int tls = answered_in_tls(c);
        reader_fail(c, why);
        c->refused = !tls;
        return -1;
    }
    return fed == REDIS_OK ? 0 : fail(c, 0, "out of memory");
}

/* One reply: 0, 1 when nowait and it has not all come, or -1 with err
 * set. */
static int read_reply(struct conn *c, void **reply, int nowait)
{
    redisReader *r = c->impl->rc->reader;
    char buf[16384];

    *reply = NULL;
    for (;;) {
        if (redisReaderGetReply(r, reply) != REDIS_OK)
            return reader_fail(c, r->errstr);
        if (*reply)
            return 0;
        /* A server that always has a little more to send never makes a
         * read wait, so the deadline is checked here too. Without
         * waiting, what has come is read first: a busy event loop may
         * call late for an answer that came in time. */
        if (!nowait && deadline_passed(c->impl))
            return fail(c, 1, "no complete answer in time");
        ssize_t n = read_some(c, buf, sizeof buf, nowait);
        if (n == -2)
            return deadline_passed(c->impl) ? fail(c, 1, "no complete answer in time") : 1;
        if (n < 0 || take_bytes(c, buf, (size_t)n) != 0)
            return -1;
    }
}

int redis_conn_read_reply(struct conn *c, void **reply)
{
    return read_reply(c, reply, 0);
}

int redis_conn_read_reply_nowait(struct conn *c, void **reply)
{
    return c->impl->ssl ? fail(c, 0, "a TLS connection is read waiting") :
                          read_reply(c, reply, 1);
}

int redis_conn_poll_fd(const struct conn *c)
{
    return c->impl->ssl ? -1 : c->impl->rc->fd;
}

int redis_conn_peer_closed(const struct conn *c)
{
    struct pollfd p = { .fd = c->impl->rc->fd, .events = POLLIN | POLLRDHUP };
    return poll(&p, 1, 0) > 0;
}
