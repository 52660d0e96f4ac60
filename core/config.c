/*
 * core/config.c - choosing a backend without recompiling.
 *
 * A config is a backend (a name searched in the plugin path, or a .so
 * path), its options as strings, an optional plugin directory and a log
 * hook. It comes from a JSON file, a URI, the setters, or the lookup chain
 * of ts_config_load(NULL). JSON mistakes are reported with the file, and
 * either the line and column or the key path ("store.options.path"), so a
 * user can go straight to what is wrong.
 *
 * The config is the bottom of the library's upper half: it uses the URI
 * parser, the JSON parser and the option lists below it, and nothing
 * above (the loader, the store and the OAuth client read configs; the
 * names the oauth section may hold are data in oauth_settings.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>
#include "crypt.h"
#include "json.h"
#include "ts_paths.h"


TS_API int ts_config_new(ts_config **out)
{
    ts_config *c = calloc(1, sizeof *c);

    *out = c;
    if (!c)
        return TS_ERR_NOMEM;
    c->log_level = TS_LOG_WARN;
    return TS_OK;
}

TS_API void ts_config_free(ts_config *c)
{
    if (!c)
        return;
    ts__kv_free(&c->options);
    ts__kv_free(&c->oauth);
    ts__kv_free(&c->encrypt);
    free(c->backend);
    free(c->plugin_dir);
    free(c->origin);
    free(c);
}

static int set_string(char **slot, const char *value, ts_error *err)
{
    char *copy = strdup(value);

    if (!copy)
        return ts__error(err, TS_ERR_NOMEM, "out of memory");
    free(*slot);
    *slot = copy;
    return TS_OK;
}

TS_API int ts_config_set_backend(ts_config *c, const char *name, ts_error *err)
{
    if (!name || !*name)
        return ts__error(err, TS_ERR_CONFIG, "empty backend name");
    size_t len = strlen(name);
    if (strchr(name, '/') ? len < 4 || strcmp(name + len - 3, ".so") != 0
                          : !ts__backend_name_valid(name))
        return ts__error(err, TS_ERR_CONFIG,
                         "backend '%.64s' is neither a name of a-z, 0-9, '_' and '-' "
                         "nor the path of a .so file", name);
    return set_string(&c->backend, name, err);
}

TS_API int ts_config_set_plugin_dir(ts_config *c, const char *dir, ts_error *err)
{
    if (!dir || !*dir)
        return ts__error(err, TS_ERR_CONFIG, "empty plugin_dir");
    return set_string(&c->plugin_dir, dir, err);
}

/* Sets an encrypt setting, checked, naming where it was set in errors. */
static int set_encrypt(ts_config *c, const char *key, const char *value, const char *origin,
                       ts_error *err)
{
    int rc = ts__encrypt_setting_check(key, value, origin, err);

    return rc == TS_OK ? ts__kv_set(&c->encrypt, key, value, err) : rc;
}

TS_API int ts_config_set_encrypt(ts_config *c, const char *key, const char *value,
                                 ts_error *err)
{
    return set_encrypt(c, key, value, ts_config_origin(c), err);
}

TS_API const char *ts_config_encrypt(const ts_config *c, const char *key)
{
    return ts__kv_get(&c->encrypt, key);
}

/* An option named "encrypt.KEY" (a URI's query, -o, the API) is the
 * encrypt section's KEY: no backend sees it. */
#define ENCRYPT_PREFIX "encrypt."
#define ENCRYPT_PREFIX_LEN 8

static int is_encrypt_option(const char *key)
{
    return strncmp(key, ENCRYPT_PREFIX, ENCRYPT_PREFIX_LEN) == 0;
}

/* Each of opts into the options, or the encrypt section. */
static int take_options(ts_config *c, const struct ts_kv *opts, const char *origin,
                        ts_error *err)
{
    int rc = TS_OK;

    for (size_t i = 0; i < opts->n && rc == TS_OK; i++) {
        const struct ts_option *o = &opts->items[i];
        rc = is_encrypt_option(o->key)
             ? set_encrypt(c, o->key + ENCRYPT_PREFIX_LEN, o->value, origin, err)
             : ts__kv_set(&c->options, o->key, o->value, err);
    }
    return rc;
}

TS_API int ts_config_set_option(ts_config *c, const char *key, const char *value,
                                ts_error *err)
{
    if (!key || !*key || !value)
        return ts__error(err, TS_ERR_CONFIG, "an option needs a key and a value");
    if (is_encrypt_option(key))
        return ts_config_set_encrypt(c, key + ENCRYPT_PREFIX_LEN, value, err);
    return ts__kv_set(&c->options, key, value, err);
}

