/*
 * core/loader.c - finding, loading and vetting backend shared objects.
 *
 * A backend is found by explicit path, or by name as NAME.so in the
 * config's plugin_dir, each directory of $TOKENSTORE_PLUGIN_PATH, then the
 * installed plugin directory. $TOKENSTORE_SYSTEM_PLUGIN_DIR, when set,
 * stands in for the installed directory (empty: none), so that a test
 * suite or a staged build sees its own backends and never an installed
 * copy; unset, the order is as above. Names are restricted to [a-z0-9_-] so a name
 * can never walk out of those directories. Whatever is loaded is checked
 * before it is trusted: it must export tokenstore_backend_init, speak our
 * ABI major version and fill every mandatory member. Each refusal names
 * the file and the reason; none of them crashes the host.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"
#include "ts_paths.h"

TS_API const char *ts_plugin_dir(void)
{
    return TS_PLUGIN_DIR;
}

static const char *missing_member(const ts_backend *vt)
{
#define MANDATORY(m) if (!TS_BACKEND_HAS(vt, m)) return #m
    MANDATORY(name);
    MANDATORY(version);
    MANDATORY(open);
    MANDATORY(close);
    MANDATORY(find_token);
    MANDATORY(save_token);
    MANDATORY(delete_token);
    MANDATORY(get_tokens);
    MANDATORY(delete_tokens);
    MANDATORY(find_token_by_id);
#undef MANDATORY
    return NULL;
}

int ts__module_open_path(ts_module *m, const char *path, ts_error *err)
{
    ts_backend_init_fn init;
    const ts_backend *vt = NULL;
    const char *missing;
    int rc;

    memset(m, 0, sizeof *m);
    dlerror();
    m->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!m->handle)
        return ts__error(err, TS_ERR_LOAD, "%s: cannot load as a shared object: %s", path,
                         dlerror());
    *(void **)&init = dlsym(m->handle, TS_BACKEND_INIT_SYMBOL);
    if (!init) {
        rc = ts__error(err, TS_ERR_LOAD,
                       "%s: not a tokenstore backend: it does not export %s", path,
                       TS_BACKEND_INIT_SYMBOL);
        goto fail;
    }
    rc = init(TS_ABI_MAJOR, TS_ABI_MINOR, &ts__host, &vt);
    if (rc == TS_ERR_ABI || (rc == TS_OK && vt && vt->abi_major != TS_ABI_MAJOR)) {
        if (vt)
            rc = ts__error(err, TS_ERR_ABI,
                           "%s: backend was built for ABI %u.%u; this library speaks %d.%d",
                           path, vt->abi_major, vt->abi_minor, TS_ABI_MAJOR, TS_ABI_MINOR);
        else
            rc = ts__error(err, TS_ERR_ABI,
                           "%s: backend refused ABI %d.%d (built for another major version)",
                           path, TS_ABI_MAJOR, TS_ABI_MINOR);
        goto fail;
    }
    if (rc != TS_OK || !vt) {
        rc = ts__error(err, TS_ERR_LOAD, "%s: %s failed (%s)", path, TS_BACKEND_INIT_SYMBOL,
                       rc != TS_OK ? ts_strerror(rc) : "no table returned");
        goto fail;
    }
    if (vt->size < offsetof(ts_backend, options) + sizeof vt->options) {
        rc = ts__error(err, TS_ERR_ABI, "%s: backend table is too small (%u bytes)", path,
                       (unsigned)vt->size);
        goto fail;
    }
    if ((missing = missing_member(vt))) {
        rc = ts__error(err, TS_ERR_ABI, "%s: backend '%s' lacks the mandatory member '%s'",
                       path, vt->name ? vt->name : "?", missing);
        goto fail;
    }
    if (!ts__backend_name_valid(vt->name)) {
        rc = ts__error(err, TS_ERR_ABI, "%s: backend name '%.64s' is not [a-z0-9_-]+", path,
                       vt->name);
        goto fail;
    }
    m->vt = vt;
    m->path = strdup(path);
    if (!m->path) {
        rc = ts__error(err, TS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    return TS_OK;
fail:
    dlclose(m->handle);
    memset(m, 0, sizeof *m);
    return rc;
}

int ts__backend_has_notes(const ts_backend *vt)
{
    return TS_BACKEND_HAS(vt, note_set) && TS_BACKEND_HAS(vt, note_get) &&
           TS_BACKEND_HAS(vt, log_append) && TS_BACKEND_HAS(vt, log_walk);
}

uint32_t ts__backend_caps(const ts_backend *vt)
{
    return (vt->caps & ~TS_CAP_NOTES) | (ts__backend_has_notes(vt) ? TS_CAP_NOTES : 0);
}

void ts__module_unload(ts_module *m)
{
    if (m->handle)
        dlclose(m->handle);
    free(m->path);
    memset(m, 0, sizeof *m);
}

/* Calls fn(dir) for each search directory in order until it returns
 * non-zero; returns that. */
