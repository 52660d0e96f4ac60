/*
 * tokenstore/tokenstore.h - the application interface of libtokenstore.
 *
 * tokenstore is the Zoho CRM SDK's TokenStore interface in C: a token model
 * with the SDK's ten fields, the SDK's matching rules, and storage backends
 * (memory, file, sqlite, redis, or your own) loaded from shared objects
 * chosen by a config file or a URI, so a store can be swapped without
 * recompiling.
 *
 * Conventions: functions return a ts_code (TS_OK is 0) and take an optional
 * `ts_error *err` that is filled on failure with a message naming what went
 * wrong and where. No function exits, aborts or prints; messages never
 * contain secrets. A ts_store may be used by several threads at once.
 */
#ifndef TOKENSTORE_TOKENSTORE_H
#define TOKENSTORE_TOKENSTORE_H

#include <stddef.h>
#include <tokenstore/types.h>
#include <tokenstore/version.h>
/* The OAuth client, declared here as it always was; its functions are in
 * libtokenstore-oauth (pkg-config --libs tokenstore-oauth). */
#include <tokenstore/oauth.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Library                                                             */
/* ------------------------------------------------------------------ */

/* The library's version, e.g. "0.1.0": the one the program runs with,
 * where TS_VERSION_MAJOR, _MINOR, _PATCH and TS_VERSION_STRING
 * (tokenstore/version.h) are the headers' it was compiled against. */
const char *ts_version(void);

/* A constant, human-readable description of a ts_code. */
const char *ts_strerror(int code);

/* The name of a code as the header spells it ("TS_ERR_BUSY"), for logs
 * and bindings; NULL for a code this library does not know. Since 1.4. */
const char *ts_code_name(int code);

/* Fills err (may be NULL) with code and the formatted message, cut to
 * TS_ERROR_MAX, and returns code: for code on top of the library (a
 * binding, libtokenstore-oauth) that reports errors the library's way.
 * Never put a secret in it. Since 1.5. */
int ts_error_set(ts_error *err, int code, const char *fmt, ...) TS_PRINTF(3, 4);

/* Puts "PREFIX: " (fmt) before err's message, or before the code's
 * description when it has none, keeping its code, and returns that code
 * (TS_OK for a NULL err): says where an error a deeper call reported
 * happened. Since 1.5. */
int ts_error_prefix(ts_error *err, const char *fmt, ...) TS_PRINTF(2, 3);

/* ------------------------------------------------------------------ */
/* Tokens                                                              */
/* ------------------------------------------------------------------ */

/* A new token with every field absent; NULL when out of memory. */
ts_token *ts_token_new(void);

/* Frees a token, wiping every value first. NULL is allowed. */
void ts_token_free(ts_token *token);

/* A deep copy, or NULL when out of memory. */
ts_token *ts_token_dup(const ts_token *token);

/* The value of a field: never NULL, "" when absent. Valid until the field
 * is next set or the token freed. */
const char *ts_token_get(const ts_token *token, ts_field field);

/* The ten values at once, for bindings that pay per call: joined by NUL
 * in field order (an absent value is empty), written to buf when it has
 * room for them and a final NUL. Returns their length without the final
 * NUL; when that is size or more, nothing was written: call again with a
 * larger buf. Secrets included: wipe buf after use. Since 1.4. */
size_t ts_token_pack(const ts_token *token, char *buf, size_t size);

/* Sets a field to a copy of value; NULL or "" makes it absent. Any bytes
 * but NUL are allowed. TS_ERR_INVALID for a bad field, TS_ERR_NOMEM. */
int ts_token_set(ts_token *token, ts_field field, const char *value);

/* Wipes and empties every field. */
void ts_token_clear(ts_token *token);

/* The SDK's name of a field ("user_name"), or NULL for a bad field. */
const char *ts_field_name(ts_field field);

/* The field named `name`; TS_ERR_INVALID for an unknown name. */
int ts_field_from_name(const char *name, ts_field *out);

/* Non-zero for client_secret, refresh_token, access_token, grant_token:
 * the values that are masked in output and never logged. */