TS_API int ts_config_set_oauth(ts_config *c, const char *key, const char *value,
                               ts_error *err)
{
    if (!key || !ts__oauth_setting_known(key) || !value)
        return ts__error(err, TS_ERR_CONFIG, "oauth.%.64s: unknown key", key ? key : "(null)");
    return ts__kv_set(&c->oauth, key, value, err);
}

TS_API void ts_config_set_logger(ts_config *c, ts_log_fn fn, void *userdata, int max_level)
{
    c->log_fn = fn;
    c->log_userdata = userdata;
    c->log_level = max_level;
    c->log_custom = 1;
}

TS_API const char *ts_config_backend(const ts_config *c)
{
    return c->backend;
}

TS_API const char *ts_config_option(const ts_config *c, const char *key)
{
    return ts__kv_get(&c->options, key);
}

TS_API int ts_config_foreach_option(const ts_config *c,
                                    int (*cb)(const char *key, const char *value,
                                              void *userdata),
                                    void *userdata)
{
    for (size_t i = 0; i < c->options.n; i++) {
        int rc = cb(c->options.items[i].key, c->options.items[i].value, userdata);
        if (rc != 0)
            return rc;
    }
    return TS_OK;
}

TS_API int ts_config_foreach_oauth(const ts_config *c,
                                   int (*cb)(const char *key, const char *value,
                                             void *userdata),
                                   void *userdata)
{
    for (size_t i = 0; i < c->oauth.n; i++) {
        int rc = cb(c->oauth.items[i].key, c->oauth.items[i].value, userdata);
        if (rc != 0)
            return rc;
    }
    return TS_OK;
}

TS_API const char *ts_config_origin(const ts_config *c)
{
    return c->origin ? c->origin : "API";
}

/* A URI's backend and options into c, which then comes from "URI". */
static int apply_uri(ts_config *c, const char *uri, ts_error *err)
{
    char backend[TS__NAME_MAX + 1];
    struct ts_kv opts = { 0 };
    int rc = ts__uri_parse(uri, backend, &opts, err);

    if (rc == TS_OK)
        rc = ts_config_set_backend(c, backend, err);
    if (rc == TS_OK)
        rc = take_options(c, &opts, "URI", err);
    if (rc == TS_OK)
        rc = set_string(&c->origin, "URI", err);
    ts__kv_free(&opts);
    return rc;
}

TS_API int ts_config_parse_uri(ts_config **out, const char *uri, ts_error *err)
{
    int rc = ts_config_new(out);

    if (rc != TS_OK)
        return ts__error(err, rc, "out of memory");
    rc = apply_uri(*out, uri, err);
    if (rc != TS_OK) {
        ts_config_free(*out);
        *out = NULL;
    }
    return rc;
}

/* ---------------------------------------------------------------- JSON */

static const char *type_name(json_object *o)
{
    return json_type_to_name(json_object_get_type(o));
}

/* A JSON object of scalars (the backend's options, the oauth section) into
 * kv; `where` is its key path in messages. `known` (may be NULL) limits
 * the keys. */
static int apply_scalars(struct ts_kv *kv, json_object *obj, const char *origin,
                         const char *where, int (*known)(const char *key), ts_error *err)
{
    if (!json_object_is_type(obj, json_type_object))
        return ts__error(err, TS_ERR_CONFIG, "%s: %s: expected an object, got %s", origin,
                         where, type_name(obj));
    json_object_object_foreach(obj, key, val) {
        const char *text;
        switch (json_object_get_type(val)) {
        case json_type_boolean:
            text = json_object_get_boolean(val) ? "1" : "0";
            break;
        case json_type_string:
        case json_type_int:
            text = json_object_get_string(val);
            break;
        case json_type_double:
            text = json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN);
            break;
        default:
            return ts__error(err, TS_ERR_CONFIG,
                             "%s: %s.%s: expected a string, number or boolean, got %s",
                             origin, where, key, type_name(val));
        }
        if (known && !known(key))
            return ts__error(err, TS_ERR_CONFIG, "%s: %s.%s: unknown key", origin, where, key);
        if (ts__kv_set(kv, key, text, err) != TS_OK)
            return ts_error_prefix(err, "%s: %s.%s", origin, where, key);
    }
    return TS_OK;
}

