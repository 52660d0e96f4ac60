/*
 * tests/unit/test_crypt.c - the cipher of encryption at rest, from the
 * inside (core/crypt.c is compiled into this program).
 *
 * AES-SIV is put together in crypt.c from OpenSSL's AES-CBC (for CMAC)
 * and AES-CTR, for speed, so the first thing proven is that it is
 * AES-SIV: RFC 5297's own example, and OpenSSL's "AES-256-SIV" cipher
 * agreeing on every length from 1 to 300 bytes, a long one, and every
 * field name as associated data. Then the
 * key: its id and cipher key are HKDF-SHA256 of its bytes with the labels
 * `openssl kdf` was asked about when these tests were written, so a
 * store sealed today opens tomorrow. Then the stored form, the
 * refusals (a flipped bit, another field, a malformed value: nothing is
 * returned, the buffer wiped) and the key texts a key file may hold.
 */
#include <pthread.h>
#include <string.h>
#include <openssl/evp.h>
#include "../../core/crypt.h"
#include "../check_main.h"

static void unhex(const char *hex, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sscanf(hex + 2 * i, "%2hhx", &out[i]);
}

/* V || C from OpenSSL's own AES-SIV cipher, one piece of associated data. */
static void evp_siv(const char *name, const unsigned char *key, const void *ad, size_t adlen,
                    const unsigned char *p, size_t len, unsigned char *out)
{
    EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, name, NULL);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n;

    ck_assert_ptr_nonnull(cipher);
    ck_assert(EVP_EncryptInit_ex2(ctx, cipher, key, NULL, NULL));
    ck_assert(EVP_EncryptUpdate(ctx, NULL, &n, ad, (int)adlen));
    ck_assert(EVP_EncryptUpdate(ctx, out + 16, &n, p, (int)len));
    ck_assert(EVP_EncryptFinal_ex(ctx, out + 16 + n, &n));
    ck_assert(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, out));
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(cipher);
}

/* RFC 5297, A.1: deterministic authenticated encryption, AES-128. */
START_TEST(rfc5297_example)
{
    unsigned char key[32], ad[24], p[14], out[30], want[30], back[14], d[16];
    ts__siv *siv;

    unhex("fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", key, 32);
    unhex("101112131415161718191a1b1c1d1e1f2021222324252627", ad, 24);
    unhex("112233445566778899aabbccddee", p, 14);
    unhex("85632d07c6e8f37f950acd320a2ecc9340c02b9690c4dc04daef7f6afe5c", want, 30);
    ck_assert_int_eq(ts__siv_new(&siv, key, sizeof key), TS_OK);
    ck_assert_int_eq(ts__siv_ad(siv, ad, sizeof ad, d), TS_OK);
    ck_assert_int_eq(ts__siv_seal(siv, d, p, sizeof p, out), TS_OK);
    ck_assert_mem_eq(out, want, sizeof want);
    ck_assert_int_eq(ts__siv_open(siv, d, out, sizeof out, back), TS_OK);
    ck_assert_mem_eq(back, p, sizeof p);
    ts__siv_free(siv);
}
END_TEST

/* The same function as OpenSSL's AES-256-SIV, whatever the length (less
 * than a block, a block, more) and the field. */