int ts_field_is_secret(ts_field field);

/* Whether id is a token id as every store keeps it: the canonical decimal
 * spelling of a number from 0 to INT64_MAX, with no sign, space or leading
 * zero ("7", never "007" or "+7"). TS_OK with the number in *out (out may
 * be NULL), else TS_ERR_INVALID. The stores refuse other ids the same way,
 * so a program that orders or compares ids by number agrees with them. */
int ts_id_parse(const char *id, uint64_t *out);

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

/* Receives the library's and the backends' log lines (never secrets). */
typedef void (*ts_log_fn)(void *userdata, int level, const char *message);

/*
 * Loads a configuration from `spec`:
 *  - a URI: "memory:", "file:/path/tokens.csv", "sqlite:/path/tokens.db",
 *    "redis://[user:pass@]host:port/db?prefix=p", "unix:/path.sock?db=0",
 *    or "NAME:/path?key=value" for any other backend NAME;
 *  - else the path of a JSON config file;
 *  - NULL: $TOKENSTORE_CONFIG, then $XDG_CONFIG_HOME/tokenstore/config.json
 *    (~/.config when unset), then SYSCONFDIR/tokenstore/config.json; when
 *    none exists, the default store (sqlite at
 *    $XDG_DATA_HOME/tokenstore/zohooauth.db, ~/.local/share when unset).
 * The JSON form:
 *   {"store": {"backend": "sqlite", "options": {"path": "tokens.db"}},
 *    "plugin_dir": "/opt/tokenstore/plugins"}
 * where "store" may also be a URI string and "backend" the path of a .so.
 */
int ts_config_load(ts_config **out, const char *spec, ts_error *err);

/* Parses JSON text; `origin` names it in error messages (a file name). */
int ts_config_parse_json(ts_config **out, const char *json, const char *origin,
                         ts_error *err);

/* Parses a URI as described for ts_config_load. */
int ts_config_parse_uri(ts_config **out, const char *uri, ts_error *err);

/* An empty configuration, to be filled with the setters below. */
int ts_config_new(ts_config **out);

void ts_config_free(ts_config *config);

/* A backend name ([a-z0-9_-]+, looked up in the plugin path) or the path
 * of a backend shared object (containing '/' and ending in ".so"). */
int ts_config_set_backend(ts_config *config, const char *name_or_path, ts_error *err);

/* Sets (or replaces) one backend option. */
int ts_config_set_option(ts_config *config, const char *key, const char *value,
                         ts_error *err);

/* A directory searched for backends before $TOKENSTORE_PLUGIN_PATH and the
 * installed plugin directory. */
int ts_config_set_plugin_dir(ts_config *config, const char *dir, ts_error *err);

/* Sends a store's log lines up to max_level to fn. Without it they go to
 * the process-wide logger below. fn NULL silences the store. */
void ts_config_set_logger(ts_config *config, ts_log_fn fn, void *userdata,
                          int max_level);

/* The process-wide logger: it hears what the library says outside any
 * store (loading a config file others can read that holds a secret) and
 * what the stores without a logger of their own say, up to max_level.
 * fn NULL silences them. Until it is called, warnings and errors go to
 * stderr ("tokenstore: warning: ..."); once it is, the library writes
 * nothing to stderr. Since 1.4. */
void ts_set_default_logger(ts_log_fn fn, void *userdata, int max_level);

/* The backend name or path, or NULL when none is set. */
const char *ts_config_backend(const ts_config *config);

/* The value of an option, or NULL. */
const char *ts_config_option(const ts_config *config, const char *key);

/* Calls cb with each backend option the config sets (from a file, a URI
 * or ts_config_set_option), in the order they were first set; non-zero
 * from cb stops the walk and is returned. Values may be secrets (a
 * password): show them masked. Since 1.4. */
int ts_config_foreach_option(const ts_config *config,
                             int (*cb)(const char *key, const char *value, void *userdata),
                             void *userdata);

/* Where the configuration came from: a file path, "URI" or "default". */
const char *ts_config_origin(const ts_config *config);

