/*
 * core/crypt.c - the cipher under encryption at rest: one value sealed
 * and opened with AES-SIV (RFC 5297) over AES-256, a key's 32 bytes made
 * into the cipher's keys and the key's id, and the text a sealed value
 * is stored as.
 *
 * Why SIV: it is deterministic, so one value in one field seals to the
 * same text every time under one key, and the SDK's lookups by access,
 * refresh or grant token stay an equality in any backend (an SQL WHERE,
 * a Lua script, a file's hash index) with no change to it; and it is
 * authenticated, so a value changed on disk fails to open instead of
 * opening as garbage. The field's name is the associated data: a refresh
 * token moved into the access_token column does not open there.
 *
 * Why it is put together here from OpenSSL's AES (CBC for the CMAC of
 * RFC 4493, ECB for CTR's keystream), rather than used as EVP's
 * "AES-256-SIV": that
 * cipher object copies its MAC context for every piece it is given and
 * takes one message per key set-up, so opening a value cost 1.3 us and a
 * find by user, which opens three, took 1.5 times as long as without
 * encryption. Here S2V's state after the field name is worked out once
 * per key and field, CMAC is one CBC call and CTR one ECB call, and
 * contexts are kept and reused without being set up again. It is the
 * same function: tests/unit/test_crypt checks it
 * against EVP's AES-256-SIV for every length from 1 to 300 bytes and a
 * 70,000-byte one, and against RFC 5297's example A.1.
 *
 * A key's 32 bytes are stretched with HKDF-SHA256 into AES-256-SIV's 64
 * (a CMAC key and a CTR key) and, with another label, into its id: 8 hex
 * digits that name the key in each value it sealed, so a store can hold
 * values of several keys during a rotation. The bytes are wiped as soon
 * as OpenSSL's contexts hold them, and OpenSSL wipes those when they are
 * freed.
 *
 * A sealed value is "tsenc1:<id>:<base64url of V || C>", V the 16-byte
 * synthetic IV and C the ciphertext, as long as the value: text every
 * backend keeps, without a comma, quote or newline (which the Node.js
 * SDK's CSV file cannot hold).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include "crypt.h"

/* ---------------------------------------------------------------- AES-SIV */

/* The two contexts one seal or open uses; copies of the template. Both
 * are used without being initialised again (an EVP init looks its
 * parameters up by name, a third of the time on short values): the CBC
 * chain runs on from call to call, and ECB has none. */
struct siv_ctxs {
    EVP_CIPHER_CTX *cbc;       /* AES-CBC under the first half of the key: CMAC */
    unsigned char chain[16];   /* ...and the block its chain ended on */
    EVP_CIPHER_CTX *ecb;       /* AES-ECB under the second half: CTR's keystream */
    struct siv_ctxs *next;
};

struct ts__siv {
    struct siv_ctxs tmpl;      /* keyed once, only ever copied */
    struct siv_ctxs *idle;     /* copies no call is using */
    pthread_mutex_t lock;      /* over idle and the copying */
    unsigned char k1[16], k2[16];   /* CMAC's subkeys (RFC 4493) */
    unsigned char zero[16];    /* CMAC(K, 0^128), S2V's start */
};

static void ctxs_free(struct siv_ctxs *c)
{
    EVP_CIPHER_CTX_free(c->cbc);
    EVP_CIPHER_CTX_free(c->ecb);
    OPENSSL_cleanse(c->chain, sizeof c->chain);
}

static struct siv_ctxs *ctxs_dup(const struct siv_ctxs *src)
{
    struct siv_ctxs *c = calloc(1, sizeof *c);

    if (c && (c->cbc = EVP_CIPHER_CTX_new()) && EVP_CIPHER_CTX_copy(c->cbc, src->cbc) &&
        (c->ecb = EVP_CIPHER_CTX_new()) && EVP_CIPHER_CTX_copy(c->ecb, src->ecb)) {
        memcpy(c->chain, src->chain, sizeof c->chain);
        return c;
    }
    if (c)
        ctxs_free(c);
    free(c);
    return NULL;
}