static int each_search_dir(const ts_config *cfg, int (*fn)(const char *dir, void *ud), void *ud)
{
    const char *env = getenv("TOKENSTORE_PLUGIN_PATH");
    int rc;

    if (cfg && cfg->plugin_dir && (rc = fn(cfg->plugin_dir, ud)))
        return rc;
    if (env) {
        char *copy = strdup(env), *save = NULL;
        if (!copy)
            return TS_ERR_NOMEM;
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
            if ((rc = fn(d, ud))) {
                free(copy);
                return rc;
            }
        }
        free(copy);
    }
    const char *system_dir = getenv("TOKENSTORE_SYSTEM_PLUGIN_DIR");
    if (!system_dir)
        system_dir = TS_PLUGIN_DIR;
    return *system_dir ? fn(system_dir, ud) : 0;
}

struct find_state {
    const char *name;
    char *found;
    char looked[TS_ERROR_MAX];   /* the directories searched, in order */
};

static int find_in_dir(const char *dir, void *ud)
{
    struct find_state *st = ud;
    char *path;

    if (asprintf(&path, "%s/%s.so", dir, st->name) < 0)
        return TS_ERR_NOMEM;
    if (access(path, F_OK) == 0) {
        st->found = path;
        return 1;
    }
    size_t used = strlen(st->looked);
    snprintf(st->looked + used, sizeof st->looked - used, "%s%s", used ? ", " : "", dir);
    free(path);
    return 0;
}

int ts__module_load(ts_module *m, const ts_config *cfg, ts_error *err)
{
    struct find_state st = { .name = cfg->backend };
    int rc;

    if (!cfg->backend)
        return ts__error(err, TS_ERR_CONFIG, "%s: no backend configured", ts_config_origin(cfg));
    if (strchr(cfg->backend, '/'))
        return ts__module_open_path(m, cfg->backend, err);
    rc = each_search_dir(cfg, find_in_dir, &st);
    if (rc == TS_ERR_NOMEM)
        return ts__error(err, rc, "out of memory");
    if (!st.found)
        return ts__error(err, TS_ERR_LOAD, "backend '%s' not found; looked for %s.so in %s",
                         cfg->backend, cfg->backend, st.looked);
    rc = ts__module_open_path(m, st.found, err);
    free(st.found);
    return rc;
}

/* ---------------------------------------------------------------- listing */

struct list_state {
    int (*cb)(const ts_backend_info *, void *);
    int (*cb_1_4)(const struct ts__backend_info_1_4 *, void *);   /* or this */
    void (*bad)(const char *, const ts_error *, void *);
    void *ud;
    char **seen;
    size_t nseen;
    int rc;
};

static int seen_before(struct list_state *st, const char *name)
{
    for (size_t i = 0; i < st->nseen; i++)
        if (strcmp(st->seen[i], name) == 0)
            return 1;
    char **seen = realloc(st->seen, (st->nseen + 1) * sizeof *seen);
    if (!seen)
        return 0;
    st->seen = seen;
    st->seen[st->nseen] = strdup(name);
    if (st->seen[st->nseen])
        st->nseen++;
    return 0;
}

static int list_dir(const char *dir, void *ud)
{
    struct list_state *st = ud;
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);

    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]->d_name);
        if (st->rc == TS_OK && len > 3 && strcmp(names[i]->d_name + len - 3, ".so") == 0) {
            char *path;
            ts_module m;
            ts_error e;
            if (asprintf(&path, "%s/%s", dir, names[i]->d_name) >= 0) {
                if (ts__module_open_path(&m, path, &e) == TS_OK) {
                    if (!seen_before(st, m.vt->name)) {
                        ts_backend_info info = {
                            sizeof info, m.vt->name, m.vt->version,
                            TS_BACKEND_HAS(m.vt, description) ? m.vt->description : "",
                            m.path, m.vt->abi_major, m.vt->abi_minor,
                            ts__backend_caps(m.vt),
                        };
                        struct ts__backend_info_1_4 old = {
                            info.name, info.version, info.description, info.path,
                            info.abi_major, info.abi_minor, info.caps,
                        };
                        st->rc = st->cb ? st->cb(&info, st->ud) : st->cb_1_4(&old, st->ud);
                    }
                    ts__module_unload(&m);
                } else if (st->bad) {
                    st->bad(path, &e, st->ud);
                }
                free(path);
            }
        }
        free(names[i]);
    }
    if (n >= 0)
        free(names);
    return st->rc;
}

/* Lists every backend to st's callback. */
static int list_all(const ts_config *cfg, struct list_state *st, ts_error *err)
{
    int rc = each_search_dir(cfg, list_dir, st);

    for (size_t i = 0; i < st->nseen; i++)
        free(st->seen[i]);
    free(st->seen);
    if (rc == TS_ERR_NOMEM && st->rc == TS_OK)   /* ours, not the callback's */
        return ts__error(err, rc, "out of memory");
    return st->rc;
}

TS_API int ts_backends_list_sized(const ts_config *cfg,
                                  int (*cb)(const ts_backend_info *, void *),
                                  void (*bad)(const char *, const ts_error *, void *),
                                  void *ud, ts_error *err)
{
    struct list_state st = { .cb = cb, .bad = bad, .ud = ud };

    return list_all(cfg, &st, err);
}

/* The symbol programs built before 1.5 call, with the struct they knew. */
TS_API int ts_backends_list(const ts_config *cfg,
                            int (*cb)(const struct ts__backend_info_1_4 *, void *),
                            void (*bad)(const char *, const ts_error *, void *),
                            void *ud, ts_error *err)
{
    struct list_state st = { .cb_1_4 = cb, .bad = bad, .ud = ud };

    return list_all(cfg, &st, err);
}