START_TEST(same_as_openssl_aes_256_siv)
{
    unsigned char key[64], p[300], mine[316], theirs[316], back[300], d[16];
    ts__siv *siv;

    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (unsigned char)(i * 37 + 11);
    ck_assert_int_eq(ts__siv_new(&siv, key, sizeof key), TS_OK);
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        const char *name = ts_field_name((ts_field)f);
        ck_assert_int_eq(ts__siv_ad(siv, name, strlen(name), d), TS_OK);
        for (size_t len = 1; len <= sizeof p; len++) {
            for (size_t i = 0; i < len; i++)
                p[i] = (unsigned char)(i * 7 + len + (size_t)f);
            ck_assert_int_eq(ts__siv_seal(siv, d, p, len, mine), TS_OK);
            evp_siv("AES-256-SIV", key, name, strlen(name), p, len, theirs);
            ck_assert_msg(memcmp(mine, theirs, 16 + len) == 0, "%s, %zu bytes", name, len);
            ck_assert_int_eq(ts__siv_open(siv, d, mine, 16 + len, back), TS_OK);
            ck_assert_mem_eq(back, p, len);
        }
    }
    /* A value far past a block or two: the CMAC's buffer comes from the heap. */
    size_t big = 70000;
    unsigned char *q = malloc(big), *m = malloc(big + 16), *t = malloc(big + 16), *b = malloc(big);
    for (size_t i = 0; i < big; i++)
        q[i] = (unsigned char)(i * 13);
    ck_assert_int_eq(ts__siv_ad(siv, "access_token", 12, d), TS_OK);
    ck_assert_int_eq(ts__siv_seal(siv, d, q, big, m), TS_OK);
    evp_siv("AES-256-SIV", key, "access_token", 12, q, big, t);
    ck_assert_mem_eq(m, t, big + 16);
    ck_assert_int_eq(ts__siv_open(siv, d, m, big + 16, b), TS_OK);
    ck_assert_mem_eq(b, q, big);
    free(q), free(m), free(t), free(b);
    ts__siv_free(siv);
}
END_TEST

/* A flipped bit anywhere, or another field's associated data, opens
 * nothing and leaves nothing in the buffer. */
