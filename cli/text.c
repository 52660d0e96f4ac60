/*
 * cli/text.c - one value as the command reads or shows it: secrets masked
 * and wiped, control characters escaped, durations and expiry times read,
 * epoch milliseconds as dates; the bottom of the command's files, using
 * none of them.
 */
#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"

int cli_out_of_memory(void)
{
    fputs("tokenstore: out of memory\n", stderr);
    return CLI_STORE;
}

#define MASK_SHOWN_CHARS 4      /* characters of a long secret left visible */
#define MASK_HIDDEN_UPTO 8      /* secrets this short are hidden entirely */

/* The one character of our own that is not ASCII is the mask's ellipsis;
 * a terminal or log that is not UTF-8 gets "..." instead. */
static int ascii_output;

void cli_choose_charset(void)
{
    setlocale(LC_CTYPE, "");
    ascii_output = strcmp(nl_langinfo(CODESET), "UTF-8") != 0;
}

void cli_free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static int is_utf8_continuation(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* Characters in the first len bytes (UTF-8 code points; stray bytes
 * count as one each). */
static size_t char_count_n(const char *s, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len && s[i]; i++)
        n += !is_utf8_continuation((unsigned char)s[i]);
    return n;
}

size_t cli_char_count(const char *s)
{
    return char_count_n(s, strlen(s));
}

/* Bytes taken by the first nchars characters of s. */
static size_t prefix_bytes(const char *s, size_t nchars)
{
    size_t i = 0;

    while (s[i] && nchars > 0) {
        i++;
        while (s[i] && is_utf8_continuation((unsigned char)s[i]))
            i++;
        nchars--;
    }
    return i;
}

char *cli_mask(const char *value)
{
    size_t chars = cli_char_count(value);
    char *out;

    if (chars == 0)
        return strdup("");
    if (chars <= MASK_HIDDEN_UPTO)
        return strdup("****");
    if (asprintf(&out, "%.*s%s(%zu)", (int)prefix_bytes(value, MASK_SHOWN_CHARS), value,
                 ascii_output ? "..." : "\xE2\x80\xA6", chars) < 0)
        return NULL;
    return out;
}

char *cli_escape(const char *text)
{
    size_t len = strlen(text);
    char *out = malloc(4 * len + 1), *o = out;   /* \xNN is the longest */

    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '\n')
            o += sprintf(o, "\\n");
        else if (*p == '\t')
            o += sprintf(o, "\\t");
        else if (*p == '\r')
            o += sprintf(o, "\\r");
        else if (*p < 0x20 || *p == 0x7F)
            o += sprintf(o, "\\x%02X", *p);
        else
            *o++ = (char)*p;
    }
    *o = '\0';
    return out;
}

int64_t cli_now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int cli_token_expiry(const ts_token *token, int64_t *ms)
{
    const char *text = ts_token_get(token, TS_FIELD_EXPIRY_TIME);

    if (!cli_all_digits(text))
        return -1;
    errno = 0;
    unsigned long long value = strtoull(text, NULL, 10);
    *ms = errno || value > INT64_MAX ? INT64_MAX : (int64_t)value;
    return 0;
}

int cli_token_expired(const ts_token *token)
{
    int64_t expiry;

    return cli_token_expiry(token, &expiry) == 0 && expiry <= cli_now_ms();
}

int cli_parse_duration(const char *arg, int64_t *ms)
{
    static const struct { char unit; int64_t ms; } units[] = {
        { 's', 1000 }, { 'm', 60000 }, { 'h', 3600000 }, { 'd', 86400000 },
    };
    size_t digits = strspn(arg, "0123456789");

    if (digits == 0 || digits > 12 || arg[digits + (arg[digits] != '\0')] != '\0')
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (arg[digits] == units[i].unit) {
            *ms = strtoll(arg, NULL, 10) * units[i].ms;
            return 0;
        }
    return -1;
}

int cli_all_digits(const char *s)
{
    return s[0] && strspn(s, "0123456789") == strlen(s);
}

int cli_iso8601(const char *ms, char out[32])
{
    struct tm tm;
    char *end;

    if (!ms[0] || strspn(ms, "0123456789") != strlen(ms))
        return -1;
    errno = 0;
    unsigned long long value = strtoull(ms, &end, 10);
    time_t seconds = (time_t)(value / 1000);
    if (errno || (unsigned long long)seconds != value / 1000 || !gmtime_r(&seconds, &tm) ||
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return -1;
    return 0;
}

/* cli_mask's shape: up to MASK_SHOWN_CHARS characters, an ellipsis (or
 * the "..." a terminal or an editor may turn it into), "(N)". */
int cli_looks_masked(const char *value)
{
    static const char *const ellipses[] = { "\xE2\x80\xA6", "..." };
    size_t len = strlen(value);

    if (strcmp(value, "****") == 0)
        return 1;
    if (len < 4 || value[len - 1] != ')')
        return 0;
    for (size_t e = 0; e < sizeof ellipses / sizeof *ellipses; e++) {
        const char *mark = strstr(value, ellipses[e]);
        if (!mark || mark == value)
            continue;
        size_t shown = char_count_n(value, (size_t)(mark - value));
        const char *count = mark + strlen(ellipses[e]);
        if (shown <= MASK_SHOWN_CHARS && count[0] == '(' &&
            strspn(count + 1, "0123456789") == strlen(count + 1) - 1 && count[1] != ')')
            return 1;
    }
    return 0;
}
