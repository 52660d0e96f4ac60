/*
 * core/uri.c - store URIs: "memory:", "file:/p", "sqlite:/p",
 * "redis://user:pass@host:port/db?prefix=p", "unix:/sock?db=0",
 * "redis-sentinel://user:pass@s1:26379,s2:26379/mymaster/db?prefix=p".
 *
 * A URI is another spelling of a config: the scheme names the backend and
 * the rest becomes backend options, so every backend (a third party's
 * too) gets URIs for free: "NAME:/path?key=value" sets path and key.
 * Only a few spellings are special: redis's "/db" path, the "unix:"
 * scheme, which is redis over a socket, "redis-sentinel:", redis through
 * Sentinel (the rediss forms add tls), mysql's "/database" path
 * ("mysql://user:pass@host:port/database"; "mysql:/path/to/socket"), and
 * postgres's, spelled as libpq spells its URIs: "postgres://" or
 * "postgresql://user:pass@h1:5432,h2:5433/dbname?target_session_attrs=
 * read-write" (the hosts and ports become libpq's lists, host=h1,h2
 * port=5432,5433), and "postgres:host=/run/pg dbname=d", a libpq
 * connection string, which becomes the option conninfo.
 *
 * This file only parses: it fills a backend name and an option list, and
 * config.c, one layer up, makes a config of them. It knows nothing of
 * configs, so the two never call each other.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

int ts__backend_name_valid(const char *name)
{
    if (!name || !*name || strlen(name) > TS__NAME_MAX)
        return 0;
    for (const char *p = name; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

int ts__looks_like_uri(const char *spec)
{
    const char *p = spec;

    if (!p || !isalpha((unsigned char)*p))
        return 0;
    while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.' || *p == '_')
        p++;
    return *p == ':';
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Percent-decodes n bytes of s into a new string; NULL on a bad escape,
 * an encoded NUL or no memory (*bad tells which). */
static char *decode(const char *s, size_t n, int *bad)
{
    char *out = malloc(n + 1), *o = out;

    *bad = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                ts__wipe(out, n + 1);
                free(out);
                *bad = 1;
                return NULL;
            }
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

static int set_decoded(struct ts_kv *opts, const char *key, const char *s, size_t n,
                       ts_error *err)
{
    int bad, rc;
    char *v = decode(s, n, &bad);

    if (!v)
        return bad ? ts__error(err, TS_ERR_CONFIG, "URI: bad percent-escape in %s", key)
                   : ts__error(err, TS_ERR_NOMEM, "out of memory");
    rc = ts__kv_set(opts, key, v, err);
    ts__wipe(v, strlen(v));
    free(v);
    return rc;
}

/* "[user[:password]@]host[:port]"; the host may be a bracketed IPv6 literal. */
static int apply_authority(struct ts_kv *opts, const char *s, size_t n, ts_error *err)
{
    const char *at = memrchr(s, '@', n), *host = s, *end = s + n;
    int rc = TS_OK;

    if (at) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        size_t ulen = (size_t)((colon ? colon : at) - s);
        if (ulen)
            rc = set_decoded(opts, "username", s, ulen, err);
        if (rc == TS_OK && colon)
            rc = set_decoded(opts, "password", colon + 1, (size_t)(at - colon - 1), err);
        host = at + 1;
    }
    const char *port = NULL, *hend = end;
    if (rc == TS_OK && host < end && *host == '[') {
        const char *close = memchr(host, ']', (size_t)(end - host));
        if (!close)
            return ts__error(err, TS_ERR_CONFIG, "URI: unterminated '[' in host");
        if (close + 1 < end && close[1] == ':')
            port = close + 2;
        else if (close + 1 != end)
            return ts__error(err, TS_ERR_CONFIG, "URI: junk after ']' in host");
        host++;
        hend = close;
    } else if (rc == TS_OK) {
        const char *colon = memchr(host, ':', (size_t)(end - host));
        if (colon) {
            port = colon + 1;
            hend = colon;
        }
    }
    if (rc == TS_OK && hend > host)
        rc = set_decoded(opts, "host", host, (size_t)(hend - host), err);
    if (rc == TS_OK && port) {
        size_t plen = (size_t)(end - port);
        if (plen == 0 || plen > 5 || strspn(port, "0123456789") < plen ||
            atoi(port) < 1 || atoi(port) > 65535)
            return ts__error(err, TS_ERR_CONFIG, "URI: port '%.*s' is not a number "
                             "from 1 to 65535", (int)plen, port);
        rc = set_decoded(opts, "port", port, plen, err);
    }
    return rc;
}

