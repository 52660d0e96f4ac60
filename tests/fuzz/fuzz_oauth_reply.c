/*
 * tests/fuzz/fuzz_oauth_reply.c - the accounts server's token reply on any
 * bytes. An accepted reply yields an access token of printable ASCII
 * without spaces and an expiry within a year from now; a refused one
 * leaves the token as it was.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "fuzz.h"

/* libtokenstore-oauth's reply parser (oauth/oauth_http.c, built in by
 * run.sh), hidden in the library. */
int oa__oauth_apply_reply(const char *body, size_t len, ts_token *tok, ts_error *err);

static int printable(const char *s)
{
    for (; *s; s++)
        if (*s <= ' ' || *s > '~')
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    ts_token *tok = ts_token_new();
    ts_error err;

    if (!text || !tok) {
        free(text);
        ts_token_free(tok);
        return 0;
    }
    ts_token_set(tok, TS_FIELD_ACCESS_TOKEN, "before");
    int rc = oa__oauth_apply_reply(text, size, tok, &err);
    const char *access = ts_token_get(tok, TS_FIELD_ACCESS_TOKEN);
    if (rc == TS_OK) {
        long long expiry = atoll(ts_token_get(tok, TS_FIELD_EXPIRY_TIME));
        long long now = (long long)time(NULL) * 1000;
        FUZZ_ASSERT(*access && printable(access));
        FUZZ_ASSERT(printable(ts_token_get(tok, TS_FIELD_REFRESH_TOKEN)));
        FUZZ_ASSERT(printable(ts_token_get(tok, TS_FIELD_API_DOMAIN)));
        FUZZ_ASSERT(expiry > now - 1000 && expiry <= now + 367LL * 24 * 3600 * 1000);
    } else {
        FUZZ_ASSERT(strcmp(access, "before") == 0 && err.message[0]);
    }
    ts_token_free(tok);
    free(text);
    return 0;
}