/* Contexts of one's own: an idle copy, else a new one. */
static struct siv_ctxs *take(ts__siv *siv)
{
    pthread_mutex_lock(&siv->lock);
    struct siv_ctxs *c = siv->idle;
    if (c)
        siv->idle = c->next;
    else
        c = ctxs_dup(&siv->tmpl);
    pthread_mutex_unlock(&siv->lock);
    return c;
}

/* Back to the idle list; contexts an EVP call failed on, whose chain may
 * be anywhere, are freed instead. */
static void give_back(ts__siv *siv, struct siv_ctxs *c, int ok)
{
    if (!ok) {
        ctxs_free(c);
        free(c);
        return;
    }
    pthread_mutex_lock(&siv->lock);
    c->next = siv->idle;
    siv->idle = c;
    pthread_mutex_unlock(&siv->lock);
}

static void xor16(unsigned char *a, const unsigned char *b)
{
    for (int i = 0; i < 16; i++)
        a[i] ^= b[i];
}

/* Multiplication by x in GF(2^128), as RFC 5297 defines dbl(). */
static void dbl(unsigned char b[16])
{
    unsigned char carry = b[0] >> 7;

    for (int i = 0; i < 15; i++)
        b[i] = (unsigned char)((b[i] << 1) | (b[i + 1] >> 7));
    b[15] = (unsigned char)((b[15] << 1) ^ (carry ? 0x87 : 0));
}

/* AES-CMAC (RFC 4493) of a || last (last: 16 bytes, or NULL): the last
 * block of the message's AES-CBC from a zero IV, that block first xored
 * with subkey K1 when it is whole, else padded (10*) and xored with K2.
 * The chain goes on from the last call's block, so that block is xored
 * into the first one: the same as starting from zero. */
static int cmac(const ts__siv *siv, struct siv_ctxs *c, const unsigned char *a, size_t alen,
                const unsigned char *last, unsigned char out[16])
{
    unsigned char small[512], *buf;
    size_t n = alen + (last ? 16 : 0), full = n == 0 ? 16 : (n + 15) / 16 * 16;
    int len = 0, ok;

    if (!(buf = full <= sizeof small ? small : malloc(full)))
        return 0;
    if (alen)
        memcpy(buf, a, alen);
    if (last)
        memcpy(buf + alen, last, 16);
    if (n > 0 && n == full) {
        xor16(buf + full - 16, siv->k1);
    } else {
        buf[n] = 0x80;
        memset(buf + n + 1, 0, full - n - 1);
        xor16(buf + full - 16, siv->k2);
    }
    xor16(buf, c->chain);
    ok = full <= INT_MAX && EVP_EncryptUpdate(c->cbc, buf, &len, buf, (int)full) &&
         (size_t)len == full;
    if (ok) {
        memcpy(out, buf + full - 16, 16);
        memcpy(c->chain, out, 16);
    }
    OPENSSL_cleanse(buf, full);         /* the plaintext's blocks, chained */
    if (buf != small)
        free(buf);
    return ok;
}

/* S2V's last step, on the plaintext, from the state d after the
 * associated data. */
static int s2v(const ts__siv *siv, struct siv_ctxs *c, const unsigned char d[16],
               const unsigned char *p, size_t len, unsigned char v[16])
{
    unsigned char t[16];
    int ok;

    if (len >= 16) {            /* T = P xorend D */
        memcpy(t, p + len - 16, 16);
        xor16(t, d);
        ok = cmac(siv, c, p, len - 16, t, v);
    } else {                    /* T = dbl(D) xor pad(P) */
        unsigned char dd[16];
        memcpy(dd, d, 16);
        dbl(dd);
        memset(t, 0, sizeof t);
        memcpy(t, p, len);
        t[len] = 0x80;
        xor16(t, dd);
        ok = cmac(siv, c, NULL, 0, t, v);
    }
    OPENSSL_cleanse(t, sizeof t);
    return ok;
}

/* AES-CTR from Q, V with the two bits RFC 5297 clears, counting as a
 * 128-bit big-endian number: the counter blocks' keystream from ECB, up
 * to 32 blocks a call, xored into the text. */