/* "[user:pass@]h1:p1,[::1]:p2,h3": each host through apply_authority, the
 * hosts and ports joined into libpq's lists, a port left empty (libpq's
 * default) for a host without one. */
static int apply_host_list(struct ts_kv *opts, const char *s, size_t n, ts_error *err)
{
    const char *at = memrchr(s, '@', n), *p = at ? at + 1 : s, *end = s + n;
    char hosts[1024] = "", ports[256] = "";
    size_t hlen = 0, plen = 0;
    int rc = at ? apply_authority(opts, s, (size_t)(at - s) + 1, err) : TS_OK;
    int any_host = 0, any_port = 0;

    for (int first = 1; rc == TS_OK && p <= end; first = 0) {
        const char *comma = memchr(p, ',', (size_t)(end - p)), *stop = comma ? comma : end;
        struct ts_kv one = { 0 };
        rc = apply_authority(&one, p, (size_t)(stop - p), err);
        const char *h = ts__kv_get(&one, "host"), *port = ts__kv_get(&one, "port");
        h = h ? h : "";
        port = port ? port : "";
        if (rc == TS_OK && (hlen + strlen(h) + 2 > sizeof hosts ||
                            plen + strlen(port) + 2 > sizeof ports))
            rc = ts__error(err, TS_ERR_CONFIG, "URI: too many hosts");
        if (rc == TS_OK) {
            hlen += (size_t)snprintf(hosts + hlen, sizeof hosts - hlen, "%s%s", first ? "" : ",",
                                     h);
            plen += (size_t)snprintf(ports + plen, sizeof ports - plen, "%s%s", first ? "" : ",",
                                     port);
            any_host |= *h != '\0';
            any_port |= *port != '\0';
        }
        ts__kv_free(&one);
        p = stop + 1;
    }
    if (rc == TS_OK && any_host)
        rc = ts__kv_set(opts, "host", hosts, err);
    if (rc == TS_OK && any_port)
        rc = ts__kv_set(opts, "port", ports, err);
    return rc;
}

/* "[user:pass@]h1:p1,h2:p2" and "/master[/db]": the master's credentials,
 * the sentinels as one option (the backend splits them), the master's
 * name and db. */
static int apply_sentinel(struct ts_kv *opts, const char *auth, size_t alen, const char *path,
                          size_t plen, ts_error *err)
{
    const char *at = memrchr(auth, '@', alen);
    size_t ulen = at ? (size_t)(at - auth) + 1 : 0;
    int rc = ulen ? apply_authority(opts, auth, ulen, err) : TS_OK;

    if (rc == TS_OK && alen > ulen)
        rc = set_decoded(opts, "sentinels", auth + ulen, alen - ulen, err);
    if (rc != TS_OK || plen <= 1)
        return rc;
    const char *name = path + 1, *slash = memchr(name, '/', plen - 1);
    size_t nlen = slash ? (size_t)(slash - name) : plen - 1;
    if (nlen)
        rc = set_decoded(opts, "master_name", name, nlen, err);
    if (rc == TS_OK && slash && (size_t)(slash + 1 - path) < plen)
        rc = set_decoded(opts, "db", slash + 1, plen - (size_t)(slash + 1 - path), err);
    return rc;
}

static int apply_query(struct ts_kv *opts, const char *q, ts_error *err)
{
    while (*q) {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        if (n > 0) {
            size_t klen = eq ? (size_t)(eq - q) : n;
            char key[65];
            if (klen == 0 || klen >= sizeof key)
                return ts__error(err, TS_ERR_CONFIG,
                                 "URI: query parameter name '%.*s' is empty or too long",
                                 (int)(klen < 40 ? klen : 40), q);
            memcpy(key, q, klen);
            key[klen] = '\0';
            int rc = eq ? set_decoded(opts, key, eq + 1, n - klen - 1, err)
                        : ts__kv_set(opts, key, "1", err);
            if (rc != TS_OK)
                return rc;
        }
        q += n + (q[n] == '&');
    }
    return TS_OK;
}