/* ------------------------------------------------------------------ */
/* Backends                                                            */
/* ------------------------------------------------------------------ */

/*
 * What a backend is. Since 1.5 the struct starts with its size, so members
 * can be appended without breaking a caller built against an older
 * header: the library fills only the members that lie wholly within
 * `size` and sets `size` to the bytes it filled; TS_BACKEND_INFO_HAS()
 * tells whether a member was. ts_store_info() below sets `size` to the
 * caller's sizeof itself; code that calls ts_store_info_sized() by its
 * address (a binding) sets it first. Programs built before 1.5, whose
 * struct starts with `name`, call the symbols ts_store_info and
 * ts_backends_list, which keep that layout; this header sends calls to
 * ts_store_info_sized and ts_backends_list_sized.
 */
typedef struct ts_backend_info {
    size_t size;              /* since 1.5: see above */
    const char *name;
    const char *version;
    const char *description;  /* may be "" */
    const char *path;         /* the .so it was loaded from */
    unsigned abi_major;       /* the ABI the backend was built for */
    unsigned abi_minor;
    uint32_t caps;            /* TS_CAP_* */
} ts_backend_info;

/* Whether the library filled `member` of *info. Since 1.5. */
#define TS_BACKEND_INFO_HAS(info, member)                                    \
    ((info)->size >= offsetof(ts_backend_info, member) + sizeof((info)->member))

/* Calls cb for every loadable backend in the search path (config's
 * plugin_dir, $TOKENSTORE_PLUGIN_PATH, the installed plugin directory),
 * the first of each name only. config may be NULL. A .so that fails to
 * load is reported through `bad` (may be NULL) and skipped. */
int ts_backends_list_sized(const ts_config *config,
                           int (*cb)(const ts_backend_info *info, void *userdata),
                           void (*bad)(const char *path, const ts_error *why, void *userdata),
                           void *userdata, ts_error *err);
/* The name programs use; info->size is the library's sizeof. Since 1.5
 * the symbol is ts_backends_list_sized. */
#define ts_backends_list ts_backends_list_sized

/* The installed plugin directory compiled into the library. */
const char *ts_plugin_dir(void);

/* ------------------------------------------------------------------ */
/* Stores: the SDK's TokenStore operations                             */
/* ------------------------------------------------------------------ */

/* ts_config_load(spec) followed by ts_store_open_config. */
int ts_store_open(ts_store **out, const char *spec, ts_error *err);

/* Loads the configured backend, checks its options and opens it. */
int ts_store_open_config(ts_store **out, const ts_config *config, ts_error *err);

/* As ts_store_open and ts_store_open_config, with TS_OPEN_* flags:
 * TS_OPEN_MUST_EXIST never creates a store (TS_ERR_NO_STORE when it does
 * not exist); TS_OPEN_READ_ONLY also never changes it, and every write
 * through the handle is TS_ERR_READ_ONLY. A backend that does not declare
 * TS_CAP_OPEN_FLAGS opens as without flags (writes are still refused). */
int ts_store_open_flags(ts_store **out, const char *spec, unsigned flags, ts_error *err);
int ts_store_open_config_flags(ts_store **out, const ts_config *config, unsigned flags,
                               ts_error *err);

void ts_store_close(ts_store *store);

/* Describes the backend behind a store, filling the members of *info that
 * fit in info->size (set it to sizeof *info first); the strings live as
 * long as the store. Since 1.5. */
void ts_store_info_sized(const ts_store *store, ts_backend_info *info);
/* The name programs use: sets info->size to the caller's sizeof, then
 * calls ts_store_info_sized. */
#define ts_store_info(store, info)                                            \
    ts_store_info_sized((store), ((info)->size = sizeof *(info), (info)))

/*
 * find_token: matches the token by the SDK's key (user_name; else
 * access_token when client_id and client_secret are absent; else
 * grant_token or refresh_token, with client_id and client_secret) and
 * fills only the fields the caller left empty. When several rows match,
 * the one with the lowest id answers. TS_NOT_FOUND when nothing
 * matches; TS_ERR_INVALID when the token has no usable key.
 */
