/*
 * tests/fuzz/fuzz.h - what the libFuzzer harnesses share. They are built
 * from the core's sources (tests/fuzz/run.sh), so they reach the parsers
 * the library keeps hidden.
 */
#ifndef TS_FUZZ_H
#define TS_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

/* A broken property is a crash, which libFuzzer saves as a reproducer. */
#define FUZZ_ASSERT(cond)                                                        \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                             \
        }                                                                        \
    } while (0)

/* The input as a NUL-terminated string (the parsers take C strings). */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text) {
        memcpy(text, data, size);
        text[size] = '\0';
    }
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