START_TEST(tampering_is_refused)
{
    unsigned char key[64] = { 1 }, p[40], sealed[56], back[40], d[16], other[16];
    ts__siv *siv;

    memset(p, 'x', sizeof p);
    ck_assert_int_eq(ts__siv_new(&siv, key, sizeof key), TS_OK);
    ck_assert_int_eq(ts__siv_ad(siv, "refresh_token", 13, d), TS_OK);
    ck_assert_int_eq(ts__siv_ad(siv, "access_token", 12, other), TS_OK);
    ck_assert_int_eq(ts__siv_seal(siv, d, p, sizeof p, sealed), TS_OK);
    for (size_t bit = 0; bit < 8 * sizeof sealed; bit += 5) {
        sealed[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        memset(back, 0x55, sizeof back);
        ck_assert_int_eq(ts__siv_open(siv, d, sealed, sizeof sealed, back), TS_ERR_CORRUPT);
        for (size_t i = 0; i < sizeof back; i++)
            ck_assert_msg(back[i] == 0, "bit %zu: byte %zu of the output was left", bit, i);
        sealed[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    ck_assert_int_eq(ts__siv_open(siv, other, sealed, sizeof sealed, back), TS_ERR_CORRUPT);
    ck_assert_int_eq(ts__siv_open(siv, d, sealed, 16, back), TS_ERR_CORRUPT);
    ck_assert_int_eq(ts__siv_open(siv, d, sealed, sizeof sealed, back), TS_OK);
    ts__siv_free(siv);
}
END_TEST

/* The key's id and cipher key: HKDF-SHA256, salt "tokenstore", as
 * `openssl kdf -kdfopt digest:SHA256 -kdfopt salt:tokenstore -kdfopt
 * info:LABEL HKDF` gives them for the key 00 01 ... 1f. */
START_TEST(key_derivation_is_pinned)
{
    unsigned char raw[32], siv_key[64], sealed[16 + 8], decoded[64];
    ts__key *k;
    char *text, *plain;
    size_t len, n;

    for (int i = 0; i < 32; i++)
        raw[i] = (unsigned char)i;
    unhex("6352e425f83242ea1e46147e66e29cbd583957f990bce0a042eb68debbfe576422"
          "96a0b59148b3b3194c29818a4e6b8321c5fde99479f3d0702e8e45254087f0", siv_key, 64);
    ck_assert_int_eq(ts__key_new(&k, raw), TS_OK);
    ck_assert_str_eq(ts__key_id(k), "de14493e");
    ck_assert_int_eq(ts__key_seal(k, TS_FIELD_REFRESH_TOKEN, "1000.abc", 8, &text, &len), TS_OK);
    ck_assert_uint_eq(strlen(text), len);
    ck_assert_int_eq(strncmp(text, "tsenc1:de14493e:", 16), 0);
    evp_siv("AES-256-SIV", siv_key, "refresh_token", 13, (const unsigned char *)"1000.abc", 8,
            sealed);
    ck_assert_int_eq(ts__b64_decode(text + 16, len - 16, decoded, &n), TS_OK);
    ck_assert_uint_eq(n, sizeof sealed);
    ck_assert_mem_eq(decoded, sealed, sizeof sealed);
    ck_assert_int_eq(ts__key_open(k, TS_FIELD_REFRESH_TOKEN, text, len, &plain, &n), TS_OK);
    ck_assert_str_eq(plain, "1000.abc");
    free(plain);
    free(text);
    ts__key_free(k);
}
END_TEST

/* One value, one field, one key: one text, every time (lookups rely on
 * it); another field or key: another text. Only characters every backend
 * and both SDKs' CSV dialects keep. */
START_TEST(sealed_form)
{
    unsigned char raw[32] = { 9 }, raw2[32] = { 8 };
    ts__key *k, *k2;
    char *a, *b, *c, *e, id[TS__KEY_ID_LEN + 1];
    size_t la, lb, lc, le;

    ck_assert_int_eq(ts__key_new(&k, raw), TS_OK);
    ck_assert_int_eq(ts__key_new(&k2, raw2), TS_OK);
    ck_assert_str_ne(ts__key_id(k), ts__key_id(k2));
    ck_assert_int_eq(ts__key_seal(k, TS_FIELD_ACCESS_TOKEN, "1000.same", 9, &a, &la), TS_OK);
    ck_assert_int_eq(ts__key_seal(k, TS_FIELD_ACCESS_TOKEN, "1000.same", 9, &b, &lb), TS_OK);
    ck_assert_int_eq(ts__key_seal(k, TS_FIELD_REFRESH_TOKEN, "1000.same", 9, &c, &lc), TS_OK);
    ck_assert_int_eq(ts__key_seal(k2, TS_FIELD_ACCESS_TOKEN, "1000.same", 9, &e, &le), TS_OK);
    ck_assert_str_eq(a, b);
    ck_assert_str_ne(a, c);
    ck_assert_str_ne(a, e);
    ck_assert_int_eq(strspn(a + 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                            "0123456789-_"), la - 16);
    ck_assert_uint_eq(la, 16 + (16 + 9) * 4 / 3 + 1);      /* 25 bytes: 34 characters */
    ck_assert_int_eq(ts__sealed_id(a, la, id), 1);
    ck_assert_str_eq(id, ts__key_id(k));
    ck_assert_int_eq(ts__sealed_id("1000.plain", 10, id), 0);
    ck_assert_int_eq(ts__sealed_id("tsenc1:", 7, id), -1);
    ck_assert_int_eq(ts__sealed_id("tsenc1:0000", 11, id), -1);
    ck_assert_int_eq(ts__sealed_id("tsenc1:0123456G:AAAA", 20, id), -1);
    ck_assert_str_eq(id, "????????");
    free(a), free(b), free(c), free(e);
    ts__key_free(k);
    ts__key_free(k2);
}
END_TEST

/* What is not a sealed value, or not this field's, is refused: never
 * garbage handed on. */
START_TEST(malformed_and_misplaced_values)
{
    unsigned char raw[32] = { 3 };
    ts__key *k;
    char *s, *out = (char *)"unset", bad[128];
    size_t len, n;

    ck_assert_int_eq(ts__key_new(&k, raw), TS_OK);
    ck_assert_int_eq(ts__key_seal(k, TS_FIELD_GRANT_TOKEN, "1000.grant", 10, &s, &len), TS_OK);
    ck_assert_int_eq(ts__key_open(k, TS_FIELD_REFRESH_TOKEN, s, len, &out, &n), TS_ERR_CORRUPT);
    ck_assert_ptr_null(out);
    snprintf(bad, sizeof bad, "%s", s);
    bad[len - 3] = bad[len - 3] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(ts__key_open(k, TS_FIELD_GRANT_TOKEN, bad, len, &out, &n), TS_ERR_CORRUPT);
    snprintf(bad, sizeof bad, "%s=", s);                     /* padding: not the form */
    ck_assert_int_eq(ts__key_open(k, TS_FIELD_GRANT_TOKEN, bad, len + 1, &out, &n),
                     TS_ERR_INVALID);
    snprintf(bad, sizeof bad, "%.*s!%s", 20, s, s + 21);    /* not base64 */
    ck_assert_int_eq(ts__key_open(k, TS_FIELD_GRANT_TOKEN, bad, len, &out, &n), TS_ERR_INVALID);
    ck_assert_int_eq(ts__key_open(k, TS_FIELD_GRANT_TOKEN, s, 24, &out, &n), TS_ERR_INVALID);
    snprintf(bad, sizeof bad, "tsenc1:%s;AAAA", ts__key_id(k));
    ck_assert_int_eq(ts__key_open(k, TS_FIELD_GRANT_TOKEN, bad, strlen(bad), &out, &n),
                     TS_ERR_INVALID);
    ck_assert_ptr_null(out);
    free(s);
    ts__key_free(k);
}
END_TEST

START_TEST(base64url)
{
    static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    static const char *const coded[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE",
                                         "Zm9vYmFy" };
    unsigned char buf[16], all[256];
    char text[400];
    size_t n;

    for (size_t i = 0; i < 7; i++) {
        n = ts__b64_encode((const unsigned char *)plain[i], strlen(plain[i]), text);
        text[n] = '\0';
        ck_assert_str_eq(text, coded[i]);
        ck_assert_int_eq(ts__b64_decode(coded[i], strlen(coded[i]), buf, &n), TS_OK);
        ck_assert_uint_eq(n, strlen(plain[i]));
        ck_assert_mem_eq(buf, plain[i], n);
    }
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    n = ts__b64_encode(all, sizeof all, text);
    text[n] = '\0';
    ck_assert_uint_eq(n, 342);
    ck_assert_uint_eq(strcspn(text, "+/="), n);
    ck_assert_int_eq(ts__b64_decode("Zh", 2, buf, &n), TS_ERR_INVALID);   /* stray bits */
    ck_assert_int_eq(ts__b64_decode("Z", 1, buf, &n), TS_ERR_INVALID);
    ck_assert_int_eq(ts__b64_decode("Zm9v YmFy", 9, buf, &n), TS_ERR_INVALID);
    ck_assert_int_eq(ts__b64_decode("+/+/", 4, buf, &n), TS_OK);          /* standard too */
    ck_assert_int_eq(ts__b64_decode("Zg==", 4, buf, &n), TS_ERR_INVALID);    /* no padding */
    for (int i = 0; i < 256; i++) {                   /* every byte, at every position */
        unsigned char one[3] = { (unsigned char)i, (unsigned char)(255 - i), (unsigned char)i };
        for (size_t len = 1; len <= 3; len++) {
            n = ts__b64_encode(one, len, text);
            size_t m;
            ck_assert_int_eq(ts__b64_decode(text, n, buf, &m), TS_OK);
            ck_assert_uint_eq(m, len);
            ck_assert_mem_eq(buf, one, len);
        }
    }
}
END_TEST

/* What a key file or variable may hold: the 32 bytes, or their base64
 * (as keygen writes it, newline and all) or hex. */
START_TEST(key_texts)
{
    unsigned char want[32], raw[32];
    char text[128];

    for (int i = 0; i < 32; i++)
        want[i] = (unsigned char)(255 - i);
    ck_assert(ts__key_parse((const char *)want, 32, raw));
    ck_assert_mem_eq(raw, want, 32);
    EVP_EncodeBlock((unsigned char *)text, want, 32);
    strcat(text, "\n");
    memset(raw, 0, sizeof raw);
    ck_assert(ts__key_parse(text, strlen(text), raw));
    ck_assert_mem_eq(raw, want, 32);
    for (int i = 0; i < 32; i++)
        snprintf(text + 2 * i, 3, "%02X", want[i]);
    memset(raw, 0, sizeof raw);
    ck_assert(ts__key_parse(text, 64, raw));
    ck_assert_mem_eq(raw, want, 32);
    ck_assert(!ts__key_parse("short", 5, raw));
    ck_assert(!ts__key_parse("a passphrase of 32 characters..\n", 32, raw));   /* not a key */
    ck_assert(!ts__key_parse(text, 62, raw));                       /* 31 bytes of hex */
    text[10] = 'g';
    ck_assert(!ts__key_parse(text, 64, raw));
    ck_assert(!ts__key_parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", 44, raw)); /* 31 */
}
END_TEST

struct worker {
    ts__key *key;
    int failures;
};

static void *seal_and_open(void *arg)
{
    struct worker *w = arg;
    char value[64], *s, *p;
    size_t len, n;

    for (int i = 0; i < 2000; i++) {
        snprintf(value, sizeof value, "1000.%d.%p", i, (void *)w);
        if (ts__key_seal(w->key, TS_FIELD_ACCESS_TOKEN, value, strlen(value), &s, &len) != TS_OK) {
            w->failures++;
            continue;
        }
        if (ts__key_open(w->key, TS_FIELD_ACCESS_TOKEN, s, len, &p, &n) != TS_OK ||
            strcmp(p, value) != 0)
            w->failures++;
        else
            free(p);
        free(s);
    }
    return NULL;
}

/* One key shared by threads: each call takes contexts of its own. */
START_TEST(threads_share_a_key)
{
    unsigned char raw[32] = { 7 };
    struct worker w[4];
    pthread_t t[4];
    ts__key *k;

    ck_assert_int_eq(ts__key_new(&k, raw), TS_OK);
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){ k, 0 };
        ck_assert_int_eq(pthread_create(&t[i], NULL, seal_and_open, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(w[i].failures, 0);
    }
    ts__key_free(k);
}
END_TEST

START_TEST(settings_are_checked)
{
    ts_error err = { 0 };
    unsigned mask;
    char bad[48];

    ck_assert_int_eq(ts__encrypt_fields("user_name, refresh_token", &mask, bad, sizeof bad),
                     TS_OK);
    ck_assert_uint_eq(mask, (1u << TS_FIELD_USER_NAME) | (1u << TS_FIELD_REFRESH_TOKEN));
    ck_assert_int_eq(ts__encrypt_setting_check("fields", "refresh_token,expiry_time", "c.json",
                                               &err), TS_ERR_CONFIG);
    ck_assert_str_eq(err.message, "c.json: encrypt.fields: 'expiry_time' cannot be encrypted "
                     "(the fields that can be: client_secret, refresh_token, access_token, "
                     "grant_token, user_name)");
    ck_assert_int_eq(ts__encrypt_setting_check("fields", " , ", "c.json", &err), TS_ERR_CONFIG);
    ck_assert_int_eq(ts__encrypt_setting_check("allow_plaintext", "maybe", "URI", &err),
                     TS_ERR_CONFIG);
    ck_assert_str_eq(err.message, "URI: encrypt.allow_plaintext: expected true or false, got "
                     "'maybe'");
    ck_assert_int_eq(ts__encrypt_setting_check("key_fil", "/k", "URI", &err), TS_ERR_CONFIG);
    ck_assert_int_eq(ts__encrypt_setting_check("key_file", "", "URI", &err), TS_ERR_CONFIG);
    ck_assert_int_eq(ts__encrypt_setting_check("old_key_files", "", "URI", &err), TS_OK);
    ck_assert_int_eq(ts__encrypt_bool("TRUE"), 1);
    ck_assert_int_eq(ts__encrypt_bool("off"), 0);
}
END_TEST

static Suite *crypt_suite(void)
{
    Suite *s = suite_create("crypt");
    TCase *siv = tcase_create("siv"), *key = tcase_create("key"), *text = tcase_create("text");

    tcase_set_timeout(siv, 120);
    tcase_add_test(siv, rfc5297_example);
    tcase_add_test(siv, same_as_openssl_aes_256_siv);
    tcase_add_test(siv, tampering_is_refused);
    tcase_add_test(key, key_derivation_is_pinned);
    tcase_add_test(key, sealed_form);
    tcase_add_test(key, malformed_and_misplaced_values);
    tcase_set_timeout(key, 120);
    tcase_add_test(key, threads_share_a_key);
    tcase_add_test(text, base64url);
    tcase_add_test(text, key_texts);
    tcase_add_test(text, settings_are_checked);
    suite_add_tcase(s, siv);
    suite_add_tcase(s, key);
    suite_add_tcase(s, text);
    return s;
}

int main(void)
{
    return run_suite(crypt_suite());
}