int ts_find_token(ts_store *store, ts_token *token, ts_error *err);

/*
 * ts_find_token in one call, for bindings that pay per call (a ctypes
 * call costs about what the lookup does): the query is ten values packed
 * as ts_token_pack writes them (joined by NUL in field order, an empty
 * value absent; query_len bytes, a final NUL not counted), and the query
 * with the found token's values filled in is packed into buf as
 * ts_token_pack packs it, its length without the final NUL set in *len.
 * When *len is size or more, nothing was written: call again with a
 * larger buf (the find is made again). A query that is not ten values is
 * TS_ERR_INVALID; on any result but TS_OK, *len is 0. Secrets included:
 * wipe buf after use; the copies the call makes are wiped. Since 1.4.
 */
int ts_find_token_packed(ts_store *store, const char *query, size_t query_len,
                         char *buf, size_t size, size_t *len, ts_error *err);

/* Replaces every field of `out` with the token stored under `id`.
 * TS_NOT_FOUND when there is none. */
int ts_find_token_by_id(ts_store *store, const char *id, ts_token *out, ts_error *err);

/*
 * n find_token calls at once: results[i] is what ts_find_token(tokens[i])
 * would return (TS_OK with the token filled in, TS_NOT_FOUND, or an error),
 * and the whole batch costs one round trip on a backend that pipelines
 * (redis); others answer it one find at a time. Returns TS_OK when every
 * result is TS_OK or TS_NOT_FOUND, else the first failed token's code, with
 * err describing that one. Since 1.2.
 */
int ts_find_tokens(ts_store *store, ts_token *const *tokens, size_t n, int *results,
                   ts_error *err);

/*
 * ts_find_tokens in two halves, for an event loop that must never wait on
 * a store. ts_find_tokens_send sends the n finds and sets *fd to a socket
 * to watch for input and *timeout_ms to how long the answers may take
 * (-1: as long as they take; poll(2) takes that too).
 * Each time fd is readable, ts_find_tokens_receive with the same tokens
 * reads what has come without waiting: *done = 0, call again later;
 * *done = 1, results[] and the return value are ts_find_tokens's, except
 * that a result of TS_ERR_UNSUPPORTED is a find this way could not settle
 * (a redirect, a row in an older format, a lost connection): answer it
 * with ts_find_token, on a thread that may wait. ts_find_tokens_cancel
 * gives up on a sent batch (a timeout) and drops the connection it was
 * sent on; ts_store_close does so too. Between send and the end, use the
 * handle for nothing else.
 * TS_ERR_UNSUPPORTED from send, with nothing sent: the backend cannot
 * send these finds now without waiting (it has no such half, is not
 * connected yet, speaks TLS, or a token has no lookup key); use
 * ts_find_tokens on a thread that may wait. On redis, finds by user name
 * on a connection that is up. Since 1.3.
 */
int ts_find_tokens_send(ts_store *store, ts_token *const *tokens, size_t n, int *fd,
                        int *timeout_ms, ts_error *err);
int ts_find_tokens_receive(ts_store *store, ts_token *const *tokens, size_t n, int *results,
                           int *done, ts_error *err);
void ts_find_tokens_cancel(ts_store *store);

/*
 * save_token: updates the stored token with the same id, else the one with
 * the same key, filling the caller's empty fields from it; else inserts
 * with the next numeric id. The token's id is set to the stored id.
 * TS_ERR_INVALID for a token that would be inserted but holds no refresh,
 * grant or access token (an update may leave them out: the stored ones are
 * kept, as in the SDK); TS_ERR_CONFLICT when the save would give one user
 * two rows; TS_ERR_READ_ONLY on a store opened with TS_OPEN_READ_ONLY.
 */
int ts_save_token(ts_store *store, ts_token *token, ts_error *err);

