/*
 * tests/fuzz/fuzz_uri.c - store URIs on any bytes: a URI either becomes a
 * backend name the loader may use (never a path out of the plugin
 * directories) or is refused with a message.
 */
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    ts_config *config;
    ts_error err;

    if (!text)
        return 0;
    int rc = ts_config_parse_uri(&config, text, &err);
    FUZZ_ASSERT((rc == TS_OK) == (config != NULL));
    FUZZ_ASSERT(rc == TS_OK || err.message[0]);
    if (config) {
        const char *backend = ts_config_backend(config);
        FUZZ_ASSERT(backend && *backend && !strchr(backend, '/'));
        ts_config_free(config);
    }
    free(text);
    return 0;
}
