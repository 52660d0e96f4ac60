/*
 * core/crypt.h - encryption at rest, for the core's files: the cipher and
 * the stored form of a value (crypt.c), base64, key texts and the
 * settings' checks (crypt_text.c), the "encrypt" section made into keys
 * and rules (crypt_keys.c), and tokens sealed and opened by those
 * rules (crypt_token.c). store.c, store_batch.c and store_keys.c put them
 * between the public API and the backend, which never sees a key.
 */
#ifndef TS_CRYPT_H
#define TS_CRYPT_H

#include "internal.h"

#define TS__KEY_BYTES 32                /* a key file's key */
#define TS__KEY_ID_LEN 8                /* hex digits naming a key */
#define TS__SEALED_PREFIX "tsenc1:"     /* then "<key id>:<base64url>" */
#define TS__SEALED_PREFIX_LEN 7
#define TS__CRYPT_MAX_KEYS 16           /* the current key and old ones */
#define TS__SIV_LEN 16                  /* AES-SIV's synthetic IV */

/* The fields that may be sealed, and those that are by default. */
#define TS__SEALABLE ((1u << TS_FIELD_USER_NAME) | (1u << TS_FIELD_CLIENT_SECRET) | \
                      (1u << TS_FIELD_REFRESH_TOKEN) | (1u << TS_FIELD_ACCESS_TOKEN) | \
                      (1u << TS_FIELD_GRANT_TOKEN))
#define TS__SEALED_DEFAULT (TS__SEALABLE & ~(1u << TS_FIELD_USER_NAME))

/* ---------------------------------------------------------------- crypt.c */

/* AES-SIV (RFC 5297) with one key: 32 bytes (AES-128) or 64 (AES-256).
 * Thread-safe: each call takes contexts of its own from a pool. */
typedef struct ts__siv ts__siv;
int ts__siv_new(ts__siv **out, const unsigned char *key, size_t len);
void ts__siv_free(ts__siv *siv);
/* In a forked child: the pool's lock made new, its contexts let go. */
void ts__siv_forked(ts__siv *siv);
/* S2V's state after one piece of associated data, for seal and open. */
int ts__siv_ad(ts__siv *siv, const void *ad, size_t len, unsigned char d[16]);
/* out gets V || C (16 + len bytes); len > 0. TS_OK or TS_ERR_BACKEND. */
int ts__siv_seal(ts__siv *siv, const unsigned char d[16], const unsigned char *in,
                 size_t len, unsigned char *out);
/* in is V || C (len > 16); out gets len - 16 bytes: TS_OK, or
 * TS_ERR_CORRUPT (out wiped) when it fails authentication. */
int ts__siv_open(ts__siv *siv, const unsigned char d[16], const unsigned char *in,
                 size_t len, unsigned char *out);

/* A key: its id and its cipher, with S2V's state for each field name. */
typedef struct ts__key ts__key;
/* From a key's 32 bytes (which the caller wipes). TS_OK, TS_ERR_NOMEM or
 * TS_ERR_BACKEND (OpenSSL refused). */
int ts__key_new(ts__key **out, const unsigned char raw[TS__KEY_BYTES]);
void ts__key_free(ts__key *key);
void ts__key_forked(ts__key *key);
const char *ts__key_id(const ts__key *key);
/* A field's value sealed: "tsenc1:<id>:<base64url>", malloc'd. */
int ts__key_seal(ts__key *key, ts_field f, const char *value, size_t len, char **out,
                 size_t *out_len);
/* A sealed value opened (the caller chose the key by its id), malloc'd
 * and NUL-terminated: TS_OK; TS_ERR_INVALID when it is not well formed;
 * TS_ERR_CORRUPT when it fails authentication; TS_ERR_NOMEM. */
int ts__key_open(ts__key *key, ts_field f, const char *sealed, size_t len, char **out,
                 size_t *out_len);
/* Whether a value has the sealed form's prefix: 1 with its key id in id;
 * -1 when what follows the prefix is not a key id and a colon (id is
 * "????????"); 0 when it is no sealed value. */
int ts__sealed_id(const char *value, size_t len, char id[TS__KEY_ID_LEN + 1]);

/* ---------------------------------------------------------------- crypt_text.c */

