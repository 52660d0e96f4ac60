/*
 * tests/fuzz/fuzz_json.c - the strict JSON parser and the config loader on
 * any bytes. Whatever parses must release cleanly; a refusal must say
 * where (a message, never empty), and nothing may read past the text.
 */
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    char why[TS_ERROR_MAX];
    json_object *root;
    ts_config *config;
    ts_error err;

    if (!text)
        return 0;
    int rc = ts__json_parse(text, "fuzz", &root, why, sizeof why);
    FUZZ_ASSERT(rc == TS_OK || (rc != TS_OK && why[0] && !root));
    ts__json_release(root);

    rc = ts_config_parse_json(&config, text, "fuzz.json", &err);
    FUZZ_ASSERT((rc == TS_OK) == (config != NULL));
    FUZZ_ASSERT(rc == TS_OK || err.message[0]);
    if (config) {
        FUZZ_ASSERT(ts_config_backend(config) != NULL);
        ts_config_free(config);
    }
    free(text);
    return 0;
}