static int expect_string(json_object *v, const char *origin, const char *path, ts_error *err)
{
    if (!json_object_is_type(v, json_type_string))
        return ts__error(err, TS_ERR_CONFIG, "%s: %s: expected a string, got %s",
                         origin, path, type_name(v));
    return TS_OK;
}

static int apply_store(ts_config *c, json_object *store, const char *origin, ts_error *err)
{
    int rc = TS_OK, has_backend = 0;

    if (json_object_is_type(store, json_type_string)) {
        rc = apply_uri(c, json_object_get_string(store), err);
        return rc == TS_OK ? rc : ts_error_prefix(err, "%s: store", origin);
    }
    if (!json_object_is_type(store, json_type_object))
        return ts__error(err, TS_ERR_CONFIG,
                         "%s: store: expected an object or a URI string, got %s",
                         origin, type_name(store));
    json_object_object_foreach(store, key, val) {
        if (strcmp(key, "backend") == 0) {
            rc = expect_string(val, origin, "store.backend", err);
            if (rc == TS_OK && ts_config_set_backend(c, json_object_get_string(val), err) != TS_OK)
                rc = ts_error_prefix(err, "%s: store.backend", origin);
            has_backend = 1;
        } else if (strcmp(key, "options") == 0) {
            struct ts_kv opts = { 0 };
            rc = apply_scalars(&opts, val, origin, "store.options", NULL, err);
            if (rc == TS_OK)
                rc = take_options(c, &opts, origin, err);
            ts__kv_free(&opts);
            ts__kv_mark_from_file(&c->options);
        } else {
            rc = ts__error(err, TS_ERR_CONFIG,
                           "%s: store.%s: unknown key (expected backend, options)", origin, key);
        }
        if (rc != TS_OK)
            return rc;
    }
    if (!has_backend)
        return ts__error(err, TS_ERR_CONFIG, "%s: store.backend: missing", origin);
    return TS_OK;
}

/* An encrypt setting given as an array of strings (old_key_files,
 * fields): one comma-separated list, as a URI or the API gives it. */
static int join_strings(json_object *arr, const char *origin, const char *key, char **out,
                        ts_error *err)
{
    size_t n = json_object_array_length(arr), len = 1;

    for (size_t i = 0; i < n; i++) {
        json_object *v = json_object_array_get_idx(arr, i);
        if (!json_object_is_type(v, json_type_string) || strchr(json_object_get_string(v), ','))
            return ts__error(err, TS_ERR_CONFIG, "%s: encrypt.%s[%zu]: expected a string "
                             "without a comma, got %s", origin, key, i,
                             json_object_is_type(v, json_type_string) ? "one with a comma"
                                                                      : type_name(v));
        len += (size_t)json_object_get_string_len(v) + 1;
    }
    if (!(*out = calloc(1, len)))
        return ts__error(err, TS_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(*out, ",");
        strcat(*out, json_object_get_string(json_object_array_get_idx(arr, i)));
    }
    return TS_OK;
}

/* The "encrypt" section: scalars, or arrays of strings for the lists. */
static int apply_encrypt(ts_config *c, json_object *obj, const char *origin, ts_error *err)
{
    struct ts_kv scalars = { 0 };
    json_object *rest = json_object_new_object();
    int rc = rest ? TS_OK : ts__error(err, TS_ERR_NOMEM, "out of memory");

    if (rc == TS_OK && !json_object_is_type(obj, json_type_object))
        rc = ts__error(err, TS_ERR_CONFIG, "%s: encrypt: expected an object, got %s", origin,
                       type_name(obj));
    if (rc == TS_OK) {
        json_object_object_foreach(obj, key, val) {
            char *joined = NULL;
            if (!json_object_is_type(val, json_type_array)) {
                json_object_object_add(rest, key, json_object_get(val));
                continue;
            }
            if (!ts__encrypt_setting_known(key))
                rc = ts__encrypt_setting_check(key, "", origin, err);
            else if ((rc = join_strings(val, origin, key, &joined, err)) == TS_OK)
                rc = set_encrypt(c, key, joined, origin, err);
            free(joined);
            if (rc != TS_OK)
                break;
        }
    }
    if (rc == TS_OK)
        rc = apply_scalars(&scalars, rest, origin, "encrypt", ts__encrypt_setting_known, err);
    for (size_t i = 0; rc == TS_OK && i < scalars.n; i++)
        rc = set_encrypt(c, scalars.items[i].key, scalars.items[i].value, origin, err);
    ts__kv_free(&scalars);
    ts__json_release(rest);
    return rc;
}