/*
 * Saves n tokens as n ts_save_token calls in order would, in one
 * transaction or one file write when the backend offers it (its table's
 * save_tokens). Every token's id is checked before any is saved; the save
 * rules (a conflict, a new token without refresh, grant or access token)
 * are applied in order, as each token is saved. On a refusal the sqlite
 * and file backends save none of the tokens, others those before it. On
 * failure the error names the index of the token that failed.
 */
int ts_save_tokens(ts_store *store, ts_token *const *tokens, size_t n, ts_error *err);

/* Where ts_save_stream takes its tokens: TS_OK with *token set (the
 * caller's, untouched by the library until the next call), TS_NOT_FOUND
 * after the last one, or any other code (err filled) to end the save. */
typedef int (*ts_token_next_fn)(void *userdata, ts_token **token, ts_error *err);

/*
 * Saves the tokens next() hands out, in order, as ts_save_token would
 * each, holding one at a time: a restore of any size in bounded memory.
 * Where the backend offers save_stream (sqlite, mysql, file) all are
 * saved in one transaction or one write, or none; elsewhere one by one,
 * the tokens before a failure staying saved. saved() (may be NULL) is called with
 * each token once it is saved, its id set (inside the transaction where
 * there is one: those ids hold once ts_save_stream returns TS_OK); *count
 * (may be NULL) gets how many were saved. On failure err names the
 * token's index (from 0).
 * Since 1.4.
 */
int ts_save_stream(ts_store *store, ts_token_next_fn next,
                   void (*saved)(void *userdata, const ts_token *token), void *userdata,
                   size_t *count, ts_error *err);

/* TS_NOT_FOUND when no token has that id. */
int ts_delete_token(ts_store *store, const char *id, ts_error *err);

/* Calls cb for every token in ascending numeric id; a non-zero return
 * stops the walk and is returned. cb must not call into the same store. */
int ts_get_tokens(ts_store *store, ts_token_cb cb, void *userdata, ts_error *err);

/* Deletes every token. */
int ts_delete_tokens(ts_store *store, ts_error *err);

/* Removes the store itself, what ts_delete_tokens leaves (a table, a key
 * prefix's counters), for a scratch store made for one run; close the
 * handle afterwards. TS_ERR_UNSUPPORTED when the backend cannot (a file
 * or sqlite store is a file: remove it). Since 1.4. */
int ts_store_drop(ts_store *store, ts_error *err);

/* ------------------------------------------------------------------ */
/* Beside the tokens: a lock, notes and a log (since 1.5)               */
/* ------------------------------------------------------------------ */

/*
 * What a client of the store that coordinates processes needs beside the
 * SDK's operations; libtokenstore-oauth's single flight, backoff and
 * refresh log are built on these alone. Each goes to the backend's
 * members of the same name (backend.h) where it has them, so every
 * process sharing the store sees the same lock, notes and log; a backend
 * without them leaves the lock to the caller's own mutex (TS_OK and a
 * NULL handle) and the notes and log in this handle's memory.
 */

/* The TS_OPEN_* flags the store was opened with. Since 1.5. */
unsigned ts_store_flags(const ts_store *store);

/* Takes the store-wide lock `name`, waiting up to wait_ms for another
 * holder; the backend frees it after ttl_ms should the holder die.
 * TS_OK with *handle for ts_store_unlock (NULL when the backend has no
 * lock: only the threads the caller excludes itself are excluded);
 * TS_ERR_BUSY naming the lock after wait_ms; TS_ERR_READ_ONLY on a
 * read-only handle. Since 1.5. */
int ts_store_lock(ts_store *store, const char *name, int64_t ttl_ms, int64_t wait_ms,
                  void **handle, ts_error *err);
int ts_store_unlock(ts_store *store, void *handle, ts_error *err);

/* A note `name` (printable text) with a time to live (0: until
 * replaced); get copies it into value of size bytes, TS_NOT_FOUND when
 * there is none or it expired. Since 1.5. */
int ts_store_note_set(ts_store *store, const char *name, const char *value, int64_t ttl_ms,
                      ts_error *err);
int ts_store_note_get(ts_store *store, const char *name, char *value, size_t size,
                      ts_error *err);

