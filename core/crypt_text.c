/*
 * core/crypt_text.c - the text around encryption at rest: base64url (the
 * body of a sealed value), the forms a key file or variable may hold its
 * 32 bytes in, and the encrypt section's settings, checked where a
 * config sets them so that a mistake is named with its file and key.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include "crypt.h"

/* ---------------------------------------------------------------- text */

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t ts__b64_encode(const unsigned char *in, size_t len, char *out)
{
    size_t o = 0, i = 0;

    for (; i + 2 < len; i += 3) {
        unsigned long w = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url[w >> 18 & 63];
        out[o++] = b64url[w >> 12 & 63];
        out[o++] = b64url[w >> 6 & 63];
        out[o++] = b64url[w & 63];
    }
    if (i < len) {
        unsigned long w = (unsigned long)in[i] << 16 |
                          (i + 1 < len ? (unsigned long)in[i + 1] << 8 : 0);
        out[o++] = b64url[w >> 18 & 63];
        out[o++] = b64url[w >> 12 & 63];
        if (i + 1 < len)
            out[o++] = b64url[w >> 6 & 63];
    }
    return o;
}

/* Each character's 6 bits, either alphabet; 64 for anything else. */
static const unsigned char b64_bits[256] = {
#define X64 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64
    X64, X64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 62, 64, 62, 64, 63,    /* + - / */
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 64, 64, 64, 64, 64, 64,    /* 0-9 */
    64, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,              /* A-O */
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 64, 64, 64, 64, 63,    /* P-Z _ */
    64, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,    /* a-o */
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 64, 64, 64, 64, 64,    /* p-z */
    X64, X64, X64, X64, X64, X64, X64, X64,
#undef X64
};

/* Without padding: a sealed value's text is never padded, and a key's
 * has its padding taken off first. Four characters at a time. */
int ts__b64_decode(const char *in, size_t len, unsigned char *out, size_t *out_len)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0, i = 0;
    unsigned bad = 0;

    if (len % 4 == 1)
        return TS_ERR_INVALID;
    for (; i + 4 <= len; i += 4) {
        unsigned a = b64_bits[p[i]], b = b64_bits[p[i + 1]], c = b64_bits[p[i + 2]],
                 d = b64_bits[p[i + 3]];
        bad |= (a | b | c | d) & 64;
        unsigned long w = (unsigned long)a << 18 | (unsigned long)b << 12 | c << 6 | d;
        out[o++] = (unsigned char)(w >> 16);
        out[o++] = (unsigned char)(w >> 8);
        out[o++] = (unsigned char)w;
    }
    if (i < len) {                      /* 2 or 3 characters: 1 or 2 bytes */
        unsigned a = b64_bits[p[i]], b = b64_bits[p[i + 1]];
        unsigned c = i + 2 < len ? b64_bits[p[i + 2]] : 0;
        bad |= (a | b | c) & 64;
        /* bits past the last byte make the text another one's: not canonical */
        bad |= i + 2 < len ? (c & 3) : (b & 15);
        out[o++] = (unsigned char)(a << 2 | b >> 4);
        if (i + 2 < len)
            out[o++] = (unsigned char)(b << 4 | c >> 2);
    }
    if (bad)
        return TS_ERR_INVALID;
    *out_len = o;
    return TS_OK;
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int ts__key_parse(const char *text, size_t len, unsigned char raw[TS__KEY_BYTES])
{
    unsigned char buf[64];
    size_t n = 0;

    if (len == TS__KEY_BYTES) {          /* the raw bytes */
        /* ...unless they are all text: 32 random bytes are that once in
         * 10^14 times, a passphrase or a 31-character line always. */
        size_t printable = 0;
        for (size_t i = 0; i < len; i++)
            printable += (text[i] >= 0x20 && text[i] < 0x7f) || text[i] == '\n' ||
                         text[i] == '\r' || text[i] == '\t';
        if (printable == len)
            return 0;
        memcpy(raw, text, TS__KEY_BYTES);
        return 1;
    }
    while (len > 0 && strchr(" \t\r\n", text[len - 1]))
        len--;
    while (len > 0 && strchr(" \t\r\n", *text)) {
        text++;
        len--;
    }
    int ok = 0;
    if (len == 2 * TS__KEY_BYTES) {
        ok = 1;
        for (size_t i = 0; i < TS__KEY_BYTES && ok; i++) {
            int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
            if ((ok = hi >= 0 && lo >= 0))
                buf[i] = (unsigned char)(hi << 4 | lo);
        }
        n = TS__KEY_BYTES;
    } else if (len == 43 || (len == 44 && text[43] == '=')) {
        ok = ts__b64_decode(text, 43, buf, &n) == TS_OK && n == TS__KEY_BYTES;
    }
    if (ok)
        memcpy(raw, buf, TS__KEY_BYTES);
    OPENSSL_cleanse(buf, sizeof buf);
    return ok;
}