static int ctr(struct siv_ctxs *c, const unsigned char v[16], const unsigned char *in,
               size_t len, unsigned char *out)
{
    unsigned char q[16], blocks[512], stream[512];
    size_t used = 0;
    int ok = 1;

    memcpy(q, v, 16);
    q[8] &= 0x7f;
    q[12] &= 0x7f;
    for (size_t done = 0; done < len && ok;) {
        size_t chunk = len - done < sizeof blocks ? len - done : sizeof blocks;
        size_t nblocks = (chunk + 15) / 16;
        int n = 0;
        for (size_t b = 0; b < nblocks; b++) {
            memcpy(blocks + 16 * b, q, 16);
            for (int i = 15; i >= 0 && ++q[i] == 0; i--)
                ;
        }
        ok = EVP_EncryptUpdate(c->ecb, stream, &n, blocks, (int)(16 * nblocks)) &&
             (size_t)n == 16 * nblocks;
        for (size_t i = 0; ok && i < chunk; i++)
            out[done + i] = in[done + i] ^ stream[i];
        used = 16 * nblocks > used ? 16 * nblocks : used;
        done += chunk;
    }
    OPENSSL_cleanse(stream, used);
    return ok;
}

/* CMAC's subkeys from L = AES_K(0^128): K1 = dbl(L), K2 = dbl(K1). The
 * template's chain starts here, from a zero IV. */
static int subkeys(ts__siv *siv)
{
    static const unsigned char zero[16];
    int len = 0;

    if (!EVP_EncryptUpdate(siv->tmpl.cbc, siv->k1, &len, zero, 16) || len != 16)
        return 0;
    memcpy(siv->tmpl.chain, siv->k1, 16);
    dbl(siv->k1);
    memcpy(siv->k2, siv->k1, 16);
    dbl(siv->k2);
    return 1;
}