/* Appends an entry (one line of text) to the store's log, keeping the
 * newest `keep`; walk calls cb with each entry, oldest first, non-zero
 * from cb stopping it and being returned. Since 1.5. */
int ts_store_log_append(ts_store *store, const char *entry, size_t keep, ts_error *err);
int ts_store_log_walk(ts_store *store, int (*cb)(const char *entry, void *userdata),
                      void *userdata, ts_error *err);

/* Says a line through the store's logger (ts_config_set_logger), else the
 * process-wide one, as the library's own lines go; store may be NULL.
 * Never pass it a secret. Since 1.5. */
void ts_store_log(ts_store *store, int level, const char *fmt, ...) TS_PRINTF(3, 4);

/* ------------------------------------------------------------------ */
/* OAuth settings: the configuration's "oauth" section                 */
/* ------------------------------------------------------------------ */

/* The settings are data of the configuration, in libtokenstore, so that a
 * config's "oauth" section is checked while it loads (a misspelt key is
 * refused with the file and key path). The client that gives them
 * meaning, ts_oauth_new and the rest, is libtokenstore-oauth's: see
 * <tokenstore/oauth.h>, which this header includes. */

/* The SDK refreshes an access token that expires within this long itself;
 * refresh_ahead_ms is never less. */
#define TS_OAUTH_SDK_MARGIN_MS 5000

/* One OAuth setting as ts_oauth_set and a config's "oauth" section take
 * it. A name ending in ".*" stands for a family (accounts_url.EU). */
typedef struct ts_oauth_setting {
    const char *name;
    const char *default_value;   /* as text; "" when there is none */
    int is_number;               /* a whole number from min to max */
    long long min, max;
    const char *summary;         /* one line, for help and status */
} ts_oauth_setting;

/* Every OAuth setting, in the order the manual lists them; *count gets
 * how many. Bindings and tools read names, defaults and bounds here
 * rather than keeping copies. Since 1.4. */
const ts_oauth_setting *ts_oauth_settings(size_t *count);

/* The setting `key` is (accounts_url.EU is accounts_url.*), or NULL for
 * a key no setting has. Since 1.5. */
const ts_oauth_setting *ts_oauth_setting_find(const char *key);

/* Sets an "oauth" setting on a config, as the config file's section does. */
int ts_config_set_oauth(ts_config *config, const char *key, const char *value,
                        ts_error *err);

/* Calls cb with each "oauth" setting the config holds (from its file or
 * ts_config_set_oauth), in the order they were first set; non-zero from
 * cb stops the walk and is returned. client_secret's value is a secret.
 * Since 1.5. */
int ts_config_foreach_oauth(const ts_config *config,
                            int (*cb)(const char *key, const char *value, void *userdata),
                            void *userdata);

/* ------------------------------------------------------------------ */
/* Encryption at rest (since 1.4)                                      */
/* ------------------------------------------------------------------ */

/*
 * A store whose config has an "encrypt" section keeps the listed fields
 * sealed with AES-SIV (deterministic, authenticated; the field's name is
 * bound to each value), stored as "tsenc1:<key id>:<base64url>", in any
 * backend: the library seals what it hands the backend and opens what it
 * gets back, so every operation above, ts_oauth_* included, works on
 * plain values, and the SDK's lookups by access, refresh or grant token
 * still find their token. The settings, as the section, ts_config_set_encrypt
 * or an option "encrypt.KEY" (a URI's query, ts_config_set_option) give them:
 *   key_file         a file holding the current key: 32 random bytes, as
 *                    ts_keygen writes them (base64; raw or hex also read);
 *                    it must be a regular file others cannot read or write
 *   key_env          or a variable holding it (base64 or hex)
 *   old_key_files,   older keys (comma-separated; arrays in JSON) that
 *   old_key_env      values sealed before a rotation are still opened with
 *   fields           the fields sealed, default
 *                    "client_secret,refresh_token,access_token,grant_token";
 *                    user_name may be added
 *   allow_plaintext  read a listed field stored unsealed (false): while a
 *                    plain store is being encrypted
 * Keys are read when the store is opened (a missing one, or a key file
 * others may read, is TS_ERR_CONFIG and nothing is created) and wiped
 * once set up; no message holds one. A value that cannot be opened is
 * never returned: a key not configured (TS_ERR_CONFIG), a value that
 * fails authentication or is malformed (TS_ERR_CORRUPT), a listed field
 * stored unsealed without allow_plaintext (TS_ERR_CONFIG), each naming
 * the token's id and the field. A store opened without an encrypt
 * section refuses sealed values the same way, and refuses to save a
 * value that has their form. README.md says what it protects and what
 * not.
 */

