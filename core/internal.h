/*
 * core/internal.h - what the core's files share and nobody else sees.
 */
#ifndef TS_INTERNAL_H
#define TS_INTERNAL_H

#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <tokenstore/tokenstore.h>
#include <tokenstore/backend.h>

#define TS_API __attribute__((visibility("default")))

/* ts_backend_info as it was before 1.5, without its size: what the
 * symbols ts_store_info and ts_backends_list still hand the programs built
 * then (tokenstore.h makes both names macros for the _sized symbols). */
struct ts__backend_info_1_4 {
    const char *name;
    const char *version;
    const char *description;
    const char *path;
    unsigned abi_major;
    unsigned abi_minor;
    uint32_t caps;
};
#undef ts_store_info
#undef ts_backends_list
void ts_store_info(const ts_store *s, struct ts__backend_info_1_4 *info);
int ts_backends_list(const ts_config *cfg,
                     int (*cb)(const struct ts__backend_info_1_4 *, void *),
                     void (*bad)(const char *, const ts_error *, void *), void *ud,
                     ts_error *err);

struct ts_token {
    char *value[TS_FIELD_COUNT];   /* NULL when absent, never "" */
    size_t len[TS_FIELD_COUNT];
};

/* error.c */
int ts__error(ts_error *err, int code, const char *fmt, ...) TS_PRINTF(3, 4);
int ts__verror(ts_error *err, int code, const char *fmt, va_list ap) TS_PRINTF(3, 0);
/* The host's error_prefix: ts_error_prefix that sets and returns code, so
 * a NULL err still yields it. */
int ts__error_prefix_code(ts_error *err, int code, const char *fmt, ...) TS_PRINTF(3, 4);
void ts__error_clear(ts_error *err);

/* token.c */
int ts__token_setn(ts_token *t, ts_field f, const char *value, size_t len);
int ts__token_copy(ts_token *dst, const ts_token *src);
static inline int ts__has(const ts_token *t, ts_field f) { return t->value[f] != NULL; }
/* Fills dst's absent fields by moving src's values (src loses them). */
void ts__token_merge(ts_token *dst, ts_token *src);
/* Sets every field from ten values joined by NUL (ts_token_pack's
 * layout, len bytes without a final NUL); TS_ERR_INVALID when there are
 * not exactly ten. On failure the token is left empty. */
int ts__token_unpack(ts_token *t, const char *packed, size_t len);
void ts__wipe(void *p, size_t n);
char *ts__strdup(const char *s);

/* rules.c */
int ts__lookup_keys(const ts_token *query, ts_field keys[2]);
int ts__no_lookup_key(ts_error *err);
int ts__find_by_rule(const ts_token *query, ts_lookup_fn lookup, void *state,
                     ts_token *row, ts_error *err);
int ts__save_resolve(ts_token *token, ts_lookup_fn lookup, void *state, ts_error *err);
int ts__save_plan(ts_token *token, ts_lookup_fn lookup, void *state, ts_token *row,
                  ts_error *err);
/* The fields rows are looked up and indexed by (host->key_fields). */
#define TS__KEY_FIELD_COUNT 5
extern const ts_field ts__key_fields[TS__KEY_FIELD_COUNT];
const ts_field *ts__get_key_fields(size_t *count);
/* Sets token's id to max_id + 1 (host->next_id). */
int ts__next_id(ts_token *token, uint64_t max_id, ts_error *err);
int ts__id_parse(const char *id, uint64_t *out);
void ts__id_format(uint64_t id, char buf[21]);
int ts__check_id(const char *id, ts_error *err);
/* A token save_token may take: a valid id if any; with needs_secret, also
 * a refresh, grant or access token (the pre-check for ABI 1.0 backends,
 * whose own save path may not apply save_resolve's rule). */
int ts__check_saveable(const ts_token *token, int needs_secret, ts_error *err);
/* TS_NOT_FOUND (insert it) when the token holds a refresh, grant or access
 * token, else TS_ERR_INVALID: the SDK inserts no token without one. */
int ts__check_has_secret(const ts_token *token, ts_error *err);

/* table.c */
ts_table *ts__table_new(void);
void ts__table_free(ts_table *t);
int ts__table_lookup(void *table, ts_field f, const char *value, ts_token *row, ts_error *err);
const ts_token *ts__table_get(const ts_table *t, ts_field f, const char *value);
int ts__table_save(ts_table *t, ts_token *token, ts_error *err);
int ts__table_insert(ts_table *t, const ts_token *row, ts_error *err);
int ts__table_delete(ts_table *t, const char *id);
void ts__table_clear(ts_table *t);
size_t ts__table_count(const ts_table *t);
int ts__table_foreach(ts_table *t, ts_token_cb cb, void *userdata);