static int apply_root(ts_config *c, json_object *root, const char *origin, ts_error *err)
{
    int rc = TS_OK, has_store = 0;

    if (!json_object_is_type(root, json_type_object))
        return ts__error(err, TS_ERR_CONFIG, "%s: expected a JSON object at the top, got %s",
                         origin, type_name(root));
    json_object_object_foreach(root, key, val) {
        if (strcmp(key, "store") == 0) {
            rc = apply_store(c, val, origin, err);
            has_store = 1;
        } else if (strcmp(key, "oauth") == 0) {
            rc = apply_scalars(&c->oauth, val, origin, "oauth", ts__oauth_setting_known, err);
        } else if (strcmp(key, "encrypt") == 0) {
            rc = apply_encrypt(c, val, origin, err);
        } else if (strcmp(key, "plugin_dir") == 0) {
            rc = expect_string(val, origin, "plugin_dir", err);
            if (rc == TS_OK && ts_config_set_plugin_dir(c, json_object_get_string(val), err))
                rc = ts_error_prefix(err, "%s: plugin_dir", origin);
        } else {
            rc = ts__error(err, TS_ERR_CONFIG,
                           "%s: %s: unknown key (expected store, oauth, encrypt, plugin_dir)", origin, key);
        }
        if (rc != TS_OK)
            return rc;
    }
    if (!has_store)
        return ts__error(err, TS_ERR_CONFIG, "%s: store: missing", origin);
    return TS_OK;
}

TS_API int ts_config_parse_json(ts_config **out, const char *text, const char *origin,
                                ts_error *err)
{
    json_object *root;
    char why[sizeof err->message];
    int rc;

    *out = NULL;
    if (!origin)
        origin = "config";
    rc = ts__json_parse(text, origin, &root, why, sizeof why);
    if (rc != TS_OK)
        return ts__error(err, rc, "%s", why);
    rc = ts_config_new(out);
    if (rc == TS_OK)
        rc = apply_root(*out, root, origin, err);
    else
        ts__error(err, rc, "out of memory");
    if (rc == TS_OK && set_string(&(*out)->origin, origin, err) != TS_OK)
        rc = TS_ERR_NOMEM;
    ts__json_release(root);
    if (rc != TS_OK) {
        ts_config_free(*out);
        *out = NULL;
    }
    return rc;
}

/* A config file holding a secret that others may read gets the advice a
 * token file would, from every program that loads it (through the
 * process-wide logger: no store exists yet). */
static void warn_if_readable(const ts_config *c, const char *path, const struct stat *st)
{
    const char *key = ts__kv_get(&c->oauth, "client_secret") ? "oauth.client_secret"
                      : ts__kv_get(&c->options, "password") ? "store.options.password"
                      : ts__kv_get(&c->options, "sentinel_password")
                          ? "store.options.sentinel_password" : NULL;

    if (key && S_ISREG(st->st_mode) && (st->st_mode & 066))
        ts__log(NULL, TS_LOG_WARN, "%s holds secrets (%s) but is %s by group or others "
                "(mode %04o): chmod 600 %s", path, key,
                st->st_mode & 022 ? "writable" : "readable", (unsigned)(st->st_mode & 07777),
                path);
}

static int load_file(ts_config **out, const char *path, ts_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *text = NULL;
    size_t len = 0;
    struct stat st;
    int rc, e;

    if (fd < 0)
        return ts__error(err, TS_ERR_CONFIG, "%s: cannot open config file: %s", path,
                         strerror(errno));
    if (fstat(fd, &st) != 0)
        memset(&st, 0, sizeof st);
    e = ts__json_read(fd, 0, &text, &len);
    close(fd);
    if (e == EISDIR)
        return ts__error(err, TS_ERR_CONFIG, "%s: is a directory, not a config file", path);
    if (e)
        return ts__error(err, e == ENOMEM ? TS_ERR_NOMEM : TS_ERR_CONFIG,
                         "%s: cannot read config file: %s", path, strerror(e));
    if (strlen(text) != len)
        rc = ts__error(err, TS_ERR_CONFIG, "%s: config file contains a NUL byte", path);
    else
        rc = ts_config_parse_json(out, text, path, err);
    ts__wipe(text, len);
    free(text);
    if (rc == TS_OK)
        warn_if_readable(*out, path, &st);
    return rc;
}

static int load_spec(ts_config **out, const char *spec, ts_error *err)
{
    if (ts__looks_like_uri(spec))
        return ts_config_parse_uri(out, spec, err);
    return load_file(out, spec, err);
}

