/*
 * core/json.c - reading JSON text whole, strict JSON parsing that says
 * where the text went wrong, and releasing a parsed tree without leaving
 * its strings (client secrets, passwords, tokens) in freed memory.
 *
 * It is the convenience library libtsjson, linked into libtokenstore (for
 * config files) and into the tokenstore command (for configs and tokens on
 * standard input), so both read and parse with the same rules.
 *
 * json-c accepts two things that would silently change what a config file
 * or a token says: a key given twice (the last wins) and an escaped NUL in
 * a string (the C string ends there: "/tmp/x\u0000.csv" is "/tmp/x"). Once
 * json-c has accepted the text, one pass over it refuses both, with the
 * line, column and key path.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <json-c/printbuf.h>
#include <tokenstore/types.h>
#include "json.h"

/* Line and column (1-based) of byte offset `off` in text. */
static void line_col(const char *text, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && text[i]; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/* ---------------------------------------------------------------- the pass */

struct scan {
    const char *text;
    size_t pos;
    char path[192];          /* "store.options.path" */
    size_t bad;              /* offset of what was refused */
    char why[160];
};

/* Decodes the JSON string at s->pos (its opening quote) into out (NULL:
 * only look), moving past its closing quote. Returns the decoded length,
 * or -1 when it holds a NUL or a lone surrogate escape (json-c would
 * replace the latter with U+FFFD: a value exported as "\udcff" would come
 * back as other bytes). json-c has accepted the text, so it is JSON but for
 * what json-c lets through; the end of the text stops the walk all the
 * same. */
static long decode_string(struct scan *s, char *out, size_t cap)
{
    const char *p = s->text + s->pos + 1;
    size_t n = 0;
    int nul = 0;

    while (*p && *p != '"') {
        unsigned long c = (unsigned char)*p++;
        if (c == '\\') {
            if (!*p || (*p == 'u' && strnlen(p + 1, 4) < 4))
                break;
            char e = *p++;
            c = e == 'b' ? '\b' : e == 'f' ? '\f' : e == 'n' ? '\n' : e == 'r' ? '\r'
              : e == 't' ? '\t' : (unsigned char)e;
            if (e == 'u') {
                c = strtoul((char[5]){ p[0], p[1], p[2], p[3], 0 }, NULL, 16);
                p += 4;
                unsigned long lo = 0;
                if (c >= 0xD800 && c < 0xDC00 && p[0] == '\\' && p[1] == 'u' &&
                    strnlen(p + 2, 4) == 4)
                    lo = strtoul((char[5]){ p[2], p[3], p[4], p[5], 0 }, NULL, 16);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
                nul |= c == 0 || (c >= 0xD800 && c <= 0xDFFF);
                /* As UTF-8: only equality of keys matters here. */
                unsigned char u[4];
                int k = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
                u[0] = k == 1 ? (unsigned char)c : (unsigned char)((0xF00 >> k) | (c >> (6 * (k - 1))));
                for (int i = 1; i < k; i++)
                    u[i] = (unsigned char)(0x80 | ((c >> (6 * (k - 1 - i))) & 0x3F));
                for (int i = 0; i < k; i++, n++)
                    if (out && n < cap)
                        out[n] = (char)u[i];
                continue;
            }
        }
        if (out && n < cap)
            out[n] = (char)c;
        n++;
    }
    s->pos = (size_t)(p - s->text) + (*p == '"');
    return nul ? -1 : (long)n;
}

static void skip_space(struct scan *s)
{
    s->pos += strspn(s->text + s->pos, " \t\r\n");
}

static int scan_value(struct scan *s, int depth);

/* Appends ".key" or "[i]" to the path for the duration of a member;
 * returns the length to cut it back to. */
static size_t path_push(struct scan *s, const char *key, size_t i)
{
    size_t had = strlen(s->path);

    if (key)
        snprintf(s->path + had, sizeof s->path - had, "%s%.70s", had ? "." : "", key);
    else
        snprintf(s->path + had, sizeof s->path - had, "[%zu]", i);
    return had;
}

struct key {
    char *text;
    size_t len, at;
};

static int refuse(struct scan *s, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(struct scan *s, size_t at, const char *fmt, ...)
{
    va_list ap;

    s->bad = at;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof s->why, fmt, ap);
    va_end(ap);
    return -1;
}

/* Reads the key at s->pos into keys[n], refusing a NUL in it and a key
 * the object already has. */
static int scan_key(struct scan *s, struct key *keys, size_t n)
{
    size_t at = s->pos;

    /* json-c's strict mode still takes 'key': JSON does not. */
    if (s->text[at] != '"')
        return refuse(s, at, "%s%sa key must be a string in double quotes", s->path,
                      *s->path ? ": " : "");
    long len = decode_string(s, NULL, 0);
    char *text = len < 0 ? NULL : malloc((size_t)len + 1);

    if (len < 0)
        return refuse(s, at, "%s%sa key holds a NUL byte (\\u0000) or a lone surrogate",
                      s->path, *s->path ? ": " : "");
    if (!text)
        return refuse(s, at, "out of memory");
    s->pos = at;
    decode_string(s, text, (size_t)len);
    text[len] = '\0';
    keys[n] = (struct key){ text, (size_t)len, at };
    for (size_t i = 0; i < n; i++) {
        if (keys[i].len == keys[n].len && memcmp(keys[i].text, text, keys[n].len) == 0) {
            int line = 1;
            for (size_t j = 0; j < keys[i].at; j++)
                line += s->text[j] == '\n';
            path_push(s, text, 0);
            return refuse(s, at, "%s: the key is given twice (first on line %d)", s->path,
                          line);
        }
    }
    return 0;
}

static int scan_object(struct scan *s, int depth)
{
    struct key *keys = NULL;
    size_t n = 0, held = 0;      /* keys[0..held) have text to free */
    int rc = 0;

    s->pos++;                                     /* '{' */
    for (skip_space(s); s->text[s->pos] != '}' && rc == 0; n++) {
        struct key *grown = realloc(keys, (n + 1) * sizeof *keys);
        if (!grown) {
            rc = refuse(s, s->pos, "out of memory");
            break;
        }
        keys = grown;
        keys[n].text = NULL;
        held = n + 1;
        if ((rc = scan_key(s, keys, n)) != 0)
            break;
        skip_space(s);
        s->pos++;                                 /* ':' */
        size_t had = path_push(s, keys[n].text, 0);
        if ((rc = scan_value(s, depth + 1)) == 0)
            s->path[had] = '\0';
        skip_space(s);
        if (s->text[s->pos] == ',')
            s->pos++;
        skip_space(s);
    }
    s->pos++;                                     /* '}' */
    for (size_t i = 0; i < held; i++)
        free(keys[i].text);
    free(keys);
    return rc;
}

static int scan_value(struct scan *s, int depth)
{
    skip_space(s);
    char c = s->text[s->pos];

    if (depth > JSON_TOKENER_DEFAULT_DEPTH + 1)
        return 0;                                 /* json-c refused deeper already */
    if (c == '{')
        return scan_object(s, depth);
    if (c == '[') {
        s->pos++;
        skip_space(s);
        for (size_t i = 0; s->text[s->pos] != ']'; i++) {
            size_t had = path_push(s, NULL, i);
            if (scan_value(s, depth + 1) != 0)
                return -1;
            s->path[had] = '\0';
            skip_space(s);
            if (s->text[s->pos] == ',')
                s->pos++;
            skip_space(s);
        }
        s->pos++;
        return 0;
    }
    if (c == '"') {
        size_t at = s->pos;
        if (decode_string(s, NULL, 0) < 0)
            return refuse(s, at, "%s%sthe string holds a NUL byte (\\u0000) or a lone "
                          "surrogate (\\ud800-\\udfff), which is no character", s->path,
                          *s->path ? ": " : "");
        return 0;
    }
    s->pos += strcspn(s->text + s->pos, ",]} \t\r\n");
    return 0;
}

/* ---------------------------------------------------------------- reading */

/* The first buffer: a regular file's size (so it is read into one), else
 * a page; never more than a text over max needs to be noticed. */
static size_t first_capacity(const struct stat *st, size_t max)
{
    size_t cap = S_ISREG(st->st_mode) && st->st_size > 0 ? (size_t)st->st_size + 1 : 4096;

    return max && cap > max + 2 ? max + 2 : cap;
}

/* Moves buf's n bytes to one twice its size, wiping the old one; NULL
 * when out of memory (buf is wiped and freed all the same). */
static char *grow(char *buf, size_t n, size_t *cap)
{
    char *bigger = malloc(*cap * 2);

    if (bigger)
        memcpy(bigger, buf, n);
    explicit_bzero(buf, n);
    free(buf);
    *cap *= 2;
    return bigger;
}

int ts__json_read(int fd, size_t max, char **text, size_t *len)
{
    struct stat st;
    size_t cap, n = 0;
    char *buf;
    int e = 0;

    *text = NULL;
    *len = 0;
    if (fstat(fd, &st) != 0)
        return errno;
    if (S_ISDIR(st.st_mode))
        return EISDIR;
    cap = first_capacity(&st, max);
    buf = malloc(cap);
    while (buf && !e) {
        if (n + 1 == cap && !(buf = grow(buf, n, &cap)))
            break;
        ssize_t got = read(fd, buf + n, cap - 1 - n);
        if (got == 0)
            break;
        if (got < 0)
            e = errno == EINTR ? 0 : errno;
        else if ((n += (size_t)got) > max && max)
            e = EFBIG;
    }
    if (!buf || e) {
        if (buf)
            explicit_bzero(buf, n);
        free(buf);
        return buf ? e : ENOMEM;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

/* ---------------------------------------------------------------- parsing */

int ts__json_parse(const char *text, const char *origin, json_object **out, char *why,
                   size_t whylen)
{
    json_tokener *tok = json_tokener_new();
    size_t len = strlen(text);

    *out = NULL;
    if (!tok || len >= INT32_MAX) {
        json_tokener_free(tok);
        snprintf(why, whylen, tok ? "the JSON text is too large" : "out of memory");
        return tok ? TS_ERR_CONFIG : TS_ERR_NOMEM;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    /* The tokener collects each string in its own buffer, grown by
     * realloc(), which would leave copies of secrets behind; sized for the
     * whole text up front it never grows, and is wiped before it is freed.
     * (The buffer is a deprecated field of json-c's public struct.) */
    struct printbuf *pb = tok->pb;
    if (printbuf_memset(pb, 0, 0, (int)len + 1) < 0) {
        json_tokener_free(tok);
        snprintf(why, whylen, "out of memory");
        return TS_ERR_NOMEM;
    }
    printbuf_reset(pb);
    /* The terminating NUL included, so a value at the very end (a number)
     * is complete rather than "to be continued". */
    json_object *root = json_tokener_parse_ex(tok, text, (int)len + 1);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    const char *problem = json_tokener_error_desc(jerr);

    if (root && end < len && text[end + strspn(text + end, " \t\r\n")] != '\0') {
        ts__json_release(root);
        root = NULL;
        end += strspn(text + end, " \t\r\n");
        problem = "unexpected text after the JSON value";
    } else if (!root && (jerr == json_tokener_continue || jerr == json_tokener_error_parse_eof)) {
        end = len;
        problem = "unexpected end of file";
    }
    explicit_bzero(pb->buf, (size_t)pb->size);
    json_tokener_free(tok);
    if (!root) {
        int line, col;
        line_col(text, end, &line, &col);
        snprintf(why, whylen, "%s:%d:%d: invalid JSON: %s", origin, line, col, problem);
        return TS_ERR_CONFIG;
    }
    struct scan s = { .text = text };
    if (scan_value(&s, 0) != 0) {
        int line, col;
        ts__json_release(root);
        line_col(text, s.bad, &line, &col);
        snprintf(why, whylen, "%s:%d:%d: %s", origin, line, col, s.why);
        return TS_ERR_CONFIG;
    }
    *out = root;
    return TS_OK;
}

/* json-c hands out its string buffers as const; they are ours to wipe
 * because we own the tree and are about to release it. */
static void wipe_strings(json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_string: {
        size_t len = (size_t)json_object_get_string_len(o);
        if (len)
            explicit_bzero((char *)(uintptr_t)json_object_get_string(o), len);
        break;
    }
    case json_type_object: {
        json_object_object_foreach(o, key, value) {
            (void)key;
            wipe_strings(value);
        }
        break;
    }
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(o); i++)
            wipe_strings(json_object_array_get_idx(o, i));
        break;
    default:
        break;
    }
}

void ts__json_release(json_object *o)
{
    if (o) {
        wipe_strings(o);
        json_object_put(o);
    }
}