/* An AES context of mode `mode` ("CBC", "ECB") under key, no padding. */
static EVP_CIPHER_CTX *aes(const char *mode, const unsigned char *key, size_t len)
{
    static const unsigned char zero_iv[16];
    char name[16];
    EVP_CIPHER *cipher;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

    snprintf(name, sizeof name, "AES-%d-%s", len == 32 ? 256 : 128, mode);
    if (!ctx || !(cipher = EVP_CIPHER_fetch(NULL, name, NULL))) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    int ok = EVP_EncryptInit_ex2(ctx, cipher, key, strcmp(mode, "CBC") == 0 ? zero_iv : NULL,
                                 NULL) && EVP_CIPHER_CTX_set_padding(ctx, 0);
    EVP_CIPHER_free(cipher);
    if (!ok) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int ts__siv_new(ts__siv **out, const unsigned char *key, size_t len)
{
    static const unsigned char zero[16];
    ts__siv *siv = calloc(1, sizeof *siv);
    int rc = TS_ERR_BACKEND;

    *out = NULL;
    if (!siv)
        return TS_ERR_NOMEM;
    if ((len == 32 || len == 64) && (siv->tmpl.cbc = aes("CBC", key, len / 2)) &&
        (siv->tmpl.ecb = aes("ECB", key + len / 2, len / 2)) && subkeys(siv) &&
        cmac(siv, &siv->tmpl, zero, sizeof zero, NULL, siv->zero))
        rc = TS_OK;
    if (rc != TS_OK) {
        ctxs_free(&siv->tmpl);
        free(siv);
        return rc;
    }
    pthread_mutex_init(&siv->lock, NULL);
    *out = siv;
    return TS_OK;
}

void ts__siv_free(ts__siv *siv)
{
    if (!siv)
        return;
    while (siv->idle) {
        struct siv_ctxs *c = siv->idle;
        siv->idle = c->next;
        ctxs_free(c);
        free(c);
    }
    ctxs_free(&siv->tmpl);
    pthread_mutex_destroy(&siv->lock);
    OPENSSL_cleanse(siv->k1, sizeof siv->k1);
    OPENSSL_cleanse(siv->k2, sizeof siv->k2);
    OPENSSL_cleanse(siv->zero, sizeof siv->zero);
    free(siv);
}

/* Another thread of the parent may have held the lock, or been moving a
 * context in or out of the idle list, at the fork: the child starts
 * with a new lock and an empty list (the copies left are forgotten). */
void ts__siv_forked(ts__siv *siv)
{
    pthread_mutex_init(&siv->lock, NULL);
    siv->idle = NULL;
}

int ts__siv_ad(ts__siv *siv, const void *ad, size_t len, unsigned char d[16])
{
    struct siv_ctxs *c = take(siv);
    unsigned char mac[16];

    if (!c)
        return TS_ERR_NOMEM;
    int ok = cmac(siv, c, ad, len, NULL, mac);
    give_back(siv, c, ok);
    if (!ok)
        return TS_ERR_BACKEND;
    memcpy(d, siv->zero, 16);
    dbl(d);
    xor16(d, mac);
    return TS_OK;
}

int ts__siv_seal(ts__siv *siv, const unsigned char d[16], const unsigned char *in, size_t len,
                 unsigned char *out)
{
    struct siv_ctxs *c;

    if (len == 0)
        return TS_ERR_INVALID;
    if (!(c = take(siv)))
        return TS_ERR_NOMEM;
    int ok = s2v(siv, c, d, in, len, out) && ctr(c, out, in, len, out + TS__SIV_LEN);
    give_back(siv, c, ok);
    return ok ? TS_OK : TS_ERR_BACKEND;
}

int ts__siv_open(ts__siv *siv, const unsigned char d[16], const unsigned char *in, size_t len,
                 unsigned char *out)
{
    unsigned char v[16];
    struct siv_ctxs *c;

    if (len <= TS__SIV_LEN)
        return TS_ERR_CORRUPT;
    if (!(c = take(siv)))
        return TS_ERR_NOMEM;
    size_t n = len - TS__SIV_LEN;
    int ok = ctr(c, in, in + TS__SIV_LEN, n, out) && s2v(siv, c, d, out, n, v);
    give_back(siv, c, ok);
    if (ok && CRYPTO_memcmp(v, in, TS__SIV_LEN) == 0)
        return TS_OK;
    OPENSSL_cleanse(out, n);
    return ok ? TS_ERR_CORRUPT : TS_ERR_BACKEND;
}

/* ---------------------------------------------------------------- keys */

struct ts__key {
    char id[TS__KEY_ID_LEN + 1];
    ts__siv *siv;
    unsigned char d[TS_FIELD_COUNT][16];   /* S2V after each field's name */
};

/* HKDF-SHA256 of the key's bytes under a label of the project's. */
static int hkdf(const unsigned char *key, size_t len, const char *label, unsigned char *out,
                size_t out_len)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)"tokenstore", 10),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)label, strlen(label)),
        OSSL_PARAM_construct_end(),
    };
    int ok = ctx && EVP_KDF_derive(ctx, out, out_len, params) == 1;

    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return ok;
}

int ts__key_new(ts__key **out, const unsigned char raw[TS__KEY_BYTES])
{
    unsigned char siv_key[64], id[TS__KEY_ID_LEN / 2];
    ts__key *k = calloc(1, sizeof *k);
    int rc = k ? TS_OK : TS_ERR_NOMEM;

    *out = NULL;
    if (rc == TS_OK && (!hkdf(raw, TS__KEY_BYTES, "tokenstore AES-256-SIV v1", siv_key,
                              sizeof siv_key) ||
                        !hkdf(raw, TS__KEY_BYTES, "tokenstore key id v1", id, sizeof id)))
        rc = TS_ERR_BACKEND;
    if (rc == TS_OK)
        rc = ts__siv_new(&k->siv, siv_key, sizeof siv_key);
    OPENSSL_cleanse(siv_key, sizeof siv_key);
    for (int f = 0; rc == TS_OK && f < TS_FIELD_COUNT; f++) {
        const char *name = ts_field_name((ts_field)f);
        rc = ts__siv_ad(k->siv, name, strlen(name), k->d[f]);
    }
    for (size_t i = 0; rc == TS_OK && i < sizeof id; i++)
        snprintf(k->id + 2 * i, 3, "%02x", id[i]);
    if (rc != TS_OK) {
        ts__key_free(k);
        return rc;
    }
    *out = k;
    return TS_OK;
}

