/*
 * tests/unit/encrypt_cases.h - what the encryption tests share: keys
 * written with ts_keygen, configs for a backend with an encrypt section,
 * tokens whose every secret is findable on disk, and reading a store's
 * files as an attacker with a copy of them would.
 */
#ifndef TS_TEST_ENCRYPT_CASES_H
#define TS_TEST_ENCRYPT_CASES_H

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <tokenstore/tokenstore.h>

/* The backends the store-level cases run on, by loop index. */
static const char *const backends[] = {
    "memory", "file",
#ifdef TS_TEST_SQLITE
    "sqlite",
#endif
};
#define NBACKENDS ((int)(sizeof backends / sizeof *backends))

/* scratch/name: a path in the test's scratch directory. */
static const char *in_scratch(const char *name)
{
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];

    snprintf(p, sizeof paths[0], "%s/%s", scratch, name);
    return p;
}

/* A new key at scratch/name (mode 0600); its id in id (may be NULL). */
static const char *new_key(const char *name, char *id)
{
    const char *path = in_scratch(name);
    char ignored[TS_KEY_ID_SIZE];
    ts_error err = { 0 };

    ck_assert_msg(ts_keygen(path, id ? id : ignored, &err) == TS_OK, "keygen: %s", err.message);
    return path;
}

/* A config for backend with its store in scratch (file: tokens.csv,
 * sqlite: tokens.db) and the encrypt settings given as key, value pairs
 * ending with NULL. */
static ts_config *encrypted_config(const char *backend, ...)
{
    ts_config *c;
    ts_error err = { 0 };
    va_list ap;

    ck_assert_int_eq(ts_config_new(&c), TS_OK);
    ck_assert_int_eq(ts_config_set_backend(c, backend, &err), TS_OK);
    if (strcmp(backend, "file") == 0)
        ck_assert_int_eq(ts_config_set_option(c, "path", in_scratch("tokens.csv"), &err), TS_OK);
    else if (strcmp(backend, "sqlite") == 0)
        ck_assert_int_eq(ts_config_set_option(c, "path", in_scratch("tokens.db"), &err), TS_OK);
    va_start(ap, backend);
    for (const char *k = va_arg(ap, const char *); k; k = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        ck_assert_msg(ts_config_set_encrypt(c, k, v, &err) == TS_OK, "%s: %s", k, err.message);
    }
    va_end(ap);
    return c;
}

static ts_store *open_config(ts_config *c)
{
    ts_store *s;
    ts_error err = { 0 };

    ck_assert_msg(ts_store_open_config(&s, c, &err) == TS_OK, "open: %s", err.message);
    return s;
}

/* Token number i: every secret carries i, so it can be looked for. */
static ts_token *numbered_token(unsigned i, int with_grant)
{
    char v[96];
    ts_token *t = ts_token_new();

    snprintf(v, sizeof v, "user%u@example.com", i);
    ts_token_set(t, TS_FIELD_USER_NAME, v);
    ts_token_set(t, TS_FIELD_CLIENT_ID, "1000.CLIENTID");
    snprintf(v, sizeof v, "secret-client-%u-SECRET", i);
    ts_token_set(t, TS_FIELD_CLIENT_SECRET, v);
    snprintf(v, sizeof v, "1000.refresh-%u-SECRET", i);
    ts_token_set(t, TS_FIELD_REFRESH_TOKEN, v);
    snprintf(v, sizeof v, "1000.access-%u-SECRET", i);
    ts_token_set(t, TS_FIELD_ACCESS_TOKEN, v);
    if (with_grant) {
        snprintf(v, sizeof v, "1000.grant-%u-SECRET", i);
        ts_token_set(t, TS_FIELD_GRANT_TOKEN, v);
    }
    ts_token_set(t, TS_FIELD_EXPIRY_TIME, "1893456000000");
    return t;
}

/* The whole of a file (an empty buffer when it does not exist). */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;

    *len = 0;
    if (!f)
        return calloc(1, 1);
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 65536;
            buf = realloc(buf, cap + 1);
            ck_assert_ptr_nonnull(buf);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* How many of tokens 0..n-1's secrets (client secret, refresh, access
 * and grant token) the bytes hold in the clear. */
static size_t secrets_in(const char *bytes, size_t len, unsigned n)
{
    char v[96];
    size_t found = 0;
    static const char *const forms[] = { "secret-client-", "1000.refresh-", "1000.access-",
                                         "1000.grant-" };

    for (unsigned i = 0; i < n; i++)
        for (size_t k = 0; k < 4; k++) {
            snprintf(v, sizeof v, "%s%u-SECRET", forms[k], i);
            found += memmem(bytes, len, v, strlen(v)) != NULL;
        }
    return found;
}

#endif
