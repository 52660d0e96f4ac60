/*
 * core/crypt_keys.c - a config's "encrypt" section made into keys: the
 * current key (key_file or key_env), the old keys a rotation still reads
 * (old_key_files, old_key_env), the fields to seal and whether unsealed
 * values of those fields may still be read (allow_plaintext); and
 * ts_keygen, which writes a new key file.
 *
 * Keys are read when a store is opened, before the backend is, so a
 * missing or unreadable key is an error that creates nothing. A key file
 * must be a regular file that others can neither read nor write and its
 * group cannot write (0600, or 0640 for a service's group): a key anyone
 * on the host can read protects nothing, and one that others can replace
 * would seal new tokens with their key. Its bytes, and a variable's, are
 * wiped as soon as they are made into the cipher's contexts, and no
 * message ever holds them: keys are named by path, variable and id.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "crypt.h"

#define KEY_FILE_MAX 256      /* longer than any form of 32 bytes */

void ts__crypt_free(ts__crypt *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nkeys; i++)
        ts__key_free(c->keys[i]);
    free(c);
}

void ts__crypt_forked(ts__crypt *c)
{
    for (size_t i = 0; c && i < c->nkeys; i++)
        ts__key_forked(c->keys[i]);
}

ts__key *ts__crypt_key(const ts__crypt *c, const char *id)
{
    for (size_t i = 0; i < c->nkeys; i++)
        if (memcmp(ts__key_id(c->keys[i]), id, TS__KEY_ID_LEN) == 0)
            return c->keys[i];
    return NULL;
}

/* Refuses a key file that is no regular file, that others may read or
 * write, or that its group may write. */
static int check_mode(const char *where, const char *path, const struct stat *st,
                      ts_error *err)
{
    unsigned mode = (unsigned)st->st_mode & 07777;

    if (!S_ISREG(st->st_mode))
        return ts__error(err, TS_ERR_CONFIG, "%s: %s is not a regular file", where, path);
    if (mode & 0027)
        return ts__error(err, TS_ERR_CONFIG, "%s: %s is %s (mode %04o): a key must be "
                         "readable by its owner only (chmod 600 %s)", where, path,
                         mode & 0007 ? "open to others" : "writable by its group", mode, path);
    return TS_OK;
}

static int read_key_file(const char *where, const char *path, unsigned char raw[TS__KEY_BYTES],
                         ts_error *err)
{
    char buf[KEY_FILE_MAX + 1];
    struct stat st;
    ssize_t n = 0, got;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), rc;

    if (fd < 0)
        return ts__error(err, TS_ERR_CONFIG, "%s: cannot open %s: %s", where, path,
                         strerror(errno));
    rc = fstat(fd, &st) == 0 ? check_mode(where, path, &st, err)
                             : ts__error(err, TS_ERR_CONFIG, "%s: %s: %s", where, path,
                                         strerror(errno));
    while (rc == TS_OK && n < (ssize_t)sizeof buf &&
           (got = read(fd, buf + n, sizeof buf - (size_t)n)) != 0) {
        if (got < 0 && errno != EINTR)
            rc = ts__error(err, TS_ERR_CONFIG, "%s: cannot read %s: %s", where, path,
                           strerror(errno));
        else if (got > 0)
            n += got;
    }
    close(fd);
    if (rc == TS_OK && (n > KEY_FILE_MAX || !ts__key_parse(buf, (size_t)n, raw)))
        rc = ts__error(err, TS_ERR_CONFIG, "%s: %s holds no key (32 bytes, raw or in base64 "
                       "or hex, as `tokenstore keygen` writes them)", where, path);
    ts__wipe(buf, sizeof buf);
    return rc;
}

static int read_key_env(const char *where, const char *name, unsigned char raw[TS__KEY_BYTES],
                        ts_error *err)
{
    const char *text = getenv(name);

    if (!text || !*text)
        return ts__error(err, TS_ERR_CONFIG, "%s: the environment variable %s is not set",
                         where, name);
    if (strlen(text) == TS__KEY_BYTES || !ts__key_parse(text, strlen(text), raw))
        return ts__error(err, TS_ERR_CONFIG, "%s: $%s holds no key (32 bytes in base64 or "
                         "hex)", where, name);
    return TS_OK;
}

/* Reads one key (a file, or a variable when is_env) and adds it; a key
 * already there (the same id) is not added twice. */
static int add_key(ts__crypt *c, const char *where, const char *source, int is_env,
                   ts_error *err)
{
    unsigned char raw[TS__KEY_BYTES];
    ts__key *k;
    int rc = is_env ? read_key_env(where, source, raw, err)
                    : read_key_file(where, source, raw, err);

    if (rc != TS_OK)
        return rc;
    rc = ts__key_new(&k, raw);
    ts__wipe(raw, sizeof raw);
    if (rc != TS_OK)
        return ts__error(err, rc, "%s: %s: the key could not be set up (%s)", where, source,
                         rc == TS_ERR_NOMEM ? "out of memory" : "OpenSSL refused it");
    if (ts__crypt_key(c, ts__key_id(k))) {
        ts__key_free(k);
        return TS_OK;
    }
    if (c->nkeys == TS__CRYPT_MAX_KEYS) {
        ts__key_free(k);
        return ts__error(err, TS_ERR_CONFIG, "%s: more than %d keys", where, TS__CRYPT_MAX_KEYS);
    }
    c->keys[c->nkeys++] = k;
    return TS_OK;
}

