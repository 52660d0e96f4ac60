/*
 * cli/stream.c - the tokens `save -` reads, one at a time.
 *
 * A backup made with `list --json --show-secrets` is one JSON array of any
 * length; reading it whole would hold every secret in memory at once and
 * cap the size of a restore. So the array is split as it is read: the
 * bytes of one element (an object, up to 1 MiB) are gathered, tracking
 * strings and nesting, and parsed on their own with the strict parser
 * every other input goes through; only then is the next one read. A
 * single object is a stream of one. A syntax error's line and column are
 * moved to where the element starts in the input, so they name the
 * input's, as a whole-document parse would. Buffers are wiped as they are
 * reused.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

#define MAX_ELEMENT (1024 * 1024)

struct cli_token_stream {
    int fd;
    unsigned char buf[65536];
    size_t len, pos;
    int eof;
    enum { START, IN_ARRAY, AFTER_ELEMENT, DONE } state;
    int single;              /* the input is one object, not an array */
    size_t index;            /* elements read */
    size_t line, col;        /* of the next byte, from 1 */
    char *element;           /* the current element's text */
    size_t elen, ecap;
    size_t eline, ecol;      /* where it starts in the input */
    ts_token *token;         /* the last token handed out */
    char why[TS_ERROR_MAX];
};

cli_token_stream *cli_token_stream_new(int fd)
{
    cli_token_stream *s = calloc(1, sizeof *s);

    if (s) {
        s->fd = fd;
        s->line = s->col = 1;
    }
    return s;
}

void cli_token_stream_free(cli_token_stream *s)
{
    if (!s)
        return;
    explicit_bzero(s->buf, sizeof s->buf);
    if (s->element)
        explicit_bzero(s->element, s->ecap);
    free(s->element);
    ts_token_free(s->token);
    free(s);
}

const char *cli_token_stream_error(const cli_token_stream *s)
{
    return s->why[0] ? s->why : NULL;
}

/* The next byte, or -1 at the end (or a read error, in s->why). */
static int peek(cli_token_stream *s)
{
    if (s->pos == s->len && !s->eof) {
        explicit_bzero(s->buf, s->len);
        ssize_t n;
        do
            n = read(s->fd, s->buf, sizeof s->buf);
        while (n < 0 && errno == EINTR);
        if (n < 0)
            snprintf(s->why, sizeof s->why, "stdin: cannot read: %s", strerror(errno));
        s->len = n > 0 ? (size_t)n : 0;
        s->pos = 0;
        s->eof = n <= 0;
    }
    return s->pos < s->len ? s->buf[s->pos] : -1;
}

static int take(cli_token_stream *s)
{
    int c = peek(s);

    if (c >= 0) {
        s->pos++;
        if (c == '\n') {
            s->line++;
            s->col = 1;
        } else {
            s->col++;
        }
    }
    return c;
}

static int skip_space(cli_token_stream *s)
{
    int c;
    while ((c = peek(s)) == ' ' || c == '\t' || c == '\n' || c == '\r')
        take(s);
    return c;
}

static int append(cli_token_stream *s, char c)
{
    if (s->elen + 2 > s->ecap) {
        size_t cap = s->ecap ? s->ecap * 2 : 4096;
        char *grown = malloc(cap);
        if (!grown)
            return -1;
        if (s->element) {              /* no realloc: the old block is wiped */
            memcpy(grown, s->element, s->elen);
            explicit_bzero(s->element, s->ecap);
            free(s->element);
        }
        s->element = grown;
        s->ecap = cap;
    }
    s->element[s->elen++] = c;
    s->element[s->elen] = '\0';
    return 0;
}

static const char *where(const cli_token_stream *s, char *buf, size_t size)
{
    if (s->single)
        snprintf(buf, size, "stdin");
    else
        snprintf(buf, size, "stdin: token %zu", s->index);
    return buf;
}

/* Gathers one value (an object, or anything else, which the parser then
 * refuses) into s->element. */
