/*
 * cli/schemes.c - the URI schemes that open a backend found: the backends'
 * names and the other spellings a URI may use for one of them (rediss:,
 * redis-sentinel:, unix: ...), each checked against the library's URI
 * parser before it is offered. Completion reads them from `backends
 * --schemes`, and a backend name that is not found gets the nearest of
 * them as a "did you mean".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* URI schemes that are not a backend's name; the library's parser says
 * which backend each opens, and one is offered only when that backend is
 * found. */
static const char *const scheme_aliases[] = {
    "rediss", "redis-sentinel", "rediss-sentinel", "unix",
};

struct names {
    char **v;
    size_t n, cap;
    int failed;
};

static void names_add(struct names *names, const char *name)
{
    for (size_t i = 0; i < names->n; i++)
        if (strcmp(names->v[i], name) == 0)
            return;
    if (names->n + 1 >= names->cap) {
        size_t cap = names->cap ? 2 * names->cap : 16;
        char **grown = realloc(names->v, cap * sizeof *grown);
        if (!grown) {
            names->failed = 1;
            return;
        }
        names->v = grown;
        names->cap = cap;
    }
    if (!(names->v[names->n] = strdup(name)))
        names->failed = 1;
    else
        names->v[++names->n] = NULL;
}

static int name_found(const ts_backend_info *info, void *userdata)
{
    names_add(userdata, info->name);
    return TS_OK;
}

static int has_name(const struct names *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names->v[i], name) == 0)
            return 1;
    return 0;
}

char **cli_uri_schemes(const ts_config *cfg, int aliases, size_t *n)
{
    struct names names = { 0 };

    if (ts_backends_list(cfg, name_found, NULL, &names, NULL) != TS_OK)
        names.failed = 1;
    size_t backends = names.n;
    for (size_t i = 0; aliases && i < sizeof scheme_aliases / sizeof *scheme_aliases; i++) {
        char uri[64];
        ts_config *parsed;
        snprintf(uri, sizeof uri, "%s:", scheme_aliases[i]);
        if (ts_config_parse_uri(&parsed, uri, NULL) != TS_OK)
            continue;
        if (has_name(&names, backends, ts_config_backend(parsed)))
            names_add(&names, scheme_aliases[i]);
        ts_config_free(parsed);
    }
    if (!names.v && !(names.v = calloc(1, sizeof *names.v)))
        names.failed = 1;
    if (names.failed) {
        cli_strings_free(names.v);
        return NULL;
    }
    *n = names.n;
    return names.v;
}

void cli_strings_free(char **strings)
{
    for (size_t i = 0; strings && strings[i]; i++)
        free(strings[i]);
    free(strings);
}

int cli_backend_guess(const ts_config *cfg, char *out, size_t size)
{
    const char *name = ts_config_backend(cfg);
    int uri = strcmp(ts_config_origin(cfg), "URI") == 0;
    size_t n;
    char **schemes;

    if (!name || strchr(name, '/') || !(schemes = cli_uri_schemes(cfg, uri, &n)))
        return -1;
    const char *guess = cli_nearest_word(name, (const char *const *)schemes, n);
    if (guess)
        snprintf(out, size, uri ? "'%s:'" : "backend '%s'", guess);
    cli_strings_free(schemes);
    return guess ? 0 : -1;
}