/* kv.c: an ordered list of string options; values are wiped. */
struct ts_option {
    char *key;
    char *value;
    int from_file;      /* set from a config file's store.options */
};

struct ts_kv {
    struct ts_option *items;
    size_t n;
};
const char *ts__kv_get(const struct ts_kv *kv, const char *key);
/* Sets or replaces key's value (a copy); it no longer counts as from a file. */
int ts__kv_set(struct ts_kv *kv, const char *key, const char *value, ts_error *err);
/* Marks every value as read from a config file (see ts_option.from_file). */
void ts__kv_mark_from_file(struct ts_kv *kv);
/* Whether key's value was read from a config file. */
int ts__kv_from_file(const struct ts_kv *kv, const char *key);
/* Sets each of src's keys in dst, in src's order. */
int ts__kv_merge(struct ts_kv *dst, const struct ts_kv *src, ts_error *err);
void ts__kv_free(struct ts_kv *kv);

/* uri.c: store URIs, parsed without a config. */
#define TS__NAME_MAX 64   /* the longest backend name */
/* The backend a URI names and the options it spells, added to opts. */
int ts__uri_parse(const char *uri, char backend[TS__NAME_MAX + 1], struct ts_kv *opts,
                  ts_error *err);
int ts__looks_like_uri(const char *spec);
int ts__backend_name_valid(const char *name);

/* oauth_settings.c: the OAuth settings, as data (ts_oauth_settings). */
int ts__oauth_setting_known(const char *key);

/* config.c */
struct ts_config {
    char *backend;         /* name or .so path */
    char *plugin_dir;
    char *origin;          /* file path, "URI" or "default" */
    struct ts_kv options;  /* the backend's */
    struct ts_kv oauth;    /* the "oauth" section */
    struct ts_kv encrypt;  /* the "encrypt" section (since 1.4) */
    ts_log_fn log_fn;
    void *log_userdata;
    int log_level;
    int log_custom;        /* set_logger was called (fn NULL = silent) */
};
int ts__config_copy(ts_config **out, const ts_config *src);
/* ts_config_load; make_dirs 0 leaves the default store's directory
 * uncreated (a store opened with TS_OPEN_MUST_EXIST). */
/* For a config that names the default store: its directories, 0700, made
 * when the store is opened to be written; TS_OK for any other config. */
int ts__make_default_dirs(const ts_config *cfg, ts_error *err);
char *ts__default_store_path(void);

/* loader.c */
typedef struct ts_module {
    void *handle;
    char *path;
    const ts_backend *vt;
} ts_module;
int ts__module_load(ts_module *m, const ts_config *cfg, ts_error *err);
void ts__module_unload(ts_module *m);
/* Whether a backend keeps notes and a log (all four members), and its
 * capabilities with TS_CAP_NOTES set by that. */
int ts__backend_has_notes(const ts_backend *vt);
uint32_t ts__backend_caps(const ts_backend *vt);
int ts__module_open_path(ts_module *m, const char *path, ts_error *err);

/* host.c */
extern const ts_host ts__host;

struct ts_backend_ctx {
    const ts_config *config;
    ts_log_fn log_fn;
    void *log_userdata;
    int log_level;
    int log_custom;
    unsigned open_flags;   /* TS_OPEN_* */
};
/* log.c: to the store's logger when ctx has one, else the process-wide one. */
void ts__log(ts_backend_ctx *ctx, int level, const char *fmt, ...) TS_PRINTF(3, 4);
/* fork.c: objects told, in the child of a fork(), before it runs on, and
 * asked before the fork. A forkable is embedded in the object; the
 * callbacks get it back. */
typedef struct ts__forkable {
    struct ts__forkable *next;
    void (*in_child)(struct ts__forkable *self);
    void (*before)(struct ts__forkable *self);   /* may be NULL */
    void (*after)(struct ts__forkable *self);    /* in the parent; may be NULL */
} ts__forkable;
void ts__fork_watch(ts__forkable *f);
void ts__fork_unwatch(ts__forkable *f);

/* notes.c: notes with a time to live and a bounded log, in memory; and
 * the monotonic clock the core's waits and notes go by. */
int64_t ts__now_ms(void);
typedef struct ts__notes ts__notes;
ts__notes *ts__notes_new(void);
void ts__notes_free(ts__notes *n);
void ts__notes_forked(ts__notes *n);
int ts__notes_set(ts__notes *n, const char *name, const char *value, int64_t ttl_ms,
                  ts_error *err);
int ts__notes_get(ts__notes *n, const char *name, char *value, size_t size, ts_error *err);
int ts__notes_log_append(ts__notes *n, const char *entry, size_t keep, ts_error *err);
int ts__notes_log_walk(ts__notes *n, int (*cb)(const char *entry, void *ud), void *ud);

#endif