/* base64url without padding (encode); decode takes either alphabet,
 * without padding, and refuses a text that is not the canonical one of
 * its bytes. encode returns the length written (no NUL). */
size_t ts__b64_encode(const unsigned char *in, size_t len, char *out);
int ts__b64_decode(const char *in, size_t len, unsigned char *out, size_t *out_len);
/* A key's 32 bytes from a key file's or variable's text: the raw bytes,
 * or base64 or hex with surrounding white space. 0 when it is none. */
int ts__key_parse(const char *text, size_t len, unsigned char raw[TS__KEY_BYTES]);

/* The encrypt section's settings, checked where they are set. */
int ts__encrypt_setting_known(const char *key);
/* TS_OK, or TS_ERR_CONFIG with a message naming origin and encrypt.KEY. */
int ts__encrypt_setting_check(const char *key, const char *value, const char *origin,
                              ts_error *err);
/* "client_secret,refresh_token" (commas or spaces) as a bit per field. */
int ts__encrypt_fields(const char *value, unsigned *mask, char *bad, size_t size);
/* "1", "true", "yes", "on" and their opposites; -1 for anything else. */
int ts__encrypt_bool(const char *value);

/* ---------------------------------------------------------------- crypt_keys.c */

typedef struct ts__crypt {
    ts__key *keys[TS__CRYPT_MAX_KEYS];   /* [0] seals; all of them open */
    size_t nkeys;
    unsigned fields;                      /* a bit per ts_field that is sealed */
    int allow_plaintext;                  /* a listed field may be read unsealed */
} ts__crypt;
/* The config's encrypt section made into keys (NULL without one): key
 * files read and checked, variables read, every key's bytes wiped. */
int ts__crypt_open(ts__crypt **out, const ts_config *cfg, ts_error *err);
void ts__crypt_free(ts__crypt *c);
void ts__crypt_forked(ts__crypt *c);
/* The key with this id, or NULL. */
ts__key *ts__crypt_key(const ts__crypt *c, const char *id);

/* ---------------------------------------------------------------- crypt_token.c */

/* How many forms a lookup of query tries: the current key's, each old
 * key's, then plaintext when allowed; 1 when the fields it is looked up
 * by are not sealed (or c is NULL). */
size_t ts__crypt_forms(const ts__crypt *c, const ts_token *query);
/* in with its sealed fields in form `form` (a key's index, or nkeys for
 * plaintext) into out. */
int ts__crypt_seal_token(const ts__crypt *c, size_t form, const ts_token *in, ts_token *out,
                         ts_error *err);
/* Opens every sealed value of t in place (c NULL: refuses one). A listed
 * field stored unsealed is refused unless plain_ok. Errors name the
 * token's id and the field; on error t is half done: clear it. */
int ts__crypt_open_token(const ts__crypt *c, ts_token *t, int plain_ok, ts_error *err);
/* What a store without encryption refuses to save: a value that reads as
 * sealed, which it could not read back. */
int ts__crypt_check_plain(const ts_token *t, ts_error *err);

/* A backend's find_token, for the loop over forms. */
typedef int (*ts__find_fn)(void *userdata, const ts_token *query, ts_token *row,
                           ts_error *err);
/* find_token through the forms in turn until one finds a row, which is
 * opened; *form (may be NULL) says which form found it. */
int ts__crypt_find(const ts__crypt *c, const ts_token *query, ts__find_fn find,
                   void *userdata, ts_token *row, size_t *form, ts_error *err);
/* The token the backend saves for `token`: sealed by the current key; a
 * token without an id that an older form finds (find may be NULL: not
 * looked for) takes that row's id and values, sealed anew. */
int ts__crypt_save_prepare(const ts__crypt *c, const ts_token *token, ts__find_fn find,
                           void *userdata, ts_token *sealed, ts_error *err);
/* After the save: the fields it filled in (empty in token, set in
 * sealed, the id among them) opened into token. */
int ts__crypt_save_finish(const ts__crypt *c, ts_token *token, const ts_token *sealed,
                          ts_error *err);
/* Whether a stored row's values are as c would seal them now: every
 * listed field under the current key, every other one unsealed. */
int ts__crypt_row_current(const ts__crypt *c, const ts_token *row);

#endif