static int gather(cli_token_stream *s)
{
    int depth = 0, in_string = 0, escaped = 0, c;
    char at[48];

    s->elen = 0;
    s->eline = s->line;
    s->ecol = s->col;
    while ((c = peek(s)) >= 0) {
        if (!in_string && depth == 0 && s->elen > 0 && (c == ',' || c == ']' || c == ' ' ||
                                                        c == '\n' || c == '\t' || c == '\r'))
            break;
        take(s);
        if (c == 0) {
            snprintf(s->why, sizeof s->why, "%s: the input holds a NUL byte", where(s, at, sizeof at));
            return CLI_USAGE;
        }
        if (s->elen >= MAX_ELEMENT) {
            snprintf(s->why, sizeof s->why, "%s: the token is over 1 MiB of JSON",
                     where(s, at, sizeof at));
            return CLI_USAGE;
        }
        if (append(s, (char)c))
            return CLI_STORE;
        if (in_string) {
            escaped = !escaped && c == '\\';
            in_string = escaped || c != '"';
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if ((c == '}' || c == ']') && --depth == 0) {
            break;
        }
    }
    return s->why[0] ? CLI_USAGE : CLI_OK;
}

/* The next element's text in s->element: CLI_OK, or CLI_NOT_FOUND at the
 * end, or an error in s->why. */
static int next_element(cli_token_stream *s)
{
    int c = skip_space(s);
    char at[48];

    switch (s->state) {
    case START:
        if (c == '[') {
            take(s);
            s->state = IN_ARRAY;
            if (skip_space(s) == ']') {
                take(s);
                s->state = DONE;
                return next_element(s);
            }
            break;
        }
        if (c < 0) {
            snprintf(s->why, sizeof s->why, "stdin: no JSON token to read");
            return CLI_USAGE;
        }
        s->single = 1;
        s->state = DONE;
        s->index = 1;
        return gather(s);
    case AFTER_ELEMENT:
        take(s);
        if (c == ']') {
            s->state = DONE;
            return next_element(s);
        }
        if (c != ',') {
            snprintf(s->why, sizeof s->why, "stdin:%zu:%zu: invalid JSON: expected ',' or ']' "
                     "after token %zu", s->line, s->col - (c >= 0), s->index);
            return CLI_USAGE;
        }
        break;
    case IN_ARRAY:
        break;
    case DONE:
        if (c >= 0) {
            snprintf(s->why, sizeof s->why, "stdin:%zu:%zu: invalid JSON: text after the end",
                     s->line, s->col);
            return CLI_USAGE;
        }
        return s->why[0] ? CLI_USAGE : CLI_NOT_FOUND;
    }
    skip_space(s);
    s->index++;
    s->state = AFTER_ELEMENT;
    if (peek(s) < 0) {
        snprintf(s->why, sizeof s->why, "%s: invalid JSON: the array is not closed",
                 where(s, at, sizeof at));
        return CLI_USAGE;
    }
    return gather(s);
}

/* "stdin:L:C: ..." from the element's parse, as the input's L and C. */
static void move_position(cli_token_stream *s)
{
    unsigned long line, col;
    int used = 0;
    char rest[TS_ERROR_MAX];

    if (sscanf(s->why, "stdin:%lu:%lu:%n", &line, &col, &used) < 2 || used == 0)
        return;
    snprintf(rest, sizeof rest, "%s", s->why + used);
    if (line == 1)
        col += s->ecol - 1;
    line += s->eline - 1;
    snprintf(s->why, sizeof s->why, "stdin:%lu:%lu:%.440s", line, col, rest);
}

int cli_token_stream_next(cli_token_stream *s, ts_token **token)
{
    char at[48];
    int rc = next_element(s);

    ts_token_free(s->token);
    s->token = NULL;
    if (rc == CLI_OK) {
        rc = cli_token_from_json_text(s->element, where(s, at, sizeof at), &s->token, s->why,
                                      sizeof s->why);
        if (rc != CLI_OK)
            move_position(s);
    }
    if (s->element)
        explicit_bzero(s->element, s->elen);
    if (rc == CLI_STORE && !s->why[0])
        snprintf(s->why, sizeof s->why, "out of memory");
    *token = rc == CLI_OK ? s->token : NULL;
    return rc;
}