/* Sets an "encrypt" setting; TS_ERR_CONFIG names a bad key or value.
 * Since 1.4. */
int ts_config_set_encrypt(ts_config *config, const char *key, const char *value,
                          ts_error *err);

/* The value of an "encrypt" setting, or NULL. Since 1.4. */
const char *ts_config_encrypt(const ts_config *config, const char *key);

/* A key's id: 8 hex digits and the NUL. */
#define TS_KEY_ID_SIZE 9

/* Writes a new key (32 bytes from getrandom(), in base64) to a new file
 * at path, mode 0600; an existing file is never written over. Its id in
 * key_id (may be NULL). Since 1.4. */
int ts_keygen(const char *path, char key_id[TS_KEY_ID_SIZE], ts_error *err);

/* The id of the key the store seals with, or NULL when it does not.
 * Since 1.4. */
const char *ts_store_key_id(const ts_store *store);

/* What a store's values are sealed with, as ts_store_key_usage reports
 * it. Since 1.4. */
typedef enum ts_key_role {
    TS_KEY_CURRENT = 0,   /* the key new values are sealed with */
    TS_KEY_OLD,           /* an older key the config still opens values with */
    TS_KEY_UNKNOWN,       /* a key the config does not have */
    TS_KEY_PLAINTEXT      /* not sealed (key_id ""): a listed field, or any of
                             the four secrets in a store without encryption */
} ts_key_role;

typedef struct ts_key_usage {
    const char *key_id;   /* "" for TS_KEY_PLAINTEXT */
    int role;             /* a ts_key_role */
    size_t tokens;        /* tokens with a value in this form */
    size_t values;        /* values in this form */
} ts_key_usage;

/* Reads every stored token without opening a value and calls cb for each
 * configured key (current first, then the old ones, also when unused),
 * each other key id found, and the unsealed values if any. Non-zero from
 * cb stops and is returned. Since 1.4. */
int ts_store_key_usage(ts_store *store, int (*cb)(const ts_key_usage *usage, void *userdata),
                       void *userdata, ts_error *err);

/* What ts_store_rekey did, or would do. Since 1.4. */
typedef struct ts_rekey_result {
    size_t tokens;        /* tokens read */
    size_t current;       /* already as the config seals them */
    size_t rewritten;     /* sealed anew (with TS_REKEY_DRY_RUN: to be) */
} ts_rekey_result;

#define TS_REKEY_DRY_RUN (1u << 0)   /* read and count only */

/*
 * Seals every token anew as the config says: each listed field by the
 * current key, any other field unsealed (so a rotation's old keys, and a
 * migration's plain values, can be dropped afterwards). Every value is
 * opened first: one that cannot be (a key not configured, a value that
 * fails authentication) is the error, naming the token and field, and
 * nothing is written. Where the backend saves a stream in one transaction
 * (sqlite, mysql, file) all tokens are written at once or none; elsewhere
 * one at a time, each read again first, so a run that stops can be run
 * again and goes on where it stopped. A save another process makes to a
 * token between the read and the write is lost to the write: rekey while
 * nothing else writes. Unsealed values are read whatever allow_plaintext
 * says. Since 1.4.
 */
int ts_store_rekey(ts_store *store, unsigned flags, ts_rekey_result *result, ts_error *err);

#ifdef __cplusplus
}
#endif

#endif /* TOKENSTORE_TOKENSTORE_H */