/* Each entry of a comma-separated list of files or variables. */
static int add_keys(ts__crypt *c, const char *origin, const char *setting, const char *list,
                    ts_error *err)
{
    char where[160], item[4096];
    int rc = TS_OK;

    snprintf(where, sizeof where, "%s: encrypt.%s", origin, setting);
    for (const char *p = list; p && *p && rc == TS_OK;) {
        size_t n = strcspn(p, ",");
        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        snprintf(item, sizeof item, "%.*s", (int)n, p);
        for (size_t end = strlen(item); end > 0 && strchr(" \t", item[end - 1]); end--)
            item[end - 1] = '\0';
        if (*item)
            rc = add_key(c, where, item, strstr(setting, "env") != NULL, err);
        p += n;
        p += *p == ',';
    }
    return rc;
}

int ts__crypt_open(ts__crypt **out, const ts_config *cfg, ts_error *err)
{
    const struct ts_kv *e = &cfg->encrypt;
    const char *origin = ts_config_origin(cfg);
    const char *file = ts__kv_get(e, "key_file"), *env = ts__kv_get(e, "key_env");
    const char *fields = ts__kv_get(e, "fields"), *plain = ts__kv_get(e, "allow_plaintext");
    char bad[48];
    int rc;

    *out = NULL;
    if (e->n == 0)
        return TS_OK;
    if (!file == !env)
        return ts__error(err, TS_ERR_CONFIG, "%s: encrypt: %s", origin, file
                         ? "give key_file or key_env, not both"
                         : "the current key is missing (key_file or key_env)");
    ts__crypt *c = calloc(1, sizeof *c);
    if (!c)
        return ts__error(err, TS_ERR_NOMEM, "out of memory");
    c->fields = TS__SEALED_DEFAULT;
    c->allow_plaintext = plain && ts__encrypt_bool(plain) == 1;
    if (fields && ts__encrypt_fields(fields, &c->fields, bad, sizeof bad) != TS_OK)
        rc = ts__encrypt_setting_check("fields", fields, origin, err);   /* says why */
    else
        rc = add_keys(c, origin, file ? "key_file" : "key_env", file ? file : env, err);
    if (rc == TS_OK)
        rc = add_keys(c, origin, "old_key_files", ts__kv_get(e, "old_key_files"), err);
    if (rc == TS_OK)
        rc = add_keys(c, origin, "old_key_env", ts__kv_get(e, "old_key_env"), err);
    if (rc != TS_OK) {
        ts__crypt_free(c);
        return rc;
    }
    *out = c;
    return TS_OK;
}

/* ---------------------------------------------------------------- keygen */

TS_API int ts_keygen(const char *path, char key_id[TS_KEY_ID_SIZE], ts_error *err)
{
    unsigned char raw[TS__KEY_BYTES];
    char text[64];
    ts__key *k = NULL;
    int rc = TS_OK, fd;

    if (!path || !*path)
        return ts__error(err, TS_ERR_INVALID, "keygen: no file named");
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return ts__error(err, TS_ERR_IO, "keygen: getrandom: %s", strerror(errno));
    int n = EVP_EncodeBlock((unsigned char *)text, raw, sizeof raw);   /* 44 characters */
    text[n] = '\n';
    text[n + 1] = '\0';
    if ((rc = ts__key_new(&k, raw)) != TS_OK)
        rc = ts__error(err, rc, "keygen: the key could not be set up");
    ts__wipe(raw, sizeof raw);
    fd = rc == TS_OK ? open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)
                     : -1;
    if (rc == TS_OK && fd < 0)
        rc = ts__error(err, TS_ERR_IO, "%s: %s", path, errno == EEXIST
                       ? "exists: a key file is never written over (the tokens it sealed "
                         "would be lost with it)" : strerror(errno));
    size_t len = strlen(text);
    if (rc == TS_OK && (fchmod(fd, 0600) != 0 || write(fd, text, len) != (ssize_t)len ||
                        fsync(fd) != 0)) {
        rc = ts__error(err, TS_ERR_IO, "%s: cannot write the key: %s", path, strerror(errno));
        unlink(path);
    }
    if (fd >= 0 && close(fd) != 0 && rc == TS_OK) {
        rc = ts__error(err, TS_ERR_IO, "%s: cannot write the key: %s", path, strerror(errno));
        unlink(path);
    }
    ts__wipe(text, sizeof text);
    if (rc == TS_OK && key_id)
        snprintf(key_id, TS_KEY_ID_SIZE, "%s", ts__key_id(k));
    ts__key_free(k);
    return rc;
}