/* $base/sub or $HOME/fallback/sub; NULL when neither is set. */
static char *xdg_path(const char *env, const char *fallback, const char *sub)
{
    const char *base = getenv(env), *home = getenv("HOME");
    char *path = NULL;

    if (base && base[0] == '/') {
        if (asprintf(&path, "%s/%s", base, sub) < 0)
            path = NULL;
    } else if (home && *home) {
        if (asprintf(&path, "%s/%s/%s", home, fallback, sub) < 0)
            path = NULL;
    }
    return path;
}

char *ts__default_store_path(void)
{
    return xdg_path("XDG_DATA_HOME", ".local/share", "tokenstore/zohooauth.db");
}

/* Creates the parent directories of path, 0700, as the default store's
 * directory holds secrets. */
static int make_parents(const char *path, ts_error *err)
{
    char *dir = strdup(path);

    if (!dir)
        return ts__error(err, TS_ERR_NOMEM, "out of memory");
    for (char *p = dir + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            int rc = ts__error(err, TS_ERR_IO, "cannot create directory %s: %s", dir,
                               strerror(errno));
            free(dir);
            return rc;
        }
        *p = '/';
    }
    free(dir);
    return TS_OK;
}

int ts__make_default_dirs(const ts_config *cfg, ts_error *err)
{
    const char *path = ts_config_option(cfg, "path");

    if (!cfg->origin || strcmp(cfg->origin, "default") != 0 || !path)
        return TS_OK;
    return make_parents(path, err);
}

/* The default store. Its directory is made when the store is opened to be
 * written (ts__make_default_dirs), never while a config is only read. */
static int default_config(ts_config **out, ts_error *err)
{
    char *path = ts__default_store_path();
    int rc;

    if (!path)
        return ts__error(err, TS_ERR_CONFIG,
                         "no config found and neither XDG_DATA_HOME nor HOME is set "
                         "for the default store");
    rc = ts_config_new(out) == TS_OK ? TS_OK : ts__error(err, TS_ERR_NOMEM, "out of memory");
    if (rc == TS_OK)
        rc = ts_config_set_backend(*out, "sqlite", err);
    if (rc == TS_OK)
        rc = ts_config_set_option(*out, "path", path, err);
    if (rc == TS_OK)
        rc = set_string(&(*out)->origin, "default", err);
    free(path);
    return rc;
}

TS_API int ts_config_load(ts_config **out, const char *spec, ts_error *err)
{
    const char *env = getenv("TOKENSTORE_CONFIG");
    char *user;
    int rc;

    *out = NULL;
    if (spec)
        rc = load_spec(out, spec, err);
    else if (env && *env)
        rc = load_spec(out, env, err);
    else if ((user = xdg_path("XDG_CONFIG_HOME", ".config", "tokenstore/config.json")) &&
             access(user, F_OK) == 0) {
        rc = load_file(out, user, err);
        free(user);
    } else {
        free(user);
        if (access(TS_SYSCONFDIR "/tokenstore/config.json", F_OK) == 0)
            rc = load_file(out, TS_SYSCONFDIR "/tokenstore/config.json", err);
        else
            rc = default_config(out, err);
    }
    if (rc != TS_OK) {
        ts_config_free(*out);
        *out = NULL;
    }
    return rc;
}

int ts__config_copy(ts_config **out, const ts_config *src)
{
    ts_config *c;
    int rc = ts_config_new(&c);

    if (rc == TS_OK)
        rc = ts__kv_merge(&c->options, &src->options, NULL);
    if (rc == TS_OK)
        rc = ts__kv_merge(&c->oauth, &src->oauth, NULL);
    if (rc == TS_OK)
        rc = ts__kv_merge(&c->encrypt, &src->encrypt, NULL);
    if (rc == TS_OK && src->backend)
        rc = set_string(&c->backend, src->backend, NULL);
    if (rc == TS_OK && src->plugin_dir)
        rc = set_string(&c->plugin_dir, src->plugin_dir, NULL);
    if (rc == TS_OK && src->origin)
        rc = set_string(&c->origin, src->origin, NULL);
    if (rc == TS_OK) {
        c->log_fn = src->log_fn;
        c->log_userdata = src->log_userdata;
        c->log_level = src->log_level;
        c->log_custom = src->log_custom;
    }
    if (rc != TS_OK) {
        ts_config_free(c);
        c = NULL;
    }
    *out = c;
    return rc;
}