void ts__key_free(ts__key *k)
{
    if (!k)
        return;
    ts__siv_free(k->siv);
    OPENSSL_cleanse(k->d, sizeof k->d);
    free(k);
}

void ts__key_forked(ts__key *k)
{
    ts__siv_forked(k->siv);
}

const char *ts__key_id(const ts__key *k)
{
    return k->id;
}

int ts__key_seal(ts__key *k, ts_field f, const char *value, size_t len, char **out,
                 size_t *out_len)
{
    size_t raw_len = TS__SIV_LEN + len;
    size_t head = TS__SEALED_PREFIX_LEN + TS__KEY_ID_LEN + 1;
    unsigned char *raw = malloc(raw_len);
    char *text = malloc(head + (raw_len * 4 + 2) / 3 + 1);
    int rc = raw && text ? TS_OK : TS_ERR_NOMEM;

    *out = NULL;
    if (rc == TS_OK)
        rc = ts__siv_seal(k->siv, k->d[f], (const unsigned char *)value, len, raw);
    if (rc == TS_OK) {
        memcpy(text, TS__SEALED_PREFIX, TS__SEALED_PREFIX_LEN);
        memcpy(text + TS__SEALED_PREFIX_LEN, k->id, TS__KEY_ID_LEN);
        text[head - 1] = ':';
        *out_len = head + ts__b64_encode(raw, raw_len, text + head);
        text[*out_len] = '\0';
        *out = text;
        text = NULL;
    }
    free(raw);          /* V || C: nothing secret */
    free(text);
    return rc;
}

int ts__sealed_id(const char *value, size_t len, char id[TS__KEY_ID_LEN + 1])
{
    size_t head = TS__SEALED_PREFIX_LEN + TS__KEY_ID_LEN + 1;

    if (len < TS__SEALED_PREFIX_LEN || memcmp(value, TS__SEALED_PREFIX, TS__SEALED_PREFIX_LEN))
        return 0;
    memset(id, '?', TS__KEY_ID_LEN);
    id[TS__KEY_ID_LEN] = '\0';
    if (len < head || value[head - 1] != ':' ||
        strspn(value + TS__SEALED_PREFIX_LEN, "0123456789abcdef") != TS__KEY_ID_LEN)
        return -1;
    memcpy(id, value + TS__SEALED_PREFIX_LEN, TS__KEY_ID_LEN);
    return 1;
}

int ts__key_open(ts__key *k, ts_field f, const char *sealed, size_t len, char **out,
                 size_t *out_len)
{
    size_t head = TS__SEALED_PREFIX_LEN + TS__KEY_ID_LEN + 1, raw_len = 0;
    unsigned char small[512], *raw = len <= sizeof small ? small : malloc(len);
    char *plain = NULL;
    int rc;

    *out = NULL;
    if (!raw)
        return TS_ERR_NOMEM;
    if (len <= head || sealed[head - 1] != ':' ||
        ts__b64_decode(sealed + head, len - head, raw, &raw_len) != TS_OK ||
        raw_len <= TS__SIV_LEN)
        rc = TS_ERR_INVALID;
    else if (!(plain = malloc(raw_len - TS__SIV_LEN + 1)))
        rc = TS_ERR_NOMEM;
    else
        rc = ts__siv_open(k->siv, k->d[f], raw, raw_len, (unsigned char *)plain);
    if (raw != small)
        free(raw);          /* V || C: nothing secret */
    if (rc == TS_OK) {
        *out_len = raw_len - TS__SIV_LEN;
        plain[*out_len] = '\0';
        if (memchr(plain, '\0', *out_len))    /* never sealed so: not ours */
            rc = TS_ERR_CORRUPT;
    }
    if (rc != TS_OK) {
        if (plain)
            OPENSSL_cleanse(plain, raw_len - TS__SIV_LEN);
        free(plain);
        return rc;
    }
    *out = plain;
    return TS_OK;
}