/* ---------------------------------------------------------------- settings */

#define SEALABLE_NAMES "the fields that can be: client_secret, refresh_token, access_token, " \
                       "grant_token, user_name"

static const char *const settings[] = {
    "key_file", "key_env", "old_key_files", "old_key_env", "fields", "allow_plaintext",
};

int ts__encrypt_setting_known(const char *key)
{
    for (size_t i = 0; key && i < sizeof settings / sizeof *settings; i++)
        if (strcmp(key, settings[i]) == 0)
            return 1;
    return 0;
}

int ts__encrypt_bool(const char *v)
{
    static const char *const yes[] = { "1", "true", "yes", "on" }, *const no[] = { "0", "false",
                                                                              "no", "off" };
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    }
    return -1;
}

int ts__encrypt_fields(const char *value, unsigned *mask, char *bad, size_t size)
{
    char name[32];

    *mask = 0;
    for (const char *p = value; *p;) {
        size_t n = strcspn(p, ", \t");
        if (n > 0) {
            ts_field f;
            snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), p);
            if (n >= sizeof name || ts_field_from_name(name, &f) != TS_OK ||
                !(TS__SEALABLE & (1u << f))) {
                snprintf(bad, size, "%.*s", (int)(n > 40 ? 40 : n), p);
                return TS_ERR_CONFIG;
            }
            *mask |= 1u << f;
        }
        p += n;
        p += strspn(p, ", \t");
    }
    if (!*mask) {
        snprintf(bad, size, "%s", "");
        return TS_ERR_CONFIG;
    }
    return TS_OK;
}

int ts__encrypt_setting_check(const char *key, const char *value, const char *origin,
                              ts_error *err)
{
    char bad[48];
    unsigned mask;

    if (!ts__encrypt_setting_known(key))
        return ts__error(err, TS_ERR_CONFIG, "%s: encrypt.%.64s: unknown key (expected key_file, "
                         "key_env, old_key_files, old_key_env, fields, allow_plaintext)",
                         origin, key ? key : "(null)");
    if (!value || (!*value && strcmp(key, "old_key_files") != 0 && strcmp(key, "old_key_env") != 0))
        return ts__error(err, TS_ERR_CONFIG, "%s: encrypt.%s: empty", origin, key);
    if (strcmp(key, "allow_plaintext") == 0 && ts__encrypt_bool(value) < 0)
        return ts__error(err, TS_ERR_CONFIG, "%s: encrypt.allow_plaintext: expected true or "
                         "false, got '%.32s'", origin, value);
    if (strcmp(key, "fields") != 0 || ts__encrypt_fields(value, &mask, bad, sizeof bad) == TS_OK)
        return TS_OK;
    if (!*bad)
        return ts__error(err, TS_ERR_CONFIG, "%s: encrypt.fields: names no field (%s)", origin,
                         SEALABLE_NAMES);
    return ts__error(err, TS_ERR_CONFIG, "%s: encrypt.fields: '%s' cannot be encrypted (%s)",
                     origin, bad, SEALABLE_NAMES);
}