/* An '@' past the authority's end, outside a query value: a user name or
 * password holding an unescaped '/' or '?' was cut there, and what follows
 * the cut would be taken for a port, a path or an option, and echoed in an
 * error. Refused without echoing any of it. */
static int misplaced_at(const char *after_slashes, ts_error *err)
{
    const char *end = after_slashes + strcspn(after_slashes, "/?");
    int in_query = 0, in_value = 0;

    for (const char *p = end; *p; p++) {
        if (*p == '?' && !in_query)
            in_query = 1;
        else if (*p == '&')
            in_value = 0;
        else if (*p == '=' && in_query)
            in_value = 1;
        else if (*p == '@' && !in_value)
            return ts__error(err, TS_ERR_CONFIG, "URI: an '@' after the host: a user name or "
                             "password holding '/' or '?' must spell them %%2F and %%3F");
    }
    return 0;
}

int ts__uri_parse(const char *uri, char backend[TS__NAME_MAX + 1], struct ts_kv *opts,
                  ts_error *err)
{
    size_t slen = strcspn(uri, ":");
    char scheme[TS__NAME_MAX + 1];
    int rc = TS_OK;

    /* Echo no further than a ':' or '@': what follows may be a password. */
    if (!ts__looks_like_uri(uri) || slen >= sizeof scheme)
        return ts__error(err, TS_ERR_CONFIG, "'%.*s' is not a store URI (scheme:...)",
                         (int)strcspn(uri, ":@") < 64 ? (int)strcspn(uri, ":@") : 64, uri);
    for (size_t i = 0; i < slen; i++)
        scheme[i] = (char)tolower((unsigned char)uri[i]);
    scheme[slen] = '\0';

    const char *rest = uri + slen + 1;
    const char *query = strchr(rest, '?');
    size_t rlen = query ? (size_t)(query - rest) : strlen(rest);
    int is_redis = strcmp(scheme, "redis") == 0 || strcmp(scheme, "rediss") == 0;
    int is_sentinel = strcmp(scheme, "redis-sentinel") == 0 ||
                      strcmp(scheme, "rediss-sentinel") == 0;
    int is_unix = strcmp(scheme, "unix") == 0;
    int is_mysql = strcmp(scheme, "mysql") == 0;
    int is_pg = strcmp(scheme, "postgres") == 0 || strcmp(scheme, "postgresql") == 0;

    strcpy(backend, is_redis || is_unix || is_sentinel ? "redis" : is_pg ? "postgres" : scheme);
    if (!ts__backend_name_valid(backend))
        return ts__error(err, TS_ERR_CONFIG,
                         "URI scheme '%s' is not a backend name ([a-z0-9_-])", scheme);
    if (strcmp(scheme, "rediss") == 0 || strcmp(scheme, "rediss-sentinel") == 0)
        rc = ts__kv_set(opts, "tls", "1", err);
    if (rc == TS_OK && rlen >= 2 && rest[0] == '/' && rest[1] == '/' &&
        misplaced_at(rest + 2, err))
        return TS_ERR_CONFIG;
    if (rc == TS_OK && rlen >= 2 && rest[0] == '/' && rest[1] == '/') {
        const char *auth = rest + 2, *path = memchr(auth, '/', rlen - 2);
        size_t alen = path ? (size_t)(path - auth) : rlen - 2;
        size_t plen = path ? rlen - 2 - alen : 0;
        if (is_sentinel)
            rc = apply_sentinel(opts, auth, alen, path, plen, err);
        else if (is_pg)
            rc = apply_host_list(opts, auth, alen, err);
        else
            rc = apply_authority(opts, auth, alen, err);
        if (rc == TS_OK && (is_redis || is_mysql || is_pg) && plen > 1)
            rc = set_decoded(opts, is_redis ? "db" : is_pg ? "dbname" : "database", path + 1,
                             plen - 1, err);
        else if (rc == TS_OK && !is_redis && !is_mysql && !is_pg && !is_sentinel && plen > 0)
            rc = set_decoded(opts, is_unix ? "socket" : "path", path, plen, err);
    } else if (rc == TS_OK && rlen > 0) {
        rc = set_decoded(opts, is_pg ? "conninfo" : is_unix || is_mysql ? "socket" : "path",
                         rest, rlen, err);
    }
    if (rc == TS_OK && query)
        rc = apply_query(opts, query + 1, err);
    return rc;
}
