/*
 * core/error.c - result codes and the messages that travel with them.
 *
 * Every failing call fills a caller-provided ts_error rather than a global
 * or thread-local "last error", so one store can serve many threads.
 */
#include <stdio.h>
#include <string.h>
#include "internal.h"

static const char *const code_text[TS_CODE_COUNT] = {
    [TS_OK] = "no error",
    [TS_NOT_FOUND] = "not found",
    [TS_ERR_INVALID] = "invalid argument",
    [TS_ERR_NOMEM] = "out of memory",
    [TS_ERR_IO] = "input/output error",
    [TS_ERR_CONFIG] = "configuration error",
    [TS_ERR_LOAD] = "backend could not be loaded",
    [TS_ERR_ABI] = "backend ABI mismatch",
    [TS_ERR_CORRUPT] = "stored data is corrupt",
    [TS_ERR_CONFLICT] = "conflicting token",
    [TS_ERR_BUSY] = "store is busy",
    [TS_ERR_CONNECT] = "connection failed",
    [TS_ERR_AUTH] = "authentication failed",
    [TS_ERR_TIMEOUT] = "timed out",
    [TS_ERR_UNSUPPORTED] = "operation not supported",
    [TS_ERR_BACKEND] = "backend error",
    [TS_ERR_HTTP] = "HTTP request failed",
    [TS_ERR_OAUTH] = "OAuth server refused the request",
    [TS_ERR_READ_ONLY] = "store is opened read-only",
    [TS_ERR_NO_STORE] = "no such store",
    [TS_ERR_BACKOFF] = "refresh not allowed yet",
};

static const char *const code_name[TS_CODE_COUNT] = {
    [TS_OK] = "TS_OK",
    [TS_NOT_FOUND] = "TS_NOT_FOUND",
    [TS_ERR_INVALID] = "TS_ERR_INVALID",
    [TS_ERR_NOMEM] = "TS_ERR_NOMEM",
    [TS_ERR_IO] = "TS_ERR_IO",
    [TS_ERR_CONFIG] = "TS_ERR_CONFIG",
    [TS_ERR_LOAD] = "TS_ERR_LOAD",
    [TS_ERR_ABI] = "TS_ERR_ABI",
    [TS_ERR_CORRUPT] = "TS_ERR_CORRUPT",
    [TS_ERR_CONFLICT] = "TS_ERR_CONFLICT",
    [TS_ERR_BUSY] = "TS_ERR_BUSY",
    [TS_ERR_CONNECT] = "TS_ERR_CONNECT",
    [TS_ERR_AUTH] = "TS_ERR_AUTH",
    [TS_ERR_TIMEOUT] = "TS_ERR_TIMEOUT",
    [TS_ERR_UNSUPPORTED] = "TS_ERR_UNSUPPORTED",
    [TS_ERR_BACKEND] = "TS_ERR_BACKEND",
    [TS_ERR_HTTP] = "TS_ERR_HTTP",
    [TS_ERR_OAUTH] = "TS_ERR_OAUTH",
    [TS_ERR_READ_ONLY] = "TS_ERR_READ_ONLY",
    [TS_ERR_NO_STORE] = "TS_ERR_NO_STORE",
    [TS_ERR_BACKOFF] = "TS_ERR_BACKOFF",
};

TS_API const char *ts_code_name(int code)
{
    if (code < 0 || code >= TS_CODE_COUNT)
        return NULL;
    return code_name[code];
}

TS_API const char *ts_strerror(int code)
{
    if (code < 0 || code >= TS_CODE_COUNT)
        return "unknown error code";
    return code_text[code];
}

int ts__verror(ts_error *err, int code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
    }
    return code;
}

int ts__error(ts_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ts__verror(err, code, fmt, ap);
    va_end(ap);
    return code;
}

TS_API int ts_error_set(ts_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ts__verror(err, code, fmt, ap);
    va_end(ap);
    return code;
}

/* Puts fmt's text and ": " before err's message (or its code's text when
 * the message is empty), keeping the code. */
static void error_vprefix(ts_error *err, const char *fmt, va_list ap)
{
    char old[TS_ERROR_MAX];
    size_t n;

    memcpy(old, err->message, sizeof old);
    if (old[0] == '\0')
        snprintf(old, sizeof old, "%s", ts_strerror(err->code));
    vsnprintf(err->message, sizeof err->message - 3, fmt, ap);
    n = strlen(err->message);
    memcpy(err->message + n, ": ", 3);
    n += 2;
    snprintf(err->message + n, sizeof err->message - n, "%s", old);
}

TS_API int ts_error_prefix(ts_error *err, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return TS_OK;
    va_start(ap, fmt);
    error_vprefix(err, fmt, ap);
    va_end(ap);
    return err->code;
}

int ts__error_prefix_code(ts_error *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return code;
    err->code = code;
    va_start(ap, fmt);
    error_vprefix(err, fmt, ap);
    va_end(ap);
    return code;
}

void ts__error_clear(ts_error *err)
{
    if (err) {
        err->code = TS_OK;
        err->message[0] = '\0';
    }
}
