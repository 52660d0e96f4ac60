/*
 * tokenstore/types.h - the types shared by applications and backends.
 *
 * Do not include this file directly: include <tokenstore/tokenstore.h> in
 * an application or <tokenstore/backend.h> in a backend. Both need the same
 * token fields, result codes and error struct, so they live here once.
 */
#ifndef TOKENSTORE_TYPES_H
#define TOKENSTORE_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* printf-style arguments, checked by the compiler where it can. */
#if defined(__GNUC__)
#define TS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TS_PRINTF(f, a)
#endif

/*
 * The ten fields of the Zoho SDK's token, in the SDK's column order (the
 * order of its FileStore CSV and of the `oauthtoken` table). Every value is
 * a NUL-terminated string; the empty string means "absent", as in the SDK.
 * expiry_time is epoch milliseconds written as a decimal string.
 */
typedef enum ts_field {
    TS_FIELD_ID = 0,
    TS_FIELD_USER_NAME,
    TS_FIELD_CLIENT_ID,
    TS_FIELD_CLIENT_SECRET,
    TS_FIELD_REFRESH_TOKEN,
    TS_FIELD_ACCESS_TOKEN,
    TS_FIELD_GRANT_TOKEN,
    TS_FIELD_EXPIRY_TIME,
    TS_FIELD_REDIRECT_URL,
    TS_FIELD_API_DOMAIN,
    TS_FIELD_COUNT
} ts_field;

/* Result codes. TS_OK is zero; everything else is a failure or a miss. */
typedef enum ts_code {
    TS_OK = 0,
    TS_NOT_FOUND,        /* no token matched: not an error for the store */
    TS_ERR_INVALID,      /* bad argument: no lookup key, bad id, bad field */
    TS_ERR_NOMEM,        /* out of memory */
    TS_ERR_IO,           /* reading or writing a file failed */
    TS_ERR_CONFIG,       /* bad config file, URI or backend option */
    TS_ERR_LOAD,         /* a backend could not be found or loaded */
    TS_ERR_ABI,          /* a backend speaks another ABI or lacks an operation */
    TS_ERR_CORRUPT,      /* stored data could not be parsed */
    TS_ERR_CONFLICT,     /* the save would give one user two rows */
    TS_ERR_BUSY,         /* the store stayed locked past its timeout */
    TS_ERR_CONNECT,      /* a server could not be reached */
    TS_ERR_AUTH,         /* a server refused our credentials */
    TS_ERR_TIMEOUT,      /* an operation took longer than allowed */
    TS_ERR_UNSUPPORTED,  /* the backend does not offer this operation */
    TS_ERR_BACKEND,      /* any other failure reported by a backend */
    TS_ERR_HTTP,         /* the accounts server could not be reached or
                            answered with an HTTP error */
    TS_ERR_OAUTH,        /* the accounts server refused: the message
                            carries its error code, e.g. invalid_code */
    TS_ERR_READ_ONLY,    /* a write on a store opened with TS_OPEN_READ_ONLY */
    TS_ERR_NO_STORE,     /* opened with TS_OPEN_MUST_EXIST (or READ_ONLY) and
                            the store does not exist */
    TS_ERR_BACKOFF,      /* since 1.4: a recent refresh of this token failed,
                            or its refresh budget is spent; the message says
                            when the next try is allowed */
    TS_CODE_COUNT
} ts_code;

/*
 * Where a failing call explains itself. Every call that can fail takes an
 * optional `ts_error *` (NULL is allowed) and fills it on failure; the
 * message names what was wrong and where, and never contains a secret.
 */
#define TS_ERROR_MAX 512
typedef struct ts_error {
    int code;                     /* a ts_code */
    char message[TS_ERROR_MAX];   /* "" when code is TS_OK */
} ts_error;

/* A token: an opaque set of the ten fields. See ts_token_get/ts_token_set. */
typedef struct ts_token ts_token;

/* A configuration and an open store (tokenstore.h). */
typedef struct ts_config ts_config;
typedef struct ts_store ts_store;

/* Called once per token by the get_tokens walks; non-zero stops the walk
 * and is returned by the walk. The token is only valid during the call. */
typedef int (*ts_token_cb)(const ts_token *token, void *userdata);

/* Log levels for the log hooks, most severe first. */
typedef enum ts_log_level {
    TS_LOG_ERROR = 0,
    TS_LOG_WARN,
    TS_LOG_INFO,
    TS_LOG_DEBUG
} ts_log_level;

/* Capability bits a backend reports in its table. */
#define TS_CAP_PERSISTENT   (1u << 0)  /* tokens survive closing the store */
#define TS_CAP_SHARED       (1u << 1)  /* safe for several processes at once */
#define TS_CAP_THREAD_SAFE  (1u << 2)  /* one handle may be used by many threads;
                                          without it the core serializes calls */
#define TS_CAP_OPEN_FLAGS   (1u << 3)  /* open honours host->open_flags (ABI 1.1):
                                          never creates or changes a store
                                          it was asked to open as it is */
#define TS_CAP_NOTES        (1u << 5)  /* since 1.4, set by the core: the backend
                                          keeps notes and a log beside its tokens
                                          (note_set ... log_walk), which every
                                          process sharing the store sees */
#define TS_CAP_IDS_NOT_REUSED (1u << 4) /* since 1.4: a new row's id is above
                                          every id the store handed out since
                                          it was last emptied, not the SDK's
                                          largest stored id plus one (deleting
                                          the newest row does not free its id) */

/* How a store is opened (ts_store_open_flags). With neither flag a store
 * that does not exist is created, as the SDK's stores do. */
#define TS_OPEN_MUST_EXIST  (1u << 0)  /* never create a store: one that does
                                          not exist is TS_ERR_NO_STORE */
#define TS_OPEN_READ_ONLY   (1u << 1)  /* implies MUST_EXIST; the store is not
                                          changed in any way (no schema, no
                                          header, no lock or journal files
                                          created) and every write through the
                                          handle is TS_ERR_READ_ONLY */

#ifdef __cplusplus
}
#endif

#endif /* TOKENSTORE_TYPES_H */
